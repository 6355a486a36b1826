//! The request pacing and retry loop in virtual time: tokio's clock is paused and advances
//! only when every task waits, so the waits below are exact and the tests take milliseconds.
//! Answers are made in memory; no socket is opened.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use reqwest::{Method, Response, StatusCode};
use tokio::time::Instant;

use super::*;

/// An in-memory server: answers each attempt from a script (the last entry repeats), after
/// `latency` of virtual time, and counts the attempts.
struct Scripted {
    answers: Vec<(u16, Option<&'static str>)>,
    latency: Duration,
    attempts: AtomicU32,
}

impl Scripted {
    fn new(answers: &[(u16, Option<&'static str>)]) -> Arc<Scripted> {
        Scripted::slow(answers, Duration::ZERO)
    }

    fn slow(answers: &[(u16, Option<&'static str>)], latency: Duration) -> Arc<Scripted> {
        Arc::new(Scripted {
            answers: answers.to_vec(),
            latency,
            attempts: AtomicU32::new(0),
        })
    }

    fn attempts(&self) -> u32 {
        self.attempts.load(Ordering::SeqCst)
    }

    async fn answer(&self) -> Result<Result<Response, reqwest::Error>, HttpError> {
        let n = self.attempts.fetch_add(1, Ordering::SeqCst) as usize;
        let (status, retry_after) = self.answers[n.min(self.answers.len() - 1)];
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        let mut answer = http::Response::builder().status(status);
        if let Some(seconds) = retry_after {
            answer = answer.header("retry-after", seconds);
        }
        let body = if status < 400 {
            r#"{"ok":true}"#
        } else {
            r#"{"error":{"message":"slow down","status":"RESOURCE_EXHAUSTED"}}"#
        };
        Ok(Ok(Response::from(
            answer.body(body).expect("a valid in-memory answer"),
        )))
    }
}

async fn send_to(
    server: &Arc<Scripted>,
    throttle: &Throttle,
    policy: &RetryPolicy,
) -> Result<Answer, HttpError> {
    send_via("Test", throttle, policy, Method::GET, "/things", || {
        server.answer()
    })
    .await
}

fn quick_policy() -> RetryPolicy {
    RetryPolicy {
        max_retries: 3,
        base_delay: Duration::from_millis(200),
        max_delay: Duration::from_secs(30),
        ..RetryPolicy::default()
    }
}

#[tokio::test(start_paused = true)]
async fn the_throttle_spaces_requests_at_exactly_the_quota() {
    let throttle = Throttle::new(60, 8);
    let server = Scripted::new(&[(200, None)]);
    let start = Instant::now();
    for _ in 0..5 {
        send_to(&server, &throttle, &quick_policy()).await.unwrap();
    }
    // The first goes at once, each next one a second (60/minute) later.
    assert_eq!(start.elapsed(), Duration::from_secs(4));
    assert_eq!(server.attempts(), 5);
}

#[tokio::test(start_paused = true)]
async fn in_flight_requests_are_capped() {
    let throttle = Throttle::new(60_000, 2);
    let server = Scripted::slow(&[(200, None)], Duration::from_secs(1));
    let start = Instant::now();
    let policy = quick_policy();
    let send = || send_to(&server, &throttle, &policy);
    let answers = tokio::join!(send(), send(), send(), send());
    for answer in [answers.0, answers.1, answers.2, answers.3] {
        answer.unwrap();
    }
    // Four one-second requests, two at a time, plus the quota's 1 ms spacing.
    let took = start.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_millis(2010),
        "{took:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_429_waits_exactly_its_retry_after_and_holds_back_every_later_request() {
    let throttle = Throttle::new(60_000, 8);
    let server = Scripted::new(&[(429, Some("7")), (200, None)]);
    let start = Instant::now();
    // The server's budget is spent for everyone: a request that arrives during the wait
    // goes no earlier than the retry.
    let other = Scripted::new(&[(200, None)]);
    let policy = quick_policy();
    let (first, second) = tokio::join!(send_to(&server, &throttle, &policy), async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        send_to(&other, &throttle, &policy).await.unwrap();
        start.elapsed()
    });
    let (status, _, _) = first.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(server.attempts(), 2);
    assert!(second >= Duration::from_secs(7), "{second:?}");
}

#[tokio::test(start_paused = true)]
async fn a_hostile_retry_after_is_capped() {
    let throttle = Throttle::new(60_000, 8);
    let server = Scripted::new(&[(429, Some("18446744073709551615")), (200, None)]);
    let start = Instant::now();
    send_to(&server, &throttle, &RetryPolicy::default())
        .await
        .unwrap();
    assert_eq!(start.elapsed(), MAX_RETRY_AFTER);
}

#[tokio::test(start_paused = true)]
async fn a_storm_of_429s_is_waited_out_for_at_most_the_total_budget() {
    let throttle = Throttle::new(60_000, 8);
    let server = Scripted::new(&[(429, Some("120"))]);
    let start = Instant::now();
    let err = send_to(&server, &throttle, &RetryPolicy::default())
        .await
        .unwrap_err();
    // Seven waits of 120 s fit in 15 minutes; the eighth would not, so the eighth 429 ends it.
    assert_eq!(server.attempts(), 8);
    assert_eq!(start.elapsed(), Duration::from_secs(7 * 120));
    match err {
        HttpError::Status {
            status,
            retries,
            waited_secs,
            answer,
            ..
        } => {
            assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
            assert_eq!((retries, waited_secs), (7, 840));
            assert_eq!(answer.status.as_deref(), Some("RESOURCE_EXHAUSTED"));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_call_whose_429_may_be_a_lasting_limit_waits_out_only_its_few_retries() {
    let throttle = Throttle::new(60_000, 8);
    let server = Scripted::new(&[(429, Some("120"))]);
    let policy = RetryPolicy {
        throttled_retries: Some(2),
        ..RetryPolicy::default()
    };
    let start = Instant::now();
    let err = send_to(&server, &throttle, &policy).await.unwrap_err();
    assert_eq!(server.attempts(), 3, "the first try and two more");
    assert_eq!(start.elapsed(), Duration::from_secs(2 * 120));
    assert!(
        matches!(err, HttpError::Status { status, .. } if status == StatusCode::TOO_MANY_REQUESTS),
        "{err:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn server_errors_back_off_exponentially_with_jitter_then_give_up() {
    let throttle = Throttle::new(60_000, 8);
    let server = Scripted::new(&[(503, None)]);
    let start = Instant::now();
    let err = send_to(&server, &throttle, &quick_policy())
        .await
        .unwrap_err();
    // One try and three retries, after 200, 400 and 800 ms each scaled by a jitter in [0.5, 1).
    assert_eq!(server.attempts(), 4);
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(700) && took < Duration::from_millis(1400 + 4),
        "{took:?}"
    );
    assert_eq!(err.status(), Some(StatusCode::SERVICE_UNAVAILABLE));
}

#[tokio::test(start_paused = true)]
async fn a_server_error_with_retry_after_is_retried_at_that_time() {
    let throttle = Throttle::new(60_000, 8);
    let server = Scripted::new(&[(503, Some("2")), (502, Some("3")), (200, None)]);
    let start = Instant::now();
    send_to(&server, &throttle, &quick_policy()).await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_secs(5));
    assert_eq!(server.attempts(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_client_error_is_answered_at_once_never_retried() {
    let throttle = Throttle::new(60_000, 8);
    let server = Scripted::new(&[(404, None)]);
    let start = Instant::now();
    let (status, _, _) = send_to(&server, &throttle, &quick_policy()).await.unwrap();
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(server.attempts(), 1);
    assert_eq!(start.elapsed(), Duration::ZERO);
}
