//! attnflow-figures: every figure of \[GLPR\] ("A mathematical perspective on Transformers", arXiv 2312.10794)
//! and \[BKKRW\] (arXiv 2501.03096) as a pure pipeline `Params -> Data -> pictures`, plus the golden-data check.
//!
//! - [`figure`]: the [`Figure`] trait (a figure's declaration [`Meta`]: id, paper, number, title, the paper's
//!   claim, golden tolerances; its parameters, computation and layout; its particle-system runs as
//!   experiment specs, [`Figure::experiment_specs`]), its object-safe form [`DynFigure`], [`Fidelity`],
//!   the JSON record.
//! - [`figs`]: one module per figure id, listed once in [`figure_list!`], and the [`figs::registry`].
//! - [`layout`]: pictures as data (titles, grids, splits, standard panels) and their one renderer.
//! - [`plot`]: the plot toolkit (embedded font, `RdBu_r` colour map, heatmaps, histograms, lines, circle and
//!   sphere views).
//! - [`golden`]: field-by-field comparison with `golden/<id>.json` under each figure's declared tolerances.
//! - [`output`]: atomic file writes.

pub mod error;
pub mod figs;
pub mod figure;
pub mod golden;
pub mod layout;
pub mod output;
pub mod plot;
pub mod tfdy_reference;

pub use error::{FigureError, Result};
pub use figs::{ALL_IDS, find, registry};
pub use figure::{
    DEFAULT_SEED, DynFigure, Fidelity, Figure, FigureParams, Meta, NoProgress, Paper, Progress,
    SummaryLine,
};
