//! What a task reports: the output of an Http task ([`HttpTaskOutput`]), how it ended
//! ([`Outcome`]), its quantities ([`QuantityReport`]), its attempts ([`AttemptRecord`]), and
//! the typed failure ([`TaskError`] with an [`ErrorCode`]).
//!
//! Policy: outputs are what a workflow passes on, so they hold no secret (response headers
//! that carry credentials or cookies are dropped) and quantities are exact decimal strings;
//! every failure has a stable code from a closed set (plus [`ErrorCode::Other`] for codes a
//! runtime's own task handlers define).

pub mod body;
mod error;

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

pub use body::ResponseBody;
pub use error::{ErrorCode, Replay, TaskError};

use crate::credentials::SECRET_HEADERS;
use reqwest::header::{HeaderMap, HeaderName};

/// How the call ended well.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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

impl Outcome {
    /// The outcome as written in outputs (`created`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Duplicate => "duplicate",
            Outcome::Recovered => "recovered",
            Outcome::Partial => "partial",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Outcome {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        [
            Outcome::Created,
            Outcome::Duplicate,
            Outcome::Recovered,
            Outcome::Partial,
        ]
        .into_iter()
        .find(|o| o.as_str() == s)
        .ok_or_else(|| format!("unknown outcome {s}"))
    }
}

/// Quantities of a usage report, as exact decimal strings (`"2.5"`): what Solvimon's decimal
/// fields take as they are, and what Decision conditions compare as exact decimals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QuantityReport {
    /// Quantity sent (after the rounding policy).
    pub requested: String,
    /// Quantity the API recorded.
    pub accepted: String,
    /// `requested − accepted`.
    pub remainder: String,
    /// What the rounding policy removed before sending (`original − requested`), if it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rounded_away: Option<String>,
}

impl QuantityReport {
    /// The report of `requested` of which `accepted` was recorded.
    pub fn new(requested: Decimal, accepted: Decimal, rounded_away: Option<Decimal>) -> Self {
        let text = |d: Decimal| d.normalize().to_string();
        QuantityReport {
            requested: text(requested),
            accepted: text(accepted),
            remainder: text(requested - accepted),
            rounded_away: rounded_away.map(text),
        }
    }
}

/// What an attempt was: the request itself, or a read that looks for its effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttemptKind {
    /// The request was sent.
    Send,
    /// A read after an ambiguous failure (did the write happen?).
    Lookup,
}

impl AttemptKind {
    /// `send` or `lookup`.
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptKind::Send => "send",
            AttemptKind::Lookup => "lookup",
        }
    }
}

/// One attempt: its status or error, and the wait before the next one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttemptRecord {
    /// `send`, or `lookup` (after an ambiguous failure).
    pub kind: AttemptKind,
    /// HTTP status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Transport error (its whole cause chain).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Milliseconds waited after this attempt (0 for the last).
    pub delay_ms: u64,
}

impl AttemptRecord {
    /// An attempt answered with `status`.
    pub fn answered(kind: AttemptKind, status: u16) -> Self {
        AttemptRecord {
            kind,
            status: Some(status),
            error: None,
            delay_ms: 0,
        }
    }

    /// An attempt that failed without an answer.
    pub fn failed(kind: AttemptKind, error: String) -> Self {
        AttemptRecord {
            kind,
            status: None,
            error: Some(error),
            delay_ms: 0,
        }
    }
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<QuantityReport>,
    /// For a `duplicate`: the record the API had already, and how `body` came to be.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate_of: Option<DuplicateOf>,
}

/// What a duplicate's output says of the record the API had already. Where the API lets us
/// read that record, `body` is the record itself (so what reads the task's output sees what it
/// saw the first time); where it does not, `body` is the duplicate answer and `note` says why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DuplicateOf {
    /// The original record's id, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// How `body` came to be.
    pub body: DuplicateBody,
    /// Why the original could not be read (`body` is then the duplicate answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The duplicate answer as received, when `body` holds the original read back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<serde_json::Value>,
}

/// How a duplicate's `body` came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DuplicateBody {
    /// The original record, read back from the API after the duplicate answer.
    ReadBack,
    /// The original record: the API replayed its first answer (`Idempotent-Replayed`).
    Replayed,
    /// The original record, found by the lookup before sending.
    Lookup,
    /// The duplicate answer as received: the API offers no read of the original.
    Answer,
}

/// Response headers as the task output shows them: secret and cookie headers removed;
/// serialized as `{name: value}` (lower-case names).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Headers(HeaderMap);

impl Headers {
    /// Wraps `map` without the headers that must never be shown.
    pub fn shown(mut map: HeaderMap) -> Self {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_report_exact_decimal_strings() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        let r = QuantityReport::new(d("5.125"), d("2.50"), Some(d("0.0005")));
        assert_eq!(
            (
                r.requested.as_str(),
                r.accepted.as_str(),
                r.remainder.as_str()
            ),
            ("5.125", "2.5", "2.625")
        );
        assert_eq!(r.rounded_away.as_deref(), Some("0.0005"));
        for o in ["created", "duplicate", "recovered", "partial"] {
            assert_eq!(o.parse::<Outcome>().unwrap().as_str(), o);
        }
    }

    #[test]
    fn secret_and_cookie_headers_are_never_shown() {
        let mut map = HeaderMap::new();
        map.insert("reb-apikey", "k".parse().unwrap());
        map.insert("set-cookie", "s=1".parse().unwrap());
        map.insert("location", "/usages/1".parse().unwrap());
        let shown = Headers::shown(map);
        assert_eq!(
            shown.iter().collect::<Vec<_>>(),
            vec![("location", "/usages/1")]
        );
    }
}
