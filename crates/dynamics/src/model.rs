//! Self-attention dynamics as a vector field on (S^{d-1})^n, \[GLPR\] (2.3)-(2.7) and (9.1):
//!
//! ```text
//! xdot_i = P_{x_i}( sum_h sum_j A^h_ij V_h x_j ),   A^h_ij = w_ij / N_i,   w_ij = exp(beta x_i^T B_h x_j)
//! ```
//!
//! with P_x y = y - <x, y> x, B_h = Q_h^T K_h, and the normalisation N_i = Z_i = sum_k w_ik (softmax,
//! model (SA)) or N_i = n (model (USA)). Special cases: (SA) Q = K = V = I_d \[GLPR\] (2.6); (USA);
//! beta = 0; repulsive V = -I_d; multi-head (2.7); pure attention in R^d without projection (9.1);
//! the causal mask of \[beyond\] item 5 (sum over j <= i).
//!
//! Pair weights ([`Mask::Weighted`]): with non-negative weights w_ij given per pair,
//!
//! ```text
//! A_ij = w_ij exp(beta x_i^T B x_j) / N_i,   N_i = sum_k w_ik exp(beta x_i^T B x_k) (SA) or n (USA)
//! ```
//!
//! so w_ij = 1 is the unmasked model and w_ij = 1[j <= i] the causal mask. ALiBi (Press, Smith and
//! Lewis 2022, "Train short, test long: attention with linear biases enables input length
//! extrapolation") adds the bias -m |i - j| to the logits, i.e. w_ij = exp(-m |i - j|)
//! ([`PairWeights::alibi`]), or in its causal form w_ij = exp(-m (i - j)) for j <= i and 0 otherwise
//! ([`PairWeights::causal_alibi`]).
//!
//! Numerics: every weight is computed shifted, as exp(beta (L_ij - m)) with L_ij = x_i^T B x_j, so the
//! softmax never overflows for any beta >= 0. For B = I without mask the shift is one common
//! m = max_i |x_i|^2 (>= every L_ij by Cauchy-Schwarz), which keeps the weights symmetric: one
//! exponential per unordered pair ([`kernel::symmetric_weights`]); otherwise, or when the norms are
//! too uneven for a common shift, it is the row maximum m_i = max_j L_ij. The USA weights are
//! multiplied back by e^{beta m} / n; when beta m > 709 that factor does not exist in f64 and the
//! evaluation fails with [`DynamicsError::WeightOverflow`] instead of producing inf or NaN.
//!
//! Memory: the evaluation above forms the logits and weights as n x n matrices. For n above
//! [`crate::streaming::DENSE_MAX_N`] (2048: 32 MiB per matrix) the field evaluates the same sums
//! tile by tile with an online softmax instead, in O(n d) memory ([`crate::streaming`]; not with
//! pair weights, which are an n x n matrix themselves); [`SelfAttentionBuilder::evaluation`]
//! forces either path ([`SelfAttention::streams`] tells which one n particles take).

use crate::error::{DynamicsError, Result, invalid};
use crate::kernel::{self, AlignedBuf, Scale};
use crate::matrix::SquareMatrix;
use crate::validate;

/// Where the particles live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Geometry {
    /// On S^{d-1}: the drift is projected onto the tangent space, integrators renormalise.
    Sphere,
    /// In R^d: model (9.1), no projection.
    Euclidean,
}

/// How the attention weights of a row are normalised: the softmax model (SA), A_ij = e^{beta
/// x_i^T B x_j} / Z_i with Z_i = sum_k e^{beta x_i^T B x_k} (\[GLPR\] (2.6)), or the unnormalised
/// model (USA), A_ij = e^{beta x_i^T B x_j} / n. Written "sa" / "usa" in specs, records and on the
/// command line (with the cargo feature `clap`, a `clap::ValueEnum`).
///
/// ```
/// use attnflow_dynamics::ModelKind;
/// assert_eq!(ModelKind::Usa.name(), "usa");
/// assert_eq!(serde_json::to_string(&ModelKind::Sa).unwrap(), "\"sa\"");
/// let usa: ModelKind = serde_json::from_str("\"usa\"").unwrap();
/// assert_eq!(usa, ModelKind::Usa);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    /// Softmax self-attention (SA): weights divided by Z_i; equiangular ODE (6.9).
    Sa,
    /// Unnormalised self-attention (USA): weights divided by n; equiangular ODE (6.10).
    Usa,
}

impl ModelKind {
    /// Lower-case name ("sa" / "usa"), as serialised.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Sa => "sa",
            ModelKind::Usa => "usa",
        }
    }
}

/// Where layer normalisation sits, as a field on directions and radii (Karagodin, Ge, Polyanskiy and
/// Rigollet, "Normalization in attention dynamics", arXiv 2510.22026). Write x_i = r_i th_i with
/// |th_i| = 1 and A_i(Theta) = sum_h sum_j A^h_ij V_h th_j the attention output computed from the
/// directions alone; every scheme moves the directions by
///
/// ```text
/// th_i' = (1 / s_i) P_{th_i} A_i(Theta)
/// ```
///
/// with its own speed factor s_i:
///
/// * Post-LN (x <- LN(x + Attn(x))): s_i = 1, the state stays on the sphere; this is \[GLPR\] (2.3),
///   (SA) / (USA).
/// * Pre-LN (x <- x + Attn(LN(x))): x_i' = A_i(Theta) in R^d, hence r_i' = <th_i, A_i> and
///   s_i = r_i. The state carries the radii: it lives in R^d and the field reads th_i = x_i / |x_i|.
/// * Peri-LN (x <- x + LN(Attn(LN(x))), Kim et al. 2025): x_i' = A_i / |A_i|, unit speed in R^d,
///   hence r_i' = <th_i, A_i> / |A_i| and s_i = r_i |A_i|. State in R^d as for Pre-LN.
/// * nGPT (x <- LN(x + alpha (LN(Attn(x)) - x)), Loshchilov et al. 2024) with one scalar step
///   alpha = 1: on the sphere, th_i' = P_{th_i} A_i / |A_i|, i.e. s_i = |A_i|. (The published nGPT
///   learns a per-coordinate alpha, which is a diagonal matrix, not a speed: only the scalar case
///   is a normalisation of this form.)
///
/// Peri-LN and nGPT need A_i != 0 (an error otherwise); Pre-LN and Peri-LN need x_i != 0.
/// Written "post-ln" / "pre-ln" / "peri-ln" / "ngpt" in specs and on the command line.
///
/// ```
/// use attnflow_dynamics::{Normalization, SelfAttention, VectorField};
/// // Pre-LN: the drift is the attention output of the directions, whatever the radii
/// let pre = SelfAttention::builder().beta(1.0).normalization(Normalization::PreLn).build()?;
/// let (mut a, mut b) = ([0.0; 4], [0.0; 4]);
/// pre.velocity(&[2.0, 0.0, 0.0, 3.0], 2, 2, &mut a)?;
/// pre.velocity(&[1.0, 0.0, 0.0, 1.0], 2, 2, &mut b)?;
/// assert_eq!(a, b);
/// assert_eq!(serde_json::to_string(&Normalization::PeriLn).unwrap(), "\"peri-ln\"");
/// # Ok::<(), attnflow_dynamics::DynamicsError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum Normalization {
    /// Post-LN: s_i = 1, on the sphere (the model of GLPR (2.3)).
    #[default]
    PostLn,
    /// Pre-LN: x_i' = A_i(x / |x|) in R^d, s_i = r_i, r_i' = <th_i, A_i>.
    PreLn,
    /// Peri-LN: x_i' = A_i / |A_i| in R^d (unit speed), s_i = r_i |A_i|.
    PeriLn,
    /// nGPT with scalar step 1: th_i' = P_{th_i} A_i / |A_i| on the sphere, s_i = |A_i|.
    Ngpt,
}

impl Normalization {
    /// Name as serialised ("post-ln", "pre-ln", "peri-ln", "ngpt").
    pub fn name(self) -> &'static str {
        match self {
            Normalization::PostLn => "post-ln",
            Normalization::PreLn => "pre-ln",
            Normalization::PeriLn => "peri-ln",
            Normalization::Ngpt => "ngpt",
        }
    }
    /// True for Post-LN, the default (\[GLPR\] (2.3)).
    pub fn is_post_ln(&self) -> bool {
        *self == Normalization::PostLn
    }
    /// True when the state carries radii (Pre-LN, Peri-LN: it lives in R^d).
    pub fn carries_radii(self) -> bool {
        matches!(self, Normalization::PreLn | Normalization::PeriLn)
    }
}

/// Which pairs interact, and with which weight (see the module docs).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Mask {
    /// Every j.
    Full,
    /// Only j <= i (causal attention, Karagodin-Polyanskiy-Rigollet 2024).
    Causal,
    /// Pair weights w_ij: A_ij proportional to w_ij e^{beta x_i^T B x_j} (e.g. ALiBi).
    Weighted(PairWeights),
}

/// An n x n matrix of pair weights w_ij (row-major), each finite and >= 0, every row with a
/// positive entry (checked by [`validate::check_pair_weights`]); A_ij is proportional to
/// w_ij e^{beta x_i^T B x_j}. The mask applies to exactly n particles.
///
/// ```
/// use attnflow_dynamics::model::PairWeights;
/// // ALiBi with slope m = ln 2: w_ij = 2^{-|i - j|}
/// let w = PairWeights::alibi(3, std::f64::consts::LN_2).unwrap();
/// assert!((w.get(0, 2) - 0.25).abs() < 1e-16);
/// assert_eq!(w.get(1, 1), 1.0);
/// // the causal mask as weights: w_ij = 1[j <= i]
/// let c = PairWeights::causal(3).unwrap();
/// assert_eq!((c.get(2, 0), c.get(0, 2)), (1.0, 0.0));
/// assert!(PairWeights::new(2, vec![1.0, 0.0, 0.0, 0.0]).is_err()); // row 1 attends to nothing
/// ```
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "PairWeightsData")]
pub struct PairWeights {
    n: usize,
    weights: Vec<f64>,
}

/// The serialised form of [`PairWeights`], validated on the way in.
#[derive(serde::Deserialize)]
struct PairWeightsData {
    n: usize,
    weights: Vec<f64>,
}

impl TryFrom<PairWeightsData> for PairWeights {
    type Error = DynamicsError;
    fn try_from(data: PairWeightsData) -> Result<Self> {
        Self::new(data.n, data.weights)
    }
}

impl PairWeights {
    /// Weights w_ij = `weights[i * n + j]`, validated.
    pub fn new(n: usize, weights: Vec<f64>) -> Result<Self> {
        validate::check_pair_weights(n, &weights)?;
        Ok(Self { n, weights })
    }
    /// w_ij = f(i, j) for i, j < n, validated.
    pub fn from_fn(n: usize, f: impl Fn(usize, usize) -> f64) -> Result<Self> {
        validate::element_count("n * n", n, n)?;
        let weights = (0..n)
            .flat_map(|i| (0..n).map(move |j| (i, j)))
            .map(|(i, j)| f(i, j));
        Self::new(n, weights.collect())
    }
    /// The causal mask as weights: w_ij = 1 for j <= i, else 0.
    pub fn causal(n: usize) -> Result<Self> {
        Self::from_fn(n, |i, j| if j <= i { 1.0 } else { 0.0 })
    }
    /// ALiBi (Press, Smith, Lewis 2022), symmetric form: the logit bias -m |i - j|, i.e.
    /// w_ij = exp(-m |i - j|), slope m finite and >= 0.
    pub fn alibi(n: usize, slope: f64) -> Result<Self> {
        validate::check_non_negative("slope", slope)?;
        Self::from_fn(n, |i, j| (-slope * i.abs_diff(j) as f64).exp())
    }
    /// Causal ALiBi (Press, Smith, Lewis 2022, the decoder form): w_ij = exp(-m (i - j)) for
    /// j <= i, else 0; slope m finite and >= 0.
    pub fn causal_alibi(n: usize, slope: f64) -> Result<Self> {
        validate::check_non_negative("slope", slope)?;
        Self::from_fn(n, |i, j| {
            if j <= i {
                (-slope * (i - j) as f64).exp()
            } else {
                0.0
            }
        })
    }
    /// The number of particles the weights apply to.
    pub fn n(&self) -> usize {
        self.n
    }
    /// w_ij.
    pub fn get(&self, i: usize, j: usize) -> f64 {
        self.weights[i * self.n + j]
    }
    /// Row-major n x n.
    pub fn as_slice(&self) -> &[f64] {
        &self.weights
    }
}

/// The value matrix V of a head.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Value {
    Identity,
    /// V = -I_d (repulsive, \[GLPR\] section 9.1).
    NegIdentity,
    Matrix(SquareMatrix),
}

/// One attention head: B = Q^T K (None = identity) and V.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AttentionHead {
    pub interaction: Option<SquareMatrix>,
    pub value: Value,
    #[serde(skip)]
    value_transposed: Option<SquareMatrix>,
    /// `Some(c)` when the head was declared with V = c B^T ([`Self::with_value_from_interaction`]):
    /// then the velocity c sum_j A_ij (x_j^T B) reuses the rows x_j^T B of the logits (not
    /// serialised: a deserialised head takes the general path).
    #[serde(skip)]
    value_from_interaction: Option<f64>,
}

impl AttentionHead {
    pub fn new(interaction: Option<SquareMatrix>, value: Value) -> Self {
        let value_transposed = match &value {
            Value::Matrix(v) => Some(v.transpose()),
            _ => None,
        };
        Self {
            interaction,
            value,
            value_transposed,
            value_from_interaction: None,
        }
    }

    /// The head with interaction B and value matrix V = c B^T (velocity c B^T y_i, i.e. the row
    /// vector c y_i^T B: a value matrix c B applied to row vectors as in the authors' code, \[GLPR\]
    /// Figure 5 (c), (d)). `value` holds c B^T entry by entry (each entry B_lk c rounded once, the
    /// bits of `B.scaled(c).transpose()`); the drift computes the velocity from the product X B
    /// that the logits x_i^T B x_j need anyway, `c s_i sum_j E_ij (X B)_jk`, instead of
    /// `sum_l (s_i sum_j E_ij x_jl) (c B^T)_kl`: the same field up to round-off, with n d^2 fewer
    /// fused multiply-adds per evaluation (different bits from [`Self::new`] with the same V).
    pub fn with_value_from_interaction(interaction: SquareMatrix, c: f64) -> Self {
        let value = interaction.scaled(c).transpose();
        let mut head = Self::new(Some(interaction), Value::Matrix(value));
        head.value_from_interaction = Some(c);
        head
    }
    /// `Some(c)` for a head declared with V = c B^T ([`Self::with_value_from_interaction`]).
    pub(crate) fn value_factor_of_interaction(&self) -> Option<f64> {
        self.value_from_interaction
    }
    /// V^T of a matrix value (kept from construction; `None` after deserialisation).
    pub(crate) fn value_transposed(&self) -> Option<&SquareMatrix> {
        self.value_transposed.as_ref()
    }
    pub(crate) fn check_dim(&self, d: usize) -> Result<()> {
        let dims = [
            self.interaction.as_ref().map(|m| m.dim()),
            self.value_transposed.as_ref().map(|m| m.dim()),
        ];
        match dims.into_iter().flatten().find(|&m| m != d) {
            Some(m) => Err(invalid(
                "d",
                format!("weight matrices are {m} x {m} but particles live in R^{d}"),
            )),
            None => Ok(()),
        }
    }
}

/// Scratch buffers reused across evaluations (one per integrator / thread).
#[derive(Debug, Default, Clone)]
pub struct Workspace {
    /// Gram matrix of the last evaluation point, valid when `gram_valid`.
    pub(crate) gram: AlignedBuf,
    pub(crate) gram_valid: bool,
    logits: AlignedBuf,
    transposed: AlignedBuf,
    projected: AlignedBuf,
    average: AlignedBuf,
    /// Row normalisations: row sums of the weights, then the factors 1 / Z_i or e^{beta m_i} / n.
    scale: AlignedBuf,
    value_out: AlignedBuf,
    /// The fused Euler step's y^T (d x n).
    next: AlignedBuf,
    /// The directions x_i / |x_i| (Pre-LN, Peri-LN).
    directions: AlignedBuf,
    /// The O(n d) buffers of the streaming evaluation ([`crate::streaming`]).
    streaming: crate::streaming::Buffers,
    /// (n, d) the buffers are sized for.
    shape: (usize, usize),
}

impl Workspace {
    fn ensure(&mut self, n: usize, d: usize) {
        if self.shape == (n, d) {
            return;
        }
        self.shape = (n, d);
        self.gram.resize(n * n);
        self.logits.resize(n * n);
        self.transposed.resize(n * d);
        self.projected.resize(n * d);
        self.average.resize(n * d);
        self.scale.resize(n);
        self.value_out.resize(n * d);
        self.next.resize(n * d);
    }
    /// The Gram matrix <x_i, x_j> of the point of the last drift evaluation, when that evaluation
    /// computed it (single-head models with B = I); lets callers reuse it for observables.
    pub fn last_gram(&self) -> Option<&[f64]> {
        self.gram_valid.then_some(&self.gram[..])
    }
}

/// A vector field on n particles in R^d (row-major state).
pub trait VectorField: Sync {
    fn geometry(&self) -> Geometry;

    /// The attention drift before projection: `out_i = sum_h sum_j A^h_ij V_h x_j`.
    fn drift_into(
        &self,
        x: &[f64],
        n: usize,
        d: usize,
        out: &mut [f64],
        ws: &mut Workspace,
    ) -> Result<()>;

    /// True when the flow keeps x_i(t) in span{x_j(0)} and depends on the Gram matrix only
    /// (V = I and B = I), so the reduced representation applies.
    fn preserves_span(&self) -> bool {
        false
    }

    /// The velocity: P_{x_i}(drift_i) on the sphere, the drift itself in R^d.
    fn velocity_into(
        &self,
        x: &[f64],
        n: usize,
        d: usize,
        out: &mut [f64],
        ws: &mut Workspace,
    ) -> Result<()> {
        self.drift_into(x, n, d, out, ws)?;
        if self.geometry() == Geometry::Sphere {
            project_tangent(x, d, out);
        }
        Ok(())
    }

    /// The gradient flow of \[GLPR\] section 3 this field is, for the energy-stable step
    /// ([`crate::energy_stable`]), or why it is none (an error naming the parameter `integrator`).
    fn gradient_flow(&self) -> Result<crate::energy_stable::GradientFlow> {
        Err(crate::energy_stable::not_a_gradient_flow(
            "this field is not a self-attention field",
        ))
    }

    /// Convenience: drift with a fresh workspace.
    fn drift(&self, x: &[f64], n: usize, d: usize, out: &mut [f64]) -> Result<()> {
        self.drift_into(x, n, d, out, &mut Workspace::default())
    }

    /// Convenience: velocity with a fresh workspace.
    fn velocity(&self, x: &[f64], n: usize, d: usize, out: &mut [f64]) -> Result<()> {
        self.velocity_into(x, n, d, out, &mut Workspace::default())
    }
}

/// `v_i <- v_i - <x_i, v_i> x_i` for every particle (tangent projection P_x of \[GLPR\] section 1).
pub fn project_tangent(x: &[f64], d: usize, v: &mut [f64]) {
    for (xi, vi) in x.chunks_exact(d).zip(v.chunks_exact_mut(d)) {
        let c = crate::config::dot(xi, vi);
        vi.iter_mut().zip(xi).for_each(|(a, b)| *a -= c * b);
    }
}

/// Self-attention dynamics: every model of \[GLPR\] sections 2 and 9.1 (see the module docs).
/// Built with [`SelfAttention::builder`] (or the shorthands [`SelfAttention::sa`],
/// [`SelfAttention::usa`], [`SelfAttention::general`], [`SelfAttention::multi_head`],
/// [`SelfAttention::pure_attention`], which go through it).
///
/// ```
/// use attnflow_dynamics::{ModelKind, SelfAttention, VectorField};
/// // (SA) with beta = 2 on three points of the circle S^1
/// let model = SelfAttention::builder().beta(2.0).model(ModelKind::Sa).build()?;
/// let x = [1.0, 0.0, 0.0, 1.0, -1.0, 0.0];
/// let mut v = [0.0; 6];
/// model.velocity(&x, 3, 2, &mut v)?;
/// // the velocity is tangent: <x_i, v_i> = 0
/// for i in 0..3 {
///     assert!((x[2 * i] * v[2 * i] + x[2 * i + 1] * v[2 * i + 1]).abs() < 1e-15);
/// }
/// assert_eq!(model, SelfAttention::sa(2.0)?);
/// # Ok::<(), attnflow_dynamics::DynamicsError>(())
/// ```
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SelfAttention {
    beta: f64,
    model: ModelKind,
    heads: Vec<AttentionHead>,
    mask: Mask,
    geometry: Geometry,
    /// Where layer normalisation sits (absent in records of Post-LN fields).
    #[serde(default, skip_serializing_if = "Normalization::is_post_ln")]
    normalization: Normalization,
    /// How the sums over j are evaluated (absent in records of direct sums).
    #[serde(default, skip_serializing_if = "crate::spectral::Summation::is_direct")]
    summation: crate::spectral::Summation,
    /// Direct sums with n x n matrices or streaming (absent in records of the default, auto).
    #[serde(default, skip_serializing_if = "crate::streaming::Evaluation::is_auto")]
    evaluation: crate::streaming::Evaluation,
}

/// Builds a [`SelfAttention`] from the defaults of \[GLPR\] (2.6): beta = 1, model (SA), one head
/// with Q = K = V = I_d, no mask, particles on the sphere. beta = 1 is the plain softmax of a
/// Transformer layer (its 1/sqrt(d) absorbed into Q^T K); the paper's figures sweep beta.
///
/// ```
/// use attnflow_dynamics::model::{Mask, PairWeights, SelfAttentionBuilder, Value};
/// use attnflow_dynamics::{ModelKind, SelfAttention, SquareMatrix};
/// let q = SquareMatrix::diagonal(&[2.0, 1.0, 1.0]);
/// let model = SelfAttention::builder()
///     .beta(0.5)
///     .model(ModelKind::Usa)
///     .head(Some(q), None, Value::Identity) // B = Q^T K = Q^T
///     .mask(Mask::Weighted(PairWeights::causal_alibi(4, 0.25)?))
///     .build()?;
/// assert_eq!(model.beta(), 0.5);
/// assert!(SelfAttention::builder().beta(f64::NAN).build().is_err());
/// // every default spelled out is (SA)
/// let defaults: SelfAttentionBuilder = SelfAttention::builder();
/// assert_eq!(defaults.build()?, SelfAttention::sa(1.0)?);
/// # Ok::<(), attnflow_dynamics::DynamicsError>(())
/// ```
#[derive(Debug, Clone)]
pub struct SelfAttentionBuilder {
    beta: f64,
    model: ModelKind,
    /// None: one head with Q = K = V = I.
    heads: Option<Vec<AttentionHead>>,
    mask: Mask,
    geometry: Geometry,
    normalization: Normalization,
    summation: crate::spectral::Summation,
    evaluation: crate::streaming::Evaluation,
    repulsive: bool,
    /// The first error of a head given as (Q, K), reported by [`Self::build`].
    error: Option<DynamicsError>,
}

impl Default for SelfAttentionBuilder {
    fn default() -> Self {
        Self {
            beta: 1.0,
            model: ModelKind::Sa,
            heads: None,
            mask: Mask::Full,
            geometry: Geometry::Sphere,
            normalization: Normalization::PostLn,
            summation: crate::spectral::Summation::Direct,
            evaluation: crate::streaming::Evaluation::Auto,
            repulsive: false,
            error: None,
        }
    }
}

impl SelfAttentionBuilder {
    /// Inverse temperature beta (finite, >= 0; default 1).
    pub fn beta(mut self, beta: f64) -> Self {
        self.beta = beta;
        self
    }
    /// (SA) or (USA) (default (SA)).
    pub fn model(mut self, model: ModelKind) -> Self {
        self.model = model;
        self
    }
    /// Adds a head with Q, K (None = I) and value matrix V: the weights are
    /// exp(beta <Q x_i, K x_j>) = exp(beta x_i^T B x_j) with B = Q^T K. Heads are summed, \[GLPR\] (2.7).
    pub fn head(self, q: Option<SquareMatrix>, k: Option<SquareMatrix>, v: Value) -> Self {
        let interaction = match (q, k) {
            (None, None) => Ok(None),
            (Some(q), None) => Ok(Some(q.transpose())),
            (None, Some(k)) => Ok(Some(k)),
            (Some(q), Some(k)) => q.transpose().matmul(&k).map(Some),
        };
        match interaction {
            Ok(b) => self.head_interaction(b, v),
            Err(e) => Self {
                error: self.error.or(Some(e)),
                ..self
            },
        }
    }
    /// Adds a head given by B = Q^T K (None = I) and V.
    pub fn head_interaction(self, b: Option<SquareMatrix>, v: Value) -> Self {
        self.attention_head(AttentionHead::new(b, v))
    }
    /// Adds a head.
    pub fn attention_head(mut self, head: AttentionHead) -> Self {
        self.heads.get_or_insert_with(Vec::new).push(head);
        self
    }
    /// Replaces the heads (an empty list is an error at [`Self::build`]).
    pub fn heads(mut self, heads: Vec<AttentionHead>) -> Self {
        self.heads = Some(heads);
        self
    }
    /// Which pairs interact (default [`Mask::Full`]).
    pub fn mask(mut self, mask: Mask) -> Self {
        self.mask = mask;
        self
    }
    /// Repulsive dynamics, \[GLPR\] section 9.1: V = -I_d in every head (replacing any value matrix).
    pub fn repulsive(mut self) -> Self {
        self.repulsive = true;
        self
    }
    /// Particles in R^d without projection, \[GLPR\] (9.1) (default: on the sphere S^{d-1}).
    pub fn euclidean(mut self) -> Self {
        self.geometry = Geometry::Euclidean;
        self
    }
    /// Where layer normalisation sits (default Post-LN); Pre-LN and Peri-LN put the state in R^d
    /// (it carries the radii), see [`Normalization`].
    pub fn normalization(mut self, normalization: Normalization) -> Self {
        self.normalization = normalization;
        self
    }
    /// How the sums over j are evaluated (default direct); [`crate::spectral::Summation::Spectral`]
    /// needs one head with Q = K = V = I (or scalar multiples), no mask, Post-LN, on the sphere
    /// (checked by [`Self::build`]) and d = 2 or 3 (checked at evaluation).
    pub fn summation(mut self, summation: crate::spectral::Summation) -> Self {
        self.summation = summation;
        self
    }
    /// How direct sums are evaluated (default [`crate::streaming::Evaluation::Auto`]: with n x n
    /// matrices up to n = [`crate::streaming::DENSE_MAX_N`], streaming above, unless pair weights
    /// are given); `Dense` or `Streaming` force one path (streaming refuses pair weights and
    /// spectral summation, checked by [`Self::build`]).
    pub fn evaluation(mut self, evaluation: crate::streaming::Evaluation) -> Self {
        self.evaluation = evaluation;
        self
    }
    /// The model, validated: beta finite and >= 0, at least one head, Q and K of one dimension
    /// (the weight matrices against the particle dimension d, and pair weights against n, are
    /// checked at evaluation).
    pub fn build(self) -> Result<SelfAttention> {
        validate::check_non_negative("beta", self.beta)?;
        if let Some(e) = self.error {
            return Err(e);
        }
        let mut heads = self
            .heads
            .unwrap_or_else(|| vec![AttentionHead::new(None, Value::Identity)]);
        if heads.is_empty() {
            return Err(invalid("heads", "need at least one attention head"));
        }
        if self.repulsive {
            for head in &mut heads {
                *head = AttentionHead::new(head.interaction.take(), Value::NegIdentity);
            }
        }
        let geometry = match self.normalization {
            Normalization::PostLn => self.geometry,
            Normalization::PreLn | Normalization::PeriLn => Geometry::Euclidean,
            Normalization::Ngpt if self.geometry == Geometry::Euclidean => {
                return Err(invalid(
                    "normalization",
                    "ngpt moves points on the sphere; it has no R^d form (9.1)",
                ));
            }
            Normalization::Ngpt => Geometry::Sphere,
        };
        if self.evaluation == crate::streaming::Evaluation::Streaming {
            if matches!(self.mask, Mask::Weighted(_)) {
                return Err(crate::streaming::pair_weights_refused());
            }
            if !self.summation.is_direct() {
                return Err(invalid(
                    "evaluation",
                    "the streaming evaluation is a direct sum; spectral summation has no n x n matrices to avoid",
                ));
            }
        }
        let field = SelfAttention {
            beta: self.beta,
            model: self.model,
            heads,
            mask: self.mask,
            geometry,
            normalization: self.normalization,
            summation: self.summation,
            evaluation: self.evaluation,
        };
        if let crate::spectral::Summation::Spectral { tol } = field.summation {
            crate::spectral::check_tol(tol)?;
            crate::spectral::spectral_parameters(&field)?;
        }
        Ok(field)
    }
}

impl SelfAttention {
    /// A builder with the defaults of \[GLPR\] (2.6) (see [`SelfAttentionBuilder`]).
    pub fn builder() -> SelfAttentionBuilder {
        SelfAttentionBuilder::default()
    }
    /// (SA), \[GLPR\] (2.6): Q = K = V = I, softmax.
    pub fn sa(beta: f64) -> Result<Self> {
        Self::builder().beta(beta).build()
    }
    /// (USA): Q = K = V = I, weights divided by n instead of Z_i.
    pub fn usa(beta: f64) -> Result<Self> {
        Self::builder().beta(beta).model(ModelKind::Usa).build()
    }
    /// General single head: weights exp(beta x_i^T B x_j) (B = Q^T K, None = I), value matrix V.
    pub fn general(beta: f64, b: Option<SquareMatrix>, v: Value, model: ModelKind) -> Result<Self> {
        Self::builder()
            .beta(beta)
            .model(model)
            .head_interaction(b, v)
            .build()
    }
    /// Multi-head attention, \[GLPR\] (2.7).
    pub fn multi_head(beta: f64, heads: Vec<AttentionHead>, model: ModelKind) -> Result<Self> {
        Self::builder().beta(beta).model(model).heads(heads).build()
    }
    /// Pure attention in R^d without projection, \[GLPR\] (9.1): xdot_i = sum_j A_ij V x_j (softmax).
    pub fn pure_attention(beta: f64, b: Option<SquareMatrix>, v: Value) -> Result<Self> {
        Self::builder()
            .beta(beta)
            .head_interaction(b, v)
            .euclidean()
            .build()
    }
    /// Restrict attention to j <= i.
    pub fn with_causal_mask(mut self) -> Self {
        self.mask = Mask::Causal;
        self
    }
    pub fn beta(&self) -> f64 {
        self.beta
    }
    /// (SA) or (USA).
    pub fn model(&self) -> ModelKind {
        self.model
    }
    pub fn heads(&self) -> &[AttentionHead] {
        &self.heads
    }
    pub fn mask(&self) -> &Mask {
        &self.mask
    }
    /// Where layer normalisation sits ([`Normalization`]).
    pub fn normalization(&self) -> Normalization {
        self.normalization
    }
    /// How the sums over j are evaluated ([`crate::spectral::Summation`]).
    pub fn summation(&self) -> crate::spectral::Summation {
        self.summation
    }

    /// How direct sums are evaluated ([`crate::streaming::Evaluation`]).
    pub fn evaluation(&self) -> crate::streaming::Evaluation {
        self.evaluation
    }
    /// True when n particles are evaluated by streaming ([`crate::streaming`]): direct summation,
    /// and [`Self::evaluation`] says so for n (the default streams for n above
    /// [`crate::streaming::DENSE_MAX_N`] without pair weights); else the n x n matrices.
    pub fn streams(&self, n: usize) -> bool {
        self.summation.is_direct()
            && match self.evaluation {
                crate::streaming::Evaluation::Auto => {
                    !matches!(self.mask, Mask::Weighted(_)) && self.evaluation.streams(n)
                }
                other => other.streams(n),
            }
    }

    /// The mask applies to n particles (pair weights are n x n).
    fn check_mask(&self, n: usize) -> Result<()> {
        match &self.mask {
            Mask::Weighted(w) => validate::check_pair_weights_match(w.n(), n),
            Mask::Full | Mask::Causal => Ok(()),
        }
    }

    /// Adds head `h`'s contribution sum_j A_ij V x_j to `out`, or (`assign`, for a first head with
    /// V = I) writes it there directly.
    #[allow(clippy::too_many_arguments)]
    fn add_head(
        &self,
        head: &AttentionHead,
        x: &[f64],
        n: usize,
        d: usize,
        out: &mut [f64],
        assign: bool,
        ws: &mut Workspace,
    ) -> Result<()> {
        kernel::transpose(x, n, d, &mut ws.transposed);
        if assign {
            return self.head_average(head, x, n, d, ws, out);
        }
        if let (Some(c), Some(_)) = (head.value_from_interaction, &head.interaction) {
            // V = c B^T: velocity_i = c s_i sum_j E_ij (x_j^T B), from the rows X B of the logits
            self.row_shifted_weights(head, x, n, d, ws)?;
            ws.scale.iter_mut().for_each(|s| *s *= c);
            kernel::matmul_scaled(
                &ws.logits,
                &ws.projected,
                n,
                n,
                d,
                Scale::Rows(&ws.scale),
                &mut ws.value_out,
            );
            out.iter_mut()
                .zip(ws.value_out.iter())
                .for_each(|(o, a)| *o += a);
            return Ok(());
        }
        let mut average = std::mem::take(&mut ws.average);
        let result = self.head_average(head, x, n, d, ws, &mut average);
        if result.is_ok() {
            match (&head.value, &head.value_transposed) {
                (Value::Identity, _) => out
                    .iter_mut()
                    .zip(average.iter())
                    .for_each(|(o, a)| *o += a),
                (Value::NegIdentity, _) => out
                    .iter_mut()
                    .zip(average.iter())
                    .for_each(|(o, a)| *o -= a),
                (Value::Matrix(_), Some(vt)) => {
                    kernel::rows_times_matrix(&average, n, d, vt.as_slice(), &mut ws.value_out);
                    out.iter_mut()
                        .zip(ws.value_out.iter())
                        .for_each(|(o, a)| *o += a);
                }
                (Value::Matrix(v), None) => {
                    kernel::rows_times_matrix(
                        &average,
                        n,
                        d,
                        v.transpose().as_slice(),
                        &mut ws.value_out,
                    );
                    out.iter_mut()
                        .zip(ws.value_out.iter())
                        .for_each(|(o, a)| *o += a);
                }
            }
        }
        ws.average = average;
        result
    }

    /// `average_i = sum_j A_ij x_j` for one head: symmetric weights when they apply, else weights
    /// shifted row by row.
    fn head_average(
        &self,
        head: &AttentionHead,
        x: &[f64],
        n: usize,
        d: usize,
        ws: &mut Workspace,
        average: &mut [f64],
    ) -> Result<()> {
        let symmetric = head.interaction.is_none()
            && matches!(self.mask, Mask::Full)
            && self.symmetric_average(x, n, d, ws, average)?;
        if !symmetric {
            self.row_shifted_average(head, x, n, d, ws, average)?;
        }
        Ok(())
    }

    /// B = I, no mask: `average_i = sum_j A_ij x_j` from the symmetric weights of
    /// [`kernel::symmetric_weights`] (one exponential per unordered pair). Returns false, having
    /// computed only the Gram matrix, when those weights do not apply (rows of very different norms
    /// at large beta).
    fn symmetric_average(
        &self,
        x: &[f64],
        n: usize,
        d: usize,
        ws: &mut Workspace,
        average: &mut [f64],
    ) -> Result<bool> {
        let xt = std::mem::take(&mut ws.transposed);
        let applies = self.symmetric_factors(&xt, n, d, ws);
        ws.transposed = xt;
        if !applies? {
            return Ok(false);
        }
        if d >= kernel::WIDE {
            // average = diag(s) E X, directly in rows
            kernel::matmul_scaled(&ws.logits, x, n, n, d, Scale::Rows(&ws.scale), average);
        } else {
            // few coordinates: average^T = X^T E diag(s) (E is symmetric) is the wide product
            kernel::matmul_scaled(
                &ws.transposed,
                &ws.logits,
                d,
                n,
                n,
                Scale::Columns(&ws.scale),
                &mut ws.value_out,
            );
            kernel::transpose(&ws.value_out[..d * n], d, n, average);
        }
        Ok(true)
    }

    /// B = I, no mask: the Gram matrix (`ws.gram`) of the state given transposed (`xt` = X^T,
    /// d x n), the symmetric weights E (`ws.logits`) and the row factors (`ws.scale`: 1 / Z_i, or
    /// the USA factor), so that A = diag(scale) E. Returns false, having computed only the Gram
    /// matrix, when the symmetric weights do not apply.
    fn symmetric_factors(
        &self,
        xt: &[f64],
        n: usize,
        d: usize,
        ws: &mut Workspace,
    ) -> Result<bool> {
        let beta = self.beta;
        let shift =
            kernel::gram_and_weights(xt, n, d, beta, &mut ws.gram, &mut ws.logits, &mut ws.scale);
        ws.gram_valid = self.heads.len() == 1;
        let Some(shift) = shift else {
            return Ok(false);
        };
        match self.model {
            ModelKind::Sa => kernel::reciprocals(&mut ws.scale),
            ModelKind::Usa => ws.scale.fill(uniform_factor(beta * shift, n)?),
        }
        Ok(true)
    }

    /// General weights exp(beta x_i^T B x_j), each row shifted by its own maximum (and the mask:
    /// causal, or pair weights w_ij): `average_i = sum_j A_ij x_j`.
    fn row_shifted_average(
        &self,
        head: &AttentionHead,
        x: &[f64],
        n: usize,
        d: usize,
        ws: &mut Workspace,
        average: &mut [f64],
    ) -> Result<()> {
        self.row_shifted_weights(head, x, n, d, ws)?;
        kernel::matmul_scaled(&ws.logits, x, n, n, d, Scale::Rows(&ws.scale), average);
        Ok(())
    }

    /// The weights of [`Self::row_shifted_average`]: `ws.logits` holds exp(beta (L_ij - m_i)) (0
    /// where the mask hides j; times w_ij with pair weights, m_i then the maximum over w_ij > 0)
    /// and `ws.scale` the row factors, so that A = diag(scale) E. Needs `ws.transposed` = X^T.
    fn row_shifted_weights(
        &self,
        head: &AttentionHead,
        x: &[f64],
        n: usize,
        d: usize,
        ws: &mut Workspace,
    ) -> Result<()> {
        let Workspace {
            gram,
            gram_valid,
            logits,
            transposed,
            projected,
            scale,
            ..
        } = ws;
        match &head.interaction {
            None => {
                if !*gram_valid {
                    kernel::gram_from_transposed(transposed, n, d, gram);
                    *gram_valid = self.heads.len() == 1;
                }
                logits.copy_from_slice(gram);
            }
            Some(b) => {
                kernel::rows_times_matrix(x, n, d, b.as_slice(), projected);
                kernel::cross_with_transposed(projected, transposed, n, n, d, logits);
            }
        }
        let beta = self.beta;
        let pair_weights = match &self.mask {
            Mask::Weighted(w) => Some(w.as_slice()),
            Mask::Full | Mask::Causal => None,
        };
        for i in 0..n {
            let row = &mut logits[i * n..(i + 1) * n];
            let m = match pair_weights {
                None => {
                    let visible = if matches!(self.mask, Mask::Causal) {
                        i + 1
                    } else {
                        n
                    };
                    let m = kernel::max(&row[..visible]);
                    if m.is_finite() {
                        row[..visible].iter_mut().for_each(|l| *l = beta * (*l - m));
                        row[visible..].fill(f64::NEG_INFINITY);
                    }
                    m
                }
                Some(w) => {
                    let w_row = &w[i * n..(i + 1) * n];
                    let m = row
                        .iter()
                        .zip(w_row)
                        .filter(|(_, w)| **w > 0.0)
                        .fold(f64::NEG_INFINITY, |m, (&l, _)| if l > m { l } else { m });
                    if m.is_finite() {
                        row.iter_mut().zip(w_row).for_each(|(l, w)| {
                            *l = if *w > 0.0 {
                                beta * (*l - m)
                            } else {
                                f64::NEG_INFINITY
                            }
                        });
                    }
                    m
                }
            };
            if !m.is_finite() {
                return Err(DynamicsError::InvalidConfiguration(format!(
                    "non-finite logits in row {i}"
                )));
            }
            crate::exp::exp_in_place(row);
            if let Some(w) = pair_weights {
                row.iter_mut()
                    .zip(&w[i * n..(i + 1) * n])
                    .for_each(|(e, w)| *e *= w);
            }
            scale[i] = match self.model {
                ModelKind::Sa => 1.0 / row.iter().sum::<f64>(),
                ModelKind::Usa => uniform_factor(beta * m, n)?,
            };
        }
        Ok(())
    }

    /// The attention matrix A^h of every head at the state `x` (row-major n x d), each row-major
    /// n x n: A_ij = exp(beta x_i^T B_h x_j) / N_i (times w_ij with pair weights) with the model's
    /// normalisation (Z_i or n) and mask, from the same kernels as the drift (rows shifted by their
    /// maximum).
    pub fn attention_matrices(&self, x: &[f64], n: usize, d: usize) -> Result<Vec<Vec<f64>>> {
        check_state(x, n, d, x)?;
        self.check_mask(n)?;
        let mut ws = Workspace::default();
        ws.ensure(n, d);
        kernel::transpose(x, n, d, &mut ws.transposed);
        self.heads
            .iter()
            .map(|head| {
                head.check_dim(d)?;
                self.row_shifted_weights(head, x, n, d, &mut ws)?;
                Ok(ws
                    .logits
                    .chunks_exact(n)
                    .zip(ws.scale.iter())
                    .flat_map(|(row, s)| row.iter().map(move |e| e * s))
                    .collect())
            })
            .collect()
    }
}

/// The (USA) factor e^{exponent} / n that undoes the shift of the weights, or
/// [`DynamicsError::WeightOverflow`] when it does not exist in f64.
pub(crate) fn uniform_factor(exponent: f64, n: usize) -> Result<f64> {
    if exponent > 709.0 {
        return Err(DynamicsError::WeightOverflow { exponent });
    }
    Ok(crate::exp::exp(exponent) / n as f64)
}

impl VectorField for SelfAttention {
    fn geometry(&self) -> Geometry {
        self.geometry
    }

    fn preserves_span(&self) -> bool {
        self.summation.is_direct()
            && self.normalization.is_post_ln()
            && self.heads.len() == 1
            && self.heads[0].interaction.is_none()
            && self.heads[0].value == Value::Identity
    }

    fn gradient_flow(&self) -> Result<crate::energy_stable::GradientFlow> {
        crate::energy_stable::GradientFlow::of_self_attention(self)
    }

    fn drift_into(
        &self,
        x: &[f64],
        n: usize,
        d: usize,
        out: &mut [f64],
        ws: &mut Workspace,
    ) -> Result<()> {
        check_state(x, n, d, out)?;
        if let crate::spectral::Summation::Spectral { tol } = self.summation {
            ws.gram_valid = false;
            return crate::spectral::spectral_drift(self, tol, x, n, d, out);
        }
        self.check_mask(n)?;
        // the streaming evaluation holds no n x n buffer
        if !self.streams(n) {
            ws.ensure(n, d);
        }
        ws.gram_valid = false;
        match self.normalization {
            Normalization::PostLn => self.attention_output(x, n, d, out, ws),
            Normalization::Ngpt => {
                self.attention_output(x, n, d, out, ws)?;
                normalize_outputs(out, d)
            }
            Normalization::PreLn | Normalization::PeriLn => {
                // the field reads the directions th_i = x_i / r_i only
                let mut directions = std::mem::take(&mut ws.directions);
                directions.resize(n * d);
                directions.copy_from_slice(x);
                let result = normalize_states(&mut directions, d)
                    .and_then(|()| self.attention_output(&directions, n, d, out, ws));
                ws.directions = directions;
                // the Gram matrix computed is that of the directions, not of the state
                ws.gram_valid = false;
                result?;
                if self.normalization == Normalization::PeriLn {
                    normalize_outputs(out, d)?;
                }
                Ok(())
            }
        }
    }
}

/// Divides every row by its norm (the directions th_i = x_i / r_i); an error for a zero or
/// non-finite radius.
fn normalize_states(x: &mut [f64], d: usize) -> Result<()> {
    normalize_rows_or(x, d, |i, r| {
        format!("particle {i} has radius {r}; the normalised field needs x_i != 0")
    })
}

/// A_i <- A_i / |A_i| (Peri-LN, nGPT); an error when an attention output vanishes.
fn normalize_outputs(out: &mut [f64], d: usize) -> Result<()> {
    normalize_rows_or(out, d, |i, a| {
        format!("attention output of particle {i} has norm {a}; Peri-LN and nGPT divide by it")
    })
}

/// Divides every row of `x` by its norm; `why(row, norm)` words the error for a zero or
/// non-finite norm.
fn normalize_rows_or(x: &mut [f64], d: usize, why: impl Fn(usize, f64) -> String) -> Result<()> {
    for (i, row) in x.chunks_exact_mut(d).enumerate() {
        let r = crate::config::norm(row);
        if !(r.is_finite() && r > 0.0) {
            return Err(DynamicsError::InvalidConfiguration(why(i, r)));
        }
        row.iter_mut().for_each(|v| *v /= r);
    }
    Ok(())
}

impl SelfAttention {
    /// The attention output `out_i = sum_h sum_j A^h_ij V_h x_j` at the points `x` (the whole
    /// Post-LN drift); needs `ws` sized for (n, d) unless [`Self::streams`] (then it is evaluated
    /// by [`crate::streaming`]).
    fn attention_output(
        &self,
        x: &[f64],
        n: usize,
        d: usize,
        out: &mut [f64],
        ws: &mut Workspace,
    ) -> Result<()> {
        if self.streams(n) {
            return crate::streaming::attention_output(self, x, n, d, out, &mut ws.streaming);
        }
        // with V = I the first head's average is written into `out` directly
        let assign_first = self.heads[0].value == Value::Identity;
        if !assign_first {
            out.fill(0.0);
        }
        for (h, head) in self.heads.iter().enumerate() {
            head.check_dim(d)?;
            self.add_head(head, x, n, d, out, h == 0 && assign_first, ws)?;
        }
        Ok(())
    }
}

/// The fused paper-Euler step (\[GLPR\] (2.6) with the authors' Euler step and renormalisation).
impl SelfAttention {
    /// True when the paper's Euler step has a fused kernel on the transposed state for this field:
    /// one head with B = I and V = I, no mask, on the sphere (model (SA) or (USA) of \[GLPR\] (2.6),
    /// the Figure 3 workload).
    pub fn has_fused_paper_euler(&self) -> bool {
        let [head] = &self.heads[..] else {
            return false;
        };
        self.geometry == Geometry::Sphere
            && self.summation.is_direct()
            && self.normalization.is_post_ln()
            && matches!(self.mask, Mask::Full)
            && head.interaction.is_none()
            && head.value == Value::Identity
    }

    /// The paper's Euler step fused with the drift evaluation, on the transposed state
    /// (`xt` = X^T, d x n, `xt[k * n + i]` = x_ik): `x_i <- y_i / |y_i|` with
    /// `y_i = x_i + h drift_i(x)`, bit-identical to [`VectorField::drift_into`] followed by
    /// [`kernel::euler_normalize_rows`] on X. One pass for the Gram matrix and symmetric weights
    /// ([`kernel::gram_and_weights`]), one for product, update and renormalisation on X^T
    /// ([`kernel::euler_average_transposed`]). Returns `Ok(None)`, with `xt` unchanged, when the
    /// field has no fused step ([`Self::has_fused_paper_euler`] is false) or the symmetric weights
    /// do not apply to this state (uneven norms), or n particles are evaluated by streaming
    /// ([`Self::streams`]), else whether every norm was finite and positive.
    /// The stepper that runs it is [`crate::integrate::FusedPaperEuler`].
    pub(crate) fn fused_paper_euler_transposed(
        &self,
        xt: &mut [f64],
        n: usize,
        d: usize,
        h: f64,
        ws: &mut Workspace,
    ) -> Result<Option<bool>> {
        if !self.has_fused_paper_euler() || self.streams(n) {
            return Ok(None);
        }
        check_state(xt, n, d, xt)?;
        ws.ensure(n, d);
        if !self.symmetric_factors(xt, n, d, ws)? {
            // uneven norms: the caller takes the row-shifted path
            return Ok(None);
        }
        Ok(Some(kernel::euler_average_transposed(
            &ws.logits,
            &ws.scale,
            h,
            n,
            d,
            xt,
            &mut ws.next,
        )))
    }
}

/// Checks n, d and that the state and the output both have n * d entries.
fn check_state(x: &[f64], n: usize, d: usize, out: &[f64]) -> Result<()> {
    validate::check_state_len("x", x.len(), n, d)?;
    validate::check_state_len("x", out.len(), n, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Configuration;

    /// Straightforward evaluation of \[GLPR\] (2.3)-(2.5) with std exp, for comparison.
    fn naive_velocity(
        x: &Configuration,
        beta: f64,
        b: &SquareMatrix,
        v: &SquareMatrix,
        usa: bool,
        causal: bool,
    ) -> Vec<f64> {
        let (n, d) = (x.n(), x.d());
        let mut out = vec![0.0; n * d];
        for i in 0..n {
            let xi = x.row(i);
            let js: Vec<usize> = (0..n).filter(|&j| !causal || j <= i).collect();
            let w: Vec<f64> = js
                .iter()
                .map(|&j| (beta * b.bilinear(xi, x.row(j))).exp())
                .collect();
            let z: f64 = if usa { n as f64 } else { w.iter().sum() };
            let mut y = vec![0.0; d];
            for (&j, wj) in js.iter().zip(&w) {
                for (r, yr) in y.iter_mut().enumerate() {
                    *yr += wj / z * crate::config::dot(&v.as_slice()[r * d..(r + 1) * d], x.row(j));
                }
            }
            let c = crate::config::dot(xi, &y);
            for r in 0..d {
                out[i * d + r] = y[r] - c * xi[r];
            }
        }
        out
    }

    fn sample(n: usize, d: usize, seed: u64) -> Configuration {
        let mut rng = crate::sampling::stream(seed, 0, crate::sampling::Purpose::Other(0));
        crate::sampling::uniform_sphere(n, d, &mut rng).unwrap()
    }

    #[test]
    fn models_agree_with_naive_formula() {
        // n = 16: the AVX-512 Gram/weights kernel where available; n = 7: the portable one
        for (n, d) in [(7, 4), (16, 5)] {
            models_agree_with_naive_formula_at(n, d);
        }
    }

    fn models_agree_with_naive_formula_at(n: usize, d: usize) {
        let x = sample(n, d, 1);
        let mut rng = crate::sampling::stream(5, 0, crate::sampling::Purpose::Matrices);
        let b = crate::sampling::ginibre(d, &mut rng).unwrap();
        let v = crate::sampling::ginibre(d, &mut rng).unwrap();
        let id = SquareMatrix::identity(d);
        let cases: Vec<(SelfAttention, SquareMatrix, SquareMatrix, bool, bool)> = vec![
            (
                SelfAttention::sa(2.5).unwrap(),
                id.clone(),
                id.clone(),
                false,
                false,
            ),
            (
                SelfAttention::usa(2.5).unwrap(),
                id.clone(),
                id.clone(),
                true,
                false,
            ),
            (
                SelfAttention::sa(0.0).unwrap(),
                id.clone(),
                id.clone(),
                false,
                false,
            ),
            (
                SelfAttention::general(
                    1.5,
                    Some(b.clone()),
                    Value::Matrix(v.clone()),
                    ModelKind::Sa,
                )
                .unwrap(),
                b.clone(),
                v.clone(),
                false,
                false,
            ),
            (
                SelfAttention::general(
                    1.5,
                    Some(b.clone()),
                    Value::Matrix(v.clone()),
                    ModelKind::Usa,
                )
                .unwrap(),
                b.clone(),
                v.clone(),
                true,
                false,
            ),
            (
                SelfAttention::general(0.7, None, Value::NegIdentity, ModelKind::Sa).unwrap(),
                id.clone(),
                id.scaled(-1.0),
                false,
                false,
            ),
            (
                SelfAttention::sa(3.0).unwrap().with_causal_mask(),
                id.clone(),
                id.clone(),
                false,
                true,
            ),
        ];
        for (model, b, v, usa, causal) in cases {
            let mut out = vec![0.0; n * d];
            model.velocity(x.as_slice(), n, d, &mut out).unwrap();
            let reference = naive_velocity(&x, model.beta(), &b, &v, usa, causal);
            for (a, r) in out.iter().zip(&reference) {
                assert!((a - r).abs() < 1e-13, "{model:?}: {a} vs {r}");
            }
        }
    }

    /// One paper-Euler step, x_i <- normalize(x_i + h V sum_j A_ij x_j), computed by hand for a
    /// non-symmetric B and V (n = d = 3). It pins both conventions a transposition would flip:
    /// the logits are x_i^T B x_j (not x_j^T B x_i) and a value matrix acts as V y (not V^T y).
    #[test]
    fn paper_euler_step_by_hand_pins_logit_and_value_conventions() {
        // x_1 = e_1, x_2 = e_2, x_3 = e_3; B = e_1 e_2^T, so x_i^T B x_j = [i = 1][j = 2]:
        // the only non-zero logit is L_12 = 1 (the flipped convention would give L_21 = 1).
        let x = Configuration::new(3, 3, vec![1., 0., 0., 0., 1., 0., 0., 0., 1.]).unwrap();
        let b = SquareMatrix::new(3, vec![0., 1., 0., 0., 0., 0., 0., 0., 0.]).unwrap();
        // V = I + 2 e_1 e_2^T: V y = (y_1 + 2 y_2, y_2, y_3), V^T y = (y_1, 2 y_1 + y_2, y_3)
        let v = SquareMatrix::new(3, vec![1., 2., 0., 0., 1., 0., 0., 0., 1.]).unwrap();
        let (beta, h) = (1.0, 0.1);
        let model = SelfAttention::general(beta, Some(b), Value::Matrix(v), ModelKind::Sa).unwrap();
        let mut state = x.as_slice().to_vec();
        use crate::integrate::Integrator as _;
        crate::integrate::PaperEuler::default()
            .step(&model, &mut state, 3, 3, h)
            .unwrap();
        // row 1: A_1 = (1, e, 1) / (e + 2), y_1 = A_1 (the points are the basis vectors),
        // V y_1 = (1 + 2e, e, 1) / (e + 2); rows 2 and 3: A = (1, 1, 1) / 3, V y = (1, 1/3, 1/3)
        let e = 1f64.exp();
        let z = e + 2.0;
        let normalize = |p: [f64; 3]| {
            let r = (p[0] * p[0] + p[1] * p[1] + p[2] * p[2]).sqrt();
            [p[0] / r, p[1] / r, p[2] / r]
        };
        let expected = [
            normalize([1.0 + h * (1.0 + 2.0 * e) / z, h * e / z, h / z]),
            normalize([h, 1.0 + h / 3.0, h / 3.0]),
            normalize([h, h / 3.0, 1.0 + h / 3.0]),
        ];
        for (i, row) in expected.iter().enumerate() {
            for (k, want) in row.iter().enumerate() {
                let got = state[i * 3 + k];
                assert!(
                    (got - want).abs() < 1e-15,
                    "x_{}[{}]: {got} vs {want} by hand",
                    i + 1,
                    k + 1
                );
            }
        }
    }

    #[test]
    fn attention_matrices_match_the_direct_formula() {
        let (n, d) = (6, 4);
        let x = sample(n, d, 8);
        let mut rng = crate::sampling::stream(5, 1, crate::sampling::Purpose::Matrices);
        let b = crate::sampling::ginibre(d, &mut rng).unwrap();
        for (model, usa, causal) in [
            (
                SelfAttention::general(1.3, Some(b.clone()), Value::Identity, ModelKind::Sa)
                    .unwrap(),
                false,
                false,
            ),
            (SelfAttention::usa(0.8).unwrap(), true, false),
            (
                SelfAttention::sa(2.0).unwrap().with_causal_mask(),
                false,
                true,
            ),
        ] {
            let bm = model.heads()[0]
                .interaction
                .clone()
                .unwrap_or_else(|| SquareMatrix::identity(d));
            let a = model.attention_matrices(x.as_slice(), n, d).unwrap();
            assert_eq!(a.len(), 1);
            for i in 0..n {
                let w: Vec<f64> = (0..n)
                    .map(|j| {
                        if causal && j > i {
                            0.0
                        } else {
                            (model.beta() * bm.bilinear(x.row(i), x.row(j))).exp()
                        }
                    })
                    .collect();
                let z: f64 = if usa { n as f64 } else { w.iter().sum() };
                for j in 0..n {
                    let got = a[0][i * n + j];
                    assert!(
                        (got - w[j] / z).abs() < 1e-14,
                        "{model:?} A[{i}][{j}]: {got} vs {}",
                        w[j] / z
                    );
                }
            }
        }
    }

    #[test]
    fn uneven_norms_fall_back_to_row_shifts() {
        // (9.1) in R^d with norms 1 and 3: beta (max - min |x_i|^2) = 1600 > SYMMETRIC_SHIFT_LIMIT,
        // so each row is shifted by its own maximum; compare with the direct formula
        let (n, d, beta) = (4, 2, 200.0);
        let x = [1.0, 0.0, 0.0, 3.0, 0.6, 0.8, -3.0, 0.0];
        let mut out = vec![0.0; n * d];
        SelfAttention::pure_attention(beta, None, Value::Identity)
            .unwrap()
            .drift(&x, n, d, &mut out)
            .unwrap();
        for i in 0..n {
            let logits: Vec<f64> = (0..n)
                .map(|j| beta * crate::config::dot(&x[i * d..i * d + d], &x[j * d..j * d + d]))
                .collect();
            let m = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let w: Vec<f64> = logits.iter().map(|l| (l - m).exp()).collect();
            let z: f64 = w.iter().sum();
            for k in 0..d {
                let expected: f64 = (0..n).map(|j| w[j] / z * x[j * d + k]).sum();
                assert!((out[i * d + k] - expected).abs() < 1e-12, "{i} {k}");
            }
        }
        assert!(out.iter().all(|v| v.is_finite()));
    }

    #[test]
    fn fused_paper_euler_step_equals_drift_then_update() {
        // SA and USA; n a multiple of 8 (AVX-512 kernels where available) and not; small d
        for (n, d) in [(32, 32), (16, 3), (11, 8), (6, 5)] {
            let x0 = sample(n, d, 11);
            for model in [
                SelfAttention::sa(2.5).unwrap(),
                SelfAttention::usa(0.7).unwrap(),
            ] {
                assert!(model.has_fused_paper_euler());
                let mut ws = Workspace::default();
                let mut xt = vec![0.0; n * d];
                kernel::transpose(x0.as_slice(), n, d, &mut xt);
                let done = model
                    .fused_paper_euler_transposed(&mut xt, n, d, 0.1, &mut ws)
                    .unwrap();
                assert_eq!(done, Some(true));
                let mut fused = vec![0.0; n * d];
                kernel::transpose(&xt, d, n, &mut fused);
                let mut drift = vec![0.0; n * d];
                model
                    .drift_into(x0.as_slice(), n, d, &mut drift, &mut Workspace::default())
                    .unwrap();
                let mut two_pass = x0.as_slice().to_vec();
                assert!(kernel::euler_normalize_rows(&mut two_pass, &drift, 0.1, d));
                assert_eq!(fused, two_pass, "n = {n}, d = {d}");
                // the Gram matrix of the starting point is kept for the observers
                assert_eq!(ws.last_gram().unwrap(), &x0.gram()[..]);
            }
        }
        // fields without a fused kernel: multi-head, the causal mask, V = -I, R^d
        let x0 = sample(8, 8, 12);
        let heads = vec![
            AttentionHead::new(None, Value::Identity),
            AttentionHead::new(None, Value::NegIdentity),
        ];
        let others = [
            SelfAttention::multi_head(1.0, heads, ModelKind::Sa).unwrap(),
            SelfAttention::sa(1.0).unwrap().with_causal_mask(),
            SelfAttention::general(1.0, None, Value::NegIdentity, ModelKind::Sa).unwrap(),
            SelfAttention::pure_attention(1.0, None, Value::Identity).unwrap(),
        ];
        for model in others {
            assert!(!model.has_fused_paper_euler(), "{model:?}");
            let mut xt = x0.as_slice().to_vec();
            let done = model
                .fused_paper_euler_transposed(&mut xt, 8, 8, 0.1, &mut Workspace::default())
                .unwrap();
            assert_eq!(done, None);
            assert_eq!(xt, x0.as_slice());
        }
    }

    #[test]
    fn multi_head_is_sum_of_heads() {
        let (n, d) = (5, 3);
        let x = sample(n, d, 2);
        let mut rng = crate::sampling::stream(6, 0, crate::sampling::Purpose::Matrices);
        let h1 = AttentionHead::new(
            Some(crate::sampling::ginibre(d, &mut rng).unwrap()),
            Value::Identity,
        );
        let h2 = AttentionHead::new(
            None,
            Value::Matrix(crate::sampling::goe(d, &mut rng).unwrap()),
        );
        let both =
            SelfAttention::multi_head(1.0, vec![h1.clone(), h2.clone()], ModelKind::Sa).unwrap();
        let mut sum = vec![0.0; n * d];
        let mut part = vec![0.0; n * d];
        for h in [h1, h2] {
            SelfAttention::multi_head(1.0, vec![h], ModelKind::Sa)
                .unwrap()
                .drift(x.as_slice(), n, d, &mut part)
                .unwrap();
            sum.iter_mut().zip(&part).for_each(|(s, p)| *s += p);
        }
        both.drift(x.as_slice(), n, d, &mut part).unwrap();
        for (a, b) in part.iter().zip(&sum) {
            assert!((a - b).abs() < 1e-14);
        }
    }

    #[test]
    fn softmax_is_stable_for_huge_beta_and_usa_overflow_is_an_error() {
        let (n, d) = (4, 3);
        let x = sample(n, d, 3);
        let mut out = vec![0.0; n * d];
        SelfAttention::sa(1e6)
            .unwrap()
            .velocity(x.as_slice(), n, d, &mut out)
            .unwrap();
        assert!(out.iter().all(|v| v.is_finite()));
        let err = SelfAttention::usa(800.0)
            .unwrap()
            .velocity(x.as_slice(), n, d, &mut out)
            .unwrap_err();
        assert!(matches!(err, DynamicsError::WeightOverflow { .. }));
        assert!(SelfAttention::sa(f64::NAN).is_err());
        assert!(SelfAttention::sa(-1.0).is_err());
    }

    #[test]
    fn permutation_equivariance() {
        let (n, d) = (6, 3);
        let x = sample(n, d, 4);
        let perm = [3, 0, 5, 1, 4, 2];
        let xp = x.permuted(&perm).unwrap();
        let model = SelfAttention::usa(1.7).unwrap();
        let (mut v, mut vp) = (vec![0.0; n * d], vec![0.0; n * d]);
        model.velocity(x.as_slice(), n, d, &mut v).unwrap();
        model.velocity(xp.as_slice(), n, d, &mut vp).unwrap();
        for (i, &p) in perm.iter().enumerate() {
            for k in 0..d {
                assert!((vp[i * d + k] - v[p * d + k]).abs() < 1e-14);
            }
        }
    }

    /// A_ij = w_ij exp(beta x_i^T B x_j) / N_i with N_i = sum_k w_ik exp(beta x_i^T B x_k) (SA) or
    /// n (USA), and the drift sum_j A_ij V x_j, with plain loops and std exp.
    fn naive_weighted_drift(
        x: &Configuration,
        beta: f64,
        b: &SquareMatrix,
        v: &SquareMatrix,
        model: ModelKind,
        w: &PairWeights,
    ) -> Vec<f64> {
        let (n, d) = (x.n(), x.d());
        let mut out = vec![0.0; n * d];
        for i in 0..n {
            let e: Vec<f64> = (0..n)
                .map(|j| w.get(i, j) * (beta * b.bilinear(x.row(i), x.row(j))).exp())
                .collect();
            let norm = match model {
                ModelKind::Sa => e.iter().sum::<f64>(),
                ModelKind::Usa => n as f64,
            };
            for r in 0..d {
                let v_row = &v.as_slice()[r * d..(r + 1) * d];
                out[i * d + r] = (0..n)
                    .map(|j| e[j] / norm * crate::config::dot(v_row, x.row(j)))
                    .sum();
            }
        }
        out
    }

    fn with_mask(model: SelfAttention, mask: Mask) -> SelfAttention {
        SelfAttention { mask, ..model }
    }

    #[test]
    fn pair_weights_match_the_direct_formula() {
        let (n, d) = (9, 4);
        let x = sample(n, d, 21);
        let mut rng = crate::sampling::stream(21, 0, crate::sampling::Purpose::Matrices);
        let b = crate::sampling::ginibre(d, &mut rng).unwrap();
        let v = crate::sampling::ginibre(d, &mut rng).unwrap();
        let id = SquareMatrix::identity(d);
        // arbitrary weights with zeros (one positive entry per row guaranteed by the diagonal)
        let arbitrary = PairWeights::from_fn(n, |i, j| match (i * 7 + j * 3) % 4 {
            0 if i != j => 0.0,
            k => 0.25 + k as f64,
        })
        .unwrap();
        let masks = [
            PairWeights::alibi(n, 0.5).unwrap(),
            PairWeights::causal_alibi(n, 0.3).unwrap(),
            arbitrary,
        ];
        for model_kind in [ModelKind::Sa, ModelKind::Usa] {
            for w in &masks {
                for (bm, vm, interaction, value) in [
                    (&id, &id, None, Value::Identity),
                    (&b, &v, Some(b.clone()), Value::Matrix(v.clone())),
                ] {
                    let model = SelfAttention::builder()
                        .beta(1.7)
                        .model(model_kind)
                        .head_interaction(interaction, value)
                        .mask(Mask::Weighted(w.clone()))
                        .build()
                        .unwrap();
                    let mut drift = vec![0.0; n * d];
                    model.drift(x.as_slice(), n, d, &mut drift).unwrap();
                    let reference = naive_weighted_drift(&x, 1.7, bm, vm, model_kind, w);
                    for (a, r) in drift.iter().zip(&reference) {
                        assert!((a - r).abs() < 1e-13, "{model_kind:?}: {a} vs {r}");
                    }
                    // the attention matrix too
                    let a = &model.attention_matrices(x.as_slice(), n, d).unwrap()[0];
                    for i in 0..n {
                        let e: Vec<f64> = (0..n)
                            .map(|j| w.get(i, j) * (1.7 * bm.bilinear(x.row(i), x.row(j))).exp())
                            .collect();
                        let norm = match model_kind {
                            ModelKind::Sa => e.iter().sum::<f64>(),
                            ModelKind::Usa => n as f64,
                        };
                        for j in 0..n {
                            assert!((a[i * n + j] - e[j] / norm).abs() < 1e-14);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn all_ones_weights_give_the_unmasked_field() {
        let (n, d) = (16, 5);
        let x = sample(n, d, 22);
        let mut rng = crate::sampling::stream(22, 0, crate::sampling::Purpose::Matrices);
        let b = crate::sampling::ginibre(d, &mut rng).unwrap();
        let ones = Mask::Weighted(PairWeights::from_fn(n, |_, _| 1.0).unwrap());
        for kind in [ModelKind::Sa, ModelKind::Usa] {
            // general B: the same row-shifted path, so the same bits
            let general =
                SelfAttention::general(1.3, Some(b.clone()), Value::Identity, kind).unwrap();
            let (mut plain, mut weighted) = (vec![0.0; n * d], vec![0.0; n * d]);
            general.drift(x.as_slice(), n, d, &mut plain).unwrap();
            with_mask(general, ones.clone())
                .drift(x.as_slice(), n, d, &mut weighted)
                .unwrap();
            assert_eq!(plain, weighted, "{kind:?}, B general");
            // B = I: the unmasked field takes the symmetric weights, the weighted one row shifts
            let identity = SelfAttention::general(2.5, None, Value::Identity, kind).unwrap();
            identity.drift(x.as_slice(), n, d, &mut plain).unwrap();
            with_mask(identity, ones.clone())
                .drift(x.as_slice(), n, d, &mut weighted)
                .unwrap();
            for (p, w) in plain.iter().zip(&weighted) {
                assert!(
                    (p - w).abs() <= 1e-15 * p.abs().max(1.0),
                    "{kind:?}: {p} vs {w}"
                );
            }
        }
    }

    #[test]
    fn causal_weights_reproduce_the_causal_mask_bit_for_bit() {
        for (n, d) in [(7, 3), (16, 4)] {
            let x = sample(n, d, 23);
            let mut rng = crate::sampling::stream(23, 0, crate::sampling::Purpose::Matrices);
            let b = crate::sampling::ginibre(d, &mut rng).unwrap();
            let causal = Mask::Weighted(PairWeights::causal(n).unwrap());
            for kind in [ModelKind::Sa, ModelKind::Usa] {
                for interaction in [None, Some(b.clone())] {
                    let model =
                        SelfAttention::general(0.9, interaction.clone(), Value::Identity, kind)
                            .unwrap();
                    let (mut masked, mut weighted) = (vec![0.0; n * d], vec![0.0; n * d]);
                    model
                        .clone()
                        .with_causal_mask()
                        .velocity(x.as_slice(), n, d, &mut masked)
                        .unwrap();
                    with_mask(model, causal.clone())
                        .velocity(x.as_slice(), n, d, &mut weighted)
                        .unwrap();
                    assert_eq!(masked, weighted, "{kind:?}, n = {n}");
                }
            }
        }
    }

    #[test]
    fn pair_weights_must_match_the_particle_count() {
        let x = sample(4, 3, 24);
        let model = SelfAttention::builder()
            .mask(Mask::Weighted(PairWeights::alibi(5, 1.0).unwrap()))
            .build()
            .unwrap();
        let mut out = vec![0.0; 12];
        let err = model.drift(x.as_slice(), 4, 3, &mut out).unwrap_err();
        assert!(
            matches!(
                err,
                DynamicsError::InvalidParameter {
                    name: "pair weights",
                    ..
                }
            ),
            "{err}"
        );
        assert!(model.attention_matrices(x.as_slice(), 4, 3).is_err());
        assert!(PairWeights::alibi(3, -1.0).is_err());
        assert!(PairWeights::causal_alibi(3, f64::NAN).is_err());
        // a huge slope leaves the diagonal: every row still has a positive weight
        let w = PairWeights::causal_alibi(3, 1e300).unwrap();
        assert_eq!(w.as_slice(), &[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]);
    }

    #[test]
    fn masks_round_trip_through_serde_and_are_validated_on_the_way_in() {
        let mask = Mask::Weighted(PairWeights::causal_alibi(3, 0.5).unwrap());
        let text = serde_json::to_string(&mask).unwrap();
        assert_eq!(serde_json::from_str::<Mask>(&text).unwrap(), mask);
        assert_eq!(serde_json::to_string(&Mask::Causal).unwrap(), "\"Causal\"");
        let bad = r#"{"Weighted":{"n":2,"weights":[1.0,0.0,0.0,0.0]}}"#;
        assert!(serde_json::from_str::<Mask>(bad).is_err());
        let model = SelfAttention::builder().mask(mask).build().unwrap();
        let text = serde_json::to_string(&model).unwrap();
        assert!(text.contains("\"model\":\"sa\""), "{text}");
        assert_eq!(serde_json::from_str::<SelfAttention>(&text).unwrap(), model);
    }

    #[test]
    fn builder_defaults_options_and_errors() {
        let (n, d) = (6, 3);
        let x = sample(n, d, 25);
        let mut rng = crate::sampling::stream(25, 0, crate::sampling::Purpose::Matrices);
        let q = crate::sampling::ginibre(d, &mut rng).unwrap();
        let k = crate::sampling::ginibre(d, &mut rng).unwrap();
        let v = crate::sampling::goe(d, &mut rng).unwrap();
        // the defaults are (SA), beta = 1, Q = K = V = I, no mask, sphere
        let defaults = SelfAttention::builder().build().unwrap();
        assert_eq!(defaults, SelfAttention::sa(1.0).unwrap());
        assert_eq!(
            (defaults.beta(), defaults.model(), defaults.mask()),
            (1.0, ModelKind::Sa, &Mask::Full)
        );
        assert_eq!(defaults.geometry(), Geometry::Sphere);
        // head(q, k, v) is B = Q^T K
        let by_qk = SelfAttention::builder()
            .head(Some(q.clone()), Some(k.clone()), Value::Matrix(v.clone()))
            .build()
            .unwrap();
        let b = q.transpose().matmul(&k).unwrap();
        assert_eq!(by_qk.heads()[0].interaction.as_ref(), Some(&b));
        let (mut got, mut want) = (vec![0.0; n * d], vec![0.0; n * d]);
        by_qk.velocity(x.as_slice(), n, d, &mut got).unwrap();
        let reference = naive_velocity(&x, 1.0, &b, &v, false, false);
        for (g, r) in got.iter().zip(&reference) {
            assert!((g - r).abs() < 1e-13);
        }
        // only Q: B = Q^T; only K: B = K
        let only_q = SelfAttention::builder()
            .head(Some(q.clone()), None, Value::Identity)
            .build()
            .unwrap();
        assert_eq!(only_q.heads()[0].interaction, Some(q.transpose()));
        // repulsive: V = -I in every head
        let repulsive = SelfAttention::builder()
            .beta(0.7)
            .head_interaction(None, Value::Matrix(v.clone()))
            .repulsive()
            .build()
            .unwrap();
        assert_eq!(
            repulsive,
            SelfAttention::general(0.7, None, Value::NegIdentity, ModelKind::Sa).unwrap()
        );
        repulsive.velocity(x.as_slice(), n, d, &mut got).unwrap();
        SelfAttention::sa(0.7)
            .unwrap()
            .velocity(x.as_slice(), n, d, &mut want)
            .unwrap();
        assert!(got.iter().zip(&want).all(|(g, w)| (g + w).abs() < 1e-15));
        // euclidean is (9.1)
        assert_eq!(
            SelfAttention::builder()
                .beta(2.0)
                .euclidean()
                .build()
                .unwrap(),
            SelfAttention::pure_attention(2.0, None, Value::Identity).unwrap()
        );
        // errors: beta, no heads, Q and K of different sizes
        for beta in [f64::NAN, -1.0, f64::INFINITY] {
            assert!(SelfAttention::builder().beta(beta).build().is_err());
        }
        assert!(SelfAttention::builder().heads(vec![]).build().is_err());
        let small = SquareMatrix::identity(2);
        assert!(
            SelfAttention::builder()
                .head(Some(q), Some(small), Value::Identity)
                .build()
                .is_err()
        );
    }
}
