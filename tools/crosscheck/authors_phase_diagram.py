#!/usr/bin/env python3
"""Independent NumPy transcription of the phase-diagram algorithm of [GLPR] Figures 3 and 5, as the
authors' `phase-diagrams.py` runs it, written for attnflow's cross-check from this description:

  state        particles as the rows of X (n x d) per realisation, i.i.d. N(0, I_d) rows normalised;
  weights      logits L_ij = beta x_i^T B x_j (B = Q^T K, none for Figure 3), softmax over each row;
  step         y_i = sum_j A_ij x_j; the velocity is the ROW VECTOR eta * y_i^T V (V applied to rows,
               i.e. V^T y_i in column form); x_i <- (x_i + eta y_i^T V) / |x_i + eta y_i^T V|;
  clock        t accumulates eta in floating point (t <- t + eta after every step); the state after a
               step is recorded for every checkpoint t_c <= t not yet recorded; the run stops once
               t >= t_max;
  statistic    per realisation the fraction of ordered pairs i != j with <x_i, x_j> > 1 - delta; the
               cell is the mean over realisations (we also return its standard error).

Ensembles (an independent draw per realisation; G, G1, G2, G3 i.i.d. N(0, 1) entries, d x d):
  identity    B = V = I (Figure 3);
  ginibre     B = G1 G2 / sqrt(d), V = G3 / sqrt(d)              (Figure 5 (a), attnflow's choice of V);
  wigner-psd  B = (G1 + G1^T) / sqrt(2), V = G2 G2^T / sqrt(d)   (b);
  ginibre-gf  B = G1 G2 / sqrt(d), V = B / sqrt(d)               (c);
  wigner-gf   B = (G1 + G1^T) / sqrt(2), V = B / sqrt(d + 1)     (d).

`--value-as-column` applies V as a column map (velocity V y_i): NOT the authors' algorithm, the
negative control of the cross-check (panel (c) must then disagree with attnflow).

Random numbers come from numpy's PCG64 with the given seed: independent of attnflow's streams, so
the comparison with attnflow is statistical. Prints one JSON object on stdout.
"""
import argparse
import json
import sys
import time

import numpy as np

ENSEMBLES = ("identity", "ginibre", "wigner-psd", "ginibre-gf", "wigner-gf")


def draw_matrices(ensemble, r, d, rng):
    """(B, V) for r realisations, shape (r, d, d) each, or (None, None) for the identity."""
    if ensemble == "identity":
        return None, None
    g = lambda: rng.standard_normal((r, d, d))
    t = lambda m: np.swapaxes(m, 1, 2)
    if ensemble in ("ginibre", "ginibre-gf"):
        b = g() @ g() / np.sqrt(d)
    else:
        g1 = g()
        b = (g1 + t(g1)) / np.sqrt(2.0)
    if ensemble == "ginibre":
        v = g() / np.sqrt(d)
    elif ensemble == "wigner-psd":
        g2 = g()
        v = g2 @ t(g2) / np.sqrt(d)
    elif ensemble == "ginibre-gf":
        v = b / np.sqrt(d)
    else:
        v = b / np.sqrt(d + 1.0)
    return b, v


def pair_fractions(x, threshold):
    """Per realisation: fraction of ordered pairs i != j with <x_i, x_j> > threshold."""
    r, n, _ = x.shape
    gram = x @ np.swapaxes(x, 1, 2)
    above = gram > threshold
    above[:, np.arange(n), np.arange(n)] = False
    return above.reshape(r, -1).sum(axis=1) / (n * (n - 1))


def run_beta(args, beta, times, rng):
    """Per checkpoint: the per-realisation pair fractions (realisations x checkpoints)."""
    r, n, d = args.realizations, args.n, args.d
    x = rng.standard_normal((r, n, d))
    x /= np.linalg.norm(x, axis=2, keepdims=True)
    b, v = draw_matrices(args.ensemble, r, d, rng)
    if v is not None and args.value_as_column:
        v = np.ascontiguousarray(np.swapaxes(v, 1, 2))  # row vector y^T V^T = (V y)^T
    eta, threshold = args.dt, 1.0 - args.delta
    fractions = np.zeros((r, len(times)))
    recorded_at = [0] * len(times)
    t, c, steps = 0.0, 0, 0
    while True:
        xb = x if b is None else x @ b
        logits = beta * (xb @ np.swapaxes(x, 1, 2))
        logits -= logits.max(axis=2, keepdims=True)
        w = np.exp(logits)
        y = (w / w.sum(axis=2, keepdims=True)) @ x
        y *= eta
        if v is not None:
            y = y @ v
        x = x + y
        x /= np.maximum(np.linalg.norm(x, axis=2, keepdims=True), 1e-12)
        t += eta
        steps += 1
        if c < len(times) and t >= times[c]:
            f = pair_fractions(x, threshold)
            while c < len(times) and t >= times[c]:
                fractions[:, c] = f
                recorded_at[c] = steps
                c += 1
        if t >= args.t_max:
            break
    return fractions, steps, recorded_at


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=32)
    p.add_argument("--d", type=int, default=2)
    p.add_argument("--ensemble", choices=ENSEMBLES, default="identity")
    p.add_argument("--betas", type=str, required=True, help="comma-separated inverse temperatures")
    p.add_argument("--realizations", type=int, default=256)
    p.add_argument("--t-max", type=float, default=30.0)
    p.add_argument("--checkpoints", type=int, default=200, help="linspace(0, t_max, this many)")
    p.add_argument("--dt", type=float, default=0.1)
    p.add_argument("--delta", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--value-as-column", action="store_true",
                   help="negative control: apply V as a column map (not the authors' algorithm)")
    args = p.parse_args()
    betas = [float(s) for s in args.betas.split(",") if s]
    if args.n < 2 or args.d < 1 or args.realizations < 1 or not betas or args.dt <= 0:
        sys.exit("authors_phase_diagram.py: need n >= 2, d >= 1, realizations >= 1, betas, dt > 0")
    times = np.linspace(0.0, args.t_max, args.checkpoints)
    start = time.perf_counter()
    probability, stderr, steps, recorded_at = [], [], 0, []
    for i, beta in enumerate(betas):
        rng = np.random.Generator(np.random.PCG64([args.seed, i]))
        f, steps, recorded_at = run_beta(args, beta, times, rng)
        probability.append(f.mean(axis=0).tolist())
        sd = f.std(axis=0, ddof=1) if args.realizations > 1 else np.zeros(len(times))
        stderr.append((sd / np.sqrt(args.realizations)).tolist())
    json.dump({
        "implementation": "numpy transcription of the authors' phase-diagrams.py",
        "numpy": np.__version__,
        "ensemble": args.ensemble,
        "value_as_column": args.value_as_column,
        "n": args.n, "d": args.d, "dt": args.dt, "delta": args.delta,
        "realizations": args.realizations, "seed": args.seed, "steps": steps,
        "checkpoint_steps": recorded_at,
        "t": times.tolist(), "beta": betas,
        "probability": probability, "stderr": stderr,
        "runtime_s": time.perf_counter() - start,
    }, sys.stdout)
    print()


if __name__ == "__main__":
    main()
