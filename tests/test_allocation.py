"""Budget and account-manager-hour allocation across tiers."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis.i18n import render
from analysis.methods.allocation import (
    AllocationError,
    ResponseCurve,
    allocate_manager_hours,
    allocation_table,
    capacity_check,
    equal_split,
    evaluate,
    hours_needed,
    optimise_budget,
    response_curves_from_params,
    revenue_proportional_split,
    slsqp_budget,
    water_fill,
)
from analysis.methods.playbook import default_playbook, merge_playbook
from tests.examples import examples

BUDGET = 1_000_000.0
HOURS = {"senior": 480.0, "middle": 960.0, "junior": 1600.0}


def realistic_profile() -> pd.DataFrame:
    """4 tiers: few high-value loyal customers, many low-value ones at risk (rows deliberately unsorted)."""
    return pd.DataFrame(
        {
            "tier": [3, 1, 4, 2],
            "tier_name": ["一般客户", "高价值客户", "低价值客户", "潜力客户"],
            "customers": [8_000, 500, 20_000, 2_000],
            "revenue": [15e6, 30e6, 8e6, 20e6],
            "clv": [20e6, 40e6, 5e6, 30e6],
            "p_alive": [0.55, 0.92, 0.30, 0.75],
        }
    )


def uneven_profile() -> pd.DataFrame:
    """Revenue says tier 1 matters most, but most of the future value (and of the risk) sits in tier 3."""
    return pd.DataFrame(
        {
            "tier": [1, 2, 3, 4],
            "customers": [300, 3_000, 6_000, 30_000],
            "revenue": [50e6, 10e6, 8e6, 2e6],
            "clv": [8e6, 12e6, 60e6, 1e6],
            "p_alive": [0.95, 0.8, 0.35, 0.2],
        }
    )


def total(profile, spend, curve=None) -> float:
    return evaluate(profile, spend, curve).total_value


# -- the budget optimum ----------------------------------------------------------------------------


def test_optimum_beats_naive_splits_on_realistic_profile():
    profile = realistic_profile()
    best = optimise_budget(profile, BUDGET)
    assert best.total_value >= total(profile, equal_split(profile, BUDGET))
    assert best.total_value >= total(profile, revenue_proportional_split(profile, BUDGET))


def test_optimum_beats_naive_splits_strictly_on_uneven_profile():
    profile = uneven_profile()
    best = optimise_budget(profile, BUDGET).total_value
    assert best > 1.05 * total(profile, equal_split(profile, BUDGET))
    assert best > 1.05 * total(profile, revenue_proportional_split(profile, BUDGET))


def test_budget_is_spent_exactly_and_never_negative():
    result = optimise_budget(uneven_profile(), BUDGET)
    assert result.spend.sum() == pytest.approx(BUDGET, abs=1e-6 * BUDGET)
    assert (result.spend >= 0).all()
    assert result.table["share"].sum() == pytest.approx(1.0)
    assert result.total_value == pytest.approx(result.table["retained_value"].sum())


def test_marginal_values_are_equal_at_an_interior_optimum():
    result = optimise_budget(realistic_profile(), BUDGET)
    assert (result.table["bound"] == "").all()
    assert (result.spend > 0).all(), "the realistic case should be interior"
    assert result.marginal_value.to_numpy() == pytest.approx(
        np.full(4, result.shadow_price), rel=1e-9
    )
    # the shadow price is what one more unit of budget keeps
    step = 1.0
    richer = optimise_budget(realistic_profile(), BUDGET + step, verify=False)
    assert (richer.total_value - result.total_value) / step == pytest.approx(
        result.shadow_price, rel=1e-4
    )


def test_corner_optimum_satisfies_kkt():
    # on the uneven profile the loyal tiers 1 and 2 are worth less per unit than tier 3 even at zero spend
    result = optimise_budget(uneven_profile(), BUDGET)
    table = result.table.set_index("tier")
    assert table["bound"].tolist() == ["zero", "zero", "", ""]
    assert (table.loc[[1, 2], "spend"] == 0).all()
    assert (table.loc[[1, 2], "marginal_value"] <= result.shadow_price).all()
    assert table.loc[[3, 4], "marginal_value"].tolist() == pytest.approx([result.shadow_price] * 2)


def test_share_bounds_are_respected_and_satisfy_kkt():
    profile = realistic_profile()
    result = optimise_budget(profile, BUDGET, min_share={1: 0.2}, max_share=0.35)
    spend, marginal = result.spend, result.marginal_value
    assert spend.sum() == pytest.approx(BUDGET, abs=1e-6 * BUDGET)
    assert spend[1] == pytest.approx(0.2 * BUDGET)
    assert (spend <= 0.35 * BUDGET * (1 + 1e-12)).all()
    bound = result.table.set_index("tier")["bound"]
    assert bound[1] == "min" and "max" in set(bound)
    lam = result.shadow_price
    interior = bound[bound == ""].index
    assert marginal[interior].to_numpy() == pytest.approx(np.full(len(interior), lam), rel=1e-9)
    assert (marginal[bound == "min"] <= lam * (1 + 1e-9)).all()
    assert (marginal[bound == "max"] >= lam * (1 - 1e-9)).all()
    # forcing the bounds costs value
    assert result.total_value < optimise_budget(profile, BUDGET).total_value


@pytest.mark.parametrize(
    ("profile", "kwargs"),
    [
        (realistic_profile(), {}),
        (uneven_profile(), {}),
        (uneven_profile(), {"min_share": 0.1, "max_share": {3: 0.5}}),
        (realistic_profile(), {"curve": ResponseCurve(k=300.0, tiers={4: {"u_max": 0.05}})}),
    ],
)
def test_kkt_solution_equals_slsqp(profile, kwargs):
    curve = kwargs.pop("curve", None)
    kkt = optimise_budget(profile, BUDGET, curve, **kwargs)
    slsqp = slsqp_budget(profile, BUDGET, curve, **kwargs)
    assert kkt.total_value == pytest.approx(slsqp.total_value, rel=1e-8)
    assert kkt.spend.to_numpy() == pytest.approx(slsqp.spend.to_numpy(), abs=1e-3 * BUDGET)
    assert kkt.slsqp_value == pytest.approx(slsqp.total_value, rel=1e-8)
    assert kkt.total_value >= slsqp.total_value * (1 - 1e-12)


def test_no_random_feasible_split_beats_the_optimum():
    profile = uneven_profile()
    best = optimise_budget(profile, BUDGET, verify=False)
    # the response curve written out independently of the library: CLV·u_max·(1 − exp(−s / (k·n)))
    u_max = 0.10 + 0.15 * (1 - profile["p_alive"].to_numpy())
    k = 0.05 * profile["clv"].to_numpy() / profile["customers"].to_numpy()
    spends = np.random.default_rng(7).dirichlet(np.ones(4), size=5_000) * BUDGET
    values = (
        profile["clv"].to_numpy()
        * u_max
        * (1 - np.exp(-spends / (k * profile["customers"].to_numpy())))
    ).sum(1)
    assert values.max() <= best.total_value * (1 + 1e-12)
    assert best.total_value == pytest.approx(
        (
            profile["clv"]
            * u_max
            * (1 - np.exp(-best.spend.to_numpy() / (k * profile["customers"])))
        ).sum(),
        rel=1e-12,
    )


def test_result_does_not_depend_on_row_order():
    profile = realistic_profile()
    shuffled = profile.sample(frac=1.0, random_state=3)
    a, b = optimise_budget(profile, BUDGET), optimise_budget(shuffled, BUDGET)
    pd.testing.assert_frame_equal(a.table, b.table)
    assert a.table["tier"].tolist() == [1, 2, 3, 4]


def test_accepts_the_tier_profile_layout_of_the_profiles_module():
    # tier as the index, mean p_alive as p_alive_mean, an empty tier with NaN means
    profile = realistic_profile().rename(columns={"p_alive": "p_alive_mean"}).set_index("tier")
    empty = pd.DataFrame(
        {
            "tier_name": [pd.NA],
            "customers": [0],
            "revenue": [0.0],
            "clv": [0.0],
            "p_alive_mean": [np.nan],
        },
        index=pd.Index([5], name="tier"),
    )
    profile = pd.concat([profile, empty])
    result = optimise_budget(profile, BUDGET)
    assert result.table["tier"].tolist() == [1, 2, 3, 4, 5]
    assert result.spend[5] == 0
    assert result.spend[[1, 2, 3, 4]].to_numpy() == pytest.approx(
        optimise_budget(realistic_profile(), BUDGET).spend.to_numpy(), rel=1e-9
    )
    params = ResponseCurve(unknown_risk=0.4).tier_parameters(
        profile, pd.Series(1.0, index=range(1, 6))
    )
    assert params.loc[5, "u_max"] == pytest.approx(0.10 + 0.15 * 0.4)


def test_tiers_without_value_get_their_minimum_only():
    profile = realistic_profile()
    profile.loc[profile["tier"] == 4, "clv"] = 0.0
    result = optimise_budget(profile, BUDGET)
    assert result.spend[4] == 0 and result.marginal_value[4] == 0
    floored = optimise_budget(profile, BUDGET, min_share={4: 0.1})
    assert floored.spend[4] == pytest.approx(0.1 * BUDGET)


def test_zero_budget_spends_nothing():
    result = optimise_budget(realistic_profile(), 0.0)
    assert (result.spend == 0).all() and result.total_value == 0


def test_water_fill_fills_value_less_items_when_the_others_are_full():
    spend, log_lambda = water_fill(
        np.array([1.0, 0.0]), np.array([1.0, 0.0]), np.zeros(2), np.array([2.0, 10.0]), 5.0
    )
    assert spend.tolist() == pytest.approx([2.0, 3.0]) and log_lambda is None


def test_u_max_grows_with_value_at_risk():
    profile = realistic_profile()
    params = ResponseCurve().tier_parameters(profile, pd.Series(1.0, index=[1, 2, 3, 4]))
    assert params["u_max"].tolist() == pytest.approx(
        [0.10 + 0.15 * (1 - p) for p in [0.92, 0.75, 0.55, 0.30]]
    )
    blind = ResponseCurve(unknown_risk=0.4).tier_parameters(
        profile.drop(columns="p_alive"), pd.Series(1.0, index=[1, 2, 3, 4])
    )
    assert blind["u_max"].tolist() == pytest.approx([0.16] * 4)
    assert params["b"].tolist() == pytest.approx(params["k"] * params["customers"])


def test_per_tier_curve_overrides():
    curve = ResponseCurve(k_share=0.05, tiers={2: {"u_max": 0.3, "k": 50.0}, 3: {"k_share": 0.2}})
    profile = realistic_profile()
    reference = pd.Series([80_000.0, 15_000.0, 2_500.0, 250.0], index=[1, 2, 3, 4])
    params = curve.tier_parameters(profile, reference)
    assert params.loc[2, "u_max"] == 0.3 and params.loc[2, "k"] == 50.0
    assert params.loc[3, "k"] == pytest.approx(0.2 * 2_500) and params.loc[1, "k"] == pytest.approx(
        0.05 * 80_000
    )


# -- hypothesis: any positive profile --------------------------------------------------------------

positive = st.floats(min_value=1.0, max_value=1e9, allow_nan=False, allow_infinity=False)


@st.composite
def problems(draw):
    n = draw(st.integers(min_value=3, max_value=5))
    profile = pd.DataFrame(
        {
            "tier": list(range(1, n + 1)),
            "customers": draw(
                st.lists(st.integers(min_value=1, max_value=1_000_000), min_size=n, max_size=n)
            ),
            "clv": draw(st.lists(positive, min_size=n, max_size=n)),
            "revenue": draw(st.lists(positive, min_size=n, max_size=n)),
            "p_alive": draw(
                st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=n, max_size=n)
            ),
        }
    )
    curve = ResponseCurve(
        u_max_base=draw(st.floats(min_value=0.01, max_value=0.5)),
        u_max_risk=draw(st.floats(min_value=0.0, max_value=0.4)),
        k_share=draw(st.floats(min_value=1e-3, max_value=2.0)),
        k=draw(st.one_of(st.none(), st.floats(min_value=1e-2, max_value=1e5))),
    )
    return profile, draw(positive), curve


SETTINGS = settings(
    max_examples=examples(150),
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@SETTINGS
@given(problems())
def test_property_allocation_is_feasible_and_beats_naive_splits(problem):
    profile, budget, curve = problem
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # SLSQP must never beat the exact solution
        best = optimise_budget(profile, budget, curve)
    assert best.spend.sum() == pytest.approx(budget, abs=1e-6 * budget)
    assert (best.spend >= 0).all()
    tol = 1e-9 * max(1.0, best.total_value)
    assert best.total_value >= total(profile, equal_split(profile, budget), curve) - tol
    assert (
        best.total_value >= total(profile, revenue_proportional_split(profile, budget), curve) - tol
    )


@settings(SETTINGS, max_examples=examples(60))
@given(problems(), st.data())
def test_property_share_bounds_hold_and_slsqp_never_does_better(problem, data):
    profile, budget, curve = problem
    n = len(profile)
    min_share = data.draw(st.floats(min_value=0.0, max_value=1.0 / n))
    max_share = data.draw(st.floats(min_value=1.0 / n, max_value=1.0))
    best = optimise_budget(profile, budget, curve, min_share=min_share, max_share=max_share)
    spend = best.spend
    assert spend.sum() == pytest.approx(budget, abs=1e-6 * budget)
    assert (spend >= min_share * budget * (1 - 1e-12)).all()
    assert (spend <= max_share * budget * (1 + 1e-12)).all()
    assert best.total_value >= best.slsqp_value - 1e-9 * max(1.0, best.total_value)


# -- errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"min_share": 0.3}, r"min_share adds up to 1.2 > 1"),
        ({"max_share": 0.2}, r"max_share adds up to 0.8 < 1"),
        (
            {"min_share": {1: 0.5}, "max_share": {1: 0.4}},
            r"min_share exceeds max_share for tier\(s\) \[1\]",
        ),
        ({"min_share": {9: 0.1}}, r"min_share names tier\(s\) \[9\]"),
        ({"max_share": {2: 1.5}}, r"max_share for tier 2 must be a number in \[0, 1\]"),
    ],
)
def test_bad_share_bounds(kwargs, pattern):
    with pytest.raises(AllocationError, match=pattern):
        optimise_budget(realistic_profile(), BUDGET, **kwargs)


def test_bad_profiles_and_budgets():
    with pytest.raises(AllocationError, match=r"lacks column\(s\) \['clv'\]"):
        optimise_budget(realistic_profile().drop(columns="clv"), BUDGET)
    bad = realistic_profile()
    bad.loc[bad["tier"] == 2, "clv"] = -5.0
    with pytest.raises(
        AllocationError, match=r"'clv' must be a finite number ≥ 0; tier\(s\) \[2\]"
    ):
        optimise_budget(bad, BUDGET)
    dupes = pd.concat([realistic_profile(), realistic_profile().head(1)])
    with pytest.raises(AllocationError, match="must hold each tier once"):
        optimise_budget(dupes, BUDGET)
    with pytest.raises(AllocationError, match="budget must be a finite number ≥ 0"):
        optimise_budget(realistic_profile(), -1.0)
    with pytest.raises(AllocationError, match=r"missing tier\(s\) \[4\]"):
        evaluate(realistic_profile(), {1: 1.0, 2: 1.0, 3: 1.0})
    with pytest.raises(
        AllocationError, match=r"'revenue' must be a finite number; tier\(s\) \[1\]"
    ):
        revenue_proportional_split(
            realistic_profile().assign(revenue=[1.0, np.nan, 1.0, 1.0]), BUDGET
        )
    with pytest.raises(AllocationError, match=r"'p_alive' must lie in \[0, 1\]"):
        optimise_budget(realistic_profile().assign(p_alive=1.5), BUDGET)
    with pytest.raises(AllocationError, match=r"'revenue' sums to 0"):
        revenue_proportional_split(realistic_profile().assign(revenue=0.0), BUDGET)


def test_bad_curves():
    with pytest.raises(AllocationError, match="u_max_base \\+ u_max_risk = 1.1 exceeds 1"):
        ResponseCurve(u_max_base=0.6, u_max_risk=0.5)
    with pytest.raises(AllocationError, match="unknown key 'tiers.1.umax'"):
        ResponseCurve(tiers={1: {"umax": 0.2}})
    with pytest.raises(AllocationError, match="k_share must be > 0"):
        ResponseCurve(k_share=0.0)
    with pytest.raises(AllocationError, match=r"per-tier overrides for tier\(s\) \[6\]"):
        optimise_budget(realistic_profile(), BUDGET, ResponseCurve(tiers={6: {"u_max": 0.2}}))


def test_curves_from_params():
    budget_curve, hours_curve = response_curves_from_params(
        {"u_max_base": 0.12, "tiers": {"1": {"u_max": 0.2, "k": 500}}, "hours": {"k_share": 0.8}}
    )
    assert budget_curve.u_max_base == 0.12 and budget_curve.tiers == {1: {"u_max": 0.2, "k": 500}}
    assert hours_curve.u_max_base == 0.12 and hours_curve.k_share == 0.8
    assert hours_curve.tiers == {1: {"u_max": 0.2}}, "hours inherit u_max, not the money scale k"
    assert response_curves_from_params(None)[1].k_share == 0.5
    with pytest.raises(
        AllocationError, match=r"unknown key\(s\) \['kshare'\] in allocation.response"
    ):
        response_curves_from_params({"kshare": 0.1})
    with pytest.raises(
        AllocationError, match=r"allocation.response.hours: response curve: k must be > 0"
    ):
        response_curves_from_params({"hours": {"k": -1}})


# -- manager hours ---------------------------------------------------------------------------------


def hand_profile() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "tier": [1, 2, 3],
            "customers": [10, 100, 1000],
            "clv": [1e6, 5e5, 1e5],
            "p_alive": [0.9, 0.7, 0.4],
        }
    )


def test_capacity_check_flags_the_binding_level():
    # 3-tier defaults: tier 1 senior 2 × 45 min, tier 2 middle 1 × 20 min, tier 3 self-service
    playbook = default_playbook(3)
    need = hours_needed(hand_profile(), playbook)
    assert need.tolist() == pytest.approx([10 * 2 * 45 / 60, 100 * 20 / 60, 0.0])
    table = capacity_check(
        hand_profile(), playbook, {"senior": 10.0, "middle": 100.0, "junior": 50.0}
    )
    by_level = table.set_index("level")
    assert by_level.loc["senior", "hours_needed"] == pytest.approx(15.0)
    assert by_level.loc["senior", "utilisation"] == pytest.approx(1.5)
    assert by_level.loc["middle", "utilisation"] == pytest.approx(100 / 3 / 100)
    assert by_level["binding"].to_dict() == {"senior": True, "middle": False, "junior": False}
    assert by_level.loc["junior", "tiers"] == ""


def test_allocate_hours_caps_at_need_and_reports_binding_levels():
    playbook = default_playbook(3)
    hours = allocate_manager_hours(hand_profile(), playbook, {"senior": 10.0, "middle": 100.0})
    tiers = hours.by_tier.set_index("tier")
    assert tiers["hours_allocated"].tolist() == pytest.approx([10.0, 100 / 3, 0.0])
    assert tiers["coverage"].tolist() == pytest.approx([10 / 15, 1.0, 1.0])
    notes = hours.by_level.set_index("level")["note"]
    names = {1: "Gold"}
    assert render(notes["senior"], "en", names) == (
        "senior account managers: 15 hours/month needed, 10 available (150% utilisation); capacity binds, "
        "5 hours short; hours go first where they keep the most value: Gold (tier 1) 67% covered."
    )
    assert render(notes["senior"], "zh", {1: "金卡"}) == (
        "资深客户经理：需要 15 小时/月，可用 10 小时/月（利用率 150%），产能受限，缺口 5 小时；"
        "工时已按挽留价值优先分配：金卡（第1层）覆盖 67%。"
    )
    assert render(notes["middle"], "en") == (
        "mid-level account managers: 33 hours/month needed, 100 available (33% utilisation); "
        "capacity is sufficient and every tier gets its playbook hours."
    )
    assert render(notes["middle"], "zh") == (
        "中级客户经理：需要 33 小时/月，可用 100 小时/月（利用率 33%），产能充足，各层按服务方案足额安排。"
    )


def test_capacity_notes_of_an_unused_level_and_of_a_level_without_hours():
    playbook = merge_playbook(default_playbook(3), {2: {"manager_level": "junior"}})
    hours = allocate_manager_hours(hand_profile(), playbook, {"senior": 100.0, "middle": 50.0, "junior": 0.0})
    notes = hours.by_level.set_index("level")["note"]
    assert render(notes["middle"], "zh") == "中级客户经理：本方案未安排该级别工时（可用 50 小时/月）。"
    assert render(notes["middle"], "en") == (
        "mid-level account managers: the playbook assigns them no tier (50 hours/month available)."
    )
    assert render(notes["junior"], "en", {2: "Silver"}) == (
        "junior account managers: 33 hours/month needed, 0 available (∞ utilisation); capacity binds, "
        "33 hours short; hours go first where they keep the most value: Silver (tier 2) 0% covered."
    )


def test_allocate_hours_equalises_marginal_value_within_a_level():
    # 5 tiers: tiers 1 and 2 share the senior managers, who are short of time
    profile = pd.DataFrame(
        {
            "tier": [1, 2, 3, 4, 5],
            "customers": [40, 200, 1_000, 5_000, 20_000],
            "clv": [8e6, 12e6, 10e6, 6e6, 2e6],
            "p_alive": [0.9, 0.8, 0.6, 0.5, 0.3],
        }
    )
    playbook = default_playbook(5)
    need = hours_needed(profile, playbook)
    senior = need[[1, 2]].sum()
    result = allocate_manager_hours(
        profile, playbook, {"senior": senior / 2, "middle": 1e6, "junior": 1e6}
    )
    tiers = result.by_tier.set_index("tier")
    assert tiers.loc[[1, 2], "hours_allocated"].sum() == pytest.approx(senior / 2)
    assert (tiers["hours_allocated"] <= need * (1 + 1e-12)).all()
    senior_tiers = tiers.loc[[1, 2]]
    assert ((senior_tiers["coverage"] > 0) & (senior_tiers["coverage"] < 1)).all(), (
        "both tiers are interior here"
    )
    assert senior_tiers["marginal_value_per_hour"].iloc[0] == pytest.approx(
        senior_tiers["marginal_value_per_hour"].iloc[1], rel=1e-9
    )
    # better value per hour than the same hours split in proportion to need
    by_need = np.full(2, 0.5) * need[[1, 2]].to_numpy()
    params = ResponseCurve(k_share=0.5).tier_parameters(
        profile, need / profile.set_index("tier")["customers"]
    )
    a, b = params.loc[[1, 2], "a"].to_numpy(), params.loc[[1, 2], "b"].to_numpy()

    def value(h):
        return float(np.sum(a * (1 - np.exp(-h / b))))

    assert value(senior_tiers["hours_allocated"].to_numpy()) > value(by_need)
    assert tiers.loc[[3, 4], "coverage"].tolist() == [1.0, 1.0]


def test_hours_available_errors():
    playbook = default_playbook(3)
    with pytest.raises(AllocationError, match=r"no 'middle' entry but tier\(s\) \[2\]"):
        capacity_check(hand_profile(), playbook, {"senior": 10.0})
    with pytest.raises(AllocationError, match="unknown manager level 'seniors'"):
        capacity_check(hand_profile(), playbook, {"seniors": 10.0, "middle": 1.0})
    with pytest.raises(AllocationError, match="hours_available.senior must be a finite number"):
        capacity_check(hand_profile(), playbook, {"senior": -1, "middle": 1.0})
    with pytest.raises(AllocationError, match=r"playbook covers tiers \[1, 2, 3, 4\]"):
        hours_needed(hand_profile(), default_playbook(4))


# -- the allocation table --------------------------------------------------------------------------


def test_allocation_table():
    profile = realistic_profile()
    playbook = merge_playbook(default_playbook(4), {2: {"contacts_per_month": 2}})
    table = allocation_table(profile, BUDGET, playbook, HOURS)
    assert table["tier"].tolist() == [1, 2, 3, 4]
    assert table["tier_name"].tolist() == ["高价值客户", "潜力客户", "一般客户", "低价值客户"]
    assert table["budget"].sum() == pytest.approx(BUDGET, abs=1e-6 * BUDGET)
    assert table["budget_equal"].tolist() == pytest.approx([BUDGET / 4] * 4)
    assert table["budget_revenue"].sum() == pytest.approx(BUDGET)
    assert table["value_optimal"].sum() >= max(
        table["value_equal"].sum(), table["value_revenue"].sum()
    )
    assert table["budget_per_customer"].tolist() == pytest.approx(
        (table["budget"] / table["customers"]).tolist()
    )
    assert table["contacts_per_month"].tolist() == [2.0, 2.0, 0.5, 1.0]
    assert table["hours_needed"].tolist() == pytest.approx([750.0, 2000.0, 1000.0, 0.0])
    assert table["capacity_binding"].tolist() == [True, True, False, False]
    assert (table["hours_allocated"] <= table["hours_needed"] + 1e-9).all()
    assert table["manager_level"].tolist() == ["senior", "middle", "junior", "none"]
    assert [render(v, "en") for v in table["cadence"]] == [
        "2 times a month", "2 times a month", "once every 2 months", "once a month"
    ]
    for column in ("service_model", "channels", "offers"):
        assert all(render(v, "zh") and render(v, "en") for v in table[column])
    assert not any(isinstance(v, float) and math.isnan(v) for v in table["budget_revenue"])


def test_allocation_table_names_its_tiers_at_display_when_the_profile_has_no_names():
    table = allocation_table(uneven_profile(), BUDGET, default_playbook(4), HOURS)
    assert table["tier_name"].isna().all(), "localize fills the names from the run's tiering"
