//! The engine's `web` bindings in a real browser (wasm-bindgen-test, headless Chromium):
//! values in and out through serde-wasm-bindgen, errors as values, and the same plan id as
//! the JSON path. Run by ./test.sh with the wasm32 target.

#![cfg(all(target_arch = "wasm32", feature = "web"))]

use classbridge_engine::web;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const DAY1: &str = include_str!("../../tests/fixtures/district-day1.json");
const GRADED: &str = include_str!("../../tests/fixtures/classroom-graded.json");

fn js(json: &str) -> JsValue {
    js_sys_parse(json)
}

#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = JSON, js_name = parse)]
    fn js_sys_parse(text: &str) -> JsValue;
    #[wasm_bindgen(js_namespace = JSON, js_name = stringify)]
    fn js_stringify(v: &JsValue) -> JsValue;
}

fn to_json(v: &JsValue) -> serde_json::Value {
    let text = js_stringify(v).as_string().unwrap_or_default();
    serde_json::from_str(&text).unwrap_or(serde_json::Value::Null)
}

#[wasm_bindgen_test]
fn plan_takes_and_gives_js_values() {
    let plan = web::plan(js(DAY1)).expect("a plan");
    let plan = to_json(&plan);
    assert!(plan["ops"].as_array().is_some_and(|ops| !ops.is_empty()));
    let id = web::plan_id_from_json(DAY1).expect("an id");
    assert_eq!(plan["id"], id, "the value path and the JSON path agree");
    assert_eq!(
        id,
        classbridge_engine::plan(serde_json::from_str(DAY1).unwrap())
            .unwrap()
            .id
    );
}

#[wasm_bindgen_test]
fn approve_and_commit_round_trip_in_the_browser() {
    let plan = web::plan(js(DAY1)).expect("a plan");
    let first = to_json(&plan)["ops"][0]["opId"]
        .as_str()
        .unwrap()
        .to_string();
    let approved =
        web::approve(plan.clone(), js(&format!(r#"{{"reject": ["{first}"]}}"#))).expect("approved");
    assert_eq!(
        to_json(&approved)["approval"]["rejected"][0],
        first.as_str()
    );
    let state = web::commit(js("{}"), approved, js("[]")).expect("committed");
    assert_eq!(to_json(&state)["revision"], 1);
}

#[wasm_bindgen_test]
fn errors_come_back_as_values() {
    let err = web::plan(js(r#"{"nonsense": true}"#)).expect_err("bad input");
    assert!(js_stringify(&err).as_string().unwrap_or_default().len() > 2);
    let err = web::validate_config(js(
        r#"{"masterFields": [{"entity": "Student", "field": "enrollment", "master": "sis"}]}"#,
    ))
    .expect_err("invalid");
    assert!(
        js_stringify(&err)
            .as_string()
            .unwrap_or_default()
            .contains("enrollment")
    );
    assert!(!web::engine_version().is_empty());
}

#[wasm_bindgen_test]
fn grade_writes_reach_javascript_as_objects_and_come_back() {
    use classbridge_engine::plan::{Action, OutcomeResult};
    use classbridge_engine::{OpOutcome, SyncInput};
    // Day 1 applied cleanly, then teachers grade: the next plan writes grades to the SIS.
    let day1: SyncInput = serde_json::from_str(DAY1).unwrap();
    let first = classbridge_engine::plan(day1.clone()).unwrap();
    let outcomes: Vec<OpOutcome> = first
        .ops
        .iter()
        .map(|op| OpOutcome {
            op_id: op.op_id.clone(),
            // The course ids the graded fixture's listings use.
            result: OutcomeResult::Succeeded {
                remote_id: match &op.action {
                    Action::ClassroomCreateCourse { alias, .. } => {
                        Some(alias.replace("d:cl", "500"))
                    }
                    _ => None,
                },
            },
        })
        .collect();
    let state = classbridge_engine::commit(&day1.previous_state, &first, &outcomes).unwrap();
    let mut next: serde_json::Value = serde_json::from_str(DAY1).unwrap();
    next["previousState"] = serde_json::to_value(&state).unwrap();
    next["now"] = "2026-10-01T06:00:00Z".into();
    next["classroom"] = serde_json::from_str(GRADED).unwrap();

    let plan = web::plan(js(&next.to_string())).expect("a plan");
    let json = to_json(&plan);
    let puts: Vec<&serde_json::Value> = json["ops"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|op| op["action"]["type"] == "oneRosterPut")
        .collect();
    assert!(!puts.is_empty(), "graded work is written to the SIS");
    for put in &puts {
        let body = &put["action"]["body"];
        assert!(
            body.get("result")
                .or(body.get("lineItem"))
                .is_some_and(|r| r["sourcedId"].is_string()),
            "a write's body is a plain object with its record: {body}"
        );
    }
    // The plan goes back in as it came out.
    let approved = web::approve(plan, js("{}")).expect("approved");
    assert_eq!(to_json(&approved)["ops"], json["ops"]);
}
