//! Which enrolments a run needs. Enrolments are most of a district's records (1.6M of 1.9M
//! at 200,000 students); a run whose SIS reads are deltas changes the membership of few
//! classes. The engine says which classes those are, before the enrolments are fed; the host
//! reads them from its database by class and feeds them as a slice
//! ([`crate::state::EnrollmentSlice`]). Whatever the engine cannot bound from what it was fed
//! (a first sync, a full read, changed rules, changed schools or terms) asks for every
//! enrolment instead: a slice is an optimisation, never a guess.
//!
//! What a class's membership depends on, and so what puts a class in the slice:
//! - its own record, its course's record, its categories (delta reads);
//! - each enrolment read, before and after (its old class comes from the state, by id);
//! - each person read: their every class (an email, a name, a deletion changes them all);
//! - people who share a domain of uniqueness with a person read (a duplicate appears or ends);
//! - people at Classroom's classes-per-person limit (who is left out depends on all of them;
//!   a host that keeps Classroom's members apart says who they are, [`NeedsFacts`]);
//! - enrolments whose begin or end date passed since the state was planned;
//! - Classroom courses read (drift is judged against the whole class);
//! - operations that failed (they are retried);
//! - students kept by the removal grace rule (their removal comes due on a day, unread).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::config::SyncConfig;
use crate::ingest::ClassroomReading;
use crate::input::{ClassroomListings, SourceData};
use crate::model::{EntityKind, Roster};
use crate::state::SyncState;

/// What the host knows of the state it keeps, which the engine cannot see in the rows.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NeedsFacts {
    /// The date (`YYYY-MM-DD`) of the plan whose commit made the state: enrolment dates
    /// that passed since then change membership. Absent: unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planned_on: Option<String>,
    /// [`config_digest`] of the rules that plan was made with. Absent: unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_digest: Option<String>,
    /// Whether that plan left operations unapplied (an admin's approval left them out, or
    /// the run stopped before attempting them): they are planned again next run, wherever
    /// their class is, so that run needs every enrolment.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub left_out: bool,
    /// The people (normalised emails) whose Classroom memberships as the state knows them
    /// (teachers and students of every class, a person counted once per class and role)
    /// reach `classroom.limits.classesPerUser`. A host gives them when it feeds the
    /// state's Classroom `teachers`, `students` and `topics` rows only for the classes of
    /// the slice (after the needs call, with the enrolments); absent, the engine counts
    /// the memberships it was fed, which must then be every class's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_class_limit: Option<BTreeSet<String>>,
}

/// The enrolments a run needs (`cb_session_needs`'s answer).
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub enum EnrollmentNeeds {
    /// Every enrolment, and why.
    All {
        /// Why a slice would not do, in words.
        reason: String,
    },
    /// The enrolments of some classes.
    Slice(EnrollmentAsk),
}

/// The classes whose enrolments a run needs, as the host finds them. The host feeds every
/// enrolment row (of the merged roster and of every source) whose class is in `classes`, or
/// is the class of any enrolment row whose user is in `users`, whose id is in
/// `enrollments`, or whose dates pass in `dates`; and it names every such class in the
/// slice's `classes`. A class is always fed whole.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct EnrollmentAsk {
    /// Classes (sourcedIds, prefixed) whose enrolments are needed.
    pub classes: BTreeSet<String>,
    /// People whose every class is needed.
    pub users: BTreeSet<String>,
    /// Enrolments whose class (as the state has it) is needed.
    pub enrollments: BTreeSet<String>,
    /// Enrolments whose dates passed since the state was planned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dates: Option<DateWindow>,
}

/// Days between the state's plan and this run's: an enrolment whose `beginDate` falls after
/// `after` and on or before `through`, or whose `endDate` falls on or after `after` and
/// before `through` (dates compared by their first 10 characters), changed membership.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct DateWindow {
    /// The state's plan date.
    pub after: String,
    /// This run's date.
    pub through: String,
}

impl DateWindow {
    /// Whether an enrolment with these dates changes membership in the window.
    pub fn passes(&self, begin: Option<&str>, end: Option<&str>) -> bool {
        let day = |d: &str| d.get(..10).unwrap_or(d).to_string();
        let began = begin.map(day).is_some_and(|b| {
            b.as_str() > self.after.as_str() && b.as_str() <= self.through.as_str()
        });
        let ended = end.map(day).is_some_and(|e| {
            e.as_str() >= self.after.as_str() && e.as_str() < self.through.as_str()
        });
        began || ended
    }
}

/// A digest of the rules, which a host keeps beside the state it commits (see [`NeedsFacts`]).
pub fn config_digest(config: &SyncConfig) -> String {
    crate::hash::json_sha256_hex(config)
}

/// A share of the classes past which a run reads every enrolment: a slice that large saves
/// little and costs a query per class.
const MOST_CLASSES_PERCENT: usize = 50;

/// The enrolments a run needs, from what it read and the state without its enrolments.
pub fn enrollment_needs(
    config: &SyncConfig,
    sources: &[SourceData],
    classroom: &ClassroomListings,
    state: &SyncState,
    now: &str,
    facts: &NeedsFacts,
) -> EnrollmentNeeds {
    let classroom = ClassroomReading::of(classroom.clone());
    needs_of_reading(config, sources, &classroom, state, now, facts)
}

/// [`enrollment_needs`] with the Classroom listings already read into records.
pub(crate) fn needs_of_reading(
    config: &SyncConfig,
    sources: &[SourceData],
    classroom: &ClassroomReading,
    state: &SyncState,
    now: &str,
    facts: &NeedsFacts,
) -> EnrollmentNeeds {
    match ask(config, sources, classroom, state, now, facts) {
        Ok(ask) => EnrollmentNeeds::Slice(ask),
        Err(reason) => EnrollmentNeeds::All { reason },
    }
}

fn ask(
    config: &SyncConfig,
    sources: &[SourceData],
    classroom: &ClassroomReading,
    state: &SyncState,
    now: &str,
    facts: &NeedsFacts,
) -> Result<EnrollmentAsk, String> {
    if state.revision == 0 || state.sources.is_empty() {
        return Err("a first sync reads every enrolment".into());
    }
    if facts.config_digest.as_deref() != Some(config_digest(config).as_str()) {
        return Err("the rules changed since the state was planned".into());
    }
    if facts.left_out {
        return Err(
            "the last run left operations unapplied (left out by an approval, or not attempted), to be planned again"
                .into(),
        );
    }
    let today = now.get(..10).unwrap_or(now);
    let Some(planned_on) = facts.planned_on.as_deref() else {
        return Err("the state's plan date is not known".into());
    };
    if today < planned_on {
        return Err(format!(
            "this run's date {today} is before the state's {planned_on}"
        ));
    }
    let configured: BTreeSet<&str> = config.sources.iter().map(|s| s.id.as_str()).collect();
    let kept: BTreeSet<&str> = state.sources.keys().map(String::as_str).collect();
    if configured != kept {
        return Err("a source was added or removed".into());
    }
    // A merged course is planned from every class of its group, and who is in a group can
    // change with any class read: not bounded here yet.
    if !config.classroom.cross_list.is_empty() {
        return Err("cross-listed sections are planned from every enrolment".into());
    }
    if config
        .uniqueness
        .iter()
        .any(|d| d.entity == EntityKind::Enrollment)
    {
        return Err("a domain of uniqueness covers enrolments".into());
    }
    let delta = crate::ingest::delta_records(config, sources)?;
    let read = |kind: EntityKind| delta.ids.get(&kind).filter(|ids| !ids.is_empty());
    for kind in [EntityKind::Org, EntityKind::AcademicSession] {
        if read(kind).is_some() {
            return Err(format!("{} changed", kind.collection()));
        }
    }
    for domain in &config.uniqueness {
        if domain.entity != EntityKind::User && read(domain.entity).is_some() {
            return Err(format!(
                "{} changed and a domain of uniqueness covers them",
                domain.entity.collection()
            ));
        }
    }
    let mut out = EnrollmentAsk::default();
    if let Some(courses) = read(EntityKind::Course) {
        for roster in rosters(state) {
            out.classes.extend(
                roster
                    .classes
                    .values()
                    .filter(|c| courses.contains(c.course.as_str()))
                    .map(|c| c.sourced_id.clone()),
            );
        }
    }
    out.classes
        .extend(read(EntityKind::Class).into_iter().flatten().cloned());
    let records = &delta.records;
    for category in records.categories.values() {
        match &category.class {
            Some(class) => {
                out.classes.insert(class.to_string());
            }
            None if config.classroom.categories_as_topics => {
                return Err("a category for every class changed".into());
            }
            None => {}
        }
    }
    if let Some(categories) = read(EntityKind::Category) {
        // A category moved or deleted leaves its old class: that class is needed too.
        for roster in rosters(state) {
            for id in categories {
                if let Some(class) = roster.categories.get(id).and_then(|c| c.class.as_ref()) {
                    out.classes.insert(class.to_string());
                }
            }
        }
    }
    out.enrollments
        .extend(read(EntityKind::Enrollment).into_iter().flatten().cloned());
    for e in records.enrollments.values() {
        out.classes.insert(e.class.to_string());
        // Their other classes count towards Classroom's classes-per-person limit.
        out.users.insert(e.user.to_string());
    }
    out.users
        .extend(read(EntityKind::User).into_iter().flatten().cloned());
    add_duplicates_of_read_users(config, state, records, &mut out.users);
    add_people_at_the_class_limit(config, state, facts, &mut out.users);
    add_classroom_reads(classroom, state, &mut out.classes);
    add_failed_classes(state, &mut out.classes);
    if config.classroom.new_courses_per_run.is_some() {
        add_classes_awaiting_a_course(config, state, today, &mut out.classes);
    }
    // A student kept by the removal grace rule is removed on the day it ends, with no
    // change read: their class is planned every run until then.
    out.classes
        .extend(state.classroom.pending_removals.keys().cloned());
    if planned_on < today {
        out.dates = Some(DateWindow {
            after: planned_on.to_string(),
            through: today.to_string(),
        });
    }
    let classes = state.roster.classes.len().max(1);
    if out.classes.len() * 100 > classes * MOST_CLASSES_PERCENT && out.classes.len() > 50 {
        return Err(format!(
            "{} of {classes} classes changed or were read",
            out.classes.len()
        ));
    }
    Ok(out)
}

/// Classes the state's roster has and Classroom does not, whose terms go on: with
/// `classroom.newCoursesPerRun`, those a run left for later are made by the next runs, delta
/// reads or not. (A class kept out for another reason, no owner say, is asked for too; a
/// class whose terms ended gets no course and is not.)
fn add_classes_awaiting_a_course(
    config: &SyncConfig,
    state: &SyncState,
    today: &str,
    classes: &mut BTreeSet<String>,
) {
    let roster = &state.roster;
    classes.extend(
        roster
            .classes
            .iter()
            .filter(|(id, _)| !state.classroom.courses.contains_key(*id))
            .filter(|(_, class)| {
                config.classroom.term_end != crate::config::TermEnd::Archive
                    || crate::pipeline::map_roster::term_ended(class, roster, today).is_none()
            })
            .map(|(id, _)| id.clone()),
    );
}

/// The classes whose Classroom course has one of these people as a member, as the state
/// carries it: what a plan checks a host's slice against. When the host feeds only the
/// slice's classes' members, only those are checked here (the host finds a person's
/// classes by their enrolments).
pub(crate) fn member_classes(state: &SyncState, users: &BTreeSet<String>) -> BTreeSet<String> {
    // Hashed: every Classroom membership of the district is looked up in it.
    let mut emails = rustc_hash::FxHashSet::default();
    for roster in rosters(state) {
        for id in users {
            emails.extend(
                roster
                    .users
                    .get(id)
                    .and_then(crate::model::User::normalized_email),
            );
        }
    }
    let known = &state.classroom;
    known
        .teachers
        .iter()
        .chain(&known.students)
        .filter(|(_, members)| members.iter().any(|m| emails.contains(m)))
        .map(|(class, _)| class.clone())
        .collect()
}

/// The merged roster and every source's snapshot.
fn rosters(state: &SyncState) -> impl Iterator<Item = &Roster> {
    std::iter::once(&state.roster).chain(state.sources.values())
}

/// People who share a domain of uniqueness with a person read, before or after: a duplicate
/// that appears or ends changes which of them is kept, and with them their classes.
fn add_duplicates_of_read_users(
    config: &SyncConfig,
    state: &SyncState,
    records: &Roster,
    users: &mut BTreeSet<String>,
) {
    use crate::pipeline::dedup::domain_key;
    for domain in config
        .uniqueness
        .iter()
        .filter(|d| d.entity == EntityKind::User)
    {
        let mut keys = BTreeSet::new();
        for id in users.iter() {
            keys.extend(records.users.get(id).and_then(|u| domain_key(domain, u)));
            for roster in rosters(state) {
                keys.extend(roster.users.get(id).and_then(|u| domain_key(domain, u)));
            }
        }
        if keys.is_empty() {
            continue;
        }
        let mut also = Vec::new();
        for roster in rosters(state) {
            for (id, user) in &roster.users {
                if domain_key(domain, user).is_some_and(|k| keys.contains(&k)) {
                    also.push(id.clone());
                }
            }
        }
        users.extend(also);
    }
}

/// People whose Classroom memberships reach the classes-per-person limit: which of their
/// classes they are left out of depends on all of them. The host's count when it gives one
/// (it feeds the memberships of the slice's classes only), else the state's.
fn add_people_at_the_class_limit(
    config: &SyncConfig,
    state: &SyncState,
    facts: &NeedsFacts,
    users: &mut BTreeSet<String>,
) {
    match &facts.at_class_limit {
        Some(full) => add_users_with_emails(state, full, users),
        None => {
            let full = people_at_the_class_limit(config, state);
            add_users_with_emails(state, &full, users);
        }
    }
}

/// The people (normalised emails) whose memberships in the state's Classroom part reach
/// `classroom.limits.classesPerUser`: what [`NeedsFacts::at_class_limit`] holds, counted
/// from a state that carries every class's members.
pub fn people_at_the_class_limit(config: &SyncConfig, state: &SyncState) -> BTreeSet<String> {
    let max = config.classroom.limits.classes_per_user as usize;
    let known = &state.classroom;
    let memberships: usize = known
        .teachers
        .values()
        .chain(known.students.values())
        .map(BTreeSet::len)
        .sum();
    // Nobody can reach the limit when the memberships are fewer; otherwise every one is
    // counted, hashed (a B-tree keyed by email cost about a second at 1.6M memberships).
    if memberships < max.max(1) {
        return BTreeSet::new();
    }
    let mut joins: rustc_hash::FxHashMap<&str, usize> = rustc_hash::FxHashMap::default();
    for members in known.teachers.values().chain(known.students.values()) {
        for email in members {
            *joins.entry(email.as_str()).or_default() += 1;
        }
    }
    joins
        .into_iter()
        .filter(|(_, n)| *n >= max)
        .map(|(email, _)| email.to_string())
        .collect()
}

/// Adds the ids of the people (in any roster of the state) with one of these emails.
fn add_users_with_emails(
    state: &SyncState,
    emails: &BTreeSet<String>,
    users: &mut BTreeSet<String>,
) {
    if emails.is_empty() {
        return;
    }
    for roster in rosters(state) {
        for (id, user) in &roster.users {
            if user
                .normalized_email()
                .is_some_and(|e| emails.contains(e.as_str()))
            {
                users.insert(id.clone());
            }
        }
    }
}

/// The classes of the Classroom courses this run read.
fn add_classroom_reads(
    classroom: &ClassroomReading,
    state: &SyncState,
    classes: &mut BTreeSet<String>,
) {
    let by_course_id: BTreeMap<&str, &str> = state
        .classroom
        .courses
        .iter()
        .filter_map(|(class, c)| c.course_id.as_deref().map(|id| (id, class.as_str())))
        .collect();
    let mut read_ids: BTreeSet<String> = classroom
        .members_complete
        .iter()
        .chain(&classroom.course_work_complete)
        .chain(classroom.aliases.keys())
        .chain(classroom.found_by_alias.values())
        .cloned()
        .collect();
    for alias in classroom.found_by_alias.keys() {
        if let Some(class) = alias.strip_prefix(crate::COURSE_ALIAS_PREFIX) {
            classes.insert(class.to_string());
        }
    }
    // Records name their courses too, and courses their aliases.
    let (named, aliases) = classroom.courses_named();
    read_ids.extend(named);
    for alias in &aliases {
        if let Some(class) = alias.strip_prefix(crate::COURSE_ALIAS_PREFIX) {
            classes.insert(class.to_string());
        }
    }
    for id in &read_ids {
        if let Some(class) = by_course_id.get(id.as_str()) {
            classes.insert((*class).to_string());
        }
    }
}

/// The classes of failed operations, which the run retries: their keys carry the course's
/// alias (`member.add:d:<class>:<email>`). A class id may hold a colon, so every prefix the
/// state knows as a class is taken: a class too many costs a query, one too few a retry.
fn add_failed_classes(state: &SyncState, classes: &mut BTreeSet<String>) {
    let known = |id: &str| {
        state.roster.classes.contains_key(id) || state.classroom.courses.contains_key(id)
    };
    for key in state.failures.keys() {
        let Some((_, rest)) = key.split_once(':') else {
            continue;
        };
        let Some(rest) = rest.strip_prefix(crate::COURSE_ALIAS_PREFIX) else {
            continue;
        };
        let ends = rest
            .match_indices(':')
            .map(|(at, _)| at)
            .chain([rest.len()]);
        for at in ends {
            if known(&rest[..at]) {
                classes.insert(rest[..at].to_string());
            }
        }
    }
}
