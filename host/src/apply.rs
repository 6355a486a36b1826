//! Applying a plan's operations in waves. The plan's order already puts courses before their
//! members and lineItems before their results; a wave is a run of operations of one kind, sent
//! concurrently (the HTTP layer's throttle caps how many and how fast), and the next wave starts
//! only when every call of this one has answered. An operation whose dependency did not succeed
//! is not attempted. Where calls go and where the journal is kept is the [`ApplyTarget`]'s
//! business, so the scheduling is tested on a paused clock with calls made in memory.

use std::collections::HashMap;
use std::future::Future;

use classbridge_engine::plan::{OpOutcome, OutcomeResult, PlannedOp};
use tokio::task::JoinSet;

use crate::runner::RunError;

/// Where an apply's calls go, and where their journal is written.
pub(crate) trait ApplyTarget {
    /// One remote call, ready to run on its own task.
    type Call: Future<Output = OutcomeResult> + Send + 'static;

    /// Records the operation's intent, then gives its call, or why it cannot be made
    /// (a local failure, recorded like a failed call).
    fn start(&mut self, op: &PlannedOp) -> Result<Result<Self::Call, String>, RunError>;

    /// Records an outcome of an operation that was started.
    fn finished(&mut self, outcome: &OpOutcome) -> Result<(), RunError>;

    /// An operation is settled (attempted or not), for progress output.
    fn settled(&mut self) {}
}

/// Applies `ops` in waves; returns every operation's outcome by op id. Operations left out
/// because a dependency failed are `notAttempted` and never started, so they have no journal
/// entry: the next plan retries them.
pub(crate) async fn apply_in_waves<T: ApplyTarget>(
    ops: &[PlannedOp],
    target: &mut T,
) -> Result<HashMap<String, OpOutcome>, RunError> {
    let mut outcomes: HashMap<String, OpOutcome> = HashMap::with_capacity(ops.len());
    for wave in waves(ops) {
        let mut calls = JoinSet::new();
        for op in wave {
            let blocked = op.depends_on.iter().any(|d| {
                outcomes
                    .get(d.as_str())
                    .is_some_and(|o| !matches!(o.result, OutcomeResult::Succeeded { .. }))
            });
            if blocked {
                outcomes.insert(
                    op.op_id.clone(),
                    outcome(&op.op_id, OutcomeResult::NotAttempted),
                );
                target.settled();
                continue;
            }
            match target.start(op)? {
                Ok(call) => {
                    let op_id = op.op_id.clone();
                    calls.spawn(async move { outcome(&op_id, call.await) });
                }
                Err(error) => {
                    let o = outcome(&op.op_id, OutcomeResult::Failed { error });
                    target.finished(&o)?;
                    outcomes.insert(op.op_id.clone(), o);
                    target.settled();
                }
            }
        }
        while let Some(joined) = calls.join_next().await {
            let o = joined.map_err(|source| RunError::Task {
                what: "an apply task",
                source,
            })?;
            target.finished(&o)?;
            outcomes.insert(o.op_id.clone(), o);
            target.settled();
        }
    }
    Ok(outcomes)
}

/// The plan cut into runs of operations of the same entity and change.
fn waves(ops: &[PlannedOp]) -> impl Iterator<Item = &[PlannedOp]> {
    ops.chunk_by(|a, b| (a.entity, a.change) == (b.entity, b.change))
}

fn outcome(op_id: &str, result: OutcomeResult) -> OpOutcome {
    OpOutcome {
        op_id: op_id.to_string(),
        result,
    }
}

#[cfg(test)]
mod virtual_time;
