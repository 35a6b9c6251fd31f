"""Maximum-likelihood machinery shared by the CLV model fits (BG/NBD, Pareto/NBD, Gamma-Gamma).

The models are fitted by maximum likelihood on the logarithm of their parameters. The BG/NBD and
Gamma-Gamma likelihoods have an analytic Hessian: they are maximised by damped Newton steps
(:mod:`~analysis.methods.clv.newton`) from the optimum of the same likelihood on a systematic
sample of the patterns, and the Hessian at the optimum is the observed information of the
standard errors. Without a Hessian (Pareto/NBD), or when the Newton steps do not converge,
:func:`scipy.optimize.minimize` (L-BFGS-B) runs from several starts, followed by Newton steps with
the observed information, which also gives the standard errors. Customers with the same summary
row are aggregated to one weighted row first (:func:`aggregate_patterns`), so the cost of a fit
grows with the number of distinct patterns, not of customers, and the result does not depend on
row order. Within a likelihood, terms that depend on one variable only are computed once per
distinct value of it (:func:`_distinct`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from analysis.methods.clv.inputs import CLVInputError
from analysis.methods.clv.newton import LogLikGradHess, log_parameter_derivatives, newton_maximise

# scipy.optimize and sklearn are imported where used (the L-BFGS-B fallback, the not-fitted error):
# together they are most of the package's import time, which a fresh process pays before its fit.

STANDARD_ERROR_METHOD = (
    "inverse of the observed information: analytic Hessian of the negative log-likelihood in "
    "log-parameter space, mapped to the original parameters by the delta method"
)
NUMERICAL_STANDARD_ERROR_METHOD = (
    "inverse of the observed information: Hessian of the negative log-likelihood in log-parameter space "
    "by central second differences of its values (step 1e-3), mapped to the original parameters by the "
    "delta method"
)

_LOG_BOUND = 20.0  # optimiser bounds on log-parameters
_VALUE_HESSIAN_STEP = 1e-3  # step of the Hessian from log-likelihood values, in log-parameters
_NEWTON_STEPS = 3  # Newton steps after L-BFGS-B, with the Hessian of its end point
_GRADIENT_TOL = 1e-6  # a point is stationary when |d mean log-likelihood / d log theta| <= this
#: A stationary point is the optimum when the Newton step from it moves no log-parameter by more than
#: this (a tenth of a per cent): at an optimum the step is below 1e-6, on a flat ridge of the
#: likelihood it is of order one, wherever on the ridge the optimiser stopped (:func:`_convergence`).
_NEWTON_STEP_TOL = 1e-3
_PILOT_PATTERNS = 40_000  # patterns of the sample whose optimum starts the Newton steps
_PILOT_NEWTON_STEPS = 8  # Newton steps from a pilot's optimum with its Hessian of values, before L-BFGS-B takes over

LogLikAndGrad = Callable[[np.ndarray], tuple[float, np.ndarray]]


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
        ``patterns`` has one row per distinct combination (sorted lexicographically, first column
        first, hence independent of the input order) and ``counts`` the summed weight of each;
        patterns of zero total weight are dropped.
    """
    weights = np.asarray(weights, dtype=float).ravel()
    patterns, inverse = _distinct_rows(columns)
    counts = np.bincount(inverse, weights=weights, minlength=patterns.shape[0])
    keep = counts > 0
    return patterns[keep], counts[keep]


def _distinct_rows(columns: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of equal-length columns, sorted lexicographically, and each row's position.

    Each column is first coded by its sorted distinct values; the codes are combined into one
    integer key (mixed radix, first column most significant), whose distinct values are found by a
    1-d sort. That is the order of ``numpy.unique(..., axis=0)`` at a fraction of its cost (it
    sorts rows as records), to which it falls back when the key could overflow.
    """
    columns = [np.asarray(c, dtype=float).ravel() for c in columns]
    uniques, codes = zip(*(_distinct(c) for c in columns), strict=True)
    sizes = [u.size for u in uniques]
    if float(np.prod(np.array(sizes, dtype=float))) >= 2.0**62:
        rows, inverse = np.unique(np.column_stack(columns), axis=0, return_inverse=True)
        return rows, inverse.ravel()
    key = np.zeros(columns[0].size, dtype=np.int64)
    for size, code in zip(sizes, codes, strict=True):
        key = key * size + code
    distinct_keys, inverse = _distinct(key)
    digits = []
    for size in reversed(sizes):
        distinct_keys, digit = np.divmod(distinct_keys, size)
        digits.append(digit)
    rows = np.column_stack([u[d] for u, d in zip(uniques, reversed(digits), strict=True)])
    return rows, inverse


def _distinct(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct values and the position of each value among them (``values = u[index]``).

    The result of ``numpy.unique(values, return_inverse=True)``, found faster for whole numbers
    (frequencies, ages in days, the integer keys of :func:`_distinct_rows`), which is what the fits
    aggregate: within a span of at most a few times the number of values, a table of which values
    occur replaces the sort (:func:`_distinct_in_span`); beyond it, one value sort of the values
    packed with their positions replaces numpy's slower argsort (:func:`_distinct_by_packed_sort`).
    Other values (fractions, NaN, huge numbers) go to :func:`numpy.unique`.
    """
    values = np.asarray(values).ravel()
    whole = _as_whole_numbers(values)
    if whole is not None:
        low, high = int(whole.min()), int(whole.max())
        span = high - low + 1
        if span <= max(4 * whole.size, 1 << 16):
            unique, index = _distinct_in_span(whole - low, span)
            return (unique + low).astype(values.dtype, copy=False), index
        if span < (1 << 62) // max(whole.size, 1):
            unique, index = _distinct_by_packed_sort(whole - low)
            return (unique + low).astype(values.dtype, copy=False), index
    unique, index = np.unique(values, return_inverse=True)
    return unique, index.ravel()


def _as_whole_numbers(values: np.ndarray) -> np.ndarray | None:
    """``values`` as int64 when they are all whole numbers of magnitude below 2**52, else None."""
    if values.size == 0:
        return None
    if values.dtype.kind in "iu":
        if values.dtype.kind == "u" and values.max() >= 1 << 52:
            return None
        whole = values.astype(np.int64, copy=False)
        return whole if np.abs(whole).max() < 1 << 52 else None
    if values.dtype.kind != "f":
        return None
    low, high = values.min(), values.max()
    # min/max are NaN when any value is; the bounds keep the int64 conversion exact
    if not (-(2.0**52) < low and high < 2.0**52):
        return None
    whole = values.astype(np.int64)
    return whole if np.array_equal(whole, values) else None


def _distinct_in_span(offsets: np.ndarray, span: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values of non-negative integers below ``span`` from a table of which occur."""
    present = np.bincount(offsets, minlength=span) > 0
    rank = np.cumsum(present) - 1
    return np.flatnonzero(present), _take(rank, offsets)


def _distinct_by_packed_sort(offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values of non-negative integers with ``max * size < 2**62``, by one sort.

    Each value is packed with its position (``value * size + position``); sorting the packed
    integers sorts the values and carries the permutation, at the cost of a plain sort.
    """
    size = offsets.size
    packed = np.sort(offsets * size + np.arange(size, dtype=np.int64))
    sorted_values, order = np.divmod(packed, size)
    first = np.empty(size, dtype=bool)
    first[0] = True
    np.not_equal(sorted_values[1:], sorted_values[:-1], out=first[1:])
    index = np.empty(size, dtype=np.int64)
    index[order] = np.cumsum(first) - 1
    return sorted_values[first], index


def _take(table: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``table[index]`` for an index known to be in range (``mode="clip"`` skips numpy's bound check)."""
    return np.take(table, index, mode="clip")


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    """Inner product of two long vectors.

    :func:`numpy.einsum` rather than ``@``: a threaded BLAS ``ddot`` was up to 20 times slower on a
    loaded two-core machine, and these products are a large part of a likelihood evaluation.
    """
    return float(np.einsum("i,i->", a, b))


def _minimize_negative_ll(
    loglik_and_grad: LogLikAndGrad,
    starts: Sequence[np.ndarray],
    total_weight: float,
) -> Any:
    """Minimise the mean negative log-likelihood over log-parameters, trying the starts in turn
    (L-BFGS-B); returns scipy's ``OptimizeResult`` of the best."""
    from scipy import optimize

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
        if _stationary(result) and np.all(np.abs(result.x) < _LOG_BOUND - 1):
            break
    finite = [r for r in results if np.isfinite(r.fun)]
    if not finite:
        raise CLVInputError(
            "The likelihood could not be evaluated at any starting point; check that the inputs are in "
            "one consistent time unit and not degenerate (e.g. all customers identical)."
        )
    return min(finite, key=lambda r: r.fun)


def _stationary(result: Any) -> bool:
    """The optimiser converged, or stopped where the mean log-likelihood is flat to :data:`_GRADIENT_TOL`.

    L-BFGS-B reports ``ABNORMAL`` when its line search finds no lower point; with ``ftol = 1e-14``
    that happens at the optimum once the objective's rounding noise exceeds the tolerance, which
    the gradient tells apart from a failure.
    """
    if not np.isfinite(result.fun):
        return False
    return bool(result.success) or bool(np.max(np.abs(result.jac)) <= _GRADIENT_TOL)


def _log_gradient(loglik_and_grad: LogLikAndGrad, log_params: np.ndarray) -> np.ndarray:
    """Gradient of the total negative log-likelihood with respect to ``log(theta)``."""
    theta = np.exp(log_params)
    return -loglik_and_grad(theta)[1] * theta


def _log_hessian_from_values(
    loglik: Callable[[np.ndarray], float], log_params: np.ndarray, step: float = _VALUE_HESSIAN_STEP
) -> np.ndarray:
    """Hessian of the total negative log-likelihood in ``log(theta)`` from its values only.

    Central second differences with step ``h`` (:data:`_VALUE_HESSIAN_STEP`):
    ``H_ii = [f(+2h e_i) - 2 f(0) + f(-2h e_i)] / (4h^2)`` and
    ``H_ij = [f(+h e_i +h e_j) - f(+h e_i -h e_j) - f(-h e_i +h e_j) + f(-h e_i -h e_j)] / (4h^2)``;
    ``1 + 2k^2`` evaluations. For likelihoods without an analytic gradient: differencing a
    central-difference gradient again amplifies its rounding error by ``1/h^2`` at a small step
    (it was off by 6 % for the Pareto/NBD ``beta`` on CDNOW), while an error of order ``h^2``
    (1e-5 relative here) is far below what standard errors need.
    """
    k = log_params.size
    shifts = np.eye(k) * step

    def f(shift: np.ndarray) -> float:
        return -loglik(np.exp(log_params + shift))

    center = f(np.zeros(k))
    hessian = np.empty((k, k))
    for i in range(k):
        hessian[i, i] = (f(2 * shifts[i]) - 2 * center + f(-2 * shifts[i])) / (4 * step**2)
        for j in range(i):
            hessian[i, j] = hessian[j, i] = (
                f(shifts[i] + shifts[j]) - f(shifts[i] - shifts[j])
                - f(-shifts[i] + shifts[j]) + f(-shifts[i] - shifts[j])
            ) / (4 * step**2)
    return hessian


def _positive_definite(matrix: np.ndarray) -> bool:
    try:
        np.linalg.cholesky(matrix)
    except np.linalg.LinAlgError:
        return False
    return bool(np.all(np.isfinite(matrix)))


@dataclass(frozen=True)
class _MLFit:
    """Result of :func:`_maximum_likelihood`."""

    theta: np.ndarray
    standard_errors: np.ndarray  # NaN when the Hessian is not positive definite
    log_covariance: np.ndarray  # inverse observed information in log(theta); NaN when not positive definite
    log_likelihood: float
    optimizer: Any  # the L-BFGS-B result the Newton step started from, or the NewtonResult
    hessian_ok: bool
    gradient: float  # max |d mean log-likelihood / d log theta| at theta
    newton_step: float  # max |H^-1 g|: how far a Newton step would move a log-parameter (inf without a positive definite H)


def _maximum_likelihood(
    loglik_and_grad: LogLikAndGrad,
    starts: Sequence[np.ndarray],
    total_weight: float,
    hessian: Callable[[np.ndarray], np.ndarray] | None = None,
    second_order: LogLikGradHess | None = None,
    pilot: tuple[LogLikGradHess, float] | None = None,
    value_pilot: tuple[Callable[[np.ndarray], float], float] | None = None,
) -> _MLFit:
    """Maximise the likelihood and take the standard errors from the observed information.

    With ``second_order`` (``theta -> (log-likelihood, gradient, Hessian)``, analytic): damped
    Newton steps on ``log(theta)`` (:func:`~analysis.methods.clv.newton.newton_maximise`) from the
    optimum of ``pilot`` (the same likelihood on a sample of the patterns, and its total weight;
    maximised the same way from the first of ``starts`` that converges, a few per cent of the cost),
    or from the first start when there is no pilot. The Hessian at the optimum gives the standard
    errors. When the Newton steps do not converge, :func:`_quasi_newton_fit` (L-BFGS-B from all
    ``starts``) takes over with the analytic Hessian, so the fast path costs no robustness.
    Without ``second_order``, :func:`_quasi_newton_fit` with ``hessian`` (a function of
    ``log(theta)`` giving the Hessian of the negative log-likelihood), after
    :func:`_newton_from_value_pilot` when ``value_pilot`` (the log-likelihood's values on a sample of
    the patterns, and its total weight) is given and that reaches the optimum.
    """
    if second_order is None:
        if hessian is None:
            raise TypeError("_maximum_likelihood needs `hessian` or `second_order`")
        if value_pilot is not None:
            fit = _newton_from_value_pilot(loglik_and_grad, starts, total_weight, hessian, value_pilot)
            if fit is not None:
                return fit
        return _quasi_newton_fit(loglik_and_grad, starts, total_weight, hessian)
    start = np.asarray(starts[0], dtype=float)
    for candidate in starts if pilot is not None else ():
        sampled = newton_maximise(pilot[0], np.log(candidate), pilot[1], _GRADIENT_TOL, _LOG_BOUND, polish=False)
        if sampled.success:
            start = np.exp(sampled.x)
            break
    result = newton_maximise(second_order, np.log(start), total_weight, _GRADIENT_TOL, _LOG_BOUND)
    if result.success:
        return _fit_from_information(result.x, result.log_likelihood, result.hessian, result, total_weight,
                                     -result.jac * total_weight)

    def log_hessian(log_params: np.ndarray) -> np.ndarray:
        theta = np.exp(log_params)
        _, grad, hess = second_order(theta)
        return log_parameter_derivatives(theta, grad, hess)[1]

    return _quasi_newton_fit(loglik_and_grad, starts, total_weight, log_hessian)


def _pattern_sample(n_patterns: int) -> slice | None:
    """Every k-th pattern, about :data:`_PILOT_PATTERNS` of them, for the pilot fit of
    :func:`_maximum_likelihood`; None when the patterns are few enough to start on all of them.

    The patterns are sorted (:func:`aggregate_patterns`), so a systematic sample spreads over every
    variable's range; with each pattern's own weight, its likelihood estimates the full one up to a
    constant factor (every pattern has the same chance, 1/k), so its optimum is near the full optimum.
    """
    stride = n_patterns // _PILOT_PATTERNS
    return slice(None, None, stride) if stride >= 4 else None


def _quasi_newton_fit(
    loglik_and_grad: LogLikAndGrad,
    starts: Sequence[np.ndarray],
    total_weight: float,
    hessian: Callable[[np.ndarray], np.ndarray],
) -> _MLFit:
    """Maximise the likelihood: L-BFGS-B from the starts, then Newton steps; standard errors.

    L-BFGS-B stops when the mean log-likelihood no longer improves by more than its tolerance,
    which can leave the estimates of weakly identified parameters a little short of the optimum.
    The Hessian ``H`` of the negative log-likelihood in log-parameters (``hessian``, a function of
    ``log(theta)``: analytic, or :func:`_log_hessian_from_values` when the gradient is numerical),
    needed for the standard errors anyway, then gives Newton steps ``-H^{-1} g`` in log-parameters
    (up to :data:`_NEWTON_STEPS`, with the same ``H``), each kept while it lowers the gradient
    without lowering the log-likelihood beyond rounding; near the optimum this converges fast, so
    the estimates end exact to the precision of the gradient. The standard errors are
    ``sqrt(diag(D H^{-1} D))`` with ``D = diag(theta)``, ``H`` taken before the steps (they move the
    estimates by far less than their standard errors).
    """
    best = _minimize_negative_ll(loglik_and_grad, starts, total_weight)
    log_params = np.asarray(best.x, dtype=float)
    log_likelihood, grad = loglik_and_grad(np.exp(log_params))
    gradient = np.exp(log_params) * grad
    information = hessian(log_params)
    hessian_ok = _positive_definite(information)
    for _ in range(_NEWTON_STEPS if hessian_ok else 0):
        if np.max(np.abs(gradient)) == 0 or not np.all(np.abs(log_params) < _LOG_BOUND - 1):
            break
        candidate = log_params + np.linalg.solve(information, gradient)
        candidate_ll, candidate_grad = loglik_and_grad(np.exp(candidate))
        candidate_gradient = np.exp(candidate) * candidate_grad
        # at the optimum the log-likelihood is flat to rounding: the step is kept when it lowers
        # the gradient and does not lower the log-likelihood by more than rounding can
        if not (
            np.isfinite(candidate_ll)
            and candidate_ll >= log_likelihood - 1e-12 * abs(log_likelihood)
            and np.max(np.abs(candidate_gradient)) < np.max(np.abs(gradient))
        ):
            break
        log_params, log_likelihood, gradient = candidate, candidate_ll, candidate_gradient
    return _fit_from_information(log_params, log_likelihood, information, best, total_weight, gradient)


def _newton_from_value_pilot(
    loglik_and_grad: LogLikAndGrad,
    starts: Sequence[np.ndarray],
    total_weight: float,
    hessian: Callable[[np.ndarray], np.ndarray],
    value_pilot: tuple[Callable[[np.ndarray], float], float],
) -> _MLFit | None:
    """The fit by Newton steps on the full likelihood from the optimum of a pilot; None when they do not
    reach a stationary point within :data:`_PILOT_NEWTON_STEPS`, so that L-BFGS-B runs on the full likelihood.

    For a likelihood without an analytic gradient, where L-BFGS-B needs a few hundred evaluations:
    the pilot (the likelihood of a systematic sample of the patterns, :func:`_pattern_sample`) is
    maximised by L-BFGS-B at a few per cent of the cost; its Hessian of values, scaled to the full
    weight, steers Newton steps ``-H^{-1} g`` from there (each kept while the log-likelihood does not
    fall beyond rounding). Once the gradient of the mean log-likelihood is within :data:`_GRADIENT_TOL`,
    up to :data:`_NEWTON_STEPS` more are taken while they lower it, as :func:`_quasi_newton_fit` ends;
    ``hessian`` at the last point gives the standard errors.
    """
    from scipy.optimize import OptimizeResult

    pilot_loglik, pilot_weight = value_pilot
    pilot = _minimize_negative_ll(_with_numerical_gradient(pilot_loglik), starts, pilot_weight)
    log_params = np.asarray(pilot.x, dtype=float)
    if not _stationary(pilot) or not np.all(np.abs(log_params) < _LOG_BOUND - 1):
        return None
    steering = _log_hessian_from_values(pilot_loglik, log_params) * (total_weight / pilot_weight)
    if not _positive_definite(steering):
        return None
    log_likelihood, grad = loglik_and_grad(np.exp(log_params))
    gradient = np.exp(log_params) * grad
    steps = polished = 0
    while polished < _NEWTON_STEPS:
        stationary = bool(np.max(np.abs(gradient)) / total_weight <= _GRADIENT_TOL)
        if not stationary and steps == _PILOT_NEWTON_STEPS:
            return None
        candidate = log_params + np.linalg.solve(steering, gradient)
        candidate_ll, candidate_grad = loglik_and_grad(np.exp(candidate))
        candidate_gradient = np.exp(candidate) * candidate_grad
        # as in _quasi_newton_fit: kept while the log-likelihood does not fall beyond rounding and,
        # once stationary, while the step lowers the gradient (a polish to the gradient's precision)
        kept = (
            np.isfinite(candidate_ll)
            and candidate_ll >= log_likelihood - 1e-12 * abs(log_likelihood)
            and np.all(np.abs(candidate) < _LOG_BOUND - 1)
            and (not stationary or np.max(np.abs(candidate_gradient)) < np.max(np.abs(gradient)))
        )
        if not kept:
            if stationary:
                break
            return None
        log_params, log_likelihood, gradient = candidate, candidate_ll, candidate_gradient
        steps += 1
        polished += stationary
    if np.max(np.abs(gradient)) / total_weight > _GRADIENT_TOL:
        return None
    ended = OptimizeResult(x=log_params, success=True, nit=steps, fun=-log_likelihood / total_weight,
                           jac=-gradient / total_weight,
                           message=f"{steps} Newton step(s) from the optimum of a sample of the patterns")
    return _fit_from_information(log_params, log_likelihood, hessian(log_params), ended, total_weight, gradient)


def _fit_from_information(
    log_params: np.ndarray,
    log_likelihood: float,
    information: np.ndarray,
    optimizer: Any,
    total_weight: float,
    gradient: np.ndarray,
) -> _MLFit:
    """The fit at ``log_params``: standard errors ``sqrt(diag(D H^-1 D))``, ``D = diag(theta)``,
    from the observed information ``H`` in log-parameters (NaN when it is not positive definite);
    ``gradient`` is that of the total log-likelihood in log-parameters."""
    theta = np.exp(log_params)
    hessian_ok = _positive_definite(information)
    if hessian_ok:
        log_covariance = np.linalg.inv(information)
        errors = np.sqrt(np.diag(log_covariance * np.outer(theta, theta)))
        newton_step = float(np.max(np.abs(log_covariance @ gradient), initial=0.0))
    else:
        log_covariance = np.full((theta.size, theta.size), np.nan)
        errors = np.full(theta.size, np.nan)
        newton_step = np.inf
    return _MLFit(
        theta=theta,
        standard_errors=errors,
        log_covariance=log_covariance,
        log_likelihood=float(log_likelihood),
        optimizer=optimizer,
        hessian_ok=hessian_ok,
        gradient=float(np.max(np.abs(gradient)) / total_weight),
        newton_step=newton_step,
    )


def _convergence(fit: _MLFit) -> tuple[bool, str]:
    """Converged means: a stationary point inside the bounds with a positive definite Hessian.

    Stationary: the optimiser reported success, or the gradient of the mean log-likelihood in
    log-parameters is at most :data:`_GRADIENT_TOL` after the Newton step. A stationary point from
    which the next Newton step would move a log-parameter by more than :data:`_NEWTON_STEP_TOL` is no
    optimum: the likelihood rises ever more slowly along a ridge there (Pareto/NBD's ``s`` and ``beta``
    when everyone drops out at the same rate, Gamma-Gamma's ``p`` and ``gamma`` when spend does not
    tell them apart), and the maximum is at infinity. Whether the optimiser stops there and calls it
    a success depends on the last digits of its arithmetic (one CPU's yes, another's no); the Newton
    step, of order one anywhere on the ridge, tells it from an optimum on every machine.
    """
    best = fit.optimizer
    notes = [str(best.message)]
    stationary = bool(best.success) or fit.gradient <= _GRADIENT_TOL
    if not best.success and stationary:
        notes.append(f"stationary point: max |gradient| of the mean log-likelihood {fit.gradient:.1e}")
    at_bound = bool(np.any(np.abs(np.log(fit.theta)) > _LOG_BOUND - 0.1))
    if at_bound:
        notes.append("a parameter ran to its bound (exp(+-20)); the data do not identify the model")
    if not fit.hessian_ok:
        notes.append("Hessian not positive definite")
    on_ridge = stationary and fit.hessian_ok and fit.newton_step > _NEWTON_STEP_TOL
    if on_ridge:
        notes.append(f"the likelihood is flat along a ridge: a Newton step would move a log-parameter by "
                     f"{fit.newton_step:.2g}; the data do not identify the model")
    return stationary and not at_bound and fit.hessian_ok and not on_ridge, "; ".join(notes)


def _with_numerical_gradient(
    loglik: Callable[[np.ndarray], float], step: float = 1e-5
) -> LogLikAndGrad:
    """``loglik_and_grad`` for a likelihood without an analytic gradient.

    The gradient in ``theta`` comes from central differences in ``log(theta)`` with relative step
    ``step`` (``2k`` extra evaluations for ``k`` parameters), divided by ``theta``.
    """

    def loglik_and_grad(theta: np.ndarray) -> tuple[float, np.ndarray]:
        theta = np.asarray(theta, dtype=float)
        value = loglik(theta)
        grad = np.empty(theta.size)
        for j in range(theta.size):
            up, down = theta.copy(), theta.copy()
            up[j] *= np.exp(step)
            down[j] *= np.exp(-step)
            grad[j] = (loglik(up) - loglik(down)) / (2 * step) / theta[j]
        return value, grad

    return loglik_and_grad


def _check_fitted(model: Any) -> None:
    if not hasattr(model, "params_"):
        from sklearn.exceptions import NotFittedError

        raise NotFittedError(f"This {type(model).__name__} is not fitted yet; call fit(...) first.")


def with_estimates(model: Any, params: Mapping[str, float]) -> Any:
    """``model`` holding the estimates ``params`` as if fitted: enough for its predictions (a fit's
    diagnostics, standard errors and covariance are not set). Returns the model."""
    missing = [name for name in model.parameter_names if name not in params]
    if missing:
        raise CLVInputError(f"The {type(model).__name__} estimates lack the parameter(s) {missing}.")
    model.params_ = {name: float(params[name]) for name in model.parameter_names}
    return model


def _store_fit(model: Any, fit: _MLFit, total: float, n_patterns: int) -> Any:
    """Set a model's fitted attributes (``params_`` … ``message_``) and return the model.

    ``log_covariance_`` is the inverse observed information in ``log(theta)`` (rows and columns in
    ``parameter_names`` order), what parametric draws of the parameters need;
    ``covariance_`` is its delta-method image ``D log_covariance_ D``, ``D = diag(theta)``, whose
    diagonal is the square of ``standard_errors_``. Both are NaN when the Hessian is not positive
    definite.
    """
    model.params_ = dict(zip(model.parameter_names, map(float, fit.theta)))
    model.standard_errors_ = dict(zip(model.parameter_names, map(float, fit.standard_errors)))
    model.log_covariance_ = np.array(fit.log_covariance, dtype=float)
    model.covariance_ = model.log_covariance_ * np.outer(fit.theta, fit.theta)
    model.log_likelihood_ = float(fit.log_likelihood)
    model.n_customers_ = total
    model.n_patterns_ = int(n_patterns)
    model.converged_, model.message_ = _convergence(fit)
    return model


def _fit_summary(model: Any, name: str, reference: str, **extra: Any) -> dict[str, Any]:
    """What models.json records of a fitted model: estimates, errors, fit quality, convergence."""
    _check_fitted(model)
    return {
        "name": name,
        "params": dict(model.params_),
        "standard_errors": dict(model.standard_errors_),
        "standard_error_method": getattr(model, "standard_error_method", STANDARD_ERROR_METHOD),
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


class PurchaseModel:
    """What BG/NBD and Pareto/NBD share: the time unit of their inputs, and lifetimes' names of
    their predictions, so code written for lifetimes reads either model."""

    def __init__(self, time_unit: str = "days") -> None:
        self.time_unit = time_unit

    def _log_odds_dead(self, x: np.ndarray, t_x: np.ndarray, age: np.ndarray) -> np.ndarray:
        """``log[P(dropped out) / P(alive)]`` of the histories ``(x, t_x, T = age)`` (arrays that broadcast)."""
        x, t_x, age = np.broadcast_arrays(x, t_x, age)
        n, x_flat = x.size, x.ravel()
        histories = np.arange(n)
        log_odds = self._log_odds_dead_of_pairs(
            np.concatenate([x_flat, x_flat]), np.concatenate([age.ravel(), t_x.ravel()]), histories, histories + n
        )
        return log_odds.reshape(x.shape)

    def _log_odds_dead_of_pairs(
        self, pair_x: np.ndarray, pair_age: np.ndarray, of_age: np.ndarray, of_recency: np.ndarray
    ) -> np.ndarray:
        """:meth:`_log_odds_dead` of the histories whose ``(x, T)`` is pair ``of_age`` and ``(x, t_x)`` pair
        ``of_recency`` of ``(pair_x, pair_age)``: each term of one ``(x, age)`` is evaluated once per pair
        (customers share far fewer pairs than histories), each history's value is the same."""
        raise NotImplementedError

    def _expected_purchases_if_alive(self, t: np.ndarray, x: np.ndarray, age: np.ndarray) -> np.ndarray:
        """Expected purchases in ``(T, T + t]`` of a customer alive at ``T = age`` (arrays that broadcast)."""
        raise NotImplementedError

    def _expected_purchases_if_alive_by_end(self, ends: np.ndarray, x: np.ndarray, age: np.ndarray) -> np.ndarray:
        """:meth:`_expected_purchases_if_alive` at each of the period ends ``ends`` (rows) for each pair
        ``(x, age)`` (columns)."""
        return self._expected_purchases_if_alive(ends[:, None], x[None, :], age[None, :])

    def conditional_expected_number_of_purchases_up_to_time(
        self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> np.ndarray:
        """Alias of ``conditional_expected_purchases`` (lifetimes' name)."""
        return self.conditional_expected_purchases(t, frequency, recency, T)

    def expected_number_of_purchases_up_to_time(self, t: ArrayLike) -> np.ndarray:
        """Alias of ``expected_purchases`` (lifetimes' name)."""
        return self.expected_purchases(t)
