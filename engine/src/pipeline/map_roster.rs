//! Map, roster side: the merged roster says which Classroom courses, teachers, students and
//! topics should exist; what we know exists (state, plus objects found in Classroom by alias
//! and adopted) is subtracted; the rest becomes operations. Only members we know we added are
//! ever removed: people a teacher invited by hand are left alone.

mod drift;
mod grace;
mod invite;
mod limits;

pub(crate) use limits::FreshEnrolments;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::ops::{OpDraft, Phase};
use crate::config::{DriftAction, FieldMaster, SyncConfig, TermEnd, resolve_master};
use crate::hash::digest;
use crate::model::*;
use crate::plan::{Action, Drift, MemberRole, OpChange, OpEntity, PlannedOp, StateEffect};
use crate::state::{AppliedClassroom, AppliedCourse, AppliedTopic};

/// Classroom's domain-scoped alias prefix: every course classbridge makes carries one alias
/// `d:<class sourcedId>`, by which it is found again after a crash or a reconnect.
pub const COURSE_ALIAS_PREFIX: &str = "d:";

/// The alias of the course made for a class: `d:<class sourcedId>`.
pub fn course_alias(class_id: &str) -> String {
    format!("{COURSE_ALIAS_PREFIX}{class_id}")
}

/// What one class should look like in Classroom.
struct DesiredCourse<'a> {
    class: &'a Class,
    course: AppliedCourse,
    teachers: BTreeSet<String>,
    students: BTreeSet<String>,
    /// category id -> topic name
    topics: BTreeMap<String, String>,
}

pub(crate) struct RosterMapping {
    pub ops: Vec<OpDraft>,
    pub skipped: BTreeMap<String, u64>,
    /// Classroom changed by hand away from the SIS, and what the rules did about it.
    pub drift: Vec<Drift>,
    /// People left out of classes by Classroom's limits, when the rule holds for that.
    pub hold: Option<crate::plan::HoldReason>,
}

/// What this run read of Classroom and when it runs.
pub(crate) struct RunFacts<'a> {
    pub snapshot: &'a ClassroomSnapshot,
    /// Courses whose members were read completely.
    pub members_complete: &'a BTreeSet<String>,
    /// Enrolments this run creates or changes.
    pub fresh: &'a FreshEnrolments,
    /// The run's date, `YYYY-MM-DD`.
    pub today: &'a str,
    /// When the state's enrolments are a slice: the classes whose enrolments are all here.
    /// Only these classes' courses, members and topics are planned; the others did not
    /// change (the engine asked for every class that could have).
    pub complete: Option<&'a BTreeSet<String>>,
    /// Operations that failed last time, by key: a direct add Classroom refused for a
    /// person outside the domain becomes an invitation.
    pub failures: &'a BTreeMap<String, crate::state::OpFailure>,
    /// Classes merged into one course.
    pub cross: &'a super::cross_list::CrossListing,
}

/// Maps the roster; adoptions of objects found in Classroom are written into `known`.
pub(crate) fn map_roster(
    config: &SyncConfig,
    roster: &Roster,
    known: &mut AppliedClassroom,
    facts: &RunFacts<'_>,
    issues: &mut Vec<RecordIssue>,
) -> RosterMapping {
    let RunFacts {
        snapshot,
        members_complete,
        fresh,
        today,
        complete,
        failures,
        cross,
    } = *facts;
    let mut out = RosterMapping {
        ops: Vec::new(),
        skipped: BTreeMap::new(),
        drift: Vec::new(),
        hold: None,
    };
    let (mut desired, ended) = desired_courses(
        config,
        roster,
        known,
        (today, complete, cross),
        issues,
        &mut out.skipped,
    );
    adopt(known, snapshot, &desired);
    if let Some(per_run) = config.classroom.new_courses_per_run {
        defer_new_courses(
            per_run,
            roster,
            known,
            &mut desired,
            issues,
            &mut out.skipped,
        );
    }
    invite::settle_accepted(known, snapshot, members_complete);
    out.hold = limits::apply(
        &config.classroom.limits,
        &mut desired,
        known,
        snapshot,
        fresh,
        issues,
        &mut out.skipped,
    );
    let reconciled = drift::reconcile(
        config,
        roster,
        &desired,
        known,
        snapshot,
        members_complete,
        &mut out.ops,
    );
    for (why, n) in reconciled.ignored {
        *out.skipped.entry(why).or_default() += n;
    }
    out.drift = reconciled.drift;
    // Room for every operation the loop below can draft, reserved at once: a district's
    // first plan drafts hundreds of thousands, and a vector doubling its way there holds
    // its old and new buffers together at each step (in WebAssembly, for good).
    let bound: usize = desired
        .iter()
        .map(|(class_id, want)| ops_bound(class_id, want, known))
        .sum();
    out.ops.reserve(bound);
    let grace = grace::Grace {
        days: config.classroom.removal_grace_days,
        today,
    };
    let no_grace = grace::GraceDecision::default();
    let outsiders = invite::Outsiders {
        domains: &config.classroom.domains,
        failures,
    };
    for (class_id, want) in &desired {
        course_ops(config, roster, class_id, want, known, &mut out.ops);
        let teachers = Members {
            class_id,
            want,
            role: MemberRole::Teacher,
            grace: &no_grace,
            outsiders: &outsiders,
        };
        member_ops(&teachers, known, &mut out.ops);
        let graced = grace.decide(
            class_id,
            &want.course.name,
            &want.students,
            known,
            issues,
            &mut out.skipped,
        );
        let students = Members {
            role: MemberRole::Student,
            grace: &graced,
            ..teachers
        };
        member_ops(&students, known, &mut out.ops);
        topic_ops(class_id, want, known, &mut out.ops);
    }
    // Outside a slice, a class still in the roster is left as it is (unless its term ended).
    let unread = |class_id: &String| {
        complete.is_some_and(|c| !c.contains(class_id))
            && roster.classes.contains_key(class_id)
            && !ended.contains_key(class_id)
    };
    // A class no longer planned for (archived, or gone) keeps no one in grace.
    known
        .pending_removals
        .retain(|class_id, _| desired.contains_key(class_id) || unread(class_id));
    for (class_id, course) in &known.courses {
        if !desired.contains_key(class_id) && course.course_state != "ARCHIVED" && !unread(class_id)
        {
            let mut archived = course.clone();
            archived.course_state = "ARCHIVED".into();
            out.ops.push(OpDraft {
                phase: Phase::CourseArchive,
                op: PlannedOp {
                    op_id: String::new(),
                    key: format!("course.archive:{}", course.alias),
                    entity: OpEntity::Course,
                    change: OpChange::Archive,
                    depends_on: Vec::new(),
                    class_id: Some(Shared::from(class_id)),
                    school_id: None,
                    person: None,
                    summary: match ended.get(class_id) {
                        Some(day) => format!(
                            "archive course '{}' (its term ended on {day}; its members stay)",
                            course.name
                        ),
                        None if cross.primary(class_id) != class_id.as_str() => format!(
                            "archive course '{}' (class {class_id} is taught in the course of class {} by a cross-listing rule)",
                            course.name,
                            cross.primary(class_id)
                        ),
                        None => format!(
                            "archive course '{}' (class {class_id} is no longer in the roster)",
                            course.name
                        ),
                    },
                    before: Some(Box::new(json!({"courseState": course.course_state}))),
                    after: Some(Box::new(json!({"courseState": "ARCHIVED"}))),
                    action: Action::ClassroomPatchCourse {
                        alias: Shared::from(&course.alias),
                        update_mask: vec!["courseState".into()],
                        course: json!({"courseState": "ARCHIVED"}),
                    },
                    why: None,
                    effect: StateEffect::CourseUpsert {
                        class_id: Shared::from(class_id),
                        course: Box::new(archived),
                    },
                },
            });
        }
    }
    mark_repairs(&mut out);
    out
}

/// `classroom.newCoursesPerRun`: the classes past the limit whose course is not made yet
/// (nor found in Classroom and adopted, above) wait for a later run, whole: no course, no
/// members, no topics. School by school, so a school's courses arrive together.
fn defer_new_courses(
    per_run: u32,
    roster: &Roster,
    known: &AppliedClassroom,
    desired: &mut BTreeMap<String, DesiredCourse<'_>>,
    issues: &mut Vec<RecordIssue>,
    skipped: &mut BTreeMap<String, u64>,
) {
    let mut new: Vec<(&str, &String)> = desired
        .keys()
        .filter(|class_id| !known.courses.contains_key(*class_id))
        .map(|class_id| {
            let school = roster
                .classes
                .get(class_id)
                .map_or("", |c| c.school.as_str());
            (school, class_id)
        })
        .collect();
    let limit = usize::try_from(per_run).unwrap_or(usize::MAX);
    if new.len() <= limit {
        return;
    }
    new.sort();
    let new_count = new.len();
    let waiting: Vec<String> = new[limit..].iter().map(|(_, id)| (*id).clone()).collect();
    for class_id in &waiting {
        desired.remove(class_id);
    }
    *skipped.entry("class.waitsForLaterRun".into()).or_default() += waiting.len() as u64;
    issues.push(RecordIssue::warning(
        "rules",
        "classroom.newCoursesPerRun",
        None,
        format!(
            "{} of {} new courses wait for later runs (at most {per_run} are made per run); the next runs make them, school by school",
            waiting.len(),
            new_count
        ),
    ));
}

/// Repair operations say so in their summary, and each repaired drift names its operation.
fn mark_repairs(out: &mut RosterMapping) {
    for d in out
        .drift
        .iter_mut()
        .filter(|d| d.action == DriftAction::Repair)
    {
        let op = match &d.repair_key {
            Some(key) => out.ops.iter_mut().find(|o| &o.key == key),
            None => {
                let prefix = format!("course.patch:{}:", d.alias);
                out.ops.iter_mut().find(|o| o.key.starts_with(&prefix))
            }
        };
        if let Some(op) = op {
            d.repair_key = Some(op.key.clone());
            if !op.summary.contains("drift") {
                op.summary
                    .push_str(" (repairs drift: changed by hand in Classroom)");
            }
        }
    }
}

fn active_on(e: &Enrollment, today: &str) -> bool {
    e.begin_date
        .as_deref()
        .is_none_or(|b| &b[..10.min(b.len())] <= today)
        && e.end_date
            .as_deref()
            .is_none_or(|d| &d[..10.min(d.len())] >= today)
}

fn desired_courses<'a>(
    config: &SyncConfig,
    roster: &'a Roster,
    known: &AppliedClassroom,
    (today, complete, cross): (
        &str,
        Option<&BTreeSet<String>>,
        &super::cross_list::CrossListing,
    ),
    issues: &mut Vec<RecordIssue>,
    skipped: &mut BTreeMap<String, u64>,
) -> (
    BTreeMap<String, DesiredCourse<'a>>,
    BTreeMap<String, String>,
) {
    let mut teachers: BTreeMap<&str, Vec<&Enrollment>> = BTreeMap::new();
    let mut students: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    let mut no_email = BTreeSet::new();
    for e in roster.enrollments.values() {
        if !active_on(e, today) {
            *skipped.entry("enrollment.notCurrent".into()).or_default() += 1;
            continue;
        }
        let Some(user) = roster.users.get(e.user.as_str()) else {
            continue;
        };
        if !user.enabled_user {
            *skipped.entry("enrollment.userDisabled".into()).or_default() += 1;
            continue;
        }
        let Some(email) = user.normalized_email() else {
            no_email.insert(e.user.clone());
            continue;
        };
        match e.role.as_str() {
            "teacher" => teachers.entry(e.class.as_str()).or_default().push(e),
            "student" => {
                students.entry(e.class.as_str()).or_default().insert(email);
            }
            _ => {}
        }
    }
    for id in no_email {
        issues.push(RecordIssue::warning(
            "roster",
            "users",
            Some(&id),
            "user has no email address, so cannot join Classroom courses",
        ));
    }
    let global_topics =
        config.classroom.categories_as_topics && config.classroom.global_categories_as_topics;
    let mut desired = BTreeMap::new();
    let mut ended = BTreeMap::new();
    for (class_id, class) in &roster.classes {
        // A merged class is taught in its group's course, planned with the group's primary.
        if cross.primary(class_id) != class_id.as_str() {
            continue;
        }
        let group = cross.classes_of(class_id);
        // Archived, not emptied: the course is left out of what should be (so it is archived
        // and none of its members is touched), and one never made is not made.
        if config.classroom.term_end == TermEnd::Archive
            && let Some(day) = term_ended(class, roster, today)
        {
            *skipped.entry("class.termEnded".into()).or_default() += 1;
            ended.insert(class_id.clone(), day);
            continue;
        }
        if complete.is_some_and(|c| group.iter().any(|g| !c.contains(*g))) {
            continue;
        }
        let mut class_teachers: Vec<&Enrollment> = group
            .iter()
            .flat_map(|g| teachers.remove(*g).unwrap_or_default())
            .collect();
        // Primary teacher first, then by enrollment id: the owner is the first of them.
        class_teachers.sort_by(|a, b| {
            b.primary
                .cmp(&a.primary)
                .then(a.sourced_id.cmp(&b.sourced_id))
        });
        let teacher_emails: Vec<String> = class_teachers
            .iter()
            .filter_map(|e| {
                roster
                    .users
                    .get(e.user.as_str())
                    .and_then(User::normalized_email)
            })
            .collect();
        // A course that exists keeps its owner while its class has no teacher (a teacher
        // leaving must not archive the course and strand its students).
        let owner = teacher_emails
            .first()
            .cloned()
            .or_else(|| known.courses.get(class_id).map(|c| c.owner.clone()))
            .or_else(|| config.classroom.fallback_owner.clone());
        let Some(owner) = owner else {
            issues.push(RecordIssue::warning(
                "roster",
                "classes",
                Some(class_id),
                "class has no teacher with an email and no fallback owner is configured; its Classroom course was not created",
            ));
            *skipped.entry("class.noOwner".into()).or_default() += 1;
            continue;
        };
        let topics = if config.classroom.categories_as_topics {
            // One topic per name: two sources' same-named categories are one topic in
            // Classroom (a second create would only come back 409).
            let mut names = BTreeSet::new();
            roster
                .categories
                .values()
                .filter(|c| match c.class.as_deref() {
                    Some(k) => group.contains(&k),
                    None => global_topics,
                })
                .filter(|c| names.insert(c.title.trim().to_lowercase()))
                .map(|c| (c.sourced_id.clone(), c.title.clone()))
                .collect()
        } else {
            BTreeMap::new()
        };
        let section = class
            .class_code
            .clone()
            .or_else(|| (!class.periods.is_empty()).then(|| class.periods.join(", ")));
        desired.insert(
            class_id.clone(),
            DesiredCourse {
                class,
                course: AppliedCourse {
                    alias: course_alias(class_id),
                    course_id: None,
                    name: class.title.clone(),
                    section,
                    room: class.location.clone(),
                    owner: owner.clone(),
                    course_state: config.classroom.new_course_state.clone(),
                },
                teachers: teacher_emails.into_iter().collect(),
                students: group
                    .iter()
                    .flat_map(|g| students.remove(*g).unwrap_or_default())
                    .collect(),
                topics,
            },
        );
    }
    (desired, ended)
}

/// The last day of a class's terms when every one of them ended before `today` (a class
/// without terms, or with a term the roster does not have, has not ended).
pub(crate) fn term_ended(class: &Class, roster: &Roster, today: &str) -> Option<String> {
    if class.terms.is_empty() {
        return None;
    }
    let mut last = String::new();
    for term in &class.terms {
        let session = roster.academic_sessions.get(term.as_str())?;
        let end = session.end_date.get(..10)?;
        if end >= today {
            return None;
        }
        if end > last.as_str() {
            last = end.to_string();
        }
    }
    Some(last)
}

/// Objects already in Classroom (found by alias after a reconnect or a crash) are adopted
/// instead of created again.
fn adopt(
    known: &mut AppliedClassroom,
    snapshot: &ClassroomSnapshot,
    desired: &BTreeMap<String, DesiredCourse>,
) {
    if snapshot.courses.is_empty() {
        return;
    }
    let by_alias: BTreeMap<&str, &ClassroomCourse> = snapshot
        .courses
        .values()
        .flat_map(|c| c.aliases.iter().map(move |a| (a.as_str(), c)))
        .collect();
    for (class_id, want) in desired {
        let Some(found) = by_alias.get(want.course.alias.as_str()) else {
            continue;
        };
        let course = known
            .courses
            .entry(class_id.clone())
            .or_insert_with(|| AppliedCourse {
                alias: want.course.alias.clone(),
                course_id: None,
                name: found.name.clone(),
                section: found.section.clone(),
                room: found.room.clone(),
                owner: want.course.owner.clone(),
                course_state: found
                    .course_state
                    .clone()
                    .unwrap_or_else(|| "ACTIVE".into()),
            });
        course.course_id.get_or_insert_with(|| found.id.clone());
        for (role, members, wanted) in [
            (MemberRole::Teacher, &snapshot.teachers, &want.teachers),
            (MemberRole::Student, &snapshot.students, &want.students),
        ] {
            let present: BTreeSet<String> = members
                .get(&found.id)
                .into_iter()
                .flatten()
                .filter_map(CourseMember::email)
                .collect();
            let set = match role {
                MemberRole::Teacher => known.teachers.entry(class_id.clone()).or_default(),
                MemberRole::Student => known.students.entry(class_id.clone()).or_default(),
            };
            set.extend(wanted.intersection(&present).cloned());
        }
        let topics = known.topics.entry(class_id.clone()).or_default();
        for topic in snapshot.topics.get(&found.id).into_iter().flatten() {
            if let Some((category, _)) = want
                .topics
                .iter()
                .find(|(cat, name)| **name == topic.name && !topics.contains_key(*cat))
            {
                topics.insert(
                    category.clone(),
                    AppliedTopic {
                        topic_id: Some(topic.topic_id.clone()),
                        name: topic.name.clone(),
                    },
                );
            }
        }
    }
}

fn course_ops(
    config: &SyncConfig,
    roster: &Roster,
    class_id: &str,
    want: &DesiredCourse,
    known: &AppliedClassroom,
    ops: &mut Vec<OpDraft>,
) {
    let alias = &want.course.alias;
    let class = want.class;
    let Some(have) = known.courses.get(class_id) else {
        let mut body = json!({
            "id": alias,
            "name": want.course.name,
            "ownerId": want.course.owner,
            "courseState": want.course.course_state,
        });
        if let Some(section) = &want.course.section {
            body["section"] = json!(section);
        }
        if let Some(room) = &want.course.room {
            body["room"] = json!(room);
        }
        ops.push(OpDraft {
            phase: Phase::CourseCreate,
            op: PlannedOp {
                op_id: String::new(),
                key: format!("course.create:{alias}"),
                entity: OpEntity::Course,
                change: OpChange::Create,
                depends_on: Vec::new(),
                class_id: Some(Shared::from(class_id)),
                school_id: Some(class.school.clone()),
                person: Some(Shared::from(&want.course.owner)),
                summary: format!(
                    "create course '{}' owned by {}",
                    want.course.name, want.course.owner
                ),
                before: None,
                after: Some(Box::new(body.clone())),
                action: Action::ClassroomCreateCourse {
                    alias: Shared::from(alias),
                    course: body,
                },
                why: None,
                effect: StateEffect::CourseUpsert {
                    class_id: Shared::from(class_id),
                    course: Box::new(want.course.clone()),
                },
            },
        });
        return;
    };
    let sis_owns = |field: &str| resolve_master(config, EntityKind::Class, None, field).sis_owns();
    let mut next = have.clone();
    let mut mask = Vec::new();
    let mut before = serde_json::Map::new();
    let mut after = serde_json::Map::new();
    let mut change = |mask_field: &str, old: Value, new: Value, mask: &mut Vec<String>| {
        before.insert(mask_field.to_string(), old);
        after.insert(mask_field.to_string(), new);
        mask.push(mask_field.to_string());
    };
    if sis_owns("title") && have.name != want.course.name {
        change("name", json!(have.name), json!(want.course.name), &mut mask);
        next.name = want.course.name.clone();
    }
    if sis_owns("classCode") && have.section != want.course.section {
        change(
            "section",
            json!(have.section),
            json!(want.course.section),
            &mut mask,
        );
        next.section = want.course.section.clone();
    }
    if sis_owns("location") && have.room != want.course.room {
        change("room", json!(have.room), json!(want.course.room), &mut mask);
        next.room = want.course.room.clone();
    }
    let owner_master = resolve_master(config, EntityKind::Class, None, "owner");
    let mut depends_on = Vec::new();
    if owner_master != FieldMaster::Classroom
        && owner_master != FieldMaster::Nobody
        && have.owner != want.course.owner
    {
        change(
            "ownerId",
            json!(have.owner),
            json!(want.course.owner),
            &mut mask,
        );
        next.owner = want.course.owner.clone();
        // Classroom only hands a course to one of its teachers.
        depends_on.push(format!("teacher.add:{alias}:{}", want.course.owner));
    }
    if have.course_state == "ARCHIVED" && sis_owns("status") {
        change(
            "courseState",
            json!(have.course_state),
            json!("ACTIVE"),
            &mut mask,
        );
        next.course_state = "ACTIVE".into();
    }
    if mask.is_empty() {
        return;
    }
    let body = Value::Object(after.clone());
    ops.push(OpDraft {
        phase: Phase::CoursePatch,
        op: PlannedOp {
            op_id: String::new(),
            key: format!("course.patch:{alias}:{}", digest(&body)),
            entity: OpEntity::Course,
            change: OpChange::Update,
            depends_on: depends_on.into_iter().map(Shared::from).collect(),
            class_id: Some(Shared::from(class_id)),
            school_id: Some(class.school.clone()),
            person: None,
            summary: format!(
                "update course {}: {}",
                super::words::class_words(roster, class),
                mask.join(", ")
            ),
            before: Some(Box::new(Value::Object(before))),
            after: Some(Box::new(Value::Object(after))),
            action: Action::ClassroomPatchCourse {
                alias: Shared::from(alias),
                update_mask: mask,
                course: body,
            },
            why: None,
            effect: StateEffect::CourseUpsert {
                class_id: Shared::from(class_id),
                course: Box::new(next),
            },
        },
    });
}

/// At most how many operations `course_ops`, `member_ops` and `topic_ops` draft for a class.
fn ops_bound(class_id: &str, want: &DesiredCourse, known: &AppliedClassroom) -> usize {
    let empty = BTreeSet::new();
    let changed = |wanted: &BTreeSet<String>, have: Option<&BTreeSet<String>>| {
        let have = have.unwrap_or(&empty);
        wanted.difference(have).count() + have.difference(wanted).count()
    };
    1 + changed(&want.teachers, known.teachers.get(class_id))
        + changed(&want.students, known.students.get(class_id))
        + want.topics.len()
        + known.invitations.get(class_id).map_or(0, BTreeMap::len)
}

/// One class's members of one role, and the rules that decide how they change.
struct Members<'a> {
    class_id: &'a str,
    want: &'a DesiredCourse<'a>,
    role: MemberRole,
    grace: &'a grace::GraceDecision,
    outsiders: &'a invite::Outsiders<'a>,
}

fn member_ops(m: &Members<'_>, known: &AppliedClassroom, ops: &mut Vec<OpDraft>) {
    let Members {
        class_id,
        want,
        role,
        grace,
        outsiders,
    } = *m;
    let alias = &want.course.alias;
    let empty = BTreeSet::new();
    let (add_phase, remove_phase) = match role {
        MemberRole::Teacher => (Phase::TeacherAdd, Phase::TeacherRemove),
        MemberRole::Student => (Phase::StudentAdd, Phase::StudentRemove),
    };
    let (wanted, have, noun) = match role {
        MemberRole::Teacher => (
            &want.teachers,
            known.teachers.get(class_id).unwrap_or(&empty),
            "teacher",
        ),
        MemberRole::Student => (
            &want.students,
            known.students.get(class_id).unwrap_or(&empty),
            "student",
        ),
    };
    let course_known = known.courses.contains_key(class_id);
    let owner = known
        .courses
        .get(class_id)
        .map(|c| c.owner.as_str())
        .unwrap_or(&want.course.owner);
    let entity = if role == MemberRole::Teacher {
        OpEntity::Teacher
    } else {
        OpEntity::Student
    };
    let base =
        |phase, key: String, change, summary: String, email: &String, action, effect| OpDraft {
            phase,
            op: PlannedOp {
                op_id: String::new(),
                key,
                entity,
                change,
                depends_on: vec![format!("course.create:{alias}").into()],
                class_id: Some(Shared::from(class_id)),
                school_id: Some(want.class.school.clone()),
                person: Some(Shared::from(email)),
                summary,
                before: None,
                after: None,
                action,
                why: None,
                effect,
            },
        };
    let no_invitations = BTreeMap::new();
    let invitations = known.invitations.get(class_id).unwrap_or(&no_invitations);
    for email in wanted.difference(have) {
        // Creating a course makes its owner a teacher already.
        if role == MemberRole::Teacher && !course_known && *email == want.course.owner {
            continue;
        }
        if role == MemberRole::Teacher && course_known && email == owner {
            continue;
        }
        // Invited already: they join on accepting.
        if invitations.get(email).is_some_and(|i| i.role == role) {
            continue;
        }
        if outsiders.must_invite(noun, alias, email) {
            ops.push(base(
                add_phase,
                format!("{noun}.invite:{alias}:{email}"),
                OpChange::Create,
                format!(
                    "invite {noun} {email} to '{}' (outside the domain: joins on accepting)",
                    want.course.name
                ),
                email,
                Action::ClassroomInvite {
                    alias: Shared::from(alias),
                    user_id: Shared::from(email),
                    role,
                },
                StateEffect::Invited {
                    class_id: Shared::from(class_id),
                    role,
                    email: Shared::from(email),
                },
            ));
            continue;
        }
        let action = match role {
            MemberRole::Teacher => Action::ClassroomAddTeacher {
                alias: Shared::from(alias),
                user_id: Shared::from(email),
            },
            MemberRole::Student => Action::ClassroomAddStudent {
                alias: Shared::from(alias),
                user_id: Shared::from(email),
            },
        };
        ops.push(base(
            add_phase,
            format!("{noun}.add:{alias}:{email}"),
            OpChange::Create,
            format!("add {noun} {email} to '{}'", want.course.name),
            email,
            action,
            StateEffect::MemberAdded {
                class_id: Shared::from(class_id),
                role,
                email: Shared::from(email),
            },
        ));
    }
    for email in have.difference(wanted) {
        // The owner cannot be removed; a new owner is set first by the course patch.
        if role == MemberRole::Teacher && *email == want.course.owner {
            continue;
        }
        if grace.kept.contains(email) {
            continue;
        }
        let action = match role {
            MemberRole::Teacher => Action::ClassroomRemoveTeacher {
                alias: Shared::from(alias),
                user_id: Shared::from(email),
            },
            MemberRole::Student => Action::ClassroomRemoveStudent {
                alias: Shared::from(alias),
                user_id: Shared::from(email),
            },
        };
        let mut op = base(
            remove_phase,
            format!("{noun}.remove:{alias}:{email}"),
            OpChange::Delete,
            match grace.ended.get(email) {
                Some(since) => format!(
                    "remove {noun} {email} from '{}' (not in the SIS's class since {since}; its removal grace is over)",
                    want.course.name
                ),
                None => format!("remove {noun} {email} from '{}'", want.course.name),
            },
            email,
            action,
            StateEffect::MemberRemoved {
                class_id: Shared::from(class_id),
                role,
                email: Shared::from(email),
            },
        );
        op.depends_on.clear();
        ops.push(op);
    }
    // An invitation to someone the SIS no longer has in the class (in this role) is withdrawn.
    for (email, invitation) in invitations {
        if invitation.role != role || wanted.contains(email) {
            continue;
        }
        let Some(invitation_id) = invitation.invitation_id.clone() else {
            continue;
        };
        let mut op = base(
            remove_phase,
            format!("{noun}.uninvite:{alias}:{email}"),
            OpChange::Delete,
            format!(
                "withdraw the invitation of {noun} {email} to '{}'",
                want.course.name
            ),
            email,
            Action::ClassroomDeleteInvitation { invitation_id },
            StateEffect::InvitationDeleted {
                class_id: Shared::from(class_id),
                email: Shared::from(email),
            },
        );
        op.depends_on.clear();
        ops.push(op);
    }
}

fn topic_ops(
    class_id: &str,
    want: &DesiredCourse,
    known: &AppliedClassroom,
    ops: &mut Vec<OpDraft>,
) {
    let alias = &want.course.alias;
    let empty = BTreeMap::new();
    let have = known.topics.get(class_id).unwrap_or(&empty);
    for (category, name) in &want.topics {
        let (key, change, action, summary, before) = match have.get(category) {
            None => (
                format!("topic.create:{alias}:{category}"),
                OpChange::Create,
                Action::ClassroomCreateTopic {
                    alias: Shared::from(alias),
                    name: name.clone(),
                },
                format!("create topic '{name}' in '{}'", want.course.name),
                None,
            ),
            Some(topic) if topic.name != *name => {
                let Some(topic_id) = topic.topic_id.clone() else {
                    continue;
                };
                (
                    format!("topic.rename:{alias}:{category}:{}", digest(name)),
                    OpChange::Update,
                    Action::ClassroomPatchTopic {
                        alias: Shared::from(alias),
                        topic_id,
                        name: name.clone(),
                    },
                    format!(
                        "rename topic '{}' to '{name}' in '{}'",
                        topic.name, want.course.name
                    ),
                    Some(Box::new(json!({"name": topic.name}))),
                )
            }
            Some(_) => continue,
        };
        let topic_id = have.get(category).and_then(|t| t.topic_id.clone());
        ops.push(OpDraft {
            phase: Phase::Topic,
            op: PlannedOp {
                op_id: String::new(),
                key,
                entity: OpEntity::Topic,
                change,
                depends_on: vec![format!("course.create:{alias}").into()],
                class_id: Some(Shared::from(class_id)),
                school_id: Some(want.class.school.clone()),
                person: None,
                summary,
                before,
                after: Some(Box::new(json!({"name": name}))),
                action,
                why: None,
                effect: StateEffect::TopicUpsert {
                    class_id: Shared::from(class_id),
                    category_id: Shared::from(category),
                    name: Shared::from(name),
                    topic_id,
                },
            },
        });
    }
}
