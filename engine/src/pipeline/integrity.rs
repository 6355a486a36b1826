//! Referential integrity. A record whose essential reference points nowhere cannot be synced:
//! an enrollment without its user or class, a result without its lineItem. When the target
//! existed in the last accepted roster the record goes with it (cascade); otherwise the SIS
//! sent a dangling reference and that is reported. Non-essential dangling references (a user's
//! org, a class's term) are reported once per target, not once per record.

use std::collections::{BTreeMap, BTreeSet};

use crate::for_each_kind;
use crate::model::*;

/// Whether a reference from `from` to `to` is needed for the record to mean anything.
pub(crate) fn essential(from: EntityKind, to: EntityKind) -> bool {
    use EntityKind as K;
    matches!(
        (from, to),
        (K::Enrollment, K::User)
            | (K::Enrollment, K::Class)
            | (K::Category, K::Class)
            | (K::LineItem, K::Class)
            | (K::Result, K::LineItem)
            | (K::Result, K::User)
    )
}

/// Drops records with essential dangling references; reports them (or counts them as cascaded
/// when the target was removed since the last run). Returns how many were cascaded.
pub(crate) fn check(roster: &mut Roster, previous: &Roster, issues: &mut Vec<RecordIssue>) -> u64 {
    let mut ctx = Check {
        previous,
        issues,
        cascaded: 0,
        loose: BTreeMap::new(),
    };
    for_each_kind!(check_table(roster, &mut ctx));
    for ((from, to, target), count) in ctx.loose {
        let noun = if count == 1 {
            from.singular().to_string()
        } else {
            format!("{count} {}", from.collection())
        };
        ctx.issues.push(RecordIssue::warning(
            "roster",
            from.collection(),
            None,
            format!("{noun} reference {to} '{target}', which is not in the roster; they were kept"),
        ));
    }
    ctx.cascaded
}

struct Check<'a> {
    previous: &'a Roster,
    issues: &'a mut Vec<RecordIssue>,
    cascaded: u64,
    loose: BTreeMap<(EntityKind, EntityKind, String), u64>,
}

/// The ids of the tables a scan looks references up in, hashed on first use: a B-tree lookup
/// by string compares about twenty keys, and a district's enrollments alone make millions.
/// FxHash: the keys are the SIS's ids, and nothing here needs a DoS-resistant hash.
struct RosterIds<'a> {
    roster: &'a Roster,
    tables: rustc_hash::FxHashMap<EntityKind, rustc_hash::FxHashSet<&'a str>>,
}

impl<'a> RosterIds<'a> {
    fn new(roster: &'a Roster) -> Self {
        RosterIds {
            roster,
            tables: rustc_hash::FxHashMap::default(),
        }
    }

    fn contains(&mut self, kind: EntityKind, id: &str) -> bool {
        let roster = self.roster;
        self.tables
            .entry(kind)
            .or_insert_with(|| roster.ids(kind))
            .contains(id)
    }
}

fn check_table<R: TableRecord>(roster: &mut Roster, ctx: &mut Check) {
    let mut drop = Vec::new();
    let mut ids = RosterIds::new(roster);
    for (id, record) in R::table(roster) {
        for (to, target) in record.references() {
            if target.is_empty() || ids.contains(to, target) {
                continue;
            }
            if essential(R::KIND, to) {
                if ctx.previous.contains(to, target) {
                    ctx.cascaded += 1;
                } else {
                    ctx.issues.push(RecordIssue::error(
                        "roster",
                        R::KIND.collection(),
                        Some(id),
                        format!("{} references {to} '{target}', which does not exist; the {} was not synced", R::KIND, R::KIND),
                    ));
                }
                drop.push(id.clone());
                break;
            }
            *ctx.loose
                .entry((R::KIND, to, target.to_string()))
                .or_default() += 1;
        }
    }
    let table = R::table_mut(roster);
    for id in drop {
        table.remove(&id);
    }
}

/// After a stage removed records on purpose (filters, skips), removes what depended on them,
/// silently: that is the rule's intended effect. Returns the count per entity.
/// Each record removed is said in `skips`, with the record it depended on.
pub(crate) fn prune(
    roster: &mut Roster,
    skips: &mut super::skips::Skips,
) -> BTreeMap<EntityKind, u64> {
    let mut counts = BTreeMap::new();
    for_each_kind!(prune_table(roster, &mut counts, skips));
    counts
}

fn prune_table<R: TableRecord>(
    roster: &mut Roster,
    counts: &mut BTreeMap<EntityKind, u64>,
    skips: &mut super::skips::Skips,
) {
    let mut ids = RosterIds::new(roster);
    let mut orphans: BTreeSet<String> = BTreeSet::new();
    for (id, record) in R::table(roster) {
        let references = record.references();
        let Some((to, target)) = references.iter().find(|(to, target)| {
            !target.is_empty() && essential(R::KIND, *to) && !ids.contains(*to, target)
        }) else {
            continue;
        };
        let user = references
            .iter()
            .find(|(kind, _)| *kind == EntityKind::User)
            .map(|(_, u)| *u);
        skips.rule(
            R::KIND,
            id,
            user,
            (
                crate::explanation::RuleKind::Cascade,
                "cascade".to_string(),
                format!(
                    "the {} goes with {to} '{target}', which a rule left out",
                    R::KIND.singular()
                ),
            ),
        );
        orphans.insert(id.clone());
    }
    if !orphans.is_empty() {
        *counts.entry(R::KIND).or_default() += orphans.len() as u64;
        R::table_mut(roster).retain(|id, _| !orphans.contains(id));
    }
}
