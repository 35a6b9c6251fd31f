"""Gamma-Gamma model of the mean value of repeat purchases (Colombo & Jiang 1999; FHL 2005).

``monetary_value`` is the mean value of a customer's repeat purchases; only customers with
``frequency > 0`` enter the fit.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
from scipy import special

from analysis.methods.clv.fitting import (
    _check_fitted,
    _distinct,
    _dot,
    _fit_summary,
    _maximum_likelihood,
    _pattern_sample,
    _store_fit,
    aggregate_patterns,
)
from analysis.methods.clv.inputs import (
    ArrayLike,
    CLVInputError,
    _as_float_array,
    _check_same_length,
    _require,
    _validate_frequency,
    _validate_weights,
)

GAMMA_GAMMA_REFERENCE = (
    "Fader, Hardie & Lee (2005), RFM and CLV: using iso-value curves for customer base analysis, "
    "Journal of Marketing Research 42(4), 415-430; Colombo & Jiang (1999)"
)


def _gamma_gamma_loglik_terms(
    params: np.ndarray, x: np.ndarray, m: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-row Gamma-Gamma log-likelihood of the mean spend and its gradient in (p, q, gamma).

    Density of the mean ``m`` of ``x`` transactions (FHL 2005 iso-value paper; Fader & Hardie 2013,
    note 025):
    ``f(m | x) = G(px+q) / (G(px) G(q)) * gamma^q * x^(px) * m^(px-1) / (gamma + x m)^(px+q)``.
    All constant terms are kept, so the sum reproduces the published log-likelihood (-4055.92 on CDNOW).
    The fit uses :class:`_GammaGammaLikelihood`, the same sum with the gamma functions once per
    distinct ``x``; this row-by-row form is the reference the tests compare it with.
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


class _GammaGammaLikelihood:
    """Weighted Gamma-Gamma log-likelihood of patterns ``(x, m)``, ``x > 0``, and its gradient.

    The sum of :func:`_gamma_gamma_loglik_terms` over patterns with weights ``w`` is

    ``sum_x W_x [G'(px+q) - G'(px)] - W G'(q) + W q log gamma + p S - sum w log m
    - sum w (px+q) log(gamma + x m)``

    with ``G' = log G``, ``W_x`` the weight of each distinct ``x``, ``W`` the total and
    ``S = sum w x (log m + log x)``: the gamma functions are evaluated once per distinct ``x``,
    the data-only sums once, and per pattern only ``log(gamma + x m)`` and ``1 / (gamma + x m)``
    remain. Gradient:

    - ``d/dp = sum_x W_x x [psi(px+q) - psi(px)] + S - sum w x log(gamma + x m)``
    - ``d/dq = sum_x W_x psi(px+q) - W psi(q) + W log gamma - sum w log(gamma + x m)``
    - ``d/dgamma = W q / gamma - sum w (px+q) / (gamma + x m)``
    """

    def __init__(self, x: np.ndarray, m: np.ndarray, w: np.ndarray) -> None:
        self.total = float(w.sum())
        self.ux, ix = _distinct(x)
        self.w_x = np.bincount(ix, weights=w, minlength=self.ux.size)
        log_m = np.log(m)
        self.sum_x_log_mx = float((w * x) @ (log_m + np.log(x)))
        self.sum_log_m = float(w @ log_m)
        self.xm = x * m
        self.w = w
        self.wx = w * x

    def __call__(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """Log-likelihood and its gradient in ``(p, q, gamma)``."""
        ll, grad, _ = self._evaluate(theta, hessian=False)
        return ll, grad

    def with_hessian(self, theta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """Log-likelihood, its gradient and its Hessian in ``(p, q, gamma)``:

        - ``d2/dp2 = sum_x W_x x^2 [psi'(px+q) - psi'(px)]``, ``d2/dp dq = sum_x W_x x psi'(px+q)``,
          ``d2/dq2 = sum_x W_x psi'(px+q) - W psi'(q)``;
        - ``d2/dp dgamma = -sum w x / (gamma + x m)``, ``d2/dq dgamma = W / gamma - sum w / (gamma + x m)``,
          ``d2/dgamma2 = -W q / gamma^2 + sum w (px+q) / (gamma + x m)^2``.
        """
        return self._evaluate(theta, hessian=True)

    def _evaluate(self, theta: np.ndarray, hessian: bool) -> tuple[float, np.ndarray, np.ndarray | None]:
        p, q, gamma = (float(v) for v in theta)
        px = p * self.ux
        total_spend = self.xm + gamma
        log_total = np.log(total_spend)
        inv_total = np.reciprocal(total_spend, out=total_spend)
        sum_log, sum_x_log = _dot(self.w, log_total), _dot(self.wx, log_total)
        sum_inv, sum_x_inv = _dot(self.w, inv_total), _dot(self.wx, inv_total)
        ll = (
            self.w_x @ (special.gammaln(px + q) - special.gammaln(px))
            + self.total * (q * np.log(gamma) - special.gammaln(q))
            + p * self.sum_x_log_mx
            - self.sum_log_m
            - p * sum_x_log
            - q * sum_log
        )
        psi_sum = special.digamma(px + q)
        d_p = (self.w_x * self.ux) @ (psi_sum - special.digamma(px)) + self.sum_x_log_mx - sum_x_log
        d_q = self.w_x @ psi_sum + self.total * (np.log(gamma) - special.digamma(q)) - sum_log
        d_gamma = self.total * q / gamma - p * sum_x_inv - q * sum_inv
        hess = None
        if hessian:
            inv_sq = np.multiply(inv_total, inv_total, out=inv_total)
            w_x_x = self.w_x * self.ux
            trigamma_sum = special.polygamma(1, px + q)
            h_pq = w_x_x @ trigamma_sum
            h_pg = -sum_x_inv
            h_qg = self.total / gamma - sum_inv
            hess = np.array([
                [(w_x_x * self.ux) @ (trigamma_sum - special.polygamma(1, px)), h_pq, h_pg],
                [h_pq, self.w_x @ trigamma_sum - self.total * float(special.polygamma(1, q)), h_qg],
                [h_pg, h_qg,
                 -self.total * q / gamma**2 + p * _dot(self.wx, inv_sq) + q * _dot(self.w, inv_sq)],
            ])
        return float(ll), np.array([d_p, d_q, d_gamma]), hess


def _validate_spend(
    frequency: ArrayLike, monetary_value: ArrayLike
) -> tuple[np.ndarray, np.ndarray]:
    x = _as_float_array(frequency, "frequency")
    m = _as_float_array(monetary_value, "monetary_value")
    _check_same_length(frequency=x, monetary_value=m)
    x, m = np.broadcast_arrays(x, m)
    _validate_frequency(x)
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
    standard_errors_, log_covariance_, covariance_, log_likelihood_, n_customers_, n_patterns_, converged_, message_
        As in :class:`analysis.methods.clv.bgnbd.BetaGeoModel`; only customers with ``frequency > 0`` enter the fit.
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
        # gamma by 1/s, leaves p and q unchanged and lowers the log-likelihood by log(s) per
        # customer (the density of m is that of m/s divided by s); the results are mapped back below.
        scale = float(np.median(pm)) if np.median(pm) > 0 else 1.0
        loglik_and_grad = _GammaGammaLikelihood(px, pm / scale, counts)

        total = float(counts.sum())
        mean_spend = float(np.average(pm / scale, weights=counts))
        # starts: moderate heterogeneity; the mean p*gamma/(q-1) matches the observed mean spend
        starts = [
            np.array([1.0, 2.0, mean_spend]),
            np.array([5.0, 4.0, 0.6 * mean_spend]),
            np.array([1.0, 1.0, 1.0]),
        ]
        sample = _pattern_sample(counts.size)
        pilot = None
        if sample is not None:
            pilot_likelihood = _GammaGammaLikelihood(px[sample], pm[sample] / scale, counts[sample])
            pilot = (pilot_likelihood.with_hessian, pilot_likelihood.total)
        fit = _maximum_likelihood(
            loglik_and_grad, starts, total, second_order=loglik_and_grad.with_hessian, pilot=pilot
        )
        # log_covariance needs no mapping: log(gamma) moves by the constant log(scale)
        unscale = np.array([1.0, 1.0, scale])
        fit = replace(
            fit,
            theta=fit.theta * unscale,
            standard_errors=fit.standard_errors * unscale,
            log_likelihood=fit.log_likelihood - total * np.log(scale),
        )
        return _store_fit(self, fit, total, patterns.shape[0])

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
        x, m = _validate_spend(frequency, monetary_value)
        m = np.where(x > 0, m, 0.0)
        if np.any(x == 0):
            self.population_mean_spend()  # raises with a clear message when q <= 1
        return self._expected_spend(x, m)

    def _expected_spend(self, x: np.ndarray, m: np.ndarray) -> np.ndarray:
        """``E[M | x, m]`` on checked arrays (``m = 0`` where ``x = 0``), for repeated evaluation."""
        p, q, gamma = (self.params_[k] for k in self.parameter_names)
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
