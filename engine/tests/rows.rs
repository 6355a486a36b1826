//! The state as rows: stored whole, read back whole; a commit names only the rows it changes,
//! and laying them over the stored rows gives exactly the state `commit` gives.

mod common;

use std::collections::BTreeMap;

use classbridge_engine::commit_rows::{RowKey, commit_parts};
use classbridge_engine::plan::OpOutcome;
use classbridge_engine::plan_to_commit::PlanToCommit;
use classbridge_engine::rows::{StateChanges, StatePart};
use classbridge_engine::session::StateRow;
use classbridge_engine::{
    SyncPlan, SyncState, commit, commit_changes, commit_from_rows, commit_needs,
};
use common::*;
use serde_json::json;

/// A host's table of rows: (part, source, table, id) -> JSON text, kept in key order.
type Rows = BTreeMap<(StatePart, String, String, String), String>;

fn lay(rows: &mut Rows, changes: &StateChanges) {
    rows.retain(|(part, source, _, _), _| {
        !(*part == StatePart::Sources && changes.removed_sources.contains(source))
    });
    for table in &changes.tables {
        let source = table.source.clone().unwrap_or_default();
        for id in &table.remove {
            rows.remove(&(table.part, source.clone(), table.table.clone(), id.clone()));
        }
        for (id, value) in &table.upsert {
            rows.insert(
                (table.part, source.clone(), table.table.clone(), id.clone()),
                value.json().to_string(),
            );
        }
    }
}

fn read_back(rows: &Rows, revision: u64) -> SyncState {
    let text = StateChanges::nest(
        1,
        revision,
        rows.iter()
            .map(|((p, s, t, id), json)| (*p, s.as_str(), t.as_str(), id.as_str(), json.as_str())),
    );
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn a_state_stored_as_rows_reads_back_whole() {
    let (_, state) = run_clean(&day1());
    let whole = StateChanges::whole(&state).expect("rows");
    let mut rows = Rows::new();
    lay(&mut rows, &whole);
    assert!(rows.len() > 50, "{} rows", rows.len());
    for part in [StatePart::Sources, StatePart::Roster, StatePart::Classroom] {
        assert!(rows.keys().any(|k| k.0 == part), "{part:?} has rows");
    }
    assert_eq!(read_back(&rows, state.revision), state);
    assert_eq!(
        read_back(&Rows::new(), 0),
        SyncState::default(),
        "no rows: the empty state"
    );
}

#[test]
fn a_commit_names_only_the_rows_it_changes_and_they_give_the_committed_state() {
    let (_, before) = run_clean(&day1());
    let mut rows = Rows::new();
    lay(&mut rows, &StateChanges::whole(&before).expect("rows"));

    // A month on: a class renamed, a student dropped, teachers grading.
    let mut v = after_day1("2026-10-01T06:00:00Z");
    edit(&mut v, "classes", "cl1", |c| {
        c["title"] = json!("Algebra I (honors)");
    });
    v["classroom"] = classroom_graded();
    let month = plan(&v);
    let mut outcomes = all_succeeded(&month);
    // One failure, so the failures table changes too.
    if let Some(last) = outcomes.last_mut() {
        last.result = classbridge_engine::plan::OutcomeResult::Failed {
            error: "503 from the stand-in".into(),
        };
    }
    let changes = commit_changes(&before, &month, &outcomes).expect("changes");
    let expected = commit(&before, &month, &outcomes).expect("commit");
    assert_eq!(changes.base_revision, before.revision);
    assert_eq!(changes.revision, expected.revision);
    assert!(
        changes.row_count() < rows.len() / 2,
        "{} rows changed of {}",
        changes.row_count(),
        rows.len()
    );
    assert!(
        changes.tables.iter().any(|t| t.part == StatePart::Failures),
        "{changes:?}"
    );
    lay(&mut rows, &changes);
    assert_eq!(read_back(&rows, changes.revision), expected);

    // Planning again from that state and committing the idle plan changes no row.
    let mut again = v.clone();
    again["previousState"] = serde_json::to_value(&expected).expect("state");
    let idle = plan(&again);
    let idle_changes = commit_changes(&expected, &idle, &all_succeeded(&idle)).expect("changes");
    let only_failure_retried = idle_changes
        .tables
        .iter()
        .all(|t| t.part == StatePart::Failures || t.part == StatePart::Exported);
    assert!(
        idle_changes.is_empty() || only_failure_retried,
        "an idle run touches no roster or Classroom row: {idle_changes:?}"
    );
}

#[test]
fn a_source_that_left_the_config_loses_every_row() {
    let (_, mut before) = run_clean(&day1());
    let copy = before.sources.values().next().cloned().expect("a source");
    before.sources.insert("old-sis".into(), copy);
    let mut rows = Rows::new();
    lay(&mut rows, &StateChanges::whole(&before).expect("rows"));
    let mut after = before.clone();
    after.sources.remove("old-sis");
    after.revision += 1;
    let changes = StateChanges::between(&before, &after).expect("changes");
    assert_eq!(changes.removed_sources, vec!["old-sis".to_string()]);
    assert!(changes.tables.is_empty(), "{changes:?}");
    lay(&mut rows, &changes);
    assert_eq!(read_back(&rows, after.revision), after);
}

/// Commits from only the rows the engine names, as a host keeping rows does, and checks the
/// changes are those found from the whole state, and fewer rows were read than exist.
fn commit_from_named_rows(
    rows: &Rows,
    before: &SyncState,
    plan: &SyncPlan,
    outcomes: &[OpOutcome],
) -> StateChanges {
    let needs = commit_needs(&PlanToCommit::of(plan));
    let named: Vec<StateRow> = needs
        .iter()
        .filter_map(|RowKey(p, s, t, id)| {
            rows.get(&(*p, s.clone(), t.clone(), id.clone()))
                .map(|json| {
                    StateRow(
                        *p,
                        s.clone(),
                        t.clone(),
                        id.clone(),
                        serde_json::from_str(json).unwrap(),
                    )
                })
        })
        .collect();
    let from_rows = commit_from_rows(before.revision, named, &PlanToCommit::of(plan), outcomes)
        .expect("commit from rows");
    let from_whole = commit_changes(before, plan, outcomes).expect("commit from the state");
    assert_eq!(from_rows, from_whole, "the same rows change");
    for max in [1, 2, 7] {
        assert_eq!(
            sorted(commit_in_parts(rows, before, plan, outcomes, max)),
            sorted(from_rows.clone()),
            "committed in parts of {max} roster entries, the same rows change"
        );
    }
    from_rows
}

/// As a host with little memory commits: part by part, each read as the module reads it
/// (a plan in JSON), with the rows it names; their changes put together.
fn commit_in_parts(
    rows: &Rows,
    before: &SyncState,
    plan: &SyncPlan,
    outcomes: &[OpOutcome],
    max: usize,
) -> StateChanges {
    let mut all: Option<StateChanges> = None;
    let mut parts = 0;
    for part in commit_parts(plan, max) {
        parts += 1;
        let part: PlanToCommit =
            serde_json::from_str(&serde_json::to_string(&part).unwrap()).expect("a plan");
        let named: Vec<StateRow> = commit_needs(&part)
            .into_iter()
            .filter_map(|RowKey(p, s, t, id)| {
                let json = rows.get(&(p, s.clone(), t.clone(), id.clone()))?;
                Some(StateRow(p, s, t, id, serde_json::from_str(json).unwrap()))
            })
            .collect();
        let with = if part.ops.is_empty() {
            &[][..]
        } else {
            outcomes
        };
        let changes = commit_from_rows(before.revision, named, &part, with).expect("a part");
        match &mut all {
            None => all = Some(changes),
            Some(all) => all.absorb(changes).expect("parts of one commit"),
        }
    }
    let entries: usize = std::iter::once(&plan.state_delta.roster)
        .chain(plan.state_delta.sources.values())
        .flat_map(classbridge_engine::delta::RosterDelta::table_sizes)
        .map(|(_, n)| n.div_ceil(max))
        .sum();
    assert_eq!(
        parts,
        entries + 1,
        "roster parts of at most {max}, then the rest"
    );
    all.expect("at least the last part")
}

/// Changes in a canonical order: parts may list tables in another order.
fn sorted(mut changes: StateChanges) -> StateChanges {
    changes
        .tables
        .sort_by(|a, b| (a.part, &a.source, &a.table).cmp(&(b.part, &b.source, &b.table)));
    for t in &mut changes.tables {
        t.remove.sort();
    }
    changes.removed_sources.sort();
    changes
}

#[test]
fn a_commit_reads_only_the_rows_it_names_and_changes_what_a_whole_state_commit_does() {
    // A first sync, from nothing.
    let v = day1();
    let first = plan(&v);
    let empty = SyncState::default();
    let mut rows = Rows::new();
    let changes = commit_from_named_rows(&rows, &empty, &first, &all_succeeded(&first));
    lay(&mut rows, &changes);
    let (_, clean) = run_clean(&v);
    assert_eq!(read_back(&rows, changes.revision), clean);

    // A month on, with a rename, grades and one failure: far fewer rows read than exist.
    let mut month = after_day1("2026-10-01T06:00:00Z");
    edit(&mut month, "classes", "cl1", |c| {
        c["title"] = json!("Algebra I (honors)");
    });
    month["classroom"] = classroom_graded();
    let later = plan(&month);
    let mut outcomes = all_succeeded(&later);
    if let Some(last) = outcomes.last_mut() {
        last.result = classbridge_engine::plan::OutcomeResult::Failed {
            error: "503".into(),
        };
    }
    let needs = commit_needs(&PlanToCommit::of(&later));
    assert!(
        needs.len() < rows.len() / 2,
        "{} rows named of {}",
        needs.len(),
        rows.len()
    );
    let changes = commit_from_named_rows(&rows, &clean, &later, &outcomes);
    lay(&mut rows, &changes);
    assert_eq!(
        read_back(&rows, changes.revision),
        commit(&clean, &later, &outcomes).expect("commit")
    );

    // A plan made from another revision is refused, as by `commit`.
    let stale = commit_from_rows(
        clean.revision + 5,
        Vec::new(),
        &PlanToCommit::of(&later),
        &outcomes,
    );
    assert!(stale.is_err());
}

#[test]
fn committing_from_named_rows_matches_on_drops_reconnects_and_removed_classes() {
    let (_, clean) = run_clean(&day1());
    let mut clean_rows = Rows::new();
    lay(&mut clean_rows, &StateChanges::whole(&clean).expect("rows"));
    // A student leaves (members removed, enrollments deleted by cascade).
    let mut dropped = after_day1("2026-09-02T06:00:00Z");
    remove(&mut dropped, "users", "u-s2");
    remove(&mut dropped, "enrollments", "e-s2");
    // A class leaves (its course archived).
    let mut archived = after_day1("2026-09-02T06:00:00Z");
    remove(&mut archived, "classes", "cl3");
    for v in [dropped, archived] {
        let p = plan(&v);
        assert!(!p.ops.is_empty());
        commit_from_named_rows(&clean_rows, &clean, &p, &all_succeeded(&p));
    }
    // A reconnect with a wiped state adopts what Classroom has (the delta's Classroom part).
    let mut reconnect = day1();
    reconnect["classroom"] = classroom_graded();
    reconnect["config"]["mode"] = json!("importOnly");
    let p = plan(&reconnect);
    assert!(
        !p.state_delta.classroom.courses.is_empty(),
        "courses adopted"
    );
    commit_from_named_rows(&Rows::new(), &SyncState::default(), &p, &all_succeeded(&p));
}

#[test]
fn the_removal_grace_is_kept_and_ended_in_rows_as_in_the_whole_state() {
    let mut v = day1();
    v["config"]["classroom"] = json!({ "removalGraceDays": 7 });
    let (_, clean) = run_clean(&v);
    let mut rows = Rows::new();
    lay(&mut rows, &StateChanges::whole(&clean).expect("rows"));
    let on = |state: &SyncState, now: &str| {
        let mut next = v.clone();
        next["previousState"] = serde_json::to_value(state).expect("state");
        next["now"] = json!(now);
        remove(&mut next, "enrollments", "e-s1");
        next
    };
    let grace_rows = |changes: &StateChanges| {
        changes
            .tables
            .iter()
            .find(|t| t.table == "pendingRemovals")
            .map(|t| {
                (
                    t.upsert.keys().cloned().collect::<Vec<_>>(),
                    t.remove.clone(),
                )
            })
    };

    // The student leaves cl1: kept, and the day they left is a row of its own.
    let kept = plan(&on(&clean, "2026-11-05T06:00:00Z"));
    let outcomes = all_succeeded(&kept);
    let changes = commit_from_named_rows(&rows, &clean, &kept, &outcomes);
    assert_eq!(grace_rows(&changes), Some((vec!["cl1".into()], vec![])));
    lay(&mut rows, &changes);
    let state = read_back(&rows, changes.revision);
    assert_eq!(state, commit(&clean, &kept, &outcomes).expect("commit"));

    // The grace is over: the removal's success removes the row.
    let due = plan(&on(&state, "2026-11-12T06:00:00Z"));
    let outcomes = all_succeeded(&due);
    let changes = commit_from_named_rows(&rows, &state, &due, &outcomes);
    assert_eq!(grace_rows(&changes), Some((vec![], vec!["cl1".into()])));
    lay(&mut rows, &changes);
    assert_eq!(
        read_back(&rows, changes.revision),
        commit(&state, &due, &outcomes).expect("commit")
    );
}
