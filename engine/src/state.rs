//! What the engine remembers between runs. The host stores it and hands it back; nothing in
//! it is a secret.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::model::{Roster, Shared};

/// The state layout's version.
pub const STATE_VERSION: u32 = 1;

#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", default)]
/// Everything the engine remembers between runs (`cb_commit`'s answer, the next plan's input).
pub struct SyncState {
    /// [`STATE_VERSION`] when written.
    pub version: u32,
    /// Bumped by every commit: a plan can only be committed onto the state it was made from.
    pub revision: u64,
    /// Each source as last read (after ingest, before rules), so delta reads can be laid
    /// over it and config changes re-evaluated.
    pub sources: BTreeMap<String, Roster>,
    /// The merged roster last accepted: what the next diff compares with.
    pub roster: Roster,
    /// What is known to exist in Classroom because we created it or adopted it.
    pub classroom: AppliedClassroom,
    /// Grades written to the SIS, by OneRoster sourcedId, with a digest of what was sent.
    pub exported: ExportedGradebook,
    /// Operations that failed, by idempotency key: the next plan retries them.
    pub failures: BTreeMap<String, OpFailure>,
    /// Set when the rosters' `enrollments` tables hold only the enrolments of some classes
    /// (what [`crate::needs::enrollment_needs`] asks for); absent: they are whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enrollment_slice: Option<EnrollmentSlice>,
}

impl Default for SyncState {
    fn default() -> Self {
        SyncState {
            version: STATE_VERSION,
            revision: 0,
            sources: BTreeMap::new(),
            roster: Roster::default(),
            classroom: AppliedClassroom::default(),
            exported: ExportedGradebook::default(),
            failures: BTreeMap::new(),
            enrollment_slice: None,
        }
    }
}

#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
/// Which enrolments a state carries, and what the whole holds. Enrolments are most of a
/// district (1.6M of 1.9M records at 200,000 students), and a run whose SIS reads are deltas
/// changes few classes: it needs the enrolments of those classes, not the district's.
pub struct EnrollmentSlice {
    /// The classes whose enrolments are all here, in the merged roster and in every
    /// source's snapshot. Only these classes' courses, members and topics are planned, so
    /// the Classroom part's `teachers`, `students` and `topics` may hold only these
    /// classes' too (a host that cuts them so gives [`crate::needs::NeedsFacts::at_class_limit`]).
    pub classes: BTreeSet<String>,
    /// Enrolments in the whole merged roster.
    pub roster: u64,
    /// Enrolments in each source's whole snapshot.
    #[serde(default)]
    pub sources: BTreeMap<String, u64>,
    /// What the slice was cut for: a plan asks again and refuses a slice that misses
    /// a class it needs.
    pub facts: crate::needs::NeedsFacts,
}

#[derive(Serialize, Deserialize, Clone, PartialEq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", default)]
/// What classbridge made or adopted in Classroom.
pub struct AppliedClassroom {
    /// class sourcedId -> course
    #[serde(deserialize_with = "crate::model::dense_map::deserialize")]
    pub courses: BTreeMap<String, AppliedCourse>,
    /// class sourcedId -> emails
    pub teachers: BTreeMap<String, BTreeSet<String>>,
    /// class sourcedId -> emails
    pub students: BTreeMap<String, BTreeSet<String>>,
    /// class sourcedId -> category sourcedId -> topic
    pub topics: BTreeMap<String, BTreeMap<String, AppliedTopic>>,
    /// class sourcedId -> student email -> the day (`YYYY-MM-DD`) the SIS first no longer
    /// had them in the class: students kept in the course by the removal grace rule
    /// (`classroom.removalGraceDays`) until the grace ends and their removal is applied.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pending_removals: BTreeMap<String, BTreeMap<String, String>>,
    /// class sourcedId -> email -> invitation: people outside the domain, invited and not
    /// yet seen in the course (on accepting they become members).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub invitations: BTreeMap<String, BTreeMap<String, AppliedInvitation>>,
    /// student email -> guardian email -> the guardian invitation sent.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub guardians: BTreeMap<String, BTreeMap<String, AppliedGuardian>>,
}

#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
/// A guardian invitation classbridge sent.
pub struct AppliedGuardian {
    /// Classroom's id for the invitation, once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invitation_id: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
/// An invitation classbridge sent.
pub struct AppliedInvitation {
    /// The role the person is invited to.
    pub role: crate::plan::MemberRole,
    /// Classroom's id for the invitation, once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invitation_id: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, PartialEq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
/// A Classroom course as classbridge last set it.
pub struct AppliedCourse {
    /// Its alias, `d:<class sourcedId>`.
    pub alias: String,
    /// Classroom's id for it, once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub course_id: Option<String>,
    /// The course name.
    pub name: String,
    /// The section.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub section: Option<String>,
    /// The room.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    /// The owner's email.
    pub owner: String,
    /// `ACTIVE`, `ARCHIVED`, ...
    pub course_state: String,
}

#[derive(Serialize, Deserialize, Clone, PartialEq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
/// A topic made for a OneRoster category.
pub struct AppliedTopic {
    /// Classroom's id for it, once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic_id: Option<String>,
    /// Its name, the category's title.
    pub name: String,
}

#[derive(Serialize, Deserialize, Clone, PartialEq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", default)]
/// Gradebook records written to the SIS, by sourcedId.
pub struct ExportedGradebook {
    /// lineItems written.
    #[serde(deserialize_with = "crate::model::dense_map::deserialize")]
    pub line_items: BTreeMap<String, ExportedRecord>,
    /// results written.
    #[serde(deserialize_with = "crate::model::dense_map::deserialize")]
    pub results: BTreeMap<String, ExportedRecord>,
    /// categories written.
    #[serde(deserialize_with = "crate::model::dense_map::deserialize")]
    pub categories: BTreeMap<String, ExportedRecord>,
    /// Set when `line_items` and `results` hold only a slice of the ledger: those of the
    /// courses a run reads. A run needs no more (a grade is looked up, and a vanished one
    /// deleted, only in a course read), so a district's millions of results stay in the
    /// host's database. Absent: the ledger is whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slice: Option<LedgerSlice>,
}

impl ExportedGradebook {
    /// How many lineItems and results the whole ledger holds (what deletion thresholds
    /// compare with), whether this is the whole ledger or a slice of it.
    pub fn totals(&self) -> (u64, u64) {
        match &self.slice {
            Some(slice) => (slice.line_items, slice.results),
            None => (self.line_items.len() as u64, self.results.len() as u64),
        }
    }

    /// Whether the lineItems and results of this Classroom course are here.
    pub fn covers_course(&self, course_id: &str) -> bool {
        self.slice
            .as_ref()
            .is_none_or(|slice| slice.courses.contains(course_id))
    }
}

#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
/// Which part of the export ledger a state carries, and the size of the whole.
pub struct LedgerSlice {
    /// The Classroom course ids whose lineItems (by `parent`) and those lineItems' results
    /// are all here. lineItems and results with no parent are always included.
    pub courses: BTreeSet<String>,
    /// lineItems in the whole ledger.
    pub line_items: u64,
    /// results in the whole ledger.
    pub results: u64,
}

#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
/// One record written to a SIS.
pub struct ExportedRecord {
    /// The source it was written to.
    pub source_id: String,
    /// lineItems: the Classroom course they came from; results: their lineItem.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<Shared>,
    /// A digest of the body sent: a record is written again only when it changes.
    pub digest: String,
}

#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
/// An operation that failed, kept so the next plan retries it.
pub struct OpFailure {
    /// The last error, in words.
    pub error: String,
    /// How many times it was tried.
    pub attempts: u32,
    /// The id of the plan that last tried it.
    pub last_plan: String,
}
