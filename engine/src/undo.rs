//! Undo (issue 19): the inverse of an applied run, planned from its plan, its journal's
//! outcomes and the SIS values its writes replaced, as a normal plan that waits for approval
//! and has its own journal. Members added are removed and members removed added back,
//! renamed or archived courses restored, courses and topics the run made deleted (only while
//! no teacher work sits in them), SIS lineItems and results put back as they were (or
//! deleted when the run created them). What cannot be undone is listed as a record issue,
//! never forced. Pure: what Classroom holds now comes in as [`UndoFacts`].

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::explanation::{AppliedRule, Cause, CauseChange, Explanation, RuleKind};
use crate::json_text::JsonText;
use crate::model::{EntityKind, RecordIssue, Shared};
use crate::pipeline::ops::{OpDraft, Phase};
use crate::plan::{
    Action, MemberRole, OpChange, OpOutcome, OutcomeResult, PlannedOp, StateEffect, SyncPlan,
};

/// A SIS record as it was before a run wrote it, read by the host just before the write.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub enum PriorRecord {
    /// The SIS did not have it (404).
    Absent,
    /// The SIS's answer to `GET {collection}/{sourcedId}`, envelope included.
    Record(Value),
}

/// What Classroom holds now, as far as an undo needs to know: work that would be lost.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", default)]
pub struct UndoFacts {
    /// Courses the run made, by alias: how many courseWork items each holds now. A course
    /// not listed could not be read, and is not deleted.
    pub course_work: BTreeMap<String, u64>,
    /// Topics the run made, by topic id: how many courseWork items sit under each now.
    pub topic_work: BTreeMap<String, u64>,
    /// Students the run added, by course alias then email: how many submissions they have
    /// turned in since (a student with work is not removed).
    pub submissions: BTreeMap<String, BTreeMap<String, u64>>,
}

/// `cb_undo`'s request.
#[derive(Serialize, Deserialize, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct UndoRequest<'a> {
    /// The run's number, named in the undo's words and keys.
    pub run: u64,
    /// The plan the run applied.
    pub plan: Cow<'a, SyncPlan>,
    /// What became of each of its operations (the journal).
    #[serde(default)]
    pub outcomes: Cow<'a, [OpOutcome]>,
    /// The SIS's values before each write, by operation id.
    #[serde(default)]
    pub priors: BTreeMap<String, PriorRecord>,
    /// What Classroom holds now.
    #[serde(default)]
    pub facts: UndoFacts,
    /// The state's revision now: the undo is made from it.
    pub base_revision: u64,
    /// The time of the undo's planning (RFC 3339 UTC).
    pub now: String,
}

/// The operations that succeeded, by id, with the remote id each was given: only these are
/// undone (and the host reads Classroom only about these).
pub fn succeeded(outcomes: &[OpOutcome]) -> BTreeMap<&str, Option<&str>> {
    outcomes
        .iter()
        .filter_map(|o| match &o.result {
            OutcomeResult::Succeeded { remote_id } => {
                Some((o.op_id.as_str(), remote_id.as_deref()))
            }
            _ => None,
        })
        .collect()
}

/// The call that adds (`add`) or removes a member of `role`, its phase and its noun.
fn member_call(
    role: MemberRole,
    alias: &Shared,
    user_id: &Shared,
    add: bool,
) -> (Action, Phase, &'static str) {
    let (alias, user_id) = (alias.clone(), user_id.clone());
    match (role, add) {
        (MemberRole::Teacher, true) => (
            Action::ClassroomAddTeacher { alias, user_id },
            Phase::TeacherAdd,
            "teacher",
        ),
        (MemberRole::Student, true) => (
            Action::ClassroomAddStudent { alias, user_id },
            Phase::StudentAdd,
            "student",
        ),
        (MemberRole::Teacher, false) => (
            Action::ClassroomRemoveTeacher { alias, user_id },
            Phase::TeacherRemove,
            "teacher",
        ),
        (MemberRole::Student, false) => (
            Action::ClassroomRemoveStudent { alias, user_id },
            Phase::StudentRemove,
            "student",
        ),
    }
}

/// Plans the inverse of an applied run. Always waits for approval.
pub fn undo(request: &UndoRequest<'_>) -> Result<SyncPlan, crate::EngineError> {
    let succeeded = succeeded(&request.outcomes);
    let mut undo = Undo {
        request,
        drafts: Vec::new(),
        issues: Vec::new(),
        deleted_courses: BTreeSet::new(),
    };
    // Courses to delete first: their members and topics go with them.
    for op in &request.plan.ops {
        if let (Some(remote), Action::ClassroomCreateCourse { alias, .. }) =
            (succeeded.get(op.op_id.as_str()), &op.action)
        {
            undo.course_create(op, alias, *remote);
        }
    }
    for op in &request.plan.ops {
        let Some(remote) = succeeded.get(op.op_id.as_str()) else {
            continue;
        };
        undo.inverse(op, *remote);
    }
    let Undo { drafts, issues, .. } = undo;
    let ops = crate::pipeline::build::order(drafts, &BTreeMap::new());
    let mut summary = crate::plan::PreviewSummary::default();
    for op in &ops {
        *summary
            .operations
            .entry(op.entity)
            .or_default()
            .entry(op.change)
            .or_default() += 1;
    }
    summary.record_issues = issues.len() as u64;
    let mut plan = SyncPlan {
        id: String::new(),
        engine_version: crate::ENGINE_VERSION.to_string(),
        created_at: request.now.clone(),
        ops,
        holds: Vec::new(),
        preview_required: true,
        record_issues: crate::pipeline::build::tidy_issues(issues),
        roster_changes: Vec::new(),
        summary,
        state_delta: crate::delta::StateDelta {
            base_revision: request.base_revision,
            ..crate::delta::StateDelta::default()
        },
        absences: Vec::new(),
        drift: Vec::new(),
        skipped_records: Vec::new(),
        approval: None,
    };
    plan.id = crate::pipeline::build::content_id(&mut plan);
    Ok(plan)
}

struct Undo<'r, 'a> {
    request: &'r UndoRequest<'a>,
    drafts: Vec<OpDraft>,
    issues: Vec<RecordIssue>,
    /// Classes whose courses the undo deletes.
    deleted_courses: BTreeSet<String>,
}

fn class_of(op: &PlannedOp) -> &str {
    op.class_id.as_deref().unwrap_or_default()
}

impl Undo<'_, '_> {
    fn run(&self) -> u64 {
        self.request.run
    }

    fn cannot(&mut self, op: &PlannedOp, why: &str) {
        self.issues.push(RecordIssue::warning(
            "undo",
            format!("{:?}", op.entity).to_lowercase(),
            Some(&op.op_id),
            format!("'{}' cannot be undone: {why}", op.summary),
        ));
    }

    /// The undo of `op`: `summary` in words, the rule it follows, the call and its effect.
    fn push(&mut self, op: &PlannedOp, phase: Phase, inverse: Inverse) {
        let run = self.run();
        let why = Explanation::new(
            vec![Cause {
                collection: Shared::from("runs"),
                id: format!("{run}/{}", op.op_id),
                change: CauseChange::Unchanged,
                fields: Vec::new(),
                says: Some(format!(
                    "run {run} applied '{}' (operation {})",
                    op.summary, op.op_id
                )),
            }],
            vec![AppliedRule::new(
                RuleKind::Undo,
                "undo",
                format!("undo puts back what run {run} changed"),
            )],
        );
        self.drafts.push(OpDraft {
            phase,
            op: PlannedOp {
                op_id: String::new(),
                key: format!("undo:{run}:{}", op.key),
                entity: op.entity,
                change: inverse.change,
                depends_on: Vec::new(),
                class_id: op.class_id.clone(),
                school_id: op.school_id.clone(),
                person: op.person.clone(),
                summary: format!("{} (undoes run {run})", inverse.summary),
                before: op.after.clone(),
                after: op.before.clone(),
                action: inverse.action,
                effect: inverse.effect,
                why: Some(Box::new(why)),
            },
        });
    }

    fn course_create(&mut self, op: &PlannedOp, alias: &Shared, remote: Option<&str>) {
        let _ = remote;
        match self.request.facts.course_work.get(alias.as_ref()) {
            Some(0) => {
                self.deleted_courses.insert(class_of(op).to_string());
                self.push(
                    op,
                    Phase::CourseArchive,
                    Inverse {
                        change: OpChange::Delete,
                        summary: format!("delete course {alias}, which the run made"),
                        action: Action::ClassroomDeleteCourse {
                            alias: alias.clone(),
                        },
                        effect: StateEffect::CourseDeleted {
                            class_id: Shared::from(class_of(op)),
                        },
                    },
                );
            }
            Some(n) => self.cannot(
                op,
                &format!("teachers have since posted {n} piece(s) of work in it; delete it in Classroom if it must go"),
            ),
            None => self.cannot(op, "Classroom could not be asked whether teachers have posted work in it"),
        }
    }

    fn inverse(&mut self, op: &PlannedOp, remote: Option<&str>) {
        let class = class_of(op).to_string();
        let in_deleted = self.deleted_courses.contains(&class);
        match (&op.action, &op.effect) {
            (Action::ClassroomCreateCourse { .. }, _) => {}
            (
                Action::ClassroomPatchCourse { alias, .. },
                StateEffect::CourseUpsert { class_id, course },
            ) if !in_deleted => {
                let Some(before) = op.before.as_deref().and_then(Value::as_object) else {
                    return self.cannot(op, "the run did not record the course as it was");
                };
                let mut restored = (**course).clone();
                for (field, value) in before {
                    let text = value.as_str().map(str::to_string);
                    match field.as_str() {
                        "name" => restored.name = text.unwrap_or_default(),
                        "section" => restored.section = text,
                        "room" => restored.room = text,
                        "ownerId" => restored.owner = text.unwrap_or_default(),
                        "courseState" => restored.course_state = text.unwrap_or_default(),
                        _ => {}
                    }
                }
                let mask: Vec<String> = before.keys().cloned().collect();
                self.push(
                    op,
                    Phase::CoursePatch,
                    Inverse {
                        change: OpChange::Update,
                        summary: format!("restore course {alias}: {}", mask.join(", ")),
                        action: Action::ClassroomPatchCourse {
                            alias: alias.clone(),
                            update_mask: mask,
                            course: Value::Object(before.clone()),
                        },
                        effect: StateEffect::CourseUpsert {
                            class_id: class_id.clone(),
                            course: Box::new(restored),
                        },
                    },
                );
            }
            (
                Action::ClassroomAddTeacher { alias, user_id }
                | Action::ClassroomAddStudent { alias, user_id },
                StateEffect::MemberAdded { class_id, role, .. },
            ) if !in_deleted => {
                let submitted = self
                    .request
                    .facts
                    .submissions
                    .get(alias.as_ref())
                    .and_then(|s| s.get(user_id.as_ref()))
                    .copied();
                if *role == MemberRole::Student {
                    match submitted {
                        Some(0) => {}
                        Some(n) => {
                            return self.cannot(
                                op,
                                &format!("{user_id} has since turned in {n} piece(s) of work there"),
                            );
                        }
                        None => {
                            return self.cannot(
                                op,
                                "Classroom could not be asked whether the student has turned in work",
                            );
                        }
                    }
                }
                let (action, phase, noun) = member_call(*role, alias, user_id, false);
                self.push(
                    op,
                    phase,
                    Inverse {
                        change: OpChange::Delete,
                        summary: format!("remove {noun} {user_id} from {alias} again"),
                        action,
                        effect: StateEffect::MemberRemoved {
                            class_id: class_id.clone(),
                            role: *role,
                            email: user_id.clone(),
                        },
                    },
                );
            }
            (
                Action::ClassroomRemoveTeacher { alias, user_id }
                | Action::ClassroomRemoveStudent { alias, user_id },
                StateEffect::MemberRemoved { class_id, role, .. },
            ) if !in_deleted => {
                let (action, phase, noun) = member_call(*role, alias, user_id, true);
                self.push(
                    op,
                    phase,
                    Inverse {
                        change: OpChange::Create,
                        summary: format!("add {noun} {user_id} back to {alias}"),
                        action,
                        effect: StateEffect::MemberAdded {
                            class_id: class_id.clone(),
                            role: *role,
                            email: user_id.clone(),
                        },
                    },
                );
            }
            (Action::ClassroomInvite { user_id, .. }, StateEffect::Invited { class_id, .. })
                if !in_deleted =>
            {
                let Some(invitation) = remote else {
                    return self.cannot(op, "Classroom's id for the invitation was not recorded");
                };
                self.push(
                    op,
                    Phase::StudentRemove,
                    Inverse {
                        change: OpChange::Delete,
                        summary: format!("withdraw the invitation of {user_id}"),
                        action: Action::ClassroomDeleteInvitation {
                            invitation_id: invitation.to_string(),
                        },
                        effect: StateEffect::InvitationDeleted {
                            class_id: class_id.clone(),
                            email: user_id.clone(),
                        },
                    },
                );
            }
            (
                Action::ClassroomInviteGuardian { student_id, email },
                StateEffect::GuardianInvited { student, guardian },
            ) => {
                let Some(invitation) = remote else {
                    return self.cannot(op, "Classroom's id for the invitation was not recorded");
                };
                self.push(
                    op,
                    Phase::StudentRemove,
                    Inverse {
                        change: OpChange::Delete,
                        summary: format!("withdraw the guardian invitation of {email} for {student_id}"),
                        action: Action::ClassroomWithdrawGuardianInvitation {
                            student_id: student_id.clone(),
                            invitation_id: invitation.to_string(),
                        },
                        effect: StateEffect::GuardianInvitationWithdrawn {
                            student: student.clone(),
                            guardian: guardian.clone(),
                        },
                    },
                );
            }
            (
                Action::ClassroomCreateTopic { alias, name },
                StateEffect::TopicUpsert {
                    class_id,
                    category_id,
                    ..
                },
            ) if !in_deleted => {
                let Some(topic_id) = remote else {
                    return self.cannot(op, "Classroom's id for the topic was not recorded");
                };
                match self.request.facts.topic_work.get(topic_id) {
                    Some(0) => self.push(
                        op,
                        Phase::Topic,
                        Inverse {
                            change: OpChange::Delete,
                            summary: format!("delete topic '{name}' from {alias}"),
                            action: Action::ClassroomDeleteTopic {
                                alias: alias.clone(),
                                topic_id: topic_id.to_string(),
                            },
                            effect: StateEffect::TopicDeleted {
                                class_id: class_id.clone(),
                                category_id: category_id.clone(),
                            },
                        },
                    ),
                    Some(n) => self.cannot(
                        op,
                        &format!("teachers have since filed {n} piece(s) of work under it"),
                    ),
                    None => self.cannot(op, "Classroom could not be asked whether work sits under it"),
                }
            }
            (
                Action::ClassroomPatchTopic {
                    alias, topic_id, ..
                },
                StateEffect::TopicUpsert {
                    class_id,
                    category_id,
                    ..
                },
            ) if !in_deleted => {
                let Some(old) = op.before.as_deref().and_then(|b| b["name"].as_str()) else {
                    return self.cannot(op, "the run did not record the topic's name before");
                };
                self.push(
                    op,
                    Phase::Topic,
                    Inverse {
                        change: OpChange::Update,
                        summary: format!("rename topic back to '{old}' in {alias}"),
                        action: Action::ClassroomPatchTopic {
                            alias: alias.clone(),
                            topic_id: topic_id.clone(),
                            name: old.to_string(),
                        },
                        effect: StateEffect::TopicUpsert {
                            class_id: class_id.clone(),
                            category_id: category_id.clone(),
                            name: Shared::from(old),
                            topic_id: Some(topic_id.clone()),
                        },
                    },
                );
            }
            (
                Action::OneRosterPut {
                    source_id,
                    collection,
                    sourced_id,
                    ..
                }
                | Action::OneRosterDelete {
                    source_id,
                    collection,
                    sourced_id,
                },
                _,
            ) => self.sis_write(op, (source_id, collection, sourced_id)),
            _ if in_deleted => {}
            _ => self.cannot(
                op,
                "it has no inverse Classroom accepts (the next sync plans it again if the SIS still calls for it)",
            ),
        }
    }

    /// A SIS write is undone by putting back the record it replaced, or deleting the one it
    /// created.
    fn sis_write(&mut self, op: &PlannedOp, (source, collection, id): (&Shared, &Shared, &str)) {
        let kind = match collection.as_ref() {
            "lineItems" => EntityKind::LineItem,
            _ => EntityKind::Result,
        };
        let (put, delete) = match kind {
            EntityKind::LineItem => (Phase::LineItemPut, Phase::LineItemDelete),
            _ => (Phase::ResultPut, Phase::ResultDelete),
        };
        match self.request.priors.get(&op.op_id) {
            Some(PriorRecord::Absent) if matches!(op.action, Action::OneRosterPut { .. }) => {
                self.push(
                    op,
                    delete,
                    Inverse {
                        change: OpChange::Delete,
                        summary: format!(
                            "delete {} {id} from source '{source}', which the run created",
                            kind.singular()
                        ),
                        action: Action::OneRosterDelete {
                            source_id: source.clone(),
                            collection: collection.clone(),
                            sourced_id: id.to_string(),
                        },
                        effect: StateEffect::ExportDeleted {
                            kind,
                            sourced_id: id.to_string(),
                        },
                    },
                );
            }
            Some(PriorRecord::Absent) => {}
            Some(PriorRecord::Record(prior)) => {
                let Some(record) = prior.get(kind.singular()).and_then(Value::as_object).cloned()
                else {
                    return self.cannot(
                        op,
                        &format!("the value recorded before the run is not a {}", kind.singular()),
                    );
                };
                let parent = match kind {
                    EntityKind::Result => record
                        .get("lineItem")
                        .and_then(|l| l.get("sourcedId"))
                        .and_then(Value::as_str)
                        .map(Shared::from),
                    _ => None,
                };
                let digest = crate::hash::digest(&record);
                self.push(
                    op,
                    put,
                    Inverse {
                        change: OpChange::Update,
                        summary: format!(
                            "put {} {id} back in source '{source}' as it was before the run",
                            kind.singular()
                        ),
                        action: Action::OneRosterPut {
                            source_id: source.clone(),
                            collection: collection.clone(),
                            sourced_id: id.to_string(),
                            body: JsonText::enveloped(kind.singular(), record),
                        },
                        effect: StateEffect::Exported {
                            kind,
                            sourced_id: id.to_string(),
                            source_id: source.clone(),
                            parent,
                            digest,
                        },
                    },
                );
            }
            None => self.cannot(
                op,
                "the SIS's value before the run was not recorded (runs applied before classbridge kept prior values)",
            ),
        }
    }
}

/// An operation's inverse, before it is addressed.
struct Inverse {
    change: OpChange,
    summary: String,
    action: Action,
    effect: StateEffect,
}
