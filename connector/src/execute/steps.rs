//! Where a call's effects happen: each exchange with the API and each wait between attempts.
//! The send loop decides; a [`Steps`] carries out. Locally ([`Direct`]) they run at once; a
//! durable engine journals each [`Step`]'s result and waits on durable timers, so that a
//! replay returns the recorded answers and makes the same decisions, never new requests.
//!
//! Policy: a step owns what it needs (no borrow outlives it), and its result has a serializable
//! form ([`StepRecord`]) an engine can journal. A send that may repeat one whose answer was
//! lost to a crash (an engine re-running a step it never recorded) looks the write up first
//! when the API cannot deduplicate it: found means not sent again.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use reqwest::Url;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};

use super::Cancellation;
use super::executor::Executor;
use super::transport::{Exchange, Transport, TransportError};
use crate::output::{AttemptKind, Headers, ResponseBody};
use crate::prepare::PreparedRequest;
use crate::retry::{Attempt, server_wait};
use crate::vendor_rules::{self, Recognised};

/// An answer: status, shown headers, body, and the wait the server asked for (read when the
/// answer came).
#[derive(Debug, Clone, PartialEq)]
pub struct Answered {
    /// Status.
    pub status: u16,
    /// Headers (secrets and cookies removed).
    pub headers: Headers,
    /// Body as received.
    pub body: ResponseBody,
    /// `Retry-After` / `X-RateLimit-Retry-After`, as a wait from the moment of the answer.
    pub not_before: Option<Duration>,
}

/// One exchange's result: an answer, or how it failed ([`Attempt::ConnectError`] or
/// [`Attempt::Lost`]) and why.
pub type Exchanged = Result<Answered, (Attempt, String)>;

/// What a step did.
#[derive(Debug, Clone, PartialEq)]
pub struct StepResult {
    /// The lookup made before a send that may repeat a lost one.
    pub looked: Option<Exchanged>,
    /// The exchange itself; `None` when the lookup made it unnecessary or unsafe.
    pub sent: Option<Exchanged>,
}

/// One exchange of a call, ready to run anywhere (it owns what it needs).
pub struct Step {
    req: Arc<PreparedRequest>,
    transport: Arc<dyn Transport>,
    kind: AttemptKind,
    /// A lookup's URL (a send goes to the request's own).
    lookup: Option<Url>,
}

impl Step {
    pub(super) fn send(executor: &Executor, req: &Arc<PreparedRequest>) -> Self {
        Step {
            req: req.clone(),
            transport: executor.transport.clone(),
            kind: AttemptKind::Send,
            lookup: None,
        }
    }

    pub(super) fn lookup(executor: &Executor, req: &Arc<PreparedRequest>, url: Url) -> Self {
        Step {
            req: req.clone(),
            transport: executor.transport.clone(),
            kind: AttemptKind::Lookup,
            lookup: Some(url),
        }
    }

    /// `send` (the request) or `lookup` (a read for its effect).
    pub fn kind(&self) -> AttemptKind {
        self.kind
    }

    /// Whether taking this step as a possible repeat of a lost one (`run(true)`) adds a lookup
    /// first: a send the API cannot deduplicate.
    pub fn looks_first_if_repeated(&self) -> bool {
        self.kind == AttemptKind::Send
            && vendor_rules::rules_for(self.req.endpoint)
                .lookup_url(&self.req.identity, &self.req.url)
                .is_some()
    }

    /// A short name for logs and journals: `POST /usages` or `GET /usages`.
    pub fn name(&self) -> String {
        let method = match self.kind {
            AttemptKind::Send => self.req.method,
            AttemptKind::Lookup => "GET",
        };
        format!("{method} {}", self.url().path())
    }

    /// Where the step goes: the lookup's URL, or the request's.
    fn url(&self) -> &Url {
        self.lookup.as_ref().unwrap_or(&self.req.url)
    }

    /// Runs the step. `may_repeat`: this send may repeat one whose answer was lost (the caller
    /// cannot tell); then, when the API cannot deduplicate the write, it is looked up first and
    /// sent only if it is surely absent.
    pub async fn run(self, may_repeat: bool) -> StepResult {
        let rules = vendor_rules::rules_for(self.req.endpoint);
        let lookup_url = match (self.kind, may_repeat) {
            (AttemptKind::Send, true) => rules.lookup_url(&self.req.identity, &self.req.url),
            _ => None,
        };
        let Some(lookup_url) = lookup_url else {
            return StepResult {
                looked: None,
                sent: Some(
                    self.exchange(self.kind, self.method(), self.url(), self.body())
                        .await,
                ),
            };
        };
        let looked = self
            .exchange(AttemptKind::Lookup, "GET", &lookup_url, None)
            .await;
        let absent = match &looked {
            Ok(a) if a.status == 200 => matches!(
                rules.recognise(&self.req.identity, &a.body.json()),
                Recognised::Absent
            ),
            _ => false,
        };
        let sent = if absent {
            Some(
                self.exchange(self.kind, self.method(), self.url(), self.body())
                    .await,
            )
        } else {
            None
        };
        StepResult {
            looked: Some(looked),
            sent,
        }
    }

    fn method(&self) -> &'static str {
        match self.kind {
            AttemptKind::Send => self.req.method,
            AttemptKind::Lookup => "GET",
        }
    }

    fn body(&self) -> Option<&bytes::Bytes> {
        match self.kind {
            AttemptKind::Send => self.req.body.as_ref(),
            AttemptKind::Lookup => None,
        }
    }

    async fn exchange(
        &self,
        kind: AttemptKind,
        method: &str,
        url: &Url,
        body: Option<&bytes::Bytes>,
    ) -> Exchanged {
        let exchange = Exchange {
            method,
            url,
            headers: &self.req.headers,
            body,
            connect_timeout: self.req.connect_timeout,
            read_timeout: self.req.read_timeout,
        };
        let started = std::time::Instant::now();
        let reply = self.transport.exchange(exchange).await;
        let (status, connected) = match &reply {
            Ok(r) => (Some(r.status), true),
            Err(e) => (None, matches!(e, TransportError::Lost(_))),
        };
        crate::telemetry::exchange(
            self.req.endpoint,
            kind,
            status,
            connected,
            started.elapsed(),
        );
        let reply = reply.map_err(|e| match e {
            TransportError::Connect(m) => (Attempt::ConnectError, m),
            TransportError::Lost(m) => (Attempt::Lost, m),
        })?;
        let headers = Headers::shown(reply.headers);
        // Only a refusal's wait is ever read (a success is final).
        let not_before = match reply.status {
            200..=299 => None,
            _ => server_wait(headers.iter(), SystemTime::now()),
        };
        Ok(Answered {
            status: reply.status,
            headers,
            body: ResponseBody::new(reply.body),
            not_before,
        })
    }
}

/// Carries out a call's steps and waits.
#[async_trait]
pub trait Steps: Send + Sync {
    /// Runs `step` (a durable engine: or returns the result it recorded for it).
    async fn step(&self, step: Step) -> StepResult;

    /// Waits `delay` before the next attempt; `false` when `cancel` fired first.
    async fn wait(&self, delay: Duration, cancel: &Cancellation) -> bool;

    /// A number in `[0, 1)` for jitter (a durable engine: the same on a replay).
    fn random(&self) -> f64;

    /// Whether the call is being replayed from a journal (a durable engine before its first
    /// new step): its decisions were made, and counted, before.
    fn replaying(&self) -> bool {
        false
    }

    /// Whether [`Steps::step`] is just [`Step::run`] with nothing repeated (the local
    /// runtime): the send loop then runs steps itself, without a boxed future per step.
    fn runs_in_place(&self) -> bool {
        false
    }
}

/// Steps run in this process, now: the local runtime.
pub struct Direct<'a>(pub &'a Executor);

#[async_trait]
impl Steps for Direct<'_> {
    async fn step(&self, step: Step) -> StepResult {
        step.run(false).await
    }

    async fn wait(&self, delay: Duration, cancel: &Cancellation) -> bool {
        tokio::select! {
            () = tokio::time::sleep(delay) => true,
            () = cancel.cancelled() => false,
        }
    }

    fn random(&self) -> f64 {
        self.0.random()
    }

    fn runs_in_place(&self) -> bool {
        true
    }
}

/// The journal form of a [`StepResult`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// The lookup made first, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub looked: Option<ExchangeRecord>,
    /// The exchange, if made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent: Option<ExchangeRecord>,
}

/// The journal form of an [`Exchanged`]: bodies as text (API bodies are UTF-8 JSON; other
/// bytes are kept lossily).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "result")]
pub enum ExchangeRecord {
    /// An answer.
    #[serde(rename_all = "camelCase")]
    Answered {
        /// Status.
        status: u16,
        /// Shown headers, in order.
        headers: Vec<(String, String)>,
        /// Body.
        body: String,
        /// The server's wait, in milliseconds.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        not_before_ms: Option<u64>,
    },
    /// No connection: nothing was sent.
    Connect {
        /// Why.
        message: String,
    },
    /// Sent, no complete answer.
    Lost {
        /// Why.
        message: String,
    },
}

impl From<&Exchanged> for ExchangeRecord {
    fn from(e: &Exchanged) -> Self {
        match e {
            Ok(a) => ExchangeRecord::Answered {
                status: a.status,
                headers: a
                    .headers
                    .iter()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect(),
                body: String::from_utf8_lossy(a.body.bytes()).into_owned(),
                not_before_ms: a
                    .not_before
                    .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            },
            Err((Attempt::ConnectError, message)) => ExchangeRecord::Connect {
                message: message.clone(),
            },
            Err((_, message)) => ExchangeRecord::Lost {
                message: message.clone(),
            },
        }
    }
}

impl From<ExchangeRecord> for Exchanged {
    fn from(r: ExchangeRecord) -> Self {
        match r {
            ExchangeRecord::Answered {
                status,
                headers,
                body,
                not_before_ms,
            } => {
                let mut map = HeaderMap::new();
                for (k, v) in headers {
                    if let (Ok(k), Ok(v)) = (
                        HeaderName::from_bytes(k.as_bytes()),
                        HeaderValue::from_str(&v),
                    ) {
                        map.append(k, v);
                    }
                }
                Ok(Answered {
                    status,
                    headers: Headers::shown(map),
                    body: ResponseBody::new(bytes::Bytes::from(body)),
                    not_before: not_before_ms.map(Duration::from_millis),
                })
            }
            ExchangeRecord::Connect { message } => Err((Attempt::ConnectError, message)),
            ExchangeRecord::Lost { message } => Err((Attempt::Lost, message)),
        }
    }
}

impl From<&StepResult> for StepRecord {
    fn from(r: &StepResult) -> Self {
        StepRecord {
            looked: r.looked.as_ref().map(ExchangeRecord::from),
            sent: r.sent.as_ref().map(ExchangeRecord::from),
        }
    }
}

impl From<StepRecord> for StepResult {
    fn from(r: StepRecord) -> Self {
        StepResult {
            looked: r.looked.map(Exchanged::from),
            sent: r.sent.map(Exchanged::from),
        }
    }
}
