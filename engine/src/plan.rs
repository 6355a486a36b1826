//! The engine's output: an ordered list of idempotent operations, holds, record issues and a
//! preview summary, identified by a hash of its content.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::{ChangeKind, DriftAction};
use crate::delta::StateDelta;
use crate::json_text::JsonText;
use crate::model::{EntityKind, RecordIssue};
use crate::state::{AppliedCourse, SyncState};

#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct SyncPlan {
    /// sha256 of the plan's content (everything below), hex.
    pub id: String,
    pub engine_version: String,
    pub created_at: String,
    pub ops: Vec<PlannedOp>,
    pub holds: Vec<HoldReason>,
    /// Every plan waits for approval when the config's preview mode is on.
    pub preview_required: bool,
    pub record_issues: Vec<RecordIssue>,
    pub roster_changes: Vec<RosterChange>,
    pub summary: PreviewSummary,
    /// What the plan changes in the state it was made from, apart from operation outcomes:
    /// new source snapshots and roster, adoptions. `commit` lays it, then the outcomes, over
    /// that state.
    pub state_delta: StateDelta,
    /// Records a complete read of a source did not list, and what became of each: only a
    /// confirmed absence is a removal.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub absences: Vec<Absence>,
    /// Where Classroom was changed by hand away from the SIS, and what the rules do about it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drift: Vec<Drift>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<Approval>,
}

impl SyncPlan {
    pub fn is_held(&self) -> bool {
        !self.holds.is_empty()
    }

    /// The state this plan builds on: `previous` (the state it was made from) with the plan's
    /// delta laid over it, before any operation outcome.
    pub fn base_state(&self, previous: &SyncState) -> SyncState {
        let mut state = previous.clone();
        self.state_delta.apply_to(&mut state);
        state
    }

    /// Absences the host has not asked the SIS about yet: ask, then plan again with the
    /// answers as the sources' `removalChecks`.
    pub fn unchecked_absences(&self) -> impl Iterator<Item = &Absence> {
        self.absences
            .iter()
            .filter(|a| a.status == AbsenceStatus::Unchecked)
    }

    /// Whether the plan may be applied without an explicit approval.
    pub fn needs_approval(&self) -> bool {
        self.approval.is_none() && (self.is_held() || self.preview_required)
    }
}

#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Approval {
    pub rejected: Vec<String>,
    /// Operations dropped because something they depend on was rejected.
    pub dropped_dependants: Vec<String>,
}

#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct PlannedOp {
    /// Short stable id (from the key) used in approvals and outcomes.
    pub op_id: String,
    /// Stable idempotency key: the same intent gives the same key in every run.
    pub key: String,
    pub entity: OpEntity,
    pub change: OpChange,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// Roster context for searching and filtering in the console.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub school_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<String>,
    pub summary: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
    pub action: Action,
    pub effect: StateEffect,
}

#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum OpEntity {
    Course,
    Teacher,
    Student,
    Topic,
    Category,
    LineItem,
    Result,
}

#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum OpChange {
    Create,
    Update,
    Archive,
    Delete,
}

/// The remote call, described completely enough for the host to make it without deciding
/// anything. Courses are addressed by alias, which Classroom accepts in place of the id.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", tag = "type")]
#[non_exhaustive]
pub enum Action {
    /// POST courses with `id` set to the alias; 409 ALREADY_EXISTS means it is there already.
    ClassroomCreateCourse {
        alias: String,
        course: Value,
    },
    /// PATCH courses/{alias}?updateMask=...
    ClassroomPatchCourse {
        alias: String,
        update_mask: Vec<String>,
        course: Value,
    },
    ClassroomAddTeacher {
        alias: String,
        user_id: String,
    },
    ClassroomRemoveTeacher {
        alias: String,
        user_id: String,
    },
    ClassroomAddStudent {
        alias: String,
        user_id: String,
    },
    ClassroomRemoveStudent {
        alias: String,
        user_id: String,
    },
    ClassroomCreateTopic {
        alias: String,
        name: String,
    },
    ClassroomPatchTopic {
        alias: String,
        topic_id: String,
        name: String,
    },
    /// PUT {collection}/{sourcedId} with `body` (envelope included), idempotent by construction.
    OneRosterPut {
        source_id: String,
        collection: String,
        sourced_id: String,
        /// The request body as JSON text: a district's first export holds hundreds of
        /// thousands of them, and the host sends them as they are.
        #[serde(deserialize_with = "crate::json_text::from_tree")]
        body: JsonText,
    },
    OneRosterDelete {
        source_id: String,
        collection: String,
        sourced_id: String,
    },
}

/// What a successful operation changes in the engine's state.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", tag = "type")]
#[non_exhaustive]
pub enum StateEffect {
    /// The remote id from the outcome, when there is one, becomes the course id.
    CourseUpsert {
        class_id: String,
        course: AppliedCourse,
    },
    MemberAdded {
        class_id: String,
        role: MemberRole,
        email: String,
    },
    MemberRemoved {
        class_id: String,
        role: MemberRole,
        email: String,
    },
    /// The remote id from the outcome, when there is one, becomes the topic id.
    TopicUpsert {
        class_id: String,
        category_id: String,
        name: String,
        topic_id: Option<String>,
    },
    Exported {
        kind: EntityKind,
        sourced_id: String,
        source_id: String,
        parent: Option<String>,
        digest: String,
    },
    ExportDeleted {
        kind: EntityKind,
        sourced_id: String,
    },
}

#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub enum MemberRole {
    Teacher,
    Student,
}

#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct HoldReason {
    pub code: HoldCode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity: Option<EntityKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    pub message: String,
}

#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum HoldCode {
    Threshold,
    EmptySource,
    SourceShrank,
    UnreadableCollection,
    MissingRequiredField,
    Duplicates,
    /// A course with exported grades now lists no graded work: its SIS gradebook would go.
    GradebookEmptied,
}

/// A record that was in a source before and is missing from this run's complete read of it.
/// A REST listing can miss a record (a record shifts between pages, a tail is never served),
/// so absence alone never removes one read by REST: the SIS is asked for it by id first.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Absence {
    pub source: String,
    pub entity: EntityKind,
    pub sourced_id: String,
    /// The id as the SIS knows it (without the source's prefix): what to ask for.
    pub remote_id: String,
    pub status: AbsenceStatus,
    /// How the status was established, in words.
    pub how: String,
}

#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum AbsenceStatus {
    /// Not asked yet: the record is kept.
    Unchecked,
    /// Confirmed gone: its removal is in the plan.
    Confirmed,
    /// The SIS still has it (the listing missed it): kept.
    StillThere,
    /// Could not be confirmed this run: kept, asked again next run.
    Unconfirmed,
}

impl AbsenceStatus {
    /// Every status, in the order a preview lists them.
    pub const ALL: [AbsenceStatus; 4] = [
        AbsenceStatus::Confirmed,
        AbsenceStatus::StillThere,
        AbsenceStatus::Unconfirmed,
        AbsenceStatus::Unchecked,
    ];

    /// What became of the missing record, as the CLI and the console say it.
    pub const fn describe(self) -> &'static str {
        match self {
            AbsenceStatus::Confirmed => "removed, confirmed gone",
            AbsenceStatus::StillThere => "kept, still in the SIS",
            AbsenceStatus::Unconfirmed => "kept, not confirmed gone",
            AbsenceStatus::Unchecked => "kept, not asked about",
        }
    }
}

/// Classroom found different from what classbridge set and the SIS says.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Drift {
    pub kind: DriftKind,
    pub class_id: String,
    pub alias: String,
    /// The member's email, or the course field (`name`, `section`, `room`, `courseState`).
    pub subject: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<MemberRole>,
    /// What the SIS says (None: nothing, e.g. not a member).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<Value>,
    /// What Classroom has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub found: Option<Value>,
    pub action: DriftAction,
    /// The operation that repairs it, when repaired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repair_key: Option<String>,
    pub message: String,
}

#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum DriftKind {
    MissingMember,
    ExtraMember,
    CourseField,
}

/// One roster record's change against the last accepted state, field by field.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct RosterChange {
    pub entity: EntityKind,
    pub sourced_id: String,
    pub change: ChangeKind,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldChange>,
    /// Why a deletion happened when it was not in the source itself (cascade).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct FieldChange {
    pub field: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
}

#[derive(Serialize, Deserialize, Clone, PartialEq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct ChangeCounts {
    pub create: u64,
    pub update: u64,
    pub delete: u64,
    /// Records of this entity in the previous accepted roster.
    pub before: u64,
    pub after: u64,
}

#[derive(Serialize, Deserialize, Clone, PartialEq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct PreviewSummary {
    pub roster: BTreeMap<EntityKind, ChangeCounts>,
    /// Operation counts per target entity and change.
    pub operations: BTreeMap<OpEntity, BTreeMap<OpChange, u64>>,
    /// A few changes per entity and kind, with before and after, for a quick look.
    pub samples: Vec<RosterChange>,
    pub record_issues: u64,
    /// Items left out on purpose, by reason (e.g. `courseWork.ungraded`).
    pub skipped: BTreeMap<String, u64>,
}

/// An admin's decision on a pending plan.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", default)]
pub struct Decisions {
    /// Operation ids to leave out; everything else is approved.
    pub reject: Vec<String>,
}

/// What happened to one operation when the host applied it.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct OpOutcome {
    pub op_id: String,
    #[serde(flatten)]
    pub result: OutcomeResult,
}

#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", tag = "status")]
pub enum OutcomeResult {
    /// Done (or found already done: 409 on an alias, PUT of the same body).
    Succeeded {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        remote_id: Option<String>,
    },
    Failed {
        error: String,
    },
    /// Not attempted (run stopped, dependency failed): retried next time.
    NotAttempted,
}
