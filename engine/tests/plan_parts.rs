//! The requests a host sends with a part of a plan (an undo's `UndoPartRequest`, a commit's
//! parts) are read by the module as the requests they stand for, every field arriving: a
//! misnamed field with a default would otherwise be read as empty (an undo with no priors, a
//! commit with no outcomes) and nothing would fail.

mod common;

use std::borrow::Cow;
use std::collections::BTreeMap;

use classbridge_engine::commit_rows::{
    CommitNeedsRequest, CommitRowsRequest, UndoPartRequest, commit_parts, ops_part,
};
use classbridge_engine::plan_to_commit::PlanToCommit;
use classbridge_engine::rows::StatePart;
use classbridge_engine::session::StateRow;
use classbridge_engine::undo::{PriorRecord, UndoFacts, UndoRequest};
use common::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

/// `sent` as the module reads it: written to JSON and read as `T`.
fn as_read<T: DeserializeOwned>(sent: &impl Serialize) -> T {
    let text = serde_json::to_string(sent).expect("a request writes");
    serde_json::from_str(&text).expect("the module reads it as its request")
}

#[test]
fn undo_parts_are_read_with_the_operations_and_every_other_field() {
    let plan = plan(&day1());
    assert!(plan.ops.len() > 2, "a first sync has operations");
    let outcomes = all_succeeded(&plan);

    let priors = BTreeMap::from([
        (plan.ops[0].op_id.clone(), PriorRecord::Absent),
        (
            plan.ops[1].op_id.clone(),
            PriorRecord::Record(json!({"result": {"sourcedId": "r1", "score": 91}})),
        ),
    ]);
    let facts = UndoFacts {
        course_work: BTreeMap::from([("d:cl1".to_string(), 2)]),
        topic_work: BTreeMap::from([("t1".to_string(), 1)]),
        submissions: BTreeMap::from([(
            "d:cl1".to_string(),
            BTreeMap::from([("s1@example.org".to_string(), 3)]),
        )]),
    };
    let read: UndoRequest = as_read(&UndoPartRequest {
        run: 7,
        plan: ops_part(&plan),
        outcomes: &outcomes,
        priors: priors.clone(),
        facts: facts.clone(),
        base_revision: 3,
        now: "2026-12-07T04:00:00Z".to_string(),
    });
    assert_eq!(read.run, 7);
    assert_eq!(read.plan.ops, plan.ops);
    assert_eq!(*read.outcomes, outcomes[..]);
    assert_eq!(read.priors, priors);
    assert_eq!(read.facts, facts);
    assert_eq!(read.base_revision, 3);
    assert_eq!(read.now, "2026-12-07T04:00:00Z");
}

#[test]
fn commit_parts_are_read_as_commit_requests_with_their_part_outcomes_and_rows() {
    let plan = plan(&day1());
    let outcomes = all_succeeded(&plan);
    let rows = vec![StateRow(
        StatePart::Roster,
        String::new(),
        "users".to_string(),
        "u1".to_string(),
        classbridge_engine::JsonText::from_value(&json!({"sourcedId": "u1"})).expect("a row"),
    )];
    let mut parts = 0;
    for part in commit_parts(&plan, 7) {
        parts += 1;
        let needs: CommitNeedsRequest = as_read(&CommitNeedsRequest { plan: part.clone() });
        assert_eq!(needs.plan, part);

        let with = if part.ops.is_empty() {
            &[][..]
        } else {
            &outcomes[..]
        };
        let read: CommitRowsRequest = as_read(&CommitRowsRequest {
            revision: 5,
            plan: part.clone(),
            outcomes: Cow::Borrowed(with),
            rows: rows.clone(),
        });
        assert_eq!(read.revision, 5);
        assert_eq!(read.plan, part);
        assert_eq!(*read.outcomes, *with);
        assert_eq!(read.rows, rows);
    }
    assert!(parts > 2, "a first sync commits in several parts of 7");
}

#[test]
fn a_whole_plan_is_read_as_the_plan_to_commit_and_a_part_carries_no_request_body() {
    let plan = plan(&day1());
    // A partner may send the plan it has: it is read as what committing needs of it.
    let read: PlanToCommit = as_read(&plan);
    assert_eq!(read, PlanToCommit::of(&plan));
    assert_eq!(read.ops.len(), plan.ops.len());
    assert_eq!(read.state_delta.as_ref(), &plan.state_delta);

    // The part with the operations carries their ids, keys and effects, and nothing of the
    // requests or explanations, which are most of a grade export's plan.
    let last = commit_parts(&plan, 50)
        .last()
        .expect("a part with the operations");
    assert_eq!(last.ops.len(), plan.ops.len());
    let text = serde_json::to_string(&last).expect("a part writes");
    for field in ["\"action\"", "\"why\"", "\"summary\"", "\"after\""] {
        assert!(!text.contains(field), "the part carries {field}");
    }
    let whole = serde_json::to_string(&plan.ops).expect("operations write");
    assert!(
        text.len() < whole.len() / 2,
        "the part's {} bytes against the operations' {}",
        text.len(),
        whole.len()
    );
}
