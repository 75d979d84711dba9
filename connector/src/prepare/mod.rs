//! The one prepare path: an Http task and its input become the exact request to send.
//!
//! Policy: [`prepare`] is a pure function (no I/O, no clock but [`Execution::now`], no
//! randomness) shared by `validate --input`, `call` (and its dry run), `run` and every engine:
//! it resolves placeholders ([`crate::template`]: the task input, the context object `$$` and
//! the system keys of [`Execution`]), routes the URL ([`Router`]), applies the
//! vendor's rules ([`crate::vendor_rules`]: rounding, `onLimit`, `usageTime`, reference,
//! `Idempotency-Key`, whole-second timestamps), validates the request against the endpoint's
//! schema (nothing invalid leaves) and builds the headers. [`Authenticator::apply`] then adds
//! the credentials. Given the same task, input and execution it returns the same request, so
//! a replay re-sends the same identity.

mod auth;
mod headers;
mod route;

use std::borrow::Cow;
use std::time::Duration;

use bytes::Bytes;
use reqwest::Url;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

pub use auth::Authenticator;
pub(crate) use headers::framing;
pub use route::{Router, ValidatorSet};

use crate::catalog::EndpointId;
use crate::credentials::SECRET_HEADERS;
use crate::data::Frame;
use crate::diagnostic::locate::escape_token;
pub use crate::identity::Execution;
use crate::identity::{Began, Identity};
use crate::output::{ErrorCode, TaskError};
use crate::retry::RetryPolicy;
use crate::simworkflow::HttpTask;
use crate::template::{self, Scope};
use crate::vendor_rules;

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
    /// in [`SECRET_HEADERS`]) are marked [sensitive](HeaderValue::is_sensitive) and shown as
    /// `***` everywhere but on the wire.
    pub headers: HeaderMap,
    /// Body bytes.
    pub body: Option<Bytes>,
    /// What makes every attempt and re-run the same call.
    pub identity: Identity,
    /// Connect timeout (`connectionTimeoutSeconds`, default 5 s).
    pub connect_timeout: Duration,
    /// Read timeout (`readTimeoutSeconds`, default 10 s).
    pub read_timeout: Duration,
    /// The task's retry policy.
    pub policy: RetryPolicy,
    /// How many leading characters of `url`'s path a server override added (left out of
    /// [`PreparedRequest::digest`]).
    pub override_path_len: usize,
}

impl PreparedRequest {
    /// The body as JSON (`None` without a body).
    pub fn body_json(&self) -> Option<Value> {
        self.body
            .as_ref()
            .and_then(|b| serde_json::from_slice(b).ok())
    }

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

    /// What identifies the request for a resume: a digest of its method, path, query and body
    /// (not the server, which a resume may reach at another address or through a proxy's path,
    /// nor the headers, which carry secrets and the key derived from the body).
    pub fn digest(&self) -> String {
        let body = self.body.as_deref().unwrap_or_default();
        let path = self.url.path();
        crate::identity::hex_digest(
            "req-",
            &[
                self.method,
                path.get(self.override_path_len..).unwrap_or(path),
                self.url.query().unwrap_or_default(),
                &String::from_utf8_lossy(body),
            ],
        )
    }

    /// What identifies this request to its API, as a journal keeps it before it leaves: the
    /// idempotency header it sends, and a usage's derived key and time. Each changes with the
    /// body, unless the task set its own idempotency key (then the API matches by that key).
    pub fn began(&self) -> Began {
        let header = vendor_rules::rules_for(self.endpoint)
            .idempotency_header()
            .and_then(|name| self.headers.get(name))
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let (key, time) = self
            .identity
            .usage
            .as_ref()
            .map_or(("", ""), |u| (u.key.as_str(), u.usage_time.as_str()));
        Began::of(&[header, key, time])
    }

    /// The exact request as text, secret header values shown as `***` — what `--dry-run` prints.
    pub fn render_redacted(&self) -> String {
        let url = crate::credentials::redact_user_info(self.url.as_str());
        let mut out = format!("{} {url}\n", self.method);
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

/// A text field of the definition with its placeholders resolved (a string result, or the
/// JSON text of another value); text without `$` (and not JSONata) is borrowed as it is.
fn resolve_text<'a>(text: &'a str, scope: &Scope<'_>, at: &str) -> Result<Cow<'a, str>, TaskError> {
    if !text.contains('$') && !text.starts_with("jsonata:") {
        return Ok(Cow::Borrowed(text));
    }
    match template::resolve_value_in(&Value::String(text.to_owned()), scope)
        .map_err(|e| TaskError::unresolved(e, at))?
    {
        Value::String(s) => Ok(Cow::Owned(s)),
        other => Ok(Cow::Owned(other.to_string())),
    }
}

fn invalid(message: String) -> TaskError {
    TaskError::new(ErrorCode::InvalidRequest, message)
}

/// The request `task` sends for `input` in `exec`, without credentials; see the module docs.
pub fn prepare(
    router: &Router<'_>,
    task: &HttpTask,
    input: &Value,
    exec: &Execution<'_>,
) -> Result<PreparedRequest, TaskError> {
    let request = &task.http_request;
    let frames = Frame {
        workflow_id: exec.workflow_id,
        definition: exec.definition,
        task: exec.task_name,
        sequence: exec.sequence,
    }
    .build();
    let scope = frames.scope(input, exec.execution_input);
    let url = resolve_text(&request.url, &scope, "/httpRequest/url")?;
    let method = request.method.as_str();
    let (endpoint, target) = router.route(&url, method);
    if let (Cow::Owned(resolved), Ok(_)) = (&url, &target)
        && let Some(why) = router.misfilled(&request.url, resolved, method, endpoint)
    {
        return Err(invalid(format!("{why}; nothing was sent")).at("/httpRequest/url"));
    }
    let mut body = match &request.body {
        Some(b) => Some(
            template::resolve_value_in(b, &scope)
                .map_err(|e| TaskError::unresolved(e, "/httpRequest/body"))?,
        ),
        None => None,
    };
    let rules = vendor_rules::rules_for(endpoint.map(|e| e.id));
    let mut identity = Identity::default();
    if let (Some(ep), Some(b)) = (endpoint, body.as_mut()) {
        identity = rules.prepare(ep, task, b, exec, router.identity())?;
        if let Err(diagnostics) = router.validators().check_request(ep.id, b) {
            return Err(
                TaskError::invalid_request(ep.id.as_str(), diagnostics).at("/httpRequest/body")
            );
        }
    }
    let url = target.map_err(|why| invalid(why).at("/httpRequest/url"))?;
    let mut headers = HeaderMap::with_capacity(4);
    for (k, v) in request.headers.iter().flatten() {
        let at = || format!("/httpRequest/headers/{}", escape_token(k));
        let name = HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| invalid(format!("`{k}` is not a valid HTTP header name")).at(at()))?;
        if let Some(why) = framing(k) {
            return Err(invalid(why).at(at()));
        }
        let text = resolve_text(v, &scope, &at())?;
        if let Some(why) = headers::refused(k, name.as_str(), &text, endpoint, rules) {
            return Err(invalid(why).at(at()));
        }
        let mut value = HeaderValue::from_str(&text).map_err(|_| {
            invalid(format!(
                "header `{k}`: the value is not a valid HTTP header value (control characters?)"
            ))
            .at(at())
        })?;
        value.set_sensitive(SECRET_HEADERS.contains(&name.as_str()));
        headers.append(name, value);
    }
    if body.is_some() && !headers.contains_key(CONTENT_TYPE) {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    if let (Some(key), Some(name)) = (&identity.idempotency_key, rules.idempotency_header())
        && !headers.contains_key(name)
        && let Ok(value) = HeaderValue::from_str(key)
    {
        headers.insert(name, value);
    }
    let secs = |v: Option<u32>, d: u64| Duration::from_secs(v.map_or(d, u64::from).max(1));
    Ok(PreparedRequest {
        endpoint: endpoint.map(|e| e.id),
        method,
        url,
        headers,
        body: body.map(|b| Bytes::from(serde_json::to_vec(&b).expect("JSON values serialize"))),
        identity,
        connect_timeout: secs(task.connection_timeout_seconds, 5),
        read_timeout: secs(task.read_timeout_seconds, 10),
        policy: RetryPolicy::from_task(task.retry.as_ref()),
        override_path_len: router.override_path_len(endpoint),
    })
}
