//! Timing of the streaming evaluation of the attention field (`attnflow_dynamics::streaming`)
//! against the dense one (n x n matrices): SA, beta = 1, random B and V (entries N(0, 1/d)), one
//! drift each, best of `reps`, on the threads of rayon's global pool (`RAYON_NUM_THREADS`); then
//! one streaming drift at n = 16384, d = 64 and the peak resident memory of the process (VmHWM of
//! /proc/self/status; the dense evaluation would hold two 2 GiB matrices there).
//! `cargo run --release -p attnflow-dynamics --example large_n_timing [-- --skip-16384]`

use attnflow_dynamics::streaming::Evaluation;
use attnflow_dynamics::{SelfAttention, Value, VectorField, Workspace, sampling};
use std::time::Instant;

fn field(d: usize, evaluation: Evaluation) -> SelfAttention {
    let matrix = |k| {
        sampling::ginibre(d, &mut sampling::stream(0, k, sampling::Purpose::Matrices))
            .unwrap()
            .scaled(1.0 / (d as f64).sqrt())
    };
    SelfAttention::builder()
        .beta(1.0)
        .head_interaction(Some(matrix(0)), Value::Matrix(matrix(1)))
        .evaluation(evaluation)
        .build()
        .unwrap()
}

/// Best wall time of `reps` drifts, in seconds.
fn best(field: &SelfAttention, x: &[f64], n: usize, d: usize, reps: usize) -> f64 {
    let mut ws = Workspace::default();
    let mut out = vec![0.0; n * d];
    (0..reps)
        .map(|_| {
            let start = Instant::now();
            field.drift_into(x, n, d, &mut out, &mut ws).unwrap();
            start.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn peak_rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM"))
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "VmHWM unknown".into())
}

fn main() {
    let threads = rayon::current_num_threads();
    println!("{threads} thread(s); 27.75 f64 FMA per ns per core (measured peak)");
    println!("n, d, FMA per drift, dense [ms], streaming [ms], streaming fraction of the peak");
    let d = 64;
    for n in [1024usize, 2048, 4096] {
        let x = sampling::uniform_sphere(
            n,
            d,
            &mut sampling::stream(0, 0, sampling::Purpose::InitialCondition),
        )
        .unwrap();
        let fmas = (2 * n * n * d + 2 * n * d * d) as f64;
        let dense = best(&field(d, Evaluation::Dense), x.as_slice(), n, d, 5);
        let streaming = best(&field(d, Evaluation::Streaming), x.as_slice(), n, d, 5);
        let floor = fmas / 27.75e9 / threads as f64;
        println!(
            "{n}, {d}, {fmas:.3e}, {:.1}, {:.1}, {:.0} %",
            dense * 1e3,
            streaming * 1e3,
            100.0 * floor / streaming
        );
    }
    println!("{}", peak_rss());
    if std::env::args().any(|a| a == "--skip-16384") {
        return;
    }
    let n = 16384;
    let x = sampling::uniform_sphere(
        n,
        d,
        &mut sampling::stream(0, 0, sampling::Purpose::InitialCondition),
    )
    .unwrap();
    let fmas = (2 * n * n * d + 2 * n * d * d) as f64;
    let time = best(&field(d, Evaluation::Auto), x.as_slice(), n, d, 1);
    println!(
        "n = {n}, d = {d}: one drift (auto = streaming) {:.2} s, {fmas:.3e} FMA, {:.0} % of {threads} core(s) at peak; {}",
        time,
        100.0 * fmas / 27.75e9 / threads as f64 / time,
        peak_rss()
    );
}
