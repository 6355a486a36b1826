//! A state may carry only the slice of the export ledger a run reads (the lineItems and
//! results of the courses whose work it lists) with the whole ledger's sizes. The plan is the
//! one the whole ledger gives, natively and through a session; a slice that leaves out a
//! course the run reads is refused.

mod common;

use std::collections::BTreeSet;

use classbridge_engine::SyncState;
use classbridge_engine::plan::HoldCode;
use classbridge_engine::session::{OpsRequest, PlanSession, chunks_of};
use classbridge_engine::state::{ExportedRecord, LedgerSlice};
use common::*;
use serde_json::{Value, json};

/// The Classroom course the graded fixture reads.
const READ: &str = "5001";

/// A month of grading exported, plus another course's grades (not read by the next run):
/// 5 lineItems with 10 results each.
fn exported_twice() -> (Value, SyncState) {
    let mut v = after_day1("2026-10-01T06:00:00Z");
    v["classroom"] = classroom_graded();
    let (_, mut state) = run_clean(&v);
    let record = |parent: &str| ExportedRecord {
        source_id: "sis".into(),
        parent: Some(parent.into()),
        digest: "d".into(),
    };
    for w in 0..5 {
        let li = format!("other-li-{w}");
        for s in 0..10 {
            state
                .exported
                .results
                .insert(format!("other-r-{w}-{s}"), record(&li));
        }
        state.exported.line_items.insert(li, record("7777"));
    }
    v["previousState"] = serde_json::to_value(&state).expect("state");
    (v, state)
}

/// `state` with only the ledger rows of `courses`, as a host would read them by parent.
fn sliced(state: &SyncState, courses: &[&str], totals: Option<(u64, u64)>) -> SyncState {
    let mut s = state.clone();
    let (line_items, results) = totals.unwrap_or_else(|| s.exported.totals());
    let in_slice = |parent: &Option<classbridge_engine::model::Shared>,
                    keep: &dyn Fn(&str) -> bool| {
        parent.as_deref().is_none_or(keep)
    };
    s.exported
        .line_items
        .retain(|_, r| in_slice(&r.parent, &|p| courses.contains(&p)));
    let kept: BTreeSet<String> = s.exported.line_items.keys().cloned().collect();
    s.exported
        .results
        .retain(|_, r| in_slice(&r.parent, &|p| kept.contains(p)));
    s.exported.slice = Some(LedgerSlice {
        courses: courses.iter().map(ToString::to_string).collect(),
        line_items,
        results,
    });
    s
}

fn with_state(v: &Value, state: &SyncState) -> Value {
    let mut v = v.clone();
    v["previousState"] = serde_json::to_value(state).expect("state");
    v
}

fn plan_json(v: &Value) -> Vec<u8> {
    serde_json::to_vec(&plan_once(v)).expect("plan JSON")
}

/// The next runs a whole ledger and its slice must plan alike: nothing new, a regrade, a
/// deleted assignment under a percent threshold.
fn next_runs(v: &Value) -> Vec<(&'static str, Value)> {
    let mut regrade = v.clone();
    regrade["classroom"]["studentSubmissions"][0]["studentSubmissions"][0]["assignedGrade"] =
        json!(3);
    let mut deleted = v.clone();
    deleted["config"]["holds"] = json!({
        "minChangesForPercent": 1,
        "thresholds": [{"entity": "result", "change": "delete", "maxPercent": 10}]
    });
    deleted["classroom"]["courseWork"][0]["courseWork"]
        .as_array_mut()
        .expect("courseWork")
        .retain(|w| w["id"] != "9003");
    vec![
        ("idle", v.clone()),
        ("regrade", regrade),
        ("deleted", deleted),
    ]
}

#[test]
fn a_slice_of_the_ledger_plans_what_the_whole_ledger_plans() {
    let (v, whole) = exported_twice();
    let slice = sliced(&whole, &[READ], None);
    assert!(
        slice.exported.results.len() < whole.exported.results.len(),
        "the slice leaves the other course out"
    );
    for (name, next) in next_runs(&v) {
        assert_eq!(
            plan_json(&with_state(&next, &slice)),
            plan_json(&with_state(&next, &whole)),
            "{name}"
        );
    }
}

#[test]
fn deletion_thresholds_compare_with_the_whole_ledger_not_the_slice() {
    let (v, whole) = exported_twice();
    let deleted = next_runs(&v).pop().expect("the deletion run").1;
    let percent_hold = |state: &SyncState| {
        plan_once(&with_state(&deleted, state))
            .holds
            .iter()
            .any(|h| h.code == HoldCode::Threshold && h.message.contains("exported results"))
    };
    // Against the whole ledger (50 more results) the deletion is under 10%...
    assert!(!percent_hold(&whole));
    assert!(!percent_hold(&sliced(&whole, &[READ], None)));
    // ...and against the slice alone it would not be: the totals are what keep it right.
    let slice_only = sliced(&whole, &[READ], None);
    let own = (
        slice_only.exported.line_items.len() as u64,
        slice_only.exported.results.len() as u64,
    );
    assert!(percent_hold(&sliced(&whole, &[READ], Some(own))));
}

#[test]
fn a_slice_without_a_course_the_run_reads_is_refused() {
    let (v, whole) = exported_twice();
    let err = classbridge_engine::plan(input(&with_state(&v, &sliced(&whole, &["7777"], None))))
        .expect_err("a slice without the course read");
    let message = err.to_string();
    assert!(message.contains(READ), "{message}");
    assert!(message.contains("ledger"), "{message}");
}

#[test]
fn a_session_takes_the_slice_and_plans_the_same() {
    let (v, whole) = exported_twice();
    let (start, chunks) = chunks_of(input(&with_state(&v, &sliced(&whole, &[READ], None))), 3);
    assert!(start.ledger_slice.is_some(), "the slice is said at begin");
    let (mut session, expects) = PlanSession::begin(start).expect("begin");
    assert_eq!(expects.ledger, "coursesRead");
    for chunk in chunks {
        let json = serde_json::to_vec(&chunk.expect("chunk")).expect("chunk JSON");
        session.feed_json(&json).expect("feed");
    }
    let mut plan = session.finish().expect("finish").plan;
    let got = session
        .ops(OpsRequest {
            from: 0,
            max: usize::MAX,
        })
        .expect("ops");
    plan.ops = got.ops;
    plan.id = got.plan_id.expect("the last page carries the plan's id");
    assert_eq!(
        serde_json::to_vec(&plan).expect("plan JSON"),
        plan_json(&with_state(&v, &whole))
    );
}
