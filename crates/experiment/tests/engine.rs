//! The runner against the engine: Figure 3 / Figure 5 specs give `run_phase_diagram`'s numbers bit
//! for bit; 1 and 2 threads give the same bits; a causal run keeps x_1 fixed; two heads sum.

mod common;
use attnflow_dynamics::observables::linspace;
use attnflow_dynamics::{
    IntegratorKind, MatrixEnsemble, ModelKind, PhaseDiagramSpec, VectorField, run_phase_diagram,
};
use attnflow_experiment::{Observed, Output, Summary};

fn phase_spec(
    n: usize,
    d: usize,
    matrices: MatrixEnsemble,
    integrator: IntegratorKind,
) -> PhaseDiagramSpec {
    PhaseDiagramSpec {
        n,
        d,
        betas: linspace(0.5, 6.0, 3),
        times: linspace(0.0, 8.0, 9),
        dt: 0.1,
        realizations: 20,
        delta: 1e-3,
        seed: 11,
        model: ModelKind::Sa,
        matrices,
        integrator,
        representation: None,
        consensus_exit: true,
        precision: attnflow_dynamics::Precision::F64,
    }
}

fn toml_of(p: &PhaseDiagramSpec) -> String {
    let matrices = serde_json::to_string(&p.matrices).unwrap();
    // the engine's names are the spec's method names
    let method = p.integrator.name();
    format!(
        "n = {}\nd = {}\nseed = {}\nobservables = [{{kind = \"pair-fraction\", delta = {:?}}}]\n[field]\nmodel = \"sa\"\nmatrices = {matrices}\n[integrator]\nmethod = \"{method}\"\n[time]\ndt = {:?}\nt-max = {:?}\ncheckpoints = {}\n[ensemble]\nrealizations = {}\n[sweep]\nparameter = \"beta\"\nlinspace = {{start = 0.5, stop = 6.0, count = 3}}\n",
        p.n,
        p.d,
        p.seed,
        p.delta,
        p.dt,
        p.times.last().unwrap(),
        p.times.len(),
        p.realizations
    )
}

fn means(out: &Output, name: &str) -> Vec<Vec<(u64, u64)>> {
    out.points
        .iter()
        .map(|p| {
            p.mean
                .as_ref()
                .unwrap()
                .iter()
                .map(|rec| match &rec.values[name] {
                    Summary::Scalar { mean, stderr } => (mean.to_bits(), stderr.to_bits()),
                    other => panic!("{other:?}"),
                })
                .collect()
        })
        .collect()
}

fn assert_same_as_engine(p: &PhaseDiagramSpec) {
    let expected = run_phase_diagram(p, &|_, _| {}).unwrap();
    let r = common::resolve(&toml_of(p));
    assert_eq!(r.points()[0].times, p.times);
    assert_eq!(
        r.points()[0].representation,
        expected.params.representation_used,
        "{p:?}"
    );
    let out = common::run_quiet(&r);
    let got = means(&out, "pair-fraction");
    for (b, row) in got.iter().enumerate() {
        for (c, &(mean, stderr)) in row.iter().enumerate() {
            assert_eq!(
                mean,
                expected.probability[b][c].to_bits(),
                "beta {b} checkpoint {c}: {} vs {}",
                f64::from_bits(mean),
                expected.probability[b][c]
            );
            assert_eq!(stderr, expected.stderr[b][c].to_bits());
        }
    }
    // something happened: not every probability is 0
    assert!(expected.probability.iter().flatten().any(|&v| v > 0.0));
}

#[test]
fn figure3_spec_reproduces_run_phase_diagram_bit_for_bit() {
    // d = 8 > n = 6: the reduced (Bartlett) representation on both sides
    assert_same_as_engine(&phase_spec(
        6,
        8,
        MatrixEnsemble::Identity,
        IntegratorKind::PaperEuler,
    ));
    // d = 8 <= n = 10: the full representation
    assert_same_as_engine(&phase_spec(
        10,
        8,
        MatrixEnsemble::Identity,
        IntegratorKind::PaperEuler,
    ));
    // RK4
    assert_same_as_engine(&phase_spec(
        6,
        8,
        MatrixEnsemble::Identity,
        IntegratorKind::Rk4,
    ));
}

#[test]
fn figure5_spec_reproduces_run_phase_diagram_bit_for_bit() {
    for e in [
        MatrixEnsemble::Ginibre,
        MatrixEnsemble::GinibreGf,
        MatrixEnsemble::WignerPsd,
    ] {
        let mut p = phase_spec(8, 6, e, IntegratorKind::PaperEuler);
        p.realizations = 6;
        assert_same_as_engine(&p);
    }
}

#[test]
fn one_and_two_threads_give_the_same_bits() {
    let r = common::resolve(
        "n = 12\nd = 4\nseed = 2\nobservables = [\"pair-fraction\", \"energy\", \"mean-cosine\", \"diameter\", \"attention-rank\", \"cluster-count\"]\n[[field.heads]]\n[[field.heads]]\nq = {random = \"ginibre\", scale = 0.5}\n[time]\nt-max = 2.0\ncheckpoints = 5\n[ensemble]\nrealizations = 40\n[sweep]\nparameter = \"beta\"\nvalues = [0.5, 3.0]",
    );
    // the serialised output (no runtime) on `threads` threads
    let bytes = |r: &attnflow_experiment::ResolvedSpec, threads| {
        let out = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| common::run_quiet(r));
        serde_json::to_string(&out).unwrap()
    };
    assert_eq!(bytes(&r, 1), bytes(&r, 2));
    // and per-realisation output too
    let r = common::resolve(
        "n = 6\nd = 3\nobservables = [\"positions\"]\n[time]\nt-max = 1.0\ncheckpoints = 3\n[ensemble]\nrealizations = 20\naggregate = \"none\"",
    );
    assert_eq!(bytes(&r, 1), bytes(&r, 2));
}

#[test]
fn causal_mask_keeps_the_first_token_fixed() {
    let spec = attnflow_experiment::Spec::from_path(common::specs_dir().join("causal-s2-npy.toml"))
        .unwrap();
    let r = spec.resolve().unwrap();
    assert_eq!((r.n(), r.d()), (8, 3));
    let out = common::run_quiet(&r);
    let run = &out.points[0].runs.as_ref().unwrap()[0];
    let pos = |c: usize| match &run.checkpoints[c].values["positions"] {
        Observed::Rows(rows) => rows.clone(),
        other => panic!("{other:?}"),
    };
    let (first, last) = (pos(0), pos(run.checkpoints.len() - 1));
    assert_eq!(run.checkpoints[0].step, 0);
    for (a, b) in first[0].iter().zip(&last[0]) {
        assert!(
            (a - b).abs() < 1e-14,
            "x_1 moved: {:?} -> {:?}",
            first[0],
            last[0]
        );
    }
    // the others move
    let moved = first[1..]
        .iter()
        .zip(&last[1..])
        .map(|(a, b)| {
            a.iter()
                .zip(b)
                .map(|(u, v)| (u - v).abs())
                .fold(0.0, f64::max)
        })
        .fold(0.0, f64::max);
    assert!(moved > 1e-3, "{moved}");
}

#[test]
fn two_heads_drift_is_the_sum_of_the_heads() {
    let head1 = "[[field.heads]]\nq = {matrix = [[1.0, 0.3, 0.0], [0.0, 1.0, -0.2], [0.1, 0.0, 0.7]]}\nv = {diagonal = [1.0, -0.5, 2.0]}\n";
    let head2 = "[[field.heads]]\nk = {random = \"wigner\", scale = 0.4}\nv = {random = \"ginibre\", scale = 0.3}\n";
    let base = "n = 7\nd = 3\nseed = 4\n[field]\nbeta = 2.5\n";
    let model = |heads: &str| {
        let r = common::resolve(&format!("{base}{heads}"));
        let mut rng = attnflow_dynamics::sampling::stream(
            4,
            0,
            attnflow_dynamics::sampling::Purpose::Matrices,
        );
        // head 2 alone draws its matrices first in the stream; in the two-head model head 1
        // draws nothing, so the streams agree
        r.points()[0].build_model(&mut rng).unwrap()
    };
    let both = model(&format!("{head1}{head2}"));
    let one = model(head1);
    let two = model(head2);
    let x = attnflow_dynamics::sampling::uniform_sphere(
        7,
        3,
        &mut attnflow_dynamics::sampling::stream(
            1,
            0,
            attnflow_dynamics::sampling::Purpose::Other(3),
        ),
    )
    .unwrap();
    let (mut f, mut f1, mut f2) = (vec![0.0; 21], vec![0.0; 21], vec![0.0; 21]);
    both.drift(x.as_slice(), 7, 3, &mut f).unwrap();
    one.drift(x.as_slice(), 7, 3, &mut f1).unwrap();
    two.drift(x.as_slice(), 7, 3, &mut f2).unwrap();
    for i in 0..21 {
        assert!(
            (f[i] - f1[i] - f2[i]).abs() < 1e-13,
            "{i}: {} vs {}",
            f[i],
            f1[i] + f2[i]
        );
    }
    assert!(f2.iter().any(|v| v.abs() > 1e-3));
}
