//! OneRoster REST collection pages (both versions) -> raw collections.

use std::collections::BTreeMap;

use serde_json::value::RawValue;

use super::fields::raw_kind;
use super::raw::{Location, RawObject, RawRecord, RawSource};
use crate::input::Collection;
use crate::model::{EntityKind, RecordIssue};

/// Reads every page of every collection. A page without its envelope key is an error, never
/// an empty roster: the whole collection is marked unreadable.
pub fn read<'a>(
    source: &str,
    collections: &'a BTreeMap<String, Collection>,
    issues: &mut Vec<RecordIssue>,
) -> RawSource<'a> {
    let mut raw = RawSource::default();
    for (name, collection) in collections {
        let Some((entity, envelope)) = EntityKind::from_collection(name) else {
            issues.push(RecordIssue::warning(
                source,
                name.as_str(),
                None,
                format!("collection '{name}' is not used by classbridge; ignored"),
            ));
            continue;
        };
        match read_pages(name, envelope, collection, issues, source) {
            Ok(records) => raw.push(entity, collection.mode, records),
            Err(reason) => {
                issues.push(RecordIssue::error(
                    source,
                    name.as_str(),
                    None,
                    reason.clone(),
                ));
                raw.unreadable.insert(entity, reason);
            }
        }
    }
    raw
}

fn read_pages<'a>(
    name: &'a str,
    envelope: &str,
    collection: &'a Collection,
    issues: &mut Vec<RecordIssue>,
    source: &str,
) -> Result<Vec<RawRecord<'a>>, String> {
    let mut records = Vec::new();
    for (page_no, page) in collection.pages.iter().enumerate() {
        let page_no = page_no + 1;
        // Only the page's top level is read here; its records stay text until their table
        // is built.
        let Ok(page_obj) = serde_json::from_str::<BTreeMap<String, &RawValue>>(page.json()) else {
            return Err(format!(
                "{name} page {page_no} is {}, not an object; the collection was not used",
                raw_kind(page.json())
            ));
        };
        let Some(items) = page_obj.get(envelope) else {
            return Err(format!(
                "{name} page {page_no} has no '{envelope}' key; a page without its envelope is an error, not an empty roster"
            ));
        };
        let Ok(items) = serde_json::from_str::<Vec<&RawValue>>(items.get()) else {
            return Err(format!(
                "{name} page {page_no}: '{envelope}' is {}, not a list",
                raw_kind(items.get())
            ));
        };
        for (i, item) in items.into_iter().enumerate() {
            let location = Location::Page {
                collection: name,
                page: page_no,
                item: i + 1,
            };
            match raw_kind(item.get()) {
                "an object" => records.push(RawRecord {
                    obj: RawObject::Text(item),
                    location,
                }),
                other => issues.push(RecordIssue::error(
                    source,
                    envelope,
                    None,
                    format!("{location} is {other}, not an object"),
                )),
            }
        }
    }
    Ok(records)
}
