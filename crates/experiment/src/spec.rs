//! The experiment description as it is written: [`Spec`] and its parts, read from TOML or JSON
//! (`deny_unknown_fields`, kebab-case names). Every field has a default (the papers' defaults), so
//! the empty document is a valid spec: SA, beta = 1, Q = K = V = I, n = 32 i.i.d. uniform points on
//! S^2, the authors' Euler scheme with dt = 0.1 up to t = 30, the Figure 3 statistic at 200
//! checkpoints, one realisation. [`Spec::resolve`](crate::Spec::resolve) checks it and fills the
//! rest (n and d from the data, files loaded).

use crate::error::{ExperimentError, Result, file_error};
use attnflow_dynamics::spectral::SummationKind;
use attnflow_dynamics::{MatrixEnsemble, ModelKind, Precision};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};

/// Default number of particles (\[GLPR\] Figures 3-5: n = 32).
pub const DEFAULT_N: usize = 32;
/// Default ambient dimension (S^2, \[GLPR\] Figure 2).
pub const DEFAULT_D: usize = 3;
/// Default inverse temperature.
pub const DEFAULT_BETA: f64 = 1.0;
/// The authors' step (eta = 0.1).
pub const DEFAULT_DT: f64 = 0.1;
/// The final time of \[GLPR\] Figure 3.
pub const DEFAULT_T_MAX: f64 = 30.0;
/// Checkpoints of \[GLPR\] Figure 3 (linspace(0, 30, 200)).
pub const DEFAULT_CHECKPOINTS: usize = 200;
/// Threshold of the Figure 3 statistic.
pub const DEFAULT_DELTA: f64 = 1e-3;
/// Default dp54 and rkmk45 tolerances (as `attnflow simulate`).
pub const DEFAULT_RTOL: f64 = 1e-8;
pub const DEFAULT_ATOL: f64 = 1e-10;
/// Default relative tolerance of the numerical rank (singular values > tol * s_max).
pub const DEFAULT_RANK_TOL: f64 = 1e-10;

/// A complete description of a run. Read with [`Spec::from_toml_str`], [`Spec::from_json_str`] or
/// [`Spec::from_path`]; check and complete with [`Spec::resolve`](crate::Spec::resolve).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Spec {
    /// Number of particles; inferred from `init.path` when absent, else [`DEFAULT_N`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<usize>,
    /// Ambient dimension; inferred from `init.path` or a given matrix when absent, else [`DEFAULT_D`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub d: Option<usize>,
    /// Master seed of every random stream.
    #[serde(default)]
    pub seed: u64,
    #[serde(default)]
    pub field: FieldSpec,
    #[serde(default)]
    pub init: InitSpec,
    #[serde(default)]
    pub integrator: IntegratorSpec,
    #[serde(default)]
    pub time: TimeSpec,
    #[serde(
        default = "default_observables",
        deserialize_with = "deserialize_observables"
    )]
    pub observables: Vec<ObservableSpec>,
    #[serde(default)]
    pub ensemble: EnsembleSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep: Option<SweepSpec>,
    /// Directory that relative paths are relative to (the spec file's; `None`: the working directory).
    #[serde(skip)]
    pub base_dir: Option<PathBuf>,
}

impl Default for Spec {
    fn default() -> Self {
        Self {
            n: None,
            d: None,
            seed: 0,
            field: FieldSpec::default(),
            init: InitSpec::default(),
            integrator: IntegratorSpec::default(),
            time: TimeSpec::default(),
            observables: default_observables(),
            ensemble: EnsembleSpec::default(),
            sweep: None,
            base_dir: None,
        }
    }
}

fn default_observables() -> Vec<ObservableSpec> {
    vec![ObservableSpec::of(ObservableKind::PairFraction)]
}

/// The vector field, \[GLPR\] (2.3)-(2.7) and (9.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FieldSpec {
    /// `sa` (softmax, 1 / Z_i) or `usa` (1 / n).
    #[serde(default = "default_model")]
    pub model: ModelKind,
    /// Inverse temperature (>= 0; beta = 0 is allowed).
    #[serde(default = "default_beta")]
    pub beta: f64,
    /// Attention heads, summed (\[GLPR\] (2.7)); default one head Q = K = V = I. Exclusive with `matrices`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heads: Option<Vec<HeadSpec>>,
    /// A \[GLPR\] Figure 5 ensemble (`identity`, `ginibre`, `wigner-psd`, `ginibre-gf`, `wigner-gf`),
    /// drawn per realisation and applied exactly as `attnflow_dynamics::PhaseDiagramSpec` does
    /// (the authors' V^T, [`attnflow_dynamics::WeightDraw::value_applied`]). Exclusive with `heads`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matrices: Option<MatrixEnsemble>,
    #[serde(default)]
    pub mask: MaskSpec,
    /// V = -I (\[GLPR\] section 9.1); the heads' `v` must then be left at `identity`.
    #[serde(default)]
    pub repulsive: bool,
    #[serde(default)]
    pub geometry: GeometrySpec,
    /// How the sums over j are evaluated: `direct` (every pair, the default) or `spectral`
    /// (Fourier / spherical-harmonic series, O(n K) instead of O(n^2):
    /// `attnflow_dynamics::spectral`; S^1 and S^2 only (d = 2, 3), one head with Q = K = V = I,
    /// no mask, not repulsive).
    #[serde(default, skip_serializing_if = "SummationKind::is_direct")]
    pub summation: SummationKind,
    /// Relative truncation tolerance of `summation = "spectral"`, in (0, 1) (default 1e-13).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summation_tol: Option<f64>,
}

fn default_model() -> ModelKind {
    ModelKind::Sa
}
fn default_beta() -> f64 {
    DEFAULT_BETA
}

impl Default for FieldSpec {
    fn default() -> Self {
        Self {
            model: default_model(),
            beta: DEFAULT_BETA,
            heads: None,
            matrices: None,
            mask: MaskSpec::None,
            repulsive: false,
            geometry: GeometrySpec::Sphere,
            summation: SummationKind::Direct,
            summation_tol: None,
        }
    }
}

/// Which pairs interact, and with which weight: A_ij proportional to w_ij exp(beta x_i^T B x_j)
/// (`attnflow_dynamics::Mask`). Written `"none"`, `"causal"`, `{weights = {npy = "w.npy"}}` or
/// `{alibi = {slope = 0.5}}` (`causal = true` for the decoder form).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum MaskSpec {
    /// w_ij = 1.
    #[default]
    None,
    /// j <= i only: w_ij = 1[j <= i].
    Causal,
    /// Given pair weights: an n x n array in a .npy, .csv or .json file (relative to the spec),
    /// entries finite and >= 0, every row with a positive entry.
    Weights { npy: PathBuf },
    /// ALiBi (Press, Smith and Lewis 2022): the logit bias -slope |i - j|, i.e.
    /// w_ij = exp(-slope |i - j|); with `causal = true`, exp(-slope (i - j)) for j <= i and 0 above.
    Alibi {
        slope: f64,
        #[serde(default)]
        causal: bool,
    },
}

/// Where the particles live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GeometrySpec {
    /// On S^{d-1}, drift projected, integrators renormalise.
    #[default]
    Sphere,
    /// Pure attention in R^d, \[GLPR\] (9.1).
    Euclidean,
}

/// One head: weights exp(beta x_i^T Q^T K x_j), velocity V y_i (a value matrix always means V y,
/// the mathematical convention of \[GLPR\] (2.3)).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct HeadSpec {
    #[serde(default)]
    pub q: MatrixSource,
    #[serde(default)]
    pub k: MatrixSource,
    #[serde(default)]
    pub v: MatrixSource,
}

/// Laws of seeded random matrices (i.i.d. N(0, 1) entries G; GOE (G + G^T) / sqrt(2); Wishart G G^T).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RandomLaw {
    Ginibre,
    Wigner,
    Psd,
}

/// A d x d weight matrix: `"identity"`, `{scalar = c}`, `{diagonal = [...]}`,
/// `{matrix = [[...], ...]}`, `{npy = "path"}` or `{random = "ginibre" | "wigner" | "psd", scale = s}`
/// (drawn per realisation from the Matrices stream, heads in order, q then k then v; scale default 1).
#[derive(Debug, Clone, PartialEq, Default)]
pub enum MatrixSource {
    #[default]
    Identity,
    Scalar(f64),
    Diagonal(Vec<f64>),
    Matrix(Vec<Vec<f64>>),
    Npy(PathBuf),
    Random {
        law: RandomLaw,
        scale: f64,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MatrixTable {
    scalar: Option<f64>,
    diagonal: Option<Vec<f64>>,
    matrix: Option<Vec<Vec<f64>>>,
    npy: Option<PathBuf>,
    random: Option<RandomLaw>,
    scale: Option<f64>,
}

impl Serialize for MatrixSource {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            MatrixSource::Identity => s.serialize_str("identity"),
            MatrixSource::Scalar(c) => single(s, "scalar", c),
            MatrixSource::Diagonal(v) => single(s, "diagonal", v),
            MatrixSource::Matrix(m) => single(s, "matrix", m),
            MatrixSource::Npy(p) => single(s, "npy", p),
            MatrixSource::Random { law, scale } => {
                let mut map = s.serialize_map(Some(2))?;
                map.serialize_entry("random", law)?;
                map.serialize_entry("scale", scale)?;
                map.end()
            }
        }
    }
}

fn single<S: Serializer, T: Serialize + ?Sized>(
    s: S,
    key: &str,
    value: &T,
) -> std::result::Result<S::Ok, S::Error> {
    let mut map = s.serialize_map(Some(1))?;
    map.serialize_entry(key, value)?;
    map.end()
}

impl<'de> Deserialize<'de> for MatrixSource {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = MatrixSource;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "\"identity\" or a table with one of scalar, diagonal, matrix, npy, random",
                )
            }
            fn visit_str<E: de::Error>(self, s: &str) -> std::result::Result<MatrixSource, E> {
                match s {
                    "identity" => Ok(MatrixSource::Identity),
                    other => Err(E::custom(format!(
                        "unknown matrix `{other}`: expected \"identity\" or a table ({{scalar = c}}, {{diagonal = [...]}}, {{matrix = [[...]]}}, {{npy = \"path\"}}, {{random = \"ginibre\"}})"
                    ))),
                }
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                map: A,
            ) -> std::result::Result<MatrixSource, A::Error> {
                let t = MatrixTable::deserialize(de::value::MapAccessDeserializer::new(map))?;
                let given = [
                    t.scalar.is_some(),
                    t.diagonal.is_some(),
                    t.matrix.is_some(),
                    t.npy.is_some(),
                    t.random.is_some(),
                ]
                .iter()
                .filter(|&&g| g)
                .count();
                if given != 1 {
                    return Err(de::Error::custom(format!(
                        "a matrix table needs exactly one of scalar, diagonal, matrix, npy, random; got {given}"
                    )));
                }
                if t.scale.is_some() && t.random.is_none() {
                    return Err(de::Error::custom("`scale` applies to random matrices only"));
                }
                Ok(if let Some(c) = t.scalar {
                    MatrixSource::Scalar(c)
                } else if let Some(v) = t.diagonal {
                    MatrixSource::Diagonal(v)
                } else if let Some(m) = t.matrix {
                    MatrixSource::Matrix(m)
                } else if let Some(p) = t.npy {
                    MatrixSource::Npy(p)
                } else {
                    MatrixSource::Random {
                        law: t.random.unwrap_or(RandomLaw::Ginibre),
                        scale: t.scale.unwrap_or(1.0),
                    }
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// The initial configuration (drawn from the stream (seed, index, InitialCondition)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum InitSpec {
    /// i.i.d. uniform on S^{d-1}.
    Uniform {},
    /// i.i.d. uniform on the open hemisphere {x: <x, e_1> > 0} (a uniform point reflected).
    Hemisphere {},
    /// Deterministic: <x_i, x_j> = rho for every i != j, in the first n coordinates (needs d >= n,
    /// -1/(n-1) <= rho < 1; rho = 0 is the orthonormal frame x_i = e_i of \[GLPR\] Thm 6.8).
    Equiangular { rho: f64 },
    /// k centres i.i.d. uniform; particle i belongs to centre i mod k and is
    /// normalize(c + spread * P_c g) with g standard Gaussian (P_c: tangent projection at c).
    Clusters { k: usize, spread: f64 },
    /// Given points: an (n, d) array in a .npy, .csv or .json file; renormalised (with a warning)
    /// when a norm is off 1 by more than 1e-12 on the sphere; taken as they are in R^d.
    Points { path: PathBuf },
}

impl Default for InitSpec {
    fn default() -> Self {
        InitSpec::Uniform {}
    }
}

/// Time-stepping scheme (`integrator.method`; with the cargo feature `clap`, a
/// `clap::ValueEnum`, the `--integrator` of the `attnflow` binary). The Lie-group methods
/// (`attnflow_dynamics::lie`) keep the points on the sphere by construction and refuse
/// `geometry = "euclidean"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// The authors' scheme x <- normalize(x + dt drift), order 1, renormalised
    #[default]
    PaperEuler,
    /// Classical Runge-Kutta, order 4, projected onto the sphere
    Rk4,
    /// Adaptive Dormand-Prince 5(4) within each dt, order 5, projected after each accepted step
    Dp54,
    /// Lie-Euler (geodesic step), order 1, on the sphere by construction (no projection)
    LieEuler,
    /// Crouch-Grossman, order 3, on the sphere by construction (no projection)
    Cg3,
    /// Runge-Kutta-Munthe-Kaas, order 4, on the sphere by construction (no projection)
    Rkmk4,
    /// Commutator-free Lie-group method, order 4, on the sphere by construction (no projection)
    Cf4,
    /// Adaptive RKMK Dormand-Prince 5(4), order 5, on the sphere by construction (no projection)
    Rkmk45,
    /// Minimising movement (implicit Euler) of the energy, order 1: the energy never decreases
    /// at any dt; gradient flows only (one head, B = Q^T K symmetric, V = B, no mask, sphere)
    EnergyStable,
}

impl Method {
    /// Every method, in the order of the `--integrator` help.
    pub const ALL: [Method; 9] = [
        Method::PaperEuler,
        Method::Rk4,
        Method::Dp54,
        Method::LieEuler,
        Method::Cg3,
        Method::Rkmk4,
        Method::Cf4,
        Method::Rkmk45,
        Method::EnergyStable,
    ];

    /// The name in specs (`integrator.method`) and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Method::PaperEuler => "paper-euler",
            Method::Rk4 => "rk4",
            Method::Dp54 => "dp54",
            Method::LieEuler => "lie-euler",
            Method::Cg3 => "cg3",
            Method::Rkmk4 => "rkmk4",
            Method::Cf4 => "cf4",
            Method::Rkmk45 => "rkmk45",
            Method::EnergyStable => "energy-stable",
        }
    }

    /// The adaptive methods, the ones that take `integrator.rtol` and `atol`.
    pub fn takes_tolerances(self) -> bool {
        matches!(self, Method::Dp54 | Method::Rkmk45)
    }

    /// The Lie-group methods: on the sphere only.
    pub fn is_lie_group(self) -> bool {
        matches!(
            self,
            Method::LieEuler | Method::Cg3 | Method::Rkmk4 | Method::Cf4 | Method::Rkmk45
        )
    }
}

/// Which coordinates are evolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RepresentationSpec {
    /// Reduced (the n x n Bartlett factor) when exact and cheaper: uniform start, one head with
    /// Q = K = V = I on the sphere, d > n, and no `positions` observable; full otherwise.
    #[default]
    Auto,
    Full,
    Reduced,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct IntegratorSpec {
    #[serde(default)]
    pub method: Method,
    /// dp54 and rkmk45 only (default [`DEFAULT_RTOL`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtol: Option<f64>,
    /// dp54 and rkmk45 only (default [`DEFAULT_ATOL`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub atol: Option<f64>,
    #[serde(default)]
    pub representation: RepresentationSpec,
    /// Used by the phase-diagram runner ([`crate::phase_diagram()`](fn@crate::phase_diagram)) only:
    /// stop a realisation once its points are provably locked in consensus, exact for the paper's
    /// Euler step with V = I (`attnflow_dynamics::ensemble::consensus_locked`); default true.
    /// [`crate::run()`](fn@crate::run) always integrates every step (the same numbers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consensus_exit: Option<bool>,
    /// Used by the phase-diagram runner only: `"f64"` (the default, not printed) or `"f32"`
    /// (`attnflow_dynamics::precision`: the paper-euler integrator, the same draws and statistic);
    /// [`crate::run()`](fn@crate::run) refuses `"f32"`.
    #[serde(default, skip_serializing_if = "Precision::is_f64")]
    pub precision: Precision,
}

/// When a checkpoint time t_c is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckpointRule {
    /// The authors' rule: after the first step k >= 1 with k dt >= t_c (t = 0 after one step).
    #[default]
    Paper,
    /// The first step k >= 0 with k dt >= t_c (t = 0 is the initial configuration).
    Exact,
}

/// Checkpoint times: a count (linspace(0, t-max, count)) or explicit ascending times.
#[derive(Debug, Clone, PartialEq)]
pub enum Checkpoints {
    Count(usize),
    Times(Vec<f64>),
}

impl Default for Checkpoints {
    fn default() -> Self {
        Checkpoints::Count(DEFAULT_CHECKPOINTS)
    }
}

impl Serialize for Checkpoints {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            Checkpoints::Count(c) => s.serialize_u64(*c as u64),
            Checkpoints::Times(t) => t.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Checkpoints {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Checkpoints;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number of checkpoints or a list of times")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Checkpoints, E> {
                usize::try_from(v)
                    .map(Checkpoints::Count)
                    .map_err(|_| E::custom("too many checkpoints"))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Checkpoints, E> {
                u64::try_from(v)
                    .map_err(|_| E::custom(format!("a checkpoint count must be >= 1, got {v}")))
                    .and_then(|v| self.visit_u64(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<Checkpoints, A::Error> {
                let mut times = Vec::new();
                while let Some(t) = seq.next_element::<f64>()? {
                    times.push(t);
                }
                Ok(Checkpoints::Times(times))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TimeSpec {
    #[serde(default = "default_dt")]
    pub dt: f64,
    #[serde(default = "default_t_max")]
    pub t_max: f64,
    #[serde(default)]
    pub checkpoints: Checkpoints,
    #[serde(default)]
    pub checkpoint_rule: CheckpointRule,
}

fn default_dt() -> f64 {
    DEFAULT_DT
}
fn default_t_max() -> f64 {
    DEFAULT_T_MAX
}

impl Default for TimeSpec {
    fn default() -> Self {
        Self {
            dt: DEFAULT_DT,
            t_max: DEFAULT_T_MAX,
            checkpoints: Checkpoints::default(),
            checkpoint_rule: CheckpointRule::Paper,
        }
    }
}

/// What is measured at each checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ObservableKind {
    /// The configuration (n rows of d coordinates); not aggregatable.
    Positions,
    /// Fraction of ordered pairs i != j with <x_i, x_j> > 1 - delta (\[GLPR\] Figure 3).
    PairFraction,
    /// Connected components of {(i, j): <x_i, x_j> > 1 - delta}, optionally with the labels.
    ClusterCount,
    /// E_beta = (1/(2 beta n^2)) sum_ij e^{beta <x_i, x_j>} (\[GLPR\] (3.5)); needs beta > 0.
    Energy,
    /// min_{i != j} cos(x_i, x_j).
    MinCosine,
    /// mean_{i != j} cos(x_i, x_j).
    MeanCosine,
    /// max_{i, j} of the geodesic distance (sphere) or the Euclidean distance (R^d).
    Diameter,
    /// Every head's attention matrix A^h (n x n); not aggregatable.
    AttentionMatrix,
    /// Per head: numerical rank of A^h (singular values > tol * s_max) and effective rank
    /// exp(-sum p_k log p_k), p_k = s_k / sum s (Roy & Vetterli 2007).
    AttentionRank,
}

impl ObservableKind {
    pub fn name(self) -> &'static str {
        match self {
            ObservableKind::Positions => "positions",
            ObservableKind::PairFraction => "pair-fraction",
            ObservableKind::ClusterCount => "cluster-count",
            ObservableKind::Energy => "energy",
            ObservableKind::MinCosine => "min-cosine",
            ObservableKind::MeanCosine => "mean-cosine",
            ObservableKind::Diameter => "diameter",
            ObservableKind::AttentionMatrix => "attention-matrix",
            ObservableKind::AttentionRank => "attention-rank",
        }
    }
}

/// One observable: a bare name (`"energy"`) or a table (`{kind = "pair-fraction", delta = 1e-3}`).
/// `name` (default: the kind) keys the output and must be unique.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ObservableSpec {
    pub kind: ObservableKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// pair-fraction, cluster-count (default [`DEFAULT_DELTA`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta: Option<f64>,
    /// cluster-count: also report the labels (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<bool>,
    /// attention-rank: relative tolerance (default [`DEFAULT_RANK_TOL`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tol: Option<f64>,
}

impl ObservableSpec {
    pub fn of(kind: ObservableKind) -> Self {
        Self {
            kind,
            name: None,
            delta: None,
            labels: None,
            tol: None,
        }
    }
}

/// Accepts a bare name or a table.
pub(crate) fn deserialize_observables<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Vec<ObservableSpec>, D::Error> {
    Vec::<ObservableEntry>::deserialize(d).map(|v| v.into_iter().map(|e| e.0).collect())
}

struct ObservableEntry(ObservableSpec);

impl<'de> Deserialize<'de> for ObservableEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ObservableEntry;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an observable name or a table with `kind`")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> std::result::Result<ObservableEntry, E> {
                ObservableKind::deserialize(de::value::StrDeserializer::<E>::new(s))
                    .map(|k| ObservableEntry(ObservableSpec::of(k)))
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                map: A,
            ) -> std::result::Result<ObservableEntry, A::Error> {
                ObservableSpec::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(ObservableEntry)
            }
        }
        d.deserialize_any(V)
    }
}

/// How realisations are reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Aggregate {
    /// Every realisation separately.
    None,
    /// Mean and standard error over realisations (scalar observables only).
    Mean,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct EnsembleSpec {
    #[serde(default = "default_realizations")]
    pub realizations: usize,
    /// Default: `none` for one realisation, `mean` for more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggregate: Option<Aggregate>,
}

fn default_realizations() -> usize {
    1
}

impl Default for EnsembleSpec {
    fn default() -> Self {
        Self {
            realizations: 1,
            aggregate: None,
        }
    }
}

/// Equispaced values (numpy's linspace).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Linspace {
    pub start: f64,
    pub stop: f64,
    pub count: usize,
}

/// A sweep over one scalar parameter: `values = [...]` or `linspace = {start, stop, count}`.
/// Sweepable: beta, n, d, seed, dt, t-max, rho, k, spread, delta, rtol, atol.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SweepSpec {
    pub parameter: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<f64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linspace: Option<Linspace>,
}

/// Line number (1-based) of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

fn path_string(path: &serde_path_to_error::Path) -> String {
    let s = path.to_string();
    if s == "." || s.is_empty() {
        "(root)".into()
    } else {
        s
    }
}

/// The first line of a message (parsers sometimes add context lines).
fn first_line(message: &str) -> String {
    message.lines().next().unwrap_or("").trim().to_string()
}

impl Spec {
    /// Parses a TOML document.
    pub fn from_toml_str(text: &str) -> Result<Spec> {
        let de = toml::de::Deserializer::parse(text).map_err(|e| ExperimentError::Parse {
            location: e
                .span()
                .map(|s| format!("line {}: ", line_of(text, s.start)))
                .unwrap_or_default(),
            path: "(toml)".into(),
            message: first_line(e.message()),
        })?;
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = path_string(e.path());
            let inner = e.into_inner();
            ExperimentError::Parse {
                location: inner
                    .span()
                    .map(|s| format!("line {}: ", line_of(text, s.start)))
                    .unwrap_or_default(),
                path,
                message: first_line(inner.message()),
            }
        })
    }

    /// Parses a JSON document.
    pub fn from_json_str(text: &str) -> Result<Spec> {
        let mut de = serde_json::Deserializer::from_str(text);
        let spec: Spec = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = path_string(e.path());
            let inner = e.into_inner();
            let message = inner.to_string();
            // serde_json appends " at line L column C": move the line to the front
            let (message, location) = match message.rfind(" at line ") {
                Some(pos) => (
                    message[..pos].to_string(),
                    format!("line {}: ", inner.line()),
                ),
                None => (message, String::new()),
            };
            ExperimentError::Parse {
                location,
                path,
                message: first_line(&message),
            }
        })?;
        de.end().map_err(|e| ExperimentError::Parse {
            location: format!("line {}: ", e.line()),
            path: "(root)".into(),
            message: "trailing characters after the spec".into(),
        })?;
        Ok(spec)
    }

    /// Reads a `.toml` or `.json` spec file; relative paths in it are relative to its directory.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Spec> {
        let path = path.as_ref();
        let field = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| file_error(&field, format!("cannot read the spec: {e}")))?;
        if text.trim().is_empty() {
            return Err(file_error(&field, "the spec file is empty"));
        }
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        let mut spec = match ext.as_str() {
            "toml" => Self::from_toml_str(&text),
            "json" => Self::from_json_str(&text),
            other => Err(file_error(
                &field,
                format!("unknown spec extension `{other}` (expected .toml or .json)"),
            )),
        }
        .map_err(|e| match e {
            ExperimentError::Parse {
                location,
                path: p,
                message,
            } => ExperimentError::Parse {
                location: format!(
                    "{}: {location}",
                    path.file_name()
                        .map_or(field.clone(), |f| f.to_string_lossy().into())
                ),
                path: p,
                message,
            },
            other => other,
        })?;
        let dir = path.parent().unwrap_or(Path::new(""));
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        spec.base_dir = Some(std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf()));
        Ok(spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_names_are_the_spec_names_and_the_engine_names() {
        for m in Method::ALL {
            let spec =
                Spec::from_toml_str(&format!("[integrator]\nmethod = \"{}\"", m.name())).unwrap();
            assert_eq!(spec.integrator.method, m);
            assert_eq!(
                serde_json::to_string(&m).unwrap(),
                format!("\"{}\"", m.name())
            );
        }
        let tolerances: Vec<_> = Method::ALL
            .into_iter()
            .filter(|m| m.takes_tolerances())
            .collect();
        assert_eq!(tolerances, [Method::Dp54, Method::Rkmk45]);
        let lie = Method::ALL.into_iter().filter(|m| m.is_lie_group()).count();
        assert_eq!(lie, 5);
    }

    /// `energy-stable` runs the gradient flows with the energy non-decreasing from checkpoint to
    /// checkpoint at dt = 2, and is refused at resolve time for a spec that shows it has no
    /// gradient flow (the engine refuses the rest, e.g. B = Q^T K not symmetric, when it runs).
    #[test]
    fn energy_stable_runs_gradient_flows_and_refuses_the_others() {
        let base = "n = 12\nd = 3\nseed = 4\nobservables = [\"energy\"]\n[field]\nmodel = \"usa\"\nbeta = 4.0\n[time]\nt-max = 40.0\ndt = 2.0\ncheckpoints = 21\n[integrator]\nmethod = \"energy-stable\"\n";
        let resolved = Spec::from_toml_str(base).unwrap().resolve().unwrap();
        let out = crate::run(&resolved, &|_, _| {}).unwrap();
        let runs = out.points[0].runs.as_ref().unwrap();
        let energies: Vec<f64> = runs[0]
            .checkpoints
            .iter()
            .map(|c| match c.values["energy"] {
                crate::Observed::Number(e) => e,
                ref other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(energies.len(), 21);
        assert!(
            energies.windows(2).all(|w| w[1] >= w[0] * (1.0 - 1e-14)),
            "{energies:?}"
        );
        assert!(energies[20] > energies[0]);
        for (extra, shown) in [
            ("mask = \"causal\"\n", "a mask"),
            ("repulsive = true\n", "repulsive"),
            ("[[field.heads]]\n[[field.heads]]\n", "2 heads"),
        ] {
            let spec = base.replace("beta = 4.0\n", &format!("beta = 4.0\n{extra}"));
            let err = Spec::from_toml_str(&spec)
                .unwrap()
                .resolve()
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("integrator.method") && err.contains(shown),
                "{err}"
            );
        }
        let nonsymmetric = base.replace(
            "beta = 4.0\n",
            "beta = 4.0\n[[field.heads]]\nk = {matrix = [[1.0, 2.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]}\nv = {matrix = [[1.0, 2.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]}\n",
        );
        let resolved = Spec::from_toml_str(&nonsymmetric)
            .unwrap()
            .resolve()
            .unwrap();
        let err = crate::run(&resolved, &|_, _| {}).unwrap_err().to_string();
        assert!(
            err.contains("energy-stable needs a gradient-flow field"),
            "{err}"
        );
    }

    #[test]
    fn matrix_sources_and_observables_have_short_and_long_forms() {
        let s = Spec::from_toml_str(
            "observables = [\"energy\", {kind = \"cluster-count\", labels = true}]\n[[field.heads]]\nq = {scalar = 2.0}\nk = {random = \"psd\"}\nv = {diagonal = [1.0, 2.0]}",
        )
        .unwrap();
        let h = &s.field.heads.as_ref().unwrap()[0];
        assert_eq!(h.q, MatrixSource::Scalar(2.0));
        assert_eq!(
            h.k,
            MatrixSource::Random {
                law: RandomLaw::Psd,
                scale: 1.0
            }
        );
        assert_eq!(h.v, MatrixSource::Diagonal(vec![1.0, 2.0]));
        assert_eq!(s.observables[0], ObservableSpec::of(ObservableKind::Energy));
        assert_eq!(s.observables[1].labels, Some(true));
        assert_eq!(
            Spec::from_json_str("{\"time\": {\"checkpoints\": [0.5, 1]}}")
                .unwrap()
                .time
                .checkpoints,
            Checkpoints::Times(vec![0.5, 1.0])
        );
        assert!(Spec::from_toml_str("[[field.heads]]\nq = {scale = 2.0}").is_err());
    }
}
