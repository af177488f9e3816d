//! `attnflow run SPEC` end to end: every example spec of attnflow-experiment runs from the command
//! line (at reduced size where it is large), `--print-spec` then `run` gives the same bytes as running
//! the original spec, and a bad spec is one line naming the field, with exit status 1.

use assert_cmd::cargo::CommandCargoExt;
use std::path::{Path, PathBuf};
use std::process::Command;

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/experiment/examples/specs")
}

fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("attnflow-run-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn attnflow(args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::cargo_bin("attnflow")
        .unwrap()
        .args(args)
        .output()
        .unwrap()
}

/// A copy of an example spec with its ensemble, sweep and time grid cut down, next to its data.
fn reduced(name: &str, dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(examples().join(name)).unwrap();
    let mut spec: toml::Table = text.parse().unwrap();
    if let Some(ensemble) = spec.get_mut("ensemble").and_then(|e| e.as_table_mut()) {
        ensemble.insert("realizations".into(), 2.into());
    }
    if let Some(time) = spec.get_mut("time").and_then(|t| t.as_table_mut()) {
        time.insert("t-max".into(), 1.0.into());
        time.insert("checkpoints".into(), 3.into());
    }
    if let Some(sweep) = spec.get_mut("sweep").and_then(|s| s.as_table_mut()) {
        sweep.remove("linspace");
        sweep.insert(
            "values".into(),
            toml::Value::Array(vec![1.0.into(), 2.0.into()]),
        );
    }
    let path = dir.join(name);
    std::fs::write(&path, toml::to_string(&spec).unwrap()).unwrap();
    path
}

#[test]
fn every_example_spec_runs_and_print_spec_round_trips_to_the_same_bytes() {
    let dir = scratch("examples");
    // the .npy fixtures are found relative to the spec file
    let data = examples().join("data");
    std::fs::create_dir_all(dir.join("data")).unwrap();
    for entry in std::fs::read_dir(&data).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.join("data").join(entry.file_name())).unwrap();
    }
    let mut ran = 0;
    for entry in std::fs::read_dir(examples()).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if !name.ends_with(".toml") {
            continue;
        }
        let spec = reduced(&name, &dir);
        let (a, b, resolved) = (
            dir.join(format!("{name}.a.json")),
            dir.join(format!("{name}.b.json")),
            dir.join(format!("{name}.resolved.toml")),
        );
        let out = attnflow(&[
            "run".as_ref(),
            spec.as_os_str(),
            "--out".as_ref(),
            a.as_os_str(),
        ]);
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let printed = attnflow(&["run".as_ref(), spec.as_os_str(), "--print-spec".as_ref()]);
        assert!(printed.status.success(), "{name}");
        std::fs::write(&resolved, &printed.stdout).unwrap();
        let again = attnflow(&[
            "run".as_ref(),
            resolved.as_os_str(),
            "--out".as_ref(),
            b.as_os_str(),
        ]);
        assert!(
            again.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&again.stderr)
        );
        assert_eq!(
            std::fs::read(&a).unwrap(),
            std::fs::read(&b).unwrap(),
            "{name}: the resolved spec must run to the same bytes"
        );
        let output: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&a).unwrap()).unwrap();
        assert!(!output["points"].as_array().unwrap().is_empty(), "{name}");
        ran += 1;
    }
    assert!(ran >= 5, "only {ran} example specs found");
}

#[test]
fn a_bad_spec_is_one_line_naming_the_field() {
    let dir = scratch("bad");
    let spec = dir.join("bad.toml");
    std::fs::write(&spec, "n = 4\nd = 3\n[field]\nbeta = -1.0\n").unwrap();
    let out = attnflow(&[
        "run".as_ref(),
        spec.as_os_str(),
        "--out".as_ref(),
        dir.join("o.json").as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: spec ") && stderr.contains("field.beta"),
        "{stderr}"
    );
    assert!(!dir.join("o.json").exists());
    // an unknown key
    std::fs::write(&spec, "n = 4\nd = 3\nbogus = 1\n").unwrap();
    let out = attnflow(&["run".as_ref(), spec.as_os_str(), "--print-spec".as_ref()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bogus"));
}
