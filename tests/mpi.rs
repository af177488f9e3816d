//! Real MPI jobs (`cargo test --features mpi --test mpi`; needs Open MPI's `mpirun`):
//! `mpirun -n 2` and `mpirun -n 3 --oversubscribe` of `phase-diagram` and `run` write the bytes of
//! the single-process run, and only rank 0 writes. Every realisation keeps its positions in the
//! per-realisation run, so equal bytes mean every realisation computed on any rank has the same
//! bits as in one process. Without the `mpi` feature this file is empty.
#![cfg(feature = "mpi")]

use std::path::{Path, PathBuf};
use std::process::Command;

fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("attnflow-mpi-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const BIN: &str = env!("CARGO_BIN_EXE_attnflow");

/// Runs `attnflow args` under `mpirun -n ranks` (one rayon thread per rank; as root, Open MPI
/// needs its explicit consent), or alone for `ranks = 0`; returns standard output.
fn launch(dir: &Path, ranks: usize, args: &[&str]) -> String {
    let mut cmd = if ranks == 0 {
        Command::new(BIN)
    } else {
        let mut c = Command::new("mpirun");
        c.args([
            "-n",
            &ranks.to_string(),
            "--oversubscribe",
            "--bind-to",
            "none",
            BIN,
        ]);
        c
    };
    let out = cmd
        .current_dir(dir)
        .args(args)
        .env("RAYON_NUM_THREADS", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot start mpirun (Open MPI: apt-get install openmpi-bin): {e}")
        });
    assert!(
        out.status.success(),
        "{ranks} ranks: attnflow {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn same_bytes_on_2_and_3_ranks(dir: &Path, base: &[&str], ext: &str) {
    let single = format!("single.{ext}");
    let alone = launch(dir, 0, &[base, &["--out", &single]].concat());
    assert!(alone.starts_with("wrote "), "{alone}");
    let expected = std::fs::read(dir.join(&single)).unwrap();
    for ranks in [2, 3] {
        let out = format!("ranks{ranks}.{ext}");
        let stdout = launch(dir, ranks, &[base, &["--out", &out]].concat());
        // rank 0 alone writes and reports
        assert_eq!(stdout.matches("wrote ").count(), 1, "{stdout}");
        assert!(
            std::fs::read(dir.join(&out)).unwrap() == expected,
            "{ranks} ranks of {}: {out} differs from {single}",
            base.join(" ")
        );
    }
}

#[test]
fn mpi_phase_diagram_has_the_single_process_bytes() {
    let dir = scratch("phase");
    let base = [
        "phase-diagram",
        "--d",
        "3",
        "--n",
        "8",
        "--betas",
        "4",
        "--times",
        "6",
        "--realizations",
        "40",
        "--t-max",
        "6",
        "--seed",
        "3",
    ];
    same_bytes_on_2_and_3_ranks(&dir, &base, "json");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn mpi_run_has_the_single_process_bytes() {
    let dir = scratch("run");
    std::fs::write(
        dir.join("mean.toml"),
        "n = 6\nd = 3\nseed = 5\nobservables = [\"pair-fraction\", \"cluster-count\", \"energy\", \"mean-cosine\"]\n[time]\ndt = 0.1\nt-max = 2.0\ncheckpoints = 3\n[ensemble]\nrealizations = 37\n[sweep]\nparameter = \"beta\"\nvalues = [0.5, 3.0]\n",
    )
    .unwrap();
    same_bytes_on_2_and_3_ranks(&dir, &["run", "mean.toml"], "json");
    same_bytes_on_2_and_3_ranks(&dir, &["run", "mean.toml"], "npz");
    std::fs::write(
        dir.join("none.toml"),
        "n = 5\nd = 3\nseed = 8\nobservables = [\"positions\", \"energy\"]\n[time]\ndt = 0.1\nt-max = 1.0\ncheckpoints = 3\n[ensemble]\nrealizations = 40\naggregate = \"none\"\n",
    )
    .unwrap();
    same_bytes_on_2_and_3_ranks(&dir, &["run", "none.toml"], "json");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn shard_under_several_ranks_is_refused_by_every_rank() {
    let dir = scratch("refused");
    let out = Command::new("mpirun")
        .args(["-n", "2", "--oversubscribe", "--bind-to", "none", BIN])
        .args([
            "phase-diagram",
            "--d",
            "3",
            "--n",
            "4",
            "--betas",
            "2",
            "--times",
            "3",
        ])
        .args([
            "--realizations",
            "4",
            "--t-max",
            "1",
            "--shard",
            "0/2",
            "--out",
            "p.json",
        ])
        .current_dir(&dir)
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("error: --shard 0/2 under an MPI launch of 2 ranks"),
        "{stderr}"
    );
    assert!(!dir.join("p.json").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}
