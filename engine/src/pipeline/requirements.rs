//! Data requirements: what a missing attribute does to its record: skip it, fill a default, or
//! hold the run. Every case is reported.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::config::{DataRequirement, MissingAction, SyncConfig};
use crate::for_each_kind;
use crate::ingest::lookup;
use crate::model::*;
use crate::plan::{HoldCode, HoldReason};

pub(crate) struct RequirementsOutcome {
    pub holds: Vec<HoldReason>,
    pub skipped: BTreeMap<String, u64>,
}

pub(crate) fn apply(
    config: &SyncConfig,
    roster: &mut Roster,
    issues: &mut Vec<RecordIssue>,
    skips: &mut super::skips::Skips,
) -> RequirementsOutcome {
    let mut out = RequirementsOutcome {
        holds: Vec::new(),
        skipped: BTreeMap::new(),
    };
    if config.requirements.is_empty() {
        return out;
    }
    for_each_kind!(apply_table(
        &config.requirements,
        roster,
        issues,
        &mut out,
        skips
    ));
    for (kind, n) in super::integrity::prune(roster, skips) {
        *out.skipped
            .entry(format!("{}.dependsOnSkipped", kind.singular()))
            .or_default() += n;
    }
    out
}

fn is_missing(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.trim().is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        _ => false,
    }
}

fn apply_table<R: TableRecord>(
    requirements: &[DataRequirement],
    roster: &mut Roster,
    issues: &mut Vec<RecordIssue>,
    out: &mut RequirementsOutcome,
    skips: &mut super::skips::Skips,
) {
    for (number, req) in requirements
        .iter()
        .enumerate()
        .filter(|(_, r)| r.entity == R::KIND)
    {
        let table = R::table_mut(roster);
        let missing: Vec<String> = table
            .iter()
            .filter(|(_, r)| is_missing(lookup(&r.fields(), &req.field)))
            .map(|(id, _)| id.clone())
            .collect();
        if missing.is_empty() {
            continue;
        }
        let entity = R::KIND.collection();
        match &req.when_missing {
            MissingAction::Skip => {
                for id in &missing {
                    let user = match table.remove(id) {
                        Some(record) if R::KIND == EntityKind::Enrollment => record
                            .references()
                            .iter()
                            .find(|(kind, _)| *kind == EntityKind::User)
                            .map(|(_, u)| u.to_string()),
                        Some(_) if R::KIND == EntityKind::User => Some(id.clone()),
                        _ => None,
                    };
                    skips.rule(
                        R::KIND,
                        id,
                        user.as_deref(),
                        (
                            crate::explanation::RuleKind::Requirement,
                            format!("requirements[{number}]"),
                            format!(
                                "{} without '{}' are skipped",
                                R::KIND.collection(),
                                req.field
                            ),
                        ),
                    );
                    issues.push(RecordIssue::error(
                        "roster",
                        entity,
                        Some(id),
                        format!(
                            "required field '{}' is missing; the record was skipped",
                            req.field
                        ),
                    ));
                }
                *out.skipped
                    .entry(format!("{}.missing.{}", R::KIND.singular(), req.field))
                    .or_default() += missing.len() as u64;
            }
            MissingAction::Default(value) => {
                for id in &missing {
                    let Some(record) = table.get(id) else {
                        continue;
                    };
                    let mut fields = record.fields();
                    fields.insert(req.field.clone(), value.clone());
                    match R::from_fields(fields) {
                        Ok(filled) => {
                            table.insert(id.clone(), filled);
                            issues.push(RecordIssue::warning(
                                "roster",
                                entity,
                                Some(id),
                                format!(
                                    "field '{}' was missing; the default {value} was used",
                                    req.field
                                ),
                            ));
                        }
                        Err(e) => issues.push(RecordIssue::error(
                            "roster",
                            entity,
                            Some(id),
                            format!("default for '{}' does not fit the field: {e}", req.field),
                        )),
                    }
                }
            }
            MissingAction::Hold => {
                for id in &missing {
                    issues.push(RecordIssue::error(
                        "roster",
                        entity,
                        Some(id),
                        format!("required field '{}' is missing; the run is held", req.field),
                    ));
                }
                out.holds.push(HoldReason {
                    code: HoldCode::MissingRequiredField,
                    entity: Some(R::KIND),
                    source: None,
                    message: format!(
                        "{} {entity} lack the required field '{}'",
                        missing.len(),
                        req.field
                    ),
                });
            }
        }
    }
}
