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
