//! Shared helpers of the integration tests.
#![allow(dead_code)]

use attnflow_experiment::{Output, ResolvedSpec, Spec, run};
use std::path::PathBuf;

pub fn specs_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/specs")
}

/// A fresh directory under the target dir for files a test writes.
pub fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("experiment-{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn resolve(toml: &str) -> ResolvedSpec {
    Spec::from_toml_str(toml).unwrap().resolve().unwrap()
}

pub fn run_quiet(r: &ResolvedSpec) -> Output {
    run(r, &|_, _| {}).unwrap()
}

/// The one-line message of a spec that must fail (parse or resolve).
pub fn error_of(toml: &str) -> String {
    match Spec::from_toml_str(toml).and_then(|s| s.resolve()) {
        Ok(_) => panic!("spec should fail:\n{toml}"),
        Err(e) => e.to_string(),
    }
}
