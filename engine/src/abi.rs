//! The plain WebAssembly ABI, for wasmtime and for partners embedding the engine from any
//! language (version [`ABI_VERSION`]; the README's ABI section has every entry and a worked
//! session). The calling convention, unchanged since version 1:
//!
//! - `cb_abi_version() -> i32` — [`ABI_VERSION`].
//! - `cb_alloc(len: i32) -> i32` — a buffer of `len` bytes in the module's memory.
//! - `cb_free(ptr: i32, len: i32)` — gives back a buffer from `cb_alloc` or a result.
//! - `cb_plan`, `cb_approve`, `cb_approve_ops`, `cb_commit`, `cb_commit_changes`,
//!   `cb_validate_config`
//!   `(ptr: i32, len: i32) -> i64` —
//!   read a UTF-8 JSON request from `[ptr, ptr+len)` (the caller frees it afterwards) and return
//!   `(result_ptr << 32) | result_len`: a JSON envelope the caller reads, then frees with
//!   `cb_free`. The envelope is `{"abiVersion":6,"ok":…}` or `{"abiVersion":6,"error":{"kind":…,
//!   "message":…}}`.
//!
//! Requests: plan takes a `SyncInput`; approve `{"plan":…,"decisions":{"reject":[…]}}`;
//! approve_ops `{"planId":…,"ops":[{"opId":…,"dependsOn":[…]}],"decisions":…}`; commit
//! and commit_changes `{"state":…,"plan":…,"outcomes":[…]}` (commit answers the next state,
//! commit_changes only the rows that change, as [`crate::StateChanges`]); validate
//! `{"config":…}`. The module imports nothing.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::commit_rows::{CommitNeedsRequest, CommitRowsRequest};
use crate::plan_to_commit::PlanToCommit;
use crate::session::{OpsRequest, PlanSession, SessionStart};
use crate::{Decisions, EngineError, OpOutcome, SyncConfig, SyncPlan, SyncState};

/// The ABI's version: every answer carries it as `abiVersion`. Version 2 adds the plan
/// session (`cb_session_*`), `cb_commit_changes`, `cb_commit_needs` and `cb_commit_rows`;
/// version 3 adds `cb_session_needs` and enrolment slices; version 4 adds `cb_undo` and
/// plans' explanations (`why`, `skippedRecords`); version 5 gives a session's plan id with
/// its last page of operations (`planId`), the header's id being blank; version 6 adds
/// `cb_approve_ops`. Earlier versions' entries are unchanged.
pub const ABI_VERSION: u32 = 6;

// The request and answer types, written once: the engine reads them, the host (and any Rust
// embedder) writes them. `Cow` lets a caller send borrowed data; the engine reads owned.

/// `cb_approve`'s request.
#[derive(Serialize, Deserialize, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct ApproveRequest<'a> {
    /// The pending plan.
    pub plan: Cow<'a, SyncPlan>,
    /// The operations the admin rejected.
    #[serde(default)]
    pub decisions: Cow<'a, Decisions>,
}

/// `cb_approve_ops`'s request: what deciding an approval needs of a plan, its operations'
/// ids and dependencies in plan order. A district's grade export is hundreds of thousands of
/// operations, each with its request body and explanation: sent whole to `cb_approve`, they
/// and their copy in the answer took gigabytes of the module's memory.
#[derive(Serialize, Deserialize, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct ApproveOpsRequest<'a> {
    /// The plan's id.
    pub plan_id: Cow<'a, str>,
    /// Whether the plan carries an approval already (it is then refused).
    #[serde(default)]
    pub approved: bool,
    /// Its operations, in plan order.
    pub ops: Vec<OpLink>,
    /// The operations the admin rejected.
    #[serde(default)]
    pub decisions: Cow<'a, Decisions>,
}

impl<'a> ApproveOpsRequest<'a> {
    /// The request that approves `plan` with `decisions`.
    pub fn of(plan: &'a SyncPlan, decisions: &'a Decisions) -> Self {
        ApproveOpsRequest {
            plan_id: Cow::Borrowed(&plan.id),
            approved: plan.approval.is_some(),
            ops: plan
                .ops
                .iter()
                .map(|o| OpLink {
                    op_id: o.op_id.clone(),
                    depends_on: o.depends_on.iter().map(ToString::to_string).collect(),
                })
                .collect(),
            decisions: Cow::Borrowed(decisions),
        }
    }
}

/// An operation as an approval sees it.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct OpLink {
    /// The operation's id.
    pub op_id: String,
    /// The operations it depends on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
}

/// `cb_commit`'s request.
#[derive(Serialize, Deserialize, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct CommitRequest<'a> {
    /// The state the plan was made from.
    pub state: Cow<'a, SyncState>,
    /// The plan that was applied (a whole [`SyncPlan`] reads as one).
    pub plan: PlanToCommit<'a>,
    /// What became of each operation.
    #[serde(default)]
    pub outcomes: Cow<'a, [OpOutcome]>,
}

/// `cb_validate_config`'s request.
#[derive(Serialize, Deserialize, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ValidateRequest<'a> {
    /// The rules to check.
    pub config: Cow<'a, SyncConfig>,
}

/// `cb_validate_config`'s answer.
#[derive(Serialize, Deserialize, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Validity {
    /// Always true: an invalid config is an `invalidConfig` error instead.
    pub valid: bool,
}

/// Every answer: `{"abiVersion":1,"ok":…}` or `{"abiVersion":1,"error":{"kind":…,"message":…,…}}`.
#[derive(Serialize, Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Envelope<T> {
    /// [`ABI_VERSION`].
    pub abi_version: u32,
    /// The answer, on success.
    #[serde(default = "Option::default", skip_serializing_if = "Option::is_none")]
    pub ok: Option<T>,
    /// The refusal: `kind` and `message`, with the fields of [`EngineError`]'s variant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
}

/// The engine operations the ABI exposes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Entry {
    /// `cb_plan`: a [`crate::SyncInput`] in, a [`SyncPlan`] out.
    Plan,
    /// `cb_approve`: an [`ApproveRequest`] in, the approved [`SyncPlan`] out.
    Approve,
    /// `cb_approve_ops`: an [`ApproveOpsRequest`] in, the [`crate::plan::Approval`] out (the
    /// operations rejected and dropped with them; every other is approved).
    ApproveOps,
    /// `cb_commit`: a [`CommitRequest`] in, the next [`SyncState`] out.
    Commit,
    /// `cb_commit_changes`: a [`CommitRequest`] in, the rows it changes
    /// ([`crate::StateChanges`]) out: what a host that keeps the state as rows writes.
    CommitChanges,
    /// `cb_commit_needs`: a [`crate::commit_rows::CommitNeedsRequest`] in, the state rows
    /// committing it reads ([`crate::commit_rows::RowKey`]s) out.
    CommitNeeds,
    /// `cb_commit_rows`: a [`crate::commit_rows::CommitRowsRequest`] (the plan, the outcomes,
    /// and the rows `cb_commit_needs` named) in, the rows it changes
    /// ([`crate::StateChanges`]) out.
    CommitRows,
    /// `cb_validate_config`: a [`ValidateRequest`] in, [`Validity`] out.
    ValidateConfig,
    /// `cb_session_begin`: a [`crate::session::SessionStart`] in,
    /// [`crate::session::SessionExpects`] out; starts the instance's plan session (replacing
    /// any earlier one).
    SessionBegin,
    /// `cb_session_feed`: one [`crate::session::Chunk`] in, [`crate::session::Fed`] out.
    SessionFeed,
    /// `cb_session_finish`: an empty request in, [`crate::session::PlanHeader`] out.
    SessionFinish,
    /// `cb_session_ops`: a [`crate::session::OpsRequest`] in, [`crate::session::OpsPage`] out.
    SessionOps,
    /// `cb_session_needs`: [`crate::needs::NeedsFacts`] in, [`crate::needs::EnrollmentNeeds`]
    /// out: which enrolments the run needs, asked after everything else is fed.
    SessionNeeds,
    /// `cb_undo`: a [`crate::undo::UndoRequest`] in, the undo's [`SyncPlan`] out.
    Undo,
}

impl Entry {
    /// The module's export for this entry.
    pub const fn export(self) -> &'static str {
        match self {
            Entry::Plan => "cb_plan",
            Entry::Approve => "cb_approve",
            Entry::ApproveOps => "cb_approve_ops",
            Entry::Commit => "cb_commit",
            Entry::CommitChanges => "cb_commit_changes",
            Entry::CommitNeeds => "cb_commit_needs",
            Entry::CommitRows => "cb_commit_rows",
            Entry::ValidateConfig => "cb_validate_config",
            Entry::SessionBegin => "cb_session_begin",
            Entry::SessionFeed => "cb_session_feed",
            Entry::SessionFinish => "cb_session_finish",
            Entry::SessionOps => "cb_session_ops",
            Entry::SessionNeeds => "cb_session_needs",
            Entry::Undo => "cb_undo",
        }
    }
}

/// An answer the engine writes itself (from data in place, with no copy to serialise).
fn ok_written(
    write: impl FnOnce(&mut Vec<u8>) -> Result<(), EngineError>,
) -> Result<Vec<u8>, EngineError> {
    let mut out = format!(r#"{{"abiVersion":{ABI_VERSION},"ok":"#).into_bytes();
    write(&mut out)?;
    out.push(b'}');
    Ok(out)
}

fn ok<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = format!(r#"{{"abiVersion":{ABI_VERSION},"ok":"#).into_bytes();
    match serde_json::to_writer(&mut out, value) {
        Ok(()) => {
            out.push(b'}');
            out
        }
        Err(e) => error_envelope("serialization", &e.to_string(), None),
    }
}

fn error_envelope(kind: &str, message: &str, detail: Option<Value>) -> Vec<u8> {
    let mut error = json!({"kind": kind, "message": message});
    if let Some(Value::Object(detail)) = detail {
        for (k, v) in detail {
            error[k] = v;
        }
    }
    serde_json::to_vec(&json!({"abiVersion": ABI_VERSION, "error": error})).unwrap_or_default()
}

fn engine_error(e: EngineError) -> Vec<u8> {
    let detail = serde_json::to_value(&e).ok();
    let kind = detail
        .as_ref()
        .and_then(|d| d["kind"].as_str())
        .unwrap_or("engine")
        .to_string();
    error_envelope(&kind, &e.to_string(), detail)
}

fn parse<'a, T: Deserialize<'a>>(input: &'a [u8]) -> Result<T, Vec<u8>> {
    serde_json::from_slice(input)
        .map_err(|e| error_envelope("invalidRequest", &format!("request JSON: {e}"), None))
}

/// Runs one entry on a JSON request and returns the JSON envelope. Natively testable; the
/// wasm exports below are thin wrappers.
pub fn dispatch(entry: Entry, input: &[u8]) -> Vec<u8> {
    // Requests carry a district's state: its repeated strings are read once each.
    crate::model::interning(|| dispatch_request(entry, input))
}

fn dispatch_request(entry: Entry, input: &[u8]) -> Vec<u8> {
    let result = match entry {
        // The input is consumed by planning, so it is freed before the plan is written out.
        Entry::Plan => parse(input).map(|i: crate::SyncInput| crate::plan(i).map(|p| ok(&p))),
        Entry::Approve => parse(input)
            .map(|r: ApproveRequest| crate::approve(&r.plan, &r.decisions).map(|p| ok(&p))),
        Entry::ApproveOps => parse(input).map(|r: ApproveOpsRequest| {
            crate::approve::decide(&r.plan_id, r.approved, &r.ops, &r.decisions).map(|a| ok(&a))
        }),
        Entry::Commit => parse(input).map(|r: CommitRequest| {
            crate::commit::commit(&r.state, &r.plan, &r.outcomes).map(|s| ok(&s))
        }),
        Entry::Undo => {
            parse(input).map(|r: crate::undo::UndoRequest| crate::undo::undo(&r).map(|p| ok(&p)))
        }
        Entry::CommitChanges => parse(input).map(|r: CommitRequest| {
            crate::commit_changes_of(&r.state, &r.plan, &r.outcomes).map(|c| ok(&c))
        }),
        Entry::CommitNeeds => {
            parse(input).map(|r: CommitNeedsRequest| Ok(ok(&crate::commit_needs(&r.plan))))
        }
        Entry::CommitRows => parse(input).map(|r: CommitRowsRequest| {
            crate::commit_from_rows(r.revision, r.rows, &r.plan, &r.outcomes).map(|c| ok(&c))
        }),
        Entry::ValidateConfig => parse(input).map(|r: ValidateRequest| {
            crate::validate_config(&r.config).map(|()| ok(&Validity { valid: true }))
        }),
        Entry::SessionBegin
        | Entry::SessionFeed
        | Entry::SessionFinish
        | Entry::SessionOps
        | Entry::SessionNeeds => Ok(session_call(entry, input)),
    };
    match result {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(e)) => engine_error(e),
        Err(envelope) => envelope,
    }
}

thread_local! {
    /// The instance's plan session: the module is single-threaded and a host runs one session
    /// per instance; natively, one per thread.
    static SESSION: std::cell::RefCell<Option<PlanSession>> = const { std::cell::RefCell::new(None) };
}

fn session_call(entry: Entry, input: &[u8]) -> Result<Vec<u8>, EngineError> {
    SESSION.with(|cell| {
        let mut slot = cell.borrow_mut();
        if entry == Entry::SessionBegin {
            *slot = None;
            let start: SessionStart =
                serde_json::from_slice(input).map_err(|e| EngineError::InvalidInput {
                    message: format!("session start: {e}"),
                })?;
            let (session, expects) = PlanSession::begin(start)?;
            *slot = Some(session);
            return Ok(ok(&expects));
        }
        let session = slot.as_mut().ok_or_else(|| EngineError::InvalidInput {
            message: "no session: call cb_session_begin first".into(),
        })?;
        match entry {
            Entry::SessionFeed => session.feed_json(input).map(|fed| ok(&fed)),
            Entry::SessionFinish => ok_written(|out| session.finish_json(out)),
            Entry::SessionNeeds => {
                let facts: crate::needs::NeedsFacts =
                    serde_json::from_slice(input).map_err(|e| EngineError::InvalidInput {
                        message: format!("needs request: {e}"),
                    })?;
                session.needs(&facts).map(|needs| ok(&needs))
            }
            _ => {
                let request: OpsRequest =
                    serde_json::from_slice(input).map_err(|e| EngineError::InvalidInput {
                        message: format!("ops request: {e}"),
                    })?;
                ok_written(|out| session.ops_json(request, out))
            }
        }
    })
}

// The exports are reached through the module's export table, not Rust paths.
#[cfg(all(target_arch = "wasm32", not(feature = "web")))]
#[allow(unreachable_pub)]
mod exports {
    use super::{Entry, dispatch};

    fn leak(bytes: Vec<u8>) -> i64 {
        let bytes = bytes.into_boxed_slice();
        // wasm32: lengths and addresses are 32-bit, so both fit in half an i64.
        let len = u64::from(bytes.len() as u32);
        let ptr = u64::from(Box::into_raw(bytes) as *mut u8 as u32);
        ((ptr << 32) | len) as i64
    }

    /// # Safety
    /// `ptr..ptr+len` must be a buffer obtained from `cb_alloc(len)`.
    unsafe fn request<'a>(ptr: i32, len: i32) -> &'a [u8] {
        if len <= 0 {
            return &[];
        }
        unsafe { std::slice::from_raw_parts(ptr as u32 as *const u8, len as u32 as usize) }
    }

    #[unsafe(no_mangle)]
    pub extern "C" fn cb_abi_version() -> i32 {
        super::ABI_VERSION as i32
    }

    #[unsafe(no_mangle)]
    pub extern "C" fn cb_alloc(len: i32) -> i32 {
        let buf = vec![0u8; len.max(0) as usize].into_boxed_slice();
        Box::into_raw(buf) as *mut u8 as u32 as i32
    }

    /// # Safety
    /// `ptr` and `len` must describe a buffer from `cb_alloc` or a result, freed once.
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn cb_free(ptr: i32, len: i32) {
        if ptr == 0 {
            return;
        }
        let slice = std::ptr::slice_from_raw_parts_mut(ptr as u32 as *mut u8, len.max(0) as usize);
        drop(unsafe { Box::from_raw(slice) });
    }

    macro_rules! entry {
        ($name:ident, $entry:expr) => {
            /// # Safety
            /// `ptr..ptr+len` must be a buffer from `cb_alloc` holding the request.
            #[unsafe(no_mangle)]
            pub unsafe extern "C" fn $name(ptr: i32, len: i32) -> i64 {
                leak(dispatch($entry, unsafe { request(ptr, len) }))
            }
        };
    }

    // The names must be literal for `no_mangle`; a test checks they match `Entry::export`.
    entry!(cb_plan, Entry::Plan);
    entry!(cb_approve, Entry::Approve);
    entry!(cb_approve_ops, Entry::ApproveOps);
    entry!(cb_commit, Entry::Commit);
    entry!(cb_commit_changes, Entry::CommitChanges);
    entry!(cb_commit_needs, Entry::CommitNeeds);
    entry!(cb_commit_rows, Entry::CommitRows);
    entry!(cb_validate_config, Entry::ValidateConfig);
    entry!(cb_session_begin, Entry::SessionBegin);
    entry!(cb_session_feed, Entry::SessionFeed);
    entry!(cb_session_finish, Entry::SessionFinish);
    entry!(cb_session_ops, Entry::SessionOps);
    entry!(cb_session_needs, Entry::SessionNeeds);
    entry!(cb_undo, Entry::Undo);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(bytes: &[u8]) -> Value {
        serde_json::from_slice(bytes).expect("envelopes are JSON")
    }

    #[test]
    fn requests_written_from_borrowed_data_are_read_back_whole() {
        let config: SyncConfig =
            serde_json::from_str(r#"{"sources":[{"id":"a"}]}"#).expect("a config");
        let request = serde_json::to_vec(&ValidateRequest {
            config: Cow::Borrowed(&config),
        })
        .expect("serializable");
        let answer: Envelope<Validity> =
            serde_json::from_slice(&dispatch(Entry::ValidateConfig, &request)).expect("JSON");
        assert_eq!(answer.abi_version, ABI_VERSION);
        assert_eq!(answer.ok, Some(Validity { valid: true }));
        assert!(answer.error.is_none());
    }

    #[test]
    fn bad_json_is_an_error_envelope_not_a_trap() {
        let out = envelope(&dispatch(Entry::Plan, b"{not json"));
        assert_eq!(out["abiVersion"], ABI_VERSION);
        assert_eq!(out["error"]["kind"], "invalidRequest");
        assert!(
            out["error"]["message"]
                .as_str()
                .unwrap()
                .contains("request JSON")
        );
    }

    #[test]
    fn engine_errors_carry_their_details() {
        let out = envelope(&dispatch(
            Entry::ValidateConfig,
            br#"{"config":{"sources":[]}}"#,
        ));
        assert_eq!(out["error"]["kind"], "invalidConfig");
        assert_eq!(out["error"]["errors"][0]["field"], "sources");
        let ok = envelope(&dispatch(
            Entry::ValidateConfig,
            br#"{"config":{"sources":[{"id":"a"}]}}"#,
        ));
        assert_eq!(ok["ok"]["valid"], true);
    }
}
