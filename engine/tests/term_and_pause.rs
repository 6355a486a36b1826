//! Term end and pause windows: a class whose terms have ended is archived, never emptied;
//! a run inside a pause window plans nothing and accepts nothing (or waits, by rule), and the
//! first run after it plans what changed meanwhile.

mod common;

use classbridge_engine::SyncPlan;
use classbridge_engine::config::{PauseAction, PauseWindow};
use classbridge_engine::plan::{HoldCode, OpChange, OpEntity};
use common::*;
use serde_json::{Value, json};

/// Day 1 committed; cl1 now runs in the first grading period only (ends 2026-10-31), and the
/// run is on 2026-11-05, after it: the SIS has also dropped cl1's enrolments, as some do at
/// term end.
fn term_over(term_end: &str) -> Value {
    let mut v = after_day1("2026-11-05T06:00:00Z");
    v["config"]["classroom"] = json!({ "termEnd": term_end });
    edit(&mut v, "classes", "cl1", |c| {
        c["terms"] = json!([{"sourcedId": "gp1", "type": "academicSession"}]);
    });
    for page in collections(&mut v)["enrollments"]["pages"]
        .as_array_mut()
        .expect("pages")
    {
        page["enrollments"]
            .as_array_mut()
            .expect("enrollments")
            .retain(|e| e["class"]["sourcedId"] != "cl1");
    }
    v
}

fn course_ops(p: &SyncPlan, class: &str) -> Vec<String> {
    p.ops
        .iter()
        .filter(|o| o.class_id.as_deref() == Some(class))
        .map(|o| format!("{:?} {:?}", o.entity, o.change))
        .collect()
}

#[test]
fn a_class_whose_term_ended_is_archived_not_emptied() {
    let p = plan(&term_over("archive"));
    let ops = course_ops(&p, "cl1");
    assert_eq!(ops, ["Course Archive"], "{:?}", keys(&p));
    let archive = p
        .ops
        .iter()
        .find(|o| o.entity == OpEntity::Course && o.change == OpChange::Archive)
        .expect("archive");
    assert!(
        archive.summary.contains("term ended on 2026-10-31"),
        "{}",
        archive.summary
    );
    // The other classes' terms run on: untouched.
    assert!(course_ops(&p, "cl2").is_empty(), "{:?}", keys(&p));

    // Told to keep, the course follows its enrolments: everyone is removed.
    let kept = plan(&term_over("keep"));
    let ops = course_ops(&kept, "cl1");
    assert!(!ops.iter().any(|o| o.contains("Archive")), "{ops:?}");
    assert!(ops.iter().any(|o| o.contains("Delete")), "{ops:?}");
}

#[test]
fn a_class_that_ended_before_its_course_was_made_gets_none() {
    let mut v = day1();
    v["now"] = json!("2026-11-05T06:00:00Z");
    edit(&mut v, "classes", "cl1", |c| {
        c["terms"] = json!([{"sourcedId": "gp1", "type": "academicSession"}]);
    });
    let p = plan(&v);
    assert!(course_ops(&p, "cl1").is_empty(), "{:?}", keys(&p));
    assert!(!course_ops(&p, "cl2").is_empty());
    assert_eq!(p.summary.skipped.get("class.termEnded"), Some(&1));
}

fn paused(v: &mut Value, from: &str, to: &str, action: &str) {
    v["config"]["pause"] = json!([{ "from": from, "to": to, "action": action }]);
}

#[test]
fn a_run_in_a_pause_window_plans_nothing_and_the_next_one_after_plans_it_all() {
    let mut v = after_day1("2026-12-24T06:00:00Z");
    edit(&mut v, "classes", "cl1", |c| {
        c["title"] = json!("Algebra I (renamed over the break)");
    });
    paused(&mut v, "12-20", "01-05", "skip");
    let during = plan(&v);
    assert!(during.ops.is_empty(), "{:?}", keys(&during));
    assert!(during.roster_changes.is_empty());
    assert!(!during.needs_approval(), "nothing to approve");
    assert!(
        during
            .record_issues
            .iter()
            .any(|i| i.entity == "pause[0]" && i.reason.contains("12-20 to 01-05")),
        "{:?}",
        during.record_issues
    );
    // Committing it changes nothing of the roster: the rename is still news afterwards.
    let previous = input(&v).previous_state;
    let after_pause = classbridge_engine::commit(&previous, &during, &[]).expect("commit");
    assert_eq!(after_pause.roster, previous.roster);
    assert_eq!(after_pause.sources, previous.sources);

    let mut next = v.clone();
    next["previousState"] = serde_json::to_value(&after_pause).expect("state");
    next["now"] = json!("2027-01-06T06:00:00Z");
    let after = plan(&next);
    assert!(
        after
            .ops
            .iter()
            .any(|o| o.entity == OpEntity::Course && o.change == OpChange::Update),
        "{:?}",
        keys(&after)
    );
}

#[test]
fn a_hold_window_plans_as_usual_and_waits() {
    let mut v = after_day1("2026-07-01T06:00:00Z");
    edit(&mut v, "classes", "cl1", |c| {
        c["title"] = json!("Algebra I (summer)");
    });
    paused(&mut v, "2026-06-15", "2026-08-15", "hold");
    let p = plan(&v);
    assert!(!p.ops.is_empty());
    let hold = p
        .holds
        .iter()
        .find(|h| h.code == HoldCode::PauseWindow)
        .expect("held");
    assert!(
        hold.message.contains("2026-06-15 to 2026-08-15"),
        "{}",
        hold.message
    );
}

#[test]
fn windows_are_inclusive_and_may_cross_the_new_year() {
    let w = |from: &str, to: &str| PauseWindow {
        from: from.into(),
        to: to.into(),
        action: PauseAction::Skip,
    };
    let summer = w("06-15", "08-15");
    assert!(summer.contains("2027-06-15") && summer.contains("2027-08-15"));
    assert!(!summer.contains("2027-08-16") && !summer.contains("2027-06-14"));
    let winter = w("12-20", "01-05");
    assert!(winter.contains("2026-12-31") && winter.contains("2027-01-05"));
    assert!(!winter.contains("2027-01-06") && !winter.contains("2026-12-19"));
    let once = w("2026-12-20", "2027-01-05");
    assert!(once.contains("2027-01-01") && !once.contains("2027-12-25"));
}

#[test]
fn a_pause_window_that_is_not_a_date_is_a_config_error() {
    for (from, to, field) in [
        ("13-01", "08-15", "pause[0].from"),
        ("06-15", "06-31", "pause[0].to"),
        ("06-15", "2026-08-15", "pause[0]"),
        ("2026-08-15", "2026-06-15", "pause[0].to"),
    ] {
        let mut v = day1();
        paused(&mut v, from, to, "skip");
        let err = classbridge_engine::plan(input(&v)).expect_err("refused");
        assert!(err.to_string().contains(field), "{from}..{to}: {err}");
    }
}
