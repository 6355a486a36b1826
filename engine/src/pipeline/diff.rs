//! Diff: the merged roster against the last accepted one, field by field. A change of
//! `dateLastModified` alone is not a change.

use serde_json::Value;

use crate::config::ChangeKind;
use crate::for_each_roster_kind;
use crate::model::*;
use crate::plan::{FieldChange, RosterChange};

/// Fields that say when, not what.
const IGNORED: &[&str] = &["dateLastModified"];

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
    let before = R::table(previous);
    let after = R::table(current);
    for (id, old) in before {
        match after.get(id) {
            None => changes.push(RosterChange {
                entity: R::KIND,
                sourced_id: id.clone(),
                change: ChangeKind::Delete,
                fields: Vec::new(),
                cause: None,
            }),
            Some(new) if new != old => {
                let fields = field_changes(old, new);
                if !fields.is_empty() {
                    changes.push(RosterChange {
                        entity: R::KIND,
                        sourced_id: id.clone(),
                        change: ChangeKind::Update,
                        fields,
                        cause: None,
                    });
                }
            }
            Some(_) => {}
        }
    }
    for id in after.keys().filter(|id| !before.contains_key(*id)) {
        changes.push(RosterChange {
            entity: R::KIND,
            sourced_id: id.clone(),
            change: ChangeKind::Create,
            fields: Vec::new(),
            cause: None,
        });
    }
}

pub fn field_changes<R: RosterRecord>(old: &R, new: &R) -> Vec<FieldChange> {
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
pub fn created_fields<R: RosterRecord>(record: &R) -> Vec<FieldChange> {
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
