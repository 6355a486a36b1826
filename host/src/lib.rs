//! The classbridge host: the thin shell around the engine. It fetches, applies and remembers;
//! the engine decides.

mod apply;
pub mod classroom;
pub mod config;
pub mod console;
#[cfg(feature = "demo")]
pub mod demo;
pub mod engine_runtime;
pub mod error;
pub mod explain;
pub mod http;
pub mod notify;
pub mod oneroster;
pub mod progress;
pub mod report;
pub mod resident;
pub mod run_lock;
pub mod runner;
pub mod secrets;
pub mod serve;
pub mod store;
pub mod token_cache;
pub mod vendor;
