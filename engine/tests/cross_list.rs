//! Cross-listed and merged sections (issue 18, item 4): a rule merges SIS classes into one
//! Classroom course with every class's people, and grades go back to each SIS class for its
//! own students.

mod common;

use classbridge_engine::plan::{Action, OpEntity};
use classbridge_engine::{SyncPlan, line_item_id, merged_line_item_id, result_id};
use common::*;
use serde_json::{Value, json};

fn merged(rule: Value) -> Value {
    let mut v = day1();
    v["config"]["classroom"] = json!({ "crossList": [rule] });
    v
}

fn members_added(p: &SyncPlan, alias: &str) -> Vec<String> {
    let mut out: Vec<String> = p
        .ops
        .iter()
        .filter_map(|o| match &o.action {
            Action::ClassroomAddStudent { alias: a, user_id }
            | Action::ClassroomAddTeacher { alias: a, user_id }
                if a.as_str() == alias =>
            {
                Some(user_id.to_string())
            }
            _ => None,
        })
        .collect();
    out.sort();
    out
}

fn courses_created(p: &SyncPlan) -> Vec<&str> {
    p.ops
        .iter()
        .filter(|o| o.key.starts_with("course.create:"))
        .map(|o| o.key.as_str())
        .collect()
}

#[test]
fn listed_classes_share_one_course_with_all_their_people() {
    let p = plan(&merged(json!({ "classes": ["cl1", "cl2"] })));
    assert_eq!(
        courses_created(&p),
        ["course.create:d:cl1", "course.create:d:cl3"]
    );
    let people = members_added(&p, "d:cl1");
    // cl2's teacher and students join cl1's course.
    for who in [
        "grace.hopper@district.org",
        "ava.martin@students.district.org",
        "liam.nguyen@students.district.org",
    ] {
        assert!(people.iter().any(|p| p == who), "{who} in {people:?}");
    }
    // Unmerged, the same district makes three courses.
    let plain = plan(&day1());
    assert_eq!(courses_created(&plain).len(), 3);
}

#[test]
fn classes_sharing_fields_are_merged_and_an_existing_course_keeps_its_class() {
    // cl1 and cl2 share a period in this test; cl3 does not.
    let mut v = day1();
    for (id, period) in [("cl1", "P2"), ("cl2", "P2"), ("cl3", "P5")] {
        edit(&mut v, "classes", id, |c| c["periods"] = json!([period]));
    }
    // The courses exist already; the rule is added later: cl2's course is archived and its
    // class taught in cl1's, which keeps its course.
    let (_, state) = run_clean(&v);
    let mut later = v.clone();
    later["previousState"] = serde_json::to_value(&state).expect("state");
    later["now"] = json!("2026-09-02T06:00:00Z");
    later["config"]["classroom"] = json!({ "crossList": [{ "same": ["periods"] }] });
    let p = plan(&later);
    assert!(courses_created(&p).is_empty(), "{:?}", keys(&p));
    let archive = p
        .ops
        .iter()
        .find(|o| o.key == "course.archive:d:cl2")
        .unwrap_or_else(|| panic!("cl2's own course is archived: {:?}", keys(&p)));
    assert!(
        archive
            .summary
            .contains("taught in the course of class cl1"),
        "{}",
        archive.summary
    );
    let people = members_added(&p, "d:cl1");
    assert!(
        people.contains(&"ava.martin@students.district.org".to_string()),
        "{people:?}"
    );
}

#[test]
fn a_merged_course_s_grades_go_to_each_class_for_its_own_students() {
    let v = merged(json!({ "classes": ["cl1", "cl2"] }));
    let (_, state) = run_clean(&v);
    let mut graded = v.clone();
    graded["previousState"] = serde_json::to_value(&state).expect("state");
    graded["now"] = json!("2026-10-01T06:00:00Z");
    let mut listing = classroom_graded();
    // Ava (cl2) is in the merged course 5001 and handed in the same work.
    listing["students"][0]["students"]
        .as_array_mut()
        .expect("students")
        .push(json!({"courseId": "5001", "userId": "117", "profile": {"emailAddress": "ava.martin@students.district.org", "id": "117"}}));
    listing["studentSubmissions"][0]["studentSubmissions"]
        .as_array_mut()
        .expect("submissions")
        .push(json!({"courseId": "5001", "courseWorkId": "9001", "id": "sub-ava", "userId": "117", "state": "RETURNED", "assignedGrade": 17, "updateTime": "2026-09-22T10:00:00Z"}));
    graded["classroom"] = listing;
    let p = plan(&graded);
    let put = |id: &str| {
        p.ops
            .iter()
            .find(|o| matches!(&o.action, Action::OneRosterPut { sourced_id, .. } if sourced_id == id))
            .and_then(|o| match &o.action {
                Action::OneRosterPut { body, .. } => body.to_value().ok(),
                _ => None,
            })
    };
    let own = line_item_id("5001", "9001");
    let theirs = merged_line_item_id("5001", "9001", "cl2");
    let own_li = put(&own).expect("cl1's lineItem");
    let their_li = put(&theirs).expect("cl2's lineItem");
    assert_eq!(own_li["lineItem"]["class"]["sourcedId"], "cl1");
    assert_eq!(their_li["lineItem"]["class"]["sourcedId"], "cl2");
    assert_eq!(own_li["lineItem"]["title"], their_li["lineItem"]["title"]);
    let ava = put(&result_id("5001", "9001", "117")).expect("Ava's result");
    assert_eq!(ava["result"]["lineItem"]["sourcedId"], theirs.as_str());
    assert_eq!(ava["result"]["student"]["sourcedId"], "u-s7");
    let liam = put(&result_id("5001", "9001", "111")).expect("Liam's result");
    assert_eq!(liam["result"]["lineItem"]["sourcedId"], own.as_str());
    let line_items = p
        .ops
        .iter()
        .filter(|o| o.entity == OpEntity::LineItem)
        .count();
    assert_eq!(line_items, 4, "two graded works, in each of two classes");
}

#[test]
fn a_cross_listing_rule_must_name_classes_or_fields() {
    for (rule, field) in [
        (json!({}), "classroom.crossList[0]"),
        (
            json!({ "classes": ["cl1"] }),
            "classroom.crossList[0].classes",
        ),
        (
            json!({ "classes": ["cl1", "cl2"], "same": ["periods"] }),
            "classroom.crossList[0]",
        ),
    ] {
        let err = classbridge_engine::plan(input(&merged(rule.clone()))).expect_err("refused");
        assert!(err.to_string().contains(field), "{rule}: {err}");
    }
}
