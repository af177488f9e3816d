//! Every instruction-set path of `simd_dispatch!` (AVX-512, AVX2, portable) must give the same bits:
//! the kernels only use correctly rounded operations (fused multiply-adds included) in a fixed
//! order. Runs the paths this processor has, one after another, in its own test binary (the cap is
//! process-wide).

use attnflow_dynamics::simd::on_every_available_level;
use attnflow_dynamics::{
    DormandPrince54, Integrator, IntegratorKind, MatrixEnsemble, ModelKind, PaperEuler,
    PhaseDiagramSpec, Rk4, SelfAttention, observables::linspace, run_phase_diagram, sampling,
};

/// Bits of a few integrations and a small phase diagram.
fn fingerprint() -> Vec<u64> {
    let mut bits = Vec::new();
    // n a multiple of 8 takes the AVX-512 Gram/weights kernel, n = 9, 13, 7 the generic ones; the
    // transposed Euler kernel (pulp: a register tile per 4 coordinates, n = 40: a 32-wide and an
    // 8-wide block with AVX-512; d = 3, 13: single-coordinate blocks; n = 9, 13, 7: scalar edge
    // tiles); beta = 400 the clamped exponential
    for (n, d) in [
        (16, 8),
        (9, 3),
        (24, 3),
        (40, 13),
        (12, 20),
        (13, 32),
        (7, 24),
    ] {
        let x0 = sampling::uniform_sphere(
            n,
            d,
            &mut sampling::stream(7, 0, sampling::Purpose::InitialCondition),
        )
        .unwrap();
        for model in [
            SelfAttention::sa(3.0).unwrap(),
            SelfAttention::usa(1.5).unwrap(),
            SelfAttention::sa(400.0).unwrap(),
        ] {
            let integrators: Vec<Box<dyn Integrator>> = vec![
                Box::new(PaperEuler::default()),
                Box::new(Rk4::default()),
                Box::new(DormandPrince54::new(1e-8, 1e-10).unwrap()),
            ];
            for mut integ in integrators {
                let mut x = x0.as_slice().to_vec();
                for _ in 0..20 {
                    integ.step(&model, &mut x, n, d, 0.1).unwrap();
                }
                bits.extend(x.iter().map(|v| v.to_bits()));
            }
        }
    }
    // the Figure 5 heads (general B and V; V = c B with the shared product X B): the register
    // tiles of the products (q >= 8), their right edges (d = 21) and one-row tiles (n = 13)
    for (n, d) in [(16, 40), (13, 21)] {
        let x0 = sampling::uniform_sphere(
            n,
            d,
            &mut sampling::stream(8, 0, sampling::Purpose::InitialCondition),
        )
        .unwrap();
        for ensemble in [MatrixEnsemble::Ginibre, MatrixEnsemble::GinibreGf] {
            let w = ensemble
                .draw(d, &mut sampling::stream(8, 0, sampling::Purpose::Matrices))
                .unwrap()
                .unwrap();
            let model =
                SelfAttention::multi_head(2.0, vec![w.head(ensemble)], ModelKind::Sa).unwrap();
            let mut x = x0.as_slice().to_vec();
            let mut integ = PaperEuler::default();
            for _ in 0..20 {
                integ.step(&model, &mut x, n, d, 0.1).unwrap();
            }
            bits.extend(x.iter().map(|v| v.to_bits()));
        }
    }
    let spec = PhaseDiagramSpec {
        n: 8,
        d: 40,
        betas: linspace(0.5, 6.0, 3),
        times: linspace(0.0, 8.0, 9),
        dt: 0.1,
        realizations: 6,
        delta: 1e-3,
        seed: 3,
        model: ModelKind::Sa,
        matrices: MatrixEnsemble::Identity,
        integrator: IntegratorKind::PaperEuler,
        representation: None,
        consensus_exit: true,
        precision: attnflow_dynamics::Precision::F64,
    };
    let pd = run_phase_diagram(&spec, &|_, _| {}).unwrap();
    bits.extend(pd.probability.iter().flatten().map(|v| v.to_bits()));
    bits.extend(pd.stderr.iter().flatten().map(|v| v.to_bits()));
    bits
}

#[test]
fn every_instruction_set_gives_the_same_bits() {
    let runs = on_every_available_level(fingerprint);
    let (first, bits) = &runs[0];
    for (level, other) in &runs[1..] {
        assert_eq!(bits, other, "{first:?} and {level:?} paths differ");
    }
    // on x86_64 at least one vector path is compared with the portable one
    #[cfg(target_arch = "x86_64")]
    assert!(
        runs.len() >= 2,
        "only {:?} ran",
        runs.iter().map(|r| r.0).collect::<Vec<_>>()
    );
}
