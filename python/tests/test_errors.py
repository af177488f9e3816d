"""Bad input raises attnflow.AttnflowError (a ValueError) with the command line's one-line
message; numpy inputs are shape-checked before any work."""

import numpy as np
import pytest

import attnflow
from conftest import SPECS


def test_the_error_type():
    assert issubclass(attnflow.AttnflowError, ValueError)


@pytest.mark.parametrize(
    "cli_args, kwargs",
    [
        (["--n", "8", "--d", "3", "--beta", "1", "--t-max", "1", "--dt", "2"],
         dict(n=8, d=3, beta=1.0, t_max=1.0, dt=2.0)),
        (["--n", "8", "--d", "3", "--beta", "1", "--t-max", "1", "--checkpoints", "0"],
         dict(n=8, d=3, beta=1.0, t_max=1.0, checkpoints=0)),
        (["--n", "8", "--d", "3", "--beta", "1", "--t-max", "1", "--delta", "2"],
         dict(n=8, d=3, beta=1.0, t_max=1.0, delta=2.0)),
        (["--n", "8", "--d", "3", "--beta", "1", "--t-max", "1e9", "--max-steps", "1000"],
         dict(n=8, d=3, beta=1.0, t_max=1e9, max_steps=1000)),
        (["--n", "0", "--d", "3", "--beta", "1", "--t-max", "1"],
         dict(n=0, d=3, beta=1.0, t_max=1.0)),
        (["--n", "8", "--d", "3", "--beta", "nan", "--t-max", "1"],
         dict(n=8, d=3, beta=float("nan"), t_max=1.0)),
        (["--n", "100000", "--d", "100000", "--beta", "1", "--t-max", "1", "--max-memory", "1G"],
         dict(n=100000, d=100000, beta=1.0, t_max=1.0, max_memory="1G")),
    ],
)
def test_simulate_messages_are_the_cli_messages(cli_error, cli_args, kwargs):
    expected = cli_error("simulate", *cli_args, "--out", "never-written.npz")
    with pytest.raises(attnflow.AttnflowError) as e:
        attnflow.simulate(**kwargs)
    assert str(e.value) == expected


@pytest.mark.parametrize(
    "cli_args, kwargs",
    [
        (["--d", "3", "--n", "1"], dict(d=3, n=1)),
        (["--d", "3", "--beta-min", "2", "--beta-max", "1"], dict(d=3, beta_min=2.0, beta_max=1.0)),
        (["--d", "3", "--times", "500", "--t-max", "1"], dict(d=3, times=500, t_max=1.0)),
        (["--d", "32", "--max-work", "1e6"], dict(d=32, max_work=1e6)),
    ],
)
def test_phase_diagram_messages_are_the_cli_messages(cli_error, cli_args, kwargs):
    expected = cli_error("phase-diagram", *cli_args, "--out", "never-written.json")
    with pytest.raises(attnflow.AttnflowError) as e:
        attnflow.phase_diagram(**kwargs)
    assert str(e.value) == expected


def test_run_messages_name_the_spec_and_field(cli_error, tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('n = 8\nd = 3\n[field]\nbeta = -1.0\n')
    expected = cli_error("run", path, "--out", tmp_path / "x.json")
    with pytest.raises(attnflow.AttnflowError) as e:
        attnflow.run(path)
    assert str(e.value) == expected
    assert "field.beta" in expected
    path.write_text('n = 8\nd = 3\nunknown-key = 1\n')
    expected = cli_error("run", path, "--out", tmp_path / "x.json")
    with pytest.raises(attnflow.AttnflowError) as e:
        attnflow.run(path)
    assert str(e.value) == expected
    with pytest.raises(attnflow.AttnflowError, match="unknown"):
        attnflow.run({"n": 8, "d": 3, "unknown-key": 1})


def test_unparsable_values_are_one_line_errors():
    with pytest.raises(attnflow.AttnflowError) as e:
        attnflow.simulate(n=8, d=3, beta=1.0, t_max=1.0, model="xyz")
    assert "invalid value 'xyz'" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(attnflow.AttnflowError) as e:
        attnflow.simulate(n=8, d=3, t_max=1.0)
    assert "--beta" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(attnflow.AttnflowError, match="--n: expected a value"):
        attnflow.simulate(n=True, d=3, beta=1.0, t_max=1.0)
    with pytest.raises(TypeError):
        attnflow.simulate(n=8, d=3, beta=1.0, t_max=1.0, no_such_flag=1)


def test_numpy_inputs_are_shape_checked():
    x0 = np.eye(3)
    with pytest.raises(attnflow.AttnflowError, match=r"init: expected an \(n, d\) array of points, got shape \(3,\)"):
        attnflow.simulate(init=np.ones(3), beta=1.0, t_max=1.0)
    with pytest.raises(attnflow.AttnflowError, match=r"q: expected a square \(d, d\) matrix, got shape \(3, 4\)"):
        attnflow.simulate(init=x0, q=np.ones((3, 4)), beta=1.0, t_max=1.0)
    with pytest.raises(attnflow.AttnflowError, match="v: the matrix is 4 x 4, but d = 3"):
        attnflow.simulate(init=x0, v=np.eye(4), beta=1.0, t_max=1.0)
    with pytest.raises(attnflow.AttnflowError, match="real numbers"):
        attnflow.simulate(init=x0.astype(complex), beta=1.0, t_max=1.0)
    # a start point off the sphere is renormalised with a warning, as on the command line
    r = attnflow.simulate(init=2 * x0, beta=1.0, t_max=1.0, checkpoints=2)
    assert r.warnings and np.allclose(r["positions"][0], x0)


def test_matrix_size_mismatch_is_the_engine_message(cli_error, tmp_path):
    np.save(tmp_path / "x0.npy", np.eye(3))
    np.save(tmp_path / "q.npy", np.eye(4))
    expected = cli_error("simulate", "--init", tmp_path / "x0.npy", "--q", tmp_path / "q.npy",
                         "--beta", "1", "--t-max", "1", "--out", tmp_path / "x.npz")
    with pytest.raises(attnflow.AttnflowError) as e:
        attnflow.simulate(init=tmp_path / "x0.npy", q=tmp_path / "q.npy", beta=1.0, t_max=1.0)
    assert str(e.value) == expected


def test_theory_and_verify_errors(cli_error):
    expected = cli_error("theory", "clustering-time", "--n", "4", "--beta", "1", "--delta", "1.5")
    with pytest.raises(attnflow.AttnflowError) as e:
        attnflow.theory.clustering_time(n=4, beta=1.0, delta=1.5)
    assert str(e.value) == expected
    expected = cli_error("verify", "--only", "no-such-check")
    with pytest.raises(attnflow.AttnflowError) as e:
        attnflow.verify(only="no-such-check")
    assert str(e.value) == expected
