//! The diverging blue-white-red colour map used by \[GLPR\] Figures 3-5 (matplotlib `RdBu_r`).
//!
//! `RdBu_r` is the reversed ColorBrewer "RdBu" 11-class scheme, interpolated linearly in RGB between its
//! eleven equally spaced control points (as matplotlib's `LinearSegmentedColormap` does). Low values are
//! dark blue, the midpoint is near-white, high values are dark red.

use plotters::style::RGBColor;

/// ColorBrewer RdBu, 11 classes, listed from low (blue) to high (red), i.e. already reversed (`RdBu_r`).
const RDBU_R: [(u8, u8, u8); 11] = [
    (0x05, 0x30, 0x61),
    (0x21, 0x66, 0xac),
    (0x43, 0x93, 0xc3),
    (0x92, 0xc5, 0xde),
    (0xd1, 0xe5, 0xf0),
    (0xf7, 0xf7, 0xf7),
    (0xfd, 0xdb, 0xc7),
    (0xf4, 0xa5, 0x82),
    (0xd6, 0x60, 0x4d),
    (0xb2, 0x18, 0x2b),
    (0x67, 0x00, 0x1f),
];

/// A linear map from the value range `[vmin, vmax]` onto the `RdBu_r` colours; values outside are clamped,
/// NaN is drawn grey.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ColorScale {
    pub vmin: f64,
    pub vmax: f64,
}

/// Colour of non-finite values.
pub const NAN_COLOR: RGBColor = RGBColor(128, 128, 128);

impl ColorScale {
    pub fn new(vmin: f64, vmax: f64) -> Self {
        Self { vmin, vmax }
    }

    /// The scale spanning the finite values of `values` (a unit range around a constant).
    pub fn spanning(values: impl IntoIterator<Item = f64>) -> Self {
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for v in values.into_iter().filter(|v| v.is_finite()) {
            lo = lo.min(v);
            hi = hi.max(v);
        }
        if !lo.is_finite() {
            return Self::new(0.0, 1.0);
        }
        if hi - lo < 1e-12 {
            return Self::new(lo - 0.5, hi + 0.5);
        }
        Self::new(lo, hi)
    }

    /// Colour of `value`.
    pub fn color(&self, value: f64) -> RGBColor {
        if !value.is_finite() {
            return NAN_COLOR;
        }
        let span = self.vmax - self.vmin;
        let u = if span > 0.0 {
            (value - self.vmin) / span
        } else {
            0.5
        };
        rdbu_r(u)
    }
}

/// `RdBu_r` at the normalised position `u` in `[0, 1]` (clamped).
pub fn rdbu_r(u: f64) -> RGBColor {
    let u = if u.is_nan() { 0.5 } else { u.clamp(0.0, 1.0) };
    let scaled = u * (RDBU_R.len() - 1) as f64;
    let k = (scaled.floor() as usize).min(RDBU_R.len() - 2);
    let w = scaled - k as f64;
    let (a, b) = (RDBU_R[k], RDBU_R[k + 1]);
    let mix = |x: u8, y: u8| (f64::from(x) * (1.0 - w) + f64::from(y) * w).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_and_midpoint_are_the_colorbrewer_values() {
        assert_eq!(rdbu_r(0.0), RGBColor(0x05, 0x30, 0x61));
        assert_eq!(rdbu_r(1.0), RGBColor(0x67, 0x00, 0x1f));
        assert_eq!(rdbu_r(0.5), RGBColor(0xf7, 0xf7, 0xf7));
        assert_eq!(rdbu_r(0.1), RGBColor(0x21, 0x66, 0xac));
    }

    #[test]
    fn interpolates_linearly_between_control_points() {
        // Halfway between classes 5 (f7f7f7) and 6 (fddbc7).
        let c = rdbu_r(0.55);
        assert_eq!(c, RGBColor(0xfa, 0xe9, 0xdf));
    }

    #[test]
    fn clamps_and_handles_nan() {
        let s = ColorScale::new(0.0, 1.0);
        assert_eq!(s.color(-3.0), rdbu_r(0.0));
        assert_eq!(s.color(7.0), rdbu_r(1.0));
        assert_eq!(s.color(f64::NAN), NAN_COLOR);
        let flat = ColorScale::spanning([2.0, 2.0]);
        assert!(flat.vmin < 2.0 && flat.vmax > 2.0);
    }
}
