//! Master fields: which source owns each field. Roster fields belong to the SIS, lineItems and
//! results to Classroom, categories to the SIS; some fields are derived from other records and
//! may never have a master at all.

use crate::model::EntityKind;

use super::{MasterFieldRule, SyncConfig};

/// The entity a master-field rule names: a OneRoster entity, or one of the role views that
/// admins know from their SIS (Student, Staff, ...), which are users of certain roles.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum MasterEntity {
    OneRoster(EntityKind),
    Student,
    Staff,
    SchoolAdmin,
    Contact,
    Relationships,
    Calendar,
    Course,
    Roster,
}

impl MasterEntity {
    pub fn parse(name: &str) -> Option<MasterEntity> {
        Some(match name {
            "Student" => MasterEntity::Student,
            "Staff" => MasterEntity::Staff,
            "SchoolAdmin" => MasterEntity::SchoolAdmin,
            "Contact" => MasterEntity::Contact,
            "Relationships" => MasterEntity::Relationships,
            "Calendar" => MasterEntity::Calendar,
            "Course" => MasterEntity::Course,
            "Roster" => MasterEntity::Roster,
            other => MasterEntity::OneRoster(EntityKind::parse(other)?),
        })
    }

    /// The OneRoster entity the view is made of.
    pub fn entity(self) -> EntityKind {
        match self {
            MasterEntity::OneRoster(k) => k,
            MasterEntity::Student
            | MasterEntity::Staff
            | MasterEntity::SchoolAdmin
            | MasterEntity::Contact
            | MasterEntity::Relationships => EntityKind::User,
            MasterEntity::Calendar => EntityKind::AcademicSession,
            MasterEntity::Course => EntityKind::Course,
            MasterEntity::Roster => EntityKind::Class,
        }
    }

    /// Whether a user with this primary role is part of the view.
    pub fn covers_role(self, role: Option<&str>) -> bool {
        let role = role.unwrap_or("");
        match self {
            MasterEntity::Student => role == "student",
            MasterEntity::Staff => matches!(role, "teacher" | "aide" | "proctor"),
            MasterEntity::SchoolAdmin => matches!(
                role,
                "administrator" | "districtAdministrator" | "siteAdministrator"
            ),
            MasterEntity::Contact | MasterEntity::Relationships => {
                matches!(role, "parent" | "guardian" | "relative")
            }
            _ => true,
        }
    }
}

/// Fields that are derived from other records (enrollments, assignments, relationships) and so
/// can never be owned by one source: a master on them would fight the records they come from.
pub const NEVER_MASTERED: &[(&str, &[&str])] = &[
    (
        "Student",
        &[
            "enrollment",
            "otherEnrollments",
            "rosters",
            "studentContacts",
        ],
    ),
    (
        "Staff",
        &["primaryAssignment", "otherAssignments", "rosters"],
    ),
    (
        "SchoolAdmin",
        &["primaryAssignment", "otherAssignments", "rosters"],
    ),
    ("Contact", &["schoolId", "otherSchoolIds"]),
    (
        "Relationships",
        &["studentId", "contactRelationship", "contactType"],
    ),
    (
        "Calendar",
        &["schoolId", "otherSchoolIds", "rosters", "children"],
    ),
    ("Course", &["schoolId", "otherSchoolIds", "rosters"]),
    ("Roster", &["students", "otherStaff", "calendars"]),
];

pub fn is_never_mastered(entity: &str, field: &str) -> bool {
    NEVER_MASTERED
        .iter()
        .any(|(e, fields)| *e == entity && fields.contains(&field))
}

/// Who owns a field after resolution.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum FieldMaster {
    /// The SIS sources, in configured order: the first that has the record wins.
    Sis,
    /// One named source first, then the others in order.
    Source(String),
    Classroom,
    /// Nobody: the value set at creation is never overwritten.
    Nobody,
}

impl FieldMaster {
    pub fn parse(raw: &str) -> FieldMaster {
        match raw {
            "sis" => FieldMaster::Sis,
            "classroom" => FieldMaster::Classroom,
            "none" => FieldMaster::Nobody,
            other => FieldMaster::Source(other.to_string()),
        }
    }

    /// Whether values coming from the SIS may overwrite this field.
    pub fn sis_owns(&self) -> bool {
        matches!(self, FieldMaster::Sis | FieldMaster::Source(_))
    }
}

/// The master of `field` on `entity` for a record whose primary role (users only) is `role`.
/// The last matching rule wins, so a specific rule may follow a general one.
pub fn resolve_master(
    config: &SyncConfig,
    entity: EntityKind,
    role: Option<&str>,
    field: &str,
) -> FieldMaster {
    let rule = config
        .master_fields
        .iter()
        .rev()
        .find(|rule: &&MasterFieldRule| {
            rule.field == field
                && MasterEntity::parse(&rule.entity)
                    .is_some_and(|e| e.entity() == entity && e.covers_role(role))
        });
    match rule {
        Some(rule) => FieldMaster::parse(&rule.master),
        None => match entity {
            EntityKind::LineItem | EntityKind::Result => FieldMaster::Classroom,
            _ => FieldMaster::Sis,
        },
    }
}
