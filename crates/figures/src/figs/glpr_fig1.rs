//! `glpr-fig1`: \[GLPR\] Figure 1 on a real trained transformer: density histograms of the pairwise cosines
//! {<x_i, x_j>, i != j} of the L2-normalised hidden states of one Wikipedia paragraph, per layer, and the mean
//! cosine against depth. Data from `attnflow_transformer::figure1::compute` (stand-in model
//! all-MiniLM-L6-v2 since ALBERT xlarge v2 cannot be obtained offline). When the model files are absent the
//! figure is skipped with the fetch hint (`FigureError::Unavailable`), never faked.
//!
//! Paths in the parameters are relative to the workspace root so records are machine-independent.

use std::path::{Path, PathBuf};

use attnflow_transformer::bert::LayerSchedule;
use attnflow_transformer::error::TransformerError;
use attnflow_transformer::figure1::{Figure1Data, Figure1Params, Precision, compute};
use plotters::style::Color;
use serde::{Deserialize, Serialize};

use crate::error::{FigureError, Result};
use crate::figure::{Fidelity, Figure, Meta, Paper, Progress, SummaryLine};
use crate::layout::{Block, Layout, Panel, Split};
use crate::plot::histogram::{Bar, Histogram};
use crate::plot::lines::{LegendCorner, LinePanel, Overlay, Stroke};
use crate::plot::{SERIES_COLORS, text_size};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Params {
    pub fidelity: Fidelity,
    pub seed: u64,
    pub model_name: String,
    /// Model directory relative to the workspace root.
    pub model_dir: PathBuf,
    /// Corpus relative to the workspace root.
    pub corpus_path: PathBuf,
    /// Paragraph ids (empty: all).
    pub paragraph_ids: Vec<String>,
    pub schedules: Vec<LayerSchedule>,
    pub depth_multipliers: Vec<usize>,
    pub precision: Precision,
    pub compute_spectra: bool,
    /// Schedule whose histograms are drawn.
    pub drawn_schedule: LayerSchedule,
}

crate::figure_params!(Params);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Data {
    pub figure1: Figure1Data,
}

pub struct GlprFig1;

/// Display bin width used when the Freedman-Diaconis bins are too narrow to see (a spike at 1).
const DISPLAY_BIN: f64 = 0.01;

/// The histogram as drawn: the stored Freedman-Diaconis bins, or, when they are narrower than
/// DISPLAY_BIN / 2 (mass concentrated in a spike), the same mass re-binned on a DISPLAY_BIN grid over
/// [-1, 1] (each source bin assigned by its centre). Returns (edges, density, re-binned?).
fn display_bins(edges: &[f64], density: &[f64]) -> (Vec<f64>, Vec<f64>, bool) {
    let narrow = edges
        .windows(2)
        .next()
        .is_some_and(|w| w[1] - w[0] < 0.5 * DISPLAY_BIN);
    if !narrow {
        return (edges.to_vec(), density.to_vec(), false);
    }
    let bins = (2.0 / DISPLAY_BIN).round() as usize;
    let grid: Vec<f64> = (0..=bins).map(|k| -1.0 + DISPLAY_BIN * k as f64).collect();
    let slot_of = |v: f64| (((v + 1.0) / DISPLAY_BIN).floor().max(0.0) as usize).min(bins - 1);
    let mut mass = vec![0.0; bins];
    for (k, d) in density.iter().enumerate() {
        mass[slot_of(0.5 * (edges[k] + edges[k + 1]))] += d * (edges[k + 1] - edges[k]);
    }
    // Bins narrower than the float spacing near 1 (widths ~1e-17) lose the mass to round-off; every value
    // lies in [edges[0], edges[last]], so when that range fits one display bin all the mass is there.
    let total: f64 = mass.iter().sum();
    let (lo, hi) = (edges[0], edges[edges.len() - 1]);
    if !(total.is_finite() && (total - 1.0).abs() < 1e-6) && slot_of(lo) == slot_of(hi) {
        mass = vec![0.0; bins];
        mass[slot_of(lo)] = 1.0;
    }
    (
        grid,
        mass.into_iter().map(|m| m / DISPLAY_BIN).collect(),
        true,
    )
}

/// The workspace root (two levels above this crate's manifest).
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("..")
}

/// Replaces absolute workspace paths in the data by the relative ones of the parameters.
fn relative(p: &Params, mut data: Figure1Data) -> Figure1Data {
    data.params.model_dir = p.model_dir.clone();
    data.params.corpus_path = p.corpus_path.clone();
    data
}

impl Figure for GlprFig1 {
    const META: Meta = Meta {
        id: "glpr-fig1",
        paper: Paper::Glpr,
        number: 1,
        title: "[GLPR] Figure 1: token cosines per layer of a trained transformer (all-MiniLM-L6-v2)",
        claim: "Paper: layer 0 peaked near 0, mass moving right with depth, a spike at 1 in the deepest layers (ALBERT xlarge v2; our model differs, see data/fig1/README.md).",
        tolerances: &[],
    };
    type Params = Params;
    type Data = Data;

    fn params(fidelity: Fidelity, seed: u64) -> Params {
        Params {
            fidelity,
            seed,
            model_name: "all-MiniLM-L6-v2".into(),
            model_dir: PathBuf::from("models/minilm"),
            corpus_path: PathBuf::from("data/fig1/paragraphs.json"),
            paragraph_ids: Vec::new(),
            schedules: match fidelity {
                Fidelity::Ci => vec![LayerSchedule::RepeatLast],
                _ => LayerSchedule::ALL.to_vec(),
            },
            depth_multipliers: fidelity.pick(vec![2], vec![4, 8], vec![4, 8]),
            precision: Precision::F64,
            compute_spectra: fidelity != Fidelity::Ci,
            drawn_schedule: LayerSchedule::RepeatLast,
        }
    }

    fn integrator(p: &Params) -> String {
        format!(
            "forward pass of {} ({:?} precision); no ODE integration",
            p.model_name, p.precision
        )
    }

    fn compute(p: &Params, progress: &dyn Progress) -> Result<Data> {
        let root = workspace_root();
        let params = Figure1Params {
            model_name: p.model_name.clone(),
            model_dir: root.join(&p.model_dir),
            corpus_path: root.join(&p.corpus_path),
            paragraph_ids: p.paragraph_ids.clone(),
            schedules: p.schedules.clone(),
            depth_multipliers: p.depth_multipliers.clone(),
            panel_layers: None,
            precision: p.precision,
            compute_spectra: p.compute_spectra,
        };
        let report = |done: usize, total: usize| progress.update(done as u64, total as u64);
        match compute(&params, &report) {
            Ok(data) => Ok(Data {
                figure1: relative(p, data),
            }),
            Err(TransformerError::ModelMissing { path, hint }) => {
                Err(FigureError::Unavailable(format!(
                    "model file {} is absent ({hint})",
                    path.strip_prefix(&root).unwrap_or(&path).display()
                )))
            }
            Err(e) => Err(FigureError::Upstream(format!("attnflow-transformer: {e}"))),
        }
    }

    fn layout<'a>(p: &'a Params, data: &'a Data) -> Result<Layout<'a>> {
        let fig = &data.figure1;
        let Some(paragraph) = fig.paragraphs.first() else {
            return Err(FigureError::InvalidParams(
                "glpr-fig1 data has no paragraph".into(),
            ));
        };
        let run = paragraph
            .runs
            .iter()
            .find(|r| r.schedule == p.drawn_schedule)
            .or(paragraph.runs.first());
        let histograms: Vec<Block> = run
            .map(|run| &run.histograms[..])
            .unwrap_or_default()
            .iter()
            .map(|hist| {
                let (edges, density, rebinned) = display_bins(&hist.edges, &hist.density);
                let y_max = density.iter().copied().fold(0.0, f64::max).max(1e-9) * 1.1;
                let title = if rebinned {
                    format!(
                        "layer {} (display bins {DISPLAY_BIN}; FD width {:.1e})",
                        hist.layer, hist.bin_width
                    )
                } else {
                    format!("layer {}", hist.layer)
                };
                let bars = density
                    .iter()
                    .enumerate()
                    .filter_map(|(k, &d)| {
                        let (a, b) = (edges[k].max(-0.5), edges[k + 1].min(1.05));
                        (b > a).then_some(Bar {
                            from: a,
                            to: b,
                            height: d,
                        })
                    })
                    .collect();
                Block::panel(Panel::Histogram(Histogram {
                    title,
                    axis_labels: None,
                    x_range: (-0.5, 1.05),
                    y_range: (0.0, y_max),
                    bars,
                    color: SERIES_COLORS[0].mix(0.8),
                    x_ticks: 4,
                    integer_ticks: false,
                    compact: true,
                }))
            })
            .collect();
        let max_depth = fig.max_depth as f64;
        let series = paragraph
            .runs
            .iter()
            .enumerate()
            .map(|(k, run)| Overlay {
                label: Some(format!("{:?}", run.schedule)),
                points: run.rows.iter().map(|r| (r.layer as f64, r.mean)).collect(),
                color: SERIES_COLORS[k % SERIES_COLORS.len()],
                stroke: Stroke::Solid { width: 2 },
            })
            .collect();
        let mean_cosine = LinePanel {
            title: "mean cosine over pairs i ≠ j against depth".into(),
            x_label: "layer".into(),
            y_label: "mean <xᵢ, xⱼ>".into(),
            x_range: (0.0, max_depth.max(1.0)),
            y_range: (-0.05, 1.05),
            series,
            marks: Vec::new(),
            zero_line: true,
            legend: LegendCorner::LowerRight,
        };
        let panel_rows = fig.panel_layers.len().max(1).div_ceil(4) as u32;
        Ok(Layout {
            size: (1500, 80 + 260 * panel_rows + 380),
            body: Block::titled(
                format!(
                    "{}: cosines <xᵢ, xⱼ> of the normalised token states, \"{}\" ({} tokens), schedule {:?}",
                    fig.model.name, paragraph.title, paragraph.n_tokens, p.drawn_schedule
                ),
                text_size::PANEL_TITLE,
                Block::rows(
                    Split::FromEnd(380),
                    Block::grid(histograms.len().div_ceil(4).max(1), 4, histograms),
                    Block::panel(Panel::Lines(mean_cosine)),
                ),
            ),
        })
    }

    fn summary(_: &Params, data: &Data) -> Vec<SummaryLine> {
        let mut lines = Vec::new();
        for paragraph in &data.figure1.paragraphs {
            for run in &paragraph.runs {
                let (Some(first), Some(last)) = (run.rows.first(), run.rows.last()) else {
                    continue;
                };
                lines.push(SummaryLine::new(
                    format!(
                        "{} ({:?}): mean cosine layer {} -> {}; mass > 0.99 at the end",
                        paragraph.id, run.schedule, first.layer, last.layer
                    ),
                    format!(
                        "{:.3} -> {:.3}; {:.3}",
                        first.mean, last.mean, last.mass_above_0_99
                    ),
                ));
            }
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_rebinning_preserves_mass_and_keeps_wide_bins() {
        let (e, d, re) = display_bins(&[0.0, 0.5, 1.0], &[1.2, 0.8]);
        assert!(!re);
        assert_eq!((e, d), (vec![0.0, 0.5, 1.0], vec![1.2, 0.8]));
        let edges: Vec<f64> = (0..=10).map(|k| 0.999 + 1e-4 * k as f64).collect();
        let density = vec![1000.0; 10];
        let (e, d, re) = display_bins(&edges, &density);
        assert!(re);
        let mass: f64 = d
            .iter()
            .zip(e.windows(2))
            .map(|(d, w)| d * (w[1] - w[0]))
            .sum();
        assert!((mass - 1.0).abs() < 1e-9);
        // Degenerate bins at 1 (width below the float spacing): all mass in the last display bin.
        let (_, d, _) = display_bins(&[1.0, 1.0, 1.0], &[f64::INFINITY, 0.0]);
        assert_eq!(d.iter().filter(|v| **v > 0.0).count(), 1);
        assert!((d.iter().sum::<f64>() * DISPLAY_BIN - 1.0).abs() < 1e-12);
    }
}
