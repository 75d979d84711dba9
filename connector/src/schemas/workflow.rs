//! The published workflow-definition schema: the model's task shapes, plus what an editor can
//! check of `validate`'s catalog rules.
//!
//! Policy: `$defs/Task` gets one `if`/`then` per catalog endpoint. An `Http` task whose
//! `httpRequest.url` matches the endpoint's URL pattern (servers + path, placeholders allowed in
//! path parameters) and whose `method` is the endpoint's must have the endpoint's `httpRequest`:
//! the one of its http-task schema (URL, method, `Content-Type`, body with placeholders), the
//! rest of that schema being the generic `Http` task. Parallel branches hold `$defs/Task` too,
//! so their tasks are covered at any depth; an Http task calling no catalog endpoint (or with
//! another method) keeps the generic shape, as in `validate`. The endpoint schemas are inlined
//! (`$defs/<endpoint id>.HttpRequest` and the request definitions, which the endpoints share
//! by name), not `$ref`'d to their files: this one file is enough for an editor or a
//! validator, wherever it was loaded from. The generic `url` gets [`URL_SHAPE`], what a
//! pattern can say of `validate`'s URL rule.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use crate::catalog::{Catalog, Endpoint};

/// What a pattern can say of `validate`'s URL rule (`E-URL`): the URL starts `http://` or
/// `https://`, is a `jsonata:` expression, or starts `${` and ends `}` (a whole placeholder).
/// Never stricter than `validate`, which also checks host, port and path with the
/// placeholders filled in.
pub const URL_SHAPE: &str = r"^(?:https?://|jsonata:|\$\{[\s\S]*\}$)";

/// Adds the per-endpoint selection and [`URL_SHAPE`] to `schema`, the model's schema of a
/// definition.
///
/// # Panics
/// When two endpoints' request schemas use one definition name for different schemas (the
/// request types are the crate's own, so the schema tests catch it).
pub(super) fn specialise(mut schema: Value, catalog: &Catalog) -> Value {
    let defs = schema
        .get_mut("$defs")
        .and_then(Value::as_object_mut)
        .expect("the model has definitions");
    let mut selections = Vec::new();
    for endpoint in &catalog.endpoints {
        let (request, used) = request(endpoint);
        for (name, def) in used {
            match defs.get(&name) {
                Some(known) => assert!(
                    *known == def,
                    "{}: `$defs/{name}` differs from another endpoint's",
                    endpoint.id
                ),
                None => {
                    defs.insert(name, def);
                }
            }
        }
        let request_name = format!("{}.HttpRequest", endpoint.id);
        defs.insert(request_name.clone(), request);
        selections.push(selection(endpoint, &request_name));
    }
    let task = defs
        .get_mut("Task")
        .and_then(Value::as_object_mut)
        .expect("Task");
    task.insert("allOf".into(), Value::Array(selections));
    let url = defs
        .get_mut("HttpRequest")
        .and_then(|r| r.pointer_mut("/properties/url"))
        .and_then(Value::as_object_mut)
        .expect("HttpRequest.url");
    url.insert("pattern".into(), URL_SHAPE.into());
    schema
}

/// The `httpRequest` of an endpoint's http-task schema and the definitions it reaches.
fn request(endpoint: &Endpoint) -> (Value, BTreeMap<String, Value>) {
    let mut task = super::http_task_schema(endpoint);
    let schema = task["properties"]["httpRequest"].take();
    let mut all = match task.get_mut("$defs").map(Value::take) {
        Some(Value::Object(defs)) => defs,
        _ => Map::new(),
    };
    let mut defs = BTreeMap::new();
    let mut queue: Vec<String> = refs(&schema).into_iter().collect();
    while let Some(name) = queue.pop() {
        if defs.contains_key(&name) {
            continue;
        }
        let def = all
            .remove(&name)
            .unwrap_or_else(|| panic!("{}: `$defs/{name}` is referenced", endpoint.id));
        queue.extend(refs(&def));
        defs.insert(name, def);
    }
    (schema, defs)
}

/// The `if`/`then` that gives an Http task calling `endpoint` the request `request_name`.
fn selection(endpoint: &Endpoint, request_name: &str) -> Value {
    json!({
        "description": format!(
            "An Http task calling {} ({} {}): its httpRequest as in {}.",
            endpoint.id, endpoint.method, endpoint.display_path(), endpoint.schemas.http_task
        ),
        "if": {
            "type": "object",
            "required": ["type", "httpRequest"],
            "properties": {
                "type": { "const": "Http" },
                "httpRequest": {
                    "type": "object",
                    "required": ["url", "method"],
                    "properties": {
                        "url": { "type": "string", "pattern": endpoint.url_pattern() },
                        "method": { "const": endpoint.method }
                    }
                }
            }
        },
        "then": {
            "type": "object",
            "properties": { "httpRequest": { "$ref": format!("#/$defs/{request_name}") } }
        }
    })
}

/// The names of the `#/$defs/…` a schema refers to.
fn refs(schema: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![schema];
    while let Some(v) = stack.pop() {
        match v {
            Value::Object(obj) => {
                if let Some(name) = obj
                    .get("$ref")
                    .and_then(Value::as_str)
                    .and_then(|r| r.strip_prefix("#/$defs/"))
                {
                    out.insert(name.to_owned());
                }
                stack.extend(obj.values());
            }
            Value::Array(list) => stack.extend(list),
            _ => {}
        }
    }
    out
}
