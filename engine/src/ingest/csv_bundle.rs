//! A OneRoster CSV bundle (manifest plus entity files) -> raw collections, in the same JSON
//! shape the REST API uses, so one record reader serves both.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::raw::{Location, RawObject, RawRecord, RawSource};
use crate::input::FetchMode;
use crate::model::{EntityKind, RecordIssue};

pub(crate) fn read<'a>(
    source: &str,
    files: &'a BTreeMap<String, String>,
    issues: &mut Vec<RecordIssue>,
) -> RawSource<'a> {
    let mut raw = RawSource::default();
    let Some(manifest) = files.get("manifest.csv") else {
        let reason = "the CSV bundle has no manifest.csv, so it cannot say which files are bulk or delta; nothing in it was used".to_string();
        issues.push(RecordIssue::error(source, "manifest", None, reason.clone()));
        for kind in EntityKind::ROSTER {
            raw.unreadable.insert(kind, reason.clone());
        }
        return raw;
    };
    let properties = match read_manifest(manifest) {
        Ok(p) => p,
        Err(reason) => {
            issues.push(RecordIssue::error(source, "manifest", None, reason.clone()));
            for kind in EntityKind::ROSTER {
                raw.unreadable.insert(kind, reason.clone());
            }
            return raw;
        }
    };
    let mut roles_rows = Vec::new();
    for kind in EntityKind::ALL {
        let file = format!("{}.csv", kind.collection());
        let mode = match properties
            .get(&format!("file.{}", kind.collection()))
            .map(String::as_str)
        {
            Some("bulk") => FetchMode::Full,
            Some("delta") => FetchMode::Delta,
            Some("absent") | None => {
                if files.contains_key(&file) {
                    issues.push(RecordIssue::warning(
                        source,
                        file.as_str(),
                        None,
                        "the manifest says this file is absent; it was ignored",
                    ));
                }
                continue;
            }
            Some(other) => {
                let reason = format!(
                    "manifest: file.{} is '{other}', expected bulk, delta or absent",
                    kind.collection()
                );
                issues.push(RecordIssue::error(source, "manifest", None, reason.clone()));
                raw.unreadable.insert(kind, reason);
                continue;
            }
        };
        let Some((file_name, content)) = files.get_key_value(&file) else {
            let reason = format!("the manifest lists {file} but the bundle does not contain it");
            issues.push(RecordIssue::error(
                source,
                file.as_str(),
                None,
                reason.clone(),
            ));
            raw.unreadable.insert(kind, reason);
            continue;
        };
        match rows(file_name, content, source, issues) {
            Ok(records) => raw.push(kind, mode, records),
            Err(reason) => {
                issues.push(RecordIssue::error(
                    source,
                    file.as_str(),
                    None,
                    reason.clone(),
                ));
                raw.unreadable.insert(kind, reason);
            }
        }
    }
    // OneRoster 1.2 CSV keeps user roles in their own file.
    if let Some(content) = files.get("roles.csv") {
        match rows("roles.csv", content, source, issues) {
            Ok(r) => roles_rows = r,
            Err(reason) => issues.push(RecordIssue::error(source, "roles.csv", None, reason)),
        }
    }
    if !roles_rows.is_empty()
        && let Some(users) = raw.collections.get_mut(&EntityKind::User)
    {
        attach_roles(source, &mut users.records, roles_rows, issues);
    }
    raw
}

fn read_manifest(content: &str) -> Result<BTreeMap<String, String>, String> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(content.as_bytes());
    let mut props = BTreeMap::new();
    for (i, row) in reader.records().enumerate() {
        let row = row.map_err(|e| format!("manifest.csv line {}: {e}", i + 2))?;
        if let (Some(k), Some(v)) = (row.get(0), row.get(1)) {
            props.insert(k.trim().to_string(), v.trim().to_string());
        }
    }
    Ok(props)
}

/// CSV column name -> JSON field: `orgSourcedIds` -> `orgs` (a list), `classSourcedId` -> `class`.
fn json_key(column: &str) -> (String, bool) {
    if let Some(stem) = column.strip_suffix("SourcedIds") {
        (format!("{stem}s"), true)
    } else if let Some(stem) = column.strip_suffix("SourcedId")
        && !stem.is_empty()
    {
        (stem.to_string(), false)
    } else {
        (column.to_string(), false)
    }
}

fn rows<'a>(
    file: &'a str,
    content: &str,
    source: &str,
    issues: &mut Vec<RecordIssue>,
) -> Result<Vec<RawRecord<'a>>, String> {
    let content = content.strip_prefix('\u{feff}').unwrap_or(content);
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(content.as_bytes());
    let headers: Vec<(String, bool)> = reader
        .headers()
        .map_err(|e| format!("{file}: the header row cannot be read: {e}"))?
        .iter()
        .map(|h| json_key(h.trim()))
        .collect();
    if !headers.iter().any(|(h, _)| h == "sourcedId") {
        return Err(format!("{file}: the header row has no sourcedId column"));
    }
    let mut out = Vec::new();
    for (i, row) in reader.records().enumerate() {
        let line = i + 2;
        let row = match row {
            Ok(r) => r,
            Err(e) => {
                issues.push(RecordIssue::error(
                    source,
                    file,
                    None,
                    format!("line {line}: {e}"),
                ));
                continue;
            }
        };
        if row.len() != headers.len() {
            issues.push(RecordIssue::error(
                source,
                file,
                row.get(0).filter(|s| !s.is_empty()),
                format!(
                    "line {line} has {} fields, the header has {}",
                    row.len(),
                    headers.len()
                ),
            ));
            continue;
        }
        let mut obj = Map::new();
        for ((key, is_list), cell) in headers.iter().zip(row.iter()) {
            let cell = cell.trim();
            if cell.is_empty() {
                continue;
            }
            let value = if *is_list {
                Value::Array(
                    super::fields::split_list(cell)
                        .map(|part| Value::String(part.to_string()))
                        .collect(),
                )
            } else {
                Value::String(cell.to_string())
            };
            obj.insert(key.clone(), value);
        }
        out.push(RawRecord {
            obj: RawObject::Tree(obj),
            location: Location::CsvLine { file, line },
        });
    }
    Ok(out)
}

fn attach_roles(
    source: &str,
    users: &mut [RawRecord<'_>],
    roles: Vec<RawRecord<'_>>,
    issues: &mut Vec<RecordIssue>,
) {
    let index: BTreeMap<String, usize> = users
        .iter()
        .enumerate()
        .filter_map(|(i, u)| {
            tree(&u.obj)?
                .get("sourcedId")
                .and_then(Value::as_str)
                .map(|id| (id.to_string(), i))
        })
        .collect();
    for role in roles {
        let Some(role_row) = tree(&role.obj) else {
            continue;
        };
        let user_id = role_row
            .get("user")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let Some(&i) = index.get(&user_id) else {
            issues.push(RecordIssue::error(
                source,
                "roles.csv",
                Some(&user_id),
                format!("{}: no user with this sourcedId", role.location),
            ));
            continue;
        };
        let RawObject::Tree(user) = &mut users[i].obj else {
            continue;
        };
        let entry = user
            .entry("roles")
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(list) = entry {
            let mut r = Map::new();
            for key in ["roleType", "role", "org"] {
                if let Some(v) = role_row.get(key) {
                    r.insert(key.into(), v.clone());
                }
            }
            list.push(Value::Object(r));
        }
    }
}

/// CSV rows are always built as objects.
fn tree(obj: &RawObject) -> Option<&Map<String, Value>> {
    match obj {
        RawObject::Tree(map) => Some(map),
        RawObject::Text(_) => None,
    }
}
