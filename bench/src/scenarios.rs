//! Issue 16's four scenarios, run by the real host against the stand-ins: a first sync into an
//! empty Classroom, the first grade export, an idle run, an incremental run with 1% changed
//! read as deltas, and the same with full reads (`sync --full`). For each run: what the
//! stand-ins counted (Classroom, Pub/Sub and SIS requests), the minutes those Classroom
//! requests take at Google's 1,200 a minute, the bytes the state database grew by, and the
//! plan of exactly the input the host built (its slices included), timed natively and in
//! wasmtime in processes of their own, so each peak is the planning's alone.
//!
//! The host runs in preview mode, so each run with changes waits with its input stored; the
//! input is copied out, then the run approved and applied. A run with nothing to do keeps no
//! input, so its planning is measured from a plan-only run made after it (not counted).

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Instant;

use anyhow::{Context as _, bail};
use classbridge::engine_runtime::EngineRuntime;
use classbridge::runner::Host;
use classbridge::store::RunStatus;
use classbridge_tests::classroom::{self, StandInClassroom};
use classbridge_tests::district::{District, Size};
use classbridge_tests::sis::StandInSis;
use serde_json::{Value, json};

/// Google's per-user quota the minutes are reckoned at.
const QUOTA_PER_MINUTE: f64 = 1_200.0;

struct Bench {
    size: String,
    host: Host,
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
    run_s: f64,
    classroom: u64,
    classroom_writes: u64,
    pubsub: u64,
    sis: u64,
    sis_writes: u64,
    db_bytes: i64,
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
        "| scenario | ops | run s (read, plan, apply) | plan native ms | native peak MB | plan wasmtime ms | wasmtime peak MB | Classroom requests (writes) | minutes at 1,200/min | Pub/Sub requests | SIS requests (writes) | state DB bytes in use added |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in &rows {
        println!("{}", r.line());
    }
    Ok(())
}

impl Row {
    /// The row in the table's markdown.
    fn line(&self) -> String {
        format!(
            "| {} | {} | {:.1} | {} | {} | {} | {} | {} ({}) | {:.1} | {} | {} ({}) | {} |",
            self.scenario,
            self.ops,
            self.run_s,
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
    /// process of its own; then the input is deleted.
    fn measure(&mut self, dir: &Path, size: &str) -> anyhow::Result<()> {
        let input = Bench::input_path(dir, size);
        let path = input.display().to_string();
        self.native = crate::run_self(&["measure", &path, "native"])?;
        self.wasm = crate::run_self(&["measure", &path, "wasm-session"])?;
        std::fs::remove_file(&input)?;
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
        let cfg = classbridge::config::HostConfig::load(&config)?;
        let rt = std::sync::Arc::new(EngineRuntime::new(cfg.engine.limits())?);
        let host = Host::new(cfg, rt, classbridge::progress::Progress::new(false))?;
        Ok(Bench {
            size: size.to_string(),
            host,
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
        self.host.full_reconciliation = full;
        let report = self.host.run("bench", true).await?;
        let input = Bench::input_path(&self.out, &self.size);
        let mut ops = report.plan.as_ref().map_or(0, |p| p.ops.len());
        let waiting = report.plan.as_ref().map_or(0, |p| {
            p.summary
                .skipped
                .get("class.waitsForLaterRun")
                .copied()
                .unwrap_or(0)
        });
        let kept = match report.status {
            RunStatus::Pending => {
                self.write_input(report.run, &input)?;
                let applied = self.host.approve(report.run, Vec::new(), "bench").await?;
                if applied.failed > 0 {
                    bail!(
                        "{label}: {} operations failed: {:?}",
                        applied.failed,
                        applied.failures.first()
                    );
                }
                true
            }
            RunStatus::Applied | RunStatus::NoChanges => false,
            other => bail!("{label}: the run ended {other:?}: {}", report.message),
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
            self.host.full_reconciliation = full;
            let preview = self.host.run("bench-plan-only", false).await?;
            ops = preview.plan.as_ref().map_or(0, |p| p.ops.len());
            self.write_input(preview.run, &input)?;
        }
        self.host.full_reconciliation = false;
        eprintln!("  {label}: {ops} ops, {run_s:.1} s");
        let mut row = Row {
            scenario: label.to_string(),
            ops,
            run_s,
            classroom: row_counts.0,
            classroom_writes: row_counts.1,
            pubsub: row_counts.2,
            sis: row_counts.3,
            sis_writes: row_counts.4,
            db_bytes: row_counts.5,
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

    fn write_input(&self, run: i64, to: &Path) -> anyhow::Result<()> {
        let text = self
            .host
            .store
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
