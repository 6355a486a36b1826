//! Classroom list responses -> a snapshot keyed for lookups. Google omits empty lists, so a
//! page without its key is simply empty here (unlike OneRoster envelopes).

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use crate::input::{ClassroomListings, ListPage};
use crate::model::{
    ClassroomCourse, ClassroomSnapshot, CourseMember, CourseWork, RecordIssue, StudentSubmission,
    Topic,
};

const SOURCE: &str = "classroom";

/// The record's id, for naming it when it cannot be read.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RecordId<'a> {
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    user_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    topic_id: Option<Cow<'a, str>>,
}

/// The records under `key` of one page, each still as its JSON text.
fn page_records<'p>(
    page: &'p ListPage,
    page_no: usize,
    key: &str,
    issues: &mut Vec<RecordIssue>,
) -> Vec<&'p RawValue> {
    let mut error = |message: String| {
        issues.push(RecordIssue::error(SOURCE, key, None, message));
        Vec::new()
    };
    let fields: BTreeMap<Cow<'p, str>, &'p RawValue> = match serde_json::from_str(page.json()) {
        Ok(fields) => fields,
        Err(_) => return error(format!("{key} page {page_no} is not an object")),
    };
    let Some(list) = fields.get(key) else {
        return Vec::new();
    };
    match serde_json::from_str(list.get()) {
        Ok(records) => records,
        Err(_) => error(format!("{key} page {page_no}: '{key}' is not a list")),
    }
}

/// Reads every record under `key`, page by page, handing each to `take`. Pages are consumed:
/// each page's text is freed as soon as its records are read, so a large listing never sits
/// in memory twice (as text and as records).
fn each_item<T: DeserializeOwned>(
    pages: Vec<ListPage>,
    key: &str,
    issues: &mut Vec<RecordIssue>,
    mut take: impl FnMut(T),
) {
    for (i, page) in pages.into_iter().enumerate() {
        let page_no = i + 1;
        for item in page_records(&page, page_no, key, issues) {
            match serde_json::from_str::<T>(item.get()) {
                Ok(v) => take(v),
                Err(e) => {
                    let named = serde_json::from_str::<RecordId>(item.get()).ok();
                    let id = named.as_ref().and_then(|n| {
                        n.id.as_deref()
                            .or(n.user_id.as_deref())
                            .or(n.topic_id.as_deref())
                    });
                    issues.push(RecordIssue::error(
                        SOURCE,
                        key,
                        id,
                        format!("{key} page {page_no}: {e}"),
                    ));
                }
            }
        }
    }
}

/// Reads the listings into a snapshot, consuming them page by page.
pub fn read_classroom(
    listings: ClassroomListings,
    issues: &mut Vec<RecordIssue>,
) -> ClassroomSnapshot {
    let ClassroomListings {
        courses,
        aliases,
        teachers,
        students,
        topics,
        course_work,
        student_submissions,
        course_work_complete: _,
    } = listings;
    let mut snap = ClassroomSnapshot::default();
    each_item(courses, "courses", issues, |course: ClassroomCourse| {
        snap.courses.insert(course.id.clone(), course);
    });
    #[derive(Deserialize)]
    struct Alias {
        alias: String,
    }
    for (course_id, pages) in aliases {
        each_item(pages, "aliases", issues, |alias: Alias| {
            if let Some(course) = snap.courses.get_mut(&course_id) {
                course.aliases.push(alias.alias);
            }
        });
    }
    each_item(teachers, "teachers", issues, |member: CourseMember| {
        snap.teachers
            .entry(member.course_id.clone())
            .or_default()
            .push(member);
    });
    each_item(students, "students", issues, |member: CourseMember| {
        snap.students
            .entry(member.course_id.clone())
            .or_default()
            .push(member);
    });
    each_item(topics, "topic", issues, |topic: Topic| {
        snap.topics
            .entry(topic.course_id.clone())
            .or_default()
            .push(topic);
    });
    each_item(course_work, "courseWork", issues, |work: CourseWork| {
        snap.course_work
            .entry(work.course_id.clone())
            .or_default()
            .push(work);
    });
    each_item(
        student_submissions,
        "studentSubmissions",
        issues,
        |sub: StudentSubmission| {
            let key = format!("{}/{}", sub.course_id, sub.course_work_id);
            snap.submissions.entry(key).or_default().push(sub);
        },
    );
    snap
}
