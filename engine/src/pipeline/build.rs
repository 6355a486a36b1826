//! Plan: operations ordered by phase then key (so input order never matters), ids from
//! idempotency keys, dependencies resolved, a preview summary, and the content hash.

use std::collections::{BTreeMap, BTreeSet};

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
    drafts.sort_by(|a, b| a.phase.cmp(&b.phase).then_with(|| a.key.cmp(&b.key)));
    drafts.dedup_by(|a, b| a.key == b.key);
    let present: BTreeSet<String> = drafts.iter().map(|d| d.key.clone()).collect();
    drafts
        .into_iter()
        .map(|d| {
            let mut summary = d.summary;
            if let Some(f) = failures.get(&d.key) {
                summary.push_str(&format!(
                    " (retry; failed {} time(s), last: {})",
                    f.attempts, f.error
                ));
            }
            PlannedOp {
                op_id: op_id(&d.key),
                depends_on: d
                    .depends_on
                    .iter()
                    .filter(|k| present.contains(*k))
                    .map(|k| op_id(k))
                    .collect(),
                key: d.key,
                entity: d.entity,
                change: d.change,
                class_id: d.class_id,
                school_id: d.school_id,
                person: d.person,
                summary,
                before: d.before,
                after: d.after,
                action: d.action,
                effect: d.effect,
            }
        })
        .collect()
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
