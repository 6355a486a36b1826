//! A run whose SIS reads are deltas needs the enrolments of few classes. The engine says
//! which ([`enrollment_needs`]); a state carrying only those (an [`EnrollmentSlice`], cut as
//! the host's contract says) must plan the same operations, holds and roster changes as the
//! whole state, and commit to the same state. Checked over random districts and random
//! changes, natively and through a session; and a slice that misses a class is refused.

use std::collections::{BTreeMap, BTreeSet};

use classbridge_engine::model::Roster;
use classbridge_engine::needs::{EnrollmentAsk, EnrollmentNeeds, NeedsFacts};
use classbridge_engine::plan::{OpOutcome, OutcomeResult};
use classbridge_engine::session::{Chunk, OpsRequest, PlanSession, StateRow, chunks_of};
use classbridge_engine::state::EnrollmentSlice;
use classbridge_engine::{
    SyncInput, SyncPlan, SyncState, config_digest, enrollment_needs, people_at_the_class_limit,
};
use proptest::prelude::*;
use serde_json::{Value, json};

const DAY1: &str = "2026-10-01T06:00:00Z";
const DAY2: &str = "2026-10-08T06:00:00Z";

fn config() -> Value {
    json!({
        "preview": false,
        "sources": [{"id": "district", "version": "1.1", "bulkUpload": true}],
        "uniqueness": [{"entity": "user", "fields": ["email"], "scope": "district", "onDuplicate": "skipAll"}],
    })
}

fn r(kind: &str, id: &str) -> Value {
    json!({"sourcedId": id, "type": kind})
}

/// A district: one school, `classes` classes (a teacher each, a category each), `students`
/// students in three classes each; every tenth student's first enrolment ends on 10-05.
fn district(classes: usize, students: usize) -> BTreeMap<&'static str, Vec<Value>> {
    let m = "2026-08-01T00:00:00Z";
    let mut d: BTreeMap<&'static str, Vec<Value>> = BTreeMap::new();
    d.insert("orgs", vec![json!({"sourcedId": "s1", "status": "active", "dateLastModified": m, "name": "Lincoln High", "type": "school"})]);
    d.insert("academicSessions", vec![json!({"sourcedId": "y1", "status": "active", "dateLastModified": m, "title": "2026-2099", "type": "schoolYear", "startDate": "2026-08-10", "endDate": "2099-06-10", "schoolYear": "2099"})]);
    d.insert("courses", (0..3).map(|c| json!({"sourcedId": format!("c{c}"), "status": "active", "dateLastModified": m, "title": format!("Course {c}"), "org": r("org", "s1")})).collect());
    let mut users = Vec::new();
    let mut enrollments = Vec::new();
    let mut class_rows = Vec::new();
    let mut categories = Vec::new();
    for k in 0..classes {
        class_rows.push(class(k, m));
        categories.push(json!({"sourcedId": format!("cat{k}"), "status": "active", "dateLastModified": m, "title": format!("Homework {k}"), "class": r("class", &format!("cl{k}"))}));
        users.push(user(&format!("t{k}"), "teacher", m));
        enrollments.push(enrollment(
            &format!("e-t{k}"),
            &format!("t{k}"),
            k,
            "teacher",
            None,
            m,
        ));
    }
    for i in 0..students {
        users.push(user(&format!("s{i}"), "student", m));
        for j in 0..3 {
            let end = (i % 10 == 0 && j == 0).then_some("2026-10-05");
            let k = (i + j * 7) % classes;
            enrollments.push(enrollment(
                &format!("e-s{i}-{j}"),
                &format!("s{i}"),
                k,
                "student",
                end,
                m,
            ));
        }
    }
    d.insert("users", users);
    d.insert("classes", class_rows);
    d.insert("enrollments", enrollments);
    d.insert("categories", categories);
    d
}

fn class(k: usize, m: &str) -> Value {
    json!({"sourcedId": format!("cl{k}"), "status": "active", "dateLastModified": m, "title": format!("Class {k}"), "classType": "scheduled", "course": r("course", &format!("c{}", k % 3)), "school": r("org", "s1"), "terms": [r("academicSession", "y1")]})
}

fn user(id: &str, role: &str, m: &str) -> Value {
    json!({"sourcedId": id, "status": "active", "dateLastModified": m, "enabledUser": true, "givenName": id, "familyName": "Doe", "role": role, "email": format!("{id}@district.org"), "username": id, "orgs": [r("org", "s1")]})
}

fn enrollment(id: &str, user: &str, k: usize, role: &str, end: Option<&str>, m: &str) -> Value {
    let mut e = json!({"sourcedId": id, "status": "active", "dateLastModified": m, "role": role, "primary": role == "teacher", "user": r("user", user), "class": r("class", &format!("cl{k}")), "school": r("org", "s1"), "beginDate": "2026-08-10"});
    if let Some(end) = end {
        e["endDate"] = json!(end);
    }
    e
}

fn input(
    collections: &BTreeMap<&'static str, Vec<Value>>,
    mode: &str,
    state: Option<&SyncState>,
    now: &str,
) -> SyncInput {
    let collections: serde_json::Map<String, Value> = collections
        .iter()
        .map(|(name, records)| {
            let pages = if records.is_empty() {
                json!([])
            } else {
                json!([{ *name: records }])
            };
            (name.to_string(), json!({"mode": mode, "pages": pages}))
        })
        .collect();
    let mut v = json!({
        "config": config(),
        "now": now,
        "sources": [{"sourceId": "district", "payload": {"format": "oneRosterJson", "collections": collections}}],
    });
    if let Some(state) = state {
        v["previousState"] = serde_json::to_value(state).expect("state");
    }
    serde_json::from_value(v).expect("input")
}

fn outcomes(plan: &SyncPlan, fail: &dyn Fn(&str) -> bool) -> Vec<OpOutcome> {
    plan.ops
        .iter()
        .map(|op| OpOutcome {
            op_id: op.op_id.clone(),
            result: if fail(&op.key) {
                OutcomeResult::Failed {
                    error: "backend error".into(),
                }
            } else {
                OutcomeResult::Succeeded {
                    remote_id: Some(format!("id-{}", op.op_id)),
                }
            },
        })
        .collect()
}

/// Day 1 planned and applied (one student's add to cl3 failed, so it is retried), as state.
fn day1_state(classes: usize, students: usize) -> SyncState {
    let plan = classbridge_engine::plan(input(&district(classes, students), "full", None, DAY1))
        .expect("day 1");
    let fail = |key: &str| key == "student.add:d:cl3:s3@district.org";
    let state = classbridge_engine::commit(&SyncState::default(), &plan, &outcomes(&plan, &fail))
        .expect("commit");
    assert!(
        state
            .failures
            .contains_key("student.add:d:cl3:s3@district.org")
    );
    state
}

fn facts(input: &SyncInput) -> NeedsFacts {
    NeedsFacts {
        planned_on: Some(DAY1[..10].to_string()),
        config_digest: Some(config_digest(&input.config)),
        left_out: false,
        ..NeedsFacts::default()
    }
}

fn without_enrollments(state: &SyncState) -> SyncState {
    let mut s = state.clone();
    s.roster.enrollments.clear();
    for roster in s.sources.values_mut() {
        roster.enrollments.clear();
    }
    s
}

/// The host's contract: every enrolment of the asked classes, of the classes of the asked
/// people and enrolments, and of the classes with an enrolment whose dates pass.
fn cut(state: &SyncState, ask: &EnrollmentAsk, facts: NeedsFacts) -> SyncState {
    let mut classes = ask.classes.clone();
    let rosters: Vec<&Roster> = std::iter::once(&state.roster)
        .chain(state.sources.values())
        .collect();
    for roster in &rosters {
        for (id, e) in &roster.enrollments {
            let dates = ask
                .dates
                .as_ref()
                .is_some_and(|w| w.passes(e.begin_date.as_deref(), e.end_date.as_deref()));
            if ask.users.contains(e.user.as_str()) || ask.enrollments.contains(id) || dates {
                classes.insert(e.class.to_string());
            }
        }
    }
    let mut s = state.clone();
    let keep = |roster: &mut Roster| {
        roster
            .enrollments
            .retain(|_, e| classes.contains(e.class.as_str()));
    };
    keep(&mut s.roster);
    s.sources.values_mut().for_each(keep);
    s.enrollment_slice = Some(EnrollmentSlice {
        classes,
        roster: state.roster.enrollments.len() as u64,
        sources: state
            .sources
            .iter()
            .map(|(id, r)| (id.clone(), r.enrollments.len() as u64))
            .collect(),
        facts,
    });
    s
}

/// The host's contract when it keeps Classroom's members apart too: the state's teachers,
/// students and topics of the slice's classes only, and who is at the classes-per-person
/// limit (counted from the whole) in the facts.
fn cut_with_members(
    state: &SyncState,
    ask: &EnrollmentAsk,
    facts: NeedsFacts,
    config: &classbridge_engine::SyncConfig,
) -> SyncState {
    let facts = NeedsFacts {
        at_class_limit: Some(people_at_the_class_limit(config, state)),
        ..facts
    };
    let mut s = cut(state, ask, facts);
    let classes = s.enrollment_slice.as_ref().expect("slice").classes.clone();
    let known = &mut s.classroom;
    known.teachers.retain(|c, _| classes.contains(c));
    known.students.retain(|c, _| classes.contains(c));
    known.topics.retain(|c, _| classes.contains(c));
    s
}

/// What a host that keeps Classroom's members apart feeds before the needs call.
fn without_members(state: &SyncState) -> SyncState {
    let mut s = without_enrollments(state);
    s.classroom.teachers.clear();
    s.classroom.students.clear();
    s.classroom.topics.clear();
    s
}

fn ask_of(input: &SyncInput) -> EnrollmentNeeds {
    enrollment_needs(
        &input.config,
        &input.sources,
        &input.classroom,
        &without_enrollments(&input.previous_state),
        &input.now,
        &facts(input),
    )
}

/// What must match: the operations, holds and roster changes, and the preview's counts.
fn essence(plan: &SyncPlan) -> Value {
    json!({
        "ops": plan.ops,
        "holds": plan.holds,
        "rosterChanges": plan.roster_changes,
        "roster": plan.summary.roster,
    })
}

#[derive(Clone, Debug)]
enum Edit {
    AddEnrollment(usize, usize),
    DropEnrollment(usize, usize),
    MoveEnrollment(usize, usize, usize),
    NewEmail(usize),
    DisableUser(usize),
    DeleteUser(usize),
    RenameClass(usize),
    DeleteClass(usize),
    NewClass(usize),
    SameEmailAs(usize, usize),
    NewCategory(usize),
    RenameCourse(usize),
}

fn change() -> impl Strategy<Value = Edit> {
    let (s, k) = (0usize..40, 0usize..12);
    prop_oneof![
        (s.clone(), k.clone()).prop_map(|(i, k)| Edit::AddEnrollment(i, k)),
        (s.clone(), 0usize..3).prop_map(|(i, j)| Edit::DropEnrollment(i, j)),
        (s.clone(), 0usize..3, k.clone()).prop_map(|(i, j, k)| Edit::MoveEnrollment(i, j, k)),
        s.clone().prop_map(Edit::NewEmail),
        s.clone().prop_map(Edit::DisableUser),
        s.clone().prop_map(Edit::DeleteUser),
        k.clone().prop_map(Edit::RenameClass),
        k.clone().prop_map(Edit::DeleteClass),
        (0usize..3).prop_map(Edit::NewClass),
        (s.clone(), s).prop_map(|(a, b)| Edit::SameEmailAs(a, b)),
        k.prop_map(Edit::NewCategory),
        (0usize..3).prop_map(Edit::RenameCourse),
    ]
}

const CLASSES: usize = 12;
const STUDENTS: usize = 40;

/// The delta pages that make these changes to the generated district.
fn delta(changes: &[Edit]) -> BTreeMap<&'static str, Vec<Value>> {
    let m = "2026-10-07T00:00:00Z";
    let base = district(CLASSES, STUDENTS);
    let find = |name: &str, id: &str| base[name].iter().find(|r| r["sourcedId"] == id).cloned();
    let mut out: BTreeMap<&'static str, BTreeMap<String, Value>> = BTreeMap::new();
    for name in base.keys() {
        out.insert(name, BTreeMap::new());
    }
    let mut put = |name: &'static str, record: Value| {
        let id = record["sourcedId"].as_str().unwrap_or_default().to_string();
        out.get_mut(name).expect("collection").insert(id, record);
    };
    let gone = |id: &str| json!({"sourcedId": id, "status": "tobedeleted", "dateLastModified": m});
    for c in changes {
        match *c {
            Edit::AddEnrollment(i, k) => put(
                "enrollments",
                enrollment(
                    &format!("e-new-{i}-{k}"),
                    &format!("s{i}"),
                    k,
                    "student",
                    None,
                    m,
                ),
            ),
            Edit::DropEnrollment(i, j) => put("enrollments", gone(&format!("e-s{i}-{j}"))),
            Edit::MoveEnrollment(i, j, k) => put(
                "enrollments",
                enrollment(
                    &format!("e-s{i}-{j}"),
                    &format!("s{i}"),
                    k,
                    "student",
                    None,
                    m,
                ),
            ),
            Edit::NewEmail(i) => {
                let mut u = find("users", &format!("s{i}")).expect("user");
                u["email"] = json!(format!("s{i}.new@district.org"));
                put("users", u);
            }
            Edit::DisableUser(i) => {
                let mut u = find("users", &format!("s{i}")).expect("user");
                u["enabledUser"] = json!(false);
                put("users", u);
            }
            Edit::DeleteUser(i) => put("users", gone(&format!("s{i}"))),
            Edit::RenameClass(k) => {
                let mut cl = class(k, m);
                cl["title"] = json!(format!("Class {k} (renamed)"));
                put("classes", cl);
            }
            Edit::DeleteClass(k) => put("classes", gone(&format!("cl{k}"))),
            Edit::NewClass(n) => {
                let k = CLASSES + n;
                put("classes", class(k, m));
                put("users", user(&format!("t{k}"), "teacher", m));
                put(
                    "enrollments",
                    enrollment(&format!("e-t{k}"), &format!("t{k}"), k, "teacher", None, m),
                );
                put(
                    "enrollments",
                    enrollment(&format!("e-new-s0-{k}"), "s0", k, "student", None, m),
                );
            }
            Edit::SameEmailAs(a, b) => {
                let mut u = find("users", &format!("s{a}")).expect("user");
                u["email"] = json!(format!("s{b}@district.org"));
                put("users", u);
            }
            Edit::NewCategory(k) => put(
                "categories",
                json!({"sourcedId": format!("cat-new-{k}"), "status": "active", "dateLastModified": m, "title": format!("Quizzes {k}"), "class": r("class", &format!("cl{k}"))}),
            ),
            Edit::RenameCourse(c) => put(
                "courses",
                json!({"sourcedId": format!("c{c}"), "status": "active", "dateLastModified": m, "title": format!("Course {c} (renamed)"), "org": r("org", "s1")}),
            ),
        }
    }
    out.into_iter()
        .map(|(k, v)| (k, v.into_values().collect()))
        .collect()
}

fn commit(state: &SyncState, plan: &SyncPlan) -> SyncState {
    classbridge_engine::commit(state, plan, &outcomes(plan, &|_| false)).expect("commit")
}

/// The whole state and its slice plan alike, and commit alike.
fn check_alike(whole_input: SyncInput) -> Result<Option<usize>, TestCaseError> {
    let state = whole_input.previous_state.clone();
    let EnrollmentNeeds::Slice(ask) = ask_of(&whole_input) else {
        return Ok(None);
    };
    let whole = classbridge_engine::plan(whole_input.clone()).expect("whole plan");
    let mut sliced_input = whole_input.clone();
    sliced_input.previous_state = cut(&state, &ask, facts(&whole_input));
    let fed = sliced_input.previous_state.roster.enrollments.len();
    let sliced = classbridge_engine::plan(sliced_input).expect("sliced plan");
    prop_assert_eq!(essence(&sliced), essence(&whole));
    prop_assert_eq!(commit(&state, &sliced), commit(&state, &whole));
    // Classroom's members kept apart too: asked for from a state without them (who is at
    // the class limit told), fed for the slice's classes only.
    let f = NeedsFacts {
        at_class_limit: Some(people_at_the_class_limit(&whole_input.config, &state)),
        ..facts(&whole_input)
    };
    let asked = enrollment_needs(
        &whole_input.config,
        &whole_input.sources,
        &whole_input.classroom,
        &without_members(&state),
        &whole_input.now,
        &f,
    );
    prop_assert_eq!(&asked, &EnrollmentNeeds::Slice(ask.clone()));
    let mut apart_input = whole_input.clone();
    apart_input.previous_state =
        cut_with_members(&state, &ask, facts(&whole_input), &whole_input.config);
    let apart = classbridge_engine::plan(apart_input).expect("plan with members apart");
    prop_assert_eq!(essence(&apart), essence(&whole));
    prop_assert_eq!(commit(&state, &apart), commit(&state, &whole));
    Ok(Some(fed))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn a_slice_plans_and_commits_as_the_whole_state(changes in proptest::collection::vec(change(), 0..6)) {
        let state = day1_state(CLASSES, STUDENTS);
        let whole_input = input(&delta(&changes), "delta", Some(&state), DAY2);
        let fed = check_alike(whole_input)?;
        // The slice is a slice: some runs need every enrolment, but never a quiet one.
        if changes.is_empty() {
            prop_assert!(fed.is_some_and(|n| n < state.roster.enrollments.len()));
        }
    }
}

#[test]
fn a_quiet_week_needs_the_classes_whose_dates_passed_and_the_failed_one() {
    let state = day1_state(CLASSES, STUDENTS);
    let whole_input = input(&delta(&[]), "delta", Some(&state), DAY2);
    let EnrollmentNeeds::Slice(ask) = ask_of(&whole_input) else {
        panic!("a quiet week is a slice");
    };
    assert_eq!(
        ask.classes,
        BTreeSet::from(["cl3".to_string()]),
        "the failed add's class"
    );
    assert!(ask.users.is_empty() && ask.enrollments.is_empty());
    let window = ask.dates.clone().expect("a week passed");
    assert_eq!(
        (window.after.as_str(), window.through.as_str()),
        ("2026-10-01", "2026-10-08")
    );
    let sliced = cut(&state, &ask, facts(&whole_input));
    // s0, s10, s20, s30 lose their first class on 10-05: cl0, cl10, cl8, cl6.
    let expected: BTreeSet<String> = ["cl0", "cl10", "cl8", "cl6", "cl3"]
        .map(String::from)
        .into();
    assert_eq!(
        sliced.enrollment_slice.as_ref().expect("slice").classes,
        expected
    );
    let whole = classbridge_engine::plan(whole_input.clone()).expect("plan");
    let mut v = whole_input;
    v.previous_state = sliced;
    let plan = classbridge_engine::plan(v).expect("sliced plan");
    assert_eq!(essence(&plan), essence(&whole));
    let keys: Vec<&str> = plan.ops.iter().map(|o| o.key.as_str()).collect();
    assert!(
        keys.contains(&"student.add:d:cl3:s3@district.org"),
        "{keys:?}"
    );
    assert!(
        keys.contains(&"student.remove:d:cl0:s0@district.org"),
        "{keys:?}"
    );
    assert_eq!(
        plan.summary.roster, whole.summary.roster,
        "the preview counts the whole district"
    );
}

#[test]
fn full_reads_first_syncs_and_changed_rules_need_every_enrolment() {
    let state = day1_state(CLASSES, STUDENTS);
    let all = |i: &SyncInput| matches!(ask_of(i), EnrollmentNeeds::All { .. });
    assert!(
        all(&input(&delta(&[]), "full", Some(&state), DAY2)),
        "a full read"
    );
    assert!(
        all(&input(&delta(&[]), "delta", None, DAY2)),
        "a first sync"
    );
    let mut changed = input(&delta(&[]), "delta", Some(&state), DAY2);
    let f = facts(&changed);
    changed.config.preview = true;
    let needs = enrollment_needs(
        &changed.config,
        &changed.sources,
        &changed.classroom,
        &without_enrollments(&state),
        DAY2,
        &f,
    );
    assert!(
        matches!(needs, EnrollmentNeeds::All { ref reason } if reason.contains("rules changed")),
        "{needs:?}"
    );
    let mut org = delta(&[]);
    org.get_mut("orgs").expect("orgs").push(json!({"sourcedId": "s1", "status": "active", "dateLastModified": DAY2, "name": "Lincoln High School", "type": "school"}));
    assert!(
        all(&input(&org, "delta", Some(&state), DAY2)),
        "a school changed"
    );
}

#[test]
fn a_slice_that_misses_a_needed_class_is_refused() {
    let state = day1_state(CLASSES, STUDENTS);
    let whole_input = input(&delta(&[Edit::NewEmail(5)]), "delta", Some(&state), DAY2);
    let EnrollmentNeeds::Slice(mut ask) = ask_of(&whole_input) else {
        panic!("a slice");
    };
    assert!(ask.users.contains("s5"));
    // Cut as a host that forgot the person's classes would.
    ask.users.clear();
    let mut v = whole_input.clone();
    v.previous_state = cut(&state, &ask, facts(&whole_input));
    let err = classbridge_engine::plan(v)
        .expect_err("refused")
        .to_string();
    assert!(err.contains("leaves out") && err.contains("class"), "{err}");
    // A slice cut for other rules is refused too.
    let mut v = whole_input.clone();
    v.previous_state = cut(&state, &EnrollmentAsk::default(), NeedsFacts::default());
    let err = classbridge_engine::plan(v)
        .expect_err("refused")
        .to_string();
    assert!(err.contains("needs every enrolment"), "{err}");
}

/// The session's order: everything but the enrolments (and, as our host does, Classroom's
/// members), ask, feed the slice, finish.
#[test]
fn a_session_asks_for_its_enrolments_and_plans_as_the_whole_state() {
    let state = day1_state(CLASSES, STUDENTS);
    let changes = [
        Edit::NewEmail(4),
        Edit::AddEnrollment(7, 2),
        Edit::DropEnrollment(9, 1),
    ];
    let whole_input = input(&delta(&changes), "delta", Some(&state), DAY2);
    let whole = classbridge_engine::plan(whole_input.clone()).expect("whole plan");
    assert!(!whole.ops.is_empty());
    for members_apart in [false, true] {
        let plan = session_plan(&state, &whole_input, members_apart);
        assert_eq!(
            essence(&plan),
            essence(&whole),
            "members apart: {members_apart}"
        );
    }
}

/// Plans `whole_input` through a session fed as a host would: the state without its
/// enrolments (and without Classroom's members when `members_apart`), then the slice asked for.
fn session_plan(state: &SyncState, whole_input: &SyncInput, members_apart: bool) -> SyncPlan {
    let mut f = facts(whole_input);
    let mut bare = whole_input.clone();
    bare.previous_state = if members_apart {
        f.at_class_limit = Some(people_at_the_class_limit(&whole_input.config, state));
        without_members(state)
    } else {
        without_enrollments(state)
    };
    let (start, chunks) = chunks_of(bare, 50);
    let (mut session, expects) = PlanSession::begin(start).expect("begin");
    assert_eq!(expects.enrollments, "asked");
    assert_eq!(expects.members, "withEnrollments");
    for chunk in chunks {
        session.feed(chunk.expect("chunk")).expect("feed");
    }
    let EnrollmentNeeds::Slice(ask) = session.needs(&f).expect("needs") else {
        panic!("a slice");
    };
    let sliced = if members_apart {
        cut_with_members(state, &ask, f, &whole_input.config)
    } else {
        cut(state, &ask, f)
    };
    let row = |value: Value| classbridge_engine::JsonText::from_value(&value).expect("row");
    let mut rows = Vec::new();
    for (part, source, roster) in std::iter::once((
        classbridge_engine::rows::StatePart::Roster,
        String::new(),
        &sliced.roster,
    ))
    .chain(
        sliced
            .sources
            .iter()
            .map(|(id, r)| (classbridge_engine::rows::StatePart::Sources, id.clone(), r)),
    ) {
        for (id, e) in &roster.enrollments {
            let value = row(serde_json::to_value(e).expect("row"));
            rows.push(StateRow(
                part,
                source.clone(),
                "enrollments".into(),
                id.clone(),
                value,
            ));
        }
    }
    if members_apart {
        let known = &sliced.classroom;
        let classroom = classbridge_engine::rows::StatePart::Classroom;
        for (table, members) in [("teachers", &known.teachers), ("students", &known.students)] {
            for (class, emails) in members {
                let value = row(json!(emails));
                rows.push(StateRow(
                    classroom,
                    String::new(),
                    table.into(),
                    class.clone(),
                    value,
                ));
            }
        }
        for (class, topics) in &known.topics {
            let value = row(serde_json::to_value(topics).expect("topics"));
            rows.push(StateRow(
                classroom,
                String::new(),
                "topics".into(),
                class.clone(),
                value,
            ));
        }
    }
    session.feed(Chunk::StateRows(rows)).expect("rows");
    session
        .feed(Chunk::EnrollmentSlice(
            sliced.enrollment_slice.clone().expect("slice"),
        ))
        .expect("slice");
    let header = session.finish().expect("finish");
    let mut plan = header.plan;
    plan.ops = session
        .ops(OpsRequest {
            from: 0,
            max: usize::MAX,
        })
        .expect("ops")
        .ops;
    plan
}

#[test]
fn classroom_courses_read_and_people_at_the_class_limit_are_asked_for() {
    let state = day1_state(CLASSES, STUDENTS);
    let mut run = input(&delta(&[]), "delta", Some(&state), DAY2);
    let course_id = state.classroom.courses["cl7"]
        .course_id
        .clone()
        .expect("course id");
    run.classroom.members_complete.insert(course_id);
    let EnrollmentNeeds::Slice(ask) = ask_of(&run) else {
        panic!("a slice");
    };
    assert!(
        ask.classes.contains("cl7"),
        "a course read (drift is judged on the whole class)"
    );
    // Every student is in three classes: at a limit of three, who is left out of a new
    // class depends on all of them.
    let mut run = input(&delta(&[]), "delta", Some(&state), DAY2);
    run.config.classroom.limits.classes_per_user = 3;
    let f = NeedsFacts {
        planned_on: Some(DAY1[..10].into()),
        config_digest: Some(config_digest(&run.config)),
        left_out: false,
        ..NeedsFacts::default()
    };
    let needs = enrollment_needs(
        &run.config,
        &run.sources,
        &run.classroom,
        &without_enrollments(&state),
        DAY2,
        &f,
    );
    let EnrollmentNeeds::Slice(ask) = needs else {
        panic!("a slice");
    };
    assert!(
        ask.users.contains("s1") && !ask.users.contains("t1"),
        "{:?}",
        ask.users
    );
    // A host that keeps Classroom's members apart says who is at the limit: the same ask.
    let full = people_at_the_class_limit(&run.config, &state);
    assert!(full.contains("s1@district.org"), "{full:?}");
    let apart = NeedsFacts {
        at_class_limit: Some(full),
        ..f
    };
    let needs = enrollment_needs(
        &run.config,
        &run.sources,
        &run.classroom,
        &without_members(&state),
        DAY2,
        &apart,
    );
    assert_eq!(needs, EnrollmentNeeds::Slice(ask));
}

#[test]
fn students_kept_by_the_removal_grace_have_their_classes_asked_for_until_removed() {
    let graced = |mut i: SyncInput| {
        i.config.classroom.removal_grace_days = 7;
        i
    };
    let state = day1_state(CLASSES, STUDENTS);
    // Day 2: s0, s10, s20 and s30's first enrolments ended on 10-05; the rule keeps them.
    let day2 = graced(input(&delta(&[]), "delta", Some(&state), DAY2));
    let planned = classbridge_engine::plan(day2).expect("day 2");
    assert!(
        !planned
            .ops
            .iter()
            .any(|o| o.key.starts_with("student.remove:")),
        "kept by the grace"
    );
    let state = commit(&state, &planned);
    let kept: BTreeSet<String> = state.classroom.pending_removals.keys().cloned().collect();
    assert_eq!(kept, ["cl0", "cl10", "cl8", "cl6"].map(String::from).into());

    // A quiet day after the grace (a week from the day the run first saw them gone): no
    // record read and no date passed names those classes, yet they are asked for, and the
    // slice removes the students as the whole state does.
    let day3 = "2026-10-15T06:00:00Z";
    let whole_input = graced(input(&delta(&[]), "delta", Some(&state), day3));
    let facts = NeedsFacts {
        planned_on: Some(DAY2[..10].to_string()),
        config_digest: Some(config_digest(&whole_input.config)),
        left_out: false,
        ..NeedsFacts::default()
    };
    let ask = match enrollment_needs(
        &whole_input.config,
        &whole_input.sources,
        &whole_input.classroom,
        &without_enrollments(&state),
        &whole_input.now,
        &facts,
    ) {
        EnrollmentNeeds::Slice(ask) => ask,
        EnrollmentNeeds::All { reason } => panic!("a quiet day is a slice: {reason}"),
    };
    assert!(ask.classes.is_superset(&kept), "{:?}", ask.classes);
    let whole = classbridge_engine::plan(whole_input.clone()).expect("whole");
    let mut sliced = whole_input;
    sliced.previous_state = cut(&state, &ask, facts);
    let sliced = classbridge_engine::plan(sliced).expect("sliced");
    assert_eq!(essence(&sliced), essence(&whole));
    let removed = sliced
        .ops
        .iter()
        .filter(|o| o.key.starts_with("student.remove:"))
        .count();
    assert_eq!(removed, 4);
    assert!(
        commit(&state, &sliced)
            .classroom
            .pending_removals
            .is_empty()
    );
}

#[test]
fn cross_listed_sections_need_every_enrolment() {
    let state = day1_state(CLASSES, STUDENTS);
    let mut quiet = input(&delta(&[]), "delta", Some(&state), DAY2);
    quiet.config.classroom.cross_list = vec![classbridge_engine::config::CrossListRule {
        classes: vec!["cl0".into(), "cl1".into()],
        same: Vec::new(),
    }];
    match ask_of(&quiet) {
        EnrollmentNeeds::All { reason } => assert!(reason.contains("cross-listed"), "{reason}"),
        EnrollmentNeeds::Slice(ask) => panic!("a slice cannot see a merged course whole: {ask:?}"),
    }
}
