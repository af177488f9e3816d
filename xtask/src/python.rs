//! The Python environment of the project's tools: a virtual environment under `.cache/venv` with
//! the packages of `tools/requirements.txt`, created on first use (or the interpreter named by
//! `ATTNFLOW_PYTHON`, which `.ci/run` sets).

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

/// An interpreter that imports numpy: `ATTNFLOW_PYTHON` if set, else `.cache/venv` (created with
/// `python3 -m venv` and `pip install -r tools/requirements.txt` when it lacks numpy).
pub fn python_with_numpy(root: &Path) -> Result<PathBuf> {
    if let Some(python) = std::env::var_os("ATTNFLOW_PYTHON") {
        return Ok(PathBuf::from(python));
    }
    let venv = root.join(".cache/venv");
    let python = venv.join("bin/python");
    if !python.exists() {
        eprintln!(
            "creating {} (python3 -m venv) and installing tools/requirements.txt",
            venv.display()
        );
        let ok = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .context("python3 (3.9 or newer) is needed for the NumPy tools")?;
        if !ok.success() {
            bail!("python3 -m venv {} failed", venv.display());
        }
    }
    let has_numpy = Command::new(&python)
        .args(["-c", "import numpy"])
        .status()
        .with_context(|| format!("running {}", python.display()))?
        .success();
    if !has_numpy {
        let ok = Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", "-r"])
            .arg(root.join("tools/requirements.txt"))
            .status()?;
        if !ok.success() {
            bail!("pip install -r tools/requirements.txt failed (is PyPI reachable?)");
        }
    }
    Ok(python)
}
