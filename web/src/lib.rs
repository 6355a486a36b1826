//! classbridge admin console: Rust compiled to WebAssembly. It talks to `classbridge serve`
//! for runs and decisions, and links the engine itself, so previews, verification and
//! what-if edits are computed here by the same code the host runs.

mod address;
mod api;
mod app;
mod html;
mod view;
mod worker;

pub use worker::{worker_append, worker_has_scores, worker_plan, worker_receive, worker_rules};

use wasm_bindgen::prelude::*;

/// Entry point, called by the page's module script.
#[wasm_bindgen(start)]
pub fn start() {
    app::boot();
}

/// For tests: the engine version this console was built with.
#[wasm_bindgen(js_name = consoleEngineVersion)]
pub fn console_engine_version() -> String {
    classbridge_engine::ENGINE_VERSION.to_string()
}
