//! `field.summation = "spectral"`: the example spec, agreement with the direct sum through the
//! whole pipeline, the recorded truncation, and refused combinations.

mod common;
use attnflow_experiment::{Observed, Spec};

fn positions(out: &attnflow_experiment::Output) -> Vec<f64> {
    let run = &out.points[0].runs.as_ref().unwrap()[0];
    let last = run.checkpoints.last().unwrap();
    match &last.values["positions"] {
        Observed::Rows(rows) => rows.concat(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn example_spec_runs_like_the_direct_sum() {
    let mut spec = Spec::from_path(common::specs_dir().join("usa-circle-spectral.toml")).unwrap();
    let r = spec.resolve().unwrap();
    assert_eq!((r.n(), r.d()), (20000, 2));
    // at reduced size against the direct sum
    spec.n = Some(500);
    spec.time.t_max = 0.02;
    let spectral = common::run_quiet(&spec.resolve().unwrap());
    let t = spectral.points[0].truncation.expect("truncation recorded");
    assert!(t.degree >= 20 && t.tail <= 1e-13, "{t:?}");
    let text = spec.resolve().unwrap().to_toml_string().unwrap();
    assert!(text.contains("summation = \"spectral\""), "{text}");
    spec.field.summation = attnflow_dynamics::spectral::SummationKind::Direct;
    spec.field.summation_tol = None;
    let direct = common::run_quiet(&spec.resolve().unwrap());
    assert_eq!(direct.points[0].truncation, None);
    let (a, b) = (positions(&spectral), positions(&direct));
    let e = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max);
    eprintln!("spectral vs direct after 200 Euler steps (n = 500): {e:.2e}");
    assert!(e < 1e-11, "{e:e}");
}

#[test]
fn direct_specs_do_not_mention_summation() {
    let r = common::resolve("n = 8\nd = 3\n");
    let text = r.to_toml_string().unwrap();
    assert!(!text.contains("summation"), "{text}");
    // the default tolerance is filled in for spectral
    let r = common::resolve("n = 8\nd = 3\n[field]\nsummation = \"spectral\"\n");
    assert_eq!(r.spec().field.summation_tol, Some(1e-13));
    let back = Spec::from_toml_str(&r.to_toml_string().unwrap()).unwrap();
    assert_eq!(&back.field, &r.spec().field);
}

#[test]
fn refused_combinations_name_the_field() {
    let base = "n = 8\n";
    for (extra, field) in [
        (
            "d = 4\n[field]\nsummation = \"spectral\"\n",
            "field.summation:",
        ),
        (
            "d = 2\n[field]\nsummation = \"spectral\"\nmask = \"causal\"\n",
            "field.summation:",
        ),
        (
            "d = 3\n[field]\nsummation = \"spectral\"\nrepulsive = true\n",
            "field.summation:",
        ),
        (
            "d = 3\n[field]\nsummation = \"spectral\"\n[[field.heads]]\n[[field.heads]]\n",
            "field.summation:",
        ),
        (
            "d = 2\n[field]\nsummation = \"spectral\"\nsummation-tol = 0.0\n",
            "field.summation-tol:",
        ),
        (
            "d = 2\n[field]\nsummation = \"spectral\"\nsummation-tol = -1e-3\n",
            "field.summation-tol:",
        ),
        (
            "d = 2\n[field]\nsummation = \"spectral\"\nsummation-tol = nan\n",
            "field.summation-tol:",
        ),
        (
            "d = 2\n[field]\nsummation = \"spectral\"\nsummation-tol = 1.0\n",
            "field.summation-tol:",
        ),
        (
            "d = 2\n[field]\nsummation-tol = 1e-6\n",
            "field.summation-tol:",
        ),
        ("d = 2\n[field]\nsummation = \"fast\"\n", "summation"),
    ] {
        let message = common::error_of(&format!("{base}{extra}"));
        assert!(message.contains(field), "{extra}: {message}");
    }
}
