//! Issue 16's four scenarios, run by the real host against the stand-ins: a first sync into an
//! empty Classroom, the first grade export, an idle run, an incremental run with 1% changed
//! read as deltas, and the same with full reads (`sync --full`). For each run: what the
//! stand-ins counted (Classroom, Pub/Sub and SIS requests), the minutes those Classroom
//! requests take at Google's 1,200 a minute, the bytes the state database grew by, the peak
//! memory of the host's processes, and the plan of exactly the input the host built (its
//! slices included), timed natively and in wasmtime in processes of their own, so each peak
//! is the planning's alone.
//!
//! The host is the shipped `classbridge` binary, one process per command as an admin or cron
//! runs it (`sync`, then `approve`), so its memory is its own and not the stand-ins' (at L
//! they hold the district and Classroom in this process). It runs in preview mode, so each
//! run with changes waits with its input stored; the input is copied out, then the run
//! approved and applied. A run with nothing to do keeps no input, so its planning is
//! measured from a `classbridge plan` made after it (not counted).

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Instant;

use anyhow::{Context as _, bail};
use classbridge::store::{RunRow, RunStatus, Store};
use classbridge_tests::classroom::{self, StandInClassroom};
use classbridge_tests::district::{District, Size};
use classbridge_tests::sis::StandInSis;
use serde_json::{Value, json};

/// Google's per-user quota the minutes are reckoned at.
const QUOTA_PER_MINUTE: f64 = 1_200.0;

struct Bench {
    size: String,
    /// The `classbridge` binary built beside this one.
    host_exe: PathBuf,
    config: PathBuf,
    sis: StandInSis,
    classroom: StandInClassroom,
    db: PathBuf,
    out: PathBuf,
    _dir: tempfile::TempDir,
}

/// One row of the table.
struct Row {
    scenario: String,
    ops: usize,
    /// Operations that failed when applied (a partial run).
    failed: u64,
    run_s: f64,
    classroom: u64,
    classroom_writes: u64,
    pubsub: u64,
    sis: u64,
    sis_writes: u64,
    db_bytes: i64,
    /// Peak resident memory of the host's `sync` process, and of its `approve` when the run
    /// had something to apply.
    host_peak_mb: (f64, Option<f64>),
    native: Value,
    wasm: Value,
}

/// What a scenarios run does beyond its size.
pub(crate) struct Options {
    pub feed: bool,
    /// Graded assignments posted in each graded class.
    pub works: usize,
    /// The share of classes (percent) whose teachers post graded work.
    pub graded_percent: usize,
    /// `classroom.newCoursesPerRun`: the first sync in bounded runs, each a row.
    pub new_courses_per_run: Option<u32>,
    pub keep_db: bool,
}

pub(crate) async fn run(size: &str, options: Options, dir: &Path) -> anyhow::Result<()> {
    let parsed = Size::parse(size).context("size must be tiny, s, m or l")?;
    if !(1..=100).contains(&options.graded_percent) {
        bail!("--graded-percent must be 1 to 100");
    }
    std::fs::create_dir_all(dir)?;
    let t = Instant::now();
    let step = |what: &str| eprintln!("[{:>6.0}s] {what}", t.elapsed().as_secs_f64());
    step("generating the district and starting the stand-ins");
    let mut b = Bench::start(size, parsed, &options, dir).await?;
    let mut rows = Vec::new();

    // A first sync in bounded runs is as many runs as it takes; the parts between the first
    // and the last are counted but not planned again apart (each is like its neighbours).
    let mut part = 1;
    loop {
        let label = match options.new_courses_per_run {
            None => "first sync (empty Classroom)".to_string(),
            Some(n) => format!("first sync, part {part} ({n} new courses a run)"),
        };
        step(&label);
        let (row, waiting) = b.scenario(&label, false, part == 1).await?;
        rows.push(row);
        if waiting == 0 {
            break;
        }
        eprintln!("  {waiting} classes wait for later runs");
        part += 1;
    }
    if part > 2
        && let Some(last) = rows.last_mut()
    {
        // The last part is planned apart after all, as the first was.
        last.measure(&b.out, &b.size)?;
    }
    step("second run");
    rows.push(
        b.scenario("second run (registers the course feeds)", false, true)
            .await?
            .0,
    );
    step("teachers post and grade work");
    let works = options.works;
    let graded = b.post_and_grade(works, options.graded_percent);
    let which = if options.graded_percent == 100 {
        "a class".to_string()
    } else {
        format!("a class in {graded} classes")
    };
    rows.push(
        b.scenario(
            &format!("first grade export ({works} graded works {which})"),
            false,
            true,
        )
        .await?
        .0,
    );
    step("idle");
    rows.push(b.scenario("idle", false, true).await?.0);
    step("incremental, delta reads");
    b.change_one_percent(1);
    rows.push(
        b.scenario("incremental 1%, delta reads", false, true)
            .await?
            .0,
    );
    step("incremental, full reads");
    b.change_one_percent(2);
    rows.push(
        b.scenario("incremental 1%, full reads (`sync --full`)", true, true)
            .await?
            .0,
    );
    step("idle after a full read");
    rows.push(b.scenario("idle", false, true).await?.0);
    step("done");
    let keep_db = options.keep_db;
    let feed = options.feed;
    if keep_db {
        let kept = dir.join(format!("{size}-scenarios.db"));
        // VACUUM INTO refuses to overwrite: the previous run's copy goes first.
        if kept.exists() {
            std::fs::remove_file(&kept)?;
        }
        let db = rusqlite::Connection::open(&b.db)?;
        db.execute("VACUUM INTO ?1", [kept.display().to_string()])?;
        eprintln!("state database kept as {}", kept.display());
    }

    println!(
        "\n{} district ({}), change feed {}:\n",
        size.to_uppercase(),
        b.describe(),
        if feed { "on" } else { "off" }
    );
    println!(
        "| scenario | ops | run s (read, plan, apply) | host peak MB (sync / approve) | plan native ms | native peak MB | plan wasmtime ms | wasmtime peak MB | Classroom requests (writes) | minutes at 1,200/min | Pub/Sub requests | SIS requests (writes) | state DB bytes in use added |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in &rows {
        println!("{}", r.line());
    }
    Ok(())
}

impl Row {
    /// The row in the table's markdown.
    fn line(&self) -> String {
        format!(
            "| {} | {} | {:.1} | {} | {} | {} | {} | {} | {} ({}) | {:.1} | {} | {} ({}) | {} |",
            self.scenario,
            if self.failed == 0 {
                self.ops.to_string()
            } else {
                format!("{} ({} failed)", self.ops, self.failed)
            },
            self.run_s,
            match self.host_peak_mb {
                (sync, Some(approve)) => format!("{sync:.0} / {approve:.0}"),
                (sync, None) => format!("{sync:.0} / –"),
            },
            num(&self.native, "wall_ms"),
            num(&self.native, "peak_rss_mb"),
            num(&self.wasm, "wall_ms"),
            num(&self.wasm, "peak_rss_mb"),
            self.classroom,
            self.classroom_writes,
            self.classroom as f64 / QUOTA_PER_MINUTE,
            self.pubsub,
            self.sis,
            self.sis_writes,
            self.db_bytes,
        )
    }
}

fn num(v: &Value, key: &str) -> String {
    match v[key].as_f64() {
        Some(x) => format!("{x:.0}"),
        None if v.is_null() => "not planned apart".to_string(),
        None => format!("failed: {}", v["error"].as_str().unwrap_or("?")),
    }
}

impl Row {
    /// The last run's input (left in `dir`) planned natively and in wasmtime, each in a
    /// process of its own; then the input is deleted, or with `CLASSBRIDGE_BENCH_KEEP_INPUTS`
    /// (a directory) moved there as `<size>-<scenario>.json`, to profile or take apart.
    fn measure(&mut self, dir: &Path, size: &str) -> anyhow::Result<()> {
        let input = Bench::input_path(dir, size);
        let path = input.display().to_string();
        self.native = crate::run_self(&["measure", &path, "native"])?;
        self.wasm = crate::run_self(&["measure", &path, "wasm-session"])?;
        match std::env::var_os("CLASSBRIDGE_BENCH_KEEP_INPUTS") {
            Some(keep) => {
                let name: String = self
                    .scenario
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                    .collect();
                let kept = Path::new(&keep).join(format!("{size}-{name}.json"));
                // A rename across file systems fails: copy, then delete.
                std::fs::copy(&input, &kept)?;
                std::fs::remove_file(&input)?;
            }
            None => std::fs::remove_file(&input)?,
        }
        eprintln!(
            "  {}: native {}, wasmtime {}",
            self.scenario, self.native, self.wasm
        );
        eprintln!("  row: {}", self.line());
        Ok(())
    }
}

impl Bench {
    fn input_path(dir: &Path, size: &str) -> PathBuf {
        dir.join(format!("{size}-scenario-input.json"))
    }

    async fn start(
        size: &str,
        parsed: Size,
        options: &Options,
        out: &Path,
    ) -> anyhow::Result<Bench> {
        let secret = crate::BENCH_SIS_SECRET;
        let sis = crate::bench_sis(District::generate(parsed, 2026)).await?;
        let classroom = classroom::start("bench-token").await?;
        let dir = tempfile::tempdir()?;
        std::fs::write(dir.path().join("s"), secret)?;
        std::fs::write(dir.path().join("t"), "bench-token")?;
        let feed_section = if options.feed {
            format!(
                "[classroom.change_feed]\ntopic = \"{}\"\nsubscription = \"{}\"\npubsub_base_url = \"{}\"\n",
                classbridge_tests::change_feed::TOPIC,
                classbridge_tests::change_feed::SUBSCRIPTION,
                classroom.base_url()
            )
        } else {
            String::new()
        };
        // The quota is the stand-in's to count, not the host's to wait for: a high one keeps
        // the bench's wall time to the work.
        let onboarding = options
            .new_courses_per_run
            .map(|n| format!("[rules.classroom]\nnewCoursesPerRun = {n}\n"))
            .unwrap_or_default();
        let config = dir.path().join("c.toml");
        std::fs::write(
            &config,
            format!(
                "state = \"b.db\"\n[classroom]\nbase_url = \"{}\"\nbearer_token = {{ file = \"t\" }}\nquota_per_minute = 600000\nmax_concurrency = 8\n{feed_section}\n[[source]]\nid = \"riverside\"\nbase_url = \"{}\"\nclient_id = \"bench\"\nclient_secret = {{ file = \"s\" }}\nrequests_per_minute = 600000\nmax_concurrency = 8\ndefault_category = \"cat-asg\"\n\n[rules]\npreview = true\nholds = {{ defaults = false }}\n{onboarding}",
                classroom.base_url(),
                sis.base_url()
            ),
        )?;
        let host_exe = std::env::current_exe()?.with_file_name("classbridge");
        if !host_exe.exists() {
            bail!(
                "{} is missing: build it beside the bench (`cargo build --release -p classbridge -p classbridge-bench`)",
                host_exe.display()
            );
        }
        Ok(Bench {
            size: size.to_string(),
            host_exe,
            config,
            sis,
            classroom,
            db: dir.path().join("b.db"),
            out: out.to_path_buf(),
            _dir: dir,
        })
    }

    fn describe(&self) -> String {
        self.sis.with_district(|d| {
            format!(
                "{} users, {} classes, {} enrollments",
                d.users.len(),
                d.classes.len(),
                d.enrollments.len()
            )
        })
    }

    /// Bytes of the state database in use (pages not on the free list), as a reader sees
    /// it: the file itself keeps its high-water mark, and its WAL grows and shrinks.
    fn db_bytes(&self) -> anyhow::Result<i64> {
        if !self.db.exists() {
            // Before the host's first command made it.
            return Ok(0);
        }
        let db = rusqlite::Connection::open_with_flags(
            &self.db,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )?;
        let pragma = |name: &str| -> rusqlite::Result<i64> {
            db.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))
        };
        Ok((pragma("page_count")? - pragma("freelist_count")?) * pragma("page_size")?)
    }

    /// One run as a district would have it: planned, approved, applied; with the classes
    /// that wait for a later run (`newCoursesPerRun`). Unless `measure`, the run's input is
    /// left in the bench's directory for [`Row::measure`].
    async fn scenario(
        &mut self,
        label: &str,
        full: bool,
        measure: bool,
    ) -> anyhow::Result<(Row, u64)> {
        let sis_before = (
            self.sis.state.counters.requests.load(Ordering::SeqCst),
            self.sis.state.counters.writes.load(Ordering::SeqCst),
        );
        let classroom_writes = self.classroom.writes();
        self.classroom.state.clear_log();
        let db_before = self.db_bytes()?;
        let t = Instant::now();
        let sync_args: &[&str] = if full { &["sync", "--full"] } else { &["sync"] };
        let sync = self.host(sync_args).await?;
        let (run, plan_summary) = self.last_run()?;
        let input = Bench::input_path(&self.out, &self.size);
        let mut ops = op_count(plan_summary.as_ref());
        let waiting = plan_summary
            .as_ref()
            .and_then(|s| s["skipped"]["class.waitsForLaterRun"].as_u64())
            .unwrap_or(0);
        let mut approve_peak = None;
        let mut failed = 0;
        let kept = match (run.status, sync.exit) {
            (RunStatus::Pending, Some(HELD)) => {
                self.write_input(run.id, &input)?;
                let approve = self.host(&["approve", &run.id.to_string()]).await?;
                approve_peak = Some(approve.peak_mb);
                let after = self.run_row(run.id)?;
                if approve.exit == Some(PARTIAL) && after.status == RunStatus::Partial {
                    // Some writes were refused: a measurement still, with the failures shown
                    // (they are retried next run), not the end of the sequence.
                    failed = after
                        .outcome_counts
                        .as_ref()
                        .and_then(|c| c["failed"].as_u64())
                        .unwrap_or(0);
                    eprintln!(
                        "  {label}: run {} partial: {}",
                        run.id,
                        after.message.clone().unwrap_or_default()
                    );
                    self.show_failures(run.id)?;
                } else if approve.exit != Some(0) {
                    bail!(
                        "{label}: `classbridge approve {}` ended {}: run {:?}, {}, {:?}",
                        run.id,
                        approve.describe(),
                        after.status,
                        after.message.unwrap_or_default(),
                        after.outcome_counts
                    );
                }
                true
            }
            (RunStatus::Applied | RunStatus::NoChanges, Some(0)) => false,
            (status, _) => bail!(
                "{label}: `classbridge sync` ended {}, run {} {status:?}: {}",
                sync.describe(),
                run.id,
                run.message.unwrap_or_default()
            ),
        };
        let run_s = t.elapsed().as_secs_f64();
        let calls = self.classroom.state.calls_by_method();
        let count = |prefix: &str| -> u64 {
            calls
                .iter()
                .filter(|(m, _)| m.starts_with(prefix))
                .map(|(_, n)| n)
                .sum()
        };
        let row_counts = (
            count("classroom."),
            self.classroom.writes() - classroom_writes,
            count("pubsub."),
            self.sis.state.counters.requests.load(Ordering::SeqCst) - sis_before.0,
            self.sis.state.counters.writes.load(Ordering::SeqCst) - sis_before.1,
            self.db_bytes()? - db_before,
        );
        if !kept {
            // Nothing to apply, so nothing kept: the same reads, planned only.
            let plan_args: &[&str] = if full { &["plan", "--full"] } else { &["plan"] };
            let preview = self.host(plan_args).await?;
            let (planned, summary) = self.last_run()?;
            if preview.exit != Some(0) {
                bail!(
                    "{label}: `classbridge plan` ended {}: {}",
                    preview.describe(),
                    planned.message.unwrap_or_default()
                );
            }
            ops = op_count(summary.as_ref());
            self.write_input(planned.id, &input)?;
        }
        eprintln!("  {label}: {ops} ops, {run_s:.1} s");
        let mut row = Row {
            scenario: label.to_string(),
            ops,
            failed,
            run_s,
            classroom: row_counts.0,
            classroom_writes: row_counts.1,
            pubsub: row_counts.2,
            sis: row_counts.3,
            sis_writes: row_counts.4,
            db_bytes: row_counts.5,
            host_peak_mb: (sync.peak_mb, approve_peak),
            native: Value::Null,
            wasm: Value::Null,
        };
        // Each row as soon as it is known (`measure` prints it measured): a long run that
        // fails later keeps what it measured.
        if measure {
            row.measure(&self.out, &self.size)?;
        } else {
            eprintln!("  row: {}", row.line());
        }
        Ok((row, waiting))
    }

    /// Runs `classbridge ARGS` with the bench's config to its end, while the stand-ins (on
    /// this process's runtime) answer it. Its log goes to this process's stderr.
    async fn host(&self, args: &[&str]) -> anyhow::Result<HostProcess> {
        let child = std::process::Command::new(&self.host_exe)
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .stdout(std::process::Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", self.host_exe.display()))?;
        let pid = libc::pid_t::try_from(child.id())?;
        tokio::task::spawn_blocking(move || wait_with_peak(pid)).await?
    }

    /// The newest run in the state database, and its plan's summary.
    fn last_run(&self) -> anyhow::Result<(RunRow, Option<Value>)> {
        let store = Store::open(&self.db)?;
        let run = store
            .runs(1)?
            .into_iter()
            .next()
            .context("the host recorded no run")?;
        let summary = run.summary.clone();
        Ok((run, summary))
    }

    /// Prints `classbridge runs show RUN` (the run's failures, each with its error).
    fn show_failures(&self, run: i64) -> anyhow::Result<()> {
        let out = std::process::Command::new(&self.host_exe)
            .arg("--config")
            .arg(&self.config)
            .args(["runs", "show", &run.to_string()])
            .output()
            .with_context(|| format!("starting {}", self.host_exe.display()))?;
        for line in String::from_utf8_lossy(&out.stdout).lines().take(60) {
            eprintln!("    {line}");
        }
        Ok(())
    }

    fn run_row(&self, id: i64) -> anyhow::Result<RunRow> {
        Ok(Store::open(&self.db)?.run(id)?)
    }

    fn write_input(&self, run: i64, to: &Path) -> anyhow::Result<()> {
        let text = Store::open(&self.db)?
            .run_input_text(run)?
            .with_context(|| format!("run {run} kept no input"))?;
        std::fs::write(to, text)?;
        Ok(())
    }

    /// Teachers post `works` graded assignments in `percent` of the courses (spread evenly),
    /// every student graded and the work returned; Classroom notifies each course's work
    /// feed once a work. Answers how many courses got work.
    fn post_and_grade(&self, works: usize, percent: usize) -> usize {
        self.classroom.world(|w| {
            let ids: Vec<String> = w
                .courses
                .keys()
                .enumerate()
                .filter(|(i, _)| (i * percent) % 100 < percent)
                .map(|(_, id)| id.clone())
                .collect();
            let graded = ids.len();
            for course_id in ids {
                for k in 0..works {
                    w.next_id += 1;
                    let cw_id = format!("{}", 900_000 + w.next_id);
                    let Some(course) = w.courses.get_mut(&course_id) else {
                        continue;
                    };
                    course.course_work.push(json!({"courseId": course_id, "id": cw_id,
                        "title": format!("Assignment {}", k + 1), "state": "PUBLISHED",
                        "workType": "ASSIGNMENT", "maxPoints": 100.0,
                        "creationTime": "2026-09-02T08:00:00Z", "updateTime": "2026-09-02T08:00:00Z",
                        "dueDate": {"year": 2026, "month": 9, "day": 20}}));
                    let students: Vec<Value> = course.students.values().cloned().collect();
                    for (i, s) in students.iter().enumerate() {
                        course.submissions.push(json!({"courseId": course_id, "courseWorkId": cw_id,
                            "id": format!("sub-{cw_id}-{i}"), "userId": s["userId"],
                            "state": "RETURNED", "late": false,
                            "assignedGrade": (60 + (i * 7 + k * 13) % 41) as f64,
                            "creationTime": "2026-09-02T08:00:00Z", "updateTime": "2026-09-21T08:00:00Z"}));
                    }
                    w.feed.publish(
                        "courses.courseWork",
                        "CREATED",
                        json!({"courseId": course_id, "id": cw_id}),
                    );
                }
            }
            graded
        })
    }

    /// 1% of users renamed and 1% of enrolments dropped in the SIS (stamped with a fresh
    /// `dateLastModified`, deletions kept as tombstones, as a SIS does), and 1% of the
    /// submissions regraded in Classroom, each notified.
    fn change_one_percent(&self, round: usize) {
        self.sis.with_district(|d| {
            let n = d.users.len();
            for i in (round..n).step_by(100) {
                d.users[i]["givenName"] = json!(format!("Renamed{round}x{i}"));
            }
            let mut k = 0;
            d.enrollments.retain(|_| {
                k += 1;
                k % 100 != 50
            });
        });
        self.classroom.world(|w| {
            let classroom::World { courses, feed, .. } = w;
            let mut k = 0usize;
            for c in courses.values_mut() {
                for s in &mut c.submissions {
                    k += 1;
                    if k % 100 != round {
                        continue;
                    }
                    let old = s["assignedGrade"].as_f64().unwrap_or(0.0);
                    s["assignedGrade"] = json!(if old >= 100.0 { old - 1.0 } else { old + 1.0 });
                    s["updateTime"] = json!("2026-09-22T08:00:00Z");
                    feed.publish(
                        "courses.courseWork.studentSubmissions",
                        "MODIFIED",
                        json!({"courseId": c.id, "courseWorkId": s["courseWorkId"], "id": s["id"]}),
                    );
                }
            }
        });
    }
}

/// `classbridge`'s exit code for a run waiting for approval.
const HELD: i32 = 4;
/// `classbridge`'s exit code for a run that failed, or applied with some failures.
const PARTIAL: i32 = 5;

/// How one host process ended.
struct HostProcess {
    /// Its exit code; `None` when a signal ended it.
    exit: Option<i32>,
    signal: Option<i32>,
    peak_mb: f64,
}

impl HostProcess {
    fn describe(&self) -> String {
        match (self.exit, self.signal) {
            (Some(code), _) => format!("with exit code {code}"),
            (None, Some(9)) => "killed (signal 9: out of memory)".to_string(),
            (None, Some(signal)) => format!("killed by signal {signal}"),
            (None, None) => "in an unknown way".to_string(),
        }
    }
}

/// Waits for child `pid`, reading its peak resident memory (`VmHWM` in `/proc/PID/status`)
/// every 100 ms while it runs; the last reading is its peak but for its final moments. Not
/// `wait4`'s `ru_maxrss`: a child started with `posix_spawn` (as std starts one) shares this
/// process's memory until it execs, and Linux counts that memory's peak as the child's, so
/// every host process would read as at least this one (the stand-ins: gigabytes at L).
fn wait_with_peak(pid: libc::pid_t) -> anyhow::Result<HostProcess> {
    let status_file = format!("/proc/{pid}/status");
    let mut peak_kb = 0u64;
    let mut status: libc::c_int = 0;
    loop {
        // SAFETY: `pid` is this process's child, not yet waited for (std's `Child` is never
        // waited on); `status` is valid for writes.
        let r = unsafe { libc::waitpid(pid, &raw mut status, libc::WNOHANG) };
        if r == pid {
            break;
        }
        if r < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(e).context("waiting for the host process");
            }
            continue;
        }
        if let Some(kb) = std::fs::read_to_string(&status_file)
            .ok()
            .as_deref()
            .and_then(high_water_kb)
        {
            peak_kb = peak_kb.max(kb);
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    Ok(HostProcess {
        exit: libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)),
        signal: libc::WIFSIGNALED(status).then(|| libc::WTERMSIG(status)),
        peak_mb: peak_kb as f64 / 1024.0,
    })
}

/// `VmHWM` (peak resident memory, KiB) from a `/proc/PID/status` text.
fn high_water_kb(status: &str) -> Option<u64> {
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The number of operations a plan's summary counts.
fn op_count(summary: Option<&Value>) -> usize {
    summary
        .and_then(|s| s["operations"].as_object())
        .map_or(0, |by_entity| {
            by_entity
                .values()
                .filter_map(Value::as_object)
                .flat_map(|by_change| by_change.values())
                .filter_map(Value::as_u64)
                .sum::<u64>() as usize
        })
}
