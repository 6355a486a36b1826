//! Committing from the rows a plan touches, not from the whole state: the engine names the
//! rows it needs ([`commit_needs`]), the host reads just those, and the engine answers the rows
//! that change ([`commit_from_rows`]). A run that changed little reads and writes little.

use std::borrow::Cow;
use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::delta::{RosterDelta, StateDelta, TableDelta};
use crate::error::EngineError;
use crate::model::EntityKind;
use crate::plan::{
    Approval, MemberRole, OpOutcome, PlannedOp, PreviewSummary, StateEffect, SyncPlan,
};
use crate::plan_to_commit::{OpToCommit, PlanToCommit};
use crate::rows::{StateChanges, StatePart};
use crate::session::{StateBuilder, StateRow};

/// What `cb_undo` reads of a plan, written as a [`SyncPlan`] (the module reads it as one):
/// its id and operations, and none of the preview or the state delta. A district's first
/// plan carries its whole new roster, twice (each source's and the merged).
#[derive(Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct PlanPart<'a> {
    id: &'a str,
    engine_version: &'a str,
    created_at: &'a str,
    ops: &'a [PlannedOp],
    holds: [(); 0],
    preview_required: bool,
    record_issues: [(); 0],
    roster_changes: [(); 0],
    summary: PreviewSummary,
    state_delta: StateDelta,
    #[serde(skip_serializing_if = "Option::is_none")]
    approval: Option<&'a Approval>,
}

/// What `cb_undo` needs of a plan: its id and operations (the host approves with
/// `cb_approve_ops`, which needs only their ids and dependencies).
pub fn ops_part(plan: &SyncPlan) -> PlanPart<'_> {
    PlanPart {
        id: &plan.id,
        engine_version: &plan.engine_version,
        created_at: &plan.created_at,
        ops: &plan.ops,
        holds: [],
        preview_required: plan.preview_required,
        record_issues: [],
        roster_changes: [],
        summary: PreviewSummary::default(),
        state_delta: StateDelta {
            base_revision: plan.state_delta.base_revision,
            ..StateDelta::default()
        },
        approval: plan.approval.as_ref(),
    }
}

/// `cb_undo`'s request with the plan's operations only ([`ops_part`]): read as an
/// [`crate::undo::UndoRequest`].
#[derive(Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct UndoPartRequest<'a> {
    /// The run's number.
    pub run: u64,
    /// The plan's id and operations.
    pub plan: PlanPart<'a>,
    /// What became of each operation (none for a part without them).
    pub outcomes: &'a [OpOutcome],
    /// The SIS's values before each write, by operation id.
    pub priors: std::collections::BTreeMap<String, crate::undo::PriorRecord>,
    /// What Classroom holds now.
    pub facts: crate::undo::UndoFacts,
    /// The state's revision now.
    pub base_revision: u64,
    /// The time of the undo's planning (RFC 3339 UTC).
    pub now: String,
}

/// Entries of the state delta's roster tables a commit part carries at most.
pub const COMMIT_PART_ENTRIES: usize = 50_000;

/// `plan`'s commit in parts, each committed on its own (`cb_commit_needs`, then
/// `cb_commit_rows` with the rows it names): the roster tables' changes `max_entries` at a
/// time, then one part with every operation (only it takes the outcomes), Classroom's
/// delta, adoptions and removed sources. Their changes, put together with
/// [`StateChanges::absorb`], are the whole plan's: each row is changed by one part only,
/// since a roster entry is its own row and operations touch no roster row. Each part is
/// the plan as committing reads it ([`PlanToCommit`]): no request body or explanation.
pub fn commit_parts(plan: &SyncPlan, max_entries: usize) -> impl Iterator<Item = PlanToCommit<'_>> {
    let max = max_entries.max(1);
    let delta = &plan.state_delta;
    let rosters = delta
        .sources
        .iter()
        .map(|(id, roster)| (Some(id.as_str()), roster))
        .chain(std::iter::once((None, &delta.roster)));
    let mut chunks = Vec::new();
    for (source, roster) in rosters {
        for (table, size) in roster.table_sizes() {
            chunks.extend((0..size).step_by(max).map(|skip| (source, table, skip)));
        }
    }
    let roster_parts = chunks.into_iter().map(move |(source, table, skip)| {
        let roster = match source {
            Some(id) => delta.sources.get(id),
            None => Some(&delta.roster),
        }
        .map(|r| r.chunk(table, skip, max))
        .unwrap_or_default();
        let mut part = StateDelta {
            base_revision: delta.base_revision,
            ..StateDelta::default()
        };
        match source {
            Some(id) => {
                part.sources.insert(id.to_string(), roster);
            }
            None => part.roster = roster,
        }
        PlanToCommit {
            id: Cow::Borrowed(&plan.id),
            state_delta: Cow::Owned(part),
            ops: Vec::new(),
        }
    });
    let last = StateDelta {
        base_revision: delta.base_revision,
        sources: delta
            .sources
            .keys()
            .map(|id| (id.clone(), RosterDelta::default()))
            .collect(),
        removed_sources: delta.removed_sources.clone(),
        roster: RosterDelta::default(),
        classroom: delta.classroom.clone(),
        adopted: delta.adopted.clone(),
    };
    roster_parts.chain(std::iter::once_with(move || PlanToCommit {
        id: Cow::Borrowed(&plan.id),
        state_delta: Cow::Owned(last),
        ops: plan.ops.iter().map(OpToCommit::of).collect(),
    }))
}

/// A row's key: part, source (empty unless `sources`), table, id.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, PartialOrd, Ord, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RowKey(pub StatePart, pub String, pub String, pub String);

/// `cb_commit_needs`'s request: the plan that was applied.
#[derive(Serialize, Deserialize, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct CommitNeedsRequest<'a> {
    /// The plan (a whole [`SyncPlan`] reads as one).
    pub plan: PlanToCommit<'a>,
}

/// `cb_commit_rows`'s request.
#[derive(Serialize, Deserialize, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct CommitRowsRequest<'a> {
    /// The stored state's revision: it must be the plan's base.
    pub revision: u64,
    /// The plan that was applied (a whole [`SyncPlan`] reads as one).
    pub plan: PlanToCommit<'a>,
    /// What became of each operation.
    #[serde(default)]
    pub outcomes: Cow<'a, [OpOutcome]>,
    /// Every row `cb_commit_needs` named that the state has (those it lacks are left out).
    #[serde(default)]
    pub rows: Vec<StateRow>,
}

/// The rows committing `plan` reads: those its state delta replaces or removes, those its
/// operations' effects change (whatever their outcome), and their failure records.
pub fn commit_needs(plan: &PlanToCommit<'_>) -> Vec<RowKey> {
    let mut keys = BTreeSet::new();
    let delta = &plan.state_delta;
    for (source, roster) in &delta.sources {
        roster_keys(StatePart::Sources, source, roster, &mut keys);
    }
    roster_keys(StatePart::Roster, "", &delta.roster, &mut keys);
    let c = StatePart::Classroom;
    table_keys(c, "", "courses", &delta.classroom.courses, &mut keys);
    table_keys(c, "", "teachers", &delta.classroom.teachers, &mut keys);
    table_keys(c, "", "students", &delta.classroom.students, &mut keys);
    table_keys(c, "", "topics", &delta.classroom.topics, &mut keys);
    table_keys(
        c,
        "",
        "pendingRemovals",
        &delta.classroom.pending_removals,
        &mut keys,
    );
    table_keys(
        c,
        "",
        "invitations",
        &delta.classroom.invitations,
        &mut keys,
    );
    table_keys(c, "", "guardians", &delta.classroom.guardians, &mut keys);
    for effect in &delta.adopted {
        effect_keys(effect, &mut keys);
    }
    for op in &plan.ops {
        effect_keys(&op.effect, &mut keys);
        keys.insert(key(StatePart::Failures, "", "failures", &op.key));
    }
    keys.into_iter().collect()
}

/// What committing `plan` with `outcomes` changes, from the rows [`commit_needs`] named:
/// the same changes [`crate::commit_changes`] finds from the whole state.
pub fn commit_from_rows(
    revision: u64,
    rows: Vec<StateRow>,
    plan: &PlanToCommit<'_>,
    outcomes: &[OpOutcome],
) -> Result<StateChanges, EngineError> {
    let mut builder = StateBuilder::at(revision);
    for row in rows {
        builder
            .add(row)
            .map_err(|message| EngineError::InvalidInput { message })?;
    }
    let partial = builder.build();
    let next = crate::commit::commit(&partial, plan, outcomes)?;
    let mut changes =
        StateChanges::between(&partial, &next).map_err(|e| EngineError::InvalidInput {
            message: format!("the state's rows cannot be written as JSON: {e}"),
        })?;
    // A removed source's rows need not be read to be dropped.
    changes.removed_sources = plan.state_delta.removed_sources.clone();
    Ok(changes)
}

fn key(part: StatePart, source: &str, table: &str, id: &str) -> RowKey {
    RowKey(part, source.to_string(), table.to_string(), id.to_string())
}

fn table_keys<V>(
    part: StatePart,
    source: &str,
    table: &str,
    delta: &TableDelta<V>,
    out: &mut BTreeSet<RowKey>,
) {
    for id in delta.upsert.keys().chain(&delta.remove) {
        out.insert(key(part, source, table, id));
    }
}

fn roster_keys(part: StatePart, source: &str, delta: &RosterDelta, out: &mut BTreeSet<RowKey>) {
    table_keys(part, source, "orgs", &delta.orgs, out);
    table_keys(
        part,
        source,
        "academicSessions",
        &delta.academic_sessions,
        out,
    );
    table_keys(part, source, "users", &delta.users, out);
    table_keys(part, source, "courses", &delta.courses, out);
    table_keys(part, source, "classes", &delta.classes, out);
    table_keys(part, source, "enrollments", &delta.enrollments, out);
    table_keys(part, source, "categories", &delta.categories, out);
}

fn effect_keys(effect: &StateEffect, out: &mut BTreeSet<RowKey>) {
    let c = StatePart::Classroom;
    match effect {
        StateEffect::CourseUpsert { class_id, .. } => {
            out.insert(key(c, "", "courses", class_id));
            // A new course's owner joins its teachers.
            out.insert(key(c, "", "teachers", class_id));
        }
        StateEffect::MemberAdded { class_id, role, .. }
        | StateEffect::MemberRemoved { class_id, role, .. } => {
            let table = match role {
                MemberRole::Teacher => "teachers",
                MemberRole::Student => "students",
            };
            out.insert(key(c, "", table, class_id));
            // A student's removal ends their removal grace.
            if *role == MemberRole::Student {
                out.insert(key(c, "", "pendingRemovals", class_id));
            }
        }
        StateEffect::TopicUpsert { class_id, .. } | StateEffect::TopicDeleted { class_id, .. } => {
            out.insert(key(c, "", "topics", class_id));
        }
        StateEffect::CourseDeleted { class_id } => {
            for table in [
                "courses",
                "teachers",
                "students",
                "topics",
                "invitations",
                "pendingRemovals",
            ] {
                out.insert(key(c, "", table, class_id));
            }
        }
        StateEffect::Invited { class_id, .. } | StateEffect::InvitationDeleted { class_id, .. } => {
            out.insert(key(c, "", "invitations", class_id));
        }
        StateEffect::GuardianInvited { student, .. }
        | StateEffect::GuardianInvitationWithdrawn { student, .. } => {
            out.insert(key(c, "", "guardians", student));
        }
        StateEffect::Exported {
            kind, sourced_id, ..
        }
        | StateEffect::ExportDeleted { kind, sourced_id } => {
            let table = match kind {
                EntityKind::LineItem => "lineItems",
                EntityKind::Category => "categories",
                _ => "results",
            };
            out.insert(key(StatePart::Exported, "", table, sourced_id));
        }
    }
}
