//! The retry decision: a pure function of the policy, the attempt number, what happened and
//! the response headers — no clock reads, no randomness of its own, no I/O.
//!
//! Policy (docs/execution.md, "Retry policy"):
//! - retry only what can succeed later: connect errors, timeouts, lost connections, and
//!   408, 425, 429, 500, 502, 503, 504; never 400/401/403/404/409/422 or any other status;
//! - delay before retry n (1-based) = `intervalSeconds × backoffRate^(n−1)`, capped at
//!   `maxDelaySeconds`; `jitter: full` draws uniformly in `[0, delay]`;
//! - a server's `Retry-After` (seconds or HTTP date) or `X-RateLimit-Retry-After` (epoch
//!   seconds) is a floor: the next attempt never goes earlier. When that floor is beyond
//!   `maxDelaySeconds`, retrying stops instead of sending too early;
//! - `maxAttempts` is the number of retries after the first attempt (0 = never retry).

use std::time::{Duration, SystemTime};

use crate::simworkflow::{Jitter, Retry};

/// A retry policy with defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Delay before the first retry.
    pub interval: Duration,
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Growth factor of the delay.
    pub backoff_rate: f64,
    /// Cap of any one delay.
    pub max_delay: Duration,
    /// Jitter mode.
    pub jitter: Jitter,
}

impl Default for RetryPolicy {
    /// Amazon States Language's retrier defaults (SimWorkflow copies them: 1 s, 3, 2.0), a 60 s
    /// cap and full jitter.
    fn default() -> Self {
        RetryPolicy {
            interval: Duration::from_secs(1),
            max_retries: 3,
            backoff_rate: 2.0,
            max_delay: Duration::from_secs(60),
            jitter: Jitter::Full,
        }
    }
}

impl RetryPolicy {
    /// The policy of a task's `retry` block (missing fields take the defaults).
    pub fn from_task(retry: Option<&Retry>) -> Self {
        let d = RetryPolicy::default();
        let Some(r) = retry else { return d };
        RetryPolicy {
            interval: r
                .interval_seconds
                .map_or(d.interval, |s| Duration::from_secs(u64::from(s))),
            max_retries: r.max_attempts.unwrap_or(d.max_retries),
            backoff_rate: r
                .backoff_rate
                .filter(|b| *b >= 1.0)
                .unwrap_or(d.backoff_rate),
            max_delay: r
                .max_delay_seconds
                .map_or(d.max_delay, |s| Duration::from_secs(u64::from(s))),
            jitter: r.jitter.unwrap_or(d.jitter),
        }
    }
}

/// What one attempt produced, as far as retrying is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// An HTTP answer with this status.
    Status(u16),
    /// The connection could not be made (nothing was sent).
    ConnectError,
    /// No answer in time, or the connection broke after sending (the write may have happened).
    Lost,
}

/// The decision.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Wait this long, then try again.
    RetryAfter(Duration),
    /// Do not retry.
    Stop(StopReason),
}

/// Why retrying stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The outcome is final (success or an error that will not change).
    NotRetryable,
    /// `maxAttempts` retries were made.
    Exhausted,
    /// The server asked for a wait beyond `maxDelaySeconds`.
    ServerWaitTooLong,
}

/// Statuses worth retrying.
pub fn retryable_status(status: u16) -> bool {
    matches!(status, 408 | 425 | 429 | 500 | 502 | 503 | 504)
}

/// How long the server asks to wait from `now` (the moment its answer arrived), from
/// `Retry-After` (delay-seconds or HTTP date) or `X-RateLimit-Retry-After` (epoch seconds);
/// the longest when several are present. `headers` yields (lower-case name, value).
pub fn server_wait<'a>(
    headers: impl IntoIterator<Item = (&'a str, &'a str)>,
    now: SystemTime,
) -> Option<Duration> {
    let mut found = None;
    for (name, value) in headers {
        let value = value.trim();
        let at = match name {
            "retry-after" => match value.parse::<u64>() {
                Ok(secs) => Some(now + Duration::from_secs(secs)),
                Err(_) => chrono::DateTime::parse_from_rfc2822(value)
                    .ok()
                    .map(SystemTime::from),
            },
            "x-ratelimit-retry-after" => value
                .parse::<u64>()
                .ok()
                .map(|epoch| SystemTime::UNIX_EPOCH + Duration::from_secs(epoch)),
            _ => None,
        };
        found = found.max(at);
    }
    found.map(|at| at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Decides what to do after attempt number `attempt` (1 = the first send).
///
/// `server_wait` is the server's floor, measured from when its answer arrived
/// ([`server_wait`]); `random` a number in `[0, 1)` used for jitter.
pub fn decide(
    policy: &RetryPolicy,
    attempt: u32,
    outcome: &Attempt,
    server_wait: Option<Duration>,
    random: f64,
) -> Decision {
    let retryable = match outcome {
        Attempt::Status(s) => retryable_status(*s),
        Attempt::ConnectError | Attempt::Lost => true,
    };
    if !retryable {
        return Decision::Stop(StopReason::NotRetryable);
    }
    if attempt > policy.max_retries {
        return Decision::Stop(StopReason::Exhausted);
    }
    let exponent = i32::try_from(attempt.saturating_sub(1)).unwrap_or(i32::MAX);
    let backoff = policy.interval.as_secs_f64() * policy.backoff_rate.powi(exponent);
    let capped = backoff.min(policy.max_delay.as_secs_f64());
    let delay = match policy.jitter {
        Jitter::Full => capped * random.clamp(0.0, 1.0),
        Jitter::None => capped,
    };
    let mut delay = Duration::from_secs_f64(delay.max(0.0));
    if let Some(floor) = server_wait {
        if floor > policy.max_delay {
            return Decision::Stop(StopReason::ServerWaitTooLong);
        }
        delay = delay.max(floor);
    }
    Decision::RetryAfter(delay)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(jitter: Jitter) -> RetryPolicy {
        RetryPolicy {
            interval: Duration::from_secs(1),
            max_retries: 3,
            backoff_rate: 2.0,
            max_delay: Duration::from_secs(5),
            jitter,
        }
    }

    const T0: SystemTime = SystemTime::UNIX_EPOCH;

    fn now() -> SystemTime {
        T0 + Duration::from_secs(1_700_000_000)
    }

    #[test]
    fn every_status_class_is_classified() {
        for s in [408, 425, 429, 500, 502, 503, 504] {
            assert!(
                matches!(
                    decide(&policy(Jitter::None), 1, &Attempt::Status(s), None, 0.5),
                    Decision::RetryAfter(_)
                ),
                "{s}"
            );
        }
        for s in [
            200, 201, 204, 301, 304, 400, 401, 403, 404, 405, 409, 413, 415, 422, 426, 499, 501,
            505, 599,
        ] {
            assert_eq!(
                decide(&policy(Jitter::None), 1, &Attempt::Status(s), None, 0.5),
                Decision::Stop(StopReason::NotRetryable),
                "{s}"
            );
        }
        for o in [Attempt::ConnectError, Attempt::Lost] {
            assert_eq!(
                decide(&policy(Jitter::None), 1, &o, None, 0.5),
                Decision::RetryAfter(Duration::from_secs(1))
            );
        }
    }

    #[test]
    fn backoff_grows_by_the_rate_and_is_capped() {
        let p = policy(Jitter::None);
        let delays: Vec<Decision> = (1..=3)
            .map(|n| decide(&p, n, &Attempt::Status(503), None, 0.0))
            .collect();
        assert_eq!(
            delays,
            vec![
                Decision::RetryAfter(Duration::from_secs(1)),
                Decision::RetryAfter(Duration::from_secs(2)),
                Decision::RetryAfter(Duration::from_secs(4))
            ]
        );
        let long = RetryPolicy {
            max_retries: 10,
            ..p.clone()
        };
        assert_eq!(
            decide(&long, 5, &Attempt::Status(503), None, 0.0),
            Decision::RetryAfter(Duration::from_secs(5)),
            "16 s capped at 5 s"
        );
        assert_eq!(
            decide(&p, 4, &Attempt::Status(503), None, 0.0),
            Decision::Stop(StopReason::Exhausted)
        );
        let never = RetryPolicy {
            max_retries: 0,
            ..p
        };
        assert_eq!(
            decide(&never, 1, &Attempt::Status(503), None, 0.0),
            Decision::Stop(StopReason::Exhausted)
        );
    }

    #[test]
    fn full_jitter_draws_within_zero_and_the_delay() {
        let p = policy(Jitter::Full);
        assert_eq!(
            decide(&p, 2, &Attempt::Status(503), None, 0.0),
            Decision::RetryAfter(Duration::ZERO)
        );
        assert_eq!(
            decide(&p, 2, &Attempt::Status(503), None, 0.5),
            Decision::RetryAfter(Duration::from_secs(1))
        );
        assert_eq!(
            decide(&p, 2, &Attempt::Status(503), None, 0.999_999),
            Decision::RetryAfter(Duration::from_secs_f64(2.0 * 0.999_999))
        );
    }

    #[test]
    fn retry_after_in_every_form_is_a_floor() {
        let n = now();
        assert_eq!(
            server_wait([("retry-after", "3")], n),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            server_wait([("retry-after", "Tue, 14 Nov 2023 22:13:24 GMT")], n),
            Some(Duration::from_secs(4))
        );
        assert_eq!(
            server_wait([("x-ratelimit-retry-after", "1700000002")], n),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            server_wait([("x-ratelimit-retry-after", "1699999990")], n),
            Some(Duration::ZERO),
            "a past instant waits nothing"
        );
        assert_eq!(
            server_wait([("retry-after", "soon"), ("content-type", "x")], n),
            None
        );
        assert_eq!(
            server_wait(
                [
                    ("retry-after", "1"),
                    ("x-ratelimit-retry-after", "1700000002")
                ],
                n
            ),
            Some(Duration::from_secs(2)),
            "the later one wins"
        );
        // Jitter never goes below the floor.
        let p = policy(Jitter::Full);
        assert_eq!(
            decide(
                &p,
                1,
                &Attempt::Status(429),
                Some(Duration::from_secs(3)),
                0.1
            ),
            Decision::RetryAfter(Duration::from_secs(3))
        );
        assert_eq!(
            decide(&p, 1, &Attempt::Status(429), Some(Duration::ZERO), 0.5),
            Decision::RetryAfter(Duration::from_millis(500))
        );
        // A server wait beyond the cap stops retrying rather than sending early.
        assert_eq!(
            decide(
                &p,
                1,
                &Attempt::Status(429),
                Some(Duration::from_secs(6)),
                0.5
            ),
            Decision::Stop(StopReason::ServerWaitTooLong)
        );
    }

    #[test]
    fn task_retry_blocks_fill_in_defaults() {
        let r = Retry {
            interval_seconds: Some(2),
            max_attempts: Some(0),
            backoff_rate: None,
            max_delay_seconds: Some(10),
            jitter: Some(Jitter::None),
        };
        let p = RetryPolicy::from_task(Some(&r));
        assert_eq!(
            (
                p.interval,
                p.max_retries,
                p.backoff_rate,
                p.max_delay,
                p.jitter
            ),
            (
                Duration::from_secs(2),
                0,
                2.0,
                Duration::from_secs(10),
                Jitter::None
            )
        );
        assert_eq!(RetryPolicy::from_task(None), RetryPolicy::default());
    }
}
