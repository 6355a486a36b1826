//! The console's browser benchmark (issue 17): a district's first sync waits in preview, and
//! headless Chromium opens it, searches it, verifies it and edits its rules, while the page's
//! long tasks and the browser's memory are recorded. It prints measurements and asserts no
//! timing; it is ignored in the suite (district M takes minutes). BENCHMARKS.md §7 has the
//! command and the figures:
//!
//! ```sh
//! cargo build --release -p classbridge
//! CLASSBRIDGE_BIN=target/release/classbridge CLASSBRIDGE_CONSOLE_BENCH_SIZE=m \
//!   cargo test --release -p classbridge-tests --test console_bench -- --ignored --nocapture
//! ```

mod browser;
mod support;

use std::time::{Duration, Instant};

use classbridge_tests::district::Size;
use fantoccini::{Client, Locator};
use serde_json::{Value, json};
use support::Harness;

/// Memory of the browser's renderer processes (the page and its worker), in MB: their
/// proportional set size (each shared page counted once across processes, where resident
/// sizes would count Chromium's shared libraries once per process), and how many there are.
fn renderer_memory() -> (u64, usize) {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return (0, 0);
    };
    let (mut kb, mut count) = (0, 0);
    for p in procs.flatten() {
        let cmdline = std::fs::read(p.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline);
        if !cmdline.contains("--type=renderer") {
            continue;
        }
        count += 1;
        let rollup = std::fs::read_to_string(p.path().join("smaps_rollup")).unwrap_or_default();
        kb += rollup
            .lines()
            .find_map(|l| l.strip_prefix("Pss:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
    }
    (kb / 1024, count)
}

fn renderer_rss_mb() -> u64 {
    renderer_memory().0
}

/// Runs `start` in the page, then waits until `css` shows `needle`; answers the time in ms
/// measured by the page itself (from just before `start` to the DOM change).
async fn timed(c: &Client, start: &str, css: &str, needle: &str, limit: Duration) -> f64 {
    let script = format!(
        r#"const [css, needle, done] = [arguments[0], arguments[1], arguments[arguments.length - 1]];
           const t0 = performance.now();
           const check = () => {{
             const el = document.querySelector(css);
             return el && el.textContent.includes(needle);
           }};
           const obs = new MutationObserver(() => {{
             if (check()) {{ obs.disconnect(); done(performance.now() - t0); }}
           }});
           obs.observe(document.body, {{subtree: true, childList: true, characterData: true}});
           {start}
           if (check()) {{ obs.disconnect(); done(performance.now() - t0); }}"#
    );
    c.update_timeouts(fantoccini::wd::TimeoutConfiguration::new(
        Some(limit),
        None,
        None,
    ))
    .await
    .ok();
    let answer = c
        .execute_async(&script, vec![json!(css), json!(needle)])
        .await
        .unwrap_or_else(|e| panic!("{css} never showed {needle:?}: {e}"));
    answer.as_f64().unwrap_or(f64::NAN)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: minutes at district M; see BENCHMARKS.md §7"]
async fn console_at_district_scale() {
    let size = std::env::var("CLASSBRIDGE_CONSOLE_BENCH_SIZE").unwrap_or_else(|_| "s".into());
    let size = Size::parse(&size).expect("CLASSBRIDGE_CONSOLE_BENCH_SIZE is tiny, s, m or l");
    let h = Harness::start(size, "preview = true").await;
    // Pages as large as Google asks SIS partners to serve: the read is not what is measured.
    h.edit_config(|c| c.replace("page_size = 25", "page_size = 10000"));
    let began = Instant::now();
    let first = h.cli(&["sync", "--json"]).await;
    assert_eq!(first.code, 4, "{}{}", first.stdout, first.stderr);
    let run = first.json()["run"].as_i64().expect("run id");
    let sync_secs = began.elapsed().as_secs_f64();

    let (_serve, url) = browser::serve(&h).await;
    let browser = browser::Browser::start_traced().await;
    let c = &browser.client;

    // Sign in; long tasks are recorded from here on.
    c.goto(&url).await.expect("sign in");
    for _ in 0..300 {
        if c.find(Locator::Css(&format!("#run-{run}"))).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    c.execute(
        "window.__long = []; new PerformanceObserver(l => window.__long.push(...l.getEntries().map(e => e.duration))).observe({type: 'longtask', buffered: true}); performance.mark('classbridge-bench-start');",
        vec![],
    )
    .await
    .expect("long-task observer");

    // The renderer processes' memory, sampled every 200 ms from here on: browsing (open,
    // search, filter) and then Verify and What-if, apart.
    let sampler = {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(renderer_rss_mb()));
        let (s, p) = (stop.clone(), peak.clone());
        let handle = std::thread::spawn(move || {
            while !s.load(std::sync::atomic::Ordering::Relaxed) {
                p.fetch_max(renderer_rss_mb(), std::sync::atomic::Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(200));
            }
        });
        (stop, peak, handle)
    };

    let limit = Duration::from_secs(600);
    let open_ms = timed(
        c,
        &format!("location.hash = '#/runs/{run}';"),
        "#ops-count",
        "change",
        limit,
    )
    .await;
    // What opening fetches: the run's outline, its size and how long the host takes to answer.
    let outline = c
        .execute_async(
            &format!(
                "const done = arguments[arguments.length - 1]; const t0 = performance.now();
                 fetch('/api/runs/{run}').then(r => r.text()).then(t => {{
                   const ms = performance.now() - t0; const v = JSON.parse(t);
                   done({{bytes: t.length, ms, issues: (v.plan && v.plan.recordIssues || []).length,
                          absences: (v.plan && v.plan.absences || []).length}});
                 }});"
            ),
            vec![],
        )
        .await
        .unwrap_or_default();
    eprintln!("run outline: {outline}");
    eprintln!("renderer processes: {}", renderer_memory().1);
    // Every request the page made so far, with its time: where opening spends it.
    let requests = c
        .execute(
            "return performance.getEntriesByType('resource').filter(e => e.name.includes('/api/')).map(e => `${Math.round(e.startTime)}+${Math.round(e.duration)}ms ${e.name.replace(location.origin, '')} ${e.transferSize}B`);",
            vec![],
        )
        .await
        .unwrap_or_default();
    eprintln!("requests: {requests:#}");
    let ops_total = c
        .find(Locator::Css("#ops-count"))
        .await
        .expect("count")
        .text()
        .await
        .unwrap_or_default();
    let search_ms = timed(
        c,
        "const q = document.querySelector('input[data-action=search]'); q.value = 's1@'; q.dispatchEvent(new Event('input', {bubbles: true}));",
        "#ops-count",
        " of ",
        limit,
    )
    .await;
    let filter_ms = timed(
        c,
        "document.getElementById('ops-count').textContent = ''; const s = document.querySelector('select[data-action=filter-change]'); s.value = 'create'; s.dispatchEvent(new Event('change', {bubbles: true}));",
        "#ops-count",
        " of ",
        limit,
    )
    .await;
    let browse_peak_mb = sampler
        .1
        .swap(renderer_rss_mb(), std::sync::atomic::Ordering::Relaxed);
    let verify_ms = timed(
        c,
        "document.querySelector('button[data-action=verify]').click();",
        "#verified",
        "plan",
        limit,
    )
    .await;
    let whatif_ms = timed(
        c,
        "document.querySelector('button[data-action=whatif]').click();",
        "#whatif-holds",
        "Would",
        limit,
    )
    .await;
    sampler.0.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = sampler.2.join();
    let worker_peak_mb = sampler.1.load(std::sync::atomic::Ordering::Relaxed);
    // The browser's own account of the page's main thread, beside the observer's, from the
    // same moment on (the mark set with the observer).
    let (signing_in, tasks) = browser::main_thread_tasks(c, "classbridge-bench-start").await;
    let traced = |tasks: &[f64]| {
        if tasks.is_empty() {
            return "no tasks traced".to_string();
        }
        let longest = tasks.iter().copied().fold(0.0, f64::max);
        let over = |ms: f64| tasks.iter().filter(|t| **t > ms).count();
        format!(
            "{} tasks, {} over 50 ms, {} over 200 ms, longest {longest:.0} ms",
            tasks.len(),
            over(50.0),
            over(200.0)
        )
    };
    eprintln!(
        "the page's main thread while signing in and loading the console (trace): {}",
        traced(&signing_in)
    );
    eprintln!(
        "the page's main thread from opening the run to the end (trace): {}",
        traced(&tasks)
    );
    let traced_longest = tasks.iter().copied().fold(0.0, f64::max);
    let long: Vec<f64> = serde_json::from_value(
        c.execute("return window.__long;", vec![])
            .await
            .unwrap_or(Value::Null),
    )
    .unwrap_or_default();
    let longest = long.iter().copied().fold(0.0, f64::max);
    let heap = c
        .execute(
            "return performance.memory ? Math.round(performance.memory.usedJSHeapSize / 1048576) : null;",
            vec![],
        )
        .await
        .unwrap_or(Value::Null);
    println!(
        "\n| size | first sync (s) | changes | open run (ms) | search (ms) | filter (ms) | verify (ms) | what-if open (ms) | long tasks (observer) | longest task, observer / trace (ms) | renderer PSS peak browsing (MB) | renderer PSS peak Verify and What-if (MB) | JS heap (MB) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {size:?} | {sync_secs:.0} | {} | {open_ms:.0} | {search_ms:.0} | {filter_ms:.0} | {verify_ms:.0} | {whatif_ms:.0} | {} | {longest:.0} / {traced_longest:.0} | {browse_peak_mb} | {worker_peak_mb} | {heap} |",
        ops_total.split_whitespace().next().unwrap_or("?"),
        long.len(),
    );
    let _ = browser.client.clone().close().await;
}
