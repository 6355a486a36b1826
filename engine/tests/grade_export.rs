//! Grades flow Classroom -> SIS: lineItems and results by the grade-mapping rules.

mod common;

use classbridge_engine::input::CheckOutcome;
use classbridge_engine::plan::{Action, OpChange, OpEntity, PlannedOp};
use classbridge_engine::{SyncPlan, commit};
use classbridge_engine::{line_item_id, result_id};
use common::*;
use serde_json::{Value, json};

/// Day 1 committed, then a month later teachers have graded in Classroom.
fn graded() -> Value {
    let mut v = after_day1("2026-10-01T06:00:00Z");
    v["classroom"] = classroom_graded();
    v
}

fn body(op: &PlannedOp) -> Value {
    match &op.action {
        Action::OneRosterPut { body, .. } => body.to_value().expect("a put's body is JSON"),
        other => panic!("not a put: {other:?}"),
    }
}

fn result_for(plan: &SyncPlan, work: &str, user: &str) -> Option<Value> {
    let id = result_id("5001", work, user);
    plan.ops
        .iter()
        .find(|o| matches!(&o.action, Action::OneRosterPut { sourced_id, .. } if *sourced_id == id))
        .map(|o| body(o)["result"].clone())
}

fn line_item(plan: &SyncPlan, work: &str) -> Value {
    let id = line_item_id("5001", work);
    let op = plan
        .ops
        .iter()
        .find(|o| matches!(&o.action, Action::OneRosterPut { sourced_id, .. } if *sourced_id == id))
        .expect("lineItem op");
    body(op)["lineItem"].clone()
}

#[test]
fn graded_work_becomes_line_items_and_results() {
    let plan = plan(&graded());
    let count = |e: OpEntity| plan.ops.iter().filter(|o| o.entity == e).count();
    assert_eq!(count(OpEntity::LineItem), 2, "graded work only");
    assert_eq!(
        count(OpEntity::Result),
        4,
        "late, missing, excused and extra credit; not the draft"
    );
    let li_pos = plan
        .ops
        .iter()
        .position(|o| o.entity == OpEntity::LineItem)
        .unwrap();
    let r_pos = plan
        .ops
        .iter()
        .position(|o| o.entity == OpEntity::Result)
        .unwrap();
    assert!(li_pos < r_pos, "lineItems before their results");
}

#[test]
fn a_late_graded_submission_exports_its_points() {
    let plan = plan(&graded());
    let r = result_for(&plan, "9001", "111").expect("result");
    assert_eq!(r["score"], json!(18.0));
    assert_eq!(r["scoreStatus"], "fully graded");
    assert_eq!(r["student"]["sourcedId"], "u-s1");
    assert_eq!(r["lineItem"]["sourcedId"], line_item_id("5001", "9001"));
    assert_eq!(r["scoreDate"], "2026-09-22T10:00:00Z", "a date-time");
    assert_eq!(r["comment"], "", "private comments cannot be read");
    assert!(r.get("late").is_none(), "OneRoster 1.1 has no late field");
}

#[test]
fn returned_without_a_grade_is_excused_as_exempt() {
    let plan = plan(&graded());
    let r = result_for(&plan, "9001", "113").expect("result");
    assert_eq!(r["scoreStatus"], "exempt");
    assert!(r.get("score").is_none());
}

#[test]
fn draft_grades_are_never_exported() {
    let plan = plan(&graded());
    assert!(result_for(&plan, "9001", "114").is_none());
    assert_eq!(plan.summary.skipped["submission.draftGradeOnly"], 1);
}

#[test]
fn work_not_turned_in_after_its_due_date_is_missing() {
    let plan = plan(&graded());
    let r = result_for(&plan, "9001", "112").expect("result");
    assert_eq!(r["scoreStatus"], "not submitted");
    assert!(r.get("score").is_none());
}

#[test]
fn missing_work_can_carry_a_configured_score() {
    let mut v = graded();
    v["config"]["grades"] = json!({"missing": {"export": true, "score": 0}});
    let plan = plan(&v);
    assert_eq!(
        result_for(&plan, "9001", "112").unwrap()["score"],
        json!(0.0)
    );
}

#[test]
fn extra_credit_above_the_maximum_is_kept() {
    let plan = plan(&graded());
    let r = result_for(&plan, "9003", "111").expect("result");
    assert_eq!(r["score"], json!(55.0));
    assert_eq!(line_item(&plan, "9003")["resultValueMax"], json!(50.0));
}

#[test]
fn ungraded_work_is_never_exported() {
    let plan = plan(&graded());
    assert_eq!(plan.summary.skipped["courseWork.ungraded"], 1);
    let id = line_item_id("5001", "9002");
    assert!(!plan.ops.iter().any(
        |o| matches!(&o.action, Action::OneRosterPut { sourced_id, .. } if *sourced_id == id)
    ));
}

#[test]
fn long_titles_are_shortened_to_the_sis_limit_and_reported() {
    let plan = plan(&graded());
    let title = line_item(&plan, "9001")["title"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(title.chars().count() <= 30, "{title}");
    assert!(title.starts_with("Quadratic equations"));
    assert!(
        plan.record_issues
            .iter()
            .any(|i| i.sourced_id.as_deref() == Some("9001")
                && i.reason.contains("longer than the 30 characters"))
    );
}

#[test]
fn work_without_a_due_date_is_placed_and_reported_or_skipped() {
    let plan1 = plan(&graded());
    let li = line_item(&plan1, "9003");
    assert_eq!(
        li["dueDate"], "2026-09-12T12:00:00Z",
        "placed on its assign date"
    );
    assert!(
        plan1
            .record_issues
            .iter()
            .any(|i| i.sourced_id.as_deref() == Some("9003") && i.reason.contains("no due date"))
    );
    let mut v = graded();
    v["config"]["sources"][0]["limits"]["missingDueDate"] = json!("skip");
    let plan2 = plan(&v);
    let id = line_item_id("5001", "9003");
    assert!(!plan2.ops.iter().any(
        |o| matches!(&o.action, Action::OneRosterPut { sourced_id, .. } if *sourced_id == id)
    ));
    assert_eq!(plan2.summary.skipped["courseWork.noDueDate"], 1);
    assert!(
        plan2
            .record_issues
            .iter()
            .any(|i| i.sourced_id.as_deref() == Some("9003") && i.reason.contains("not exported"))
    );
}

#[test]
fn category_comes_from_topic_then_grade_category_then_default() {
    let plan1 = plan(&graded());
    assert_eq!(
        line_item(&plan1, "9001")["category"]["sourcedId"],
        "cat-hw",
        "topic made from the category"
    );
    assert_eq!(
        line_item(&plan1, "9003")["category"]["sourcedId"],
        "cat-test",
        "grade category by title"
    );
    let mut v = graded();
    v["config"]["sources"][0]["limits"]["defaultCategory"] = json!("asg");
    v["classroom"]["courseWork"][0]["courseWork"][0]["topicId"] = json!("unknown-topic");
    add(
        &mut v,
        "categories",
        json!({"sourcedId": "asg", "status": "active", "title": "Assignments"}),
    );
    let plan2 = plan(&v);
    assert_eq!(line_item(&plan2, "9001")["category"]["sourcedId"], "asg");
}

#[test]
fn a_default_category_the_sis_does_not_have_holds_the_line_item_back() {
    let mut v = graded();
    v["config"]["sources"][0]["limits"]["defaultCategory"] = json!("Assignments");
    v["classroom"]["courseWork"][0]["courseWork"][0]["topicId"] = json!("unknown-topic");
    let p = plan(&v);
    assert!(
        !p.ops.iter().any(|o| o.key.contains("9001")),
        "neither the lineItem nor its results are sent: {:?}",
        keys(&p)
    );
    assert!(
        p.record_issues
            .iter()
            .any(|i| i.reason.contains("default category 'Assignments'")),
        "{:?}",
        p.record_issues
    );
    assert_eq!(p.summary.skipped["courseWork.unknownDefaultCategory"], 1);
}

#[test]
fn grading_period_is_the_one_holding_the_due_date() {
    let plan = plan(&graded());
    assert_eq!(
        line_item(&plan, "9001")["gradingPeriod"]["sourcedId"],
        "gp1"
    );
    assert_eq!(line_item(&plan, "9001")["class"]["sourcedId"], "cl1");
}

#[test]
fn exporting_again_writes_nothing_and_a_changed_grade_only_itself() {
    let v = graded();
    let (_, state) = run_clean(&v);
    let mut again = v.clone();
    again["previousState"] = serde_json::to_value(&state).unwrap();
    assert!(plan(&again).ops.is_empty(), "{:?}", keys(&plan(&again)));
    again["classroom"]["studentSubmissions"][0]["studentSubmissions"][0]["assignedGrade"] =
        json!(19);
    let p = plan(&again);
    assert_eq!(p.ops.len(), 1, "{:?}", keys(&p));
    assert_eq!(p.ops[0].change, OpChange::Update);
    assert_eq!(body(&p.ops[0])["result"]["score"], json!(19.0));
}

#[test]
fn exporting_again_writes_nothing_under_every_version_and_score_rule() {
    for (version, score) in [("1.2", "letter"), ("1.2", "points"), ("1.1", "percent")] {
        let mut v = graded();
        v["config"]["sources"][0]["version"] = json!(version);
        v["config"]["grades"] = json!({"score": score, "missing": {"export": true}});
        let (first, state) = run_clean(&v);
        assert!(first.ops.iter().any(|o| o.entity == OpEntity::Result));
        let mut again = v.clone();
        again["previousState"] = serde_json::to_value(&state).unwrap();
        let p = plan(&again);
        assert!(p.ops.is_empty(), "{version} {score}: {:?}", keys(&p));
    }
}

#[test]
fn a_sis_mastered_result_field_is_read_from_the_sis_and_not_written_again() {
    let mut v = graded();
    v["config"]["masterFields"] =
        json!([{"entity": "result", "field": "scoreDate", "master": "sis"}]);
    let (_, state) = run_clean(&v);
    let mut again = v.clone();
    again["previousState"] = serde_json::to_value(&state).unwrap();
    assert!(plan(&again).ops.is_empty(), "{:?}", keys(&plan(&again)));
}

#[test]
fn ids_are_derived_from_classroom_ids() {
    assert_eq!(line_item_id("5001", "9001"), line_item_id("5001", "9001"));
    assert_ne!(line_item_id("5001", "9001"), line_item_id("5001", "9003"));
    assert_ne!(
        result_id("5001", "9001", "111"),
        result_id("5001", "9001", "112")
    );
    assert_eq!(line_item_id("5001", "9001").len(), 36, "a UUID");
}

/// The SIS gradebook as it looks after a clean export: every PUT body, read back.
fn sis_gradebook_from(plan: &SyncPlan) -> (Vec<Value>, Vec<Value>) {
    let (mut items, mut results) = (Vec::new(), Vec::new());
    for op in &plan.ops {
        if let Action::OneRosterPut { collection, .. } = &op.action {
            match collection.as_str() {
                "lineItems" => items.push(body(op)["lineItem"].clone()),
                _ => results.push(body(op)["result"].clone()),
            }
        }
    }
    (items, results)
}

#[test]
fn after_a_reconnect_grades_already_in_the_sis_are_not_written_again() {
    let mut v12 = graded();
    v12["config"]["sources"][0]["version"] = json!("1.2");
    let mut hrefs = graded();
    hrefs["config"]["sources"][0]["limits"]["hrefRoot"] = json!("https://sis.example.org/v1p1");
    for v in [graded(), v12, hrefs] {
        reconnect_adopts(v);
    }
}

/// The SIS holds what the first export wrote (with its wire-only fields); the state forgot it.
fn reconnect_adopts(v: Value) {
    let first = plan(&v);
    let (items, results) = sis_gradebook_from(&first);
    let mut reconnect = v.clone();
    // Same SIS and Classroom, but the exported-grades memory is gone.
    reconnect["previousState"]["exported"] = json!({});
    collections(&mut reconnect)["lineItems"] = json!({"pages": [{"lineItems": items}]});
    collections(&mut reconnect)["results"] = json!({"pages": [{"results": results}]});
    let p = plan(&reconnect);
    assert!(
        !p.ops
            .iter()
            .any(|o| matches!(o.entity, OpEntity::LineItem | OpEntity::Result)),
        "{:?}",
        keys(&p)
    );
    assert_eq!(base(&reconnect, &p).exported.results.len(), 4, "adopted");
}

#[test]
fn after_a_reconnect_without_the_sis_gradebook_the_same_ids_are_put_again() {
    let v = graded();
    let first = plan(&v);
    let mut reconnect = v.clone();
    reconnect["previousState"]["exported"] = json!({});
    let second = plan(&reconnect);
    let ids = |p: &SyncPlan| -> Vec<String> {
        p.ops
            .iter()
            .filter_map(|o| match &o.action {
                Action::OneRosterPut { sourced_id, .. } => Some(sourced_id.clone()),
                _ => None,
            })
            .collect()
    };
    assert_eq!(
        ids(&first),
        ids(&second),
        "PUT by the same sourcedIds: updates, never duplicates"
    );
}

#[test]
fn work_deleted_in_classroom_deletes_its_line_item_and_results() {
    let v = graded();
    let (_, state) = run_clean(&v);
    let mut next = v.clone();
    next["previousState"] = serde_json::to_value(&state).unwrap();
    next["classroom"]["courseWork"][0]["courseWork"]
        .as_array_mut()
        .unwrap()
        .retain(|w| w["id"] != "9003");
    let p = plan(&next);
    let deletes: Vec<_> = p
        .ops
        .iter()
        .filter(|o| o.change == OpChange::Delete)
        .collect();
    assert_eq!(deletes.len(), 2, "{:?}", keys(&p));
    assert_eq!(deletes[0].entity, OpEntity::Result);
    assert_eq!(deletes[1].entity, OpEntity::LineItem);
    assert_eq!(deletes[1].depends_on, vec![deletes[0].op_id.clone()]);
    for d in &deletes {
        let why = d.why.as_deref().expect("explained");
        assert_eq!(why.causes[0].collection.as_ref(), "courseWork");
        assert_eq!(
            why.causes[0].change,
            classbridge_engine::explanation::CauseChange::Removed
        );
    }
    let after = commit(
        &serde_json::from_value(next["previousState"].clone()).unwrap(),
        &p,
        &all_succeeded(&p),
    )
    .unwrap();
    assert!(
        !after
            .exported
            .line_items
            .contains_key(&line_item_id("5001", "9003"))
    );
    // A listing that was not read completely proves nothing.
    next["classroom"]["courseWorkComplete"] = json!([]);
    assert!(!plan(&next).ops.iter().any(|o| o.change == OpChange::Delete));
}

#[test]
fn oneroster_1_2_gets_late_missing_and_academic_session() {
    let mut v = graded();
    v["config"]["sources"][0]["version"] = json!("1.2");
    let plan = plan(&v);
    let late = result_for(&plan, "9001", "111").unwrap();
    assert_eq!(late["late"], "true");
    assert_eq!(late["missing"], "false");
    assert_eq!(result_for(&plan, "9001", "112").unwrap()["missing"], "true");
    let li = line_item(&plan, "9001");
    assert_eq!(li["academicSession"]["sourcedId"], "gp1");
    assert_eq!(li["school"]["sourcedId"], "s1");
    assert_eq!(
        li["gradingPeriod"], li["academicSession"],
        "1.2 has both fields; a SIS may read either"
    );
    assert!(
        li["class"].get("href").is_none(),
        "1.2 GUIDRefs carry no href"
    );
}

#[test]
fn percent_and_letter_scores() {
    let mut v = graded();
    v["config"]["sources"][0]["version"] = json!("1.2");
    v["config"]["grades"] = json!({"score": "letter"});
    let plan1 = plan(&v);
    let r = result_for(&plan1, "9001", "111").unwrap();
    assert_eq!(r["score"], json!(90.0));
    assert_eq!(r["textScore"], "A");
    assert_eq!(line_item(&plan1, "9001")["resultValueMax"], json!(100.0));
    v["config"]["grades"] = json!({"score": "percent", "decimals": 1});
    let plan2 = plan(&v);
    assert_eq!(
        result_for(&plan2, "9003", "111").unwrap()["score"],
        json!(110.0),
        "extra credit over 100%"
    );
}

#[test]
fn sis_mastered_line_item_fields_keep_the_sis_value() {
    let v = graded();
    let first = plan(&v);
    let (mut items, _) = sis_gradebook_from(&first);
    for item in &mut items {
        item["title"] = json!("Renamed by the registrar");
    }
    let mut w = v.clone();
    w["config"]["masterFields"] =
        json!([{"entity": "lineItem", "field": "title", "master": "riverside"}]);
    collections(&mut w)["lineItems"] = json!({"pages": [{"lineItems": items}]});
    w["previousState"]["exported"] = json!({});
    // Nothing else differs: the SIS already holds what would be written.
    assert!(!plan(&w).ops.iter().any(|o| o.entity == OpEntity::LineItem));
    // The teacher changes the points: the write keeps the registrar's title.
    w["classroom"]["courseWork"][0]["courseWork"][0]["maxPoints"] = json!(25);
    let p = plan(&w);
    assert_eq!(line_item(&p, "9001")["title"], "Renamed by the registrar");
    assert_eq!(line_item(&p, "9001")["resultValueMax"], json!(25.0));
}

#[test]
fn submissions_of_people_not_in_the_roster_are_reported() {
    let mut v = graded();
    v["classroom"]["students"][0]["students"].as_array_mut().unwrap().push(json!({"courseId": "5001", "userId": "150", "profile": {"emailAddress": "visitor@elsewhere.org"}}));
    v["classroom"]["studentSubmissions"][0]["studentSubmissions"].as_array_mut().unwrap().push(json!({"courseId": "5001", "courseWorkId": "9001", "id": "sub9", "userId": "150", "state": "RETURNED", "assignedGrade": 10}));
    let p = plan(&v);
    assert!(
        p.record_issues
            .iter()
            .any(|i| i.sourced_id.as_deref() == Some("sub9")
                && i.reason.contains("matches no roster user"))
    );
}

#[test]
fn a_non_ascii_timestamp_from_classroom_is_a_record_issue_not_a_trap() {
    let mut v = graded();
    v["classroom"]["courseWork"][0]["courseWork"][0]["creationTime"] =
        json!("2026-0é-10T12:00:00Z");
    v["classroom"]["courseWork"][0]["courseWork"][0]["dueDate"] =
        json!({"year": 2026, "month": 13, "day": 1});
    let plan = plan(&v);
    assert!(
        issue_mentions(&plan, "creationTime"),
        "{:?}",
        plan.record_issues
    );
    assert!(issue_mentions(&plan, "dueDate"), "{:?}", plan.record_issues);
    assert!(
        plan.ops.iter().any(|o| o.entity == OpEntity::LineItem),
        "the work itself is still exported"
    );
}

#[test]
fn now_must_be_an_rfc_3339_utc_time() {
    for bad in [
        "2026-10-01",
        "2026-10-01T06:00:00+02:00",
        "2026-1é-01T06:00:00Z",
        "yesterday!!!!!!!!!!!!",
    ] {
        let mut v = graded();
        v["now"] = json!(bad);
        let err = classbridge_engine::plan(input(&v)).unwrap_err().to_string();
        assert!(err.contains("RFC 3339 UTC"), "{bad}: {err}");
    }
}

#[test]
fn a_course_that_now_lists_no_work_is_held_before_its_grades_are_deleted() {
    let v = graded();
    let (_, state) = run_clean(&v);
    let mut next = v.clone();
    next["previousState"] = serde_json::to_value(&state).unwrap();
    // Google answers an empty list as {}: the course's courseWork page has no key at all.
    next["classroom"]["courseWork"][0] = json!({});
    let p = plan(&next);
    assert!(
        p.ops.iter().any(|o| o.change == OpChange::Delete),
        "the deletions are planned, for review"
    );
    assert!(
        p.holds
            .iter()
            .any(|h| h.code == classbridge_engine::plan::HoldCode::GradebookEmptied),
        "{:?}",
        p.holds
    );
    assert!(p.needs_approval());
}

#[test]
fn gradebook_deletions_go_through_the_deletion_thresholds() {
    let v = graded();
    let (_, state) = run_clean(&v);
    let mut next = v.clone();
    next["previousState"] = serde_json::to_value(&state).unwrap();
    next["config"]["holds"] =
        json!({"thresholds": [{"entity": "result", "change": "delete", "maxCount": 0}]});
    next["classroom"]["courseWork"][0]["courseWork"]
        .as_array_mut()
        .unwrap()
        .retain(|w| w["id"] != "9003");
    let p = plan(&next);
    assert!(
        p.holds.iter().any(|h| h.message.contains("SIS gradebook")),
        "{:?}",
        p.holds
    );
}

#[test]
fn grade_writes_name_the_assignment_the_student_and_the_course() {
    let plan = plan(&graded());
    let line_item = plan
        .ops
        .iter()
        .find(|o| o.entity == OpEntity::LineItem)
        .expect("a lineItem put");
    assert!(
        line_item.summary.starts_with("put assignment '")
            && line_item
                .summary
                .contains("of 'Algebra I - P1' (ALG1-P1, Lincoln High)"),
        "{}",
        line_item.summary
    );
    let results: Vec<&str> = plan
        .ops
        .iter()
        .filter(|o| o.entity == OpEntity::Result)
        .map(|o| o.summary.as_str())
        .collect();
    assert!(
        results
            .iter()
            .any(|s| s.contains(" for Liam Nguyen (u-s1) on '")),
        "{results:#?}"
    );
    assert!(
        results.iter().all(|s| s.contains("in 'Algebra I - P1'")),
        "{results:#?}"
    );
}

/// The SIS dropped `u-s1` from `cl1` while their Classroom work was graded.
fn dropped_while_graded(config_classroom: Value) -> Value {
    let mut v = graded();
    v["config"]["classroom"] = config_classroom;
    remove(&mut v, "enrollments", "e-s1");
    v
}

#[test]
fn a_student_the_sis_dropped_gets_no_result_and_the_preview_says_why() {
    let plan = plan(&dropped_while_graded(json!({})));
    assert!(
        has_key(&plan, "student.remove:"),
        "the drop is applied: {:?}",
        keys(&plan)
    );
    assert!(
        result_for(&plan, "9001", "111").is_none(),
        "a SIS refuses it"
    );
    assert!(
        result_for(&plan, "9003", "111").is_none(),
        "a SIS refuses it"
    );
    assert_eq!(
        plan.summary.skipped.get("submission.studentNotEnrolled"),
        Some(&2)
    );
    assert!(
        issue_mentions(&plan, "student 'u-s1' is not enrolled in class 'cl1'"),
        "{:?}",
        plan.record_issues
    );
    // The other students' grades still go.
    assert!(result_for(&plan, "9001", "112").is_some());
    assert!(result_for(&plan, "9001", "113").is_some());
}

#[test]
fn a_student_kept_by_removal_grace_gets_no_result_either() {
    let plan = plan(&dropped_while_graded(json!({ "removalGraceDays": 7 })));
    assert!(
        !has_key(&plan, "student.remove:"),
        "kept in the course: {:?}",
        keys(&plan)
    );
    assert!(result_for(&plan, "9001", "111").is_none());
    assert_eq!(
        plan.summary.skipped.get("submission.studentNotEnrolled"),
        Some(&2)
    );
}

#[test]
fn a_grade_waits_while_the_students_enrolment_is_missing_from_a_listing_and_unconfirmed() {
    let v = dropped_while_graded(json!({}));
    let first = plan_once(&v);
    assert!(
        !has_key(&first, "student.remove:"),
        "kept until the SIS is asked: {:?}",
        keys(&first)
    );
    assert!(
        result_for(&first, "9001", "111").is_none(),
        "a SIS that dropped them refuses it"
    );
    assert_eq!(
        first.summary.skipped.get("submission.enrolmentUnconfirmed"),
        Some(&2)
    );
    assert!(
        issue_mentions(&first, "not yet confirmed gone"),
        "{:?}",
        first.record_issues
    );
    assert!(result_for(&first, "9001", "112").is_some());
    // The SIS still has the enrolment: the grade goes.
    let present = plan_once(&with_checks(&v, &first, CheckOutcome::Present));
    assert!(result_for(&present, "9001", "111").is_some());
    assert_eq!(
        present
            .summary
            .skipped
            .get("submission.enrolmentUnconfirmed"),
        None
    );
    // No answer: it waits again.
    let unknown = plan_once(&with_checks(&v, &first, CheckOutcome::Unknown));
    assert!(result_for(&unknown, "9001", "111").is_none());
    assert_eq!(
        unknown
            .summary
            .skipped
            .get("submission.enrolmentUnconfirmed"),
        Some(&2)
    );
}

#[test]
fn work_with_no_category_is_held_back_where_the_sis_requires_one() {
    let uncategorized = |version: &str, required: Option<bool>| {
        let mut v = graded();
        v["config"]["sources"][0]["version"] = json!(version);
        v["config"]["sources"][0]["limits"]
            .as_object_mut()
            .expect("limits")
            .remove("defaultCategory");
        if let Some(required) = required {
            v["config"]["sources"][0]["limits"]["categoryRequired"] = json!(required);
        }
        v["classroom"]["courseWork"][0]["courseWork"][0]["topicId"] = json!("unknown-topic");
        plan(&v)
    };
    let has_line_item = |p: &SyncPlan| {
        let id = line_item_id("5001", "9001");
        p.ops.iter().any(
            |o| matches!(&o.action, Action::OneRosterPut { sourced_id, .. } if *sourced_id == id),
        )
    };
    // OneRoster 1.2 makes a lineItem's category mandatory: held back, its results with it.
    let p = uncategorized("1.2", None);
    assert!(!has_line_item(&p), "{:?}", keys(&p));
    assert!(result_for(&p, "9001", "111").is_none());
    assert_eq!(p.summary.skipped.get("courseWork.noCategory"), Some(&1));
    assert!(
        issue_mentions(&p, "refuses a lineItem without one; it was not exported"),
        "{:?}",
        p.record_issues
    );
    // 1.1 leaves it optional (sent without, and said), unless the source says otherwise.
    let p = uncategorized("1.1", None);
    assert!(has_line_item(&p));
    assert!(line_item(&p, "9001").get("category").is_none());
    assert!(issue_mentions(&p, "exported without one"));
    assert!(!has_line_item(&uncategorized("1.1", Some(true))));
    assert!(has_line_item(&uncategorized("1.2", Some(false))));
}

#[test]
fn one_one_refs_carry_hrefs_and_the_comment_is_configurable_without_resending_anything() {
    let mut v = graded();
    v["config"]["sources"][0]["limits"]["hrefRoot"] =
        json!("https://sis.example.org/ims/oneroster/v1p1/");
    v["config"]["grades"] = json!({"comment": "Graded in Google Classroom"});
    let first = plan(&v);
    let li = line_item(&first, "9001");
    assert_eq!(
        li["class"]["href"],
        "https://sis.example.org/ims/oneroster/v1p1/classes/cl1"
    );
    assert_eq!(
        li["category"]["href"],
        "https://sis.example.org/ims/oneroster/v1p1/categories/cat-hw"
    );
    assert_eq!(
        li["gradingPeriod"]["href"],
        "https://sis.example.org/ims/oneroster/v1p1/academicSessions/gp1"
    );
    let r = result_for(&first, "9001", "111").expect("result");
    assert_eq!(
        r["student"]["href"],
        "https://sis.example.org/ims/oneroster/v1p1/users/u-s1"
    );
    assert_eq!(
        r["lineItem"]["href"],
        format!(
            "https://sis.example.org/ims/oneroster/v1p1/lineItems/{}",
            line_item_id("5001", "9001")
        )
    );
    assert_eq!(r["comment"], "Graded in Google Classroom");

    // The wire-only fields are outside the digest: the same grades planned with other
    // hrefs, another comment or none, after the first export, send nothing.
    let state = commit(&input(&v).previous_state, &first, &all_succeeded(&first)).expect("commit");
    let mut again = v.clone();
    again["previousState"] = serde_json::to_value(&state).expect("state");
    again["config"]["grades"] = json!({});
    again["config"]["sources"][0]["limits"]
        .as_object_mut()
        .expect("limits")
        .remove("hrefRoot");
    let second = plan(&again);
    assert!(
        !second
            .ops
            .iter()
            .any(|o| matches!(o.entity, OpEntity::LineItem | OpEntity::Result)),
        "{:?}",
        keys(&second)
    );
}
