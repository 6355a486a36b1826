//! Engine errors: plain data, so every surface (Rust, ABI JSON, JavaScript) can carry them.

use serde::{Deserialize, Serialize};

use crate::config::ConfigError;

#[derive(thiserror::Error, Serialize, Deserialize, Clone, PartialEq, Debug)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum EngineError {
    #[error("invalid config: {}", errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    InvalidConfig { errors: Vec<ConfigError> },
    #[error("invalid input: {message}")]
    InvalidInput { message: String },
    #[error("operation '{op_id}' is not in this plan")]
    UnknownOperation { op_id: String },
    #[error("plan {plan_id} was already approved")]
    AlreadyApproved { plan_id: String },
    #[error(
        "the plan was made from state revision {plan_revision} but the state is at revision {state_revision}; plan again"
    )]
    StalePlan {
        plan_revision: u64,
        state_revision: u64,
    },
}
