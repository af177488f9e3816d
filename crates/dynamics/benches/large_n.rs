//! Criterion benches of the streaming evaluation of the attention field
//! (`attnflow_dynamics::streaming`) at n = 4096, d = 64 (SA, random B and V with entries
//! N(0, 1/d), beta = 1): one drift and one paper-Euler / RK4 step on 1 and 2 threads, and the
//! dense evaluation with its n x n matrices (128 MiB each) beside it. Throughputs are the fused
//! multiply-adds of the products of one drift ("elements"): logits n^2 d, average n^2 d, X B and
//! the value product n d^2 each. Run with `cargo bench -p attnflow-dynamics --bench large_n`.

use attnflow_dynamics::streaming::Evaluation;
use attnflow_dynamics::{
    Integrator, PaperEuler, Rk4, SelfAttention, SquareMatrix, Value, VectorField, Workspace,
    sampling,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

const N: usize = 4096;
const D: usize = 64;

fn matrix(k: u64) -> SquareMatrix {
    let mut rng = sampling::stream(0, k, sampling::Purpose::Matrices);
    sampling::ginibre(D, &mut rng)
        .unwrap()
        .scaled(1.0 / (D as f64).sqrt())
}

fn field(evaluation: Evaluation) -> SelfAttention {
    SelfAttention::builder()
        .beta(1.0)
        .head_interaction(Some(matrix(0)), Value::Matrix(matrix(1)))
        .evaluation(evaluation)
        .build()
        .unwrap()
}

fn large_n(c: &mut Criterion) {
    let x0 = sampling::uniform_sphere(
        N,
        D,
        &mut sampling::stream(0, 0, sampling::Purpose::InitialCondition),
    )
    .unwrap();
    let fmas = 2 * N * N * D + 2 * N * D * D;
    let mut group = c.benchmark_group(format!("large_n/n={N}/d={D}"));
    group.sample_size(10);
    group.throughput(Throughput::Elements(fmas as u64));
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let streaming = field(Evaluation::Streaming);
        let mut ws = Workspace::default();
        let mut out = vec![0.0; N * D];
        group.bench_function(format!("drift/streaming/{threads} threads"), |b| {
            b.iter(|| {
                pool.install(|| {
                    streaming
                        .drift_into(black_box(x0.as_slice()), N, D, &mut out, &mut ws)
                        .unwrap()
                })
            })
        });
        let mut x = x0.as_slice().to_vec();
        let mut euler = PaperEuler::default();
        group.bench_function(
            format!("paper-euler step/streaming/{threads} threads"),
            |b| {
                b.iter(|| {
                    x.copy_from_slice(x0.as_slice());
                    pool.install(|| {
                        euler
                            .step(&streaming, black_box(&mut x), N, D, 0.1)
                            .unwrap()
                    })
                })
            },
        );
        // four drifts: its throughput is a quarter of the figure reported
        let mut rk4 = Rk4::default();
        group.bench_function(
            format!("rk4 step (4 drifts)/streaming/{threads} threads"),
            |b| {
                b.iter(|| {
                    x.copy_from_slice(x0.as_slice());
                    pool.install(|| rk4.step(&streaming, black_box(&mut x), N, D, 0.1).unwrap())
                })
            },
        );
    }
    // the dense evaluation runs on one thread whatever the pool
    let dense = field(Evaluation::Dense);
    let mut ws = Workspace::default();
    let mut out = vec![0.0; N * D];
    group.bench_function("drift/dense", |b| {
        b.iter(|| {
            dense
                .drift_into(black_box(x0.as_slice()), N, D, &mut out, &mut ws)
                .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, large_n);
criterion_main!(benches);
