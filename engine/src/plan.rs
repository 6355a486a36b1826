//! The engine's output: an ordered list of idempotent operations, holds, record issues and a
//! preview summary, identified by a hash of its content.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::{ChangeKind, DriftAction};
use crate::delta::StateDelta;
use crate::json_text::JsonText;
use crate::model::{EntityKind, RecordIssue, Shared};
use crate::state::{AppliedCourse, SyncState};

/// One run's plan: what would change, in order, and why; nothing is applied until the host applies it.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct SyncPlan {
    /// sha256 of the plan's content (everything below), hex.
    pub id: String,
    /// The engine version that made it.
    pub engine_version: String,
    /// The run's time (the input's `now`).
    pub created_at: String,
    /// The operations, in the order they must be applied.
    pub ops: Vec<PlannedOp>,
    /// Why the plan waits for approval; empty when it may be applied.
    pub holds: Vec<HoldReason>,
    /// Every plan waits for approval when the config's preview mode is on.
    pub preview_required: bool,
    /// Records that were left out or adjusted, and why.
    pub record_issues: Vec<RecordIssue>,
    /// Every roster record's change against the last accepted roster.
    pub roster_changes: Vec<RosterChange>,
    /// Counts and samples for the preview.
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
    /// Records the rules newly left out of the roster, each with its rule.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped_records: Vec<crate::explanation::SkippedRecord>,
    /// Set once an admin approved it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<Approval>,
}

impl SyncPlan {
    /// Whether a hold fired.
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

    /// Whether the plan was made from `state`: a plan made from an older state (another run
    /// committed since) must not be approved or committed. The one place this is decided, for
    /// the engine's `commit` and the host's approval alike.
    pub fn check_base(&self, state: &SyncState) -> Result<(), crate::EngineError> {
        self.check_base_revision(state.revision)
    }

    /// [`SyncPlan::check_base`] for a host that knows the state's revision, not the state.
    pub fn check_base_revision(&self, revision: u64) -> Result<(), crate::EngineError> {
        self.state_delta.check_base_revision(revision)
    }

    /// Whether the plan may be applied without an explicit approval.
    pub fn needs_approval(&self) -> bool {
        self.approval.is_none() && (self.is_held() || self.preview_required)
    }

    /// Why the plan waits for an admin, in the words the host reports it (the console's
    /// what-if says the same): its holds, else preview mode; `None` when it may be applied,
    /// or when preview mode finds nothing to ask about.
    pub fn waiting_reason(&self) -> Option<String> {
        if !self.needs_approval() {
            return None;
        }
        if self.is_held() {
            let messages: Vec<&str> = self.holds.iter().map(|h| h.message.as_str()).collect();
            return Some(format!("held for approval: {}", messages.join("; ")));
        }
        // Preview mode asks about changes, not about nothing.
        (!self.ops.is_empty()).then(|| "preview mode is on: waiting for approval".to_string())
    }
}

/// An admin's approval of a plan.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Approval {
    /// The operation ids the admin rejected.
    pub rejected: Vec<String>,
    /// Operations dropped because something they depend on was rejected.
    pub dropped_dependants: Vec<String>,
}

impl Approval {
    /// Every operation the approval leaves out: rejected, or dropped with a rejection.
    pub fn left_out(&self) -> std::collections::BTreeSet<&str> {
        self.rejected
            .iter()
            .chain(&self.dropped_dependants)
            .map(String::as_str)
            .collect()
    }
}

/// One remote operation, with what it changes and why.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct PlannedOp {
    /// Short stable id (from the key) used in approvals and outcomes.
    pub op_id: String,
    /// Stable idempotency key: the same intent gives the same key in every run.
    pub key: String,
    /// What it writes.
    pub entity: OpEntity,
    /// How it changes it.
    pub change: OpChange,
    /// Operation ids that must succeed first (a course before its members).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<Shared>,
    /// Roster context for searching and filtering in the console.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_id: Option<Shared>,
    /// The school of the class, for filtering.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub school_id: Option<Shared>,
    /// The person concerned, by name and email, for searching.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<Shared>,
    /// The operation in words.
    pub summary: String,
    /// What the target held before, when it changes something.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Box<Value>>,
    /// What the target holds after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Box<Value>>,
    /// The remote call.
    pub action: Action,
    /// What success changes in the state.
    pub effect: StateEffect,
    /// Why it is planned: the records and rules behind it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "schema",
        schemars(with = "Option<crate::explanation::ExplanationWire>")
    )]
    pub why: Option<Box<crate::explanation::Explanation>>,
}

/// What an operation writes.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum OpEntity {
    /// A Classroom course.
    Course,
    /// A teacher of a course.
    Teacher,
    /// A student of a course.
    Student,
    /// A topic of a course.
    Topic,
    /// A OneRoster category.
    Category,
    /// A OneRoster lineItem.
    LineItem,
    /// A OneRoster result.
    Result,
    /// A guardian of a student (an invitation to be one).
    Guardian,
}

/// How an operation changes its target.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum OpChange {
    /// Makes it (or finds it made).
    Create,
    /// Changes some of its fields.
    Update,
    /// Archives a course (its class left the SIS).
    Archive,
    /// Removes it.
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
        /// The course's alias (`d:<class sourcedId>`), which Classroom accepts in place of its id.
        alias: Shared,
        /// The course resource's fields.
        course: Value,
    },
    /// PATCH courses/{alias}?updateMask=...
    ClassroomPatchCourse {
        /// The course's alias (`d:<class sourcedId>`), which Classroom accepts in place of its id.
        alias: Shared,
        /// The fields changed.
        update_mask: Vec<String>,
        /// The course resource's fields.
        course: Value,
    },
    /// POST courses/{alias}/teachers.
    ClassroomAddTeacher {
        /// The course's alias (`d:<class sourcedId>`), which Classroom accepts in place of its id.
        alias: Shared,
        /// The member's email address.
        user_id: Shared,
    },
    /// DELETE courses/{alias}/teachers/{userId}.
    ClassroomRemoveTeacher {
        /// The course's alias (`d:<class sourcedId>`), which Classroom accepts in place of its id.
        alias: Shared,
        /// The member's email address.
        user_id: Shared,
    },
    /// POST courses/{alias}/students.
    ClassroomAddStudent {
        /// The course's alias (`d:<class sourcedId>`), which Classroom accepts in place of its id.
        alias: Shared,
        /// The member's email address.
        user_id: Shared,
    },
    /// DELETE courses/{alias}/students/{userId}.
    ClassroomRemoveStudent {
        /// The course's alias (`d:<class sourcedId>`), which Classroom accepts in place of its id.
        alias: Shared,
        /// The member's email address.
        user_id: Shared,
    },
    /// POST invitations `{courseId, userId, role}`: a person Classroom cannot add directly
    /// (outside the domain) is invited, and joins on accepting. The host resolves the
    /// alias to the course's id (the invitation names the course by id); an invitation
    /// already there (409) is looked up and counts as done. The outcome's remote id is the
    /// invitation's id.
    ClassroomInvite {
        /// The course's alias (`d:<class sourcedId>`).
        alias: Shared,
        /// The invited person's email address.
        user_id: Shared,
        /// `STUDENT` or `TEACHER`.
        role: MemberRole,
    },
    /// DELETE invitations/{id}: the invitation is withdrawn; already gone (404, accepted or
    /// declined) counts as done.
    ClassroomDeleteInvitation {
        /// Classroom's id for the invitation.
        invitation_id: String,
    },
    /// POST userProfiles/{studentId}/guardianInvitations: asks `email` to confirm they are
    /// the student's guardian. A pending invitation already there (409) is looked up and
    /// counts as done. The outcome's remote id is the invitation's id.
    ClassroomInviteGuardian {
        /// The student's email address.
        student_id: Shared,
        /// The guardian's email address.
        email: Shared,
    },
    /// PATCH userProfiles/{studentId}/guardianInvitations/{invitationId} to `COMPLETE`:
    /// withdraws a pending invitation; one no longer pending (accepted, declined, expired)
    /// counts as done.
    ClassroomWithdrawGuardianInvitation {
        /// The student's email address.
        student_id: Shared,
        /// Classroom's id for the invitation.
        invitation_id: String,
    },
    /// DELETE courses/{alias}: an undo takes back a course its run made (only one still
    /// empty of teacher work); already gone (404) counts as done.
    ClassroomDeleteCourse {
        /// The course's alias (`d:<class sourcedId>`).
        alias: Shared,
    },
    /// DELETE courses/{alias}/topics/{topicId}: an undo takes back a topic its run made;
    /// already gone (404, FAILED_PRECONDITION) counts as done.
    ClassroomDeleteTopic {
        /// The course's alias (`d:<class sourcedId>`).
        alias: Shared,
        /// Classroom's id for the topic.
        topic_id: String,
    },
    /// POST courses/{alias}/topics.
    ClassroomCreateTopic {
        /// The course's alias (`d:<class sourcedId>`), which Classroom accepts in place of its id.
        alias: Shared,
        /// The topic's name.
        name: String,
    },
    /// PATCH courses/{alias}/topics/{topicId}?updateMask=name.
    ClassroomPatchTopic {
        /// The course's alias (`d:<class sourcedId>`), which Classroom accepts in place of its id.
        alias: Shared,
        /// Classroom's id for the topic.
        topic_id: String,
        /// The topic's name.
        name: String,
    },
    /// PUT {collection}/{sourcedId} with `body` (envelope included), idempotent by construction.
    OneRosterPut {
        /// The source written to.
        source_id: Shared,
        /// The OneRoster collection (`lineItems`, `results`).
        collection: Shared,
        /// The record's id in the SIS, without the source's prefix.
        sourced_id: String,
        /// The request body as JSON text: a district's first export holds hundreds of
        /// thousands of them, and the host sends them as they are.
        #[serde(deserialize_with = "crate::json_text::from_tree")]
        body: JsonText,
    },
    /// DELETE {collection}/{sourcedId}; a 404 means it is gone already.
    OneRosterDelete {
        /// The source written to.
        source_id: Shared,
        /// The OneRoster collection (`lineItems`, `results`).
        collection: Shared,
        /// The record's id in the SIS, without the source's prefix.
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
        /// The class (prefixed sourcedId) the course is for.
        class_id: Shared,
        /// The course as created or changed.
        course: Box<AppliedCourse>,
    },
    /// A teacher or student was added.
    MemberAdded {
        /// The class (prefixed sourcedId) the course is for.
        class_id: Shared,
        /// Teacher or student.
        role: MemberRole,
        /// The member's email address.
        email: Shared,
    },
    /// A teacher or student was removed.
    MemberRemoved {
        /// The class (prefixed sourcedId) the course is for.
        class_id: Shared,
        /// Teacher or student.
        role: MemberRole,
        /// The member's email address.
        email: Shared,
    },
    /// A person was invited; the remote id from the outcome is the invitation's id.
    Invited {
        /// The class (prefixed sourcedId) the course is for.
        class_id: Shared,
        /// Teacher or student.
        role: MemberRole,
        /// The invited person's email address.
        email: Shared,
    },
    /// A guardian was invited; the remote id from the outcome is the invitation's id.
    GuardianInvited {
        /// The student's email address.
        student: Shared,
        /// The guardian's email address.
        guardian: Shared,
    },
    /// A guardian invitation was withdrawn.
    GuardianInvitationWithdrawn {
        /// The student's email address.
        student: Shared,
        /// The guardian's email address.
        guardian: Shared,
    },
    /// An invitation was withdrawn.
    InvitationDeleted {
        /// The class (prefixed sourcedId) the course is for.
        class_id: Shared,
        /// The invited person's email address.
        email: Shared,
    },
    /// The remote id from the outcome, when there is one, becomes the topic id.
    TopicUpsert {
        /// The class (prefixed sourcedId) the course is for.
        class_id: Shared,
        /// The category the topic stands for.
        category_id: Shared,
        /// The topic's name.
        name: Shared,
        /// Classroom's id for the topic, when known.
        topic_id: Option<String>,
    },
    /// A course was deleted (an undo): the state forgets it, its members and its topics.
    CourseDeleted {
        /// The class (prefixed sourcedId) the course was for.
        class_id: Shared,
    },
    /// A topic was deleted (an undo).
    TopicDeleted {
        /// The class (prefixed sourcedId) the course is for.
        class_id: Shared,
        /// The category the topic stood for.
        category_id: Shared,
    },
    /// A lineItem or result was written to the SIS.
    Exported {
        /// LineItem or result.
        kind: EntityKind,
        /// The record's id in the SIS, without the source's prefix.
        sourced_id: String,
        /// The source written to.
        source_id: Shared,
        /// A result's lineItem.
        parent: Option<Shared>,
        /// The digest of the body sent, so an unchanged record is not sent again.
        digest: String,
    },
    /// A lineItem or result was deleted from the SIS.
    ExportDeleted {
        /// LineItem or result.
        kind: EntityKind,
        /// The record's id in the SIS, without the source's prefix.
        sourced_id: String,
    },
}

/// Whether a course member teaches or learns.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub enum MemberRole {
    /// A teacher of the course.
    Teacher,
    /// A student of the course.
    Student,
}

/// Why a plan waits for approval.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct HoldReason {
    /// The kind of hold.
    pub code: HoldCode,
    /// The entity it concerns, when one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity: Option<EntityKind>,
    /// The source it concerns, when one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The hold in words, with the numbers that tripped it.
    pub message: String,
}

/// The kinds of hold.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum HoldCode {
    /// More changes of a kind than a threshold allows.
    Threshold,
    /// A source sent no records of an entity it had before.
    EmptySource,
    /// A source's records of an entity fell by more than `maxShrinkPercent`.
    SourceShrank,
    /// A collection could not be read.
    UnreadableCollection,
    /// A requirement with `hold` found a record without the field.
    MissingRequiredField,
    /// A uniqueness domain with `hold` found duplicates.
    Duplicates,
    /// A course with exported grades now lists no graded work: its SIS gradebook would go.
    GradebookEmptied,
    /// People were left out of classes because of Classroom's limits (members or teachers
    /// per class, classes per person).
    ClassroomLimit,
    /// The run falls in a pause window whose action is `hold`.
    PauseWindow,
}

/// A record that was in a source before and is missing from this run's complete read of it.
/// A REST listing can miss a record (a record shifts between pages, a tail is never served),
/// so absence alone never removes one read by REST: the SIS is asked for it by id first.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Absence {
    /// The source that no longer lists it.
    pub source: String,
    /// Its entity type.
    pub entity: EntityKind,
    /// Its id, with the source's prefix.
    pub sourced_id: String,
    /// The id as the SIS knows it (without the source's prefix): what to ask for.
    pub remote_id: String,
    /// What became of it.
    pub status: AbsenceStatus,
    /// How the status was established, in words.
    pub how: String,
}

/// What became of a missing record.
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
    /// What changed by hand.
    pub kind: DriftKind,
    /// The class of the course.
    pub class_id: String,
    /// The course's alias.
    pub alias: String,
    /// The member's email, or the course field (`name`, `section`, `room`, `courseState`).
    pub subject: String,
    /// The member's role, for member drift.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<MemberRole>,
    /// What the SIS says (None: nothing, e.g. not a member).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<Value>,
    /// What Classroom has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub found: Option<Value>,
    /// What the rules do about it.
    pub action: DriftAction,
    /// The operation that repairs it, when repaired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repair_key: Option<String>,
    /// The drift in words.
    pub message: String,
}

/// What was changed by hand in Classroom.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum DriftKind {
    /// A member the SIS enrols is gone from the course.
    MissingMember,
    /// Someone the SIS does not enrol is in the course.
    ExtraMember,
    /// A course field was changed, or the course archived.
    CourseField,
}

/// One roster record's change against the last accepted state, field by field.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct RosterChange {
    /// The record's entity type.
    pub entity: EntityKind,
    /// The record's id.
    pub sourced_id: String,
    /// Created, updated or deleted.
    pub change: ChangeKind,
    /// The fields that changed, for an update.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldChange>,
    /// Why a deletion happened when it was not in the source itself (cascade).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
}

/// One field's change.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct FieldChange {
    /// The field's name.
    pub field: String,
    /// Its value before; none when it was unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    /// Its value after; none when it is unset now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
}

/// How one entity's records change.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct ChangeCounts {
    /// Records created.
    pub create: u64,
    /// Records updated.
    pub update: u64,
    /// Records deleted.
    pub delete: u64,
    /// Records of this entity in the previous accepted roster.
    pub before: u64,
    /// Records after the run.
    pub after: u64,
}

/// The preview in numbers.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct PreviewSummary {
    /// Roster changes per entity.
    pub roster: BTreeMap<EntityKind, ChangeCounts>,
    /// Operation counts per target entity and change.
    pub operations: BTreeMap<OpEntity, BTreeMap<OpChange, u64>>,
    /// A few changes per entity and kind, with before and after, for a quick look.
    pub samples: Vec<RosterChange>,
    /// How many record issues the run found.
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
    /// The operation.
    pub op_id: String,
    /// What happened.
    #[serde(flatten)]
    pub result: OutcomeResult,
}

/// What happened to an operation.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", tag = "status")]
pub enum OutcomeResult {
    /// Done (or found already done: 409 on an alias, PUT of the same body).
    Succeeded {
        /// The id the remote service gave what was created.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        remote_id: Option<String>,
    },
    /// Failed; retried by the next plan.
    Failed {
        /// Why, as the host saw it.
        error: String,
    },
    /// Not attempted (run stopped, dependency failed): retried next time.
    NotAttempted,
}
