//! Faults a test can switch on in a stand-in, to see the host survive what real servers do.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

#[derive(Default)]
pub struct Faults {
    /// The next N requests answer 503.
    pub server_errors: AtomicU32,
    /// The next N requests answer 429 with Retry-After: 1.
    pub rate_limited: AtomicU32,
    /// Milliseconds added to every answer.
    pub slow_ms: AtomicU64,
    /// Collection pages after the first come back empty without a total: a truncated read.
    pub truncate_after_first_page: AtomicBool,
    /// Pages are malformed JSON.
    pub malformed_json: AtomicBool,
    /// Pages lack their envelope key.
    pub missing_envelope: AtomicBool,
    /// `limit` is capped at this many records, silently, with no count header (0 = off).
    pub silent_limit_cap: AtomicU32,
    /// Issued tokens expire after this many uses (0 = never).
    pub token_uses: AtomicU32,
    /// The next N requests answer 429 with `Retry-After: 18446744073709551615` (u64::MAX).
    pub hostile_retry_after: AtomicU32,
    /// Collection pages name their next page with `Link: <this origin + same path>; rel="next"`:
    /// set to another server's origin to see whether a client follows a link off-site.
    pub next_link_origin: Mutex<Option<String>>,
    /// Pages never run out: past the end, each offset serves fresh made-up records (no count).
    pub endless_pages: AtomicBool,
    /// Each collection page carries this many bytes of padding (a flood of a response).
    pub padding_bytes: AtomicU64,
    /// An offset past the end is answered with the last page again, with no count (some SIS
    /// do this instead of an empty page).
    pub repeat_last_page_past_end: AtomicBool,
    /// `offset` is ignored: every page is the first one, with no count.
    pub ignore_offset: AtomicBool,
    /// The next N successful writes (POST, PUT, PATCH, DELETE) are applied, then answered 503:
    /// the client cannot know the write happened.
    pub fail_after_write: AtomicU32,
    /// The next N successful writes are applied, then never answered: the client times out.
    pub hang_after_write: AtomicU32,
    /// The next N successful creates answer 200 with an empty object: no id.
    pub omit_created_id: AtomicU32,
    /// Every request hangs this long before answering (ms), to trip client timeouts.
    pub hang_ms: AtomicU64,
    /// Records (by sourcedId) collection pages leave out, with no count to tell: a record
    /// that shifted between pages, or a tail never served. Asked for by id, they are there.
    pub unlisted: Mutex<std::collections::HashSet<String>>,
    /// Records the test changes keep their old `dateLastModified` (a SIS that does not
    /// maintain it): delta reads miss them until a full read.
    pub stale_modified_dates: AtomicBool,
    /// Records the test deletes simply vanish: delta reads are not told (no `tobedeleted`
    /// record), so only a full read finds the deletion.
    pub no_tombstones: AtomicBool,
    /// After this many more successful writes, the last one applied, the switch is pulled
    /// (the test kills the client) and the answer never comes: a crash between a remote
    /// success and the client's record of it.
    pub kill_switch: Mutex<Option<KillSwitch>>,
}

/// A crash armed to happen right after the n-th write from now is applied.
pub struct KillSwitch {
    pub after_writes: u32,
    pub pull: Box<dyn FnOnce() + Send>,
}

/// What to do to an answer after the write it reports was applied.
pub enum AfterWrite {
    Answer,
    Fail503,
    Hang,
    OmitId,
}

impl Faults {
    /// The fault, if any, for an answer to a successful write.
    pub fn after_write(&self, method: &axum::http::Method, ok: bool) -> AfterWrite {
        use axum::http::Method;
        let write = matches!(
            *method,
            Method::POST | Method::PUT | Method::PATCH | Method::DELETE
        );
        if !write || !ok {
            AfterWrite::Answer
        } else if self.count_down_to_kill() {
            AfterWrite::Hang
        } else if Self::take(&self.fail_after_write) {
            AfterWrite::Fail503
        } else if Self::take(&self.hang_after_write) {
            AfterWrite::Hang
        } else if *method == Method::POST && Self::take(&self.omit_created_id) {
            AfterWrite::OmitId
        } else {
            AfterWrite::Answer
        }
    }

    /// Counts a successful write against the armed kill switch; pulls it (and answers never)
    /// when this write is the one.
    fn count_down_to_kill(&self) -> bool {
        let Ok(mut armed) = self.kill_switch.lock() else {
            return false;
        };
        let Some(switch) = armed.as_mut() else {
            return false;
        };
        switch.after_writes = switch.after_writes.saturating_sub(1);
        if switch.after_writes > 0 {
            return false;
        }
        if let Some(switch) = armed.take() {
            (switch.pull)();
        }
        true
    }

    /// Arms the kill switch: `pull` runs right after the n-th successful write from now.
    pub fn kill_after_write(&self, n: u32, pull: impl FnOnce() + Send + 'static) {
        if let Ok(mut armed) = self.kill_switch.lock() {
            *armed = Some(KillSwitch {
                after_writes: n.max(1),
                pull: Box::new(pull),
            });
        }
    }

    /// Takes one from a counter; true when the fault fires.
    pub fn take(counter: &AtomicU32) -> bool {
        counter
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }

    /// Leaves these records out of every listing from now on.
    pub fn unlist(&self, ids: &[&str]) {
        if let Ok(mut unlisted) = self.unlisted.lock() {
            unlisted.extend(ids.iter().map(std::string::ToString::to_string));
        }
    }

    pub fn on(flag: &AtomicBool) -> bool {
        flag.load(Ordering::SeqCst)
    }
}
