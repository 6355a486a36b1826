//! The apply waves in virtual time: tokio's clock is paused, every call goes through the real
//! throttle and retry loop (`send_via`) to an in-memory service that answers after a scripted
//! latency, and the journal is a log in memory. Waits are exact and the tests take milliseconds.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use classbridge_engine::model::Shared;
use classbridge_engine::plan::{
    Action, MemberRole, OpChange, OpEntity, OpOutcome, OutcomeResult, PlannedOp, StateEffect,
};
use reqwest::{Method, Response};
use tokio::time::Instant;

use super::{ApplyTarget, apply_in_waves};
use crate::http::{RetryPolicy, Throttle, send_via};
use crate::runner::RunError;

/// How the in-memory service answers one operation.
#[derive(Clone, Copy)]
enum Answer {
    /// 200 after this long.
    Ok(Duration),
    /// 400 at once: a failure no retry mends.
    Refused,
    /// The host cannot even address the call (e.g. an unknown source).
    Local,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Event {
    Intent(String),
    CallStart(String, Duration),
    CallEnd(String, Duration),
    Outcome(String),
}

struct Memory {
    throttle: Arc<Throttle>,
    policy: Arc<RetryPolicy>,
    answers: HashMap<String, Answer>,
    log: Arc<Mutex<Vec<Event>>>,
    epoch: Instant,
    in_flight: Arc<AtomicUsize>,
    most_in_flight: Arc<AtomicUsize>,
}

impl Memory {
    fn new(per_minute: u32, max_concurrency: usize, answers: &[(&str, Answer)]) -> Memory {
        Memory {
            throttle: Throttle::new(per_minute, max_concurrency),
            policy: Arc::new(RetryPolicy::default()),
            answers: answers
                .iter()
                .map(|(id, a)| ((*id).to_string(), *a))
                .collect(),
            log: Arc::default(),
            epoch: Instant::now(),
            in_flight: Arc::default(),
            most_in_flight: Arc::default(),
        }
    }

    fn events(&self) -> Vec<Event> {
        self.log.lock().expect("the log is not poisoned").clone()
    }

    /// When each call started, in the order they started.
    fn starts(&self) -> Vec<(String, Duration)> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Event::CallStart(id, at) => Some((id, at)),
                _ => None,
            })
            .collect()
    }

    fn ends(&self) -> HashMap<String, Duration> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Event::CallEnd(id, at) => Some((id, at)),
                _ => None,
            })
            .collect()
    }
}

impl ApplyTarget for Memory {
    type Call = Pin<Box<dyn Future<Output = OutcomeResult> + Send>>;

    fn start(&mut self, op: &PlannedOp) -> Result<Result<Self::Call, String>, RunError> {
        let log = Arc::clone(&self.log);
        log.lock()
            .expect("the log is not poisoned")
            .push(Event::Intent(op.op_id.clone()));
        let answer = self
            .answers
            .get(&op.op_id)
            .copied()
            .unwrap_or(Answer::Ok(Duration::ZERO));
        if matches!(answer, Answer::Local) {
            return Ok(Err("no such source".into()));
        }
        let (throttle, policy) = (Arc::clone(&self.throttle), Arc::clone(&self.policy));
        let (in_flight, most) = (
            Arc::clone(&self.in_flight),
            Arc::clone(&self.most_in_flight),
        );
        let (id, epoch) = (op.op_id.clone(), self.epoch);
        Ok(Ok(Box::pin(async move {
            let attempt = || {
                let (log, in_flight, most, id) = (&log, &in_flight, &most, &id);
                async move {
                    let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    log.lock()
                        .expect("the log is not poisoned")
                        .push(Event::CallStart(id.clone(), epoch.elapsed()));
                    let status = match answer {
                        Answer::Ok(latency) => {
                            tokio::time::sleep(latency).await;
                            200
                        }
                        _ => 400,
                    };
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                    log.lock()
                        .expect("the log is not poisoned")
                        .push(Event::CallEnd(id.clone(), epoch.elapsed()));
                    let answer = http::Response::builder()
                        .status(status)
                        .body("{}")
                        .expect("a valid in-memory answer");
                    Ok(Ok(Response::from(answer)))
                }
            };
            match send_via("Test", &throttle, &policy, Method::POST, "/op", attempt).await {
                Ok((status, _, _)) if status.is_success() => {
                    OutcomeResult::Succeeded { remote_id: None }
                }
                Ok((status, _, _)) => OutcomeResult::Failed {
                    error: format!("answered {status}"),
                },
                Err(e) => OutcomeResult::Failed {
                    error: e.to_string(),
                },
            }
        })))
    }

    fn finished(&mut self, outcome: &OpOutcome) -> Result<(), RunError> {
        self.log
            .lock()
            .expect("the log is not poisoned")
            .push(Event::Outcome(outcome.op_id.clone()));
        Ok(())
    }
}

fn op(op_id: &str, entity: OpEntity, depends_on: &[&str]) -> PlannedOp {
    let alias: Shared = format!("d:{op_id}").into();
    let action = match entity {
        OpEntity::Course => Action::ClassroomCreateCourse {
            alias,
            course: serde_json::json!({}),
        },
        OpEntity::Teacher => Action::ClassroomAddTeacher {
            alias,
            user_id: format!("{op_id}@district.org").into(),
        },
        _ => Action::ClassroomAddStudent {
            alias,
            user_id: format!("{op_id}@district.org").into(),
        },
    };
    PlannedOp {
        op_id: op_id.into(),
        key: format!("key:{op_id}"),
        entity,
        change: OpChange::Create,
        depends_on: depends_on.iter().map(|d| Shared::from(*d)).collect(),
        class_id: None,
        school_id: None,
        person: None,
        summary: op_id.into(),
        before: None,
        after: None,
        action,
        why: None,
        effect: StateEffect::MemberAdded {
            class_id: "c".into(),
            role: MemberRole::Student,
            email: format!("{op_id}@district.org").into(),
        },
    }
}

fn many(prefix: &str, entity: OpEntity, n: usize) -> Vec<PlannedOp> {
    (0..n)
        .map(|i| op(&format!("{prefix}{i}"), entity, &[]))
        .collect()
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// A quota so large that its spacing (14 ns) does not matter. Tokio's timer rounds a wait up
/// to the next millisecond, so each spaced start may come up to 1 ms late: hence `SLACK`.
const UNMETERED: u32 = u32::MAX;
const SLACK: Duration = Duration::from_millis(20);

fn near(at: Duration, expected: Duration) -> bool {
    at >= expected && at <= expected + SLACK
}

#[tokio::test(start_paused = true)]
async fn each_wave_starts_only_when_every_call_of_the_one_before_has_answered() {
    let mut ops = vec![
        op("c0", OpEntity::Course, &[]),
        op("c1", OpEntity::Course, &[]),
    ];
    ops.extend(many("t", OpEntity::Teacher, 4));
    ops.extend(many("s", OpEntity::Student, 6));
    let mut answers: Vec<(String, Answer)> = vec![
        ("c0".into(), Answer::Ok(secs(3.0))),
        ("c1".into(), Answer::Ok(secs(7.0))),
    ];
    answers.extend((0..4).map(|i| (format!("t{i}"), Answer::Ok(secs(1.0)))));
    answers.extend((0..6).map(|i| (format!("s{i}"), Answer::Ok(secs(2.0)))));
    let answers: Vec<(&str, Answer)> = answers.iter().map(|(i, a)| (i.as_str(), *a)).collect();
    let mut memory = Memory::new(UNMETERED, 8, &answers);

    let outcomes = apply_in_waves(&ops, &mut memory).await.expect("applied");

    assert_eq!(outcomes.len(), ops.len());
    let starts = memory.starts();
    let start_of = |prefix: &str| {
        starts
            .iter()
            .filter(|(id, _)| id.starts_with(prefix))
            .map(|(_, at)| *at)
            .collect::<Vec<_>>()
    };
    // The slowest course answers at 7 s: no teacher is added before it.
    for at in start_of("t") {
        assert!(near(at, secs(7.0)), "a teacher started at {at:?}");
    }
    // The teachers answer at 8 s: then, and only then, the students.
    for at in start_of("s") {
        assert!(near(at, secs(8.0)), "a student started at {at:?}");
    }
    // Within a wave nobody waits for anybody: the two courses went out together.
    for at in start_of("c") {
        assert!(near(at, Duration::ZERO), "a course started at {at:?}");
    }
    let last_end = memory.ends().into_values().max().expect("calls were made");
    assert!(near(last_end, secs(10.0)), "{last_end:?}");
}

#[tokio::test(start_paused = true)]
async fn within_a_wave_calls_overlap_up_to_the_concurrency_cap_and_no_further() {
    let ops = many("s", OpEntity::Student, 20);
    let answers: Vec<(String, Answer)> = (0..20)
        .map(|i| (format!("s{i}"), Answer::Ok(secs(1.0))))
        .collect();
    let answers: Vec<(&str, Answer)> = answers.iter().map(|(i, a)| (i.as_str(), *a)).collect();
    let mut memory = Memory::new(UNMETERED, 4, &answers);
    let begun = Instant::now();

    apply_in_waves(&ops, &mut memory).await.expect("applied");

    assert_eq!(memory.most_in_flight.load(Ordering::SeqCst), 4);
    // 20 one-second calls, four at a time: five rounds.
    let took = begun.elapsed();
    assert!(near(took, secs(5.0)), "{took:?}");
}

#[tokio::test(start_paused = true)]
async fn waves_spend_the_whole_quota_and_the_barrier_between_them_costs_none() {
    // 600 a minute is one call every 100 ms. Calls answer at once, so the quota is the only
    // limit: the 30 courses and then 270 students must start exactly 100 ms apart, with no gap
    // where one wave hands over to the next.
    let mut ops = many("c", OpEntity::Course, 30);
    ops.extend(many("s", OpEntity::Student, 270));
    let mut memory = Memory::new(600, 8, &[]);

    apply_in_waves(&ops, &mut memory).await.expect("applied");

    let starts = memory.starts();
    assert_eq!(starts.len(), 300);
    for (i, (id, at)) in starts.iter().enumerate() {
        let slot = Duration::from_millis(100) * u32::try_from(i).expect("small");
        assert_eq!(*at, slot, "call {i} ({id}) started off its quota slot");
    }
    assert!(starts[..30].iter().all(|(id, _)| id.starts_with('c')));
}

#[tokio::test(start_paused = true)]
async fn members_of_a_course_that_failed_are_never_attempted_and_every_call_is_journalled() {
    let ops = vec![
        op("c-refused", OpEntity::Course, &[]),
        op("c-local", OpEntity::Course, &[]),
        op("c-ok", OpEntity::Course, &[]),
        op("s-of-refused", OpEntity::Student, &["c-refused"]),
        op("s-of-local", OpEntity::Student, &["c-local"]),
        op("s-of-ok", OpEntity::Student, &["c-ok"]),
        op("s-of-both", OpEntity::Student, &["c-ok", "c-refused"]),
    ];
    let mut memory = Memory::new(
        UNMETERED,
        8,
        &[("c-refused", Answer::Refused), ("c-local", Answer::Local)],
    );

    let outcomes = apply_in_waves(&ops, &mut memory).await.expect("applied");

    let status = |id: &str| match &outcomes[id].result {
        OutcomeResult::Succeeded { .. } => "succeeded",
        OutcomeResult::Failed { .. } => "failed",
        OutcomeResult::NotAttempted => "notAttempted",
    };
    assert_eq!(status("c-refused"), "failed");
    assert_eq!(status("c-local"), "failed");
    assert_eq!(status("c-ok"), "succeeded");
    assert_eq!(status("s-of-refused"), "notAttempted");
    assert_eq!(status("s-of-local"), "notAttempted");
    assert_eq!(status("s-of-both"), "notAttempted");
    assert_eq!(status("s-of-ok"), "succeeded");
    // A refused call is answered at once: a 4xx is not retried.
    let calls = memory.starts();
    assert_eq!(calls.iter().filter(|(id, _)| id == "c-refused").count(), 1);

    // The journal: an intent before every call and an outcome after it; an operation that
    // was not attempted has neither, so the next plan retries it; a local failure has both.
    let events = memory.events();
    let at = |e: &Event| events.iter().position(|x| x == e);
    for id in ["c-refused", "c-ok", "s-of-ok"] {
        let intent = at(&Event::Intent(id.into())).expect("intent journalled");
        let outcome = at(&Event::Outcome(id.into())).expect("outcome journalled");
        let start = events
            .iter()
            .position(|e| matches!(e, Event::CallStart(x, _) if x == id))
            .expect("called");
        assert!(intent < start && start < outcome, "{id}: {events:?}");
    }
    let local_intent = at(&Event::Intent("c-local".into())).expect("intent journalled");
    let local_outcome = at(&Event::Outcome("c-local".into())).expect("outcome journalled");
    assert!(local_intent < local_outcome);
    assert!(!calls.iter().any(|(id, _)| id == "c-local"));
    for id in ["s-of-refused", "s-of-local", "s-of-both"] {
        assert_eq!(at(&Event::Intent(id.into())), None, "{id} was journalled");
        assert!(!calls.iter().any(|(x, _)| x == id), "{id} was called");
    }
}
