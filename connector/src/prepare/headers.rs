//! What a task's own headers may not say. Policy: the body's framing (`Content-Length`,
//! `Transfer-Encoding`) is the HTTP client's to write from the body itself, so a task never
//! sets it (a wrong length leaves the server waiting, and the answer lost); a catalog endpoint
//! takes JSON, so its `Content-Type` is `application/json` in any letter case; an idempotency
//! header holds what its API takes (Solvimon: 1 to 255 characters). Checked as the request is
//! prepared, so before a run's first write; the framing also at design time.

use crate::catalog::Endpoint;
use crate::vendor_rules::VendorRules;

/// The headers that frame the body.
const FRAMING: [&str; 2] = ["content-length", "transfer-encoding"];

/// Why a task may not set header `name` (any case), whatever its value: the client writes it.
pub(crate) fn framing(name: &str) -> Option<String> {
    FRAMING.iter().any(|f| f.eq_ignore_ascii_case(name)).then(|| {
        format!(
            "header `{name}` frames the body, and the HTTP client writes it from the body itself; remove it from the task"
        )
    })
}

/// Why header `name` (as the task writes it; `lower` its lower-case form) may not hold
/// `value` on a request to `endpoint` under `rules`.
pub(super) fn refused(
    name: &str,
    lower: &str,
    value: &str,
    endpoint: Option<&Endpoint>,
    rules: &dyn VendorRules,
) -> Option<String> {
    if let Some(ep) = endpoint
        && lower == "content-type"
        && !value
            .trim_start()
            .to_ascii_lowercase()
            .starts_with("application/json")
    {
        return Some(format!(
            "header `{name}`: {} takes a JSON body (application/json), not `{value}`",
            ep.id
        ));
    }
    if rules.idempotency_header() == Some(lower)
        && let Some(max) = rules.idempotency_key_max()
    {
        let n = value.chars().count();
        if n == 0 || n > max {
            return Some(format!(
                "header `{name}`: the API takes an idempotency key of 1 to {max} characters, and this one has {n}"
            ));
        }
    }
    None
}
