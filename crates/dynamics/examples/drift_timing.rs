//! Micro-timing of the pieces of one drift evaluation and one paper-Euler step (n = 32), of the
//! fused step's kernels on the transposed state, and of the Gaussian sampler:
//! `cargo run --release -p attnflow-dynamics --example drift_timing`.
use attnflow_dynamics::{
    Integrator, PaperEuler, SelfAttention, VectorField, Workspace, kernel, sampling,
};
use std::hint::black_box;
use std::time::Instant;

/// Wall time of `f` in microseconds per call: the best of five batches of `reps / 5` calls (the
/// minimum filters out interference from other processes).
fn time(reps: usize, mut f: impl FnMut()) -> f64 {
    (0..5)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..reps / 5 {
                f();
            }
            t.elapsed().as_secs_f64() / (reps / 5) as f64 * 1e6
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let reps = 50_000;
    for d in [2usize, 8, 32] {
        let n = 32;
        let x0 = sampling::uniform_sphere(
            n,
            d,
            &mut sampling::stream(1, 0, sampling::Purpose::InitialCondition),
        )
        .unwrap();
        let x = x0.as_slice();
        let model = SelfAttention::sa(4.0).unwrap();
        let mut ws = Workspace::default();
        let mut out = vec![0.0; n * d];
        let drift = time(reps, || {
            model
                .drift_into(black_box(x), n, d, &mut out, &mut ws)
                .unwrap()
        });
        let mut xt = vec![0.0; n * d];
        let transpose = time(reps, || kernel::transpose(black_box(x), n, d, &mut xt));
        let mut g = vec![0.0; n * n];
        let gram = time(reps, || {
            kernel::gram_from_transposed(black_box(&xt), n, d, &mut g)
        });
        let (mut e, mut z) = (vec![0.0; n * n], vec![0.0; n]);
        let weights = time(reps, || {
            kernel::symmetric_weights(black_box(&g), n, 4.0, &mut e, &mut z).unwrap();
        });
        let average = time(reps, || {
            kernel::matmul_scaled(black_box(&e), x, n, n, d, kernel::Scale::Rows(&z), &mut out)
        });
        let mut y = x.to_vec();
        let normalize = time(reps, || {
            y.copy_from_slice(x);
            kernel::euler_normalize_rows(black_box(&mut y), &out, 0.1, d);
        });
        let mut integ = PaperEuler::default();
        let step = time(reps, || {
            integ.step(&model, black_box(&mut y), n, d, 0.1).unwrap()
        });
        let fresh = time(reps, || {
            y.copy_from_slice(x);
            integ.step(&model, black_box(&mut y), n, d, 0.1).unwrap()
        });
        println!(
            "n={n} d={d}: drift {drift:.2} us = transpose {transpose:.2} + gram {gram:.2} + weights {weights:.2} + average {average:.2} + rest; euler + normalise {normalize:.2}; euler step {step:.2} us (from x0 every step: {fresh:.2} us)"
        );
        // the fused step's two kernels, on aligned buffers as in `FusedPaperEuler`
        let xt = kernel::AlignedBuf::from_slice(&xt);
        let (mut g, mut e, mut z) = (
            kernel::AlignedBuf::zeros(n * n),
            kernel::AlignedBuf::zeros(n * n),
            kernel::AlignedBuf::zeros(n),
        );
        let gram_and_weights = time(reps, || {
            kernel::gram_and_weights(black_box(&xt), n, d, 4.0, &mut g, &mut e, &mut z);
        });
        let (mut xs, mut next) = (xt.clone(), kernel::AlignedBuf::zeros(n * d));
        let average = time(reps, || {
            // h = 1e-30: the state stays put, so every call sees the same input
            kernel::euler_average_transposed(black_box(&e), &z, 1e-30, n, d, &mut xs, &mut next);
        });
        println!(
            "           fused step kernels: gram_and_weights {gram_and_weights:.2} us + euler_average_transposed {average:.2} us"
        );
    }
    let mut rng = sampling::stream(1, 0, sampling::Purpose::InitialCondition);
    let sphere = time(reps / 5, || {
        black_box(sampling::uniform_sphere(32, 32, &mut rng).unwrap());
    });
    println!("uniform_sphere(32, 32): {sphere:.2} us");
}
