#!/usr/bin/env python3
"""Chebyshev coefficients of the erfc fit in crates/transformer/src/special.rs (run once; needs mpmath).

For z >= 0 write t = 2 / (2 + z) in (0, 1] and u = 2 t - 1 in (-1, 1]. Then

    erfc(z) = t * exp(-z^2 + g(u)),   g(u) = ln(erfc(z) / t) + z^2,

and g is smooth on [-1, 1] (g(-1) = -ln(2 sqrt(pi)), the limit z -> inf). The coefficients c_k of
g = sum_k c_k T_k(u) are computed at 50 digits from N = 80 Chebyshev nodes and truncated where
|c_k| < 1e-18 (truncation error below 3e-18 in g, i.e. relative in erfc).
"""
import mpmath as mp

mp.mp.dps = 50


def g(u):
    t = (u + 1) / 2
    if t == 0:
        return -mp.log(2 * mp.sqrt(mp.pi))
    z = 2 / t - 2
    return mp.log(mp.erfc(z) / t) + z * z


N = 80
nodes = [mp.cos(mp.pi * (j + mp.mpf(1) / 2) / N) for j in range(N)]
values = [g(x) for x in nodes]
coeffs = []
for k in range(N):
    s = sum(values[j] * mp.cos(mp.pi * k * (j + mp.mpf(1) / 2) / N) for j in range(N))
    coeffs.append(2 * s / N)
coeffs[0] /= 2
keep = max(k for k, c in enumerate(coeffs) if abs(c) >= mp.mpf("1e-18")) + 1
print(f"const ERFC_CHEBYSHEV: [f64; {keep}] = [")
for c in coeffs[:keep]:
    print(f"    {mp.nstr(c, 20, min_fixed=1, max_fixed=0)},")
print("];")
