//! Quick wall-clock timing of the 48-layer MiniLM pass over 300 tokens (the criterion bench
//! `forward` is the reference measurement): best of `REPS` runs per precision.
//! `cargo run --release -p attnflow-transformer --example forward_timing`.

use std::path::Path;
use std::time::Instant;

use attnflow_transformer::bert::{FETCH_HINT, Scalar};
use attnflow_transformer::figure1::Corpus;
use attnflow_transformer::{BertEncoder, LayerSchedule, WordPieceTokenizer};

const REPS: usize = 5;

fn best_of<T: Scalar>(dir: &Path, ids: &[u32]) -> f64 {
    let encoder = BertEncoder::<T>::load(dir).expect("load weights");
    (0..REPS)
        .map(|_| {
            let start = Instant::now();
            encoder
                .forward_with(ids, LayerSchedule::RepeatLast, 48, |_, s| {
                    std::hint::black_box(s);
                })
                .expect("forward");
            start.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = root.join("models/minilm");
    if !dir.join("model.safetensors").is_file() {
        eprintln!("weights absent; {FETCH_HINT}");
        std::process::exit(1);
    }
    let tokenizer = WordPieceTokenizer::from_file(&dir.join("tokenizer.json")).expect("tokenizer");
    let corpus = Corpus::load(&root.join("data/fig1/paragraphs.json")).expect("corpus");
    let mut ids = tokenizer
        .encode(&corpus.paragraphs[0].text)
        .expect("encode");
    for p in &corpus.paragraphs[1..] {
        ids.extend_from_slice(&tokenizer.encode(&p.text).expect("encode")[1..]);
    }
    ids.truncate(300);
    println!(
        "48 layers x {} tokens: f64 {:.3} s, f32 {:.3} s (best of {REPS}, {} rayon threads)",
        ids.len(),
        best_of::<f64>(&dir, &ids),
        best_of::<f32>(&dir, &ids),
        rayon::current_num_threads()
    );
}
