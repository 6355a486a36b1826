//! What a commit reads of a plan: its id, its state delta (with the revision it was made
//! from), and each operation's id, idempotency key and effect.
//!
//! A whole [`SyncPlan`] is read as one (its other fields are ignored), so a host may send the
//! plan it has. A host committing a large plan sends just this: a grade export's operations
//! are mostly request bodies and explanations, which a commit never reads, and 330,000 of
//! them sent whole were hundreds of megabytes of JSON for the module to parse.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::delta::StateDelta;
use crate::plan::{PlannedOp, StateEffect, SyncPlan};

/// A plan as committing reads it.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct PlanToCommit<'a> {
    /// The plan's id (a failure records the plan that last tried it).
    pub id: Cow<'a, str>,
    /// The plan's state delta: what its reads found, laid over the state before any outcome.
    pub state_delta: Cow<'a, StateDelta>,
    /// Its operations (required: a plan without them is written with an empty list).
    pub ops: Vec<OpToCommit<'a>>,
}

/// An operation as committing reads it.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct OpToCommit<'a> {
    /// The id outcomes name it by.
    pub op_id: Cow<'a, str>,
    /// Its idempotency key: failures are kept by it.
    pub key: Cow<'a, str>,
    /// What its success changes in the state.
    pub effect: Cow<'a, StateEffect>,
}

impl<'a> OpToCommit<'a> {
    /// `op`'s commit fields, borrowed.
    pub fn of(op: &'a PlannedOp) -> Self {
        OpToCommit {
            op_id: Cow::Borrowed(&op.op_id),
            key: Cow::Borrowed(&op.key),
            effect: Cow::Borrowed(&op.effect),
        }
    }
}

impl<'a> PlanToCommit<'a> {
    /// `plan` as committing reads it, borrowed (nothing is copied).
    pub fn of(plan: &'a SyncPlan) -> Self {
        PlanToCommit {
            id: Cow::Borrowed(&plan.id),
            state_delta: Cow::Borrowed(&plan.state_delta),
            ops: plan.ops.iter().map(OpToCommit::of).collect(),
        }
    }

    /// Whether the plan was made from the state at `revision` (see
    /// [`SyncPlan::check_base_revision`]).
    pub fn check_base_revision(&self, revision: u64) -> Result<(), crate::EngineError> {
        self.state_delta.check_base_revision(revision)
    }
}
