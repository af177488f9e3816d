//! Pure attention in R^d and its leaders (Geshkovski, Letrouit, Polyanskiy, Rigollet, "The emergence of
//! clusters in self-attention dynamics", arXiv 2305.05465):
//!
//! ```text
//! x_i' = sum_j P_ij V x_j,   P_ij = e^{beta <Q x_i, K x_j>} / sum_k e^{beta <Q x_i, K x_k>},   z_i = e^{-tV} x_i,
//! ```
//!
//! \[GLPR\] (9.1) without projection, run on the engine (`SelfAttention::pure_attention`, Q = K = I,
//! the velocity V x_j with V acting on columns, as the authors' `np.matmul(V, x_j)`). The rescaled
//! z_i solve z_i' = sum_j P_ij(t) V (z_j - z_i); they are read off x: for V = I, z_i = e^{-t} x_i
//! ([`rescale_identity`]); for V with a simple top eigenvalue lambda_1 and left eigenvector l
//! (l^T V = lambda_1 l^T), l^T z_i = e^{-lambda_1 t} l^T x_i ([`top_coordinate`]) without the
//! matrix exponential.
//!
//! Claims measured by the helpers here: V = I: the z_i converge to the vertices of a convex polytope (the
//! leaders; [`hull_vertices`] of the initial points, [`distance_to_nearest`]); P(t) converges to a Boolean
//! matrix ([`boolean_distance`]) of low rank; V with a simple positive top eigenvalue: l^T z_i converges
//! to at most three values, i.e. z to at most three parallel hyperplanes ([`gap_groups`]); d = 1: a
//! Boolean limit of P.

use crate::error::{EnergyError, Result};
use attnflow_dynamics::sampling::{Purpose, standard_normal, stream, uniform01};
use attnflow_dynamics::{Configuration, Rk4, SelfAttention, Solver, SquareMatrix, Value};

fn numerical(e: impl std::fmt::Display) -> EnergyError {
    EnergyError::Numerical(e.to_string())
}

fn shape(n: usize, d: usize, len: usize, what: &str) -> Result<()> {
    match n.checked_mul(d) {
        Some(m) if m == len && n > 0 && d > 0 => Ok(()),
        _ => Err(EnergyError::ShapeMismatch(format!(
            "{what}: {len} entries for n = {n}, d = {d}"
        ))),
    }
}

/// One run of (9.1) with Q = K = I.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RunSpec {
    pub n: usize,
    pub d: usize,
    pub beta: f64,
    /// V row-major d x d (None: V = I).
    pub value: Option<Vec<f64>>,
    pub t_end: f64,
    /// RK4 step.
    pub dt: f64,
    /// A checkpoint every this many steps (and t = 0).
    pub every: usize,
}

/// Positions and attention matrices at the checkpoints.
#[derive(Debug, Clone, PartialEq)]
pub struct Trajectory {
    pub times: Vec<f64>,
    /// x (n x d, row-major) per checkpoint.
    pub x: Vec<Vec<f64>>,
    /// P (n x n, row-major) per checkpoint.
    pub attention: Vec<Vec<f64>>,
}

/// The engine's field of `spec`: pure attention, softmax, Q = K = I, V.
pub fn field(spec: &RunSpec) -> Result<SelfAttention> {
    let value = match &spec.value {
        None => Value::Identity,
        Some(v) => {
            shape(spec.d, spec.d, v.len(), "V")?;
            Value::Matrix(SquareMatrix::new(spec.d, v.clone()).map_err(numerical)?)
        }
    };
    SelfAttention::pure_attention(spec.beta, None, value).map_err(numerical)
}

/// Integrates `spec` from `x0` (n x d) with the engine's RK4 (no renormalisation in R^d), fixed step dt
/// up to the last whole step <= t_end. d = 1 runs in R^2 with second coordinates 0 and V = diag(v, 0)
/// (the engine's states have d >= 2); the second coordinates stay exactly 0 and the logits x_i x_j are
/// those of d = 1, so this is the d = 1 flow.
pub fn simulate(spec: &RunSpec, x0: &[f64]) -> Result<Trajectory> {
    shape(spec.n, spec.d, x0.len(), "x0")?;
    if spec.d == 1 {
        let lifted = RunSpec {
            d: 2,
            value: spec.value.as_ref().map(|v| vec![v[0], 0.0, 0.0, 0.0]),
            ..spec.clone()
        };
        let x2: Vec<f64> = x0.iter().flat_map(|&a| [a, 0.0]).collect();
        let mut tr = simulate(&lifted, &x2)?;
        for x in &mut tr.x {
            *x = x.chunks_exact(2).map(|r| r[0]).collect();
        }
        return Ok(tr);
    }
    if spec.every == 0 {
        return Err(EnergyError::ShapeMismatch(
            "checkpoint every 0 steps".into(),
        ));
    }
    crate::error::check_positive("dt", spec.dt)?;
    crate::error::check_positive("t_end", spec.t_end)?;
    let steps = (spec.t_end / spec.dt + 1e-9).floor() as usize;
    let field = field(spec)?;
    let cfg = Configuration::euclidean(spec.n, spec.d, x0.to_vec()).map_err(numerical)?;
    let mut solver = Solver::new(&field, Rk4::default(), &cfg, spec.dt).map_err(numerical)?;
    let mut out = Trajectory {
        times: Vec::new(),
        x: Vec::new(),
        attention: Vec::new(),
    };
    let mut k = 0;
    loop {
        solver.advance_to_step(k).map_err(numerical)?;
        let state = solver.state();
        let x = state.as_slice().to_vec();
        let p = field
            .attention_matrices(&x, spec.n, spec.d)
            .map_err(numerical)?
            .swap_remove(0);
        out.times.push(state.t);
        out.x.push(x);
        out.attention.push(p);
        if k >= steps {
            break;
        }
        k = (k + spec.every).min(steps);
    }
    Ok(out)
}

/// n points i.i.d. uniform in the cube [-a, a]^d, from the seeded stream (seed, realisation).
pub fn uniform_cube(n: usize, d: usize, a: f64, seed: u64, realisation: u64) -> Vec<f64> {
    let mut rng = stream(seed, realisation, Purpose::InitialCondition);
    (0..n * d)
        .map(|_| a * (2.0 * uniform01(&mut rng) - 1.0))
        .collect()
}

/// A sparse random symmetric d x d matrix: each entry on or above the diagonal nonzero with
/// probability `density`, then N(0, 1), all divided by sqrt(density d) (spectrum of width ~ 4).
pub fn sparse_symmetric(d: usize, density: f64, seed: u64) -> Result<Vec<f64>> {
    if density.is_nan() || density <= 0.0 || density > 1.0 {
        return Err(EnergyError::InvalidParameter {
            name: "density",
            value: density,
            requirement: "in (0, 1]",
        });
    }
    let mut rng = stream(seed, 0, Purpose::Matrices);
    let scale = 1.0 / (density * d as f64).sqrt();
    let mut v = vec![0.0; d * d];
    for i in 0..d {
        for j in i..d {
            let keep = uniform01(&mut rng) < density;
            let g = standard_normal(&mut rng);
            if keep {
                v[i * d + j] = g * scale;
                v[j * d + i] = g * scale;
            }
        }
    }
    Ok(v)
}

/// The largest eigenvalue (by real part, assumed real and simple) of the d x d matrix `v` and a left
/// eigenvector l (l^T V = lambda l^T, |l| = 1, largest entry positive), by power iteration on
/// V^T + s I with s the largest absolute row sum (so the top eigenvalue is the dominant one); stops
/// when the residual |V^T l - lambda l| < tol |V| or after `max_iter`. Returns (lambda, l, residual).
pub fn top_left_eigenpair(
    v: &[f64],
    d: usize,
    tol: f64,
    max_iter: usize,
) -> Result<(f64, Vec<f64>, f64)> {
    shape(d, d, v.len(), "V")?;
    let norm = (0..d)
        .map(|i| v[i * d..(i + 1) * d].iter().map(|a| a.abs()).sum::<f64>())
        .fold(0.0f64, f64::max);
    if norm.is_nan() || norm <= 0.0 || norm.is_infinite() {
        return Err(numerical("V is zero or not finite"));
    }
    let apply = |l: &[f64]| -> Vec<f64> {
        (0..d)
            .map(|j| (0..d).map(|i| v[i * d + j] * l[i]).sum::<f64>())
            .collect()
    };
    let mut l: Vec<f64> = (0..d).map(|i| 1.0 + 0.01 * i as f64).collect();
    let mut residual = f64::INFINITY;
    let mut lambda = 0.0;
    for _ in 0..max_iter {
        let len = l.iter().map(|a| a * a).sum::<f64>().sqrt();
        l.iter_mut().for_each(|a| *a /= len);
        let vl = apply(&l);
        lambda = vl.iter().zip(&l).map(|(a, b)| a * b).sum();
        residual = vl
            .iter()
            .zip(&l)
            .map(|(a, b)| (a - lambda * b).powi(2))
            .sum::<f64>()
            .sqrt();
        if residual < tol * norm {
            break;
        }
        l = vl.iter().zip(&l).map(|(a, b)| a + norm * b).collect();
    }
    let big = l
        .iter()
        .copied()
        .fold(0.0f64, |m, a| if a.abs() > m.abs() { a } else { m });
    if big < 0.0 {
        l.iter_mut().for_each(|a| *a = -*a);
    }
    Ok((lambda, l, residual))
}

/// z_i = e^{-t} x_i (V = I).
pub fn rescale_identity(x: &[f64], t: f64) -> Vec<f64> {
    let s = (-t).exp();
    x.iter().map(|a| a * s).collect()
}

/// e^{-lambda t} <l, x_i> for every particle (= <l, z_i> when l^T V = lambda l^T).
pub fn top_coordinate(x: &[f64], d: usize, l: &[f64], lambda: f64, t: f64) -> Vec<f64> {
    let s = (-lambda * t).exp();
    x.chunks_exact(d)
        .map(|xi| s * xi.iter().zip(l).map(|(a, b)| a * b).sum::<f64>())
        .collect()
}

/// The vertices of the convex hull of n points in R^d (row-major), sorted: d = 1 the smallest and the
/// largest value; d = 2 Andrew's monotone chain (points on an edge are not vertices); n <= d + 1 with
/// affinely independent points (checked by Gram-Schmidt of x_i - x_0 with relative tolerance 1e-10):
/// every point. Other cases are an error (no general hull here).
pub fn hull_vertices(points: &[f64], n: usize, d: usize) -> Result<Vec<usize>> {
    shape(n, d, points.len(), "points")?;
    if n == 1 {
        return Ok(vec![0]);
    }
    if d == 1 {
        let by = |f: fn(f64, f64) -> bool| {
            (0..n).fold(
                0,
                |best, i| if f(points[i], points[best]) { i } else { best },
            )
        };
        let (lo, hi) = (by(|a, b| a < b), by(|a, b| a > b));
        let mut v = vec![lo, hi];
        v.sort_unstable();
        v.dedup();
        return Ok(v);
    }
    if d == 2 {
        let mut idx: Vec<usize> = (0..n).collect();
        let p = |i: usize| (points[2 * i], points[2 * i + 1]);
        idx.sort_by(|&a, &b| p(a).partial_cmp(&p(b)).unwrap_or(std::cmp::Ordering::Equal));
        let cross = |o: usize, a: usize, b: usize| {
            let (o, a, b) = (p(o), p(a), p(b));
            (a.0 - o.0) * (b.1 - o.1) - (a.1 - o.1) * (b.0 - o.0)
        };
        let mut hull: Vec<usize> = Vec::with_capacity(2 * n);
        for pass in 0..2 {
            let start = hull.len();
            let order: Box<dyn Iterator<Item = &usize>> = if pass == 0 {
                Box::new(idx.iter())
            } else {
                Box::new(idx.iter().rev())
            };
            for &i in order {
                while hull.len() >= start + 2
                    && cross(hull[hull.len() - 2], hull[hull.len() - 1], i) <= 0.0
                {
                    hull.pop();
                }
                hull.push(i);
            }
            hull.pop();
        }
        hull.sort_unstable();
        hull.dedup();
        return Ok(hull);
    }
    if n <= d + 1 {
        let mut basis: Vec<Vec<f64>> = Vec::new();
        let x0 = &points[..d];
        for i in 1..n {
            let mut u: Vec<f64> = points[i * d..(i + 1) * d]
                .iter()
                .zip(x0)
                .map(|(a, b)| a - b)
                .collect();
            let len0 = u.iter().map(|a| a * a).sum::<f64>().sqrt();
            for b in &basis {
                let c: f64 = u.iter().zip(b).map(|(a, b)| a * b).sum();
                u.iter_mut().zip(b).for_each(|(a, b)| *a -= c * b);
            }
            let len = u.iter().map(|a| a * a).sum::<f64>().sqrt();
            if len.is_nan() || len <= 1e-10 * len0 {
                return Err(numerical(format!(
                    "hull_vertices: points not affinely independent (point {i}); no general hull in d = {d}"
                )));
            }
            u.iter_mut().for_each(|a| *a /= len);
            basis.push(u);
        }
        return Ok((0..n).collect());
    }
    Err(numerical(format!(
        "hull_vertices: only d <= 2 or n <= d + 1 (n = {n}, d = {d})"
    )))
}

/// For every point of `z` (n x d), the Euclidean distance to the nearest point of `targets` (m x d).
pub fn distance_to_nearest(z: &[f64], targets: &[f64], d: usize) -> Vec<f64> {
    z.chunks_exact(d)
        .map(|zi| {
            targets
                .chunks_exact(d)
                .map(|t| zi.iter().zip(t).map(|(a, b)| (a - b).powi(2)).sum::<f64>())
                .fold(f64::INFINITY, f64::min)
                .sqrt()
        })
        .collect()
}

/// Distance of a matrix to the nearest 0/1 matrix in the max norm: max_ij min(|p_ij|, |1 - p_ij|).
pub fn boolean_distance(p: &[f64]) -> f64 {
    p.iter()
        .map(|&a| a.abs().min((1.0 - a).abs()))
        .fold(0.0f64, f64::max)
}

/// Values split into at most k groups at the k - 1 widest gaps between sorted values.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Groups {
    /// (min, max, count) per group, in increasing order.
    pub groups: Vec<(f64, f64, usize)>,
    /// max group width / (max - min of all values) (0 when all values coincide).
    pub relative_spread: f64,
}

/// Splits `values` at the k - 1 widest gaps (k >= 1): the spread of the values into at most k groups.
pub fn gap_groups(values: &[f64], k: usize) -> Result<Groups> {
    if values.is_empty() || k == 0 || values.iter().any(|v| !v.is_finite()) {
        return Err(EnergyError::ShapeMismatch(
            "gap_groups needs finite values and k >= 1".into(),
        ));
    }
    let mut s = values.to_vec();
    s.sort_by(f64::total_cmp);
    let mut gaps: Vec<(f64, usize)> = s.windows(2).map(|w| w[1] - w[0]).zip(1..).collect();
    gaps.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut cuts: Vec<usize> = gaps
        .iter()
        .take(k - 1)
        .filter(|g| g.0 > 0.0)
        .map(|g| g.1)
        .collect();
    cuts.sort_unstable();
    let mut groups = Vec::new();
    let mut start = 0;
    for end in cuts.into_iter().chain(std::iter::once(s.len())) {
        groups.push((s[start], s[end - 1], end - start));
        start = end;
    }
    let range = s[s.len() - 1] - s[0];
    let widest = groups.iter().map(|g| g.1 - g.0).fold(0.0f64, f64::max);
    Ok(Groups {
        groups,
        relative_spread: if range > 0.0 { widest / range } else { 0.0 },
    })
}

/// Distinct limit points: the number of groups of the graph {|z_i - z_j| <= tol} (single linkage).
pub fn distinct_points(z: &[f64], d: usize, tol: f64) -> usize {
    representatives(z, d, tol).len()
}

/// One index per group of the graph {|z_i - z_j| <= tol} (single linkage): the smallest index of each
/// group, increasing.
pub fn representatives(z: &[f64], d: usize, tol: f64) -> Vec<usize> {
    let pts: Vec<&[f64]> = z.chunks_exact(d).collect();
    let n = pts.len();
    let mut label: Vec<usize> = (0..n).collect();
    fn find(l: &mut [usize], i: usize) -> usize {
        let mut r = i;
        while l[r] != r {
            r = l[r];
        }
        l[i] = r;
        r
    }
    for i in 0..n {
        for j in i + 1..n {
            let dist = pts[i]
                .iter()
                .zip(pts[j])
                .map(|(a, b)| (a - b).powi(2))
                .sum::<f64>()
                .sqrt();
            if dist <= tol {
                let (a, b) = (find(&mut label, i), find(&mut label, j));
                label[a.max(b)] = a.min(b);
            }
        }
    }
    (0..n).filter(|&i| find(&mut label, i) == i).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hull_of_a_square_with_interior_and_edge_points() {
        // square (0,0), (2,0), (2,2), (0,2), centre (1,1), edge midpoint (1,0)
        let pts = [1.0, 1.0, 0.0, 0.0, 2.0, 0.0, 1.0, 0.0, 2.0, 2.0, 0.0, 2.0];
        assert_eq!(hull_vertices(&pts, 6, 2).unwrap(), vec![1, 2, 4, 5]);
        assert_eq!(
            hull_vertices(&[0.5, -2.0, 3.0, 1.0], 4, 1).unwrap(),
            vec![1, 2]
        );
        // three affinely independent points in R^3: all vertices; a repeated point is refused
        let tri = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0];
        assert_eq!(hull_vertices(&tri, 3, 3).unwrap(), vec![0, 1, 2]);
        let dup = [1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0];
        assert!(hull_vertices(&dup, 3, 3).is_err());
        assert!(hull_vertices(&[0.0; 15], 5, 3).is_err());
    }

    #[test]
    fn boolean_distance_groups_and_distances_by_hand() {
        assert_eq!(boolean_distance(&[1.0, 0.0, 0.3, 0.7]), 0.30000000000000004);
        assert_eq!(boolean_distance(&[0.0, 1.0, 1.0, 0.0]), 0.0);
        let g = gap_groups(&[0.0, 0.1, 5.0, 5.05, -3.0, -2.9, -2.95], 3).unwrap();
        assert_eq!(g.groups.len(), 3);
        assert_eq!(g.groups[0], (-3.0, -2.9, 3));
        assert_eq!(g.groups[1], (0.0, 0.1, 2));
        assert!((g.relative_spread - 0.1 / 8.05).abs() < 1e-15);
        assert_eq!(gap_groups(&[1.0, 1.0], 3).unwrap().relative_spread, 0.0);
        let dist = distance_to_nearest(&[0.0, 0.0, 3.0, 4.0], &[3.0, 0.0, 3.0, 5.0], 2);
        assert_eq!(dist, vec![3.0, 1.0]);
        assert_eq!(
            distinct_points(&[0.0, 0.0, 1e-9, 0.0, 1.0, 1.0], 2, 1e-6),
            2
        );
        assert_eq!(
            representatives(&[5.0, 0.0, 5.0, 1e-7, 0.0], 1, 1e-6),
            vec![0, 1]
        );
        assert_eq!(representatives(&[5.0, 0.0, 5.0, 1e-7], 2, 1e-6), vec![0]);
    }

    #[test]
    fn eigenpair_of_a_hand_matrix() {
        // V = [[2, 1], [0, 1]]: eigenvalues 2, 1; left eigenvector of 2: l^T V = 2 l^T -> l = (1, 1)/sqrt 2
        let (lambda, l, res) = top_left_eigenpair(&[2.0, 1.0, 0.0, 1.0], 2, 1e-14, 10_000).unwrap();
        assert!((lambda - 2.0).abs() < 1e-12, "{lambda}");
        let s = 0.5f64.sqrt();
        assert!(
            (l[0] - s).abs() < 1e-12 && (l[1] - s).abs() < 1e-12,
            "{l:?} {res}"
        );
        let v = sparse_symmetric(6, 0.5, 3).unwrap();
        for i in 0..6 {
            for j in 0..6 {
                assert_eq!(v[i * 6 + j], v[j * 6 + i]);
            }
        }
    }

    #[test]
    fn one_step_matches_a_hand_computed_rk4_step() {
        // two particles in R^1, V = I, beta = 1: P = softmax of x_i x_j. At x = (1, -1) the field is
        // x_1' = (e - e^{-1}) / (e + e^{-1}) = tanh 1, x_2' = -tanh 1; the flow keeps x_2 = -x_1 with
        // x' = tanh(x^2) x; one RK4 step of h = 0.1 on that scalar ODE:
        let f = |x: f64| (x * x).tanh() * x;
        let h = 0.1;
        let k1 = f(1.0);
        let k2 = f(1.0 + 0.5 * h * k1);
        let k3 = f(1.0 + 0.5 * h * k2);
        let k4 = f(1.0 + h * k3);
        let want = 1.0 + h / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4);
        let spec = RunSpec {
            n: 2,
            d: 1,
            beta: 1.0,
            value: None,
            t_end: 0.1,
            dt: 0.1,
            every: 1,
        };
        let tr = simulate(&spec, &[1.0, -1.0]).unwrap();
        assert_eq!(tr.times, vec![0.0, 0.1]);
        assert!((tr.x[1][0] - want).abs() < 1e-14, "{} {want}", tr.x[1][0]);
        assert!((tr.x[1][1] + want).abs() < 1e-14);
        // P at t = 0 by hand
        let e = 1f64.exp();
        assert!((tr.attention[0][0] - e / (e + 1.0 / e)).abs() < 1e-15);
        // V acts on columns: one particle moves with x' = V x
        let spec = RunSpec {
            n: 1,
            d: 2,
            value: Some(vec![0.0, 1.0, 0.0, 0.0]),
            ..spec
        };
        let field = field(&spec).unwrap();
        let mut v = [0.0; 2];
        attnflow_dynamics::VectorField::velocity(&field, &[2.0, 3.0], 1, 2, &mut v).unwrap();
        assert_eq!(v, [3.0, 0.0]);
        assert_eq!(rescale_identity(&[1.0], 1.0), vec![(-1f64).exp()]);
        assert_eq!(
            top_coordinate(&[1.0, 2.0], 2, &[1.0, 1.0], 0.0, 3.0),
            vec![3.0]
        );
    }
}
