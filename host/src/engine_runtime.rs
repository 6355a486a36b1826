//! Runs the engine's ABI module in wasmtime: compiled once per process, a fresh instance per
//! call, with fuel and a memory cap, so a runaway or hostile input fails the run cleanly
//! instead of taking the host down.

use std::borrow::Cow;

use classbridge_engine::abi::{Entry, Envelope};
use classbridge_engine::needs::{EnrollmentNeeds, NeedsFacts};
use classbridge_engine::session::{
    Fed, OpsPage, OpsRequest, PlanHeader, SessionExpects, SessionStart,
};
use classbridge_engine::{EngineError, SyncPlan};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use wasmtime::{
    Config, Engine, Instance, Module, ResourceLimiter, Store, StoreLimits, StoreLimitsBuilder,
};

use crate::http::BoxError;

/// The engine module, built by build.rs from engine/.
pub static ENGINE_WASM: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/classbridge_engine.wasm"));

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct EngineLimits {
    /// Fuel per call (roughly, wasm instructions).
    pub fuel: u64,
    /// Linear memory cap per call, in bytes.
    pub memory_bytes: usize,
}

impl Default for EngineLimits {
    fn default() -> Self {
        EngineLimits {
            // A guard against a runaway call, not a budget: district L's largest call (a
            // full-read plan, about 100 s in wasmtime) burns a few hundred billion; this is
            // several times that (`-vv` logs each call's `fuel_used`).
            fuel: 2_000_000_000_000,
            memory_bytes: WASM32_MEMORY_MAX,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("the engine module could not be compiled")]
    Compile(#[source] BoxError),
    #[error("the engine module is not the expected ABI: {0}")]
    Abi(String),
    #[error("the engine module could not be called")]
    Call(#[source] BoxError),
    #[error(
        "the engine ran out of fuel (limit {0}); raise engine.fuel in the config if the district is that large"
    )]
    OutOfFuel(u64),
    #[error("{}", out_of_memory(*.0))]
    OutOfMemory(usize),
    #[error(
        "the engine's input is {0} bytes; one call of the engine module takes at most 2 GiB (its memory is 32-bit)"
    )]
    RequestTooLarge(usize),
    #[error("the engine trapped")]
    Trap(#[source] BoxError),
    #[error("the engine refused the request: {kind}: {message}")]
    Engine {
        kind: String,
        message: String,
        detail: Value,
    },
    #[error("the engine's answer could not be read")]
    BadAnswer(#[source] serde_json::Error),
    #[error("the engine's answer has neither ok nor error")]
    EmptyAnswer,
}

/// The advice depends on the cap: a wasm32 module cannot address more than 4 GiB.
fn out_of_memory(cap: usize) -> String {
    if cap >= WASM32_MEMORY_MAX {
        format!(
            "the engine needed more than {cap} bytes, all a wasm32 module can address: this input is too large for one run of the engine module"
        )
    } else {
        format!(
            "the engine needed more memory than the {cap}-byte cap; raise engine.memory_mb in the config (at most 4096)"
        )
    }
}

/// With the `profiling` feature and CLASSBRIDGE_PERFMAP set, the compiled module's functions
/// are named for `perf` (a benchmark's profile of the module; the host never sets it).
fn perf_map(config: &mut Config) {
    #[cfg(feature = "profiling")]
    if std::env::var_os("CLASSBRIDGE_PERFMAP").is_some() {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    #[cfg(not(feature = "profiling"))]
    let _ = config;
}

/// All a wasm32 module can address.
pub const WASM32_MEMORY_MAX: usize = 4 << 30;

/// The ABI passes lengths as i32.
fn request_len(len: usize) -> Result<i32, RuntimeError> {
    i32::try_from(len).map_err(|_| RuntimeError::RequestTooLarge(len))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Half-written artefacts from a process killed mid-write.
fn remove_stale_temp_files(dir: &std::path::Path) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.starts_with("tmp"))
        {
            let _ = std::fs::remove_file(path);
        }
    }
}

#[cfg(unix)]
fn private_dir(dir: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
}

#[cfg(not(unix))]
fn private_dir(_dir: &std::path::Path) {}

fn hex_prefix(bytes: &[u8]) -> String {
    bytes.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

struct CallState {
    limits: StoreLimits,
    /// Set when the cap refused a memory growth: how an out-of-memory trap is told from
    /// any other, without reading the trap's text.
    memory_refused: bool,
}

impl ResourceLimiter for CallState {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let answer = self.limits.memory_growing(current, desired, maximum);
        if !matches!(answer, Ok(true)) {
            self.memory_refused = true;
        }
        answer
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.limits.table_growing(current, desired, maximum)
    }
}

/// An instance of the engine module: one call's, or a whole session's.
struct Instantiated<'rt> {
    runtime: &'rt EngineRuntime,
    store: Store<CallState>,
    instance: Instance,
    memory: wasmtime::Memory,
    alloc: wasmtime::TypedFunc<i32, i32>,
    free: wasmtime::TypedFunc<(i32, i32), ()>,
}

impl Instantiated<'_> {
    /// Calls one entry: the request is copied in and freed there, the answer copied out and
    /// freed there, so a session's memory holds only what the engine keeps.
    fn call(&mut self, entry: Entry, request: Cow<'_, [u8]>) -> Result<Vec<u8>, RuntimeError> {
        let rt = self.runtime;
        if rt.metered {
            self.store
                .set_fuel(rt.limits.fuel)
                .map_err(|e| RuntimeError::Call(e.into()))?;
        }
        let func = self
            .instance
            .get_typed_func::<(i32, i32), i64>(&mut self.store, entry.export())
            .map_err(|e| RuntimeError::Abi(format!("{e:#}")))?;
        let len = request_len(request.len())?;
        let ptr = self
            .alloc
            .call(&mut self.store, len)
            .map_err(|e| rt.classify(&mut self.store, e))?;
        self.memory
            .write(&mut self.store, ptr as u32 as usize, &request)
            .map_err(|e| RuntimeError::Call(e.into()))?;
        drop(request);
        let packed = func
            .call(&mut self.store, (ptr, len))
            .map_err(|e| rt.classify(&mut self.store, e))? as u64;
        self.free
            .call(&mut self.store, (ptr, len))
            .map_err(|e| rt.classify(&mut self.store, e))?;
        let (out_ptr, out_len) = ((packed >> 32) as usize, (packed & 0xffff_ffff) as usize);
        let mut out = vec![0u8; out_len];
        self.memory
            .read(&self.store, out_ptr, &mut out)
            .map_err(|e| RuntimeError::Call(e.into()))?;
        self.free
            .call(
                &mut self.store,
                (out_ptr as u32 as i32, out_len as u32 as i32),
            )
            .map_err(|e| rt.classify(&mut self.store, e))?;
        // What the module holds after each call (wasm memory never shrinks, so this is its
        // peak so far): how an operator sizes `engine.memory_mb`, and how a benchmark finds
        // which part of a run fills it.
        // The fuel the call burned, likewise for sizing `engine.fuel`.
        let fuel_used = if rt.metered {
            self.store
                .get_fuel()
                .map_or(0, |left| rt.limits.fuel.saturating_sub(left))
        } else {
            0
        };
        tracing::debug!(
            entry = entry.export(),
            memory_mb = self.memory.data_size(&self.store) >> 20,
            fuel_used,
            "engine call done"
        );
        Ok(out)
    }
}

pub struct EngineRuntime {
    engine: Engine,
    module: Module,
    limits: EngineLimits,
    /// Whether calls are metered with fuel (always, except in benchmarks).
    metered: bool,
}

impl EngineRuntime {
    pub fn new(limits: EngineLimits) -> Result<Self, RuntimeError> {
        Self::from_bytes(ENGINE_WASM, limits)
    }

    pub fn from_bytes(wasm: &[u8], limits: EngineLimits) -> Result<Self, RuntimeError> {
        Self::compile(wasm, limits, true)
    }

    /// The embedded module without fuel metering (`limits.fuel` is ignored), so a benchmark
    /// can show what metering costs. The host itself always meters.
    pub fn without_fuel_metering(limits: EngineLimits) -> Result<Self, RuntimeError> {
        Self::compile(ENGINE_WASM, limits, false)
    }

    fn compile(wasm: &[u8], limits: EngineLimits, metered: bool) -> Result<Self, RuntimeError> {
        let mut config = Config::new();
        config.consume_fuel(metered);
        perf_map(&mut config);
        let engine = Engine::new(&config).map_err(|e| RuntimeError::Compile(e.into()))?;
        let module = Module::new(&engine, wasm).map_err(|e| RuntimeError::Compile(e.into()))?;
        if let Some(import) = module.imports().next() {
            return Err(RuntimeError::Abi(format!(
                "the module imports {}.{}; the engine must import nothing",
                import.module(),
                import.name()
            )));
        }
        Ok(EngineRuntime {
            engine,
            module,
            limits,
            metered,
        })
    }

    /// Like [`EngineRuntime::new`], but keeps the compiled module in `cache_dir` so later
    /// processes skip compilation (seconds) and only deserialize it (milliseconds).
    /// The embedded module, compiled once and cached in `cache_dir` as native code.
    ///
    /// Loading a cached artefact runs it as native code outside the wasm sandbox, so it is
    /// trusted only if its sha256 equals `trusted_digest`, which the caller keeps apart from
    /// the artefact (in the state database). A missing, corrupted or planted file is
    /// recompiled and replaced. Returns the runtime and, when it wrote a new artefact, that
    /// artefact's digest for the caller to keep.
    pub fn new_cached(
        limits: EngineLimits,
        cache_dir: &std::path::Path,
        trusted_digest: Option<&str>,
    ) -> Result<(Self, Option<String>), RuntimeError> {
        use sha2::Digest as _;
        let key = hex_prefix(&sha2::Sha256::digest(ENGINE_WASM));
        let path = cache_dir.join(format!("engine-{key}.cwasm"));
        let mut config = Config::new();
        config.consume_fuel(true);
        let engine = Engine::new(&config).map_err(|e| RuntimeError::Compile(e.into()))?;
        remove_stale_temp_files(cache_dir);
        if let (Some(trusted), Ok(bytes)) = (trusted_digest, std::fs::read(&path)) {
            let digest = hex(&sha2::Sha256::digest(&bytes));
            if digest == trusted {
                // SAFETY: these exact bytes are the artefact this host compiled from its own
                // embedded module (their digest matches the one recorded when it was written);
                // wasmtime also checks its version and settings header.
                if let Ok(module) = unsafe { Module::deserialize(&engine, &bytes) } {
                    return Ok((
                        EngineRuntime {
                            engine,
                            module,
                            limits,
                            metered: true,
                        },
                        None,
                    ));
                }
            } else {
                tracing::warn!(file = %path.display(), "the compiled engine cache does not match its recorded digest; recompiling");
            }
        }
        let runtime = Self::from_bytes(ENGINE_WASM, limits)?;
        let mut written = None;
        if let Ok(bytes) = runtime.module.serialize()
            && std::fs::create_dir_all(cache_dir).is_ok()
        {
            private_dir(cache_dir);
            // Write then rename, so a concurrent reader never sees half a file.
            let tmp = path.with_extension(format!("tmp{}", std::process::id()));
            if std::fs::write(&tmp, &bytes).is_ok() && std::fs::rename(&tmp, &path).is_ok() {
                written = Some(hex(&sha2::Sha256::digest(&bytes)));
            }
            let _ = std::fs::remove_file(&tmp);
        }
        Ok((runtime, written))
    }

    /// The same compiled module with other limits (compiling is the expensive part).
    pub fn with_limits(&self, limits: EngineLimits) -> EngineRuntime {
        EngineRuntime {
            engine: self.engine.clone(),
            module: self.module.clone(),
            limits,
            metered: self.metered,
        }
    }

    pub fn module(&self) -> &Module {
        &self.module
    }

    /// Calls one ABI entry (`cb_plan`, ...) with a JSON request and returns the raw envelope.
    /// The envelope is copied out so the module's memory (gigabytes for a district) is freed
    /// before the caller parses it: reading it in place raised M's first-sync peak by 450 MB.
    pub fn call_raw(&self, entry: Entry, request: &[u8]) -> Result<Vec<u8>, RuntimeError> {
        self.invoke(entry, Cow::Borrowed(request))
    }

    /// As `call_raw`, taking the request: it is freed once copied into the module, so the
    /// host does not hold it beside the module's copy for the whole call.
    pub fn call_raw_owned(&self, entry: Entry, request: Vec<u8>) -> Result<Vec<u8>, RuntimeError> {
        self.invoke(entry, Cow::Owned(request))
    }

    fn invoke(&self, entry: Entry, request: Cow<'_, [u8]>) -> Result<Vec<u8>, RuntimeError> {
        // One call, one instance: it and all its memory go when the call returns.
        self.instantiate()?.call(entry, request)
    }

    /// A fresh instance of the module, with the memory cap.
    fn instantiate(&self) -> Result<Instantiated<'_>, RuntimeError> {
        let limits = StoreLimitsBuilder::new()
            .memory_size(self.limits.memory_bytes)
            .trap_on_grow_failure(true)
            .build();
        let mut store = Store::new(
            &self.engine,
            CallState {
                limits,
                memory_refused: false,
            },
        );
        store.limiter(|s| s);
        let instance = Instance::new(&mut store, &self.module, &[])
            .map_err(|e| self.classify(&mut store, e))?;
        let memory = instance
            .get_memory(&mut store, "memory")
            .ok_or_else(|| RuntimeError::Abi("no exported memory".into()))?;
        let abi = |e: wasmtime::Error| RuntimeError::Abi(format!("{e:#}"));
        let alloc = instance
            .get_typed_func::<i32, i32>(&mut store, "cb_alloc")
            .map_err(abi)?;
        let free = instance
            .get_typed_func::<(i32, i32), ()>(&mut store, "cb_free")
            .map_err(abi)?;
        Ok(Instantiated {
            runtime: self,
            store,
            instance,
            memory,
            alloc,
            free,
        })
    }

    /// Plans through the module's session (ABI 2): begins, feeds each chunk, finishes, and
    /// reads the operations back `ops_per_page` at a time, all on one instance. No request or
    /// answer holds the whole district, so none meets the 2 GiB-per-call limit; fuel is
    /// granted per call, so the cap bounds each chunk's work rather than the district's.
    pub fn plan_session(
        &self,
        start: &SessionStart,
        chunks: impl IntoIterator<Item = Result<Vec<u8>, EngineError>>,
        ops_per_page: usize,
        on_chunk: &dyn Fn(u64),
    ) -> Result<SyncPlan, RuntimeError> {
        let encode = |e: serde_json::Error| RuntimeError::Call(e.into());
        let mut instance = self.begin_and_feed(start, chunks, on_chunk)?;
        let header: PlanHeader =
            open_envelope(&instance.call(Entry::SessionFinish, Cow::Borrowed(&[]))?)?;
        let mut plan = header.plan;
        plan.ops.reserve(header.op_count);
        let mut from = Some(0);
        let mut plan_id = None;
        while let Some(at) = from {
            let request = serde_json::to_vec(&OpsRequest {
                from: at,
                max: ops_per_page,
            })
            .map_err(encode)?;
            let page: OpsPage =
                open_envelope(&instance.call(Entry::SessionOps, Cow::Owned(request))?)?;
            plan.ops.extend(page.ops);
            from = page.next;
            plan_id = page.plan_id;
        }
        // The id covers every operation, so it comes with the last page (ABI 5).
        plan.id = plan_id.ok_or_else(|| {
            RuntimeError::Abi("the session's last page of operations has no plan id".into())
        })?;
        if plan.ops.len() != header.op_count {
            return Err(RuntimeError::Abi(format!(
                "the session's plan has {} operations, {} were read",
                header.op_count,
                plan.ops.len()
            )));
        }
        Ok(plan)
    }

    /// Asks the module which enrolments a run needs: a session fed `chunks` (the run's
    /// input without its enrolments, as JSON) and asked `cb_session_needs`.
    pub fn enrollment_needs(
        &self,
        start: &SessionStart,
        chunks: impl IntoIterator<Item = Result<Vec<u8>, EngineError>>,
        facts: &NeedsFacts,
    ) -> Result<EnrollmentNeeds, RuntimeError> {
        let mut instance = self.begin_and_feed(start, chunks, &|_| {})?;
        let request = serde_json::to_vec(facts).map_err(|e| RuntimeError::Call(e.into()))?;
        open_envelope(&instance.call(Entry::SessionNeeds, Cow::Owned(request))?)
    }

    /// A new instance with a session begun and fed these chunks (JSON), `on_chunk` told
    /// the count after each.
    fn begin_and_feed(
        &self,
        start: &SessionStart,
        chunks: impl IntoIterator<Item = Result<Vec<u8>, EngineError>>,
        on_chunk: &dyn Fn(u64),
    ) -> Result<Instantiated<'_>, RuntimeError> {
        let mut instance = self.instantiate()?;
        let request = serde_json::to_vec(start).map_err(|e| RuntimeError::Call(e.into()))?;
        let _: SessionExpects =
            open_envelope(&instance.call(Entry::SessionBegin, Cow::Owned(request))?)?;
        for chunk in chunks {
            let chunk = chunk.map_err(|e| RuntimeError::Engine {
                kind: "invalidInput".into(),
                message: e.to_string(),
                detail: serde_json::to_value(&e).unwrap_or_default(),
            })?;
            let fed: Fed = open_envelope(&instance.call(Entry::SessionFeed, Cow::Owned(chunk))?)?;
            on_chunk(fed.chunks);
        }
        Ok(instance)
    }

    fn classify(&self, store: &mut Store<CallState>, e: wasmtime::Error) -> RuntimeError {
        if store.get_fuel().is_ok_and(|f| f == 0) {
            return RuntimeError::OutOfFuel(self.limits.fuel);
        }
        if store.data().memory_refused {
            return RuntimeError::OutOfMemory(self.limits.memory_bytes);
        }
        RuntimeError::Trap(e.into())
    }

    /// Calls an entry and unwraps the envelope into `T`.
    pub fn call<T: DeserializeOwned>(
        &self,
        entry: Entry,
        request: &[u8],
    ) -> Result<T, RuntimeError> {
        open_envelope(&self.call_raw(entry, request)?)
    }

    /// As `call`, taking the request (see `call_raw_owned`).
    pub fn call_owned<T: DeserializeOwned>(
        &self,
        entry: Entry,
        request: Vec<u8>,
    ) -> Result<T, RuntimeError> {
        open_envelope(&self.call_raw_owned(entry, request)?)
    }
}

/// Unwraps the ABI's answer into `T`, or its error.
fn open_envelope<T: DeserializeOwned>(raw: &[u8]) -> Result<T, RuntimeError> {
    // Read straight into the answer's type: a district's plan is hundreds of megabytes, and
    // going through a JSON tree (and a copy of it) cost more than the engine's own writing.
    let envelope: Envelope<T> = serde_json::from_slice(raw).map_err(RuntimeError::BadAnswer)?;
    if let Some(error) = envelope.error {
        return Err(RuntimeError::Engine {
            kind: error["kind"].as_str().unwrap_or("engine").to_string(),
            message: error["message"].as_str().unwrap_or_default().to_string(),
            detail: error,
        });
    }
    envelope.ok.ok_or(RuntimeError::EmptyAnswer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_over_2_gib_are_refused_by_size() {
        let err = request_len(3 << 30).unwrap_err();
        assert!(matches!(err, RuntimeError::RequestTooLarge(n) if n == 3 << 30));
        assert!(err.to_string().contains("at most 2 GiB"), "{err}");
        assert_eq!(request_len(1024).unwrap(), 1024);
    }

    #[test]
    fn out_of_memory_advice_fits_the_cap() {
        let small = RuntimeError::OutOfMemory(64 << 20).to_string();
        assert!(small.contains("raise engine.memory_mb"), "{small}");
        let max = RuntimeError::OutOfMemory(4 << 30).to_string();
        assert!(!max.contains("raise"), "{max}");
        assert!(max.contains("too large for one run"), "{max}");
    }
}
