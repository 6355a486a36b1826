//! Every request the host sends to Classroom is one the API defines: method, path and query
//! parameters checked against Google's discovery document (tests/specs/classroom.v1.json).

mod support;

use classbridge_tests::classroom_api::{method_of, methods};
use classbridge_tests::district::Size;
use support::Harness;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_is_in_the_discovery_document() {
    let api = methods();
    assert!(api.len() > 50, "the document lists the API");

    let h = Harness::start(Size::Tiny, "").await;
    assert_eq!(h.cli(&["sync"]).await.code, 0);
    let students: Vec<String> = h.classroom.student_ids("d:cl0");
    let cw = h
        .classroom
        .post_work("d:cl0", "Poster", Some(10.0), None)
        .unwrap();
    h.classroom
        .grade(&cw, &students[0], Some(7.0), None, false, "RETURNED");
    h.sis.with_district(|d| {
        d.classes[1]["title"] = serde_json::json!("Renamed");
        d.users.retain(|u| u["sourcedId"] != "s1");
    });
    assert_eq!(h.cli(&["sync"]).await.code, 0);

    let log = h.classroom.state.log.lock().unwrap().clone();
    assert!(log.len() > 100);
    let mut kinds = std::collections::BTreeSet::new();
    for (method, path, query) in &log {
        let m = method_of(&api, method, path)
            .unwrap_or_else(|| panic!("{method} {path} is not a Classroom API method"));
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let name = pair.split('=').next().unwrap_or_default();
            assert!(
                m.params.iter().any(|p| p == name),
                "{method} {path}: unknown parameter {name}"
            );
        }
        kinds.insert(format!("{method} {}", m.segments.join("/")));
    }
    // The run exercised creation, membership, topics, patching, removals and grade reads.
    for expected in [
        "POST v1/courses",
        "PATCH v1/courses/{id}",
        "POST v1/courses/{courseId}/students",
        "DELETE v1/courses/{courseId}/students/{userId}",
        "POST v1/courses/{courseId}/topics",
        "GET v1/courses/{courseId}/courseWork/{courseWorkId}/studentSubmissions",
    ] {
        assert!(
            kinds.contains(expected),
            "{expected} not exercised: {kinds:?}"
        );
    }
}

/// The stand-in's per-person limit (`@UserGroupsMembershipLimitReached`) and its lookups by
/// alias are kept in indexes, not by scanning every course (a district's first sync was
/// quadratic): they must still answer as a scan would, after the API's own creates, adds and
/// removals and after a test changes the world by hand.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stand_in_counts_a_persons_courses_and_finds_aliases_as_they_change() {
    let classroom = classbridge_tests::classroom::start("tok").await.unwrap();
    classroom.world(|w| w.limits.classes_per_user = 2);
    let http = reqwest::Client::new();
    let base = classroom.base_url();
    let call = |method: reqwest::Method, path: String, body: serde_json::Value| {
        let request = http
            .request(method, format!("{base}/v1/{path}"))
            .bearer_auth("tok")
            .json(&body);
        async move {
            let answer = request.send().await.unwrap();
            let status = answer.status().as_u16();
            (status, answer.text().await.unwrap())
        }
    };
    for alias in ["d:a", "d:b", "d:c"] {
        let body = serde_json::json!({"id": alias, "name": alias, "ownerId": "t@x.org"});
        let (status, text) = call(reqwest::Method::POST, "courses".into(), body).await;
        assert_eq!(status, 200, "{text}");
    }
    let student = serde_json::json!({"userId": "s@x.org"});
    let add = |alias: &str| {
        call(
            reqwest::Method::POST,
            format!("courses/{alias}/students"),
            student.clone(),
        )
    };
    assert_eq!(add("d:a").await.0, 200);
    assert_eq!(add("d:b").await.0, 200);
    let (status, text) = add("d:c").await;
    assert_eq!(status, 400, "a third course is over the limit of 2: {text}");
    assert!(text.contains("UserGroupsMembershipLimitReached"), "{text}");

    // Removed from one, the person may join another (found by the alias made last).
    let (status, text) = call(
        reqwest::Method::DELETE,
        "courses/d:a/students/s@x.org".into(),
        serde_json::Value::Null,
    )
    .await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(add("d:c").await.0, 200);
    assert_eq!(add("d:a").await.0, 400, "in b and c: at the limit");

    // The owner, a teacher of all three since each was made, is over a limit of 2 already.
    let (status, text) = call(
        reqwest::Method::POST,
        "courses".into(),
        serde_json::json!({"id": "d:d", "name": "d", "ownerId": "o@x.org"}),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let (status, text) = call(
        reqwest::Method::POST,
        "courses/d:d/teachers".into(),
        serde_json::json!({"userId": "t@x.org"}),
    )
    .await;
    assert_eq!(status, 400, "the owner is counted in each course: {text}");

    // A change made by hand (as in Classroom's own UI) is seen: out of c, s may join a.
    classroom.world(|w| {
        for c in w.courses.values_mut() {
            if c.aliases.iter().any(|a| a == "d:c") {
                c.students.clear();
                c.aliases = vec!["d:renamed".into()];
            }
        }
    });
    assert_eq!(add("d:a").await.0, 200);
    assert_eq!(add("d:c").await.0, 404, "the alias is gone");
    assert_eq!(
        add("d:renamed").await.0,
        400,
        "in a and b again: at the limit"
    );
}
