//! What every studio request must pass before it is served, and where its files may be.
//!
//! Policy: the token printed at start is required on every request (the `X-Studio-Token`
//! header of the page's calls, or `?token=` on the page and its two assets; no cookie, since
//! browsers share cookies across the ports of a host); the `Host` must be the address the
//! studio listens on (by IP or as `localhost`; listening on all addresses, any IP literal with
//! its port), so a DNS name rebound to it is refused; an `Origin`, when sent, must be that same place (no
//! cross-site requests). Files are named relative to the studio's folder: no absolute path, no
//! `..`, no link on the way, and the file must end in `.json`.

use std::path::{Component, Path, PathBuf};

/// Why a request is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No token, or another one (401).
    Token,
    /// A `Host` or `Origin` that is not this studio (403).
    Place(String),
}

/// Who may call: the token and the addresses the page is served from.
#[derive(Debug, Clone)]
pub struct Guard {
    token: String,
    hosts: Vec<String>,
    /// Listening on all addresses: any IP literal with this port is this studio.
    any_ip: Option<u16>,
}

impl Guard {
    /// A guard for a studio listening on `port` of the loopback (or `bound`, when told to
    /// listen elsewhere) with `token`.
    pub fn new(token: String, bound: std::net::SocketAddr) -> Self {
        let port = bound.port();
        let mut hosts = vec![
            format!("127.0.0.1:{port}"),
            format!("localhost:{port}"),
            format!("[::1]:{port}"),
        ];
        if !bound.ip().is_loopback() {
            hosts.push(bound.to_string());
        }
        let any_ip = bound.ip().is_unspecified().then_some(port);
        Guard {
            token,
            hosts,
            any_ip,
        }
    }

    /// The token.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Checks a request's `Host`, `Origin` and token (`given`: the header or the query).
    pub fn check(
        &self,
        host: Option<&str>,
        origin: Option<&str>,
        given: &[Option<&str>],
    ) -> Result<(), Refusal> {
        let host = host.unwrap_or_default();
        if !self.ours(host) {
            return Err(Refusal::Place(format!("Host `{host}` is not this studio")));
        }
        if let Some(origin) = origin {
            let same = origin.strip_prefix("http://").is_some_and(|o| self.ours(o));
            if !same {
                return Err(Refusal::Place(format!(
                    "Origin `{origin}` is not this studio"
                )));
            }
        }
        let ok = given
            .iter()
            .flatten()
            .any(|t| constant_time_eq(t.as_bytes(), self.token.as_bytes()));
        if ok { Ok(()) } else { Err(Refusal::Token) }
    }
}

impl Guard {
    /// Whether `host` (`HOST:PORT`) names this studio: one of its names, or (listening on all
    /// addresses) an IP literal with its port, which no DNS answer can stand for.
    fn ours(&self, host: &str) -> bool {
        self.hosts.iter().any(|h| h == host)
            || self.any_ip.is_some_and(|port| {
                host.parse::<std::net::SocketAddr>()
                    .is_ok_and(|a| a.port() == port)
            })
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A new token: 128 random bits, hex.
pub fn new_token() -> anyhow::Result<String> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| anyhow::anyhow!("no system randomness for the studio's token"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The file `relative` names inside `root` (a canonical folder): `Err` with why when it would
/// leave it, pass a link, or is not a `.json` file.
pub fn inside(root: &Path, relative: &str) -> Result<PathBuf, String> {
    let rel = Path::new(relative);
    if relative.is_empty() || rel.is_absolute() {
        return Err(format!("`{relative}`: a path inside the studio's folder"));
    }
    if rel.extension().is_none_or(|e| e != "json") {
        return Err(format!("`{relative}`: only .json files"));
    }
    let mut at = root.to_path_buf();
    for part in rel.components() {
        match part {
            Component::Normal(name) => {
                at.push(name);
                if std::fs::symlink_metadata(&at).is_ok_and(|m| m.file_type().is_symlink()) {
                    return Err(format!("`{relative}`: passes a link"));
                }
            }
            Component::CurDir => {}
            _ => return Err(format!("`{relative}`: no `..` or roots")),
        }
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard() -> Guard {
        Guard::new("t0k".into(), "127.0.0.1:4000".parse().unwrap())
    }

    #[test]
    fn the_token_host_and_origin_are_all_required() {
        let g = guard();
        assert_eq!(
            g.check(Some("127.0.0.1:4000"), None, &[Some("t0k")]),
            Ok(())
        );
        assert_eq!(
            g.check(
                Some("localhost:4000"),
                Some("http://localhost:4000"),
                &[None, Some("t0k")]
            ),
            Ok(())
        );
        assert_eq!(
            g.check(Some("127.0.0.1:4000"), None, &[None]),
            Err(Refusal::Token)
        );
        assert_eq!(
            g.check(Some("127.0.0.1:4000"), None, &[Some("t0K")]),
            Err(Refusal::Token)
        );
        assert!(matches!(
            g.check(Some("evil.example:4000"), None, &[Some("t0k")]),
            Err(Refusal::Place(_))
        ));
        assert!(matches!(
            g.check(
                Some("127.0.0.1:4000"),
                Some("http://evil.example"),
                &[Some("t0k")]
            ),
            Err(Refusal::Place(_))
        ));
        assert!(matches!(
            g.check(None, None, &[Some("t0k")]),
            Err(Refusal::Place(_))
        ));
        // Listening on all addresses: an IP literal is this studio, a name never is.
        let all = Guard::new("t0k".into(), "0.0.0.0:4000".parse().unwrap());
        assert_eq!(
            all.check(Some("192.168.1.9:4000"), None, &[Some("t0k")]),
            Ok(())
        );
        assert!(matches!(
            all.check(Some("rebound.example:4000"), None, &[Some("t0k")]),
            Err(Refusal::Place(_))
        ));
    }

    #[test]
    fn files_stay_inside_the_folder() {
        let root = std::env::temp_dir().join(format!("studio-guard-{}", std::process::id()));
        std::fs::create_dir_all(root.join("sub")).unwrap();
        let root = root.canonicalize().unwrap();
        assert_eq!(
            inside(&root, "sub/a.json").unwrap(),
            root.join("sub/a.json")
        );
        for bad in [
            "../a.json",
            "/etc/passwd.json",
            "sub/../../a.json",
            "a.txt",
            "",
        ] {
            assert!(inside(&root, bad).is_err(), "{bad}");
        }
        #[cfg(unix)]
        {
            let _ = std::os::unix::fs::symlink("/tmp", root.join("out"));
            assert!(inside(&root, "out/x.json").unwrap_err().contains("link"));
        }
        let _ = std::fs::remove_dir_all(&root);
    }
}
