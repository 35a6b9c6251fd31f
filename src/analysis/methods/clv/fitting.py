"""Maximum-likelihood machinery shared by the BG/NBD and Gamma-Gamma fits.

Both models are fitted by maximum likelihood with :func:`scipy.optimize.minimize` on the logarithm of
their parameters, with analytic gradients. Customers with the same summary row are aggregated to one
weighted row first (:func:`aggregate_patterns`), so the cost of a fit grows with the number of
distinct patterns, not of customers, and the result does not depend on row order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy import optimize
from sklearn.exceptions import NotFittedError

from analysis.methods.clv.inputs import CLVInputError

STANDARD_ERROR_METHOD = (
    "inverse of the observed information: central-difference Hessian of the analytic gradient of the "
    "negative log-likelihood in log-parameter space, mapped to the original parameters by the delta method"
)

_LOG_BOUND = 20.0  # optimiser bounds on log-parameters


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
