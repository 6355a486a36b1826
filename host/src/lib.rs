//! The classbridge host: the thin shell around the engine.

pub mod engine_runtime;
