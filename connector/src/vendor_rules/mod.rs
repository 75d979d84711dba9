//! Vendor rules: everything the connector does differently per API, behind one small trait.
//!
//! Policy: the prepare path and the send loop know no vendor; they ask [`rules_for`] the
//! endpoint's [`VendorRules`] to shape the body and derive its identity ([`VendorRules::prepare`]),
//! to judge a final answer ([`VendorRules::classify`]) and, after an ambiguous failure or on a
//! re-run, to find out whether the write happened ([`VendorRules::lookup_url`],
//! [`VendorRules::recognise`]: only an exact identity counts; a look-alike is "unknown").
//! A URL outside the catalog gets [`Generic`] rules: no body rules, 2xx is created, everything
//! else goes to the retry policy. Adding a vendor means one module here plus catalog entries.

mod rebilly;
mod solvimon;

use reqwest::Url;
use serde_json::Value;

pub use rebilly::Rebilly;
pub use solvimon::Solvimon;

use crate::catalog::{Endpoint, EndpointId, Vendor};
use crate::identity::{Execution, Identity, IdentityOptions};
use crate::output::{Headers, Outcome, QuantityReport, ResponseBody, TaskError};
use crate::simworkflow::HttpTask;

/// One final answer, as the send loop received it.
#[derive(Debug, Clone, Copy)]
pub struct Answer<'a> {
    /// HTTP status.
    pub status: u16,
    /// Response headers (secrets removed).
    pub headers: &'a Headers,
    /// Response body as received.
    pub body: &'a ResponseBody,
    /// The parsed body of a non-2xx answer (read once, also for the error message).
    pub error: Option<&'a Value>,
}

/// What an answer means.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The call is done: this outcome, with these quantities.
    Done {
        /// How it ended.
        outcome: Outcome,
        /// Quantities, for a usage.
        quantity: Option<QuantityReport>,
    },
    /// A failure no retry can fix.
    Fail(Box<TaskError>),
    /// Not the vendor's to judge: the retry policy decides.
    Undecided,
}

/// A record found by a lookup after an ambiguous failure.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    /// The record, as the API lists it.
    pub record: Value,
    /// Quantities recorded.
    pub quantity: Option<QuantityReport>,
}

/// Where the record a duplicate answer refers to can be read.
#[derive(Debug, Clone, PartialEq)]
pub enum Original {
    /// The answer is the first answer replayed: it is the original.
    Replayed,
    /// Readable with a GET of `url`.
    Read {
        /// The original's id.
        id: String,
        /// The read.
        url: Url,
    },
    /// Not readable; the answer may name its id.
    Unreadable {
        /// The original's id, when the answer names it.
        id: Option<String>,
        /// Why it cannot be read.
        why: String,
    },
}

/// What a lookup's answer says about this call.
#[derive(Debug, Clone, PartialEq)]
pub enum Recognised {
    /// The call's own record: it was written.
    Found(Found),
    /// No record of it: sending is safe.
    Absent,
    /// Records like it exist but none can be told to be this call's: the outcome is unknown.
    Ambiguous(String),
}

/// The rules of one API.
pub trait VendorRules: Send + Sync {
    /// Applies the vendor's body rules to a resolved body (rounding, limits, timestamps,
    /// references) and derives the call's identity. Pure: no I/O, no clock but `exec.now`.
    fn prepare(
        &self,
        endpoint: &Endpoint,
        task: &HttpTask,
        body: &mut Value,
        exec: &Execution<'_>,
        options: &IdentityOptions,
    ) -> Result<Identity, TaskError>;

    /// Whether [`VendorRules::prepare`] makes a body value that fails schema `keyword` at
    /// `pointer` (inside the body) valid before sending, so design-time validation must not
    /// reject it.
    fn fixes(&self, _task: &HttpTask, _pointer: &str, _keyword: &str) -> bool {
        false
    }

    /// The header the identity's `idempotency_key` is sent in, if the API has one.
    fn idempotency_header(&self) -> Option<&'static str> {
        None
    }

    /// The most characters the API takes in [`VendorRules::idempotency_header`], if known.
    fn idempotency_key_max(&self) -> Option<usize> {
        None
    }

    /// A body field the API may take a later request as a duplicate by (Solvimon events:
    /// `reference`), with its value in `body`.
    fn dedupe_field(&self, _body: &Value) -> Option<(&'static str, String)> {
        None
    }

    /// Judges a final answer.
    fn classify(&self, identity: &Identity, answer: &Answer<'_>) -> Verdict;

    /// After an ambiguous failure (sent, then no answer or a 500, 502 or 504), or before
    /// re-sending what an earlier run
    /// may have sent: the read that shows whether the write happened, or `None` when sending
    /// again is safe (the API deduplicates by itself).
    fn lookup_url(&self, _identity: &Identity, _url: &Url) -> Option<Url> {
        None
    }

    /// What a lookup's answer says about this call: only an exact identity match is
    /// `Found`; a look-alike is `Ambiguous`, never taken for ours.
    fn recognise(&self, _identity: &Identity, _list: &Value) -> Recognised {
        Recognised::Absent
    }

    /// For an answer judged a duplicate of `url`'s request: where the original record can be
    /// read, if anywhere.
    fn original(&self, _url: &Url, _answer: &Answer<'_>) -> Original {
        Original::Unreadable {
            id: None,
            why: "the API offers no read of the original record".into(),
        }
    }
}

/// Rules for URLs outside the catalog: the body is sent as resolved, 2xx is created.
#[derive(Debug, Clone, Copy, Default)]
pub struct Generic;

impl VendorRules for Generic {
    fn prepare(
        &self,
        _endpoint: &Endpoint,
        _task: &HttpTask,
        _body: &mut Value,
        _exec: &Execution<'_>,
        _options: &IdentityOptions,
    ) -> Result<Identity, TaskError> {
        Ok(Identity::default())
    }

    fn classify(&self, _identity: &Identity, answer: &Answer<'_>) -> Verdict {
        if (200..300).contains(&answer.status) {
            Verdict::Done {
                outcome: Outcome::Created,
                quantity: None,
            }
        } else {
            Verdict::Undecided
        }
    }
}

/// The rules of a vendor.
pub fn rules(vendor: Vendor) -> &'static dyn VendorRules {
    match vendor {
        Vendor::Solvimon => &Solvimon,
        Vendor::Rebilly => &Rebilly,
    }
}

/// The rules of an endpoint, or [`Generic`] outside the catalog.
pub fn rules_for(endpoint: Option<EndpointId>) -> &'static dyn VendorRules {
    match endpoint {
        Some(id) => rules(id.vendor()),
        None => &Generic,
    }
}

/// An RFC 3339 timestamp cut to whole seconds (fraction dropped, offset kept, `Z` for UTC);
/// `None` when it is not RFC 3339.
pub(crate) fn whole_seconds(text: &str) -> Option<String> {
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

/// `HTTP 409 CODE: message` from an API's error body (Solvimon `message`, RFC 9457 `detail`
/// or `title`).
pub(crate) fn api_message(status: u16, body: &Value) -> String {
    let text = body["message"]
        .as_str()
        .or_else(|| body["detail"].as_str())
        .or_else(|| body["title"].as_str())
        .unwrap_or_default();
    let code = body["code"]
        .as_str()
        .map(|c| format!(" {c}"))
        .unwrap_or_default();
    if text.is_empty() {
        format!("HTTP {status}{code}")
    } else {
        format!("HTTP {status}{code}: {text}")
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
    fn api_messages_name_status_code_and_text() {
        let body = serde_json::json!({"code": "RESOURCE_ALREADY_EXISTS", "message": "dup"});
        assert_eq!(
            api_message(409, &body),
            "HTTP 409 RESOURCE_ALREADY_EXISTS: dup"
        );
        assert_eq!(api_message(503, &Value::Null), "HTTP 503");
        let problem = serde_json::json!({"title": "Conflict", "detail": "over the limit"});
        assert_eq!(api_message(409, &problem), "HTTP 409: over the limit");
    }
}
