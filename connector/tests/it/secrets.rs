//! No secret in any output: `call` (success, dry run, API failures, transport failures) run at
//! `RUST_LOG=trace` with a known key; the key must appear in no stdout, stderr or log line.
//! Also the CLI contract of `call`: exit codes and the printed task output.

use std::process::Output;

use serde_json::{Value, json};
use usage_sandbox::{Config, Fixture};

use crate::common;

const SECRET: &str = "sk_live_KNOWN_SECRET_4f2a9c71";

fn fixture() -> Fixture {
    let mut text: Value = serde_json::from_str(usage_sandbox::fixture::DEFAULT_FIXTURE).unwrap();
    text["keys"] = json!([{ "key": SECRET, "permissions": ["METER_DATA.INGEST", "METER_DATA.VIEW", "USAGES.CREATE", "USAGES.VIEW"] }]);
    Fixture::parse(&text.to_string()).unwrap()
}

fn call(args: &[&str], body: &Value, env: &[(&str, &str)]) -> Output {
    let mut command = common::bin();
    command
        .arg("call")
        .args(args)
        .args(["--body", "-"])
        .env("RUST_LOG", "trace")
        .env_remove("SOLVIMON_API_KEY")
        .env_remove("REBILLY_API_KEY")
        .envs(env.iter().copied());
    common::with_stdin(command, &body.to_string())
}

fn assert_no_secret(out: &Output, what: &str) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stdout.contains(SECRET) && !stderr.contains(SECRET),
        "{what}: the key leaked\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        !stdout.contains("KNOWN_SECRET") && !stderr.contains("KNOWN_SECRET"),
        "{what}: part of the key leaked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_output_log_or_error_contains_the_key() {
    let sandbox = usage_sandbox::start(Config {
        fixture: fixture(),
        ..Config::default()
    })
    .await
    .unwrap();
    let url = sandbox.url();
    let rebilly = [("REBILLY_API_KEY", SECRET)];
    let usage = json!({"subscriptionId": "sub_unlimited", "quantity": 2.5, "usageTime": "2025-05-01T12:00:00Z"});

    // Success: the task output.
    let out = call(
        &["rebilly.create-usage", "--server", &url],
        &usage,
        &rebilly,
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let output: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (output["statusCode"].as_u64(), output["outcome"].as_str()),
        (Some(201), Some("created"))
    );
    assert_eq!(output["body"]["quantity"], json!(2.5));
    assert_eq!(
        output["quantity"],
        json!({"requested": "2.5", "accepted": "2.5", "remainder": "0"})
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("TRACE"),
        "trace logging was on"
    );
    assert_no_secret(&out, "success");

    // Dry run: the exact request, the key as ***.
    let out = call(
        &[
            "rebilly.create-usage",
            "--server",
            &url,
            "--dry-run",
            "--organization",
            "org_7",
        ],
        &usage,
        &rebilly,
    );
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with(&format!("POST {url}/organizations/org_7/usages\n")),
        "{text}"
    );
    assert!(
        text.contains("reb-apikey: ***") && text.contains("\"usageTime\":\"2025-05-01T12:00:00."),
        "{text}"
    );
    assert_no_secret(&out, "dry run");

    // API failures: exit 1 with the API's error body.
    let out = call(
        &["rebilly.create-usage", "--server", &url],
        &json!({"subscriptionId": "sub_nope", "quantity": 1}),
        &rebilly,
    );
    assert_eq!(out.status.code(), Some(1));
    let err: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (err["code"].as_str(), err["statusCode"].as_u64()),
        (Some("HTTP_ERROR"), Some(422))
    );
    assert_eq!(err["body"]["invalidFields"][0]["field"], "subscriptionId");
    assert_no_secret(&out, "422");
    let out = call(
        &["rebilly.create-usage", "--server", &url],
        &json!({"subscriptionId": "sub_exhausted", "quantity": 1}),
        &rebilly,
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        serde_json::from_slice::<Value>(&out.stdout).unwrap()["code"],
        "USAGE_LIMIT_EXCEEDED"
    );
    assert_no_secret(&out, "409");

    // Solvimon through a credentials file with a bearer prefix; invalid input: nothing sent.
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let creds = dir.join("secrets-test-credentials.json");
    std::fs::write(&creds, r#"{"sv": {"header": "Authorization", "env": "SV_TEST_KEY", "prefix": "Bearer ", "platformId": "plat_1"}}"#).unwrap();
    let sv = [("SV_TEST_KEY", SECRET)];
    let event = json!({"reference": "evt_secret_0001", "meter_reference": "api_calls"});
    let out = call(
        &[
            "solvimon.calculate-cost",
            "--server",
            &url,
            "--credentials",
            creds.to_str().unwrap(),
            "--credential",
            "sv",
        ],
        &event,
        &sv,
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_no_secret(&out, "solvimon bearer");
    let out = call(
        &[
            "solvimon.calculate-cost",
            "--dry-run",
            "--credentials",
            creds.to_str().unwrap(),
            "--credential",
            "sv",
        ],
        &event,
        &sv,
    );
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("authorization: ***\nx-platform-id: plat_1\n"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_no_secret(&out, "solvimon dry run");
    let out = call(
        &[
            "solvimon.calculate-cost",
            "--server",
            &url,
            "--credentials",
            creds.to_str().unwrap(),
            "--credential",
            "sv",
        ],
        &json!({"reference": "short"}),
        &sv,
    );
    assert_eq!(
        (
            out.status.code(),
            serde_json::from_slice::<Value>(&out.stdout).unwrap()["code"].as_str()
        ),
        (Some(1), Some("INVALID_REQUEST"))
    );
    assert_no_secret(&out, "invalid");

    // Transport failure: nothing listens there; retried, then it fails.
    sandbox.shutdown().await;
    let out = call(
        &["rebilly.create-usage", "--server", &url],
        &usage,
        &rebilly,
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        serde_json::from_slice::<Value>(&out.stdout).unwrap()["code"],
        "RETRIES_EXHAUSTED"
    );
    assert_no_secret(&out, "connection refused");

    // Usage errors: exit 2.
    let out = call(&["rebilly.create-usage", "--server", &url], &usage, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("set REBILLY_API_KEY"));
    let out = call(&["rebilly.nope"], &usage, &rebilly);
    assert_eq!(out.status.code(), Some(2));
}

/// A header named sensitive in the credentials file (its value from the input) and a password
/// in a `--server` URL never show: not in the output, the trace or any log line at
/// `RUST_LOG=trace`, while the request still authenticates and is recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sensitive_headers_and_url_passwords_never_show() {
    const TOKEN: &str = "tenant_TOKEN_5c1e77";
    const PASSWORD: &str = "PASSWORD_9d0b2a";
    let sandbox = common::Sandbox::start().await;
    let dir = common::scratch("sensitive-headers");
    let credentials = dir.join("credentials.json");
    std::fs::write(
        &credentials,
        json!({"sensitiveHeaders": ["X-Tenant-Token"],
               "rebilly": {"header": "REB-APIKEY", "env": "RB_KEY"}})
        .to_string(),
    )
    .unwrap();
    let definition = dir.join("flow.json");
    std::fs::write(
        &definition,
        json!({"name": "n", "startTask": "Report", "tasks": {"Report": {
            "type": "Http", "credentials": "rebilly", "end": true,
            "httpRequest": {"url": "https://api-sandbox.rebilly.com/usages", "method": "POST",
                "headers": {"X-Tenant-Token": "${$.token}"},
                "body": {"subscriptionId": "sub_unlimited", "quantity": 1}}}}})
        .to_string(),
    )
    .unwrap();
    let trace = dir.join("trace.jsonl");
    let server = sandbox
        .url()
        .replace("http://", &format!("http://admin:{PASSWORD}@"));
    let out = common::bin()
        .arg("run")
        .arg(&definition)
        .arg("--input")
        .arg(json!({"token": TOKEN}).to_string())
        .arg("--credentials")
        .arg(&credentials)
        .args(["--server", &format!("rebilly={server}")])
        .arg("--trace")
        .arg(&trace)
        .env("RB_KEY", sandbox.dev_key("rebilly"))
        .env("RUST_LOG", "trace")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", common::text(&out.stderr));
    let trace = std::fs::read_to_string(&trace).unwrap();
    for (what, text) in [
        ("stdout", common::text(&out.stdout)),
        ("stderr", common::text(&out.stderr)),
        ("trace", trace.clone()),
    ] {
        for secret in [TOKEN, PASSWORD, sandbox.dev_key("rebilly")] {
            assert!(!text.contains(secret), "{what} shows {secret}");
        }
    }
    let record: Value = serde_json::from_str(trace.lines().next().unwrap()).unwrap();
    assert_eq!(record["requestHeaders"]["x-tenant-token"], "***");
    assert!(
        record["url"].as_str().unwrap().contains("***@"),
        "{}",
        record["url"]
    );
    assert_eq!(sandbox.usages(&[]).await.total, 1);
}
