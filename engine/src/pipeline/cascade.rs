//! Cascade: a removed user or class removes its enrollments (and a removed class's course is
//! archived by the Classroom mapping). Here each such enrollment deletion is marked with its
//! cause, so the preview says why it happens.

use std::collections::{BTreeMap, BTreeSet};

use crate::config::ChangeKind;
use crate::model::{EntityKind, Roster};
use crate::plan::{Absence, AbsenceStatus, RosterChange};

pub(crate) fn annotate(previous: &Roster, changes: &mut [RosterChange]) {
    let deleted = |kind: EntityKind| -> BTreeSet<String> {
        changes
            .iter()
            .filter(|c| c.entity == kind && c.change == ChangeKind::Delete)
            .map(|c| c.sourced_id.clone())
            .collect()
    };
    let users = deleted(EntityKind::User);
    let classes = deleted(EntityKind::Class);
    if users.is_empty() && classes.is_empty() {
        return;
    }
    for change in changes
        .iter_mut()
        .filter(|c| c.entity == EntityKind::Enrollment && c.change == ChangeKind::Delete)
    {
        let Some(enrollment) = previous.enrollments.get(&change.sourced_id) else {
            continue;
        };
        if users.contains(enrollment.user.as_str()) {
            change.cause = Some(format!("user '{}' was removed", enrollment.user));
        } else if classes.contains(enrollment.class.as_str()) {
            change.cause = Some(format!("class '{}' was removed", enrollment.class));
        }
    }
}

/// A removal that came from a record's confirmed absence says how it was confirmed (the
/// preview shows it beside the change).
pub(crate) fn explain_confirmed_removals(absences: &[Absence], changes: &mut [RosterChange]) {
    if absences.is_empty() {
        return;
    }
    let confirmed: BTreeMap<(EntityKind, &str), &Absence> = absences
        .iter()
        .filter(|a| a.status == AbsenceStatus::Confirmed)
        .map(|a| ((a.entity, a.sourced_id.as_str()), a))
        .collect();
    for change in changes
        .iter_mut()
        .filter(|c| c.change == ChangeKind::Delete && c.cause.is_none())
    {
        if let Some(a) = confirmed.get(&(change.entity, change.sourced_id.as_str())) {
            change.cause = Some(format!("gone from source '{}': {}", a.source, a.how));
        }
    }
}
