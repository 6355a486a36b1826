//! classbridge-engine: the pure, deterministic core of classbridge.
//!
//! Plain data in, plain data out: [`plan`] turns a [`SyncInput`] (config, raw SIS data,
//! Classroom listings, previous state, the time) into a [`SyncPlan`]; [`approve`] applies an
//! admin's decisions; [`commit`] lays the plan's state delta and the host's operation outcomes
//! over the state it was made from.
//! No I/O, no clock, no randomness: the same input gives the same plan, byte for byte, natively,
//! in wasmtime (see [`abi`]) and in the browser (feature `web`).

// The public surface is the data vocabulary (config, input, plan, state, model), the ABI,
// and the functions below. How the pipeline works inside (ingest, diff, map, hash) is
// private, so it can change without breaking embedders; the bench and the engine's own
// tests reach it through `internals` (feature `internals`), as quinn keeps its fuzzing module.
#![warn(missing_docs)]

pub mod abi;
mod approve;
mod commit;
pub mod commit_rows;
pub mod config;
pub mod delta;
mod error;
pub mod explanation;
mod hash;
mod ingest;
pub mod input;
mod json_text;
pub mod model;
pub mod needs;
mod pipeline;
pub mod plan;
pub mod plan_to_commit;
pub mod rows;
pub mod session;
pub mod state;
pub mod undo;
#[cfg(feature = "web")]
pub mod web;

pub use commit_rows::{commit_from_rows, commit_needs};
pub use config::{ConfigError, SyncConfig};
pub use error::EngineError;
pub use input::SyncInput;
pub use json_text::JsonText;
pub use needs::{
    EnrollmentNeeds, NeedsFacts, config_digest, enrollment_needs, people_at_the_class_limit,
};
pub use pipeline::map_grades::{line_item_id, merged_line_item_id, result_id};
pub use pipeline::map_roster::{COURSE_ALIAS_PREFIX, course_alias};
pub use plan::{Decisions, OpOutcome, SyncPlan};
pub use rows::StateChanges;
pub use state::SyncState;

/// The pipeline's stages, for the benchmarks and the engine's own tests. Not a stable API.
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod internals {
    pub use crate::ingest::{Ingested, ingest, read_classroom};
    pub use crate::model::shared::interning;
    pub use crate::pipeline::diff::diff;
}

/// The engine's version; a plan records the version that made it.
pub const ENGINE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Validates a config, listing every problem with the field that has it.
pub fn validate_config(config: &SyncConfig) -> Result<(), EngineError> {
    config::validate(config).map_err(|errors| EngineError::InvalidConfig { errors })
}

/// Plans one run. Nothing is applied: the plan says what would be, and why. The input is
/// consumed, so its pages can be freed as they are read.
pub fn plan(input: SyncInput) -> Result<SyncPlan, EngineError> {
    pipeline::run(input)
}

/// Approves a pending plan, leaving out the rejected operations and whatever depends on them.
pub fn approve(plan: &SyncPlan, decisions: &Decisions) -> Result<SyncPlan, EngineError> {
    approve::approve(plan, decisions)
}

/// The state after applying `plan` with these outcomes.
pub fn commit(
    state: &SyncState,
    plan: &SyncPlan,
    outcomes: &[OpOutcome],
) -> Result<SyncState, EngineError> {
    commit::commit(state, &plan_to_commit::PlanToCommit::of(plan), outcomes)
}

/// What applying `plan` with these outcomes changes in `state`, row by row: what a host that
/// keeps the state as rows writes ([`rows`]). Same rules as [`commit`].
pub fn commit_changes(
    state: &SyncState,
    plan: &SyncPlan,
    outcomes: &[OpOutcome],
) -> Result<StateChanges, EngineError> {
    commit_changes_of(state, &plan_to_commit::PlanToCommit::of(plan), outcomes)
}

/// [`commit_changes`] for a plan as committing reads it.
pub(crate) fn commit_changes_of(
    state: &SyncState,
    plan: &plan_to_commit::PlanToCommit<'_>,
    outcomes: &[OpOutcome],
) -> Result<StateChanges, EngineError> {
    let next = commit::commit(state, plan, outcomes)?;
    StateChanges::between(state, &next).map_err(|e| EngineError::InvalidInput {
        message: format!("the state's rows cannot be written as JSON: {e}"),
    })
}
