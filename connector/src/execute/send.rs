//! The send loop: one logical call, attempt by attempt, until the vendor's rules or the retry
//! policy say it is done.
//!
//! Policy: the loop knows no vendor. Every attempt carries the prepared request's identity;
//! an answer is judged by [`VendorRules::classify`]; what it leaves undecided goes to
//! [`crate::retry::decide`]. After an ambiguous failure (sent, then no answer, or an error
//! answer that may come after the write: a 500, a gateway's 502 or 504), and before re-sending
//! what an earlier run of the execution may have sent ([`PriorRun`]), a write whose API cannot
//! deduplicate is looked up ([`VendorRules::lookup_url`]) first: this call's record is
//! `recovered` (or `duplicate`, when the earlier run had finished), no record means send, a
//! look-alike that cannot be told apart is `OUTCOME_UNKNOWN`, and a failed lookup is retried
//! (never a blind resend). When the policy stops while an attempt may have been recorded, the
//! error is `OUTCOME_UNKNOWN` with a replay handle, never a plain failure. Waits honour the
//! server's floor and stop early on cancellation.

use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use serde_json::Value;

use super::executor::Executor;
use super::steps::{Answered, Direct, Exchanged, Step, StepResult, Steps};
use super::{PriorRun, TaskContext};
use crate::output::{
    AttemptKind, AttemptRecord, DuplicateBody, DuplicateOf, ErrorCode, Headers, HttpTaskOutput,
    Outcome, Replay, ResponseBody, TaskError,
};
use crate::prepare::PreparedRequest;
use crate::retry::{Attempt, Decision, StopReason, decide, retryable_status};
use crate::vendor_rules::{
    self, Answer, Found, Original, Recognised, VendorRules, Verdict, api_message,
};

/// The read to make before the first send: when an earlier run of the execution may have sent
/// this very request and the API cannot deduplicate it.
fn prior_lookup(req: &PreparedRequest, ctx: &TaskContext) -> Option<Url> {
    match ctx.prior {
        PriorRun::None => None,
        PriorRun::Started | PriorRun::Finished => {
            vendor_rules::rules_for(req.endpoint).lookup_url(&req.identity, &req.url)
        }
    }
}

/// Whether an error answer to `req` may come after its write happened, in a way the connector
/// can resolve: a retried server error that does not say the request was refused before
/// processing (500, a gateway's 502 or 504; 503 says it was not processed, other errors are
/// the API's own refusal), to a request the API deduplicates by key or that can be looked up.
/// A request with neither (a URL outside the catalog) is retried as before.
fn follows_a_write(status: u16, req: &PreparedRequest, rules: &dyn VendorRules) -> bool {
    matches!(status, 500 | 502 | 504)
        && (req.identity.idempotency_key.is_some()
            || rules.lookup_url(&req.identity, &req.url).is_some())
}

/// What a lookup found.
enum Lookup {
    /// This call's record: it was written.
    Found(Found),
    /// No record: sending is safe.
    Absent,
    /// Look-alikes only: whether this call was written cannot be told.
    Ambiguous(String),
    /// The lookup itself failed: the policy decides whether to look again.
    Failed(Attempt, Option<Duration>, AttemptRecord),
}

impl Executor {
    /// Sends a prepared request with retries; see the module docs for the guarantees.
    pub async fn send(
        &self,
        req: &PreparedRequest,
        ctx: &TaskContext,
    ) -> Result<HttpTaskOutput, TaskError> {
        self.send_with(&Arc::new(req.clone()), ctx, &Direct(self))
            .await
    }

    /// [`Executor::send`] with its exchanges and waits carried out by `steps` (a durable
    /// engine journals them; the decisions are the same).
    pub async fn send_with(
        &self,
        req: &Arc<PreparedRequest>,
        ctx: &TaskContext,
        steps: &dyn Steps,
    ) -> Result<HttpTaskOutput, TaskError> {
        self.send_after(req, ctx, steps, None).await
    }

    /// The first exchange of a call, as [`Executor::send_with`] starts it: a lookup when an
    /// earlier run may have sent the request (and the API cannot deduplicate it), else the
    /// send. A durable engine may take it itself (in the journaled step that also reads its
    /// clock) and go on with [`Executor::send_after`].
    pub fn first_step(&self, req: &Arc<PreparedRequest>, ctx: &TaskContext) -> Step {
        self.step_to(req, prior_lookup(req, ctx).as_ref())
    }

    /// The lookup at `looking`, or else the send.
    fn step_to(&self, req: &Arc<PreparedRequest>, looking: Option<&Url>) -> Step {
        match looking {
            Some(url) => Step::lookup(self, req, url.clone()),
            None => Step::send(self, req),
        }
    }

    /// [`Executor::send_with`], the result of its first step ([`Executor::first_step`]) given
    /// when it was taken already; the decisions are the same.
    pub async fn send_after(
        &self,
        req: &Arc<PreparedRequest>,
        ctx: &TaskContext,
        steps: &dyn Steps,
        first: Option<StepResult>,
    ) -> Result<HttpTaskOutput, TaskError> {
        let ended = self.send_loop(req, ctx, steps, first).await;
        match &ended {
            _ if steps.replaying() => {}
            Ok(out) => crate::telemetry::call(req.endpoint, out.outcome.as_str(), false),
            Err(e) => {
                crate::telemetry::call(req.endpoint, "failed", e.code == ErrorCode::OutcomeUnknown)
            }
        }
        ended
    }

    async fn send_loop(
        &self,
        req: &Arc<PreparedRequest>,
        ctx: &TaskContext,
        steps: &dyn Steps,
        mut first: Option<StepResult>,
    ) -> Result<HttpTaskOutput, TaskError> {
        let rules = vendor_rules::rules_for(req.endpoint);
        let mut attempts: Vec<AttemptRecord> = Vec::new();
        // An earlier run may have sent this very request: look before sending.
        let mut lookup = prior_lookup(req, ctx);
        // Whether an attempt (or an earlier run) may have been recorded, unknown to us.
        let mut maybe_recorded = ctx.prior != PriorRun::None;
        let mut tries = 0u32;
        // The last attempt's answer, when it was an error answer to a send.
        let mut last: Option<(u16, Value)> = None;
        loop {
            // A first step taken already is judged whatever came after it.
            if first.is_none() && ctx.cancel.is_cancelled() {
                let e = TaskError::new(ErrorCode::Cancelled, "the task was cancelled");
                return Err(self.unknown_if(maybe_recorded, e, req, ctx, attempts, last));
            }
            tries += 1;
            let looking = lookup.clone();
            let done = match first.take() {
                Some(done) => done,
                None => {
                    if looking.is_none() {
                        tracing::debug!(task = %ctx.task_name, method = %req.method, url = %super::trace::shown_url(&req.url), attempt = tries, "sending");
                    }
                    let step = self.step_to(req, looking.as_ref());
                    if steps.runs_in_place() {
                        step.run(false).await
                    } else {
                        steps.step(step).await
                    }
                }
            };
            // The read: a lookup step's own, or one made before a send that may repeat.
            let (looked, sent) = match looking {
                Some(_) => (done.sent, None),
                None => (done.looked, done.sent),
            };
            let mut failed_lookup = None;
            if let Some(looked) = looked {
                last = None;
                let url = looking
                    .clone()
                    .or_else(|| rules.lookup_url(&req.identity, &req.url))
                    .unwrap_or_else(|| req.url.clone());
                self.record(ctx, req, AttemptKind::Lookup, "GET", &url, None, &looked);
                match lookup_verdict(req, rules, looked) {
                    Lookup::Found(found) => {
                        attempts.push(AttemptRecord::answered(AttemptKind::Lookup, 200));
                        tracing::info!(task = %ctx.task_name, "the write was found by lookup; not sent again");
                        return Ok(found_output(req, ctx, attempts, found));
                    }
                    Lookup::Absent => {
                        lookup = None;
                        maybe_recorded = false;
                        attempts.push(AttemptRecord::answered(AttemptKind::Lookup, 200));
                        if looking.is_some() {
                            tries -= 1;
                            continue;
                        }
                    }
                    Lookup::Ambiguous(why) => {
                        attempts.push(AttemptRecord::answered(AttemptKind::Lookup, 200));
                        let e = TaskError::new(ErrorCode::OutcomeUnknown, why);
                        return Err(self.unknown_if(true, e, req, ctx, attempts, None));
                    }
                    Lookup::Failed(attempt, not_before, record) => {
                        attempts.push(record);
                        maybe_recorded = true;
                        lookup = Some(url);
                        failed_lookup = Some((attempt, not_before));
                    }
                }
            }
            let (outcome, not_before) = match (failed_lookup, sent) {
                (Some(failed), _) => failed,
                (None, None) => (Attempt::Lost, None),
                (None, Some(sent)) => {
                    self.record(
                        ctx,
                        req,
                        AttemptKind::Send,
                        req.method,
                        &req.url,
                        req.body.as_ref(),
                        &sent,
                    );
                    match sent {
                        Ok(Answered {
                            status,
                            headers,
                            body,
                            not_before,
                        }) => {
                            attempts.push(AttemptRecord::answered(AttemptKind::Send, status));
                            // An error answer is read in full, once: its message goes into the
                            // error, now or after the last retry.
                            let error = (!(200..300).contains(&status)).then(|| body.json());
                            let answer = Answer {
                                status,
                                headers: &headers,
                                body: &body,
                                error: error.as_ref(),
                            };
                            match rules.classify(&req.identity, &answer) {
                                Verdict::Done { outcome, quantity } => {
                                    let (body, duplicate_of) = if outcome == Outcome::Duplicate {
                                        let original = rules.original(&req.url, &answer);
                                        self.original(
                                            req,
                                            ctx,
                                            steps,
                                            original,
                                            body,
                                            &mut attempts,
                                        )
                                        .await
                                    } else {
                                        (body, None)
                                    };
                                    return Ok(HttpTaskOutput {
                                        status_code: status,
                                        headers,
                                        body,
                                        attempts,
                                        idempotency_key: req.identity.idempotency_key.clone(),
                                        outcome,
                                        quantity,
                                        duplicate_of,
                                    });
                                }
                                Verdict::Fail(e) => return Err(e.with_attempts(attempts, None)),
                                Verdict::Undecided => {}
                            }
                            last = error.map(|v| (status, v));
                            if follows_a_write(status, req, rules) {
                                maybe_recorded = true;
                                lookup = rules.lookup_url(&req.identity, &req.url);
                            }
                            (Attempt::Status(status), not_before)
                        }
                        Err((attempt, message)) => {
                            attempts.push(AttemptRecord::failed(AttemptKind::Send, message));
                            last = None;
                            if attempt == Attempt::Lost {
                                maybe_recorded = true;
                                lookup = rules.lookup_url(&req.identity, &req.url);
                            }
                            (attempt, None)
                        }
                    }
                }
            };
            match decide(&req.policy, tries, &outcome, not_before, steps.random()) {
                Decision::RetryAfter(delay) => {
                    if let Some(a) = attempts.last_mut() {
                        a.delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
                    }
                    self.notify_retry(req, ctx, tries, &attempts, delay, not_before);
                    if !steps.replaying() {
                        crate::telemetry::retry(req.endpoint);
                    }
                    tracing::debug!(task = %ctx.task_name, ?outcome, delay_ms = delay.as_millis() as u64, "retrying");
                    if !steps.wait(delay, &ctx.cancel).await {
                        let e = TaskError::new(ErrorCode::Cancelled, "the task was cancelled");
                        return Err(self.unknown_if(maybe_recorded, e, req, ctx, attempts, last));
                    }
                }
                Decision::Stop(reason) => {
                    let e = failure(req, reason, &outcome, &attempts, last.as_ref());
                    return Err(self.unknown_if(maybe_recorded, e, req, ctx, attempts, last));
                }
            }
        }
    }

    /// The body of a duplicate's output: the original record where the API lets us read it
    /// (one read, recorded as a lookup attempt), else the duplicate answer with a note.
    async fn original(
        &self,
        req: &Arc<PreparedRequest>,
        ctx: &TaskContext,
        steps: &dyn Steps,
        original: Original,
        answer: ResponseBody,
        attempts: &mut Vec<AttemptRecord>,
    ) -> (ResponseBody, Option<DuplicateOf>) {
        let unread = |id: Option<String>, note: String| DuplicateOf {
            id,
            body: DuplicateBody::Answer,
            note: Some(note),
            answer: None,
        };
        match original {
            Original::Replayed => {
                let id = answer.json()["id"].as_str().map(str::to_owned);
                let of = DuplicateOf {
                    id,
                    body: DuplicateBody::Replayed,
                    note: None,
                    answer: None,
                };
                (answer, Some(of))
            }
            Original::Unreadable { id, why } => (answer, Some(unread(id, why))),
            Original::Read { id, url } => {
                let done = steps.step(Step::lookup(self, req, url.clone())).await;
                let Some(read) = done.sent else {
                    return (answer, Some(unread(Some(id), "it was not read".into())));
                };
                self.record(ctx, req, AttemptKind::Lookup, "GET", &url, None, &read);
                match read {
                    Ok(found) if found.status == 200 => {
                        attempts.push(AttemptRecord::answered(AttemptKind::Lookup, 200));
                        let of = DuplicateOf {
                            id: Some(id),
                            body: DuplicateBody::ReadBack,
                            note: None,
                            answer: Some(answer.json()),
                        };
                        (found.body, Some(of))
                    }
                    Ok(found) => {
                        attempts.push(AttemptRecord::answered(AttemptKind::Lookup, found.status));
                        let why = format!(
                            "reading the original back was answered {}",
                            api_message(found.status, &found.body.json())
                        );
                        (answer, Some(unread(Some(id), why)))
                    }
                    Err((_, message)) => {
                        let why = format!("reading the original back failed: {message}");
                        attempts.push(AttemptRecord::failed(AttemptKind::Lookup, message));
                        (answer, Some(unread(Some(id), why)))
                    }
                }
            }
        }
    }

    /// Tells the progress sink about a retry: what failed, the wait, the rule that set it.
    fn notify_retry(
        &self,
        req: &PreparedRequest,
        ctx: &TaskContext,
        tries: u32,
        attempts: &[AttemptRecord],
        delay: Duration,
        not_before: Option<Duration>,
    ) {
        let (Some(sink), Some(last_attempt)) = (&self.progress, attempts.last()) else {
            return;
        };
        let rule = match not_before {
            Some(floor) if delay <= floor + Duration::from_millis(1) => {
                format!("Retry-After {:.1} s", floor.as_secs_f64())
            }
            _ => format!("backoff, retry {tries} of {}", req.policy.max_retries),
        };
        sink(&super::trace::RetryNotice {
            task: ctx.task_name.clone(),
            attempt: tries,
            status: last_attempt.status,
            error: last_attempt.error.clone(),
            delay,
            rule,
        });
    }

    /// `error` as it ends the call: when an attempt may have been recorded, it becomes
    /// `OUTCOME_UNKNOWN` (naming the cause), with the replay handle that resolves it.
    fn unknown_if(
        &self,
        maybe_recorded: bool,
        error: TaskError,
        req: &PreparedRequest,
        ctx: &TaskContext,
        attempts: Vec<AttemptRecord>,
        last: Option<(u16, Value)>,
    ) -> TaskError {
        if !maybe_recorded {
            return error.with_attempts(attempts, last);
        }
        let usage = req.identity.usage.as_ref();
        let replay = Replay {
            workflow_id: ctx.workflow_id.clone(),
            task: ctx.task_name.clone(),
            idempotency_key: req.identity.idempotency_key.clone(),
            identity: usage.map(|u| u.key.clone()),
            usage_time: usage.map(|u| u.usage_time.clone()),
        };
        let cause = if error.code == ErrorCode::OutcomeUnknown {
            error.message
        } else {
            format!("{}: {}", error.code, error.message)
        };
        TaskError {
            replay: Some(replay),
            ..TaskError::new(
                ErrorCode::OutcomeUnknown,
                format!(
                    "the request may have been recorded ({cause}); nothing more was sent. Run the same execution again (workflow id `{}`, task `{}`) to resolve it: it looks the request up first and never records it twice",
                    ctx.workflow_id, ctx.task_name
                ),
            )
        }
        .with_attempts(attempts, last)
    }
}

/// The output when a lookup found the write: `recovered`, or `duplicate` when nothing was
/// sent by this run and an earlier run of the execution had finished.
fn found_output(
    req: &PreparedRequest,
    ctx: &TaskContext,
    attempts: Vec<AttemptRecord>,
    found: Found,
) -> HttpTaskOutput {
    let sent = attempts.iter().any(|a| a.kind == AttemptKind::Send);
    let outcome = if !sent && ctx.prior == PriorRun::Finished {
        Outcome::Duplicate
    } else {
        Outcome::Recovered
    };
    let duplicate_of = (outcome == Outcome::Duplicate).then(|| DuplicateOf {
        id: found.record["id"].as_str().map(str::to_owned),
        body: DuplicateBody::Lookup,
        note: None,
        answer: None,
    });
    HttpTaskOutput {
        status_code: 201,
        headers: Headers::default(),
        body: ResponseBody::from_value(&found.record),
        attempts,
        idempotency_key: req.identity.idempotency_key.clone(),
        outcome,
        quantity: found.quantity,
        duplicate_of,
    }
}

/// What a lookup's answer says about the write.
fn lookup_verdict(req: &PreparedRequest, rules: &dyn VendorRules, looked: Exchanged) -> Lookup {
    let answer = match looked {
        Ok(answer) => answer,
        Err((attempt, message)) => {
            return Lookup::Failed(
                attempt,
                None,
                AttemptRecord::failed(AttemptKind::Lookup, message),
            );
        }
    };
    if answer.status != 200 {
        // A lookup that cannot succeed later (4xx) must not lead to a blind resend: it counts
        // as a lost answer, so the policy retries the lookup or gives up.
        let attempt = if retryable_status(answer.status) {
            Attempt::Status(answer.status)
        } else {
            Attempt::Lost
        };
        return Lookup::Failed(
            attempt,
            answer.not_before,
            AttemptRecord::answered(AttemptKind::Lookup, answer.status),
        );
    }
    match rules.recognise(&req.identity, &answer.body.json()) {
        Recognised::Found(found) => Lookup::Found(found),
        Recognised::Absent => Lookup::Absent,
        Recognised::Ambiguous(why) => Lookup::Ambiguous(why),
    }
}

/// The error when the retry policy stops; `last` is the last attempt's error answer, if the
/// last attempt was answered.
fn failure(
    req: &PreparedRequest,
    reason: StopReason,
    outcome: &Attempt,
    attempts: &[AttemptRecord],
    last: Option<&(u16, Value)>,
) -> TaskError {
    let body = last.map_or(&Value::Null, |l| &l.1);
    match (reason, outcome) {
        (StopReason::ServerWaitTooLong, _) => TaskError::new(
            ErrorCode::RateLimited,
            format!(
                "the server asked to wait longer than maxDelaySeconds ({} s); not retried early",
                req.policy.max_delay.as_secs()
            ),
        ),
        (StopReason::Exhausted, _) => {
            let cause = match attempts.last() {
                Some(AttemptRecord { error: Some(e), .. }) => format!("; the last failed: {e}"),
                Some(AttemptRecord {
                    kind,
                    status: Some(s),
                    ..
                }) => format!(
                    "; the last {} was answered {}",
                    kind.as_str(),
                    api_message(*s, body)
                ),
                _ => String::new(),
            };
            TaskError::new(
                ErrorCode::RetriesExhausted,
                format!("gave up after {} attempts{cause}", attempts.len()),
            )
        }
        (StopReason::NotRetryable, Attempt::Status(s)) => {
            TaskError::new(ErrorCode::HttpError, api_message(*s, body))
        }
        (StopReason::NotRetryable, _) => TaskError::new(ErrorCode::HttpError, "request failed"),
    }
}
