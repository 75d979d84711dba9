//! The executor's retry loop on tokio's paused clock with a scripted network: backoff,
//! Retry-After floors and caps, status classes, the Rebilly lookup after an ambiguous write,
//! cancellation. (Real sockets and a paused clock do not mix, so the network is a script.)

use crate::common;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};
use usage_connector::execute::transport::{Exchange, Reply, Transport, TransportError};
use usage_connector::execute::{
    Cancellation, Credential, Credentials, Executor, HttpTaskOutput, PriorRun, Secret, TaskContext,
    TaskError, steps,
};
use usage_connector::simworkflow::HttpTask;

use common::usage_task;

type Step = Result<Reply, TransportError>;

struct Script {
    steps: Mutex<VecDeque<Step>>,
    seen: Mutex<Vec<(String, String, tokio::time::Instant)>>,
}

impl Script {
    fn new(steps: Vec<Step>) -> Arc<Self> {
        Arc::new(Script {
            steps: Mutex::new(steps.into()),
            seen: Mutex::default(),
        })
    }
}

#[async_trait]
impl Transport for Script {
    async fn exchange(&self, x: Exchange<'_>) -> Result<Reply, TransportError> {
        self.seen.lock().unwrap().push((
            x.method.to_owned(),
            x.url.to_string(),
            tokio::time::Instant::now(),
        ));
        self.steps
            .lock()
            .unwrap()
            .pop_front()
            .expect("the script has a step for every request")
    }
}

fn reply(status: u16, headers: &[(&str, &str)], body: Value) -> Step {
    Ok(Reply {
        status,
        headers: headers
            .iter()
            .map(|(k, v)| {
                (
                    k.parse::<reqwest::header::HeaderName>().unwrap(),
                    v.parse().unwrap(),
                )
            })
            .collect(),
        body: body.to_string().into(),
    })
}

fn scripted(steps: Vec<Step>) -> (Arc<Script>, Executor) {
    let script = Script::new(steps);
    let mut credentials = Credentials::new();
    credentials.insert(
        "rebilly",
        Credential {
            header: "REB-APIKEY".into(),
            value: Secret::new("k_scripted"),
            platform_id: None,
        },
    );
    let executor = Executor::new(credentials).with_transport(script.clone());
    (script, executor)
}

fn policy_task(retry: Value) -> HttpTask {
    usage_task(json!({"retry": retry}))
}

fn input() -> Value {
    json!({"subscription": "sub_1", "quantity": 2, "usageTime": "2025-05-01T12:00:00Z"})
}

/// Runs the usage task with `retry` as its retry block, as workflow `w`'s task `t`.
async fn attempt(executor: &Executor, retry: Value) -> Result<HttpTaskOutput, TaskError> {
    executor
        .execute_http(&policy_task(retry), &input(), &TaskContext::new("w", "t"))
        .await
}

fn created() -> Step {
    reply(
        201,
        &[],
        json!({"id": "sub_usg_1", "subscriptionId": "sub_1", "quantity": 2, "usageTime": "2025-05-01T12:00:00Z"}),
    )
}

#[tokio::test(start_paused = true)]
async fn backoff_waits_interval_times_rate_between_attempts() {
    let (script, executor) = scripted(vec![
        reply(503, &[], json!({})),
        // 503 again: a 502 may come after the write, so a lookup would come before the resend.
        reply(503, &[], json!({})),
        created(),
    ]);
    let start = tokio::time::Instant::now();
    let out = attempt(
        &executor,
        json!({"intervalSeconds": 1, "maxAttempts": 3, "backoffRate": 2, "jitter": "none"}),
    )
    .await
    .unwrap();
    let delays: Vec<u64> = out.attempts.iter().map(|a| a.delay_ms).collect();
    assert_eq!(delays, vec![1000, 2000, 0]);
    let seen = script.seen.lock().unwrap();
    assert!(
        (Duration::from_secs(1)..Duration::from_millis(1010)).contains(&(seen[1].2 - seen[0].2))
    );
    assert!(
        (Duration::from_secs(2)..Duration::from_millis(2010)).contains(&(seen[2].2 - seen[1].2))
    );
    assert!((Duration::from_secs(3)..Duration::from_millis(3020)).contains(&start.elapsed()));
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_a_floor_and_over_the_cap_stops() {
    let (script, executor) = scripted(vec![
        reply(
            429,
            &[("retry-after", "7")],
            json!({"title": "Rate Limit Exceeded"}),
        ),
        created(),
    ]);
    let out = attempt(
        &executor,
        json!({"intervalSeconds": 1, "maxAttempts": 3, "jitter": "full"}),
    )
    .await
    .unwrap();
    assert_eq!(out.attempts[0].delay_ms, 7000);
    let seen = script.seen.lock().unwrap().clone();
    assert!(seen[1].2 - seen[0].2 >= Duration::from_secs(7));

    let (_, executor) = scripted(vec![reply(429, &[("retry-after", "120")], json!({}))]);
    let err = attempt(&executor, json!({"maxDelaySeconds": 60}))
        .await
        .unwrap_err();
    assert_eq!(err.code, "RATE_LIMITED");
    assert_eq!(err.attempts.len(), 1, "not retried early");
}

#[tokio::test(start_paused = true)]
async fn non_retryable_statuses_stop_at_once_and_retries_run_out() {
    let (script, executor) = scripted(vec![reply(
        422,
        &[],
        json!({"detail": "Invalid data sent."}),
    )]);
    let err = attempt(&executor, json!({"maxAttempts": 5}))
        .await
        .unwrap_err();
    assert_eq!(
        (err.code.as_str(), err.status_code),
        ("HTTP_ERROR", Some(422))
    );
    assert!(err.message.contains("Invalid data sent."));
    assert_eq!(script.seen.lock().unwrap().len(), 1);

    let (script, executor) = scripted((0..3).map(|_| reply(503, &[], json!({}))).collect());
    let err = attempt(&executor, json!({"intervalSeconds": 1, "maxAttempts": 2}))
        .await
        .unwrap_err();
    assert_eq!(
        (err.code.as_str(), err.attempts.len()),
        ("RETRIES_EXHAUSTED", 3)
    );
    assert_eq!(script.seen.lock().unwrap().len(), 3);
}

/// The usage time the executor sends for `input()` as task `t` of execution `w`: the input's
/// second with six digits of the call's identity.
fn usage_time(executor: &Executor) -> String {
    let prepared = executor
        .prepare(
            &policy_task(json!({"intervalSeconds": 1})),
            &input(),
            &TaskContext::new("w", "t"),
        )
        .unwrap();
    prepared.identity.usage.unwrap().usage_time
}

#[tokio::test(start_paused = true)]
async fn an_ambiguous_rebilly_write_is_looked_up_before_any_resend() {
    // Lost after sending; the lookup finds this call's usage: recovered, and no second POST.
    let (script, executor) = scripted(vec![]);
    let ours = usage_time(&executor);
    assert!(
        ours.starts_with("2025-05-01T12:00:00.") && ours.len() == 27,
        "{ours}"
    );
    script.steps.lock().unwrap().extend([
        Err(TransportError::Lost("connection closed".into())),
        reply(
            200,
            &[],
            json!([{"id": "sub_usg_9", "subscriptionId": "sub_1", "quantity": 2, "usageTime": ours}]),
        ),
    ]);
    let out = attempt(&executor, json!({"intervalSeconds": 1}))
        .await
        .unwrap();
    assert_eq!(serde_json::to_value(out.outcome).unwrap(), "recovered");
    assert_eq!(out.body.json()["id"], "sub_usg_9");
    let seen = script.seen.lock().unwrap().clone();
    assert_eq!(
        seen.iter().map(|s| s.0.as_str()).collect::<Vec<_>>(),
        vec!["POST", "GET"]
    );
    assert!(
        seen[1]
            .1
            .contains(&format!("filter=subscriptionId:sub_1%3BusageTime:{ours}")),
        "{}",
        seen[1].1
    );

    // Another call's usage that looks the same (same second and quantity, not this call's
    // identity) is never taken for ours: the outcome is unknown, nothing is resent.
    let (script, executor) = scripted(vec![
        Err(TransportError::Lost("connection closed".into())),
        reply(
            200,
            &[],
            json!([{"id": "sub_usg_8", "subscriptionId": "sub_1", "quantity": 2, "usageTime": "2025-05-01T12:00:00.000001Z"}]),
        ),
    ]);
    let err = attempt(&executor, json!({"intervalSeconds": 1}))
        .await
        .unwrap_err();
    assert_eq!(err.code, "OUTCOME_UNKNOWN");
    let replay = err.replay.expect("a replay handle");
    assert_eq!(
        (replay.workflow_id.as_str(), replay.usage_time.as_deref()),
        ("w", Some(ours.as_str()))
    );
    assert_eq!(script.seen.lock().unwrap().len(), 2, "no second POST");

    // Not found: sent again. A failed lookup is retried before any resend.
    let (script, executor) = scripted(vec![
        Err(TransportError::Lost("read timed out".into())),
        reply(503, &[], json!({})),
        reply(200, &[], json!([])),
        created(),
    ]);
    let out = attempt(&executor, json!({"intervalSeconds": 1}))
        .await
        .unwrap();
    assert_eq!(serde_json::to_value(out.outcome).unwrap(), "created");
    let methods: Vec<String> = script
        .seen
        .lock()
        .unwrap()
        .iter()
        .map(|s| s.0.clone())
        .collect();
    assert_eq!(methods, vec!["POST", "GET", "GET", "POST"]);

    // A gateway's 502 may follow the write: looked up after the backoff, then sent at once.
    let (script, executor) = scripted(vec![
        reply(502, &[], json!({})),
        reply(200, &[], json!([])),
        created(),
    ]);
    let out = attempt(
        &executor,
        json!({"intervalSeconds": 1, "maxAttempts": 1, "jitter": "none"}),
    )
    .await
    .unwrap();
    assert_eq!(serde_json::to_value(out.outcome).unwrap(), "created");
    let seen = script.seen.lock().unwrap().clone();
    let methods: Vec<&str> = seen.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(methods, vec!["POST", "GET", "POST"]);
    assert!(seen[1].2 - seen[0].2 >= Duration::from_secs(1));
    assert!(
        seen[2].2 - seen[1].2 < Duration::from_millis(10),
        "no second wait"
    );
    let delays: Vec<u64> = out.attempts.iter().map(|a| a.delay_ms).collect();
    assert_eq!(delays, vec![1000, 0, 0]);

    // A connect error sent nothing: resent without a lookup.
    let (script, executor) = scripted(vec![
        Err(TransportError::Connect("refused".into())),
        created(),
    ]);
    attempt(&executor, json!({"intervalSeconds": 1}))
        .await
        .unwrap();
    assert_eq!(
        script
            .seen
            .lock()
            .unwrap()
            .iter()
            .map(|s| s.0.as_str())
            .collect::<Vec<_>>(),
        vec!["POST", "POST"]
    );
}

#[tokio::test(start_paused = true)]
async fn cancellation_stops_between_attempts() {
    let (script, executor) = scripted(vec![reply(503, &[], json!({})), created()]);
    let (canceller, cancel) = Cancellation::new();
    let ctx = TaskContext {
        cancel,
        ..TaskContext::new("w", "t")
    };
    let task = policy_task(json!({"intervalSeconds": 30, "maxAttempts": 3, "jitter": "none"}));
    let input = input();
    let run = executor.execute_http(&task, &input, &ctx);
    let cancel = async {
        tokio::time::sleep(Duration::from_secs(5)).await;
        canceller.cancel();
    };
    let (result, ()) = tokio::join!(run, cancel);
    assert_eq!(result.unwrap_err().code, "CANCELLED");
    assert_eq!(script.seen.lock().unwrap().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_rerun_of_a_finished_execution_is_a_duplicate_even_when_its_lookup_is_retried() {
    let (script, executor) = scripted(vec![]);
    let ours = usage_time(&executor);
    script.steps.lock().unwrap().extend([
        reply(429, &[("retry-after", "1")], json!({})),
        reply(
            200,
            &[],
            json!([{"id": "sub_usg_9", "subscriptionId": "sub_1", "quantity": 2, "usageTime": ours}]),
        ),
    ]);
    let ctx = TaskContext {
        prior: PriorRun::Finished,
        ..TaskContext::new("w", "t")
    };
    let task = policy_task(json!({"intervalSeconds": 1}));
    let out = executor.execute_http(&task, &input(), &ctx).await.unwrap();
    assert_eq!(serde_json::to_value(out.outcome).unwrap(), "duplicate");
    let methods: Vec<String> = script
        .seen
        .lock()
        .unwrap()
        .iter()
        .map(|s| s.0.clone())
        .collect();
    assert_eq!(methods, vec!["GET", "GET"], "looked up, never sent");
}

/// Steps as a durable engine runs them after a crash: every send may repeat one whose answer
/// was lost, and waits are instant.
struct Replaying;

#[async_trait]
impl steps::Steps for Replaying {
    async fn step(&self, step: steps::Step) -> steps::StepResult {
        step.run(true).await
    }
    async fn wait(&self, _: Duration, _: &Cancellation) -> bool {
        true
    }
    fn random(&self) -> f64 {
        0.5
    }
}

#[tokio::test(start_paused = true)]
async fn a_send_that_may_repeat_a_lost_one_looks_the_write_up_first() {
    let (script, executor) = scripted(vec![]);
    let ours = usage_time(&executor);
    let ctx = TaskContext::new("w", "t");
    let task = policy_task(json!({"intervalSeconds": 1}));
    let prepared = || Arc::new(executor.prepare(&task, &input(), &ctx).unwrap());
    let methods = |script: &Script| -> Vec<String> {
        script
            .seen
            .lock()
            .unwrap()
            .iter()
            .map(|s| s.0.clone())
            .collect()
    };

    // The lost attempt had been recorded: found, not sent again.
    script.steps.lock().unwrap().push_back(reply(
        200,
        &[],
        json!([{"id": "sub_usg_9", "subscriptionId": "sub_1", "quantity": 2, "usageTime": ours}]),
    ));
    let out = executor
        .send_with(&prepared(), &ctx, &Replaying)
        .await
        .unwrap();
    assert_eq!(serde_json::to_value(out.outcome).unwrap(), "recovered");
    assert_eq!(methods(&script), vec!["GET"]);

    // It had not: sent once, after the read.
    script.seen.lock().unwrap().clear();
    script
        .steps
        .lock()
        .unwrap()
        .extend([reply(200, &[], json!([])), created()]);
    let out = executor
        .send_with(&prepared(), &ctx, &Replaying)
        .await
        .unwrap();
    assert_eq!(serde_json::to_value(out.outcome).unwrap(), "created");
    assert_eq!(methods(&script), vec!["GET", "POST"]);

    // The read failed: nothing is sent blind; the read is retried, and the send that follows
    // looks again (it too may repeat one lost in a crash).
    script.seen.lock().unwrap().clear();
    script.steps.lock().unwrap().extend([
        reply(503, &[], json!({})),
        reply(200, &[], json!([])),
        reply(200, &[], json!([])),
        created(),
    ]);
    let out = executor
        .send_with(&prepared(), &ctx, &Replaying)
        .await
        .unwrap();
    assert_eq!(serde_json::to_value(out.outcome).unwrap(), "created");
    assert_eq!(methods(&script), vec!["GET", "GET", "GET", "POST"]);

    // The journal form of a step round-trips.
    let done = steps::StepResult {
        looked: Some(Err((usage_connector::retry::Attempt::Lost, "reset".into()))),
        sent: None,
    };
    let record = steps::StepRecord::from(&done);
    let back: steps::StepRecord =
        serde_json::from_value(serde_json::to_value(&record).unwrap()).unwrap();
    assert_eq!(steps::StepResult::from(back), done);
}
