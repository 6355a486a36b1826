//! Why each roster operation is planned (issue 19, "why"): the SIS records behind it, with
//! the fields that changed, and the rules that applied. Worked out once the operations are
//! drafted, from what the run already holds (this run's roster and the last accepted one,
//! the roster's changes, the records the rules left out), looking up only the classes and
//! people the operations name. Grade operations are explained where they are made.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;

use super::cross_list::CrossListing;
use super::ops::OpDraft;
use crate::config::{ChangeKind, SyncConfig};
use crate::explanation::{AppliedRule, Cause, CauseChange, Explanation, RuleKind};
use crate::model::{Enrollment, EntityKind, Roster, Shared, User};
use crate::plan::{Action, Drift, FieldChange, MemberRole, OpChange, RosterChange, StateEffect};
use crate::state::OpFailure;

/// What the explanations are made from.
pub(crate) struct ExplainContext<'a> {
    pub config: &'a SyncConfig,
    pub roster: &'a Roster,
    pub previous: &'a Roster,
    pub changes: &'a [RosterChange],
    /// Records the rules left out this run, with the rule.
    pub skipped: &'a BTreeMap<(EntityKind, &'a str), &'a AppliedRule>,
    pub today: &'a str,
    pub failures: &'a BTreeMap<String, OpFailure>,
    pub drift: &'a [Drift],
    pub cross: &'a CrossListing,
}

/// Sets `why` on every roster operation of `ops`, and adds the retry rule to any operation
/// that failed before.
pub(crate) fn explain_roster(ctx: &ExplainContext<'_>, ops: &mut [OpDraft]) {
    let index = Index::new(ctx, ops);
    for op in ops.iter_mut() {
        // Grade writes come explained from grade mapping.
        let (causes, mut rules) = match op.why.take() {
            Some(why) => (why.causes, why.rules),
            None => explain_one(ctx, &index, op),
        };
        if let Some(failure) = ctx.failures.get(&op.key) {
            rules.push(AppliedRule::new(
                RuleKind::Retry,
                "retry",
                format!(
                    "it failed before ({} attempt(s), last: {}), and failed operations are tried again",
                    failure.attempts, failure.error
                ),
            ));
        }
        if let Some(d) = ctx
            .drift
            .iter()
            .find(|d| d.repair_key.as_deref() == Some(op.key.as_str()))
        {
            rules.push(AppliedRule::new(
                RuleKind::Drift,
                "classroom.drift",
                format!("{}; drift is repaired to match the SIS", d.message),
            ));
        }
        op.why = Some(Box::new(Explanation::new(causes, rules)));
    }
}

/// The roster's changes by record, and the people and enrolments the operations name. Sorted
/// vectors, not maps: built while a district's first plan is held whole, they add to its peak.
struct Index<'a> {
    changes: Vec<((EntityKind, &'a str), &'a RosterChange)>,
    /// email -> users with it, this run's roster first, then the last accepted one.
    people: BTreeMap<String, Vec<&'a User>>,
    /// (class, user) and the enrolment, this run's and (for classes with removals) the last
    /// accepted roster's.
    enrolments: Vec<((&'a str, &'a str), &'a Enrollment)>,
}

impl<'a> Index<'a> {
    fn new(ctx: &ExplainContext<'a>, ops: &[OpDraft]) -> Index<'a> {
        let mut changes: Vec<((EntityKind, &str), &RosterChange)> = ctx
            .changes
            .iter()
            .map(|c| ((c.entity, c.sourced_id.as_str()), c))
            .collect();
        changes.sort_unstable_by_key(|(k, _)| *k);
        let mut wanted: BTreeSet<&str> = ops.iter().filter_map(|o| o.person.as_deref()).collect();
        for op in ops {
            if let StateEffect::GuardianInvited { student, guardian }
            | StateEffect::GuardianInvitationWithdrawn { student, guardian } = &op.effect
            {
                wanted.insert(student);
                wanted.insert(guardian);
            }
        }
        let member_classes = |removal: bool| -> BTreeSet<&str> {
            ops.iter()
                .filter(|o| match o.action {
                    Action::ClassroomAddTeacher { .. }
                    | Action::ClassroomAddStudent { .. }
                    | Action::ClassroomInvite { .. } => !removal,
                    Action::ClassroomRemoveTeacher { .. }
                    | Action::ClassroomRemoveStudent { .. }
                    | Action::ClassroomDeleteInvitation { .. } => true,
                    _ => false,
                })
                .filter_map(|o| o.class_id.as_deref())
                .flat_map(|c| ctx.cross.classes_of(ctx.cross.primary(c)))
                .collect()
        };
        // Additions are explained from this run's roster; removals from both.
        let classes = member_classes(false);
        let removed_from = member_classes(true);
        let mut people: BTreeMap<String, Vec<&User>> = BTreeMap::new();
        let mut enrolments: Vec<((&str, &str), &Enrollment)> = Vec::new();
        for (roster, classes) in [(ctx.roster, &classes), (ctx.previous, &removed_from)] {
            if !wanted.is_empty() {
                for user in roster.users.values() {
                    if let Some(email) = user.normalized_email()
                        && wanted.contains(email.as_str())
                    {
                        people.entry(email).or_default().push(user);
                    }
                }
            }
            if !classes.is_empty() {
                enrolments.extend(
                    roster
                        .enrollments
                        .values()
                        .filter(|e| classes.contains(e.class.as_str()))
                        .map(|e| ((e.class.as_str(), e.user.as_str()), e)),
                );
            }
        }
        enrolments.sort_by_key(|(k, _)| *k);
        Index {
            changes,
            people,
            enrolments,
        }
    }

    fn change(&self, kind: EntityKind, id: &str) -> Option<&'a RosterChange> {
        self.changes
            .binary_search_by(|(k, _)| k.cmp(&(kind, id)))
            .ok()
            .map(|at| self.changes[at].1)
    }

    /// The enrolments of `user` in `class`.
    fn enrolments(&self, class: &str, user: &str) -> impl Iterator<Item = &'a Enrollment> {
        let key = (class, user);
        let from = self.enrolments.partition_point(|(k, _)| *k < key);
        self.enrolments[from..]
            .iter()
            .take_while(move |(k, _)| *k == key)
            .map(|(_, e)| *e)
    }
}

fn explain_one(
    ctx: &ExplainContext<'_>,
    index: &Index<'_>,
    op: &OpDraft,
) -> (Vec<Cause>, Vec<AppliedRule>) {
    let class_id = op.class_id.as_deref().unwrap_or_default();
    let mut rules = Vec::new();
    let causes = match &op.action {
        Action::ClassroomCreateCourse { .. } => {
            cross_rule(ctx, class_id, &mut rules);
            vec![class_cause(
                ctx,
                index,
                class_id,
                "has no Classroom course yet",
            )]
        }
        Action::ClassroomPatchCourse { .. } if op.change == OpChange::Archive => {
            archive_causes(ctx, index, op, &mut rules)
        }
        Action::ClassroomPatchCourse { update_mask, .. } => {
            rules.push(AppliedRule::new(
                RuleKind::MasterField,
                "masters",
                format!(
                    "the SIS owns the course's {} (master fields)",
                    update_mask.join(", ")
                ),
            ));
            vec![class_cause(
                ctx,
                index,
                class_id,
                "differs from its Classroom course",
            )]
        }
        Action::ClassroomAddTeacher { user_id, .. }
        | Action::ClassroomAddStudent { user_id, .. } => {
            cross_rule(ctx, class_id, &mut rules);
            member_add_causes(ctx, index, op, user_id)
        }
        Action::ClassroomInvite { user_id, .. } => {
            rules.push(invitation_rule(ctx, op, user_id));
            member_add_causes(ctx, index, op, user_id)
        }
        Action::ClassroomRemoveTeacher { user_id, .. }
        | Action::ClassroomRemoveStudent { user_id, .. } => {
            member_remove_causes(ctx, index, op, user_id, &mut rules)
        }
        Action::ClassroomDeleteInvitation { .. } => {
            let email = op.person.as_deref().unwrap_or_default();
            member_remove_causes(ctx, index, op, email, &mut rules)
        }
        Action::ClassroomCreateTopic { .. } | Action::ClassroomPatchTopic { .. } => {
            rules.push(AppliedRule::new(
                RuleKind::MasterField,
                "classroom.categoriesAsTopics",
                "the SIS's categories become Classroom topics, and the SIS owns their titles",
            ));
            match &op.effect {
                StateEffect::TopicUpsert { category_id, .. } => {
                    vec![record_cause(index, EntityKind::Category, category_id, None)]
                }
                _ => Vec::new(),
            }
        }
        Action::ClassroomInviteGuardian { .. }
        | Action::ClassroomWithdrawGuardianInvitation { .. } => {
            rules.push(AppliedRule::new(
                RuleKind::Guardian,
                "classroom.guardians",
                "guardians linked to a student in the SIS (users.agents) are invited as Classroom guardians",
            ));
            guardian_causes(index, op)
        }
        _ => Vec::new(),
    };
    (causes, rules)
}

/// `the SIS's class X (title) is new`, `... changed (title 'A' → 'B')`, `... was removed`.
fn class_cause(
    ctx: &ExplainContext<'_>,
    index: &Index<'_>,
    class_id: &str,
    unchanged: &str,
) -> Cause {
    let mut cause = record_cause(index, EntityKind::Class, class_id, Some(unchanged));
    if cause.change == CauseChange::Removed
        && let Some(rule) = ctx.skipped.get(&(EntityKind::Class, class_id))
    {
        cause.says = Some(format!("{} ({})", cause.says(), rule.says));
    }
    cause
}

/// A SIS record as this run's change of it says. The standard sentences are left to
/// [`Cause::says`]; only what differs is kept.
fn record_cause(index: &Index<'_>, kind: EntityKind, id: &str, unchanged: Option<&str>) -> Cause {
    match index.change(kind, id) {
        Some(c) => {
            let (change, says) = match c.change {
                ChangeKind::Create => (CauseChange::New, None),
                ChangeKind::Update => (CauseChange::Changed, None),
                _ => (
                    CauseChange::Removed,
                    c.cause
                        .as_ref()
                        .map(|why| format!("the SIS's {kind} '{id}' was removed ({why})")),
                ),
            };
            Cause {
                collection: Shared::from(kind.collection()),
                id: id.to_string(),
                change,
                fields: c.fields.clone(),
                says,
            }
        }
        None => Cause {
            collection: Shared::from(kind.collection()),
            id: id.to_string(),
            change: CauseChange::Unchanged,
            fields: Vec::new(),
            says: unchanged.map(|u| format!("the SIS's {kind} '{id}' {u}")),
        },
    }
}

fn cross_rule(ctx: &ExplainContext<'_>, class_id: &str, rules: &mut Vec<AppliedRule>) {
    let primary = ctx.cross.primary(class_id);
    let group = ctx.cross.classes_of(primary);
    if group.len() > 1 {
        rules.push(AppliedRule::new(
            RuleKind::CrossList,
            "classroom.crossList",
            format!(
                "classes {} are taught in one course, the course of class {primary}",
                group.join(", ")
            ),
        ));
    }
}

fn archive_causes(
    ctx: &ExplainContext<'_>,
    index: &Index<'_>,
    op: &OpDraft,
    rules: &mut Vec<AppliedRule>,
) -> Vec<Cause> {
    let class_id = op.class_id.as_deref().unwrap_or_default();
    if ctx.cross.primary(class_id) != class_id {
        cross_rule(ctx, class_id, rules);
        return vec![class_cause(
            ctx,
            index,
            class_id,
            "is in a cross-listed group",
        )];
    }
    let Some(class) = ctx.roster.classes.get(class_id) else {
        if let Some(rule) = ctx.skipped.get(&(EntityKind::Class, class_id)) {
            rules.push((*rule).clone());
        }
        return vec![class_cause(
            ctx,
            index,
            class_id,
            "is no longer in the roster",
        )];
    };
    rules.push(AppliedRule::new(
        RuleKind::TermEnd,
        "classroom.termEnd",
        "a course is archived when every term of its class has ended; its members stay",
    ));
    class
        .terms
        .iter()
        .filter_map(|t| ctx.roster.academic_sessions.get(t.as_str()))
        .map(|term| {
            let end = &term.end_date[..10.min(term.end_date.len())];
            Cause {
                collection: Shared::from(EntityKind::AcademicSession.collection()),
                id: term.sourced_id.clone(),
                change: if index
                    .change(EntityKind::AcademicSession, &term.sourced_id)
                    .is_some()
                {
                    CauseChange::Changed
                } else {
                    CauseChange::Unchanged
                },
                fields: vec![FieldChange {
                    field: "endDate".into(),
                    before: None,
                    after: Some(json!(term.end_date)),
                }],
                says: Some(format!(
                    "the SIS's term '{}' ({}) ended on {end} (academicSessions.endDate)",
                    term.sourced_id, term.title
                )),
            }
        })
        .collect()
}

fn role_of(op: &OpDraft) -> MemberRole {
    match &op.action {
        Action::ClassroomAddTeacher { .. } | Action::ClassroomRemoveTeacher { .. } => {
            MemberRole::Teacher
        }
        Action::ClassroomInvite { role, .. } => *role,
        _ => match &op.effect {
            StateEffect::MemberAdded { role, .. }
            | StateEffect::MemberRemoved { role, .. }
            | StateEffect::Invited { role, .. } => *role,
            _ => MemberRole::Student,
        },
    }
}

fn role_name(role: MemberRole) -> &'static str {
    match role {
        MemberRole::Teacher => "teacher",
        MemberRole::Student => "student",
    }
}

/// The enrolments of `user` with `role` in the classes taught in `class_id`'s course.
fn enrolments_of<'a>(
    ctx: &ExplainContext<'_>,
    index: &Index<'a>,
    class_id: &str,
    user: &str,
    role: MemberRole,
) -> Vec<&'a Enrollment> {
    let mut seen = BTreeSet::new();
    ctx.cross
        .classes_of(ctx.cross.primary(class_id))
        .into_iter()
        .flat_map(|c| index.enrolments(c, user))
        .filter(|e| e.role.as_str() == role_name(role))
        .filter(|e| seen.insert(e.sourced_id.as_str()))
        .collect()
}

fn day(date: &str) -> &str {
    &date[..10.min(date.len())]
}

fn is_current(e: &Enrollment, today: &str) -> bool {
    e.begin_date.as_deref().is_none_or(|b| day(b) <= today)
        && e.end_date.as_deref().is_none_or(|d| day(d) >= today)
}

fn member_add_causes(
    ctx: &ExplainContext<'_>,
    index: &Index<'_>,
    op: &OpDraft,
    email: &str,
) -> Vec<Cause> {
    let class_id = op.class_id.as_deref().unwrap_or_default();
    let role = role_of(op);
    let users = index
        .people
        .get(email)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for user in users {
        let Some(e) = enrolments_of(ctx, index, class_id, &user.sourced_id, role)
            .into_iter()
            .find(|e| {
                is_current(e, ctx.today) && ctx.roster.enrollments.contains_key(&e.sourced_id)
            })
        else {
            continue;
        };
        let mut causes = vec![record_cause(
            index,
            EntityKind::Enrollment,
            &e.sourced_id,
            Some(&format!(
                "enrols {} as a {} in class '{}', and they are not in its course yet",
                email,
                role_name(role),
                e.class
            )),
        )];
        if let Some(begin) = e.begin_date.as_deref().filter(|b| day(b) == ctx.today) {
            causes[0].says = Some(format!(
                "the SIS's enrollment '{}' begins on {} (enrollments.beginDate)",
                e.sourced_id,
                day(begin)
            ));
        }
        // The person's own change (a new address, re-enabled) is part of why, unless the
        // enrolment itself is new (a first sync names each enrolment, not each person again).
        if let Some(c) = index.change(EntityKind::User, &user.sourced_id)
            && c.change != ChangeKind::Delete
            && causes[0].change != CauseChange::New
        {
            causes.push(record_cause(
                index,
                EntityKind::User,
                &user.sourced_id,
                None,
            ));
        }
        return causes;
    }
    vec![Cause {
        collection: Shared::from("enrollments"),
        id: class_id.to_string(),
        change: CauseChange::Unchanged,
        fields: Vec::new(),
        says: Some(format!(
            "the SIS enrols {email} as a {} in class '{class_id}'",
            role_name(role)
        )),
    }]
}

fn invitation_rule(ctx: &ExplainContext<'_>, op: &OpDraft, email: &str) -> AppliedRule {
    let direct_key = op.key.replacen(".invite:", ".add:", 1);
    let refused = ctx
        .failures
        .get(&direct_key)
        .is_some_and(|f| f.error.contains("CannotDirectAddUser"));
    if refused || ctx.config.classroom.domains.is_empty() {
        AppliedRule::new(
            RuleKind::Invitation,
            "classroom.domains",
            format!(
                "Classroom refused to add {email} directly (CannotDirectAddUser), so they are invited and join on accepting"
            ),
        )
    } else {
        AppliedRule::new(
            RuleKind::Invitation,
            "classroom.domains",
            format!(
                "{email} is outside the domains added directly ({}), so they are invited and join on accepting",
                ctx.config.classroom.domains.join(", ")
            ),
        )
    }
}

fn member_remove_causes(
    ctx: &ExplainContext<'_>,
    index: &Index<'_>,
    op: &OpDraft,
    email: &str,
    rules: &mut Vec<AppliedRule>,
) -> Vec<Cause> {
    let class_id = op.class_id.as_deref().unwrap_or_default();
    let role = role_of(op);
    if op.summary.contains("(not in the SIS's class since") {
        rules.push(AppliedRule::new(
            RuleKind::RemovalGrace,
            "classroom.removalGraceDays",
            format!(
                "a student the SIS drops stays in the course {} day(s) before being removed",
                ctx.config.classroom.removal_grace_days
            ),
        ));
    }
    let users = index
        .people
        .get(email)
        .map(Vec::as_slice)
        .unwrap_or_default();
    // Still in this run's roster: enrolled but no longer current, or disabled.
    for user in users
        .iter()
        .filter(|u| ctx.roster.users.contains_key(&u.sourced_id))
    {
        let enrolments = enrolments_of(ctx, index, class_id, &user.sourced_id, role);
        if enrolments.iter().any(|e| is_current(e, ctx.today))
            && ctx
                .roster
                .users
                .get(&user.sourced_id)
                .is_some_and(|u| !u.enabled_user)
        {
            rules.push(AppliedRule::new(
                RuleKind::UserDisabled,
                "enabledUser",
                "a disabled user is removed from their courses",
            ));
            let mut cause = record_cause(index, EntityKind::User, &user.sourced_id, None);
            cause.says = Some(format!(
                "the SIS's user '{}' is disabled (users.enabledUser = false)",
                user.sourced_id
            ));
            return vec![cause];
        }
        if let Some(e) = enrolments.iter().find(|e| {
            ctx.roster.enrollments.contains_key(&e.sourced_id) && !is_current(e, ctx.today)
        }) {
            rules.push(AppliedRule::new(
                RuleKind::EnrollmentDates,
                "enrollments.beginDate/endDate",
                "enrolments count from their begin date to their end date; past the end, the member is removed",
            ));
            let mut cause = record_cause(index, EntityKind::Enrollment, &e.sourced_id, None);
            cause.says = match (e.end_date.as_deref(), e.begin_date.as_deref()) {
                (Some(end), _) if day(end) < ctx.today => Some(format!(
                    "the SIS's enrollment '{}' ended on {} (enrollments.endDate)",
                    e.sourced_id,
                    day(end)
                )),
                (_, Some(begin)) => Some(format!(
                    "the SIS's enrollment '{}' begins only on {} (enrollments.beginDate)",
                    e.sourced_id,
                    day(begin)
                )),
                _ => cause.says.take(),
            };
            return vec![cause];
        }
    }
    // Gone from this run's roster: the enrolment, its user or its class went.
    let gone = users.iter().find_map(|user| {
        enrolments_of(ctx, index, class_id, &user.sourced_id, role)
            .into_iter()
            .find(|e| !ctx.roster.enrollments.contains_key(&e.sourced_id))
    });
    if let Some(e) = gone {
        let mut cause = record_cause(index, EntityKind::Enrollment, &e.sourced_id, None);
        // The rule at the root: the user's or class's, else the enrolment's own.
        for (kind, id) in [
            (EntityKind::User, e.user.as_str()),
            (EntityKind::Class, e.class.as_str()),
            (EntityKind::Enrollment, e.sourced_id.as_str()),
        ] {
            if let Some(rule) = ctx.skipped.get(&(kind, id)) {
                rules.push((*rule).clone());
                break;
            }
        }
        if cause.change == CauseChange::Unchanged {
            cause.change = CauseChange::Removed;
            cause.says = None;
        }
        return vec![cause];
    }
    // The address changed: the person is enrolled under their new one.
    for user in users {
        if let Some(c) = index.change(EntityKind::User, &user.sourced_id)
            && c.fields.iter().any(|f| f.field == "email")
        {
            return vec![record_cause(
                index,
                EntityKind::User,
                &user.sourced_id,
                None,
            )];
        }
    }
    vec![Cause {
        collection: Shared::from("enrollments"),
        id: class_id.to_string(),
        change: CauseChange::Removed,
        fields: Vec::new(),
        says: Some(format!(
            "the SIS no longer enrols {email} as a {} in class '{class_id}'",
            role_name(role)
        )),
    }]
}

fn guardian_causes(index: &Index<'_>, op: &OpDraft) -> Vec<Cause> {
    let (StateEffect::GuardianInvited { student, guardian }
    | StateEffect::GuardianInvitationWithdrawn { student, guardian }) = &op.effect
    else {
        return Vec::new();
    };
    let added = op.change == OpChange::Create;
    // The link changed on the student's record, the guardian's, or both.
    let mut causes: Vec<Cause> = [student, guardian]
        .into_iter()
        .filter_map(|email| index.people.get(email.as_ref())?.first())
        .filter(|user| index.change(EntityKind::User, &user.sourced_id).is_some())
        .map(|user| record_cause(index, EntityKind::User, &user.sourced_id, None))
        .collect();
    let link = if added {
        format!("the SIS links guardian {guardian} to student {student} (users.agents)")
    } else {
        format!("the SIS no longer links guardian {guardian} to student {student} (users.agents)")
    };
    if causes.is_empty() {
        causes.push(Cause {
            collection: Shared::from("users"),
            id: student.to_string(),
            change: if added {
                CauseChange::Unchanged
            } else {
                CauseChange::Removed
            },
            fields: Vec::new(),
            says: Some(link.clone()),
        });
    } else {
        causes.insert(
            0,
            Cause {
                collection: Shared::from("users"),
                id: student.to_string(),
                change: if added {
                    CauseChange::New
                } else {
                    CauseChange::Removed
                },
                fields: Vec::new(),
                says: Some(link.clone()),
            },
        );
    }
    causes
}
