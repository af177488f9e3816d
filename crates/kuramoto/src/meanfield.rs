//! The mean-field (Vlasov) limit of SA and USA on the circle S^1 and its linear instability at the uniform
//! density (Bruno, Pasqualotto, Agazzi, arXiv 2410.23228; \[GLPR\] (7.1) as n -> infinity), with an optional
//! diffusion term (the Fokker-Planck equation of the noisy particles, D = 1/kappa):
//!
//!   d_t rho + d_th(rho v\[rho\]) = D d_th^2 rho,
//!   USA: v(th) = int W'(th - ph) rho(ph) dph,   W'(u) = -e^{beta cos u} sin u,
//!   SA:  v(th) = int W'(th - ph) rho(ph) dph / int e^{beta cos(th - ph)} rho(ph) dph,
//!
//! for a probability density rho on \[0, 2 pi) (int rho dth = 1; uniform = 1/(2 pi)). Sign check against the
//! particles of [`crate::circle`]: th_i' = -(1/n) sum_j e^{beta cos(th_i - th_j)} sin(th_i - th_j) is v\[mu_n\]
//! at th_i for the empirical measure mu_n = (1/n) sum_j delta_{th_j} (tested below): attraction.
//!
//! **Fourier form.** With rho_hat_k = (1/2 pi) int rho e^{-ik th} and e^{beta cos u} = sum_k I_k(beta) e^{iku},
//! d/du e^{beta cos u} = -beta e^{beta cos u} sin u gives W'(u) = (1/beta) d/du e^{beta cos u}, so
//! W'_hat_k = i k I_|k|(beta) / beta = i sgn(k) a_|k|, a_k = k I_k / beta = (I_{k-1} - I_{k+1}) / 2 (the
//! recurrence; it also holds at beta = 0, where a_1 = 1/2: the Kuramoto model). The convolution is
//! v_hat_k = 2 pi W'_hat_k rho_hat_k and Z_hat_k = 2 pi I_|k| rho_hat_k.
//!
//! **Linearisation at rho_0 = 1/(2 pi).** v\[rho_0\] = 0 (W' is odd) and Z\[rho_0\] = I_0(beta). For
//! rho = rho_0 + eps e^{ik th}: v = eps 2 pi i a_k e^{ik th} (USA), so
//! d_t eps = -rho_0 (ik)(2 pi i a_k) eps - D k^2 eps, i.e. the growth rate of mode k >= 1 is
//!
//!   lambda_k = k^2 I_k(beta) / beta - D k^2 (USA),   lambda_k = k^2 I_k(beta) / (beta I_0(beta)) - D k^2 (SA)
//!
//! (SA: the numerator vanishes at rho_0, so only its first variation counts, divided by Z = I_0). On
//! S^{d-1} the same computation with the spherical-harmonic expansion (Funk-Hecke: e^{beta <x, .>} acts on
//! degree-l harmonics by mu_l = Gamma(d/2)(2/beta)^{d/2-1} I_{l+d/2-1}(beta); USA's field is
//! (1/beta) grad_x of e^{beta <x, .>} * mu, and -div grad Y_l = l(l+d-2) Y_l) gives
//! lambda_l = l(l+d-2) mu_l / beta (SA: / mu_0), minus D l(l+d-2) with diffusion: d = 2 gives the line
//! above (mu_l = I_l). The d > 2 rates are [`attnflow_energy::instability::mean_field_rate`]; the fastest mode
//! k_max (~ sqrt(2 beta), identical for SA and USA without diffusion) is [`fastest_mode`].
//!
//! **Solvers** (grid th_j = 2 pi j / m, m a power of two, [`Scheme`]):
//!
//! - [`Scheme::Spectral`]: pseudo-spectral Fourier-Galerkin on the point values, 2/3 dealiasing (modes
//!   |k| <= m/3 kept, the state is projected on them, the flux rho v is formed from the truncated rho and
//!   truncated again; exact dealiasing for USA, whose flux is quadratic; SA's quotient is not polynomial),
//!   derivative and diffusion in Fourier space, classical explicit RK4 with
//!   dt <= min(dt_max, cfl / (K max|v| + D K^2)), K = m/3, cfl = 1. The k = 0 coefficient of the right-hand
//!   side is exactly zero, so the mass is conserved to round-off; the scheme is not positivity preserving.
//! - [`Scheme::FiniteVolume`]: cell averages on the cells centred at th_j; the velocity at the interfaces
//!   th_j + h/2 from the trigonometric interpolant of the cell averages (the same convolution, second-order
//!   consistent); MUSCL reconstruction with the minmod limiter and the upwind flux
//!   F = v^+ rho^L + v^- rho^R, central differences for diffusion, Shu-Osher SSP-RK3 with
//!   dt <= min(dt_max, cfl / (max|v| / h + 2 D / h^2)), cfl = 0.4. Each forward-Euler stage is then a convex
//!   combination of non-negative cell values (minmod slopes keep rho^L, rho^R in the range of the neighbours;
//!   the upwind CFL bound 1/2 of MUSCL), so rho >= 0 is preserved; conservative form: mass to round-off.
//!
//! **Particles** ([`particle_angles`]): th_i' = v\[mu_n\](th_i) for the empirical measure, summed exactly by the
//! Fourier series of e^{beta cos u} (`attnflow_dynamics::spectral`, truncated at relative tolerance
//! [`PARTICLE_TOL`] = 1e-13, the degree K recorded; O(n K) per evaluation instead of O(n^2)), integrated in
//! angles by classical fixed-step RK4 (no projection needed on S^1).
//!
//! Steps are chosen deterministically from the state (no randomness, fixed reduction order), and each
//! interval between requested times is ended exactly on the requested time.
//!
//! **API for other users** (e.g. a Fokker-Planck run): `MeanField::new(ModelKind::Usa, beta, d)?` with `d`
//! the diffusion D = 1/kappa >= 0, then `solve(Scheme::Spectral, &rho0, &times, dt_max)` on point values
//! (or cell averages for FV) of a density on [`grid`]`(m)`; [`MeanFieldRun::rho`] holds one profile per
//! requested time; [`fourier_coefficient`] / [`empirical_fourier_coefficient`] read the modes of a profile
//! and of particles with the same normalisation.

use crate::error::{KuramotoError, Result, check_finite_slice, check_non_negative, invalid};
use attnflow_dynamics::ModelKind;
use attnflow_dynamics::spectral::Truncation;
use std::f64::consts::PI;

/// Smallest grid of the solvers.
pub const MIN_GRID: usize = 16;
/// Largest grid of the solvers (2^20 points).
pub const MAX_GRID: usize = 1 << 20;
/// CFL number of the spectral RK4 step (module docs).
pub const SPECTRAL_CFL: f64 = 1.0;
/// CFL number of the finite-volume SSP-RK3 step (module docs).
pub const FV_CFL: f64 = 0.4;
/// Most steps one [`MeanField::solve`] (or [`particle_angles`]) call may take.
pub const MAX_STEPS: usize = 50_000_000;
/// Relative truncation tolerance of the particles' spectral summation ([`particle_angles`]).
pub const PARTICLE_TOL: f64 = attnflow_dynamics::spectral::DEFAULT_TOL;

fn energy_err(e: impl std::fmt::Display) -> KuramotoError {
    invalid("bessel", e.to_string())
}

/// The discretisation of [`MeanField::solve`] (module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scheme {
    /// Fourier pseudo-spectral, 2/3 dealiasing, explicit RK4.
    Spectral,
    /// MUSCL-minmod upwind finite volumes, SSP-RK3 (positivity preserving).
    FiniteVolume,
}

impl Scheme {
    /// Short name.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Spectral => "spectral",
            Scheme::FiniteVolume => "finite-volume",
        }
    }
}

/// Grid angles th_j = 2 pi j / m.
pub fn grid(m: usize) -> Vec<f64> {
    (0..m).map(|j| 2.0 * PI * j as f64 / m as f64).collect()
}

/// Mass int rho dth = (2 pi / m) sum_j rho_j of a grid profile.
pub fn mass(rho: &[f64]) -> f64 {
    2.0 * PI / rho.len().max(1) as f64 * rho.iter().sum::<f64>()
}

/// rho_hat_k = (1/2 pi) int rho e^{-ik th} dth of a grid profile (trapezoid rule: (1/m) sum_j rho_j e^{-ik th_j}),
/// as (re, im).
pub fn fourier_coefficient(rho: &[f64], k: i64) -> (f64, f64) {
    let m = rho.len().max(1) as f64;
    let (mut re, mut im) = (0.0, 0.0);
    for (j, r) in rho.iter().enumerate() {
        let a = -(k as f64) * 2.0 * PI * j as f64 / m;
        re += r * a.cos();
        im += r * a.sin();
    }
    (re / m, im / m)
}

/// The same coefficient for particles, (1/2 pi)(1/n) sum_j e^{-ik th_j}, as (re, im).
pub fn empirical_fourier_coefficient(theta: &[f64], k: i64) -> (f64, f64) {
    let n = theta.len().max(1) as f64;
    let (mut re, mut im) = (0.0, 0.0);
    for t in theta {
        let a = -(k as f64) * t;
        re += a.cos();
        im += a.sin();
    }
    (re / n / (2.0 * PI), im / n / (2.0 * PI))
}

/// The fastest-growing mode k_max = argmax_k lambda_k on S^{d-1} without diffusion (the same for SA and
/// USA; ~ sqrt(2 beta) for large beta), beta > 0.
pub fn fastest_mode(beta: f64, d: usize) -> Result<usize> {
    crate::error::check_positive("beta", beta)?;
    attnflow_energy::instability::fastest_degree(beta, d).map_err(energy_err)
}

/// Growth rate lambda_k of mode (degree) k >= 1 of the uniform density on S^{d-1} (module docs), with
/// diffusion D: l(l+d-2) (mu_l / beta [/ mu_0] - D). beta > 0, or beta = 0 on S^1 (Kuramoto: 1/2 - D at k = 1).
pub fn linear_rate(model: ModelKind, beta: f64, k: usize, d: usize, diffusion: f64) -> Result<f64> {
    check_non_negative("diffusion", diffusion)?;
    check_non_negative("beta", beta)?;
    if k == 0 {
        return Err(invalid("k", "the mode must be >= 1"));
    }
    let lap = k as f64 * (k as f64 + d as f64 - 2.0);
    let drift = if d == 2 {
        let c = coefficients(beta, k + 1, true)?;
        let a = 0.5 * (c.bessel[k - 1] - c.bessel[k + 1]);
        match model {
            ModelKind::Usa => k as f64 * a * beta.exp(),
            ModelKind::Sa => k as f64 * a / c.bessel[0],
        }
    } else {
        attnflow_energy::instability::mean_field_rate(model, k, beta, d).map_err(energy_err)?
    };
    Ok(drift - diffusion * lap)
}

/// Bessel coefficients I_k(beta) (optionally scaled by e^{-beta}) for k = 0..=k_max.
struct Coefficients {
    bessel: Vec<f64>,
}

fn coefficients(beta: f64, k_max: usize, scaled: bool) -> Result<Coefficients> {
    let mut bessel = Vec::with_capacity(k_max + 2);
    for k in 0..=k_max + 1 {
        let v = if scaled {
            attnflow_energy::bessel::bessel_i_scaled(k as f64, beta)
        } else {
            attnflow_energy::bessel::bessel_i(k as f64, beta)
        }
        .map_err(energy_err)?;
        bessel.push(v);
    }
    Ok(Coefficients { bessel })
}

/// Radix-2 complex FFT of a fixed power-of-two size (forward: sum_j x_j e^{-2 pi i jk/m}; inverse with
/// e^{+...}, unscaled).
#[derive(Debug, Clone)]
struct Fft {
    m: usize,
    cos: Vec<f64>,
    sin: Vec<f64>,
    rev: Vec<usize>,
}

impl Fft {
    fn new(m: usize) -> Self {
        let bits = m.trailing_zeros();
        let rev = (0..m)
            .map(|i| {
                if bits == 0 {
                    0
                } else {
                    i.reverse_bits() >> (usize::BITS - bits)
                }
            })
            .collect();
        let (cos, sin) = (0..m / 2)
            .map(|j| {
                let a = 2.0 * PI * j as f64 / m as f64;
                (a.cos(), a.sin())
            })
            .unzip();
        Self { m, cos, sin, rev }
    }

    fn transform(&self, re: &mut [f64], im: &mut [f64], inverse: bool) {
        let m = self.m;
        for i in 0..m {
            let j = self.rev[i];
            if j > i {
                re.swap(i, j);
                im.swap(i, j);
            }
        }
        let sign = if inverse { 1.0 } else { -1.0 };
        let mut len = 2;
        while len <= m {
            let half = len / 2;
            let stride = m / len;
            for start in (0..m).step_by(len) {
                for j in 0..half {
                    let (c, s) = (self.cos[j * stride], sign * self.sin[j * stride]);
                    let (a, b) = (start + j, start + j + half);
                    let tr = re[b] * c - im[b] * s;
                    let ti = re[b] * s + im[b] * c;
                    re[b] = re[a] - tr;
                    im[b] = im[a] - ti;
                    re[a] += tr;
                    im[a] += ti;
                }
            }
            len *= 2;
        }
    }
}

/// Signed wave number of FFT bin b (the Nyquist bin m/2 is reported as m/2 and always zeroed).
fn wave(b: usize, m: usize) -> i64 {
    if b <= m / 2 {
        b as i64
    } else {
        b as i64 - m as i64
    }
}

/// The mean-field equation on S^1 (module docs): model, beta, diffusion D = 1/kappa.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MeanField {
    pub model: ModelKind,
    pub beta: f64,
    pub diffusion: f64,
}

/// Profiles at the requested times and the work done.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MeanFieldRun {
    pub scheme: Scheme,
    pub times: Vec<f64>,
    /// One grid profile per requested time.
    pub rho: Vec<Vec<f64>>,
    /// Time steps taken in all.
    pub steps: usize,
    /// Smallest value of rho over the stored profiles.
    pub min_rho: f64,
}

/// Per-grid precomputation: FFT, velocity multipliers (2 pi W'_hat, 2 pi I_k at the needed shift).
struct Work {
    m: usize,
    fft: Fft,
    /// 2 pi a_|k| per bin (times i sgn k gives the velocity multiplier), zero outside the kept modes.
    vel: Vec<f64>,
    /// 2 pi I_|k| (SA denominator), scaled like `vel`.
    norm: Vec<f64>,
    /// Kept-mode mask (2/3 rule for the spectral scheme, every mode below Nyquist for FV).
    keep: Vec<bool>,
}

impl MeanField {
    /// Validates beta >= 0 finite (USA: e^{beta} must stay finite, beta <= 700) and D >= 0.
    pub fn new(model: ModelKind, beta: f64, diffusion: f64) -> Result<Self> {
        check_non_negative("beta", beta)?;
        check_non_negative("diffusion", diffusion)?;
        if model == ModelKind::Usa && beta > 700.0 {
            return Err(invalid("beta", "USA overflows f64 above beta = 700"));
        }
        Ok(Self {
            model,
            beta,
            diffusion,
        })
    }

    /// Growth rate of mode k >= 1 at the uniform density ([`linear_rate`] on S^1).
    pub fn linear_rate(&self, k: usize) -> Result<f64> {
        linear_rate(self.model, self.beta, k, 2, self.diffusion)
    }

    fn work(&self, m: usize, scheme: Scheme) -> Result<Work> {
        let k_keep = match scheme {
            Scheme::Spectral => m / 3,
            Scheme::FiniteVolume => m / 2 - 1,
        };
        // SA: scale numerator and denominator by e^{-beta}; USA: unscaled
        let c = coefficients(self.beta, k_keep + 1, self.model == ModelKind::Sa)?;
        let mut vel = vec![0.0; m];
        let mut norm = vec![0.0; m];
        let mut keep = vec![false; m];
        for b in 0..m {
            let k = wave(b, m);
            let ka = k.unsigned_abs() as usize;
            if ka <= k_keep && 2 * ka != m {
                keep[b] = true;
                let a = if ka == 0 {
                    0.0
                } else {
                    0.5 * (c.bessel[ka - 1] - c.bessel[ka + 1])
                };
                vel[b] = 2.0 * PI * a * (k.signum() as f64);
                norm[b] = 2.0 * PI * c.bessel[ka];
            }
        }
        Ok(Work {
            m,
            fft: Fft::new(m),
            vel,
            norm,
            keep,
        })
    }

    /// Velocity v\[rho\] at th_j + shift of the grid profile `rho` (trigonometric interpolation of rho,
    /// modes in `w.keep`).
    fn velocity(&self, w: &Work, rho: &[f64], shift: f64) -> Result<Vec<f64>> {
        let m = w.m;
        let mut re = rho.to_vec();
        let mut im = vec![0.0; m];
        w.fft.transform(&mut re, &mut im, false);
        let (mut vr, mut vi) = (vec![0.0; m], vec![0.0; m]);
        let (mut zr, mut zi) = (vec![0.0; m], vec![0.0; m]);
        for b in 0..m {
            if !w.keep[b] {
                continue;
            }
            let (mut cr, mut ci) = (re[b] / m as f64, im[b] / m as f64);
            if shift != 0.0 {
                let a = wave(b, m) as f64 * shift;
                let (s, c) = a.sin_cos();
                (cr, ci) = (cr * c - ci * s, cr * s + ci * c);
            }
            // i * vel * (cr + i ci) = vel * (-ci + i cr)
            vr[b] = -w.vel[b] * ci;
            vi[b] = w.vel[b] * cr;
            zr[b] = w.norm[b] * cr;
            zi[b] = w.norm[b] * ci;
        }
        w.fft.transform(&mut vr, &mut vi, true);
        if self.model == ModelKind::Sa {
            w.fft.transform(&mut zr, &mut zi, true);
            for (v, z) in vr.iter_mut().zip(&zr) {
                if *z <= 0.0 {
                    return Err(KuramotoError::NonFinite {
                        what: "SA mean-field normalisation (density far from positive)",
                    });
                }
                *v /= z;
            }
        }
        Ok(vr)
    }

    /// Right-hand side of the spectral scheme; also returns max |v|.
    fn rhs_spectral(&self, w: &Work, rho: &[f64], out: &mut [f64]) -> Result<f64> {
        let m = w.m;
        let v = self.velocity(w, rho, 0.0)?;
        let vmax = v.iter().fold(0.0f64, |a, x| a.max(x.abs()));
        let mut fr: Vec<f64> = rho.iter().zip(&v).map(|(r, v)| r * v).collect();
        let mut fi = vec![0.0; m];
        w.fft.transform(&mut fr, &mut fi, false);
        let mut rr = rho.to_vec();
        let mut ri = vec![0.0; m];
        w.fft.transform(&mut rr, &mut ri, false);
        let (mut or, mut oi) = (vec![0.0; m], vec![0.0; m]);
        for b in 0..m {
            if !w.keep[b] {
                continue;
            }
            let k = wave(b, m) as f64;
            // -i k F_hat - D k^2 rho_hat
            or[b] = (k * fi[b] - self.diffusion * k * k * rr[b]) / m as f64;
            oi[b] = (-k * fr[b] - self.diffusion * k * k * ri[b]) / m as f64;
        }
        w.fft.transform(&mut or, &mut oi, true);
        out.copy_from_slice(&or);
        Ok(vmax)
    }

    /// Right-hand side of the finite-volume scheme; also returns max |v| at the interfaces.
    fn rhs_fv(&self, w: &Work, rho: &[f64], out: &mut [f64]) -> Result<f64> {
        let m = w.m;
        let h = 2.0 * PI / m as f64;
        let v = self.velocity(w, rho, 0.5 * h)?;
        let vmax = v.iter().fold(0.0f64, |a, x| a.max(x.abs()));
        let minmod = |a: f64, b: f64| {
            if a * b <= 0.0 {
                0.0
            } else if a.abs() < b.abs() {
                a
            } else {
                b
            }
        };
        let slope: Vec<f64> = (0..m)
            .map(|j| {
                let l = rho[(j + m - 1) % m];
                let r = rho[(j + 1) % m];
                minmod(rho[j] - l, r - rho[j])
            })
            .collect();
        // flux at interface j + 1/2
        let flux: Vec<f64> = (0..m)
            .map(|j| {
                let jp = (j + 1) % m;
                let left = rho[j] + 0.5 * slope[j];
                let right = rho[jp] - 0.5 * slope[jp];
                let adv = v[j].max(0.0) * left + v[j].min(0.0) * right;
                adv - self.diffusion * (rho[jp] - rho[j]) / h
            })
            .collect();
        for j in 0..m {
            out[j] = -(flux[j] - flux[(j + m - 1) % m]) / h;
        }
        Ok(vmax)
    }

    /// Integrates from the grid profile `rho0` (m = len, a power of two in [`MIN_GRID`], [`MAX_GRID`]) to
    /// each of `times` (non-decreasing, >= 0), with steps <= `dt_max` and the scheme's CFL bound (module
    /// docs). Returns the profile at every requested time.
    pub fn solve(
        &self,
        scheme: Scheme,
        rho0: &[f64],
        times: &[f64],
        dt_max: f64,
    ) -> Result<MeanFieldRun> {
        let m = rho0.len();
        if !(MIN_GRID..=MAX_GRID).contains(&m) || !m.is_power_of_two() {
            return Err(invalid(
                "grid",
                format!("need a power of two in [{MIN_GRID}, {MAX_GRID}] points, got {m}"),
            ));
        }
        check_finite_slice("rho0", rho0)?;
        crate::error::check_positive("dt_max", dt_max)?;
        if times.iter().any(|t| !t.is_finite() || *t < 0.0) || times.windows(2).any(|p| p[1] < p[0])
        {
            return Err(invalid("times", "must be finite, >= 0 and non-decreasing"));
        }
        let w = self.work(m, scheme)?;
        let h = 2.0 * PI / m as f64;
        let k_keep = (m / 3) as f64;
        let mut rho = rho0.to_vec();
        if scheme == Scheme::Spectral {
            // project on the kept modes
            let mut re = rho.clone();
            let mut im = vec![0.0; m];
            w.fft.transform(&mut re, &mut im, false);
            for b in 0..m {
                if !w.keep[b] {
                    re[b] = 0.0;
                    im[b] = 0.0;
                }
            }
            w.fft.transform(&mut re, &mut im, true);
            rho = re.iter().map(|x| x / m as f64).collect();
        }
        let rhs = |rho: &[f64], out: &mut [f64]| -> Result<f64> {
            match scheme {
                Scheme::Spectral => self.rhs_spectral(&w, rho, out),
                Scheme::FiniteVolume => self.rhs_fv(&w, rho, out),
            }
        };
        let dt_bound = |vmax: f64| match scheme {
            Scheme::Spectral => SPECTRAL_CFL / (k_keep * vmax + self.diffusion * k_keep * k_keep),
            Scheme::FiniteVolume => FV_CFL / (vmax / h + 2.0 * self.diffusion / (h * h)),
        };
        let mut t = 0.0;
        let mut steps = 0usize;
        let mut out = Vec::with_capacity(times.len());
        let mut min_rho = f64::INFINITY;
        let (mut k1, mut k2, mut k3, mut k4) =
            (vec![0.0; m], vec![0.0; m], vec![0.0; m], vec![0.0; m]);
        let mut stage = vec![0.0; m];
        for &target in times {
            while t < target {
                let vmax = rhs(&rho, &mut k1)?;
                let mut dt = dt_max.min(dt_bound(vmax));
                if t + dt >= target || target - (t + dt) < 1e-12 * dt {
                    dt = target - t;
                }
                match scheme {
                    Scheme::Spectral => {
                        for j in 0..m {
                            stage[j] = rho[j] + 0.5 * dt * k1[j];
                        }
                        rhs(&stage, &mut k2)?;
                        for j in 0..m {
                            stage[j] = rho[j] + 0.5 * dt * k2[j];
                        }
                        rhs(&stage, &mut k3)?;
                        for j in 0..m {
                            stage[j] = rho[j] + dt * k3[j];
                        }
                        rhs(&stage, &mut k4)?;
                        for j in 0..m {
                            rho[j] += dt / 6.0 * (k1[j] + 2.0 * k2[j] + 2.0 * k3[j] + k4[j]);
                        }
                    }
                    Scheme::FiniteVolume => {
                        // Shu-Osher SSP-RK3
                        for j in 0..m {
                            stage[j] = rho[j] + dt * k1[j];
                        }
                        rhs(&stage, &mut k2)?;
                        for j in 0..m {
                            k3[j] = 0.75 * rho[j] + 0.25 * (stage[j] + dt * k2[j]);
                        }
                        rhs(&k3, &mut k4)?;
                        for j in 0..m {
                            rho[j] = rho[j] / 3.0 + 2.0 / 3.0 * (k3[j] + dt * k4[j]);
                        }
                    }
                }
                t = if dt == target - t { target } else { t + dt };
                steps += 1;
                if steps > MAX_STEPS {
                    return Err(invalid(
                        "dt_max",
                        format!("more than {MAX_STEPS} steps needed"),
                    ));
                }
                if rho.iter().any(|x| !x.is_finite()) {
                    return Err(KuramotoError::NonFinite {
                        what: "mean-field solution",
                    });
                }
            }
            min_rho = rho.iter().copied().fold(min_rho, f64::min);
            out.push(rho.clone());
        }
        Ok(MeanFieldRun {
            scheme,
            times: times.to_vec(),
            rho: out,
            steps,
            min_rho,
        })
    }
}

/// Trigonometric interpolant of the grid profile `rho` (modes |k| < m/2) evaluated at `theta`.
pub fn interpolate(rho: &[f64], theta: &[f64]) -> Vec<f64> {
    let m = rho.len();
    let coef: Vec<(i64, f64, f64)> = (0..m)
        .map(|b| wave(b, m))
        .filter(|k| 2 * k.unsigned_abs() as usize != m)
        .map(|k| {
            let (re, im) = fourier_coefficient(rho, k);
            (k, re, im)
        })
        .collect();
    theta
        .iter()
        .map(|t| {
            coef.iter()
                .map(|&(k, re, im)| {
                    let (s, c) = (k as f64 * t).sin_cos();
                    re * c - im * s
                })
                .sum()
        })
        .collect()
}

/// One grid of a convergence study: L1 error int |rho_m - rho_ref| and the mass drift.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ConvergencePoint {
    pub m: usize,
    pub l1_error: f64,
    /// |mass(T) - mass(0)|.
    pub mass_drift: f64,
    pub steps: usize,
    /// min_j rho_j over the run's final profile.
    pub min_rho: f64,
}

/// Grid convergence of `scheme` at time `t`: the initial density `f` sampled at the grid points (cell
/// centres for FV), each grid of `grids` solved with `dt_max`, the L1 error measured at the grid points
/// against the trigonometric interpolant of a spectral reference on `reference_m` points.
pub fn convergence(
    field: &MeanField,
    scheme: Scheme,
    f: &dyn Fn(f64) -> f64,
    grids: &[usize],
    t: f64,
    dt_max: f64,
    reference_m: usize,
) -> Result<Vec<ConvergencePoint>> {
    let sample = |m: usize| grid(m).into_iter().map(f).collect::<Vec<f64>>();
    let reference = field.solve(Scheme::Spectral, &sample(reference_m), &[t], dt_max)?;
    let reference = &reference.rho[0];
    grids
        .iter()
        .map(|&m| {
            let rho0 = sample(m);
            let run = field.solve(scheme, &rho0, &[t], dt_max)?;
            let exact = interpolate(reference, &grid(m));
            let h = 2.0 * PI / m as f64;
            let l1_error = h * run.rho[0]
                .iter()
                .zip(&exact)
                .map(|(a, b)| (a - b).abs())
                .sum::<f64>();
            Ok(ConvergencePoint {
                m,
                l1_error,
                mass_drift: (mass(&run.rho[0]) - mass(&rho0)).abs(),
                steps: run.steps,
                min_rho: run.min_rho,
            })
        })
        .collect()
}

/// Observed orders log2(e_i / e_{i+1}) / log2(m_{i+1} / m_i) between consecutive grids.
pub fn observed_orders(points: &[ConvergencePoint]) -> Vec<f64> {
    points
        .windows(2)
        .map(|p| (p[0].l1_error / p[1].l1_error).ln() / (p[1].m as f64 / p[0].m as f64).ln())
        .collect()
}

/// rho_0 = 1/(2 pi) + `amplitude` N(0, 1) per grid point (the authors' noisy uniform start), from the
/// named stream (seed, realisation, InitialCondition).
pub fn noisy_uniform(m: usize, amplitude: f64, seed: u64, realisation: u64) -> Vec<f64> {
    use attnflow_dynamics::sampling::{Purpose, standard_normal, stream};
    let mut rng = stream(seed, realisation, Purpose::InitialCondition);
    (0..m)
        .map(|_| 1.0 / (2.0 * PI) + amplitude * standard_normal(&mut rng))
        .collect()
}

/// n i.i.d. uniform angles in \[0, 2 pi) from the named stream (seed, realisation, InitialCondition).
pub fn uniform_angles(n: usize, seed: u64, realisation: u64) -> Vec<f64> {
    use attnflow_dynamics::sampling::{Purpose, stream, uniform01};
    let mut rng = stream(seed, realisation, Purpose::InitialCondition);
    (0..n).map(|_| 2.0 * PI * uniform01(&mut rng)).collect()
}

/// Particles of the same model, and how their field was summed.
#[derive(Debug, Clone, PartialEq)]
pub struct ParticleRun {
    /// The angles (not wrapped) at each requested time.
    pub angles: Vec<Vec<f64>>,
    /// The truncation of the spectral series (degree K, tolerance, tail bound).
    pub truncation: Truncation,
    /// RK4 steps taken in all.
    pub steps: usize,
}

/// Particles of the same model on S^1 = {(cos th, sin th)}: th_i' = the SA / USA angular velocity of
/// \[GLPR\] (2.6) with Q = K = V = I (the sign convention of the module docs), by the exact spectral summation
/// [`attnflow_dynamics::spectral::circle_angular_velocity_with`] (the series of e^{beta cos u} built once per
/// run at relative tolerance [`PARTICLE_TOL`], O(n K) per evaluation), integrated in angles (no projection
/// needed) by classical fixed-step RK4: between consecutive requested times the step is the interval divided
/// by ceil(interval / `dt`) (quotients within 1e-12 of an integer rounded down), so every requested time is
/// hit exactly and equal intervals that are multiples of `dt` take exactly `dt`.
/// `times` non-negative and non-decreasing; returns the angles at each of `times`.
pub fn particle_angles(
    model: ModelKind,
    beta: f64,
    theta0: &[f64],
    times: &[f64],
    dt: f64,
) -> Result<ParticleRun> {
    use attnflow_dynamics::spectral::{CircleSeries, circle_angular_velocity_with};
    check_non_negative("beta", beta)?;
    crate::error::check_positive("dt", dt)?;
    check_finite_slice("theta0", theta0)?;
    check_finite_slice("times", times)?;
    if theta0.is_empty() {
        return Err(invalid("theta0", "need at least one particle"));
    }
    if times.windows(2).any(|w| w[1] < w[0]) || times.first().is_some_and(|&t| t < 0.0) {
        return Err(invalid("times", "must be non-negative and non-decreasing"));
    }
    let series = CircleSeries::new(beta, PARTICLE_TOL)?;
    let n = theta0.len();
    let velocity = |th: &[f64], out: &mut [f64]| -> Result<()> {
        circle_angular_velocity_with(th, &series, model, out)?;
        if out.iter().any(|v| !v.is_finite()) {
            return Err(KuramotoError::NonFinite {
                what: "particle velocity",
            });
        }
        Ok(())
    };
    let (mut k1, mut k2, mut k3, mut k4, mut tmp) = (
        vec![0.0; n],
        vec![0.0; n],
        vec![0.0; n],
        vec![0.0; n],
        vec![0.0; n],
    );
    let mut theta = theta0.to_vec();
    let mut out = Vec::with_capacity(times.len());
    let (mut t, mut steps) = (0.0, 0usize);
    for &tk in times {
        let span = tk - t;
        if span > 0.0 {
            // a relative 1e-12 below the quotient: rounding of span / dt must not add a step
            let m = (span / dt * (1.0 - 1e-12)).ceil().max(1.0);
            if m > MAX_STEPS as f64 {
                return Err(invalid("dt", format!("{m} steps exceed {MAX_STEPS}")));
            }
            let m = m as usize;
            let h = span / m as f64;
            for _ in 0..m {
                velocity(&theta, &mut k1)?;
                tmp.iter_mut()
                    .zip(&theta)
                    .zip(&k1)
                    .for_each(|((y, x), k)| *y = x + 0.5 * h * k);
                velocity(&tmp, &mut k2)?;
                tmp.iter_mut()
                    .zip(&theta)
                    .zip(&k2)
                    .for_each(|((y, x), k)| *y = x + 0.5 * h * k);
                velocity(&tmp, &mut k3)?;
                tmp.iter_mut()
                    .zip(&theta)
                    .zip(&k3)
                    .for_each(|((y, x), k)| *y = x + h * k);
                velocity(&tmp, &mut k4)?;
                for i in 0..n {
                    theta[i] += h / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]);
                }
            }
            steps += m;
        }
        t = tk;
        out.push(theta.clone());
    }
    Ok(ParticleRun {
        angles: out,
        truncation: series.truncation(),
        steps,
    })
}

/// Density histogram of angles on `bins` equal bins of \[0, 2 pi) (integrates to 1), bin j = \[2 pi j / bins,
/// 2 pi (j + 1) / bins).
pub fn angle_histogram(theta: &[f64], bins: usize) -> Vec<f64> {
    let mut h = vec![0.0; bins.max(1)];
    let width = 2.0 * PI / h.len() as f64;
    for t in theta {
        let w = t.rem_euclid(2.0 * PI);
        let b = ((w / width) as usize).min(h.len() - 1);
        h[b] += 1.0;
    }
    let scale = 1.0 / (theta.len().max(1) as f64 * width);
    h.iter_mut().for_each(|x| *x *= scale);
    h
}

/// The k equally spaced angles where mode k of a small perturbation with coefficient `c` = rho_hat_k
/// (re, im) peaks: 2 |c| cos(k th + arg c) is maximal at th = (2 pi j - arg c) / k, j = 0..k, in \[0, 2 pi).
pub fn cluster_angles(c: (f64, f64), k: usize) -> Vec<f64> {
    let arg = c.1.atan2(c.0);
    (0..k)
        .map(|j| ((2.0 * PI * j as f64 - arg) / k as f64).rem_euclid(2.0 * PI))
        .collect()
}

/// End of the linear window: the first sample at which any of `amplitudes` (\[mode\]\[sample\]) reaches
/// `cap` (the number of samples if none does).
pub fn linear_window(amplitudes: &[Vec<f64>], cap: f64) -> usize {
    let len = amplitudes.iter().map(Vec::len).min().unwrap_or(0);
    (0..len)
        .find(|&i| amplitudes.iter().any(|a| a[i] >= cap))
        .unwrap_or(len)
}

/// The mode whose amplitude first reaches `cap` (1-based; None if none does): the observed dominant mode.
pub fn first_mode_to(amplitudes: &[Vec<f64>], cap: f64) -> Option<usize> {
    let end = linear_window(amplitudes, cap);
    amplitudes
        .iter()
        .enumerate()
        .filter(|(_, a)| a.get(end).is_some_and(|&x| x >= cap))
        .max_by(|a, b| a.1[end].total_cmp(&b.1[end]))
        .map(|(k, _)| k + 1)
}

/// Least-squares slope of ln a(t) over the first `end` samples (at least 3; else None): the measured
/// exponential growth rate in the linear window.
pub fn fitted_rate(times: &[f64], amplitude: &[f64], end: usize) -> Option<f64> {
    let n = end.min(amplitude.len()).min(times.len());
    if n < 3 {
        return None;
    }
    let (t, y): (Vec<f64>, Vec<f64>) = times[..n]
        .iter()
        .zip(&amplitude[..n])
        .map(|(&t, &a)| (t, a.ln()))
        .unzip();
    let mt = t.iter().sum::<f64>() / n as f64;
    let my = y.iter().sum::<f64>() / n as f64;
    let sxy: f64 = t.iter().zip(&y).map(|(a, b)| (a - mt) * (b - my)).sum();
    let sxx: f64 = t.iter().map(|a| (a - mt) * (a - mt)).sum();
    (sxx > 0.0).then(|| sxy / sxx)
}

/// |rho_hat_k| for k = 1..=modes of each profile: amplitudes\[k - 1\]\[i\] at profile i.
pub fn mode_amplitudes(profiles: &[Vec<f64>], modes: usize) -> Vec<Vec<f64>> {
    (1..=modes)
        .map(|k| {
            profiles
                .iter()
                .map(|r| {
                    let (re, im) = fourier_coefficient(r, k as i64);
                    re.hypot(im)
                })
                .collect()
        })
        .collect()
}

/// The same for particle snapshots (empirical coefficients).
pub fn empirical_mode_amplitudes(snapshots: &[Vec<f64>], modes: usize) -> Vec<Vec<f64>> {
    (1..=modes)
        .map(|k| {
            snapshots
                .iter()
                .map(|th| {
                    let (re, im) = empirical_fourier_coefficient(th, k as i64);
                    re.hypot(im)
                })
                .collect()
        })
        .collect()
}

/// Measured mode selection of the PDE at `beta`: from the noisy uniform start (amplitude `noise` per grid
/// point on `m` points), the spectral solver run to t1 = 2 / lambda_{k_max}; measured rate of mode k is
/// ln(|rho_hat_k(t1)| / |rho_hat_k(0)|) / t1 (linear regime for a small `noise`). Returns the measured
/// rates of k = 1..=modes and their argmax.
pub fn measured_mode_selection(
    field: &MeanField,
    m: usize,
    noise: f64,
    modes: usize,
    seed: u64,
    realisation: u64,
) -> Result<(Vec<f64>, usize)> {
    let k_max = fastest_mode(field.beta, 2)?;
    let t1 = 2.0 / field.linear_rate(k_max)?;
    let rho0 = noisy_uniform(m, noise, seed, realisation);
    let run = field.solve(Scheme::Spectral, &rho0, &[0.0, t1], t1 / 50.0)?;
    let amps = mode_amplitudes(&run.rho, modes);
    let rates: Vec<f64> = amps.iter().map(|a| (a[1] / a[0]).ln() / t1).collect();
    let best = rates
        .iter()
        .enumerate()
        .fold(
            (0, f64::NEG_INFINITY),
            |acc, (i, &r)| if r > acc.1 { (i, r) } else { acc },
        )
        .0
        + 1;
    Ok((rates, best))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn smooth(t: f64) -> f64 {
        (1.0 + 0.3 * t.cos() + 0.2 * (2.0 * t + 1.0).sin()) / (2.0 * PI)
    }

    #[test]
    fn velocity_is_the_convolution_with_w_prime() {
        // the trapezoid sum of int W'(th - ph) rho(ph) dph with W'(u) = -e^{beta cos u} sin u, by hand
        for model in [ModelKind::Usa, ModelKind::Sa] {
            let mf = MeanField::new(model, 3.0, 0.0).unwrap();
            let m = 64;
            let w = mf.work(m, Scheme::FiniteVolume).unwrap();
            let th = grid(m);
            let rho: Vec<f64> = th.iter().map(|&t| smooth(t)).collect();
            let v = mf.velocity(&w, &rho, 0.0).unwrap();
            let h = 2.0 * PI / m as f64;
            for i in [0, 5, 17, 40] {
                let (mut num, mut z) = (0.0, 0.0);
                for j in 0..m {
                    let u = th[i] - th[j];
                    num += -(3.0 * u.cos()).exp() * u.sin() * rho[j] * h;
                    z += (3.0 * u.cos()).exp() * rho[j] * h;
                }
                let expect = if model == ModelKind::Sa { num / z } else { num };
                assert!(
                    (v[i] - expect).abs() < 1e-12,
                    "{model:?} {i}: {} vs {expect}",
                    v[i]
                );
            }
        }
    }

    #[test]
    fn particle_field_is_the_empirical_velocity() {
        // v[mu_n] at th_i for the empirical measure equals the particle velocity of `circle`
        let theta = [0.1, 0.5, 2.0, 4.0, 4.1];
        let mut out = [0.0; 5];
        crate::circle::CircleModel::Usa { beta: 2.0 }
            .velocity(&theta, &mut out)
            .unwrap();
        for (i, &ti) in theta.iter().enumerate() {
            let v: f64 = theta
                .iter()
                .map(|&p| -(2.0 * (ti - p).cos()).exp() * (ti - p).sin() / 5.0)
                .sum();
            assert!((v - out[i]).abs() < 1e-14);
        }
    }

    #[test]
    fn spectral_particle_velocity_matches_the_direct_sum() {
        // the spectral sum against the direct O(n^2) formula of `circle`, relative to the largest velocity
        use crate::circle::CircleModel;
        use attnflow_dynamics::spectral::{CircleSeries, circle_angular_velocity_with};
        let theta = uniform_angles(64, 11, 0);
        for model in [ModelKind::Usa, ModelKind::Sa] {
            for beta in [0.5, 5.0, 7.0, 20.0] {
                let direct_model = match model {
                    ModelKind::Usa => CircleModel::Usa { beta },
                    ModelKind::Sa => CircleModel::Sa { beta },
                };
                let mut direct = vec![0.0; theta.len()];
                direct_model.velocity(&theta, &mut direct).unwrap();
                let series = CircleSeries::new(beta, PARTICLE_TOL).unwrap();
                let mut fast = vec![0.0; theta.len()];
                circle_angular_velocity_with(&theta, &series, model, &mut fast).unwrap();
                let scale = direct.iter().fold(0.0f64, |a, v| a.max(v.abs()));
                let err = direct
                    .iter()
                    .zip(&fast)
                    .fold(0.0f64, |a, (d, f)| a.max((d - f).abs()));
                assert!(
                    scale > 0.0 && err <= 1e-12 * scale,
                    "{model:?} beta {beta}: {err:e} / {scale:e}"
                );
            }
        }
    }

    #[test]
    fn spectral_particles_follow_the_direct_rk4() {
        // the same RK4 in angles with the direct field (`circle::trajectory`) gives the same angles
        let theta0 = uniform_angles(40, 5, 1);
        let times = [0.0, 0.05, 0.05, 0.12];
        let run = particle_angles(ModelKind::Usa, 5.0, &theta0, &times, 4e-3).unwrap();
        let direct = crate::circle::trajectory(
            &crate::circle::CircleModel::Usa { beta: 5.0 },
            &theta0,
            &times,
            4e-3,
        )
        .unwrap();
        for (a, b) in run.angles.iter().zip(&direct) {
            for (x, y) in a.iter().zip(b) {
                assert!((x - y).abs() < 1e-11, "{x} vs {y}");
            }
        }
        assert_eq!(run.steps, 13 + 18);
        assert_eq!(run.truncation.tol, PARTICLE_TOL);
        assert!(run.truncation.tail <= PARTICLE_TOL && run.truncation.degree > 5);
        // 60 intervals of 0.6 / 60 at dt = 1e-3: 600 steps (rounding of the quotient adds none)
        let grid_times: Vec<f64> = (0..=60).map(|i| 0.6 * i as f64 / 60.0).collect();
        let run = particle_angles(ModelKind::Usa, 5.0, &theta0[..8], &grid_times, 1e-3).unwrap();
        assert_eq!(run.steps, 600);
        assert!(particle_angles(ModelKind::Usa, 5.0, &theta0, &[0.1, 0.05], 1e-3).is_err());
        assert!(particle_angles(ModelKind::Usa, 5.0, &theta0, &[0.1], 0.0).is_err());
        assert!(particle_angles(ModelKind::Usa, 5.0, &[], &[0.1], 1e-3).is_err());
    }

    #[test]
    fn rates_match_the_funk_hecke_form_and_kuramoto() {
        for model in [ModelKind::Usa, ModelKind::Sa] {
            for (beta, k) in [(0.5, 1), (5.0, 3), (7.0, 4), (40.0, 9)] {
                let a = linear_rate(model, beta, k, 2, 0.0).unwrap();
                let b = attnflow_energy::instability::mean_field_rate(model, k, beta, 2).unwrap();
                assert!(
                    (a - b).abs() < 1e-12 * b,
                    "{model:?} {beta} {k}: {a} vs {b}"
                );
            }
        }
        assert!((linear_rate(ModelKind::Usa, 0.0, 1, 2, 0.1).unwrap() - 0.4).abs() < 1e-15);
        assert_eq!(linear_rate(ModelKind::Sa, 0.0, 2, 2, 0.0).unwrap(), 0.0);
        assert_eq!(fastest_mode(5.0, 2).unwrap(), 3);
        assert!(linear_rate(ModelKind::Usa, 1.0, 0, 2, 0.0).is_err());
    }

    fn measured_rate(mf: &MeanField, scheme: Scheme, m: usize, k: usize, t: f64) -> f64 {
        let eps = 1e-7;
        let rho0: Vec<f64> = grid(m)
            .iter()
            .map(|&th| 1.0 / (2.0 * PI) + eps * (k as f64 * th + 0.3).cos())
            .collect();
        let run = mf.solve(scheme, &rho0, &[t], 1e-3).unwrap();
        let amp = |r: &[f64]| {
            let (re, im) = fourier_coefficient(r, k as i64);
            re.hypot(im)
        };
        (amp(&run.rho[0]) / amp(&rho0)).ln() / t
    }

    #[test]
    fn linear_growth_matches_the_prediction() {
        for (model, diffusion) in [
            (ModelKind::Usa, 0.0),
            (ModelKind::Sa, 0.0),
            (ModelKind::Usa, 0.5),
        ] {
            let mf = MeanField::new(model, 5.0, diffusion).unwrap();
            for k in [1, 3, 5] {
                let predicted = mf.linear_rate(k).unwrap();
                let t = 1.0 / predicted.abs();
                let spectral = measured_rate(&mf, Scheme::Spectral, 64, k, t);
                assert!(
                    (spectral / predicted - 1.0).abs() < 1e-5,
                    "{model:?} D {diffusion} k {k}: {spectral} vs {predicted}"
                );
                let fv = measured_rate(&mf, Scheme::FiniteVolume, 512, k, t);
                assert!(
                    (fv / predicted - 1.0).abs() < 2e-2,
                    "FV {model:?} D {diffusion} k {k}: {fv} vs {predicted}"
                );
            }
        }
    }

    #[test]
    fn mass_is_conserved_and_fv_stays_positive() {
        // a density with a flat zero region: the FV solution must stay >= 0 while clusters form
        let bump = |t: f64| (t.cos().max(0.0)).powi(2) / PI;
        for model in [ModelKind::Usa, ModelKind::Sa] {
            let mf = MeanField::new(model, 4.0, 0.0).unwrap();
            let rho0: Vec<f64> = grid(256).into_iter().map(bump).collect();
            let times: Vec<f64> = (1..=10).map(|i| 0.05 * i as f64).collect();
            let fv = mf.solve(Scheme::FiniteVolume, &rho0, &times, 1.0).unwrap();
            assert!(fv.min_rho >= 0.0, "{model:?}: min {}", fv.min_rho);
            let m0 = mass(&rho0);
            for r in &fv.rho {
                assert!((mass(r) - m0).abs() < 1e-13, "{}", mass(r) - m0);
            }
            let sp = mf
                .solve(
                    Scheme::Spectral,
                    &noisy_uniform(128, 0.01, 1, 0),
                    &times,
                    1e-2,
                )
                .unwrap();
            let m0 = mass(&noisy_uniform(128, 0.01, 1, 0));
            for r in &sp.rho {
                assert!((mass(r) - m0).abs() < 1e-13, "{}", mass(r) - m0);
            }
        }
    }

    #[test]
    fn grid_convergence_spectral_exponential_fv_second_order() {
        let mf = MeanField::new(ModelKind::Usa, 2.0, 0.0).unwrap();
        let sp = convergence(
            &mf,
            Scheme::Spectral,
            &smooth,
            &[16, 32, 64],
            0.3,
            1e-3,
            256,
        )
        .unwrap();
        assert!(sp[0].l1_error > 1e3 * sp[2].l1_error, "{sp:?}");
        assert!(sp[2].l1_error < 1e-10, "{sp:?}");
        let fv = convergence(
            &mf,
            Scheme::FiniteVolume,
            &smooth,
            &[64, 128, 256],
            0.3,
            1e-3,
            256,
        )
        .unwrap();
        let orders = observed_orders(&fv);
        assert!(
            orders.iter().all(|&p| p > 1.6 && p < 2.6),
            "{orders:?} {fv:?}"
        );
    }

    #[test]
    fn mode_selection_from_small_noise_is_the_fastest_mode() {
        for beta in [2.0, 5.0, 7.0, 20.0] {
            let mf = MeanField::new(ModelKind::Usa, beta, 0.0).unwrap();
            let (rates, best) = measured_mode_selection(&mf, 128, 1e-7, 12, 3, 0).unwrap();
            assert_eq!(
                best,
                fastest_mode(beta, 2).unwrap(),
                "beta {beta}: {rates:?}"
            );
            let top = mf.linear_rate(best).unwrap();
            for (k, r) in rates.iter().enumerate() {
                let p = mf.linear_rate(k + 1).unwrap();
                assert!(
                    (r - p).abs() < 1e-4 * top,
                    "beta {beta} k {}: {r} vs {p}",
                    k + 1
                );
            }
        }
        let angles = cluster_angles((0.0, -1.0), 2);
        assert!((angles[0] - PI / 4.0).abs() < 1e-15 && (angles[1] - 5.0 * PI / 4.0).abs() < 1e-15);
        let h = angle_histogram(&[0.1, 0.2, 3.0, 7.0], 4);
        assert!((h.iter().sum::<f64>() * PI / 2.0 - 1.0).abs() < 1e-15);
    }

    #[test]
    fn bad_input_is_refused() {
        let mf = MeanField::new(ModelKind::Usa, 1.0, 0.0).unwrap();
        assert!(
            mf.solve(Scheme::Spectral, &[0.1; 100], &[1.0], 0.1)
                .is_err()
        );
        assert!(mf.solve(Scheme::Spectral, &[0.1; 8], &[1.0], 0.1).is_err());
        assert!(
            mf.solve(Scheme::Spectral, &[0.1; 64], &[1.0, 0.5], 0.1)
                .is_err()
        );
        assert!(mf.solve(Scheme::Spectral, &[0.1; 64], &[1.0], 0.0).is_err());
        assert!(MeanField::new(ModelKind::Usa, -1.0, 0.0).is_err());
        assert!(MeanField::new(ModelKind::Usa, 1.0, f64::NAN).is_err());
    }
}
