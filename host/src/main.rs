//! `classbridge`: keeps a district's SIS (OneRoster) and Google Classroom in step.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use classbridge::config::HostConfig;
use classbridge::engine_runtime::EngineRuntime;
use classbridge::progress::Progress;
use classbridge::report;
use classbridge::runner::{Host, RunError, RunErrorKind, RunReport};
use classbridge::store::RunStatus;

/// mimalloc in place of glibc's allocator. Applying a plan interleaves its long-lived
/// operations with each request's short-lived buffers, and glibc's heap kept the holes:
/// district S's grade-export approval held 677 MB resident for 139 MB of live data, and M's
/// first-sync approval 6.3 GB (BENCHMARKS.md §8). mimalloc also returns freed memory to the
/// system by itself, so a long-lived `serve` does not keep its largest run's peak.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit codes, documented in the README.
mod exit {
    pub(crate) const OK: u8 = 0;
    pub(crate) const OTHER: u8 = 1;
    pub(crate) const CONFIG: u8 = 2;
    pub(crate) const CONNECTION: u8 = 3;
    pub(crate) const HELD: u8 = 4;
    pub(crate) const FAILED: u8 = 5;
    pub(crate) const BUSY: u8 = 6;
}

#[derive(Parser)]
#[command(
    name = "classbridge",
    version,
    about = "Keeps a district's SIS (OneRoster) and Google Classroom in step",
    long_about = "Rosters flow SIS -> Classroom; grades flow Classroom -> SIS.\n\n\
        Every decision is made by the classbridge engine (run in wasmtime); this program fetches,\n\
        applies and remembers. Nothing changes remotely until a plan is applied, and plans that\n\
        trip a hold (mass deletions, an empty SIS) wait for `classbridge approve`.\n\n\
        Exit codes: 0 ok, 2 config error, 3 connection error, 4 held for approval, 5 failed,\n\
        6 another run holds the state database."
)]
struct Cli {
    /// Config file (TOML).
    #[arg(long, global = true, default_value = "classbridge.toml")]
    config: PathBuf,
    /// Machine-readable JSON on stdout.
    #[arg(long, global = true)]
    json: bool,
    /// More logging on stderr (-v info, -vv debug). RUST_LOG works too.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validate the config and test every connection: authenticate to each SIS and read one
    /// page, reach Classroom. Changes nothing.
    Check,
    /// Fetch what changed and print what a sync would change. Changes nothing remotely.
    Plan {
        /// Read everything, as `sync --full` does.
        #[arg(long)]
        full: bool,
    },
    /// Fetch, plan and apply. Stops with exit code 4 when preview mode is on or a hold fires;
    /// the plan is then kept as a pending run for `classbridge approve`.
    Sync {
        /// Accepted for scripts, but never a way around a hold or preview mode.
        #[arg(long)]
        yes: bool,
        /// Read everything: every record of each SIS source, not only those changed since
        /// the last run (also due every `full_read_every`), and every managed course in
        /// Classroom, even when the change feed names the changed ones (also due every
        /// `reconcile_every`). Only a full read finds records deleted without a trace.
        #[arg(long)]
        full: bool,
    },
    /// Approve a pending run, whole or with exceptions, and apply it.
    Approve {
        /// The run number (see `classbridge runs`).
        run: i64,
        /// Leave out this operation (its id from `classbridge runs show RUN`); repeatable.
        /// A rejected course drops everything that depends on it.
        #[arg(long = "reject", value_name = "OP_ID")]
        reject: Vec<String>,
    },
    /// History of runs: when, what changed, what failed and why.
    Runs {
        #[command(subcommand)]
        show: Option<RunsCommand>,
        /// How many runs to list.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Serve the admin console and its JSON API, and run scheduled syncs.
    ///
    /// On loopback (the default, 127.0.0.1:8787) plain HTTP is fine. Listening anywhere else
    /// needs serve.tls_cert and serve.tls_key, or --insecure-http behind a TLS proxy. With no
    /// serve.token configured, a fresh sign-in URL is printed at every start.
    Serve {
        /// Address to listen on (overrides serve.listen).
        #[arg(long)]
        listen: Option<String>,
        /// Allow plain HTTP beyond loopback (only behind a proxy that terminates HTTPS).
        #[arg(long)]
        insecure_http: bool,
    },
    /// Plan the undo of an applied run: members it added are removed and members it removed
    /// added back, renamed or archived courses restored, courses and topics it made deleted
    /// (only while no teacher work is in them), SIS lineItems and results put back as they
    /// were. The undo is a pending run: review it, then `classbridge approve` it. What cannot
    /// be undone (a course with teacher work, a student who has turned work in) is listed.
    Undo {
        /// The run number (see `classbridge runs`).
        run: i64,
    },
    /// Why a change was planned: `explain RUN OP_ID` shows one operation's chain from SIS
    /// record to change, with the fields before and after and the rules that applied;
    /// `explain --person EMAIL` shows every change planned or applied for one person across
    /// runs, and the records of theirs a rule left out. Reads the state database only.
    Explain {
        /// The run number (see `classbridge runs`).
        #[arg(required_unless_present = "person", requires = "op_id")]
        run: Option<i64>,
        /// The operation's id (see `classbridge runs show RUN`).
        op_id: Option<String>,
        /// Everything planned for this person, by email address.
        #[arg(long, value_name = "EMAIL", conflicts_with = "run")]
        person: Option<String>,
    },
    /// Tell what is due now ([notify]): held, failed and long-waiting runs and the daily
    /// digest, each once per channel. `sync`, `approve` and `serve` (every minute) do this
    /// too; run it from cron when no console is serving.
    Notify,
    /// Run a whole cycle against stand-in servers on loopback: no credentials, no setup.
    #[cfg(feature = "demo")]
    Demo {
        /// Leave the console open afterwards.
        #[arg(long)]
        serve: bool,
        /// District size: s, m or l.
        #[arg(long, default_value = "s")]
        size: String,
    },
}

#[derive(Subcommand)]
enum RunsCommand {
    /// One run in detail, with its plan and failures.
    Show { run: i64 },
}

fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            return ExitCode::from(exit::OTHER);
        }
    };
    let json = cli.json;
    match runtime.block_on(run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let code = match e.downcast_ref::<RunError>().map(RunError::kind) {
                Some(RunErrorKind::Config) => exit::CONFIG,
                Some(RunErrorKind::Connection) => exit::CONNECTION,
                Some(RunErrorKind::Failed | RunErrorKind::BadRequest) => exit::FAILED,
                Some(RunErrorKind::Busy) => exit::BUSY,
                _ if e
                    .downcast_ref::<classbridge::config::ConfigError>()
                    .is_some() =>
                {
                    exit::CONFIG
                }
                _ => exit::OTHER,
            };
            eprintln!("error: {e:#}");
            if json {
                // Automation reads stdout: a failure is a report too, never silence.
                let kind = match code {
                    exit::CONFIG => "config",
                    exit::CONNECTION => "connection",
                    exit::FAILED => "failed",
                    exit::BUSY => "busy",
                    _ => "other",
                };
                let report = serde_json::json!({
                    "status": "error",
                    "exitCode": code,
                    "kind": kind,
                    "error": format!("{e:#}"),
                });
                if let Ok(text) = serde_json::to_string_pretty(&report) {
                    println!("{text}");
                }
            }
            ExitCode::from(code)
        }
    }
}

fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// The engine runtime, from the compiled-module cache when its digest (kept in the state
/// database, apart from the file) vouches for it.
fn engine(config: &HostConfig) -> anyhow::Result<Arc<EngineRuntime>> {
    let dir = classbridge::runner::prepare_state_folder(config)?;
    let store = classbridge::store::Store::open(&config.state)?;
    const CACHE_KEY: &str = "engine.cwasm";
    let trusted = store.engine_digest(CACHE_KEY)?;
    let (runtime, written) = EngineRuntime::new_cached(
        config.engine.limits(),
        &dir.join(".classbridge-cache"),
        trusted.as_deref(),
    )
    .context("loading the engine module")?;
    if let Some(digest) = written {
        store.set_engine_digest(CACHE_KEY, &digest)?;
    }
    Ok(Arc::new(runtime))
}

async fn open(cli: &Cli) -> anyhow::Result<Host> {
    let config = HostConfig::load(&cli.config)?;
    let progress = Progress::new(!cli.json && std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let runtime = engine(&config)?;
    Ok(Host::new(config, runtime, progress)?)
}

fn report_exit(cli: &Cli, report: &RunReport) -> anyhow::Result<u8> {
    if cli.json {
        let mut v = serde_json::to_value(report)?;
        if let Some(plan) = &report.plan {
            v["plan"] = serde_json::json!({
                "id": plan.id,
                "summary": plan.summary,
                "holds": plan.holds,
                "recordIssues": plan.record_issues,
                "absences": plan.absences,
                "drift": plan.drift,
                "ops": plan.ops.iter().map(|o| serde_json::json!({
                    "opId": o.op_id, "entity": o.entity, "change": o.change, "summary": o.summary
                })).collect::<Vec<_>>(),
            });
        }
        print_json(&v)?;
    } else {
        print!("{}", report::run_report(report));
    }
    Ok(match report.status {
        RunStatus::Pending => exit::HELD,
        RunStatus::Partial | RunStatus::Failed => exit::FAILED,
        _ => exit::OK,
    })
}

/// `classbridge explain`: reads the state database only (no engine, no connection).
fn explain(
    cli: &Cli,
    run: Option<i64>,
    op_id: Option<&str>,
    person: Option<&str>,
) -> anyhow::Result<u8> {
    let config = HostConfig::load(&cli.config)?;
    let store = classbridge::store::Store::open(&config.state)?;
    if let Some(email) = person {
        let changes = store.person_changes(email)?;
        let skips = store.person_skips(email)?;
        if cli.json {
            print_json(
                &serde_json::json!({ "person": email, "changes": changes, "skipped": skips }),
            )?;
        } else {
            print!(
                "{}",
                classbridge::explain::person_report(email, &changes, &skips)
            );
        }
        return Ok(exit::OK);
    }
    let (Some(run), Some(op_id)) = (run, op_id) else {
        anyhow::bail!("say which change: `classbridge explain RUN OP_ID`, or `--person EMAIL`");
    };
    let row = store.run(run)?;
    let Some((op, outcome)) = store.run_op(run, op_id)? else {
        anyhow::bail!(
            "run {run} has no operation '{op_id}' (its operations: `classbridge runs show {run}`)"
        );
    };
    if cli.json {
        print_json(&serde_json::json!({
            "run": run,
            "op": op,
            "outcome": outcome,
            "status": classbridge::explain::outcome_words(outcome.as_ref(), row.status.as_str()),
        }))?;
    } else {
        print!(
            "{}",
            classbridge::explain::op_report(&row, &op, outcome.as_ref())
        );
    }
    Ok(exit::OK)
}

async fn run(cli: Cli) -> anyhow::Result<u8> {
    match &cli.command {
        Command::Check => {
            let mut host = open(&cli).await?;
            let results = host.check().await;
            let ok = results.iter().all(|(_, r)| r.is_ok());
            let configured = serde_json::to_value(&host.config.rules)?;
            let rules = classbridge_engine::config::effective_rules(&host.rules, &configured);
            let warnings = classbridge_engine::config::rules_without_effect(&host.rules);
            if cli.json {
                let v: Vec<_> = results
                    .iter()
                    .map(|(what, r)| match r {
                        Ok(m) => serde_json::json!({"target": what, "ok": true, "detail": m}),
                        Err(e) => serde_json::json!({"target": what, "ok": false, "error": e}),
                    })
                    .collect();
                print_json(&serde_json::json!({
                    "config": "valid", "connections": v, "rules": rules, "warnings": warnings
                }))?;
            } else {
                println!("config: valid ({} source(s))", host.config.sources.len());
                for (what, r) in &results {
                    match r {
                        Ok(m) => println!("  ✓ {what}: {m}"),
                        Err(e) => println!("  ✗ {what}: {e}"),
                    }
                }
                print!("{}", report::effective_rules(&rules, &warnings));
            }
            Ok(if ok { exit::OK } else { exit::CONNECTION })
        }
        Command::Plan { full } => {
            let mut host = open(&cli).await?;
            host.full_reconciliation = *full;
            let report = host.run("plan", false).await?;
            report_exit(&cli, &report)
        }
        Command::Sync { yes: _, full } => {
            let mut host = open(&cli).await?;
            host.full_reconciliation = *full;
            let report = host.run("sync", true).await?;
            report_exit(&cli, &report)
        }
        Command::Approve { run, reject } => {
            let mut host = open(&cli).await?;
            let who = format!(
                "cli:{}",
                std::env::var("USER").unwrap_or_else(|_| "unknown".into())
            );
            let report = host.approve(*run, reject.clone(), &who).await?;
            report_exit(&cli, &report)
        }
        Command::Runs { show, limit } => {
            let host = open(&cli).await?;
            match show {
                None => {
                    let runs = host.store.runs(*limit)?;
                    if cli.json {
                        print_json(&runs)?;
                    } else {
                        print!("{}", report::runs_table(&runs));
                    }
                }
                Some(RunsCommand::Show { run }) => {
                    let row = host.store.run(*run)?;
                    let plan = host.store.run_plan(*run)?;
                    let journal = host.store.journal(*run)?;
                    let decision = host.store.decision(*run)?;
                    if cli.json {
                        print_json(&serde_json::json!({
                            "run": row, "plan": plan, "journal": journal, "decision": decision
                        }))?;
                    } else {
                        print!(
                            "{}",
                            report::run_detail(&row, plan.as_ref(), &journal, decision.as_ref())
                        );
                    }
                }
            }
            Ok(exit::OK)
        }
        Command::Undo { run } => {
            let mut host = open(&cli).await?;
            let report = host.undo(*run).await?;
            report_exit(&cli, &report)
        }
        Command::Explain { run, op_id, person } => {
            explain(&cli, *run, op_id.as_deref(), person.as_deref())
        }
        Command::Notify => {
            let mut host = open(&cli).await?;
            if host.config.notify.is_none() {
                anyhow::bail!(
                    "no [notify] section in the config: nothing to tell, and no one to tell it to"
                );
            }
            let delivered = host.notify_now().await;
            if cli.json {
                print_json(&serde_json::json!({ "delivered": delivered }))?;
            } else {
                println!("{delivered} notification(s) delivered");
            }
            Ok(exit::OK)
        }
        Command::Serve {
            listen,
            insecure_http,
        } => {
            let host = open(&cli).await?;
            let options = classbridge::serve::ServeOptions {
                listen: listen.clone(),
                insecure_http: *insecure_http,
            };
            classbridge::serve::serve(host, options).await?;
            Ok(exit::OK)
        }
        #[cfg(feature = "demo")]
        Command::Demo { serve, size } => {
            classbridge::demo::run(*serve, size, cli.json).await?;
            Ok(exit::OK)
        }
    }
}
