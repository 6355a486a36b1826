//! Merge: several sources into one record per entity. A record delivered by one source is
//! taken as it is; one delivered by several is assembled field by field, each field from its
//! master source (then the other sources in configured order).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::config::{FieldMaster, SyncConfig, resolve_master};
use crate::for_each_kind;
use crate::model::*;

pub(crate) fn merge(config: &SyncConfig, sources: &BTreeMap<String, Roster>) -> Roster {
    let ordered: Vec<(&str, &Roster)> = config
        .sources
        .iter()
        .filter_map(|s| sources.get(&s.id).map(|r| (s.id.as_str(), r)))
        .collect();
    let mut merged = Roster::default();
    if let [(_, only)] = ordered.as_slice() {
        return (*only).clone();
    }
    for_each_kind!(merge_table(config, &ordered, &mut merged));
    merged
}

fn merge_table<R: TableRecord>(config: &SyncConfig, ordered: &[(&str, &Roster)], out: &mut Roster) {
    let mut versions: BTreeMap<&str, Vec<(&str, &R)>> = BTreeMap::new();
    for (source, roster) in ordered {
        for (id, record) in R::table(roster) {
            versions
                .entry(id.as_str())
                .or_default()
                .push((source, record));
        }
    }
    let table = R::table_mut(out);
    for (id, versions) in versions {
        let first = versions[0].1;
        let record = if versions.iter().all(|(_, r)| *r == first) {
            first.clone()
        } else {
            merge_record(config, &versions).unwrap_or_else(|| first.clone())
        };
        table.insert(id.to_string(), record);
    }
}

fn merge_record<R: RosterRecord>(config: &SyncConfig, versions: &[(&str, &R)]) -> Option<R> {
    let maps: Vec<(&str, Map<String, Value>)> =
        versions.iter().map(|(s, r)| (*s, r.fields())).collect();
    let role = {
        let mut virt = Map::new();
        versions[0].1.add_virtual_fields(&mut virt);
        virt.get("role").and_then(Value::as_str).map(str::to_string)
    };
    let mut names: Vec<&String> = maps.iter().flat_map(|(_, m)| m.keys()).collect();
    names.sort();
    names.dedup();
    let mut out = Map::new();
    for name in names {
        let master = resolve_master(config, R::KIND, role.as_deref(), name);
        let from_master = match &master {
            FieldMaster::Source(s) => maps
                .iter()
                .find(|(src, _)| src == s)
                .and_then(|(_, m)| m.get(name)),
            _ => None,
        };
        let value = from_master.or_else(|| {
            maps.iter()
                .find_map(|(_, m)| m.get(name).filter(|v| !v.is_null()))
        });
        if let Some(v) = value {
            out.insert(name.clone(), v.clone());
        }
    }
    R::from_fields(out).ok()
}

/// The first configured source whose roster holds `id` of `kind`: where grades go back to.
pub(crate) fn origin<'a>(
    config: &'a SyncConfig,
    sources: &BTreeMap<String, Roster>,
    kind: EntityKind,
    id: &str,
) -> Option<&'a str> {
    config
        .sources
        .iter()
        .find(|s| sources.get(&s.id).is_some_and(|r| r.contains(kind, id)))
        .map(|s| s.id.as_str())
}
