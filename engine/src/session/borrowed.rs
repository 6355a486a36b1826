//! The chunks of a borrowed input, written as JSON one at a time: what a host feeds to ask
//! which enrolments a run needs while it keeps the input to plan. Nothing of the input is
//! copied: each chunk is written from the input's own pages and records (a full read at
//! 200,000 students holds gigabytes of SIS and Classroom pages, which a copy would double).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::SessionStart;
use super::chunks::{CLASSROOM_CHUNK_BYTES, RowTables, cannot_write};
use crate::error::EngineError;
use crate::input::{
    ClassroomListings, FetchMode, ListPage, RemovalCheck, SourcePayload, SyncInput,
};
use crate::json_text::JsonText;

/// The start of a session for `input`, borrowed (with [`chunk_texts`]).
pub fn start_of(input: &SyncInput) -> SessionStart {
    SessionStart {
        config: input.config.clone(),
        now: input.now.clone(),
        state_revision: input.previous_state.revision,
        ledger_slice: input.previous_state.exported.slice.clone(),
    }
}

/// The chunks of `input` as JSON, made from a borrowed input one at a time: each source
/// page, the Classroom listings, then the state's rows `rows_per_chunk` a chunk. The same
/// bytes as [`super::chunks_of`]'s texts.
pub fn chunk_texts(
    input: &SyncInput,
    rows_per_chunk: usize,
) -> impl Iterator<Item = Result<Vec<u8>, EngineError>> + '_ {
    let mut head: Vec<ChunkRef<'_>> = Vec::new();
    for source in &input.sources {
        let source_id = source.source_id.as_str();
        match &source.payload {
            SourcePayload::Json { collections } => {
                for (name, collection) in collections {
                    let page_chunk = |page| {
                        ChunkRef::SourcePage(SourcePageRef {
                            source_id,
                            collection: name,
                            mode: collection.mode,
                            page,
                        })
                    };
                    if collection.pages.is_empty() {
                        head.push(page_chunk(None));
                    }
                    head.extend(collection.pages.iter().map(|p| page_chunk(Some(p))));
                }
            }
            SourcePayload::Csv { files } => {
                head.push(ChunkRef::SourceFiles(SourceFilesRef { source_id, files }));
            }
        }
        if !source.removal_checks.is_empty() {
            head.push(ChunkRef::RemovalChecks(SourceChecksRef {
                source_id,
                checks: &source.removal_checks,
            }));
        }
    }
    head.extend(
        listing_pieces(&input.classroom, CLASSROOM_CHUNK_BYTES)
            .into_iter()
            .map(ChunkRef::Classroom),
    );
    let head = head
        .into_iter()
        .map(|chunk| serde_json::to_vec(&chunk).map_err(|e| cannot_write("a chunk", &e)));
    let mut rows = RowTables::borrowed(&input.previous_state);
    let batches = std::iter::from_fn(move || rows.next_batch(rows_per_chunk));
    head.chain(batches)
}

/// [`super::Chunk`] over borrowed data: written as the same JSON.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
enum ChunkRef<'a> {
    SourcePage(SourcePageRef<'a>),
    SourceFiles(SourceFilesRef<'a>),
    RemovalChecks(SourceChecksRef<'a>),
    Classroom(ListingsRef<'a>),
}

/// [`super::SourcePage`], borrowed.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SourcePageRef<'a> {
    source_id: &'a str,
    collection: &'a str,
    mode: FetchMode,
    #[serde(skip_serializing_if = "Option::is_none")]
    page: Option<&'a JsonText>,
}

/// [`super::SourceFiles`], borrowed.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SourceFilesRef<'a> {
    source_id: &'a str,
    files: &'a BTreeMap<String, String>,
}

/// [`super::SourceChecks`], borrowed.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SourceChecksRef<'a> {
    source_id: &'a str,
    checks: &'a [RemovalCheck],
}

/// A piece of [`ClassroomListings`], borrowed (fields in its order, written alike).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListingsRef<'a> {
    courses: Vec<&'a ListPage>,
    aliases: BTreeMap<&'a str, Vec<&'a ListPage>>,
    course_gets: Vec<&'a ListPage>,
    found_by_alias: &'a BTreeMap<String, String>,
    teachers: Vec<&'a ListPage>,
    students: Vec<&'a ListPage>,
    topics: Vec<&'a ListPage>,
    course_work: Vec<&'a ListPage>,
    student_submissions: Vec<&'a ListPage>,
    course_work_complete: &'a BTreeSet<String>,
    members_complete: &'a BTreeSet<String>,
}

static NO_ALIASES: BTreeMap<String, String> = BTreeMap::new();
static NO_COURSES: BTreeSet<String> = BTreeSet::new();

impl ListingsRef<'_> {
    fn empty() -> Self {
        ListingsRef {
            courses: Vec::new(),
            aliases: BTreeMap::new(),
            course_gets: Vec::new(),
            found_by_alias: &NO_ALIASES,
            teachers: Vec::new(),
            students: Vec::new(),
            topics: Vec::new(),
            course_work: Vec::new(),
            student_submissions: Vec::new(),
            course_work_complete: &NO_COURSES,
            members_complete: &NO_COURSES,
        }
    }
}

/// [`super::classroom_pieces`] over borrowed listings: the same pieces, the same order.
fn listing_pieces<'a>(listings: &'a ClassroomListings, max_bytes: usize) -> Vec<ListingsRef<'a>> {
    let mut pieces = Vec::new();
    let mut piece = ListingsRef::empty();
    let mut bytes = 0usize;
    // Starts a new piece when the next page would take this one past the bound.
    let mut room_for =
        |len: usize, piece: &mut ListingsRef<'a>, pieces: &mut Vec<ListingsRef<'a>>| {
            if bytes > 0 && bytes + len > max_bytes {
                pieces.push(std::mem::replace(piece, ListingsRef::empty()));
                bytes = 0;
            }
            bytes += len;
        };
    type List<'a> = for<'p> fn(&'p mut ListingsRef<'a>) -> &'p mut Vec<&'a ListPage>;
    let l = listings;
    let lists: [(&'a Vec<ListPage>, List<'a>); 7] = [
        (&l.courses, |p| &mut p.courses),
        (&l.course_gets, |p| &mut p.course_gets),
        (&l.teachers, |p| &mut p.teachers),
        (&l.students, |p| &mut p.students),
        (&l.topics, |p| &mut p.topics),
        (&l.course_work, |p| &mut p.course_work),
        (&l.student_submissions, |p| &mut p.student_submissions),
    ];
    for (pages, list) in lists {
        for page in pages {
            room_for(page.json().len(), &mut piece, &mut pieces);
            list(&mut piece).push(page);
        }
    }
    for (course, pages) in &l.aliases {
        for page in pages {
            room_for(page.json().len(), &mut piece, &mut pieces);
            piece.aliases.entry(course).or_default().push(page);
        }
    }
    piece.found_by_alias = &l.found_by_alias;
    piece.course_work_complete = &l.course_work_complete;
    piece.members_complete = &l.members_complete;
    pieces.push(piece);
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(text: &str) -> ListPage {
        serde_json::from_str(text).expect("page")
    }

    #[test]
    fn borrowed_listings_are_cut_and_written_as_owned_ones_are() {
        let big = format!("{{\"courses\": [{{\"id\": \"{}\"}}]}}", "c".repeat(40));
        let listings = ClassroomListings {
            courses: vec![page(&big), page(&big), page(&big)],
            aliases: BTreeMap::from([
                ("c1".to_string(), vec![page(&big)]),
                ("c2".to_string(), vec![page(&big), page(&big)]),
            ]),
            course_gets: vec![page(&big)],
            found_by_alias: BTreeMap::from([("d:x".to_string(), "c9".to_string())]),
            teachers: vec![page(&big)],
            students: vec![page(&big), page(&big)],
            topics: vec![page(&big)],
            course_work: vec![page(&big)],
            student_submissions: vec![page(&big)],
            course_work_complete: BTreeSet::from(["c1".to_string()]),
            members_complete: BTreeSet::from(["c2".to_string()]),
        };
        for max in [1, 100, 250, 1 << 20] {
            let owned: Vec<String> = super::super::classroom_pieces(listings.clone(), max)
                .iter()
                .map(|p| serde_json::to_string(p).expect("JSON"))
                .collect();
            let borrowed: Vec<String> = listing_pieces(&listings, max)
                .iter()
                .map(|p| serde_json::to_string(p).expect("JSON"))
                .collect();
            assert!(
                owned.len() > usize::from(max < 1 << 20),
                "{max}: {}",
                owned.len()
            );
            assert_eq!(borrowed, owned, "{max} bytes a piece");
        }
    }
}
