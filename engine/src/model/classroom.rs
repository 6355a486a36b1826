//! Google Classroom resources as the API returns them (field names per the v1 discovery
//! document). Only the fields classbridge reads are kept: these are read-only views of what
//! the API listed, never written back, and a district lists millions of them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Shared;

/// A Classroom course (`courses` resource).
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct ClassroomCourse {
    /// Classroom's id for the course.
    pub id: String,
    /// The course's name (from the class title).
    #[serde(default)]
    pub name: String,
    /// The section line under the name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub section: Option<String>,
    /// The room (from the class location).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    /// The user id of the owning teacher.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<String>,
    /// ACTIVE, ARCHIVED, PROVISIONED, DECLINED, SUSPENDED.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub course_state: Option<String>,
    /// Filled from `courses.aliases.list`, an alias lookup or the state; not a field of the
    /// Course resource itself.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
}

/// The part of a Classroom user profile that is read: who the member is.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct UserProfile {
    /// Classroom's user id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Shared>,
    /// The member's Workspace address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_address: Option<Shared>,
}

/// A teacher or student of a course (both resources have the same shape).
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct CourseMember {
    /// The course they are a member of.
    pub course_id: Shared,
    /// Classroom's user id.
    pub user_id: Shared,
    /// The member's profile, for their email address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<UserProfile>,
}

impl CourseMember {
    /// The member's address, trimmed and lower-cased, if the profile has one.
    pub fn email(&self) -> Option<String> {
        self.profile
            .as_ref()
            .and_then(|p| p.email_address.as_deref())
            .map(|e| e.trim().to_ascii_lowercase())
    }
}

/// A topic of a course (OneRoster categories become topics).
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Topic {
    /// The course it belongs to.
    pub course_id: String,
    /// Classroom's id for the topic.
    pub topic_id: String,
    /// The topic's name, unique within its course.
    #[serde(default)]
    pub name: String,
}

/// A calendar date as Classroom writes one.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ClassroomDate {
    /// The year, e.g. 2026.
    pub year: i32,
    /// 1 to 12.
    pub month: u32,
    /// 1 to 31.
    pub day: u32,
}

/// A time of day in UTC, as Classroom writes one.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct TimeOfDay {
    /// 0 to 23.
    #[serde(default)]
    pub hours: u32,
    /// 0 to 59.
    #[serde(default)]
    pub minutes: u32,
    /// 0 to 59.
    #[serde(default)]
    pub seconds: u32,
}

/// A course's grade category (Classroom gradebook settings).
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct GradeCategory {
    /// Classroom's id for the category.
    #[serde(default)]
    pub id: String,
    /// Its name, matched against the SIS's category titles.
    #[serde(default)]
    pub name: String,
}

/// A piece of work set in a course; graded work becomes a lineItem.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct CourseWork {
    /// The course it is set in.
    pub course_id: String,
    /// Classroom's id for the work.
    pub id: String,
    /// Its title (the lineItem's title).
    #[serde(default)]
    pub title: String,
    /// Its description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Unset or 0 means ungraded: such work is never exported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_points: Option<f64>,
    /// The topic it is filed under (mapped back to a category).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic_id: Option<String>,
    /// The grade category, preferred over the topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grade_category: Option<GradeCategory>,
    /// The due date, if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_date: Option<ClassroomDate>,
    /// The due time, with the due date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_time: Option<TimeOfDay>,
    /// PUBLISHED, DRAFT, DELETED.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// When it was created (RFC 3339); the lineItem's assign date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_time: Option<String>,
    /// When it is scheduled to be published (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_time: Option<String>,
    /// When it last changed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_time: Option<String>,
}

/// One student's submission for one piece of work.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct StudentSubmission {
    /// The course.
    pub course_id: Shared,
    /// The work it answers.
    pub course_work_id: Shared,
    /// Classroom's id for the submission.
    pub id: String,
    /// The student's Classroom user id.
    pub user_id: Shared,
    /// NEW, CREATED, TURNED_IN, RETURNED, RECLAIMED_BY_STUDENT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<Shared>,
    /// Turned in after the due date.
    #[serde(default)]
    pub late: bool,
    /// The grade returned to the student: the only one exported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assigned_grade: Option<f64>,
    /// Never exported: only the assigned grade is final.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draft_grade: Option<f64>,
    /// When it last changed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_time: Option<Shared>,
}

/// Everything read from Classroom, canonicalised and keyed for lookups.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", default)]
pub struct ClassroomSnapshot {
    /// Courses by Classroom id.
    pub courses: BTreeMap<String, ClassroomCourse>,
    /// Course id -> teachers.
    pub teachers: BTreeMap<String, Vec<CourseMember>>,
    /// Course id -> students.
    pub students: BTreeMap<String, Vec<CourseMember>>,
    /// Course id -> topics.
    pub topics: BTreeMap<String, Vec<Topic>>,
    /// Course id -> courseWork.
    pub course_work: BTreeMap<String, Vec<CourseWork>>,
    /// (course id, courseWork id) -> submissions
    pub submissions: BTreeMap<String, Vec<StudentSubmission>>,
}

impl ClassroomSnapshot {
    /// Gives each course the state knows (by Classroom id) the alias the state holds for it,
    /// so the host need not list aliases: it reads known courses by id.
    pub(crate) fn attach_known_aliases(&mut self, known: &crate::state::AppliedClassroom) {
        for applied in known.courses.values() {
            let Some(id) = &applied.course_id else {
                continue;
            };
            if let Some(course) = self.courses.get_mut(id)
                && !course.aliases.contains(&applied.alias)
            {
                course.aliases.push(applied.alias.clone());
            }
        }
    }

    /// The course that carries this alias, if any.
    pub fn course_by_alias(&self, alias: &str) -> Option<&ClassroomCourse> {
        self.courses
            .values()
            .find(|c| c.aliases.iter().any(|a| a == alias))
    }
}
