//! Numerical helpers shared by the checks: seeded initial conditions, RK4 trajectories with an observer,
//! fourth-order central finite differences of a scalar along a trajectory (for the identities of \[GLPR\]
//! section 3), pair gaps 1 - <x_i, x_j> computed without cancellation as ||x_i - x_j||^2 / 2, least-squares
//! slopes, and number formatting for the report.

use crate::error::{Result, numerical};
use attnflow_dynamics::sampling::{Purpose, stream, uniform_sphere};
use attnflow_dynamics::{Configuration, Rk4, VectorField, integrate};

/// Master seed of every random draw of the suite (each check also keys its own realisations and purposes).
pub const SUITE_SEED: u64 = 0x0005_EED2_3121_0794;

/// n i.i.d. uniform points on S^{d-1} from the stream (SUITE_SEED ^ check_key, realisation, InitialCondition).
pub fn uniform_start(
    n: usize,
    d: usize,
    check_key: u64,
    realisation: u64,
) -> Result<Configuration> {
    let mut rng = stream(
        SUITE_SEED ^ check_key,
        realisation,
        Purpose::InitialCondition,
    );
    Ok(uniform_sphere(n, d, &mut rng)?)
}

/// Integrates `steps` RK4 steps (projection onto the sphere after each step) of size `dt`, calling
/// `observe(step, t, x)` before the first and after every step; returns the final configuration.
pub fn rk4_run(
    field: &dyn VectorField,
    x0: &Configuration,
    dt: f64,
    steps: usize,
    observe: impl FnMut(usize, f64, &[f64]),
) -> Result<Configuration> {
    let mut rk4 = Rk4::default();
    Ok(integrate(field, &mut rk4, x0, dt, steps, observe)?)
}

/// 1 - <x_i, x_j> = ||x_i - x_j||^2 / 2 (exact for unit vectors, no cancellation near consensus).
pub fn pair_gap(x: &[f64], d: usize, i: usize, j: usize) -> f64 {
    let (a, b) = (&x[i * d..(i + 1) * d], &x[j * d..(j + 1) * d]);
    0.5 * a.iter().zip(b).map(|(p, q)| (p - q) * (p - q)).sum::<f64>()
}

/// max_{i < j} (1 - <x_i, x_j>): the diameter of the configuration in the gap metric.
pub fn max_pair_gap(x: &[f64], n: usize, d: usize) -> f64 {
    let mut m: f64 = 0.0;
    for i in 0..n {
        for j in i + 1..n {
            m = m.max(pair_gap(x, d, i, j));
        }
    }
    m
}

/// Fourth-order central difference of equispaced samples `v` (spacing `h`) at interior index k (2 <= k < len - 2).
pub fn central_difference4(v: &[f64], h: f64, k: usize) -> f64 {
    (-v[k + 2] + 8.0 * v[k + 1] - 8.0 * v[k - 1] + v[k - 2]) / (12.0 * h)
}

/// Least-squares slope of y against x (at least two distinct x).
pub fn least_squares_slope(check: &'static str, x: &[f64], y: &[f64]) -> Result<f64> {
    let m = x.len();
    if m < 2 || y.len() != m {
        return Err(numerical(
            check,
            format!("slope fit needs >= 2 paired samples, got {m}"),
        ));
    }
    let mx = x.iter().sum::<f64>() / m as f64;
    let my = y.iter().sum::<f64>() / m as f64;
    let sxx: f64 = x.iter().map(|a| (a - mx) * (a - mx)).sum();
    if sxx == 0.0 {
        return Err(numerical(
            check,
            "slope fit with a single distinct abscissa",
        ));
    }
    let sxy: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    Ok(sxy / sxx)
}

/// Mean and standard error of the mean (sample standard deviation / sqrt(m)), summed in index order.
pub fn mean_and_standard_error(v: &[f64]) -> (f64, f64) {
    let m = v.len() as f64;
    let mean = v.iter().sum::<f64>() / m;
    if v.len() < 2 {
        return (mean, f64::NAN);
    }
    let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (m - 1.0);
    (mean, (var / m).sqrt())
}

/// A number with about 6 significant digits: fixed notation for moderate magnitudes, scientific otherwise.
pub fn num(v: f64) -> String {
    let a = v.abs();
    if v == 0.0 {
        "0".into()
    } else if !v.is_finite() {
        format!("{v}")
    } else if (1e-3..1e5).contains(&a) {
        let digits = (5 - a.log10().floor() as i32).clamp(0, 8) as usize;
        let s = format!("{v:.digits$}");
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    } else {
        format!("{v:.4e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn difference_and_slope_are_exact_on_polynomials() {
        let h = 0.1;
        let v: Vec<f64> = (0..7)
            .map(|k| (k as f64 * h).powi(4) - 2.0 * (k as f64 * h))
            .collect();
        // d/dt (t^4 - 2t) at t = 0.3: 4 * 0.027 - 2; the 4th-order stencil is exact up to degree 4
        assert!((central_difference4(&v, h, 3) - (4.0 * 0.027 - 2.0)).abs() < 1e-12);
        let x = [1.0, 2.0, 4.0];
        let y = [3.0, 5.0, 9.0];
        assert!((least_squares_slope("t", &x, &y).unwrap() - 2.0).abs() < 1e-14);
        assert!(least_squares_slope("t", &[1.0, 1.0], &[0.0, 1.0]).is_err());
    }

    #[test]
    fn gap_is_one_minus_inner_product() {
        let x = [1.0, 0.0, 0.6, 0.8];
        assert!((pair_gap(&x, 2, 0, 1) - 0.4).abs() < 1e-15);
        assert!((max_pair_gap(&x, 2, 2) - 0.4).abs() < 1e-15);
        assert_eq!(num(0.0), "0");
        assert_eq!(num(2.5), "2.5");
        assert_eq!(num(1.5e-7), "1.5000e-7");
    }
}
