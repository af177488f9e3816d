"""``attnflow theory ...``: the closed forms and semi-analytic predictions of [GLPR].

Each function is the subcommand of the same name (``clustering_time`` is ``clustering-time``) with
its flags as keyword arguments, validated and computed by the command line's code; it returns the
object ``attnflow --json theory ...`` prints: ``value`` holds the main number (an energy that
overflows float64 is the string ``"inf"``, its logarithm in ``ln_value``), next to the inputs.
Invalid inputs raise :class:`attnflow.AttnflowError` with the command line's message.
"""

from __future__ import annotations

import json
from typing import Any, Optional

from . import _native

__all__ = [
    "equiangular",
    "clustering_time",
    "phase_curve",
    "wendel",
    "energy_uniform",
    "energy_dirac",
    "tau_star",
    "thresholds",
    "instability",
]


def _theory(command: str, **flags: Any) -> dict:
    from . import _argv

    return json.loads(_native.theory([command] + _argv(flags)))


def equiangular(*, n: int, beta: float, t: float, model: Optional[str] = None,
                gamma0: Optional[float] = None) -> dict:
    """gamma(T) of the equiangular dynamics ([GLPR] Thm 6.8, (6.9) SA / (6.10) USA) from gamma0."""
    return _theory("equiangular", model=model, n=n, beta=beta, t=t, gamma0=gamma0)


def clustering_time(*, n: int, beta: float, delta: float, model: Optional[str] = None) -> dict:
    """t*(beta): time for the equiangular gamma (from 0) to reach 1 - delta ((6.12))."""
    return _theory("clustering-time", model=model, n=n, beta=beta, delta=delta)


def phase_curve(*, n: int, delta: float, t: float, model: Optional[str] = None) -> dict:
    """beta*(T) on the phase-transition curve Gamma_{inf,delta} ((6.12))."""
    return _theory("phase-curve", model=model, n=n, delta=delta, t=t)


def wendel(*, n: int, d: int) -> dict:
    """Wendel's probability that n uniform points of S^{d-1} lie in an open hemisphere (Thm 6.7)."""
    return _theory("wendel", n=n, d=d)


def energy_uniform(*, d: int, beta: float) -> dict:
    """E_beta of the uniform measure on S^{d-1} (Prop 3.4, Funk-Hecke)."""
    return _theory("energy-uniform", d=d, beta=beta)


def energy_dirac(*, beta: float) -> dict:
    """E_beta of a Dirac mass, e^beta / (2 beta) (Prop 3.4)."""
    return _theory("energy-dirac", beta=beta)


def tau_star(*, beta: float, d: Optional[int] = None) -> dict:
    """tau*_beta (d = 2) or zeta*_beta: the root of (d-1) cos = beta sin^2 (App. B)."""
    return _theory("tau-star", beta=beta, d=d)


def thresholds(*, n: int, d: Optional[int] = None) -> dict:
    """Thm 5.1's large-beta thresholds: exact, 4 (n-1)^2 / pi^2 and n^2 / pi^2."""
    return _theory("thresholds", n=n, d=d)


def instability(*, d: int, beta: float, model: Optional[str] = None) -> dict:
    """Mean-field instability of the uniform measure: fastest degree l* and rates lambda_l."""
    return _theory("instability", d=d, beta=beta, model=model)
