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
#[cfg_attr(not(feature = "internals"), allow(unreachable_pub))]
pub fn read_classroom(
    listings: ClassroomListings,
    issues: &mut Vec<RecordIssue>,
) -> ClassroomSnapshot {
    let ClassroomListings {
        courses,
        aliases,
        course_gets,
        found_by_alias,
        teachers,
        students,
        topics,
        course_work,
        student_submissions,
        course_work_complete: _,
        members_complete: _,
    } = listings;
    let mut snap = ClassroomSnapshot::default();
    each_item(courses, "courses", issues, |course: ClassroomCourse| {
        snap.courses.insert(course.id.clone(), course);
    });
    for (i, page) in course_gets.into_iter().enumerate() {
        match serde_json::from_str::<ClassroomCourse>(page.json()) {
            Ok(course) => {
                snap.courses.insert(course.id.clone(), course);
            }
            Err(e) => {
                let id = serde_json::from_str::<RecordId>(page.json())
                    .ok()
                    .and_then(|n| n.id.map(Cow::into_owned));
                issues.push(RecordIssue::error(
                    SOURCE,
                    "courses",
                    id.as_deref(),
                    format!("courses.get answer {}: {e}", i + 1),
                ));
            }
        }
    }
    for (alias, course_id) in found_by_alias {
        if let Some(course) = snap.courses.get_mut(&course_id) {
            course.aliases.push(alias);
        }
    }
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
        let course = member.course_id.clone();
        push_to(&mut snap.teachers, &course, member);
    });
    each_item(students, "students", issues, |member: CourseMember| {
        let course = member.course_id.clone();
        push_to(&mut snap.students, &course, member);
    });
    each_item(topics, "topic", issues, |topic: Topic| {
        snap.topics
            .entry(topic.course_id.clone())
            .or_default()
            .push(topic);
    });
    let mut bad_dates = Vec::new();
    each_item(course_work, "courseWork", issues, |mut work: CourseWork| {
        check_work_dates(&mut work, &mut bad_dates);
        snap.course_work
            .entry(work.course_id.clone())
            .or_default()
            .push(work);
    });
    each_item(
        student_submissions,
        "studentSubmissions",
        issues,
        |mut sub: StudentSubmission| {
            if let Some(t) = sub.update_time.take_if(|t| !is_timestamp(t)) {
                bad_dates.push(RecordIssue::warning(
                    SOURCE,
                    "studentSubmissions",
                    Some(&sub.id),
                    format!("updateTime {t:?} is not an RFC 3339 time; the run's time is used"),
                ));
            }
            let key = format!("{}/{}", sub.course_id, sub.course_work_id);
            snap.submissions.entry(key).or_default().push(sub);
        },
    );
    issues.extend(bad_dates);
    snap
}

/// Adds `item` to the list under `key`, allocating the key only for the list's first item.
fn push_to<T>(map: &mut BTreeMap<String, Vec<T>>, key: &str, item: T) {
    match map.get_mut(key) {
        Some(list) => list.push(item),
        None => {
            map.insert(key.to_string(), vec![item]);
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SS…` in ASCII, with a real month and day: a timestamp the engine may
/// slice and compare. Anything else from the wire is refused before it is used.
pub(crate) fn is_timestamp(t: &str) -> bool {
    let b = t.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    t.is_ascii()
        && b.len() >= 19
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && matches!(b[10], b'T' | b't')
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && (1..=12).contains(&(u32::from(b[5] - b'0') * 10 + u32::from(b[6] - b'0')))
        && (1..=31).contains(&(u32::from(b[8] - b'0') * 10 + u32::from(b[9] - b'0')))
}

/// Drops a courseWork's unreadable times and dates, each reported; the work itself goes on.
fn check_work_dates(work: &mut CourseWork, issues: &mut Vec<RecordIssue>) {
    let mut report = |field: &str, value: String| {
        issues.push(RecordIssue::warning(
            SOURCE,
            "courseWork",
            Some(&work.id),
            format!("{field} {value:?} is not a valid date or time; it was ignored"),
        ));
    };
    for (field, slot) in [
        ("creationTime", &mut work.creation_time),
        ("scheduledTime", &mut work.scheduled_time),
        ("updateTime", &mut work.update_time),
    ] {
        if let Some(t) = slot.take_if(|t| !is_timestamp(t)) {
            report(field, t);
        }
    }
    if let Some(d) = work.due_date.take_if(|d| {
        !(1..=12).contains(&d.month) || !(1..=31).contains(&d.day) || !(1..=9999).contains(&d.year)
    }) {
        report("dueDate", format!("{}-{}-{}", d.year, d.month, d.day));
        work.due_time = None;
    }
    if let Some(t) = work
        .due_time
        .take_if(|t| t.hours > 23 || t.minutes > 59 || t.seconds > 60)
    {
        report(
            "dueTime",
            format!("{}:{}:{}", t.hours, t.minutes, t.seconds),
        );
    }
}
