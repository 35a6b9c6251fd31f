"""Tests of the sample-data generator: the files, their dirt and the truth they were drawn from."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.simulation.sample_data import (
    MAX_CUSTOMERS,
    PLAN_RATE_MULTIPLIER,
    SURVEY_ATTRIBUTES,
    SampleDataError,
    expected_order_value,
    expected_repeat_purchases,
    generate_sample_data,
)

pytestmark = pytest.mark.slow  # each module run generates the whole sample data set

DATA_FILES = ["transactions.csv", "customers.xlsx", "surveys.csv", "complaints.csv", "managers.csv",
              "contacts.csv", "truth_customers.csv", "truth.json"]
CONTACT_HEADERS = ["客户编号", "联系日期", "联系方式", "客户经理"]
MANAGER_HEADERS = ["经理编号", "姓名", "职级", "地区", "月可用工时", "最多客户数", "入职日期"]
TX_HEADERS = ["客户编号", "订单编号", "订单日期", "金额", "数量", "产品类别", "销售渠道", "成本"]
CUSTOMER_HEADERS = ["客户编号", "客户名称", "行业", "地区", "客户类型", "注册日期", "客户经理",
                    "存款余额", "联系电话"]
SURVEY_HEADERS = ["客户编号", "调查日期", "产品质量", "服务响应速度", "价格合理性", "交付及时性",
                  "客户经理专业度", "总体满意度", "推荐意愿", "意见"]
COMPLAINT_HEADERS = ["客户编号", "投诉日期", "解决日期", "投诉类别", "严重程度"]
FABRICATED = ["missing_customer_id", "invalid_date", "invalid_amount", "after_period_end",
              "outlier"]


# --------------------------------------------------------------------------- helpers

def _hashes(folder: Path) -> dict[str, str]:
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in DATA_FILES}


def _parse_amount(cells: pd.Series) -> pd.Series:
    """What a cleaner must do with the export's amounts: drop currency marks and separators."""
    text = cells
    for mark in ("RMB", "¥", "元", ","):
        text = text.str.replace(mark, "", regex=False)
    return pd.to_numeric(text.str.strip(), errors="coerce")


def _parse_date(cells: pd.Series) -> pd.Series:
    """The four date styles of the export; anything else is NaT."""
    out = pd.Series(pd.NaT, index=cells.index, dtype="datetime64[ns]")
    for fmt in ("%Y-%m-%d", "%Y/%m/%d", "%Y年%m月%d日", "%Y%m%d"):
        out = out.fillna(pd.to_datetime(cells, format=fmt, errors="coerce"))
    return out


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("sample")
    truth = generate_sample_data(folder)
    tx = pd.read_csv(folder / "transactions.csv", encoding="utf-8-sig", dtype=str,
                     keep_default_na=False)
    tx = tx.assign(amount=_parse_amount(tx["金额"]), date=_parse_date(tx["订单日期"]))
    return {
        "dir": folder,
        "truth": truth,
        "tx": tx,
        "customers": pd.read_excel(folder / "customers.xlsx", sheet_name="客户信息", dtype=str, engine="calamine"),
        "surveys": pd.read_csv(folder / "surveys.csv", encoding="gbk", dtype={"客户编号": str},
                               keep_default_na=False),
        "complaints": pd.read_csv(folder / "complaints.csv", encoding="utf-8", dtype=str,
                                  keep_default_na=False),
        "latent": pd.read_csv(folder / "truth_customers.csv", dtype={"customer_id": str}),
        "managers": pd.read_csv(folder / "managers.csv", encoding="utf-8-sig", dtype=str,
                                keep_default_na=False),
        "contacts": pd.read_csv(folder / "contacts.csv", encoding="utf-8-sig", dtype=str,
                                keep_default_na=False),
    }


@pytest.fixture(scope="module")
def purchases(sample: dict) -> pd.DataFrame:
    """Clean purchase rows of the BG/NBD process: no duplicates, no fabricated dirty rows, no returns,
    not the extra orders of the customers served by the last quarter's plan."""
    tx, truth = sample["tx"], sample["truth"]
    fabricated = {oid for kind in FABRICATED for oid in truth["injected_order_ids"][kind]}
    fabricated |= set(truth["plan_effect"]["order_ids"])
    clean = tx.drop_duplicates(subset=TX_HEADERS)
    clean = clean[~clean["订单编号"].isin(fabricated)]
    return clean[clean["amount"] > 0]


# --------------------------------------------------------------------------- determinism

def test_same_seed_gives_identical_bytes(sample: dict, tmp_path: Path) -> None:
    generate_sample_data(tmp_path)
    assert _hashes(tmp_path) == _hashes(sample["dir"])
    recorded = {name: info["sha256"] for name, info in sample["truth"]["files"].items()}
    assert recorded == {k: v for k, v in _hashes(sample["dir"]).items() if k != "truth.json"}


def test_command_line_matches_api_and_seed_matters(tmp_path: Path) -> None:
    cli_dir, api_dir, other_dir = tmp_path / "cli", tmp_path / "api", tmp_path / "other"
    subprocess.run([sys.executable, "-m", "analysis.simulation.sample_data", str(cli_dir),
                    "--n-customers", "300"], check=True, capture_output=True)
    generate_sample_data(api_dir, n_customers=300)
    generate_sample_data(other_dir, n_customers=300, seed=7)
    assert _hashes(cli_dir) == _hashes(api_dir)
    assert _hashes(other_dir)["transactions.csv"] != _hashes(api_dir)["transactions.csv"]
    # atomic writes leave no temporary files behind
    assert sorted(p.name for p in cli_dir.iterdir()) == sorted(DATA_FILES)


@pytest.mark.parametrize("kwargs, fragment", [
    ({"n_customers": 0}, "n_customers"),
    ({"n_customers": MAX_CUSTOMERS + 1}, "8-digit ids"),
    ({"start": "2025-12-31", "end": "2023-01-01"}, "end at least 60 days after start"),
    ({"start": "2023-13-01"}, "ISO dates"),
    ({"customers_format": "ods"}, "customers_format"),
])
def test_bad_arguments_say_what_to_fix(tmp_path: Path, kwargs: dict, fragment: str) -> None:
    with pytest.raises(SampleDataError, match=fragment):
        generate_sample_data(tmp_path, **kwargs)


# --------------------------------------------------------------------------- formats

def test_headers_encodings_and_text_ids(sample: dict) -> None:
    folder = sample["dir"]
    assert (folder / "transactions.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert list(sample["tx"].columns[:8]) == TX_HEADERS
    raw_survey = (folder / "surveys.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw_survey.decode("utf-8")
    assert list(sample["surveys"].columns) == SURVEY_HEADERS
    complaints_raw = (folder / "complaints.csv").read_bytes()
    assert not complaints_raw.startswith(b"\xef\xbb\xbf")
    assert list(sample["complaints"].columns) == COMPLAINT_HEADERS
    assert list(sample["customers"].columns) == CUSTOMER_HEADERS
    for ids in (sample["customers"]["客户编号"], sample["surveys"]["客户编号"],
                sample["tx"].loc[sample["tx"]["客户编号"] != "", "客户编号"]):
        assert ids.str.fullmatch(r"\d{8}").all()
        assert ids.str.startswith("0").all()  # leading zeros would be lost if read as numbers
    assert sample["tx"]["订单编号"].str.fullmatch(r"SO20\d{8}").all()
    truth_text = (folder / "truth.json").read_text(encoding="utf-8")
    assert "服务响应速度" in truth_text  # ensure_ascii=False
    assert json.loads(truth_text) == sample["truth"]


def test_mixed_amount_and_date_styles_are_present(sample: dict) -> None:
    amounts, dates = sample["tx"]["金额"], sample["tx"]["订单日期"]
    n = len(amounts)
    for pattern in (r"-?\d{1,3}(,\d{3})+\.\d\d", r"-?¥[\d,]+\.\d\d", r"-?\d+\.\d\d元",
                    r"RMB -?\d+\.\d\d"):
        assert 0.03 < amounts.str.fullmatch(pattern).sum() / n < 0.07, pattern
    for pattern in (r"\d{4}/\d{1,2}/\d{1,2}", r"\d{4}年\d{1,2}月\d{1,2}日", r"\d{8}"):
        assert 0.03 < dates.str.fullmatch(pattern).sum() / n < 0.07, pattern


# --------------------------------------------------------------------------- injected dirt

def test_injected_counts_match_the_files(sample: dict) -> None:
    tx, truth = sample["tx"], sample["truth"]
    injected = truth["injected"]["transactions"]
    end = pd.Timestamp(truth["end"])
    flags = pd.DataFrame({
        "missing_customer_id": tx["客户编号"] == "",
        "invalid_date": tx["date"].isna(),
        "invalid_amount": tx["amount"].isna(),
        "after_period_end": tx["date"] > end,
        "duplicate": tx.duplicated(subset=TX_HEADERS),
    })
    for kind in flags:
        assert flags[kind].sum() == injected[kind], kind
    assert (flags.sum(axis=1) <= 1).all(), "a row must be dirty in one way only"
    assert (tx["amount"] < 0).sum() == injected["return_rows"]
    assert len(tx) == truth["rows"]["transactions"]
    n_extra = sum(v for k, v in injected.items() if k != "return_rows")
    n_plan = truth["plan_effect"]["extra_purchases"]
    assert len(tx) == truth["observed"]["purchases"] + injected["return_rows"] + n_extra + n_plan
    for kind in FABRICATED:
        assert len(truth["injected_order_ids"][kind]) == injected[kind]


def test_outliers_are_50_to_200_times_the_customer_mean(sample: dict,
                                                        purchases: pd.DataFrame) -> None:
    tx, truth = sample["tx"], sample["truth"]
    outliers = tx[tx["订单编号"].isin(truth["injected_order_ids"]["outlier"])]
    assert len(outliers) == truth["injected"]["transactions"]["outlier"] > 0
    means = sample["latent"].set_index("customer_id")["mean_order_value"]
    ratio = outliers["amount"].to_numpy() / means.loc[outliers["客户编号"]].to_numpy()
    assert ((ratio > 49.9) & (ratio < 200.1)).all()
    assert outliers["amount"].min() > 20 * purchases["amount"].median()
    assert purchases["amount"].max() < outliers["amount"].min()


def test_returns_follow_their_order(sample: dict, purchases: pd.DataFrame) -> None:
    tx = sample["tx"]
    returns = tx[tx["amount"] < 0]
    orders = purchases.set_index("订单编号").loc[returns["订单编号"]]
    assert (returns["客户编号"].to_numpy() == orders["客户编号"].to_numpy()).all()
    lag = (returns["date"].to_numpy() - orders["date"].to_numpy()) / np.timedelta64(1, "D")
    assert ((lag >= 1) & (lag <= 30)).all()
    assert (-returns["amount"].to_numpy() <= orders["amount"].to_numpy() + 1e-9).all()
    assert (returns["数量"].astype(int) < 0).all()


def test_no_clean_row_outside_the_window(sample: dict) -> None:
    tx, truth = sample["tx"], sample["truth"]
    start, end = pd.Timestamp(truth["start"]), pd.Timestamp(truth["end"])
    late = set(truth["injected_order_ids"]["after_period_end"])
    dated = tx[tx["date"].notna() & ~tx["订单编号"].isin(late)]
    assert dated["date"].between(start, end).all()
    assert (tx.loc[tx["订单编号"].isin(late), "date"] > end).all()


def test_customer_master(sample: dict, purchases: pd.DataFrame) -> None:
    master, truth = sample["customers"], sample["truth"]
    assert master.duplicated().sum() == truth["injected"]["customers"]["duplicate"] > 0
    master = master.drop_duplicates()
    assert master["客户编号"].is_unique
    assert len(master) == truth["n_customers"] + truth["n_prospects"]
    buyers = set(purchases["客户编号"])
    assert buyers <= set(master["客户编号"]) and len(buyers) == truth["n_customers"]
    assert 0.02 < (~master["客户编号"].isin(buyers)).mean() < 0.04
    assert 0.30 < (master["客户类型"] == "B2B").mean() < 0.40
    b2c = master["客户类型"] == "B2C"
    assert (master.loc[b2c, "行业"] == "个人消费").all()
    assert master.loc[~b2c, "客户名称"].str.endswith("有限公司").all()
    assert master["联系电话"].str.fullmatch(r"1\d{10}").all()
    balance = master["存款余额"].astype(float)
    assert (balance > 2e8).sum() >= 3
    assert balance[~b2c].median() > 10 * balance[b2c].median()
    first = purchases.groupby("客户编号")["date"].min()
    signup = pd.to_datetime(master.set_index("客户编号")["注册日期"]).loc[first.index]
    assert (signup < first).all()


# --------------------------------------------------------------------------- the known processes

def test_repeat_buyers_and_purchase_counts_match_bgnbd(sample: dict,
                                                       purchases: pd.DataFrame) -> None:
    """Mean repeat purchases vs FHL (2005) eq. 9 at each customer's own T.

    Tolerance: 4 standard errors of the sample mean plus 3 % for draws skipped because the
    customer had already bought that day.
    """
    truth = sample["truth"]
    days = purchases.groupby("客户编号")["date"].agg(["nunique", "size", "min"])
    assert (days["nunique"] == days["size"]).all(), "at most one purchase per customer and day"
    repeats = days["nunique"] - 1
    assert len(purchases) == truth["observed"]["purchases"]
    assert (repeats > 0).mean() >= 0.40
    assert (repeats > 0).mean() == pytest.approx(truth["observed"]["share_with_repeat"])
    assert 50_000 <= len(purchases) <= 120_000
    horizon = (pd.Timestamp(truth["end"]) - days["min"]).dt.days + 1
    g = truth["bgnbd"]
    expected = expected_repeat_purchases(horizon.to_numpy(), g["r"], g["alpha"], g["a"], g["b"])
    tolerance = 4 * repeats.std() / np.sqrt(len(repeats)) + 0.03 * expected.mean()
    assert abs(repeats.mean() - expected.mean()) < tolerance


def test_order_values_match_gamma_gamma_and_ignore_frequency(purchases: pd.DataFrame,
                                                             sample: dict) -> None:
    """Mean over customers of their mean order value vs p*gamma/(q-1), within 5 %.

    The standard error of that mean is about 1.5 % here. Spend must not depend on frequency:
    |Pearson r(mean order value, log orders)| < 0.05, about 3.5 standard errors. (A rank
    correlation would not do: means of few right-skewed draws have a lower median.)
    """
    gg = sample["truth"]["gamma_gamma"]
    per_customer = purchases.groupby("客户编号")["amount"].agg(["mean", "size"])
    target = expected_order_value(gg["p"], gg["q"], gg["gamma"])
    assert per_customer["mean"].mean() == pytest.approx(target, rel=0.05)
    r = per_customer["mean"].corr(np.log(per_customer["size"]))
    assert abs(r) < 0.05


def test_survey_targets_follow_the_known_weights(sample: dict) -> None:
    """OLS on the file recovers each weight within 0.08 (standard errors are about 0.02)."""
    surveys, complaints, truth = sample["surveys"], sample["complaints"], sample["truth"]
    attrs = list(SURVEY_ATTRIBUTES)
    ratings = surveys[attrs].to_numpy()
    assert ((ratings >= 1) & (ratings <= 10)).all()
    assert surveys["总体满意度"].between(1, 10).all() and surveys["推荐意愿"].between(0, 10).all()
    survey_day = pd.to_datetime(surveys["调查日期"])
    assert (survey_day > pd.Timestamp(truth["end"]) - pd.Timedelta(days=366)).all()
    first_complaint = pd.to_datetime(complaints.groupby("客户编号")["投诉日期"].min())
    complained = (first_complaint.reindex(surveys["客户编号"]).to_numpy() <= survey_day.to_numpy())
    design = np.column_stack([np.ones(len(surveys)), ratings, complained.astype(float)])
    for target, weights, penalty in (
        ("总体满意度", truth["satisfaction_weights"], truth["complaint_satisfaction_penalty"]),
        ("推荐意愿", truth["recommend_weights"], truth["complaint_recommend_penalty"]),
    ):
        coef, *_ = np.linalg.lstsq(design, surveys[target].to_numpy(float), rcond=None)
        np.testing.assert_allclose(coef[1:6], [weights[a] for a in attrs], atol=0.08)
        assert coef[6] == pytest.approx(-penalty, abs=0.35)
    sat_weights = truth["satisfaction_weights"]
    assert max(sat_weights, key=sat_weights.get) == "服务响应速度"
    p = sample["latent"].set_index("customer_id")["p"].loc[surveys["客户编号"]]
    assert p.reset_index(drop=True).corr(surveys["总体满意度"], method="spearman") < -0.1
    assert (surveys["意见"] == "").mean() > 0.1


def test_complaints_are_dated_and_come_more_from_likely_churners(sample: dict) -> None:
    complaints, latent, truth = sample["complaints"], sample["latent"], sample["truth"]
    opened = pd.to_datetime(complaints["投诉日期"])
    assert opened.between(pd.Timestamp(truth["start"]), pd.Timestamp(truth["end"])).all()
    is_open = complaints["解决日期"] == ""
    assert 0.05 < is_open.mean() < 0.15
    closed = pd.to_datetime(complaints.loc[~is_open, "解决日期"])
    assert (closed >= opened[~is_open]).all() and (closed <= pd.Timestamp(truth["end"])).all()
    assert opened[is_open].median() > opened[~is_open].median()  # open ones are mostly recent
    categories = {"产品质量", "交付延迟", "服务态度", "账单错误", "技术支持"}
    assert set(complaints["投诉类别"]) == categories
    assert set(complaints["严重程度"]) == {"低", "中", "高"}
    complainer = latent["customer_id"].isin(set(complaints["客户编号"]))
    assert latent.loc[complainer, "p"].median() > 1.5 * latent.loc[~complainer, "p"].median()


# --------------------------------------------------------------------------- account managers

def test_managers_file_and_their_portfolios(sample: dict) -> None:
    """40 managers over the regions, every customer with one of their region, seniors on the
    more valuable and older accounts (the confounding the scorecard must adjust for)."""
    staff, master, truth = sample["managers"], sample["customers"].drop_duplicates(), sample["truth"]
    assert list(staff.columns) == MANAGER_HEADERS
    assert (sample["dir"] / "managers.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert len(staff) == len(truth["managers"]) == 40 and staff["经理编号"].is_unique
    assert staff["姓名"].is_unique and set(staff["职级"]) == {"高级", "中级", "初级"}
    assert (staff.groupby("地区")["职级"].apply(lambda s: (s == "高级").any())).all()
    hours = staff["月可用工时"].astype(float)
    senior = staff["职级"] == "高级"  # seniors keep fewer hours for accounts: the top tier's cadence binds
    assert hours[senior].between(30, 60).all() and hours[~senior].between(90, 170).all()
    region_of = staff.set_index("姓名")["地区"]
    assert master["客户经理"].isin(region_of.index).all()
    assert (region_of.loc[master["客户经理"]].to_numpy() == master["地区"].to_numpy()).all()
    latent = sample["latent"].set_index("customer_id")
    level = {m["manager_id"]: m["level"] for m in truth["managers"]}
    by_level = latent.assign(level=latent["manager_id"].map(level)).groupby("level")
    spend = by_level["mean_order_value"].mean()
    assert spend["senior"] > 1.2 * spend["junior"]
    assert by_level["T_days"].mean()["senior"] > by_level["T_days"].mean()["junior"] + 30


def test_manager_effects_are_known_and_act_on_their_customers(sample: dict) -> None:
    """Effects are centred within each level; a larger retention effect gives a lower mean p
    (Spearman below -0.7 over the 40 managers), and the dealt p values are still the Beta draws
    (their mean within 4 standard errors of a / (a + b))."""
    truth, latent = sample["truth"], sample["latent"]
    managers = pd.DataFrame(truth["managers"])
    for column in ("retention_effect", "satisfaction_shift"):
        assert managers.groupby("level")[column].mean().abs().max() < 1e-6
        assert managers[column].std() > 0.3
    mean_p = latent.groupby("manager_id")["p"].mean().reindex(managers["manager_id"])
    assert mean_p.reset_index(drop=True).corr(managers["retention_effect"], method="spearman") < -0.7
    g = truth["bgnbd"]
    mean, var = g["a"] / (g["a"] + g["b"]), 0.0109
    assert abs(latent["p"].mean() - mean) < 4 * np.sqrt(var / len(latent))


# --------------------------------------------------------------------------- the last quarter's plan

def test_contact_log_covers_the_last_quarter(sample: dict) -> None:
    """Every contact lies in the quarter, is with a customer who bought before it and is logged by
    the customer's own manager; served customers have 6+ contacts, the others 0 or 1."""
    contacts, truth = sample["contacts"], sample["truth"]
    plan = truth["plan_effect"]
    assert list(contacts.columns) == CONTACT_HEADERS
    assert (sample["dir"] / "contacts.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert len(contacts) == plan["contacts"] == truth["rows"]["contacts"]
    day = pd.to_datetime(contacts["联系日期"], format="%Y-%m-%d")
    assert plan["quarter"] == {"start": "2025-10-01", "end": "2025-12-31"}
    assert day.between(pd.Timestamp("2025-10-01"), pd.Timestamp("2025-12-31")).all()
    first = sample["latent"].set_index("customer_id")["first_purchase"]
    assert (pd.to_datetime(first.loc[contacts["客户编号"]]).to_numpy() < pd.Timestamp("2025-10-01")).all()
    master = sample["customers"].drop_duplicates().set_index("客户编号")["客户经理"]
    assert (master.loc[contacts["客户编号"]].to_numpy() == contacts["客户经理"].to_numpy()).all()
    per_customer = contacts["客户编号"].value_counts()
    served = per_customer[per_customer >= 6]
    assert len(served) == plan["served"]
    assert per_customer[per_customer < 6].max() == 1
    assert 0.25 < plan["served"] / plan["eligible"] < 0.6


def test_plan_effect_is_in_the_served_customers_purchases(sample: dict, purchases: pd.DataFrame) -> None:
    """The extra orders are the served customers' own, in the quarter; the true effect is positive
    and the naive comparison overstates it (the served were the likelier buyers anyway)."""
    tx, truth, contacts = sample["tx"], sample["truth"], sample["contacts"]
    plan = truth["plan_effect"]
    extra = tx[tx["订单编号"].isin(plan["order_ids"])]
    assert len(extra) == plan["extra_purchases"] > 500
    assert extra["date"].between(pd.Timestamp("2025-10-01"), pd.Timestamp("2025-12-31")).all()
    served = contacts["客户编号"].value_counts()
    assert set(extra["客户编号"]) <= set(served[served >= 6].index)
    assert (extra["amount"] > 0).all()
    assert plan["rate_multiplier"] == PLAN_RATE_MULTIPLIER
    assert 0.03 < plan["ate"]["bought"] < 0.15 and plan["ate"]["spend"] > 0
    assert plan["naive"]["bought"] > plan["ate"]["bought"] + 0.08
    # one purchase per customer and day holds with the extra orders too
    assert not pd.concat([purchases, extra]).duplicated(["客户编号", "date"]).any()
