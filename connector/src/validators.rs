//! Compiled validators for the emitted schemas, and the matching serde checks.
//!
//! Policy: every jsonschema call of the crate lives here. Validators are compiled once per
//! process and reused; formats (`date-time`) are asserted; patterns use the linear-time `regex`
//! engine, since our patterns need no look-around and inputs may be untrusted.

use std::sync::OnceLock;

use jsonschema::{PatternOptions, Validator};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::catalog::{Catalog, EndpointId};
use crate::error::{Error, Result};
use crate::model::{rebilly, solvimon};
use crate::schemas;

/// One schema violation: where in the instance, and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// RFC 6901 pointer into the validated instance (`""` = the root).
    pub pointer: String,
    /// JSON Schema keyword that failed (`pattern`, `required`, …).
    pub keyword: String,
    /// What was expected and what was found.
    pub message: String,
}

/// Compiles a schema with the crate's options (draft 2020-12, formats asserted).
pub fn compile(name: &str, schema: &Value) -> Result<Validator> {
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .with_pattern_options(PatternOptions::regex())
        .build(schema)
        .map_err(|e| Error::SchemaCompile {
            name: name.to_owned(),
            message: e.to_string(),
        })
}

struct Compiled {
    request: Vec<(EndpointId, Validator)>,
    http_task: Vec<(EndpointId, Validator)>,
}

fn compiled() -> &'static Compiled {
    static COMPILED: OnceLock<Compiled> = OnceLock::new();
    COMPILED.get_or_init(|| {
        let catalog = Catalog::builtin();
        let build = |name: &str, schema: Value| {
            compile(name, &schema).unwrap_or_else(|e| panic!("generated schema must compile: {e}"))
        };
        Compiled {
            request: EndpointId::ALL
                .map(|id| (id, build(id.as_str(), schemas::request_schema(id))))
                .into(),
            http_task: EndpointId::ALL
                .map(|id| {
                    (
                        id,
                        build(id.as_str(), schemas::http_task_schema(catalog.get(id))),
                    )
                })
                .into(),
        }
    })
}

fn find(list: &[(EndpointId, Validator)], id: EndpointId) -> &Validator {
    &list
        .iter()
        .find(|(i, _)| *i == id)
        .expect("every id compiled")
        .1
}

/// The compiled request-body validator of an endpoint.
pub fn request_validator(id: EndpointId) -> &'static Validator {
    find(&compiled().request, id)
}

/// The compiled `Http` task validator of an endpoint (built-in catalog paths).
pub fn http_task_validator(id: EndpointId) -> &'static Validator {
    find(&compiled().http_task, id)
}

/// All violations of `instance` against `validator`, in document order.
pub fn violations(validator: &Validator, instance: &Value) -> Vec<Violation> {
    validator
        .iter_errors(instance)
        .map(|e| Violation {
            pointer: e.instance_path().as_str().to_owned(),
            keyword: e.kind().keyword().to_owned(),
            message: e.to_string(),
        })
        .collect()
}

/// Serde derives also read structs from arrays; bodies must be objects, as the schemas say.
fn de<T: DeserializeOwned>(value: &Value) -> std::result::Result<(), String> {
    if !value.is_object() {
        return Err(format!(
            "expected a JSON object, found {}",
            json_type(value)
        ));
    }
    T::deserialize(value).map(drop).map_err(|e| e.to_string())
}

/// The JSON type name of a value (`object`, `array`, `string`, …).
pub fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Deserializes `body` into the endpoint's typed request; `Err` holds serde's message.
/// Agrees with [`request_validator`] on what is valid (tested case by case).
pub fn deserialize_request(id: EndpointId, body: &Value) -> std::result::Result<(), String> {
    match id {
        EndpointId::SolvimonIngestAdjustment => de::<solvimon::AdjustmentRequest>(body),
        EndpointId::SolvimonIngestCharge => de::<solvimon::ChargeRequest>(body),
        EndpointId::SolvimonIngestPersist => de::<solvimon::PersistRequest>(body),
        EndpointId::SolvimonCalculateCost => de::<solvimon::CalculateRequest>(body),
        EndpointId::RebillyCreateUsage => de::<rebilly::UsageRequest>(body),
    }
}

/// Deserializes `body` into the endpoint's typed success response.
pub fn deserialize_response(id: EndpointId, body: &Value) -> std::result::Result<(), String> {
    match id {
        EndpointId::SolvimonIngestAdjustment => de::<solvimon::AdjustmentResponse>(body),
        EndpointId::SolvimonIngestCharge => de::<solvimon::ChargeResponse>(body),
        EndpointId::SolvimonIngestPersist => de::<solvimon::PersistResponse>(body),
        EndpointId::SolvimonCalculateCost => de::<solvimon::CalculateResponse>(body),
        EndpointId::RebillyCreateUsage => de::<rebilly::UsageResponse>(body),
    }
}
