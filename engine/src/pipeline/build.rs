//! Plan: operations ordered by phase then key (so input order never matters), ids from
//! idempotency keys, dependencies resolved, a preview summary, and the content hash.

use std::collections::{BTreeMap, HashSet};

use super::diff::created_fields;
use super::ops::OpDraft;
use crate::config::ChangeKind;
use crate::delta::{ClassroomDelta, RosterDelta, StateDelta};
use crate::hash::{json_sha256_hex, sha256_hex};
use crate::model::*;
use crate::plan::*;
use crate::state::{AppliedClassroom, SyncState};

pub(crate) fn op_id(key: &str) -> String {
    sha256_hex(key.as_bytes())[..16].to_string()
}

pub(crate) fn order(
    mut drafts: Vec<OpDraft>,
    failures: &BTreeMap<String, crate::state::OpFailure>,
) -> Vec<PlannedOp> {
    // Sorted by position, not by moving the drafts: a stable sort of the drafts themselves
    // would borrow room for half of them (tens of MB for a district's first plan). Equal
    // keys keep the order they were drafted in, so the one kept below is the first.
    let mut order: Vec<usize> = (0..drafts.len()).collect();
    order.sort_by(|&a, &b| {
        let (a, b) = (&drafts[a], &drafts[b]);
        a.phase.cmp(&b.phase).then_with(|| a.key.cmp(&b.key))
    });
    permute(&mut drafts, order);
    drafts.dedup_by(|a, b| a.key == b.key);
    // The drafts were pushed one by one (up to twice the room they need); shrinking gives
    // the room back where it is, before it becomes the plan's.
    drafts.shrink_to_fit();
    // Dependencies become operation ids, kept only when planned. Ids are shared: a course's
    // id is named by each of its members' operations.
    let dependencies: Vec<Vec<Shared>> = {
        let present: HashSet<&str> = drafts.iter().map(|d| d.key.as_str()).collect();
        drafts
            .iter()
            .map(|d| {
                d.depends_on
                    .iter()
                    .filter(|k| present.contains(k.as_str()))
                    .map(|k| Shared::from(op_id(k)))
                    .collect()
            })
            .collect()
    };
    for (d, depends_on) in drafts.iter_mut().zip(dependencies) {
        d.op.op_id = op_id(&d.op.key);
        d.op.depends_on = depends_on;
        if let Some(f) = failures.get(&d.op.key) {
            d.op.summary.push_str(&format!(
                " (retry; failed {} time(s), last: {})",
                f.attempts, f.error
            ));
        }
    }
    // A draft is its operation and a phase: the operations are collected into the drafts'
    // own allocation, not a second one.
    let mut ops: Vec<PlannedOp> = drafts.into_iter().map(|d| d.op).collect();
    ops.shrink_to_fit();
    ops
}

/// Puts `items[order[i]]` at `i`, in place, following each cycle of the permutation.
fn permute<T>(items: &mut [T], mut order: Vec<usize>) {
    for start in 0..items.len() {
        let mut at = start;
        while order[at] != at {
            let from = order[at];
            order[at] = at;
            if from == start {
                break;
            }
            items.swap(at, from);
            at = from;
        }
    }
}

const SAMPLES_PER_KIND: usize = 3;

pub(crate) fn summarize(
    previous: &Roster,
    current: &Roster,
    changes: &[RosterChange],
    ops: &[PlannedOp],
    issues: usize,
    skipped: BTreeMap<String, u64>,
) -> PreviewSummary {
    let mut summary = PreviewSummary {
        record_issues: issues as u64,
        skipped,
        ..Default::default()
    };
    for kind in EntityKind::ROSTER {
        summary.roster.insert(
            kind,
            ChangeCounts {
                before: previous.count(kind) as u64,
                after: current.count(kind) as u64,
                ..Default::default()
            },
        );
    }
    let mut shown: BTreeMap<(EntityKind, ChangeKind), usize> = BTreeMap::new();
    for change in changes {
        let counts = summary.roster.entry(change.entity).or_default();
        match change.change {
            ChangeKind::Create => counts.create += 1,
            ChangeKind::Update => counts.update += 1,
            ChangeKind::Delete => counts.delete += 1,
        }
        let n = shown.entry((change.entity, change.change)).or_default();
        if *n < SAMPLES_PER_KIND {
            *n += 1;
            let mut sample = change.clone();
            if sample.change == ChangeKind::Create {
                sample.fields = sample_fields(current, change.entity, &change.sourced_id);
            }
            summary.samples.push(sample);
        }
    }
    for op in ops {
        *summary
            .operations
            .entry(op.entity)
            .or_default()
            .entry(op.change)
            .or_default() += 1;
    }
    summary
}

fn sample_fields(roster: &Roster, kind: EntityKind, id: &str) -> Vec<FieldChange> {
    use EntityKind as K;
    match kind {
        K::Org => roster.orgs.get(id).map(created_fields),
        K::AcademicSession => roster.academic_sessions.get(id).map(created_fields),
        K::User => roster.users.get(id).map(created_fields),
        K::Course => roster.courses.get(id).map(created_fields),
        K::Class => roster.classes.get(id).map(created_fields),
        K::Enrollment => roster.enrollments.get(id).map(created_fields),
        K::Category => roster.categories.get(id).map(created_fields),
        K::LineItem | K::Result => None,
    }
    .unwrap_or_default()
}

/// Issues in a fixed order, exact repeats removed.
pub(crate) fn tidy_issues(mut issues: Vec<RecordIssue>) -> Vec<RecordIssue> {
    issues.sort();
    issues.dedup();
    issues
}

/// The plan's id: sha256 of its JSON with the id left empty.
/// The plan's id: the hash of everything else in it (taken with the id blank).
pub(crate) fn content_id(plan: &mut SyncPlan) -> String {
    let id = std::mem::take(&mut plan.id);
    let content = json_sha256_hex(&*plan);
    plan.id = id;
    content
}

/// What the plan changes in the state besides its operations' effects, as a delta from
/// `previous`: the new values are moved in, not copied.
pub(crate) fn state_delta(
    previous: &SyncState,
    sources: BTreeMap<String, Roster>,
    roster: Roster,
    classroom: AppliedClassroom,
    adopted: Vec<StateEffect>,
) -> StateDelta {
    let removed_sources = previous
        .sources
        .keys()
        .filter(|id| !sources.contains_key(*id))
        .cloned()
        .collect();
    let empty = Roster::default();
    let sources = sources
        .into_iter()
        .map(|(id, now)| {
            let before = previous.sources.get(&id).unwrap_or(&empty);
            (id, RosterDelta::between(before, now))
        })
        .collect();
    StateDelta {
        base_revision: previous.revision,
        sources,
        removed_sources,
        roster: RosterDelta::between(&previous.roster, roster),
        classroom: ClassroomDelta::between(&previous.classroom, classroom),
        adopted,
    }
}

#[cfg(test)]
mod tests {
    use super::permute;

    #[test]
    fn permuting_in_place_puts_each_item_where_the_order_says() {
        let items: Vec<char> = "abcdefgh".chars().collect();
        for order in [
            vec![0, 1, 2, 3, 4, 5, 6, 7],
            vec![7, 6, 5, 4, 3, 2, 1, 0],
            vec![1, 2, 3, 4, 5, 6, 7, 0],
            vec![3, 0, 1, 2, 5, 4, 7, 6],
            vec![2, 7, 4, 0, 6, 1, 3, 5],
        ] {
            let mut moved = items.clone();
            permute(&mut moved, order.clone());
            let expected: Vec<char> = order.iter().map(|&i| items[i]).collect();
            assert_eq!(moved, expected, "{order:?}");
        }
    }
}
