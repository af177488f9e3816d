//! BERT encoder forward pass (Hugging Face `BertModel` in evaluation mode) with faer matrix products.
//!
//! Token states are stored as columns of a `d x n` matrix (`d` = hidden size, `n` = tokens). With post-LayerNorm
//! `LN(x) = gamma * (x - mean(x)) / sqrt(var(x) + eps) + beta` (biased variance, eps from `config.json`):
//!
//! - embeddings: `h^0_i = LN(E_word[t_i] + E_pos[i] + E_type[0])`;
//! - attention, head `a` of `H`, head size `d_h = d / H`:
//!   `A^a_ij = exp(<q^a_i, k^a_j> / sqrt(d_h)) / sum_k exp(<q^a_i, k^a_k> / sqrt(d_h))`, `q = W_Q h + b_Q`, etc.,
//!   `u_i = LN(h_i + W_O (concat_a sum_j A^a_ij v^a_j) + b_O)`;
//! - feed-forward: `h'_i = LN(u_i + W_2 gelu(W_1 u_i + b_1) + b_2)`, `gelu(x) = x (1 + erf(x / sqrt 2)) / 2`.
//!
//! This is the discrete-time multi-head attention dynamics with a feed-forward layer of \[GLPR\] (2.7)-(2.8)
//! (Lie-Trotter splitting: attention step, then MLP step), with LayerNorm in place of the projection onto the
//! sphere. A [`LayerSchedule`] chooses which trained layer acts at each step, so the dynamics can be run past the
//! trained depth as in \[GLPR\] Figure 1 (ALBERT's shared layer iterated to 48 layers).
//!
//! Each layer runs in parallel (rayon) over fixed partitions, blocks of 32 tokens or single heads, and every
//! product inside a job uses `Par::Seq`: the bits do not depend on the number of threads. The working precision is the
//! type parameter of [`BertEncoder`]: `f64` (default, used for the tests and Figure 1) or `f32` (the checkpoint's
//! own precision, about twice as fast). Weights stored as F32 are widened exactly to f64.

use std::path::Path;
use std::str::FromStr;

use faer::linalg::matmul::matmul;
use faer::prelude::{Reborrow, ReborrowMut};
use faer::{Accum, Mat, MatMut, MatRef, Par};
use safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};

use crate::error::{TransformerError, read_file};
use crate::special;
use rayon::prelude::*;

/// How to obtain the real weights; quoted by every "model missing" error and skipped test.
pub const FETCH_HINT: &str =
    "run `cargo xtask fetch-model` to download all-MiniLM-L6-v2 into models/minilm (git-ignored)";

/// The subset of a Hugging Face BERT `config.json` that the forward pass needs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BertConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    pub type_vocab_size: usize,
    pub layer_norm_eps: f64,
    /// Only `"gelu"` (the exact, erf-based GELU) is supported.
    #[serde(default = "default_hidden_act")]
    pub hidden_act: String,
    /// Only `"absolute"` position embeddings are supported.
    #[serde(default = "default_position_embedding_type")]
    pub position_embedding_type: String,
}

fn default_hidden_act() -> String {
    "gelu".to_string()
}

fn default_position_embedding_type() -> String {
    "absolute".to_string()
}

impl BertConfig {
    /// Parse and validate a `config.json`.
    pub fn from_json_file(path: &Path) -> Result<Self, TransformerError> {
        let bytes = read_file(path)?;
        let config: BertConfig =
            serde_json::from_slice(&bytes).map_err(|source| TransformerError::Json {
                path: path.to_path_buf(),
                source,
            })?;
        config.validate()?;
        Ok(config)
    }

    /// Check that the sizes are positive and consistent and the architecture is supported.
    pub fn validate(&self) -> Result<(), TransformerError> {
        let sizes = [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("intermediate_size", self.intermediate_size),
            ("max_position_embeddings", self.max_position_embeddings),
            ("type_vocab_size", self.type_vocab_size),
        ];
        for (name, value) in sizes {
            if value == 0 {
                return Err(TransformerError::Config(format!("{name} must be positive")));
            }
        }
        if !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return Err(TransformerError::Config(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            )));
        }
        if !(self.layer_norm_eps.is_finite() && self.layer_norm_eps > 0.0) {
            return Err(TransformerError::Config(format!(
                "layer_norm_eps must be positive and finite, got {}",
                self.layer_norm_eps
            )));
        }
        if self.hidden_act != "gelu" {
            return Err(TransformerError::Config(format!(
                "hidden_act {:?} unsupported (only the erf GELU \"gelu\")",
                self.hidden_act
            )));
        }
        if self.position_embedding_type != "absolute" {
            return Err(TransformerError::Config(format!(
                "position_embedding_type {:?} unsupported (only \"absolute\")",
                self.position_embedding_type
            )));
        }
        Ok(())
    }

    /// Size of one attention head, `hidden_size / num_attention_heads`.
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }
}

/// Which trained layer acts at each step of the forward pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LayerSchedule {
    /// Layers `0 .. L-1` once; depth past `L` is an error.
    Trained,
    /// Step `t` applies layer `t mod L` (the trained stack repeated).
    Cycle,
    /// Layers `0 .. L-1`, then layer `L-1` repeated (closest to ALBERT's shared layer).
    RepeatLast,
}

impl LayerSchedule {
    /// All schedules, in a fixed order.
    pub const ALL: [LayerSchedule; 3] = [
        LayerSchedule::Trained,
        LayerSchedule::Cycle,
        LayerSchedule::RepeatLast,
    ];

    /// The index of the trained layer applied at 0-based step `step` of a stack of `n_layers` layers;
    /// `None` when the schedule does not reach that step (`Trained` past `n_layers`) or `n_layers == 0`.
    pub fn layer_for_step(self, step: usize, n_layers: usize) -> Option<usize> {
        if n_layers == 0 {
            return None;
        }
        match self {
            LayerSchedule::Trained => (step < n_layers).then_some(step),
            LayerSchedule::Cycle => Some(step % n_layers),
            LayerSchedule::RepeatLast => Some(step.min(n_layers - 1)),
        }
    }

    /// The schedule's name as written in JSON and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            LayerSchedule::Trained => "trained",
            LayerSchedule::Cycle => "cycle",
            LayerSchedule::RepeatLast => "repeat-last",
        }
    }
}

impl FromStr for LayerSchedule {
    type Err = TransformerError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        LayerSchedule::ALL
            .into_iter()
            .find(|schedule| schedule.name() == s)
            .ok_or_else(|| {
                TransformerError::InvalidInput(format!(
                    "unknown layer schedule {s:?} (expected trained, cycle or repeat-last)"
                ))
            })
    }
}

/// An affine map `y = W x + b` with `W` of shape `out x in` (the PyTorch `nn.Linear` layout).
struct Linear<T: Scalar> {
    weight: Mat<T>,
    bias: Vec<T>,
}

impl<T: Scalar> Linear<T> {
    /// `out = W x + b` (`Accum::Replace`) or `out += W x + b` (`Accum::Add`, a residual connection)
    /// for every column of `x` (`in x n` -> `out x n`), single-threaded.
    fn apply(&self, x: MatRef<'_, T>, mut out: MatMut<'_, T>, accum: Accum) {
        matmul(
            out.rb_mut(),
            accum,
            self.weight.as_ref(),
            x,
            T::ONE,
            Par::Seq,
        );
        add_bias(out, &self.bias);
    }
}

/// `LN(x) = gamma * (x - mean(x)) / sqrt(var(x) + eps) + beta` per token (column), biased variance.
struct LayerNorm<T: Scalar> {
    gamma: Vec<T>,
    beta: Vec<T>,
    eps: T,
}

impl<T: Scalar> LayerNorm<T> {
    fn apply_in_place(&self, mut x: MatMut<'_, T>) {
        let d = T::from_f64(x.nrows() as f64);
        for j in 0..x.ncols() {
            let col = column(&mut x, j);
            let mean = col.iter().fold(T::ZERO, |acc, &v| acc + v) / d;
            let var = col
                .iter()
                .fold(T::ZERO, |acc, &v| acc + (v - mean) * (v - mean))
                / d;
            let inv_std = T::ONE / (var + self.eps).sqrt();
            for ((v, &g), &b) in col.iter_mut().zip(&self.gamma).zip(&self.beta) {
                *v = (*v - mean) * inv_std * g + b;
            }
        }
    }
}

struct Embeddings<T: Scalar> {
    /// `d x vocab`: column `t` is the embedding of token id `t`.
    word: Mat<T>,
    /// `d x max_positions`.
    position: Mat<T>,
    /// `d x type_vocab`.
    token_type: Mat<T>,
    norm: LayerNorm<T>,
}

struct EncoderLayer<T: Scalar> {
    query: Linear<T>,
    key: Linear<T>,
    value: Linear<T>,
    attention_output: Linear<T>,
    attention_norm: LayerNorm<T>,
    ffn_in: Linear<T>,
    ffn_out: Linear<T>,
    ffn_norm: LayerNorm<T>,
}

/// Borrowed attention weights of one trained layer (PyTorch layout `out x in`), for spectra.
pub struct AttentionWeights<'a, T: Scalar> {
    pub query: MatRef<'a, T>,
    pub key: MatRef<'a, T>,
    pub value: MatRef<'a, T>,
    pub output: MatRef<'a, T>,
}

/// A BERT encoder with weights and activations in precision `T` (`f64` by default; `f32` halves the cost
/// of the matrix products and matches the checkpoint's own precision).
pub struct BertEncoder<T: Scalar = f64> {
    config: BertConfig,
    embeddings: Embeddings<T>,
    layers: Vec<EncoderLayer<T>>,
}

/// Scratch buffers reused across layers.
struct Workspace<T: Scalar> {
    query: Mat<T>,
    key: Mat<T>,
    value: Mat<T>,
    /// One `n x n` score matrix per head (heads run in parallel).
    scores: Vec<Mat<T>>,
    context: Mat<T>,
    intermediate: Mat<T>,
}

impl<T: Scalar> BertEncoder<T> {
    /// Load `config.json` and `model.safetensors` from `dir`.
    ///
    /// A missing directory or file gives [`TransformerError::ModelMissing`] with [`FETCH_HINT`].
    pub fn load(dir: &Path) -> Result<Self, TransformerError> {
        let config_path = dir.join("config.json");
        let weights_path = dir.join("model.safetensors");
        for path in [&config_path, &weights_path] {
            if !path.is_file() {
                return Err(TransformerError::ModelMissing {
                    path: path.clone(),
                    hint: FETCH_HINT.to_string(),
                });
            }
        }
        let config = BertConfig::from_json_file(&config_path)?;
        let bytes = read_file(&weights_path)?;
        Self::from_safetensors(config, &bytes)
    }

    /// Build the encoder from a validated configuration and the bytes of a safetensors file using the Hugging
    /// Face `BertModel` tensor names (optionally prefixed by `bert.`). Extra tensors (pooler, ...) are ignored.
    pub fn from_safetensors(config: BertConfig, bytes: &[u8]) -> Result<Self, TransformerError> {
        config.validate()?;
        let tensors = SafeTensors::deserialize(bytes)
            .map_err(|e| TransformerError::SafeTensors(e.to_string()))?;
        let prefix = if tensors.tensor("embeddings.word_embeddings.weight").is_ok() {
            ""
        } else {
            "bert."
        };
        let load =
            |name: &str, shape: &[usize]| load_tensor(&tensors, &format!("{prefix}{name}"), shape);
        let d = config.hidden_size;
        let ffn = config.intermediate_size;
        let layer_norm = |name: &str| -> Result<LayerNorm<T>, TransformerError> {
            Ok(LayerNorm {
                gamma: to_scalar(load(&format!("{name}.weight"), &[d])?),
                beta: to_scalar(load(&format!("{name}.bias"), &[d])?),
                eps: T::from_f64(config.layer_norm_eps),
            })
        };
        let linear = |name: &str, out: usize, inp: usize| -> Result<Linear<T>, TransformerError> {
            let w = load(&format!("{name}.weight"), &[out, inp])?;
            Ok(Linear {
                weight: Mat::from_fn(out, inp, |o, i| T::from_f64(w[o * inp + i])),
                bias: to_scalar(load(&format!("{name}.bias"), &[out])?),
            })
        };
        let table = |name: &str, rows: usize| -> Result<Mat<T>, TransformerError> {
            let t = load(name, &[rows, d])?;
            Ok(Mat::from_fn(d, rows, |k, r| T::from_f64(t[r * d + k])))
        };
        let embeddings = Embeddings {
            word: table("embeddings.word_embeddings.weight", config.vocab_size)?,
            position: table(
                "embeddings.position_embeddings.weight",
                config.max_position_embeddings,
            )?,
            token_type: table(
                "embeddings.token_type_embeddings.weight",
                config.type_vocab_size,
            )?,
            norm: layer_norm("embeddings.LayerNorm")?,
        };
        let layers = (0..config.num_hidden_layers)
            .map(|l| {
                let p = format!("encoder.layer.{l}");
                Ok(EncoderLayer {
                    query: linear(&format!("{p}.attention.self.query"), d, d)?,
                    key: linear(&format!("{p}.attention.self.key"), d, d)?,
                    value: linear(&format!("{p}.attention.self.value"), d, d)?,
                    attention_output: linear(&format!("{p}.attention.output.dense"), d, d)?,
                    attention_norm: layer_norm(&format!("{p}.attention.output.LayerNorm"))?,
                    ffn_in: linear(&format!("{p}.intermediate.dense"), ffn, d)?,
                    ffn_out: linear(&format!("{p}.output.dense"), d, ffn)?,
                    ffn_norm: layer_norm(&format!("{p}.output.LayerNorm"))?,
                })
            })
            .collect::<Result<Vec<_>, TransformerError>>()?;
        Ok(Self {
            config,
            embeddings,
            layers,
        })
    }

    /// The model configuration.
    pub fn config(&self) -> &BertConfig {
        &self.config
    }

    /// Number of trained layers `L`.
    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }

    /// Attention weights of trained layer `layer` (`None` if out of range).
    pub fn attention_weights(&self, layer: usize) -> Option<AttentionWeights<'_, T>> {
        self.layers.get(layer).map(|l| AttentionWeights {
            query: l.query.weight.as_ref(),
            key: l.key.weight.as_ref(),
            value: l.value.weight.as_ref(),
            output: l.attention_output.weight.as_ref(),
        })
    }

    /// Run the encoder on `token_ids` (one sequence, token type 0, no padding) for `depth` layer steps chosen by
    /// `schedule`. Returns `depth + 1` matrices of shape `hidden_size x n_tokens`: index 0 is the embedding
    /// output, index `t` the state after step `t`.
    pub fn forward(
        &self,
        token_ids: &[u32],
        schedule: LayerSchedule,
        depth: usize,
    ) -> Result<Vec<Mat<T>>, TransformerError> {
        let mut states = Vec::with_capacity(depth + 1);
        self.forward_with(token_ids, schedule, depth, |_, state| {
            states.push(state.clone());
        })?;
        Ok(states)
    }

    /// Like [`Self::forward`] but hands each state (`step`, `hidden_size x n_tokens`) to `visit` instead of
    /// keeping them all.
    pub fn forward_with(
        &self,
        token_ids: &[u32],
        schedule: LayerSchedule,
        depth: usize,
        mut visit: impl FnMut(usize, &Mat<T>),
    ) -> Result<(), TransformerError> {
        let n = token_ids.len();
        let cfg = &self.config;
        if n == 0 {
            return Err(TransformerError::InvalidInput(
                "the token sequence is empty".to_string(),
            ));
        }
        if n > cfg.max_position_embeddings {
            return Err(TransformerError::InvalidInput(format!(
                "{n} tokens exceed the model's {} positions",
                cfg.max_position_embeddings
            )));
        }
        if let Some(bad) = token_ids.iter().find(|&&t| t as usize >= cfg.vocab_size) {
            return Err(TransformerError::InvalidInput(format!(
                "token id {bad} is outside the vocabulary of size {}",
                cfg.vocab_size
            )));
        }
        let plan = (0..depth)
            .map(|step| schedule.layer_for_step(step, self.layers.len()))
            .collect::<Option<Vec<usize>>>()
            .ok_or_else(|| {
                TransformerError::InvalidInput(format!(
                    "schedule {} stops at the trained depth {}, asked for depth {depth}",
                    schedule.name(),
                    self.layers.len()
                ))
            })?;

        let mut state = self.embed(token_ids);
        visit(0, &state);
        let d = cfg.hidden_size;
        let mut ws = Workspace {
            query: Mat::zeros(d, n),
            key: Mat::zeros(d, n),
            value: Mat::zeros(d, n),
            scores: (0..cfg.num_attention_heads)
                .map(|_| Mat::zeros(n, n))
                .collect(),
            context: Mat::zeros(d, n),
            intermediate: Mat::zeros(cfg.intermediate_size, n),
        };
        for (step, &layer) in plan.iter().enumerate() {
            self.apply_layer(&self.layers[layer], &mut state, &mut ws);
            visit(step + 1, &state);
        }
        Ok(())
    }

    fn embed(&self, token_ids: &[u32]) -> Mat<T> {
        let e = &self.embeddings;
        let d = self.config.hidden_size;
        let mut h = Mat::from_fn(d, token_ids.len(), |k, i| {
            e.word[(k, token_ids[i] as usize)] + e.position[(k, i)] + e.token_type[(k, 0)]
        });
        e.norm.apply_in_place(h.as_mut());
        h
    }

    /// One post-LN encoder layer applied in place to `state` (`d x n`), in three parallel phases with
    /// fixed partitions (so the result does not depend on the number of threads): the Q, K, V
    /// projections by blocks of [`TOKEN_BLOCK`] tokens, attention by head, then the output projection,
    /// LayerNorm, feed-forward and LayerNorm by blocks of tokens (all column-wise operations).
    fn apply_layer(&self, layer: &EncoderLayer<T>, state: &mut Mat<T>, ws: &mut Workspace<T>) {
        let dh = self.config.head_dim();
        let scale = T::from_f64(1.0 / (dh as f64).sqrt());
        let x = state.as_ref();
        column_blocks(ws.query.as_mut())
            .into_iter()
            .zip(column_blocks(ws.key.as_mut()))
            .zip(column_blocks(ws.value.as_mut()))
            .collect::<Vec<_>>()
            .into_par_iter()
            .enumerate()
            .for_each(|(b, ((q, k), v))| {
                let xb = x.subcols(b * TOKEN_BLOCK, q.ncols());
                layer.query.apply(xb, q, Accum::Replace);
                layer.key.apply(xb, k, Accum::Replace);
                layer.value.apply(xb, v, Accum::Replace);
            });
        let (query, key, value) = (ws.query.as_ref(), ws.key.as_ref(), ws.value.as_ref());
        row_blocks(ws.context.as_mut(), dh)
            .into_iter()
            .zip(ws.scores.iter_mut())
            .collect::<Vec<_>>()
            .into_par_iter()
            .enumerate()
            .for_each(|(a, (context, scores))| {
                let (q, k, v) = (
                    query.subrows(a * dh, dh),
                    key.subrows(a * dh, dh),
                    value.subrows(a * dh, dh),
                );
                // scores[j, i] = <k_j, q_i> / sqrt(d_h): column i holds query i's logits over the keys j.
                matmul(
                    scores.as_mut(),
                    Accum::Replace,
                    k.transpose(),
                    q,
                    scale,
                    Par::Seq,
                );
                for i in 0..scores.ncols() {
                    T::softmax_in_place(scores.col_as_slice_mut(i));
                }
                matmul(
                    context,
                    Accum::Replace,
                    v,
                    scores.as_ref(),
                    T::ONE,
                    Par::Seq,
                );
            });
        let context = ws.context.as_ref();
        column_blocks(state.as_mut())
            .into_iter()
            .zip(column_blocks(ws.intermediate.as_mut()))
            .collect::<Vec<_>>()
            .into_par_iter()
            .enumerate()
            .for_each(|(b, (mut h, mut inner))| {
                // h <- LN(h + W_O context + b_O)
                let cb = context.subcols(b * TOKEN_BLOCK, h.ncols());
                layer.attention_output.apply(cb, h.rb_mut(), Accum::Add);
                layer.attention_norm.apply_in_place(h.rb_mut());
                // h <- LN(h + W_2 gelu(W_1 h + b_1) + b_2)
                layer.ffn_in.apply(h.rb(), inner.rb_mut(), Accum::Replace);
                for j in 0..inner.ncols() {
                    T::gelu_in_place(column(&mut inner, j));
                }
                layer.ffn_out.apply(inner.rb(), h.rb_mut(), Accum::Add);
                layer.ffn_norm.apply_in_place(h);
            });
    }
}

/// Tokens per parallel job in the column-wise phases of a layer.
const TOKEN_BLOCK: usize = 32;

/// `m` split into consecutive blocks of [`TOKEN_BLOCK`] columns (the last one shorter).
fn column_blocks<T>(m: MatMut<'_, T>) -> Vec<MatMut<'_, T>> {
    split_blocks(m, TOKEN_BLOCK, |m| m.ncols(), |m, k| m.split_at_col_mut(k))
}

/// `m` split into consecutive blocks of `rows` rows.
fn row_blocks<T>(m: MatMut<'_, T>, rows: usize) -> Vec<MatMut<'_, T>> {
    split_blocks(m, rows, |m| m.nrows(), |m, k| m.split_at_row_mut(k))
}

/// Cuts a matrix view in two at an index along one axis.
type SplitAt<'a, T> = fn(MatMut<'a, T>, usize) -> (MatMut<'a, T>, MatMut<'a, T>);

/// `m` cut into consecutive blocks of `size` along one axis (`len` its extent, `split` the cut).
fn split_blocks<'a, T>(
    m: MatMut<'a, T>,
    size: usize,
    len: fn(&MatMut<'a, T>) -> usize,
    split: SplitAt<'a, T>,
) -> Vec<MatMut<'a, T>> {
    let mut blocks = Vec::with_capacity(len(&m).div_ceil(size));
    let mut rest = m;
    while len(&rest) > size {
        let (block, tail) = split(rest, size);
        blocks.push(block);
        rest = tail;
    }
    blocks.push(rest);
    blocks
}

/// Column `j` of a column-major view as a slice.
fn column<'a, T>(m: &'a mut MatMut<'_, T>, j: usize) -> &'a mut [T] {
    m.rb_mut()
        .col_mut(j)
        .try_as_col_major_mut()
        .expect("encoder matrices are column-major")
        .as_slice_mut()
}

fn add_bias<T: Scalar>(mut x: MatMut<'_, T>, bias: &[T]) {
    for j in 0..x.ncols() {
        for (v, &b) in column(&mut x, j).iter_mut().zip(bias) {
            *v += b;
        }
    }
}

/// The floating-point types the encoder runs in (`f32`, `f64`), with the few functions it needs.
pub trait Scalar:
    faer::traits::ComplexField
    + Copy
    + PartialOrd
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Mul<Output = Self>
    + std::ops::Div<Output = Self>
    + std::ops::AddAssign
    + std::ops::DivAssign
    + Send
    + Sync
    + 'static
{
    const ZERO: Self;
    const ONE: Self;
    /// Name of the precision ("f32", "f64").
    const NAME: &'static str;
    /// Round an f64 to this precision.
    fn from_f64(x: f64) -> Self;
    /// Widen to f64 (exact).
    fn to_f64(self) -> f64;
    fn sqrt(self) -> Self;
    /// Exact GELU, `x (1 + erf(x / sqrt 2)) / 2`, elementwise ([`crate::special::gelu`]).
    fn gelu_in_place(v: &mut [Self]);
    /// Stable softmax of a slice ([`crate::special::softmax_in_place`]).
    fn softmax_in_place(v: &mut [Self]);
}

impl Scalar for f64 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    const NAME: &'static str = "f64";
    fn from_f64(x: f64) -> Self {
        x
    }
    fn to_f64(self) -> f64 {
        self
    }
    fn sqrt(self) -> Self {
        f64::sqrt(self)
    }
    fn gelu_in_place(v: &mut [Self]) {
        special::gelu_in_place(v);
    }
    fn softmax_in_place(v: &mut [Self]) {
        special::softmax_in_place(v);
    }
}

impl Scalar for f32 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    const NAME: &'static str = "f32";
    fn from_f64(x: f64) -> Self {
        x as f32
    }
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    fn sqrt(self) -> Self {
        f32::sqrt(self)
    }
    /// Evaluated in f64 and rounded (within one f32 rounding of the exact value).
    fn gelu_in_place(v: &mut [Self]) {
        for chunk in v.chunks_mut(WIDE_STACK) {
            in_f64(chunk, special::gelu_in_place);
        }
    }
    /// Evaluated in f64 and rounded.
    fn softmax_in_place(v: &mut [Self]) {
        in_f64(v, special::softmax_in_place);
    }
}

/// Values widened on the stack by [`in_f64`] (BERT's longest sequence); longer slices use the heap.
const WIDE_STACK: usize = 512;

/// Applies `f` to `v` widened to f64, then rounds back to f32.
fn in_f64(v: &mut [f32], f: impl FnOnce(&mut [f64])) {
    let mut stack = [0.0f64; WIDE_STACK];
    let mut heap = Vec::new();
    let wide: &mut [f64] = if v.len() <= WIDE_STACK {
        &mut stack[..v.len()]
    } else {
        heap.resize(v.len(), 0.0);
        &mut heap
    };
    wide.iter_mut()
        .zip(v.iter())
        .for_each(|(w, &x)| *w = f64::from(x));
    f(wide);
    v.iter_mut()
        .zip(wide.iter())
        .for_each(|(x, &w)| *x = w as f32);
}

fn to_scalar<T: Scalar>(values: Vec<f64>) -> Vec<T> {
    values.into_iter().map(T::from_f64).collect()
}

/// Read tensor `name`, check its shape, widen to f64 (row-major) and reject non-finite values.
fn load_tensor(
    tensors: &SafeTensors<'_>,
    name: &str,
    expected: &[usize],
) -> Result<Vec<f64>, TransformerError> {
    let view = tensors
        .tensor(name)
        .map_err(|_| TransformerError::MissingTensor(name.to_string()))?;
    if view.shape() != expected {
        return Err(TransformerError::TensorShape {
            name: name.to_string(),
            found: view.shape().to_vec(),
            expected: expected.to_vec(),
        });
    }
    let data = view.data();
    let values: Vec<f64> = match view.dtype() {
        Dtype::F32 => data
            .chunks_exact(4)
            .map(|b| f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
            .collect(),
        Dtype::F64 => data
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
            .collect(),
        other => {
            return Err(TransformerError::TensorDtype {
                name: name.to_string(),
                dtype: format!("{other:?}"),
            });
        }
    };
    if values.iter().any(|v| !v.is_finite()) {
        return Err(TransformerError::NonFiniteTensor(name.to_string()));
    }
    Ok(values)
}
