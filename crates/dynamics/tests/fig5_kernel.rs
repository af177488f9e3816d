//! The \[GLPR\] Figure 5 heads: the shared product of panels (c) and (d) (V = c B, applied to row
//! vectors as in the authors' code, i.e. velocity c sum_j A_ij x_j^T B) against the general path
//! with the same value matrix, the unchanged heads of panels (a) and (b), and thread-count
//! independence of a phase diagram with the shared product.

use attnflow_dynamics::{
    AttentionHead, IntegratorKind, MatrixEnsemble, ModelKind, PhaseDiagramSpec, SelfAttention,
    Value, VectorField, observables::linspace, run_phase_diagram, sampling,
};

fn draw(ensemble: MatrixEnsemble, d: usize, seed: u64) -> attnflow_dynamics::WeightDraw {
    ensemble
        .draw(
            d,
            &mut sampling::stream(seed, 0, sampling::Purpose::Matrices),
        )
        .unwrap()
        .unwrap()
}

#[test]
fn shared_product_heads_give_the_general_field_to_round_off() {
    for (ensemble, n, d) in [
        (MatrixEnsemble::GinibreGf, 32, 128),
        (MatrixEnsemble::WignerGf, 32, 128),
        (MatrixEnsemble::GinibreGf, 7, 13),
        (MatrixEnsemble::WignerGf, 5, 3),
    ] {
        let w = draw(ensemble, d, 11);
        let shared = w.head(ensemble);
        let general = AttentionHead::new(
            Some(w.interaction.clone()),
            Value::Matrix(w.value_applied()),
        );
        // the same V^T entry by entry: only the order of the operations differs
        assert_eq!(shared.value, general.value, "{ensemble:?}");
        assert_eq!(shared.interaction, general.interaction);
        let x = sampling::uniform_sphere(
            n,
            d,
            &mut sampling::stream(11, 0, sampling::Purpose::InitialCondition),
        )
        .unwrap();
        for (beta, kind) in [
            (4.0, ModelKind::Sa),
            (9.0, ModelKind::Sa),
            (1.0, ModelKind::Usa),
        ] {
            let field = |head: &AttentionHead| {
                let model = SelfAttention::multi_head(beta, vec![head.clone()], kind).unwrap();
                let mut out = vec![0.0; n * d];
                model.drift(x.as_slice(), n, d, &mut out).unwrap();
                out
            };
            let (a, b) = (field(&shared), field(&general));
            let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            let gap = a
                .iter()
                .zip(&b)
                .fold(0.0f64, |m, (p, q)| m.max((p - q).abs()));
            assert!(
                gap <= 1e-13 * scale.max(1.0),
                "{ensemble:?} n = {n}, d = {d}, beta = {beta}: {gap:e} (scale {scale:e})"
            );
            // and it is the other computation (the roundings differ somewhere)
            if n * d > 100 {
                assert_ne!(a, b, "{ensemble:?}: the shared path was not taken");
            }
        }
    }
}

#[test]
fn panels_without_a_shared_product_keep_their_heads() {
    for ensemble in [MatrixEnsemble::Ginibre, MatrixEnsemble::WignerPsd] {
        assert_eq!(ensemble.value_factor(16), None);
        let w = draw(ensemble, 16, 5);
        assert_eq!(
            w.head(ensemble),
            AttentionHead::new(
                Some(w.interaction.clone()),
                Value::Matrix(w.value_applied())
            )
        );
    }
    // the factors are the ensembles' definitions: V = B / sqrt(d), B / sqrt(d + 1)
    for d in [3usize, 128] {
        assert_eq!(
            MatrixEnsemble::GinibreGf.value_factor(d),
            Some(1.0 / (d as f64).sqrt())
        );
        assert_eq!(
            MatrixEnsemble::WignerGf.value_factor(d),
            Some(1.0 / (d as f64 + 1.0).sqrt())
        );
        let w = draw(MatrixEnsemble::GinibreGf, d, 2);
        assert_eq!(w.value, w.interaction.scaled(1.0 / (d as f64).sqrt()));
    }
}

#[test]
fn shared_product_phase_diagrams_do_not_depend_on_the_thread_count() {
    let spec = PhaseDiagramSpec {
        n: 8,
        d: 24,
        betas: linspace(0.5, 6.0, 2),
        times: linspace(0.0, 3.0, 4),
        dt: 0.1,
        realizations: 20,
        delta: 1e-2,
        seed: 4,
        model: ModelKind::Sa,
        matrices: MatrixEnsemble::GinibreGf,
        integrator: IntegratorKind::PaperEuler,
        representation: None,
        consensus_exit: true,
        precision: attnflow_dynamics::Precision::F64,
    };
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| run_phase_diagram(&spec, &|_, _| {}).unwrap())
    };
    let (one, three) = (run(1), run(3));
    assert_eq!(one.probability, three.probability);
    assert_eq!(one.stderr, three.stderr);
    assert_eq!(one.pair12_probability, three.pair12_probability);
}
