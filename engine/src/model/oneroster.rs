//! Canonical OneRoster records, one shape for 1.1 and 1.2. References are plain (prefixed)
//! sourcedIds; unknown fields are kept in `extra` so nothing a vendor sends is dropped.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::common::{EntityKind, Status};
use super::shared::Shared;

pub use super::common::Extra;

/// A school, district or other organisation (OneRoster `orgs`).
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Org {
    /// The record's id in its SIS, with the source's prefix.
    pub sourced_id: String,
    /// `active`, or `tobedeleted` for a record the SIS has removed.
    pub status: Status,
    /// When the SIS last changed it (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_last_modified: Option<Shared>,
    /// The vendor's extension fields, kept as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    /// The organisation's name.
    pub name: String,
    /// district, school, department, local, state or national.
    #[serde(rename = "type")]
    pub org_type: String,
    /// A human-readable identifier, e.g. the state's school code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier: Option<String>,
    /// The org this one belongs to (a school's district).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<Shared>,
    /// Fields the model does not name, kept so nothing a vendor sends is lost.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A school year, term, semester or grading period.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct AcademicSession {
    /// The record's id in its SIS, with the source's prefix.
    pub sourced_id: String,
    /// `active`, or `tobedeleted` for a record the SIS has removed.
    pub status: Status,
    /// When the SIS last changed it (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_last_modified: Option<Shared>,
    /// The vendor's extension fields, kept as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    /// The session's name.
    pub title: String,
    /// gradingPeriod, semester, schoolYear or term.
    #[serde(rename = "type")]
    pub session_type: Shared,
    /// First day (YYYY-MM-DD).
    pub start_date: String,
    /// Last day (YYYY-MM-DD).
    pub end_date: String,
    /// The session this one is part of (a term's school year).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<Shared>,
    /// The school year, as the SIS spells it (e.g. `2027`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub school_year: Option<Shared>,
    /// Fields the model does not name, kept so nothing a vendor sends is lost.
    #[serde(flatten)]
    pub extra: Extra,
}

/// One role of a user at one org.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct UserRole {
    /// primary or secondary (1.1's single `role` becomes one primary role per org).
    pub role_type: Shared,
    /// student, teacher, administrator, aide, guardian, parent, ...
    pub role: Shared,
    /// The org the role is held at.
    pub org: Shared,
}

/// Another system's id for a user (1.2 `userIds`).
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct UserIdentifier {
    /// Which system the id belongs to.
    #[serde(rename = "type")]
    pub id_type: String,
    /// The id in that system.
    pub identifier: String,
}

/// A person: student, teacher, administrator, guardian, ...
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// The record's id in its SIS, with the source's prefix.
    pub sourced_id: String,
    /// `active`, or `tobedeleted` for a record the SIS has removed.
    pub status: Status,
    /// When the SIS last changed it (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_last_modified: Option<Shared>,
    /// The vendor's extension fields, kept as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    /// Whether the account may sign in; a disabled user is not added to courses.
    pub enabled_user: bool,
    /// The SIS's login name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// First name.
    pub given_name: String,
    /// Last name.
    pub family_name: String,
    /// Middle name(s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub middle_name: Option<String>,
    /// The address that identifies the person in Google Workspace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// A human-readable id, e.g. the student number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier: Option<String>,
    /// Every role, one per org (1.1's single `role` and `orgs` become primary roles).
    pub roles: Vec<UserRole>,
    /// The org the user mostly belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_org: Option<Shared>,
    /// Ids of this person in other systems.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub user_ids: Vec<UserIdentifier>,
    /// Grade levels (CEDS codes such as `09`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grades: Vec<Shared>,
    /// Linked users: a student's guardians, a guardian's children.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub agents: Vec<Shared>,
    /// Fields the model does not name, kept so nothing a vendor sends is lost.
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

    /// Every org the user has a role at, then the primary org.
    pub fn orgs(&self) -> impl Iterator<Item = &str> {
        self.roles
            .iter()
            .map(|r| r.org.as_str())
            .chain(self.primary_org.as_deref())
    }

    /// The email trimmed and lower-cased, if there is one.
    pub fn normalized_email(&self) -> Option<String> {
        self.email
            .as_deref()
            .map(|e| e.trim().to_ascii_lowercase())
            .filter(|e| !e.is_empty())
    }

    /// Given and family name, as people are shown in the preview.
    pub fn display_name(&self) -> String {
        format!("{} {}", self.given_name, self.family_name)
    }
}

/// A course of the catalogue (Algebra 1), of which classes are sections.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Course {
    /// The record's id in its SIS, with the source's prefix.
    pub sourced_id: String,
    /// `active`, or `tobedeleted` for a record the SIS has removed.
    pub status: Status,
    /// When the SIS last changed it (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_last_modified: Option<Shared>,
    /// The vendor's extension fields, kept as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    /// The course's name.
    pub title: String,
    /// The catalogue code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub course_code: Option<String>,
    /// The org that offers the course.
    pub org: Shared,
    /// The school year it is offered in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub school_year: Option<Shared>,
    /// Grade levels it is for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grades: Vec<Shared>,
    /// Subject names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subjects: Vec<Shared>,
    /// Fields the model does not name, kept so nothing a vendor sends is lost.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A section of a course, taught to a group in a term; becomes one Classroom course.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Class {
    /// The record's id in its SIS, with the source's prefix.
    pub sourced_id: String,
    /// `active`, or `tobedeleted` for a record the SIS has removed.
    pub status: Status,
    /// When the SIS last changed it (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_last_modified: Option<Shared>,
    /// The vendor's extension fields, kept as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    /// The class's name (the Classroom course's name).
    pub title: String,
    /// The section's code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_code: Option<String>,
    /// homeroom or scheduled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_type: Option<Shared>,
    /// The room (the Classroom course's room).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// The course it is a section of.
    pub course: Shared,
    /// The school that teaches it.
    pub school: Shared,
    /// The academic sessions it runs in.
    #[serde(default)]
    pub terms: Vec<Shared>,
    /// Periods of the day it meets in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub periods: Vec<Shared>,
    /// Subject names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subjects: Vec<Shared>,
    /// Fields the model does not name, kept so nothing a vendor sends is lost.
    #[serde(flatten)]
    pub extra: Extra,
}

/// One user in one class, with a role.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Enrollment {
    /// The record's id in its SIS, with the source's prefix.
    pub sourced_id: String,
    /// `active`, or `tobedeleted` for a record the SIS has removed.
    pub status: Status,
    /// When the SIS last changed it (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_last_modified: Option<Shared>,
    /// The vendor's extension fields, kept as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    /// The user enrolled.
    pub user: Shared,
    /// The class.
    pub class: Shared,
    /// The school of the class.
    pub school: Shared,
    /// administrator, proctor, student, teacher (1.2 adds aide, guardian, parent, ...).
    pub role: Shared,
    /// A teacher's primary class; the first primary teacher owns the Classroom course.
    #[serde(default)]
    pub primary: bool,
    /// First day of the enrollment (YYYY-MM-DD).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub begin_date: Option<Shared>,
    /// Last day of the enrollment (YYYY-MM-DD).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_date: Option<Shared>,
    /// Fields the model does not name, kept so nothing a vendor sends is lost.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A gradebook category (Homework, Tests); becomes a Classroom topic.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Category {
    /// The record's id in its SIS, with the source's prefix.
    pub sourced_id: String,
    /// `active`, or `tobedeleted` for a record the SIS has removed.
    pub status: Status,
    /// When the SIS last changed it (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_last_modified: Option<Shared>,
    /// The vendor's extension fields, kept as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    /// The category's name (the topic's name).
    pub title: String,
    /// Its weight in the class grade.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<f64>,
    /// Set when the category belongs to one class (1.2's `/classes/{id}/categories`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<Shared>,
    /// Fields the model does not name, kept so nothing a vendor sends is lost.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A gradebook column: one piece of graded work in one class.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct LineItem {
    /// The record's id in its SIS, with the source's prefix.
    pub sourced_id: String,
    /// `active`, or `tobedeleted` for a record the SIS has removed.
    pub status: Status,
    /// When the SIS last changed it (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_last_modified: Option<Shared>,
    /// The vendor's extension fields, kept as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    /// The work's title, shortened to the vendor's limit.
    pub title: String,
    /// The work's description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// When it was set (RFC 3339 date-time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assign_date: Option<Shared>,
    /// When it is due (RFC 3339 date-time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_date: Option<Shared>,
    /// The class it belongs to.
    pub class: Shared,
    /// The gradebook category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<Shared>,
    /// The grading period it counts in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grading_period: Option<Shared>,
    /// The lowest score (0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_value_min: Option<f64>,
    /// The highest score before extra credit (the work's maxPoints).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_value_max: Option<f64>,
    /// Fields the model does not name, kept so nothing a vendor sends is lost.
    #[serde(flatten)]
    pub extra: Extra,
}

/// OneRoster scoreStatus, in the shared vocabulary of 1.1 and 1.2 (1.2's `ext:*` kept as-is).
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub enum ScoreStatus {
    /// Excused: the work does not count.
    Exempt,
    /// Graded.
    #[default]
    FullyGraded,
    /// Missing work.
    NotSubmitted,
    /// Graded in part.
    PartiallyGraded,
    /// Turned in, not yet graded.
    Submitted,
    /// A vendor's `ext:` value, kept as sent.
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
    /// Reads a scoreStatus in any case, with or without its space; `None` for an unknown value.
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

    /// The value as the spec spells it.
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

/// One student's score on one lineItem (OneRoster `results`).
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct GradeResult {
    /// The record's id in its SIS, with the source's prefix.
    pub sourced_id: String,
    /// `active`, or `tobedeleted` for a record the SIS has removed.
    pub status: Status,
    /// When the SIS last changed it (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_last_modified: Option<Shared>,
    /// The vendor's extension fields, kept as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    /// The lineItem it scores.
    pub line_item: Shared,
    /// The student scored.
    pub student: Shared,
    /// How far it is graded.
    pub score_status: ScoreStatus,
    /// The score, as mapped by the grade rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// A letter or other text score (1.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_score: Option<String>,
    /// When it was graded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score_date: Option<Shared>,
    /// A comment for the student.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Turned in late (1.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub late: Option<bool>,
    /// Not turned in by the due date (1.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing: Option<bool>,
    /// Incomplete (1.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incomplete: Option<bool>,
    /// Fields the model does not name, kept so nothing a vendor sends is lost.
    #[serde(flatten)]
    pub extra: Extra,
}

/// What every canonical OneRoster record offers the generic stages (filter, dedup, merge, diff).
pub trait RosterRecord: Clone + PartialEq + Serialize + DeserializeOwned {
    /// The entity type this record is.
    const KIND: EntityKind;
    /// The record's (prefixed) sourcedId.
    fn sourced_id(&self) -> &str;
    /// active or tobedeleted.
    fn status(&self) -> Status;
    /// Every reference this record holds, with the kind it points to.
    fn references(&self) -> Vec<(EntityKind, &str)>;
    /// Mutable access to every reference, for SIS ID prefixes and schools mapping.
    fn references_mut(&mut self) -> Vec<(EntityKind, &mut Shared)>;
    /// The sourcedId, to prefix or map.
    fn sourced_id_mut(&mut self) -> &mut String;

    /// The record as a JSON object, for the stages that work field by field.
    fn fields(&self) -> Map<String, Value> {
        match serde_json::to_value(self) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        }
    }

    /// A top-level text field by its JSON name, read in place: `Some(value)` when the record
    /// holds that field as text (absent or not), `None` when the caller must look in
    /// [`RosterRecord::fields`]. Stages that scan a district's users for one field use it
    /// rather than writing each record out as a JSON object.
    fn text_field(&self, _name: &str) -> Option<Option<&str>> {
        None
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
    fn text_field(&self, name: &str) -> Option<Option<&str>> {
        // The names serde writes these fields under (camelCase); `extra` cannot hold them.
        Some(match name {
            "sourcedId" => Some(self.sourced_id.as_str()),
            "username" => self.username.as_deref(),
            "givenName" => Some(self.given_name.as_str()),
            "familyName" => Some(self.family_name.as_str()),
            "middleName" => self.middle_name.as_deref(),
            "email" => self.email.as_deref(),
            "identifier" => self.identifier.as_deref(),
            _ => return None,
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A field read in place is the field as the record writes it out, present or absent.
    #[test]
    fn a_users_text_fields_read_in_place_match_its_json() {
        let full = User {
            sourced_id: "u1".into(),
            username: Some("jdoe".into()),
            given_name: "Jane".into(),
            family_name: "Doe".into(),
            middle_name: Some("Q".into()),
            email: Some("Jane.Doe@example.org".into()),
            identifier: Some("1001".into()),
            ..User::default()
        };
        for user in [full, User::default()] {
            let fields = user.fields();
            for name in [
                "sourcedId",
                "username",
                "givenName",
                "familyName",
                "middleName",
                "email",
                "identifier",
            ] {
                assert_eq!(
                    user.text_field(name),
                    Some(fields.get(name).and_then(Value::as_str)),
                    "{name}"
                );
            }
            assert_eq!(user.text_field("metadata"), None);
        }
    }
}
