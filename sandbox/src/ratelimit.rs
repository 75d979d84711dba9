//! `--rate-limit N/s`: a token bucket per API key, so a client's pacing can be measured.
//!
//! Policy: each fixture key has a bucket of `N` tokens (one second of burst) that refills at
//! `N` per second; every write (any request but a GET, as Rebilly limits its non-GET endpoints)
//! takes one token, or is answered 429 without being processed. Requests without a known key
//! are not counted (they fail authentication). The answer says what the vendor says:
//! Rebilly `X-RateLimit-Limit` and `X-RateLimit-Remaining` on every counted answer the
//! sandbox processes or refuses for the limit (not on an injected fault or a 408/413), and
//! `X-RateLimit-Retry-After` (epoch seconds, rounded up) on a 429; Solvimon `Retry-After`
//! (whole seconds, at least 1) on a 429. The clock is passed in, so the arithmetic is tested
//! without sleeping.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::app::lock;

/// A limit of `per_second` writes per second per key.
#[derive(Debug)]
pub struct RateLimit {
    per_second: u32,
    buckets: Mutex<HashMap<usize, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// What the bucket says about one write.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    /// Whether the write may go ahead (a token was taken).
    pub allowed: bool,
    /// The bucket's size (`X-RateLimit-Limit`).
    pub limit: u32,
    /// Whole tokens left after this write (`X-RateLimit-Remaining`).
    pub remaining: u32,
    /// Refused: how long until a token is there.
    pub wait: Duration,
}

/// Parses `300/s` or `300` (writes per second per key, at least 1).
pub fn parse_rate(text: &str) -> Result<u32, String> {
    let number = text.trim().strip_suffix("/s").unwrap_or(text.trim());
    match number.parse::<u32>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!(
            "`{text}` is not a rate like 300/s (whole writes per second, at least 1)"
        )),
    }
}

impl RateLimit {
    /// `per_second` writes per second per key (at least 1).
    pub fn new(per_second: u32) -> Self {
        RateLimit {
            per_second: per_second.max(1),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token from key number `key`'s bucket at `now`, if there is one.
    pub fn take(&self, key: usize, now: Instant) -> Verdict {
        let rate = f64::from(self.per_second);
        let mut buckets = lock(&self.buckets);
        let bucket = buckets.entry(key).or_insert(Bucket {
            tokens: rate,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(rate);
        bucket.at = bucket.at.max(now);
        let allowed = bucket.tokens >= 1.0;
        if allowed {
            bucket.tokens -= 1.0;
        }
        let wait = if allowed {
            Duration::ZERO
        } else {
            Duration::from_secs_f64((1.0 - bucket.tokens) / rate)
        };
        Verdict {
            allowed,
            limit: self.per_second,
            // Truncation is the point: whole tokens (at most `per_second`, so it fits).
            remaining: bucket.tokens as u32,
            wait,
        }
    }
}

impl Verdict {
    /// Rebilly's headers for this answer (the retry instant only on a refusal), given the
    /// time now in Unix milliseconds.
    pub fn rebilly_headers(&self, now_unix_ms: u64) -> Vec<(&'static str, String)> {
        let mut headers = vec![
            ("x-ratelimit-limit", self.limit.to_string()),
            ("x-ratelimit-remaining", self.remaining.to_string()),
        ];
        if !self.allowed {
            // Rounded up past the instant (a millisecond more: never a second too early).
            let wait_ms = u64::try_from(self.wait.as_millis()).unwrap_or(u64::MAX);
            let at_ms = now_unix_ms.saturating_add(wait_ms).saturating_add(1);
            headers.push(("x-ratelimit-retry-after", at_ms.div_ceil(1000).to_string()));
        }
        headers
    }

    /// Solvimon's `Retry-After` for a refusal: whole seconds, rounded up, at least 1.
    pub fn retry_after_secs(&self) -> u64 {
        self.wait.as_secs_f64().ceil().max(1.0) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_bucket_lets_a_second_of_writes_through_then_refills_at_the_rate() {
        let limit = RateLimit::new(10);
        let t0 = Instant::now();
        for left in (0..10).rev() {
            let v = limit.take(0, t0);
            assert!(v.allowed);
            assert_eq!(v.remaining, left);
        }
        let refused = limit.take(0, t0);
        assert!(!refused.allowed);
        assert_eq!(refused.wait, Duration::from_millis(100));
        // Another key has its own bucket.
        assert!(limit.take(1, t0).allowed);
        // 100 ms later one token is back, and only one.
        let later = t0 + Duration::from_millis(100);
        assert!(limit.take(0, later).allowed);
        assert!(!limit.take(0, later).allowed);
        // A long pause refills to the bucket's size, not beyond.
        let much_later = t0 + Duration::from_secs(60);
        assert_eq!(limit.take(0, much_later).remaining, 9);
    }

    #[test]
    fn refusals_carry_each_vendors_retry_header() {
        let limit = RateLimit::new(4);
        let t0 = Instant::now();
        for _ in 0..4 {
            limit.take(7, t0);
        }
        let refused = limit.take(7, t0);
        // 250 ms to the next token: Solvimon says 1 s, Rebilly the epoch second after it.
        assert_eq!(refused.retry_after_secs(), 1);
        let headers = refused.rebilly_headers(1_000_900);
        assert!(headers.contains(&("x-ratelimit-retry-after", "1002".into())));
        assert!(headers.contains(&("x-ratelimit-remaining", "0".into())));
        assert!(headers.contains(&("x-ratelimit-limit", "4".into())));
        assert_eq!(limit.take(7, t0).rebilly_headers(0).len(), 3);
    }

    #[test]
    fn rates_read_like_the_flag() {
        assert_eq!(parse_rate("300/s"), Ok(300));
        assert_eq!(parse_rate("5"), Ok(5));
        assert!(parse_rate("0/s").is_err());
        assert!(parse_rate("fast").is_err());
        assert!(parse_rate("1.5/s").is_err());
    }
}
