//! A record missing from one REST read is not a removal until the SIS confirms it gone
//! (issue 14, item 3): a listing can miss a record that shifted between pages, or a tail the
//! server never served, with no count to tell.

mod common;

use classbridge_engine::config::ChangeKind;
use classbridge_engine::input::CheckOutcome;
use classbridge_engine::model::EntityKind;
use classbridge_engine::plan::{AbsenceStatus, SyncPlan};
use common::*;
use serde_json::json;

fn removed(p: &SyncPlan, entity: EntityKind, id: &str) -> bool {
    p.roster_changes
        .iter()
        .any(|c| c.entity == entity && c.sourced_id == id && c.change == ChangeKind::Delete)
}

fn status_of(p: &SyncPlan, id: &str) -> Option<AbsenceStatus> {
    p.absences
        .iter()
        .find(|a| a.sourced_id == id)
        .map(|a| a.status)
}

#[test]
fn a_student_missing_from_one_listing_is_kept_until_the_sis_is_asked() {
    let mut v = after_day1("2026-09-02T06:00:00Z");
    remove(&mut v, "users", "u-s7");
    let p = plan_once(&v);
    assert!(
        !removed(&p, EntityKind::User, "u-s7"),
        "{:?}",
        p.roster_changes
    );
    assert!(p.ops.iter().all(|o| o.person.as_deref() != Some("u-s7")));
    assert_eq!(status_of(&p, "u-s7"), Some(AbsenceStatus::Unchecked));
    assert_eq!(p.unchecked_absences().count(), 1);
    assert_eq!(p.absences[0].remote_id, "u-s7");
    assert_eq!(p.absences[0].entity, EntityKind::User);
}

#[test]
fn a_student_the_sis_still_has_is_kept_and_the_missed_listing_reported() {
    let mut v = after_day1("2026-09-02T06:00:00Z");
    remove(&mut v, "users", "u-s7");
    let first = plan_once(&v);
    let p = plan_once(&with_checks(&v, &first, CheckOutcome::Present));
    assert!(p.roster_changes.is_empty(), "{:?}", p.roster_changes);
    assert!(p.ops.is_empty());
    assert_eq!(status_of(&p, "u-s7"), Some(AbsenceStatus::StillThere));
    assert_eq!(p.unchecked_absences().count(), 0);
    assert!(
        p.record_issues
            .iter()
            .any(|i| i.sourced_id.as_deref() == Some("u-s7")
                && i.reason.contains("the SIS still has it"))
    );
}

#[test]
fn an_unanswered_check_keeps_the_student() {
    let mut v = after_day1("2026-09-02T06:00:00Z");
    remove(&mut v, "users", "u-s7");
    let first = plan_once(&v);
    let p = plan_once(&with_checks(&v, &first, CheckOutcome::Unknown));
    assert!(p.roster_changes.is_empty(), "{:?}", p.roster_changes);
    assert_eq!(status_of(&p, "u-s7"), Some(AbsenceStatus::Unconfirmed));
    assert!(
        p.record_issues
            .iter()
            .any(|i| i.reason.contains("not confirmed gone"))
    );
}

#[test]
fn a_confirmed_absence_is_a_removal_that_says_how_it_was_confirmed() {
    let mut v = after_day1("2026-09-02T06:00:00Z");
    remove(&mut v, "users", "u-s7");
    let first = plan_once(&v);
    let p = plan_once(&with_checks(&v, &first, CheckOutcome::Gone));
    assert!(removed(&p, EntityKind::User, "u-s7"));
    assert_eq!(status_of(&p, "u-s7"), Some(AbsenceStatus::Confirmed));
    let change = p
        .roster_changes
        .iter()
        .find(|c| c.sourced_id == "u-s7")
        .expect("the removal");
    let cause = change.cause.as_deref().unwrap_or_default();
    assert!(cause.contains("GET /users/u-s7"), "{cause}");
}

#[test]
fn only_the_answered_records_go_when_several_are_missing() {
    let mut v = after_day1("2026-09-02T06:00:00Z");
    remove(&mut v, "users", "u-s7");
    remove(&mut v, "users", "u-s6");
    let first = plan_once(&v);
    assert_eq!(first.unchecked_absences().count(), 2);
    let mut answered = with_checks(&v, &first, CheckOutcome::Gone);
    // The host had no answer for u-s6.
    answered["sources"][0]["removalChecks"]
        .as_array_mut()
        .unwrap()
        .retain(|c| c["sourcedId"] != "u-s6");
    let p = plan_once(&answered);
    assert!(removed(&p, EntityKind::User, "u-s7"));
    assert!(!removed(&p, EntityKind::User, "u-s6"));
    assert_eq!(status_of(&p, "u-s6"), Some(AbsenceStatus::Unchecked));
}

#[test]
fn the_id_to_ask_for_has_no_source_prefix() {
    let mut v = day1();
    v["config"]["sources"][0]["sisIdPrefix"] = json!("north-");
    let (_, state) = run_clean(&v);
    let mut next = v.clone();
    next["previousState"] = serde_json::to_value(&state).unwrap();
    remove(&mut next, "users", "u-s7");
    let p = plan_once(&next);
    let absence = p
        .absences
        .iter()
        .find(|a| a.sourced_id == "north-u-s7")
        .expect("absence under the prefixed id");
    assert_eq!(absence.remote_id, "u-s7");
}

#[test]
fn delta_reads_and_explicit_deletions_need_no_confirmation() {
    let mut v = after_day1("2026-09-02T06:00:00Z");
    edit(&mut v, "users", "u-s7", |u| {
        u["status"] = json!("tobedeleted");
    });
    let p = plan_once(&v);
    assert!(removed(&p, EntityKind::User, "u-s7"));
    assert!(p.absences.is_empty(), "{:?}", p.absences);
}
