//! The engine's work for Verify and What-if, run in a Web Worker so the page never freezes:
//! the worker holds one run's input (parsed once), plans it under the stored or edited rules,
//! and answers only a digest (plan id, counts, holds), never the plan itself.
//!
//! The worker's script (`/console/worker.js`) fetches the input and calls these; the page
//! talks to it with messages (see `app::worker_request`).

use std::cell::RefCell;

use classbridge_engine::plan::{HoldReason, PreviewSummary};
use classbridge_engine::{SyncConfig, SyncInput};
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;

/// What the page is shown of a plan the worker made.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub(crate) struct PlanDigest {
    pub id: String,
    pub summary: PreviewSummary,
    pub holds: Vec<HoldReason>,
    pub ops: usize,
}

thread_local! {
    static LOADED: RefCell<Option<(u32, SyncInput)>> = const { RefCell::new(None) };
}

/// Whether run `run`'s input is loaded already. (Run ids cross to JavaScript as numbers.)
#[wasm_bindgen(js_name = workerHas)]
pub fn worker_has(run: u32) -> bool {
    LOADED.with(|l| l.borrow().as_ref().is_some_and(|(r, _)| *r == run))
}

/// Parses and keeps run `run`'s input (the text `/api/runs/{run}/input` answered).
#[wasm_bindgen(js_name = workerLoad)]
pub fn worker_load(run: u32, input: &str) -> Result<(), String> {
    let parsed: SyncInput = serde_json::from_str(input)
        .map_err(|e| format!("the run's stored input could not be read: {e}"))?;
    LOADED.with(|l| *l.borrow_mut() = Some((run, parsed)));
    Ok(())
}

/// The loaded input's rules as pretty JSON, without the sources (connection settings, not
/// rules to play with).
#[wasm_bindgen(js_name = workerRules)]
pub fn worker_rules() -> Result<String, String> {
    LOADED.with(|l| {
        let loaded = l.borrow();
        let (_, input) = loaded.as_ref().ok_or("no run is loaded")?;
        rules_text(&input.config)
    })
}

pub(crate) fn rules_text(config: &SyncConfig) -> Result<String, String> {
    let mut rules = serde_json::to_value(config).map_err(|e| e.to_string())?;
    if let Some(o) = rules.as_object_mut() {
        o.remove("sources");
    }
    serde_json::to_string_pretty(&rules).map_err(|e| e.to_string())
}

/// Plans the loaded input, under `rules` (JSON, as from [`worker_rules`]) when given, and
/// answers the plan's digest as JSON.
#[wasm_bindgen(js_name = workerPlan)]
pub fn worker_plan(rules: Option<String>) -> Result<String, String> {
    LOADED.with(|l| {
        let loaded = l.borrow();
        let (_, input) = loaded.as_ref().ok_or("no run is loaded")?;
        let digest = plan_digest(input, rules.as_deref())?;
        serde_json::to_string(&digest).map_err(|e| e.to_string())
    })
}

/// The digest of `input`'s plan, under edited `rules` when given.
pub(crate) fn plan_digest(input: &SyncInput, rules: Option<&str>) -> Result<PlanDigest, String> {
    let mut input = input.clone();
    if let Some(text) = rules {
        let mut rules: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("the rules are not valid JSON: {e}"))?;
        rules["sources"] =
            serde_json::to_value(&input.config.sources).map_err(|e| e.to_string())?;
        let config: SyncConfig =
            serde_json::from_value(rules).map_err(|e| format!("the rules do not fit: {e}"))?;
        classbridge_engine::validate_config(&config).map_err(|e| e.to_string())?;
        input.config = config;
    }
    let plan = classbridge_engine::plan(input)
        .map_err(|e| format!("the engine refused the input: {e}"))?;
    Ok(PlanDigest {
        ops: plan.ops.len(),
        id: plan.id,
        summary: plan.summary,
        holds: plan.holds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> SyncInput {
        serde_json::from_str(include_str!("../../tests/fixtures/district-day1.json"))
            .expect("fixture")
    }

    #[test]
    fn the_worker_plans_what_the_engine_plans_and_applies_edited_rules() {
        let input = input();
        let plan = classbridge_engine::plan(input.clone()).expect("plan");
        let digest = plan_digest(&input, None).expect("digest");
        assert_eq!(
            digest.id, plan.id,
            "Verify compares the same id the host stored"
        );
        assert_eq!(digest.ops, plan.ops.len());
        assert_eq!(digest.summary, plan.summary);

        // The rules as the page shows them carry no sources, and planning under them
        // unchanged gives the same plan.
        let rules = rules_text(&input.config).expect("rules");
        assert!(!rules.contains("\"sources\""), "{rules}");
        assert_eq!(plan_digest(&input, Some(&rules)).unwrap().id, plan.id);

        // An edit that leaves out every class changes the counts.
        let mut edited: serde_json::Value = serde_json::from_str(&rules).unwrap();
        edited["filters"] = serde_json::json!([{
            "entity": "class", "field": "title", "op": "contains", "value": "", "action": "exclude"
        }]);
        let what_if = plan_digest(&input, Some(&edited.to_string())).expect("what-if");
        assert_ne!(what_if.id, plan.id);
        assert!(
            what_if.ops < plan.ops.len(),
            "{} vs {}",
            what_if.ops,
            plan.ops.len()
        );

        let broken = plan_digest(&input, Some("{ not json")).unwrap_err();
        assert!(broken.contains("not valid JSON"), "{broken}");
    }
}
