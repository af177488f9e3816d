//! Heatmap panels (a value on a (t, beta) grid drawn with the `RdBu_r` colour map) and vertical colour bars,
//! as in the phase diagrams of \[GLPR\] Figures 3-5.
//!
//! Cells are centred on the grid points; the cell edges are the midpoints between neighbouring grid points,
//! extended by half a step at both ends. The field is rasterised at the panel's pixel size and drawn as one
//! bitmap (an embedded PNG in SVG output), so a 200 x 150 grid costs one element, not 30 000 rectangles.

use plotters::coord::Shift;
use plotters::element::BitMapElement;
use plotters::prelude::*;

use super::colormap::ColorScale;
use super::lines::{Overlay, draw_overlays};
use super::{FONT, text_size};
use crate::error::{FigureError, Result};

/// One heatmap panel: `values[row][col]` is the value at `(x[col], y[row])`.
#[derive(Debug, Clone)]
pub struct Heatmap<'a> {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub x: &'a [f64],
    pub y: &'a [f64],
    pub values: &'a [Vec<f64>],
    pub scale: ColorScale,
    /// Curves drawn on top (e.g. the exact boundary Gamma_{inf,delta}).
    pub overlays: Vec<Overlay>,
}

/// Cell edges of a strictly increasing grid (midpoints, extended by half a step at the ends).
pub fn cell_edges(grid: &[f64]) -> Result<Vec<f64>> {
    if grid.len() < 2 {
        return Err(FigureError::InvalidParams(format!(
            "a heatmap axis needs at least two grid points, got {}",
            grid.len()
        )));
    }
    if grid.iter().any(|v| !v.is_finite()) || grid.windows(2).any(|w| w[1] <= w[0]) {
        return Err(FigureError::InvalidParams(
            "heatmap axis grid must be finite and strictly increasing".into(),
        ));
    }
    let n = grid.len();
    let mut edges = Vec::with_capacity(n + 1);
    edges.push(grid[0] - 0.5 * (grid[1] - grid[0]));
    for w in grid.windows(2) {
        edges.push(0.5 * (w[0] + w[1]));
    }
    edges.push(grid[n - 1] + 0.5 * (grid[n - 1] - grid[n - 2]));
    Ok(edges)
}

/// Index of the cell of `edges` containing `v` (clamped to the first/last cell).
fn cell_index(edges: &[f64], v: f64) -> usize {
    let cells = edges.len() - 1;
    edges[1..cells].partition_point(|&e| e <= v)
}

/// Draws `map` into `area` (axes with ticks and labels, no grid lines).
pub fn draw_heatmap<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    map: &Heatmap<'_>,
) -> Result<()> {
    let x_edges = cell_edges(map.x)?;
    let y_edges = cell_edges(map.y)?;
    if map.values.len() != map.y.len() || map.values.iter().any(|row| row.len() != map.x.len()) {
        return Err(FigureError::InvalidParams(format!(
            "heatmap `{}`: values must be {} rows of {} columns",
            map.title,
            map.y.len(),
            map.x.len()
        )));
    }
    let (x0, x1) = (x_edges[0], x_edges[x_edges.len() - 1]);
    let (y0, y1) = (y_edges[0], y_edges[y_edges.len() - 1]);
    let mut chart = ChartBuilder::on(area)
        .caption(&map.title, (FONT, text_size::PANEL_TITLE))
        .margin(6)
        .x_label_area_size(38)
        .y_label_area_size(46)
        .build_cartesian_2d(x0..x1, y0..y1)?;
    let (w, h) = chart.plotting_area().dim_in_pixel();
    let mut rgb = Vec::with_capacity(w as usize * h as usize * 3);
    for py in 0..h {
        let yv = y1 - (f64::from(py) + 0.5) / f64::from(h) * (y1 - y0);
        let row = &map.values[cell_index(&y_edges, yv)];
        for px in 0..w {
            let xv = x0 + (f64::from(px) + 0.5) / f64::from(w) * (x1 - x0);
            let c = map.scale.color(row[cell_index(&x_edges, xv)]);
            rgb.extend_from_slice(&[c.0, c.1, c.2]);
        }
    }
    let bitmap = BitMapElement::with_owned_buffer((x0, y1), (w, h), rgb)
        .ok_or_else(|| FigureError::Draw("heatmap bitmap buffer has the wrong size".into()))?;
    chart.draw_series(std::iter::once(bitmap))?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc(&map.x_label)
        .y_desc(&map.y_label)
        .label_style((FONT, text_size::TICK))
        .axis_desc_style((FONT, text_size::AXIS_LABEL))
        .x_labels(7)
        .y_labels(6)
        .draw()?;
    draw_overlays(&mut chart, &map.overlays, (x0, x1), (y0, y1))?;
    Ok(())
}

/// Draws a vertical colour bar for `scale` into `area`, with tick labels on the right and `label` above.
pub fn draw_colorbar<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    scale: ColorScale,
    label: &str,
) -> Result<()> {
    let mut chart = ChartBuilder::on(area)
        .caption(label, (FONT, text_size::TICK))
        .margin_top(6)
        .margin_bottom(44)
        .margin_left(4)
        .right_y_label_area_size(44)
        .build_cartesian_2d(0f64..1f64, scale.vmin..scale.vmax)?;
    const STEPS: usize = 128;
    let dv = (scale.vmax - scale.vmin) / STEPS as f64;
    chart.draw_series((0..STEPS).map(|k| {
        let v0 = scale.vmin + k as f64 * dv;
        let color = scale.color(v0 + 0.5 * dv);
        Rectangle::new([(0.0, v0), (1.0, v0 + dv)], color.filled())
    }))?;
    chart
        .configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .label_style((FONT, text_size::TICK))
        .y_labels(6)
        .draw()?;
    chart.draw_series(std::iter::once(Rectangle::new(
        [(0.0, scale.vmin), (1.0, scale.vmax)],
        BLACK.stroke_width(1),
    )))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cell_edges_are_midpoints() {
        let e = cell_edges(&[0.0, 1.0, 3.0]).unwrap();
        assert_eq!(e, vec![-0.5, 0.5, 2.0, 4.0]);
        assert!(cell_edges(&[1.0]).is_err());
        assert!(cell_edges(&[1.0, 1.0]).is_err());
    }

    #[test]
    fn cell_index_finds_the_containing_cell() {
        let e = cell_edges(&[0.0, 1.0, 2.0]).unwrap();
        assert_eq!(cell_index(&e, -0.4), 0);
        assert_eq!(cell_index(&e, 0.49), 0);
        assert_eq!(cell_index(&e, 0.51), 1);
        assert_eq!(cell_index(&e, 2.4), 2);
        assert_eq!(cell_index(&e, 9.0), 2);
        assert_eq!(cell_index(&e, -9.0), 0);
    }
}
