//! Criterion benches of the \[GLPR\] Figure 5 kernel (n = 32, d = 128, random B and V, full state):
//! the machine's f64 fused multiply-add peak (sixteen independent AVX-512 chains), the three
//! matrix products of one evaluation (`kernel::matmul`, register tiles; one group per product,
//! one entry per instruction-set level), and one paper-Euler step
//! of each panel's field, (c) and (d) both with the shared product X B (the declaration of the
//! ensemble) and with V applied as a general matrix (the path before the sharing).
//! Throughputs are fused multiply-adds ("elements"). Run with
//! `cargo bench -p attnflow-dynamics --bench fig5`.

use attnflow_dynamics::simd::{self, Level};
use attnflow_dynamics::{
    AttentionHead, Integrator, MatrixEnsemble, ModelKind, PaperEuler, SelfAttention, Value, kernel,
    sampling,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

/// Fused multiply-adds of one [`fma_loop`] call.
#[cfg(target_arch = "x86_64")]
const PEAK_FMAS: u64 = 1 << 20;

/// 2^20 fused multiply-adds in sixteen independent 8-lane chains (enough to cover the latency).
///
/// # Safety
/// AVX-512 F and FMA must be available.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
fn fma_loop(seed: f64) -> f64 {
    use std::arch::x86_64::*;
    let mut acc = [_mm512_set1_pd(seed); 16];
    let (a, b) = (_mm512_set1_pd(0.999_999), _mm512_set1_pd(1e-9));
    for _ in 0..PEAK_FMAS / 128 {
        for v in acc.iter_mut() {
            *v = _mm512_fmadd_pd(*v, a, b);
        }
    }
    let mut sum = _mm512_setzero_pd();
    for v in acc {
        sum = _mm512_add_pd(sum, v);
    }
    _mm512_reduce_add_pd(sum)
}

fn fma_peak(c: &mut Criterion) {
    #[cfg(target_arch = "x86_64")]
    if simd::available(Level::Avx512) {
        let mut group = c.benchmark_group("fig5_peak");
        group.throughput(Throughput::Elements(PEAK_FMAS));
        group.bench_function("f64 fma, 16 x 8 lanes", |b| {
            // SAFETY: AVX-512 F and FMA are available (checked above).
            b.iter(|| unsafe { fma_loop(black_box(0.5)) })
        });
        group.finish();
    }
    let _ = c;
}

/// The instruction-set levels this processor has, best first.
fn levels() -> Vec<Level> {
    [Level::Avx512, Level::Avx2, Level::Portable]
        .into_iter()
        .filter(|&l| simd::available(l))
        .collect()
}

/// One group per product, one entry per instruction-set level (the process-wide cap of
/// `simd::set_cap`, restored afterwards): the same pulp source on AVX-512, AVX2 and scalar.
fn products(c: &mut Criterion) {
    // X B (and (A X) V), logits (X B) X^T, the attention average E X
    for (p, r, q, what) in [
        (32, 128, 128, "XB"),
        (32, 128, 32, "PXt"),
        (32, 32, 128, "EX"),
    ] {
        let mut group = c.benchmark_group(format!("fig5_product/{what}/{p}x{r}x{q}"));
        let a: Vec<f64> = (0..p * r).map(|k| (k as f64 * 0.37).sin()).collect();
        let b: Vec<f64> = (0..r * q).map(|k| (k as f64 * 0.61).cos()).collect();
        let mut out = vec![0.0; p * q];
        group.throughput(Throughput::Elements((p * r * q) as u64));
        for level in levels() {
            group.bench_function(format!("{level:?}"), |bench| {
                simd::set_cap(level);
                bench.iter(|| kernel::matmul(black_box(&a), black_box(&b), p, r, q, &mut out))
            });
        }
        simd::set_cap(Level::Avx512);
        group.finish();
    }
}

fn panel_steps(c: &mut Criterion) {
    let (n, d, beta) = (32, 128, 4.0);
    let x0 = sampling::uniform_sphere(
        n,
        d,
        &mut sampling::stream(0, 0, sampling::Purpose::InitialCondition),
    )
    .unwrap();
    let mut group = c.benchmark_group("fig5_step");
    for (panel, ensemble) in [
        ("a", MatrixEnsemble::Ginibre),
        ("b", MatrixEnsemble::WignerPsd),
        ("c", MatrixEnsemble::GinibreGf),
        ("d", MatrixEnsemble::WignerGf),
    ] {
        let draw = ensemble
            .draw(d, &mut sampling::stream(0, 0, sampling::Purpose::Matrices))
            .unwrap()
            .unwrap();
        let general = AttentionHead::new(
            Some(draw.interaction.clone()),
            Value::Matrix(draw.value_applied()),
        );
        let mut heads = vec![("declared", draw.head(ensemble))];
        if ensemble.value_factor(d).is_some() {
            heads.push(("general-V", general));
        }
        for (how, head) in heads {
            let model = SelfAttention::multi_head(beta, vec![head], ModelKind::Sa).unwrap();
            let shared = how == "declared" && ensemble.value_factor(d).is_some();
            let fmas = if shared {
                n * d * d + 2 * n * n * d
            } else {
                2 * n * d * d + 2 * n * n * d
            };
            group.throughput(Throughput::Elements(fmas as u64));
            let mut integ = PaperEuler::default();
            let mut x = x0.as_slice().to_vec();
            group.bench_function(format!("({panel}) {ensemble:?}/{how}"), |b| {
                b.iter(|| {
                    x.copy_from_slice(x0.as_slice());
                    integ.step(&model, black_box(&mut x), n, d, 0.1).unwrap();
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, fma_peak, products, panel_steps);
criterion_main!(benches);
