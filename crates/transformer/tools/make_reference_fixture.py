"""Make data/fig1/reference_minilm.json ONCE with the Hugging Face `transformers` library (not run by CI).

The Rust encoder (crates/transformer/src/bert.rs) is checked against this fixture by
`crates/transformer/tests/real_model.rs` whenever models/minilm is present (`cargo xtask fetch-model`).

Setup used (CPU only, throwaway venv; torch wheel from PyPI installed with --no-deps to skip the CUDA wheels):
    python3 -m venv /tmp/tf/venv
    /tmp/tf/venv/bin/pip install --no-deps torch
    /tmp/tf/venv/bin/pip install filelock typing-extensions sympy networkx jinja2 fsspec numpy transformers
    /tmp/tf/venv/bin/python crates/transformer/tools/make_reference_fixture.py models/minilm data/fig1/reference_minilm.json

It runs BertModel (eager attention, eval mode) in float64 and in float32 on one short input and records, for the
embedding output and each of the 6 layers: the mean and standard deviation of all entries, the mean pairwise
cosine of the L2-normalised token states (i != j), and the first 8 raw components of tokens 0, 1 and n-1.
"""
import json
import sys

import numpy as np
import tokenizers
import torch
import transformers

TEXT = ("Attention layers move the representations of the tokens of a sentence towards each other, "
        "and deep transformers make them cluster.")
N_RAW = 8


def layer_stats(h):
    h = np.asarray(h, dtype=np.float64)  # n x d
    n = h.shape[0]
    u = h / np.linalg.norm(h, axis=1, keepdims=True)
    g = u @ u.T
    off = g[~np.eye(n, dtype=bool)]
    raw = {str(t): h[t, :N_RAW].tolist() for t in (0, 1, n - 1)}
    return {"mean": float(h.mean()), "std": float(h.std()), "mean_cosine": float(off.mean()), "raw": raw}


def main():
    model_dir, out_path = sys.argv[1], sys.argv[2]
    tok = tokenizers.Tokenizer.from_file(f"{model_dir}/tokenizer.json")
    tok.no_padding()
    tok.no_truncation()
    enc = tok.encode(TEXT)
    ids = torch.tensor([enc.ids])
    result = {
        "generator": "crates/transformer/tools/make_reference_fixture.py",
        "library": f"transformers {transformers.__version__}, torch {torch.__version__}, tokenizers {tokenizers.__version__}",
        "model_dir": model_dir,
        "text": TEXT,
        "token_ids": enc.ids,
        "raw_tokens": [0, 1, len(enc.ids) - 1],
        "n_raw_components": N_RAW,
    }
    for name, dtype in (("float64", torch.float64), ("float32", torch.float32)):
        model = transformers.BertModel.from_pretrained(model_dir, attn_implementation="eager").to(dtype)
        model.eval()
        with torch.no_grad():
            out = model(input_ids=ids, attention_mask=torch.ones_like(ids),
                        token_type_ids=torch.zeros_like(ids), output_hidden_states=True)
        result[name] = [layer_stats(h[0].numpy()) for h in out.hidden_states]
    with open(out_path, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
