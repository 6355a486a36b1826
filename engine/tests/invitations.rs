//! People outside the domain are invited, not added (issue 18, item 1): a student whose
//! address is outside `classroom.domains`, or whose direct add Classroom refused with
//! `CannotDirectAddUser`, gets an invitation; it is tracked until they show up in the
//! course (accepted) or the SIS drops them (withdrawn), and is never sent twice.

mod common;

use classbridge_engine::SyncPlan;
use classbridge_engine::plan::{Action, MemberRole, OpOutcome, OutcomeResult};
use classbridge_engine::state::SyncState;
use common::*;
use serde_json::{Value, json};

const OUTSIDER: &str = "liam.nguyen@gmail.com";

/// Day 1 with Liam (u-s1, in cl1) at an address outside the district's domains.
fn day1_with_outsider(domains: &[&str]) -> Value {
    let mut v = day1();
    v["config"]["classroom"] = json!({ "domains": domains });
    edit(&mut v, "users", "u-s1", |u| u["email"] = json!(OUTSIDER));
    v
}

fn ops_for<'a>(p: &'a SyncPlan, email: &str) -> Vec<&'a str> {
    p.ops
        .iter()
        .filter(|o| o.person.as_deref() == Some(email))
        .map(|o| o.key.as_str())
        .collect()
}

/// Every operation succeeds; an invitation answers with id `inv-1`.
fn applied(p: &SyncPlan) -> Vec<OpOutcome> {
    let mut outcomes = all_succeeded(p);
    for (o, op) in outcomes.iter_mut().zip(&p.ops) {
        if matches!(op.action, Action::ClassroomInvite { .. }) {
            o.result = OutcomeResult::Succeeded {
                remote_id: Some("inv-1".into()),
            };
        }
    }
    outcomes
}

fn next(v: &Value, state: &SyncState, now: &str) -> Value {
    let mut n = v.clone();
    n["previousState"] = serde_json::to_value(state).expect("state");
    n["now"] = json!(now);
    n
}

/// Classroom lists cl1's course (as its state knows it) with `students`, read whole.
fn cl1_listed(v: &mut Value, state: &SyncState, students: &[&str]) {
    let course = &state.classroom.courses["cl1"];
    let id = course.course_id.clone().expect("course id");
    let member =
        |email: &str| json!({"courseId": id, "userId": email, "profile": {"emailAddress": email}});
    v["classroom"] = json!({
        "courses": [{"courses": [{"id": id, "name": course.name, "courseState": course.course_state}]}],
        "aliases": { id.clone(): [{"aliases": [{"alias": course.alias}]}] },
        "teachers": [{"teachers": [member(&course.owner)]}],
        "students": [{"students": students.iter().map(|s| member(s)).collect::<Vec<_>>()}],
        "membersComplete": [id],
    });
}

#[test]
fn a_student_outside_the_domains_is_invited_once_and_becomes_a_member_on_accepting() {
    let v = day1_with_outsider(&["district.org", "students.district.org"]);
    let first = plan(&v);
    assert_eq!(
        ops_for(&first, OUTSIDER),
        [format!("student.invite:d:cl1:{OUTSIDER}")]
    );
    let invite = first
        .ops
        .iter()
        .find(|o| o.person.as_deref() == Some(OUTSIDER))
        .expect("invitation");
    assert_eq!(
        invite.action,
        Action::ClassroomInvite {
            alias: "d:cl1".into(),
            user_id: OUTSIDER.into(),
            role: MemberRole::Student,
        }
    );
    assert!(
        invite.summary.starts_with("invite student Liam Nguyen")
            && invite.summary.contains("outside the domain"),
        "{}",
        invite.summary
    );
    let create = first
        .ops
        .iter()
        .find(|o| o.key == "course.create:d:cl1")
        .expect("the course is created first");
    assert!(
        invite.depends_on.iter().any(|d| **d == *create.op_id),
        "{:?}",
        invite.depends_on
    );
    // Everyone inside the domains is added directly, as before.
    assert!(first.ops.iter().any(|o| o.key.starts_with("student.add:")));
    let state =
        classbridge_engine::commit(&SyncState::default(), &first, &applied(&first)).expect("c");
    let sent = &state.classroom.invitations["cl1"][OUTSIDER];
    assert_eq!(sent.invitation_id.as_deref(), Some("inv-1"));
    assert!(!state.classroom.students["cl1"].contains(OUTSIDER));

    // Not accepted yet: nothing is sent again.
    let waiting = next(&v, &state, "2026-09-02T06:00:00Z");
    let second = plan(&waiting);
    assert!(ops_for(&second, OUTSIDER).is_empty(), "{:?}", keys(&second));

    // Accepted: the course lists them; they are a member the state knows, nothing is sent.
    let mut joined = waiting.clone();
    let mut listed: Vec<&str> = state.classroom.students["cl1"]
        .iter()
        .map(String::as_str)
        .collect();
    listed.push(OUTSIDER);
    cl1_listed(&mut joined, &state, &listed);
    let third = plan(&joined);
    assert!(ops_for(&third, OUTSIDER).is_empty(), "{:?}", keys(&third));
    let state = classbridge_engine::commit(&state, &third, &applied(&third)).expect("commit");
    assert!(state.classroom.students["cl1"].contains(OUTSIDER));
    assert!(state.classroom.invitations.is_empty());
}

#[test]
fn an_invitation_to_a_student_the_sis_drops_is_withdrawn() {
    let v = day1_with_outsider(&["district.org", "students.district.org"]);
    let first = plan(&v);
    let state =
        classbridge_engine::commit(&SyncState::default(), &first, &applied(&first)).expect("c");
    let mut dropped = next(&v, &state, "2026-09-03T06:00:00Z");
    remove(&mut dropped, "enrollments", "e-s1");
    let second = plan(&dropped);
    assert_eq!(
        ops_for(&second, OUTSIDER),
        [format!("student.uninvite:d:cl1:{OUTSIDER}")]
    );
    let withdraw = second
        .ops
        .iter()
        .find(|o| o.person.as_deref() == Some(OUTSIDER))
        .expect("withdrawal");
    let why = withdraw.why.as_deref().expect("explained");
    assert!(
        why.text()
            .contains("the SIS's enrollment 'e-s1' was removed"),
        "{}",
        why.text()
    );
    assert_eq!(
        withdraw.action,
        Action::ClassroomDeleteInvitation {
            invitation_id: "inv-1".into()
        }
    );
    assert!(
        withdraw
            .summary
            .starts_with("withdraw the invitation of student"),
        "{}",
        withdraw.summary
    );
    let state = classbridge_engine::commit(&state, &second, &applied(&second)).expect("c");
    assert!(state.classroom.invitations.is_empty());
}

#[test]
fn without_domains_a_refused_direct_add_becomes_an_invitation_next_run() {
    let v = day1_with_outsider(&[]);
    let first = plan(&v);
    let add = format!("student.add:d:cl1:{OUTSIDER}");
    assert!(ops_for(&first, OUTSIDER).contains(&add.as_str()));
    let mut outcomes = applied(&first);
    for (o, op) in outcomes.iter_mut().zip(&first.ops) {
        if op.key == add {
            o.result = OutcomeResult::Failed {
                error: "the person cannot be added directly (CannotDirectAddUser): POST /v1/courses/d:cl1/students answered 403".into(),
            };
        }
    }
    let state = classbridge_engine::commit(&SyncState::default(), &first, &outcomes).expect("c");
    let retry = plan(&next(&v, &state, "2026-09-02T06:00:00Z"));
    assert_eq!(
        ops_for(&retry, OUTSIDER),
        [format!("student.invite:d:cl1:{OUTSIDER}")]
    );

    // Another failure (a 503) is simply retried as an add.
    for (o, op) in outcomes.iter_mut().zip(&first.ops) {
        if op.key == add {
            o.result = OutcomeResult::Failed {
                error: "503 Service Unavailable".into(),
            };
        }
    }
    let state = classbridge_engine::commit(&SyncState::default(), &first, &outcomes).expect("c");
    let retry = plan(&next(&v, &state, "2026-09-02T06:00:00Z"));
    assert_eq!(ops_for(&retry, OUTSIDER), [add.as_str()]);
}
