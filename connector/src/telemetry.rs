//! Operators' metrics, recorded through the `metrics` facade: nothing is kept or costs more
//! than a check until a binary installs a recorder ([`serve`], feature `prometheus`, behind
//! the binaries' `--metrics ADDR`; docs/operations.md lists each one).
//!
//! Policy: every exchange is counted where it happens ([`crate::execute::steps`]), so every
//! engine (the local runner, ingest, the Restate service) reports the same series; a call's
//! end, its retries and an ingest's records where they are decided. A durable engine's replay
//! counts nothing: its exchanges come from the journal, and its decisions are not counted
//! while it replays ([`crate::execute::steps::Steps::replaying`]).

use std::time::Duration;

use crate::catalog::EndpointId;
use crate::output::AttemptKind;

/// Exchanges, by `endpoint`, `kind` (`send`, `lookup`) and `status` (`2xx`, `3xx`, `4xx`,
/// `429`, `5xx`, or `none` when no answer came).
pub const REQUESTS: &str = "usage_connector_requests_total";
/// Exchanges the API refused or that failed, by `endpoint` and `reason`: `429`, `503`, `5xx`
/// (another server error), `connect` (not sent: no connection), `lost` (sent, no answer).
pub const REFUSALS: &str = "usage_connector_refusals_total";
/// Waits before another try of a call, by `endpoint`.
pub const RETRIES: &str = "usage_connector_retries_total";
/// Calls that ended with their outcome unknown (`OUTCOME_UNKNOWN`: the next run resolves
/// them), by `endpoint`.
pub const UNKNOWN_OUTCOMES: &str = "usage_connector_unknown_outcomes_total";
/// Calls that ended, by `endpoint` and `outcome` (`created`, `duplicate`, `recovered`,
/// `partial`, `failed`).
pub const CALLS: &str = "usage_connector_calls_total";
/// Ingested records, by `outcome` (`created`, `duplicate`, `recovered`, `partial`, `skipped`,
/// `invalid`, `failed`).
pub const RECORDS: &str = "usage_connector_ingest_records_total";
/// An ingest's window: exchanges allowed in flight.
pub const WINDOW: &str = "usage_connector_ingest_window";
/// An ingest's exchanges in flight.
pub const IN_FLIGHT: &str = "usage_connector_ingest_in_flight";
/// An ingest's pace in requests per second (0: not paced).
pub const PACE: &str = "usage_connector_ingest_pace_per_second";
/// How long exchanges took, by `endpoint` and `kind`, in seconds.
pub const LATENCY: &str = "usage_connector_request_duration_seconds";

/// The histogram buckets of [`LATENCY`], in seconds.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Describes every metric to the installed recorder (its `# HELP` lines).
pub fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        REQUESTS,
        "Exchanges with the API by endpoint, kind and status class"
    );
    describe_counter!(
        REFUSALS,
        "Exchanges refused or failed, by endpoint and reason"
    );
    describe_counter!(RETRIES, "Waits before another try of a call");
    describe_counter!(
        UNKNOWN_OUTCOMES,
        "Calls that ended with their outcome unknown"
    );
    describe_counter!(CALLS, "Calls that ended, by endpoint and outcome");
    describe_counter!(RECORDS, "Ingested records by outcome");
    describe_gauge!(WINDOW, "Ingest: exchanges allowed in flight");
    describe_gauge!(IN_FLIGHT, "Ingest: exchanges in flight");
    describe_gauge!(PACE, "Ingest: requests per second allowed (0: not paced)");
    describe_histogram!(LATENCY, Unit::Seconds, "How long exchanges took");
}

/// Installs a Prometheus recorder for this process and serves its text format at
/// `http://ADDR/metrics`, from a thread of its own when called outside a Tokio runtime (else
/// on the current runtime). Errors when the address cannot be bound or a recorder is
/// installed already.
#[cfg(feature = "prometheus")]
pub fn serve(addr: std::net::SocketAddr) -> crate::Result<()> {
    use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
    let failed = |e: metrics_exporter_prometheus::BuildError| crate::Error::Metrics {
        addr,
        message: e.to_string(),
    };
    PrometheusBuilder::new()
        .with_http_listener(addr)
        .set_buckets_for_metric(Matcher::Full(LATENCY.into()), LATENCY_BUCKETS)
        .map_err(failed)?
        .install()
        .map_err(failed)?;
    describe();
    Ok(())
}

fn endpoint_label(endpoint: Option<EndpointId>) -> &'static str {
    endpoint.map_or("other", EndpointId::as_str)
}

/// One exchange: answered with `status`, or not (`connected`: the request left).
pub(crate) fn exchange(
    endpoint: Option<EndpointId>,
    kind: AttemptKind,
    status: Option<u16>,
    connected: bool,
    took: Duration,
) {
    let endpoint = endpoint_label(endpoint);
    let kind = kind.as_str();
    let class = match status {
        None => "none",
        Some(429) => "429",
        Some(s) if s < 300 => "2xx",
        Some(s) if s < 400 => "3xx",
        Some(s) if s < 500 => "4xx",
        Some(_) => "5xx",
    };
    metrics::counter!(REQUESTS, "endpoint" => endpoint, "kind" => kind, "status" => class)
        .increment(1);
    metrics::histogram!(LATENCY, "endpoint" => endpoint, "kind" => kind).record(took.as_secs_f64());
    let reason = match status {
        Some(429) => "429",
        Some(503) => "503",
        Some(s) if s >= 500 => "5xx",
        Some(_) => return,
        None if connected => "lost",
        None => "connect",
    };
    metrics::counter!(REFUSALS, "endpoint" => endpoint, "reason" => reason).increment(1);
}

/// A wait before another try.
pub(crate) fn retry(endpoint: Option<EndpointId>) {
    metrics::counter!(RETRIES, "endpoint" => endpoint_label(endpoint)).increment(1);
}

/// A call's end: its outcome (`created`…), or `failed` (`unknown`: `OUTCOME_UNKNOWN`).
pub(crate) fn call(endpoint: Option<EndpointId>, outcome: &'static str, unknown: bool) {
    let endpoint = endpoint_label(endpoint);
    metrics::counter!(CALLS, "endpoint" => endpoint, "outcome" => outcome).increment(1);
    if unknown {
        metrics::counter!(UNKNOWN_OUTCOMES, "endpoint" => endpoint).increment(1);
    }
}

/// An ingested record's end.
pub(crate) fn record(outcome: &'static str) {
    metrics::counter!(RECORDS, "outcome" => outcome).increment(1);
}

/// An ingest governor's state.
pub(crate) fn governor(window: usize, in_flight: usize, pace: Option<f64>) {
    metrics::gauge!(WINDOW).set(window as f64);
    metrics::gauge!(IN_FLIGHT).set(in_flight as f64);
    metrics::gauge!(PACE).set(pace.unwrap_or(0.0));
}
