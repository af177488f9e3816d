//! attnflow-transformer: a pure-Rust BERT encoder and the data pipeline of \[GLPR\] Figure 1.
//!
//! \[GLPR\] Figure 1 shows that the L2-normalised token representations x_i / |x_i| of one paragraph, pushed
//! through the layers of a trained transformer, cluster with depth: the histogram of the pairwise cosines
//! {<x_i, x_j>, i != j} moves towards 1. The paper used ALBERT xlarge v2, whose weights cannot be obtained
//! offline here; this crate runs the stand-in all-MiniLM-L6-v2 (BERT architecture, 6 layers, hidden 384,
//! 12 heads) obtained with `cargo xtask fetch-model`, with layer schedules that iterate past the trained
//! depth (`repeat-last` is the closest analogue of ALBERT's single shared layer).
//!
//! Modules:
//! - [`bert`]: the encoder forward pass (embeddings, multi-head self-attention, GELU feed-forward,
//!   post-LayerNorm), returning the hidden state after every layer, generic over the working precision
//!   ([`bert::Scalar`]: `f64` by default, `f32` about twice as fast);
//! - [`tokenize`]: the WordPiece tokenizer (Hugging Face `tokenizer.json`), baked-in padding/truncation off;
//! - [`special`]: vectorised erfc, GELU and softmax (fixed-order sums);
//! - [`spectra`]: per-head spectra of the value map and of the symmetric part of Q^T K (\[GLPR\] section 2, Problem 2);
//! - [`figure1`]: the Figure-1 data (per-layer cosine statistics and histograms) as serde structs;
//! - [`error`]: the typed error.

pub mod bert;
pub mod error;
pub mod figure1;
pub mod special;
pub mod spectra;
pub mod tokenize;

pub use bert::{BertConfig, BertEncoder, LayerSchedule, Scalar};
pub use error::TransformerError;
pub use tokenize::WordPieceTokenizer;
