//! Shared fixture helpers for the engine's tests.
#![allow(dead_code)]

use classbridge_engine::input::{CheckOutcome, RemovalCheck};
use classbridge_engine::plan::{Action, OpOutcome, OutcomeResult, PlannedOp};
use classbridge_engine::{SyncInput, SyncPlan, SyncState};
use serde_json::{Value, json};

pub(crate) const DAY1: &str = include_str!("../../../tests/fixtures/district-day1.json");
pub(crate) const CLASSROOM_GRADED: &str =
    include_str!("../../../tests/fixtures/classroom-graded.json");

pub(crate) fn day1() -> Value {
    serde_json::from_str(DAY1).expect("fixture parses")
}

pub(crate) fn classroom_graded() -> Value {
    serde_json::from_str(CLASSROOM_GRADED).expect("fixture parses")
}

pub(crate) fn input(v: &Value) -> SyncInput {
    serde_json::from_value(v.clone()).expect("valid SyncInput")
}

/// Plans as the host does: records missing from a REST listing are asked about (here the
/// answer is always "gone") and the run planned again with the answers.
pub(crate) fn plan(v: &Value) -> SyncPlan {
    let first = plan_once(v);
    if first.unchecked_absences().next().is_none() {
        return first;
    }
    plan_once(&with_checks(v, &first, CheckOutcome::Gone))
}

/// One engine call, no confirmation round.
pub(crate) fn plan_once(v: &Value) -> SyncPlan {
    classbridge_engine::plan(input(v)).expect("plan")
}

/// `v` with an answer for each of the plan's unchecked absences, as the host would add them.
pub(crate) fn with_checks(v: &Value, p: &SyncPlan, outcome: CheckOutcome) -> Value {
    let mut v = v.clone();
    for absence in p.unchecked_absences() {
        let check = RemovalCheck {
            entity: absence.entity,
            sourced_id: absence.sourced_id.clone(),
            outcome,
            detail: format!(
                "GET /{}/{} answered as the test said",
                absence.entity.collection(),
                absence.remote_id
            ),
        };
        let source = v["sources"]
            .as_array_mut()
            .expect("sources")
            .iter_mut()
            .find(|s| s["sourceId"] == absence.source.as_str())
            .expect("the absence's source");
        let checks = source
            .as_object_mut()
            .expect("source")
            .entry("removalChecks")
            .or_insert_with(|| json!([]));
        checks
            .as_array_mut()
            .expect("checks")
            .push(serde_json::to_value(&check).expect("check"));
    }
    v
}

/// The state a plan builds on: the input's previous state with the plan's delta laid over it.
pub(crate) fn base(v: &Value, p: &SyncPlan) -> SyncState {
    p.base_state(&input(v).previous_state)
}

/// The SIS collections of the first source.
pub(crate) fn collections(v: &mut Value) -> &mut Value {
    &mut v["sources"][0]["payload"]["collections"]
}

/// Every record of a collection, across pages, mutable.
pub(crate) fn records<'a>(v: &'a mut Value, collection: &str) -> Vec<&'a mut Value> {
    let envelope = match collection {
        "schools" => "orgs",
        c => c,
    };
    let pages = collections(v)[collection]["pages"]
        .as_array_mut()
        .expect("pages");
    pages
        .iter_mut()
        .flat_map(|p| p[envelope].as_array_mut().expect("envelope").iter_mut())
        .collect()
}

pub(crate) fn edit(v: &mut Value, collection: &str, id: &str, f: impl FnOnce(&mut Value)) {
    let rec = records(v, collection)
        .into_iter()
        .find(|r| r["sourcedId"] == id)
        .expect("record exists");
    f(rec);
}

pub(crate) fn remove(v: &mut Value, collection: &str, id: &str) {
    for page in collections(v)[collection]["pages"]
        .as_array_mut()
        .expect("pages")
    {
        page[collection]
            .as_array_mut()
            .expect("envelope")
            .retain(|r| r["sourcedId"] != id);
    }
}

pub(crate) fn add(v: &mut Value, collection: &str, record: Value) {
    let pages = collections(v)[collection]["pages"]
        .as_array_mut()
        .expect("pages");
    pages.last_mut().expect("a page")[collection]
        .as_array_mut()
        .expect("envelope")
        .push(record);
}

/// Remote ids a real Classroom would hand back (courses match the graded fixture).
pub(crate) fn remote_id(op: &PlannedOp) -> Option<String> {
    match &op.action {
        Action::ClassroomCreateCourse { alias, .. } => Some(match alias.as_str() {
            "d:cl1" => "5001".into(),
            "d:cl2" => "5002".into(),
            "d:cl3" => "5003".into(),
            other => format!("course-{other}"),
        }),
        Action::ClassroomCreateTopic { alias, name } => {
            Some(match (alias.as_str(), name.as_str()) {
                ("d:cl1", "Homework") => "7001".into(),
                ("d:cl1", "Tests") => "7002".into(),
                _ => format!("topic-{}", op.op_id),
            })
        }
        _ => None,
    }
}

pub(crate) fn all_succeeded(plan: &SyncPlan) -> Vec<OpOutcome> {
    plan.ops
        .iter()
        .map(|op| OpOutcome {
            op_id: op.op_id.clone(),
            result: OutcomeResult::Succeeded {
                remote_id: remote_id(op),
            },
        })
        .collect()
}

/// Plan, apply everything successfully, commit: the state after a clean run.
pub(crate) fn run_clean(v: &Value) -> (SyncPlan, SyncState) {
    let input = input(v);
    let previous = input.previous_state.clone();
    drop(input);
    let plan = plan(v);
    let state =
        classbridge_engine::commit(&previous, &plan, &all_succeeded(&plan)).expect("commit");
    (plan, state)
}

/// Day 1 with its committed state as previous state, and `now` moved on.
pub(crate) fn after_day1(now: &str) -> Value {
    let v = day1();
    let (_, state) = run_clean(&v);
    let mut next = v.clone();
    next["previousState"] = serde_json::to_value(&state).expect("state");
    next["now"] = json!(now);
    next
}

pub(crate) fn keys(plan: &SyncPlan) -> Vec<&str> {
    plan.ops.iter().map(|o| o.key.as_str()).collect()
}

pub(crate) fn has_key(plan: &SyncPlan, prefix: &str) -> bool {
    plan.ops.iter().any(|o| o.key.starts_with(prefix))
}

pub(crate) fn issue_mentions(plan: &SyncPlan, needle: &str) -> bool {
    plan.record_issues
        .iter()
        .any(|i| i.reason.contains(needle) || i.sourced_id.as_deref() == Some(needle))
}

/// The same input on another day, planned from `state`.
pub(crate) fn on_day(v: &Value, now: &str, state: &SyncState) -> Value {
    let mut next = v.clone();
    next["previousState"] = serde_json::to_value(state).expect("state");
    next["now"] = json!(now);
    next
}
