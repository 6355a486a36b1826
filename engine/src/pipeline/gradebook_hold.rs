//! Holds for grades the plan would delete from the SIS. A teacher deleting work, Google
//! answering an empty courseWork list as `{}`, or a filter that drops a school must not
//! quietly erase a gradebook: the same count and percent thresholds as the roster apply, and
//! a course whose every exported lineItem would go is always held.

use std::collections::{BTreeMap, BTreeSet};

use crate::config::{ChangeKind, SyncConfig};
use crate::model::EntityKind;
use crate::plan::{Action, HoldCode, HoldReason, OpChange, OpEntity};
use crate::state::ExportedGradebook;

use super::ops::OpDraft;

pub(crate) fn evaluate(
    config: &SyncConfig,
    exported: &ExportedGradebook,
    ops: &[OpDraft],
) -> Vec<HoldReason> {
    let deleting = |entity: OpEntity| {
        ops.iter()
            .filter(|o| o.entity == entity && o.change == OpChange::Delete)
            .count() as u64
    };
    let mut holds = Vec::new();
    let policy = &config.holds;
    // The whole ledger's sizes, even when the state carries only the slice a run reads.
    let (line_items, results) = exported.totals();
    for (kind, entity, before) in [
        (EntityKind::LineItem, OpEntity::LineItem, line_items),
        (EntityKind::Result, OpEntity::Result, results),
    ] {
        let n = deleting(entity);
        if n == 0 {
            continue;
        }
        for threshold in policy
            .effective_thresholds()
            .iter()
            .filter(|t| t.change == ChangeKind::Delete && t.entity.is_none_or(|e| e == kind))
        {
            let over_count = threshold.max_count.is_some_and(|max| n > max);
            let percent = n as f64 * 100.0 / before.max(1) as f64;
            let over_percent = threshold.max_percent.is_some_and(|max| {
                before > 0 && n >= policy.min_changes_for_percent && percent > max
            });
            if over_count || over_percent {
                holds.push(HoldReason {
                    code: HoldCode::Threshold,
                    entity: Some(kind),
                    source: None,
                    message: format!(
                        "{n} of {before} exported {} ({percent:.1}%) would be deleted from the SIS gradebook, over a deletion threshold",
                        kind.collection()
                    ),
                });
                break;
            }
        }
    }
    // Every exported lineItem of a course about to be deleted: the course lists no graded
    // work at all now. Held whatever the numbers.
    let mut exported_per_course: BTreeMap<&str, usize> = BTreeMap::new();
    for record in exported.line_items.values() {
        if let Some(course) = record.parent.as_deref() {
            *exported_per_course.entry(course).or_default() += 1;
        }
    }
    let deleted_ids: BTreeSet<&str> = ops
        .iter()
        .filter(|o| o.entity == OpEntity::LineItem && o.change == OpChange::Delete)
        .filter_map(|o| match &o.action {
            Action::OneRosterDelete { sourced_id, .. } => Some(sourced_id.as_str()),
            _ => None,
        })
        .collect();
    let mut deleted_per_course: BTreeMap<&str, usize> = BTreeMap::new();
    for (id, record) in &exported.line_items {
        if deleted_ids.contains(id.as_str())
            && let Some(course) = record.parent.as_deref()
        {
            *deleted_per_course.entry(course).or_default() += 1;
        }
    }
    let emptied: Vec<&str> = deleted_per_course
        .iter()
        .filter(|(course, n)| exported_per_course.get(*course) == Some(*n))
        .map(|(course, _)| *course)
        .collect();
    if !emptied.is_empty() {
        let shown: Vec<&str> = emptied.iter().take(5).copied().collect();
        holds.push(HoldReason {
            code: HoldCode::GradebookEmptied,
            entity: Some(EntityKind::LineItem),
            source: None,
            message: format!(
                "{} Classroom course(s) with exported grades now list no graded work (Classroom answers an empty list as {{}}), so all their SIS lineItems and results would be deleted: {}{}",
                emptied.len(),
                shown.join(", "),
                if emptied.len() > shown.len() { ", …" } else { "" }
            ),
        });
    }
    holds
}
