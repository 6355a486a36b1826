//! Canonical OneRoster records, one shape for 1.1 and 1.2. References are plain (prefixed)
//! sourcedIds; unknown fields are kept in `extra` so nothing a vendor sends is dropped.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::common::{EntityKind, Status};
use super::shared::Shared;

pub use super::common::Extra;

#[derive(Serialize, Deserialize, Clone, PartialEq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Org {
    pub sourced_id: String,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_last_modified: Option<Shared>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    pub name: String,
    #[serde(rename = "type")]
    pub org_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<Shared>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Serialize, Deserialize, Clone, PartialEq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct AcademicSession {
    pub sourced_id: String,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_last_modified: Option<Shared>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    pub title: String,
    /// gradingPeriod, semester, schoolYear or term.
    #[serde(rename = "type")]
    pub session_type: Shared,
    pub start_date: String,
    pub end_date: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<Shared>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub school_year: Option<Shared>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Serialize, Deserialize, Clone, PartialEq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct UserRole {
    /// primary or secondary (1.1's single `role` becomes one primary role per org).
    pub role_type: Shared,
    pub role: Shared,
    pub org: Shared,
}

#[derive(Serialize, Deserialize, Clone, PartialEq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct UserIdentifier {
    #[serde(rename = "type")]
    pub id_type: String,
    pub identifier: String,
}

#[derive(Serialize, Deserialize, Clone, PartialEq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub sourced_id: String,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_last_modified: Option<Shared>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    pub enabled_user: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    pub given_name: String,
    pub family_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub middle_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier: Option<String>,
    pub roles: Vec<UserRole>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_org: Option<Shared>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub user_ids: Vec<UserIdentifier>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grades: Vec<Shared>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub agents: Vec<Shared>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl User {
    /// The role that decides how the user is treated: the first primary role, else the first.
    pub fn primary_role(&self) -> Option<&str> {
        self.roles
            .iter()
            .find(|r| r.role_type == "primary")
            .or_else(|| self.roles.first())
            .map(|r| r.role.as_str())
    }

    pub fn orgs(&self) -> impl Iterator<Item = &str> {
        self.roles
            .iter()
            .map(|r| r.org.as_str())
            .chain(self.primary_org.as_deref())
    }

    pub fn normalized_email(&self) -> Option<String> {
        self.email
            .as_deref()
            .map(|e| e.trim().to_ascii_lowercase())
            .filter(|e| !e.is_empty())
    }

    pub fn display_name(&self) -> String {
        format!("{} {}", self.given_name, self.family_name)
    }
}

#[derive(Serialize, Deserialize, Clone, PartialEq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Course {
    pub sourced_id: String,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_last_modified: Option<Shared>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub course_code: Option<String>,
    pub org: Shared,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub school_year: Option<Shared>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grades: Vec<Shared>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subjects: Vec<Shared>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Serialize, Deserialize, Clone, PartialEq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Class {
    pub sourced_id: String,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_last_modified: Option<Shared>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_type: Option<Shared>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    pub course: Shared,
    pub school: Shared,
    #[serde(default)]
    pub terms: Vec<Shared>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub periods: Vec<Shared>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subjects: Vec<Shared>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Serialize, Deserialize, Clone, PartialEq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Enrollment {
    pub sourced_id: String,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_last_modified: Option<Shared>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    pub user: Shared,
    pub class: Shared,
    pub school: Shared,
    /// administrator, proctor, student, teacher (1.2 adds aide, guardian, parent, ...).
    pub role: Shared,
    #[serde(default)]
    pub primary: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub begin_date: Option<Shared>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_date: Option<Shared>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Serialize, Deserialize, Clone, PartialEq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Category {
    pub sourced_id: String,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_last_modified: Option<Shared>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<f64>,
    /// Set when the category belongs to one class (1.2's `/classes/{id}/categories`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<Shared>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Serialize, Deserialize, Clone, PartialEq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct LineItem {
    pub sourced_id: String,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_last_modified: Option<Shared>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assign_date: Option<Shared>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_date: Option<Shared>,
    pub class: Shared,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<Shared>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grading_period: Option<Shared>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_value_min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_value_max: Option<f64>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// OneRoster scoreStatus, in the shared vocabulary of 1.1 and 1.2 (1.2's `ext:*` kept as-is).
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub enum ScoreStatus {
    Exempt,
    #[default]
    FullyGraded,
    NotSubmitted,
    PartiallyGraded,
    Submitted,
    Extension(String),
}

/// On the wire: one of the spec's values, or an `ext:` extension.
#[cfg(feature = "schema")]
impl schemars::JsonSchema for ScoreStatus {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ScoreStatus".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "exempt, fully graded, not submitted, partially graded, submitted, or ext:<name>"
        })
    }
}

impl ScoreStatus {
    pub fn parse(raw: &str) -> Option<ScoreStatus> {
        let lowered = raw.trim().to_ascii_lowercase();
        Some(match lowered.as_str() {
            "exempt" => ScoreStatus::Exempt,
            "fully graded" | "fullygraded" => ScoreStatus::FullyGraded,
            "not submitted" | "notsubmitted" => ScoreStatus::NotSubmitted,
            "partially graded" | "partiallygraded" => ScoreStatus::PartiallyGraded,
            "submitted" => ScoreStatus::Submitted,
            _ if lowered.starts_with("ext:") && lowered.len() > 4 => {
                ScoreStatus::Extension(raw.trim().to_string())
            }
            _ => return None,
        })
    }

    pub fn as_str(&self) -> &str {
        match self {
            ScoreStatus::Exempt => "exempt",
            ScoreStatus::FullyGraded => "fully graded",
            ScoreStatus::NotSubmitted => "not submitted",
            ScoreStatus::PartiallyGraded => "partially graded",
            ScoreStatus::Submitted => "submitted",
            ScoreStatus::Extension(s) => s,
        }
    }
}

impl Serialize for ScoreStatus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ScoreStatus {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        ScoreStatus::parse(&raw)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown scoreStatus '{raw}'")))
    }
}

#[derive(Serialize, Deserialize, Clone, PartialEq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct GradeResult {
    pub sourced_id: String,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_last_modified: Option<Shared>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    pub line_item: Shared,
    pub student: Shared,
    pub score_status: ScoreStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_score: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score_date: Option<Shared>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub late: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incomplete: Option<bool>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// What every canonical OneRoster record offers the generic stages (filter, dedup, merge, diff).
pub trait RosterRecord: Clone + PartialEq + Serialize + DeserializeOwned {
    const KIND: EntityKind;
    fn sourced_id(&self) -> &str;
    fn status(&self) -> Status;
    /// Every reference this record holds, with the kind it points to.
    fn references(&self) -> Vec<(EntityKind, &str)>;
    /// Mutable access to every reference, for SIS ID prefixes and schools mapping.
    fn references_mut(&mut self) -> Vec<(EntityKind, &mut Shared)>;
    fn sourced_id_mut(&mut self) -> &mut String;

    /// The record as a JSON object, for the stages that work field by field.
    fn fields(&self) -> Map<String, Value> {
        match serde_json::to_value(self) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        }
    }

    /// Derived values rules may name but which are not stored (a user's primary `role`).
    fn add_virtual_fields(&self, _fields: &mut Map<String, Value>) {}

    /// The record back from (possibly edited) fields.
    fn from_fields(fields: Map<String, Value>) -> Result<Self, String> {
        serde_json::from_value(Value::Object(fields)).map_err(|e| e.to_string())
    }
}

macro_rules! record_basics {
    ($ty:ty, $kind:expr) => {
        const KIND: EntityKind = $kind;
        fn sourced_id(&self) -> &str {
            &self.sourced_id
        }
        fn sourced_id_mut(&mut self) -> &mut String {
            &mut self.sourced_id
        }
        fn status(&self) -> Status {
            self.status
        }
    };
}

impl RosterRecord for Org {
    record_basics!(Org, EntityKind::Org);
    fn references(&self) -> Vec<(EntityKind, &str)> {
        self.parent
            .iter()
            .map(|p| (EntityKind::Org, p.as_str()))
            .collect()
    }
    fn references_mut(&mut self) -> Vec<(EntityKind, &mut Shared)> {
        self.parent
            .iter_mut()
            .map(|p| (EntityKind::Org, p))
            .collect()
    }
}

impl RosterRecord for AcademicSession {
    record_basics!(AcademicSession, EntityKind::AcademicSession);
    fn references(&self) -> Vec<(EntityKind, &str)> {
        self.parent
            .iter()
            .map(|p| (EntityKind::AcademicSession, p.as_str()))
            .collect()
    }
    fn references_mut(&mut self) -> Vec<(EntityKind, &mut Shared)> {
        self.parent
            .iter_mut()
            .map(|p| (EntityKind::AcademicSession, p))
            .collect()
    }
}

impl RosterRecord for User {
    record_basics!(User, EntityKind::User);
    fn references(&self) -> Vec<(EntityKind, &str)> {
        self.orgs().map(|o| (EntityKind::Org, o)).collect()
    }
    fn references_mut(&mut self) -> Vec<(EntityKind, &mut Shared)> {
        let mut refs: Vec<(EntityKind, &mut Shared)> = self
            .roles
            .iter_mut()
            .map(|r| (EntityKind::Org, &mut r.org))
            .collect();
        refs.extend(self.primary_org.iter_mut().map(|o| (EntityKind::Org, o)));
        refs.extend(self.agents.iter_mut().map(|a| (EntityKind::User, a)));
        refs
    }
    fn add_virtual_fields(&self, fields: &mut Map<String, Value>) {
        if let Some(role) = self.primary_role() {
            fields.insert("role".into(), Value::String(role.to_string()));
        }
    }
}

impl RosterRecord for Course {
    record_basics!(Course, EntityKind::Course);
    fn references(&self) -> Vec<(EntityKind, &str)> {
        let mut refs = vec![(EntityKind::Org, self.org.as_str())];
        refs.extend(
            self.school_year
                .iter()
                .map(|s| (EntityKind::AcademicSession, s.as_str())),
        );
        refs
    }
    fn references_mut(&mut self) -> Vec<(EntityKind, &mut Shared)> {
        let mut refs = vec![(EntityKind::Org, &mut self.org)];
        refs.extend(
            self.school_year
                .iter_mut()
                .map(|s| (EntityKind::AcademicSession, s)),
        );
        refs
    }
}

impl RosterRecord for Class {
    record_basics!(Class, EntityKind::Class);
    fn references(&self) -> Vec<(EntityKind, &str)> {
        let mut refs = vec![
            (EntityKind::Course, self.course.as_str()),
            (EntityKind::Org, self.school.as_str()),
        ];
        refs.extend(
            self.terms
                .iter()
                .map(|t| (EntityKind::AcademicSession, t.as_str())),
        );
        refs
    }
    fn references_mut(&mut self) -> Vec<(EntityKind, &mut Shared)> {
        let mut refs = vec![
            (EntityKind::Course, &mut self.course),
            (EntityKind::Org, &mut self.school),
        ];
        refs.extend(
            self.terms
                .iter_mut()
                .map(|t| (EntityKind::AcademicSession, t)),
        );
        refs
    }
}

impl RosterRecord for Enrollment {
    record_basics!(Enrollment, EntityKind::Enrollment);
    fn references(&self) -> Vec<(EntityKind, &str)> {
        vec![
            (EntityKind::User, self.user.as_str()),
            (EntityKind::Class, self.class.as_str()),
            (EntityKind::Org, self.school.as_str()),
        ]
    }
    fn references_mut(&mut self) -> Vec<(EntityKind, &mut Shared)> {
        vec![
            (EntityKind::User, &mut self.user),
            (EntityKind::Class, &mut self.class),
            (EntityKind::Org, &mut self.school),
        ]
    }
}

impl RosterRecord for Category {
    record_basics!(Category, EntityKind::Category);
    fn references(&self) -> Vec<(EntityKind, &str)> {
        self.class
            .iter()
            .map(|c| (EntityKind::Class, c.as_str()))
            .collect()
    }
    fn references_mut(&mut self) -> Vec<(EntityKind, &mut Shared)> {
        self.class
            .iter_mut()
            .map(|c| (EntityKind::Class, c))
            .collect()
    }
}

impl RosterRecord for LineItem {
    record_basics!(LineItem, EntityKind::LineItem);
    fn references(&self) -> Vec<(EntityKind, &str)> {
        let mut refs = vec![(EntityKind::Class, self.class.as_str())];
        refs.extend(
            self.category
                .iter()
                .map(|c| (EntityKind::Category, c.as_str())),
        );
        refs.extend(
            self.grading_period
                .iter()
                .map(|g| (EntityKind::AcademicSession, g.as_str())),
        );
        refs
    }
    fn references_mut(&mut self) -> Vec<(EntityKind, &mut Shared)> {
        let mut refs = vec![(EntityKind::Class, &mut self.class)];
        refs.extend(self.category.iter_mut().map(|c| (EntityKind::Category, c)));
        refs.extend(
            self.grading_period
                .iter_mut()
                .map(|g| (EntityKind::AcademicSession, g)),
        );
        refs
    }
}

impl RosterRecord for GradeResult {
    record_basics!(GradeResult, EntityKind::Result);
    fn references(&self) -> Vec<(EntityKind, &str)> {
        vec![
            (EntityKind::LineItem, self.line_item.as_str()),
            (EntityKind::User, self.student.as_str()),
        ]
    }
    fn references_mut(&mut self) -> Vec<(EntityKind, &mut Shared)> {
        vec![
            (EntityKind::LineItem, &mut self.line_item),
            (EntityKind::User, &mut self.student),
        ]
    }
}
