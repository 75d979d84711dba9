//! Exact, checked decimals over loopback: Rebilly quantities read from their own JSON text and
//! written back exactly, the 3-decimal rule held by the sandbox itself (whatever the schema
//! says), and the inputs that used to overflow and brick the sandbox answered with 422s.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use usage_test_support::{Answer, Sandbox};

/// POSTs `body` (raw JSON text, so numbers keep their digits) to Rebilly `/usages`.
async fn post_usage(s: &Sandbox, body: &str) -> Answer {
    let headers = [
        ("REB-APIKEY", s.dev_key("rebilly")),
        ("content-type", "application/json"),
    ];
    s.call(Method::POST, "/usages", &headers, Some(body)).await
}

fn usage(quantity: &str) -> String {
    format!(r#"{{"subscriptionId": "sub_unlimited", "quantity": {quantity}}}"#)
}

/// The `invalidFields` of a 422 problem, as (field, message) pairs.
fn invalid_fields(answer: &Answer) -> Vec<(String, String)> {
    let (status, _, problem) = answer;
    assert_eq!(*status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["title"], "Validation error", "{problem}");
    problem["invalidFields"]
        .as_array()
        .unwrap_or_else(|| panic!("no invalidFields: {problem}"))
        .iter()
        .map(|f| {
            let text = |k: &str| f[k].as_str().unwrap().to_owned();
            (text("field"), text("message"))
        })
        .collect()
}

#[tokio::test]
async fn rebilly_quantities_are_read_from_their_text_and_written_back_exactly() {
    let s = Sandbox::start().await;
    for (sent, stored) in [
        ("1e3", "1000"),
        ("2.5E-1", "0.25"),
        ("12345678901234567.5", "12345678901234567.5"),
        ("1.2340", "1.234"),
        ("0.001", "0.001"),
    ] {
        let (status, _, u) = post_usage(&s, &usage(sent)).await;
        assert_eq!(status, StatusCode::CREATED, "{sent}: {u}");
        assert_eq!(u["quantity"].to_string(), stored, "{sent}");
        let read = s
            .usages(&[("filter", &format!("id:{}", u["id"].as_str().unwrap()))])
            .await;
        assert_eq!(
            read.items[0]["quantity"].to_string(),
            stored,
            "{sent} read back"
        );
    }
}

#[tokio::test]
async fn the_3_decimal_rule_is_checked_exactly_whatever_the_schema_says() {
    let s = Sandbox::start().await;
    for (sent, says) in [
        ("1.2345", "more than 3 decimal places"),
        // Through f64 this is 2.0: exactly a multiple of 0.001.
        ("2.0000000000000001", "more than 3 decimal places"),
        ("0.0005", "more than 3 decimal places"),
        ("0", ""),
        ("7e28", "over the maximum"),
        ("1e40", ""),
    ] {
        let fields = invalid_fields(&post_usage(&s, &usage(sent)).await);
        let quantity: Vec<&(String, String)> =
            fields.iter().filter(|(f, _)| f == "quantity").collect();
        assert_eq!(quantity.len(), 1, "{sent}: {fields:?}");
        assert!(quantity[0].1.contains(says), "{sent}: {fields:?}");
    }
    // With another invalid field, both are reported.
    let fields = invalid_fields(
        &post_usage(
            &s,
            r#"{"subscriptionId": "sub_unlimited", "quantity": 1.2345, "id": "x"}"#,
        )
        .await,
    );
    let names: Vec<&str> = fields.iter().map(|(f, _)| f.as_str()).collect();
    assert!(
        names.contains(&"quantity") && names.contains(&"id"),
        "{fields:?}"
    );
    assert_eq!(s.usages(&[]).await.total, 0, "nothing was stored");
}

#[tokio::test]
async fn inputs_that_used_to_brick_the_sandbox_are_422s_and_it_keeps_working() {
    let s = Sandbox::start().await;
    for _ in 0..2 {
        let fields = invalid_fields(&post_usage(&s, &usage("7e28")).await);
        assert_eq!(fields[0].0, "quantity", "{fields:?}");
    }
    let max = "79228162514264337593543950335";
    let over = [
        // A number beyond the decimal range: was priced "0".
        (
            json!([{"reference": "call_count", "number": "79228162514264337593543950336"}]),
            "meter_values.0.number",
        ),
        // A cost over Decimal::MAX: 11 × MAX × 0.10 overflowed under the store lock.
        (
            Value::Array(vec![json!({"reference": "call_count", "number": max}); 11]),
            "",
        ),
    ];
    for (i, (values, field)) in over.into_iter().enumerate() {
        let body = json!({"reference": format!("evt_over_{i}"), "meter_reference": "api_calls", "meter_values": values});
        let (status, headers, err) = s
            .solvimon("/v1/events/calculate?cost_prediction=true", body)
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
        assert_eq!(
            (err["type"].as_str(), err["code"].as_str()),
            (Some("INVALID_REQUEST"), Some("INVALID_FIELD")),
            "{err}"
        );
        assert!(
            err["field"].as_str().unwrap().starts_with("meter_values"),
            "{err}"
        );
        if !field.is_empty() {
            assert_eq!(err["field"], field, "{err}");
        }
        assert!(headers.contains_key("x-request-id"));
    }
    // The next normal requests succeed.
    let (status, _, u) = post_usage(&s, &usage("1.5")).await;
    assert_eq!(
        (status, u["quantity"].to_string().as_str()),
        (StatusCode::CREATED, "1.5")
    );
    let body = json!({"reference": "evt_ok_0001", "meter_reference": "api_calls", "meter_values": [{"reference": "call_count", "number": "3"}]});
    let (status, _, r) = s
        .solvimon("/v1/events/calculate?cost_prediction=true", body)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{r}");
    assert_eq!(
        r["cost_prediction"]["details"][0]["amount_excluding_tax"]["quantity"],
        "0.30"
    );
    let stats = s.stats().await;
    assert_eq!(
        (stats["usages"].as_u64(), stats["meter-data"].as_u64()),
        (Some(1), Some(1))
    );
}

#[tokio::test]
async fn a_subscription_total_beyond_the_range_is_a_422_until_a_delete_makes_room() {
    let s = Sandbox::start().await;
    let most = "9999999999999999999999999.999";
    let (status, _, first) = post_usage(&s, &usage(most)).await;
    assert_eq!(
        (status, first["quantity"].to_string().as_str()),
        (StatusCode::CREATED, most)
    );
    let fields = invalid_fields(&post_usage(&s, &usage("1")).await);
    assert_eq!(fields[0].0, "quantity");
    assert!(fields[0].1.contains("sub_unlimited"), "{fields:?}");
    let id = first["id"].as_str().unwrap();
    let key = [("REB-APIKEY", s.dev_key("rebilly"))];
    let (status, _, _) = s
        .call(Method::DELETE, &format!("/usages/{id}"), &key, None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(post_usage(&s, &usage("1")).await.0, StatusCode::CREATED);
}
