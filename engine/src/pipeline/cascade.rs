//! Cascade: a removed user or class removes its enrollments (and a removed class's course is
//! archived by the Classroom mapping). Here each such enrollment deletion is marked with its
//! cause, so the preview says why it happens.

use std::collections::BTreeSet;

use crate::config::ChangeKind;
use crate::model::{EntityKind, Roster};
use crate::plan::RosterChange;

pub fn annotate(previous: &Roster, changes: &mut [RosterChange]) {
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
