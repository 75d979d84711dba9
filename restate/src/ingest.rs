//! `IngestShard`: one shard of a bulk ingest (`usage-connector ingest --engine restate`), a
//! durable workflow per shard id.
//!
//! Policy: the shard's records are sent one after another through the executor's send loop on
//! the [`Durable`] steps, each record under its own execution id (`ingest-{line}-{digest}`,
//! stamped with the time the submitting side journaled), so its identities are the ones a local
//! ingest would use. Every exchange is journaled: after a crash the shard replays what it
//! recorded and sends only what it never sent (a record that may have been sent is looked up
//! first). Records marked `skip` were reported by the submitting side and are not sent.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use restate_sdk::prelude::*;
use serde_json::Value;
use usage_connector::execute::PriorRun;
use usage_connector::ingest::deliver;
use usage_connector::ingest::record::prepare_value;
use usage_connector::ingest::shard::{ShardReply, ShardRequest};

use crate::engine::{Ctx, Durable};
use crate::service::Connector;

/// The shard workflow: one instance per shard id.
pub struct IngestShard(pub(crate) Arc<Connector>);

#[restate_sdk::workflow]
impl IngestShard {
    /// Sends the shard's records, once per shard id; one report per record sent.
    #[handler]
    async fn run(
        &self,
        ctx: WorkflowContext<'_>,
        request: Json<ShardRequest>,
    ) -> Result<Json<ShardReply>, HandlerError> {
        let ShardRequest { template, records } = request.into_inner();
        let none = Value::Null;
        let engine = Durable::new(Ctx::Workflow(&ctx), &self.0, &none, None);
        let executor = &self.0.executor;
        let mut reports = Vec::with_capacity(records.len());
        for r in records.iter().filter(|r| !r.skip) {
            let at = DateTime::parse_from_rfc3339(&r.at)
                .map_err(|e| TerminalError::new(format!("line {}: time `{}`: {e}", r.line, r.at)))?
                .with_timezone(&Utc);
            let prior = if r.prior {
                PriorRun::Started
            } else {
                PriorRun::None
            };
            let report =
                match prepare_value(executor, &template, r.line, &r.digest, &r.value, at, prior) {
                    Ok(ready) => deliver(executor, &ready, &engine).await,
                    Err(report) => *report,
                };
            reports.push(report);
        }
        Ok(Json(ShardReply { reports }))
    }
}
