//! Routing: a resolved URL and method to its catalog endpoint and the URL to send to; the
//! router also holds the rest of the prepare path's configuration (validators, identity
//! options).
//!
//! Policy: an endpoint matches by server + path template + method; a per-vendor server
//! override (the sandbox, a proxy) replaces the catalog server and keeps path and query. Routes
//! are memoised (up to 1,024 URLs per method), so the hot path allocates only the returned URL.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::{Arc, RwLock};

use reqwest::Url;

use crate::catalog::{Endpoint, EndpointId, Vendor};
use crate::identity::IdentityOptions;
use crate::validators::Validators;

/// The compiled validators a router (and the prepare path) uses: the built-in catalog's
/// (compiled on first use, once per process), borrowed ones, or owned and shared ones (a
/// catalog of one's own, e.g. with path overrides).
#[derive(Clone)]
pub enum ValidatorSet<'a> {
    /// [`Validators::builtin`], compiled when first needed.
    Builtin,
    /// Borrowed validators.
    Borrowed(&'a Validators),
    /// Shared validators.
    Shared(Arc<Validators>),
}

impl Deref for ValidatorSet<'_> {
    type Target = Validators;
    fn deref(&self) -> &Validators {
        match self {
            ValidatorSet::Builtin => Validators::builtin(),
            ValidatorSet::Borrowed(v) => v,
            ValidatorSet::Shared(v) => v,
        }
    }
}

/// A memoised route.
struct Route {
    endpoint: Option<EndpointId>,
    target: Result<Url, String>,
}

/// Routes URLs to endpoints and servers.
pub struct Router<'a> {
    validators: ValidatorSet<'a>,
    identity: IdentityOptions,
    servers: HashMap<Vendor, String>,
    /// Per vendor with an override: the length of the override's own path.
    server_paths: HashMap<Vendor, usize>,
    cache: RwLock<HashMap<&'static str, HashMap<String, Route>>>,
}

impl<'a> Router<'a> {
    /// A router over these validators' catalog, sending to the catalog's servers.
    pub fn new(validators: ValidatorSet<'a>) -> Self {
        Router {
            validators,
            identity: IdentityOptions::default(),
            servers: HashMap::new(),
            server_paths: HashMap::new(),
            cache: RwLock::new(HashMap::new()),
        }
    }

    /// Sends a vendor's requests to `base_url` instead of the server in the definition; the
    /// path and query are kept.
    pub fn set_server(&mut self, vendor: Vendor, base_url: &str) {
        let base = base_url.trim_end_matches('/');
        let path_len = Url::parse(base).map_or(0, |u| u.path().trim_end_matches('/').len());
        self.servers.insert(vendor, base.to_owned());
        self.server_paths.insert(vendor, path_len);
        self.cache.get_mut().expect("route cache").clear();
    }

    /// The vendor whose catalog server `url` is on (scheme, host and port), for a URL that is
    /// none of the catalog's endpoints; `None` elsewhere (a server override serves the
    /// endpoints routed to it, nothing else).
    pub fn vendor_at(&self, url: &Url) -> Option<Vendor> {
        let origin = url.origin();
        self.validators.catalog().endpoints.iter().find_map(|e| {
            e.servers
                .iter()
                .any(|s| Url::parse(s.url).is_ok_and(|b| b.origin() == origin))
                .then_some(e.vendor)
        })
    }

    /// How many leading characters of the path of a request routed to `endpoint` the server
    /// override put there (a base URL with a path, such as a proxy's `/solvimon`); 0 without
    /// one.
    pub fn override_path_len(&self, endpoint: Option<&Endpoint>) -> usize {
        endpoint
            .and_then(|e| self.server_paths.get(&e.vendor))
            .copied()
            .unwrap_or(0)
    }

    /// How identities are carried where an API needs a choice (Rebilly usages).
    pub fn set_identity(&mut self, options: IdentityOptions) {
        self.identity = options;
    }

    /// The identity options.
    pub fn identity(&self) -> &IdentityOptions {
        &self.identity
    }

    /// The validators (and catalog) routed against.
    pub fn validators(&self) -> &Validators {
        &self.validators
    }

    /// Why a URL whose placeholders filled `template` in as `resolved` (routed to `endpoint`)
    /// must not be sent, if it must not: a value that changed the URL's shape. In a catalog
    /// endpoint's URL, a value with `/`, `?` or `#` (or an empty one) makes another URL of it,
    /// which would go unchecked, to the server in the definition even where a sandbox or proxy
    /// stands in for it; in any URL, a value `.` or `..` drops path segments and one with `\`
    /// adds one (the URL parser reads it as `/`). The template's own text is not judged.
    pub fn misfilled(
        &self,
        template: &str,
        resolved: &str,
        method: &'static str,
        endpoint: Option<&Endpoint>,
    ) -> Option<String> {
        // Cheap checks first: this runs for every request whose URL has placeholders.
        let moved = navigates(resolved)
            && crate::template::text_with(template, "x").is_some_and(|t| !navigates(&t));
        let named = match endpoint {
            Some(_) if !moved => return None,
            _ => self.route(template, method).0,
        };
        if !moved && named.is_none() {
            return None;
        }
        let parsed = Url::parse(resolved).ok()?;
        let names = named.map_or(String::new(), |e| format!(" ({})", e.id));
        let only = named.map_or(String::new(), |e| refused_values(e, &parsed));
        Some(format!(
            "the URL resolves to `{}`, which goes to `{}`, not where its template names{names}: a placeholder in the path must fill exactly one segment (not empty; no `/`, `\\`, `?` or `#`; not `.` or `..`), and one in the query a single parameter's value{only}",
            crate::credentials::redact_user_info(resolved),
            parsed.path()
        ))
    }

    /// The catalog endpoint of `url` + `method` (if any) and the URL to send to, or why that
    /// URL cannot be sent to.
    pub fn route(
        &self,
        url: &str,
        method: &'static str,
    ) -> (Option<&Endpoint>, Result<Url, String>) {
        let resolve = |route: &Route| {
            let endpoint = route.endpoint.map(|id| self.validators.catalog().get(id));
            (endpoint, route.target.clone())
        };
        if let Some(hit) = self
            .cache
            .read()
            .expect("route cache")
            .get(method)
            .and_then(|m| m.get(url))
        {
            return resolve(hit);
        }
        let endpoint = self
            .validators
            .endpoints_for_url(url)
            .into_iter()
            .find(|e| e.method == method);
        let rewritten = endpoint.and_then(|ep| {
            let base = self.servers.get(&ep.vendor)?;
            let rest = ep.servers.iter().find_map(|s| url.strip_prefix(s.url))?;
            Some(format!("{base}{rest}"))
        });
        let target = rewritten.as_deref().unwrap_or(url);
        let route = Route {
            endpoint: endpoint.map(|e| e.id),
            target: Url::parse(target).map_err(|e| {
                let shown = crate::credentials::redact_user_info(target);
                format!("url `{shown}` is not a valid URL ({e}); nothing was sent")
            }),
        };
        let found = resolve(&route);
        let mut cache = self.cache.write().expect("route cache");
        let by_url = cache.entry(method).or_default();
        if by_url.len() >= 1024 {
            by_url.clear();
        }
        by_url.insert(url.to_owned(), route);
        found
    }
}

/// What `url` gives a path parameter of `endpoint` that takes only some values (the API version
/// the catalog knows) and that it does not take, as the end of a message; empty when none.
fn refused_values(endpoint: &Endpoint, url: &Url) -> String {
    let given: Vec<&str> = url.path_segments().map_or_else(Vec::new, Iterator::collect);
    let mut out = String::new();
    for (template, given) in endpoint.path.trim_start_matches('/').split('/').zip(given) {
        let (Some(open), Some(close)) = (template.find('{'), template.find('}')) else {
            continue;
        };
        let name = &template[open + 1..close];
        let Some(param) = endpoint
            .path_params
            .iter()
            .find(|p| p.name == name && !p.values.is_empty())
        else {
            continue;
        };
        let value = given
            .strip_prefix(&template[..open])
            .and_then(|v| v.strip_suffix(&template[close + 1..]))
            .unwrap_or(given);
        if !param.values.contains(&value) {
            out.push_str(&format!(
                "; `{{{name}}}` takes only {}, not `{value}`",
                param.values.join(", ")
            ));
        }
    }
    out
}

/// Whether `url`'s path, as written (between the authority and the query or fragment), holds
/// a `\` or a `.` or `..` segment (`%2e` counts as `.`): the URL parser would move it.
fn navigates(url: &str) -> bool {
    let after_scheme = url.find("://").map_or(url, |i| &url[i + 3..]);
    let Some(start) = after_scheme.find(['/', '\\', '?', '#']) else {
        return false;
    };
    let path = after_scheme[start..]
        .split(['?', '#'])
        .next()
        .unwrap_or_default();
    path.contains('\\')
        || path.split('/').any(|segment| {
            let dots = segment.to_ascii_lowercase().replace("%2e", ".");
            dots == "." || dots == ".."
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Why `template` filled with `value` (where `{}` stands) must not be sent, if it must not.
    fn misfilled(template: &str, value: &str) -> Option<String> {
        let router = Router::new(ValidatorSet::Builtin);
        let resolved = template.replace("${$.v}", value);
        let endpoint = router.route(&resolved, "POST").0;
        router.misfilled(template, &resolved, "POST", endpoint)
    }

    #[test]
    fn a_value_that_changes_the_urls_shape_is_refused_and_the_templates_own_text_is_not() {
        let catalog = "https://api-sandbox.rebilly.com/organizations/${$.v}/usages";
        assert_eq!(misfilled(catalog, "org_1"), None);
        for value in ["a/b", "x?y=1", "a#b", "", "..", "%2E%2e", "a\\b"] {
            let why = misfilled(catalog, value).unwrap_or_else(|| panic!("{value:?} passed"));
            assert!(why.contains("(rebilly.create-usage)"), "{why}");
        }
        // Outside the catalog a value may hold `/` (nothing names the URL's shape), but never
        // move the path: `.`, `..` (a trailing one too), `%2e`, `\`.
        let any = "https://example.com/items/${$.v}";
        assert_eq!(misfilled(any, "a/b"), None);
        for value in [".", "..", "%2e", "a\\b"] {
            assert!(misfilled(any, value).is_some(), "{value:?} passed");
        }
        assert_eq!(
            misfilled("https://example.com/api/../v2/items/${$.v}", "7"),
            None,
            "the template's own `..` is its author's"
        );
        for template in [
            "http://[::1]:8080/items/${$.v}?q=a/b",
            "https://user:pw@example.com:8443/items/${$.v}/",
            "https://test.api.solvimon.com/v1/ingest/${$.v}",
        ] {
            let value = if template.contains("ingest") {
                "charge-data"
            } else {
                "7"
            };
            assert_eq!(misfilled(template, value), None, "{template}");
        }
        let why = misfilled("https://user:pw@example.com/items/${$.v}", "..").unwrap();
        assert!(!why.contains("pw"), "user-info is not shown: {why}");
        // The API version the catalog knows, from data: another would go unchecked (its
        // schemas are not the catalog's) and the API answers UNSUPPORTED_VERSION.
        let versioned = "https://test.api.solvimon.com/v${$.v}/ingest/charge-data";
        assert_eq!(misfilled(versioned, "1"), None);
        let why = misfilled(versioned, "2").expect("v2 passed");
        assert!(
            why.contains("(solvimon.ingest-charge)")
                && why.contains("`{version}` takes only 1, not `2`"),
            "{why}"
        );
        // Said only of the parameter that is wrong.
        let why = misfilled(
            "https://test.api.solvimon.com/v1/events/calculate?cost_prediction=${$.v}",
            "a&b=1",
        )
        .expect("another query parameter passed");
        assert!(!why.contains("takes only"), "{why}");
    }
}
