//! Engine errors: plain data, so every surface (Rust, ABI JSON, JavaScript) can carry them.

use serde::{Deserialize, Serialize};

use crate::config::ConfigError;

#[derive(thiserror::Error, Serialize, Deserialize, Clone, PartialEq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", tag = "kind")]
/// Why the engine refused a request. `kind` names the variant on the wire.
#[non_exhaustive]
pub enum EngineError {
    /// The config breaks rules; every problem is listed with its field.
    #[error("invalid config: {}", errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    InvalidConfig {
        /// Each problem, with the field that has it.
        errors: Vec<ConfigError>,
    },
    /// The input cannot be planned (a malformed time, a payload of the wrong shape).
    #[error("invalid input: {message}")]
    InvalidInput {
        /// What is wrong, in words.
        message: String,
    },
    /// A decision names an operation the plan does not have.
    #[error("operation '{op_id}' is not in this plan")]
    UnknownOperation {
        /// The id the decision named.
        op_id: String,
    },
    /// The plan was approved already; approve a pending plan once.
    #[error("plan {plan_id} was already approved")]
    AlreadyApproved {
        /// The plan's id.
        plan_id: String,
    },
    /// The plan was made from an older state than the one given.
    #[error(
        "the plan was made from state revision {plan_revision} but the state is at revision {state_revision}; plan again"
    )]
    StalePlan {
        /// The state revision the plan was made from.
        plan_revision: u64,
        /// The revision of the state it was to be committed over.
        state_revision: u64,
    },
}
