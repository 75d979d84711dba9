//! A sandbox started for one test, with a client, its dev keys and the raw call.

use reqwest::header::HeaderMap;
use reqwest::{Client, Method, RequestBuilder, StatusCode};
use serde_json::Value;
use usage_sandbox::auth::{REBILLY, SOLVIMON, VendorAuth};
use usage_sandbox::{Config, Running};

/// An answer: status, headers and the JSON body (`Null` when the body is empty).
pub type Answer = (StatusCode, HeaderMap, Value);

/// A running sandbox and a client for it.
pub struct Sandbox {
    running: Running,
    http: Client,
}

impl Sandbox {
    /// Starts a sandbox with the default config (default fixture, no faults, in memory) on a
    /// free loopback port; panics when it cannot start.
    pub async fn start() -> Self {
        Self::with(Config::default()).await
    }

    /// Starts a sandbox with `config`, after installing the crypto provider
    /// ([`crate::install_crypto_provider`]); panics when it cannot start.
    pub async fn with(config: Config) -> Self {
        crate::install_crypto_provider();
        let running = usage_sandbox::start(config)
            .await
            .unwrap_or_else(|e| panic!("the sandbox did not start: {e}"));
        Sandbox {
            running,
            http: Client::new(),
        }
    }

    /// The running sandbox (address, keys).
    pub fn running(&self) -> &Running {
        &self.running
    }

    /// `http://HOST:PORT`.
    pub fn url(&self) -> String {
        self.running.url()
    }

    /// The client every helper uses (one connection pool per sandbox).
    pub fn http(&self) -> &Client {
        &self.http
    }

    /// The least-privileged key that may write and read for `vendor` (`"solvimon"`, `"rebilly"`);
    /// panics when the fixture has none.
    pub fn dev_key(&self, vendor: &str) -> &str {
        let key = self.running.dev_key(vendor);
        &key.unwrap_or_else(|| panic!("no key may write for {vendor}"))
            .key
    }

    /// The least-privileged key holding every one of `permissions`; panics when the fixture
    /// has none.
    pub fn key_with(&self, permissions: &[&str]) -> &str {
        let key = self.running.key_with(permissions);
        &key.unwrap_or_else(|| panic!("no key holds {permissions:?}"))
            .key
    }

    /// Sends `method path` (the path may carry a query) with `headers` and `body`; returns
    /// the answer whatever its status.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Answer {
        let mut request = self.request(method, path);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.body(body.to_owned());
        }
        send(request, path).await
    }

    /// POSTs `body` as JSON to a Solvimon `path` with the Solvimon dev key.
    pub async fn solvimon(&self, path: &str, body: Value) -> Answer {
        self.post_as(SOLVIMON, path, body, None).await
    }

    /// POSTs `body` as JSON to a Solvimon `path` with the Solvimon dev key and
    /// `Idempotency-Key: idempotency_key`.
    pub async fn solvimon_idempotent(
        &self,
        path: &str,
        idempotency_key: &str,
        body: Value,
    ) -> Answer {
        self.post_as(SOLVIMON, path, body, Some(idempotency_key))
            .await
    }

    /// POSTs `body` as JSON to a Rebilly `path` with the Rebilly dev key.
    pub async fn rebilly(&self, path: &str, body: Value) -> Answer {
        self.post_as(REBILLY, path, body, None).await
    }

    async fn post_as(
        &self,
        vendor: VendorAuth,
        path: &str,
        body: Value,
        idempotency_key: Option<&str>,
    ) -> Answer {
        let key = self.dev_key(vendor.vendor);
        let mut headers = vec![
            (vendor.key_header, key),
            ("content-type", "application/json"),
        ];
        headers.extend(idempotency_key.map(|k| ("idempotency-key", k)));
        self.call(Method::POST, path, &headers, Some(&body.to_string()))
            .await
    }

    /// A request to `path` on this sandbox.
    pub(crate) fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http.request(method, format!("{}{path}", self.url()))
    }

    /// Stops the sandbox (closes open connections).
    pub async fn shutdown(self) {
        self.running.shutdown().await;
    }
}

/// Sends `request`; panics on a transport error or a body that is not JSON.
pub(crate) async fn send(request: RequestBuilder, path: &str) -> Answer {
    let response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    let status = response.status();
    let headers = response.headers().clone();
    let text = response
        .text()
        .await
        .unwrap_or_else(|e| panic!("{path}: reading the body: {e}"));
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{path}: {status} body is not JSON ({e}): {text}"))
    };
    (status, headers, body)
}
