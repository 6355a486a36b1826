//! The host killed with SIGKILL at seeded random points while applying: every re-run must
//! converge to the clean run's final state, with no duplicate courses, members, topics,
//! lineItems or results.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use classbridge_tests::district::Size;
use classbridge_tests::rng::SeededRng;
use support::{Harness, binary};

const TRIALS: u64 = 20;

/// Alias -> (teachers, students, topics): everything a duplicate would show up in.
type Shape = BTreeMap<String, (BTreeSet<String>, BTreeSet<String>, Vec<String>)>;

fn shape(h: &Harness) -> (Shape, usize) {
    h.classroom.world(|w| {
        let mut out = Shape::new();
        for c in w.courses.values() {
            let mut topics: Vec<String> = c
                .topics
                .iter()
                .map(|t| t["name"].as_str().unwrap_or_default().to_string())
                .collect();
            topics.sort();
            out.insert(
                c.aliases.join(","),
                (
                    c.teachers.keys().cloned().collect(),
                    c.students.keys().cloned().collect(),
                    topics,
                ),
            );
        }
        (out, w.courses.len())
    })
}

fn grade_some(h: &Harness) {
    for alias in ["d:cl0", "d:cl1"] {
        let students: Vec<String> = h.classroom.student_ids(alias);
        let cw = h
            .classroom
            .post_work(alias, "Unit test", Some(40.0), Some("Tests"))
            .unwrap();
        for (i, s) in students.iter().enumerate() {
            h.classroom
                .grade(&cw, s, Some(20.0 + i as f64), None, i % 3 == 0, "RETURNED");
        }
    }
}

/// Starts a sync and kills it after `delay`; returns whether it was still running.
async fn sync_killed_after(h: &Harness, delay: Duration) -> bool {
    let mut child = tokio::process::Command::new(binary())
        .arg("--config")
        .arg(&h.config)
        .arg("sync")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn classbridge");
    tokio::select! {
        _ = child.wait() => false,
        _ = tokio::time::sleep(delay) => {
            let _ = child.start_kill();
            let _ = child.wait().await;
            true
        }
    }
}

async fn converge(h: &Harness) {
    for attempt in 0..4 {
        let run = h.cli(&["sync", "--json"]).await;
        if run.code == 0 && run.json()["status"] == "noChanges" {
            return;
        }
        assert!(
            run.code == 0 || attempt < 3,
            "did not converge: {}{}",
            run.stdout,
            run.stderr
        );
    }
    panic!("no quiet run after four tries");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_apply_every_rerun_converges_without_duplicates() {
    // The clean run, and how long its apply takes.
    let clean = Harness::start(Size::Tiny, "").await;
    clean
        .classroom
        .state
        .faults
        .slow_ms
        .store(4, Ordering::SeqCst);
    clean.sis.state.faults.slow_ms.store(4, Ordering::SeqCst);
    let started = Instant::now();
    assert_eq!(clean.cli(&["sync"]).await.code, 0);
    let roster_time = started.elapsed();
    grade_some(&clean);
    assert_eq!(clean.cli(&["sync"]).await.code, 0);
    let expected = shape(&clean);
    let expected_grades = (
        clean.sis.gradebook("lineItems").len(),
        clean.sis.gradebook("results").len(),
    );
    assert!(expected_grades.1 > 0);

    let mut rng = SeededRng::new(0xC1A55);
    let mut killed = 0;
    for trial in 0..TRIALS {
        let h = Harness::start(Size::Tiny, "").await;
        h.classroom.state.faults.slow_ms.store(4, Ordering::SeqCst);
        h.sis.state.faults.slow_ms.store(4, Ordering::SeqCst);
        let window = roster_time.as_millis().max(50) as usize;
        if sync_killed_after(&h, Duration::from_millis(rng.below(window) as u64)).await {
            killed += 1;
        }
        converge(&h).await;
        let got = shape(&h);
        assert_eq!(got.1, expected.1, "trial {trial}: course count");
        assert_eq!(
            got.0, expected.0,
            "trial {trial}: courses, members and topics"
        );

        // Grades: kill the export too.
        grade_some(&h);
        let gwindow = (roster_time.as_millis() / 2).max(30) as usize;
        if sync_killed_after(&h, Duration::from_millis(rng.below(gwindow) as u64)).await {
            killed += 1;
        }
        converge(&h).await;
        let line_items = h.sis.gradebook("lineItems");
        let results = h.sis.gradebook("results");
        assert_eq!(
            (line_items.len(), results.len()),
            expected_grades,
            "trial {trial}: gradebook"
        );
        let result_keys: BTreeSet<(String, String)> = results
            .iter()
            .map(|r| {
                (
                    r["lineItem"]["sourcedId"].to_string(),
                    r["student"]["sourcedId"].to_string(),
                )
            })
            .collect();
        assert_eq!(
            result_keys.len(),
            results.len(),
            "trial {trial}: one result per student and lineItem"
        );
    }
    assert!(
        killed >= TRIALS / 2,
        "most trials must really kill mid-run ({killed})"
    );
}
