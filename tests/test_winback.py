"""The win-back list: valuable lost customers, ranked by value at stake, with their reasons."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from analysis.frame import catalog
from analysis.frame.params import ParamsError, load_params
from analysis.i18n import render
from analysis.methods import winback
from tests.test_params import write_params

END = pd.Timestamp("2025-12-31")


def customer(cid: str, revenue: float, first: str, last: str, *, stage: str = "lost", p_alive: float = 0.05,
             frequency: float = 4.0, **extra) -> dict:
    last_day = pd.Timestamp(last)
    return {"customer_id": cid, "revenue": revenue, "first_purchase": pd.Timestamp(first), "last_purchase": last_day,
            "days_since_last": (END - last_day).days, "lifecycle_stage": stage, "p_alive": p_alive,
            "frequency": frequency, "tier": 3, "clv": 10.0 * p_alive, **extra}


def book() -> pd.DataFrame:
    """Eight customers: four lost and valuable, one lost and cheap, one lost only by P(alive), two active."""
    rows = [
        customer("steady", 3000.0, "2023-01-01", "2025-01-01"),  # 3000 over 2 years: 1500 a year
        customer("burst", 2000.0, "2024-06-01", "2024-09-01"),  # within a year: 2000 a year
        customer("twin-b", 1000.0, "2023-01-01", "2023-06-01"),  # 1000 a year, tied with twin-a
        customer("twin-a", 1000.0, "2024-01-01", "2024-03-01"),
        customer("cheap", 20.0, "2024-01-01", "2024-02-01"),  # lost but under the value floor
        customer("by-p-alive", 1200.0, "2024-01-01", "2024-12-01", stage="mature", p_alive=0.1),
        customer("active-big", 9000.0, "2023-01-01", "2025-12-20", stage="mature", p_alive=0.95),
        customer("active-small", 10.0, "2025-11-01", "2025-12-01", stage="new", p_alive=0.9),
    ]
    return pd.DataFrame(rows)


def test_lost_valuable_customers_are_ranked_by_value_at_stake():
    listed = winback.winback_list(book(), value_quantile=0.25, size=None)
    assert listed["customer_id"].tolist() == ["burst", "steady", "by-p-alive", "twin-a", "twin-b"]
    stake = listed.set_index("customer_id")["value_at_stake"]
    assert stake["steady"] == pytest.approx(3000 / (731 / 365))  # revenue per year from first to last purchase
    assert stake["burst"] == 2000.0 and stake["twin-a"] == stake["twin-b"] == 1000.0  # at least one year
    assert stake.is_monotonic_decreasing
    assert {"active-big", "active-small", "cheap"}.isdisjoint(listed["customer_id"])
    assert listed.attrs["lost"] == 6 and listed.attrs["valuable"] == 5
    assert listed.attrs["floor"] == pytest.approx(book()["revenue"].quantile(0.25))


def test_the_size_and_the_floor_cut_the_list():
    top = winback.winback_list(book(), value_quantile=0.25, size=2)
    assert top["customer_id"].tolist() == ["burst", "steady"]
    assert top.attrs["value_listed"] == pytest.approx(top["value_at_stake"].sum())
    high_floor = winback.winback_list(book(), value_quantile=0.5, size=None)  # the median revenue, 1,100
    assert set(high_floor["customer_id"]) == {"burst", "steady", "by-p-alive"}
    strict = winback.winback_list(book(), value_quantile=0.25, max_p_alive=0.05, size=None)
    assert "by-p-alive" not in set(strict["customer_id"])  # mature and P(alive) 0.1 ≥ 0.05: not lost


def test_a_cut_list_is_the_head_of_the_whole_list_reasons_included():
    rows = book().assign(recent_spend=[0.0, 50.0, 0.0, 10.0, 0.0, 0.0, 0.0, 0.0],
                         previous_spend=[900.0, 100.0, 0.0, 500.0, 0.0, 0.0, 0.0, 0.0])
    whole = winback.winback_list(rows, value_quantile=0.25, size=None)
    for size in (1, 3, 5, 9):
        cut = winback.winback_list(rows, value_quantile=0.25, size=size)
        pd.testing.assert_frame_equal(cut, whole.head(size).reset_index(drop=True))
        assert cut.attrs["valuable"] == whole.attrs["valuable"] and cut.attrs["lost"] == whole.attrs["lost"]


def test_each_customer_gets_the_churn_reasons_that_hold_or_low_p_alive():
    rows = book().set_index("customer_id")
    rows.loc["steady", ["recent_spend", "previous_spend"]] = [0.0, 800.0]
    rows.loc["burst", "recommend_score"] = 3
    rows.loc["burst", "complaints_open"] = 2
    rows.loc["twin-a", ["first_purchase", "last_purchase", "days_since_last", "frequency"]] = [
        pd.Timestamp("2025-10-01"), pd.Timestamp("2025-12-01"), 30, 1]  # within twice its usual gap of 61 days
    listed = winback.winback_list(rows.reset_index(), value_quantile=0.25, size=None).set_index("customer_id")
    codes = listed["reason_codes"].to_dict()
    assert codes["steady"] == "long_since_last_purchase; falling_spend"
    assert codes["burst"] == "long_since_last_purchase; detractor; open_complaint"
    assert codes["twin-a"] == "low_p_alive"
    steady = json.loads(listed.loc["steady", "reasons"])
    assert render(steady, "en").startswith("364 days since the last purchase (usual gap about 183 days)")
    assert "0%" in render(steady, "en")
    assert render(json.loads(listed.loc["twin-a", "reasons"]), "en") == "the purchase model gives them up (P(alive) 5%)"
    assert "5%" in render(json.loads(listed.loc["twin-a", "reasons"]), "zh")
    assert set(winback.REASONS) >= {code for c in codes.values() for code in c.split("; ")}


def test_the_summary_counts_the_list_and_its_reasons():
    listed = winback.winback_list(book(), value_quantile=0.25, size=3)
    summary = winback.winback_summary(listed)
    assert summary["lost"] == 6 and summary["valuable"] == 5 and summary["listed"] == 3
    assert summary["value_at_stake"] == pytest.approx(listed["value_at_stake"].sum())
    assert summary["revenue"] == pytest.approx(3000 + 2000 + 1200)
    assert summary["reasons"] == {"long_since_last_purchase": 3}
    json.dumps(summary)  # JSON-ready: allocation.json keeps it


def test_an_empty_list_has_its_columns_and_a_zero_summary():
    active = book()[book()["customer_id"].str.startswith("active")]
    listed = winback.winback_list(active)
    assert listed.empty and {"value_at_stake", "reason_codes", "reasons"} <= set(listed.columns)
    assert winback.winback_summary(listed)["listed"] == 0


def test_wrong_inputs_say_what_and_how_to_fix():
    with pytest.raises(winback.WinbackInputError, match=r"value_quantile=1: use a share in \[0, 1\)"):
        winback.winback_list(book(), value_quantile=1)
    with pytest.raises(winback.WinbackInputError, match=r"max_p_alive=0: use a probability in \(0, 1\)"):
        winback.winback_list(book(), max_p_alive=0)
    with pytest.raises(ValueError, match=r"customers lacks column\(s\) \['revenue'\]"):
        winback.winback_list(book().drop(columns="revenue"))
    with pytest.raises(winback.WinbackInputError, match=r"neither lifecycle_stage nor p_alive"):
        winback.winback_list(book().drop(columns=["lifecycle_stage", "p_alive"]))


@pytest.mark.parametrize(("actions", "pattern"), [
    ({"winback_size": 0}, r"actions\.winback_size"),
    ({"winback_max_p_alive": 1.0}, r"actions\.winback_max_p_alive"),
    ({"winback_value_quantile": 1.0}, r"actions\.winback_value_quantile"),
])
def test_wrong_winback_params_are_refused_at_load(tmp_path, actions, pattern):
    with pytest.raises(ParamsError, match=pattern):
        load_params(write_params(tmp_path, lambda p: p.update(actions=actions)), check_files=False)


def test_the_sample_run_lists_lost_valuable_customers_and_the_report_masks_them(sample_report, out_root):
    processed = out_root / "data/processed/sample"
    listed = pd.read_parquet(processed / catalog.WINBACK)
    customers = pd.read_parquet(processed / catalog.CUSTOMERS).set_index("customer_id")
    summary = json.loads((processed / catalog.ALLOCATION_JSON).read_text(encoding="utf-8"))["winback"]
    assert 0 < len(listed) <= 50 and summary["listed"] == len(listed)
    assert listed["value_at_stake"].is_monotonic_decreasing
    rows = customers.loc[listed["customer_id"]]
    assert ((rows["lifecycle_stage"] == "lost") | (rows["p_alive"] < 0.3)).all()
    assert (rows["revenue"] >= summary["floor"]).all()
    assert summary["value_at_stake"] == pytest.approx(listed["value_at_stake"].sum(), rel=1e-9)
    for page in ("index.html", "index.en.html"):
        html = (sample_report.parent / page).read_text(encoding="utf-8")
        assert '<section id="actions">' in html
        assert not any(str(cid) in html for cid in listed["customer_id"])  # salted codes only
