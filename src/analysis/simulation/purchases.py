"""Simulated purchase histories: the customer population, the daily purchase process, order values.

One process feeds every synthetic data set of the project (the embedded sample data set,
:mod:`analysis.simulation.sample_data`, and the benchmarks' transactions, ``benchmarks/datagen.py``):

* purchasing follows the BG/NBD model (Fader, Hardie & Lee 2005, "Counting Your Customers the Easy
  Way"), time unit = days: each customer buys at rate ``lambda ~ Gamma(r, rate alpha)`` while
  alive and drops out after repeat purchase ``K ~ Geometric(p)``, ``p ~ Beta(a, b)`` (alive at the
  first purchase, as in the paper); see :func:`purchase_days` for how the process lands on days;
* order values follow the Gamma-Gamma spend model (Colombo & Jiang 1999; Fader, Hardie & Lee 2005,
  "RFM and CLV"): ``nu ~ Gamma(q, rate gamma)`` per customer and each order ``Gamma(p, rate nu)``,
  drawn independently of the purchase process.

Each draw is its own function taking the caller's :class:`numpy.random.Generator`, so a caller
decides the order of its draws (and of any draws of its own in between) and stays reproducible
byte for byte.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "dropout_probabilities",
    "order_amounts",
    "purchase_days",
    "purchase_rates",
    "repeat_purchases_before_dropout",
    "spend_rates",
]


def purchase_rates(rng: np.random.Generator, n: int, r: float, alpha: float) -> np.ndarray:
    """Purchase rate of each of ``n`` customers while alive: ``lambda ~ Gamma(shape r, rate alpha)``."""
    return rng.gamma(r, 1.0 / alpha, n)


def dropout_probabilities(rng: np.random.Generator, n: int, a: float, b: float) -> np.ndarray:
    """Dropout probability after each repeat purchase: ``p ~ Beta(a, b)``, floored at 1e-12.

    The floor keeps :func:`repeat_purchases_before_dropout` defined (a geometric draw needs p > 0).
    """
    return np.clip(rng.beta(a, b, n), 1e-12, 1.0)


def repeat_purchases_before_dropout(rng: np.random.Generator, p: np.ndarray) -> np.ndarray:
    """The repeat purchase after which each customer drops out: ``K ~ Geometric(p)`` on 1, 2, …"""
    return rng.geometric(p)


def spend_rates(rng: np.random.Generator, n: int, q: float, gamma: float) -> np.ndarray:
    """Gamma-Gamma spend rate of each customer: ``nu ~ Gamma(shape q, rate gamma)``.

    The customer's mean order value is ``p / nu`` for the order shape ``p`` of :func:`order_amounts`.
    """
    return rng.gamma(q, 1.0 / gamma, n)


def order_amounts(rng: np.random.Generator, p: float, nu: np.ndarray) -> np.ndarray:
    """One order value per element of ``nu`` (the spend rate of the order's customer).

    ``Gamma(shape p, rate nu)``, rounded to cents and at least 0.01.
    """
    return np.maximum(np.round(rng.gamma(p, 1.0 / nu), 2), 0.01)


def purchase_days(rng: np.random.Generator, first_day: np.ndarray, n_days: int,
                  rate: np.ndarray, dropout_after: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All purchase days (first and repeat) of every customer, sorted by customer, then day.

    Days are whole numbers ``0 .. n_days - 1`` of the window; customer ``i`` first buys on
    ``first_day[i]`` and is observed for ``tau = n_days - first_day[i]`` days (the last day
    included). The Poisson process of rate ``rate[i]`` on ``(0, tau)`` is drawn as a Poisson count
    with uniform order statistics (equivalent to exponential gaps). Draws landing on a day already
    used are skipped (one purchase per customer and day), then the customer keeps the first
    ``dropout_after[i]`` repeat purchases, which is the BG/NBD dropout after each repeat purchase.

    Returns
    -------
    customer, day
        Customer index (position in ``first_day``) and day of every purchase; each customer's first
        purchase is included, so every customer appears at least once.
    """
    first, rate, dropout_after = (np.asarray(v) for v in (first_day, rate, dropout_after))
    n = len(first)
    tau = (n_days - first).astype(float)
    n_events = rng.poisson(rate * tau)
    owner = np.repeat(np.arange(n), n_events)
    t = rng.random(owner.size) * tau[owner]
    day = np.floor(first[owner] + t).astype(np.int64)
    # From here on only a draw's day matters: sort by (customer, day) as one integer key.
    width = n_days + 1
    key = np.sort(owner * width + day)
    owner, day = key // width, key % width
    skip = np.r_[False, key[1:] == key[:-1]] | (day == first[owner])
    owner, day = owner[~skip], day[~skip]
    group_start = np.searchsorted(owner, np.arange(n))
    rank = np.arange(owner.size) - group_start[owner]
    keep = rank < dropout_after[owner]
    # each customer's first day precedes its repeat days, so a stable sort by customer orders all
    owner = np.concatenate([np.arange(n), owner[keep]])
    day = np.concatenate([first, day[keep]])
    order = np.argsort(owner, kind="stable")
    return owner[order], day[order]
