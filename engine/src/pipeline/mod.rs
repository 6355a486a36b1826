//! The pipeline, one module per stage:
//! ingest -> merge -> integrity -> filter -> requirements -> dedup -> diff -> cascade -> hold
//! -> map (roster, grades) -> build.

pub(crate) mod build;
pub(crate) mod cascade;
pub(crate) mod cross_list;
pub(crate) mod dedup;
pub(crate) mod diff;
pub(crate) mod explain;
pub(crate) mod filter;
pub(crate) mod grade_words;
pub(crate) mod gradebook_hold;
pub(crate) mod grades;
pub(crate) mod guardians;
pub(crate) mod hold;
pub(crate) mod integrity;
pub(crate) mod map_grades;
pub(crate) mod map_roster;
pub(crate) mod merge;
pub(crate) mod ops;
pub(crate) mod requirements;
pub(crate) mod result_body;
pub(crate) mod skips;
pub(crate) mod words;

use std::collections::BTreeMap;

use crate::config::{SyncMode, validate};
use crate::error::EngineError;
use crate::input::SyncInput;
use crate::model::Roster;
use crate::plan::SyncPlan;

fn add_counts(into: &mut BTreeMap<String, u64>, from: BTreeMap<String, u64>) {
    for (k, v) in from {
        *into.entry(k).or_default() += v;
    }
}

/// Plans one run. The input is consumed: source pages and Classroom listings are freed as
/// they are read, so a district's data is never held as text and as records at once.
pub(crate) fn run(input: SyncInput) -> Result<SyncPlan, EngineError> {
    let mut plan = run_without_id(input)?;
    plan.id = build::content_id(&mut plan);
    Ok(plan)
}

/// The plan with its id blank.
pub(crate) fn run_without_id(input: SyncInput) -> Result<SyncPlan, EngineError> {
    // Records made while planning share their repeated strings, as the parsed input's do
    // when the caller parsed it inside `interning` too.
    crate::model::interning(|| plan_run(PlanInput::of(input)).map(|(plan, _)| plan))
}

/// The plan of an input whose Classroom listings are already read, its id blank: a plan
/// session reads the listings as they are fed, and hashes the operations as it pages them.
/// The state the plan was made from is handed back rather than freed (see
/// [`crate::session::PlanSession`]).
pub(crate) fn run_read_without_id(
    input: PlanInput,
) -> Result<(SyncPlan, crate::state::SyncState), EngineError> {
    crate::model::interning(|| plan_run(input))
}

/// A run's input with its Classroom listings read into records.
pub(crate) struct PlanInput {
    pub(crate) config: crate::config::SyncConfig,
    pub(crate) sources: Vec<crate::input::SourceData>,
    pub(crate) classroom: crate::ingest::ClassroomReading,
    pub(crate) previous_state: crate::state::SyncState,
    pub(crate) now: String,
}

impl PlanInput {
    /// Reads the input's Classroom listings, each page freed once read.
    fn of(input: SyncInput) -> PlanInput {
        PlanInput {
            config: input.config,
            sources: input.sources,
            classroom: crate::ingest::ClassroomReading::of(input.classroom),
            previous_state: input.previous_state,
            now: input.now,
        }
    }
}

/// A state that carries a slice of the export ledger must carry every course whose work is
/// read: planning without a course's ledger would write its grades again and miss the
/// deletion of its vanished work. A host that cut the slice wrong is told, not obeyed.
fn check_ledger_covers(
    exported: &crate::state::ExportedGradebook,
    snapshot: &crate::model::ClassroomSnapshot,
    course_work_complete: &std::collections::BTreeSet<String>,
) -> Result<(), EngineError> {
    let missing: Vec<&str> = snapshot
        .course_work
        .keys()
        .chain(course_work_complete)
        .map(String::as_str)
        .filter(|course| !exported.covers_course(course))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let shown: Vec<&str> = missing.iter().take(5).copied().collect();
    Err(EngineError::InvalidInput {
        message: format!(
            "the state's export ledger is a slice that leaves out {} Classroom course(s) whose work this run reads ({}{}): give the ledger rows of every course read",
            missing.len(),
            shown.join(", "),
            if missing.len() > shown.len() {
                ", …"
            } else {
                ""
            }
        ),
    })
}

/// A state that carries a slice of the enrolments must carry every class the run needs
/// (the engine asks again, from the facts the slice was cut for): a class left out would be
/// planned from part of its members. A host that cut the slice wrong is told, not obeyed.
fn check_enrollment_slice(input: &PlanInput) -> Result<(), EngineError> {
    let Some(slice) = &input.previous_state.enrollment_slice else {
        return Ok(());
    };
    let refuse = |why: String| {
        Err(EngineError::InvalidInput {
            message: format!("the state's enrolments are a slice, and {why}"),
        })
    };
    let needs = crate::needs::needs_of_reading(
        &input.config,
        &input.sources,
        &input.classroom,
        &input.previous_state,
        &input.now,
        &slice.facts,
    );
    match needs {
        crate::needs::EnrollmentNeeds::All { reason } => {
            refuse(format!("this run needs every enrolment ({reason})"))
        }
        crate::needs::EnrollmentNeeds::Slice(ask) => {
            // A person's classes are found by the host; those with a Classroom course the
            // state knows the person in can be checked here.
            let of_people = crate::needs::member_classes(&input.previous_state, &ask.users);
            let missing: Vec<&str> = ask
                .classes
                .iter()
                .chain(&of_people)
                .filter(|c| !slice.classes.contains(*c))
                .map(String::as_str)
                .collect();
            if missing.is_empty() {
                return Ok(());
            }
            let missing: Vec<&str> = missing
                .into_iter()
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            let shown: Vec<&str> = missing.iter().take(5).copied().collect();
            refuse(format!(
                "it leaves out {} class(es) this run needs ({}{}): give every enrolment of each class the engine asks for",
                missing.len(),
                shown.join(", "),
                if missing.len() > shown.len() {
                    ", …"
                } else {
                    ""
                }
            ))
        }
    }
}

/// Tells each roster of a sliced state how many enrolments it has beyond its table, so
/// thresholds and the preview count the whole district.
fn count_enrollments_outside(state: &mut crate::state::SyncState) {
    let Some(slice) = &state.enrollment_slice else {
        return;
    };
    state.roster.enrollments_outside = slice
        .roster
        .saturating_sub(state.roster.enrollments.len() as u64);
    for (id, roster) in &mut state.sources {
        let total = slice.sources.get(id).copied().unwrap_or(0);
        roster.enrollments_outside = total.saturating_sub(roster.enrollments.len() as u64);
    }
}

/// (class id, email) of the enrolments this run creates or changes: a limit that leaves one of
/// them out is news; one that leaves out the same people as yesterday is not.
fn fresh_enrolments(
    roster: &Roster,
    changes: &[crate::plan::RosterChange],
) -> map_roster::FreshEnrolments {
    changes
        .iter()
        .filter(|c| {
            c.entity == crate::model::EntityKind::Enrollment
                && c.change != crate::config::ChangeKind::Delete
        })
        .filter_map(|c| roster.enrollments.get(c.sourced_id.as_str()))
        .filter_map(|e| {
            let email = roster.users.get(e.user.as_str())?.normalized_email()?;
            Some((e.class.to_string(), email))
        })
        .collect()
}

/// A pause window the run falls in: `hold` adds a hold, `skip` says so in a record issue and
/// answers true (the caller then plans nothing).
fn pause(
    config: &crate::config::SyncConfig,
    today: &str,
    holds: &mut Vec<crate::plan::HoldReason>,
    issues: &mut Vec<crate::model::RecordIssue>,
) -> bool {
    let Some((i, window)) = config.pause_on(today) else {
        return false;
    };
    let rule = format!("pause[{i}]");
    match window.action {
        crate::config::PauseAction::Hold => {
            holds.push(crate::plan::HoldReason {
                code: crate::plan::HoldCode::PauseWindow,
                entity: None,
                source: None,
                message: format!(
                    "syncs are paused from {} to {} ({rule}); approve to apply this run anyway",
                    window.from, window.to
                ),
            });
            false
        }
        crate::config::PauseAction::Skip => {
            issues.push(crate::model::RecordIssue::warning(
                "rules",
                rule.as_str(),
                None,
                format!(
                    "syncs are paused from {} to {}: nothing was planned, and the first run after the window plans every change made meanwhile",
                    window.from, window.to
                ),
            ));
            true
        }
    }
}

/// Plans; answers the plan and the previous state, which it no longer needs.
fn plan_run(input: PlanInput) -> Result<(SyncPlan, crate::state::SyncState), EngineError> {
    validate(&input.config).map_err(|errors| EngineError::InvalidConfig { errors })?;
    if !crate::ingest::is_timestamp(&input.now) || !input.now.ends_with('Z') {
        return Err(EngineError::InvalidInput {
            message: format!(
                "now '{}' is not an RFC 3339 UTC time (YYYY-MM-DDTHH:MM:SSZ)",
                input.now
            ),
        });
    }
    check_enrollment_slice(&input)?;
    let PlanInput {
        config,
        sources,
        mut classroom,
        mut previous_state,
        now,
    } = input;
    count_enrollments_outside(&mut previous_state);
    let config = &config;
    let previous = &previous_state;
    let today = &now[..10];
    let course_work_complete = std::mem::take(&mut classroom.course_work_complete);
    let members_complete = std::mem::take(&mut classroom.members_complete);

    let ingested = crate::ingest::ingest(config, sources, previous);
    let mut issues = ingested.issues;
    // Said once per run, in the preview: a rule that cannot take effect is worse than an error.
    for rule in crate::config::rules_without_effect(config) {
        issues.push(crate::model::RecordIssue::warning(
            "rules",
            rule.field.as_str(),
            None,
            rule.message,
        ));
    }
    let mut holds = ingested.holds;
    let mut snapshot = crate::ingest::read_reading(classroom, &mut issues);
    snapshot.attach_known_aliases(&previous.classroom);

    let mut roster = merge::merge(config, &ingested.sources);
    roster.enrollments_outside = previous.roster.enrollments_outside;
    let cascaded = integrity::check(&mut roster, &previous.roster, &mut issues);
    let mut left_out = skips::Skips::default();
    let mut skipped = filter::filter(config, &mut roster, &mut issues, &mut left_out);
    if cascaded > 0 {
        skipped.insert("cascade.dependantsOfRemoved".into(), cascaded);
    }
    let required = requirements::apply(config, &mut roster, &mut issues, &mut left_out);
    holds.extend(required.holds);
    add_counts(&mut skipped, required.skipped);
    let deduped = dedup::dedup(config, &mut roster, &mut issues, &mut left_out);
    holds.extend(deduped.holds);
    add_counts(&mut skipped, deduped.skipped);

    // The SIS gradebook is not part of the roster diff or the stored state; it is set aside
    // (not copied: a district's roster is large) and lent back to grade mapping below.
    let sis_line_items = std::mem::take(&mut roster.line_items);
    let sis_results = std::mem::take(&mut roster.results);
    let mut changes = diff::diff(&previous.roster, &roster);
    cascade::annotate(&previous.roster, &mut changes);
    cascade::explain_confirmed_removals(&ingested.absences, &mut changes);
    // Each source's gradebook (read only to compare with Classroom) is split off; the rest is
    // what the state keeps of the source, moved there rather than copied.
    let mut sources_for_state = ingested.sources;
    let ingested_absences = ingested.absences;
    let sis_gradebooks: BTreeMap<String, Roster> = sources_for_state
        .iter_mut()
        .map(|(id, source)| (id.clone(), source.take_gradebook()))
        .collect();
    holds.extend(hold::evaluate(
        config,
        &previous.roster,
        &changes,
        &previous.sources,
        &sources_for_state,
    ));

    // Only the Classroom part of the state changes while mapping (adoptions); the rest of the
    // state's change is computed as a delta at the end, never by copying the state.
    let mut classroom = previous.classroom.clone();
    let cross = cross_list::CrossListing::new(
        &config.classroom.cross_list,
        roster.classes.values(),
        |class| previous.classroom.courses.contains_key(class),
    );
    let fresh = fresh_enrolments(&roster, &changes);
    let roster_map = map_roster::map_roster(
        config,
        &roster,
        &mut classroom,
        &map_roster::RunFacts {
            snapshot: &snapshot,
            members_complete: &members_complete,
            fresh: &fresh,
            today,
            complete: previous.enrollment_slice.as_ref().map(|s| &s.classes),
            failures: &previous.failures,
            cross: &cross,
        },
        &mut issues,
    );
    add_counts(&mut skipped, roster_map.skipped);
    holds.extend(roster_map.hold);
    let drift = roster_map.drift;
    let mut drafts = roster_map.ops;
    words::name_people(&[&roster, &previous.roster], &mut drafts);
    if config.classroom.guardians {
        guardians::guardian_ops(&roster, &classroom, &mut drafts, &mut issues);
    }
    let mut adopted = Vec::new();
    if config.mode == SyncMode::TwoWay {
        check_ledger_covers(&previous.exported, &snapshot, &course_work_complete)?;
        roster.line_items = sis_line_items;
        roster.results = sis_results;
        let ctx = map_grades::GradeContext {
            config,
            roster: &roster,
            sources: &sources_for_state,
            sis_gradebooks: &sis_gradebooks,
            known: &classroom,
            exported: &previous.exported,
            ledger: map_grades::Ledger::new(&previous.exported),
            snapshot: &snapshot,
            course_work_complete: &course_work_complete,
            now: &now,
            cross: &cross,
            absences: &ingested_absences,
        };
        let grades = map_grades::map_grades(&ctx, &mut issues);
        holds.extend(gradebook_hold::evaluate(
            config,
            &previous.exported,
            &grades.ops,
        ));
        add_counts(&mut skipped, grades.skipped);
        drafts.extend(grades.ops);
        adopted = grades.adopted;
        roster.line_items.clear();
        roster.results.clear();
    }

    {
        let skipped_index = left_out.index();
        explain::explain_roster(
            &explain::ExplainContext {
                config,
                roster: &roster,
                previous: &previous.roster,
                changes: &changes,
                skipped: &skipped_index,
                today,
                failures: &previous.failures,
                drift: &drift,
                cross: &cross,
            },
            &mut drafts,
        );
    }
    let skipped_records =
        left_out.into_news(&previous.roster, &previous.sources, &sources_for_state);
    let mut ops = build::order(drafts, &previous.failures);
    let mut drift = drift;
    let mut absences = ingested_absences;
    let skip = pause(config, today, &mut holds, &mut issues);
    if skip {
        // Nothing planned and nothing accepted: the state stays as it was, so the first run
        // after the window plans every change made meanwhile.
        ops.clear();
        changes.clear();
        holds.clear();
        drift.clear();
        absences.clear();
    }
    let skipped_records = if skip { Vec::new() } else { skipped_records };
    let issues = build::tidy_issues(issues);
    let summary = build::summarize(
        &previous.roster,
        &roster,
        &changes,
        &ops,
        issues.len(),
        skipped,
    );
    let state_delta = if skip {
        crate::delta::StateDelta {
            base_revision: previous.revision,
            ..crate::delta::StateDelta::default()
        }
    } else {
        build::state_delta(previous, sources_for_state, roster, classroom, adopted)
    };
    // The roster's changes were pushed one by one (up to twice the room they need); a
    // district's first plan keeps hundreds of thousands.
    changes.shrink_to_fit();
    let plan = SyncPlan {
        id: String::new(),
        engine_version: crate::ENGINE_VERSION.to_string(),
        created_at: now.clone(),
        ops,
        holds,
        preview_required: config.preview,
        record_issues: issues,
        roster_changes: changes,
        summary,
        state_delta,
        absences,
        drift,
        skipped_records,
        approval: None,
    };
    Ok((plan, previous_state))
}
