//! Authentication: a task's `credentials` id becomes its auth header.
//!
//! Policy: each usable credential's header is parsed once and marked sensitive, so every
//! rendering (dry run, trace, error) shows `***`; a catalog endpoint with neither credentials
//! nor one of its auth headers is `MISSING_CREDENTIALS`; a credential that cannot be an HTTP
//! header is `INVALID_CREDENTIALS` (its secret never shown). An entry's `platformId` is sent as
//! `x-platform-id` to endpoints whose catalog entry declares that header (Solvimon). A vendor's
//! own key ([`Credentials::insert_for`]) goes to that vendor's endpoints (wherever they are
//! routed) and its catalog servers only: the request as routed decides, not the template, so
//! data that fills a URL in cannot send it elsewhere (`MISSING_CREDENTIALS`, nothing sent).

use std::collections::HashMap;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use crate::catalog::{Endpoint, Vendor};
use crate::credentials::Credentials;
use crate::output::{ErrorCode, TaskError};

/// The header a credential's `platformId` goes in, where the catalog declares it.
const PLATFORM_HEADER: &str = "x-platform-id";

/// Credentials with their headers parsed once.
#[derive(Debug, Clone, Default)]
pub struct Authenticator {
    credentials: Credentials,
    headers: HashMap<String, Option<(HeaderName, HeaderValue)>>,
    /// Each usable credential's fingerprint, made once.
    fingerprints: HashMap<String, String>,
}

impl Authenticator {
    /// Parses each usable credential's header.
    pub fn new(credentials: Credentials) -> Self {
        let headers = credentials
            .usable()
            .map(|(id, c)| {
                let parsed = HeaderName::from_bytes(c.header.as_bytes())
                    .ok()
                    .zip(HeaderValue::from_str(c.value.expose()).ok())
                    .map(|(n, mut v)| {
                        v.set_sensitive(true);
                        (n, v)
                    });
                (id.to_owned(), parsed)
            })
            .collect();
        let fingerprints = credentials
            .usable()
            .map(|(id, c)| {
                let mut digest = crate::identity::hex_digest("", &[&c.header, c.value.expose()]);
                digest.truncate(16);
                (id.to_owned(), digest)
            })
            .collect();
        Authenticator {
            credentials,
            headers,
            fingerprints,
        }
    }

    /// The credentials.
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// A fingerprint of credential `id` (a digest of its header and secret: never the secret),
    /// so a journal can tell one account from another; `None` when it is not usable.
    pub fn fingerprint(&self, id: &str) -> Option<String> {
        self.fingerprints.get(id).cloned()
    }

    /// Adds the auth header of credentials `id` (or checks that `headers` already carry one
    /// of the endpoint's auth headers when `id` is `None`), and marks the headers the
    /// credentials name sensitive. A vendor's own key ([`Credentials::insert_for`]) for a
    /// request that is not to one of that vendor's endpoints is `MISSING_CREDENTIALS`
    /// (the executor also lets it go to the vendor's own servers).
    pub fn apply(
        &self,
        id: Option<&str>,
        endpoint: Option<&Endpoint>,
        headers: &mut HeaderMap,
    ) -> Result<(), TaskError> {
        self.authorize(id, endpoint, headers, Some(endpoint.map(|e| e.vendor)))
    }

    /// [`Authenticator::apply`], the request going to vendor `to`'s servers (`Some(None)`: no
    /// vendor's; `None`: not known yet, e.g. a host that data fills in, and a vendor's own key
    /// is not refused for it).
    pub(crate) fn authorize(
        &self,
        id: Option<&str>,
        endpoint: Option<&Endpoint>,
        headers: &mut HeaderMap,
        to: Option<Option<Vendor>>,
    ) -> Result<(), TaskError> {
        let sensitive = self.credentials.sensitive_headers();
        if !sensitive.is_empty() {
            for (name, value) in headers.iter_mut() {
                if sensitive.iter().any(|s| s == name.as_str()) {
                    value.set_sensitive(true);
                }
            }
        }
        let Some(id) = id else {
            if let Some(ep) = endpoint
                && !ep.auth.iter().any(|a| headers.contains_key(a.header))
            {
                let accepted: Vec<&str> = ep.auth.iter().map(|a| a.header).collect();
                return Err(TaskError::new(
                    ErrorCode::MissingCredentials,
                    format!(
                        "{} needs `credentials` or an auth header ({})",
                        ep.id,
                        accepted.join(" or ")
                    ),
                ));
            }
            return Ok(());
        };
        let credential = self
            .credentials
            .get(id)
            .map_err(|why| TaskError::new(ErrorCode::MissingCredentials, why))?;
        if let Some(vendor) = self.credentials.bound_to(id)
            && let Some(to) = to
            && to != Some(vendor)
        {
            let goes = match to {
                Some(other) => format!("goes to {other}'s"),
                None => format!("goes to a server that is not {vendor}'s"),
            };
            return Err(TaskError::new(
                ErrorCode::MissingCredentials,
                format!(
                    "credentials `{id}` are {vendor}'s own key, sent only to {vendor}'s servers, and this request {goes}; name `{id}` in the credentials file (--credentials, ./credentials.json) to send a key to it"
                ),
            ));
        }
        let (name, value) = self
            .headers
            .get(id)
            .and_then(Option::as_ref)
            .ok_or_else(|| {
                TaskError::new(
                    ErrorCode::InvalidCredentials,
                    format!(
                        "credentials `{id}`: header `{}` or its secret is not valid in an HTTP header",
                        credential.header
                    ),
                )
            })?;
        headers.insert(name.clone(), value.clone());
        if let Some(platform) = &credential.platform_id
            && endpoint.is_some_and(|e| e.headers.iter().any(|h| h.name == PLATFORM_HEADER))
            && !headers.contains_key(PLATFORM_HEADER)
        {
            let value = HeaderValue::from_str(platform).map_err(|_| {
                TaskError::new(
                    ErrorCode::InvalidCredentials,
                    format!("credentials `{id}`: platformId is not valid in an HTTP header"),
                )
            })?;
            headers.insert(PLATFORM_HEADER, value);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Catalog, EndpointId, Vendor};
    use crate::credentials::{Credential, Secret};

    fn key() -> Credential {
        Credential {
            header: "REB-APIKEY".into(),
            value: Secret::new("sk_live"),
            platform_id: None,
        }
    }

    /// A vendor's own key goes to that vendor's servers only; where the request goes is not
    /// known yet (a host data fills in), it is not refused until it is.
    #[test]
    fn a_vendors_own_key_goes_to_its_endpoints_only() {
        let catalog = Catalog::builtin();
        let (rebilly, solvimon) = (
            catalog.get(EndpointId::RebillyCreateUsage),
            catalog.get(EndpointId::SolvimonIngestCharge),
        );
        let mut credentials = Credentials::new();
        credentials.insert_for("rebilly", key(), Vendor::Rebilly);
        let auth = Authenticator::new(credentials.clone());
        let mut headers = HeaderMap::new();
        auth.apply(Some("rebilly"), Some(rebilly), &mut headers)
            .unwrap();
        assert_eq!(headers["reb-apikey"], "sk_live");
        for elsewhere in [Some(solvimon), None] {
            let mut headers = HeaderMap::new();
            let e = auth
                .apply(Some("rebilly"), elsewhere, &mut headers)
                .unwrap_err();
            assert_eq!(e.code, ErrorCode::MissingCredentials);
            assert!(e.message.contains("rebilly's own key"), "{}", e.message);
            assert!(headers.is_empty(), "nothing added");
        }
        let mut headers = HeaderMap::new();
        auth.authorize(Some("rebilly"), None, &mut headers, None)
            .unwrap();
        let mut headers = HeaderMap::new();
        auth.authorize(
            Some("rebilly"),
            None,
            &mut headers,
            Some(Some(Vendor::Rebilly)),
        )
        .unwrap();
        // An entry of the credentials file under the same id goes wherever its task does.
        credentials.insert("rebilly", key());
        let auth = Authenticator::new(credentials);
        auth.apply(Some("rebilly"), None, &mut HeaderMap::new())
            .unwrap();
    }
}
