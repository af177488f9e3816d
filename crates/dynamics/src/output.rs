//! Atomic file output, the one writer of the workspace (the `attnflow` binary, the figure
//! pipelines and xtask all write through [`write_atomic`]).
//!
//! The bytes go to a fresh temporary file in the target's directory (created exclusively, so no
//! existing file is ever clobbered, with a short name that works whatever the length of the
//! target's name), are flushed to disk (fsync), and the temporary file is renamed over the target;
//! the directory is then synced too. An interrupted or failed write leaves either the old file or
//! the new one, never a half-written one, and removes its temporary file. Concurrent writers of one
//! target each use their own temporary file: the last rename wins, and every reader sees one
//! complete version.
//!
//! Interrupts: every temporary file exists in a registry from its creation to its rename or
//! removal, and [`remove_in_flight`] removes the ones of this process that are still there. A
//! signal handler (the `attnflow` binary's Ctrl-C / SIGTERM handler) calls it before exiting, so
//! an interrupted write leaves neither a partial target nor a temporary file.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// At most this many bytes of the target's name are kept in the temporary name.
const NAME_PREFIX_BYTES: usize = 48;

/// Temporary files are named `.<prefix>.<pid>-<counter>.tmp`; this many names are tried.
const ATTEMPTS: u32 = 64;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Temporary files of this process between creation and rename (or removal).
static IN_FLIGHT: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn in_flight() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    // a panic while holding the lock leaves a list that is still valid
    IN_FLIGHT.lock().unwrap_or_else(|e| e.into_inner())
}

/// Keeps a temporary file in the registry while it lives; unregisters it when dropped.
struct InFlight(PathBuf);

impl InFlight {
    fn register(path: PathBuf) -> Self {
        in_flight().push(path.clone());
        InFlight(path)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut list = in_flight();
        if let Some(i) = list.iter().position(|p| *p == self.0) {
            list.swap_remove(i);
        }
    }
}

/// Removes every temporary file this process is writing right now (created by [`write_atomic`]
/// and not yet renamed) and returns how many it removed. For interrupt handlers: the interrupted
/// write then leaves the old target (or none) and no temporary file. Best effort: removal errors
/// are ignored.
pub fn remove_in_flight() -> usize {
    let list = in_flight();
    list.iter()
        .filter(|p| std::fs::remove_file(p).is_ok())
        .count()
}

/// A fresh temporary name in the directory of `path`: `.<first bytes of the name>.<pid>-<n>.tmp`
/// (at most ~90 bytes, whatever the length of the target's name).
fn temporary_sibling(path: &Path) -> std::io::Result<PathBuf> {
    let name = path.file_name().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("output path {} has no file name", path.display()),
        )
    })?;
    let name = name.to_string_lossy();
    let mut end = name.len().min(NAME_PREFIX_BYTES);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    let counter = COUNTER.fetch_add(1, Ordering::Relaxed);
    Ok(path.with_file_name(format!(
        ".{}.{}-{counter}.tmp",
        &name[..end],
        std::process::id()
    )))
}

/// Creates a temporary sibling of `path` exclusively (never an existing file).
fn create_temporary(path: &Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    let mut last = None;
    for _ in 0..ATTEMPTS {
        let tmp = temporary_sibling(path)?;
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
        {
            Ok(file) => return Ok((tmp, file)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no free temporary name")))
}

/// Removes temporary siblings of `path` left by writers that no longer run (a process killed
/// between creating its temporary file and the rename, e.g. by Ctrl-C): files named like
/// [`temporary_sibling`]'s whose process id is not alive. Where liveness cannot be told (no
/// `/proc`), nothing is removed. Best effort: errors are ignored.
fn remove_stale_temporaries(path: &Path) {
    let proc_fs = Path::new("/proc/self");
    let (Some(name), Some(parent)) = (path.file_name(), path.parent()) else {
        return;
    };
    if !proc_fs.exists() {
        return;
    }
    let name = name.to_string_lossy();
    let mut end = name.len().min(NAME_PREFIX_BYTES);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    let prefix = format!(".{}.", &name[..end]);
    let dir = if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file = entry.file_name();
        let file = file.to_string_lossy();
        let Some(pid) = file
            .strip_prefix(prefix.as_str())
            .and_then(|rest| rest.strip_suffix(".tmp"))
            .and_then(|rest| rest.split_once('-'))
            .filter(|(_, n)| n.bytes().all(|b| b.is_ascii_digit()) && !n.is_empty())
            .and_then(|(pid, _)| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new("/proc").join(pid.to_string()).exists() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Writes `bytes` to `path` atomically: exclusive temporary sibling, fsync, rename, directory
/// sync; the temporary file is removed on any error, and temporary files of earlier writers of
/// `path` that were killed before their rename are removed first. The parent directory must
/// exist. The error carries no path: callers add it.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    remove_stale_temporaries(path);
    let (tmp, mut file) = create_temporary(path)?;
    let _registered = InFlight::register(tmp.clone());
    let result = (|| {
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
        return result;
    }
    // make the rename itself durable (best effort: not every platform can open a directory)
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if let Ok(dir) = std::fs::File::open(parent) {
        let _ = dir.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tests of this module run one at a time: `remove_in_flight` would remove the temporary
    /// files of a concurrent test's writes.
    static SERIAL: Mutex<()> = Mutex::new(());

    fn serial() -> std::sync::MutexGuard<'static, ()> {
        SERIAL.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn scratch(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "attnflow-output-{tag}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn leftovers(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect()
    }

    #[test]
    fn replaces_keeps_neighbours_and_leaves_no_temporary() {
        let _serial = serial();
        let dir = scratch("replace");
        let path = dir.join("a.json");
        // a user's file with the old fixed temporary name survives
        std::fs::write(dir.join("a.json.tmp"), b"mine").unwrap();
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert_eq!(std::fs::read(dir.join("a.json.tmp")).unwrap(), b"mine");
        assert_eq!(leftovers(&dir), vec!["a.json.tmp".to_string()]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn temporaries_of_dead_writers_are_removed_and_live_ones_kept() {
        let _serial = serial();
        let dir = scratch("stale");
        let path = dir.join("fig.json");
        // pid 4194305 is above Linux's largest pid (2^22): never alive
        let dead = dir.join(".fig.json.4194305-0.tmp");
        let live = dir.join(format!(".fig.json.{}-999.tmp", std::process::id()));
        let other = dir.join(".other.json.4194305-0.tmp");
        for p in [&dead, &live, &other] {
            std::fs::write(p, b"half").unwrap();
        }
        write_atomic(&path, b"done").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"done");
        if Path::new("/proc/self").exists() {
            assert!(!dead.exists(), "a dead writer's temporary file must go");
        }
        assert!(live.exists(), "a live writer's temporary file must stay");
        assert!(
            other.exists(),
            "another target's temporary file is not ours to remove"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn in_flight_temporaries_are_removed_on_request_and_unregistered_after_use() {
        let _serial = serial();
        let dir = scratch("in-flight");
        let path = dir.join("out.json");
        let (tmp, file) = create_temporary(&path).unwrap();
        drop(file);
        let guard = InFlight::register(tmp.clone());
        assert!(tmp.exists());
        assert!(remove_in_flight() >= 1);
        assert!(!tmp.exists(), "an in-flight temporary file must be removed");
        drop(guard);
        assert!(!in_flight().contains(&tmp));
        // a finished write leaves nothing registered
        write_atomic(&path, b"done").unwrap();
        assert!(
            in_flight()
                .iter()
                .all(|p| p.parent() != Some(dir.as_path()))
        );
        assert_eq!(std::fs::read(&path).unwrap(), b"done");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn long_names_and_failures() {
        let _serial = serial();
        let dir = scratch("long");
        let long = dir.join(format!("{}.json", "é".repeat(125)));
        assert_eq!(long.file_name().unwrap().len(), 255);
        write_atomic(&long, b"x").unwrap();
        assert_eq!(std::fs::read(&long).unwrap(), b"x");
        // the target is a directory: the rename fails and the temporary file is removed
        let sub = dir.join("sub");
        std::fs::create_dir(&sub).unwrap();
        std::fs::write(sub.join("keep"), b"k").unwrap();
        assert!(write_atomic(&sub, b"y").is_err());
        assert!(leftovers(&dir).is_empty());
        assert!(write_atomic(&dir.join("missing").join("a.json"), b"z").is_err());
        assert!(write_atomic(Path::new("/"), b"z").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn concurrent_writers_of_one_target_all_succeed() {
        let _serial = serial();
        let dir = scratch("concurrent");
        let path = dir.join("out.json");
        std::thread::scope(|s| {
            for i in 0..8u8 {
                let path = &path;
                s.spawn(move || write_atomic(path, &[i; 1000]).unwrap());
            }
        });
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 1000);
        assert!(bytes.iter().all(|&b| b == bytes[0]));
        assert!(leftovers(&dir).is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
