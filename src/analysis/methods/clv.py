"""Customer lifetime value: BG/NBD purchase model, Gamma-Gamma spend model, discounted CLV.

Both models are fitted by maximum likelihood with :func:`scipy.optimize.minimize` on the logarithm of
their parameters, with analytic gradients. Customers with the same summary row (the same
``frequency, recency, T`` or ``frequency, monetary_value``) are aggregated to one weighted row
first, so the cost of a fit grows with the number of distinct patterns, not of customers, and the
result does not depend on row order.

Inputs follow the definitions of lifetimes / PyMC-Marketing ``rfm_summary``: ``frequency`` is the
number of repeat purchases (purchase occasions after the first), ``recency`` the age of the customer
at the last purchase (0 when frequency is 0), ``T`` the age of the customer at the end of the
calibration period, all in one time unit, and ``monetary_value`` the mean value of the repeat
purchases.

References
----------
Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). "Counting your customers" the easy way: an
    alternative to the Pareto/NBD model. Marketing Science 24(2), 275-284.
Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). RFM and CLV: using iso-value curves for customer
    base analysis. Journal of Marketing Research 42(4), 415-430.
Colombo, R. & Jiang, W. (1999). A stochastic RFM model. Journal of Interactive Marketing 13(3), 2-12.
Fader, P. S. & Hardie, B. G. S. (2013). The Gamma-Gamma model of monetary value. Note,
    http://brucehardie.com/notes/025/.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, special
from sklearn.exceptions import NotFittedError

ArrayLike = np.ndarray | pd.Series | Sequence[float] | float

BGNBD_REFERENCE = (
    'Fader, Hardie & Lee (2005), "Counting your customers" the easy way: an alternative to the '
    "Pareto/NBD model, Marketing Science 24(2), 275-284"
)
GAMMA_GAMMA_REFERENCE = (
    "Fader, Hardie & Lee (2005), RFM and CLV: using iso-value curves for customer base analysis, "
    "Journal of Marketing Research 42(4), 415-430; Colombo & Jiang (1999)"
)
STANDARD_ERROR_METHOD = (
    "inverse of the observed information: central-difference Hessian of the analytic gradient of the "
    "negative log-likelihood in log-parameter space, mapped to the original parameters by the delta method"
)

#: Report labels of the holdout table's columns and figures.
HOLDOUT_LABELS: dict[str, dict[str, str]] = {
    "calibration_purchases": {"zh": "校准期重复购买次数", "en": "Repeat purchases in calibration"},
    "n_customers": {"zh": "客户数", "en": "Customers"},
    "actual_mean": {"zh": "验证期实际购买次数(均值)", "en": "Actual holdout purchases (mean)"},
    "predicted_mean": {
        "zh": "验证期预测购买次数(均值)",
        "en": "Predicted holdout purchases (mean)",
    },
    "total_actual": {"zh": "验证期实际购买总数", "en": "Total actual holdout purchases"},
    "total_predicted": {"zh": "验证期预测购买总数", "en": "Total predicted holdout purchases"},
    "total_relative_error": {"zh": "总数相对误差", "en": "Relative error of the total"},
    "mae_per_customer": {"zh": "每位客户平均绝对误差", "en": "Mean absolute error per customer"},
    "mape_bucket_means": {"zh": "分组均值平均绝对百分比误差", "en": "MAPE of the bucket means"},
    "correlation": {"zh": "实际与预测的相关系数", "en": "Correlation of actual and predicted"},
}


_LOG_BOUND = 20.0  # optimiser bounds on log-parameters


class CLVInputError(ValueError):
    """Inputs to a CLV model are invalid; the message names the column, the rows and the fix."""


# --------------------------------------------------------------------------------------------------
# input checks and aggregation
# --------------------------------------------------------------------------------------------------


def _as_float_array(values: ArrayLike, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim > 1:
        raise CLVInputError(
            f"`{name}` must be one-dimensional, got shape {array.shape}; pass one column."
        )
    return np.atleast_1d(array)


def _positions(mask: np.ndarray, limit: int = 5) -> str:
    rows = np.flatnonzero(mask)
    shown = ", ".join(str(i) for i in rows[:limit])
    more = f" and {rows.size - limit} more" if rows.size > limit else ""
    return f"row position(s) {shown}{more}"


def _require(condition_bad: np.ndarray, message: str) -> None:
    if np.any(condition_bad):
        raise CLVInputError(f"{message} ({_positions(condition_bad)}).")


def _check_same_length(**arrays: np.ndarray) -> None:
    lengths = {name: a.size for name, a in arrays.items() if a.size != 1}
    if len(set(lengths.values())) > 1:
        raise CLVInputError(
            f"Inputs must have the same length, got {lengths}; pass columns of one customer table."
        )


def _validate_rfm(frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> tuple[np.ndarray, ...]:
    x, t_x, age = (
        _as_float_array(v, n) for v, n in ((frequency, "frequency"), (recency, "recency"), (T, "T"))
    )
    _check_same_length(frequency=x, recency=t_x, T=age)
    x, t_x, age = np.broadcast_arrays(x, t_x, age)
    for name, values in (("frequency", x), ("recency", t_x), ("T", age)):
        _require(
            ~np.isfinite(values),
            f"`{name}` has missing or infinite values; drop or fill those customers",
        )
    _require(
        (x < 0) | (x != np.round(x)),
        "`frequency` must be a whole number of repeat purchases >= 0; recompute it as orders minus one",
    )
    # T = 0 (first purchase on the last day) is allowed: with x = 0 its likelihood term is
    # (α / (α + 0))^r = 1, it carries no information, and its predictions are the prior's.
    _require(
        age < 0,
        "`T` (customer age) must be >= 0; the first purchase cannot be after the end date",
    )
    _require(t_x < 0, "`recency` must be >= 0")
    _require(
        t_x > age,
        "`recency` must not exceed `T`; check the time unit and the end date of both columns",
    )
    _require(
        (x == 0) & (t_x != 0),
        "`recency` must be 0 when `frequency` is 0 (rfm_summary definition); set recency to 0 for one-time buyers",
    )
    return x, t_x, age


def _validate_weights(weights: ArrayLike | None, n: int) -> np.ndarray:
    if weights is None:
        return np.ones(n)
    w = _as_float_array(weights, "weights")
    if w.size != n:
        raise CLVInputError(
            f"`weights` has {w.size} values for {n} customers; pass one weight per row."
        )
    _require(~np.isfinite(w) | (w < 0), "`weights` must be finite and >= 0")
    if w.sum() <= 0:
        raise CLVInputError("`weights` sum to 0; at least one row needs a positive weight.")
    return w


def aggregate_patterns(
    columns: Sequence[np.ndarray], weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Collapse identical rows to distinct patterns with summed weights.

    Parameters
    ----------
    columns
        Equal-length 1-d arrays, one per variable.
    weights
        Weight (count) of each row.

    Returns
    -------
    patterns, counts
        ``patterns`` has one row per distinct combination (sorted, hence independent of the input
        order) and ``counts`` the summed weight of each; patterns of zero total weight are dropped.
    """
    stacked = np.column_stack(columns)
    patterns, inverse = np.unique(stacked, axis=0, return_inverse=True)
    counts = np.bincount(inverse.ravel(), weights=weights, minlength=patterns.shape[0])
    keep = counts > 0
    return patterns[keep], counts[keep]


# --------------------------------------------------------------------------------------------------
# maximum-likelihood machinery shared by both models
# --------------------------------------------------------------------------------------------------


def _minimize_negative_ll(
    loglik_and_grad: Callable[[np.ndarray], tuple[float, np.ndarray]],
    starts: Sequence[np.ndarray],
    total_weight: float,
) -> optimize.OptimizeResult:
    """Minimise the mean negative log-likelihood over log-parameters, trying the starts in turn."""

    def objective(log_params: np.ndarray) -> tuple[float, np.ndarray]:
        ll, grad = loglik_and_grad(np.exp(log_params))
        # gradient with respect to log-parameters: d/dlog(theta) = theta * d/dtheta
        value, gradient = -ll / total_weight, -grad * np.exp(log_params) / total_weight
        if not np.isfinite(value) or not np.all(np.isfinite(gradient)):
            return np.inf, np.zeros_like(log_params)
        return value, gradient

    results = []
    for start in starts:
        result = optimize.minimize(
            objective,
            np.log(start),
            jac=True,
            method="L-BFGS-B",
            bounds=[(-_LOG_BOUND, _LOG_BOUND)] * len(start),
            options={"maxiter": 2000, "ftol": 1e-14, "gtol": 1e-9},
        )
        results.append(result)
        # The next starting points are a fallback: the first start that converges inside the
        # bounds is kept (the fit's cost is then one optimisation, not one per start).
        if result.success and np.isfinite(result.fun) and np.all(np.abs(result.x) < _LOG_BOUND - 1):
            break
    finite = [r for r in results if np.isfinite(r.fun)]
    if not finite:
        raise CLVInputError(
            "The likelihood could not be evaluated at any starting point; check that the inputs are in "
            "one consistent time unit and not degenerate (e.g. all customers identical)."
        )
    return min(finite, key=lambda r: r.fun)


def _convergence(best: optimize.OptimizeResult, hessian_ok: bool) -> tuple[bool, str]:
    """Converged means: optimiser success, no parameter at its bound, positive definite Hessian."""
    notes = [str(best.message)]
    at_bound = bool(np.any(np.abs(best.x) > _LOG_BOUND - 0.1))
    if at_bound:
        notes.append("a parameter ran to its bound (exp(+-20)); the data do not identify the model")
    if not hessian_ok:
        notes.append("Hessian not positive definite")
    return bool(best.success) and not at_bound and hessian_ok, "; ".join(notes)


def _standard_errors(
    loglik_and_grad: Callable[[np.ndarray], tuple[float, np.ndarray]], params: np.ndarray
) -> tuple[np.ndarray, bool]:
    """Standard errors from the observed information (see :data:`STANDARD_ERROR_METHOD`).

    The Hessian ``H`` of the total negative log-likelihood in ``log(theta)`` is formed by central
    differences of the analytic gradient (step 1e-5 in log-space) and symmetrised; then
    ``Cov(theta) = D H^{-1} D`` with ``D = diag(theta)`` (delta method; exact at the optimum, where
    the gradient vanishes). Returns NaNs and ``False`` if ``H`` is not positive definite.
    """
    log_params = np.log(params)
    k, step = log_params.size, 1e-5

    def gradient_log(lp: np.ndarray) -> np.ndarray:
        return -loglik_and_grad(np.exp(lp))[1] * np.exp(lp)

    hessian = np.empty((k, k))
    for j in range(k):
        shift = np.zeros(k)
        shift[j] = step
        hessian[:, j] = (gradient_log(log_params + shift) - gradient_log(log_params - shift)) / (
            2 * step
        )
    hessian = (hessian + hessian.T) / 2
    try:
        np.linalg.cholesky(hessian)
    except np.linalg.LinAlgError:
        return np.full(k, np.nan), False
    cov_log = np.linalg.inv(hessian)
    cov = cov_log * np.outer(params, params)
    return np.sqrt(np.diag(cov)), True


def _check_fitted(model: Any) -> None:
    if not hasattr(model, "params_"):
        raise NotFittedError(f"This {type(model).__name__} is not fitted yet; call fit(...) first.")


def _store_fit(
    model: Any, theta: np.ndarray, errors: np.ndarray, log_likelihood: float, total: float, n_patterns: int,
    best: optimize.OptimizeResult, hessian_ok: bool,
) -> Any:
    """Set a model's fitted attributes (``params_`` … ``message_``) and return the model."""
    model.params_ = dict(zip(model.parameter_names, map(float, theta)))
    model.standard_errors_ = dict(zip(model.parameter_names, map(float, errors)))
    model.log_likelihood_ = float(log_likelihood)
    model.n_customers_ = total
    model.n_patterns_ = int(n_patterns)
    model.converged_, model.message_ = _convergence(best, hessian_ok)
    return model


def _fit_summary(model: Any, name: str, reference: str, **extra: Any) -> dict[str, Any]:
    """What models.json records of a fitted model: estimates, errors, fit quality, convergence."""
    _check_fitted(model)
    return {
        "name": name,
        "params": dict(model.params_),
        "standard_errors": dict(model.standard_errors_),
        "standard_error_method": STANDARD_ERROR_METHOD,
        "log_likelihood": float(model.log_likelihood_),
        "n_customers": _int_if_whole(model.n_customers_),
        "n_patterns": model.n_patterns_,
        "converged": model.converged_,
        "message": model.message_,
        **extra,
        "reference": reference,
    }


def _int_if_whole(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


# --------------------------------------------------------------------------------------------------
# BG/NBD
# --------------------------------------------------------------------------------------------------


def _bgnbd_loglik_terms(
    params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-row BG/NBD log-likelihood and its gradient in (r, alpha, a, b).

    FHL (2005) eq. 6:
    ``L = B(a, b+x)/B(a, b) * G(r+x) alpha^r / (G(r) (alpha+T)^(r+x))
    + [x > 0] B(a+1, b+x-1)/B(a, b) * G(r+x) alpha^r / (G(r) (alpha+t_x)^(r+x))``,
    evaluated as ``log A + logsumexp(term1, term2)``.
    """
    r, alpha, a, b = params
    repeat = x > 0
    x_safe = np.where(repeat, x, 1.0)  # keeps the unused second term finite when x = 0
    log_a = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    term1 = special.betaln(a, b + x) - special.betaln(a, b) - (r + x) * np.log(alpha + T)
    term2 = (
        special.betaln(a + 1, b + x_safe - 1) - special.betaln(a, b) - (r + x) * np.log(alpha + t_x)
    )
    term2 = np.where(repeat, term2, -np.inf)
    log_sum = np.logaddexp(term1, term2)
    ll = log_a + log_sum
    w1 = np.exp(term1 - log_sum)
    w2 = 1.0 - w1

    psi = special.digamma
    d_r = psi(r + x) - psi(r) + np.log(alpha) - w1 * np.log(alpha + T) - w2 * np.log(alpha + t_x)
    d_alpha = r / alpha - w1 * (r + x) / (alpha + T) - w2 * (r + x) / (alpha + t_x)
    common_a = psi(a + b) - psi(a + b + x)
    d_a = w1 * common_a + w2 * (common_a + psi(a + 1) - psi(a))
    d_b = common_a - psi(b) + w1 * psi(b + x) + w2 * psi(b + x_safe - 1)
    return ll, np.column_stack([d_r, d_alpha, d_a, d_b])


class BetaGeoModel:
    """BG/NBD model of repeat purchasing (Fader, Hardie & Lee 2005).

    While active, a customer buys as a Poisson process with rate ``lambda ~ Gamma(r, alpha)``
    (shape ``r``, rate ``alpha``); after each repeat purchase the customer drops out with probability
    ``p ~ Beta(a, b)``.

    Parameters
    ----------
    time_unit
        Unit of ``recency`` and ``T`` (e.g. ``"days"``, ``"weeks"``); recorded in :meth:`summary`.
        ``alpha`` is expressed in this unit.

    Attributes
    ----------
    params_ : dict
        Maximum-likelihood estimates ``r, alpha, a, b``.
    standard_errors_ : dict
        Asymptotic standard errors (see :data:`STANDARD_ERROR_METHOD`).
    log_likelihood_ : float
        Maximised log-likelihood, the weighted sum of FHL (2005) eq. 6 over customers.
    n_customers_ : float
        Total weight (number of customers) of the fit.
    n_patterns_ : int
        Number of distinct ``(frequency, recency, T)`` rows the likelihood was evaluated on.
    converged_ : bool
        Whether the optimiser reported success and the Hessian is positive definite.
    message_ : str
        The optimiser's message and any caveat.
    """

    parameter_names = ("r", "alpha", "a", "b")

    def __init__(self, time_unit: str = "days") -> None:
        self.time_unit = time_unit

    # ---------------------------------------------------------------------------------------- fit
    def fit(
        self,
        frequency: ArrayLike,
        recency: ArrayLike,
        T: ArrayLike,
        *,
        weights: ArrayLike | None = None,
        time_unit: str | None = None,
    ) -> BetaGeoModel:
        """Fit by maximum likelihood.

        Parameters
        ----------
        frequency, recency, T
            Repeat purchases, age at last purchase and age at the end of calibration, per customer.
        weights
            Optional number of customers each row stands for (frequency weights).
        time_unit
            Overrides the constructor's ``time_unit`` when given.

        Returns
        -------
        self

        Notes
        -----
        The optimiser (L-BFGS-B on ``log(theta)`` with the analytic gradient) starts from three
        deterministic points scaled to the data and keeps the best optimum.
        """
        if time_unit is not None:
            self.time_unit = time_unit
        x, t_x, age = _validate_rfm(frequency, recency, T)
        w = _validate_weights(weights, x.size)
        patterns, counts = aggregate_patterns([x, t_x, age], w)
        px, pt, pT = patterns.T

        def loglik_and_grad(theta: np.ndarray) -> tuple[float, np.ndarray]:
            ll, grad = _bgnbd_loglik_terms(theta, px, pt, pT)
            return float(counts @ ll), counts @ grad

        total = float(counts.sum())
        mean_rate = (np.average(px, weights=counts) + 0.1) / np.average(pT, weights=counts)
        starts = [
            np.array([1.0, 1.0 / mean_rate, 1.0, 1.0]),
            np.array([0.5, 0.5 / mean_rate, 1.0, 3.0]),
            np.array([1.0, 1.0, 1.0, 1.0]),
        ]
        best = _minimize_negative_ll(loglik_and_grad, starts, total)
        theta = np.exp(best.x)
        errors, hessian_ok = _standard_errors(loglik_and_grad, theta)

        return _store_fit(self, theta, errors, loglik_and_grad(theta)[0], total, patterns.shape[0], best, hessian_ok)

    def _theta(self) -> tuple[float, float, float, float]:
        _check_fitted(self)
        return tuple(self.params_[k] for k in self.parameter_names)  # type: ignore[return-value]

    # -------------------------------------------------------------------------------- predictions
    def conditional_probability_alive(
        self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> np.ndarray:
        """P(active at T | x, t_x, T).

        FHL (2005); Fader, Hardie & Lee (2008), note "Computing P(alive) using the BG/NBD model":

        ``P = 1 / (1 + [x > 0] * a / (b + x - 1) * ((alpha + T) / (alpha + t_x))^(r + x))``;
        equals 1 for customers without repeat purchases.
        """
        x, t_x, age = _validate_rfm(frequency, recency, T)
        return 1.0 / (1.0 + np.exp(self._log_odds_dead(x, t_x, age)))

    def _log_odds_dead(self, x: np.ndarray, t_x: np.ndarray, age: np.ndarray) -> np.ndarray:
        r, alpha, a, b = self._theta()
        repeat = x > 0
        x_safe = np.where(repeat, x, 1.0)
        log_odds = (
            np.log(a)
            - np.log(b + x_safe - 1)
            + (r + x) * (np.log(alpha + age) - np.log(alpha + t_x))
        )
        return np.where(repeat, log_odds, -np.inf)

    def conditional_expected_purchases(
        self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> np.ndarray:
        """Expected purchases in ``(T, T + t]`` given the history, FHL (2005) eq. 10.

        ``E[Y(t) | x, t_x, T] = (a+b+x-1)/(a-1) * [1 - ((alpha+T)/(alpha+T+t))^(r+x)
        * 2F1(r+x, b+x; a+b+x-1; t/(alpha+T+t))] / (1 + [x>0] a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x))``

        The hypergeometric term is evaluated after Euler's transformation,
        ``(1-z)^(r+x) 2F1(r+x, b+x; c; z) = (1-z)^(a-1) 2F1(a+b-1-r, a-1; c; z)`` with
        ``c = a+b+x-1`` and ``z = t/(alpha+T+t)``, whose series stays bounded for large ``x`` and ``t``.
        Undefined for ``a = 1`` exactly (a removable singularity of the closed form).
        """
        r, alpha, a, b = self._theta()
        x, t_x, age = _validate_rfm(frequency, recency, T)
        t_arr = _as_float_array(t, "t")
        _require(
            ~np.isfinite(t_arr) | (t_arr < 0), "`t` (prediction horizon) must be finite and >= 0"
        )
        x, t_x, age, t_arr = np.broadcast_arrays(x, t_x, age, t_arr)
        z = t_arr / (alpha + age + t_arr)
        c = a + b + x - 1
        tail = (1 - z) ** (a - 1) * special.hyp2f1(a + b - 1 - r, a - 1, c, z)
        expected_if_alive = (a + b + x - 1) / (a - 1) * (1 - tail)
        return expected_if_alive / (1.0 + np.exp(self._log_odds_dead(x, t_x, age)))

    def expected_purchases(self, t: ArrayLike) -> np.ndarray:
        """Expected repeat purchases of a new customer in ``(0, t]``, FHL (2005) eq. 7.

        ``E[X(t)] = (a+b-1)/(a-1) * [1 - (alpha/(alpha+t))^r * 2F1(r, b; a+b-1; t/(alpha+t))]``
        """
        r, alpha, a, b = self._theta()
        t_arr = _as_float_array(t, "t")
        _require(~np.isfinite(t_arr) | (t_arr < 0), "`t` must be finite and >= 0")
        z = t_arr / (alpha + t_arr)
        # Euler's transformation, as in conditional_expected_purchases with x = 0
        tail = (1 - z) ** (a - 1) * special.hyp2f1(a + b - 1 - r, a - 1, a + b - 1, z)
        return (a + b - 1) / (a - 1) * (1 - tail)

    def summary(self) -> dict[str, Any]:
        """The fitted model as a JSON-ready dict for ``models.json``."""
        return _fit_summary(self, "BG/NBD", BGNBD_REFERENCE, time_unit=self.time_unit)


# --------------------------------------------------------------------------------------------------
# Gamma-Gamma
# --------------------------------------------------------------------------------------------------


def _gamma_gamma_loglik_terms(
    params: np.ndarray, x: np.ndarray, m: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-row Gamma-Gamma log-likelihood of the mean spend and its gradient in (p, q, gamma).

    Density of the mean ``m`` of ``x`` transactions (FHL 2005 iso-value paper; Fader & Hardie 2013,
    note 025):
    ``f(m | x) = G(px+q) / (G(px) G(q)) * gamma^q * x^(px) * m^(px-1) / (gamma + x m)^(px+q)``.
    All constant terms are kept, so the sum reproduces the published log-likelihood (-4055.92 on CDNOW).
    """
    p, q, gamma = params
    px = p * x
    log_total = np.log(gamma + x * m)
    ll = (
        special.gammaln(px + q)
        - special.gammaln(px)
        - special.gammaln(q)
        + q * np.log(gamma)
        + (px - 1) * np.log(m)
        + px * np.log(x)
        - (px + q) * log_total
    )
    psi_sum = special.digamma(px + q)
    d_p = x * (psi_sum - special.digamma(px) + np.log(m) + np.log(x) - log_total)
    d_q = psi_sum - special.digamma(q) + np.log(gamma) - log_total
    d_gamma = q / gamma - (px + q) / (gamma + x * m)
    return ll, np.column_stack([d_p, d_q, d_gamma])


def _validate_spend(
    frequency: ArrayLike, monetary_value: ArrayLike
) -> tuple[np.ndarray, np.ndarray]:
    x = _as_float_array(frequency, "frequency")
    m = _as_float_array(monetary_value, "monetary_value")
    _check_same_length(frequency=x, monetary_value=m)
    x, m = np.broadcast_arrays(x, m)
    _require(
        ~np.isfinite(x), "`frequency` has missing or infinite values; drop or fill those customers"
    )
    _require(
        (x < 0) | (x != np.round(x)),
        "`frequency` must be a whole number of repeat purchases >= 0; recompute it as orders minus one",
    )
    _require(
        (x > 0) & ~(np.isfinite(m) & (m > 0)),
        "`monetary_value` must be a finite amount > 0 for customers with repeat purchases; the Gamma-Gamma "
        "model needs positive spend, so quarantine those customers or net their returns first",
    )
    return x, m


class GammaGammaModel:
    """Gamma-Gamma model of the mean value of repeat purchases (Colombo & Jiang 1999; FHL 2005).

    Each transaction value of a customer is ``Gamma(p, nu)`` (shape ``p``, rate ``nu``) and
    ``nu ~ Gamma(q, gamma)`` across customers. Spend is assumed independent of the purchase process;
    check it with :meth:`spend_frequency_correlation`.

    Attributes
    ----------
    params_ : dict
        Maximum-likelihood estimates ``p, q, gamma`` (``gamma`` is called ``v`` in lifetimes).
    standard_errors_, log_likelihood_, n_customers_, n_patterns_, converged_, message_
        As in :class:`BetaGeoModel`; only customers with ``frequency > 0`` enter the fit.
    """

    parameter_names = ("p", "q", "gamma")

    def __init__(self, currency: str | None = None) -> None:
        self.currency = currency

    def fit(
        self, frequency: ArrayLike, monetary_value: ArrayLike, *, weights: ArrayLike | None = None
    ) -> GammaGammaModel:
        """Fit by maximum likelihood on the customers with ``frequency > 0``.

        Parameters
        ----------
        frequency
            Number of repeat purchases; rows with 0 are dropped (their mean spend is undefined).
        monetary_value
            Mean value of the repeat purchases.
        weights
            Optional number of customers each row stands for.

        Returns
        -------
        self
        """
        x, m = _validate_spend(frequency, monetary_value)
        w = _validate_weights(weights, x.size)
        repeat = (x > 0) & (w > 0)
        if repeat.sum() < 2:
            raise CLVInputError(
                f"The Gamma-Gamma model needs at least 2 customers with repeat purchases, got {int(repeat.sum())}; "
                "use a longer calibration period or a population mean spend instead."
            )
        patterns, counts = aggregate_patterns([x[repeat], m[repeat]], w[repeat])
        px, pm = patterns.T
        # Fit in units of the median spend: gamma is a rate on the spend scale, so spend in the
        # thousands would put the optimum far from any starting point. Scaling spend by 1/s scales
        # gamma by 1/s and leaves p and q unchanged; the results are mapped back below.
        scale = float(np.median(pm)) if np.median(pm) > 0 else 1.0

        def loglik_and_grad(theta: np.ndarray, spend: np.ndarray = pm) -> tuple[float, np.ndarray]:
            ll, grad = _gamma_gamma_loglik_terms(theta, px, spend)
            return float(counts @ ll), counts @ grad

        def scaled_loglik_and_grad(theta: np.ndarray) -> tuple[float, np.ndarray]:
            return loglik_and_grad(theta, pm / scale)

        total = float(counts.sum())
        mean_spend = float(np.average(pm / scale, weights=counts))
        # starts: moderate heterogeneity; the mean p*gamma/(q-1) matches the observed mean spend
        starts = [
            np.array([1.0, 2.0, mean_spend]),
            np.array([5.0, 4.0, 0.6 * mean_spend]),
            np.array([1.0, 1.0, 1.0]),
        ]
        best = _minimize_negative_ll(scaled_loglik_and_grad, starts, total)
        theta_scaled = np.exp(best.x)
        errors, hessian_ok = _standard_errors(scaled_loglik_and_grad, theta_scaled)
        unscale = np.array([1.0, 1.0, scale])
        theta, errors = theta_scaled * unscale, np.asarray(errors) * unscale

        return _store_fit(self, theta, errors, loglik_and_grad(theta)[0], total, patterns.shape[0], best, hessian_ok)

    def population_mean_spend(self) -> float:
        """Mean transaction value across customers, ``E[M] = p * gamma / (q - 1)`` (needs ``q > 1``)."""
        _check_fitted(self)
        p, q, gamma = (self.params_[k] for k in self.parameter_names)
        if q <= 1:
            raise CLVInputError(
                f"The fitted q = {q:.3f} <= 1, so the population mean spend is infinite; the spend data are "
                "too heavy-tailed for the Gamma-Gamma model: cap outliers in the cleaning stage and refit."
            )
        return p * gamma / (q - 1)

    def conditional_expected_average_profit(
        self, frequency: ArrayLike, monetary_value: ArrayLike
    ) -> np.ndarray:
        """Expected mean transaction value given the history (FHL 2005 iso-value paper; Fader & Hardie 2013).

        ``E[M | x, m] = p (gamma + x m) / (p x + q - 1)
        = (q-1)/(px+q-1) * p gamma/(q-1) + px/(px+q-1) * m``: a weighted average of the population
        mean and the customer's own mean; the population mean when ``x = 0``.
        """
        _check_fitted(self)
        p, q, gamma = (self.params_[k] for k in self.parameter_names)
        x, m = _validate_spend(frequency, monetary_value)
        m = np.where(x > 0, m, 0.0)
        if np.any(x == 0):
            self.population_mean_spend()  # raises with a clear message when q <= 1
        return p * (gamma + x * m) / (p * x + q - 1)

    def spend_frequency_correlation(self, frequency: ArrayLike, monetary_value: ArrayLike) -> float:
        """Pearson correlation of frequency and mean spend among repeat buyers.

        The Gamma-Gamma model assumes spend independent of the purchase process (FHL 2005); a
        correlation far from 0 (the caller chooses the threshold) questions that. NaN when fewer than
        two repeat buyers or no variation. Does not need a fitted model.
        """
        x, m = _validate_spend(frequency, monetary_value)
        repeat = x > 0
        if repeat.sum() < 2 or np.ptp(x[repeat]) == 0 or np.ptp(m[repeat]) == 0:
            return float("nan")
        return float(np.corrcoef(x[repeat], m[repeat])[0, 1])

    def summary(self) -> dict[str, Any]:
        """The fitted model as a JSON-ready dict for ``models.json``."""
        return _fit_summary(self, "Gamma-Gamma", GAMMA_GAMMA_REFERENCE, currency=self.currency)


# --------------------------------------------------------------------------------------------------
# CLV
# --------------------------------------------------------------------------------------------------


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
    bgnbd: BetaGeoModel,
    gamma_gamma: GammaGammaModel,
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    monetary_value: ArrayLike,
    *,
    horizon_periods: int = 12,
    period_length: float = 30.0,
    annual_discount_rate: float = 0.10,
    margin: float | ArrayLike = 1.0,
    time_units_per_year: float = 365.0,
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
        Fitted models on the same customers and time unit.
    frequency, recency, T, monetary_value
        The customers' summary columns.
    horizon_periods
        Number of periods ``n`` (e.g. 12 months).
    period_length
        Length of a period in the model's time unit (30 for months in days; 30/7 in weeks).
    annual_discount_rate
        Yearly discount rate, converted to a per-period rate by compounding.
    margin
        Profit margin applied to spend, a scalar or one value per customer (1 = revenue).
    time_units_per_year
        365 when the time unit is days, 365/7 for weeks.

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
    bgnbd: BetaGeoModel,
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    *,
    horizon_periods: int = 12,
    period_length: float = 30.0,
    annual_discount_rate: float = 0.10,
    time_units_per_year: float = 365.0,
) -> np.ndarray:
    """Purchases expected in each period of the horizon, discounted: the CLV before spend and margin.

    ``sum_{i=1..n} (E[Y(i L) | x, t_x, T] - E[Y((i-1) L) | x, t_x, T]) / (1 + d)^i`` with the
    notation of :func:`customer_lifetime_value`, so that CLV = this × expected spend × margin.
    """
    if int(horizon_periods) != horizon_periods or horizon_periods < 1:
        raise CLVInputError(
            f"`horizon_periods` must be a whole number >= 1, got {horizon_periods}."
        )
    d = period_discount_rate(annual_discount_rate, period_length, time_units_per_year)
    cumulative_before: np.ndarray | float = 0.0
    value: np.ndarray | float = 0.0
    for i in range(1, int(horizon_periods) + 1):
        cumulative = bgnbd.conditional_expected_purchases(i * period_length, frequency, recency, T)
        value = value + (cumulative - cumulative_before) / (1.0 + d) ** i
        cumulative_before = cumulative
    return np.asarray(value, dtype=float)


# --------------------------------------------------------------------------------------------------
# holdout check
# --------------------------------------------------------------------------------------------------


def holdout_comparison(
    bgnbd: BetaGeoModel,
    frequency_cal: ArrayLike,
    recency_cal: ArrayLike,
    T_cal: ArrayLike,
    frequency_holdout: ArrayLike,
    duration_holdout: ArrayLike,
    *,
    max_bucket: int = 7,
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Actual vs predicted holdout purchases by calibration frequency (FHL 2005, Figure 4).

    Predicted purchases of a customer are ``E[Y(duration_holdout) | x, t_x, T]`` (eq. 10).

    Parameters
    ----------
    bgnbd
        Model fitted on the calibration period.
    frequency_cal, recency_cal, T_cal
        Calibration summary per customer.
    frequency_holdout
        Purchases observed in the holdout period per customer.
    duration_holdout
        Holdout length in the model's time unit, a scalar or one value per customer.
    max_bucket
        Calibration frequencies ``>= max_bucket`` share the last bucket, labelled ``"≥max_bucket"``.

    Returns
    -------
    table : pandas.DataFrame
        One row per bucket: ``calibration_purchases`` (label), ``n_customers``, ``actual_mean``,
        ``predicted_mean``; labels in :data:`HOLDOUT_LABELS`.
    figures : dict
        ``n_customers``, ``total_actual``, ``total_predicted``, ``total_relative_error``
        (predicted / actual - 1), ``mae_per_customer``, ``mape_bucket_means`` (mean of
        ``|predicted - actual| / actual`` over buckets with actual > 0), ``correlation`` (Pearson,
        per customer).
    """
    predicted = bgnbd.conditional_expected_purchases(
        duration_holdout, frequency_cal, recency_cal, T_cal
    )
    actual = _as_float_array(frequency_holdout, "frequency_holdout")
    if actual.size != predicted.size:
        raise CLVInputError(
            f"`frequency_holdout` has {actual.size} values for {predicted.size} customers; "
            "pass one value per calibration customer (0 for customers without holdout purchases)."
        )
    _require(~np.isfinite(actual) | (actual < 0), "`frequency_holdout` must be a finite count >= 0")
    x = np.broadcast_to(_as_float_array(frequency_cal, "frequency_cal"), predicted.shape)
    bucket = np.minimum(x, max_bucket).astype(int)
    frame = pd.DataFrame({"bucket": bucket, "actual": actual, "predicted": predicted})
    table = (
        frame.groupby("bucket", sort=True)
        .agg(
            n_customers=("actual", "size"),
            actual_mean=("actual", "mean"),
            predicted_mean=("predicted", "mean"),
        )
        .reset_index()
    )
    labels = [f"≥{max_bucket}" if b == max_bucket else str(b) for b in table["bucket"]]
    table.insert(0, "calibration_purchases", pd.Series(labels, dtype="string"))
    table = table.drop(columns="bucket")

    positive = table["actual_mean"] > 0
    ape = (table["predicted_mean"] - table["actual_mean"]).abs()[positive] / table["actual_mean"][
        positive
    ]
    total_actual, total_predicted = float(actual.sum()), float(predicted.sum())
    correlation = (
        float(np.corrcoef(actual, predicted)[0, 1])
        if actual.size > 1 and np.ptp(actual) > 0 and np.ptp(predicted) > 0
        else float("nan")
    )
    figures = {
        "n_customers": int(actual.size),
        "total_actual": total_actual,
        "total_predicted": total_predicted,
        "total_relative_error": total_predicted / total_actual - 1
        if total_actual > 0
        else float("nan"),
        "mae_per_customer": float(np.mean(np.abs(predicted - actual))),
        "mape_bucket_means": float(ape.mean()) if positive.any() else float("nan"),
        "correlation": correlation,
    }
    return table, figures


# --------------------------------------------------------------------------------------------------
# simulators
# --------------------------------------------------------------------------------------------------


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
