//! The network boundary of the executor: one HTTP exchange. The default transport is reqwest
//! with one pooled client per timeout profile; tests of the retry loop on tokio's paused clock
//! plug in a scripted transport (real sockets and a paused clock do not mix: timeouts fire).

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Duration;

use async_trait::async_trait;
pub use bytes::Bytes;
pub use reqwest::header::HeaderMap;

/// One request to send.
#[derive(Debug, Clone, Copy)]
pub struct Exchange<'a> {
    /// Method.
    pub method: &'a str,
    /// Full URL, query included.
    pub url: &'a reqwest::Url,
    /// Headers (secret values marked sensitive).
    pub headers: &'a HeaderMap,
    /// Body (shared, not copied, across attempts).
    pub body: Option<&'a Bytes>,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Read timeout (per read; a stalled answer fails).
    pub read_timeout: Duration,
}

/// An answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Status.
    pub status: u16,
    /// Headers.
    pub headers: HeaderMap,
    /// Body bytes.
    pub body: Bytes,
}

/// A failed exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportError {
    /// No connection was made: nothing was sent.
    Connect(String),
    /// Sent (or possibly sent) but no complete answer: the write may have happened.
    Lost(String),
}

/// Sends one exchange.
#[async_trait]
pub trait Transport: Send + Sync {
    /// Performs the exchange.
    async fn exchange(&self, exchange: Exchange<'_>) -> Result<Reply, TransportError>;
}

/// reqwest, one shared client per (connect, read) timeout profile so connections are pooled.
#[derive(Default)]
pub struct ReqwestTransport {
    clients: RwLock<HashMap<(Duration, Duration), reqwest::Client>>,
}

impl ReqwestTransport {
    /// A transport. TLS is rustls; if the process has no default rustls crypto provider yet,
    /// ring's is installed (never aws-lc, and never replacing one the application chose).
    pub fn new() -> Self {
        static PROVIDER: std::sync::Once = std::sync::Once::new();
        PROVIDER.call_once(|| {
            if rustls::crypto::CryptoProvider::get_default().is_none() {
                let _ = rustls::crypto::ring::default_provider().install_default();
            }
        });
        ReqwestTransport::default()
    }

    fn client(&self, connect: Duration, read: Duration) -> reqwest::Client {
        if let Some(client) = self
            .clients
            .read()
            .expect("client cache")
            .get(&(connect, read))
        {
            return client.clone();
        }
        let mut clients = self.clients.write().expect("client cache");
        clients
            .entry((connect, read))
            .or_insert_with(|| {
                reqwest::Client::builder()
                    .connect_timeout(connect)
                    .read_timeout(read)
                    .pool_idle_timeout(Duration::from_secs(30))
                    .build()
                    .expect("HTTP client builds")
            })
            .clone()
    }
}

#[async_trait]
impl Transport for ReqwestTransport {
    async fn exchange(&self, x: Exchange<'_>) -> Result<Reply, TransportError> {
        let client = self.client(x.connect_timeout, x.read_timeout);
        let method = reqwest::Method::from_bytes(x.method.as_bytes())
            .map_err(|e| TransportError::Connect(e.to_string()))?;
        // User-info never travels in the URL (nor into reqwest's logs): it becomes a Basic
        // auth header, marked sensitive, as reqwest's own request builder does.
        let mut url = x.url.clone();
        let mut headers = x.headers.clone();
        if !url.username().is_empty() || url.password().is_some() {
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            };
            let user = decode(url.username());
            let password = url.password().map(decode);
            let _ = url.set_username("");
            let _ = url.set_password(None);
            if !headers.contains_key(reqwest::header::AUTHORIZATION) {
                use base64::Engine;
                let token = base64::engine::general_purpose::STANDARD
                    .encode(format!("{user}:{}", password.unwrap_or_default()));
                if let Ok(mut value) =
                    reqwest::header::HeaderValue::from_str(&format!("Basic {token}"))
                {
                    value.set_sensitive(true);
                    headers.insert(reqwest::header::AUTHORIZATION, value);
                }
            }
        }
        let mut request = reqwest::Request::new(method, url);
        *request.headers_mut() = headers;
        *request.body_mut() = x.body.map(|b| b.clone().into());
        let (connect_timeout, read_timeout) = (x.connect_timeout, x.read_timeout);
        let classify = |e: reqwest::Error| {
            let connect = e.is_connect();
            let text = cause_chain(e, connect_timeout, read_timeout);
            if connect {
                TransportError::Connect(text)
            } else {
                TransportError::Lost(text)
            }
        };
        let mut response = client.execute(request).await.map_err(classify)?;
        let status = response.status().as_u16();
        let headers = std::mem::take(response.headers_mut());
        let body = response.bytes().await.map_err(classify)?;
        Ok(Reply {
            status,
            headers,
            body,
        })
    }
}

/// The whole cause of a failed exchange, outermost first (`error sending request: client
/// error (SendRequest): connection closed before message completed`), with timeouts named by
/// what timed out and after how long. reqwest errors name the URL, never headers; the URL is
/// dropped to keep messages short (and free of any user-info).
fn cause_chain(e: reqwest::Error, connect: Duration, read: Duration) -> String {
    let (is_timeout, is_connect) = (e.is_timeout(), e.is_connect());
    let e = e.without_url();
    let mut parts: Vec<String> = Vec::new();
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(&e);
    while let Some(s) = source {
        let text = s.to_string();
        // Wrappers often repeat their source's text; keep each piece once.
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    if is_timeout {
        let what = if is_connect {
            format!("timed out after {} s connecting", connect.as_secs())
        } else {
            format!("timed out after {} s reading the response", read.as_secs())
        };
        parts.retain(|p| !p.contains("timed out") && !p.contains("deadline"));
        parts.push(what);
    }
    let mut out = e.to_string();
    for p in parts {
        out.push_str(": ");
        out.push_str(&p);
    }
    out
}
