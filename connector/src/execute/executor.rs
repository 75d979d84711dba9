//! The Http task executor: its configuration (catalog, servers, credentials, transport,
//! trace) and the two steps of a call — [`Executor::prepare`] (the pure prepare path plus
//! credentials) and [`Executor::send`] (the retry loop in `send.rs`).

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use serde_json::Value;

use super::steps::Direct;
use super::trace::{ProgressSink, TraceSink};
use super::transport::{ReqwestTransport, Transport};
use super::{PriorRun, TaskContext};
use crate::catalog::{Catalog, Vendor};
use crate::credentials::Credentials;
use crate::identity::{Execution, IdentityOptions};
use crate::journal::{Destination, ExecutionJournal};
use crate::output::{ErrorCode, HttpTaskOutput, TaskError};
use crate::prepare::{self, Authenticator, PreparedRequest, Router, ValidatorSet};
use crate::simworkflow::HttpTask;
use crate::validators::Validators;

/// Runs Http tasks. Cheap to share (`Arc`); clients are pooled per timeout profile.
pub struct Executor {
    pub(super) router: Router<'static>,
    auth: Authenticator,
    pub(super) transport: Arc<dyn Transport>,
    journal: Option<Arc<dyn ExecutionJournal>>,
    jitter_state: Mutex<u64>,
    pub(super) trace: Option<TraceSink>,
    pub(super) progress: Option<ProgressSink>,
}

impl Executor {
    /// An executor for the built-in catalog with these credentials.
    pub fn new(credentials: Credentials) -> Self {
        let seed = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Executor {
            router: Router::new(ValidatorSet::Builtin),
            auth: Authenticator::new(credentials),
            transport: Arc::new(ReqwestTransport::new()),
            journal: None,
            progress: None,
            jitter_state: Mutex::new(seed | 1),
            trace: None,
        }
    }

    /// Uses `catalog` (e.g. with path overrides) instead of the built-in one; server overrides
    /// set so far are dropped, so call this first.
    pub fn with_catalog(self, catalog: &Catalog) -> crate::Result<Self> {
        Ok(self.with_validators(Arc::new(Validators::new(catalog)?)))
    }

    /// Uses validators compiled already (for a catalog of one's own) instead of the built-in
    /// ones; server overrides set so far are dropped, so call this first.
    pub fn with_validators(mut self, validators: Arc<Validators>) -> Self {
        self.router = Router::new(ValidatorSet::Shared(validators));
        self
    }

    /// Sends a vendor's requests to `base_url` instead of the server in the definition (e.g. the
    /// sandbox); the path and query are kept.
    pub fn with_server(mut self, vendor: Vendor, base_url: &str) -> Self {
        self.router.set_server(vendor, base_url);
        self
    }

    /// How identities are carried where an API needs a choice (Rebilly usages: a usage time
    /// whose sub-second digits carry the call's identity, or whole seconds).
    pub fn with_identity(mut self, options: IdentityOptions) -> Self {
        self.router.set_identity(options);
        self
    }

    /// Remembers every execution's tasks in `journal`, so a re-run of the same workflow id
    /// prepares the same requests (times included) and looks for an earlier write before
    /// sending one.
    pub fn with_journal(mut self, journal: Arc<dyn ExecutionJournal>) -> Self {
        self.journal = Some(journal);
        self
    }

    /// Sends through `transport` instead of reqwest (a proxy, or a scripted network in tests).
    pub fn with_transport(mut self, transport: Arc<dyn Transport>) -> Self {
        self.transport = transport;
        self
    }

    /// Sends a record of every exchange to `sink`: `{at, workflowId, task, kind, method, url,
    /// requestHeaders, requestBody, status | error, responseHeaders, responseBody}` with secret
    /// header values as `***`.
    pub fn with_trace(mut self, sink: TraceSink) -> Self {
        self.trace = Some(sink);
        self
    }

    /// Tells `sink` about every retry before its wait (status or error, delay, rule).
    pub fn with_progress(mut self, sink: ProgressSink) -> Self {
        self.progress = Some(sink);
        self
    }

    /// The credentials.
    pub fn credentials(&self) -> &Credentials {
        self.auth.credentials()
    }

    /// The catalog routed against.
    pub fn catalog(&self) -> &Catalog {
        self.router.validators().catalog()
    }

    /// A number in `[0, 1)` for jitter (xorshift; jitter needs spread, not secrecy).
    pub(crate) fn random(&self) -> f64 {
        let mut s = self.jitter_state.lock().expect("jitter state");
        *s ^= *s << 13;
        *s ^= *s >> 7;
        *s ^= *s << 17;
        (*s >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Prepares the request of an Http task for `input` without sending anything: the pure
    /// prepare path ([`prepare::prepare`], stamped with the time the journal recalls for this
    /// execution's task, else the current time) plus credentials.
    pub fn prepare(
        &self,
        task: &HttpTask,
        input: &Value,
        ctx: &TaskContext,
    ) -> Result<PreparedRequest, TaskError> {
        let now = chrono::Utc::now();
        let prepared = self.prepare_at(task, input, &ctx.execution(now))?;
        let recalled = self.journal.as_ref().and_then(|j| {
            j.recall(
                &ctx.workflow_id,
                &ctx.task_name,
                &self.destination(task, &prepared),
            )
        });
        match recalled {
            Some(r) if r.at != now => self.prepare_at(task, input, &ctx.execution(r.at)),
            _ => Ok(prepared),
        }
    }

    /// Where `task`'s requests go before any is prepared (a bulk ingest's journal): its
    /// endpoint and server from its URL as routed (a URL that does not parse counts by the
    /// text before its first placeholder), and its credentials' fingerprint.
    pub fn destination_of(&self, task: &HttpTask) -> Destination {
        let text = &task.http_request.url;
        let (endpoint, target) = self.router.route(text, task.http_request.method.as_str());
        let server = match target {
            Ok(url) => url.origin().ascii_serialization(),
            Err(_) => {
                let prefix = text.split("${").next().unwrap_or(text);
                reqwest::Url::parse(prefix)
                    .map(|u| u.origin().ascii_serialization())
                    .unwrap_or_else(|_| prefix.to_owned())
            }
        };
        Destination {
            endpoint: endpoint.map(|e| e.id.as_str().to_owned()),
            server,
            credentials: task
                .credentials
                .as_deref()
                .and_then(|id| self.auth.fingerprint(id)),
        }
    }

    /// Where `request` (prepared for `task`) is delivered: its endpoint, its server (scheme,
    /// host, port) and a fingerprint of the task's credentials.
    pub fn destination(&self, task: &HttpTask, request: &PreparedRequest) -> Destination {
        Destination {
            endpoint: request.endpoint.map(|e| e.as_str().to_owned()),
            server: request.url.origin().ascii_serialization(),
            credentials: task
                .credentials
                .as_deref()
                .and_then(|id| self.auth.fingerprint(id)),
        }
    }

    /// [`Executor::prepare`] for a given execution (an engine that journals the time replays
    /// the same request).
    pub fn prepare_at(
        &self,
        task: &HttpTask,
        input: &Value,
        exec: &Execution<'_>,
    ) -> Result<PreparedRequest, TaskError> {
        let mut req = prepare::prepare(&self.router, task, input, exec)?;
        let endpoint = req.endpoint.map(|id| self.catalog().get(id));
        let to = endpoint
            .map(|e| e.vendor)
            .or_else(|| self.router.vendor_at(&req.url));
        self.auth.authorize(
            task.credentials.as_deref(),
            endpoint,
            &mut req.headers,
            Some(to),
        )?;
        Ok(req)
    }

    /// Whether `task`'s credentials resolve: its `credentials` id names a usable credential,
    /// or (without one) the task sets one of its catalog endpoint's auth headers itself; a
    /// vendor's own key on a URL that is not on that vendor's servers is refused here when the
    /// definition writes its server out (a host that data fills in is checked as the request
    /// is prepared).
    /// `MISSING_CREDENTIALS` / `INVALID_CREDENTIALS` otherwise; nothing is sent.
    pub fn check_credentials(&self, task: &HttpTask) -> Result<(), TaskError> {
        let url = &task.http_request.url;
        let endpoint = self
            .router
            .validators()
            .endpoints_for_url(url)
            .into_iter()
            .next();
        // Where it goes, when the definition says: its endpoint, else the server its text
        // names before the first placeholder (a host that data fills in is checked as the
        // request is prepared).
        let literal = url.split("${").next().unwrap_or(url);
        let to = match endpoint {
            Some(e) => Some(Some(e.vendor)),
            None if url.starts_with("jsonata:") => None,
            None => literal
                .split_once("://")
                .filter(|(_, rest)| literal.len() == url.len() || rest.contains('/'))
                .and_then(|_| reqwest::Url::parse(literal).ok())
                .map(|u| self.router.vendor_at(&u)),
        };
        let mut headers = reqwest::header::HeaderMap::new();
        if task.credentials.is_none() {
            for name in task.http_request.headers.iter().flatten().map(|(k, _)| k) {
                if let Ok(name) = reqwest::header::HeaderName::from_bytes(name.as_bytes()) {
                    headers.insert(name, reqwest::header::HeaderValue::from_static("set"));
                }
            }
        }
        self.auth
            .authorize(task.credentials.as_deref(), endpoint, &mut headers, to)
    }

    /// Prepares, validates and sends an Http task; see the module docs for the guarantees.
    ///
    /// With a journal: a task this execution ran before is prepared with the time recalled
    /// from it and looked up before anything is sent; a first run records its time durably
    /// before the request leaves (`JOURNAL_FAILED`, nothing sent, when it cannot).
    pub async fn execute_http(
        &self,
        task: &HttpTask,
        input: &Value,
        ctx: &TaskContext,
    ) -> Result<HttpTaskOutput, TaskError> {
        let Some(journal) = &self.journal else {
            let prepared = Arc::new(self.prepare(task, input, ctx)?);
            return self.send_with(&prepared, ctx, &Direct(self)).await;
        };
        let now = chrono::Utc::now();
        let mut prepared = self.prepare_at(task, input, &ctx.execution(now))?;
        let to = self.destination(task, &prepared);
        let recalled = journal.recall(&ctx.workflow_id, &ctx.task_name, &to);
        if let Some(r) = recalled.filter(|r| r.at != now) {
            prepared = self.prepare_at(task, input, &ctx.execution(r.at))?;
        }
        let began = prepared.began();
        if let Some(elsewhere) = journal.binds(&ctx.workflow_id, &ctx.task_name, &to, began) {
            return Err(begun_changed(&ctx.workflow_id, elsewhere, &prepared));
        }
        // Recorded durably before the request leaves, stamped `at`.
        let begin = |at| {
            journal
                .begin(&ctx.workflow_id, &ctx.task_name, at, &to, began)
                .map_err(|e| {
                    TaskError::new(ErrorCode::JournalFailed, format!("{e}; nothing was sent"))
                })
        };
        let prior = match recalled {
            None => {
                begin(now)?;
                ctx.prior
            }
            // Only at another destination: begun here now, and looked up before it is sent.
            Some(r) if r.elsewhere => {
                begin(r.at)?;
                ctx.prior.max(PriorRun::Started)
            }
            // Sent again after a final answer (a re-run, a loop's next visit): this request is
            // the one that may be in flight from now on.
            Some(r) if r.done => {
                begin(r.at)?;
                PriorRun::Finished
            }
            // Begun before without a final answer (this request, or one answered before while
            // another is open: a loop's visit).
            Some(r) => {
                begin(r.at)?;
                ctx.prior.max(PriorRun::Started)
            }
        };
        let ctx = TaskContext {
            prior,
            ..ctx.clone()
        };
        let digest = prepared.digest();
        let result = self
            .send_with(&Arc::new(prepared), &ctx, &Direct(self))
            .await;
        if !result.as_ref().is_err_and(TaskError::leaves_open)
            && let Err(e) = journal.finish(&ctx.workflow_id, &ctx.task_name, &to, &digest, began)
        {
            tracing::warn!(task = %ctx.task_name, "could not record the final answer: {e}");
        }
        result
    }
}

/// The error of a task (named where it is shown) that began in an earlier attempt (its
/// request may have left, with no final answer) and now prepares to `request`, which identifies
/// itself otherwise ([`Began`](crate::identity::Began)): sent, a lookup or the API's idempotency would not match it to
/// the first.
pub fn begun_changed(workflow_id: &str, elsewhere: bool, request: &PreparedRequest) -> TaskError {
    let now = request
        .identity
        .shown()
        .map(|k| format!(" ({k})"))
        .unwrap_or_default();
    let message = if elsewhere {
        format!(
            "the task's request was sent (or began to be) to another destination in an earlier attempt of `{workflow_id}`, with no final answer, and the task now prepares another request{now}: the definition, the input or the body changed since. If that destination is another server, use a new workflow id; if it is this server under another address, send it as it began first (it then looks the first request up and records it once)"
        )
    } else {
        format!(
            "the task's request began in an earlier attempt of `{workflow_id}` (it may have been sent, with no final answer), and the task now prepares another request{now}, which a lookup or the API's idempotency would not match to the first: the definition, the input or the body changed since. Send it as it began first, under this workflow id (it then looks the first request up and records it once), then make the change"
        )
    };
    TaskError::new(ErrorCode::RequestChanged, message)
}
