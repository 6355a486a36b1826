//! `classroom.newCoursesPerRun`: a first sync in bounded runs. Each run makes at most that
//! many courses, school by school, with their members and topics; the classes left wait,
//! whole, and the next runs make them, also when those runs read only the SIS's changes.

mod common;

use classbridge_engine::SyncPlan;
use classbridge_engine::needs::{EnrollmentNeeds, NeedsFacts, config_digest, enrollment_needs};
use classbridge_engine::state::SyncState;
use common::*;
use serde_json::{Value, json};

fn limited(per_run: u32) -> Value {
    let mut v = day1();
    v["config"]["classroom"] = json!({ "newCoursesPerRun": per_run });
    v
}

/// The classes a plan makes a course for, and those it adds anyone to.
fn courses_made(p: &SyncPlan) -> Vec<String> {
    p.ops
        .iter()
        .filter(|o| o.key.starts_with("course.create:"))
        .filter_map(|o| o.class_id.as_deref().map(str::to_string))
        .collect()
}

fn members_of(p: &SyncPlan) -> Vec<String> {
    let mut classes: Vec<String> = p
        .ops
        .iter()
        .filter(|o| o.key.starts_with("teacher.add:") || o.key.starts_with("student.add:"))
        .filter_map(|o| o.class_id.as_deref().map(str::to_string))
        .collect();
    classes.sort();
    classes.dedup();
    classes
}

fn commit_all(v: &Value, p: &SyncPlan) -> SyncState {
    classbridge_engine::commit(&input(v).previous_state, p, &all_succeeded(p)).expect("commit")
}

#[test]
fn courses_come_school_by_school_one_run_at_a_time_whole() {
    // cl1 and cl3 are school s1's, cl2 is s2's.
    let v = limited(1);
    let first = plan(&v);
    assert_eq!(courses_made(&first), ["cl1"]);
    assert_eq!(
        members_of(&first),
        ["cl1"],
        "a waiting class gets no member"
    );
    assert_eq!(
        first.summary.skipped.get("class.waitsForLaterRun"),
        Some(&2)
    );
    assert!(
        issue_mentions(&first, "2 of 3 new courses wait for later runs"),
        "{:?}",
        first.record_issues
    );
    let state = commit_all(&v, &first);

    let second_run = on_day(&v, "2026-09-02T06:00:00Z", &state);
    let second = plan(&second_run);
    assert_eq!(courses_made(&second), ["cl3"], "school s1 first");
    assert_eq!(members_of(&second), ["cl3"], "cl1 is not touched again");
    let state = commit_all(&second_run, &second);

    let third_run = on_day(&v, "2026-09-03T06:00:00Z", &state);
    let third = plan(&third_run);
    assert_eq!(courses_made(&third), ["cl2"]);
    assert!(!third.summary.skipped.contains_key("class.waitsForLaterRun"));
    let state = commit_all(&third_run, &third);

    // The same three courses and members as one run without the limit.
    let whole = plan(&day1());
    let mut made: Vec<String> = [&first, &second, &third]
        .iter()
        .flat_map(|p| p.ops.iter().map(|o| o.key.clone()))
        .collect();
    let mut at_once: Vec<String> = whole.ops.iter().map(|o| o.key.clone()).collect();
    made.sort();
    at_once.sort();
    assert_eq!(made, at_once);
    let idle = plan(&on_day(&v, "2026-09-04T06:00:00Z", &state));
    assert!(idle.ops.is_empty(), "{:?}", keys(&idle));
}

#[test]
fn a_failed_creation_keeps_its_place_and_a_larger_limit_takes_more() {
    let v = limited(2);
    let first = plan(&v);
    let mut made = courses_made(&first);
    made.sort();
    assert_eq!(made, ["cl1", "cl3"], "school s1's two classes");
    // cl3's course fails: it is made next run, with the class that waited.
    let mut outcomes = all_succeeded(&first);
    for (op, outcome) in first.ops.iter().zip(outcomes.iter_mut()) {
        if op.class_id.as_deref() == Some("cl3") {
            outcome.result = classbridge_engine::plan::OutcomeResult::Failed {
                error: "503".into(),
            };
        }
    }
    let state =
        classbridge_engine::commit(&input(&v).previous_state, &first, &outcomes).expect("commit");
    let second = plan(&on_day(&v, "2026-09-02T06:00:00Z", &state));
    let mut made = courses_made(&second);
    made.sort();
    assert_eq!(made, ["cl2", "cl3"]);
}

#[test]
fn a_delta_run_asks_for_the_classes_that_wait() {
    let v = limited(1);
    let first = plan(&v);
    let state = commit_all(&v, &first);
    let facts = NeedsFacts {
        planned_on: Some("2026-09-01".into()),
        config_digest: Some(config_digest(&input(&v).config)),
        left_out: false,
        ..NeedsFacts::default()
    };
    // A delta read that changed nothing.
    let mut run = on_day(&v, "2026-09-01T18:00:00Z", &state);
    for collection in collections(&mut run)
        .as_object_mut()
        .expect("collections")
        .values_mut()
    {
        collection["mode"] = json!("delta");
        for page in collection["pages"].as_array_mut().expect("pages") {
            for records in page.as_object_mut().expect("page").values_mut() {
                *records = json!([]);
            }
        }
    }
    let run = input(&run);
    let needs = enrollment_needs(
        &run.config,
        &run.sources,
        &run.classroom,
        &run.previous_state,
        &run.now,
        &facts,
    );
    match needs {
        EnrollmentNeeds::Slice(ask) => {
            assert!(
                ask.classes.contains("cl2") && ask.classes.contains("cl3"),
                "{ask:?}"
            );
            assert!(!ask.classes.contains("cl1"), "made, unchanged: {ask:?}");
        }
        EnrollmentNeeds::All { reason } => panic!("a slice was expected: {reason}"),
    }
}

#[test]
fn zero_is_refused_with_the_field_named() {
    let v = limited(0);
    let err = classbridge_engine::plan(input(&v)).expect_err("0 courses per run");
    assert!(
        err.to_string().contains("classroom.newCoursesPerRun"),
        "{err}"
    );
}
