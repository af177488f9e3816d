//! Quick timing of the Figure 3 workload: `cargo run --release -p attnflow-dynamics --example phase_timing -- D R BETAS`.
use attnflow_dynamics::{
    IntegratorKind, MatrixEnsemble, ModelKind, PhaseDiagramSpec, observables::linspace,
    run_phase_diagram,
};

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("integer arguments"))
        .collect();
    let (d, r, nb) = (
        args.first().copied().unwrap_or(32),
        args.get(1).copied().unwrap_or(1024),
        args.get(2).copied().unwrap_or(2),
    );
    let spec = PhaseDiagramSpec {
        n: 32,
        d,
        betas: linspace(0.1, 9.0, nb),
        times: linspace(0.0, 30.0, 200),
        dt: 0.1,
        realizations: r,
        delta: 1e-3,
        seed: 0,
        model: ModelKind::Sa,
        matrices: MatrixEnsemble::Identity,
        integrator: IntegratorKind::PaperEuler,
        representation: None,
        consensus_exit: std::env::var_os("NO_CONSENSUS_EXIT").is_none(),
        precision: attnflow_dynamics::Precision::F64,
    };
    let pd = run_phase_diagram(&spec, &|_, _| {}).expect("valid spec");
    let units = (r * nb * 300) as f64;
    println!(
        "d={d} R={r} betas={nb}: {:.3} s, {:.3} us per realisation-step, {} steps integrated, final p = {:?}",
        pd.runtime_s,
        pd.runtime_s * 1e6 / units,
        pd.steps_integrated,
        pd.probability
            .iter()
            .map(|row| (row[199] * 1e4).round() / 1e4)
            .collect::<Vec<_>>()
    );
}
