//! A parsed request as the vendor handlers see it: method, path, percent-decoded query, headers,
//! the whole body and the base URL the client addressed.
//!
//! Policy: decoding never fails. A malformed `%` escape stays as written, `+` is a space, and
//! invalid UTF-8 becomes U+FFFD; the handlers then reject bad values with the vendor's error.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method};

/// A parsed request.
pub struct Call {
    /// Method.
    pub method: Method,
    /// Path (no query).
    pub path: String,
    /// Query pairs, percent-decoded.
    pub query: HashMap<String, String>,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
    /// `http://host:port` as the client addressed it.
    pub base: String,
}

impl Call {
    /// Whether the body is declared as JSON.
    pub fn is_json(&self) -> bool {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or(())
                {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The pairs of a query string (`a=1&b=x%3Ay`), percent-decoded; a key without `=` maps to
/// `""`, empty pairs are skipped, and a repeated key keeps its last value.
pub fn parse_query(query: Option<&str>) -> HashMap<String, String> {
    query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_pairs_are_percent_decoded() {
        let q = parse_query(Some(
            "filter=subscriptionId%3Asub_1%3BusageTime%3A2025-05-01T12%3A00%3A00Z&a+b=c+d&flag&&x=1&x=2",
        ));
        assert_eq!(
            q["filter"],
            "subscriptionId:sub_1;usageTime:2025-05-01T12:00:00Z"
        );
        assert_eq!(q["a b"], "c d");
        assert_eq!(q["flag"], "");
        assert_eq!(q["x"], "2", "a repeated key keeps its last value");
        assert_eq!(q.len(), 4, "empty pairs are skipped: {q:?}");
        assert!(parse_query(None).is_empty());
    }

    #[test]
    fn malformed_escapes_stay_as_written() {
        let q = parse_query(Some("a=%zz&b=100%&c=%4&d=%C3%A9&e=%FF"));
        assert_eq!(
            (q["a"].as_str(), q["b"].as_str(), q["c"].as_str()),
            ("%zz", "100%", "%4")
        );
        assert_eq!(q["d"], "é");
        assert_eq!(q["e"], "\u{FFFD}", "invalid UTF-8 is replaced");
    }
}
