//! The host process's resident memory at the stages of a run, in the debug log
//! (`RUST_LOG=classbridge::resident=debug`): how a benchmark finds which stage of a sync holds
//! what, with any allocator (a heap profiler sees none of mimalloc's allocations).

/// Logs the process's resident memory now and its peak so far, in MB, after `stage`.
pub fn log_stage(stage: &str) {
    if !tracing::enabled!(tracing::Level::DEBUG) {
        return;
    }
    if let Some((now_mb, peak_mb)) = resident_mb() {
        tracing::debug!(stage, now_mb, peak_mb, "resident memory");
    }
}

/// `VmRSS` and `VmHWM` from `/proc/self/status` (Linux; elsewhere nothing is logged).
fn resident_mb() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .map(|kb| kb >> 10)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

#[cfg(test)]
mod tests {
    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_has_a_resident_size_no_larger_than_its_peak() {
        let (now, peak) = super::resident_mb().expect("linux has /proc/self/status");
        assert!(peak >= now && peak > 0, "{now} MB now, {peak} MB peak");
    }
}
