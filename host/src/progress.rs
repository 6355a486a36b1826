//! Progress of long phases: on stderr for a person at a terminal (hidden when stderr is not a
//! terminal or the output is JSON, so scripts see only the result), and readable by the
//! console, which shows the running job's phase, count and time left.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

#[derive(Clone, Default)]
pub struct Progress {
    pub visible: bool,
    /// The phase under way: the last bar or spinner made (clones share their counters).
    current: Arc<Mutex<Option<ProgressBar>>>,
    /// Requests sent to Classroom and to the SIS since the job began.
    classroom_requests: Arc<AtomicU64>,
    sis_requests: Arc<AtomicU64>,
}

/// Where a run is, as the console shows it.
#[derive(Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PhaseProgress {
    /// "Reading riverside users", "Planning: chunks fed to the engine", "Applying", ...
    pub phase: String,
    /// Done so far in this phase.
    pub done: u64,
    /// The phase's size, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// Time left at the pace so far, when the size is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eta_seconds: Option<u64>,
    /// Requests sent to Classroom since the job began (retries included).
    pub classroom_requests: u64,
    /// Requests sent to the SIS since the job began.
    pub sis_requests: u64,
}

impl Progress {
    pub fn new(visible: bool) -> Self {
        Progress {
            visible,
            current: Arc::default(),
            classroom_requests: Arc::default(),
            sis_requests: Arc::default(),
        }
    }

    /// The counter a Classroom client counts its requests into.
    pub fn classroom_requests(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.classroom_requests)
    }

    /// The counter SIS clients count their requests into.
    pub fn sis_requests(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.sis_requests)
    }

    fn watch(&self, bar: &ProgressBar) {
        *self
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(bar.clone());
    }

    pub fn spinner(&self, message: impl Into<String>) -> ProgressBar {
        let bar = ProgressBar::new_spinner();
        if !self.visible {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        }
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} {pos}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_message(message.into());
        if self.visible {
            bar.enable_steady_tick(Duration::from_millis(120));
        }
        self.watch(&bar);
        bar
    }

    pub fn bar(&self, len: u64, message: impl Into<String>) -> ProgressBar {
        let bar = ProgressBar::new(len);
        if !self.visible {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        }
        bar.set_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_message(message.into());
        self.watch(&bar);
        bar
    }

    /// The phase under way, if any has started.
    pub fn phase(&self) -> Option<PhaseProgress> {
        let current = self
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let bar = current.as_ref()?;
        let total = bar.length().filter(|&n| n > 0);
        let done = bar.position();
        Some(PhaseProgress {
            phase: bar.message(),
            done,
            total,
            eta_seconds: total
                .filter(|&t| done > 0 && done < t)
                .map(|_| bar.eta().as_secs()),
            classroom_requests: self.classroom_requests.load(Ordering::Relaxed),
            sis_requests: self.sis_requests.load(Ordering::Relaxed),
        })
    }

    /// Forgets the last phase and the request counts (a new job starts).
    pub fn reset(&self) {
        *self
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
        self.classroom_requests.store(0, Ordering::Relaxed);
        self.sis_requests.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_console_reads_the_phase_under_way() {
        let progress = Progress::new(false);
        assert_eq!(progress.phase(), None);
        let spinner = progress.spinner("Reading riverside users");
        spinner.inc(3);
        assert_eq!(
            progress.phase(),
            Some(PhaseProgress {
                phase: "Reading riverside users".into(),
                done: 3,
                total: None,
                eta_seconds: None,
                classroom_requests: 0,
                sis_requests: 0,
            })
        );
        let bar = progress.bar(10, "Applying");
        bar.inc(4);
        let phase = progress.phase().unwrap();
        assert_eq!(
            (phase.phase.as_str(), phase.done, phase.total),
            ("Applying", 4, Some(10))
        );
        assert!(phase.eta_seconds.is_some());
        progress.sis_requests().fetch_add(2, Ordering::Relaxed);
        assert_eq!(progress.phase().unwrap().sis_requests, 2);
        progress.reset();
        assert_eq!(progress.phase(), None);
        assert_eq!(progress.sis_requests().load(Ordering::Relaxed), 0);
    }
}
