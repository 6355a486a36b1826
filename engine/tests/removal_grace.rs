//! Removal grace: a student the SIS no longer has in a class stays in its course for
//! `classroom.removalGraceDays` days, the day they left kept in the state; the removal is
//! planned on the day the grace ends (with no change read that day), a re-enrolment meanwhile
//! cancels it, and a failed removal is retried without starting the grace again.

mod common;

use classbridge_engine::SyncPlan;
use classbridge_engine::plan::{OpOutcome, OutcomeResult};
use classbridge_engine::state::SyncState;
use common::*;
use serde_json::{Value, json};

const STUDENT: &str = "e-s1";

/// Day 1 committed, with the rule on; on `now` the SIS no longer has `e-s1` (cl1).
fn dropped(now: &str, grace_days: u32) -> Value {
    let mut v = day1();
    v["config"]["classroom"] = json!({ "removalGraceDays": grace_days });
    let (_, state) = run_clean(&v);
    let mut next = v.clone();
    next["previousState"] = serde_json::to_value(&state).expect("state");
    next["now"] = json!(now);
    remove(&mut next, "enrollments", STUDENT);
    next
}

fn removals(p: &SyncPlan) -> Vec<&str> {
    p.ops
        .iter()
        .filter(|o| o.key.starts_with("student.remove:"))
        .map(|o| o.key.as_str())
        .collect()
}

fn commit(v: &Value, p: &SyncPlan, outcomes: &[OpOutcome]) -> SyncState {
    classbridge_engine::commit(&input(v).previous_state, p, outcomes).expect("commit")
}

fn pending(state: &SyncState) -> Vec<(String, String, String)> {
    state
        .classroom
        .pending_removals
        .iter()
        .flat_map(|(class, students)| {
            students
                .iter()
                .map(|(email, since)| (class.clone(), email.clone(), since.clone()))
        })
        .collect()
}

#[test]
fn a_removed_student_stays_until_the_grace_ends_and_is_then_removed() {
    let v = dropped("2026-11-05T06:00:00Z", 7);
    let first = plan(&v);
    assert!(removals(&first).is_empty(), "{:?}", keys(&first));
    assert!(
        issue_mentions(&first, "until 2026-11-12"),
        "{:?}",
        first.record_issues
    );
    assert_eq!(first.summary.skipped.get("student.removalGrace"), Some(&1));
    let state = commit(&v, &first, &all_succeeded(&first));
    let kept = pending(&state);
    assert_eq!(kept.len(), 1, "{kept:?}");
    let (class, email, since) = &kept[0];
    assert_eq!((class.as_str(), since.as_str()), ("cl1", "2026-11-05"));
    assert!(
        state.classroom.students["cl1"].contains(email),
        "still a member"
    );

    // Three days on, nothing else changed: still kept, and the day they left is not moved.
    let midway = on_day(&v, "2026-11-08T06:00:00Z", &state);
    let second = plan(&midway);
    assert!(removals(&second).is_empty(), "{:?}", keys(&second));
    let state = commit(&midway, &second, &all_succeeded(&second));
    assert_eq!(pending(&state), kept);

    // The grace is over: the removal is planned, says why, and its success ends the grace.
    let due = on_day(&v, "2026-11-12T06:00:00Z", &state);
    let third = plan(&due);
    assert_eq!(removals(&third), [format!("student.remove:d:cl1:{email}")]);
    let op = third
        .ops
        .iter()
        .find(|o| o.key.starts_with("student.remove:"))
        .expect("removal");
    assert!(
        op.summary
            .contains("not in the SIS's class since 2026-11-05; its removal grace is over"),
        "{}",
        op.summary
    );
    let state = commit(&due, &third, &all_succeeded(&third));
    assert!(pending(&state).is_empty(), "{:?}", pending(&state));
    assert!(!state.classroom.students["cl1"].contains(email));
}

#[test]
fn a_student_enrolled_again_within_the_grace_is_never_removed() {
    let v = dropped("2026-11-05T06:00:00Z", 7);
    let first = plan(&v);
    let state = commit(&v, &first, &all_succeeded(&first));
    assert_eq!(pending(&state).len(), 1);

    // Back in the SIS's class two days later (a schedule change undone).
    let back = on_day(&day1(), "2026-11-07T06:00:00Z", &state);
    let mut back = back;
    back["config"]["classroom"] = json!({ "removalGraceDays": 7 });
    let second = plan(&back);
    assert!(second.ops.is_empty(), "{:?}", keys(&second));
    let state = commit(&back, &second, &[]);
    assert!(pending(&state).is_empty(), "the grace is cancelled");

    // Dropped again later: the grace starts again from that day.
    let again = on_day(&v, "2026-11-20T06:00:00Z", &state);
    let third = plan(&again);
    assert!(removals(&third).is_empty(), "{:?}", keys(&third));
    let state = commit(&again, &third, &[]);
    assert_eq!(pending(&state)[0].2, "2026-11-20");
}

#[test]
fn a_removal_that_fails_after_its_grace_is_retried_without_a_new_grace() {
    let v = dropped("2026-11-05T06:00:00Z", 7);
    let first = plan(&v);
    let state = commit(&v, &first, &all_succeeded(&first));
    let due = on_day(&v, "2026-11-12T06:00:00Z", &state);
    let second = plan(&due);
    assert_eq!(removals(&second).len(), 1);
    let failed: Vec<OpOutcome> = second
        .ops
        .iter()
        .map(|o| OpOutcome {
            op_id: o.op_id.clone(),
            result: OutcomeResult::Failed {
                error: "503 from Classroom".into(),
            },
        })
        .collect();
    let state = commit(&due, &second, &failed);
    assert_eq!(
        pending(&state)[0].2,
        "2026-11-05",
        "the day they left is kept"
    );
    let retry = plan(&on_day(&v, "2026-11-13T06:00:00Z", &state));
    assert_eq!(removals(&retry).len(), 1, "{:?}", keys(&retry));
}

#[test]
fn without_the_rule_a_removal_is_planned_at_once_and_nothing_is_kept() {
    let v = dropped("2026-11-05T06:00:00Z", 0);
    let p = plan(&v);
    assert_eq!(removals(&p).len(), 1, "{:?}", keys(&p));
    let state = commit(&v, &p, &all_succeeded(&p));
    assert!(pending(&state).is_empty());

    // Turning the rule off while a student is kept applies the removal on the next run.
    let graced = dropped("2026-11-05T06:00:00Z", 7);
    let first = plan(&graced);
    let state = commit(&graced, &first, &all_succeeded(&first));
    let mut off = on_day(&graced, "2026-11-06T06:00:00Z", &state);
    off["config"]["classroom"] = json!({ "removalGraceDays": 0 });
    let p = plan(&off);
    assert_eq!(removals(&p).len(), 1, "{:?}", keys(&p));
    let state = commit(&off, &p, &all_succeeded(&p));
    assert!(pending(&state).is_empty());
}

#[test]
fn a_grace_longer_than_a_year_is_a_config_error() {
    let mut v = day1();
    v["config"]["classroom"] = json!({ "removalGraceDays": 400 });
    let err = classbridge_engine::plan(input(&v)).expect_err("refused");
    assert!(
        err.to_string().contains("classroom.removalGraceDays"),
        "{err}"
    );
}
