#!/usr/bin/env python3
"""attnflow's NumPy baseline for the [GLPR] Figure 3 workload (`cargo xtask bench`).

Model: SA with Q = K = V = I_d, n particles on S^{d-1}, i.i.d. uniform initial points, for `--B`
realisations at each of `--betas` inverse temperatures linspace(beta-min, beta-max). Time stepping is
the authors' explicit Euler step followed by renormalisation,

    x_i <- normalize(x_i + dt * sum_j A_ij x_j),   A = row-softmax(beta X X^T),

for ceil(T / dt) steps. Checkpoints t_c = linspace(0, T, nckpt) are read at the first step k >= 1 with
k dt >= t_c. The statistic at a checkpoint is the fraction of ordered pairs i != j (over all
realisations of one beta) with <x_i, x_j> > 1 - delta; `final_p_pair12` is the same for the pair (1, 2).

How it is made fast (this is the baseline speed-ups are claimed against, so it should be a good one):
  * the realisations of one beta form a stack (R, n, d) processed in cache-sized chunks, one batched
    GEMM per product; chunks run on `--workers` threads (NumPy releases the GIL in BLAS and ufuncs),
    OpenBLAS itself is single-threaded (its threads only cost time on 32 x 32 products);
  * one GEMM X (beta X^T) gives both the logits and the statistic (for d <= n beta is folded into the
    contiguous copy of X^T that BLAS wants anyway); the softmax shift is beta, since the row maximum of
    <x_i, x_j> on the sphere is <x_i, x_i> = 1 (skipped where exp(beta) cannot overflow: the softmax
    is invariant under it);
  * the softmax's 1/rowsum is never applied: normalize(x_i + dt y_i / s_i) = normalize((s_i / dt) x_i
    + y_i), so the next state is normalize((E + diag(s / dt)) X) with E = exp(beta G): one GEMM, one
    row sum (as E 1), a diagonal update and the renormalisation, in place in preallocated buffers;
  * with --span-reduction (d > n only) every realisation is replaced by its n x n Cholesky factor of the
    Gram matrix (the dynamics stays in the span of the initial points and only inner products matter);
    off by default, so the default run does the same arithmetic as the full system.

Random streams: realisation block b of beta index i draws from Generator(PCG64([seed, i, b])) with
blocks of a fixed size, so results do not depend on --workers. They differ from attnflow's streams, so
the two implementations agree statistically, not bit for bit.

Output: one JSON line with at least `loop_s` (seconds for sampling plus integration, the scope
attnflow's `runtime_s` times) and `final_p_allpairs` (one value per beta).
"""

import os

# Must precede the NumPy import: parallelism is over chunks, not inside tiny GEMMs.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402

import numpy as np  # noqa: E402

# Realisations per random stream (fixed, so that chunking and threads do not change the draws).
STREAM_BLOCK = 16
# Largest beta for which exp(beta <x_i, x_j>) is evaluated without the shift (exp(709) is finite).
UNSHIFTED_BETA_MAX = 600.0


def step_count(t_max, dt):
    """Number of Euler steps: T / dt rounded up, at least 1 (attnflow's PhaseDiagramSpec::steps)."""
    return max(1, math.ceil(t_max / dt - 1e-9))


def checkpoint_steps(times, dt, last_step):
    """First step k >= 1 with k dt >= t_c for every checkpoint, capped at the last step."""
    return [min(last_step, max(1, math.ceil(t / dt - 1e-9))) for t in times]


def initial_points(seed, beta_index, first, count, n, d):
    """Realisations first..first+count of one beta: i.i.d. uniform points on S^{d-1}, shape (count, n, d)."""
    x = np.empty((count, n, d))
    r = first
    while r < first + count:
        block, offset = divmod(r, STREAM_BLOCK)
        take = min(STREAM_BLOCK - offset, first + count - r)
        rng = np.random.Generator(np.random.PCG64([seed, beta_index, block]))
        draws = rng.standard_normal((STREAM_BLOCK, n, d))
        x[r - first : r - first + take] = draws[offset : offset + take]
        r += take
    x /= np.sqrt(np.einsum("rnd,rnd->rn", x, x))[..., None]
    return x


def span_reduce(x):
    """(R, n, d) with d > n -> (R, n, n) with the same Gram matrices (rows of the Cholesky factor)."""
    return np.linalg.cholesky(np.matmul(x, x.transpose(0, 2, 1)))


def run_chunk(x, beta, dt, delta, ck_steps, last_step):
    """Integrates one stack of realisations of one beta; returns the pair counts at each checkpoint step
    (dict step -> (ordered pairs i != j above 1 - delta, realisations with pair (1, 2) above))."""
    r, n, d = x.shape
    y = np.empty_like(x)
    # beta X^T, contiguous: BLAS is much faster on it than on a transposed view for d <= n; for d > n
    # the transposing copy costs more than the product, which then takes the view and scales G instead
    copy_transposed = d <= n
    xt = np.empty((r, d, n)) if copy_transposed else None
    g = np.empty((r, n, n))
    above = np.empty((r, n, n), dtype=bool)
    ones = np.ones((r, n, 1))
    s = np.empty((r, n, 1))
    nrm = np.empty((r, n))
    g_diag = g.reshape(r, n * n)[:, :: n + 1]  # views of the diagonals, (r, n)
    above_diag = above.reshape(r, n * n)[:, :: n + 1]
    # the Gram matrix is computed as scale <x_i, x_j>: beta itself unless beta <= 0, where scaling
    # would break the threshold test; the rest of beta is applied before the exponential
    scale = beta if beta > 0 else 1.0
    rest = None if scale == beta else beta / scale
    shift = beta > UNSHIFTED_BETA_MAX
    thr = scale * (1.0 - delta)
    inv_dt = 1.0 / dt
    wanted = set(ck_steps)
    counts = {}
    for k in range(last_step + 1):
        if copy_transposed:
            np.multiply(x.transpose(0, 2, 1), scale, out=xt)
            np.matmul(x, xt, out=g)  # scale <x_i, x_j>
        else:
            np.matmul(x, x.transpose(0, 2, 1), out=g)
            g *= scale
        if k in wanted:
            np.greater(g, thr, out=above)
            pairs = np.count_nonzero(above) - np.count_nonzero(above_diag)
            counts[k] = (pairs, int(np.count_nonzero(above[:, 0, 1])))
        if k == last_step:
            break
        if rest is not None:
            g *= rest
        if shift:
            g -= beta
        np.exp(g, out=g)  # E, the unnormalised attention weights
        np.matmul(g, ones, out=s)  # row sums (a matrix-vector product beats np.sum here)
        s *= inv_dt
        g_diag += s[..., 0]  # E + diag(s / dt)
        np.matmul(g, x, out=y)  # (s_i / dt) x_i + y_i, proportional to x_i + dt y_i / s_i
        np.einsum("rnd,rnd->rn", y, y, out=nrm)
        np.sqrt(nrm, out=nrm)
        np.divide(1.0, nrm, out=nrm)  # n divisions, then n d multiplications
        y *= nrm[..., None]
        x, y = y, x
    return counts


def chunk_size(n, d):
    """Realisations per chunk: the working set (X, Y, beta X^T, Gram, mask) about 1 MiB (this machine's
    L2), a multiple of 8 up to 256; fewer than 16 only when one realisation is already large (d >> n),
    since each NumPy call costs about a microsecond whatever its size."""
    per_real = 8 * (3 * n * d + n * n + 2 * n) + n * n
    fit = 1024 * 1024 // per_real
    return int(min(256, fit // 8 * 8)) if fit >= 16 else max(4, fit)


def simulate(n, d, b, betas, t_max, dt, delta, nckpt, seed, workers, chunk, reduce_span):
    last_step = step_count(t_max, dt)
    times = np.linspace(0.0, t_max, nckpt)
    ck = checkpoint_steps(times, dt, last_step)
    dim = n if (reduce_span and d > n) else d
    chunk = chunk or chunk_size(n, dim)
    jobs = [(i, first, min(chunk, b - first)) for i in range(len(betas)) for first in range(0, b, chunk)]

    def job(spec):
        i, first, count = spec
        x = initial_points(seed, i, first, count, n, d)
        if dim != d:
            x = span_reduce(x)
        return i, run_chunk(x, float(betas[i]), dt, delta, ck, last_step)

    pairs = np.zeros((len(betas), len(ck)), dtype=np.int64)
    pair12 = np.zeros((len(betas), len(ck)), dtype=np.int64)
    t0 = time.perf_counter()
    if workers > 1:
        with ThreadPoolExecutor(workers) as pool:
            results = list(pool.map(job, jobs))
    else:
        results = [job(spec) for spec in jobs]
    loop_s = time.perf_counter() - t0
    for i, counts in results:
        for c, k in enumerate(ck):
            pairs[i, c] += counts[k][0]
            pair12[i, c] += counts[k][1]
    return {
        "times": times,
        "ckpt_steps": ck,
        "steps": last_step,
        "p_allpairs": pairs / (b * n * (n - 1)),
        "p_pair12": pair12 / b,
        "loop_s": loop_s,
        "chunk": chunk,
        "simulated_dim": dim,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=32, help="particles")
    ap.add_argument("--d", type=int, default=2, help="dimension of the ambient space")
    ap.add_argument("--B", type=int, default=8, help="realisations per beta (paper: 1024)")
    ap.add_argument("--betas", type=int, default=8, help="number of betas, linspace(beta-min, beta-max)")
    ap.add_argument("--beta-min", type=float, default=0.1)
    ap.add_argument("--beta-max", type=float, default=9.0)
    ap.add_argument("--T", type=float, default=30.0, help="final time")
    ap.add_argument("--dt", type=float, default=0.1, help="Euler step")
    ap.add_argument("--delta", type=float, default=1e-3)
    ap.add_argument("--nckpt", type=int, default=200, help="checkpoints, linspace(0, T)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=1, help="threads over chunks")
    ap.add_argument("--chunk", type=int, default=0, help="realisations per chunk (0: sized for the cache)")
    ap.add_argument("--span-reduction", action="store_true",
                    help="for d > n, integrate the n x n Cholesky factor of each Gram matrix instead")
    a = ap.parse_args()
    if a.n < 2 or a.d < 1 or a.B < 1 or a.betas < 1 or a.nckpt < 1 or not a.dt > 0 or a.T < 0:
        ap.error("need n >= 2, d >= 1, B >= 1, betas >= 1, nckpt >= 1, dt > 0 and T >= 0")
    betas = np.linspace(a.beta_min, a.beta_max, a.betas)
    res = simulate(a.n, a.d, a.B, betas, a.T, a.dt, a.delta, a.nckpt, a.seed, a.workers, a.chunk,
                   a.span_reduction)
    units = res["steps"] * a.B * a.betas
    print(json.dumps({
        "impl": "attnflow tools/bench/np_phase_diagram.py",
        "numpy": np.__version__,
        "n": a.n, "d": a.d, "B": a.B, "nbeta": a.betas, "T": a.T, "dt": a.dt, "delta": a.delta,
        "workers": a.workers, "chunk": res["chunk"], "simulated_dim": res["simulated_dim"],
        "steps_per_beta": res["steps"],
        "loop_s": round(res["loop_s"], 4),
        "us_per_real_beta_step": round(1e6 * res["loop_s"] / units, 4),
        "final_p_allpairs": [round(float(p), 6) for p in res["p_allpairs"][:, -1]],
        "final_p_pair12": [round(float(p), 6) for p in res["p_pair12"][:, -1]],
    }))


if __name__ == "__main__":
    main()
