//! The services in this test process (the library, not the binary), for tests that register
//! their own Simple handlers; executors on a sandbox; outputs compared modulo ids and times.

use std::sync::Arc;

use serde_json::{Value, json};
use usage_connector::catalog::{Catalog, Vendor};
use usage_connector::execute::{Credential, Credentials, Executor, Secret};
use usage_connector::validators::Validators;
use usage_test_support::Sandbox;

/// The validators every executor here checks requests with.
pub fn validators() -> Arc<Validators> {
    Arc::new(Validators::new(&Catalog::builtin()).unwrap())
}

/// An executor sending both vendors to `sandbox` with its dev keys.
pub fn executor_for(sandbox: &Sandbox) -> Executor {
    let mut credentials = Credentials::new();
    for (id, header) in [("solvimon", "X-API-KEY"), ("rebilly", "REB-APIKEY")] {
        credentials.insert(
            id,
            Credential {
                header: header.into(),
                value: Secret::new(sandbox.dev_key(id)),
                platform_id: None,
            },
        );
    }
    Executor::new(credentials)
        .with_validators(validators())
        .with_server(Vendor::Solvimon, &sandbox.url())
        .with_server(Vendor::Rebilly, &sandbox.url())
}

/// `v` with what differs between two runs of the same execution masked: record ids
/// (`prefix_000…1`), times (the usage time derived from the run's clock, timestamps the
/// sandbox sets) and the `date` header.
pub fn masked(v: &Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = if k == "date" {
                        json!("<date>")
                    } else {
                        masked(v)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(masked).collect()),
        Value::String(s) if is_record_id(s) => json!("<id>"),
        Value::String(s) if chrono::DateTime::parse_from_rfc3339(s).is_ok() => json!("<time>"),
        other => other.clone(),
    }
}

fn is_record_id(s: &str) -> bool {
    s.rsplit_once('_').is_some_and(|(prefix, digits)| {
        !prefix.is_empty() && digits.len() >= 10 && digits.bytes().all(|b| b.is_ascii_digit())
    })
}

/// Serves `endpoint` on a free loopback port of this process (with TCP_NODELAY, as
/// `usage-restate serve` does) and registers it with the Restate admin API at `admin`.
pub async fn serve_in_process(admin: &str, endpoint: restate_sdk::endpoint::Endpoint) {
    usage_test_support::install_crypto_provider();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(usage_restate::serve(
        endpoint,
        listener,
        std::future::pending::<()>(),
    ));
    let answer = reqwest::Client::new()
        .post(format!("{admin}/deployments"))
        .json(&json!({"uri": url, "force": true}))
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success(), "registering {url}");
}
