//! Single precision (f32) for the phase diagrams of \[GLPR\] Figures 3 and 5: the same statistic
//! ([`crate::ensemble`]) with every realisation integrated in f32, the paper's Euler step and
//! renormalisation (\[GLPR\] (2.6), the authors' scheme with eta = dt):
//!
//! ```text
//! x_i <- (x_i + dt v_i) / |x_i + dt v_i|,   v_i^T = sum_j A_ij x_j^T V,
//! A_ij = e^{beta x_i^T B x_j} / Z_i   (SA: Z_i = sum_k e^{beta x_i^T B x_k};  USA: Z_i = n)
//! ```
//!
//! with (B = Q^T K, V) from [`MatrixEnsemble`] (B = V = I for the identity ensemble), V applied to
//! row vectors as in the authors' code ([`WeightDraw::value_applied`] is V^T: the velocity V^T y_i
//! is the row y_i^T V).
//!
//! f64 ([`Precision::F64`]) is the default and the reference; f32 doubles the SIMD lanes of the
//! products that bound \[GLPR\] Figure 5 at paper fidelity.
//!
//! **Same draws.** A realisation samples exactly as the f64 path, in f64 and from the same named
//! streams (`sampling::stream(seed, index, Purpose::InitialCondition)` for the start,
//! `Purpose::Matrices` for (B, V)), then rounds every coordinate and matrix entry to f32 (round to
//! nearest). f32 and f64 therefore integrate the same realisations and their phase diagrams differ
//! only by the round-off of the integration (tested cell by cell against the f64 diagram).
//!
//! **The statistic.** At the checkpoints the Gram matrix is computed in f32 and a pair counts when
//! <x_i, x_j> > 1 - delta, with 1 - delta rounded to f32. f32 resolves delta = 1e-3: its spacing
//! just below 1 is 2^-24 = 6e-8, so 1 - delta is held to 3e-8 (3e-5 of delta), and an f32 Gram
//! entry of unit vectors in d = 128 is within ~1e-6 (the bound of a 128-term fused dot product,
//! ~128 x 6e-8 = 8e-6, at worst) of the exact one: only pairs whose inner product lies within that
//! band (about 1e-3 of delta) of the threshold can be counted differently from f64. The counts go
//! into the ensemble's integer tallies, and [`crate::ensemble::finish_phase_diagram`] (the code of
//! the f64 path) turns them into probabilities.
//!
//! **No consensus exit in f32.** The f64 path stops a realisation of the identity ensemble once it
//! is provably locked in consensus ([`crate::ensemble::consensus_locked`]); its proof needs the
//! round-off of the remaining steps to stay below a margin of 1e-9, which f32 (round-off ~1e-7 per
//! step) does not meet. f32 integrates every step (the spec's `consensus_exit` is ignored).
//!
//! **Determinism.** The products are register-tiled with a fixed chain of fused multiply-adds per
//! output (`f32::mul_add`, summation index ascending from 0), vectorised across independent
//! outputs only, and compiled through [`crate::simd_dispatch!`]: the same bits on AVX-512, AVX2 and
//! the portable build and for any thread count. The exponential is [`exp_f32`].
//!
//! Supported: the paper-euler integrator (every model and ensemble of the f64 path, full or reduced
//! representation); anything else is a typed error.

use crate::ensemble::{PhaseDiagramSpec, Tally, checkpoint_counts, initial_condition};
use crate::error::{DynamicsError, Result, invalid};
use crate::integrate::IntegratorKind;
use crate::model::ModelKind;
use crate::sampling::{Purpose, stream};
use crate::solver::Observer;
use crate::{MatrixEnsemble, WeightDraw};
use serde::{Deserialize, Serialize};

/// Floating-point precision of a phase diagram's integration: `"f64"` (the default and the
/// reference) or `"f32"` ([`crate::precision`]). With the cargo feature `clap`, a
/// `clap::ValueEnum`.
///
/// ```
/// use attnflow_dynamics::Precision;
/// assert_eq!(Precision::default(), Precision::F64);
/// assert_eq!(serde_json::to_string(&Precision::F32).unwrap(), "\"f32\"");
/// let p: Precision = serde_json::from_str("\"f64\"").unwrap();
/// assert!(p.is_f64());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// Double precision (the reference).
    #[default]
    F64,
    /// Single precision (the paper-euler integrator only).
    F32,
}

impl Precision {
    /// True for the default, [`Precision::F64`] (records skip the field then).
    pub fn is_f64(&self) -> bool {
        *self == Precision::F64
    }

    /// Lower-case name ("f64" / "f32"), as serialised.
    pub fn name(self) -> &'static str {
        match self {
            Precision::F64 => "f64",
            Precision::F32 => "f32",
        }
    }
}

/// Whether `spec` can run in its precision: f32 needs the paper-euler integrator.
pub(crate) fn check_supported(spec: &PhaseDiagramSpec) -> Result<()> {
    if spec.precision == Precision::F32 && spec.integrator != IntegratorKind::PaperEuler {
        return Err(invalid(
            "precision",
            format!(
                "--precision f32 supports the paper-euler integrator only, not {}; use --precision f64",
                spec.integrator.name()
            ),
        ));
    }
    Ok(())
}

/// Runs realisation `index` (inverse temperature `beta`) of `spec` in f32 and adds its counts to
/// `tally`: the same draws, checkpoints and tally as the f64 path.
pub(crate) fn run_realisation(
    spec: &PhaseDiagramSpec,
    beta: f64,
    index: u64,
    ck_at_step: &[Vec<usize>],
    tally: &mut Tally,
) -> Result<()> {
    let x0 = initial_condition(spec, index)?;
    let draw = spec
        .matrices
        .draw(spec.d, &mut stream(spec.seed, index, Purpose::Matrices))?;
    let weights = Weights32::of(spec.matrices, draw.as_ref(), x0.d())?;
    let mut euler = PaperEuler32::new(x0.n(), x0.d(), beta, spec.model, weights, x0.as_slice())?;
    let steps = spec.steps();
    let mut observer = checkpoint_counts(spec, ck_at_step, tally);
    observer.tally.realizations += 1;
    let threshold = (1.0 - spec.delta) as f32;
    let (h, n) = (spec.dt as f32, x0.n());
    for k in 1..=steps {
        if crate::interrupt::requested() {
            return Err(DynamicsError::Interrupted);
        }
        euler.step(h)?;
        if observer.wants(k) {
            let gram = euler.gram();
            observer.record(
                k,
                pairs_above_f32(gram, n, threshold),
                u64::from(gram[1] > threshold),
            );
        }
    }
    observer.tally.steps += steps as u64;
    Ok(())
}

/// Ordered pairs i != j with `gram[i n + j] > threshold` (the f32 Gram matrix is symmetric bit for
/// bit: both entries are the same chain of fused multiply-adds).
fn pairs_above_f32(gram: &[f32], n: usize, threshold: f32) -> u64 {
    let mut count = 0u64;
    for (i, row) in gram[..n * n].chunks_exact(n).enumerate() {
        count += row
            .iter()
            .enumerate()
            .filter(|&(j, &g)| j != i && g > threshold)
            .count() as u64;
    }
    count
}

/// The weight matrices of one realisation in f32 (each entry of the f64 draw rounded once).
#[derive(Debug, Clone)]
pub(crate) enum Weights32 {
    /// B = V = I.
    Identity,
    /// B and the row-vector value map V (velocity row y_i^T V), both row-major d x d.
    General { b: Vec<f32>, v: Vec<f32> },
    /// V = c B ([`MatrixEnsemble::value_factor`]): velocity row c y_i^T B = c sum_j A_ij (x_j^T B),
    /// from the rows X B that the logits need anyway (as the f64 path).
    SharedProduct { b: Vec<f32>, c: f32 },
}

impl Weights32 {
    /// The f32 weights of a draw of `ensemble` (`None` for the identity), on `dim` coordinates.
    pub(crate) fn of(
        ensemble: MatrixEnsemble,
        draw: Option<&WeightDraw>,
        dim: usize,
    ) -> Result<Self> {
        let round = |m: &crate::SquareMatrix| m.as_slice().iter().map(|&v| v as f32).collect();
        let Some(draw) = draw else {
            return Ok(Weights32::Identity);
        };
        if draw.interaction.dim() != dim {
            return Err(invalid(
                "representation",
                "random weight matrices need the full representation",
            ));
        }
        Ok(match ensemble.value_factor(dim) {
            Some(c) => Weights32::SharedProduct {
                b: round(&draw.interaction),
                c: c as f32,
            },
            // the applied value matrix is V^T (velocity V^T y_i), i.e. the row y_i^T V: the
            // product Y V with V = (V^T)^T row-major
            None => Weights32::General {
                b: round(&draw.interaction),
                v: round(&draw.value_applied().transpose()),
            },
        })
    }
}

/// The paper's Euler step in f32 on one configuration of n points in R^d (row-major X and its
/// transpose X^T), with its scratch buffers.
#[derive(Debug, Clone)]
pub(crate) struct PaperEuler32 {
    n: usize,
    d: usize,
    beta: f32,
    model: ModelKind,
    weights: Weights32,
    /// X (n x d), row-major.
    x: Vec<f32>,
    /// X^T (d x n).
    xt: Vec<f32>,
    /// X B (n x d).
    projected: Vec<f32>,
    /// Logits, then the weights A (n x n).
    attention: Vec<f32>,
    /// sum_j A_ij x_j (or (X B)_j) (n x d).
    average: Vec<f32>,
    /// The velocity rows (n x d).
    velocity: Vec<f32>,
    /// Gram matrix X X^T of the current state, valid when `gram_valid`.
    gram: Vec<f32>,
    gram_valid: bool,
    /// Column norms of X^T.
    norms: Vec<f32>,
}

impl PaperEuler32 {
    /// The state `x0` (row-major n x d, f64) rounded to f32, for inverse temperature `beta`.
    pub(crate) fn new(
        n: usize,
        d: usize,
        beta: f64,
        model: ModelKind,
        weights: Weights32,
        x0: &[f64],
    ) -> Result<Self> {
        crate::validate::check_state_len("x", x0.len(), n, d)?;
        let x: Vec<f32> = x0.iter().map(|&v| v as f32).collect();
        let mut xt = vec![0.0; n * d];
        transpose(&x, n, d, &mut xt);
        Ok(Self {
            n,
            d,
            beta: beta as f32,
            model,
            weights,
            x,
            xt,
            projected: vec![0.0; n * d],
            attention: vec![0.0; n * n],
            average: vec![0.0; n * d],
            velocity: vec![0.0; n * d],
            gram: vec![0.0; n * n],
            gram_valid: false,
            norms: vec![0.0; n],
        })
    }

    /// One paper-Euler step of size `h`.
    pub(crate) fn step(&mut self, h: f32) -> Result<()> {
        crate::simd_dispatch!(euler_step(self, h))
    }

    /// The Gram matrix X X^T of the current state (n x n, row-major).
    pub(crate) fn gram(&mut self) -> &[f32] {
        if !self.gram_valid {
            crate::simd_dispatch!(gram_of(self));
        }
        &self.gram
    }

    /// The current state, row-major n x d.
    #[cfg(test)]
    pub(crate) fn state(&self) -> &[f32] {
        &self.x
    }
}

#[inline(always)]
fn gram_of(s: &mut PaperEuler32) {
    matmul(&s.x, &s.xt, s.n, s.d, s.n, &mut s.gram);
    s.gram_valid = true;
}

/// The step of [`PaperEuler32::step`], compiled per instruction set by [`crate::simd_dispatch!`].
#[inline(always)]
fn euler_step(s: &mut PaperEuler32, h: f32) -> Result<()> {
    let (n, d) = (s.n, s.d);
    // logits x_i^T B x_j
    match &s.weights {
        Weights32::Identity => {
            if !s.gram_valid {
                gram_of(s);
            }
            s.attention.copy_from_slice(&s.gram);
        }
        Weights32::General { b, .. } | Weights32::SharedProduct { b, .. } => {
            matmul(&s.x, b, n, d, d, &mut s.projected);
            matmul(&s.projected, &s.xt, n, d, n, &mut s.attention);
        }
    }
    s.gram_valid = false;
    // the weights A_ij, row by row shifted by the row maximum m_i
    let factor = match s.weights {
        Weights32::SharedProduct { c, .. } => c,
        _ => 1.0,
    };
    let beta = s.beta;
    for (i, row) in s.attention.chunks_exact_mut(n).enumerate() {
        let m = row
            .iter()
            .fold(f32::NEG_INFINITY, |m, &l| if l > m { l } else { m });
        if !m.is_finite() {
            return Err(DynamicsError::InvalidConfiguration(format!(
                "non-finite logits in row {i}"
            )));
        }
        row.iter_mut().for_each(|l| *l = exp_f32(beta * (*l - m)));
        let scale = match s.model {
            ModelKind::Sa => 1.0 / row.iter().fold(0.0f32, |z, &e| z + e),
            ModelKind::Usa => usa_factor(beta, m, n)?,
        } * factor;
        row.iter_mut().for_each(|a| *a *= scale);
    }
    // the velocity rows
    match &s.weights {
        Weights32::Identity => matmul(&s.attention, &s.x, n, n, d, &mut s.velocity),
        Weights32::SharedProduct { .. } => {
            matmul(&s.attention, &s.projected, n, n, d, &mut s.velocity)
        }
        Weights32::General { v, .. } => {
            matmul(&s.attention, &s.x, n, n, d, &mut s.average);
            matmul(&s.average, v, n, d, d, &mut s.velocity);
        }
    }
    // x <- x + h v, then every point back on the sphere
    s.x.iter_mut()
        .zip(&s.velocity)
        .for_each(|(x, v)| *x = h.mul_add(*v, *x));
    transpose(&s.x, n, d, &mut s.xt);
    s.norms.fill(0.0);
    for column in s.xt.chunks_exact(n) {
        s.norms
            .iter_mut()
            .zip(column)
            .for_each(|(q, &v)| *q = v.mul_add(v, *q));
    }
    s.norms.iter_mut().for_each(|q| *q = q.sqrt());
    if let Some(i) = s.norms.iter().position(|q| !(q.is_finite() && *q > 0.0)) {
        return Err(DynamicsError::InvalidConfiguration(format!(
            "point {i} has norm {} after an f32 Euler step",
            s.norms[i]
        )));
    }
    for column in s.xt.chunks_exact_mut(n) {
        column.iter_mut().zip(&s.norms).for_each(|(v, q)| *v /= *q);
    }
    for (row, q) in s.x.chunks_exact_mut(d).zip(&s.norms) {
        row.iter_mut().for_each(|v| *v /= *q);
    }
    Ok(())
}

/// The (USA) factor e^{beta m} / n that undoes the row shift, computed in f64 and rounded, or an
/// error when it does not fit in an f32.
fn usa_factor(beta: f32, m: f32, n: usize) -> Result<f32> {
    let exponent = f64::from(beta) * f64::from(m);
    let factor = (crate::exp::exp(exponent.min(709.0)) / n as f64) as f32;
    if exponent > 709.0 || !factor.is_finite() {
        return Err(invalid(
            "precision",
            format!(
                "USA weights overflow f32: beta * max <x_i, x_j> = {exponent:.1} > 88; use --precision f64 or the softmax (SA) model"
            ),
        ));
    }
    Ok(factor)
}

/// X^T (d x n) of X (n x d).
#[inline(always)]
fn transpose(x: &[f32], n: usize, d: usize, xt: &mut [f32]) {
    for (i, row) in x[..n * d].chunks_exact(d).enumerate() {
        for (k, &v) in row.iter().enumerate() {
            xt[k * n + i] = v;
        }
    }
}

/// Rows of a register tile.
const TILE_ROWS: usize = 4;
/// Columns of a register tile (two AVX-512 vectors of f32).
const TILE_COLS: usize = 32;

/// `c = a b` with a (m x k), b (k x p), c (m x p), all row-major. Every entry is the chain
/// `acc <- a_il * b_lj + acc` (one fused multiply-add each, l = 0, 1, ..., k - 1, from acc = 0),
/// whatever the tile it falls in: the same bits on every instruction set. Tiles of
/// [`TILE_ROWS`] x [`TILE_COLS`] accumulators, column panels of b reused from L1 across row tiles.
#[inline(always)]
fn matmul(a: &[f32], b: &[f32], m: usize, k: usize, p: usize, c: &mut [f32]) {
    let (a, b, c) = (&a[..m * k], &b[..k * p], &mut c[..m * p]);
    let full_cols = p / TILE_COLS * TILE_COLS;
    let full_rows = m / TILE_ROWS * TILE_ROWS;
    for j0 in (0..full_cols).step_by(TILE_COLS) {
        for i0 in (0..full_rows).step_by(TILE_ROWS) {
            tile::<TILE_ROWS>(a, b, k, p, i0, j0, c);
        }
        for i0 in full_rows..m {
            tile::<1>(a, b, k, p, i0, j0, c);
        }
    }
    if full_cols < p {
        for i in 0..m {
            let row = &a[i * k..(i + 1) * k];
            for j in full_cols..p {
                let mut acc = 0.0f32;
                for (l, &x) in row.iter().enumerate() {
                    acc = x.mul_add(b[l * p + j], acc);
                }
                c[i * p + j] = acc;
            }
        }
    }
}

/// One R x [`TILE_COLS`] tile of [`matmul`] at rows i0.., columns j0...
#[inline(always)]
fn tile<const R: usize>(
    a: &[f32],
    b: &[f32],
    k: usize,
    p: usize,
    i0: usize,
    j0: usize,
    c: &mut [f32],
) {
    let mut acc = [[0.0f32; TILE_COLS]; R];
    let rows: [&[f32]; R] = std::array::from_fn(|r| &a[(i0 + r) * k..(i0 + r + 1) * k]);
    for l in 0..k {
        let panel: &[f32; TILE_COLS] = b[l * p + j0..l * p + j0 + TILE_COLS]
            .try_into()
            .expect("a panel row has TILE_COLS entries");
        for r in 0..R {
            let x = rows[r][l];
            acc[r]
                .iter_mut()
                .zip(panel)
                .for_each(|(acc, &y)| *acc = x.mul_add(y, *acc));
        }
    }
    for (r, acc) in acc.iter().enumerate() {
        c[(i0 + r) * p + j0..(i0 + r) * p + j0 + TILE_COLS].copy_from_slice(acc);
    }
}

/// Below this argument [`exp_f32`] returns 0: -126.5 ln 2 (exp there is below the smallest normal
/// f32, 1.2e-38, and adds nothing to a row sum that contains e^0 = 1).
const EXP_MIN_ARG: f32 = -87.683_55;
/// Above this argument [`exp_f32`] returns +inf: 127.5 ln 2 (the scale 2^n would overflow; the
/// weights only ever take arguments <= 0).
const EXP_MAX_ARG: f32 = 88.376_26;

/// e^x in f32, faithful (within 1 ulp by construction, <= 2 ulp tested against f64 `exp`) for
/// results in the normal range, branch-free so that it vectorises: x = n ln 2 + r with
/// n = round(x / ln 2) (round to nearest even by the 1.5 2^23 shifter), r by Cody-Waite in two
/// fused steps (ln 2 = 0.693145751953125 + 1.4286068e-6), e^r by its Taylor polynomial of degree 7
/// in Horner form (truncation < 5.3e-9 relative for |r| <= ln 2 / 2), scaled by 2^n through the
/// exponent bits. Results below 2^-126 come out subnormal (multiplied, so rounded once) down to
/// x = -126.5 ln 2, and 0 below; +inf above 127.5 ln 2; NaN stays NaN.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    const SHIFTER: f32 = 12_582_912.0; // 1.5 * 2^23
    const LN2_HI: f32 = 0.693_145_75; // 0x3f317200
    const LN2_LO: f32 = 1.428_606_8e-6; // 0x35bfbe8e
    let xc = x.clamp(EXP_MIN_ARG, EXP_MAX_ARG);
    let t = xc.mul_add(std::f32::consts::LOG2_E, SHIFTER);
    let nf = t - SHIFTER;
    let n = (t.to_bits() as i32).wrapping_sub(0x4b40_0000);
    let r = (-nf).mul_add(LN2_HI, xc);
    let r = (-nf).mul_add(LN2_LO, r);
    let mut p = 1.0 / 5040.0f32;
    p = p.mul_add(r, 1.0 / 720.0);
    p = p.mul_add(r, 1.0 / 120.0);
    p = p.mul_add(r, 1.0 / 24.0);
    p = p.mul_add(r, 1.0 / 6.0);
    p = p.mul_add(r, 0.5);
    p = p.mul_add(r, 1.0);
    p = p.mul_add(r, 1.0);
    let scale = f32::from_bits((n.wrapping_add(127) as u32) << 23);
    let y = p * scale;
    if x < EXP_MIN_ARG {
        0.0
    } else if x > EXP_MAX_ARG {
        f32::INFINITY
    } else {
        y
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrate::Integrator as _;
    use crate::model::SelfAttention;
    use crate::sampling::uniform_sphere;

    /// Distance in units in the last place of the f32 nearest to `exact` (normal range).
    fn ulps(got: f32, exact: f64) -> f64 {
        let e = exact as f32;
        let ulp = f64::from(f32::from_bits(e.to_bits() + 1) - e);
        (f64::from(got) - exact).abs() / ulp
    }

    #[test]
    fn exp_f32_is_within_two_ulp_of_f64_exp() {
        // the range the weights use (x <= 0, results normal), and the positive side
        let mut worst: f64 = 0.0;
        let (lo, hi, count) = (-87.3f64, 88.3f64, 2_000_000);
        for k in 0..=count {
            let x = (lo + (hi - lo) * k as f64 / count as f64) as f32;
            let err = ulps(exp_f32(x), f64::from(x).exp());
            worst = worst.max(err);
        }
        // and near 0, where r is tiny
        for k in -100_000..=100_000 {
            let x = k as f32 * 1e-6;
            worst = worst.max(ulps(exp_f32(x), f64::from(x).exp()));
        }
        assert!(worst <= 2.0, "worst error {worst} ulp");
        eprintln!("exp_f32: worst error {worst:.3} ulp");
        assert_eq!(exp_f32(0.0), 1.0);
        assert_eq!(exp_f32(-100.0), 0.0);
        assert_eq!(exp_f32(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp_f32(100.0), f32::INFINITY);
        assert!(exp_f32(f32::NAN).is_nan());
    }

    #[test]
    fn matmul_tiles_match_the_plain_chain_bit_for_bit() {
        // shapes with full tiles, remainder rows and remainder columns
        for (m, k, p) in [(4, 3, 32), (9, 7, 70), (32, 128, 32), (5, 1, 33)] {
            let a: Vec<f32> = (0..m * k)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0)
                .collect();
            let b: Vec<f32> = (0..k * p)
                .map(|i| ((i * 53 % 97) as f32 - 48.0) / 9.0)
                .collect();
            let mut c = vec![0.0; m * p];
            matmul(&a, &b, m, k, p, &mut c);
            for i in 0..m {
                for j in 0..p {
                    let want =
                        (0..k).fold(0.0f32, |acc, l| a[i * k + l].mul_add(b[l * p + j], acc));
                    assert_eq!(
                        c[i * p + j].to_bits(),
                        want.to_bits(),
                        "{m}x{k}x{p} at ({i}, {j})"
                    );
                }
            }
        }
    }

    /// One f32 step against one f64 step of the engine (the same draw, rounded) for every
    /// ensemble and both models: they agree to the f32 round-off (~1e-6).
    #[test]
    fn one_f32_step_agrees_with_the_f64_step() {
        let (n, d, h) = (12, 16, 0.1);
        for ensemble in [
            MatrixEnsemble::Identity,
            MatrixEnsemble::Ginibre,
            MatrixEnsemble::WignerPsd,
            MatrixEnsemble::GinibreGf,
            MatrixEnsemble::WignerGf,
        ] {
            for (model, beta) in [(ModelKind::Sa, 3.0), (ModelKind::Usa, 1.5)] {
                let x0 =
                    uniform_sphere(n, d, &mut stream(5, 2, Purpose::InitialCondition)).unwrap();
                let draw = ensemble
                    .draw(d, &mut stream(5, 2, Purpose::Matrices))
                    .unwrap();
                let field = match &draw {
                    None => SelfAttention::general(beta, None, crate::Value::Identity, model),
                    Some(w) => SelfAttention::multi_head(beta, vec![w.head(ensemble)], model),
                }
                .unwrap();
                let mut x64 = x0.as_slice().to_vec();
                crate::integrate::PaperEuler::default()
                    .step(&field, &mut x64, n, d, h)
                    .unwrap();
                let weights = Weights32::of(ensemble, draw.as_ref(), d).unwrap();
                let mut euler =
                    PaperEuler32::new(n, d, beta, model, weights, x0.as_slice()).unwrap();
                euler.step(h as f32).unwrap();
                let moved = x64
                    .iter()
                    .zip(x0.as_slice())
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0, f64::max);
                let gap = euler
                    .state()
                    .iter()
                    .zip(&x64)
                    .map(|(a, b)| (f64::from(*a) - b).abs())
                    .fold(0.0, f64::max);
                assert!(
                    moved > 1e-3,
                    "{ensemble:?} {model:?}: the step moved only {moved}"
                );
                assert!(
                    gap < 2e-6,
                    "{ensemble:?} {model:?}: f32 and f64 steps differ by {gap}"
                );
                // and the f32 Gram matrix of the new state against the f64 one
                let g64 = crate::Configuration::euclidean(n, d, x64).unwrap().gram();
                let g32 = euler.gram().to_vec();
                let ggap = g32
                    .iter()
                    .zip(&g64)
                    .map(|(a, b)| (f64::from(*a) - b).abs())
                    .fold(0.0, f64::max);
                assert!(
                    ggap < 4e-6,
                    "{ensemble:?} {model:?}: Gram matrices differ by {ggap}"
                );
            }
        }
    }

    #[test]
    fn f32_counts_pairs_strictly_above_the_threshold() {
        let gram = [1.0, 0.9995, 0.5, 0.9995, 1.0, 0.999, 0.5, 0.999, 1.0f32];
        assert_eq!(pairs_above_f32(&gram, 3, (1.0 - 1e-3f64) as f32), 2);
        assert_eq!(pairs_above_f32(&gram, 3, 0.4), 6);
    }
}
