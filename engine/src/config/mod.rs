//! `SyncConfig`: every admin rule the engine enforces, as plain data. Validated by
//! [`validate`] before anything else runs; the defaults follow the integrations districts run today.

mod effective;
mod master;
mod validate;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::EntityKind;

pub use effective::{EffectiveRule, RuleOrigin, effective_rules, rules_without_effect};
pub use master::{FieldMaster, MasterEntity, NEVER_MASTERED, resolve_master};
pub(crate) use validate::nearest as nearest_field;
pub use validate::{ConfigError, validate};

/// Every rule the engine enforces in one run; camelCase JSON, unknown keys refused.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct SyncConfig {
    /// Rosters only, or rosters and grades.
    pub mode: SyncMode,
    /// The SIS sources, merged in this order (the first is the master of a field unless a rule says otherwise).
    pub sources: Vec<SourceConfig>,
    /// Which schools sync, are skipped, or fold into another.
    pub schools: SchoolsMapping,
    /// Per entity type: records must match one include rule (when any exist) and no exclude rule.
    pub filters: Vec<FilterRule>,
    /// Vendor fields copied into canonical ones before records are read.
    pub attributes: Vec<AttributeMapping>,
    /// What a missing attribute does to its record or the run.
    pub requirements: Vec<DataRequirement>,
    /// Sets of fields that must be unique, and what a duplicate does.
    pub uniqueness: Vec<UniquenessDomain>,
    /// Which source owns a field, overriding the defaults (roster fields the SIS, grades Classroom).
    pub master_fields: Vec<MasterFieldRule>,
    /// When a run waits for approval because it changes too much.
    pub holds: HoldPolicy,
    /// When true every plan waits for approval, hold or not.
    pub preview: bool,
    /// Roles given by email address.
    pub role_by_email: Vec<EmailRoleRule>,
    /// How classes become Classroom courses and categories topics.
    pub classroom: ClassroomRules,
    /// How Classroom grades become OneRoster results.
    pub grades: GradeMapping,
    /// What to do when Classroom was changed by hand away from what the SIS says.
    pub drift: DriftRules,
    /// Periods in which syncs are paused (a summer break, a rollover week).
    pub pause: Vec<PauseWindow>,
}

/// A period in which syncs pause, like Clever's default summer pause. `from` and `to` are
/// both `MM-DD` (every year; a window may cross the new year, e.g. `12-20` to `01-05`) or both
/// `YYYY-MM-DD`, inclusive, compared with the run's UTC date.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PauseWindow {
    /// The first day paused.
    pub from: String,
    /// The last day paused.
    pub to: String,
    /// What a run in the window does.
    #[serde(default)]
    pub action: PauseAction,
}

impl PauseWindow {
    /// Whether `today` (`YYYY-MM-DD`) is in the window.
    pub fn contains(&self, today: &str) -> bool {
        if self.from.len() == 10 {
            return self.from.as_str() <= today && today <= self.to.as_str();
        }
        let day = today.get(5..10).unwrap_or_default();
        if self.from <= self.to {
            self.from.as_str() <= day && day <= self.to.as_str()
        } else {
            day >= self.from.as_str() || day <= self.to.as_str()
        }
    }
}

/// What a run inside a pause window does.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub enum PauseAction {
    /// Plan nothing and accept nothing: the state stays as it was, so every change the SIS
    /// makes meanwhile is planned by the first run after the window.
    #[default]
    Skip,
    /// Plan as usual, and wait for approval.
    Hold,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            mode: SyncMode::TwoWay,
            sources: Vec::new(),
            schools: SchoolsMapping::default(),
            filters: Vec::new(),
            attributes: Vec::new(),
            requirements: Vec::new(),
            uniqueness: vec![UniquenessDomain::default()],
            master_fields: Vec::new(),
            holds: HoldPolicy::default(),
            preview: false,
            role_by_email: Vec::new(),
            classroom: ClassroomRules::default(),
            grades: GradeMapping::default(),
            drift: DriftRules::default(),
            pause: Vec::new(),
        }
    }
}

impl SyncConfig {
    /// The first pause window `today` (`YYYY-MM-DD`) falls in, with its index in `pause`.
    pub fn pause_on(&self, today: &str) -> Option<(usize, &PauseWindow)> {
        self.pause
            .iter()
            .enumerate()
            .find(|(_, w)| w.contains(today))
    }

    /// The source with this id, if configured.
    pub fn source(&self, id: &str) -> Option<&SourceConfig> {
        self.sources.iter().find(|s| s.id == id)
    }
}

/// Which way data flows.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub enum SyncMode {
    /// Rosters SIS -> Classroom only.
    ImportOnly,
    /// Rosters SIS -> Classroom and grades Classroom -> SIS.
    #[default]
    TwoWay,
}

/// The OneRoster version a source speaks.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum OneRosterVersion {
    /// OneRoster 1.1.
    #[serde(rename = "1.1")]
    #[default]
    V1_1,
    /// OneRoster 1.2.
    #[serde(rename = "1.2")]
    V1_2,
}

/// One SIS source as the engine sees it (the host's TOML adds how to reach it).
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct SourceConfig {
    /// Names the source in the run's input, record issues and master-field rules.
    pub id: String,
    /// The OneRoster version its records and grade bodies follow.
    pub version: OneRosterVersion,
    /// Prepended to every sourcedId (and reference) of this source so that ids of different
    /// sources never collide. Stripped again when grades are written back.
    pub sis_id_prefix: String,
    /// Bulk upload: a record absent from a complete upload was deleted since the previous one.
    /// Off: only `status: tobedeleted` deletes (delta feeds).
    pub bulk_upload: bool,
    /// The vendor's limits on grade export.
    pub limits: SisLimits,
}

impl SourceConfig {
    /// Whether a lineItem must carry a category in this SIS (see [`SisLimits::category_required`]).
    pub fn category_required(&self) -> bool {
        self.limits
            .category_required
            .unwrap_or(self.version == OneRosterVersion::V1_2)
    }
}

impl Default for SourceConfig {
    fn default() -> Self {
        SourceConfig {
            id: String::new(),
            version: OneRosterVersion::V1_1,
            sis_id_prefix: String::new(),
            bulk_upload: true,
            limits: SisLimits::default(),
        }
    }
}

/// Vendor limits that make other products drop records silently; here each one shortens or
/// places the item and reports it.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct SisLimits {
    /// Infinite Campus and PowerSchool: 30; Aspen: 50.
    pub line_item_title_max: Option<usize>,
    /// What to do with work that has no due date.
    pub missing_due_date: MissingDueDate,
    /// Category used when a courseWork has no topic or grade category that matches one
    /// (Skyward's 'Assignments' is the usual one). Unprefixed sourcedId in this SIS.
    pub default_category: Option<String>,
    /// Whether the SIS refuses a lineItem without a category. Unset: as the version says,
    /// required in 1.2 (the spec makes a lineItem's `category` mandatory), optional in 1.1
    /// (Google's 1.1 conformance sequence creates a lineItem without one). Work that would go
    /// without is held back and reported, never sent to be refused.
    pub category_required: Option<bool>,
    /// The 1.1 service root GUIDRefs in grade writes point under (`href`, which 1.1 requires
    /// beside `sourcedId` and `type`), e.g. `https://sis.example.org/ims/oneroster/v1p1`.
    /// The host sets it from the source's URL; unset, refs go without `href`.
    pub href_root: Option<String>,
}

/// Where work without a due date goes in the SIS gradebook.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub enum MissingDueDate {
    /// Place the item on its assign date (or the run's date) and report it.
    #[default]
    UseAssignDate,
    /// Leave it out of the export and report it.
    Skip,
}

/// Per school: sync, skip or fold into another school.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct SchoolsMapping {
    /// Schools not listed below sync unless this is `skip`.
    pub unmapped: SchoolAction,
    /// The schools given an action of their own.
    pub schools: Vec<SchoolMapping>,
}

/// What one school does.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct SchoolMapping {
    /// The school's sourcedId, with its source's prefix.
    pub school: String,
    /// Sync or skip its records.
    pub action: SchoolAction,
    /// Fold this school into another org (e.g. the same school delivered by two sources).
    pub map_to: Option<String>,
}

/// Whether a school's records sync.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub enum SchoolAction {
    /// Its classes, people and enrollments sync.
    #[default]
    Sync,
    /// Its records are left out of the run (and out of Classroom).
    Skip,
}

/// Keeps or leaves out records of one entity type by a field's value.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FilterRule {
    /// The entity type the rule reads.
    pub entity: EntityKind,
    /// Field name, dotted for nested values (`metadata.program`); users also offer `role`.
    pub field: String,
    /// How the field is compared with `value`.
    pub op: FilterOp,
    /// The value compared with; a list for `in`, unused for `exists` and `missing`.
    #[serde(default)]
    pub value: Value,
    /// Whether a match keeps the record or leaves it out.
    #[serde(default)]
    pub action: FilterAction,
}

/// How a filter compares a field with its value.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum FilterOp {
    /// The field equals the value.
    Equals,
    /// The field is missing or differs from the value.
    NotEquals,
    /// The field equals one of the listed values.
    In,
    /// The field contains the value.
    Contains,
    /// The field starts with the value.
    StartsWith,
    /// The field ends with the value.
    EndsWith,
    /// The field is present and not empty.
    Exists,
    /// The field is absent or empty.
    Missing,
    /// The field is greater than the value.
    GreaterThan,
    /// The field is less than the value.
    LessThan,
}

/// What a matching filter does.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub enum FilterAction {
    /// Only records matching one include rule of their entity are kept.
    Include,
    /// Records matching the rule are left out.
    #[default]
    Exclude,
}

/// Copies a vendor's field into the canonical one before records are read, e.g. a state id
/// kept in `metadata.stateId` into `identifier`.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AttributeMapping {
    /// Only for this source; all sources when unset.
    #[serde(default)]
    pub source: Option<String>,
    /// The entity type the mapping reads.
    pub entity: EntityKind,
    /// Dotted path in the raw record.
    pub from: String,
    /// Top-level canonical field to set.
    pub to: String,
}

/// What happens to a record that lacks an attribute.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DataRequirement {
    /// The entity type the requirement reads.
    pub entity: EntityKind,
    /// The field that must be present and not empty (dotted for nested values).
    pub field: String,
    /// What a record without it does.
    pub when_missing: MissingAction,
}

/// What a missing required attribute does.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", tag = "action", content = "value")]
#[non_exhaustive]
pub enum MissingAction {
    /// Leave the record out of this run and report it.
    Skip,
    /// Fill the field with this value and report it.
    Default(Value),
    /// Keep the record but hold the whole run for approval.
    Hold,
}

/// A set of fields that must be unique within a scope.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct UniquenessDomain {
    /// The entity type checked.
    pub entity: EntityKind,
    /// Together these fields must be unique (compared trimmed and case-insensitively).
    pub fields: Vec<String>,
    /// Where the fields must be unique.
    pub scope: UniquenessScope,
    /// What a group of records sharing the fields does.
    pub on_duplicate: DuplicateAction,
}

impl Default for UniquenessDomain {
    fn default() -> Self {
        UniquenessDomain {
            entity: EntityKind::User,
            fields: vec!["email".into()],
            scope: UniquenessScope::District,
            on_duplicate: DuplicateAction::SkipAll,
        }
    }
}

/// Where a uniqueness domain applies.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub enum UniquenessScope {
    /// Across every school of every source.
    #[default]
    District,
    /// Within each school (a record's primary org).
    School,
}

/// What records that share a uniqueness domain's fields do.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub enum DuplicateAction {
    /// Report every record of the group and keep them all.
    Report,
    /// Keep the record with the smallest sourcedId, report and skip the others.
    KeepFirst,
    /// Report and skip every record of the group: a wrong person in a class is worse than
    /// a missing one.
    #[default]
    SkipAll,
    /// Keep them all and hold the run.
    Hold,
}

/// Which source owns one field of one entity.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MasterFieldRule {
    /// A OneRoster entity (`user`, `class`, `lineItem`, ...) or a role view (`Student`, `Staff`,
    /// `SchoolAdmin`, `Contact`, `Relationships`, `Calendar`, `Course`, `Roster`).
    pub entity: String,
    /// The field, matched case-insensitively against the entity's OneRoster fields.
    pub field: String,
    /// `sis` (sources in order), a source id, `classroom`, or `none` (never overwritten).
    pub master: String,
}

/// When a run waits for approval instead of being applied.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct HoldPolicy {
    /// The built-in thresholds (more than 10% of an entity deleted, more than 75% updated)
    /// apply unless this is false. Configured thresholds add to them: one custom rule never
    /// quietly switches the defaults off.
    pub defaults: bool,
    /// Thresholds of this district, in addition to the defaults.
    pub thresholds: Vec<HoldThreshold>,
    /// Below this many changes of a kind, percentage thresholds do not fire (a 3-record
    /// entity losing 1 record is not a mass deletion). Count thresholds always apply.
    pub min_changes_for_percent: u64,
    /// Hold when a source's record count for an entity falls by more than this percent.
    pub max_shrink_percent: f64,
}

impl Default for HoldPolicy {
    fn default() -> Self {
        HoldPolicy {
            defaults: true,
            thresholds: Vec::new(),
            min_changes_for_percent: 5,
            max_shrink_percent: 50.0,
        }
    }
}

impl HoldPolicy {
    /// The built-in thresholds.
    pub fn default_thresholds() -> Vec<HoldThreshold> {
        vec![
            HoldThreshold {
                entity: None,
                change: ChangeKind::Delete,
                max_count: None,
                max_percent: Some(10.0),
            },
            HoldThreshold {
                entity: None,
                change: ChangeKind::Update,
                max_count: None,
                max_percent: Some(75.0),
            },
        ]
    }

    /// The thresholds the engine applies: the defaults (unless switched off), then the
    /// configured ones. Any one of them holds a run.
    pub fn effective_thresholds(&self) -> Vec<HoldThreshold> {
        let mut all = if self.defaults {
            Self::default_thresholds()
        } else {
            Vec::new()
        };
        all.extend(self.thresholds.iter().cloned());
        all
    }
}

/// One threshold: more changes of a kind than this holds the run.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HoldThreshold {
    /// All entity types when unset.
    #[serde(default)]
    pub entity: Option<EntityKind>,
    /// The kind of change counted.
    pub change: ChangeKind,
    /// Hold when more than this many changes of the kind are planned.
    #[serde(default)]
    pub max_count: Option<u64>,
    /// Hold when the changes exceed this percent of the entity's records.
    #[serde(default)]
    pub max_percent: Option<f64>,
}

/// A kind of roster change, as holds count them.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub enum ChangeKind {
    /// A record new since the last run.
    Create,
    /// A record whose fields changed.
    Update,
    /// A record gone since the last run.
    Delete,
}

impl ChangeKind {
    /// The change's name as the config spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Create => "create",
            ChangeKind::Update => "update",
            ChangeKind::Delete => "delete",
        }
    }
}

/// Assigns a role from the email address, e.g. everyone at `@students.district.org` is a student.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EmailRoleRule {
    /// Case-insensitive suffix of the address, e.g. `@students.district.org`.
    pub email_suffix: String,
    /// The OneRoster role given (`student`, `teacher`, ...).
    pub role: String,
    /// Replace a role the SIS sent; otherwise only fill a missing one.
    #[serde(default)]
    pub overwrite: bool,
}

/// How rosters become Classroom courses.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ClassroomRules {
    /// Course state for new courses: ACTIVE or PROVISIONED.
    pub new_course_state: String,
    /// Owner when a class has no teacher with an email (else the course is not created).
    pub fallback_owner: Option<String>,
    /// Categories without a class become topics in every synced course.
    pub global_categories_as_topics: bool,
    /// Sync OneRoster categories to Classroom topics at all.
    pub categories_as_topics: bool,
    /// Classroom's limits, checked before apply.
    pub limits: ClassroomLimits,
    /// A class whose terms have all ended: its course is archived, not emptied.
    pub term_end: TermEnd,
    /// Days a student the SIS no longer has in a class stays in its course before the
    /// removal is applied (schedule changes often undo themselves within days; a student
    /// enrolled again meanwhile is never removed). 0: removals apply at once.
    pub removal_grace_days: u32,
    /// The Google Workspace domains whose people are added to courses directly
    /// (`district.org`, `students.district.org`); anyone else is invited and joins on
    /// accepting. Empty: everyone is added directly, and a person Classroom refuses to add
    /// (`CannotDirectAddUser`) is invited on the next run.
    pub domains: Vec<String>,
    /// Cross-listed and merged sections: several SIS classes taught as one Classroom course.
    pub cross_list: Vec<CrossListRule>,
    /// Invite each student's parents and guardians (OneRoster users with role `parent`,
    /// `guardian` or `relative`, linked to the student through `agents`) as Classroom
    /// guardians. Off unless set.
    pub guardians: bool,
    /// At most this many Classroom courses are made per run, school by school (by school,
    /// then class sourcedId); the classes left wait, whole (no members, no topics), for the
    /// next runs. A district's first sync then comes in bounded runs: each holds, plans,
    /// applies and commits a part, instead of one run of hours (Google's quota) whose plan
    /// holds every course of the district. Unset: no limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_courses_per_run: Option<u32>,
}

/// One rule merging SIS classes into one Classroom course: the listed classes, or every
/// group of classes whose given fields are all equal (and not empty). The course is the one
/// the group already has, else the one of the class with the smallest sourcedId; it takes
/// every class's teachers, students and categories, and grades go back to each SIS class
/// for its own students.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct CrossListRule {
    /// The classes merged, by sourcedId as in the merged roster (with the source's prefix).
    pub classes: Vec<String>,
    /// Or: classes with equal values of all these fields are merged.
    pub same: Vec<ClassField>,
}

/// A class field cross-listing can compare.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub enum ClassField {
    /// `classCode`.
    ClassCode,
    /// `periods`, all of them.
    Periods,
    /// `school`.
    School,
    /// `course`.
    Course,
    /// `terms`, all of them.
    Terms,
    /// `title`.
    Title,
}

/// What happens to a class whose terms have all ended.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub enum TermEnd {
    /// Archive its course and leave its members as they are (a SIS that drops every
    /// enrolment at term end must not empty the course and hide its students' work); a class
    /// that ended before its course was made gets none.
    #[default]
    Archive,
    /// Nothing special: the course follows its enrolments.
    Keep,
}

impl Default for ClassroomRules {
    fn default() -> Self {
        ClassroomRules {
            new_course_state: "ACTIVE".into(),
            fallback_owner: None,
            global_categories_as_topics: true,
            categories_as_topics: true,
            limits: ClassroomLimits::default(),
            term_end: TermEnd::default(),
            removal_grace_days: 0,
            domains: Vec::new(),
            cross_list: Vec::new(),
            guardians: false,
            new_courses_per_run: None,
        }
    }
}

/// Classroom's limits (Google Workspace for Education: 1,000 members and 50 teachers per
/// class, 1,000 classes per person). Google refuses an addition past one, so the plan never
/// makes it: the people over a limit are left out and named, and the run is held when `hold`.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ClassroomLimits {
    /// Teachers and students together in one class.
    pub members_per_class: u32,
    /// Teachers in one class (the owner included).
    pub teachers_per_class: u32,
    /// Classes one person joins, as teacher or student (counting the classes classbridge
    /// manages; classes made by hand count against Google's limit too).
    pub classes_per_user: u32,
    /// A run that leaves someone out because of a limit waits for approval.
    pub hold: bool,
}

impl Default for ClassroomLimits {
    fn default() -> Self {
        ClassroomLimits {
            members_per_class: 1000,
            teachers_per_class: 50,
            classes_per_user: 1000,
            hold: true,
        }
    }
}

/// Drift: Classroom changed by hand away from what the SIS (the master of rosters) says. Each
/// kind is repaired, reported in the preview, or ignored.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct DriftRules {
    /// Someone classbridge added, whom the SIS still enrolls, is gone from the course.
    pub missing_member: DriftAction,
    /// Someone is in a course whom the SIS does not enroll there (added by hand). `repair`
    /// removes them: people the SIS does not know are removed only when told to.
    pub extra_member: DriftAction,
    /// A course's name, section or room was changed, or the course archived, in Classroom.
    pub course_fields: DriftAction,
}

impl Default for DriftRules {
    fn default() -> Self {
        DriftRules {
            missing_member: DriftAction::Repair,
            extra_member: DriftAction::Report,
            course_fields: DriftAction::Repair,
        }
    }
}

/// What a kind of drift does.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub enum DriftAction {
    /// Put Classroom back as the SIS says (the preview lists it as a drift repair).
    Repair,
    /// Show it in the preview; change nothing.
    Report,
    /// Say nothing (counted under skipped).
    Ignore,
}

/// How a Classroom grade becomes a OneRoster result.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct GradeMapping {
    /// What the result's score is.
    pub score: ScoreMode,
    /// Letter scale for `letter`: highest minimum first is not required; sorted on use.
    pub letter_scale: Vec<LetterGrade>,
    /// How scores are rounded to `decimals`.
    pub rounding: RoundingMode,
    /// Decimal places kept in a score.
    pub decimals: u32,
    /// Mark late work (1.2 `late`); 1.1 has no field for it.
    pub flag_late: bool,
    /// Export work not turned in after its due date as missing.
    pub missing: MissingWork,
    /// Work returned without any grade (Classroom's excused) is exported as `exempt`.
    pub returned_without_grade_is_excused: bool,
    /// The `comment` every result carries: Classroom's private comments cannot be read
    /// through its API, so it is this text (empty by default). Changing it re-sends nothing;
    /// results written afterwards carry the new text.
    pub comment: String,
}

impl Default for GradeMapping {
    fn default() -> Self {
        GradeMapping {
            score: ScoreMode::Points,
            letter_scale: LetterGrade::default_scale(),
            rounding: RoundingMode::HalfUp,
            decimals: 2,
            flag_late: true,
            missing: MissingWork::default(),
            returned_without_grade_is_excused: true,
            comment: String::new(),
        }
    }
}

/// What a result's score measures.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum ScoreMode {
    /// Points scaled to the lineItem's resultValueMax (which is the work's maxPoints).
    #[default]
    Points,
    /// 0-100.
    Percent,
    /// Percent as the score and the letter as 1.2's textScore.
    Letter,
}

/// One step of a letter scale.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LetterGrade {
    /// The letter exported (1.2 `textScore`).
    pub letter: String,
    /// Lowest percent that earns this letter.
    pub min_percent: f64,
}

impl LetterGrade {
    /// A/B/C/D/F at 90, 80, 70 and 60 percent.
    pub fn default_scale() -> Vec<LetterGrade> {
        [
            ("A", 90.0),
            ("B", 80.0),
            ("C", 70.0),
            ("D", 60.0),
            ("F", 0.0),
        ]
        .into_iter()
        .map(|(l, m)| LetterGrade {
            letter: l.into(),
            min_percent: m,
        })
        .collect()
    }
}

/// How a score is rounded.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub enum RoundingMode {
    /// Halves away from zero (2.345 to 2.35).
    #[default]
    HalfUp,
    /// Halves to the even digit (banker's rounding).
    HalfEven,
    /// Towards zero.
    Down,
    /// Away from zero.
    Up,
}

/// How work not turned in by its due date is exported.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct MissingWork {
    /// Export it as `not submitted` (else leave it out).
    pub export: bool,
    /// Score given to missing work; none leaves the score empty.
    pub score: Option<f64>,
}

impl Default for MissingWork {
    fn default() -> Self {
        MissingWork {
            export: true,
            score: None,
        }
    }
}

/// Per-entity counts used by the hold stage and the preview summary.
pub type CountsByKind = BTreeMap<ChangeKind, u64>;
