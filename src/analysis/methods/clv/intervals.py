"""How sure the CLV predictions are: parameter draws, per-customer and per-group intervals, tier membership.

A fitted purchase model (BG/NBD or Pareto/NBD) and Gamma-Gamma model give one P(alive), one
expected number of purchases and one CLV per customer. Their parameters are estimates, so each
prediction has a sampling error; this module turns the fits' covariance into

- draws of the parameters (:func:`draw_parameters`) and their marginal intervals
  (:func:`parameter_intervals`);
- per-customer quantile intervals of P(alive), expected purchases over the horizon and CLV
  (:func:`customer_intervals`);
- per-group intervals of the group's total predicted value and its share of the whole
  (:func:`group_value_intervals`): "tier 1 holds 62-71 % of predicted value";
- each customer's probability of belonging to each tier when the tiers are placed again under every
  draw (:func:`tier_membership`, with :func:`tier_assigner` for the rules of
  :func:`analysis.methods.tiers.assign_tiers`), and a ``borderline`` flag below a threshold.

:func:`clv_intervals` and :func:`tier_intervals` package these for stages 2 and 3; stage 2 keeps the
draws (:meth:`ParameterDraws.frame`) so that stage 3 places the tiers under the same draws
(:meth:`ParameterDraws.from_frame`), and with them their :class:`PairTerms`, so that stage 3 does not
evaluate the costly part of each draw again.

Why parametric draws and not a bootstrap
----------------------------------------
A full bootstrap refits both models on each of B resamples of the customers: B fits of a model of
a million customers. The asymptotic draw costs one Cholesky factor and B evaluations of the
predictions. The maximum-likelihood estimate is asymptotically normal, ``log(theta_hat) ~
N(log(theta), I^-1)`` with ``I`` the observed information in log-parameters, which each fit
stores (``log_covariance_``, :func:`analysis.methods.clv.fitting._store_fit`); drawing
``log(theta) ~ N(log(theta_hat), I^-1)`` and pushing every draw through the predictions is the
delta method without its linearisation of the prediction (e.g. Krinsky & Robb 1986, "On
approximating the statistical properties of elasticities", Review of Economics and Statistics
68(4), 715-719). The log scale keeps every draw positive and is where the likelihood is closest to
quadratic.

The draws are accurate when the information matrix is well estimated and the likelihood near
quadratic around the optimum: many customers, and among them enough repeat buyers for the dropout
parameters. ``tests/test_clv_intervals.py`` checks it: over 40 simulated data sets of 2,000
customers the 90 % intervals hold the true parameters about 90 % of the time. With few customers,
a fit near a bound (``converged_`` false) or a non-positive-definite Hessian the draws are not
trustworthy; the last raises :class:`~analysis.methods.clv.inputs.CLVInputError`.

The intervals reflect parameter uncertainty only: they say how well the model's expected values
are known, not how much a customer's actual purchases will vary around them, and not whether the
model is the right one (the holdout check, :func:`holdout_comparison`, speaks to that).

Memory and speed
----------------
Customers are reduced once to their distinct histories ``(x, t_x, T)`` and distinct ``(x, T)``
pairs. P(alive) is put together per history from its terms of one age (a logarithm; for Pareto/NBD a
hypergeometric tail), evaluated once per distinct ``(x, T)`` or ``(x, t_x)``; the expected purchases
of a customer alive at ``T`` (the hypergeometric terms, the costly part) depend on ``(x, T)`` only
and are evaluated once per pair and period end; spend and margin per customer. Per-customer
intervals need every draw of a customer, so they run over chunks (sorted by history, so a chunk's
histories and pairs are contiguous), one per core at a time, ``chunk_size`` customers on all cores
together, each chunk holding a ``draws x chunk`` matrix, never ``draws x customers``. Group totals
and tier membership need every customer under one draw, so they run draw by draw, keeping only
per-draw group totals and per-customer tier counts. The discounted expected purchases per pair and
draw (:class:`PairTerms`, ``draws x pairs`` floats) are about three quarters of a draw's work;
stage 2 keeps them from its chunks for stage 3's pass.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from analysis.methods.clv.fitting import _check_fitted, _distinct_rows, with_estimates
from analysis.methods.clv.gamma_gamma import GammaGammaModel, _validate_spend
from analysis.methods.clv.inputs import (
    ArrayLike,
    CLVInputError,
    _as_float_array,
    _require,
    _validate_rfm,
)
from analysis.methods.clv.units import DAYS_PER_MONTH, DAYS_PER_YEAR
from analysis.methods.clv.value import PurchaseModel, _discounted_sum, _Schedule
from analysis.methods.cores import in_threads, usable_cores

DEFAULT_DRAWS = 200
DEFAULT_LEVEL = 0.9
DEFAULT_CHUNK_SIZE = 40_000  # customers at once, over all cores: on two, 20,000 each (a 200 x 20,000 matrix is 32 MB)
DEFAULT_BORDERLINE = 0.8  # a customer whose assigned tier holds in fewer draws is borderline

#: Columns of :func:`customer_intervals` and :func:`clv_intervals`.
CUSTOMER_INTERVAL_COLUMNS = (
    "p_alive_low",
    "p_alive_high",
    "expected_purchases_low",
    "expected_purchases_high",
    "clv_low",
    "clv_high",
)

TierAssign = Callable[[np.ndarray], np.ndarray]


# ------------------------------------------------------------------------------------ draws
@dataclass(frozen=True)
class ParameterDraws:
    """Draws of both models' parameters from their asymptotic sampling distribution.

    Attributes
    ----------
    purchase_model, spend_model
        The fitted models the draws come from (their estimates are the point predictions).
    purchase, spend
        ``(draws, k)`` arrays of parameters in the models' ``parameter_names`` order.
    seed
        Seed of :func:`numpy.random.default_rng` that made them.
    pair_terms
        The draws' :class:`PairTerms` for one set of customers and horizon, when they were kept
        (:func:`clv_intervals` makes them); a draw-by-draw pass over those customers reuses them.
    """

    purchase_model: PurchaseModel
    spend_model: GammaGammaModel
    purchase: np.ndarray
    spend: np.ndarray
    seed: int
    pair_terms: PairTerms | None = None

    @property
    def n_draws(self) -> int:
        return int(self.purchase.shape[0])

    def models(self, draw: int) -> tuple[PurchaseModel, GammaGammaModel]:
        """Copies of the two models with the parameters of one draw (their predictions use them)."""
        return (
            _with_params(self.purchase_model, self.purchase[draw]),
            _with_params(self.spend_model, self.spend[draw]),
        )

    def frame(self) -> pd.DataFrame:
        """All draws, one row each, one column per parameter of either model."""
        names = [*self.purchase_model.parameter_names, *self.spend_model.parameter_names]
        return pd.DataFrame(np.hstack([self.purchase, self.spend]), columns=names)

    @classmethod
    def from_frame(
        cls, frame: pd.DataFrame, purchase_model: PurchaseModel, spend_model: GammaGammaModel, seed: int = 0
    ) -> ParameterDraws:
        """The draws :meth:`frame` wrote, around the models they were drawn for (fitted, or holding their
        estimates: :func:`~analysis.methods.clv.fitting.with_estimates`)."""
        columns = {}
        for model in (purchase_model, spend_model):
            _check_fitted(model)
            missing = [name for name in model.parameter_names if name not in frame.columns]
            if missing:
                raise CLVInputError(
                    f"The parameter draws lack the {type(model).__name__} parameter(s) {missing}; they were "
                    "drawn for another model. Rerun the scoring stage."
                )
            columns[model] = frame[list(model.parameter_names)].to_numpy(dtype=float)
        if len(frame) < 2:
            raise CLVInputError(f"There are {len(frame)} parameter draw(s); intervals need at least 2.")
        return cls(purchase_model, spend_model, columns[purchase_model], columns[spend_model], int(seed))


def draw_parameters(
    purchase_model: PurchaseModel,
    spend_model: GammaGammaModel,
    *,
    draws: int = DEFAULT_DRAWS,
    seed: int = 0,
) -> ParameterDraws:
    """Draw both models' parameters: ``log(theta) ~ N(log(theta_hat), inverse observed information)``.

    The two models are fitted on separate likelihoods, so their draws are independent. See the
    module docstring for why this and not a bootstrap, and when it is accurate.

    Raises
    ------
    CLVInputError
        When a fit has no positive definite information matrix (its covariance is NaN), or
        ``draws < 2``.
    """
    if int(draws) != draws or draws < 2:
        raise CLVInputError(f"`draws` must be a whole number >= 2, got {draws}.")
    rng = np.random.default_rng(seed)
    purchase = _draw_log_normal(purchase_model, int(draws), rng)
    spend = _draw_log_normal(spend_model, int(draws), rng)
    return ParameterDraws(purchase_model, spend_model, purchase, spend, int(seed))


def _draw_log_normal(model: Any, draws: int, rng: np.random.Generator) -> np.ndarray:
    _check_fitted(model)
    covariance = getattr(model, "log_covariance_", None)
    name = type(model).__name__
    if covariance is None or not np.all(np.isfinite(covariance)):
        raise CLVInputError(
            f"The {name} fit has no usable covariance (its Hessian is not positive definite: "
            f"{getattr(model, 'message_', '')}), so its parameters cannot be drawn; the data do not "
            "identify the model well enough for intervals. Refit on more customers or a longer period."
        )
    center = np.log([model.params_[k] for k in model.parameter_names])
    factor = np.linalg.cholesky(covariance)
    normal = rng.standard_normal((draws, center.size))
    return np.exp(center + normal @ factor.T)


def _with_params(model: Any, theta: np.ndarray) -> Any:
    return with_estimates(copy.copy(model), dict(zip(model.parameter_names, theta, strict=True)))


@dataclass(frozen=True)
class PairTerms:
    """Per draw and distinct ``(x, T)`` pair, the discounted expected purchases over the horizon of a
    customer alive at ``T``: the hypergeometric part of a draw's CLV, which depends on nothing else.

    :func:`clv_intervals` keeps them, stage 2 writes them (:meth:`frame`), and stage 3's draw-by-draw
    tier placement reads them instead of evaluating them again, for the same customers (``pairs``) and
    horizon (``ends``, ``discount``) only.
    """

    pairs: np.ndarray  # (Q, 2): x, T, sorted
    discounted: np.ndarray  # (draws, Q)
    ends: np.ndarray  # the horizon's period ends
    discount: np.ndarray  # and their discount factors

    def frame(self) -> pd.DataFrame:
        """One row per pair: ``frequency``, ``T``, then ``draw_1`` … one column per draw."""
        names = [f"draw_{d + 1}" for d in range(self.discounted.shape[0])]
        values = pd.DataFrame(self.discounted.T, columns=names)
        return pd.concat([pd.DataFrame({"frequency": self.pairs[:, 0], "T": self.pairs[:, 1]}), values], axis=1)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, ends: np.ndarray, discount: np.ndarray) -> PairTerms:
        """The terms :meth:`frame` wrote, for the horizon they were made for."""
        pairs = frame[["frequency", "T"]].to_numpy(dtype=float)
        discounted = frame.drop(columns=["frequency", "T"]).to_numpy(dtype=float).T
        return cls(pairs, np.ascontiguousarray(discounted), np.asarray(ends, float), np.asarray(discount, float))

    def matching(self, data: _Histories, n_draws: int) -> np.ndarray | None:
        """The ``(draws, Q)`` terms when they were made for exactly ``data``'s pairs, horizon and ``n_draws``."""
        schedule = data.schedule
        same = (self.discounted.shape[0] == n_draws and np.array_equal(self.pairs, data.pairs)
                and np.array_equal(self.ends, schedule.ends) and np.array_equal(self.discount, schedule.discount))
        return self.discounted if same else None


def parameter_intervals(draws: ParameterDraws, *, level: float = DEFAULT_LEVEL) -> pd.DataFrame:
    """Estimate and marginal ``level`` quantile interval of every parameter, from the draws.

    Returns
    -------
    pandas.DataFrame
        One row per parameter (``model``: ``purchase`` or ``spend``; ``parameter``, ``estimate``,
        ``low``, ``high``).
    """
    low, high = _quantile_levels(level)
    rows = []
    for kind, model, values in (
        ("purchase", draws.purchase_model, draws.purchase),
        ("spend", draws.spend_model, draws.spend),
    ):
        bounds = np.quantile(values, [low, high], axis=0)
        for j, name in enumerate(model.parameter_names):
            rows.append((kind, name, model.params_[name], bounds[0, j], bounds[1, j]))
    return pd.DataFrame(rows, columns=["model", "parameter", "estimate", "low", "high"])


def _quantile_levels(level: float) -> tuple[float, float]:
    if not 0 < level < 1:
        raise CLVInputError(f"`level` must be between 0 and 1 (e.g. 0.9 for 90 %), got {level}.")
    return (1 - level) / 2, (1 + level) / 2


# ------------------------------------------------------------------ customers and schedule
@dataclass(frozen=True)
class _Histories:
    """Customers reduced for repeated evaluation: distinct histories and ``(x, T)`` pairs.

    The histories are the distinct ``(x, T, t_x)`` rows, sorted, so the histories of one ``(x, T)``
    pair are contiguous and ``pair_of_history`` is non-decreasing; ``order`` sorts the customers by
    history, so a run of customers in that order covers a contiguous range of both. A history is
    kept as its two pairs (``ages``), not as its values.
    """

    n_histories: int
    pairs: np.ndarray  # (Q, 2): x, T
    pair_of_history: np.ndarray  # (H,)
    ages: _AgePairs  # the distinct (x, T) and (x, t_x) of the histories, for P(alive)
    history_of_customer: np.ndarray  # (n,)
    order: np.ndarray  # (n,) customers sorted by history
    spend_frequency: np.ndarray  # (n,)
    monetary_value: np.ndarray  # (n,)
    margin: np.ndarray  # (n,)
    schedule: _Schedule

    @property
    def n_customers(self) -> int:
        return int(self.history_of_customer.size)

    @classmethod
    def of(
        cls,
        frequency: ArrayLike,
        recency: ArrayLike,
        T: ArrayLike,
        monetary_value: ArrayLike,
        margin: float | ArrayLike,
        schedule: _Schedule,
        spend_frequency: ArrayLike | None = None,
    ) -> _Histories:
        x, t_x, age = _validate_rfm(frequency, recency, T)
        spend_x, m = _validate_spend(frequency if spend_frequency is None else spend_frequency, monetary_value)
        if spend_x.size != x.size:
            raise CLVInputError(
                f"`monetary_value` has {spend_x.size} values for {x.size} customers; pass one per customer."
            )
        margin_arr = _as_float_array(margin, "margin")
        _require(~np.isfinite(margin_arr) | (margin_arr < 0), "`margin` must be finite and >= 0")
        if margin_arr.size not in (1, x.size):
            raise CLVInputError(
                f"`margin` has {margin_arr.size} values for {x.size} customers; pass one or one per customer."
            )
        histories, history_of_customer = _distinct_rows([x, age, t_x])
        pairs, pair_of_history = _distinct_rows([histories[:, 0], histories[:, 1]])
        return cls(
            n_histories=len(histories),
            pairs=pairs,
            pair_of_history=pair_of_history,
            ages=_AgePairs.of(histories),
            history_of_customer=history_of_customer,
            order=np.argsort(history_of_customer, kind="stable"),
            spend_frequency=np.asarray(spend_x, dtype=float),
            monetary_value=np.where(spend_x > 0, m, 0.0),
            margin=np.broadcast_to(margin_arr, x.shape).astype(float),
            schedule=schedule,
        )

    def chunks(self, chunk_size: int, shared_by: int = 1) -> Iterator[_Chunk]:
        """Runs of customers in history order, with their history and pair ranges: ``chunk_size``
        customers shared by ``shared_by`` threads evaluating a run each at once, so runs of at most
        ``ceil(chunk_size / shared_by)``."""
        if int(chunk_size) != chunk_size or chunk_size < 1:
            raise CLVInputError(f"`chunk_size` must be a whole number >= 1, got {chunk_size}.")
        size = -(-int(chunk_size) // shared_by)
        for start in range(0, self.n_customers, size):
            rows = self.order[start : start + size]
            history = self.history_of_customer[rows]
            yield self._chunk(rows, history, int(history[0]), int(history[-1]) + 1)

    def everyone(self) -> _Chunk:
        """All customers as one chunk (input order), for the draw-by-draw passes."""
        return self._chunk(slice(None), self.history_of_customer, 0, self.n_histories)

    def _chunk(self, rows: np.ndarray | slice, history: np.ndarray, first: int, stop: int) -> _Chunk:
        pairs = slice(int(self.pair_of_history[first]), int(self.pair_of_history[stop - 1]) + 1)
        age_pairs, of_age, of_recency = self.ages.of_histories(slice(first, stop))
        return _Chunk(
            rows=rows,
            histories=slice(first, stop),
            pairs=pairs,
            local_history=history - first,
            local_pair=self.pair_of_history[first:stop] - pairs.start,
            age_pairs=age_pairs,
            local_of_age=of_age,
            local_of_recency=of_recency,
            spend_frequency=self.spend_frequency[rows],
            monetary_value=self.monetary_value[rows],
            margin=self.margin[rows],
        )


@dataclass(frozen=True)
class _AgePairs:
    """The distinct pairs ``(x, age)`` among the histories' ``(x, T)`` and ``(x, t_x)``, sorted: P(alive)'s
    terms of one age (a logarithm; Pareto/NBD's hypergeometric tail) are evaluated once per pair."""

    x: np.ndarray  # (P,)
    age: np.ndarray  # (P,)
    of_age: np.ndarray  # (H,) each history's pair (x, T)
    of_recency: np.ndarray  # (H,) each history's pair (x, t_x)

    @classmethod
    def of(cls, histories: np.ndarray) -> _AgePairs:
        x, age, t_x = histories.T
        pairs, pair = _distinct_rows([np.concatenate([x, x]), np.concatenate([age, t_x])])
        pair = pair.astype(np.int32 if len(pairs) < 2**31 else np.int64)  # kept per history: half the memory
        return cls(pairs[:, 0], pairs[:, 1], pair[: x.size], pair[x.size :])

    def of_histories(self, histories: slice) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The pairs the histories use, and each history's two pairs among them."""
        of_age, of_recency = self.of_age[histories], self.of_recency[histories]
        used, among = np.unique(np.concatenate([of_age, of_recency]), return_inverse=True)
        return used, among[: of_age.size], among[of_age.size :]


@dataclass(frozen=True)
class _Chunk:
    """Customers evaluated together, and the ranges of histories and ``(x, T)`` pairs they use."""

    rows: np.ndarray | slice  # customer positions (a slice: all, in input order, without copies)
    histories: slice  # range of histories the rows use
    pairs: slice  # range of (x, T) pairs those histories use
    local_history: np.ndarray  # each row's history, counted from histories.start
    local_pair: np.ndarray  # each history's pair, counted from pairs.start
    age_pairs: np.ndarray  # the (x, age) pairs (_AgePairs) those histories use
    local_of_age: np.ndarray  # each history's (x, T) and (x, t_x) among them
    local_of_recency: np.ndarray
    # the rows' spend inputs and margin, gathered once: every draw reads them
    spend_frequency: np.ndarray
    monetary_value: np.ndarray
    margin: np.ndarray


@dataclass(frozen=True)
class _Predictions:
    """One draw's predictions for a chunk: per history, and CLV per customer."""

    p_alive: np.ndarray  # per history in the chunk's range
    expected_purchases: np.ndarray | None  # per history, over the whole horizon (None from given terms)
    clv: np.ndarray  # per customer row of the chunk
    discounted: np.ndarray  # per pair in the chunk's range: the draw's PairTerms


def _predict(
    purchase: PurchaseModel, spend: GammaGammaModel, data: _Histories, chunk: _Chunk,
    discounted: np.ndarray | None = None,
) -> _Predictions:
    """P(alive), expected purchases and CLV under one set of parameters, for one chunk.

    ``CLV = P(alive) * sum_i discount_i * (E_alive(i L) - E_alive((i-1) L)) * E[M] * margin``, the
    sum of :func:`~analysis.methods.clv.value.customer_lifetime_value` with P(alive) factored out
    of each period's expected purchases (``E[Y(t)] = P(alive) * E_alive(t)``). ``discounted``, the
    sum per pair of the chunk (:class:`PairTerms`), when known: then only the CLV is computed.
    """
    schedule = data.schedule
    with np.errstate(all="ignore"):
        # the models' prediction formulas on inputs checked once (_Histories.of), not per draw
        ages = data.ages
        alive = _alive(purchase._log_odds_dead_of_pairs(
            ages.x[chunk.age_pairs], ages.age[chunk.age_pairs], chunk.local_of_age, chunk.local_of_recency
        ))
        purchases = None
        pair = chunk.local_pair
        if discounted is None:
            pair_x, pair_age = data.pairs[chunk.pairs].T
            if_alive = purchase._expected_purchases_if_alive_by_end(schedule.ends, pair_x, pair_age)
            discounted = _discounted_sum(schedule.discount, np.diff(if_alive, axis=0, prepend=0.0))
            purchases = alive * if_alive[-1][pair]
        expected_spend = spend._expected_spend(chunk.spend_frequency, chunk.monetary_value)
        clv = (alive * discounted[pair])[chunk.local_history] * expected_spend * chunk.margin
    return _Predictions(alive, purchases, clv, discounted)


def _alive(log_odds_dead: np.ndarray) -> np.ndarray:
    """P(alive) = ``1 / (1 + exp(log odds of having dropped out))`` (``scipy.special.expit`` of their
    negation), in place: numpy's vectorised exponential takes a third of expit's time, and every draw
    evaluates it for every history."""
    alive = np.exp(log_odds_dead, out=log_odds_dead)
    alive += 1.0
    return np.reciprocal(alive, out=alive)


def _check_spend_draws(draws: ParameterDraws, data: _Histories) -> None:
    """Customers without repeat purchases get the population mean spend, infinite when ``q <= 1``."""
    q = draws.spend[:, list(draws.spend_model.parameter_names).index("q")]
    if np.any(q <= 1) and np.any(data.spend_frequency == 0):
        raise CLVInputError(
            f"In {int((q <= 1).sum())} of {q.size} draws the Gamma-Gamma q is <= 1, where the population "
            f"mean spend (that of customers without repeat purchases) is infinite: q = "
            f"{draws.spend_model.params_['q']:.3f} is within sampling error of 1. The spend data are too "
            "heavy-tailed for the Gamma-Gamma model: cap outliers in the cleaning stage and refit."
        )


# --------------------------------------------------------------------- per-customer intervals
def customer_intervals(
    draws: ParameterDraws,
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
    spend_frequency: ArrayLike | None = None,
    level: float = DEFAULT_LEVEL,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> pd.DataFrame:
    """Per customer, the ``level`` quantile interval over the draws of P(alive), purchases and CLV.

    Parameters
    ----------
    draws
        From :func:`draw_parameters`.
    frequency, recency, T, monetary_value, horizon_periods, period_length, annual_discount_rate, margin, time_units_per_year
        As in :func:`~analysis.methods.clv.value.customer_lifetime_value`; the expected purchases
        are those over the whole horizon, ``horizon_periods * period_length``.
    spend_frequency
        Repeat purchases for the spend model when they differ from ``frequency`` (stage 2 counts a
        repeat buyer without positive mean spend as 0 there); ``frequency`` by default.
    level
        Coverage of the central interval (0.9: the 5 % and 95 % quantiles of the draws).
    chunk_size
        Customers evaluated at once, shared by the usable cores (a chunk each): memory is about
        ``3 * draws * chunk_size`` floats, whatever the cores. The result does not depend on it.

    Returns
    -------
    pandas.DataFrame
        :data:`CUSTOMER_INTERVAL_COLUMNS`, one row per customer in input order (index 0..n-1).
    """
    schedule = _Schedule.of(horizon_periods, period_length, annual_discount_rate, time_units_per_year)
    data = _Histories.of(frequency, recency, T, monetary_value, margin, schedule, spend_frequency)
    return _customer_bounds(draws, data, level, chunk_size, keep_terms=False)[0]


def _customer_bounds(
    draws: ParameterDraws, data: _Histories, level: float, chunk_size: int, *, keep_terms: bool
) -> tuple[pd.DataFrame, PairTerms | None]:
    """:func:`customer_intervals` of ``data``, and with ``keep_terms`` the draws' :class:`PairTerms`,
    found on the way (``draws x pairs`` floats)."""
    return _CustomerBounds(draws, data, level, chunk_size, keep_terms=keep_terms).finish()


class _CustomerBounds:
    """:func:`_customer_bounds` made a chunk at a time: :meth:`step` makes the next chunk on the calling
    thread (work for a thread that would wait for another's), :meth:`finish` the others on every core.
    Each chunk fills rows of the result no other chunk holds, so the result is the same either way."""

    def __init__(self, draws: ParameterDraws, data: _Histories, level: float, chunk_size: int, *, keep_terms: bool) -> None:
        self._levels = _quantile_levels(level)
        _check_spend_draws(draws, data)
        self._draws, self._data = draws, data
        self._out = {name: np.empty(data.n_customers) for name in CUSTOMER_INTERVAL_COLUMNS}
        self._models = [draws.models(d) for d in range(draws.n_draws)]
        self._terms = np.empty((draws.n_draws, data.pairs.shape[0])) if keep_terms else None
        # the cores (in_threads runs one thread per core) share the chunk size, each evaluating its part
        # at once: the memory does not grow with them
        self._chunks = data.chunks(chunk_size, shared_by=usable_cores())
        self._scratch = threading.local()  # each thread's matrices (:meth:`_matrices`)

    def step(self) -> bool:
        """Make the next chunk here; False when none is left."""
        chunk = next(self._chunks, None)
        if chunk is None:
            return False
        self._fill(chunk)
        return True

    def finish(self) -> tuple[pd.DataFrame, PairTerms | None]:
        """Make the chunks left, on every core; the bounds and the kept terms."""
        self._scratch = threading.local()  # the calling thread's matrices go: the pool's threads hold their own
        for _ in in_threads(self._fill, self._chunks):
            pass
        schedule = self._data.schedule
        kept = None if self._terms is None else PairTerms(self._data.pairs, self._terms, schedule.ends, schedule.discount)
        return pd.DataFrame(self._out), kept

    def _fill(self, chunk: _Chunk) -> None:
        """The chunk's rows of the result, which no other chunk holds."""
        terms = self._terms
        n_histories, n_rows = chunk.histories.stop - chunk.histories.start, chunk.rows.size
        # one row per draw, filled in order; turned to one row per history (or customer) holding its
        # draws before the quantiles, as rows contiguous in memory sort fast (a column written per
        # draw would touch every cache line of the matrix each time)
        alive, purchases, clv, sorted_rows = self._matrices(n_histories, n_rows)
        for d, (purchase, spend) in enumerate(self._models):
            predicted = _predict(purchase, spend, self._data, chunk)
            alive[d], purchases[d], clv[d] = predicted.p_alive, predicted.expected_purchases, predicted.clv
            if terms is not None:  # neighbouring chunks may share a pair at their edge: both write its same value
                terms[d, chunk.pairs] = predicted.discounted
        for name, by_draw, index in (
            ("p_alive", alive, chunk.local_history),
            ("expected_purchases", purchases, chunk.local_history),
            ("clv", clv, slice(None)),
        ):
            matrix = sorted_rows[: by_draw.size].reshape(by_draw.shape[::-1])
            np.copyto(matrix, by_draw.T)
            bounds = _row_quantiles(matrix, self._levels)
            self._out[f"{name}_low"][chunk.rows] = bounds[0][index]
            self._out[f"{name}_high"][chunk.rows] = bounds[1][index]

    def _matrices(self, n_histories: int, n_rows: int) -> tuple[np.ndarray, ...]:
        """The calling thread's draw matrices of a chunk's P(alive) and purchases (``draws x n_histories``)
        and CLV (``draws x n_rows``), and the buffer their rows are sorted in: views of matrices kept
        from chunk to chunk, grown when a chunk needs more (a chunk has no more histories than rows).

        Freed, a matrix of a chunk's size (30 MB at 20,000 customers) goes back to the system, and a
        new one is fresh pages, a page fault each: at 10M rows, 1.2M page faults and about a second of
        stage 2 more than reusing them.
        """
        held = getattr(self._scratch, "matrices", None)
        if held is None or held[0].shape[1] < n_rows:
            n_draws = self._draws.n_draws
            held = (*(np.empty((n_draws, n_rows)) for _ in range(3)), np.empty(n_draws * n_rows))
            self._scratch.matrices = held
        alive, purchases, clv, sorted_rows = held
        return alive[:, :n_histories], purchases[:, :n_histories], clv[:, :n_rows], sorted_rows


def _row_quantiles(matrix: np.ndarray, quantiles: tuple[float, ...]) -> np.ndarray:
    """``numpy.quantile(matrix, quantiles, axis=1)`` (its default, linear method); sorts each row
    of ``matrix`` in place.

    numpy partitions every row around the needed order statistics, several times slower here than
    sorting the rows (a few hundred draws each). The result is numpy's to the bit: the same order
    statistics and neighbours (the last value beyond the end, the first before the start),
    interpolated by the same formula (numpy's ``_lerp``), and NaN for a row holding a NaN.
    """
    matrix.sort(axis=1)  # NaN last, as numpy's partition leaves them
    n = matrix.shape[1]
    virtual = (n - 1) * np.asarray(quantiles, dtype=float)
    previous = np.floor(virtual)
    following = previous + 1
    previous[virtual >= n - 1] = following[virtual >= n - 1] = -1
    previous[virtual < 0] = following[virtual < 0] = 0
    previous, following = previous.astype(np.intp), following.astype(np.intp)
    low, high = matrix[:, previous].T, matrix[:, following].T
    weight = (virtual - previous)[:, None]
    difference = high - low
    result = low + difference * weight
    np.subtract(high, difference * (1 - weight), out=result, where=np.broadcast_to(weight >= 0.5, result.shape))
    np.copyto(result, matrix[:, -1], where=np.isnan(matrix[:, -1]))
    return result


# --------------------------------------------------------------- draw-by-draw: groups, tiers
@dataclass(frozen=True)
class _DrawTotals:
    """What the draw-by-draw pass keeps: group totals per draw, tier counts per customer."""

    group_totals: np.ndarray  # (draws, groups)
    point_totals: np.ndarray  # (groups,) under the fitted parameters
    tier_counts: np.ndarray | None  # (customers, tiers) draws placing each customer in each tier


def _draw_by_draw(
    draws: ParameterDraws,
    data: _Histories,
    group_codes: np.ndarray,
    n_groups: int,
    assign: TierAssign | None = None,
    n_tiers: int = 0,
) -> _DrawTotals:
    """Every customer's CLV under each draw in turn: group sums, and tier counts when ``assign`` is given."""
    _check_spend_draws(draws, data)
    everyone = data.everyone()
    point = _predict(draws.purchase_model, draws.spend_model, data, everyone).clv
    point_totals = np.bincount(group_codes, weights=point, minlength=n_groups)
    totals = np.empty((draws.n_draws, n_groups))
    # tier by customer: adding a tier's mask to its row is several times faster than a scatter; the
    # counts and tiers in the smallest integers that hold them (200 draws, 4 tiers: a byte each), as
    # these passes over every customer (one per tier and draw) go at the speed of memory
    count_type, tier_type = np.min_scalar_type(draws.n_draws), np.min_scalar_type(n_tiers)
    counts = np.zeros((n_tiers, data.n_customers), dtype=count_type) if assign is not None else None

    # the pair terms stage 2 kept, when they are those of these customers and horizon
    terms = None if draws.pair_terms is None else draws.pair_terms.matching(data, draws.n_draws)

    def draw(d: int) -> tuple[np.ndarray, np.ndarray | None]:
        """The draw's CLV and, with ``assign``, its tiers (placed in the threads too: a partition per draw)."""
        clv = _predict(*draws.models(d), data, everyone, None if terms is None else terms[d]).clv
        return clv, None if assign is None else _checked_tiers(assign(clv), data.n_customers, n_tiers).astype(tier_type)

    for d, (clv, tier) in enumerate(in_threads(draw, range(draws.n_draws))):
        totals[d] = np.bincount(group_codes, weights=clv, minlength=n_groups)
        if tier is not None:  # counted here, a draw at a time
            for k in range(n_tiers):
                counts[k] += tier == k + 1
    return _DrawTotals(totals, point_totals, None if counts is None else counts.T)


def _checked_tiers(tier: Any, n: int, n_tiers: int) -> np.ndarray:
    tier = np.asarray(tier)
    if tier.shape != (n,) or not np.issubdtype(tier.dtype, np.integer):
        raise CLVInputError(
            f"The tier function must return {n} whole tier numbers, one per customer; got shape "
            f"{tier.shape} of {tier.dtype}."
        )
    if tier.min() < 1 or tier.max() > n_tiers:
        raise CLVInputError(
            f"The tier function returned tiers {int(tier.min())}..{int(tier.max())} outside 1..{n_tiers}."
        )
    return tier.astype(np.intp)


def _group_codes(groups: ArrayLike, n: int) -> tuple[np.ndarray, pd.Index]:
    values = pd.Series(np.asarray(groups))
    if len(values) != n:
        raise CLVInputError(f"`groups` has {len(values)} values for {n} customers; pass one per customer.")
    if values.isna().any():
        raise CLVInputError(
            f"`groups` is missing for {int(values.isna().sum())} customer(s); give every customer a group."
        )
    codes, labels = pd.factorize(values, sort=True)
    return codes.astype(np.intp), pd.Index(labels, name="group")


def _group_table(totals: _DrawTotals, labels: pd.Index, level: float) -> pd.DataFrame:
    """Point and interval of each group's total predicted value and share of the whole."""
    low, high = _quantile_levels(level)
    shares = totals.group_totals / totals.group_totals.sum(axis=1, keepdims=True)
    value_bounds = np.quantile(totals.group_totals, [low, high], axis=0)
    share_bounds = np.quantile(shares, [low, high], axis=0)
    return pd.DataFrame(
        {
            "clv_total": totals.point_totals,
            "clv_total_low": value_bounds[0],
            "clv_total_high": value_bounds[1],
            "clv_share": totals.point_totals / totals.point_totals.sum(),
            "clv_share_low": share_bounds[0],
            "clv_share_high": share_bounds[1],
        },
        index=labels,
    )


def group_value_intervals(
    draws: ParameterDraws,
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    monetary_value: ArrayLike,
    groups: ArrayLike,
    *,
    horizon_periods: int = 12,
    period_length: float = DAYS_PER_MONTH,
    annual_discount_rate: float = 0.10,
    margin: float | ArrayLike = 1.0,
    time_units_per_year: float = DAYS_PER_YEAR,
    spend_frequency: ArrayLike | None = None,
    level: float = DEFAULT_LEVEL,
) -> pd.DataFrame:
    """Each group's total predicted value and share of the total, with ``level`` intervals.

    Each draw gives every customer's CLV, hence every group's sum and share in that draw; the
    intervals are the quantiles of those over the draws (sums and shares of one draw are
    consistent, so the shares' intervals account for the groups moving together).

    Parameters
    ----------
    groups
        One label per customer (e.g. the tier); the arguments before it as in
        :func:`customer_intervals`.

    Returns
    -------
    pandas.DataFrame
        Indexed by group (sorted): ``clv_total`` (under the fitted parameters), ``clv_total_low``,
        ``clv_total_high``, ``clv_share``, ``clv_share_low``, ``clv_share_high``.
    """
    _quantile_levels(level)
    schedule = _Schedule.of(horizon_periods, period_length, annual_discount_rate, time_units_per_year)
    data = _Histories.of(frequency, recency, T, monetary_value, margin, schedule, spend_frequency)
    codes, labels = _group_codes(groups, data.n_customers)
    totals = _draw_by_draw(draws, data, codes, labels.size)
    return _group_table(totals, labels, level)


@dataclass(frozen=True)
class TierMembership:
    """Tier membership across the draws.

    Attributes
    ----------
    customers : pandas.DataFrame
        One row per customer in input order: ``tier`` (assigned), ``tier_probability`` (share of the
        draws placing the customer in that tier), ``borderline`` (``tier_probability`` below the
        threshold) and ``p_tier_1`` … ``p_tier_k`` (share of draws in each tier).
    tiers : pandas.DataFrame
        Per assigned tier, as :func:`group_value_intervals`: ``clv_total``, ``clv_share`` and their
        intervals, plus ``customers`` and ``borderline`` (counts).
    """

    customers: pd.DataFrame
    tiers: pd.DataFrame


def tier_membership(
    draws: ParameterDraws,
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    monetary_value: ArrayLike,
    assign: TierAssign,
    *,
    tiers: ArrayLike | None = None,
    threshold: float = DEFAULT_BORDERLINE,
    horizon_periods: int = 12,
    period_length: float = DAYS_PER_MONTH,
    annual_discount_rate: float = 0.10,
    margin: float | ArrayLike = 1.0,
    time_units_per_year: float = DAYS_PER_YEAR,
    spend_frequency: ArrayLike | None = None,
    level: float = DEFAULT_LEVEL,
) -> TierMembership:
    """Each customer's probability of each tier when the tiers are placed again under every draw.

    Parameters
    ----------
    assign
        Tier numbers 1..k (1 = best) of all customers from their CLV vector (input order), e.g.
        :func:`tier_assigner`. Called once per draw, for two draws at once on two cores: it must not
        change what another call reads. A rule that ranks customers (shares) moves the cut-offs with
        the draw, one with fixed cut-offs does not.
    tiers
        The assigned tiers (e.g. stage 3's); by default ``assign`` of the point CLVs.
    threshold
        A customer whose assigned tier holds in fewer than this share of the draws is ``borderline``.
    others
        As in :func:`customer_intervals`; ``level`` for the per-tier value intervals.

    Returns
    -------
    TierMembership
        Memory: one count per customer and tier (never the draws themselves).
    """
    _quantile_levels(level)
    if not 0 < threshold <= 1:
        raise CLVInputError(f"`threshold` must be in (0, 1], got {threshold}.")
    schedule = _Schedule.of(horizon_periods, period_length, annual_discount_rate, time_units_per_year)
    data = _Histories.of(frequency, recency, T, monetary_value, margin, schedule, spend_frequency)
    if tiers is None:
        point = _predict(draws.purchase_model, draws.spend_model, data, data.everyone()).clv
        tiers = assign(point)
    assigned = np.asarray(tiers)
    n_tiers = int(assigned.max()) if assigned.size else 0
    assigned = _checked_tiers(assigned, data.n_customers, n_tiers)
    totals = _draw_by_draw(draws, data, assigned - 1, n_tiers, assign=assign, n_tiers=n_tiers)
    probability = totals.tier_counts / draws.n_draws
    own = probability[np.arange(data.n_customers), assigned - 1]
    customers = pd.DataFrame({"tier": assigned, "tier_probability": own, "borderline": own < threshold})
    for k in range(n_tiers):
        customers[f"p_tier_{k + 1}"] = probability[:, k]
    table = _group_table(totals, pd.Index(np.arange(1, n_tiers + 1), name="tier"), level)
    table.insert(0, "customers", np.bincount(assigned - 1, minlength=n_tiers))
    table["borderline"] = np.bincount(assigned - 1, weights=customers["borderline"], minlength=n_tiers).astype(int)
    return TierMembership(customers, table)


def tier_assigner(
    customers: pd.DataFrame,
    method: str,
    *,
    n_tiers: int = 4,
    options: dict[str, Any] | None = None,
    seed: int = 0,
    column: str = "clv",
) -> TierAssign:
    """The rule of :func:`~analysis.methods.tiers.assign_tiers` as a function of the CLV alone.

    The returned function places ``customers`` (same rows, same order) in tiers with ``method``
    after replacing their ``column`` by the CLV vector it gets; every other column stays as in
    ``customers``. It is what :func:`tier_membership` calls once per draw, so the rule is checked
    once here (a :class:`~analysis.methods.tiers.TieringError` is raised now, not per draw) and
    the table is sorted by ``customer_id`` once, not per draw; ``clv`` and ``pareto`` on the CLV
    place the vector itself, without the table. The CLV moves the tiers of ``clv``
    and ``pareto`` (when their ``column`` is the CLV), of ``composite`` (its potential; its loyalty
    part keeps the point estimate of P(alive)) and of ``kmeans`` when CLV is a feature (slow:
    ``n_init`` k-means runs per draw); ``rfm`` and ``threshold`` do not depend on it, so their tier
    probabilities are 1.
    """
    from analysis.methods import tiers as tiering

    tiering.assign_tiers(customers, method, n_tiers=n_tiers, options=options, seed=seed)
    opts = tiering.method_options(options, method)
    frame, positions = tiering._canonical(customers)
    place = tiering._METHOD_FUNCS[method]
    # a missing CLV takes the table's way, whose error names the customers
    by_values = tiering._VALUE_FUNCS.get(method) if tiering._value_column(opts) == column else None
    in_id_order = bool((positions == np.arange(positions.size)).all())  # as stage 2 writes the table
    tables = threading.local()  # :func:`tier_membership` calls it from two threads: a table each

    def assign(clv: np.ndarray) -> np.ndarray:
        values = np.asarray(clv, dtype=float)
        ordered = values if in_id_order else values[positions]
        if by_values is not None and not np.isnan(ordered).any():
            placed = by_values(ordered, int(n_tiers), opts).tier
        else:
            if not hasattr(tables, "frame"):
                tables.frame = frame.copy(deep=False)  # its columns shared: only ``column`` is replaced
            own = tables.frame
            own[column] = ordered
            placed = place(own, int(n_tiers), opts, seed).tier
        if in_id_order:
            return placed.astype(np.int64, copy=False)
        tier = np.empty(values.size, dtype=np.int64)
        tier[positions] = placed
        return tier

    return assign


# ----------------------------------------------------------------------- stage integration
def _stage_inputs(customers: pd.DataFrame) -> tuple[pd.Series, ...]:
    """``frequency, recency, T, monetary_value`` as stage 2 feeds the models.

    As ``stages.rfm_clv.spend_frequency``: a repeat buyer without positive mean spend counts as
    0 repeat purchases for the spend model (population mean spend) and keeps its frequency for
    the purchase model.
    """
    missing = [c for c in ("customer_id", "frequency", "recency", "T", "monetary_value") if c not in customers]
    if missing:
        raise CLVInputError(f"The customers table lacks the column(s) {missing}; pass stage 2's customers table.")
    return customers["frequency"], customers["recency"], customers["T"], customers["monetary_value"]


def _spend_columns(frequency: pd.Series, monetary_value: pd.Series) -> tuple[pd.Series, pd.Series]:
    positive = monetary_value > 0
    return frequency.where(positive, 0), monetary_value.where(positive, 0.0)


@dataclass(frozen=True)
class CLVIntervals:
    """Stage 2's view: per customer the interval bounds; the draws, holding their pair terms for stage 3."""

    customers: pd.DataFrame
    draws: ParameterDraws


def clv_intervals(customers: pd.DataFrame, draws: ParameterDraws, **options: Any) -> CLVIntervals:
    """Stage 2's per-customer intervals, keyed by ``customer_id``, ready to merge: those of
    :func:`begin_clv_intervals` (the same arguments), made on every core.

    Returns
    -------
    CLVIntervals
        ``customers``: ``customer_id`` and :data:`CUSTOMER_INTERVAL_COLUMNS`, in the order of
        ``customers``; ``draws``: ``draws`` holding their :class:`PairTerms` for these customers.
    """
    return begin_clv_intervals(customers, draws, **options).finish()


class CLVIntervalsBegun:
    """:func:`clv_intervals` begun (:func:`begin_clv_intervals`): :meth:`step` makes a chunk of the
    customers on the calling thread, :meth:`finish` the rest on every core and returns the result."""

    def __init__(self, customer_id: np.ndarray, draws: ParameterDraws, bounds: _CustomerBounds) -> None:
        self._customer_id, self._draws, self._bounds = customer_id, draws, bounds

    def step(self) -> bool:
        """Make the next chunk of customers here (seconds at most); False when none is left."""
        return self._bounds.step()

    def finish(self) -> CLVIntervals:
        bounds, terms = self._bounds.finish()
        bounds.insert(0, "customer_id", self._customer_id)
        return CLVIntervals(bounds, replace(self._draws, pair_terms=terms))


def begin_clv_intervals(
    customers: pd.DataFrame,
    draws: ParameterDraws,
    *,
    horizon_periods: int = 12,
    period_length: float = DAYS_PER_MONTH,
    annual_discount_rate: float = 0.10,
    margin: float | ArrayLike = 1.0,
    time_units_per_year: float = DAYS_PER_YEAR,
    level: float = DEFAULT_LEVEL,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> CLVIntervalsBegun:
    """:func:`clv_intervals` with its inputs checked and prepared, none of its chunks made yet: a
    caller waiting for other work makes chunks meanwhile (:meth:`CLVIntervalsBegun.step`).

    ``customers`` holds ``customer_id, frequency, recency, T, monetary_value`` (stage 2's table);
    spend follows stage 2's rule (:func:`_stage_inputs`); ``draws`` come from
    :func:`draw_parameters` of stage 2's fits, the other arguments are those stage 2 passes to
    :func:`~analysis.methods.clv.value.discounted_expected_purchases`.

    Raises
    ------
    CLVInputError
        As :func:`clv_intervals` does, here (but a wrong ``chunk_size``, when the chunks are made).
    """
    frequency, recency, T, monetary_value = _stage_inputs(customers)
    spend_x, spend = _spend_columns(frequency, monetary_value)
    schedule = _Schedule.of(horizon_periods, period_length, annual_discount_rate, time_units_per_year)
    data = _Histories.of(frequency, recency, T, spend, margin, schedule, spend_x)
    bounds = _CustomerBounds(draws, data, level, chunk_size, keep_terms=True)
    return CLVIntervalsBegun(customers["customer_id"].to_numpy(), draws, bounds)


@dataclass(frozen=True)
class TierIntervals:
    """Stage 3's view: per customer ``customer_id, tier, tier_probability, borderline``; per tier value intervals."""

    customers: pd.DataFrame
    tiers: pd.DataFrame


def tier_intervals(
    customers: pd.DataFrame,
    draws: ParameterDraws,
    *,
    assign: TierAssign,
    tier_column: str = "tier",
    threshold: float = DEFAULT_BORDERLINE,
    horizon_periods: int = 12,
    period_length: float = DAYS_PER_MONTH,
    annual_discount_rate: float = 0.10,
    margin: float | ArrayLike = 1.0,
    time_units_per_year: float = DAYS_PER_YEAR,
    level: float = DEFAULT_LEVEL,
) -> TierIntervals:
    """Stage 3's tier probabilities and per-tier value shares, from the same draws as :func:`clv_intervals`.

    ``customers`` is stage 3's table (stage 2's columns and the assigned ``tier_column``);
    ``draws`` are stage 2's (:meth:`ParameterDraws.from_frame`), the horizon arguments stage 2's;
    ``assign`` is :func:`tier_assigner` of the tiering rule.

    Returns
    -------
    TierIntervals
        ``customers``: ``customer_id``, ``tier``, ``tier_probability``, ``borderline`` and
        ``p_tier_1`` … in the order of ``customers``; ``tiers``: per tier ``customers``,
        ``borderline``, ``clv_total``, ``clv_share`` and their ``_low``/``_high`` bounds.
    """
    frequency, recency, T, monetary_value = _stage_inputs(customers)
    if tier_column not in customers:
        raise CLVInputError(f"The customers table has no '{tier_column}' column with the assigned tiers.")
    spend_x, spend = _spend_columns(frequency, monetary_value)
    membership = tier_membership(
        draws, frequency, recency, T, spend, assign,
        tiers=customers[tier_column].to_numpy(dtype=np.int64), threshold=threshold,
        horizon_periods=horizon_periods, period_length=period_length,
        annual_discount_rate=annual_discount_rate, margin=margin,
        time_units_per_year=time_units_per_year, level=level, spend_frequency=spend_x,
    )
    table = membership.customers
    table.insert(0, "customer_id", customers["customer_id"].to_numpy())
    return TierIntervals(table, membership.tiers)
