//! Plot toolkit shared by every figure: an embedded font, the `RdBu_r` colour map with colour bars,
//! heatmap panels, histograms, line plots, circle views (d = 2 trajectories) and 3-D sphere views with hidden back
//! sides. Every picture is drawn once per backend (SVG and PNG) by a generic drawing function.
//!
//! The font is DejaVu Sans, compiled into the binary (`assets/DejaVuSans.ttf`, licence beside it) and
//! registered with plotters' `ab_glyph` text renderer under the family name [`FONT`], so no system font
//! is ever looked up.

pub mod animation;
pub mod circle;
pub mod colormap;
pub mod heatmap;
pub mod histogram;
pub mod lines;
pub mod sphere;

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::{FigureError, Result};
use crate::output::write_atomic;

/// Family name under which the embedded font is registered.
pub const FONT: &str = "sans-serif";

static EMBEDDED_FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
static REGISTER: Once = Once::new();

/// Registers the embedded DejaVu Sans font (idempotent). Called by [`render_svg_png`].
pub fn register_embedded_font() -> Result<()> {
    let mut ok = true;
    REGISTER.call_once(|| {
        ok = plotters::style::register_font(FONT, FontStyle::Normal, EMBEDDED_FONT).is_ok();
    });
    if ok {
        Ok(())
    } else {
        Err(FigureError::Draw(
            "the embedded font could not be parsed".into(),
        ))
    }
}

/// Standard font sizes (pixels) for a figure of the usual size.
pub mod text_size {
    pub const TITLE: u32 = 22;
    pub const PANEL_TITLE: u32 = 18;
    pub const AXIS_LABEL: u32 = 17;
    pub const TICK: u32 = 14;
    pub const ANNOTATION: u32 = 14;
}

/// Something that draws itself onto any plotters backend.
pub trait Picture {
    /// Pixel size of the picture.
    fn size(&self) -> (u32, u32);
    /// Draws onto `root` (already filled white).
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>;
}

/// Draws `picture` twice, into an SVG string and a PNG file, both written atomically (temporary file in
/// the same directory, then rename), so an interrupted run never leaves a half-written picture.
pub fn render_svg_png(picture: &impl Picture, svg_path: &Path, png_path: &Path) -> Result<()> {
    register_embedded_font()?;
    let size = picture.size();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE)?;
        picture.draw(&root)?;
        root.present()?;
    }
    write_atomic(svg_path, svg.as_bytes())?;

    let mut rgb = vec![255u8; size.0 as usize * size.1 as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, size).into_drawing_area();
        root.fill(&WHITE)?;
        picture.draw(&root)?;
        root.present()?;
    }
    let png = encode_png(&rgb, size)?;
    write_atomic(png_path, &png)
}

/// Encodes an RGB8 buffer as PNG (via the `image` crate that plotters' bitmap encoder already uses).
fn encode_png(rgb: &[u8], (w, h): (u32, u32)) -> Result<Vec<u8>> {
    use image::ImageEncoder;
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(rgb, w, h, image::ColorType::Rgb8)
        .map_err(|e| FigureError::Draw(format!("PNG encoding failed: {e}")))?;
    Ok(out)
}

/// Draws a centred title at the top of `area` and returns the remaining area below it.
pub fn title_area<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    size: u32,
) -> Result<DrawingArea<DB, Shift>> {
    Ok(area.titled(title, (FONT, size).into_font())?)
}

/// Evenly spaced grid `linspace(a, b, n)` (inclusive ends), as numpy.
pub fn linspace(a: f64, b: f64, n: usize) -> Vec<f64> {
    match n {
        0 => Vec::new(),
        1 => vec![a],
        _ => (0..n)
            .map(|k| a + (b - a) * k as f64 / (n - 1) as f64)
            .collect(),
    }
}

/// Colours used for categorical series (colour-blind-safe Okabe-Ito palette).
pub const SERIES_COLORS: [RGBColor; 7] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(0, 0, 0),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linspace_matches_numpy_convention() {
        assert_eq!(linspace(0.0, 1.0, 5), vec![0.0, 0.25, 0.5, 0.75, 1.0]);
        assert_eq!(linspace(2.0, 3.0, 1), vec![2.0]);
        assert!(linspace(0.0, 1.0, 0).is_empty());
    }

    #[test]
    fn embedded_font_registers() {
        register_embedded_font().unwrap();
        register_embedded_font().unwrap();
    }
}
