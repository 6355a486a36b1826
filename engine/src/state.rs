//! What the engine remembers between runs. The host stores it and hands it back; nothing in
//! it is a secret.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::model::{Roster, Shared};

pub const STATE_VERSION: u32 = 1;

#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", default)]
pub struct SyncState {
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
        }
    }
}

#[derive(Serialize, Deserialize, Clone, PartialEq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", default)]
pub struct AppliedClassroom {
    /// class sourcedId -> course
    #[serde(deserialize_with = "crate::model::dense_map::deserialize")]
    pub courses: BTreeMap<String, AppliedCourse>,
    /// class sourcedId -> emails
    pub teachers: BTreeMap<String, BTreeSet<String>>,
    pub students: BTreeMap<String, BTreeSet<String>>,
    /// class sourcedId -> category sourcedId -> topic
    pub topics: BTreeMap<String, BTreeMap<String, AppliedTopic>>,
}

#[derive(Serialize, Deserialize, Clone, PartialEq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct AppliedCourse {
    pub alias: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub course_id: Option<String>,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub section: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    pub owner: String,
    pub course_state: String,
}

#[derive(Serialize, Deserialize, Clone, PartialEq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct AppliedTopic {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic_id: Option<String>,
    pub name: String,
}

#[derive(Serialize, Deserialize, Clone, PartialEq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", default)]
pub struct ExportedGradebook {
    #[serde(deserialize_with = "crate::model::dense_map::deserialize")]
    pub line_items: BTreeMap<String, ExportedRecord>,
    #[serde(deserialize_with = "crate::model::dense_map::deserialize")]
    pub results: BTreeMap<String, ExportedRecord>,
    #[serde(deserialize_with = "crate::model::dense_map::deserialize")]
    pub categories: BTreeMap<String, ExportedRecord>,
}

#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct ExportedRecord {
    pub source_id: String,
    /// lineItems: the Classroom course they came from; results: their lineItem.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<Shared>,
    pub digest: String,
}

#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct OpFailure {
    pub error: String,
    pub attempts: u32,
    pub last_plan: String,
}
