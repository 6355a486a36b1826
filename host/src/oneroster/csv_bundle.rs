//! A OneRoster CSV bundle from a folder or a zip, handed to the engine as file contents.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use super::FetchError;

/// How much a bundle may hold once decompressed: a small zip can expand to gigabytes.
#[derive(Clone, Copy, Debug)]
pub struct BundleLimits {
    pub max_file_bytes: u64,
    pub max_total_bytes: u64,
}

impl BundleLimits {
    pub fn from_mb(file_mb: u64, total_mb: u64) -> BundleLimits {
        BundleLimits {
            max_file_bytes: file_mb.saturating_mul(1 << 20),
            max_total_bytes: total_mb.saturating_mul(1 << 20),
        }
    }
}

/// Reads one file's text, refusing it past the per-file limit or the bundle's remaining budget.
fn read_limited(
    reader: impl Read,
    name: &str,
    limits: BundleLimits,
    total: &mut u64,
) -> Result<String, String> {
    let budget = limits.max_file_bytes.min(limits.max_total_bytes - *total);
    let mut text = String::new();
    reader
        .take(budget + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("{name}: {e}"))?;
    let len = text.len() as u64;
    if len > limits.max_file_bytes {
        return Err(format!(
            "{name} is larger than {} MiB decompressed (max_csv_file_mb in [[source]] raises the limit)",
            limits.max_file_bytes >> 20
        ));
    }
    if len > budget {
        return Err(format!(
            "the bundle is larger than {} MiB decompressed (max_bundle_mb in [[source]] raises the limit)",
            limits.max_total_bytes >> 20
        ));
    }
    *total += len;
    Ok(text)
}

/// Reads `manifest.csv` and the entity files. Files that are not CSV are ignored.
pub fn read_bundle(
    source_id: &str,
    path: &Path,
    limits: BundleLimits,
) -> Result<BTreeMap<String, String>, FetchError> {
    let fail = |reason: String| FetchError::Incomplete {
        source_id: source_id.to_string(),
        collection: "CSV bundle".into(),
        reason: format!("{}: {reason}", path.display()),
    };
    let mut files = BTreeMap::new();
    let mut total = 0u64;
    if path.is_dir() {
        let entries = std::fs::read_dir(path).map_err(|e| fail(e.to_string()))?;
        for entry in entries {
            let entry = entry.map_err(|e| fail(e.to_string()))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.to_ascii_lowercase().ends_with(".csv") {
                let file =
                    std::fs::File::open(entry.path()).map_err(|e| fail(format!("{name}: {e}")))?;
                let text = read_limited(file, &name, limits, &mut total).map_err(fail)?;
                files.insert(name, text);
            }
        }
    } else {
        let file = std::fs::File::open(path).map_err(|e| fail(e.to_string()))?;
        let mut zip = zip::ZipArchive::new(file).map_err(|e| fail(format!("not a zip: {e}")))?;
        for i in 0..zip.len() {
            let mut entry = zip.by_index(i).map_err(|e| fail(e.to_string()))?;
            let name = entry
                .name()
                .map_err(|e| fail(e.to_string()))?
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_string();
            if !name.to_ascii_lowercase().ends_with(".csv") {
                continue;
            }
            // The declared size is checked first, but a zip can lie about it: the read is
            // capped as well.
            if entry.size() > limits.max_file_bytes {
                return Err(fail(format!(
                    "{name} declares {} MiB decompressed, over max_csv_file_mb ({} MiB)",
                    entry.size() >> 20,
                    limits.max_file_bytes >> 20
                )));
            }
            let text = read_limited(&mut entry, &name, limits, &mut total).map_err(fail)?;
            files.insert(name, text);
        }
    }
    if !files.contains_key("manifest.csv") {
        return Err(fail("no manifest.csv".into()));
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(file: u64, total: u64) -> BundleLimits {
        BundleLimits {
            max_file_bytes: file,
            max_total_bytes: total,
        }
    }

    #[test]
    fn a_file_or_bundle_past_its_limit_is_refused_naming_the_setting() {
        let mut total = 0;
        let err =
            read_limited(&[b'a'; 100][..], "users.csv", limits(50, 1000), &mut total).unwrap_err();
        assert!(err.contains("max_csv_file_mb"), "{err}");
        let mut total = 0;
        read_limited(&[b'a'; 40][..], "orgs.csv", limits(50, 60), &mut total).unwrap();
        let err =
            read_limited(&[b'a'; 40][..], "users.csv", limits(50, 60), &mut total).unwrap_err();
        assert!(err.contains("max_bundle_mb"), "{err}");
    }
}
