//! Circle views of d = 2 configurations (\[GLPR\] Figure 4, \[BKKRW\] Figures 2 and 4): particles
//! x_i = (cos theta_i, sin theta_i) on the unit circle. Current positions are filled markers, initial
//! positions faint, paths thin dashed lines; the circle itself may be coloured by a function of the angle
//! (e.g. x^T D x).

use plotters::coord::Shift;
use plotters::prelude::*;

use super::colormap::ColorScale;
use super::{FONT, text_size};
use crate::error::Result;

/// A circle colouring: `values[k]` at angle `2 pi k / values.len()`.
#[derive(Debug, Clone)]
pub struct CircleColoring {
    pub values: Vec<f64>,
    pub scale: ColorScale,
}

/// One circle view.
#[derive(Debug, Clone)]
pub struct CircleView {
    pub title: String,
    /// Current angles (filled markers).
    pub current: Vec<f64>,
    /// Initial angles (faint markers), if shown.
    pub initial: Vec<f64>,
    /// Angle histories, one per particle (thin dashed lines).
    pub paths: Vec<Vec<f64>>,
    pub coloring: Option<CircleColoring>,
    pub marker_color: RGBColor,
}

/// Points (x, y) of the angles.
fn on_circle(angles: &[f64], radius: f64) -> Vec<(f64, f64)> {
    angles
        .iter()
        .map(|&a| (radius * a.cos(), radius * a.sin()))
        .collect()
}

/// Draws `view` in a square chart inside `area`, without axes.
pub fn draw_circle_view<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    view: &CircleView,
) -> Result<()> {
    let area = area.titled(&view.title, (FONT, text_size::PANEL_TITLE).into_font())?;
    let (w, h) = area.dim_in_pixel();
    let side = w.min(h);
    let (pad_x, pad_y) = ((w - side) / 2, (h - side) / 2);
    let area = area.margin(pad_y, pad_y, pad_x, pad_x);
    let lim = 1.2;
    let mut chart = ChartBuilder::on(&area)
        .margin(4)
        .build_cartesian_2d(-lim..lim, -lim..lim)?;
    const SEGMENTS: usize = 360;
    match &view.coloring {
        Some(coloring) if !coloring.values.is_empty() => {
            let m = coloring.values.len();
            let ring = (0..m).map(|k| {
                let a0 = 2.0 * std::f64::consts::PI * (k as f64 - 0.5) / m as f64;
                let a1 = 2.0 * std::f64::consts::PI * (k as f64 + 0.5) / m as f64;
                let pts: Vec<(f64, f64)> = (0..=4)
                    .map(|s| a0 + (a1 - a0) * s as f64 / 4.0)
                    .map(|a| (a.cos(), a.sin()))
                    .collect();
                PathElement::new(
                    pts,
                    coloring.scale.color(coloring.values[k]).stroke_width(7),
                )
            });
            chart.draw_series(ring)?;
        }
        _ => {
            let circle: Vec<f64> = (0..=SEGMENTS)
                .map(|k| 2.0 * std::f64::consts::PI * k as f64 / SEGMENTS as f64)
                .collect();
            chart.draw_series(std::iter::once(PathElement::new(
                on_circle(&circle, 1.0),
                RGBColor(170, 170, 170).stroke_width(2),
            )))?;
        }
    }
    let color = view.marker_color;
    for path in &view.paths {
        let pts = on_circle(path, 1.0);
        if pts.len() > 1 {
            chart.draw_series(DashedLineSeries::new(
                pts,
                3,
                3,
                color.mix(0.55).stroke_width(1),
            ))?;
        }
    }
    chart.draw_series(
        on_circle(&view.initial, 1.0)
            .into_iter()
            .map(|p| Circle::new(p, 4, color.mix(0.22).filled())),
    )?;
    chart.draw_series(
        on_circle(&view.current, 1.0)
            .into_iter()
            .map(|p| Circle::new(p, 5, color.filled())),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_lie_on_the_circle() {
        for (x, y) in on_circle(&[0.0, 1.0, 2.5, -3.0], 1.0) {
            assert!((x * x + y * y - 1.0).abs() < 1e-15);
        }
    }
}
