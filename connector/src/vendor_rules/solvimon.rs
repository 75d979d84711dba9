//! Solvimon meter data (ingest charge, adjustment and persist events; cost calculation).
//!
//! Policy: numbers given where Solvimon takes decimal strings become their exact text;
//! `timestamp` and `period.start_at/end_at` are cut to whole seconds (the API keeps
//! seconds only; offset kept); a stable `reference` `uc-<32 hex>` is added when absent, and the
//! `Idempotency-Key` is `uc-<digest of workflow id, task name, endpoint, body>`, the same on
//! every attempt and re-run. A 2xx marked `DUPLICATE` or `Idempotent-Replayed: true`, and a
//! 409 `RESOURCE_ALREADY_EXISTS`, are `duplicate` (success, no second event); a 409
//! `IDEMPOTENCY_CHECK_FAILED` is a terminal `IDEMPOTENCY_CONFLICT`. Resending after an
//! ambiguous failure is safe (the key deduplicates), so there is no lookup.

use serde_json::{Map, Value, json};

use reqwest::Url;

use super::{Answer, Original, VendorRules, Verdict, api_message, whole_seconds};
use crate::catalog::Endpoint;
use crate::identity::{Execution, Identity, IdentityOptions, canonical_text, derived_key};
use crate::output::body::Facts;
use crate::output::{ErrorCode, Outcome, TaskError};
use crate::simworkflow::HttpTask;

/// Solvimon's rules.
#[derive(Debug, Clone, Copy, Default)]
pub struct Solvimon;

fn done(outcome: Outcome) -> Verdict {
    Verdict::Done {
        outcome,
        quantity: None,
    }
}

impl VendorRules for Solvimon {
    fn prepare(
        &self,
        endpoint: &Endpoint,
        _task: &HttpTask,
        body: &mut Value,
        exec: &Execution<'_>,
        _options: &IdentityOptions,
    ) -> Result<Identity, TaskError> {
        as_decimal_strings(body);
        if let Some(obj) = body.as_object_mut() {
            let cut = |map: &mut Map<String, Value>, key: &str| {
                if let Some(Value::String(t)) = map.get(key)
                    && let Some(w) = whole_seconds(t)
                {
                    map.insert(key.into(), json!(w));
                }
            };
            cut(obj, "timestamp");
            if let Some(Value::Object(period)) = obj.get_mut("period") {
                cut(period, "start_at");
                cut(period, "end_at");
            }
        }
        let canonical = canonical_text(body);
        let key = derived_key(&[
            exec.workflow_id,
            exec.task_name,
            endpoint.id.as_str(),
            &canonical,
        ]);
        if let Some(obj) = body.as_object_mut()
            && obj.get("reference").is_none_or(Value::is_null)
        {
            obj.insert("reference".into(), json!(key));
        }
        Ok(Identity {
            idempotency_key: Some(key),
            ..Identity::default()
        })
    }

    fn idempotency_header(&self) -> Option<&'static str> {
        Some("idempotency-key")
    }

    fn dedupe_field(&self, body: &Value) -> Option<(&'static str, String)> {
        // Verified: reference-based deduplication (opt-in per platform) keeps the first event.
        let reference = body.get("reference")?.as_str()?;
        Some(("reference", reference.to_owned()))
    }

    fn idempotency_key_max(&self) -> Option<usize> {
        // Verified: the vendor's idempotency page (at most 255 characters).
        Some(255)
    }

    fn classify(&self, _identity: &Identity, answer: &Answer<'_>) -> Verdict {
        let replayed = answer
            .headers
            .get("idempotent-replayed")
            .is_some_and(|v| v == "true");
        if (200..300).contains(&answer.status) {
            let duplicate =
                replayed || answer.body.facts().processed_type.as_deref() == Some("DUPLICATE");
            return done(if duplicate {
                Outcome::Duplicate
            } else {
                Outcome::Created
            });
        }
        if answer.status != 409 {
            return Verdict::Undecided;
        }
        let error = answer.error.unwrap_or(&Value::Null);
        if replayed
            || Facts::of(error).processed_type.as_deref() == Some("DUPLICATE")
            || error["code"] == "RESOURCE_ALREADY_EXISTS"
        {
            return done(Outcome::Duplicate);
        }
        let code = if error["code"] == "IDEMPOTENCY_CHECK_FAILED" {
            ErrorCode::IdempotencyConflict
        } else {
            ErrorCode::HttpError
        };
        Verdict::Fail(Box::new(TaskError {
            status_code: Some(answer.status),
            body: Some(error.clone()),
            ..TaskError::new(code, api_message(answer.status, error))
        }))
    }

    /// A replayed answer is the original; a meter-data duplicate names the event it repeats,
    /// which `GET /v{version}/ingest/meter-data/{id}` reads (documented; needs
    /// `METER_DATA.VIEW`); a 409 on charge, adjustment or persist data names the existing
    /// record's id, but Solvimon documents no read of those.
    fn original(&self, url: &Url, answer: &Answer<'_>) -> Original {
        if answer
            .headers
            .get("idempotent-replayed")
            .is_some_and(|v| v == "true")
        {
            return Original::Replayed;
        }
        if (200..300).contains(&answer.status) {
            let body = answer.body.json();
            let details = &body["processed_details"];
            let id = details["duplicate_of_meter_data_id"]
                .as_str()
                .or_else(|| details["duplicate"]["of_meter_data_id"].as_str());
            return match id.and_then(|id| Some((id, meter_data_url(url, id)?))) {
                Some((id, url)) => Original::Read {
                    id: id.to_owned(),
                    url,
                },
                None => Original::Unreadable {
                    id: None,
                    why: "the answer is marked DUPLICATE but names no original event".into(),
                },
            };
        }
        let error = answer.error.unwrap_or(&Value::Null);
        let kind = error["resource_type"].as_str().unwrap_or("this resource");
        Original::Unreadable {
            id: error["resource_id"].as_str().map(str::to_owned),
            why: format!(
                "Solvimon documents no read of {kind}: the body is the duplicate answer (its resource_id names the original)"
            ),
        }
    }
}

/// The read of meter data `id` on the server and API version of `url` (its path up to the
/// `v{N}` segment kept): `GET …/v1/ingest/meter-data/{id}`.
fn meter_data_url(url: &Url, id: &str) -> Option<Url> {
    let segments: Vec<&str> = url.path_segments()?.collect();
    let version = segments.iter().position(|s| {
        s.len() > 1 && s.starts_with('v') && s[1..].bytes().all(|b| b.is_ascii_digit())
    })?;
    let mut read = url.clone();
    read.set_query(None);
    read.path_segments_mut()
        .ok()?
        .clear()
        .extend(&segments[..=version])
        .extend(["ingest", "meter-data", id]);
    Some(read)
}

/// `text` (a JSON number's) as a plain decimal, without an exponent when it has one and the
/// decimal holds it exactly; else as it is (the request's schema then refuses it).
fn plain(text: &str) -> String {
    if !text.contains(['e', 'E']) {
        return text.to_owned();
    }
    crate::decimal::decimal_text(text)
        .map_or_else(|| text.to_owned(), |d| d.normalize().to_string())
}

/// Solvimon writes numbers as decimal strings (`number`, `count`, `quantity`, `value`): a JSON
/// number given there (another task's output, e.g. Rebilly's `quantity`) becomes its exact
/// decimal text (`1e3` is `1000`: the API's decimal strings have no exponent), and a boolean
/// `value` its text, so tasks chain without glue.
fn as_decimal_strings(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                let textual = matches!(key.as_str(), "number" | "count" | "quantity" | "value");
                match item {
                    Value::Number(n) if textual => *item = Value::String(plain(n.as_str())),
                    Value::Bool(b) if key == "value" => *item = Value::String(b.to_string()),
                    other => as_decimal_strings(other),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(as_decimal_strings),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Catalog, EndpointId};
    use crate::output::{Headers, ResponseBody};

    #[test]
    fn the_reference_and_key_derive_from_the_execution_and_body() {
        let catalog = Catalog::builtin();
        let endpoint = catalog.get(EndpointId::SolvimonIngestPersist);
        let task: HttpTask = serde_json::from_value(json!({"end": true, "httpRequest": {"url": "https://api.solvimon.com/v1/ingest/persist-data", "method": "POST"}})).unwrap();
        let prepare = |wf: &str| {
            let mut body = json!({"timestamp": "2024-07-01T10:50:00.157Z", "customer_id": "c"});
            let exec = Execution::new(wf, "t", chrono::Utc::now());
            let id = Solvimon
                .prepare(
                    endpoint,
                    &task,
                    &mut body,
                    &exec,
                    &IdentityOptions::default(),
                )
                .unwrap();
            (body, id.idempotency_key.unwrap())
        };
        let (body, key) = prepare("wf-1");
        assert_eq!(body["timestamp"], "2024-07-01T10:50:00Z");
        assert_eq!(body["reference"], json!(key));
        assert_eq!(prepare("wf-1").1, key);
        assert_ne!(prepare("wf-2").1, key);
    }

    #[test]
    fn numbers_become_exact_decimal_strings() {
        let mut body: Value = serde_json::from_str(
            r#"{"meter_values": [{"reference": "r", "number": 12345678901234567.5}],
                "value": {"number": 2, "count": 3}, "amount": {"quantity": 1.50, "currency": "EUR"},
                "meter_properties": [{"reference": "p", "value": true}], "reference": "x"}"#,
        )
        .unwrap();
        as_decimal_strings(&mut body);
        assert_eq!(body["meter_values"][0]["number"], "12345678901234567.5");
        assert_eq!(body["value"], json!({"number": "2", "count": "3"}));
        assert_eq!(body["amount"]["quantity"], "1.50");
        assert_eq!(body["meter_properties"][0]["value"], "true");
        // An exponent is written out: the API's decimal strings have none.
        let mut body: Value =
            serde_json::from_str(r#"{"value": {"number": 1e3, "count": 2.5E-1}}"#).unwrap();
        as_decimal_strings(&mut body);
        assert_eq!(body["value"], json!({"number": "1000", "count": "0.25"}));
    }

    #[test]
    fn duplicates_are_success_and_key_conflicts_are_terminal() {
        let headers = Headers::default();
        let body = ResponseBody::default();
        let judge = |status: u16, error: Value| {
            let answer = Answer {
                status,
                headers: &headers,
                body: &body,
                error: Some(&error),
            };
            Solvimon.classify(&Identity::default(), &answer)
        };
        assert_eq!(
            judge(409, json!({"code": "RESOURCE_ALREADY_EXISTS"})),
            done(Outcome::Duplicate)
        );
        match judge(
            409,
            json!({"code": "IDEMPOTENCY_CHECK_FAILED", "message": "m"}),
        ) {
            Verdict::Fail(e) => assert_eq!(e.code, ErrorCode::IdempotencyConflict),
            other => panic!("{other:?}"),
        }
        assert_eq!(judge(503, Value::Null), Verdict::Undecided);
    }
}
