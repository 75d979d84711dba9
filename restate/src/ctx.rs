//! The Restate context an engine runs in (a workflow run's, or a branch invocation's), behind
//! one small surface: journaled steps, durable sleeps, the invocation's seed, branch calls.

use std::time::Duration;

use restate_sdk::context::{
    CallFuture, Context, ContextClient, ContextSideEffects, ContextTimers, InvocationHandle,
    RunClosure, RunFuture, WorkflowContext,
};
use restate_sdk::errors::{HandlerResult, TerminalError};
use restate_sdk::serde::{Deserialize as RestateDe, Json, Serialize as RestateSer};

use crate::engine::BranchEnd;
use crate::service::{BranchRequest, UsageBranchClient};

/// The context of the invocation an engine runs in.
pub(crate) enum Ctx<'a, 'ctx> {
    /// A `UsageWorkflow` run.
    Workflow(&'a WorkflowContext<'ctx>),
    /// A `UsageBranch` invocation.
    Service(&'a Context<'ctx>),
}

impl<'ctx> Ctx<'_, 'ctx> {
    /// `ctx.run(closure)` named `name`.
    pub(crate) async fn run<R, F, T>(&self, name: String, closure: R) -> Result<T, TerminalError>
    where
        R: RunClosure<Fut = F, Output = T> + Send + 'ctx,
        F: std::future::Future<Output = HandlerResult<T>> + Send + 'ctx,
        T: RestateSer + RestateDe + 'static,
    {
        match self {
            Ctx::Workflow(c) => c.run(closure).name(name).await,
            Ctx::Service(c) => c.run(closure).name(name).await,
        }
    }

    /// A durable timer of `delay` (an error: the invocation was cancelled).
    pub(crate) async fn sleep(&self, delay: Duration) -> Result<(), TerminalError> {
        match self {
            Ctx::Workflow(c) => c.sleep(delay).await,
            Ctx::Service(c) => c.sleep(delay).await,
        }
    }

    /// The invocation's random seed: the same on every replay.
    pub(crate) fn random_seed(&self) -> u64 {
        match self {
            Ctx::Workflow(c) => ContextSideEffects::random_seed(*c),
            Ctx::Service(c) => ContextSideEffects::random_seed(*c),
        }
    }

    /// Starts a branch invocation: its pending result, and the handle that cancels it.
    pub(crate) async fn branch(
        &self,
        request: BranchRequest,
    ) -> Result<(BranchCall<'ctx>, InvocationHandle), TerminalError> {
        let call = match self {
            Ctx::Workflow(c) => c
                .service_client::<UsageBranchClient>()
                .run(Json(request))
                .call(),
            Ctx::Service(c) => c
                .service_client::<UsageBranchClient>()
                .run(Json(request))
                .call(),
        };
        let handle = call.invocation_handle().await?;
        Ok((Box::pin(call), handle))
    }
}

/// A branch invocation's pending result.
pub(crate) type BranchCall<'ctx> = std::pin::Pin<
    Box<
        dyn restate_sdk::context::DurableFuture<Output = Result<Json<BranchEnd>, TerminalError>>
            + Send
            + 'ctx,
    >,
>;
