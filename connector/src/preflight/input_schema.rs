//! A definition's `inputSchema`: compiled once, and each violation of an input a [`Problem`]
//! naming the field and the schema keyword.

use serde_json::Value;

use super::Problem;
use crate::execute::{ErrorCode, TaskError};
use crate::simworkflow::WorkflowDefinition;
use crate::validators;

/// A definition's `inputSchema`, compiled once (an ingest checks every record with it).
pub struct InputSchema(jsonschema::Validator);

impl std::fmt::Debug for InputSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InputSchema")
    }
}

impl InputSchema {
    /// The definition's `inputSchema` compiled; `Ok(None)` without one; `Err` (a problem at
    /// `/inputSchema`) when it is not a usable JSON Schema.
    pub fn of(definition: &WorkflowDefinition) -> Result<Option<Self>, Problem> {
        let Some(schema) = &definition.input_schema else {
            return Ok(None);
        };
        validators::compile("inputSchema", schema)
            .map(|v| Some(InputSchema(v)))
            .map_err(|e| Problem {
                task: None,
                pointer: "/inputSchema".to_owned(),
                error: TaskError::new(
                    ErrorCode::InvalidInput,
                    format!("inputSchema is not a usable JSON Schema: {e}"),
                ),
                resolved_body: None,
            })
    }

    /// The problems of `input` as `definition`'s workflow input: one per violation of its
    /// `inputSchema`, or the schema's own when it does not compile; none without one.
    pub fn problems(definition: &WorkflowDefinition, input: &Value) -> Vec<Problem> {
        match InputSchema::of(definition) {
            Ok(Some(schema)) => schema.check(input),
            Ok(None) => Vec::new(),
            Err(problem) => vec![problem],
        }
    }

    /// One problem per violation of `input`, naming the field and the schema keyword, its
    /// pointer at the keyword inside `inputSchema`.
    pub fn check(&self, input: &Value) -> Vec<Problem> {
        validators::located_violations(&self.0, input)
            .into_iter()
            .map(|v| {
                let field = if v.pointer.is_empty() {
                    "the workflow input".to_owned()
                } else {
                    format!("the workflow input at `{}`", v.pointer)
                };
                Problem {
                    task: None,
                    pointer: format!("/inputSchema{}", v.schema_path),
                    error: TaskError::new(
                        ErrorCode::InvalidInput,
                        format!("{field} fails inputSchema `{}`: {}", v.keyword, v.message),
                    ),
                    resolved_body: None,
                }
            })
            .collect()
    }
}
