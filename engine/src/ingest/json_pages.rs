//! OneRoster REST collection pages (both versions) -> raw collections.

use std::collections::BTreeMap;

use serde_json::value::RawValue;

use super::fields::raw_kind;
use super::raw::{Location, RawCollection, RawObject, RawRecord};
use crate::input::{Collection, FetchMode};
use crate::model::{EntityKind, RecordIssue};

/// A source's REST collections grouped by the entity they hold ("students" and "teachers"
/// are users), each group still as the pages' text. Collections classbridge does not use are
/// reported and dropped here.
pub(crate) type EntityPages = BTreeMap<EntityKind, Vec<NamedCollection>>;

/// One REST collection as sent, with the envelope key its pages carry.
pub(crate) struct NamedCollection {
    name: String,
    envelope: &'static str,
    collection: Collection,
}

pub(crate) fn by_entity(
    source: &str,
    collections: BTreeMap<String, Collection>,
    issues: &mut Vec<RecordIssue>,
) -> EntityPages {
    let mut groups = EntityPages::new();
    for (name, collection) in collections {
        let Some((entity, envelope)) = EntityKind::from_collection(&name) else {
            issues.push(RecordIssue::warning(
                source,
                name.as_str(),
                None,
                format!("collection '{name}' is not used by classbridge; ignored"),
            ));
            continue;
        };
        groups.entry(entity).or_default().push(NamedCollection {
            name,
            envelope,
            collection,
        });
    }
    groups
}

/// Reads every page of one entity's collections. A page without its envelope key is an
/// error, never an empty roster: the entity is then unreadable (`Err` with the reason).
pub(crate) fn read_entity<'a>(
    source: &str,
    group: &'a mut [NamedCollection],
    issues: &mut Vec<RecordIssue>,
) -> Result<RawCollection<'a>, String> {
    let mut out = RawCollection {
        mode: FetchMode::Full,
        records: Vec::new(),
    };
    let mut unreadable = None;
    for NamedCollection {
        name,
        envelope,
        collection,
    } in group
    {
        match read_pages(name, envelope, collection, issues, source) {
            Ok(records) => {
                // A collection read in part as delta is delta as a whole: absence proves nothing.
                if collection.mode == FetchMode::Delta {
                    out.mode = FetchMode::Delta;
                }
                out.records.extend(records);
            }
            Err(reason) => {
                issues.push(RecordIssue::error(
                    source,
                    name.as_str(),
                    None,
                    reason.clone(),
                ));
                unreadable.get_or_insert(reason);
            }
        }
    }
    // One unreadable collection makes the entity unreadable: its other collections alone
    // would look like deletions.
    match unreadable {
        Some(reason) => Err(reason),
        None => Ok(out),
    }
}

/// The records of a collection's pages, each with its own text. The pages are taken: each
/// is freed once its records are cut from it.
fn read_pages<'a>(
    name: &'a str,
    envelope: &str,
    collection: &mut Collection,
    issues: &mut Vec<RecordIssue>,
    source: &str,
) -> Result<Vec<RawRecord<'a>>, String> {
    let mut records = Vec::new();
    for (page_no, page) in std::mem::take(&mut collection.pages)
        .into_iter()
        .enumerate()
    {
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
                    obj: RawObject::Text(item.to_owned()),
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
