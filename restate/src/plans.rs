//! Definitions validated and compiled once per service process: a run of a definition the
//! process has seen before (the usual case: one workflow, many executions) reuses its plan
//! instead of validating and compiling the same text again.
//!
//! Policy: only a definition that passed validation and compiled is kept, keyed by its exact
//! JSON text (equal text, equal definition: no digest to collide). At most [`CAPACITY`]
//! definitions are kept; when that is reached the whole set is dropped (a service that sees
//! more definitions than that validates more often, nothing else changes). A branch reuses
//! its run's plan when this process compiled it, and compiles its own otherwise.

use std::collections::HashMap;
use std::sync::Mutex;

use usage_connector::runner::Plan;

/// How many definitions a process keeps compiled.
pub(crate) const CAPACITY: usize = 256;

/// Compiled plans by definition text.
#[derive(Default)]
pub(crate) struct Plans {
    known: Mutex<HashMap<Vec<u8>, Plan>>,
}

impl Plans {
    /// The plan of a definition with this JSON text that passed validation here before.
    pub(crate) fn get(&self, text: &[u8]) -> Option<Plan> {
        self.known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(text)
            .cloned()
    }

    /// Keeps the plan of a definition that passed validation (its JSON text `text`).
    pub(crate) fn keep(&self, text: Vec<u8>, plan: &Plan) {
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        if known.len() >= CAPACITY {
            known.clear();
        }
        known.insert(text, plan.clone());
    }
}
