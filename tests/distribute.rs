//! `--shard i/N` and `attnflow merge` on the command line: for N = 1, 2, 3 the merged output of
//! `phase-diagram` and of `run` (JSON, CSV, NPZ) has the bytes of the single-process run; the same
//! shard command writes the same shard bytes. (The error cases are rows of the hostile-input table,
//! `tests/hostile_inputs.rs`.)

use assert_cmd::cargo::CommandCargoExt;
use std::path::{Path, PathBuf};
use std::process::Command;

fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("attnflow-shards-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn attnflow(dir: &Path, args: &[&str]) {
    let out = Command::cargo_bin("attnflow")
        .unwrap()
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "attnflow {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn read(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap()
}

/// Runs `base` whole to `single`, as N shards and merged to `merged.EXT` for N = 1, 2, 3 (shards
/// given in reverse order), and compares the bytes.
fn shards_merge_to_the_single_output(dir: &Path, base: &[&str], exts: &[&str]) {
    for ext in exts {
        let single = format!("single.{ext}");
        attnflow(dir, &[base, &["--out", &single]].concat());
        for count in 1..=3 {
            let mut names = Vec::new();
            for i in (0..count).rev() {
                let name = format!("shard{i}of{count}.json");
                let part = format!("{i}/{count}");
                attnflow(dir, &[base, &["--shard", &part, "--out", &name]].concat());
                names.push(name);
            }
            // the same shard command gives the same bytes
            let again = format!("again0of{count}.json");
            let part = format!("0/{count}");
            attnflow(dir, &[base, &["--shard", &part, "--out", &again]].concat());
            assert_eq!(
                read(dir, &again),
                read(dir, &format!("shard0of{count}.json"))
            );
            let merged = format!("merged{count}.{ext}");
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            attnflow(dir, &[&["merge"], &names[..], &["-o", &merged]].concat());
            assert!(
                read(dir, &merged) == read(dir, &single),
                "{count} shards of {}: {merged} differs from {single}",
                base.join(" ")
            );
        }
    }
}

#[test]
fn phase_diagram_shards_merge_to_the_single_process_bytes() {
    let dir = scratch("phase");
    let base = [
        "phase-diagram",
        "--d",
        "3",
        "--n",
        "8",
        "--betas",
        "3",
        "--times",
        "5",
        "--realizations",
        "40",
        "--t-max",
        "6",
        "--seed",
        "4",
    ];
    shards_merge_to_the_single_output(&dir, &base, &["json"]);
    // the comparison is not between empty diagrams
    let single: serde_json::Value = serde_json::from_slice(&read(&dir, "single.json")).unwrap();
    assert!(
        single["probability"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|row| row.as_array().unwrap())
            .any(|v| v.as_f64().unwrap() > 0.5),
        "{single}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn run_shards_merge_to_the_single_process_bytes() {
    let dir = scratch("run");
    // integer counts and real statistics (energy, mean cosine: Welford merges), a sweep
    std::fs::write(
        dir.join("mean.toml"),
        "n = 6\nd = 3\nseed = 5\nobservables = [\"pair-fraction\", \"cluster-count\", \"energy\", \"mean-cosine\"]\n[time]\ndt = 0.1\nt-max = 2.0\ncheckpoints = 3\n[ensemble]\nrealizations = 37\n[sweep]\nparameter = \"beta\"\nvalues = [0.5, 3.0]\n",
    )
    .unwrap();
    shards_merge_to_the_single_output(&dir, &["run", "mean.toml"], &["json", "csv", "npz"]);
    // every realisation kept
    std::fs::write(
        dir.join("none.toml"),
        "n = 5\nd = 3\nseed = 8\nobservables = [\"positions\", \"energy\"]\n[time]\ndt = 0.1\nt-max = 1.0\ncheckpoints = 3\n[ensemble]\nrealizations = 20\naggregate = \"none\"\n",
    )
    .unwrap();
    shards_merge_to_the_single_output(&dir, &["run", "none.toml"], &["json"]);
    std::fs::remove_dir_all(&dir).unwrap();
}
