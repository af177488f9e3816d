"""attnflow from Python: self-attention as interacting particles on the sphere.

The engine of the ``attnflow`` command line ([GLPR] arXiv 2312.10794, [BKKRW] arXiv 2501.03096)
as a Python module. Every function mirrors a subcommand and its keyword arguments mirror the flags
(``t_max`` is ``--t-max``): they are parsed by the command line's own definitions and run by the
same library code, so the same arguments give the same defaults, the same one-line error messages
(:class:`AttnflowError`, a :class:`ValueError`) and the same bits as the command line.

- :func:`run` -- ``attnflow run SPEC``: an experiment spec (a dict, or a path to TOML / JSON);
- :func:`simulate` -- ``attnflow simulate``: one trajectory (numpy start points and Q / K / V);
- :func:`phase_diagram` -- ``attnflow phase-diagram``: [GLPR] Figures 3 and 5;
- :mod:`attnflow.theory` -- ``attnflow theory ...``: the closed forms and semi-analytic numbers;
- :func:`verify` -- ``attnflow verify``: the theorem checks.

Runs release the GIL; Ctrl-C stops a run within one integration step and raises
:class:`KeyboardInterrupt`.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from typing import Any, Callable, Mapping, Optional, Union

import numpy as np

from . import _native
from ._native import AttnflowError, __version__
from . import theory

__all__ = [
    "AttnflowError",
    "Result",
    "run",
    "simulate",
    "phase_diagram",
    "verify",
    "theory",
    "__version__",
]

PathLike = Union[str, "os.PathLike[str]"]


class Result(dict):
    """The arrays of a run by name (numpy float64, C order) with the run's metadata.

    Keys are the names of the command line's ``.npz`` output (``t``, ``step``, one per observable,
    ``NAME.stderr`` next to means, ``point{b}/NAME`` with a sweep; a phase diagram has ``t``,
    ``beta``, ``probability``, ``stderr``, ``pair12_probability``). Attributes: ``spec`` (the
    resolved spec as a dict), ``warnings`` (what the resolution changed, e.g. renormalised points),
    ``runtime_s`` and ``meta`` (every metadata field, e.g. the integrator's counters ``stats``).
    """

    def __init__(self, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]):
        super().__init__(arrays)
        self.meta = dict(meta)
        self.spec = self.meta.get("spec")
        self.warnings = list(self.meta.get("warnings") or [])
        self.runtime_s = self.meta.get("runtime_s")

    def __repr__(self) -> str:
        shapes = ", ".join(f"{k!r}: {np.shape(v)}" for k, v in self.items())
        return f"attnflow.Result({{{shapes}}})"


def _progress(progress: Union[None, bool, Callable[[int, int], Any]]):
    if progress is None or progress is False:
        return None
    if progress is True:

        def show(done: int, total: int) -> None:
            end = "\n" if done >= total else ""
            print(f"\r{done}/{total} realisations", end=end, file=sys.stderr, flush=True)

        return show
    if not callable(progress):
        raise AttnflowError("progress: expected a callable progress(done, total) or True")
    return progress


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _text(name: str, value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        raise AttnflowError(f"{_flag(name)}: expected a value, got {value!r}")
    if isinstance(value, (float, np.floating)):
        # repr is the shortest text that reads back to the same float64
        return repr(float(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (str, os.PathLike)):
        return os.fspath(value)
    raise AttnflowError(
        f"{_flag(name)}: expected a number, a string or a path, got {type(value).__name__}"
    )


def _argv(values: Mapping[str, Any], switches: tuple = ()) -> list:
    """Command-line flags of the keyword arguments given (``None``: not given)."""
    argv = []
    for name, value in values.items():
        if value is None:
            continue
        if name in switches:
            if not isinstance(value, (bool, np.bool_)):
                raise AttnflowError(f"{_flag(name)}: expected True or False, got {value!r}")
            if value:
                argv.append(_flag(name))
            continue
        if isinstance(value, (list, tuple)) and name == "only":
            argv.extend(f"{_flag(name)}={_text(name, v)}" for v in value)
            continue
        argv.append(f"{_flag(name)}={_text(name, value)}")
    return argv


def _real_array(name: str, value: Any) -> np.ndarray:
    a = np.asarray(value)
    if a.dtype == object or not (
        np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)
    ):
        raise AttnflowError(f"{name}: expected an array of real numbers, got dtype {a.dtype}")
    return np.ascontiguousarray(a, dtype=np.float64)


def _save(tmp: str, name: str, array: np.ndarray) -> str:
    path = os.path.join(tmp, f"{name}.npy")
    np.save(path, array)
    return path


def _points(name: str, value: Any, tmp: str) -> Any:
    """An (n, d) array of start points saved as .npy (paths pass through)."""
    if value is None or isinstance(value, (str, os.PathLike)):
        return value
    a = _real_array(name, value)
    if a.ndim != 2 or a.shape[0] < 1 or a.shape[1] < 1:
        raise AttnflowError(f"{name}: expected an (n, d) array of points, got shape {a.shape}")
    return _save(tmp, name, a)


def _square(name: str, value: Any, tmp: str, d: Optional[int]) -> Any:
    """A (d, d) matrix saved as .npy (paths pass through)."""
    if value is None or isinstance(value, (str, os.PathLike)):
        return value
    a = _real_array(name, value)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise AttnflowError(f"{name}: expected a square (d, d) matrix, got shape {a.shape}")
    if d is not None and a.shape[0] != d:
        raise AttnflowError(f"{name}: the matrix is {a.shape[0]} x {a.shape[1]}, but d = {d}")
    return _save(tmp, name, a)


def _spec_value(value: Any, tmp: str, key: str = "", counter: list = None) -> Any:
    """A spec (dict) made ready for JSON: numpy arrays under `path` / `npy` saved as .npy files,
    other arrays as lists, relative paths made absolute (from the current directory)."""
    counter = counter if counter is not None else [0]
    if isinstance(value, Mapping):
        return {str(k): _spec_value(v, tmp, str(k), counter) for k, v in value.items()}
    if isinstance(value, np.ndarray) and key in ("path", "npy"):
        counter[0] += 1
        return _save(tmp, f"spec{counter[0]}", _real_array(key, value))
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_spec_value(v, tmp, key, counter) for v in value]
    if isinstance(value, (str, os.PathLike)) and key in ("path", "npy"):
        return os.path.abspath(os.fspath(value))
    if isinstance(value, np.generic):
        return value.item()
    return value


def _spec_file(spec: Any, tmp: str) -> Any:
    """`spec` as a path: a dict is written as JSON (its paths made absolute first)."""
    if spec is None or isinstance(spec, (str, os.PathLike)):
        return spec
    if isinstance(spec, Mapping):
        path = os.path.join(tmp, "spec.json")
        with open(path, "w") as f:
            json.dump(_spec_value(spec, tmp), f)
        return path
    raise AttnflowError(f"spec: expected a dict or a path, got {type(spec).__name__}")


def _result(answer: Any) -> Union[Result, str]:
    if isinstance(answer, str):
        return answer
    arrays, meta = answer
    return Result(arrays, json.loads(meta))


def run(
    spec: Union[Mapping[str, Any], PathLike],
    *,
    out: Optional[PathLike] = None,
    max_steps: Optional[int] = None,
    max_memory: Union[None, int, str] = None,
    max_work: Optional[float] = None,
    print_spec: bool = False,
    progress: Union[None, bool, Callable[[int, int], Any]] = None,
) -> Union[Result, str]:
    """``attnflow run SPEC``; see ``attnflow/__init__.pyi`` for the full description."""
    with tempfile.TemporaryDirectory(prefix="attnflow-") as tmp:
        limits = {
            "max_steps": None if max_steps is None else _text("max_steps", max_steps),
            "max_memory": None if max_memory is None else _text("max_memory", max_memory),
            "max_work": None if max_work is None else _text("max_work", max_work),
        }
        out = None if out is None else os.fspath(out)
        if isinstance(spec, Mapping):
            text = json.dumps(_spec_value(spec, tmp))
            answer = _native.run(
                text=text, out=out, print_spec=print_spec, progress=_progress(progress), **limits
            )
        elif isinstance(spec, (str, os.PathLike)):
            answer = _native.run(
                path=os.fspath(spec),
                out=out,
                print_spec=print_spec,
                progress=_progress(progress),
                **limits,
            )
        else:
            raise AttnflowError(f"spec: expected a dict or a path, got {type(spec).__name__}")
    return _result(answer)


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
    init: Any = None,
    q: Any = None,
    k: Any = None,
    v: Any = None,
    heads: Any = None,
    mask: Optional[str] = None,
    save_positions: bool = False,
    out: Optional[PathLike] = None,
    gif: Optional[PathLike] = None,
    max_steps: Optional[int] = None,
    max_memory: Union[None, int, str] = None,
    max_work: Optional[float] = None,
    print_spec: bool = False,
    progress: Union[None, bool, Callable[[int, int], Any]] = None,
) -> Union[Result, str]:
    """``attnflow simulate``; see ``attnflow/__init__.pyi`` for the full description."""
    with tempfile.TemporaryDirectory(prefix="attnflow-") as tmp:
        init_path = _points("init", init, tmp)
        d_known = d
        if d_known is None and init is not None and not isinstance(init, (str, os.PathLike)):
            d_known = np.shape(init)[1]
        if isinstance(heads, (list, tuple)):
            path = os.path.join(tmp, "heads.json")
            with open(path, "w") as f:
                json.dump({"heads": _spec_value(list(heads), tmp, "heads")}, f)
            heads = path
        elif isinstance(heads, (bool, np.bool_)):
            raise AttnflowError(f"--heads: expected a number of heads or a list, got {heads!r}")
        flags = dict(
            spec=_spec_file(spec, tmp),
            model=model,
            n=n,
            d=d,
            beta=beta,
            t_max=t_max,
            dt=dt,
            integrator=integrator,
            rtol=rtol,
            atol=atol,
            seed=seed,
            checkpoints=checkpoints,
            delta=delta,
            init=init_path,
            q=_square("q", q, tmp, d_known),
            k=_square("k", k, tmp, d_known),
            v=_square("v", v, tmp, d_known),
            heads=heads,
            mask=mask,
            save_positions=save_positions,
            out=out,
            gif=gif,
            max_steps=max_steps,
            max_memory=max_memory,
            max_work=max_work,
        )
        argv = _argv(flags, switches=("save_positions",))
        answer = _native.simulate(argv, print_spec=print_spec, progress=_progress(progress))
    return _result(answer)


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
    progress: Union[None, bool, Callable[[int, int], Any]] = None,
) -> Union[Result, str]:
    """``attnflow phase-diagram``; see ``attnflow/__init__.pyi`` for the full description."""
    with tempfile.TemporaryDirectory(prefix="attnflow-") as tmp:
        flags = dict(
            spec=_spec_file(spec, tmp),
            d=d,
            n=n,
            beta_min=beta_min,
            beta_max=beta_max,
            betas=betas,
            t_max=t_max,
            times=times,
            realizations=realizations,
            delta=delta,
            dt=dt,
            seed=seed,
            model=model,
            matrices=matrices,
            integrator=integrator,
            rtol=rtol,
            atol=atol,
            representation=representation,
            no_consensus_exit=no_consensus_exit,
            out=out,
            max_steps=max_steps,
            max_memory=max_memory,
            max_work=max_work,
        )
        argv = _argv(flags, switches=("no_consensus_exit",))
        answer = _native.phase_diagram(argv, print_spec=print_spec, progress=_progress(progress))
    return _result(answer)


def verify(
    fidelity: str = "ci",
    only: Union[None, str, list] = None,
    *,
    write_report: Optional[PathLike] = None,
    raise_on_failure: bool = True,
) -> dict:
    """``attnflow verify``; see ``attnflow/__init__.pyi`` for the full description."""
    if isinstance(only, str):
        only = [only]
    argv = _argv(
        {"fidelity": fidelity, "only": list(only) if only else None, "write_report": write_report}
    )
    text, failure = _native.verify(argv)
    report = json.loads(text)
    if failure is not None and raise_on_failure:
        error = AttnflowError(failure)
        error.report = report
        raise error
    return report
