//! Google Classroom resources as the API returns them (field names per the v1 discovery
//! document). Only the fields classbridge reads are kept: these are read-only views of what
//! the API listed, never written back, and a district lists millions of them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Clone, PartialEq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct ClassroomCourse {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub section: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<String>,
    /// ACTIVE, ARCHIVED, PROVISIONED, DECLINED, SUSPENDED.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub course_state: Option<String>,
    /// Filled from `courses.aliases.list`; not a field of the Course resource itself.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
}

#[derive(Serialize, Deserialize, Clone, PartialEq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct UserProfile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_address: Option<String>,
}

/// A teacher or student of a course (both resources have the same shape).
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct CourseMember {
    pub course_id: String,
    pub user_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<UserProfile>,
}

impl CourseMember {
    pub fn email(&self) -> Option<String> {
        self.profile
            .as_ref()
            .and_then(|p| p.email_address.as_deref())
            .map(|e| e.trim().to_ascii_lowercase())
    }
}

#[derive(Serialize, Deserialize, Clone, PartialEq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Topic {
    pub course_id: String,
    pub topic_id: String,
    #[serde(default)]
    pub name: String,
}

#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ClassroomDate {
    pub year: i32,
    pub month: u32,
    pub day: u32,
}

#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct TimeOfDay {
    #[serde(default)]
    pub hours: u32,
    #[serde(default)]
    pub minutes: u32,
    #[serde(default)]
    pub seconds: u32,
}

#[derive(Serialize, Deserialize, Clone, PartialEq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct GradeCategory {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub name: String,
}

#[derive(Serialize, Deserialize, Clone, PartialEq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct CourseWork {
    pub course_id: String,
    pub id: String,
    #[serde(default)]
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Unset or 0 means ungraded: such work is never exported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_points: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grade_category: Option<GradeCategory>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_date: Option<ClassroomDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_time: Option<TimeOfDay>,
    /// PUBLISHED, DRAFT, DELETED.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_time: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, PartialEq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct StudentSubmission {
    pub course_id: String,
    pub course_work_id: String,
    pub id: String,
    pub user_id: String,
    /// NEW, CREATED, TURNED_IN, RETURNED, RECLAIMED_BY_STUDENT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default)]
    pub late: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assigned_grade: Option<f64>,
    /// Never exported: only the assigned grade is final.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draft_grade: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_time: Option<String>,
}

/// Everything read from Classroom, canonicalised and keyed for lookups.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", default)]
pub struct ClassroomSnapshot {
    pub courses: BTreeMap<String, ClassroomCourse>,
    /// course id -> teachers / students
    pub teachers: BTreeMap<String, Vec<CourseMember>>,
    pub students: BTreeMap<String, Vec<CourseMember>>,
    pub topics: BTreeMap<String, Vec<Topic>>,
    pub course_work: BTreeMap<String, Vec<CourseWork>>,
    /// (course id, courseWork id) -> submissions
    pub submissions: BTreeMap<String, Vec<StudentSubmission>>,
}

impl ClassroomSnapshot {
    pub fn course_by_alias(&self, alias: &str) -> Option<&ClassroomCourse> {
        self.courses
            .values()
            .find(|c| c.aliases.iter().any(|a| a == alias))
    }
}
