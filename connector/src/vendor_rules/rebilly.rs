//! Rebilly usages (`POST [/organizations/{id}]/usages`).
//!
//! Policy: a quantity given as a decimal string (`"2.5"`, another task's output) is sent as
//! that exact number; a quantity with more than three decimals is rounded half-to-even only
//! when the task
//! asks (`rounding: halfEven`, the removed part reported); `onLimit` sets
//! `acceptPartialQuantity`. Rebilly has no idempotency key and usage ids are read-only, so the
//! call's identity (a key derived from workflow id, task, endpoint and body) rides in
//! `usageTime`: its whole seconds (the input's, else the execution's time) plus six
//! sub-second digits derived from the key ([`UsageIdentityMode::TimeFraction`], inferred:
//! configurable). After an ambiguous failure, and before re-sending what an earlier run may
//! have sent, the usage is looked up by subscription and that exact `usageTime`: a match is
//! this call's (`recovered`/`duplicate`); a look-alike that cannot be told apart (whole-second
//! mode, or an API that dropped the fraction) is `OUTCOME_UNKNOWN`, never a guess. A 409 is a
//! terminal `USAGE_LIMIT_EXCEEDED` naming the quantities; an accepted quantity below the one
//! sent is `partial`.

use reqwest::Url;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::{Answer, Found, Recognised, VendorRules, Verdict, api_message, whole_seconds};
use crate::catalog::Endpoint;
use crate::decimal::{self, decimal_number, number_decimal};
use crate::identity::{
    Execution, Identity, IdentityOptions, UsageIdentity, UsageIdentityMode, canonical_text,
    derived_key, micros_of,
};
use crate::output::{ErrorCode, Outcome, QuantityReport, TaskError};
use crate::simworkflow::{HttpTask, OnLimit, Rounding};

/// Rebilly's rules.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rebilly;

impl VendorRules for Rebilly {
    fn prepare(
        &self,
        endpoint: &Endpoint,
        task: &HttpTask,
        body: &mut Value,
        exec: &Execution<'_>,
        options: &IdentityOptions,
    ) -> Result<Identity, TaskError> {
        let Some(obj) = body.as_object_mut() else {
            return Err(TaskError::new(
                ErrorCode::InvalidRequest,
                "the usage body is not a JSON object; nothing was sent",
            )
            .at("/httpRequest/body"));
        };
        // The quantity, read once into an exact decimal: a JSON number's text, or a decimal
        // string (another task's exact output, e.g. `quantity.remainder`). Rounding, the
        // identity and the report work on that decimal; it is written back into the body (as
        // the decimal's shortest text) only when it changed form or value.
        let read = match obj.get("quantity") {
            Some(Value::String(text)) => decimal::decimal_text(text.trim()).map(|d| (d, true)),
            Some(number) => number_decimal(number).map(|d| (d, false)),
            None => None,
        };
        let mut rounded_away = None;
        let quantity = read.map(|(mut d, mut rewrite)| {
            if task.rounding == Some(Rounding::HalfEven) && decimal::exceeds_scale(d) {
                let rounded = decimal::round_half_even(d);
                rounded_away = Some(d - rounded);
                (d, rewrite) = (rounded, true);
            }
            if rewrite {
                obj.insert("quantity".into(), decimal_number(d));
            }
            d
        });
        match task.on_limit {
            Some(OnLimit::AcceptPartial) => {
                obj.insert("acceptPartialQuantity".into(), json!(true));
            }
            Some(OnLimit::Reject) => {
                obj.insert("acceptPartialQuantity".into(), json!(false));
            }
            None => {}
        }
        // The call's identity: from the body as the task resolved it (its own usageTime, if
        // any, included), never from the clock.
        let key = derived_key(&[
            exec.workflow_id,
            exec.task_name,
            endpoint.id.as_str(),
            &canonical_text(body),
        ]);
        let Some(obj) = body.as_object_mut() else {
            unreachable!("checked above")
        };
        let given = obj
            .get("usageTime")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty());
        let seconds = match given {
            Some(t) => whole_seconds(t),
            None => Some(exec.now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        };
        let stamped = given.is_none();
        let exact = options.usage == UsageIdentityMode::TimeFraction;
        let usage_time = match (seconds, given) {
            (Some(s), _) if exact => with_micros(&s, micros_of(&key)),
            (Some(s), _) => s,
            // Not a time: sent as written, and the request check rejects it.
            (None, given) => given.unwrap_or_default().to_owned(),
        };
        obj.insert("usageTime".into(), json!(usage_time));
        Ok(Identity {
            idempotency_key: None,
            stamped,
            usage: Some(UsageIdentity {
                key,
                exact,
                subscription: obj
                    .get("subscriptionId")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                usage_time,
                quantity: quantity.unwrap_or_default(),
                rounded_away,
                accept_partial: obj
                    .get("acceptPartialQuantity")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            }),
        })
    }

    fn fixes(&self, task: &HttpTask, pointer: &str, keyword: &str) -> bool {
        // Rounding half-even turns a quantity with more decimals into one with three.
        pointer == "/quantity"
            && keyword == crate::validators::decimals::KEYWORD
            && task.rounding == Some(Rounding::HalfEven)
    }

    fn classify(&self, identity: &Identity, answer: &Answer<'_>) -> Verdict {
        let Some(usage) = &identity.usage else {
            return super::Generic.classify(identity, answer);
        };
        if (200..300).contains(&answer.status) {
            let facts = answer.body.facts();
            let accepted = facts.quantity.unwrap_or(usage.quantity);
            return Verdict::Done {
                outcome: if accepted < usage.quantity {
                    Outcome::Partial
                } else {
                    Outcome::Created
                },
                quantity: Some(report(usage, accepted)),
            };
        }
        if answer.status != 409 {
            return Verdict::Undecided;
        }
        let error = answer.error.unwrap_or(&Value::Null);
        let message = format!(
            "subscription {}: {} requested, 0 accepted{}: {}",
            usage.subscription,
            usage.quantity.normalize(),
            if usage.accept_partial {
                " (nothing left under the hard limit)"
            } else {
                "; set onLimit: acceptPartial to record what is left"
            },
            api_message(answer.status, error)
        );
        Verdict::Fail(Box::new(TaskError {
            status_code: Some(answer.status),
            body: Some(error.clone()),
            quantity: Some(report(usage, Decimal::ZERO)),
            ..TaskError::new(ErrorCode::UsageLimitExceeded, message)
        }))
    }

    fn lookup_url(&self, identity: &Identity, url: &Url) -> Option<Url> {
        let usage = identity.usage.as_ref()?;
        let filter = format!(
            "subscriptionId:{};usageTime:{}",
            usage.subscription, usage.usage_time
        );
        let mut url = url.clone();
        url.set_query(Some(&format!(
            "filter={}&limit=1000",
            query_escape(&filter)
        )));
        Some(url)
    }

    fn recognise(&self, identity: &Identity, list: &Value) -> Recognised {
        let Some(usage) = identity.usage.as_ref() else {
            return Recognised::Absent;
        };
        let like: Vec<(&Value, Decimal)> = list
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|u| {
                let q = number_decimal(&u["quantity"])?;
                let fits = q == usage.quantity
                    || (usage.accept_partial && q > Decimal::ZERO && q < usage.quantity);
                fits.then_some((u, q))
            })
            .collect();
        let ours = like
            .iter()
            .find(|(u, _)| usage.exact && u["usageTime"] == usage.usage_time.as_str());
        match (ours, like.len()) {
            (Some((record, accepted)), _) => Recognised::Found(Found {
                record: (*record).clone(),
                quantity: Some(report(usage, *accepted)),
            }),
            (None, 0) => Recognised::Absent,
            (None, n) => Recognised::Ambiguous(format!(
                "{n} usage(s) of subscription {} at {} with this quantity exist, and none carries this call's identity{}",
                usage.subscription,
                usage.usage_time,
                if usage.exact {
                    " (the API may not keep fractions of a second)"
                } else {
                    " (whole-second usage times carry none)"
                }
            )),
        }
    }
}

/// `seconds` (RFC 3339, whole seconds) with six sub-second digits inserted before its offset.
fn with_micros(seconds: &str, micros: u32) -> String {
    // `YYYY-MM-DDTHH:MM:SS` is 19 bytes; the offset (`Z`, `+02:00`) follows.
    match seconds.get(..19) {
        Some(head) => format!("{head}.{micros:06}{}", &seconds[19..]),
        None => seconds.to_owned(),
    }
}

fn report(usage: &UsageIdentity, accepted: Decimal) -> QuantityReport {
    QuantityReport::new(usage.quantity, accepted, usage.rounded_away)
}

/// Percent-encodes a query value (everything but unreserved characters and `:`).
fn query_escape(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b':' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(extra: Value) -> HttpTask {
        let mut t = json!({"end": true, "httpRequest": {"url": "https://api.rebilly.com/usages", "method": "POST"}});
        for (k, v) in extra.as_object().unwrap() {
            t[k] = v.clone();
        }
        serde_json::from_value(t).unwrap()
    }

    fn prepare_as(
        workflow_id: &str,
        mode: UsageIdentityMode,
        task: &HttpTask,
        body: &mut Value,
    ) -> Identity {
        let catalog = crate::catalog::Catalog::builtin();
        let endpoint = catalog.get(crate::catalog::EndpointId::RebillyCreateUsage);
        let exec = Execution::new(
            workflow_id,
            "t",
            "2025-05-01T12:00:00.750Z".parse().unwrap(),
        );
        let options = IdentityOptions { usage: mode };
        Rebilly
            .prepare(endpoint, task, body, &exec, &options)
            .unwrap()
    }

    fn prepare(task: &HttpTask, body: &mut Value) -> Identity {
        prepare_as("wf", UsageIdentityMode::TimeFraction, task, body)
    }

    #[test]
    fn rounding_runs_only_when_asked() {
        let mut body = json!({"subscriptionId": "s", "quantity": 5.1255});
        let id = prepare(&task(json!({"rounding": "halfEven"})), &mut body);
        assert_eq!(body["quantity"], json!(5.126));
        let usage = id.usage.unwrap();
        assert_eq!(usage.rounded_away, Some("-0.0005".parse().unwrap()));
        let mut body = json!({"subscriptionId": "s", "quantity": 5.1255});
        prepare(&task(json!({"onLimit": "acceptPartial"})), &mut body);
        assert_eq!(body["quantity"], json!(5.1255));
        assert_eq!(body["acceptPartialQuantity"], json!(true));
    }

    #[test]
    fn a_decimal_string_quantity_is_sent_as_the_exact_number() {
        let mut body = json!({"subscriptionId": "s", "quantity": "12345678901234567.5"});
        prepare(&task(json!({})), &mut body);
        assert_eq!(body["quantity"].to_string(), "12345678901234567.5");
        let mut body = json!({"subscriptionId": "s", "quantity": "two"});
        prepare(&task(json!({})), &mut body);
        assert_eq!(
            body["quantity"], "two",
            "not a number: left for the request check"
        );
    }

    #[test]
    fn usage_time_carries_the_calls_identity_in_its_fraction() {
        let time = |wf: &str, mode, given: Option<&str>| {
            let mut body = json!({"subscriptionId": "s", "quantity": 2});
            if let Some(t) = given {
                body["usageTime"] = json!(t);
            }
            let id = prepare_as(wf, mode, &task(json!({})), &mut body);
            let usage = id.usage.unwrap();
            assert_eq!(body["usageTime"], json!(usage.usage_time));
            (usage.usage_time, usage.key)
        };
        let fraction = UsageIdentityMode::TimeFraction;
        let (t, key) = time("wf", fraction, None);
        assert_eq!(t, format!("2025-05-01T12:00:00.{:06}Z", micros_of(&key)));
        assert_eq!(
            time("wf", fraction, None),
            (t.clone(), key),
            "a re-run derives the same"
        );
        assert_ne!(
            time("wf-2", fraction, None).0,
            t,
            "another execution, another identity"
        );
        let (t, key) = time("wf", fraction, Some("2025-01-01T00:00:00.5+02:00"));
        assert_eq!(
            t,
            format!("2025-01-01T00:00:00.{:06}+02:00", micros_of(&key))
        );
        let whole = UsageIdentityMode::WholeSeconds;
        assert_eq!(time("wf", whole, None).0, "2025-05-01T12:00:00Z");
        assert_eq!(
            time("wf", whole, Some("2025-01-01T00:00:00.5+02:00")).0,
            "2025-01-01T00:00:00+02:00"
        );
    }

    #[test]
    fn a_lookup_recognises_only_this_calls_usage() {
        let mut body = json!({"subscriptionId": "s", "quantity": 2});
        let identity = prepare(&task(json!({})), &mut body);
        let ours = identity.usage.as_ref().unwrap().usage_time.clone();
        let other = "2025-05-01T12:00:00.000001Z";
        let list = json!([{"id": "u0", "quantity": 3, "usageTime": ours},
                          {"id": "u1", "quantity": 2, "usageTime": other},
                          {"id": "u2", "quantity": 2, "usageTime": ours}]);
        match Rebilly.recognise(&identity, &list) {
            Recognised::Found(found) => assert_eq!(found.record["id"], "u2"),
            other => panic!("{other:?}"),
        }
        let look_alike = json!([{"id": "u1", "quantity": 2, "usageTime": other}]);
        assert!(matches!(
            Rebilly.recognise(&identity, &look_alike),
            Recognised::Ambiguous(_)
        ));
        assert_eq!(Rebilly.recognise(&identity, &json!([])), Recognised::Absent);
        let mut body = json!({"subscriptionId": "s", "quantity": 2});
        let whole = prepare_as(
            "wf",
            UsageIdentityMode::WholeSeconds,
            &task(json!({})),
            &mut body,
        );
        let same_second = json!([{"id": "u1", "quantity": 2, "usageTime": "2025-05-01T12:00:00Z"}]);
        assert!(matches!(
            Rebilly.recognise(&whole, &same_second),
            Recognised::Ambiguous(_)
        ));
        let url = Url::parse("http://h/usages").unwrap();
        let lookup = Rebilly.lookup_url(&identity, &url).unwrap();
        assert_eq!(
            lookup.query().unwrap(),
            format!("filter=subscriptionId:s%3BusageTime:{}&limit=1000", ours)
        );
    }
}
