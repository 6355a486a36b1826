//! `classbridge explain` (issue 19, "why") through the real host against the stand-ins: one
//! operation's chain from SIS record to change, and one person's changes across runs with
//! the records of theirs a rule left out.

mod support;

use classbridge_tests::district::{District, Size};
use serde_json::Value;
use support::Harness;

/// A student with a class, by (user id, email, enrolment id), and a second student.
fn two_students(d: &District) -> ((String, String, String), String) {
    let mut students = d.enrollments.iter().filter(|e| e["role"] == "student");
    let email_of = |user: &Value| {
        d.users
            .iter()
            .find(|u| u["sourcedId"] == *user)
            .and_then(|u| u["email"].as_str())
            .expect("a student's email")
            .to_lowercase()
    };
    let first = students.next().expect("a student enrolment");
    let user = first["user"]["sourcedId"].clone();
    let second = students
        .find(|e| e["user"]["sourcedId"] != user)
        .expect("another student");
    (
        (
            user.as_str().expect("id").to_string(),
            email_of(&user),
            first["sourcedId"].as_str().expect("id").to_string(),
        ),
        second["user"]["sourcedId"]
            .as_str()
            .expect("id")
            .to_string(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn explain_tells_why_one_change_and_one_person_s_history() {
    let district = District::generate(Size::Tiny, 11);
    let ((_, email, enrolment), left_out) = two_students(&district);
    let left_out_email = district
        .users
        .iter()
        .find(|u| u["sourcedId"] == left_out.as_str())
        .and_then(|u| u["email"].as_str())
        .expect("email")
        .to_lowercase();
    let rules = format!(
        "[[rules.filters]]\nentity = \"user\"\nfield = \"sourcedId\"\nop = \"equals\"\nvalue = \"{left_out}\"\naction = \"exclude\""
    );
    let h = Harness::start(Size::Tiny, &rules).await;
    assert_eq!(h.cli(&["sync"]).await.code, 0);

    // The SIS ends the first student's enrolment.
    h.sis.with_district(|d| {
        let e = d
            .enrollments
            .iter_mut()
            .find(|e| e["sourcedId"] == enrolment.as_str())
            .expect("the enrolment");
        e["endDate"] = Value::from("2026-01-15");
    });
    assert_eq!(h.cli(&["sync"]).await.code, 0);

    let history = h.cli(&["explain", "--person", &email, "--json"]).await;
    assert_eq!(history.code, 0, "{}", history.stderr);
    let history = history.json();
    let changes = history["changes"].as_array().expect("changes");
    let added = changes
        .iter()
        .find(|c| {
            c["run"] == 1
                && c["op"]["change"] == "create"
                && c["op"]["why"]["causes"][0]["id"] == enrolment.as_str()
        })
        .expect("added to the class on the first run");
    assert_eq!(added["outcome"]["status"], "succeeded");
    assert!(
        added["op"]["why"]["text"]
            .as_str()
            .expect("why")
            .contains(&format!("the SIS's enrollment '{enrolment}' is new")),
        "{added}"
    );
    let removed = changes
        .iter()
        .find(|c| c["run"] == 2 && c["op"]["change"] == "delete")
        .expect("removed on the second run");
    assert_eq!(removed["outcome"]["status"], "succeeded");
    let why = removed["op"]["why"]["text"].as_str().expect("why");
    assert!(
        why.contains(&format!(
            "the SIS's enrollment '{enrolment}' ended on 2026-01-15 (enrollments.endDate)"
        )),
        "{why}"
    );
    assert_eq!(
        removed["op"]["why"]["causes"][0]["fields"][0]["field"],
        "endDate"
    );

    // One operation, in words.
    let op_id = removed["op"]["opId"].as_str().expect("op id");
    let one = h.cli(&["explain", "2", op_id]).await;
    assert_eq!(one.code, 0, "{}", one.stderr);
    assert!(one.stdout.contains("(applied)"), "{}", one.stdout);
    assert!(one.stdout.contains("remove student"), "{}", one.stdout);
    assert!(
        one.stdout.contains("endDate: unset → '2026-01-15'"),
        "{}",
        one.stdout
    );
    assert!(
        one.stdout.contains("rule: enrollments.beginDate/endDate"),
        "{}",
        one.stdout
    );

    // The student the filter leaves out: told by the run that left them out.
    let skipped = h.cli(&["explain", "--person", &left_out_email]).await;
    assert_eq!(skipped.code, 0, "{}", skipped.stderr);
    assert!(
        skipped
            .stdout
            .contains(&format!("left out: user {left_out} (rule filters[0]")),
        "{}",
        skipped.stdout
    );
    assert!(
        skipped.stdout.contains("Run 1 ("),
        "the first run left them out: {}",
        skipped.stdout
    );

    // Asked about what is not there: said, not a panic.
    let nobody = h.cli(&["explain", "--person", "nobody@example.org"]).await;
    assert_eq!(nobody.code, 0);
    assert!(
        nobody
            .stdout
            .contains("No change was planned for nobody@example.org")
    );
    let wrong = h.cli(&["explain", "2", "no-such-op"]).await;
    assert_ne!(wrong.code, 0);
    assert!(
        wrong.stderr.contains("run 2 has no operation 'no-such-op'"),
        "{}",
        wrong.stderr
    );
    let no_run = h.cli(&["explain", "99", "x"]).await;
    assert_ne!(no_run.code, 0);
    assert!(no_run.stderr.contains("99"), "{}", no_run.stderr);
}
