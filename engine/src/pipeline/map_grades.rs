//! Map, gradebook side: Classroom courseWork of synced courses becomes OneRoster lineItems and
//! graded submissions become results, written to the SIS the class came from. Ids are derived
//! from Classroom ids, so a second export (or one after a reconnect) updates, never duplicates.

use std::collections::BTreeMap;

// FxHash: the keys are ids and emails of our own records, and nothing here needs a
// DoS-resistant hash (SipHash was about 6% of grade mapping in the module's profile).
use rustc_hash::{FxHashMap, FxHashSet};

use serde_json::{Map, Value, json};

use super::grades::{NotExported, map_submission, result_value_max};
use super::merge::origin;
use super::ops::{OpDraft, Phase};
use super::result_body::{GuidRef, ResultBody, flag};
use crate::config::{MissingDueDate, OneRosterVersion, SourceConfig, SyncConfig};
use crate::hash::{digest, stable_uuid};
use crate::json_text::JsonText;
use crate::model::*;
use crate::plan::{Action, OpChange, OpEntity, PlannedOp, StateEffect};
use crate::state::{AppliedClassroom, ExportedGradebook, ExportedRecord};

pub(crate) struct GradeContext<'a> {
    pub config: &'a SyncConfig,
    pub roster: &'a Roster,
    /// Each source's roster, without its gradebook: where users and classes come from.
    pub sources: &'a BTreeMap<String, Roster>,
    /// Each source's gradebook as read this run.
    pub sis_gradebooks: &'a BTreeMap<String, Roster>,
    pub known: &'a AppliedClassroom,
    pub exported: &'a ExportedGradebook,
    /// `exported`, hashed: looked up once per submission.
    pub ledger: Ledger<'a>,
    pub snapshot: &'a ClassroomSnapshot,
    pub course_work_complete: &'a std::collections::BTreeSet<String>,
    pub now: &'a str,
    /// Classes merged into one course: each gets its own lineItems and its students' results.
    pub cross: &'a super::cross_list::CrossListing,
    /// Records a full read left out that are kept until the SIS confirms them gone.
    pub absences: &'a [crate::plan::Absence],
}

/// One SIS class a course's grades go back to.
struct GradedClass<'a> {
    class: &'a Class,
    source: &'a SourceConfig,
}

/// The export ledger indexed by sourcedId. The state keeps it ordered (for stable output);
/// a district's hundreds of thousands of lookups are cheaper in a hash table.
pub(crate) struct Ledger<'a> {
    line_items: FxHashMap<&'a str, &'a ExportedRecord>,
    results: FxHashMap<&'a str, &'a ExportedRecord>,
}

impl<'a> Ledger<'a> {
    pub(crate) fn new(exported: &'a ExportedGradebook) -> Self {
        let index = |table: &'a BTreeMap<String, ExportedRecord>| {
            table.iter().map(|(id, r)| (id.as_str(), r)).collect()
        };
        Ledger {
            line_items: index(&exported.line_items),
            results: index(&exported.results),
        }
    }

    fn get(&self, kind: EntityKind, id: &str) -> Option<&'a ExportedRecord> {
        match kind {
            EntityKind::LineItem => self.line_items.get(id).copied(),
            _ => self.results.get(id).copied(),
        }
    }
}

pub(crate) struct GradeMapping {
    pub ops: Vec<OpDraft>,
    pub skipped: BTreeMap<String, u64>,
    /// Records the SIS already holds exactly as we would write them: adopted without a write.
    pub adopted: Vec<StateEffect>,
}

/// The lineItem sourcedId for a courseWork: stable, so every run (and a reconnect) writes
/// the same one.
pub fn line_item_id(course_id: &str, course_work_id: &str) -> String {
    stable_uuid(&format!("lineItem/{course_id}/{course_work_id}"))
}

/// The lineItem sourcedId for a courseWork in a class merged into another class's course
/// (cross-listing): one per class, each as stable as [`line_item_id`].
pub fn merged_line_item_id(course_id: &str, course_work_id: &str, class_id: &str) -> String {
    stable_uuid(&format!("lineItem/{course_id}/{course_work_id}/{class_id}"))
}

/// The result sourcedId for one student's submission to a courseWork; stable like
/// [`line_item_id`].
pub fn result_id(course_id: &str, course_work_id: &str, user_id: &str) -> String {
    stable_uuid(&format!("result/{course_id}/{course_work_id}/{user_id}"))
}

fn guid_ref(id: &str, kind: &str) -> Value {
    json!({"sourcedId": id, "type": kind})
}

fn strip<'a>(source: &SourceConfig, id: &'a str) -> &'a str {
    id.strip_prefix(source.sis_id_prefix.as_str()).unwrap_or(id)
}

fn date_of(work: &CourseWork) -> Option<String> {
    let d = work.due_date?;
    let t = work.due_time.unwrap_or(TimeOfDay {
        hours: 23,
        minutes: 59,
        seconds: 59,
    });
    Some(format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        d.year, d.month, d.day, t.hours, t.minutes, t.seconds
    ))
}

pub(crate) fn map_grades(ctx: &GradeContext, issues: &mut Vec<RecordIssue>) -> GradeMapping {
    let mut out = GradeMapping {
        ops: Vec::new(),
        skipped: BTreeMap::new(),
        adopted: Vec::new(),
    };
    // Each user with the source it came from, worked out once per user, not per submission;
    // not at all when no work is read (an idle run at 200,000 students).
    let email_to_user: FxHashMap<String, (&User, Option<&str>)> =
        if ctx.snapshot.course_work.is_empty() {
            FxHashMap::default()
        } else {
            ctx.roster
                .users
                .values()
                .filter_map(|u| {
                    let from = origin(ctx.config, ctx.sources, EntityKind::User, &u.sourced_id);
                    u.normalized_email().map(|e| (e, (u, from)))
                })
                .collect()
        };
    // With a master-field rule on results, the SIS's values go into the body before hashing,
    // so the quick unchanged check below does not apply.
    let masters_on_results = ctx.config.master_fields.iter().any(|rule| {
        crate::config::MasterEntity::parse(&rule.entity)
            .is_some_and(|e| e.entity() == EntityKind::Result)
    });
    let enrolled = enrolled_students(ctx);
    let unconfirmed = unconfirmed_enrolments(ctx);
    let mut live_items = std::collections::BTreeSet::new();
    for (class_id, course) in &ctx.known.courses {
        let Some(course_id) = &course.course_id else {
            continue;
        };
        // Only a course whose work this run reads has grades to map.
        let Some(works) = ctx.snapshot.course_work.get(course_id) else {
            continue;
        };
        // The course's own class first, then the classes merged into it (cross-listing).
        let group: Vec<GradedClass> = if ctx.cross.primary(class_id) == class_id.as_str() {
            ctx.cross.classes_of(class_id)
        } else {
            vec![class_id.as_str()]
        }
        .into_iter()
        .filter_map(|id| {
            let class = ctx.roster.classes.get(id)?;
            let source = origin(ctx.config, ctx.sources, EntityKind::Class, id)
                .and_then(|s| ctx.config.source(s))?;
            Some(GradedClass { class, source })
        })
        .collect();
        if group
            .first()
            .is_none_or(|g| g.class.sourced_id != *class_id)
        {
            continue;
        }
        // Which class of the group each student is in (the course's own when none).
        let class_of_student: FxHashMap<&str, usize> = if group.len() > 1 {
            ctx.roster
                .enrollments
                .values()
                .filter(|e| e.role.as_str() == "student")
                .filter_map(|e| {
                    let k = group.iter().position(|g| g.class.sourced_id == *e.class)?;
                    Some((e.user.as_str(), k))
                })
                .collect()
        } else {
            FxHashMap::default()
        };
        // Looked up once per submission: hashed, as user ids share long prefixes.
        let members: FxHashMap<&str, String> = ctx
            .snapshot
            .students
            .get(course_id)
            .into_iter()
            .flatten()
            .filter_map(|m| m.email().map(|e| (m.user_id.as_str(), e)))
            .collect();
        for work in works {
            if work.state.as_deref().is_some_and(|s| s != "PUBLISHED") {
                continue;
            }
            let Some(max_points) = work.max_points.filter(|p| *p > 0.0) else {
                *out.skipped.entry("courseWork.ungraded".into()).or_default() += 1;
                continue;
            };
            let work_title = work.title.as_str();
            // One lineItem in each class of the group: (id, its operation's key).
            let mut line_items: Vec<Option<(String, String)>> = Vec::with_capacity(group.len());
            for (k, g) in group.iter().enumerate() {
                let li_id = if k == 0 {
                    line_item_id(course_id, &work.id)
                } else {
                    merged_line_item_id(course_id, &work.id, &g.class.sourced_id)
                };
                let Some(line_item) = line_item_for(
                    ctx, g.source, g.class, work, max_points, &li_id, issues, &mut out,
                ) else {
                    line_items.push(None);
                    continue;
                };
                live_items.insert(li_id.clone());
                let li_key = put_op(
                    ctx,
                    g.source,
                    EntityKind::LineItem,
                    &li_id,
                    Some(course_id),
                    line_item,
                    g.class,
                    Subject::LineItem {
                        work: work_title,
                        item: work,
                    },
                    None,
                    &mut out,
                );
                line_items.push(Some((li_id, li_key)));
            }
            if line_items.iter().all(Option::is_none) {
                continue;
            }
            let due_passed = date_of(work).is_some_and(|d| d.as_str() < ctx.now);
            for sub in ctx
                .snapshot
                .submissions
                .get(&format!("{course_id}/{}", work.id))
                .into_iter()
                .flatten()
            {
                let grade = match map_submission(&ctx.config.grades, work, sub, due_passed) {
                    Ok(g) => g,
                    Err(NotExported::Ungraded) => {
                        *out.skipped.entry("submission.ungraded".into()).or_default() += 1;
                        continue;
                    }
                    Err(NotExported::DraftOnly) => {
                        *out.skipped
                            .entry("submission.draftGradeOnly".into())
                            .or_default() += 1;
                        continue;
                    }
                };
                let Some(&(user, user_origin)) = members
                    .get(sub.user_id.as_str())
                    .and_then(|e| email_to_user.get(e))
                else {
                    issues.push(RecordIssue::warning("classroom", "studentSubmissions", Some(&sub.id), format!(
                        "submission of Classroom user {} in course {course_id} matches no roster user by email; its grade was not exported", sub.user_id
                    )));
                    continue;
                };
                let k = class_of_student
                    .get(user.sourced_id.as_str())
                    .copied()
                    .unwrap_or(0);
                let GradedClass { class, source } = group[k];
                let class_id = &class.sourced_id;
                let Some((li_id, li_key)) = &line_items[k] else {
                    continue;
                };
                if user_origin != Some(source.id.as_str()) {
                    issues.push(RecordIssue::warning("classroom", "studentSubmissions", Some(&sub.id), format!(
                        "student '{}' is not in source '{}', where class '{class_id}' lives; the grade was not exported", user.sourced_id, source.id
                    )));
                    continue;
                }
                let r_id = result_id(course_id, &work.id, &sub.user_id);
                let score_date = sub.update_time.as_deref().unwrap_or(ctx.now);
                let v12 = source.version == OneRosterVersion::V1_2;
                let body = ResultBody {
                    late: v12.then(|| flag(grade.late)),
                    line_item: GuidRef {
                        sourced_id: li_id,
                        kind: "lineItem",
                    },
                    missing: v12.then(|| flag(grade.missing)),
                    score: grade.score,
                    score_date: score_date.get(..10).unwrap_or(score_date),
                    score_status: grade.status.as_str(),
                    sourced_id: &r_id,
                    status: "active",
                    student: GuidRef {
                        sourced_id: strip(source, &user.sourced_id),
                        kind: "user",
                    },
                    text_score: if v12 {
                        grade.text_score.as_deref()
                    } else {
                        None
                    },
                };
                // Most results are as last exported: tell so from the typed body alone.
                if !masters_on_results
                    && ctx
                        .ledger
                        .get(EntityKind::Result, &r_id)
                        .is_some_and(|p| p.digest == digest(&body))
                {
                    continue;
                }
                let pair = (user.sourced_id.as_str(), class_id.as_str());
                let (shown_student, shown_class) =
                    (strip(source, &user.sourced_id), strip(source, class_id));
                let held = if unconfirmed.contains(&pair) {
                    // An enrolment the SIS's listing left out is kept until the SIS says whether
                    // it is gone; a grade for it waits as well, since a SIS that dropped the
                    // student refuses it (a write that fails is retried every run).
                    Some((
                        "submission.enrolmentUnconfirmed",
                        format!(
                            "the enrolment of student '{shown_student}' in class '{shown_class}' is missing from source '{}''s listing and not yet confirmed gone; their grade for '{work_title}' waits until the SIS answers",
                            source.id
                        ),
                    ))
                } else if !enrolled.contains(&pair) {
                    // A SIS refuses a result for a student not enrolled in the lineItem's class:
                    // one the SIS dropped (this run removes them, or a removal grace keeps
                    // them), or one added in Classroom by hand. Held back in words, before
                    // anything is sent.
                    Some((
                        "submission.studentNotEnrolled",
                        format!(
                            "student '{shown_student}' is not enrolled in class '{shown_class}' in source '{}' (the SIS dropped them, or they were added in Classroom only); their grade for '{work_title}' was not exported",
                            source.id
                        ),
                    ))
                } else {
                    None
                };
                if let Some((reason, message)) = held {
                    *out.skipped.entry(reason.into()).or_default() += 1;
                    issues.push(RecordIssue::warning(
                        "classroom",
                        "studentSubmissions",
                        Some(&sub.id),
                        message,
                    ));
                    continue;
                }
                put_op(
                    ctx,
                    source,
                    EntityKind::Result,
                    &r_id,
                    Some(li_id),
                    body.to_map(),
                    class,
                    Subject::Result {
                        work: work_title,
                        student: user,
                        item: work,
                        sub,
                        grade: &grade,
                    },
                    Some(li_key),
                    &mut out,
                );
            }
        }
    }
    delete_vanished(ctx, &live_items, &mut out);
    out
}

/// The (student, class) enrolments each class's own source holds, for the classes whose
/// courses' work this run reads (with a change feed, a few; never the district's pairs when
/// no grade is read).
fn enrolled_students<'a>(ctx: &GradeContext<'a>) -> FxHashSet<(&'a str, &'a str)> {
    let graded: FxHashSet<&str> = ctx
        .known
        .courses
        .iter()
        .filter(|(_, course)| {
            course
                .course_id
                .as_deref()
                .is_some_and(|id| ctx.snapshot.course_work.contains_key(id))
        })
        .flat_map(|(class_id, _)| ctx.cross.classes_of(ctx.cross.primary(class_id)))
        .collect();
    if graded.is_empty() {
        return FxHashSet::default();
    }
    ctx.sources
        .values()
        .flat_map(|roster| roster.enrollments.values())
        .filter(|e| {
            e.status == Status::Active
                && e.role.as_str() == "student"
                && graded.contains(e.class.as_str())
        })
        .map(|e| (e.user.as_str(), e.class.as_str()))
        .collect()
}

/// (student, class) of the enrolments a full read left out and that are kept because the SIS
/// has not confirmed them gone (not asked yet, or no answer).
fn unconfirmed_enrolments<'a>(ctx: &GradeContext<'a>) -> FxHashSet<(&'a str, &'a str)> {
    use crate::plan::AbsenceStatus;
    ctx.absences
        .iter()
        .filter(|a| {
            a.entity == EntityKind::Enrollment
                && matches!(
                    a.status,
                    AbsenceStatus::Unchecked | AbsenceStatus::Unconfirmed
                )
        })
        .filter_map(|a| {
            ctx.sources
                .get(&a.source)?
                .enrollments
                .get(a.sourced_id.as_str())
        })
        .map(|e| (e.user.as_str(), e.class.as_str()))
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn line_item_for(
    ctx: &GradeContext,
    source: &SourceConfig,
    class: &Class,
    work: &CourseWork,
    max_points: f64,
    li_id: &str,
    issues: &mut Vec<RecordIssue>,
    out: &mut GradeMapping,
) -> Option<Map<String, Value>> {
    let assign = work
        .scheduled_time
        .as_deref()
        .or(work.creation_time.as_deref())
        .unwrap_or(ctx.now)
        .to_string();
    let due = match date_of(work) {
        Some(d) => d,
        None => {
            match source.limits.missing_due_date {
                MissingDueDate::UseAssignDate => {
                    issues.push(RecordIssue::warning("classroom", "courseWork", Some(&work.id), format!(
                    "'{}' has no due date; it was placed on its assign date {} in source '{}'", work.title, &assign[..10.min(assign.len())], source.id
                )));
                    assign.clone()
                }
                MissingDueDate::Skip => {
                    issues.push(RecordIssue::warning(
                        "classroom",
                        "courseWork",
                        Some(&work.id),
                        format!(
                            "'{}' has no due date and source '{}' needs one; it was not exported",
                            work.title, source.id
                        ),
                    ));
                    *out.skipped
                        .entry("courseWork.noDueDate".into())
                        .or_default() += 1;
                    return None;
                }
            }
        }
    };
    let mut title = work.title.clone();
    if let Some(max) = source.limits.line_item_title_max
        && title.chars().count() > max
    {
        title = title
            .chars()
            .take(max)
            .collect::<String>()
            .trim_end()
            .to_string();
        issues.push(RecordIssue::warning("classroom", "courseWork", Some(&work.id), format!(
            "title '{}' is longer than the {max} characters source '{}' accepts; exported as '{title}'", work.title, source.id
        )));
    }
    let category = match category_for(ctx, source, class, work) {
        Ok(category) => category,
        Err(reason) => {
            issues.push(RecordIssue::error(
                "classroom",
                "courseWork",
                Some(&work.id),
                format!(
                    "'{}': {reason}; it was held back, not sent to be refused",
                    work.title
                ),
            ));
            *out.skipped
                .entry("courseWork.unknownDefaultCategory".into())
                .or_default() += 1;
            return None;
        }
    };
    if category.is_none() {
        if source.category_required() {
            issues.push(RecordIssue::warning("classroom", "courseWork", Some(&work.id), format!(
                "'{}' matches no category, source '{}' has no default category, and its SIS refuses a lineItem without one; it was not exported (set default_category, or put the work under a topic made from a category)", work.title, source.id
            )));
            *out.skipped
                .entry("courseWork.noCategory".into())
                .or_default() += 1;
            return None;
        }
        issues.push(RecordIssue::warning("classroom", "courseWork", Some(&work.id), format!(
            "'{}' matches no category and source '{}' has no default category; exported without one", work.title, source.id
        )));
    }
    let grading_period = grading_period_for(ctx.roster, class, &due);
    let mut li = Map::new();
    li.insert("sourcedId".into(), json!(li_id));
    li.insert("status".into(), json!("active"));
    li.insert("title".into(), json!(title));
    if let Some(d) = &work.description {
        li.insert("description".into(), json!(d));
    }
    li.insert("assignDate".into(), json!(assign));
    li.insert("dueDate".into(), json!(due));
    li.insert(
        "class".into(),
        guid_ref(strip(source, &class.sourced_id), "class"),
    );
    if let Some(c) = category {
        li.insert("category".into(), guid_ref(&c, "category"));
    }
    if let Some(gp) = grading_period {
        let key = if source.version == OneRosterVersion::V1_2 {
            "academicSession"
        } else {
            "gradingPeriod"
        };
        li.insert(key.into(), guid_ref(strip(source, &gp), "academicSession"));
    }
    if source.version == OneRosterVersion::V1_2 {
        li.insert(
            "school".into(),
            guid_ref(strip(source, &class.school), "org"),
        );
    }
    li.insert("resultValueMin".into(), json!(0.0));
    li.insert(
        "resultValueMax".into(),
        json!(result_value_max(&ctx.config.grades, max_points)),
    );
    Some(li)
}

/// Topic the work sits under (a topic we made from a category), else a category whose title is
/// the work's grade category, else the source's default category. Unprefixed SIS id.
fn category_for(
    ctx: &GradeContext,
    source: &SourceConfig,
    class: &Class,
    work: &CourseWork,
) -> Result<Option<String>, String> {
    let class_id = &class.sourced_id;
    let by_topic = work.topic_id.as_ref().and_then(|topic_id| {
        ctx.known
            .topics
            .get(class_id)?
            .iter()
            .find(|(_, t)| t.topic_id.as_ref() == Some(topic_id))
            .map(|(cat, _)| cat.clone())
    });
    let by_grade_category = || {
        let name = work.grade_category.as_ref()?.name.to_lowercase();
        ctx.roster
            .categories
            .values()
            .filter(|c| c.class.is_none() || c.class.as_deref() == Some(class_id.as_str()))
            .find(|c| c.title.to_lowercase() == name)
            .map(|c| c.sourced_id.clone())
    };
    if let Some(found) = by_topic.or_else(by_grade_category) {
        return Ok(Some(strip(source, &found).to_string()));
    }
    let Some(default) = &source.limits.default_category else {
        return Ok(None);
    };
    // The default is the SIS's own sourcedId: it must be one of the categories the SIS sent.
    let prefixed = format!("{}{default}", source.sis_id_prefix);
    let known = ctx
        .sources
        .get(&source.id)
        .map(|r| &r.categories)
        .filter(|c| c.contains_key(&prefixed));
    if known.is_some() {
        return Ok(Some(default.clone()));
    }
    Err(format!(
        "it matches no category, and the default category '{default}' of source '{}' is not among the categories that SIS sent (default_category in [[source]] must be one of their sourcedIds)",
        source.id
    ))
}

fn grading_period_for(roster: &Roster, class: &Class, due: &str) -> Option<String> {
    let day = &due[..10.min(due.len())];
    roster
        .academic_sessions
        .values()
        .filter(|s| s.session_type == "gradingPeriod")
        .filter(|s| {
            class.terms.iter().any(|t| *t == s.sourced_id)
                || s.parent.as_ref().is_some_and(|p| class.terms.contains(p))
        })
        .find(|s| s.start_date.as_str() <= day && day <= &s.end_date[..10.min(s.end_date.len())])
        .map(|s| s.sourced_id.clone())
}

/// Master fields on the gradebook: a field the SIS owns keeps the SIS's value.
fn apply_masters(
    ctx: &GradeContext,
    source: &SourceConfig,
    kind: EntityKind,
    id: &str,
    body: &mut Map<String, Value>,
) {
    // By default Classroom owns every gradebook field: then there is nothing to look up, and
    // a district has hundreds of thousands of results.
    let owned: Vec<String> = body
        .keys()
        .filter(|key| {
            !matches!(key.as_str(), "sourcedId" | "status")
                && crate::config::resolve_master(ctx.config, kind, None, key).sis_owns()
        })
        .cloned()
        .collect();
    if owned.is_empty() {
        return;
    }
    let sis_roster = ctx.sis_gradebooks.get(&source.id);
    let sis_record: Option<Map<String, Value>> = match kind {
        EntityKind::LineItem => sis_roster
            .and_then(|r| r.line_items.get(&format!("{}{id}", source.sis_id_prefix)))
            .map(RosterRecord::fields),
        EntityKind::Result => sis_roster
            .and_then(|r| r.results.get(&format!("{}{id}", source.sis_id_prefix)))
            .map(RosterRecord::fields),
        _ => None,
    };
    let Some(sis) = sis_record else { return };
    for key in owned {
        if let Some(v) = sis.get(&key) {
            body.insert(key, v.clone());
        }
    }
}

/// What a gradebook write is about, for its summary.
#[derive(Clone, Copy)]
enum Subject<'a> {
    LineItem {
        work: &'a str,
        item: &'a CourseWork,
    },
    Result {
        work: &'a str,
        student: &'a User,
        item: &'a CourseWork,
        sub: &'a StudentSubmission,
        grade: &'a super::grades::MappedGrade,
    },
}

#[allow(clippy::too_many_arguments)]
fn put_op(
    ctx: &GradeContext,
    source: &SourceConfig,
    kind: EntityKind,
    id: &str,
    parent: Option<&str>,
    mut body: Map<String, Value>,
    class: &Class,
    subject: Subject,
    depends_on: Option<&str>,
    out: &mut GradeMapping,
) -> String {
    apply_masters(ctx, source, kind, id, &mut body);
    let key_base = format!("{}.put:{}:{id}", kind.singular(), source.id);
    let record_digest = digest(&body);
    let key = format!("{key_base}:{record_digest}");
    let previous = ctx.ledger.get(kind, id);
    if previous.is_some_and(|p| p.digest == record_digest) {
        return key;
    }
    let effect = StateEffect::Exported {
        kind,
        sourced_id: id.to_string(),
        source_id: Shared::from(&source.id),
        parent: parent.map(Shared::from),
        digest: record_digest,
    };
    if previous.is_none() && sis_has_same(ctx, source, kind, id, &body) {
        out.adopted.push(effect);
        return key;
    }
    // When, not what: kept out of the digest so an unchanged grade is never sent again.
    body.insert("dateLastModified".into(), json!(ctx.now));
    add_wire_fields(ctx, source, &subject, &mut body);
    let course = super::words::class_words(ctx.roster, class);
    let first = previous.is_none();
    let why = match subject {
        Subject::LineItem { item, .. } => {
            super::grade_words::line_item(item, first, &ctx.config.grades)
        }
        Subject::Result {
            item, sub, grade, ..
        } => super::grade_words::result(item, sub, grade, first, &ctx.config.grades),
    };
    let person = match subject {
        Subject::Result { student, .. } => student.normalized_email().map(Shared::from),
        Subject::LineItem { .. } => None,
    };
    let summary = match subject {
        Subject::LineItem { work, .. } => format!(
            "put assignment '{work}' of {course} in source '{}'",
            source.id
        ),
        Subject::Result { work, student, .. } => {
            let score = match body.get("score").filter(|v| !v.is_null()) {
                Some(score) => format!("score {score}"),
                None => "no score".to_string(),
            };
            let status = body
                .get("scoreStatus")
                .and_then(Value::as_str)
                .unwrap_or_default();
            format!(
                "put {score} ({status}) for {} on '{work}' in {course}, source '{}'",
                super::words::user_words(student, strip(source, &student.sourced_id)),
                source.id
            )
        }
    };
    out.ops.push(OpDraft {
        phase: if kind == EntityKind::LineItem {
            Phase::LineItemPut
        } else {
            Phase::ResultPut
        },
        op: PlannedOp {
            op_id: String::new(),
            key: key.clone(),
            entity: if kind == EntityKind::LineItem {
                OpEntity::LineItem
            } else {
                OpEntity::Result
            },
            change: if previous.is_some() {
                OpChange::Update
            } else {
                OpChange::Create
            },
            depends_on: depends_on.into_iter().map(Shared::from).collect(),
            class_id: Some(Shared::from(&class.sourced_id)),
            school_id: Some(class.school.clone()),
            person,
            summary,
            before: None,
            // The record is the action's body; a copy here would double a gradebook plan's size.
            after: None,
            action: Action::OneRosterPut {
                source_id: Shared::from(&source.id),
                collection: kind.collection().into(),
                sourced_id: id.to_string(),
                body: JsonText::enveloped(kind.singular(), body),
            },
            why: Some(Box::new(why)),
            effect,
        },
    });
    key
}

/// After a reconnect the state knows nothing, but the SIS gradebook (when read) shows what was
/// written before: an identical record needs no write.
/// Fields a SIS expects that say nothing new about the grade, added after the digest (as
/// `dateLastModified` is), so that adding them never re-sends a district's unchanged grades:
/// the score's time of day (the digest has its day), the comment, 1.2's `gradingPeriod`
/// beside `academicSession`, and 1.1's GUIDRef `href`s. A field a master rule took from the
/// SIS is left as the SIS has it.
fn add_wire_fields(
    ctx: &GradeContext,
    source: &SourceConfig,
    subject: &Subject,
    body: &mut Map<String, Value>,
) {
    match subject {
        Subject::Result { sub, .. } => {
            let when = sub.update_time.as_deref().unwrap_or(ctx.now);
            let same_day = body
                .get("scoreDate")
                .and_then(Value::as_str)
                .is_some_and(|day| when.get(..10) == Some(day));
            if same_day && crate::ingest::is_timestamp(when) {
                body.insert("scoreDate".into(), json!(when));
            }
            if !body.contains_key("comment") {
                body.insert("comment".into(), json!(ctx.config.grades.comment));
            }
        }
        Subject::LineItem { .. } => {
            if source.version == OneRosterVersion::V1_2
                && !body.contains_key("gradingPeriod")
                && let Some(period) = body.get("academicSession").cloned()
            {
                body.insert("gradingPeriod".into(), period);
            }
        }
    }
    if source.version == OneRosterVersion::V1_1
        && let Some(root) = source.limits.href_root.as_deref()
    {
        let root = root.trim_end_matches('/');
        for reference in body.values_mut() {
            let Some(fields) = reference.as_object_mut() else {
                continue;
            };
            let (Some(id), Some(kind)) = (
                fields.get("sourcedId").and_then(Value::as_str),
                fields.get("type").and_then(Value::as_str),
            ) else {
                continue;
            };
            let Some(kind) = EntityKind::parse(kind) else {
                continue;
            };
            let href = format!("{root}/{}/{id}", kind.collection());
            fields.insert("href".into(), json!(href));
        }
    }
}

fn sis_has_same(
    ctx: &GradeContext,
    source: &SourceConfig,
    kind: EntityKind,
    id: &str,
    body: &Map<String, Value>,
) -> bool {
    let Some(roster) = ctx.sis_gradebooks.get(&source.id) else {
        return false;
    };
    let prefixed = format!("{}{id}", source.sis_id_prefix);
    let ours = Value::Object(body.clone());
    let ours = ours.as_object().expect("object");
    use crate::ingest::FromRaw;
    match kind {
        EntityKind::LineItem => {
            match (
                roster.line_items.get(&prefixed),
                LineItem::from_raw(ours, &mut Vec::new()),
            ) {
                (Some(sis), Ok(mut mine)) => {
                    prefix_refs(&mut mine, source);
                    comparable(sis) == comparable(&mine)
                }
                _ => false,
            }
        }
        _ => match (
            roster.results.get(&prefixed),
            GradeResult::from_raw(ours, &mut Vec::new()),
        ) {
            (Some(sis), Ok(mut mine)) => {
                prefix_refs(&mut mine, source);
                comparable(sis) == comparable(&mine)
            }
            _ => false,
        },
    }
}

fn prefix_refs<R: RosterRecord>(record: &mut R, source: &SourceConfig) {
    let p = &source.sis_id_prefix;
    let id = record.sourced_id_mut();
    *id = format!("{p}{id}");
    for (kind, r) in record.references_mut() {
        // lineItem and result ids are ours, unprefixed in the SIS's own terms too.
        if !matches!(kind, EntityKind::LineItem) {
            *r = format!("{p}{r}").into();
        }
    }
}

/// A gradebook record's content, as the digest sees it: no wire-only fields (the comment,
/// the score's time of day, 1.2's copied `gradingPeriod`), so a grade written by an earlier
/// run compares equal after a reconnect.
fn comparable<R: RosterRecord>(record: &R) -> Map<String, Value> {
    let mut f = record.fields();
    for k in ["dateLastModified", "status", "metadata", "comment"] {
        f.remove(k);
    }
    if let Some(Value::String(date)) = f.get_mut("scoreDate")
        && date.len() > 10
        && date.is_char_boundary(10)
    {
        date.truncate(10);
    }
    if f.contains_key("academicSession") {
        f.remove("gradingPeriod");
    }
    f
}

/// A lineItem we exported whose courseWork is gone (or no longer graded) from a course whose
/// courseWork was read completely is deleted, results first.
fn delete_vanished(
    ctx: &GradeContext,
    live: &std::collections::BTreeSet<String>,
    out: &mut GradeMapping,
) {
    let complete_courses: std::collections::BTreeSet<&str> = ctx
        .known
        .courses
        .values()
        .filter_map(|c| c.course_id.as_deref())
        .filter(|id| ctx.course_work_complete.contains(*id))
        .collect();
    for (li_id, record) in &ctx.exported.line_items {
        let Some(course_id) = record.parent.as_deref() else {
            continue;
        };
        if live.contains(li_id) || !complete_courses.contains(course_id) {
            continue;
        }
        let li_key = format!("lineItem.delete:{}:{li_id}", record.source_id);
        let mut result_keys = Vec::new();
        for (r_id, r) in ctx
            .exported
            .results
            .iter()
            .filter(|(_, r)| r.parent.as_deref() == Some(li_id.as_str()))
        {
            let key = format!("result.delete:{}:{r_id}", r.source_id);
            result_keys.push(key.clone());
            out.ops.push(delete_op(
                Phase::ResultDelete,
                key,
                (EntityKind::Result, r_id, &r.source_id),
                Vec::new(),
                super::grade_words::vanished(li_id, course_id),
            ));
        }
        out.ops.push(delete_op(
            Phase::LineItemDelete,
            li_key,
            (EntityKind::LineItem, li_id, &record.source_id),
            result_keys,
            super::grade_words::vanished(li_id, course_id),
        ));
    }
}

fn delete_op(
    phase: Phase,
    key: String,
    (kind, id, source_id): (EntityKind, &str, &str),
    depends_on: Vec<String>,
    why: crate::explanation::Explanation,
) -> OpDraft {
    OpDraft {
        phase,
        op: PlannedOp {
            op_id: String::new(),
            key,
            entity: if kind == EntityKind::LineItem {
                OpEntity::LineItem
            } else {
                OpEntity::Result
            },
            change: OpChange::Delete,
            depends_on: depends_on.into_iter().map(Shared::from).collect(),
            class_id: None,
            school_id: None,
            person: None,
            summary: format!(
                "delete {} {id} from source '{source_id}' (its Classroom work is gone)",
                kind.singular()
            ),
            before: None,
            after: None,
            action: Action::OneRosterDelete {
                source_id: Shared::from(source_id),
                collection: kind.collection().into(),
                sourced_id: id.to_string(),
            },
            why: Some(Box::new(why)),
            effect: StateEffect::ExportDeleted {
                kind,
                sourced_id: id.to_string(),
            },
        },
    }
}
