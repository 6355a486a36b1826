//! Classroom read by id and by alias instead of listing every course and its aliases: the
//! engine learns a course's alias from the state (courses it made or adopted) or from the
//! host's lookup by alias, and plans exactly as it did from the listings.

mod common;

use common::*;
use serde_json::{Value, json};

/// The fixture's listings as `courses.get` answers: our three courses, each read alone,
/// without the domain's course list and without any alias listing.
fn read_by_id(mut listings: Value) -> Value {
    let courses: Vec<Value> = listings["courses"][0]["courses"]
        .as_array()
        .expect("courses")
        .iter()
        .filter(|c| c["id"] != "5999")
        .cloned()
        .collect();
    let map = listings.as_object_mut().expect("object");
    map.remove("courses");
    map.remove("aliases");
    map.insert("courseGets".into(), Value::Array(courses));
    listings
}

/// Reconnected (state wiped), then the adopted state as the previous state of the next run.
fn after_reconnect() -> Value {
    let mut v = day1();
    v["classroom"] = classroom_graded();
    let (_, state) = run_clean(&v);
    v["previousState"] = serde_json::to_value(&state).expect("state");
    v["now"] = json!("2026-09-03T06:00:00Z");
    v
}

#[test]
fn courses_read_by_id_get_their_alias_from_the_state_and_plan_as_the_listings_do() {
    let mut listed = after_reconnect();
    // Something to plan: a class renamed in the SIS, and a course renamed by hand in
    // Classroom (drift: seen only when the course read is tied to its class).
    edit(&mut listed, "classes", "cl2", |c| {
        c["title"] = json!("Life Science (renamed)");
    });
    listed["classroom"]["courses"][0]["courses"][2]["name"] = json!("Renamed by hand");
    let mut by_id = listed.clone();
    by_id["classroom"] = read_by_id(listed["classroom"].clone());
    let (a, b) = (plan(&listed), plan(&by_id));
    assert!(has_key(&a, "course.patch:d:cl2"), "{:?}", keys(&a));
    assert!(
        has_key(&a, "course.patch:d:cl3"),
        "drift repaired: {:?}",
        keys(&a)
    );
    assert_eq!(keys(&a), keys(&b));
    assert_eq!(a.id, b.id, "the same plan, to the byte");
}

#[test]
fn a_course_found_by_alias_is_adopted_as_a_listed_one_is() {
    let mut listed = day1();
    listed["classroom"] = classroom_graded();
    let mut looked_up = day1();
    looked_up["classroom"] = read_by_id(classroom_graded());
    looked_up["classroom"]["foundByAlias"] =
        json!({"d:cl1": "5001", "d:cl2": "5002", "d:cl3": "5003"});
    let (a, b) = (plan(&listed), plan(&looked_up));
    assert!(!has_key(&b, "course.create"), "{:?}", keys(&b));
    assert_eq!(keys(&a), keys(&b));
    assert_eq!(
        base(&looked_up, &b).classroom.courses["cl2"]
            .course_id
            .as_deref(),
        Some("5002")
    );
}

#[test]
fn a_course_read_without_any_known_alias_is_not_taken_for_ours() {
    // Nothing ties these courses to classes: the state is empty and nothing was looked up.
    let mut v = day1();
    v["classroom"] = read_by_id(classroom_graded());
    let plan = plan(&v);
    assert!(has_key(&plan, "course.create:d:cl1"), "{:?}", keys(&plan));
}

#[test]
fn an_unreadable_course_answer_is_a_record_issue_naming_the_course() {
    let mut v = after_reconnect();
    let mut listings = read_by_id(classroom_graded());
    listings["courseGets"]
        .as_array_mut()
        .expect("courses")
        .push(json!({"id": "5004", "name": 7}));
    v["classroom"] = listings;
    let plan = plan(&v);
    assert!(
        plan.record_issues
            .iter()
            .any(|i| i.sourced_id.as_deref() == Some("5004") && i.reason.contains("courses.get")),
        "{:?}",
        plan.record_issues
    );
}
