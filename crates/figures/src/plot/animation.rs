//! GIF animations of particle trajectories: the tokens x_1(t), ..., x_n(t) of the self-attention
//! dynamics
//!
//! ```text
//! xdot_i = P_{x_i}( (1 / Z_i) sum_j e^{beta <x_i, x_j>} x_j ),   P_x y = y - <x, y> x       [GLPR] (2.3)
//! ```
//!
//! (or any other run of the engine) drawn frame by frame as they cluster over time (on S^{d-1}, d >= 3,
//! into one cluster: \[GLPR\] Thm 6.1; on the circle, the angles of \[GLPR\] (7.1)).
//!
//! - d = 2, every point on the unit circle (|x_i| = 1 within [`UNIT_NORM_TOLERANCE`]): the circle view
//!   of [`super::circle::draw_circle_view`], angle 0 to the right of the centre, angles counter-clockwise.
//! - d = 2 otherwise (a Euclidean run, e.g. pure attention in R^2, \[GLPR\] (9.1)): the plane with axes
//!   whose limits span the points of every frame (one square window for the whole animation).
//! - d = 3: every point must lie on the unit sphere; the sphere view of
//!   [`super::sphere::draw_sphere_view`] from the fixed direction [`SPHERE_VIEW`] (z up), where points on
//!   the hidden back side (<x, view> <= 0) are not drawn. Points off the sphere are refused rather than
//!   projected, since a projection would show a different configuration than the one computed.
//!
//! Every frame is titled with its time t. Frames are drawn into an RGB buffer, quantised to a palette
//! per frame (the exact colours when there are at most 256 of them, NeuQuant otherwise, both
//! deterministic), encoded in memory and written once through the workspace's atomic writer, so the
//! same trajectory and options always give the same bytes and an interrupted run never leaves a
//! half-written file.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::circle::{CircleView, draw_circle_view};
use super::sphere::{Camera, SphereView, draw_sphere_view};
use super::{FONT, SERIES_COLORS, register_embedded_font, text_size};
use crate::error::{FigureError, Result};
use crate::output::write_atomic;

/// Positions of n particles in R^d at a sequence of times.
#[derive(Debug, Clone, Copy)]
pub struct Trajectory<'a> {
    /// Number of particles.
    pub n: usize,
    /// Dimension of the ambient space (2 or 3 can be animated).
    pub d: usize,
    /// Time of each frame.
    pub times: &'a [f64],
    /// One configuration per time, row-major n x d (particle i is `frame[i * d..(i + 1) * d]`).
    pub frames: &'a [Vec<f64>],
}

/// How the animation looks.
#[derive(Debug, Clone, PartialEq)]
pub struct AnimationOptions {
    /// Title drawn before the time of each frame (may be empty).
    pub title: String,
    /// Width and height of every frame in pixels, in [`MIN_SIZE_PX`, `MAX_SIZE_PX`].
    pub size_px: u32,
    /// Display time of each frame in milliseconds, in [10, `MAX_FRAME_DELAY_MS`]; GIF stores it in
    /// hundredths of a second, so it is rounded to the nearest 10 ms.
    pub frame_delay_ms: u32,
}

impl Default for AnimationOptions {
    fn default() -> Self {
        Self {
            title: String::new(),
            size_px: 480,
            frame_delay_ms: 80,
        }
    }
}

/// Smallest frame side in pixels (room for the title and a recognisable circle).
pub const MIN_SIZE_PX: u32 = 64;
/// Largest frame side in pixels.
pub const MAX_SIZE_PX: u32 = 4096;
/// Longest frame delay: GIF's delay field is 16 bits of hundredths of a second.
pub const MAX_FRAME_DELAY_MS: u32 = 655_350;
/// Memory limit: frames x pixels per frame may not exceed 2^30. The encoded animation is at most about
/// one byte per pixel plus the palettes, so this bounds the in-memory GIF by about 1 GiB (e.g. 4096
/// frames of 512 x 512 pixels, or 1024 frames of 1024 x 1024).
pub const MAX_TOTAL_PIXELS: u64 = 1 << 30;
/// Points within this distance of norm 1 count as lying on the unit circle / sphere.
pub const UNIT_NORM_TOLERANCE: f64 = 1e-6;
/// Direction from which d = 3 frames are seen (towards the viewer; z points up on the screen).
pub const SPHERE_VIEW: [f64; 3] = [1.0, 0.7, 0.5];

/// NeuQuant sampling factor (1 = every pixel, 30 = fastest); 10 is the encoder's recommended balance.
const QUANTIZER_SPEED: i32 = 10;

/// What every frame of one animation draws.
enum Scene {
    /// d = 2 on the unit circle.
    Circle,
    /// d = 2 in the plane, with the common window [x0, x0 + side] x [y0, y0 + side].
    Plane { x0: f64, y0: f64, side: f64 },
    /// d = 3 on the unit sphere.
    Sphere(Camera),
}

/// Renders `trajectory` as an endlessly looping GIF at `path` (written atomically, parent directories
/// created). Invalid input (a dimension other than 2 or 3, no particles, no frames, frames and times of
/// different lengths, a frame of the wrong length, non-finite times or coordinates, d = 3 points off the
/// unit sphere, a size or delay out of range, more than [`MAX_TOTAL_PIXELS`] pixels in all) is a
/// [`FigureError::InvalidParams`] and writes nothing.
pub fn write_gif(path: &Path, trajectory: &Trajectory, options: &AnimationOptions) -> Result<()> {
    let bytes = encode_gif(trajectory, options)?;
    write_atomic(path, &bytes)
}

/// The GIF file of `trajectory`, in memory.
fn encode_gif(trajectory: &Trajectory, options: &AnimationOptions) -> Result<Vec<u8>> {
    let scene = validate(trajectory, options)?;
    register_embedded_font()?;
    let side = options.size_px;
    // `validate` keeps the side at most MAX_SIZE_PX, which fits GIF's 16-bit dimensions.
    let side_u16 = side as u16;
    let delay_cs = (options.frame_delay_ms + 5) / 10;
    let mut gif_bytes = Vec::new();
    {
        let mut encoder =
            gif::Encoder::new(&mut gif_bytes, side_u16, side_u16, &[]).map_err(encoding_error)?;
        encoder
            .set_repeat(gif::Repeat::Infinite)
            .map_err(encoding_error)?;
        let mut rgb = vec![255u8; side as usize * side as usize * 3];
        for (&t, frame) in trajectory.times.iter().zip(trajectory.frames) {
            {
                let root = BitMapBackend::with_buffer(&mut rgb, (side, side)).into_drawing_area();
                root.fill(&WHITE)?;
                let title = frame_title(&options.title, t);
                draw_frame(&root, &scene, &title, trajectory.d, frame)?;
                root.present()?;
            }
            let mut gif_frame =
                gif::Frame::from_rgb_speed(side_u16, side_u16, &rgb, QUANTIZER_SPEED);
            // `validate` keeps the delay at most MAX_FRAME_DELAY_MS, i.e. 65535 hundredths.
            gif_frame.delay = delay_cs as u16;
            encoder.write_frame(&gif_frame).map_err(encoding_error)?;
        }
    }
    Ok(gif_bytes)
}

fn encoding_error(e: gif::EncodingError) -> FigureError {
    FigureError::Draw(format!("GIF encoding failed: {e}"))
}

/// "TITLE, t = 1.25" (or "t = 1.25" without a title).
fn frame_title(title: &str, t: f64) -> String {
    if title.is_empty() {
        format!("t = {t:.2}")
    } else {
        format!("{title}, t = {t:.2}")
    }
}

fn invalid(message: String) -> FigureError {
    FigureError::InvalidParams(format!("animation: {message}"))
}

/// Checks every input and decides how the frames are drawn.
fn validate(trajectory: &Trajectory, options: &AnimationOptions) -> Result<Scene> {
    let &Trajectory {
        n,
        d,
        times,
        frames,
    } = trajectory;
    if d != 2 && d != 3 {
        return Err(invalid(format!(
            "only d = 2 (circle or plane) and d = 3 (sphere) can be drawn, got d = {d}"
        )));
    }
    if n == 0 {
        return Err(invalid("the trajectory has no particles (n = 0)".into()));
    }
    if frames.is_empty() {
        return Err(invalid("the trajectory has no frames".into()));
    }
    if frames.len() != times.len() {
        return Err(invalid(format!(
            "{} frames but {} times",
            frames.len(),
            times.len()
        )));
    }
    if !(MIN_SIZE_PX..=MAX_SIZE_PX).contains(&options.size_px) {
        return Err(invalid(format!(
            "size_px = {} is outside [{MIN_SIZE_PX}, {MAX_SIZE_PX}]",
            options.size_px
        )));
    }
    if !(10..=MAX_FRAME_DELAY_MS).contains(&options.frame_delay_ms) {
        return Err(invalid(format!(
            "frame_delay_ms = {} is outside [10, {MAX_FRAME_DELAY_MS}]",
            options.frame_delay_ms
        )));
    }
    let pixels = u64::from(options.size_px) * u64::from(options.size_px);
    let total = (frames.len() as u64).saturating_mul(pixels);
    if total > MAX_TOTAL_PIXELS {
        return Err(invalid(format!(
            "{} frames of {} x {} pixels exceed the limit of {MAX_TOTAL_PIXELS} pixels in all; use fewer frames or a smaller size",
            frames.len(),
            options.size_px,
            options.size_px
        )));
    }
    let row_len = n
        .checked_mul(d)
        .ok_or_else(|| invalid(format!("n = {n} particles in d = {d} overflow")))?;
    if let Some(k) = times.iter().position(|t| !t.is_finite()) {
        return Err(invalid(format!("time {k} is not finite ({})", times[k])));
    }
    let mut max_norm_error = 0.0f64;
    for (k, frame) in frames.iter().enumerate() {
        if frame.len() != row_len {
            return Err(invalid(format!(
                "frame {k} has {} coordinates, expected n * d = {n} * {d} = {row_len}",
                frame.len()
            )));
        }
        if let Some(c) = frame.iter().position(|x| !x.is_finite()) {
            return Err(invalid(format!(
                "frame {k}, particle {}: coordinate {} is not finite ({})",
                c / d,
                c % d,
                frame[c]
            )));
        }
        for x in frame.chunks_exact(d) {
            let norm = x.iter().map(|v| v * v).sum::<f64>().sqrt();
            max_norm_error = max_norm_error.max((norm - 1.0).abs());
        }
    }
    let on_unit_sphere = max_norm_error <= UNIT_NORM_TOLERANCE;
    match (d, on_unit_sphere) {
        (2, true) => Ok(Scene::Circle),
        (2, false) => plane_window(frames),
        (_, true) => Ok(Scene::Sphere(Camera::new(SPHERE_VIEW, [0.0, 0.0, 1.0])?)),
        (_, false) => Err(invalid(format!(
            "d = 3 frames are drawn on the unit sphere, but a point is {max_norm_error:.3e} away from norm 1 \
             (tolerance {UNIT_NORM_TOLERANCE:e}); Euclidean runs can be animated in d = 2 only"
        ))),
    }
}

/// The square window around every point of every frame (d = 2), with a 10% margin; a window of side 2
/// around a single point when all points coincide. The side is at least 10^-9 of the largest centre
/// coordinate, so the window's ends stay distinct floating-point numbers; coordinates whose window does
/// not fit in f64 (|x| near f64::MAX) are refused.
fn plane_window(frames: &[Vec<f64>]) -> Result<Scene> {
    let (mut x_min, mut x_max, mut y_min, mut y_max) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for p in frames.iter().flat_map(|f| f.chunks_exact(2)) {
        x_min = x_min.min(p[0]);
        x_max = x_max.max(p[0]);
        y_min = y_min.min(p[1]);
        y_max = y_max.max(p[1]);
    }
    let (cx, cy) = (0.5 * x_min + 0.5 * x_max, 0.5 * y_min + 0.5 * y_max);
    let span = (x_max - x_min).max(y_max - y_min);
    let magnitude = cx.abs().max(cy.abs());
    let side = if span > 0.0 { 1.2 * span } else { 2.0 }.max(1e-9 * magnitude);
    let (x0, y0) = (cx - 0.5 * side, cy - 0.5 * side);
    if [side, x0, y0, x0 + side, y0 + side]
        .iter()
        .any(|v| !v.is_finite())
    {
        return Err(invalid(format!(
            "d = 2 coordinates in [{x_min:e}, {x_max:e}] x [{y_min:e}, {y_max:e}] are too large to draw"
        )));
    }
    Ok(Scene::Plane { x0, y0, side })
}

/// Draws one frame (`frame` row-major n x d) onto `root`.
fn draw_frame<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    scene: &Scene,
    title: &str,
    d: usize,
    frame: &[f64],
) -> Result<()> {
    let color = SERIES_COLORS[0];
    match scene {
        Scene::Circle => draw_circle_view(
            root,
            &CircleView {
                title: title.to_owned(),
                current: frame.chunks_exact(d).map(|x| x[1].atan2(x[0])).collect(),
                initial: Vec::new(),
                paths: Vec::new(),
                coloring: None,
                marker_color: color,
            },
        ),
        Scene::Sphere(camera) => draw_sphere_view(
            root,
            &SphereView {
                title: title.to_owned(),
                camera: *camera,
                coloring: None,
                points: frame.chunks_exact(d).map(|x| [x[0], x[1], x[2]]).collect(),
                initial_points: Vec::new(),
                point_color: color,
            },
        ),
        &Scene::Plane { x0, y0, side } => {
            let area = root.titled(title, (FONT, text_size::PANEL_TITLE).into_font())?;
            let (w, h) = area.dim_in_pixel();
            let square = w.min(h);
            let (pad_x, pad_y) = ((w - square) / 2, (h - square) / 2);
            let area = area.margin(pad_y, pad_y, pad_x, pad_x);
            let mut chart = ChartBuilder::on(&area)
                .margin(6)
                .x_label_area_size(24)
                .y_label_area_size(36)
                .build_cartesian_2d(x0..x0 + side, y0..y0 + side)?;
            chart
                .configure_mesh()
                .light_line_style(RGBColor(235, 235, 235))
                .bold_line_style(RGBColor(215, 215, 215))
                .x_labels(5)
                .y_labels(5)
                .label_style((FONT, text_size::TICK))
                .draw()?;
            chart.draw_series(
                frame
                    .chunks_exact(2)
                    .map(|p| Circle::new((p[0], p[1]), 5, color.filled())),
            )?;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A decoded GIF: screen size, and per frame (delay in hundredths of a second, RGBA pixels).
    struct Decoded {
        width: u16,
        height: u16,
        repeat: gif::Repeat,
        frames: Vec<(u16, Vec<u8>)>,
    }

    fn decode(bytes: &[u8]) -> Decoded {
        let mut options = gif::DecodeOptions::new();
        options.set_color_output(gif::ColorOutput::RGBA);
        let mut decoder = options.read_info(bytes).unwrap();
        let (width, height) = (decoder.width(), decoder.height());
        let mut frames = Vec::new();
        while let Some(frame) = decoder.read_next_frame().unwrap() {
            assert_eq!((frame.left, frame.top), (0, 0));
            assert_eq!((frame.width, frame.height), (width, height));
            frames.push((frame.delay, frame.buffer.to_vec()));
        }
        Decoded {
            width,
            height,
            repeat: decoder.repeat(),
            frames,
        }
    }

    fn scratch(tag: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("attnflow-animation-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn options(size_px: u32) -> AnimationOptions {
        AnimationOptions {
            title: "test".into(),
            size_px,
            frame_delay_ms: 80,
        }
    }

    /// Pixels of the marker colour (SERIES_COLORS[0] = (0, 114, 178), blended or not): clearly blue,
    /// unlike the white background, the grey circle, sphere and text.
    fn marker_pixels(rgba: &[u8], width: usize) -> Vec<(usize, usize)> {
        rgba.chunks_exact(4)
            .enumerate()
            .filter(|(_, p)| i32::from(p[2]) - i32::from(p[0]) > 60)
            .map(|(k, _)| (k % width, k / width))
            .collect()
    }

    fn centroid(pixels: &[(usize, usize)]) -> (f64, f64) {
        let m = pixels.len() as f64;
        (
            pixels.iter().map(|p| p.0 as f64).sum::<f64>() / m,
            pixels.iter().map(|p| p.1 as f64).sum::<f64>() / m,
        )
    }

    /// The first frame of the animation of one configuration.
    fn first_frame(n: usize, d: usize, frame: Vec<f64>, size_px: u32) -> Decoded {
        let frames = [frame];
        let trajectory = Trajectory {
            n,
            d,
            times: &[0.0],
            frames: &frames,
        };
        decode(&encode_gif(&trajectory, &options(size_px)).unwrap())
    }

    #[test]
    fn frame_count_size_delay_and_loop_are_written() {
        let frames: Vec<Vec<f64>> = (0..5)
            .map(|k| {
                let a = 0.3 * k as f64;
                vec![a.cos(), a.sin(), (-a).cos(), (-a).sin()]
            })
            .collect();
        let times = [0.0, 0.5, 1.0, 1.5, 2.0];
        let trajectory = Trajectory {
            n: 2,
            d: 2,
            times: &times,
            frames: &frames,
        };
        let dir = scratch("shape");
        let path = dir.join("sub").join("circle.gif");
        write_gif(&path, &trajectory, &options(128)).unwrap();
        let gif = decode(&std::fs::read(&path).unwrap());
        assert_eq!((gif.width, gif.height), (128, 128));
        assert_eq!(gif.frames.len(), 5);
        assert!(gif.frames.iter().all(|(delay, _)| *delay == 8));
        assert_eq!(gif.repeat, gif::Repeat::Infinite);
        // the particles move, so consecutive frames differ
        assert!(gif.frames.windows(2).all(|w| w[0].1 != w[1].1));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn delay_is_rounded_to_hundredths() {
        let frames = [vec![1.0, 0.0]];
        for (ms, cs) in [
            (10, 1),
            (14, 1),
            (15, 2),
            (80, 8),
            (MAX_FRAME_DELAY_MS, 65535),
        ] {
            let trajectory = Trajectory {
                n: 1,
                d: 2,
                times: &[0.0],
                frames: &frames,
            };
            let options = AnimationOptions {
                frame_delay_ms: ms,
                ..options(64)
            };
            let gif = decode(&encode_gif(&trajectory, &options).unwrap());
            assert_eq!(gif.frames[0].0, cs, "{ms} ms");
        }
    }

    #[test]
    fn angle_zero_is_drawn_right_of_centre_and_angle_pi_over_2_above_it() {
        let size = 200;
        let right = first_frame(1, 2, vec![1.0, 0.0], size);
        let up = first_frame(1, 2, vec![0.0, 1.0], size);
        let right_pixels = marker_pixels(&right.frames[0].1, size as usize);
        let up_pixels = marker_pixels(&up.frames[0].1, size as usize);
        assert!(!right_pixels.is_empty() && !up_pixels.is_empty());
        let (rx, ry) = centroid(&right_pixels);
        let (ux, uy) = centroid(&up_pixels);
        // angle 0: near the right edge of the circle (radius 1 of the half-width 1.2), level with the
        // circle's centre, which is the top point's column
        assert!(rx > 0.8 * f64::from(size), "{rx}");
        assert!((ux - 0.5 * f64::from(size)).abs() < 3.0, "{ux}");
        // angle pi / 2: straight above the centre (screen y grows downwards), as far from it as the
        // right-hand point is horizontally
        assert!(uy < ry - 50.0, "{uy} vs {ry}");
        assert!(
            ((ry - uy) - (rx - ux)).abs() < 3.0,
            "{} vs {}",
            ry - uy,
            rx - ux
        );
    }

    #[test]
    fn sphere_points_on_the_back_side_are_hidden() {
        let size = 200;
        let norm = SPHERE_VIEW.iter().map(|v| v * v).sum::<f64>().sqrt();
        let view: Vec<f64> = SPHERE_VIEW.iter().map(|v| v / norm).collect();
        let back: Vec<f64> = view.iter().map(|v| -v).collect();
        let front = first_frame(1, 3, view, size);
        let behind = first_frame(1, 3, back, size);
        let front_pixels = marker_pixels(&front.frames[0].1, size as usize);
        assert!(!front_pixels.is_empty());
        // the point facing the viewer is drawn at the centre of the sphere's disc
        let (fx, _) = centroid(&front_pixels);
        assert!((fx - 0.5 * f64::from(size)).abs() < 3.0, "{fx}");
        // its antipode is behind the sphere: not drawn at all
        assert!(marker_pixels(&behind.frames[0].1, size as usize).is_empty());
        assert_ne!(front.frames[0].1, behind.frames[0].1);
    }

    #[test]
    fn euclidean_plane_limits_span_the_data() {
        // far outside the unit circle: on a fixed [-1.2, 1.2] window nothing would be visible
        let size = 200;
        let gif = first_frame(2, 2, vec![-40.0, 3.0, 60.0, 3.0], size);
        let pixels = marker_pixels(&gif.frames[0].1, size as usize);
        let left = pixels.iter().filter(|p| p.0 < size as usize / 3).count();
        let right = pixels
            .iter()
            .filter(|p| p.0 > 2 * size as usize / 3)
            .count();
        assert!(left > 10 && right > 10, "{left} {right}");
        // all points coinciding, huge or nearly equal coordinates still give a window with the points
        // in it
        for frame in [
            vec![5.0, 5.0, 5.0, 5.0],
            vec![1e300, 0.0, -1e300, 0.0],
            vec![1e6, 1e6, 1e6 + 1e-9, 1e6],
        ] {
            let gif = first_frame(2, 2, frame.clone(), size);
            let pixels = marker_pixels(&gif.frames[0].1, size as usize);
            assert!(pixels.len() > 10, "{frame:?}");
            let (x, _) = centroid(&pixels);
            assert!(
                (x - 0.5 * f64::from(size)).abs() < 0.1 * f64::from(size),
                "{frame:?}: {x}"
            );
        }
    }

    #[test]
    fn same_input_gives_the_same_bytes() {
        let frames: Vec<Vec<f64>> = (0..4)
            .map(|k| {
                let a = 0.4 * k as f64;
                vec![a.cos(), a.sin(), 0.0, 0.0, a.cos(), a.sin(), 0.6, 0.0, 0.8]
            })
            .collect();
        let times = [0.0, 1.0, 2.0, 3.0];
        let trajectory = Trajectory {
            n: 3,
            d: 3,
            times: &times,
            frames: &frames,
        };
        let dir = scratch("determinism");
        let (a, b) = (dir.join("a.gif"), dir.join("b.gif"));
        write_gif(&a, &trajectory, &options(160)).unwrap();
        write_gif(&b, &trajectory, &options(160)).unwrap();
        let bytes = std::fs::read(&a).unwrap();
        assert_eq!(bytes, std::fs::read(&b).unwrap());
        assert_eq!(bytes, encode_gif(&trajectory, &options(160)).unwrap());
        assert_eq!(decode(&bytes).frames.len(), 4);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn invalid_input_is_one_clear_error_and_writes_nothing() {
        let good = vec![vec![1.0, 0.0, 0.0, 1.0]];
        let sphere = vec![vec![1.0, 0.0, 0.0]];
        let off_sphere = vec![vec![1.0, 1.0, 0.0]];
        let short = vec![vec![1.0, 0.0, 0.0]];
        let nan = vec![vec![1.0, f64::NAN, 0.0, 1.0]];
        let inf = vec![vec![1.0, 0.0, f64::INFINITY, 1.0]];
        let d4 = vec![vec![1.0, 0.0, 0.0, 0.0]];
        let huge = vec![vec![f64::MAX, 0.0, -f64::MAX, 0.0]];
        let many = vec![vec![1.0, 0.0]; 20_000];
        let many_times = vec![0.0; 20_000];
        let none: Vec<Vec<f64>> = Vec::new();
        let empty_frame = vec![Vec::new()];
        let t1 = [0.0];
        let cases: Vec<(Trajectory, AnimationOptions, &str)> = vec![
            (
                Trajectory {
                    n: 1,
                    d: 4,
                    times: &t1,
                    frames: &d4,
                },
                options(64),
                "d = 4",
            ),
            (
                Trajectory {
                    n: 4,
                    d: 1,
                    times: &t1,
                    frames: &good,
                },
                options(64),
                "d = 1",
            ),
            (
                Trajectory {
                    n: 0,
                    d: 2,
                    times: &t1,
                    frames: &empty_frame,
                },
                options(64),
                "n = 0",
            ),
            (
                Trajectory {
                    n: 2,
                    d: 2,
                    times: &[],
                    frames: &none,
                },
                options(64),
                "no frames",
            ),
            (
                Trajectory {
                    n: 2,
                    d: 2,
                    times: &[0.0, 1.0],
                    frames: &good,
                },
                options(64),
                "1 frames but 2 times",
            ),
            (
                Trajectory {
                    n: 2,
                    d: 2,
                    times: &t1,
                    frames: &short,
                },
                options(64),
                "frame 0 has 3 coordinates",
            ),
            (
                Trajectory {
                    n: 2,
                    d: 2,
                    times: &t1,
                    frames: &nan,
                },
                options(64),
                "particle 0: coordinate 1 is not finite",
            ),
            (
                Trajectory {
                    n: 2,
                    d: 2,
                    times: &t1,
                    frames: &inf,
                },
                options(64),
                "particle 1: coordinate 0 is not finite",
            ),
            (
                Trajectory {
                    n: 2,
                    d: 2,
                    times: &[f64::NAN],
                    frames: &good,
                },
                options(64),
                "time 0 is not finite",
            ),
            (
                Trajectory {
                    n: 1,
                    d: 3,
                    times: &t1,
                    frames: &off_sphere,
                },
                options(64),
                "unit sphere",
            ),
            (
                Trajectory {
                    n: 2,
                    d: 2,
                    times: &t1,
                    frames: &huge,
                },
                options(64),
                "too large to draw",
            ),
            (
                Trajectory {
                    n: 1,
                    d: 3,
                    times: &t1,
                    frames: &sphere,
                },
                options(63),
                "size_px = 63",
            ),
            (
                Trajectory {
                    n: 1,
                    d: 3,
                    times: &t1,
                    frames: &sphere,
                },
                options(4097),
                "size_px = 4097",
            ),
            (
                Trajectory {
                    n: 1,
                    d: 3,
                    times: &t1,
                    frames: &sphere,
                },
                AnimationOptions {
                    frame_delay_ms: 9,
                    ..options(64)
                },
                "frame_delay_ms = 9",
            ),
            (
                Trajectory {
                    n: 1,
                    d: 3,
                    times: &t1,
                    frames: &sphere,
                },
                AnimationOptions {
                    frame_delay_ms: MAX_FRAME_DELAY_MS + 1,
                    ..options(64)
                },
                "frame_delay_ms = 655351",
            ),
            (
                Trajectory {
                    n: 1,
                    d: 2,
                    times: &many_times,
                    frames: &many,
                },
                options(256),
                "exceed the limit",
            ),
            (
                Trajectory {
                    n: usize::MAX,
                    d: 2,
                    times: &t1,
                    frames: &good,
                },
                options(64),
                "overflow",
            ),
        ];
        let dir = scratch("errors");
        let path = dir.join("never.gif");
        for (trajectory, options, expected) in &cases {
            match write_gif(&path, trajectory, options) {
                Err(FigureError::InvalidParams(message)) => {
                    assert!(message.contains(expected), "{expected}: {message}");
                    assert!(!message.contains('\n'), "{message}");
                }
                other => panic!("{expected}: {other:?}"),
            }
        }
        assert!(!dir.exists());
    }

    #[test]
    fn smallest_and_nearly_unit_frames_render() {
        // norms within the tolerance count as the circle / sphere
        let frames = [vec![1.0 + 1e-9, 0.0, 0.0, 1.0 - 1e-9]];
        let trajectory = Trajectory {
            n: 2,
            d: 2,
            times: &[0.0],
            frames: &frames,
        };
        assert!(matches!(
            validate(&trajectory, &options(MIN_SIZE_PX)).unwrap(),
            Scene::Circle
        ));
        let gif = decode(&encode_gif(&trajectory, &options(MIN_SIZE_PX)).unwrap());
        assert_eq!((gif.width, gif.height), (64, 64));
        let sphere = [vec![0.0, 0.0, 1.0]];
        let trajectory = Trajectory {
            n: 1,
            d: 3,
            times: &[0.0],
            frames: &sphere,
        };
        assert_eq!(
            decode(&encode_gif(&trajectory, &options(MIN_SIZE_PX)).unwrap())
                .frames
                .len(),
            1
        );
    }

    #[test]
    fn frame_titles_carry_the_time() {
        assert_eq!(frame_title("", 1.0), "t = 1.00");
        assert_eq!(frame_title("SA on S^2", 12.345), "SA on S^2, t = 12.35");
    }
}
