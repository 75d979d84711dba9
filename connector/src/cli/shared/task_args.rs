//! The Http task a command sends: one built from an endpoint and arguments (`call ENDPOINT`,
//! `ingest --endpoint`), or one found in a definition (`call --task`, `ingest --task`).

use clap::ValueEnum;
use usage_connector::simworkflow::{
    HttpMethod, HttpRequest, HttpTask, OnLimit, Rounding, Task, WorkflowDefinition,
};

/// `--on-limit`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LimitArg {
    /// Fail with USAGE_LIMIT_EXCEEDED.
    Reject,
    /// Record what is left under the limit.
    AcceptPartial,
}

/// `--rounding`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoundingArg {
    /// Reject more than 3 decimals.
    Reject,
    /// Round half to even.
    HalfEven,
}

/// The Http task that sends `body` to `url` with credentials `credential` (`call ENDPOINT`, and
/// `ingest --endpoint` with body `${$}`: the record).
pub fn endpoint_task(
    url: String,
    credential: String,
    body: serde_json::Value,
    on_limit: Option<LimitArg>,
    rounding: Option<RoundingArg>,
) -> HttpTask {
    HttpTask {
        description: None,
        input_parameters: None,
        result_selector: None,
        result_path: None,
        output_path: None,
        retry: None,
        next_task: None,
        end: Some(true),
        credentials: Some(credential),
        http_request: HttpRequest {
            url,
            method: HttpMethod::Post,
            headers: None,
            body: Some(body),
        },
        connection_timeout_seconds: None,
        read_timeout_seconds: None,
        on_limit: on_limit.map(|l| match l {
            LimitArg::Reject => OnLimit::Reject,
            LimitArg::AcceptPartial => OnLimit::AcceptPartial,
        }),
        rounding: rounding.map(|r| match r {
            RoundingArg::Reject => Rounding::Reject,
            RoundingArg::HalfEven => Rounding::HalfEven,
        }),
    }
}

/// The Http task named `name` and whether the workflow input reaches it.
pub fn find<'d>(
    definition: &'d WorkflowDefinition,
    name: &str,
) -> anyhow::Result<(&'d HttpTask, bool)> {
    let mut found = None;
    let mut names = Vec::new();
    definition.walk(|t| {
        names.push(t.name.to_owned());
        if t.name == name {
            found = Some(t.task);
        }
    });
    match found {
        Some(Task::Http(h)) => Ok((h, definition.entry_tasks().contains(&name))),
        Some(other) => anyhow::bail!(
            "task `{name}` is a {} task; call --task runs Http tasks",
            other.type_name()
        ),
        None => anyhow::bail!("no task `{name}`; the definition has: {}", names.join(", ")),
    }
}
