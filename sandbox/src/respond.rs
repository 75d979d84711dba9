//! Answers in each vendor's format: Solvimon `ApiError` JSON, Rebilly RFC 9457 problems.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// A JSON answer with a status and extra headers.
pub fn json_response(status: u16, body: &Value, extra: &[(&str, String)]) -> Response {
    let mut response = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        axum::Json(body.clone()),
    )
        .into_response();
    add_headers(response.headers_mut(), extra);
    response
}

/// Inserts `extra` into `headers` (pairs that are not valid header names or values are left out).
pub fn add_headers(headers: &mut HeaderMap, extra: &[(&str, String)]) {
    for (name, value) in extra {
        if let (Ok(n), Ok(v)) = (
            header::HeaderName::try_from(*name),
            HeaderValue::from_str(value),
        ) {
            headers.insert(n, v);
        }
    }
}

/// A Solvimon `ApiError`: `{type, code, field?, message, resource_type?, resource_id?}`.
#[derive(Debug, Clone)]
pub struct SolvimonError {
    /// HTTP status.
    pub status: u16,
    /// `INVALID_REQUEST` or `API_ERROR`.
    pub kind: &'static str,
    /// Error code, e.g. `INVALID_FIELD`.
    pub code: &'static str,
    /// Dotted path of the bad field.
    pub field: Option<String>,
    /// Human text.
    pub message: String,
    /// Resource type (e.g. `PERSIST_DATA`) and id, for conflicts.
    pub resource: Option<(&'static str, String)>,
    /// Extra headers (e.g. `Retry-After`).
    pub headers: Vec<(&'static str, String)>,
}

impl SolvimonError {
    /// An `INVALID_REQUEST` error.
    pub fn invalid(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        SolvimonError {
            status,
            kind: "INVALID_REQUEST",
            code,
            field: None,
            message: message.into(),
            resource: None,
            headers: vec![],
        }
    }

    /// Sets the field.
    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// The response.
    pub fn response(&self, request_id: &str) -> Response {
        let mut body = json!({ "type": self.kind, "code": self.code, "message": self.message });
        if let Some(f) = &self.field {
            body["field"] = json!(f);
        }
        if let Some((t, id)) = &self.resource {
            body["resource_type"] = json!(t);
            body["resource_id"] = json!(id);
        }
        let mut headers: Vec<(&str, String)> = self.headers.clone();
        headers.push(("x-request-id", request_id.to_owned()));
        json_response(self.status, &body, &headers)
    }
}

/// A Rebilly problem (`application/problem+json`).
#[derive(Debug, Clone)]
pub struct Problem {
    /// HTTP status.
    pub status: u16,
    /// Short title.
    pub title: &'static str,
    /// Details.
    pub detail: String,
    /// `invalidFields` for 422.
    pub invalid_fields: Vec<(String, String)>,
    /// Extra headers.
    pub headers: Vec<(&'static str, String)>,
}

impl Problem {
    /// A problem without invalid fields.
    pub fn new(status: u16, title: &'static str, detail: impl Into<String>) -> Self {
        Problem {
            status,
            title,
            detail: detail.into(),
            invalid_fields: vec![],
            headers: vec![],
        }
    }

    /// The response; `instance` is the request path.
    pub fn response(&self, instance: &str) -> Response {
        let mut body = json!({ "type": "about:blank", "title": self.title, "status": self.status, "detail": self.detail, "instance": instance });
        if !self.invalid_fields.is_empty() {
            body["invalidFields"] = Value::Array(
                self.invalid_fields
                    .iter()
                    .map(|(f, m)| json!({ "field": f, "message": m }))
                    .collect(),
            );
        }
        let mut response = json_response(self.status, &body, &self.headers);
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        response
    }
}
