//! Plan: operations ordered by phase then key (so input order never matters), ids from
//! idempotency keys, dependencies resolved, a preview summary, and the content hash.

use std::collections::{BTreeMap, HashSet};

use super::diff::created_fields;
use super::ops::OpDraft;
use crate::config::ChangeKind;
use crate::delta::{ClassroomDelta, RosterDelta, StateDelta};
use crate::hash::{Sha256Writer, sha256_hex};
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

/// The plan's id: the hash of everything else in it: the plan's JSON with its id blank and
/// no operations, then each operation's JSON, in order. Hashed in that shape so that a plan
/// session can take each operation's digest from the bytes it writes anyway when it pages
/// the operations out, instead of writing the whole plan a second time only to hash it (a
/// sixth of a district's first plan in WebAssembly).
pub(crate) fn content_id(plan: &mut SyncPlan) -> String {
    let mut digest = PlanDigest::begin(plan);
    for op in &plan.ops {
        digest.op(op);
    }
    digest.finish()
}

/// A plan's id, computed as its parts go by (see [`content_id`]).
pub(crate) struct PlanDigest(Sha256Writer);

impl PlanDigest {
    /// Starts with the plan's header: its JSON with the id blank and no operations.
    pub(crate) fn begin(plan: &mut SyncPlan) -> PlanDigest {
        let id = std::mem::take(&mut plan.id);
        let ops = std::mem::take(&mut plan.ops);
        let mut digest = PlanDigest(Sha256Writer::default());
        digest.0.json(&*plan);
        plan.id = id;
        plan.ops = ops;
        digest
    }

    /// Adds one operation, written as JSON here.
    pub(crate) fn op(&mut self, op: &PlannedOp) {
        self.0.json(op);
    }

    /// Adds one operation from its JSON (exactly as [`PlanDigest::op`] would write it).
    pub(crate) fn op_json(&mut self, json: &[u8]) {
        self.0.update(json);
    }

    /// The id, hex.
    pub(crate) fn finish(self) -> String {
        self.0.finish_hex()
    }
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
    use super::{content_id, permute};
    use crate::plan::SyncPlan;
    use serde_json::json;

    fn plan(summaries: &[&str]) -> SyncPlan {
        let ops: Vec<_> = summaries
            .iter()
            .enumerate()
            .map(|(i, summary)| {
                json!({"opId": format!("o{i}"), "key": format!("k{i}"), "entity": "course",
                    "change": "create", "summary": summary,
                    "action": {"type": "classroomCreateCourse", "alias": "d:c", "course": {}},
                    "effect": {"type": "courseDeleted", "class_id": "c"}})
            })
            .collect();
        serde_json::from_value(json!({"id": "", "engineVersion": "0", "createdAt": "t",
            "ops": ops, "holds": [], "previewRequired": false, "recordIssues": [],
            "rosterChanges": [], "summary": {"roster": {}, "operations": {}, "samples": [],
            "recordIssues": 0, "skipped": {}},
            "stateDelta": crate::delta::StateDelta::default()}))
        .expect("a plan")
    }

    #[test]
    fn the_plan_id_covers_the_header_and_every_operation_in_order() {
        let id = content_id(&mut plan(&["a", "b"]));
        assert_eq!(id.len(), 64);
        assert_eq!(content_id(&mut plan(&["a", "b"])), id, "deterministic");
        assert_ne!(
            content_id(&mut plan(&["a", "c"])),
            id,
            "an operation's content"
        );
        assert_ne!(
            content_id(&mut plan(&["b", "a"])),
            id,
            "the operations' order"
        );
        assert_ne!(content_id(&mut plan(&["a"])), id, "an operation fewer");
        let mut other_time = plan(&["a", "b"]);
        other_time.created_at = "u".into();
        assert_ne!(content_id(&mut other_time), id, "the header");
        let mut with_id = plan(&["a", "b"]);
        with_id.id = "anything".into();
        assert_eq!(content_id(&mut with_id), id, "not its own id");
        assert_eq!(with_id.id, "anything", "left as it was");
    }

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
