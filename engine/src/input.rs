//! What the host hands the engine for one run: config, raw source data, Classroom listings,
//! the previous state, and the time.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::config::SyncConfig;
use crate::json_text::JsonText;
use crate::model::EntityKind;
use crate::state::SyncState;

#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
/// Everything one plan is made from (`cb_plan`'s request).
pub struct SyncInput {
    /// The rules.
    pub config: SyncConfig,
    /// What each SIS source sent, as it sent it.
    pub sources: Vec<SourceData>,
    /// What Classroom listed for the courses classbridge manages.
    #[serde(default)]
    pub classroom: ClassroomListings,
    /// The state the last committed run left (empty on a first sync).
    #[serde(default)]
    pub previous_state: SyncState,
    /// The run's time, RFC 3339 UTC (`2026-11-22T10:00:00Z`); the engine has no clock.
    pub now: String,
}

#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
/// One SIS source's data for this run.
pub struct SourceData {
    /// The source's id in the config.
    pub source_id: String,
    /// Its records, as REST pages or a CSV bundle.
    pub payload: SourcePayload,
    /// What the SIS said when asked for records a complete listing left out (see
    /// [`crate::plan::Absence`]): only a confirmed absence removes a record read by REST.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removal_checks: Vec<RemovalCheck>,
}

/// The answer to "is this record really gone?", asked of the SIS one record at a time
/// (`GET /users/{id}`) for a record missing from a complete listing.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RemovalCheck {
    /// The kind of record asked about.
    pub entity: EntityKind,
    /// The id as the plan's absence names it (with the source's prefix).
    pub sourced_id: String,
    /// What the SIS answered.
    pub outcome: CheckOutcome,
    /// How it was established, in words: `GET /users/u-17 answered 404`.
    pub detail: String,
}

#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
/// What one removal check established.
pub enum CheckOutcome {
    /// The SIS has no such record (404, or it answered with `status: tobedeleted`).
    Gone,
    /// The SIS still has it: the listing missed it.
    Present,
    /// No answer that settles it (an error, a timeout, or over the run's limit of checks).
    Unknown,
}

#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", tag = "format", try_from = "PayloadFields")]
/// A source's records in the form it sent them.
#[non_exhaustive]
pub enum SourcePayload {
    /// Pages of OneRoster REST collections, as the server sent them (envelope included).
    #[serde(rename = "oneRosterJson")]
    Json {
        /// Collection name (`users`, `classes`, ...) to its pages.
        collections: BTreeMap<String, Collection>,
    },
    /// A OneRoster CSV bundle: file name (`manifest.csv`, `users.csv`, ...) to file content.
    #[serde(rename = "oneRosterCsv")]
    Csv {
        /// File name to content.
        files: BTreeMap<String, String>,
    },
}

/// The payload's wire form, read as a plain struct: serde would read an internally tagged
/// enum into a tree first (to find the tag), and the pages are to stay text.
#[derive(Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
struct PayloadFields {
    format: PayloadFormat,
    collections: Option<BTreeMap<String, Collection>>,
    files: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
enum PayloadFormat {
    #[serde(rename = "oneRosterJson")]
    Json,
    #[serde(rename = "oneRosterCsv")]
    Csv,
}

impl TryFrom<PayloadFields> for SourcePayload {
    type Error = String;

    fn try_from(fields: PayloadFields) -> Result<Self, String> {
        match (fields.format, fields.collections, fields.files) {
            (PayloadFormat::Json, Some(collections), None) => {
                Ok(SourcePayload::Json { collections })
            }
            (PayloadFormat::Csv, None, Some(files)) => Ok(SourcePayload::Csv { files }),
            (PayloadFormat::Json, _, _) => {
                Err("a oneRosterJson payload has `collections` (and no `files`)".into())
            }
            (PayloadFormat::Csv, _, _) => {
                Err("a oneRosterCsv payload has `files` (and no `collections`)".into())
            }
        }
    }
}

#[derive(Serialize, Deserialize, Clone, PartialEq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
/// One REST collection as read this run.
pub struct Collection {
    /// Whether the read was whole or only what changed.
    #[serde(default)]
    pub mode: FetchMode,
    /// Pages as the server sent them (JSON text), read record by record during ingest.
    pub pages: Vec<JsonText>,
}

#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
/// How much of a collection a read covered.
pub enum FetchMode {
    /// Every record of the collection: absence can mean deletion (bulk upload mode).
    #[default]
    Full,
    /// Only records changed since the last read (`dateLastModified>`): absence means nothing.
    Delta,
}

/// One page of a Classroom list response, kept as the JSON text the API sent until the engine
/// reads it record by record (a bad record is still reported on its own).
pub type ListPage = JsonText;

/// Classroom list responses, page by page, as the API sent them.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ClassroomListings {
    /// `courses.list` pages: `{"courses": [...], "nextPageToken": ...}`.
    pub courses: Vec<ListPage>,
    /// `courses.aliases.list` pages per course id. The host does not list aliases (one call
    /// per course in the domain): it reads the courses the state knows by id, whose alias the
    /// state holds, and looks new ones up by alias (`found_by_alias`).
    pub aliases: BTreeMap<String, Vec<ListPage>>,
    /// `courses.get` answers, one Course resource each: the courses the state knows, read by
    /// id, and those found by alias. Read like the courses of `courses` pages.
    pub course_gets: Vec<ListPage>,
    /// Aliases looked up with `courses.get` (which accepts `d:<id>` in place of an id) and
    /// found: alias -> course id. A course the state knows carries its alias from the state.
    pub found_by_alias: BTreeMap<String, String>,
    /// `courses.teachers.list` pages of the managed courses.
    pub teachers: Vec<ListPage>,
    /// `courses.students.list` pages of the managed courses.
    pub students: Vec<ListPage>,
    /// `courses.topics.list` pages of the managed courses.
    pub topics: Vec<ListPage>,
    /// `courses.courseWork.list` pages (two-way sync only).
    pub course_work: Vec<ListPage>,
    /// `courses.courseWork.studentSubmissions.list` pages (two-way sync only).
    pub student_submissions: Vec<ListPage>,
    /// Courses whose courseWork was read completely: only there may a vanished courseWork
    /// delete its lineItem.
    pub course_work_complete: BTreeSet<String>,
    /// Courses whose teachers and students were read completely: only there can a member be
    /// found missing (drift).
    pub members_complete: BTreeSet<String>,
}
