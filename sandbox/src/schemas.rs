//! Request validation with the connector's emitted schemas (`schemas/<id>/request.schema.json`),
//! compiled in from this crate's copies (`sandbox/schemas/`, so the crate packages on its own;
//! a connector test keeps them byte-identical to the committed ones), so the sandbox rejects
//! exactly what the connector's own validation rejects.

use std::sync::OnceLock;

use jsonschema::error::ValidationErrorKind;
use jsonschema::{PatternOptions, Validator};
use serde_json::Value;

/// The request bodies the sandbox validates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Body {
    /// `POST /v{version}/ingest/adjustment-data`.
    Adjustment,
    /// `POST /v{version}/ingest/charge-data`.
    Charge,
    /// `POST /v{version}/ingest/persist-data`.
    Persist,
    /// `POST /v{version}/events/calculate`.
    Calculate,
    /// `POST /usages`.
    Usage,
}

/// One problem with a request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Dotted path of the field, e.g. `meter_values.0.amount.currency`.
    pub field: String,
    /// Whether the field is missing (as opposed to invalid).
    pub missing: bool,
    /// What is wrong.
    pub message: String,
}

fn source(body: Body) -> &'static str {
    match body {
        Body::Adjustment => {
            include_str!("../schemas/solvimon.ingest-adjustment/request.schema.json")
        }
        Body::Charge => include_str!("../schemas/solvimon.ingest-charge/request.schema.json"),
        Body::Persist => include_str!("../schemas/solvimon.ingest-persist/request.schema.json"),
        Body::Calculate => {
            include_str!("../schemas/solvimon.calculate-cost/request.schema.json")
        }
        Body::Usage => include_str!("../schemas/rebilly.create-usage/request.schema.json"),
    }
}

const ALL: [Body; 5] = [
    Body::Adjustment,
    Body::Charge,
    Body::Persist,
    Body::Calculate,
    Body::Usage,
];

fn validators() -> &'static [(Body, Validator)] {
    static V: OnceLock<Vec<(Body, Validator)>> = OnceLock::new();
    V.get_or_init(|| {
        ALL.iter()
            .map(|&b| {
                let schema: Value =
                    serde_json::from_str(source(b)).expect("committed schema is JSON");
                let v = jsonschema::draft202012::options()
                    .should_validate_formats(true)
                    .with_pattern_options(PatternOptions::regex())
                    .build(&schema)
                    .expect("committed schema compiles");
                (b, v)
            })
            .collect()
    })
}

fn dotted(pointer: &str) -> String {
    pointer
        .trim_start_matches('/')
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect::<Vec<_>>()
        .join(".")
}

/// Validates `value`; all problems, in document order (empty = valid).
pub fn check(body: Body, value: &Value) -> Vec<FieldError> {
    let validator = &validators()
        .iter()
        .find(|(b, _)| *b == body)
        .expect("compiled")
        .1;
    if validator.is_valid(value) {
        return Vec::new();
    }
    validator
        .iter_errors(value)
        .map(|e| {
            let at = e.instance_path().as_str().to_owned();
            match e.kind() {
                ValidationErrorKind::Required { property } => {
                    let name = property.as_str().unwrap_or_default();
                    let field = if at.is_empty() {
                        name.to_owned()
                    } else {
                        format!("{}.{name}", dotted(&at))
                    };
                    FieldError {
                        field,
                        missing: true,
                        message: "value required, but not set".into(),
                    }
                }
                ValidationErrorKind::AdditionalProperties { unexpected } => FieldError {
                    field: if at.is_empty() {
                        unexpected.join(",")
                    } else {
                        format!("{}.{}", dotted(&at), unexpected.join(","))
                    },
                    missing: false,
                    message: format!("unknown field(s): {}", unexpected.join(", ")),
                },
                _ => {
                    let mut message = e.to_string();
                    if message.len() > 200 {
                        message = format!("{}…", message.chars().take(200).collect::<String>());
                    }
                    FieldError {
                        field: dotted(&at),
                        missing: false,
                        message,
                    }
                }
            }
        })
        .collect()
}
