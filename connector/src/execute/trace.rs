//! Tracing of exchanges: one JSON record per HTTP exchange for `--trace`, and URLs fit for logs.
//!
//! Policy: a record shows the request as sent and the answer as received, with every
//! sensitive header value as `***` and no URL user-info; nothing is rendered unless a sink is
//! set.

use std::borrow::Cow;
use std::sync::Arc;

use bytes::Bytes;
use reqwest::Url;
use serde_json::{Map, Value, json};

use super::TaskContext;
use super::executor::Executor;
use super::steps::Exchanged;
use crate::output::AttemptKind;
use crate::prepare::PreparedRequest;

/// Receives one JSON record per HTTP exchange (request and response, secrets redacted).
pub type TraceSink = Arc<dyn Fn(Value) + Send + Sync>;

/// A retry about to wait: what happened, how long the wait is and which rule set it.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryNotice {
    /// The task.
    pub task: String,
    /// The attempt that failed (1 = the first send).
    pub attempt: u32,
    /// Its HTTP status, if it was answered.
    pub status: Option<u16>,
    /// How it failed, if it was not answered.
    pub error: Option<String>,
    /// The wait before the next attempt.
    pub delay: std::time::Duration,
    /// Which rule set the wait: `Retry-After 3 s` (the server's floor) or `backoff`.
    pub rule: String,
}

/// Receives a [`RetryNotice`] before every wait between attempts.
pub type ProgressSink = Arc<dyn Fn(&RetryNotice) + Send + Sync>;

/// `url` without user-info (`https://user:pass@host` → `https://***@host`), for logs and traces.
pub fn shown_url(url: &Url) -> Cow<'_, str> {
    crate::credentials::redact_user_info(url.as_str())
}

impl Executor {
    /// Sends the record of one exchange to the trace sink, if there is one.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn record(
        &self,
        ctx: &TaskContext,
        req: &PreparedRequest,
        kind: AttemptKind,
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
            "workflowId": ctx.workflow_id, "task": ctx.task_name, "kind": kind.as_str(),
            "method": method, "url": shown_url(url), "requestHeaders": headers, "requestBody": request_body,
        });
        match result {
            Ok(answer) => {
                record["status"] = json!(answer.status);
                record["responseHeaders"] = json!(answer.headers);
                record["responseBody"] = answer.body.json();
            }
            Err((attempt, message)) => record["error"] = json!(format!("{attempt:?}: {message}")),
        }
        sink(record);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_info_never_shows() {
        let url = Url::parse("http://admin:hunter2@127.0.0.1:9/usages").unwrap();
        assert_eq!(shown_url(&url), "http://***@127.0.0.1:9/usages");
        let plain = Url::parse("http://127.0.0.1:9/usages").unwrap();
        assert_eq!(shown_url(&plain), "http://127.0.0.1:9/usages");
    }
}
