//! Micro-timing of the fused-step kernels at n = 32: `cargo run --release -p attnflow-dynamics --example kernel_timing`.
use attnflow_dynamics::{kernel, sampling};
use std::hint::black_box;
use std::time::Instant;

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
    let (n, beta, reps) = (32usize, 9.0, 100_000);
    for d in [2usize, 8, 32, 128] {
        let x0 = sampling::uniform_sphere(
            n,
            d,
            &mut sampling::stream(1, 0, sampling::Purpose::InitialCondition),
        )
        .unwrap();
        let mut xt = kernel::AlignedBuf::zeros(n * d);
        kernel::transpose(x0.as_slice(), n, d, &mut xt);
        let (mut g, mut w, mut z) = (
            kernel::AlignedBuf::zeros(n * n),
            kernel::AlignedBuf::zeros(n * n),
            kernel::AlignedBuf::zeros(n),
        );
        let mut y = kernel::AlignedBuf::zeros(n * d);
        let gram = time(reps, || {
            kernel::gram_from_transposed(black_box(&xt), n, d, &mut g)
        });
        let weights = time(reps, || {
            kernel::symmetric_weights(black_box(&g), n, beta, &mut w, &mut z);
        });
        let fused = time(reps, || {
            kernel::gram_and_weights(black_box(&xt), n, d, beta, &mut g, &mut w, &mut z);
        });
        let mut xs = xt.clone();
        let average = time(reps, || {
            kernel::euler_average_transposed(black_box(&w), &z, 1e-30, n, d, &mut xs, &mut y);
        });
        let product = time(reps, || {
            kernel::matmul_scaled(
                black_box(&xt),
                &w,
                d,
                n,
                n,
                kernel::Scale::Columns(&z),
                &mut y,
            )
        });
        println!(
            "n={n} d={d}: gram {gram:.3} + weights {weights:.3} | gram_and_weights {fused:.3} | euler_average_transposed {average:.3} (product alone {product:.3}) us"
        );
    }
}

#[allow(dead_code)]
fn sampling_timing() {
    let mut rng = sampling::stream(1, 0, sampling::Purpose::InitialCondition);
    let t = time(20_000, || {
        black_box(sampling::uniform_sphere(32, 32, &mut rng).unwrap());
    });
    let u = time(20_000, || {
        for _ in 0..2560 {
            black_box(sampling::uniform01(&mut rng));
        }
    });
    println!(
        "uniform_sphere(32, 32): {t:.2} us ({:.1} ns per normal); 2560 uniforms {u:.2} us",
        t * 1e3 / 1024.0
    );
}
