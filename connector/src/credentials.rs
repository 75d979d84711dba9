//! Credentials: ids resolved to an auth header and a secret, never stored in definitions.
//!
//! Policy: a credentials file maps ids to `{header, env, prefix?, platformId?}`, and may name
//! more secret headers under `sensitiveHeaders`; the secret is read from the named environment
//! variable by the caller (the library never reads the environment itself) and held in a
//! [`Secret`] that prints as `***`. Every header a credential fills, every header in
//! [`SECRET_HEADERS`] and every header named sensitive is shown as `***` everywhere but on the
//! wire.

use std::collections::BTreeMap;
use std::fmt;

use crate::catalog::Vendor;
use serde::Deserialize;

/// Header names whose values are secrets: never shown in output, logs, traces or dry runs, and
/// a literal value in a definition is a warning (`W-SECRET`).
pub const SECRET_HEADERS: [&str; 6] = [
    "authorization",
    "x-api-key",
    "reb-apikey",
    "api-key",
    "apikey",
    "x-auth-token",
];

/// `url` with any user-info replaced (`https://user:pass@host` → `https://***@host`), for
/// messages, logs and traces; text that is not a URL with user-info is returned as it is.
pub fn redact_user_info(url: &str) -> std::borrow::Cow<'_, str> {
    let Some(scheme_end) = url.find("://") else {
        return url.into();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{}***{}", &url[..scheme_end + 3], &rest[at..]).into(),
        None => url.into(),
    }
}

/// A secret value. `Debug` and `Display` print `***`; only [`Secret::expose`] gives the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself: only for putting it on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// One entry of a credentials file, e.g.
/// `{"header": "X-API-KEY", "env": "SOLVIMON_API_KEY", "platformId": "plat_123"}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CredentialSpec {
    /// Header that carries the secret (`X-API-KEY`, `REB-APIKEY`, `Authorization`).
    pub header: String,
    /// Environment variable holding the secret.
    pub env: String,
    /// Text before the secret in the header (`Bearer `).
    #[serde(default)]
    pub prefix: Option<String>,
    /// Solvimon platform id, sent as `x-platform-id`.
    #[serde(default)]
    pub platform_id: Option<String>,
}

/// A usable credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    /// Header name.
    pub header: String,
    /// Header value (prefix included).
    pub value: Secret,
    /// Solvimon platform id.
    pub platform_id: Option<String>,
}

/// Credentials by id. An id whose environment variable was unset keeps the reason, reported
/// when a task uses it.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    entries: BTreeMap<String, Result<Credential, String>>,
    /// Ids that are a vendor's own key: sent to that vendor's endpoints and servers only.
    bound: BTreeMap<String, Vendor>,
    /// Header names (lower case) whose values are secret wherever they come from.
    sensitive: Vec<String>,
}

/// The key of a credentials file that names more secret headers, e.g.
/// `"sensitiveHeaders": ["X-Tenant-Token"]` (not a credentials id).
pub const SENSITIVE_HEADERS_KEY: &str = "sensitiveHeaders";

impl Credentials {
    /// No credentials.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses a credentials file (`{ID: CredentialSpec}`) and resolves each secret with `env`
    /// (the binary passes `std::env::var`).
    pub fn from_file_text(
        text: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, String> {
        let mut specs: BTreeMap<String, serde_json::Value> =
            serde_json::from_str(text).map_err(|e| format!("invalid credentials file: {e}"))?;
        let mut out = Credentials::new();
        if let Some(names) = specs.remove(SENSITIVE_HEADERS_KEY) {
            let names: Vec<String> = serde_json::from_value(names).map_err(|e| {
                format!("invalid credentials file: `{SENSITIVE_HEADERS_KEY}` is a list of header names: {e}")
            })?;
            out.sensitive = names.iter().map(|n| n.to_ascii_lowercase()).collect();
        }
        for (id, spec) in specs {
            let spec: CredentialSpec = serde_json::from_value(spec)
                .map_err(|e| format!("invalid credentials file: entry `{id}`: {e}"))?;
            let entry = match env(&spec.env) {
                Some(secret) if !secret.is_empty() => Ok(Credential {
                    header: spec.header,
                    value: Secret::new(format!("{}{secret}", spec.prefix.unwrap_or_default())),
                    platform_id: spec.platform_id,
                }),
                _ => Err(format!(
                    "credentials `{id}` read the secret from ${}, which is not set",
                    spec.env
                )),
            };
            out.entries.insert(id, entry);
        }
        Ok(out)
    }

    /// Also treats the headers named in `names` as secret (shown as `***`).
    pub fn add_sensitive_headers<'a>(&mut self, names: impl IntoIterator<Item = &'a str>) {
        self.sensitive
            .extend(names.into_iter().map(str::to_ascii_lowercase));
    }

    /// Header names (lower case) named secret besides [`SECRET_HEADERS`] and the credentials'
    /// own headers.
    pub fn sensitive_headers(&self) -> &[String] {
        &self.sensitive
    }

    /// Adds or replaces a credential (sent wherever its tasks' requests go).
    pub fn insert(&mut self, id: impl Into<String>, credential: Credential) {
        let id = id.into();
        self.bound.remove(&id);
        self.entries.insert(id, Ok(credential));
    }

    /// Adds or replaces a credential that is `vendor`'s own key (its API key variable, a
    /// sandbox's dev key): it is sent only to `vendor`'s endpoints and servers, wherever the task's
    /// URL comes from, and a request that goes anywhere else is refused
    /// ([`ErrorCode::MissingCredentials`](crate::output::ErrorCode)), never sent with it.
    pub fn insert_for(&mut self, id: impl Into<String>, credential: Credential, vendor: Vendor) {
        let id = id.into();
        self.bound.insert(id.clone(), vendor);
        self.entries.insert(id, Ok(credential));
    }

    /// The vendor whose endpoints and servers alone credential `id` goes to, if it is bound.
    pub fn bound_to(&self, id: &str) -> Option<Vendor> {
        self.bound.get(id).copied()
    }

    /// The credential with this id.
    pub fn get(&self, id: &str) -> Result<&Credential, String> {
        match self.entries.get(id) {
            Some(Ok(c)) => Ok(c),
            Some(Err(why)) => Err(why.clone()),
            None => Err(format!(
                "no credentials `{id}`; known: {}",
                if self.entries.is_empty() {
                    "none".to_owned()
                } else {
                    self.entries.keys().cloned().collect::<Vec<_>>().join(", ")
                }
            )),
        }
    }

    /// Whether an id is present (usable or not).
    pub fn contains(&self, id: &str) -> bool {
        self.entries.contains_key(id)
    }

    /// Every usable credential with its id.
    pub fn usable(&self) -> impl Iterator<Item = (&str, &Credential)> {
        self.entries
            .iter()
            .filter_map(|(id, e)| Some((id.as_str(), e.as_ref().ok()?)))
    }

    /// Every usable secret, for redaction.
    pub fn secrets(&self) -> impl Iterator<Item = &Secret> {
        self.entries
            .values()
            .filter_map(|e| e.as_ref().ok())
            .map(|c| &c.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_info_is_redacted() {
        assert_eq!(
            redact_user_info("http://admin:hunter2@127.0.0.1:9/usages?x=@"),
            "http://***@127.0.0.1:9/usages?x=@"
        );
        assert_eq!(redact_user_info("http://h/a@b"), "http://h/a@b");
        assert_eq!(redact_user_info("not a url"), "not a url");
    }

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("sk_live_123");
        assert_eq!(format!("{s} {s:?}"), "*** ***");
        let c = Credential {
            header: "X-API-KEY".into(),
            value: s,
            platform_id: None,
        };
        assert!(!format!("{c:?}").contains("sk_live_123"));
    }

    #[test]
    fn file_entries_resolve_from_the_environment() {
        let text = r#"{"sensitiveHeaders": ["X-Tenant-Token"],
                       "solvimon": {"header": "X-API-KEY", "env": "SV_KEY", "platformId": "plat_1"},
                       "rebilly": {"header": "Authorization", "env": "RB_KEY", "prefix": "Bearer "},
                       "unset": {"header": "X-API-KEY", "env": "NOPE"}}"#;
        let env = |name: &str| match name {
            "SV_KEY" => Some("k1".to_owned()),
            "RB_KEY" => Some("k2".to_owned()),
            _ => None,
        };
        let c = Credentials::from_file_text(text, env).unwrap();
        assert_eq!(c.sensitive_headers(), ["x-tenant-token"]);
        assert_eq!(c.get("solvimon").unwrap().value.expose(), "k1");
        assert_eq!(
            c.get("solvimon").unwrap().platform_id.as_deref(),
            Some("plat_1")
        );
        assert_eq!(c.get("rebilly").unwrap().value.expose(), "Bearer k2");
        assert!(
            c.get("unset")
                .unwrap_err()
                .contains("$NOPE, which is not set")
        );
        assert!(
            c.get("other")
                .unwrap_err()
                .contains("known: rebilly, solvimon, unset")
        );
        assert!(
            Credentials::from_file_text(
                r#"{"x": {"header": "h", "env": "e", "value": "inline"}}"#,
                env
            )
            .is_err()
        );
    }
}
