//! The JSON Schema of the ABI's requests and answers, generated from the Rust types and
//! checked in under `engine/schema/` for partners. This test fails when a type changed and
//! the files did not; `CLASSBRIDGE_UPDATE_SCHEMA=1 cargo test -p classbridge-engine
//! --features schema --test schema` writes them afresh.

use std::path::PathBuf;

use classbridge_engine::abi::{
    ApproveOpsRequest, ApproveRequest, CommitRequest, ValidateRequest, Validity,
};
use classbridge_engine::commit_rows::{CommitNeedsRequest, CommitRowsRequest, RowKey};
use classbridge_engine::session::{
    Chunk, Fed, OpsPage, OpsRequest, PlanHeader, SessionExpects, SessionStart,
};
use classbridge_engine::{EngineError, StateChanges, SyncInput, SyncPlan, SyncState};
use schemars::{Schema, schema_for};

fn schemas() -> Vec<(&'static str, Schema)> {
    vec![
        ("plan-request", schema_for!(SyncInput)),
        ("plan-answer", schema_for!(SyncPlan)),
        ("approve-request", schema_for!(ApproveRequest<'static>)),
        (
            "approve-ops-request",
            schema_for!(ApproveOpsRequest<'static>),
        ),
        (
            "approve-ops-answer",
            schema_for!(classbridge_engine::plan::Approval),
        ),
        ("commit-request", schema_for!(CommitRequest<'static>)),
        ("commit-answer", schema_for!(SyncState)),
        ("commit-changes-answer", schema_for!(StateChanges)),
        (
            "commit-needs-request",
            schema_for!(CommitNeedsRequest<'static>),
        ),
        ("commit-needs-answer", schema_for!(Vec<RowKey>)),
        (
            "commit-rows-request",
            schema_for!(CommitRowsRequest<'static>),
        ),
        ("session-begin-request", schema_for!(SessionStart)),
        ("session-begin-answer", schema_for!(SessionExpects)),
        ("session-feed-request", schema_for!(Chunk)),
        ("session-feed-answer", schema_for!(Fed)),
        ("session-finish-answer", schema_for!(PlanHeader)),
        ("session-ops-request", schema_for!(OpsRequest)),
        ("session-ops-answer", schema_for!(OpsPage)),
        (
            "session-needs-request",
            schema_for!(classbridge_engine::NeedsFacts),
        ),
        (
            "session-needs-answer",
            schema_for!(classbridge_engine::EnrollmentNeeds),
        ),
        ("validate-request", schema_for!(ValidateRequest<'static>)),
        ("validate-answer", schema_for!(Validity)),
        ("error", schema_for!(EngineError)),
    ]
}

#[test]
fn the_checked_in_schema_matches_the_types() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schema");
    let update = std::env::var_os("CLASSBRIDGE_UPDATE_SCHEMA").is_some();
    let mut stale = Vec::new();
    for (name, schema) in schemas() {
        let path = dir.join(format!("{name}.schema.json"));
        let text = serde_json::to_string_pretty(&schema).expect("a schema is JSON") + "\n";
        if update {
            std::fs::create_dir_all(&dir).expect("schema folder");
            std::fs::write(&path, &text).expect("schema written");
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            stale.push(path.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "these schema files do not match the types: {stale:?}; regenerate them with \
         CLASSBRIDGE_UPDATE_SCHEMA=1 cargo test -p classbridge-engine --features schema --test schema"
    );
}

#[test]
fn the_plan_request_schema_names_the_fields_the_engine_reads() {
    // The schema names the request's top-level fields as the engine reads them.
    let schema = serde_json::to_value(schema_for!(SyncInput)).expect("JSON");
    let properties = schema["properties"].as_object().expect("properties");
    for field in ["config", "sources", "classroom", "previousState", "now"] {
        assert!(
            properties.contains_key(field),
            "{field} missing: {properties:?}"
        );
    }
    let required: Vec<&str> = schema["required"]
        .as_array()
        .expect("required")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(
        required.contains(&"now") && required.contains(&"sources"),
        "{required:?}"
    );
}
