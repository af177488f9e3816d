//! The energy landscape on the circle, \[GLPR\] (7.4) and Appendix B:
//!
//!   E_beta(theta) = (1/(2 beta n^2)) sum_ij e^{beta cos(theta_i - theta_j)},
//!   d_i E = -(1/n^2) sum_j e^{beta cos(theta_i - theta_j)} sin(theta_i - theta_j)   (so USA (7.1) is thetadot = n grad E),
//!   d_i d_k E = (1/n^2) g(theta_i - theta_k) for i != k,  d_i d_i E = -sum_{k != i} d_i d_k E,
//!   g(x) = (cos x - beta sin^2 x) e^{beta cos x}   (App. B).
//!
//! The Hessian always has the rotation zero mode H 1 = 0 (E is invariant under theta -> theta + c); all
//! spectra below are those of H restricted to the orthogonal complement of 1 (n - 1 eigenvalues).
//!
//! Critical points for n <= 8 are searched by damped Newton iteration on the gradient (pseudo-inverse of
//! the reduced Hessian, steps capped at 0.3 rad) from many seeded random starts (i.i.d. uniform on an arc of
//! random width) until a scale-aware relative gradient residual is below 1e-11, deduplicated up to global
//! rotation and relabelling (same cyclic sequence of gaps), and classified by the Hessian: on the full reduced
//! spectrum when all particles coincide, otherwise by the inertia of the Hessian restricted to rigid moves of
//! the clusters (computed from cross-cluster entries only, so that e^beta-large within-cluster terms cannot
//! drown the e^{beta cos}-small curvature between clusters at large beta; splitting a tight cluster always has
//! negative curvature ~ -m e^beta / n^2). This checks \[GLPR\] Thm 4.3 (beta <= 1) and Thm 5.1 (beta >= n^2/pi^2, or 4(n-1)^2/pi^2 for the
//! written proof): every critical point other than the synchronised one must have a positive Hessian
//! eigenvalue (strict saddle or minimum), i.e. no non-synchronised local maximum exists.

use crate::circle::wrap_angle;
use crate::error::{KuramotoError, Result, check_finite_slice, check_positive, invalid};
use attnflow_dynamics::sampling::{Purpose, stream, uniform01};
use std::f64::consts::PI;

/// Largest particle count accepted by the critical-point search.
pub const MAX_LANDSCAPE_N: usize = 8;

fn check_angles_beta(theta: &[f64], beta: f64) -> Result<()> {
    if theta.is_empty() {
        return Err(invalid("theta", "need at least one angle"));
    }
    check_finite_slice("theta", theta)?;
    check_positive("beta", beta)
}

/// The energy E_beta(theta) of (7.4) (beta > 0).
pub fn energy(theta: &[f64], beta: f64) -> Result<f64> {
    check_angles_beta(theta, beta)?;
    let n = theta.len();
    let mut s = 0.0;
    for i in 0..n {
        for j in 0..n {
            s += (beta * (theta[i] - theta[j]).cos()).exp();
        }
    }
    let e = s / (2.0 * beta * (n * n) as f64);
    if e.is_finite() {
        Ok(e)
    } else {
        Err(KuramotoError::NonFinite {
            what: "circle energy",
        })
    }
}

/// The gradient d_i E_beta (closed form above).
pub fn gradient(theta: &[f64], beta: f64) -> Result<Vec<f64>> {
    check_angles_beta(theta, beta)?;
    let n = theta.len();
    let nn = (n * n) as f64;
    let g: Vec<f64> = (0..n)
        .map(|i| {
            -(0..n)
                .map(|j| {
                    let a = theta[i] - theta[j];
                    (beta * a.cos()).exp() * a.sin()
                })
                .sum::<f64>()
                / nn
        })
        .collect();
    if g.iter().all(|v| v.is_finite()) {
        Ok(g)
    } else {
        Err(KuramotoError::NonFinite {
            what: "circle gradient",
        })
    }
}

/// App. B: g(x) = (cos x - beta sin^2 x) e^{beta cos x}, the second derivative of e^{beta cos x} up to sign.
pub fn pair_curvature(x: f64, beta: f64) -> f64 {
    (x.cos() - beta * x.sin().powi(2)) * (beta * x.cos()).exp()
}

/// The Hessian of E_beta, n x n row-major (closed form above; rows sum to zero).
pub fn hessian(theta: &[f64], beta: f64) -> Result<Vec<f64>> {
    check_angles_beta(theta, beta)?;
    let n = theta.len();
    let nn = (n * n) as f64;
    let mut h = vec![0.0; n * n];
    for i in 0..n {
        let mut diag = 0.0;
        for k in 0..n {
            if k != i {
                let v = pair_curvature(theta[i] - theta[k], beta) / nn;
                h[i * n + k] = v;
                diag -= v;
            }
        }
        h[i * n + i] = diag;
    }
    if h.iter().all(|v| v.is_finite()) {
        Ok(h)
    } else {
        Err(KuramotoError::NonFinite {
            what: "circle Hessian",
        })
    }
}

/// Orthonormal basis of the complement of (1, ..., 1) in R^n (Helmert basis), n x (n - 1) row-major.
fn helmert_basis(n: usize) -> Vec<f64> {
    let m = n - 1;
    let mut q = vec![0.0; n * m];
    for k in 0..m {
        // column k: (1, ..., 1, -(k+1), 0, ...) / sqrt((k+1)(k+2))
        let norm = (((k + 1) * (k + 2)) as f64).sqrt();
        for i in 0..=k {
            q[i * m + k] = 1.0 / norm;
        }
        q[(k + 1) * m + k] = -((k + 1) as f64) / norm;
    }
    q
}

/// Eigen-decomposition of the Hessian restricted to the complement of the rotation mode:
/// eigenvalues ascending and the eigenvectors mapped back to R^n (column-major: `vectors[k]` has length n).
pub struct ReducedSpectrum {
    pub eigenvalues: Vec<f64>,
    pub eigenvectors: Vec<Vec<f64>>,
}

/// Spectrum of Q^T H Q with Q the Helmert basis of 1^perp (n >= 2).
pub fn reduced_spectrum(h: &[f64], n: usize) -> Result<ReducedSpectrum> {
    if n < 2 || h.len() != n * n {
        return Err(invalid(
            "hessian",
            format!(
                "need an n x n matrix with n >= 2 (n = {n}, len {})",
                h.len()
            ),
        ));
    }
    let m = n - 1;
    let q = helmert_basis(n);
    // hq = H Q (n x m), r = Q^T H Q (m x m)
    let mut hq = vec![0.0; n * m];
    for i in 0..n {
        for k in 0..m {
            hq[i * m + k] = (0..n).map(|j| h[i * n + j] * q[j * m + k]).sum();
        }
    }
    let r = faer::Mat::<f64>::from_fn(m, m, |a, b| {
        (0..n).map(|i| q[i * m + a] * hq[i * m + b]).sum()
    });
    let eig =
        r.self_adjoint_eigen(faer::Side::Lower)
            .map_err(|e| KuramotoError::NoConvergence {
                what: "self-adjoint eigensolver",
                detail: format!("{e:?}"),
            })?;
    let s = eig.S().column_vector();
    let u = eig.U();
    let eigenvalues: Vec<f64> = (0..m).map(|k| s[k]).collect();
    let eigenvectors = (0..m)
        .map(|k| {
            (0..n)
                .map(|i| (0..m).map(|a| q[i * m + a] * u[(a, k)]).sum())
                .collect()
        })
        .collect();
    Ok(ReducedSpectrum {
        eigenvalues,
        eigenvectors,
    })
}

/// Type of a critical point of E_beta (for the ascent dynamics USA/SA, a "strict saddle" or a
/// minimum has an unstable direction and is avoided from almost every start).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum CriticalKind {
    /// All angles equal mod 2 pi: the global maximum e^beta / (2 beta).
    SynchronisedMaximum,
    /// Reduced Hessian negative definite but the angles are not all equal: would contradict Thm 4.3 / 5.1.
    NonSynchronisedLocalMaximum,
    /// Reduced Hessian with eigenvalues of both signs.
    StrictSaddle,
    /// Reduced Hessian positive definite.
    LocalMinimum,
    /// Largest reduced eigenvalue within tolerance of 0 (non-strict; second order inconclusive).
    Degenerate,
}

/// One critical point, up to rotation and relabelling.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CriticalPoint {
    /// Representative angles in [0, 2 pi), sorted, first = 0.
    pub angles: Vec<f64>,
    /// Cyclic gaps between consecutive sorted angles (sum 2 pi), in the canonical rotation.
    pub gaps: Vec<f64>,
    pub energy: f64,
    /// Scale-aware relative gradient residual at the representative (see `relative_gradient_residual`).
    pub gradient_residual: f64,
    /// Signature-deciding spectrum: eigenvalues (ascending) of the Hessian restricted to rigid moves of the
    /// k >= 2 clusters, on the complement of the rotation mode (k - 1 values; empty when synchronised).
    pub cluster_eigenvalues: Vec<f64>,
    /// The n - 1 Hessian eigenvalues on the complement of the rotation mode, ascending.
    pub reduced_eigenvalues: Vec<f64>,
    /// |H 1|_inf (the rotation zero mode; round-off only).
    pub zero_mode_residual: f64,
    /// Kuramoto order parameter r of the point.
    pub order_r: f64,
    pub kind: CriticalKind,
    /// How many starts converged to this point.
    pub hits: usize,
}

/// Parameters of the critical-point search.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LandscapeParams {
    /// Particle count, 2 <= n <= 8.
    pub n: usize,
    /// Inverse temperature beta > 0.
    pub beta: f64,
    /// Number of random starts (i.i.d. uniform angles on an arc of uniformly random width in (0, 2 pi]).
    pub starts: usize,
    /// Master seed; start k uses the stream (seed, k, InitialCondition).
    pub seed: u64,
    /// Maximum Newton iterations per start.
    pub max_iterations: usize,
    /// Convergence: scale-aware relative gradient residual <= gradient_tol.
    pub gradient_tol: f64,
    /// Two points are the same if some cyclic rotation of their gap sequences agrees to this tolerance.
    pub dedup_tol: f64,
    /// Eigenvalues with |lambda| <= eigen_tol * (largest entry of the matrix) count as zero.
    pub eigen_tol: f64,
}

impl LandscapeParams {
    /// Defaults: 400 starts, 200 Newton iterations, gradient tol 1e-11, dedup tol 1e-6, eigen tol 1e-8.
    pub fn new(n: usize, beta: f64, seed: u64) -> Self {
        Self {
            n,
            beta,
            starts: 400,
            seed,
            max_iterations: 200,
            gradient_tol: 1e-11,
            dedup_tol: 1e-6,
            eigen_tol: 1e-8,
        }
    }

    fn validate(&self) -> Result<()> {
        if !(2..=MAX_LANDSCAPE_N).contains(&self.n) {
            return Err(invalid(
                "n",
                format!(
                    "landscape search needs 2 <= n <= {MAX_LANDSCAPE_N}, got {}",
                    self.n
                ),
            ));
        }
        check_positive("beta", self.beta)?;
        if self.beta > 600.0 {
            return Err(invalid("beta", "beta > 600 overflows e^beta"));
        }
        if self.starts == 0 || self.max_iterations == 0 {
            return Err(invalid(
                "starts",
                "need at least one start and one iteration",
            ));
        }
        check_positive("gradient_tol", self.gradient_tol)?;
        check_positive("dedup_tol", self.dedup_tol)?;
        check_positive("eigen_tol", self.eigen_tol)
    }
}

/// Result of a critical-point search.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LandscapeReport {
    pub params: LandscapeParams,
    /// Distinct critical points found, by decreasing energy.
    pub points: Vec<CriticalPoint>,
    /// Starts whose Newton iteration did not reach the gradient tolerance.
    pub failed_starts: usize,
    /// Number of distinct points of each kind.
    pub synchronised_maxima: usize,
    pub non_synchronised_local_maxima: usize,
    pub strict_saddles: usize,
    pub local_minima: usize,
    pub degenerate: usize,
}

impl LandscapeReport {
    /// The landscape claim of Thm 4.3 / 5.1 as observed: the synchronised maximum was found and no
    /// non-synchronised local maximum (nor an inconclusive degenerate point) was.
    pub fn only_synchronised_maximum(&self) -> bool {
        self.synchronised_maxima == 1
            && self.non_synchronised_local_maxima == 0
            && self.degenerate == 0
    }
}

/// Sorted angles mod 2 pi shifted so the first is 0, and the cyclic gaps.
fn canonical_form(theta: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let two_pi = 2.0 * PI;
    let mut a: Vec<f64> = theta.iter().map(|t| t.rem_euclid(two_pi)).collect();
    a.sort_by(f64::total_cmp);
    let n = a.len();
    let mut gaps: Vec<f64> = (0..n)
        .map(|k| {
            if k + 1 < n {
                a[k + 1] - a[k]
            } else {
                two_pi + a[0] - a[n - 1]
            }
        })
        .collect();
    // canonical rotation: start after the largest gap (ties broken by the following gaps, lexicographically)
    let best = (0..n)
        .max_by(|&p, &q| {
            for s in 0..n {
                let c = gaps[(p + s) % n].total_cmp(&gaps[(q + s) % n]);
                if c != std::cmp::Ordering::Equal {
                    return c;
                }
            }
            std::cmp::Ordering::Equal
        })
        .unwrap_or(0);
    // the lexicographically largest rotation starts with the largest gap; move that gap to the end
    gaps.rotate_left((best + 1) % n);
    // angles rebuilt from the rotated gaps: the largest gap is last, so the points are 0, g0, g0 + g1, ...
    let mut angles = Vec::with_capacity(n);
    let mut t = 0.0;
    for g in gaps.iter().take(n) {
        angles.push(t);
        t += g;
    }
    (angles, gaps)
}

fn same_up_to_rotation(g1: &[f64], g2: &[f64], tol: f64) -> bool {
    let n = g1.len();
    (0..n).any(|s| (0..n).all(|k| (g1[k] - g2[(k + s) % n]).abs() <= tol))
}

/// Scale-aware gradient residual max_i |d_i E| / (s_i + 1e-3 w_i), with s_i = (1/n^2) sum_{j != i} e^{beta cos} |sin|
/// (the size of the terms that must cancel in d_i E) and w_i = (1/n^2) sum_{j != i} e^{beta cos} (the weights;
/// each term carries a round-off error ~ 1e-16 of its weight, so with the default tolerance 1e-11 an absolute
/// residual of 1e-14 w_i is accepted). Unlike an absolute tolerance in units of e^beta, a force between distant
/// clusters is only masked when it is below the round-off of the particle's own terms.
fn relative_gradient_residual(theta: &[f64], beta: f64) -> Result<f64> {
    let n = theta.len();
    let g = gradient(theta, beta)?;
    let nn = (n * n) as f64;
    let mut worst = 0.0f64;
    for i in 0..n {
        let (mut s, mut w) = (0.0, 0.0);
        for j in 0..n {
            if j != i {
                let a = theta[i] - theta[j];
                let e = (beta * a.cos()).exp();
                s += e * a.sin().abs();
                w += e;
            }
        }
        let denom = (s + 1e-3 * w) / nn;
        if g[i] != 0.0 {
            worst = worst.max(g[i].abs() / denom.max(f64::MIN_POSITIVE));
        }
    }
    Ok(worst)
}

/// Damped Newton iteration on the gradient from `theta`; returns whether it converged.
fn newton(theta: &mut [f64], p: &LandscapeParams) -> Result<bool> {
    let n = theta.len();
    let scale = p.beta.exp() / (n * n) as f64;
    for _ in 0..p.max_iterations {
        if relative_gradient_residual(theta, p.beta)? <= p.gradient_tol {
            return Ok(true);
        }
        let g = gradient(theta, p.beta)?;
        let h = hessian(theta, p.beta)?;
        let spec = reduced_spectrum(&h, n)?;
        let mut step = vec![0.0; n];
        for (lam, v) in spec.eigenvalues.iter().zip(&spec.eigenvectors) {
            if lam.abs() > 1e-13 * scale {
                let c = v.iter().zip(&g).map(|(a, b)| a * b).sum::<f64>() / lam;
                for i in 0..n {
                    step[i] -= c * v[i];
                }
            }
        }
        let smax = step.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let damp = if smax > 0.3 { 0.3 / smax } else { 1.0 };
        for i in 0..n {
            theta[i] += damp * step[i];
        }
    }
    Ok(relative_gradient_residual(theta, p.beta)? <= p.gradient_tol)
}

/// Classification of a converged point.
fn classify(theta: &[f64], p: &LandscapeParams) -> Result<CriticalPoint> {
    let n = theta.len();
    let scale = p.beta.exp() / (n * n) as f64;
    let (angles, gaps) = canonical_form(theta);
    let h = hessian(&angles, p.beta)?;
    let zero_mode_residual = (0..n)
        .map(|i| (0..n).map(|k| h[i * n + k]).sum::<f64>().abs())
        .fold(0.0, f64::max);
    let spec = reduced_spectrum(&h, n)?;
    let tol = p.eigen_tol * scale;
    let lmax = spec
        .eigenvalues
        .iter()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    let lmin = spec
        .eigenvalues
        .iter()
        .copied()
        .fold(f64::INFINITY, f64::min);
    // synchronised: every gap but the wrap-around one is (numerically) zero
    let synchronised = gaps[..n - 1].iter().all(|g| g.abs() <= p.dedup_tol);
    // Rigid moves of the clusters (particles closer than dedup_tol): H restricted to the cluster indicator
    // vectors, built from the cross-cluster entries only, so that the e^beta-large within-cluster terms
    // cancel exactly instead of drowning the e^{beta cos}-small cross-cluster curvature in round-off.
    // The splitting modes inside a tight cluster have curvature ~ -m e^beta / n^2 < 0, so the inertia of
    // this k x k form (Sylvester) decides whether an ascent direction exists.
    let mut label = vec![0usize; n];
    for i in 1..n {
        label[i] = if gaps[i - 1].abs() <= p.dedup_tol {
            label[i - 1]
        } else {
            label[i - 1] + 1
        };
    }
    let k = label[n - 1] + 1;
    let mut cluster_eigenvalues = Vec::new();
    let mut cl_max = f64::NEG_INFINITY;
    let mut cl_min = f64::INFINITY;
    let mut cl_tol = 0.0;
    if k >= 2 {
        let mut hc = vec![0.0; k * k];
        for i in 0..n {
            for j in 0..n {
                if label[i] != label[j] {
                    let v = pair_curvature(angles[i] - angles[j], p.beta) / (n * n) as f64;
                    hc[label[i] * k + label[j]] += v;
                    hc[label[i] * k + label[i]] -= v;
                }
            }
        }
        cl_tol = p.eigen_tol * hc.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        cluster_eigenvalues = reduced_spectrum(&hc, k)?.eigenvalues;
        cl_max = cluster_eigenvalues
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        cl_min = cluster_eigenvalues
            .iter()
            .copied()
            .fold(f64::INFINITY, f64::min);
    }
    let (lmax, lmin, tol) = if k == 1 {
        (lmax, lmin, tol)
    } else if k < n {
        // a cluster with >= 2 members has negative splitting modes: never a minimum
        (cl_max, f64::NEG_INFINITY, cl_tol)
    } else {
        (cl_max, cl_min, cl_tol)
    };
    let kind = if lmax > tol {
        if lmin > tol {
            CriticalKind::LocalMinimum
        } else {
            CriticalKind::StrictSaddle
        }
    } else if lmax < -tol {
        if synchronised {
            CriticalKind::SynchronisedMaximum
        } else {
            CriticalKind::NonSynchronisedLocalMaximum
        }
    } else {
        CriticalKind::Degenerate
    };
    let gradient_residual = relative_gradient_residual(theta, p.beta)?;
    let op = crate::circle::order_parameter(&angles)?;
    Ok(CriticalPoint {
        energy: energy(&angles, p.beta)?,
        gradient_residual,
        cluster_eigenvalues,
        reduced_eigenvalues: spec.eigenvalues,
        zero_mode_residual,
        order_r: op.r,
        kind,
        hits: 1,
        angles,
        gaps,
    })
}

/// Searches the critical points of E_beta on (S^1)^n and classifies them (see the module doc).
pub fn critical_points(p: &LandscapeParams) -> Result<LandscapeReport> {
    p.validate()?;
    let n = p.n;
    let mut points: Vec<CriticalPoint> = Vec::new();
    let mut failed = 0;
    for k in 0..p.starts {
        let mut rng = stream(p.seed, k as u64, Purpose::InitialCondition);
        // i.i.d. uniform angles on an arc of random width in (0, 2 pi]: narrow arcs start near consensus,
        // wide ones near the balanced and antipodal critical points.
        let width = 2.0 * PI * (1.0 - uniform01(&mut rng));
        let mut theta: Vec<f64> = (0..n).map(|_| width * uniform01(&mut rng)).collect();
        if !newton(&mut theta, p)? {
            failed += 1;
            continue;
        }
        let theta: Vec<f64> = theta.iter().map(|&t| wrap_angle(t)).collect();
        let cp = classify(&theta, p)?;
        match points
            .iter_mut()
            .find(|q| same_up_to_rotation(&q.gaps, &cp.gaps, p.dedup_tol))
        {
            Some(q) => q.hits += 1,
            None => points.push(cp),
        }
    }
    points.sort_by(|a, b| b.energy.total_cmp(&a.energy));
    let count = |k: CriticalKind| points.iter().filter(|q| q.kind == k).count();
    Ok(LandscapeReport {
        params: p.clone(),
        synchronised_maxima: count(CriticalKind::SynchronisedMaximum),
        non_synchronised_local_maxima: count(CriticalKind::NonSynchronisedLocalMaximum),
        strict_saddles: count(CriticalKind::StrictSaddle),
        local_minima: count(CriticalKind::LocalMinimum),
        degenerate: count(CriticalKind::Degenerate),
        points,
        failed_starts: failed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::circle::CircleModel;

    #[test]
    fn rejects_bad_input() {
        assert!(energy(&[], 1.0).is_err());
        assert!(energy(&[0.0, 1.0], 0.0).is_err());
        assert!(gradient(&[0.0, f64::NAN], 1.0).is_err());
        assert!(critical_points(&LandscapeParams::new(9, 1.0, 0)).is_err());
        assert!(critical_points(&LandscapeParams::new(1, 1.0, 0)).is_err());
        assert!(critical_points(&LandscapeParams::new(3, f64::NAN, 0)).is_err());
    }

    #[test]
    fn gradient_and_hessian_match_finite_differences() {
        let theta = [0.3, -1.2, 2.5, 0.9, -2.9];
        for beta in [0.3, 1.0, 4.0] {
            let g = gradient(&theta, beta).unwrap();
            let h = hessian(&theta, beta).unwrap();
            let n = theta.len();
            let eps = 1e-5;
            for i in 0..n {
                let mut p = theta;
                let mut m = theta;
                p[i] += eps;
                m[i] -= eps;
                let fd = (energy(&p, beta).unwrap() - energy(&m, beta).unwrap()) / (2.0 * eps);
                assert!(
                    (fd - g[i]).abs() < 1e-8 * beta.exp(),
                    "grad beta {beta} i {i}: {fd} vs {}",
                    g[i]
                );
                let gp = gradient(&p, beta).unwrap();
                let gm = gradient(&m, beta).unwrap();
                for k in 0..n {
                    let fd2 = (gp[k] - gm[k]) / (2.0 * eps);
                    assert!(
                        (fd2 - h[k * n + i]).abs() < 1e-8 * beta.exp(),
                        "hess {k},{i}: {fd2} vs {}",
                        h[k * n + i]
                    );
                }
            }
            // rotation zero mode and symmetry
            for i in 0..n {
                assert!((0..n).map(|k| h[i * n + k]).sum::<f64>().abs() < 1e-15 * beta.exp());
                for k in 0..n {
                    assert_eq!(h[i * n + k], h[k * n + i]);
                }
            }
        }
    }

    #[test]
    fn usa_velocity_is_n_times_gradient() {
        // (7.1) = n grad E_beta (7.4)
        let theta = [0.1, 2.0, -1.0, 2.2];
        let beta = 2.5;
        let g = gradient(&theta, beta).unwrap();
        let mut v = [0.0; 4];
        CircleModel::Usa { beta }.velocity(&theta, &mut v).unwrap();
        for i in 0..4 {
            assert!(
                (v[i] - 4.0 * g[i]).abs() < 1e-13,
                "{} vs {}",
                v[i],
                4.0 * g[i]
            );
        }
    }

    #[test]
    fn reduced_spectrum_of_known_configurations() {
        let beta = 2.0;
        // synchronised: H = (e^beta / n^2)(1 1^T - n I) on 1^perp: all n - 1 eigenvalues -e^beta / n
        let n = 5;
        let h = hessian(&[0.7; 5], beta).unwrap();
        let s = reduced_spectrum(&h, n).unwrap();
        for l in &s.eigenvalues {
            assert!((l + beta.exp() / n as f64).abs() < 1e-12, "{l}");
        }
        // two antipodal points: H_12 = g(pi)/4 = -e^{-beta}/4, reduced eigenvalue 2 * e^{-beta}/4 > 0
        let h = hessian(&[0.0, PI], beta).unwrap();
        let s = reduced_spectrum(&h, 2).unwrap();
        assert!((s.eigenvalues[0] - 0.5 * (-beta).exp()).abs() < 1e-14);
    }

    #[test]
    fn canonical_form_is_rotation_and_permutation_invariant() {
        let theta = [0.3, 2.0, -1.0, 1.1];
        let (_, g1) = canonical_form(&theta);
        let rotated: Vec<f64> = [1.1, 0.3, -1.0, 2.0].iter().map(|t| t + 5.0).collect();
        let (_, g2) = canonical_form(&rotated);
        assert!(same_up_to_rotation(&g1, &g2, 1e-12));
        let (_, g3) = canonical_form(&[0.3, 2.0, -1.0, 1.2]);
        assert!(!same_up_to_rotation(&g1, &g3, 1e-6));
        assert!((g1.iter().sum::<f64>() - 2.0 * PI).abs() < 1e-12);
    }

    fn check_landscape(n: usize, beta: f64, starts: usize) -> LandscapeReport {
        let mut p = LandscapeParams::new(n, beta, 2026);
        p.starts = starts;
        let r = critical_points(&p).unwrap();
        assert_eq!(r.synchronised_maxima, 1, "n {n} beta {beta}: {r:#?}");
        assert_eq!(
            r.non_synchronised_local_maxima, 0,
            "n {n} beta {beta}: {r:#?}"
        );
        for q in &r.points {
            assert!(q.gradient_residual <= 1e-11);
            assert!(q.zero_mode_residual <= 1e-13 * beta.exp());
        }
        r
    }

    #[test]
    fn thm_4_3_small_beta_only_synchronised_maximum() {
        // n = 4, beta = 1 (Thm 4.3, d = 2: beta <= 1)
        let r = check_landscape(4, 1.0, 120);
        // the antipodal split {2 at 0, 2 at pi}, {3, 1} and the square are critical points; some must be found
        assert!(r.strict_saddles + r.local_minima >= 2, "{r:#?}");
        assert_eq!(r.degenerate, 0);
    }

    #[test]
    fn thm_5_1_large_beta_only_synchronised_maximum() {
        // n = 4: 4 (n-1)^2 / pi^2 = 3.65; beta = 6 satisfies both thresholds.
        let r = check_landscape(4, 6.0, 120);
        assert_eq!(r.degenerate, 0);
        assert!(r.strict_saddles >= 1);
    }
}
