"""Same seed, same bits: every entry point against the `attnflow` command line on the same input."""

import json

import numpy as np
import pytest

import attnflow
from conftest import SPECS, same_bits


def assert_same_npz(result, path):
    with np.load(path) as cli_arrays:
        assert sorted(cli_arrays.files) == sorted(result.keys())
        for name in cli_arrays.files:
            assert same_bits(result[name], cli_arrays[name]), name


SIMULATE = dict(n=12, d=3, beta=2.0, t_max=3.0, dt=0.1, integrator="rk4", seed=5, checkpoints=7)


def flags(kwargs):
    out = []
    for k, v in kwargs.items():
        out += ["--" + k.replace("_", "-"), repr(v) if isinstance(v, float) else str(v)]
    return out


def test_simulate_matches_the_cli_bit_for_bit(cli, tmp_path):
    cli("simulate", *flags(SIMULATE), "--out", tmp_path / "cli.npz")
    result = attnflow.simulate(**SIMULATE, out=tmp_path / "py.npz")
    assert_same_npz(result, tmp_path / "cli.npz")
    # the file written from Python is the command line's, byte for byte
    assert (tmp_path / "py.npz").read_bytes() == (tmp_path / "cli.npz").read_bytes()
    assert result["positions"].shape == (7, 12, 3)


def test_simulate_json_record_is_the_cli_record(cli, tmp_path):
    kwargs = {**SIMULATE, "integrator": "dp54", "rtol": 1e-9}
    cli("simulate", *flags(kwargs), "--out", tmp_path / "cli.json")
    attnflow.simulate(**kwargs, out=tmp_path / "py.json")
    assert (tmp_path / "py.json").read_bytes() == (tmp_path / "cli.json").read_bytes()


def test_numpy_start_and_qkv_match_npy_files_on_the_cli(cli, tmp_path):
    rng = np.random.default_rng(11)
    n, d = 9, 4
    x0 = rng.standard_normal((n, d))
    x0 /= np.linalg.norm(x0, axis=1, keepdims=True)
    q, k, v = (rng.standard_normal((d, d)) for _ in range(3))
    for name, a in dict(x0=x0, q=q, k=k, v=v).items():
        np.save(tmp_path / f"{name}.npy", a)
    common = dict(beta=1.5, t_max=2.0, dt=0.05, integrator="rk4", checkpoints=5)
    cli(
        "simulate", *flags(common), "--mask", "causal", "--init", tmp_path / "x0.npy",
        "--q", tmp_path / "q.npy", "--k", tmp_path / "k.npy", "--v", tmp_path / "v.npy",
        "--save-positions", "--out", tmp_path / "cli.npz",
    )
    # n and d come from the start points
    result = attnflow.simulate(**common, mask="causal", init=x0, q=q, k=k, v=v, save_positions=True)
    assert_same_npz(result, tmp_path / "cli.npz")
    # causal attention with V = I: token 1 attends only to itself, its velocity P_x1(x_1) is 0,
    # so x_1(t) = x_1(0) (with this V it moves)
    still = attnflow.simulate(**common, mask="causal", init=x0, q=q, k=k, save_positions=True)
    x1 = still["positions"][:, 0, :]
    np.testing.assert_allclose(x1, np.broadcast_to(x1[0], x1.shape), rtol=0, atol=1e-15)
    assert np.abs(result["positions"][:, 0, :] - x1[0]).max() > 1e-3


PHASE = dict(d=4, n=8, beta_min=0.5, beta_max=4.0, betas=3, t_max=3.0, times=6,
             realizations=24, seed=3)


def test_phase_diagram_matches_the_cli_bit_for_bit(cli, tmp_path):
    cli("phase-diagram", *flags(PHASE), "--out", tmp_path / "cli.json")
    result = attnflow.phase_diagram(**PHASE, out=tmp_path / "py.json")
    assert (tmp_path / "py.json").read_bytes() == (tmp_path / "cli.json").read_bytes()
    record = json.loads((tmp_path / "cli.json").read_text())
    for key in ("t", "beta", "probability", "stderr", "pair12_probability"):
        assert same_bits(result[key], np.array(record[key], dtype=np.float64)), key
    assert result.meta["steps_integrated"] == record["steps_integrated"]
    assert result.meta["params"] == record["params"]


@pytest.mark.parametrize("spec", ["causal-s2-npy.toml", "multi-head.toml", "pure-rd.toml"])
def test_run_of_a_spec_file_matches_the_cli(cli, tmp_path, spec):
    cli("run", SPECS / spec, "--out", tmp_path / "cli.npz")
    result = attnflow.run(SPECS / spec, out=tmp_path / "py.npz")
    assert_same_npz(result, tmp_path / "cli.npz")
    assert (tmp_path / "py.npz").read_bytes() == (tmp_path / "cli.npz").read_bytes()


def test_run_of_a_dict_matches_the_cli_on_the_same_json(cli, tmp_path):
    spec = {
        "n": 10, "d": 3, "seed": 4,
        "observables": ["pair-fraction", "energy", "positions"],
        "field": {"model": "usa", "beta": 1.0,
                  "mask": {"alibi": {"slope": 0.5, "causal": True}}},
        "time": {"dt": 0.1, "t-max": 2.0, "checkpoints": 5},
        "ensemble": {"realizations": 3, "aggregate": "none"},
    }
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    cli("run", tmp_path / "spec.json", "--out", tmp_path / "cli.npz")
    assert_same_npz(attnflow.run(spec), tmp_path / "cli.npz")


def test_print_spec_is_the_cli_print_spec(cli):
    expected = cli("phase-diagram", *flags(PHASE), "--print-spec").stdout.strip()
    assert attnflow.phase_diagram(**PHASE, print_spec=True).strip() == expected
    expected = cli("simulate", *flags(SIMULATE), "--print-spec").stdout.strip()
    assert attnflow.simulate(**SIMULATE, print_spec=True).strip() == expected


def test_phase_diagram_from_a_figure_spec_with_overrides(cli, tmp_path):
    args = ["--spec", SPECS / "glpr-fig3-d32.toml", "--realizations", "8", "--betas", "2",
            "--times", "4", "--t-max", "2"]
    cli("phase-diagram", *args, "--out", tmp_path / "cli.json")
    result = attnflow.phase_diagram(spec=SPECS / "glpr-fig3-d32.toml", realizations=8, betas=2,
                                    times=4, t_max=2.0)
    record = json.loads((tmp_path / "cli.json").read_text())
    assert same_bits(result["probability"], np.array(record["probability"]))


@pytest.mark.parametrize(
    "command, kwargs",
    [
        ("clustering-time", dict(model="usa", n=8, beta=1.0, delta=0.1)),
        ("equiangular", dict(n=4, beta=0.5, t=1.0)),
        ("wendel", dict(n=6, d=3)),
        ("energy-dirac", dict(beta=1000.0)),
        ("instability", dict(d=3, beta=20.0)),
    ],
)
def test_theory_matches_cli_json(cli, command, kwargs):
    expected = json.loads(cli("--json", "theory", command, *flags(kwargs)).stdout)
    got = getattr(attnflow.theory, command.replace("-", "_"))(**kwargs)
    assert got == expected


def test_verify_reports_the_registry_checks(cli):
    report = attnflow.verify("ci", only=["prop-3.4", "thm-6.7"])
    expected = json.loads(cli("--json", "verify", "--only", "prop-3.4", "--only", "thm-6.7").stdout)
    assert [o["id"] for o in report["outcomes"]] == [o["id"] for o in expected["outcomes"]]
    for got, want in zip(report["outcomes"], expected["outcomes"]):
        assert got["verdict"] == want["verdict"]
        assert got["measured"] == want["measured"]
