//! The typed failure of a task: a stable [`ErrorCode`], a message without secrets, and what is
//! known (status, the API's error body, attempts, diagnostics, quantities).

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::{AttemptRecord, QuantityReport};
use crate::diagnostic::Diagnostic;
use crate::template::Unresolved;

/// Declares [`ErrorCode`]'s known codes with their text.
macro_rules! error_codes {
    ($($(#[$meta:meta])* $name:ident = $text:literal,)*) => {
        /// A task failure's stable code, serialized as its text (`USAGE_LIMIT_EXCEEDED`).
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ErrorCode {
            $($(#[$meta])* $name,)*
            /// A code a runtime's own task handler defines (e.g. a Simple task's worker).
            Other(Cow<'static, str>),
        }

        impl ErrorCode {
            /// Every code the connector itself produces.
            pub const KNOWN: &[ErrorCode] = &[$(ErrorCode::$name,)*];

            /// The code as written in outputs and docs.
            pub fn as_str(&self) -> &str {
                match self {
                    $(ErrorCode::$name => $text,)*
                    ErrorCode::Other(code) => code,
                }
            }

            /// The code with this text: a known one, else [`ErrorCode::Other`].
            pub fn parse(text: &str) -> Self {
                match text {
                    $($text => ErrorCode::$name,)*
                    other => ErrorCode::Other(Cow::Owned(other.to_owned())),
                }
            }
        }
    };
}

error_codes! {
    /// The request is invalid (nothing was sent).
    InvalidRequest = "INVALID_REQUEST",
    /// A placeholder names nothing in the task input.
    InputMissing = "INPUT_MISSING",
    /// A JSONata expression (not evaluated by this connector).
    ExpressionFailed = "EXPRESSION_FAILED",
    /// No credentials for a catalog endpoint.
    MissingCredentials = "MISSING_CREDENTIALS",
    /// Credentials that cannot be put in a header.
    InvalidCredentials = "INVALID_CREDENTIALS",
    /// A usage over its hard limit (Rebilly 409).
    UsageLimitExceeded = "USAGE_LIMIT_EXCEEDED",
    /// The same idempotency key with a different request.
    IdempotencyConflict = "IDEMPOTENCY_CONFLICT",
    /// An answer that will not change on retry.
    HttpError = "HTTP_ERROR",
    /// Every retry was used.
    RetriesExhausted = "RETRIES_EXHAUSTED",
    /// The request may have been recorded (sent, then no answer, or a 500, 502 or 504); the
    /// replay handle resolves it.
    OutcomeUnknown = "OUTCOME_UNKNOWN",
    /// The execution journal could not record what must not change on a re-run (nothing
    /// was sent).
    JournalFailed = "JOURNAL_FAILED",
    /// The server asked to wait longer than the task allows.
    RateLimited = "RATE_LIMITED",
    /// The runtime cancelled the task.
    Cancelled = "CANCELLED",
    /// The handler cannot run this task type.
    UnsupportedTask = "UNSUPPORTED_TASK",
    /// The workflow ran past `timeoutSeconds`.
    TimedOut = "TIMED_OUT",
    /// With this input the run can never reach an end (pre-flight: a loop no response can
    /// leave); nothing was sent.
    NoEnd = "NO_END",
    /// A Simple task without a registered handler.
    NoHandler = "NO_HANDLER",
    /// A transition to a task that does not exist.
    NoSuchTask = "NO_SUCH_TASK",
    /// A task with neither `nextTask` nor `end`.
    NoNext = "NO_NEXT",
    /// A Parallel branch panicked.
    BranchPanicked = "BRANCH_PANICKED",
    /// Two tasks with one name (routing would be ambiguous).
    DuplicateTask = "DUPLICATE_TASK",
    /// A Decision condition outside the language.
    Condition = "E-CONDITION",
    /// The workflow input fails the definition's `inputSchema` (nothing was sent).
    InvalidInput = "INVALID_INPUT",
    /// A resume with an edited definition would change the request of a task that completed.
    RequestChanged = "REQUEST_CHANGED",
}

impl ErrorCode {
    /// A runtime-defined code.
    pub fn other(code: impl Into<Cow<'static, str>>) -> Self {
        ErrorCode::Other(code.into())
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(ErrorCode::parse(&String::deserialize(d)?))
    }
}

impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// A failed task: a stable code, a message without secrets, and what is known.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("{code}: {message}{}", pointer.as_ref().map(|p| format!(" (at {p})")).unwrap_or_default())]
#[serde(rename_all = "camelCase")]
pub struct TaskError {
    /// Stable code.
    pub code: ErrorCode,
    /// What happened.
    pub message: String,
    /// Where in the task definition the problem is, as an RFC 6901 pointer relative to the
    /// task (`/httpRequest/body`), when it is one place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    /// Last HTTP status, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    /// Last response body (the API's error), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// Attempts made.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<AttemptRecord>,
    /// Validation findings (for `INVALID_REQUEST`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub diagnostics: Vec<Diagnostic>,
    /// Quantities, when a usage limit stopped the call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<QuantityReport>,
    /// For `OUTCOME_UNKNOWN`: what identifies the call, to resolve it by running the same
    /// execution again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay: Option<Replay>,
}

/// The handle of a call whose outcome is unknown: re-running the same execution (workflow id
/// and task) prepares the same request and looks it up before sending anything.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Replay {
    /// The execution's workflow id.
    pub workflow_id: String,
    /// The task.
    pub task: String,
    /// The `Idempotency-Key` every attempt carried (APIs that have one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// The call's derived identity (APIs without an idempotency key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    /// The usage time the request carried (Rebilly).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_time: Option<String>,
}

impl TaskError {
    /// Whether the request may have been recorded, or its send was cut short
    /// (`OUTCOME_UNKNOWN`, `CANCELLED`): no final answer, so the request stays open.
    pub fn leaves_open(&self) -> bool {
        matches!(self.code, ErrorCode::OutcomeUnknown | ErrorCode::Cancelled)
    }

    /// An error with a code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        TaskError {
            code,
            message: message.into(),
            pointer: None,
            status_code: None,
            body: None,
            attempts: vec![],
            diagnostics: vec![],
            quantity: None,
            replay: None,
        }
    }

    /// The error for a placeholder that could not be resolved at `pointer` (relative to the
    /// task): `INPUT_MISSING` (naming what the path read: the workflow input, the task's input
    /// or its response; also a JSONata expression that yields nothing), `EXPRESSION_FAILED` for
    /// a JSONata expression that fails or runs over its budget, or `INVALID_REQUEST` for a
    /// placeholder that does not parse. The message
    /// starts with the pointer.
    pub fn unresolved(e: Unresolved, pointer: &str) -> Self {
        let (code, what) = match e {
            Unresolved::Missing(path) => (
                ErrorCode::InputMissing,
                format!("`{path}` names no value in {}", read_by(&path, pointer)),
            ),
            Unresolved::Nothing(expr) => (
                ErrorCode::InputMissing,
                format!(
                    "the JSONata expression `{expr}` yielded nothing (JSONata gives no value, not an error, when a path matches nothing in {})",
                    read_by("$", pointer)
                ),
            ),
            Unresolved::Jsonata(expr, e) => (
                ErrorCode::ExpressionFailed,
                format!("the JSONata expression `{expr}` failed: {e}"),
            ),
            Unresolved::NotIterable(source, kind) => (
                ErrorCode::InvalidRequest,
                format!(
                    "the spread `${{...{source}}}` gave {} {kind}; a spread expands an array (its items) or a string (its characters)",
                    if kind.starts_with(['a', 'e', 'i', 'o', 'u']) {
                        "an"
                    } else {
                        "a"
                    }
                ),
            ),
            Unresolved::Malformed(p) => (
                ErrorCode::InvalidRequest,
                format!(
                    "malformed placeholder at character {}: {}; nothing was sent",
                    p.offset + 1,
                    p.message
                ),
            ),
        };
        TaskError::new(code, format!("{pointer}: {what}")).at(pointer)
    }

    /// Sets where in the task the problem is.
    pub fn at(mut self, pointer: impl Into<String>) -> Self {
        self.pointer = Some(pointer.into());
        self
    }

    /// The `INVALID_REQUEST` error of a request that failed validation (nothing was sent).
    pub fn invalid_request(what: &str, diagnostics: Vec<Diagnostic>) -> Self {
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
                ErrorCode::InvalidRequest,
                format!(
                    "{what} request is invalid; nothing was sent: {}",
                    summary.join("; ")
                ),
            )
        }
    }

    /// Adds the attempts made and, when not set yet, the last attempt's status and (for an
    /// error answer to a send) its body.
    pub fn with_attempts(
        mut self,
        attempts: Vec<AttemptRecord>,
        last: Option<(u16, Value)>,
    ) -> Self {
        self.status_code = self
            .status_code
            .or_else(|| attempts.last().and_then(|a| a.status));
        if let Some((_, body)) = last {
            self.body = self.body.or(Some(body));
        }
        self.attempts = attempts;
        self
    }
}

/// What a path read, for messages: `$$.Execution.Input…` the workflow input, other `$$` paths
/// the context object; a `$` path in `resultSelector` the task's response, in `workflowOutput`
/// the Terminate task's input, in `outputPath` the task's output, elsewhere the task's input.
fn read_by(path: &str, pointer: &str) -> &'static str {
    if path.starts_with("$$.Execution.Input") || path.starts_with("$$['Execution']['Input']") {
        return "the workflow input ($$.Execution.Input)";
    }
    if path.starts_with("$$") {
        return "the context object ($$)";
    }
    if pointer.starts_with("/resultSelector") {
        "the task's response (its result: statusCode, headers, body, outcome, …)"
    } else if pointer.starts_with("/workflowOutput") {
        "the Terminate task's input"
    } else if pointer.starts_with("/outputPath") {
        "the task's output"
    } else if pointer.starts_with("/inputParameters") {
        "the task's input (what the previous task passed on; the workflow input for a start task)"
    } else {
        "the task's input"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_value_names_what_was_read() {
        let missing = |path: &str, at: &str| {
            TaskError::unresolved(Unresolved::Missing(path.to_owned()), at).message
        };
        assert!(
            missing("$$.Execution.Input.quantity", "/httpRequest/body")
                .contains("names no value in the workflow input")
        );
        assert!(missing("$.body.details[0]", "/resultSelector").contains("in the task's response"));
        assert!(missing("$.quantity", "/httpRequest/body").contains("in the task's input"));
    }

    #[test]
    fn codes_serialize_as_their_text_and_parse_back() {
        for code in [
            ErrorCode::InvalidRequest,
            ErrorCode::UsageLimitExceeded,
            ErrorCode::Condition,
            ErrorCode::other("MY_WORKER_FAILED"),
        ] {
            let text = serde_json::to_value(&code).unwrap();
            assert_eq!(text, serde_json::json!(code.as_str()));
            assert_eq!(ErrorCode::parse(code.as_str()), code);
        }
        assert_eq!(ErrorCode::MissingCredentials, "MISSING_CREDENTIALS");
    }
}
