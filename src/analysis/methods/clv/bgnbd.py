"""BG/NBD model of repeat purchasing (Fader, Hardie & Lee 2005): likelihood, fit, predictions.

Inputs follow lifetimes / PyMC-Marketing ``rfm_summary``: ``frequency`` is the number of repeat
purchases, ``recency`` the age of the customer at the last purchase (0 when frequency is 0) and ``T``
the age of the customer at the end of the calibration period, all in one time unit.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import special

from analysis.methods.clv.fitting import (
    _check_fitted,
    _fit_summary,
    _minimize_negative_ll,
    _standard_errors,
    _store_fit,
    aggregate_patterns,
)
from analysis.methods.clv.inputs import (
    ArrayLike,
    _as_float_array,
    _check_same_length,
    _require,
    _validate_weights,
)

BGNBD_REFERENCE = (
    'Fader, Hardie & Lee (2005), "Counting your customers" the easy way: an alternative to the '
    "Pareto/NBD model, Marketing Science 24(2), 275-284"
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
        Asymptotic standard errors (see :data:`analysis.methods.clv.fitting.STANDARD_ERROR_METHOD`).
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
