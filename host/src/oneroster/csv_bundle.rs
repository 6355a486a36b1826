//! A OneRoster CSV bundle from a folder or a zip, handed to the engine as file contents.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use super::FetchError;

/// Reads `manifest.csv` and the entity files. Files that are not CSV are ignored.
pub fn read_bundle(source_id: &str, path: &Path) -> Result<BTreeMap<String, String>, FetchError> {
    let fail = |reason: String| FetchError::Incomplete {
        source_id: source_id.to_string(),
        collection: "CSV bundle".into(),
        reason: format!("{}: {reason}", path.display()),
    };
    let mut files = BTreeMap::new();
    if path.is_dir() {
        let entries = std::fs::read_dir(path).map_err(|e| fail(e.to_string()))?;
        for entry in entries {
            let entry = entry.map_err(|e| fail(e.to_string()))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.to_ascii_lowercase().ends_with(".csv") {
                let text = std::fs::read_to_string(entry.path())
                    .map_err(|e| fail(format!("{name}: {e}")))?;
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
            let mut text = String::new();
            entry
                .read_to_string(&mut text)
                .map_err(|e| fail(format!("{name}: {e}")))?;
            files.insert(name, text);
        }
    }
    if !files.contains_key("manifest.csv") {
        return Err(fail("no manifest.csv".into()));
    }
    Ok(files)
}
