//! Solvimon Event API: ingest adjustment/charge/persist data, calculate costs, and reads.
//!
//! Behaviour (see `docs/sandbox.md`): version in the path (`/v1`; missing → `MISSING_VERSION`,
//! other → `UNSUPPORTED_VERSION`), `X-API-KEY` or bearer auth with `METER_DATA.INGEST` /
//! `METER_DATA.VIEW`, `application/json` only, bodies validated with the connector's schemas,
//! fractional-second timestamps rejected, `Idempotency-Key` replay/conflict, a reference seen
//! before → 409 for ingest data and a `DUPLICATE` event (201) for calculate, cost prediction
//! from the fixture's price list ([`crate::cost`]: exact, checked; out of range → 422). Only
//! lookups and the commit happen under the store lock.

// Error values are whole HTTP answers built once per request; boxing them buys nothing.
#![allow(clippy::result_large_err)]

use std::sync::LazyLock;

use axum::http::Method;
use axum::response::Response;
use regex::Regex;
use serde_json::{Map, Value, json};

use crate::app::App;
use crate::auth::{AuthError, SOLVIMON};
use crate::call::Call;
use crate::cost::{self, Cost};
use crate::fixture::{Customer, Meter};
use crate::journal::Entry;
use crate::respond::{SolvimonError, json_response};
use crate::schemas::{self, Body};
use crate::store::Store;

/// Ingest kinds: path segment, record `object_type`, id prefix, schema.
const KINDS: [(&str, &str, &str, Body); 3] = [
    (
        "adjustment-data",
        "ADJUSTMENT_DATA",
        "adjd_",
        Body::Adjustment,
    ),
    ("charge-data", "CHARGE_DATA", "chgd_", Body::Charge),
    ("persist-data", "PERSIST_DATA", "prsd_", Body::Persist),
];

const METER_DATA: &str = "meter-data";

fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Handles a Solvimon request.
pub fn handle(app: &App, call: &Call) -> Response {
    let request_id = app.request_id();
    match route(app, call) {
        Ok((status, body, extra)) => {
            let mut headers: Vec<(&str, String)> = extra;
            headers.push(("x-request-id", request_id));
            json_response(status, &body, &headers)
        }
        Err(e) => e.response(&request_id),
    }
}

type Answer = Result<(u16, Value, Vec<(&'static str, String)>), SolvimonError>;

fn route(app: &App, call: &Call) -> Answer {
    let segments: Vec<&str> = call.path.trim_start_matches('/').split('/').collect();
    let first = segments.first().copied().unwrap_or_default();
    let rest = match first.strip_prefix('v') {
        Some(v) if !v.is_empty() && v.chars().all(|c| c.is_ascii_digit()) => {
            if v != "1" {
                return Err(SolvimonError::invalid(
                    400,
                    "UNSUPPORTED_VERSION",
                    format!("API version {v} is not supported; use v1"),
                ));
            }
            &segments[1..]
        }
        _ if matches!(first, "ingest" | "events") => {
            return Err(SolvimonError::invalid(
                400,
                "MISSING_VERSION",
                "the path must start with the API version, e.g. /v1/ingest/persist-data",
            ));
        }
        _ => {
            return Err(SolvimonError::invalid(
                404,
                "RESOURCE_NOT_FOUND",
                format!("no such path: {}", call.path),
            ));
        }
    };
    let key = SOLVIMON
        .authorize(&app.fixture.keys, &call.headers, &call.method)
        .map_err(|e| match e {
            AuthError::Missing => SolvimonError::invalid(
                401,
                "UNAUTHORISED",
                "missing credentials: send X-API-KEY or Authorization: Bearer",
            ),
            AuthError::Unknown => {
                SolvimonError::invalid(401, "UNAUTHORISED", "the API key is not valid")
            }
            AuthError::Forbidden(needed) => SolvimonError::invalid(
                403,
                "USER_NOT_ALLOWED",
                format!("this operation requires the {needed} permission"),
            ),
        })?;
    match (&call.method, rest) {
        (&Method::POST, ["ingest", kind]) if KINDS.iter().any(|k| k.0 == *kind) => {
            write_event(app, call, &key.key, kind)
        }
        (&Method::POST, ["events", "calculate"]) => write_event(app, call, &key.key, "calculate"),
        (&Method::GET, ["ingest" | "events"]) => list(app, call, METER_DATA),
        (&Method::GET, ["ingest", kind])
            if *kind == METER_DATA || KINDS.iter().any(|k| k.0 == *kind) =>
        {
            list(app, call, kind)
        }
        (&Method::GET, ["ingest", kind, id])
            if *kind == METER_DATA || KINDS.iter().any(|k| k.0 == *kind) =>
        {
            get(app, kind, id)
        }
        (&Method::GET, ["events", id]) => get(app, METER_DATA, id),
        _ => Err(SolvimonError::invalid(
            404,
            "RESOURCE_NOT_FOUND",
            format!("no such operation: {} {}", call.method, call.path),
        )),
    }
}

fn get(app: &App, kind: &str, id: &str) -> Answer {
    let store = app.store();
    match store.find(kind, id) {
        Some(r) => Ok((200, r.clone(), vec![])),
        None => Err(SolvimonError::invalid(
            404,
            "RESOURCE_NOT_FOUND",
            format!("no {kind} with id or reference {id}"),
        )),
    }
}

fn list(app: &App, call: &Call, kind: &str) -> Answer {
    let store = app.store();
    let duplicates = call
        .query
        .get("processed_details_type")
        .is_some_and(|t| t == "DUPLICATE");
    let source: Vec<&Value> = if duplicates {
        store.duplicates.iter().collect()
    } else {
        store
            .records
            .get(kind)
            .map(|v| v.iter().collect())
            .unwrap_or_default()
    };
    let filtered: Vec<&Value> = source
        .into_iter()
        .filter(|r| {
            call.query
                .get("reference")
                .is_none_or(|want| r["reference"] == want.as_str())
        })
        .filter(|r| {
            call.query
                .get("customer_id")
                .is_none_or(|want| r["customer_id"] == want.as_str())
        })
        .collect();
    let limit: usize = call
        .query
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(100)
        .clamp(1, 1000);
    let page: usize = call
        .query
        .get("page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(1)
        .max(1);
    let pages = filtered.len().div_ceil(limit).max(1);
    let data: Vec<Value> = filtered
        .iter()
        .skip((page - 1) * limit)
        .take(limit)
        .map(|v| (*v).clone())
        .collect();
    let link = |p: usize| json!(format!("{}?page={p}&limit={limit}", call.path));
    Ok((
        200,
        json!({
            "data": data, "page": page, "limit": limit, "total_number_of_pages": pages,
            "links": { "first": link(1), "previous": if page > 1 { link(page - 1) } else { Value::Null },
                       "current": link(page), "next": if page < pages { link(page + 1) } else { Value::Null } }
        }),
        vec![],
    ))
}

static FRACTIONAL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"T\d{2}:\d{2}:\d{2}[.,]\d").expect("static"));

/// Solvimon rejects timestamps with fractional seconds (`…45.157Z`).
fn check_whole_seconds(body: &Value) -> Result<(), SolvimonError> {
    let mut fields = vec![("timestamp", body.get("timestamp"))];
    if let Some(p) = body.get("period") {
        fields.push(("period.start_at", p.get("start_at")));
        fields.push(("period.end_at", p.get("end_at")));
    }
    for (field, value) in fields {
        if let Some(Value::String(s)) = value
            && FRACTIONAL.is_match(s)
        {
            return Err(SolvimonError::invalid(
                400,
                "INVALID_FIELD",
                format!(
                    "{s} has fractional seconds; send whole seconds, e.g. 2024-07-01T10:50:00Z"
                ),
            )
            .field(field));
        }
    }
    Ok(())
}

fn write_event(app: &App, call: &Call, api_key: &str, kind: &str) -> Answer {
    if !call.is_json() {
        return Err(SolvimonError::invalid(
            415,
            "UNSUPPORTED_MEDIA_TYPE",
            "Content-Type must be application/json",
        ));
    }
    let body: Value = serde_json::from_slice(&call.body).map_err(|e| {
        SolvimonError::invalid(
            400,
            "BAD_REQUEST",
            format!("the body is not valid JSON: {e}"),
        )
    })?;
    let schema = KINDS
        .iter()
        .find(|k| k.0 == kind)
        .map_or(Body::Calculate, |k| k.3);
    if let Some(e) = schemas::check(schema, &body).into_iter().next() {
        let code = if e.missing {
            "MISSING_FIELD"
        } else {
            "INVALID_FIELD"
        };
        return Err(SolvimonError::invalid(400, code, e.message).field(e.field));
    }
    check_whole_seconds(&body)?;
    let idempotency_key = call
        .headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if idempotency_key
        .as_ref()
        .is_some_and(|k| k.is_empty() || k.len() > 255)
    {
        return Err(SolvimonError::invalid(
            400,
            "INVALID_FIELD",
            "Idempotency-Key must be 1 to 255 characters",
        )
        .field("Idempotency-Key"));
    }
    let canonical = body.to_string();
    // What reads only the request and the fixture (and may fail) is worked out before the lock;
    // its errors are answered after the idempotency check, in the documented order.
    let calculation = (kind == "calculate").then(|| Calculation::of(app, call, &body));
    let mut store = app.store();
    if let Some(key) = &idempotency_key
        && let Some(seen) = store.remembered(api_key, key)
    {
        if seen.body == canonical {
            return Ok((
                seen.status,
                seen.response.clone(),
                vec![("idempotent-replayed", "true".into())],
            ));
        }
        return Err(SolvimonError::invalid(
            409,
            "IDEMPOTENCY_CHECK_FAILED",
            "this Idempotency-Key was used with a different request body",
        ));
    }
    let (status, record, entry) = match calculation {
        Some(calculation) => calculate(&store, body, calculation?)?,
        None => ingest(&store, kind, body)?,
    };
    let commit = |store: &mut Store, entry: Entry| {
        store.commit(entry).map_err(|e| SolvimonError {
            kind: "API_ERROR",
            ..SolvimonError::invalid(500, "INTERNAL_ERROR", e.to_string())
        })
    };
    commit(&mut store, entry)?;
    if let Some(key) = idempotency_key {
        let remembered = Entry::Idempotency {
            scope: api_key.to_owned(),
            key,
            body: canonical,
            status,
            response: record.clone(),
        };
        commit(&mut store, remembered)?;
    }
    Ok((status, record, vec![]))
}

fn ingest(store: &Store, kind: &str, body: Value) -> Result<(u16, Value, Entry), SolvimonError> {
    let (_, object_type, prefix, _) = KINDS.iter().find(|k| k.0 == kind).expect("known kind");
    if let Some(reference) = body.get("reference").and_then(Value::as_str)
        && !reference.is_empty()
        && let Some(existing) = store.by_reference(kind, reference)
    {
        return Err(SolvimonError {
            resource: Some((
                object_type,
                existing["id"].as_str().unwrap_or_default().to_owned(),
            )),
            ..SolvimonError::invalid(
                409,
                "RESOURCE_ALREADY_EXISTS",
                format!("a {object_type} with reference {reference} already exists"),
            )
        });
    }
    let mut record: Map<String, Value> = body.as_object().cloned().unwrap_or_default();
    record.insert("object_type".into(), json!(object_type));
    record.insert("id".into(), json!(store.next_id(prefix)));
    record.entry("timestamp").or_insert_with(|| json!(now()));
    let record = Value::Object(record);
    Ok((
        201,
        record.clone(),
        Entry::Solvimon {
            kind: kind.to_owned(),
            record,
            duplicate: false,
        },
    ))
}

/// The fixture entry a body names by `{kind}_id` or `{kind}_reference`: `None` when it names
/// none, 400 `{KIND}_NOT_FOUND` on the named field when it names an unknown one.
fn find_by_id_or_reference<'f, T>(
    body: &Value,
    kind: &str,
    entries: &'f [T],
    keys: impl Fn(&T) -> (&String, &String),
) -> Result<Option<&'f T>, SolvimonError> {
    let id_field = format!("{kind}_id");
    let reference_field = format!("{kind}_reference");
    let id = body.get(&id_field).and_then(Value::as_str);
    let reference = body.get(&reference_field).and_then(Value::as_str);
    if id.is_none() && reference.is_none() {
        return Ok(None);
    }
    let found = entries.iter().find(|e| {
        let (eid, eref) = keys(e);
        id.is_some_and(|i| i == eid) || reference.is_some_and(|r| r == eref)
    });
    let code = match kind {
        "meter" => "METER_NOT_FOUND",
        _ => "CUSTOMER_NOT_FOUND",
    };
    found.map(Some).ok_or_else(|| {
        SolvimonError::invalid(
            400,
            code,
            format!("no {kind} {}", id.or(reference).unwrap_or_default()),
        )
        .field(if id.is_some() {
            id_field
        } else {
            reference_field
        })
    })
}

/// What a calculate request needs from the fixture, worked out before the store is locked.
struct Calculation<'f> {
    meter: Option<&'f Meter>,
    customer: Option<&'f Customer>,
    /// Whether `?cost_prediction=true` asked for a prediction.
    predict: bool,
    /// With a meter and `predict`: the cost, or why it cannot be computed.
    cost: Option<Result<Cost, SolvimonError>>,
}

impl<'f> Calculation<'f> {
    fn of(app: &'f App, call: &Call, body: &Value) -> Result<Self, SolvimonError> {
        let meter = find_by_id_or_reference(body, "meter", &app.fixture.meters, |m| {
            (&m.id, &m.reference)
        })?;
        let customer = find_by_id_or_reference(body, "customer", &app.fixture.customers, |c| {
            (&c.id, &c.reference)
        })?;
        let predict = call
            .query
            .get("cost_prediction")
            .is_some_and(|v| v == "true");
        let cost = meter.filter(|_| predict).map(|m| cost::predict(m, body));
        Ok(Calculation {
            meter,
            customer,
            predict,
            cost,
        })
    }
}

fn calculate(
    store: &Store,
    body: Value,
    calculation: Calculation<'_>,
) -> Result<(u16, Value, Entry), SolvimonError> {
    let Calculation {
        meter,
        customer,
        predict,
        cost,
    } = calculation;
    let text = |k: &str| body.get(k).and_then(Value::as_str);
    let id = store.next_id("mtrd_");
    let mut record = json!({
        "object_type": "METER_DATA", "id": id, "reference": body.get("reference").cloned().unwrap_or(Value::Null),
        "type": "CALCULATION",
        "customer_id": customer.map(|c| json!(c.id)).unwrap_or(Value::Null),
        "customer_reference": customer.map(|c| json!(c.reference)).unwrap_or(Value::Null),
        "customer": null,
        "meter_id": meter.map(|m| json!(m.id)).unwrap_or(Value::Null),
        "meter_reference": meter.map(|m| json!(m.reference)).unwrap_or(Value::Null),
        "pricing_plan_subscription_id": body.get("pricing_plan_subscription_id").cloned().unwrap_or(Value::Null),
        "pricing_plan_subscription_reference": body.get("pricing_plan_subscription_reference").cloned().unwrap_or(Value::Null),
        "timestamp": body.get("timestamp").cloned().filter(|t| !t.is_null()).unwrap_or_else(|| json!(now())),
        "created_at": now(),
        "meter_properties": body.get("meter_properties").cloned().unwrap_or(Value::Null),
        "meter_values": body.get("meter_values").cloned().unwrap_or(Value::Null),
        "cost_prediction": null,
        "processed_details": { "type": if meter.is_some() { "DEFAULT" } else { "NOT_MATCHED" } },
        "deleted": false
    });
    if let Some(reference) = text("reference")
        && let Some(original) = store.by_reference(METER_DATA, reference)
    {
        let of = original["id"].clone();
        record["processed_details"] = json!({ "type": "DUPLICATE", "duplicate_of_meter_data_id": of, "duplicate": { "of_meter_data_id": of } });
        if predict {
            record["cost_prediction"] = json!({ "response": "OK", "status": "DUPLICATE", "details": [], "used_change_rates": [] });
        }
        return Ok((
            201,
            record.clone(),
            Entry::Solvimon {
                kind: METER_DATA.into(),
                record,
                duplicate: true,
            },
        ));
    }
    if predict {
        record["cost_prediction"] = match (meter, cost) {
            (Some(m), Some(cost)) => {
                let cost = cost?;
                json!({
                    "response": "OK", "status": "READY",
                    "details": [{
                        "customer_id": customer.map(|c| json!(c.id)).unwrap_or(Value::Null),
                        "invoice_id": format!("inv_{}", id.trim_start_matches("mtrd_")),
                        "amount_excluding_tax": { "quantity": cost.excluding_tax.to_string(), "currency": m.currency },
                        "amount_including_tax": { "quantity": cost.including_tax.to_string(), "currency": m.currency }
                    }],
                    "used_change_rates": []
                })
            }
            _ => {
                json!({ "response": "OK", "status": "NOT_MATCHED", "details": [], "used_change_rates": [] })
            }
        };
    }
    Ok((
        201,
        record.clone(),
        Entry::Solvimon {
            kind: METER_DATA.into(),
            record,
            duplicate: false,
        },
    ))
}
