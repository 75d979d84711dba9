//! The Http task executor: prepare (resolve, round, validate, authenticate, make idempotent),
//! send with retries, resolve ambiguous Rebilly writes by lookup, and report the outcome.

// A TaskError ends a task once; boxing it would only move the allocation.
#![allow(clippy::result_large_err)]

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use rust_decimal::{Decimal, RoundingStrategy};
use serde::Serialize;
use serde_json::{Map, Number, Value, json};

use super::credentials::{Credential, Credentials, SECRET_HEADERS};
use super::retry::{Attempt, Decision, RetryPolicy, StopReason, decide, server_wait};
use super::transport::{Bytes, Exchange, HeaderMap, ReqwestTransport, Transport, TransportError};
use super::{TaskContext, TaskError};
use crate::catalog::{Endpoint, EndpointId, Vendor};
use crate::simworkflow::{HttpTask, OnLimit, Rounding};
use crate::validate::placeholder;
use crate::validate::validate_request_with;
use crate::validators::Validators;

/// How the call ended well.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The API recorded it now.
    Created,
    /// The API already had it (our own earlier attempt or run): no second event.
    Duplicate,
    /// An ambiguous attempt had in fact been recorded; found by lookup, not sent again.
    Recovered,
    /// Recorded with less than requested (`acceptPartialQuantity`).
    Partial,
}

/// Quantities of a usage report, as exact decimal strings (`"2.5"`): what Solvimon's decimal
/// fields take as they are, and what Decision conditions compare numerically.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QuantityReport {
    /// Quantity sent (after the rounding policy).
    pub requested: String,
    /// Quantity the API recorded.
    pub accepted: String,
    /// `requested − accepted`.
    pub remainder: String,
    /// What the rounding policy removed before sending (`original − requested`), if it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rounded_away: Option<String>,
}

/// One attempt: its status or error, and the wait before the next one.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AttemptRecord {
    /// `send`, or `lookup` (Rebilly, after an ambiguous failure).
    pub kind: &'static str,
    /// HTTP status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Transport error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Milliseconds waited after this attempt (0 for the last).
    pub delay_ms: u64,
}

/// The output of an Http task.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpTaskOutput {
    /// Final HTTP status.
    pub status_code: u16,
    /// Response headers (secrets and cookies removed).
    pub headers: Headers,
    /// Response body (JSON, or a string if not JSON).
    pub body: Value,
    /// Every attempt.
    pub attempts: Vec<AttemptRecord>,
    /// The idempotency key every attempt carried (Solvimon).
    pub idempotency_key: Option<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// Quantities (Rebilly usages).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantity: Option<QuantityReport>,
}

/// A request ready to send: the exact bytes, with the auth header marked secret.
#[derive(Debug, Clone)]
pub struct PreparedRequest {
    /// Catalog endpoint, if the URL matched one.
    pub endpoint: Option<EndpointId>,
    /// Method.
    pub method: String,
    /// Final URL (server overrides applied).
    pub url: String,
    /// Headers (name, value); the auth header's value is a secret.
    pub headers: Vec<(String, String)>,
    /// Index in `headers` of secret values.
    secret_headers: HashSet<usize>,
    /// Body bytes.
    pub body: Option<Bytes>,
    /// Idempotency key (Solvimon).
    pub idempotency_key: Option<String>,
    /// Rebilly: (subscription, usageTime, quantity sent, rounded away, accept partial).
    usage: Option<UsageIdentity>,
    connect_timeout: Duration,
    read_timeout: Duration,
    policy: RetryPolicy,
}

#[derive(Debug, Clone)]
struct UsageIdentity {
    subscription: String,
    usage_time: String,
    quantity: Decimal,
    rounded_away: Option<Decimal>,
    accept_partial: bool,
}

impl PreparedRequest {
    /// The exact request as text, secret header values shown as `***` — what `--dry-run` prints.
    pub fn render_redacted(&self) -> String {
        let mut out = format!("{} {}\n", self.method, self.url);
        for (i, (k, v)) in self.headers.iter().enumerate() {
            let shown = if self.secret_headers.contains(&i) {
                "***"
            } else {
                v.as_str()
            };
            out.push_str(&format!("{k}: {shown}\n"));
        }
        if let Some(body) = &self.body {
            out.push('\n');
            out.push_str(&String::from_utf8_lossy(body));
            out.push('\n');
        }
        out
    }
}

/// The JSON number of an exact decimal: integers stay integers; otherwise the shortest double,
/// which reads back as the same decimal for up to 15 significant digits (`5.125` → `5.125`).
pub fn decimal_number(d: Decimal) -> Value {
    let d = d.normalize();
    if d.scale() == 0
        && let Ok(i) = i64::try_from(d)
    {
        return json!(i);
    }
    d.to_string()
        .parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .map_or(Value::Null, Value::Number)
}

/// Reads a JSON number as the decimal it was written as.
fn number_decimal(v: &Value) -> Option<Decimal> {
    match v {
        Value::Number(n) => {
            let text = n.to_string();
            Decimal::from_str_exact(&text)
                .or_else(|_| Decimal::from_scientific(&text))
                .ok()
        }
        _ => None,
    }
}

/// A stable 128-bit FNV-1a hash as 32 hex digits (derived references and idempotency keys).
fn stable_hash(parts: &[&str]) -> String {
    let mut a: u64 = 0xcbf2_9ce4_8422_2325;
    let mut b: u64 = 0x8422_2325_cbf2_9ce4;
    for part in parts {
        for byte in part.bytes().chain([0u8]) {
            a = (a ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01B3);
            b = (b ^ u64::from(byte.rotate_left(3))).wrapping_mul(0x0000_0100_0000_01B3);
        }
    }
    format!("{a:016x}{b:016x}")
}

/// Formats an RFC 3339 timestamp to whole seconds (fraction dropped, offset kept, `Z` for UTC).
fn whole_seconds(text: &str) -> Option<String> {
    let t = chrono::DateTime::parse_from_rfc3339(text).ok()?;
    let t = t.with_timezone(t.offset())
        - chrono::Duration::nanoseconds(i64::from(t.timestamp_subsec_nanos()));
    Some(if t.offset().local_minus_utc() == 0 {
        t.to_utc()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    } else {
        t.to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
    })
}

fn now_seconds() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Runs Http tasks. Cheap to share (`Arc`); clients are pooled per timeout profile.
pub struct Executor {
    validators: &'static Validators,
    credentials: Credentials,
    servers: HashMap<Vendor, String>,
    transport: Arc<dyn Transport>,
    /// Rebilly usage ids already attributed to a call of this executor (lookups skip them).
    claimed: Mutex<Claimed>,
    jitter_state: Mutex<u64>,
    endpoint_cache: RwLock<HashMap<String, HashMap<String, Option<EndpointId>>>>,
    trace: Option<TraceSink>,
}

/// Rebilly usage ids already attributed to a call of this executor, so a lookup never takes
/// another call's usage for its own. Bounded: the oldest ids are forgotten past 100,000 (a
/// lookup follows its own send within seconds).
#[derive(Default)]
struct Claimed {
    ids: HashSet<String>,
    order: std::collections::VecDeque<String>,
}

impl Claimed {
    const CAP: usize = 100_000;

    fn insert(&mut self, id: &str) {
        if self.ids.insert(id.to_owned()) {
            self.order.push_back(id.to_owned());
            if self.order.len() > Self::CAP
                && let Some(old) = self.order.pop_front()
            {
                self.ids.remove(&old);
            }
        }
    }

    fn contains(&self, id: &str) -> bool {
        self.ids.contains(id)
    }
}

/// Response headers as the task output shows them: secret and cookie headers removed;
/// serialized as `{name: value}` (lower-case names).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Headers(HeaderMap);

impl Headers {
    /// Wraps `map` without the headers that must never be shown.
    fn shown(mut map: HeaderMap) -> Self {
        for name in SECRET_HEADERS.iter().chain(&["set-cookie"]) {
            map.remove(*name);
        }
        Headers(map)
    }

    /// A header's value, if present and text.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(|v| v.to_str().ok())
    }

    /// (name, value) pairs (values that are not text are skipped).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0
            .iter()
            .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)))
    }
}

impl Serialize for Headers {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

/// One exchange's result: status, headers and body, or how it failed.
type Exchanged = Result<(u16, Headers, Value), (Attempt, String)>;

/// Receives one JSON record per HTTP exchange (request and response, secrets redacted).
pub type TraceSink = Arc<dyn Fn(Value) + Send + Sync>;

impl Executor {
    /// An executor for the built-in catalog with these credentials.
    pub fn new(credentials: Credentials) -> Self {
        let seed = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Executor {
            validators: Validators::builtin(),
            credentials,
            servers: HashMap::new(),
            transport: Arc::new(ReqwestTransport::new()),
            claimed: Mutex::new(Claimed::default()),
            jitter_state: Mutex::new(seed | 1),
            endpoint_cache: RwLock::new(HashMap::new()),
            trace: None,
        }
    }

    /// Sends a vendor's requests to `base_url` instead of the server in the definition (e.g. the
    /// sandbox); the path and query are kept.
    pub fn with_server(mut self, vendor: Vendor, base_url: &str) -> Self {
        self.servers
            .insert(vendor, base_url.trim_end_matches('/').to_owned());
        self
    }

    /// Sends through `transport` instead of reqwest (a proxy, or a scripted network in tests).
    pub fn with_transport(mut self, transport: Arc<dyn Transport>) -> Self {
        self.transport = transport;
        self
    }

    /// Sends a record of every exchange to `sink`: `{task, workflowId, kind, method, url,
    /// requestHeaders, requestBody, status | error, responseHeaders, responseBody}` with secret
    /// header values as `***`.
    pub fn with_trace(mut self, sink: TraceSink) -> Self {
        self.trace = Some(sink);
        self
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        ctx: &TaskContext,
        req: &PreparedRequest,
        kind: &str,
        method: &str,
        url: &str,
        body: Option<&Bytes>,
        result: &Exchanged,
    ) {
        let Some(sink) = &self.trace else { return };
        let headers: Map<String, Value> = req
            .headers
            .iter()
            .enumerate()
            .map(|(i, (k, v))| {
                (
                    k.clone(),
                    json!(if req.secret_headers.contains(&i) {
                        "***"
                    } else {
                        v.as_str()
                    }),
                )
            })
            .collect();
        let request_body = body.map(|b| {
            serde_json::from_slice::<Value>(b).unwrap_or_else(|_| json!(String::from_utf8_lossy(b)))
        });
        let mut record = json!({
            "at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "workflowId": ctx.workflow_id, "task": ctx.task_name, "kind": kind,
            "method": method, "url": url, "requestHeaders": headers, "requestBody": request_body,
        });
        match result {
            Ok((status, headers, body)) => {
                record["status"] = json!(status);
                record["responseHeaders"] = json!(headers);
                record["responseBody"] = body.clone();
            }
            Err((attempt, message)) => record["error"] = json!(format!("{attempt:?}: {message}")),
        }
        sink(record);
    }

    /// The credentials.
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    fn random(&self) -> f64 {
        let mut s = self.jitter_state.lock().expect("jitter state");
        *s ^= *s << 13;
        *s ^= *s >> 7;
        *s ^= *s << 17;
        (*s >> 11) as f64 / (1u64 << 53) as f64
    }

    /// The catalog endpoint of a resolved URL and method, memoised (up to 1,024 URLs per
    /// method; a hit allocates nothing).
    fn endpoint_for(&self, url: &str, method: &str) -> Option<&Endpoint> {
        if let Some(hit) = self
            .endpoint_cache
            .read()
            .expect("endpoint cache")
            .get(method)
            .and_then(|m| m.get(url))
        {
            return hit.map(|id| self.validators.catalog().get(id));
        }
        let found = self
            .validators
            .endpoints_for_url(url)
            .into_iter()
            .find(|e| e.method == method);
        let mut cache = self.endpoint_cache.write().expect("endpoint cache");
        let by_url = cache.entry(method.to_owned()).or_default();
        if by_url.len() >= 1024 {
            by_url.clear();
        }
        by_url.insert(url.to_owned(), found.map(|e| e.id));
        found
    }

    /// Prepares the request of an Http task for `input`, without sending anything.
    pub fn prepare(
        &self,
        task: &HttpTask,
        input: &Value,
        ctx: &TaskContext,
    ) -> Result<PreparedRequest, TaskError> {
        let resolve = |v: &Value, at: &str| {
            placeholder::resolve_value(v, input).map_err(|e| TaskError::unresolved(e, at))
        };
        let request = &task.http_request;
        let url = match if request.url.contains('$') {
            resolve(&Value::String(request.url.clone()), "url")?
        } else {
            Value::String(request.url.clone())
        } {
            Value::String(s) => s,
            other => {
                return Err(TaskError::new(
                    "INVALID_REQUEST",
                    format!("url resolved to {other}, not a string"),
                ));
            }
        };
        let method = request.method.as_str().to_owned();
        let endpoint = self.endpoint_for(&url, &method).cloned();
        let mut body = match &request.body {
            Some(b) => Some(resolve(b, "body")?),
            None => None,
        };
        let mut usage = None;
        let mut idempotency_key = None;
        if let (Some(ep), Some(b)) = (&endpoint, body.as_mut()) {
            match ep.vendor {
                Vendor::Rebilly => usage = Some(prepare_usage(task, b)?),
                Vendor::Solvimon => {
                    let key = prepare_event(ep.id, b, ctx);
                    idempotency_key = Some(key);
                }
            }
            if let Err(diagnostics) = validate_request_with(self.validators, ep.id, b) {
                let summary: Vec<String> = diagnostics
                    .iter()
                    .map(|d| {
                        format!(
                            "{}: {}",
                            if d.pointer.is_empty() {
                                "/"
                            } else {
                                &d.pointer
                            },
                            d.message
                        )
                    })
                    .collect();
                return Err(TaskError {
                    diagnostics,
                    ..TaskError::new(
                        "INVALID_REQUEST",
                        format!(
                            "{} request is invalid; nothing was sent: {}",
                            ep.id,
                            summary.join("; ")
                        ),
                    )
                });
            }
        }
        let url = match &endpoint {
            Some(ep) => match self.servers.get(&ep.vendor) {
                Some(base) => ep
                    .servers
                    .iter()
                    .find_map(|s| url.strip_prefix(s.url))
                    .map_or(url.clone(), |rest| format!("{base}{rest}")),
                None => url,
            },
            None => url,
        };
        let mut headers: Vec<(String, String)> = Vec::new();
        for (k, v) in request.headers.iter().flatten() {
            let resolved = resolve(&Value::String(v.clone()), &format!("headers/{k}"))?;
            headers.push((
                k.clone(),
                resolved
                    .as_str()
                    .map_or_else(|| resolved.to_string(), str::to_owned),
            ));
        }
        let has = |headers: &[(String, String)], name: &str| {
            headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name))
        };
        let mut secret_headers: HashSet<usize> = headers
            .iter()
            .enumerate()
            .filter(|(_, (k, _))| SECRET_HEADERS.contains(&k.to_ascii_lowercase().as_str()))
            .map(|(i, _)| i)
            .collect();
        if let Some(id) = &task.credentials {
            let credential: &Credential = self
                .credentials
                .get(id)
                .map_err(|why| TaskError::new("MISSING_CREDENTIALS", why))?;
            headers.retain(|(k, _)| !k.eq_ignore_ascii_case(&credential.header));
            secret_headers = headers
                .iter()
                .enumerate()
                .filter(|(_, (k, _))| SECRET_HEADERS.contains(&k.to_ascii_lowercase().as_str()))
                .map(|(i, _)| i)
                .collect();
            secret_headers.insert(headers.len());
            headers.push((
                credential.header.clone(),
                credential.value.expose().to_owned(),
            ));
            if let Some(platform) = &credential.platform_id
                && endpoint
                    .as_ref()
                    .is_some_and(|e| e.vendor == Vendor::Solvimon)
                && !has(&headers, "x-platform-id")
            {
                headers.push(("x-platform-id".into(), platform.clone()));
            }
        } else if let Some(ep) = &endpoint
            && !ep.auth.iter().any(|a| has(&headers, a.header))
        {
            return Err(TaskError::new(
                "MISSING_CREDENTIALS",
                format!(
                    "{} needs `credentials` or an auth header ({})",
                    ep.id,
                    ep.auth
                        .iter()
                        .map(|a| a.header)
                        .collect::<Vec<_>>()
                        .join(" or ")
                ),
            ));
        }
        if body.is_some() && !has(&headers, "content-type") {
            headers.push(("Content-Type".into(), "application/json".into()));
        }
        if let Some(key) = &idempotency_key
            && !has(&headers, "idempotency-key")
        {
            headers.push(("Idempotency-Key".into(), key.clone()));
        }
        let secs = |v: Option<u32>, d: u64| Duration::from_secs(v.map_or(d, u64::from).max(1));
        Ok(PreparedRequest {
            endpoint: endpoint.map(|e| e.id),
            method,
            url,
            secret_headers,
            headers,
            body: body.map(|b| Bytes::from(serde_json::to_vec(&b).expect("JSON values serialize"))),
            idempotency_key,
            usage,
            connect_timeout: secs(task.connection_timeout_seconds, 5),
            read_timeout: secs(task.read_timeout_seconds, 10),
            policy: RetryPolicy::from_task(task.retry.as_ref()),
        })
    }

    /// Prepares, validates and sends an Http task; see the module docs for the guarantees.
    pub async fn execute_http(
        &self,
        task: &HttpTask,
        input: &Value,
        ctx: &TaskContext,
    ) -> Result<HttpTaskOutput, TaskError> {
        let prepared = self.prepare(task, input, ctx)?;
        self.send(&prepared, ctx).await
    }

    /// Sends a prepared request with retries.
    pub async fn send(
        &self,
        req: &PreparedRequest,
        ctx: &TaskContext,
    ) -> Result<HttpTaskOutput, TaskError> {
        let solvimon = req.endpoint.is_some_and(|e| e.vendor() == Vendor::Solvimon);
        let mut attempts: Vec<AttemptRecord> = Vec::new();
        let mut need_lookup = false;
        let mut tries = 0u32;
        let mut last: Option<(u16, Value)> = None;
        loop {
            if ctx.cancel.is_cancelled() {
                return Err(with_attempts(
                    TaskError::new("CANCELLED", "the task was cancelled"),
                    attempts,
                    last,
                ));
            }
            tries += 1;
            let (outcome, not_before) = if need_lookup && let Some(usage) = &req.usage {
                match self.lookup_usage(req, usage, ctx).await {
                    Ok(Some(found)) => {
                        attempts.push(AttemptRecord {
                            kind: "lookup",
                            status: Some(200),
                            error: None,
                            delay_ms: 0,
                        });
                        tracing::info!(task = %ctx.task_name, "ambiguous Rebilly write found by lookup; not sent again");
                        return Ok(usage_output(
                            found.0,
                            found.1,
                            Headers::default(),
                            attempts,
                            usage,
                            Outcome::Recovered,
                        ));
                    }
                    Ok(None) => {
                        need_lookup = false;
                        attempts.push(AttemptRecord {
                            kind: "lookup",
                            status: Some(200),
                            error: None,
                            delay_ms: 0,
                        });
                        tries -= 1;
                        continue;
                    }
                    Err((attempt, not_before, record)) => {
                        attempts.push(record);
                        (attempt, not_before)
                    }
                }
            } else {
                tracing::debug!(task = %ctx.task_name, method = %req.method, url = %req.url, attempt = tries, "sending");
                let sent = self
                    .send_once(req, &req.method, &req.url, req.body.as_ref())
                    .await;
                self.record(
                    ctx,
                    req,
                    "send",
                    &req.method,
                    &req.url,
                    req.body.as_ref(),
                    &sent,
                );
                match sent {
                    Ok((status, headers, body)) => {
                        attempts.push(AttemptRecord {
                            kind: "send",
                            status: Some(status),
                            error: None,
                            delay_ms: 0,
                        });
                        let not_before = server_wait(headers.iter(), SystemTime::now());
                        // Keep the body only when it may be needed for a later error.
                        let kept = (!(200..300).contains(&status)).then(|| body.clone());
                        if let Some(done) =
                            self.finish(req, status, headers, body, &mut attempts, solvimon)?
                        {
                            return Ok(done);
                        }
                        last = kept.map(|b| (status, b));
                        (Attempt::Status(status), not_before)
                    }
                    Err((attempt, message)) => {
                        attempts.push(AttemptRecord {
                            kind: "send",
                            status: None,
                            error: Some(message),
                            delay_ms: 0,
                        });
                        if attempt == Attempt::Lost && req.usage.is_some() {
                            need_lookup = true;
                        }
                        (attempt, None)
                    }
                }
            };
            match decide(&req.policy, tries, &outcome, not_before, self.random()) {
                Decision::RetryAfter(delay) => {
                    if let Some(a) = attempts.last_mut() {
                        a.delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
                    }
                    tracing::debug!(task = %ctx.task_name, ?outcome, delay_ms = delay.as_millis() as u64, "retrying");
                    let deadline = tokio::time::Instant::now() + delay;
                    tokio::select! {
                        () = tokio::time::sleep_until(deadline) => {}
                        () = ctx.cancel.cancelled() => return Err(with_attempts(TaskError::new("CANCELLED", "the task was cancelled"), attempts, last)),
                    }
                }
                Decision::Stop(reason) => {
                    return Err(self.failure(req, reason, &outcome, attempts, last));
                }
            }
        }
    }

    /// One HTTP exchange: status, lower-case headers (secrets and cookies removed) and body
    /// (JSON, else text), or how it failed.
    async fn send_once(
        &self,
        req: &PreparedRequest,
        method: &str,
        url: &str,
        body: Option<&Bytes>,
    ) -> Exchanged {
        let exchange = Exchange {
            method,
            url,
            headers: &req.headers,
            body,
            connect_timeout: req.connect_timeout,
            read_timeout: req.read_timeout,
        };
        let reply = self
            .transport
            .exchange(exchange)
            .await
            .map_err(|e| match e {
                TransportError::Connect(m) => (Attempt::ConnectError, m),
                TransportError::Lost(m) => (Attempt::Lost, m),
            })?;
        let headers = Headers::shown(reply.headers);
        let body = if reply.body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&reply.body).unwrap_or_else(|_| {
                Value::String(String::from_utf8_lossy(&reply.body).into_owned())
            })
        };
        Ok((reply.status, headers, body))
    }

    /// A final answer becomes the output (`Ok(Some)`), a terminal error (`Err`), or `Ok(None)`
    /// when the retry policy decides.
    fn finish(
        &self,
        req: &PreparedRequest,
        status: u16,
        headers: Headers,
        body: Value,
        attempts: &mut Vec<AttemptRecord>,
        solvimon: bool,
    ) -> Result<Option<HttpTaskOutput>, TaskError> {
        let ok = (200..300).contains(&status);
        if solvimon && (ok || status == 409) {
            let duplicate = headers
                .get("idempotent-replayed")
                .is_some_and(|v| v == "true")
                || body["processed_details"]["type"] == "DUPLICATE"
                || (status == 409 && body["code"] == "RESOURCE_ALREADY_EXISTS");
            if status == 409 && !duplicate {
                let code = if body["code"] == "IDEMPOTENCY_CHECK_FAILED" {
                    "IDEMPOTENCY_CONFLICT"
                } else {
                    "HTTP_ERROR"
                };
                return Err(with_attempts(
                    TaskError {
                        status_code: Some(status),
                        body: Some(body.clone()),
                        ..TaskError::new(code, api_message(status, &body))
                    },
                    std::mem::take(attempts),
                    None,
                ));
            }
            let outcome = if duplicate {
                Outcome::Duplicate
            } else {
                Outcome::Created
            };
            return Ok(Some(plain_output(
                req, status, headers, body, attempts, outcome,
            )));
        }
        if let Some(usage) = &req.usage {
            if ok {
                if let Some(id) = body["id"].as_str() {
                    self.claimed.lock().expect("claimed").insert(id);
                }
                let accepted = number_decimal(&body["quantity"]).unwrap_or(usage.quantity);
                let outcome = if accepted < usage.quantity {
                    Outcome::Partial
                } else {
                    Outcome::Created
                };
                return Ok(Some(usage_output(
                    status,
                    body,
                    headers,
                    std::mem::take(attempts),
                    usage,
                    outcome,
                )));
            }
            if status == 409 {
                let report = quantity_report(usage, Decimal::ZERO);
                return Err(with_attempts(
                    TaskError {
                        status_code: Some(status),
                        body: Some(body.clone()),
                        quantity: Some(report),
                        ..TaskError::new(
                            "USAGE_LIMIT_EXCEEDED",
                            format!(
                                "subscription {}: {} requested, 0 accepted{}: {}",
                                usage.subscription,
                                usage.quantity.normalize(),
                                if usage.accept_partial {
                                    " (nothing left under the hard limit)"
                                } else {
                                    "; set onLimit: acceptPartial to record what is left"
                                },
                                api_message(status, &body)
                            ),
                        )
                    },
                    std::mem::take(attempts),
                    None,
                ));
            }
        }
        if ok {
            return Ok(Some(plain_output(
                req,
                status,
                headers,
                body,
                attempts,
                Outcome::Created,
            )));
        }
        Ok(None)
    }

    fn failure(
        &self,
        req: &PreparedRequest,
        reason: StopReason,
        outcome: &Attempt,
        attempts: Vec<AttemptRecord>,
        last: Option<(u16, Value)>,
    ) -> TaskError {
        let err = match (reason, outcome) {
            (StopReason::ServerWaitTooLong, _) => TaskError::new(
                "RATE_LIMITED",
                format!(
                    "the server asked to wait longer than maxDelaySeconds ({} s); not retried early",
                    req.policy.max_delay.as_secs()
                ),
            ),
            (StopReason::Exhausted, _) => TaskError::new(
                "RETRIES_EXHAUSTED",
                format!("gave up after {} attempts", attempts.len()),
            ),
            (StopReason::NotRetryable, Attempt::Status(s)) => {
                let body = last.as_ref().map(|l| l.1.clone()).unwrap_or(Value::Null);
                TaskError::new("HTTP_ERROR", api_message(*s, &body))
            }
            (StopReason::NotRetryable, _) => TaskError::new("HTTP_ERROR", "request failed"),
        };
        with_attempts(err, attempts, last)
    }

    /// Looks up a Rebilly usage by subscription and usageTime. `Ok(Some((status, usage)))` when
    /// one with our quantity exists and is not attributed to another call of this executor.
    async fn lookup_usage(
        &self,
        req: &PreparedRequest,
        usage: &UsageIdentity,
        ctx: &TaskContext,
    ) -> Result<Option<(u16, Value)>, (Attempt, Option<Duration>, AttemptRecord)> {
        let filter = format!(
            "subscriptionId:{};usageTime:{}",
            usage.subscription, usage.usage_time
        );
        let url = format!("{}?filter={}&limit=1000", req.url, query_escape(&filter));
        let failed = |attempt: Attempt, status: Option<u16>, error: Option<String>, not_before| {
            (
                attempt,
                not_before,
                AttemptRecord {
                    kind: "lookup",
                    status,
                    error,
                    delay_ms: 0,
                },
            )
        };
        let looked = self.send_once(req, "GET", &url, None).await;
        self.record(ctx, req, "lookup", "GET", &url, None, &looked);
        let (status, headers, list) = looked.map_err(|(a, m)| failed(a, None, Some(m), None))?;
        if status != 200 {
            let not_before = server_wait(headers.iter(), SystemTime::now());
            // A lookup that cannot succeed later (4xx) must not lead to a blind resend: it counts
            // as a lost answer, so the policy retries the lookup or gives up.
            let attempt = if super::retry::retryable_status(status) {
                Attempt::Status(status)
            } else {
                Attempt::Lost
            };
            return Err(failed(attempt, Some(status), None, not_before));
        }
        let mut claimed = self.claimed.lock().expect("claimed");
        let found = list.as_array().into_iter().flatten().find(|u| {
            let id = u["id"].as_str().unwrap_or_default();
            let q = number_decimal(&u["quantity"]).unwrap_or_default();
            let fits = q == usage.quantity
                || (usage.accept_partial && q > Decimal::ZERO && q < usage.quantity);
            fits && !claimed.contains(id)
        });
        Ok(found.map(|u| {
            claimed.insert(u["id"].as_str().unwrap_or_default());
            (201, u.clone())
        }))
    }
}

/// Percent-encodes a query value (everything but unreserved characters and `:`).
fn query_escape(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b':' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The output of an answer without quantities (Solvimon, and URLs outside the catalog).
fn plain_output(
    req: &PreparedRequest,
    status: u16,
    headers: Headers,
    body: Value,
    attempts: &mut Vec<AttemptRecord>,
    outcome: Outcome,
) -> HttpTaskOutput {
    HttpTaskOutput {
        status_code: status,
        headers,
        body,
        attempts: std::mem::take(attempts),
        idempotency_key: req.idempotency_key.clone(),
        outcome,
        quantity: None,
    }
}

fn api_message(status: u16, body: &Value) -> String {
    let text = body["message"]
        .as_str()
        .or_else(|| body["detail"].as_str())
        .or_else(|| body["title"].as_str())
        .unwrap_or_default();
    let code = body["code"]
        .as_str()
        .map(|c| format!(" {c}"))
        .unwrap_or_default();
    format!(
        "HTTP {status}{code}{}",
        if text.is_empty() {
            String::new()
        } else {
            format!(": {text}")
        }
    )
}

fn with_attempts(
    mut err: TaskError,
    attempts: Vec<AttemptRecord>,
    last: Option<(u16, Value)>,
) -> TaskError {
    err.attempts = attempts;
    if let Some((status, body)) = last {
        err.status_code = err.status_code.or(Some(status));
        err.body = err.body.or(Some(body));
    }
    err
}

fn quantity_report(usage: &UsageIdentity, accepted: Decimal) -> QuantityReport {
    let text = |d: Decimal| d.normalize().to_string();
    QuantityReport {
        requested: text(usage.quantity),
        accepted: text(accepted),
        remainder: text(usage.quantity - accepted),
        rounded_away: usage.rounded_away.map(text),
    }
}

fn usage_output(
    status: u16,
    body: Value,
    headers: Headers,
    attempts: Vec<AttemptRecord>,
    usage: &UsageIdentity,
    outcome: Outcome,
) -> HttpTaskOutput {
    let accepted = number_decimal(&body["quantity"]).unwrap_or(usage.quantity);
    let outcome = if outcome == Outcome::Created && accepted < usage.quantity {
        Outcome::Partial
    } else {
        outcome
    };
    HttpTaskOutput {
        status_code: status,
        headers,
        body,
        attempts,
        idempotency_key: None,
        outcome,
        quantity: Some(quantity_report(usage, accepted)),
    }
}

/// Rebilly: rounding policy, `onLimit`, `usageTime` always set to whole seconds.
fn prepare_usage(task: &HttpTask, body: &mut Value) -> Result<UsageIdentity, TaskError> {
    let Some(obj) = body.as_object_mut() else {
        return Err(TaskError::new(
            "INVALID_REQUEST",
            "the usage body is not a JSON object; nothing was sent",
        ));
    };
    let mut rounded_away = None;
    if let Some(original) = obj.get("quantity").and_then(number_decimal)
        && original.normalize().scale() > 3
        && task.rounding == Some(Rounding::HalfEven)
    {
        let rounded = original.round_dp_with_strategy(3, RoundingStrategy::MidpointNearestEven);
        rounded_away = Some(original - rounded);
        obj.insert("quantity".into(), decimal_number(rounded));
    }
    match task.on_limit {
        Some(OnLimit::AcceptPartial) => {
            obj.insert("acceptPartialQuantity".into(), json!(true));
        }
        Some(OnLimit::Reject) => {
            obj.insert("acceptPartialQuantity".into(), json!(false));
        }
        None => {}
    }
    let usage_time = match obj.get("usageTime").and_then(Value::as_str) {
        Some(t) if !t.is_empty() => whole_seconds(t).unwrap_or_else(|| t.to_owned()),
        _ => now_seconds(),
    };
    obj.insert("usageTime".into(), json!(usage_time));
    Ok(UsageIdentity {
        subscription: obj
            .get("subscriptionId")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        usage_time,
        quantity: obj
            .get("quantity")
            .and_then(number_decimal)
            .unwrap_or_default(),
        rounded_away,
        accept_partial: obj
            .get("acceptPartialQuantity")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    })
}

/// Solvimon: whole-second timestamps, a stable `reference` when absent; returns the
/// `Idempotency-Key` (derived from workflow id, task name, endpoint and body).
fn prepare_event(endpoint: EndpointId, body: &mut Value, ctx: &TaskContext) -> String {
    if let Some(obj) = body.as_object_mut() {
        let fix = |map: &mut Map<String, Value>, key: &str| {
            if let Some(Value::String(t)) = map.get(key)
                && let Some(w) = whole_seconds(t)
            {
                map.insert(key.into(), json!(w));
            }
        };
        fix(obj, "timestamp");
        if let Some(Value::Object(period)) = obj.get_mut("period") {
            fix(period, "start_at");
            fix(period, "end_at");
        }
    }
    let canonical = body.to_string();
    let hash = stable_hash(&[
        &ctx.workflow_id,
        &ctx.task_name,
        endpoint.as_str(),
        &canonical,
    ]);
    if let Some(obj) = body.as_object_mut()
        && obj.get("reference").is_none_or(Value::is_null)
    {
        obj.insert("reference".into(), json!(format!("uc-{hash}")));
    }
    format!("uc-{hash}")
}

impl FromStr for Outcome {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "created" => Ok(Outcome::Created),
            "duplicate" => Ok(Outcome::Duplicate),
            "recovered" => Ok(Outcome::Recovered),
            "partial" => Ok(Outcome::Partial),
            _ => Err(format!("unknown outcome {s}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_lose_only_their_fraction() {
        assert_eq!(
            whole_seconds("2024-07-01T10:50:00.157Z").unwrap(),
            "2024-07-01T10:50:00Z"
        );
        assert_eq!(
            whole_seconds("2024-07-01T10:50:59.999+02:00").unwrap(),
            "2024-07-01T10:50:59+02:00"
        );
        assert_eq!(
            whole_seconds("2024-07-01T10:50:00Z").unwrap(),
            "2024-07-01T10:50:00Z"
        );
        assert_eq!(whole_seconds("yesterday"), None);
    }

    #[test]
    fn derived_keys_are_stable_and_distinct() {
        let a = stable_hash(&["wf", "task", "{\"q\":1}"]);
        assert_eq!(a, stable_hash(&["wf", "task", "{\"q\":1}"]));
        assert_ne!(a, stable_hash(&["wf", "task", "{\"q\":2}"]));
        assert_ne!(stable_hash(&["ab", "c"]), stable_hash(&["a", "bc"]));
        assert_eq!(a.len(), 32);
    }

    #[test]
    fn decimals_become_exact_json_numbers() {
        for (d, text) in [
            ("5.125", "5.125"),
            ("12.50", "12.5"),
            ("3", "3"),
            ("0.001", "0.001"),
            ("1070468.14", "1070468.14"),
        ] {
            let v = decimal_number(Decimal::from_str(d).unwrap());
            assert_eq!(v.to_string(), text);
            assert_eq!(
                number_decimal(&v).unwrap(),
                Decimal::from_str(d).unwrap().normalize()
            );
        }
    }
}
