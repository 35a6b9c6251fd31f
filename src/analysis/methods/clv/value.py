"""Discounted customer lifetime value from a fitted purchase model (BG/NBD or Pareto/NBD) and Gamma-Gamma."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from analysis.methods.clv.bgnbd import BetaGeoModel
from analysis.methods.clv.fitting import _distinct_rows
from analysis.methods.clv.gamma_gamma import GammaGammaModel
from analysis.methods.clv.inputs import (
    ArrayLike,
    CLVInputError,
    _as_float_array,
    _require,
    _validate_rfm,
)
from analysis.methods.clv.pareto_nbd import ParetoNBDModel
from analysis.methods.clv.units import DAYS_PER_MONTH, DAYS_PER_YEAR

PurchaseModel = BetaGeoModel | ParetoNBDModel  # anything with conditional_expected_purchases(t, x, t_x, T)


def period_discount_rate(
    annual_discount_rate: float, period_length: float, time_units_per_year: float
) -> float:
    """Compound-equivalent discount rate of one period: ``(1 + d_year)^(period_length / units_per_year) - 1``."""
    if not (annual_discount_rate > -1 and period_length > 0 and time_units_per_year > 0):
        raise CLVInputError(
            "Need annual_discount_rate > -1, period_length > 0 and time_units_per_year > 0, got "
            f"{annual_discount_rate}, {period_length}, {time_units_per_year}."
        )
    return (1.0 + annual_discount_rate) ** (period_length / time_units_per_year) - 1.0


def customer_lifetime_value(
    bgnbd: PurchaseModel,
    gamma_gamma: GammaGammaModel,
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    monetary_value: ArrayLike,
    *,
    horizon_periods: int = 12,
    period_length: float = DAYS_PER_MONTH,
    annual_discount_rate: float = 0.10,
    margin: float | ArrayLike = 1.0,
    time_units_per_year: float = DAYS_PER_YEAR,
) -> np.ndarray:
    """Discounted expected value of each customer's purchases over the horizon.

    As lifetimes' ``customer_lifetime_value`` (FHL 2005 iso-value paper), per customer:

    ``CLV = sum_{i=1..n} (E[Y(i L) | x, t_x, T] - E[Y((i-1) L) | x, t_x, T]) * E[M | x, m] * margin
    / (1 + d)^i``

    with ``L = period_length`` and ``d = (1 + annual_discount_rate)^(L / time_units_per_year) - 1``:
    purchases expected in period ``i`` are discounted from the end of that period.

    Parameters
    ----------
    bgnbd, gamma_gamma
        Fitted purchase model (:class:`BetaGeoModel`, or :class:`ParetoNBDModel`, whose
        predictions have the same signature) and spend model, on the same customers and time unit.
    frequency, recency, T, monetary_value
        The customers' summary columns.
    horizon_periods
        Number of periods ``n`` (e.g. 12 months).
    period_length
        Length of a period in the model's time unit: a month is 30 days, or 30/7 weeks
        (:func:`analysis.methods.clv.units.month_in_units`).
    annual_discount_rate
        Yearly discount rate, converted to a per-period rate by compounding.
    margin
        Profit margin applied to spend, a scalar or one value per customer (1 = revenue).
    time_units_per_year
        365 when the time unit is days, 365/7 for weeks (:func:`analysis.methods.clv.units.year_in_units`).

    Returns
    -------
    numpy.ndarray
        CLV per customer, in the currency of ``monetary_value``.
    """
    margin_arr = _as_float_array(margin, "margin")
    _require(~np.isfinite(margin_arr) | (margin_arr < 0), "`margin` must be finite and >= 0")
    spend = gamma_gamma.conditional_expected_average_profit(frequency, monetary_value)
    value = discounted_expected_purchases(
        bgnbd, frequency, recency, T, horizon_periods=horizon_periods, period_length=period_length,
        annual_discount_rate=annual_discount_rate, time_units_per_year=time_units_per_year,
    )
    return value * spend * margin_arr


def discounted_expected_purchases(
    bgnbd: PurchaseModel,
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    *,
    horizon_periods: int = 12,
    period_length: float = DAYS_PER_MONTH,
    annual_discount_rate: float = 0.10,
    time_units_per_year: float = DAYS_PER_YEAR,
) -> np.ndarray:
    """Purchases expected in each period of the horizon, discounted: the CLV before spend and margin.

    ``sum_{i=1..n} (E[Y(i L) | x, t_x, T] - E[Y((i-1) L) | x, t_x, T]) / (1 + d)^i`` with the
    notation of :func:`customer_lifetime_value`, so that CLV = this × expected spend × margin.
    Both models' ``E[Y(t) | x, t_x, T]`` is P(alive) times the purchases of a customer alive at
    ``T``, which depend on ``(x, T)`` only: those are evaluated once per distinct ``(x, T)`` and
    period end, P(alive) once per customer.
    """
    schedule = _Schedule.of(horizon_periods, period_length, annual_discount_rate, time_units_per_year)
    x, t_x, age = _validate_rfm(frequency, recency, T)
    pairs, pair_of_customer = _distinct_rows([x.ravel(), age.ravel()])
    if_alive = bgnbd._expected_purchases_if_alive_by_end(schedule.ends, pairs[:, 0], pairs[:, 1])
    discounted = _discounted_sum(schedule.discount, np.diff(if_alive, axis=0, prepend=0.0))
    value = discounted[pair_of_customer].reshape(x.shape) * special.expit(-bgnbd._log_odds_dead(x, t_x, age))
    return np.asarray(value, dtype=float)


@dataclass(frozen=True)
class _Schedule:
    """Period ends of the CLV horizon (the last is the horizon) and their discount factors."""

    ends: np.ndarray  # i * period_length, i = 1..n
    discount: np.ndarray  # 1 / (1 + d)^i

    @classmethod
    def of(
        cls,
        horizon_periods: int,
        period_length: float,
        annual_discount_rate: float,
        time_units_per_year: float,
    ) -> _Schedule:
        if int(horizon_periods) != horizon_periods or horizon_periods < 1:
            raise CLVInputError(
                f"`horizon_periods` must be a whole number >= 1, got {horizon_periods}."
            )
        d = period_discount_rate(annual_discount_rate, period_length, time_units_per_year)
        periods = np.arange(1, int(horizon_periods) + 1)
        return cls(periods * float(period_length), (1.0 + d) ** -periods.astype(float))


def _discounted_sum(discount: np.ndarray, increments: np.ndarray) -> np.ndarray:
    """``discount @ increments``, period by period: each pair's sum is then the same to the bit
    whichever other pairs share its chunk (a matrix product may add in another order by column
    position), so stage 3 can reuse stage 2's :class:`~analysis.methods.clv.intervals.PairTerms`."""
    total = discount[0] * increments[0]
    for factor, row in zip(discount[1:], increments[1:], strict=True):
        total += factor * row
    return total
