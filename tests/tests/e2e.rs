//! End to end: the real `classbridge` binary against the stand-ins on loopback.

mod support;

use std::sync::atomic::Ordering;

use classbridge_tests::district::Size;
use serde_json::json;
use support::{CLASSROOM_TOKEN, Harness, SIS_SECRET, contains};

const HELD: i32 = 4;
const CONNECTION: i32 = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_cycle_then_a_second_sync_writes_nothing() {
    let h = Harness::start(Size::Tiny, "").await;
    let check = h.cli(&["check"]).await;
    assert_eq!(check.code, 0, "{}{}", check.stdout, check.stderr);
    assert!(check.stdout.contains("source riverside") && check.stdout.contains("classroom"));

    let first = h.cli(&["sync", "--json"]).await;
    assert_eq!(first.code, 0, "{}{}", first.stdout, first.stderr);
    let classes = h.sis.with_district(|d| d.classes.len());
    let (courses, dup_aliases, members, topics) = h.classroom_shape();
    assert_eq!(courses, classes);
    assert_eq!(dup_aliases, 0);
    assert_eq!(members, 210, "10 teachers and 200 student seats");
    assert_eq!(
        topics,
        classes * 3,
        "three categories become topics in every course"
    );

    // Teachers grade: one graded, one late, one draft only, one excused.
    let alias = h
        .classroom
        .world(|w| w.courses.values().next().map(|c| c.aliases[0].clone()))
        .unwrap();
    let students: Vec<String> = h.classroom.student_ids(&alias);
    let cw = h
        .classroom
        .post_work(&alias, "Lab report", Some(50.0), Some("Homework"))
        .unwrap();
    h.classroom
        .grade(&cw, &students[0], Some(45.0), None, false, "RETURNED");
    h.classroom
        .grade(&cw, &students[1], Some(30.0), None, true, "RETURNED");
    h.classroom
        .grade(&cw, &students[2], None, Some(40.0), false, "TURNED_IN");
    h.classroom
        .grade(&cw, &students[3], None, None, false, "RETURNED");
    let grades = h.cli(&["sync"]).await;
    assert_eq!(grades.code, 0, "{}{}", grades.stdout, grades.stderr);
    let line_items = h.sis.gradebook("lineItems");
    assert_eq!(line_items.len(), 1);
    assert_eq!(line_items[0]["title"], "Lab report");
    assert_eq!(line_items[0]["category"]["sourcedId"], "cat-hw");
    let results = h.sis.gradebook("results");
    let score_of = |email: &str| {
        let n: usize = email
            .trim_start_matches('s')
            .split('@')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        results
            .iter()
            .find(|r| r["student"]["sourcedId"] == format!("s{n}"))
            .cloned()
    };
    assert_eq!(score_of(&students[0]).unwrap()["score"], json!(45.0));
    assert_eq!(
        score_of(&students[0]).unwrap()["scoreStatus"],
        "fully graded"
    );
    assert!(
        score_of(&students[2]).is_none_or(|r| r["score"] != json!(40.0)),
        "draft grades are never exported"
    );
    assert_eq!(score_of(&students[3]).unwrap()["scoreStatus"], "exempt");

    let writes = (h.sis.writes(), h.classroom.writes());
    h.classroom.state.clear_log();
    let idle = h.cli(&["sync", "--json"]).await;
    assert_eq!(idle.code, 0, "{}{}", idle.stdout, idle.stderr);
    assert_eq!(idle.json()["status"], "noChanges");
    assert_eq!(
        (h.sis.writes(), h.classroom.writes()),
        writes,
        "an unchanged district writes nothing"
    );
    // Each managed course is read by the id the state holds, one call per list: no listing
    // of the domain's courses, no alias listing, no lookup by alias.
    let per_course = |n: u64| {
        [
            "classroom.courses.get",
            "classroom.courses.teachers.list",
            "classroom.courses.students.list",
            "classroom.courses.topics.list",
            "classroom.courses.courseWork.list",
            "classroom.courses.courseWork.studentSubmissions.list",
        ]
        .into_iter()
        .map(|m| (m.to_string(), n))
        .collect::<std::collections::BTreeMap<_, _>>()
    };
    assert_eq!(
        h.classroom.state.calls_by_method(),
        per_course(classes as u64),
        "an idle sync costs six Classroom requests per managed course"
    );

    let runs = h.cli(&["runs"]).await;
    assert!(
        runs.stdout.contains("applied") && runs.stdout.contains("noChanges"),
        "{}",
        runs.stdout
    );
    let show = h.cli(&["runs", "show", "1"]).await;
    assert_eq!(show.code, 0);
    assert!(show.stdout.contains("Operations:"), "{}", show.stdout);

    // Secrets never reach output or the state folder.
    let state = h.state_bytes();
    assert!(!state.is_empty());
    for secret in [SIS_SECRET, CLASSROOM_TOKEN] {
        assert!(!contains(&state, secret), "secret in the state folder");
        for out in [&check, &first, &grades, &idle, &runs, &show] {
            assert!(!out.stdout.contains(secret) && !out.stderr.contains(secret));
        }
    }
}

/// A student the SIS drops from a class while their work is regraded in Classroom: the strict
/// stand-in SIS refuses a result for a student not enrolled in the class (422), so the engine
/// must hold that grade back in words; the drop and the other grades go through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_student_dropped_while_regraded_gets_no_result_and_the_run_succeeds() {
    let h = Harness::start(Size::Tiny, "").await;
    assert_eq!(h.cli(&["sync"]).await.code, 0);
    let alias = "d:cl0";
    let students = h.classroom.student_ids(alias);
    let cw = h
        .classroom
        .post_work(alias, "Lab report", Some(50.0), Some("Homework"))
        .unwrap();
    let (leaving, staying) = (&students[0], &students[1]);
    h.classroom
        .grade(&cw, leaving, Some(45.0), None, false, "RETURNED");
    h.classroom
        .grade(&cw, staying, Some(30.0), None, false, "RETURNED");
    sync_ok(&h, &["sync"]).await;
    let sis_id = |email: &str| email.split('@').next().unwrap().to_string();
    let score_of = |email: &str| {
        h.sis
            .gradebook("results")
            .into_iter()
            .find(|r| r["student"]["sourcedId"] == sis_id(email))
            .map(|r| r["score"].clone())
    };
    assert_eq!(score_of(leaving), Some(json!(45.0)));

    h.sis.with_district(|d| {
        d.enrollments.retain(|e| {
            !(e["user"]["sourcedId"] == sis_id(leaving) && e["class"]["sourcedId"] == "cl0")
        });
    });
    h.classroom
        .grade(&cw, leaving, Some(40.0), None, false, "RETURNED");
    h.classroom
        .grade(&cw, staying, Some(35.0), None, false, "RETURNED");
    let run = h.cli(&["sync"]).await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains(&format!(
            "student '{}' is not enrolled in class 'cl0'",
            sis_id(leaving)
        )),
        "{}",
        run.stdout
    );
    assert_eq!(
        score_of(leaving),
        Some(json!(45.0)),
        "not sent, not refused"
    );
    assert_eq!(score_of(staying), Some(json!(35.0)));
    assert!(
        !h.classroom.student_ids(alias).contains(leaving),
        "the drop is applied"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sis_changes_propagate() {
    let h = Harness::start(Size::Tiny, "").await;
    assert_eq!(h.cli(&["sync"]).await.code, 0);
    let dropped = "s3";
    h.sis.with_district(|d| {
        d.classes[0]["title"] = json!("Algebra 0 (honors)");
        d.users.push(json!({"sourcedId": "s999", "status": "active", "dateLastModified": "2026-09-05T00:00:00Z",
            "enabledUser": true, "username": "s999", "givenName": "New", "familyName": "Student", "role": "student",
            "email": "s999@students.district.example", "orgs": [{"sourcedId": "sch0", "type": "org"}]}));
        d.enrollments.push(json!({"sourcedId": "e-new", "status": "active", "dateLastModified": "2026-09-05T00:00:00Z",
            "role": "student", "user": {"sourcedId": "s999", "type": "user"}, "class": {"sourcedId": "cl0", "type": "class"},
            "school": {"sourcedId": "sch0", "type": "org"}}));
        d.users.retain(|u| u["sourcedId"] != dropped);
    });
    let run = h.cli(&["sync"]).await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let course = h.classroom.course_by_alias("d:cl0").unwrap();
    assert_eq!(course.body["name"], "Algebra 0 (honors)");
    assert!(
        course
            .students
            .contains_key("s999@students.district.example")
    );
    let still_there = h.classroom.world(|w| {
        w.courses
            .values()
            .filter(|c| c.students.contains_key("s3@students.district.example"))
            .count()
    });
    assert_eq!(
        still_there, 0,
        "a dropped student's enrollments are removed everywhere"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_user_list_is_held_and_nothing_is_deleted_until_approved() {
    let h = Harness::start(Size::Tiny, "").await;
    assert_eq!(h.cli(&["sync"]).await.code, 0);
    let before = h.classroom_shape();
    h.sis.with_district(|d| d.users.clear());
    let held = h.cli(&["sync", "--yes", "--json"]).await;
    assert_eq!(held.code, HELD, "{}{}", held.stdout, held.stderr);
    let report = held.json();
    assert_eq!(report["status"], "pending");
    assert!(
        report["plan"]["holds"]
            .as_array()
            .is_some_and(|h| !h.is_empty())
    );
    assert_eq!(h.classroom_shape(), before, "nothing deleted while held");

    let run = report["run"].as_i64().unwrap().to_string();
    let approved = h.cli(&["approve", &run]).await;
    assert_eq!(approved.code, 0, "{}{}", approved.stdout, approved.stderr);
    let (_, _, members, _) = h.classroom_shape();
    assert!(members < before.2, "approved removals applied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_page_aborts_the_run_and_deletes_nothing() {
    let h = Harness::start(Size::Tiny, "").await;
    assert_eq!(h.cli(&["sync"]).await.code, 0);
    let before = h.classroom_shape();
    h.sis
        .state
        .faults
        .truncate_after_first_page
        .store(true, Ordering::SeqCst);
    // A full read: a delta read of an unchanged district is one empty page, with nothing to cut.
    let run = h.cli(&["sync", "--full"]).await;
    assert_eq!(run.code, CONNECTION, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("could not be read completely"),
        "{}",
        run.stderr
    );
    assert_eq!(h.classroom_shape(), before);

    h.sis
        .state
        .faults
        .truncate_after_first_page
        .store(false, Ordering::SeqCst);
    h.sis
        .state
        .faults
        .missing_envelope
        .store(true, Ordering::SeqCst);
    let run = h.cli(&["sync"]).await;
    assert_eq!(run.code, CONNECTION, "{}", run.stderr);
    assert!(run.stderr.contains("envelope"), "{}", run.stderr);
    assert_eq!(h.classroom_shape(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_limit_cap_is_paged_through() {
    let h = Harness::start(Size::Tiny, "").await;
    // The server returns at most 7 records per page and no count header.
    h.sis
        .state
        .faults
        .silent_limit_cap
        .store(7, Ordering::SeqCst);
    let run = h.cli(&["sync"]).await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(h.classroom_shape().2, 210);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_storm_and_5xx_burst_complete_without_duplicates() {
    let h = Harness::start(Size::Tiny, "").await;
    h.classroom
        .state
        .faults
        .rate_limited
        .store(40, Ordering::SeqCst);
    h.classroom
        .state
        .faults
        .server_errors
        .store(6, Ordering::SeqCst);
    h.sis.state.faults.server_errors.store(3, Ordering::SeqCst);
    let run = h.cli(&["sync"]).await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let (courses, dup, members, topics) = h.classroom_shape();
    assert_eq!((courses, dup, members, topics), (10, 0, 210, 30));
    assert!(h.classroom.state.throttled.load(Ordering::SeqCst) >= 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnecting_with_a_wiped_state_makes_no_duplicates() {
    let h = Harness::start(Size::Tiny, "").await;
    assert_eq!(h.cli(&["sync"]).await.code, 0);
    let alias = "d:cl1";
    let students: Vec<String> = h.classroom.student_ids(alias);
    let cw = h
        .classroom
        .post_work(alias, "Quiz", Some(10.0), None)
        .unwrap();
    h.classroom
        .grade(&cw, &students[0], Some(9.0), None, false, "RETURNED");
    assert_eq!(h.cli(&["sync"]).await.code, 0);
    let shape = h.classroom_shape();
    let gradebook = (h.sis.gradebook("lineItems"), h.sis.gradebook("results"));

    std::fs::remove_dir_all(h.state_dir()).unwrap();
    h.classroom.state.clear_log();
    let again = h.cli(&["sync"]).await;
    assert_eq!(again.code, 0, "{}{}", again.stdout, again.stderr);
    // The new state knows no course: each is looked up by its alias and read whole, so its
    // members are adopted, not added again.
    let calls = h.classroom.state.calls_by_method();
    let count = |m: &str| calls.get(m).copied().unwrap_or(0);
    assert_eq!(count("classroom.courses.get"), shape.0 as u64, "{calls:?}");
    assert_eq!(count("classroom.courses.create"), 0, "{calls:?}");
    assert_eq!(count("classroom.courses.students.create"), 0, "{calls:?}");
    assert_eq!(count("classroom.courses.teachers.create"), 0, "{calls:?}");
    assert_eq!(count("classroom.courses.aliases.list"), 0, "{calls:?}");
    assert_eq!(
        h.classroom_shape(),
        shape,
        "courses, members and topics adopted, not duplicated"
    );
    assert_eq!(h.sis.gradebook("lineItems").len(), gradebook.0.len());
    assert_eq!(h.sis.gradebook("results").len(), gradebook.1.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_fail_check_with_a_clear_message() {
    let h = Harness::start(Size::Tiny, "").await;
    std::fs::write(h.dir.path().join("sis.secret"), "not-the-secret").unwrap();
    let check = h.cli(&["check"]).await;
    assert_eq!(check.code, CONNECTION, "{}{}", check.stdout, check.stderr);
    assert!(check.stdout.contains("401"), "{}", check.stdout);
    assert!(!check.stdout.contains("not-the-secret"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preview_mode_waits_and_a_rejected_course_drops_its_members() {
    let h = Harness::start(Size::Tiny, "preview = true").await;
    let pending = h.cli(&["sync", "--json"]).await;
    assert_eq!(pending.code, HELD, "{}", pending.stderr);
    assert_eq!(h.course_count(), 0, "nothing applies before approval");
    let report = pending.json();
    let course_op = report["plan"]["ops"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["entity"] == "course" && o["change"] == "create")
        .unwrap()["opId"]
        .as_str()
        .unwrap()
        .to_string();
    let run = report["run"].as_i64().unwrap().to_string();
    let approved = h.cli(&["approve", &run, "--reject", &course_op]).await;
    assert_eq!(approved.code, 0, "{}{}", approved.stdout, approved.stderr);
    let (courses, _, members, _) = h.classroom_shape();
    assert_eq!(courses, 9);
    assert!(members < 210);
    let again = h.cli(&["approve", &run]).await;
    assert_ne!(again.code, 0, "a run is approved once");
    // The rejected course is planned again (a rejection is for that run only)...
    let retry = h.cli(&["sync", "--json"]).await;
    assert_eq!(retry.code, HELD, "{}", retry.stderr);
    let retry_run = retry.json()["run"].as_i64().unwrap().to_string();
    assert_eq!(h.cli(&["approve", &retry_run]).await.code, 0);
    // ...and once everything is applied, a preview-mode run with nothing to do closes as
    // "no changes" without asking for an approval of nothing.
    let idle = h.cli(&["sync", "--json"]).await;
    assert_eq!(idle.code, 0, "{}{}", idle.stdout, idle.stderr);
    assert_eq!(idle.json()["status"], "noChanges", "{}", idle.stdout);
}

/// Rewrites a stored plan as an older engine version wrote it (a whole `baseState` instead of
/// a `stateDelta`) and sets the run's status.
fn make_plan_legacy(h: &Harness, run: i64, status: &str) {
    let db = rusqlite::Connection::open(h.state_dir().join("classbridge.db")).expect("state db");
    let plan = support::stored_document(&db, "SELECT body FROM run_plans WHERE run = ?1", [run]);
    let mut plan: serde_json::Value = serde_json::from_str(&plan).expect("plan JSON");
    let object = plan.as_object_mut().expect("plan object");
    object
        .remove("stateDelta")
        .expect("a current plan has a state delta");
    object.insert("baseState".into(), json!({"revision": 0}));
    db.execute(
        "UPDATE run_plans SET body = ?1 WHERE run = ?2",
        rusqlite::params![plan.to_string(), run],
    )
    .expect("rewrite plan");
    // An older version kept no outline or change rows either.
    db.execute(
        "UPDATE runs SET status = ?1, outline = NULL WHERE id = ?2",
        rusqlite::params![status, run],
    )
    .expect("set status");
    db.execute("DELETE FROM run_ops WHERE run = ?1", [run])
        .expect("drop change rows");
}

fn run_status(h: &Harness, run: i64) -> String {
    let db = rusqlite::Connection::open(h.state_dir().join("classbridge.db")).expect("state db");
    db.query_row("SELECT status FROM runs WHERE id = ?1", [run], |r| r.get(0))
        .expect("run row")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plans_stored_by_an_older_engine_are_set_aside_not_fatal() {
    let h = Harness::start(Size::Tiny, "preview = true").await;
    let pending = h.cli(&["sync", "--json"]).await;
    assert_eq!(pending.code, HELD, "{}", pending.stderr);
    let run = pending.json()["run"].as_i64().unwrap();
    make_plan_legacy(&h, run, "pending");
    let approved = h.cli(&["approve", &run.to_string()]).await;
    assert_ne!(approved.code, 0);
    assert!(
        approved
            .stderr
            .contains("cannot be read by this engine version")
            && approved.stderr.contains("sync"),
        "{}",
        approved.stderr
    );
    assert_eq!(run_status(&h, run), "superseded");
    assert_eq!(h.course_count(), 0, "nothing applied");

    // A run that was applying when an older version stopped: the next sync goes on.
    let second = h.cli(&["sync", "--json"]).await;
    assert_eq!(second.code, HELD, "{}", second.stderr);
    let second_run = second.json()["run"].as_i64().unwrap();
    make_plan_legacy(&h, second_run, "applying");
    let third = h.cli(&["sync", "--json"]).await;
    assert_eq!(third.code, HELD, "{}", third.stderr);
    assert_eq!(run_status(&h, second_run), "interrupted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_emails_are_reported_by_the_uniqueness_domain() {
    let h = Harness::start(Size::Tiny, "").await;
    h.sis.with_district(|d| {
        let mut twin = d.users[5].clone();
        twin["sourcedId"] = json!("dup-1");
        d.users.push(twin);
    });
    let plan = h.cli(&["plan", "--json"]).await;
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let issues = plan.json()["plan"]["recordIssues"].to_string();
    assert!(issues.contains("dup-1"), "{issues}");
    assert_eq!(h.course_count(), 0, "plan changes nothing");
}

/// The host's config with a change feed on the stand-in's Pub/Sub subscription.
fn with_change_feed(h: &Harness) {
    let base = h.classroom.base_url();
    h.edit_config(|c| {
        format!(
            "{c}\n[classroom.change_feed]\ntopic = \"{}\"\nsubscription = \"{}\"\npubsub_base_url = \"{base}\"\n",
            classbridge_tests::change_feed::TOPIC,
            classbridge_tests::change_feed::SUBSCRIPTION,
        )
    });
}

fn calls(h: &Harness, method: &str) -> u64 {
    h.classroom
        .state
        .calls_by_method()
        .get(method)
        .copied()
        .unwrap_or(0)
}

async fn sync_ok(h: &Harness, args: &[&str]) {
    let run = h.cli(args).await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_feed_rereads_only_notified_courses_and_reconciliation_catches_a_missed_one() {
    let h = Harness::start(Size::Tiny, "").await;
    with_change_feed(&h);
    let classes = h.sis.with_district(|d| d.classes.len()) as u64;
    sync_ok(&h, &["sync"]).await;
    // The second run registers each new course's work feed and reads those courses.
    sync_ok(&h, &["sync"]).await;
    assert_eq!(
        h.classroom.feed(|f| f.registrations.len()) as u64,
        classes + 1,
        "the domain's roster feed and each course's work feed"
    );

    // A teacher grades in one course: only that course is read again.
    let quiz_students = h.classroom.student_ids("d:cl1");
    let quiz = h
        .classroom
        .post_work("d:cl1", "Quiz", Some(10.0), None)
        .unwrap();
    h.classroom
        .grade(&quiz, &quiz_students[0], Some(8.0), None, false, "RETURNED");
    h.classroom.state.clear_log();
    sync_ok(&h, &["sync"]).await;
    assert_eq!(calls(&h, "classroom.courses.get"), 1);
    assert_eq!(calls(&h, "classroom.courses.courseWork.list"), 1);
    assert_eq!(
        calls(&h, "classroom.registrations.create"),
        0,
        "registrations far from expiry are left alone"
    );
    assert!(calls(&h, "pubsub.projects.subscriptions.acknowledge") >= 1);
    assert_eq!(h.sis.gradebook("lineItems").len(), 1);
    assert_eq!(h.classroom.feed(|f| f.undelivered()), 0, "all acknowledged");

    // A notification that never arrives: the next run does not see the change...
    h.classroom.feed(|f| f.drop_notifications = true);
    let students = h.classroom.student_ids("d:cl2");
    let cw = h
        .classroom
        .post_work("d:cl2", "Essay", Some(20.0), None)
        .unwrap();
    h.classroom
        .grade(&cw, &students[0], Some(15.0), None, false, "RETURNED");
    h.classroom.state.clear_log();
    sync_ok(&h, &["sync"]).await;
    assert_eq!(
        calls(&h, "classroom.courses.get"),
        0,
        "nothing was notified"
    );
    assert_eq!(h.sis.gradebook("lineItems").len(), 1);
    // ...and the reconciliation, due weekly or asked for, reads every course and finds it.
    h.classroom.state.clear_log();
    sync_ok(&h, &["sync", "--full"]).await;
    assert_eq!(calls(&h, "classroom.courses.get"), classes);
    assert_eq!(h.sis.gradebook("lineItems").len(), 2);

    // A regrade in the first course: the run reads that course's export ledger from the
    // state, not the other course's, and plans the one changed result.
    h.classroom.feed(|f| f.drop_notifications = false);
    h.classroom
        .grade(&quiz, &quiz_students[0], Some(9.0), None, false, "RETURNED");
    let preview = h.cli(&["plan", "--json"]).await;
    assert_eq!(preview.code, 0, "{}", preview.stderr);
    let puts: Vec<String> = preview.json()["plan"]["ops"]
        .as_array()
        .expect("ops")
        .iter()
        .map(|o| format!("{} {}", o["entity"], o["change"]))
        .collect();
    assert_eq!(puts, ["\"result\" \"update\""], "{puts:?}");
    let input = h.stored_input();
    let ledger = &input["previousState"]["exported"];
    assert_eq!(
        ledger["lineItems"].as_object().map(serde_json::Map::len),
        Some(1),
        "{ledger}"
    );
    let line_item = ledger["lineItems"]
        .as_object()
        .and_then(|m| m.keys().next())
        .expect("the read course's lineItem")
        .clone();
    let results = ledger["results"].as_object().expect("results");
    assert!(
        results.values().all(|r| r["parent"] == line_item.as_str()),
        "only the read course's results: {ledger}"
    );
    let in_sis = h.sis.gradebook("results").len();
    assert!(results.len() < in_sis, "{} of {in_sis}", results.len());
    assert_eq!(ledger["slice"]["lineItems"], 2, "{ledger}");
    assert_eq!(ledger["slice"]["results"], in_sis, "{ledger}");
    assert_eq!(
        ledger["slice"]["courses"].as_array().map(Vec::len),
        Some(1),
        "{ledger}"
    );
    // And the enrolments of that course's class only, with the whole's count.
    let state = &input["previousState"];
    let slice = &state["enrollmentSlice"];
    assert_eq!(
        slice["classes"].as_array().map(Vec::len),
        Some(1),
        "{slice}"
    );
    let class_id = slice["classes"][0].clone();
    let fed = state["roster"]["enrollments"]
        .as_object()
        .expect("enrolments");
    assert!(
        !fed.is_empty() && fed.values().all(|e| e["class"] == class_id),
        "{class_id}: {fed:?}"
    );
    let db = rusqlite::Connection::open(h.state_dir().join("classbridge.db")).expect("state db");
    let all: u64 = db
        .query_row(
            "SELECT COUNT(*) FROM state_rows WHERE part = 'roster' AND tbl = 'enrollments'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert!((fed.len() as u64) < all, "{} of {all}", fed.len());
    assert_eq!(slice["roster"], all, "{slice}");
    // Classroom's members likewise: that class's, read with its enrolments.
    for role in ["teachers", "students"] {
        let members = state["classroom"][role].as_object().expect(role);
        let classes: Vec<&String> = members.keys().collect();
        assert_eq!(
            classes,
            [class_id.as_str().expect("id")],
            "{role}: {members:?}"
        );
        assert!(
            members
                .values()
                .all(|m| m.as_array().is_some_and(|m| !m.is_empty())),
            "{role}: {members:?}"
        );
    }
}

/// Runs `args`, which must leave one run waiting for approval, and approves it.
async fn sync_and_approve(h: &Harness, args: &[&str]) {
    let run = h.cli(args).await;
    assert_eq!(
        run.code, 4,
        "preview mode waits: {}{}",
        run.stdout, run.stderr
    );
    let id = run.json()["run"].to_string();
    let approved = h.cli(&["approve", &id]).await;
    assert_eq!(approved.code, 0, "{}{}", approved.stdout, approved.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_preview_mode_an_approval_settles_the_courses_its_run_read_and_no_later_note() {
    let h = Harness::start(Size::Tiny, "preview = true").await;
    with_change_feed(&h);
    sync_and_approve(&h, &["sync", "--json"]).await;
    // The second run registers each course's work feed; it has nothing to apply.
    sync_ok(&h, &["sync"]).await;

    // A teacher grades in one course; the run that exports it waits, then is approved.
    let students = h.classroom.student_ids("d:cl1");
    let quiz = h
        .classroom
        .post_work("d:cl1", "Quiz", Some(10.0), None)
        .unwrap();
    h.classroom
        .grade(&quiz, &students[0], Some(8.0), None, false, "RETURNED");
    sync_and_approve(&h, &["sync", "--json"]).await;
    assert_eq!(h.sis.gradebook("lineItems").len(), 1);
    // The approval committed that read: an idle run reads no course (it used to read the
    // notified course again at every run, forever, in preview mode).
    h.classroom.state.clear_log();
    sync_ok(&h, &["sync"]).await;
    assert_eq!(
        calls(&h, "classroom.courses.get"),
        0,
        "nothing is owed a read"
    );

    // Regraded: the run reads the course and waits. Meanwhile another student is graded and
    // a preview pulls that note. Approving the first run must not settle the later note.
    h.classroom
        .grade(&quiz, &students[0], Some(9.0), None, false, "RETURNED");
    let pending = h.cli(&["sync", "--json"]).await;
    assert_eq!(pending.code, 4, "{}{}", pending.stdout, pending.stderr);
    let first = pending.json()["run"].to_string();
    h.classroom
        .grade(&quiz, &students[1], Some(7.0), None, false, "RETURNED");
    let peek = h.cli(&["plan"]).await;
    assert_eq!(peek.code, 0, "{}", peek.stderr);
    let approved = h.cli(&["approve", &first]).await;
    assert_eq!(approved.code, 0, "{}{}", approved.stdout, approved.stderr);
    h.classroom.state.clear_log();
    let next = h.cli(&["plan", "--json"]).await;
    assert_eq!(next.code, 0, "{}", next.stderr);
    assert_eq!(
        calls(&h, "classroom.courses.get"),
        1,
        "the course noted after the approved run's read is still owed one"
    );
    let ops: Vec<String> = next.json()["plan"]["ops"]
        .as_array()
        .expect("ops")
        .iter()
        .map(|o| format!("{} {}", o["entity"], o["change"]))
        .collect();
    // Student 1's result, as they were graded after the approved run read the course.
    assert_eq!(ops, ["\"result\" \"update\""], "{ops:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_registration_is_renewed_and_its_course_read_again() {
    let h = Harness::start(Size::Tiny, "").await;
    with_change_feed(&h);
    h.classroom
        .feed(|f| f.lifetime = std::time::Duration::from_secs(2));
    let classes = h.sis.with_district(|d| d.classes.len()) as u64;
    sync_ok(&h, &["sync"]).await;
    sync_ok(&h, &["sync"]).await;
    // Every registration lapses; a teacher's work is then published to no one.
    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
    let students = h.classroom.student_ids("d:cl1");
    let cw = h
        .classroom
        .post_work("d:cl1", "Lab", Some(10.0), None)
        .unwrap();
    h.classroom
        .grade(&cw, &students[0], Some(9.0), None, false, "RETURNED");
    assert_eq!(h.classroom.feed(|f| f.undelivered()), 0);
    h.classroom.state.clear_log();
    sync_ok(&h, &["sync"]).await;
    assert_eq!(
        calls(&h, "classroom.registrations.create"),
        classes + 1,
        "each lapsed registration is made again"
    );
    assert_eq!(
        calls(&h, "classroom.courses.get"),
        classes,
        "a course whose feed lapsed is read: its changes went unnotified"
    );
    assert_eq!(h.sis.gradebook("lineItems").len(), 1);
}
