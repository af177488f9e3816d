//! Exact fast (spectral) summation of the (SA) and (USA) fields with Q = K = V = I on S^1 and
//! S^2, \[GLPR\] (2.6): instead of the n^2 pair weights, the kernel e^{beta <x, y>} is expanded
//! in characters of the rotation group and the field is read off O(K) (S^1) or O(L^2) (S^2)
//! moments of the configuration, O(n K) resp. O(n L^2) work per evaluation.
//!
//! On S^1, with x = (cos th, sin th) (Fourier series of e^{beta cos u}, DLMF 10.35.3):
//!
//! ```text
//! e^{beta cos(th - ph)} = I_0(beta) + 2 sum_{k >= 1} I_k(beta) cos(k (th - ph)),   M_k = sum_j e^{i k th_j}
//! T_i = sum_j e^{beta cos(th_i - th_j)} sin(th_j - th_i) = -sum_{k >= 1} (I_{k-1} - I_{k+1}) Im(e^{i k th_i} conj M_k)
//! R_i = sum_j e^{beta cos(th_i - th_j)} cos(th_j - th_i) = n I_1 + sum_{k >= 1} (I_{k-1} + I_{k+1}) Re(e^{i k th_i} conj M_k)
//! Z_i = sum_j e^{beta cos(th_i - th_j)}                  = n I_0 + 2 sum_{k >= 1} I_k Re(e^{i k th_i} conj M_k)
//! ```
//!
//! and I_{k-1} - I_{k+1} = (2k / beta) I_k (DLMF 10.29.1); the drift sum_j A_ij x_j is
//! s_i (R_i x_i + T_i t_i) with t_i = (-sin th_i, cos th_i), s_i = 1/n (USA) or 1/Z_i (SA), and
//! the angular velocity is th_i' = s_i T_i.
//!
//! On S^2 (Funk-Hecke, DLMF 10.60.7 with P_l and the addition theorem DLMF 14.18.1 / 14.30.9):
//!
//! ```text
//! e^{beta <x, y>} = sum_l (2l + 1) i_l(beta) P_l(<x, y>) = 4 pi sum_l i_l(beta) sum_m Y_lm(x) Y_lm(y)
//! Z(x) = 4 pi sum_{l, m} i_l Y_lm(x) S_lm,   G_a(x) = 4 pi sum_{l, m} i_l Y_lm(x) S^a_lm,
//! S_lm = sum_j Y_lm(x_j),   S^a_lm = sum_j (x_j)_a Y_lm(x_j),   a = 1, 2, 3
//! ```
//!
//! with i_l(beta) = sqrt(pi / (2 beta)) I_{l+1/2}(beta) the modified spherical Bessel function
//! and Y_lm the real orthonormal spherical harmonics; the drift is G(x_i) / n (USA) or
//! G(x_i) / Z(x_i) (SA) (the tangent projection follows in [`crate::VectorField::velocity_into`]).
//!
//! Numerics. Every coefficient is scaled by e^{-beta}: Ie_k = e^{-beta} I_k(beta) and
//! ie_l = e^{-beta} i_l(beta), so the scaled kernel e^{beta (<x, y> - 1)} lies in (0, 1] and never
//! overflows; the (USA) factor e^{beta} / n is applied last (beta > 709 is
//! [`DynamicsError::WeightOverflow`], as in the direct sum). The coefficients come from the
//! backward ratio recurrences r_k = beta / (2k + beta r_{k+1}) (resp. beta / (2l + 1 + beta r_{l+1}))
//! normalised by Ie_0 + 2 sum_k Ie_k = 1 (resp. sum_l (2l + 1) ie_l = 1), the value of the
//! scaled kernel at <x, y> = 1: all terms positive, no cancellation, no division by beta. The
//! velocity coefficient (2k / beta) Ie_k is formed as Ie_{k-1} 2k / (2k + beta r_{k+1}).
//!
//! Truncation. The degree K (resp. L) is the smallest with a coefficient tail
//! 2 sum_{k > K - 1} Ie_k (resp. sum_{l > L} (2l + 1) ie_l) at most `tol` times Ie_0 (resp. ie_0):
//! the tail bounds the sup norm of the truncation error of the scaled kernel, and Ie_0 (ie_0) is
//! the scaled kernel's mean over the sphere, the scale of Z_i / n for spread-out configurations
//! (about 1 / sqrt(2 pi beta) on S^1 and 1 / (2 beta) on S^2 for large beta). So the absolute
//! error of each scaled sum T, R, Z, G is at most `tol` Ie_0 n; measured relative errors of the
//! velocity (max over entries, against the direct sum) are below 1e-13 at `tol` = 1e-13 for
//! beta <= 20 (`tests/spectral.rs`). The tail is recorded in [`Truncation`].
//!
//! Determinism. The moments are summed per fixed chunk of [`CHUNK`] particles, in parallel, and
//! the chunk sums added in chunk order; each particle's field is evaluated independently: the
//! same bits with any number of threads.
//!
//! The spectral field is the field of the directions x_i / |x_i| (identical on the sphere).

use crate::error::{DynamicsError, Result, invalid};
use crate::model::{Geometry, Mask, ModelKind, SelfAttention, Value};
use rayon::prelude::*;

/// Default relative tolerance of the truncation.
pub const DEFAULT_TOL: f64 = 1e-13;
/// Particles per chunk of the moment sums (fixed: the reduction order does not depend on threads).
pub const CHUNK: usize = 2048;
/// Largest Fourier degree K on S^1.
pub const MAX_CIRCLE_DEGREE: usize = 20_000;
/// Largest harmonic degree L on S^2.
pub const MAX_SPHERE_DEGREE: usize = 300;

/// How the sums over j of the attention field are evaluated.
///
/// ```
/// use attnflow_dynamics::spectral::Summation;
/// assert_eq!(serde_json::to_string(&Summation::Direct).unwrap(), "\"direct\"");
/// let s: Summation = serde_json::from_str(r#"{"spectral":{"tol":1e-10}}"#).unwrap();
/// assert_eq!(s, Summation::Spectral { tol: 1e-10 });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Summation {
    /// Every pair (i, j): O(n^2 d).
    #[default]
    Direct,
    /// The series of the module docs, truncated at relative tolerance `tol` (in (0, 1)): O(n K)
    /// on S^1, O(n L^2) on S^2; only for one head with Q = K = V = I (or scalar multiples),
    /// no mask, Post-LN, on the sphere with d = 2 or 3.
    Spectral { tol: f64 },
}

impl Summation {
    /// True for [`Summation::Direct`] (serde's `skip_serializing_if`).
    pub fn is_direct(&self) -> bool {
        matches!(self, Summation::Direct)
    }
    /// Spectral summation at the default tolerance [`DEFAULT_TOL`].
    pub fn spectral() -> Self {
        Summation::Spectral { tol: DEFAULT_TOL }
    }
    /// The name as written in specs and on the command line.
    pub fn name(&self) -> &'static str {
        match self {
            Summation::Direct => "direct",
            Summation::Spectral { .. } => "spectral",
        }
    }
}

/// The method alone, as a command-line value (`--summation direct|spectral`; with the cargo
/// feature `clap`, a `clap::ValueEnum`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum SummationKind {
    /// Every pair (i, j).
    #[default]
    Direct,
    /// Fourier / spherical-harmonic series (S^1, S^2, Q = K = V = I, no mask).
    Spectral,
}

impl SummationKind {
    /// True for [`SummationKind::Direct`].
    pub fn is_direct(&self) -> bool {
        matches!(self, SummationKind::Direct)
    }
    /// The [`Summation`] with tolerance `tol` (`None`: [`DEFAULT_TOL`]).
    pub fn with_tol(self, tol: Option<f64>) -> Summation {
        match self {
            SummationKind::Direct => Summation::Direct,
            SummationKind::Spectral => Summation::Spectral {
                tol: tol.unwrap_or(DEFAULT_TOL),
            },
        }
    }
}

/// The truncation a series was cut at.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Truncation {
    /// Highest degree kept: Fourier degree K on S^1, harmonic degree L on S^2.
    pub degree: usize,
    /// The requested relative tolerance.
    pub tol: f64,
    /// The tail of the scaled kernel's coefficients beyond the degree, divided by the
    /// kernel's mean (the 0-th coefficient), <= tol: a bound on the sup-norm error of the
    /// truncated scaled kernel relative to its mean.
    pub tail: f64,
}

/// `tol` must be finite and in (0, 1).
pub fn check_tol(tol: f64) -> Result<()> {
    if tol.is_finite() && tol > 0.0 && tol < 1.0 {
        Ok(())
    } else {
        Err(invalid(
            "summation.tol",
            format!("the spectral tolerance must be in (0, 1), got {tol}"),
        ))
    }
}

/// Scaled coefficients p_k / S from the backward ratio recurrence `ratio(k, r_{k+1})`, normalised
/// by `sum_k mult(k) p_k = 1`; the start index doubles until the last coefficient is negligible.
fn scaled_coefficients(
    beta: f64,
    tol: f64,
    max_degree: usize,
    ratio: impl Fn(usize, f64) -> f64,
    mult: impl Fn(usize) -> f64,
) -> Result<Vec<f64>> {
    if beta == 0.0 {
        return Ok(vec![1.0]);
    }
    let mut top = 64 + (4.0 * beta.sqrt()).ceil() as usize;
    loop {
        let mut r = vec![0.0; top + 2];
        for k in (1..=top).rev() {
            r[k] = ratio(k, r[k + 1]);
        }
        let mut p = Vec::with_capacity(top + 1);
        p.push(1.0);
        for k in 1..=top {
            let last = p[k - 1];
            p.push(last * r[k]);
        }
        let sum: f64 = p.iter().enumerate().map(|(k, v)| mult(k) * v).sum();
        p.iter_mut().for_each(|v| *v /= sum);
        // the neglected coefficients beyond `top` decay faster than geometrically from p[top]
        if mult(top) * p[top] < 1e-6 * p[0] * tol.min(1e-16) || p[top] == 0.0 {
            return Ok(p);
        }
        if top > 4 * max_degree + 64 {
            return Err(too_large(beta, tol, max_degree));
        }
        top *= 2;
    }
}

fn too_large(beta: f64, tol: f64, max_degree: usize) -> DynamicsError {
    invalid(
        "summation",
        format!(
            "spectral summation at beta = {beta} and tol = {tol:e} needs a degree above {max_degree}; use direct summation"
        ),
    )
}

/// Smallest degree whose tail `sum_{k > degree} mult(k) c_k` is at most tol c_0, and that tail
/// divided by c_0.
fn truncate(c: &[f64], tol: f64, mult: impl Fn(usize) -> f64) -> (usize, f64) {
    let tol = tol * c[0];
    let mut tail = 0.0;
    let mut degree = c.len() - 1;
    // tails accumulated from the smallest terms up
    for k in (1..c.len()).rev() {
        let next = tail + mult(k) * c[k];
        if next > tol {
            break;
        }
        tail = next;
        degree = k - 1;
    }
    (degree, tail / c[0])
}

/// The Fourier series of e^{beta (cos u - 1)} on S^1, truncated at a relative tolerance.
#[derive(Debug, Clone, PartialEq)]
pub struct CircleSeries {
    beta: f64,
    truncation: Truncation,
    /// Ie_k = e^{-beta} I_k(beta) for k = 0..=K + 1.
    scaled_i: Vec<f64>,
    /// e^{-beta} (I_{k-1} - I_{k+1}) = e^{-beta} (2k / beta) I_k for k = 0..=K (entry 0 unused).
    velocity: Vec<f64>,
}

impl CircleSeries {
    /// The series for inverse temperature `beta` (finite, >= 0) at tolerance `tol` (in (0, 1)).
    ///
    /// ```
    /// use attnflow_dynamics::spectral::CircleSeries;
    /// let s = CircleSeries::new(1.0, 1e-13)?;
    /// // I_0(1) = 1.2660658777520082 (DLMF 10.25.2)
    /// assert!((s.scaled_bessel(0) * 1f64.exp() - 1.2660658777520082).abs() < 1e-15);
    /// assert!(s.truncation().tail <= 1e-13);
    /// # Ok::<(), attnflow_dynamics::DynamicsError>(())
    /// ```
    pub fn new(beta: f64, tol: f64) -> Result<Self> {
        crate::validate::check_non_negative("beta", beta)?;
        check_tol(tol)?;
        let mult = |k: usize| if k == 0 { 1.0 } else { 2.0 };
        let ratios = |k: usize, next: f64| beta / (2.0 * k as f64 + beta * next);
        let mut c = scaled_coefficients(beta, tol, MAX_CIRCLE_DEGREE, ratios, mult)?;
        let (kernel_degree, tail) = truncate(&c, tol, mult);
        // the velocity coefficients I_{k-1} - I_{k+1} need one degree more than the kernel
        let degree = kernel_degree + 1;
        if degree > MAX_CIRCLE_DEGREE {
            return Err(too_large(beta, tol, MAX_CIRCLE_DEGREE));
        }
        c.resize(c.len().max(degree + 2), 0.0);
        c.truncate(degree + 2);
        let mut velocity = vec![0.0; degree + 1];
        for k in 1..=degree {
            // r_{k+1} = Ie_{k+1} / Ie_k, and (2k / beta) Ie_k = Ie_{k-1} 2k / (2k + beta r_{k+1})
            let two_k = 2.0 * k as f64;
            velocity[k] = if beta == 0.0 {
                if k == 1 { 1.0 } else { 0.0 }
            } else {
                let r_next = if c[k] > 0.0 { c[k + 1] / c[k] } else { 0.0 };
                c[k - 1] * two_k / (two_k + beta * r_next)
            };
        }
        Ok(Self {
            beta,
            truncation: Truncation { degree, tol, tail },
            scaled_i: c,
            velocity,
        })
    }
    pub fn beta(&self) -> f64 {
        self.beta
    }
    /// The truncation (degree K, tolerance, tail bound).
    pub fn truncation(&self) -> Truncation {
        self.truncation
    }
    /// e^{-beta} I_k(beta) (0 beyond the computed range).
    pub fn scaled_bessel(&self, k: usize) -> f64 {
        self.scaled_i.get(k).copied().unwrap_or(0.0)
    }
}

/// The harmonic series of e^{beta (<x, y> - 1)} on S^2, truncated at a relative tolerance, with
/// the constants of the real orthonormal spherical harmonics up to its degree.
#[derive(Debug, Clone, PartialEq)]
pub struct SphereSeries {
    beta: f64,
    truncation: Truncation,
    /// ie_l = e^{-beta} i_l(beta), l = 0..=L.
    scaled_i: Vec<f64>,
    /// 4 pi ie_l per harmonic, in the order of [`SphereSeries::harmonics`].
    weights: Vec<f64>,
    /// Q_m^m (the sectoral constants), m = 0..=L.
    sectoral: Vec<f64>,
    /// (a_lm, b_lm) of the recurrence Q_l^m = a_lm (z Q_{l-1}^m - b_lm Q_{l-2}^m), in (m, l) order.
    recurrence: Vec<(f64, f64)>,
}

impl SphereSeries {
    /// The series for inverse temperature `beta` (finite, >= 0) at tolerance `tol` (in (0, 1)).
    ///
    /// ```
    /// use attnflow_dynamics::spectral::SphereSeries;
    /// let s = SphereSeries::new(2.0, 1e-13)?;
    /// // i_0(beta) = sinh(beta) / beta
    /// let i0 = 2f64.sinh() / 2.0;
    /// assert!((s.scaled_bessel(0) * 2f64.exp() - i0).abs() < 1e-15 * i0);
    /// # Ok::<(), attnflow_dynamics::DynamicsError>(())
    /// ```
    pub fn new(beta: f64, tol: f64) -> Result<Self> {
        crate::validate::check_non_negative("beta", beta)?;
        check_tol(tol)?;
        let mult = |l: usize| (2 * l + 1) as f64;
        let ratios = |l: usize, next: f64| beta / ((2 * l + 1) as f64 + beta * next);
        let mut c = scaled_coefficients(beta, tol, MAX_SPHERE_DEGREE, ratios, mult)?;
        let (degree, tail) = truncate(&c, tol, mult);
        if degree > MAX_SPHERE_DEGREE {
            return Err(too_large(beta, tol, MAX_SPHERE_DEGREE));
        }
        c.truncate(degree + 1);
        let four_pi = 4.0 * std::f64::consts::PI;
        let mut sectoral = Vec::with_capacity(degree + 1);
        let mut q = (1.0 / four_pi).sqrt();
        sectoral.push(q);
        for m in 1..=degree {
            q *= ((2 * m + 1) as f64 / (2 * m) as f64).sqrt();
            sectoral.push(q);
        }
        let mut recurrence = Vec::new();
        let mut weights = Vec::new();
        for m in 0..=degree {
            for (l, &cl) in c.iter().enumerate().skip(m) {
                let (lf, mf) = (l as f64, m as f64);
                let ab = if l >= m + 2 {
                    let a = ((4.0 * lf * lf - 1.0) / (lf * lf - mf * mf)).sqrt();
                    let l1 = lf - 1.0;
                    let b = ((l1 * l1 - mf * mf) / (4.0 * l1 * l1 - 1.0)).sqrt();
                    (a, b)
                } else {
                    (0.0, 0.0)
                };
                recurrence.push(ab);
                let w = four_pi * cl;
                weights.push(w);
                if m > 0 {
                    weights.push(w);
                }
            }
        }
        Ok(Self {
            beta,
            truncation: Truncation { degree, tol, tail },
            scaled_i: c,
            weights,
            sectoral,
            recurrence,
        })
    }
    pub fn beta(&self) -> f64 {
        self.beta
    }
    /// The truncation (degree L, tolerance, tail bound).
    pub fn truncation(&self) -> Truncation {
        self.truncation
    }
    /// e^{-beta} i_l(beta) (0 beyond the degree).
    pub fn scaled_bessel(&self, l: usize) -> f64 {
        self.scaled_i.get(l).copied().unwrap_or(0.0)
    }
    /// Number of real harmonics kept, (L + 1)^2.
    pub fn harmonics(&self) -> usize {
        self.weights.len()
    }

    /// The real orthonormal harmonics Y_lm(x) at a unit vector x, in the order m = 0..=L, then
    /// l = m..=L, then (for m > 0) the cos and sin parts: Y_l0 = Q_l^0(z),
    /// Y_lm^{c,s} = sqrt(2) Q_l^m(z) Re / Im (x + i y)^m, with Q_l^m = N_lm P_l^m / sin^m.
    fn eval_harmonics(&self, x: [f64; 3], out: &mut [f64]) {
        let big_l = self.truncation.degree;
        let z = x[2];
        let (mut cm, mut sm) = (1.0, 0.0);
        let mut idx = 0;
        let mut rec = 0;
        for m in 0..=big_l {
            if m > 0 {
                let c = cm * x[0] - sm * x[1];
                sm = cm * x[1] + sm * x[0];
                cm = c;
            }
            let (fc, fs) = if m == 0 {
                (1.0, 0.0)
            } else {
                (std::f64::consts::SQRT_2 * cm, std::f64::consts::SQRT_2 * sm)
            };
            let (mut q2, mut q1) = (0.0, self.sectoral[m]);
            for l in m..=big_l {
                let q = if l == m {
                    q1
                } else if l == m + 1 {
                    ((2 * m + 3) as f64).sqrt() * z * q1
                } else {
                    let (a, b) = self.recurrence[rec];
                    a * (z * q1 - b * q2)
                };
                if l > m {
                    q2 = q1;
                    q1 = q;
                }
                rec += 1;
                if m == 0 {
                    out[idx] = q;
                    idx += 1;
                } else {
                    out[idx] = q * fc;
                    out[idx + 1] = q * fs;
                    idx += 2;
                }
            }
        }
    }
}

/// e^{beta} / n, or the typed overflow error (as the direct sum).
fn usa_factor(beta: f64, n: usize) -> Result<f64> {
    if beta > 709.0 {
        return Err(DynamicsError::WeightOverflow { exponent: beta });
    }
    Ok(beta.exp() / n as f64)
}

/// Fixed-order parallel sum of per-chunk partial moment vectors of length `len`.
fn chunked_moments<T: Sync>(
    items: &[T],
    len: usize,
    fill: impl Fn(&[T], &mut [f64]) + Sync,
) -> Vec<f64> {
    let partials: Vec<Vec<f64>> = items
        .par_chunks(CHUNK)
        .map(|chunk| {
            let mut acc = vec![0.0; len];
            fill(chunk, &mut acc);
            acc
        })
        .collect();
    let mut total = vec![0.0; len];
    for p in &partials {
        total.iter_mut().zip(p).for_each(|(t, v)| *t += v);
    }
    total
}

/// Unit direction of a point of the circle given as (cos, sin) (re-seeded from the angle).
#[derive(Clone, Copy)]
struct CirclePoint {
    c: f64,
    s: f64,
    theta: f64,
}

/// Powers e^{i k th} for k = 1..=K by complex multiplication, re-seeded from sin_cos(k th) every
/// 32 degrees so the rounding does not grow with K.
#[inline]
fn for_each_power(p: CirclePoint, degree: usize, mut f: impl FnMut(usize, f64, f64)) {
    let (mut wr, mut wi) = (p.c, p.s);
    for k in 1..=degree {
        if k > 1 {
            if k % 32 == 0 {
                let (s, c) = (k as f64 * p.theta).sin_cos();
                wr = c;
                wi = s;
            } else {
                let r = wr * p.c - wi * p.s;
                wi = wr * p.s + wi * p.c;
                wr = r;
            }
        }
        f(k, wr, wi);
    }
}

/// Moments M_k = sum_j e^{i k th_j}, k = 1..=K, as (re, im) pairs at [2(k-1)], [2(k-1)+1].
fn circle_moments(points: &[CirclePoint], degree: usize) -> Vec<f64> {
    chunked_moments(points, 2 * degree, |chunk, acc| {
        for &p in chunk {
            for_each_power(p, degree, |k, wr, wi| {
                acc[2 * (k - 1)] += wr;
                acc[2 * (k - 1) + 1] += wi;
            });
        }
    })
}

/// The scaled sums (R, T, Z) at one point.
#[inline]
fn circle_sums(p: CirclePoint, series: &CircleSeries, moments: &[f64], n: usize) -> [f64; 3] {
    let ie = &series.scaled_i;
    let nf = n as f64;
    let (mut r, mut t, mut z) = (0.0, 0.0, 0.0);
    for_each_power(p, series.truncation.degree, |k, wr, wi| {
        let (mr, mi) = (moments[2 * (k - 1)], moments[2 * (k - 1) + 1]);
        // W_k = e^{i k th} conj(M_k)
        let re = wr * mr + wi * mi;
        let im = wi * mr - wr * mi;
        t -= series.velocity[k] * im;
        r += (ie[k - 1] + ie[k + 1]) * re;
        z += ie[k] * re;
    });
    [nf * ie[1] + r, t, nf * ie[0] + 2.0 * z]
}

fn circle_points_of_angles(theta: &[f64]) -> Result<Vec<CirclePoint>> {
    theta
        .iter()
        .enumerate()
        .map(|(i, &th)| {
            if !th.is_finite() {
                return Err(DynamicsError::InvalidConfiguration(format!(
                    "angle {i} is {th}"
                )));
            }
            let (s, c) = th.sin_cos();
            Ok(CirclePoint { c, s, theta: th })
        })
        .collect()
}

/// The angular velocity th_i' of n particles on S^1 = {(cos th, sin th)} under (USA) or (SA)
/// with Q = K = V = I (\[GLPR\] (2.6)), by spectral summation in O(n K):
///
/// ```text
/// (USA) th_i' = (1/n)   sum_j e^{beta cos(th_i - th_j)} sin(th_j - th_i)
/// (SA)  th_i' = (1/Z_i) sum_j e^{beta cos(th_i - th_j)} sin(th_j - th_i),  Z_i = sum_j e^{beta cos(th_i - th_j)}
/// ```
///
/// (the sum includes j = i, as the engine's fields). `theta` and `out` have one entry per
/// particle; the angles are any finite reals. `tol` in (0, 1) is the relative truncation
/// tolerance ([`DEFAULT_TOL`] for machine precision); the truncation used is returned. Errors:
/// beta not finite or < 0, tol outside (0, 1), a non-finite angle, `out` of another length, no
/// particle, or (USA) beta > 709. Bit-identical for any number of rayon threads.
///
/// ```
/// use attnflow_dynamics::ModelKind;
/// use attnflow_dynamics::spectral::{circle_angular_velocity, DEFAULT_TOL};
/// let theta = [0.0, 1.0, 2.5];
/// let mut v = [0.0; 3];
/// circle_angular_velocity(&theta, 2.0, ModelKind::Usa, DEFAULT_TOL, &mut v)?;
/// let direct = |i: usize| -> f64 {
///     theta.iter().map(|t| (2.0 * (theta[i] - t).cos()).exp() * (t - theta[i]).sin()).sum::<f64>() / 3.0
/// };
/// for i in 0..3 {
///     assert!((v[i] - direct(i)).abs() < 1e-13);
/// }
/// # Ok::<(), attnflow_dynamics::DynamicsError>(())
/// ```
pub fn circle_angular_velocity(
    theta: &[f64],
    beta: f64,
    model: ModelKind,
    tol: f64,
    out: &mut [f64],
) -> Result<Truncation> {
    let series = CircleSeries::new(beta, tol)?;
    circle_angular_velocity_with(theta, &series, model, out)?;
    Ok(series.truncation())
}

/// [`circle_angular_velocity`] with a precomputed series (for repeated evaluations).
pub fn circle_angular_velocity_with(
    theta: &[f64],
    series: &CircleSeries,
    model: ModelKind,
    out: &mut [f64],
) -> Result<()> {
    let n = theta.len();
    check_lengths(n, 1, theta.len(), out.len())?;
    let points = circle_points_of_angles(theta)?;
    let moments = circle_moments(&points, series.truncation.degree);
    let usa = match model {
        ModelKind::Usa => Some(usa_factor(series.beta, n)?),
        ModelKind::Sa => None,
    };
    points
        .par_chunks(CHUNK)
        .zip(out.par_chunks_mut(CHUNK))
        .for_each(|(ps, os)| {
            for (p, o) in ps.iter().zip(os) {
                let [_, t, z] = circle_sums(*p, series, &moments, n);
                *o = match usa {
                    Some(f) => f * t,
                    None => t / z,
                };
            }
        });
    Ok(())
}

fn check_lengths(n: usize, d: usize, x_len: usize, out_len: usize) -> Result<()> {
    if n == 0 {
        return Err(invalid("n", "need at least one particle"));
    }
    let want = n
        .checked_mul(d)
        .ok_or_else(|| invalid("n", "n * d overflows"))?;
    if x_len != want || out_len != want {
        return Err(invalid(
            "x",
            format!(
                "expected {want} entries for n = {n}, d = {d}, got {x_len} in and {out_len} out"
            ),
        ));
    }
    Ok(())
}

fn direction<const D: usize>(i: usize, row: &[f64]) -> Result<[f64; D]> {
    let r = crate::config::norm(row);
    if !(r.is_finite() && r > 0.0) {
        return Err(DynamicsError::InvalidConfiguration(format!(
            "particle {i} has norm {r}; the spectral field needs finite x_i != 0"
        )));
    }
    let mut u = [0.0; D];
    u.iter_mut().zip(row).for_each(|(a, b)| *a = b / r);
    Ok(u)
}

/// The drift sum_j A_ij x_j of (USA) / (SA) with Q = K = V = I on S^1 (x: n x 2, row-major), by
/// spectral summation (see the module docs).
pub fn circle_drift(
    x: &[f64],
    series: &CircleSeries,
    model: ModelKind,
    out: &mut [f64],
) -> Result<()> {
    let n = x.len() / 2;
    check_lengths(n, 2, x.len(), out.len())?;
    let points = x
        .chunks_exact(2)
        .enumerate()
        .map(|(i, row)| {
            let [c, s] = direction::<2>(i, row)?;
            Ok(CirclePoint {
                c,
                s,
                theta: s.atan2(c),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let moments = circle_moments(&points, series.truncation.degree);
    let usa = match model {
        ModelKind::Usa => Some(usa_factor(series.beta, n)?),
        ModelKind::Sa => None,
    };
    points
        .par_chunks(CHUNK)
        .zip(out.par_chunks_mut(2 * CHUNK))
        .for_each(|(ps, os)| {
            for (p, o) in ps.iter().zip(os.chunks_exact_mut(2)) {
                let [r, t, z] = circle_sums(*p, series, &moments, n);
                let f = usa.unwrap_or(1.0 / z);
                let (r, t) = (f * r, f * t);
                o[0] = r * p.c - t * p.s;
                o[1] = r * p.s + t * p.c;
            }
        });
    Ok(())
}

/// The drift sum_j A_ij x_j of (USA) / (SA) with Q = K = V = I on S^2 (x: n x 3, row-major), by
/// spectral summation (see the module docs).
pub fn sphere_drift(
    x: &[f64],
    series: &SphereSeries,
    model: ModelKind,
    out: &mut [f64],
) -> Result<()> {
    let n = x.len() / 3;
    check_lengths(n, 3, x.len(), out.len())?;
    let points = x
        .chunks_exact(3)
        .enumerate()
        .map(|(i, row)| direction::<3>(i, row))
        .collect::<Result<Vec<_>>>()?;
    let h = series.harmonics();
    // moments S (weight 1) and S^a (weights x_a), 4 blocks of h, scaled by 4 pi ie_l
    let mut moments = chunked_moments(&points, 4 * h, |chunk, acc| {
        let mut y = vec![0.0; h];
        for p in chunk {
            series.eval_harmonics(*p, &mut y);
            let (s0, rest) = acc.split_at_mut(h);
            let (s1, rest) = rest.split_at_mut(h);
            let (s2, s3) = rest.split_at_mut(h);
            for q in 0..h {
                let v = y[q];
                s0[q] += v;
                s1[q] += p[0] * v;
                s2[q] += p[1] * v;
                s3[q] += p[2] * v;
            }
        }
    });
    for block in moments.chunks_exact_mut(h) {
        block
            .iter_mut()
            .zip(&series.weights)
            .for_each(|(m, w)| *m *= w);
    }
    let usa = match model {
        ModelKind::Usa => Some(usa_factor(series.beta, n)?),
        ModelKind::Sa => None,
    };
    points
        .par_chunks(CHUNK)
        .zip(out.par_chunks_mut(3 * CHUNK))
        .for_each(|(ps, os)| {
            let mut y = vec![0.0; h];
            for (p, o) in ps.iter().zip(os.chunks_exact_mut(3)) {
                series.eval_harmonics(*p, &mut y);
                let mut acc = [0.0; 4];
                for (a, block) in acc.iter_mut().zip(moments.chunks_exact(h)) {
                    *a = y.iter().zip(block).map(|(u, v)| u * v).sum();
                }
                let f = usa.unwrap_or(1.0 / acc[0]);
                o[0] = f * acc[1];
                o[1] = f * acc[2];
                o[2] = f * acc[3];
            }
        });
    Ok(())
}

/// The effective (beta, value factor) of a field the spectral sum applies to: one head with
/// B = c I (c >= 0, beta_eff = c beta) and V = v I, no mask, Post-LN, on the sphere; otherwise
/// the typed error naming `summation` and the reason.
pub fn spectral_parameters(field: &SelfAttention) -> Result<(f64, f64)> {
    let refuse = |why: &str| {
        Err(invalid(
            "summation",
            format!(
                "spectral summation needs one head with Q = K = V = I (or scalar multiples), no mask, on the sphere S^1 or S^2: {why}"
            ),
        ))
    };
    if crate::VectorField::geometry(field) != Geometry::Sphere {
        return refuse("the field is euclidean");
    }
    if !field.normalization().is_post_ln() {
        return refuse("the field has layer normalisation other than Post-LN");
    }
    if !matches!(field.mask(), Mask::Full) {
        return refuse("the field has a mask");
    }
    let [head] = field.heads() else {
        return refuse("the field has several heads");
    };
    let scalar = |m: &crate::SquareMatrix| -> Option<f64> {
        let d = m.dim();
        let c = m.get(0, 0);
        (0..d)
            .all(|r| (0..d).all(|k| m.get(r, k) == if r == k { c } else { 0.0 }))
            .then_some(c)
    };
    let c = match &head.interaction {
        None => 1.0,
        Some(b) => match scalar(b) {
            Some(c) if c >= 0.0 => c,
            _ => return refuse("Q^T K is not a non-negative multiple of the identity"),
        },
    };
    let v = match &head.value {
        Value::Identity => 1.0,
        Value::NegIdentity => -1.0,
        Value::Matrix(m) => match scalar(m) {
            Some(v) => v,
            None => return refuse("V is not a multiple of the identity"),
        },
    };
    let beta = field.beta() * c;
    crate::validate::check_non_negative("beta", beta)?;
    Ok((beta, v))
}

/// The drift of a field with [`Summation::Spectral`] (x: n x d, d = 2 or 3).
pub(crate) fn spectral_drift(
    field: &SelfAttention,
    tol: f64,
    x: &[f64],
    n: usize,
    d: usize,
    out: &mut [f64],
) -> Result<()> {
    let (beta, v) = spectral_parameters(field)?;
    check_lengths(n, d, x.len(), out.len())?;
    match d {
        2 => circle_drift(x, &CircleSeries::new(beta, tol)?, field.model(), out)?,
        3 => sphere_drift(x, &SphereSeries::new(beta, tol)?, field.model(), out)?,
        _ => {
            return Err(invalid(
                "summation",
                format!("spectral summation is implemented on S^1 and S^2 (d = 2, 3), got d = {d}"),
            ));
        }
    }
    if v != 1.0 {
        out.iter_mut().for_each(|o| *o *= v);
    }
    Ok(())
}

/// The truncation a field's spectral sum uses on S^{d-1} (`None` for direct summation); errors
/// as the evaluation would (a field or d the series do not cover, a bad tolerance).
///
/// ```
/// use attnflow_dynamics::SelfAttention;
/// use attnflow_dynamics::spectral::{Summation, truncation_of};
/// let field = SelfAttention::builder().beta(7.0).summation(Summation::spectral()).build()?;
/// let t = truncation_of(&field, 2)?.unwrap();
/// assert!(t.degree > 7 && t.tail <= 1e-13);
/// assert_eq!(truncation_of(&SelfAttention::sa(7.0)?, 2)?, None);
/// # Ok::<(), attnflow_dynamics::DynamicsError>(())
/// ```
pub fn truncation_of(field: &SelfAttention, d: usize) -> Result<Option<Truncation>> {
    let Summation::Spectral { tol } = field.summation() else {
        return Ok(None);
    };
    let (beta, _) = spectral_parameters(field)?;
    match d {
        2 => Ok(Some(CircleSeries::new(beta, tol)?.truncation())),
        3 => Ok(Some(SphereSeries::new(beta, tol)?.truncation())),
        _ => Err(invalid(
            "summation",
            format!("spectral summation is implemented on S^1 and S^2 (d = 2, 3), got d = {d}"),
        )),
    }
}
