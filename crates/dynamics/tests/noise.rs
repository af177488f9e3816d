//! Orders of the noisy Euler-Maruyama schemes (`attnflow_dynamics::noise`): strong order 1/2 against
//! a fine-step reference driven by the same Brownian path, weak order 1 against the closed form
//! E<x(t), x(0)> = e^{-(d-1) t / kappa} of Brownian motion sqrt(2/kappa) B on S^{d-1}, and the same
//! bits with 1 or 4 threads.

use attnflow_dynamics::noise::{EulerMaruyama, Noise, NoiseScheme};
use attnflow_dynamics::sampling::{Purpose, stream, uniform_sphere};
use attnflow_dynamics::{Configuration, SelfAttention, Solver};
use rayon::prelude::*;

/// Final state after `steps` steps of size `t / steps`, each increment summed from `substeps`
/// pieces of the path of realisation `r` (the same path for every steps * substeps).
fn run(
    field: &SelfAttention,
    x0: &Configuration,
    noise: Noise,
    r: u64,
    t: f64,
    steps: usize,
    substeps: usize,
) -> Vec<f64> {
    let stepper = EulerMaruyama::new(noise, stream(2024, r, Purpose::Noise))
        .with_substeps(substeps)
        .unwrap();
    let mut solver = Solver::new(field, stepper, x0, t / steps as f64).unwrap();
    solver.advance_to_step(steps).unwrap();
    solver.state().as_slice().to_vec()
}

/// Least-squares slope of log(err) against log(h).
fn slope(h: &[f64], err: &[f64]) -> f64 {
    let lx: Vec<f64> = h.iter().map(|v| v.ln()).collect();
    let ly: Vec<f64> = err.iter().map(|v| v.ln()).collect();
    let (mx, my) = (
        lx.iter().sum::<f64>() / lx.len() as f64,
        ly.iter().sum::<f64>() / ly.len() as f64,
    );
    let num: f64 = lx.iter().zip(&ly).map(|(a, b)| (a - mx) * (b - my)).sum();
    let den: f64 = lx.iter().map(|a| (a - mx) * (a - mx)).sum();
    num / den
}

/// Strong errors E max_i |x_i^h(T) - x_i^ref(T)| for USA (beta = 1, n = 8, d = 3, kappa = 4, T = 1),
/// h = 1/8 .. 1/64, reference at h = 1/4096 on the same Brownian path (64 paths). Both schemes
/// are measured against the geodesic reference: they converge to the same solution of the SDE.
#[test]
fn strong_order_one_half_for_both_schemes() {
    let field = SelfAttention::usa(1.0).unwrap();
    let (n, d, t, paths, fine) = (8, 3, 1.0, 64u64, 4096usize);
    let levels = [8usize, 16, 32, 64];
    let x0 = uniform_sphere(n, d, &mut stream(5, 0, Purpose::InitialCondition)).unwrap();
    let geodesic = Noise::new(4.0, NoiseScheme::Geodesic).unwrap();
    let references: Vec<Vec<f64>> = (0..paths)
        .into_par_iter()
        .map(|r| run(&field, &x0, geodesic, r, t, fine, 1))
        .collect();
    for scheme in [NoiseScheme::Geodesic, NoiseScheme::Projected] {
        let noise = Noise::new(4.0, scheme).unwrap();
        let errors: Vec<f64> = levels
            .iter()
            .map(|&steps| {
                let total: f64 = (0..paths)
                    .into_par_iter()
                    .map(|r| {
                        let x = run(&field, &x0, noise, r, t, steps, fine / steps);
                        let reference = &references[r as usize];
                        x.chunks_exact(d)
                            .zip(reference.chunks_exact(d))
                            .map(|(a, b)| {
                                a.iter()
                                    .zip(b)
                                    .map(|(p, q)| (p - q) * (p - q))
                                    .sum::<f64>()
                                    .sqrt()
                            })
                            .fold(0.0, f64::max)
                    })
                    .collect::<Vec<f64>>()
                    .iter()
                    .sum();
                total / paths as f64
            })
            .collect();
        let h: Vec<f64> = levels.iter().map(|&s| t / s as f64).collect();
        let order = slope(&h, &errors);
        eprintln!(
            "strong, {}: h = {h:?}, errors = {errors:?}, order {order:.3}",
            scheme.name()
        );
        assert!(
            (order - 0.5).abs() < 0.15,
            "{scheme:?}: strong order {order}"
        );
    }
}

/// Weak error of E<x(t), x(0)> for Brownian motion on S^4 (one particle: P_x x = 0, no drift),
/// kappa = 4, t = 1: closed form e^{-(d-1) t / kappa} = e^{-1}. 100 000 paths, the same path at
/// every step size (h = 1/16 .. 1/128), so the differences between step sizes carry little Monte
/// Carlo noise: order = log2 of the ratio of successive differences; and the first-order
/// (Richardson) extrapolation of the two finest levels equals the closed form within 4 standard
/// errors. (Leading error terms, from E cos|a| and E (1 + |a|^2)^{-1/2} with |a|^2 = sigma^2 h chi^2_{d-1}:
/// geodesic -e^{-1} sigma^4 (d-1)(d-2)/12 h = -0.09 h, projected about +0.64 h.)
#[test]
fn weak_order_one_against_the_closed_form() {
    let field = SelfAttention::usa(1.0).unwrap();
    let (d, t, kappa, paths) = (5, 1.0, 4.0, 100_000u64);
    let levels = [16usize, 32, 64, 128];
    let finest = *levels.last().unwrap();
    let x0 = Configuration::normalized(1, d, vec![0.0, 0.0, 1.0, 0.0, 0.0]).unwrap();
    let exact = (-((d - 1) as f64) * t / kappa).exp();
    for scheme in [NoiseScheme::Geodesic, NoiseScheme::Projected] {
        let noise = Noise::new(kappa, scheme).unwrap();
        // per path: <x_h(t), x0> at every level
        let samples: Vec<Vec<f64>> = (0..paths)
            .into_par_iter()
            .map(|r| {
                levels
                    .iter()
                    .map(|&steps| run(&field, &x0, noise, r, t, steps, finest / steps)[2])
                    .collect()
            })
            .collect();
        let means: Vec<f64> = (0..levels.len())
            .map(|l| samples.iter().map(|s| s[l]).sum::<f64>() / paths as f64)
            .collect();
        let var = samples
            .iter()
            .map(|s| (s[levels.len() - 1] - means[levels.len() - 1]).powi(2))
            .sum::<f64>()
            / paths as f64;
        let se = (var / paths as f64).sqrt();
        let errors: Vec<f64> = means.iter().map(|m| m - exact).collect();
        let diffs: Vec<f64> = means.windows(2).map(|w| w[0] - w[1]).collect();
        let ratio_orders: Vec<f64> = diffs.windows(2).map(|w| (w[0] / w[1]).log2()).collect();
        let h: Vec<f64> = levels.iter().map(|&s| t / s as f64).collect();
        let abs: Vec<f64> = errors.iter().map(|e| e.abs()).collect();
        let fitted = slope(&h, &abs);
        eprintln!(
            "weak, {}: h = {h:?}, E<x,x0> = {means:?}, exact {exact}, errors {errors:?}, \
             se {se:.2e}, orders from differences {ratio_orders:?}, fitted {fitted:.3}",
            scheme.name()
        );
        for p in &ratio_orders {
            assert!((p - 1.0).abs() < 0.25, "{scheme:?}: weak order {p}");
        }
        // the errors shrink like h: the finest is within 4 standard errors of the first-order
        // extrapolation from the two finest levels (Richardson: exact ~ 2 m_{h/2} - m_h)
        let richardson = 2.0 * means[levels.len() - 1] - means[levels.len() - 2];
        assert!(
            (richardson - exact).abs() < 4.0 * se,
            "{scheme:?}: Richardson {richardson} vs exact {exact} (se {se:.1e})"
        );
    }
}

/// A realisation's path depends on its stream only: the same bits on a 1-thread and a 4-thread pool.
#[test]
fn same_bits_with_one_or_four_threads() {
    let field = SelfAttention::usa(2.0).unwrap();
    let x0 = uniform_sphere(12, 4, &mut stream(9, 0, Purpose::InitialCondition)).unwrap();
    for scheme in [NoiseScheme::Geodesic, NoiseScheme::Projected] {
        let noise = Noise::new(3.0, scheme).unwrap();
        let ensemble = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| {
                    (0..16u64)
                        .into_par_iter()
                        .map(|r| {
                            run(&field, &x0, noise, r, 1.0, 100, 1)
                                .iter()
                                .map(|v| v.to_bits())
                                .collect::<Vec<u64>>()
                        })
                        .collect::<Vec<_>>()
                })
        };
        assert_eq!(ensemble(1), ensemble(4), "{scheme:?}");
    }
}

#[test]
fn refuses_bad_kappa_and_zero_substeps() {
    assert!(Noise::new(0.0, NoiseScheme::Geodesic).is_err());
    assert!(Noise::new(f64::NAN, NoiseScheme::Projected).is_err());
    let noise = Noise::new(1.0, NoiseScheme::Geodesic).unwrap();
    assert!(
        EulerMaruyama::new(noise, stream(0, 0, Purpose::Noise))
            .with_substeps(0)
            .is_err()
    );
}
