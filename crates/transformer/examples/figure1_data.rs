//! Compute the Figure-1 data with the default parameters and write it as JSON.
//! Usage: `cargo run --release -p attnflow-transformer --example figure1_data -- OUT.json [f32]`
//! (needs `cargo xtask fetch-model`; the figures crate renders the same data as `glpr-fig1`).

use std::path::Path;

use attnflow_transformer::figure1::{Figure1Params, Precision, compute};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let out = args.get(1).ok_or("usage: figure1_data OUT.json [f32]")?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut params = Figure1Params::minilm_defaults(&root);
    if args.get(2).map(String::as_str) == Some("f32") {
        params.precision = Precision::F32;
    }
    let start = std::time::Instant::now();
    let data = compute(&params, &|done, total| {
        eprintln!("{done}/{total} ({:.1?})", start.elapsed())
    })?;
    std::fs::write(out, serde_json::to_string(&data)?)?;
    for p in &data.paragraphs {
        for run in &p.runs {
            let means: Vec<String> = run
                .rows
                .iter()
                .map(|r| format!("{}:{:.3}", r.layer, r.mean))
                .collect();
            println!(
                "{} [{} tokens] {}: {}",
                p.id,
                p.n_tokens,
                run.schedule.name(),
                means.join(" ")
            );
        }
    }
    Ok(())
}
