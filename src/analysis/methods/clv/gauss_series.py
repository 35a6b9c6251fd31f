"""BG/NBD's expected purchases of a live customer at every period end of the CLV horizon, by Gauss's
hypergeometric series, compiled (numba).

The CLV and its intervals evaluate ``E_alive(t | x, T)`` (Fader, Hardie & Lee 2005, eq. 10 without
P(alive)) at the horizon's period ends for each distinct ``(x, T)``, under each of the parameter
draws: at 10M transaction rows, 200 draws × 12 ends × 68,652 pairs, 165 million values of
``2F1(a+b-1-r, a-1; a+b-1+x; z)``, ``z = t / (alpha + T + t)``. scipy's ``hyp2f1`` takes about 140 ns
for each. Here the series ``sum_k c_k z^k`` is summed for the period ends of one pair together: the
ratio ``c_{k+1} / c_k`` depends on ``(x, k)`` only, so one division serves all of them, and the sum
for each end is a multiply-add per term (about 25 ns a value).

The series converges for ``|z| < 1``; it is used where ``z <= SERIES_MAX_Z`` at every end of a pair
and it is summed until each end's next terms are below :data:`_RELATIVE_TAIL` of its sum. The pairs
outside (new customers, whose ``T`` is near 0, with a long horizon: ``z`` near 1, thousands of
terms), or whose series has not stopped within :data:`SERIES_MAX_TERMS` terms, get scipy's value.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from scipy import special

#: The largest ``z`` summed as a series; the pairs with a larger ``z`` at some period end take scipy's
#: ``hyp2f1`` (which transforms the argument). Near 1 the series needs about ``40 / (1 - z)`` terms.
SERIES_MAX_Z = 0.95
#: A pair's series that has not stopped after this many terms takes scipy's value.
SERIES_MAX_TERMS = 4000
#: Summing stops when each end's term is at most this share of its sum times ``1 - z``: once the
#: factors of the terms are positive the terms fall about geometrically with ratio ``z``, so the rest of
#: the series is at most about ``term / (1 - z)``, a sixteenth of a double's last digit of the sum.
_RELATIVE_TAIL = 2.0**-56


def if_alive_by_end(
    ends: np.ndarray, x: np.ndarray, age: np.ndarray, r: float, alpha: float, a: float, b: float
) -> np.ndarray:
    """``E_alive(ends[e] | x[i], age[i])`` as an array of shape ``(len(ends), len(x))``: the series
    where it applies (:func:`_series_by_end`), scipy's formula (:func:`if_alive_by_hyp2f1`) elsewhere."""
    ends, x, age = (np.ascontiguousarray(v, dtype=float) for v in (ends, x, age))
    out = np.empty((ends.size, x.size))
    summed = np.ones(x.size, dtype=bool)
    if x.size and ends.size:
        _series_by_end()(ends, x, age, float(r), float(alpha), float(a), float(b), out, summed,
                         SERIES_MAX_Z, SERIES_MAX_TERMS)
    rest = np.flatnonzero(~summed)
    if rest.size:
        out[:, rest] = if_alive_by_hyp2f1(ends[:, None], x[rest][None, :], age[rest][None, :], r, alpha, a, b)
    return out


def if_alive_by_hyp2f1(
    t: np.ndarray, x: np.ndarray, age: np.ndarray, r: float, alpha: float, a: float, b: float
) -> np.ndarray:
    """``E_alive(t | x, age)`` with scipy's ``hyp2f1``, for arrays that broadcast together.

    ``(a+b+x-1)/(a-1) * [1 - (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b-1+x; z)]``, ``z = t / (alpha+age+t)``:
    eq. 10's ``2F1(r+x, b+x; a+b+x-1; z)`` after Euler's transformation, whose series converges faster.
    """
    z = t / (alpha + age + t)
    tail = (1 - z) ** (a - 1) * special.hyp2f1(a + b - 1 - r, a - 1, a + b - 1 + x, z)
    return (a + b + x - 1) / (a - 1) * (1 - tail)


@cache
def _series_by_end():
    """The compiled kernel, compiled (or loaded from numba's cache beside this file) on first use: a
    process that never scores customers by BG/NBD does not import numba (about 130 MB resident)."""
    import numba

    return numba.njit(cache=True, nogil=True)(_sum_series_by_end)


def _sum_series_by_end(ends, x, age, r, alpha, a, b, out, summed, max_z, max_terms):
    """Fill ``out[:, i]`` with the pair's values; ``summed[i] = False`` for a pair left to scipy: one
    whose ``z`` exceeds ``max_z`` at some end, or whose series has not stopped within ``max_terms`` terms.

    Plain loops over scalars, for numba: the body of :func:`if_alive_by_end`.
    """
    m = ends.size
    upper = a + b - 1 - r
    lower = a - 1
    z = np.empty(m)
    term = np.empty(m)
    total = np.empty(m)
    for i in range(x.size):
        c = a + b - 1 + x[i]
        largest = 0.0
        for e in range(m):
            z[e] = ends[e] / (alpha + age[i] + ends[e])
            largest = max(largest, z[e])
            term[e] = 1.0
            total[e] = 1.0
        if not largest <= max_z:  # also a z that is not a number
            summed[i] = False
            continue
        # from this term on every factor of the ratio is positive, and the terms keep their sign
        positive_from = max(0.0, -upper, -lower, -c) + 1.0
        done = False
        k = 0
        while not done and k < max_terms:
            ratio = (upper + k) * (lower + k) / ((c + k) * (k + 1.0))
            for e in range(m):
                term[e] *= ratio * z[e]
                total[e] += term[e]
            k += 1
            if k >= positive_from:
                done = True
                for e in range(m):
                    if abs(term[e]) > _RELATIVE_TAIL * (1.0 - z[e]) * abs(total[e]):
                        done = False
                        break
        if not done:
            summed[i] = False
            continue
        for e in range(m):
            tail = (1.0 - z[e]) ** (a - 1) * total[e]
            out[e, i] = (a + b + x[i] - 1) / (a - 1) * (1.0 - tail)
