"""Account managers: the managers file, the fair scorecard, the shrinkage, the levels, stage 6 on the sample."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.frame.params import load_params
from analysis.methods import managers as mg
from analysis.stages import managers as managers_stage

ROOT = Path(__file__).resolve().parents[1]
HOURS = {"senior": 110.0, "middle": 130.0, "junior": 150.0}


def staff_file(**changes) -> pd.DataFrame:
    rows = [
        {"manager_id": "KM001", "name": "王志强", "level": "高级", "region": "华东", "hours_per_month": "100",
         "max_accounts": "150", "start_date": "2019-03-01", "_source_row": 2},
        {"manager_id": "KM002", "name": "李静", "level": "middle", "region": "华东", "hours_per_month": "",
         "max_accounts": "", "start_date": "", "_source_row": 3},
    ]
    for key, value in changes.items():
        rows[1][key] = value
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- who the managers are

def test_managers_file_reads_chinese_levels_and_fills_hours_by_level():
    staff = mg.managers_from_file(staff_file(), HOURS)
    assert staff["level"].tolist() == ["senior", "middle"]
    assert staff["hours_per_month"].tolist() == [100.0, 130.0]  # empty: the level's default
    assert staff["max_accounts"].iloc[0] == 150 and pd.isna(staff["max_accounts"].iloc[1])
    assert (staff["source"] == "file").all()


@pytest.mark.parametrize(("change", "fragment"), [
    ({"level": "经理"}, "row 3: level '经理' of manager KM002 is not a level; use senior, middle or junior"),
    ({"manager_id": "KM001"}, "row 3: manager id 'KM001' repeats row 2"),
    ({"manager_id": ""}, "row 3: the manager id is empty"),
    ({"hours_per_month": "-5"}, "row 3: hours_per_month is '-5'; give a number above 0"),
    ({"start_date": "soon"}, "row 3: start_date 'soon' is not a date"),
])
def test_a_wrong_managers_file_says_where_and_how_to_fix(change, fragment):
    with pytest.raises(mg.ManagerInputError, match="managers.csv") as caught:
        mg.managers_from_file(staff_file(**change), HOURS, source="managers.csv")
    assert fragment in str(caught.value)


def test_without_a_file_the_managers_are_the_master_names_with_default_level():
    master = pd.DataFrame({"account_manager": ["A", "B", "A", None, " B "], "region": ["东", "西", "东", "东", "西"]})
    staff = mg.managers_from_master(master, "junior", HOURS)
    assert staff["manager_id"].tolist() == ["A", "B"] and (staff["level"] == "junior").all()
    assert (staff["hours_per_month"] == 150.0).all() and staff["region"].tolist() == ["东", "西"]
    assert mg.managers_from_master(pd.DataFrame({"region": ["东"]}), "junior", HOURS).empty


def test_customers_are_matched_on_id_then_name():
    staff = mg.managers_from_file(staff_file(), HOURS)
    ids, unknown = mg.match_customers(pd.Series(["KM001", "李静", "赵六", None]), staff)
    assert ids.tolist() == ["KM001", "KM002", mg.UNASSIGNED, mg.UNASSIGNED] and unknown == ["赵六"]


# --------------------------------------------------------------------------- the fair comparison

def confounded_book(seed: int = 7, n: int = 300) -> tuple[pd.DataFrame, dict[str, float]]:
    """Four managers; old accounts keep less (0.35) than new ones (0.75) whoever manages them.

    GOOD (+0.08) holds 90 % old accounts, BAD (-0.08) 90 % new ones, two neutral managers half
    and half: the raw ranking puts BAD first and GOOD last, the truth is the other way round.
    """
    rng = np.random.default_rng(seed)
    effects = {"GOOD": 0.08, "N1": 0.0, "N2": 0.0, "BAD": -0.08}
    old_share = {"GOOD": 0.9, "N1": 0.5, "N2": 0.5, "BAD": 0.1}
    frames = []
    for manager, effect in effects.items():
        old = rng.random(n) < old_share[manager]
        base = np.where(old, 0.35, 0.75)
        frames.append(pd.DataFrame({
            "manager_id": manager,
            "T": np.where(old, rng.uniform(600, 1000, n), rng.uniform(10, 300, n)),
            "monetary_value": rng.lognormal(6, 1, n),
            "segment": "B2B",
            "p_alive": np.clip(base + effect + rng.normal(0, 0.1, n), 0, 1),
            "revenue": rng.lognormal(8, 1, n),
            "clv": rng.lognormal(7, 1, n),
            "tier": rng.integers(1, 4, n),
        }))
    book = pd.concat(frames, ignore_index=True)
    book["customer_id"] = [f"C{i:05d}" for i in range(len(book))]
    return book, effects


def staff_of(ids) -> pd.DataFrame:
    return pd.DataFrame({"manager_id": list(ids), "name": list(ids), "level": "middle", "region": None,
                         "hours_per_month": 100.0, "max_accounts": np.nan, "start_date": None})


def test_the_raw_ranking_is_wrong_and_the_adjusted_one_right():
    book, effects = confounded_book()
    card = mg.scorecard(book, staff_of(effects), {1: 1.5, 2: 0.5, 3: 0.0}).set_index("manager_id")
    raw = card["retention"].sort_values(ascending=False).index.tolist()
    adjusted = card["retention_adjusted"].sort_values(ascending=False).index.tolist()
    assert raw[0] == "BAD" and raw[-1] == "GOOD"
    assert adjusted[0] == "GOOD" and adjusted[-1] == "BAD"
    # the adjusted figures recover the true effects within 0.03 (noise: 0.1 / sqrt(300) per manager),
    # and the intervals of the best and the worst manager do not overlap
    for manager, effect in effects.items():
        assert card.loc[manager, "retention_adjusted"] == pytest.approx(effect, abs=0.03), manager
    assert card.loc["GOOD", "retention_low"] > card.loc["BAD", "retention_high"]
    assert card.loc["GOOD", "adjusted_rank"] == 1 and card.loc["BAD", "raw_rank"] == 1
    # hours due: customers × hours per customer of their tier
    due = book.groupby("manager_id")["tier"].apply(lambda t: t.map({1: 1.5, 2: 0.5, 3: 0.0}).sum())
    assert card["hours_due"].to_dict() == pytest.approx(due.to_dict())


def test_small_portfolios_are_shrunk_toward_the_mean_more_than_large_ones():
    rng = np.random.default_rng(3)
    groups = np.repeat(["big1", "big2", "big3", "big4", "small"], [400, 400, 400, 400, 8])
    shift = pd.Series({"big1": 0.1, "big2": -0.1, "big3": 0.05, "big4": -0.05, "small": 0.3})
    y = pd.Series(shift[groups].to_numpy() + rng.normal(0, 0.3, groups.size))
    result = mg.adjusted_difference(y, pd.Series(0.0, index=y.index), pd.Series(groups), 0.95)
    table = result.table
    assert result.tau > 0
    assert table.loc["small", "weight"] < 0.5 < table.loc["big1", "weight"]
    assert abs(table.loc["small", "estimate"]) < abs(table.loc["small", "d"])
    assert table.loc["big1", "estimate"] == pytest.approx(table.loc["big1", "d"], abs=0.01)
    width = table["high"] - table["low"]
    assert width["small"] > width["big1"]


def test_expected_values_come_from_the_book_in_the_same_cell():
    cells = pd.Series(["a"] * 12 + ["b"] * 12 + ["c"] * 3 + ["d"] * 2)
    y = pd.Series([1.0] * 12 + [3.0] * 12 + [100.0] * 3 + [0.0] * 2)
    expected = mg.expected_by_mix(y, cells)
    assert expected.iloc[0] == 1.0 and expected.iloc[12] == 3.0
    assert expected.iloc[-1] == expected.iloc[-3] == pytest.approx(60.0)  # cells under MIN_CELL are pooled


def test_a_manager_holding_most_of_a_cell_does_not_set_its_expectation():
    """Cell x: 90 % of manager G's customers (+1), cell z the rest; the two-way fit finds the cells'
    own levels (0 and 10), the one-way mean of cell x would be pulled up by G."""
    cells = pd.Series(["x"] * 100 + ["z"] * 100)
    group = pd.Series(["G"] * 90 + ["H"] * 10 + ["G"] * 10 + ["H"] * 90)
    y = pd.Series(np.where(cells == "x", 0.0, 10.0) + np.where(group == "G", 1.0, -1.0))
    two_way = mg.expected_by_mix(y, cells, group)
    one_way = mg.expected_by_mix(y, cells)
    assert two_way.iloc[0] == pytest.approx(0.0, abs=1e-6) and two_way.iloc[-1] == pytest.approx(10.0, abs=1e-6)
    assert one_way.iloc[0] == pytest.approx(0.8)


# --------------------------------------------------------------------------- levels

def test_levels_follow_the_weights_and_cut_offs():
    card = pd.DataFrame({
        "manager_id": list("ABCDE"),
        "value_per_customer_adjusted": [0.0] * 5,
        "satisfaction_adjusted": [0.0] * 5,
        "retention_adjusted": [0.2, 0.1, 0.0, -0.1, -0.2],
        "clv": [5.0, 4.0, 3.0, 2.0, 1.0],
    })
    levels = mg.performance_levels(card, {"performance": 0.4, "service": 0.3, "retention": 0.3}, [0.5, -0.5])
    assert levels["performance_level"].tolist() == ["A", "A", "B", "C", "C"]
    assert levels["value_band"].tolist() == ["high", "high", "medium", "low", "low"]
    only_service = mg.performance_levels(card.assign(satisfaction_adjusted=[-1, 0, 0, 0, 1.0]),
                                         {"performance": 0, "service": 1, "retention": 0}, [0.5, -0.5])
    assert only_service["performance_level"].tolist() == ["C", "B", "B", "B", "A"]
    matrix = mg.level_matrix(levels)
    assert matrix.loc["A", "high"] == 2 and matrix.to_numpy().sum() == 5
    assert list(matrix.index) == ["A", "B", "C"] and list(matrix.columns) == ["high", "medium", "low"]


def test_stage_takes_managers_from_the_master_without_a_file():
    params = load_params(ROOT / "params" / "sample.yaml", check_files=False)
    book, effects = confounded_book(n=60)
    book["account_manager"] = book.pop("manager_id")
    outcome = managers_stage.compute(book, params, 4)
    assert outcome.record["source"] == "master" and outcome.record["managers"] == 4
    assert outcome.record["notes"][0]["key"] == "managers_source_master"
    assert set(outcome.scorecard["level"]) == {params.managers.default_level}
    assert managers_stage.compute(book.drop(columns="account_manager"), params, 4) is None


# --------------------------------------------------------------------------- the sample study

def test_on_the_sample_the_managers_with_the_largest_true_effects_rank_near_the_top(sample_report, out_root):
    """Spearman of the adjusted figures with the generator's effects over the 40 managers:
    retention above 0.8 (the raw figure is confounded by tenure and spend: about 0.8), satisfaction
    above 0.65; the five largest true retention effects all rank in the adjusted top 15 of 40."""
    processed = out_root / "data/processed/sample"
    card = pd.read_parquet(processed / "manager_scorecard.parquet").set_index("manager_id")
    truth = pd.DataFrame(json.loads((ROOT / "data/raw/sample/truth.json").read_text(encoding="utf-8"))["managers"])
    truth = truth.set_index("manager_id").reindex(card.index)
    assert card["retention_adjusted"].corr(truth["retention_effect"], method="spearman") > 0.8
    assert card["satisfaction_adjusted"].corr(truth["satisfaction_shift"], method="spearman") > 0.65
    top = truth["retention_effect"].nlargest(5).index
    assert (card.loc[top, "adjusted_rank"] <= 15).all()
    record = json.loads((processed / "managers.json").read_text(encoding="utf-8"))
    assert record["source"] == "file" and record["managers"] == 40 and record["unassigned_customers"] == 0


def test_stage_reads_the_managers_file_and_names_a_wrong_row(tmp_path):
    params = load_params(ROOT / "params" / "sample.yaml", check_files=False)
    path = tmp_path / "managers.csv"
    path.write_text("经理编号,姓名,职级,地区,月可用工时,最多客户数,入职日期\n"
                    "KM001,王志强,高级,华东,100,,2019-03-01\nKM002,李静,主管,华东,,,\n", encoding="utf-8-sig")
    spec = params.inputs.managers.model_copy(update={"path": path})
    params = params.model_copy(update={"inputs": params.inputs.model_copy(update={"managers": spec})})
    with pytest.raises(mg.ManagerInputError, match=r"managers\.csv, row 3: level '主管' of manager KM002"):
        managers_stage.read_managers(params)
    path.write_text(path.read_text(encoding="utf-8-sig").replace("主管", "初级"), encoding="utf-8-sig")
    staff = managers_stage.read_managers(params)
    assert staff["level"].tolist() == ["senior", "junior"] and staff["hours_per_month"].tolist() == [100.0, 150.0]


# --------------------------------------------------------------------------- who should serve whom

TIER_WORDS = {"zh": ["金", "银", "铜", "普"], "en": ["Gold", "Silver", "Bronze", "Base"]}


def small_assignment_study(tmp_path):
    """One region, two seniors of 15 hours each, a middle and a junior manager; 30 tier-1 customers
    (1.5 hours each a month by the default playbook: 45 hours for 30 senior hours), half of them with
    the middle manager, and 20 customers in each of tiers 2-4. Values 1 000 … 30 000 in tier 1."""
    from dataclasses import replace

    from analysis.frame import catalog
    from analysis.frame.study import open_study

    study = open_study(ROOT / "params" / "sample.yaml", out_root=tmp_path)
    path = tmp_path / "managers.csv"
    path.write_text("经理编号,姓名,职级,地区,月可用工时,最多客户数,入职日期\n"
                    "S1,王一,高级,东,15,,\nS2,李二,高级,东,15,,\nM1,张三,中级,东,100,,\nJ1,赵四,初级,东,100,,\n",
                    encoding="utf-8-sig")
    spec = study.params.inputs.managers.model_copy(update={"path": path})
    params = study.params.model_copy(update={"inputs": study.params.inputs.model_copy(update={"managers": spec})})
    study = replace(study, params=params)
    tier = np.repeat([1, 2, 3, 4], [30, 20, 20, 20])
    current = np.array(["S1", "M1"] * 15 + ["M1"] * 20 + ["J1"] * 20 + ["J1"] * 20)
    value = np.concatenate([1000.0 * np.arange(1, 31), np.full(20, 800.0), np.full(20, 300.0), np.full(20, 50.0)])
    book = pd.DataFrame({
        "customer_id": [f"CUST-{i:04d}" for i in range(len(tier))], "name": [f"客户{i}" for i in range(len(tier))],
        "tier": tier, "region": "东", "account_manager": current, "clv": value, "revenue": value * 2,
        "p_alive": 0.8, "T": 400.0, "monetary_value": 100.0, "segment": "B2B",
    })
    profile = pd.DataFrame({"tier": [1, 2, 3, 4], "customers": [30, 20, 20, 20],
                            "clv": [value[tier == t].sum() for t in (1, 2, 3, 4)], "p_alive_mean": 0.8})
    study.write(catalog.CUSTOMERS, book)
    study.write(catalog.TIER_PROFILE, profile)
    rule = {"method": "clv", "n_tiers": 4, "names": TIER_WORDS, "column": "clv"}
    study.write(catalog.TIERING_JSON, {"method": "clv", "n_tiers": 4, "rule": rule, "migration": None, "skipped": {}})
    return study, book


def test_stage_assigns_customers_within_each_managers_hours_and_prices_the_plan(tmp_path):
    from analysis.frame import catalog

    study, book = small_assignment_study(tmp_path)
    managers_stage.run(study)
    table = study.read(catalog.ASSIGNMENT)
    loads = study.read(catalog.MANAGER_LOADS).set_index("manager_id")
    record = study.read(catalog.MANAGERS_JSON)
    assert sorted(table["customer_id"]) == sorted(book["customer_id"])
    assert {"customer_id", "current_manager", "recommended_manager", "reason", "tier", "value"} <= set(table.columns)
    # capacity holds: no manager is given more hours than they have
    assert (loads["hours_after"] <= loads["hours_available"] + 1e-6).all()
    assert loads.loc[["S1", "S2"], "hours_after"].sum() == pytest.approx(30.0, abs=1e-6)  # 20 tier-1 customers
    tier1 = table[table["tier"] == 1]
    served = tier1["recommended_manager"].notna()
    assert served.sum() == 20 and set(tier1.loc[served, "recommended_manager"]) <= {"S1", "S2"}
    # the most valuable tier-1 customers are the ones served; the rest wait for room
    assert tier1.loc[served, "value"].min() > tier1.loc[~served, "value"].max()
    assert set(tier1.loc[~served, "reason"]) == {"unassigned_no_capacity"}
    assert set(table.loc[table["tier"] == 4, "reason"]) == {"pooled_by_playbook"}
    moved = tier1[served & (tier1["current_manager"] == "M1")]
    assert len(moved) and set(moved["reason"]) == {"moved_level"}  # a middle manager may not serve tier 1
    summary, plan = record["assignment"], record["capacity_plan"]
    assert summary["unassigned_no_capacity"] == 10 and summary["staffed_customers"] == 70
    assert summary["kept"] + summary["moved"] + summary["assigned_new"] + summary["unassigned"] == 70
    assert summary["value_after"] <= summary["value_unconstrained"] + 1e-6 and summary["value_lost"] > 0
    # the plan: one more senior (median 15 hours) covers the 15 hours short; it fits and is recommended
    assert plan["binding"] and plan["recommended_option"] == "add_managers"
    chosen = plan["options"][plan["recommended"]]
    assert chosen["fits"] and chosen["unassigned"] == 0 and chosen["managers_added"]["senior"] == 1
    assert plan["note"]["key"] == "assignment_plan_add"
    senior = next(row for row in plan["levels"] if row["level"] == "senior")
    assert senior["utilisation"] == pytest.approx(1.5) and senior["utilisation_after"] <= 1.0


def test_the_report_shows_the_plan_and_masks_the_handover_list(tmp_path):
    from analysis.frame import catalog
    from analysis.frame.privacy import ensure_salt, mask_customers
    from analysis.report import sections
    from analysis.report.managers import managers_section

    study, book = small_assignment_study(tmp_path)
    managers_stage.run(study)
    table = study.read(catalog.ASSIGNMENT)
    moved = table[table["reason"].str.startswith("moved")].sort_values("value", ascending=False)
    codes = mask_customers(moved.head(30), ensure_salt(study.processed_dir))["customer_id"].tolist()
    for language, words in (("zh", ["交接名单", "增聘", "降低联系频次", "维持现状"]),
                            ("en", ["Handover list", "Hire", "Lower the cadence", "Leave as is"])):
        section = managers_section(study, language, sections.RunOutputs(study, language))
        html = "".join(section.blocks)
        assert all(w in html for w in words), language
        assert all(code in html for code in codes)  # the watch list's codes, same salt
        assert not any(cid in html for cid in book["customer_id"]) and "客户1" not in html
        assert ">S1<" not in html and ">KM-01<" in html  # codes by default, not the managers' ids


def test_on_the_sample_the_recommended_plan_resolves_the_senior_overload(sample_report, out_root):
    """The sample's seniors have about two thirds of the hours the tier-1 cadence needs (the stage-5
    check says about 150 %); the assignment respects every manager's hours and the recommended plan
    serves everyone with no senior over hours. The handover list is masked in both report pages."""
    from analysis.frame.privacy import ensure_salt, mask_customers

    processed = out_root / "data/processed/sample"
    record = json.loads((processed / "managers.json").read_text(encoding="utf-8"))
    plan, summary = record["capacity_plan"], record["assignment"]
    senior = next(row for row in plan["levels"] if row["level"] == "senior")
    assert 1.25 < senior["utilisation"] < 1.8 and summary["unassigned_no_capacity"] > 0
    assert plan["binding"] and plan["recommended"] is not None
    chosen = plan["options"][plan["recommended"]]
    assert chosen["fits"] and chosen["unassigned"] == 0 and chosen["option"] != "as_is"
    assert senior["utilisation_after"] <= 1.0
    loads = pd.read_parquet(processed / "manager_loads.parquet")
    assert (loads["hours_after"] <= loads["hours_available"] + 1e-6).all()
    assert (loads.loc[loads["level"] == "senior", "utilisation_before"] > 1).any()
    table = pd.read_parquet(processed / "assignment.parquet")
    customers = pd.read_parquet(processed / "customers.parquet")
    assert len(table) == customers["tier"].notna().sum() and table["customer_id"].is_unique
    moved = table[table["reason"].str.startswith("moved")].sort_values(["value", "customer_id"], ascending=[False, True])
    assert len(moved) == summary["moved"] > 0
    shown = moved.head(30)
    codes = mask_customers(shown, ensure_salt(processed))["customer_id"].tolist()
    for page in ("index.html", "index.en.html"):
        html = (sample_report.parent / page).read_text(encoding="utf-8")
        assert all(code in html for code in codes), page
        assert not any(f">{cid}<" in html for cid in shown["customer_id"]), page


def test_no_spread_between_managers_keeps_each_managers_sampling_error():
    # every manager's difference is the same: tau = 0, all shrunk to the mean, but not to a point
    rng = np.random.default_rng(3)
    group = pd.Series(np.repeat(["a", "b", "c"], 40))
    expected = pd.Series(np.zeros(120))
    y = pd.Series(rng.normal(0, 1, 120))
    y = y - y.groupby(group).transform("mean")  # equal group means
    shrunk = mg.adjusted_difference(y, expected, group, 0.95)
    assert shrunk.tau == 0
    table = shrunk.table
    assert (table["high"] - table["low"] > 0.3).all()  # about 2 × 1.96 × 1/sqrt(40)
    assert table["estimate"].nunique() == 1


def test_growth_compares_the_book_a_manager_holds_now_with_the_same_customers_last_quarter():
    # N1's whole book was handed over from N2 since last quarter, and every CLV rose by 10 %:
    # every manager grew 10 %, not N1 by the whole book and N2 by -100 %
    book, effects = confounded_book(n=60)
    previous = book.assign(clv=book["clv"] / 1.1,
                           manager_id=book["manager_id"].replace({"N1": "N2"}))
    card = mg.scorecard(book, staff_of(effects), {1: 1.5, 2: 0.5, 3: 0.0}, previous=previous).set_index("manager_id")
    assert card["growth"].to_numpy() == pytest.approx(0.1)


@pytest.mark.parametrize("raw, adjusted, expected", [
    ([1, 2, 3, 4], [2, 1, 3, 4], 0.8),
    ([1, 1, 1, 1], [1, 2, 3, 4], None),  # every manager tied on the raw ranking: no correlation is defined
    ([1, 2, 3, 4], [1, 1, 1, 1], None),
    ([1, 2], [2, 1], None),  # too few managers
])
def test_the_rank_correlation_is_left_out_where_it_is_not_defined(raw, adjusted, expected):
    scored = pd.DataFrame({"raw_rank": pd.array(raw, dtype="Int64"), "adjusted_rank": pd.array(adjusted, dtype="Int64")})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the undefined case is not computed (scipy would warn of a constant input)
        found = managers_stage._rank_correlation(scored)
    assert found == (None if expected is None else pytest.approx(expected))
