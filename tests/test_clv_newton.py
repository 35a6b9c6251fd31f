"""Tests of the Newton fit of the CLV models: analytic Hessians, the pilot start, the L-BFGS-B fallback
and the distinct values that aggregate the patterns."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.methods.clv import (
    BetaGeoModel,
    GammaGammaModel,
    aggregate_patterns,
    fitting,
    simulate_bgnbd,
    simulate_gamma_gamma,
)
from analysis.methods.clv.bgnbd import _BGNBDLikelihood
from analysis.methods.clv.gamma_gamma import _GammaGammaLikelihood
from analysis.methods.clv.newton import newton_maximise

CDNOW = Path(__file__).parent / "fixtures" / "cdnow" / "cdnow_sample_summary.csv"


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    return pd.read_csv(CDNOW)


def _central_hessian(gradient, theta: np.ndarray, step: float = 1e-6) -> np.ndarray:
    """d gradient / d theta by central differences with relative step ``step``."""
    columns = []
    for j in range(theta.size):
        up, down = theta.copy(), theta.copy()
        up[j] += step * theta[j]
        down[j] -= step * theta[j]
        columns.append((gradient(up) - gradient(down)) / (2 * step * theta[j]))
    return np.column_stack(columns)


@pytest.mark.parametrize(
    "theta", [(0.243, 4.414, 0.793, 2.426), (1.7, 0.3, 3.2, 0.6), (0.05, 40.0, 0.2, 9.0)]
)
def test_bgnbd_analytic_hessian_matches_differences_of_the_gradient(
    cdnow: pd.DataFrame, theta: tuple[float, ...]
) -> None:
    x, t_x, T = (cdnow[c].to_numpy(float) for c in ("x", "t_x", "T"))
    weights = np.random.default_rng(2).integers(1, 5, x.size).astype(float)
    patterns, counts = aggregate_patterns([x, t_x, T], weights)
    assert_hessian_matches_the_gradient(_BGNBDLikelihood(*patterns.T, counts), np.array(theta))


def assert_hessian_matches_the_gradient(likelihood, params: np.ndarray) -> None:
    """The same value and gradient as without the Hessian, a symmetric Hessian, equal to central
    differences of the analytic gradient."""
    value, grad, hess = likelihood.with_hessian(params)
    assert (value, grad.tolist()) == (likelihood(params)[0], likelihood(params)[1].tolist())
    np.testing.assert_array_equal(hess, hess.T)
    numerical = _central_hessian(lambda p: likelihood(p)[1], params)
    np.testing.assert_allclose(hess, numerical, rtol=1e-6, atol=1e-6 * np.abs(hess).max())


@pytest.mark.parametrize("theta", [(6.25, 3.74, 15.44), (0.8, 1.5, 2.0), (20.0, 12.0, 90.0)])
def test_gamma_gamma_analytic_hessian_matches_differences_of_the_gradient(
    cdnow: pd.DataFrame, theta: tuple[float, ...]
) -> None:
    repeat = cdnow[cdnow["x"] > 0]
    x, m = repeat["x"].to_numpy(float), repeat["zbar"].to_numpy(float)
    weights = np.random.default_rng(3).integers(1, 5, x.size).astype(float)
    patterns, counts = aggregate_patterns([x, m], weights)
    assert_hessian_matches_the_gradient(_GammaGammaLikelihood(*patterns.T, counts), np.array(theta))


def test_standard_errors_are_the_inverse_observed_information_at_the_estimates(cdnow: pd.DataFrame) -> None:
    x, t_x, T = (cdnow[c].to_numpy(float) for c in ("x", "t_x", "T"))
    model = BetaGeoModel().fit(x, t_x, T)
    theta = np.array(list(model.params_.values()))
    likelihood = _BGNBDLikelihood(x, t_x, T, np.ones(x.size))
    # Hessian of -LL in log-parameters by differences of the gradient, independently of the fit:
    # d/dlog(theta_j) of theta * grad is theta_j times its derivative in theta_j
    log_hessian = -_central_hessian(lambda p: likelihood(p)[1] * p, theta) * theta
    covariance = np.linalg.inv((log_hessian + log_hessian.T) / 2)
    np.testing.assert_allclose(model.log_covariance_, covariance, rtol=1e-5)
    np.testing.assert_allclose(list(model.standard_errors_.values()),
                               np.sqrt(np.diag(covariance)) * theta, rtol=1e-5)
    assert "analytic Hessian" in model.summary()["standard_error_method"]
    assert model.message_.startswith("Newton converged")


@pytest.fixture(scope="module")
def many_patterns() -> pd.DataFrame:
    """200,000 simulated customers with recency as drawn: about as many patterns, enough for a pilot fit."""
    ages = np.random.default_rng(5).integers(1, 1096, 200_000).astype(float)
    return simulate_bgnbd(200_000, r=0.6, alpha=35.0, a=0.7, b=3.5, T=ages, seed=6)


def test_the_pilot_start_and_a_start_on_all_patterns_reach_the_same_optimum(
    many_patterns: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    x, t_x, T = (many_patterns[c] for c in ("frequency", "recency", "T"))
    assert fitting._pattern_sample(x.size) is not None  # this fit starts from a pilot
    pilot = BetaGeoModel().fit(x, t_x, T)
    monkeypatch.setattr(fitting, "_PILOT_PATTERNS", 10**9)
    assert fitting._pattern_sample(x.size) is None
    direct = BetaGeoModel().fit(x, t_x, T)
    assert pilot.converged_ and direct.converged_
    for name in BetaGeoModel.parameter_names:
        assert pilot.params_[name] == pytest.approx(direct.params_[name], rel=1e-9)
        assert pilot.standard_errors_[name] == pytest.approx(direct.standard_errors_[name], rel=1e-6)
    assert pilot.log_likelihood_ == pytest.approx(direct.log_likelihood_, rel=1e-14)


def test_lbfgsb_takes_over_when_the_newton_steps_fail(
    cdnow: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    newton = BetaGeoModel().fit(cdnow["x"], cdnow["t_x"], cdnow["T"])
    newton_spend = GammaGammaModel().fit(cdnow["x"], cdnow["zbar"])

    def failing(*args, **kwargs):
        result = newton_maximise(*args, **kwargs)
        return type(result)(**{**result.__dict__, "success": False, "message": "forced failure"})

    monkeypatch.setattr(fitting, "newton_maximise", failing)
    fallback = BetaGeoModel().fit(cdnow["x"], cdnow["t_x"], cdnow["T"])
    fallback_spend = GammaGammaModel().fit(cdnow["x"], cdnow["zbar"])
    for first, second in ((newton, fallback), (newton_spend, fallback_spend)):
        assert second.converged_ and "Newton converged" not in second.message_
        for name, value in first.params_.items():
            assert second.params_[name] == pytest.approx(value, rel=1e-6)
            assert second.standard_errors_[name] == pytest.approx(first.standard_errors_[name], rel=1e-4)


def test_newton_reports_failure_when_a_parameter_runs_off() -> None:
    # log-likelihood theta: increases without bound, so no maximum
    def evaluate(theta: np.ndarray):
        return float(theta[0]), np.array([1.0]), np.array([[0.0]])

    result = newton_maximise(evaluate, np.array([0.0]), 1.0, 1e-6, 20.0)
    assert not result.success and "bound" in result.message
    # a concave one: log-likelihood -(log theta - 1)^2 has its maximum at theta = e
    def concave(theta: np.ndarray):
        u = np.log(theta[0]) - 1
        return -(u**2), np.array([-2 * u / theta[0]]), np.array([[(-2 + 2 * u) / theta[0] ** 2]])

    result = newton_maximise(concave, np.array([3.0]), 1.0, 1e-6, 20.0)
    assert result.success and result.x[0] == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize(
    "values",
    [
        np.random.default_rng(0).integers(0, 50, 1000).astype(float),  # whole numbers, narrow span
        np.random.default_rng(1).integers(-5, 5, 10).astype(float),
        np.random.default_rng(2).integers(0, 10**12, 5000),  # integers, wide span: packed sort
        np.random.default_rng(3).integers(0, 10**12, 5000).astype(float),
        np.random.default_rng(4).random(100),  # fractions: numpy.unique
        np.array([1.0, np.nan, 2.0, np.nan]),
        np.array([2.0**53, 1.0]),
        np.array([0.0, -0.0, 1.0, 3.0]),
        np.array([7.0]),
        np.array([], dtype=float),
        np.array([3, 1, 2, 3], dtype=np.int32),
    ],
)
def test_distinct_values_equal_numpy_unique(values: np.ndarray) -> None:
    unique, index = fitting._distinct(values)
    expected, expected_index = np.unique(values, return_inverse=True)
    np.testing.assert_array_equal(unique, expected)
    assert unique.dtype == expected.dtype
    np.testing.assert_array_equal(index, expected_index.ravel())


def test_a_nearly_flat_likelihood_is_left_to_lbfgsb_and_reported_as_not_converged() -> None:
    # 300 simulated customers with a high spend shape (p = 12): the data do not separate p from 1/gamma,
    # the likelihood rises ever more slowly along p -> infinity, gamma -> 0 with p * gamma fixed. The
    # Newton steps reach a small gradient there with a large next step, which is no optimum.
    ages = np.random.default_rng(1).integers(1, 800, 300).astype(float)
    frame = simulate_bgnbd(300, r=0.1, alpha=80.0, a=2.5, b=1.2, T=ages, seed=11)
    spend = simulate_gamma_gamma(frame["frequency"], p=12.0, q=1.2, gamma=200.0, seed=21)
    model = GammaGammaModel().fit(frame["frequency"], spend)
    assert not model.converged_
    assert not model.message_.startswith("Newton")
    assert model.params_["p"] > 1e6  # far along the ridge, as L-BFGS-B leaves it


@pytest.mark.parametrize("gradient, newton_step, converged",
                         [(8.6e-8, 3.3, False), (8.6e-8, 2e-3, False), (8.6e-8, 4e-7, True), (1.9e-3, 0.98, False)])
def test_a_stationary_point_is_the_optimum_only_when_a_newton_step_stays_put(gradient, newton_step, converged) -> None:
    """The optimiser's success on a flat ridge depends on its last digits; the Newton step does not (3.3
    on the ridge above, at most 4e-7 at the optima of simulated BG/NBD, Gamma-Gamma and Pareto/NBD fits).
    Last case: a Pareto/NBD fit of customers who all leave at one rate, stopped by L-BFGS-B's relative
    reduction with s and beta far along their ridge (the optimiser's success alone makes it stationary)."""
    from scipy.optimize import OptimizeResult

    fit = fitting._MLFit(
        theta=np.array([2.2e7, 1.04, 3.8e-8]), standard_errors=np.ones(3), log_covariance=np.eye(3),
        log_likelihood=-376.7, optimizer=OptimizeResult(success=True, message="CONVERGENCE"), hessian_ok=True,
        gradient=gradient, newton_step=newton_step,
    )
    ok, message = fitting._convergence(fit)
    assert ok is converged
    assert ("flat along a ridge" in message) is not converged
