//! API-key authentication and permissions: the vendor's key header or `Authorization: Bearer`;
//! keys compared in constant time (every key is compared in full, whatever matches).
//!
//! Policy: which permission each vendor's requests need is stated here once ([`SOLVIMON`],
//! [`REBILLY`]): a POST needs the write permission, a DELETE the delete permission where the
//! vendor has one, anything else the read permission. Solvimon's names are its own; Rebilly
//! publishes none, so its names are ours (`docs/sandbox.md`).

use axum::http::{HeaderMap, Method};

use crate::fixture::ApiKey;

/// Why a request is not authenticated or not allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthError {
    /// No key header and no bearer token.
    Missing,
    /// A key the sandbox does not know.
    Unknown,
    /// A known key without this permission.
    Forbidden(&'static str),
}

/// How one vendor's requests are authenticated and what each kind needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VendorAuth {
    /// Lower-case vendor name, as the connector's catalog spells it.
    pub vendor: &'static str,
    /// The header carrying the key (lower case); a bearer token works too.
    pub key_header: &'static str,
    /// Needed by every POST.
    pub write: &'static str,
    /// Needed by every request that is neither a POST nor a delete.
    pub read: &'static str,
    /// Needed by a DELETE, when the vendor has deletes (else DELETE needs `read`).
    pub delete: Option<&'static str>,
}

/// Solvimon: `X-API-KEY`; `METER_DATA.INGEST` to write, `METER_DATA.VIEW` to read.
pub const SOLVIMON: VendorAuth = VendorAuth {
    vendor: "solvimon",
    key_header: "x-api-key",
    write: "METER_DATA.INGEST",
    read: "METER_DATA.VIEW",
    delete: None,
};

/// Rebilly: `REB-APIKEY`; `USAGES.CREATE`, `USAGES.VIEW`, `USAGES.DELETE`.
pub const REBILLY: VendorAuth = VendorAuth {
    vendor: "rebilly",
    key_header: "reb-apikey",
    write: "USAGES.CREATE",
    read: "USAGES.VIEW",
    delete: Some("USAGES.DELETE"),
};

impl VendorAuth {
    /// The vendor called `name` (`solvimon`, `rebilly`; exact, lower case), else `None`.
    pub fn named(name: &str) -> Option<VendorAuth> {
        [SOLVIMON, REBILLY].into_iter().find(|v| v.vendor == name)
    }

    /// The permission a request with `method` needs.
    pub fn needed(&self, method: &Method) -> &'static str {
        match *method {
            Method::POST => self.write,
            Method::DELETE => self.delete.unwrap_or(self.read),
            _ => self.read,
        }
    }

    /// The key presented in `headers`, if it holds what `method` needs.
    pub fn authorize<'k>(
        &self,
        keys: &'k [ApiKey],
        headers: &HeaderMap,
        method: &Method,
    ) -> Result<&'k ApiKey, AuthError> {
        let key = authenticate(keys, headers, self.key_header)?;
        let needed = self.needed(method);
        if key.holds(needed) {
            Ok(key)
        } else {
            Err(AuthError::Forbidden(needed))
        }
    }
}

/// Of the keys holding every one of `permissions`, the one with the fewest permissions in all
/// (ties: the first in `keys`); `None` when no key holds them all.
pub fn least_privileged<'k>(keys: &'k [ApiKey], permissions: &[&str]) -> Option<&'k ApiKey> {
    keys.iter()
        .filter(|k| permissions.iter().all(|p| k.holds(p)))
        .min_by_key(|k| k.permissions.len())
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

    fn key(name: &str, permissions: &[&str]) -> ApiKey {
        ApiKey {
            key: name.into(),
            permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
        }
    }

    #[test]
    fn each_method_needs_its_permission() {
        let keys = [
            key("ingest", &["METER_DATA.INGEST"]),
            key("view", &["METER_DATA.VIEW", "USAGES.VIEW"]),
        ];
        let headers = |k: &str| {
            let mut h = HeaderMap::new();
            h.insert("authorization", format!("Bearer {k}").parse().unwrap());
            h
        };
        let ok = |v: VendorAuth, k: &str, m: Method| v.authorize(&keys, &headers(k), &m);
        assert_eq!(ok(SOLVIMON, "ingest", Method::POST).unwrap().key, "ingest");
        assert_eq!(
            ok(SOLVIMON, "ingest", Method::GET).unwrap_err(),
            AuthError::Forbidden("METER_DATA.VIEW")
        );
        assert_eq!(ok(SOLVIMON, "view", Method::GET).unwrap().key, "view");
        assert_eq!(
            ok(SOLVIMON, "view", Method::DELETE).unwrap().key,
            "view",
            "Solvimon has no deletes: DELETE needs read (and then finds no route)"
        );
        assert_eq!(
            ok(REBILLY, "view", Method::POST).unwrap_err(),
            AuthError::Forbidden("USAGES.CREATE")
        );
        assert_eq!(
            ok(REBILLY, "view", Method::DELETE).unwrap_err(),
            AuthError::Forbidden("USAGES.DELETE")
        );
        assert_eq!(
            ok(REBILLY, "nope", Method::GET).unwrap_err(),
            AuthError::Unknown
        );
    }

    #[test]
    fn vendors_are_found_by_their_catalog_name() {
        assert_eq!(VendorAuth::named("solvimon"), Some(SOLVIMON));
        assert_eq!(VendorAuth::named("rebilly"), Some(REBILLY));
        assert_eq!(VendorAuth::named("Rebilly"), None);
        assert_eq!(VendorAuth::named("stripe"), None);
    }

    #[test]
    fn the_least_privileged_key_holding_everything_asked_wins() {
        let keys = [
            key("all", &["A", "B", "C"]),
            key("ab", &["A", "B"]),
            key("b1", &["B"]),
            key("b2", &["B"]),
        ];
        let pick = |p: &[&str]| least_privileged(&keys, p).map(|k| k.key.as_str());
        assert_eq!(pick(&["A"]), Some("ab"));
        assert_eq!(pick(&["C"]), Some("all"));
        assert_eq!(pick(&["B"]), Some("b1"), "ties go to the first key");
        assert_eq!(pick(&["A", "B", "C"]), Some("all"));
        assert_eq!(pick(&["D"]), None);
        assert_eq!(pick(&["A", "D"]), None);
        assert_eq!(
            pick(&[]),
            Some("b1"),
            "no permission asked: the smallest key"
        );
    }
}
