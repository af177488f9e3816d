//! Phase diagrams of \[GLPR\] Figures 3-5 as figure data and pictures: p(t, beta) = P(<x_1(t), x_2(t)> > 1 - delta),
//! estimated by `attnflow_dynamics::run_phase_diagram` (mean over realisations of the fraction of ordered
//! pairs above 1 - delta), stored per panel in the layout other tools read (issue 4): `label`, `d`, `n`, `t`,
//! `beta`, `probability` (one row per beta, one value per t), `stderr` (same shape) and `params`.

use attnflow_dynamics::ensemble::PhaseDiagramParams;
use attnflow_dynamics::{PhaseDiagram, PhaseDiagramSpec, run_phase_diagram};
use plotters::coord::Shift;
use plotters::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{FigureError, Result};
use crate::figure::Progress;
use crate::plot::colormap::ColorScale;
use crate::plot::heatmap::{Heatmap, draw_colorbar, draw_heatmap};
use crate::plot::lines::Overlay;

/// One phase-diagram panel (layout fixed by issue 4).
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
        self.probability
            .iter()
            .map(|row| {
                let k = row.iter().position(|&p| p >= 0.5)?;
                if k == 0 {
                    return Some(self.t[0]);
                }
                let (p0, p1) = (row[k - 1], row[k]);
                let w = (0.5 - p0) / (p1 - p0);
                Some(self.t[k - 1] + w * (self.t[k] - self.t[k - 1]))
            })
            .collect()
    }
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

/// Draws `panels` on a `rows x cols` grid with one shared `RdBu_r` colour bar on [0, 1] at the right;
/// `overlay(panel)` gives curves to draw on a panel.
pub fn draw_panels<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    panels: &[PhasePanel],
    (rows, cols): (usize, usize),
    title_of: impl Fn(&PhasePanel) -> String,
    overlay: impl Fn(&PhasePanel) -> Vec<Overlay>,
) -> Result<()> {
    let (w, _) = root.dim_in_pixel();
    let (grid, bar) = root.split_horizontally(w.saturating_sub(110));
    let scale = ColorScale::new(0.0, 1.0);
    for (panel, area) in panels.iter().zip(grid.split_evenly((rows, cols))) {
        draw_heatmap(
            &area,
            &Heatmap {
                title: title_of(panel),
                x_label: "t".into(),
                y_label: "β".into(),
                x: &panel.t,
                y: &panel.beta,
                values: &panel.probability,
                scale,
                overlays: overlay(panel),
            },
        )?;
    }
    let (bar_w, bar_h) = bar.dim_in_pixel();
    let bar = bar.margin(bar_h / 8, bar_h / 8, 10, bar_w.saturating_sub(100));
    draw_colorbar(&bar, scale, "P")?;
    Ok(())
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
        }
    }

    #[test]
    fn panels_have_the_issue_layout_and_valid_probabilities() {
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
