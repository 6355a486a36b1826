//! Raw collections: records still as JSON objects, grouped by entity, with where each came from.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::input::FetchMode;
use crate::model::EntityKind;

/// A record as read, with where it was found.
pub(crate) struct RawRecord<'a> {
    pub obj: RawObject,
    pub location: Location<'a>,
}

/// REST records stay JSON text until their table is built, each its own text cut from its
/// page (the page is freed once cut): a collection's records are then parsed one at a time,
/// and each one's text freed as it is, so a district's pages are never held beside all of
/// their records. CSV rows are built as objects.
pub(crate) enum RawObject {
    Tree(Map<String, Value>),
    Text(Box<RawValue>),
}

impl RawObject {
    pub(crate) fn into_tree(self) -> Result<Map<String, Value>, String> {
        match self {
            RawObject::Tree(map) => Ok(map),
            RawObject::Text(text) => serde_json::from_str(text.get())
                .map_err(|e| format!("is not a readable JSON object ({e})")),
        }
    }
}

/// Where a record was found. Formatted only when a message needs it: most records never do.
#[derive(Clone, Copy)]
pub(crate) enum Location<'a> {
    Page {
        collection: &'a str,
        page: usize,
        item: usize,
    },
    CsvLine {
        file: &'a str,
        line: usize,
    },
}

impl fmt::Display for Location<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Page {
                collection,
                page,
                item,
            } => write!(f, "{collection} page {page} item {item}"),
            Location::CsvLine { file, line } => write!(f, "{file} line {line}"),
        }
    }
}

pub(crate) struct RawCollection<'a> {
    pub mode: FetchMode,
    pub records: Vec<RawRecord<'a>>,
}

/// A source's collections, plus the entities that could not be read at all (the previous
/// snapshot is kept for those, and the run is held).
#[derive(Default)]
pub(crate) struct RawSource<'a> {
    pub collections: BTreeMap<EntityKind, RawCollection<'a>>,
    pub unreadable: BTreeMap<EntityKind, String>,
}

impl<'a> RawSource<'a> {
    pub(crate) fn push(&mut self, kind: EntityKind, mode: FetchMode, records: Vec<RawRecord<'a>>) {
        let entry = self.collections.entry(kind).or_insert(RawCollection {
            mode,
            records: Vec::new(),
        });
        // A collection read in part as delta is delta as a whole: absence proves nothing.
        if mode == FetchMode::Delta {
            entry.mode = FetchMode::Delta;
        }
        entry.records.extend(records);
    }
}
