//! Atomic file output: every file is written to a temporary sibling and renamed into place, so an
//! interrupted run leaves either the old file or the new one, never a half-written one. The writer
//! itself is [`attnflow_dynamics::output::write_atomic`], the one shared by the whole workspace.

use std::path::Path;

use crate::error::{Result, io_error};

/// Writes `bytes` to `path` atomically (creating the parent directory if needed).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io_error(parent))?;
    }
    attnflow_dynamics::output::write_atomic(path, bytes).map_err(io_error(path))
}

/// Writes `value` as pretty JSON (with a trailing newline) atomically.
pub fn write_json_atomic(path: &Path, value: &serde_json::Value) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    write_atomic(path, text.as_bytes())
}

/// Reads and parses a JSON file.
pub fn read_json(path: &Path) -> Result<serde_json::Value> {
    let text = std::fs::read_to_string(path).map_err(io_error(path))?;
    Ok(serde_json::from_str(&text)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temporary() {
        let dir =
            std::env::temp_dir().join(format!("attnflow-figures-output-{}", std::process::id()));
        let path = dir.join("sub").join("a.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
