//! Phase diagrams of \[GLPR\] Figures 3-5 as figure data and pictures: p(t, beta) = P(<x_1(t), x_2(t)> > 1 - delta),
//! estimated by `attnflow_dynamics::run_phase_diagram` (mean over realisations of the fraction of ordered
//! pairs above 1 - delta), stored per panel in the layout other tools read: `label`, `d`, `n`, `t`,
//! `beta`, `probability` (one row per beta, one value per t), `stderr` (same shape) and `params`.
//!
//! Each panel is declared as an experiment spec ([`PhaseGrid::spec`], `attnflow_experiment::Spec`) and
//! run from it ([`run_declared`]: spec -> resolve -> `ResolvedSpec::phase_diagram_spec` -> the engine's
//! runner), so the spec a user reruns with `attnflow phase-diagram --spec` is the one the figure ran.

use attnflow_dynamics::ensemble::PhaseDiagramParams;
use attnflow_dynamics::{
    IntegratorKind, MatrixEnsemble, ModelKind, PhaseDiagram, PhaseDiagramSpec, run_phase_diagram,
};
use attnflow_experiment::spec::{CheckpointRule, RepresentationSpec};
use attnflow_experiment::{
    Aggregate, Checkpoints, EnsembleSpec, FieldSpec, IntegratorSpec, Linspace, Method,
    ObservableKind, ObservableSpec, Spec, SweepSpec, TimeSpec,
};
use serde::{Deserialize, Serialize};

use crate::error::{FigureError, Result};
use crate::figure::Progress;
use crate::layout::{Block, ColorBar, Panel, Split};
use crate::plot::colormap::ColorScale;
use crate::plot::heatmap::Heatmap;
use crate::plot::lines::Overlay;

/// One phase-diagram panel (the layout other tools read).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhasePanel {
    pub label: String,
    pub d: usize,
    pub n: usize,
    pub t: Vec<f64>,
    pub beta: Vec<f64>,
    pub probability: Vec<Vec<f64>>,
    pub stderr: Vec<Vec<f64>>,
    pub params: PhaseDiagramParams,
    /// Integrator steps actually taken (fewer than steps x betas x realisations when the exact
    /// consensus exit stopped realisations early).
    #[serde(default)]
    pub steps_integrated: u64,
}

impl PhasePanel {
    fn from_diagram(label: String, diagram: PhaseDiagram) -> Self {
        Self {
            label,
            d: diagram.params.spec.d,
            n: diagram.params.spec.n,
            t: diagram.t,
            beta: diagram.beta,
            probability: diagram.probability,
            stderr: diagram.stderr,
            params: diagram.params,
            steps_integrated: diagram.steps_integrated,
        }
    }

    /// Empirical 50% boundary: for each beta row, the first time the probability reaches 1/2 (linear
    /// interpolation between checkpoints); `None` if it never does.
    pub fn half_crossing_times(&self) -> Vec<Option<f64>> {
        self.crossing_times(0.5)
    }

    /// For each beta row, the first time the probability reaches `level` (linear interpolation
    /// between the checkpoint before and the first checkpoint at or above it); `None` if it never does.
    pub fn crossing_times(&self, level: f64) -> Vec<Option<f64>> {
        self.probability
            .iter()
            .map(|row| {
                let k = row.iter().position(|&p| p >= level)?;
                if k == 0 {
                    return Some(self.t[0]);
                }
                let (p0, p1) = (row[k - 1], row[k]);
                let w = (level - p0) / (p1 - p0);
                Some(self.t[k - 1] + w * (self.t[k] - self.t[k - 1]))
            })
            .collect()
    }

    /// Index of the grid beta nearest to `beta` (the first of two equally near); `None` for a panel
    /// without betas.
    pub fn nearest_beta(&self, beta: f64) -> Option<usize> {
        (0..self.beta.len()).min_by(|&a, &b| {
            (self.beta[a] - beta)
                .abs()
                .total_cmp(&(self.beta[b] - beta).abs())
        })
    }
}

/// The parameters of one (t, beta) phase-diagram panel: SA, n uniform points on S^{d-1}, Q = K = V = I
/// or a Figure 5 ensemble, `num_t` checkpoints on [0, t_max] read by the authors' rule, `num_beta`
/// betas on [beta_min, beta_max], the pair fraction at threshold 1 - delta averaged over
/// `realizations` realisations.
#[derive(Debug, Clone, PartialEq)]
pub struct PhaseGrid {
    pub n: usize,
    pub d: usize,
    pub seed: u64,
    pub matrices: MatrixEnsemble,
    pub delta: f64,
    pub t_max: f64,
    pub num_t: usize,
    pub beta_min: f64,
    pub beta_max: f64,
    pub num_beta: usize,
    pub realizations: usize,
    pub dt: f64,
    pub integrator: IntegratorKind,
}

impl PhaseGrid {
    /// The panel as an experiment spec (a (t, beta) phase diagram in the sense of
    /// `attnflow_experiment::phase`): sweep of beta by linspace, `time.checkpoints` a count,
    /// the consensus exit on (as every figure runs it), the representation left to the engine.
    pub fn spec(&self) -> Result<Spec> {
        let (method, rtol, atol) = match self.integrator {
            IntegratorKind::PaperEuler => (Method::PaperEuler, None, None),
            IntegratorKind::Rk4 => (Method::Rk4, None, None),
            IntegratorKind::Dp54 { rtol, atol } => (Method::Dp54, Some(rtol), Some(atol)),
            IntegratorKind::EnergyStable => (Method::EnergyStable, None, None),
            other => {
                return Err(FigureError::InvalidParams(format!(
                    "integrator {} has no experiment-spec method",
                    other.name()
                )));
            }
        };
        Ok(Spec {
            n: Some(self.n),
            d: Some(self.d),
            seed: self.seed,
            field: FieldSpec {
                model: ModelKind::Sa,
                // Q = K = V = I is the spec's default head
                matrices: (self.matrices != MatrixEnsemble::Identity).then_some(self.matrices),
                ..FieldSpec::default()
            },
            integrator: IntegratorSpec {
                method,
                rtol,
                atol,
                representation: RepresentationSpec::Auto,
                consensus_exit: Some(true),
                precision: attnflow_dynamics::Precision::F64,
            },
            time: TimeSpec {
                dt: self.dt,
                t_max: self.t_max,
                checkpoints: Checkpoints::Count(self.num_t),
                checkpoint_rule: CheckpointRule::Paper,
            },
            observables: vec![ObservableSpec {
                delta: Some(self.delta),
                ..ObservableSpec::of(ObservableKind::PairFraction)
            }],
            ensemble: EnsembleSpec {
                realizations: self.realizations,
                aggregate: Some(Aggregate::Mean),
            },
            sweep: Some(SweepSpec {
                parameter: "beta".into(),
                values: None,
                linspace: Some(Linspace {
                    start: self.beta_min,
                    stop: self.beta_max,
                    count: self.num_beta,
                }),
            }),
            ..Spec::default()
        })
    }
}

/// One declared panel: the file stem of its spec, its label in the record and the picture, and
/// the spec it runs.
#[derive(Debug, Clone, PartialEq)]
pub struct DeclaredPanel {
    pub name: String,
    pub label: String,
    pub spec: Spec,
}

/// The engine's phase-diagram spec of each declared panel (resolve, then
/// `ResolvedSpec::phase_diagram_spec`), labelled.
pub fn phase_diagram_specs(panels: Vec<DeclaredPanel>) -> Result<Vec<(String, PhaseDiagramSpec)>> {
    panels
        .into_iter()
        .map(|panel| {
            let diagram = panel
                .spec
                .resolve()
                .and_then(|resolved| resolved.phase_diagram_spec())
                .map_err(|e| FigureError::InvalidParams(format!("{}: {e}", panel.label)))?;
            Ok((panel.label, diagram))
        })
        .collect()
}

/// Runs the declared panels (see [`phase_diagram_specs`] and [`run_panels`]).
pub fn run_declared(
    panels: Vec<DeclaredPanel>,
    progress: &dyn Progress,
) -> Result<Vec<PhasePanel>> {
    run_panels(phase_diagram_specs(panels)?, progress)
}

/// Runs the phase diagrams of `specs` one after another (each parallel inside), reporting progress over
/// all realisations.
pub fn run_panels(
    specs: Vec<(String, PhaseDiagramSpec)>,
    progress: &dyn Progress,
) -> Result<Vec<PhasePanel>> {
    let total: u64 = specs
        .iter()
        .map(|(_, s)| (s.betas.len() * s.realizations) as u64)
        .sum();
    let mut offset = 0u64;
    let mut panels = Vec::with_capacity(specs.len());
    for (label, spec) in specs {
        let this = (spec.betas.len() * spec.realizations) as u64;
        let report = |done: usize, _total: usize| progress.update(offset + done as u64, total);
        let diagram = run_phase_diagram(&spec, &report)
            .map_err(|e| FigureError::Upstream(format!("{label}: {e}")))?;
        offset += this;
        panels.push(PhasePanel::from_diagram(label, diagram));
    }
    Ok(panels)
}

/// `panels` as heatmaps on a `rows x cols` grid with one shared `RdBu_r` colour bar on [0, 1] at the right;
/// `title_of(panel)` is a panel's title and `overlay(panel)` the curves drawn on it.
pub fn phase_grid<'a>(
    panels: &'a [PhasePanel],
    (rows, cols): (usize, usize),
    title_of: impl Fn(&PhasePanel) -> String,
    overlay: impl Fn(&PhasePanel) -> Vec<Overlay>,
) -> Block<'a> {
    let scale = ColorScale::new(0.0, 1.0);
    let heatmaps = panels.iter().map(|panel| {
        Block::panel(Panel::Heatmap(phase_heatmap(
            panel,
            title_of(panel),
            overlay(panel),
        )))
    });
    Block::columns(
        Split::FromEnd(110),
        Block::grid(rows, cols, heatmaps),
        Block::panel(Panel::ColorBar(ColorBar {
            scale,
            label: "P".into(),
            left: 10,
            right: Split::FromEnd(100),
        })),
    )
}

/// The heatmap of `panel`'s probability over (t, beta) on [0, 1].
pub fn phase_heatmap(panel: &PhasePanel, title: String, overlays: Vec<Overlay>) -> Heatmap<'_> {
    Heatmap {
        title,
        x_label: "t".into(),
        y_label: "β".into(),
        x: &panel.t,
        y: &panel.beta,
        values: &panel.probability,
        scale: ColorScale::new(0.0, 1.0),
        overlays,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use attnflow_dynamics::{IntegratorKind, MatrixEnsemble, ModelKind};

    fn tiny_spec() -> PhaseDiagramSpec {
        PhaseDiagramSpec {
            n: 8,
            d: 2,
            betas: vec![0.5, 4.0],
            times: vec![0.0, 5.0, 15.0],
            dt: 0.1,
            realizations: 4,
            delta: 1e-3,
            seed: 7,
            model: ModelKind::Sa,
            matrices: MatrixEnsemble::Identity,
            integrator: IntegratorKind::PaperEuler,
            representation: None,
            consensus_exit: true,
            precision: attnflow_dynamics::Precision::F64,
        }
    }

    #[test]
    fn panels_have_the_record_layout_and_valid_probabilities() {
        let panels = run_panels(
            vec![("d=2".into(), tiny_spec())],
            &crate::figure::NoProgress,
        )
        .unwrap();
        let p = &panels[0];
        assert_eq!((p.d, p.n), (2, 8));
        assert_eq!(p.probability.len(), 2);
        assert!(p.probability.iter().all(|row| row.len() == 3));
        assert!(
            p.probability
                .iter()
                .flatten()
                .all(|v| (0.0..=1.0).contains(v))
        );
        let json = serde_json::to_value(p).unwrap();
        for key in [
            "label",
            "d",
            "n",
            "t",
            "beta",
            "probability",
            "stderr",
            "params",
        ] {
            assert!(json.get(key).is_some(), "{key}");
        }
        // Nothing is clustered right after the start from uniform points.
        assert!(p.probability.iter().all(|row| row[0] < 0.2));
    }

    #[test]
    fn half_crossing_interpolates() {
        let mut p = run_panels(
            vec![("d=2".into(), tiny_spec())],
            &crate::figure::NoProgress,
        )
        .unwrap()
        .remove(0);
        p.t = vec![0.0, 10.0, 20.0];
        p.probability = vec![vec![0.0, 0.25, 0.75], vec![0.0, 0.1, 0.2]];
        assert_eq!(p.half_crossing_times(), vec![Some(15.0), None]);
    }
}
