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
    /// must not be sent, if it must not: a value that left its path segment. A value with `/`,
    /// `?` or `#` makes another path of the one the template names (a catalog endpoint's URL
    /// would then go unchecked, to its server in the definition even where a sandbox or proxy
    /// stands in for it); the URL parser reads `\` as `/`, and `.` or `..` drop segments.
    pub fn misfilled(
        &self,
        template: &str,
        resolved: &str,
        method: &'static str,
        endpoint: Option<&Endpoint>,
    ) -> Option<String> {
        let parsed = Url::parse(resolved).ok()?;
        let named = self.route(template, method).0;
        let moved = parsed.path_segments().map_or(0, Iterator::count) != written_segments(resolved);
        if !moved && (named.is_none() || endpoint.is_some()) {
            return None;
        }
        let names = named.map_or(String::new(), |e| format!(" ({})", e.id));
        Some(format!(
            "the URL resolves to `{}`, which is sent to the path `{}`, not the one its template names{names}: a placeholder in the path must fill one segment, so its value may not hold `/`, `\\`, `?` or `#`, nor be `.` or `..`",
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

/// How many path segments `url` is written with: its text between the authority and the query
/// or fragment, split at `/` (the URL parser also splits at `\` and resolves `.` and `..`).
fn written_segments(url: &str) -> usize {
    let after_scheme = url.find("://").map_or(url, |i| &url[i + 3..]);
    let Some(start) = after_scheme.find(['/', '?', '#']) else {
        return 1;
    };
    let path = &after_scheme[start..];
    if !path.starts_with('/') {
        return 1;
    }
    let path = path.split(['?', '#']).next().unwrap_or(path);
    path.split('/').count() - 1
}
