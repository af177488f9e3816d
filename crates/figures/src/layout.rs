//! Figure layouts as data: a figure describes its picture as a tree of areas (titles, grids, splits)
//! whose leaves are standard panels of the plot toolkit (phase heatmaps with their colour bar, line
//! plots, histograms, circle and sphere views), and one renderer, [`render`], draws any layout onto any
//! plotters backend. A figure whose picture no panel kind can express draws it itself
//! ([`Panel::Bespoke`], see [`crate::Figure::draw_bespoke`]).

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::Result;
use crate::plot::FONT;
use crate::plot::circle::{CircleView, draw_circle_view};
use crate::plot::colormap::ColorScale;
use crate::plot::heatmap::{Heatmap, draw_colorbar, draw_heatmap};
use crate::plot::histogram::{Histogram, draw_histogram};
use crate::plot::lines::{LinePanel, draw_line_panel};
use crate::plot::sphere::{SphereView, draw_sphere_view};

/// A whole picture: its size in pixels and what is drawn on it.
pub struct Layout<'a> {
    pub size: (u32, u32),
    pub body: Block<'a>,
}

/// An area of the picture.
pub enum Block<'a> {
    /// A centred title of `font_size` pixels above `body`.
    Titled {
        title: String,
        font_size: u32,
        body: Box<Block<'a>>,
    },
    /// `rows x cols` equal cells, filled row by row with `cells` (missing cells stay empty).
    Grid {
        rows: usize,
        cols: usize,
        cells: Vec<Block<'a>>,
    },
    /// Two areas side by side, split at `split` of the width.
    Columns {
        split: Split,
        left: Box<Block<'a>>,
        right: Box<Block<'a>>,
    },
    /// Two areas one above the other, split at `split` of the height.
    Rows {
        split: Split,
        top: Box<Block<'a>>,
        bottom: Box<Block<'a>>,
    },
    Panel(Box<Panel<'a>>),
}

/// A pixel position along an extent (width or height) of an area.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// This many pixels from the start.
    FromStart(u32),
    /// This many pixels before the end.
    FromEnd(u32),
    /// `numerator / denominator` of the extent (integer division).
    Fraction(u32, u32),
}

impl Split {
    /// The position in an extent of `extent` pixels.
    pub fn at(self, extent: u32) -> u32 {
        match self {
            Split::FromStart(pixels) => pixels,
            Split::FromEnd(pixels) => extent.saturating_sub(pixels),
            Split::Fraction(numerator, denominator) => extent * numerator / denominator.max(1),
        }
    }
}

/// A vertical colour bar, vertically inset by 1/8 of its area's height on both sides.
pub struct ColorBar {
    pub scale: ColorScale,
    pub label: String,
    /// Left margin in pixels.
    pub left: u32,
    /// Right margin: [`Split::at`] of the area's width.
    pub right: Split,
}

/// A standard panel.
pub enum Panel<'a> {
    Heatmap(Heatmap<'a>),
    ColorBar(ColorBar),
    Lines(LinePanel),
    Histogram(Histogram),
    Circle(CircleView),
    Sphere(SphereView),
    /// Drawn by the figure itself ([`crate::Figure::draw_bespoke`]).
    Bespoke,
}

impl<'a> Block<'a> {
    /// One panel filling the area.
    pub fn panel(panel: Panel<'a>) -> Self {
        Block::Panel(Box::new(panel))
    }

    /// `body` under a title.
    pub fn titled(title: impl Into<String>, font_size: u32, body: Block<'a>) -> Self {
        Block::Titled {
            title: title.into(),
            font_size,
            body: Box::new(body),
        }
    }

    /// `cells` on a `rows x cols` grid.
    pub fn grid(rows: usize, cols: usize, cells: impl IntoIterator<Item = Block<'a>>) -> Self {
        Block::Grid {
            rows,
            cols,
            cells: cells.into_iter().collect(),
        }
    }

    /// One row of panels.
    pub fn row(panels: impl IntoIterator<Item = Panel<'a>>) -> Self {
        let cells: Vec<Block<'a>> = panels.into_iter().map(Block::panel).collect();
        Block::Grid {
            rows: 1,
            cols: cells.len().max(1),
            cells,
        }
    }

    pub fn columns(split: Split, left: Block<'a>, right: Block<'a>) -> Self {
        Block::Columns {
            split,
            left: Box::new(left),
            right: Box::new(right),
        }
    }

    pub fn rows(split: Split, top: Block<'a>, bottom: Block<'a>) -> Self {
        Block::Rows {
            split,
            top: Box::new(top),
            bottom: Box::new(bottom),
        }
    }
}

/// Draws `block` onto `area`; `bespoke` draws the [`Panel::Bespoke`] panels.
pub fn render<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    block: &Block<'_>,
    bespoke: &dyn Fn(&DrawingArea<DB, Shift>) -> Result<()>,
) -> Result<()> {
    match block {
        Block::Titled {
            title,
            font_size,
            body,
        } => render(&area.titled(title, (FONT, *font_size))?, body, bespoke),
        Block::Grid { rows, cols, cells } => {
            for (cell, cell_area) in cells.iter().zip(area.split_evenly((*rows, *cols))) {
                render(&cell_area, cell, bespoke)?;
            }
            Ok(())
        }
        Block::Columns { split, left, right } => {
            let (w, _) = area.dim_in_pixel();
            let (l, r) = area.split_horizontally(split.at(w));
            render(&l, left, bespoke)?;
            render(&r, right, bespoke)
        }
        Block::Rows { split, top, bottom } => {
            let (_, h) = area.dim_in_pixel();
            let (t, b) = area.split_vertically(split.at(h));
            render(&t, top, bespoke)?;
            render(&b, bottom, bespoke)
        }
        Block::Panel(panel) => match panel.as_ref() {
            Panel::Heatmap(map) => draw_heatmap(area, map),
            Panel::ColorBar(bar) => {
                let (w, h) = area.dim_in_pixel();
                let inset = area.margin(h / 8, h / 8, bar.left, bar.right.at(w));
                draw_colorbar(&inset, bar.scale, &bar.label)
            }
            Panel::Lines(lines) => draw_line_panel(area, lines),
            Panel::Histogram(hist) => draw_histogram(area, hist),
            Panel::Circle(view) => draw_circle_view(area, view),
            Panel::Sphere(view) => draw_sphere_view(area, view),
            Panel::Bespoke => bespoke(area),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::histogram::Bar;
    use std::cell::Cell;

    #[test]
    fn splits_count_from_either_end_or_as_a_fraction() {
        assert_eq!(Split::FromStart(620).at(1500), 620);
        assert_eq!(Split::FromEnd(110).at(1450), 1340);
        assert_eq!(Split::FromEnd(110).at(100), 0);
        assert_eq!(Split::Fraction(2, 5).at(1701), 680);
    }

    #[test]
    fn renderer_draws_every_panel_in_its_cell_and_hands_bespoke_cells_to_the_figure() {
        crate::plot::register_embedded_font().unwrap();
        let histogram = Histogram {
            title: "counts".into(),
            axis_labels: Some(("k".into(), "seeds".into())),
            x_range: (0.5, 3.5),
            y_range: (0.0, 5.0),
            bars: (1..=3)
                .map(|k| Bar {
                    from: k as f64 - 0.35,
                    to: k as f64 + 0.35,
                    height: k as f64,
                })
                .collect(),
            color: RGBColor(1, 2, 3).to_rgba(),
            x_ticks: 3,
            integer_ticks: true,
            compact: false,
        };
        let layout = Layout {
            size: (600, 300),
            body: Block::titled(
                "title",
                20,
                Block::columns(
                    Split::Fraction(1, 2),
                    Block::panel(Panel::Histogram(histogram)),
                    Block::panel(Panel::Bespoke),
                ),
            ),
        };
        let bespoke_widths = Cell::new(Vec::new());
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, layout.size).into_drawing_area();
            render(&root, &layout.body, &|area| {
                let mut widths = bespoke_widths.take();
                widths.push(area.dim_in_pixel().0);
                bespoke_widths.set(widths);
                Ok(())
            })
            .unwrap();
            root.present().unwrap();
        }
        // the right half of the 600 pixels, once
        assert_eq!(bespoke_widths.take(), vec![300]);
        let bars = svg
            .lines()
            .filter(|line| line.starts_with("<rect") && line.contains("fill=\"#010203\""))
            .count();
        assert_eq!(bars, 3, "{svg}");
        assert!(svg.contains("\ntitle\n") && svg.contains("\ncounts\n"));
    }
}
