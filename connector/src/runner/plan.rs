//! A definition compiled for running: its Decision conditions parsed once and every scope (the
//! workflow, each Parallel branch) addressable by a [`ScopeId`] that an engine can send to
//! another process.
//!
//! Policy: compiling fails before any task runs when a condition is outside the language or a
//! task name is used twice (names are unique across the whole definition, so a task name and
//! a branch index name any scope, and a task name names one logical call of an execution).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::condition::{self, Expr};
use crate::execute::{ErrorCode, TaskError};
use crate::simworkflow::{Task, WorkflowDefinition};

/// A scope of a definition: the workflow's own tasks, or one branch of a Parallel task.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "scope")]
pub enum ScopeId {
    /// The definition's `tasks`.
    Workflow,
    /// Branch `index` of the Parallel task named `parallel`.
    Branch {
        /// The Parallel task's name.
        parallel: String,
        /// The branch's index.
        index: usize,
    },
}

/// The tasks of one scope and where it starts.
#[derive(Debug)]
pub struct Scope {
    /// The first task.
    pub start: String,
    /// The tasks by name.
    pub tasks: BTreeMap<String, Task>,
}

/// A definition ready to run: its Decision conditions parsed once, however often it runs
/// or loops. Build one with [`Plan::compile`] and run it many times.
#[derive(Debug, Clone)]
pub struct Plan {
    definition: Arc<WorkflowDefinition>,
    /// Parsed conditions by Decision task name.
    conditions: Arc<HashMap<String, Vec<Expr>>>,
    /// Every scope.
    scopes: Arc<HashMap<ScopeId, Scope>>,
}

impl Plan {
    /// Parses every Decision condition of `definition`. `Err`: the task and its error — a
    /// condition outside the language (`E-CONDITION`), or a name used twice
    /// (`DUPLICATE_TASK`), which would make routing ambiguous. Validation reports both first.
    pub fn compile(definition: &WorkflowDefinition) -> Result<Self, (String, TaskError)> {
        let mut conditions = HashMap::new();
        let mut scopes = HashMap::new();
        scopes.insert(
            ScopeId::Workflow,
            Scope {
                start: definition.start_task.clone(),
                tasks: definition.tasks.clone(),
            },
        );
        let mut names = std::collections::HashSet::new();
        let mut failed = None;
        definition.walk(|t| {
            if !names.insert(t.name) {
                failed.get_or_insert((
                    t.name.to_owned(),
                    TaskError::new(
                        ErrorCode::DuplicateTask,
                        format!("task name `{}` is used twice ({})", t.name, t.pointer()),
                    ),
                ));
            }
            match t.task {
                Task::Parallel(p) => {
                    for (index, branch) in p.branches.iter().enumerate() {
                        let id = ScopeId::Branch {
                            parallel: t.name.to_owned(),
                            index,
                        };
                        let scope = Scope {
                            start: branch.start_task.clone(),
                            tasks: branch.tasks.clone(),
                        };
                        scopes.insert(id, scope);
                    }
                }
                Task::Decision(d) => {
                    let parsed: Result<Vec<Expr>, _> = d
                        .choices
                        .iter()
                        .map(|c| {
                            condition::parse(&c.condition).map_err(|e| {
                                format!(
                                    "{} (at character {}) in `{}`",
                                    e.message,
                                    e.offset + 1,
                                    c.condition
                                )
                            })
                        })
                        .collect();
                    match parsed {
                        Ok(exprs) => {
                            conditions.insert(t.name.to_owned(), exprs);
                        }
                        Err(message) => {
                            failed.get_or_insert((
                                t.name.to_owned(),
                                TaskError::new(ErrorCode::Condition, message),
                            ));
                        }
                    }
                }
                _ => {}
            }
        });
        match failed {
            Some(e) => Err(e),
            None => Ok(Plan {
                definition: Arc::new(definition.clone()),
                conditions: Arc::new(conditions),
                scopes: Arc::new(scopes),
            }),
        }
    }

    /// The definition.
    pub fn definition(&self) -> &WorkflowDefinition {
        &self.definition
    }

    /// The scope `id` names, if the definition has it.
    pub fn scope(&self, id: &ScopeId) -> Option<&Scope> {
        self.scopes.get(id)
    }

    /// The parsed conditions of the Decision task `name` (in `choices` order).
    pub fn conditions(&self, name: &str) -> &[Expr] {
        self.conditions.get(name).map_or(&[][..], Vec::as_slice)
    }
}
