//! Where a plan's memory goes: the engine planned natively under a counting allocator, with
//! the heap at each step and what each part of the plan holds. BENCHMARKS.md §7 uses it for
//! the console's Verify (a roster-only first sync, planned as the console's worker plans it).
//!
//! ```sh
//! target/release/classbridge-bench gen m
//! cargo run --release -p classbridge-bench --example plan_memory -- target/bench/m-first.json --roster-only
//! ```
//!
//! `--roster-only` empties the Classroom listings and imports rosters only, which turns the
//! generated first sync into the console benchmark's: every course, member and topic created.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use classbridge_engine::SyncInput;
use classbridge_engine::config::SyncMode;

/// Counts the bytes allocated now and at most, around the system allocator.
struct Counting;

static NOW: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let now = NOW.fetch_add(by, Relaxed) + by;
    PEAK.fetch_max(now, Relaxed);
}

// SAFETY: every call is passed to the system allocator unchanged; only sizes are counted.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        // SAFETY: as the caller promised for `alloc`.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        NOW.fetch_sub(layout.size(), Relaxed);
        // SAFETY: as the caller promised for `dealloc`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() {
            grew(new_size - layout.size());
        } else {
            NOW.fetch_sub(layout.size() - new_size, Relaxed);
        }
        // SAFETY: as the caller promised for `realloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn mb(bytes: usize) -> f64 {
    bytes as f64 / f64::from(1 << 20)
}

fn step(what: &str) {
    println!(
        "| {what} | {:.1} | {:.1} |",
        mb(NOW.load(Relaxed)),
        mb(PEAK.load(Relaxed))
    );
}

/// What dropping `part` gives back, in MB.
fn held<T>(part: T) -> f64 {
    let before = NOW.load(Relaxed);
    drop(part);
    mb(before.saturating_sub(NOW.load(Relaxed)))
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("usage: plan_memory INPUT.json [--roster-only]"))?;
    let roster_only = args.any(|a| a == "--roster-only");
    println!("| step | heap now (MB) | heap peak (MB) |\n|---|---|---|");
    let bytes = std::fs::read(&path)?;
    step("input read");
    let mut input: SyncInput = serde_json::from_slice(&bytes)?;
    drop(bytes);
    if roster_only {
        input.classroom = Default::default();
        input.config.mode = SyncMode::ImportOnly;
    }
    step("input parsed, its bytes freed");
    PEAK.store(NOW.load(Relaxed), Relaxed);
    let mut plan = classbridge_engine::plan(input).map_err(|e| anyhow::anyhow!("{e}"))?;
    step("planned (peak: while planning)");
    println!(
        "\n{} operations, {} roster changes; a PlannedOp is {} bytes inline\n",
        plan.ops.len(),
        plan.roster_changes.len(),
        std::mem::size_of::<classbridge_engine::plan::PlannedOp>()
    );
    println!("| part of the plan | MB |\n|---|---|");
    println!(
        "| operations | {:.1} |",
        held(std::mem::take(&mut plan.ops))
    );
    println!(
        "| roster changes | {:.1} |",
        held(std::mem::take(&mut plan.roster_changes))
    );
    println!(
        "| state delta: each source's roster | {:.1} |",
        held(std::mem::take(&mut plan.state_delta.sources))
    );
    println!(
        "| state delta: the merged roster | {:.1} |",
        held(std::mem::take(&mut plan.state_delta.roster))
    );
    println!("| the rest | {:.1} |", held(plan));
    Ok(())
}
