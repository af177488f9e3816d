//! Criterion benches: one integrator step at the sizes of issue 2 and phase-diagram throughput.
//! Run with `cargo bench -p attnflow-dynamics`.

use attnflow_dynamics::{
    DormandPrince54, Integrator, IntegratorKind, MatrixEnsemble, ModelKind, PaperEuler,
    PhaseDiagramSpec, Rk4, SelfAttention, observables::linspace, run_phase_diagram, sampling,
};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

fn integrator_step(c: &mut Criterion) {
    let mut group = c.benchmark_group("step");
    for (n, d) in [(32, 2), (32, 32), (32, 128), (256, 3)] {
        let x0 = sampling::uniform_sphere(
            n,
            d,
            &mut sampling::stream(0, 0, sampling::Purpose::InitialCondition),
        )
        .unwrap();
        let model = SelfAttention::sa(4.0).unwrap();
        let integrators: Vec<Box<dyn Integrator>> = vec![
            Box::new(PaperEuler::default()),
            Box::new(Rk4::default()),
            Box::new(DormandPrince54::fixed()),
        ];
        for mut integ in integrators {
            let mut x = x0.as_slice().to_vec();
            group.bench_function(format!("{}/n={n}/d={d}", integ.name()), |b| {
                b.iter(|| {
                    x.copy_from_slice(x0.as_slice());
                    integ.step(&model, black_box(&mut x), n, d, 0.1).unwrap();
                })
            });
        }
    }
    group.finish();
}

fn phase_diagram_throughput(c: &mut Criterion) {
    let mut group = c.benchmark_group("phase_diagram");
    group.sample_size(10);
    for d in [2, 32, 1024] {
        let spec = PhaseDiagramSpec {
            n: 32,
            d,
            betas: linspace(1.0, 9.0, 2),
            times: linspace(0.0, 30.0, 200),
            dt: 0.1,
            realizations: 32,
            delta: 1e-3,
            seed: 0,
            model: ModelKind::Sa,
            matrices: MatrixEnsemble::Identity,
            integrator: IntegratorKind::PaperEuler,
            representation: None,
            consensus_exit: true,
        };
        group.bench_function(format!("fig3/n=32/d={d}/64x300"), |b| {
            b.iter(|| run_phase_diagram(black_box(&spec), &|_, _| {}).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, integrator_step, phase_diagram_throughput);
criterion_main!(benches);
