//! Timing of the \[GLPR\] Figure 5 workload (d = 128, n = 32, full state, paper Euler, 300 steps):
//! `cargo run --release -p attnflow-dynamics --example fig5_timing -- ENSEMBLE R BETAS [THREADS [OUT
//! [PRECISION]]]` with ENSEMBLE one of ginibre, wigner-psd, ginibre-gf, wigner-gf and PRECISION f64
//! (default) or f32. Prints the wall time per realisation-step and the final probabilities; OUT (a
//! path, `-` for none) receives the probabilities and standard errors of every cell as JSON.
use attnflow_dynamics::{
    IntegratorKind, MatrixEnsemble, ModelKind, PhaseDiagramSpec, observables::linspace,
    run_phase_diagram,
};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let ensemble: MatrixEnsemble = serde_json::from_value(serde_json::Value::String(
        args.first().cloned().unwrap_or_else(|| "ginibre".into()),
    ))
    .expect("an ensemble name");
    let number = |i: usize, default: usize| {
        args.get(i)
            .map(|a| a.parse().expect("integer arguments"))
            .unwrap_or(default)
    };
    let (r, nb, threads) = (number(1, 64), number(2, 2), number(3, 2));
    let spec = PhaseDiagramSpec {
        n: 32,
        d: 128,
        betas: linspace(0.1, 9.0, nb),
        times: linspace(0.0, 30.0, 200),
        dt: 0.1,
        realizations: r,
        delta: 1e-3,
        seed: 0,
        model: ModelKind::Sa,
        matrices: ensemble,
        integrator: IntegratorKind::PaperEuler,
        representation: None,
        consensus_exit: true,
        precision: serde_json::from_value(serde_json::Value::String(
            args.get(5).cloned().unwrap_or_else(|| "f64".into()),
        ))
        .expect("a precision, f64 or f32"),
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool");
    let pd = pool
        .install(|| run_phase_diagram(&spec, &|_, _| {}))
        .expect("valid spec");
    if let Some(out) = args.get(4).filter(|o| *o != "-") {
        let cells = serde_json::json!({"probability": pd.probability, "stderr": pd.stderr});
        std::fs::write(out, cells.to_string()).expect("writable output");
    }
    let units = pd.steps_integrated as f64;
    println!(
        "{ensemble:?} {} R={r} betas={nb} threads={threads}: {:.3} s, {:.3} us per realisation-step, final p = {:?}",
        spec.precision.name(),
        pd.runtime_s,
        pd.runtime_s * 1e6 / units,
        pd.probability
            .iter()
            .map(|row| row[199])
            .collect::<Vec<_>>()
    );
}
