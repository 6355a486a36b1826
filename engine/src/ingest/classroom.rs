//! Classroom list responses -> a snapshot keyed for lookups. Google omits empty lists, so a
//! page without its key is simply empty here (unlike OneRoster envelopes).

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

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

/// One Classroom list read into records page by page: each page's text is freed once its
/// records are read, and the records that cannot be read are kept as issues, in page order.
pub(crate) struct ReadList<T> {
    key: &'static str,
    items: Vec<T>,
    issues: Vec<RecordIssue>,
    pages: usize,
}

impl<T: DeserializeOwned> ReadList<T> {
    fn new(key: &'static str) -> Self {
        ReadList {
            key,
            items: Vec::new(),
            issues: Vec::new(),
            pages: 0,
        }
    }

    /// Reads the next page of the list (pages are numbered in the order they come).
    fn add(&mut self, page: ListPage) {
        self.pages += 1;
        let (key, page_no) = (self.key, self.pages);
        for item in page_records(&page, page_no, key, &mut self.issues) {
            match serde_json::from_str::<T>(item.get()) {
                Ok(v) => self.items.push(v),
                Err(e) => {
                    let named = serde_json::from_str::<RecordId>(item.get()).ok();
                    let id = named.as_ref().and_then(|n| {
                        n.id.as_deref()
                            .or(n.user_id.as_deref())
                            .or(n.topic_id.as_deref())
                    });
                    self.issues.push(RecordIssue::error(
                        SOURCE,
                        key,
                        id,
                        format!("{key} page {page_no}: {e}"),
                    ));
                }
            }
        }
    }

    /// The list's issues, then each record handed to `take`.
    fn take_into(self, issues: &mut Vec<RecordIssue>, take: impl FnMut(T)) {
        issues.extend(self.issues);
        self.items.into_iter().for_each(take);
    }
}

/// An alias of a course, as `courses.aliases.list` gives it.
#[derive(Deserialize)]
struct Alias {
    alias: String,
}

/// Classroom listings as they are read: the bulk lists (courses, members, topics, work,
/// submissions) already records, so a plan session holds a district's Classroom as records
/// rather than as text and then records; the few `courses.get` answers and alias pages as
/// text. [`read_reading`] makes the snapshot from it with the issues in the order the
/// listings' text would give them, however the pages were fed.
pub(crate) struct ClassroomReading {
    courses: ReadList<ClassroomCourse>,
    course_gets: Vec<ListPage>,
    pub(crate) aliases: BTreeMap<String, Vec<ListPage>>,
    pub(crate) found_by_alias: BTreeMap<String, String>,
    teachers: ReadList<CourseMember>,
    students: ReadList<CourseMember>,
    topics: ReadList<Topic>,
    course_work: ReadList<CourseWork>,
    student_submissions: ReadList<StudentSubmission>,
    pub(crate) course_work_complete: BTreeSet<String>,
    pub(crate) members_complete: BTreeSet<String>,
}

impl Default for ClassroomReading {
    fn default() -> Self {
        ClassroomReading {
            courses: ReadList::new("courses"),
            course_gets: Vec::new(),
            aliases: BTreeMap::new(),
            found_by_alias: BTreeMap::new(),
            teachers: ReadList::new("teachers"),
            students: ReadList::new("students"),
            topics: ReadList::new("topic"),
            course_work: ReadList::new("courseWork"),
            student_submissions: ReadList::new("studentSubmissions"),
            course_work_complete: BTreeSet::new(),
            members_complete: BTreeSet::new(),
        }
    }
}

impl ClassroomReading {
    /// Reads listings whole.
    pub(crate) fn of(listings: ClassroomListings) -> Self {
        let mut reading = ClassroomReading::default();
        reading.add(listings);
        reading
    }

    /// Reads more listings over what came before: pages follow the earlier pages of their
    /// list, maps and sets are merged. Each page is freed once read.
    pub(crate) fn add(&mut self, listings: ClassroomListings) {
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
            course_work_complete,
            members_complete,
        } = listings;
        courses.into_iter().for_each(|p| self.courses.add(p));
        for (course, pages) in aliases {
            self.aliases.entry(course).or_default().extend(pages);
        }
        self.course_gets.extend(course_gets);
        self.found_by_alias.extend(found_by_alias);
        teachers.into_iter().for_each(|p| self.teachers.add(p));
        students.into_iter().for_each(|p| self.students.add(p));
        topics.into_iter().for_each(|p| self.topics.add(p));
        course_work
            .into_iter()
            .for_each(|p| self.course_work.add(p));
        student_submissions
            .into_iter()
            .for_each(|p| self.student_submissions.add(p));
        self.course_work_complete.extend(course_work_complete);
        self.members_complete.extend(members_complete);
    }

    /// The Classroom course ids its records name (a course, a `courses.get` answer, a
    /// member, a topic, a work) and the aliases of the courses it holds: what a run read, as
    /// the snapshot's keys would say, without making the snapshot.
    pub(crate) fn courses_named(&self) -> (BTreeSet<String>, Vec<String>) {
        let gets: Vec<ClassroomCourse> = self
            .course_gets
            .iter()
            .filter_map(|page| serde_json::from_str(page.json()).ok())
            .collect();
        let courses: Vec<&ClassroomCourse> = self.courses.items.iter().chain(&gets).collect();
        let mut named: BTreeSet<String> = courses.iter().map(|c| c.id.clone()).collect();
        let mut aliases: Vec<String> = courses
            .iter()
            .flat_map(|c| c.aliases.iter().cloned())
            .collect();
        aliases.extend(
            self.found_by_alias
                .iter()
                .filter(|(_, id)| named.contains(*id))
                .map(|(alias, _)| alias.clone()),
        );
        for pages in self
            .aliases
            .iter()
            .filter(|(id, _)| named.contains(*id))
            .map(|(_, pages)| pages)
        {
            let mut ignored = Vec::new();
            for (i, page) in pages.iter().enumerate() {
                for item in page_records(page, i + 1, "aliases", &mut ignored) {
                    if let Ok(a) = serde_json::from_str::<Alias>(item.get()) {
                        aliases.push(a.alias);
                    }
                }
            }
        }
        named.extend(
            self.teachers
                .items
                .iter()
                .chain(&self.students.items)
                .map(|m| m.course_id.to_string())
                .chain(self.topics.items.iter().map(|t| t.course_id.clone()))
                .chain(self.course_work.items.iter().map(|w| w.course_id.clone())),
        );
        (named, aliases)
    }
}

/// Reads the listings into a snapshot, consuming them page by page.
#[cfg(feature = "internals")]
pub fn read_classroom(
    listings: ClassroomListings,
    issues: &mut Vec<RecordIssue>,
) -> ClassroomSnapshot {
    read_reading(ClassroomReading::of(listings), issues)
}

/// The snapshot of listings already read into records, their issues in the listings' order.
pub(crate) fn read_reading(
    reading: ClassroomReading,
    issues: &mut Vec<RecordIssue>,
) -> ClassroomSnapshot {
    let ClassroomReading {
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
    } = reading;
    let mut snap = ClassroomSnapshot::default();
    courses.take_into(issues, |course: ClassroomCourse| {
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
    for (course_id, pages) in aliases {
        let mut list = ReadList::<Alias>::new("aliases");
        pages.into_iter().for_each(|p| list.add(p));
        list.take_into(issues, |alias: Alias| {
            if let Some(course) = snap.courses.get_mut(&course_id) {
                course.aliases.push(alias.alias);
            }
        });
    }
    teachers.take_into(issues, |member: CourseMember| {
        let course = member.course_id.clone();
        push_to(&mut snap.teachers, &course, member);
    });
    students.take_into(issues, |member: CourseMember| {
        let course = member.course_id.clone();
        push_to(&mut snap.students, &course, member);
    });
    topics.take_into(issues, |topic: Topic| {
        snap.topics
            .entry(topic.course_id.clone())
            .or_default()
            .push(topic);
    });
    let mut bad_dates = Vec::new();
    course_work.take_into(issues, |mut work: CourseWork| {
        check_work_dates(&mut work, &mut bad_dates);
        snap.course_work
            .entry(work.course_id.clone())
            .or_default()
            .push(work);
    });
    student_submissions.take_into(issues, |mut sub: StudentSubmission| {
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
    });
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
