//! Syncs and approvals run as background jobs, one at a time, on a thread of their own: the
//! console's requests are answered from their own database connection while a job reads
//! the SIS, plans in the engine and applies, so no admin ever waits on a run to see a page.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as SyncMutex};

use serde::Serialize;
use serde_json::Value;
use tokio::sync::Mutex;

use crate::progress::{PhaseProgress, Progress};
use crate::runner::{Host, RunError, RunErrorKind, RunReport};

/// What a job does.
#[derive(Clone, Debug)]
pub enum JobKind {
    /// A sync (fetch, plan, apply unless held).
    Sync,
    /// An admin's approval of a pending run, leaving out `reject`.
    Approve { run: i64, reject: Vec<String> },
    /// Planning the undo of an applied run (it then waits for approval as a run of its own).
    Undo { run: i64 },
}

impl JobKind {
    fn name(&self) -> &'static str {
        match self {
            JobKind::Sync => "sync",
            JobKind::Approve { .. } => "approve",
            JobKind::Undo { .. } => "undo",
        }
    }
}

#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum JobState {
    Running,
    Finished,
    Failed,
}

/// A job as the console shows it.
#[derive(Serialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct JobView {
    pub id: u64,
    /// "sync", "approve" or "undo".
    pub kind: &'static str,
    /// Who started it: "console" or "schedule".
    pub trigger: String,
    /// The run approved, or (once known) the run the sync made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run: Option<i64>,
    pub state: JobState,
    pub started_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// The phase under way while it runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<PhaseProgress>,
    /// The run's report once finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<Value>,
    /// Why it failed, in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The HTTP status the failure maps to (a stale approval is 409, a bad op id 400).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_status: Option<u16>,
}

pub struct Jobs {
    host: Arc<Mutex<Host>>,
    progress: Progress,
    last: SyncMutex<Option<JobView>>,
    next_id: AtomicU64,
    /// Prepares a finished job's run for review before the job is reported done.
    warm: std::sync::OnceLock<Warm>,
}

/// What [`Jobs::set_warm`] takes.
pub(super) type Warm = Box<dyn Fn(&RunReport) + Send + Sync>;

fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The HTTP status a failed run maps to.
pub(super) fn status_of(kind: RunErrorKind) -> u16 {
    match kind {
        RunErrorKind::Config => 422,
        RunErrorKind::Connection => 502,
        RunErrorKind::NotFound => 404,
        RunErrorKind::BadRequest => 400,
        RunErrorKind::Failed | RunErrorKind::Busy | RunErrorKind::State => 409,
    }
}

impl Jobs {
    pub fn new(host: Arc<Mutex<Host>>, progress: Progress) -> Arc<Jobs> {
        Arc::new(Jobs {
            host,
            progress,
            last: SyncMutex::new(None),
            next_id: AtomicU64::new(1),
            warm: std::sync::OnceLock::new(),
        })
    }

    /// Sets what prepares a finished job's run for review (once).
    pub(super) fn set_warm(&self, warm: Warm) {
        let _ = self.warm.set(warm);
    }

    fn last(&self) -> std::sync::MutexGuard<'_, Option<JobView>> {
        self.last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The running job, or the last one that finished.
    pub fn view(&self) -> Option<JobView> {
        let mut view = self.last().clone()?;
        if view.state == JobState::Running {
            view.progress = self.progress.phase();
        }
        Some(view)
    }

    /// Starts `kind` unless a job is running, in which case that job is the error. An
    /// approval's checks (pending, current, known op ids) are answered on `checked` before
    /// anything is applied.
    pub fn start(
        self: &Arc<Self>,
        kind: JobKind,
        trigger: &str,
        checked: Option<tokio::sync::oneshot::Sender<Result<(), (String, u16)>>>,
    ) -> Result<JobView, Box<JobView>> {
        let view = {
            let mut last = self.last();
            if let Some(running) = last.as_ref().filter(|j| j.state == JobState::Running) {
                return Err(Box::new(running.clone()));
            }
            let view = JobView {
                id: self.next_id.fetch_add(1, Ordering::Relaxed),
                kind: kind.name(),
                trigger: trigger.to_string(),
                run: match &kind {
                    JobKind::Approve { run, .. } => Some(*run),
                    JobKind::Sync | JobKind::Undo { .. } => None,
                },
                state: JobState::Running,
                started_at: now(),
                finished_at: None,
                progress: None,
                report: None,
                error: None,
                error_status: None,
            };
            *last = Some(view.clone());
            view
        };
        self.progress.reset();
        let jobs = Arc::clone(self);
        let id = view.id;
        let trigger = trigger.to_string();
        let refused = Arc::clone(self);
        let work = tokio::task::spawn_blocking(move || {
            // Its own thread: the engine's long calls never occupy the threads that answer
            // the console.
            let handle = tokio::runtime::Handle::current();
            handle.block_on(async {
                let mut host = jobs.host.lock().await;
                match kind {
                    JobKind::Sync => host.run(&trigger, true).await,
                    JobKind::Undo { run } => host.undo(run).await,
                    JobKind::Approve { run, reject } => {
                        let tell = |result: Result<(), &RunError>| {
                            let answer = result.map_err(|e| (e.describe(), status_of(e.kind())));
                            // A refused approval is over at once: the admin who corrects it
                            // and tries again must not be told it is still being applied
                            // while the host tidies up after it.
                            if let Err(refusal) = &answer {
                                refused.finish(id, Err(refusal.clone()));
                            }
                            if let Some(tx) = checked {
                                let _ = tx.send(answer);
                            }
                        };
                        host.approve_reporting(run, reject, &trigger, tell).await
                    }
                }
            })
        });
        let jobs = Arc::clone(self);
        tokio::spawn(async move {
            let outcome = match work.await {
                Ok(result) => result.map_err(|e| {
                    tracing::warn!(job = id, error = %e.describe(), "console job failed");
                    (e.describe(), status_of(e.kind()))
                }),
                Err(e) => {
                    tracing::error!(job = id, error = %e, "console job crashed");
                    Err((format!("the job stopped unexpectedly: {e}"), 500))
                }
            };
            // The run's page is ready when the job says it is done (off the async threads:
            // a district's plan takes a moment to index).
            let warming = Arc::clone(&jobs);
            let outcome = tokio::task::spawn_blocking(move || {
                if let (Ok(report), Some(warm)) = (&outcome, warming.warm.get()) {
                    warm(report);
                }
                outcome
            })
            .await
            .unwrap_or_else(|e| Err((format!("the job stopped unexpectedly: {e}"), 500)));
            jobs.finish(id, outcome);
        });
        Ok(view)
    }

    fn finish(&self, id: u64, outcome: Result<RunReport, (String, u16)>) {
        let mut last = self.last();
        let Some(view) = last.as_mut().filter(|j| j.id == id) else {
            return;
        };
        view.finished_at = Some(now());
        match outcome {
            Ok(report) => {
                view.state = JobState::Finished;
                view.run = Some(report.run);
                view.report = serde_json::to_value(&report).ok();
            }
            Err((error, status)) => {
                view.state = JobState::Failed;
                view.error = Some(error);
                view.error_status = Some(status);
            }
        }
    }

    /// Waits for the running job, if any, to finish (the schedule waits its turn this way).
    pub async fn wait_idle(&self) {
        while self
            .last()
            .as_ref()
            .is_some_and(|j| j.state == JobState::Running)
        {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }
}
