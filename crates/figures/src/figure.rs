//! The figure pipeline: a figure is its declaration. Its module states what it is ([`Meta`]: id, paper,
//! figure number, title, the paper's claim the report compares with, golden tolerances), its parameters
//! per fidelity as data (a serde struct with `fidelity` and `seed`), a pure computation `Params -> Data`,
//! and the layout of its picture ([`crate::layout`], drawn by one renderer). Both ends are serde types;
//! the JSON record written per figure holds the metadata (id, title, fidelity, seed, integrator, attnflow
//! version), `params`, and the data fields at top level. Runtimes are not part of a record: `cargo xtask
//! figures` keeps them in one file, `<out>/RUNTIMES.json`. A figure whose panels are runs of the particle
//! system declares them as experiment specs ([`Figure::experiment_specs`], `attnflow_experiment::Spec`),
//! which `cargo xtask figures` writes next to the record (`<out>/<id>.specs/<panel>.toml`).

use std::path::Path;

use attnflow_experiment::{ResolvedSpec, Spec};
use plotters::coord::Shift;
use plotters::prelude::*;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{FigureError, Result};
use crate::golden::FieldTolerance;
use crate::layout::{Layout, render};
use crate::plot::{Picture, render_svg_png};

/// How much work a figure does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Fidelity {
    /// Seconds; used for the golden data.
    Ci,
    /// The whole set in about 15 minutes on a 2-core machine.
    Default,
    /// Exactly the paper's parameters, however long.
    Paper,
}

impl Fidelity {
    pub const ALL: [Fidelity; 3] = [Fidelity::Ci, Fidelity::Default, Fidelity::Paper];

    pub fn as_str(self) -> &'static str {
        match self {
            Fidelity::Ci => "ci",
            Fidelity::Default => "default",
            Fidelity::Paper => "paper",
        }
    }

    /// Picks the value for this fidelity.
    pub fn pick<T>(self, ci: T, default: T, paper: T) -> T {
        match self {
            Fidelity::Ci => ci,
            Fidelity::Default => default,
            Fidelity::Paper => paper,
        }
    }
}

impl std::fmt::Display for Fidelity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Fidelity {
    type Err = FigureError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "ci" => Ok(Fidelity::Ci),
            "default" => Ok(Fidelity::Default),
            "paper" => Ok(Fidelity::Paper),
            other => Err(FigureError::InvalidParams(format!(
                "unknown fidelity `{other}` (ci|default|paper)"
            ))),
        }
    }
}

/// The seed every figure uses unless told otherwise.
pub const DEFAULT_SEED: u64 = 20_231_217;

/// Progress reporting from long computations (`done` out of `total` work units).
pub trait Progress: Sync {
    fn update(&self, done: u64, total: u64);
}

/// Ignores progress.
pub struct NoProgress;

impl Progress for NoProgress {
    fn update(&self, _done: u64, _total: u64) {}
}

/// Fields every parameter set has.
pub trait FigureParams: Serialize + DeserializeOwned + Clone {
    fn fidelity(&self) -> Fidelity;
    fn seed(&self) -> u64;
}

/// The paper a figure reproduces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Paper {
    /// Geshkovski, Letrouit, Polyanskiy, Rigollet, "A mathematical perspective on Transformers"
    /// (arXiv 2312.10794).
    Glpr,
    /// Burger, Kabri, Korolev, Roith, Weigand (arXiv 2501.03096).
    Bkkrw,
    /// The project's own studies (no paper figure); their ids are free names.
    Attnflow,
    /// The follow-up literature of the two papers (causal attention, metastability, normalisation, long
    /// context, mean field, noise, ...): each figure reproduces results of one or more follow-ups, named
    /// in its claim; their ids are free names. The report gathers them under "Beyond the papers".
    Frontier,
}

impl Paper {
    /// The prefix of figure ids (`glpr`, `bkkrw`; `attnflow` is no prefix).
    pub fn slug(self) -> &'static str {
        match self {
            Paper::Glpr => "glpr",
            Paper::Bkkrw => "bkkrw",
            Paper::Attnflow => "attnflow",
            Paper::Frontier => "frontier",
        }
    }
}

/// Everything a figure declares about itself besides its parameters, computation and layout.
#[derive(Debug, Clone, Copy)]
pub struct Meta {
    /// Figure id, `<paper>-fig<number>`, e.g. `glpr-fig6` (the project's own figures: a free name).
    pub id: &'static str,
    pub paper: Paper,
    /// The figure's number in its paper (the project's own figures: among them).
    pub number: u32,
    /// One-line description (written into every record).
    pub title: &'static str,
    /// What the paper shows in this figure, the target the report compares the data with.
    pub claim: &'static str,
    /// Golden-data tolerances of float fields of the record beyond [`crate::golden::DEFAULT_TOLERANCE`];
    /// the first rule whose path matches applies.
    pub tolerances: &'static [FieldTolerance],
}

/// Writes `impl FigureParams` for a parameter struct with the fields `fidelity` and `seed`.
#[macro_export]
macro_rules! figure_params {
    ($params:ty) => {
        impl $crate::FigureParams for $params {
            fn fidelity(&self) -> $crate::Fidelity {
                self.fidelity
            }
            fn seed(&self) -> u64 {
                self.seed
            }
        }
    };
}

/// One figure: its declaration ([`Meta`]), its parameters per fidelity, the computation, and the layout
/// of its picture.
pub trait Figure: Sync + 'static {
    const META: Meta;
    type Params: FigureParams;
    type Data: Serialize + DeserializeOwned;

    /// The parameters at `fidelity` with `seed`.
    fn params(fidelity: Fidelity, seed: u64) -> Self::Params;
    /// Integrator description (scheme, step, tolerance) or "closed form".
    fn integrator(params: &Self::Params) -> String;
    /// The pure computation.
    fn compute(params: &Self::Params, progress: &dyn Progress) -> Result<Self::Data>;
    /// The picture: size and panels, drawn by [`crate::layout::render`].
    fn layout<'a>(params: &'a Self::Params, data: &'a Self::Data) -> Result<Layout<'a>>;
    /// Draws the [`Panel::Bespoke`](crate::layout::Panel::Bespoke) panels of the layout, for pictures no
    /// standard panel kind expresses. None by default.
    fn draw_bespoke<DB: DrawingBackend>(
        _params: &Self::Params,
        _data: &Self::Data,
        _area: &DrawingArea<DB, Shift>,
    ) -> Result<()> {
        Err(FigureError::Draw(format!(
            "{}: the layout has a bespoke panel but the figure draws none",
            Self::META.id
        )))
    }
    /// Quantitative results for the report, each a (quantity, value) pair computed from the data
    /// (e.g. a crossing point and its closed form). Empty by default.
    fn summary(_params: &Self::Params, _data: &Self::Data) -> Vec<SummaryLine> {
        Vec::new()
    }
    /// The figure's particle-system runs as experiment specs, one per panel, named by a file stem
    /// (`d32`, `a-ginibre`): running a spec with `attnflow run` (or `attnflow phase-diagram` for a
    /// (t, beta) phase diagram) reproduces that panel's numbers. None by default (theory curves,
    /// the transformer, surrogate models: runs a spec cannot express).
    fn experiment_specs(_params: &Self::Params) -> Result<Vec<(String, Spec)>> {
        Ok(Vec::new())
    }
}

/// One quantitative line of a figure summary (for the report and snapshots).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryLine {
    pub quantity: String,
    pub value: String,
}

impl SummaryLine {
    pub fn new(quantity: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            quantity: quantity.into(),
            value: value.into(),
        }
    }
}

/// Metadata keys of a record (the data fields must not use them). `runtime_seconds` is no longer
/// written (runtimes live in `RUNTIMES.json` beside the records, so that regenerating an unchanged
/// figure rewrites identical bytes) but older records carry it, so it stays reserved.
pub const META_KEYS: [&str; 8] = [
    "id",
    "title",
    "attnflow_version",
    "fidelity",
    "seed",
    "integrator",
    "runtime_seconds",
    "params",
];

/// The version of attnflow written into every record.
pub const ATTNFLOW_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Object-safe view of a [`Figure`], used by the registry and xtask.
pub trait DynFigure: Sync {
    /// The figure's declaration.
    fn meta(&self) -> &'static Meta;
    fn id(&self) -> &'static str {
        self.meta().id
    }
    /// Computes the figure and returns its JSON record (deterministic: no runtime in it; callers time it).
    fn run(
        &self,
        fidelity: Fidelity,
        seed: u64,
        progress: &dyn Progress,
    ) -> Result<serde_json::Value>;
    /// Draws the pictures of a record (as produced by [`DynFigure::run`] or read back from disk).
    fn render(&self, record: &serde_json::Value, svg_path: &Path, png_path: &Path) -> Result<()>;
    /// Quantitative summary of a record (see [`Figure::summary`]).
    fn summary(&self, record: &serde_json::Value) -> Result<Vec<SummaryLine>>;
    /// The figure's runs at `fidelity` with `seed` as resolved experiment specs, named per panel
    /// (see [`Figure::experiment_specs`]); empty for figures without particle-system runs.
    fn experiment_specs(
        &self,
        fidelity: Fidelity,
        seed: u64,
    ) -> Result<Vec<(String, ResolvedSpec)>>;
}

/// Adapter from a [`Figure`] to a [`DynFigure`] (the registry holds one per figure,
/// `crate::figure_list!`).
pub struct Registered<F: Figure>(std::marker::PhantomData<F>);

impl<F: Figure> Registered<F> {
    pub const fn new() -> Self {
        Self(std::marker::PhantomData)
    }
}

impl<F: Figure> Default for Registered<F> {
    fn default() -> Self {
        Self::new()
    }
}

/// The layout of a figure with the parameters and data its bespoke panels draw from.
struct Drawn<'a, F: Figure> {
    params: &'a F::Params,
    data: &'a F::Data,
    layout: Layout<'a>,
}

impl<F: Figure> Picture for Drawn<'_, F> {
    fn size(&self) -> (u32, u32) {
        self.layout.size
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        render(root, &self.layout.body, &|area| {
            F::draw_bespoke(self.params, self.data, area)
        })
    }
}

/// Builds the JSON record of a computed figure: a function of the parameters and the data only (no
/// runtime, no date), so the same computation always gives the same record.
pub fn make_record<F: Figure>(params: &F::Params, data: &F::Data) -> Result<serde_json::Value> {
    let mut record = serde_json::Map::new();
    record.insert("id".into(), F::META.id.into());
    record.insert("title".into(), F::META.title.into());
    record.insert("attnflow_version".into(), ATTNFLOW_VERSION.into());
    record.insert("fidelity".into(), params.fidelity().as_str().into());
    record.insert("seed".into(), params.seed().into());
    record.insert("integrator".into(), F::integrator(params).into());
    record.insert("params".into(), serde_json::to_value(params)?);
    match serde_json::to_value(data)? {
        serde_json::Value::Object(fields) => {
            for (key, value) in fields {
                if META_KEYS.contains(&key.as_str()) {
                    return Err(FigureError::InvalidParams(format!(
                        "{}: data field `{key}` clashes with metadata",
                        F::META.id
                    )));
                }
                record.insert(key, value);
            }
        }
        _ => {
            return Err(FigureError::InvalidParams(format!(
                "{}: data must serialise to a JSON object",
                F::META.id
            )));
        }
    }
    Ok(serde_json::Value::Object(record))
}

/// Splits a record back into typed parameters and data.
pub fn parse_record<F: Figure>(record: &serde_json::Value) -> Result<(F::Params, F::Data)> {
    let object = record.as_object().ok_or_else(|| {
        FigureError::InvalidParams("a figure record must be a JSON object".into())
    })?;
    let params_value = object.get("params").ok_or_else(|| {
        FigureError::InvalidParams(format!("{}: record has no `params`", F::META.id))
    })?;
    let params: F::Params = serde_json::from_value(params_value.clone())?;
    let data_fields: serde_json::Map<String, serde_json::Value> = object
        .iter()
        .filter(|(k, _)| !META_KEYS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let data: F::Data = serde_json::from_value(serde_json::Value::Object(data_fields))?;
    Ok((params, data))
}

impl<F: Figure> DynFigure for Registered<F> {
    fn meta(&self) -> &'static Meta {
        &F::META
    }
    fn run(
        &self,
        fidelity: Fidelity,
        seed: u64,
        progress: &dyn Progress,
    ) -> Result<serde_json::Value> {
        let params = F::params(fidelity, seed);
        let data = F::compute(&params, progress)?;
        make_record::<F>(&params, &data)
    }
    fn render(&self, record: &serde_json::Value, svg_path: &Path, png_path: &Path) -> Result<()> {
        let (params, data) = parse_record::<F>(record)?;
        let layout = F::layout(&params, &data)?;
        render_svg_png(
            &Drawn::<F> {
                params: &params,
                data: &data,
                layout,
            },
            svg_path,
            png_path,
        )
    }
    fn summary(&self, record: &serde_json::Value) -> Result<Vec<SummaryLine>> {
        let (params, data) = parse_record::<F>(record)?;
        Ok(F::summary(&params, &data))
    }
    fn experiment_specs(
        &self,
        fidelity: Fidelity,
        seed: u64,
    ) -> Result<Vec<(String, ResolvedSpec)>> {
        F::experiment_specs(&F::params(fidelity, seed))?
            .into_iter()
            .map(|(name, spec)| Ok((name, spec.resolve()?)))
            .collect()
    }
}
