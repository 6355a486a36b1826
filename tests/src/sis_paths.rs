//! The OneRoster REST paths beyond the flat collections, as 1.1 and 1.2 define them:
//! role-specific collections (`/students`, `/teachers`, `/schools`, `/terms`,
//! `/gradingPeriods`, `/demographics`, each also by id) and nested ones
//! (`/classes/{id}/students`, `/teachers/{id}/classes`, `/schools/{id}/classes`,
//! `/terms/{id}/gradingPeriods`, `/classes/{id}/lineItems`, `/classes/{id}/categories`,
//! `/classes/{id}/lineItems/{id}/results`, ...), and the `fields`, `sort` and `orderBy`
//! parameters. Google's conformance sequence reads a SIS through these.

use std::collections::HashSet;

use serde_json::Value;

/// What a view path answers.
#[derive(Debug)]
pub enum ViewAnswer {
    /// A collection, under its envelope key (`/students` answers `users`).
    List {
        envelope: &'static str,
        records: Vec<Value>,
    },
    /// One record, under its singular key.
    One { key: &'static str, record: Value },
    /// The path names a record that does not exist.
    Missing(String),
}

/// The records of a collection as the server serves them (1.2 users in 1.2's shape).
pub trait Collections {
    fn all(&self, collection: &str) -> Vec<Value>;
}

fn id(r: &Value) -> &str {
    r["sourcedId"].as_str().unwrap_or_default()
}

fn reference<'r>(r: &'r Value, field: &str) -> &'r str {
    r[field]["sourcedId"].as_str().unwrap_or_default()
}

fn has_role(user: &Value, role: &str) -> bool {
    user["role"] == role
        || user["roles"]
            .as_array()
            .is_some_and(|roles| roles.iter().any(|r| r["role"] == role))
}

/// A role-specific collection: the collection it draws from, its envelope, its singular key,
/// and which records belong.
struct RoleCollection {
    base: &'static str,
    envelope: &'static str,
    key: &'static str,
    test: fn(&Value) -> bool,
}

fn role_collection(name: &str) -> Option<RoleCollection> {
    let (base, envelope, key, test): (_, _, _, fn(&Value) -> bool) = match name {
        "students" => ("users", "users", "user", |u| has_role(u, "student")),
        "teachers" => ("users", "users", "user", |u| has_role(u, "teacher")),
        "schools" => ("orgs", "orgs", "org", |o| o["type"] == "school"),
        "terms" => (
            "academicSessions",
            "academicSessions",
            "academicSession",
            |s| s["type"] == "term" || s["type"] == "semester" || s["type"] == "schoolYear",
        ),
        "gradingPeriods" => (
            "academicSessions",
            "academicSessions",
            "academicSession",
            |s| s["type"] == "gradingPeriod",
        ),
        "demographics" => ("demographics", "demographics", "demographics", |_| true),
        _ => return None,
    };
    Some(RoleCollection {
        base,
        envelope,
        key,
        test,
    })
}

/// The `other` end (`user`, `class`) of every enrolment with `role` whose `field`
/// (`user`, `class`, `school`) is `id`.
fn enrolled(
    all: &impl Collections,
    field: &str,
    id: &str,
    role: &str,
    other: &str,
) -> HashSet<String> {
    all.all("enrollments")
        .into_iter()
        .filter(|e| reference(e, field) == id && e["role"] == role)
        .map(|e| reference(&e, other).to_string())
        .collect()
}

/// `student` for `students`, `teacher` for `teachers`.
fn role_of(plural: &str) -> &'static str {
    if plural == "students" {
        "student"
    } else {
        "teacher"
    }
}

/// The users whose ids are in `ids`, as a `users` listing.
fn users_in(all: &impl Collections, ids: &HashSet<String>) -> Option<ViewAnswer> {
    list(
        "users",
        all.all("users")
            .into_iter()
            .filter(|u| ids.contains(id(u)))
            .collect(),
    )
}

fn exists(
    all: &impl Collections,
    collection: &str,
    wanted: &str,
    test: fn(&Value) -> bool,
) -> bool {
    all.all(collection)
        .iter()
        .any(|r| id(r) == wanted && test(r))
}

fn list(envelope: &'static str, records: Vec<Value>) -> Option<ViewAnswer> {
    Some(ViewAnswer::List { envelope, records })
}

/// Answers a view path (`segments` after the version root), or `None` when the path is a
/// plain collection or record, served elsewhere.
pub fn answer(all: &impl Collections, segments: &[&str]) -> Option<ViewAnswer> {
    match segments {
        [name] => {
            let RoleCollection {
                base,
                envelope,
                test,
                ..
            } = role_collection(name)?;
            list(envelope, all.all(base).into_iter().filter(test).collect())
        }
        [name, wanted] => {
            let RoleCollection {
                base, key, test, ..
            } = role_collection(name)?;
            Some(
                match all
                    .all(base)
                    .into_iter()
                    .find(|r| id(r) == *wanted && test(r))
                {
                    Some(record) => ViewAnswer::One { key, record },
                    None => ViewAnswer::Missing(format!("no {name} {wanted}")),
                },
            )
        }
        [parent, wanted, child] => nested(all, parent, wanted, child),
        ["classes", class, "lineItems", line_item, "results"] => {
            if !all
                .all("lineItems")
                .iter()
                .any(|l| id(l) == *line_item && reference(l, "class") == *class)
            {
                return Some(ViewAnswer::Missing(format!(
                    "no lineItem {line_item} in class {class}"
                )));
            }
            list(
                "results",
                all.all("results")
                    .into_iter()
                    .filter(|r| reference(r, "lineItem") == *line_item)
                    .collect(),
            )
        }
        _ => None,
    }
}

fn nested(all: &impl Collections, parent: &str, wanted: &str, child: &str) -> Option<ViewAnswer> {
    let missing = |what: &str| Some(ViewAnswer::Missing(format!("no {what} {wanted}")));
    match (parent, child) {
        ("classes", "students" | "teachers") => {
            if !exists(all, "classes", wanted, |_| true) {
                return missing("class");
            }
            let role = role_of(child);
            let members = enrolled(all, "class", wanted, role, "user");
            users_in(all, &members)
        }
        ("students" | "teachers", "classes") => {
            let role = role_of(parent);
            let test: fn(&Value) -> bool = if parent == "students" {
                |u| has_role(u, "student")
            } else {
                |u| has_role(u, "teacher")
            };
            if !exists(all, "users", wanted, test) {
                return missing(parent.trim_end_matches('s'));
            }
            let classes = enrolled(all, "user", wanted, role, "class");
            list(
                "classes",
                all.all("classes")
                    .into_iter()
                    .filter(|c| classes.contains(id(c)))
                    .collect(),
            )
        }
        ("schools", "classes" | "courses" | "enrollments") => {
            if !exists(all, "orgs", wanted, |o| o["type"] == "school") {
                return missing("school");
            }
            let field = if child == "courses" { "org" } else { "school" };
            let envelope = match child {
                "classes" => "classes",
                "courses" => "courses",
                _ => "enrollments",
            };
            list(
                envelope,
                all.all(child)
                    .into_iter()
                    .filter(|r| reference(r, field) == wanted)
                    .collect(),
            )
        }
        ("schools", "students" | "teachers") => {
            if !exists(all, "orgs", wanted, |o| o["type"] == "school") {
                return missing("school");
            }
            let role = role_of(child);
            let people = enrolled(all, "school", wanted, role, "user");
            users_in(all, &people)
        }
        ("terms", "gradingPeriods" | "classes") => {
            if !exists(all, "academicSessions", wanted, |_| true) {
                return missing("term");
            }
            if child == "classes" {
                return list(
                    "classes",
                    all.all("classes")
                        .into_iter()
                        .filter(|c| {
                            c["terms"]
                                .as_array()
                                .is_some_and(|t| t.iter().any(|r| r["sourcedId"] == wanted))
                        })
                        .collect(),
                );
            }
            list(
                "academicSessions",
                all.all("academicSessions")
                    .into_iter()
                    .filter(|s| s["type"] == "gradingPeriod" && reference(s, "parent") == wanted)
                    .collect(),
            )
        }
        ("classes", "lineItems" | "results" | "categories" | "scoreScales") => {
            if !exists(all, "classes", wanted, |_| true) {
                return missing("class");
            }
            match child {
                "lineItems" => list(
                    "lineItems",
                    all.all("lineItems")
                        .into_iter()
                        .filter(|l| reference(l, "class") == wanted)
                        .collect(),
                ),
                "results" => {
                    let items: HashSet<String> = all
                        .all("lineItems")
                        .into_iter()
                        .filter(|l| reference(l, "class") == wanted)
                        .map(|l| id(&l).to_string())
                        .collect();
                    list(
                        "results",
                        all.all("results")
                            .into_iter()
                            .filter(|r| items.contains(reference(r, "lineItem")))
                            .collect(),
                    )
                }
                "scoreScales" => list(
                    "scoreScales",
                    all.all("scoreScales")
                        .into_iter()
                        .filter(|l| reference(l, "class") == wanted)
                        .collect(),
                ),
                // Categories belong to the district here: every class may use each.
                _ => list("categories", all.all("categories")),
            }
        }
        _ => None,
    }
}

/// `fields=a,b`: each record keeps only those fields (1.1 §3.4.3; unknown ones are ignored).
pub fn project(records: &mut [Value], fields: &str) {
    let wanted: HashSet<&str> = fields
        .split(',')
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .collect();
    if wanted.is_empty() {
        return;
    }
    for r in records {
        if let Some(o) = r.as_object_mut() {
            o.retain(|k, _| wanted.contains(k.as_str()));
        }
    }
}

/// `sort=field` with `orderBy=asc|desc` (ascending by default), comparing values as text.
pub fn sort(records: &mut [Value], field: &str, descending: bool) {
    let text = |v: &Value| match &v[field] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    records.sort_by_key(text);
    if descending {
        records.reverse();
    }
}
