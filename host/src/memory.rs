//! Giving the memory a finished run freed back to the system.
//!
//! A district's run frees gigabytes at its end (the source pages, the engine's input and
//! plan), but glibc's allocator keeps freed memory for reuse unless it lies at the top of its
//! heap, and with many threads it mostly does not: after district L's first sync the host held
//! 6.7 GB it no longer used. A one-shot `classbridge sync` exits and returns it anyway; a
//! long-lived `classbridge serve` would hold its largest run's peak between runs, beside the
//! district's other services. So `serve` hands it back after each job.

/// Returns freed heap memory to the system (glibc's `malloc_trim`); elsewhere a no-op, since
/// other allocators return memory on their own terms. Logs resident memory before and after.
pub fn release_freed() {
    let before = resident_mb();
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; it takes no pointer and
    // is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
    tracing::debug!(
        resident_mb_before = before,
        resident_mb_after = resident_mb(),
        "freed memory returned to the system"
    );
}

/// This process's resident memory in MiB, when the system says (Linux's `/proc`).
fn resident_mb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb / 1024)
}
