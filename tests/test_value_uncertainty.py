"""The CLV intervals and tier probabilities as stages 2 and 3 make them: from the draws stage 2 keeps
to the borderline customers stage 3 flags. (The draws' coverage of the true parameters is checked in
tests/test_clv_intervals.py; the sample run's outputs in tests/test_study_results.py.)"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.frame.params import ParamsError, load_params
from analysis.methods import clv
from analysis.stages import rfm_clv, tiers
from tests.test_clv_intervals import fit, simulated_customers

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def params():
    return load_params(ROOT / "params" / "sample.yaml")


@pytest.fixture(scope="module")
def scored(params):
    """1,500 simulated customers scored as stage 2 scores them: models, CLV, margin."""
    customers = simulated_customers(1500, seed=5)
    purchase, spend = fit(customers)
    customers["revenue"] = customers["monetary_value"] * (customers["frequency"] + 1)
    customers["margin_rate"] = 0.4
    margin = customers["margin_rate"].to_numpy()
    customers["expected_spend"], customers["clv"] = rfm_clv.model_clv(customers, purchase, spend, params.scoring, margin)
    customers["p_alive"] = purchase.conditional_probability_alive(customers["frequency"], customers["recency"], customers["T"])
    return customers, purchase, spend


def scoring_with(params, **changes):
    return params.scoring.model_copy(update=changes)


def test_stage_two_brackets_every_customer_and_keeps_its_draws(params, scored):
    customers, purchase, spend = scored
    scoring = scoring_with(params, interval_draws=60)
    bounds, draws, why = rfm_clv.value_intervals(customers, purchase, spend, scoring, customers["margin_rate"].to_numpy(), 1)
    assert why is None and draws.n_draws == 60
    assert list(bounds.columns) == ["customer_id", *clv.CUSTOMER_INTERVAL_COLUMNS]
    # the quantiles of draws around the estimate hold the point prediction
    for point, name in ((customers["clv"], "clv"), (customers["p_alive"], "p_alive")):
        assert ((bounds[f"{name}_low"] <= point * (1 + 1e-9)) & (point * (1 - 1e-9) <= bounds[f"{name}_high"])).all()
    record = rfm_clv.intervals_record(draws, scoring)
    assert record["draws"] == 60 and record["level"] == 0.9
    assert all(p["low"] <= p["estimate"] <= p["high"] for p in record["parameters"].values())
    # what stage 3 reads back: the same draws around models holding only the estimates
    models = {"intervals": record, "purchase_model": {"name": "bgnbd", "summary": purchase.summary()},
              "gamma_gamma": spend.summary(), "clv": {"time_unit": "D"}}
    again = rfm_clv.stored_draws(models, draws.frame())
    np.testing.assert_array_equal(again.purchase, draws.purchase)
    np.testing.assert_array_equal(again.spend, draws.spend)
    assert rfm_clv.stored_draws(models, None) is None


def test_stage_two_says_why_a_fit_without_covariance_has_no_intervals(params, scored):
    customers, purchase, spend = scored
    broken = clv.with_estimates(clv.BetaGeoModel(), purchase.params_)
    broken.log_covariance_ = np.full((4, 4), np.nan)
    bounds, draws, why = rfm_clv.value_intervals(customers, broken, spend, scoring_with(params, interval_draws=50),
                                                 customers["margin_rate"].to_numpy(), 1)
    assert bounds is None and draws is None and why["key"] == "skip_clv_intervals"
    assert "covariance" in why["values"]["detail"]
    off = rfm_clv.value_intervals(customers, purchase, spend, scoring_with(params, interval_draws=0),
                                  customers["margin_rate"].to_numpy(), 1)
    assert off == (None, None, None)


def test_stage_three_flags_the_customers_near_a_boundary(params, scored):
    customers, purchase, spend = scored
    draws = clv.draw_parameters(purchase, spend, draws=80, seed=2)
    p = params.model_copy(update={
        "scoring": scoring_with(params, interval_draws=80),
        "tiering": params.tiering.model_copy(update={"previous_run": None, "compare_methods": []}),
    })
    result = tiers.compute(customers, pd.DataFrame(columns=["customer_id", "amount"]), None, p, draws=draws)
    tiered = result.customers
    assert {"tier_probability", "borderline"} <= set(tiered.columns)
    assert tiered["borderline"].sum() == result.record["uncertainty"]["borderline"]
    per_tier = tiered.groupby("tier")["borderline"].sum()
    assert result.profile["borderline"].tolist() == per_tier.tolist()
    shares = result.value_intervals.set_index("tier")
    assert shares["clv_share"].sum() == pytest.approx(1.0)
    assert (shares["clv_share_low"] <= shares["clv_share"] + 1e-12).all()
    assert (shares["clv_share"] <= shares["clv_share_high"] + 1e-12).all()
    # borderline customers sit near a cut-off: measured in CLV, much nearer than the others
    cutoffs = np.asarray(tiers.tiers.rule_cutoffs(result.record["rule"]), dtype=float)
    distance = np.min(np.abs(np.log(tiered["clv"].to_numpy()[:, None] / cutoffs[None, :])), axis=1)
    flagged = tiered["borderline"].to_numpy()
    assert 0 < flagged.sum() < len(tiered) * 0.2
    assert np.median(distance[flagged]) < np.median(distance[~flagged]) / 5


def test_without_draws_stage_three_adds_no_uncertainty(params, scored):
    customers, _, _ = scored
    p = params.model_copy(update={"tiering": params.tiering.model_copy(update={"previous_run": None, "compare_methods": []})})
    result = tiers.compute(customers, pd.DataFrame(columns=["customer_id", "amount"]), None, p)
    assert "borderline" not in result.customers.columns and result.value_intervals is None
    assert result.record["uncertainty"] is None


@pytest.mark.parametrize("draws", [1, 10, 49])
def test_too_few_draws_are_refused_at_load(tmp_path, draws):
    text = (ROOT / "params" / "sample.yaml").read_text(encoding="utf-8")
    path = tmp_path / "p.yaml"
    path.write_text(text.replace("cleaning:", f"scoring:\n  interval_draws: {draws}\ncleaning:", 1), encoding="utf-8")
    with pytest.raises(ParamsError, match="interval_draws"):
        load_params(path)
