//! Writes that were applied but answered with an error, never answered, or answered without
//! the id: the host must converge to exactly the world a clean run makes, with nothing
//! duplicated and nothing lost. Compared as whole worlds of both servers, not as counts.

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use classbridge_tests::district::Size;
use serde_json::Value;
use support::Harness;

/// Roster sync, teachers grade, grade sync: the same story for every harness.
async fn story(h: &Harness, settle: bool) {
    sync_until_idle(h, "roster", settle).await;
    let alias = "d:cl1";
    let students = h.classroom.student_ids(alias);
    let work = h
        .classroom
        .post_work(alias, "Lab report", Some(50.0), Some("Homework"))
        .expect("course exists");
    h.classroom
        .grade(&work, &students[0], Some(45.0), None, false, "RETURNED");
    h.classroom
        .grade(&work, &students[1], Some(30.0), None, true, "RETURNED");
    sync_until_idle(h, "grades", settle).await;
}

/// Syncs until a run finds nothing to do; a faulty server may need a few runs.
async fn sync_until_idle(h: &Harness, what: &str, settle: bool) {
    for attempt in 0..6 {
        let run = h.cli(&["sync", "--json"]).await;
        assert!(
            run.code == 0 || (settle && run.code == 5),
            "{what} sync {attempt}: {}{}",
            run.stdout,
            run.stderr
        );
        if run.json()["status"] == "noChanges" {
            return;
        }
    }
    panic!("{what}: the host never settled");
}

/// The gradebook keyed by what it means (class, title, student), not by ids derived from the
/// Classroom's own ids, which differ between two servers.
fn gradebook_by_meaning(h: &Harness) -> Value {
    let book = h.sis.canonical_gradebook();
    let book = book.as_object().unwrap();
    let mut titles = BTreeMap::new();
    let mut out = serde_json::Map::new();
    for (_, li) in book.iter().filter(|(k, _)| k.starts_with("lineItems/")) {
        let title = format!("{}/{}", li["class"]["sourcedId"], li["title"]);
        titles.insert(li["sourcedId"].as_str().unwrap().to_string(), title.clone());
        let mut li = li.clone();
        let o = li.as_object_mut().unwrap();
        o.remove("sourcedId");
        // When it was written, not what: the two runs happen at different times.
        o.remove("dateLastModified");
        out.insert(format!("lineItem {title}"), li);
    }
    for r in book
        .iter()
        .filter(|(k, _)| k.starts_with("results/"))
        .map(|(_, v)| v)
    {
        let title = titles
            .get(r["lineItem"]["sourcedId"].as_str().unwrap())
            .cloned()
            .unwrap_or_else(|| "orphan".into());
        let mut r = r.clone();
        let o = r.as_object_mut().unwrap();
        o.remove("sourcedId");
        o.remove("lineItem");
        o.remove("dateLastModified");
        out.insert(format!("result {title} {}", o["student"]["sourcedId"]), r);
    }
    Value::Object(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_applied_then_failed_converge_to_the_clean_world() {
    let clean = Harness::start(Size::Tiny, "").await;
    story(&clean, false).await;

    let faulty = Harness::start(Size::Tiny, "").await;
    faulty.edit_config(|c| c.replace("max_retries = 8", "max_retries = 8\ntimeout_secs = 3"));
    let cf = &faulty.classroom.state.faults;
    cf.fail_after_write.store(4, Ordering::SeqCst);
    cf.hang_after_write.store(1, Ordering::SeqCst);
    cf.omit_created_id.store(2, Ordering::SeqCst);
    story(&faulty, true).await;
    // Grade writes too: applied in the SIS, answered 503.
    assert_eq!(
        faulty
            .classroom
            .state
            .faults
            .fail_after_write
            .load(Ordering::SeqCst),
        0
    );

    let (_, duplicate_aliases, _, _) = faulty.classroom_shape();
    assert_eq!(duplicate_aliases, 0);
    assert_eq!(
        faulty.classroom.canonical_world(),
        clean.classroom.canonical_world(),
        "Classroom ends exactly as after a clean run"
    );
    assert_eq!(
        gradebook_by_meaning(&faulty),
        gradebook_by_meaning(&clean),
        "the SIS gradebook ends exactly as after a clean run"
    );
    assert!(!gradebook_by_meaning(&clean).as_object().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grade_writes_applied_then_failed_converge_to_the_clean_gradebook() {
    let clean = Harness::start(Size::Tiny, "").await;
    story(&clean, false).await;

    let faulty = Harness::start(Size::Tiny, "").await;
    sync_until_idle(&faulty, "roster", false).await;
    faulty
        .sis
        .state
        .faults
        .fail_after_write
        .store(2, Ordering::SeqCst);
    let alias = "d:cl1";
    let students = faulty.classroom.student_ids(alias);
    let work = faulty
        .classroom
        .post_work(alias, "Lab report", Some(50.0), Some("Homework"))
        .unwrap();
    faulty
        .classroom
        .grade(&work, &students[0], Some(45.0), None, false, "RETURNED");
    faulty
        .classroom
        .grade(&work, &students[1], Some(30.0), None, true, "RETURNED");
    sync_until_idle(&faulty, "grades", true).await;
    assert_eq!(
        faulty
            .sis
            .state
            .faults
            .fail_after_write
            .load(Ordering::SeqCst),
        0
    );
    assert_eq!(gradebook_by_meaning(&faulty), gradebook_by_meaning(&clean));
}
