"""Pareto/NBD model of repeat purchasing (Schmittlein, Morrison & Colombo 1987): likelihood, fit, predictions.

Inputs follow lifetimes / PyMC-Marketing ``rfm_summary``, as for
:class:`~analysis.methods.clv.bgnbd.BetaGeoModel`: ``frequency`` is the number of repeat purchases,
``recency`` the age of the customer at the last purchase (0 when frequency is 0) and ``T`` the age
of the customer at the end of the calibration period, all in one time unit.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import special

from analysis.methods.clv.fitting import (
    NUMERICAL_STANDARD_ERROR_METHOD,
    PurchaseModel,
    _check_fitted,
    _distinct,
    _distinct_rows,
    _fit_summary,
    _log_hessian_from_values,
    _maximum_likelihood,
    _pattern_sample,
    _store_fit,
    _take,
    _with_numerical_gradient,
    aggregate_patterns,
)
from analysis.methods.clv.inputs import (
    ArrayLike,
    _validate_horizon,
    _validate_rfm,
    _validate_weights,
)

PARETO_NBD_REFERENCE = (
    "Schmittlein, Morrison & Colombo (1987), Counting your customers: who are they and what will they "
    "do next?, Management Science 33(1), 1-24; Fader & Hardie (2005), A note on deriving the "
    "Pareto/NBD model and related expressions, http://brucehardie.com/notes/009/"
)


def _log_tail(
    params: tuple[float, float, float, float], x: np.ndarray, v: np.ndarray
) -> np.ndarray:
    """``log G(v)``, the hypergeometric term of the Pareto/NBD likelihood at age ``v``.

    ``G(v) = 2F1(r+s+x, b; r+s+x+1; z) / (M+v)^(r+s+x)`` with, as in Fader & Hardie (2005),
    ``M = alpha, b = s+1, z = (alpha-beta)/(alpha+v)`` when ``alpha >= beta`` and
    ``M = beta, b = r+x, z = (beta-alpha)/(beta+v)`` when ``alpha < beta``; equivalently
    ``G(v) = (r+s+x) * integral_v^inf (alpha+u)^-(r+x) (beta+u)^-(s+1) du``.

    Evaluated in logs after Euler's transformation ``2F1(a, b; a+1; z) = (1-z)^(1-b)
    2F1(1, a+1-b; a+1; z)``, whose series has positive terms and lies between 1 and ``1/(1-z)``,
    so nothing overflows however large ``x`` or ``|alpha - beta|``:

    - ``alpha >= beta``: ``log G = -(r+x) log(alpha+v) - s log(beta+v) + log 2F1(1, r+x; r+s+x+1; z)``
    - ``alpha < beta``: ``log G = -(r+x-1) log(alpha+v) - (s+1) log(beta+v) + log 2F1(1, s+1; r+s+x+1; z)``
    """
    return _log_tail_of(params, x, *_age_terms(params, v))


def _age_terms(
    params: tuple[float, float, float, float], v: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``log(alpha+v)``, ``log(beta+v)`` and the argument ``z`` of :func:`_log_tail`: functions of the
    age alone, which the likelihood evaluates once per distinct age."""
    _, alpha, _, beta = params
    z = (alpha - beta) / (alpha + v) if alpha >= beta else (beta - alpha) / (beta + v)
    return np.log(alpha + v), np.log(beta + v), z


def _log_tail_of(
    params: tuple[float, float, float, float],
    x: np.ndarray,
    log_alpha_v: np.ndarray,
    log_beta_v: np.ndarray,
    z: np.ndarray,
) -> np.ndarray:
    """:func:`_log_tail` from its age terms (:func:`_age_terms`)."""
    r, alpha, s, beta = params
    c = r + s + x + 1.0
    if alpha >= beta:
        series = special.hyp2f1(1.0, r + x, c, z)
        return -(r + x) * log_alpha_v - s * log_beta_v + np.log(series)
    series = special.hyp2f1(1.0, s + 1.0, c, z)
    return -(r + x - 1.0) * log_alpha_v - (s + 1.0) * log_beta_v + np.log(series)


def _log_dropout_term(
    params: tuple[float, float, float, float],
    x: np.ndarray,
    log_tail_tx: np.ndarray,
    log_tail_T: np.ndarray,
) -> np.ndarray:
    """``log[s/(r+s+x) (G(t_x) - G(T))]``: the "dropped out in (t_x, T]" part of the likelihood.

    ``log(G(t_x) - G(T)) = log G(t_x) + log(1 - exp(log G(T) - log G(t_x)))``; ``-inf`` when
    ``t_x = T`` (the customer cannot have dropped out unseen).
    """
    r, _, s, _ = params
    return _log_dropout_of(np.log(s) - np.log(r + s + x), log_tail_tx, log_tail_T)


def _log_dropout_of(log_share: np.ndarray, log_tail_tx: np.ndarray, log_tail_T: np.ndarray) -> np.ndarray:
    """:func:`_log_dropout_term` from ``log_share = log(s/(r+s+x))``, a function of ``x`` alone."""
    gap = np.minimum(log_tail_T - log_tail_tx, 0.0)
    with np.errstate(divide="ignore"):
        return log_share + log_tail_tx + np.log(-np.expm1(gap))


def _pareto_nbd_loglik(
    params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> np.ndarray:
    """Per-row Pareto/NBD log-likelihood (Fader & Hardie 2005, eq. 22 and its hypergeometric form).

    ``L = G(r+x) alpha^r beta^s / G(r) * [(alpha+T)^-(r+x) (beta+T)^-s + s/(r+s+x) (G(t_x) - G(T))]``
    with ``G`` of :func:`_log_tail`, evaluated as ``log A + logsumexp(log E, log D)``.
    """
    r, alpha, s, beta = (float(v) for v in params)
    theta = (r, alpha, s, beta)
    log_a = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    log_alive = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    log_dead = _log_dropout_term(theta, x, _log_tail(theta, x, t_x), _log_tail(theta, x, T))
    return log_a + np.logaddexp(log_alive, log_dead)


class _ParetoNBDLikelihood:
    """Weighted Pareto/NBD log-likelihood of patterns ``(x, t_x, T)``.

    The sum of :func:`_pareto_nbd_loglik` with the hypergeometric terms ``G(T)`` and ``G(t_x)``
    evaluated once per distinct ``(x, age)`` pair (the pairs ``(x, T)`` and ``(x, t_x)`` together:
    ``G`` is one function of ``x`` and the age), the terms of the age alone once per distinct age
    and the gamma functions and ``log(s/(r+s+x))`` once per distinct ``x``. No analytic gradient:
    the derivatives of ``2F1`` in its parameters have no closed form, so the fit uses central
    differences (:func:`~analysis.methods.clv.fitting._with_numerical_gradient`).
    """

    def __init__(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, w: np.ndarray) -> None:
        self.w = w
        self.total = float(w.sum())
        self.ux, self.ix = _distinct(x)
        self.w_x = np.bincount(self.ix, weights=w, minlength=self.ux.size)
        pairs, pair_of_row = _distinct_rows([np.concatenate([x, x]), np.concatenate([T, t_x])])
        self.i_T, self.i_tx = pair_of_row[: x.size], pair_of_row[x.size :]
        self.pair_x = pairs[:, 0]
        self.ages, self.pair_age = _distinct(pairs[:, 1])

    def __call__(self, theta: np.ndarray) -> float:
        r, alpha, s, beta = (float(v) for v in theta)
        params = (r, alpha, s, beta)
        log_alpha, log_beta, z = (_take(term, self.pair_age) for term in _age_terms(params, self.ages))
        x = self.pair_x
        log_tail = _log_tail_of(params, x, log_alpha, log_beta, z)
        log_alive = _take(-(r + x) * log_alpha - s * log_beta, self.i_T)
        log_share = _take(np.log(s) - np.log(r + s + self.ux), self.ix)
        log_dead = _log_dropout_of(log_share, _take(log_tail, self.i_tx), _take(log_tail, self.i_T))
        ll = (
            self.w_x @ (special.gammaln(r + self.ux) - special.gammaln(r))
            + self.total * (r * np.log(alpha) + s * np.log(beta))
            # not BLAS's dot: on a vector per history it starts its threads at each of the fit's
            # hundreds of calls, and they hold the cores after it (840k customers: 3 s against 5 s)
            + np.einsum("i,i->", self.w, np.logaddexp(log_alive, log_dead))
        )
        return float(ll)


class ParetoNBDModel(PurchaseModel):
    """Pareto/NBD model of repeat purchasing (Schmittlein, Morrison & Colombo 1987).

    While active, a customer buys as a Poisson process with rate ``lambda ~ Gamma(r, alpha)``
    (shape ``r``, rate ``alpha``); the customer's unobserved lifetime is exponential with rate
    ``mu ~ Gamma(s, beta)``, independent of ``lambda``. Unlike the BG/NBD model, dropout can happen
    at any time, not only right after a purchase.

    Parameters
    ----------
    time_unit
        Unit of ``recency`` and ``T`` (e.g. ``"days"``, ``"weeks"``); recorded in :meth:`summary`.
        ``alpha`` and ``beta`` are expressed in this unit.

    Attributes
    ----------
    params_ : dict
        Maximum-likelihood estimates ``r, alpha, s, beta``.
    standard_errors_ : dict
        Asymptotic standard errors (:data:`standard_error_method`: the gradient is numerical).
    log_covariance_, covariance_ : numpy.ndarray
        Asymptotic covariance of ``log(r, alpha, s, beta)`` and of ``(r, alpha, s, beta)``, as in
        :class:`~analysis.methods.clv.bgnbd.BetaGeoModel`.
    log_likelihood_ : float
        Maximised log-likelihood, the weighted sum of Fader & Hardie (2005) eq. 22 over customers.
    n_customers_, n_patterns_, converged_, message_
        As in :class:`~analysis.methods.clv.bgnbd.BetaGeoModel`.
    """

    parameter_names = ("r", "alpha", "s", "beta")
    standard_error_method = NUMERICAL_STANDARD_ERROR_METHOD

    # ---------------------------------------------------------------------------------------- fit
    def fit(
        self,
        frequency: ArrayLike,
        recency: ArrayLike,
        T: ArrayLike,
        *,
        weights: ArrayLike | None = None,
        time_unit: str | None = None,
    ) -> ParetoNBDModel:
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
        L-BFGS-B on ``log(theta)`` with a central-difference gradient, from up to three
        deterministic starts scaled to the data, then Newton steps with the observed information
        (:func:`~analysis.methods.clv.fitting._maximum_likelihood`), here the Hessian of
        second differences of the log-likelihood
        (:func:`~analysis.methods.clv.fitting._log_hessian_from_values`). Each evaluation costs one
        ``2F1`` per distinct ``(x, T)`` and ``(x, t_x)`` pair, so the fit is slower than the
        BG/NBD fit on the same data. With many patterns, L-BFGS-B runs on a systematic sample of
        them first, and Newton steps on all of them go from its optimum
        (:func:`~analysis.methods.clv.fitting._newton_from_value_pilot`); L-BFGS-B on all of them
        remains the fallback. At 543k patterns: 240 evaluations of the full likelihood → about 85.
        """
        if time_unit is not None:
            self.time_unit = time_unit
        x, t_x, age = _validate_rfm(frequency, recency, T)
        w = _validate_weights(weights, x.size)
        patterns, counts = aggregate_patterns([x, t_x, age], w)
        px, pt, pT = patterns.T
        loglik = _ParetoNBDLikelihood(px, pt, pT, counts)
        loglik_and_grad = _with_numerical_gradient(loglik)

        total = float(counts.sum())
        mean_T = float(np.average(pT, weights=counts)) or 1.0
        mean_rate = (np.average(px, weights=counts) + 0.1) / mean_T
        starts = [
            np.array([1.0, 1.0 / mean_rate, 1.0, mean_T]),
            np.array([0.5, 0.5 / mean_rate, 0.5, 0.5 * mean_T]),
            np.array([1.0, 1.0, 1.0, 1.0]),
        ]
        sample = _pattern_sample(counts.size)
        pilot = None if sample is None else _ParetoNBDLikelihood(px[sample], pt[sample], pT[sample], counts[sample])
        fit = _maximum_likelihood(
            loglik_and_grad, starts, total, hessian=lambda lp: _log_hessian_from_values(loglik, lp),
            value_pilot=None if pilot is None else (pilot, pilot.total),
        )
        return _store_fit(self, fit, total, patterns.shape[0])

    def _theta(self) -> tuple[float, float, float, float]:
        _check_fitted(self)
        return tuple(self.params_[k] for k in self.parameter_names)  # type: ignore[return-value]

    # -------------------------------------------------------------------------------- predictions
    def _log_odds_dead_of_pairs(
        self, pair_x: np.ndarray, pair_age: np.ndarray, of_age: np.ndarray, of_recency: np.ndarray
    ) -> np.ndarray:
        """The two terms of the likelihood, dropped out in ``(t_x, T]`` against alive at ``T``, with the
        hypergeometric tail once per pair (see
        :meth:`~analysis.methods.clv.fitting.PurchaseModel._log_odds_dead_of_pairs`)."""
        params = self._theta()
        r, alpha, s, beta = params
        tail = _log_tail(params, pair_x, pair_age)
        log_alive = -(r + pair_x) * np.log(alpha + pair_age) - s * np.log(beta + pair_age)
        log_dead = _log_dropout_term(params, pair_x[of_age], tail[of_recency], tail[of_age])
        return log_dead - log_alive[of_age]

    def conditional_probability_alive(
        self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> np.ndarray:
        """P(alive at T | x, t_x, T), Fader & Hardie (2005) eq. 23 / SMC (1987) eq. 11.

        ``P = 1 / (1 + s/(r+s+x) (alpha+T)^(r+x) (beta+T)^s (G(t_x) - G(T)))``, with ``G`` as in the
        likelihood; 1 when ``t_x = T``.
        """
        x, t_x, age = _validate_rfm(frequency, recency, T)
        return special.expit(-self._log_odds_dead(x, t_x, age))

    def conditional_expected_purchases(
        self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> np.ndarray:
        """Expected purchases in ``(T, T + t]`` given the history, Fader & Hardie (2005) eq. 26.

        ``E[Y(t) | x, t_x, T] = (r+x)(beta+T) / ((alpha+T)(s-1)) [1 - ((beta+T)/(beta+T+t))^(s-1)]
        * P(alive)``; for ``s = 1`` the bracket divided by ``s - 1`` is ``log(1 + t/(beta+T))``.
        """
        x, t_x, age = _validate_rfm(frequency, recency, T)
        t_arr = _validate_horizon(t)
        x, t_x, age, t_arr = np.broadcast_arrays(x, t_x, age, t_arr)
        if_alive = self._expected_purchases_if_alive(t_arr, x, age)
        return if_alive * special.expit(-self._log_odds_dead(x, t_x, age))

    def _expected_purchases_if_alive(self, t: np.ndarray, x: np.ndarray, age: np.ndarray) -> np.ndarray:
        """Expected purchases in ``(T, T + t]`` of a customer alive at ``T``: eq. 26 without P(alive).

        It depends on ``(x, T)`` only, not on ``t_x``: interval computations evaluate it once per
        distinct ``(x, T)`` pair. Inputs are checked arrays that broadcast together.
        """
        r, alpha, s, beta = self._theta()
        return (r + x) * (beta + age) / (alpha + age) * _lifetime_factor(s, t / (beta + age))

    def expected_purchases(self, t: ArrayLike) -> np.ndarray:
        """Expected repeat purchases of a new customer in ``(0, t]``, SMC (1987) eq. 17.

        ``E[X(t)] = r beta / (alpha (s-1)) [1 - (beta/(beta+t))^(s-1)]`` (``log(1 + t/beta)`` in
        place of the bracket over ``s - 1`` when ``s = 1``).
        """
        r, alpha, s, beta = self._theta()
        t_arr = _validate_horizon(t)
        return r * beta / alpha * _lifetime_factor(s, t_arr / beta)

    def summary(self) -> dict[str, Any]:
        """The fitted model as a JSON-ready dict for ``models.json``."""
        return _fit_summary(self, "Pareto/NBD", PARETO_NBD_REFERENCE, time_unit=self.time_unit)


def _lifetime_factor(s: float, u: np.ndarray) -> np.ndarray:
    """``[1 - (1+u)^-(s-1)] / (s-1)``, the expected remaining lifetime factor; ``log(1+u)`` at ``s = 1``.

    Written as ``-expm1(-(s-1) log1p(u)) / (s-1)``, accurate for ``s`` near 1 as well.
    """
    k = np.log1p(u)
    if abs(s - 1.0) < 1e-12:
        return k
    return -np.expm1(-(s - 1.0) * k) / (s - 1.0)
