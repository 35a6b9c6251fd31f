"""BG/NBD model of repeat purchasing (Fader, Hardie & Lee 2005): likelihood, fit, predictions.

Inputs follow lifetimes / PyMC-Marketing ``rfm_summary``: ``frequency`` is the number of repeat
purchases, ``recency`` the age of the customer at the last purchase (0 when frequency is 0) and ``T``
the age of the customer at the end of the calibration period, all in one time unit.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import special

from analysis.methods.clv import gauss_series
from analysis.methods.clv.fitting import (
    PurchaseModel,
    _check_fitted,
    _distinct,
    _dot,
    _fit_summary,
    _maximum_likelihood,
    _pattern_sample,
    _store_fit,
    _take,
    aggregate_patterns,
)
from analysis.methods.clv.inputs import (
    ArrayLike,
    _validate_horizon,
    _validate_rfm,
    _validate_weights,
)

BGNBD_REFERENCE = (
    'Fader, Hardie & Lee (2005), "Counting your customers" the easy way: an alternative to the '
    "Pareto/NBD model, Marketing Science 24(2), 275-284"
)


def _bgnbd_loglik_terms(
    params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-row BG/NBD log-likelihood and its gradient in (r, alpha, a, b): the reference form.

    FHL (2005) eq. 6:
    ``L = B(a, b+x)/B(a, b) * G(r+x) alpha^r / (G(r) (alpha+T)^(r+x))
    + [x > 0] B(a+1, b+x-1)/B(a, b) * G(r+x) alpha^r / (G(r) (alpha+t_x)^(r+x))``,
    evaluated as ``log A + logsumexp(term1, term2)``. The fit uses :class:`_BGNBDLikelihood`, the
    same sum arranged so that each special function is evaluated once per distinct value; this
    row-by-row form is kept as the independent reference the tests compare it with.
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


class _BGNBDLikelihood:
    """Weighted BG/NBD log-likelihood of patterns ``(x, t_x, T)`` and its analytic gradient.

    FHL (2005) eq. 6 factorises as ``L = A(x) * [B1(x) (alpha+T)^-(r+x)] * (1 + e^d)`` with
    ``A = G(r+x) alpha^r / G(r)``, ``B1 = B(a, b+x) / B(a, b)`` and, for ``x > 0``, the log-odds of
    the "dropped out at t_x" term against the "alive at T" term

    ``d = log(a / (b+x-1)) - (r+x) log((alpha+t_x) / (alpha+T))``

    (``B(a+1, b+x-1) / B(a, b+x) = a / (b+x-1)``), ``d = -inf`` when ``x = 0``. So

    ``sum_i w_i ll_i = sum_x W_x [log A(x) + log B1(x)] - sum_T log(alpha+T) sum_{i: T_i = T} w_i (r+x_i)
    + sum_{i: x_i > 0} w_i softplus(d_i)``:

    the gamma and beta functions are evaluated once per distinct ``x`` and ``log(alpha+T)``,
    ``log(alpha+t_x)`` once per distinct ``T`` and ``t_x``, against weight totals formed once; per
    pattern with ``x > 0`` only ``d``, its softplus and sigmoid remain. The gradient follows with
    ``sigmoid(d) = w2``, the posterior weight of the dropped-out term:

    - ``d/dr = sum w [psi(r+x) - psi(r) + log alpha - log(alpha+T)] - sum w w2 log((alpha+t_x)/(alpha+T))``
    - ``d/dalpha = sum w [r/alpha - (r+x)/(alpha+T)] - sum w w2 (r+x) [1/(alpha+t_x) - 1/(alpha+T)]``
    - ``d/da = sum w [psi(a+b) - psi(a+b+x)] + sum w w2 / a``
    - ``d/db = sum w [psi(a+b) - psi(b) + psi(b+x) - psi(a+b+x)] - sum w w2 / (b+x-1)``
    """

    def __init__(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, w: np.ndarray) -> None:
        self.total = float(w.sum())
        self.ux, ix = _distinct(x)
        self.w_x = np.bincount(ix, weights=w, minlength=self.ux.size)
        self.uT, iT = _distinct(T)
        self.w_T = np.bincount(iT, weights=w, minlength=self.uT.size)
        self.wx_T = np.bincount(iT, weights=w * x, minlength=self.uT.size)
        repeat = x > 0
        self.rep_ux, self.rep_ix = _distinct(x[repeat])
        self.rep_ut, self.rep_it = _distinct(t_x[repeat])
        self.rep_iT = iT[repeat]
        self.rep_x = x[repeat]
        self.rep_w = w[repeat]

    def __call__(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """Log-likelihood and its gradient in ``(r, alpha, a, b)``."""
        ll, grad, _ = self._evaluate(theta, hessian=False)
        return ll, grad

    def with_hessian(self, theta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """Log-likelihood, its gradient and its Hessian in ``(r, alpha, a, b)``.

        With ``s = w w2`` and ``v = w w2 (1 - w2)`` per pattern with ``x > 0``, the softplus sum
        adds ``sum v (dd)(dd)' + sum s d2d`` to the Hessian of the per-value terms, where
        ``dd = (-L, -(r+x) D, 1/a, -1/(b+x-1))`` is the gradient of ``d``, ``L = log((alpha+t_x)/(alpha+T))``,
        ``D = 1/(alpha+t_x) - 1/(alpha+T)``, and its second derivatives are
        ``d2d/dr dalpha = -D``, ``d2d/dalpha2 = (r+x) [(alpha+t_x)^-2 - (alpha+T)^-2]``,
        ``d2d/da2 = -1/a^2``, ``d2d/db2 = (b+x-1)^-2``. Per distinct value:
        ``d2/dr2 = sum_x W_x psi'(r+x) - W psi'(r)``, ``d2/dr dalpha = W/alpha - sum_T W_T/(alpha+T)``,
        ``d2/dalpha2 = -W r/alpha^2 + sum_T (r W_T + X_T)/(alpha+T)^2``,
        ``d2/da2 = d2/da db = W psi'(a+b) - sum_x W_x psi'(a+b+x)`` and
        ``d2/db2 = W [psi'(a+b) - psi'(b)] + sum_x W_x [psi'(b+x) - psi'(a+b+x)]``.
        """
        return self._evaluate(theta, hessian=True)

    def _evaluate(self, theta: np.ndarray, hessian: bool) -> tuple[float, np.ndarray, np.ndarray | None]:
        r, alpha, a, b = (float(v) for v in theta)
        psi, ux, total = special.digamma, self.ux, self.total
        # terms of one variable, once per distinct value
        log_ab = special.betaln(a, b + ux) - special.betaln(a, b)
        log_rx = special.gammaln(r + ux) - special.gammaln(r)
        log_alpha_T = np.log(alpha + self.uT)
        inv_alpha_T = 1.0 / (alpha + self.uT)
        weight_rx_T = r * self.w_T + self.wx_T
        ll = self.w_x @ (log_rx + log_ab) + total * r * np.log(alpha) - log_alpha_T @ weight_rx_T
        d_r = self.w_x @ psi(r + ux) - total * (psi(r) - np.log(alpha)) - log_alpha_T @ self.w_T
        d_alpha = total * r / alpha - inv_alpha_T @ weight_rx_T
        psi_abx = psi(a + b + ux)
        d_a = total * psi(a + b) - self.w_x @ psi_abx
        d_b = total * (psi(a + b) - psi(b)) + self.w_x @ (psi(b + ux) - psi_abx)
        hess = None
        if hessian:
            trigamma_abx = special.polygamma(1, a + b + ux)
            trigamma_ab = float(special.polygamma(1, a + b))
            h_aa = total * trigamma_ab - self.w_x @ trigamma_abx
            hess = np.array([
                [self.w_x @ special.polygamma(1, r + ux) - total * float(special.polygamma(1, r)),
                 total / alpha - inv_alpha_T @ self.w_T, 0.0, 0.0],
                [0.0, -total * r / alpha**2 + (inv_alpha_T * inv_alpha_T) @ weight_rx_T, 0.0, 0.0],
                [0.0, 0.0, h_aa, h_aa],
                [0.0, 0.0, 0.0, total * (trigamma_ab - float(special.polygamma(1, b)))
                 + self.w_x @ (special.polygamma(1, b + ux) - trigamma_abx)],
            ])
        if self.rep_x.size:
            # per pattern with x > 0: log-odds d, softplus(d) = log(1 + e^d) and, weighted by w,
            # w2 = sigmoid(d) = exp(d - softplus(d)); in place, as these arrays are the fit's cost
            log_ratio = _take(np.log(alpha + self.rep_ut), self.rep_it)
            log_ratio -= _take(log_alpha_T, self.rep_iT)
            rx = r + self.rep_x
            inv_b = 1.0 / (b + self.rep_ux - 1)
            d = _take(np.log(a) - np.log(b + self.rep_ux - 1), self.rep_ix)
            d -= rx * log_ratio
            softplus = np.abs(d)
            np.negative(softplus, out=softplus)
            np.exp(softplus, out=softplus)
            np.log1p(softplus, out=softplus)
            softplus += np.maximum(d, 0.0)
            w2 = np.subtract(d, softplus, out=d)
            np.exp(w2, out=w2)
            if hessian:
                # v = w w2 (1 - w2), before w2 is weighted in place below
                v = np.subtract(1.0, w2)
                v *= w2
                v *= self.rep_w
            w2 *= self.rep_w
            ll += _dot(self.rep_w, softplus)
            inv_t = 1.0 / (alpha + self.rep_ut)
            inv_diff = _take(inv_t, self.rep_it)
            inv_diff -= _take(inv_alpha_T, self.rep_iT)
            inv_b_rows = _take(inv_b, self.rep_ix)  # 1/(b+x-1) per pattern: -d(d)/db
            sum_w2 = w2.sum()
            d_r -= _dot(w2, log_ratio)
            rx_diff = np.multiply(rx, inv_diff, out=rx)  # (r+x) D: -d(d)/dalpha
            d_alpha -= _dot(w2, rx_diff)
            d_a += sum_w2 / a
            d_b -= _dot(w2, inv_b_rows)
            if hessian:
                v_log = v * log_ratio
                v_rx_diff = v * rx_diff
                v_inv_b = v * inv_b_rows
                sq_diff = _take(inv_t * inv_t, self.rep_it)
                sq_diff -= _take(inv_alpha_T * inv_alpha_T, self.rep_iT)
                rx_sq_diff = np.multiply(sq_diff, r + self.rep_x, out=sq_diff)
                hess[0, 0] += _dot(v_log, log_ratio)
                hess[0, 1] += _dot(v_log, rx_diff) - _dot(w2, inv_diff)
                hess[1, 1] += _dot(v_rx_diff, rx_diff) + _dot(w2, rx_sq_diff)
                hess[0, 2] -= v_log.sum() / a
                hess[0, 3] += _dot(v_log, inv_b_rows)
                hess[1, 2] -= v_rx_diff.sum() / a
                hess[1, 3] += _dot(v_rx_diff, inv_b_rows)
                hess[2, 2] += (v.sum() - sum_w2) / a**2
                hess[2, 3] -= v_inv_b.sum() / a
                hess[3, 3] += _dot(v_inv_b, inv_b_rows) + _dot(w2, inv_b_rows * inv_b_rows)
        if hess is not None:
            hess = np.triu(hess) + np.triu(hess, 1).T
        return float(ll), np.array([d_r, d_alpha, d_a, d_b]), hess


class BetaGeoModel(PurchaseModel):
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
    log_covariance_ : numpy.ndarray
        Asymptotic covariance of ``log(r, alpha, a, b)``: the inverse observed information in
        log-parameters (rows and columns in :attr:`parameter_names` order; NaN when the Hessian is
        not positive definite). :mod:`~analysis.methods.clv.intervals` draws from it.
    covariance_ : numpy.ndarray
        The same mapped to ``(r, alpha, a, b)`` by the delta method; its diagonal is the square of
        ``standard_errors_``.
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
        Damped Newton steps on ``log(theta)`` with the analytic gradient and Hessian of
        :class:`_BGNBDLikelihood`, from the optimum of the same likelihood on a systematic sample
        of the patterns (itself from the first of three deterministic points scaled to the data
        that converges); should they not converge, L-BFGS-B from those points takes over
        (:func:`~analysis.methods.clv.fitting._maximum_likelihood`). The Hessian at the optimum is
        the observed information of the standard errors.
        """
        if time_unit is not None:
            self.time_unit = time_unit
        x, t_x, age = _validate_rfm(frequency, recency, T)
        w = _validate_weights(weights, x.size)
        patterns, counts = aggregate_patterns([x, t_x, age], w)
        px, pt, pT = patterns.T
        loglik_and_grad = _BGNBDLikelihood(px, pt, pT, counts)

        total = float(counts.sum())
        mean_rate = (np.average(px, weights=counts) + 0.1) / np.average(pT, weights=counts)
        starts = [
            np.array([1.0, 1.0 / mean_rate, 1.0, 1.0]),
            np.array([0.5, 0.5 / mean_rate, 1.0, 3.0]),
            np.array([1.0, 1.0, 1.0, 1.0]),
        ]
        sample = _pattern_sample(counts.size)
        pilot = None
        if sample is not None:
            pilot_likelihood = _BGNBDLikelihood(px[sample], pt[sample], pT[sample], counts[sample])
            pilot = (pilot_likelihood.with_hessian, pilot_likelihood.total)
        fit = _maximum_likelihood(
            loglik_and_grad, starts, total, second_order=loglik_and_grad.with_hessian, pilot=pilot
        )
        return _store_fit(self, fit, total, patterns.shape[0])

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

    def _log_odds_dead_of_pairs(
        self, pair_x: np.ndarray, pair_age: np.ndarray, of_age: np.ndarray, of_recency: np.ndarray
    ) -> np.ndarray:
        """``log(a / (b + x - 1)) + (r + x) log((alpha + T) / (alpha + t_x))``, ``-inf`` without repeat
        purchases (see :meth:`~analysis.methods.clv.fitting.PurchaseModel._log_odds_dead_of_pairs`)."""
        r, alpha, a, b = self._theta()
        repeat = pair_x > 0
        log_age = np.log(alpha + pair_age)
        # -inf plus the finite age term stays -inf: P(alive) = 1 without a repeat purchase
        of_x = np.where(repeat, np.log(a) - np.log(b + np.where(repeat, pair_x, 1.0) - 1), -np.inf)
        return of_x[of_age] + (r + pair_x)[of_age] * (log_age[of_age] - log_age[of_recency])

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
        x, t_x, age = _validate_rfm(frequency, recency, T)
        t_arr = _validate_horizon(t)
        x, t_x, age, t_arr = np.broadcast_arrays(x, t_x, age, t_arr)
        expected_if_alive = self._expected_purchases_if_alive(t_arr, x, age)
        return expected_if_alive / (1.0 + np.exp(self._log_odds_dead(x, t_x, age)))

    def _expected_purchases_if_alive(self, t: np.ndarray, x: np.ndarray, age: np.ndarray) -> np.ndarray:
        """Expected purchases in ``(T, T + t]`` of a customer alive at ``T``: FHL (2005) eq. 10 without P(alive).

        It depends on ``(x, T)`` only, not on ``t_x``: the CLV and its intervals evaluate it once per
        distinct ``(x, T)`` pair and period end (:meth:`_expected_purchases_if_alive_by_end`). Inputs
        are checked arrays that broadcast together.
        """
        return gauss_series.if_alive_by_hyp2f1(t, x, age, *self._theta())

    def _expected_purchases_if_alive_by_end(self, ends: np.ndarray, x: np.ndarray, age: np.ndarray) -> np.ndarray:
        """:meth:`_expected_purchases_if_alive` at each of the period ends ``ends`` (rows) for each pair
        ``(x, age)`` (columns), by the compiled Gauss series (:mod:`~analysis.methods.clv.gauss_series`)."""
        return gauss_series.if_alive_by_end(ends, x, age, *self._theta())

    def expected_purchases(self, t: ArrayLike) -> np.ndarray:
        """Expected repeat purchases of a new customer in ``(0, t]``, FHL (2005) eq. 7.

        ``E[X(t)] = (a+b-1)/(a-1) * [1 - (alpha/(alpha+t))^r * 2F1(r, b; a+b-1; t/(alpha+t))]``
        """
        # a new customer's purchases are those of a live customer of age 0 without repeat purchases
        return gauss_series.if_alive_by_hyp2f1(_validate_horizon(t), 0.0, 0.0, *self._theta())

    def summary(self) -> dict[str, Any]:
        """The fitted model as a JSON-ready dict for ``models.json``."""
        return _fit_summary(self, "BG/NBD", BGNBD_REFERENCE, time_unit=self.time_unit)
