//! What a task can read besides its input: the context object (`$$`, Amazon States Language)
//! and SimWorkflow's system keys (`$.swf:workflowId`, `$.swf:taskName`,
//! `${swf:sequenceNumber}`).
//!
//! Policy (inferred: SimWorkflow's pages on referencing workflow inputs could not be read; ASL
//! semantics, which SimWorkflow copies): `$$.Execution.Input` is the workflow's input,
//! `$$.Execution.Id` / `$$.Execution.Name` its id, `$$.StateMachine.Name` the definition's name,
//! `$$.Task.Name` (also `$$.State.Name`) the task's name and `$$.Task.RetryCount` (also
//! `$$.State.RetryCount`) is 0: retries re-send the very same prepared request. Times are left
//! out on purpose: a value that differs on a re-run would change the request's identity. The
//! system keys are read where the input has no such key; they are not added to the data.
//! `swf:sequenceNumber` is the execution's number, given once by the engine when it starts
//! (the local run journal, a Restate counter, an ingest record's line) and the same on every
//! replay and resume; a task run on its own has none (reading it is `INPUT_MISSING`), nor has
//! a Restate run whose definition cannot read it (it does not wait for the counter).

use std::cell::OnceCell;

use serde_json::{Value, json};

use crate::template::{Context, Scope};

/// Where a task runs, for the context object and the system keys.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// The execution's (workflow run's) id.
    pub workflow_id: &'a str,
    /// The definition's name (empty when unknown).
    pub definition: &'a str,
    /// The task's name.
    pub task: &'a str,
    /// The execution's sequence number (`swf:sequenceNumber`), when its engine gives one.
    pub sequence: Option<u64>,
}

/// The context object and system keys of a [`Frame`], each built on its first read (most
/// templates read neither) and then kept for the task.
#[derive(Debug)]
pub struct Frames<'a> {
    frame: Frame<'a>,
    context: OnceCell<Value>,
    system: OnceCell<Value>,
}

impl<'a> Frame<'a> {
    /// Its frames (nothing is built yet).
    pub fn build(self) -> Frames<'a> {
        Frames {
            frame: self,
            context: OnceCell::new(),
            system: OnceCell::new(),
        }
    }
}

impl Context for Frames<'_> {
    fn object(&self) -> &Value {
        self.context.get_or_init(|| {
            let f = &self.frame;
            let task = json!({"Name": f.task, "RetryCount": 0});
            json!({
                "Execution": {"Id": f.workflow_id, "Name": f.workflow_id},
                "StateMachine": {"Name": f.definition},
                "Task": task,
                "State": task,
            })
        })
    }

    fn system(&self) -> &Value {
        self.system.get_or_init(|| {
            let f = &self.frame;
            let mut keys = json!({"swf:workflowId": f.workflow_id, "swf:taskName": f.task});
            if let Some(n) = f.sequence {
                keys["swf:sequenceNumber"] = json!(n);
            }
            keys
        })
    }
}

impl Frames<'_> {
    /// The scope of a task reading `input`, with `execution_input` as `$$.Execution.Input`.
    pub fn scope<'s>(&'s self, input: &'s Value, execution_input: &'s Value) -> Scope<'s> {
        Scope {
            input,
            context: Some(self),
            execution_input,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::resolve_value_in;

    #[test]
    fn tasks_read_the_execution_and_themselves() {
        let frames = Frame {
            workflow_id: "wf-1",
            definition: "Billing",
            task: "Report",
            sequence: Some(42),
        }
        .build();
        let input = json!({"q": 1, "swf:taskName": "mine"});
        let execution_input = json!({"subscriptionId": "sub_1"});
        let scope = frames.scope(&input, &execution_input);
        let body = json!({
            "s": "${$$.Execution.Input.subscriptionId}", "id": "${$$.Execution.Id}",
            "task": "${$$.Task.Name}", "retry": "${$$.State.RetryCount}",
            "wf": "${$.swf:workflowId}", "own": "${$.swf:taskName}", "q": "${$.q}",
            "machine": "${$$.StateMachine.Name}", "n": "${swf:sequenceNumber}",
            "n2": "${$.swf:sequenceNumber}"
        });
        assert_eq!(
            resolve_value_in(&body, &scope).unwrap(),
            json!({"s": "sub_1", "id": "wf-1", "task": "Report", "retry": 0, "wf": "wf-1",
                   "own": "mine", "q": 1, "machine": "Billing", "n": 42, "n2": 42})
        );
    }
}
