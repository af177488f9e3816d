"""Shared fixtures: the `attnflow` command line the Python results are compared with."""

import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SPECS = ROOT / "crates" / "experiment" / "examples" / "specs"


def _cli_path() -> pathlib.Path:
    """The command line: $ATTNFLOW_BIN, else target/debug/attnflow, else target/release/attnflow
    (the release and debug builds give the same bits)."""
    given = os.environ.get("ATTNFLOW_BIN")
    candidates = [pathlib.Path(given)] if given else [
        ROOT / "target" / "debug" / "attnflow",
        ROOT / "target" / "release" / "attnflow",
    ]
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return c
    raise RuntimeError(
        f"no attnflow binary at {', '.join(map(str, candidates))}: build it with "
        "`cargo build --bin attnflow` or set ATTNFLOW_BIN"
    )


@pytest.fixture(scope="session")
def cli():
    """cli(*args) runs the command line; returns the CompletedProcess (text mode)."""
    binary = _cli_path()

    def run(*args, check=True, cwd=None):
        p = subprocess.run(
            [str(binary), *map(str, args)], capture_output=True, text=True, cwd=cwd
        )
        if check and p.returncode != 0:
            raise AssertionError(f"attnflow {' '.join(map(str, args))} failed: {p.stderr}")
        return p

    return run


@pytest.fixture
def cli_error(cli):
    """cli_error(*args): the one-line message of a refused command, without `error: `."""

    def error(*args):
        p = cli(*args, check=False)
        assert p.returncode == 1, (p.returncode, p.stderr)
        lines = [l for l in p.stderr.splitlines() if l.startswith("error: ")]
        assert len(lines) == 1, p.stderr
        return lines[0][len("error: "):]

    return error


def same_bits(a, b) -> bool:
    """Equal shapes and identical float64 bit patterns (NaN-safe, -0.0 != 0.0)."""
    import numpy as np

    a = np.ascontiguousarray(a, dtype=np.float64)
    b = np.ascontiguousarray(b, dtype=np.float64)
    return a.shape == b.shape and np.array_equal(a.view(np.uint64), b.view(np.uint64))
