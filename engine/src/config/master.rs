//! Master fields: which source owns each field. Roster fields belong to the SIS, lineItems and
//! results to Classroom, categories to the SIS; some fields are derived from other records and
//! may never have a master at all.

use crate::model::EntityKind;

use super::{MasterFieldRule, SyncConfig};

/// The entity a master-field rule names: a OneRoster entity, or one of the role views that
/// admins know from their SIS (Student, Staff, ...), which are users of certain roles.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum MasterEntity {
    /// A OneRoster entity by its own name (`users`, `classes`, ...).
    OneRoster(EntityKind),
    /// Users with the student role.
    Student,
    /// Users with a teaching or staff role.
    Staff,
    /// Users with an administrator role.
    SchoolAdmin,
    /// Parents and guardians.
    Contact,
    /// Users' links to other users (agents).
    Relationships,
    /// Academic sessions.
    Calendar,
    /// Courses (the catalogue), not classes.
    Course,
    /// Enrollments.
    Roster,
}

impl MasterEntity {
    /// The role views by name, then the OneRoster entities; case-insensitive, so `course` and
    /// `Course` (the same records) are one entity whichever way a rule spells it.
    pub fn parse(name: &str) -> Option<MasterEntity> {
        const VIEWS: [(&str, MasterEntity); 8] = [
            ("Student", MasterEntity::Student),
            ("Staff", MasterEntity::Staff),
            ("SchoolAdmin", MasterEntity::SchoolAdmin),
            ("Contact", MasterEntity::Contact),
            ("Relationships", MasterEntity::Relationships),
            ("Calendar", MasterEntity::Calendar),
            ("Course", MasterEntity::Course),
            ("Roster", MasterEntity::Roster),
        ];
        let name = name.trim();
        if let Some((_, view)) = VIEWS.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
            return Some(*view);
        }
        EntityKind::ALL
            .iter()
            .copied()
            .find(|k| {
                k.singular().eq_ignore_ascii_case(name) || k.collection().eq_ignore_ascii_case(name)
            })
            .map(MasterEntity::OneRoster)
    }

    /// The view's name as [`NEVER_MASTERED`] spells it, for a role view.
    fn view_name(self) -> Option<&'static str> {
        Some(match self {
            MasterEntity::OneRoster(_) => return None,
            MasterEntity::Student => "Student",
            MasterEntity::Staff => "Staff",
            MasterEntity::SchoolAdmin => "SchoolAdmin",
            MasterEntity::Contact => "Contact",
            MasterEntity::Relationships => "Relationships",
            MasterEntity::Calendar => "Calendar",
            MasterEntity::Course => "Course",
            MasterEntity::Roster => "Roster",
        })
    }

    /// Fields a master rule on this entity may name: the OneRoster fields of its records (and
    /// classbridge's own `owner` of a class); a role view adds its derived fields, which are
    /// named only to be refused.
    pub fn known_fields(self) -> Vec<&'static str> {
        let mut fields: Vec<&'static str> = COMMON_FIELDS.to_vec();
        fields.extend_from_slice(entity_fields(self.entity()));
        if let Some(view) = self.view_name()
            && let Some((_, derived)) = NEVER_MASTERED.iter().find(|(v, _)| *v == view)
        {
            fields.extend_from_slice(derived);
        }
        fields
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

/// Whether `entity.field` is derived and so may never have a master, however either is spelt:
/// `course.schoolId` is the `Course` view's `schoolId`.
pub(crate) fn is_never_mastered(entity: &str, field: &str) -> bool {
    let Some(view) = MasterEntity::parse(entity).and_then(MasterEntity::view_name) else {
        return false;
    };
    NEVER_MASTERED.iter().any(|(e, fields)| {
        *e == view && fields.iter().any(|f| f.eq_ignore_ascii_case(field.trim()))
    })
}

/// Fields every OneRoster record has.
const COMMON_FIELDS: &[&str] = &["sourcedId", "status", "dateLastModified", "metadata"];

/// The OneRoster fields (both versions) of each entity, as the specification names them.
fn entity_fields(kind: EntityKind) -> &'static [&'static str] {
    match kind {
        EntityKind::Org => &["name", "type", "identifier", "parent", "children"],
        EntityKind::AcademicSession => &[
            "title",
            "type",
            "startDate",
            "endDate",
            "parent",
            "children",
            "schoolYear",
        ],
        EntityKind::User => &[
            "enabledUser",
            "username",
            "userIds",
            "givenName",
            "familyName",
            "middleName",
            "preferredFirstName",
            "preferredMiddleName",
            "preferredLastName",
            "pronouns",
            "role",
            "roles",
            "primaryOrg",
            "orgs",
            "identifier",
            "email",
            "sms",
            "phone",
            "agents",
            "grades",
            "password",
            "userMasterIdentifier",
            "resources",
        ],
        EntityKind::Course => &[
            "title",
            "schoolYear",
            "courseCode",
            "grades",
            "subjects",
            "org",
            "subjectCodes",
            "resources",
        ],
        EntityKind::Class => &[
            "title",
            "classCode",
            "classType",
            "location",
            "grades",
            "subjects",
            "course",
            "school",
            "terms",
            "subjectCodes",
            "periods",
            "resources",
            // classbridge's own: who owns the Classroom course.
            "owner",
        ],
        EntityKind::Enrollment => &[
            "user",
            "class",
            "school",
            "role",
            "primary",
            "beginDate",
            "endDate",
        ],
        EntityKind::Category => &["title", "weight", "class", "scoreScale"],
        EntityKind::LineItem => &[
            "title",
            "description",
            "assignDate",
            "dueDate",
            "class",
            "school",
            "category",
            "gradingPeriod",
            "academicSession",
            "scoreScale",
            "resultValueMin",
            "resultValueMax",
            "learningObjectiveSet",
        ],
        EntityKind::Result => &[
            "lineItem",
            "student",
            "class",
            "scoreScale",
            "scoreStatus",
            "score",
            "textScore",
            "scoreDate",
            "comment",
            "late",
            "missing",
            "inProgress",
            "incomplete",
            "learningObjectiveSet",
        ],
    }
}

/// Vendor extensions a rule may name although the model does not: `metadata.<key>` and
/// fields beginning `x-`.
pub(crate) fn is_extension_field(field: &str) -> bool {
    field.starts_with("metadata.") || field.starts_with("x-")
}

/// Who owns a field after resolution.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum FieldMaster {
    /// The SIS sources, in configured order: the first that has the record wins.
    Sis,
    /// One named source first, then the others in order.
    Source(String),
    /// Google Classroom.
    Classroom,
    /// Nobody: the value set at creation is never overwritten.
    Nobody,
}

impl FieldMaster {
    /// Reads a rule's `master`: `sis`, `classroom`, `none` or a source id.
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
            rule.field.trim().eq_ignore_ascii_case(field)
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
