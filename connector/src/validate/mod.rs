//! Workflow validation at design time (definitions) and run time (resolved requests).
//!
//! Policy: report every problem of every file in one run, each with file, task, endpoint,
//! pointer, line, column, a stable code and a fix where we know one. Bad input (invalid JSON,
//! non-UTF-8, huge or deeply nested files) yields a diagnostic, never a panic. Design time
//! checks literals fully and defers `${…}` placeholders; run time (`--input`) resolves the
//! placeholders of the tasks whose input is the workflow input and checks the concrete request
//! against the endpoint's request schema — the same check the executor makes before sending.

mod definition;
pub mod diagnostic;
pub mod locate;
pub mod placeholder;

pub use definition::{MAX_DEFINITION_BYTES, Report, validate_definition};
pub use diagnostic::{Diagnostic, Severity};

use rust_decimal::Decimal;
use serde_json::Value;

use crate::catalog::EndpointId;
use crate::validators::{Validators, Violation, detailed_violations};

/// A hint for a schema violation, when we know how to fix it.
pub(crate) fn hint_for(violation: &Violation, found: Option<&Value>) -> Option<String> {
    let last = violation.pointer.rsplit('/').next().unwrap_or_default();
    match (violation.keyword.as_str(), last) {
        ("multipleOf", "quantity") => {
            let rounded = found
                .and_then(|v| v.as_f64())
                .and_then(|f| format!("{f}").parse::<Decimal>().ok())
                .map(|d| d.round_dp_with_strategy(3, rust_decimal::RoundingStrategy::MidpointNearestEven).normalize());
            match rounded {
                Some(r) if r >= Decimal::new(1, 3) => {
                    Some(format!("quantity allows at most 3 decimals: {r}, or set a rounding policy"))
                }
                Some(_) => None,
                None => Some("quantity allows at most 3 decimals, or set a rounding policy".into()),
            }
        }
        ("minimum", "quantity") => Some("the minimum billable unit is 0.001".into()),
        ("format", _) => Some("use ISO 8601 with a time zone, e.g. 2024-07-01T10:50:00Z".into()),
        ("additionalProperties", _) if violation.pointer.contains("/body") || !violation.pointer.contains("/tasks/") => {
            Some("remove the field or fix its spelling; read-only fields (ids, timestamps set by the API) cannot be sent".into())
        }
        ("additionalProperties", _) => Some("remove the field or fix its spelling (field names are case-sensitive)".into()),
        ("pattern", "reference") => Some("use letters, digits, `_` and `-` only".into()),
        ("pattern", "description") => Some("charge descriptions allow letters, digits, spaces, `_`, `-` and `+` only".into()),
        _ => None,
    }
}

/// Checks a concrete request body against an endpoint's request schema. The executor calls
/// this before every send; nothing it rejects leaves the machine. Diagnostics carry the
/// endpoint id and pointers into `body`; `file` and `task` are empty.
pub fn validate_request(endpoint: EndpointId, body: &Value) -> Result<(), Vec<Diagnostic>> {
    validate_request_with(Validators::builtin(), endpoint, body)
}

/// [`validate_request`] with explicit validators (e.g. a catalog with path overrides).
pub fn validate_request_with(
    validators: &Validators,
    endpoint: EndpointId,
    body: &Value,
) -> Result<(), Vec<Diagnostic>> {
    let validator = validators.request(endpoint);
    if validator.is_valid(body) {
        return Ok(());
    }
    Err(detailed_violations(validator, body)
        .into_iter()
        .map(|v| {
            let found = body.pointer(&v.pointer);
            let hint = hint_for(&v, found);
            let mut d = Diagnostic::error("E-REQUEST", v.pointer.clone(), v.message)
                .endpoint(Some(endpoint.as_str()));
            d.hint = hint;
            d
        })
        .collect())
}
