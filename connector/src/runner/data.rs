//! Data passing between tasks, as Amazon States Language does it (SimWorkflow copies ASL; its
//! own pages on referencing inputs and outputs could not be read, so this is inferred).
//!
//! Policy: a task's raw input is the previous task's output (the workflow input for a start
//! task); `inputParameters` reshapes it into the task input. A task's result (Http, Simple,
//! Parallel) then goes through `resultSelector` (a map over the result), `resultPath` (`$`, the
//! default: the result replaces the input; `$.a.b`: the result is set there in the raw input;
//! `null`: the result is dropped and the raw input carries on) and `outputPath` (the part passed
//! on, default `$`). Every placeholder reads the task's [`Scope`]: its input, the context object
//! `$$` and the system keys.

use serde_json::{Map, Value};

use crate::execute::{ErrorCode, TaskError};
use crate::simworkflow::Task;
use crate::template::context::{Frame, Frames};
use crate::template::path::{self, Step};
use crate::template::{self, Scope};

/// What a task reads besides its input.
pub(super) struct TaskData<'a> {
    frames: Frames<'a>,
}

impl<'a> TaskData<'a> {
    pub(super) fn new(workflow_id: &'a str, definition: &'a str, task: &'a str) -> Self {
        TaskData {
            frames: Frame {
                workflow_id,
                definition,
                task,
            }
            .build(),
        }
    }

    /// The scope of the task reading `input`.
    pub(super) fn scope<'s>(&'s self, input: &'s Value, execution_input: &'s Value) -> Scope<'s> {
        self.frames.scope(input, execution_input)
    }
}

/// `map` (an `inputParameters`, `resultSelector` or `workflowOutput` object) resolved in
/// `scope`; `at` names the field in errors.
pub(super) fn resolve_map(
    map: &Map<String, Value>,
    scope: &Scope<'_>,
    at: &str,
) -> Result<Value, TaskError> {
    template::resolve_value_in(&Value::Object(map.clone()), scope)
        .map_err(|e| TaskError::unresolved(e, at))
}

/// The output of `task`, whose raw input was `raw` and whose result is `result`.
pub(super) fn output(
    task: &Task,
    raw: Value,
    result: Value,
    data: &TaskData<'_>,
    execution_input: &Value,
) -> Result<Value, TaskError> {
    let (selector, result_path, output_path) = match task {
        Task::Http(t) => (&t.result_selector, &t.result_path, &t.output_path),
        Task::Simple(t) => (&t.result_selector, &t.result_path, &t.output_path),
        Task::Parallel(t) => (&t.result_selector, &t.result_path, &t.output_path),
        Task::Decision(_) | Task::Terminate(_) => return Ok(result),
    };
    let result = match selector {
        Some(map) => resolve_map(
            map,
            &data.scope(&result, execution_input),
            "/resultSelector",
        )
        .map_err(|mut e| {
            // A duplicate whose original could not be read: say so where it matters.
            if let Some(note) = result["duplicateOf"]["note"].as_str() {
                e.message.push_str(&format!(
                    "; the response is a duplicate answer, not the original record: {note}"
                ));
            }
            e
        })?,
        None => result,
    };
    let combined = match result_path {
        None => result,
        Some(None) => raw,
        Some(Some(p)) => {
            let parsed = path::parse(p).map_err(|e| invalid("/resultPath", &e.message))?;
            if parsed.steps.is_empty() {
                result
            } else {
                let mut raw = raw;
                set_at(&mut raw, &parsed.steps, result)
                    .map_err(|why| invalid("/resultPath", &format!("`{p}`: {why}")))?;
                raw
            }
        }
    };
    match output_path.as_deref() {
        None | Some("$") => Ok(combined),
        Some(p) => {
            let parsed = path::parse(p).map_err(|e| invalid("/outputPath", &e.message))?;
            parsed.lookup(&combined).cloned().ok_or_else(|| {
                TaskError::new(
                    ErrorCode::InputMissing,
                    format!("/outputPath: `{p}` names nothing in the task's combined output"),
                )
                .at("/outputPath")
            })
        }
    }
}

fn invalid(at: &str, why: &str) -> TaskError {
    TaskError::new(ErrorCode::InvalidRequest, format!("{at}: {why}")).at(at)
}

/// Sets `value` at `steps` inside `target`, creating objects for missing keys; an index must
/// exist, and a step into a value that is neither object nor array is an error.
pub(crate) fn set_at(target: &mut Value, steps: &[Step], value: Value) -> Result<(), String> {
    let Some((last, parents)) = steps.split_last() else {
        *target = value;
        return Ok(());
    };
    let mut at = target;
    for step in parents {
        at = match step {
            Step::Key(k) => {
                if at.is_null() {
                    *at = Value::Object(Map::new());
                }
                let obj = at
                    .as_object_mut()
                    .ok_or_else(|| format!("`{k}` is inside a value that is not an object"))?;
                obj.entry(k.clone()).or_insert(Value::Null)
            }
            Step::Index(n) => at
                .get_mut(*n)
                .ok_or_else(|| format!("there is no item {n} to set inside"))?,
        };
    }
    match last {
        Step::Key(k) => {
            if at.is_null() {
                *at = Value::Object(Map::new());
            }
            at.as_object_mut()
                .ok_or_else(|| format!("`{k}` is inside a value that is not an object"))?
                .insert(k.clone(), value);
        }
        Step::Index(n) => {
            *at.get_mut(*n)
                .ok_or_else(|| format!("there is no item {n} to set"))? = value;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn http(extra: Value) -> Task {
        let mut t = json!({"type": "Http", "end": true, "httpRequest": {"url": "https://x.example", "method": "GET"}});
        for (k, v) in extra.as_object().unwrap() {
            t[k] = v.clone();
        }
        serde_json::from_value(t).unwrap()
    }

    #[test]
    fn results_are_selected_placed_and_cut_as_asl_does() {
        let data = TaskData::new("wf", "def", "t");
        let raw = json!({"order": 7, "quantity": 2.5});
        let result = json!({"statusCode": 201, "body": {"id": "u1", "quantity": 2.5}});
        let run =
            |extra: Value| output(&http(extra), raw.clone(), result.clone(), &data, &json!({}));
        assert_eq!(run(json!({})).unwrap(), result);
        assert_eq!(run(json!({"resultPath": null})).unwrap(), raw);
        assert_eq!(
            run(json!({"resultPath": "$.charge.out", "resultSelector": {"id": "${$.body.id}"}}))
                .unwrap(),
            json!({"order": 7, "quantity": 2.5, "charge": {"out": {"id": "u1"}}})
        );
        assert_eq!(
            run(json!({"resultPath": "$.r", "outputPath": "$.r.body"})).unwrap(),
            json!({"id": "u1", "quantity": 2.5})
        );
        assert_eq!(
            run(json!({"outputPath": "$.nope"})).unwrap_err().code,
            ErrorCode::InputMissing
        );
        assert!(
            run(json!({"resultPath": "$.order.x"})).is_err(),
            "inside a number"
        );
    }
}
