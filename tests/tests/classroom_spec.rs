//! Every request the host sends to Classroom is one the API defines: method, path and query
//! parameters checked against Google's discovery document (tests/specs/classroom.v1.json).

mod support;

use classbridge_tests::district::Size;
use serde_json::Value;
use support::Harness;

struct ApiMethod {
    http: String,
    segments: Vec<String>,
    params: Vec<String>,
}

fn methods(doc: &Value) -> Vec<ApiMethod> {
    fn walk(res: &Value, global: &[String], out: &mut Vec<ApiMethod>) {
        for r in res["resources"]
            .as_object()
            .into_iter()
            .flat_map(|m| m.values())
        {
            for m in r["methods"]
                .as_object()
                .into_iter()
                .flat_map(|m| m.values())
            {
                let path = m["flatPath"]
                    .as_str()
                    .or(m["path"].as_str())
                    .unwrap_or_default();
                let mut params: Vec<String> = m["parameters"]
                    .as_object()
                    .map(|p| p.keys().cloned().collect())
                    .unwrap_or_default();
                params.extend(global.iter().cloned());
                out.push(ApiMethod {
                    http: m["httpMethod"].as_str().unwrap_or_default().to_string(),
                    segments: path.split('/').map(str::to_string).collect(),
                    params,
                });
            }
            walk(r, global, out);
        }
    }
    let global: Vec<String> = doc["parameters"]
        .as_object()
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    let mut out = Vec::new();
    walk(doc, &global, &mut out);
    out
}

fn matches(m: &ApiMethod, method: &str, path: &str) -> bool {
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    m.http == method
        && m.segments.len() == segs.len()
        && m.segments
            .iter()
            .zip(&segs)
            .all(|(t, s)| (t.starts_with('{') && t.ends_with('}') && !s.is_empty()) || t == s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_is_in_the_discovery_document() {
    let doc: Value = serde_json::from_str(include_str!("../specs/classroom.v1.json")).unwrap();
    let api = methods(&doc);
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
        let m = api
            .iter()
            .find(|m| matches(m, method, path))
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
