//! attnflow: self-attention as an interacting particle system on the sphere.
//!
//! The library of the `attnflow` command line: [`cli`] holds its subcommands (the flags of
//! `simulate` and `phase-diagram` mapped to one experiment spec, the limits checked before any
//! work, the theory calculators, the theorem checks), so that the binary and the Python module
//! (`python/`) run one implementation with the same messages.
pub use attnflow_dynamics as dynamics;

// the flags' doc comments are the command line's help texts (snapshot-tested), where `[GLPR]` is a
// citation, not a link to escape
#[allow(rustdoc::broken_intra_doc_links)]
pub mod cli;

use anyhow::{Context, Result};
use std::path::Path;

/// Writes `contents` to `path` atomically (the workspace's one writer: unique temporary sibling,
/// fsync, rename, removed on error).
pub fn write_atomically(path: &Path, contents: &[u8]) -> Result<()> {
    attnflow_dynamics::output::write_atomic(path, contents)
        .with_context(|| format!("cannot write {}", path.display()))
}
