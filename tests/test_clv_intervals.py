"""Tests of the CLV intervals: parameter draws, per-customer and per-group intervals, tier membership.

The draws are checked where they can fail: they reproduce the fits' covariance, the intervals hold
the true parameters (and a per-group value) about as often as their level says over simulated data
sets with known parameters, they contain the point predictions, shrink like 1/sqrt(n), do not
depend on the chunking, and a customer on a tier cut-off gets a tier probability near 1/2.
"""

from __future__ import annotations

import threading
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.methods import cores
from analysis.methods.clv import (
    BetaGeoModel,
    CLVInputError,
    GammaGammaModel,
    PairTerms,
    ParameterDraws,
    ParetoNBDModel,
    clv_intervals,
    customer_intervals,
    customer_lifetime_value,
    discounted_expected_purchases,
    draw_parameters,
    group_value_intervals,
    intervals,
    parameter_intervals,
    simulate_bgnbd,
    simulate_gamma_gamma,
    simulate_pareto_nbd,
    tier_assigner,
    tier_intervals,
    tier_membership,
    with_estimates,
)
from analysis.methods.clv.intervals import (
    CUSTOMER_INTERVAL_COLUMNS,
    DEFAULT_LEVEL,
    TierAssign,
    _CustomerBounds,
    _Histories,
    _predict,
    _row_quantiles,
    _Schedule,
    _with_params,
)
from analysis.methods.clv.units import DAYS_PER_MONTH, DAYS_PER_YEAR
from analysis.methods.tiers import TieringError, assign_tiers
from tests.examples import examples

BG_TRUTH = {"r": 0.6, "alpha": 35.0, "a": 0.7, "b": 3.5}  # per day, as benchmarks/datagen.py
PARETO_TRUTH = {"r": 0.6, "alpha": 35.0, "s": 0.8, "beta": 200.0}
GG_TRUTH = {"p": 3.0, "q": 4.0, "gamma": 60.0}
HORIZON = {"horizon_periods": 12, "period_length": 30.0, "annual_discount_rate": 0.10, "time_units_per_year": 365.0}
QUARTERS = {**HORIZON, "horizon_periods": 4, "period_length": 91.25}  # a year in 4 periods: cheaper


def simulated_customers(n: int, seed: int, *, pareto: bool = False) -> pd.DataFrame:
    """``n`` customers in quarterly cohorts (``T`` = 91 … 1092 days), spend from Gamma-Gamma.

    Cohorts keep the distinct ``(x, T)`` pairs few, so the draws are cheap to evaluate; recency
    stays continuous, as drawn.
    """
    ages = 91.0 * np.random.default_rng(seed).integers(1, 13, n)
    if pareto:
        frame = simulate_pareto_nbd(n, T=ages, seed=seed + 1, **PARETO_TRUTH)
    else:
        frame = simulate_bgnbd(n, T=ages, seed=seed + 1, **BG_TRUTH)
    frame["monetary_value"] = simulate_gamma_gamma(frame["frequency"], seed=seed + 2, **GG_TRUTH)
    frame["customer_id"] = [f"C{seed}-{i:05d}" for i in range(n)]
    return frame


def fit(frame: pd.DataFrame, purchase: type = BetaGeoModel) -> tuple:
    with np.errstate(all="ignore"):
        model = purchase().fit(frame["frequency"], frame["recency"], frame["T"])
    return model, GammaGammaModel().fit(frame["frequency"], frame["monetary_value"])


def columns(frame: pd.DataFrame) -> tuple[pd.Series, ...]:
    return frame["frequency"], frame["recency"], frame["T"], frame["monetary_value"]


@pytest.fixture(scope="module")
def customers() -> pd.DataFrame:
    return simulated_customers(4000, seed=11)


@pytest.fixture(scope="module")
def models(customers: pd.DataFrame) -> tuple[BetaGeoModel, GammaGammaModel]:
    return fit(customers)


@pytest.fixture(scope="module")
def pareto_customers() -> pd.DataFrame:
    return simulated_customers(3000, seed=21, pareto=True)


@pytest.fixture(scope="module")
def pareto_models(pareto_customers: pd.DataFrame) -> tuple[ParetoNBDModel, GammaGammaModel]:
    return fit(pareto_customers, ParetoNBDModel)


@pytest.fixture(scope="module", params=["bgnbd", "pareto_nbd"])
def case(request, customers, models, pareto_customers, pareto_models) -> tuple:
    """Both purchase models: (customers, purchase model, spend model)."""
    if request.param == "bgnbd":
        return customers, *models
    return pareto_customers, *pareto_models


# ------------------------------------------------------------------------------ the covariance


def test_fits_store_a_covariance_whose_diagonal_is_the_standard_errors(models, pareto_models) -> None:
    for model in (*models, pareto_models[0]):
        names = model.parameter_names
        errors = np.array([model.standard_errors_[k] for k in names])
        theta = np.array([model.params_[k] for k in names])
        np.testing.assert_allclose(np.sqrt(np.diag(model.covariance_)), errors, rtol=1e-12)
        np.testing.assert_allclose(model.covariance_, model.log_covariance_ * np.outer(theta, theta), rtol=1e-12)
        np.testing.assert_allclose(model.log_covariance_, model.log_covariance_.T, rtol=1e-12)
        np.linalg.cholesky(model.log_covariance_)  # positive definite


def test_gamma_gamma_covariance_does_not_depend_on_the_currency_unit(customers: pd.DataFrame) -> None:
    # the fit rescales spend internally; in log-parameters a change of unit only shifts log(gamma)
    cents = GammaGammaModel().fit(customers["frequency"], customers["monetary_value"] * 100)
    units = GammaGammaModel().fit(customers["frequency"], customers["monetary_value"])
    np.testing.assert_allclose(cents.log_covariance_, units.log_covariance_, rtol=1e-4)
    assert cents.params_["gamma"] == pytest.approx(100 * units.params_["gamma"], rel=1e-6)


def test_draws_follow_the_fits_covariance_on_the_log_scale(models) -> None:
    # tolerance: with 4,000 draws a sample covariance is within 0.1 sd_i sd_j of the target (its
    # sampling sd is at most sqrt(2 / 4000) = 0.022 sd_i sd_j) and a mean within 0.1 sd (6 se)
    purchase, spend = models
    draws = draw_parameters(purchase, spend, draws=4000, seed=3)
    for model, values in ((purchase, draws.purchase), (spend, draws.spend)):
        logs = np.log(values)
        center = np.log([model.params_[k] for k in model.parameter_names])
        sd = np.sqrt(np.diag(model.log_covariance_))
        assert np.all(np.abs(logs.mean(axis=0) - center) < 0.1 * sd)
        assert np.all(np.abs(np.cov(logs, rowvar=False) - model.log_covariance_) < 0.1 * np.outer(sd, sd))
    assert list(draws.frame().columns) == ["r", "alpha", "a", "b", "p", "q", "gamma"]


def test_a_fit_without_a_positive_definite_hessian_cannot_be_drawn(models) -> None:
    purchase, spend = models
    broken = _with_params(purchase, np.array(list(purchase.params_.values())))
    broken.log_covariance_ = np.full((4, 4), np.nan)
    with pytest.raises(CLVInputError, match="no usable covariance"):
        draw_parameters(broken, spend)
    with pytest.raises(CLVInputError, match="draws"):
        draw_parameters(purchase, spend, draws=1)


# ------------------------------------------------------------------------------------ coverage


def coverage_runs(n_sets: int, n_customers: int, n_draws: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """Per simulated data set: which parameters, and which groups' CLV totals, their 90 % intervals hold.

    The truth of a group's total is the one-year CLV (four quarterly periods) of its customers'
    histories under the true parameters; groups are frequency 0, 1-2 and 3 or more.
    """
    truth = np.array([*BG_TRUTH.values(), *GG_TRUTH.values()])
    parameter_hits, group_hits = [], []
    for k in range(n_sets):
        frame = simulated_customers(n_customers, seed=1000 + 10 * k)
        purchase, spend = fit(frame)
        draws = draw_parameters(purchase, spend, draws=n_draws, seed=k)
        bounds = parameter_intervals(draws, level=0.9)
        parameter_hits.append((bounds["low"] <= truth) & (truth <= bounds["high"]))
        groups = np.select([frame["frequency"] == 0, frame["frequency"] <= 2], [0, 1], 2)
        totals = group_value_intervals(draws, *columns(frame), groups, **QUARTERS, level=0.9)
        true_clv = customer_lifetime_value(
            _with_params(purchase, np.array(list(BG_TRUTH.values()))),
            _with_params(spend, np.array(list(GG_TRUTH.values()))),
            *columns(frame), **QUARTERS,
        )
        true_totals = np.bincount(groups, weights=true_clv)
        group_hits.append((totals["clv_total_low"] <= true_totals) & (true_totals <= totals["clv_total_high"]))
    return np.array(parameter_hits, dtype=float), np.array(group_hits, dtype=float)


def test_90_percent_intervals_hold_the_true_parameters_about_90_percent_of_the_time() -> None:
    # 40 simulated data sets of 2,000 customers (fixed seeds). A binomial 90 % over 40 sets has
    # sd 4.7 points: the pooled coverage of each model's parameters (160 and 120 intervals) and of
    # the three groups' CLV totals (120) must lie in 78-98 % (2.5 sd below 90 %, 1.7 above; pooled
    # intervals of one set are correlated, so their sd lies between 40 and 160 sets'). One
    # parameter alone must reach 65 % (P < 1e-5 below that for a true 90 %); halved or doubled
    # standard errors would give about 59 % or 99.9 %. At 2,000 customers the information matrix is
    # already well estimated: over 200 sets (these 40 and the next 160 seeds) each parameter's
    # coverage was 88-92 % and the group totals' 89-95 %.
    parameter_hits, group_hits = coverage_runs(n_sets=40, n_customers=2000)
    purchase_coverage = parameter_hits[:, :4].mean()
    spend_coverage = parameter_hits[:, 4:].mean()
    assert 0.78 <= purchase_coverage <= 0.98, parameter_hits.mean(axis=0)
    assert 0.78 <= spend_coverage <= 0.98, parameter_hits.mean(axis=0)
    assert parameter_hits.mean(axis=0).min() >= 0.65, parameter_hits.mean(axis=0)
    assert 0.78 <= group_hits.mean() <= 0.98, group_hits.mean(axis=0)


# ----------------------------------------------------------------------- per-customer intervals


def test_point_predictions_of_the_interval_engine_are_the_models(case) -> None:
    # the engine factors P(alive) out of the expected purchases; at the estimates it must give
    # customer_lifetime_value, conditional_probability_alive and conditional_expected_purchases
    frame, purchase, spend = case
    schedule = _Schedule.of(**HORIZON)
    data = _Histories.of(*columns(frame), 0.6, schedule)
    predicted = _predict(purchase, spend, data, data.everyone())
    x, t_x, T, m = columns(frame)
    expected = customer_lifetime_value(purchase, spend, x, t_x, T, m, margin=0.6, **HORIZON)
    np.testing.assert_allclose(predicted.clv, expected, rtol=1e-10)
    history = data.history_of_customer
    np.testing.assert_allclose(predicted.p_alive[history], purchase.conditional_probability_alive(x, t_x, T), rtol=1e-12)
    np.testing.assert_allclose(
        predicted.expected_purchases[history], purchase.conditional_expected_purchases(360.0, x, t_x, T), rtol=1e-10
    )


def test_a_chunk_puts_together_the_p_alive_of_its_histories_to_the_bit(case) -> None:
    # each chunk evaluates the (x, age) pairs its histories use; everyone, every pair
    frame, purchase, spend = case
    data = _Histories.of(*columns(frame), 1.0, _Schedule.of(**HORIZON))
    whole = _predict(purchase, spend, data, data.everyone()).p_alive
    chunks = list(data.chunks(500))
    assert len(chunks) > 3
    for chunk in chunks:
        np.testing.assert_array_equal(_predict(purchase, spend, data, chunk).p_alive, whole[chunk.histories])
    assert data.ages.x.size < 2 * data.n_histories  # histories share their pairs


def test_customer_intervals_contain_the_point_predictions(case) -> None:
    frame, purchase, spend = case
    draws = draw_parameters(purchase, spend, draws=200, seed=1)
    bounds = customer_intervals(draws, *columns(frame), **HORIZON, margin=0.5)
    x, t_x, T, m = columns(frame)
    points = {
        "p_alive": purchase.conditional_probability_alive(x, t_x, T),
        "expected_purchases": purchase.conditional_expected_purchases(360.0, x, t_x, T),
        "clv": customer_lifetime_value(purchase, spend, x, t_x, T, m, margin=0.5, **HORIZON),
    }
    assert list(bounds.columns) == list(CUSTOMER_INTERVAL_COLUMNS)
    for name, point in points.items():
        low, high = bounds[f"{name}_low"].to_numpy(), bounds[f"{name}_high"].to_numpy()
        slack = 1e-9 * np.abs(point)
        assert np.all(low <= high)
        assert np.all((low - slack <= point) & (point <= high + slack)), name
        assert np.median((high - low) / point) > 0, name  # intervals are not degenerate


def test_intervals_halve_when_the_customers_quadruple() -> None:
    # the same 300 reference histories, scored with fits on 4,000 and 16,000 customers of one
    # process: the standard errors scale like 1/sqrt(n), so the intervals' widths should halve.
    # tolerance: the median width ratio within 0.35-0.70 (sampling noise of the two fits' standard
    # errors is about 10 % each)
    reference = simulated_customers(300, seed=99)
    widths = []
    for n, seed in ((4000, 31), (16000, 32)):
        purchase, spend = fit(simulated_customers(n, seed=seed))
        draws = draw_parameters(purchase, spend, draws=400, seed=5)
        bounds = customer_intervals(draws, *columns(reference), **HORIZON)
        widths.append((bounds["clv_high"] - bounds["clv_low"]).to_numpy())
        parameters = parameter_intervals(draws)
        widths.append((parameters["high"] - parameters["low"]).to_numpy())
    clv_ratio = np.median(widths[2] / widths[0])
    parameter_ratio = np.median(widths[3] / widths[1])
    assert 0.35 <= clv_ratio <= 0.70, clv_ratio
    assert 0.35 <= parameter_ratio <= 0.70, parameter_ratio


def test_results_are_reproducible_with_a_seed(models, customers) -> None:
    frame = customers.head(500)
    purchase, spend = models
    first = customer_intervals(draw_parameters(purchase, spend, draws=50, seed=7), *columns(frame))
    again = customer_intervals(draw_parameters(purchase, spend, draws=50, seed=7), *columns(frame))
    other = customer_intervals(draw_parameters(purchase, spend, draws=50, seed=8), *columns(frame))
    pd.testing.assert_frame_equal(first, again)
    assert not np.allclose(first["clv_high"], other["clv_high"])


def test_chunks_give_the_result_of_one_chunk(case) -> None:
    frame, purchase, spend = case
    frame = frame.head(1500)
    draws = draw_parameters(purchase, spend, draws=60, seed=2)
    whole = customer_intervals(draws, *columns(frame), chunk_size=10**6)
    for size in (97, 500):
        chunked = customer_intervals(draws, *columns(frame), chunk_size=size)
        np.testing.assert_allclose(chunked.to_numpy(), whole.to_numpy(), rtol=1e-12, atol=0)


def test_a_thread_reusing_its_matrices_for_chunks_of_any_size_gives_the_result_of_one_chunk(case) -> None:
    # a thread keeps its draw matrices from chunk to chunk: here the shorter last chunk comes first,
    # so they grow for the next, and the third finds the second's values in them
    frame, purchase, spend = case
    frame = frame.head(700)
    draws = draw_parameters(purchase, spend, draws=40, seed=3)
    whole = customer_intervals(draws, *columns(frame), chunk_size=10**6)
    schedule = _Schedule.of(12, DAYS_PER_MONTH, 0.10, DAYS_PER_YEAR)  # customer_intervals' defaults
    bounds = _CustomerBounds(draws, _Histories.of(*columns(frame), 1.0, schedule), DEFAULT_LEVEL, 1, keep_terms=False)
    chunks = list(bounds._data.chunks(300))
    assert [len(chunk.rows) for chunk in chunks] == [300, 300, 100]
    for chunk in reversed(chunks):
        bounds._fill(chunk)
    np.testing.assert_allclose(pd.DataFrame(bounds._out).to_numpy(), whole.to_numpy(), rtol=1e-12, atol=0)


@settings(max_examples=examples(300), deadline=None, derandomize=True, database=None)
@given(
    rows=st.integers(1, 6),
    draws=st.integers(1, 60),
    seed=st.integers(0, 2**32 - 1),
    kind=st.sampled_from(["normal", "ties", "nan", "inf"]),
    level=st.one_of(st.sampled_from([0.5, 0.8, 0.9, 0.95, 0.99, 0.0, 1.0 - 1e-17]), st.floats(0.01, 0.99)),
)
def test_row_quantiles_are_numpys_quantiles(rows: int, draws: int, seed: int, kind: str, level: float) -> None:
    # the sort-based quantiles must be numpy's to the bit: order statistics, interpolation, NaN rows
    rng = np.random.default_rng(seed)
    matrix = rng.standard_normal((rows, draws)) * 10.0 ** rng.integers(-3, 6)
    if kind == "ties":
        matrix = np.round(matrix)
    elif kind in ("nan", "inf"):
        special = np.nan if kind == "nan" else rng.choice([np.inf, -np.inf])
        matrix[rng.random(matrix.shape) < 0.1] = special
    quantiles = ((1 - level) / 2, (1 + level) / 2)
    with np.errstate(invalid="ignore"):
        expected = np.quantile(matrix, quantiles, axis=1)
        got = _row_quantiles(matrix.copy(), quantiles)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("cores_used", [1, 2, 8])
def test_customer_intervals_stay_within_memory_of_a_chunk(models, monkeypatch, cores_used) -> None:
    # 20,000 customers x 100 draws would be a 16 MB matrix per quantity (one chunk: 59 MB in
    # all); with 1,000 customers at once the peak of numpy's allocations, inputs and outputs
    # included, stays below half of one such matrix, however many cores share them (5.0 MB
    # measured on 1, 2 and 8)
    for module in (cores, intervals):  # the threads, and the chunks that share the cores
        monkeypatch.setattr(module, "usable_cores", lambda: cores_used)
    frame = simulated_customers(20_000, seed=41)
    draws = draw_parameters(*models, draws=100, seed=0)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        customer_intervals(draws, *columns(frame), chunk_size=1000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    full_matrix = 20_000 * 100 * 8
    assert peak < full_matrix / 2, peak / 2**20


# ------------------------------------------------------------------------------ group intervals


def test_group_intervals_contain_the_point_totals_and_shares(case) -> None:
    frame, purchase, spend = case
    draws = draw_parameters(purchase, spend, draws=200, seed=4)
    groups = np.where(frame["frequency"] >= 2, "repeat", "few")
    table = group_value_intervals(draws, *columns(frame), groups, **HORIZON)
    point = customer_lifetime_value(purchase, spend, *columns(frame), **HORIZON)
    totals = pd.Series(point).groupby(groups).sum()
    assert list(table.index) == ["few", "repeat"]
    np.testing.assert_allclose(table["clv_total"], totals.loc[table.index], rtol=1e-10)
    assert table["clv_share"].sum() == pytest.approx(1.0)
    for name in ("clv_total", "clv_share"):
        assert np.all(table[f"{name}_low"] <= table[name]) and np.all(table[name] <= table[f"{name}_high"])


# ------------------------------------------------------------------------------ tier membership


def test_tier_assigner_reproduces_assign_tiers(models, customers) -> None:
    purchase, spend = models
    table = customers.assign(
        clv=customer_lifetime_value(purchase, spend, *columns(customers), **HORIZON),
        p_alive=purchase.conditional_probability_alive(*columns(customers)[:3]),
        historic_value=customers["frequency"] * customers["monetary_value"],
        tenure_days=customers["T"],
    ).sample(frac=1.0, random_state=3)  # any row order
    for method, options in (("clv", None), ("clv", {"cutoffs": [100.0, 20.0, 5.0]}), ("pareto", None),
                            ("composite", None)):
        assign = tier_assigner(table, method, n_tiers=4, options=options)
        expected = assign_tiers(table, method, n_tiers=4, options=options).tier.to_numpy()
        np.testing.assert_array_equal(assign(table["clv"].to_numpy()), expected)
        # and it follows a new CLV vector: the lowest CLV raised above all others
        lowest = int(np.argmin(table["clv"].to_numpy()))
        raised = table["clv"].to_numpy().copy()
        raised[lowest] = 10 * raised.max()
        if method == "composite":  # CLV is one of three components of its score
            assert assign(raised)[lowest] < expected[lowest]
        else:
            assert assign(raised)[lowest] == 1 < expected[lowest]


def test_a_rule_on_the_clv_alone_places_each_vector_as_it_places_the_table() -> None:
    """clv and pareto place a draw's CLV vector without the table: the same tiers as the table with
    that CLV, ties ranked by customer_id, whatever the table's row order; a missing CLV still names
    its customer."""
    rng = np.random.default_rng(5)
    ids = [f"C{i:05d}" for i in range(2_000)]
    shuffled = pd.DataFrame({"customer_id": ids, "clv": rng.gamma(0.5, 100.0, 2_000)}).sample(frac=1.0, random_state=1)
    vectors = [
        np.round(rng.gamma(0.5, 100.0, 2_000), -1),  # tens only: many ties, some across each cut
        rng.normal(20.0, 50.0, 2_000),  # negative values: pareto counts them as 0
    ]
    rules = (("clv", None), ("clv", {"shares": [0.05, 0.15, 0.3, 0.5]}), ("clv", {"cutoffs": [100.0, 20.0, 5.0]}),
             ("pareto", None))
    for table in (shuffled, shuffled.sort_values("customer_id")):
        for method, options in rules:
            assign = tier_assigner(table, method, n_tiers=4, options=options)
            for vector in vectors:
                expected = assign_tiers(table.assign(clv=vector), method, n_tiers=4, options=options).tier
                np.testing.assert_array_equal(assign(vector), expected.to_numpy())
    missing = vectors[0].copy()
    missing[7] = np.nan
    with pytest.raises(TieringError, match=shuffled["customer_id"].iloc[7]):
        tier_assigner(shuffled, "clv", n_tiers=4)(missing)


def test_customer_on_a_cut_off_is_borderline_and_one_far_from_it_is_not(models, customers) -> None:
    purchase, spend = models
    point = customer_lifetime_value(purchase, spend, *columns(customers), **HORIZON)
    repeat = np.flatnonzero(customers["frequency"].to_numpy() >= 2)
    on_cut = repeat[np.argsort(point[repeat])[repeat.size // 2]]
    # a hair below its CLV: tier_membership computes the point CLVs again, equal only up to the last digits
    cut = float(point[on_cut]) * (1 - 1e-9)
    far = int(np.argmax(point))  # CLV many times the cut-off
    assert point[far] > 5 * cut
    table = customers.assign(clv=point)
    assign = tier_assigner(table, "clv", n_tiers=2, options={"cutoffs": [cut]})
    draws = draw_parameters(purchase, spend, draws=400, seed=9)
    membership = tier_membership(draws, *columns(customers), assign, **HORIZON)
    result = membership.customers
    # tolerance: at the cut-off P(CLV_draw >= CLV_hat) is about 1/2 (the draws' median is the
    # estimate up to skewness); 400 draws add sd 0.025
    assert result.loc[on_cut, "tier"] == 1
    assert 0.35 <= result.loc[on_cut, "tier_probability"] <= 0.65
    assert result.loc[on_cut, "borderline"]
    assert result.loc[far, "tier_probability"] == 1.0 and not result.loc[far, "borderline"]
    probabilities = result[["p_tier_1", "p_tier_2"]].to_numpy()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    assert (result["borderline"] == (result["tier_probability"] < 0.8)).all()


def test_share_based_tiers_keep_their_sizes_in_every_draw(models, customers) -> None:
    purchase, spend = models
    point = customer_lifetime_value(purchase, spend, *columns(customers), **HORIZON)
    table = customers.assign(clv=point)
    assign = tier_assigner(table, "clv", n_tiers=3)
    draws = draw_parameters(purchase, spend, draws=100, seed=4)
    membership = tier_membership(draws, *columns(customers), assign, threshold=0.9, **HORIZON)
    result, tiers = membership.customers, membership.tiers
    probabilities = result[["p_tier_1", "p_tier_2", "p_tier_3"]]
    # ranks cut by shares: every draw has 20/30/50 % of customers per tier
    np.testing.assert_allclose(probabilities.sum(axis=0), tiers["customers"].to_numpy(), rtol=1e-12)
    top = np.argsort(point)[-20:]  # the 20 highest CLVs, far above the top tier's cut
    assert (result.loc[top, "tier_probability"] == 1.0).all()
    assert tiers["borderline"].sum() == result["borderline"].sum() > 0
    assert (tiers["clv_share_low"] <= tiers["clv_share"]).all() and (tiers["clv_share"] <= tiers["clv_share_high"]).all()
    assert tiers["clv_share_low"].iloc[0] > tiers["clv_share_high"].iloc[1]  # tier 1 holds the most


def test_a_tier_function_returning_other_tiers_is_refused(models, customers) -> None:
    purchase, spend = models
    draws = draw_parameters(purchase, spend, draws=5, seed=0)
    frame = customers.head(50)
    with pytest.raises(CLVInputError, match="tier function"):
        tier_membership(draws, *columns(frame), lambda clv: np.ones(3, dtype=int))
    with pytest.raises(CLVInputError, match="outside"):
        tier_membership(draws, *columns(frame), lambda clv: np.full(clv.size, 3), tiers=np.ones(50, dtype=int))


# ----------------------------------------------------------------------------- the stage helpers


def test_clv_intervals_for_stage_2(case) -> None:
    frame, purchase, spend = case
    frame = frame.head(800).copy()
    # a repeat buyer without positive spend: stage 2 gives them the population mean spend
    zero = int(np.flatnonzero(frame["frequency"].to_numpy() > 0)[0])
    frame.loc[frame.index[zero], "monetary_value"] = 0.0
    margin = np.linspace(0.2, 0.8, len(frame))
    draws = draw_parameters(purchase, spend, draws=100, seed=3)
    both = clv_intervals(frame, draws, margin=margin, **HORIZON)
    result = both.customers
    assert both.draws.pair_terms is not None and draws.pair_terms is None  # the draws given are left as they were
    np.testing.assert_array_equal(both.draws.purchase, draws.purchase)
    assert list(result.columns) == ["customer_id", *CUSTOMER_INTERVAL_COLUMNS]
    assert result["customer_id"].tolist() == frame["customer_id"].tolist()
    # stage 2's CLV (stages.rfm_clv.model_clv): the purchase model on the real frequency, the
    # spend model on frequency 0 where the mean spend is not positive
    x, t_x, T, m = columns(frame)
    spend_x = x.where(m > 0, 0)
    expected_spend = spend.conditional_expected_average_profit(spend_x, m.where(m > 0, 0.0))
    stage_point = discounted_expected_purchases(purchase, x, t_x, T, **HORIZON) * expected_spend * margin
    inside = (result["clv_low"] <= stage_point * (1 + 1e-9)) & (stage_point * (1 - 1e-9) <= result["clv_high"])
    assert inside.all()


def tiered(models, customers) -> tuple[pd.DataFrame, TierAssign]:
    """The customers with their point CLV and 4 CLV tiers, and the tier function of the draws."""
    point = customer_lifetime_value(*models, *columns(customers), **HORIZON)
    table = customers.assign(clv=point)
    assign = tier_assigner(table, "clv", n_tiers=4)
    table["tier"] = assign(point)
    return table, assign


def test_tier_intervals_for_stage_3(models, customers) -> None:
    table, assign = tiered(models, customers)
    draws = draw_parameters(*models, draws=50, seed=1)
    result = tier_intervals(table, draws, assign=assign, **HORIZON)
    assert list(result.customers.columns[:4]) == ["customer_id", "tier", "tier_probability", "borderline"]
    assert result.customers["customer_id"].tolist() == table["customer_id"].tolist()
    assert list(result.tiers.index) == [1, 2, 3, 4]
    assert {"clv_share_low", "clv_share_high", "clv_total_low", "clv_total_high"} <= set(result.tiers.columns)
    with pytest.raises(CLVInputError, match="tier"):
        tier_intervals(table.drop(columns="tier"), draws, assign=assign)


def test_draws_written_and_read_back_predict_the_same(models, customers) -> None:
    """Stage 2 keeps the draws as a table; stage 3 rebuilds them around models holding only the estimates."""
    purchase, spend = models
    draws = draw_parameters(purchase, spend, draws=20, seed=4)
    bare_purchase = with_estimates(type(purchase)(), purchase.params_)
    bare_spend = with_estimates(GammaGammaModel(), spend.params_)
    again = ParameterDraws.from_frame(draws.frame(), bare_purchase, bare_spend, seed=4)
    frame = customers.head(300)
    pd.testing.assert_frame_equal(customer_intervals(again, *columns(frame)), customer_intervals(draws, *columns(frame)))
    with pytest.raises(CLVInputError, match="another model"):
        ParameterDraws.from_frame(draws.frame().drop(columns="b"), bare_purchase, bare_spend)
    with pytest.raises(CLVInputError, match="lack the parameter"):
        with_estimates(GammaGammaModel(), {"p": 1.0})


def test_intervals_on_several_threads_are_those_of_one(models, customers, monkeypatch) -> None:
    """Chunks and draws spread over threads give the one-thread results to the bit."""
    table, assign = tiered(models, customers)
    draws = draw_parameters(*models, draws=40, seed=3)

    def results() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        bounds = customer_intervals(draws, *columns(customers), chunk_size=700, **HORIZON)
        tiered = tier_intervals(table, draws, assign=assign, **HORIZON)
        return bounds, tiered.customers, tiered.tiers

    monkeypatch.setattr(intervals, "in_threads", lambda work, items: cores.in_threads(work, items, threads=3))
    threaded = results()
    monkeypatch.setattr(intervals, "in_threads", lambda work, items: map(work, items))
    for got, want in zip(threaded, results(), strict=True):
        pd.testing.assert_frame_equal(got, want, check_exact=True)


def test_stage_3_reuses_the_pair_terms_of_stage_2_to_the_bit(case) -> None:
    """Tier probabilities from the pair terms clv_intervals kept (in chunks, through a frame round
    trip) are those computed afresh; terms of other customers or another horizon are not used."""
    customers, *models = case
    table, assign = tiered(models, customers)
    draws = draw_parameters(*models, draws=30, seed=5)
    kept = clv_intervals(table, draws, chunk_size=333, **HORIZON).draws.pair_terms
    assert kept.discounted.shape == (30, kept.pairs.shape[0]) and np.isfinite(kept.discounted).all()
    stored = PairTerms.from_frame(kept.frame(), kept.ends, kept.discount)
    np.testing.assert_array_equal(stored.discounted, kept.discounted)
    np.testing.assert_array_equal(stored.pairs, kept.pairs)

    fresh = tier_intervals(table, draws, assign=assign, **HORIZON)
    reused = tier_intervals(table, replace(draws, pair_terms=stored), assign=assign, **HORIZON)
    pd.testing.assert_frame_equal(reused.customers, fresh.customers, check_exact=True)
    pd.testing.assert_frame_equal(reused.tiers, fresh.tiers, check_exact=True)

    # they are used: wrong values for the right customers and horizon change the result
    doubled = replace(stored, discounted=stored.discounted * 2)
    moved = tier_intervals(table, replace(draws, pair_terms=doubled), assign=assign, **HORIZON)
    np.testing.assert_allclose(moved.tiers["clv_total_low"], 2 * fresh.tiers["clv_total_low"], rtol=1e-12)

    # another horizon, other customers or fewer draws: computed afresh
    longer = {**HORIZON, "horizon_periods": HORIZON["horizon_periods"] + 1}
    assert tier_intervals(table, replace(draws, pair_terms=doubled), assign=assign, **longer).tiers.equals(
        tier_intervals(table, draws, assign=assign, **longer).tiers)
    fewer = table.iloc[: len(table) // 2].reset_index(drop=True)
    half_assign = tier_assigner(fewer, "clv", n_tiers=4)
    assert tier_intervals(fewer, replace(draws, pair_terms=doubled), assign=half_assign, **HORIZON).tiers.equals(
        tier_intervals(fewer, draws, assign=half_assign, **HORIZON).tiers)
    data = _Histories.of(*columns(table), 1.0, _Schedule.of(**HORIZON))
    assert stored.matching(data, 30) is stored.discounted and stored.matching(data, 29) is None


def test_the_tier_function_gives_each_thread_its_own_table(monkeypatch) -> None:
    """tier_membership places two draws at once: each call places the CLV vector it was given, even
    when the other thread has set its vector before this one reads it (both calls wait at a barrier
    in the rule, after setting and before reading)."""
    from analysis.methods import tiers as tiering

    rng = np.random.default_rng(11)
    # composite: a rule that reads other columns too, so it places the table, not the vector alone
    table = pd.DataFrame({"customer_id": [f"C{i:04d}" for i in rng.permutation(1_000)], "clv": rng.gamma(0.5, 100.0, 1_000),
                          "historic_value": rng.gamma(0.5, 100.0, 1_000), "p_alive": rng.uniform(size=1_000),
                          "tenure_days": rng.integers(30, 900, 1_000)})
    vectors = [rng.gamma(0.5, 100.0, 1_000), rng.gamma(0.5, 100.0, 1_000)]
    expected = [tier_assigner(table, "composite", n_tiers=4)(v) for v in vectors]
    rule, both_set = tiering._METHOD_FUNCS["composite"], threading.Barrier(2, timeout=10)

    def rule_once_both_set(frame, *args):
        if threading.current_thread() is not threading.main_thread():
            both_set.wait()
        return rule(frame, *args)

    monkeypatch.setitem(tiering._METHOD_FUNCS, "composite", rule_once_both_set)
    assign = tier_assigner(table, "composite", n_tiers=4)  # checks the rule once, here in the main thread
    with ThreadPoolExecutor(2) as pool:
        placed = list(pool.map(assign, vectors))
    for got, want in zip(placed, expected, strict=True):
        np.testing.assert_array_equal(got, want)
