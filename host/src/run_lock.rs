//! One writer per state database, across processes: an OS lock on a file beside it, held for
//! a whole run. The OS releases it when the holder exits or dies, so a run found `applying`
//! or `planning` by the lock's next holder belonged to a process that is gone, and only
//! then is it reconciled.

use std::fs::File;
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "another classbridge run is using {state} ({holder}); it was left alone. Try again when it has finished (a sync, approve or the console's schedule)"
    )]
    Busy { state: String, holder: String },
    #[error("the run lock {path} could not be opened")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Held for the length of a run; dropping it releases the lock.
#[derive(Debug)]
pub struct RunLock {
    file: File,
}

fn lock_path(state: &Path) -> PathBuf {
    let name = state
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("classbridge.db");
    state.with_file_name(format!("{name}.lock"))
}

impl RunLock {
    /// Takes the lock or says who holds it; never waits.
    pub fn acquire(state: &Path, what: &str) -> Result<RunLock, LockError> {
        let path = lock_path(state);
        let io = |source: std::io::Error| LockError::Io {
            path: path.display().to_string(),
            source,
        };
        let mut options = std::fs::OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&path).map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                return Err(LockError::Busy {
                    state: state.display().to_string(),
                    holder: if holder.is_empty() {
                        "holder unknown".into()
                    } else {
                        holder.to_string()
                    },
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        // Who holds it, for the message the next process prints.
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        write!(
            file,
            "{what} by process {} since {}",
            std::process::id(),
            chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ")
        )
        .map_err(io)?;
        file.flush().map_err(io)?;
        Ok(RunLock { file })
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_first_ones_name_until_it_lets_go() {
        let dir = std::env::temp_dir().join(format!("cb-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let state = dir.join("s.db");
        let first = RunLock::acquire(&state, "sync").unwrap();
        let err = RunLock::acquire(&state, "approve").unwrap_err().to_string();
        assert!(err.contains("another classbridge run"), "{err}");
        assert!(
            err.contains(&format!("sync by process {}", std::process::id())),
            "{err}"
        );
        drop(first);
        RunLock::acquire(&state, "approve").unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
