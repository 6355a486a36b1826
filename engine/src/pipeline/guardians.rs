//! Guardians (`classroom.guardians`, opt-in): a student's parents and guardians (OneRoster
//! users with role `parent`, `guardian` or `relative`, linked through `agents` in either
//! direction) are invited as Classroom guardians (`guardianInvitations.create`). Each
//! invitation is kept in the state by student and guardian, so it is sent once; a link the
//! SIS drops has its invitation withdrawn while pending (one already accepted stays until
//! removed in Classroom, as the API removes a guardian only by its own id).

use std::collections::{BTreeMap, BTreeSet};

use super::ops::{OpDraft, Phase};
use super::words::user_words;
use crate::model::{RecordIssue, Roster, Shared, User};
use crate::plan::{Action, OpChange, OpEntity, PlannedOp, StateEffect};
use crate::state::AppliedClassroom;

const GUARDIAN_ROLES: [&str; 3] = ["parent", "guardian", "relative"];

fn is_guardian(user: &User) -> bool {
    user.primary_role()
        .is_some_and(|r| GUARDIAN_ROLES.contains(&r))
}

fn is_student(user: &User) -> bool {
    user.primary_role() == Some("student")
}

/// Student email -> guardian email -> the guardian's words, from the roster's links.
fn links<'a>(
    roster: &'a Roster,
    issues: &mut Vec<RecordIssue>,
) -> BTreeMap<String, BTreeMap<String, &'a User>> {
    let mut out: BTreeMap<String, BTreeMap<String, &User>> = BTreeMap::new();
    let mut no_email = BTreeSet::new();
    let mut link = |student: &User, guardian: &'a User| {
        if !student.enabled_user || !guardian.enabled_user {
            return;
        }
        let (Some(s), Some(g)) = (student.normalized_email(), guardian.normalized_email()) else {
            if guardian.normalized_email().is_none() {
                no_email.insert(guardian.sourced_id.clone());
            }
            return;
        };
        out.entry(s).or_default().insert(g, guardian);
    };
    for user in roster.users.values() {
        for agent in &user.agents {
            let Some(other) = roster.users.get(agent.as_str()) else {
                continue;
            };
            if is_guardian(user) && is_student(other) {
                link(other, user);
            } else if is_student(user) && is_guardian(other) {
                link(user, other);
            }
        }
    }
    for id in no_email {
        issues.push(RecordIssue::warning(
            "roster",
            "users",
            Some(&id),
            "guardian has no email address, so cannot be invited as a Classroom guardian",
        ));
    }
    out
}

/// Invitations to send and to withdraw.
pub(crate) fn guardian_ops(
    roster: &Roster,
    known: &AppliedClassroom,
    ops: &mut Vec<OpDraft>,
    issues: &mut Vec<RecordIssue>,
) {
    let wanted = links(roster, issues);
    // Students by email, found once: a district's first run invites a guardian for most of
    // its students, and a scan of every user per invitation would be quadratic.
    let students: std::collections::HashMap<String, &User> = roster
        .users
        .values()
        .filter(|u| is_student(u))
        .filter_map(|u| u.normalized_email().map(|e| (e, u)))
        .collect();
    let student_words = |email: &str| {
        students
            .get(email)
            .map_or_else(|| email.to_string(), |u| user_words(u, email))
    };
    let draft = |key: String, change, summary: String, student: &str, action, effect| OpDraft {
        phase: if change == OpChange::Create {
            Phase::StudentAdd
        } else {
            Phase::StudentRemove
        },
        op: PlannedOp {
            op_id: String::new(),
            key,
            entity: OpEntity::Guardian,
            change,
            depends_on: Vec::new(),
            class_id: None,
            school_id: None,
            person: Some(Shared::from(student)),
            summary,
            before: None,
            after: None,
            action,
            why: None,
            effect,
        },
    };
    let none = BTreeMap::new();
    for (student, guardians) in &wanted {
        let sent = known.guardians.get(student).unwrap_or(&none);
        for (guardian, user) in guardians {
            if sent.contains_key(guardian) {
                continue;
            }
            ops.push(draft(
                format!("guardian.invite:{student}:{guardian}"),
                OpChange::Create,
                format!(
                    "invite {} as a guardian of student {}",
                    user_words(user, guardian),
                    student_words(student)
                ),
                student,
                Action::ClassroomInviteGuardian {
                    student_id: Shared::from(student),
                    email: Shared::from(guardian),
                },
                StateEffect::GuardianInvited {
                    student: Shared::from(student),
                    guardian: Shared::from(guardian),
                },
            ));
        }
    }
    let no_links = BTreeMap::new();
    for (student, sent) in &known.guardians {
        let still = wanted.get(student).unwrap_or(&no_links);
        for (guardian, invitation) in sent {
            if still.contains_key(guardian) {
                continue;
            }
            let Some(invitation_id) = invitation.invitation_id.clone() else {
                continue;
            };
            ops.push(draft(
                format!("guardian.withdraw:{student}:{guardian}"),
                OpChange::Delete,
                format!(
                    "withdraw the guardian invitation of {guardian} for student {} (the SIS no longer links them; a guardian who already accepted stays until removed in Classroom)",
                    student_words(student)
                ),
                student,
                Action::ClassroomWithdrawGuardianInvitation {
                    student_id: Shared::from(student),
                    invitation_id,
                },
                StateEffect::GuardianInvitationWithdrawn {
                    student: Shared::from(student),
                    guardian: Shared::from(guardian),
                },
            ));
        }
    }
}
