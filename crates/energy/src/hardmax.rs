//! Hardmax (beta -> infinity) self-attention in R^d, \[GLPR\] (9.4)-(9.6), and its Frank-Wolfe reading
//! (Alcalde, Geshkovski, Ruiz-Balet, arXiv 2508.09628; Alcalde, Fantuzzi, Zuazua, arXiv 2407.01602).
//!
//! Pure attention in R^d, \[GLPR\] (9.1) with V = I, is x_i' = sum_j A_ij x_j with the softmax weights
//! A_ij of beta <Q x_i, K x_j> = beta x_i^T B x_j, B = Q^T K. In the rescaled variables z_i = e^{-t} x_i
//! it reads
//!
//! ```text
//! z_i' = sum_j P_ij(t) (z_j - z_i),   P_ij(t) = softmax_j(beta e^{2t} z_i^T B z_j)          [GLPR] (9.4)
//! ```
//!
//! and as beta -> infinity each token moves towards the average of the tokens maximising the score:
//!
//! ```text
//! z_i' = (1/|C_i|) sum_{j in C_i} (z_j - z_i),   C_i(t) = argmax_j z_i^T B z_j           [GLPR] (9.5)-(9.6)
//! ```
//!
//! The argmax set is invariant under z -> e^{t} z, so (9.5) is also the beta -> infinity limit of (9.1)
//! itself read in the frame z = e^{-t} x: the finite-beta runs of this module are the engine's pure
//! attention field ([`SelfAttention::pure_attention`], V = I) in x, rescaled. We work in R^d, not on the
//! sphere: \[GLPR\] Example 9.3 starts a token at the origin, and the Frank-Wolfe papers are in R^d.
//!
//! **Ties (Filippov).** (9.5) is discontinuous where the argmax set changes; its solutions are taken in
//! the sense of Filippov, z_i' in conv{z_j : j in C_i} - z_i on the tie set, and they need not be unique
//! (\[GLPR\] Example 9.3, [`example_9_3`]). [`Hardmax`] implements one well-defined selection: the
//! barycentre of the tie set {j : L_ij >= m_i - tau max(1, max_j |L_ij|)}, L_ij = z_i^T B z_j,
//! m_i = max_j L_ij, with the tie tolerance tau ([`DEFAULT_TIE_TOLERANCE`] = 1e-12).
//! [`Hardmax::inclusion_residual`] measures how far a given velocity is from the Filippov set.
//!
//! **Frank-Wolfe.** With f(z) = (1/2) z^T B z, grad f(z_i) = B z_i and the linear-minimisation oracle of
//! -f over K = conv{z_1, ..., z_n} is s_i = argmax_{s in K} <B z_i, s>, attained at a token of C_i. The
//! explicit Euler step of (9.5) with step gamma, z_i <- (1 - gamma) z_i + gamma s_i
//! ([`Hardmax::frank_wolfe_step`]), is the Frank-Wolfe step for maximising f over K. For B positive
//! semidefinite and vertices on one level set of f (v_k^T B v_k = 1, the authors' set-up), every vertex
//! is its own argmax (Cauchy-Schwarz in the B inner product), so vertices do not move, the hull does not
//! change, and an interior token in the cell {z : <B z, v_k> > <B z, v_l> for l != k} stays in it and moves
//! on the straight line z_i(t) = v_k + (z_i(0) - v_k) e^{-t} ([`cells_experiment`]); for B = I the cells are
//! the Voronoi cells of the vertices intersected with the hull. For B negative semidefinite each token moves
//! towards the token most opposed to it in the |B| inner product ([`contraction_experiment`]).
//!
//! Integration: the engine's RK4 ([`attnflow_dynamics::Rk4`]) on [`Hardmax`] as a [`VectorField`]
//! (Euclidean geometry, no projection); in the cell experiments the argmax sets are constant along the
//! trajectories, so RK4 is fourth order there.

use attnflow_dynamics::sampling::{self, Purpose};
use attnflow_dynamics::{
    Configuration, Geometry, Rk4, SelfAttention, SquareMatrix, Value, VectorField, Workspace,
};
use serde::{Deserialize, Serialize};

use crate::error::{EnergyError, Result};
use crate::rates::fit_exponential_rate;

/// Relative tie tolerance of the Filippov selection: j is in C_i when L_ij >= m_i - tau max(1, max_j |L_ij|).
pub const DEFAULT_TIE_TOLERANCE: f64 = 1e-12;

fn numerical(e: impl std::fmt::Display) -> EnergyError {
    EnergyError::Numerical(e.to_string())
}

fn bad(name: &'static str, value: f64, requirement: &'static str) -> EnergyError {
    EnergyError::InvalidParameter {
        name,
        value,
        requirement,
    }
}

/// The hardmax field (9.5)-(9.6) with B = Q^T K and the barycentre selection on ties.
#[derive(Debug, Clone, PartialEq)]
pub struct Hardmax {
    b: SquareMatrix,
    tie_tolerance: f64,
}

impl Hardmax {
    /// The field with interaction matrix B (finite entries) and relative tie tolerance tau (finite, >= 0).
    pub fn new(b: SquareMatrix, tie_tolerance: f64) -> Result<Self> {
        if !(tie_tolerance.is_finite() && tie_tolerance >= 0.0) {
            return Err(bad("tie_tolerance", tie_tolerance, "finite and >= 0"));
        }
        if let Some(v) = b.as_slice().iter().find(|v| !v.is_finite()) {
            return Err(bad("B", *v, "finite entries"));
        }
        Ok(Self { b, tie_tolerance })
    }
    pub fn interaction(&self) -> &SquareMatrix {
        &self.b
    }
    pub fn tie_tolerance(&self) -> f64 {
        self.tie_tolerance
    }
    fn check(&self, x: &[f64], n: usize, d: usize) -> Result<()> {
        if d != self.b.dim() || n.checked_mul(d) != Some(x.len()) || n == 0 {
            return Err(EnergyError::ShapeMismatch(format!(
                "{} coordinates for n = {n} tokens in R^{d} with a {m} x {m} matrix B",
                x.len(),
                m = self.b.dim()
            )));
        }
        Ok(())
    }
    /// The argmax set C_i (ascending indices) of token i, ties within the tolerance.
    pub fn argmax_set(&self, x: &[f64], n: usize, d: usize, i: usize) -> Vec<usize> {
        let zi = &x[i * d..(i + 1) * d];
        let scores: Vec<f64> = x
            .chunks_exact(d)
            .map(|zj| self.b.bilinear(zi, zj))
            .collect();
        let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let scale = scores.iter().fold(1.0f64, |s, v| s.max(v.abs()));
        let floor = max - self.tie_tolerance * scale;
        (0..n).filter(|&j| scores[j] >= floor).collect()
    }
    /// The Frank-Wolfe vertex of token i: the barycentre of {z_j : j in C_i}, written to `out` (length d).
    pub fn target(&self, x: &[f64], n: usize, d: usize, i: usize, out: &mut [f64]) {
        let set = self.argmax_set(x, n, d, i);
        out.iter_mut().for_each(|o| *o = 0.0);
        for &j in &set {
            out.iter_mut()
                .zip(&x[j * d..(j + 1) * d])
                .for_each(|(o, v)| *o += v);
        }
        let m = set.len() as f64;
        out.iter_mut().for_each(|o| *o /= m);
    }
    /// One Frank-Wolfe step of size gamma in [0, 1] for every token at once (explicit Euler of (9.5)):
    /// z_i <- (1 - gamma) z_i + gamma s_i, s_i the barycentre of C_i at the current configuration.
    pub fn frank_wolfe_step(&self, x: &mut [f64], n: usize, d: usize, gamma: f64) -> Result<()> {
        self.check(x, n, d)?;
        if !(0.0..=1.0).contains(&gamma) {
            return Err(bad("gamma", gamma, "in [0, 1]"));
        }
        let mut targets = vec![0.0; n * d];
        for (i, t) in targets.chunks_exact_mut(d).enumerate() {
            self.target(x, n, d, i, t);
        }
        for (z, s) in x.iter_mut().zip(&targets) {
            *z = (1.0 - gamma) * *z + gamma * s;
        }
        Ok(())
    }
    /// max_i of the distance from z_i + v_i to conv{z_j : j in C_i}: zero when the velocity `v` (n x d)
    /// lies in the Filippov set of (9.5) at `x` (exact for argmax sets of at most 12 tokens).
    pub fn inclusion_residual(&self, x: &[f64], n: usize, d: usize, v: &[f64]) -> Result<f64> {
        self.check(x, n, d)?;
        if v.len() != x.len() {
            return Err(EnergyError::ShapeMismatch(
                "velocity and state differ".into(),
            ));
        }
        let mut worst: f64 = 0.0;
        for i in 0..n {
            let set = self.argmax_set(x, n, d, i);
            if set.len() > 12 {
                return Err(EnergyError::Numerical(format!(
                    "argmax set of {} tokens: too many for the exact hull distance",
                    set.len()
                )));
            }
            let q: Vec<f64> = (0..d).map(|k| x[i * d + k] + v[i * d + k]).collect();
            let pts: Vec<&[f64]> = set.iter().map(|&j| &x[j * d..(j + 1) * d]).collect();
            worst = worst.max(hull_distance(&pts, &q));
        }
        Ok(worst)
    }
}

impl VectorField for Hardmax {
    fn geometry(&self) -> Geometry {
        Geometry::Euclidean
    }
    /// out_i = s_i - z_i, s_i the barycentre of the argmax set C_i.
    fn drift_into(
        &self,
        x: &[f64],
        n: usize,
        d: usize,
        out: &mut [f64],
        _ws: &mut Workspace,
    ) -> attnflow_dynamics::Result<()> {
        if d != self.b.dim() || x.len() != n * d || out.len() != n * d {
            return Err(attnflow_dynamics::DynamicsError::InvalidParameter {
                name: "d",
                reason: format!(
                    "hardmax field with a {0} x {0} matrix B on {1} coordinates of n = {n} tokens in R^{d}",
                    self.b.dim(),
                    x.len()
                ),
            });
        }
        for (i, o) in out.chunks_exact_mut(d).enumerate() {
            self.target(x, n, d, i, o);
            o.iter_mut()
                .zip(&x[i * d..(i + 1) * d])
                .for_each(|(o, z)| *o -= z);
        }
        Ok(())
    }
}

/// Euclidean distance from q to the convex hull of `pts` (at most 12 points): the minimum over the
/// affinely independent subsets whose least-squares barycentric coordinates are all >= 0.
pub fn hull_distance(pts: &[&[f64]], q: &[f64]) -> f64 {
    let k = pts.len();
    let d = q.len();
    let mut best = f64::INFINITY;
    for mask in 1u32..(1u32 << k) {
        let idx: Vec<usize> = (0..k).filter(|b| mask & (1 << b) != 0).collect();
        let m = idx.len() - 1;
        if m > d {
            continue;
        }
        let p0 = pts[idx[0]];
        let e: Vec<Vec<f64>> = idx[1..]
            .iter()
            .map(|&j| (0..d).map(|c| pts[j][c] - p0[c]).collect())
            .collect();
        let r: Vec<f64> = (0..d).map(|c| q[c] - p0[c]).collect();
        // normal equations G mu = e r, solved by Gaussian elimination with partial pivoting
        let mut g: Vec<Vec<f64>> = (0..m)
            .map(|a| {
                let mut row: Vec<f64> = (0..m).map(|b| dot(&e[a], &e[b])).collect();
                row.push(dot(&e[a], &r));
                row
            })
            .collect();
        let scale = g
            .iter()
            .map(|row| row[..m].iter().fold(0.0f64, |s, v| s.max(v.abs())))
            .fold(0.0f64, f64::max);
        let mut singular = false;
        for c in 0..m {
            let p = (c..m)
                .max_by(|&a, &b| g[a][c].abs().total_cmp(&g[b][c].abs()))
                .unwrap_or(c);
            if g[p][c].abs() <= 1e-12 * scale.max(f64::MIN_POSITIVE) {
                singular = true;
                break;
            }
            g.swap(c, p);
            let (top, bottom) = g.split_at_mut(c + 1);
            let pivot = &top[c];
            for row in bottom.iter_mut() {
                let f = row[c] / pivot[c];
                for (a, b) in row[c..].iter_mut().zip(&pivot[c..]) {
                    *a -= f * b;
                }
            }
        }
        if singular {
            continue;
        }
        let mut mu = vec![0.0; m];
        for c in (0..m).rev() {
            let s: f64 = (c + 1..m).map(|cc| g[c][cc] * mu[cc]).sum();
            mu[c] = (g[c][m] - s) / g[c][c];
        }
        let lambda0 = 1.0 - mu.iter().sum::<f64>();
        if lambda0 < -1e-12 || mu.iter().any(|&v| v < -1e-12) {
            continue;
        }
        let dist2: f64 = (0..d)
            .map(|c| {
                let proj: f64 = p0[c] + (0..m).map(|a| mu[a] * e[a][c]).sum::<f64>();
                (q[c] - proj).powi(2)
            })
            .sum();
        best = best.min(dist2.sqrt());
    }
    best
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// RK4 trajectory of a vector field in R^d: the states at t = 0, dt, ..., steps dt (each n x d).
pub fn trajectory(
    field: &dyn VectorField,
    x0: &[f64],
    n: usize,
    d: usize,
    dt: f64,
    steps: usize,
) -> Result<Vec<Vec<f64>>> {
    let cfg = Configuration::euclidean(n, d, x0.to_vec()).map_err(numerical)?;
    let mut path = Vec::with_capacity(steps + 1);
    attnflow_dynamics::integrate(field, Rk4::default(), &cfg, dt, steps, |_, _, x| {
        path.push(x.to_vec())
    })
    .map_err(numerical)?;
    Ok(path)
}

/// Vertices v_k = L^{-T} (cos th_k, sin th_k) on the level set v^T B v = 1 of a 2 x 2 symmetric
/// positive definite B = L L^T (Cholesky), for the angles th_k (row-major, k x 2).
pub fn level_set_vertices(b: &SquareMatrix, angles: &[f64]) -> Result<Vec<f64>> {
    if b.dim() != 2 || !b.is_symmetric(1e-14) {
        return Err(EnergyError::ShapeMismatch(
            "B must be symmetric 2 x 2".into(),
        ));
    }
    let (a, c, e) = (b.get(0, 0), b.get(1, 0), b.get(1, 1));
    if !(a > 0.0 && a * e - c * c > 0.0) {
        return Err(bad("det B", a * e - c * c, "B positive definite"));
    }
    let l11 = a.sqrt();
    let l21 = c / l11;
    let l22 = (e - l21 * l21).sqrt();
    // L^T = [[l11, l21], [0, l22]]; solve L^T v = u
    Ok(angles
        .iter()
        .flat_map(|th| {
            let (u1, u2) = (th.cos(), th.sin());
            let v2 = u2 / l22;
            let v1 = (u1 - l21 * v2) / l11;
            [v1, v2]
        })
        .collect())
}

/// The cell of z: argmax_k <B z, v_k> over the vertices (first index on exact ties), and the margin
/// (best minus second-best score; infinity for one vertex).
pub fn cell_of(b: &SquareMatrix, vertices: &[f64], z: &[f64]) -> (usize, f64) {
    let d = z.len();
    let scores: Vec<f64> = vertices.chunks_exact(d).map(|v| b.bilinear(z, v)).collect();
    let mut best = 0;
    for (k, s) in scores.iter().enumerate() {
        if *s > scores[best] {
            best = k;
        }
    }
    let second = scores
        .iter()
        .enumerate()
        .filter(|(k, _)| *k != best)
        .map(|(_, s)| *s)
        .fold(f64::NEG_INFINITY, f64::max);
    (best, scores[best] - second)
}

/// `m` points uniform in the convex polygon with counter-clockwise vertices `poly` (k x 2), by rejection
/// from the bounding box, drawn from the stream (seed, 0, InitialCondition).
pub fn uniform_in_polygon(poly: &[f64], m: usize, seed: u64) -> Vec<f64> {
    let (mut lo, mut hi) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
    for v in poly.chunks_exact(2) {
        for c in 0..2 {
            lo[c] = lo[c].min(v[c]);
            hi[c] = hi[c].max(v[c]);
        }
    }
    let k = poly.len() / 2;
    let inside = |p: [f64; 2]| {
        (0..k).all(|a| {
            let (x0, y0) = (poly[2 * a], poly[2 * a + 1]);
            let b = (a + 1) % k;
            let (x1, y1) = (poly[2 * b], poly[2 * b + 1]);
            (x1 - x0) * (p[1] - y0) - (y1 - y0) * (p[0] - x0) > 0.0
        })
    };
    let mut rng = sampling::stream(seed, 0, Purpose::InitialCondition);
    let mut out = Vec::with_capacity(2 * m);
    while out.len() < 2 * m {
        let p = [
            lo[0] + (hi[0] - lo[0]) * sampling::uniform01(&mut rng),
            lo[1] + (hi[1] - lo[1]) * sampling::uniform01(&mut rng),
        ];
        if inside(p) {
            out.extend_from_slice(&p);
        }
    }
    out
}

/// Set-up of the positive semidefinite cell experiment in R^2.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellsSetup {
    /// Symmetric positive definite B (row-major 2 x 2).
    pub b: [f64; 4],
    /// Number of vertices (on the level set v^T B v = 1 at equispaced angles plus a seeded jitter).
    pub vertices: usize,
    /// Interior tokens, uniform in the hull.
    pub interior: usize,
    pub seed: u64,
    pub dt: f64,
    pub t_max: f64,
}

/// One interior token of the cell experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellToken {
    pub start: [f64; 2],
    /// argmax_k <B z(0), v_k>.
    pub predicted_cell: usize,
    /// Best minus second-best vertex score at t = 0.
    pub margin: f64,
    /// The vertex nearest to z(t_max).
    pub final_vertex: usize,
    /// |z(t_max) - v_predicted|.
    pub final_distance: f64,
    /// max_t distance of z(t) from the line through z(0) and v_predicted, over |z(0) - v_predicted|.
    pub straightness: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellsOutcome {
    /// Vertices (k x 2, counter-clockwise).
    pub vertices: Vec<f64>,
    pub tokens: Vec<CellToken>,
    /// Checkpoint times of `paths`.
    pub times: Vec<f64>,
    /// Per interior token, its positions at `times`.
    pub paths: Vec<Vec<[f64; 2]>>,
    /// max over the vertices and steps of the distance moved.
    pub vertex_drift: f64,
    /// max over tokens and steps of |z(t) - (v + (z(0) - v) e^{-t})| (the closed form).
    pub closed_form_error: f64,
    /// Tokens whose final vertex is the predicted one.
    pub correct_cells: usize,
    /// max straightness over the tokens.
    pub max_straightness: f64,
    /// Rate of max_i |z_i(t) - v_i| fitted on [1, t_max] (closed form: 1).
    pub fitted_rate: f64,
}

fn matrix2(b: &[f64; 4]) -> Result<SquareMatrix> {
    SquareMatrix::new(2, b.to_vec()).map_err(numerical)
}

fn check_time(dt: f64, t_max: f64) -> Result<usize> {
    if !(dt.is_finite() && dt > 0.0 && t_max.is_finite() && t_max >= dt) {
        return Err(bad("dt", dt, "finite, > 0 and <= t_max"));
    }
    let steps = (t_max / dt).round();
    if steps > 1e7 {
        return Err(bad("t_max / dt", steps, "<= 1e7 steps"));
    }
    Ok(steps as usize)
}

/// The vertices of a cell set-up: equispaced angles shifted by up to a third of the spacing (seeded).
pub fn cells_vertices(s: &CellsSetup) -> Result<Vec<f64>> {
    if s.vertices < 3 {
        return Err(bad("vertices", s.vertices as f64, ">= 3"));
    }
    let mut rng = sampling::stream(s.seed, 0, Purpose::Other(0x4a6));
    let k = s.vertices as f64;
    let angles: Vec<f64> = (0..s.vertices)
        .map(|j| {
            let jitter = (sampling::uniform01(&mut rng) - 0.5) * 2.0 / 3.0;
            std::f64::consts::TAU * (j as f64 + jitter) / k
        })
        .collect();
    level_set_vertices(&matrix2(&s.b)?, &angles)
}

/// Positive semidefinite cells: vertices on a level set of f, interior tokens uniform in the hull, the
/// hardmax flow (9.5) by RK4; each token's final vertex against its predicted cell, straightness, the
/// distance to the closed form v + (z(0) - v) e^{-t}, and the fitted exponential rate.
pub fn cells_experiment(s: &CellsSetup, checkpoints: usize) -> Result<CellsOutcome> {
    let b = matrix2(&s.b)?;
    let steps = check_time(s.dt, s.t_max)?;
    let vertices = cells_vertices(s)?;
    let k = s.vertices;
    let interior = uniform_in_polygon(&vertices, s.interior, s.seed);
    let n = k + s.interior;
    let x0: Vec<f64> = vertices.iter().chain(&interior).copied().collect();
    let field = Hardmax::new(b.clone(), DEFAULT_TIE_TOLERANCE)?;
    let path = trajectory(&field, &x0, n, 2, s.dt, steps)?;
    let every = (steps / checkpoints.max(1)).max(1);
    let mut vertex_drift: f64 = 0.0;
    let mut closed_form_error: f64 = 0.0;
    let mut tokens = Vec::with_capacity(s.interior);
    let mut paths = Vec::with_capacity(s.interior);
    let times: Vec<f64> = (0..=steps)
        .step_by(every)
        .map(|m| m as f64 * s.dt)
        .collect();
    let mut worst_gap = vec![0.0f64; steps + 1];
    for x in &path {
        for (v, x) in x0[..2 * k].chunks_exact(2).zip(x.chunks_exact(2)) {
            vertex_drift = vertex_drift.max((x[0] - v[0]).hypot(x[1] - v[1]));
        }
    }
    for i in 0..s.interior {
        let row = k + i;
        let z0 = [x0[2 * row], x0[2 * row + 1]];
        let (cell, margin) = cell_of(&b, &vertices, &z0);
        let v = [vertices[2 * cell], vertices[2 * cell + 1]];
        let dir = [z0[0] - v[0], z0[1] - v[1]];
        let len = dir[0].hypot(dir[1]);
        let mut straight: f64 = 0.0;
        for (step, x) in path.iter().enumerate() {
            let z = [x[2 * row], x[2 * row + 1]];
            let t = step as f64 * s.dt;
            let e = (-t).exp();
            let exact = [v[0] + dir[0] * e, v[1] + dir[1] * e];
            closed_form_error = closed_form_error.max((z[0] - exact[0]).hypot(z[1] - exact[1]));
            let off = ((z[0] - v[0]) * dir[1] - (z[1] - v[1]) * dir[0]).abs() / len;
            straight = straight.max(off / len);
            worst_gap[step] = worst_gap[step].max((z[0] - v[0]).hypot(z[1] - v[1]));
        }
        let last = &path[steps];
        let zf = [last[2 * row], last[2 * row + 1]];
        let (final_vertex, _) = (0..k)
            .map(|j| {
                (
                    j,
                    (zf[0] - vertices[2 * j]).hypot(zf[1] - vertices[2 * j + 1]),
                )
            })
            .fold((0, f64::INFINITY), |a, c| if c.1 < a.1 { c } else { a });
        tokens.push(CellToken {
            start: z0,
            predicted_cell: cell,
            margin,
            final_vertex,
            final_distance: (zf[0] - v[0]).hypot(zf[1] - v[1]),
            straightness: straight,
        });
        paths.push(
            (0..=steps)
                .step_by(every)
                .map(|m| [path[m][2 * row], path[m][2 * row + 1]])
                .collect(),
        );
    }
    let all_times: Vec<f64> = (0..=steps).map(|m| m as f64 * s.dt).collect();
    let fit = fit_exponential_rate(&all_times, &worst_gap, 1.0_f64.min(s.t_max), s.t_max)?;
    Ok(CellsOutcome {
        vertices,
        correct_cells: tokens
            .iter()
            .filter(|t| t.final_vertex == t.predicted_cell)
            .count(),
        max_straightness: tokens.iter().map(|t| t.straightness).fold(0.0, f64::max),
        tokens,
        times,
        paths,
        vertex_drift,
        closed_form_error,
        fitted_rate: fit.rate,
    })
}

/// Set-up of the negative semidefinite experiment: n tokens standard Gaussian in R^2, B = -M.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContractionSetup {
    /// Symmetric negative semidefinite B (row-major 2 x 2).
    pub b: [f64; 4],
    pub n: usize,
    pub seed: u64,
    pub dt: f64,
    pub t_max: f64,
    /// Time window of the rate fit (after the transient, before the O(dt) floor of the sliding motion).
    pub fit_window: [f64; 2],
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContractionOutcome {
    pub start: Vec<f64>,
    pub times: Vec<f64>,
    /// max_i |z_i(t)|_B = max_i sqrt(-z_i^T B z_i) at `times` (Euclidean norm for B = -I).
    pub max_norm: Vec<f64>,
    /// max_{i,j} |z_i(t) - z_j(t)| at `times`.
    pub diameter: Vec<f64>,
    /// Per token, positions at `times`.
    pub paths: Vec<Vec<[f64; 2]>>,
    /// Fitted exponential rate of max_i |z_i(t)|_B on [`ContractionSetup::fit_window`] (null when it
    /// does not decay). While 0 is in the hull, d/dt |z_i|_B^2 / 2 = -z_i^T B s_i - |z_i|_B^2 <= -|z_i|_B^2
    /// (min_j <|B| z_i, z_j> <= 0), so the rate is at least 1.
    pub fitted_rate: Option<f64>,
    /// RMS residual of that fit (of ln max_i |z_i|).
    pub fit_rms_residual: Option<f64>,
    /// max_i |z_i(0)| and max_i |z_i(t_max)|.
    pub initial_max_norm: f64,
    pub final_max_norm: f64,
    /// Largest increase of max_i |z_i| between consecutive steps (non-positive: monotone).
    pub max_norm_increase: f64,
}

/// Negative semidefinite B: the hardmax flow (9.5) from Gaussian tokens; max_i |z_i(t)| (distance of the
/// cloud from the origin), the diameter, and an exponential fit of max_i |z_i|.
pub fn contraction_experiment(
    s: &ContractionSetup,
    checkpoints: usize,
) -> Result<ContractionOutcome> {
    let b = matrix2(&s.b)?;
    let steps = check_time(s.dt, s.t_max)?;
    if s.n < 2 {
        return Err(bad("n", s.n as f64, ">= 2"));
    }
    let mut rng = sampling::stream(s.seed, 0, Purpose::InitialCondition);
    let mut x0 = vec![0.0; 2 * s.n];
    sampling::fill_standard_normal(&mut rng, &mut x0);
    if (0..2).any(|k| b.get(k, k) > 0.0) || b.get(0, 0) * b.get(1, 1) < b.get(0, 1) * b.get(1, 0) {
        return Err(bad("B", b.get(0, 0), "negative semidefinite"));
    }
    let field = Hardmax::new(b.clone(), DEFAULT_TIE_TOLERANCE)?;
    let path = trajectory(&field, &x0, s.n, 2, s.dt, steps)?;
    let norm = |x: &[f64]| {
        x.chunks_exact(2)
            .map(|z| (-b.bilinear(z, z)).max(0.0).sqrt())
            .fold(0.0, f64::max)
    };
    let diam = |x: &[f64]| {
        let mut m: f64 = 0.0;
        for a in x.chunks_exact(2) {
            for c in x.chunks_exact(2) {
                m = m.max((a[0] - c[0]).hypot(a[1] - c[1]));
            }
        }
        m
    };
    let norms: Vec<f64> = path.iter().map(|x| norm(x.as_slice())).collect();
    let all_times: Vec<f64> = (0..=steps).map(|m| m as f64 * s.dt).collect();
    let max_norm_increase = norms
        .windows(2)
        .map(|w| w[1] - w[0])
        .fold(f64::NEG_INFINITY, f64::max);
    let fit = if norms[steps] > 0.0 && norms[steps] < norms[0] {
        fit_exponential_rate(&all_times, &norms, s.fit_window[0], s.fit_window[1]).ok()
    } else {
        None
    };
    let every = (steps / checkpoints.max(1)).max(1);
    let picks: Vec<usize> = (0..=steps).step_by(every).collect();
    Ok(ContractionOutcome {
        times: picks.iter().map(|&m| all_times[m]).collect(),
        max_norm: picks.iter().map(|&m| norms[m]).collect(),
        diameter: picks.iter().map(|&m| diam(&path[m])).collect(),
        paths: (0..s.n)
            .map(|i| {
                picks
                    .iter()
                    .map(|&m| [path[m][2 * i], path[m][2 * i + 1]])
                    .collect()
            })
            .collect(),
        fitted_rate: fit.as_ref().map(|f| f.rate),
        fit_rms_residual: fit.as_ref().map(|f| f.rms_residual),
        initial_max_norm: norms[0],
        final_max_norm: norms[steps],
        max_norm_increase,
        start: x0,
    })
}

/// \[GLPR\] Example 9.3 (d = 2, n = 3, Q = K = I, z_1 = (1, 1), z_2 = (-1, 1), z_3 = (0, 0)) in the frame of
/// (9.5): z_1, z_2 never move, and z_3 has (at least) three Filippov solutions from the same start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Example93 {
    pub times: Vec<f64>,
    /// z_3(t) = (1 - e^{-t}) (1, 1): C_3 = {1} for t > 0.
    pub towards_z1: Vec<[f64; 2]>,
    /// z_3(t) = (1 - e^{-t}) (-1, 1): C_3 = {2} for t > 0.
    pub towards_z2: Vec<[f64; 2]>,
    /// z_3(t) = (0, 1 - e^{-t}): sliding on the tie line, C_3 = {1, 2}.
    pub sliding: Vec<[f64; 2]>,
    /// The barycentre selection integrated by RK4 from the exact start.
    pub selection: Vec<[f64; 2]>,
    /// The selection from z_3(0) = (+eps, 0) and (-eps, 0).
    pub selection_plus: Vec<[f64; 2]>,
    pub selection_minus: Vec<[f64; 2]>,
    pub eps: f64,
    /// max over `times` of the Filippov residual of each closed-form solution (distance of its velocity
    /// from the Filippov set).
    pub residual_towards_z1: f64,
    pub residual_towards_z2: f64,
    pub residual_sliding: f64,
    /// max over `times` of |selection - sliding|, |selection_plus - towards_z1|, |selection_minus - towards_z2|.
    pub selection_vs_sliding: f64,
    pub plus_vs_towards_z1: f64,
    pub minus_vs_towards_z2: f64,
    /// |towards_z1(t_max) - towards_z2(t_max)|: two solutions from one start, apart.
    pub final_separation: f64,
}

/// Runs \[GLPR\] Example 9.3 (see [`Example93`]); the residuals and gaps are measured on every RK4 step,
/// the stored curves at about `checkpoints` equispaced times.
pub fn example_9_3(dt: f64, t_max: f64, eps: f64, checkpoints: usize) -> Result<Example93> {
    let steps = check_time(dt, t_max)?;
    if !(eps.is_finite() && eps > 0.0) {
        return Err(bad("eps", eps, "finite and > 0"));
    }
    let field = Hardmax::new(SquareMatrix::identity(2), DEFAULT_TIE_TOLERANCE)?;
    let start = |z3x: f64| vec![1.0, 1.0, -1.0, 1.0, z3x, 0.0];
    let third =
        |path: Vec<Vec<f64>>| -> Vec<[f64; 2]> { path.iter().map(|x| [x[4], x[5]]).collect() };
    let selection = third(trajectory(&field, &start(0.0), 3, 2, dt, steps)?);
    let selection_plus = third(trajectory(&field, &start(eps), 3, 2, dt, steps)?);
    let selection_minus = third(trajectory(&field, &start(-eps), 3, 2, dt, steps)?);
    let times: Vec<f64> = (0..=steps).map(|m| m as f64 * dt).collect();
    let curve = |dir: [f64; 2]| -> Vec<[f64; 2]> {
        times
            .iter()
            .map(|t| {
                let s = -(-t).exp_m1();
                [s * dir[0], s * dir[1]]
            })
            .collect()
    };
    let towards_z1 = curve([1.0, 1.0]);
    let towards_z2 = curve([-1.0, 1.0]);
    let sliding = curve([0.0, 1.0]);
    // the velocity of each closed form: z_3' = e^{-t} dir, z_1' = z_2' = 0
    let residual = |dir: [f64; 2], path: &[[f64; 2]]| -> Result<f64> {
        let mut worst: f64 = 0.0;
        for (t, z) in times.iter().zip(path) {
            let e = (-t).exp();
            let x = [1.0, 1.0, -1.0, 1.0, z[0], z[1]];
            let v = [0.0, 0.0, 0.0, 0.0, e * dir[0], e * dir[1]];
            worst = worst.max(field.inclusion_residual(&x, 3, 2, &v)?);
        }
        Ok(worst)
    };
    let gap = |a: &[[f64; 2]], b: &[[f64; 2]]| {
        a.iter()
            .zip(b)
            .map(|(p, q)| (p[0] - q[0]).hypot(p[1] - q[1]))
            .fold(0.0, f64::max)
    };
    let every = (steps / checkpoints.max(1)).max(1);
    let thin = |c: Vec<[f64; 2]>| -> Vec<[f64; 2]> { c.into_iter().step_by(every).collect() };
    Ok(Example93 {
        residual_towards_z1: residual([1.0, 1.0], &towards_z1)?,
        residual_towards_z2: residual([-1.0, 1.0], &towards_z2)?,
        residual_sliding: residual([0.0, 1.0], &sliding)?,
        selection_vs_sliding: gap(&selection, &sliding),
        plus_vs_towards_z1: gap(&selection_plus, &towards_z1),
        minus_vs_towards_z2: gap(&selection_minus, &towards_z2),
        final_separation: {
            let (a, b) = (towards_z1[steps], towards_z2[steps]);
            (a[0] - b[0]).hypot(a[1] - b[1])
        },
        times: times.into_iter().step_by(every).collect(),
        towards_z1: thin(towards_z1),
        towards_z2: thin(towards_z2),
        sliding: thin(sliding),
        selection: thin(selection),
        selection_plus: thin(selection_plus),
        selection_minus: thin(selection_minus),
        eps,
    })
}

/// One finite beta against the hardmax trajectory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FiniteBeta {
    pub beta: f64,
    /// sup over t in [0, t_max] (the RK4 grid) and tokens of |z^beta_i(t) - z^inf_i(t)|, z^beta = e^{-t} x^beta.
    pub sup_distance: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FiniteBetaOutcome {
    pub runs: Vec<FiniteBeta>,
    /// The smallest score margin at t = 0 over all tokens (best minus second-best of z_i^T B z_j over j).
    pub min_margin: f64,
    /// Slope of ln(beta sup_distance) against beta between the two largest beta with sup_distance above
    /// `floor` (a Laplace estimate of the softmax weights off the argmax, e^{-beta margin} integrated over
    /// the effective inverse temperature beta e^{2t}, predicts -min_margin for large beta).
    pub last_exponent: Option<f64>,
    /// Least-squares slope of ln sup_distance against ln beta over the same runs (a power law would make
    /// this constant; reported for comparison).
    pub fitted_power: Option<f64>,
    pub fitted_runs: usize,
}

/// Finite beta: the engine's pure attention (9.1) (V = I, B, softmax), RK4 in x, rescaled z = e^{-t} x,
/// against the hardmax flow (9.5) from the same start (the cell set-up), for each beta.
pub fn finite_beta_experiment(
    s: &CellsSetup,
    betas: &[f64],
    floor: f64,
    fit_from: f64,
) -> Result<FiniteBetaOutcome> {
    let b = matrix2(&s.b)?;
    let steps = check_time(s.dt, s.t_max)?;
    let vertices = cells_vertices(s)?;
    let interior = uniform_in_polygon(&vertices, s.interior, s.seed);
    let n = s.vertices + s.interior;
    let x0: Vec<f64> = vertices.iter().chain(&interior).copied().collect();
    let hard = trajectory(
        &Hardmax::new(b.clone(), DEFAULT_TIE_TOLERANCE)?,
        &x0,
        n,
        2,
        s.dt,
        steps,
    )?;
    let mut runs = Vec::with_capacity(betas.len());
    for &beta in betas {
        let field = SelfAttention::pure_attention(beta, Some(b.clone()), Value::Identity)
            .map_err(numerical)?;
        let soft = trajectory(&field, &x0, n, 2, s.dt, steps)?;
        let mut sup: f64 = 0.0;
        for (m, (xs, zh)) in soft.iter().zip(&hard).enumerate() {
            let e = (-(m as f64) * s.dt).exp();
            for (p, q) in xs.chunks_exact(2).zip(zh.chunks_exact(2)) {
                sup = sup.max((e * p[0] - q[0]).hypot(e * p[1] - q[1]));
            }
        }
        runs.push(FiniteBeta {
            beta,
            sup_distance: sup,
        });
    }
    let mut min_margin = f64::INFINITY;
    for zi in x0.chunks_exact(2) {
        let mut scores: Vec<f64> = x0.chunks_exact(2).map(|zj| b.bilinear(zi, zj)).collect();
        scores.sort_by(|a, c| c.total_cmp(a));
        min_margin = min_margin.min(scores[0] - scores[1]);
    }
    let used: Vec<&FiniteBeta> = runs
        .iter()
        .filter(|r| r.sup_distance > floor && r.beta >= fit_from)
        .collect();
    let slope = |x: &[f64], y: &[f64]| -> Option<f64> {
        if x.len() < 2 {
            return None;
        }
        let mx = x.iter().sum::<f64>() / x.len() as f64;
        let my = y.iter().sum::<f64>() / y.len() as f64;
        let sxx: f64 = x.iter().map(|v| (v - mx).powi(2)).sum();
        let sxy: f64 = x.iter().zip(y).map(|(a, c)| (a - mx) * (c - my)).sum();
        (sxx > 0.0).then(|| sxy / sxx)
    };
    let bx: Vec<f64> = used.iter().map(|r| r.beta).collect();
    let ly: Vec<f64> = used
        .iter()
        .map(|r| (r.beta * r.sup_distance).ln())
        .collect();
    let lx: Vec<f64> = used.iter().map(|r| r.beta.ln()).collect();
    let ls: Vec<f64> = used.iter().map(|r| r.sup_distance.ln()).collect();
    Ok(FiniteBetaOutcome {
        last_exponent: (used.len() >= 2).then(|| {
            let m = used.len();
            (ly[m - 1] - ly[m - 2]) / (bx[m - 1] - bx[m - 2])
        }),
        fitted_power: slope(&lx, &ls),
        fitted_runs: used.len(),
        runs,
        min_margin,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> Hardmax {
        Hardmax::new(SquareMatrix::identity(2), DEFAULT_TIE_TOLERANCE).unwrap()
    }

    /// Steps computed by hand: tokens (1, 0), (0, 1), (0.2, 0.1).
    #[test]
    fn frank_wolfe_step_by_hand() {
        // B = I: scores of z_3 are 0.2, 0.1, 0.05 -> s_3 = z_1; z_1, z_2 are their own argmax
        let mut x = vec![1.0, 0.0, 0.0, 1.0, 0.2, 0.1];
        identity().frank_wolfe_step(&mut x, 3, 2, 0.5).unwrap();
        assert_eq!(x, vec![1.0, 0.0, 0.0, 1.0, 0.6, 0.05]);
        // B = -I: z_1 scores -1, 0, -0.2 -> s_1 = z_2; z_2 -> z_1; z_3 scores -0.2, -0.1, -0.05 -> itself
        let neg = Hardmax::new(SquareMatrix::diagonal(&[-1.0, -1.0]), 0.0).unwrap();
        let mut x = vec![1.0, 0.0, 0.0, 1.0, 0.2, 0.1];
        neg.frank_wolfe_step(&mut x, 3, 2, 0.5).unwrap();
        assert_eq!(x, vec![0.5, 0.5, 0.5, 0.5, 0.2, 0.1]);
        // B = diag(1, 3): z_3 scores 0.2, 0.3, 0.05 -> s_3 = z_2
        let aniso = Hardmax::new(SquareMatrix::diagonal(&[1.0, 3.0]), 0.0).unwrap();
        let mut x = vec![1.0, 0.0, 0.0, 1.0, 0.2, 0.1];
        aniso.frank_wolfe_step(&mut x, 3, 2, 0.25).unwrap();
        assert!((x[4] - 0.15).abs() < 1e-16 && (x[5] - 0.325).abs() < 1e-16);
        assert!(identity().frank_wolfe_step(&mut x, 3, 2, 1.5).is_err());
    }

    /// Example 9.3 at t = 0: z_3 = 0 ties with every token, the selection is the barycentre (0, 2/3).
    #[test]
    fn example_9_3_velocity_at_the_tie() {
        let x = [1.0, 1.0, -1.0, 1.0, 0.0, 0.0];
        let f = identity();
        assert_eq!(f.argmax_set(&x, 3, 2, 2), vec![0, 1, 2]);
        assert_eq!(f.argmax_set(&x, 3, 2, 0), vec![0]);
        let mut v = vec![0.0; 6];
        f.drift_into(&x, 3, 2, &mut v, &mut Workspace::default())
            .unwrap();
        assert_eq!(&v[..4], &[0.0; 4]);
        assert!(v[4].abs() < 1e-16 && (v[5] - 2.0 / 3.0).abs() < 1e-15);
        // (1, 1), (-1, 1), (0, 1) are in the Filippov set at the start, (2, 0) is not (distance from the
        // triangle of (2, 0) is |(2, 0) - (1, 0.5)| projected on the edge normal: 1/sqrt(5) * ... )
        for w in [[1.0, 1.0], [-1.0, 1.0], [0.0, 1.0]] {
            let v = [0.0, 0.0, 0.0, 0.0, w[0], w[1]];
            assert!(f.inclusion_residual(&x, 3, 2, &v).unwrap() < 1e-15);
        }
        let v = [0.0, 0.0, 0.0, 0.0, 2.0, 0.0];
        // distance from (2, 0) to the triangle (1,1), (-1,1), (0,0): to the edge through 0 and (1, 1)
        let want = (2.0f64 - 0.0) / 2f64.sqrt();
        assert!((f.inclusion_residual(&x, 3, 2, &v).unwrap() - want).abs() < 1e-15);
    }

    #[test]
    fn hull_distance_by_hand() {
        let a = [0.0, 0.0];
        let b = [2.0, 0.0];
        let c = [0.0, 2.0];
        let pts: Vec<&[f64]> = vec![&a, &b, &c];
        assert_eq!(hull_distance(&pts, &[0.5, 0.5]), 0.0);
        assert!((hull_distance(&pts, &[3.0, 0.0]) - 1.0).abs() < 1e-15);
        assert!((hull_distance(&pts, &[2.0, 2.0]) - 2f64.sqrt()).abs() < 1e-15);
        assert!((hull_distance(&pts, &[-1.0, -1.0]) - 2f64.sqrt()).abs() < 1e-15);
    }

    #[test]
    fn level_set_vertices_lie_on_the_level_set() {
        let b = SquareMatrix::new(2, vec![1.0, 0.3, 0.3, 0.5]).unwrap();
        let v = level_set_vertices(&b, &[0.0, 1.0, 2.5, 4.0]).unwrap();
        for z in v.chunks_exact(2) {
            assert!((b.bilinear(z, z) - 1.0).abs() < 1e-14);
        }
        assert!(level_set_vertices(&SquareMatrix::diagonal(&[1.0, -1.0]), &[0.0]).is_err());
    }

    /// RK4 on the hardmax field against the closed form v + (z(0) - v) e^{-t} (constant argmax sets).
    #[test]
    fn cells_follow_the_closed_form_and_end_at_their_vertex() {
        let s = CellsSetup {
            b: [1.0, 0.2, 0.2, 0.6],
            vertices: 5,
            interior: 12,
            seed: 3,
            dt: 0.05,
            t_max: 8.0,
        };
        let out = cells_experiment(&s, 10).unwrap();
        assert_eq!(out.correct_cells, 12);
        assert_eq!(out.vertex_drift, 0.0);
        assert!(out.closed_form_error < 1e-7, "{}", out.closed_form_error);
        assert!(out.max_straightness < 1e-12, "{}", out.max_straightness);
        assert!((out.fitted_rate - 1.0).abs() < 1e-6, "{}", out.fitted_rate);
    }

    /// Example 9.3: three closed-form solutions from one start satisfy the inclusion; the selection slides
    /// on the tie line (up to the first RK4 step at the triple tie, h/18), +-eps starts pick the two sides.
    #[test]
    fn example_9_3_has_distinct_solutions() {
        let dt = 1e-3;
        let e = example_9_3(dt, 3.0, 1e-9, 10).unwrap();
        for r in [
            e.residual_towards_z1,
            e.residual_towards_z2,
            e.residual_sliding,
        ] {
            assert!(r < 1e-14, "{r}");
        }
        assert!(e.final_separation > 1.8);
        assert!(
            e.selection_vs_sliding < dt / 18.0 * 1.01,
            "{}",
            e.selection_vs_sliding
        );
        assert!(e.plus_vs_towards_z1 < 1e-8 && e.minus_vs_towards_z2 < 1e-8);
    }

    #[test]
    fn negative_definite_contracts_at_rate_at_least_one() {
        let s = ContractionSetup {
            b: [-1.0, 0.0, 0.0, -1.0],
            n: 12,
            seed: 0,
            dt: 1e-3,
            t_max: 5.0,
            fit_window: [1.0, 5.0],
        };
        let c = contraction_experiment(&s, 5).unwrap();
        assert!(c.max_norm_increase <= 0.0);
        let rate = c.fitted_rate.unwrap();
        assert!(rate > 0.95, "{rate}");
        assert!(c.final_max_norm < c.initial_max_norm * (-4.5f64).exp());
    }

    #[test]
    fn finite_beta_approaches_the_hardmax_flow() {
        let s = CellsSetup {
            b: [1.0, 0.0, 0.0, 1.0],
            vertices: 4,
            interior: 6,
            seed: 2,
            dt: 0.02,
            t_max: 2.0,
        };
        let f = finite_beta_experiment(&s, &[4.0, 64.0, 1024.0], 1e-9, 1.0).unwrap();
        let d: Vec<f64> = f.runs.iter().map(|r| r.sup_distance).collect();
        assert!(d[1] < d[0] && d[2] < d[1], "{d:?}");
    }

    #[test]
    fn bad_input_is_refused() {
        assert!(Hardmax::new(SquareMatrix::identity(2), f64::NAN).is_err());
        let f = identity();
        assert!(f.inclusion_residual(&[0.0; 5], 3, 2, &[0.0; 5]).is_err());
        assert!(example_9_3(0.0, 1.0, 1e-9, 10).is_err());
    }
}
