//! `simulate`, `phase-diagram` and `run` as front ends over the experiment spec: the flags and
//! `--spec` of the printed spec give the same bytes; `phase-diagram` gives the numbers of the
//! engine's `run_phase_diagram` for the same flags (the record written before the spec existed);
//! `.npy` / `.npz` outputs hold the JSON numbers; `--save-positions` records n x d per checkpoint;
//! `rkmk4` keeps the points on the sphere without projection; `--gif` writes an animation; Ctrl-C
//! ends a run with status 130 and no temporary file.

use assert_cmd::cargo::CommandCargoExt;
use attnflow_dynamics::observables::linspace;
use attnflow_dynamics::{
    IntegratorKind, MatrixEnsemble, ModelKind, PhaseDiagramSpec, Representation, run_phase_diagram,
};
use serde_json::Value;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("attnflow-front-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn attnflow(dir: &Path, args: &[&str]) -> Output {
    let out = Command::cargo_bin("attnflow")
        .unwrap()
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "attnflow {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn read(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap()
}

fn json(dir: &Path, name: &str) -> Value {
    serde_json::from_slice(&read(dir, name)).unwrap()
}

/// `args` with `--out out`, then `--print-spec` of the same flags run through `--spec`: the two
/// outputs must be the same bytes.
fn assert_spec_round_trip(dir: &Path, args: &[&str], ext: &str) {
    let a = format!("a-{}.{ext}", args[0]);
    let b = format!("b-{}.{ext}", args[0]);
    let mut first = args.to_vec();
    first.extend(["--out", &a]);
    attnflow(dir, &first);
    let mut print = args.to_vec();
    print.push("--print-spec");
    let printed = attnflow(dir, &print).stdout;
    let spec = format!("{}.toml", args[0]);
    std::fs::write(dir.join(&spec), &printed).unwrap();
    attnflow(dir, &[args[0], "--spec", &spec, "--out", &b]);
    assert_eq!(read(dir, &a), read(dir, &b), "{args:?} .{ext}");
}

#[test]
fn flags_and_the_printed_spec_give_the_same_bytes() {
    let dir = scratch("roundtrip");
    let sim = [
        "simulate",
        "--n",
        "5",
        "--d",
        "3",
        "--beta",
        "2",
        "--t-max",
        "1",
        "--seed",
        "7",
        "--integrator",
        "rk4",
        "--checkpoints",
        "6",
    ];
    assert_spec_round_trip(&dir, &sim, "json");
    assert_spec_round_trip(&dir, &sim, "csv");
    assert_spec_round_trip(&dir, &sim, "npz");
    let pd = [
        "phase-diagram",
        "--d",
        "6",
        "--n",
        "5",
        "--betas",
        "3",
        "--times",
        "4",
        "--realizations",
        "5",
        "--t-max",
        "2",
        "--seed",
        "3",
    ];
    assert_spec_round_trip(&dir, &pd, "json");
    // points, matrices and heads from files; a causal mask
    let x: Vec<f64> = (0..12).map(|i| ((i * 7 % 5) as f64) - 2.0).collect();
    attnflow_experiment::io::write_npy(&dir.join("x.npy"), 4, 3, &x).unwrap();
    let q = [1.0, 0.2, 0.0, 0.0, 1.0, 0.3, 0.1, 0.0, 1.0];
    attnflow_experiment::io::write_npy(&dir.join("q.npy"), 3, 3, &q).unwrap();
    let with_files = [
        "simulate", "--init", "x.npy", "--q", "q.npy", "--k", "q.npy", "--heads", "2", "--mask",
        "causal", "--beta", "1", "--t-max", "1",
    ];
    assert_spec_round_trip(&dir, &with_files, "json");
    let printed =
        String::from_utf8(attnflow(&dir, &[&with_files[..], &["--print-spec"]].concat()).stdout)
            .unwrap();
    assert_eq!(printed.matches("[[field.heads]]").count(), 2, "{printed}");
    assert!(printed.contains("mask = \"causal\"") && printed.contains("kind = \"points\""));
    // the printed spec runs with `attnflow run` too
    std::fs::write(dir.join("files.toml"), &printed).unwrap();
    attnflow(&dir, &["run", "files.toml", "--out", "files.json"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The engine's record for the flags, as `phase-diagram` wrote it before the spec existed.
fn engine_record(spec: &PhaseDiagramSpec) -> Value {
    let diagram = run_phase_diagram(spec, &|_, _| {}).unwrap();
    let mut value = serde_json::to_value(&diagram).unwrap();
    value.as_object_mut().unwrap().remove("runtime_s");
    value["params"]["attnflow_version"] = env!("CARGO_PKG_VERSION").into();
    // through text, as the file is read
    serde_json::from_str(&serde_json::to_string(&value).unwrap()).unwrap()
}

#[test]
fn phase_diagram_gives_the_engines_numbers_for_the_same_flags() {
    let dir = scratch("phase");
    let base = |n: usize, d: usize| PhaseDiagramSpec {
        n,
        d,
        betas: linspace(0.5, 6.0, 3),
        times: linspace(0.0, 6.0, 7),
        dt: 0.1,
        realizations: 18,
        delta: 1e-3,
        seed: 5,
        model: ModelKind::Sa,
        matrices: MatrixEnsemble::Identity,
        integrator: IntegratorKind::PaperEuler,
        representation: None,
        consensus_exit: true,
        precision: attnflow_dynamics::Precision::F64,
    };
    let flags = |n: usize, d: usize| {
        vec![
            "phase-diagram".to_string(),
            "--n".into(),
            n.to_string(),
            "--d".into(),
            d.to_string(),
            "--beta-min".into(),
            "0.5".into(),
            "--beta-max".into(),
            "6".into(),
            "--betas".into(),
            "3".into(),
            "--t-max".into(),
            "6".into(),
            "--times".into(),
            "7".into(),
            "--realizations".into(),
            "18".into(),
            "--seed".into(),
            "5".into(),
        ]
    };
    let cases: Vec<(PhaseDiagramSpec, Vec<&str>)> = vec![
        (base(6, 10), vec![]),
        (base(8, 5), vec![]),
        (
            PhaseDiagramSpec {
                consensus_exit: false,
                ..base(6, 10)
            },
            vec!["--no-consensus-exit"],
        ),
        (
            PhaseDiagramSpec {
                matrices: MatrixEnsemble::Ginibre,
                ..base(6, 5)
            },
            vec!["--matrices", "ginibre"],
        ),
        (
            PhaseDiagramSpec {
                integrator: IntegratorKind::Rk4,
                representation: Some(Representation::Full),
                ..base(6, 10)
            },
            vec!["--integrator", "rk4", "--representation", "full"],
        ),
        (
            PhaseDiagramSpec {
                model: ModelKind::Usa,
                ..base(6, 10)
            },
            vec!["--model", "usa"],
        ),
        (
            PhaseDiagramSpec {
                precision: attnflow_dynamics::Precision::F32,
                ..base(6, 10)
            },
            vec!["--precision", "f32"],
        ),
        (
            PhaseDiagramSpec {
                matrices: MatrixEnsemble::GinibreGf,
                precision: attnflow_dynamics::Precision::F32,
                ..base(6, 5)
            },
            vec!["--matrices", "ginibre-gf", "--precision", "f32"],
        ),
    ];
    for (k, (spec, extra)) in cases.iter().enumerate() {
        let out = format!("p{k}.json");
        let mut args = flags(spec.n, spec.d);
        args.extend(extra.iter().map(|s| s.to_string()));
        args.extend(["--out".into(), out.clone()]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        attnflow(&dir, &args);
        let mut written = json(&dir, &out);
        let spec_field = written.as_object_mut().unwrap().remove("spec");
        assert!(spec_field.is_some(), "the record carries the resolved spec");
        assert_eq!(written, engine_record(spec), "{extra:?}");
        assert!(
            written["probability"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|r| r.as_array().unwrap())
                .any(|p| p.as_f64().unwrap() > 0.0),
            "{extra:?}: some pairs cluster"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn precision_f32_with_another_integrator_is_one_line_and_fails() {
    let dir = scratch("precision");
    let out = Command::cargo_bin("attnflow")
        .unwrap()
        .current_dir(&dir)
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
            "2",
            "--integrator",
            "rk4",
            "--precision",
            "f32",
        ])
        .args(["--out", "x.json"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("--precision f32 supports the paper-euler integrator only"),
        "{stderr}"
    );
    assert!(!dir.join("x.json").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// An f64 as the JSON writer writes it, read back as the JSON reader reads it.
fn as_json(v: f64) -> Value {
    serde_json::from_str(&serde_json::to_string(&attnflow_experiment::number::Number(v)).unwrap())
        .unwrap()
}

fn npy_values(bytes: &[u8]) -> (Vec<u64>, Vec<f64>) {
    let file = npyz::NpyFile::new(bytes).unwrap();
    let shape = file.shape().to_vec();
    (shape, file.into_vec().unwrap())
}

#[test]
fn npy_and_npz_outputs_hold_the_json_numbers() {
    let dir = scratch("numpy");
    std::fs::write(
        dir.join("s.toml"),
        "n = 5\nd = 3\nseed = 2\nobservables = [\"positions\", \"energy\", \"pair-fraction\"]\n[field]\nbeta = 800.0\n[time]\nt-max = 0.5\ncheckpoints = 4\ncheckpoint-rule = \"exact\"\n[ensemble]\nrealizations = 2\naggregate = \"none\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("p.toml"),
        "n = 5\nd = 2\nobservables = [\"positions\"]\n[time]\nt-max = 0.5\ncheckpoints = 4\n",
    )
    .unwrap();
    attnflow(&dir, &["run", "s.toml", "--out", "s.json"]);
    attnflow(&dir, &["run", "s.toml", "--out", "s.npz"]);
    attnflow(&dir, &["run", "p.toml", "--out", "p.json"]);
    attnflow(&dir, &["run", "p.toml", "--out", "p.npy"]);
    let out = json(&dir, "s.json");
    let runs = out["points"][0]["runs"].as_array().unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(read(&dir, "s.npz"))).unwrap();
    let mut array = |name: &str| {
        let mut bytes = Vec::new();
        zip.by_name(&format!("{name}.npy"))
            .unwrap()
            .read_to_end(&mut bytes)
            .unwrap();
        npy_values(&bytes)
    };
    for name in ["positions", "energy", "pair-fraction", "t"] {
        let (shape, data) = array(name);
        let mut expected = Vec::new();
        for run in runs {
            for c in run["checkpoints"].as_array().unwrap() {
                let v = &c[name];
                match v {
                    Value::Array(rows) => {
                        assert_eq!(shape, [2, 4, 5, 3]);
                        expected.extend(rows.iter().flat_map(|r| r.as_array().unwrap().clone()));
                    }
                    other => expected.push(other.clone()),
                }
            }
            if name == "t" {
                assert_eq!(shape, [4]);
                break;
            }
        }
        let got: Vec<Value> = data.iter().map(|&v| as_json(v)).collect();
        assert_eq!(got, expected, "{name}");
    }
    // energies overflow at beta = 800: "inf" in JSON, inf in the arrays
    assert_eq!(runs[0]["checkpoints"][0]["energy"], "inf");
    // one observable: a .npy of checkpoints x n x d
    let (shape, data) = npy_values(&read(&dir, "p.npy"));
    assert_eq!(shape, [4, 5, 2]);
    let p = json(&dir, "p.json");
    let expected: Vec<Value> = p["points"][0]["runs"][0]["checkpoints"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["positions"].as_array().unwrap().clone())
        .flat_map(|row| row.as_array().unwrap().clone())
        .collect();
    assert_eq!(
        data.iter().map(|&v| as_json(v)).collect::<Vec<_>>(),
        expected
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn save_positions_records_n_by_d_per_checkpoint() {
    let dir = scratch("positions");
    let sim = [
        "simulate",
        "--n",
        "6",
        "--d",
        "5",
        "--beta",
        "1",
        "--t-max",
        "1",
        "--checkpoints",
        "4",
    ];
    attnflow(&dir, &[&sim[..], &["--out", "plain.json"]].concat());
    let plain = json(&dir, "plain.json");
    assert!(
        plain["snapshots"][0].get("positions").is_none(),
        "d > 3: no positions by default"
    );
    attnflow(
        &dir,
        &[&sim[..], &["--save-positions", "--out", "s.json"]].concat(),
    );
    attnflow(
        &dir,
        &[&sim[..], &["--save-positions", "--out", "s.npz"]].concat(),
    );
    let s = json(&dir, "s.json");
    let snapshots = s["snapshots"].as_array().unwrap();
    assert_eq!(snapshots.len(), 4);
    for snap in snapshots {
        let rows = snap["positions"].as_array().unwrap();
        assert_eq!(rows.len(), 6);
        for row in rows {
            let row: Vec<f64> = row
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            assert_eq!(row.len(), 5);
            let norm: f64 = row.iter().map(|v| v * v).sum::<f64>().sqrt();
            assert!((norm - 1.0).abs() < 1e-12, "on the sphere: {norm}");
        }
        assert!(snap["t"].is_number() && snap["step"].is_number());
    }
    // the statistics do not depend on whether positions are recorded
    assert_eq!(
        plain["snapshots"][3]["mean_inner_product"],
        s["snapshots"][3]["mean_inner_product"]
    );
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(read(&dir, "s.npz"))).unwrap();
    let mut bytes = Vec::new();
    zip.by_name("positions.npy")
        .unwrap()
        .read_to_end(&mut bytes)
        .unwrap();
    assert_eq!(npy_values(&bytes).0, [4, 6, 5]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn rkmk4_keeps_the_saved_positions_on_the_sphere_without_projection() {
    let dir = scratch("rkmk4");
    attnflow(
        &dir,
        &[
            "simulate",
            "--integrator",
            "rkmk4",
            "--n",
            "8",
            "--d",
            "4",
            "--beta",
            "2",
            "--t-max",
            "20",
            "--dt",
            "0.05",
            "--checkpoints",
            "5",
            "--save-positions",
            "--out",
            "r.json",
        ],
    );
    let r = json(&dir, "r.json");
    assert_eq!(r["params"]["integrator"], "rkmk4");
    assert_eq!(r["params"]["steps"], 400);
    assert_eq!(r["integrator_stats"]["evaluations"], 4 * 400);
    let positions: Vec<Vec<Vec<f64>>> = r["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|snap| serde_json::from_value(snap["positions"].clone()).unwrap())
        .collect();
    assert_eq!(positions.len(), 5);
    for (c, rows) in positions.iter().enumerate() {
        assert_eq!(rows.len(), 8);
        for row in rows {
            let norm = row.iter().map(|v| v * v).sum::<f64>().sqrt();
            assert!((norm - 1.0).abs() < 1e-13, "checkpoint {c}: |x_i| = {norm}");
        }
    }
    // the points moved (a trajectory, not the start point written five times)
    let moved = positions[0]
        .iter()
        .zip(&positions[4])
        .map(|(a, b)| {
            a.iter()
                .zip(b)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f64::max)
        })
        .fold(0.0, f64::max);
    assert!(moved > 0.1, "largest coordinate change {moved}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn gif_of_a_circle_and_of_a_sphere_run() {
    let dir = scratch("gif");
    attnflow(
        &dir,
        &[
            "simulate",
            "--n",
            "6",
            "--d",
            "2",
            "--beta",
            "4",
            "--t-max",
            "1",
            "--checkpoints",
            "3",
            "--out",
            "c.json",
            "--gif",
            "c.gif",
        ],
    );
    assert!(read(&dir, "c.gif").starts_with(b"GIF89a"));
    std::fs::write(
        dir.join("s.toml"),
        "n = 6\nd = 3\nobservables = [\"pair-fraction\"]\n[time]\nt-max = 1.0\ncheckpoints = 3\n",
    )
    .unwrap();
    attnflow(&dir, &["run", "s.toml", "--gif", "s.gif"]);
    assert!(read(&dir, "s.gif").starts_with(b"GIF89a"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// SIGINT / SIGTERM during a run: exit status 130, one line, no temporary file left.
#[cfg(unix)]
#[test]
fn an_interrupted_run_exits_130_and_leaves_no_temporary_file() {
    let dir = scratch("interrupt");
    for signal in ["-INT", "-TERM"] {
        let child = Command::cargo_bin("attnflow")
            .unwrap()
            .current_dir(&dir)
            .args([
                "simulate",
                "--n",
                "400",
                "--d",
                "3",
                "--beta",
                "1",
                "--t-max",
                "100000",
                "--dt",
                "0.1",
                "--max-steps",
                "1000000000",
                "--out",
                "long.json",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // let it start integrating (a run of this size takes minutes)
        std::thread::sleep(std::time::Duration::from_millis(1500));
        let killed = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(130), "{signal}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.starts_with("error: interrupted"), "{stderr}");
        let left: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(left.is_empty(), "{signal}: {left:?}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `--heads 2` is the head of the flags twice: twice its velocity, so with the Euler step dt / 2 it
/// follows the single head with step dt (step by step, to rounding); `--heads FILE` reads the
/// spec's head tables with paths relative to the file.
#[test]
fn heads_flag_repeats_the_head_or_reads_a_file() {
    let dir = scratch("heads");
    let q = [1.0, 0.2, 0.0, 0.0, 1.0, 0.3, 0.1, 0.0, 1.0];
    std::fs::create_dir_all(dir.join("m")).unwrap();
    attnflow_experiment::io::write_npy(&dir.join("m/q.npy"), 3, 3, &q).unwrap();
    let common = [
        "simulate",
        "--n",
        "5",
        "--d",
        "3",
        "--beta",
        "2",
        "--seed",
        "4",
        "--checkpoints",
        "6",
        "--q",
        "m/q.npy",
    ];
    attnflow(
        &dir,
        &[
            &common[..],
            &["--t-max", "1", "--dt", "0.1", "--out", "one.json"],
        ]
        .concat(),
    );
    attnflow(
        &dir,
        &[
            &common[..],
            &[
                "--heads", "2", "--t-max", "0.5", "--dt", "0.05", "--out", "two.json",
            ],
        ]
        .concat(),
    );
    let positions = |name: &str| -> Vec<f64> {
        json(&dir, name)["snapshots"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["positions"].as_array().unwrap().clone())
            .flat_map(|r| r.as_array().unwrap().clone())
            .map(|v| v.as_f64().unwrap())
            .collect()
    };
    let (one, two) = (positions("one.json"), positions("two.json"));
    assert_eq!(one.len(), 6 * 5 * 3);
    let moved = one[..15]
        .iter()
        .zip(&one[75..])
        .any(|(a, b)| (a - b).abs() > 1e-3);
    assert!(moved, "the particles move");
    for (a, b) in one.iter().zip(&two) {
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    }
    std::fs::write(
        dir.join("m/heads.toml"),
        "[[heads]]\n\n[[heads]]\nq = {npy = \"q.npy\"}\nv = {diagonal = [1.0, 0.5, 0.5]}\n",
    )
    .unwrap();
    let printed = attnflow(
        &dir,
        &[
            "simulate",
            "--n",
            "5",
            "--d",
            "3",
            "--beta",
            "1",
            "--t-max",
            "1",
            "--heads",
            "m/heads.toml",
            "--print-spec",
        ],
    )
    .stdout;
    let printed = String::from_utf8(printed).unwrap();
    assert_eq!(printed.matches("[[field.heads]]").count(), 2, "{printed}");
    let q_path = dir.join("m/q.npy").canonicalize().unwrap();
    assert!(
        printed.contains(&format!("npy = \"{}\"", q_path.display())),
        "{printed}"
    );
    assert!(printed.contains("diagonal = ["), "{printed}");
    std::fs::remove_dir_all(&dir).unwrap();
}
