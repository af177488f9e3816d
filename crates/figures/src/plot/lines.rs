//! Line plots: curves, dashed curves and markers in data coordinates, clipped to the axis ranges
//! (Liang-Barsky segment clipping), with legend and labelled vertical marker lines.

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::{FONT, text_size};
use crate::error::Result;

/// How a curve is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stroke {
    Solid { width: u32 },
    Dashed { width: u32 },
    Markers { radius: u32 },
}

/// One curve in data coordinates.
#[derive(Debug, Clone)]
pub struct Overlay {
    pub label: Option<String>,
    pub points: Vec<(f64, f64)>,
    pub color: RGBColor,
    pub stroke: Stroke,
}

/// A vertical line at `x` with a short label near the top.
#[derive(Debug, Clone)]
pub struct VerticalMark {
    pub x: f64,
    pub label: String,
    pub color: RGBColor,
}

/// A complete line-plot panel.
#[derive(Debug, Clone)]
pub struct LinePanel {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub x_range: (f64, f64),
    pub y_range: (f64, f64),
    pub series: Vec<Overlay>,
    pub marks: Vec<VerticalMark>,
    /// Draw a thin horizontal line at y = 0 when it is inside the range.
    pub zero_line: bool,
    /// Corner of the legend.
    pub legend: LegendCorner,
}

/// Corner of a line panel where the legend is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LegendCorner {
    #[default]
    UpperRight,
    UpperLeft,
    LowerRight,
    LowerLeft,
}

/// Clips the segment `a-b` to the box; `None` if it lies outside (Liang-Barsky).
fn clip_segment(
    a: (f64, f64),
    b: (f64, f64),
    xr: (f64, f64),
    yr: (f64, f64),
) -> Option<((f64, f64), (f64, f64))> {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let (mut t0, mut t1) = (0.0f64, 1.0f64);
    for (p, q) in [
        (-dx, a.0 - xr.0),
        (dx, xr.1 - a.0),
        (-dy, a.1 - yr.0),
        (dy, yr.1 - a.1),
    ] {
        if p == 0.0 {
            if q < 0.0 {
                return None;
            }
        } else {
            let r = q / p;
            if p < 0.0 {
                t0 = t0.max(r);
            } else {
                t1 = t1.min(r);
            }
        }
    }
    if t0 > t1 {
        return None;
    }
    Some((
        (a.0 + t0 * dx, a.1 + t0 * dy),
        (a.0 + t1 * dx, a.1 + t1 * dy),
    ))
}

/// Splits a polyline into the runs that are visible inside the box, with exact crossing points.
/// Non-finite points break the line.
pub fn clip_polyline(
    points: &[(f64, f64)],
    xr: (f64, f64),
    yr: (f64, f64),
) -> Vec<Vec<(f64, f64)>> {
    let mut runs: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut current: Vec<(f64, f64)> = Vec::new();
    let finite = |p: &(f64, f64)| p.0.is_finite() && p.1.is_finite();
    for w in points.windows(2) {
        let clipped = if finite(&w[0]) && finite(&w[1]) {
            clip_segment(w[0], w[1], xr, yr)
        } else {
            None
        };
        match clipped {
            Some((p, q)) => {
                if current.last() != Some(&p) {
                    if current.len() > 1 {
                        runs.push(std::mem::take(&mut current));
                    }
                    current.clear();
                    current.push(p);
                }
                current.push(q);
            }
            None => {
                if current.len() > 1 {
                    runs.push(std::mem::take(&mut current));
                }
                current.clear();
            }
        }
    }
    if current.len() > 1 {
        runs.push(current);
    }
    runs
}

type Chart2d<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// Draws `overlays` on an existing chart, clipped to `xr` x `yr`; labelled curves get legend entries.
pub fn draw_overlays<DB: DrawingBackend>(
    chart: &mut Chart2d<'_, DB>,
    overlays: &[Overlay],
    xr: (f64, f64),
    yr: (f64, f64),
) -> Result<()> {
    for overlay in overlays {
        let color = overlay.color;
        let mut first = true;
        let annotate = |anno: &mut plotters::chart::SeriesAnno<'_, DB>, stroke: Stroke| {
            if let Some(label) = &overlay.label {
                anno.label(label.as_str());
                match stroke {
                    Stroke::Markers { radius } => {
                        anno.legend(move |(x, y)| {
                            Circle::new((x + 10, y), radius.max(3), color.filled())
                        });
                    }
                    Stroke::Solid { width } | Stroke::Dashed { width } => {
                        anno.legend(move |(x, y)| {
                            PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(width))
                        });
                    }
                }
            }
        };
        match overlay.stroke {
            Stroke::Markers { radius } => {
                let inside = overlay
                    .points
                    .iter()
                    .copied()
                    .filter(|p| p.0 >= xr.0 && p.0 <= xr.1 && p.1 >= yr.0 && p.1 <= yr.1);
                let anno =
                    chart.draw_series(inside.map(|p| Circle::new(p, radius, color.filled())))?;
                annotate(anno, overlay.stroke);
            }
            Stroke::Solid { width } => {
                for run in clip_polyline(&overlay.points, xr, yr) {
                    let anno =
                        chart.draw_series(LineSeries::new(run, color.stroke_width(width)))?;
                    if first {
                        annotate(anno, overlay.stroke);
                        first = false;
                    }
                }
            }
            Stroke::Dashed { width } => {
                for run in clip_polyline(&overlay.points, xr, yr) {
                    let anno = chart.draw_series(DashedLineSeries::new(
                        run,
                        6,
                        4,
                        color.stroke_width(width),
                    ))?;
                    if first {
                        annotate(anno, overlay.stroke);
                        first = false;
                    }
                }
            }
        }
    }
    Ok(())
}

/// Draws a full line-plot panel into `area`.
pub fn draw_line_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panel: &LinePanel,
) -> Result<()> {
    let (xr, yr) = (panel.x_range, panel.y_range);
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, (FONT, text_size::PANEL_TITLE))
        .margin(8)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d(xr.0..xr.1, yr.0..yr.1)?;
    chart
        .configure_mesh()
        .light_line_style(RGBColor(235, 235, 235))
        .bold_line_style(RGBColor(215, 215, 215))
        .x_desc(&panel.x_label)
        .y_desc(&panel.y_label)
        .label_style((FONT, text_size::TICK))
        .axis_desc_style((FONT, text_size::AXIS_LABEL))
        .draw()?;
    if panel.zero_line && yr.0 < 0.0 && yr.1 > 0.0 {
        chart.draw_series(LineSeries::new(
            [(xr.0, 0.0), (xr.1, 0.0)],
            BLACK.mix(0.5).stroke_width(1),
        ))?;
    }
    let mut labelled = 0;
    for mark in &panel.marks {
        if mark.x >= xr.0 && mark.x <= xr.1 {
            chart.draw_series(DashedLineSeries::new(
                [(mark.x, yr.0), (mark.x, yr.1)],
                4,
                4,
                mark.color.stroke_width(1),
            ))?;
            // Labels of successive marks are staggered downwards so they never overlap.
            let y_text = yr.1 - (0.03 + 0.06 * labelled as f64) * (yr.1 - yr.0);
            if !mark.label.is_empty() {
                labelled += 1;
            }
            chart.draw_series(std::iter::once(Text::new(
                mark.label.clone(),
                (mark.x, y_text),
                (FONT, text_size::ANNOTATION).into_font().color(&mark.color),
            )))?;
        }
    }
    draw_overlays(&mut chart, &panel.series, xr, yr)?;
    if panel.series.iter().any(|s| s.label.is_some()) {
        chart
            .configure_series_labels()
            .position(match panel.legend {
                LegendCorner::UpperRight => SeriesLabelPosition::UpperRight,
                LegendCorner::UpperLeft => SeriesLabelPosition::UpperLeft,
                LegendCorner::LowerRight => SeriesLabelPosition::LowerRight,
                LegendCorner::LowerLeft => SeriesLabelPosition::LowerLeft,
            })
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .label_font((FONT, text_size::TICK))
            .draw()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clipping_interpolates_the_crossing_points() {
        let runs = clip_polyline(
            &[(0.0, 0.0), (1.0, 2.0), (2.0, 0.0)],
            (0.0, 2.0),
            (0.0, 1.0),
        );
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[0], vec![(0.0, 0.0), (0.5, 1.0)]);
        assert_eq!(runs[1], vec![(1.5, 1.0), (2.0, 0.0)]);
    }

    #[test]
    fn fully_inside_polyline_is_one_run_and_nan_breaks_it() {
        let pts = [(0.1, 0.1), (0.2, 0.2), (0.3, 0.3)];
        assert_eq!(
            clip_polyline(&pts, (0.0, 1.0), (0.0, 1.0)),
            vec![pts.to_vec()]
        );
        let broken = [
            (0.1, 0.1),
            (0.2, 0.2),
            (f64::NAN, 0.3),
            (0.4, 0.4),
            (0.5, 0.5),
        ];
        assert_eq!(clip_polyline(&broken, (0.0, 1.0), (0.0, 1.0)).len(), 2);
        assert!(clip_polyline(&[(5.0, 5.0), (6.0, 6.0)], (0.0, 1.0), (0.0, 1.0)).is_empty());
    }
}
