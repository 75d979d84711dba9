//! The catalog: the five endpoints, with everything needed to call, validate and document them.
//!
//! Policy: facts verified in vendor sources are fixed; inferred ones (the charge and adjustment
//! paths) are marked `inferred` and can be overridden per endpoint with
//! [`Catalog::override_path`] (CLI: `--path-override ID=TEMPLATE`).

use std::fmt;
use std::str::FromStr;

use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, Result};

mod builtin;

/// Stable endpoint identifiers (`vendor.operation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(into = "&'static str")]
pub enum EndpointId {
    /// Solvimon "Ingest adjustment events".
    SolvimonIngestAdjustment,
    /// Solvimon "Ingest charge events".
    SolvimonIngestCharge,
    /// Solvimon "Ingest persist events".
    SolvimonIngestPersist,
    /// Solvimon "Calculate the costs for an event".
    SolvimonCalculateCost,
    /// Rebilly `POST /usages`.
    RebillyCreateUsage,
}

impl EndpointId {
    /// Every endpoint, in catalog order.
    pub const ALL: [EndpointId; 5] = [
        EndpointId::SolvimonIngestAdjustment,
        EndpointId::SolvimonIngestCharge,
        EndpointId::SolvimonIngestPersist,
        EndpointId::SolvimonCalculateCost,
        EndpointId::RebillyCreateUsage,
    ];

    /// The id as written in files and on the command line.
    pub const fn as_str(self) -> &'static str {
        match self {
            EndpointId::SolvimonIngestAdjustment => "solvimon.ingest-adjustment",
            EndpointId::SolvimonIngestCharge => "solvimon.ingest-charge",
            EndpointId::SolvimonIngestPersist => "solvimon.ingest-persist",
            EndpointId::SolvimonCalculateCost => "solvimon.calculate-cost",
            EndpointId::RebillyCreateUsage => "rebilly.create-usage",
        }
    }

    /// The vendor.
    pub const fn vendor(self) -> Vendor {
        match self {
            EndpointId::RebillyCreateUsage => Vendor::Rebilly,
            _ => Vendor::Solvimon,
        }
    }
}

impl From<EndpointId> for &'static str {
    fn from(id: EndpointId) -> Self {
        id.as_str()
    }
}

impl fmt::Display for EndpointId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EndpointId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        EndpointId::ALL
            .into_iter()
            .find(|id| id.as_str() == s)
            .ok_or_else(|| Error::UnknownEndpoint {
                id: s.to_owned(),
                known: EndpointId::ALL.map(EndpointId::as_str).join(", "),
            })
    }
}

/// API vendor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Vendor {
    /// Solvimon (Event API).
    Solvimon,
    /// Rebilly.
    Rebilly,
}

impl Vendor {
    /// Every vendor.
    pub const ALL: [Vendor; 2] = [Vendor::Solvimon, Vendor::Rebilly];

    /// Lower-case name (`solvimon`, `rebilly`), as used for credential entries.
    pub const fn as_str(self) -> &'static str {
        match self {
            Vendor::Solvimon => "solvimon",
            Vendor::Rebilly => "rebilly",
        }
    }

    /// The environment variable that conventionally holds this vendor's API key
    /// (`SOLVIMON_API_KEY`, `REBILLY_API_KEY`): the last fallback of `call`.
    pub const fn api_key_env(self) -> &'static str {
        match self {
            Vendor::Solvimon => "SOLVIMON_API_KEY",
            Vendor::Rebilly => "REBILLY_API_KEY",
        }
    }
}

impl FromStr for Vendor {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Vendor::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| {
                let known: Vec<&str> = Vendor::ALL.iter().map(|v| v.as_str()).collect();
                format!("unknown vendor `{s}`; expected {}", known.join(" or "))
            })
    }
}

impl fmt::Display for Vendor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a fact comes from vendor sources or is our inference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Provenance {
    /// Verified in vendor docs, SDK or spec.
    Verified,
    /// Inferred; configurable.
    Inferred,
    /// Set by the user (a path override).
    Overridden,
}

/// A base URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Server {
    /// Base URL without trailing slash.
    pub url: &'static str,
    /// `sandbox` or `live`.
    pub environment: &'static str,
}

/// A path, query or header parameter.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Param {
    /// Name as sent.
    pub name: &'static str,
    /// JSON type of the value (`string`, `boolean`).
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Whether the API requires it.
    pub required: bool,
    /// Default value, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    /// What it is for.
    pub description: &'static str,
    /// The only values the connector sends (`enum`; empty: any). A path parameter's other
    /// literal values are no catalog URL, and a placeholder that fills in another is refused
    /// before anything is sent.
    #[serde(rename = "enum", skip_serializing_if = "<[_]>::is_empty")]
    pub values: &'static [&'static str],
}

/// An authentication scheme: the header that carries the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuthScheme {
    /// Scheme name (`apiKey`, `bearer`).
    pub scheme: &'static str,
    /// Header name.
    pub header: &'static str,
    /// Value prefix (`Bearer `), empty when the header holds the key itself.
    pub prefix: &'static str,
}

/// Relative paths of an endpoint's schema files under `schemas/`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SchemaFiles {
    /// Request body schema.
    pub request: String,
    /// Response body schema.
    pub response: String,
    /// SimWorkflow `Http` task schema.
    pub http_task: String,
}

/// One endpoint of the catalog.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Endpoint {
    /// Stable id.
    pub id: EndpointId,
    /// Vendor.
    pub vendor: Vendor,
    /// Title of the vendor's reference page.
    pub title: &'static str,
    /// HTTP method.
    pub method: &'static str,
    /// Path template after the server, e.g. `/v{version}/ingest/persist-data`.
    pub path: String,
    /// Whether the path is verified, inferred or overridden.
    pub path_provenance: Provenance,
    /// An optional leading path segment template (Rebilly `/organizations/{organizationId}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub optional_prefix: Option<&'static str>,
    /// Path parameters.
    pub path_params: Vec<Param>,
    /// Query parameters.
    pub query_params: Vec<Param>,
    /// Request headers besides authentication.
    pub headers: Vec<Param>,
    /// Base URLs (sandbox first).
    pub servers: Vec<Server>,
    /// Accepted authentication schemes (any one).
    pub auth: Vec<AuthScheme>,
    /// Permission the credential needs, if the vendor names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permission: Option<&'static str>,
    /// Status of a successful call.
    pub success_status: u16,
    /// Error statuses the vendor documents.
    pub error_statuses: Vec<u16>,
    /// The schema files.
    pub schemas: SchemaFiles,
}

impl Endpoint {
    /// The URL of this endpoint on its first (sandbox) server: path parameters from `params`
    /// (name, value) or their defaults, the optional prefix only when all its parameters are
    /// given, and the query parameters of `query` the endpoint declares. `Err` names a
    /// required parameter without a value, a value a parameter does not take
    /// ([`Param::values`]), or a query parameter the endpoint does not have.
    pub fn url_for(
        &self,
        params: &[(&str, &str)],
        query: &[(&str, &str)],
    ) -> std::result::Result<String, String> {
        for (name, v) in params {
            if let Some(p) = self.path_params.iter().find(|p| p.name == *name)
                && !p.values.is_empty()
                && !p.values.contains(v)
            {
                return Err(format!(
                    "{}: path parameter `{name}` is {}, not `{v}` (the {} the catalog has schemas for)",
                    self.id,
                    p.values.join(" or "),
                    p.description
                ));
            }
        }
        let value = |name: &str| -> Option<String> {
            params
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
                .or_else(|| {
                    let p = self.path_params.iter().find(|p| p.name == name)?;
                    p.default
                        .as_ref()
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                })
        };
        let fill = |template: &str| -> std::result::Result<String, String> {
            let mut out = String::new();
            let mut rest = template;
            while let Some(start) = rest.find('{') {
                let end = start + rest[start..].find('}').unwrap_or(rest.len() - start);
                let name = &rest[start + 1..end];
                out.push_str(&rest[..start]);
                out.push_str(&value(name).ok_or_else(|| {
                    format!("{}: path parameter `{name}` needs a value", self.id)
                })?);
                rest = &rest[(end + 1).min(rest.len())..];
            }
            out.push_str(rest);
            Ok(out)
        };
        let mut url = self.servers[0].url.to_owned();
        if let Some(prefix) = self.optional_prefix
            && let Ok(filled) = fill(prefix)
            && self
                .path_params
                .iter()
                .filter(|p| prefix.contains(&format!("{{{}}}", p.name)))
                .all(|p| params.iter().any(|(n, _)| *n == p.name))
        {
            url.push_str(&filled);
        }
        url.push_str(&fill(&self.path)?);
        for (i, (name, v)) in query.iter().enumerate() {
            if !self.query_params.iter().any(|p| p.name == *name) {
                return Err(format!("{} has no query parameter `{name}`", self.id));
            }
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(&format!("{name}={v}"));
        }
        Ok(url)
    }

    /// The header the first auth scheme puts the key in (`X-API-KEY`, `REB-APIKEY`).
    pub fn key_header(&self) -> &'static str {
        self.auth[0].header
    }

    /// The path as `endpoints` lists it, with an optional prefix in brackets
    /// (`[/organizations/{organizationId}]/usages`).
    pub fn display_path(&self) -> String {
        match self.optional_prefix {
            Some(prefix) => format!("[{prefix}]{}", self.path),
            None => self.path.clone(),
        }
    }

    /// An anchored regular expression matching this endpoint's URLs on any of its servers.
    /// Path parameters match one segment, which may be a literal or a `${…}` placeholder; one
    /// with [`Param::values`] matches only those, or a segment holding a placeholder.
    /// Literals are escaped so that Rust, Python and ECMA (ajv) engines read it alike.
    pub fn url_pattern(&self) -> String {
        let servers: Vec<String> = self.servers.iter().map(|s| escape_literal(s.url)).collect();
        let mut out = format!("^(?:{})", servers.join("|"));
        if let Some(prefix) = self.optional_prefix {
            out.push_str(&format!(
                "(?:{})?",
                template_regex(prefix, &self.path_params)
            ));
        }
        out.push_str(&template_regex(&self.path, &self.path_params));
        if !self.query_params.is_empty() {
            let names: Vec<String> = self
                .query_params
                .iter()
                .map(|p| escape_literal(p.name))
                .collect();
            out.push_str(&format!(
                "(?:\\?(?:{})=[^&#]*(?:&(?:{})=[^&#]*)*)?",
                names.join("|"),
                names.join("|")
            ));
        }
        out.push('$');
        out
    }
}

/// Turns a path template into a regex: literals escaped, `{param}` = one non-empty segment
/// (for a parameter of `params` with values: one of them, or a segment with a placeholder).
fn template_regex(template: &str, params: &[Param]) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&escape_literal(&rest[..start]));
        let end = rest[start..]
            .find('}')
            .map_or(rest.len(), |e| start + e + 1);
        let name = rest[start + 1..end].trim_end_matches('}');
        match params
            .iter()
            .find(|p| p.name == name && !p.values.is_empty())
        {
            Some(p) => {
                let values: Vec<String> = p.values.iter().map(|v| escape_literal(v)).collect();
                out.push_str(&format!("(?:{}|[^/?#]*\\$\\{{[^/?#]*)", values.join("|")));
            }
            None => out.push_str("[^/?#]+"),
        }
        rest = &rest[end..];
    }
    out.push_str(&escape_literal(rest));
    out
}

/// Escapes `text` for a regex every engine reads the same: Rust `regex`, Python `re`, and ECMA
/// with the `u` flag (how ajv compiles `pattern`). Only ECMA's syntax characters are escaped;
/// `regex::escape` also escapes `-`, `#`, `&` and `~`, which `u`-mode ECMA rejects ("invalid
/// escape"), and outside a character class they are literal in every engine anyway.
fn escape_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "^$\\.*+?()[]{}|".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The set of endpoints the connector knows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Catalog {
    /// Endpoints in [`EndpointId::ALL`] order.
    pub endpoints: Vec<Endpoint>,
}

impl Catalog {
    /// The first endpoint of a vendor (where vendor-wide facts such as its key header live).
    pub fn first_of(&self, vendor: Vendor) -> &Endpoint {
        self.endpoints
            .iter()
            .find(|e| e.vendor == vendor)
            .expect("the catalog has every vendor")
    }

    /// The endpoint with this id (every id is present).
    pub fn get(&self, id: EndpointId) -> &Endpoint {
        self.endpoints
            .iter()
            .find(|e| e.id == id)
            .expect("catalog holds every EndpointId")
    }

    /// Replaces an endpoint's path template, e.g. when Solvimon's charge path turns out to
    /// differ from the inferred one. The template must start with `/` and may only use the
    /// endpoint's declared path parameters.
    pub fn override_path(&mut self, id: EndpointId, template: &str) -> Result<()> {
        let err = |reason: String| Error::PathOverride {
            id: id.to_string(),
            reason,
        };
        if !template.starts_with('/') {
            return Err(err(format!("`{template}` must start with `/`")));
        }
        if template.contains(['?', '#', ' ']) {
            return Err(err(format!(
                "`{template}` must be a path without query, fragment or spaces"
            )));
        }
        let endpoint = self
            .endpoints
            .iter_mut()
            .find(|e| e.id == id)
            .expect("present");
        let mut rest = template;
        while let Some(start) = rest.find('{') {
            let Some(len) = rest[start..].find('}') else {
                return Err(err(format!("unclosed `{{` in `{template}`")));
            };
            let name = &rest[start + 1..start + len];
            if !endpoint.path_params.iter().any(|p| p.name == name) {
                let known: Vec<&str> = endpoint.path_params.iter().map(|p| p.name).collect();
                return Err(err(format!(
                    "unknown path parameter `{{{name}}}`; this endpoint has: {}",
                    known.join(", ")
                )));
            }
            rest = &rest[start + len + 1..];
        }
        endpoint.path = template.to_owned();
        endpoint.path_provenance = Provenance::Overridden;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_unknown_ids_list_the_known_ones() {
        for id in EndpointId::ALL {
            assert_eq!(id.as_str().parse::<EndpointId>().unwrap(), id);
        }
        let err = "solvimon.nope"
            .parse::<EndpointId>()
            .unwrap_err()
            .to_string();
        assert!(err.contains("rebilly.create-usage"), "{err}");
    }

    #[test]
    fn url_patterns_accept_servers_and_placeholders_and_reject_other_hosts() {
        let catalog = Catalog::builtin();
        let re = |id| regex::Regex::new(&catalog.get(id).url_pattern()).unwrap();
        let persist = re(EndpointId::SolvimonIngestPersist);
        assert!(persist.is_match("https://test.api.solvimon.com/v1/ingest/persist-data"));
        assert!(persist.is_match("https://api.solvimon.com/v${$.version}/ingest/persist-data"));
        assert!(!persist.is_match("https://evil.example/v1/ingest/persist-data"));
        assert!(!persist.is_match("https://api.solvimon.com/v1/ingest/charge-data"));
        for version in ["v2", "v", "v1.0", "v11"] {
            let url = format!("https://api.solvimon.com/{version}/ingest/persist-data");
            assert!(
                !persist.is_match(&url),
                "{url}: only the version the catalog knows"
            );
        }
        assert!(
            persist
                .is_match("https://api.solvimon.com/v${$$.Execution.Input.v}/ingest/persist-data")
        );
        let calc = re(EndpointId::SolvimonCalculateCost);
        assert!(calc.is_match("https://api.solvimon.com/v1/events/calculate?cost_prediction=true"));
        assert!(!calc.is_match("https://api.solvimon.com/v1/events/calculate?other=1"));
        let usage = re(EndpointId::RebillyCreateUsage);
        assert!(usage.is_match("https://api-sandbox.rebilly.com/usages"));
        assert!(usage.is_match("https://api.rebilly.com/organizations/${$.org}/usages"));
        assert!(!usage.is_match("https://api.rebilly.com/organizations//usages"));
    }

    #[test]
    fn url_patterns_escape_only_ecma_syntax_characters() {
        assert_eq!(
            escape_literal("https://api-sandbox.x.com/a?b#c&d~e"),
            r"https://api-sandbox\.x\.com/a\?b#c&d~e"
        );
        // `u`-mode ECMA allows `\` only before a syntax character or `/`; these patterns are
        // compiled by ajv in tests/js/published-schemas.test.mjs.
        for endpoint in &Catalog::builtin().endpoints {
            let pattern = endpoint.url_pattern();
            let mut chars = pattern.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    let next = chars.next().unwrap_or_default();
                    assert!("^$\\.*+?()[]{}|/".contains(next), "{pattern}: \\{next}");
                }
            }
        }
    }

    #[test]
    fn urls_are_built_from_the_catalog() {
        let catalog = Catalog::builtin();
        let calc = catalog.get(EndpointId::SolvimonCalculateCost);
        assert_eq!(
            calc.url_for(&[], &[("cost_prediction", "true")]).unwrap(),
            "https://test.api.solvimon.com/v1/events/calculate?cost_prediction=true"
        );
        // Another API version would be no catalog URL: not routed to --server, not checked.
        let why = calc.url_for(&[("version", "2")], &[]).unwrap_err();
        assert!(why.contains("`version` is 1, not `2`"), "{why}");
        assert!(calc.url_for(&[], &[("nope", "1")]).is_err());
        let usage = catalog.get(EndpointId::RebillyCreateUsage);
        assert_eq!(
            usage.url_for(&[], &[]).unwrap(),
            "https://api-sandbox.rebilly.com/usages"
        );
        assert_eq!(
            usage.url_for(&[("organizationId", "org_1")], &[]).unwrap(),
            "https://api-sandbox.rebilly.com/organizations/org_1/usages"
        );
        assert_eq!("rebilly".parse::<Vendor>(), Ok(Vendor::Rebilly));
        assert!(
            "acme"
                .parse::<Vendor>()
                .unwrap_err()
                .contains("solvimon or rebilly")
        );
        assert_eq!(catalog.first_of(Vendor::Rebilly).key_header(), "REB-APIKEY");
    }

    #[test]
    fn path_override_replaces_inferred_paths_and_rejects_unknown_params() {
        let mut catalog = Catalog::builtin();
        catalog
            .override_path(
                EndpointId::SolvimonIngestCharge,
                "/v{version}/events/charge",
            )
            .unwrap();
        let charge = catalog.get(EndpointId::SolvimonIngestCharge);
        assert_eq!(charge.path, "/v{version}/events/charge");
        assert_eq!(charge.path_provenance, Provenance::Overridden);
        let err = catalog
            .override_path(EndpointId::SolvimonIngestCharge, "/v{ver}/x")
            .unwrap_err();
        assert!(
            err.to_string().contains("unknown path parameter `{ver}`"),
            "{err}"
        );
        assert!(
            catalog
                .override_path(EndpointId::SolvimonIngestCharge, "v1/x")
                .is_err()
        );
    }
}
