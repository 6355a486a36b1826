//! classbridge-engine: the pure, deterministic core of classbridge.
//!
//! Plain data in, plain data out: [`plan`] turns a [`SyncInput`] (config, raw SIS data,
//! Classroom listings, previous state, the time) into a [`SyncPlan`]; [`approve`] applies an
//! admin's decisions; [`commit`] lays the plan's state delta and the host's operation outcomes
//! over the state it was made from.
//! No I/O, no clock, no randomness: the same input gives the same plan, byte for byte, natively,
//! in wasmtime (see [`abi`]) and in the browser (feature `web`).

pub mod abi;
mod approve;
pub(crate) mod commit;
pub mod config;
pub mod delta;
mod error;
pub mod hash;
pub mod ingest;
pub mod input;
pub mod json_text;
pub mod model;
pub mod pipeline;
pub mod plan;
pub mod state;
#[cfg(feature = "web")]
pub mod web;

pub use config::{ConfigError, SyncConfig};
pub use error::EngineError;
pub use input::SyncInput;
pub use plan::{Decisions, OpOutcome, SyncPlan};
pub use state::SyncState;

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
    commit::commit(state, plan, outcomes)
}
