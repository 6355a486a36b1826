//! `classbridge undo RUN` (issue 19) through the real host against the stand-ins: a roster
//! run undone (a removed student back, a renamed course restored) with the part that cannot
//! be undone listed and left alone (a student who has since turned in work); a grade export
//! undone (a result put back to the value it replaced, then the export's records deleted);
//! and a first sync undone, deleting only the courses with no teacher work.

mod support;

use classbridge_tests::district::Size;
use serde_json::{Value, json};
use support::Harness;

fn email_of(h: &Harness, user: &str) -> String {
    h.sis.with_district(|d| {
        d.users
            .iter()
            .find(|u| u["sourcedId"] == user)
            .and_then(|u| u["email"].as_str())
            .expect("email")
            .to_lowercase()
    })
}

fn course_name(h: &Harness, alias: &str) -> String {
    h.classroom
        .course_by_alias(alias)
        .and_then(|c| c.body["name"].as_str().map(str::to_string))
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_roster_run_is_undone_except_what_would_lose_a_student_s_work() {
    let h = Harness::start(Size::Tiny, "").await;
    assert_eq!(h.cli(&["sync"]).await.code, 0);
    // Run 2: s0 leaves cl0 (end date passed), cl1 is renamed, s1 joins a class they were not in.
    let (joined, old_title) = h.sis.with_district(|d| {
        let e = d
            .enrollments
            .iter_mut()
            .find(|e| e["sourcedId"] == "e-cl0-s0")
            .expect("s0 in cl0");
        e["endDate"] = json!("2026-01-15");
        let class = d
            .classes
            .iter_mut()
            .find(|c| c["sourcedId"] == "cl1")
            .expect("cl1");
        let old = class["title"].as_str().expect("title").to_string();
        class["title"] = json!(format!("{old} (renamed)"));
        let theirs: Vec<String> = d
            .enrollments
            .iter()
            .filter(|e| e["user"]["sourcedId"] == "s1")
            .filter_map(|e| e["class"]["sourcedId"].as_str().map(str::to_string))
            .collect();
        let other = d
            .classes
            .iter()
            .find(|c| !theirs.iter().any(|t| c["sourcedId"] == t.as_str()))
            .expect("a class s1 is not in")
            .clone();
        let class_id = other["sourcedId"].as_str().expect("id").to_string();
        d.enrollments.push(json!({
            "sourcedId": "e-undo-s1", "status": "active", "role": "student", "primary": false,
            "dateLastModified": "2026-01-01T00:00:00Z",
            "user": {"href": "/users/s1", "sourcedId": "s1", "type": "user"},
            "class": {"href": format!("/classes/{class_id}"), "sourcedId": class_id, "type": "class"},
            "school": other["school"].clone(),
        }));
        (class_id, old)
    });
    let second = h.cli(&["sync"]).await;
    assert_eq!(second.code, 0, "{}{}", second.stdout, second.stderr);
    let s0 = email_of(&h, "s0");
    let s1 = email_of(&h, "s1");
    assert!(!h.classroom.student_ids("d:cl0").contains(&s0));
    assert!(
        h.classroom
            .student_ids(&format!("d:{joined}"))
            .contains(&s1)
    );
    assert_eq!(course_name(&h, "d:cl1"), format!("{old_title} (renamed)"));
    // s1 turns in work in the class they joined.
    let cw = h
        .classroom
        .post_work(&format!("d:{joined}"), "Essay", Some(10.0), None)
        .expect("work posted");
    assert!(h.classroom.grade(&cw, &s1, None, None, false, "TURNED_IN"));

    let undo = h.cli(&["undo", "2", "--json"]).await;
    assert_eq!(
        undo.code, 4,
        "an undo waits for approval: {}{}",
        undo.stdout, undo.stderr
    );
    let undo = undo.json();
    let undo_run = undo["run"].as_i64().expect("the undo's run");
    assert_eq!(undo_run, 3);
    let issues = undo["plan"]["recordIssues"].to_string();
    assert!(
        issues.contains("has since turned in 1 piece(s) of work"),
        "{issues}"
    );
    // Nothing changed yet.
    assert!(!h.classroom.student_ids("d:cl0").contains(&s0));

    let approved = h.cli(&["approve", &undo_run.to_string()]).await;
    assert_eq!(approved.code, 0, "{}{}", approved.stdout, approved.stderr);
    assert!(h.classroom.student_ids("d:cl0").contains(&s0), "s0 is back");
    assert_eq!(course_name(&h, "d:cl1"), old_title, "the old name is back");
    assert!(
        h.classroom
            .student_ids(&format!("d:{joined}"))
            .contains(&s1),
        "a student with work is never removed"
    );
    // The undo explains itself, and is in the person's history.
    let history = h.cli(&["explain", "--person", &s0, "--json"]).await.json();
    let back = history["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .find(|c| c["run"] == undo_run)
        .expect("the undo's change for s0")
        .clone();
    assert_eq!(back["outcome"]["status"], "succeeded");
    assert!(
        back["op"]["why"]["text"]
            .as_str()
            .unwrap_or_default()
            .contains("run 2 applied"),
        "{back}"
    );

    // Only applied runs: not a run that is not there, nor one only planned.
    let none = h.cli(&["undo", "99"]).await;
    assert_ne!(none.code, 0);
    assert!(none.stderr.contains("99"), "{}", none.stderr);
    let planned = h.cli(&["plan", "--json"]).await.json();
    let planned = planned["run"].as_i64().expect("run").to_string();
    let refused = h.cli(&["undo", &planned]).await;
    assert_ne!(refused.code, 0);
    assert!(
        refused.stderr.contains("only an applied"),
        "{}",
        refused.stderr
    );
}

fn result_score(h: &Harness, student: &str) -> Option<Value> {
    h.sis
        .gradebook("results")
        .into_iter()
        .find(|r| r["student"]["sourcedId"] == student)
        .map(|r| r["score"].clone())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_grade_export_and_a_first_sync_are_undone_from_what_they_replaced() {
    let h = Harness::start(Size::Tiny, "").await;
    assert_eq!(h.cli(&["sync"]).await.code, 0);
    let alias = "d:cl0";
    let s0 = email_of(&h, "s0");
    let cw = h
        .classroom
        .post_work(alias, "Lab report", Some(50.0), Some("Homework"))
        .expect("work");
    assert!(
        h.classroom
            .grade(&cw, &s0, Some(45.0), None, false, "RETURNED")
    );
    assert_eq!(h.cli(&["sync"]).await.code, 0, "run 2 exports the grade");
    assert_eq!(result_score(&h, "s0"), Some(json!(45.0)));
    // The teacher regrades: run 3 replaces the SIS's 45 with 40.
    assert!(
        h.classroom
            .grade(&cw, &s0, Some(40.0), None, false, "RETURNED")
    );
    assert_eq!(h.cli(&["sync"]).await.code, 0);
    assert_eq!(result_score(&h, "s0"), Some(json!(40.0)));

    let undo = h.cli(&["undo", "3", "--json"]).await;
    assert_eq!(undo.code, 4, "{}{}", undo.stdout, undo.stderr);
    let run = undo.json()["run"].as_i64().expect("run").to_string();
    assert_eq!(h.cli(&["approve", &run]).await.code, 0);
    assert_eq!(
        result_score(&h, "s0"),
        Some(json!(45.0)),
        "the SIS has the value run 3 replaced"
    );

    // Undoing the first export deletes what it created.
    let undo = h.cli(&["undo", "2", "--json"]).await;
    assert_eq!(undo.code, 4, "{}{}", undo.stdout, undo.stderr);
    let run = undo.json()["run"].as_i64().expect("run").to_string();
    let approved = h.cli(&["approve", &run]).await;
    assert_eq!(approved.code, 0, "{}{}", approved.stdout, approved.stderr);
    assert!(h.sis.gradebook("results").is_empty());
    assert!(h.sis.gradebook("lineItems").is_empty());

    // The first sync: every course it made goes, but the one with teacher work stays, said so.
    let courses_before = h.classroom.world(|w| w.courses.len());
    let undo = h.cli(&["undo", "1", "--json"]).await;
    assert_eq!(undo.code, 4, "{}{}", undo.stdout, undo.stderr);
    let undo = undo.json();
    let issues = undo["plan"]["recordIssues"].to_string();
    assert!(
        issues.contains("teachers have since posted 1 piece(s) of work"),
        "{issues}"
    );
    let run = undo["run"].as_i64().expect("run").to_string();
    let approved = h.cli(&["approve", &run]).await;
    assert_eq!(approved.code, 0, "{}{}", approved.stdout, approved.stderr);
    let left: Vec<String> = h
        .classroom
        .world(|w| w.courses.values().flat_map(|c| c.aliases.clone()).collect());
    assert_eq!(left, [alias.to_string()], "of {courses_before} courses");
}
