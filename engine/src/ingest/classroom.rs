//! Classroom list responses -> a snapshot keyed for lookups. Google omits empty lists, so a
//! page without its key is simply empty here (unlike OneRoster envelopes).

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::input::ClassroomListings;
use crate::model::{
    ClassroomCourse, ClassroomSnapshot, CourseMember, CourseWork, RecordIssue, StudentSubmission,
    Topic,
};

const SOURCE: &str = "classroom";

fn items<T: DeserializeOwned>(pages: &[Value], key: &str, issues: &mut Vec<RecordIssue>) -> Vec<T> {
    let mut out = Vec::new();
    for (page_no, page) in pages.iter().enumerate() {
        let Some(obj) = page.as_object() else {
            issues.push(RecordIssue::error(
                SOURCE,
                key,
                None,
                format!("{key} page {} is not an object", page_no + 1),
            ));
            continue;
        };
        let Some(list) = obj.get(key) else { continue };
        let Some(list) = list.as_array() else {
            issues.push(RecordIssue::error(
                SOURCE,
                key,
                None,
                format!("{key} page {}: '{key}' is not a list", page_no + 1),
            ));
            continue;
        };
        for item in list {
            match T::deserialize(item) {
                Ok(v) => out.push(v),
                Err(e) => {
                    let id = item
                        .get("id")
                        .or_else(|| item.get("userId"))
                        .or_else(|| item.get("topicId"))
                        .and_then(Value::as_str);
                    issues.push(RecordIssue::error(
                        SOURCE,
                        key,
                        id,
                        format!("{key} page {}: {e}", page_no + 1),
                    ));
                }
            }
        }
    }
    out
}

pub fn read_classroom(
    listings: &ClassroomListings,
    issues: &mut Vec<RecordIssue>,
) -> ClassroomSnapshot {
    let mut snap = ClassroomSnapshot::default();
    for course in items::<ClassroomCourse>(&listings.courses, "courses", issues) {
        snap.courses.insert(course.id.clone(), course);
    }
    for (course_id, pages) in &listings.aliases {
        for page in pages {
            let list = page
                .get("aliases")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for alias in list {
                if let (Some(name), Some(course)) = (
                    alias.get("alias").and_then(Value::as_str),
                    snap.courses.get_mut(course_id),
                ) {
                    course.aliases.push(name.to_string());
                }
            }
        }
    }
    for member in items::<CourseMember>(&listings.teachers, "teachers", issues) {
        snap.teachers
            .entry(member.course_id.clone())
            .or_default()
            .push(member);
    }
    for member in items::<CourseMember>(&listings.students, "students", issues) {
        snap.students
            .entry(member.course_id.clone())
            .or_default()
            .push(member);
    }
    for topic in items::<Topic>(&listings.topics, "topic", issues) {
        snap.topics
            .entry(topic.course_id.clone())
            .or_default()
            .push(topic);
    }
    for work in items::<CourseWork>(&listings.course_work, "courseWork", issues) {
        snap.course_work
            .entry(work.course_id.clone())
            .or_default()
            .push(work);
    }
    for sub in
        items::<StudentSubmission>(&listings.student_submissions, "studentSubmissions", issues)
    {
        snap.submissions
            .entry(format!("{}/{}", sub.course_id, sub.course_work_id))
            .or_default()
            .push(sub);
    }
    snap
}
