//! wasm-bindgen exports for the browser console: JavaScript values in and out through
//! serde-wasm-bindgen; the core knows nothing of JavaScript.

use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::{Decisions, EngineError, OpOutcome, SyncConfig, SyncInput, SyncPlan, SyncState};

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = JSON, js_name = parse, catch)]
    fn json_parse(text: &str) -> Result<JsValue, JsValue>;
}

fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsValue> {
    // Maps as plain objects, so the console reads `plan.summary.roster.user` naturally.
    let serializer = serde_wasm_bindgen::Serializer::json_compatible();
    value
        .serialize(&serializer)
        .map_err(|e| JsValue::from_str(&e.to_string()))
}

/// Plans hold JSON text (grade write bodies), which only a JSON serialiser writes as JSON:
/// they cross as text and JavaScript's own parser builds the objects.
fn plan_to_js(plan: &SyncPlan) -> Result<JsValue, JsValue> {
    let text = serde_json::to_string(plan).map_err(|e| JsValue::from_str(&e.to_string()))?;
    json_parse(&text)
}

fn from_js<T: serde::de::DeserializeOwned>(value: JsValue, what: &str) -> Result<T, JsValue> {
    serde_wasm_bindgen::from_value(value).map_err(|e| JsValue::from_str(&format!("{what}: {e}")))
}

/// Through a JSON value, for types that keep JSON text (plans, Classroom listings).
fn from_js_json<T: serde::de::DeserializeOwned>(value: JsValue, what: &str) -> Result<T, JsValue> {
    let value: serde_json::Value = from_js(value, what)?;
    serde_json::from_value(value).map_err(|e| JsValue::from_str(&format!("{what}: {e}")))
}

fn engine_err(e: EngineError) -> JsValue {
    to_js(&e).unwrap_or_else(|_| JsValue::from_str(&e.to_string()))
}

/// The engine's version.
#[wasm_bindgen(js_name = engineVersion)]
pub fn engine_version() -> String {
    crate::ENGINE_VERSION.to_string()
}

/// Plans a `SyncInput` given as a JavaScript value; the plan comes back as one.
#[wasm_bindgen]
pub fn plan(input: JsValue) -> Result<JsValue, JsValue> {
    crate::model::interning(|| {
        let input: SyncInput = from_js_json(input, "sync input")?;
        plan_to_js(&crate::plan(input).map_err(engine_err)?)
    })
}

/// Plans from the JSON text of a `SyncInput`, the exact bytes the host stored, and returns the
/// plan's id: how the console proves it computed what the host did.
#[wasm_bindgen(js_name = planIdFromJson)]
pub fn plan_id_from_json(input_json: &str) -> Result<String, JsValue> {
    crate::model::interning(|| Ok(crate::plan(read_input(input_json)?).map_err(engine_err)?.id))
}

fn read_input(input_json: &str) -> Result<SyncInput, JsValue> {
    serde_json::from_str(input_json).map_err(|e| JsValue::from_str(&format!("sync input: {e}")))
}

/// Plans from the JSON text of a `SyncInput`.
#[wasm_bindgen(js_name = planFromJson)]
pub fn plan_from_json(input_json: &str) -> Result<JsValue, JsValue> {
    crate::model::interning(|| {
        plan_to_js(&crate::plan(read_input(input_json)?).map_err(engine_err)?)
    })
}

/// Approves a pending plan with an admin's decisions (`{"reject": [op ids]}`).
#[wasm_bindgen]
pub fn approve(plan: JsValue, decisions: JsValue) -> Result<JsValue, JsValue> {
    let plan: SyncPlan = from_js_json(plan, "plan")?;
    let decisions: Decisions = from_js(decisions, "decisions")?;
    plan_to_js(&crate::approve(&plan, &decisions).map_err(engine_err)?)
}

/// The state after applying a plan with these outcomes.
#[wasm_bindgen]
pub fn commit(state: JsValue, plan: JsValue, outcomes: JsValue) -> Result<JsValue, JsValue> {
    let state: SyncState = from_js(state, "state")?;
    let plan: SyncPlan = from_js_json(plan, "plan")?;
    let outcomes: Vec<OpOutcome> = from_js(outcomes, "outcomes")?;
    to_js(&crate::commit(&state, &plan, &outcomes).map_err(engine_err)?)
}

/// Checks a config; throws its problems.
#[wasm_bindgen(js_name = validateConfig)]
pub fn validate_config(config: JsValue) -> Result<JsValue, JsValue> {
    let config: SyncConfig = from_js(config, "config")?;
    crate::validate_config(&config).map_err(engine_err)?;
    Ok(JsValue::TRUE)
}
