//! Undo (issue 19): the inverse of an applied run — members back, courses restored, what the
//! run made deleted while empty, SIS records put back as they were — as a plan that waits
//! for approval; what cannot be undone is listed, never forced.

mod common;

use std::borrow::Cow;
use std::collections::BTreeMap;

use classbridge_engine::SyncPlan;
use classbridge_engine::plan::{Action, OpChange, OpEntity, OpOutcome};
use classbridge_engine::state::SyncState;
use classbridge_engine::undo::{PriorRecord, UndoFacts, UndoRequest, undo};
use common::*;
use serde_json::{Value, json};

fn undo_of(
    run: u64,
    plan: &SyncPlan,
    outcomes: &[OpOutcome],
    facts: UndoFacts,
    priors: BTreeMap<String, PriorRecord>,
    revision: u64,
) -> SyncPlan {
    undo(&UndoRequest {
        run,
        plan: Cow::Borrowed(plan),
        outcomes: Cow::Borrowed(outcomes),
        priors,
        facts,
        base_revision: revision,
        now: "2026-11-06T06:00:00Z".into(),
    })
    .expect("undo plans")
}

fn actions(p: &SyncPlan) -> Vec<(&str, OpChange, OpEntity)> {
    p.ops
        .iter()
        .map(|o| match &o.action {
            Action::ClassroomDeleteCourse { .. } => "deleteCourse",
            Action::ClassroomAddStudent { .. } => "addStudent",
            Action::ClassroomRemoveStudent { .. } => "removeStudent",
            Action::ClassroomPatchCourse { .. } => "patchCourse",
            Action::OneRosterPut { .. } => "put",
            Action::OneRosterDelete { .. } => "delete",
            _ => "other",
        })
        .zip(p.ops.iter().map(|o| (o.change, o.entity)))
        .map(|(a, (c, e))| (a, c, e))
        .collect()
}

/// Day 1 applied, then on 2026-11-05 Liam's enrolment ends and cl2 is renamed: applied.
fn second_run() -> (Value, SyncPlan, SyncState) {
    let mut v = after_day1("2026-11-05T06:00:00Z");
    edit(&mut v, "enrollments", "e-s1", |e| {
        e["endDate"] = json!("2026-11-01");
    });
    edit(&mut v, "classes", "cl2", |c| {
        c["title"] = json!("Life Science - P4");
    });
    let p = plan(&v);
    let state = classbridge_engine::commit(&input(&v).previous_state, &p, &all_succeeded(&p))
        .expect("commit");
    (v, p, state)
}

#[test]
fn a_roster_run_is_undone_member_by_member_and_the_course_restored() {
    let (_, applied, state) = second_run();
    let u = undo_of(
        2,
        &applied,
        &all_succeeded(&applied),
        UndoFacts::default(),
        BTreeMap::new(),
        state.revision,
    );
    assert!(u.preview_required, "an undo always waits for approval");
    assert_eq!(
        actions(&u),
        [
            ("patchCourse", OpChange::Update, OpEntity::Course),
            ("addStudent", OpChange::Create, OpEntity::Student),
        ]
    );
    let restore = &u.ops[0];
    match &restore.action {
        Action::ClassroomPatchCourse {
            course,
            update_mask,
            ..
        } => {
            assert_eq!(update_mask, &["name"]);
            assert_eq!(course["name"], "Life Science - P3");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        u.ops[1].summary.contains("(undoes run 2)"),
        "{}",
        u.ops[1].summary
    );
    assert!(u.ops.iter().all(|o| {
        o.why
            .as_ref()
            .is_some_and(|w| w.text().contains("run 2 applied"))
    }));
    // Applied, the undo puts the state back: Liam a member again, the old name.
    let after = classbridge_engine::commit(&state, &u, &all_succeeded(&u)).expect("commit");
    assert!(after.classroom.students["cl1"].contains("liam.nguyen@students.district.org"));
    assert_eq!(after.classroom.courses["cl2"].name, "Life Science - P3");
    // Only what succeeded is undone.
    let failed: Vec<OpOutcome> = all_succeeded(&applied)
        .into_iter()
        .map(|mut o| {
            if applied
                .ops
                .iter()
                .any(|x| x.op_id == o.op_id && x.entity == OpEntity::Student)
            {
                o.result = classbridge_engine::plan::OutcomeResult::Failed { error: "x".into() };
            }
            o
        })
        .collect();
    let partial = undo_of(
        2,
        &applied,
        &failed,
        UndoFacts::default(),
        BTreeMap::new(),
        state.revision,
    );
    assert_eq!(actions(&partial).len(), 1);
}

#[test]
fn a_first_sync_s_courses_are_deleted_only_while_empty_of_teacher_work() {
    let v = day1();
    let p = plan(&v);
    let mut facts = UndoFacts::default();
    facts.course_work.insert("d:cl1".into(), 3);
    facts.course_work.insert("d:cl2".into(), 0);
    // d:cl3 could not be read.
    let state = classbridge_engine::commit(&input(&v).previous_state, &p, &all_succeeded(&p))
        .expect("commit");
    let u = undo_of(
        1,
        &p,
        &all_succeeded(&p),
        facts,
        BTreeMap::new(),
        state.revision,
    );
    let deleted: Vec<&str> = u
        .ops
        .iter()
        .filter_map(|o| match &o.action {
            Action::ClassroomDeleteCourse { alias } => Some(alias.as_ref()),
            _ => None,
        })
        .collect();
    assert_eq!(deleted, ["d:cl2"]);
    // Nothing else of cl2 (its members and topics go with it); cl1's members and topics are
    // taken back one by one, but its course stays and says why.
    assert!(u.ops.iter().all(|o| o.class_id.as_deref() != Some("cl2")
        || matches!(o.action, Action::ClassroomDeleteCourse { .. })));
    assert!(
        u.record_issues.iter().any(|i| i
            .reason
            .contains("teachers have since posted 3 piece(s) of work")),
        "{:?}",
        u.record_issues
    );
    assert!(
        u.record_issues
            .iter()
            .any(|i| i.reason.contains("could not be asked")),
        "{:?}",
        u.record_issues
    );
    // Students who have turned in nothing are removed, unless Classroom could not be asked.
    assert!(
        u.record_issues
            .iter()
            .any(|i| i.reason.contains("whether the student has turned in work"))
    );
}

#[test]
fn a_grade_export_is_put_back_from_the_values_it_replaced() {
    let mut v = after_day1("2026-10-01T06:00:00Z");
    v["classroom"] = classroom_graded();
    let p = plan(&v);
    let line_item = p
        .ops
        .iter()
        .find(|o| o.entity == OpEntity::LineItem)
        .expect("a lineItem written");
    let results: Vec<&classbridge_engine::plan::PlannedOp> = p
        .ops
        .iter()
        .filter(|o| o.entity == OpEntity::Result)
        .collect();
    assert!(results.len() >= 2);
    let puts = [line_item, results[0], results[1]];
    let mut priors = BTreeMap::new();
    // The first was new to the SIS; the second replaced a teacher's hand-entered score; the
    // third's value before was not recorded.
    priors.insert(puts[0].op_id.clone(), PriorRecord::Absent);
    let before = json!({"result": {"sourcedId": "r-x", "score": 7.0, "scoreStatus": "fully graded", "lineItem": {"sourcedId": "li-9", "type": "lineItem"}}});
    priors.insert(puts[1].op_id.clone(), PriorRecord::Record(before.clone()));
    let u = undo_of(3, &p, &all_succeeded(&p), UndoFacts::default(), priors, 2);
    let of = |original: &str| {
        u.ops
            .iter()
            .find(|o| o.key.ends_with(original))
            .unwrap_or_else(|| panic!("no undo of {original}"))
    };
    assert!(matches!(
        of(&puts[0].key).action,
        Action::OneRosterDelete { .. }
    ));
    match &of(&puts[1].key).action {
        Action::OneRosterPut { body, .. } => {
            let sent = body.to_value().expect("json");
            assert_eq!(sent["result"]["score"], 7.0);
        }
        other => panic!("{other:?}"),
    }
    assert!(
        u.record_issues
            .iter()
            .any(|i| i.sourced_id.as_deref() == Some(puts[2].op_id.as_str())
                && i.reason.contains("was not recorded")),
        "{:?}",
        u.record_issues
    );
}
