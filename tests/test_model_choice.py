"""Choosing the purchase model on the holdout (BG/NBD or Pareto/NBD), and the time units.

The rule (analysis.methods.clv.selection) must pick the model that generated the data in a clear
case: customers simulated from BG/NBD with the sample study's parameters (dropout right after
purchases), and from Pareto/NBD with heavy buyers and a continuous dropout. With 3,000 customers
and a 180-day holdout the two are told apart by the holdout deviance at more than 3 standard errors
(4 seeds each checked in the slow test); a near tie would go to BIC.
"""

from __future__ import annotations

import ast
import html
import json
import threading
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from analysis.frame import catalog
from analysis.frame.params import Period, Scoring
from analysis.frame.study import open_study
from analysis.i18n import message, render, text
from analysis.methods import clv
from analysis.methods.clv import CLVInputError, ParetoNBDModel
from analysis.methods.clv.selection import COMPARISON_COLUMNS
from analysis.methods.clv.validation import poisson_deviance
from analysis.report import sections
from analysis.report.localize import localize
from analysis.stages import rfm_clv
from tests.test_short_histories import PERIOD, cleaned, repeat_history

ROOT = Path(__file__).resolve().parents[1]
HOLDOUT_DAYS = 180.0
BGNBD = (0.55, 14.0, 0.6, 6.0)  # r, alpha, a, b of the sample study's generator (data/raw/sample/truth.json)
PARETO_NBD = (2.0, 20.0, 1.0, 300.0)  # r, alpha, s, beta: heavy buyers, dropout at any moment


def simulated(model: str, seed: int, n: int = 3000) -> pd.DataFrame:
    """Calibration summaries and holdout purchases of ``n`` customers aged 180–720 days."""
    ages = np.random.default_rng(seed + 100).uniform(180, 720, n)
    simulate = clv.simulate_bgnbd if model == "bgnbd" else clv.simulate_pareto_nbd
    params = BGNBD if model == "bgnbd" else PARETO_NBD
    frame = simulate(n, *params, T=ages, seed=seed, holdout=HOLDOUT_DAYS)
    return frame.assign(duration_holdout=HOLDOUT_DAYS)


@pytest.fixture(scope="module")
def bgnbd_checks() -> dict[str, clv.ModelCheck]:
    return clv.check_purchase_models(simulated("bgnbd", seed=1), "D")


@pytest.fixture(scope="module")
def pareto_checks() -> dict[str, clv.ModelCheck]:
    return clv.check_purchase_models(simulated("pareto_nbd", seed=1), "D")


def z_score(checks: dict[str, clv.ModelCheck]) -> float:
    record = clv.comparison_record(checks)["deviance_difference"]
    return record["difference"] / record["standard_error"]


# ---------------------------------------------------------------------------------------------
# The rule on simulated data


@pytest.mark.parametrize("generator", ["bgnbd", "pareto_nbd"])
def test_the_holdout_picks_the_model_that_generated_the_data(generator, bgnbd_checks, pareto_checks):
    checks = bgnbd_checks if generator == "bgnbd" else pareto_checks
    assert all(check.usable for check in checks.values())
    choice = clv.choose_purchase_model(checks)
    assert (choice.code, choice.rule) == (generator, "holdout_deviance")
    assert abs(z_score(checks)) > 3  # a clear case, not a near tie
    # the calibration likelihood agrees (both models have 4 parameters, so BIC orders them alike)
    assert checks[generator].bic() < checks[clv.other_model(generator)].bic()
    for language in ("zh", "en"):
        assert text(f"purchase_model_name_{generator}", language) in render(choice.reason, language)


def test_the_mean_absolute_error_would_pick_the_wrong_model(bgnbd_checks):
    # Why the rule uses the deviance: on BG/NBD data the MAE prefers Pareto/NBD, whose predictions
    # for customers who are probably gone are nearer 0, the median of their holdout purchases.
    mae = {code: check.figures["mae_per_customer"] for code, check in bgnbd_checks.items()}
    assert mae["pareto_nbd"] < mae["bgnbd"]
    assert clv.choose_purchase_model(bgnbd_checks).code == "bgnbd"


@pytest.mark.slow
@pytest.mark.parametrize("seed", [2, 3, 4, 5])
def test_the_choice_holds_over_seeds(seed):
    for generator in ("bgnbd", "pareto_nbd"):
        checks = clv.check_purchase_models(simulated(generator, seed=seed), "D")
        assert clv.choose_purchase_model(checks).code == generator, (generator, seed, z_score(checks))


def test_poisson_deviance_is_smallest_at_the_mean():
    rng = np.random.default_rng(0)
    actual = rng.poisson(0.8, 200_000).astype(float)
    means = {mu: poisson_deviance(np.full(actual.size, mu), actual).mean() for mu in (0.4, 0.6, 0.8, 1.0, 1.2)}
    assert min(means, key=means.get) == 0.8
    assert poisson_deviance(np.array([2.0, 0.0]), np.array([2.0, 0.0])).tolist() == [0.0, 0.0]
    assert np.isfinite(poisson_deviance(np.array([0.0]), np.array([3.0]))).all()


# ---------------------------------------------------------------------------------------------
# The rule's other branches, on hand-made checks


def fitted(code: str, log_likelihood: float, n: float = 1000.0) -> clv.PurchaseModel:
    model = clv.PURCHASE_MODELS[code]()
    model.params_ = dict.fromkeys(model.parameter_names, 1.0)
    model.log_likelihood_, model.n_customers_, model.converged_, model.message_ = log_likelihood, n, True, "ok"
    return model


def check(code: str, log_likelihood: float, deviances: np.ndarray) -> clv.ModelCheck:
    figures = {"mean_poisson_deviance": float(deviances.mean()), "mae_per_customer": 1.0}
    return clv.ModelCheck(code, fitted(code, log_likelihood), None, deviances, figures=figures)


def test_a_near_tie_on_the_holdout_goes_to_the_lower_bic():
    rng = np.random.default_rng(1)
    noise = rng.normal(1.0, 0.5, 500)
    # the paired difference has mean 0.001 and standard error ~0.005: a near tie
    close = noise + 0.001 + rng.normal(0.0, 0.1, 500)
    checks = {"bgnbd": check("bgnbd", -1010.0, noise), "pareto_nbd": check("pareto_nbd", -1000.0, close)}
    choice = clv.choose_purchase_model(checks)
    assert (choice.code, choice.rule) == ("pareto_nbd", "bic")
    assert "BIC" in render(choice.reason, "en") and "BIC" in render(choice.reason, "zh")
    exact = {"bgnbd": check("bgnbd", -1000.0, noise), "pareto_nbd": check("pareto_nbd", -1000.0, noise)}
    assert clv.choose_purchase_model(exact).code == "bgnbd"  # an exact tie keeps the default


def test_the_params_force_a_model_and_no_holdout_means_bgnbd(bgnbd_checks):
    forced = clv.choose_purchase_model(bgnbd_checks, "pareto_nbd")
    assert (forced.code, forced.rule) == ("pareto_nbd", "params")
    assert "scoring.purchase_model" in render(forced.reason, "en")
    default = clv.choose_purchase_model(None, "auto")
    assert (default.code, default.rule) == ("bgnbd", "no_holdout")
    with pytest.raises(ValueError, match="auto or one of"):
        clv.choose_purchase_model(None, "lifetimes")


def test_an_unusable_model_leaves_the_other(bgnbd_checks):
    out = dict(bgnbd_checks)
    out["bgnbd"] = clv.ModelCheck("bgnbd", None, message("purchase_model_failed", model=clv.model_name("bgnbd"),
                                                                detail="boom"))
    choice = clv.choose_purchase_model(out)
    assert (choice.code, choice.rule) == ("pareto_nbd", "only_usable")
    assert "boom" in render(choice.reason, "en") and "boom" in render(choice.reason, "zh")


def test_the_comparison_table_holds_both_models_by_bucket_and_decile(bgnbd_checks):
    table = clv.comparison_table(bgnbd_checks)
    assert list(table.columns) == list(COMPARISON_COLUMNS)
    assert set(table["model"]) == {"bgnbd", "pareto_nbd"}
    for (_, grouping), part in table.groupby(["model", "grouping"]):
        assert part["n_customers"].sum() == 3000
        assert len(part) == (10 if grouping == "prediction_decile" else 8)
    shown = localize(table, "zh", output=catalog.PURCHASE_MODEL_HOLDOUT)
    assert set(shown["model"]) == {"BG/NBD", "Pareto/NBD"}
    assert set(shown["grouping"]) == {text("holdout_grouping_calibration_purchases", "zh"),
                                      text("holdout_grouping_prediction_decile", "zh")}
    record = json.loads(json.dumps(clv.comparison_record(bgnbd_checks)))
    assert set(record["models"]) == {"bgnbd", "pareto_nbd"}
    assert all({"log_likelihood", "bic", "converged", "holdout_figures"} <= set(m) for m in record["models"].values())


# ---------------------------------------------------------------------------------------------
# Stage 2 with the choice


@pytest.fixture(scope="module")
def transactions(tmp_path_factory) -> Path:
    return cleaned(repeat_history(), tmp_path_factory.mktemp("choice") / "transactions.parquet")


def pareto_nbd_history(n: int = 600, seed: int = 5) -> list[tuple[str, str, float]]:
    """Customers drawn from Pareto/NBD (r = 2, alpha = 40 days, s = 1.5, beta = 600 days), first buying
    in the first 700 days of the period: dropout rates that differ between customers, so that the
    model is identified (:func:`repeat_history`'s customers all leave at one rate, and Pareto/NBD's
    ``s`` and ``beta`` then run to infinity along a ridge)."""
    rng = np.random.default_rng(seed)
    end = pd.Timestamp(PERIOD.end)
    rows = []
    for i in range(n):
        day = pd.Timestamp(PERIOD.start) + pd.Timedelta(days=int(rng.integers(0, 700)))
        rate, dropout = rng.gamma(2.0, 1 / 40.0), rng.gamma(1.5, 1 / 600.0)
        leaves = min(day + pd.Timedelta(days=min(float(rng.exponential(1 / dropout)), 5000.0)), end)
        mean_spend = rng.lognormal(5, 0.6)
        while day <= leaves:
            rows.append((f"P{i:04d}", str(day.date()), float(mean_spend * rng.gamma(4.0, 0.25))))
            day += pd.Timedelta(days=float(rng.exponential(1 / rate)))
    return rows


@pytest.fixture(scope="module")
def pareto_transactions(tmp_path_factory) -> Path:
    return cleaned(pareto_nbd_history(), tmp_path_factory.mktemp("pareto") / "transactions.parquet")


def score(transactions: Path, **settings) -> rfm_clv.ScoringResult:
    return rfm_clv.compute(transactions, period=PERIOD, scoring=Scoring(min_repeat_buyers=10, **settings))


def test_stage_two_records_the_comparison_and_scores_with_the_chosen_model(transactions):
    result = score(transactions)
    models = json.loads(json.dumps(result.models))
    chosen = models["purchase_model"]
    assert chosen["name"] == result.purchase_model_code and chosen["setting"] == "auto"
    compared = models["purchase_model_comparison"]["models"]
    assert set(compared) == {"bgnbd", "pareto_nbd"}
    # On these data (regular buyers, not drawn from either model) the Pareto/NBD calibration fit
    # does not converge (s and beta run large: a dropout rate nearly the same for everyone).
    assert chosen["rule"] in {"holdout_deviance", "bic", "only_usable"}
    if chosen["rule"] == "only_usable":
        other = clv.other_model(chosen["name"])
        assert not compared[other]["usable"] and render(compared[other]["unusable"], "en") in render(chosen["reason"], "en")
    assert models["bgnbd"]["name"] == "BG/NBD"  # kept for its readers, whichever model scores
    assert chosen["summary"] == result.purchase_model.summary()
    assert result.holdout_figures == models["purchase_model_comparison"]["models"][chosen["name"]]["holdout_figures"]
    assert set(result.model_comparison["model"]) == {"bgnbd", "pareto_nbd"}
    assert models["time_units"]["horizon_in_units"] == 360.0 and models["time_units"]["days_per_month"] == 30.0


def test_the_params_can_force_pareto_nbd(pareto_transactions):
    result = score(pareto_transactions, purchase_model="pareto_nbd")
    assert isinstance(result.purchase_model, ParetoNBDModel) and result.purchase_model_code == "pareto_nbd"
    assert result.models["purchase_model"]["rule"] == "params"
    assert result.models["purchase_model"]["summary"]["name"] == "Pareto/NBD"
    assert result.models["clv"]["purchase_model"] == "pareto_nbd" and result.clv_method == "model"
    customers = result.customers
    expected = result.purchase_model.conditional_probability_alive(customers["frequency"], customers["recency"],
                                                                  customers["T"])
    np.testing.assert_allclose(customers["p_alive"], expected)
    assert result.bgnbd is not None and result.models["bgnbd"]["name"] == "BG/NBD"


def same_scores(got: rfm_clv.ScoringResult, want: rfm_clv.ScoringResult) -> None:
    pd.testing.assert_frame_equal(got.customers, want.customers, check_exact=True)
    assert json.dumps(got.models["clv"]) == json.dumps(want.models["clv"])
    assert json.dumps(got.models["intervals"]) == json.dumps(want.models["intervals"])
    np.testing.assert_array_equal(got.draws.frame().to_numpy(), want.draws.frame().to_numpy())
    np.testing.assert_array_equal(got.draws.pair_terms.discounted, want.draws.pair_terms.discounted)


def test_bgnbds_value_made_during_the_holdout_check_is_used_when_bgnbd_scores(transactions, monkeypatch):
    """BG/NBD's Gamma-Gamma fit and intervals, made a chunk at a time while the check runs, give the
    scores that making them after the check gives."""
    made, stepped, finished = [], threading.Event(), []
    monkeypatch.setattr(rfm_clv, "bgnbd_value", lambda *a, original=rfm_clv.bgnbd_value: made.append(original(*a)) or made[-1])
    step, finish, check = clv.CLVIntervalsBegun.step, clv.CLVIntervalsBegun.finish, rfm_clv.holdout_check
    monkeypatch.setattr(clv.CLVIntervalsBegun, "step", lambda self: (step(self), stepped.set())[0])
    monkeypatch.setattr(clv.CLVIntervalsBegun, "finish", lambda self: finished.append(self) or finish(self))
    # the check waits for a chunk of the intervals beside it: that chunk is made during the check
    monkeypatch.setattr(rfm_clv, "holdout_check", lambda *a: stepped.wait(60) and check(*a))
    ahead = score(transactions)
    assert ahead.purchase_model_code == "bgnbd" and ahead.clv_method == "model"
    assert len(made) == 1 and finished == [made[0].intervals]
    monkeypatch.setattr(rfm_clv, "holdout_check", check)
    monkeypatch.setattr(rfm_clv, "bgnbd_value", lambda *a: None)  # nothing made during the check
    same_scores(ahead, score(transactions))


def test_bgnbds_value_made_during_the_holdout_check_is_dropped_when_pareto_nbd_scores(pareto_transactions, monkeypatch):
    made = []
    monkeypatch.setattr(rfm_clv, "bgnbd_value", lambda *a, original=rfm_clv.bgnbd_value: made.append(original(*a)) or made[-1])
    choose = clv.choose_purchase_model
    monkeypatch.setattr(clv, "choose_purchase_model", lambda checks, setting: choose(checks, "pareto_nbd"))
    dropped = score(pareto_transactions)  # auto: BG/NBD's value is made, then Pareto/NBD is chosen
    assert len(made) == 1 and made[0].intervals is not None
    assert dropped.purchase_model_code == "pareto_nbd" and dropped.clv_method == "model"
    assert isinstance(dropped.draws.purchase_model, ParetoNBDModel)
    monkeypatch.setattr(clv, "choose_purchase_model", choose)
    same_scores(dropped, score(pareto_transactions, purchase_model="pareto_nbd"))


def failing_fit(self, *args, **kwargs):
    raise CLVInputError("simulated Pareto/NBD failure")


def test_a_pareto_nbd_that_cannot_be_fitted_falls_back_to_bgnbd_with_the_reason(transactions, monkeypatch):
    monkeypatch.setattr(ParetoNBDModel, "fit", failing_fit)
    forced = score(transactions, purchase_model="pareto_nbd")
    assert forced.purchase_model_code == "bgnbd" and forced.models["purchase_model"]["rule"] == "fallback"
    for language in ("zh", "en"):
        reason = render(forced.models["purchase_model"]["reason"], language)
        assert "simulated Pareto/NBD failure" in reason and "Pareto/NBD" in reason
    auto = score(transactions)
    assert auto.purchase_model_code == "bgnbd" and auto.models["purchase_model"]["rule"] == "only_usable"
    assert "simulated Pareto/NBD failure" in render(auto.models["purchase_model"]["reason"], "en")
    assert auto.models["purchase_model_comparison"]["models"]["pareto_nbd"]["usable"] is False
    assert set(auto.model_comparison["model"]) == {"bgnbd"}
    assert auto.clv_method == "model"


def test_a_pareto_nbd_fit_that_does_not_converge_is_not_used(transactions, monkeypatch):
    original = ParetoNBDModel.fit

    def not_converged(self, *args, **kwargs):
        model = original(self, *args, **kwargs)
        model.converged_, model.message_ = False, "ABNORMAL_TERMINATION_IN_LNSRCH"
        return model

    monkeypatch.setattr(ParetoNBDModel, "fit", not_converged)
    result = score(transactions, purchase_model="pareto_nbd")
    assert result.purchase_model_code == "bgnbd" and result.models["purchase_model"]["rule"] == "fallback"
    assert "ABNORMAL" in render(result.models["purchase_model"]["reason"], "en")


def test_a_pareto_nbd_forced_on_customers_who_all_leave_at_one_rate_is_not_used_and_says_why(transactions):
    """Its likelihood rises ever more slowly as s and beta grow together: whatever point the optimiser
    stops at (L-BFGS-B calls it a success on some CPUs), a Newton step from it is of order one."""
    result = score(transactions, purchase_model="pareto_nbd")
    assert result.purchase_model_code == "bgnbd" and result.models["purchase_model"]["rule"] == "fallback"
    assert "flat along a ridge" in render(result.models["purchase_model"]["reason"], "en")


def test_without_a_holdout_auto_uses_bgnbd_and_says_so(tmp_path):
    path = cleaned(repeat_history(), tmp_path / "transactions.parquet")
    one_year = Period(start=PERIOD.end.replace(month=1, day=1), end=PERIOD.end)
    result = rfm_clv.compute(path, period=one_year, scoring=Scoring(holdout_months=12, min_repeat_buyers=10))
    assert "holdout" in result.skipped and result.models["bgnbd"]["converged"]
    record = result.models["purchase_model"]
    assert (record["name"], record["rule"]) == ("bgnbd", "no_holdout")
    assert result.models["purchase_model_comparison"] is None and result.model_comparison.empty
    assert "holdout" in render(record["reason"], "en") and "留出期" in render(record["reason"], "zh")


# ---------------------------------------------------------------------------------------------
# Time units: one definition, stated in the methodology


def test_days_per_month_is_defined_once():
    defined = []
    for path in (ROOT / "src" / "analysis").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
            defined += [path.name for t in targets if isinstance(t, ast.Name) and t.id in {"DAYS_PER_MONTH", "DAYS_PER_YEAR"}]
    assert defined == ["units.py", "units.py"]
    assert clv.months_in_units(12, "D") == 360.0 and clv.months_in_units(12, "W") == pytest.approx(360 / 7)
    assert clv.year_in_units("W") == pytest.approx(365 / 7)
    with pytest.raises(ValueError, match="'D' .* or 'W'"):
        clv.units_per_day("M")


@pytest.mark.parametrize(("unit", "en", "zh"), [("D", "360 days", "360天"), ("W", "51.43 weeks", "51.43周")])
def test_the_methodology_states_the_time_units(unit, en, zh):
    out = SimpleNamespace(get=lambda name: {"time_units": clv.time_units_record(unit, 12)} if name == catalog.MODELS else None)
    for language, horizon in (("en", en), ("zh", zh)):
        paragraph = text("method_time_units", language, **sections.method_values("time_units", out, language))
        assert horizon in paragraph and "30.4375" in paragraph


# ---------------------------------------------------------------------------------------------
# The report


def test_the_scoring_section_says_which_model_and_why_in_both_languages(pareto_transactions, tmp_path):
    if not (ROOT / "data/raw/sample/truth.json").is_file():
        pytest.skip("sample data missing: run `make sample-data`")
    study = open_study(ROOT / "params" / "sample.yaml", out_root=tmp_path)
    result = score(pareto_transactions, purchase_model="pareto_nbd")
    study.write(catalog.CUSTOMERS, result.customers)
    study.write(catalog.MODELS, result.models)
    study.write(catalog.HOLDOUT, result.holdout_table)
    study.write(catalog.PURCHASE_MODEL_HOLDOUT, result.model_comparison)
    for language in ("zh", "en"):
        section = sections.scoring_section(study, language, sections.RunOutputs(study, language))
        page = "".join(section.blocks)
        sentence = text("scoring_purchase_model", language, model="Pareto/NBD",
                        reason=render(result.models["purchase_model"]["reason"], language))
        assert html.escape(sentence) in page
        assert html.escape(text("col_holdout_deviance", language)) in page
        assert html.escape(text("chart_model_comparison", language)) in page


def test_the_sample_study_compares_both_models(sample_report, out_root):
    processed = out_root / "data/processed/sample"
    models = json.loads((processed / catalog.MODELS).read_text(encoding="utf-8"))
    compared = models["purchase_model_comparison"]["models"]
    assert set(compared) == {"bgnbd", "pareto_nbd"}
    assert all(m["converged"] and np.isfinite(m["bic"]) for m in compared.values())
    chosen = models["purchase_model"]
    assert chosen["setting"] == "auto" and chosen["name"] in compared
    # the sample is drawn from BG/NBD (data/raw/sample/truth.json)
    assert chosen["name"] == "bgnbd" and chosen["rule"] == "holdout_deviance"
    table = pd.read_parquet(processed / catalog.PURCHASE_MODEL_HOLDOUT)
    assert set(table["model"]) == {"bgnbd", "pareto_nbd"}
    for language, page in (("zh", "index.html"), ("en", "index.en.html")):
        shown = (sample_report.parent / page).read_text(encoding="utf-8")
        assert html.escape(sections.purchase_model_sentence(chosen, language)) in shown
