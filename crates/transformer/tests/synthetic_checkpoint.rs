//! CI test of the forward pass on a tiny random BERT checkpoint written by the test itself (no download):
//! the faer implementation must match a straightforward loop implementation of the same equations
//! (Hugging Face `BertModel`, eval mode) to 1e-10, for every schedule and every layer.

use std::collections::HashMap;
use std::path::PathBuf;

use attnflow_transformer::{BertConfig, BertEncoder, LayerSchedule, TransformerError};
use rand_core::{Rng, SeedableRng};
use rand_pcg::Pcg64;
use safetensors::{Dtype, tensor::TensorView};

/// Master seed of this test; each tensor gets its own stream keyed by (master seed, tensor index).
const MASTER_SEED: u64 = 0x5eed_b127;

fn tiny_config() -> BertConfig {
    BertConfig {
        vocab_size: 23,
        hidden_size: 8,
        num_hidden_layers: 2,
        num_attention_heads: 2,
        intermediate_size: 16,
        max_position_embeddings: 12,
        type_vocab_size: 2,
        layer_norm_eps: 1e-12,
        hidden_act: "gelu".to_string(),
        position_embedding_type: "absolute".to_string(),
    }
}

/// (name, shape) of every tensor of a BertModel checkpoint (pooler included, as in the real file).
fn tensor_specs(c: &BertConfig) -> Vec<(String, Vec<usize>)> {
    let d = c.hidden_size;
    let f = c.intermediate_size;
    let mut specs = vec![
        (
            "embeddings.word_embeddings.weight".to_string(),
            vec![c.vocab_size, d],
        ),
        (
            "embeddings.position_embeddings.weight".to_string(),
            vec![c.max_position_embeddings, d],
        ),
        (
            "embeddings.token_type_embeddings.weight".to_string(),
            vec![c.type_vocab_size, d],
        ),
        ("embeddings.LayerNorm.weight".to_string(), vec![d]),
        ("embeddings.LayerNorm.bias".to_string(), vec![d]),
        ("pooler.dense.weight".to_string(), vec![d, d]),
        ("pooler.dense.bias".to_string(), vec![d]),
    ];
    for l in 0..c.num_hidden_layers {
        let p = format!("encoder.layer.{l}");
        for (name, shape) in [
            ("attention.self.query.weight", vec![d, d]),
            ("attention.self.query.bias", vec![d]),
            ("attention.self.key.weight", vec![d, d]),
            ("attention.self.key.bias", vec![d]),
            ("attention.self.value.weight", vec![d, d]),
            ("attention.self.value.bias", vec![d]),
            ("attention.output.dense.weight", vec![d, d]),
            ("attention.output.dense.bias", vec![d]),
            ("attention.output.LayerNorm.weight", vec![d]),
            ("attention.output.LayerNorm.bias", vec![d]),
            ("intermediate.dense.weight", vec![f, d]),
            ("intermediate.dense.bias", vec![f]),
            ("output.dense.weight", vec![d, f]),
            ("output.dense.bias", vec![d]),
            ("output.LayerNorm.weight", vec![d]),
            ("output.LayerNorm.bias", vec![d]),
        ] {
            specs.push((format!("{p}.{name}"), shape));
        }
    }
    specs
}

/// Random f32 weights, uniform in [-1, 1) (LayerNorm gains around 1), as f64 values exactly representable in f32.
fn random_weights(c: &BertConfig) -> HashMap<String, (Vec<usize>, Vec<f64>)> {
    tensor_specs(c)
        .into_iter()
        .enumerate()
        .map(|(index, (name, shape))| {
            let mut rng = Pcg64::seed_from_u64(MASTER_SEED ^ ((index as u64 + 1) << 32));
            let len: usize = shape.iter().product();
            let offset = if name.contains("LayerNorm.weight") {
                1.0
            } else {
                0.0
            };
            let values = (0..len)
                .map(|_| {
                    let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
                    f64::from((offset + (2.0 * u - 1.0)) as f32)
                })
                .collect();
            (name, (shape, values))
        })
        .collect()
}

fn serialize(weights: &HashMap<String, (Vec<usize>, Vec<f64>)>, skip: Option<&str>) -> Vec<u8> {
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = weights
        .iter()
        .filter(|(name, _)| Some(name.as_str()) != skip)
        .map(|(name, (shape, values))| {
            let raw = values
                .iter()
                .flat_map(|v| (*v as f32).to_le_bytes())
                .collect();
            (name.clone(), shape.clone(), raw)
        })
        .collect();
    let views: Vec<(String, TensorView<'_>)> = bytes
        .iter()
        .map(|(name, shape, raw)| {
            (
                name.clone(),
                TensorView::new(Dtype::F32, shape.clone(), raw).expect("valid tensor view"),
            )
        })
        .collect();
    safetensors::serialize(views, None).expect("serialise")
}

/// Straightforward reference: token states as rows `h[i][k]`, explicit loops everywhere.
struct Reference<'a> {
    c: &'a BertConfig,
    w: &'a HashMap<String, (Vec<usize>, Vec<f64>)>,
}

impl Reference<'_> {
    fn t(&self, name: &str) -> &[f64] {
        &self.w[name].1
    }

    fn layer_norm(&self, x: &mut [Vec<f64>], prefix: &str) {
        let g = self.t(&format!("{prefix}.weight"));
        let b = self.t(&format!("{prefix}.bias"));
        for row in x.iter_mut() {
            let d = row.len() as f64;
            let mean = row.iter().sum::<f64>() / d;
            let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / d;
            for k in 0..row.len() {
                row[k] = (row[k] - mean) / (var + self.c.layer_norm_eps).sqrt() * g[k] + b[k];
            }
        }
    }

    fn linear(&self, x: &[Vec<f64>], prefix: &str) -> Vec<Vec<f64>> {
        let (shape, w) = &self.w[&format!("{prefix}.weight")];
        let b = self.t(&format!("{prefix}.bias"));
        let (out, inp) = (shape[0], shape[1]);
        x.iter()
            .map(|row| {
                (0..out)
                    .map(|o| {
                        let mut s = b[o];
                        for i in 0..inp {
                            s += w[o * inp + i] * row[i];
                        }
                        s
                    })
                    .collect()
            })
            .collect()
    }

    fn embed(&self, ids: &[u32]) -> Vec<Vec<f64>> {
        let d = self.c.hidden_size;
        let word = self.t("embeddings.word_embeddings.weight");
        let pos = self.t("embeddings.position_embeddings.weight");
        let typ = self.t("embeddings.token_type_embeddings.weight");
        let mut h: Vec<Vec<f64>> = ids
            .iter()
            .enumerate()
            .map(|(i, &id)| {
                (0..d)
                    .map(|k| word[id as usize * d + k] + pos[i * d + k] + typ[k])
                    .collect()
            })
            .collect();
        self.layer_norm(&mut h, "embeddings.LayerNorm");
        h
    }

    fn layer(&self, h: &[Vec<f64>], l: usize) -> Vec<Vec<f64>> {
        let p = format!("encoder.layer.{l}");
        let n = h.len();
        let heads = self.c.num_attention_heads;
        let dh = self.c.hidden_size / heads;
        let q = self.linear(h, &format!("{p}.attention.self.query"));
        let k = self.linear(h, &format!("{p}.attention.self.key"));
        let v = self.linear(h, &format!("{p}.attention.self.value"));
        let mut context = vec![vec![0.0; self.c.hidden_size]; n];
        for a in 0..heads {
            for i in 0..n {
                let logits: Vec<f64> = (0..n)
                    .map(|j| {
                        (0..dh)
                            .map(|e| q[i][a * dh + e] * k[j][a * dh + e])
                            .sum::<f64>()
                            / (dh as f64).sqrt()
                    })
                    .collect();
                let z: f64 = logits.iter().map(|s| s.exp()).sum();
                for j in 0..n {
                    let weight = logits[j].exp() / z;
                    for e in 0..dh {
                        context[i][a * dh + e] += weight * v[j][a * dh + e];
                    }
                }
            }
        }
        let attn = self.linear(&context, &format!("{p}.attention.output.dense"));
        let mut u: Vec<Vec<f64>> = h
            .iter()
            .zip(&attn)
            .map(|(x, y)| x.iter().zip(y).map(|(a, b)| a + b).collect())
            .collect();
        self.layer_norm(&mut u, &format!("{p}.attention.output.LayerNorm"));
        let mut inter = self.linear(&u, &format!("{p}.intermediate.dense"));
        for row in inter.iter_mut() {
            for x in row.iter_mut() {
                *x = 0.5 * *x * (1.0 + libm::erf(*x / 2f64.sqrt()));
            }
        }
        let ffn = self.linear(&inter, &format!("{p}.output.dense"));
        let mut out: Vec<Vec<f64>> = u
            .iter()
            .zip(&ffn)
            .map(|(x, y)| x.iter().zip(y).map(|(a, b)| a + b).collect())
            .collect();
        self.layer_norm(&mut out, &format!("{p}.output.LayerNorm"));
        out
    }
}

fn max_abs_diff_states<T: attnflow_transformer::bert::Scalar>(
    state: &faer::Mat<T>,
    reference: &[Vec<f64>],
) -> f64 {
    let mut max = 0.0_f64;
    for (i, row) in reference.iter().enumerate() {
        for (k, r) in row.iter().enumerate() {
            max = max.max((state[(k, i)].to_f64() - r).abs());
        }
    }
    max
}

const IDS: [u32; 9] = [1, 7, 22, 3, 3, 0, 15, 9, 2];

#[test]
fn forward_matches_loop_reference_for_every_schedule() {
    let config = tiny_config();
    let weights = random_weights(&config);
    let bytes = serialize(&weights, None);
    let encoder = BertEncoder::<f64>::from_safetensors(config.clone(), &bytes).expect("load");
    let encoder32 = BertEncoder::<f32>::from_safetensors(config.clone(), &bytes).expect("load f32");
    let reference = Reference {
        c: &config,
        w: &weights,
    };
    for (schedule, depth) in [
        (LayerSchedule::Trained, 2),
        (LayerSchedule::Cycle, 5),
        (LayerSchedule::RepeatLast, 5),
    ] {
        let states = encoder.forward(&IDS, schedule, depth).expect("forward");
        let states32 = encoder32
            .forward(&IDS, schedule, depth)
            .expect("forward f32");
        assert_eq!(states.len(), depth + 1);
        let mut expected = reference.embed(&IDS);
        for (t, state) in states.iter().enumerate() {
            if t > 0 {
                let layer = match schedule {
                    LayerSchedule::Trained => t - 1,
                    LayerSchedule::Cycle => (t - 1) % 2,
                    LayerSchedule::RepeatLast => (t - 1).min(1),
                };
                expected = reference.layer(&expected, layer);
            }
            let err = max_abs_diff_states(state, &expected);
            assert!(err < 1e-10, "{schedule:?} layer {t}: max |diff| = {err:e}");
            let err32 = max_abs_diff_states(&states32[t], &expected);
            assert!(
                err32 < 1e-4,
                "f32 {schedule:?} layer {t}: max |diff| = {err32:e}"
            );
            assert!(err32 > 0.0, "the f32 path must really run in f32");
        }
    }
}

#[test]
fn load_from_directory_and_prefixed_names() {
    let config = tiny_config();
    let weights = random_weights(&config);
    let dir =
        std::env::temp_dir().join(format!("attnflow-transformer-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(dir.join("model.safetensors"), serialize(&weights, None)).expect("write");
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_string(&config).expect("json"),
    )
    .expect("write");
    let from_dir = BertEncoder::<f64>::load(&dir).expect("load dir");
    let direct = BertEncoder::<f64>::from_safetensors(config.clone(), &serialize(&weights, None))
        .expect("direct");
    let a = from_dir
        .forward(&IDS, LayerSchedule::Trained, 2)
        .expect("fwd");
    let b = direct
        .forward(&IDS, LayerSchedule::Trained, 2)
        .expect("fwd");
    assert_eq!(a[2], b[2]);
    // `bert.`-prefixed names (BertForMaskedLM checkpoints) load to the same model.
    let prefixed: HashMap<String, (Vec<usize>, Vec<f64>)> = weights
        .iter()
        .map(|(k, v)| (format!("bert.{k}"), v.clone()))
        .collect();
    let p = BertEncoder::<f64>::from_safetensors(config, &serialize(&prefixed, None))
        .expect("prefixed");
    assert_eq!(
        p.forward(&IDS, LayerSchedule::Trained, 2).expect("fwd")[2],
        b[2]
    );
    std::fs::remove_dir_all(&dir).expect("cleanup");
    // A missing directory names the fetch command.
    match BertEncoder::<f64>::load(&PathBuf::from("/nonexistent/attnflow/minilm")) {
        Err(TransformerError::ModelMissing { hint, .. }) => {
            assert!(hint.contains("cargo xtask fetch-model"))
        }
        other => panic!("expected ModelMissing, got {:?}", other.err()),
    }
}

#[test]
fn bad_inputs_give_typed_errors() {
    let config = tiny_config();
    let weights = random_weights(&config);
    let encoder = BertEncoder::<f64>::from_safetensors(config.clone(), &serialize(&weights, None))
        .expect("load");
    let invalid = |r: Result<Vec<faer::Mat<f64>>, TransformerError>| {
        matches!(r, Err(TransformerError::InvalidInput(_)))
    };
    assert!(invalid(encoder.forward(&[], LayerSchedule::Trained, 1)));
    assert!(invalid(encoder.forward(
        &[1, 23],
        LayerSchedule::Trained,
        1
    )));
    assert!(invalid(encoder.forward(
        &[1; 13],
        LayerSchedule::Trained,
        1
    )));
    assert!(invalid(encoder.forward(&IDS, LayerSchedule::Trained, 3)));
    assert!(
        encoder
            .forward(&IDS, LayerSchedule::Cycle, 0)
            .expect("depth 0")
            .len()
            == 1
    );

    let missing = "encoder.layer.1.output.dense.bias";
    assert!(matches!(
        BertEncoder::<f64>::from_safetensors(config.clone(), &serialize(&weights, Some(missing))),
        Err(TransformerError::MissingTensor(name)) if name == missing
    ));
    let mut wrong = weights.clone();
    wrong.insert(
        "embeddings.LayerNorm.bias".to_string(),
        (vec![7], vec![0.0; 7]),
    );
    assert!(matches!(
        BertEncoder::<f64>::from_safetensors(config.clone(), &serialize(&wrong, None)),
        Err(TransformerError::TensorShape { .. })
    ));
    let mut nan = weights.clone();
    nan.get_mut("embeddings.LayerNorm.bias").expect("tensor").1[0] = f64::NAN;
    assert!(matches!(
        BertEncoder::<f64>::from_safetensors(config.clone(), &serialize(&nan, None)),
        Err(TransformerError::NonFiniteTensor(_))
    ));
    let mut bad = config.clone();
    bad.num_attention_heads = 3;
    assert!(matches!(
        BertEncoder::<f64>::from_safetensors(bad, &serialize(&weights, None)),
        Err(TransformerError::Config(_))
    ));
    let mut bad = config;
    bad.hidden_act = "relu".to_string();
    assert!(matches!(bad.validate(), Err(TransformerError::Config(_))));
    assert!(matches!(
        BertEncoder::<f64>::from_safetensors(tiny_config(), b"not a safetensors file"),
        Err(TransformerError::SafeTensors(_))
    ));
}

#[test]
fn schedules_map_steps_to_layers() {
    use LayerSchedule::*;
    let steps = |s: LayerSchedule| (0..8).map(|t| s.layer_for_step(t, 3)).collect::<Vec<_>>();
    assert_eq!(
        steps(Trained),
        [Some(0), Some(1), Some(2), None, None, None, None, None]
    );
    assert_eq!(steps(Cycle), [0, 1, 2, 0, 1, 2, 0, 1].map(Some));
    assert_eq!(steps(RepeatLast), [0, 1, 2, 2, 2, 2, 2, 2].map(Some));
    assert_eq!(Cycle.layer_for_step(0, 0), None);
    for s in LayerSchedule::ALL {
        assert_eq!(s.name().parse::<LayerSchedule>().expect("round trip"), s);
    }
    assert!("shared".parse::<LayerSchedule>().is_err());
}

#[test]
fn parallel_forward_is_thread_count_independent_and_correct() {
    // 70 tokens: three blocks of the column-wise phases (32 + 32 + 6), two heads
    let config = BertConfig {
        max_position_embeddings: 80,
        ..tiny_config()
    };
    let weights = random_weights(&config);
    let bytes = serialize(&weights, None);
    let encoder = BertEncoder::<f64>::from_safetensors(config.clone(), &bytes).expect("load");
    let ids: Vec<u32> = (0..70u32).map(|i| (i * 7 + 3) % 23).collect();
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("pool")
            .install(|| {
                encoder
                    .forward(&ids, LayerSchedule::Cycle, 4)
                    .expect("forward")
            })
    };
    let (one, three) = (run(1), run(3));
    let reference = Reference {
        c: &config,
        w: &weights,
    };
    let mut expected = reference.embed(&ids);
    for (t, (a, b)) in one.iter().zip(&three).enumerate() {
        for j in 0..a.ncols() {
            for i in 0..a.nrows() {
                assert_eq!(
                    a[(i, j)].to_bits(),
                    b[(i, j)].to_bits(),
                    "layer {t} ({i}, {j})"
                );
            }
        }
        if t > 0 {
            expected = reference.layer(&expected, (t - 1) % 2);
        }
        let err = max_abs_diff_states(a, &expected);
        assert!(err < 1e-10, "layer {t}: max |diff| = {err:e}");
    }
}
