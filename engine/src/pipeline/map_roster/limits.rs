//! Classroom's limits, known before apply. Google refuses a teacher past a class's teacher
//! limit (`CourseTeacherLimitReached`), a member past its member limit
//! (`CourseMemberLimitReached`) and a person past the classes they may join
//! (`UserGroupsMembershipLimitReached`). Met mid-apply, that is a wave of failures retried
//! every run; here the additions that would cross a limit are never planned. Who is already
//! in a class stays; the newcomers are admitted in a stable order (the owner first, then by
//! email) up to the limit; the rest are named in a record issue every run, and the run is
//! held when the rule says so and the breach is new: a course made this run, or someone left
//! out whose enrolment is new or changed this run. A class that stays over its limit is not
//! held again every day.

use std::collections::{BTreeMap, BTreeSet};

use super::DesiredCourse;
use crate::config::ClassroomLimits;
use crate::model::{ClassroomSnapshot, CourseMember, EntityKind, RecordIssue};
use crate::plan::{HoldCode, HoldReason};
use crate::state::AppliedClassroom;

/// How many names a record issue lists before "and N more".
const SHOWN: usize = 5;

/// (class id, email) of the enrolments created or changed this run.
pub(crate) type FreshEnrolments = BTreeSet<(String, String)>;

/// Trims each class's wanted teachers and students to the limits; answers the hold, if any.
pub(super) fn apply(
    limits: &ClassroomLimits,
    desired: &mut BTreeMap<String, DesiredCourse<'_>>,
    known: &AppliedClassroom,
    snapshot: &ClassroomSnapshot,
    fresh: &FreshEnrolments,
    issues: &mut Vec<RecordIssue>,
    skipped: &mut BTreeMap<String, u64>,
) -> Option<HoldReason> {
    let mut breaches = Vec::new();
    // A breach holds the run only when it is new (see the module's note).
    let is_new = |class_id: &str, left_out: &[String]| {
        !known.courses.contains_key(class_id)
            || left_out
                .iter()
                .any(|e| fresh.contains(&(class_id.to_string(), e.clone())))
    };
    for (class_id, want) in desired.iter_mut() {
        // Who is in the class: those we added, and those Classroom lists (added by hand).
        let course_id = known
            .courses
            .get(class_id)
            .and_then(|c| c.course_id.as_ref());
        let present = |sets: &BTreeMap<String, BTreeSet<String>>,
                       listed: &BTreeMap<String, Vec<CourseMember>>| {
            let mut set = sets.get(class_id).cloned().unwrap_or_default();
            if let Some(members) = course_id.and_then(|id| listed.get(id)) {
                set.extend(members.iter().filter_map(CourseMember::email));
            }
            set
        };
        let teachers_in = present(&known.teachers, &snapshot.teachers);
        let students_in = present(&known.students, &snapshot.students);
        let max_teachers = limits.teachers_per_class as usize;
        let left_out = admit(
            &mut want.teachers,
            &teachers_in,
            Some(&want.course.owner),
            max_teachers,
        );
        if !left_out.is_empty() {
            issues.push(left_out_issue(
                class_id,
                &format!("has more than Classroom's {max_teachers} teachers per class"),
                "teacher",
                &left_out,
            ));
            if is_new(class_id, &left_out) {
                breaches.push(class_id.clone());
            }
            *skipped.entry("limits.teacherLeftOut".into()).or_default() += left_out.len() as u64;
        }
        let max_members = limits.members_per_class as usize;
        // Teachers count as members; students fill what is left.
        let room = max_members.saturating_sub(want.teachers.len());
        let left_out = admit(&mut want.students, &students_in, None, room);
        if !left_out.is_empty() {
            issues.push(left_out_issue(
                class_id,
                &format!(
                    "has more than Classroom's {max_members} members (teachers and students) per class"
                ),
                "student",
                &left_out,
            ));
            if is_new(class_id, &left_out) {
                breaches.push(class_id.clone());
            }
            *skipped.entry("limits.studentLeftOut".into()).or_default() += left_out.len() as u64;
        }
    }
    let mut over_joins = Vec::new();
    classes_per_user(limits, desired, known, issues, skipped, &mut over_joins);
    breaches.extend(
        over_joins
            .into_iter()
            .filter(|(class_id, email)| is_new(class_id, std::slice::from_ref(email)))
            .map(|(class_id, _)| class_id),
    );
    breaches.sort();
    breaches.dedup();
    (limits.hold && !breaches.is_empty()).then(|| {
        let shown: Vec<&str> = breaches.iter().take(SHOWN).map(String::as_str).collect();
        HoldReason {
            code: HoldCode::ClassroomLimit,
            entity: Some(EntityKind::Class),
            source: None,
            message: format!(
                "{} class(es) would newly pass Classroom's limits, so some people are left out of them (see the record issues): {}{}",
                breaches.len(),
                shown.join(", "),
                if breaches.len() > shown.len() { ", …" } else { "" }
            ),
        }
    })
}

/// Keeps at most `max` of `wanted`: those already in, then `first`, then the rest by email.
/// Answers who was left out.
fn admit(
    wanted: &mut BTreeSet<String>,
    already_in: &BTreeSet<String>,
    first: Option<&String>,
    max: usize,
) -> Vec<String> {
    if wanted.len() <= max {
        return Vec::new();
    }
    let mut order: Vec<&String> = wanted.iter().filter(|e| already_in.contains(*e)).collect();
    if let Some(first) = first.filter(|f| wanted.contains(*f) && !already_in.contains(*f)) {
        order.push(first);
    }
    order.extend(
        wanted
            .iter()
            .filter(|e| !already_in.contains(*e) && Some(*e) != first),
    );
    // Everyone already in stays, even past the limit: the plan never removes for a limit.
    let keep = max.max(already_in.intersection(wanted).count());
    let kept: BTreeSet<String> = order.iter().take(keep).map(|e| (*e).clone()).collect();
    let left_out: Vec<String> = order.iter().skip(keep).map(|e| (*e).clone()).collect();
    *wanted = kept;
    left_out
}

/// A person may join so many classes: past that, their newest joins (by class id) are left
/// out. Classes they are already in, and a class they own, always keep them.
fn classes_per_user(
    limits: &ClassroomLimits,
    desired: &mut BTreeMap<String, DesiredCourse<'_>>,
    known: &AppliedClassroom,
    issues: &mut Vec<RecordIssue>,
    skipped: &mut BTreeMap<String, u64>,
    left_out_joins: &mut Vec<(String, String)>,
) {
    let max = limits.classes_per_user as usize;
    let mut joins: BTreeMap<&str, usize> = BTreeMap::new();
    for want in desired.values() {
        for email in want.teachers.union(&want.students) {
            *joins.entry(email.as_str()).or_default() += 1;
        }
    }
    let over: Vec<String> = joins
        .into_iter()
        .filter(|(_, n)| *n > max)
        .map(|(email, _)| email.to_string())
        .collect();
    for email in over {
        let is_in = |sets: &BTreeMap<String, BTreeSet<String>>, class: &str| {
            sets.get(class).is_some_and(|s| s.contains(&email))
        };
        // Already in, or owning, first; then new joins by class id. BTreeMap order is the
        // class id order, so the same classes are kept every run.
        let mut keep: Vec<&str> = Vec::new();
        let mut new: Vec<&str> = Vec::new();
        for (class_id, want) in desired.iter() {
            if !want.teachers.contains(&email) && !want.students.contains(&email) {
                continue;
            }
            if is_in(&known.teachers, class_id)
                || is_in(&known.students, class_id)
                || want.course.owner == email
            {
                keep.push(class_id);
            } else {
                new.push(class_id);
            }
        }
        let room = max.saturating_sub(keep.len());
        let left_out: Vec<String> = new.iter().skip(room).map(|c| (*c).to_string()).collect();
        if left_out.is_empty() {
            continue;
        }
        for class_id in &left_out {
            if let Some(want) = desired.get_mut(class_id) {
                want.teachers.remove(&email);
                want.students.remove(&email);
            }
        }
        let shown: Vec<&str> = left_out.iter().take(SHOWN).map(String::as_str).collect();
        issues.push(RecordIssue::warning(
            "limits",
            "users",
            Some(&email),
            format!(
                "{email} would join more than Classroom's {max} classes per person; not added to {} class(es): {}{}",
                left_out.len(),
                shown.join(", "),
                if left_out.len() > shown.len() { ", …" } else { "" }
            ),
        ));
        *skipped.entry("limits.classLeftOut".into()).or_default() += left_out.len() as u64;
        left_out_joins.extend(left_out.into_iter().map(|c| (c, email.clone())));
    }
}

fn left_out_issue(class_id: &str, why: &str, role: &str, left_out: &[String]) -> RecordIssue {
    let shown: Vec<&str> = left_out.iter().take(SHOWN).map(String::as_str).collect();
    RecordIssue::warning(
        "limits",
        "classes",
        Some(class_id),
        format!(
            "class {class_id} {why}: {} {role}(s) not added: {}{}",
            left_out.len(),
            shown.join(", "),
            if left_out.len() > shown.len() {
                format!(" and {} more", left_out.len() - shown.len())
            } else {
                String::new()
            }
        ),
    )
}
