//! Definitions validated and compiled once per service process: a run of a definition the
//! process has seen before (the usual case: one workflow, many executions) reuses its plan
//! instead of validating and compiling the same text again.
//!
//! Policy: only a definition that passed validation and compiled is kept, keyed by its exact
//! JSON text (equal text, equal definition: no digest to collide). The kept texts add up to
//! at most [`BUDGET`] bytes, and a text over a sixteenth of it is never kept; when a new one
//! would not fit, the whole set is dropped first (a service that sees more definitions than
//! that validates more often, nothing else changes). A branch reuses its run's plan when this
//! process compiled it, and compiles its own otherwise.

use std::collections::HashMap;
use std::sync::Mutex;

use usage_connector::runner::Plan;

/// How many bytes of definition text a process keeps compiled (the plans hold about as much
/// again).
pub(crate) const BUDGET: usize = 16 << 20;

/// Compiled plans by definition text, and the bytes of text kept.
#[derive(Default)]
pub(crate) struct Plans {
    known: Mutex<(HashMap<Vec<u8>, Plan>, usize)>,
}

impl Plans {
    /// The plan of a definition with this JSON text that passed validation here before.
    pub(crate) fn get(&self, text: &[u8]) -> Option<Plan> {
        let known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        known.0.get(text).cloned()
    }

    /// Keeps the plan of a definition that passed validation (its JSON text `text`).
    pub(crate) fn keep(&self, text: Vec<u8>, plan: &Plan) {
        if text.len() > BUDGET / 16 {
            return;
        }
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        let (plans, bytes) = &mut *known;
        if plans.contains_key(&text) {
            return;
        }
        if *bytes + text.len() > BUDGET {
            plans.clear();
            *bytes = 0;
        }
        *bytes += text.len();
        plans.insert(text, plan.clone());
    }
}
