//! Deterministic fault injection: `503=0.1,429=0.05,reset=0.02,lost-response=0.02,504=0.02,
//! delay=20ms`, optionally `prefix=/usages` and `retry-after=1`.
//!
//! Policy: the n-th request (counted per sandbox, among those under the prefix) draws
//! `splitmix64(seed, n)`; the same seed gives the same fault sequence for the same request order.
//! `lost-response` commits the write and then drops the connection; `504` commits it and then
//! answers 504 (a gateway that gave up waiting for it); `reset` drops the connection (RST)
//! before doing anything.

use std::time::Duration;

/// One injected fault.
/// Serialized with the names of the `--faults` spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fault {
    /// Answer 503 without processing.
    #[serde(rename = "503")]
    Unavailable,
    /// Answer 429 with the vendor's retry header, without processing.
    #[serde(rename = "429")]
    RateLimited,
    /// Drop the connection (RST) without processing.
    Reset,
    /// Process (commit the write), then drop the connection without answering.
    LostResponse,
    /// Process (commit the write), then answer 504, as a gateway that stopped waiting for it.
    #[serde(rename = "504")]
    GatewayTimeout,
}

/// A parsed `--faults` spec.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultSpec {
    /// Probability of each fault, in draw order.
    pub rates: Vec<(Fault, f64)>,
    /// Added latency for every request.
    pub delay: Duration,
    /// Only requests whose path starts with this are affected.
    pub prefix: Option<String>,
    /// Seconds clients are told to wait after a 429.
    pub retry_after_secs: u64,
}

/// A duration like `20ms` or `2s` (a bare number is milliseconds), as the fault spec and the
/// CLI's timeout flags write it.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let (num, unit) = text
        .find(|c: char| !c.is_ascii_digit())
        .map_or((text, "ms"), |i| text.split_at(i));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like 20ms or 1s"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        _ => Err(format!("`{text}`: unit must be ms or s")),
    }
}

impl FaultSpec {
    /// Parses `KIND=VALUE,...`; an empty string means no faults.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let mut out = FaultSpec {
            retry_after_secs: 1,
            ..FaultSpec::default()
        };
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (kind, value) = item
                .split_once('=')
                .ok_or_else(|| format!("`{item}`: expected KIND=VALUE"))?;
            let rate = || -> Result<f64, String> {
                let r: f64 = value
                    .parse()
                    .map_err(|_| format!("`{item}`: `{value}` is not a probability"))?;
                if (0.0..=1.0).contains(&r) {
                    Ok(r)
                } else {
                    Err(format!("`{item}`: probability must be within 0 and 1"))
                }
            };
            match kind {
                "503" => out.rates.push((Fault::Unavailable, rate()?)),
                "429" => out.rates.push((Fault::RateLimited, rate()?)),
                "reset" => out.rates.push((Fault::Reset, rate()?)),
                "lost-response" => out.rates.push((Fault::LostResponse, rate()?)),
                "504" => out.rates.push((Fault::GatewayTimeout, rate()?)),
                "delay" => out.delay = parse_duration(value)?,
                "prefix" => out.prefix = Some(value.to_owned()),
                "retry-after" => out.retry_after_secs = parse_duration(value)?.as_secs().max(1),
                _ => {
                    return Err(format!(
                        "unknown fault `{kind}`; expected 503, 429, reset, lost-response, 504, delay, prefix or retry-after"
                    ));
                }
            }
        }
        let total: f64 = out.rates.iter().map(|(_, r)| r).sum();
        if total > 1.0 {
            return Err(format!(
                "fault probabilities add up to {total}, more than 1"
            ));
        }
        Ok(out)
    }

    /// Whether `path` is subject to faults.
    pub fn applies_to(&self, path: &str) -> bool {
        self.prefix.as_deref().is_none_or(|p| path.starts_with(p))
    }

    /// The fault for draw `n` with `seed`, if any.
    pub fn draw(&self, seed: u64, n: u64) -> Option<Fault> {
        let r = (splitmix64(seed ^ splitmix64(n)) >> 11) as f64 / (1u64 << 53) as f64;
        let mut acc = 0.0;
        for (fault, rate) in &self.rates {
            acc += rate;
            if r < acc {
                return Some(*fault);
            }
        }
        None
    }
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_spec() {
        let s = FaultSpec::parse(
            "503=0.1,429=0.05,reset=0.02,lost-response=0.02,504=0.01,delay=20ms,prefix=/usages",
        )
        .unwrap();
        assert_eq!(s.rates.len(), 5);
        assert_eq!(s.rates[4], (Fault::GatewayTimeout, 0.01));
        assert_eq!(s.delay, Duration::from_millis(20));
        assert!(s.applies_to("/usages/1") && !s.applies_to("/v1/events/calculate"));
        assert!(
            FaultSpec::parse("500=0.1")
                .unwrap_err()
                .contains("unknown fault")
        );
        assert!(
            FaultSpec::parse("503=0.7,429=0.5")
                .unwrap_err()
                .contains("more than 1")
        );
        assert!(FaultSpec::parse("503=x").is_err());
    }

    #[test]
    fn draws_are_deterministic_and_follow_the_rates() {
        let s = FaultSpec::parse("503=0.2,429=0.1").unwrap();
        let a: Vec<_> = (0..1000).map(|n| s.draw(7, n)).collect();
        let b: Vec<_> = (0..1000).map(|n| s.draw(7, n)).collect();
        assert_eq!(a, b);
        let c: Vec<_> = (0..1000).map(|n| s.draw(8, n)).collect();
        assert_ne!(a, c);
        let n503 = a.iter().filter(|f| **f == Some(Fault::Unavailable)).count();
        let n429 = a.iter().filter(|f| **f == Some(Fault::RateLimited)).count();
        assert!((150..250).contains(&n503), "{n503}");
        assert!((60..140).contains(&n429), "{n429}");
    }
}
