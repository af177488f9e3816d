//! `emergence-leaders`: pure attention in R^d without projection and its limits (Geshkovski, Letrouit,
//! Polyanskiy, Rigollet, "The emergence of clusters in self-attention dynamics", arXiv 2305.05465):
//! x_i' = sum_j P_ij V x_j, P_ij = softmax_j(beta <Q x_i, K x_j>) with Q = K = I, beta = 1, and the
//! rescaled z_i = e^{-tV} x_i (model code and conventions in [`attnflow_energy::emergence`]; the engine's
//! RK4 on x with a fixed step, no renormalisation; P is the engine's attention matrix at x).
//!
//! Cases (each one run from i.i.d. uniform points in a cube [-a, a]^d of the figure's seeded stream):
//!
//! - `polytope`: V = I, n = 20, d = 2, T = 10, dt = 0.1 (the sizes of the authors' `leaders.py`), start
//!   uniform in [-5, 5]^2 (their `clustering-Tformers.py`, case "polytope", V = Q^T K = I): panel (a) shows the
//!   paths of z_i = e^{-t} x_i, the vertices of the convex hull of the initial points (the leaders of the
//!   claim as read) and z_i(T); the data holds the distance of each z_i(T) to the nearest initial hull
//!   vertex, how many initial vertices are limits, and the number of distinct limits.
//! - `rank-identity`: V = I, n = 40, d = 80, T = 11 (the authors' `lowrank-attention.py` sizes), a = sqrt(3/d)
//!   so that E|x_i|^2 = 1 (with their a = 1, |x_i|^2 ~ 27 and P(0) is already the identity to 1e-6):
//!   40 points in R^80 are affinely independent, so all 40 are hull vertices.
//! - `rank-psd`: as `rank-identity` with V = W W^T / lambda_max(W W^T), W i.i.d. uniform on [-1, 1] (the
//!   authors' V, scaled to top eigenvalue 1: unscaled it is ~ 107 and e^{107 t} overflows f64 before t = 7).
//! - `hyperplanes`: V with a simple positive top eigenvalue lambda_1: the 2 x 2 matrix printed in the
//!   authors' `clustering-Tformers.py` ("Example in paper (2d)"), n = 20, a = 5 (their set-up), T = 10; and
//!   `hyperplanes-sparse`: d = n = 128 (ci: 32), T = 15, dt = 0.1, a sparse random symmetric V (each entry
//!   on or above the diagonal nonzero with probability 0.1, N(0, 1) / sqrt(0.1 d); the authors' density is
//!   not published), a = 1. Measured: the coordinate l^T z_i along the top left eigenvector l, split into
//!   <= 3 groups at the two widest gaps (relative spread = widest group / range; -> 0 means three
//!   hyperplanes).
//! - `line`: d = 1, V = 1, n = 20, a = 1, T = 10 (Boolean limit of P).
//!
//! For every case: the numerical rank of P(t) with NumPy's `matrix_rank` tolerance (s_k > n eps s_1, the
//! authors' `np.linalg.matrix_rank`), the max-norm distance of P(t) to the nearest 0/1 matrix, and the
//! number of columns j that are the argmax of some row of P(T) (the tokens attended to in the limit).

use serde::{Deserialize, Serialize};

use attnflow_energy::emergence::{
    self as em, Groups, RunSpec, boolean_distance, distance_to_nearest, distinct_points,
    gap_groups, hull_vertices, rescale_identity, top_coordinate, top_left_eigenpair,
};
use attnflow_experiment::observe::{ranks, singular_values};

use crate::error::{FigureError, Result};
use crate::figure::{Fidelity, Figure, Meta, Paper, Progress, SummaryLine};
use crate::layout::{Block, Layout, Panel, Split};
use crate::plot::SERIES_COLORS;
use crate::plot::lines::{LegendCorner, LinePanel, Overlay, Stroke};
use plotters::style::RGBColor;

/// The 2 x 2 value matrix of the authors' hyperplane example in d = 2 (entrywise positive, so its top
/// eigenvalue is simple and positive by Perron-Frobenius).
pub const AUTHORS_V_2D: [f64; 4] = [0.64709742, 0.81911926, 0.61210449, 0.63263484];

/// How a case's value matrix V is made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ValueKind {
    Identity,
    /// Given row-major.
    Given(Vec<f64>),
    /// W W^T / lambda_max, W i.i.d. uniform on [-1, 1] (seeded).
    ScaledGram,
    /// [`em::sparse_symmetric`] with this density (seeded).
    SparseSymmetric(f64),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Case {
    pub name: String,
    /// n, d, beta, T, dt, checkpoints (V from `value`).
    pub spec: RunSpec,
    pub value: ValueKind,
    /// Initial points i.i.d. uniform in [-a, a]^d.
    pub half_width: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Params {
    pub fidelity: Fidelity,
    pub seed: u64,
    pub cases: Vec<Case>,
    /// Two limits closer than this (relative to the initial diameter of z) are one point.
    pub merge_tol: f64,
    /// Paths of panel (a), (d), (e) are stored every this many checkpoints.
    pub path_every: usize,
}

crate::figure_params!(Params);

/// What every case measures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseData {
    pub name: String,
    pub times: Vec<f64>,
    /// Numerical rank of P(t) (NumPy tolerance).
    pub rank: Vec<u64>,
    /// max_ij min(P_ij, 1 - P_ij).
    pub boolean_distance: Vec<f64>,
    /// #{j: j = argmax_k P_ik(T) for some i}.
    pub attended: usize,
    /// V = I: the vertices of the hull of z(0) (= x(0)); empty otherwise.
    pub hull_vertices: Vec<usize>,
    /// V = I: |z_i(T) - nearest initial hull vertex| / diam z(0), per i.
    pub distance_to_leader: Vec<f64>,
    /// V = I and d = 1: distinct points of z(T) (merge_tol).
    pub limits: Option<usize>,
    /// V = I: initial hull vertices with some z_i(T) within merge_tol of them.
    pub occupied_vertices: Option<usize>,
    /// V != I: top eigenvalue and residual of the left eigenvector.
    pub lambda: Option<f64>,
    pub eigen_residual: Option<f64>,
    /// The top coordinate (l^T z; d = 1: z) in <= 3 groups at t = 0 and T.
    pub groups_initial: Option<Groups>,
    pub groups_final: Option<Groups>,
    /// Widest final group / range of the top coordinate at t = 0 (a collapse to one group is no spread).
    pub spread_over_initial_range: Option<f64>,
    /// Path times and paths (d = 2 and V = I: z rows; otherwise the top coordinate), every `path_every`.
    pub path_times: Vec<f64>,
    pub paths: Vec<Vec<f64>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Data {
    pub cases: Vec<CaseData>,
}

pub struct EmergenceLeaders;

fn upstream(e: impl std::fmt::Display) -> FigureError {
    FigureError::Upstream(e.to_string())
}

fn case(name: &str, n: usize, d: usize, t_end: f64, value: ValueKind, a: f64) -> Case {
    Case {
        name: name.into(),
        spec: RunSpec {
            n,
            d,
            beta: 1.0,
            value: None,
            t_end,
            dt: 0.1,
            every: 1,
        },
        value,
        half_width: a,
    }
}

/// The value matrix of a case (None: V = I).
pub fn value_matrix(c: &Case, seed: u64) -> Result<Option<Vec<f64>>> {
    let d = c.spec.d;
    Ok(match &c.value {
        ValueKind::Identity => None,
        ValueKind::Given(v) => Some(v.clone()),
        ValueKind::SparseSymmetric(density) => {
            Some(em::sparse_symmetric(d, *density, seed).map_err(upstream)?)
        }
        ValueKind::ScaledGram => {
            let w = em::uniform_cube(d, d, 1.0, seed, 1);
            let mut g = vec![0.0; d * d];
            for i in 0..d {
                for j in 0..d {
                    g[i * d + j] = (0..d).map(|k| w[i * d + k] * w[j * d + k]).sum();
                }
            }
            let (lambda, _, _) = top_left_eigenpair(&g, d, 1e-12, 100_000).map_err(upstream)?;
            g.iter_mut().for_each(|a| *a /= lambda);
            Some(g)
        }
    })
}

fn diameter(z: &[f64], d: usize) -> f64 {
    let pts: Vec<&[f64]> = z.chunks_exact(d).collect();
    let mut m: f64 = 0.0;
    for (i, a) in pts.iter().enumerate() {
        for b in &pts[i + 1..] {
            m = m.max(
                a.iter()
                    .zip(b.iter())
                    .map(|(x, y)| (x - y).powi(2))
                    .sum::<f64>()
                    .sqrt(),
            );
        }
    }
    m
}

/// Runs one case and measures it.
pub fn run_case(c: &Case, seed: u64, realisation: u64, p: &Params) -> Result<CaseData> {
    let (n, d) = (c.spec.n, c.spec.d);
    let value = value_matrix(c, seed.wrapping_add(realisation))?;
    let spec = RunSpec {
        value: value.clone(),
        ..c.spec.clone()
    };
    let x0 = em::uniform_cube(n, d, c.half_width, seed, realisation);
    let tr = em::simulate(&spec, &x0).map_err(upstream)?;
    let mut rank = Vec::with_capacity(tr.times.len());
    let mut bd = Vec::with_capacity(tr.times.len());
    for a in &tr.attention {
        let s =
            singular_values(a, n).ok_or_else(|| FigureError::Upstream("SVD of P failed".into()))?;
        rank.push(ranks(&s, n as f64 * f64::EPSILON).0);
        bd.push(boolean_distance(a));
    }
    let last = tr.attention.len() - 1;
    let p_last = &tr.attention[last];
    let mut cols: Vec<usize> = p_last
        .chunks_exact(n)
        .map(|row| (0..n).fold(0, |b, j| if row[j] > row[b] { j } else { b }))
        .collect();
    cols.sort_unstable();
    cols.dedup();
    let t_end = tr.times[last];
    let mut out = CaseData {
        name: c.name.clone(),
        times: tr.times.clone(),
        rank,
        boolean_distance: bd,
        attended: cols.len(),
        hull_vertices: Vec::new(),
        distance_to_leader: Vec::new(),
        limits: None,
        occupied_vertices: None,
        lambda: None,
        eigen_residual: None,
        groups_initial: None,
        groups_final: None,
        spread_over_initial_range: None,
        path_times: Vec::new(),
        paths: Vec::new(),
    };
    let keep: Vec<usize> = (0..tr.times.len())
        .filter(|k| k % p.path_every.max(1) == 0 || *k == last)
        .collect();
    out.path_times = keep.iter().map(|&k| tr.times[k]).collect();
    match &value {
        None => {
            // V = I (any d): z = e^{-t} x
            let z0 = &tr.x[0];
            let z_t = rescale_identity(&tr.x[last], t_end);
            let diam = diameter(z0, d);
            let hull = hull_vertices(z0, n, d).map_err(upstream)?;
            let leaders: Vec<f64> = hull
                .iter()
                .flat_map(|&i| z0[i * d..(i + 1) * d].to_vec())
                .collect();
            out.distance_to_leader = distance_to_nearest(&z_t, &leaders, d)
                .into_iter()
                .map(|v| v / diam)
                .collect();
            out.limits = Some(distinct_points(&z_t, d, p.merge_tol * diam));
            let occupied = distance_to_nearest(&leaders, &z_t, d)
                .iter()
                .filter(|&&v| v <= p.merge_tol * diam)
                .count();
            out.occupied_vertices = Some(occupied);
            out.hull_vertices = hull;
            if d <= 2 {
                out.paths = keep
                    .iter()
                    .map(|&k| rescale_identity(&tr.x[k], tr.times[k]))
                    .collect();
            }
            if d == 1 {
                out.groups_initial = Some(gap_groups(z0, 3).map_err(upstream)?);
                out.groups_final = Some(gap_groups(&z_t, 3).map_err(upstream)?);
            }
        }
        Some(v) => {
            let (lambda, l, res) = top_left_eigenpair(v, d, 1e-13, 1_000_000).map_err(upstream)?;
            out.lambda = Some(lambda);
            out.eigen_residual = Some(res);
            let coord = |k: usize| top_coordinate(&tr.x[k], d, &l, lambda, tr.times[k]);
            out.groups_initial = Some(gap_groups(&coord(0), 3).map_err(upstream)?);
            out.groups_final = Some(gap_groups(&coord(last), 3).map_err(upstream)?);
            out.paths = keep.iter().map(|&k| coord(k)).collect();
        }
    }
    if let (Some(g0), Some(g1)) = (&out.groups_initial, &out.groups_final) {
        let range = g0.groups.last().map_or(0.0, |g| g.1) - g0.groups.first().map_or(0.0, |g| g.0);
        let widest = g1.groups.iter().map(|g| g.1 - g.0).fold(0.0f64, f64::max);
        out.spread_over_initial_range = (range > 0.0).then(|| widest / range);
    }
    Ok(out)
}

fn color(k: usize) -> RGBColor {
    SERIES_COLORS[k % SERIES_COLORS.len()]
}

impl Figure for EmergenceLeaders {
    const META: Meta = Meta {
        id: "emergence-leaders",
        paper: Paper::Frontier,
        number: 7,
        title: "Pure attention in R^d: leaders, Boolean attention, hyperplanes",
        claim: "Geshkovski-Letrouit-Polyanskiy-Rigollet (arXiv 2305.05465): for x_i' = sum_j P_ij V x_j in R^d and \
                z_i = e^{-tV} x_i, V = I: the z_i converge to the vertices of a convex polytope (leaders) and P(t) to a \
                low-rank Boolean matrix whose rank is the number of leaders; V with a simple positive top eigenvalue: \
                z converges to at most three parallel hyperplanes; d = 1: P(t) converges to a Boolean matrix.",
        tolerances: &[],
    };
    type Params = Params;
    type Data = Data;

    fn params(fidelity: Fidelity, seed: u64) -> Params {
        let big = fidelity.pick(32, 128, 128);
        let authors_v = ValueKind::Given(AUTHORS_V_2D.to_vec());
        let a80 = (3.0f64 / 80.0).sqrt();
        Params {
            fidelity,
            seed,
            cases: vec![
                case("polytope", 20, 2, 10.0, ValueKind::Identity, 5.0),
                case("rank-identity", 40, 80, 11.0, ValueKind::Identity, a80),
                case("rank-psd", 40, 80, 11.0, ValueKind::ScaledGram, a80),
                case("hyperplanes", 20, 2, 10.0, authors_v, 5.0),
                case(
                    "hyperplanes-sparse",
                    big,
                    big,
                    15.0,
                    ValueKind::SparseSymmetric(0.1),
                    1.0,
                ),
                case("line", 20, 1, 10.0, ValueKind::Identity, 1.0),
            ],
            merge_tol: 1e-3,
            path_every: fidelity.pick(5, 2, 1),
        }
    }

    fn integrator(p: &Params) -> String {
        let dts: Vec<String> = p
            .cases
            .iter()
            .map(|c| format!("{} dt = {} T = {}", c.name, c.spec.dt, c.spec.t_end))
            .collect();
        format!(
            "engine RK4 in R^d (no projection, no renormalisation), fixed step: {}",
            dts.join(", ")
        )
    }

    fn compute(p: &Params, progress: &dyn Progress) -> Result<Data> {
        if p.cases.is_empty() || p.merge_tol.is_nan() || p.merge_tol <= 0.0 {
            return Err(FigureError::InvalidParams(
                "emergence-leaders needs cases and merge_tol > 0".into(),
            ));
        }
        let mut cases = Vec::with_capacity(p.cases.len());
        for (k, c) in p.cases.iter().enumerate() {
            cases.push(run_case(c, p.seed, k as u64, p)?);
            progress.update(k as u64 + 1, p.cases.len() as u64);
        }
        Ok(Data { cases })
    }

    fn layout<'a>(p: &'a Params, data: &'a Data) -> Result<Layout<'a>> {
        let grey = RGBColor(150, 150, 150);
        let find = |name: &str| data.cases.iter().find(|c| c.name == name);
        // (a) the polytope case in the z-plane
        let mut a_series = Vec::new();
        let (mut lo, mut hi) = (-1.0f64, 1.0f64);
        if let Some(c) = find("polytope").filter(|c| !c.paths.is_empty()) {
            let n = c.paths[0].len() / 2;
            for i in 0..n {
                a_series.push(Overlay {
                    label: None,
                    points: c.paths.iter().map(|z| (z[2 * i], z[2 * i + 1])).collect(),
                    color: grey,
                    stroke: Stroke::Solid { width: 1 },
                });
            }
            let z0 = &c.paths[0];
            lo = z0.iter().copied().fold(f64::INFINITY, f64::min) - 0.1;
            hi = z0.iter().copied().fold(f64::NEG_INFINITY, f64::max) + 0.1;
            a_series.push(Overlay {
                label: Some("initial hull vertices".into()),
                points: c
                    .hull_vertices
                    .iter()
                    .map(|&i| (z0[2 * i], z0[2 * i + 1]))
                    .collect(),
                color: RGBColor(200, 0, 0),
                stroke: Stroke::Markers { radius: 6 },
            });
            let zt = &c.paths[c.paths.len() - 1];
            a_series.push(Overlay {
                label: Some("z_i(T)".into()),
                points: zt.chunks_exact(2).map(|r| (r[0], r[1])).collect(),
                color: SERIES_COLORS[0],
                stroke: Stroke::Markers { radius: 3 },
            });
        }
        let panel_a = LinePanel {
            title: "(a) V = I, n = 20, d = 2: z_i = e^{-t} x_i".into(),
            x_label: "z_1".into(),
            y_label: "z_2".into(),
            x_range: (lo, hi),
            y_range: (lo, hi),
            series: a_series,
            marks: Vec::new(),
            zero_line: false,
            legend: LegendCorner::LowerRight,
        };
        // (b) rank of P(t), (c) distance to Boolean
        let t_max = data
            .cases
            .iter()
            .filter_map(|c| c.times.last().copied())
            .fold(1.0f64, f64::max);
        let max_rank = data
            .cases
            .iter()
            .flat_map(|c| c.rank.iter().copied())
            .max()
            .unwrap_or(1) as f64;
        let mut b_series = Vec::new();
        let mut c_series = Vec::new();
        for (k, c) in data.cases.iter().enumerate() {
            b_series.push(Overlay {
                label: Some(c.name.clone()),
                points: c
                    .times
                    .iter()
                    .zip(&c.rank)
                    .map(|(&t, &r)| (t, r as f64))
                    .collect(),
                color: color(k),
                stroke: Stroke::Solid { width: 2 },
            });
            if !c.hull_vertices.is_empty() {
                let h = c.hull_vertices.len() as f64;
                b_series.push(Overlay {
                    label: None,
                    points: vec![(0.0, h), (t_max, h)],
                    color: color(k),
                    stroke: Stroke::Dashed { width: 1 },
                });
            }
            c_series.push(Overlay {
                label: Some(c.name.clone()),
                points: c
                    .times
                    .iter()
                    .zip(&c.boolean_distance)
                    .map(|(&t, &b)| (t, b.max(1e-17).log10()))
                    .collect(),
                color: color(k),
                stroke: Stroke::Solid { width: 2 },
            });
        }
        let panel_b = LinePanel {
            title: "(b) numerical rank of P(t) (dashed: hull vertices of z(0))".into(),
            x_label: "t".into(),
            y_label: "rank P(t)".into(),
            x_range: (0.0, t_max),
            y_range: (0.0, max_rank + 2.0),
            series: b_series,
            marks: Vec::new(),
            zero_line: false,
            legend: LegendCorner::UpperRight,
        };
        let panel_c = LinePanel {
            title: "(c) distance of P(t) to the nearest 0/1 matrix".into(),
            x_label: "t".into(),
            y_label: "log10 max_ij min(P_ij, 1 - P_ij)".into(),
            x_range: (0.0, t_max),
            y_range: (-17.0, 0.0),
            series: c_series,
            marks: Vec::new(),
            zero_line: false,
            legend: LegendCorner::LowerLeft,
        };
        // (d), (e): the top coordinate against t
        let coordinate_panel = |name: &str, title: String, y_label: &str| {
            let c = find(name);
            let mut series = Vec::new();
            let (mut ylo, mut yhi) = (-1.0f64, 1.0f64);
            if let Some(c) = c.filter(|c| !c.paths.is_empty()) {
                let n = c.paths[0].len();
                for i in 0..n {
                    series.push(Overlay {
                        label: None,
                        points: c
                            .path_times
                            .iter()
                            .zip(&c.paths)
                            .map(|(&t, z)| (t, z[i]))
                            .collect(),
                        color: color(i),
                        stroke: Stroke::Solid { width: 1 },
                    });
                }
                let all = c.paths.iter().flatten().copied();
                let (l, h) = all.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
                    (l.min(v), h.max(v))
                });
                let pad = 0.05 * (h - l).max(1e-9);
                (ylo, yhi) = (l - pad, h + pad);
            }
            LinePanel {
                title,
                x_label: "t".into(),
                y_label: y_label.into(),
                x_range: (
                    0.0,
                    c.and_then(|c| c.path_times.last().copied()).unwrap_or(1.0),
                ),
                y_range: (ylo, yhi),
                series,
                marks: Vec::new(),
                zero_line: true,
                legend: LegendCorner::UpperRight,
            }
        };
        let panel_d = coordinate_panel(
            "hyperplanes",
            "(d) authors' 2 x 2 V: l^T z_i(t), l top left eigenvector".into(),
            "l^T z_i",
        );
        let panel_e = coordinate_panel(
            "hyperplanes-sparse",
            format!(
                "(e) sparse symmetric V, d = n = {}: l^T z_i(t)",
                p.cases
                    .iter()
                    .find(|c| c.name == "hyperplanes-sparse")
                    .map_or(0, |c| c.spec.d)
            ),
            "l^T z_i",
        );
        let panel_f = {
            let mut f = coordinate_panel("line", "(f) d = 1, V = 1: z_i(t)".into(), "z_i");
            if let Some(c) = find("line").filter(|c| !c.paths.is_empty()) {
                f.series = (0..c.paths[0].len())
                    .map(|i| Overlay {
                        label: None,
                        points: c
                            .path_times
                            .iter()
                            .zip(&c.paths)
                            .map(|(&t, z)| (t, z[i]))
                            .collect(),
                        color: color(i),
                        stroke: Stroke::Solid { width: 1 },
                    })
                    .collect();
            }
            f
        };
        Ok(Layout {
            size: (1800, 1100),
            body: Block::rows(
                Split::Fraction(1, 2),
                Block::row([
                    Panel::Lines(panel_a),
                    Panel::Lines(panel_b),
                    Panel::Lines(panel_c),
                ]),
                Block::row([
                    Panel::Lines(panel_d),
                    Panel::Lines(panel_e),
                    Panel::Lines(panel_f),
                ]),
            ),
        })
    }

    fn summary(_: &Params, data: &Data) -> Vec<SummaryLine> {
        let mut out = Vec::new();
        for c in &data.cases {
            let last = c.times.len().saturating_sub(1);
            let t = c.times.get(last).copied().unwrap_or(0.0);
            let rank = c.rank.get(last).copied().unwrap_or(0);
            let bd = c.boolean_distance.get(last).copied().unwrap_or(f64::NAN);
            out.push(SummaryLine::new(
                format!(
                    "{}: rank P(T = {t}), distance to Boolean, attended columns",
                    c.name
                ),
                format!(
                    "rank {rank} (rank P(0) = {}), {bd:.1e}, {} attended",
                    c.rank.first().copied().unwrap_or(0),
                    c.attended
                ),
            ));
            if !c.hull_vertices.is_empty() {
                let worst = c.distance_to_leader.iter().copied().fold(0.0f64, f64::max);
                let near = c.distance_to_leader.iter().filter(|&&v| v <= 1e-3).count();
                out.push(SummaryLine::new(
                    format!("{}: leaders (vertices of the hull of z(0))", c.name),
                    format!(
                        "{} vertices, {} occupied at T; {} distinct limits; {near} / {} z_i(T) within 1e-3 diam of a vertex, max distance / diam {worst:.2e}",
                        c.hull_vertices.len(),
                        c.occupied_vertices.unwrap_or(0),
                        c.limits.unwrap_or(0),
                        c.distance_to_leader.len()
                    ),
                ));
            }
            if let (Some(g0), Some(g1)) = (&c.groups_initial, &c.groups_final) {
                let sizes: Vec<usize> = g1.groups.iter().map(|g| g.2).collect();
                let lam = c
                    .lambda
                    .map_or(String::new(), |l| format!("lambda_1 = {l:.4}, "));
                out.push(SummaryLine::new(
                    format!("{}: top coordinate in <= 3 groups", c.name),
                    format!(
                        "{lam}widest group / range {:.2e} at t = 0, {:.2e} at T ({:.2e} of the initial range; group sizes {sizes:?})",
                        g0.relative_spread,
                        g1.relative_spread,
                        c.spread_over_initial_range.unwrap_or(f64::NAN)
                    ),
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ci_polytope_is_boolean_and_hyperplanes_collapse() {
        let p = EmergenceLeaders::params(Fidelity::Ci, 7);
        let get = |name: &str| p.cases.iter().position(|c| c.name == name).unwrap();
        let k = get("polytope");
        let data = run_case(&p.cases[k], p.seed, k as u64, &p).unwrap();
        let last = data.times.len() - 1;
        assert!((data.times[last] - 10.0).abs() < 1e-9);
        // P(T) is Boolean, and its rank is the number of distinct attended columns and of limits
        assert!(
            data.boolean_distance[last] < 1e-6,
            "{:?}",
            data.boolean_distance[last]
        );
        assert_eq!(data.rank[last] as usize, data.attended);
        assert_eq!(Some(data.attended), data.limits);
        assert!(data.hull_vertices.len() >= 3);
        // the authors' 2 x 2 V: the top coordinate ends in at most three tight groups
        let k = get("hyperplanes");
        let data = run_case(&p.cases[k], p.seed, k as u64, &p).unwrap();
        assert!(data.lambda.unwrap() > 1.3 && data.lambda.unwrap() < 1.4);
        assert!(data.spread_over_initial_range.unwrap() < 1e-4, "{data:?}");
    }
}
