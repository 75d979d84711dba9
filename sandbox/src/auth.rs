//! API-key authentication: the vendor's key header or `Authorization: Bearer`; keys compared in
//! constant time (every key is compared in full, whatever matches).

use axum::http::HeaderMap;

use crate::fixture::ApiKey;

/// Why a request is not authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthError {
    /// No key header and no bearer token.
    Missing,
    /// A key the sandbox does not know.
    Unknown,
}

/// Compares two byte strings without an early exit on the first difference.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        diff |= usize::from(a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0));
    }
    diff == 0
}

/// The presented secret: `key_header`'s value, else the bearer token.
pub fn presented<'h>(headers: &'h HeaderMap, key_header: &str) -> Option<&'h str> {
    if let Some(v) = headers.get(key_header).and_then(|v| v.to_str().ok()) {
        return Some(v.trim());
    }
    let auth = headers.get("authorization")?.to_str().ok()?;
    let (scheme, token) = auth.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Finds the key presented in `headers`.
pub fn authenticate<'k>(
    keys: &'k [ApiKey],
    headers: &HeaderMap,
    key_header: &str,
) -> Result<&'k ApiKey, AuthError> {
    let secret = presented(headers, key_header)
        .filter(|s| !s.is_empty())
        .ok_or(AuthError::Missing)?;
    let mut found = None;
    for key in keys {
        if constant_time_eq(key.key.as_bytes(), secret.as_bytes()) && found.is_none() {
            found = Some(key);
        }
    }
    found.ok_or(AuthError::Unknown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_in_full() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
    }

    #[test]
    fn reads_the_vendor_header_or_a_bearer_token() {
        let keys = vec![ApiKey {
            key: "k1".into(),
            permissions: vec![],
        }];
        let mut h = HeaderMap::new();
        assert_eq!(
            authenticate(&keys, &h, "x-api-key").unwrap_err(),
            AuthError::Missing
        );
        h.insert("authorization", "Bearer k1".parse().unwrap());
        assert_eq!(authenticate(&keys, &h, "x-api-key").unwrap().key, "k1");
        h.insert("x-api-key", "nope".parse().unwrap());
        assert_eq!(
            authenticate(&keys, &h, "x-api-key").unwrap_err(),
            AuthError::Unknown
        );
    }
}
