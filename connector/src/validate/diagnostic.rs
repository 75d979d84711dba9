//! Diagnostics: what is wrong, where (file, task, pointer, line, column), and how to fix it.
//!
//! Policy: codes are stable (`E-…` errors, `W-…` warnings, `N-…` notes) and part of the CLI
//! contract; messages say what was expected and what was found; text output reads like a
//! compiler's and shows the offending line.

use serde::Serialize;

/// How serious a diagnostic is. Only errors make a definition invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
    pub code: String,
    /// What is wrong: expected vs found.
    pub message: String,
    /// How to fix it, when we can tell.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Diagnostic {
    /// A new diagnostic without position (filled in later from the pointer).
    pub fn new(
        severity: Severity,
        code: &str,
        pointer: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            file: String::new(),
            task: None,
            endpoint: None,
            pointer: pointer.into(),
            line: None,
            column: None,
            severity,
            code: code.to_owned(),
            message: message.into(),
            hint: None,
        }
    }

    /// An error.
    pub fn error(code: &str, pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(Severity::Error, code, pointer, message)
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
