//! The lines a run prints on stderr: one as each task starts and ends, one per retry.

use usage_connector::runner::TaskEvent;

/// One line per retry: what failed, the wait and the rule that set it.
#[allow(clippy::print_stderr)]
pub fn retry_line(n: &usage_connector::execute::RetryNotice) {
    let what = match (&n.status, &n.error) {
        (Some(status), _) => format!("HTTP {status}"),
        (None, Some(error)) => error.clone(),
        (None, None) => "no answer".to_owned(),
    };
    eprintln!(
        "[    Retry] {} attempt {}: {what}; next in {:.1} s ({})",
        n.task,
        n.attempt,
        n.delay.as_secs_f64(),
        n.rule
    );
}

/// One progress line as a task starts and one as it ends.
#[allow(clippy::print_stderr)]
pub fn task_line(e: &TaskEvent) {
    if e.status == "Started" {
        eprintln!("[{:>9}] {} ({})", e.status, e.task, e.kind);
        return;
    }
    let attempts = if e.kind == "Http" && e.status != "Reused" {
        format!(", {} attempt(s)", e.attempts)
    } else {
        String::new()
    };
    let detail = e
        .detail
        .as_ref()
        .map(|d| format!(", {d}"))
        .unwrap_or_default();
    eprintln!(
        "[{:>9}] {} ({}) {} ms{attempts}{detail}",
        e.status, e.task, e.kind, e.duration_ms
    );
}
