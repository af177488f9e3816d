//! Shared pieces of the \[BKKRW\] figures: runs of the surrogate scheme (attnflow-kuramoto) from seeded uniform
//! starts, and configurations as plain point lists for the sphere and circle views.

use attnflow_dynamics::sampling::{Purpose, stream, uniform_sphere};
use attnflow_dynamics::{Configuration, SquareMatrix};
use attnflow_kuramoto::surrogate::{
    ClusterSummary, Direction, count_clusters, energy_code, run_scheme,
};
use serde::{Deserialize, Serialize};

use crate::error::{FigureError, Result};

pub(crate) fn upstream<E: std::fmt::Display>(e: E) -> FigureError {
    FigureError::Upstream(e.to_string())
}

/// One run of the scheme: start, end, terminal energy and clusters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SchemeRun {
    /// Realisation index r of the initial condition: stream (seed, r, InitialCondition).
    pub realisation: u64,
    /// Initial points, row-major n x dim.
    pub initial: Vec<f64>,
    /// Final points, row-major n x dim.
    pub fin: Vec<f64>,
    pub energy: f64,
    pub clusters: ClusterSummary,
}

/// Runs the scheme for D = diag(`diag`) from n uniform points of realisation `r`.
#[allow(clippy::too_many_arguments)]
pub fn run_from_uniform(
    diag: &[f64],
    direction: Direction,
    n: usize,
    tau: f64,
    steps: usize,
    seed: u64,
    r: u64,
    cluster_delta: f64,
) -> Result<SchemeRun> {
    let d_mat = SquareMatrix::diagonal(diag);
    let x0 = uniform_sphere(
        n,
        diag.len(),
        &mut stream(seed, r, Purpose::InitialCondition),
    )
    .map_err(upstream)?;
    let x = run_scheme(&d_mat, direction, &x0, tau, steps).map_err(upstream)?;
    Ok(SchemeRun {
        realisation: r,
        energy: energy_code(&x, &d_mat).map_err(upstream)?,
        clusters: count_clusters(&x, cluster_delta).map_err(upstream)?,
        initial: x0.into_vec(),
        fin: x.into_vec(),
    })
}

/// Rows of a row-major 3-column array as points.
pub fn points3(data: &[f64]) -> Vec<[f64; 3]> {
    data.chunks_exact(3).map(|p| [p[0], p[1], p[2]]).collect()
}

/// Angles of a row-major 2-column array.
pub fn angles2(data: &[f64]) -> Vec<f64> {
    data.chunks_exact(2).map(|p| p[1].atan2(p[0])).collect()
}

/// 3 x 3 diagonal matrix as rows.
pub fn diag3(d: &[f64]) -> [[f64; 3]; 3] {
    let mut m = [[0.0; 3]; 3];
    for (k, v) in d.iter().take(3).enumerate() {
        m[k][k] = *v;
    }
    m
}

/// x^T D x on `m` equispaced angles of the circle, D = diag(d1, d2).
pub fn circle_quadratic(d: [f64; 2], m: usize) -> Vec<f64> {
    (0..m)
        .map(|k| {
            let a = 2.0 * std::f64::consts::PI * k as f64 / m as f64;
            d[0] * a.cos().powi(2) + d[1] * a.sin().powi(2)
        })
        .collect()
}

/// Configuration from a row-major array (for re-use with upstream observables).
pub fn configuration(data: &[f64], dim: usize) -> Result<Configuration> {
    Configuration::new(data.len() / dim, dim, data.to_vec()).map_err(upstream)
}
