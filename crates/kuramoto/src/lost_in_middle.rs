//! Causal ALiBi attention on the circle, the particle side of "lost in the middle" (Duerinckx, Geshkovski
//! and Rossi, arXiv 2605.09213): the model
//!
//! ```text
//! th_j' = sum_{k<j} W_jk (-beta sin(th_j - th_k) e^{beta cos(th_j - th_k)}),
//! W_jk  = e^{-(lambda/n)(j-k)} / sum_{k'<j} e^{-(lambda/n)(j-k')},
//! ```
//!
//! run on the engine as USA on S^1 with the pair weights w_jk = n beta W_jk
//! ([`attnflow_energy::lost_in_middle::engine_pair_weights`], where the conventions are written down),
//! classical RK4 + renormalisation at a fixed step; the authors' four-cluster start; and the Monte-Carlo
//! estimate of the retrieval profile from i.i.d. uniform tokens that the closed form S_t(s) of
//! [`attnflow_energy::lost_in_middle`] predicts.
//!
//! The Monte-Carlo profile: per realisation r (angles from the stream (seed, r, InitialCondition)), the
//! model and its tangent flow J = d theta(t) / d theta(0) are integrated together in angles (classical RK4,
//! fixed step; the engine run and this one agree to the RK4 error, tested). Two unbiased estimators of
//! n E[phi(th_{n-1}(t) - th_k(0))], phi(x) = sum_{m=1}^{n_max} w_m cos(m x), per source k < n - 1:
//!
//! - direct: n [phi(th_{n-1}(t) - th_k(0)) - phi(th_{n-1}(0) - th_k(0))]; the subtracted term has mean exactly
//!   0 (independent uniform angles, phi without constant term) and is a control variate;
//! - sensitivity: n J_{n-1,k}(t) phi(th_{n-1}(t) - th_k(0)). th_k(0) is uniform and independent of the other
//!   angles, so integrating by parts in th_k(0) (periodic, no boundary term) gives
//!   E[e^{-i m th_{n-1}(t)} e^{i m th_k(0)}] = E[J_{n-1,k}(t) e^{-i m (th_{n-1}(t) - th_k(0))}] exactly; the
//!   sample is O(1) instead of O(n), so its variance is far smaller.
//!
//! Sources are pooled into bins of consecutive positions; a bin's estimate is the mean over realisations
//! of the per-realisation bin average, its uncertainty the standard error across realisations (positions
//! of one realisation are dependent). Realisations run in parallel and are reduced in index order: the
//! result does not depend on the thread count.

use crate::error::{Result, check_finite_slice, check_positive, invalid};
use attnflow_dynamics::model::{Mask, PairWeights};
use attnflow_dynamics::sampling::{Purpose, standard_normal, stream, uniform01};
use attnflow_dynamics::{Configuration, Integrator, ModelKind, Rk4, SelfAttention, VectorField};
use attnflow_energy::lost_in_middle::{LostInMiddle, engine_pair_weights};
use rayon::prelude::*;
use std::f64::consts::PI;

/// The model as an engine field: USA on S^1 (d = 2) with the pair weights n beta W_jk (n >= 2, beta > 0,
/// lambda >= 0).
pub fn causal_alibi_field(n: usize, beta: f64, lambda: f64) -> Result<SelfAttention> {
    check_positive("beta", beta)?;
    let w = engine_pair_weights(n, lambda, beta).map_err(|e| invalid("n", e.to_string()))?;
    Ok(SelfAttention::builder()
        .model(ModelKind::Usa)
        .beta(beta)
        .mask(Mask::Weighted(PairWeights::new(n, w)?))
        .build()?)
}

/// The model's angular velocity written directly from its definition (plain loops, no engine): the
/// reference the engine field is tested against.
pub fn angle_velocity(theta: &[f64], beta: f64, lambda: f64) -> Vec<f64> {
    let n = theta.len();
    let slope = lambda / n as f64;
    (0..n)
        .map(|j| {
            let z: f64 = (0..j).map(|k| (-slope * (j - k) as f64).exp()).sum();
            (0..j)
                .map(|k| {
                    let x = theta[j] - theta[k];
                    (-slope * (j - k) as f64).exp() / z * (-beta * x.sin() * (beta * x.cos()).exp())
                })
                .sum()
        })
        .collect()
}

/// The authors' four-cluster start: token j belongs to cluster j / ceil(n/4), centred at
/// (0.1 + 0.6 c) pi (c = 0..3, i.e. linspace(0.1, 1.9, 4) pi), plus N(0, 0.075^2) jitter from the stream
/// (seed, 0, InitialCondition); angles in [0, 2 pi). Returns (angles, cluster labels).
pub fn four_cluster_start(n: usize, seed: u64) -> Result<(Vec<f64>, Vec<usize>)> {
    if n < 4 {
        return Err(invalid("n", format!("need n >= 4 tokens, got {n}")));
    }
    let per = n.div_ceil(4);
    let mut rng = stream(seed, 0, Purpose::InitialCondition);
    let labels: Vec<usize> = (0..n).map(|j| j / per).collect();
    let theta = labels
        .iter()
        .map(|&c| {
            let centre = (0.1 + 0.6 * c as f64) * PI;
            (centre + 0.075 * standard_normal(&mut rng)).rem_euclid(2.0 * PI)
        })
        .collect();
    Ok((theta, labels))
}

/// Integer step counts of the checkpoint times (each a multiple of dt within 1e-9 relative).
fn steps_of(times: &[f64], dt: f64) -> Result<Vec<usize>> {
    check_positive("dt", dt)?;
    check_finite_slice("times", times)?;
    if times.windows(2).any(|w| w[1] < w[0]) || times.iter().any(|&t| t < 0.0) {
        return Err(invalid("times", "must be non-negative and non-decreasing"));
    }
    times
        .iter()
        .map(|&t| {
            let k = (t / dt).round();
            if (k * dt - t).abs() > 1e-9 * t.max(dt) || k > 1e9 {
                Err(invalid(
                    "times",
                    format!("t = {t} is not a multiple of dt = {dt}"),
                ))
            } else {
                Ok(k as usize)
            }
        })
        .collect()
}

/// Angles of the points of a d = 2 state, in (-pi, pi].
fn angles(x: &[f64]) -> Vec<f64> {
    x.chunks_exact(2).map(|v| v[1].atan2(v[0])).collect()
}

/// Integrates the model from the angles `theta0` with RK4 step `dt` (engine, renormalised) and returns
/// the angles at every checkpoint time (multiples of dt).
pub fn trajectory(
    theta0: &[f64],
    beta: f64,
    lambda: f64,
    dt: f64,
    times: &[f64],
) -> Result<Vec<Vec<f64>>> {
    let n = theta0.len();
    let field = causal_alibi_field(n, beta, lambda)?;
    let steps = steps_of(times, dt)?;
    let mut x = Configuration::from_angles(theta0)?.into_vec();
    let mut rk4 = Rk4::default();
    let mut done = 0;
    let mut out = Vec::with_capacity(steps.len());
    for &s in &steps {
        while done < s {
            rk4.step(&field as &dyn VectorField, &mut x, n, 2, dt)?;
            done += 1;
        }
        out.push(angles(&x));
    }
    Ok(out)
}

/// The model in angles with its tangent flow: the state (theta, J) with J = d theta(t) / d theta(0)
/// (lower triangular, row-major n x n), d/dt J = A(theta) J, A_jk = d theta_j' / d theta_k. One classical
/// RK4 step of size dt advances both; the caller keeps the ALiBi weights `w` (row-major, [`causal_alibi_weights`]).
///
/// [`causal_alibi_weights`]: attnflow_energy::lost_in_middle::causal_alibi_weights
struct TangentRk4 {
    n: usize,
    beta: f64,
    w: Vec<f64>,
    // A_jk (k < j, row-major) and A_jj of the last evaluation
    offdiag: Vec<f64>,
    diag: Vec<f64>,
}

impl TangentRk4 {
    fn new(n: usize, beta: f64, lambda: f64) -> Result<Self> {
        let w = attnflow_energy::lost_in_middle::causal_alibi_weights(n, lambda)
            .map_err(|e| invalid("n", e.to_string()))?;
        Ok(Self {
            n,
            beta,
            w,
            offdiag: vec![0.0; n * n],
            diag: vec![0.0; n],
        })
    }

    /// (theta', J') at (theta, J).
    fn derivative(&mut self, theta: &[f64], jac: &[f64], dtheta: &mut [f64], djac: &mut [f64]) {
        let (n, beta) = (self.n, self.beta);
        // K(x) = -beta sin x e^{beta cos x}, K'(x) = (beta^2 sin^2 x - beta cos x) e^{beta cos x}
        for j in 0..n {
            let mut v = 0.0;
            let mut diag = 0.0;
            for k in 0..j {
                let x = theta[j] - theta[k];
                let (sn, cs) = x.sin_cos();
                let e = (beta * cs).exp();
                let wjk = self.w[j * n + k];
                let kx = -beta * sn * e;
                let dkx = (beta * beta * sn * sn - beta * cs) * e;
                v += wjk * kx;
                diag += wjk * dkx;
                self.offdiag[j * n + k] = -wjk * dkx; // A_jk, k < j
            }
            dtheta[j] = v;
            self.diag[j] = diag; // A_jj
        }
        // J' = A J, both lower triangular: (A J)_jl = A_jj J_jl + sum_{l <= k < j} A_jk J_kl
        for j in 0..n {
            for l in 0..=j {
                let mut acc = self.diag[j] * jac[j * n + l];
                for k in l..j {
                    acc += self.offdiag[j * n + k] * jac[k * n + l];
                }
                djac[j * n + l] = acc;
            }
        }
    }

    fn step(&mut self, theta: &mut [f64], jac: &mut [f64], dt: f64) {
        let (n, nn) = (self.n, self.n * self.n);
        let mut k = [(); 4].map(|_| (vec![0.0; n], vec![0.0; nn]));
        let mut th = theta.to_vec();
        let mut jj = jac.to_vec();
        let stage = [0.0, 0.5, 0.5, 1.0];
        for s in 0..4 {
            if s > 0 {
                let (pt, pj) = &k[s - 1];
                for ((t, t0), d) in th.iter_mut().zip(theta.iter()).zip(pt) {
                    *t = t0 + stage[s] * dt * d;
                }
                for ((j, j0), d) in jj.iter_mut().zip(jac.iter()).zip(pj) {
                    *j = j0 + stage[s] * dt * d;
                }
            }
            let (dt_, dj_) = &mut k[s];
            self.derivative(&th, &jj, dt_, dj_);
        }
        rk4_combine(theta, [&k[0].0, &k[1].0, &k[2].0, &k[3].0], dt);
        rk4_combine(jac, [&k[0].1, &k[1].1, &k[2].1, &k[3].1], dt);
    }
}

/// y <- y + (dt / 6) (k1 + 2 k2 + 2 k3 + k4).
fn rk4_combine(y: &mut [f64], k: [&[f64]; 4], dt: f64) {
    for (i, v) in y.iter_mut().enumerate() {
        *v += dt / 6.0 * (k[0][i] + 2.0 * k[1][i] + 2.0 * k[2][i] + k[3][i]);
    }
}

/// Parameters of the Monte-Carlo retrieval profile.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ProfileParams {
    /// beta > 0, lambda >= 0.
    pub beta: f64,
    pub lambda: f64,
    /// The mode weights of the soft accuracy phi: width M and truncation n_max.
    pub mode_width: f64,
    pub modes: usize,
    /// Tokens per realisation (n >= 3).
    pub n: usize,
    pub realisations: usize,
    /// Checkpoint times (multiples of dt, non-decreasing).
    pub times: Vec<f64>,
    /// RK4 step.
    pub dt: f64,
    /// Consecutive source positions per bin (the last bin takes the remainder).
    pub bin_width: usize,
    pub seed: u64,
}

/// The estimate on one bin of source positions at one time.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BinEstimate {
    /// First and last source index k of the bin.
    pub first: usize,
    pub last: usize,
    /// Mean of s_k = (k + 1)/n over the bin.
    pub s: f64,
    /// The sensitivity estimator: mean over realisations of the bin average of
    /// n J_{n-1,k}(t) phi(th_{n-1}(t) - th_k(0)), and its standard error across realisations.
    pub mean: f64,
    pub stderr: f64,
    /// The direct estimator: mean of the bin average of n [phi(th_{n-1}(t) - th_k(0)) -
    /// phi(th_{n-1}(0) - th_k(0))], and its standard error.
    pub direct_mean: f64,
    pub direct_stderr: f64,
}

/// The measured profile at one time.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ProfileSnapshot {
    pub t: f64,
    pub bins: Vec<BinEstimate>,
}

/// phi(x) = sum_m w_m cos(m x) with weights w_1..w_M (cos(m x) by the Chebyshev recurrence).
fn soft_accuracy(weights: &[f64], x: f64) -> f64 {
    let c1 = x.cos();
    let (mut prev, mut cur) = (1.0, c1);
    let mut total = 0.0;
    for w in weights {
        total += w * cur;
        let next = 2.0 * c1 * cur - prev;
        prev = cur;
        cur = next;
    }
    total
}

/// Bin averages of one realisation at one checkpoint: (direct, sensitivity).
type BinSamples = (Vec<f64>, Vec<f64>);

/// Per realisation and checkpoint: the bin averages of the two estimators (direct, sensitivity).
fn one_realisation(
    p: &ProfileParams,
    steps: &[usize],
    weights: &[f64],
    r: usize,
) -> Result<Vec<BinSamples>> {
    let n = p.n;
    let mut rng = stream(p.seed, r as u64, Purpose::InitialCondition);
    let theta0: Vec<f64> = (0..n).map(|_| 2.0 * PI * uniform01(&mut rng)).collect();
    let mut theta = theta0.clone();
    let mut jac = vec![0.0; n * n];
    for i in 0..n {
        jac[i * n + i] = 1.0;
    }
    let mut rk4 = TangentRk4::new(n, p.beta, p.lambda)?;
    let base: Vec<f64> = (0..n - 1)
        .map(|k| soft_accuracy(weights, theta0[n - 1] - theta0[k]))
        .collect();
    let bins = bin_ranges(n, p.bin_width);
    let mut done = 0;
    let mut out = Vec::with_capacity(steps.len());
    for &s in steps {
        while done < s {
            rk4.step(&mut theta, &mut jac, p.dt);
            done += 1;
        }
        if !theta.iter().chain(&jac).all(|v| v.is_finite()) {
            return Err(crate::error::KuramotoError::NonFinite {
                what: "lost-in-the-middle run",
            });
        }
        let last = theta[n - 1];
        let mut direct = Vec::with_capacity(bins.len());
        let mut sensitivity = Vec::with_capacity(bins.len());
        for &(a, b) in &bins {
            let (mut sd, mut ss) = (0.0, 0.0);
            for k in a..=b {
                let phi = soft_accuracy(weights, last - theta0[k]);
                sd += phi - base[k];
                ss += jac[(n - 1) * n + k] * phi;
            }
            let scale = n as f64 / (b - a + 1) as f64;
            direct.push(scale * sd);
            sensitivity.push(scale * ss);
        }
        out.push((direct, sensitivity));
    }
    Ok(out)
}

/// Bins of consecutive sources k = 0..n-2: (first, last) with `width` positions each, the last bin
/// taking the remainder.
pub fn bin_ranges(n: usize, width: usize) -> Vec<(usize, usize)> {
    let sources = n.saturating_sub(1);
    let width = width.max(1);
    let count = (sources / width).max(1);
    (0..count)
        .map(|b| {
            let first = b * width;
            let last = if b + 1 == count {
                sources - 1
            } else {
                first + width - 1
            };
            (first, last)
        })
        .collect()
}

/// The Monte-Carlo retrieval profile (see the module docs).
pub fn measure_profile(p: &ProfileParams) -> Result<Vec<ProfileSnapshot>> {
    if p.n < 3 {
        return Err(invalid("n", format!("need n >= 3 tokens, got {}", p.n)));
    }
    if p.realisations < 2 {
        return Err(invalid("realisations", "need at least 2 realisations"));
    }
    if p.bin_width == 0 || p.bin_width > p.n - 1 {
        return Err(invalid("bin_width", "must be in [1, n - 1]"));
    }
    let steps = steps_of(&p.times, p.dt)?;
    check_positive("beta", p.beta)?;
    let theory = LostInMiddle::new(p.beta, p.lambda, p.mode_width, p.modes)
        .map_err(|e| invalid("mode_width", e.to_string()))?;
    let weights: Vec<f64> = (1..=p.modes).map(|m| theory.mode_weight(m)).collect();
    let samples: Vec<Vec<BinSamples>> = (0..p.realisations)
        .into_par_iter()
        .map(|r| one_realisation(p, &steps, &weights, r))
        .collect::<Result<_>>()?;
    let ranges = bin_ranges(p.n, p.bin_width);
    let rr = p.realisations as f64;
    let estimate = |i: usize, b: usize, pick: fn(&BinSamples) -> &Vec<f64>| {
        let (mut sum, mut sq) = (0.0, 0.0);
        for real in &samples {
            let v = pick(&real[i])[b];
            sum += v;
            sq += v * v;
        }
        let mean = sum / rr;
        let var = ((sq - sum * mean) / (rr - 1.0)).max(0.0);
        (mean, (var / rr).sqrt())
    };
    Ok(steps
        .iter()
        .enumerate()
        .map(|(i, &s)| ProfileSnapshot {
            t: s as f64 * p.dt,
            bins: ranges
                .iter()
                .enumerate()
                .map(|(b, &(first, last))| {
                    let (mean, stderr) = estimate(i, b, |x| &x.1);
                    let (direct_mean, direct_stderr) = estimate(i, b, |x| &x.0);
                    BinEstimate {
                        first,
                        last,
                        s: (first + last + 2) as f64 / (2.0 * p.n as f64),
                        mean,
                        stderr,
                        direct_mean,
                        direct_stderr,
                    }
                })
                .collect(),
        })
        .collect())
}

/// The bin averages of a per-source profile (k = 0..n-2) over the bins of [`bin_ranges`].
pub fn bin_average(values: &[f64], ranges: &[(usize, usize)]) -> Vec<f64> {
    ranges
        .iter()
        .map(|&(a, b)| values[a..=b].iter().sum::<f64>() / (b - a + 1) as f64)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One evaluation of the engine field for n = 3 against the model written out by hand.
    #[test]
    fn engine_field_is_the_model_for_three_tokens_by_hand() {
        let (beta, lambda) = (1.5, 0.9);
        let theta = [0.3, 2.0, -1.1];
        // by hand: token 0 still; token 1 sees token 0 only (weight 1);
        // token 2 sees 0 and 1 with weights e^{-2 lambda/3}, e^{-lambda/3}, normalised.
        let k = |x: f64| -beta * x.sin() * (beta * x.cos()).exp();
        let v1 = k(2.0 - 0.3);
        let (a, b) = ((-2.0 * lambda / 3.0f64).exp(), (-lambda / 3.0f64).exp());
        let v2 = (a * k(-1.1 - 0.3) + b * k(-1.1 - 2.0)) / (a + b);
        let field = causal_alibi_field(3, beta, lambda).unwrap();
        let x = Configuration::from_angles(&theta).unwrap().into_vec();
        let mut v = vec![0.0; 6];
        field.velocity(&x, 3, 2, &mut v).unwrap();
        // angular velocity = <v_i, (-sin th_i, cos th_i)>
        let omega: Vec<f64> = (0..3)
            .map(|i| -v[2 * i] * theta[i].sin() + v[2 * i + 1] * theta[i].cos())
            .collect();
        for (got, want) in omega.iter().zip([0.0, v1, v2]) {
            assert!((got - want).abs() < 1e-14, "{omega:?} vs {v1} {v2}");
        }
        // the loop reference agrees too
        let reference = angle_velocity(&theta, beta, lambda);
        for (got, want) in omega.iter().zip(&reference) {
            assert!((got - want).abs() < 1e-14);
        }
        // the velocity is tangent
        for i in 0..3 {
            assert!((v[2 * i] * x[2 * i] + v[2 * i + 1] * x[2 * i + 1]).abs() < 1e-15);
        }
    }

    /// The angle-form RK4 with the tangent flow follows the engine run (to the RK4 error), and its
    /// Jacobian matches central finite differences of the flow map.
    #[test]
    fn tangent_run_matches_the_engine_and_finite_differences() {
        let (beta, lambda, n) = (1.3, 1.0, 8);
        let mut rng = stream(5, 0, Purpose::Other(0));
        let theta0: Vec<f64> = (0..n).map(|_| 2.0 * PI * uniform01(&mut rng)).collect();
        let flow_with = |start: &[f64], dt: f64, steps: usize| -> (Vec<f64>, Vec<f64>) {
            let mut rk4 = TangentRk4::new(n, beta, lambda).unwrap();
            let mut th = start.to_vec();
            let mut jac = vec![0.0; n * n];
            for i in 0..n {
                jac[i * n + i] = 1.0;
            }
            for _ in 0..steps {
                rk4.step(&mut th, &mut jac, dt);
            }
            (th, jac)
        };
        // the two RK4 discretisations (angles; R^2 + renormalisation) differ by O(dt^4)
        let gap_at = |dt: f64, steps: usize| -> f64 {
            let theta = flow_with(&theta0, dt, steps).0;
            let engine = trajectory(&theta0, beta, lambda, dt, &[steps as f64 * dt]).unwrap();
            theta
                .iter()
                .zip(&engine[0])
                .map(|(a, b)| ((a - b + PI).rem_euclid(2.0 * PI) - PI).abs())
                .fold(0.0, f64::max)
        };
        let (coarse, fine) = (gap_at(0.02, 50), gap_at(0.01, 100));
        assert!(coarse < 1e-6 && fine < coarse / 10.0, "{coarse:e} {fine:e}");
        let flow = |start: &[f64]| flow_with(start, 0.01, 100);
        let (theta, jac) = flow(&theta0);
        let h = 1e-6;
        for k in 0..n {
            let (mut plus, mut minus) = (theta0.clone(), theta0.clone());
            plus[k] += h;
            minus[k] -= h;
            let (tp, tm) = (flow(&plus).0, flow(&minus).0);
            for j in 0..n {
                let fd = (tp[j] - tm[j]) / (2.0 * h);
                assert!((fd - jac[j * n + k]).abs() < 1e-7, "J[{j}][{k}]");
            }
        }
        // causal: the first token never moves, nothing depends on later tokens
        assert_eq!(theta[0], theta0[0]);
        assert_eq!(jac[1], 0.0);
    }

    /// The two estimators of the profile agree within their errors.
    #[test]
    fn sensitivity_and_direct_estimators_agree() {
        let p = ProfileParams {
            beta: 1.0,
            lambda: 1.0,
            mode_width: 8.0,
            modes: 20,
            n: 12,
            realisations: 400,
            times: vec![0.5],
            dt: 0.05,
            bin_width: 11,
            seed: 3,
        };
        let snap = &measure_profile(&p).unwrap()[0];
        let b = &snap.bins[0];
        let z = (b.mean - b.direct_mean) / (b.stderr.powi(2) + b.direct_stderr.powi(2)).sqrt();
        assert!(z.abs() < 4.0, "{b:?}");
        // and the sensitivity estimator is the more precise one
        assert!(b.stderr < 0.5 * b.direct_stderr, "{b:?}");
        assert!(measure_profile(&ProfileParams { n: 2, ..p.clone() }).is_err());
        assert!(
            measure_profile(&ProfileParams {
                times: vec![0.51],
                ..p
            })
            .is_err()
        );
    }

    #[test]
    fn four_clusters_follow_the_authors_layout() {
        let (theta, labels) = four_cluster_start(64, 17).unwrap();
        assert_eq!(labels[15], 0);
        assert_eq!(labels[16], 1);
        assert_eq!(labels[63], 3);
        for (t, c) in theta.iter().zip(&labels) {
            let centre = (0.1 + 0.6 * *c as f64) * PI;
            let gap = (t - centre + PI).rem_euclid(2.0 * PI) - PI;
            assert!(gap.abs() < 0.5, "{t} {c}");
        }
        let (theta, labels) = four_cluster_start(10, 1).unwrap();
        assert_eq!(labels, [0, 0, 0, 1, 1, 1, 2, 2, 2, 3]);
        assert_eq!(theta.len(), 10);
    }

    #[test]
    fn soft_accuracy_is_the_cosine_sum() {
        let w = [0.9, 0.5, 0.25];
        let x: f64 = 0.7;
        let direct = 0.9 * x.cos() + 0.5 * (2.0 * x).cos() + 0.25 * (3.0 * x).cos();
        assert!((soft_accuracy(&w, x) - direct).abs() < 1e-15);
    }

    #[test]
    fn bins_cover_every_source_once() {
        assert_eq!(bin_ranges(10, 4), vec![(0, 3), (4, 8)]);
        assert_eq!(bin_ranges(9, 4), vec![(0, 3), (4, 7)]);
        assert_eq!(bin_ranges(3, 5), vec![(0, 1)]);
    }
}
