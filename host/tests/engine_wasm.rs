//! The engine's ABI module in wasmtime gives byte-for-byte the plan the native engine gives.

use classbridge::engine_runtime::{EngineLimits, EngineRuntime, RuntimeError};
use classbridge_engine::abi::{Entry, dispatch};
use classbridge_engine::{SyncInput, SyncPlan, SyncState};
use serde_json::{Value, json};

const DAY1: &str = include_str!("../../tests/fixtures/district-day1.json");
const GRADED: &str = include_str!("../../tests/fixtures/classroom-graded.json");

/// Compiled once per test process.
fn runtime() -> &'static EngineRuntime {
    static RUNTIME: std::sync::OnceLock<EngineRuntime> = std::sync::OnceLock::new();
    RUNTIME
        .get_or_init(|| EngineRuntime::new(EngineLimits::default()).expect("engine module loads"))
}

fn ok_bytes(envelope: &[u8]) -> &[u8] {
    let prefix = format!(
        r#"{{"abiVersion":{},"ok":"#,
        classbridge_engine::abi::ABI_VERSION
    );
    let prefix = prefix.as_bytes();
    assert!(
        envelope.starts_with(prefix),
        "{}",
        String::from_utf8_lossy(&envelope[..envelope.len().min(300)])
    );
    &envelope[prefix.len()..envelope.len() - 1]
}

#[test]
fn the_module_imports_nothing() {
    assert_eq!(runtime().module().imports().count(), 0);
}

#[test]
fn plans_are_byte_identical_natively_and_in_wasmtime() {
    let rt = runtime();
    let native_plan =
        classbridge_engine::plan(serde_json::from_str::<SyncInput>(DAY1).unwrap()).unwrap();
    let native = serde_json::to_vec(&native_plan).unwrap();
    let wasm = rt.call_raw(Entry::Plan, DAY1.as_bytes()).unwrap();
    assert_eq!(ok_bytes(&wasm), native.as_slice());
    assert_eq!(
        dispatch(Entry::Plan, DAY1.as_bytes()),
        wasm,
        "the native ABI path too"
    );
}

#[test]
fn a_plan_made_in_a_wasmtime_session_is_the_one_call_plan() {
    // The host's path: the input fed in chunks, the operations read back in pages.
    let rt = runtime();
    let native = serde_json::to_vec(
        &classbridge_engine::plan(serde_json::from_str::<SyncInput>(DAY1).unwrap()).unwrap(),
    )
    .unwrap();
    let (start, chunks) =
        classbridge_engine::session::chunks_of(serde_json::from_str(DAY1).unwrap(), 5);
    let chunks: Vec<_> = chunks.texts().collect();
    let fed = chunks.len() as u64;
    let seen = std::cell::Cell::new(0);
    let plan = rt
        .plan_session(&start, chunks, 7, &|n| seen.set(n))
        .unwrap();
    assert_eq!(serde_json::to_vec(&plan).unwrap(), native);
    assert_eq!(seen.get(), fed, "every chunk was fed and counted");
    // A chunk the engine cannot read fails the session with the engine's reason.
    let bad =
        classbridge_engine::session::Chunk::StateRows(vec![classbridge_engine::session::StateRow(
            classbridge_engine::rows::StatePart::Roster,
            String::new(),
            "users".into(),
            "u1".into(),
            serde_json::from_str("{\"sourcedId\": 5}").unwrap(),
        )]);
    let bad = serde_json::to_vec(&bad).unwrap();
    let err = rt.plan_session(&start, [Ok(bad)], 7, &|_| {}).unwrap_err();
    assert!(
        matches!(&err, RuntimeError::Engine { kind, message, .. } if kind == "invalidInput" && message.contains("u1")),
        "{err}"
    );
}

#[test]
fn a_request_handed_over_plans_as_one_lent() {
    // The host hands its only copy of a district's input to the module (`call_owned`).
    let rt = runtime();
    let lent: SyncPlan = rt.call(Entry::Plan, DAY1.as_bytes()).unwrap();
    let owned: SyncPlan = rt
        .call_owned(Entry::Plan, DAY1.as_bytes().to_vec())
        .unwrap();
    assert_eq!(owned, lent);
    assert!(!owned.ops.is_empty());
    let bad = rt.call_owned::<SyncPlan>(Entry::Plan, b"{not json".to_vec());
    assert!(
        matches!(&bad, Err(RuntimeError::Engine { kind, .. }) if kind == "invalidRequest"),
        "{bad:?}"
    );
}

#[test]
fn the_unmetered_runtime_plans_the_same_and_ignores_the_fuel_limit() {
    // Benchmarks use it to show what metering costs; a tiny fuel limit must not stop it.
    let unmetered = EngineRuntime::without_fuel_metering(EngineLimits {
        fuel: 1,
        ..EngineLimits::default()
    })
    .unwrap();
    let metered = runtime().call_raw(Entry::Plan, DAY1.as_bytes()).unwrap();
    assert_eq!(
        unmetered.call_raw(Entry::Plan, DAY1.as_bytes()).unwrap(),
        metered
    );
}

#[test]
fn a_whole_cycle_through_the_module_matches_native() {
    let rt = runtime();
    let input: SyncInput = serde_json::from_str(DAY1).unwrap();
    let plan: SyncPlan = rt.call(Entry::Plan, DAY1.as_bytes()).unwrap();
    let outcomes: Vec<Value> = plan
        .ops
        .iter()
        .map(|op| {
            let remote = match op.key.as_str() {
                "course.create:d:cl1" => json!("5001"),
                "course.create:d:cl2" => json!("5002"),
                "course.create:d:cl3" => json!("5003"),
                _ => Value::Null,
            };
            json!({"opId": op.op_id, "status": "succeeded", "remoteId": remote})
        })
        .collect();
    let request = json!({"state": input.previous_state, "plan": plan, "outcomes": outcomes});
    let state: SyncState = rt
        .call(Entry::Commit, &serde_json::to_vec(&request).unwrap())
        .unwrap();
    let native_state = classbridge_engine::commit(
        &input.previous_state,
        &plan,
        &serde_json::from_value::<Vec<_>>(json!(outcomes)).unwrap(),
    )
    .unwrap();
    assert_eq!(
        serde_json::to_vec(&state).unwrap(),
        serde_json::to_vec(&native_state).unwrap()
    );
    // The rows it changes, as the host stores them: the same in wasmtime as natively.
    let changes = rt
        .call_raw(Entry::CommitChanges, &serde_json::to_vec(&request).unwrap())
        .unwrap();
    let native_changes = classbridge_engine::commit_changes(
        &input.previous_state,
        &plan,
        &serde_json::from_value::<Vec<_>>(json!(outcomes)).unwrap(),
    )
    .unwrap();
    assert_eq!(
        ok_bytes(&changes),
        serde_json::to_vec(&native_changes).unwrap().as_slice()
    );
    assert!(native_changes.row_count() > 0);
    // And from only the rows the engine names: the same changes, in wasmtime.
    let needs = rt
        .call_raw(
            Entry::CommitNeeds,
            &serde_json::to_vec(&json!({"plan": plan})).unwrap(),
        )
        .unwrap();
    let native_needs = classbridge_engine::commit_needs(
        &classbridge_engine::plan_to_commit::PlanToCommit::of(&plan),
    );
    assert_eq!(
        ok_bytes(&needs),
        serde_json::to_vec(&native_needs).unwrap().as_slice()
    );
    let from_rows: classbridge_engine::StateChanges = rt
        .call(
            Entry::CommitRows,
            &serde_json::to_vec(
                &json!({"revision": 0, "plan": plan, "outcomes": outcomes, "rows": []}),
            )
            .unwrap(),
        )
        .unwrap();
    assert_eq!(from_rows, native_changes);
    // A month later with grades: same again.
    let mut later: Value = serde_json::from_str(DAY1).unwrap();
    later["previousState"] = serde_json::to_value(&state).unwrap();
    later["classroom"] = serde_json::from_str(GRADED).unwrap();
    later["now"] = json!("2026-10-01T06:00:00Z");
    let bytes = serde_json::to_vec(&later).unwrap();
    let wasm = rt.call_raw(Entry::Plan, &bytes).unwrap();
    let native = serde_json::to_vec(
        &classbridge_engine::plan(serde_json::from_slice(&bytes).unwrap()).unwrap(),
    )
    .unwrap();
    assert_eq!(ok_bytes(&wasm), native.as_slice());
    let grades: SyncPlan = serde_json::from_slice(&native).unwrap();
    assert!(grades.ops.iter().any(|o| o.key.starts_with("result.put")));
}

#[test]
fn engine_errors_come_back_as_typed_errors() {
    let err = runtime()
        .call::<Value>(
            Entry::ValidateConfig,
            br#"{"config":{"sources":[{"id":"sis"}]}}"#,
        )
        .unwrap_err();
    match err {
        RuntimeError::Engine { kind, message, .. } => {
            assert_eq!(kind, "invalidConfig");
            assert!(message.contains("reserved"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let err = runtime()
        .call::<Value>(Entry::Plan, b"\xff\xfe garbage")
        .unwrap_err();
    assert!(
        matches!(err, RuntimeError::Engine { ref kind, .. } if kind == "invalidRequest"),
        "{err:?}"
    );
}

#[test]
fn fuel_runs_out_cleanly() {
    let rt = runtime().with_limits(EngineLimits {
        fuel: 10_000,
        ..EngineLimits::default()
    });
    let err = rt
        .call_raw(Entry::Plan, DAY1.as_bytes())
        .map(|_| ())
        .unwrap_err();
    assert!(matches!(err, RuntimeError::OutOfFuel(10_000)), "{err:?}");
}

#[test]
fn the_memory_cap_holds() {
    let rt = runtime().with_limits(EngineLimits {
        memory_bytes: 4 << 20,
        ..EngineLimits::default()
    });
    // A 6 MB request cannot fit in a 4 MB memory.
    let mut big: Value = serde_json::from_str(DAY1).unwrap();
    big["sources"][0]["payload"]["collections"]["users"]["pages"][0]["users"][0]["metadata"] =
        json!({"blob": "x".repeat(6 << 20)});
    let err = rt
        .call_raw(Entry::Plan, &serde_json::to_vec(&big).unwrap())
        .map(|_| ())
        .unwrap_err();
    // Told apart structurally (the limiter saw the refusal), not by the trap's text.
    assert!(matches!(err, RuntimeError::OutOfMemory(_)), "{err:?}");
    // The runtime is still usable afterwards with a sane cap.
    assert!(runtime().call_raw(Entry::Plan, DAY1.as_bytes()).is_ok());
}

#[test]
fn json_maps_stay_sorted_in_this_build() {
    // Plans are hashed from JSON; a crate enabling serde_json's preserve_order anywhere in the
    // workspace would make native output differ from the module's. This catches it.
    let mut map = serde_json::Map::new();
    map.insert("b".into(), json!(1));
    map.insert("a".into(), json!(2));
    assert_eq!(map.keys().next().map(String::as_str), Some("a"));
}

#[test]
fn every_entry_is_exported_under_its_documented_name() {
    let rt = runtime();
    for entry in [
        Entry::Plan,
        Entry::Approve,
        Entry::ApproveOps,
        Entry::Commit,
        Entry::CommitChanges,
        Entry::CommitNeeds,
        Entry::CommitRows,
        Entry::ValidateConfig,
        Entry::SessionBegin,
        Entry::SessionFeed,
        Entry::SessionFinish,
        Entry::SessionOps,
        Entry::SessionNeeds,
        Entry::Undo,
    ] {
        let export = rt.module().get_export(entry.export());
        assert!(
            export.is_some_and(|e| e.func().is_some()),
            "{} is not a function export of the engine module",
            entry.export()
        );
    }
}
