//! The product's safety promise, one end-to-end test per behaviour: nothing reaches Classroom
//! or the SIS unless the rules or an admin allow it, and nothing is lost or duplicated.

mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use classbridge_tests::district::{District, Size};
use classbridge_tests::sis::{SisAuth, SisSpec};
use support::{Harness, SIS_SECRET};

const HELD: i32 = 4;

/// A held run waiting in the console, and the op id of one course creation in it.
async fn pending_run(h: &Harness) -> (i64, String) {
    let pending = h.cli(&["sync", "--json"]).await;
    assert_eq!(pending.code, HELD, "{}{}", pending.stdout, pending.stderr);
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
    (report["run"].as_i64().unwrap(), course_op)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_without_a_strict_json_body_applies_nothing() {
    let h = Harness::start(Size::Tiny, "preview = true").await;
    let (run, course_op) = pending_run(&h).await;
    let console = h.serve().await;
    let path = format!("/api/runs/{run}/approve");
    let misspelt = format!(r#"{{"rejects": ["{course_op}"]}}"#);
    for (content_type, body, want) in [
        (None, misspelt.as_str(), 415),
        (Some("text/plain"), misspelt.as_str(), 415),
        (Some("application/json"), misspelt.as_str(), 400),
        (Some("application/json"), "", 400),
        (Some("application/json"), "{}", 400),
        (Some("application/json"), r#"{"reject": "x"}"#, 400),
        (
            Some("application/json"),
            r#"{"reject": ["no-such-op"]}"#,
            400,
        ),
    ] {
        let (status, answer) = console.post(&path, content_type, body).await;
        assert_eq!(status, want, "{content_type:?} {body}: {answer}");
        assert!(answer["error"].as_str().is_some(), "{answer}");
        assert_eq!(h.course_count(), 0, "nothing applied after {body:?}");
    }
    let (_, runs) = console.get("/api/runs").await;
    assert_eq!(
        runs["runs"][0]["status"], "pending",
        "still waiting: {runs}"
    );

    // The strict body works, and the rejection stays visible, counted, with who decided.
    let body = format!(r#"{{"reject": ["{course_op}"]}}"#);
    let (status, answer) = console
        .post(&path, Some("application/json; charset=utf-8"), &body)
        .await;
    assert_eq!(status, 202, "accepted, applied in the background: {answer}");
    let job = console.wait_job().await;
    assert_eq!(job["state"], "finished", "{job}");
    assert_eq!(job["run"], run, "{job}");
    assert_eq!(h.course_count(), 9, "every course but the rejected one");
    // A stale tab approving again is told who decided, and nothing more is applied.
    let (status, again) = console
        .post(&path, Some("application/json"), r#"{"reject": []}"#)
        .await;
    assert_eq!(status, 409, "{again}");
    let said = again["error"].as_str().unwrap();
    assert!(
        said.contains("already approved by console at") && said.contains("applied"),
        "{said}"
    );
    assert_eq!(h.course_count(), 9);
    let show = h.cli(&["runs", "show", &run.to_string()]).await;
    assert!(
        show.stdout.contains("Rejected (not applied)")
            && show.stdout.contains(&course_op)
            && show.stdout.contains("by console"),
        "{}",
        show.stdout
    );
    let detail = h
        .cli(&["runs", "show", &run.to_string(), "--json"])
        .await
        .json();
    assert!(
        detail["run"]["outcomeCounts"]["rejected"].as_u64().unwrap() > 1,
        "the course and its members are counted as rejected: {}",
        detail["run"]["outcomeCounts"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_retry_after_is_capped_and_the_run_completes() {
    let h = Harness::start(Size::Tiny, "").await;
    h.edit_config(|c| {
        c.replace(
            "max_retries = 8",
            "max_retries = 8\nmax_retry_after_secs = 1",
        )
    });
    h.classroom
        .state
        .faults
        .hostile_retry_after
        .store(3, Ordering::SeqCst);
    let run = h.cli(&["sync", "--json"]).await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    assert_eq!(run.json()["status"], "applied");
    assert_eq!(
        h.classroom
            .state
            .faults
            .hostile_retry_after
            .load(Ordering::SeqCst),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_that_claims_to_live_forever_does_not_crash_the_host() {
    let h = Harness::start_with(
        SisSpec {
            version: "1.2".into(),
            prefix: String::new(),
            auth: SisAuth::Oauth2 {
                client_id: "vendor-client".into(),
                secret: SIS_SECRET.into(),
                ttl: Duration::MAX,
            },
        },
        "generic-1.2",
        District::generate(Size::Tiny, 11),
        "",
    )
    .await;
    let run = h.cli(&["sync", "--json"]).await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    let runs = h.cli(&["runs", "--json"]).await.json();
    assert!(
        runs.as_array()
            .unwrap()
            .iter()
            .all(|r| r["status"] != "planning"),
        "no run is left in planning: {runs}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_next_link_to_another_host_is_not_followed_and_gets_no_credentials() {
    let h = Harness::start(Size::Tiny, "").await;
    let elsewhere = classbridge_tests::sis::start(
        SisSpec {
            version: "1.1".into(),
            prefix: String::new(),
            auth: SisAuth::Oauth1 {
                key: "ck-e2e".into(),
                secret: SIS_SECRET.into(),
            },
        },
        District::generate(Size::Tiny, 99),
    )
    .await
    .unwrap();
    *h.sis.state.faults.next_link_origin.lock().unwrap() = Some(elsewhere.base_url());
    let run = h.cli(&["sync"]).await;
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("another origin"), "{}", run.stderr);
    assert_eq!(
        elsewhere.state.counters.requests.load(Ordering::SeqCst),
        0,
        "the other host saw no request, so no credentials"
    );
    assert_eq!(h.course_count(), 0, "an incomplete read plans nothing");

    // The same link on the SIS's own origin is followed.
    *h.sis.state.faults.next_link_origin.lock().unwrap() = Some(h.sis.base_url());
    let run = h.cli(&["sync"]).await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_errors_never_print_secret_values() {
    let h = Harness::start(Size::Tiny, "").await;
    h.edit_config(|c| {
        c.replace(
            r#"client_secret = { file = "sis.secret" }"#,
            &format!(r#"client_secret = "{SIS_SECRET}""#),
        )
    });
    let check = h.cli(&["check", "--json"]).await;
    assert_eq!(check.code, 2, "{}{}", check.stdout, check.stderr);
    assert!(
        check.stderr.contains("client_secret") || check.stderr.contains("line"),
        "{}",
        check.stderr
    );
    assert!(!check.stderr.contains(SIS_SECRET) && !check.stdout.contains(SIS_SECRET));
    assert_eq!(
        check.json()["exitCode"],
        2,
        "a JSON report of the failure: {}",
        check.stdout
    );

    let h = Harness::start(Size::Tiny, "").await;
    h.edit_config(|c| {
        c.replace(
            "base_url = \"http://127.0.0.1",
            "base_url = \"http://user:hunter2@127.0.0.1",
        )
    });
    let check = h.cli(&["check"]).await;
    assert_eq!(check.code, 2, "{}{}", check.stdout, check.stderr);
    assert!(
        check.stderr.contains("carries credentials"),
        "{}",
        check.stderr
    );
    assert!(!check.stderr.contains("hunter2"), "{}", check.stderr);

    let h = Harness::start(Size::Tiny, "").await;
    let sis = h.sis.base_url();
    h.edit_config(|c| {
        c.replace(
            &format!("base_url = \"{sis}\""),
            "base_url = \"http://sis.example.org\"",
        )
    });
    let check = h.cli(&["check"]).await;
    assert_eq!(check.code, 2, "{}{}", check.stdout, check.stderr);
    assert!(check.stderr.contains("plain http"), "{}", check.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_sync_with_json_still_reports_on_stdout() {
    let h = Harness::start(Size::Tiny, "").await;
    std::fs::write(h.dir.path().join("sis.secret"), "wrong").unwrap();
    let run = h.cli(&["sync", "--json"]).await;
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    let report = run.json();
    assert_eq!(report["status"], "error");
    assert_eq!(report["exitCode"], 3);
    assert_eq!(report["kind"], "connection");
    assert!(
        report["error"].as_str().unwrap().contains("401"),
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_current_is_explained_not_called_in_step() {
    let h = Harness::start(Size::Tiny, "").await;
    h.sis.with_district(|d| {
        for e in &mut d.enrollments {
            e["endDate"] = serde_json::json!("2020-06-30");
        }
    });
    let run = h.cli(&["sync", "--json"]).await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let message = run.json()["message"].as_str().unwrap().to_string();
    assert!(!message.contains("in step"), "{message}");
    assert!(message.contains("not current"), "{message}");
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_state_folder_is_private_and_a_tampered_engine_cache_is_never_run() {
    use std::os::unix::fs::PermissionsExt;
    let h = Harness::start(Size::Tiny, "").await;
    let run = h.cli(&["sync"]).await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let state = h.state_dir();
    assert_eq!(mode(&state), 0o700, "state folder");
    for name in ["classbridge.db", "classbridge.db-wal", "classbridge.db-shm"] {
        let p = state.join(name);
        if p.exists() {
            assert_eq!(mode(&p), 0o600, "{name}");
        }
    }
    let cache = state.join(".classbridge-cache");
    assert_eq!(mode(&cache), 0o700, "engine cache folder");
    let artefact = std::fs::read_dir(&cache)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .expect("a compiled engine in the cache");

    // Flip bytes in the middle of the artefact: its header still reads as wasmtime's, so only
    // a digest kept elsewhere can tell.
    let mut bytes = std::fs::read(&artefact).unwrap();
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid..mid + 64] {
        *b ^= 0xA5;
    }
    std::fs::write(&artefact, &bytes).unwrap();
    std::fs::write(cache.join("engine-x.tmp123"), b"half written").unwrap();
    let again = h.cli(&["sync"]).await;
    assert_eq!(again.code, 0, "{}{}", again.stdout, again.stderr);
    assert_ne!(
        std::fs::read(&artefact).unwrap(),
        bytes,
        "the tampered artefact was replaced, not run"
    );
    assert!(
        !cache.join("engine-x.tmp123").exists(),
        "temp files are cleaned up"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_beside_a_live_one_leaves_it_alone() {
    let h = Harness::start(Size::Tiny, "").await;
    // Slow answers keep the first run alive long enough for a second to try.
    h.sis.state.faults.slow_ms.store(150, Ordering::SeqCst);
    let first = {
        let bin = support::binary();
        let config = h.config.clone();
        tokio::spawn(async move {
            tokio::process::Command::new(bin)
                .arg("--config")
                .arg(config)
                .args(["sync", "--json"])
                .output()
                .await
                .unwrap()
        })
    };
    let lock = h.state_dir().join("classbridge.db.lock");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while std::fs::read_to_string(&lock)
        .unwrap_or_default()
        .is_empty()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the first run never took the lock"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let second = h.cli(&["sync", "--json"]).await;
    assert_eq!(second.code, 6, "{}{}", second.stdout, second.stderr);
    assert!(
        second.stderr.contains("another classbridge run"),
        "{}",
        second.stderr
    );
    assert_eq!(second.json()["kind"], "busy");
    let first = first.await.unwrap();
    assert_eq!(
        first.status.code(),
        Some(0),
        "the live run finished untouched: {}",
        String::from_utf8_lossy(&first.stderr)
    );
    h.sis.state.faults.slow_ms.store(0, Ordering::SeqCst);
    let (_, duplicate_aliases, _, _) = h.classroom_shape();
    assert_eq!(duplicate_aliases, 0);
    let idle = h.cli(&["sync", "--json"]).await;
    assert_eq!(idle.json()["status"], "noChanges", "{}", idle.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_a_crash_left_in_planning_is_closed_as_failed() {
    let h = Harness::start(Size::Tiny, "").await;
    assert_eq!(h.cli(&["sync"]).await.code, 0);
    let db = rusqlite::Connection::open(h.state_dir().join("classbridge.db")).unwrap();
    db.execute(
        "INSERT INTO runs (started_at, trigger, status) VALUES ('2026-01-01T00:00:00Z', 'sync', 'planning')",
        [],
    )
    .unwrap();
    let stale = db.last_insert_rowid();
    drop(db);
    assert_eq!(h.cli(&["sync"]).await.code, 0);
    let show = h
        .cli(&["runs", "show", &stale.to_string(), "--json"])
        .await
        .json();
    assert_eq!(show["run"]["status"], "failed");
    assert!(show["run"]["message"].as_str().unwrap().contains("stopped"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_pages_stop_at_the_record_limit_naming_the_setting() {
    let h = Harness::start(Size::Tiny, "").await;
    h.edit_config(|c| {
        c.replace(
            "page_size = 25",
            "page_size = 25\nmax_records_per_collection = 400",
        )
    });
    h.sis
        .state
        .faults
        .endless_pages
        .store(true, Ordering::SeqCst);
    let run = h.cli(&["sync"]).await;
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("max_records_per_collection"),
        "{}",
        run.stderr
    );
    assert_eq!(h.course_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_a_response_is_refused_naming_the_setting() {
    let h = Harness::start(Size::Tiny, "").await;
    h.edit_config(|c| c.replace("page_size = 25", "page_size = 25\nmax_response_mb = 1"));
    h.sis
        .state
        .faults
        .padding_bytes
        .store(3 << 20, Ordering::SeqCst);
    let run = h.cli(&["sync"]).await;
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("max_response_mb"), "{}", run.stderr);
    assert_eq!(h.course_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zip_bomb_bundle_is_refused_naming_the_setting() {
    use std::io::Write as _;
    let h = Harness::start(Size::Tiny, "mode = \"importOnly\"").await;
    let zip_path = h.dir.path().join("bundle.zip");
    {
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&zip_path).unwrap());
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, text) in District::generate(Size::Tiny, 11).to_csv_bundle() {
            zip.start_file(name.as_str(), options).unwrap();
            zip.write_all(text.as_bytes()).unwrap();
        }
        // 40 MiB of one byte compresses to a few tens of KiB.
        zip.start_file("notes.csv", options).unwrap();
        let block = vec![b'a'; 1 << 20];
        for _ in 0..40 {
            zip.write_all(&block).unwrap();
        }
        zip.finish().unwrap();
    }
    assert!(std::fs::metadata(&zip_path).unwrap().len() < 2 << 20);
    let config = std::fs::read_to_string(&h.config).unwrap();
    let start = config.find("[[source]]").unwrap();
    let end = config.find("[rules]").unwrap();
    std::fs::write(
        &h.config,
        format!(
            "{}[[source]]\nid = \"csv\"\nkind = \"csv\"\npath = \"bundle.zip\"\nmax_csv_file_mb = 8\n\n{}",
            &config[..start],
            &config[end..]
        ),
    )
    .unwrap();
    let run = h.cli(&["sync"]).await;
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("max_csv_file_mb"), "{}", run.stderr);
    assert_eq!(h.course_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sis_repeating_its_last_page_past_the_end_is_read_completely() {
    let h = Harness::start(Size::Tiny, "").await;
    h.sis
        .state
        .faults
        .repeat_last_page_past_end
        .store(true, Ordering::SeqCst);
    let run = h.cli(&["sync", "--json"]).await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let classes = h.sis.with_district(|d| d.classes.len());
    let (courses, duplicates, members, _) = h.classroom_shape();
    assert_eq!((courses, duplicates, members), (classes, 0, 210));
    let idle = h.cli(&["sync", "--json"]).await;
    assert_eq!(idle.json()["status"], "noChanges", "{}", idle.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sis_that_ignores_offset_is_refused_as_such() {
    let h = Harness::start(Size::Tiny, "").await;
    h.sis
        .state
        .faults
        .ignore_offset
        .store(true, Ordering::SeqCst);
    let run = h.cli(&["sync"]).await;
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("ignores offset"), "{}", run.stderr);
    assert_eq!(h.course_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sis_grades_are_not_deleted_when_a_course_lists_no_work_without_approval() {
    let h = Harness::start(Size::Tiny, "").await;
    assert_eq!(h.cli(&["sync"]).await.code, 0);
    let students = h.classroom.student_ids("d:cl1");
    let work = h
        .classroom
        .post_work("d:cl1", "Lab report", Some(50.0), Some("Homework"))
        .unwrap();
    h.classroom
        .grade(&work, &students[0], Some(45.0), None, false, "RETURNED");
    assert_eq!(h.cli(&["sync"]).await.code, 0);
    let before = h.sis.canonical_gradebook();
    assert!(!h.sis.gradebook("results").is_empty());

    // The teacher deletes the work (or Classroom lists the course's work as `{}`).
    h.classroom.world(|w| {
        for c in w.courses.values_mut() {
            c.course_work.clear();
            c.submissions.clear();
        }
    });
    let held = h.cli(&["sync", "--json"]).await;
    assert_eq!(held.code, HELD, "{}{}", held.stdout, held.stderr);
    let holds = held.json()["plan"]["holds"].to_string();
    assert!(holds.contains("gradebookEmptied"), "{holds}");
    assert_eq!(
        h.sis.canonical_gradebook(),
        before,
        "nothing deleted before approval"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_capitalised_role_keeps_the_teacher_and_their_classes() {
    let h = Harness::start(Size::Tiny, "").await;
    h.sis.with_district(|d| {
        for u in &mut d.users {
            if u["role"] == "teacher" {
                u["role"] = serde_json::json!("Teacher");
            }
        }
        for e in &mut d.enrollments {
            if e["role"] == "teacher" {
                e["role"] = serde_json::json!("Teacher");
            }
        }
    });
    let run = h.cli(&["sync", "--json"]).await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let classes = h.sis.with_district(|d| d.classes.len());
    assert_eq!(h.course_count(), classes, "every class got its course");
    let issues = run.json()["plan"]["recordIssues"].to_string();
    assert!(
        issues.contains("'Teacher' was read as 'teacher'"),
        "{issues}"
    );
}

/// A student of class `cl1` (their user id), from the stand-in's district.
fn a_student_of_cl1(h: &Harness) -> String {
    h.sis.with_district(|d| {
        d.enrollments
            .iter()
            .find(|e| e["role"] == "student" && e["class"]["sourcedId"] == "cl1")
            .and_then(|e| e["user"]["sourcedId"].as_str())
            .map(str::to_string)
            .expect("cl1 has a student")
    })
}

/// The student leaves the district: the SIS has neither them nor their enrollments. (A delta
/// read is told so by `tobedeleted` records; the tests here read in full, where only absence
/// tells, which is what they check.)
fn leaves_the_sis(h: &Harness, student: &str) {
    h.sis.with_district(|d| {
        d.users.retain(|u| u["sourcedId"] != student);
        d.enrollments.retain(|e| e["user"]["sourcedId"] != student);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_student_missing_from_one_read_without_a_count_stays_in_their_classes() {
    let h = Harness::start(Size::Tiny, "").await;
    assert_eq!(h.cli(&["sync"]).await.code, 0);
    let before = h.classroom.canonical_world();
    let student = a_student_of_cl1(&h);
    let enrollment = h.sis.with_district(|d| {
        d.enrollments
            .iter()
            .find(|e| e["user"]["sourcedId"] == student.as_str())
            .and_then(|e| e["sourcedId"].as_str())
            .map(str::to_string)
            .unwrap()
    });
    // The listings miss the student and one of their enrollments; no count says so.
    h.sis.state.faults.unlist(&[&student, &enrollment]);
    let run = h.cli(&["sync", "--full", "--json"]).await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(
        h.classroom.canonical_world(),
        before,
        "nobody was removed from Classroom"
    );
    let plan = &run.json()["plan"];
    let absences = plan["absences"].as_array().expect("absences in the plan");
    for id in [&student, &enrollment] {
        let a = absences
            .iter()
            .find(|a| a["sourcedId"] == id.as_str())
            .unwrap_or_else(|| panic!("{id} in {absences:?}"));
        assert_eq!(a["status"], "stillThere", "{a}");
        assert!(a["how"].as_str().unwrap().contains("answered 200"), "{a}");
    }
    let text = h.cli(&["plan", "--full"]).await.stdout;
    assert!(
        text.contains("kept, still in the SIS"),
        "the preview says which were kept and why: {text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_student_gone_from_the_sis_is_removed_once_confirmed_and_the_preview_says_how() {
    let h = Harness::start(Size::Tiny, "").await;
    assert_eq!(h.cli(&["sync"]).await.code, 0);
    let student = a_student_of_cl1(&h);
    let email = h.sis.with_district(|d| {
        d.users
            .iter()
            .find(|u| u["sourcedId"] == student.as_str())
            .and_then(|u| u["email"].as_str())
            .map(str::to_string)
            .unwrap()
    });
    leaves_the_sis(&h, &student);
    let run = h.cli(&["sync", "--full", "--json"]).await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let in_classroom = h.classroom.world(|w| {
        w.courses
            .values()
            .any(|c| c.students.keys().any(|k| k.eq_ignore_ascii_case(&email)))
    });
    assert!(!in_classroom, "the student left every class");
    let plan = &run.json()["plan"];
    let confirmed = plan["absences"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["sourcedId"] == student.as_str())
        .cloned()
        .unwrap();
    assert_eq!(confirmed["status"], "confirmed");
    assert!(
        confirmed["how"]
            .as_str()
            .unwrap()
            .contains(&format!("/users/{student} answered 404")),
        "{confirmed}"
    );
    let text = h.cli(&["runs", "show", "2"]).await.stdout;
    assert!(text.contains("removed, confirmed gone"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_check_limit_missing_records_wait_for_a_later_run() {
    let h = Harness::start(Size::Tiny, "").await;
    h.edit_config(|c| c.replace("page_size = 25", "page_size = 25\nmax_removal_checks = 0"));
    assert_eq!(h.cli(&["sync"]).await.code, 0);
    let before = h.classroom.canonical_world();
    let student = a_student_of_cl1(&h);
    leaves_the_sis(&h, &student);
    let run = h.cli(&["sync", "--full", "--json"]).await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(
        h.classroom.canonical_world(),
        before,
        "nothing removed unconfirmed"
    );
    let plan = run.json()["plan"].to_string();
    assert!(plan.contains("max_removal_checks"), "{plan}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn classroom_changed_by_hand_is_shown_as_drift_and_repaired_by_rule() {
    use classbridge_tests::classroom::StandInClassroom;
    let h = Harness::start(Size::Tiny, "").await;
    assert_eq!(h.cli(&["sync"]).await.code, 0);
    let clean = h.classroom.canonical_world();
    let removed = h.classroom.student_ids("d:cl1")[0].clone();
    let course = h.classroom.course_by_alias("d:cl1").unwrap();
    let name = course.body["name"].clone();
    h.classroom.by_hand("d:cl1", |c| {
        c.students.remove(&removed);
        c.students.insert(
            "visitor@elsewhere.example".into(),
            StandInClassroom::member(&c.id, "visitor@elsewhere.example"),
        );
        c.body["name"] = serde_json::json!("Renamed by hand");
    });

    let run = h.cli(&["sync", "--json"]).await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let after = h.classroom.course_by_alias("d:cl1").unwrap();
    assert!(
        after.students.contains_key(&removed),
        "the SIS-enrolled student is back"
    );
    assert_eq!(after.body["name"], name, "the SIS's name is back");
    assert!(
        after.students.contains_key("visitor@elsewhere.example"),
        "someone the SIS does not know is never removed by default"
    );
    let drift = run.json()["plan"]["drift"].clone();
    let kinds: Vec<(&str, &str)> = drift
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["kind"].as_str().unwrap(), d["action"].as_str().unwrap()))
        .collect();
    for want in [
        ("missingMember", "repair"),
        ("extraMember", "report"),
        ("courseField", "repair"),
    ] {
        assert!(kinds.contains(&want), "{want:?} in {drift}");
    }
    let text = h.cli(&["runs", "show", "2"]).await.stdout;
    assert!(text.contains("Drift (Classroom changed by hand"), "{text}");

    // Told to, the extra member goes too, and Classroom is as a clean run left it.
    h.edit_config(|c| c.replace("[rules]", "[rules]\ndrift = { extraMember = \"repair\" }"));
    let run = h.cli(&["sync", "--json"]).await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(h.classroom.canonical_world(), clean);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_classroom_timestamp_with_a_stray_byte_is_a_record_issue_not_a_trap() {
    let h = Harness::start(Size::Tiny, "").await;
    assert_eq!(h.cli(&["sync"]).await.code, 0);
    support::teachers_grade(&h);
    // A non-ASCII byte inside the time: slicing it by bytes once trapped the engine.
    h.classroom.by_hand("d:cl1", |c| {
        for w in &mut c.course_work {
            w["creationTime"] = serde_json::json!("2026-09-0é2T08:00:00Z");
        }
        for s in &mut c.submissions {
            s["updateTime"] = serde_json::json!("2026-09-2\u{1F600}T08:00:00Z");
        }
    });
    let run = h.cli(&["sync", "--json"]).await;
    assert!(
        run.code == 0 || run.code == HELD,
        "the run plans and ends normally: {}{}",
        run.stdout,
        run.stderr
    );
    let issues = run.json()["plan"]["recordIssues"].to_string();
    assert!(
        issues.contains("creationTime") && issues.contains("is not a valid date or time"),
        "{issues}"
    );
    // And the next run works too: nothing is stuck.
    let again = h.cli(&["sync", "--json"]).await;
    assert!(again.code == 0 || again.code == HELD, "{}", again.stderr);
}
