//! Filter: schools mapping, then per-entity filter rules. Whatever depended on a removed record
//! (a skipped school's classes, their enrollments) goes with it.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::skips::Skips;
use crate::config::{FilterAction, FilterOp, FilterRule, SchoolAction, SyncConfig};
use crate::explanation::RuleKind;
use crate::for_each_kind;
use crate::ingest::lookup;
use crate::model::*;

/// Applies the rules; returns how many records each rule set removed, by reason. A rule
/// whose field no record has is said in `issues`: it silently matched nothing (or
/// everything), which is never what an admin meant.
pub(crate) fn filter(
    config: &SyncConfig,
    roster: &mut Roster,
    issues: &mut Vec<RecordIssue>,
    skips: &mut Skips,
) -> BTreeMap<String, u64> {
    let mut skipped = BTreeMap::new();
    map_schools(config, roster, &mut skipped, skips);
    for_each_kind!(filter_table(
        &config.filters,
        roster,
        &mut skipped,
        issues,
        skips
    ));
    for (kind, n) in super::integrity::prune(roster, skips) {
        *skipped
            .entry(format!("{}.dependsOnFiltered", kind.singular()))
            .or_default() += n;
    }
    skipped
}

fn map_schools(
    config: &SyncConfig,
    roster: &mut Roster,
    skipped: &mut BTreeMap<String, u64>,
    skips: &mut Skips,
) {
    let mapping = &config.schools;
    let renames: BTreeMap<String, String> = mapping
        .schools
        .iter()
        .filter(|m| m.action == SchoolAction::Sync)
        .filter_map(|m| m.map_to.as_ref().map(|t| (m.school.clone(), t.clone())))
        .filter(|(from, to)| from != to)
        .collect();
    let mut skip: BTreeSet<String> = mapping
        .schools
        .iter()
        .filter(|m| m.action == SchoolAction::Skip)
        .map(|m| m.school.clone())
        .collect();
    if mapping.unmapped == SchoolAction::Skip {
        let listed: BTreeSet<&str> = mapping.schools.iter().map(|m| m.school.as_str()).collect();
        skip.extend(
            roster
                .orgs
                .values()
                .filter(|o| o.org_type == "school" && !listed.contains(o.sourced_id.as_str()))
                .map(|o| o.sourced_id.clone()),
        );
    }
    if !renames.is_empty() {
        for_each_kind!(rename_orgs(roster, &renames));
        for from in renames.keys() {
            roster.orgs.remove(from);
        }
    }
    if skip.is_empty() {
        return;
    }
    let rule = |school: &str| {
        let listed = mapping.schools.iter().any(|m| m.school == school);
        (
            RuleKind::SchoolMapping,
            "schools".to_string(),
            if listed {
                format!("school '{school}' is mapped to skip")
            } else {
                format!(
                    "school '{school}' is not in the schools mapping, and unmapped schools are skipped"
                )
            },
        )
    };
    let before = roster.orgs.len();
    roster.orgs.retain(|id, _| {
        let keep = !skip.contains(id);
        if !keep {
            skips.rule(EntityKind::Org, id, None, rule(id));
        }
        keep
    });
    count(skipped, "org.schoolSkipped", before - roster.orgs.len());
    let before = roster.classes.len();
    roster.classes.retain(|id, c| {
        let keep = !skip.contains(c.school.as_str());
        if !keep {
            skips.rule(EntityKind::Class, id, None, rule(&c.school));
        }
        keep
    });
    count(
        skipped,
        "class.schoolSkipped",
        before - roster.classes.len(),
    );
    let before = roster.courses.len();
    roster.courses.retain(|id, c| {
        let keep = !skip.contains(c.org.as_str());
        if !keep {
            skips.rule(EntityKind::Course, id, None, rule(&c.org));
        }
        keep
    });
    count(
        skipped,
        "course.schoolSkipped",
        before - roster.courses.len(),
    );
    let before = roster.users.len();
    roster.users.retain(|id, u| {
        let orgs: Vec<&str> = u.orgs().filter(|o| !o.is_empty()).collect();
        let keep = orgs.is_empty() || orgs.iter().any(|o| !skip.contains(*o));
        if !keep {
            skips.rule(EntityKind::User, id, Some(id), rule(orgs[0]));
        }
        keep
    });
    count(skipped, "user.schoolSkipped", before - roster.users.len());
}

fn count(skipped: &mut BTreeMap<String, u64>, key: &str, n: usize) {
    if n > 0 {
        *skipped.entry(key.to_string()).or_default() += n as u64;
    }
}

fn rename_orgs<R: TableRecord>(roster: &mut Roster, renames: &BTreeMap<String, String>) {
    for record in R::table_mut(roster).values_mut() {
        for (kind, reference) in record.references_mut() {
            if kind == EntityKind::Org
                && let Some(to) = renames.get(reference.as_str())
            {
                *reference = Shared::from(to.as_str());
            }
        }
    }
}

fn filter_table<R: TableRecord>(
    all_rules: &[FilterRule],
    roster: &mut Roster,
    skipped: &mut BTreeMap<String, u64>,
    issues: &mut Vec<RecordIssue>,
    skips: &mut Skips,
) {
    let (numbers, rules): (Vec<usize>, Vec<&FilterRule>) = all_rules
        .iter()
        .enumerate()
        .filter(|(_, r)| r.entity == R::KIND)
        .unzip();
    if rules.is_empty() {
        return;
    }
    let table = R::table_mut(roster);
    let before = table.len();
    let mut field_seen = vec![false; rules.len()];
    // Field names of the first records, for "did you mean" (a field only some have, like a
    // student's grades, is still found among a thousand).
    let mut known_fields: BTreeSet<String> = BTreeSet::new();
    let mut looked_at = 0;
    table.retain(|id, record| {
        let mut fields = record.fields();
        record.add_virtual_fields(&mut fields);
        for (seen, rule) in field_seen.iter_mut().zip(&rules) {
            *seen = *seen || lookup(&fields, &rule.field).is_some_and(|v| !v.is_null());
        }
        if looked_at < 1000 {
            looked_at += 1;
            known_fields.extend(fields.keys().cloned());
        }
        let Some(why) = left_out_by(&rules, &fields) else {
            return true;
        };
        let user = match R::KIND {
            EntityKind::User => Some(id.as_str()),
            EntityKind::Enrollment => fields.get("user").and_then(user_ref),
            _ => None,
        };
        let says = match why {
            LeftOutBy::Exclude(k) => format!(
                "{} matching {} are left out",
                R::KIND.collection(),
                describe(rules[k])
            ),
            LeftOutBy::NoInclude => format!(
                "only {} matching {} are synced",
                R::KIND.collection(),
                rules
                    .iter()
                    .filter(|r| r.action == FilterAction::Include)
                    .map(|r| describe(r))
                    .collect::<Vec<_>>()
                    .join(" or ")
            ),
        };
        let name = match why {
            LeftOutBy::Exclude(k) => format!("filters[{}]", numbers[k]),
            LeftOutBy::NoInclude => numbers
                .iter()
                .zip(&rules)
                .filter(|(_, r)| r.action == FilterAction::Include)
                .map(|(n, _)| format!("filters[{n}]"))
                .collect::<Vec<_>>()
                .join(", "),
        };
        skips.rule(R::KIND, id, user, (RuleKind::Filter, name, says));
        false
    });
    count(
        skipped,
        &format!("{}.filtered", R::KIND.singular()),
        before - table.len(),
    );
    if before == 0 {
        return;
    }
    let known: Vec<&str> = known_fields.iter().map(String::as_str).collect();
    for ((number, rule), _) in numbers
        .iter()
        .zip(&rules)
        .zip(&field_seen)
        .filter(|(_, seen)| !**seen)
    {
        issues.push(RecordIssue::warning(
            "rules",
            format!("filters[{number}]"),
            None,
            format!(
                "has no effect on this run's {}: none of the {before} has a field '{}'{}",
                R::KIND.collection(),
                rule.field,
                crate::config::nearest_field(&rule.field, &known)
            ),
        ));
    }
}

/// Which rule left a record out.
#[derive(Clone, Copy)]
enum LeftOutBy {
    /// The exclude rule at this place of the entity's rules.
    Exclude(usize),
    /// Include rules exist and it matches none.
    NoInclude,
}

/// A record is kept when it matches no exclude rule and, if include rules exist, one of them.
fn left_out_by(rules: &[&FilterRule], fields: &Map<String, Value>) -> Option<LeftOutBy> {
    let mut includes = rules
        .iter()
        .filter(|r| r.action == FilterAction::Include)
        .peekable();
    let included = includes.peek().is_none() || includes.any(|r| matches(r, fields));
    if !included {
        return Some(LeftOutBy::NoInclude);
    }
    rules
        .iter()
        .position(|r| r.action == FilterAction::Exclude && matches(r, fields))
        .map(LeftOutBy::Exclude)
}

/// A reference's sourcedId, as a record's fields hold it (a string or a GUID reference).
fn user_ref(v: &Value) -> Option<&str> {
    v.as_str()
        .or_else(|| v.get("sourcedId").and_then(Value::as_str))
}

/// A filter rule in words: `role = 'guardian'`.
fn describe(rule: &FilterRule) -> String {
    let value = match &rule.value {
        Value::String(s) => format!("'{s}'"),
        other => other.to_string(),
    };
    let op = match rule.op {
        FilterOp::Equals => "=",
        FilterOp::NotEquals => "!=",
        FilterOp::In => "in",
        FilterOp::Contains => "contains",
        FilterOp::StartsWith => "starts with",
        FilterOp::EndsWith => "ends with",
        FilterOp::GreaterThan => ">",
        FilterOp::LessThan => "<",
        FilterOp::Exists => return format!("{} present", rule.field),
        FilterOp::Missing => return format!("{} missing", rule.field),
    };
    format!("{} {op} {value}", rule.field)
}

fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Lists match when any element matches (a user's `grades` contains "09").
pub(crate) fn matches(rule: &FilterRule, fields: &Map<String, Value>) -> bool {
    let value = lookup(fields, &rule.field).filter(|v| !v.is_null());
    let present = value.is_some_and(|v| {
        !matches!(v, Value::String(s) if s.is_empty())
            && !matches!(v, Value::Array(a) if a.is_empty())
    });
    match rule.op {
        FilterOp::Exists => return present,
        FilterOp::Missing => return !present,
        _ => {}
    }
    let Some(value) = value else {
        return rule.op == FilterOp::NotEquals;
    };
    let candidates: Vec<String> = match value {
        Value::Array(items) => items.iter().filter_map(as_text).collect(),
        other => as_text(other).into_iter().collect(),
    };
    let wanted = as_text(&rule.value).unwrap_or_default();
    let ci = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
    match rule.op {
        FilterOp::Equals => candidates.iter().any(|c| ci(c, &wanted)),
        FilterOp::NotEquals => !candidates.iter().any(|c| ci(c, &wanted)),
        FilterOp::In => {
            let set: Vec<String> = rule
                .value
                .as_array()
                .map(|a| a.iter().filter_map(as_text).collect())
                .unwrap_or_default();
            candidates.iter().any(|c| set.iter().any(|s| ci(c, s)))
        }
        FilterOp::Contains => candidates
            .iter()
            .any(|c| c.to_lowercase().contains(&wanted.to_lowercase())),
        FilterOp::StartsWith => candidates
            .iter()
            .any(|c| c.to_lowercase().starts_with(&wanted.to_lowercase())),
        FilterOp::EndsWith => candidates
            .iter()
            .any(|c| c.to_lowercase().ends_with(&wanted.to_lowercase())),
        FilterOp::GreaterThan => candidates.iter().any(|c| compare(c, &wanted).is_gt()),
        FilterOp::LessThan => candidates.iter().any(|c| compare(c, &wanted).is_lt()),
        FilterOp::Exists | FilterOp::Missing => unreachable!("handled above"),
    }
}

/// Numbers compare as numbers, everything else (ISO dates included) as text.
fn compare(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal),
        _ => a.cmp(b),
    }
}
