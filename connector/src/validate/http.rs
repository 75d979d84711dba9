//! Http tasks against the catalog: URL shape, the endpoint a URL + method matches, the
//! endpoint's auth headers, and literal secrets in headers.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value};

use super::Ctx;
use crate::catalog::{Endpoint, EndpointId};
use crate::credentials::SECRET_HEADERS;
use crate::diagnostic::locate::escape_token;
use crate::diagnostic::{Code, Diagnostic};
use crate::template::{self, Part, Template};

static URL_SHAPE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?(/[^\s#]*)?(\?[^\s#]*)?$").expect("static")
});

/// Substitutes every placeholder of `url` with `x` and checks the result is an http(s) URL.
fn url_parses(url: &str) -> bool {
    match template::parse(url) {
        Ok(Template::Literal(s)) => URL_SHAPE.is_match(&s),
        Ok(Template::Interpolated(parts)) => {
            let s: String = parts
                .iter()
                .map(|p| match p {
                    Part::Text(t) => t.as_str(),
                    _ => "x",
                })
                .collect();
            URL_SHAPE.is_match(&s)
        }
        // A URL that is entirely dynamic cannot be checked before run time.
        Ok(_) => true,
        Err(_) => false,
    }
}

pub(super) fn match_endpoint(
    ctx: &mut Ctx<'_>,
    name: &str,
    pointer: &str,
    obj: &Map<String, Value>,
) -> Option<EndpointId> {
    let request = obj.get("httpRequest")?;
    let url = request.get("url")?.as_str()?;
    let method = request
        .get("method")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if template::parse(url).is_ok() && !url_parses(url) {
        ctx.push(
            Diagnostic::new(
                Code::Url,
                format!("{pointer}/httpRequest/url"),
                format!("`{url}` is not an http(s) URL, even with its placeholders filled in"),
            )
            .task(name)
            .hint("expected e.g. https://api-sandbox.rebilly.com/usages"),
        );
        return None;
    }
    let by_url: Vec<&Endpoint> = ctx.validators.endpoints_for_url(url);
    if let Some(e) = by_url.iter().find(|e| e.method == method) {
        return Some(e.id);
    }
    if by_url.is_empty()
        && let Some((server, nearest)) = nearest_endpoint(ctx, url)
    {
        // A catalog host with a path no endpoint has: a typo, not another API.
        ctx.push(
            Diagnostic::new(
                Code::UnknownPath,
                format!("{pointer}/httpRequest/url"),
                format!(
                    "{url} is on {server}, but no catalog endpoint has this path, so the request would go unchecked"
                ),
            )
            .task(name)
            .hint(format!("did you mean {nearest}?")),
        );
        return None;
    }
    let message = match by_url.first() {
        Some(e) => format!(
            "{method} {url} is not in the catalog ({} is {} only); not checked against a schema",
            e.id, e.method
        ),
        None => format!("{url} is not a catalog endpoint; only the generic Http task rules apply"),
    };
    ctx.push(
        Diagnostic::new(
            Code::UnknownUrl,
            format!("{pointer}/httpRequest/url"),
            message,
        )
        .task(name),
    );
    None
}

/// For a URL on a catalog server: the server and the catalog URL nearest to it (the same
/// server with each endpoint's path, filled from the URL where it has values).
fn nearest_endpoint(ctx: &Ctx<'_>, url: &str) -> Option<(&'static str, String)> {
    let catalog = ctx.validators.catalog();
    let server = catalog
        .endpoints
        .iter()
        .flat_map(|e| e.servers.iter())
        .map(|s| s.url)
        .find(|s| {
            url.strip_prefix(s)
                .is_some_and(|rest| rest.starts_with('/'))
        })?;
    let path = &url[server.len()..];
    let path = path.split(['?', '#']).next().unwrap_or(path);
    catalog
        .endpoints
        .iter()
        .filter(|e| e.servers.iter().any(|s| s.url == server))
        .flat_map(|e| {
            let mut templates = vec![e.path.clone()];
            if let Some(prefix) = e.optional_prefix {
                templates.push(format!("{prefix}{}", e.path));
            }
            templates
        })
        .map(|t| {
            // `{version}` compares as `1`, other parameters as what the URL has there.
            let filled = fill_like(&t, path);
            (strsim::levenshtein(&filled, path), filled)
        })
        .min_by_key(|(d, _)| *d)
        .map(|(_, filled)| (server, format!("{server}{filled}")))
}

/// `template` with each `{param}` segment replaced by the same segment of `path` (`{version}`
/// inside a segment such as `v{version}` by `1` unless the URL has a placeholder there: the
/// one version the catalog knows).
fn fill_like(template: &str, path: &str) -> String {
    let given: Vec<&str> = path.split('/').collect();
    template
        .split('/')
        .enumerate()
        .map(|(i, seg)| {
            if seg.starts_with('{') && seg.ends_with('}') {
                given.get(i).copied().unwrap_or(seg).to_owned()
            } else if let Some(start) = seg.find('{') {
                let given = given.get(i).copied().unwrap_or_default();
                if given.starts_with(&seg[..start]) && given.contains("${") {
                    given.to_owned()
                } else {
                    seg.replace("{version}", "1")
                }
            } else {
                seg.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

pub(super) fn check_http_auth(
    ctx: &mut Ctx<'_>,
    name: &str,
    pointer: &str,
    obj: &Map<String, Value>,
    endpoint: Endpoint,
) {
    if obj
        .get("credentials")
        .and_then(Value::as_str)
        .is_some_and(|c| !c.is_empty())
    {
        return;
    }
    let headers = obj
        .get("httpRequest")
        .and_then(|r| r.get("headers"))
        .and_then(Value::as_object);
    let has_auth = headers.is_some_and(|h| {
        h.keys().any(|k| {
            endpoint
                .auth
                .iter()
                .any(|a| a.header.eq_ignore_ascii_case(k))
        })
    });
    if !has_auth {
        let accepted: Vec<&str> = endpoint.auth.iter().map(|a| a.header).collect();
        ctx.push(
            Diagnostic::new(Code::Auth, pointer, format!("{} needs `credentials` or an auth header ({})", endpoint.id, accepted.join(" or ")))
                .task(name)
                .endpoint(Some(endpoint.id.as_str()))
                .hint("set `credentials` to an entry of your credentials file; keep secrets out of definitions"),
        );
    }
}

pub(super) fn check_http_headers(
    ctx: &mut Ctx<'_>,
    name: &str,
    pointer: &str,
    obj: &Map<String, Value>,
) {
    let Some(headers) = obj
        .get("httpRequest")
        .and_then(|r| r.get("headers"))
        .and_then(Value::as_object)
    else {
        return;
    };
    for (key, value) in headers {
        let at = format!("{pointer}/httpRequest/headers/{}", escape_token(key));
        if let Some(why) = unsendable_header(key, value.as_str()) {
            ctx.push(Diagnostic::new(Code::Request, at.clone(), why).task(name));
        }
        let Some(text) = value.as_str() else { continue };
        let lower = key.to_ascii_lowercase();
        let secretish = SECRET_HEADERS.contains(&lower.as_str())
            || ["secret", "token", "password"]
                .iter()
                .any(|w| lower.contains(w));
        let literal = matches!(template::parse(text), Ok(Template::Literal(_)));
        if secretish && literal && !text.trim().is_empty() {
            ctx.push(
                Diagnostic::new(Code::Secret, at, format!("header `{key}` holds a literal secret"))
                    .task(name)
                    .hint("use `credentials` (resolved from the credentials file) or a `${…}` placeholder"),
            );
        }
    }
}

/// Why a header can never be sent, whatever its placeholders give: a name that is not an HTTP
/// token or that frames the body (the client writes it), or a value whose own text (outside
/// its placeholders) holds a control character.
fn unsendable_header(name: &str, value: Option<&str>) -> Option<String> {
    if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
        return Some(format!("`{name}` is not a valid HTTP header name"));
    }
    if let Some(why) = crate::prepare::framing(name) {
        return Some(why);
    }
    let bad = template::text_with(value?, "")?
        .chars()
        .find(|c| *c == '\u{7f}' || (*c < ' ' && *c != '\t'))?;
    Some(format!(
        "header `{name}`: its text holds the control character {:?}, which no HTTP header value may, whatever its placeholders give",
        bad
    ))
}
