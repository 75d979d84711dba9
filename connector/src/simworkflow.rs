//! SimWorkflow's workflow-definition model (serde + schemars).
//!
//! Policy: the field names, task types and constraints are SimWorkflow's documented ones
//! (`research/simworkflow.md`); every task also accepts the common fields `description`,
//! `inputParameters`, `retry`, `nextTask`, `end` (SimWorkflow returns them null-filled).
//! Unknown keys are rejected so a typo such as `nextTaks` is caught. Routing rules (exactly one
//! of `nextTask`/`end`, targets exist, …) are checked by the validator, not the schema.
//! `retry.maxDelaySeconds`, `retry.jitter`, and the Http task's `onLimit` and `rounding` are
//! connector extensions.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::diagnostic::locate::child;

/// A workflow definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkflowDefinition {
    /// Workflow definition name.
    pub name: String,
    /// Human-readable description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Name of the first task; must be a key of `tasks`.
    pub start_task: String,
    /// Tasks by name (names are unique and at most 80 characters).
    #[schemars(extend("propertyNames" = { "minLength": 1, "maxLength": 80 }))]
    pub tasks: BTreeMap<String, Task>,
    /// Maximum run time in seconds; 0 = no timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub timeout_seconds: Option<u64>,
    /// Id of the workflow definition to run when this one fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_workflow: Option<String>,
    /// The JSON Schema this file follows, for editors (ignored when run).
    #[serde(default, rename = "$schema", skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// Connector extension: a JSON Schema of the workflow input. Validation checks that every
    /// placeholder reading the workflow input can name something under it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_schema: Option<Value>,
}

/// A task, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(tag = "type")]
pub enum Task {
    /// Waits until completed by a user or a remote worker (locally: a registered handler).
    Simple(SimpleTask),
    /// Calls an HTTP API.
    Http(HttpTask),
    /// Runs branches concurrently, then continues with `nextTask`.
    Parallel(ParallelTask),
    /// Picks the next task by the first matching condition.
    Decision(DecisionTask),
    /// Ends the workflow (or a Parallel branch) with a status.
    Terminate(TerminateTask),
}

// Deserialized through a `Value`, not serde's internally-tagged buffering, which cannot carry
// serde_json's exact numbers (`arbitrary_precision`) into the task types.
impl<'de> Deserialize<'de> for Task {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut value = Value::deserialize(d)?;
        let kind = match value.as_object_mut() {
            Some(obj) => match obj.remove("type") {
                Some(Value::String(kind)) => kind,
                Some(other) => {
                    return Err(D::Error::custom(format!(
                        "invalid type: {other}, expected a task type name"
                    )));
                }
                None => return Err(D::Error::missing_field("type")),
            },
            None => return Err(D::Error::custom("a task is a JSON object")),
        };
        let task = match kind.as_str() {
            "Simple" => serde_json::from_value(value).map(Task::Simple),
            "Http" => serde_json::from_value(value).map(Task::Http),
            "Parallel" => serde_json::from_value(value).map(Task::Parallel),
            "Decision" => serde_json::from_value(value).map(Task::Decision),
            "Terminate" => serde_json::from_value(value).map(Task::Terminate),
            other => {
                return Err(D::Error::unknown_variant(
                    other,
                    &["Simple", "Http", "Parallel", "Decision", "Terminate"],
                ));
            }
        };
        task.map_err(D::Error::custom)
    }
}

/// A task found by [`WorkflowDefinition::walk`]: where it is and what it is.
#[derive(Debug, Clone, Copy)]
pub struct Located<'a, 's> {
    /// The task's name.
    pub name: &'a str,
    /// The task.
    pub task: &'a Task,
    /// The Parallel branches it is nested in, outermost first: (Parallel task name, branch
    /// index).
    pub scope: &'s [(&'a str, usize)],
}

impl Located<'_, '_> {
    /// The task's RFC 6901 pointer in the definition (`/tasks/A/branches/0/tasks/B`).
    pub fn pointer(&self) -> String {
        let mut out = String::new();
        for (parallel, branch) in self.scope {
            out = child(&format!("{out}/tasks"), parallel);
            out.push_str(&format!("/branches/{branch}"));
        }
        child(&format!("{out}/tasks"), self.name)
    }
}

impl WorkflowDefinition {
    /// Every task, Parallel branches included (depth-first, names in order): the one walker
    /// every consumer of a typed definition uses to find its tasks.
    pub fn walk<'a>(&'a self, mut visit: impl FnMut(Located<'a, '_>)) {
        fn go<'a>(
            tasks: &'a BTreeMap<String, Task>,
            scope: &mut Vec<(&'a str, usize)>,
            visit: &mut dyn FnMut(Located<'a, '_>),
        ) {
            for (name, task) in tasks {
                visit(Located { name, task, scope });
                if let Task::Parallel(p) = task {
                    for (i, branch) in p.branches.iter().enumerate() {
                        scope.push((name, i));
                        go(&branch.tasks, scope, visit);
                        scope.pop();
                    }
                }
            }
        }
        go(&self.tasks, &mut Vec::new(), &mut visit);
    }

    /// Every Http task with its name, Parallel branches included.
    pub fn http_tasks(&self) -> Vec<(&str, &HttpTask)> {
        let mut out = Vec::new();
        self.walk(|t| {
            if let Task::Http(h) = t.task {
                out.push((t.name, h));
            }
        });
        out
    }

    /// The names of the tasks whose input is the workflow input: the start task and, when it
    /// is a Parallel, its branches' start tasks (recursively).
    pub fn entry_tasks(&self) -> Vec<&str> {
        fn go<'a>(tasks: &'a BTreeMap<String, Task>, start: &'a str, out: &mut Vec<&'a str>) {
            let Some(task) = tasks.get(start) else { return };
            out.push(start);
            if let Task::Parallel(p) = task {
                for b in &p.branches {
                    go(&b.tasks, &b.start_task, out);
                }
            }
        }
        let mut out = Vec::new();
        go(&self.tasks, &self.start_task, &mut out);
        out
    }
}

/// The fields every task type shares, read from any task.
#[derive(Debug, Clone, Copy)]
pub struct Common<'a> {
    /// `inputParameters`.
    pub input_parameters: Option<&'a Map<String, Value>>,
    /// `nextTask`.
    pub next_task: Option<&'a str>,
    /// `end: true`.
    pub end: bool,
}

impl Task {
    /// The fields every task type shares.
    pub fn common(&self) -> Common<'_> {
        macro_rules! common {
            ($t:expr) => {
                Common {
                    input_parameters: $t.input_parameters.as_ref(),
                    next_task: $t.next_task.as_deref(),
                    end: $t.end == Some(true),
                }
            };
        }
        match self {
            Task::Simple(t) => common!(t),
            Task::Http(t) => common!(t),
            Task::Parallel(t) => common!(t),
            Task::Decision(t) => common!(t),
            Task::Terminate(t) => common!(t),
        }
    }

    /// The type name as written in definitions.
    pub fn type_name(&self) -> &'static str {
        match self {
            Task::Simple(_) => "Simple",
            Task::Http(_) => "Http",
            Task::Parallel(_) => "Parallel",
            Task::Decision(_) => "Decision",
            Task::Terminate(_) => "Terminate",
        }
    }
}

/// Retry settings (SimWorkflow's, plus the connector's `maxDelaySeconds` and `jitter`).
///
/// Delay before retry n (1-based) = `intervalSeconds × backoffRate^(n−1)`, capped by
/// `maxDelaySeconds`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Retry {
    /// Seconds before the first retry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub interval_seconds: Option<u32>,
    /// Maximum number of retries; 0 = never retry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub max_attempts: Option<u32>,
    /// Multiplier of the delay on each retry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub backoff_rate: Option<f64>,
    /// Connector extension: upper bound of any single delay, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub max_delay_seconds: Option<u32>,
    /// Connector extension: `full` (random in [0, delay]) or `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<Jitter>,
}

/// Jitter applied to retry delays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Jitter {
    /// Uniformly random in `[0, delay]`.
    Full,
    /// Exactly the computed delay.
    None,
}

/// HTTP methods an `Http` task may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
#[allow(missing_docs)]
pub enum HttpMethod {
    Get,
    Head,
    Post,
    Put,
    Patch,
    Delete,
    Options,
}

impl HttpMethod {
    /// The method as sent.
    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Head => "HEAD",
            HttpMethod::Post => "POST",
            HttpMethod::Put => "PUT",
            HttpMethod::Patch => "PATCH",
            HttpMethod::Delete => "DELETE",
            HttpMethod::Options => "OPTIONS",
        }
    }
}

/// The request an `Http` task sends. `url`, header values and body leaves may hold `${…}`
/// placeholders.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpRequest {
    /// Target URL.
    #[schemars(length(min = 1))]
    pub url: String,
    /// HTTP method.
    pub method: HttpMethod,
    /// Request headers (values are strings; placeholders produce strings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<BTreeMap<String, String>>,
    /// Request body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
}

/// Declares a task struct with the fields every task type shares plus its own; `results`
/// adds the result handling of tasks that produce one (ASL `ResultSelector`, `ResultPath`,
/// `OutputPath`).
macro_rules! task_struct {
    (results $(#[$meta:meta])* $name:ident { $($(#[$fmeta:meta])* pub $field:ident : $ty:ty,)* }) => {
        task_struct!($(#[$meta])* $name {
            /// Connector extension (ASL `ResultSelector`): a map, in the syntax of
            /// `inputParameters`, resolved against the task's result; it becomes the result.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub result_selector: Option<Map<String, Value>>,
            /// Connector extension (ASL `ResultPath`): where the result goes in the task's
            /// input. `$` (the default) makes the result the output; `$.a.b` puts it there and
            /// the rest of the input carries on; `null` discards it (the input carries on).
            #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
            #[schemars(with = "Option<String>")]
            pub result_path: Option<Option<String>>,
            /// Connector extension (ASL `OutputPath`): the part of the combined state passed on
            /// (default `$`).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub output_path: Option<String>,
            $($(#[$fmeta])* pub $field: $ty,)*
        });
    };
    ($(#[$meta:meta])* $name:ident { $($(#[$fmeta:meta])* pub $field:ident : $ty:ty,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        pub struct $name {
            /// Human-readable description.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub description: Option<String>,
            /// Mapping of values from the workflow input or earlier task outputs.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub input_parameters: Option<Map<String, Value>>,
            /// Retry settings.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub retry: Option<Retry>,
            /// Name of the next task.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub next_task: Option<String>,
            /// `true` ends the workflow (or the branch) after this task.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub end: Option<bool>,
            $($(#[$fmeta])* pub $field: $ty,)*
        }
    };
}

/// A field that may be given as `null` (`Some(None)`) as well as left out (`None`).
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

task_struct!(results
    /// A `Simple` task.
    SimpleTask {}
);

task_struct!(results
    /// An `Http` task.
    HttpTask {
        /// Id of saved credentials to authenticate the request.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub credentials: Option<String>,
        /// The request.
        pub http_request: HttpRequest,
        /// Connect timeout in seconds (default 5).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(range(min = 1), extend("default" = 5))]
        pub connection_timeout_seconds: Option<u32>,
        /// Read timeout in seconds (default 10).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(range(min = 1), extend("default" = 10))]
        pub read_timeout_seconds: Option<u32>,
        /// Connector extension (Rebilly usages): over the usage limit, `reject` (409, the task
        /// fails with USAGE_LIMIT_EXCEEDED) or `acceptPartial` (record what is left; sets
        /// `acceptPartialQuantity`). Absent: the body's `acceptPartialQuantity` decides.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub on_limit: Option<OnLimit>,
        /// Connector extension (Rebilly usages): a quantity with more than 3 decimals is
        /// rejected (`reject`, the default) or rounded half-to-even (`halfEven`), the rounded-away
        /// part reported in the output.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub rounding: Option<Rounding>,
    }
);

/// What a usage report does over the subscription's limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum OnLimit {
    /// Fail with USAGE_LIMIT_EXCEEDED.
    Reject,
    /// Record the remaining allowance and report the remainder.
    AcceptPartial,
}

/// What to do with a quantity of more than 3 decimals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Rounding {
    /// Fail validation (nothing is sent).
    Reject,
    /// Round half to even to 3 decimals.
    HalfEven,
}

/// One branch of a `Parallel` task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Branch {
    /// First task of the branch.
    pub start_task: String,
    /// Tasks of the branch (names unique across the whole definition).
    #[schemars(extend("propertyNames" = { "minLength": 1, "maxLength": 80 }))]
    pub tasks: BTreeMap<String, Task>,
}

task_struct!(results
    /// A `Parallel` task.
    ParallelTask {
        /// Branches run concurrently.
        #[schemars(length(min = 1))]
        pub branches: Vec<Branch>,
    }
);

/// A condition and the task it leads to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Choice {
    /// A JavaScript-subset boolean expression over `$` (the previous task's output).
    pub condition: String,
    /// Task to run when the condition holds.
    pub next_task: String,
}

task_struct!(
    /// A `Decision` task.
    DecisionTask {
        /// Conditions in order; the first true one wins.
        pub choices: Vec<Choice>,
        /// Task to run when no condition holds.
        pub default_task: String,
    }
);

/// Terminal status of a `Terminate` task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum TerminationStatus {
    /// Ends the workflow (or branch) successfully.
    Completed,
    /// Ends the workflow as failed.
    Failed,
}

task_struct!(
    /// A `Terminate` task.
    TerminateTask {
        /// `Completed` or `Failed`.
        pub termination_status: TerminationStatus,
        /// The workflow output (same syntax as `inputParameters`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub workflow_output: Option<Map<String, Value>>,
    }
);
