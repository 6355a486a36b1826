//! Why (issue 19): every planned operation carries the records behind it (fields before and
//! after) and the rules that applied, and every record a rule newly leaves out says which
//! rule, by person. One test per kind of operation and skip.

mod common;

use classbridge_engine::SyncPlan;
use classbridge_engine::explanation::{CauseChange, Explanation, RuleKind};
use classbridge_engine::plan::{OpEntity, OpOutcome, OutcomeResult, PlannedOp};
use common::*;
use serde_json::{Value, json};

const LIAM: &str = "liam.nguyen@students.district.org";

fn op<'a>(p: &'a SyncPlan, key_prefix: &str) -> &'a PlannedOp {
    p.ops
        .iter()
        .find(|o| o.key.starts_with(key_prefix))
        .unwrap_or_else(|| panic!("no {key_prefix} in {:?}", keys(p)))
}

fn why(o: &PlannedOp) -> &Explanation {
    o.why
        .as_deref()
        .unwrap_or_else(|| panic!("{} has no explanation", o.key))
}

fn rule_kinds(o: &PlannedOp) -> Vec<RuleKind> {
    why(o).rules.iter().map(|r| r.kind).collect()
}

/// Day 1 committed, then on 2026-11-05 the SIS as `change` leaves it.
fn next_day(change: impl FnOnce(&mut Value)) -> Value {
    let mut v = after_day1("2026-11-05T06:00:00Z");
    change(&mut v);
    v
}

#[test]
fn every_operation_of_a_first_sync_and_a_grade_export_is_explained() {
    let p = plan(&day1());
    assert!(!p.ops.is_empty());
    for o in &p.ops {
        let w = why(o);
        assert!(!w.text().is_empty(), "{}: empty explanation", o.key);
        assert!(!w.causes.is_empty(), "{}: no cause", o.key);
    }
    let course = op(&p, "course.create:d:cl1");
    assert_eq!(why(course).causes[0].change, CauseChange::New);
    assert_eq!(why(course).text(), "because the SIS's class 'cl1' is new");
    let add = p
        .ops
        .iter()
        .find(|o| o.entity == OpEntity::Student && o.person.as_deref() == Some(LIAM))
        .expect("Liam added");
    assert_eq!(
        why(add).text(),
        "because the SIS's enrollment 'e-s1' is new"
    );
    let topic = p
        .ops
        .iter()
        .find(|o| o.entity == OpEntity::Topic)
        .expect("a topic");
    assert_eq!(why(topic).causes[0].collection.as_ref(), "categories");
    assert_eq!(rule_kinds(topic), [RuleKind::MasterField]);

    let mut graded = after_day1("2026-10-01T06:00:00Z");
    graded["classroom"] = classroom_graded();
    let g = plan(&graded);
    let li = g
        .ops
        .iter()
        .find(|o| o.entity == OpEntity::LineItem)
        .expect("a lineItem");
    assert_eq!(why(li).causes[0].collection.as_ref(), "courseWork");
    assert!(rule_kinds(li).contains(&RuleKind::GradeMapping));
    let results: Vec<&PlannedOp> = g
        .ops
        .iter()
        .filter(|o| o.entity == OpEntity::Result)
        .collect();
    assert!(!results.is_empty());
    for r in &results {
        assert_eq!(why(r).causes[0].collection.as_ref(), "studentSubmissions");
        assert!(r.person.is_some(), "a result names its student: {}", r.key);
    }
    let said: Vec<&str> = results
        .iter()
        .flat_map(|r| why(r).rules.iter().map(|x| x.rule.as_str()))
        .collect();
    for rule in [
        "grades.score",
        "grades.flagLate",
        "grades.missing",
        "grades.returnedWithoutGradeIsExcused",
    ] {
        assert!(said.contains(&rule), "{rule} not among {said:?}");
    }
}

#[test]
fn a_student_past_the_end_date_is_removed_because_the_enrollment_ended() {
    let p = plan(&next_day(|v| {
        edit(v, "enrollments", "e-s1", |e| {
            e["endDate"] = json!("2026-11-01");
        });
    }));
    let remove = op(&p, "student.remove:d:cl1:");
    let w = why(remove);
    assert_eq!(
        w.text(),
        "because the SIS's enrollment 'e-s1' ended on 2026-11-01 (enrollments.endDate); rule: enrolments count from their begin date to their end date; past the end, the member is removed"
    );
    assert_eq!(w.causes[0].change, CauseChange::Changed);
    let end = &w.causes[0].fields[0];
    assert_eq!(end.field, "endDate");
    assert_eq!(end.before, Some(json!("2027-06-10")));
    assert_eq!(end.after, Some(json!("2026-11-01")));
}

#[test]
fn a_removed_enrollment_says_it_was_removed_and_how_that_was_confirmed() {
    let p = plan(&next_day(|v| remove(v, "enrollments", "e-s1")));
    let w = why(op(&p, "student.remove:d:cl1:"));
    assert_eq!(w.causes[0].change, CauseChange::Removed);
    assert!(
        w.text()
            .starts_with("because the SIS's enrollment 'e-s1' was removed (gone from source"),
        "{}",
        w.text()
    );
}

#[test]
fn a_filter_names_the_rule_for_the_removal_and_the_skipped_records_once() {
    let filtered = |v: &mut Value| {
        v["config"]["filters"] =
            json!([{"entity": "user", "field": "givenName", "op": "equals", "value": "Liam"}]);
        v["config"]["filters"][0]["action"] = json!("exclude");
    };
    let v = next_day(filtered);
    let p = plan(&v);
    let remove = op(&p, "student.remove:d:cl1:");
    assert_eq!(rule_kinds(remove), [RuleKind::Filter]);
    assert_eq!(why(remove).rules[0].rule, "filters[0]");
    assert!(
        why(remove)
            .text()
            .contains("users matching givenName = 'Liam' are left out"),
        "{}",
        why(remove).text()
    );
    let liam: Vec<_> = p
        .skipped_records
        .iter()
        .filter(|s| s.person.as_deref() == Some(LIAM))
        .map(|s| (s.sourced_id.as_str(), s.rule.kind))
        .collect();
    assert_eq!(
        liam,
        [("u-s1", RuleKind::Filter), ("e-s1", RuleKind::Cascade)],
        "the user by the filter, the enrolment with it"
    );
    // The next run leaves them out the same way: not news.
    let (_, state) = run_clean(&v);
    let mut again = v.clone();
    again["previousState"] = serde_json::to_value(&state).expect("state");
    again["now"] = json!("2026-11-06T06:00:00Z");
    assert!(plan(&again).skipped_records.is_empty());
}

#[test]
fn schools_mapping_requirements_and_uniqueness_skips_name_their_rule() {
    let mut v = day1();
    v["config"]["schools"] = json!({"schools": [{"school": "s2", "action": "skip"}]});
    edit(&mut v, "users", "u-s1", |u| {
        u.as_object_mut().expect("user").remove("identifier");
    });
    v["config"]["requirements"] =
        json!([{"entity": "user", "field": "identifier", "whenMissing": {"action": "skip"}}]);
    let p = plan(&v);
    let rule_of = |id: &str| {
        p.skipped_records
            .iter()
            .find(|s| s.sourced_id == id)
            .map(|s| (s.rule.kind, s.rule.rule.clone()))
    };
    assert_eq!(
        rule_of("s2"),
        Some((RuleKind::SchoolMapping, "schools".into()))
    );
    assert_eq!(
        rule_of("u-s1"),
        Some((RuleKind::Requirement, "requirements[0]".into()))
    );
    // Sam Lee twice (same address, two records): the default domain reports; keep-first skips.
    let mut dup = day1();
    dup["config"]["uniqueness"] =
        json!([{"entity": "user", "fields": ["email"], "onDuplicate": "keepFirst"}]);
    let d = plan(&dup);
    let skip = d
        .skipped_records
        .iter()
        .find(|s| s.rule.kind == RuleKind::Uniqueness)
        .expect("a duplicate skipped");
    assert_eq!(skip.rule.rule, "uniqueness[0]");
    assert_eq!(
        skip.person.as_deref(),
        Some("sam.lee@students.district.org")
    );
}

#[test]
fn a_disabled_user_a_class_change_and_an_ended_term_are_explained() {
    let p = plan(&next_day(|v| {
        edit(v, "users", "u-s1", |u| u["enabledUser"] = json!(false));
        edit(v, "classes", "cl2", |c| {
            c["title"] = json!("Life Science - P4");
        });
    }));
    let remove = op(&p, "student.remove:d:cl1:");
    assert_eq!(rule_kinds(remove), [RuleKind::UserDisabled]);
    assert!(why(remove).text().contains("users.enabledUser = false"));
    let patch = op(&p, "course.patch:d:cl2:");
    let cause = &why(patch).causes[0];
    assert_eq!(cause.change, CauseChange::Changed);
    assert!(
        cause
            .fields
            .iter()
            .any(|f| f.field == "title" && f.after == Some(json!("Life Science - P4"))),
        "{cause:?}"
    );
    assert_eq!(rule_kinds(patch), [RuleKind::MasterField]);

    let mut ended = after_day1("2026-11-05T06:00:00Z");
    edit(&mut ended, "classes", "cl1", |c| {
        c["terms"] = json!([{"sourcedId": "gp1", "type": "academicSession"}]);
    });
    let e = plan(&ended);
    let archive = op(&e, "course.archive:d:cl1");
    assert_eq!(rule_kinds(archive), [RuleKind::TermEnd]);
    assert!(
        why(archive)
            .text()
            .contains("the SIS's term 'gp1' (Quarter 1) ended on 2026-10-31"),
        "{}",
        why(archive).text()
    );
}

#[test]
fn grace_retries_invitations_guardians_and_cross_listing_name_their_rules() {
    // A removal after its grace.
    let mut v = day1();
    v["config"]["classroom"] = json!({ "removalGraceDays": 7 });
    let (_, state) = run_clean(&v);
    let mut dropped = v.clone();
    dropped["previousState"] = serde_json::to_value(&state).expect("state");
    dropped["now"] = json!("2026-11-05T06:00:00Z");
    remove(&mut dropped, "enrollments", "e-s1");
    let first = plan(&dropped);
    let state = classbridge_engine::commit(
        &input(&dropped).previous_state,
        &first,
        &all_succeeded(&first),
    )
    .expect("commit");
    let mut later = dropped.clone();
    later["previousState"] = serde_json::to_value(&state).expect("state");
    later["now"] = json!("2026-11-12T06:00:00Z");
    let p = plan(&later);
    assert!(rule_kinds(op(&p, "student.remove:d:cl1:")).contains(&RuleKind::RemovalGrace));

    // A failed add is retried, and says so.
    let d1 = day1();
    let first = plan(&d1);
    let outcomes: Vec<OpOutcome> = all_succeeded(&first)
        .into_iter()
        .map(|mut o| {
            let failed = first
                .ops
                .iter()
                .any(|x| x.op_id == o.op_id && x.person.as_deref() == Some(LIAM));
            if failed {
                o.result = OutcomeResult::Failed {
                    error: "503 backendError".into(),
                };
            }
            o
        })
        .collect();
    let state =
        classbridge_engine::commit(&input(&d1).previous_state, &first, &outcomes).expect("commit");
    let mut retry = d1.clone();
    retry["previousState"] = serde_json::to_value(&state).expect("state");
    let r = plan(&retry);
    let again = r
        .ops
        .iter()
        .find(|o| o.person.as_deref() == Some(LIAM))
        .expect("retried");
    assert!(rule_kinds(again).contains(&RuleKind::Retry));
    assert!(why(again).text().contains("503 backendError"));

    // An invitation, a guardian and a cross-listed course.
    let mut outside = day1();
    outside["config"]["classroom"] = json!({
        "domains": ["district.org", "students.district.org"],
        "guardians": true,
        "crossList": [{"classes": ["cl1", "cl3"]}],
    });
    edit(&mut outside, "users", "u-s4", |u| {
        u["email"] = json!("emma.brown@gmail.com");
    });
    edit(&mut outside, "users", "u-p1", |u| {
        u["agents"] = json!([{"sourcedId": "u-s1", "type": "user"}]);
    });
    let o = plan(&outside);
    let invite = o
        .ops
        .iter()
        .find(|x| x.key.starts_with("student.invite:"))
        .expect("an outsider invited");
    assert_eq!(rule_kinds(invite), [RuleKind::Invitation]);
    let guardian = o
        .ops
        .iter()
        .find(|x| x.entity == OpEntity::Guardian)
        .expect("a guardian invited");
    assert_eq!(rule_kinds(guardian), [RuleKind::Guardian]);
    assert!(why(guardian).text().contains("rosa.nguyen@example.com"));
    let course = op(&o, "course.create:d:cl1");
    assert_eq!(rule_kinds(course), [RuleKind::CrossList]);
}

#[test]
fn explanations_are_part_of_the_plan_s_content() {
    let v = day1();
    let a = plan(&v);
    let b = plan(&v);
    assert_eq!(a, b, "the same input explains the same way");
    // A plan read back (as the host stores it) keeps its explanations.
    let text = serde_json::to_string(&a).expect("plan");
    let back: SyncPlan = serde_json::from_str(&text).expect("plan");
    // Written out, each explanation carries its words.
    let json: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(
        json["ops"][0]["why"]["text"],
        "because the SIS's class 'cl1' is new"
    );
    assert_eq!(
        json["ops"][0]["why"]["causes"][0]["says"],
        "the SIS's class 'cl1' is new"
    );
    assert!(
        back.ops
            .iter()
            .all(|o| o.why == a.ops[0].why || o.why.is_some())
    );
    assert_eq!(back, a);
}

#[test]
fn a_removed_class_a_teacher_and_a_renamed_category_are_explained() {
    let p = plan(&next_day(|v| {
        remove(v, "classes", "cl2");
        edit(v, "categories", "cat-hw", |c| {
            c["title"] = json!("Home work");
        });
    }));
    let archive = op(&p, "course.archive:d:cl2");
    assert_eq!(why(archive).causes[0].change, CauseChange::Removed);
    assert!(
        why(archive)
            .text()
            .starts_with("because the SIS's class 'cl2' was removed"),
        "{}",
        why(archive).text()
    );
    let rename = p
        .ops
        .iter()
        .find(|o| {
            o.entity == OpEntity::Topic && o.change == classbridge_engine::plan::OpChange::Update
        })
        .expect("a topic renamed");
    let cause = &why(rename).causes[0];
    assert_eq!(cause.change, CauseChange::Changed);
    assert!(
        cause
            .fields
            .iter()
            .any(|f| f.field == "title" && f.after == Some(json!("Home work"))),
        "{cause:?}"
    );

    let first = plan(&day1());
    let teacher = first
        .ops
        .iter()
        .find(|o| o.key.starts_with("teacher.add:"))
        .expect("a teacher added");
    assert!(
        why(teacher).text().contains("enrollment 'e-t"),
        "{}",
        why(teacher).text()
    );
}
