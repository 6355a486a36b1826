//! Diff: the merged roster against the last accepted one, field by field. A change of
//! `dateLastModified` alone is not a change.

use std::cmp::Ordering;

use serde_json::Value;

use crate::config::ChangeKind;
use crate::for_each_roster_kind;
use crate::model::*;
use crate::plan::{FieldChange, RosterChange};

/// Fields that say when, not what.
const IGNORED: &[&str] = &["dateLastModified"];

/// The changes from one roster to the next, entity by entity.
#[cfg_attr(not(feature = "internals"), allow(unreachable_pub))]
pub fn diff(previous: &Roster, current: &Roster) -> Vec<RosterChange> {
    let mut changes = Vec::new();
    for_each_roster_kind!(diff_table(previous, current, &mut changes));
    changes
}

fn diff_table<R: TableRecord>(
    previous: &Roster,
    current: &Roster,
    changes: &mut Vec<RosterChange>,
) {
    let change = |id: &String, change, fields| RosterChange {
        entity: R::KIND,
        sourced_id: id.clone(),
        change,
        fields,
        cause: None,
    };
    // Both tables are sorted by id: walk them side by side instead of looking each id up.
    let mut before = R::table(previous).iter().peekable();
    let mut after = R::table(current).iter().peekable();
    let mut created = Vec::new();
    loop {
        let step = match (before.peek(), after.peek()) {
            (None, None) => break,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some((old_id, _)), Some((new_id, _))) => old_id.cmp(new_id),
        };
        match step {
            Ordering::Less => {
                if let Some((id, _)) = before.next() {
                    changes.push(change(id, ChangeKind::Delete, Vec::new()));
                }
            }
            Ordering::Greater => {
                if let Some((id, _)) = after.next() {
                    created.push(change(id, ChangeKind::Create, Vec::new()));
                }
            }
            Ordering::Equal => {
                if let (Some((id, old)), Some((_, new))) = (before.next(), after.next())
                    && old != new
                {
                    let fields = field_changes(old, new);
                    if !fields.is_empty() {
                        changes.push(change(id, ChangeKind::Update, fields));
                    }
                }
            }
        }
    }
    // Deletions and updates first, then creations, as before.
    changes.extend(created);
}

pub(crate) fn field_changes<R: RosterRecord>(old: &R, new: &R) -> Vec<FieldChange> {
    let old = old.fields();
    let new = new.fields();
    let mut names: Vec<&String> = old
        .keys()
        .chain(new.keys())
        .filter(|k| !IGNORED.contains(&k.as_str()))
        .collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter_map(|name| {
            let (b, a) = (
                old.get(name).filter(|v| !v.is_null()),
                new.get(name).filter(|v| !v.is_null()),
            );
            (b != a).then(|| FieldChange {
                field: name.clone(),
                before: b.cloned(),
                after: a.cloned(),
            })
        })
        .collect()
}

/// All fields of a record as "after" values: how a creation is shown in samples.
pub(crate) fn created_fields<R: RosterRecord>(record: &R) -> Vec<FieldChange> {
    record
        .fields()
        .into_iter()
        .filter(|(k, v)| !IGNORED.contains(&k.as_str()) && !v.is_null())
        .map(|(field, v): (String, Value)| FieldChange {
            field,
            before: None,
            after: Some(v),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn orgs(entries: &[(&str, &str)]) -> Roster {
        let mut roster = Roster::default();
        for (id, name) in entries {
            roster.orgs.insert(
                (*id).to_string(),
                Org {
                    sourced_id: (*id).to_string(),
                    name: (*name).to_string(),
                    date_last_modified: Some(format!("2026-09-0{}", name.len() % 9).into()),
                    ..Org::default()
                },
            );
        }
        roster
    }

    #[test]
    fn interleaved_ids_give_each_change_once() {
        let before = orgs(&[("a", "A"), ("c", "C"), ("e", "E"), ("g", "G")]);
        let after = orgs(&[("b", "B"), ("c", "C2"), ("d", "D"), ("e", "E"), ("h", "H")]);
        let got: Vec<(String, ChangeKind)> = diff(&before, &after)
            .into_iter()
            .map(|c| (c.sourced_id, c.change))
            .collect();
        let want = [
            ("a", ChangeKind::Delete),
            ("c", ChangeKind::Update),
            ("g", ChangeKind::Delete),
            ("b", ChangeKind::Create),
            ("d", ChangeKind::Create),
            ("h", ChangeKind::Create),
        ];
        let want: Vec<(String, ChangeKind)> =
            want.iter().map(|(id, k)| ((*id).to_string(), *k)).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn a_new_modification_time_alone_is_no_change() {
        let before = orgs(&[("a", "Same")]);
        let mut after = before.clone();
        if let Some(org) = after.orgs.get_mut("a") {
            org.date_last_modified = Some("2027-01-01".into());
        }
        assert!(diff(&before, &after).is_empty());
    }
}
