//! 3-D sphere views with hidden back sides (\[BKKRW\] Figures 1, 3, 6): orthographic projection of S^2 seen
//! from the direction `view`, the surface tessellated in latitude-longitude patches coloured by
//! f(x) = x^T D x, and particles drawn as markers. Only front-facing patches and points (<x, view> > 0) are
//! drawn; S^2 is convex, so front patches never overlap and no depth sorting is needed.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::colormap::ColorScale;
use super::{FONT, text_size};
use crate::error::{FigureError, Result};

/// Orthographic camera looking at the origin from direction `view` (towards the viewer), with the
/// projection of `up` pointing up on the screen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Camera {
    view: [f64; 3],
    right: [f64; 3],
    up: [f64; 3],
}

fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

fn normalized(a: [f64; 3]) -> Option<[f64; 3]> {
    let n = dot(a, a).sqrt();
    (n > 1e-12 && n.is_finite()).then(|| [a[0] / n, a[1] / n, a[2] / n])
}

impl Camera {
    /// A camera at direction `view`; `up` must not be parallel to `view`.
    pub fn new(view: [f64; 3], up: [f64; 3]) -> Result<Self> {
        let view = normalized(view)
            .ok_or_else(|| FigureError::InvalidParams("camera direction is zero".into()))?;
        let along = dot(up, view);
        let up = normalized([
            up[0] - along * view[0],
            up[1] - along * view[1],
            up[2] - along * view[2],
        ])
        .ok_or_else(|| {
            FigureError::InvalidParams("camera `up` is parallel to the view direction".into())
        })?;
        let right = cross(up, view);
        Ok(Self { view, right, up })
    }

    /// Screen coordinates (right, up) of `p`.
    pub fn project(&self, p: [f64; 3]) -> (f64, f64) {
        (dot(p, self.right), dot(p, self.up))
    }

    /// Whether `p` (on the unit sphere) faces the viewer.
    pub fn is_front(&self, p: [f64; 3]) -> bool {
        dot(p, self.view) > 0.0
    }
}

/// Surface colouring by the quadratic form x^T D x (D symmetric 3 x 3, row-major).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuadraticColoring {
    pub matrix: [[f64; 3]; 3],
    pub scale: ColorScale,
}

impl QuadraticColoring {
    /// x^T D x.
    pub fn value(&self, x: [f64; 3]) -> f64 {
        let m = &self.matrix;
        (0..3)
            .map(|i| x[i] * (0..3).map(|j| m[i][j] * x[j]).sum::<f64>())
            .sum()
    }

    /// The scale spanning the quadratic form on the sphere: [lambda_min, lambda_max] of a diagonal D
    /// (for a non-diagonal D, sampled on the tessellation).
    pub fn with_natural_scale(matrix: [[f64; 3]; 3]) -> Self {
        let probe = Self {
            matrix,
            scale: ColorScale::new(0.0, 1.0),
        };
        let scale = ColorScale::spanning(sphere_grid(24, 48).into_iter().map(|p| probe.value(p)));
        Self { matrix, scale }
    }
}

/// One sphere view.
#[derive(Debug, Clone)]
pub struct SphereView {
    pub title: String,
    pub camera: Camera,
    pub coloring: Option<QuadraticColoring>,
    /// Current points (filled markers).
    pub points: Vec<[f64; 3]>,
    /// Initial points (faint markers), if shown.
    pub initial_points: Vec<[f64; 3]>,
    pub point_color: RGBColor,
}

fn spherical(theta: f64, phi: f64) -> [f64; 3] {
    [
        theta.sin() * phi.cos(),
        theta.sin() * phi.sin(),
        theta.cos(),
    ]
}

/// Patch centres of an `n_theta x n_phi` latitude-longitude grid (used for scales).
fn sphere_grid(n_theta: usize, n_phi: usize) -> Vec<[f64; 3]> {
    let mut out = Vec::with_capacity(n_theta * n_phi);
    for i in 0..n_theta {
        for j in 0..n_phi {
            let theta = std::f64::consts::PI * (i as f64 + 0.5) / n_theta as f64;
            let phi = 2.0 * std::f64::consts::PI * (j as f64 + 0.5) / n_phi as f64;
            out.push(spherical(theta, phi));
        }
    }
    out
}

/// Draws `view` in a square chart inside `area`.
pub fn draw_sphere_view<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    view: &SphereView,
) -> Result<()> {
    let area = area.titled(&view.title, (FONT, text_size::PANEL_TITLE).into_font())?;
    let (w, h) = area.dim_in_pixel();
    let side = w.min(h);
    let (pad_x, pad_y) = ((w - side) / 2, (h - side) / 2);
    let area = area.margin(pad_y, pad_y, pad_x, pad_x);
    let lim = 1.08;
    let mut chart = ChartBuilder::on(&area)
        .margin(4)
        .build_cartesian_2d(-lim..lim, -lim..lim)?;
    let cam = view.camera;
    const N_THETA: usize = 36;
    const N_PHI: usize = 72;
    let mut patches = Vec::new();
    for i in 0..N_THETA {
        for j in 0..N_PHI {
            let t0 = std::f64::consts::PI * i as f64 / N_THETA as f64;
            let t1 = std::f64::consts::PI * (i + 1) as f64 / N_THETA as f64;
            let p0 = 2.0 * std::f64::consts::PI * j as f64 / N_PHI as f64;
            let p1 = 2.0 * std::f64::consts::PI * (j + 1) as f64 / N_PHI as f64;
            let centre = spherical(0.5 * (t0 + t1), 0.5 * (p0 + p1));
            if !cam.is_front(centre) {
                continue;
            }
            let corners = [
                spherical(t0, p0),
                spherical(t0, p1),
                spherical(t1, p1),
                spherical(t1, p0),
            ];
            let color = match &view.coloring {
                Some(c) => c.scale.color(c.value(centre)),
                None => RGBColor(235, 235, 240),
            };
            let pts: Vec<(f64, f64)> = corners.iter().map(|&c| cam.project(c)).collect();
            patches.push((pts, color));
        }
    }
    chart.draw_series(
        patches
            .iter()
            .map(|(pts, color)| Polygon::new(pts.clone(), color.filled())),
    )?;
    // Same-colour outlines hide the anti-aliasing seams between neighbouring patches.
    chart.draw_series(patches.iter().map(|(pts, color)| {
        let mut closed = pts.clone();
        closed.push(pts[0]);
        PathElement::new(closed, color.stroke_width(1))
    }))?;
    // Silhouette.
    let rim: Vec<(f64, f64)> = (0..=180)
        .map(|k| 2.0 * std::f64::consts::PI * k as f64 / 180.0)
        .map(|a| (a.cos(), a.sin()))
        .collect();
    chart.draw_series(std::iter::once(PathElement::new(
        rim,
        RGBColor(90, 90, 90).stroke_width(1),
    )))?;
    let faint = view
        .initial_points
        .iter()
        .filter(|&&p| cam.is_front(p))
        .map(|&p| cam.project(p));
    chart.draw_series(faint.map(|p| Circle::new(p, 3, view.point_color.mix(0.3).filled())))?;
    let front = view
        .points
        .iter()
        .filter(|&&p| cam.is_front(p))
        .map(|&p| cam.project(p));
    chart.draw_series(front.map(|p| Circle::new(p, 4, view.point_color.filled())))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camera_is_orthonormal_and_right_handed() {
        let cam = Camera::new([1.0, 1.0, 0.5], [0.0, 0.0, 1.0]).unwrap();
        assert!((dot(cam.view, cam.view) - 1.0).abs() < 1e-14);
        assert!(dot(cam.view, cam.up).abs() < 1e-14);
        assert!(dot(cam.view, cam.right).abs() < 1e-14);
        let v = cross(cam.right, cam.up);
        assert!((dot(v, cam.view) - 1.0).abs() < 1e-14);
        assert!(Camera::new([0.0, 0.0, 1.0], [0.0, 0.0, 2.0]).is_err());
    }

    #[test]
    fn front_points_project_inside_the_disc_and_back_points_are_hidden() {
        let cam = Camera::new([1.0, 0.0, 0.0], [0.0, 0.0, 1.0]).unwrap();
        assert!(cam.is_front([1.0, 0.0, 0.0]));
        assert!(!cam.is_front([-1.0, 0.0, 0.0]));
        assert_eq!(cam.project([0.0, 0.0, 1.0]), (0.0, 1.0));
        let (x, _) = cam.project([0.0, 1.0, 0.0]);
        assert!((x - 1.0).abs() < 1e-15);
    }

    #[test]
    fn quadratic_form_and_natural_scale() {
        let c = QuadraticColoring::with_natural_scale([
            [1.0, 0.0, 0.0],
            [0.0, 3.0, 0.0],
            [0.0, 0.0, 4.0],
        ]);
        assert!((c.value([0.0, 0.0, 1.0]) - 4.0).abs() < 1e-15);
        assert!(c.scale.vmin >= 1.0 - 1e-12 && c.scale.vmin < 1.1);
        assert!(c.scale.vmax <= 4.0 + 1e-12 && c.scale.vmax > 3.9);
    }
}
