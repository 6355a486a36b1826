//! Benchmark workloads: a generated district as the engine's `SyncInput`, with Classroom
//! listings holding graded work (a submission per student for each assignment).
//!
//! The input is streamed to a writer record by record: district L's input is several GB of
//! JSON, and as one JSON tree it would not fit this machine's memory.

use std::collections::HashMap;
use std::io::{self, Write};

use serde::Serialize;
use serde_json::{Value, json};

use crate::classroom::user_id;
use crate::district::District;

const PAGE: usize = 10_000;

pub fn rules() -> Value {
    json!({
        "sources": [{"id": "riverside", "version": "1.1", "limits": {"defaultCategory": "cat-asg", "lineItemTitleMax": 30}}],
        // Benchmarks measure the work, not the hold: let everything through.
        "holds": {"defaults": false, "maxShrinkPercent": 100.0}
    })
}

/// What one benchmark run's input holds besides the district.
pub struct Workload<'a, S: Serialize> {
    /// Graded assignments per class.
    pub works: usize,
    /// Regrade about 1% of the submissions (every hundredth).
    pub regrade: bool,
    /// After the Classroom listings are written (so Classroom still shows the district as it
    /// was), change 1% of the district before the SIS side is written.
    pub change: bool,
    pub previous_state: &'a S,
    pub now: &'a str,
}

/// Writes a whole `SyncInput`. With `change`, `district` is left changed.
pub fn write_input<W: Write, S: Serialize>(
    out: &mut W,
    district: &mut District,
    workload: &Workload<'_, S>,
) -> io::Result<()> {
    out.write_all(br#"{"config":"#)?;
    serde_json::to_writer(&mut *out, &rules())?;
    out.write_all(br#","classroom":"#)?;
    write_classroom(out, district, workload.works, workload.regrade)?;
    if workload.change {
        change_one_percent(district);
    }
    out.write_all(br#","sources":["#)?;
    write_source(out, district)?;
    out.write_all(br#"],"previousState":"#)?;
    serde_json::to_writer(&mut *out, workload.previous_state)?;
    out.write_all(br#","now":"#)?;
    serde_json::to_writer(&mut *out, workload.now)?;
    out.write_all(b"}")
}

/// A sync into Classroom as `previous_state` knows it (nothing listed), with the rules'
/// `classroom.newCoursesPerRun` set when given: a district's onboarding, which the engine
/// plans as course, teacher, student and topic creations; from an empty state, its first run.
pub fn write_onboarding_input<W: Write, S: Serialize>(
    out: &mut W,
    district: &District,
    new_courses_per_run: Option<u32>,
    previous_state: &S,
    now: &str,
) -> io::Result<()> {
    let mut config = rules();
    if let Some(n) = new_courses_per_run {
        config["classroom"] = json!({ "newCoursesPerRun": n });
    }
    out.write_all(br#"{"config":"#)?;
    serde_json::to_writer(&mut *out, &config)?;
    out.write_all(br#","classroom":{},"sources":["#)?;
    write_source(out, district)?;
    out.write_all(br#"],"previousState":"#)?;
    serde_json::to_writer(&mut *out, previous_state)?;
    out.write_all(br#","now":"#)?;
    serde_json::to_writer(&mut *out, now)?;
    out.write_all(b"}")
}

/// A JSON array of pages `[{"key": [...]}, ...]` of `PAGE` records each, written as records
/// arrive.
struct PageWriter<'w, W: Write> {
    out: &'w mut W,
    key: &'static str,
    in_page: usize,
    pages: usize,
}

impl<'w, W: Write> PageWriter<'w, W> {
    fn start(out: &'w mut W, key: &'static str) -> io::Result<Self> {
        out.write_all(b"[")?;
        Ok(PageWriter {
            out,
            key,
            in_page: 0,
            pages: 0,
        })
    }

    fn open_page(&mut self) -> io::Result<()> {
        if self.pages > 0 {
            self.out.write_all(b",")?;
        }
        self.out.write_all(b"{")?;
        serde_json::to_writer(&mut *self.out, self.key)?;
        self.out.write_all(b":[")?;
        self.pages += 1;
        Ok(())
    }

    fn push<T: Serialize>(&mut self, record: &T) -> io::Result<()> {
        if self.in_page == PAGE {
            self.out.write_all(b"]}")?;
            self.in_page = 0;
        }
        if self.in_page == 0 {
            self.open_page()?;
        } else {
            self.out.write_all(b",")?;
        }
        serde_json::to_writer(&mut *self.out, record)?;
        self.in_page += 1;
        Ok(())
    }

    /// `empty_page`: an empty listing is still one (empty) page, as a SIS answers.
    fn finish(mut self, empty_page: bool) -> io::Result<()> {
        if self.pages == 0 && empty_page {
            self.open_page()?;
            self.in_page = 1;
        }
        if self.pages > 0 {
            self.out.write_all(b"]}")?;
        }
        self.out.write_all(b"]")
    }
}

/// The district's SIS as one OneRoster REST source, in pages.
pub fn write_source<W: Write>(out: &mut W, d: &District) -> io::Result<()> {
    out.write_all(
        br#"{"sourceId":"riverside","payload":{"format":"oneRosterJson","collections":{"#,
    )?;
    let names = classbridge_engine::model::EntityKind::ROSTER
        .map(classbridge_engine::model::EntityKind::collection);
    for (i, name) in names.into_iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        serde_json::to_writer(&mut *out, name)?;
        out.write_all(br#":{"mode":"full","pages":"#)?;
        let mut pages = PageWriter::start(out, name)?;
        for record in d.collection(name).map(Vec::as_slice).unwrap_or(&[]) {
            pages.push(record)?;
        }
        pages.finish(true)?;
        out.write_all(b"}")?;
    }
    out.write_all(b"}}}")
}

/// One class as Classroom shows it after a first roster sync.
struct ClassroomCourse<'d> {
    id: String,
    class_id: &'d str,
    class: &'d Value,
    owner: &'d str,
    teachers: Vec<&'d str>,
    students: Vec<&'d str>,
}

fn classroom_courses(d: &District) -> Vec<ClassroomCourse<'_>> {
    let email_of: HashMap<&str, &str> = d
        .users
        .iter()
        .filter_map(|u| Some((u["sourcedId"].as_str()?, u["email"].as_str()?)))
        .collect();
    let mut by_class: HashMap<&str, Vec<(&str, &str)>> = HashMap::new();
    for e in &d.enrollments {
        if let (Some(c), Some(u), Some(r)) = (
            e["class"]["sourcedId"].as_str(),
            e["user"]["sourcedId"].as_str(),
            e["role"].as_str(),
        ) {
            by_class.entry(c).or_default().push((u, r));
        }
    }
    d.classes
        .iter()
        .enumerate()
        .map(|(n, class)| {
            let class_id = class["sourcedId"].as_str().unwrap_or_default();
            let members = by_class.remove(class_id).unwrap_or_default();
            let owner = members
                .iter()
                .find(|(_, r)| *r == "teacher")
                .and_then(|(u, _)| email_of.get(u))
                .copied()
                .unwrap_or("nobody@district.example");
            let mut teachers = Vec::new();
            let mut students = Vec::new();
            for (u, role) in members {
                if let Some(email) = email_of.get(u) {
                    if role == "teacher" {
                        teachers.push(*email);
                    } else {
                        students.push(*email);
                    }
                }
            }
            ClassroomCourse {
                id: format!("{}", 100_000 + n),
                class_id,
                class,
                owner,
                teachers,
                students,
            }
        })
        .collect()
}

/// Classroom's listings after a first roster sync, with `works` graded assignments per class.
pub fn write_classroom<W: Write>(
    out: &mut W,
    d: &District,
    works: usize,
    regrade: bool,
) -> io::Result<()> {
    let courses = classroom_courses(d);
    out.write_all(br#"{"courses":"#)?;
    let mut pages = PageWriter::start(out, "courses")?;
    for c in &courses {
        pages.push(
            &json!({"id": c.id, "name": c.class["title"], "section": c.class["classCode"],
            "room": c.class["location"], "ownerId": user_id(c.owner), "courseState": "ACTIVE"}),
        )?;
    }
    pages.finish(false)?;

    out.write_all(br#","aliases":{"#)?;
    for (i, c) in courses.iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        serde_json::to_writer(&mut *out, &c.id)?;
        out.write_all(b":")?;
        serde_json::to_writer(
            &mut *out,
            &json!([{"aliases": [{"alias": classbridge_engine::course_alias(c.class_id)}]}]),
        )?;
    }
    out.write_all(b"}")?;

    let member = |id: &str, email: &str| json!({"courseId": id, "userId": user_id(email), "profile": {"id": user_id(email), "emailAddress": email}});
    for (key, teachers) in [("teachers", true), ("students", false)] {
        write!(out, r#","{key}":"#)?;
        let mut pages = PageWriter::start(out, key)?;
        for c in &courses {
            for email in if teachers { &c.teachers } else { &c.students } {
                pages.push(&member(&c.id, email))?;
            }
        }
        pages.finish(false)?;
    }

    out.write_all(br#","courseWork":"#)?;
    let mut pages = PageWriter::start(out, "courseWork")?;
    for c in &courses {
        for w in 0..works {
            pages.push(&json!({"courseId": c.id, "id": format!("{}{w:02}", c.id),
                "title": format!("Assignment {w} of {}", c.class_id),
                "maxPoints": 100.0, "state": "PUBLISHED", "dueDate": {"year": 2026, "month": 9, "day": 20},
                "creationTime": "2026-09-01T12:00:00Z", "updateTime": "2026-09-01T12:00:00Z"}))?;
        }
    }
    pages.finish(false)?;

    out.write_all(br#","studentSubmissions":"#)?;
    let mut pages = PageWriter::start(out, "studentSubmissions")?;
    let mut n = 0usize;
    for c in &courses {
        for w in 0..works {
            let cw = format!("{}{w:02}", c.id);
            for (k, email) in c.students.iter().enumerate() {
                n += 1;
                let mut grade = ((k * 7 + w * 13) % 101) as f64;
                let mut updated = "2026-09-19T15:00:00Z";
                if regrade && n.is_multiple_of(100) {
                    grade = (grade + 1.0) % 101.0;
                    updated = "2026-09-21T15:00:00Z";
                }
                pages.push(&json!({"courseId": c.id, "courseWorkId": cw, "id": format!("{cw}-{k}"),
                    "userId": user_id(email), "state": "RETURNED", "late": k % 10 == 0, "assignedGrade": grade,
                    "creationTime": "2026-09-01T12:00:00Z", "updateTime": updated}))?;
            }
        }
    }
    pages.finish(false)?;

    out.write_all(br#","courseWorkComplete":"#)?;
    serde_json::to_writer(
        &mut *out,
        &courses.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
    )?;
    out.write_all(b"}")
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
