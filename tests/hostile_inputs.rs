//! Hostile inputs to every subcommand of the `attnflow` binary: each case asserts the exit status
//! and the first line of the message. No input may panic, abort, crash or hang: a panic exits with
//! 101, an abort with a signal, and every case runs under a time limit.
//!
//! Exit statuses: 0 success (also when standard output is a closed pipe), 1 a refused input or a
//! failed run (one line `error: ...` on stderr), 2 a command line clap cannot parse.

use assert_cmd::cargo::CommandCargoExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A fresh scratch directory for one test.
fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("attnflow-hostile-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn attnflow(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::cargo_bin("attnflow").unwrap();
    cmd.current_dir(dir).args(args).stdin(Stdio::null());
    cmd
}

/// Runs with a time limit (a hang is a failure, not a stuck test).
fn run_limited(mut cmd: Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "hang: {cmd:?} still running after {limit:?}; stderr: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn first_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .lines()
        .next()
        .unwrap_or("")
        .to_string()
}

const SIM: &[&str] = &[
    "simulate", "--n", "4", "--d", "3", "--beta", "1", "--t-max", "1", "--out", "s.json",
];
const PD: &[&str] = &[
    "phase-diagram",
    "--d",
    "3",
    "--n",
    "4",
    "--betas",
    "2",
    "--times",
    "3",
    "--realizations",
    "2",
    "--t-max",
    "1",
    "--out",
    "p.json",
];

/// (class, arguments appended to a base command, expected exit status, fragment of the first
/// stderr line). An empty base means the arguments are the whole command line.
type Case = (
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
    i32,
    &'static str,
);

const CASES: &[Case] = &[
    // simulate: sizes and overflow
    ("size", SIM, &["--n", "0"], 1, "need at least one particle"),
    ("size", SIM, &["--d", "1"], 1, "needs d >= 2"),
    (
        "overflow",
        SIM,
        &["--d", "4611686018427387904"],
        1,
        "n * d = 4 x 4611686018427387904",
    ),
    (
        "overflow",
        SIM,
        &["--n", "4294967296", "--d", "4294967296"],
        1,
        "beyond what one array can hold",
    ),
    (
        "memory",
        SIM,
        &["--n", "100000", "--max-memory", "1G"],
        1,
        "for the Gram and weight matrices), --max-memory is 1.1 GB",
    ),
    (
        "memory",
        SIM,
        &["--checkpoints", "1000000000000"],
        1,
        "--checkpoints 1000000000000 is finer than --dt",
    ),
    // simulate: NaN, inf, negative, malformed
    (
        "nan",
        SIM,
        &["--beta", "nan"],
        1,
        "field.beta (--beta): must be finite and >= 0, got NaN",
    ),
    ("inf", SIM, &["--beta", "inf"], 1, "got inf"),
    ("negative", SIM, &["--beta", "-1"], 1, "got -1"),
    (
        "negative",
        SIM,
        &["--dt", "-0.1"],
        1,
        "--dt must be finite and > 0, got -0.1",
    ),
    (
        "nan",
        SIM,
        &["--dt", "NaN"],
        1,
        "--dt must be finite and > 0, got NaN",
    ),
    (
        "inf",
        SIM,
        &["--t-max", "inf"],
        1,
        "--t-max must be finite and > 0, got inf",
    ),
    (
        "nan",
        SIM,
        &["--delta", "nan"],
        1,
        "--delta must be in (0, 2), got NaN",
    ),
    (
        "malformed",
        SIM,
        &["--n", "abc"],
        2,
        "invalid value 'abc' for '--n <N>'",
    ),
    (
        "malformed",
        SIM,
        &["--n", "-1"],
        2,
        "invalid value '-1' for '--n <N>'",
    ),
    (
        "malformed",
        SIM,
        &["--beta", "1,5"],
        2,
        "invalid value '1,5' for '--beta <BETA>'",
    ),
    (
        "malformed",
        SIM,
        &["--seed", "-1"],
        2,
        "invalid value '-1' for '--seed <SEED>'",
    ),
    (
        "malformed",
        SIM,
        &["--max-memory", "lots"],
        2,
        "expected a byte count",
    ),
    (
        "malformed",
        SIM,
        &["--max-memory", "-1G"],
        2,
        "the byte count must be at least 1",
    ),
    (
        "malformed",
        SIM,
        &["--out", "s.txt"],
        1,
        "--out must end in .json, .csv, .npy or .npz, got s.txt",
    ),
    // simulate: tiny and huge steps
    (
        "steps",
        SIM,
        &["--dt", "1e-300"],
        1,
        "needs 9.999999999999999e299 steps, above the limit --max-steps 10000000",
    ),
    ("steps", SIM, &["--t-max", "1e300"], 1, "needs 1e301 steps"),
    (
        "steps",
        SIM,
        &["--dt", "1e-3", "--max-steps", "10"],
        1,
        "above the limit --max-steps 10",
    ),
    (
        "steps",
        SIM,
        &["--dt", "10"],
        1,
        "--dt 10.0 is larger than --t-max 1.0",
    ),
    (
        "steps",
        SIM,
        &["--dt", "0.15", "--checkpoints", "10"],
        1,
        "--checkpoints 10 is finer than --dt",
    ),
    // simulate: tolerances
    (
        "tolerance",
        SIM,
        &["--integrator", "dp54", "--rtol", "1e-30", "--atol", "1e-30"],
        1,
        "`rtol`: 1e-30 is below 100 machine epsilons",
    ),
    (
        "tolerance",
        SIM,
        &["--integrator", "dp54", "--atol", "0"],
        1,
        "`atol`: must be finite and > 0, got 0.0",
    ),
    (
        "tolerance",
        SIM,
        &["--integrator", "dp54", "--rtol", "nan"],
        1,
        "`rtol`: must be finite and > 0, got NaN",
    ),
    (
        "tolerance",
        SIM,
        &["--integrator", "rkmk45", "--rtol", "1e-15"],
        1,
        "`rtol`: 1e-15 is below 100 machine epsilons",
    ),
    // simulate: a Lie-group integrator on the Euclidean model
    (
        "geometry",
        SIM,
        &["--spec", "euclidean.toml", "--integrator", "rkmk4"],
        1,
        "integrator.method (--integrator): rkmk4 is a Lie-group method for the sphere",
    ),
    // simulate: the energy-stable step on a field that is not a gradient flow
    (
        "gradient flow",
        SIM,
        &["--integrator", "energy-stable", "--mask", "causal"],
        1,
        "integrator.method (--integrator): energy-stable needs a gradient-flow field",
    ),
    (
        "overflow",
        SIM,
        &["--model", "usa", "--beta", "1000"],
        1,
        "USA weights overflow f64",
    ),
    // phase-diagram
    ("size", PD, &["--n", "1"], 1, "--n must be >= 2"),
    ("size", PD, &["--d", "1"], 1, "needs d >= 2"),
    (
        "overflow",
        PD,
        &["--realizations", "18446744073709551615"],
        1,
        "--betas 2 x --realizations 18446744073709551615 overflows",
    ),
    (
        "memory",
        PD,
        &["--realizations", "1000000000000", "--max-memory", "1G"],
        1,
        "for the per-block tallies)",
    ),
    (
        "memory",
        PD,
        &["--betas", "1000000000000", "--max-memory", "1G"],
        1,
        "for the sweep points and their checkpoint grids)",
    ),
    (
        "memory",
        PD,
        &[
            "--matrices",
            "ginibre",
            "--d",
            "100000",
            "--max-memory",
            "1G",
        ],
        1,
        "for the weight matrices per thread)",
    ),
    (
        "memory",
        PD,
        &[
            "--dt",
            "1e-8",
            "--t-max",
            "30",
            "--max-steps",
            "100000000000",
            "--max-memory",
            "1G",
        ],
        1,
        "for the per-step checkpoint table)",
    ),
    (
        "steps",
        PD,
        &["--times", "1000000000"],
        1,
        "--times 1000000000 is finer than --dt",
    ),
    (
        "steps",
        PD,
        &["--dt", "1e-300"],
        1,
        "above the limit --max-steps",
    ),
    ("steps", PD, &["--t-max", "1e300"], 1, "needs 1e301 steps"),
    (
        "steps",
        PD,
        &["--dt", "1e-8", "--t-max", "30"],
        1,
        "needs 3e9 steps",
    ),
    (
        "steps",
        PD,
        &["--dt", "10"],
        1,
        "--dt 10.0 is larger than --t-max 1.0",
    ),
    (
        "steps",
        PD,
        &["--t-max", "0"],
        1,
        "--t-max must be finite and > 0, got 0.0",
    ),
    (
        "steps",
        PD,
        &["--times", "0"],
        1,
        "--betas and --times must be >= 1",
    ),
    (
        "tolerance",
        PD,
        &["--integrator", "dp54", "--rtol", "1e-30", "--atol", "1e-30"],
        1,
        "is below 100 machine epsilons",
    ),
    (
        "negative",
        PD,
        &["--dt", "-0.1"],
        1,
        "--dt must be finite and > 0, got -0.1",
    ),
    (
        "nan",
        PD,
        &["--beta-min", "nan"],
        1,
        "--beta-min must be finite and >= 0, got NaN",
    ),
    (
        "inf",
        PD,
        &["--beta-max", "inf"],
        1,
        "--beta-max must be finite and >= 0, got inf",
    ),
    (
        "domain",
        PD,
        &["--beta-min", "5", "--beta-max", "1"],
        1,
        "--beta-max (1.0) is below --beta-min (5.0)",
    ),
    (
        "domain",
        PD,
        &["--delta", "5"],
        1,
        "--delta must be in (0, 2), got 5.0",
    ),
    (
        "domain",
        PD,
        &["--representation", "reduced", "--matrices", "ginibre"],
        1,
        "integrator.representation (--representation): reduced needs one head with Q = K = V = I",
    ),
    (
        "malformed",
        PD,
        &["--out", "p.csv"],
        1,
        "--out must be a .json file",
    ),
    (
        "malformed",
        PD,
        &["--matrices", "gue"],
        2,
        "invalid value 'gue' for '--matrices <MATRICES>'",
    ),
    (
        "overflow",
        PD,
        &["--model", "usa", "--beta-min", "1000", "--beta-max", "1000"],
        1,
        "USA weights overflow f64",
    ),
    // theory
    (
        "size",
        &["theory", "wendel"],
        &["--n", "4", "--d", "1"],
        1,
        "invalid parameter d = 1.0: must be >= 2",
    ),
    (
        "overflow",
        &["theory", "wendel"],
        &["--n", "18446744073709551615", "--d", "3"],
        1,
        "must be <= 2^53",
    ),
    (
        "overflow",
        &["theory", "energy-uniform"],
        &["--d", "18446744073709551615", "--beta", "1"],
        1,
        "must be <= 2^53",
    ),
    (
        "domain",
        &["theory", "energy-uniform"],
        &["--d", "1000000000000000", "--beta", "1e10"],
        1,
        "outside the computable domain",
    ),
    (
        "domain",
        &["theory", "energy-uniform"],
        &["--d", "3", "--beta", "0"],
        1,
        "invalid parameter beta = 0.0: must be finite and > 0",
    ),
    (
        "nan",
        &["theory", "energy-dirac"],
        &["--beta", "nan"],
        1,
        "invalid parameter beta = NaN",
    ),
    (
        "negative",
        &["theory", "energy-dirac"],
        &["--beta", "-1"],
        1,
        "invalid parameter beta = -1.0",
    ),
    (
        "inf",
        &["theory", "tau-star"],
        &["--beta", "inf"],
        1,
        "invalid parameter beta = inf",
    ),
    (
        "size",
        &["theory", "thresholds"],
        &["--n", "1"],
        1,
        "must be >= 2 (pairs needed)",
    ),
    (
        "domain",
        &["theory", "instability"],
        &["--d", "3", "--beta", "1e300"],
        1,
        "beyond the exact search",
    ),
    (
        "overflow",
        &["theory", "instability"],
        &["--d", "18446744073709551615", "--beta", "1"],
        1,
        "must be <= 2^53",
    ),
    (
        "domain",
        &["theory", "equiangular"],
        &["--n", "4", "--beta", "1", "--t", "1", "--gamma0", "2"],
        1,
        "invalid parameter gamma0 = 2.0",
    ),
    (
        "nan",
        &["theory", "equiangular"],
        &["--n", "4", "--beta", "1", "--t", "nan"],
        1,
        "invalid parameter t = NaN",
    ),
    (
        "domain",
        &["theory", "clustering-time"],
        &["--n", "4", "--beta", "1", "--delta", "1.5"],
        1,
        "invalid parameter delta = 1.5",
    ),
    (
        "domain",
        &["theory", "phase-curve"],
        &["--n", "4", "--delta", "0.1", "--t", "1e300"],
        1,
        "has t*(beta) = 1e300",
    ),
    (
        "malformed",
        &["theory", "wendel"],
        &["--n", "four", "--d", "3"],
        2,
        "invalid value 'four' for '--n <N>'",
    ),
    (
        "malformed",
        &["theory"],
        &["nonsense"],
        2,
        "unrecognized subcommand 'nonsense'",
    ),
    (
        "malformed",
        &["theory", "wendel"],
        &["--n", "-4", "--d", "3"],
        2,
        "invalid value '-4' for '--n <N>'",
    ),
    (
        "malformed",
        SIM,
        &["--max-steps", "-1"],
        2,
        "invalid value '-1' for '--max-steps <STEPS>'",
    ),
    (
        "domain",
        &["theory", "wendel"],
        &["--n", "9007199254740992", "--d", "4503599627370496"],
        1,
        "outside the computable domain",
    ),
    (
        "domain",
        &["theory", "instability"],
        &["--d", "100000", "--beta", "1e11"],
        1,
        "beyond the exact search (beta <= 1e7)",
    ),
    // verify
    (
        "malformed",
        &["verify"],
        &["--only", "nope"],
        1,
        "unknown check id `nope`",
    ),
    (
        "malformed",
        &["verify"],
        &["--fidelity", "extreme"],
        2,
        "invalid value 'extreme' for '--fidelity <FIDELITY>'",
    ),
    (
        "unwritable",
        &["verify"],
        &["--only", "prop-3.4", "--write-report", "missing/r.md"],
        1,
        "cannot write missing/r.md",
    ),
    // unwritable outputs
    (
        "unwritable",
        SIM,
        &["--out", "missing/s.json"],
        1,
        "cannot write missing/s.json",
    ),
    (
        "unwritable",
        SIM,
        &["--out", "file.json/s.json"],
        1,
        "cannot write file.json/s.json",
    ),
    (
        "unwritable",
        SIM,
        &["--out", "dir.json"],
        1,
        "cannot write dir.json",
    ),
    (
        "unwritable",
        PD,
        &["--out", "missing/p.json"],
        1,
        "cannot write missing/p.json",
    ),
    // simulate: the spec flags (files written by `fixtures`)
    (
        "shape",
        SIM,
        &["--init", "x5.npy"],
        1,
        "init.path (--init): x5.npy has shape (5, 3) but n = 4",
    ),
    (
        "empty",
        SIM,
        &["--init", "empty.csv"],
        1,
        "empty.csv is empty",
    ),
    (
        "nan",
        SIM,
        &["--init", "nan.csv"],
        1,
        "nan.csv has a non-finite entry (NaN) at row 1, column 0",
    ),
    (
        "file",
        SIM,
        &["--init", "missing.npy"],
        1,
        "init.path (--init): cannot read",
    ),
    (
        "shape",
        SIM,
        &["--q", "q34.npy"],
        1,
        "q34.npy has shape (3, 4), expected square 3 x 3",
    ),
    (
        "shape",
        SIM,
        &["--k", "q44.npy"],
        1,
        "q44.npy has shape (4, 4), expected square 3 x 3",
    ),
    (
        "nan",
        SIM,
        &["--v", "vnan.npy"],
        1,
        "vnan.npy has a non-finite entry (NaN)",
    ),
    ("empty", SIM, &["--q", "empty.npy"], 1, "empty.npy is empty"),
    (
        "malformed",
        SIM,
        &["--heads", "0"],
        1,
        "--heads must be at least 1",
    ),
    (
        "malformed",
        SIM,
        &["--heads", "heads-bad.toml"],
        1,
        "unknown field `w`",
    ),
    (
        "empty",
        SIM,
        &["--heads", "empty.toml"],
        1,
        "the file is empty",
    ),
    (
        "malformed",
        SIM,
        &["--heads", "2", "--mask", "sliding"],
        2,
        "invalid value 'sliding' for '--mask <MASK>'",
    ),
    (
        "spec",
        SIM,
        &["--spec", "unknown-key.toml"],
        1,
        "unknown field `bogus`",
    ),
    (
        "empty",
        SIM,
        &["--spec", "empty.toml"],
        1,
        "the spec file is empty",
    ),
    (
        "spec",
        SIM,
        &["--spec", "sweep.toml"],
        1,
        "simulate runs one trajectory; the spec has 2 sweep point(s)",
    ),
    (
        "gif",
        SIM,
        &["--d", "4", "--gif", "a.gif"],
        1,
        "--gif animates d = 2 (circle) or d = 3 (sphere), the run has d = 4",
    ),
    // limits on the total work
    (
        "work",
        PD,
        &["--realizations", "1000000", "--max-work", "1e8"],
        1,
        "above --max-work 1e8",
    ),
    (
        "malformed",
        PD,
        &["--max-work", "lots"],
        2,
        "expected a number of work units",
    ),
    (
        "spec",
        PD,
        &["--spec", "energy.toml"],
        1,
        "the spec is not a (t, beta) phase diagram",
    ),
    // run: spec fields, limits, outputs
    (
        "spec",
        &["run"],
        &["unknown-key.toml", "--out", "r.json"],
        1,
        "unknown field `bogus`",
    ),
    (
        "empty",
        &["run"],
        &["empty.toml", "--out", "r.json"],
        1,
        "the spec file is empty",
    ),
    (
        "nan",
        &["run"],
        &["nan-matrix.toml", "--out", "r.json"],
        1,
        "field.heads[0].k[1][1]: entry is NaN",
    ),
    (
        "shape",
        &["run"],
        &["nonsquare.toml", "--out", "r.json"],
        1,
        "field.heads[1].v: matrix is 3 x 4, expected square 3 x 3",
    ),
    (
        "shape",
        &["run"],
        &["mask3.toml", "--out", "r.json"],
        1,
        "field.mask.weights: w3.npy has shape (3, 3), expected n x n = 4 x 4",
    ),
    (
        "memory",
        &["run"],
        &["huge.toml", "--out", "r.json", "--max-memory", "1G"],
        1,
        "for the results and their output)",
    ),
    (
        "steps",
        &["run"],
        &["long.toml", "--out", "r.json"],
        1,
        "time.t-max / time.dt needs 1e12 steps, above the limit --max-steps 10000000",
    ),
    (
        "work",
        &["run"],
        &["big.toml", "--out", "r.json", "--max-work", "1e12"],
        1,
        "above --max-work 1e12",
    ),
    (
        "malformed",
        &["run"],
        &["ok.toml", "--out", "r.txt"],
        1,
        "out: r.txt must end in .json, .csv, .npy or .npz",
    ),
    (
        "malformed",
        &["run"],
        &["ok.toml", "--out", "r.npy"],
        1,
        "a .npy file holds one array, this run gives 2",
    ),
    (
        "geometry",
        &["run"],
        &["euclidean-lie.toml", "--out", "r.json"],
        1,
        "integrator.method: lie-euler is a Lie-group method for the sphere",
    ),
    (
        "gif",
        &["run"],
        &["d4.toml", "--gif", "a.gif"],
        1,
        "--gif animates d = 2 (circle) or d = 3 (sphere), the run has d = 4",
    ),
    // --shard i/N and merge (shard files: `fixtures`)
    (
        "shard",
        PD,
        &["--shard", "2/2"],
        1,
        "--shard: the part index i must be in 0..2 (0 <= i < N), got 2/2",
    ),
    (
        "shard",
        PD,
        &["--shard", "1-2"],
        1,
        "--shard: expected i/N with integers 0 <= i < N (e.g. 0/4), got \"1-2\"",
    ),
    (
        "shard",
        PD,
        &["--shard", "0/0"],
        1,
        "--shard: the number of parts N must be >= 1, got 0",
    ),
    (
        "shard",
        &["run"],
        &["ok.toml", "--shard", "0/2", "--out", "r.csv"],
        1,
        "--shard writes a shard file (JSON): --out must end in .json, got r.csv",
    ),
    (
        "merge",
        &["merge"],
        &["pd0of2.json", "-o", "m.json"],
        1,
        "shards: missing shard 1/2 (given 1 of 2)",
    ),
    (
        "merge",
        &["merge"],
        &["pd0of2.json", "pd1of2.json", "pd0of2.json", "-o", "m.json"],
        1,
        "shards: shard 0/2 is given twice: pd0of2.json and pd0of2.json",
    ),
    (
        "merge",
        &["merge"],
        &["pd0of2.json", "seed1-1of2.json", "-o", "m.json"],
        1,
        "pd0of2.json and seed1-1of2.json come from different specs (fnv1a64:",
    ),
    (
        "merge",
        &["merge"],
        &["pd0of2.json", "pd1of3.json", "-o", "m.json"],
        1,
        "pd0of2.json is shard 0/2, pd1of3.json is shard 1/3: all shards must come from --shard i/N with one N",
    ),
    (
        "merge",
        &["merge"],
        &["ok.toml", "-o", "m.json"],
        1,
        "ok.toml: not an attnflow shard file (not JSON",
    ),
    (
        "merge",
        &["merge"],
        &["absent.json", "-o", "m.json"],
        1,
        "cannot read absent.json",
    ),
    (
        "merge",
        &["merge"],
        &["pd0of2.json", "pd1of2.json", "-o", "m.csv"],
        1,
        "-o must be a .json file for a phase diagram, got m.csv",
    ),
];

/// The input files of the cases: points, matrices and specs, good and bad.
fn fixtures(dir: &Path) {
    use attnflow_experiment::io::write_npy;
    let unit = [1.0, 0.0, 0.0];
    write_npy(&dir.join("x5.npy"), 5, 3, &unit.repeat(5)).unwrap();
    write_npy(&dir.join("q34.npy"), 3, 4, &[0.5; 12]).unwrap();
    write_npy(&dir.join("q44.npy"), 4, 4, &[0.5; 16]).unwrap();
    write_npy(&dir.join("w3.npy"), 3, 3, &[1.0; 9]).unwrap();
    let mut v = [0.0; 9];
    v[4] = f64::NAN;
    write_npy(&dir.join("vnan.npy"), 3, 3, &v).unwrap();
    for (name, text) in [
        ("empty.csv", ""),
        ("empty.npy", ""),
        ("empty.toml", ""),
        ("nan.csv", "1, 0, 0\nnan, 0, 0\n0, 1, 0\n0, 0, 1\n"),
        ("heads-bad.toml", "[[heads]]\nw = \"identity\"\n"),
        ("unknown-key.toml", "n = 4\nbogus = 1\n"),
        (
            "sweep.toml",
            "n = 4\nd = 3\n[time]\ncheckpoints = 3\n[sweep]\nparameter = \"beta\"\nvalues = [1.0, 2.0]\n",
        ),
        (
            "huge.toml",
            "n = 4\nd = 3\n[time]\nt-max = 1.0\ncheckpoints = 1000000000000\n",
        ),
        (
            "long.toml",
            "n = 4\nd = 3\n[time]\ndt = 1e-9\nt-max = 1000.0\n",
        ),
        (
            "big.toml",
            "n = 32\nd = 32\n[ensemble]\nrealizations = 1024\n[sweep]\nparameter = \"beta\"\nlinspace = {start = 0.1, stop = 9.0, count = 150}\n",
        ),
        (
            "ok.toml",
            "n = 4\nd = 3\nobservables = [\"pair-fraction\", \"energy\"]\n[time]\nt-max = 1.0\ncheckpoints = 3\n",
        ),
        (
            "euclidean.toml",
            "n = 4\nd = 3\n[field]\ngeometry = \"euclidean\"\n[time]\nt-max = 1.0\ncheckpoints = 3\n",
        ),
        (
            "euclidean-lie.toml",
            "n = 4\nd = 3\n[field]\ngeometry = \"euclidean\"\n[integrator]\nmethod = \"lie-euler\"\n[time]\nt-max = 1.0\ncheckpoints = 3\n",
        ),
        (
            "d4.toml",
            "n = 4\nd = 4\n[time]\nt-max = 1.0\ncheckpoints = 3\n",
        ),
        (
            "nan-matrix.toml",
            "d = 3\n[[field.heads]]\nk = {matrix = [[1.0, 0.0, 0.0], [0.0, nan, 0.0], [0.0, 0.0, 1.0]]}\n",
        ),
        (
            "nonsquare.toml",
            "d = 3\n[[field.heads]]\n[[field.heads]]\nv = {matrix = [[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]]}\n",
        ),
        (
            "mask3.toml",
            "n = 4\n[field]\nmask = {weights = {npy = \"w3.npy\"}}\n",
        ),
        (
            "energy.toml",
            "observables = [\"energy\"]\n[ensemble]\nrealizations = 2\n",
        ),
    ] {
        std::fs::write(dir.join(name), text).unwrap();
    }
    // shard files of the merge cases: the two halves of PD, a part of another seed and of N = 3
    for (extra, name) in [
        (&["--shard", "0/2"][..], "pd0of2.json"),
        (&["--shard", "1/2"][..], "pd1of2.json"),
        (&["--shard", "1/2", "--seed", "1"][..], "seed1-1of2.json"),
        (&["--shard", "1/3"][..], "pd1of3.json"),
    ] {
        let mut args: Vec<&str> = PD[..PD.len() - 1].to_vec();
        args.push(name);
        args.extend_from_slice(extra);
        let out = run_limited(attnflow(dir, &args), Duration::from_secs(20));
        assert!(out.status.success(), "{args:?}: {out:?}");
    }
}

#[test]
fn every_hostile_input_gets_its_exit_status_and_one_clear_line() {
    let dir = scratch("table");
    std::fs::write(dir.join("file.json"), b"a file, not a directory").unwrap();
    std::fs::create_dir_all(dir.join("dir.json")).unwrap();
    fixtures(&dir);
    // messages may name files by absolute path: the scratch directory differs per run
    let scratch_dir = dir.canonicalize().unwrap().display().to_string();
    let mut failures = Vec::new();
    let mut table = String::new();
    for &(class, base, extra, code, fragment) in CASES {
        // clap refuses a flag given twice, so a flag of the base is replaced, others appended
        let mut args: Vec<&str> = base.to_vec();
        for pair in extra.chunks(2) {
            match args.iter().position(|a| *a == pair[0]) {
                Some(i) if pair.len() == 2 && pair[0].starts_with("--") => args[i + 1] = pair[1],
                _ => args.extend_from_slice(pair),
            }
        }
        let out = run_limited(attnflow(&dir, &args), Duration::from_secs(20));
        let line = first_line(&out.stderr);
        let status = out.status.code();
        // the list of check ids grows with the suite: not part of the snapshot
        let shown = line
            .split("; known ids")
            .next()
            .unwrap_or("")
            .replace(&scratch_dir, "<dir>");
        table += &format!("[{class}] {} -> {status:?}: {shown}\n", args.join(" "));
        if status != Some(code) || !line.starts_with("error: ") || !line.contains(fragment) {
            failures.push(format!(
                "[{class}] attnflow {}\n    expected exit {code} and a first line containing {fragment:?}\n    got exit {status:?}: {line}",
                args.join(" ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
    insta::assert_snapshot!("hostile_input_messages", table);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn valid_runs_still_succeed_and_encode_non_finite_numbers() {
    let dir = scratch("valid");
    // SA energies overflow at beta = 800: written as "inf" in JSON and CSV, never null
    for out in ["e.json", "e.csv"] {
        let o = run_limited(
            attnflow(
                &dir,
                &[
                    "simulate", "--n", "4", "--d", "3", "--beta", "800", "--t-max", "1", "--out",
                    out,
                ],
            ),
            Duration::from_secs(20),
        );
        assert_eq!(o.status.code(), Some(0), "{}", first_line(&o.stderr));
    }
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("e.json")).unwrap()).unwrap();
    assert_eq!(json["snapshots"][0]["energy"], "inf");
    let csv = std::fs::read_to_string(dir.join("e.csv")).unwrap();
    assert!(csv.lines().nth(1).unwrap().ends_with(",inf"));
    // a phase diagram whose final time is a multiple of dt
    let o = run_limited(attnflow(&dir, PD), Duration::from_secs(20));
    assert_eq!(o.status.code(), Some(0), "{}", first_line(&o.stderr));
    // a 255-byte file name
    let long = format!("{}.json", "n".repeat(250));
    let mut args = SIM.to_vec();
    *args.last_mut().unwrap() = &long;
    let o = run_limited(attnflow(&dir, &args), Duration::from_secs(20));
    assert_eq!(o.status.code(), Some(0), "{}", first_line(&o.stderr));
    assert!(dir.join(&long).is_file());
    // the user's file with the old fixed temporary name is left alone; no temporary remains
    std::fs::write(dir.join("s.json.tmp"), b"mine").unwrap();
    let o = run_limited(attnflow(&dir, SIM), Duration::from_secs(20));
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(std::fs::read(dir.join("s.json.tmp")).unwrap(), b"mine");
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.') && n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn concurrent_runs_to_one_output_all_succeed() {
    let dir = scratch("concurrent");
    let children: Vec<_> = (0..6)
        .map(|seed| {
            let seed = seed.to_string();
            let mut args = SIM.to_vec();
            args.extend(["--seed", &seed]);
            attnflow(&dir, &args)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", first_line(&out.stderr));
    }
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("s.json")).unwrap()).unwrap();
    assert_eq!(json["snapshots"].as_array().unwrap().len(), 11);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Every subcommand with a closed pipe as standard output (exit 0, the result file written) and,
/// on Linux, with a full device (exit 1, one line).
#[test]
fn closed_and_full_standard_output() {
    let dir = scratch("stdout");
    let commands: &[&[&str]] = &[
        &["theory", "wendel", "--n", "4", "--d", "3"],
        &["--json", "theory", "energy-dirac", "--beta", "2"],
        SIM,
        PD,
        &["verify", "--only", "prop-3.4"],
    ];
    for args in commands {
        let _ = std::fs::remove_file(dir.join("s.json"));
        let _ = std::fs::remove_file(dir.join("p.json"));
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let mut cmd = attnflow(&dir, args);
        cmd.stdout(writer).stderr(Stdio::piped());
        let out = cmd.spawn().unwrap().wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "closed pipe: {args:?}: {}",
            first_line(&out.stderr)
        );
        assert!(
            out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        if args[0] == "simulate" {
            assert!(dir.join("s.json").is_file());
        }
        #[cfg(target_os = "linux")]
        {
            let full = std::fs::OpenOptions::new()
                .write(true)
                .open("/dev/full")
                .unwrap();
            let mut cmd = attnflow(&dir, args);
            cmd.stdout(full).stderr(Stdio::piped());
            let out = cmd.spawn().unwrap().wait_with_output().unwrap();
            assert_eq!(out.status.code(), Some(1), "full: {args:?}");
            assert_eq!(
                first_line(&out.stderr),
                "error: cannot write to standard output: No space left on device (os error 28)"
            );
            if args[0] == "phase-diagram" {
                assert!(dir.join("p.json").is_file(), "the result stays written");
            }
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
