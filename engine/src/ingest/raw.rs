//! Raw collections: records still as JSON objects, grouped by entity, with where each came from.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};

use crate::input::FetchMode;
use crate::model::EntityKind;

/// A record as read. REST records are borrowed from the input and only copied when an
/// attribute mapping has to change them; CSV rows are built here and owned.
pub struct RawRecord<'a> {
    pub obj: Cow<'a, Map<String, Value>>,
    pub location: Location<'a>,
}

/// Where a record was found. Formatted only when a message needs it: most records never do.
#[derive(Clone, Copy)]
pub enum Location<'a> {
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

pub struct RawCollection<'a> {
    pub mode: FetchMode,
    pub records: Vec<RawRecord<'a>>,
}

/// A source's collections, plus the entities that could not be read at all (the previous
/// snapshot is kept for those, and the run is held).
#[derive(Default)]
pub struct RawSource<'a> {
    pub collections: BTreeMap<EntityKind, RawCollection<'a>>,
    pub unreadable: BTreeMap<EntityKind, String>,
}

impl<'a> RawSource<'a> {
    pub fn push(&mut self, kind: EntityKind, mode: FetchMode, records: Vec<RawRecord<'a>>) {
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
