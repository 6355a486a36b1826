//! A seeded district: schools, a school year, courses, classes, students, teachers and
//! enrollments in OneRoster 1.1 shape, sized like real districts, plus categories.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::rng::SeededRng;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Size {
    /// A handful of classes, for fast tests.
    Tiny,
    /// ≈ 1k students.
    S,
    /// ≈ 20k students.
    M,
    /// ≈ 200k students.
    L,
}

impl Size {
    pub fn parse(s: &str) -> Option<Size> {
        match s.to_ascii_lowercase().as_str() {
            "tiny" => Some(Size::Tiny),
            "s" => Some(Size::S),
            "m" => Some(Size::M),
            "l" => Some(Size::L),
            _ => None,
        }
    }

    pub fn students(self) -> usize {
        match self {
            Size::Tiny => 40,
            Size::S => 1_000,
            Size::M => 20_000,
            Size::L => 200_000,
        }
    }
}

pub const STAMP: &str = "2026-08-01T00:00:00Z";
pub const STUDENT_DOMAIN: &str = "students.district.example";
pub const STAFF_DOMAIN: &str = "district.example";

#[derive(Clone, Debug, Default)]
pub struct District {
    pub orgs: Vec<Value>,
    pub academic_sessions: Vec<Value>,
    pub courses: Vec<Value>,
    pub classes: Vec<Value>,
    pub users: Vec<Value>,
    pub enrollments: Vec<Value>,
    pub categories: Vec<Value>,
}

fn r#ref(kind: &str, id: &str) -> Value {
    json!({ "href": format!("/{kind}s/{id}"), "sourcedId": id, "type": kind })
}

impl District {
    /// Classes of 32, 8 per student, one teacher per 16 students.
    pub fn generate(size: Size, seed: u64) -> District {
        let mut rng = SeededRng::new(seed);
        let students = size.students();
        let teachers = (students / 16).max(2);
        let classes = (students / 4).max(4);
        let schools = (students / 500).clamp(2, 400);
        let mut d = District::default();
        d.orgs.push(
            json!({"sourcedId": "district", "status": "active", "dateLastModified": STAMP,
            "name": "Riverside Unified", "type": "district", "identifier": "RU"}),
        );
        for s in 0..schools {
            d.orgs.push(json!({"sourcedId": format!("sch{s}"), "status": "active", "dateLastModified": STAMP,
                "name": format!("School {s}"), "type": "school", "identifier": format!("S{s}"),
                "parent": r#ref("org", "district")}));
        }
        // The classes' term. End-to-end runs plan on the real clock, and a class whose terms
        // have all ended is archived (`classroom.termEnd`): the year runs far ahead so that
        // the suite means the same whenever it runs.
        d.academic_sessions.push(json!({"sourcedId": "y2027", "status": "active", "dateLastModified": STAMP,
            "title": "2026-2027", "type": "schoolYear", "startDate": "2026-08-10", "endDate": "2099-06-10", "schoolYear": "2027"}));
        d.academic_sessions.push(json!({"sourcedId": "q1", "status": "active", "dateLastModified": STAMP,
            "title": "Quarter 1", "type": "gradingPeriod", "startDate": "2026-08-10", "endDate": "2026-10-31",
            "schoolYear": "2027", "parent": r#ref("academicSession", "y2027")}));
        let subjects = [
            "Algebra",
            "Biology",
            "English",
            "History",
            "Art",
            "Chemistry",
            "Spanish",
            "Music",
        ];
        for (i, subject) in subjects.iter().enumerate() {
            d.courses.push(json!({"sourcedId": format!("crs{i}"), "status": "active", "dateLastModified": STAMP,
                "title": subject, "courseCode": format!("{}-1", &subject[..3].to_uppercase()),
                "org": r#ref("org", "district"), "schoolYear": r#ref("academicSession", "y2027")}));
        }
        for t in 0..teachers {
            let school = format!("sch{}", t % schools);
            d.users.push(json!({"sourcedId": format!("t{t}"), "status": "active", "dateLastModified": STAMP,
                "enabledUser": "true", "username": format!("t{t}"), "givenName": format!("Teacher{t}"),
                "familyName": "Smith", "role": "teacher", "identifier": format!("T{t:05}"),
                "email": format!("t{t}@{STAFF_DOMAIN}"), "orgs": [r#ref("org", &school)], "grades": []}));
        }
        for s in 0..students {
            let school = format!("sch{}", s % schools);
            d.users.push(json!({"sourcedId": format!("s{s}"), "status": "active", "dateLastModified": STAMP,
                "enabledUser": true, "username": format!("s{s}"), "givenName": format!("Student{s}"),
                "familyName": "Jones", "role": "student", "identifier": format!("{s:07}"),
                "email": format!("s{s}@{STUDENT_DOMAIN}"), "orgs": [r#ref("org", &school)],
                "grades": [format!("{:02}", 9 + s % 4)]}));
        }
        for c in 0..classes {
            let school_no = c % schools;
            let school = format!("sch{school_no}");
            let course = c % subjects.len();
            let class_id = format!("cl{c}");
            d.classes.push(json!({"sourcedId": class_id, "status": "active", "dateLastModified": STAMP,
                "title": format!("{} {}", subjects[course], c), "classCode": format!("P{}", c % 7 + 1),
                "classType": "scheduled", "location": format!("Room {}", 100 + c % 50),
                "course": r#ref("course", &format!("crs{course}")), "school": r#ref("org", &school),
                "terms": [r#ref("academicSession", "y2027")]}));
            // A teacher of the same school.
            let teacher = (school_no + schools * rng.below((teachers / schools).max(1))) % teachers;
            d.enrollments.push(
                json!({"sourcedId": format!("e-{class_id}-t{teacher}"), "status": "active",
                "dateLastModified": STAMP, "role": "teacher", "primary": true,
                "user": r#ref("user", &format!("t{teacher}")), "class": r#ref("class", &class_id),
                "school": r#ref("org", &school)}),
            );
        }
        // Each student takes 8 classes of their school.
        let per_school: Vec<Vec<usize>> = (0..schools)
            .map(|s| (0..classes).filter(|c| c % schools == s).collect())
            .collect();
        for s in 0..students {
            let school_no = s % schools;
            let pool = &per_school[school_no];
            let take = 8.min(pool.len());
            let start = rng.below(pool.len());
            for k in 0..take {
                let c = pool[(start + k) % pool.len()];
                d.enrollments.push(json!({"sourcedId": format!("e-cl{c}-s{s}"), "status": "active",
                    "dateLastModified": STAMP, "role": "student", "primary": false,
                    "user": r#ref("user", &format!("s{s}")), "class": r#ref("class", &format!("cl{c}")),
                    "school": r#ref("org", &format!("sch{school_no}"))}));
            }
        }
        for (id, title) in [
            ("cat-hw", "Homework"),
            ("cat-test", "Tests"),
            ("cat-asg", "Assignments"),
        ] {
            d.categories.push(json!({"sourcedId": id, "status": "active", "dateLastModified": STAMP, "title": title}));
        }
        d
    }

    pub fn collection(&self, name: &str) -> Option<&Vec<Value>> {
        Some(match name {
            "orgs" => &self.orgs,
            "academicSessions" => &self.academic_sessions,
            "courses" => &self.courses,
            "classes" => &self.classes,
            "users" => &self.users,
            "enrollments" => &self.enrollments,
            "categories" => &self.categories,
            _ => return None,
        })
    }

    pub fn collection_mut(&mut self, name: &str) -> Option<&mut Vec<Value>> {
        Some(match name {
            "orgs" => &mut self.orgs,
            "academicSessions" => &mut self.academic_sessions,
            "courses" => &mut self.courses,
            "classes" => &mut self.classes,
            "users" => &mut self.users,
            "enrollments" => &mut self.enrollments,
            "categories" => &mut self.categories,
            _ => return None,
        })
    }

    /// The bundle as OneRoster 1.1 CSV files (manifest included).
    pub fn to_csv_bundle(&self) -> BTreeMap<String, String> {
        let mut files = BTreeMap::new();
        let id = |v: &Value, k: &str| v[k]["sourcedId"].as_str().unwrap_or_default().to_string();
        let s = |v: &Value, k: &str| match &v[k] {
            Value::String(x) => x.clone(),
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => n.to_string(),
            _ => String::new(),
        };
        let table = |header: &[&str], rows: Vec<Vec<String>>| {
            let mut w = header.join(",");
            w.push('\n');
            for row in rows {
                let cells: Vec<String> = row
                    .into_iter()
                    .map(|c| {
                        if c.contains([',', '"', '\n']) {
                            format!("\"{}\"", c.replace('"', "\"\""))
                        } else {
                            c
                        }
                    })
                    .collect();
                w.push_str(&cells.join(","));
                w.push('\n');
            }
            w
        };
        files.insert(
            "orgs.csv".into(),
            table(
                &[
                    "sourcedId",
                    "status",
                    "dateLastModified",
                    "name",
                    "type",
                    "identifier",
                    "parentSourcedId",
                ],
                self.orgs
                    .iter()
                    .map(|o| {
                        vec![
                            s(o, "sourcedId"),
                            s(o, "status"),
                            s(o, "dateLastModified"),
                            s(o, "name"),
                            s(o, "type"),
                            s(o, "identifier"),
                            id(o, "parent"),
                        ]
                    })
                    .collect(),
            ),
        );
        files.insert(
            "academicSessions.csv".into(),
            table(
                &[
                    "sourcedId",
                    "status",
                    "dateLastModified",
                    "title",
                    "type",
                    "startDate",
                    "endDate",
                    "parentSourcedId",
                    "schoolYear",
                ],
                self.academic_sessions
                    .iter()
                    .map(|a| {
                        vec![
                            s(a, "sourcedId"),
                            s(a, "status"),
                            s(a, "dateLastModified"),
                            s(a, "title"),
                            s(a, "type"),
                            s(a, "startDate"),
                            s(a, "endDate"),
                            id(a, "parent"),
                            s(a, "schoolYear"),
                        ]
                    })
                    .collect(),
            ),
        );
        files.insert(
            "courses.csv".into(),
            table(
                &[
                    "sourcedId",
                    "status",
                    "dateLastModified",
                    "schoolYearSourcedId",
                    "title",
                    "courseCode",
                    "grades",
                    "orgSourcedId",
                    "subjects",
                ],
                self.courses
                    .iter()
                    .map(|c| {
                        vec![
                            s(c, "sourcedId"),
                            s(c, "status"),
                            s(c, "dateLastModified"),
                            id(c, "schoolYear"),
                            s(c, "title"),
                            s(c, "courseCode"),
                            String::new(),
                            id(c, "org"),
                            String::new(),
                        ]
                    })
                    .collect(),
            ),
        );
        files.insert(
            "classes.csv".into(),
            table(
                &[
                    "sourcedId",
                    "status",
                    "dateLastModified",
                    "title",
                    "grades",
                    "courseSourcedId",
                    "classCode",
                    "classType",
                    "location",
                    "schoolSourcedId",
                    "termSourcedIds",
                    "subjects",
                ],
                self.classes
                    .iter()
                    .map(|c| {
                        vec![
                            s(c, "sourcedId"),
                            s(c, "status"),
                            s(c, "dateLastModified"),
                            s(c, "title"),
                            String::new(),
                            id(c, "course"),
                            s(c, "classCode"),
                            s(c, "classType"),
                            s(c, "location"),
                            id(c, "school"),
                            c["terms"]
                                .as_array()
                                .map(|t| {
                                    t.iter()
                                        .filter_map(|x| x["sourcedId"].as_str())
                                        .collect::<Vec<_>>()
                                        .join(",")
                                })
                                .unwrap_or_default(),
                            String::new(),
                        ]
                    })
                    .collect(),
            ),
        );
        files.insert(
            "users.csv".into(),
            table(
                &[
                    "sourcedId",
                    "status",
                    "dateLastModified",
                    "enabledUser",
                    "orgSourcedIds",
                    "role",
                    "username",
                    "userIds",
                    "givenName",
                    "familyName",
                    "middleName",
                    "identifier",
                    "email",
                    "sms",
                    "phone",
                    "agentSourcedIds",
                    "grades",
                    "password",
                ],
                self.users
                    .iter()
                    .map(|u| {
                        vec![
                            s(u, "sourcedId"),
                            s(u, "status"),
                            s(u, "dateLastModified"),
                            s(u, "enabledUser"),
                            u["orgs"]
                                .as_array()
                                .map(|t| {
                                    t.iter()
                                        .filter_map(|x| x["sourcedId"].as_str())
                                        .collect::<Vec<_>>()
                                        .join(",")
                                })
                                .unwrap_or_default(),
                            s(u, "role"),
                            s(u, "username"),
                            String::new(),
                            s(u, "givenName"),
                            s(u, "familyName"),
                            String::new(),
                            s(u, "identifier"),
                            s(u, "email"),
                            String::new(),
                            String::new(),
                            String::new(),
                            u["grades"]
                                .as_array()
                                .map(|t| {
                                    t.iter()
                                        .filter_map(|x| x.as_str())
                                        .collect::<Vec<_>>()
                                        .join(",")
                                })
                                .unwrap_or_default(),
                            String::new(),
                        ]
                    })
                    .collect(),
            ),
        );
        files.insert(
            "enrollments.csv".into(),
            table(
                &[
                    "sourcedId",
                    "status",
                    "dateLastModified",
                    "classSourcedId",
                    "schoolSourcedId",
                    "userSourcedId",
                    "role",
                    "primary",
                    "beginDate",
                    "endDate",
                ],
                self.enrollments
                    .iter()
                    .map(|e| {
                        vec![
                            s(e, "sourcedId"),
                            s(e, "status"),
                            s(e, "dateLastModified"),
                            id(e, "class"),
                            id(e, "school"),
                            id(e, "user"),
                            s(e, "role"),
                            s(e, "primary"),
                            String::new(),
                            String::new(),
                        ]
                    })
                    .collect(),
            ),
        );
        files.insert(
            "categories.csv".into(),
            table(
                &["sourcedId", "status", "dateLastModified", "title"],
                self.categories
                    .iter()
                    .map(|c| {
                        vec![
                            s(c, "sourcedId"),
                            s(c, "status"),
                            s(c, "dateLastModified"),
                            s(c, "title"),
                        ]
                    })
                    .collect(),
            ),
        );
        let mut manifest =
            String::from("propertyName,value\nmanifest.version,1.0\noneroster.version,1.1\n");
        for f in classbridge_engine::model::EntityKind::ROSTER
            .map(classbridge_engine::model::EntityKind::collection)
        {
            manifest.push_str(&format!("file.{f},bulk\n"));
        }
        for f in [
            "classResources",
            "courseResources",
            "demographics",
            "lineItems",
            "resources",
            "results",
        ] {
            manifest.push_str(&format!("file.{f},absent\n"));
        }
        manifest.push_str("source.systemName,classbridge stand-in\nsource.systemCode,standin\n");
        files.insert("manifest.csv".into(), manifest);
        files
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_district() {
        let a = District::generate(Size::Tiny, 7);
        let b = District::generate(Size::Tiny, 7);
        assert_eq!(a.enrollments, b.enrollments);
        assert_ne!(a.enrollments, District::generate(Size::Tiny, 8).enrollments);
    }

    #[test]
    fn sizes_are_proportional() {
        let d = District::generate(Size::S, 1);
        let students = d.users.iter().filter(|u| u["role"] == "student").count();
        assert_eq!(students, 1000);
        assert_eq!(d.classes.len(), 250);
        assert_eq!(d.enrollments.len(), 1000 * 8 + 250);
    }
}
