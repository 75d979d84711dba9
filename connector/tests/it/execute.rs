//! The executor against the real sandbox over loopback: validation before send, partial
//! quantities, duplicates, the fault run with exactly-once delivery, transport causes. The
//! retry loop on a scripted network is in `retry_loop.rs`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::json;
use usage_connector::catalog::Vendor;
use usage_connector::execute::{
    AttemptKind, Credential, Credentials, Executor, HttpTaskOutput, Outcome, Secret, TaskContext,
    TaskError,
};
use usage_connector::simworkflow::HttpTask;
use usage_sandbox::{Config, FaultSpec};

use crate::common;

use common::Sandbox;

/// A sandbox recording its requests, and an executor sending both vendors to it.
async fn sandbox(config: Config) -> (Sandbox, Executor) {
    let running = Sandbox::with(Config {
        record_requests: true,
        ..config
    })
    .await;
    let executor = common::executor(&running);
    (running, executor)
}

use common::{task, usage_task};

fn calculate_task() -> HttpTask {
    task(json!({
        "credentials": "solvimon", "end": true,
        "retry": {"intervalSeconds": 0, "maxAttempts": 30, "backoffRate": 1, "jitter": "none"},
        "httpRequest": {"url": "https://test.api.solvimon.com/v1/events/calculate", "method": "POST",
                        "body": {"reference": "${$.reference}", "meter_reference": "api_calls",
                                 "meter_values": [{"reference": "call_count", "number": "${$.calls}"}]}}
    }))
}

#[tokio::test]
async fn an_invalid_input_sends_nothing() {
    let (running, executor) = sandbox(Config::default()).await;
    let input = json!({"subscription": "sub_unlimited", "quantity": 1.2345, "usageTime": "2025-05-01T12:00:00Z"});
    let err = executor
        .execute_http(&usage_task(json!({})), &input, &TaskContext::new("wf", "t"))
        .await
        .unwrap_err();
    assert_eq!(err.code, "INVALID_REQUEST");
    assert_eq!(err.diagnostics[0].pointer, "/quantity");
    let bad_event = json!({"reference": "short", "calls": "3"});
    assert_eq!(
        executor
            .execute_http(&calculate_task(), &bad_event, &TaskContext::new("wf", "t"))
            .await
            .unwrap_err()
            .code,
        "INVALID_REQUEST"
    );
    let missing = executor
        .execute_http(
            &usage_task(json!({})),
            &json!({"quantity": 1}),
            &TaskContext::new("wf", "t"),
        )
        .await
        .unwrap_err();
    assert_eq!(missing.code, "INPUT_MISSING");

    // Header injection from the input, a malformed header name, a URL that does not parse and
    // a secret that cannot be a header value are refused before anything is sent.
    let ok_input = json!({"subscription": "sub_unlimited", "quantity": 1, "usageTime": "2025-05-01T12:00:00Z",
                          "trace": "t1\r\nREB-APIKEY: stolen"});
    let ctx = TaskContext::new("wf", "t");
    let with_header = |name: &str| {
        usage_task(json!({"httpRequest": {
        "url": "https://api-sandbox.rebilly.com/usages", "method": "POST", "headers": {name: "${$.trace}"},
        "body": {"subscriptionId": "${$.subscription}", "quantity": "${$.quantity}", "usageTime": "${$.usageTime}"}}}))
    };
    let injected = executor
        .execute_http(&with_header("X-Trace"), &ok_input, &ctx)
        .await
        .unwrap_err();
    assert_eq!(injected.code, "INVALID_REQUEST");
    assert_eq!(
        injected.pointer.as_deref(),
        Some("/httpRequest/headers/X-Trace"),
        "{}",
        injected.message
    );
    let bad_name = executor
        .execute_http(&with_header("X Trace"), &ok_input, &ctx)
        .await
        .unwrap_err();
    assert_eq!(bad_name.code, "INVALID_REQUEST");
    let bad_url = task(
        json!({"end": true, "httpRequest": {"url": "http://exa mple.com/${$.trace}", "method": "GET"}}),
    );
    let err = executor
        .execute_http(&bad_url, &ok_input, &ctx)
        .await
        .unwrap_err();
    assert_eq!(err.code, "INVALID_REQUEST");
    assert!(err.message.contains("not a valid URL"), "{}", err.message);
    let mut bad_secret = Credentials::new();
    bad_secret.insert(
        "rebilly",
        Credential {
            header: "REB-APIKEY".into(),
            value: Secret::new("sk_1\nX: y"),
            platform_id: None,
        },
    );
    let err = Executor::new(bad_secret)
        .with_server(Vendor::Rebilly, &running.url())
        .execute_http(&usage_task(json!({})), &ok_input, &ctx)
        .await
        .unwrap_err();
    assert_eq!(err.code, "INVALID_CREDENTIALS");
    assert!(
        !err.message.contains("sk_1"),
        "the secret is never shown: {}",
        err.message
    );

    let requests = running.requests().await;
    assert_eq!(requests, json!([]), "no request reached the sandbox");
}

#[tokio::test]
async fn partial_quantities_limits_and_rounding_are_reported_exactly() {
    let (_running, executor) = sandbox(Config::default()).await;
    let ctx = TaskContext::new("wf", "report");
    let partial = usage_task(json!({"onLimit": "acceptPartial"}));
    let out = executor
        .execute_http(
            &partial,
            &json!({"subscription": "sub_near_limit", "quantity": 5, "usageTime": ""}),
            &ctx,
        )
        .await
        .unwrap();
    assert_eq!(serde_json::to_value(out.outcome).unwrap(), "partial");
    let q = serde_json::to_value(out.quantity.unwrap()).unwrap();
    assert_eq!(
        q,
        json!({"requested": "5", "accepted": "2.5", "remainder": "2.5"})
    );
    assert!(
        out.body.json()["usageTime"]
            .as_str()
            .unwrap()
            .ends_with('Z'),
        "usageTime always set, whole seconds: {}",
        out.body.json()
    );

    let reject = usage_task(json!({"onLimit": "reject"}));
    let err = executor
        .execute_http(
            &reject,
            &json!({"subscription": "sub_limit_100", "quantity": 150, "usageTime": ""}),
            &ctx,
        )
        .await
        .unwrap_err();
    assert_eq!(
        (err.code.as_str(), err.status_code),
        ("USAGE_LIMIT_EXCEEDED", Some(409))
    );
    assert!(
        err.message.contains("150 requested, 0 accepted")
            && err.message.contains("hard limit of 100"),
        "{}",
        err.message
    );
    assert_eq!(
        serde_json::to_value(err.quantity.unwrap()).unwrap(),
        json!({"requested": "150", "accepted": "0", "remainder": "150"})
    );

    let rounding = usage_task(json!({"rounding": "halfEven"}));
    let out = executor.execute_http(&rounding, &json!({"subscription": "sub_unlimited", "quantity": 1.2345, "usageTime": "2025-05-01T12:00:00.999Z"}), &ctx).await.unwrap();
    assert_eq!(out.body.json()["quantity"], json!(1.234));
    // The input's second, with six digits of the call's identity in place of its fraction.
    let time = out.body.json()["usageTime"].as_str().unwrap().to_owned();
    assert!(
        time.len() == 27 && time.starts_with("2025-05-01T12:00:00.") && time.ends_with('Z'),
        "{time}"
    );
    assert_eq!(
        serde_json::to_value(out.quantity.unwrap()).unwrap(),
        json!({"requested": "1.234", "accepted": "1.234", "remainder": "0", "roundedAway": "0.0005"})
    );
}

#[tokio::test]
async fn solvimon_calls_are_idempotent_per_logical_call() {
    let (running, executor) = sandbox(Config::default()).await;
    let ctx = TaskContext::new("wf-42", "calc");
    // No reference given: a stable one is derived from workflow, task and body.
    let input = json!({"reference": null, "calls": "3"});
    let first = executor
        .execute_http(&calculate_task(), &input, &ctx)
        .await
        .unwrap();
    let again = executor
        .execute_http(&calculate_task(), &input, &ctx)
        .await
        .unwrap();
    assert_eq!(serde_json::to_value(first.outcome).unwrap(), "created");
    assert_eq!(
        serde_json::to_value(again.outcome).unwrap(),
        "duplicate",
        "the same logical call never charges twice"
    );
    assert_eq!(first.idempotency_key, again.idempotency_key);
    let first_body = first.body.json();
    let reference = first_body["reference"].as_str().unwrap();
    assert!(
        reference.starts_with("uc-") && reference.len() == 35,
        "{reference}"
    );
    assert_eq!(
        first.body.json()["timestamp"]
            .as_str()
            .map(|t| !t.contains('.')),
        Some(true)
    );
    // Another workflow run is another logical call.
    let other = executor
        .execute_http(
            &calculate_task(),
            &input,
            &TaskContext::new("wf-43", "calc"),
        )
        .await
        .unwrap();
    assert_eq!(serde_json::to_value(other.outcome).unwrap(), "created");
    // Persist twice with the same reference: the 409 for our own reference is a duplicate.
    let persist = task(json!({"credentials": "solvimon", "end": true,
        "httpRequest": {"url": "https://api.solvimon.com/v1/ingest/persist-data", "method": "POST",
            "body": {"customer_id": null, "pricing_id": "p", "pricing_item_id": "pi", "pricing_item_config_id": "pc",
                     "pricing_plan_subscription_id": null, "reference": "persist_1", "timestamp": "2024-07-01T10:50:00.157+02:00"}}}));
    let a = executor
        .execute_http(&persist, &json!({}), &ctx)
        .await
        .unwrap();
    let b = executor
        .execute_http(&persist, &json!({}), &TaskContext::new("wf-other", "p"))
        .await
        .unwrap();
    assert_eq!(
        (
            serde_json::to_value(a.outcome).unwrap(),
            serde_json::to_value(b.outcome).unwrap()
        ),
        (json!("created"), json!("duplicate"))
    );
    let stored = running
        .solvimon_record("persist-data", "persist_1")
        .await
        .expect("stored");
    assert_eq!(
        stored["timestamp"], "2024-07-01T10:50:00+02:00",
        "whole seconds, offset kept"
    );
    let stats = running.stats().await;
    assert_eq!(
        (stats["meter-data"].as_u64(), stats["persist-data"].as_u64()),
        (Some(2), Some(1))
    );
}

/// The fault run of issue 5: 2,000 Rebilly usages and 2,000 Solvimon events at concurrency 32
/// through 503, 429, resets and lost responses; exactly 4,000 records afterwards, and no retry
/// earlier than a Retry-After allowed (checked against the sandbox's own request log).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fault_run_delivers_every_event_exactly_once() {
    const N: usize = 2_000;
    let faults = FaultSpec::parse("503=0.2,429=0.1,reset=0.05,lost-response=0.05").unwrap();
    let (running, executor) = sandbox(Config {
        faults,
        seed: 2026,
        ..Config::default()
    })
    .await;
    let executor = Arc::new(executor);
    let next = Arc::new(Mutex::new(0usize));
    let results: Arc<Mutex<Vec<Result<HttpTaskOutput, TaskError>>>> = Arc::default();
    let mut workers = Vec::new();
    for _ in 0..32 {
        let (executor, next, results) = (executor.clone(), next.clone(), results.clone());
        workers.push(tokio::spawn(async move {
            loop {
                let i = {
                    let mut n = next.lock().unwrap();
                    *n += 1;
                    *n - 1
                };
                if i >= 2 * N {
                    return;
                }
                let ctx = TaskContext::new("fault-run", format!("call-{i}"));
                let result = if i % 2 == 0 {
                    let t = chrono::DateTime::from_timestamp(1_746_100_000 + i as i64, 0).unwrap().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
                    executor.execute_http(&usage_task(json!({})), &json!({"subscription": "sub_unlimited", "quantity": 1.5, "usageTime": t}), &ctx).await
                } else {
                    executor.execute_http(&calculate_task(), &json!({"reference": format!("fault-run-event-{i:05}"), "calls": "2"}), &ctx).await
                };
                results.lock().unwrap().push(result);
            }
        }));
    }
    for w in workers {
        w.await.unwrap();
    }
    let results = std::mem::take(&mut *results.lock().unwrap());
    let failures: Vec<&TaskError> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(
        failures.is_empty(),
        "{} calls failed, e.g. {:?}",
        failures.len(),
        failures.first()
    );
    let mut outcomes: HashMap<String, usize> = HashMap::new();
    for r in &results {
        *outcomes
            .entry(
                serde_json::to_value(r.as_ref().unwrap().outcome)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
            .or_default() += 1;
    }
    let stats = running.stats().await;
    assert_eq!(
        stats["usages"].as_u64(),
        Some(N as u64),
        "Rebilly: none lost, none doubled ({outcomes:?})"
    );
    assert_eq!(
        stats["meter-data"].as_u64(),
        Some(N as u64),
        "Solvimon: one event in effect per call ({outcomes:?})"
    );
    assert!(
        outcomes.get("recovered").copied().unwrap_or(0) > 0,
        "some lost responses were recovered by lookup: {outcomes:?}"
    );
    assert!(
        outcomes.get("duplicate").copied().unwrap_or(0) > 0,
        "some lost responses were answered as duplicates: {outcomes:?}"
    );

    // Independent check of Retry-After, from the sandbox's log: after an injected 429 for a
    // call, that call's next request arrives no earlier than the server allowed.
    let checked = running.assert_retries_waited().await;
    assert!(
        checked > 100,
        "only {checked} rate-limited retries were checked"
    );
}

/// A gateway's 504 (or a 500, 502) may come after the write: the sandbox's `504` fault commits
/// the record and then answers 504. A Rebilly usage (no idempotency) is looked up before it is
/// sent again, and found (`recovered`); a Solvimon event is sent again under its key. Exactly
/// one record per call, and never a plain `RETRIES_EXHAUSTED` while a 504'd write may stand.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_answer_after_the_write_is_looked_up_not_sent_again() {
    const N: usize = 150;
    let (running, executor) = sandbox(Config {
        faults: FaultSpec::parse("504=0.3").unwrap(),
        seed: 504,
        ..Config::default()
    })
    .await;
    let executor = Arc::new(executor);
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..2 * N {
        let executor = executor.clone();
        calls.spawn(async move {
            let ctx = TaskContext::new("gateway-504", format!("call-{i}"));
            let result = if i % 2 == 0 {
                let t = chrono::DateTime::from_timestamp(1_746_200_000 + i as i64, 0)
                    .unwrap()
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
                executor
                    .execute_http(
                        &usage_task(json!({})),
                        &json!({"subscription": "sub_unlimited", "quantity": 2, "usageTime": t}),
                        &ctx,
                    )
                    .await
            } else {
                executor
                    .execute_http(
                        &calculate_task(),
                        &json!({"reference": format!("gateway-504-{i:04}"), "calls": "1"}),
                        &ctx,
                    )
                    .await
            };
            (i % 2 == 0, result)
        });
    }
    let (mut recovered, mut resent) = (0, vec![]);
    while let Some(joined) = calls.join_next().await {
        let (usage, result) = joined.unwrap();
        let out = result.unwrap_or_else(|e| panic!("{}: {}", e.code, e.message));
        if usage && out.attempts.iter().any(|a| a.status == Some(504)) {
            let kinds: Vec<_> = out.attempts.iter().map(|a| a.kind).collect();
            let after = kinds.iter().position(|k| *k == AttemptKind::Send).unwrap() + 1;
            if kinds.get(after) != Some(&AttemptKind::Lookup) {
                resent.push(kinds);
            }
            recovered += usize::from(out.outcome == Outcome::Recovered);
        }
    }
    let stats = running.stats().await;
    assert_eq!(
        (stats["usages"].as_u64(), stats["meter-data"].as_u64()),
        (Some(N as u64), Some(N as u64)),
        "one record per call, none doubled"
    );
    assert!(
        resent.is_empty(),
        "a 504'd usage is looked up before anything else: {resent:?}"
    );
    let injected = running.faults().await;
    let posts = injected
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["fault"] == "504" && f["method"] == "POST")
        .count();
    assert!(posts > 20, "the 504s were on: {posts}");
    assert!(
        recovered > 10,
        "504'd usages were found by lookup: {recovered}"
    );

    // When the retries run out after such an answer, the outcome is unknown (the record
    // stands), with the handle that resolves it.
    let (one, executor) = sandbox(Config {
        faults: FaultSpec::parse("504=1").unwrap(),
        ..Config::default()
    })
    .await;
    let err = executor
        .execute_http(
            &usage_task(json!({"retry": {"maxAttempts": 0}})),
            &json!({"subscription": "sub_unlimited", "quantity": 1, "usageTime": "2025-05-01T12:00:00Z"}),
            &TaskContext::new("gateway-504-once", "t"),
        )
        .await
        .unwrap_err();
    assert_eq!(
        (err.code.as_str(), err.status_code, err.replay.is_some()),
        ("OUTCOME_UNKNOWN", Some(504), true),
        "{}",
        err.message
    );
    assert_eq!(one.stats().await["usages"].as_u64(), Some(1));
}

/// Transport failures name their cause, not just "error sending request": a refused
/// connection, a reset, and a read timeout with its length.
#[tokio::test]
async fn transport_errors_show_their_whole_cause() {
    let one_try = |timeout: u32| {
        usage_task(json!({"retry": {"maxAttempts": 0}, "readTimeoutSeconds": timeout}))
    };
    let input = json!({"subscription": "sub_unlimited", "quantity": 1, "usageTime": "2025-05-01T12:00:00Z"});
    let ctx = TaskContext::new("wf", "t");
    let last_error = |e: &TaskError| e.attempts.last().and_then(|a| a.error.clone()).unwrap();

    // Nothing listens on a port we bound and released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let closed = Executor::new(Credentials::new())
        .with_server(Vendor::Rebilly, &format!("http://127.0.0.1:{port}"));
    let task = usage_task(json!({"retry": {"maxAttempts": 0}, "credentials": null,
        "httpRequest": {"url": "https://api-sandbox.rebilly.com/usages", "method": "POST",
            "headers": {"REB-APIKEY": "k"}, "body": {"subscriptionId": "s", "quantity": 1}}}));
    let err = closed.execute_http(&task, &input, &ctx).await.unwrap_err();
    let text = last_error(&err);
    assert!(text.contains("refused"), "{text}");

    let (_s, executor) = sandbox(Config {
        faults: FaultSpec::parse("reset=1").unwrap(),
        ..Config::default()
    })
    .await;
    let err = executor
        .execute_http(&one_try(10), &input, &ctx)
        .await
        .unwrap_err();
    let text = last_error(&err);
    assert!(
        text.starts_with("error sending request: ") && text.len() > "error sending request: ".len(),
        "{text}"
    );
    assert!(
        err.message.contains(&text),
        "the message names the cause: {}",
        err.message
    );

    let (_s, executor) = sandbox(Config {
        faults: FaultSpec::parse("delay=2s").unwrap(),
        ..Config::default()
    })
    .await;
    let err = executor
        .execute_http(&one_try(1), &input, &ctx)
        .await
        .unwrap_err();
    let text = last_error(&err);
    assert!(
        text.contains("timed out after 1 s reading the response"),
        "{text}"
    );
}

/// What a runtime gets from `TaskHandler::execute`: the Http output typed (nothing converted),
/// and its JSON written straight from it: the same JSON `json()` builds, and the one the
/// runner passes on.
#[tokio::test]
async fn a_runtime_reads_the_output_typed_or_as_json_written_once() {
    use usage_connector::execute::{Outcome, TaskHandler};
    use usage_connector::simworkflow::Task;
    let (_running, executor) = sandbox(Config::default()).await;
    let task = Task::Http(usage_task(json!({})));
    let input = json!({"subscription": "sub_unlimited", "quantity": "2.50", "usageTime": "2025-05-01T12:00:00Z"});
    let out = executor
        .execute(&task, &input, &TaskContext::new("wf-typed", "t"))
        .await
        .unwrap();
    let typed = out.http_output().expect("an Http task's output is typed");
    assert_eq!((typed.status_code, typed.outcome), (201, Outcome::Created));
    assert_eq!(typed.quantity.as_ref().unwrap().requested, "2.5");
    assert_eq!((out.attempts, out.outcome), (1, Some(Outcome::Created)));
    let written: serde_json::Value =
        serde_json::from_slice(&serde_json::to_vec(&out).unwrap()).unwrap();
    assert_eq!(written, out.json());
    assert_eq!(
        written["body"]["quantity"],
        json!(2.5),
        "the decimal string sent as that number"
    );
    assert_eq!(written, out.clone().into_json());
    let simple = usage_connector::execute::TaskOutput::value(json!({"n": 1}));
    assert!(simple.http_output().is_none());
    assert_eq!(serde_json::to_value(&simple).unwrap(), json!({"n": 1}));
}
