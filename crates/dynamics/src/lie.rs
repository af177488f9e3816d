//! Lie-group integrators for the particle dynamics on (S^{d-1})^n (\[GLPR\] (2.3)-(2.6)):
//!
//! ```text
//! xdot_i = P_{x_i}(drift_i(X)) = A_i(X) x_i,     A_i(X) = v_i x_i^T - x_i v_i^T,   v_i = P_{x_i}(drift_i(X)),
//! ```
//!
//! with P_x y = y - <x, y> x. The rotation group SO(d) acts on each particle, (SO(d))^n on the
//! state, and the skew rank-2 generator A_i(X) (A_i x_i = v_i for |x_i| = 1) turns the equation
//! into Xdot = A(X) . X on that group action. Every step below is a composition of exponentials
//! of skew matrices applied to the points: |x_i| = 1 holds to round-off by construction, nothing
//! is projected or renormalised (Hairer-Lubich-Wanner, "Geometric Numerical Integration" (HLW),
//! sections IV.4 and IV.8).
//!
//! - [`LieEuler`] (`lie-euler`, order 1): x_i <- exp(h A_i(X)) x_i, the geodesic step
//!   cos(h |v_i|) x_i + sin(h |v_i|) v_i / |v_i| (HLW IV.8: the one-stage Crouch-Grossman
//!   or Munthe-Kaas method).
//! - [`CrouchGrossman3`] (`cg3`, order 3): Crouch and Grossman, "Numerical integration of ordinary
//!   differential equations on manifolds", J. Nonlinear Sci. 3 (1993); the three-stage table of
//!   HLW IV.8 (c = (0, 3/4, 17/24), a21 = 3/4, a31 = 119/216, a32 = 17/108,
//!   b = (13/51, -2/3, 24/17)). Stages and update are products of exponentials of single stage
//!   generators, the one applied first standing rightmost:
//!   Y_i = exp(h a_{i,i-1} F_{i-1}) ... exp(h a_{i1} F_1) x.
//! - [`Rkmk4`] (`rkmk4`, order 4): Runge-Kutta-Munthe-Kaas (Munthe-Kaas, "High order Runge-Kutta
//!   methods on manifolds", Appl. Numer. Math. 29 (1999); HLW IV.8.2, Algorithm 8.3) with the
//!   classical RK4 tableau in the Lie algebra: Theta_i = h sum_j a_ij K_j, Y_i = exp(Theta_i) x,
//!   K_i = dexp^{-1}_{Theta_i}(A(Y_i)), x_1 = exp(h sum_i b_i K_i) x, with dexp^{-1} truncated
//!   after the terms its order needs (q = p - 2 = 2: K = F - [Theta, F]/2 + [Theta, [Theta, F]]/12).
//! - [`CommutatorFree4`] (`cf4`, order 4): the commutator-free method of Celledoni, Marthinsen and
//!   Owren, "Commutator-free Lie group methods", Future Gener. Comput. Syst. 19 (2003):
//!   Y_2 = exp(h F_1 / 2) x, Y_3 = exp(h F_2 / 2) x, Y_4 = exp(h (F_3 - F_1 / 2)) Y_2,
//!   x_1 = exp(h (-F_1 + 2 F_2 + 2 F_3 + 3 F_4) / 12) exp(h (3 F_1 + 2 F_2 + 2 F_3 - F_4) / 12) x.
//! - [`Rkmk45`] (`rkmk45`, order 5 with an embedded order-4 estimate): RKMK with the
//!   Dormand-Prince 5(4) tableau (dexp^{-1} truncated at q = 3; B_3 = 0, so the same two
//!   commutator terms), with the step control, tolerances, trial cap and statistics of
//!   [`DormandPrince54`]. The error estimate is (Theta - Theta_hat) x, the difference of the
//!   two updates in the algebra acting on the start point (leading term of exp(Theta) x -
//!   exp(Theta_hat) x), measured in the same mixed RMS norm.
//!
//! Exact low-dimensional formulation. Every stage generator of particle i is a rank-2 skew matrix
//! F = v y^T - y v^T with y a stage point and v its velocity, and every stage point lies in
//! W_i = span{x_i, v_i^(1), ..., v_i^(s)}: the linear combinations, commutators and exponentials
//! the methods take act on W_i and leave its orthogonal complement fixed. [`LieEuler`] and
//! [`CrouchGrossman3`] exponentiate single rank-2 generators, in closed form on R^d (Rodrigues:
//! exp(G) z = z + sin(s)/s G z + (1 - cos s)/s^2 G^2 z, s^2 = |v|^2 |y|^2 - <v, y>^2). The other
//! methods keep, per particle, an orthonormal frame of W_i (Gram-Schmidt twice, Kahan-Parlett's
//! rule for numerically dependent vectors; dim W_i = m <= min(d, s + 1) <= 8) and do the algebra
//! on m x m skew matrices: dexp^{-1} of a rank-2 generator in O(m^2) through
//! [theta, p q^T - q p^T] = W(theta p, q) + W(p, theta q), and exp(S) z by a Taylor series of
//! S / 2^k (infinity norm <= 1/2, summed until the terms fall below 1e-21 of the sum) with k
//! squarings when k > 0. All skew matrices are exactly antisymmetric in floating point, and a
//! point moves by its displacement, x_i + Q_i (exp(S) - I) c_i (Q_i the frame, c_i the coordinates
//! of x_i), so that the round-off of a step scales with its rotation angle: the norms drift by
//! round-off only (about 1e-14 after 10^4 steps, tested).
//!
//! Cost per step (n particles in R^d, s field evaluations): lie-euler 1 evaluation + O(n d);
//! cg3 3 evaluations + 6 rank-2 exponentials, O(n d); rkmk4 4 evaluations + per particle
//! O(m d) frame work (m <= 5), 4 exponentials of m x m skew matrices and 3 dexp^{-1} (O(m^2));
//! cf4 4 evaluations + the same frame work and 5 exponentials, no dexp^{-1}; rkmk45 7
//! evaluations per trial step + O(m d) frame work (m <= 8), 7 exponentials and 6 dexp^{-1}.
//! The frame work does not depend on n: about 1 microsecond per particle and rkmk4 step at d = 3
//! (an rkmk4 step of 32 points on S^2 costs about 7 rk4 steps, cf4 about 6, cg3 about 2, lie-euler
//! less than one; bench `lie_step`), so the field evaluation (O(n^2 d)) dominates only from n of a
//! few hundred.
//!
//! These integrators refuse the Euclidean geometry (model (9.1)): there is no rotation-group
//! action on R^d that moves the points along the field.
//!
//! [`DormandPrince54`]: crate::DormandPrince54

use crate::error::{DynamicsError, Result, invalid};
use crate::integrate::{
    DP_A, DP_B, DP_B_HAT, EmbeddedStepControl, IntegrationStats, Integrator, check_step,
    finite_state,
};
use crate::kernel::AlignedBuf;
use crate::model::{Geometry, VectorField, Workspace};

/// The largest frame dimension: the point and seven stage velocities (rkmk45).
const FRAME: usize = 8;
/// A skew-symmetric matrix on a frame, row-major with the row stride `cap` of its step
/// (cap = min(d, 1 + number of stages) <= FRAME: every frame of the step fits); entries outside
/// the active m x m block are zero.
type Skew = [f64; FRAME * FRAME];
/// Coordinates in a particle's frame, entries past its dimension zero.
type Coords = [f64; FRAME];

/// Refuses every geometry but the sphere (see the module docs).
fn check_sphere(field: &dyn VectorField, scheme: &str) -> Result<()> {
    if field.geometry() == Geometry::Sphere {
        Ok(())
    } else {
        Err(invalid(
            "geometry",
            format!(
                "{scheme} is a Lie-group method for the sphere (S^(d-1))^n; the Euclidean model (9.1) has no rotation-group action: use rk4 or dp54"
            ),
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// Rank-2 exponentials on R^d (Rodrigues).

/// sin(s) / s, 1 at s = 0.
fn sinc(s: f64) -> f64 {
    if s == 0.0 { 1.0 } else { s.sin() / s }
}

/// z <- exp(t (v y^T - y v^T)) z: the rotation by the angle t |v ^ y| in the plane of v and y
/// (Rodrigues' formula for a rank-2 skew generator G, with G z = <y, z> v - <v, z> y).
fn rotate(t: f64, v: &[f64], y: &[f64], z: &mut [f64]) {
    let dot = crate::config::dot;
    let (vv, vy, yy) = (dot(v, v), dot(v, y), dot(y, y));
    let angle = t.abs() * (vv * yy - vy * vy).max(0.0).sqrt();
    let (p, q) = (dot(y, z), dot(v, z));
    // exp(tG) z = z + t sinc(angle) G z + t^2 (1 - cos angle) / angle^2 G^2 z
    let s1 = t * sinc(angle);
    let half = sinc(0.5 * angle);
    let s2 = 0.5 * t * t * half * half;
    // G z = p v - q y;  G^2 z = (p vy - q yy) v + (q vy - p vv) y
    let cv = s1 * p + s2 * (p * vy - q * yy);
    let cy = -s1 * q + s2 * (q * vy - p * vv);
    for ((zk, vk), yk) in z.iter_mut().zip(v).zip(y) {
        *zk += cv * vk + cy * yk;
    }
}

// ---------------------------------------------------------------------------------------------
// The algebra on a particle's frame: m x m skew matrices.

/// out = f eta^T - eta f^T: the generator v y^T - y v^T in frame coordinates.
fn wedge(f: &Coords, eta: &Coords, cap: usize, out: &mut Skew) {
    for r in 0..cap {
        for c in 0..cap {
            out[r * cap + c] = f[r] * eta[c] - eta[r] * f[c];
        }
    }
}

/// out = sum_k w_k S_k.
fn combine<'a>(terms: impl IntoIterator<Item = (f64, &'a Skew)>, cap: usize, out: &mut Skew) {
    let out = &mut out[..cap * cap];
    out.fill(0.0);
    for (w, s) in terms {
        if w != 0.0 {
            out.iter_mut().zip(s).for_each(|(o, v)| *o += w * v);
        }
    }
}

/// theta p for a coordinate vector p.
fn apply(theta: &Skew, m: usize, cap: usize, p: &Coords) -> Coords {
    let mut out = [0.0; FRAME];
    for r in 0..m {
        out[r] = (0..m).map(|c| theta[r * cap + c] * p[c]).sum();
    }
    out
}

/// dexp^{-1}_theta(F) for the rank-2 generator F = f eta^T - eta f^T, truncated after the terms
/// order 4 and 5 methods need (HLW IV.8, Theorem 8.5: q >= p - 2, and the Bernoulli number
/// B_3 = 0): F - [theta, F] / 2 + [theta, [theta, F]] / 12. With W(p, q) = p q^T - q p^T and
/// [theta, W(p, q)] = W(theta p, q) + W(p, theta q) for skew theta, in O(m^2):
/// [theta, F] = W(a, eta) + W(f, b) and [theta, [theta, F]] = W(theta a, eta) + 2 W(a, b) +
/// W(f, theta b), with a = theta f, b = theta eta. Exactly antisymmetric.
fn dexpinv(theta: &Skew, f: &Coords, eta: &Coords, m: usize, cap: usize, out: &mut Skew) {
    let a = apply(theta, m, cap, f);
    let b = apply(theta, m, cap, eta);
    let (ta, tb) = (apply(theta, m, cap, &a), apply(theta, m, cap, &b));
    let w = |p: &Coords, q: &Coords, r: usize, c: usize| p[r] * q[c] - q[r] * p[c];
    out[..cap * cap].fill(0.0);
    for r in 0..m {
        for c in 0..m {
            let first = w(&a, eta, r, c) + w(f, &b, r, c);
            let second = w(&ta, eta, r, c) + 2.0 * w(&a, &b, r, c) + w(f, &tb, r, c);
            out[r * cap + c] = w(f, eta, r, c) - 0.5 * first + second / 12.0;
        }
    }
}

/// Largest magnitude of a coordinate vector.
fn max_abs(z: &[f64]) -> f64 {
    z.iter().fold(0.0, |m: f64, v| m.max(v.abs()))
}

/// Taylor terms are summed until they fall below this fraction of the sum (with the argument's
/// norm at most 1/2 the remaining tail is smaller than the last term). Far below the round-off of
/// one step: the truncated tail does not preserve the norm and errs with the same sign step after
/// step, unlike round-off.
const TAYLOR_STOP: f64 = 1e-21;
/// Never more terms than this (a non-finite argument).
const TAYLOR_MAX_TERMS: usize = 40;

/// The increment (exp(s) - I) z for the skew m x m matrix s: Taylor series of s / 2^k with
/// infinity norm <= 1/2, summed on the vector when k = 0, else as the matrix D = exp(s / 2^k) - I
/// squared k times as D <- 2 D + D^2. Working with the increment keeps the round-off of a step
/// proportional to the step's rotation angle (exp(s) z itself would carry an error of order
/// eps |z| every step). Non-finite s gives a non-finite increment.
fn exp_increment(s: &Skew, m: usize, cap: usize, z: &Coords) -> Coords {
    let norm = (0..m)
        .map(|r| (0..m).map(|c| s[r * cap + c].abs()).sum::<f64>())
        .fold(0.0, f64::max);
    if !norm.is_finite() {
        return [f64::NAN; FRAME];
    }
    let mut squarings = 0;
    let mut scaled = norm;
    while scaled > 0.5 {
        scaled *= 0.5;
        squarings += 1;
    }
    let mut increment = [0.0; FRAME];
    if squarings == 0 {
        let mut term = *z;
        let size = max_abs(z);
        for k in 1..=TAYLOR_MAX_TERMS {
            let mut next = [0.0; FRAME];
            for r in 0..m {
                next[r] = (0..m).map(|c| s[r * cap + c] * term[c]).sum::<f64>() / k as f64;
            }
            term = next;
            increment.iter_mut().zip(&term).for_each(|(a, t)| *a += t);
            if max_abs(&term) <= TAYLOR_STOP * size {
                break;
            }
        }
        return increment;
    }
    let scale = 0.5f64.powi(squarings);
    let mut e = [0.0; FRAME * FRAME];
    let mut term = [0.0; FRAME * FRAME];
    for r in 0..m {
        term[r * cap + r] = 1.0;
    }
    for k in 1..=TAYLOR_MAX_TERMS {
        let mut next = [0.0; FRAME * FRAME];
        for r in 0..m {
            for c in 0..m {
                next[r * cap + c] = (0..m)
                    .map(|j| term[r * cap + j] * s[j * cap + c])
                    .sum::<f64>()
                    * (scale / k as f64);
            }
        }
        term = next;
        e.iter_mut().zip(&term).for_each(|(a, t)| *a += t);
        if max_abs(&term) <= TAYLOR_STOP {
            break;
        }
    }
    for _ in 0..squarings {
        let mut sq = [0.0; FRAME * FRAME];
        for r in 0..m {
            for c in 0..m {
                let product: f64 = (0..m).map(|j| e[r * cap + j] * e[j * cap + c]).sum();
                sq[r * cap + c] = 2.0 * e[r * cap + c] + product;
            }
        }
        e = sq;
    }
    for r in 0..m {
        increment[r] = (0..m).map(|c| e[r * cap + c] * z[c]).sum();
    }
    increment
}

/// a + b, coordinate by coordinate.
fn add(a: &Coords, b: &Coords) -> Coords {
    std::array::from_fn(|k| a[k] + b[k])
}

// ---------------------------------------------------------------------------------------------
// Frames of the subspaces W_i.

/// Per particle, an orthonormal frame q_1 = x_i / |x_i|, q_2, ..., q_m of W_i (row-major,
/// FRAME rows of d per particle) and the coordinates of x_i in it.
#[derive(Debug, Default, Clone)]
struct Frames {
    d: usize,
    /// The frame dimension this step can reach: min(d, 1 + number of stages).
    cap: usize,
    basis: Vec<f64>,
    dim: Vec<usize>,
    start: Vec<Coords>,
    residual: Vec<f64>,
}

impl Frames {
    /// Frames of span{x_i}: q_1 = x_i / |x_i|, x_i = (|x_i|, 0, ...), for a step that will
    /// absorb `stages` velocities.
    fn reset(&mut self, x: &[f64], n: usize, d: usize, stages: usize) -> Result<()> {
        debug_assert!(stages < FRAME);
        self.d = d;
        self.cap = d.min(stages + 1);
        self.basis.resize(n * FRAME * d, 0.0);
        self.dim.clear();
        self.dim.resize(n, 1);
        self.start.clear();
        self.start.resize(n, [0.0; FRAME]);
        self.residual.resize(d, 0.0);
        for (i, xi) in x.chunks_exact(d).enumerate() {
            let r = crate::config::norm(xi);
            if !r.is_finite() {
                return Err(DynamicsError::NonFiniteState { t: f64::NAN });
            }
            if r == 0.0 {
                return Err(invalid(
                    "x",
                    format!("particle {i} is the zero vector, not a point of the sphere"),
                ));
            }
            let q = &mut self.basis[i * FRAME * d..i * FRAME * d + d];
            q.iter_mut().zip(xi).for_each(|(qk, xk)| *qk = xk / r);
            self.start[i][0] = r;
        }
        Ok(())
    }

    /// The coordinates of `v` in particle i's frame, after extending the frame by the part of `v`
    /// orthogonal to it when that part is numerically independent (Gram-Schmidt twice; a second
    /// residual below half the first means `v` lies in the frame to working precision,
    /// Kahan-Parlett).
    fn absorb(&mut self, i: usize, v: &[f64]) -> Coords {
        let d = self.d;
        let m = self.dim[i];
        let frame = &mut self.basis[i * FRAME * d..(i + 1) * FRAME * d];
        let r = &mut self.residual;
        r.copy_from_slice(v);
        let mut coef = [0.0; FRAME];
        let mut norms = [0.0; 2];
        for norm in &mut norms {
            for (b, q) in frame.chunks_exact(d).take(m).enumerate() {
                let p = crate::config::dot(q, r);
                coef[b] += p;
                r.iter_mut().zip(q).for_each(|(rk, qk)| *rk -= p * qk);
            }
            *norm = crate::config::norm(r);
        }
        let [first, second] = norms;
        if m < self.cap && second > 0.0 && second >= 0.5 * first {
            let q = &mut frame[m * d..(m + 1) * d];
            q.iter_mut()
                .zip(r.iter())
                .for_each(|(qk, rk)| *qk = rk / second);
            coef[m] = second;
            self.dim[i] = m + 1;
        }
        coef
    }

    /// out += sum_b c_b q_b: adds the vector with coordinates c in particle i's frame (the points
    /// of a step are x_i + (the frame vector of their displacement from x_i's coordinates)).
    fn displace(&self, i: usize, c: &Coords, out: &mut [f64]) {
        let d = self.d;
        let frame = &self.basis[i * FRAME * d..(i + 1) * FRAME * d];
        for (cb, q) in c.iter().zip(frame.chunks_exact(d)).take(self.dim[i]) {
            out.iter_mut().zip(q).for_each(|(o, qk)| *o += cb * qk);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Lie-Euler.

/// The Lie-Euler method: x_i <- exp(h A_i(X)) x_i, a geodesic step of length h |v_i| along the
/// velocity (order 1, one field evaluation).
///
/// ```
/// use attnflow_dynamics::{Integrator, SelfAttention, lie::LieEuler, sampling};
///
/// let field = SelfAttention::sa(2.0)?;
/// let x0 = sampling::uniform_sphere(6, 3, &mut sampling::stream(8, 0, sampling::Purpose::Other(0)))?;
/// let mut x = x0.as_slice().to_vec();
/// let mut euler = LieEuler::default();
/// euler.step(&field, &mut x, 6, 3, 0.1)?;
/// assert_eq!((euler.order(), euler.stats().evaluations), (1, 1));
/// for row in x.chunks_exact(3) {
///     assert!((row.iter().map(|v| v * v).sum::<f64>() - 1.0).abs() < 1e-15);
/// }
/// # Ok::<(), attnflow_dynamics::DynamicsError>(())
/// ```
#[derive(Debug, Default, Clone)]
pub struct LieEuler {
    ws: Workspace,
    velocity: AlignedBuf,
    /// The points before the step (each generator's y).
    start: AlignedBuf,
    stats: IntegrationStats,
}

impl Integrator for LieEuler {
    fn name(&self) -> &'static str {
        "lie-euler"
    }
    fn order(&self) -> u32 {
        1
    }
    fn step(
        &mut self,
        field: &dyn VectorField,
        x: &mut [f64],
        n: usize,
        d: usize,
        h: f64,
    ) -> Result<()> {
        check_step(h, x, n, d)?;
        check_sphere(field, self.name())?;
        self.velocity.resize(n * d);
        field.velocity_into(x, n, d, &mut self.velocity, &mut self.ws)?;
        self.stats.steps += 1;
        self.stats.accepted += 1;
        self.stats.evaluations += 1;
        self.start.resize(n * d);
        self.start.copy_from_slice(x);
        let rows = x.chunks_exact_mut(d).zip(self.start.chunks_exact(d));
        for ((xi, yi), vi) in rows.zip(self.velocity.chunks_exact(d)) {
            rotate(h, vi, yi, xi);
        }
        finite_state(x.iter().all(|v| v.is_finite()))
    }
    fn stats(&self) -> IntegrationStats {
        self.stats
    }
}

// ---------------------------------------------------------------------------------------------
// Crouch-Grossman 3.

/// Crouch-Grossman order-3 coefficients (HLW IV.8; Crouch and Grossman 1993).
const CG3_A: [[f64; 2]; 3] = [[0.0, 0.0], [3.0 / 4.0, 0.0], [119.0 / 216.0, 17.0 / 108.0]];
const CG3_B: [f64; 3] = [13.0 / 51.0, -2.0 / 3.0, 24.0 / 17.0];

/// The Crouch-Grossman method of order 3: three field evaluations, every stage and the update a
/// product of exponentials of single stage generators F_j = v_j y_j^T - y_j v_j^T (see the
/// module docs for the table).
#[derive(Debug, Default, Clone)]
pub struct CrouchGrossman3 {
    ws: Workspace,
    /// Stage points Y_1 = x, Y_2, Y_3 and their velocities.
    points: [AlignedBuf; 3],
    velocities: [AlignedBuf; 3],
    stats: IntegrationStats,
}

impl Integrator for CrouchGrossman3 {
    fn name(&self) -> &'static str {
        "cg3"
    }
    fn order(&self) -> u32 {
        3
    }
    fn step(
        &mut self,
        field: &dyn VectorField,
        x: &mut [f64],
        n: usize,
        d: usize,
        h: f64,
    ) -> Result<()> {
        check_step(h, x, n, d)?;
        check_sphere(field, self.name())?;
        let len = n * d;
        self.points.iter_mut().for_each(|p| p.resize(len));
        self.velocities.iter_mut().for_each(|v| v.resize(len));
        self.points[0].copy_from_slice(x);
        for (s, a) in CG3_A.iter().enumerate() {
            if s > 0 {
                let (done, rest) = self.points.split_at_mut(s);
                let stage = &mut rest[0];
                stage.copy_from_slice(x);
                for i in 0..n {
                    let row = i * d..(i + 1) * d;
                    let z = &mut stage[row.clone()];
                    for ((aj, vj), yj) in a.iter().zip(&self.velocities).zip(done.iter()) {
                        rotate(h * aj, &vj[row.clone()], &yj[row.clone()], z);
                    }
                }
            }
            field.velocity_into(&self.points[s], n, d, &mut self.velocities[s], &mut self.ws)?;
        }
        for i in 0..n {
            let row = i * d..(i + 1) * d;
            let stages = CG3_B.iter().zip(&self.velocities).zip(&self.points);
            for ((bj, vj), yj) in stages {
                rotate(
                    h * bj,
                    &vj[row.clone()],
                    &yj[row.clone()],
                    &mut x[row.clone()],
                );
            }
        }
        self.stats.steps += 1;
        self.stats.accepted += 1;
        self.stats.evaluations += 3;
        finite_state(x.iter().all(|v| v.is_finite()))
    }
    fn stats(&self) -> IntegrationStats {
        self.stats
    }
}

// ---------------------------------------------------------------------------------------------
// Runge-Kutta-Munthe-Kaas.

/// An explicit Runge-Kutta tableau for RKMK: rows of a (row s uses its first s entries),
/// weights b and, for an embedded pair, b_hat.
struct Tableau {
    a: &'static [[f64; 6]],
    b: &'static [f64],
    b_hat: Option<&'static [f64]>,
}

/// The classical fourth-order Runge-Kutta tableau.
const RK4_TABLEAU: Tableau = Tableau {
    a: &[
        [0.0; 6],
        [0.5, 0.0, 0.0, 0.0, 0.0, 0.0],
        [0.0, 0.5, 0.0, 0.0, 0.0, 0.0],
        [0.0, 0.0, 1.0, 0.0, 0.0, 0.0],
    ],
    b: &[1.0 / 6.0, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 6.0],
    b_hat: None,
};

/// The Dormand-Prince 5(4) tableau of [`DormandPrince54`](crate::DormandPrince54) (the last
/// stage is at the new point).
const DP_TABLEAU: Tableau = Tableau {
    a: &DP_A,
    b: &DP_B,
    b_hat: Some(&DP_B_HAT),
};

/// The stages of an RKMK step: frames, stage points and the dexp^{-1}-corrected generators K_j.
#[derive(Debug, Default, Clone)]
struct RkmkStages {
    ws: Workspace,
    frames: Frames,
    points: AlignedBuf,
    velocity: AlignedBuf,
    /// Theta_s of the current stage and the coordinates of its stage point, per particle.
    theta: Vec<Skew>,
    eta: Vec<Coords>,
    /// K_j per stage, per particle.
    k: Vec<Vec<Skew>>,
}

impl RkmkStages {
    /// One RKMK step of size h from x with `tableau`: the new points in `out`; for an embedded
    /// pair, (Theta - Theta_hat) x_i in `error` (row-major).
    // i indexes the particles of every buffer at once
    #[allow(clippy::needless_range_loop, clippy::too_many_arguments)]
    fn step(
        &mut self,
        tableau: &Tableau,
        field: &dyn VectorField,
        x: &[f64],
        n: usize,
        d: usize,
        h: f64,
        out: &mut [f64],
        error: Option<&mut [f64]>,
    ) -> Result<()> {
        let stages = tableau.b.len();
        self.frames.reset(x, n, d, stages)?;
        let cap = self.frames.cap;
        self.points.resize(n * d);
        self.velocity.resize(n * d);
        self.theta.resize(n, [0.0; FRAME * FRAME]);
        self.k.resize(stages, Vec::new());
        self.k
            .iter_mut()
            .for_each(|k| k.resize(n, [0.0; FRAME * FRAME]));
        let mut eta = std::mem::take(&mut self.eta);
        eta.resize(n, [0.0; FRAME]);
        for s in 0..stages {
            if s == 0 {
                field.velocity_into(x, n, d, &mut self.velocity, &mut self.ws)?;
                eta.copy_from_slice(&self.frames.start);
            } else {
                for i in 0..n {
                    let m = self.frames.dim[i];
                    let terms = (0..s).map(|j| (h * tableau.a[s][j], &self.k[j][i]));
                    combine(terms, cap, &mut self.theta[i]);
                    let start = &self.frames.start[i];
                    let delta = exp_increment(&self.theta[i], m, cap, start);
                    eta[i] = add(start, &delta);
                    let point = &mut self.points[i * d..(i + 1) * d];
                    point.copy_from_slice(&x[i * d..(i + 1) * d]);
                    self.frames.displace(i, &delta, point);
                }
                field.velocity_into(&self.points, n, d, &mut self.velocity, &mut self.ws)?;
            }
            for i in 0..n {
                let f = self.frames.absorb(i, &self.velocity[i * d..(i + 1) * d]);
                if s == 0 {
                    wedge(&f, &eta[i], cap, &mut self.k[s][i]);
                } else {
                    let m = self.frames.dim[i];
                    dexpinv(&self.theta[i], &f, &eta[i], m, cap, &mut self.k[s][i]);
                }
            }
        }
        self.eta = eta;
        for i in 0..n {
            let m = self.frames.dim[i];
            let mut theta = [0.0; FRAME * FRAME];
            combine(
                (0..stages).map(|j| (h * tableau.b[j], &self.k[j][i])),
                cap,
                &mut theta,
            );
            let delta = exp_increment(&theta, m, cap, &self.frames.start[i]);
            let row = &mut out[i * d..(i + 1) * d];
            row.copy_from_slice(&x[i * d..(i + 1) * d]);
            self.frames.displace(i, &delta, row);
        }
        if let (Some(error), Some(b_hat)) = (error, tableau.b_hat) {
            for i in 0..n {
                let m = self.frames.dim[i];
                let mut diff = [0.0; FRAME * FRAME];
                let terms = (0..stages).map(|j| (h * (tableau.b[j] - b_hat[j]), &self.k[j][i]));
                combine(terms, cap, &mut diff);
                let c = &self.frames.start[i];
                let mut e = [0.0; FRAME];
                for r in 0..m {
                    e[r] = (0..m).map(|col| diff[r * cap + col] * c[col]).sum();
                }
                let row = &mut error[i * d..(i + 1) * d];
                row.fill(0.0);
                self.frames.displace(i, &e, row);
            }
        }
        Ok(())
    }
}

/// Runge-Kutta-Munthe-Kaas of order 4: the classical RK4 tableau in the Lie algebra with the
/// dexp^{-1} corrections (four field evaluations, see the module docs).
///
/// ```
/// use attnflow_dynamics::{Integrator, SelfAttention, lie::Rkmk4, sampling};
///
/// let field = SelfAttention::usa(1.0)?;
/// let x0 = sampling::uniform_sphere(5, 4, &mut sampling::stream(9, 0, sampling::Purpose::Other(0)))?;
/// let mut x = x0.as_slice().to_vec();
/// let mut rkmk4 = Rkmk4::default();
/// rkmk4.step(&field, &mut x, 5, 4, 0.2)?;
/// assert_eq!((rkmk4.order(), rkmk4.stats().evaluations), (4, 4));
/// for row in x.chunks_exact(4) {
///     assert!((row.iter().map(|v| v * v).sum::<f64>() - 1.0).abs() < 1e-15);
/// }
/// # Ok::<(), attnflow_dynamics::DynamicsError>(())
/// ```
#[derive(Debug, Default, Clone)]
pub struct Rkmk4 {
    stages: RkmkStages,
    next: AlignedBuf,
    stats: IntegrationStats,
}

impl Integrator for Rkmk4 {
    fn name(&self) -> &'static str {
        "rkmk4"
    }
    fn order(&self) -> u32 {
        4
    }
    fn step(
        &mut self,
        field: &dyn VectorField,
        x: &mut [f64],
        n: usize,
        d: usize,
        h: f64,
    ) -> Result<()> {
        check_step(h, x, n, d)?;
        check_sphere(field, self.name())?;
        self.next.resize(n * d);
        self.stages
            .step(&RK4_TABLEAU, field, x, n, d, h, &mut self.next, None)?;
        x.copy_from_slice(&self.next);
        self.stats.steps += 1;
        self.stats.accepted += 1;
        self.stats.evaluations += 4;
        finite_state(x.iter().all(|v| v.is_finite()))
    }
    fn stats(&self) -> IntegrationStats {
        self.stats
    }
}

// ---------------------------------------------------------------------------------------------
// Commutator-free order 4.

/// The commutator-free Lie group method of order 4 of Celledoni, Marthinsen and Owren (2003):
/// four field evaluations, five exponentials of linear combinations of the stage generators and
/// no commutators (see the module docs).
///
/// ```
/// use attnflow_dynamics::{Integrator, SelfAttention, lie::CommutatorFree4, sampling};
///
/// let field = SelfAttention::sa(4.0)?;
/// let x0 = sampling::uniform_sphere(7, 16, &mut sampling::stream(10, 0, sampling::Purpose::Other(0)))?;
/// let mut x = x0.as_slice().to_vec();
/// let mut cf4 = CommutatorFree4::default();
/// cf4.step(&field, &mut x, 7, 16, 0.25)?;
/// assert_eq!((cf4.order(), cf4.stats().evaluations), (4, 4));
/// for row in x.chunks_exact(16) {
///     assert!((row.iter().map(|v| v * v).sum::<f64>() - 1.0).abs() < 1e-15);
/// }
/// # Ok::<(), attnflow_dynamics::DynamicsError>(())
/// ```
#[derive(Debug, Default, Clone)]
pub struct CommutatorFree4 {
    ws: Workspace,
    frames: Frames,
    points: AlignedBuf,
    velocity: AlignedBuf,
    /// Per particle: the stage generators F_1..F_4, and the displacements (coordinates relative
    /// to x_i's) of the current stage point and of Y_2.
    generators: Vec<[Skew; 4]>,
    delta: Vec<Coords>,
    second: Vec<Coords>,
    stats: IntegrationStats,
}

impl CommutatorFree4 {
    /// The displacement of exp(sum_k w_k F_k) z_i from x_i for every particle, z = Y_2 when
    /// `from_second`, else x.
    fn move_points(&mut self, from_second: bool, terms: &[(f64, usize)]) {
        for i in 0..self.delta.len() {
            let mut s = [0.0; FRAME * FRAME];
            let generators = &self.generators[i];
            let cap = self.frames.cap;
            combine(terms.iter().map(|&(w, k)| (w, &generators[k])), cap, &mut s);
            let base = if from_second {
                self.second[i]
            } else {
                [0.0; FRAME]
            };
            let z = add(&self.frames.start[i], &base);
            self.delta[i] = add(&base, &exp_increment(&s, self.frames.dim[i], cap, &z));
        }
    }

    /// Evaluates the field at the stage points x_i + (displacement) and stores their generators
    /// F_s = f eta^T - eta f^T (eta: the stage point's coordinates).
    fn stage(
        &mut self,
        field: &dyn VectorField,
        s: usize,
        x: &[f64],
        n: usize,
        d: usize,
    ) -> Result<()> {
        self.points.copy_from_slice(x);
        for (i, delta) in self.delta.iter().enumerate() {
            self.frames
                .displace(i, delta, &mut self.points[i * d..(i + 1) * d]);
        }
        field.velocity_into(&self.points, n, d, &mut self.velocity, &mut self.ws)?;
        for (i, delta) in self.delta.iter().enumerate() {
            let f = self.frames.absorb(i, &self.velocity[i * d..(i + 1) * d]);
            let eta = add(&self.frames.start[i], delta);
            wedge(&f, &eta, self.frames.cap, &mut self.generators[i][s]);
        }
        Ok(())
    }
}

impl Integrator for CommutatorFree4 {
    fn name(&self) -> &'static str {
        "cf4"
    }
    fn order(&self) -> u32 {
        4
    }
    fn step(
        &mut self,
        field: &dyn VectorField,
        x: &mut [f64],
        n: usize,
        d: usize,
        h: f64,
    ) -> Result<()> {
        check_step(h, x, n, d)?;
        check_sphere(field, self.name())?;
        self.frames.reset(x, n, d, 4)?;
        self.points.resize(n * d);
        self.velocity.resize(n * d);
        self.generators.resize(n, [[0.0; FRAME * FRAME]; 4]);
        self.delta.clear();
        self.delta.resize(n, [0.0; FRAME]);
        self.stage(field, 0, x, n, d)?;
        // Y_2 = exp(h F_1 / 2) x, Y_3 = exp(h F_2 / 2) x, Y_4 = exp(h (F_3 - F_1 / 2)) Y_2
        self.move_points(false, &[(0.5 * h, 0)]);
        self.second.clear();
        self.second.extend_from_slice(&self.delta);
        self.stage(field, 1, x, n, d)?;
        self.move_points(false, &[(0.5 * h, 1)]);
        self.stage(field, 2, x, n, d)?;
        self.move_points(true, &[(h, 2), (-0.5 * h, 0)]);
        self.stage(field, 3, x, n, d)?;
        // x_1 = exp(h (-F_1 + 2 F_2 + 2 F_3 + 3 F_4) / 12) exp(h (3 F_1 + 2 F_2 + 2 F_3 - F_4) / 12) x
        let w = h / 12.0;
        self.move_points(false, &[(3.0 * w, 0), (2.0 * w, 1), (2.0 * w, 2), (-w, 3)]);
        self.second.copy_from_slice(&self.delta);
        self.move_points(true, &[(-w, 0), (2.0 * w, 1), (2.0 * w, 2), (3.0 * w, 3)]);
        for (i, delta) in self.delta.iter().enumerate() {
            self.frames.displace(i, delta, &mut x[i * d..(i + 1) * d]);
        }
        self.stats.steps += 1;
        self.stats.accepted += 1;
        self.stats.evaluations += 4;
        finite_state(x.iter().all(|v| v.is_finite()))
    }
    fn stats(&self) -> IntegrationStats {
        self.stats
    }
}

// ---------------------------------------------------------------------------------------------
// Adaptive RKMK 5(4).

/// Adaptive RKMK with the Dormand-Prince 5(4) pair: the step control, tolerances, trial cap and
/// statistics of [`DormandPrince54`](crate::DormandPrince54) (the same controller; seven field
/// evaluations per trial step), the points staying on the sphere by construction.
///
/// ```
/// use attnflow_dynamics::{SelfAttention, Solver, lie::Rkmk45, sampling};
///
/// let field = SelfAttention::usa(1.0)?;
/// let x0 = sampling::uniform_sphere(6, 3, &mut sampling::stream(6, 0, sampling::Purpose::Other(0)))?;
/// let mut solver = Solver::new(&field, Rkmk45::new(1e-9, 1e-11)?, &x0, 0.5)?;
/// solver.advance_to(2.0)?;
/// let stats = solver.stats();
/// assert_eq!(stats.steps, 4);
/// assert!(stats.accepted > stats.steps);
/// assert_eq!(stats.evaluations, 7 * (stats.accepted + stats.rejected));
/// # Ok::<(), attnflow_dynamics::DynamicsError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Rkmk45 {
    control: EmbeddedStepControl,
    stages: RkmkStages,
    candidate: AlignedBuf,
    error: AlignedBuf,
    stats: IntegrationStats,
}

impl Rkmk45 {
    /// Adaptive integrator with the RMS error norm of
    /// [`DormandPrince54::new`](crate::DormandPrince54::new); both tolerances must be finite and
    /// at least [`DormandPrince54::MIN_TOLERANCE`](crate::DormandPrince54::MIN_TOLERANCE).
    pub fn new(rtol: f64, atol: f64) -> Result<Self> {
        Ok(Self::with_control(EmbeddedStepControl::new(rtol, atol)?))
    }
    /// One fifth-order step per call, no error control (for convergence-order studies).
    pub fn fixed() -> Self {
        Self::with_control(EmbeddedStepControl::fixed())
    }
    fn with_control(control: EmbeddedStepControl) -> Self {
        Self {
            control,
            stages: RkmkStages::default(),
            candidate: AlignedBuf::default(),
            error: AlignedBuf::default(),
            stats: IntegrationStats::default(),
        }
    }

    /// One trial step of size h from x: fills `candidate` and returns the scaled error norm.
    fn trial(
        &mut self,
        field: &dyn VectorField,
        x: &[f64],
        n: usize,
        d: usize,
        h: f64,
    ) -> Result<f64> {
        self.stages.step(
            &DP_TABLEAU,
            field,
            x,
            n,
            d,
            h,
            &mut self.candidate,
            Some(&mut self.error),
        )?;
        self.stats.evaluations += 7;
        let mut sum = 0.0;
        for ((xi, ci), ei) in x.iter().zip(self.candidate.iter()).zip(self.error.iter()) {
            let e = self.control.scaled_error(*xi, *ci, *ei);
            sum += e * e;
        }
        Ok(EmbeddedStepControl::rms(sum, x.len()))
    }
}

impl Integrator for Rkmk45 {
    fn name(&self) -> &'static str {
        "rkmk45"
    }
    fn order(&self) -> u32 {
        5
    }
    fn step(
        &mut self,
        field: &dyn VectorField,
        x: &mut [f64],
        n: usize,
        d: usize,
        h: f64,
    ) -> Result<()> {
        check_step(h, x, n, d)?;
        check_sphere(field, self.name())?;
        self.candidate.resize(n * d);
        self.error.resize(n * d);
        self.stats.steps += 1;
        let mut macro_step = self.control.macro_step(h);
        while let Some(h_now) = macro_step.next_trial()? {
            let err = self.trial(field, x, n, d, h_now)?;
            if macro_step.judge(err, &mut self.stats)? {
                x.copy_from_slice(&self.candidate);
                finite_state(x.iter().all(|v| v.is_finite()))?;
            }
        }
        self.control.end(macro_step);
        Ok(())
    }
    fn stats(&self) -> IntegrationStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rotation by `angle` in the plane of coordinates 0 and 1 of a frame of dimension m.
    fn plane_rotation(angle: f64) -> Skew {
        let mut s = [0.0; FRAME * FRAME];
        s[1] = -angle;
        s[FRAME] = angle;
        s
    }

    #[test]
    fn exponential_of_a_plane_rotation_is_cos_sin() {
        // 0.3: the series on the vector; 5 and 40: scaling and squaring
        for angle in [0.3, 5.0, 40.0] {
            let mut z = [0.0; FRAME];
            z[0] = 1.0;
            z[2] = 0.5;
            let delta = exp_increment(&plane_rotation(angle), 3, FRAME, &z);
            let z = add(&z, &delta);
            // each of the k squarings doubles the round-off of the scaled exponential
            let tol = 1e-15 * angle.max(1.0);
            assert!((z[0] - angle.cos()).abs() < tol, "{angle}: {z:?}");
            assert!((z[1] - angle.sin()).abs() < tol, "{angle}: {z:?}");
            assert_eq!(z[2], 0.5);
        }
    }

    #[test]
    fn exponential_of_a_skew_matrix_is_orthogonal_and_matches_rodrigues() {
        // a generic rank-2 generator v y^T - y v^T in R^5: the frame exponential and Rodrigues'
        // closed form agree, and both preserve the norm
        let v = [0.3, -0.2, 0.5, 0.1, -0.4];
        let y = [0.1, 0.7, -0.2, 0.4, 0.3];
        let z0 = [0.6, 0.1, -0.3, 0.2, 0.5];
        for t in [0.1, 3.0] {
            let (mut f, mut e) = ([0.0; FRAME], [0.0; FRAME]);
            f[..5].copy_from_slice(&v);
            e[..5].copy_from_slice(&y);
            let mut s = [0.0; FRAME * FRAME];
            wedge(&f, &e, FRAME, &mut s);
            s.iter_mut().for_each(|a| *a *= t);
            let mut z = [0.0; FRAME];
            z[..5].copy_from_slice(&z0);
            let z = add(&z, &exp_increment(&s, 5, FRAME, &z));
            let mut r = z0;
            rotate(t, &v, &y, &mut r);
            for k in 0..5 {
                assert!((z[k] - r[k]).abs() < 1e-14, "t = {t}: {z:?} vs {r:?}");
            }
            let norm0 = crate::config::norm(&z0);
            assert!((crate::config::norm(&z[..5]) - norm0).abs() < 1e-15);
            assert!((crate::config::norm(&r) - norm0).abs() < 1e-15);
        }
    }

    /// [a, b] = ab - ba, densely (m x m with stride FRAME).
    fn dense_commutator(a: &Skew, b: &Skew, m: usize) -> Skew {
        let mut out = [0.0; FRAME * FRAME];
        for r in 0..m {
            for c in 0..m {
                let ab: f64 = (0..m).map(|k| a[r * FRAME + k] * b[k * FRAME + c]).sum();
                let ba: f64 = (0..m).map(|k| b[r * FRAME + k] * a[k * FRAME + c]).sum();
                out[r * FRAME + c] = ab - ba;
            }
        }
        out
    }

    #[test]
    fn rank_two_dexpinv_matches_the_dense_commutators_and_is_antisymmetric() {
        let m = 4;
        let (f, eta, g, u) = (
            [0.3, -0.1, 0.2, 0.7, 0.0, 0.0, 0.0, 0.0],
            [1.0, 0.2, -0.5, 0.1, 0.0, 0.0, 0.0, 0.0],
            [-0.4, 0.9, 0.3, 0.2, 0.0, 0.0, 0.0, 0.0],
            [0.5, 0.1, -0.6, 0.3, 0.0, 0.0, 0.0, 0.0],
        );
        // theta: a sum of two generators, rank 4
        let (mut generator, mut t1, mut t2, mut theta) =
            ([0.0; FRAME * FRAME], [0.0; 64], [0.0; 64], [0.0; 64]);
        wedge(&f, &eta, FRAME, &mut generator);
        wedge(&g, &eta, FRAME, &mut t1);
        wedge(&u, &f, FRAME, &mut t2);
        combine([(0.3, &t1), (-0.2, &t2)], FRAME, &mut theta);
        let c1 = dense_commutator(&theta, &generator, m);
        let c2 = dense_commutator(&theta, &c1, m);
        let mut k = [0.0; FRAME * FRAME];
        dexpinv(&theta, &f, &eta, m, FRAME, &mut k);
        for r in 0..m {
            for c in 0..m {
                let i = r * FRAME + c;
                let want = generator[i] - 0.5 * c1[i] + c2[i] / 12.0;
                assert!((k[i] - want).abs() < 1e-15, "{r} {c}: {} vs {want}", k[i]);
                assert_eq!(k[i], -k[c * FRAME + r]);
            }
        }
    }

    #[test]
    fn frames_stay_orthonormal_and_represent_absorbed_vectors() {
        let x = [0.0, 0.6, 0.8, 0.0];
        let mut frames = Frames::default();
        frames.reset(&x, 1, 4, 4).unwrap();
        let vs = [
            [1.0, 0.3, -0.2, 0.0],
            [0.5, 0.1, 0.1, 0.0],
            [0.2, -0.4, 0.3, 0.0],
            [0.0, 0.0, 0.0, 2.0],
        ];
        for (k, v) in vs.iter().enumerate() {
            let c = frames.absorb(0, v);
            let mut back = [0.0; 4];
            frames.displace(0, &c, &mut back);
            for j in 0..4 {
                assert!((back[j] - v[j]).abs() < 1e-15, "{k}: {back:?} vs {v:?}");
            }
        }
        // span{x, v_0, v_1} = span{e_0, e_1, e_2} is three-dimensional, v_2 adds nothing, v_3 e_3
        assert_eq!(frames.dim[0], 4);
        let q = &frames.basis[..16];
        for a in 0..4 {
            for b in 0..4 {
                let g = crate::config::dot(&q[a * 4..a * 4 + 4], &q[b * 4..b * 4 + 4]);
                let want = if a == b { 1.0 } else { 0.0 };
                assert!((g - want).abs() < 1e-15);
            }
        }
    }
}
