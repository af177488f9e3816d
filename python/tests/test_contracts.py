"""The numpy contracts of the results: float64, C order, the documented shapes; metadata; progress;
the GIL released during a run."""

import threading
import time

import numpy as np
import pytest

import attnflow


def test_simulate_shapes_and_dtypes():
    r = attnflow.simulate(n=7, d=3, beta=1.0, t_max=1.0, checkpoints=4, seed=2)
    assert isinstance(r, dict) and isinstance(r, attnflow.Result)
    for name, a in r.items():
        assert isinstance(a, np.ndarray) and a.dtype == np.float64 and a.flags.c_contiguous, name
    assert r["t"].shape == (4,) and r["step"].shape == (4,)
    assert r["positions"].shape == (4, 7, 3)
    assert r["clusters"].shape == (4,)
    np.testing.assert_allclose(np.linalg.norm(r["positions"], axis=2), 1.0, atol=1e-12)
    assert r.spec["n"] == 7 and r.spec["d"] == 3
    assert r.meta["integrator"] == "paper-euler" and r.meta["steps"] == 10
    assert r.meta["stats"]["steps"] == 10


def test_phase_diagram_shapes():
    r = attnflow.phase_diagram(d=3, n=6, betas=4, times=5, t_max=2.0, realizations=8)
    assert r["probability"].shape == (4, 5) and r["stderr"].shape == (4, 5)
    assert r["pair12_probability"].shape == (4, 5)
    assert r["t"].shape == (5,) and r["beta"].shape == (4,)
    assert np.all((r["probability"] >= 0) & (r["probability"] <= 1))
    np.testing.assert_array_equal(r["beta"], np.linspace(0.1, 9.0, 4))
    assert r.meta["params"]["realizations"] == 8


def test_run_with_mean_and_sweep_names():
    spec = {
        "n": 8, "d": 3, "observables": ["pair-fraction", "energy"],
        "time": {"dt": 0.1, "t-max": 1.0, "checkpoints": 3},
        "ensemble": {"realizations": 4},
        "sweep": {"parameter": "beta", "values": [0.5, 2.0]},
    }
    r = attnflow.run(spec)
    assert "point0/pair-fraction" in r and "point1/pair-fraction.stderr" in r
    assert r["point0/pair-fraction"].shape == (3,)
    np.testing.assert_array_equal(r["beta"], [0.5, 2.0])


def test_progress_callback_reaches_the_total():
    calls = []
    attnflow.phase_diagram(d=3, n=6, betas=2, times=3, t_max=1.0, realizations=8,
                           progress=lambda done, total: calls.append((done, total)))
    assert calls and calls[-1] == (16, 16)
    assert all(a <= b for (a, _), (b, _) in zip(calls, calls[1:]))


def test_an_exception_in_the_progress_callback_stops_the_run():
    def boom(done, total):
        raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        attnflow.phase_diagram(d=8, n=32, betas=20, times=50, t_max=30.0, realizations=256,
                               progress=boom)
    assert not attnflow._native._interrupt_pending()


def test_the_gil_is_released_during_a_run():
    ticks = []
    stop = threading.Event()

    def tick():
        while not stop.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.005)

    t = threading.Thread(target=tick)
    t.start()
    # double the workload until one run lasts long enough to tell (machines differ ~10x in speed)
    realizations = 64
    while True:
        ticks.clear()
        start = time.perf_counter()
        attnflow.phase_diagram(
            d=16, n=32, betas=6, times=20, t_max=10.0, realizations=realizations
        )
        elapsed = time.perf_counter() - start
        if elapsed > 0.3 or realizations >= 64 * 2**6:
            break
        realizations *= 2
    stop.set()
    t.join()
    during = [x for x in ticks if start <= x <= start + elapsed]
    assert elapsed > 0.1, ("workload too small to tell", realizations, elapsed)
    # a call holding the GIL for the whole run would let the ticker run at most once or twice
    assert len(during) >= 5, (len(during), elapsed)
