//! The CSV-diff comparison: two OneRoster CSV snapshots (users and enrollments, 1% changed)
//! diffed by classbridge's engine and by the peers `daff` (npm) and `csv-diff` (PyPI), which
//! this module installs under the bench directory when they are missing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context as _, bail};
use classbridge_engine::SyncConfig;
use classbridge_engine::input::{SourceData, SourcePayload};
use classbridge_engine::internals::diff;
use classbridge_engine::state::SyncState;
use classbridge_tests::district::{District, Size};
use classbridge_tests::workload;
use serde_json::Value;

const FILES: [&str; 2] = ["users.csv", "enrollments.csv"];
const MANIFEST: &str = "propertyName,value\nmanifest.version,1.0\noneroster.version,1.1\nfile.users,bulk\nfile.enrollments,bulk\nfile.orgs,absent\nfile.academicSessions,absent\nfile.courses,absent\nfile.classes,absent\nfile.categories,absent\nfile.lineItems,absent\nfile.results,absent\nfile.demographics,absent\n";

struct Peers {
    daff: PathBuf,
    csv_diff: PathBuf,
}

fn install_peers(dir: &Path) -> anyhow::Result<Peers> {
    let root = dir.join("peers");
    std::fs::create_dir_all(&root)?;
    let daff = root.join("node_modules/.bin/daff");
    if !daff.exists() {
        eprintln!("installing daff from npm into {}", root.display());
        let ok = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--prefix"])
            .arg(&root)
            .arg("daff")
            .status()
            .context("npm is needed to install daff")?;
        if !ok.success() {
            bail!("npm install daff failed");
        }
    }
    let venv = root.join("venv");
    let csv_diff = venv.join("bin/csv-diff");
    if !csv_diff.exists() {
        eprintln!("installing csv-diff from PyPI into {}", venv.display());
        let ok = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .context("python3 is needed to install csv-diff")?;
        if !ok.success() {
            bail!("python3 -m venv failed");
        }
        let ok = Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "csv-diff"])
            .status()?;
        if !ok.success() {
            bail!("pip install csv-diff failed");
        }
    }
    Ok(Peers { daff, csv_diff })
}

fn snapshot(district: &District, dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let bundle = district.to_csv_bundle();
    for f in FILES {
        let content = bundle
            .get(f)
            .with_context(|| format!("the generator wrote no {f}"))?;
        std::fs::write(dir.join(f), content)?;
    }
    std::fs::write(dir.join("manifest.csv"), MANIFEST)?;
    Ok(())
}

/// classbridge: read both bundles from disk, ingest them (every record parsed and validated),
/// and diff field by field. Returns (milliseconds, changes found).
fn classbridge_diff(a: &Path, b: &Path) -> anyhow::Result<(f64, usize)> {
    let config: SyncConfig = serde_json::from_value(workload::rules())?;
    let t = Instant::now();
    let read = |dir: &Path| -> anyhow::Result<SourceData> {
        let mut files = BTreeMap::new();
        for f in FILES.iter().chain(&["manifest.csv"]) {
            files.insert((*f).to_string(), std::fs::read_to_string(dir.join(f))?);
        }
        Ok(SourceData {
            source_id: "riverside".into(),
            payload: SourcePayload::Csv { files },
            removal_checks: Vec::new(),
        })
    };
    let empty = SyncState::default();
    let (ra, rb) = (read(a)?, read(b)?);
    // Inside one interning scope, as a plan runs.
    let changes = classbridge_engine::internals::interning(|| {
        let before = classbridge_engine::internals::ingest(&config, vec![ra], &empty);
        let after = classbridge_engine::internals::ingest(&config, vec![rb], &empty);
        match (
            before.sources.get("riverside"),
            after.sources.get("riverside"),
        ) {
            (Some(old), Some(new)) => Ok(diff(old, new).len()),
            _ => Err(anyhow::anyhow!(
                "the engine read no roster from the snapshots"
            )),
        }
    })?;
    Ok((t.elapsed().as_secs_f64() * 1000.0, changes))
}

/// One peer over both files; returns (milliseconds, changed rows it reported).
fn peer(
    run: impl Fn(&Path, &Path) -> Command,
    a: &Path,
    b: &Path,
    count: fn(&str) -> usize,
) -> anyhow::Result<(f64, usize)> {
    let mut ms = 0.0;
    let mut found = 0;
    for f in FILES {
        let mut cmd = run(&a.join(f), &b.join(f));
        cmd.stdin(Stdio::null()).stderr(Stdio::inherit());
        let t = Instant::now();
        let out = cmd.output()?;
        ms += t.elapsed().as_secs_f64() * 1000.0;
        if !out.status.success() && out.status.code() != Some(1) {
            bail!("{cmd:?} failed: {}", out.status);
        }
        found += count(&String::from_utf8_lossy(&out.stdout));
    }
    Ok((ms, found))
}

/// daff's diff: one row per change, marked `->` (modified), `---` (removed) or `+++` (added).
fn daff_changes(out: &str) -> usize {
    out.lines()
        .filter(|l| l.starts_with("->,") || l.starts_with("---,") || l.starts_with("+++,"))
        .count()
}

fn csv_diff_changes(out: &str) -> usize {
    serde_json::from_str::<Value>(out).map_or(0, |v| {
        ["added", "removed", "changed"]
            .iter()
            .map(|k| v[k].as_array().map_or(0, Vec::len))
            .sum()
    })
}

pub(crate) fn run(size: &str, dir: &Path) -> anyhow::Result<()> {
    let size_v = Size::parse(size).context("size must be tiny, s, m or l")?;
    let peers = install_peers(dir)?;
    let mut district = District::generate(size_v, 2026);
    let a = dir.join(format!("{size}-csv-a"));
    let b = dir.join(format!("{size}-csv-b"));
    snapshot(&district, &a)?;
    workload::change_one_percent(&mut district);
    snapshot(&district, &b)?;
    let rows: usize = FILES
        .iter()
        .map(|f| std::fs::read_to_string(a.join(f)).map_or(0, |s| s.lines().count() - 1))
        .sum();
    eprintln!("diffing {rows} rows per snapshot");

    let ours = classbridge_diff(&a, &b)?;
    let daff = peer(
        |x, y| {
            let mut c = Command::new(&peers.daff);
            c.args(["diff", "--id", "sourcedId", "--no-color", "--context", "0"])
                .arg(x)
                .arg(y);
            c
        },
        &a,
        &b,
        daff_changes,
    )?;
    let csv_diff = peer(
        |x, y| {
            let mut c = Command::new(&peers.csv_diff);
            c.args(["--key", "sourcedId", "--json"]).arg(x).arg(y);
            c
        },
        &a,
        &b,
        csv_diff_changes,
    )?;
    let fastest_peer = daff.0.min(csv_diff.0);
    println!("| tool | wall ms | changes found | vs classbridge |\n|---|---|---|---|");
    for (name, (ms, n)) in [
        ("classbridge engine", ours),
        ("daff (npm)", daff),
        ("csv-diff (PyPI)", csv_diff),
    ] {
        println!("| {name} | {ms:.0} | {n} | {:.1}× |", ms / ours.0);
    }
    println!(
        "\n{rows} rows per snapshot (users + enrollments); the fastest peer takes {:.2}× classbridge's time (above 1 means classbridge is faster).",
        fastest_peer / ours.0
    );
    Ok(())
}
