//! Dev keys from the running sandbox (`Running::dev_key`, `Running::key_with`) against the
//! default fixture and custom ones: which key each picks, and that it writes (or reads) over
//! loopback exactly where its permissions say.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use usage_sandbox::auth::{REBILLY, SOLVIMON};
use usage_sandbox::{ApiKey, Config};
use usage_test_support::Sandbox;

fn key_name(key: Option<&ApiKey>) -> Option<&str> {
    key.map(|k| k.key.as_str())
}

/// The status of a JSON POST of `body` to `path` with `key` in `header`.
async fn post_with(s: &Sandbox, path: &str, header: &str, key: &str, body: Value) -> StatusCode {
    let headers = [(header, key), ("content-type", "application/json")];
    s.call(Method::POST, path, &headers, Some(&body.to_string()))
        .await
        .0
}

#[tokio::test]
async fn dev_keys_are_the_least_privileged_keys_that_may_write() {
    let s = Sandbox::start().await;
    // The default fixture's documented keys (docs/sandbox.md).
    let running = s.running();
    assert_eq!(
        key_name(running.dev_key("solvimon")),
        Some("sk_sandbox_solvimon")
    );
    assert_eq!(
        key_name(running.dev_key("rebilly")),
        Some("sk_sandbox_rebilly")
    );
    assert_eq!(key_name(running.dev_key("stripe")), None);
    assert_eq!(key_name(running.dev_key("Solvimon")), None, "exact names");
    assert_eq!(
        key_name(running.key_with(&[SOLVIMON.read, REBILLY.read])),
        Some("sk_sandbox_readonly")
    );
    assert_eq!(
        key_name(running.key_with(&[SOLVIMON.write, REBILLY.write])),
        Some("sk_sandbox_all")
    );
    assert_eq!(key_name(running.key_with(&["METER_DATA.EXPORT"])), None);
    // Each dev key writes for its vendor and only there.
    let (solvimon, rebilly) = (s.dev_key("solvimon"), s.dev_key("rebilly"));
    let usage = json!({"subscriptionId": "sub_unlimited", "quantity": 1});
    let calculate = "/v1/events/calculate";
    let event = |reference: &str| json!({"reference": reference, "meter_reference": "api_calls"});
    assert_eq!(
        post_with(&s, calculate, "X-API-KEY", solvimon, event("evt_dev_0001")).await,
        StatusCode::CREATED
    );
    assert_eq!(
        post_with(&s, "/usages", "REB-APIKEY", rebilly, usage.clone()).await,
        StatusCode::CREATED
    );
    assert_eq!(
        post_with(&s, "/usages", "REB-APIKEY", solvimon, usage).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        post_with(&s, calculate, "X-API-KEY", rebilly, event("evt_dev_0002")).await,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn dev_keys_follow_a_custom_fixture() {
    let fixture = |keys: Value| {
        usage_sandbox::Fixture::parse(
            &json!({"keys": keys, "subscriptions": [{"id": "sub_unlimited"}]}).to_string(),
        )
        .unwrap()
    };
    let s = Sandbox::with(Config {
        fixture: fixture(json!([
            {"key": "k_everything", "permissions": ["METER_DATA.INGEST", "METER_DATA.VIEW", "USAGES.CREATE", "USAGES.VIEW", "USAGES.DELETE"]},
            {"key": "k_rebilly_admin", "permissions": ["USAGES.CREATE", "USAGES.VIEW", "USAGES.DELETE"]},
            {"key": "k_rebilly_writer", "permissions": ["USAGES.CREATE"]},
            {"key": "k_reader", "permissions": ["USAGES.VIEW"]}
        ])),
        ..Config::default()
    })
    .await;
    assert_eq!(
        s.dev_key("solvimon"),
        "k_everything",
        "the only key that may ingest"
    );
    assert_eq!(
        s.dev_key("rebilly"),
        "k_rebilly_admin",
        "the least-privileged key that writes and reads back"
    );
    let writer = s.key_with(&[REBILLY.write]);
    assert_eq!(writer, "k_rebilly_writer");
    assert_eq!(s.key_with(&[REBILLY.read]), "k_reader");
    assert_eq!(
        s.key_with(&[REBILLY.read, REBILLY.write]),
        "k_rebilly_admin"
    );
    let usage = json!({"subscriptionId": "sub_unlimited", "quantity": 1});
    assert_eq!(
        post_with(&s, "/usages", "REB-APIKEY", writer, usage).await,
        StatusCode::CREATED
    );
    let (status, _, _) = s
        .call(Method::GET, "/usages", &[("REB-APIKEY", writer)], None)
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a write-only key cannot read"
    );
    assert_eq!(s.usages(&[]).await.total, 1, "the reader sees the usage");

    let readers_only = Sandbox::with(Config {
        fixture: fixture(
            json!([{"key": "k_reader", "permissions": ["METER_DATA.VIEW", "USAGES.VIEW"]}]),
        ),
        ..Config::default()
    })
    .await;
    assert_eq!(key_name(readers_only.running().dev_key("solvimon")), None);
    assert_eq!(key_name(readers_only.running().dev_key("rebilly")), None);
}
