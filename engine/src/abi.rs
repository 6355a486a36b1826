//! The plain WebAssembly ABI, for wasmtime and for partners embedding the engine from any
//! language. Version 1:
//!
//! - `cb_abi_version() -> i32` — 1.
//! - `cb_alloc(len: i32) -> i32` — a buffer of `len` bytes in the module's memory.
//! - `cb_free(ptr: i32, len: i32)` — gives back a buffer from `cb_alloc` or a result.
//! - `cb_plan`, `cb_approve`, `cb_commit`, `cb_validate_config` `(ptr: i32, len: i32) -> i64` —
//!   read a UTF-8 JSON request from `[ptr, ptr+len)` (the caller frees it afterwards) and return
//!   `(result_ptr << 32) | result_len`: a JSON envelope the caller reads, then frees with
//!   `cb_free`. The envelope is `{"abiVersion":1,"ok":…}` or `{"abiVersion":1,"error":{"kind":…,
//!   "message":…}}`.
//!
//! Requests: plan takes a `SyncInput`; approve `{"plan":…,"decisions":{"reject":[…]}}`; commit
//! `{"state":…,"plan":…,"outcomes":[…]}`; validate `{"config":…}`. The module imports nothing.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{Decisions, EngineError, OpOutcome, SyncConfig, SyncPlan, SyncState};

pub const ABI_VERSION: u32 = 1;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApproveRequest {
    plan: SyncPlan,
    #[serde(default)]
    decisions: Decisions,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CommitRequest {
    state: SyncState,
    plan: SyncPlan,
    #[serde(default)]
    outcomes: Vec<OpOutcome>,
}

#[derive(Deserialize)]
struct ValidateRequest {
    config: SyncConfig,
}

/// The engine operations the ABI exposes.
#[derive(Clone, Copy, Debug)]
pub enum Entry {
    Plan,
    Approve,
    Commit,
    ValidateConfig,
}

fn ok<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = br#"{"abiVersion":1,"ok":"#.to_vec();
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
        Entry::Commit => parse(input)
            .map(|r: CommitRequest| crate::commit(&r.state, &r.plan, &r.outcomes).map(|s| ok(&s))),
        Entry::ValidateConfig => parse(input).map(|r: ValidateRequest| {
            crate::validate_config(&r.config).map(|()| ok(&json!({"valid": true})))
        }),
    };
    match result {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(e)) => engine_error(e),
        Err(envelope) => envelope,
    }
}

#[cfg(all(target_arch = "wasm32", not(feature = "web")))]
mod exports {
    use super::{Entry, dispatch};

    fn leak(bytes: Vec<u8>) -> i64 {
        let bytes = bytes.into_boxed_slice();
        let len = bytes.len() as u32 as u64;
        let ptr = Box::into_raw(bytes) as *mut u8 as u32 as u64;
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

    entry!(cb_plan, Entry::Plan);
    entry!(cb_approve, Entry::Approve);
    entry!(cb_commit, Entry::Commit);
    entry!(cb_validate_config, Entry::ValidateConfig);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(bytes: &[u8]) -> Value {
        serde_json::from_slice(bytes).expect("envelopes are JSON")
    }

    #[test]
    fn bad_json_is_an_error_envelope_not_a_trap() {
        let out = envelope(&dispatch(Entry::Plan, b"{not json"));
        assert_eq!(out["abiVersion"], 1);
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
