//! The whole cycle on the fixture district: first sync, changes, reconnect, approve, commit.

mod common;

use classbridge_engine::config::ChangeKind;
use classbridge_engine::model::EntityKind;
use classbridge_engine::plan::{Decisions, OpChange, OpEntity, OpOutcome, OutcomeResult};
use classbridge_engine::{EngineError, approve, commit};
use common::*;
use serde_json::json;

#[test]
fn first_sync_creates_courses_with_owners_members_and_topics() {
    let plan = plan(&day1());
    assert!(plan.holds.is_empty(), "{:?}", plan.holds);
    let create = |alias: &str| {
        plan.ops
            .iter()
            .find(|o| o.key == format!("course.create:{alias}"))
            .expect("course op")
    };
    let cl1 = create("d:cl1");
    assert_eq!(
        cl1.after.as_ref().unwrap()["ownerId"],
        "ada.lovelace@district.org",
        "primary teacher owns the course"
    );
    assert_eq!(cl1.after.as_ref().unwrap()["name"], "Algebra I - P1");
    assert_eq!(cl1.after.as_ref().unwrap()["section"], "ALG1-P1");
    assert!(has_key(&plan, "teacher.add:d:cl1:alan.turing@district.org"));
    assert!(
        !has_key(&plan, "teacher.add:d:cl1:ada.lovelace@district.org"),
        "owner joins by creation"
    );
    for s in ["liam.nguyen", "olivia.garcia", "noah.kim", "emma.brown"] {
        assert!(
            has_key(
                &plan,
                &format!("student.add:d:cl1:{s}@students.district.org")
            ),
            "{s}"
        );
    }
    assert!(has_key(&plan, "topic.create:d:cl1:cat-hw"));
    assert!(has_key(&plan, "topic.create:d:cl2:cat-test"));
    assert_eq!(
        plan.summary.operations[&OpEntity::Course][&OpChange::Create],
        3
    );
}

#[test]
fn ops_are_ordered_courses_before_members_and_depend_on_their_course() {
    let plan = plan(&day1());
    let first_member = plan
        .ops
        .iter()
        .position(|o| o.entity == OpEntity::Student)
        .unwrap();
    let last_course = plan
        .ops
        .iter()
        .rposition(|o| o.entity == OpEntity::Course)
        .unwrap();
    assert!(last_course < first_member);
    let course_id = plan
        .ops
        .iter()
        .find(|o| o.key == "course.create:d:cl1")
        .unwrap()
        .op_id
        .clone();
    let student = plan
        .ops
        .iter()
        .find(|o| o.key.starts_with("student.add:d:cl1:"))
        .unwrap();
    assert_eq!(student.depends_on, vec![course_id]);
}

#[test]
fn duplicate_email_students_are_reported_and_not_added() {
    let plan = plan(&day1());
    assert!(
        !plan
            .ops
            .iter()
            .any(|o| o.person.as_deref() == Some("sam.lee@students.district.org"))
    );
    let dup: Vec<_> = plan
        .record_issues
        .iter()
        .filter(|i| i.reason.contains("duplicate email"))
        .collect();
    assert_eq!(dup.len(), 2, "{dup:?}");
    assert!(dup.iter().any(|i| i.sourced_id.as_deref() == Some("u-s5")));
    assert!(has_key(
        &plan,
        "student.add:d:cl2:ava.martin@students.district.org"
    ));
}

#[test]
fn parents_and_administrators_never_join_courses() {
    let plan = plan(&day1());
    for who in ["rosa.nguyen@example.com", "maya.patel@district.org"] {
        assert!(
            !plan.ops.iter().any(|o| o.person.as_deref() == Some(who)),
            "{who}"
        );
    }
}

#[test]
fn planning_again_after_a_clean_commit_plans_nothing() {
    let v = after_day1("2026-09-02T06:00:00Z");
    let plan = plan(&v);
    assert!(plan.ops.is_empty(), "{:?}", keys(&plan));
    assert!(plan.roster_changes.is_empty());
    let delta = &plan.state_delta;
    assert!(delta.roster.is_empty(), "{:?}", delta.roster);
    assert!(
        delta
            .sources
            .values()
            .all(classbridge_engine::delta::RosterDelta::is_empty)
    );
}

#[test]
fn an_incremental_plan_carries_only_the_changed_records_and_commits_to_the_full_state() {
    let mut v = after_day1("2026-09-02T06:00:00Z");
    edit(&mut v, "classes", "cl1", |c| {
        c["title"] = json!("Algebra I - Period 1");
    });
    remove(&mut v, "enrollments", "e-s1");
    let p = plan(&v);
    let delta = &p.state_delta;
    assert_eq!(
        delta.roster.classes.upsert.keys().collect::<Vec<_>>(),
        ["cl1"]
    );
    assert_eq!(delta.roster.enrollments.remove, ["e-s1"]);
    assert!(delta.roster.users.is_empty() && delta.roster.orgs.is_empty());
    let source = delta.sources.values().next().expect("one source");
    assert_eq!(source.classes.upsert.len(), 1);
    assert_eq!(source.enrollments.remove, ["e-s1"]);

    let previous = input(&v).previous_state;
    let next = classbridge_engine::commit(&previous, &p, &all_succeeded(&p)).expect("commit");
    assert_eq!(next.revision, previous.revision + 1);
    assert_eq!(next.roster.classes["cl1"].title, "Algebra I - Period 1");
    assert!(!next.roster.enrollments.contains_key("e-s1"));
    assert_eq!(
        next.roster.users, previous.roster.users,
        "untouched tables stay"
    );
    // The same day planned from scratch reaches the same roster.
    let mut fresh = v.clone();
    fresh
        .as_object_mut()
        .expect("object")
        .remove("previousState");
    assert_eq!(next.roster, base(&fresh, &plan(&fresh)).roster);
}

#[test]
fn a_renamed_class_patches_only_the_course_name() {
    let mut v = after_day1("2026-09-02T06:00:00Z");
    edit(&mut v, "classes", "cl1", |c| {
        c["title"] = json!("Algebra I - Period 1");
    });
    let plan = plan(&v);
    assert_eq!(plan.ops.len(), 1, "{:?}", keys(&plan));
    let op = &plan.ops[0];
    assert_eq!(op.change, OpChange::Update);
    assert_eq!(op.before.as_ref().unwrap()["name"], "Algebra I - P1");
    assert_eq!(op.after.as_ref().unwrap()["name"], "Algebra I - Period 1");
    let change = &plan.roster_changes[0];
    assert_eq!(
        (change.entity, change.change),
        (EntityKind::Class, ChangeKind::Update)
    );
    assert_eq!(change.fields.len(), 1);
    assert_eq!(change.fields[0].field, "title");
}

#[test]
fn classroom_mastered_title_is_never_overwritten() {
    let mut v = after_day1("2026-09-02T06:00:00Z");
    v["config"]["masterFields"] =
        json!([{"entity": "Roster", "field": "title", "master": "classroom"}]);
    edit(&mut v, "classes", "cl1", |c| {
        c["title"] = json!("Renamed in the SIS");
    });
    let plan = plan(&v);
    assert!(plan.ops.is_empty(), "{:?}", keys(&plan));
    assert_eq!(
        plan.roster_changes.len(),
        1,
        "the SIS change is still shown"
    );
}

#[test]
fn a_dropped_student_leaves_every_course_with_the_cause_shown() {
    let mut v = after_day1("2026-09-02T06:00:00Z");
    remove(&mut v, "users", "u-s2");
    remove(&mut v, "enrollments", "e-s2");
    // e-s2b still lists the dropped user: it goes by cascade, not as an error.
    let plan = plan(&v);
    let removals: Vec<_> = keys(&plan)
        .into_iter()
        .filter(|k| k.starts_with("student.remove"))
        .collect();
    assert_eq!(
        removals,
        vec![
            "student.remove:d:cl1:olivia.garcia@students.district.org",
            "student.remove:d:cl3:olivia.garcia@students.district.org"
        ]
    );
    let enrollment_deletes: Vec<_> = plan
        .roster_changes
        .iter()
        .filter(|c| c.entity == EntityKind::Enrollment)
        .collect();
    assert_eq!(enrollment_deletes.len(), 2);
    assert!(
        enrollment_deletes
            .iter()
            .all(|c| c.cause.as_deref() == Some("user 'u-s2' was removed"))
    );
    assert!(
        !plan
            .record_issues
            .iter()
            .any(|i| i.sourced_id.as_deref() == Some("e-s2b")),
        "cascade is not an error"
    );
}

#[test]
fn a_removed_class_archives_its_course() {
    let mut v = after_day1("2026-09-02T06:00:00Z");
    remove(&mut v, "classes", "cl3");
    remove(&mut v, "enrollments", "e-t3b");
    remove(&mut v, "enrollments", "e-s2b");
    remove(&mut v, "enrollments", "e-s3b");
    let plan = plan(&v);
    let archive = plan
        .ops
        .iter()
        .find(|o| o.change == OpChange::Archive)
        .expect("archive");
    assert_eq!(archive.key, "course.archive:d:cl3");
    assert!(
        !has_key(&plan, "student.remove:d:cl3"),
        "an archived course keeps its members"
    );
}

#[test]
fn members_added_by_hand_in_classroom_are_left_alone() {
    let mut v = after_day1("2026-09-02T06:00:00Z");
    // Someone is in the Classroom course but never was in the SIS roster.
    let mut listings = classroom_graded();
    listings["students"][0]["students"].as_array_mut().unwrap().push(json!({"courseId": "5001", "userId": "999", "profile": {"emailAddress": "guest@district.org"}}));
    v["classroom"] = listings;
    let plan = plan(&v);
    assert!(
        !plan
            .ops
            .iter()
            .any(|o| o.person.as_deref() == Some("guest@district.org"))
    );
}

#[test]
fn reconnect_with_wiped_state_adopts_what_classroom_has() {
    let mut v = day1();
    v["classroom"] = classroom_graded();
    v["config"]["mode"] = json!("importOnly");
    let plan = plan(&v);
    assert!(!has_key(&plan, "course.create"), "{:?}", keys(&plan));
    assert!(
        !has_key(&plan, "topic.create:d:cl1"),
        "topics found by name"
    );
    // Only what Classroom lacks is written: the topics of the courses that have none yet.
    let mut written = keys(&plan);
    written.sort();
    assert_eq!(
        written,
        vec![
            "topic.create:d:cl2:cat-hw",
            "topic.create:d:cl2:cat-test",
            "topic.create:d:cl3:cat-hw",
            "topic.create:d:cl3:cat-test"
        ]
    );
    assert_eq!(
        base(&v, &plan).classroom.courses["cl1"]
            .course_id
            .as_deref(),
        Some("5001")
    );
}

#[test]
fn a_class_without_a_teacher_uses_the_fallback_owner_or_is_reported() {
    let mut v = day1();
    remove(&mut v, "enrollments", "e-t3b");
    let plan1 = plan(&v);
    assert!(!has_key(&plan1, "course.create:d:cl3"));
    assert!(
        plan1
            .record_issues
            .iter()
            .any(|i| i.sourced_id.as_deref() == Some("cl3") && i.reason.contains("no teacher"))
    );
    v["config"]["classroom"] = json!({"fallbackOwner": "classroom-admin@district.org"});
    let plan2 = plan(&v);
    let op = plan2
        .ops
        .iter()
        .find(|o| o.key == "course.create:d:cl3")
        .expect("created");
    assert_eq!(
        op.after.as_ref().unwrap()["ownerId"],
        "classroom-admin@district.org"
    );
}

#[test]
fn ended_enrollments_are_not_added() {
    let mut v = day1();
    edit(&mut v, "enrollments", "e-s1", |e| {
        e["endDate"] = json!("2026-08-20");
    });
    let plan = plan(&v);
    assert!(!has_key(&plan, "student.add:d:cl1:liam.nguyen"));
    assert_eq!(plan.summary.skipped["enrollment.notCurrent"], 1);
}

#[test]
fn disabled_users_do_not_join() {
    let mut v = day1();
    edit(&mut v, "users", "u-s1", |u| {
        u["enabledUser"] = json!("false");
    });
    let plan = plan(&v);
    assert!(!has_key(&plan, "student.add:d:cl1:liam.nguyen"));
}

#[test]
fn preview_mode_needs_approval_even_without_holds() {
    let mut v = day1();
    v["config"]["preview"] = json!(true);
    let plan = plan(&v);
    assert!(plan.holds.is_empty());
    assert!(plan.needs_approval());
    let approved = approve(&plan, &Decisions::default()).unwrap();
    assert!(!approved.needs_approval());
}

#[test]
fn rejecting_a_course_drops_its_members_and_topics() {
    let plan = plan(&day1());
    let course = plan
        .ops
        .iter()
        .find(|o| o.key == "course.create:d:cl1")
        .unwrap();
    let approved = approve(
        &plan,
        &Decisions {
            reject: vec![course.op_id.clone()],
        },
    )
    .unwrap();
    assert!(
        !approved
            .ops
            .iter()
            .any(|o| o.class_id.as_deref() == Some("cl1"))
    );
    assert!(
        approved
            .ops
            .iter()
            .any(|o| o.class_id.as_deref() == Some("cl2"))
    );
    let approval = approved.approval.as_ref().unwrap();
    assert_eq!(approval.rejected, vec![course.op_id.clone()]);
    assert!(approval.dropped_dependants.len() >= 6, "{approval:?}");
}

#[test]
fn approve_rejects_unknown_operations_and_double_approval() {
    let plan = plan(&day1());
    let err = approve(
        &plan,
        &Decisions {
            reject: vec!["nope".into()],
        },
    )
    .unwrap_err();
    assert_eq!(
        err,
        EngineError::UnknownOperation {
            op_id: "nope".into()
        }
    );
    let approved = approve(&plan, &Decisions::default()).unwrap();
    assert!(matches!(
        approve(&approved, &Decisions::default()),
        Err(EngineError::AlreadyApproved { .. })
    ));
}

#[test]
fn rejected_changes_are_proposed_again_next_run() {
    let v = day1();
    let p = plan(&v);
    let course = p
        .ops
        .iter()
        .find(|o| o.key == "course.create:d:cl2")
        .unwrap();
    let approved = approve(
        &p,
        &Decisions {
            reject: vec![course.op_id.clone()],
        },
    )
    .unwrap();
    let state = commit(&Default::default(), &approved, &all_succeeded(&approved)).unwrap();
    let mut next = v.clone();
    next["previousState"] = serde_json::to_value(&state).unwrap();
    let again = plan(&next);
    assert!(has_key(&again, "course.create:d:cl2"));
    assert!(!has_key(&again, "course.create:d:cl1"));
}

#[test]
fn failed_operations_are_retried_and_successes_never_repeated() {
    let v = day1();
    let p = plan(&v);
    let outcomes: Vec<OpOutcome> = p
        .ops
        .iter()
        .map(|op| {
            let result = if op.key == "student.add:d:cl1:liam.nguyen@students.district.org" {
                OutcomeResult::Failed {
                    error: "HTTP 503".into(),
                }
            } else if op.key.starts_with("student.add:d:cl2") {
                OutcomeResult::NotAttempted
            } else {
                OutcomeResult::Succeeded {
                    remote_id: remote_id(op),
                }
            };
            OpOutcome {
                op_id: op.op_id.clone(),
                result,
            }
        })
        .collect();
    let state = commit(&Default::default(), &p, &outcomes).unwrap();
    assert_eq!(state.failures.len(), 1);
    let mut next = v.clone();
    next["previousState"] = serde_json::to_value(&state).unwrap();
    let again = plan(&next);
    let mut retry: Vec<_> = keys(&again);
    retry.sort();
    assert_eq!(
        retry,
        vec![
            "student.add:d:cl1:liam.nguyen@students.district.org",
            "student.add:d:cl2:ava.martin@students.district.org"
        ]
    );
    assert!(
        again
            .ops
            .iter()
            .any(|o| o.summary.contains("failed 1 time(s), last: HTTP 503"))
    );
    let state2 = commit(&state, &again, &all_succeeded(&again)).unwrap();
    assert!(state2.failures.is_empty());
}

#[test]
fn a_plan_only_commits_onto_the_state_it_was_made_from() {
    let v = day1();
    let (p, state) = run_clean(&v);
    let err = commit(&state, &p, &[]).unwrap_err();
    assert!(matches!(
        err,
        EngineError::StalePlan {
            plan_revision: 0,
            state_revision: 1
        }
    ));
}

#[test]
fn outcomes_for_unknown_operations_are_an_error() {
    let p = plan(&day1());
    let bogus = OpOutcome {
        op_id: "ffff".into(),
        result: OutcomeResult::NotAttempted,
    };
    assert!(matches!(
        commit(&Default::default(), &p, &[bogus]),
        Err(EngineError::UnknownOperation { .. })
    ));
}

#[test]
fn plan_id_is_a_content_hash() {
    let v = day1();
    let a = plan(&v);
    let b = plan(&v);
    assert_eq!(a.id, b.id);
    assert_eq!(a.id.len(), 64);
    let mut w = v.clone();
    edit(&mut w, "users", "u-s1", |u| {
        u["givenName"] = json!("William");
    });
    assert_ne!(plan(&w).id, a.id);
}

#[test]
fn preview_summary_counts_and_samples() {
    let plan = plan(&day1());
    let users = &plan.summary.roster[&EntityKind::User];
    assert_eq!(users.before, 0);
    assert_eq!(users.create, users.after);
    assert_eq!(users.after, 10, "12 users less the two sharing an email");
    let sample = plan
        .summary
        .samples
        .iter()
        .find(|s| s.entity == EntityKind::User)
        .unwrap();
    assert!(
        sample.fields.iter().any(|f| f.field == "givenName"),
        "creations show their fields"
    );
    assert!(plan.summary.record_issues > 0);
}

#[test]
fn import_only_mode_never_exports_grades() {
    let mut v = after_day1("2026-10-01T06:00:00Z");
    v["classroom"] = classroom_graded();
    v["config"]["mode"] = json!("importOnly");
    let plan = plan(&v);
    assert!(
        !plan
            .ops
            .iter()
            .any(|o| matches!(o.entity, OpEntity::LineItem | OpEntity::Result))
    );
}

#[test]
fn a_class_whose_teacher_leaves_keeps_its_course_and_owner() {
    let mut v = after_day1("2026-09-02T06:00:00Z");
    // cl3's only teacher enrollment ends; the class itself stays in the SIS.
    remove(&mut v, "enrollments", "e-t3b");
    let plan = plan(&v);
    assert!(
        !plan.ops.iter().any(|o| o.change == OpChange::Archive),
        "no archive: {:?}",
        keys(&plan)
    );
    assert!(
        !plan
            .ops
            .iter()
            .any(|o| o.key.starts_with("teacher.remove:d:cl3")),
        "the owner stays a teacher"
    );
}

#[test]
fn changes_read_as_sentences_naming_people_courses_and_schools() {
    let plan = plan(&day1());
    let summary = |key: &str| {
        plan.ops
            .iter()
            .find(|o| o.key == key)
            .map(|o| o.summary.as_str())
            .unwrap_or_else(|| panic!("no op {key}"))
    };
    assert_eq!(
        summary("student.add:d:cl1:liam.nguyen@students.district.org"),
        "add student Liam Nguyen (liam.nguyen@students.district.org) to 'Algebra I - P1' (ALG1-P1, Lincoln High)"
    );
    assert_eq!(
        summary("course.create:d:cl1"),
        "create course 'Algebra I - P1' (ALG1-P1, Lincoln High) owned by Ada Lovelace (ada.lovelace@district.org)"
    );
}

#[test]
fn a_student_who_left_the_sis_is_still_named_in_their_removal() {
    let mut v = after_day1("2026-09-02T06:00:00Z");
    remove(&mut v, "users", "u-s1");
    let plan = plan(&v);
    let removal = plan
        .ops
        .iter()
        .find(|o| o.key == "student.remove:d:cl1:liam.nguyen@students.district.org")
        .expect("Liam's removal");
    assert!(
        removal.summary.starts_with(
            "remove student Liam Nguyen (liam.nguyen@students.district.org) from 'Algebra I - P1'"
        ),
        "{}",
        removal.summary
    );
}

/// `cb_approve_ops` as a host calls it: the plan's operation ids and dependencies, through
/// the ABI's JSON.
fn approve_ops(plan: &classbridge_engine::SyncPlan, decisions: &Decisions) -> serde_json::Value {
    use classbridge_engine::abi::{ApproveOpsRequest, Entry, dispatch};
    let request = ApproveOpsRequest::of(plan, decisions);
    let answer = dispatch(
        Entry::ApproveOps,
        &serde_json::to_vec(&request).expect("a request"),
    );
    serde_json::from_slice(&answer).expect("an envelope")
}

#[test]
fn approving_from_operation_ids_decides_as_approving_the_whole_plan() {
    let plan = plan(&day1());
    let course = |alias: &str| {
        plan.ops
            .iter()
            .find(|o| o.key == format!("course.create:{alias}"))
            .expect("course op")
            .op_id
            .clone()
    };
    let member = plan
        .ops
        .iter()
        .find(|o| o.class_id.as_deref() == Some("cl2") && o.entity == OpEntity::Student)
        .expect("a student of cl2")
        .op_id
        .clone();
    for reject in [vec![], vec![course("d:cl1")], vec![course("d:cl3"), member]] {
        let decisions = Decisions { reject };
        let whole = approve(&plan, &decisions).expect("approved");
        let answer = approve_ops(&plan, &decisions);
        assert_eq!(
            answer["ok"],
            serde_json::to_value(whole.approval.as_ref().expect("an approval")).unwrap(),
            "{decisions:?}"
        );
    }
    let unknown = approve_ops(
        &plan,
        &Decisions {
            reject: vec!["nope".into()],
        },
    );
    assert_eq!(unknown["error"]["kind"], "unknownOperation", "{unknown}");
    let approved = approve(&plan, &Decisions::default()).expect("approved");
    let again = approve_ops(&approved, &Decisions::default());
    assert_eq!(again["error"]["kind"], "alreadyApproved", "{again}");
}
