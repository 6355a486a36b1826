//! Drift: Classroom changed by hand away from what classbridge set there (a student removed,
//! a course renamed or archived, someone added the SIS does not enrol). The SIS is the master
//! of rosters, so each kind is repaired, reported or ignored by rule (`rules.drift`), and
//! shown in the preview as drift, never as an unexplained change. Only what the listings
//! show completely is compared: a course's members only when both lists were read whole.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::super::ops::{OpDraft, Phase};
use super::DesiredCourse;
use crate::config::{DriftAction, SyncConfig, resolve_master};
use crate::model::*;
use crate::plan::{
    Action, Drift, DriftKind, MemberRole, OpChange, OpEntity, PlannedOp, StateEffect,
};
use crate::state::AppliedClassroom;

pub(super) struct Reconciled {
    pub drift: Vec<Drift>,
    pub ignored: BTreeMap<String, u64>,
}

/// Compares Classroom with what the state says classbridge set. Repairs are prepared by
/// editing `known` to what Classroom has (so the ordinary mapping plans the way back) or, for
/// extra members, as removal operations pushed onto `ops`.
pub(super) fn reconcile(
    config: &SyncConfig,
    roster: &Roster,
    desired: &BTreeMap<String, DesiredCourse>,
    known: &mut AppliedClassroom,
    snapshot: &ClassroomSnapshot,
    members_complete: &BTreeSet<String>,
    ops: &mut Vec<OpDraft>,
) -> Reconciled {
    let mut out = Reconciled {
        drift: Vec::new(),
        ignored: BTreeMap::new(),
    };
    if snapshot.courses.is_empty() {
        return out;
    }
    let by_alias: BTreeMap<&str, &ClassroomCourse> = snapshot
        .courses
        .values()
        .flat_map(|c| c.aliases.iter().map(move |a| (a.as_str(), c)))
        .collect();
    let mut sis_emails: Option<BTreeSet<String>> = None;
    for (class_id, want) in desired {
        let Some(found) = by_alias.get(want.course.alias.as_str()) else {
            continue;
        };
        if !known.courses.contains_key(class_id) {
            continue;
        }
        course_fields(config, class_id, want, found, known, &mut out);
        if !members_complete.contains(&found.id) {
            continue;
        }
        for role in [MemberRole::Teacher, MemberRole::Student] {
            let listed = match role {
                MemberRole::Teacher => snapshot.teachers.get(&found.id),
                MemberRole::Student => snapshot.students.get(&found.id),
            };
            let listed = listed.map(Vec::as_slice).unwrap_or(&[]);
            // Without every member's email the lists cannot be compared.
            let present: Option<BTreeSet<String>> =
                listed.iter().map(CourseMember::email).collect();
            let Some(present) = present else {
                continue;
            };
            let emails = sis_emails.get_or_insert_with(|| {
                roster
                    .users
                    .values()
                    .filter_map(User::normalized_email)
                    .collect()
            });
            members(
                config, class_id, want, role, &present, emails, known, ops, &mut out,
            );
        }
    }
    out
}

fn record(out: &mut Reconciled, action: DriftAction, kind: &str, drift: Drift) {
    if action == DriftAction::Ignore {
        *out.ignored
            .entry(format!("drift.{kind}.ignored"))
            .or_default() += 1;
    } else {
        out.drift.push(drift);
    }
}

fn blank_is_none(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn course_fields(
    config: &SyncConfig,
    class_id: &str,
    want: &DesiredCourse,
    found: &ClassroomCourse,
    known: &mut AppliedClassroom,
    out: &mut Reconciled,
) {
    let action = config.drift.course_fields;
    let sis_owns = |field: &str| resolve_master(config, EntityKind::Class, None, field).sis_owns();
    let Some(have) = known.courses.get_mut(class_id) else {
        return;
    };
    let alias = want.course.alias.clone();
    let course_name = want.course.name.clone();
    let mut drifts: Vec<(&str, Option<String>, Option<String>)> = Vec::new();
    let fields: [FieldView; 3] = [
        (
            "name",
            Some(have.name.clone()),
            Some(found.name.clone()),
            Some(want.course.name.clone()),
            "title",
        ),
        (
            "section",
            have.section.clone(),
            found.section.clone(),
            want.course.section.clone(),
            "classCode",
        ),
        (
            "room",
            have.room.clone(),
            found.room.clone(),
            want.course.room.clone(),
            "location",
        ),
    ];
    for (field, set, now, sis, master_field) in fields {
        let (set, now_v, sis) = (
            blank_is_none(&set),
            blank_is_none(&now),
            blank_is_none(&sis),
        );
        if !sis_owns(master_field) || now_v == set {
            continue;
        }
        if now_v == sis {
            // Classroom already says what the SIS says: remember it, nothing to repair.
            set_field(have, field, now.clone());
            continue;
        }
        drifts.push((field, sis.map(str::to_string), now_v.map(str::to_string)));
        if action == DriftAction::Repair {
            set_field(have, field, now.clone());
        }
    }
    if found.course_state.as_deref() == Some("ARCHIVED")
        && have.course_state != "ARCHIVED"
        && sis_owns("status")
    {
        drifts.push((
            "courseState",
            Some(have.course_state.clone()),
            Some("ARCHIVED".into()),
        ));
        if action == DriftAction::Repair {
            have.course_state = "ARCHIVED".into();
        }
    }
    for (field, expected, now) in drifts {
        let done = match action {
            DriftAction::Repair => "set back",
            _ => "reported only",
        };
        let message = format!(
            "course '{course_name}' has {field} {} in Classroom; the SIS says {}: {done} (rules.drift.courseFields = {})",
            shown(&now),
            shown(&expected),
            action_name(action)
        );
        record(
            out,
            action,
            "courseField",
            Drift {
                kind: DriftKind::CourseField,
                class_id: class_id.to_string(),
                alias: alias.clone(),
                subject: field.to_string(),
                role: None,
                expected: expected.map(Value::from),
                found: now.map(Value::from),
                action,
                repair_key: None,
                message,
            },
        );
    }
}

/// (Classroom field, what we set, what Classroom has, what the SIS says, the SIS field that
/// owns it).
type FieldView = (
    &'static str,
    Option<String>,
    Option<String>,
    Option<String>,
    &'static str,
);

fn set_field(course: &mut crate::state::AppliedCourse, field: &str, value: Option<String>) {
    match field {
        "name" => course.name = value.unwrap_or_default(),
        "section" => course.section = value,
        _ => course.room = value,
    }
}

fn shown(v: &Option<String>) -> String {
    v.as_deref()
        .map_or_else(|| "nothing".to_string(), |s| format!("'{s}'"))
}

pub(super) fn action_name(action: DriftAction) -> &'static str {
    match action {
        DriftAction::Repair => "repair",
        DriftAction::Report => "report",
        DriftAction::Ignore => "ignore",
    }
}

#[allow(clippy::too_many_arguments)]
fn members(
    config: &SyncConfig,
    class_id: &str,
    want: &DesiredCourse,
    role: MemberRole,
    present: &BTreeSet<String>,
    sis_emails: &BTreeSet<String>,
    known: &mut AppliedClassroom,
    ops: &mut Vec<OpDraft>,
    out: &mut Reconciled,
) {
    let alias = &want.course.alias;
    let owner = known
        .courses
        .get(class_id)
        .map(|c| c.owner.clone())
        .unwrap_or_default();
    let (wanted, noun) = match role {
        MemberRole::Teacher => (&want.teachers, "teacher"),
        MemberRole::Student => (&want.students, "student"),
    };
    let added = match role {
        MemberRole::Teacher => known.teachers.entry(class_id.to_string()).or_default(),
        MemberRole::Student => known.students.entry(class_id.to_string()).or_default(),
    };
    let missing: Vec<String> = added
        .intersection(wanted)
        .filter(|e| !present.contains(*e) && **e != owner)
        .cloned()
        .collect();
    let action = config.drift.missing_member;
    for email in missing {
        let repair_key = (action == DriftAction::Repair).then(|| {
            // Forgetting the addition makes the mapping add them again.
            added.remove(&email);
            format!("{noun}.add:{alias}:{email}")
        });
        let done = match action {
            DriftAction::Repair => "added back",
            _ => "reported only",
        };
        record(
            out,
            action,
            "missingMember",
            Drift {
                kind: DriftKind::MissingMember,
                class_id: class_id.to_string(),
                alias: alias.clone(),
                subject: email.clone(),
                role: Some(role),
                expected: Some(json!("member")),
                found: None,
                action,
                repair_key,
                message: format!(
                    "{noun} {email} was removed from '{}' in Classroom, but the SIS enrols them: {done} (rules.drift.missingMember = {})",
                    want.course.name,
                    action_name(action)
                ),
            },
        );
    }
    let extra: Vec<&String> = present
        .iter()
        .filter(|e| !wanted.contains(*e) && !added.contains(*e) && **e != owner)
        .collect();
    let action = config.drift.extra_member;
    for email in extra {
        let who = if sis_emails.contains(email) {
            "the SIS does not enrol them in this class"
        } else {
            "the SIS does not know them"
        };
        let repair_key = (action == DriftAction::Repair).then(|| {
            let key = format!("{noun}.remove:{alias}:{email}");
            ops.push(removal(class_id, want, role, email, key.clone()));
            key
        });
        let done = match action {
            DriftAction::Repair => "removed",
            _ => "left in place and reported ('repair' would remove them)",
        };
        record(
            out,
            action,
            "extraMember",
            Drift {
                kind: DriftKind::ExtraMember,
                class_id: class_id.to_string(),
                alias: alias.clone(),
                subject: email.clone(),
                role: Some(role),
                expected: None,
                found: Some(json!("member")),
                action,
                repair_key,
                message: format!(
                    "{noun} {email} is in '{}' in Classroom but {who}: {done} (rules.drift.extraMember = {})",
                    want.course.name,
                    action_name(action)
                ),
            },
        );
    }
}

fn removal(
    class_id: &str,
    want: &DesiredCourse,
    role: MemberRole,
    email: &str,
    key: String,
) -> OpDraft {
    let alias = Shared::from(&want.course.alias);
    let (entity, phase, action, noun) = match role {
        MemberRole::Teacher => (
            OpEntity::Teacher,
            Phase::TeacherRemove,
            Action::ClassroomRemoveTeacher {
                alias,
                user_id: Shared::from(email),
            },
            "teacher",
        ),
        MemberRole::Student => (
            OpEntity::Student,
            Phase::StudentRemove,
            Action::ClassroomRemoveStudent {
                alias,
                user_id: Shared::from(email),
            },
            "student",
        ),
    };
    OpDraft {
        phase,
        op: PlannedOp {
            op_id: String::new(),
            key,
            entity,
            change: OpChange::Delete,
            depends_on: Vec::new(),
            class_id: Some(Shared::from(class_id)),
            school_id: Some(want.class.school.clone()),
            person: Some(Shared::from(email)),
            summary: format!(
                "remove {noun} {email} from '{}' (drift: added in Classroom, not enrolled in the SIS)",
                want.course.name
            ),
            before: None,
            after: None,
            action,
            why: None,
            effect: StateEffect::MemberRemoved {
                class_id: Shared::from(class_id),
                role,
                email: Shared::from(email),
            },
        },
    }
}
