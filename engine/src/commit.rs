//! Commit: lay the plan's state delta, then the outcomes of applied operations, over the state
//! the plan was made from. Successes are remembered (never re-created), failures are recorded
//! and retried by the next plan.

use std::collections::HashMap;

use crate::error::EngineError;
use crate::plan::{MemberRole, OpOutcome, OutcomeResult, StateEffect};
use crate::plan_to_commit::{OpToCommit, PlanToCommit};
use crate::state::{
    AppliedCourse, AppliedGuardian, AppliedInvitation, AppliedTopic, ExportedRecord, OpFailure,
    SyncState,
};

pub(crate) fn commit(
    state: &SyncState,
    plan: &PlanToCommit<'_>,
    outcomes: &[OpOutcome],
) -> Result<SyncState, EngineError> {
    plan.check_base_revision(state.revision)?;
    let mut next = state.clone();
    plan.state_delta.apply_to(&mut next);
    next.revision = state.revision + 1;
    // Looked up once per outcome: a district's first sync has hundreds of thousands.
    let by_id: HashMap<&str, &OpToCommit<'_>> = plan.ops.iter().map(|o| (&*o.op_id, o)).collect();
    for outcome in outcomes {
        let Some(op) = by_id.get(outcome.op_id.as_str()) else {
            return Err(EngineError::UnknownOperation {
                op_id: outcome.op_id.clone(),
            });
        };
        match &outcome.result {
            OutcomeResult::Succeeded { remote_id } => {
                apply_effect(&mut next, &op.effect, remote_id.as_deref());
                next.failures.remove(&*op.key);
            }
            OutcomeResult::Failed { error } => {
                let entry = next
                    .failures
                    .entry(op.key.to_string())
                    .or_insert_with(|| OpFailure {
                        error: String::new(),
                        attempts: 0,
                        last_plan: String::new(),
                    });
                entry.error = error.clone();
                entry.attempts += 1;
                entry.last_plan = plan.id.to_string();
            }
            OutcomeResult::NotAttempted => {}
        }
    }
    Ok(next)
}

pub(crate) fn apply_effect(state: &mut SyncState, effect: &StateEffect, remote_id: Option<&str>) {
    let cls = &mut state.classroom;
    match effect {
        StateEffect::CourseUpsert { class_id, course } => {
            let known_id = cls
                .courses
                .get(class_id.as_str())
                .and_then(|c| c.course_id.clone());
            let mut course = AppliedCourse::clone(course);
            course.course_id = remote_id
                .map(str::to_string)
                .or(known_id)
                .or(course.course_id);
            // A new course's owner is one of its teachers from the start.
            cls.teachers
                .entry(class_id.to_string())
                .or_default()
                .insert(course.owner.clone());
            cls.courses.insert(class_id.to_string(), course);
        }
        StateEffect::MemberAdded {
            class_id,
            role,
            email,
        } => {
            let set = match role {
                MemberRole::Teacher => &mut cls.teachers,
                MemberRole::Student => &mut cls.students,
            };
            set.entry(class_id.to_string())
                .or_default()
                .insert(email.to_string());
        }
        StateEffect::MemberRemoved {
            class_id,
            role,
            email,
        } => {
            let set = match role {
                MemberRole::Teacher => &mut cls.teachers,
                MemberRole::Student => &mut cls.students,
            };
            if let Some(members) = set.get_mut(class_id.as_str()) {
                members.remove(email.as_str());
            }
            // Removed at last: their removal grace is over.
            if *role == MemberRole::Student
                && let Some(pending) = cls.pending_removals.get_mut(class_id.as_str())
            {
                pending.remove(email.as_str());
                if pending.is_empty() {
                    cls.pending_removals.remove(class_id.as_str());
                }
            }
        }
        StateEffect::Invited {
            class_id,
            role,
            email,
        } => {
            let sent = cls.invitations.entry(class_id.to_string()).or_default();
            let known_id = sent
                .get(email.as_str())
                .and_then(|i| i.invitation_id.clone());
            sent.insert(
                email.to_string(),
                AppliedInvitation {
                    role: *role,
                    invitation_id: remote_id.map(str::to_string).or(known_id),
                },
            );
        }
        StateEffect::GuardianInvited { student, guardian } => {
            let sent = cls.guardians.entry(student.to_string()).or_default();
            let known_id = sent
                .get(guardian.as_str())
                .and_then(|g| g.invitation_id.clone());
            sent.insert(
                guardian.to_string(),
                AppliedGuardian {
                    invitation_id: remote_id.map(str::to_string).or(known_id),
                },
            );
        }
        StateEffect::GuardianInvitationWithdrawn { student, guardian } => {
            if let Some(sent) = cls.guardians.get_mut(student.as_str()) {
                sent.remove(guardian.as_str());
                if sent.is_empty() {
                    cls.guardians.remove(student.as_str());
                }
            }
        }
        StateEffect::InvitationDeleted { class_id, email } => {
            if let Some(sent) = cls.invitations.get_mut(class_id.as_str()) {
                sent.remove(email.as_str());
                if sent.is_empty() {
                    cls.invitations.remove(class_id.as_str());
                }
            }
        }
        StateEffect::TopicUpsert {
            class_id,
            category_id,
            name,
            topic_id,
        } => {
            let topic_id = remote_id.map(str::to_string).or_else(|| topic_id.clone());
            cls.topics.entry(class_id.to_string()).or_default().insert(
                category_id.to_string(),
                AppliedTopic {
                    topic_id,
                    name: name.to_string(),
                },
            );
        }
        StateEffect::CourseDeleted { class_id } => {
            let class = class_id.as_str();
            cls.courses.remove(class);
            cls.teachers.remove(class);
            cls.students.remove(class);
            cls.topics.remove(class);
            cls.invitations.remove(class);
            cls.pending_removals.remove(class);
        }
        StateEffect::TopicDeleted {
            class_id,
            category_id,
        } => {
            if let Some(topics) = cls.topics.get_mut(class_id.as_str()) {
                topics.remove(category_id.as_str());
                if topics.is_empty() {
                    cls.topics.remove(class_id.as_str());
                }
            }
        }
        StateEffect::Exported {
            kind,
            sourced_id,
            source_id,
            parent,
            digest,
        } => {
            let record = ExportedRecord {
                source_id: source_id.to_string(),
                parent: parent.clone(),
                digest: digest.clone(),
            };
            let table = match kind {
                crate::model::EntityKind::LineItem => &mut state.exported.line_items,
                crate::model::EntityKind::Category => &mut state.exported.categories,
                _ => &mut state.exported.results,
            };
            table.insert(sourced_id.clone(), record);
        }
        StateEffect::ExportDeleted { kind, sourced_id } => {
            let table = match kind {
                crate::model::EntityKind::LineItem => &mut state.exported.line_items,
                crate::model::EntityKind::Category => &mut state.exported.categories,
                _ => &mut state.exported.results,
            };
            table.remove(sourced_id);
        }
    }
}
