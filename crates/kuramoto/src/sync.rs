//! Synchronisation of self-attention dynamics on the circle S^1: the linear stability of the equispaced
//! configuration and random-start synchronisation sweeps (Criscitiello, Rebjock, McRae, Boumal, arXiv
//! 2405.18273; Polyanskiy, Rigollet, Yao, arXiv 2507.22857, who prove synchronisation of SA and USA on S^1
//! for every beta >= -0.16 and its failure for beta < -2/3).
//!
//! In angles, x_i = (cos theta_i, sin theta_i), \[GLPR\] (7.1) reads
//!
//! ```text
//! USA: theta_i' = (1/n)   sum_j f(theta_j - theta_i),     f(u) = e^{beta cos u} sin u,
//! SA : theta_i' = (1/Z_i) sum_j f(theta_j - theta_i),     Z_i = sum_k e^{beta cos(theta_i - theta_k)},
//! ```
//!
//! for every real beta: like Polyanskiy-Rigollet-Yao we allow beta < 0 (then nearby tokens attract each
//! other less than distant ones; the sign convention is that of the weights e^{beta <x_i, x_j>}). The
//! engine accepts only beta >= 0, so [`circle_field`] writes e^{beta <x_i, x_j>} with beta < 0 as
//! e^{|beta| x_i^T B x_j} with B = Q^T K = -I: the same vector field, evaluated by the engine.
//!
//! **Equispaced configuration** theta_m = 2 pi m / n: a stationary point (f is odd). Its Jacobian in angles is
//! circulant, J_ij = s c_{(j - i) mod n} with c_m = f'(2 pi m / n) / n (m != 0), c_0 = -sum_{m != 0} c_m,
//! f'(u) = e^{beta cos u}(cos u - beta sin^2 u), and s = 1 (USA) or s = n / Z with Z = sum_m e^{beta cos(2 pi m/n)}
//! (SA: at the equispaced point the velocity vanishes, so the derivative of 1/Z_i does not contribute). Its
//! eigenvalues, on the Fourier modes e^{2 pi i k m / n}, are
//!
//! ```text
//! lambda_k = (s/n) sum_{m=1}^{n-1} f'(2 pi m/n) (cos(2 pi k m/n) - 1)                       (finite sum)
//!          = (s/beta) [ sum_{p = k mod n} p^2 I_p(beta) - sum_{p = 0 mod n} p^2 I_p(beta) ]    (beta != 0)
//! ```
//!
//! (the second line from e^{beta cos u} = sum_p I_p(beta) e^{i p u}: the Fourier rate k^2 I_k(beta) of the
//! mean-field linearisation, aliased modulo n; I_p(-x) = (-1)^p I_p(x)). lambda_0 = 0 is the rotation.
//! SA and USA differ by the positive factor s, so they change stability at the same beta. For n = 3,
//! lambda_1 = lambda_2 = s e^{-beta/2}(1/2 + 3 beta/4): the triangle is linearly stable exactly for
//! beta < -2/3, the failure of synchronisation of Polyanskiy-Rigollet-Yao.
//!
//! **Threshold** ([`sync_threshold`]): beta_c(n) is the largest beta at which the stability margin
//! max_{1 <= k < n} lambda_k changes sign, found by a downward scan of beta from +beta_range to -beta_range
//! (beta_range = max(10, n^2), step 0.01 (1 + |beta| / 10)) and bisection to 1e-12 (1 + |beta|). The margin
//! is evaluated from the finite sum scaled by e^{-|beta|} (no overflow). Measured: a single crossing for odd
//! n (beta_c(3) = -2/3, beta_c(5) = -2.1099, beta_c(7) = -4.4309, beta_c(9) = -8.0241), none for even n: the
//! equispaced configuration of an even number of points is never linearly stable in the scanned range (for
//! n = 4, lambda_1 = s (beta + e^{-beta}) / 2 > 0 for every beta). A stability window narrower than the
//! scan step would be missed; this is the method's stated limit.
//!
//! **Synchronisation sweeps** ([`sync_sweep`]): n i.i.d. uniform angles per start (stream (seed, start,
//! `Purpose::Other(n)`), the same starts for every beta and model), integrated with the engine's RK4 on
//! (S^1)^n (projection after each step) at a fixed step up to a final time; every `check_every` steps the
//! engine's [`cluster_count`] with threshold 1 - delta is read and the run stops at one cluster. One
//! cluster is final: with delta <= 1e-2 and n <= 20, chained neighbours closer than acos(1 - delta) span
//! an arc shorter than pi, and a configuration inside an open half circle contracts to a point for every
//! beta (f > 0 on (0, pi), so the extreme points move inwards). A run that ends with more clusters is
//! "stationary" when its largest angular speed is below `stationary_speed` (a non-synchronised equilibrium,
//! e.g. the triangle) and "unresolved" otherwise. The fraction synchronised comes with a 95 % Wilson score
//! interval ([`wilson_interval`]).

use std::ops::ControlFlow;

use attnflow_dynamics::observables::cluster_count;
use attnflow_dynamics::sampling::{Purpose, stream, uniform_sphere};
use attnflow_dynamics::{
    Configuration, ModelKind, Observer, Rk4, SelfAttention, Solver, SquareMatrix, Value,
    VectorField,
};
use attnflow_energy::bessel::bessel_i_scaled;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{KuramotoError, Result, invalid};

/// Largest n accepted by the stability calculators (the threshold scan costs O(n^2) per beta).
pub const MAX_N: usize = 256;

fn check_n(n: usize) -> Result<()> {
    if (2..=MAX_N).contains(&n) {
        Ok(())
    } else {
        Err(invalid("n", format!("must be in 2..={MAX_N}, got {n}")))
    }
}

fn check_beta(beta: f64) -> Result<()> {
    if beta.is_finite() {
        Ok(())
    } else {
        Err(invalid("beta", format!("must be finite, got {beta}")))
    }
}

/// The equispaced angles theta_m = 2 pi m / n, m = 0..n-1.
pub fn equispaced_angles(n: usize) -> Vec<f64> {
    (0..n)
        .map(|m| std::f64::consts::TAU * m as f64 / n as f64)
        .collect()
}

/// The engine's SA or USA vector field on S^1 with weights e^{beta <x_i, x_j>} for any real beta: the
/// default head (B = I) for beta >= 0, and |beta| with B = Q^T K = -I for beta < 0 (module docs).
pub fn circle_field(model: ModelKind, beta: f64) -> Result<SelfAttention> {
    check_beta(beta)?;
    let builder = SelfAttention::builder().model(model);
    let field = if beta >= 0.0 {
        builder.beta(beta).build()?
    } else {
        builder
            .beta(-beta)
            .head_interaction(Some(SquareMatrix::diagonal(&[-1.0, -1.0])), Value::Identity)
            .build()?
    };
    Ok(field)
}

/// Angular velocities theta_i' of the engine's field at the angles `theta`: the tangent velocity of
/// x_i = (cos theta_i, sin theta_i) read along (-sin theta_i, cos theta_i).
pub fn angular_velocity(field: &dyn VectorField, theta: &[f64]) -> Result<Vec<f64>> {
    let n = theta.len();
    let x: Vec<f64> = theta.iter().flat_map(|t| [t.cos(), t.sin()]).collect();
    let mut v = vec![0.0; 2 * n];
    field.velocity(&x, n, 2, &mut v)?;
    Ok(theta
        .iter()
        .zip(v.chunks_exact(2))
        .map(|(t, vi)| -t.sin() * vi[0] + t.cos() * vi[1])
        .collect())
}

/// Central finite-difference Jacobian d theta_i' / d theta_j (row-major n x n) of the engine's field at
/// `theta`, with step `h` (error O(h^2) + O(eps / h)).
pub fn fd_jacobian(field: &dyn VectorField, theta: &[f64], h: f64) -> Result<Vec<f64>> {
    if !(h.is_finite() && h > 0.0) {
        return Err(invalid("h", format!("must be finite and > 0, got {h}")));
    }
    let n = theta.len();
    let mut jac = vec![0.0; n * n];
    let mut shifted = theta.to_vec();
    for j in 0..n {
        shifted[j] = theta[j] + h;
        let plus = angular_velocity(field, &shifted)?;
        shifted[j] = theta[j] - h;
        let minus = angular_velocity(field, &shifted)?;
        shifted[j] = theta[j];
        for i in 0..n {
            jac[i * n + j] = (plus[i] - minus[i]) / (2.0 * h);
        }
    }
    Ok(jac)
}

/// f'(u) e^{-|beta|} = e^{beta cos u - |beta|}(cos u - beta sin^2 u), f(u) = e^{beta cos u} sin u.
fn scaled_fprime(beta: f64, u: f64) -> f64 {
    let (s, c) = u.sin_cos();
    (beta * c - beta.abs()).exp() * (c - beta * s * s)
}

/// The factor s of the module docs: 1 for USA, n / Z for SA, Z = sum_m e^{beta cos(2 pi m / n)}.
fn model_scale(model: ModelKind, n: usize, beta: f64) -> f64 {
    match model {
        ModelKind::Usa => 1.0,
        ModelKind::Sa => {
            // n / Z = n e^{-|beta|} / (Z e^{-|beta|})
            let z: f64 = equispaced_angles(n)
                .iter()
                .map(|u| (beta * u.cos() - beta.abs()).exp())
                .sum();
            n as f64 * (-beta.abs()).exp() / z
        }
    }
}

/// USA eigenvalues times e^{-|beta|}, k = 0..n-1, from the finite sum (cos table precomputed).
fn scaled_usa_eigenvalues(n: usize, beta: f64, cos_table: &[f64]) -> Vec<f64> {
    let fp: Vec<f64> = (0..n)
        .map(|m| scaled_fprime(beta, std::f64::consts::TAU * m as f64 / n as f64))
        .collect();
    (0..n)
        .map(|k| {
            (1..n)
                .map(|m| fp[m] * (cos_table[(k * m) % n] - 1.0))
                .sum::<f64>()
                / n as f64
        })
        .collect()
}

fn cos_table(n: usize) -> Vec<f64> {
    equispaced_angles(n).iter().map(|u| u.cos()).collect()
}

/// The eigenvalues lambda_k, k = 0..n-1, of the Jacobian at the equispaced configuration (finite-sum
/// form of the module docs; lambda_0 = 0 is the rotation). Fails when a value overflows f64.
pub fn equispaced_eigenvalues(model: ModelKind, n: usize, beta: f64) -> Result<Vec<f64>> {
    check_n(n)?;
    check_beta(beta)?;
    let s = model_scale(model, n, beta) * beta.abs().exp();
    let out: Vec<f64> = scaled_usa_eigenvalues(n, beta, &cos_table(n))
        .into_iter()
        .map(|v| v * s)
        .collect();
    if out.iter().all(|v| v.is_finite()) {
        Ok(out)
    } else {
        Err(KuramotoError::NonFinite {
            what: "equispaced eigenvalues",
        })
    }
}

/// The same USA eigenvalues from the Bessel form lambda_k = (1/beta)[sum_{p = k mod n} p^2 I_p(beta) -
/// sum_{p = 0 mod n} p^2 I_p(beta)] (beta != 0), the sums truncated at |p| <= `p_max` (an independent
/// computation of [`equispaced_eigenvalues`]).
pub fn equispaced_eigenvalues_bessel(n: usize, beta: f64, p_max: usize) -> Result<Vec<f64>> {
    check_n(n)?;
    check_beta(beta)?;
    if beta == 0.0 {
        return Err(invalid("beta", "the Bessel form needs beta != 0"));
    }
    let x = beta.abs();
    let mut aliased = vec![0.0; n];
    for p in 0..=p_max {
        // e^{-x} I_p(x), times (-1)^p for beta < 0
        let ip = bessel_i_scaled(p as f64, x)
            .map_err(|_| KuramotoError::NonFinite { what: "Bessel I_p" })?;
        let sign = if beta < 0.0 && p % 2 == 1 { -1.0 } else { 1.0 };
        let term = sign * (p * p) as f64 * ip;
        aliased[p % n] += term;
        if p > 0 {
            // p -> -p: I_{-p} = I_p
            aliased[(n - p % n) % n] += term;
        }
    }
    let scale = x.exp() / beta;
    let out: Vec<f64> = (0..n).map(|k| (aliased[k] - aliased[0]) * scale).collect();
    if out.iter().all(|v| v.is_finite()) {
        Ok(out)
    } else {
        Err(KuramotoError::NonFinite {
            what: "Bessel eigenvalues",
        })
    }
}

/// The analytic circulant Jacobian at the equispaced configuration (row-major n x n), module docs.
pub fn equispaced_jacobian(model: ModelKind, n: usize, beta: f64) -> Result<Vec<f64>> {
    check_n(n)?;
    check_beta(beta)?;
    let s = model_scale(model, n, beta) * beta.abs().exp() / n as f64;
    let c: Vec<f64> = (0..n)
        .map(|m| {
            if m == 0 {
                0.0
            } else {
                s * scaled_fprime(beta, std::f64::consts::TAU * m as f64 / n as f64)
            }
        })
        .collect();
    let c0 = -c.iter().sum::<f64>();
    let mut jac = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            let m = (j + n - i) % n;
            jac[i * n + j] = if m == 0 { c0 } else { c[m] };
        }
    }
    if jac.iter().all(|v| v.is_finite()) {
        Ok(jac)
    } else {
        Err(KuramotoError::NonFinite {
            what: "equispaced Jacobian",
        })
    }
}

/// The stability margin of the equispaced configuration: max_{1 <= k < n} lambda_k (USA) times
/// e^{-|beta|}, with the unstable mode k (the smallest k attaining the maximum). Negative means linearly
/// stable (up to the rotation).
pub fn stability_margin(n: usize, beta: f64) -> Result<(f64, usize)> {
    check_n(n)?;
    check_beta(beta)?;
    Ok(margin(n, beta, &cos_table(n)))
}

fn margin(n: usize, beta: f64, cos_table: &[f64]) -> (f64, usize) {
    let eig = scaled_usa_eigenvalues(n, beta, cos_table);
    let mut best = (f64::NEG_INFINITY, 1);
    for (k, &v) in eig.iter().enumerate().skip(1) {
        if v > best.0 {
            best = (v, k);
        }
    }
    best
}

/// Where the equispaced n-configuration changes stability ([`sync_threshold`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncThreshold {
    pub n: usize,
    /// The largest beta where the margin changes sign (stable just below, unstable above), or `None`
    /// when the configuration is linearly unstable at every scanned beta.
    pub beta_c: Option<f64>,
    /// The Fourier mode k that becomes unstable at beta_c.
    pub mode: Option<usize>,
    /// The scanned range [-beta_range, beta_range].
    pub beta_range: f64,
    /// Number of sign changes of the margin on the scan grid (1 for odd n, 0 for even n as measured).
    pub crossings: usize,
    /// Bisection tolerance on beta_c.
    pub tolerance: f64,
}

/// beta_c(n): the largest beta at which the equispaced configuration of n points changes linear stability,
/// by the scan and bisection of the module docs (for SA and USA alike).
pub fn sync_threshold(n: usize) -> Result<SyncThreshold> {
    check_n(n)?;
    let table = cos_table(n);
    let beta_range = (n as f64 * n as f64).max(10.0);
    let step = |b: f64| 0.01 * (1.0 + b.abs() / 10.0);
    let mut crossings = 0;
    let mut first: Option<(f64, f64)> = None;
    let mut b_hi = beta_range;
    let mut m_hi = margin(n, b_hi, &table).0;
    while b_hi > -beta_range {
        let b_lo = (b_hi - step(b_hi)).max(-beta_range);
        let m_lo = margin(n, b_lo, &table).0;
        if (m_lo < 0.0) != (m_hi < 0.0) {
            crossings += 1;
            if first.is_none() {
                first = Some((b_lo, b_hi));
            }
        }
        (b_hi, m_hi) = (b_lo, m_lo);
    }
    let tolerance = 1e-12;
    let (beta_c, mode) = match first {
        None => (None, None),
        Some((mut lo, mut hi)) => {
            let stable_lo = margin(n, lo, &table).0 < 0.0;
            while hi - lo > tolerance * (1.0 + lo.abs()) {
                let mid = 0.5 * (lo + hi);
                if (margin(n, mid, &table).0 < 0.0) == stable_lo {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            let beta_c = 0.5 * (lo + hi);
            // the mode that is unstable just above beta_c
            let mode = margin(n, hi + 1e-6 * (1.0 + hi.abs()), &table).1;
            (Some(beta_c), Some(mode))
        }
    };
    Ok(SyncThreshold {
        n,
        beta_c,
        mode,
        beta_range,
        crossings,
        tolerance,
    })
}

/// The 95 % Wilson score interval (z = 1.959964) of a binomial proportion `successes / trials`.
pub fn wilson_interval(successes: usize, trials: usize) -> (f64, f64) {
    if trials == 0 {
        return (0.0, 1.0);
    }
    let z = 1.959_963_984_540_054_f64;
    let (k, m) = (successes as f64, trials as f64);
    let p = k / m;
    let denom = 1.0 + z * z / m;
    let centre = (p + z * z / (2.0 * m)) / denom;
    let half = z * (p * (1.0 - p) / m + z * z / (4.0 * m * m)).sqrt() / denom;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// Parameters of a synchronisation sweep (module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepParams {
    pub model: ModelKind,
    pub ns: Vec<usize>,
    pub betas: Vec<f64>,
    /// Random starts per (n, beta).
    pub starts: usize,
    pub seed: u64,
    /// RK4 step.
    pub dt: f64,
    /// Final time.
    pub t_max: f64,
    /// Cluster threshold: i, j linked when <x_i, x_j> > 1 - delta.
    pub delta: f64,
    /// The cluster count is read every this many steps.
    pub check_every: usize,
    /// A run with more than one cluster at t_max whose largest |theta_i'| is below this is stationary.
    pub stationary_speed: f64,
}

/// The outcome of one start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartOutcome {
    /// One cluster (at the step given).
    Synchronised { step: usize },
    /// More than one cluster at t_max, at rest: a non-synchronised equilibrium with this many clusters.
    Stationary { clusters: usize },
    /// More than one cluster at t_max, still moving.
    Unresolved { clusters: usize },
}

/// One (n, beta) cell of a sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepCell {
    pub n: usize,
    pub beta: f64,
    pub starts: usize,
    pub synchronised: usize,
    pub stationary: usize,
    pub unresolved: usize,
    /// synchronised / starts and its 95 % Wilson interval.
    pub fraction: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    /// Mean time to one cluster over the synchronised starts (None when none synchronised).
    pub mean_sync_time: Option<f64>,
    /// Counts of the cluster numbers of the stationary starts: (clusters, count), increasing.
    pub stationary_clusters: Vec<(usize, usize)>,
}

/// Stops a run at one cluster.
struct OneCluster {
    n: usize,
    delta: f64,
    every: usize,
    hit: Option<usize>,
}

impl Observer for OneCluster {
    fn wants(&self, step: usize) -> bool {
        step.is_multiple_of(self.every)
    }
    fn observe(&mut self, step: usize, gram: &[f64]) -> ControlFlow<()> {
        if cluster_count(gram, self.n, self.delta) == 1 {
            self.hit = Some(step);
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }
}

/// The initial condition of start `start` with n points: n i.i.d. uniform points of S^1 from the stream
/// (seed, start, Other(n)).
pub fn sweep_start(seed: u64, n: usize, start: u64) -> Result<Configuration> {
    Ok(uniform_sphere(
        n,
        2,
        &mut stream(seed, start, Purpose::Other(n as u64)),
    )?)
}

/// Runs one start (module docs).
pub fn run_start(
    field: &SelfAttention,
    x0: &Configuration,
    p: &SweepParams,
) -> Result<StartOutcome> {
    let n = x0.n();
    let mut watch = OneCluster {
        n,
        delta: p.delta,
        every: p.check_every,
        hit: None,
    };
    let mut solver = Solver::new(field, Rk4::default(), x0, p.dt)?.with_observer(&mut watch);
    solver.advance_to(p.t_max)?;
    let x = solver.state().to_configuration()?;
    drop(solver);
    if let Some(step) = watch.hit {
        return Ok(StartOutcome::Synchronised { step });
    }
    let clusters = cluster_count(&x.gram(), n, p.delta);
    if clusters == 1 {
        // one cluster first reached between two checks, at the final state
        let step = (p.t_max / p.dt - 1e-9).ceil() as usize;
        return Ok(StartOutcome::Synchronised { step });
    }
    let theta: Vec<f64> = x
        .as_slice()
        .chunks_exact(2)
        .map(|r| r[1].atan2(r[0]))
        .collect();
    let speed = angular_velocity(field, &theta)?
        .iter()
        .fold(0.0f64, |m, v| m.max(v.abs()));
    Ok(if speed < p.stationary_speed {
        StartOutcome::Stationary { clusters }
    } else {
        StartOutcome::Unresolved { clusters }
    })
}

/// Checks the sweep parameters.
pub fn validate_sweep(p: &SweepParams) -> Result<()> {
    if p.ns.is_empty() || p.betas.is_empty() || p.starts == 0 {
        return Err(invalid(
            "sweep",
            "needs at least one n, one beta and one start",
        ));
    }
    for &n in &p.ns {
        if !(2..=20).contains(&n) {
            return Err(invalid(
                "ns",
                format!("n must be in 2..=20 (the one-cluster rule), got {n}"),
            ));
        }
    }
    for &b in &p.betas {
        check_beta(b)?;
    }
    if !(p.delta > 0.0 && p.delta <= 1e-2) {
        return Err(invalid(
            "delta",
            format!("must be in (0, 1e-2], got {}", p.delta),
        ));
    }
    if !(p.dt.is_finite() && p.dt > 0.0 && p.t_max.is_finite() && p.t_max >= p.dt) {
        return Err(invalid(
            "dt",
            format!(
                "need 0 < dt <= t_max, got dt {} and t_max {}",
                p.dt, p.t_max
            ),
        ));
    }
    if p.check_every == 0 {
        return Err(invalid("check_every", "must be >= 1"));
    }
    if !(p.stationary_speed.is_finite() && p.stationary_speed > 0.0) {
        return Err(invalid("stationary_speed", "must be finite and > 0"));
    }
    Ok(())
}

/// The sweep over (n, beta), n outer, beta inner. Starts run in parallel; every count is an integer
/// and the mean time is summed in start order, so the result does not depend on the number of threads.
pub fn sync_sweep(p: &SweepParams) -> Result<Vec<SweepCell>> {
    validate_sweep(p)?;
    let mut cells = Vec::with_capacity(p.ns.len() * p.betas.len());
    for &n in &p.ns {
        let starts = (0..p.starts as u64)
            .map(|r| sweep_start(p.seed, n, r))
            .collect::<Result<Vec<_>>>()?;
        for &beta in &p.betas {
            let field = circle_field(p.model, beta)?;
            let outcomes = starts
                .par_iter()
                .map(|x0| run_start(&field, x0, p))
                .collect::<Result<Vec<_>>>()?;
            cells.push(summarise(n, beta, p.dt, &outcomes));
        }
    }
    Ok(cells)
}

fn summarise(n: usize, beta: f64, dt: f64, outcomes: &[StartOutcome]) -> SweepCell {
    let (mut synchronised, mut stationary, mut unresolved) = (0, 0, 0);
    let mut time_sum = 0.0;
    let mut clusters: std::collections::BTreeMap<usize, usize> = Default::default();
    for o in outcomes {
        match *o {
            StartOutcome::Synchronised { step } => {
                synchronised += 1;
                time_sum += step as f64 * dt;
            }
            StartOutcome::Stationary { clusters: c } => {
                stationary += 1;
                *clusters.entry(c).or_default() += 1;
            }
            StartOutcome::Unresolved { .. } => unresolved += 1,
        }
    }
    let (ci_low, ci_high) = wilson_interval(synchronised, outcomes.len());
    SweepCell {
        n,
        beta,
        starts: outcomes.len(),
        synchronised,
        stationary,
        unresolved,
        fraction: synchronised as f64 / outcomes.len() as f64,
        ci_low,
        ci_high,
        mean_sync_time: (synchronised > 0).then(|| time_sum / synchronised as f64),
        stationary_clusters: clusters.into_iter().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
        a.iter()
            .zip(b)
            .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()))
    }

    #[test]
    fn analytic_jacobian_matches_finite_differences_of_the_engine_field() {
        for model in [ModelKind::Sa, ModelKind::Usa] {
            for &(n, beta) in &[
                (3, -1.0),
                (3, 0.5),
                (5, -2.5),
                (6, 2.0),
                (8, -0.16),
                (10, 0.0),
            ] {
                let field = circle_field(model, beta).unwrap();
                // rotated equispaced configuration: the Jacobian is rotation invariant
                let theta: Vec<f64> = equispaced_angles(n).iter().map(|t| t + 0.3).collect();
                let fd = fd_jacobian(&field, &theta, 1e-5).unwrap();
                let exact = equispaced_jacobian(model, n, beta).unwrap();
                let scale = exact.iter().fold(0.0f64, |m, v| m.max(v.abs()));
                let err = max_abs_diff(&fd, &exact);
                assert!(
                    err < 1e-8 * scale.max(1.0),
                    "{model:?} n {n} beta {beta}: {err}"
                );
                // the velocity vanishes there
                let v = angular_velocity(&field, &theta).unwrap();
                assert!(v.iter().all(|x| x.abs() < 1e-13), "{v:?}");
            }
        }
    }

    #[test]
    fn circulant_eigenvalues_are_the_spectrum_of_the_jacobian() {
        // DFT of the first row of the circulant matrix = its eigenvalues
        for model in [ModelKind::Sa, ModelKind::Usa] {
            let (n, beta) = (7, -3.0);
            let jac = equispaced_jacobian(model, n, beta).unwrap();
            let eig = equispaced_eigenvalues(model, n, beta).unwrap();
            for (k, lk) in eig.iter().enumerate() {
                let dft: f64 = (0..n)
                    .map(|m| jac[m] * (std::f64::consts::TAU * (k * m) as f64 / n as f64).cos())
                    .sum();
                assert!((dft - lk).abs() < 1e-13 * (1.0 + lk.abs()), "k {k}");
            }
            assert!(eig[0].abs() < 1e-14);
        }
    }

    #[test]
    fn bessel_form_agrees_with_the_finite_sum() {
        for &(n, beta) in &[(3, -0.7), (4, -3.0), (5, 1.3), (9, -8.0), (10, 6.0)] {
            let a = equispaced_eigenvalues(ModelKind::Usa, n, beta).unwrap();
            let b = equispaced_eigenvalues_bessel(n, beta, 80).unwrap();
            let scale = a.iter().fold(1.0f64, |m, v| m.max(v.abs()));
            assert!(max_abs_diff(&a, &b) < 1e-12 * scale, "n {n} beta {beta}");
        }
    }

    #[test]
    fn triangle_closed_form_and_threshold() {
        // lambda_1 = lambda_2 = e^{-beta/2}(1/2 + 3 beta/4) for USA
        for beta in [-2.0, -2.0 / 3.0, 0.0, 1.5] {
            let eig = equispaced_eigenvalues(ModelKind::Usa, 3, beta).unwrap();
            let exact = (-beta / 2.0f64).exp() * (0.5 + 0.75 * beta);
            assert!((eig[1] - exact).abs() < 1e-14 && (eig[2] - exact).abs() < 1e-14);
        }
        let th = sync_threshold(3).unwrap();
        assert!((th.beta_c.unwrap() + 2.0 / 3.0).abs() < 1e-11, "{th:?}");
        assert_eq!(th.crossings, 1);
        // n = 4: lambda_1 = (beta + e^{-beta}) / 2 > 0, never stable
        let eig = equispaced_eigenvalues(ModelKind::Usa, 4, -3.0).unwrap();
        assert!((eig[1] - (-3.0 + 3f64.exp()) / 2.0).abs() < 1e-12);
        let th4 = sync_threshold(4).unwrap();
        assert_eq!((th4.beta_c, th4.crossings), (None, 0));
    }

    #[test]
    fn threshold_is_a_sign_change_of_the_bessel_eigenvalues() {
        // independent check: the Bessel-form margin changes sign across beta_c
        for n in [5, 7, 9] {
            let b = sync_threshold(n).unwrap().beta_c.unwrap();
            let max_k = |beta: f64| {
                equispaced_eigenvalues_bessel(n, beta, 120)
                    .unwrap()
                    .into_iter()
                    .skip(1)
                    .fold(f64::NEG_INFINITY, f64::max)
            };
            assert!(
                max_k(b - 1e-6) < 0.0 && max_k(b + 1e-6) > 0.0,
                "n {n} beta_c {b}"
            );
        }
    }

    #[test]
    fn wilson_interval_known_values() {
        // 8 of 10: (0.4902, 0.9433) (Wilson 1927, z = 1.96)
        let (lo, hi) = wilson_interval(8, 10);
        assert!(
            (lo - 0.490_16).abs() < 1e-4 && (hi - 0.943_32).abs() < 1e-4,
            "{lo} {hi}"
        );
        assert_eq!(wilson_interval(0, 0), (0.0, 1.0));
        // all successes: (m / (m + z^2), 1)
        let (lo, hi) = wilson_interval(10, 10);
        let z2 = 1.959_963_984_540_054_f64.powi(2);
        assert!(
            (hi - 1.0).abs() < 1e-15 && (lo - 10.0 / (10.0 + z2)).abs() < 1e-14,
            "{lo} {hi}"
        );
    }

    #[test]
    fn negative_beta_field_is_the_angle_formula() {
        let beta = -1.7;
        let theta = [0.1, 1.3, 2.9, 4.0];
        let n = theta.len();
        for model in [ModelKind::Sa, ModelKind::Usa] {
            let v = angular_velocity(&circle_field(model, beta).unwrap(), &theta).unwrap();
            for i in 0..n {
                let (mut s, mut z) = (0.0, 0.0);
                for j in 0..n {
                    let u = theta[j] - theta[i];
                    s += (beta * u.cos()).exp() * u.sin();
                    z += (beta * u.cos()).exp();
                }
                let norm = if model == ModelKind::Sa { z } else { n as f64 };
                assert!((v[i] - s / norm).abs() < 1e-14, "{model:?} {i}");
            }
        }
    }

    #[test]
    fn sweep_triangle_below_threshold_sometimes_fails_and_is_thread_independent() {
        let p = SweepParams {
            model: ModelKind::Sa,
            ns: vec![3],
            betas: vec![-1.5, 0.0],
            starts: 40,
            seed: 11,
            dt: 0.1,
            t_max: 100.0,
            delta: 1e-3,
            check_every: 10,
            stationary_speed: 1e-6,
        };
        let cells = sync_sweep(&p).unwrap();
        assert!(cells[0].stationary > 0, "{:?}", cells[0]);
        assert_eq!(cells[0].stationary_clusters[0].0, 3);
        assert_eq!(cells[1].synchronised, 40, "{:?}", cells[1]);
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap()
            .install(|| sync_sweep(&p).unwrap());
        assert_eq!(one, cells);
    }
}
