"""The assignment of customers to account managers: optimal against brute force on small instances,
rules never broken, no needless handovers, the switching cost, the capacity plan."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis.i18n import TEXTS, render
from analysis.methods.assignment import (
    LEVELS,
    AssignmentError,
    AssignmentRules,
    capacity_plan,
    evaluate_assignment,
    rules_from_playbook,
    solve_assignment,
)
from analysis.methods.playbook import default_playbook
from tests.examples import examples

RANK = {level: i for i, level in enumerate(LEVELS)}


def make_rules(**options) -> AssignmentRules:
    base = dict(
        required_level={1: "senior", 2: "middle", 3: "junior", 4: "none"},
        hours_per_customer={1: 1.5, 2: 0.5, 3: 0.25},
        u_max={1: 0.2, 2: 0.15, 3: 0.12},
        k_hours={1: 0.75, 2: 0.25, 3: 0.125},
        mip_gap=0.0,
    )
    base.update(options)
    return AssignmentRules(**base)


def random_instance(seed: int, n_customers: int = 6, n_managers: int = 3):
    rng = np.random.default_rng(seed)
    managers = pd.DataFrame({
        "manager_id": [f"m{i}" for i in range(n_managers)],
        "level": rng.choice(LEVELS, n_managers),
        "region": rng.choice(["N", "S"], n_managers),
        "hours": rng.uniform(0.3, 2.5, n_managers).round(2),
        "max_accounts": rng.choice([1.0, 2.0, 3.0, np.nan], n_managers),
    })
    customers = pd.DataFrame({
        "customer_id": [f"c{i}" for i in range(n_customers)],
        "tier": rng.integers(1, 5, n_customers),
        "region": rng.choice(["N", "S"], n_customers),
        "current_manager": rng.choice([*managers["manager_id"], None], n_customers),
        "value": rng.gamma(2.0, 200.0, n_customers).round(1),
    })
    return customers, managers


def brute_force(customers, managers, rules) -> float:
    """The best objective over every assignment (each customer: no manager or any manager), written
    out apart from the module: per-customer net gains, rules as -inf, capacities checked per combination."""
    ids = list(managers["manager_id"])
    n, k = len(customers), len(ids) + 1
    net = np.full((n, k), -np.inf)
    net[:, 0] = 0.0
    hours = np.zeros(n)
    for i, row in enumerate(customers.itertuples()):
        t = int(row.tier)
        if rules.required_level.get(t, "none") == "none":
            continue
        hours[i] = rules.hours_per_customer[t]
        for j, m in enumerate(managers.itertuples(), start=1):
            levels = rules.stay_levels(t) if m.manager_id == row.current_manager else rules.allowed_levels(t)
            if m.level not in levels or (rules.region == "hard" and m.region != row.region):
                continue
            net[i, j] = independent_objective(customers.iloc[[i]], managers, rules, [m.manager_id])
    combos = np.array(list(itertools.product(range(k), repeat=n)))
    value = net[np.arange(n), combos].sum(axis=1)
    for j, m in enumerate(managers.itertuples(), start=1):
        on = combos == j
        value[(on * hours).sum(axis=1) > m.hours + 1e-12] = -np.inf
        if pd.notna(m.max_accounts):
            value[on.sum(axis=1) > m.max_accounts] = -np.inf
    return float(value.max())


def independent_objective(customers, managers, rules, manager_of) -> float:
    """The objective written out customer by customer, apart from the module's own evaluation."""
    level = dict(zip(managers["manager_id"], managers["level"]))
    region = dict(zip(managers["manager_id"], managers["region"]))
    total = 0.0
    for row, m in zip(customers.itertuples(), manager_of):
        if m is None or pd.isna(m):
            continue
        t = int(row.tier)
        uplift = rules.u_max[t] * (1 - math.exp(-rules.hours_per_customer[t] / rules.k_hours[t]))
        ratio = rules.level_factor[level[m]] / rules.level_factor[rules.required_level[t]]
        total += row.value * uplift * ratio
        if region[m] != row.region:
            total -= rules.region_cost
        if pd.notna(row.current_manager) and row.current_manager != m:
            total -= rules.switching_cost
    return total


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("region", ["hard", "preference"])
def test_optimal_against_brute_force(seed, region):
    customers, managers = random_instance(seed)
    rules = make_rules(region=region, region_cost=15.0, switching_cost=8.0, value_bands=None)
    result = solve_assignment(customers, managers, rules)
    best = brute_force(customers, managers, rules)
    got = result.summary["objective"]
    assert got == pytest.approx(best, rel=1e-9, abs=1e-9)
    recommended = result.assignments["recommended_manager"].tolist()
    assert independent_objective(customers, managers, rules, recommended) == pytest.approx(got, rel=1e-9)
    assert result.summary["upper_bound"] >= best - 1e-6


@pytest.mark.parametrize("seed", range(8, 14))
def test_value_bands_are_certified_by_the_bound(seed):
    """With coarse bands the objective may fall short of the optimum, never above it, and the
    Lagrangian bound holds above the optimum."""
    customers, managers = random_instance(seed, n_customers=7)
    rules = make_rules(region="preference", region_cost=10.0, switching_cost=5.0, value_bands=1,
                       max_refinements=0)
    result = solve_assignment(customers, managers, rules)
    best = brute_force(customers, managers, rules)
    assert result.summary["objective"] <= best + 1e-6
    assert result.summary["upper_bound"] >= best - 1e-6


@pytest.mark.parametrize("seed", range(14, 20))
def test_default_bands_reach_the_optimum(seed):
    """With the default 16 bands, splitting a band where the solution's fill falls inside it makes the
    envelope exact there: the objective is the brute-force optimum and the bound proves it."""
    customers, managers = random_instance(seed, n_customers=7)
    rules = make_rules(region="preference", region_cost=10.0, switching_cost=5.0, value_bands=1)
    result = solve_assignment(customers, managers, rules)
    best = brute_force(customers, managers, rules)
    assert result.summary["objective"] == pytest.approx(best, rel=1e-9, abs=1e-9)
    assert result.summary["upper_bound"] == pytest.approx(best, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_bands_and_exact_values_give_the_same_optimum_on_a_larger_instance(seed):
    """600 customers, 12 managers with tight hours: 4 bands per group refined at the fills reach the same
    objective as one band per distinct value, and both prove it (MILP gap 0)."""
    customers, managers = random_instance(seed, n_customers=600, n_managers=12)
    managers["hours"] = managers["hours"] * 20
    exact = solve_assignment(customers, managers, make_rules(value_bands=None))
    banded = solve_assignment(customers, managers, make_rules(value_bands=4, max_refinements=10))
    assert exact.summary["unassigned"] > 0  # capacity binds
    assert banded.summary["objective"] == pytest.approx(exact.summary["objective"], rel=1e-9)
    for s in (exact.summary, banded.summary):
        assert s["relative_gap"] <= 1e-9
        assert s["upper_bound"] <= s["value_relaxed"] * (1 + 1e-12)  # never above the LP optimum


@pytest.mark.parametrize("seed", range(20, 28))
def test_keeping_a_more_senior_manager_is_optimal_against_brute_force(seed):
    customers, managers = random_instance(seed, n_customers=6, n_managers=3)
    rules = make_rules(region="preference", region_cost=15.0, switching_cost=8.0, keep_higher_level=True)
    result = solve_assignment(customers, managers, rules)
    assert result.summary["objective"] == pytest.approx(brute_force(customers, managers, rules), rel=1e-9, abs=1e-9)


def test_a_customer_stays_with_a_more_senior_manager_only_when_keeping_is_allowed():
    """A tier-3 customer of a senior manager with room: kept under keep_higher_level (at the senior's
    larger factor), moved to the junior otherwise; a new tier-3 customer never goes to the senior."""
    managers = pd.DataFrame({"manager_id": ["s", "j"], "level": ["senior", "junior"], "region": ["N", "N"],
                             "hours": [5.0, 5.0], "max_accounts": [np.nan, np.nan]})
    customers = pd.DataFrame({"customer_id": ["old", "new"], "tier": [3, 3], "region": "N",
                              "current_manager": ["s", None], "value": [500.0, 800.0]})
    kept = solve_assignment(customers, managers, make_rules(keep_higher_level=True)).assignments
    assert kept.set_index("customer_id")["recommended_manager"].to_dict() == {"old": "s", "new": "j"}
    assert kept.set_index("customer_id").loc["old", "reason"] == "kept"
    moved = solve_assignment(customers, managers, make_rules(keep_higher_level=False)).assignments
    assert moved.set_index("customer_id")["recommended_manager"].to_dict() == {"old": "j", "new": "j"}
    assert moved.set_index("customer_id").loc["old", "reason"] == "moved_level"


def test_aggregation_is_exact_for_equal_values_within_a_group():
    """Many identical customers collapse to one band per group, and the greedy split by value among
    the group's levels is optimal: a group of 2 distinct values × 4 customers against brute force."""
    managers = pd.DataFrame({"manager_id": ["s", "m"], "level": ["senior", "middle"], "region": ["N", "N"],
                             "hours": [1.0, 1.0], "max_accounts": [np.nan, np.nan]})
    customers = pd.DataFrame({"customer_id": range(8), "tier": 2, "region": "N", "current_manager": None,
                              "value": [100.0] * 4 + [40.0] * 4})
    rules = make_rules(value_bands=None, allow_higher_level=True)
    result = solve_assignment(customers, managers, rules)
    assert result.summary["bands"] == 2
    assert result.summary["objective"] == pytest.approx(brute_force(customers, managers, rules), rel=1e-9)
    table = result.assignments
    # the senior manager (larger factor) holds the most valuable customers
    assert set(table.loc[table["recommended_manager"] == "s", "value"]) == {100.0}


# --------------------------------------------------------------------------------------------------
# rules never broken


@st.composite
def instances(draw):
    seed = draw(st.integers(0, 10_000))
    n_customers = draw(st.integers(1, 60))
    n_managers = draw(st.integers(1, 8))
    customers, managers = random_instance(seed, n_customers, n_managers)
    rules = make_rules(
        region=draw(st.sampled_from(["hard", "preference"])),
        region_cost=draw(st.floats(0, 50)),
        switching_cost=draw(st.floats(0, 50)),
        allow_higher_level=draw(st.booleans()),
        keep_higher_level=draw(st.booleans()),
        value_bands=draw(st.sampled_from([None, 1, 3, 16])),
        mip_gap=1e-6,
    )
    return customers, managers, rules


@settings(max_examples=examples(60), deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(instances())
def test_property_capacity_level_and_region_rules_hold(instance):
    customers, managers, rules = instance
    result = solve_assignment(customers, managers, rules)
    table = result.assignments.merge(
        managers.rename(columns={"manager_id": "recommended_manager", "level": "m_level", "region": "m_region"}),
        on="recommended_manager", how="left")
    served = table["recommended_manager"].notna()
    assert set(table["reason"]) <= set(
        ["kept", "assigned_new", "moved_capacity", "moved_level", "moved_region", "moved_manager_left",
         "moved_value", "unassigned_no_capacity", "unassigned_no_manager", "unassigned_no_value",
         "pooled_by_playbook"])
    for row in table[served].itertuples():
        kept = row.recommended_manager == row.current_manager
        allowed = rules.stay_levels(int(row.tier)) if kept else rules.allowed_levels(int(row.tier))
        assert row.m_level in allowed
        if rules.region == "hard":
            assert row.m_region == row.region
    assert not table.loc[~table["tier"].isin(rules.staffed_tiers), "recommended_manager"].notna().any()
    loads = result.managers
    assert (loads["hours_after"] <= loads["hours_available"] + 1e-9).all()
    limited = loads["max_accounts"].notna()
    assert (loads.loc[limited, "accounts_after"] <= loads.loc[limited, "max_accounts"]).all()
    # no customer served at a loss: dropping one never raises the objective
    assert (table.loc[served, "expected_gain"] - table.loc[served, "cost"] >= -1e-9).all()
    s = result.summary
    assert s["objective"] <= s["upper_bound"] + 1e-6 * max(1.0, abs(s["upper_bound"]))
    assert s["objective"] <= s["value_unconstrained"] + 1e-6 * max(1.0, abs(s["value_unconstrained"]))
    assert s["objective"] == pytest.approx(
        independent_objective(customers, managers, rules, table["recommended_manager"].tolist()),
        rel=1e-9, abs=1e-9)


# --------------------------------------------------------------------------------------------------
# handovers and the switching cost


def test_no_handover_when_the_current_assignment_is_feasible_and_optimal():
    rng = np.random.default_rng(3)
    managers = pd.DataFrame({"manager_id": ["s1", "s2", "m1", "j1"], "level": ["senior", "senior", "middle", "junior"],
                             "region": ["N", "S", "N", "N"], "hours": [100.0, 100.0, 100.0, 100.0],
                             "max_accounts": [np.nan, 50, np.nan, np.nan]})
    current = {1: ["s1", "s2"], 2: ["m1"], 3: ["j1"]}
    tiers = rng.integers(1, 4, 80)
    cur = [current[t][i % len(current[t])] for i, t in enumerate(tiers)]
    region = managers.set_index("manager_id").loc[cur, "region"].to_numpy()
    customers = pd.DataFrame({"customer_id": range(80), "tier": tiers, "region": region,
                              "current_manager": cur, "value": rng.gamma(2, 300, 80)})
    rules = make_rules(level_factor={"senior": 1.0, "middle": 1.0, "junior": 1.0}, switching_cost=1.0)
    result = solve_assignment(customers, managers, rules)
    assert (result.assignments["reason"] == "kept").all()
    assert result.summary["moves"] == 0
    loads = result.managers
    assert (loads["accounts_after"] == loads["accounts_before"]).all()


@pytest.mark.parametrize("switching_cost, expected", [(5.0, "moved_value"), (50.0, "kept")])
def test_switching_cost_decides_whether_moving_pays(switching_cost, expected):
    """A tier-2 customer with a middle manager could go to a free senior one: the gain of the move is
    value × uplift × (φ_senior/φ_middle − 1) = 1000 × u × 0.25; it moves only when that beats σ."""
    rules = make_rules(level_factor={"senior": 1.0, "middle": 0.8, "junior": 0.6}, switching_cost=switching_cost,
                       allow_higher_level=True)
    gain = 1000.0 * rules.uplift(2) * 0.25
    assert 5.0 < gain < 50.0
    managers = pd.DataFrame({"manager_id": ["s", "m"], "level": ["senior", "middle"], "region": ["N", "N"],
                             "hours": [10.0, 10.0]})
    customers = pd.DataFrame({"customer_id": ["c"], "tier": [2], "region": ["N"], "current_manager": ["m"],
                              "value": [1000.0]})
    result = solve_assignment(customers, managers, rules)
    assert result.assignments.loc[0, "reason"] == expected
    assert result.assignments.loc[0, "recommended_manager"] == ("s" if expected == "moved_value" else "m")


@pytest.mark.parametrize("ids", [object, "string"], ids=["python text", "arrow text"])  # as tests and stage files hold them
def test_reasons_for_level_region_capacity_and_no_manager(ids):
    managers = pd.DataFrame({"manager_id": ["s", "m", "m2", "mS"], "level": ["senior", "middle", "middle", "middle"],
                             "region": ["N", "N", "N", "S"], "hours": [1.5, 0.5, 1.0, 5.0]}).astype({"manager_id": ids})
    customers = pd.DataFrame({
        "customer_id": ["lvl", "reg", "cap1", "cap2", "left", "none4", "nomgr"],
        "tier": [1, 2, 2, 2, 2, 4, 1],
        "region": ["N", "N", "N", "N", "N", "N", "S"],
        "current_manager": ["m", "mS", "m", "m", "gone", "m", None],  # "gone": a manager who left
        "value": [900.0, 500.0, 400.0, 300.0, 200.0, 50.0, 800.0],
    }).astype({"current_manager": ids})
    rules = make_rules(switching_cost=1.0)
    table = solve_assignment(customers, managers, rules).assignments.set_index("customer_id")
    reasons = table["reason"]
    assert reasons["lvl"] == "moved_level"  # a middle manager may not serve tier 1
    assert reasons["reg"] == "moved_region"  # the hard rule forbids mS in region S
    assert (reasons["cap1"], reasons["cap2"]) == ("kept", "moved_capacity")  # m has room for one
    assert table.loc["cap2", "recommended_manager"] == "m2"
    assert reasons["left"] == "unassigned_no_capacity"  # the least valuable, no room left
    assert reasons["none4"] == "pooled_by_playbook"
    assert reasons["nomgr"] == "unassigned_no_manager"  # no senior manager in region S


def test_a_customer_not_worth_a_move_is_left_with_the_pooled_service():
    """Serving the customer means leaving a manager whose level may not serve the tier: the move costs
    σ = 50, more than the 10 × uplift the customer would keep, so no manager is optimal."""
    managers = pd.DataFrame({"manager_id": ["s", "j"], "level": ["senior", "junior"], "region": ["N", "N"],
                             "hours": [10.0, 10.0]})
    customers = pd.DataFrame({"customer_id": ["c"], "tier": [1], "region": ["N"], "current_manager": ["j"],
                              "value": [10.0]})
    result = solve_assignment(customers, managers, make_rules(switching_cost=50.0))
    assert result.assignments.loc[0, "reason"] == "unassigned_no_value"
    assert result.summary["objective"] == 0.0 and result.summary["value_unconstrained"] == 0.0
    assert not capacity_plan(customers, managers, make_rules(switching_cost=50.0)).binding


def test_wrong_inputs_name_the_column_and_the_fix():
    customers, managers = random_instance(0)
    with pytest.raises(AssignmentError, match="lack column"):
        solve_assignment(customers.drop(columns="value"), managers, make_rules())
    with pytest.raises(AssignmentError, match="level must be one of"):
        solve_assignment(customers, managers.assign(level="boss"), make_rules())
    with pytest.raises(AssignmentError, match="region must be"):
        make_rules(region="sometimes")
    with pytest.raises(AssignmentError, match="hours_per_customer has no entry for tier 3"):
        make_rules(hours_per_customer={1: 1.0, 2: 0.5})


# --------------------------------------------------------------------------------------------------
# the capacity plan


def overloaded():
    rng = np.random.default_rng(11)
    managers = pd.DataFrame({"manager_id": ["s1", "m1", "j1", "s2", "m2", "j2"],
                             "level": ["senior", "middle", "junior"] * 2, "region": ["N"] * 3 + ["S"] * 3,
                             "hours": [12.0, 10.0, 8.0] * 2, "max_accounts": [np.nan] * 6})
    n = 300
    customers = pd.DataFrame({"customer_id": range(n), "tier": rng.choice([1, 2, 3, 4], n, p=[0.05, 0.15, 0.4, 0.4]),
                              "region": rng.choice(["N", "S"], n), "current_manager": None,
                              "value": rng.gamma(2, 300, n)})
    return customers, managers


def test_capacity_plan_resolves_an_overloaded_instance():
    customers, managers = overloaded()
    rules = make_rules(manager_cost={"senior": 100.0, "middle": 80.0, "junior": 60.0})
    result = solve_assignment(customers, managers, rules)
    assert result.summary["unassigned"] > 0
    plan = capacity_plan(customers, managers, rules, result)
    assert plan.binding
    options = plan.options.set_index("option")
    add = options.loc["add_managers"]
    assert add["fits"] and add["unassigned"] == 0 and sum(add["managers_added"].values()) > 0
    # the added managers do serve everyone: solve again with them
    extra = []
    for level, k in add["managers_added"].items():
        same = managers[managers["level"] == level]
        extra += [{"manager_id": f"x-{level}-{region}-{i}", "level": level, "region": region,
                   "hours": float(same["hours"].median()), "max_accounts": np.nan}
                  for region in ("N", "S") for i in range(k)]
    bigger = solve_assignment(customers, pd.concat([managers, pd.DataFrame(extra)], ignore_index=True), rules)
    assert bigger.summary["unassigned"] == 0
    assert add["value_lost"] < result.summary["value_lost"]
    assert add["extra_cost"] == pytest.approx(sum(
        rules.manager_cost[lv] * k for lv, k in add["managers_added"].items()))
    assert plan.recommended is not None
    assert plan.note["key"] in ("assignment_plan_add", "assignment_plan_cadence")
    for language in ("zh", "en"):
        assert "{" not in render(plan.note, language)


def test_a_solve_started_near_another_finds_the_same_optimum():
    """``near`` seeds the bands' splits with another solve's: the same problem then needs no round,
    a problem with more managers finds the cold solve's optimum, other customers ignore it."""
    customers, managers = overloaded()
    rules = make_rules(value_bands=2)
    cold = solve_assignment(customers, managers, rules)
    assert cold.summary["refinements"] > 0
    again = solve_assignment(customers, managers, rules, near=cold)
    assert again.summary["refinements"] == 0
    pd.testing.assert_frame_equal(again.assignments, cold.assignments)

    more = pd.concat([managers, managers.assign(manager_id=managers["manager_id"] + "+")], ignore_index=True)
    bigger_cold = solve_assignment(customers, more, rules)
    bigger_near = solve_assignment(customers, more, rules, near=cold)
    assert bigger_near.summary["objective"] == pytest.approx(bigger_cold.summary["objective"], rel=1e-12)
    assert bigger_near.summary["unassigned"] == bigger_cold.summary["unassigned"]

    fewer = customers.iloc[::2]
    alone, seeded = solve_assignment(fewer, managers, rules), solve_assignment(fewer, managers, rules, near=cold)
    for key in ("bands", "refinements"):
        assert seeded.summary[key] == alone.summary[key]
    pd.testing.assert_frame_equal(seeded.assignments, alone.assignments)


@pytest.mark.parametrize("response", ["steep", "flat"])
def test_capacity_plan_lower_cadence_option_fits_when_hours_are_close(response):
    """Only the junior managers are short (tier 3 needs 13.75 h in N and 15.5 h in S, they have 11 h
    each): a 30 % lower tier-3 cadence fits. Whether it beats leaving the last customers unserved
    depends on the response curve: a saturated curve (small k) loses little uplift at a lower
    cadence, a steep one loses it on every tier-3 customer."""
    customers, managers = overloaded()
    managers = managers.assign(hours=[30.0, 20.0, 11.0] * 2)
    k3 = 0.02 if response == "flat" else 0.5
    rules = make_rules(allow_higher_level=False, k_hours={1: 0.75, 2: 0.25, 3: k3},
                       manager_cost={"senior": 1e6, "middle": 1e6, "junior": 1e6})
    result = solve_assignment(customers, managers, rules)
    assert result.summary["unassigned"] > 0
    assert set(result.assignments.loc[result.assignments["reason"] == "unassigned_no_capacity", "tier"]) == {3}
    plan = capacity_plan(customers, managers, rules, result)
    options = plan.options.set_index("option")
    cadence = options.loc["lower_cadence"]
    assert cadence["fits"] and cadence["tiers"] == [3] and cadence["unassigned"] == 0
    assert cadence["cadence_factor"] == pytest.approx(0.7)
    assert cadence["value_lost"] > 0
    recommended = plan.options.loc[plan.recommended, "option"]
    if response == "flat":
        assert cadence["value_lost"] < options.loc["as_is", "value_lost"]
        assert recommended == "lower_cadence" and plan.note["key"] == "assignment_plan_cadence"
    else:
        assert cadence["value_lost"] > options.loc["as_is", "value_lost"]
        assert recommended == "as_is" and plan.note["key"] == "assignment_plan_as_is"
    for language in ("zh", "en"):
        assert "{" not in render(plan.note, language)


def test_capacity_plan_says_capacity_suffices():
    customers, managers = overloaded()
    managers = managers.assign(hours=1e4)
    plan = capacity_plan(customers, managers, make_rules())
    assert not plan.binding and plan.recommended is None and plan.note["key"] == "assignment_plan_fits"


def test_rules_from_playbook_take_the_playbook_and_the_hours_curve():
    profile = pd.DataFrame({"tier": [1, 2, 3, 4], "customers": [10, 40, 150, 800],
                            "clv": [1e5, 1e5, 8e4, 4e4], "p_alive_mean": [0.9, 0.8, 0.6, 0.4]})
    playbook = default_playbook(4)
    rules = rules_from_playbook(playbook, profile)
    assert rules.required_level == {1: "senior", 2: "middle", 3: "junior", 4: "none"}
    assert rules.hours_per_customer[1] == pytest.approx(2 * 45 / 60)
    # k = 0.5 × playbook hours: the playbook's cadence reaches 1 − e⁻² of u_max
    assert rules.uplift(1) == pytest.approx(rules.u_max[1] * (1 - math.exp(-2)))
    assert rules.staffed_tiers == [1, 2, 3]


def test_locale_keys_exist():
    for key in ("assignment_plan_fits", "assignment_plan_none", "assignment_plan_level_count",
                "assignment_plan_add", "assignment_plan_cadence", "assignment_plan_as_is"):
        assert key in TEXTS


def test_evaluate_assignment_checks_rules_and_capacity():
    managers = pd.DataFrame({"manager_id": ["s", "j"], "level": ["senior", "junior"], "region": ["N", "N"],
                             "hours": [1.5, 1.0], "max_accounts": [np.nan, 1]})
    customers = pd.DataFrame({"customer_id": ["a", "b"], "tier": [1, 3], "region": ["N", "N"],
                              "current_manager": [None, None], "value": [100.0, 100.0]})
    rules = make_rules()
    assert evaluate_assignment(customers, managers, rules, ["s", "j"])["feasible"]
    assert not evaluate_assignment(customers, managers, rules, ["j", None])["feasible"]  # level
    assert not evaluate_assignment(customers, managers, rules, ["s", "s"])["feasible"]  # hours
    two = pd.concat([customers, customers.assign(customer_id=["c", "d"])], ignore_index=True)
    assert not evaluate_assignment(two, managers, rules, [None, "j", None, "j"])["feasible"]  # accounts
    with pytest.raises(AssignmentError, match="names no manager"):
        evaluate_assignment(customers, managers, rules, ["x", None])


# --------------------------------------------------------------------------------------------------
# the benchmark's stage at a small size


def test_benchmark_stage_runs_small(tmp_path):
    import argparse
    import sys
    from pathlib import Path

    benchmarks = Path(__file__).resolve().parents[1] / "benchmarks"
    sys.path.insert(0, str(benchmarks))
    import stages
    from assignment_data import synthetic_assignment

    result = stages.assign_ours(argparse.Namespace(customers=20_000, managers=50))
    assert result["wall"] > 0 and "groups" in result["notes"]
    facts = result["facts"]
    assert facts["objective"] <= facts["upper_bound"] + 1e-6 * facts["upper_bound"]
    assert facts["relative_gap"] < 5e-3
    customers, managers, rules = synthetic_assignment(20_000, 50)
    again = solve_assignment(customers, managers, rules)
    assert again.summary["objective"] == pytest.approx(facts["objective"], rel=1e-12)
    loads = again.managers
    assert (loads["hours_after"] <= loads["hours_available"] + 1e-9).all()


def test_capacity_plan_hires_where_no_manager_of_the_level_works():
    customers, managers = overloaded()
    managers = managers.assign(hours=1e4)
    without_seniors = managers[managers["level"] != "senior"]
    rules = make_rules(allow_higher_level=False)
    plan = capacity_plan(customers, without_seniors, rules)
    assert plan.binding
    add = plan.options.set_index("option").loc["add_managers"]
    assert add["fits"] and add["managers_added"]["senior"] == 2  # one per region (hard rule)
    assert add["managers_added"]["middle"] == add["managers_added"]["junior"] == 0
    with pytest.raises(AssignmentError, match="new_manager_hours"):
        capacity_plan(customers, managers.iloc[:0], rules)
    plan = capacity_plan(customers, managers.iloc[:0], rules, new_manager_hours=120.0)
    assert plan.options.set_index("option").loc["add_managers", "fits"]


def test_a_staffed_tier_without_contact_hours_goes_to_the_pooled_service():
    profile = pd.DataFrame({"tier": [1, 2, 3, 4], "customers": [10, 40, 150, 800],
                            "clv": [1e5, 1e5, 8e4, 4e4], "p_alive_mean": [0.9, 0.8, 0.6, 0.4]})
    from analysis.methods.playbook import merge_playbook

    playbook = merge_playbook(default_playbook(4), {3: {"contacts_per_month": 0}})
    rules = rules_from_playbook(playbook, profile)
    assert rules.required_level[3] == "none" and rules.staffed_tiers == [1, 2]
