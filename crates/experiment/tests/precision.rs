//! `integrator.precision` of a phase-diagram spec: `"f32"` reaches the engine's phase-diagram
//! runner, the default f64 is not printed, an unknown value is one clear line, and the general
//! runner refuses f32 instead of ignoring it.

mod common;
use attnflow_dynamics::Precision;
use attnflow_experiment::{phase_diagram, run};

const SPEC: &str = "n = 6\nd = 8\nseed = 4\n[time]\nt-max = 3.0\ncheckpoints = 4\n[ensemble]\nrealizations = 8\n[sweep]\nparameter = \"beta\"\nvalues = [0.5, 4.0]\n";

#[test]
fn f32_reaches_the_phase_diagram_runner() {
    let r = common::resolve(&format!("{SPEC}[integrator]\nprecision = \"f32\"\n"));
    assert_eq!(r.phase_diagram_spec().unwrap().precision, Precision::F32);
    assert!(r.to_toml_string().unwrap().contains("precision = \"f32\""));
    let pd32 = phase_diagram(&r, &|_, _| {}).unwrap();
    assert_eq!(pd32.params.spec.precision, Precision::F32);
    let r64 = common::resolve(SPEC);
    assert_eq!(r64.phase_diagram_spec().unwrap().precision, Precision::F64);
    assert!(!r64.to_toml_string().unwrap().contains("precision"));
    let pd64 = phase_diagram(&r64, &|_, _| {}).unwrap();
    // the same draws: the two diagrams agree within round-off of the statistic
    for (a, b) in pd32
        .probability
        .iter()
        .flatten()
        .zip(pd64.probability.iter().flatten())
    {
        assert!((a - b).abs() < 0.05, "{a} vs {b}");
    }
    // the general runner integrates in f64 and says so
    let err = run(&r, &|_, _| {}).unwrap_err().to_string();
    assert!(
        err.starts_with("integrator.precision: f32 is supported by the phase-diagram runner only"),
        "{err}"
    );
}

#[test]
fn unknown_precision_is_one_clear_line() {
    let err = common::error_of(&format!("{SPEC}[integrator]\nprecision = \"f16\"\n"));
    assert!(!err.contains('\n'), "{err}");
    assert!(
        err.contains("integrator.precision") && err.contains("f16") && err.contains("f32"),
        "{err}"
    );
}

#[test]
fn f32_with_another_integrator_is_refused_naming_it() {
    let r = common::resolve(&format!(
        "{SPEC}[integrator]\nmethod = \"rk4\"\nprecision = \"f32\"\n"
    ));
    let err = r.phase_diagram_spec().unwrap_err().to_string();
    assert!(
        err.contains("--precision f32 supports the paper-euler integrator only"),
        "{err}"
    );
}
