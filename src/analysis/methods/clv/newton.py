"""Damped Newton maximisation of a log-likelihood with an analytic Hessian, on log-parameters.

The BG/NBD and Gamma-Gamma likelihoods give their Hessian in closed form at about twice the cost
of their gradient, so a Newton method needs a handful of evaluations where a quasi-Newton method
(L-BFGS-B) needs dozens: it converges quadratically near the optimum, and its last Hessian is the
observed information the standard errors need. :func:`newton_maximise` works on ``log(theta)``
(positive parameters, and a likelihood closer to quadratic there), with

- a modified Newton direction where the Hessian is not positive definite (its eigenvalues taken
  in absolute value, bounded away from 0), so every step goes downhill;
- steps capped at :data:`_MAX_STEP` in log-parameters (a factor ``e^2``) and a backtracking line
  search with the Armijo condition, so a poor start cannot jump far off;
- a polish once the gradient is below the tolerance: full steps while they lower the gradient,
  until the next step would move no parameter by more than :data:`_STEP_TOL` relative, which
  ends at the precision of the gradient (rounding level; near the optimum the error squares at
  each step, so this costs one or two steps).

It reports failure rather than guessing (non-finite likelihood, a parameter running to the bound,
no descent, too many iterations, or a small gradient where the next step would still be large: a
nearly flat likelihood); the caller then falls back to L-BFGS-B from several starts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

LogLikGradHess = Callable[[np.ndarray], tuple[float, np.ndarray, np.ndarray]]

_MAX_STEP = 2.0  # largest move of one Newton step, max over log-parameters
_MAX_ITERATIONS = 100
_POLISH_STEPS = 4  # full steps after the gradient tolerance is met, kept while they lower the gradient
_STEP_TOL = 1e-12  # a Newton step this small (max over log-parameters) is at the precision of the gradient
_CONVERGED_STEP = 1e-6  # success needs the next step below this: the optimum is pinned down, not on a ridge
_ARMIJO = 1e-4
_SMALLEST_STEP = 1e-10  # line-search factor below which the search gives up
_ROUNDING = 1e-12  # relative change of the mean negative log-likelihood within rounding
# While polishing, a step must lower the gradient and may raise the value by this much (relative):
# a sum of terms that cancel (Gamma-Gamma's data terms) carries errors of a few 1e-13 in its value,
# more than the change a step at a gradient of 1e-7 makes, so the gradient is the judge there.
_POLISH_ROUNDING = 1e-10


@dataclass(frozen=True)
class NewtonResult:
    """End point of :func:`newton_maximise`; the attributes the fit reports share L-BFGS-B's names."""

    x: np.ndarray  # log-parameters
    fun: float  # mean negative log-likelihood at x
    jac: np.ndarray  # its gradient in log-parameters
    hessian: np.ndarray  # Hessian of the total negative log-likelihood in log-parameters at x
    log_likelihood: float
    success: bool
    message: str
    iterations: int
    evaluations: int


@dataclass(frozen=True)
class _Point:
    log_params: np.ndarray
    log_likelihood: float
    fun: float  # mean negative log-likelihood
    gradient: np.ndarray  # of the total negative log-likelihood in log-parameters
    hessian: np.ndarray  # of the total negative log-likelihood in log-parameters

    def max_gradient(self, total_weight: float) -> float:
        return float(np.max(np.abs(self.gradient)) / total_weight)


def log_parameter_derivatives(
    theta: np.ndarray, grad: np.ndarray, hess: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Gradient and Hessian of the *negative* log-likelihood in ``log(theta)`` from those of the
    log-likelihood in ``theta``: ``g = -theta * grad`` and
    ``H = -(D hess D + diag(theta * grad))`` with ``D = diag(theta)``."""
    gradient = theta * grad
    return -gradient, -(hess * np.outer(theta, theta) + np.diag(gradient))


def _evaluate(evaluate: LogLikGradHess, log_params: np.ndarray, total_weight: float) -> _Point | None:
    theta = np.exp(log_params)
    ll, grad, hess = evaluate(theta)
    gradient, hessian = log_parameter_derivatives(theta, np.asarray(grad), np.asarray(hess))
    if not (np.isfinite(ll) and np.all(np.isfinite(gradient)) and np.all(np.isfinite(hessian))):
        return None
    return _Point(log_params, float(ll), -float(ll) / total_weight, gradient, (hessian + hessian.T) / 2)


def _direction(point: _Point) -> np.ndarray:
    """Newton direction ``-H^-1 g``; with ``|eigenvalues|`` (floored) where ``H`` is not positive
    definite, so it is always a descent direction; capped at :data:`_MAX_STEP`."""
    try:
        factor = np.linalg.cholesky(point.hessian)
        step = -np.linalg.solve(factor.T, np.linalg.solve(factor, point.gradient))
    except np.linalg.LinAlgError:
        values, vectors = np.linalg.eigh(point.hessian)
        floor = max(1e-8 * float(np.max(np.abs(values))), 1e-300)
        values = np.maximum(np.abs(values), floor)
        step = -vectors @ ((vectors.T @ point.gradient) / values)
    largest = float(np.max(np.abs(step)))
    return step * (_MAX_STEP / largest) if largest > _MAX_STEP else step


def newton_maximise(
    evaluate: LogLikGradHess,
    log_start: np.ndarray,
    total_weight: float,
    gradient_tol: float,
    log_bound: float,
    polish: bool = True,
) -> NewtonResult:
    """Maximise a log-likelihood by damped Newton steps on ``log(theta)`` from ``log_start``.

    ``evaluate(theta)`` returns the log-likelihood, its gradient and its Hessian in ``theta``.
    Success: the gradient of the mean log-likelihood in log-parameters is at most
    ``gradient_tol`` with a positive definite Hessian, inside ``|log theta| < log_bound``; with
    ``polish`` the steps then go on while they lower the gradient and the next step is larger than
    :data:`_STEP_TOL` (up to :data:`_POLISH_STEPS`), and success also needs the next step to be at
    most :data:`_CONVERGED_STEP` (see :func:`_settled`). Without ``polish`` (the pilot fit, whose
    optimum only starts the full one) the first stationary point is returned.
    """
    evaluations = 1
    point = _evaluate(evaluate, np.asarray(log_start, dtype=float), total_weight)
    if point is None:
        return _failure(log_start, "Newton: the log-likelihood is not finite at the start", 0, evaluations)
    polished = 0
    for iteration in range(1, _MAX_ITERATIONS + 1):
        stationary = point.max_gradient(total_weight) <= gradient_tol and _positive_definite(point.hessian)
        step = _direction(point)
        if stationary and (not polish or polished >= _POLISH_STEPS or np.max(np.abs(step)) <= _STEP_TOL):
            return _settled(point, step, polish, total_weight, iteration - 1, evaluations)
        slope = float(point.gradient @ step) / total_weight
        factor = 1.0
        while True:
            candidate_params = point.log_params + factor * step
            if np.any(np.abs(candidate_params) >= log_bound - 1):
                return _failure(point.log_params, "Newton: a parameter ran towards its bound (exp(+-20))",
                                iteration, evaluations)
            candidate = _evaluate(evaluate, candidate_params, total_weight)
            evaluations += 1
            if candidate is not None and _accepted(point, candidate, factor * slope, stationary, total_weight):
                break
            if stationary:  # polishing: the step no longer helps, the point is as exact as it gets
                return _settled(point, step, polish, total_weight, iteration, evaluations)
            factor /= 4
            if factor < _SMALLEST_STEP:
                return _failure(point.log_params, "Newton: the line search found no higher likelihood",
                                iteration, evaluations)
        polished += stationary
        point = candidate
    if point.max_gradient(total_weight) <= gradient_tol and _positive_definite(point.hessian):
        return _settled(point, _direction(point), polish, total_weight, _MAX_ITERATIONS, evaluations)
    return _failure(point.log_params, f"Newton: no convergence in {_MAX_ITERATIONS} iterations",
                    _MAX_ITERATIONS, evaluations)


def _accepted(point: _Point, candidate: _Point, slope: float, polishing: bool, total_weight: float) -> bool:
    """Armijo's sufficient decrease, allowing for rounding in the value near the optimum; while
    polishing, a full step must also lower the gradient."""
    scale = max(abs(point.fun), 1.0)
    if polishing:
        return (candidate.fun <= point.fun + _POLISH_ROUNDING * scale
                and candidate.max_gradient(total_weight) < point.max_gradient(total_weight))
    return candidate.fun <= point.fun + _ARMIJO * slope + _ROUNDING * scale


def _positive_definite(matrix: np.ndarray) -> bool:
    try:
        np.linalg.cholesky(matrix)
    except np.linalg.LinAlgError:
        return False
    return True


def _settled(
    point: _Point, step: np.ndarray, polish: bool, total_weight: float, iterations: int, evaluations: int
) -> NewtonResult:
    """Success at a stationary point, unless (with ``polish``) the next Newton step would still move
    a parameter by more than :data:`_CONVERGED_STEP`: a small gradient with a large step means the
    likelihood is nearly flat along some direction (e.g. ``p`` and ``1/gamma`` of Gamma-Gamma
    growing together), where the optimum is not pinned down; that is reported as a failure so the
    caller's L-BFGS-B fallback and its convergence checks judge the fit."""
    largest = float(np.max(np.abs(step)))
    if polish and largest > _CONVERGED_STEP:
        return _failure(point.log_params, f"Newton: the gradient is small but the next step is {largest:.1e} "
                        "in log-parameters (a nearly flat likelihood)", iterations, evaluations)
    return _success(point, total_weight, iterations, evaluations)


def _success(point: _Point, total_weight: float, iterations: int, evaluations: int) -> NewtonResult:
    gradient = point.max_gradient(total_weight)
    return NewtonResult(
        x=point.log_params, fun=point.fun, jac=point.gradient / total_weight, hessian=point.hessian,
        log_likelihood=point.log_likelihood, success=True,
        message=f"Newton converged: max |gradient| of the mean log-likelihood {gradient:.1e} "
                f"after {iterations} iterations",
        iterations=iterations, evaluations=evaluations,
    )


def _failure(log_params: np.ndarray, message: str, iterations: int, evaluations: int) -> NewtonResult:
    size = np.size(log_params)
    return NewtonResult(
        x=np.asarray(log_params, dtype=float), fun=np.inf, jac=np.full(size, np.nan),
        hessian=np.full((size, size), np.nan), log_likelihood=-np.inf, success=False, message=message,
        iterations=iterations, evaluations=evaluations,
    )
