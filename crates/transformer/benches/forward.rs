//! 48-layer forward pass of all-MiniLM-L6-v2 over a 300-token Wikipedia text (8x the trained depth), in f64
//! and f32, on the rayon pool (all cores; the partition is fixed, so the bits do not depend on it). Skips (prints a message naming `cargo xtask fetch-model`) when the weights are
//! absent. Run: `cargo bench -p attnflow-transformer --bench forward`.

use std::path::Path;
use std::time::Duration;

use attnflow_transformer::bert::{FETCH_HINT, Scalar};
use attnflow_transformer::figure1::Corpus;
use attnflow_transformer::{BertEncoder, LayerSchedule, WordPieceTokenizer};
use criterion::{Criterion, criterion_group, criterion_main};

const DEPTH: usize = 48;
const N_TOKENS: usize = 300;

/// 300 token ids: `[CLS]`, the corpus paragraphs' tokens in order, `[SEP]`.
fn bench_tokens(root: &Path, tokenizer: &WordPieceTokenizer) -> Vec<u32> {
    let corpus = Corpus::load(&root.join("data/fig1/paragraphs.json")).expect("committed corpus");
    let mut ids = Vec::with_capacity(N_TOKENS);
    for p in &corpus.paragraphs {
        let t = tokenizer.encode(&p.text).expect("encode");
        if ids.is_empty() {
            ids.push(t[0]);
        }
        ids.extend_from_slice(&t[1..t.len() - 1]);
    }
    let sep = *tokenizer.encode("").expect("encode").last().expect("[SEP]");
    ids.truncate(N_TOKENS - 1);
    ids.push(sep);
    assert_eq!(ids.len(), N_TOKENS, "corpus too short for the bench");
    ids
}

fn bench_precision<T: Scalar>(c: &mut Criterion, dir: &Path, ids: &[u32]) {
    let encoder = BertEncoder::<T>::load(dir).expect("load weights");
    for schedule in [LayerSchedule::RepeatLast, LayerSchedule::Cycle] {
        c.bench_function(
            &format!(
                "minilm_{}_{}_{DEPTH}_layers_{N_TOKENS}_tokens",
                T::NAME,
                schedule.name()
            ),
            |b| {
                b.iter(|| {
                    encoder
                        .forward_with(ids, schedule, DEPTH, |_, s| {
                            std::hint::black_box(s);
                        })
                        .expect("forward")
                })
            },
        );
    }
}

fn forward(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = root.join("models/minilm");
    if !dir.join("model.safetensors").is_file() {
        eprintln!("skipping the forward bench: weights absent; {FETCH_HINT}");
        return;
    }
    let tokenizer = WordPieceTokenizer::from_file(&dir.join("tokenizer.json")).expect("tokenizer");
    let ids = bench_tokens(&root, &tokenizer);
    bench_precision::<f64>(c, &dir, &ids);
    bench_precision::<f32>(c, &dir, &ids);
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(10));
    targets = forward
}
criterion_main!(benches);
