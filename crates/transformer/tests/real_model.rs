//! Tests on the real all-MiniLM-L6-v2 weights. They need `models/minilm` (`cargo xtask fetch-model`), so they
//! are ignored by default (CI downloads no model): run them with
//! `cargo test -p attnflow-transformer --test real_model -- --ignored`; without the weights they fail with a
//! message naming that command.
//!
//! The reference `data/fig1/reference_minilm.json` was produced once by the Hugging Face `transformers`
//! library (see `crates/transformer/tools/make_reference_fixture.py` and the `library` field of the file).

use std::path::{Path, PathBuf};

use attnflow_transformer::bert::FETCH_HINT;
use attnflow_transformer::figure1::{Corpus, pairwise_cosines};
use attnflow_transformer::{BertEncoder, LayerSchedule, WordPieceTokenizer};
use serde::Deserialize;

/// Tolerance of the comparison with the `transformers` reference (issue 5).
const REFERENCE_TOLERANCE: f64 = 1e-4;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The model directory; panics with the fetch command when the weights are absent.
fn model_dir() -> PathBuf {
    let dir = root().join("models/minilm");
    assert!(
        dir.join("model.safetensors").is_file() && dir.join("tokenizer.json").is_file(),
        "real weights absent at {}; {FETCH_HINT}",
        dir.display()
    );
    dir
}

#[derive(Deserialize)]
struct LayerReference {
    mean: f64,
    std: f64,
    mean_cosine: f64,
    raw: std::collections::BTreeMap<String, Vec<f64>>,
}

#[derive(Deserialize)]
struct Reference {
    text: String,
    token_ids: Vec<u32>,
    float64: Vec<LayerReference>,
    float32: Vec<LayerReference>,
}

fn load_reference() -> Reference {
    let path = root().join("data/fig1/reference_minilm.json");
    let bytes = std::fs::read(&path).expect("committed reference fixture");
    serde_json::from_slice(&bytes).expect("valid reference JSON")
}

/// Largest absolute deviation from the reference over all layers and recorded statistics/raw values.
fn max_error<T: attnflow_transformer::bert::Scalar>(
    states: &[faer::Mat<T>],
    reference: &[LayerReference],
) -> f64 {
    assert_eq!(states.len(), reference.len());
    let mut max = 0.0_f64;
    for (state, r) in states.iter().zip(reference) {
        let wide = faer::Mat::from_fn(state.nrows(), state.ncols(), |i, j| state[(i, j)].to_f64());
        let (d, n) = (wide.nrows(), wide.ncols());
        let count = (d * n) as f64;
        let mut sum = 0.0;
        for j in 0..n {
            sum += wide.col_as_slice(j).iter().sum::<f64>();
        }
        let mean = sum / count;
        let mut var = 0.0;
        for j in 0..n {
            var += wide
                .col_as_slice(j)
                .iter()
                .map(|v| (v - mean).powi(2))
                .sum::<f64>();
        }
        let std = (var / count).sqrt();
        let cosines = pairwise_cosines(&wide).expect("cosines");
        let mean_cosine = cosines.iter().sum::<f64>() / cosines.len() as f64;
        max = max.max((mean - r.mean).abs());
        max = max.max((std - r.std).abs());
        max = max.max((mean_cosine - r.mean_cosine).abs());
        for (token, values) in &r.raw {
            let t: usize = token.parse().expect("token index");
            for (k, v) in values.iter().enumerate() {
                max = max.max((wide[(k, t)] - v).abs());
            }
        }
    }
    max
}

#[test]
#[ignore = "needs the MiniLM weights: cargo xtask fetch-model"]
fn matches_transformers_reference() {
    let dir = model_dir();
    let reference = load_reference();
    let tokenizer = WordPieceTokenizer::from_file(&dir.join("tokenizer.json")).expect("tokenizer");
    let ids = tokenizer.encode(&reference.text).expect("encode");
    assert_eq!(
        ids, reference.token_ids,
        "tokenizer differs from the reference"
    );

    let encoder = BertEncoder::<f64>::load(&dir).expect("load f64");
    let states = encoder
        .forward(&ids, LayerSchedule::Trained, 6)
        .expect("forward");
    let err64 = max_error(&states, &reference.float64);
    eprintln!("f64 encoder vs transformers float64: max abs error {err64:e}");
    assert!(err64 < REFERENCE_TOLERANCE, "f64 error {err64:e}");

    let encoder32 = BertEncoder::<f32>::load(&dir).expect("load f32");
    let states32 = encoder32
        .forward(&ids, LayerSchedule::Trained, 6)
        .expect("forward f32");
    let err32 = max_error(&states32, &reference.float32);
    eprintln!("f32 encoder vs transformers float32: max abs error {err32:e}");
    assert!(err32 < REFERENCE_TOLERANCE, "f32 error {err32:e}");

    // Past the trained depth the schedules agree with `trained` on the first L layers.
    for schedule in [LayerSchedule::Cycle, LayerSchedule::RepeatLast] {
        let long = encoder.forward(&ids, schedule, 8).expect("forward");
        assert_eq!(&long[..7], &states[..]);
    }
}

#[test]
#[ignore = "needs the MiniLM weights: cargo xtask fetch-model"]
fn corpus_token_counts_and_clustering_with_depth() {
    let dir = model_dir();
    let corpus = Corpus::load(&root().join("data/fig1/paragraphs.json")).expect("corpus");
    assert!(corpus.paragraphs.len() >= 3);
    let tokenizer = WordPieceTokenizer::from_file(&dir.join("tokenizer.json")).expect("tokenizer");
    for p in &corpus.paragraphs {
        let ids = tokenizer.encode(&p.text).expect("encode");
        assert_eq!(ids.len(), p.n_tokens, "{}", p.id);
        assert!(p.n_tokens > 200, "{} has {} tokens", p.id, p.n_tokens);
    }
    // The phenomenon of [GLPR] Figure 1: the mean cosine grows from the embeddings to depth 4L (f32 for speed).
    let encoder = BertEncoder::<f32>::load(&dir).expect("load");
    let ids = tokenizer
        .encode(&corpus.paragraphs[0].text)
        .expect("encode");
    let states = encoder
        .forward(&ids, LayerSchedule::RepeatLast, 24)
        .expect("forward");
    let mean = |t: usize| {
        let s = &states[t];
        let wide = faer::Mat::from_fn(s.nrows(), s.ncols(), |i, j| f64::from(s[(i, j)]));
        let c = pairwise_cosines(&wide).expect("cosines");
        c.iter().sum::<f64>() / c.len() as f64
    };
    let (m0, m6, m24) = (mean(0), mean(6), mean(24));
    eprintln!("mean cosine: layer 0 {m0:.4}, layer 6 {m6:.4}, layer 24 {m24:.4}");
    assert!(m24 > m0, "no clustering: {m0} -> {m24}");
}
