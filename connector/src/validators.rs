//! Compiled validators for the emitted schemas, and the matching serde checks.
//!
//! Policy: every jsonschema call of the crate lives here, including the request check of the
//! prepare path ([`Validators::check_request`]). Validators are compiled once per
//! process and reused; formats (`date-time`) are asserted; patterns use the linear-time `regex`
//! engine, since our patterns need no look-around and inputs may be untrusted. The decimals
//! rule, published as a `$comment` only, is checked exactly by the [`decimals`] keyword.

pub mod decimals;
mod suggest;

use std::ops::Deref;
use std::sync::OnceLock;

use jsonschema::error::ValidationErrorKind;
use jsonschema::{PatternOptions, ValidationError, Validator};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::catalog::{Catalog, EndpointId};
use crate::decimal;
use crate::diagnostic::{Code, Diagnostic};
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

/// Compiles a schema with the crate's options (draft 2020-12, formats asserted, the exact
/// decimals keyword added where the schema states the rule: [`decimals::mark`]).
pub fn compile(name: &str, schema: &Value) -> Result<Validator> {
    let mut schema = schema.clone();
    decimals::mark(&mut schema);
    decimals::register(jsonschema::draft202012::options())
        .should_validate_formats(true)
        .with_pattern_options(PatternOptions::regex())
        .build(&schema)
        .map_err(|e| Error::SchemaCompile {
            name: name.to_owned(),
            message: e.to_string(),
        })
}

/// A compiled validator and the schema it was compiled from, so a violation can name what the
/// schema allows (the known fields next to an unknown one). Derefs to the [`Validator`].
pub struct Compiled {
    validator: Validator,
    schema: Value,
}

impl Compiled {
    /// [`compile`]s `schema`, keeping it.
    pub fn new(name: &str, schema: Value) -> Result<Self> {
        Ok(Compiled {
            validator: compile(name, &schema)?,
            schema,
        })
    }

    /// The schema as given (before the decimals keyword is marked in it, which only adds
    /// keys): the schema paths of violations resolve in it.
    pub fn schema(&self) -> &Value {
        &self.schema
    }
}

impl Deref for Compiled {
    type Target = Validator;

    fn deref(&self) -> &Validator {
        &self.validator
    }
}

/// Every compiled validator the crate uses, for one catalog.
pub struct Validators {
    catalog: Catalog,
    request: Vec<(EndpointId, Compiled)>,
    http_task: Vec<(EndpointId, Compiled)>,
    task_types: Vec<(&'static str, Compiled)>,
    definition_shell: Compiled,
    url_patterns: Vec<(EndpointId, regex::Regex)>,
}

/// The task type names, in the order SimWorkflow documents them.
pub const TASK_TYPES: [&str; 5] = ["Simple", "Http", "Parallel", "Decision", "Terminate"];

/// A task type's schema with its `type` const added (the enum tag lives outside the struct).
fn task_type_schema<T: schemars::JsonSchema>(type_name: &str) -> Value {
    let mut schema = schemars::generate::SchemaSettings::draft2020_12()
        .with_transform(schemars::transform::RestrictFormats::default())
        .into_generator()
        .into_root_schema_for::<T>()
        .to_value();
    schema["properties"]["type"] = serde_json::json!({ "const": type_name });
    let obj = schema.as_object_mut().expect("object");
    match obj.get_mut("required").and_then(Value::as_array_mut) {
        Some(required) => required.insert(0, Value::String("type".into())),
        None => {
            obj.insert("required".into(), serde_json::json!(["type"]));
        }
    }
    // Nested tasks (Parallel branches) are checked one by one by the walker, not here.
    if let Some(branch) = schema.pointer_mut("/$defs/Branch/properties/tasks") {
        branch["additionalProperties"] = serde_json::json!({ "type": "object" });
    }
    schema
}

impl Validators {
    /// Compiles every schema for `catalog` (a few milliseconds; do it once and reuse).
    pub fn new(catalog: &Catalog) -> Result<Self> {
        use crate::simworkflow::{DecisionTask, ParallelTask, SimpleTask, TerminateTask};
        let mut request = Vec::new();
        let mut http_task = Vec::new();
        for endpoint in &catalog.endpoints {
            let id = endpoint.id;
            request.push((id, Compiled::new(id.as_str(), schemas::request_schema(id))?));
            http_task.push((
                id,
                Compiled::new(id.as_str(), schemas::http_task_schema(endpoint))?,
            ));
        }
        let task_types = vec![
            (
                "Simple",
                Compiled::new("Simple", task_type_schema::<SimpleTask>("Simple"))?,
            ),
            (
                "Http",
                Compiled::new(
                    "Http",
                    task_type_schema::<crate::simworkflow::HttpTask>("Http"),
                )?,
            ),
            (
                "Parallel",
                Compiled::new("Parallel", task_type_schema::<ParallelTask>("Parallel"))?,
            ),
            (
                "Decision",
                Compiled::new("Decision", task_type_schema::<DecisionTask>("Decision"))?,
            ),
            (
                "Terminate",
                Compiled::new("Terminate", task_type_schema::<TerminateTask>("Terminate"))?,
            ),
        ];
        // The model's schema: the walker checks each task on its own (a catalog Http task
        // against its endpoint), so the published per-endpoint `if`/`then` is not needed here.
        let mut shell = schemas::workflow_model_schema();
        shell["properties"]["tasks"]["additionalProperties"] =
            serde_json::json!({ "type": "object" });
        let definition_shell = Compiled::new("workflow-definition", shell)?;
        let url_patterns = catalog
            .endpoints
            .iter()
            .map(|e| {
                (
                    e.id,
                    regex::Regex::new(&e.url_pattern()).expect("url patterns are escaped"),
                )
            })
            .collect();
        Ok(Validators {
            catalog: catalog.clone(),
            request,
            http_task,
            task_types,
            definition_shell,
            url_patterns,
        })
    }

    /// The validators of the built-in catalog, compiled once per process.
    pub fn builtin() -> &'static Validators {
        static BUILTIN: OnceLock<Validators> = OnceLock::new();
        BUILTIN.get_or_init(|| {
            Validators::new(&Catalog::builtin()).expect("generated schemas compile")
        })
    }

    /// The catalog these validators were built for.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The request-body validator of an endpoint.
    pub fn request(&self, id: EndpointId) -> &Compiled {
        find(&self.request, id)
    }

    /// The SimWorkflow `Http` task validator of an endpoint.
    pub fn http_task(&self, id: EndpointId) -> &Compiled {
        find(&self.http_task, id)
    }

    /// The validator of a task type (`Simple`, `Http` (generic), …), if the name is one.
    pub fn task_type(&self, name: &str) -> Option<&Compiled> {
        self.task_types
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
    }

    /// The endpoints whose servers and path match `url` (any method), in catalog order.
    pub fn endpoints_for_url(&self, url: &str) -> Vec<&crate::catalog::Endpoint> {
        self.url_patterns
            .iter()
            .filter(|(_, re)| re.is_match(url))
            .map(|(id, _)| self.catalog.get(*id))
            .collect()
    }

    /// The validator of a definition's top level (tasks are only required to be objects).
    pub fn definition_shell(&self) -> &Compiled {
        &self.definition_shell
    }

    /// Checks a concrete request body against an endpoint's request schema: the check the
    /// prepare path makes before anything is sent. Diagnostics (`E-DECIMALS` for a number with
    /// more decimals than its field allows, else `E-REQUEST`) carry the
    /// endpoint id, pointers into `body` and a hint where one is known; `file` and `task` are
    /// empty.
    pub fn check_request(
        &self,
        endpoint: EndpointId,
        body: &Value,
    ) -> std::result::Result<(), Vec<Diagnostic>> {
        let validator = self.request(endpoint);
        if validator.is_valid(body) {
            return Ok(());
        }
        Err(detailed_violations(validator, body)
            .into_iter()
            .map(|v| {
                let hint = hint_for(&v, body.pointer(&v.pointer));
                let code = if v.keyword == decimals::KEYWORD {
                    Code::Decimals
                } else {
                    Code::Request
                };
                let mut d =
                    Diagnostic::new(code, v.pointer, v.message).endpoint(Some(endpoint.as_str()));
                d.hint = hint;
                d
            })
            .collect())
    }
}

/// A hint for a schema violation, when we know how to fix it.
pub fn hint_for(violation: &Violation, found: Option<&Value>) -> Option<String> {
    let last = violation.pointer.rsplit('/').next().unwrap_or_default();
    match (violation.keyword.as_str(), last) {
        (decimals::KEYWORD, "quantity") => match found.and_then(decimal::number_decimal) {
            Some(d) if decimal::round_half_even(d) >= decimal::MIN_QUANTITY => Some(format!(
                "quantity allows at most {} decimals: {}, or set a rounding policy",
                decimal::MAX_SCALE,
                decimal::round_half_even(d)
            )),
            Some(_) => None,
            None => Some(format!(
                "quantity allows at most {} decimals, or set a rounding policy",
                decimal::MAX_SCALE
            )),
        },
        ("required", _) => violation
            .message
            .split('"')
            .nth(1)
            .map(|field| format!("add `{field}`: it is required here")),
        ("minimum", "quantity") => Some(format!(
            "the minimum billable unit is {}",
            decimal::MIN_QUANTITY
        )),
        ("format", _) => Some("use ISO 8601 with a time zone, e.g. 2024-07-01T10:50:00Z".into()),
        ("additionalProperties", _)
            if violation.pointer.contains("/body") || !violation.pointer.contains("/tasks/") =>
        {
            Some("remove the field or fix its spelling; read-only fields (ids, timestamps set by the API) cannot be sent".into())
        }
        ("additionalProperties", _) => {
            Some("remove the field or fix its spelling (field names are case-sensitive)".into())
        }
        ("pattern", "reference") => Some("use letters, digits, `_` and `-` only".into()),
        ("pattern", "description") => Some(
            "charge descriptions allow letters, digits, spaces, `_`, `-` and `+` only".into(),
        ),
        _ => None,
    }
}

fn find(list: &[(EndpointId, Compiled)], id: EndpointId) -> &Compiled {
    &list
        .iter()
        .find(|(i, _)| *i == id)
        .expect("every id compiled")
        .1
}

/// The compiled request-body validator of an endpoint (built-in catalog).
pub fn request_validator(id: EndpointId) -> &'static Compiled {
    Validators::builtin().request(id)
}

/// The compiled `Http` task validator of an endpoint (built-in catalog paths).
pub fn http_task_validator(id: EndpointId) -> &'static Compiled {
    Validators::builtin().http_task(id)
}

/// A violation with the place in the schema that states the broken rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocatedViolation {
    /// RFC 6901 pointer into the instance (`""` = the root).
    pub pointer: String,
    /// RFC 6901 pointer into the schema, at the keyword that failed (`/required`).
    pub schema_path: String,
    /// The keyword.
    pub keyword: String,
    /// What was expected and what was found (capped at 300 characters).
    pub message: String,
}

/// All violations of `instance` against `validator`, each with its place in the schema (for a
/// schema a user wrote, such as a definition's `inputSchema`).
pub fn located_violations(validator: &Validator, instance: &Value) -> Vec<LocatedViolation> {
    validator
        .iter_errors(instance)
        .map(|e| LocatedViolation {
            pointer: e.instance_path().as_str().to_owned(),
            schema_path: e.schema_path().as_str().to_owned(),
            keyword: e.kind().keyword().to_owned(),
            message: cap(e.to_string()),
        })
        .collect()
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
/// Like [`violations`], but an `anyOf`/`oneOf` failure is replaced by the errors of the branch
/// that explains it: the branch the instance's type fits, never the placeholder or `null`
/// branch. When no branch fits the type, one `type` violation lists the accepted types. An
/// unknown field is one violation per key, naming the nearest field the schema allows there
/// when one is close (``unknown field `quantiy`; did you mean `quantity`?``). Messages are capped
/// at 300 characters (enums of 176 currencies stay readable).
pub fn detailed_violations(compiled: &Compiled, instance: &Value) -> Vec<Violation> {
    let mut out = Vec::new();
    for e in compiled.iter_errors(instance) {
        unfold(&e, compiled.schema(), &mut out);
    }
    out
}

fn cap(message: String) -> String {
    if message.chars().count() <= 300 {
        return message;
    }
    let mut short: String = message.chars().take(297).collect();
    short.push('…');
    short
}

fn violation(e: &ValidationError<'_>) -> Violation {
    Violation {
        pointer: e.instance_path().as_str().to_owned(),
        keyword: e.kind().keyword().to_owned(),
        message: cap(e.to_string()),
    }
}

fn unfold(e: &ValidationError<'_>, schema: &Value, out: &mut Vec<Violation>) {
    let branches = match e.kind() {
        ValidationErrorKind::AnyOf { context } | ValidationErrorKind::OneOfNotValid { context } => {
            context
        }
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            // One violation per unknown key, pointing at the key itself.
            let path = e.schema_path().as_str();
            let allowed = path
                .strip_suffix("/additionalProperties")
                .filter(|_| schema.pointer(path).is_some())
                .and_then(|at| schema.pointer(at))
                .and_then(|at| at.get("properties"))
                .and_then(Value::as_object);
            let given = e.instance().as_object();
            for key in unexpected {
                let nearest = allowed.and_then(|allowed| {
                    suggest::misspelt(
                        key,
                        allowed
                            .keys()
                            .filter(|k| !given.is_some_and(|g| g.contains_key(*k))),
                        schema,
                    )
                });
                out.push(Violation {
                    pointer: format!(
                        "{}/{}",
                        e.instance_path().as_str(),
                        crate::diagnostic::locate::escape_token(key)
                    ),
                    keyword: "additionalProperties".into(),
                    message: match nearest {
                        Some(name) => format!("unknown field `{key}`; did you mean `{name}`?"),
                        None => format!("unknown field `{key}`"),
                    },
                });
            }
            return;
        }
        _ => return out.push(violation(e)),
    };
    let here = e.instance_path().as_str();
    let is_placeholder = |b: &[ValidationError<'_>]| {
        b.iter().any(|x| {
            x.schema_path().as_str().contains("placeholder")
                || x.evaluation_path().as_str().contains("placeholder")
        })
    };
    let is_type_mismatch = |b: &[ValidationError<'_>]| {
        b.iter().any(|x| {
            x.instance_path().as_str() == here
                && matches!(x.kind(), ValidationErrorKind::Type { .. })
        })
    };
    if let Some(best) = branches
        .iter()
        .find(|b| !is_placeholder(b) && !is_type_mismatch(b))
    {
        best.iter().for_each(|x| unfold(x, schema, out));
        return;
    }
    let mut types: Vec<String> = branches
        .iter()
        .filter(|b| !is_placeholder(b))
        .flatten()
        .filter(|x| matches!(x.kind(), ValidationErrorKind::Type { .. }))
        .filter_map(|x| {
            // `1 is not of type "string"`, or `… of types "null", "string"` for a nullable field.
            let text = x.to_string();
            let split = text
                .split_once(" is not of types ")
                .or_else(|| text.split_once(" is not of type "));
            split.map(|(_, t)| t.to_owned())
        })
        .collect();
    types.dedup();
    if types.is_empty() {
        return out.push(violation(e));
    }
    let placeholder = if branches.iter().any(|b| is_placeholder(b)) {
        " (or a `${…}` placeholder)"
    } else {
        ""
    };
    let found: String = e.instance().to_string().chars().take(80).collect();
    out.push(Violation {
        pointer: here.to_owned(),
        keyword: "type".into(),
        message: cap(format!(
            "{found} is not of type {}{placeholder}",
            types.join(" or ")
        )),
    });
}

fn de<T: DeserializeOwned>(value: &Value) -> std::result::Result<(), String> {
    if !value.is_object() {
        return Err(format!(
            "expected a JSON object, found {}",
            json_type(value)
        ));
    }
    // The path names the field: a field type's own error cannot know its key.
    serde_path_to_error::deserialize::<_, T>(value)
        .map(drop)
        .map_err(|e| e.to_string())
}

pub use crate::template::json_type;

/// Deserializes `body` into the endpoint's typed request; `Err` holds serde's message,
/// prefixed by the path of the value it is about (`period: …`, `meter_values[0].amount: …`).
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
