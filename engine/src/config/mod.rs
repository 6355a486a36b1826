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
pub use validate::{ConfigError, validate};

#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct SyncConfig {
    pub mode: SyncMode,
    pub sources: Vec<SourceConfig>,
    pub schools: SchoolsMapping,
    /// Per entity type: records must match one include rule (when any exist) and no exclude rule.
    pub filters: Vec<FilterRule>,
    pub attributes: Vec<AttributeMapping>,
    pub requirements: Vec<DataRequirement>,
    pub uniqueness: Vec<UniquenessDomain>,
    pub master_fields: Vec<MasterFieldRule>,
    pub holds: HoldPolicy,
    /// When true every plan waits for approval, hold or not.
    pub preview: bool,
    pub role_by_email: Vec<EmailRoleRule>,
    pub classroom: ClassroomRules,
    pub grades: GradeMapping,
    /// What to do when Classroom was changed by hand away from what the SIS says.
    pub drift: DriftRules,
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
        }
    }
}

impl SyncConfig {
    pub fn source(&self, id: &str) -> Option<&SourceConfig> {
        self.sources.iter().find(|s| s.id == id)
    }
}

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

#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum OneRosterVersion {
    #[serde(rename = "1.1")]
    #[default]
    V1_1,
    #[serde(rename = "1.2")]
    V1_2,
}

#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct SourceConfig {
    pub id: String,
    pub version: OneRosterVersion,
    /// Prepended to every sourcedId (and reference) of this source so that ids of different
    /// sources never collide. Stripped again when grades are written back.
    pub sis_id_prefix: String,
    /// Bulk upload: a record absent from a complete upload was deleted since the previous one.
    /// Off: only `status: tobedeleted` deletes (delta feeds).
    pub bulk_upload: bool,
    pub limits: SisLimits,
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
    pub missing_due_date: MissingDueDate,
    /// Category used when a courseWork has no topic or grade category that matches one
    /// (Skyward's 'Assignments' is the usual one). Unprefixed sourcedId in this SIS.
    pub default_category: Option<String>,
}

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

#[derive(Serialize, Deserialize, Clone, PartialEq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct SchoolsMapping {
    /// Schools not listed below sync unless this is `skip`.
    pub unmapped: SchoolAction,
    pub schools: Vec<SchoolMapping>,
}

#[derive(Serialize, Deserialize, Clone, PartialEq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct SchoolMapping {
    /// The school's sourcedId, with its source's prefix.
    pub school: String,
    pub action: SchoolAction,
    /// Fold this school into another org (e.g. the same school delivered by two sources).
    pub map_to: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub enum SchoolAction {
    #[default]
    Sync,
    Skip,
}

#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FilterRule {
    pub entity: EntityKind,
    /// Field name, dotted for nested values (`metadata.program`); users also offer `role`.
    pub field: String,
    pub op: FilterOp,
    #[serde(default)]
    pub value: Value,
    #[serde(default)]
    pub action: FilterAction,
}

#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum FilterOp {
    Equals,
    NotEquals,
    In,
    Contains,
    StartsWith,
    EndsWith,
    Exists,
    Missing,
    GreaterThan,
    LessThan,
}

#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub enum FilterAction {
    Include,
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
    pub entity: EntityKind,
    /// Dotted path in the raw record.
    pub from: String,
    /// Top-level canonical field to set.
    pub to: String,
}

#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DataRequirement {
    pub entity: EntityKind,
    pub field: String,
    pub when_missing: MissingAction,
}

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

#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct UniquenessDomain {
    pub entity: EntityKind,
    /// Together these fields must be unique (compared trimmed and case-insensitively).
    pub fields: Vec<String>,
    pub scope: UniquenessScope,
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

#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub enum UniquenessScope {
    #[default]
    District,
    School,
}

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

#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MasterFieldRule {
    /// A OneRoster entity (`user`, `class`, `lineItem`, ...) or a role view (`Student`, `Staff`,
    /// `SchoolAdmin`, `Contact`, `Relationships`, `Calendar`, `Course`, `Roster`).
    pub entity: String,
    pub field: String,
    /// `sis` (sources in order), a source id, `classroom`, or `none` (never overwritten).
    pub master: String,
}

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

#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HoldThreshold {
    /// All entity types when unset.
    #[serde(default)]
    pub entity: Option<EntityKind>,
    pub change: ChangeKind,
    #[serde(default)]
    pub max_count: Option<u64>,
    #[serde(default)]
    pub max_percent: Option<f64>,
}

#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub enum ChangeKind {
    Create,
    Update,
    Delete,
}

impl ChangeKind {
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
    pub role: String,
    /// Replace a role the SIS sent; otherwise only fill a missing one.
    #[serde(default)]
    pub overwrite: bool,
}

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
}

impl Default for ClassroomRules {
    fn default() -> Self {
        ClassroomRules {
            new_course_state: "ACTIVE".into(),
            fallback_owner: None,
            global_categories_as_topics: true,
            categories_as_topics: true,
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

#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct GradeMapping {
    pub score: ScoreMode,
    /// Letter scale for `letter`: highest minimum first is not required; sorted on use.
    pub letter_scale: Vec<LetterGrade>,
    pub rounding: RoundingMode,
    pub decimals: u32,
    /// Mark late work (1.2 `late`); 1.1 has no field for it.
    pub flag_late: bool,
    /// Export work not turned in after its due date as missing.
    pub missing: MissingWork,
    /// Work returned without any grade (Classroom's excused) is exported as `exempt`.
    pub returned_without_grade_is_excused: bool,
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
        }
    }
}

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

#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LetterGrade {
    pub letter: String,
    /// Lowest percent that earns this letter.
    pub min_percent: f64,
}

impl LetterGrade {
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

#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub enum RoundingMode {
    #[default]
    HalfUp,
    HalfEven,
    Down,
    Up,
}

#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct MissingWork {
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
