//! JSON Schema emission: request, response and SimWorkflow `Http` task schemas per endpoint,
//! the catalog index and the workflow-definition schema.
//!
//! Policy: everything is generated from the Rust types with schemars (draft 2020-12), then
//! specialised by small, documented transforms; output is pretty JSON with sorted keys and a
//! trailing newline, so generation is byte-for-byte deterministic. Every file is
//! self-contained (`$defs`, no cross-file `$ref`) so an external validator can use one file
//! alone. `$id`s live under [`BASE_URI`], a reserved `.invalid` host that never resolves. The
//! workflow-definition schema checks each catalog Http task as its http-task schema does
//! ([`workflow`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use schemars::generate::SchemaSettings;
use schemars::transform::RestrictFormats;
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::{Map, Value, json};

use crate::catalog::{Catalog, Endpoint, EndpointId};
use crate::error::{Error, Result};
use crate::model::{rebilly, solvimon};
use crate::simworkflow::{HttpTask, WorkflowDefinition};

pub mod workflow;

/// Base of every `$id`.
pub const BASE_URI: &str = "https://usage-connector.invalid/schemas/";

/// Path of the workflow-definition schema under `schemas/`.
pub const WORKFLOW_DEFINITION_FILE: &str = "simworkflow/workflow-definition.schema.json";

/// Path of the catalog index under `schemas/`.
pub const INDEX_FILE: &str = "index.json";

/// A `${JSONPath}` placeholder or a `jsonata:` expression: resolved from the task input at run
/// time, so any body leaf may be one instead of a literal. `$${` is an escape, not a
/// placeholder.
pub fn placeholder_schema() -> Value {
    json!({
        "description": "A `${JSONPath}` placeholder (`$${` escapes) or a `jsonata:` expression, resolved from the task input at run time.",
        "type": "string",
        "anyOf": [
            { "pattern": "(^|[^$])\\$\\{[^}]+\\}" },
            { "pattern": "^jsonata:" }
        ]
    })
}

/// Draft 2020-12, with schemars' non-standard numeric formats (`uint32`, `double`, …) removed
/// so other validators and editors see only standard keywords.
fn generator() -> SchemaGenerator {
    SchemaSettings::draft2020_12()
        .with_transform(RestrictFormats::default())
        .into_generator()
}

fn root<T: JsonSchema>() -> Value {
    generator().into_root_schema_for::<T>().to_value()
}

fn with_id(mut schema: Value, file: &str, title: &str) -> Value {
    let obj = schema.as_object_mut().expect("schemars emits objects");
    obj.insert("$id".into(), Value::String(format!("{BASE_URI}{file}")));
    obj.insert("title".into(), Value::String(title.to_owned()));
    schema
}

/// The request-body schema of an endpoint (what the API accepts).
pub fn request_schema(id: EndpointId) -> Value {
    match id {
        EndpointId::SolvimonIngestAdjustment => root::<solvimon::AdjustmentRequest>(),
        EndpointId::SolvimonIngestCharge => root::<solvimon::ChargeRequest>(),
        EndpointId::SolvimonIngestPersist => root::<solvimon::PersistRequest>(),
        EndpointId::SolvimonCalculateCost => root::<solvimon::CalculateRequest>(),
        EndpointId::RebillyCreateUsage => root::<rebilly::UsageRequest>(),
    }
}

/// The response-body schema of an endpoint's success answer (read-only fields included).
pub fn response_schema(id: EndpointId) -> Value {
    match id {
        EndpointId::SolvimonIngestAdjustment => root::<solvimon::AdjustmentResponse>(),
        EndpointId::SolvimonIngestCharge => root::<solvimon::ChargeResponse>(),
        EndpointId::SolvimonIngestPersist => root::<solvimon::PersistResponse>(),
        EndpointId::SolvimonCalculateCost => root::<solvimon::CalculateResponse>(),
        EndpointId::RebillyCreateUsage => root::<rebilly::UsageResponse>(),
    }
}

/// Makes every property, array item and map value of `schema` accept a placeholder too.
/// `$defs` are not visited here; the caller transforms each definition itself.
fn allow_placeholders(schema: &mut Value) {
    let Some(obj) = schema.as_object_mut() else {
        return;
    };
    let wrap = |v: &mut Value| {
        allow_placeholders(v);
        let inner = std::mem::take(v);
        *v = json!({ "anyOf": [inner, { "$ref": "#/$defs/placeholder" }] });
    };
    if let Some(Value::Object(props)) = obj.get_mut("properties") {
        props.values_mut().for_each(wrap);
    }
    for key in ["items", "additionalProperties"] {
        if let Some(v @ Value::Object(_)) = obj.get_mut(key) {
            wrap(v);
        }
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(Value::Array(list)) = obj.get_mut(key) {
            list.iter_mut().for_each(allow_placeholders);
        }
    }
}

/// The SimWorkflow `Http` task schema for an endpoint: the generic task schema with `type`
/// const `Http`, the method const, the URL restricted to the endpoint's servers and path, and
/// the body = the request schema in which any leaf may be a placeholder.
pub fn http_task_schema(endpoint: &Endpoint) -> Value {
    let mut task = root::<HttpTask>();
    let mut request = request_schema(endpoint.id);
    let request_name = request["title"]
        .as_str()
        .expect("schemars sets a title")
        .to_owned();

    let obj = task.as_object_mut().expect("object");
    let mut defs = match obj.remove("$defs") {
        Some(Value::Object(defs)) => defs,
        _ => Map::new(),
    };
    // The generic request/method definitions are replaced by the specialised request below.
    defs.remove("HttpRequest");
    defs.remove("HttpMethod");

    let req = request.as_object_mut().expect("object");
    if let Some(Value::Object(req_defs)) = req.remove("$defs") {
        for (name, mut def) in req_defs {
            allow_placeholders(&mut def);
            defs.insert(name, def);
        }
    }
    req.remove("$schema");
    allow_placeholders(&mut request);
    defs.insert(request_name.clone(), request);
    defs.insert("placeholder".into(), placeholder_schema());

    let placeholder_or =
        |schema: Value| json!({ "anyOf": [schema, { "$ref": "#/$defs/placeholder" }] });
    let http_request = json!({
        "description": format!("{} {} on a {} server.", endpoint.method, endpoint.display_path(), endpoint.vendor),
        "type": "object",
        "additionalProperties": false,
        "required": ["url", "method", "body"],
        "properties": {
            "url": {
                "description": format!(
                    "One of {} followed by {}; path parameters may be placeholders.",
                    endpoint.servers.iter().map(|s| s.url).collect::<Vec<_>>().join(", "),
                    endpoint.display_path()
                ),
                "type": "string",
                "pattern": endpoint.url_pattern()
            },
            "method": { "const": endpoint.method },
            "headers": {
                "type": ["object", "null"],
                "properties": {
                    "Content-Type": placeholder_or(json!({ "type": "string", "pattern": "^application/json" }))
                },
                "additionalProperties": { "type": "string" }
            },
            "body": placeholder_or(json!({ "$ref": format!("#/$defs/{request_name}") }))
        }
    });

    let props = obj
        .get_mut("properties")
        .and_then(Value::as_object_mut)
        .expect("properties");
    props.insert("type".into(), json!({ "const": "Http" }));
    props.insert("httpRequest".into(), http_request);
    let required = obj
        .get_mut("required")
        .and_then(Value::as_array_mut)
        .expect("required");
    required.insert(0, Value::String("type".into()));
    obj.insert("$defs".into(), Value::Object(defs));

    let file = &endpoint.schemas.http_task;
    with_id(
        task,
        file,
        &format!(
            "SimWorkflow Http task: {} ({})",
            endpoint.title, endpoint.id
        ),
    )
}

/// The model's schema of a SimWorkflow workflow definition: all five task types, every Http
/// task generic. `validate` checks a definition's top level with it and each task on its own.
pub fn workflow_model_schema() -> Value {
    let schema = root::<WorkflowDefinition>();
    with_id(
        schema,
        WORKFLOW_DEFINITION_FILE,
        "SimWorkflow workflow definition",
    )
}

/// The published workflow-definition schema: [`workflow_model_schema`] in which an Http task
/// calling an endpoint of `catalog` (URL + method) is checked as the endpoint's http-task
/// schema checks it ([`workflow`]), in Parallel branches too.
pub fn workflow_definition_schema(catalog: &Catalog) -> Value {
    workflow::specialise(workflow_model_schema(), catalog)
}

/// The catalog index (`schemas/index.json`).
pub fn index(catalog: &Catalog) -> Value {
    let mut value = serde_json::to_value(catalog).expect("catalog serializes");
    let obj = value.as_object_mut().expect("object");
    obj.insert(
        "$id".into(),
        Value::String(format!("{BASE_URI}{INDEX_FILE}")),
    );
    obj.insert("baseUri".into(), Value::String(BASE_URI.into()));
    obj.insert(
        "workflowDefinition".into(),
        Value::String(WORKFLOW_DEFINITION_FILE.into()),
    );
    value
}

fn render(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(value).expect("JSON values serialize");
    text.push('\n');
    text
}

/// Every schema file, by path relative to the schema directory, with its exact content.
pub fn generate(catalog: &Catalog) -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    for endpoint in &catalog.endpoints {
        let id = endpoint.id;
        let title = |what: &str| format!("{} {what} ({id})", endpoint.title);
        files.insert(
            endpoint.schemas.request.clone(),
            render(&with_id(
                request_schema(id),
                &endpoint.schemas.request,
                &title("request"),
            )),
        );
        files.insert(
            endpoint.schemas.response.clone(),
            render(&with_id(
                response_schema(id),
                &endpoint.schemas.response,
                &title("response"),
            )),
        );
        files.insert(
            endpoint.schemas.http_task.clone(),
            render(&http_task_schema(endpoint)),
        );
    }
    files.insert(
        WORKFLOW_DEFINITION_FILE.into(),
        render(&workflow_definition_schema(catalog)),
    );
    files.insert(INDEX_FILE.into(), render(&index(catalog)));
    files
}

/// Writes `files` under `dir`, creating folders; returns the paths written.
pub fn write(dir: &Path, files: &BTreeMap<String, String>) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for (rel, content) in files {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| Error::Io {
                action: "creating",
                path: parent.into(),
                source,
            })?;
        }
        std::fs::write(&path, content).map_err(|source| Error::Io {
            action: "writing",
            path: path.clone(),
            source,
        })?;
        written.push(path);
    }
    Ok(written)
}

/// How a file on disk differs from what the code generates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drift {
    /// The file should exist but does not.
    Missing(PathBuf),
    /// The file exists with other content.
    Differs(PathBuf),
    /// A `.json` file the generator does not produce (e.g. of a removed endpoint).
    Unexpected(PathBuf),
}

impl std::fmt::Display for Drift {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Drift::Missing(p) => write!(f, "missing: {}", p.display()),
            Drift::Differs(p) => write!(f, "differs: {}", p.display()),
            Drift::Unexpected(p) => write!(f, "not generated (stale?): {}", p.display()),
        }
    }
}

/// Compares `dir` with `files`; an empty list means no drift.
pub fn check(dir: &Path, files: &BTreeMap<String, String>) -> Result<Vec<Drift>> {
    let mut drift = Vec::new();
    for (rel, content) in files {
        let path = dir.join(rel);
        match std::fs::read(&path) {
            Ok(bytes) if bytes == content.as_bytes() => {}
            Ok(_) => drift.push(Drift::Differs(path)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => drift.push(Drift::Missing(path)),
            Err(source) => {
                return Err(Error::Io {
                    action: "reading",
                    path,
                    source,
                });
            }
        }
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        let entries = match std::fs::read_dir(&folder) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => {
                return Err(Error::Io {
                    action: "listing",
                    path: folder,
                    source,
                });
            }
        };
        for entry in entries {
            let path = entry
                .map_err(|source| Error::Io {
                    action: "listing",
                    path: folder.clone(),
                    source,
                })?
                .path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                let rel = path.strip_prefix(dir).expect("below dir");
                let rel = rel.to_string_lossy().replace('\\', "/");
                if !files.contains_key(&rel) {
                    drift.push(Drift::Unexpected(path));
                }
            }
        }
    }
    drift.sort_by_key(|d| d.to_string());
    Ok(drift)
}
