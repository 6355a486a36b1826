//! classbridge-bench: measures the engine at district scale (natively, in wasmtime, and the
//! parse-only baseline), the engine module itself, and sync throughput against a quota.
//! Results go to stdout as Markdown; BENCHMARKS.md records them with the command.
//!
//!   cargo run --release -p classbridge --bin classbridge-bench -- plan --sizes s,m
//!   cargo run --release -p classbridge --bin classbridge-bench -- csv-diff --size m
//!   cargo run --release -p classbridge --bin classbridge-bench -- module
//!   cargo run --release -p classbridge --bin classbridge-bench -- quota
//!   cargo run --release -p classbridge --bin classbridge-bench -- scenarios --size m

mod csvdiff;
mod scenarios;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use classbridge::engine_runtime::{EngineLimits, EngineRuntime};
use classbridge_engine::abi::Entry;
use classbridge_engine::plan::{OpOutcome, OutcomeResult};
use classbridge_engine::{SyncInput, SyncPlan};
use classbridge_tests::district::{District, Size};
use classbridge_tests::workload;
use serde_json::{Value, json};

#[derive(Parser)]
#[command(about = "Benchmarks for classbridge (see BENCHMARKS.md)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// plan on generated districts: first sync and incremental, native, wasmtime, parse-only.
    Plan {
        /// Comma-separated district sizes: s, m, l (l is measured natively only: its input
        /// does not fit wasm32's 4 GiB; see BENCHMARKS.md).
        #[arg(long, default_value = "s,m")]
        sizes: String,
        /// Processes per cell; the median wall time is reported (the machine is shared).
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Where generated inputs are kept.
        #[arg(long, default_value = "target/bench")]
        dir: PathBuf,
    },
    /// Generate the inputs for one size (used by `plan`).
    Gen {
        size: String,
        #[arg(long, default_value = "target/bench")]
        dir: PathBuf,
    },
    /// One measurement in a fresh process, so peak memory is its own (used by `plan`).
    /// RUNTIME: parse (into the engine's input types), tree (into a JSON tree), native, wasm,
    /// wasm-unmetered (wasmtime without fuel metering, to show what metering costs),
    /// wasm-session (the host's path: the plan session of ABI 2, input fed in chunks),
    /// native-session (that path natively, for a profiler).
    Measure { input: PathBuf, runtime: String },
    /// One generated input, streamed to OUT (used by `gen`): the first sync's, or with
    /// `--state` the next day's over that state.
    WriteInput {
        size: String,
        out: PathBuf,
        #[arg(long)]
        state: Option<PathBuf>,
    },
    /// A first sync into an empty Classroom, streamed to OUT: what onboarding a district
    /// plans, with `classroom.newCoursesPerRun` when `--new-courses-per-run` is given; with
    /// `--state` (from `first-state` of an earlier onboarding input), the next run's.
    WriteOnboarding {
        size: String,
        out: PathBuf,
        #[arg(long)]
        new_courses_per_run: Option<u32>,
        #[arg(long)]
        state: Option<PathBuf>,
    },
    /// The state after a fully successful first sync, computed in a process of its own
    /// (used by `gen`).
    FirstState { input: PathBuf, out: PathBuf },
    /// Diff two OneRoster CSV snapshots (users and enrollments, 1% changed) with the engine
    /// and with the peers daff (npm) and csv-diff (PyPI), installed under DIR/peers if missing.
    CsvDiff {
        #[arg(long, default_value = "m")]
        size: String,
        #[arg(long, default_value = "target/bench")]
        dir: PathBuf,
    },
    /// The ABI module: size, cold compile, cached load, instantiate.
    Module,
    /// Sync against the stand-in Classroom with a per-minute quota: the share of the quota the
    /// apply uses, and topics for many categories against one request at a time.
    Quota {
        /// Per-minute quota of the stand-in and the host.
        #[arg(long, default_value_t = 600)]
        per_minute: u32,
        /// How long to let the roster sync run.
        #[arg(long, default_value_t = 120)]
        seconds: u64,
        /// Topics for the export test (categories × courses of a small district).
        #[arg(long, default_value_t = 5000)]
        topics: usize,
        /// Per-minute quota during the topic export: above what one request at a time reaches.
        #[arg(long, default_value_t = 6000)]
        topic_quota: u32,
        /// Latency the stand-in adds to each request during the topic export.
        #[arg(long, default_value_t = 40)]
        latency_ms: u64,
    },
    /// Issue 16's scenarios through the real host and the stand-ins: first sync, first grade
    /// export, idle, incremental 1% with delta reads and with full reads. Requests counted by
    /// the stand-ins, bytes the state database grew by, and the plan of the input the host
    /// built, timed natively and in wasmtime (each in a process of its own).
    Scenarios {
        /// District size: tiny, s, m or l (l: use --new-courses-per-run and --graded-percent;
        /// hours of work and about 20 GB of memory).
        #[arg(long, default_value = "s")]
        size: String,
        /// Run without the Classroom change feed (every managed course read every run).
        #[arg(long)]
        no_feed: bool,
        /// Graded assignments teachers post in each graded class before the grade export.
        #[arg(long, default_value_t = 2)]
        works: usize,
        /// The share of classes, in percent, whose teachers post graded work.
        #[arg(long, default_value_t = 100)]
        graded_percent: usize,
        /// `classroom.newCoursesPerRun`: the first sync in bounded runs (each a row).
        #[arg(long)]
        new_courses_per_run: Option<u32>,
        /// Where each run's input is written for the planning measurements (then deleted).
        #[arg(long, default_value = "target/bench")]
        dir: PathBuf,
        /// Keep a copy of the state database as DIR/SIZE-scenarios.db, to see where its bytes go.
        #[arg(long)]
        keep_db: bool,
    },
}

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// A session measurement's input, parsed as a host's fetch builds it (strings interned), its
/// text freed before the clock starts.
fn session_input(bytes: Vec<u8>) -> anyhow::Result<SyncInput> {
    Ok(classbridge_engine::internals::interning(|| {
        serde_json::from_slice::<SyncInput>(&bytes)
    })?)
}

/// The engine module measured: the host's embedded one, or with `CLASSBRIDGE_BENCH_ENGINE`
/// set, the module at that path (to compare two builds of the engine on one machine).
fn metered_runtime() -> anyhow::Result<EngineRuntime> {
    Ok(match std::env::var_os("CLASSBRIDGE_BENCH_ENGINE") {
        Some(path) => {
            let wasm = std::fs::read(&path)
                .with_context(|| format!("reading {}", Path::new(&path).display()))?;
            EngineRuntime::from_bytes(&wasm, limits())?
        }
        None => EngineRuntime::new(limits())?,
    })
}

fn limits() -> EngineLimits {
    EngineLimits {
        fuel: u64::MAX / 4,
        memory_bytes: classbridge::engine_runtime::WASM32_MEMORY_MAX,
    }
}

/// Writes `{size}-first.json` and `{size}-incremental.json`. Built to fit district L in this
/// machine's memory: each step runs in a process of its own (the district, about 6 GB as JSON
/// trees at L, is generated again from its seed rather than kept), and inputs are streamed to
/// disk record by record, never built as one JSON tree.
fn generate(size: &str, dir: &Path) -> anyhow::Result<()> {
    Size::parse(size).context("size must be tiny, s, m or l")?;
    std::fs::create_dir_all(dir)?;
    let t = Instant::now();
    let path = |name: &str| {
        dir.join(format!("{size}-{name}.json"))
            .display()
            .to_string()
    };
    let (first, state, incremental) = (path("first"), path("first-state"), path("incremental"));
    let step = |args: &[&str], what: &str| -> anyhow::Result<()> {
        let r = run_self(args)?;
        if let Some(e) = r.get("error") {
            bail!("{what} failed: {e}");
        }
        eprintln!("{what}: {r} ({:.0}s)", t.elapsed().as_secs_f64());
        Ok(())
    };
    step(&["write-input", size, &first], "first-sync input")?;
    step(&["first-state", &first, &state], "first-sync state")?;
    step(
        &["write-input", size, &incremental, "--state", &state],
        "incremental input",
    )?;
    std::fs::remove_file(&state)?;
    eprintln!("generated {size} in {:.1}s", t.elapsed().as_secs_f64());
    println!("{}", json!({"generated": size}));
    Ok(())
}

/// One generated input. Without `state`: the first sync's (empty state). With it: the next
/// day's, 1% of the district and of the grades changed, over that state.
fn write_input(size: &str, out: &Path, state: Option<&Path>) -> anyhow::Result<Value> {
    let size = Size::parse(size).context("size must be tiny, s, m or l")?;
    let mut district = District::generate(size, 2026);
    // The state goes in as the text the first run wrote: parsed, L's would need many GB.
    let previous = match state {
        Some(path) => serde_json::value::RawValue::from_string(std::fs::read_to_string(path)?)?,
        None => serde_json::value::to_raw_value(&classbridge_engine::SyncState::default())?,
    };
    let changed = state.is_some();
    write_with(out, |w| {
        workload::write_input(
            w,
            &mut district,
            &workload::Workload {
                works: 2,
                regrade: changed,
                change: changed,
                previous_state: &previous,
                now: if changed {
                    "2026-09-22T06:00:00Z"
                } else {
                    "2026-09-21T06:00:00Z"
                },
            },
        )
    })?;
    Ok(json!({"peak_rss_mb": peak_rss_mb()}))
}

fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> anyhow::Result<()> {
    write_with(path, |out| Ok(serde_json::to_writer(out, value)?))
}

fn write_with(
    path: &Path,
    write: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> std::io::Result<()>,
) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    write(&mut out).with_context(|| format!("writing {}", path.display()))?;
    std::io::Write::flush(&mut out)?;
    Ok(())
}

/// The state after a fully successful first sync (every operation succeeded).
fn first_state(input: &Path, out: &Path) -> anyhow::Result<Value> {
    let bytes = std::fs::read(input)?;
    let input: SyncInput = serde_json::from_slice(&bytes)?;
    drop(bytes);
    let previous = input.previous_state.clone();
    let plan = classbridge_engine::plan(input).map_err(|e| anyhow::anyhow!("{e}"))?;
    let outcomes: Vec<OpOutcome> = plan
        .ops
        .iter()
        .map(|op| OpOutcome {
            op_id: op.op_id.clone(),
            result: OutcomeResult::Succeeded {
                remote_id: Some(format!("r{}", op.op_id)),
            },
        })
        .collect();
    let state = classbridge_engine::commit(&previous, &plan, &outcomes)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let ops = plan.ops.len();
    drop((plan, outcomes, previous));
    write_json(out, &state)?;
    Ok(json!({"ops": ops, "peak_rss_mb": peak_rss_mb()}))
}

fn measure(input: &Path, runtime: &str) -> anyhow::Result<Value> {
    let bytes = std::fs::read(input)?;
    let input_mb = bytes.len() as f64 / f64::from(1 << 20);
    let (ops, elapsed) = match runtime {
        // As the engine parses: inside the interning scope.
        "parse" => (
            0,
            classbridge_engine::internals::interning(|| time_parse::<SyncInput>(&bytes))?,
        ),
        "tree" => (0, time_parse::<Value>(&bytes)?),
        "native" => {
            let t = Instant::now();
            // Parsed inside the planning scope, as the ABI does, so repeated strings are
            // read once each.
            let plan = classbridge_engine::internals::interning(|| -> anyhow::Result<SyncPlan> {
                let parsed: SyncInput = serde_json::from_slice(&bytes)?;
                // An embedder has no use for the bytes once they are parsed.
                drop(bytes);
                classbridge_engine::plan(parsed).map_err(|e| anyhow::anyhow!("{e}"))
            })?;
            let out = serde_json::to_vec(&plan)?;
            let e = t.elapsed();
            std::hint::black_box(&out);
            (plan.ops.len(), e)
        }
        "wasm" | "wasm-unmetered" => {
            // Compile outside the timing (the host caches the compiled module).
            let rt = if runtime == "wasm" {
                metered_runtime()?
            } else {
                EngineRuntime::without_fuel_metering(limits())?
            };
            let t = Instant::now();
            let plan: SyncPlan = rt.call_owned(Entry::Plan, bytes)?;
            (plan.ops.len(), t.elapsed())
        }
        "wasm-session" => {
            // The host's path since ABI 2: its input in hand (parsed before the clock, as a
            // fetch builds it), cut into chunks, fed to one instance, the operations paged back.
            let rt = metered_runtime()?;
            let parsed = session_input(bytes)?;
            let t = Instant::now();
            let (start, chunks) = classbridge_engine::session::chunks_of(parsed, 20_000);
            let plan = rt.plan_session(&start, chunks.texts(), 20_000, &|_| {})?;
            (plan.ops.len(), t.elapsed())
        }
        "native-session" => {
            // wasm-session's work natively (each chunk written as JSON and fed, the plan
            // finished and paged), so a profiler can see what the session path costs.
            use classbridge_engine::session::{OpsRequest, PlanSession};
            let parsed = session_input(bytes)?;
            let t = Instant::now();
            let (start, chunks) = classbridge_engine::session::chunks_of(parsed, 20_000);
            let fail = |e: classbridge_engine::EngineError| anyhow::anyhow!("{e}");
            let (mut session, _) = PlanSession::begin(start).map_err(fail)?;
            for text in chunks.texts() {
                session.feed_json(&text.map_err(fail)?).map_err(fail)?;
            }
            let mut out = Vec::new();
            session.finish_json(&mut out).map_err(fail)?;
            let mut ops = 0;
            let mut from = Some(0);
            while let Some(at) = from {
                let page = session
                    .ops(OpsRequest {
                        from: at,
                        max: 20_000,
                    })
                    .map_err(fail)?;
                ops += page.ops.len();
                from = page.next;
            }
            (ops, t.elapsed())
        }
        other => bail!(
            "runtime must be parse, tree, native, native-session, wasm, wasm-unmetered or wasm-session, not {other}"
        ),
    };
    Ok(
        json!({"wall_ms": elapsed.as_secs_f64() * 1000.0, "peak_rss_mb": peak_rss_mb(), "input_mb": input_mb, "ops": ops}),
    )
}

/// How long deserialising `bytes` into `T` takes, and nothing else.
fn time_parse<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> anyhow::Result<Duration> {
    let t = Instant::now();
    let parsed: T = serde_json::from_slice(bytes)?;
    let e = t.elapsed();
    std::hint::black_box(&parsed);
    Ok(e)
}

fn run_self(args: &[&str]) -> anyhow::Result<Value> {
    let exe = std::env::current_exe()?;
    let out = std::process::Command::new(exe)
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .output()?;
    if let Some(signal) = std::os::unix::process::ExitStatusExt::signal(&out.status) {
        // SIGKILL from the kernel's out-of-memory killer is the usual one at district L.
        let why = if signal == 9 {
            "killed (signal 9: out of memory)".to_string()
        } else {
            format!("killed by signal {signal}")
        };
        return Ok(json!({ "error": why }));
    }
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let error = stderr
            .lines()
            .find(|l| l.starts_with("Error:"))
            .or(stderr.lines().last())
            .unwrap_or("failed")
            .to_string();
        return Ok(json!({ "error": error }));
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// Measures `runs` times, each in its own process: the run with the median wall time.
fn measure_median(path: &str, runtime: &str, runs: usize) -> anyhow::Result<Value> {
    let mut results = Vec::new();
    for _ in 0..runs.max(1) {
        let r = run_self(&["measure", path, runtime])?;
        if r.get("error").is_some() {
            return Ok(r);
        }
        results.push(r);
    }
    results.sort_by(|a, b| {
        a["wall_ms"]
            .as_f64()
            .partial_cmp(&b["wall_ms"].as_f64())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    Ok(results.swap_remove(results.len() / 2))
}

fn plan_table(sizes: &str, runs: usize, dir: &Path) -> anyhow::Result<()> {
    println!(
        "| size | sync | input MB | parse ms (engine input) | parse ms (JSON tree) | native ms | wasmtime ms | wasmtime/native | wasmtime ms, no fuel metering | unmetered/native | native/parse (engine input) | native/parse (JSON tree) | native peak MB | wasmtime peak MB | peak/input (native) | peak/input (wasmtime) | ops |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for size in sizes.split(',').map(str::trim) {
        let first = dir.join(format!("{size}-first.json"));
        if !first.exists() {
            let r = run_self(&["gen", size, "--dir", &dir.display().to_string()])?;
            if r.get("error").is_some() {
                println!("| {size} | — | generation failed: {} |", r["error"]);
                continue;
            }
        }
        for mode in ["first", "incremental"] {
            let path = dir
                .join(format!("{size}-{mode}.json"))
                .display()
                .to_string();
            let parse = measure_median(&path, "parse", runs)?;
            let tree = measure_median(&path, "tree", runs)?;
            let native = measure_median(&path, "native", runs)?;
            let wasm = measure_median(&path, "wasm", runs)?;
            // Where the module cannot run the input at all, metering is not the question.
            let unmetered = if wasm.get("error").is_some() {
                wasm.clone()
            } else {
                measure_median(&path, "wasm-unmetered", runs)?
            };
            let f = |v: &Value, k: &str| v[k].as_f64();
            let cell = |v: &Value, k: &str| match f(v, k) {
                Some(x) => format!("{x:.0}"),
                None => format!("failed: {}", v["error"].as_str().unwrap_or("?")),
            };
            let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
                (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
                _ => "—".into(),
            };
            println!(
                "| {size} | {mode} | {:.1} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                f(&native, "input_mb")
                    .or(f(&parse, "input_mb"))
                    .unwrap_or(0.0),
                cell(&parse, "wall_ms"),
                cell(&tree, "wall_ms"),
                cell(&native, "wall_ms"),
                cell(&wasm, "wall_ms"),
                ratio(f(&wasm, "wall_ms"), f(&native, "wall_ms")),
                cell(&unmetered, "wall_ms"),
                ratio(f(&unmetered, "wall_ms"), f(&native, "wall_ms")),
                ratio(f(&native, "wall_ms"), f(&parse, "wall_ms")),
                ratio(f(&native, "wall_ms"), f(&tree, "wall_ms")),
                cell(&native, "peak_rss_mb"),
                cell(&wasm, "peak_rss_mb"),
                ratio(f(&native, "peak_rss_mb"), f(&native, "input_mb")),
                ratio(f(&wasm, "peak_rss_mb"), f(&wasm, "input_mb")),
                native["ops"].as_u64().map_or("—".into(), |n| n.to_string()),
            );
        }
    }
    Ok(())
}

fn module() -> anyhow::Result<()> {
    let size = classbridge::engine_runtime::ENGINE_WASM.len();
    let t = Instant::now();
    let rt = EngineRuntime::new(limits())?;
    let cold = t.elapsed();
    let dir = tempfile::tempdir()?;
    let (_, digest) = EngineRuntime::new_cached(limits(), dir.path(), None)?;
    let t = Instant::now();
    let (cached, _) = EngineRuntime::new_cached(limits(), dir.path(), digest.as_deref())?;
    let load = t.elapsed();
    let t = Instant::now();
    let n = 20;
    for _ in 0..n {
        let _: Value = cached.call(
            Entry::ValidateConfig,
            br#"{"config":{"sources":[{"id":"riverside"}]}}"#,
        )?;
    }
    let call = t.elapsed() / n;
    drop(rt);
    println!("| measure | value |\n|---|---|");
    println!(
        "| ABI module size | {:.2} MB ({size} bytes) |",
        size as f64 / f64::from(1 << 20)
    );
    println!(
        "| cold compile (Cranelift) | {:.0} ms |",
        cold.as_secs_f64() * 1000.0
    );
    println!(
        "| load of the cached compiled module | {:.1} ms |",
        load.as_secs_f64() * 1000.0
    );
    println!(
        "| fresh instance + a small call (validate_config) | {:.2} ms |",
        call.as_secs_f64() * 1000.0
    );
    Ok(())
}

struct Setup {
    _dir: tempfile::TempDir,
    host: classbridge::runner::Host,
    classroom: classbridge_tests::classroom::StandInClassroom,
}

/// The secret the benches' stand-in SIS signs with (OAuth 1.0a, key `bench`).
const BENCH_SIS_SECRET: &str = "bench-secret";

/// A 1.1 stand-in SIS serving `district`, as the benches configure the host for it.
async fn bench_sis(district: District) -> std::io::Result<classbridge_tests::sis::StandInSis> {
    use classbridge_tests::sis;
    sis::start(
        sis::SisSpec {
            version: "1.1".into(),
            prefix: String::new(),
            auth: sis::SisAuth::Oauth1 {
                key: "bench".into(),
                secret: BENCH_SIS_SECRET.into(),
            },
        },
        district,
    )
    .await
}

async fn setup(district: District, per_minute: u32, concurrency: usize) -> anyhow::Result<Setup> {
    use classbridge_tests::classroom;
    let secret = BENCH_SIS_SECRET;
    let sis = bench_sis(district).await?;
    let classroom = classroom::start("bench-token").await?;
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("s"), secret)?;
    std::fs::write(dir.path().join("t"), "bench-token")?;
    let config = dir.path().join("c.toml");
    std::fs::write(
        &config,
        format!(
            "state = \"b.db\"\n[classroom]\nbase_url = \"{}\"\nbearer_token = {{ file = \"t\" }}\nquota_per_minute = {per_minute}\nmax_concurrency = {concurrency}\n\n[[source]]\nid = \"riverside\"\nbase_url = \"{}\"\nclient_id = \"bench\"\nclient_secret = {{ file = \"s\" }}\n\n[rules]\nholds = {{ defaults = false }}\n",
            classroom.base_url(),
            sis.base_url()
        ),
    )?;
    // The SIS stand-in must outlive the run: leak it for the benchmark's lifetime.
    std::mem::forget(sis);
    let cfg = classbridge::config::HostConfig::load(&config)?;
    let rt = std::sync::Arc::new(EngineRuntime::new(cfg.engine.limits())?);
    let host =
        classbridge::runner::Host::new(cfg, rt, classbridge::progress::Progress::new(false))?;
    Ok(Setup {
        _dir: dir,
        host,
        classroom,
    })
}

async fn quota(
    per_minute: u32,
    seconds: u64,
    topics: usize,
    topic_quota: u32,
    latency_ms: u64,
) -> anyhow::Result<()> {
    use std::sync::atomic::Ordering;
    use std::time::Duration;
    // 1. The first roster sync of district M under the quota. Reading the SIS and planning
    //    come first; the share is taken over `seconds` of the apply, from the first course.
    let district = District::generate(Size::M, 2026);
    let mut s = setup(district, per_minute, 8).await?;
    s.classroom.set_quota(Some(per_minute));
    let accepted = |c: &classbridge_tests::classroom::StandInClassroom| {
        c.state.requests.load(Ordering::SeqCst) - c.state.throttled.load(Ordering::SeqCst)
    };
    let start = Instant::now();
    let mut apply_start: Option<(Duration, u64)> = None;
    let mut end = (Duration::ZERO, 0);
    {
        let run = s.host.run("bench", true);
        tokio::pin!(run);
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        loop {
            tokio::select! {
                _ = &mut run => break,
                _ = tick.tick() => {
                    let now = start.elapsed();
                    let count = accepted(&s.classroom) as u64;
                    end = (now, count);
                    if apply_start.is_none() && s.classroom.world(|w| !w.courses.is_empty()) {
                        apply_start = Some((now, count));
                    }
                    let applied_enough = apply_start
                        .is_some_and(|(t0, _)| now - t0 >= Duration::from_secs(seconds));
                    if applied_enough || now > Duration::from_secs(seconds + 900) {
                        break;
                    }
                }
            }
        }
    }
    let throttled = s.classroom.state.throttled.load(Ordering::SeqCst);
    println!("| measure | value |\n|---|---|");
    println!("| quota (stand-in and host) | {per_minute} requests/minute, concurrency 8 |");
    match apply_start {
        Some((t0, c0)) => {
            let secs = (end.0 - t0).as_secs_f64().max(1.0);
            let rate = (end.1 - c0) as f64 / secs * 60.0;
            println!(
                "| reading SIS and Classroom, planning (before the first write) | {:.1} s, {c0} Classroom requests |",
                t0.as_secs_f64()
            );
            println!(
                "| apply: Classroom requests accepted | {} in {secs:.0} s = {rate:.0}/minute = **{:.1}% of the quota** |",
                end.1 - c0,
                rate * 100.0 / f64::from(per_minute)
            );
        }
        None => println!(
            "| apply | did not start within {:.0} s |",
            end.0.as_secs_f64()
        ),
    }
    println!("| requests refused with 429 | {throttled} |");

    // 2. Topics: categories become topics in every course; 40 ms of latency per request.
    println!(
        "\n| topics | concurrency | quota | latency | wall time | topics/s |\n|---|---|---|---|---|---|"
    );
    for concurrency in [8usize, 1] {
        let mut d = District::generate(Size::Tiny, 2026);
        let classes = d.classes.len().max(1);
        let categories = topics.div_ceil(classes);
        d.categories = (0..categories)
            .map(|i| json!({"sourcedId": format!("cat{i}"), "status": "active", "dateLastModified": "2026-08-01T00:00:00Z", "title": format!("Category {i}")}))
            .collect();
        let mut s = setup(d, topic_quota, concurrency).await?;
        s.classroom.set_quota(Some(topic_quota));
        s.classroom
            .state
            .faults
            .slow_ms
            .store(latency_ms, Ordering::SeqCst);
        let start = Instant::now();
        s.host.run("bench", true).await?;
        let secs = start.elapsed().as_secs_f64();
        let made: usize = s
            .classroom
            .world(|w| w.courses.values().map(|c| c.topics.len()).sum());
        println!(
            "| {made} ({categories} categories × {classes} courses) | {concurrency} | {topic_quota}/min | {latency_ms} ms | {secs:.1} s (whole first sync) | {:.1} |",
            made as f64 / secs
        );
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    // `RUST_LOG=classbridge=debug` shows, among the host's logs, the engine module's memory
    // after each call: which part of a run fills it.
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    match Cli::parse().command {
        Command::Plan { sizes, runs, dir } => plan_table(&sizes, runs, &dir),
        Command::Gen { size, dir } => generate(&size, &dir),
        Command::Measure { input, runtime } => {
            println!("{}", measure(&input, &runtime)?);
            Ok(())
        }
        Command::WriteInput { size, out, state } => {
            println!("{}", write_input(&size, &out, state.as_deref())?);
            Ok(())
        }
        Command::WriteOnboarding {
            size,
            out,
            new_courses_per_run,
            state,
        } => {
            let size = Size::parse(&size).context("size must be tiny, s, m or l")?;
            let district = District::generate(size, 2026);
            // As text: parsed, L's state would need many GB.
            let previous = match &state {
                Some(path) => {
                    serde_json::value::RawValue::from_string(std::fs::read_to_string(path)?)?
                }
                None => serde_json::value::to_raw_value(&classbridge_engine::SyncState::default())?,
            };
            let now = if state.is_some() {
                "2026-09-22T06:00:00Z"
            } else {
                "2026-09-21T06:00:00Z"
            };
            write_with(&out, |w| {
                workload::write_onboarding_input(w, &district, new_courses_per_run, &previous, now)
            })?;
            println!("{}", json!({"peak_rss_mb": peak_rss_mb()}));
            Ok(())
        }
        Command::FirstState { input, out } => {
            println!("{}", first_state(&input, &out)?);
            Ok(())
        }
        Command::CsvDiff { size, dir } => csvdiff::run(&size, &dir),
        Command::Module => module(),
        Command::Quota {
            per_minute,
            seconds,
            topics,
            topic_quota,
            latency_ms,
        } => tokio::runtime::Runtime::new()?.block_on(quota(
            per_minute,
            seconds,
            topics,
            topic_quota,
            latency_ms,
        )),
        Command::Scenarios {
            size,
            no_feed,
            works,
            graded_percent,
            new_courses_per_run,
            dir,
            keep_db,
        } => {
            let options = scenarios::Options {
                feed: !no_feed,
                works,
                graded_percent,
                new_courses_per_run,
                keep_db,
            };
            tokio::runtime::Runtime::new()?.block_on(scenarios::run(&size, options, &dir))
        }
    }
}
