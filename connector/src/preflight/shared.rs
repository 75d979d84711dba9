//! Two tasks of one run that the API would take as one. Policy: a run's requests that surely
//! all go out (no Decision on what only the run can tell before them) to one endpoint with one
//! credentials id must not share what their API deduplicates by (an `Idempotency-Key` the task
//! sets, a Solvimon `reference`) unless they are the same request: with another body, the
//! later is refused (an idempotency conflict) or, worse, answered as a duplicate of the
//! earlier and recorded nowhere. A loop's revisit of one task is that task's own request,
//! never compared with itself.

use crate::catalog::EndpointId;
use crate::execute::{ErrorCode, TaskError};
use crate::prepare::PreparedRequest;
use crate::vendor_rules;

/// One identity a prepared request carries: its task, where it goes (endpoint and credentials
/// id: an API scopes references by kind and keys by account), what it is, its value, and the
/// body.
struct Held {
    task: String,
    scope: (Option<EndpointId>, Option<String>),
    what: &'static str,
    value: String,
    body: Option<bytes::Bytes>,
}

/// The identities of the requests seen so far.
#[derive(Default)]
pub(super) struct Identities(Vec<Held>);

impl Identities {
    /// Remembers `request` of task `task`; the problem when an earlier task's request carries
    /// one of its identities with another body.
    pub(super) fn check(
        &mut self,
        task: &str,
        credentials: Option<&str>,
        request: &PreparedRequest,
    ) -> Option<TaskError> {
        let scope = (request.endpoint, credentials.map(str::to_owned));
        let rules = vendor_rules::rules_for(request.endpoint);
        let mut carried = Vec::new();
        if let Some(name) = rules.idempotency_header()
            && let Some(value) = request.headers.get(name).and_then(|v| v.to_str().ok())
        {
            carried.push(("Idempotency-Key", value.to_owned()));
        }
        if let Some(field) = request.body_json().and_then(|b| rules.dedupe_field(&b)) {
            carried.push(field);
        }
        let at = |what: &str| match what {
            "Idempotency-Key" => "/httpRequest/headers".to_owned(),
            field => format!("/httpRequest/body/{field}"),
        };
        let mut problem = None;
        for (what, value) in carried {
            if problem.is_none()
                && let Some(other) = self.0.iter().find(|h| {
                    h.task != task
                        && h.scope == scope
                        && h.what == what
                        && h.value == value
                        && h.body != request.body
                })
            {
                problem = Some(TaskError::new(
                    ErrorCode::InvalidRequest,
                    format!(
                        "it sends {what} `{value}`, as task `{}` does in this run, with another body: the API would refuse it as a conflict, or take it as a duplicate of `{}`'s and record nothing of it. Give each task its own {what} (e.g. with ${{swf:taskName}} in it)",
                        other.task, other.task
                    ),
                ).at(at(what)));
            }
            self.0.push(Held {
                task: task.to_owned(),
                scope: scope.clone(),
                what,
                value,
                body: request.body.clone(),
            });
        }
        problem
    }
}
