//! Phase diagrams in f32 give the same bits on AVX-512, AVX2 and the portable build (its own test
//! binary: [`attnflow_dynamics::simd::set_cap`] is process-wide and would slow other tests down).

use attnflow_dynamics::observables::linspace;
use attnflow_dynamics::simd::on_every_available_level;
use attnflow_dynamics::{
    IntegratorKind, MatrixEnsemble, ModelKind, PhaseDiagramSpec, Precision, run_phase_diagram,
};

#[test]
fn f32_gives_the_same_bits_on_every_instruction_set() {
    let fingerprint = || {
        let mut out = vec![];
        for ensemble in [
            MatrixEnsemble::Identity,
            MatrixEnsemble::WignerPsd,
            MatrixEnsemble::GinibreGf,
        ] {
            let spec = PhaseDiagramSpec {
                n: 10,
                d: 37,
                betas: linspace(1.0, 9.0, 3),
                times: linspace(0.0, 5.0, 6),
                dt: 0.1,
                realizations: 4,
                delta: 1e-3,
                seed: 11,
                model: ModelKind::Sa,
                matrices: ensemble,
                integrator: IntegratorKind::PaperEuler,
                representation: None,
                consensus_exit: true,
                precision: Precision::F32,
            };
            let pd = run_phase_diagram(&spec, &|_, _| {}).unwrap();
            let cells = [&pd.probability, &pd.stderr, &pd.pair12_probability];
            out.extend(
                cells
                    .iter()
                    .flat_map(|m| m.iter().flatten().map(|v| v.to_bits())),
            );
            out.push(pd.steps_integrated);
        }
        out
    };
    let runs = on_every_available_level(fingerprint);
    let (first, reference) = &runs[0];
    for (level, other) in &runs[1..] {
        assert_eq!(reference, other, "{first:?} and {level:?} paths differ");
    }
    #[cfg(target_arch = "x86_64")]
    assert!(runs.len() >= 2, "only one instruction set ran");
}
