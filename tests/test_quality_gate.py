"""The data-quality gate, the survey-scale check, the customers not tiered and what the report says of them."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
import yaml

from analysis.frame import catalog
from analysis.frame.params import (
    ParamsError,
    Period,
    Quality,
    Scoring,
    check_input_headers,
    load_params,
    scale_problems,
)
from analysis.methods import quality_gate
from analysis.methods.quality_gate import QualityGateError, enforce, find_breaches
from analysis.report import sections
from analysis.stages.rfm_clv import compute, excluded_counts, excluded_customers, read_excluded

ROOT = Path(__file__).resolve().parents[1]


def quality_of(rows_in: int, reasons: dict[str, int], **extra) -> dict:
    quarantined = sum(reasons.values())
    return {"rows_in": rows_in, "rows_kept": rows_in - quarantined, "rows_quarantined": quarantined,
            "reasons": reasons, **extra}


def quarantine_rows(source: str, reason: str, n: int, file: str = "tx.csv") -> pd.DataFrame:
    return pd.DataFrame({"source": source, "source_file": file, "source_row": range(2, n + 2), "reason": reason,
                         "detail": None, "raw": [f'{{"金额": "bad{i}"}}' for i in range(n)]})


# ---------------------------------------------------------------------------------------------
# The gate


def test_clean_inputs_pass_and_the_gate_record_is_ignored():
    quality = {"transactions": quality_of(1000, {"duplicate": 10}), "gate": [{"input": "x"}]}
    assert find_breaches(quality, Quality()) == []
    enforce([], quality, None, "stop")


def test_set_aside_and_reason_shares_above_the_limits_are_breaches():
    quality = {"transactions": quality_of(1000, {"invalid_date": 150, "duplicate": 80})}
    breaches = find_breaches(quality, Quality())
    assert [(b.what, b.reason, b.key) for b in breaches] == [
        ("set_aside", None, "quality.max_set_aside_share"),
        ("reason", "invalid_date", "quality.max_reason_share"),
    ]
    assert breaches[0].share == pytest.approx(0.23) and breaches[0].limit == 0.2 and breaches[0].rows == 230
    assert breaches[1].share == pytest.approx(0.15) and breaches[1].severity == "stop"


def test_stop_names_the_top_reasons_examples_and_the_fix():
    quality = {"transactions": quality_of(1000, {"invalid_date": 150, "duplicate": 80})}
    quarantine = pd.concat([quarantine_rows("transactions", "invalid_date", 5),
                            quarantine_rows("transactions", "duplicate", 4)], ignore_index=True)
    with pytest.raises(QualityGateError) as err:
        enforce(find_breaches(quality, Quality()), quality, quarantine, "stop")
    message = str(err.value)
    assert "invalid_date: 150 rows (15.0%)" in message and "duplicate: 80 rows (8.0%)" in message
    assert "quality.max_reason_share" in message and "quality.max_set_aside_share" in message
    assert "cleaning.date_formats" in message  # the fix for unreadable dates
    assert "quality.on_breach: warn" in message
    examples = re.findall(r"tx\.csv row \d+: ", message)
    assert len(examples) == 6  # three per reason
    assert 'tx.csv row 2: {"金额": "bad0"}' in message


def test_warn_returns_the_breaches_to_record():
    quality = {"surveys": quality_of(100, {"rating_out_of_range": 40})}
    rules = Quality(on_breach="warn")
    breaches = [b.to_dict() for b in find_breaches(quality, rules)]
    enforce(find_breaches(quality, rules), quality, None, rules.on_breach)  # warns, never stops
    assert {b["what"] for b in breaches} == {"set_aside", "reason"}
    assert all(set(b) >= {"input", "what", "share", "limit", "key", "severity"} for b in breaches)


def test_a_low_join_rate_is_a_warning_that_never_stops():
    quality = {
        "transactions": quality_of(100, {}, join={"customers": 50, "in_master": 30, "share_in_master": 0.6}),
        "surveys": quality_of(10, {}, join={"customers": 10, "in_transactions": 9, "share_in_transactions": 0.9}),
        "complaints": quality_of(10, {}),  # no join block: optional
    }
    breaches = find_breaches(quality, Quality(on_breach="stop"))
    enforce(breaches, quality, None, "stop")  # a warning only: no stop
    assert [b.to_dict() for b in breaches] == [{"input": "transactions", "what": "join_master", "share": 0.6, "limit": 0.8,
                         "key": "quality.min_join_share", "severity": "warn", "reason": None, "rows": 20}]


def test_an_empty_input_is_no_breach():
    assert find_breaches({"complaints": quality_of(0, {})}, Quality(max_set_aside_share=0.0)) == []


# ---------------------------------------------------------------------------------------------
# Params


def write_params(tmp_path: Path, mutate) -> Path:
    params = yaml.safe_load((ROOT / "params" / "sample.yaml").read_text(encoding="utf-8"))
    params["allow_outside_project"] = True
    (tmp_path / "in").mkdir(exist_ok=True)
    for spec in params["inputs"].values():
        spec["path"] = str(tmp_path / "in" / Path(spec["path"]).name)
        Path(spec["path"]).write_text("x", encoding="utf-8")
    mutate(params)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    return path


def test_quality_section_defaults_and_values():
    assert Quality() == Quality(max_set_aside_share=0.2, max_reason_share=0.1, on_breach="stop", min_join_share=0.8)
    assert load_params(ROOT / "params" / "sample.yaml").quality.on_breach in ("stop", "warn")


def test_a_wrong_on_breach_names_the_key(tmp_path):
    path = write_params(tmp_path, lambda p: p.update(quality={"on_breach": "ignore"}))
    with pytest.raises(ParamsError) as err:
        load_params(path)
    assert "quality.on_breach" in str(err.value) and str(path) in str(err.value)


def test_the_example_params_document_the_quality_keys():
    example = (ROOT / "params" / "example_quarter.yaml").read_text(encoding="utf-8")
    for key in ("max_set_aside_share", "max_reason_share", "on_breach", "min_join_share"):
        assert key in example


# ---------------------------------------------------------------------------------------------
# Survey scale, checked before any stage


def surveys_params(tmp_path: Path, answers: list[int], scale_max: int) -> Path:
    (tmp_path / "in").mkdir(exist_ok=True)
    (tmp_path / "in" / "t.csv").write_text("客户编号,订单日期,金额\nC1,2024-01-01,1\n", encoding="utf-8")
    rows = "".join(f"C{i},2024-02-01,{a}\n" for i, a in enumerate(answers))
    (tmp_path / "in" / "s.csv").write_text("客户编号,日期,总体满意度\n" + rows, encoding="utf-8")
    params = {
        "run": "scale", "allow_outside_project": True,
        "period": {"start": "2024-01-01", "end": "2024-12-31"},
        "inputs": {
            "transactions": {"path": str(tmp_path / "in" / "t.csv"),
                             "columns": {"客户编号": "customer_id", "订单日期": "order_date", "金额": "amount"}},
            "surveys": {"path": str(tmp_path / "in" / "s.csv"),
                        "columns": {"客户编号": "customer_id", "日期": "survey_date", "总体满意度": "overall_satisfaction"}},
        },
        "tiering": {"n_tiers": 3},
        "satisfaction": {"scale_max": scale_max},
    }
    path = tmp_path / "scale.yaml"
    path.write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    return path


def test_a_five_point_scale_on_ten_point_answers_stops_at_check(tmp_path):
    path = surveys_params(tmp_path, [i % 10 + 1 for i in range(200)], scale_max=5)
    params = load_params(path)
    with pytest.raises(ParamsError) as err:
        check_input_headers(params, path)
    message = str(err.value)
    assert "satisfaction.scale_max" in message and "s.csv" in message
    assert "answers run 1–10: set satisfaction.scale_max: 10" in message


def test_answers_on_the_scale_pass_the_check(tmp_path):
    path = surveys_params(tmp_path, [i % 5 + 1 for i in range(200)] + [7], scale_max=5)  # 1 in 201 off: tolerated
    check_input_headers(load_params(path), path)


def test_answers_from_zero_point_at_the_column_mapping():
    problems = scale_problems(pd.Series(range(0, 11)).repeat(5).astype(float), 10, "s.csv")
    assert len(problems) == 1 and "0–10" in problems[0] and "inputs.surveys.columns" in problems[0]
    assert scale_problems(pd.Series([], dtype=float), 5, "s.csv") == []


# ---------------------------------------------------------------------------------------------
# Customers not tiered

PERIOD = Period(start=date(2024, 1, 1), end=date(2024, 12, 31))


def tx(rows: list[tuple]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["customer_id", "order_date", "amount", "gross_amount", "returned_amount",
                                        "is_return", "is_purchase"])
    frame["order_date"] = pd.to_datetime(frame["order_date"])
    return frame


def test_customers_without_a_purchase_are_listed_with_their_reason():
    frame = tx([
        ("A", "2024-03-01", 100.0, 100.0, 0.0, False, True),   # buyer
        ("A", "2024-04-01", 0.0, 0.0, 0.0, False, True),       # free order: a purchase by default
        ("R", "2024-03-01", -50.0, -50.0, 0.0, True, False),   # an unmatched return only
        ("F", "2024-03-01", 0.0, 80.0, -80.0, False, False),   # returned in full
        ("N", "2024-03-01", -5.0, 80.0, -85.0, False, False),  # netted below zero
        ("N", "2024-05-01", 0.0, 0.0, 0.0, False, False),      # free order, zero_amount_orders: exclude
        ("Z", "2024-05-01", 0.0, 0.0, 0.0, False, False),
        ("O", "2023-05-01", -9.0, -9.0, 0.0, True, False),     # outside the period: not a customer of it
    ])
    excluded = excluded_customers(frame, PERIOD)
    assert excluded.to_dict("records") == [
        {"customer_id": "F", "reason": "returns_only", "rows": 1, "net_amount": 0.0},
        {"customer_id": "N", "reason": "no_purchase", "rows": 2, "net_amount": -5.0},
        {"customer_id": "R", "reason": "returns_only", "rows": 1, "net_amount": -50.0},
        {"customer_id": "Z", "reason": "zero_amount_only", "rows": 1, "net_amount": 0.0},
    ]
    assert excluded_counts(excluded) == {"no_purchase": 1, "returns_only": 2, "zero_amount_only": 1}


@pytest.mark.parametrize("layout", ["cleaned", "no_purchase_flag", "text_dates", "milliseconds"])
def test_the_file_reader_lists_the_customers_of_all_rows(tmp_path, layout):
    # read_excluded passes pandas only the rows of customers without a purchase in the period; the
    # result must be that of excluded_customers on every row, whatever the columns and date type
    frame = pd.DataFrame([
        ("A", "2024-03-01", 100.0, 100.0, 0.0, False, True),
        ("A", "2024-04-01", -30.0, -30.0, 0.0, True, False),   # a buyer's return: A stays a buyer
        ("B", "2023-12-31 23:59:59.999999", 40.0, 40.0, 0.0, False, True),  # bought just before the period
        ("B", "2024-01-01", -40.0, -40.0, 0.0, True, False),
        ("C", "2024-12-31 23:59:59.999999", 20.0, 20.0, 0.0, False, True),  # bought on the last day
        ("C", "2024-06-01", -20.0, -20.0, 0.0, True, False),
        ("D", "2025-01-01", 20.0, 20.0, 0.0, False, True),     # bought only after the period
        ("D", "2024-06-01", -20.0, -20.0, 0.0, True, False),
        ("R", "2024-03-01", -50.0, -50.0, 0.0, True, False),
        ("F", "2024-03-01", 0.0, 80.0, -80.0, False, False),
        ("N", "2024-03-01", -5.0, 80.0, -85.0, False, False),
        ("N", "2024-05-01", 0.0, 0.0, 0.0, False, False),
        ("Z", "2024-05-01", 0.0, 0.0, 0.0, False, False),
        ("M", "2024-05-01", None, None, None, None, None),       # missing values
        (None, "2024-05-01", -1.0, -1.0, 0.0, True, False),      # no customer id
        ("E", None, -1.0, -1.0, 0.0, True, False),               # no date
    ], columns=["customer_id", "order_date", "amount", "gross_amount", "returned_amount", "is_return", "is_purchase"])
    frame["order_date"] = pd.to_datetime(frame["order_date"], format="ISO8601")
    if layout == "no_purchase_flag":
        frame = frame.drop(columns="is_purchase")
    elif layout == "text_dates":
        frame["order_date"] = frame["order_date"].dt.strftime("%Y-%m-%d %H:%M:%S.%f")
    elif layout == "milliseconds":
        frame["order_date"] = frame["order_date"].astype("datetime64[ms]")
    path = tmp_path / "transactions.parquet"
    frame.to_parquet(path)
    expected = excluded_customers(frame, PERIOD)
    assert set(expected["customer_id"]) >= {"B", "D", "R", "F", "N", "Z"}
    pd.testing.assert_frame_equal(read_excluded(path, PERIOD), expected)


def test_stage_two_writes_the_excluded_customers_and_counts_them(tmp_path, sample_report, out_root):
    sample = pd.read_parquet(out_root / "data/processed/sample/transactions.parquet")
    keep = sorted(sample["customer_id"].unique())[:300]
    frame = sample[sample["customer_id"].isin(keep)].copy()
    returns_only = frame["customer_id"] == keep[0]
    frame.loc[returns_only, ["is_return", "is_purchase"]] = [True, False]
    frame.loc[returns_only, "amount"] = -frame.loc[returns_only, "amount"].abs()
    path = tmp_path / "transactions.parquet"
    frame.to_parquet(path)
    result = compute(path, period=Period(start=date(2023, 1, 1), end=date(2025, 12, 31)),
                             scoring=Scoring(min_repeat_buyers=10))
    assert keep[0] not in set(result.customers["customer_id"])
    assert keep[0] in set(result.excluded["customer_id"])
    assert result.excluded.set_index("customer_id").loc[keep[0], "reason"] == "returns_only"
    assert result.models["excluded_customers"]["returns_only"] >= 1
    assert sum(result.models["excluded_customers"].values()) == result.models["customers_without_purchase"]
    assert catalog.EXCLUDED_CUSTOMERS == "excluded_customers.parquet"


# ---------------------------------------------------------------------------------------------
# The report's first page and appendices


@pytest.fixture(scope="module")
def study(sample_report, out_root):
    from analysis.frame.study import open_study

    return open_study(ROOT / "params" / "sample.yaml", out_root=out_root)  # the tests' sample run


def outputs_with(study, language: str, **overrides) -> sections.RunOutputs:
    out = sections.RunOutputs(study, language)
    for name, value in overrides.items():
        out._cache[name] = value
    return out


def troubled_quality() -> dict:
    quality = {
        "transactions": quality_of(59357, {"invalid_date": 400, "duplicate": 199}, customers_not_in_master=1500,
                                   join={"customers": 5000, "in_master": 3500, "share_in_master": 0.7}),
        "surveys": quality_of(100, {}, join={"customers": 100, "in_transactions": 50, "share_in_transactions": 0.5}),
    }
    return quality


def troubled_run() -> dict:
    """quality.json and quality_gate.json of a run that broke a quality rule and went on (warn)."""
    quality = troubled_quality()
    return {"quality.json": quality,
            "quality_gate.json": [b.to_dict() for b in find_breaches(quality, Quality(max_reason_share=0.005))]}


def test_the_summary_states_the_data_used_and_every_warning(study):
    models = {"skipped": {"holdout": {"zh": "未做留出验证：期间太短。", "en": "No holdout check: the period is too short."}},
              "excluded_customers": {"returns_only": 13}, "clv": {"method": "historic", "fallback_reasons": []}}
    out = outputs_with(study, "zh", **troubled_run(), **{"models.json": models})
    section = sections.summary_section(study, "zh", out)
    page = "".join(section.blocks)
    assert "本次分析使用了交易明细的 99.0%（58,758 / 59,357 行），其余已隔离，原因见数据质量附录。" in page
    assert "本次分析使用了满意度调查的全部 100 行。" in page
    warn = page[page.index('<div class="warn">'):]
    assert "quality.max_reason_share" in warn and "日期无法识别" in warn  # the gate breach
    assert "70.0%" in warn and "50.0%" in warn and "quality.min_join_share" in warn  # both join rates
    assert "13 位客户没有计入分层" in warn  # customers not tiered
    assert "未做留出验证：期间太短。" in warn  # a skipped analysis
    assert page.index("本次分析使用了") < page.index('<div class="warn">')


def test_the_english_summary_says_the_same(study):
    out = outputs_with(study, "en", **troubled_run())
    page = "".join(sections.summary_section(study, "en", out).blocks)
    assert "This analysis used 99.0% of the Transactions rows (58,758 / 59,357)" in page
    assert "params key quality.min_join_share" in page


def test_the_quality_appendix_shows_join_rates_and_customers_not_tiered(study):
    models = {"excluded_customers": {"returns_only": 13, "no_purchase": 2}}
    out = outputs_with(study, "en", **troubled_run(), **{"models.json": models})
    page = "".join(sections.quality_appendix(study, "en", out).blocks)
    assert "3,500 of 5,000 customers (70.0%) are in the customer master" in page
    assert "Customers with transactions but not in the customer master: 1,500." in page
    assert "15 customers are not tiered" in page and "returns or fully returned orders only: 13" in page
    assert "orders netted to zero or below" in page
    assert "Data-quality limits exceeded" in page


def test_the_methodology_states_what_counts_as_a_purchase(study):
    page = "".join(sections.methodology_section(study, "en", outputs_with(study, "en")).blocks)
    assert "an order netted below zero or returned in full is not a purchase" in page
    assert "a free order (gross 0) is, unless cleaning.zero_amount_orders: exclude" in page


def test_the_gate_module_reads_only_inputs():
    assert set(quality_gate.input_summaries(troubled_quality())) == {"transactions", "surveys"}


def test_rows_outside_the_study_period_are_out_of_scope_not_lost():
    # The previous quarter's run reads the same export: a tenth of its rows lie after its period end.
    quality = {"transactions": quality_of(1000, {"after_period_end": 300, "before_period_start": 100, "invalid_date": 50})}
    assert find_breaches(quality, Quality()) == []  # 50 of the 600 rows in scope: 8.3 %
    tighter = find_breaches(quality, Quality(max_reason_share=0.08))
    assert [(b.reason, b.share) for b in tighter] == [("invalid_date", round(50 / 600, 4))]
