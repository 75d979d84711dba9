//! Data passing: the one way from a task and its raw input to the input its handler (and the
//! prepare path) receives, and from its result to what it passes on. The local runner's
//! interpreter, pre-flight (`run`, `validate --input`), `call --task`, `ingest --task` and the
//! Restate engine all go through [`TaskData`].
//!
//! Policy (Amazon States Language, which SimWorkflow copies; its own pages on referencing
//! inputs and outputs could not be read, so this is inferred): a task's raw input is the
//! previous task's output (the workflow input for a start task); `inputParameters` reshapes it
//! into the task input. A task's result (Http, Simple, Parallel) then goes through
//! `resultSelector` (a map over the result), `resultPath` (`$`, the default: the result
//! replaces the input; `$.a.b`: the result is set there in the raw input; `null`: the result is
//! dropped and the raw input carries on) and `outputPath` (the part passed on, default `$`). A
//! Terminate task's `workflowOutput` is resolved over its input. Every placeholder reads the
//! task's [`Scope`]: its input, the context object `$$` and the system keys ([`context`]).
//! Before a run, pre-flight reads the same way with what only the run can tell left unknown
//! ([`known`]).

pub mod context;
pub(crate) mod known;

use serde_json::{Map, Value};

pub use context::{Frame, Frames};

use crate::output::{ErrorCode, TaskError};
use crate::simworkflow::Task;
use crate::template::path::{self, Step};
use crate::template::{self, Scope};

/// One task of one execution, as data passing sees it: what its templates read besides their
/// input (the context object, the system keys, the execution's input).
#[derive(Debug)]
pub struct TaskData<'a> {
    frames: Frames<'a>,
    execution_input: &'a Value,
    /// Pre-flight: reads that meet what only the run can tell give the unknown marker.
    known_only: bool,
}

impl<'a> TaskData<'a> {
    /// The data of the task `frame` names, in an execution whose input is `execution_input`.
    pub fn new(frame: Frame<'a>, execution_input: &'a Value) -> Self {
        TaskData {
            frames: frame.build(),
            execution_input,
            known_only: false,
        }
    }

    /// Pre-flight's reading ([`known`]): what only the run can tell stays unknown.
    pub(crate) fn known_only(mut self) -> Self {
        self.known_only = true;
        self
    }

    /// The scope of this task reading `input`.
    pub fn scope<'s>(&'s self, input: &'s Value) -> Scope<'s> {
        self.frames.scope(input, self.execution_input)
    }

    /// `map` (an `inputParameters`, `resultSelector` or `workflowOutput` object) resolved
    /// over `input`; `at` names the field in errors.
    pub fn resolve(
        &self,
        map: &Map<String, Value>,
        input: &Value,
        at: &str,
    ) -> Result<Value, TaskError> {
        let scope = self.scope(input);
        if self.known_only {
            return known::resolve_map(map, &scope, at);
        }
        template::resolve_value_in(&Value::Object(map.clone()), &scope)
            .map_err(|e| TaskError::unresolved(e, at))
    }

    /// The input a task whose `inputParameters` are `params` receives from `raw`.
    pub fn input(
        &self,
        params: Option<&Map<String, Value>>,
        raw: &Value,
    ) -> Result<Value, TaskError> {
        match params {
            Some(params) => self.resolve(params, raw, "/inputParameters"),
            None => Ok(raw.clone()),
        }
    }

    /// What a Terminate task whose `workflowOutput` is `map` ends its scope with.
    pub fn workflow_output(
        &self,
        map: Option<&Map<String, Value>>,
        input: Value,
    ) -> Result<Value, TaskError> {
        match map {
            Some(map) => self.resolve(map, &input, "/workflowOutput"),
            None => Ok(input),
        }
    }

    /// What `task` passes on, from its raw input `raw` and its `result` (`resultSelector`,
    /// `resultPath`, `outputPath`). A Decision or Terminate task passes its result on as it is.
    pub fn output(&self, task: &Task, raw: Value, result: Value) -> Result<Value, TaskError> {
        let (selector, result_path, output_path) = match task {
            Task::Http(t) => (&t.result_selector, &t.result_path, &t.output_path),
            Task::Simple(t) => (&t.result_selector, &t.result_path, &t.output_path),
            Task::Parallel(t) => (&t.result_selector, &t.result_path, &t.output_path),
            Task::Decision(_) | Task::Terminate(_) => return Ok(result),
        };
        let unknown = |v: &Value| self.known_only && known::is_unknown(v);
        // Over a result only the run can tell, a selector still has its shape, and what it
        // reads elsewhere (the workflow input, `$$`) is known.
        let result = match selector {
            Some(map) => {
                self.resolve(map, &result, "/resultSelector")
                    .map_err(|mut e| {
                        // A duplicate whose original could not be read: say so where it matters.
                        if let Some(note) = result["duplicateOf"]["note"].as_str() {
                            e.message.push_str(&format!(
                                "; the response is a duplicate answer, not the original record: {note}"
                            ));
                        }
                        e
                    })?
            }
            None => result,
        };
        let combined = match result_path {
            None => result,
            Some(None) => raw,
            Some(Some(p)) => {
                let parsed = path::parse(p).map_err(|e| invalid("/resultPath", &e.message))?;
                if parsed.steps.is_empty() {
                    result
                } else if unknown(&raw) {
                    raw
                } else {
                    let mut raw = raw;
                    match set_at(&mut raw, &parsed.steps, result) {
                        Ok(()) => raw,
                        // Into what only the run can tell: the run decides.
                        Err(_) if self.known_only && known::holds_unknown(&raw) => known::unknown(),
                        Err(why) => return Err(invalid("/resultPath", &format!("`{p}`: {why}"))),
                    }
                }
            }
        };
        match output_path.as_deref() {
            None | Some("$") => Ok(combined),
            Some(p) => {
                let parsed = path::parse(p).map_err(|e| invalid("/outputPath", &e.message))?;
                // Known parts are cut out as they are; only a path through the unknown waits.
                if self.known_only && known::path_through_unknown(&parsed, &Scope::input(&combined))
                {
                    return Ok(known::unknown());
                }
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

    fn frame() -> Frame<'static> {
        Frame {
            workflow_id: "wf",
            definition: "def",
            task: "t",
            sequence: Some(3),
        }
    }

    fn http(extra: Value) -> Task {
        let mut t = json!({"type": "Http", "end": true, "httpRequest": {"url": "https://x.example", "method": "GET"}});
        for (k, v) in extra.as_object().unwrap() {
            t[k] = v.clone();
        }
        serde_json::from_value(t).unwrap()
    }

    #[test]
    fn results_are_selected_placed_and_cut_as_asl_does() {
        let data = TaskData::new(frame(), &Value::Null);
        let raw = json!({"order": 7, "quantity": 2.5});
        let result = json!({"statusCode": 201, "body": {"id": "u1", "quantity": 2.5}});
        let run = |extra: Value| data.output(&http(extra), raw.clone(), result.clone());
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

    #[test]
    fn before_the_run_what_only_the_run_can_tell_stays_unknown_and_the_rest_is_known() {
        let data = TaskData::new(frame(), &Value::Null).known_only();
        let raw = json!({"order": 7});
        let task = http(json!({
            "resultSelector": {"id": "${$.body.id}", "run": "${$$.Execution.Id}"},
            "resultPath": "$.charge",
            "inputParameters": {"order": "${$.order}", "n": "${swf:sequenceNumber}"}
        }));
        let out = data.output(&task, raw.clone(), known::unknown()).unwrap();
        assert_eq!(out["order"], 7, "data carried along stays known");
        assert!(
            known::is_unknown(&out["charge"]["id"]),
            "what the selector reads of the response is unknown"
        );
        assert_eq!(
            out["charge"]["run"], "wf",
            "what it reads elsewhere is known, in the selector's shape"
        );
        assert_eq!(out["charge"].as_object().map(|m| m.len()), Some(2));
        let input = data.input(task.common().input_parameters, &raw).unwrap();
        assert_eq!(input, json!({"order": 7, "n": 3}));
        let cut = http(json!({"resultPath": "$.charge", "outputPath": "$.charge.body"}));
        assert!(known::is_unknown(
            &data.output(&cut, raw.clone(), known::unknown()).unwrap()
        ));
        let kept = http(json!({
            "resultSelector": {"id": "${$.body.id}", "run": "${$$.Execution.Id}"},
            "resultPath": "$.charge",
            "outputPath": "$.charge"
        }));
        let out = data.output(&kept, raw.clone(), known::unknown()).unwrap();
        assert_eq!(
            out["run"], "wf",
            "a cut that holds a response field keeps what is known beside it"
        );
        assert!(known::is_unknown(&out["id"]));
        let context = http(json!({
            "resultSelector": {
                "run": "jsonata:$states.context.Execution.Id",
                "kind": "jsonata:$type($)"
            },
            "resultPath": "$.charge"
        }));
        let out = data
            .output(&context, raw.clone(), known::unknown())
            .unwrap();
        assert_eq!(
            out["charge"]["run"], "wf",
            "JSONata over the response as a whole that reads only the context is known"
        );
        assert!(known::is_unknown(&out["charge"]["kind"]));
        let missing = http(json!({"outputPath": "$.order"}));
        assert_eq!(
            data.output(&missing, known::unknown(), json!({"x": 1}))
                .unwrap_err()
                .code,
            ErrorCode::InputMissing,
            "a miss in a known result is the run's own error, found before it"
        );
    }
}
