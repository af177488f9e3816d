//! The BBGKY observable of \[GLPR\] section 8 (Problem 4) by Monte Carlo: for SA or USA on the circle with
//! i.i.d. uniform initial angles, the law psi(t, .) of theta_2(t) - theta_1(t) (wrapped to (-pi, pi]) and the
//! 1-point density of theta_i(t). By rotation invariance the 1-point density stays uniform 1/(2 pi) for all t,
//! while psi(t, .) concentrates at 0 when the particles cluster.
//!
//! Each realisation r draws its angles from the stream (seed, r, InitialCondition) and is integrated by the
//! engine (`SelfAttention::sa/usa` on S^1, classical RK4 + renormalisation, fixed step `dt`); realisations run
//! in parallel and are reduced in index order, so results do not depend on the thread count.

use crate::circle::wrap_angle;
use crate::error::{Result, check_finite_slice, check_non_negative, check_positive, invalid};
use attnflow_dynamics::sampling::{Purpose, stream, uniform01};
use attnflow_dynamics::{Configuration, Integrator, Rk4, SelfAttention, VectorField};
use rayon::prelude::*;
use std::f64::consts::PI;

/// Which attention model runs on the circle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum CircleAttention {
    Sa,
    Usa,
}

/// Parameters of the Monte-Carlo estimate.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BbgkyParams {
    pub model: CircleAttention,
    pub beta: f64,
    /// Particles per realisation (n >= 2).
    pub n: usize,
    pub realisations: usize,
    /// Observation times (non-decreasing, >= 0); each is rounded to the nearest multiple of `dt`.
    pub times: Vec<f64>,
    /// Histogram bins on (-pi, pi].
    pub bins: usize,
    /// RK4 step.
    pub dt: f64,
    pub seed: u64,
}

/// Estimates at one time.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BbgkySnapshot {
    /// Time actually used (multiple of dt).
    pub t: f64,
    /// Density estimate of psi(t, .) on the bins (integrates to 1).
    pub pair_density: Vec<f64>,
    /// Its standard errors (binomial, one sample per realisation).
    pub pair_density_stderr: Vec<f64>,
    /// Density estimate of the 1-point law (all particles pooled within a realisation).
    pub one_point_density: Vec<f64>,
    /// Standard errors from the spread across realisations (particles of one realisation are dependent).
    pub one_point_density_stderr: Vec<f64>,
    /// Mean of cos(theta_2 - theta_1) = E <x_1, x_2> and its standard error.
    pub mean_pair_cos: f64,
    pub mean_pair_cos_stderr: f64,
    /// Mean Kuramoto order parameter r.
    pub mean_order_r: f64,
}

/// Result of [`bbgky_estimate`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BbgkyEstimate {
    pub params: BbgkyParams,
    /// Bin edges -pi = e_0 < ... < e_bins = pi.
    pub bin_edges: Vec<f64>,
    pub snapshots: Vec<BbgkySnapshot>,
}

fn bin_of(a: f64, bins: usize) -> usize {
    let k = ((a + PI) / (2.0 * PI) * bins as f64).floor();
    (k.max(0.0) as usize).min(bins - 1)
}

/// Per realisation and checkpoint: (pair bin, 1-point bin counts, cos of the pair gap, order parameter r).
type Sample = (usize, Vec<u32>, f64, f64);

fn one_realisation(
    p: &BbgkyParams,
    field: &SelfAttention,
    steps: &[usize],
    r: usize,
) -> Result<Vec<Sample>> {
    let mut rng = stream(p.seed, r as u64, Purpose::InitialCondition);
    let theta: Vec<f64> = (0..p.n)
        .map(|_| PI - 2.0 * PI * uniform01(&mut rng))
        .collect();
    let cfg = Configuration::from_angles(&theta)?;
    let mut x = cfg.into_vec();
    let mut rk4 = Rk4::default();
    let mut done = 0;
    let mut out = Vec::with_capacity(steps.len());
    for &s in steps {
        while done < s {
            rk4.step(field as &dyn VectorField, &mut x, p.n, 2, p.dt)?;
            done += 1;
        }
        let ang: Vec<f64> = x.chunks_exact(2).map(|v| v[1].atan2(v[0])).collect();
        let gap = wrap_angle(ang[1] - ang[0]);
        let mut counts = vec![0u32; p.bins];
        for a in &ang {
            counts[bin_of(wrap_angle(*a), p.bins)] += 1;
        }
        let op = crate::circle::order_parameter(&ang)?;
        out.push((bin_of(gap, p.bins), counts, gap.cos(), op.r));
    }
    Ok(out)
}

/// Monte-Carlo estimate of psi(t, .) and of the 1-point density (see the module doc).
pub fn bbgky_estimate(p: &BbgkyParams) -> Result<BbgkyEstimate> {
    if p.n < 2 {
        return Err(invalid(
            "n",
            format!("need n >= 2 particles for theta_2 - theta_1, got {}", p.n),
        ));
    }
    if p.realisations < 2 || p.bins == 0 {
        return Err(invalid(
            "realisations",
            "need at least 2 realisations and 1 bin",
        ));
    }
    check_non_negative("beta", p.beta)?;
    check_positive("dt", p.dt)?;
    check_finite_slice("times", &p.times)?;
    if p.times.windows(2).any(|w| w[1] < w[0]) || p.times.iter().any(|&t| t < 0.0) {
        return Err(invalid("times", "must be non-negative and non-decreasing"));
    }
    let field = match p.model {
        CircleAttention::Sa => SelfAttention::sa(p.beta)?,
        CircleAttention::Usa => SelfAttention::usa(p.beta)?,
    };
    let steps: Vec<usize> = p
        .times
        .iter()
        .map(|t| (t / p.dt).round() as usize)
        .collect();
    let samples: Vec<Vec<Sample>> = (0..p.realisations)
        .into_par_iter()
        .map(|r| one_realisation(p, &field, &steps, r))
        .collect::<Result<_>>()?;
    let rr = p.realisations as f64;
    let width = 2.0 * PI / p.bins as f64;
    let snapshots = steps
        .iter()
        .enumerate()
        .map(|(k, &s)| {
            let mut pair = vec![0.0; p.bins];
            let mut one_sum = vec![0.0; p.bins];
            let mut one_sq = vec![0.0; p.bins];
            let (mut cos_sum, mut cos_sq, mut r_sum) = (0.0, 0.0, 0.0);
            for real in &samples {
                let (pb, counts, c, r) = &real[k];
                pair[*pb] += 1.0;
                for b in 0..p.bins {
                    let f = counts[b] as f64 / p.n as f64;
                    one_sum[b] += f;
                    one_sq[b] += f * f;
                }
                cos_sum += c;
                cos_sq += c * c;
                r_sum += r;
            }
            // standard error of a mean: sqrt(sample variance / R)
            let stderr_of =
                |sum: f64, sq: f64| ((sq - sum * sum / rr).max(0.0) / (rr - 1.0) / rr).sqrt();
            BbgkySnapshot {
                t: s as f64 * p.dt,
                pair_density_stderr: pair
                    .iter()
                    .map(|c| {
                        let q = c / rr;
                        (q * (1.0 - q) / rr).sqrt() / width
                    })
                    .collect(),
                pair_density: pair.iter().map(|c| c / rr / width).collect(),
                one_point_density: one_sum.iter().map(|v| v / rr / width).collect(),
                one_point_density_stderr: one_sum
                    .iter()
                    .zip(&one_sq)
                    .map(|(s1, s2)| stderr_of(*s1, *s2) / width)
                    .collect(),
                mean_pair_cos: cos_sum / rr,
                mean_pair_cos_stderr: stderr_of(cos_sum, cos_sq),
                mean_order_r: r_sum / rr,
            }
        })
        .collect();
    Ok(BbgkyEstimate {
        params: p.clone(),
        bin_edges: (0..=p.bins).map(|k| -PI + width * k as f64).collect(),
        snapshots,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> BbgkyParams {
        BbgkyParams {
            model: CircleAttention::Sa,
            beta: 1.0,
            n: 6,
            realisations: 400,
            times: vec![0.0, 2.0, 15.0],
            bins: 12,
            dt: 0.05,
            seed: 42,
        }
    }

    #[test]
    fn rejects_bad_input() {
        let mut p = params();
        p.n = 1;
        assert!(bbgky_estimate(&p).is_err());
        let mut p = params();
        p.times = vec![2.0, 1.0];
        assert!(bbgky_estimate(&p).is_err());
        let mut p = params();
        p.dt = 0.0;
        assert!(bbgky_estimate(&p).is_err());
    }

    #[test]
    fn one_point_density_stays_uniform_and_pair_law_concentrates() {
        let est = bbgky_estimate(&params()).unwrap();
        let u = 1.0 / (2.0 * PI);
        for s in &est.snapshots {
            let total: f64 = s.pair_density.iter().sum::<f64>() * 2.0 * PI / 12.0;
            assert!((total - 1.0).abs() < 1e-12);
            for (d, se) in s.one_point_density.iter().zip(&s.one_point_density_stderr) {
                assert!(
                    (d - u).abs() < 4.5 * se.max(1e-3),
                    "t {}: {d} vs {u} (se {se})",
                    s.t
                );
            }
        }
        let (s0, s2) = (&est.snapshots[0], &est.snapshots[2]);
        // t = 0: i.i.d. uniform, E cos(theta_2 - theta_1) = 0
        assert!(s0.mean_pair_cos.abs() < 4.0 * s0.mean_pair_cos_stderr);
        // t = 15, beta = 1 (Thm 4.3 regime): mostly clustered (measured E cos = 0.982; a few realisations are
        // still merging), psi concentrated at 0
        assert!(s2.mean_pair_cos > 0.95, "{}", s2.mean_pair_cos);
        let centre = s2.pair_density[5] + s2.pair_density[6];
        assert!(centre * 2.0 * PI / 12.0 > 0.9, "{:?}", s2.pair_density);
        // and it was not at t = 0: uniform, mass 2/12 in the two central bins (4 standard errors)
        let centre0 = (s0.pair_density[5] + s0.pair_density[6]) * 2.0 * PI / 12.0;
        assert!(
            (centre0 - 1.0 / 6.0).abs() < 4.0 * (1.0 / 6.0 * 5.0 / 6.0 / 400.0f64).sqrt(),
            "{centre0}"
        );
        assert!(s2.mean_order_r > s0.mean_order_r);
    }

    #[test]
    fn deterministic_given_seed() {
        let mut p = params();
        p.realisations = 20;
        p.times = vec![1.0];
        assert_eq!(bbgky_estimate(&p).unwrap(), bbgky_estimate(&p).unwrap());
    }
}
