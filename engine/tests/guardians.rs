//! Guardians (issue 18, item 5): with `classroom.guardians` on, a student's parents and
//! guardians linked through OneRoster `agents` are invited once as Classroom guardians, and
//! an invitation whose link the SIS drops is withdrawn.

mod common;

use classbridge_engine::SyncPlan;
use classbridge_engine::plan::{Action, OpEntity, OpOutcome, OutcomeResult};
use classbridge_engine::state::SyncState;
use common::*;
use serde_json::{Value, json};

const PARENT: &str = "rosa.nguyen@example.com";
const CHILD: &str = "liam.nguyen@students.district.org";

/// Day 1 with Rosa (u-p1) linked to her son Liam (u-s1) from her side.
fn linked(on: bool) -> Value {
    let mut v = day1();
    v["config"]["classroom"] = json!({ "guardians": on });
    edit(&mut v, "users", "u-p1", |u| {
        u["agents"] = json!([{"sourcedId": "u-s1", "type": "user"}]);
    });
    v
}

fn guardian_ops(p: &SyncPlan) -> Vec<&classbridge_engine::plan::PlannedOp> {
    p.ops
        .iter()
        .filter(|o| o.entity == OpEntity::Guardian)
        .collect()
}

fn applied(p: &SyncPlan) -> Vec<OpOutcome> {
    let mut outcomes = all_succeeded(p);
    for (o, op) in outcomes.iter_mut().zip(&p.ops) {
        if matches!(op.action, Action::ClassroomInviteGuardian { .. }) {
            o.result = OutcomeResult::Succeeded {
                remote_id: Some("ginv-1".into()),
            };
        }
    }
    outcomes
}

#[test]
fn a_linked_parent_is_invited_once_and_withdrawn_when_the_link_goes() {
    let v = linked(true);
    let first = plan(&v);
    let ops = guardian_ops(&first);
    assert_eq!(ops.len(), 1, "{:?}", keys(&first));
    assert_eq!(
        ops[0].action,
        Action::ClassroomInviteGuardian {
            student_id: CHILD.into(),
            email: PARENT.into(),
        }
    );
    assert!(
        ops[0].summary.starts_with(
            "invite Rosa Nguyen (rosa.nguyen@example.com) as a guardian of student Liam Nguyen"
        ),
        "{}",
        ops[0].summary
    );
    let state =
        classbridge_engine::commit(&SyncState::default(), &first, &applied(&first)).expect("c");
    assert_eq!(
        state.classroom.guardians[CHILD][PARENT]
            .invitation_id
            .as_deref(),
        Some("ginv-1")
    );

    // Sent once.
    let mut again = v.clone();
    again["previousState"] = serde_json::to_value(&state).expect("state");
    again["now"] = json!("2026-09-02T06:00:00Z");
    assert!(guardian_ops(&plan(&again)).is_empty());

    // The SIS drops the link: the pending invitation is withdrawn.
    edit(&mut again, "users", "u-p1", |u| u["agents"] = json!([]));
    let dropped = plan(&again);
    let ops = guardian_ops(&dropped);
    assert_eq!(ops.len(), 1, "{:?}", keys(&dropped));
    assert_eq!(
        ops[0].action,
        Action::ClassroomWithdrawGuardianInvitation {
            student_id: CHILD.into(),
            invitation_id: "ginv-1".into(),
        }
    );
    let why = ops[0].why.as_deref().expect("explained");
    assert!(
        why.text().contains("no longer links guardian"),
        "{}",
        why.text()
    );
    let state = classbridge_engine::commit(&state, &dropped, &applied(&dropped)).expect("c");
    assert!(state.classroom.guardians.is_empty());
}

#[test]
fn a_link_from_the_student_s_side_counts_and_the_rule_is_off_by_default() {
    let mut v = day1();
    v["config"]["classroom"] = json!({ "guardians": true });
    edit(&mut v, "users", "u-s1", |u| {
        u["agents"] = json!([{"sourcedId": "u-p1", "type": "user"}]);
    });
    assert_eq!(guardian_ops(&plan(&v)).len(), 1);
    assert!(guardian_ops(&plan(&linked(false))).is_empty(), "opt-in");
}
