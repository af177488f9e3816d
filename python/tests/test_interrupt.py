"""Ctrl-C: SIGINT to a Python process in the middle of a long run raises KeyboardInterrupt within
a fraction of a second, and the module runs again afterwards."""

import os
import signal
import subprocess
import sys
import time

SCRIPT = r"""
import sys, time
import attnflow
try:
    print("started", flush=True)
    # the [GLPR] Figure 3 panel d = 32 at paper fidelity: minutes on this machine
    attnflow.phase_diagram(d=32, n=32, realizations=1024, betas=150, times=200)
    print("finished", flush=True)
except KeyboardInterrupt:
    print("interrupted", time.perf_counter(), flush=True)
    r = attnflow.simulate(n=4, d=3, beta=1.0, t_max=1.0, checkpoints=2)
    assert not attnflow._native._interrupt_pending()
    print("ran again", r["t"].tolist(), flush=True)
    raise
"""


def test_sigint_raises_keyboard_interrupt_quickly():
    p = subprocess.Popen([sys.executable, "-c", SCRIPT], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "started"
    time.sleep(1.0)  # well inside the run
    sent = time.perf_counter()
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=30)
    lines = out.splitlines()
    assert lines[0].startswith("interrupted"), (out, err)
    latency = float(lines[0].split()[1]) - sent
    # measured 0.15-0.19 s on a loaded 2-core machine: the queued realisations stop at their first step
    assert latency < 1.0, f"KeyboardInterrupt {latency:.3f} s after SIGINT"
    assert lines[1] == "ran again [0.0, 1.0]"
    assert "KeyboardInterrupt" in err
    assert p.returncode != 0


def test_sigint_stops_a_single_long_trajectory():
    script = SCRIPT.replace(
        "attnflow.phase_diagram(d=32, n=32, realizations=1024, betas=150, times=200)",
        "attnflow.simulate(n=256, d=64, beta=1.0, t_max=1e5, dt=0.1, checkpoints=2, max_work=1e16)",
    )
    p = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "started"
    time.sleep(1.0)
    sent = time.perf_counter()
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=30)
    lines = out.splitlines()
    assert lines and lines[0].startswith("interrupted"), (out, err)
    # measured 2-16 ms: the one trajectory stops at its next step
    assert float(lines[0].split()[1]) - sent < 0.5
