//! Idempotency identity: what makes every attempt, retry and re-run of one logical call the
//! same call.
//!
//! Policy: an identity is derived from the execution (workflow id, task name, endpoint and the
//! request body), never drawn from a clock or a random number, so a replay derives the same
//! one. Digests are SHA-256 (ring) over length-prefixed parts, so `["ab", "c"]` and
//! `["a", "bc"]` differ; derived keys show the first 128 bits as `uc-` + 32 hex digits. Where
//! an API has no idempotency key, the identity rides in a field the API keeps (Rebilly: the
//! sub-second digits of `usageTime`, [`UsageIdentityMode`]).

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

/// Who is asking: the execution a request belongs to. The prepare path reads nothing else
/// from its surroundings (not even the clock), so it stays a pure function.
#[derive(Debug, Clone, Copy)]
pub struct Execution<'a> {
    /// The workflow run's id.
    pub workflow_id: &'a str,
    /// The task's name in the definition.
    pub task_name: &'a str,
    /// The time a request without a time of its own is stamped with (Rebilly `usageTime`).
    pub now: DateTime<Utc>,
    /// The definition's name (`$$.StateMachine.Name`; empty when unknown).
    pub definition: &'a str,
    /// The workflow's input (`$$.Execution.Input`; `Null` when unknown).
    pub execution_input: &'a serde_json::Value,
    /// The execution's number (`swf:sequenceNumber`), when its engine gives one.
    pub sequence: Option<u64>,
}

static NO_INPUT: serde_json::Value = serde_json::Value::Null;

impl<'a> Execution<'a> {
    /// A task of an execution, stamped `now`, with no definition name or workflow input known.
    pub fn new(workflow_id: &'a str, task_name: &'a str, now: DateTime<Utc>) -> Self {
        Execution {
            workflow_id,
            task_name,
            now,
            definition: "",
            execution_input: &NO_INPUT,
            sequence: None,
        }
    }
}

/// SHA-256 of `parts`, each prefixed by its length.
pub fn digest(parts: &[&str]) -> [u8; 32] {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for part in parts {
        ctx.update(&(part.len() as u64).to_le_bytes());
        ctx.update(part.as_bytes());
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// The first 128 bits of [`digest`] of `parts`, in lowercase hex, after `prefix`.
pub fn hex_digest(prefix: &str, parts: &[&str]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(prefix.len() + 32);
    text.push_str(prefix);
    for b in &digest(parts)[..16] {
        text.push(char::from(DIGITS[usize::from(b >> 4)]));
        text.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    text
}

/// A derived key: `uc-` and the first 128 bits of [`digest`] in hex.
pub fn derived_key(parts: &[&str]) -> String {
    hex_digest("uc-", parts)
}

/// The canonical text of a body as the identity digests it: compact JSON, keys in order. The
/// same bytes as the value's `Display`, written straight into a buffer (no formatter between).
pub fn canonical_text(body: &serde_json::Value) -> String {
    serde_json::to_string(body).expect("a JSON value serializes")
}

/// What identifies one logical call across attempts, retries and re-runs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Identity {
    /// Sent as `Idempotency-Key` on every attempt (Solvimon).
    pub idempotency_key: Option<String>,
    /// A metered usage: what a lookup after an ambiguous failure matches (Rebilly).
    pub usage: Option<UsageIdentity>,
    /// Whether the request carries the execution's time ([`Execution::now`], e.g. a Rebilly
    /// usage without a time of its own): prepared at another time it is another request, so
    /// an engine must fix the time before the first send (a durable one: journal it).
    pub stamped: bool,
}

impl Identity {
    /// As an ingest journal's `begin` line shows it: the Solvimon `Idempotency-Key`, or
    /// `usageTime=…` for a Rebilly usage.
    pub fn shown(&self) -> Option<String> {
        self.idempotency_key.clone().or_else(|| {
            self.usage
                .as_ref()
                .map(|u| format!("usageTime={}", u.usage_time))
        })
    }
}

/// What a journal keeps of what identified a request to its API when it began (before it
/// left): 8 bytes of a digest, written as 16 hex digits
/// ([`PreparedRequest::began`](crate::prepare::PreparedRequest::began)). None (a request with
/// no identity, a journal written before it was kept) matches any.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Began(u64);

impl Began {
    /// The fingerprint of `parts`; all empty: none.
    pub fn of(parts: &[&str]) -> Began {
        if parts.iter().all(|p| p.is_empty()) {
            return Began(0);
        }
        let d = digest(parts);
        Began(u64::from_le_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]]).max(1))
    }

    /// Whether there is none.
    pub fn is_none(&self) -> bool {
        self.0 == 0
    }

    /// As a journal writes it (`None` when there is none).
    pub fn text(self) -> Option<String> {
        (self.0 != 0).then(|| format!("{:016x}", self.0))
    }

    /// As a journal wrote it; absent or unreadable: none.
    pub fn parse(text: Option<&str>) -> Began {
        Began(
            text.and_then(|t| u64::from_str_radix(t, 16).ok())
                .unwrap_or(0),
        )
    }

    /// Whether a request that identifies itself as `now` is the one that began (always, when
    /// none was kept).
    pub fn matches(self, now: Began) -> bool {
        self.0 == 0 || self == now
    }
}

impl serde::Serialize for Began {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.text().serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for Began {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = Option::<String>::deserialize(d)?;
        Ok(Began::parse(text.as_deref()))
    }
}

/// A usage report's identity and quantities.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageIdentity {
    /// The call's derived key (execution, task, endpoint, body).
    pub key: String,
    /// Whether `usage_time` carries the key (so a lookup matches this call exactly).
    pub exact: bool,
    /// The subscription.
    pub subscription: String,
    /// The usage time sent.
    pub usage_time: String,
    /// The quantity sent (after rounding).
    pub quantity: Decimal,
    /// What rounding removed, if it ran.
    pub rounded_away: Option<Decimal>,
    /// Whether the API may record less than asked.
    pub accept_partial: bool,
}

/// How a Rebilly usage carries its call's identity (Rebilly has no idempotency key, and the
/// usage `id` is read-only: clients cannot choose it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UsageIdentityMode {
    /// `usageTime` carries six sub-second digits derived from the call's identity, so a
    /// lookup by subscription and `usageTime` matches exactly one logical call. Inferred: that
    /// the API keeps fractions of a second (`docs/execution.md`).
    #[default]
    TimeFraction,
    /// Whole seconds, no identity: a lookup that finds a usage like ours cannot tell whose it
    /// is, so the outcome is reported unknown, never guessed.
    WholeSeconds,
}

/// How identities are carried, for the APIs that need a choice (one setting per executor).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IdentityOptions {
    /// Rebilly usages.
    pub usage: UsageIdentityMode,
}

/// Six decimal digits (0–999,999) derived from `key`: the sub-second part of a usage time
/// that carries the call's identity.
pub fn micros_of(key: &str) -> u32 {
    let d = digest(&[key]);
    u32::from_le_bytes([d[0], d[1], d[2], d[3]]) % 1_000_000
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `uc-` + the first 32 hex digits of SHA-256(8-byte LE length + "wf" + 8-byte LE length +
    /// "t"), computed independently with Python's hashlib.
    const GOLDEN: &str = "uc-152b835fef37b1f726ca275d224d9f57";

    #[test]
    fn derived_keys_are_stable_and_distinct() {
        let a = derived_key(&["wf", "task", "{\"q\":1}"]);
        assert_eq!(a, derived_key(&["wf", "task", "{\"q\":1}"]));
        assert_ne!(a, derived_key(&["wf", "task", "{\"q\":2}"]));
        assert_ne!(derived_key(&["ab", "c"]), derived_key(&["a", "bc"]));
        assert!(a.starts_with("uc-") && a.len() == 35, "{a}");
    }

    /// The derivation is part of exactly-once across re-runs: a change would give a re-run of
    /// an old execution a new key (and the API a second event). Pinned here.
    #[test]
    fn derived_keys_do_not_change_between_versions() {
        assert_eq!(derived_key(&["wf", "t"]), GOLDEN);
    }

    #[test]
    fn the_canonical_text_is_the_bodys_display() {
        let body = serde_json::json!({"b": [1.5, "x\"y", null], "a": {"q": 1e-3, "é": true}});
        assert_eq!(canonical_text(&body), body.to_string());
    }

    #[test]
    fn micros_spread_over_six_digits_and_are_stable() {
        assert_eq!(micros_of("uc-a"), micros_of("uc-a"));
        let distinct: std::collections::HashSet<u32> =
            (0..1000).map(|i| micros_of(&format!("uc-{i}"))).collect();
        assert!(distinct.len() > 990, "{}", distinct.len());
        assert!(distinct.iter().all(|m| *m < 1_000_000));
    }
}
