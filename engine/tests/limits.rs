//! Classroom's limits are known before apply: additions past members per class, teachers per
//! class or classes per person are never planned (Google would refuse them mid-apply); the
//! people left out are named, the run is held by rule, and nobody already in is removed.

mod common;

use classbridge_engine::SyncPlan;
use classbridge_engine::plan::HoldCode;
use common::*;
use serde_json::{Value, json};

fn with_limits(mut v: Value, limits: Value) -> Value {
    v["config"]["classroom"] = json!({ "limits": limits });
    v
}

fn adds(plan: &SyncPlan, class: &str) -> Vec<String> {
    let prefix = |role: &str| format!("{role}.add:d:{class}:");
    let mut found: Vec<String> = plan
        .ops
        .iter()
        .filter(|o| o.key.starts_with(&prefix("teacher")) || o.key.starts_with(&prefix("student")))
        .map(|o| o.key.clone())
        .collect();
    found.sort();
    found
}

fn limit_issues(plan: &SyncPlan) -> Vec<String> {
    plan.record_issues
        .iter()
        .filter(|i| i.source == "limits")
        .map(|i| i.reason.clone())
        .collect()
}

fn held_for_limits(plan: &SyncPlan) -> bool {
    plan.holds
        .iter()
        .any(|h| h.code == HoldCode::ClassroomLimit)
}

#[test]
fn a_class_past_the_member_and_teacher_limits_gets_only_what_fits() {
    let generous = plan(&day1());
    assert!(!held_for_limits(&generous) && limit_issues(&generous).is_empty());
    // cl1: 2 teachers (Ada the owner, Alan) and 4 students.
    assert_eq!(
        adds(&generous, "cl1").len(),
        5,
        "{:?}",
        adds(&generous, "cl1")
    );

    let tight = plan(&with_limits(
        day1(),
        json!({"membersPerClass": 3, "teachersPerClass": 1}),
    ));
    let added = adds(&tight, "cl1");
    assert!(
        !added.iter().any(|k| k.starts_with("teacher.add")),
        "the owner is the one teacher: {added:?}"
    );
    assert_eq!(added.len(), 2, "owner + 2 students = 3 members: {added:?}");
    let issues = limit_issues(&tight);
    assert!(
        issues
            .iter()
            .any(|i| i.contains("cl1") && i.contains("1 teacher(s) not added: alan.turing")),
        "{issues:?}"
    );
    assert!(
        issues
            .iter()
            .any(|i| i.contains("cl1") && i.contains("2 student(s) not added")),
        "{issues:?}"
    );
    assert!(held_for_limits(&tight), "{:?}", tight.holds);
    assert!(tight.needs_approval());

    // The same, not held when the rule says so: the people over the limit stay out.
    let unheld = plan(&with_limits(
        day1(),
        json!({"membersPerClass": 3, "teachersPerClass": 1, "hold": false}),
    ));
    assert!(!held_for_limits(&unheld));
    assert_eq!(adds(&unheld, "cl1"), added);
}

#[test]
fn a_person_past_the_classes_they_may_join_is_left_out_of_the_later_ones() {
    let v = with_limits(day1(), json!({"classesPerUser": 1}));
    let p = plan(&v);
    let issues = limit_issues(&p);
    // Two students are in two classes each, and Alan teaches two: each keeps the first
    // class by id (Alan the one he owns, cl2) and is left out of the other.
    let over: Vec<&String> = issues
        .iter()
        .filter(|i| i.contains("classes per person"))
        .collect();
    assert_eq!(over.len(), 3, "{issues:?}");
    assert!(
        over.iter()
            .any(|i| i.starts_with("alan.turing") && i.ends_with(": cl1")),
        "the class he owns keeps him: {over:?}"
    );
    for issue in over {
        assert!(issue.contains("not added to 1 class(es)"), "{issue}");
    }
    assert!(held_for_limits(&p));
    let generous = plan(&day1());
    let count = |p: &SyncPlan| {
        p.ops
            .iter()
            .filter(|o| o.key.starts_with("student.add") || o.key.starts_with("teacher.add"))
            .count()
    };
    assert_eq!(count(&p) + 3, count(&generous));
}

#[test]
fn a_lower_limit_never_removes_anyone_already_in() {
    let (_, state) = run_clean(&day1());
    let mut next = with_limits(
        day1(),
        json!({"membersPerClass": 2, "teachersPerClass": 1, "classesPerUser": 1}),
    );
    next["previousState"] = serde_json::to_value(&state).expect("state");
    next["now"] = json!("2026-09-02T06:00:00Z");
    // A new student for cl1, which is already over the new limit.
    let mut extra = records(&mut next, "enrollments")
        .into_iter()
        .find(|e| {
            e["class"]["sourcedId"] == "cl2"
                && e["role"] == "student"
                // Not Sam Lee, whose email two users share (skipped as duplicates).
                && !["u-s5", "u-s6"].contains(&e["user"]["sourcedId"].as_str().unwrap_or(""))
        })
        .expect("a cl2 student")
        .clone();
    extra["sourcedId"] = json!("e-extra");
    extra["class"]["sourcedId"] = json!("cl1");
    next["sources"][0]["payload"]["collections"]["enrollments"]["pages"][0]["enrollments"]
        .as_array_mut()
        .expect("enrollments")
        .push(extra);
    let p = plan(&next);
    assert!(
        !p.ops.iter().any(|o| o.key.contains(".remove:")),
        "{:?}",
        keys(&p)
    );
    assert!(adds(&p, "cl1").is_empty(), "{:?}", keys(&p));
    assert!(
        p.roster_changes.iter().any(|c| c.sourced_id == "e-extra"),
        "the new enrolment is in the roster"
    );
    assert!(held_for_limits(&p), "a new enrolment left out is news");
}

#[test]
fn a_class_that_stays_over_its_limit_is_reported_every_run_but_held_once() {
    let tight = with_limits(day1(), json!({"membersPerClass": 3, "teachersPerClass": 1}));
    let (first, state) = run_clean(&tight);
    assert!(held_for_limits(&first));
    let mut next = tight.clone();
    next["previousState"] = serde_json::to_value(&state).expect("state");
    next["now"] = json!("2026-09-02T06:00:00Z");
    let p = plan(&next);
    assert!(!limit_issues(&p).is_empty(), "still said");
    assert!(!held_for_limits(&p), "{:?}", p.holds);
    assert!(adds(&p, "cl1").is_empty(), "{:?}", keys(&p));
}

#[test]
fn a_limit_of_zero_is_a_config_error_naming_the_field() {
    let v = with_limits(day1(), json!({"membersPerClass": 0}));
    let err = classbridge_engine::plan(input(&v)).expect_err("refused");
    assert!(
        err.to_string().contains("classroom.limits.membersPerClass"),
        "{err}"
    );
    let v = with_limits(
        day1(),
        json!({"membersPerClass": 10, "teachersPerClass": 20}),
    );
    let err = classbridge_engine::plan(input(&v)).expect_err("refused");
    assert!(
        err.to_string()
            .contains("classroom.limits.teachersPerClass"),
        "{err}"
    );
}
