//! Diagnostics: what is wrong, where (file, task, pointer, line, column), and how to fix it.
//!
//! Policy: codes are a closed set ([`Code`]), stable and part of the CLI contract (`E-…`
//! errors, `W-…` warnings, `N-…` notes: the prefix is the severity); messages say what was
//! expected and what was found; text output reads like a compiler's and shows the offending
//! line. [`locate`] maps pointers to lines and columns.

pub mod locate;

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Declares [`Code`] with its text; the severity follows from the prefix.
macro_rules! codes {
    ($($(#[$meta:meta])* $name:ident = $text:literal,)*) => {
        /// A diagnostic's stable code; serialized as its text (`E-SCHEMA`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Code {
            $($(#[$meta])* $name,)*
        }

        impl Code {
            /// Every code.
            pub const ALL: &[Code] = &[$(Code::$name,)*];

            /// The code as written in output and docs.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Code::$name => $text,)*
                }
            }
        }
    };
}

codes! {
    /// File over the size limit.
    TooLarge = "E-TOO-LARGE",
    /// Not UTF-8.
    Utf8 = "E-UTF8",
    /// Invalid JSON (or nested too deep).
    Json = "E-JSON",
    /// The root is not an object.
    Root = "E-ROOT",
    /// A required field is missing.
    Required = "E-REQUIRED",
    /// A value of the wrong JSON type.
    Type = "E-TYPE",
    /// A key the model does not have.
    UnknownField = "E-UNKNOWN-FIELD",
    /// A number outside its range.
    Range = "E-RANGE",
    /// Missing or unknown task type.
    TaskType = "E-TASK-TYPE",
    /// `startTask` names no task of its scope.
    StartMissing = "E-START-MISSING",
    /// A transition names no task of its scope.
    NextMissing = "E-NEXT-MISSING",
    /// Both `nextTask` and `end`.
    NextAndEnd = "E-NEXT-AND-END",
    /// Neither `nextTask` nor `end`.
    NoNext = "E-NO-NEXT",
    /// A Terminate task with `nextTask` or `end`.
    TerminateNext = "E-TERMINATE-NEXT",
    /// `end` on a Parallel or Decision.
    EndNotAllowed = "E-END-NOT-ALLOWED",
    /// A Decision condition outside the language.
    Condition = "E-CONDITION",
    /// A task name of the wrong length.
    NameLength = "E-NAME-LENGTH",
    /// A task name used twice.
    NameDuplicate = "E-NAME-DUPLICATE",
    /// A key repeated in one object.
    DuplicateKey = "E-DUPLICATE-KEY",
    /// No path reaches an end.
    NoEnd = "E-NO-END",
    /// A malformed placeholder.
    Placeholder = "E-PLACEHOLDER",
    /// A JSONata expression that does not parse.
    Jsonata = "E-JSONATA",
    /// An unsupported HTTP method.
    Method = "E-METHOD",
    /// A URL that is not http(s).
    Url = "E-URL",
    /// A URL on a catalog host whose path no endpoint has (a typo).
    UnknownPath = "E-UNKNOWN-PATH",
    /// A literal that fails the endpoint's Http task schema.
    Schema = "E-SCHEMA",
    /// A literal number with more decimals than its field allows (checked exactly; the
    /// published schemas state this rule as a `$comment` only).
    Decimals = "E-DECIMALS",
    /// A catalog task without credentials or an auth header.
    Auth = "E-AUTH",
    /// With an input: the prepared request fails the request schema or a vendor rule.
    Request = "E-REQUEST",
    /// With an input: a placeholder names nothing.
    InputMissing = "E-INPUT-MISSING",
    /// With an input: the workflow input fails the definition's `inputSchema`.
    InputSchema = "E-INPUT-SCHEMA",
    /// Before a run: a task's `credentials` id resolves to no usable credential.
    Credentials = "E-CREDENTIALS",
    /// A resume with an edited definition would change a completed task's request.
    RequestChanged = "E-REQUEST-CHANGED",
    /// Before a run (`run`, `resume`): a Simple task the input leads the run to, with no
    /// handler in this runtime.
    NoHandler = "E-NO-HANDLER",
    /// A placeholder that can name nothing the data reaching it can hold.
    Data = "E-DATA",
    /// A task no path reaches.
    Unreachable = "W-UNREACHABLE",
    /// A JSONata expression reads a name the data reaching it can never hold (JSONata yields
    /// nothing there rather than failing).
    JsonataData = "W-JSONATA-DATA",
    /// A JSONata expression calls `$now()`, `$millis()`, `$random()` or `$uuid()`: wherever
    /// that call is evaluated, the task fails (`UNSTABLE`).
    Unstable = "W-UNSTABLE",
    /// A literal secret in a header.
    Secret = "W-SECRET",
    /// A URL outside the catalog.
    UnknownUrl = "N-UNKNOWN-URL",
    /// A check that has to wait for run time.
    RuntimeSkipped = "N-RUNTIME-SKIPPED",
    /// With an input: an Http task the run does not reach.
    NotReached = "N-NOT-REACHED",
}

impl Code {
    /// The severity the code's prefix states.
    pub const fn severity(self) -> Severity {
        match self.as_str().as_bytes()[0] {
            b'E' => Severity::Error,
            b'W' => Severity::Warning,
            _ => Severity::Note,
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Code {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Code {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Code::ALL
            .iter()
            .copied()
            .find(|c| c.as_str() == text)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown diagnostic code {text}")))
    }
}

impl PartialEq<&str> for Code {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// How serious a diagnostic is. Only errors make a definition invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The definition (or request) is invalid.
    Error,
    /// Likely a mistake; the definition is still valid.
    Warning,
    /// Information (e.g. a URL outside the catalog).
    Note,
}

impl Severity {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        }
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostic {
    /// The file (empty for a request validated on its own).
    pub file: String,
    /// Task name, when the finding belongs to a task.
    pub task: Option<String>,
    /// Catalog endpoint id, when the task matched one.
    pub endpoint: Option<String>,
    /// RFC 6901 pointer inside the file (or inside the request body for `validate_request`).
    pub pointer: String,
    /// 1-based line in the file, when known.
    pub line: Option<usize>,
    /// 1-based column in the file, when known.
    pub column: Option<usize>,
    /// Severity.
    pub severity: Severity,
    /// Stable code, e.g. `E-SCHEMA`, `E-NEXT-MISSING`.
    pub code: Code,
    /// What is wrong: expected vs found.
    pub message: String,
    /// How to fix it, when we can tell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Diagnostic {
    /// A new diagnostic without position (filled in later from the pointer); the severity is
    /// the code's.
    pub fn new(code: Code, pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic {
            file: String::new(),
            task: None,
            endpoint: None,
            pointer: pointer.into(),
            line: None,
            column: None,
            severity: code.severity(),
            code,
            message: message.into(),
            hint: None,
        }
    }

    /// Sets the task.
    pub fn task(mut self, task: &str) -> Self {
        self.task = Some(task.to_owned());
        self
    }

    /// Sets the endpoint.
    pub fn endpoint(mut self, endpoint: Option<&str>) -> Self {
        self.endpoint = endpoint.map(str::to_owned);
        self
    }

    /// Sets the hint.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Renders like a compiler: `file:line:col: error[CODE]: message`, then the source line
    /// with a caret, then the hint. `source` is the file's text, if available.
    pub fn render(&self, source: Option<&str>) -> String {
        let location = match (self.line, self.column) {
            (Some(l), Some(c)) => format!("{}:{l}:{c}", self.file),
            _ => self.file.clone(),
        };
        let task = self
            .task
            .as_ref()
            .map(|t| format!("task `{t}`: "))
            .unwrap_or_default();
        let mut out = format!(
            "{location}: {}[{}]: {task}{}\n",
            self.severity.as_str(),
            self.code,
            self.message
        );
        if let (Some(text), Some(line), Some(col)) = (source, self.line, self.column)
            && let Some(src) = text.lines().nth(line - 1)
        {
            let shown: String = src.chars().take(200).collect();
            let gutter = line.to_string().len();
            out.push_str(&format!(
                "{:gutter$} |\n{line} | {shown}\n{:gutter$} | {}^\n",
                "",
                "",
                " ".repeat(col.saturating_sub(1).min(200))
            ));
        }
        if !self.pointer.is_empty() {
            out.push_str(&format!("  = at {}\n", self.pointer));
        }
        if let Some(hint) = &self.hint {
            out.push_str(&format!("  = hint: {hint}\n"));
        }
        out
    }
}
