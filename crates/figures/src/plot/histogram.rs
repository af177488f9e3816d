//! Histogram panels: filled bars over [from, to] of given heights (a density over cosine bins in
//! \[GLPR\] Figure 1, counts of clusters over seeds in \[GLPR\] Figure 4).

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{FONT, text_size};
use crate::error::Result;

/// One bar: the interval [from, to] of the x axis and its height.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bar {
    pub from: f64,
    pub to: f64,
    pub height: f64,
}

/// A complete histogram panel.
#[derive(Debug, Clone)]
pub struct Histogram {
    pub title: String,
    /// Axis descriptions (x, y); `None` draws none.
    pub axis_labels: Option<(String, String)>,
    pub x_range: (f64, f64),
    pub y_range: (f64, f64),
    pub bars: Vec<Bar>,
    pub color: RGBAColor,
    /// Number of x tick labels.
    pub x_ticks: usize,
    /// Tick labels of the x axis as integers (counts) instead of decimals.
    pub integer_ticks: bool,
    /// A small panel of a grid of many: small caption and ticks, three y ticks, no grid lines; otherwise
    /// horizontal grid lines and the standard sizes.
    pub compact: bool,
}

/// Draws `hist` into `area`.
pub fn draw_histogram<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    hist: &Histogram,
) -> Result<()> {
    let (caption_size, margin, x_area, y_area) = if hist.compact {
        (text_size::TICK, 6, 24, 40)
    } else {
        (text_size::PANEL_TITLE, 10, 36, 50)
    };
    let mut chart = ChartBuilder::on(area)
        .caption(&hist.title, (FONT, caption_size))
        .margin(margin)
        .x_label_area_size(x_area)
        .y_label_area_size(y_area)
        .build_cartesian_2d(
            hist.x_range.0..hist.x_range.1,
            hist.y_range.0..hist.y_range.1,
        )?;
    let integer = |v: &f64| format!("{v:.0}");
    let mut mesh = chart.configure_mesh();
    mesh.x_labels(hist.x_ticks);
    if hist.compact {
        mesh.disable_mesh().y_labels(3).label_style((FONT, 11));
    } else {
        mesh.disable_x_mesh()
            .label_style((FONT, text_size::TICK))
            .axis_desc_style((FONT, text_size::AXIS_LABEL));
    }
    if hist.integer_ticks {
        mesh.x_label_formatter(&integer);
    }
    if let Some((x_label, y_label)) = &hist.axis_labels {
        mesh.x_desc(x_label).y_desc(y_label);
    }
    mesh.draw()?;
    chart.draw_series(
        hist.bars.iter().map(|bar| {
            Rectangle::new([(bar.from, 0.0), (bar.to, bar.height)], hist.color.filled())
        }),
    )?;
    Ok(())
}
