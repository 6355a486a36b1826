//! The state database stays bounded over idle syncs: a finished run keeps no input, retention
//! drops old runs' plans, and the history stays. `CLASSBRIDGE_IDLE_SYNCS=100` gives the figure in
//! BENCHMARKS.md (the default keeps CI short).

mod support;

use classbridge_tests::district::Size;
use support::Harness;

fn state_bytes(h: &Harness) -> u64 {
    ["classbridge.db", "classbridge.db-wal"]
        .iter()
        .filter_map(|n| std::fs::metadata(h.state_dir().join(n)).ok())
        .map(|m| m.len())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_syncs_do_not_grow_the_state_database() {
    let syncs: usize = std::env::var("CLASSBRIDGE_IDLE_SYNCS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let h = Harness::start(Size::Tiny, "").await;
    h.edit_config(|c| {
        c.replace(
            "[classroom]",
            "[retention]\nkeep_run_details = 5\n\n[classroom]",
        )
    });
    assert_eq!(h.cli(&["sync"]).await.code, 0);
    let mut sizes = Vec::new();
    for _ in 0..syncs {
        let idle = h.cli(&["sync", "--json"]).await;
        assert_eq!(idle.json()["status"], "noChanges", "{}", idle.stderr);
        sizes.push(state_bytes(&h));
    }
    // A finished run keeps what it changed, never the district it read.
    let db = rusqlite::Connection::open(h.state_dir().join("classbridge.db")).expect("db");
    let inputs_kept: i64 = db
        .query_row("SELECT COUNT(*) FROM run_inputs", [], |r| r.get(0))
        .expect("count");
    assert_eq!(inputs_kept, 0, "no finished run keeps its input");
    // Without retention every idle run stored its whole input again; now a run keeps only
    // its summary row. Measured per run after the first ten, against one input's size (a
    // preview keeps its input, for verification in the browser).
    assert_eq!(h.cli(&["plan"]).await.code, 0);
    // Its text's size: stored compressed, the input is smaller still.
    let input_bytes = support::stored_document(
        &db,
        "SELECT body FROM run_inputs ORDER BY run DESC LIMIT 1",
        [],
    )
    .len() as i64;
    let after_ten = sizes[9];
    let last = *sizes.last().unwrap();
    let per_run = last.saturating_sub(after_ten) / (syncs as u64 - 10);
    eprintln!(
        "state database after 1 sync + {syncs} idle syncs: {last} bytes (after 10 idle: {after_ten}); \
         {per_run} bytes per idle run; one run's input: {input_bytes} bytes"
    );
    assert!(
        per_run <= 8192 && per_run * 10 <= input_bytes as u64,
        "each idle run grows the database by {per_run} bytes: {sizes:?}"
    );
    let runs = h.cli(&["runs", "--json", "--limit", "1000"]).await.json();
    assert_eq!(
        runs.as_array().unwrap().len(),
        syncs + 2,
        "every run stays in the history (the first sync, the idle ones, the preview)"
    );
}
