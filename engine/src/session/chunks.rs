//! Cutting a whole input into the chunks a session is fed, for a host that holds an input
//! (or an embedder moving from `cb_plan`): each consumed as it is cut.

use std::collections::VecDeque;

use serde::Serialize;

use super::{Chunk, SessionStart, SourceChecks, SourceFiles, SourcePage, StateRow, invalid};
use crate::error::EngineError;
use crate::input::{ClassroomListings, SourcePayload, SyncInput};
use crate::rows::StatePart;
use crate::state::SyncState;

/// The chunks that feed a session the same data as `input` (a host that holds a whole input,
/// or an embedder moving from `cb_plan`): each source page, each source's files and checks,
/// the Classroom listings, then the state's rows, `rows_per_chunk` a chunk. Made as they are
/// taken: the state's tables are consumed as their rows are written, so the input is never
/// held twice (typed and as chunks).
pub fn chunks_of(input: SyncInput, rows_per_chunk: usize) -> (SessionStart, Chunks) {
    let start = SessionStart {
        config: input.config,
        now: input.now,
        state_revision: input.previous_state.revision,
        ledger_slice: input.previous_state.exported.slice.clone(),
    };
    let mut head = Vec::new();
    if let Some(slice) = input.previous_state.enrollment_slice.clone() {
        head.push(Chunk::EnrollmentSlice(slice));
    }
    for source in input.sources {
        let id = source.source_id;
        match source.payload {
            SourcePayload::Json { collections } => {
                for (name, collection) in collections {
                    let page_chunk = |page| {
                        Chunk::SourcePage(SourcePage {
                            source_id: id.clone(),
                            collection: name.clone(),
                            mode: collection.mode,
                            page,
                        })
                    };
                    if collection.pages.is_empty() {
                        head.push(page_chunk(None));
                    }
                    for page in collection.pages {
                        head.push(page_chunk(Some(page)));
                    }
                }
            }
            SourcePayload::Csv { files } => head.push(Chunk::SourceFiles(SourceFiles {
                source_id: id.clone(),
                files,
            })),
        }
        if !source.removal_checks.is_empty() {
            head.push(Chunk::RemovalChecks(SourceChecks {
                source_id: id,
                checks: source.removal_checks,
            }));
        }
    }
    head.extend(
        classroom_pieces(input.classroom, CLASSROOM_CHUNK_BYTES)
            .into_iter()
            .map(|piece| Chunk::Classroom(Box::new(piece))),
    );
    let chunks = Chunks {
        head: head.into_iter(),
        rows: RowTables::owned(input.previous_state),
        rows_per_chunk: rows_per_chunk.max(1),
        scratch: Vec::new(),
    };
    (start, chunks)
}

/// About how many bytes of Classroom pages one chunk carries: a district's listings (1.5 GB
/// of text at 200,000 students when every course is read) would otherwise be one call, near
/// the module's 2 GiB-per-call limit and held twice while it is read.
pub const CLASSROOM_CHUNK_BYTES: usize = 8 << 20;

/// Classroom listings cut into pieces of about `max_bytes` of pages each, in order: fed one
/// after another, they lay over each other into the same listings (lists appended in order,
/// maps and sets merged). The small maps and sets come in the last piece. A page larger than
/// `max_bytes` is a piece of its own.
pub fn classroom_pieces(listings: ClassroomListings, max_bytes: usize) -> Vec<ClassroomListings> {
    let ClassroomListings {
        courses,
        aliases,
        course_gets,
        found_by_alias,
        teachers,
        students,
        topics,
        course_work,
        student_submissions,
        course_work_complete,
        members_complete,
    } = listings;
    let mut pieces = Vec::new();
    let mut piece = ClassroomListings::default();
    let mut bytes = 0usize;
    // Starts a new piece when the next page would take this one past the bound.
    let mut room_for = |len: usize, piece: &mut ClassroomListings, pieces: &mut Vec<_>| {
        if bytes > 0 && bytes + len > max_bytes {
            pieces.push(std::mem::take(piece));
            bytes = 0;
        }
        bytes += len;
    };
    type List = fn(&mut ClassroomListings) -> &mut Vec<crate::input::ListPage>;
    let lists: [(Vec<crate::input::ListPage>, List); 7] = [
        (courses, |l| &mut l.courses),
        (course_gets, |l| &mut l.course_gets),
        (teachers, |l| &mut l.teachers),
        (students, |l| &mut l.students),
        (topics, |l| &mut l.topics),
        (course_work, |l| &mut l.course_work),
        (student_submissions, |l| &mut l.student_submissions),
    ];
    for (pages, list) in lists {
        for page in pages {
            room_for(page.json().len(), &mut piece, &mut pieces);
            list(&mut piece).push(page);
        }
    }
    for (course, pages) in aliases {
        for page in pages {
            room_for(page.json().len(), &mut piece, &mut pieces);
            piece.aliases.entry(course.clone()).or_default().push(page);
        }
    }
    piece.found_by_alias = found_by_alias;
    piece.course_work_complete = course_work_complete;
    piece.members_complete = members_complete;
    pieces.push(piece);
    pieces
}

/// The chunks of [`chunks_of`], made one at a time: as typed [`Chunk`]s (iterating), or as
/// the JSON a session is fed ([`Chunks::texts`]), which writes each state row once, straight
/// from its record into the chunk's text.
pub struct Chunks {
    head: std::vec::IntoIter<Chunk>,
    rows: RowTables<'static>,
    rows_per_chunk: usize,
    /// One row's text, reused (typed chunks only).
    scratch: Vec<u8>,
}

impl Chunks {
    /// The chunks as JSON, each made when taken.
    pub fn texts(mut self) -> impl Iterator<Item = Result<Vec<u8>, EngineError>> {
        std::iter::from_fn(move || match self.head.next() {
            Some(chunk) => Some(chunk_json(&chunk)),
            None => self.rows.next_batch(self.rows_per_chunk),
        })
    }
}

impl Iterator for Chunks {
    type Item = Result<Chunk, EngineError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(chunk) = self.head.next() {
            return Some(Ok(chunk));
        }
        let mut batch = Vec::new();
        let mut scratch = std::mem::take(&mut self.scratch);
        while batch.len() < self.rows_per_chunk {
            scratch.clear();
            match self.rows.write_row(&mut scratch) {
                Some(Ok(())) => match serde_json::from_slice::<StateRow>(&scratch) {
                    Ok(row) => batch.push(row),
                    Err(e) => return Some(Err(cannot_write("a state row", &e))),
                },
                Some(Err(e)) => return Some(Err(e)),
                None => break,
            }
        }
        self.scratch = scratch;
        (!batch.is_empty()).then_some(Ok(Chunk::StateRows(batch)))
    }
}

fn chunk_json(chunk: &Chunk) -> Result<Vec<u8>, EngineError> {
    serde_json::to_vec(chunk).map_err(|e| cannot_write("a chunk", &e))
}

pub(super) fn cannot_write(what: &str, e: &serde_json::Error) -> EngineError {
    invalid(&format!("{what} cannot be written as JSON: {e}"))
}

/// A state's tables in the order their rows are fed, each written row by row (and, when
/// owned, freed as it goes).
pub(super) struct RowTables<'a>(VecDeque<Box<dyn RowSource + 'a>>);

/// Adds every table of a state to a [`RowTables`], in the order rows are fed: `into_iter`
/// for an owned state (each table freed as it is written), `iter` for a borrowed one.
macro_rules! state_tables {
    ($rows:expr, $state:expr, $each:ident) => {{
        let rows = &mut $rows;
        let state = $state;
        for (id, roster) in state.sources.$each() {
            roster_tables!(rows, StatePart::Sources, id.as_str(), roster, $each);
        }
        roster_tables!(rows, StatePart::Roster, "", state.roster, $each);
        let (c, e) = (StatePart::Classroom, StatePart::Exported);
        rows.add(c, "", "courses", state.classroom.courses.$each());
        rows.add(c, "", "teachers", state.classroom.teachers.$each());
        rows.add(c, "", "students", state.classroom.students.$each());
        rows.add(c, "", "topics", state.classroom.topics.$each());
        rows.add(
            c,
            "",
            "pendingRemovals",
            state.classroom.pending_removals.$each(),
        );
        rows.add(c, "", "invitations", state.classroom.invitations.$each());
        rows.add(c, "", "guardians", state.classroom.guardians.$each());
        rows.add(e, "", "lineItems", state.exported.line_items.$each());
        rows.add(e, "", "results", state.exported.results.$each());
        rows.add(e, "", "categories", state.exported.categories.$each());
        rows.add(StatePart::Failures, "", "failures", state.failures.$each());
    }};
}

macro_rules! roster_tables {
    ($rows:expr, $part:expr, $source:expr, $roster:expr, $each:ident) => {{
        $rows.add($part, $source, "orgs", $roster.orgs.$each());
        $rows.add(
            $part,
            $source,
            "academicSessions",
            $roster.academic_sessions.$each(),
        );
        $rows.add($part, $source, "users", $roster.users.$each());
        $rows.add($part, $source, "courses", $roster.courses.$each());
        $rows.add($part, $source, "classes", $roster.classes.$each());
        $rows.add($part, $source, "enrollments", $roster.enrollments.$each());
        $rows.add($part, $source, "categories", $roster.categories.$each());
    }};
}

impl<'a> RowTables<'a> {
    fn owned(state: SyncState) -> RowTables<'static> {
        let mut rows = RowTables(VecDeque::new());
        state_tables!(rows, state, into_iter);
        rows
    }

    pub(super) fn borrowed(state: &'a SyncState) -> RowTables<'a> {
        let mut rows = RowTables(VecDeque::new());
        state_tables!(rows, state, iter);
        rows
    }
    fn add<I, K, V>(&mut self, part: StatePart, source: &str, table: &'static str, entries: I)
    where
        I: Iterator<Item = (K, V)> + 'a,
        K: Serialize,
        V: Serialize,
    {
        self.0.push_back(Box::new(TableRows {
            part,
            source: source.to_string(),
            table,
            entries,
        }));
    }

    /// Writes the next row to `out`; `None` when every table is written.
    fn write_row(&mut self, out: &mut Vec<u8>) -> Option<Result<(), EngineError>> {
        loop {
            match self.0.front_mut()?.write_next(out) {
                Some(written) => {
                    return Some(written.map_err(|e| cannot_write("a state row", &e)));
                }
                None => {
                    self.0.pop_front();
                }
            }
        }
    }

    /// The next `{"stateRows": [...]}` chunk of up to `per` rows; `None` after the last row.
    pub(super) fn next_batch(&mut self, per: usize) -> Option<Result<Vec<u8>, EngineError>> {
        let mut out = b"{\"stateRows\":[".to_vec();
        let mut written = 0;
        while written < per.max(1) {
            let mark = out.len();
            if written > 0 {
                out.push(b',');
            }
            match self.write_row(&mut out) {
                Some(Ok(())) => written += 1,
                Some(Err(e)) => return Some(Err(e)),
                None => {
                    out.truncate(mark);
                    break;
                }
            }
        }
        out.extend_from_slice(b"]}");
        (written > 0).then_some(Ok(out))
    }
}

/// One table's rows.
trait RowSource {
    /// Writes the next row as `[part, source, table, id, value]`; `None` after the last.
    fn write_next(&mut self, out: &mut Vec<u8>) -> Option<Result<(), serde_json::Error>>;
}

struct TableRows<I> {
    part: StatePart,
    source: String,
    table: &'static str,
    entries: I,
}

impl<I, K, V> RowSource for TableRows<I>
where
    I: Iterator<Item = (K, V)>,
    K: Serialize,
    V: Serialize,
{
    fn write_next(&mut self, out: &mut Vec<u8>) -> Option<Result<(), serde_json::Error>> {
        let (id, value) = self.entries.next()?;
        Some(serde_json::to_writer(
            out,
            &(self.part, self.source.as_str(), self.table, id, value),
        ))
    }
}
