//! The sandbox over loopback with a real HTTP client: every status code and error body of both
//! vendors, limits and clamping, duplicates and both idempotency paths, reads, faults, the
//! request log and shutdown.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use usage_sandbox::auth::{REBILLY, SOLVIMON};
use usage_sandbox::{Config, FaultSpec};
use usage_test_support::Sandbox;

/// The least-privileged key that may read both vendors and write neither (in the default
/// fixture, `sk_sandbox_readonly`).
fn read_only(s: &Sandbox) -> &str {
    s.key_with(&[SOLVIMON.read, REBILLY.read])
}

fn persist(reference: &str) -> Value {
    json!({"customer_id": "cust_1", "pricing_id": "prc_1", "pricing_item_id": "prci_1", "pricing_item_config_id": "pric_1",
           "pricing_plan_subscription_id": null, "reference": reference})
}

#[tokio::test]
async fn solvimon_ingest_kinds_are_created_and_readable() {
    let s = Sandbox::start().await;
    let charge = json!({"product_item_id": "pit_1", "pricing_id": "prc_1", "pricing_item_id": "prci_1", "pricing_item_config_id": "pric_1", "reference": "chg_1"});
    let adjustment = json!({"product_item_id": "pit_1", "reference": "adj_1", "amount": {"quantity": "-10.00", "currency": "EUR"}});
    for (path, body, object_type) in [
        ("/v1/ingest/persist-data", persist("prs_1"), "PERSIST_DATA"),
        ("/v1/ingest/charge-data", charge, "CHARGE_DATA"),
        ("/v1/ingest/adjustment-data", adjustment, "ADJUSTMENT_DATA"),
    ] {
        let (status, headers, record) = s.solvimon(path, body.clone()).await;
        assert_eq!(status, StatusCode::CREATED, "{path}: {record}");
        assert_eq!(record["object_type"], object_type);
        assert!(
            headers["x-request-id"]
                .to_str()
                .unwrap()
                .starts_with("reqr_")
        );
        let reference = body["reference"].as_str().unwrap();
        let kind = path.rsplit('/').next().unwrap();
        assert_eq!(s.solvimon_record(kind, reference).await, Some(record));
    }
    let (_, _, list) = s
        .call(
            Method::GET,
            "/v1/ingest/persist-data?reference=prs_1",
            &[("X-API-KEY", read_only(&s))],
            None,
        )
        .await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    let (status, _, err) = s
        .call(
            Method::GET,
            "/v1/ingest/meter-data/nope",
            &[("X-API-KEY", s.dev_key("solvimon"))],
            None,
        )
        .await;
    assert_eq!(
        (status, err["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("RESOURCE_NOT_FOUND"))
    );
}

/// Method, path, headers, body, expected status, code, field.
type ErrorCase<'a> = (
    Method,
    &'a str,
    Vec<(&'a str, &'a str)>,
    Option<String>,
    u16,
    &'a str,
    Option<&'a str>,
);

#[tokio::test]
async fn solvimon_errors_use_the_api_error_format() {
    let s = Sandbox::start().await;
    let json_ct = ("content-type", "application/json");
    let cases: Vec<ErrorCase> = vec![
        (Method::POST, "/v1/ingest/persist-data", vec![json_ct], Some(persist("a").to_string()), 401, "UNAUTHORISED", None),
        (Method::POST, "/v1/ingest/persist-data", vec![json_ct, ("Authorization", "Bearer wrong")], Some(persist("a").to_string()), 401, "UNAUTHORISED", None),
        (Method::POST, "/v1/ingest/persist-data", vec![json_ct, ("X-API-KEY", read_only(&s))], Some(persist("a").to_string()), 403, "USER_NOT_ALLOWED", None),
        (Method::POST, "/v1/ingest/persist-data", vec![("X-API-KEY", s.dev_key("solvimon")), ("content-type", "text/plain")], Some(persist("a").to_string()), 415, "UNSUPPORTED_MEDIA_TYPE", None),
        (Method::POST, "/v1/ingest/persist-data", vec![("X-API-KEY", s.dev_key("solvimon")), json_ct], Some("{\"customer_id\": ".into()), 400, "BAD_REQUEST", None),
        (Method::POST, "/ingest/persist-data", vec![("X-API-KEY", s.dev_key("solvimon")), json_ct], Some(persist("a").to_string()), 400, "MISSING_VERSION", None),
        (Method::POST, "/v2/ingest/persist-data", vec![("X-API-KEY", s.dev_key("solvimon")), json_ct], Some(persist("a").to_string()), 400, "UNSUPPORTED_VERSION", None),
        (Method::POST, "/v1/ingest/persist-data", vec![("X-API-KEY", s.dev_key("solvimon")), json_ct], Some(json!({"pricing_id": "p"}).to_string()), 400, "MISSING_FIELD", Some("customer_id")),
        (Method::POST, "/v1/ingest/persist-data", vec![("X-API-KEY", s.dev_key("solvimon")), json_ct], Some(persist("bad.ref").to_string()), 400, "INVALID_FIELD", Some("reference")),
        (Method::POST, "/v1/events/calculate", vec![("X-API-KEY", s.dev_key("solvimon")), json_ct],
            Some(json!({"reference": "evt_0000001", "meter_values": [{"amount": {"quantity": "1", "currency": "EURO"}}]}).to_string()), 400, "INVALID_FIELD", Some("meter_values.0.amount")),
        (Method::POST, "/v1/events/calculate", vec![("X-API-KEY", s.dev_key("solvimon")), json_ct],
            Some(json!({"reference": "evt_0000001", "timestamp": "2024-07-01T10:50:45.157Z"}).to_string()), 400, "INVALID_FIELD", Some("timestamp")),
        (Method::POST, "/v1/events/calculate", vec![("X-API-KEY", s.dev_key("solvimon")), json_ct],
            Some(json!({"reference": "evt_0000001", "meter_reference": "no_such_meter"}).to_string()), 400, "METER_NOT_FOUND", Some("meter_reference")),
    ];
    for (method, path, headers, body, status, code, field) in cases {
        let (got, _, err) = s.call(method, path, &headers, body.as_deref()).await;
        assert_eq!(got.as_u16(), status, "{path} {code}: {err}");
        assert_eq!(err["code"], code, "{err}");
        assert!(
            err["type"] == "INVALID_REQUEST" || err["type"] == "API_ERROR",
            "{err}"
        );
        assert!(
            err["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{err}"
        );
        if let Some(f) = field {
            assert_eq!(err["field"], f, "{err}");
        }
    }
    assert_eq!(
        s.stats().await["persist-data"],
        Value::Null,
        "nothing was stored"
    );
}

#[tokio::test]
async fn solvimon_duplicates_and_idempotency_keys() {
    let s = Sandbox::start().await;
    // persist with a reference already seen: 409 naming the existing resource.
    let (status, _, first) = s
        .solvimon("/v1/ingest/persist-data", persist("prs_dup"))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _, err) = s
        .solvimon("/v1/ingest/persist-data", persist("prs_dup"))
        .await;
    assert_eq!(
        (status, err["code"].as_str(), err["resource_type"].as_str()),
        (
            StatusCode::CONFLICT,
            Some("RESOURCE_ALREADY_EXISTS"),
            Some("PERSIST_DATA")
        )
    );
    assert_eq!(err["resource_id"], first["id"]);
    // calculate with a reference already seen: 201 DUPLICATE, one event in effect.
    let event = json!({"reference": "evt_dup_0001", "meter_reference": "api_calls", "meter_values": [{"reference": "call_count", "number": "2"}]});
    let (_, _, original) = s.solvimon("/v1/events/calculate", event.clone()).await;
    let (status, _, dup) = s.solvimon("/v1/events/calculate", event).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(dup["processed_details"]["type"], "DUPLICATE");
    assert_eq!(
        dup["processed_details"]["duplicate_of_meter_data_id"],
        original["id"]
    );
    let stats = s.stats().await;
    assert_eq!(
        (stats["meter-data"].as_u64(), stats["duplicates"].as_u64()),
        (Some(1), Some(1))
    );
    let duplicates = s
        .solvimon_records("meter-data", &[("processed_details_type", "DUPLICATE")])
        .await;
    assert_eq!((duplicates.page, duplicates.total_number_of_pages), (1, 1));
    assert_eq!(duplicates.data.len(), 1, "the duplicate, kept apart");
    assert_eq!(duplicates.data[0], dup);
    let in_effect = s
        .solvimon_records("meter-data", &[("reference", "evt_dup_0001")])
        .await;
    assert_eq!(in_effect.data.len(), 1, "only the first is in effect");
    assert_eq!(in_effect.data[0], original);
    // Idempotency-Key: same key + same body replays; different body conflicts.
    let ingest = "/v1/ingest/persist-data";
    let (s1, _, b1) = s
        .solvimon_idempotent(ingest, "key-1", persist("prs_idem"))
        .await;
    let (s2, h2, b2) = s
        .solvimon_idempotent(ingest, "key-1", persist("prs_idem"))
        .await;
    assert_eq!((s1, s2), (StatusCode::CREATED, StatusCode::CREATED));
    assert_eq!(b1, b2, "the replay is the first response");
    assert_eq!(h2["idempotent-replayed"], "true");
    let (s3, _, e3) = s
        .solvimon_idempotent(ingest, "key-1", persist("prs_other"))
        .await;
    assert_eq!(
        (s3, e3["code"].as_str()),
        (StatusCode::CONFLICT, Some("IDEMPOTENCY_CHECK_FAILED"))
    );
    assert_eq!(
        s.stats().await["persist-data"].as_u64(),
        Some(2),
        "prs_dup and prs_idem only"
    );
}

#[tokio::test]
async fn calculate_predicts_cost_exactly_only_when_asked() {
    let s = Sandbox::start().await;
    let body = json!({"reference": "evt_cost_0001", "meter_reference": "api_calls", "customer_reference": "cust-42",
                      "meter_values": [{"reference": "call_count", "number": "3"}, {"reference": "gb_stored", "number": "1.5"}]});
    let (status, _, r) = s
        .solvimon("/v1/events/calculate?cost_prediction=true", body)
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let p = &r["cost_prediction"];
    assert_eq!(
        (p["response"].as_str(), p["status"].as_str()),
        (Some("OK"), Some("READY"))
    );
    // 3 × 0.10 + 1.5 × 0.023 = 0.3345; × 1.21 = 0.404745 (no rounding, no float).
    assert_eq!(
        p["details"][0]["amount_excluding_tax"],
        json!({"quantity": "0.3345", "currency": "EUR"})
    );
    assert_eq!(
        p["details"][0]["amount_including_tax"],
        json!({"quantity": "0.404745", "currency": "EUR"})
    );
    assert_eq!(p["details"][0]["customer_id"], "cust_sandbox_0001");
    let (_, _, r) = s
        .solvimon(
            "/v1/events/calculate",
            json!({"reference": "evt_cost_0002", "meter_reference": "api_calls"}),
        )
        .await;
    assert_eq!(r["cost_prediction"], Value::Null);
}

#[tokio::test]
async fn rebilly_usages_limits_and_clamping() {
    let s = Sandbox::start().await;
    let (status, headers, u) = s.rebilly("/usages", json!({"subscriptionId": "sub_limit_100", "quantity": 5.125, "usageTime": "2025-05-01T12:00:00Z"})).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(u["quantity"], json!(5.125));
    assert_eq!(
        headers["location"].to_str().unwrap(),
        u["_links"][0]["href"].as_str().unwrap()
    );
    assert_eq!(u["invoiceId"], Value::Null);
    // Over the remaining allowance without acceptPartialQuantity: 409 naming the limit.
    let (status, headers, p) = s
        .rebilly(
            "/organizations/org_1/usages",
            json!({"subscriptionId": "sub_limit_100", "quantity": 95}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(headers["content-type"], "application/problem+json");
    assert!(
        p["detail"].as_str().unwrap().contains("hard limit of 100"),
        "{p}"
    );
    // With it: clamped to exactly what is left (94.875).
    let (status, _, u) = s.rebilly("/organizations/org_1/usages", json!({"subscriptionId": "sub_limit_100", "quantity": 95, "acceptPartialQuantity": true})).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(u["quantity"], json!(94.875));
    assert!(
        u["_links"][0]["href"]
            .as_str()
            .unwrap()
            .contains("/organizations/org_1/usages/")
    );
    // Nothing left: 409 even with acceptPartialQuantity.
    let (status, _, p) = s.rebilly("/usages", json!({"subscriptionId": "sub_limit_100", "quantity": 0.001, "acceptPartialQuantity": true})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(p["detail"].as_str().unwrap().contains("limit"), "{p}");
    let (status, _, p) = s.rebilly("/usages", json!({"subscriptionId": "sub_exhausted", "quantity": 1, "acceptPartialQuantity": true})).await;
    assert_eq!(
        (status, p["status"].as_u64()),
        (StatusCode::CONFLICT, Some(409))
    );
    // No idempotency: the same POST twice records two usages.
    for _ in 0..2 {
        assert_eq!(s.rebilly("/usages", json!({"subscriptionId": "sub_unlimited", "quantity": 1, "usageTime": "2025-05-01T12:00:00Z"})).await.0, StatusCode::CREATED);
    }
    let (_, h, list) = s.call(Method::GET, "/usages?filter=subscriptionId%3Asub_unlimited%3BusageTime%3A2025-05-01T12%3A00%3A00Z&sort=-createdTime&limit=1&offset=1", &[("REB-APIKEY", read_only(&s))], None).await;
    assert_eq!(
        (
            h["pagination-total"].to_str().unwrap(),
            h["pagination-limit"].to_str().unwrap(),
            h["pagination-offset"].to_str().unwrap()
        ),
        ("2", "1", "1")
    );
    assert_eq!(list.as_array().unwrap().len(), 1);
    // The same read, typed, with the query encoded by the client.
    let page = s
        .usages(&[
            (
                "filter",
                "subscriptionId:sub_unlimited;usageTime:2025-05-01T12:00:00Z",
            ),
            ("sort", "-createdTime"),
            ("limit", "1"),
            ("offset", "1"),
        ])
        .await;
    assert_eq!((page.total, page.limit, page.offset), (2, 1, 1));
    assert_eq!(page.items, list.as_array().unwrap().clone());
    // limit and offset are bounded to 0–1000 as the spec says.
    for query in ["limit=1001", "offset=1001", "offset=-1", "limit=x"] {
        let (status, _, p) = s
            .call(
                Method::GET,
                &format!("/usages?{query}"),
                &[("REB-APIKEY", read_only(&s))],
                None,
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {p}");
        let field = query.split('=').next().unwrap();
        assert_eq!(p["invalidFields"][0]["field"], field, "{query}: {p}");
    }
    let (status, _, _) = s
        .call(
            Method::GET,
            "/usages?limit=1000&offset=1000",
            &[("REB-APIKEY", read_only(&s))],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn rebilly_errors_reads_and_deletes() {
    let s = Sandbox::start().await;
    let (status, _, p) = s
        .rebilly(
            "/usages",
            json!({"subscriptionId": "sub_unlimited", "quantity": 1.2345, "id": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<&str> = p["invalidFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert!(
        fields.contains(&"quantity") && fields.contains(&"id"),
        "{p}"
    );
    let (status, _, p) = s
        .rebilly(
            "/usages",
            json!({"subscriptionId": "sub_nope", "quantity": 1}),
        )
        .await;
    assert_eq!(
        (status, p["invalidFields"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("subscriptionId"))
    );
    let no_key = [("content-type", "application/json")];
    assert_eq!(
        s.call(Method::POST, "/usages", &no_key, Some("{}")).await.0,
        StatusCode::UNAUTHORIZED
    );
    let ro = [
        ("REB-APIKEY", read_only(&s)),
        ("content-type", "application/json"),
    ];
    let (status, _, p) = s.call(Method::POST, "/usages", &ro, Some("{}")).await;
    assert_eq!(
        (status, p["title"].as_str()),
        (StatusCode::FORBIDDEN, Some("Forbidden"))
    );
    let bearer = format!("Bearer {}", s.dev_key("rebilly"));
    let text = [
        ("Authorization", bearer.as_str()),
        ("content-type", "text/plain"),
    ];
    assert_eq!(
        s.call(Method::POST, "/usages", &text, Some("{}")).await.0,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    let ok = [
        ("REB-APIKEY", s.dev_key("rebilly")),
        ("content-type", "application/json"),
    ];
    let (status, _, p) = s.call(Method::POST, "/usages", &ok, Some("{oops")).await;
    assert_eq!(
        (status, p["status"].as_u64()),
        (StatusCode::BAD_REQUEST, Some(400))
    );
    // Reads and deletes, with and without the organization prefix.
    let (_, _, u) = s
        .rebilly(
            "/usages",
            json!({"subscriptionId": "sub_near_limit", "quantity": 2}),
        )
        .await;
    let id = u["id"].as_str().unwrap();
    let key = [("REB-APIKEY", s.dev_key("rebilly"))];
    assert_eq!(
        s.call(
            Method::GET,
            &format!("/organizations/o/usages/{id}"),
            &key,
            None
        )
        .await
        .2,
        u
    );
    assert_eq!(
        s.call(Method::GET, "/usages/sub_usg_nope", &key, None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    // The used quantity drops on delete: 7.5 + 2 = 9.5 used; after delete 2.5 is left again.
    let (status, _, body) = s
        .call(Method::DELETE, &format!("/usages/{id}"), &key, None)
        .await;
    assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));
    assert_eq!(
        s.call(Method::DELETE, &format!("/usages/{id}"), &key, None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let (_, _, u) = s.rebilly("/usages", json!({"subscriptionId": "sub_near_limit", "quantity": 5, "acceptPartialQuantity": true})).await;
    assert_eq!(u["quantity"], json!(2.5));
}

async fn drive(s: &Sandbox, n: usize) -> Vec<String> {
    let mut outcomes = Vec::new();
    for i in 0..n {
        let body = json!({"subscriptionId": "sub_unlimited", "quantity": 1, "usageTime": format!("2025-05-01T12:00:{:02}Z", i % 60)});
        let resp = s
            .http()
            .post(format!("{}/usages", s.url()))
            .header("REB-APIKEY", s.dev_key("rebilly"))
            .json(&body)
            .send()
            .await;
        outcomes.push(match resp {
            Ok(r) => r.status().as_u16().to_string(),
            Err(_) => "connection error".into(),
        });
    }
    outcomes
}

#[tokio::test]
async fn faults_are_deterministic_for_a_seed_and_lost_responses_commit() {
    let faults =
        FaultSpec::parse("503=0.1,429=0.1,reset=0.05,lost-response=0.05,prefix=/usages").unwrap();
    let mut runs = Vec::new();
    for _ in 0..2 {
        let s = Sandbox::with(Config {
            faults: faults.clone(),
            seed: 42,
            ..Config::default()
        })
        .await;
        let outcomes = drive(&s, 200).await;
        let log = s.faults().await;
        let stored = s.stats().await["usages"].as_u64().unwrap();
        let created = outcomes.iter().filter(|o| *o == "201").count() as u64;
        let lost = log
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["fault"] == "lost-response")
            .count() as u64;
        assert!(lost > 0 && created > 0);
        assert_eq!(
            stored,
            created + lost,
            "a lost response still commits its write"
        );
        runs.push((outcomes, log));
    }
    assert_eq!(runs[0], runs[1], "same seed, same fault sequence");
    let (outcomes, _) = &runs[0];
    for expected in ["201", "503", "429", "connection error"] {
        assert!(
            outcomes.iter().any(|o| o == expected),
            "no {expected} in {outcomes:?}"
        );
    }
    let other = Sandbox::with(Config {
        faults,
        seed: 43,
        ..Config::default()
    })
    .await;
    assert_ne!(
        drive(&other, 200).await,
        runs[0].0,
        "another seed, another sequence"
    );
}

#[tokio::test]
async fn rate_limit_faults_carry_the_vendor_retry_headers() {
    let faults = FaultSpec::parse("429=1,retry-after=2s").unwrap();
    let s = Sandbox::with(Config {
        faults,
        ..Config::default()
    })
    .await;
    let (status, h, e) = s.solvimon("/v1/ingest/persist-data", persist("x")).await;
    assert_eq!(
        (status, h["retry-after"].to_str().unwrap()),
        (StatusCode::TOO_MANY_REQUESTS, "2")
    );
    assert_eq!(e["type"], "INVALID_REQUEST");
    let (status, h, p) = s
        .rebilly(
            "/usages",
            json!({"subscriptionId": "sub_unlimited", "quantity": 1}),
        )
        .await;
    assert_eq!(
        (status, p["title"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("Rate Limit Exceeded"))
    );
    let at: i64 = h["x-ratelimit-retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let now = chrono::Utc::now().timestamp();
    assert!(
        (now + 1..=now + 3).contains(&at),
        "epoch seconds about 2 s ahead: {at} vs {now}"
    );
}

#[tokio::test]
async fn requests_are_recorded_only_when_asked_and_shutdown_closes_the_port() {
    let s = Sandbox::with(Config {
        record_requests: true,
        ..Config::default()
    })
    .await;
    let usage = json!({"subscriptionId": "sub_unlimited", "quantity": 1, "usageTime": "2025-05-01T12:00:00Z"});
    assert_eq!(s.rebilly("/usages", usage).await.0, StatusCode::CREATED);
    let (status, _, _) = s
        .solvimon_idempotent("/v1/ingest/persist-data", "key-rec", persist("prs_rec"))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let log = s.requests().await;
    let seen: Vec<(&str, &str, Option<&str>, Option<u64>)> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["method"].as_str().unwrap(),
                r["path"].as_str().unwrap(),
                r["identity"].as_str(),
                r["status"].as_u64(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (
                "POST",
                "/usages",
                Some("sub_unlimited|2025-05-01T12:00:00Z"),
                Some(201)
            ),
            (
                "POST",
                "/v1/ingest/persist-data",
                Some("key-rec"),
                Some(201)
            ),
        ]
    );
    let url = s.url();
    s.shutdown().await;
    assert!(
        reqwest::get(format!("{url}/_sandbox/stats")).await.is_err(),
        "nothing listens after shutdown"
    );

    let quiet = Sandbox::start().await;
    let (status, _, _) = quiet
        .call(Method::GET, "/_sandbox/requests", &[], None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "recording is off by default");
}
