//! Spectral against direct summation of the attention field (`attnflow_dynamics::spectral`):
//! time per field evaluation (one Euler step's work) and relative error, on S^1 (USA, beta = 7)
//! and S^2, the crossover n, and the growth of the cost with beta:
//! `cargo run --release -p attnflow-dynamics --example spectral_timing` (add `-- --quick` to skip
//! n = 1e6). Threads: rayon's default (`RAYON_NUM_THREADS`).
//!
//! The engine's direct sum holds n x n matrices, so it runs up to n = 8192; beyond, the reference
//! is a streaming O(n^2) sum (no matrices, parallel over particles) timed at n = 65536, and at
//! n = 1e6 the error is measured on 256 particles against the streaming sum.
use attnflow_dynamics::sampling::{Purpose, stream, uniform01};
use attnflow_dynamics::spectral::{CircleSeries, DEFAULT_TOL, Summation, circle_angular_velocity};
use attnflow_dynamics::{ModelKind, SelfAttention, VectorField};
use rayon::prelude::*;
use std::time::Instant;

/// Best wall time of `reps` calls, in seconds.
fn time(reps: usize, mut f: impl FnMut()) -> f64 {
    (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn angles(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = stream(seed, 0, Purpose::InitialCondition);
    (0..n)
        .map(|_| std::f64::consts::TAU * uniform01(&mut rng))
        .collect()
}

fn points2(theta: &[f64]) -> Vec<f64> {
    theta.iter().flat_map(|t| [t.cos(), t.sin()]).collect()
}

/// Streaming direct USA angular velocity of the particles `rows` (parallel over them).
fn direct_usa(theta: &[f64], beta: f64, rows: &[usize]) -> Vec<f64> {
    let n = theta.len() as f64;
    rows.par_iter()
        .map(|&i| {
            let ti = theta[i];
            theta
                .iter()
                .map(|&tj| (beta * (ti - tj).cos()).exp() * (tj - ti).sin())
                .sum::<f64>()
                / n
        })
        .collect()
}

fn rel(a: &[f64], b: &[f64]) -> f64 {
    let e = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max);
    e / b.iter().map(|y| y.abs()).fold(0.0, f64::max)
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let beta = 7.0;
    println!(
        "threads: {}, tol = {DEFAULT_TOL:e}",
        rayon::current_num_threads()
    );
    let k = CircleSeries::new(beta, DEFAULT_TOL).unwrap().truncation();
    println!(
        "S^1, beta = {beta}: degree K = {} (tail {:.1e})",
        k.degree, k.tail
    );

    // crossover on S^1 (USA): engine direct vs engine spectral, per evaluation
    println!("\nS^1 USA beta = 7: n, direct [s], spectral [s], relative difference");
    let usa = |s| {
        SelfAttention::builder()
            .beta(beta)
            .model(ModelKind::Usa)
            .summation(s)
            .build()
            .unwrap()
    };
    for n in [16usize, 32, 64, 128, 256, 512, 1024, 4096, 8192] {
        let x = points2(&angles(n, 1));
        let (mut a, mut b) = (vec![0.0; 2 * n], vec![0.0; 2 * n]);
        let reps = (2_000_000 / (n * n)).clamp(3, 200);
        let direct = usa(Summation::Direct);
        let spectral = usa(Summation::spectral());
        let td = time(reps, || direct.velocity(&x, n, 2, &mut a).unwrap());
        let ts = time(reps.max(20), || {
            spectral.velocity(&x, n, 2, &mut b).unwrap()
        });
        println!("{n:>8} {td:>11.3e} {ts:>11.3e} {:>9.1e}", rel(&b, &a));
    }

    // large n: circle_angular_velocity against the streaming direct sum
    println!(
        "\nS^1 USA beta = 7, angles: n, spectral [s], streaming direct [s], relative error (rows)"
    );
    let sizes: &[usize] = if quick {
        &[4096, 65536]
    } else {
        &[4096, 65536, 1_000_000]
    };
    for &n in sizes {
        let theta = angles(n, 2);
        let mut v = vec![0.0; n];
        let ts = time(3, || {
            circle_angular_velocity(&theta, beta, ModelKind::Usa, DEFAULT_TOL, &mut v).unwrap();
        });
        let (rows, td): (Vec<usize>, Option<f64>) = if n <= 65536 {
            let rows: Vec<usize> = (0..n).collect();
            let t = Instant::now();
            let r = direct_usa(&theta, beta, &rows);
            let td = t.elapsed().as_secs_f64();
            println!("{n:>8} {ts:>11.3e} {td:>11.3e} {:>9.1e} (all)", rel(&v, &r));
            continue;
        } else {
            ((0..256).map(|i| i * (n / 256)).collect(), None)
        };
        let r = direct_usa(&theta, beta, &rows);
        let sub: Vec<f64> = rows.iter().map(|&i| v[i]).collect();
        let _ = td;
        println!(
            "{n:>8} {ts:>11.3e} {:>11} {:>9.1e} (256 rows)",
            "-",
            rel(&sub, &r)
        );
    }

    // cost against beta on S^1 (n = 65536)
    println!("\nS^1 USA n = 65536: beta, K, spectral [s]");
    let theta = angles(65536, 3);
    let mut v = vec![0.0; 65536];
    for b in [0.5, 1.0, 7.0, 20.0, 50.0, 100.0, 400.0] {
        let k = CircleSeries::new(b, DEFAULT_TOL)
            .unwrap()
            .truncation()
            .degree;
        let model = if b > 700.0 {
            ModelKind::Sa
        } else {
            ModelKind::Usa
        };
        let t = time(3, || {
            circle_angular_velocity(&theta, b, model, DEFAULT_TOL, &mut v).unwrap();
        });
        println!("{b:>8} {k:>5} {t:>11.3e}");
    }

    // S^2 (SA and USA, beta = 7): engine direct vs spectral
    println!("\nS^2 beta = 7: model, n, L, direct [s], spectral [s], relative difference");
    for model in [ModelKind::Usa, ModelKind::Sa] {
        for n in [64usize, 256, 1024, 4096, 65536] {
            let mut rng = stream(4, 0, Purpose::InitialCondition);
            let x = attnflow_dynamics::sampling::uniform_sphere(n, 3, &mut rng)
                .unwrap()
                .as_slice()
                .to_vec();
            let f = |s| {
                SelfAttention::builder()
                    .beta(beta)
                    .model(model)
                    .summation(s)
                    .build()
                    .unwrap()
            };
            let l = attnflow_dynamics::spectral::SphereSeries::new(beta, DEFAULT_TOL)
                .unwrap()
                .truncation()
                .degree;
            let (mut a, mut b) = (vec![0.0; 3 * n], vec![0.0; 3 * n]);
            let spectral = f(Summation::spectral());
            let ts = time(3, || spectral.velocity(&x, n, 3, &mut b).unwrap());
            if n <= 8192 {
                let direct = f(Summation::Direct);
                let td = time(3, || direct.velocity(&x, n, 3, &mut a).unwrap());
                println!(
                    "{:>4} {n:>8} {l:>3} {td:>11.3e} {ts:>11.3e} {:>9.1e}",
                    model.name(),
                    rel(&b, &a)
                );
            } else {
                println!("{:>4} {n:>8} {l:>3} {:>11} {ts:>11.3e}", model.name(), "-");
            }
        }
    }
}
