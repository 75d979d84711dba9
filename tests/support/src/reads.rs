//! Reads of what the sandbox holds: its admin paths (no auth) and the vendors' list endpoints,
//! with the least-privileged key that may read. A read that is not 200 panics.

use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::Value;
use usage_sandbox::auth::{REBILLY, SOLVIMON, VendorAuth};

use crate::sandbox::{Answer, Sandbox, send};

/// One page of Rebilly usages (`GET /usages`) with its `Pagination-*` headers.
#[derive(Debug, Clone, PartialEq)]
pub struct Usages {
    /// `Pagination-Total`: how many usages match the filter.
    pub total: u64,
    /// `Pagination-Limit`.
    pub limit: u64,
    /// `Pagination-Offset`.
    pub offset: u64,
    /// The usages on this page, as the sandbox answered them.
    pub items: Vec<Value>,
}

/// One page of Solvimon records (`GET /v1/ingest/{kind}`).
#[derive(Debug, Clone, PartialEq)]
pub struct Records {
    /// The records on this page, as the sandbox answered them.
    pub data: Vec<Value>,
    /// Page number, from 1.
    pub page: u64,
    /// Records per page.
    pub limit: u64,
    /// Pages in all (at least 1).
    pub total_number_of_pages: u64,
}

impl Sandbox {
    /// `GET /_sandbox/stats`: record counts by kind, `duplicates` and `usages`.
    pub async fn stats(&self) -> Value {
        self.admin("/_sandbox/stats").await
    }

    /// How many records of each of `kinds` (`usages`, `meter-data`, `persist-data`, …) the
    /// sandbox holds, in that order (0 for a kind it has none of).
    pub async fn counts(&self, kinds: &[&str]) -> Vec<u64> {
        let stats = self.stats().await;
        kinds
            .iter()
            .map(|k| stats[*k].as_u64().unwrap_or(0))
            .collect()
    }

    /// `GET /_sandbox/faults`: the injected faults, in draw order.
    pub async fn faults(&self) -> Value {
        self.admin("/_sandbox/faults").await
    }

    /// `GET /_sandbox/requests`: every request, in arrival order; panics unless the sandbox
    /// was started with `record_requests`.
    pub async fn requests(&self) -> Value {
        self.admin("/_sandbox/requests").await
    }

    /// From the request log ([`Sandbox::requests`]): asserts that after every answer carrying a
    /// retry instant (a 429, injected or over the rate limit), the same call's next request
    /// came no earlier; returns how many such retries were checked.
    pub async fn assert_retries_waited(&self) -> usize {
        let log = self.requests().await;
        let mut by_identity: std::collections::BTreeMap<&str, Vec<&Value>> = Default::default();
        for r in log.as_array().expect("a request log") {
            if let Some(id) = r["identity"].as_str() {
                by_identity.entry(id).or_default().push(r);
            }
        }
        let mut checked = 0;
        for (identity, requests) in &by_identity {
            for pair in requests.windows(2) {
                if let Some(until) = pair[0]["retry_not_before_ms"].as_u64() {
                    let next = pair[1]["at_ms"].as_u64().expect("at_ms");
                    assert!(
                        next >= until,
                        "{identity}: retried at {next}, server allowed {until}"
                    );
                    checked += 1;
                }
            }
        }
        checked
    }

    /// `GET /usages` with `query` pairs (`filter`, `sort`, `limit`, `offset`; encoded here),
    /// with the least-privileged key that may read Rebilly usages.
    pub async fn usages(&self, query: &[(&str, &str)]) -> Usages {
        let (headers, body) = self.read(REBILLY, "/usages", query).await;
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok()?.parse().ok())
                .unwrap_or_else(|| panic!("GET /usages: no numeric {name} header"))
        };
        Usages {
            total: header("pagination-total"),
            limit: header("pagination-limit"),
            offset: header("pagination-offset"),
            items: items(&body, "GET /usages"),
        }
    }

    /// `GET /v1/ingest/{kind}` (`meter-data`, `persist-data`, `charge-data`,
    /// `adjustment-data`) with `query` pairs (`reference`, `customer_id`,
    /// `processed_details_type`, `limit`, `page`), with the least-privileged key that may read
    /// Solvimon records.
    pub async fn solvimon_records(&self, kind: &str, query: &[(&str, &str)]) -> Records {
        let path = format!("/v1/ingest/{kind}");
        let (_, body) = self.read(SOLVIMON, &path, query).await;
        let number = |name: &str| {
            body[name]
                .as_u64()
                .unwrap_or_else(|| panic!("GET {path}: no {name} in {body}"))
        };
        Records {
            page: number("page"),
            limit: number("limit"),
            total_number_of_pages: number("total_number_of_pages"),
            data: items(&body["data"], &path),
        }
    }

    /// `GET /v1/ingest/{kind}/{id_or_reference}`: the record, or `None` on 404.
    pub async fn solvimon_record(&self, kind: &str, id_or_reference: &str) -> Option<Value> {
        let path = format!("/v1/ingest/{kind}/{id_or_reference}");
        let request = self.authorized(SOLVIMON, &path);
        match send(request, &path).await {
            (StatusCode::NOT_FOUND, _, _) => None,
            answer => Some(ok(answer, &path).1),
        }
    }

    async fn admin(&self, path: &str) -> Value {
        ok(send(self.request(Method::GET, path), path).await, path).1
    }

    async fn read(
        &self,
        vendor: VendorAuth,
        path: &str,
        query: &[(&str, &str)],
    ) -> (reqwest::header::HeaderMap, Value) {
        let request = self.authorized(vendor, path).query(query);
        ok(send(request, path).await, path)
    }

    /// A GET of `path` with the least-privileged key that may read for `vendor`.
    fn authorized(&self, vendor: VendorAuth, path: &str) -> RequestBuilder {
        let key = self.key_with(&[vendor.read]);
        self.request(Method::GET, path)
            .header(vendor.key_header, key)
    }
}

/// The headers and body of a 200 answer; panics on any other status.
fn ok((status, headers, body): Answer, path: &str) -> (reqwest::header::HeaderMap, Value) {
    assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
    (headers, body)
}

fn items(list: &Value, path: &str) -> Vec<Value> {
    list.as_array()
        .unwrap_or_else(|| panic!("{path}: not a list: {list}"))
        .clone()
}
