//! A plan made over many calls: the host begins a session with the rules and the run's time,
//! feeds what it read chunk by chunk (SIS pages, Classroom pages, the state as rows), finishes,
//! and reads the operations back a page at a time. No single request or answer holds the
//! district, so the wasm module's 2 GiB-per-call limit and the copy of a whole input beside
//! its parsed records are gone. State rows and Classroom pages are read into records as they
//! arrive; SIS pages are kept as their text until the plan reads each record once, table by
//! table.
//!
//! The order of calls: [`PlanSession::begin`], any number of [`PlanSession::feed`], one
//! [`PlanSession::finish`], then [`PlanSession::ops`] until it says there are no more. The
//! plan is the one [`crate::plan`] makes from the same data, byte for byte.

mod borrowed;
mod chunks;

use std::collections::{BTreeMap, BTreeSet};

use serde::de::{DeserializeSeed, Error as _, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use crate::config::SyncConfig;
use crate::error::EngineError;
use crate::ingest::ClassroomReading;
use crate::input::{
    ClassroomListings, Collection, FetchMode, RemovalCheck, SourceData, SourcePayload,
};
use crate::json_text::JsonText;
use crate::model::shared::{Pool, with_pool};
use crate::model::{Roster, oneroster::*};
use crate::needs::EnrollmentNeeds;
use crate::pipeline::build::PlanDigest;
use crate::plan::{PlannedOp, SyncPlan};
use crate::rows::StatePart;
use crate::state::{
    AppliedClassroom, AppliedCourse, AppliedGuardian, AppliedInvitation, AppliedTopic,
    EnrollmentSlice, ExportedGradebook, ExportedRecord, LedgerSlice, OpFailure, STATE_VERSION,
    SyncState,
};

pub use borrowed::{chunk_texts, start_of};
pub use chunks::{CLASSROOM_CHUNK_BYTES, Chunks, chunks_of, classroom_pieces};

/// `cb_session_begin`'s request.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SessionStart {
    /// The rules.
    pub config: SyncConfig,
    /// The run's time, RFC 3339 UTC.
    pub now: String,
    /// The revision of the state the rows will come from (0 for none).
    #[serde(default)]
    pub state_revision: u64,
    /// Set when the rows fed carry only a slice of the export ledger: the lineItems of
    /// these courses and their results (what [`SessionExpects::ledger`] asks for), and the
    /// whole ledger's sizes. Absent: every ledger row is fed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ledger_slice: Option<LedgerSlice>,
}

/// `cb_session_begin`'s answer: what the engine expects to be fed.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct SessionExpects {
    /// The config's sources, in its order: feed each one's pages or files.
    pub sources: Vec<String>,
    /// `"rows"`: every state row, except as `ledger` says.
    pub state: String,
    /// `"coursesRead"`: of the export ledger's `lineItems` and `results`, the engine needs
    /// only those of the Classroom courses whose work the run reads (lineItems whose
    /// `parent` is such a course, results whose `parent` is such a lineItem, and any without
    /// a parent), named with their totals in [`SessionStart::ledger_slice`]. A host may
    /// feed the whole ledger instead; the plan is the same.
    pub ledger: String,
    /// `"asked"`: feed every state row but the rosters' `enrollments`, ask
    /// `cb_session_needs` which enrolments the run needs, then feed those rows and an
    /// `enrollmentSlice` chunk naming them. A host may feed every enrolment instead (and
    /// no slice); the plan's operations are the same.
    pub enrollments: String,
    /// `"withEnrollments"`: the Classroom part's `teachers`, `students` and `topics` rows
    /// (one per class) may be fed like the enrolments, after `cb_session_needs`, for the
    /// slice's classes only; the needs call then takes `atClassLimit` in its facts (who
    /// reaches Classroom's classes-per-person limit, which the engine cannot count from a
    /// slice). A host may feed them whole before the needs call instead. (Added within
    /// ABI 6: absent from older modules' answers, which expect them whole.)
    #[serde(default)]
    pub members: String,
}

/// One piece of a run's data (`cb_session_feed`'s request), e.g.
/// `{"sourcePage": {"sourceId": "sis", "collection": "users", "mode": "full", "page": {...}}}`.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum Chunk {
    /// One page of a OneRoster REST collection, as the server sent it.
    SourcePage(SourcePage),
    /// A source's CSV bundle files.
    SourceFiles(SourceFiles),
    /// Answers to removal checks for a source.
    RemovalChecks(SourceChecks),
    /// Classroom list pages and what the host knows of them; laid over what came before
    /// (lists are appended, maps and sets merged).
    Classroom(Box<ClassroomListings>),
    /// Rows of the previous state, in any number of chunks, each row
    /// `[part, source, table, id, value]` as [`crate::rows`] names them.
    StateRows(Vec<StateRow>),
    /// The enrolment rows fed are a slice: the classes they cover and the whole's sizes
    /// (after [`PlanSession::needs`]). Absent: every enrolment is fed.
    EnrollmentSlice(EnrollmentSlice),
}

/// A page of a source's collection.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SourcePage {
    /// The source's id in the config.
    pub source_id: String,
    /// `users`, `classes`, ...
    pub collection: String,
    /// Whether the read was whole or only what changed (every page of a collection the same).
    #[serde(default)]
    pub mode: FetchMode,
    /// The page, envelope included; absent for a collection read whole or by delta that had
    /// no records (it still says the collection was read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<JsonText>,
}

/// A source's CSV bundle.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SourceFiles {
    /// The source's id in the config.
    pub source_id: String,
    /// File name to content.
    pub files: BTreeMap<String, String>,
}

/// Removal checks answered for a source.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SourceChecks {
    /// The source's id in the config.
    pub source_id: String,
    /// The answers.
    pub checks: Vec<RemovalCheck>,
}

/// One row of the state: part, source (empty unless `sources`), table, id, value.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct StateRow(
    pub StatePart,
    pub String,
    pub String,
    pub String,
    pub JsonText,
);

/// `cb_session_feed`'s answer.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Fed {
    /// Chunks fed so far in this session.
    pub chunks: u64,
}

/// `cb_session_finish`'s answer: the plan without its operations, and how many there are.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct PlanHeader {
    /// The plan, its `ops` empty (read them with `cb_session_ops`) and its `id` blank: the
    /// id covers the operations, and comes with the last page of them.
    pub plan: SyncPlan,
    /// How many operations it has.
    pub op_count: usize,
}

/// `cb_session_ops`'s request.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OpsRequest {
    /// The first operation's index.
    pub from: usize,
    /// At most this many.
    pub max: usize,
}

/// `cb_session_ops`'s answer.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct OpsPage {
    /// The operations from `from`, in the plan's order.
    pub ops: Vec<PlannedOp>,
    /// Where the next page starts, or `None` after the last.
    pub next: Option<usize>,
    /// The plan's id, on the last page (`next` is `None`): the hash of the header and of
    /// every operation, taken as the pages are written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_id: Option<String>,
}

/// The plan of a finished session, with its id as far as the pages read have hashed it.
struct Finished {
    plan: SyncPlan,
    /// The digest of the header and of the operations before `hashed`.
    digest: Option<PlanDigest>,
    hashed: usize,
    /// Once every operation is hashed.
    id: Option<String>,
}

impl Finished {
    fn new(mut plan: SyncPlan) -> Finished {
        let digest = PlanDigest::begin(&mut plan);
        let mut finished = Finished {
            plan,
            digest: Some(digest),
            hashed: 0,
            id: None,
        };
        finished.settle();
        finished
    }

    /// Hashes the operations before `to` that no page has (a caller who skipped ahead).
    fn hash_up_to(&mut self, to: usize) {
        if let Some(digest) = &mut self.digest {
            for op in &self.plan.ops[self.hashed.min(to)..to] {
                digest.op(op);
            }
        }
        self.hashed = self.hashed.max(to);
    }

    /// The id, once every operation is hashed.
    fn settle(&mut self) {
        if self.hashed >= self.plan.ops.len()
            && let Some(digest) = self.digest.take()
        {
            self.id = Some(digest.finish());
        }
    }

    /// Writes operations `from..to` as a JSON array into `out`, hashing each in order.
    fn write_ops(&mut self, from: usize, to: usize, out: &mut Vec<u8>) -> Result<(), EngineError> {
        self.hash_up_to(from);
        out.push(b'[');
        for at in from..to {
            if at > from {
                out.push(b',');
            }
            let start = out.len();
            serde_json::to_writer(&mut *out, &self.plan.ops[at]).map_err(|e| {
                EngineError::InvalidInput {
                    message: format!("operation {at} cannot be written as JSON: {e}"),
                }
            })?;
            if at == self.hashed
                && let Some(digest) = &mut self.digest
            {
                digest.op_json(&out[start..]);
                self.hashed += 1;
            }
        }
        out.push(b']');
        self.settle();
        Ok(())
    }

    /// `f` of the plan with its operations set aside (the header), not copied.
    fn without_ops<R>(&mut self, f: impl FnOnce(&SyncPlan) -> R) -> R {
        let ops = std::mem::take(&mut self.plan.ops);
        let answer = f(&self.plan);
        self.plan.ops = ops;
        answer
    }

    fn page_bounds(&self, request: OpsRequest) -> (usize, usize) {
        let len = self.plan.ops.len();
        let from = request.from.min(len);
        (from, from.saturating_add(request.max.max(1)).min(len))
    }
}

/// A plan being made over many calls.
pub struct PlanSession {
    config: SyncConfig,
    now: String,
    sources: Vec<SourceData>,
    // Read into records as fed (a district's listings are a GB of text when every course is
    // read), in the pool of the records fed before them.
    classroom: ClassroomReading,
    state: StateBuilder,
    chunks: u64,
    plan: Option<Finished>,
    // The records fed over many calls share their strings, as in a one-call plan.
    pool: Pool,
    // The state the plan was made from, freed with the session instead of when planning
    // ends: a host discards the instance once it has read the plan, and freeing a
    // district's state record by record was a tenth of an idle run's planning at L. An
    // instance that begins another session frees it then.
    spent_state: Option<crate::state::SyncState>,
}

impl PlanSession {
    /// Starts a session: the config is checked now, so a bad one fails before any data moves.
    pub fn begin(start: SessionStart) -> Result<(PlanSession, SessionExpects), EngineError> {
        crate::validate_config(&start.config)?;
        let expects = SessionExpects {
            sources: start.config.sources.iter().map(|s| s.id.clone()).collect(),
            state: "rows".into(),
            ledger: "coursesRead".into(),
            enrollments: "asked".into(),
            members: "withEnrollments".into(),
        };
        let session = PlanSession {
            config: start.config,
            now: start.now,
            sources: Vec::new(),
            classroom: ClassroomReading::default(),
            state: StateBuilder {
                revision: start.state_revision,
                ledger_slice: start.ledger_slice,
                ..StateBuilder::default()
            },
            chunks: 0,
            plan: None,
            pool: None,
            spent_state: None,
        };
        Ok((session, expects))
    }

    /// Reads one chunk, JSON as `cb_session_feed` takes it, parsing its records into the
    /// session's string pool.
    pub fn feed_json(&mut self, json: &[u8]) -> Result<Fed, EngineError> {
        if is_state_rows(json) {
            // The bulk of a district's session: rows go straight into their tables.
            if self.plan.is_some() {
                return Err(invalid(
                    "the session is finished: begin a new one to feed more",
                ));
            }
            let mut pool = self.pool.take();
            let state = &mut self.state;
            let read = with_pool(&mut pool, || {
                let mut reader = serde_json::Deserializer::from_slice(json);
                reader
                    .deserialize_map(StateRowsChunk(state))
                    .and_then(|()| reader.end())
            });
            self.pool = pool;
            read.map_err(|e| EngineError::InvalidInput {
                message: format!("session chunk: {e}"),
            })?;
            self.chunks += 1;
            return Ok(Fed {
                chunks: self.chunks,
            });
        }
        let mut pool = self.pool.take();
        let chunk = with_pool(&mut pool, || serde_json::from_slice::<Chunk>(json));
        self.pool = pool;
        let chunk = chunk.map_err(|e| EngineError::InvalidInput {
            message: format!("session chunk: {e}"),
        })?;
        self.feed(chunk)
    }

    /// Takes one chunk.
    pub fn feed(&mut self, chunk: Chunk) -> Result<Fed, EngineError> {
        if self.plan.is_some() {
            return Err(invalid(
                "the session is finished: begin a new one to feed more",
            ));
        }
        match chunk {
            Chunk::SourcePage(page) => {
                let mode = page.mode;
                let collections = self.json_collections(&page.source_id)?;
                let collection = collections
                    .entry(page.collection.clone())
                    .or_insert_with(|| Collection {
                        mode,
                        pages: Vec::new(),
                    });
                if collection.mode != mode {
                    return Err(invalid(&format!(
                        "source '{}' collection '{}': pages of one read must all be full or all delta",
                        page.source_id, page.collection
                    )));
                }
                collection.pages.extend(page.page);
            }
            Chunk::SourceFiles(files) => {
                let source = self.source(&files.source_id);
                match &mut source.payload {
                    SourcePayload::Csv { files: have } => have.extend(files.files),
                    SourcePayload::Json { collections } if collections.is_empty() => {
                        source.payload = SourcePayload::Csv { files: files.files };
                    }
                    SourcePayload::Json { .. } => {
                        return Err(invalid(&format!(
                            "source '{}' was fed REST pages and CSV files",
                            files.source_id
                        )));
                    }
                }
            }
            Chunk::RemovalChecks(checks) => {
                self.source(&checks.source_id)
                    .removal_checks
                    .extend(checks.checks);
            }
            Chunk::Classroom(listings) => {
                let mut pool = self.pool.take();
                let reading = &mut self.classroom;
                with_pool(&mut pool, || reading.add(*listings));
                self.pool = pool;
            }
            Chunk::StateRows(rows) => {
                let mut pool = self.pool.take();
                let added = with_pool(&mut pool, || {
                    rows.into_iter().try_for_each(|row| self.state.add(row))
                });
                self.pool = pool;
                added.map_err(|message| EngineError::InvalidInput { message })?;
            }
            Chunk::EnrollmentSlice(slice) => self.state.enrollment_slice = Some(slice),
        }
        self.chunks += 1;
        Ok(Fed {
            chunks: self.chunks,
        })
    }

    /// Which enrolments the run needs, from what was fed so far (every SIS page, the
    /// Classroom listings and the state's rows but the enrolments). The session goes on: feed
    /// the rows asked for, then finish.
    pub fn needs(
        &mut self,
        facts: &crate::needs::NeedsFacts,
    ) -> Result<EnrollmentNeeds, EngineError> {
        if self.plan.is_some() {
            return Err(invalid("the session is finished: begin a new one"));
        }
        let state = std::mem::take(&mut self.state).build();
        let mut pool = self.pool.take();
        let needs = with_pool(&mut pool, || {
            crate::needs::needs_of_reading(
                &self.config,
                &self.sources,
                &self.classroom,
                &state,
                &self.now,
                facts,
            )
        });
        self.pool = pool;
        self.state = StateBuilder::resume(state);
        Ok(needs)
    }

    /// Plans from everything fed. The plan is kept for [`PlanSession::ops`]; its header
    /// (everything but the operations) is returned.
    pub fn finish(&mut self) -> Result<PlanHeader, EngineError> {
        let finished = self.plan_now()?;
        let op_count = finished.plan.ops.len();
        let plan = finished.without_ops(SyncPlan::clone);
        Ok(PlanHeader { plan, op_count })
    }

    /// [`PlanSession::finish`], answered as the ABI writes it (`{"plan":…,"opCount":n}`)
    /// from the plan in place: a district's first plan carries its whole roster in the
    /// header, and a copy of it only to write it out would stay in the module's memory.
    pub fn finish_json(&mut self, out: &mut Vec<u8>) -> Result<(), EngineError> {
        let finished = self.plan_now()?;
        let cannot = |e: serde_json::Error| EngineError::InvalidInput {
            message: format!("the plan cannot be written as JSON: {e}"),
        };
        // A district's first plan carries its whole roster back (most of a GB of JSON at
        // 200,000 students): measured first and written into room of exactly that size, as a
        // buffer doubling its way there holds its old and new copies at once, and the module's
        // memory never shrinks back.
        let len = finished
            .without_ops(|plan| {
                let mut count = ByteCount::default();
                serde_json::to_writer(&mut count, plan).map(|()| count.0)
            })
            .map_err(cannot)?;
        out.reserve_exact(len + 64);
        out.extend_from_slice(b"{\"plan\":");
        finished
            .without_ops(|plan| serde_json::to_writer(&mut *out, plan))
            .map_err(cannot)?;
        out.extend_from_slice(format!(",\"opCount\":{}}}", finished.plan.ops.len()).as_bytes());
        Ok(())
    }

    /// Plans from everything fed, once; the plan is kept for the pages.
    fn plan_now(&mut self) -> Result<&mut Finished, EngineError> {
        if self.plan.is_some() {
            return Err(invalid("the session is already finished"));
        }
        let input = crate::pipeline::PlanInput {
            config: self.config.clone(),
            sources: std::mem::take(&mut self.sources),
            classroom: std::mem::take(&mut self.classroom),
            previous_state: std::mem::take(&mut self.state).build(),
            now: self.now.clone(),
        };
        let mut pool = self.pool.take();
        let planned = with_pool(&mut pool, || crate::pipeline::run_read_without_id(input));
        self.pool = pool;
        let (plan, spent) = planned?;
        self.spent_state = Some(spent);
        Ok(self.plan.insert(Finished::new(plan)))
    }

    fn finished(&mut self) -> Result<&mut Finished, EngineError> {
        self.plan
            .as_mut()
            .ok_or_else(|| invalid("finish the session before reading its operations"))
    }

    /// A page of the finished plan's operations; the last carries the plan's id.
    pub fn ops(&mut self, request: OpsRequest) -> Result<OpsPage, EngineError> {
        let finished = self.finished()?;
        let (from, to) = finished.page_bounds(request);
        // Written (and hashed) as the ABI writes them, so a native caller gets the same id.
        finished.write_ops(from, to, &mut Vec::new())?;
        let last = to >= finished.plan.ops.len();
        Ok(OpsPage {
            ops: finished.plan.ops[from..to].to_vec(),
            next: (!last).then_some(to),
            plan_id: if last { finished.id.clone() } else { None },
        })
    }

    /// [`PlanSession::ops`], answered as the ABI writes it, from the operations in place.
    pub fn ops_json(&mut self, request: OpsRequest, out: &mut Vec<u8>) -> Result<(), EngineError> {
        let finished = self.finished()?;
        let (from, to) = finished.page_bounds(request);
        out.extend_from_slice(b"{\"ops\":");
        finished.write_ops(from, to, out)?;
        if to < finished.plan.ops.len() {
            out.extend_from_slice(format!(",\"next\":{to}}}").as_bytes());
        } else {
            out.extend_from_slice(b",\"next\":null");
            if let Some(id) = &finished.id {
                out.extend_from_slice(format!(",\"planId\":\"{id}\"").as_bytes());
            }
            out.push(b'}');
        }
        Ok(())
    }

    /// The finished plan, whole and with its id (for native embedders).
    pub fn into_plan(self) -> Option<SyncPlan> {
        self.plan.map(|mut finished| {
            let len = finished.plan.ops.len();
            finished.hash_up_to(len);
            finished.settle();
            finished.plan.id = finished.id.unwrap_or_default();
            finished.plan
        })
    }

    fn source(&mut self, id: &str) -> &mut SourceData {
        let at = match self.sources.iter().position(|s| s.source_id == id) {
            Some(at) => at,
            None => {
                self.sources.push(SourceData {
                    source_id: id.to_string(),
                    payload: SourcePayload::Json {
                        collections: BTreeMap::new(),
                    },
                    removal_checks: Vec::new(),
                });
                self.sources.len() - 1
            }
        };
        &mut self.sources[at]
    }

    fn json_collections(
        &mut self,
        id: &str,
    ) -> Result<&mut BTreeMap<String, Collection>, EngineError> {
        match &mut self.source(id).payload {
            SourcePayload::Json { collections } => Ok(collections),
            SourcePayload::Csv { .. } => Err(invalid(&format!(
                "source '{id}' was fed CSV files and REST pages"
            ))),
        }
    }
}

fn invalid(message: &str) -> EngineError {
    EngineError::InvalidInput {
        message: message.to_string(),
    }
}

/// Counts the bytes written to it: how much room a JSON answer needs before it is written.
#[derive(Default)]
struct ByteCount(usize);

impl std::io::Write for ByteCount {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A roster's tables as rows arrive; built into maps in bulk at the end (full B-tree nodes).
#[derive(Default)]
struct RosterRows {
    orgs: Vec<(String, Org)>,
    academic_sessions: Vec<(String, AcademicSession)>,
    users: Vec<(String, User)>,
    courses: Vec<(String, Course)>,
    classes: Vec<(String, Class)>,
    enrollments: Vec<(String, Enrollment)>,
    categories: Vec<(String, Category)>,
}

impl RosterRows {
    fn add<'de, D: Deserializer<'de>>(
        &mut self,
        table: &str,
        id: String,
        value: D,
    ) -> Result<(), D::Error> {
        match table {
            "orgs" => push(&mut self.orgs, id, value),
            "academicSessions" => push(&mut self.academic_sessions, id, value),
            "users" => push(&mut self.users, id, value),
            "courses" => push(&mut self.courses, id, value),
            "classes" => push(&mut self.classes, id, value),
            "enrollments" => push(&mut self.enrollments, id, value),
            "categories" => push(&mut self.categories, id, value),
            _ => Err(D::Error::custom(format!("no roster table '{table}'"))),
        }
    }

    fn build(self) -> Roster {
        Roster {
            orgs: self.orgs.into_iter().collect(),
            academic_sessions: self.academic_sessions.into_iter().collect(),
            users: self.users.into_iter().collect(),
            courses: self.courses.into_iter().collect(),
            classes: self.classes.into_iter().collect(),
            enrollments: self.enrollments.into_iter().collect(),
            categories: self.categories.into_iter().collect(),
            ..Roster::default()
        }
    }
}

/// The previous state as its rows arrive.
#[derive(Default)]
pub(crate) struct StateBuilder {
    revision: u64,
    sources: BTreeMap<String, RosterRows>,
    roster: RosterRows,
    courses: Vec<(String, AppliedCourse)>,
    teachers: Vec<(String, BTreeSet<String>)>,
    students: Vec<(String, BTreeSet<String>)>,
    topics: Vec<(String, BTreeMap<String, AppliedTopic>)>,
    pending_removals: Vec<(String, BTreeMap<String, String>)>,
    invitations: Vec<(String, BTreeMap<String, AppliedInvitation>)>,
    guardians: Vec<(String, BTreeMap<String, AppliedGuardian>)>,
    line_items: Vec<(String, ExportedRecord)>,
    results: Vec<(String, ExportedRecord)>,
    categories: Vec<(String, ExportedRecord)>,
    failures: Vec<(String, OpFailure)>,
    ledger_slice: Option<LedgerSlice>,
    enrollment_slice: Option<EnrollmentSlice>,
}

impl StateBuilder {
    /// A builder for a state at `revision`.
    pub(crate) fn at(revision: u64) -> StateBuilder {
        StateBuilder {
            revision,
            ..StateBuilder::default()
        }
    }

    /// A builder holding a built state's tables, to take more rows.
    fn resume(state: SyncState) -> StateBuilder {
        let rows = |roster: Roster| RosterRows {
            orgs: roster.orgs.into_iter().collect(),
            academic_sessions: roster.academic_sessions.into_iter().collect(),
            users: roster.users.into_iter().collect(),
            courses: roster.courses.into_iter().collect(),
            classes: roster.classes.into_iter().collect(),
            enrollments: roster.enrollments.into_iter().collect(),
            categories: roster.categories.into_iter().collect(),
        };
        StateBuilder {
            revision: state.revision,
            sources: state
                .sources
                .into_iter()
                .map(|(id, roster)| (id, rows(roster)))
                .collect(),
            roster: rows(state.roster),
            courses: state.classroom.courses.into_iter().collect(),
            teachers: state.classroom.teachers.into_iter().collect(),
            students: state.classroom.students.into_iter().collect(),
            topics: state.classroom.topics.into_iter().collect(),
            pending_removals: state.classroom.pending_removals.into_iter().collect(),
            invitations: state.classroom.invitations.into_iter().collect(),
            guardians: state.classroom.guardians.into_iter().collect(),
            line_items: state.exported.line_items.into_iter().collect(),
            results: state.exported.results.into_iter().collect(),
            categories: state.exported.categories.into_iter().collect(),
            failures: state.failures.into_iter().collect(),
            ledger_slice: state.exported.slice,
            enrollment_slice: state.enrollment_slice,
        }
    }

    pub(crate) fn add(
        &mut self,
        StateRow(part, source, table, id, value): StateRow,
    ) -> Result<(), String> {
        let mut json = serde_json::Deserializer::from_str(value.json());
        self.add_from(part, &source, &table, id, &mut json)
            .map_err(|e| format!("state row {}/{table}: {e}", part.key()))
    }

    /// Reads one row's value from `value` straight into its table's type.
    fn add_from<'de, D: Deserializer<'de>>(
        &mut self,
        part: StatePart,
        source: &str,
        table: &str,
        id: String,
        value: D,
    ) -> Result<(), D::Error> {
        match (part, table) {
            (StatePart::Sources, _) => {
                // Looked up by the borrowed name: a source is named once, its rows millions.
                let rows = match self.sources.get_mut(source) {
                    Some(rows) => rows,
                    None => self.sources.entry(source.to_string()).or_default(),
                };
                rows.add(table, id, value)
            }
            (StatePart::Roster, _) => self.roster.add(table, id, value),
            (StatePart::Classroom, "courses") => push(&mut self.courses, id, value),
            (StatePart::Classroom, "teachers") => push(&mut self.teachers, id, value),
            (StatePart::Classroom, "students") => push(&mut self.students, id, value),
            (StatePart::Classroom, "topics") => push(&mut self.topics, id, value),
            (StatePart::Classroom, "pendingRemovals") => {
                push(&mut self.pending_removals, id, value)
            }
            (StatePart::Classroom, "invitations") => push(&mut self.invitations, id, value),
            (StatePart::Classroom, "guardians") => push(&mut self.guardians, id, value),
            (StatePart::Exported, "lineItems") => push(&mut self.line_items, id, value),
            (StatePart::Exported, "results") => push(&mut self.results, id, value),
            (StatePart::Exported, "categories") => push(&mut self.categories, id, value),
            (StatePart::Failures, _) => push(&mut self.failures, id, value),
            _ => Err(D::Error::custom(format!("no state table '{table}'"))),
        }
    }

    pub(crate) fn build(self) -> SyncState {
        SyncState {
            version: STATE_VERSION,
            revision: self.revision,
            sources: self
                .sources
                .into_iter()
                .map(|(id, rows)| (id, rows.build()))
                .collect(),
            roster: self.roster.build(),
            classroom: AppliedClassroom {
                courses: self.courses.into_iter().collect(),
                teachers: self.teachers.into_iter().collect(),
                students: self.students.into_iter().collect(),
                topics: self.topics.into_iter().collect(),
                pending_removals: self.pending_removals.into_iter().collect(),
                invitations: self.invitations.into_iter().collect(),
                guardians: self.guardians.into_iter().collect(),
            },
            exported: ExportedGradebook {
                line_items: self.line_items.into_iter().collect(),
                results: self.results.into_iter().collect(),
                categories: self.categories.into_iter().collect(),
                slice: self.ledger_slice,
            },
            failures: self.failures.into_iter().collect(),
            enrollment_slice: self.enrollment_slice,
        }
    }
}

fn push<'de, V: Deserialize<'de>, D: Deserializer<'de>>(
    table: &mut Vec<(String, V)>,
    id: String,
    value: D,
) -> Result<(), D::Error> {
    let value = V::deserialize(value).map_err(|e| D::Error::custom(format!("{id}: {e}")))?;
    table.push((id, value));
    Ok(())
}

/// Reads a `stateRows` chunk's rows straight into the builder's tables: each value is parsed
/// once, into its type, never kept as text.
struct RowsSeed<'a>(&'a mut StateBuilder);

impl<'de> DeserializeSeed<'de> for RowsSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RowsSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a list of state rows")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut rows: A) -> Result<(), A::Error> {
        while rows.next_element_seed(RowSeed(&mut *self.0))?.is_some() {}
        Ok(())
    }
}

struct RowSeed<'a>(&'a mut StateBuilder);

impl<'de> DeserializeSeed<'de> for RowSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RowSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a state row [part, source, table, id, value]")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut row: A) -> Result<(), A::Error> {
        let missing = |what: &str| A::Error::custom(format!("a state row without its {what}"));
        // Source, table and id are read in place where the text allows (a row's id is
        // copied once, into its table): a district's session reads millions of rows.
        let part: StatePart = row.next_element()?.ok_or_else(|| missing("part"))?;
        let source: Text<'de> = row.next_element()?.ok_or_else(|| missing("source"))?;
        let table: Text<'de> = row.next_element()?.ok_or_else(|| missing("table"))?;
        let id: Text<'de> = row.next_element()?.ok_or_else(|| missing("id"))?;
        let (source, table, id) = (source.0, table.0, id.0);
        let value = ValueSeed {
            builder: self.0,
            part,
            source: &source,
            table: &table,
            id: &id,
        };
        row.next_element_seed(value)
            .map_err(|e| A::Error::custom(format!("state row {}/{table}: {e}", part.key())))?
            .ok_or_else(|| missing("value"))?;
        if row.next_element::<serde::de::IgnoredAny>()?.is_some() {
            return Err(A::Error::custom(format!(
                "state row {}/{table}/{id} has more than five elements",
                part.key()
            )));
        }
        Ok(())
    }
}

/// A string read in place when its JSON has no escapes, else copied.
struct Text<'de>(std::borrow::Cow<'de, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }

            fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(std::borrow::Cow::Borrowed(v)))
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text(std::borrow::Cow::Owned(v.to_string())))
            }

            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Text<'de>, E> {
                Ok(Text(std::borrow::Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(TextVisitor)
    }
}

struct ValueSeed<'a, 't> {
    builder: &'a mut StateBuilder,
    part: StatePart,
    source: &'t str,
    table: &'t str,
    id: &'t str,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        self.builder.add_from(
            self.part,
            self.source,
            self.table,
            self.id.to_string(),
            deserializer,
        )
    }
}

/// Whether a chunk's JSON is `{"stateRows": ...}`, read past leading whitespace.
fn is_state_rows(json: &[u8]) -> bool {
    let rest = json.trim_ascii_start();
    rest.strip_prefix(b"{")
        .is_some_and(|r| r.trim_ascii_start().starts_with(b"\"stateRows\""))
}

/// `{"stateRows": [...]}` read with [`RowsSeed`].
struct StateRowsChunk<'a>(&'a mut StateBuilder);

impl<'de> Visitor<'de> for StateRowsChunk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("{\"stateRows\": [...]}")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = false;
        while let Some(key) = map.next_key::<String>()? {
            if key != "stateRows" || seen {
                return Err(A::Error::custom(format!(
                    "a stateRows chunk has one key, stateRows; found '{key}'"
                )));
            }
            map.next_value_seed(RowsSeed(&mut *self.0))?;
            seen = true;
        }
        Ok(())
    }
}
