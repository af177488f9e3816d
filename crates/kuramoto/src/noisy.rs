//! The noisy transformer and its phase transition (Rigollet, arXiv 2512.01868, section 8; Shalova
//! and Schlichting, arXiv 2412.14813; Balasubramanian, Banerjee and Rigollet, arXiv 2510.20094):
//! the USA particle system with Brownian noise on S^{d-1} (`attnflow_dynamics::noise`),
//!
//! ```text
//! dX_i = P_{X_i}( (1/n) sum_j e^{beta <X_i, X_j>} X_j ) dt + sqrt(2/kappa) dB_i,
//! d_t rho = kappa^{-1} Lap rho - div( rho P_x int e^{beta <x, y>} y drho(y) )      (mean field).
//! ```
//!
//! Convention (ours, written down once): kappa is the inverse temperature, the noise generator is
//! kappa^{-1} Lap, and the kernel is the unnormalised e^{beta <x, y>}. The drift is the spherical
//! gradient of the potential U\[rho\](x) = int W(<x, y>) drho(y) with W(t) = (e^{beta t} - 1)/beta
//! (W(t) = t at beta = 0), so the Fokker-Planck equation reads d_t rho = kappa^{-1} Lap rho -
//! div(rho grad U\[rho\]). (The survey prints d_t mu + kappa^{-1} Lap mu = div(...): with the plus
//! sign on the Laplacian that equation is backward heat flow; the forward equation of the SDE above
//! has -kappa^{-1} Lap on the left.) Its stationary states solve the self-consistency
//!
//! ```text
//! rho = exp(kappa U[rho]) / Z,     Z = int exp(kappa U[rho]) dsigma,
//! ```
//!
//! rho a density against the uniform probability measure sigma of S^{d-1}.
//!
//! **beta = 0, the noisy Kuramoto model.** U = <x, m>, m = int y drho: rho is von Mises-Fisher and the
//! order parameter r = |m| solves r = A_d(kappa r), A_d(s) = I_{d/2}(s)/I_{d/2-1}(s)
//! ([`kuramoto_order`]). A_d is concave with A_d'(0) = 1/d, so r = 0 (the uniform state) is the only
//! solution for kappa <= d, and a pitchfork at kappa_c = d gives one ordered branch above (on S^1:
//! kappa_c = 2, the classical K_c = 2D of the noisy Kuramoto model with coupling K = 1 and noise
//! intensity D = 1/kappa).
//!
//! **Linear threshold, beta >= 0.** On degree-1 harmonics the interaction operator
//! rho -> U\[rho\] multiplies by mu_1(beta, d)/beta, mu_l the Funk-Hecke eigenvalue of e^{beta t}
//! (`attnflow_energy::funk_hecke`; mu_1/beta -> 1/d as beta -> 0), so the uniform state loses
//! stability at kappa_c(beta) = beta / mu_1(beta, d) ([`linear_threshold`]).
//!
//! **Type of the transition.** Eliminating the degree-2 mode from the free energy
//! kappa^{-1} int rho ln rho - (1/2) int int W drho drho at kappa_c gives a quartic Landau
//! coefficient of sign (1/d - mu_2/mu_1) (worked out on S^1 by hand, measured for d = 2, 3, 4 by
//! [`branch_kappa`]), and mu_2/mu_1 = I_{d/2+1}(beta)/I_{d/2}(beta) increases from 0 to 1. So the
//! transition is continuous (supercritical pitchfork at kappa_c) for beta < beta_*(d) and
//! discontinuous, with a saddle-node below kappa_c and hysteresis, for beta > beta_*(d), where
//!
//! ```text
//! I_{d/2+1}(beta_*) / I_{d/2}(beta_*) = 1/d                     ([`critical_beta`])
//! ```
//!
//! (the criterion of Balasubramanian-Banerjee-Rigollet and of Shalova-Schlichting, proved in every d by Mun and
//! Rosenzweig, arXiv 2606.05140; a constant factor in front of the kernel, or a rescaled temperature, moves
//! kappa_c but not beta_*). Mun-Rosenzweig write the coupling K with standard Brownian noise (generator
//! Lap/2): dX = K P_X(...) dt + dB is our SDE after the time change t -> (2/kappa) t, so K = kappa/2 and
//! their linear threshold K_#(beta) = beta^{d/2}/(2^{d/2} Gamma(d/2) I_{d/2}(beta)) is kappa_c/2 (on S^1 at
//! beta = 0: K_# = 1, the classical K_c = 2D with D = 1/2).
//!
//! **Numerics.** Stationary states with the symmetry of a mode-1 state (densities of theta = angle
//! to a pole) on a midpoint grid of m angles in (0, pi), weights sin^{d-2} theta; the kernel averaged
//! over the (d-2)-sphere of points at a fixed angle, e^{beta c c'} F(beta s s') with F = cosh
//! (d = 2) or F(a) = mu_0(a, d-1) (d >= 3). [`StationaryGrid::solve`]: the fixed-point iteration
//! rho <- exp(kappa U\[rho\])/Z (continuation: start from the previous kappa's state; it converges
//! to the states that are stable for it, which at the uniform state is the threshold above);
//! [`StationaryGrid::solve_at_order`]: the branch through a prescribed order parameter r, kappa
//! found in each iteration by bisection so that the new state has order r (this follows the
//! unstable part of a subcritical branch too). [`sde_sweep`]: the particle system, kappa swept up
//! from uniform data and back down from the ordered end state, r = |(1/n) sum x_i| averaged over
//! the second half of each stage.

use attnflow_dynamics::noise::{EulerMaruyama, Noise, NoiseScheme};
use attnflow_dynamics::sampling::{Purpose, stream, uniform_sphere};
use attnflow_dynamics::{Configuration, SelfAttention, Solver};
use attnflow_energy::bessel::bessel_i_ratio;
use attnflow_energy::funk_hecke::funk_hecke_eigenvalue;
use rayon::prelude::*;

use crate::error::{KuramotoError, Result, check_non_negative, check_positive, invalid};

fn energy_err(e: attnflow_energy::EnergyError) -> KuramotoError {
    invalid("beta", e.to_string())
}

fn check_d(d: usize) -> Result<()> {
    if !(2..=1 << 16).contains(&d) {
        return Err(invalid("d", format!("must be in 2..=65536, got {d}")));
    }
    Ok(())
}

/// beta_*(d): the root of I_{d/2+1}(beta)/I_{d/2}(beta) = 1/d (bisection to 1e-13 relative; the
/// ratio increases from 0 to 1 in beta).
pub fn critical_beta(d: usize) -> Result<f64> {
    check_d(d)?;
    let nu = 0.5 * d as f64;
    let target = 1.0 / d as f64;
    let f = |b: f64| -> Result<f64> { Ok(bessel_i_ratio(nu, b).map_err(energy_err)? - target) };
    let (mut lo, mut hi) = (1e-6, 1.0);
    while f(hi)? < 0.0 {
        hi *= 2.0;
        if hi > 1e7 {
            return Err(KuramotoError::NoConvergence {
                what: "critical_beta",
                detail: "no sign change below 1e7".into(),
            });
        }
    }
    while hi - lo > 1e-13 * hi {
        let mid = 0.5 * (lo + hi);
        if f(mid)? < 0.0 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok(0.5 * (lo + hi))
}

/// kappa_c(beta, d) = beta / mu_1(beta, d) (d at beta = 0): the inverse temperature above which the
/// uniform state is linearly unstable.
pub fn linear_threshold(beta: f64, d: usize) -> Result<f64> {
    check_non_negative("beta", beta)?;
    check_d(d)?;
    if beta == 0.0 {
        return Ok(d as f64);
    }
    Ok(beta / funk_hecke_eigenvalue(1, beta, d).map_err(energy_err)?)
}

/// The ordered von Mises-Fisher state of the noisy Kuramoto model (beta = 0): the largest root r of
/// r = A_d(kappa r), A_d(s) = I_{d/2}(s)/I_{d/2-1}(s) (0 for kappa <= d), by bisection to 1e-14.
pub fn kuramoto_order(kappa: f64, d: usize) -> Result<f64> {
    check_positive("kappa", kappa)?;
    check_d(d)?;
    if kappa <= d as f64 {
        return Ok(0.0);
    }
    let nu = 0.5 * d as f64 - 1.0;
    let g = |r: f64| -> Result<f64> { Ok(bessel_i_ratio(nu, kappa * r).map_err(energy_err)? - r) };
    // g > 0 just above 0 (slope kappa/d - 1 > 0), g(1) < 0
    let (mut lo, mut hi) = (1e-12, 1.0);
    while hi - lo > 1e-14 {
        let mid = 0.5 * (lo + hi);
        if g(mid)? > 0.0 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok(0.5 * (lo + hi))
}

/// A stationary state on the grid.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Stationary {
    /// Inverse temperature.
    pub kappa: f64,
    /// Density against the uniform measure at the grid angles.
    pub rho: Vec<f64>,
    /// Order parameter r = int <x, e> drho.
    pub order: f64,
    /// Iterations taken.
    pub iterations: usize,
    /// Largest change of rho in the last iteration.
    pub residual: f64,
}

/// The discretised self-consistency map on densities of the angle to a pole (see the module docs).
#[derive(Debug, Clone)]
pub struct StationaryGrid {
    beta: f64,
    d: usize,
    theta: Vec<f64>,
    weight: Vec<f64>,
    cos: Vec<f64>,
    /// kernel[i * m + j] = averaged W(<x, y>) times weight[j].
    kernel: Vec<f64>,
}

/// Iteration cap of [`StationaryGrid::solve`] and [`StationaryGrid::solve_at_order`].
pub const MAX_ITERATIONS: usize = 100_000;

impl StationaryGrid {
    /// The grid of `m` midpoint angles for beta >= 0 on S^{d-1}.
    pub fn new(beta: f64, d: usize, m: usize) -> Result<Self> {
        check_non_negative("beta", beta)?;
        check_d(d)?;
        if !(8..=4096).contains(&m) {
            return Err(invalid("m", format!("must be in 8..=4096, got {m}")));
        }
        let h = std::f64::consts::PI / m as f64;
        let theta: Vec<f64> = (0..m).map(|i| (i as f64 + 0.5) * h).collect();
        let mut weight: Vec<f64> = theta.iter().map(|t| t.sin().powi(d as i32 - 2)).collect();
        let total: f64 = weight.iter().sum();
        weight.iter_mut().for_each(|w| *w /= total);
        let cos: Vec<f64> = theta.iter().map(|t| t.cos()).collect();
        let sin: Vec<f64> = theta.iter().map(|t| t.sin()).collect();
        let mut kernel = vec![0.0; m * m];
        for i in 0..m {
            for j in 0..m {
                let w = if beta == 0.0 {
                    cos[i] * cos[j]
                } else {
                    let a = beta * sin[i] * sin[j];
                    let fibre = if d == 2 {
                        a.cosh()
                    } else {
                        funk_hecke_eigenvalue(0, a, d - 1).map_err(energy_err)?
                    };
                    ((beta * cos[i] * cos[j]).exp() * fibre - 1.0) / beta
                };
                kernel[i * m + j] = w * weight[j];
            }
        }
        if kernel.iter().any(|v| !v.is_finite()) {
            return Err(KuramotoError::NonFinite {
                what: "stationary kernel",
            });
        }
        Ok(StationaryGrid {
            beta,
            d,
            theta,
            weight,
            cos,
            kernel,
        })
    }

    /// beta of the grid.
    pub fn beta(&self) -> f64 {
        self.beta
    }
    /// Dimension d (the sphere S^{d-1}).
    pub fn d(&self) -> usize {
        self.d
    }
    /// The grid angles (to the pole).
    pub fn theta(&self) -> &[f64] {
        &self.theta
    }
    /// The quadrature weights (sum 1; the uniform measure's law of the angle).
    pub fn weight(&self) -> &[f64] {
        &self.weight
    }

    /// The uniform state plus a mode-1 seed: 1 + eps cos(theta).
    pub fn seed(&self, eps: f64) -> Vec<f64> {
        self.cos.iter().map(|c| 1.0 + eps * c).collect()
    }

    /// Order parameter int cos(theta) rho dsigma.
    pub fn order(&self, rho: &[f64]) -> f64 {
        rho.iter()
            .zip(&self.weight)
            .zip(&self.cos)
            .map(|((r, w), c)| r * w * c)
            .sum()
    }

    fn potential(&self, rho: &[f64]) -> Vec<f64> {
        let m = rho.len();
        self.kernel
            .chunks_exact(m)
            .map(|row| row.iter().zip(rho).map(|(k, r)| k * r).sum())
            .collect()
    }

    fn gibbs(&self, kappa: f64, u: &[f64]) -> Vec<f64> {
        let top = u.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mut rho: Vec<f64> = u.iter().map(|v| (kappa * (v - top)).exp()).collect();
        let z: f64 = rho.iter().zip(&self.weight).map(|(r, w)| r * w).sum();
        rho.iter_mut().for_each(|r| *r /= z);
        rho
    }

    fn check_init(&self, init: &[f64]) -> Result<()> {
        if init.len() != self.theta.len() || init.iter().any(|v| !(v.is_finite() && *v >= 0.0)) {
            return Err(invalid("init", "must hold m finite non-negative densities"));
        }
        Ok(())
    }

    /// The fixed-point iteration rho <- exp(kappa U\[rho\])/Z from `init` until the largest change is
    /// below `tol` (error after [`MAX_ITERATIONS`]).
    pub fn solve(&self, kappa: f64, init: &[f64], tol: f64) -> Result<Stationary> {
        check_positive("kappa", kappa)?;
        check_positive("tol", tol)?;
        self.check_init(init)?;
        let mut rho = init.to_vec();
        for it in 1..=MAX_ITERATIONS {
            let next = self.gibbs(kappa, &self.potential(&rho));
            let residual = next
                .iter()
                .zip(&rho)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            rho = next;
            if !residual.is_finite() {
                return Err(KuramotoError::NonFinite {
                    what: "stationary iteration",
                });
            }
            if residual < tol {
                return Ok(Stationary {
                    kappa,
                    order: self.order(&rho),
                    rho,
                    iterations: it,
                    residual,
                });
            }
        }
        Err(KuramotoError::NoConvergence {
            what: "stationary fixed point",
            detail: format!("{MAX_ITERATIONS} iterations at kappa = {kappa}"),
        })
    }

    /// The stationary state of order parameter `r` in (0, 1) and its kappa: each iteration finds
    /// kappa in (0, kappa_max] by bisection (60 halvings) so that exp(kappa U\[rho\])/Z has order r.
    pub fn solve_at_order(
        &self,
        r: f64,
        kappa_max: f64,
        init: &[f64],
        tol: f64,
    ) -> Result<Stationary> {
        if !(r > 0.0 && r < 1.0) {
            return Err(invalid("r", format!("must be in (0, 1), got {r}")));
        }
        check_positive("kappa_max", kappa_max)?;
        check_positive("tol", tol)?;
        self.check_init(init)?;
        let mut rho = init.to_vec();
        let mut kappa = kappa_max;
        for it in 1..=MAX_ITERATIONS {
            let u = self.potential(&rho);
            let (mut lo, mut hi) = (0.0, kappa_max);
            if self.order(&self.gibbs(hi, &u)) < r {
                return Err(invalid(
                    "kappa_max",
                    format!("order {r} not reached below kappa = {kappa_max}"),
                ));
            }
            for _ in 0..60 {
                let mid = 0.5 * (lo + hi);
                if self.order(&self.gibbs(mid, &u)) < r {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            kappa = 0.5 * (lo + hi);
            let next = self.gibbs(kappa, &u);
            let residual = next
                .iter()
                .zip(&rho)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            rho = next;
            if residual < tol {
                return Ok(Stationary {
                    kappa,
                    order: self.order(&rho),
                    rho,
                    iterations: it,
                    residual,
                });
            }
        }
        Err(KuramotoError::NoConvergence {
            what: "stationary branch",
            detail: format!("{MAX_ITERATIONS} iterations at r = {r} (last kappa {kappa})"),
        })
    }
}

/// kappa along the branch of stationary states at each order parameter of `orders` (increasing,
/// in (0, 1)), continued from a mode-1 seed; with kappa_c this says whether the branch bends
/// forward (supercritical) or back (subcritical) near r = 0.
pub fn branch_kappa(grid: &StationaryGrid, orders: &[f64], tol: f64) -> Result<Vec<Stationary>> {
    let kappa_c = linear_threshold(grid.beta, grid.d)?;
    let mut rho = grid.seed(0.01);
    let mut out = Vec::with_capacity(orders.len());
    for &r in orders {
        let s = grid.solve_at_order(r, 50.0 * kappa_c, &rho, tol)?;
        rho.clone_from(&s.rho);
        out.push(s);
    }
    Ok(out)
}

/// The two fixed-point sweeps over `kappas` (increasing): up from the uniform state plus a small
/// mode-1 seed (added again at each kappa, so that the uniform state is left where it is
/// unstable), and down from the last up state. Returns (up, down), both in the order of `kappas`.
pub fn stationary_sweeps(
    grid: &StationaryGrid,
    kappas: &[f64],
    tol: f64,
) -> Result<(Vec<Stationary>, Vec<Stationary>)> {
    let mut up = Vec::with_capacity(kappas.len());
    let mut rho = grid.seed(0.0);
    for &k in kappas {
        let seeded: Vec<f64> = rho
            .iter()
            .zip(grid.seed(1e-6))
            .map(|(a, s)| a + s - 1.0)
            .collect();
        let s = grid.solve(k, &seeded, tol)?;
        rho.clone_from(&s.rho);
        up.push(s);
    }
    let mut down = Vec::with_capacity(kappas.len());
    for &k in kappas.iter().rev() {
        let s = grid.solve(k, &rho, tol)?;
        rho.clone_from(&s.rho);
        down.push(s);
    }
    down.reverse();
    Ok((up, down))
}

/// The particle side of a sweep: n particles on S^{d-1}, USA field, inverse temperatures swept up
/// then down.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SweepSpec {
    /// Particles.
    pub n: usize,
    /// Ambient dimension (S^{d-1}).
    pub d: usize,
    /// Kernel parameter.
    pub beta: f64,
    /// Inverse temperatures of the up sweep (the down sweep visits them in reverse).
    pub kappas: Vec<f64>,
    /// Step of the Euler-Maruyama scheme.
    pub dt: f64,
    /// Time spent at each kappa (r averaged over its second half, read every step).
    pub stage_time: f64,
    /// Seed: initial data stream (seed, 0, InitialCondition), stage s noise stream (seed, s, Noise)
    /// (up stages 0..K, down stages K..2K).
    pub seed: u64,
    /// Retraction of the noisy step.
    pub scheme: NoiseScheme,
}

/// Time-averaged order parameters of a sweep, in the order of `kappas`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SweepResult {
    /// Up sweep (from uniform data).
    pub up: Vec<f64>,
    /// Down sweep (from the last up state).
    pub down: Vec<f64>,
}

fn order_of(x: &[f64], n: usize, d: usize) -> f64 {
    let mut m = vec![0.0; d];
    for row in x.chunks_exact(d) {
        m.iter_mut().zip(row).for_each(|(a, b)| *a += b);
    }
    m.iter().map(|v| v * v).sum::<f64>().sqrt() / n as f64
}

/// Runs one stage of `steps` steps at `kappa` from `x`; returns the mean of r over the second half.
fn stage(
    field: &SelfAttention,
    x: &mut Configuration,
    kappa: f64,
    spec: &SweepSpec,
    steps: usize,
    index: u64,
) -> Result<f64> {
    let noise = Noise::new(kappa, spec.scheme)?;
    let stepper = EulerMaruyama::new(noise, stream(spec.seed, index, Purpose::Noise));
    let mut solver = Solver::new(field, stepper, x, spec.dt)?;
    let (mut sum, mut count) = (0.0, 0usize);
    for k in 1..=steps {
        solver.step()?;
        if 2 * k > steps {
            sum += order_of(solver.state().as_slice(), spec.n, spec.d);
            count += 1;
        }
    }
    *x = solver.state().to_configuration()?;
    Ok(sum / count.max(1) as f64)
}

/// The particle sweep of `spec` (see [`SweepSpec`]).
pub fn sde_sweep(spec: &SweepSpec) -> Result<SweepResult> {
    check_positive("dt", spec.dt)?;
    check_positive("stage_time", spec.stage_time)?;
    check_non_negative("beta", spec.beta)?;
    if spec.n == 0 || spec.kappas.is_empty() {
        return Err(invalid("n", "need n >= 1 and at least one kappa"));
    }
    let steps = (spec.stage_time / spec.dt).round().max(2.0) as usize;
    let field = SelfAttention::usa(spec.beta)?;
    let mut x = uniform_sphere(
        spec.n,
        spec.d,
        &mut stream(spec.seed, 0, Purpose::InitialCondition),
    )?;
    let k = spec.kappas.len() as u64;
    let mut up = Vec::with_capacity(spec.kappas.len());
    for (s, &kappa) in spec.kappas.iter().enumerate() {
        up.push(stage(&field, &mut x, kappa, spec, steps, s as u64)?);
    }
    let mut down = Vec::with_capacity(spec.kappas.len());
    for (s, &kappa) in spec.kappas.iter().enumerate().rev() {
        down.push(stage(&field, &mut x, kappa, spec, steps, k + s as u64)?);
    }
    down.reverse();
    Ok(SweepResult { up, down })
}

/// Several sweeps in parallel (one per spec; each is deterministic on its own streams).
pub fn sde_sweeps(specs: &[SweepSpec]) -> Result<Vec<SweepResult>> {
    specs.par_iter().map(sde_sweep).collect()
}

/// Long-time histogram of the angle to the empirical mean direction: n particles at `kappa` from
/// uniform data (streams as in [`SweepSpec`], stage 0), `burn_in` time, then every `every` steps
/// over `sample_time` the angles acos<x_i, m/|m|> binned into `bins` equal bins of (0, pi);
/// returned as densities against the uniform law of the angle (comparable with
/// [`Stationary::rho`] averaged over a bin).
#[allow(clippy::too_many_arguments)]
pub fn sde_angle_histogram(
    beta: f64,
    d: usize,
    n: usize,
    kappa: f64,
    dt: f64,
    burn_in: f64,
    sample_time: f64,
    every: usize,
    bins: usize,
    seed: u64,
) -> Result<Vec<f64>> {
    check_positive("dt", dt)?;
    check_non_negative("burn_in", burn_in)?;
    check_positive("sample_time", sample_time)?;
    if n < 2 || bins == 0 || every == 0 {
        return Err(invalid("n", "need n >= 2, bins >= 1, every >= 1"));
    }
    let field = SelfAttention::usa(beta)?;
    let x0 = uniform_sphere(n, d, &mut stream(seed, 0, Purpose::InitialCondition))?;
    let noise = Noise::new(kappa, NoiseScheme::Geodesic)?;
    let stepper = EulerMaruyama::new(noise, stream(seed, 0, Purpose::Noise));
    let mut solver = Solver::new(&field, stepper, &x0, dt)?;
    let burn = (burn_in / dt).round() as usize;
    solver.advance_to_step(burn)?;
    let samples = (sample_time / dt).round() as usize;
    let mut counts = vec![0.0; bins];
    let mut total = 0.0f64;
    for k in 1..=samples {
        solver.step()?;
        if !k.is_multiple_of(every) {
            continue;
        }
        let x = solver.state().as_slice();
        let mut m = vec![0.0; d];
        for row in x.chunks_exact(d) {
            m.iter_mut().zip(row).for_each(|(a, b)| *a += b);
        }
        let norm = m.iter().map(|v| v * v).sum::<f64>().sqrt();
        if norm == 0.0 {
            continue;
        }
        for row in x.chunks_exact(d) {
            let c: f64 = row.iter().zip(&m).map(|(a, b)| a * b).sum::<f64>() / norm;
            let angle = c.clamp(-1.0, 1.0).acos();
            let b = ((angle / std::f64::consts::PI) * bins as f64) as usize;
            counts[b.min(bins - 1)] += 1.0;
            total += 1.0;
        }
    }
    // uniform law of the angle: density proportional to sin^{d-2}; bin masses by a fine midpoint rule
    let fine = 64;
    let mut uniform = vec![0.0; bins];
    for (b, u) in uniform.iter_mut().enumerate() {
        for j in 0..fine {
            let t =
                (b as f64 + (j as f64 + 0.5) / fine as f64) * std::f64::consts::PI / bins as f64;
            *u += t.sin().powi(d as i32 - 2);
        }
    }
    let z: f64 = uniform.iter().sum();
    Ok(counts
        .iter()
        .zip(&uniform)
        .map(|(c, u)| (c / total.max(1.0)) / (u / z))
        .collect())
}

/// Bin averages (against the uniform law of the angle) of a grid density over `bins` equal bins
/// of (0, pi) (the grid size must be a multiple of `bins`).
pub fn bin_average(grid: &StationaryGrid, rho: &[f64], bins: usize) -> Result<Vec<f64>> {
    let m = grid.theta.len();
    if bins == 0 || !m.is_multiple_of(bins) || rho.len() != m {
        return Err(invalid("bins", "the grid size must be a multiple of bins"));
    }
    let per = m / bins;
    Ok((0..bins)
        .map(|b| {
            let range = b * per..(b + 1) * per;
            let mass: f64 = rho[range.clone()]
                .iter()
                .zip(&grid.weight[range.clone()])
                .map(|(r, w)| r * w)
                .sum();
            let w: f64 = grid.weight[range].iter().sum();
            mass / w
        })
        .collect())
}
