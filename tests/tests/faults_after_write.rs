//! Writes that were applied but answered with an error, never answered, or answered without
//! the id: the host must converge to exactly the world a clean run makes, with nothing
//! duplicated and nothing lost. Compared as whole worlds of both servers, not as counts.

mod support;

use std::sync::atomic::Ordering;

use classbridge_tests::district::Size;
use support::{Harness, gradebook_by_meaning, story, sync_until_idle};

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
