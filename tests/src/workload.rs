//! Benchmark workloads: a generated district as the engine's `SyncInput`, with Classroom
//! listings holding graded work (2 courseWork per class, a submission per student each).

use serde_json::{Value, json};

use crate::classroom::user_id;
use crate::district::District;

const PAGE: usize = 10_000;

pub fn rules() -> Value {
    json!({
        "sources": [{"id": "riverside", "version": "1.1", "limits": {"defaultCategory": "cat-asg", "lineItemTitleMax": 30}}],
        // Benchmarks measure the work, not the hold: let everything through.
        "holds": {"thresholds": [], "maxShrinkPercent": 100.0}
    })
}

fn pages(name: &str, records: &[Value]) -> Value {
    let pages: Vec<Value> = if records.is_empty() {
        vec![json!({ name: [] })]
    } else {
        records.chunks(PAGE).map(|c| json!({ name: c })).collect()
    };
    json!({"mode": "full", "pages": pages})
}

pub fn source(d: &District) -> Value {
    let mut collections = serde_json::Map::new();
    for name in [
        "orgs",
        "academicSessions",
        "courses",
        "classes",
        "users",
        "enrollments",
        "categories",
    ] {
        collections.insert(
            name.into(),
            pages(name, d.collection(name).map(Vec::as_slice).unwrap_or(&[])),
        );
    }
    json!({"sourceId": "riverside", "payload": {"format": "oneRosterJson", "collections": collections}})
}

/// Classroom as it stands after a first roster sync, with `works` graded assignments per class.
pub fn classroom(d: &District, works: usize) -> Value {
    let mut courses = Vec::new();
    let mut aliases = serde_json::Map::new();
    let mut teachers = Vec::new();
    let mut students = Vec::new();
    let mut course_work = Vec::new();
    let mut submissions = Vec::new();
    let mut complete = Vec::new();
    let email_of: std::collections::HashMap<&str, &str> = d
        .users
        .iter()
        .filter_map(|u| Some((u["sourcedId"].as_str()?, u["email"].as_str()?)))
        .collect();
    let mut by_class: std::collections::HashMap<&str, Vec<(&str, &str)>> =
        std::collections::HashMap::new();
    for e in &d.enrollments {
        if let (Some(c), Some(u), Some(r)) = (
            e["class"]["sourcedId"].as_str(),
            e["user"]["sourcedId"].as_str(),
            e["role"].as_str(),
        ) {
            by_class.entry(c).or_default().push((u, r));
        }
    }
    for (n, class) in d.classes.iter().enumerate() {
        let class_id = class["sourcedId"].as_str().unwrap_or_default();
        let id = format!("{}", 100_000 + n);
        let members = by_class.get(class_id).cloned().unwrap_or_default();
        let owner = members
            .iter()
            .find(|(_, r)| *r == "teacher")
            .and_then(|(u, _)| email_of.get(u))
            .copied()
            .unwrap_or("nobody@district.example");
        courses.push(json!({"id": id, "name": class["title"], "section": class["classCode"], "room": class["location"],
            "ownerId": user_id(owner), "courseState": "ACTIVE"}));
        aliases.insert(
            id.clone(),
            json!([{"aliases": [{"alias": format!("d:{class_id}")}]}]),
        );
        let member = |email: &str| json!({"courseId": id, "userId": user_id(email), "profile": {"id": user_id(email), "emailAddress": email}});
        let mut course_students = Vec::new();
        for (u, role) in &members {
            let Some(email) = email_of.get(u) else {
                continue;
            };
            if *role == "teacher" {
                teachers.push(member(email));
            } else {
                students.push(member(email));
                course_students.push(*email);
            }
        }
        for w in 0..works {
            let cw = format!("{id}{w:02}");
            course_work.push(json!({"courseId": id, "id": cw, "title": format!("Assignment {w} of {class_id}"),
                "maxPoints": 100.0, "state": "PUBLISHED", "dueDate": {"year": 2026, "month": 9, "day": 20},
                "creationTime": "2026-09-01T12:00:00Z", "updateTime": "2026-09-01T12:00:00Z"}));
            for (k, email) in course_students.iter().enumerate() {
                let grade = ((k * 7 + w * 13) % 101) as f64;
                submissions.push(json!({"courseId": id, "courseWorkId": cw, "id": format!("{cw}-{k}"), "userId": user_id(email),
                    "state": "RETURNED", "late": k % 10 == 0, "assignedGrade": grade,
                    "creationTime": "2026-09-01T12:00:00Z", "updateTime": "2026-09-19T15:00:00Z"}));
            }
        }
        complete.push(id);
    }
    let chunked = |key: &str, items: Vec<Value>| -> Vec<Value> {
        items.chunks(PAGE).map(|c| json!({ key: c })).collect()
    };
    json!({
        "courses": chunked("courses", courses),
        "aliases": aliases,
        "teachers": chunked("teachers", teachers),
        "students": chunked("students", students),
        "courseWork": chunked("courseWork", course_work),
        "studentSubmissions": chunked("studentSubmissions", submissions),
        "courseWorkComplete": complete,
    })
}

pub fn input(d: &District, classroom: Value, previous_state: Value, now: &str) -> Value {
    json!({"config": rules(), "sources": [source(d)], "classroom": classroom, "previousState": previous_state, "now": now})
}

/// Regrades about 1% of the submissions in a `classroom()` snapshot.
pub fn regrade_one_percent(classroom: &mut Value) {
    let mut k = 0;
    if let Some(pages) = classroom["studentSubmissions"].as_array_mut() {
        for page in pages {
            if let Some(subs) = page["studentSubmissions"].as_array_mut() {
                for sub in subs {
                    k += 1;
                    if k % 100 == 0 {
                        let grade = sub["assignedGrade"].as_f64().unwrap_or(0.0);
                        sub["assignedGrade"] = json!((grade + 1.0) % 101.0);
                        sub["updateTime"] = json!("2026-09-21T15:00:00Z");
                    }
                }
            }
        }
    }
}

/// Changes about 1% of users (renamed) and enrollments (dropped).
pub fn change_one_percent(d: &mut District) {
    let n = d.users.len();
    for i in (0..n).step_by(100) {
        d.users[i]["givenName"] = json!(format!("Renamed{i}"));
    }
    let mut k = 0;
    d.enrollments.retain(|_| {
        k += 1;
        k % 100 != 50
    });
}
