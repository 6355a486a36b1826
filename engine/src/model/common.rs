//! Types shared by every record: entity kinds, status, references and record issues.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Fields a record carried that the model does not name: kept, never dropped.
pub type Extra = BTreeMap<String, Value>;

/// The OneRoster entity types the engine knows, in dependency order (an org before its classes).
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub enum EntityKind {
    /// Schools, districts and other organisations.
    Org,
    /// School years, terms, semesters and grading periods.
    AcademicSession,
    /// People.
    User,
    /// The course catalogue.
    Course,
    /// Sections of courses.
    Class,
    /// Users in classes.
    Enrollment,
    /// Gradebook categories.
    Category,
    /// Gradebook columns.
    LineItem,
    /// Scores.
    Result,
}

impl EntityKind {
    /// The entities of a roster (the gradebook left out), in dependency order.
    pub const ROSTER: [EntityKind; 7] = [
        EntityKind::Org,
        EntityKind::AcademicSession,
        EntityKind::User,
        EntityKind::Course,
        EntityKind::Class,
        EntityKind::Enrollment,
        EntityKind::Category,
    ];

    /// The collection name used in REST paths, envelopes and CSV file names.
    pub fn collection(self) -> &'static str {
        match self {
            EntityKind::Org => "orgs",
            EntityKind::AcademicSession => "academicSessions",
            EntityKind::User => "users",
            EntityKind::Course => "courses",
            EntityKind::Class => "classes",
            EntityKind::Enrollment => "enrollments",
            EntityKind::Category => "categories",
            EntityKind::LineItem => "lineItems",
            EntityKind::Result => "results",
        }
    }

    /// The singular envelope key used for one object and PUT bodies.
    pub fn singular(self) -> &'static str {
        match self {
            EntityKind::Org => "org",
            EntityKind::AcademicSession => "academicSession",
            EntityKind::User => "user",
            EntityKind::Course => "course",
            EntityKind::Class => "class",
            EntityKind::Enrollment => "enrollment",
            EntityKind::Category => "category",
            EntityKind::LineItem => "lineItem",
            EntityKind::Result => "result",
        }
    }

    /// Accepts the collection names of both versions, including the role- and type-specific
    /// endpoints whose envelopes reuse another collection's key.
    pub fn from_collection(name: &str) -> Option<(EntityKind, &'static str)> {
        let kind = match name {
            "orgs" | "schools" => EntityKind::Org,
            "academicSessions" | "terms" | "gradingPeriods" => EntityKind::AcademicSession,
            "users" | "students" | "teachers" => EntityKind::User,
            "courses" => EntityKind::Course,
            "classes" => EntityKind::Class,
            "enrollments" => EntityKind::Enrollment,
            "categories" => EntityKind::Category,
            "lineItems" => EntityKind::LineItem,
            "results" => EntityKind::Result,
            _ => return None,
        };
        Some((kind, kind.collection()))
    }

    /// Accepts either the singular ("user") or the collection name ("users").
    pub fn parse(name: &str) -> Option<EntityKind> {
        Self::ALL
            .iter()
            .copied()
            .find(|k| k.singular() == name || k.collection() == name)
    }

    /// Every entity, in dependency order.
    pub const ALL: [EntityKind; 9] = [
        EntityKind::Org,
        EntityKind::AcademicSession,
        EntityKind::User,
        EntityKind::Course,
        EntityKind::Class,
        EntityKind::Enrollment,
        EntityKind::Category,
        EntityKind::LineItem,
        EntityKind::Result,
    ];
}

impl std::fmt::Display for EntityKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.singular())
    }
}

/// OneRoster record status. 1.0's `inactive` is read as `tobedeleted`.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum Status {
    /// The record is current.
    #[default]
    #[serde(rename = "active")]
    Active,
    /// The SIS removed the record (1.0's `inactive` too).
    #[serde(rename = "tobedeleted")]
    ToBeDeleted,
}

impl Status {
    /// Reads a status in any case; empty means active.
    pub fn parse(raw: &str) -> Option<Status> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "active" | "" => Some(Status::Active),
            "tobedeleted" | "inactive" => Some(Status::ToBeDeleted),
            _ => None,
        }
    }
}

/// How bad a record issue is: an error drops (or keeps the previous version of) the record,
/// a warning means the record went on with an adjustment the admin should know about.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub enum Severity {
    /// The record went on, adjusted.
    Warning,
    /// The record was left out, or its previous version kept.
    Error,
}

/// A problem with one record, named precisely enough for an admin to find and fix it in the SIS.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, PartialOrd, Ord, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct RecordIssue {
    /// The source it came from (or `classroom`).
    pub source: String,
    /// The entity type, as OneRoster names it.
    pub entity: String,
    /// The record's id, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sourced_id: Option<String>,
    /// Whether the record went on.
    pub severity: Severity,
    /// What is wrong, in words an admin can act on.
    pub reason: String,
}

impl RecordIssue {
    /// An issue that left the record out.
    pub fn error(
        source: &str,
        entity: impl Into<String>,
        id: Option<&str>,
        reason: impl Into<String>,
    ) -> Self {
        RecordIssue {
            source: source.to_string(),
            entity: entity.into(),
            sourced_id: id.map(str::to_string),
            severity: Severity::Error,
            reason: reason.into(),
        }
    }

    /// An issue the record went on with.
    pub fn warning(
        source: &str,
        entity: impl Into<String>,
        id: Option<&str>,
        reason: impl Into<String>,
    ) -> Self {
        RecordIssue {
            severity: Severity::Warning,
            ..Self::error(source, entity, id, reason)
        }
    }

    /// Whether it is about Classroom work or a submission on its way to a SIS gradebook
    /// (shortened, placed, or not exported): the preview's grade export check.
    pub fn is_grade_export_check(&self) -> bool {
        self.source == "classroom"
            && matches!(self.entity.as_str(), "courseWork" | "studentSubmissions")
    }
}
