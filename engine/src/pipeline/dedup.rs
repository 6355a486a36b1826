//! Domains of uniqueness: sets of fields that must be unique within the district or a school.
//! Duplicates are reported and resolved by the configured rule, never silently merged.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::config::{DuplicateAction, SyncConfig, UniquenessDomain, UniquenessScope};
use crate::for_each_kind;
use crate::ingest::lookup;
use crate::model::*;
use crate::plan::{HoldCode, HoldReason};

pub(crate) struct DedupOutcome {
    pub holds: Vec<HoldReason>,
    pub skipped: BTreeMap<String, u64>,
}

pub(crate) fn dedup(
    config: &SyncConfig,
    roster: &mut Roster,
    issues: &mut Vec<RecordIssue>,
    skips: &mut super::skips::Skips,
) -> DedupOutcome {
    let mut out = DedupOutcome {
        holds: Vec::new(),
        skipped: BTreeMap::new(),
    };
    for (number, domain) in config.uniqueness.iter().enumerate() {
        for_each_kind!(dedup_table(
            (number, domain),
            roster,
            issues,
            &mut out,
            skips
        ));
    }
    for (kind, n) in super::integrity::prune(roster, skips) {
        *out.skipped
            .entry(format!("{}.dependsOnDuplicate", kind.singular()))
            .or_default() += n;
    }
    out
}

fn key_part(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => text_key_part(Some(s)),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A text value as a key: trimmed and lower-cased; blank is no value.
fn text_key_part(text: Option<&str>) -> Option<String> {
    text.map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_lowercase)
}

/// The school a record belongs to, for school-scoped domains.
fn scope_of<R: RosterRecord>(record: &R) -> String {
    record
        .references()
        .into_iter()
        .find(|(k, id)| *k == EntityKind::Org && !id.is_empty())
        .map(|(_, id)| id.to_string())
        .unwrap_or_default()
}

/// The values a record shares with its duplicates in a domain; `None` when it lacks one of
/// the domain's fields (it is then not part of the domain).
pub(crate) fn domain_key<R: TableRecord>(
    domain: &UniquenessDomain,
    record: &R,
) -> Option<Vec<String>> {
    // Written out as a JSON object only when a field is not one the record reads in place.
    let mut fields = None;
    let mut key = domain
        .fields
        .iter()
        .map(|f| match record.text_field(f) {
            Some(text) => text_key_part(text),
            None => key_part(lookup(fields.get_or_insert_with(|| record.fields()), f)),
        })
        .collect::<Option<Vec<_>>>()?;
    if domain.scope == UniquenessScope::School {
        key.push(scope_of(record));
    }
    Some(key)
}

fn dedup_table<R: TableRecord>(
    (number, domain): (usize, &UniquenessDomain),
    roster: &mut Roster,
    issues: &mut Vec<RecordIssue>,
    out: &mut DedupOutcome,
    skips: &mut super::skips::Skips,
) {
    if domain.entity != R::KIND {
        return;
    }
    let mut groups: BTreeMap<Vec<String>, Vec<String>> = BTreeMap::new();
    for (id, record) in R::table(roster) {
        let Some(key) = domain_key(domain, record) else {
            continue;
        };
        groups.entry(key).or_default().push(id.clone());
    }
    let fields = domain.fields.join("+");
    let entity = R::KIND.collection();
    let mut held = 0u64;
    let mut drop = Vec::new();
    for (key, ids) in groups.into_iter().filter(|(_, ids)| ids.len() > 1) {
        let shown = key[..domain.fields.len()].join(", ");
        for (i, id) in ids.iter().enumerate() {
            let others: Vec<&str> = ids
                .iter()
                .filter(|o| *o != id)
                .map(String::as_str)
                .collect();
            let (dropped, what) = match domain.on_duplicate {
                DuplicateAction::Report => (false, "kept"),
                DuplicateAction::KeepFirst if i == 0 => (false, "kept (first by sourcedId)"),
                DuplicateAction::KeepFirst => (true, "skipped"),
                DuplicateAction::SkipAll => (true, "skipped"),
                DuplicateAction::Hold => (false, "kept; the run is held"),
            };
            issues.push(RecordIssue::error(
                "roster",
                entity,
                Some(id),
                format!(
                    "duplicate {fields} '{shown}' (also {}); {what}",
                    others.join(", ")
                ),
            ));
            if dropped {
                let user = (R::KIND == EntityKind::User).then_some(id.as_str());
                skips.rule(
                    R::KIND,
                    id,
                    user,
                    (
                        crate::explanation::RuleKind::Uniqueness,
                        format!("uniqueness[{number}]"),
                        format!(
                            "{entity} sharing {fields} '{shown}' with another ({}) are {what}",
                            others.join(", ")
                        ),
                    ),
                );
                drop.push(id.clone());
            }
        }
        if domain.on_duplicate == DuplicateAction::Hold {
            held += ids.len() as u64;
        }
    }
    if !drop.is_empty() {
        *out.skipped
            .entry(format!("{}.duplicate", R::KIND.singular()))
            .or_default() += drop.len() as u64;
        let table = R::table_mut(roster);
        for id in drop {
            table.remove(&id);
        }
    }
    if held > 0 {
        out.holds.push(HoldReason {
            code: HoldCode::Duplicates,
            entity: Some(R::KIND),
            source: None,
            message: format!(
                "{held} {entity} have the same {fields} as another record (domain of uniqueness)"
            ),
        });
    }
}
