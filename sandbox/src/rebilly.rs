//! Rebilly usages: `POST/GET /usages`, `GET/DELETE /usages/{id}`, each also under
//! `/organizations/{organizationId}`.
//!
//! Behaviour (see `docs/sandbox.md`): `REB-APIKEY` or bearer auth (`USAGES.CREATE`, `USAGES.VIEW`,
//! `USAGES.DELETE`), `application/json` only, bodies validated with the connector's schema (422
//! problem with `invalidFields`), hard limits per subscription from the fixture: over the
//! remaining allowance → 409 naming the limit, or clamped when `acceptPartialQuantity` is true;
//! nothing left → 409. No idempotency: a repeated POST records a second usage. Exact decimals:
//! a quantity is read from its own text and must be 0.001 to [`MAX_QUANTITY`] with at most 3
//! decimals (422 on `quantity` otherwise, whatever the schema says), and is written back exactly.

// Error values are whole HTTP answers built once per request; boxing them buys nothing.
#![allow(clippy::result_large_err)]

use std::cmp::Ordering;

use axum::http::Method;
use axum::response::Response;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::app::App;
use crate::auth::{AuthError, REBILLY};
use crate::call::Call;
use crate::decimal::{self, MAX_QUANTITY, MAX_SCALE, MIN_QUANTITY};
use crate::fixture::Subscription;
use crate::journal::Entry;
use crate::respond::{Problem, json_response};
use crate::schemas::{self, Body};

fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

type Answer = Result<Response, Problem>;

/// Handles a Rebilly request.
pub fn handle(app: &App, call: &Call) -> Response {
    route(app, call).unwrap_or_else(|p| p.response(&call.path))
}

fn route(app: &App, call: &Call) -> Answer {
    let segments: Vec<&str> = call.path.trim_start_matches('/').split('/').collect();
    let (prefix, rest) = match segments.as_slice() {
        ["organizations", org, rest @ ..] if !org.is_empty() => {
            (format!("/organizations/{org}"), rest)
        }
        rest => (String::new(), rest),
    };
    REBILLY
        .authorize(&app.fixture.keys, &call.headers, &call.method)
        .map_err(|e| match e {
            AuthError::Missing => Problem::new(
                401,
                "Unauthorized",
                "Missing credentials: send REB-APIKEY or Authorization: Bearer",
            ),
            AuthError::Unknown => Problem::new(401, "Unauthorized", "Invalid API key"),
            AuthError::Forbidden(needed) => Problem::new(
                403,
                "Forbidden",
                format!("This API key lacks the {needed} permission"),
            ),
        })?;
    match (&call.method, rest) {
        (&Method::POST, ["usages"]) => create(app, call, &prefix),
        (&Method::GET, ["usages"]) => list(app, call),
        (&Method::GET, ["usages", id]) => {
            let store = app.store();
            let found = store.usage(id).cloned();
            found
                .map(|u| json_response(200, &u, &[]))
                .ok_or_else(|| Problem::new(404, "Not Found", format!("Usage {id} not found")))
        }
        (&Method::DELETE, ["usages", id]) => {
            let mut store = app.store();
            if store.usage(id).is_none() {
                return Err(Problem::new(
                    404,
                    "Not Found",
                    format!("Usage {id} not found"),
                ));
            }
            store
                .commit(Entry::DeleteUsage {
                    id: (*id).to_owned(),
                })
                .map_err(|e| Problem::new(500, "Internal Server Error", e.to_string()))?;
            Ok(axum::response::IntoResponse::into_response(
                axum::http::StatusCode::NO_CONTENT,
            ))
        }
        _ => Err(Problem::new(
            404,
            "Not Found",
            format!("No such operation: {} {}", call.method, call.path),
        )),
    }
}

/// A 422 with `invalidFields` [{field, message}], the shape of the schema errors.
fn invalid(fields: Vec<(String, String)>) -> Problem {
    Problem {
        invalid_fields: fields,
        ..Problem::new(422, "Validation error", "Invalid data sent.")
    }
}

fn create(app: &App, call: &Call, prefix: &str) -> Answer {
    if !call.is_json() {
        return Err(Problem::new(
            415,
            "Unsupported Media Type",
            "Content-Type must be application/json",
        ));
    }
    let body: Value = serde_json::from_slice(&call.body)
        .map_err(|e| Problem::new(400, "Bad Request", format!("Invalid JSON: {e}")))?;
    // The schema, and the quantity rule on the number's own text (exact, not through f64, which
    // is how a schema's `multipleOf`/`minimum` are checked, if the schema has them at all).
    let mut errors: Vec<(String, String)> = schemas::check(Body::Usage, &body)
        .into_iter()
        .map(|e| (e.field, e.message))
        .collect();
    let quantity = body.get("quantity").map(decimal::check_quantity);
    if let Some(Err(message)) = &quantity {
        // The exact rule speaks for `quantity` (the same message with or without `multipleOf`).
        errors.retain(|(field, _)| field != "quantity");
        errors.push(("quantity".into(), message.clone()));
    }
    let Some(Ok(requested)) = quantity.filter(|_| errors.is_empty()) else {
        return Err(invalid(errors));
    };
    let subscription_id = body["subscriptionId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let partial = body
        .get("acceptPartialQuantity")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let Some(subscription) = app
        .fixture
        .subscriptions
        .iter()
        .find(|s| s.id == subscription_id)
    else {
        return Err(invalid(vec![(
            "subscriptionId".into(),
            format!("Subscription {subscription_id} not found"),
        )]));
    };
    let usage_time = body
        .get("usageTime")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .map_or_else(now, str::to_owned);
    // Only lookups, checked arithmetic and the commit happen under the lock.
    let mut store = app.store();
    let used = store
        .used
        .get(&subscription_id)
        .copied()
        .unwrap_or_default();
    let quantity = allowed(subscription, used, requested, partial)?;
    let id = store.next_id("sub_usg_");
    let created = now();
    let href = format!("{}{prefix}/usages/{id}", call.base);
    let record = json!({
        "id": id, "subscriptionId": subscription_id, "quantity": decimal::to_number(quantity), "usageTime": usage_time,
        "invoiceId": null, "invoiceItemId": null, "createdTime": created, "updatedTime": created,
        "_links": [{ "href": href, "rel": "self" }]
    });
    store
        .commit(Entry::Usage {
            record: record.clone(),
        })
        .map_err(|e| Problem::new(500, "Internal Server Error", e.to_string()))?;
    Ok(json_response(
        201,
        &record,
        &[
            ("location", href),
            ("x-ratelimit-limit", "3000".into()),
            ("x-ratelimit-remaining", "2999".into()),
        ],
    ))
}

/// The quantity to record for `requested` on `subscription` with `used` already recorded:
/// all of it, the remaining allowance (3 decimals, rounded down) when `partial`, or a 409; a
/// total beyond [`MAX_QUANTITY`] is a 422 on `quantity`. Checked arithmetic throughout.
fn allowed(
    subscription: &Subscription,
    used: Decimal,
    requested: Decimal,
    partial: bool,
) -> Result<Decimal, Problem> {
    let id = &subscription.id;
    let over_total = || {
        invalid(vec![(
            "quantity".into(),
            format!(
                "subscription {id} has used {}; adding {requested} would exceed the most a subscription may use ({MAX_QUANTITY})",
                used.normalize()
            ),
        )])
    };
    let Some(limit) = subscription.hard_limit_quantity else {
        return match used.checked_add(requested) {
            Some(total) if total <= MAX_QUANTITY => Ok(requested),
            _ => Err(over_total()),
        };
    };
    let remaining = limit
        .checked_sub(used)
        .ok_or_else(over_total)?
        .max(Decimal::ZERO);
    if remaining < MIN_QUANTITY {
        return Err(Problem::new(
            409,
            "Conflict",
            format!(
                "Usage limit reached: subscription {id} has used its hard limit of {} (used {}); no usage can be reported",
                limit.normalize(),
                used.normalize()
            ),
        ));
    }
    if requested <= remaining {
        return Ok(requested);
    }
    if !partial {
        return Err(Problem::new(
            409,
            "Conflict",
            format!(
                "Usage quantity {requested} exceeds the hard limit of {} for subscription {id} (used {}, remaining {}); set acceptPartialQuantity to record the remaining quantity",
                limit.normalize(),
                used.normalize(),
                remaining.normalize()
            ),
        ));
    }
    // Rebilly keeps 3 decimals; the remaining allowance is clamped down, never up.
    Ok(remaining.trunc_with_scale(MAX_SCALE))
}

fn list(app: &App, call: &Call) -> Answer {
    // Both are integers from 0 to 1000 (the spec's bounds); anything else is a 422.
    let bounded = |name: &str, default: usize| match call.query.get(name) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .ok()
            .filter(|v| *v <= 1000)
            .ok_or_else(|| Problem {
                invalid_fields: vec![(
                    name.into(),
                    format!("{name} must be an integer from 0 to 1000"),
                )],
                ..Problem::new(422, "Validation error", "Invalid query.")
            }),
    };
    let limit: usize = bounded("limit", 100)?;
    let offset: usize = bounded("offset", 0)?;
    let mut filters: Vec<(String, Vec<String>)> = Vec::new();
    for clause in call
        .query
        .get("filter")
        .map(String::as_str)
        .unwrap_or_default()
        .split(';')
        .filter(|c| !c.is_empty())
    {
        let (field, values) = clause.split_once(':').ok_or_else(|| {
            Problem::new(
                400,
                "Bad Request",
                format!("filter clause `{clause}` is not FIELD:VALUE"),
            )
        })?;
        if !crate::store::USAGE_FIELDS.contains(&field) {
            return Err(Problem::new(
                400,
                "Bad Request",
                format!(
                    "filtering on `{field}` is not supported; use subscriptionId, usageTime or id"
                ),
            ));
        }
        filters.push((
            field.to_owned(),
            values.split(',').map(str::to_owned).collect(),
        ));
    }
    let store = app.store();
    // The usages of the most selective filter (each field is indexed), then every filter.
    let mut matched: Vec<&Value> = store
        .usage_candidates(&filters)
        .into_iter()
        .filter(|u| {
            filters
                .iter()
                .all(|(f, vals)| vals.iter().any(|v| u[f.as_str()] == v.as_str()))
        })
        .collect();
    if let Some(sort) = call.query.get("sort") {
        let (desc, field) = sort
            .strip_prefix('-')
            .map_or((false, sort.as_str()), |f| (true, f));
        if !matches!(field, "createdTime" | "updatedTime" | "usageTime") {
            return Err(Problem::new(
                400,
                "Bad Request",
                format!("sorting by `{field}` is not supported"),
            ));
        }
        matched.sort_by(|a, b| {
            let o = a[field].as_str().cmp(&b[field].as_str());
            if desc { o.reverse() } else { o }.then(Ordering::Equal)
        });
    }
    let total = matched.len();
    let page: Vec<Value> = matched
        .into_iter()
        .skip(offset)
        .take(limit)
        .cloned()
        .collect();
    Ok(json_response(
        200,
        &Value::Array(page),
        &[
            ("pagination-total", total.to_string()),
            ("pagination-limit", limit.to_string()),
            ("pagination-offset", offset.to_string()),
        ],
    ))
}
