//! Drift (issue 14, item 5): Classroom changed by hand away from the SIS is shown in the
//! preview as drift and repaired, reported or ignored by rule.

mod common;

use classbridge_engine::config::DriftAction;
use classbridge_engine::plan::{DriftKind, OpChange, SyncPlan};
use common::*;
use serde_json::{Value, json};

/// Day 1 applied, then Classroom listed exactly as classbridge left it.
fn in_step() -> Value {
    let mut v = after_day1("2026-09-02T06:00:00Z");
    let state = v["previousState"]["classroom"].clone();
    let mut courses = Vec::new();
    let mut aliases = serde_json::Map::new();
    let mut teachers = Vec::new();
    let mut students = Vec::new();
    let mut complete = Vec::new();
    for (class_id, course) in state["courses"].as_object().unwrap() {
        let id = format!("id-{class_id}");
        let mut body =
            json!({"id": id, "name": course["name"], "courseState": course["courseState"]});
        for field in ["section", "room"] {
            if let Some(v) = course.get(field) {
                body[field] = v.clone();
            }
        }
        courses.push(body);
        aliases.insert(
            id.clone(),
            json!([{"aliases": [{"alias": course["alias"]}]}]),
        );
        let member = |email: &Value| json!({"courseId": id, "userId": email, "profile": {"emailAddress": email}});
        let mut t: Vec<Value> = vec![member(&course["owner"])];
        for email in state["teachers"][class_id].as_array().into_iter().flatten() {
            if *email != course["owner"] {
                t.push(member(email));
            }
        }
        teachers.push(json!({"teachers": t}));
        let s: Vec<Value> = state["students"][class_id]
            .as_array()
            .into_iter()
            .flatten()
            .map(member)
            .collect();
        students.push(json!({"students": s}));
        complete.push(json!(id));
    }
    v["classroom"] = json!({
        "courses": [{"courses": courses}],
        "aliases": aliases,
        "teachers": teachers,
        "students": students,
        "membersComplete": complete,
    });
    v
}

fn a_student_of_cl1(v: &Value) -> String {
    v["previousState"]["classroom"]["students"]["cl1"][0]
        .as_str()
        .unwrap()
        .to_string()
}

fn drop_student(v: &mut Value, email: &str) {
    for page in v["classroom"]["students"].as_array_mut().unwrap() {
        page["students"]
            .as_array_mut()
            .unwrap()
            .retain(|m| m["profile"]["emailAddress"] != email);
    }
}

fn add_student(v: &mut Value, class_id: &str, email: &str) {
    let id = format!("id-{class_id}");
    let page = v["classroom"]["students"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|p| p["students"][0]["courseId"] == id.as_str())
        .unwrap();
    page["students"]
        .as_array_mut()
        .unwrap()
        .push(json!({"courseId": id, "userId": email, "profile": {"emailAddress": email}}));
}

fn drift_rules(v: &mut Value, kind: &str, action: &str) {
    v["config"]["drift"][kind] = json!(action);
}

fn op_keys(p: &SyncPlan) -> Vec<&str> {
    p.ops.iter().map(|o| o.key.as_str()).collect()
}

#[test]
fn classroom_as_classbridge_left_it_is_no_drift() {
    let p = plan(&in_step());
    assert!(p.drift.is_empty(), "{:?}", p.drift);
    assert!(p.ops.is_empty(), "{:?}", op_keys(&p));
}

#[test]
fn a_student_removed_by_hand_is_added_back_by_default_and_shown_as_drift() {
    let mut v = in_step();
    let email = a_student_of_cl1(&v);
    drop_student(&mut v, &email);
    let p = plan(&v);
    let key = format!("student.add:d:cl1:{email}");
    let op = p.ops.iter().find(|o| o.key == key).expect("the repair");
    assert!(op.summary.contains("repairs drift"), "{}", op.summary);
    let why = op.why.as_deref().expect("explained");
    assert!(
        why.rules
            .iter()
            .any(|r| r.kind == classbridge_engine::explanation::RuleKind::Drift),
        "{why:?}"
    );
    assert!(why.text().contains("drift is repaired"), "{}", why.text());
    assert_eq!(p.drift.len(), 1, "{:?}", p.drift);
    let d = &p.drift[0];
    assert_eq!(d.kind, DriftKind::MissingMember);
    assert_eq!(d.action, DriftAction::Repair);
    assert_eq!(d.repair_key.as_deref(), Some(key.as_str()));
    assert!(d.message.contains("removed from"), "{}", d.message);
}

#[test]
fn a_missing_student_is_only_reported_when_the_rule_says_report() {
    let mut v = in_step();
    drift_rules(&mut v, "missingMember", "report");
    let email = a_student_of_cl1(&v);
    drop_student(&mut v, &email);
    let p = plan(&v);
    assert!(p.ops.is_empty(), "{:?}", op_keys(&p));
    assert_eq!(p.drift.len(), 1);
    assert_eq!(p.drift[0].action, DriftAction::Report);
}

#[test]
fn ignored_drift_is_counted_not_listed() {
    let mut v = in_step();
    drift_rules(&mut v, "missingMember", "ignore");
    let email = a_student_of_cl1(&v);
    drop_student(&mut v, &email);
    let p = plan(&v);
    assert!(p.ops.is_empty() && p.drift.is_empty());
    assert_eq!(p.summary.skipped["drift.missingMember.ignored"], 1);
}

#[test]
fn someone_added_by_hand_is_reported_and_never_removed_by_default() {
    let mut v = in_step();
    add_student(&mut v, "cl1", "visitor@elsewhere.org");
    let p = plan(&v);
    assert!(p.ops.is_empty(), "{:?}", op_keys(&p));
    assert_eq!(p.drift.len(), 1);
    assert_eq!(p.drift[0].kind, DriftKind::ExtraMember);
    assert!(
        p.drift[0].message.contains("the SIS does not know them"),
        "{}",
        p.drift[0].message
    );
}

#[test]
fn someone_added_by_hand_is_removed_when_the_rule_says_repair() {
    let mut v = in_step();
    drift_rules(&mut v, "extraMember", "repair");
    add_student(&mut v, "cl1", "visitor@elsewhere.org");
    let p = plan(&v);
    let op = p
        .ops
        .iter()
        .find(|o| o.key == "student.remove:d:cl1:visitor@elsewhere.org")
        .expect("the removal");
    assert_eq!(op.change, OpChange::Delete);
    assert_eq!(p.drift[0].repair_key.as_deref(), Some(op.key.as_str()));
}

#[test]
fn a_course_renamed_in_classroom_is_renamed_back() {
    let mut v = in_step();
    let sis_name = v["previousState"]["classroom"]["courses"]["cl1"]["name"].clone();
    v["classroom"]["courses"][0]["courses"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|c| c["id"] == "id-cl1")
        .unwrap()["name"] = json!("Renamed by a teacher");
    let p = plan(&v);
    let patch = p
        .ops
        .iter()
        .find(|o| o.key.starts_with("course.patch:d:cl1:"))
        .expect("a patch back");
    assert_eq!(patch.after.as_ref().unwrap()["name"], sis_name);
    assert!(patch.summary.contains("repairs drift"));
    let d = &p.drift[0];
    assert_eq!(d.kind, DriftKind::CourseField);
    assert_eq!(d.subject, "name");
    assert_eq!(d.found, Some(json!("Renamed by a teacher")));
    assert_eq!(d.repair_key.as_deref(), Some(patch.key.as_str()));

    drift_rules(&mut v, "courseFields", "report");
    let p = plan(&v);
    assert!(p.ops.is_empty(), "{:?}", op_keys(&p));
    assert_eq!(p.drift.len(), 1);
}

#[test]
fn members_are_compared_only_where_both_lists_were_read_whole() {
    let mut v = in_step();
    let email = a_student_of_cl1(&v);
    drop_student(&mut v, &email);
    v["classroom"]["membersComplete"] = json!([]);
    let p = plan(&v);
    assert!(p.drift.is_empty() && p.ops.is_empty(), "{:?}", p.drift);
}
