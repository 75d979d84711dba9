//! `IngestShard`: one shard of a bulk ingest (`usage-connector ingest --engine restate`), a
//! durable workflow per shard id.
//!
//! Policy: first one journaled step decides, for every record, whether it may be sent: its
//! stamped time must read, its request must prepare here, and to the URL and identity the
//! submitting side prepared (else the record is `invalid`: a service configured unlike the
//! submitter never sends it elsewhere or under another identity). The records that may be sent
//! then go one after another through the executor's send loop on the [`Durable`] steps, each
//! under its own execution id (`ingest-{line}-{digest}`), so its identities are the ones a
//! local ingest would use. Every exchange is journaled: after a crash the shard replays what
//! it recorded and sends only what it never sent (a record that may have been sent is looked
//! up first). A replay whose configuration no longer prepares a record the first step allowed
//! stops the shard (a terminal error) rather than take one record's journal for another's.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use restate_sdk::prelude::*;
use serde_json::Value;
use usage_connector::execute::{ErrorCode, Executor, PriorRun, TaskError};
use usage_connector::ingest::record::{Ready, prepare_value};
use usage_connector::ingest::shard::{ShardRecord, ShardReply, ShardRequest};
use usage_connector::ingest::{RecordOutcome, RecordReport, Template, deliver};

use crate::engine::{Ctx, Durable};
use crate::service::Connector;

/// The shard workflow: one instance per shard id.
pub struct IngestShard(pub(crate) Arc<Connector>);

#[restate_sdk::workflow]
impl IngestShard {
    /// Sends the shard's records, once per shard id; one report per record.
    #[handler]
    async fn run(
        &self,
        ctx: WorkflowContext<'_>,
        request: Json<ShardRequest>,
    ) -> Result<Json<ShardReply>, HandlerError> {
        let ShardRequest { template, records } = request.into_inner();
        let connector = self.0.clone();
        let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let checked = {
            let (template, records, flag) = (template.clone(), records.clone(), ran.clone());
            ctx.run(|| async move {
                flag.store(true, std::sync::atomic::Ordering::SeqCst);
                let verdicts: Vec<Option<RecordReport>> = records
                    .iter()
                    .map(|r| check(&connector.executor, &template, r).err().map(|e| *e))
                    .collect();
                Ok(Json(verdicts))
            })
            .name("check records")
            .await?
            .into_inner()
        };
        let none = Value::Null;
        let engine = Durable::new(Ctx::Workflow(&ctx), &self.0, &none, None);
        engine.note_ran(ran.load(std::sync::atomic::Ordering::SeqCst));
        let mut reports = Vec::with_capacity(records.len());
        for (r, verdict) in records.iter().zip(checked) {
            if let Some(refused) = verdict {
                reports.push(refused);
                continue;
            }
            let ready = check(&self.0.executor, &template, r).map_err(|e| {
                TerminalError::new(format!(
                    "line {}: the service no longer prepares the record it accepted when the shard began ({}); the shard stops",
                    r.line,
                    e.error.as_ref().map_or_else(String::new, ToString::to_string)
                ))
            })?;
            reports.push(deliver(&self.0.executor, &ready, &engine).await);
        }
        Ok(Json(ShardReply { reports }))
    }
}

/// The record prepared here, if it prepares to what the submitting side prepared.
fn check(
    executor: &Executor,
    template: &Template,
    r: &ShardRecord,
) -> Result<Ready, Box<RecordReport>> {
    let invalid = |message: String| {
        let error = TaskError::new(ErrorCode::InvalidRequest, message);
        Box::new(RecordReport::bare(
            r.line,
            RecordOutcome::Invalid,
            Some(error),
        ))
    };
    let at = DateTime::parse_from_rfc3339(&r.at)
        .map_err(|e| invalid(format!("its time `{}` does not read: {e}", r.at)))?
        .with_timezone(&Utc);
    let prior = if r.prior {
        PriorRun::Started
    } else {
        PriorRun::None
    };
    let ready = prepare_value(executor, template, r.line, &r.digest, &r.value, at, prior)?;
    if ready.prepared.url.as_str() != r.url || ready.key() != r.key {
        return Err(invalid(format!(
            "the service prepares another request than the submitter ({} {:?}, not {} {:?}): give both the same --server routes and catalog",
            ready.prepared.url,
            ready.key(),
            r.url,
            r.key
        )));
    }
    Ok(ready)
}
