//! Rebilly usages (`POST [/organizations/{id}]/usages`).
//!
//! Policy: a quantity with more than three decimals is rounded half-to-even only when the task
//! asks (`rounding: halfEven`, the removed part reported); `onLimit` sets
//! `acceptPartialQuantity`; `usageTime` is always set, to whole seconds (the execution's time
//! when absent), so a lookup can match it exactly. Rebilly has no idempotency: after an
//! ambiguous failure the usage is looked up by subscription and `usageTime` before any resend,
//! and a match no other call of this process claimed is `recovered`. A 409 is a terminal
//! `USAGE_LIMIT_EXCEEDED` naming the quantities; an accepted quantity below the one sent is
//! `partial`.

use reqwest::Url;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::{Answer, Found, VendorRules, Verdict, api_message, whole_seconds};
use crate::catalog::Endpoint;
use crate::decimal::{self, decimal_number, number_decimal};
use crate::identity::{Claims, Execution, Identity, UsageIdentity};
use crate::output::{ErrorCode, Outcome, QuantityReport, TaskError};
use crate::simworkflow::{HttpTask, OnLimit, Rounding};

/// Rebilly's rules.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rebilly;

impl VendorRules for Rebilly {
    fn prepare(
        &self,
        _endpoint: &Endpoint,
        task: &HttpTask,
        body: &mut Value,
        exec: &Execution<'_>,
    ) -> Result<Identity, TaskError> {
        let Some(obj) = body.as_object_mut() else {
            return Err(TaskError::new(
                ErrorCode::InvalidRequest,
                "the usage body is not a JSON object; nothing was sent",
            )
            .at("/httpRequest/body"));
        };
        let mut rounded_away = None;
        if task.rounding == Some(Rounding::HalfEven)
            && let Some(original) = obj.get("quantity").and_then(number_decimal)
            && decimal::exceeds_scale(original)
        {
            let rounded = decimal::round_half_even(original);
            rounded_away = Some(original - rounded);
            obj.insert("quantity".into(), decimal_number(rounded));
        }
        match task.on_limit {
            Some(OnLimit::AcceptPartial) => {
                obj.insert("acceptPartialQuantity".into(), json!(true));
            }
            Some(OnLimit::Reject) => {
                obj.insert("acceptPartialQuantity".into(), json!(false));
            }
            None => {}
        }
        let usage_time = match obj.get("usageTime").and_then(Value::as_str) {
            Some(t) if !t.is_empty() => whole_seconds(t).unwrap_or_else(|| t.to_owned()),
            _ => exec.now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        };
        match obj.get_mut("usageTime") {
            Some(Value::String(t)) if *t == usage_time => {}
            Some(slot) => *slot = json!(usage_time),
            None => {
                obj.insert("usageTime".into(), json!(usage_time));
            }
        }
        Ok(Identity {
            idempotency_key: None,
            usage: Some(UsageIdentity {
                subscription: obj
                    .get("subscriptionId")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                usage_time,
                quantity: obj
                    .get("quantity")
                    .and_then(number_decimal)
                    .unwrap_or_default(),
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

    fn classify(&self, identity: &Identity, answer: &Answer<'_>, claims: &Claims) -> Verdict {
        let Some(usage) = &identity.usage else {
            return super::Generic.classify(identity, answer, claims);
        };
        if (200..300).contains(&answer.status) {
            let facts = answer.body.facts();
            if let Some(id) = &facts.id {
                claims.claim(id);
            }
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

    fn recognise(&self, identity: &Identity, list: &Value, claims: &Claims) -> Option<Found> {
        let usage = identity.usage.as_ref()?;
        let fits: Vec<(&str, &Value, Decimal)> = list
            .as_array()?
            .iter()
            .filter_map(|u| {
                let q = number_decimal(&u["quantity"])?;
                let fits = q == usage.quantity
                    || (usage.accept_partial && q > Decimal::ZERO && q < usage.quantity);
                fits.then(|| (u["id"].as_str().unwrap_or_default(), u, q))
            })
            .collect();
        let i = claims.claim_first(fits.iter().map(|(id, _, _)| *id))?;
        let (_, record, accepted) = fits[i];
        Some(Found {
            record: record.clone(),
            quantity: Some(report(usage, accepted)),
        })
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

    fn prepare(task: &HttpTask, body: &mut Value) -> Identity {
        let catalog = crate::catalog::Catalog::builtin();
        let endpoint = catalog.get(crate::catalog::EndpointId::RebillyCreateUsage);
        let now = "2025-05-01T12:00:00.750Z".parse().unwrap();
        let exec = Execution {
            workflow_id: "wf",
            task_name: "t",
            now,
        };
        Rebilly.prepare(endpoint, task, body, &exec).unwrap()
    }

    #[test]
    fn rounding_runs_only_when_asked_and_usage_time_is_whole_seconds() {
        let mut body = json!({"subscriptionId": "s", "quantity": 5.1255});
        let id = prepare(&task(json!({"rounding": "halfEven"})), &mut body);
        assert_eq!(body["quantity"], json!(5.126));
        assert_eq!(body["usageTime"], json!("2025-05-01T12:00:00Z"));
        let usage = id.usage.unwrap();
        assert_eq!(usage.rounded_away, Some("-0.0005".parse().unwrap()));
        let mut body = json!({"subscriptionId": "s", "quantity": 5.1255, "usageTime": "2025-01-01T00:00:00.5+02:00"});
        prepare(&task(json!({"onLimit": "acceptPartial"})), &mut body);
        assert_eq!(body["quantity"], json!(5.1255));
        assert_eq!(body["usageTime"], json!("2025-01-01T00:00:00+02:00"));
        assert_eq!(body["acceptPartialQuantity"], json!(true));
    }

    #[test]
    fn a_lookup_takes_only_an_unclaimed_matching_usage() {
        let mut body = json!({"subscriptionId": "s", "quantity": 2});
        let identity = prepare(&task(json!({})), &mut body);
        let claims = Claims::default();
        claims.claim("u1");
        let list = json!([{"id": "u0", "quantity": 3}, {"id": "u1", "quantity": 2}, {"id": "u2", "quantity": 2}]);
        let found = Rebilly.recognise(&identity, &list, &claims).unwrap();
        assert_eq!(found.record["id"], "u2");
        assert!(Rebilly.recognise(&identity, &list, &claims).is_none());
        let url = Url::parse("http://h/usages").unwrap();
        let lookup = Rebilly.lookup_url(&identity, &url).unwrap();
        assert_eq!(
            lookup.query(),
            Some("filter=subscriptionId:s%3BusageTime:2025-05-01T12:00:00Z&limit=1000")
        );
    }
}
