"""The sample study's results against the generator's truth: the models, drivers, churn, tiers, allocation.

The sample data are drawn from known processes (data/raw/sample/truth.json), so a correct pipeline
must recover them. Tolerances are stated per check.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run(sample_report, out_root):
    processed = out_root / "data/processed/sample"
    truth = json.loads((ROOT / "data/raw/sample/truth.json").read_text(encoding="utf-8"))
    return processed, truth


def load_json(processed: Path, name: str) -> dict:
    return json.loads((processed / name).read_text(encoding="utf-8"))


def within(estimate: float, true: float, se: float, *, rel: float = 0.15, n_se: float = 3.0) -> bool:
    """Within rel of the truth or n_se standard errors, whichever is wider."""
    return abs(estimate - true) <= max(rel * abs(true), n_se * se)


def test_bgnbd_and_gamma_gamma_recover_the_generators_parameters(run):
    # Tolerance: 3 standard errors, or 20 % for BG/NBD and 15 % for Gamma-Gamma. Purchases are counted
    # per day (as lifetimes does), so a heavy buyer's same-day draws merge; the generator skips them.
    # That lowers the observed rate of the heaviest buyers and biases α upwards (≈ +15 % here).
    processed, truth = run
    models = load_json(processed, "models.json")
    for name, rel in (("bgnbd", 0.20), ("gamma_gamma", 0.15)):
        fitted = models[name]
        assert fitted["converged"], name
        for param, true in truth[name].items():
            estimate, se = fitted["params"][param], fitted["standard_errors"][param]
            assert within(estimate, true, se, rel=rel), (name, param, fitted["params"])
    assert models["clv"]["method"] == "model" and models["clv"]["fallback_reasons"] == []
    # The holdout (after calibration_end) holds the last quarter, in which the customers served as planned
    # bought at twice their BG/NBD rate (truth.json → plan_effect): the model is checked on the purchases
    # without those extra orders of the holdout's customers (first purchase by calibration_end).
    calibration = models["bgnbd_calibration"]
    holdout = calibration["holdout_figures"]
    tx = pd.read_csv(ROOT / "data/raw/sample/transactions.csv", encoding="utf-8-sig", dtype=str)
    first = pd.read_csv(ROOT / "data/raw/sample/truth_customers.csv", dtype=str).set_index("customer_id")["first_purchase"]
    plan_buyers = tx.loc[tx["订单编号"].isin(truth["plan_effect"]["order_ids"]), "客户编号"]
    extra = int((first.loc[plan_buyers] <= calibration["calibration_end"]).sum())
    assert 0 < extra <= truth["plan_effect"]["extra_purchases"]
    assert abs(holdout["total_predicted"] / (holdout["total_actual"] - extra) - 1) < 0.05


def test_p_alive_separates_customers_who_are_truly_still_active(run):
    processed, _ = run
    customers = pd.read_parquet(processed / "customers.parquet")
    truth = pd.read_csv(ROOT / "data/raw/sample/truth_customers.csv", dtype={"customer_id": str})
    joined = customers.merge(truth[["customer_id", "alive_at_end"]], on="customer_id")
    assert len(joined) == len(customers)
    assert roc_auc_score(joined["alive_at_end"], joined["p_alive"]) > 0.8


def test_driver_ranking_matches_the_true_weights(run):
    processed, truth = run
    drivers = pd.read_parquet(processed / "drivers_satisfaction.parquet")
    names = {"产品质量": "product_quality", "服务响应速度": "service_response", "价格合理性": "price_fairness",
             "交付及时性": "delivery_timeliness", "客户经理专业度": "manager_expertise"}
    true = pd.Series({names.get(k, k): v for k, v in truth["satisfaction_weights"].items()})
    estimated = drivers.set_index("attribute")["importance_pct"]
    assert estimated.idxmax() == true.idxmax()
    assert estimated.rank().corr(true.reindex(estimated.index).rank(), method="spearman") > 0.7


def test_churn_model_beats_the_naive_recency_rule_on_the_sample(run):
    processed, _ = run
    validation = load_json(processed, "experience.json")["churn_validation"]
    assert validation["auc"] > validation["baselines"]["recency"]
    assert validation["auc"] > 0.75 and len(validation["calibration"]) == 10


def test_tier_shares_add_up_and_tiers_differ(run):
    processed, _ = run
    profile = pd.read_parquet(processed / "tier_profile.parquet")
    for column in ("customer_share", "revenue_share", "clv_share"):
        assert profile[column].sum() == pytest.approx(1.0)
    assert profile["clv"].is_monotonic_decreasing
    customers = pd.read_parquet(processed / "customers.parquet")
    assert customers["tier"].notna().all() and customers["tier"].between(1, 4).all()


def test_migration_counts_account_for_both_quarters(run, out_root):
    processed, _ = run
    record = load_json(processed, "tiering.json")["migration"]
    counts = pd.read_parquet(processed / "migration_counts.parquet").set_index("previous")
    assert int(counts.to_numpy().sum()) == record["same"] + record["upgrades"] + record["downgrades"] + record["new"] + record["lost"]
    assert record["upgrades"] > 0 and record["downgrades"] > 0 and record["new"] > 0 and record["lost"] > 0


def test_optimised_allocation_beats_naive_splits_and_respects_the_budget(run):
    processed, _ = run
    allocation = pd.read_parquet(processed / "allocation.parquet")
    params_budget = 1_000_000.0
    assert allocation["budget"].sum() == pytest.approx(params_budget, rel=1e-9)
    assert (allocation["budget"] >= 0).all()
    assert allocation["value_optimal"].sum() >= allocation["value_equal"].sum()
    assert allocation["value_optimal"].sum() >= allocation["value_revenue"].sum()
    interior = allocation[allocation["bound"].fillna("") == ""]
    if len(interior) > 1:
        assert np.ptp(interior["marginal_value"]) < 1e-6 * interior["marginal_value"].abs().max()


def test_report_masks_personal_data(sample_report):
    master = pd.read_excel(ROOT / "data/raw/sample/customers.xlsx", dtype=str, engine="calamine")
    for name in ("index.html", "index.en.html"):
        page = (sample_report.parent / name).read_text(encoding="utf-8")
        assert not any(phone in page for phone in master["联系电话"].dropna().head(500))
        assert not any(customer in page for customer in master["客户名称"].dropna().head(500) if len(customer) >= 3)
        assert not any(f">{cid}<" in page for cid in master["客户编号"].head(500))


@pytest.mark.spark
def test_spark_and_duckdb_summaries_agree_on_the_sample_study(run):
    from datetime import date

    from analysis.methods.customer_summary import customer_summary

    processed, _ = run
    path = processed / "transactions.parquet"
    kwargs = {"observation_end": date(2025, 12, 31), "observation_start": date(2023, 1, 1)}
    duck = customer_summary(path, engine="duckdb", **kwargs)
    spark = customer_summary(path, engine="spark", **kwargs)
    pd.testing.assert_frame_equal(duck, spark)


def test_the_sample_reports_its_value_with_intervals_and_few_borderline_customers(run):
    # The sample's 4,987 customers pin the parameters down: the intervals are narrow, hold the point
    # predictions, and few customers (under 3 %) have a tier that a redraw of the parameters would change.
    processed, _ = run
    customers = pd.read_parquet(processed / "customers.parquet")
    for name in ("clv", "p_alive", "expected_purchases"):
        point, low, high = customers[name], customers[f"{name}_low"], customers[f"{name}_high"]
        assert ((low <= point * (1 + 1e-9)) & (point * (1 - 1e-9) <= high)).all(), name
    valued = customers[customers["clv"] > 0]
    assert ((valued["clv_high"] - valued["clv_low"]) / valued["clv"]).median() < 0.2
    intervals = pd.read_parquet(processed / "tier_value_intervals.parquet").set_index("tier")
    assert intervals["clv_share"].sum() == pytest.approx(1.0)
    assert (intervals["clv_share_low"] <= intervals["clv_share"] + 1e-12).all()
    assert (intervals["clv_share"] <= intervals["clv_share_high"] + 1e-12).all()
    assert intervals["clv_share"].is_monotonic_decreasing  # the value tiers hold value in their order
    record = load_json(processed, "tiering.json")["uncertainty"]
    assert record["borderline"] == int(customers["borderline"].sum()) == int(intervals["borderline"].sum())
    assert 0 < record["borderline"] < 0.03 * len(customers)
    models = load_json(processed, "models.json")
    assert models["intervals"]["draws"] == 200
    assert (processed / "clv_parameter_draws.parquet").is_file()
    # stage 3 placed the tiers under every draw from the pair terms stage 2 kept for these customers
    terms = pd.read_parquet(processed / "clv_pair_terms.parquet")
    assert list(terms.columns[:3]) == ["frequency", "T", "draw_1"] and terms.shape[1] == 2 + 200
    assert len(terms) == len(customers[["frequency", "T"]].drop_duplicates())
    assert len(models["intervals"]["pair_terms_horizon"]["period_ends"]) == 12  # clv_horizon_months


def test_last_quarters_plan_effect_is_recovered_and_the_naive_one_is_not(run, sample_report):
    """The sample serves ~43 % of last quarter's customers as planned and doubling their purchase rate
    raises the share who bought by truth.json → plan_effect.ate.bought (about 7 points); the managers
    served the likelier buyers, so the naive difference is about three times that. The adjusted 95 %
    interval must hold the true effect (on the share who bought and on spend, whose quarter before is
    unaffected) and the naive interval must not; NPS is untouched by the plan, so its interval holds 0."""
    processed, truth = run
    plan = load_json(processed, "plan_effect.json")
    true = truth["plan_effect"]
    assert plan["skipped"] is None and plan["quarter"] == true["quarter"]
    assert plan["cadence_source"] == "previous_allocation"
    assert abs(plan["n_customers"] - true["eligible"]) <= 0.02 * true["eligible"]
    assert abs(plan["n_treated"] - true["served"]) <= 0.02 * true["served"]
    bought = plan["outcomes"]["bought"]
    assert bought["low"] <= true["ate"]["bought"] <= bought["high"]
    assert bought["naive_low"] > true["ate"]["bought"] + 0.05
    assert bought["naive"] == pytest.approx(true["naive"]["bought"], abs=0.02)
    spend = plan["outcomes"]["spend_change"]
    assert spend["low"] <= true["ate"]["spend"] <= spend["high"]
    nps = plan["outcomes"]["nps"]
    assert nps["low"] <= 0 <= nps["high"]
    previous = load_json(processed.parent / "sample_prev", "plan_effect.json")
    assert previous["skipped"]["key"] == "plan_effect_skip_no_previous_run"
    page = (sample_report.parent / "index.en.html").read_text(encoding="utf-8")
    assert 'href="#plan_effect">Did last quarter&#39;s plan work?' in page
    assert "管理效果评估" in (sample_report.parent / "index.html").read_text(encoding="utf-8")
    assert f"{100 * bought['estimate']:+.1f} points" in page


def test_stage_4_holds_the_transactions_coded_with_the_results_of_the_frame(sample_report, out_root, monkeypatch):
    """Stage 4 reads the transactions into arrays, a piece of whole customers at a time (no frame of
    them is held through the stage), and its tables and customers are, to the bit, those computed
    from the framed transactions."""
    from dataclasses import replace

    from analysis.frame import catalog
    from analysis.frame.study import open_study
    from analysis.methods import churn, lifecycle, loyalty
    from analysis.stages import satisfaction_loyalty

    study = open_study(ROOT / "params" / "sample.yaml", out_root=out_root)
    # the cleaning writes by customer, so the sample's rows are coded in many pieces, not read whole
    assert study.read(catalog.TRANSACTIONS, columns=["customer_id"])["customer_id"].is_monotonic_increasing
    monkeypatch.setattr(satisfaction_loyalty, "ROWS_PER_PIECE", 997)
    inputs = satisfaction_loyalty.read_inputs(study)
    assert isinstance(inputs.transactions, churn.CodedTransactions)
    framed = replace(inputs, transactions=lifecycle.transactions_frame(study.read(catalog.TRANSACTIONS)),
                     customers=inputs.customers.copy())
    coded = satisfaction_loyalty.compute(inputs, study.params)
    from_frame = satisfaction_loyalty.compute(framed, study.params)
    assert coded.tables.keys() == from_frame.tables.keys()
    for key, table in coded.tables.items():
        pd.testing.assert_frame_equal(table, from_frame.tables[key], check_exact=True, obj=key)
    pd.testing.assert_frame_equal(coded.customers, from_frame.customers, check_exact=True)
    assert coded.churn_validation == from_frame.churn_validation and coded.skipped == from_frame.skipped
    assert len(coded.tables["cohorts"]) and coded.customers["churn_probability"].notna().all()
    # and the cohorts and spend trend are those of the functions on the frame
    end = study.params.period.end
    cohorts = loyalty.cohort_retention(framed.transactions, period="Q", as_of=end).long
    pd.testing.assert_frame_equal(coded.tables["cohorts"], cohorts, check_exact=True)
    trend = lifecycle.spend_trend(framed.transactions, end).set_index("customer_id")
    spend = coded.customers.set_index("customer_id")[["recent_spend", "previous_spend"]]
    pd.testing.assert_frame_equal(spend, trend[spend.columns].reindex(spend.index), check_exact=True)


def test_the_report_greys_the_drivers_by_the_answers_stage_4_estimated_them_on(run, out_root):
    from analysis.frame import catalog
    from analysis.frame.study import open_study
    from analysis.report.sections import RunOutputs, drivers_answers

    processed, _ = run
    record = load_json(processed, "experience.json")
    recorded = record["drivers_answers"]
    surveys = pd.read_parquet(processed / "surveys.parquet")
    assert 0 < recorded <= surveys["customer_id"].nunique()  # each respondent's latest answer, complete
    study = open_study(ROOT / "params/sample.yaml", out_root)
    attributes = study.params.satisfaction.attributes

    def outputs(experience: dict) -> RunOutputs:
        out = RunOutputs(study, "en")
        out._cache[catalog.EXPERIENCE_JSON] = experience
        return out

    assert drivers_answers(outputs({**record, "drivers_answers": 7}), attributes) == 7  # the recorded count
    # a stage 4 run from before the count was recorded: the report counts the answers itself, alike
    older = {k: v for k, v in record.items() if k != "drivers_answers"}
    assert drivers_answers(outputs(older), attributes) == recorded
