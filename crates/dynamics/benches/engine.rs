//! Criterion benches: one integrator step at the Figure 3 sizes, 300 fused paper-Euler steps
//! through the solver, the Figure 3 kernels at each instruction-set level side by side, and
//! phase-diagram throughput.
//! Run with `cargo bench -p attnflow-dynamics`.

use attnflow_dynamics::kernel;
use attnflow_dynamics::simd::{self, Level};
use attnflow_dynamics::{
    CommutatorFree4, CrouchGrossman3, DormandPrince54, EnergyStable, FusedPaperEuler, Integrator,
    IntegratorKind, LieEuler, MatrixEnsemble, ModelKind, Observer, PaperEuler, PhaseDiagramSpec,
    Rk4, Rkmk4, Rkmk45, SelfAttention, Solver, observables::linspace, run_phase_diagram, sampling,
};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::ops::ControlFlow;

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

/// Sees every Gram matrix the steps compute and counts the entries above 1/2 (so the work is not
/// optimised away), wants no extra ones.
struct Counter(u64);

impl Observer for Counter {
    fn wants(&self, _k: usize) -> bool {
        false
    }
    fn observe(&mut self, _k: usize, gram: &[f64]) -> ControlFlow<()> {
        self.0 += gram.iter().filter(|&&g| g > 0.5).count() as u64;
        ControlFlow::Continue(())
    }
}

/// 300 paper-Euler steps through the solver with [`FusedPaperEuler`], which keeps the state
/// transposed between fused steps (the ensembles' path); divide by 300 for one step.
fn paper_euler_advance(c: &mut Criterion) {
    let mut group = c.benchmark_group("advance");
    for (n, d) in [(32, 2), (32, 32)] {
        let x0 = sampling::uniform_sphere(
            n,
            d,
            &mut sampling::stream(0, 0, sampling::Purpose::InitialCondition),
        )
        .unwrap();
        let model = SelfAttention::sa(4.0).unwrap();
        group.bench_function(format!("paper-euler/n={n}/d={d}/300 steps"), |b| {
            b.iter(|| {
                let mut counter = Counter(0);
                let fused = FusedPaperEuler::for_field(&model).unwrap();
                let mut solver = Solver::new(&model, fused, black_box(&x0), 0.1)
                    .unwrap()
                    .with_observer(&mut counter);
                solver.advance_to_step(300).unwrap();
                black_box(counter.0)
            })
        });
    }
    group.finish();
}

/// One step of each Lie-group integrator (`attnflow_dynamics::lie`), beside RK4 with projection,
/// on SA with beta = 4, and of the energy-stable step (minimising movement, implicit) at d = 3.
fn lie_step(c: &mut Criterion) {
    let mut group = c.benchmark_group("lie_step");
    for (n, d) in [(32, 3), (32, 32)] {
        let x0 = sampling::uniform_sphere(
            n,
            d,
            &mut sampling::stream(0, 0, sampling::Purpose::InitialCondition),
        )
        .unwrap();
        let model = SelfAttention::sa(4.0).unwrap();
        let mut integrators: Vec<Box<dyn Integrator>> = vec![
            Box::new(Rk4::default()),
            Box::new(LieEuler::default()),
            Box::new(CrouchGrossman3::default()),
            Box::new(Rkmk4::default()),
            Box::new(CommutatorFree4::default()),
            Box::new(Rkmk45::fixed()),
        ];
        if d == 3 {
            integrators.push(Box::new(EnergyStable::default()));
        }
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

/// The instruction-set levels this processor has, best first.
fn levels() -> Vec<Level> {
    [Level::Avx512, Level::Avx2, Level::Portable]
        .into_iter()
        .filter(|&l| simd::available(l))
        .collect()
}

/// The Figure 3 kernels at n = d = 32 (Gram matrix and weights from X^T, the fused Euler update
/// on X^T, 300 fused paper-Euler steps through the solver): one group per kernel, one entry per
/// instruction-set level (the process-wide cap of `simd::set_cap`, restored afterwards).
fn fig3_kernels_by_level(c: &mut Criterion) {
    let (n, d, beta) = (32, 32, 4.0);
    let x0 = sampling::uniform_sphere(
        n,
        d,
        &mut sampling::stream(0, 0, sampling::Purpose::InitialCondition),
    )
    .unwrap();
    let mut xt = vec![0.0; n * d];
    kernel::transpose(x0.as_slice(), n, d, &mut xt);
    let (mut g, mut e, mut z) = (vec![0.0; n * n], vec![0.0; n * n], vec![0.0; n]);
    let mut group = c.benchmark_group(format!("fig3_gram_and_weights/n={n}/d={d}"));
    for level in levels() {
        group.bench_function(format!("{level:?}"), |b| {
            simd::set_cap(level);
            b.iter(|| kernel::gram_and_weights(black_box(&xt), n, d, beta, &mut g, &mut e, &mut z))
        });
    }
    group.finish();
    kernel::reciprocals(&mut z);
    let (mut y, mut x) = (vec![0.0; n * d], xt.clone());
    let mut group = c.benchmark_group(format!("fig3_euler_average_transposed/n={n}/d={d}"));
    for level in levels() {
        group.bench_function(format!("{level:?}"), |b| {
            simd::set_cap(level);
            b.iter(|| {
                x.copy_from_slice(&xt);
                kernel::euler_average_transposed(black_box(&e), &z, 0.1, n, d, &mut x, &mut y)
            })
        });
    }
    group.finish();
    let model = SelfAttention::sa(beta).unwrap();
    let mut group = c.benchmark_group(format!("fig3_advance/paper-euler/n={n}/d={d}/300 steps"));
    group.sample_size(20);
    for level in levels() {
        group.bench_function(format!("{level:?}"), |b| {
            simd::set_cap(level);
            b.iter(|| {
                let fused = FusedPaperEuler::for_field(&model).unwrap();
                let mut solver = Solver::new(&model, fused, black_box(&x0), 0.1).unwrap();
                solver.advance_to_step(300).unwrap();
                black_box(solver.state().as_slice()[0])
            })
        });
    }
    group.finish();
    simd::set_cap(Level::Avx512);
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
            precision: attnflow_dynamics::Precision::F64,
        };
        group.bench_function(format!("fig3/n=32/d={d}/64x300"), |b| {
            b.iter(|| run_phase_diagram(black_box(&spec), &|_, _| {}).unwrap())
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    integrator_step,
    lie_step,
    paper_euler_advance,
    fig3_kernels_by_level,
    phase_diagram_throughput
);
criterion_main!(benches);
