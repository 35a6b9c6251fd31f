"""Simulators of the BG/NBD, Pareto/NBD and Gamma-Gamma processes, for parameter-recovery tests and checks.

They draw the models' summary statistics (``frequency``, ``recency``, ``T``, mean spend) directly,
not dated transaction histories; for those see :mod:`analysis.simulation.purchases`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.methods.clv.inputs import ArrayLike, _as_float_array


def simulate_bgnbd(
    n: int,
    r: float,
    alpha: float,
    a: float,
    b: float,
    T: ArrayLike,
    seed: int,
    *,
    holdout: float | None = None,
) -> pd.DataFrame:
    """Simulate ``n`` customers from the BG/NBD process.

    ``lambda ~ Gamma(r, rate alpha)``, ``p ~ Beta(a, b)``; the customer dies right after repeat
    purchase ``K ~ Geometric(p)``. With ``N ~ Poisson(lambda T)`` purchases of the underlying Poisson
    process in ``(0, T]``, ``frequency = min(N, K)`` and, given ``N``, the arrival times are uniform
    order statistics, so ``recency = T * Beta(x, N - x + 1)``. By memorylessness, a customer alive at
    ``T`` (``K > N``) makes ``min(Poisson(lambda * holdout), K - N)`` purchases in a holdout period.

    Parameters
    ----------
    n
        Number of customers.
    r, alpha, a, b
        BG/NBD parameters (``alpha`` in the time unit of ``T``).
    T
        Age at the end of calibration, a scalar or ``n`` values.
    seed
        Seed of :func:`numpy.random.default_rng`.
    holdout
        If given, also simulate ``frequency_holdout``, purchases in ``(T, T + holdout]``.

    Returns
    -------
    pandas.DataFrame
        Columns ``frequency``, ``recency``, ``T`` (and ``frequency_holdout``), plus the latent
        ``lambda_``, ``p_`` and ``alive`` (alive at ``T``).
    """
    rng = np.random.default_rng(seed)
    age = np.broadcast_to(np.asarray(T, dtype=float), (n,)).copy()
    rate = rng.gamma(r, 1.0 / alpha, size=n)
    dropout = np.clip(rng.beta(a, b, size=n), 1e-12, 1.0)  # Geometric needs p > 0
    lives = rng.geometric(dropout)
    arrivals = rng.poisson(rate * age)
    x = np.minimum(arrivals, lives)
    order = rng.beta(np.maximum(x, 1), np.maximum(arrivals - x + 1, 1))
    recency = np.where(x > 0, age * order, 0.0)
    alive = lives > arrivals
    frame = pd.DataFrame(
        {
            "frequency": x.astype(np.int64),
            "recency": recency,
            "T": age,
            "lambda_": rate,
            "p_": dropout,
            "alive": alive,
        }
    )
    if holdout is not None:
        later = rng.poisson(rate * holdout)
        frame["frequency_holdout"] = np.where(alive, np.minimum(later, lives - arrivals), 0).astype(
            np.int64
        )
    return frame


def simulate_pareto_nbd(
    n: int,
    r: float,
    alpha: float,
    s: float,
    beta: float,
    T: ArrayLike,
    seed: int,
    *,
    holdout: float | None = None,
) -> pd.DataFrame:
    """Simulate ``n`` customers from the Pareto/NBD process (Schmittlein, Morrison & Colombo 1987).

    ``lambda ~ Gamma(r, rate alpha)``, ``mu ~ Gamma(s, rate beta)``; the customer's lifetime is
    ``tau ~ Exponential(mu)`` from the first purchase. While alive the customer buys as a Poisson
    process with rate ``lambda``, so ``frequency ~ Poisson(lambda * min(tau, T))`` and, given
    ``x > 0`` purchases, the last one is the largest of ``x`` uniform times on ``(0, min(tau, T))``:
    ``recency = min(tau, T) * Beta(x, 1)``. A customer alive at ``T`` (``tau > T``) lives a further
    ``Exponential(mu)`` time (memorylessness) and makes ``Poisson(lambda * min(that, holdout))``
    purchases in a holdout period.

    Parameters
    ----------
    n
        Number of customers.
    r, alpha, s, beta
        Pareto/NBD parameters (``alpha`` and ``beta`` in the time unit of ``T``).
    T
        Age at the end of calibration, a scalar or ``n`` values.
    seed
        Seed of :func:`numpy.random.default_rng`.
    holdout
        If given, also simulate ``frequency_holdout``, purchases in ``(T, T + holdout]``.

    Returns
    -------
    pandas.DataFrame
        Columns ``frequency``, ``recency``, ``T`` (and ``frequency_holdout``), plus the latent
        ``lambda_``, ``mu_`` and ``alive`` (alive at ``T``).
    """
    rng = np.random.default_rng(seed)
    age = np.broadcast_to(np.asarray(T, dtype=float), (n,)).copy()
    rate = rng.gamma(r, 1.0 / alpha, size=n)
    dropout = rng.gamma(s, 1.0 / beta, size=n)
    lifetime = rng.exponential(1.0, size=n) / np.maximum(dropout, 1e-300)
    active = np.minimum(lifetime, age)
    x = rng.poisson(rate * active)
    recency = np.where(x > 0, active * rng.beta(np.maximum(x, 1), 1.0), 0.0)
    alive = lifetime > age
    frame = pd.DataFrame(
        {
            "frequency": x.astype(np.int64),
            "recency": recency,
            "T": age,
            "lambda_": rate,
            "mu_": dropout,
            "alive": alive,
        }
    )
    if holdout is not None:
        remaining = rng.exponential(1.0, size=n) / np.maximum(dropout, 1e-300)
        later = rng.poisson(rate * np.minimum(remaining, holdout))
        frame["frequency_holdout"] = np.where(alive, later, 0).astype(np.int64)
    return frame


def simulate_gamma_gamma(
    frequency: ArrayLike, p: float, q: float, gamma: float, seed: int
) -> np.ndarray:
    """Simulate the mean value of each customer's repeat purchases under the Gamma-Gamma model.

    ``nu ~ Gamma(q, rate gamma)``; the sum of ``x`` transactions ``Gamma(p, rate nu)`` is
    ``Gamma(p x, rate nu)``, so the mean is that sum divided by ``x``. Returns 0 where ``x = 0``.
    """
    rng = np.random.default_rng(seed)
    x = _as_float_array(frequency, "frequency")
    nu = rng.gamma(q, 1.0 / gamma, size=x.size)
    total = rng.gamma(np.maximum(p * x, 1e-300), 1.0 / nu)
    return np.where(x > 0, total / np.maximum(x, 1), 0.0)
