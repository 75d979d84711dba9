//! Request handling: fault injection, reading the body (bounded in size and time), dispatch by
//! vendor and admin reads; [`crate::listener`] runs it for each request.
//!
//! It is the top of the request path: it parses a [`Call`] and hands it to a vendor module; the
//! shared state ([`App`]) and request type live below both, so no vendor module imports it.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request};
use axum::response::Response;
use serde_json::{Value, json};

use crate::app::{App, RequestRecord, lock, unix_ms};
use crate::auth::{self, REBILLY, SOLVIMON};
use crate::call::{Call, parse_query};
use crate::connections::Conn;
use crate::faults::Fault;
use crate::ratelimit::Verdict;
use crate::respond::{Problem, SolvimonError, json_response};
use crate::{rebilly, respond, solvimon};

/// Largest request body accepted (1 MiB); larger gets 413.
pub const MAX_BODY: usize = 1024 * 1024;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Vendor {
    Solvimon,
    Rebilly,
}

fn vendor_of(path: &str) -> Vendor {
    let p = path.trim_start_matches('/');
    if p.starts_with("usages") || p.starts_with("organizations/") {
        Vendor::Rebilly
    } else {
        Vendor::Solvimon
    }
}

fn injected(app: &App, vendor: Vendor, fault: Fault, path: &str) -> Response {
    let wait = app.faults.retry_after_secs;
    match (vendor, fault) {
        (Vendor::Solvimon, Fault::Unavailable) => SolvimonError {
            kind: "API_ERROR",
            ..SolvimonError::invalid(
                503,
                "INTERNAL_ERROR",
                "The service is temporarily unavailable (injected fault)",
            )
        }
        .response(&app.request_id()),
        (Vendor::Solvimon, _) => SolvimonError {
            headers: vec![("retry-after", wait.to_string())],
            ..SolvimonError::invalid(429, "BAD_REQUEST", "Too many requests (injected fault)")
        }
        .response(&app.request_id()),
        (Vendor::Rebilly, Fault::Unavailable) => Problem::new(
            503,
            "Service Unavailable",
            "The service is temporarily unavailable (injected fault)",
        )
        .response(path),
        (Vendor::Rebilly, _) => {
            let at = chrono::Utc::now().timestamp() + i64::try_from(wait).unwrap_or(1);
            Problem {
                headers: vec![("x-ratelimit-retry-after", at.to_string()), ("x-ratelimit-limit", "3000".into()), ("x-ratelimit-remaining", "0".into())],
                ..Problem::new(429, "Rate Limit Exceeded", "A request cannot be executed because the user has sent too many requests within a certain period of time")
            }
            .response(path)
        }
    }
}

/// The rate limit's verdict on a write with a known key (`None`: not counted).
fn rate_verdict(app: &App, vendor: Vendor, req: &Request<Body>) -> Option<Verdict> {
    let limit = app.rate_limit.as_ref()?;
    if req.method() == Method::GET {
        return None;
    }
    let key_header = match vendor {
        Vendor::Solvimon => SOLVIMON.key_header,
        Vendor::Rebilly => REBILLY.key_header,
    };
    let presented = auth::presented(req.headers(), key_header)?;
    let key = app
        .fixture
        .keys
        .iter()
        .position(|k| auth::constant_time_eq(k.key.as_bytes(), presented.as_bytes()))?;
    Some(limit.take(key, std::time::Instant::now()))
}

/// The 429 of a write over the rate limit, in the vendor's format and headers.
fn over_limit(app: &App, vendor: Vendor, verdict: &Verdict, path: &str) -> Response {
    match vendor {
        Vendor::Solvimon => SolvimonError {
            headers: vec![("retry-after", verdict.retry_after_secs().to_string())],
            ..SolvimonError::invalid(429, "BAD_REQUEST", "Too many requests")
        }
        .response(&app.request_id()),
        Vendor::Rebilly => Problem {
            headers: verdict.rebilly_headers(unix_ms()),
            ..Problem::new(429, "Rate Limit Exceeded", "A request cannot be executed because the user has sent too many requests within a certain period of time")
        }
        .response(path),
    }
}

fn admin(app: &App, path: &str) -> Response {
    match path {
        "/_sandbox/faults" => {
            let log = app.injected_faults();
            json_response(200, &serde_json::to_value(log).expect("serializes"), &[])
        }
        "/_sandbox/requests" => match &app.request_log {
            Some(log) => json_response(
                200,
                &serde_json::to_value(&*lock(log)).expect("serializes"),
                &[],
            ),
            None => json_response(404, &json!({"message": "request recording is off"}), &[]),
        },
        // A handler that panics while holding the store lock, for the test that the lock
        // recovers (`listener` tests); not compiled into the sandbox.
        #[cfg(test)]
        "/_sandbox/panic" => {
            let _store = app.store();
            panic!("a request handler panicked while holding the store lock");
        }
        "/_sandbox/stats" => {
            let store = app.store();
            let mut counts: serde_json::Map<String, Value> = store
                .records
                .iter()
                .map(|(k, v)| (k.clone(), json!(v.len())))
                .collect();
            counts.insert("duplicates".into(), json!(store.duplicates.len()));
            counts.insert("usages".into(), json!(store.usages().len()));
            if app.rate_limit.is_some() {
                counts.insert("rateLimited".into(), json!(app.rate_limited()));
            }
            json_response(200, &Value::Object(counts), &[])
        }
        _ => json_response(
            404,
            &json!({"message": "unknown sandbox path; try /_sandbox/faults or /_sandbox/stats"}),
            &[],
        ),
    }
}

/// Handles one request.
pub async fn handle(app: Arc<App>, conn: Arc<Conn>, req: Request<Body>) -> Response {
    let path = req.uri().path().to_owned();
    if path.starts_with("/_sandbox/") {
        return admin(&app, &path);
    }
    let vendor = vendor_of(&path);
    let verdict = rate_verdict(&app, vendor, &req);
    let at_ms = unix_ms();
    let method = req.method().to_string();
    let key_identity = req
        .headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let over = verdict.filter(|v| !v.allowed);
    // A write over the limit is refused before anything else (no fault is drawn for it).
    let fault = match over {
        Some(_) => None,
        None => app.draw_fault(&method, &path),
    };
    if over.is_none() && !app.faults.delay.is_zero() && app.faults.applies_to(&path) {
        tokio::time::sleep(app.faults.delay).await;
    }
    let record = |identity: Option<String>,
                  status: Option<u16>,
                  retry_not_before_ms: Option<u64>| RequestRecord {
        at_ms,
        method: method.clone(),
        path: path.clone(),
        identity,
        status,
        fault,
        retry_not_before_ms,
    };
    let refusal = match (over, fault) {
        (Some(v), _) => {
            app.count_rate_limited();
            Some(over_limit(&app, vendor, &v, &path))
        }
        (None, Some(f @ (Fault::Unavailable | Fault::RateLimited))) => {
            Some(injected(&app, vendor, f, &path))
        }
        _ => None,
    };
    match (refusal, fault) {
        (Some(response), _) => {
            if app.request_log.is_some() {
                let until = {
                    let header = |name: &str| {
                        response
                            .headers()
                            .get(name)
                            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
                    };
                    header("retry-after")
                        .map(|s| unix_ms() + s * 1000)
                        .or_else(|| header("x-ratelimit-retry-after").map(|e| e * 1000))
                };
                let status = response.status().as_u16();
                let identity = match key_identity.clone() {
                    Some(i) => Some(i),
                    None => rebilly_identity(&method, req.into_body(), &conn).await,
                };
                app.record(record(identity, Some(status), until));
            }
            return response;
        }
        (None, Some(Fault::Reset)) => {
            if app.request_log.is_some() {
                let identity = match key_identity.clone() {
                    Some(i) => Some(i),
                    None => rebilly_identity(&method, req.into_body(), &conn).await,
                };
                app.record(record(identity, None, None));
            }
            conn.drop_connection(true);
            return std::future::pending().await;
        }
        _ => {}
    }
    let host = req
        .headers()
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_owned();
    let (parts, body) = req.into_parts();
    let timeout = conn.body_timeout();
    let body = match tokio::time::timeout(timeout, axum::body::to_bytes(body, MAX_BODY)).await {
        Ok(Ok(body)) => body,
        failed => {
            let (status, title, message) = match failed {
                Err(_) => (
                    408,
                    "Request Timeout",
                    format!("the request body did not arrive within {timeout:?}"),
                ),
                _ => (
                    413,
                    "Payload Too Large",
                    format!("request body over {MAX_BODY} bytes"),
                ),
            };
            return match vendor {
                Vendor::Solvimon => SolvimonError::invalid(status, "BAD_REQUEST", message)
                    .response(&app.request_id()),
                Vendor::Rebilly => Problem::new(status, title, message).response(&path),
            };
        }
    };
    let call = Call {
        method: parts.method,
        query: parse_query(parts.uri.query()),
        path: path.clone(),
        headers: parts.headers,
        body,
        base: format!("http://{host}"),
    };
    let mut response = match vendor {
        Vendor::Solvimon => solvimon::handle(&app, &call),
        Vendor::Rebilly => rebilly::handle(&app, &call),
    };
    if let (Some(v), Vendor::Rebilly) = (verdict, vendor) {
        respond::add_headers(response.headers_mut(), &v.rebilly_headers(unix_ms()));
    }
    if app.request_log.is_some() {
        let identity = key_identity.or_else(|| body_identity(&call.method, &call.body));
        let status = match fault {
            Some(Fault::LostResponse) => None,
            Some(Fault::GatewayTimeout) => Some(504),
            _ => Some(response.status().as_u16()),
        };
        app.record(record(identity, status, None));
    }
    match fault {
        Some(Fault::LostResponse) => {
            // The write is committed; the client never hears about it.
            conn.drop_connection(false);
            std::future::pending().await
        }
        // The write is committed; the client hears only that the gateway gave up on it.
        Some(Fault::GatewayTimeout) => gateway_timeout(&app, vendor, &path),
        _ => response,
    }
}

/// A 504 in the vendor's error format, as the `504` fault answers after processing.
fn gateway_timeout(app: &App, vendor: Vendor, path: &str) -> Response {
    const MESSAGE: &str = "The gateway timed out waiting for the service (injected fault)";
    match vendor {
        Vendor::Solvimon => SolvimonError {
            kind: "API_ERROR",
            ..SolvimonError::invalid(504, "GATEWAY_TIMEOUT", MESSAGE)
        }
        .response(&app.request_id()),
        Vendor::Rebilly => Problem::new(504, "Gateway Timeout", MESSAGE).response(path),
    }
}

/// `subscriptionId|usageTime` of a Rebilly usage POST body.
fn body_identity(method: &Method, body: &[u8]) -> Option<String> {
    if method != Method::POST {
        return None;
    }
    let v: Value = serde_json::from_slice(body).ok()?;
    Some(format!(
        "{}|{}",
        v.get("subscriptionId")?.as_str()?,
        v.get("usageTime")
            .and_then(Value::as_str)
            .unwrap_or_default()
    ))
}

/// [`body_identity`] of a body still to be read (within the connection's body timeout).
async fn rebilly_identity(method: &str, body: Body, conn: &Conn) -> Option<String> {
    let read = axum::body::to_bytes(body, MAX_BODY);
    let bytes = tokio::time::timeout(conn.body_timeout(), read)
        .await
        .ok()?
        .ok()?;
    body_identity(&Method::from_bytes(method.as_bytes()).ok()?, &bytes)
}
