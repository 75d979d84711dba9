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
use serde_json::{Map, Value, json};

use super::body::{Facts, ResponseBody};
use super::credentials::{Credential, Credentials, SECRET_HEADERS};
use super::decimal::{decimal_number, number_decimal};
use super::retry::{Attempt, Decision, RetryPolicy, StopReason, decide, server_wait};
use super::transport::{Bytes, Exchange, HeaderMap, ReqwestTransport, Transport, TransportError};
use super::{TaskContext, TaskError};
use crate::catalog::{Endpoint, EndpointId, Vendor};
use crate::simworkflow::{HttpTask, OnLimit, Rounding};
use crate::validate::placeholder;
use crate::validate::validate_request_with;
use crate::validators::Validators;
use reqwest::Url;
use reqwest::header::{CONTENT_TYPE, HeaderName, HeaderValue};

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
    /// Response body as received: serializes as its JSON (a string if not JSON, `null` if
    /// empty); [`ResponseBody::json`] parses it.
    pub body: ResponseBody,
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

/// A request ready to send: the exact bytes, with secret header values marked sensitive.
#[derive(Debug, Clone)]
pub struct PreparedRequest {
    /// Catalog endpoint, if the URL matched one.
    pub endpoint: Option<EndpointId>,
    /// Method.
    pub method: &'static str,
    /// Final URL (server overrides applied).
    pub url: Url,
    /// Headers as sent (lower-case names). Secret values (the credential, and any header named
    /// in [`SECRET_HEADERS`]) are marked [sensitive](reqwest::header::HeaderValue::is_sensitive)
    /// and shown as `***` everywhere but on the wire.
    pub headers: HeaderMap,
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
    /// (name, value) of each header, sensitive values as `***`.
    pub fn redacted_headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers.iter().map(|(k, v)| {
            let shown = if v.is_sensitive() {
                "***"
            } else {
                v.to_str().unwrap_or("<not text>")
            };
            (k.as_str(), shown)
        })
    }

    /// The exact request as text, secret header values shown as `***` — what `--dry-run` prints.
    pub fn render_redacted(&self) -> String {
        let mut out = format!("{} {}\n", self.method, self.url);
        for (k, v) in self.redacted_headers() {
            out.push_str(&format!("{k}: {v}\n"));
        }
        if let Some(body) = &self.body {
            out.push('\n');
            out.push_str(&String::from_utf8_lossy(body));
            out.push('\n');
        }
        out
    }
}

/// A stable 128-bit FNV-1a digest of `parts` (each ends with a 0 byte, so `["ab", "c"]` and
/// `["a", "bc"]` differ).
fn digest(parts: &[&str]) -> u128 {
    let mut a: u64 = 0xcbf2_9ce4_8422_2325;
    let mut b: u64 = 0x8422_2325_cbf2_9ce4;
    for part in parts {
        for byte in part.bytes().chain([0u8]) {
            a = (a ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01B3);
            b = (b ^ u64::from(byte.rotate_left(3))).wrapping_mul(0x0000_0100_0000_01B3);
        }
    }
    (u128::from(a) << 64) | u128::from(b)
}

/// [`digest`] as 32 hex digits (derived references and idempotency keys).
fn stable_hash(parts: &[&str]) -> String {
    format!("{:032x}", digest(parts))
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
    /// Each usable credential's header, parsed once (cloning one shares its bytes).
    auth_headers: HashMap<String, Result<(HeaderName, HeaderValue), ()>>,
    servers: HashMap<Vendor, String>,
    transport: Arc<dyn Transport>,
    /// Rebilly usage ids already attributed to a call of this executor (lookups skip them).
    claimed: Mutex<Claimed>,
    jitter_state: Mutex<u64>,
    routes: RwLock<HashMap<&'static str, HashMap<String, Route>>>,
    trace: Option<TraceSink>,
}

/// A memoised [`Executor::route`].
struct Route {
    endpoint: Option<EndpointId>,
    target: Result<Url, String>,
}

/// Rebilly usage ids already attributed to a call of this executor, so a lookup never takes
/// another call's usage for its own. Bounded: the oldest ids are forgotten past 100,000 (a
/// lookup follows its own send within seconds). Ids are kept as 128-bit FNV-1a digests (a
/// false match is as likely as guessing a 128-bit key), so recording one allocates nothing.
#[derive(Default)]
struct Claimed {
    ids: HashSet<u128, std::hash::BuildHasherDefault<DigestHasher>>,
    order: std::collections::VecDeque<u128>,
}

/// Hashes a 128-bit digest by taking 64 of its bits (it is already uniformly spread).
#[derive(Default)]
struct DigestHasher(u64);

impl std::hash::Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes.iter().take(8) {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }

    fn write_u128(&mut self, n: u128) {
        self.0 = n as u64;
    }
}

impl Claimed {
    const CAP: usize = 100_000;

    fn insert(&mut self, id: &str) {
        let digest = digest(&[id]);
        if self.ids.insert(digest) {
            self.order.push_back(digest);
            if self.order.len() > Self::CAP
                && let Some(old) = self.order.pop_front()
            {
                self.ids.remove(&old);
            }
        }
    }

    fn contains(&self, id: &str) -> bool {
        self.ids.contains(&digest(&[id]))
    }
}

/// Response headers as the task output shows them: secret and cookie headers removed;
/// serialized as `{name: value}` (lower-case names).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Headers(HeaderMap);

impl Headers {
    /// Wraps `map` without the headers that must never be shown.
    fn shown(mut map: HeaderMap) -> Self {
        let hidden = |name: &str| name == "set-cookie" || SECRET_HEADERS.contains(&name);
        let found: Vec<HeaderName> = map.keys().filter(|k| hidden(k.as_str())).cloned().collect();
        for name in found {
            map.remove(name);
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
type Exchanged = Result<(u16, Headers, ResponseBody), (Attempt, String)>;

/// Receives one JSON record per HTTP exchange (request and response, secrets redacted).
pub type TraceSink = Arc<dyn Fn(Value) + Send + Sync>;

impl Executor {
    /// An executor for the built-in catalog with these credentials.
    pub fn new(credentials: Credentials) -> Self {
        let seed = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let auth_headers = credentials
            .usable()
            .map(|(id, c)| {
                let name = HeaderName::from_bytes(c.header.as_bytes()).map_err(drop);
                let value = HeaderValue::from_str(c.value.expose()).map_err(drop);
                let parsed = name.and_then(|n| {
                    let mut v = value?;
                    v.set_sensitive(true);
                    Ok((n, v))
                });
                (id.to_owned(), parsed)
            })
            .collect();
        Executor {
            validators: Validators::builtin(),
            credentials,
            auth_headers,
            servers: HashMap::new(),
            transport: Arc::new(ReqwestTransport::new()),
            claimed: Mutex::new(Claimed::default()),
            jitter_state: Mutex::new(seed | 1),
            routes: RwLock::new(HashMap::new()),
            trace: None,
        }
    }

    /// Sends a vendor's requests to `base_url` instead of the server in the definition (e.g. the
    /// sandbox); the path and query are kept.
    pub fn with_server(mut self, vendor: Vendor, base_url: &str) -> Self {
        self.servers
            .insert(vendor, base_url.trim_end_matches('/').to_owned());
        self.routes.get_mut().expect("route cache").clear();
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
        url: &Url,
        body: Option<&Bytes>,
        result: &Exchanged,
    ) {
        let Some(sink) = &self.trace else { return };
        let headers: Map<String, Value> = req
            .redacted_headers()
            .map(|(k, v)| (k.to_owned(), json!(v)))
            .collect();
        let request_body = body.map(|b| {
            serde_json::from_slice::<Value>(b).unwrap_or_else(|_| json!(String::from_utf8_lossy(b)))
        });
        let mut record = json!({
            "at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "workflowId": ctx.workflow_id, "task": ctx.task_name, "kind": kind,
            "method": method, "url": url.as_str(), "requestHeaders": headers, "requestBody": request_body,
        });
        match result {
            Ok((status, headers, body)) => {
                record["status"] = json!(status);
                record["responseHeaders"] = json!(headers);
                record["responseBody"] = body.json();
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

    /// Where a resolved URL goes: its catalog endpoint (by URL and method) and the URL to send
    /// to (server override applied, parsed), memoised up to 1,024 URLs per method. A hit
    /// allocates only the returned URL.
    fn route(&self, url: &str, method: &'static str) -> (Option<&Endpoint>, Result<Url, String>) {
        let resolve = |route: &Route| {
            let endpoint = route.endpoint.map(|id| self.validators.catalog().get(id));
            (endpoint, route.target.clone())
        };
        if let Some(hit) = self
            .routes
            .read()
            .expect("route cache")
            .get(method)
            .and_then(|m| m.get(url))
        {
            return resolve(hit);
        }
        let endpoint = self
            .validators
            .endpoints_for_url(url)
            .into_iter()
            .find(|e| e.method == method);
        let rewritten = endpoint.and_then(|ep| {
            let base = self.servers.get(&ep.vendor)?;
            let rest = ep.servers.iter().find_map(|s| url.strip_prefix(s.url))?;
            Some(format!("{base}{rest}"))
        });
        let target = rewritten.as_deref().unwrap_or(url);
        let route = Route {
            endpoint: endpoint.map(|e| e.id),
            target: Url::parse(target)
                .map_err(|e| format!("url `{target}` is not a valid URL ({e}); nothing was sent")),
        };
        let found = resolve(&route);
        let mut cache = self.routes.write().expect("route cache");
        let by_url = cache.entry(method).or_default();
        if by_url.len() >= 1024 {
            by_url.clear();
        }
        by_url.insert(url.to_owned(), route);
        found
    }

    /// Prepares the request of an Http task for `input`, without sending anything.
    pub fn prepare(
        &self,
        task: &HttpTask,
        input: &Value,
        ctx: &TaskContext,
    ) -> Result<PreparedRequest, TaskError> {
        let request = &task.http_request;
        let url = resolve_text(&request.url, input, "url")?;
        let method = request.method.as_str();
        let (endpoint, target) = self.route(&url, method);
        let mut body = match &request.body {
            Some(b) => Some(
                placeholder::resolve_value(b, input)
                    .map_err(|e| TaskError::unresolved(e, "body"))?,
            ),
            None => None,
        };
        let mut usage = None;
        let mut idempotency_key = None;
        if let (Some(ep), Some(b)) = (endpoint, body.as_mut()) {
            match ep.vendor {
                Vendor::Rebilly => usage = Some(prepare_usage(task, b)?),
                Vendor::Solvimon => idempotency_key = Some(prepare_event(ep.id, b, ctx)),
            }
            if let Err(diagnostics) = validate_request_with(self.validators, ep.id, b) {
                return Err(invalid_request(ep.id, diagnostics));
            }
        }
        let url = target.map_err(|why| TaskError::new("INVALID_REQUEST", why))?;
        let mut headers = HeaderMap::with_capacity(4);
        for (k, v) in request.headers.iter().flatten() {
            let at = || format!("headers/{k}");
            let name = HeaderName::from_bytes(k.as_bytes()).map_err(|_| {
                TaskError::new(
                    "INVALID_REQUEST",
                    format!("{}: `{k}` is not a valid HTTP header name", at()),
                )
            })?;
            let text = resolve_text(v, input, &at())?;
            let mut value = HeaderValue::from_str(&text).map_err(|_| {
                TaskError::new(
                    "INVALID_REQUEST",
                    format!(
                        "{}: the value is not a valid HTTP header value (control characters?)",
                        at()
                    ),
                )
            })?;
            value.set_sensitive(SECRET_HEADERS.contains(&name.as_str()));
            headers.append(name, value);
        }
        if let Some(id) = &task.credentials {
            let credential: &Credential = self
                .credentials
                .get(id)
                .map_err(|why| TaskError::new("MISSING_CREDENTIALS", why))?;
            let (name, value) = self
                .auth_headers
                .get(id)
                .and_then(|h| h.as_ref().ok())
                .ok_or_else(|| {
                    TaskError::new(
                        "INVALID_CREDENTIALS",
                        format!(
                            "credentials `{id}`: header `{}` or its secret is not valid in an HTTP header",
                            credential.header
                        ),
                    )
                })?;
            headers.insert(name.clone(), value.clone());
            if let Some(platform) = &credential.platform_id
                && endpoint.is_some_and(|e| e.vendor == Vendor::Solvimon)
                && !headers.contains_key("x-platform-id")
            {
                let value = HeaderValue::from_str(platform).map_err(|_| {
                    TaskError::new(
                        "INVALID_CREDENTIALS",
                        format!("credentials `{id}`: platformId is not valid in an HTTP header"),
                    )
                })?;
                headers.insert("x-platform-id", value);
            }
        } else if let Some(ep) = endpoint
            && !ep.auth.iter().any(|a| headers.contains_key(a.header))
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
        if body.is_some() && !headers.contains_key(CONTENT_TYPE) {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        if let Some(key) = &idempotency_key
            && !headers.contains_key("idempotency-key")
        {
            // A derived key is `uc-` and hex digits: always a valid header value.
            if let Ok(value) = HeaderValue::from_str(key) {
                headers.insert("idempotency-key", value);
            }
        }
        let secs = |v: Option<u32>, d: u64| Duration::from_secs(v.map_or(d, u64::from).max(1));
        Ok(PreparedRequest {
            endpoint: endpoint.map(|e| e.id),
            method,
            url,
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
                        let accepted =
                            number_decimal(&found.1["quantity"]).unwrap_or(usage.quantity);
                        return Ok(usage_output(
                            found.0,
                            ResponseBody::from_value(&found.1),
                            Headers::default(),
                            attempts,
                            usage,
                            accepted,
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
                    .send_once(req, req.method, &req.url, req.body.as_ref())
                    .await;
                self.record(
                    ctx,
                    req,
                    "send",
                    req.method,
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
                        // An error answer is read in full, once: its message goes into the
                        // error, now or after the last retry.
                        let error = (!(200..300).contains(&status)).then(|| body.json());
                        if let Some(done) = self.finish(
                            req,
                            status,
                            headers,
                            body,
                            error.as_ref(),
                            &mut attempts,
                            solvimon,
                        )? {
                            return Ok(done);
                        }
                        last = error.map(|v| (status, v));
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

    /// One HTTP exchange: status, lower-case headers (secrets and cookies removed) and body,
    /// or how it failed.
    async fn send_once(
        &self,
        req: &PreparedRequest,
        method: &str,
        url: &Url,
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
        Ok((reply.status, headers, ResponseBody::new(reply.body)))
    }

    /// A final answer becomes the output (`Ok(Some)`), a terminal error (`Err`), or `Ok(None)`
    /// when the retry policy decides. `error` is the parsed body of a non-2xx answer.
    #[allow(clippy::too_many_arguments)]
    fn finish(
        &self,
        req: &PreparedRequest,
        status: u16,
        headers: Headers,
        body: ResponseBody,
        error: Option<&Value>,
        attempts: &mut Vec<AttemptRecord>,
        solvimon: bool,
    ) -> Result<Option<HttpTaskOutput>, TaskError> {
        let replayed = headers
            .get("idempotent-replayed")
            .is_some_and(|v| v == "true");
        if (200..300).contains(&status) {
            let facts = body.facts();
            if solvimon {
                let duplicate = replayed || facts.processed_type.as_deref() == Some("DUPLICATE");
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
                if let Some(id) = &facts.id {
                    self.claimed.lock().expect("claimed").insert(id);
                }
                let accepted = facts.quantity.unwrap_or(usage.quantity);
                return Ok(Some(usage_output(
                    status,
                    body,
                    headers,
                    std::mem::take(attempts),
                    usage,
                    accepted,
                    Outcome::Created,
                )));
            }
            return Ok(Some(plain_output(
                req,
                status,
                headers,
                body,
                attempts,
                Outcome::Created,
            )));
        }
        let null = Value::Null;
        let value = error.unwrap_or(&null);
        if solvimon && status == 409 {
            let duplicate = replayed
                || Facts::of(value).processed_type.as_deref() == Some("DUPLICATE")
                || value["code"] == "RESOURCE_ALREADY_EXISTS";
            if duplicate {
                return Ok(Some(plain_output(
                    req,
                    status,
                    headers,
                    body,
                    attempts,
                    Outcome::Duplicate,
                )));
            }
            let code = if value["code"] == "IDEMPOTENCY_CHECK_FAILED" {
                "IDEMPOTENCY_CONFLICT"
            } else {
                "HTTP_ERROR"
            };
            let message = api_message(status, value);
            return Err(with_attempts(
                TaskError {
                    status_code: Some(status),
                    body: Some(value.clone()),
                    ..TaskError::new(code, message)
                },
                std::mem::take(attempts),
                None,
            ));
        }
        if let Some(usage) = &req.usage
            && status == 409
        {
            let report = quantity_report(usage, Decimal::ZERO);
            let message = format!(
                "subscription {}: {} requested, 0 accepted{}: {}",
                usage.subscription,
                usage.quantity.normalize(),
                if usage.accept_partial {
                    " (nothing left under the hard limit)"
                } else {
                    "; set onLimit: acceptPartial to record what is left"
                },
                api_message(status, value)
            );
            return Err(with_attempts(
                TaskError {
                    status_code: Some(status),
                    body: Some(value.clone()),
                    quantity: Some(report),
                    ..TaskError::new("USAGE_LIMIT_EXCEEDED", message)
                },
                std::mem::take(attempts),
                None,
            ));
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
        let mut url = req.url.clone();
        url.set_query(Some(&format!(
            "filter={}&limit=1000",
            query_escape(&filter)
        )));
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
        let list = list.json();
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

/// A text field of the definition with its placeholders resolved (a string result, or the
/// JSON text of another value); text without `$` (and not JSONata) is borrowed as it is.
fn resolve_text<'a>(
    text: &'a str,
    input: &Value,
    at: &str,
) -> Result<std::borrow::Cow<'a, str>, TaskError> {
    if !text.contains('$') && !text.starts_with("jsonata:") {
        return Ok(std::borrow::Cow::Borrowed(text));
    }
    match placeholder::resolve_value(&Value::String(text.to_owned()), input)
        .map_err(|e| TaskError::unresolved(e, at))?
    {
        Value::String(s) => Ok(std::borrow::Cow::Owned(s)),
        other => Ok(std::borrow::Cow::Owned(other.to_string())),
    }
}

/// The `INVALID_REQUEST` error of a request that failed validation (nothing was sent).
fn invalid_request(
    endpoint: EndpointId,
    diagnostics: Vec<crate::validate::Diagnostic>,
) -> TaskError {
    let summary: Vec<String> = diagnostics
        .iter()
        .map(|d| {
            let at = if d.pointer.is_empty() {
                "/"
            } else {
                &d.pointer
            };
            format!("{at}: {}", d.message)
        })
        .collect();
    TaskError {
        diagnostics,
        ..TaskError::new(
            "INVALID_REQUEST",
            format!(
                "{endpoint} request is invalid; nothing was sent: {}",
                summary.join("; ")
            ),
        )
    }
}

/// The output of an answer without quantities (Solvimon, and URLs outside the catalog).
fn plain_output(
    req: &PreparedRequest,
    status: u16,
    headers: Headers,
    body: ResponseBody,
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

/// The output of a recorded usage: `accepted` is the quantity the API recorded; a `created`
/// usage with less than requested is `partial`.
fn usage_output(
    status: u16,
    body: ResponseBody,
    headers: Headers,
    attempts: Vec<AttemptRecord>,
    usage: &UsageIdentity,
    accepted: Decimal,
    outcome: Outcome,
) -> HttpTaskOutput {
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
    match obj.get_mut("usageTime") {
        Some(Value::String(t)) if *t == usage_time => {}
        Some(slot) => *slot = json!(usage_time),
        None => {
            obj.insert("usageTime".into(), json!(usage_time));
        }
    }
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
}
