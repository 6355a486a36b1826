//! Raw collections: records still as JSON objects, grouped by entity, with where each came from.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::input::FetchMode;
use crate::model::EntityKind;

pub struct RawRecord {
    pub obj: Map<String, Value>,
    /// Where the record was found, for messages: `users page 3 item 17`, `users.csv line 42`.
    pub location: String,
}

pub struct RawCollection {
    pub mode: FetchMode,
    pub records: Vec<RawRecord>,
}

/// A source's collections, plus the entities that could not be read at all (the previous
/// snapshot is kept for those, and the run is held).
#[derive(Default)]
pub struct RawSource {
    pub collections: BTreeMap<EntityKind, RawCollection>,
    pub unreadable: BTreeMap<EntityKind, String>,
}

impl RawSource {
    pub fn push(&mut self, kind: EntityKind, mode: FetchMode, records: Vec<RawRecord>) {
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
