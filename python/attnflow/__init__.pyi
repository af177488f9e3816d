"""attnflow from Python: self-attention as interacting particles on the sphere.

The engine of the ``attnflow`` command line ([GLPR] Geshkovski, Letrouit, Polyanskiy, Rigollet,
arXiv 2312.10794; [BKKRW] Burger, Kabri, Korolev, Roith, Weigand, arXiv 2501.03096): n tokens
x_i on S^{d-1} moving by xdot_i = P_{x_i}(sum_j A_ij V x_j), A_ij = e^{beta <Q x_i, K x_j>} / N_i
([GLPR] (2.3)-(2.7)).

Every function mirrors a subcommand; its keyword arguments are the subcommand's flags (``t_max``
is ``--t-max``, ``None`` means "not given": the command line's default applies, or with ``spec``
the spec's value). They are parsed by the command line's own definitions and run by the same
library code, so:

* the same arguments give the same bits as the command line (same seed, same streams, same
  integrator; tested against the ``attnflow`` binary, also the bytes of ``out`` files);
* invalid input raises :class:`AttnflowError` with the command line's one-line message (without
  ``error: ``), before any work;
* the same limits apply (``max_steps``, ``max_memory``, ``max_work``, estimated before any work).

Runs release the GIL. Ctrl-C (SIGINT) stops a run within one integration step of every running
trajectory and raises :class:`KeyboardInterrupt` (the interruption is process-wide: runs on other
threads of the process stop too).
"""

import os
from typing import Any, Callable, Dict, List, Mapping, Optional, Union

import numpy as np

from . import theory as theory

__version__: str

PathLike = Union[str, os.PathLike]
Progress = Union[None, bool, Callable[[int, int], Any]]
"""``progress(done, total)`` in realisations, called on the calling thread about every 20 ms while
the count changes and once at the end; ``True`` prints ``done/total`` on stderr."""

class AttnflowError(ValueError):
    """A refused input or a failed run, with the command line's one-line message."""

    report: Dict[str, Any]
    """(:func:`verify` only) the report of a suite with failed checks."""

class Result(Dict[str, np.ndarray]):
    """The arrays of a run by name (numpy float64, C order) and the run's metadata.

    Keys are those of the command line's ``.npz`` output: ``t`` and ``step`` (m,) for m
    checkpoints; per observable ``NAME`` of shape (R, m, ...) for R > 1 realisations kept, (m, ...)
    for one (positions (m, n, d), attention matrices (m, H, n, n)), or ``NAME`` and ``NAME.stderr``
    (m, ...) for means over realisations; ``NAME.labels`` (cluster labels), ``NAME.rank``; with a
    sweep ``point{b}/NAME`` and the swept values under the parameter's name. A phase diagram has
    ``t`` (m,), ``beta`` (B,), ``probability``, ``stderr`` and ``pair12_probability`` (B, m).
    """

    meta: Dict[str, Any]
    """Every metadata field: ``spec``, ``warnings``, ``runtime_s`` and per function: ``steps``,
    ``integrator``, ``stats`` (the integrator's counters) for :func:`simulate`; ``params`` and
    ``steps_integrated`` for :func:`phase_diagram`; ``stats`` per point and realisation for
    :func:`run`."""
    spec: Dict[str, Any]
    """The resolved spec (every default filled in) as a dict; running it gives the same bits.
    Arrays given as numpy inputs are named by temporary ``.npy`` paths that no longer exist after
    the call."""
    warnings: List[str]
    """What resolving the spec changed (e.g. start points renormalised onto the sphere)."""
    runtime_s: float
    """Wall time of the run (not of the resolution)."""

def run(
    spec: Union[Mapping[str, Any], PathLike],
    *,
    out: Optional[PathLike] = None,
    max_steps: Optional[int] = None,
    max_memory: Union[None, int, str] = None,
    max_work: Optional[float] = None,
    print_spec: bool = False,
    progress: Progress = None,
) -> Result:
    """``attnflow run SPEC``: an experiment written as data.

    ``spec`` is a path to a ``.toml`` / ``.json`` spec (relative paths inside it are relative to
    the file) or a dict in the same schema (keys as in the files, e.g. ``"t-max"``; relative paths
    are relative to the current directory; a numpy array may stand for a file under ``path`` /
    ``npy`` keys, e.g. ``{"init": {"kind": "points", "path": x0}}``, and for an inline ``matrix``).
    See ``crates/experiment/examples/specs`` and the README. ``out`` also writes the command
    line's file (``.json``, ``.csv``, ``.npy``, ``.npz``: the same bytes). ``print_spec=True``
    returns the resolved spec as TOML (a ``str``) without running.
    """

def simulate(
    *,
    spec: Union[None, Mapping[str, Any], PathLike] = None,
    model: Optional[str] = None,
    n: Optional[int] = None,
    d: Optional[int] = None,
    beta: Optional[float] = None,
    t_max: Optional[float] = None,
    dt: Optional[float] = None,
    integrator: Optional[str] = None,
    rtol: Optional[float] = None,
    atol: Optional[float] = None,
    seed: Optional[int] = None,
    checkpoints: Optional[int] = None,
    delta: Optional[float] = None,
    init: Union[None, np.ndarray, PathLike] = None,
    q: Union[None, np.ndarray, PathLike] = None,
    k: Union[None, np.ndarray, PathLike] = None,
    v: Union[None, np.ndarray, PathLike] = None,
    heads: Union[None, int, PathLike, List[Mapping[str, Any]]] = None,
    mask: Optional[str] = None,
    save_positions: bool = False,
    out: Optional[PathLike] = None,
    gif: Optional[PathLike] = None,
    max_steps: Optional[int] = None,
    max_memory: Union[None, int, str] = None,
    max_work: Optional[float] = None,
    print_spec: bool = False,
    progress: Progress = None,
) -> Result:
    """``attnflow simulate``: one trajectory of the particle system.

    ``model`` ``"sa"`` (default) or ``"usa"``; ``n``, ``d`` (taken from ``init`` when given),
    ``beta`` and ``t_max`` are required unless ``spec`` gives them; ``dt`` 0.1; ``integrator``
    ``"paper-euler"`` (default), ``"rk4"``, ``"dp54"`` (``rtol`` 1e-8, ``atol`` 1e-10), ``"lie-euler"``,
    ``"cg3"``, ``"rkmk4"``, ``"rkmk45"``, ``"cf4"``, ``"energy-stable"``; ``seed`` 0; ``checkpoints``
    11 equispaced times in [0, t_max] (t = 0 is the start); ``delta`` 1e-3 (cluster statistics).

    ``init``: the start points, an (n, d) array (or a ``.npy`` / CSV / JSON path), renormalised
    onto the sphere with a warning when a norm is off 1. ``q``, ``k``, ``v``: (d, d) matrices of the
    head (B = Q^T K; V is the velocity V y, [GLPR] (2.3)). ``heads``: H copies of that head
    (summed, [GLPR] (2.7)), a ``.toml`` / ``.json`` file of ``[[heads]]`` tables, or a list of head
    dicts in the spec's syntax. ``mask``: ``"none"`` or ``"causal"`` (token i attends to j <= i).

    Arrays: ``t``, ``step``, ``mean_inner_product``, ``min_inner_product``,
    ``fraction_pairs_above``, ``clusters``, ``energy`` (beta > 0) and ``positions`` (m, n, d) (for
    d <= 3 or with ``save_positions``). ``out`` writes the command line's file (``.json`` is the
    trajectory record), ``gif`` an animation (d = 2, 3).
    """

def phase_diagram(
    *,
    spec: Union[None, Mapping[str, Any], PathLike] = None,
    d: Optional[int] = None,
    n: Optional[int] = None,
    beta_min: Optional[float] = None,
    beta_max: Optional[float] = None,
    betas: Optional[int] = None,
    t_max: Optional[float] = None,
    times: Optional[int] = None,
    realizations: Optional[int] = None,
    delta: Optional[float] = None,
    dt: Optional[float] = None,
    seed: Optional[int] = None,
    model: Optional[str] = None,
    matrices: Optional[str] = None,
    integrator: Optional[str] = None,
    rtol: Optional[float] = None,
    atol: Optional[float] = None,
    representation: Optional[str] = None,
    no_consensus_exit: bool = False,
    out: Optional[PathLike] = None,
    max_steps: Optional[int] = None,
    max_memory: Union[None, int, str] = None,
    max_work: Optional[float] = None,
    print_spec: bool = False,
    progress: Progress = None,
) -> Result:
    """``attnflow phase-diagram``: [GLPR] Figures 3 and 5, the mean over ``realizations`` of the
    fraction of ordered pairs with <x_i(t), x_j(t)> > 1 - delta on a (beta, t) grid.

    ``d`` is required unless ``spec``; defaults: ``n`` 32, ``betas`` 150 in linspace(``beta_min``
    0.1, ``beta_max`` 9), ``times`` 200 in linspace(0, ``t_max`` 30) (t = 0 read after one step,
    the authors' rule), ``realizations`` 1024, ``delta`` 1e-3, ``dt`` 0.1, ``seed`` 0, ``model``
    ``"sa"``, ``matrices`` ``"identity"`` (or ``"ginibre"``, ``"wigner-psd"``, ``"ginibre-gf"``,
    ``"wigner-gf"``, Figure 5), the paper's Euler step, ``representation`` ``"auto"`` (the exact
    n x n reduction for Q = K = V = I), the exact consensus exit. Realisation r of beta index b
    draws from the streams (seed, b R + r, purpose).

    Arrays: ``t`` (m,), ``beta`` (B,), ``probability``, ``stderr`` (standard error of the mean) and
    ``pair12_probability`` (B, m); ``meta["params"]`` and ``meta["steps_integrated"]`` as in the
    command line's record, which ``out`` (``.json``) writes byte for byte.
    """

def verify(
    fidelity: str = "ci",
    only: Union[None, str, List[str]] = None,
    *,
    write_report: Optional[PathLike] = None,
    raise_on_failure: bool = True,
) -> Dict[str, Any]:
    """``attnflow verify``: the theorem checks of [GLPR] and [BKKRW], predicted vs measured.

    ``fidelity`` ``"ci"`` (seconds per check) or ``"full"`` (minutes); ``only`` check ids (e.g.
    ``"thm-6.8"``). Returns the report (``fidelity``, ``outcomes``: per check ``id``, ``claim``,
    ``predicted``, ``measured``, ``tolerance``, ``method``, ``verdict``, ...). A failed check raises
    :class:`AttnflowError` (``"N check(s) failed: ..."``, the report in ``.report``) unless
    ``raise_on_failure=False``. ``write_report`` writes the Markdown report.
    """
