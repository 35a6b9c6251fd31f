"""Thin data degrade instead of crashing: each analysis that cannot run is left out with its reason.

Unit tests cover the library's thin-data branches (scoring, tiering, churn, drivers, report notes);
the tests marked ``slow`` run the real runner on subsets of the sample data (data/raw/sample, made
by ``make sample-data``): transactions only, transactions and surveys, a 9-month period, every
customer with one purchase, one customer, and no usable rows.
"""

from __future__ import annotations

import html
import json
import shutil
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from analysis.frame import storage
from analysis.frame.params import Period, Scoring, load_params
from analysis.frame.study import Study
from analysis.i18n import Message, message, render, text
from analysis.methods import clv, tiers
from analysis.methods.churn import ChurnHistoryError, ChurnModel, churn_risk, early_warning_list
from analysis.report.sections import (
    fallback_reason_text,
    pareto_text,
    skip_notes,
    tiers_differ_text,
)
from analysis.report.tier_rules import rule_text
from analysis.stages import rfm_clv, satisfaction_loyalty
from analysis.stages import tiers as tiers_stage

ROOT = Path(__file__).resolve().parents[1]
RAW = ROOT / "data/raw/sample"
EPOCH = pd.Timestamp("1970-01-01")
PERIOD = Period(start=date(2023, 1, 1), end=date(2025, 12, 31))


# ---------------------------------------------------------------------------------------------
# Helpers: cleaned transactions as stage 1 writes them, and the sample params as a Study.


def cleaned(rows: list[tuple[str, str, float]], path: Path) -> Path:
    """(customer, date, amount) rows → a cleaned transactions.parquet (one order per row)."""
    frame = pd.DataFrame(rows, columns=["customer_id", "order_date", "amount"])
    dates = pd.to_datetime(frame["order_date"])
    table = pa.table(
        {
            "customer_id": frame["customer_id"].astype(str).tolist(),
            "order_id": [f"O{i:06d}" for i in range(len(frame))],
            "order_date": pa.array(dates.dt.date.tolist(), pa.date32()),
            "order_day": pa.array((dates - EPOCH).dt.days.tolist(), pa.int32()),
            "amount": frame["amount"].astype(float).tolist(),
            "is_return": [False] * len(frame),
            "is_purchase": (frame["amount"] >= 0).tolist(),
        }
    )
    pq.write_table(table, path)
    return path


def repeat_history(n: int = 300, seed: int = 3) -> list[tuple[str, str, float]]:
    """Customers buying every 20–200 days until they leave (after about 500 days): many repeat buyers."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        day = pd.Timestamp(PERIOD.start) + pd.Timedelta(days=int(rng.integers(0, 700)))
        gap = int(rng.integers(20, 200))
        leaves = min(day + pd.Timedelta(days=int(rng.exponential(500))), pd.Timestamp(PERIOD.end))
        mean_spend = rng.lognormal(5, 0.6)
        while day <= leaves:
            rows.append((f"C{i:04d}", str(day.date()), float(mean_spend * rng.gamma(4.0, 0.25))))
            day += pd.Timedelta(days=int(rng.exponential(gap)) + 1)
    return rows


def one_purchase_each(n: int = 200, seed: int = 4) -> list[tuple[str, str, float]]:
    rng = np.random.default_rng(seed)
    days = rng.integers(0, (PERIOD.end - PERIOD.start).days, n)
    return [(f"C{i:04d}", str((pd.Timestamp(PERIOD.start) + pd.Timedelta(days=int(d))).date()),
             float(rng.lognormal(5, 0.4))) for i, d in enumerate(days)]


@pytest.fixture(scope="module")
def sample_study() -> Study:
    if not (RAW / "truth.json").is_file():
        pytest.skip("sample data missing: run `make sample-data`")
    path = ROOT / "params/sample.yaml"
    return Study(params=load_params(path), params_path=path)


# ---------------------------------------------------------------------------------------------
# io: attrs never reach the parquet metadata


def test_write_parquet_leaves_out_attrs_that_json_cannot_hold(tmp_path):
    frame = pd.DataFrame({"a": [1, 2]})
    frame.attrs = {"observation_end": date(2025, 12, 31), "engine": "duckdb"}
    storage.write_parquet(frame, tmp_path / "f.parquet")
    back = pd.read_parquet(tmp_path / "f.parquet")
    assert back.attrs == {} and back["a"].tolist() == [1, 2]
    assert frame.attrs["observation_end"] == date(2025, 12, 31)  # the caller's frame is untouched


def test_write_parquet_reads_back_as_pandas_own_writing(tmp_path):
    """The same frame and schema as ``DataFrame.to_parquet``; float columns only are not dictionary-encoded."""
    frame = pd.DataFrame({
        "customer_id": pd.array(["C1", "C2", None, "C1"], dtype="string"), "clv": [1.5, None, 2.25, 1.5],
        "orders": [1, 2, 3, 4], "first": pd.to_datetime(["2024-01-01", "2024-02-01", None, "2024-01-01"]),
        "tier": pd.array([1, None, 2, 1], dtype="Int64"), "borderline": [True, False, True, True],
    })
    storage.write_parquet(frame, tmp_path / "ours.parquet")
    frame.to_parquet(tmp_path / "pandas.parquet", index=False)
    ours, theirs = (pd.read_parquet(tmp_path / f) for f in ("ours.parquet", "pandas.parquet"))
    pd.testing.assert_frame_equal(ours, theirs)
    pd.testing.assert_frame_equal(ours, frame)
    assert pq.read_schema(tmp_path / "ours.parquet").equals(pq.read_schema(tmp_path / "pandas.parquet"), check_metadata=True)
    chunks = pq.ParquetFile(tmp_path / "ours.parquet").metadata.row_group(0)
    encodings = {chunks.column(i).path_in_schema: chunks.column(i).encodings for i in range(chunks.num_columns)}
    assert not any("DICTIONARY" in e for e in encodings["clv"]) and any("DICTIONARY" in e for e in encodings["customer_id"])


# ---------------------------------------------------------------------------------------------
# Stage 2


def test_no_purchase_in_the_period_stops_with_a_plain_message(tmp_path):
    path = cleaned([("A", "2020-05-01", 10.0)], tmp_path / "transactions.parquet")
    with pytest.raises(rfm_clv.NoUsableTransactionsError) as err:
        rfm_clv.compute(path, period=PERIOD, scoring=Scoring())
    message = str(err.value)
    assert "quality.json" in message and "quarantine.parquet" in message
    assert "2023-01-01" in message and "period.start" in message


def test_the_end_of_stage_one_can_check_for_usable_transactions(tmp_path):
    returns_only = pd.DataFrame({"amount": [-5.0, 0.0], "is_return": [True, False], "is_purchase": [False, False]})
    with pytest.raises(rfm_clv.NoUsableTransactionsError, match="2 kept row"):
        rfm_clv.require_usable_transactions(returns_only, tmp_path, PERIOD)
    with pytest.raises(rfm_clv.NoUsableTransactionsError, match="no transaction row was kept"):
        rfm_clv.require_usable_transactions(returns_only.iloc[:0], tmp_path, PERIOD)
    rfm_clv.require_usable_transactions(returns_only.drop(columns="is_purchase").assign(amount=[-5.0, 3.0]),
                                        tmp_path, PERIOD)


def test_one_purchase_each_skips_bgnbd_gamma_gamma_and_holdout(tmp_path):
    path = cleaned(one_purchase_each(), tmp_path / "transactions.parquet")
    result = rfm_clv.compute(path, period=PERIOD, scoring=Scoring())
    assert set(result.skipped) == {"bgnbd", "gamma_gamma", "holdout"}
    assert all(render(note, "zh") and render(note, "en") for note in result.skipped.values())
    assert result.bgnbd is None and result.gamma_gamma is None and result.clv_method == "historic"
    customers = result.customers
    assert customers["p_alive"].isna().all() and customers["expected_purchases"].isna().all()
    np.testing.assert_array_equal(customers["clv"], customers["historic_value"])
    assert np.isfinite(customers["clv"]).all()
    assert result.holdout_table.empty and list(result.holdout_table.columns) == list(rfm_clv.HOLDOUT_COLUMNS)
    assert result.models["bgnbd"] is None and result.models["bgnbd_calibration"] is None
    assert result.models["skipped"] == result.skipped
    assert [r["key"] for r in result.models["clv"]["fallback_reasons"]] == ["too_few_repeat_buyers", "bgnbd_unusable"]
    json.dumps(result.models)  # models.json must be writable


def test_a_period_no_longer_than_the_holdout_skips_the_holdout_check(tmp_path):
    path = cleaned(repeat_history(), tmp_path / "transactions.parquet")
    short = Period(start=date(2025, 7, 1), end=date(2025, 12, 31))
    result = rfm_clv.compute(path, period=short, scoring=Scoring(holdout_months=6))
    assert "holdout" in result.skipped and "scoring.holdout_months" in render(result.skipped["holdout"], "en")
    assert result.holdout_figures == {}


def test_enough_repeat_buyers_keep_every_model(tmp_path):
    path = cleaned(repeat_history(), tmp_path / "transactions.parquet")
    result = rfm_clv.compute(path, period=PERIOD, scoring=Scoring(min_repeat_buyers=10))
    assert result.skipped == {} and result.bgnbd is not None and not result.holdout_table.empty
    assert result.models["bgnbd_calibration"]["holdout_figures"] == result.holdout_figures


def test_a_repeat_buyer_with_only_free_repeat_orders_does_not_break_gamma_gamma(tmp_path):
    rows = repeat_history()
    rows += [("FREE", "2023-03-01", 100.0), ("FREE", "2024-03-01", 0.0), ("FREE", "2025-03-01", 0.0)]
    path = cleaned(rows, tmp_path / "transactions.parquet")
    settings = Scoring(min_repeat_buyers=10, max_spend_frequency_corr=0.99)
    result = rfm_clv.compute(path, period=PERIOD, scoring=settings)
    assert result.clv_method == "model", result.fallback_reasons
    free = result.customers.set_index("customer_id").loc["FREE"]
    assert free["frequency"] == 2 and free["monetary_value"] == 0.0
    assert result.gamma_gamma is not None
    assert np.isfinite(free["expected_spend"]) and free["expected_spend"] > 0  # the population mean


def test_frequency_recency_maps_without_a_model_say_why():
    customers = pd.DataFrame({"frequency": [0, 0], "recency": [0, 0], "T": [10, 20]})
    with pytest.raises(ValueError, match=r"skipped\['bgnbd'\]"):
        rfm_clv.frequency_recency_grids(None, customers, horizon_months=12, time_unit="D")


def test_spend_frequency_leaves_out_repeat_buyers_without_spend():
    customers = pd.DataFrame({"frequency": [0, 2, 3], "monetary_value": [0.0, 0.0, 12.5]})
    assert rfm_clv.spend_frequency(customers).tolist() == [0, 0, 3]


def test_discounted_purchases_times_spend_and_margin_is_the_clv():
    bg = clv.BetaGeoModel()
    bg.params_ = {"r": 0.24, "alpha": 4.4, "a": 0.79, "b": 2.4}
    gg = clv.GammaGammaModel()
    gg.params_ = {"p": 6.2, "q": 3.9, "gamma": 15.4}
    x, t_x, T, m = np.array([0, 2, 5]), np.array([0.0, 20.0, 30.0]), np.array([38.0] * 3), np.array([0, 30.0, 55.0])
    kw = {"horizon_periods": 12, "period_length": 4.3, "annual_discount_rate": 0.1, "time_units_per_year": 52.0}
    purchases = clv.discounted_expected_purchases(bg, x, t_x, T, **kw)
    value = clv.customer_lifetime_value(bg, gg, x, t_x, T, m, margin=0.3, **kw)
    np.testing.assert_allclose(value, purchases * gg.conditional_expected_average_profit(x, m) * 0.3)


# ---------------------------------------------------------------------------------------------
# Stage 3


def test_fewer_customers_than_tiers_says_how_to_fix_it(sample_study):
    customers = pd.DataFrame({"customer_id": ["A", "B"]})
    with pytest.raises(tiers_stage.TooFewCustomersError) as err:
        tiers_stage.require_enough_customers(customers, sample_study)
    message = str(err.value)
    assert "2 customer(s)" in message and "tiering.n_tiers" in message and "period.start" in message
    assert str(sample_study.params_path) in message
    tiers_stage.require_enough_customers(pd.DataFrame({"customer_id": list("ABCD")}), sample_study)


def thin_customers(n: int = 12) -> pd.DataFrame:
    """Few one-time buyers: k-means finds fewer distinct profiles than clusters."""
    return pd.DataFrame({
        "customer_id": [f"C{i:02d}" for i in range(n)],
        "frequency": 0, "revenue": 100.0, "days_since_last": 30, "clv": np.repeat([150.0, 50.0], [n // 2, n - n // 2]),
        "rfm_score": np.arange(n) % 13 + 3, "historic_value": np.linspace(50, 150, n),
        "p_alive": np.nan, "tenure_days": np.arange(n) * 10,
    })


def test_sensitivity_can_leave_out_a_method_that_cannot_tier_the_customers():
    customers = thin_customers()
    with pytest.raises(tiers.TieringError, match="kmeans"):
        tiers.sensitivity(customers, ["clv", "kmeans"], n_tiers=4)
    table = tiers.sensitivity(customers, ["clv", "kmeans", "rfm"], n_tiers=4, skip_failing=True)
    assert list(table.index) == ["clv", "rfm"] and set(table.attrs["skipped"]) == {"kmeans"}
    alone = tiers.sensitivity(customers, ["clv", "kmeans"], n_tiers=4, skip_failing=True)
    assert alone.empty


def test_composite_without_p_alive_scores_loyalty_by_tenure():
    assignment = tiers.assign_tiers(thin_customers(), "composite", n_tiers=3)
    assert assignment.rule["loyalty"] == "tenure_days"
    worded = rule_text(assignment.rule, "en")
    assert "tenure" in worded and "P(alive)" not in worded


# ---------------------------------------------------------------------------------------------
# Stage 4


def test_a_history_shorter_than_two_horizons_is_a_churn_history_error():
    tx = pd.DataFrame({"customer_id": ["A", "B"], "order_date": pd.to_datetime(["2025-06-01", "2025-07-01"]),
                       "amount": [10.0, 20.0], "is_return": False})
    with pytest.raises(ChurnHistoryError) as err:
        ChurnModel(horizon_days=180).fit(tx, "2025-12-31")
    assert err.value.code == "short_history"
    assert err.value.values == {"cutoff": "2025-01-05", "first": "2025-06-01", "days": 360}


def test_one_class_windows_are_a_churn_history_error():
    tx = pd.DataFrame({"customer_id": [f"C{i}" for i in range(40)],
                       "order_date": pd.Timestamp("2023-02-01") + pd.to_timedelta(np.arange(40) * 5, unit="D"),
                       "amount": 10.0, "is_return": False})
    with pytest.raises(ChurnHistoryError) as err:
        ChurnModel(horizon_days=180).fit(tx, "2025-12-31")
    assert err.value.code == "one_class" and err.value.values["stayed"] == 0
    note = satisfaction_loyalty.churn_skip_note(err.value, p_alive_available=False)
    zh, en = render(note, "zh"), render(note, "en")
    assert "训练" in zh and "training" in en
    assert "watch list is empty" in en and "预警名单为空" in zh
    assert "1 − P(alive)" in render(satisfaction_loyalty.churn_skip_note(err.value, p_alive_available=True), "en")


def test_without_any_risk_the_watch_list_is_empty_not_an_error():
    customers = pd.DataFrame({"customer_id": ["A", "B"], "p_alive": [np.nan, np.nan], "clv": [10.0, 20.0],
                              "days_since_last": [400, 20], "tier": [1, 2]})
    risk = churn_risk(customers, None)
    assert risk["churn_risk"].isna().all() and risk["risk_source"].isna().all()
    watch = early_warning_list(customers.merge(risk, on="customer_id"), tiers=[1, 2])
    assert watch.empty and "reasons" in watch.columns


def test_drivers_with_too_few_answers_are_skipped_with_the_reason(sample_study):
    answers = pd.DataFrame({"customer_id": list("ABC"), "overall_satisfaction": [7, 8, 9],
                            "product_quality": [6, 8, 9], "service_response": [7, 7, 9], "tier": 1})
    tables, notes = satisfaction_loyalty.driver_analysis(answers, ["product_quality", "service_response"], sample_study.params)
    assert tables == {}
    why = notes["skipped_drivers"]
    assert "满意度驱动因素" in render(why, "zh") and "3 complete answers" in render(why, "en")


# ---------------------------------------------------------------------------------------------
# Report notes


def test_skip_notes_and_fallback_reasons_read_in_either_language():
    record = {"skipped": {"holdout": message("skip_cohorts", why="no holdout"),
                          "churn_model": message("skip_satisfaction_no_surveys")}}
    expected = html.escape(text("skip_cohorts", "en", why="no holdout"))
    assert skip_notes(record, "en", lambda key: key == "holdout") == [f'<p class="warn">{expected}</p>']
    assert skip_notes(None, "zh") == [] and len(skip_notes(record, "zh")) == 2
    one_tier = pd.DataFrame({"customer_id": ["A", "B"], "tier": [1, 1], "clv": [1.0, 2.0]})
    assert tiers_differ_text(one_tier, "en").startswith("Whether the tiers differ")
    assert pareto_text(pd.Series([0.0, 0.0]), "zh") == "收入合计不为正，无法计算价值集中度。"
    reason = {"key": "too_few_repeat_buyers", "value": "0", "limit": "100"}
    assert fallback_reason_text(reason, "zh") == "复购客户0位，少于100位"
    assert fallback_reason_text({"key": "new_kind", "value": "x", "limit": ""}, "en") == "new_kind (x)"


# ---------------------------------------------------------------------------------------------
# The real runner on subsets of the sample data


def sample_transactions(customers: int = 400) -> pd.DataFrame:
    raw = pd.read_csv(RAW / "transactions.csv", dtype=str, encoding="utf-8-sig")
    keep = sorted(raw["客户编号"].dropna().unique())[:customers]
    return raw[raw["客户编号"].isin(keep)]


def write_study(folder: Path, run: str, transactions: pd.DataFrame, *, inputs: tuple[str, ...] = (),
                **overrides) -> Path:
    """A params file for ``run`` in ``folder`` with its inputs copied beside it (all inside one project)."""
    params = yaml.safe_load((ROOT / "params/sample.yaml").read_text(encoding="utf-8"))
    data = folder / "data" / "raw"
    data.mkdir(parents=True, exist_ok=True)
    transactions.to_csv(data / f"{run}_transactions.csv", index=False, encoding="utf-8")
    chosen = {"transactions": {**params["inputs"]["transactions"], "path": str(data / f"{run}_transactions.csv")}}
    for name in inputs:
        source = ROOT / params["inputs"][name]["path"]
        shutil.copyfile(source, data / source.name)
        chosen[name] = {**params["inputs"][name], "path": str(data / source.name)}
    params.update(run=run, inputs=chosen, **({"report_also_in": []} | overrides))
    params["tiering"].pop("previous_run", None)
    path = folder / "params" / f"{run}.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    if not (RAW / "truth.json").is_file():
        pytest.fail("sample data missing: run `make sample-data` (make test does it for you)")
    return tmp_path_factory.mktemp("thin")


def run(project: Path, params_path: Path) -> tuple[Path, Path]:
    from analysis.frame.runner import run_study

    report = run_study(params_path, out_root=project / "out", progress=False)
    return report, project / "out/data/processed" / params_path.stem


def read_json(processed: Path, name: str) -> dict:
    return json.loads((processed / name).read_text(encoding="utf-8"))


def assert_notes_shown(report: Path, *notes: Message) -> None:
    """Each note in the zh report, and in the en one where the run wrote it (report_also_in)."""
    pages = {"zh": report, "en": report.with_name("index.en.html")}
    shown = {lang: page.read_text(encoding="utf-8") for lang, page in pages.items() if page.is_file()}
    for note in notes:  # the report escapes its text (e.g. ' → &#x27;)
        assert all(html.escape(render(note, lang)) in page for lang, page in shown.items())


@pytest.mark.slow
def test_transactions_only_completes(project):
    report, processed = run(project, write_study(project, "tx_only", sample_transactions(), report_also_in=["en"]))
    assert report.with_name("index.en.html").is_file()
    skipped = read_json(processed, "experience.json")["skipped"]
    assert {"satisfaction", "complaints"} <= set(skipped)
    assert_notes_shown(report, skipped["satisfaction"], skipped["complaints"])
    customers = pd.read_parquet(processed / "customers.parquet")
    assert {"tier", "loyalty_index", "lifecycle_stage", "churn_risk"} <= set(customers.columns)
    assert (processed / "allocation.parquet").is_file()


@pytest.mark.slow
def test_transactions_and_surveys_complete(project):
    report, processed = run(project, write_study(project, "tx_surveys", sample_transactions(), inputs=("surveys",)))
    skipped = read_json(processed, "experience.json")["skipped"]
    assert "complaints" in skipped and "satisfaction" not in skipped
    assert (processed / "nps_by_tier.parquet").is_file()
    assert_notes_shown(report, skipped["complaints"])


@pytest.mark.slow
def test_a_nine_month_period_skips_the_churn_model_and_falls_back_to_p_alive(project):
    params = write_study(project, "nine_months", sample_transactions(), inputs=("customers",),
                         period={"start": date(2025, 4, 1), "end": date(2025, 12, 31)})
    report, processed = run(project, params)
    experience_record = read_json(processed, "experience.json")
    churn_note = experience_record["skipped"]["churn_model"]
    assert "churn.horizon_days" in render(churn_note, "en") and "1 − P(alive)" in render(churn_note, "en")
    assert experience_record["churn_validation"] is None
    customers = pd.read_parquet(processed / "customers.parquet")
    assert customers["churn_probability"].isna().all()
    assert (customers["risk_source"] == "p_alive").all()
    models = read_json(processed, "models.json")
    assert "holdout" in models["skipped"]
    assert_notes_shown(report, churn_note, models["skipped"]["holdout"])


@pytest.mark.slow
def test_every_customer_with_one_purchase_uses_historic_value_and_no_risk(project):
    raw = sample_transactions().dropna(subset=["订单日期"]).sort_values(["订单日期", "订单编号"])
    report, processed = run(project, write_study(project, "one_purchase", raw.drop_duplicates("客户编号")))
    models = read_json(processed, "models.json")
    assert {"bgnbd", "gamma_gamma", "holdout"} <= set(models["skipped"])
    assert models["clv"]["method"] == "historic" and models["bgnbd"] is None
    customers = pd.read_parquet(processed / "customers.parquet")
    assert customers["p_alive"].isna().all() and np.isfinite(customers["clv"]).all()
    churn_note = read_json(processed, "experience.json")["skipped"]["churn_model"]
    assert "watch list is empty" in render(churn_note, "en")
    assert pd.read_parquet(processed / "watch_list.parquet").empty
    assert_notes_shown(report, models["skipped"]["bgnbd"], churn_note)


@pytest.mark.slow
def test_one_customer_stops_before_tiering_with_the_fix(project):
    from analysis.frame.runner import StageFailed

    raw = sample_transactions()
    params = write_study(project, "one_customer", raw[raw["客户编号"] == raw["客户编号"].min()])
    with pytest.raises(StageFailed) as err:
        run(project, params)
    message = str(err.value)
    assert "03_tiers" in message and "TooFewCustomersError" in message and "tiering.n_tiers" in message


@pytest.mark.slow
def test_no_kept_rows_stops_with_a_plain_message(project):
    from analysis.frame.runner import StageFailed

    params = write_study(project, "no_rows", sample_transactions().iloc[:0])
    with pytest.raises(StageFailed) as err:
        run(project, params)
    message = str(err.value)
    assert "NoUsableTransactionsError" in message and "quality.json" in message
    assert "ZeroDivisionError" not in message
