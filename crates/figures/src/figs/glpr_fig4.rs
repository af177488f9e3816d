//! `glpr-fig4`: \[GLPR\] Figure 4. The d = 2 phase diagram (as in Figure 3, n = 32) beside trajectories on the
//! circle of n = 64 particles under SA ((2.6) with Q = K = V = I, i.e. (7.1) with 1/Z_i) for beta = 9 (top) and
//! beta = 4 (bottom) at t = 0, 18, 30 (Euler + renormalisation, step 0.1), and the distribution over seeds of
//! the number of clusters at t = 30 (connected components of {<x_i, x_j> > 1 - delta}), since the count in a
//! single draw is random (the paper's draw shows 3 clusters at beta = 9 and 2 at beta = 4).
//!
//! The trajectories of both betas start from the same initial points (realisation 0 of the seed).

use attnflow_dynamics::integrate::integrate;
use attnflow_dynamics::observables::cluster_count;
use attnflow_dynamics::sampling::{Purpose, stream, uniform_sphere};
use attnflow_dynamics::{Configuration, IntegratorKind, SelfAttention};
use attnflow_experiment::Spec;
use plotters::style::Color;
use serde::{Deserialize, Serialize};

use super::glpr_fig3::{self, Curve, curve_overlay, gamma_curve};
use super::phase::{PhasePanel, phase_heatmap, run_declared};
use crate::error::{FigureError, Result};
use crate::figure::{Fidelity, Figure, Meta, Paper, Progress, SummaryLine};
use crate::golden::FieldTolerance;
use crate::layout::{Block, ColorBar, Layout, Panel, Split};
use crate::plot::circle::CircleView;
use crate::plot::colormap::ColorScale;
use crate::plot::histogram::{Bar, Histogram};
use crate::plot::{SERIES_COLORS, text_size};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Params {
    pub fidelity: Fidelity,
    pub seed: u64,
    /// The d = 2 phase diagram (Figure 3 parameters restricted to d = 2).
    pub phase: glpr_fig3::Params,
    /// Particles of the circle trajectories.
    pub n_circle: usize,
    pub betas: Vec<f64>,
    pub snapshot_times: Vec<f64>,
    pub dt: f64,
    /// Cluster threshold: i, j in one cluster when <x_i, x_j> > 1 - delta (transitively).
    pub cluster_delta: f64,
    /// Number of seeds (realisations) of the cluster-count distribution.
    pub count_realizations: usize,
    /// Steps between stored path samples.
    pub path_stride: usize,
}

crate::figure_params!(Params);

/// Trajectory of the n_circle particles for one beta.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trajectory {
    pub beta: f64,
    /// Angles at each snapshot time (`snapshots[k][i]`).
    pub snapshots: Vec<Vec<f64>>,
    /// Cluster count at each snapshot time.
    pub snapshot_clusters: Vec<usize>,
    /// Times of the path samples.
    pub path_times: Vec<f64>,
    /// `paths[i][k]`: angle of particle i at `path_times[k]`.
    pub paths: Vec<Vec<f64>>,
}

/// Distribution of the cluster count at the last snapshot time over realisations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterCounts {
    pub beta: f64,
    pub t: f64,
    /// Cluster count per realisation (realisation index r uses stream (seed, r, InitialCondition)).
    pub counts: Vec<usize>,
    /// `histogram[k]`: number of realisations with k clusters.
    pub histogram: Vec<usize>,
    pub mean: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Data {
    pub phase_panel: PhasePanel,
    pub gamma_curve: Curve,
    pub trajectories: Vec<Trajectory>,
    pub cluster_counts: Vec<ClusterCounts>,
}

pub struct GlprFig4;

/// Initial circle configuration of realisation `r`.
fn initial(p: &Params, r: u64) -> Result<Configuration> {
    uniform_sphere(
        p.n_circle,
        2,
        &mut stream(p.seed, r, Purpose::InitialCondition),
    )
    .map_err(upstream)
}

fn upstream(e: attnflow_dynamics::DynamicsError) -> FigureError {
    FigureError::Upstream(e.to_string())
}

fn steps_to(t: f64, dt: f64) -> usize {
    (t / dt - 1e-9).ceil().max(0.0) as usize
}

/// Runs SA from `x0` and records angles at the snapshot steps and every `stride` steps.
fn trajectory(p: &Params, beta: f64, x0: &Configuration) -> Result<Trajectory> {
    let field = SelfAttention::sa(beta).map_err(upstream)?;
    let stepper = IntegratorKind::PaperEuler
        .stepper_for(&field)
        .map_err(upstream)?;
    let snapshot_steps: Vec<usize> = p
        .snapshot_times
        .iter()
        .map(|&t| steps_to(t, p.dt))
        .collect();
    let last = snapshot_steps.iter().copied().max().unwrap_or(0);
    let n = p.n_circle;
    let mut snapshots = vec![Vec::new(); snapshot_steps.len()];
    let mut snapshot_clusters = vec![0; snapshot_steps.len()];
    let mut path_times = Vec::new();
    let mut paths = vec![Vec::new(); n];
    integrate(&field, stepper, x0, p.dt, last, |k, t, x| {
        let angles: Vec<f64> = x.chunks_exact(2).map(|q| q[1].atan2(q[0])).collect();
        for (s, &ks) in snapshot_steps.iter().enumerate() {
            if ks == k {
                snapshots[s] = angles.clone();
                let cfg_gram = gram2(x, n);
                snapshot_clusters[s] = cluster_count(&cfg_gram, n, p.cluster_delta);
            }
        }
        if k % p.path_stride == 0 || k == last {
            path_times.push(t);
            for (i, a) in angles.iter().enumerate() {
                paths[i].push(*a);
            }
        }
    })
    .map_err(upstream)?;
    Ok(Trajectory {
        beta,
        snapshots,
        snapshot_clusters,
        path_times,
        paths,
    })
}

/// Gram matrix of n points of the circle stored row-major.
fn gram2(x: &[f64], n: usize) -> Vec<f64> {
    let mut g = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            g[i * n + j] = x[2 * i] * x[2 * j] + x[2 * i + 1] * x[2 * j + 1];
        }
    }
    g
}

/// Cluster count at time t_end for realisation r.
fn final_cluster_count(p: &Params, beta: f64, r: u64, t_end: f64) -> Result<usize> {
    let field = SelfAttention::sa(beta).map_err(upstream)?;
    let stepper = IntegratorKind::PaperEuler
        .stepper_for(&field)
        .map_err(upstream)?;
    let x0 = initial(p, r)?;
    let end = integrate(
        &field,
        stepper,
        &x0,
        p.dt,
        steps_to(t_end, p.dt),
        |_, _, _| {},
    )
    .map_err(upstream)?;
    Ok(cluster_count(&end.gram(), p.n_circle, p.cluster_delta))
}

impl Figure for GlprFig4 {
    const META: Meta = Meta {
        id: "glpr-fig4",
        paper: Paper::Glpr,
        number: 4,
        title: "[GLPR] Figure 4: d = 2 phase diagram and metastable clusters on the circle",
        claim: "Paper's draw: 3 clusters at beta = 9 and 2 at beta = 4, frozen between t = 18 and 30. Compare: the distribution of cluster counts at t = 30 over seeds.",
        tolerances: &[
            FieldTolerance::new("phase_panel.probability", 0.01, 0.0, "as glpr-fig3"),
            FieldTolerance::new("phase_panel.stderr", 0.01, 0.0, "as glpr-fig3"),
            FieldTolerance::new(
                "trajectories.*.snapshots",
                1e-6,
                0.0,
                "angles after 300 Euler steps: round-off differences grow but stay far below visible size",
            ),
            FieldTolerance::new("trajectories.*.paths", 1e-6, 0.0, "as snapshots"),
            FieldTolerance::new("cluster_counts.*.mean", 1e-9, 0.0, "mean of integers"),
        ],
    };
    type Params = Params;
    type Data = Data;

    fn params(fidelity: Fidelity, seed: u64) -> Params {
        let mut phase = glpr_fig3::GlprFig3::params(fidelity, seed);
        phase.dims = vec![2];
        phase.num_beta = fidelity.pick(6, 60, 150);
        phase.realizations = fidelity.pick(4, 64, 1024);
        Params {
            fidelity,
            seed,
            phase,
            n_circle: 64,
            betas: vec![9.0, 4.0],
            snapshot_times: vec![0.0, 18.0, 30.0],
            dt: 0.1,
            cluster_delta: 1e-3,
            count_realizations: fidelity.pick(8, 200, 1000),
            path_stride: 5,
        }
    }

    fn integrator(p: &Params) -> String {
        format!(
            "paper-euler (x <- normalize(x + dt * sum_j A_ij x_j)), dt = {}",
            p.dt
        )
    }

    fn compute(p: &Params, progress: &dyn Progress) -> Result<Data> {
        if p.n_circle < 2
            || p.snapshot_times.is_empty()
            || p.path_stride == 0
            || p.count_realizations == 0
        {
            return Err(FigureError::InvalidParams(
                "glpr-fig4 needs n_circle >= 2, snapshot times, path_stride >= 1 and count_realizations >= 1".into(),
            ));
        }
        if !(p.cluster_delta > 0.0 && p.cluster_delta < 2.0) {
            return Err(FigureError::InvalidParams(format!(
                "cluster_delta must lie in (0, 2), got {}",
                p.cluster_delta
            )));
        }
        let phase_work = (p.phase.num_beta * p.phase.realizations) as u64;
        let count_work = (p.betas.len() * p.count_realizations) as u64;
        let total = phase_work + count_work;
        let phase_progress = ScaledProgress {
            inner: progress,
            offset: 0,
            total,
        };
        let phase_panel = run_declared(
            vec![glpr_fig3::identity_panel(&p.phase, 2)?],
            &phase_progress,
        )?
        .remove(0);
        let gamma_curve = gamma_curve(&p.phase)?;
        let x0 = initial(p, 0)?;
        let trajectories = p
            .betas
            .iter()
            .map(|&b| trajectory(p, b, &x0))
            .collect::<Result<Vec<_>>>()?;
        let t_end = p.snapshot_times.iter().copied().fold(0.0, f64::max);
        let mut cluster_counts = Vec::new();
        for (b_index, &beta) in p.betas.iter().enumerate() {
            let mut counts = Vec::with_capacity(p.count_realizations);
            for r in 0..p.count_realizations {
                counts.push(final_cluster_count(p, beta, r as u64, t_end)?);
                progress.update(
                    phase_work + (b_index * p.count_realizations + r + 1) as u64,
                    total,
                );
            }
            let max = counts.iter().copied().max().unwrap_or(0);
            let mut histogram = vec![0; max + 1];
            for &c in &counts {
                histogram[c] += 1;
            }
            let mean = counts.iter().sum::<usize>() as f64 / counts.len() as f64;
            cluster_counts.push(ClusterCounts {
                beta,
                t: t_end,
                counts,
                histogram,
                mean,
            });
        }
        Ok(Data {
            phase_panel,
            gamma_curve,
            trajectories,
            cluster_counts,
        })
    }

    fn layout<'a>(p: &'a Params, data: &'a Data) -> Result<Layout<'a>> {
        let heatmap = phase_heatmap(
            &data.phase_panel,
            "P(<x₁, x₂> > 1 - δ), d = 2; dashed: Γ∞,δ".to_string(),
            vec![curve_overlay(&data.gamma_curve)],
        );
        let phase = Block::columns(
            Split::FromEnd(90),
            Block::panel(Panel::Heatmap(heatmap)),
            Block::panel(Panel::ColorBar(ColorBar {
                scale: ColorScale::new(0.0, 1.0),
                label: "P".into(),
                left: 6,
                right: Split::FromStart(10),
            })),
        );
        let mut circles = Vec::new();
        for (r, traj) in data.trajectories.iter().enumerate() {
            for (c, &t) in p.snapshot_times.iter().enumerate() {
                let k_end = traj
                    .path_times
                    .iter()
                    .position(|&pt| pt > t + 1e-9)
                    .unwrap_or(traj.path_times.len());
                circles.push(Block::panel(Panel::Circle(CircleView {
                    title: format!(
                        "β = {}, t = {} ({} clusters)",
                        traj.beta, t, traj.snapshot_clusters[c]
                    ),
                    current: traj.snapshots[c].clone(),
                    initial: traj.snapshots[0].clone(),
                    paths: traj
                        .paths
                        .iter()
                        .map(|path| path[..k_end].to_vec())
                        .collect(),
                    coloring: None,
                    marker_color: SERIES_COLORS[r % SERIES_COLORS.len()],
                })));
            }
        }
        let histograms = data.cluster_counts.iter().enumerate().map(|(k, counts)| {
            let max_k = counts.histogram.len().max(2);
            let max_freq = counts.histogram.iter().copied().max().unwrap_or(1).max(1) as f64;
            Panel::Histogram(Histogram {
                title: format!(
                    "clusters at t = {} over {} seeds, β = {} (mean {:.2})",
                    counts.t,
                    counts.counts.len(),
                    counts.beta,
                    counts.mean
                ),
                axis_labels: Some(("number of clusters".into(), "seeds".into())),
                x_range: (0.5, max_k as f64 + 0.5),
                y_range: (0.0, max_freq * 1.1),
                bars: counts
                    .histogram
                    .iter()
                    .enumerate()
                    .filter(|(_, f)| **f > 0)
                    .map(|(c, &f)| Bar {
                        from: c as f64 - 0.35,
                        to: c as f64 + 0.35,
                        height: f as f64,
                    })
                    .collect(),
                color: SERIES_COLORS[k % SERIES_COLORS.len()].to_rgba(),
                x_ticks: max_k.min(12),
                integer_ticks: true,
                compact: false,
            })
        });
        let rows = data.trajectories.len().max(1);
        let cols = p.snapshot_times.len().max(1);
        Ok(Layout {
            size: (1700, 120 + 330 * rows as u32 + 300),
            body: Block::titled(
                format!(
                    "d = 2: phase diagram (n = {}, {} realisations/β) and SA trajectories of n = {} particles",
                    p.phase.n, p.phase.realizations, p.n_circle
                ),
                text_size::TITLE,
                Block::rows(
                    Split::FromEnd(300),
                    Block::columns(
                        Split::Fraction(2, 5),
                        phase,
                        Block::grid(rows, cols, circles),
                    ),
                    Block::row(histograms),
                ),
            ),
        })
    }

    /// The d = 2 phase diagram. The circle trajectories and the cluster counts are not declared yet
    /// (each would be one spec per beta: both betas start from realisation 0 of the seed, which a
    /// beta sweep would not do).
    fn experiment_specs(p: &Params) -> Result<Vec<(String, Spec)>> {
        let panel = glpr_fig3::identity_panel(&p.phase, 2)?;
        Ok(vec![(panel.name, panel.spec)])
    }

    fn summary(_: &Params, data: &Data) -> Vec<SummaryLine> {
        let mut lines = Vec::new();
        for traj in &data.trajectories {
            lines.push(SummaryLine::new(
                format!(
                    "drawn run, β = {}: clusters at the snapshot times",
                    traj.beta
                ),
                format!("{:?}", traj.snapshot_clusters),
            ));
        }
        for c in &data.cluster_counts {
            let hist: Vec<String> = c
                .histogram
                .iter()
                .enumerate()
                .filter(|(_, f)| **f > 0)
                .map(|(k, f)| format!("{k}: {f}"))
                .collect();
            lines.push(SummaryLine::new(
                format!(
                    "β = {}: clusters at t = {} over {} seeds (count: seeds)",
                    c.beta,
                    c.t,
                    c.counts.len()
                ),
                format!("{} (mean {:.2})", hist.join(", "), c.mean),
            ));
        }
        lines
    }
}

/// Maps the progress of a sub-task onto the whole figure.
struct ScaledProgress<'a> {
    inner: &'a dyn Progress,
    offset: u64,
    total: u64,
}

impl Progress for ScaledProgress<'_> {
    fn update(&self, done: u64, _total: u64) {
        self.inner.update(self.offset + done, self.total);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gram2_matches_the_configuration_gram() {
        let cfg = Configuration::from_angles(&[0.1, 1.7, -2.0]).unwrap();
        let g = gram2(cfg.as_slice(), 3);
        for (a, b) in g.iter().zip(cfg.gram()) {
            assert!((a - b).abs() < 1e-15);
        }
    }

    #[test]
    fn trajectories_stay_on_the_circle_and_start_at_the_initial_points() {
        let mut p = GlprFig4::params(Fidelity::Ci, 3);
        p.snapshot_times = vec![0.0, 2.0];
        let x0 = initial(&p, 0).unwrap();
        let tr = trajectory(&p, 4.0, &x0).unwrap();
        let a0 = x0.angles().unwrap();
        for (a, b) in tr.snapshots[0].iter().zip(&a0) {
            assert!((a - b).abs() < 1e-15);
        }
        assert_eq!(tr.path_times.first(), Some(&0.0));
        assert!((tr.path_times.last().unwrap() - 2.0).abs() < 1e-9);
        assert_eq!(tr.paths.len(), 64);
        // Uniform initial points form many clusters (pairs within angle acos(1 - delta) ~ 0.045 merge);
        // by t = 2 the dynamics has merged many of them.
        assert!(tr.snapshot_clusters[0] > 32, "{:?}", tr.snapshot_clusters);
        assert!(
            tr.snapshot_clusters[1] < tr.snapshot_clusters[0],
            "{:?}",
            tr.snapshot_clusters
        );
    }
}
