"""Which account manager serves which customer, within each manager's capacity, and a capacity plan.

Problem
-------
Customers ``c`` (tier ``t_c``, region ``r_c``, current manager ``cur_c`` or none, value ``v_c`` — the
customer's value at stake, e.g. the predicted CLV) and managers ``m`` (level ``L_m`` of senior / middle /
junior, region ``r_m``, hours per month ``H_m``, optionally at most ``A_m`` accounts). A customer of tier
``t`` served by a manager of level ``L`` keeps the expected value

    g(c, L) = v_c · u_t · φ_L / φ_{req(t)},      u_t = u_max_t · (1 − exp(−h_t / k_t))

where ``u_t`` is the hours response curve of the allocation stage (:mod:`analysis.methods.allocation`:
a tier's retention uplift at its playbook hours ``h_t`` = contacts a month × minutes a contact / 60),
``req(t)`` the tier's required level (the playbook's manager level; tier 1 → senior) and ``φ`` a
level factor: the required level delivers the response model's uplift, a more senior manager
``φ_L / φ_req`` times it. By default a customer is served by a manager of exactly the required
level; with ``allow_higher_level`` a more senior one may serve too (never a junior one a tier-1
customer). It is off by default because the response curve pays far more per hour for the
light-touch tiers (with k = half the playbook's hours, a tier-3 customer at 7.5 minutes a month
returns about 9 times the retained value per senior hour that a tier-1 customer at 90 minutes does),
so seniors allowed to serve lower tiers fill up with tier-3 accounts and leave tier-1 customers
unserved — optimal for the objective, not what a playbook means. With ``keep_higher_level`` a
customer whose current manager is more senior than the allowed levels may stay with them (at that
level's factor); moves and new assignments still keep to the allowed levels. A customer left without
a manager goes to the pooled / digital service, which keeps nothing more (gain 0). Every served
customer takes ``h_t`` of the manager's hours.

Maximise Σ_c [g(c, L_m(c)) − ρ·[r_c ≠ r_m(c)] − σ·[m(c) ≠ cur_c, cur_c given]] over the assignments
m(c) ∈ allowed(c) ∪ {pooled}, subject to Σ_c h_{t_c} ≤ H_m and #customers ≤ A_m for every manager:
ρ is the region cost (``region="preference"``; with ``region="hard"`` other regions are not allowed),
σ the switching cost, so a customer keeps the current manager unless moving pays more than σ.

Why a flow LP and why the aggregation is exact
----------------------------------------------
Customers of one *group* — same tier, region and current manager — need the same hours, have the
same costs and the same allowed managers; only their value differs, and it enters as v_c · f_L with
f_L = u_t φ_L / φ_req depending on the level only. Exchange argument: if in some solution a customer of
lower value holds an option with a larger f than a customer of higher value in the same group,
swapping the two changes the objective by (v_hi − v_lo)(f_big − f_small) ≥ 0 and keeps every
capacity (same hours, same costs per option). So an optimal solution gives a group's customers,
sorted by value, the levels in decreasing f (pooled, f = 0, last): once the aggregated problem fixes
*how many* customers of a group each level (and each manager) takes, assigning them greedily by value
is optimal — the "greedy within the group".

The aggregated problem is a network flow with side constraints, solved with HiGHS (``scipy.optimize``):
value bands (customers of a group in rank order, ``value_bands`` bands of equal count, or one band per
distinct value with ``value_bands=None``) → (group, level) → the current manager or a hub (tier,
region, level) → the hub's managers. A band enters as one or two *pieces* of the concave upper
envelope of its customers' prefix sums (the tangents at its two ends, see :func:`_envelope_pieces`):
the network never values a band below its customers, so its optimum bounds the problem's, and it is
exact wherever a group's customers pass from one level (or from being served) to the next at a band
end. The solution's pass points are found; a band of unequal values with one inside is split there
and into 8 equal parts, and the network is solved again — on the LP's pass points while it has any
(cheap), then on the MILP's — at most ``max_refinements`` times (9 rounds on the 1M-customer
benchmark). Then the objective equals the network's, and the bound proves it optimal.

Integer counts. Hours differ by tier, so the LP optimum may split a customer at a manager whose
hours bind (a multiple-knapsack side constraint; without it the network would be totally unimodular).
The arcs to managers are then integer variables of a MILP solved by HiGHS branch and bound
(``scipy.optimize.milp``, to the relative gap ``mip_gap``); the pieces stay continuous, since a
node's whole number of customers is exact at the envelope once no pass point lies inside a band.
The MILP's dual bound is the summary's ``upper_bound``: the assignment is optimal within
``relative_gap`` (5e-15 on the sample, 6e-15 on the 1M-customer benchmark, see benchmarks/README.md).
Networks above ``milp_max_variables`` arcs (or a MILP that stops without a solution) fall back to the
LP flows rounded down (every capacity still holds), refilled on what is left, with the LP optimum as
the bound. With no capacity price at all (λ = μ = 0) the per-customer best option gives the value
without capacity limits, against which the capacity plan measures what a shortage costs.

Why not one variable per customer: 1M customers × 500 managers are 5·10⁸ arcs; the groups (tier ×
region × current manager) are a few thousand, the hubs keep a group's arcs to one per region and
level, and the network has a few hundred thousand arcs at most.

Capacity plan
-------------
When capacity binds (customers left unserved, or value lost against unlimited capacity), two kinds
of option are priced: (a) hire the smallest number of managers per level (per region with the hard
region rule) that lets every staffed customer be served — sized from the unserved hours and accounts,
checked by solving again; (b) lower the cadence of the lowest staffed tiers by 10 %…50 % (hours and,
through the response curve, the uplift fall with it), the least costly that fits. Each option carries
the expected value lost against unlimited capacity (plus the managers' monthly cost given in
``manager_cost``); the recommended one is the cheapest, with a one-sentence message.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import scipy.sparse as sp
from scipy import optimize
from scipy.optimize import Bounds, LinearConstraint, linprog, milp

from analysis.i18n import Message, joined, message, tier_ref
from analysis.methods.ids import looked_up

#: Manager levels that serve customers, most senior first.
LEVELS = ("senior", "middle", "junior")
_RANK = {level: i for i, level in enumerate(LEVELS)}  # 0 = most senior

#: Reason codes of the assignment table.
REASONS = (
    "kept",  # keeps the current manager
    "assigned_new",  # had no manager, now has one
    "moved_capacity",  # the current manager has no room left for the customer
    "moved_level",  # the current manager's level may not serve the customer's tier
    "moved_region",  # the current manager works in another region (hard region rule)
    "moved_manager_left",  # the current manager is not in the managers table
    "moved_value",  # moving to another manager keeps more value than it costs
    "unassigned_no_capacity",  # no manager of an allowed level has room: pooled / digital service
    "unassigned_no_manager",  # no manager of an allowed level in reach (level / region rule)
    "unassigned_no_value",  # serving the customer keeps less than it costs (switching, region)
    "pooled_by_playbook",  # the tier is served without staff (playbook level none)
)
CADENCE_FACTORS = (0.9, 0.8, 0.7, 0.6, 0.5)
_NONE = -1
_LEFT = -2  # in a group: had a manager whom the rules do not allow
_SPLIT_PARTS = 8  # a band the solution passes inside is split at the pass point and into this many parts


class AssignmentError(ValueError):
    """Inputs to the assignment are wrong: the message names the column, row or key and the fix."""


@dataclass(frozen=True)
class AssignmentRules:
    """The rules of the assignment.

    Parameters
    ----------
    required_level : {tier: level}
        The least senior level that may serve a tier; tiers missing (or with level ``none``) are not
        served by managers (reason ``pooled_by_playbook``).
    hours_per_customer : {tier: hours}
        Manager hours a customer of the tier takes per month (contacts × minutes / 60).
    u_max, k_hours : {tier: number}
        The hours response curve per tier: uplift u(h) = u_max·(1 − exp(−h / k_hours)).
    level_factor : {level: factor}
        Relative effect of a level; the required level delivers the curve's uplift, a level L
        ``level_factor[L] / level_factor[required]`` times it.
    allow_higher_level : bool
        Whether a more senior level than the required one may serve a tier (off by default; see
        the module docstring).
    keep_higher_level : bool
        Whether a customer whose current manager is more senior than the allowed levels may stay with
        them (no new assignment goes to such a level): the playbook's level binds moves, not a
        relationship that already serves the customer at least as well.
    region : "hard" or "preference"
        Hard: only managers of the customer's region; preference: any region at ``region_cost``.
    region_cost, switching_cost : float
        Value units per customer served outside its region / moved from its current manager.
    value_bands : int or None
        Bands per group the aggregated problem starts from; None: one band per distinct value.
    mip_gap : float
        Relative gap at which HiGHS stops the branch and bound when the LP optimum is fractional.
    milp_max_variables : int
        Largest aggregated problem (arcs) solved as a MILP when its LP optimum is fractional; larger
        ones round the LP flows down and fill the room left greedily (the summary's gap bounds the loss).
    max_refinements : int
        How often the bands may be split where the solution's customers pass from one level to the
        next; the rounds stop earlier once no such point lies inside a band.
    manager_cost : {level: value units per month}
        Cost of one more manager, for the capacity plan (default 0).
    time_limit : float
        Seconds the branch and bound may run, over all rounds (what the LP rounds leave of it; none
        left: the LP is rounded); each LP may take this long as well.
    """

    required_level: Mapping[int, str]
    hours_per_customer: Mapping[int, float]
    u_max: Mapping[int, float]
    k_hours: Mapping[int, float]
    level_factor: Mapping[str, float] = field(
        default_factory=lambda: {"senior": 1.0, "middle": 0.9, "junior": 0.8}
    )
    allow_higher_level: bool = False
    keep_higher_level: bool = False
    region: str = "hard"
    region_cost: float = 0.0
    switching_cost: float = 0.0
    value_bands: int | None = 16
    max_refinements: int = 20
    mip_gap: float = 1e-6
    milp_max_variables: int = 1_000_000
    manager_cost: Mapping[str, float] = field(default_factory=dict)
    time_limit: float = 60.0

    def __post_init__(self) -> None:
        if self.region not in ("hard", "preference"):
            raise AssignmentError(f"assignment rules: region must be 'hard' or 'preference', got {self.region!r}")
        for name in ("region_cost", "switching_cost", "time_limit", "mip_gap"):
            _check_number(getattr(self, name), name, low=0.0)
        for tier, level in self.required_level.items():
            if level not in (*LEVELS, "none"):
                raise AssignmentError(
                    f"assignment rules: required_level of tier {tier} is {level!r}; use one of "
                    f"{', '.join((*LEVELS, 'none'))}"
                )
            if level == "none":
                continue
            for name in ("hours_per_customer", "u_max", "k_hours"):
                if tier not in getattr(self, name):
                    raise AssignmentError(
                        f"assignment rules: {name} has no entry for tier {tier}, which managers serve; add it"
                    )
            _check_number(self.hours_per_customer[tier], f"hours_per_customer[{tier}]", low=0.0, low_open=True)
            _check_number(self.u_max[tier], f"u_max[{tier}]", low=0.0, high=1.0)
            _check_number(self.k_hours[tier], f"k_hours[{tier}]", low=0.0, low_open=True)
        for level in LEVELS:
            if level not in self.level_factor:
                raise AssignmentError(f"assignment rules: level_factor lacks level {level!r}")
            _check_number(self.level_factor[level], f"level_factor[{level}]", low=0.0, low_open=True)
        if self.value_bands is not None and (not isinstance(self.value_bands, int) or self.value_bands < 1):
            raise AssignmentError(f"assignment rules: value_bands must be an integer ≥ 1 or None, got {self.value_bands!r}")
        for level, cost in self.manager_cost.items():
            if level not in LEVELS:
                raise AssignmentError(f"assignment rules: manager_cost names unknown level {level!r}")
            _check_number(cost, f"manager_cost[{level}]", low=0.0)

    @property
    def staffed_tiers(self) -> list[int]:
        return sorted(t for t, level in self.required_level.items() if level in LEVELS)

    def uplift(self, tier: int, hours: float | None = None) -> float:
        """The tier's uplift share at ``hours`` per customer (default: its playbook hours)."""
        h = self.hours_per_customer[tier] if hours is None else hours
        return float(self.u_max[tier] * -math.expm1(-h / self.k_hours[tier]))

    def allowed_levels(self, tier: int) -> list[str]:
        """Levels that may serve ``tier``, most senior first."""
        required = self.required_level.get(tier, "none")
        if required not in LEVELS:
            return []
        if not self.allow_higher_level:
            return [required]
        return [level for level in LEVELS if _RANK[level] <= _RANK[required]]

    def stay_levels(self, tier: int) -> list[str]:
        """Levels of a current manager who may keep a ``tier`` customer: the allowed ones and, with
        ``keep_higher_level``, every more senior one, most senior first."""
        required = self.required_level.get(tier, "none")
        if required not in LEVELS:
            return []
        if not self.keep_higher_level:
            return self.allowed_levels(tier)
        return [level for level in LEVELS if _RANK[level] <= _RANK[required]]

    def factor(self, tier: int, level: str) -> float:
        """f = u_t · φ_L / φ_required: the value share a level keeps of a tier-``tier`` customer."""
        required = self.required_level[tier]
        return self.uplift(tier) * self.level_factor[level] / self.level_factor[required]


def rules_from_playbook(
    playbook: Mapping[int, Any],
    profile: pd.DataFrame,
    curve_hours: Any = None,
    **options: Any,
) -> AssignmentRules:
    """Rules from the allocation stage's playbook and hours response curve.

    ``playbook`` is :func:`analysis.methods.playbook.default_playbook` (possibly merged with params),
    ``profile`` the tier profile (tier, customers, clv, p_alive_mean) the curve's u_max is taken from,
    ``curve_hours`` the :class:`~analysis.methods.allocation.ResponseCurve` for hours (default the
    allocation's, k = 0.5 × playbook hours); ``options`` are further :class:`AssignmentRules` fields.
    """
    from analysis.methods.allocation import ResponseCurve

    curve_hours = curve_hours or ResponseCurve(k_share=0.5)
    hours = pd.Series({t: playbook[t].hours_per_customer for t in playbook}, dtype=float)
    params = curve_hours.tier_parameters(profile, hours)
    required = {int(t): playbook[t].manager_level for t in playbook}
    # a tier whose playbook asks for no contact hours is served like the pooled tiers, not by a manager
    staffed = [t for t in required if required[t] in LEVELS and t in params.index and hours[t] > 0]
    return AssignmentRules(
        required_level={t: required[t] if t in staffed else "none" for t in required},
        hours_per_customer={t: float(hours[t]) for t in staffed},
        u_max={t: float(params.loc[t, "u_max"]) for t in staffed},
        k_hours={t: float(params.loc[t, "k"]) for t in staffed},
        **options,
    )


# --------------------------------------------------------------------------------------------------
# inputs


def _check_number(value: Any, name: str, *, low: float | None = None, high: float | None = None,
                  low_open: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise AssignmentError(f"assignment: {name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise AssignmentError(f"assignment: {name} must be finite, got {value!r}")
    if low is not None and (value < low or (low_open and value == low)):
        raise AssignmentError(f"assignment: {name} must be {'>' if low_open else '≥'} {low:g}, got {value:g}")
    if high is not None and value > high:
        raise AssignmentError(f"assignment: {name} must be ≤ {high:g}, got {value:g}")


CUSTOMER_COLUMNS = ("customer_id", "tier", "region", "current_manager", "value")
MANAGER_COLUMNS = ("manager_id", "level", "region", "hours")


def _check_frame(frame: pd.DataFrame, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise AssignmentError(f"{what} lack column(s) {missing}; they need {list(columns)}")


def _prepare_managers(managers: pd.DataFrame) -> pd.DataFrame:
    _check_frame(managers, MANAGER_COLUMNS, "managers")
    out = managers.reset_index(drop=True).copy()
    if out["manager_id"].isna().any() or out["manager_id"].duplicated().any():
        dup = out.loc[out["manager_id"].duplicated(), "manager_id"].head(3).tolist()
        raise AssignmentError(f"managers: manager_id must be present and unique; repeated or missing: {dup}")
    bad = out.loc[~out["level"].isin(LEVELS), "manager_id"].head(3).tolist()
    if bad:
        raise AssignmentError(f"managers: level must be one of {', '.join(LEVELS)}; managers {bad} are not")
    hours = pd.to_numeric(out["hours"], errors="coerce").astype(float)
    bad = out.loc[~np.isfinite(hours) | (hours < 0), "manager_id"].head(3).tolist()
    if bad:
        raise AssignmentError(f"managers: hours must be a finite number ≥ 0 per month; managers {bad} are not")
    out["hours"] = hours
    accounts = (pd.to_numeric(out["max_accounts"], errors="coerce").astype(float)
                if "max_accounts" in out.columns else pd.Series(np.nan, index=out.index))
    if (accounts < 0).any():
        raise AssignmentError("managers: max_accounts must be ≥ 0 (or empty for no limit)")
    out["max_accounts"] = accounts
    out["region"] = out["region"].astype(str)
    return out


def _prepare_customers(customers: pd.DataFrame) -> pd.DataFrame:
    _check_frame(customers, CUSTOMER_COLUMNS, "customers")
    out = customers[list(CUSTOMER_COLUMNS)].reset_index(drop=True).copy()
    value = pd.to_numeric(out["value"], errors="coerce").astype(float)
    bad = out.loc[~np.isfinite(value) | (value < 0), "customer_id"].head(3).tolist()
    if bad:
        raise AssignmentError(f"customers: value must be a finite number ≥ 0; customers {bad} are not")
    out["value"] = value
    tier = pd.to_numeric(out["tier"], errors="coerce")
    if tier.isna().any() or (tier < 1).any() or (tier != tier.round()).any():
        raise AssignmentError("customers: every customer needs a tier, a whole number ≥ 1 (1 = best)")
    out["tier"] = tier.astype(int)
    out["region"] = out["region"].astype(str)
    return out


# --------------------------------------------------------------------------------------------------
# the solver


@dataclass(frozen=True)
class AssignmentResult:
    """``assignments`` (one row per customer), ``managers`` (load before and after), ``summary``."""

    assignments: pd.DataFrame
    managers: pd.DataFrame
    summary: dict[str, Any]
    refined: _Refined | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class _Refined:
    """Where the solve's rounds split the bands, for the groups (``order``) they were found for."""

    order: np.ndarray
    cuts: np.ndarray


@dataclass
class _Problem:
    """Customers and managers as integer codes, and the per-group facts."""

    cust: pd.DataFrame  # prepared customers
    mgr: pd.DataFrame  # prepared managers
    region_codes: list[str]
    c_region: np.ndarray
    c_cur: np.ndarray  # manager index or _NONE
    c_tier: np.ndarray
    c_value: np.ndarray
    m_region: np.ndarray
    m_level: np.ndarray  # rank
    staffed: np.ndarray  # bool per customer


def _encode(customers: pd.DataFrame, managers: pd.DataFrame, rules: AssignmentRules) -> _Problem:
    cust = _prepare_customers(customers)
    mgr = _prepare_managers(managers)
    regions = sorted(set(cust["region"].unique()) | set(mgr["region"].unique()))  # a set of the rows iterates them in Python
    code = pd.Series(range(len(regions)), index=pd.Index(regions, dtype=object), dtype="int64")
    positions = pd.Series(np.arange(len(mgr)), index=pd.Index(mgr["manager_id"]))  # unique (_prepare_managers)
    # each customer's current manager by one hash lookup of the ids (Arrow's for text ids), not a Python
    # string each; none, or one not among the managers: _NONE
    cur = looked_up(cust["current_manager"], positions).to_numpy(dtype=float, na_value=np.nan)
    cur = np.nan_to_num(cur, nan=_NONE).astype(np.int64)
    return _Problem(
        cust=cust, mgr=mgr, region_codes=regions,
        c_region=looked_up(cust["region"], code).to_numpy(np.int64),
        c_cur=cur,
        c_tier=cust["tier"].to_numpy(np.int64),
        c_value=cust["value"].to_numpy(float),
        m_region=looked_up(mgr["region"], code).to_numpy(np.int64),
        m_level=mgr["level"].map(_RANK).to_numpy(np.int64),
        staffed=cust["tier"].isin(rules.staffed_tiers).to_numpy(),
    )


@dataclass
class _Groups:
    """Groups (tier, region, current manager) of the staffed customers, sorted by value inside."""

    order: np.ndarray  # staffed customer indices, by group then value descending
    starts: np.ndarray  # start of each group in ``order``; len = groups + 1
    tier: np.ndarray
    region: np.ndarray
    cur: np.ndarray  # current manager allowed for the group (index), _LEFT (not allowed) or _NONE


def _groups(p: _Problem, rules: AssignmentRules) -> _Groups:
    idx = np.flatnonzero(p.staffed)
    cur = p.c_cur[idx].copy()
    # a current manager the rules do not allow is no option: the group has no current arc
    if len(idx):
        has = cur >= 0
        lvl_ok = np.zeros(len(idx), bool)
        for tier in rules.staffed_tiers:
            allowed = [_RANK[lv] for lv in rules.stay_levels(tier)]
            sel = has & (p.c_tier[idx] == tier)
            lvl_ok[sel] = np.isin(p.m_level[cur[sel]], allowed)
        reg_ok = np.ones(len(idx), bool)
        if rules.region == "hard":
            reg_ok[has] = p.m_region[cur[has]] == p.c_region[idx][has]
        cur = np.where(has & lvl_ok & reg_ok, cur, np.where(has, _LEFT, _NONE))
    keys = np.lexsort((-p.c_value[idx], cur, p.c_region[idx], p.c_tier[idx]))
    order = idx[keys]
    t, r, c = p.c_tier[idx][keys], p.c_region[idx][keys], cur[keys]
    new = np.ones(len(order), bool)
    if len(order):
        new[1:] = (t[1:] != t[:-1]) | (r[1:] != r[:-1]) | (c[1:] != c[:-1])
    starts = np.append(np.flatnonzero(new), len(order))
    first = starts[:-1]
    return _Groups(order=order, starts=starts, tier=t[first], region=r[first], cur=c[first])


def _bands(values_sorted: np.ndarray, starts: np.ndarray, bands: int | None,
           extra_cuts: np.ndarray | None = None) -> np.ndarray:
    """Positions (into the group-sorted order) where a band starts, the groups' starts included."""
    cuts = [starts]
    sizes = np.diff(starts)
    if bands is None:
        change = np.ones(len(values_sorted), bool)
        change[1:] = values_sorted[1:] != values_sorted[:-1]
        cuts.append(np.flatnonzero(change))
    else:
        for k in range(1, bands):
            cuts.append(starts[:-1] + (sizes * k) // bands)
    if extra_cuts is not None:
        cuts.append(extra_cuts)
    out = np.unique(np.concatenate(cuts))
    return out[out < len(values_sorted)] if len(values_sorted) else out[:0]


def solve_assignment(
    customers: pd.DataFrame,
    managers: pd.DataFrame,
    rules: AssignmentRules,
    *,
    near: AssignmentResult | None = None,
) -> AssignmentResult:
    """The optimal assignment of customers to managers (see the module docstring).

    ``customers``: customer_id, tier, region, current_manager (a manager_id or missing), value (the
    value at stake, e.g. the predicted CLV: the gain of a level is value × the tier's uplift × the
    level factor ratio). A current manager missing from ``managers`` counts as none (reason
    ``moved_manager_left`` when the customer is placed).
    ``managers``: manager_id, level (senior/middle/junior), region, hours (per month), optional
    max_accounts (missing = no limit).

    Returns an :class:`AssignmentResult`:

    - ``assignments``: customer_id, tier, region, value, current_manager, recommended_manager
      (None = pooled / digital service), recommended_level, reason (a code of :data:`REASONS`),
      expected_gain, cost (region and switching costs);
    - ``managers``: manager_id, level, region, hours_available, max_accounts, accounts_before,
      hours_before (the current customers of staffed tiers), accounts_after, hours_after,
      utilisation_after;
    - ``summary``: objective, upper_bound, gap, relative_gap, value_unconstrained, value_lost,
      customers, staffed_customers, kept, moves, assigned_new, unassigned, groups, bands, variables,
      value_relaxed (the band LP), refinements, solver, reasons (counts), seconds.

    ``near``: the result of a problem with the same customers and a few managers fewer (the capacity
    plan's previous round). Its bands' splits start the rounds when its groups are these: its pass
    points lie near this problem's, so fewer rounds find them; the optimum is the same. From a
    problem far from this one (far fewer managers, a lower cadence) the extra bands cost more than
    the rounds they save.
    """
    started = time.perf_counter()
    p = _encode(customers, managers, rules)
    result = _solve(p, rules, None if near is None else near.refined)
    result.summary["seconds"] = time.perf_counter() - started
    return result


def _solve(p: _Problem, rules: AssignmentRules, start: _Refined | None = None) -> AssignmentResult:
    g = _groups(p, rules)
    values_sorted = p.c_value[g.order]
    same_groups = start is not None and np.array_equal(start.order, g.order)
    cuts = start.cuts if same_groups else np.zeros(0, np.int64)
    refinements = 0
    deadline = time.monotonic() + rules.time_limit
    while True:
        band_start = _bands(values_sorted, g.starts, rules.value_bands, cuts)
        net = _network(p, g, band_start, values_sorted, rules)
        lp = _relaxation(net, rules)
        # split at the LP's pass points first (cheap); once it has none left, at the MILP's
        new = _inexact(_fill_points(g, net, lp.x, rules), band_start, values_sorted)
        if not len(new) or refinements >= rules.max_refinements:
            solved = _integral(net, lp, rules, deadline - time.monotonic())
            new = _inexact(_fill_points(g, net, solved.flows, rules), band_start, values_sorted)
            if not len(new) or refinements >= rules.max_refinements or solved.stopped:
                break
        cuts = np.union1d(cuts, new)  # the envelope is exact where a band ends: split at the pass points
        refinements += 1
    assigned = _decompose(p, g, net, solved.flows, rules)
    assigned = _fill(p, assigned, rules)  # room a rounding (or the MILP's gap) left
    objective = _objective(p, assigned, rules)
    bound = max(solved.bound, objective)
    gap = bound - objective
    free = np.zeros(len(p.mgr))
    unconstrained_profits = _best_profits(p, g, rules, free, free)
    unconstrained = float(unconstrained_profits.sum())
    worth = np.zeros(len(p.cust), bool)  # serving the customer pays with unlimited capacity
    worth[g.order] = unconstrained_profits > 1e-12
    table = _assignment_table(p, assigned, rules, worth)
    loads = _manager_loads(p, assigned, rules)
    moves = int(table["reason"].str.startswith("moved").sum())
    summary = {
        "objective": objective,
        "upper_bound": bound,
        "gap": gap,
        "relative_gap": gap / max(abs(bound), 1e-12) if bound else 0.0,
        "value_unconstrained": unconstrained,
        "value_lost": max(unconstrained - objective, 0.0),
        "customers": int(len(p.cust)),
        "staffed_customers": int(p.staffed.sum()),
        "kept": int((table["reason"] == "kept").sum()),
        "moves": moves,
        "assigned_new": int((table["reason"] == "assigned_new").sum()),
        "unassigned": int(table["reason"].str.startswith("unassigned").sum()),
        "groups": int(len(g.tier)),
        "bands": int(len(net.band_start)),
        "variables": int(net.n_vars),
        "value_relaxed": solved.relaxed,
        "refinements": refinements,
        "solver": solved.status,
        "reasons": table["reason"].value_counts().to_dict(),
    }
    return AssignmentResult(assignments=table, managers=loads, summary=summary, refined=_Refined(g.order, cuts))


@dataclass
class _Network:
    n_vars: int
    cost: np.ndarray  # minimised (negative gain + costs)
    a_eq: sp.csr_matrix
    a_ub: sp.csr_matrix
    b_ub: np.ndarray
    hours_rows: np.ndarray  # row of each manager's hours constraint in a_ub
    account_rows: np.ndarray  # row or -1
    band_start: np.ndarray
    band_group: np.ndarray
    # y: envelope piece → (group, level)
    y_level: np.ndarray
    y_node: np.ndarray
    # z: (group, level) node → current manager
    z_node: np.ndarray
    z_var: np.ndarray
    # w: (group, level) node → hub
    w_node: np.ndarray
    w_hub: np.ndarray
    w_var: np.ndarray
    # q: hub → manager
    q_hub: np.ndarray
    q_mgr: np.ndarray
    q_var: np.ndarray
    node_group: np.ndarray
    node_level: np.ndarray
    hub_tier: np.ndarray
    y_var: np.ndarray


def _network(p: _Problem, g: _Groups, band_start: np.ndarray, values_sorted: np.ndarray,
             rules: AssignmentRules) -> _Network:
    n_groups = len(g.tier)
    band_group = np.searchsorted(g.starts, band_start, side="right") - 1
    piece_band, piece_cap, piece_value = _envelope_pieces(values_sorted, band_start)
    piece_group = band_group[piece_band]
    n_regions = len(p.region_codes)

    # (group, level) nodes
    node_group, node_level = [], []
    for gi in range(n_groups):
        levels = [_RANK[lv] for lv in rules.allowed_levels(int(g.tier[gi]))]
        if g.cur[gi] >= 0 and p.m_level[g.cur[gi]] not in levels:
            levels.append(int(p.m_level[g.cur[gi]]))  # kept by a more senior manager: a stay arc only
        node_group += [gi] * len(levels)
        node_level += levels
    node_group = np.asarray(node_group, np.int64)
    node_level = np.asarray(node_level, np.int64)
    node_id = {(int(a), int(b)): i for i, (a, b) in enumerate(zip(node_group, node_level))}
    tiers = sorted(set(int(t) for t in g.tier))
    factor = {(t, _RANK[lv]): rules.factor(t, lv) for t in tiers for lv in rules.stay_levels(t)}
    hours = {t: rules.hours_per_customer[t] for t in tiers}

    # hubs (tier, region, level) with managers
    hub_key: dict[tuple[int, int, int], int] = {}
    q_hub, q_mgr = [], []
    for t in tiers:
        allowed = [_RANK[lv] for lv in rules.allowed_levels(t)]
        for m in range(len(p.mgr)):
            if p.m_level[m] in allowed:
                key = (t, int(p.m_region[m]), int(p.m_level[m]))
                hub = hub_key.setdefault(key, len(hub_key))
                q_hub.append(hub)
                q_mgr.append(m)
    q_hub = np.asarray(q_hub, np.int64)
    q_mgr = np.asarray(q_mgr, np.int64)
    hub_tier = np.zeros(len(hub_key), np.int64)
    for (t, _r, _lv), h in hub_key.items():
        hub_tier[h] = t

    # y: envelope piece → node
    y_piece, y_node, y_level = [], [], []
    for rank in range(len(LEVELS)):
        has = {int(gi) for gi, lv in zip(node_group, node_level) if lv == rank}
        if not has:
            continue
        sel = np.flatnonzero(np.isin(piece_group, list(has)))
        y_piece.append(sel)
        y_level.append(np.full(len(sel), rank))
        y_node.append(np.array([node_id[(int(piece_group[b]), rank)] for b in sel], np.int64))
    y_piece = np.concatenate(y_piece) if y_piece else np.zeros(0, np.int64)
    y_level = np.concatenate(y_level) if y_level else np.zeros(0, np.int64)
    y_node = np.concatenate(y_node) if y_node else np.zeros(0, np.int64)
    y_tier = g.tier[piece_group[y_piece]]
    y_gain = piece_value[y_piece] * np.array([factor[(int(t), int(lv))] for t, lv in zip(y_tier, y_level)])

    # z: node → current manager (level matches)
    z_node, z_cost = [], []
    for i, (gi, lv) in enumerate(zip(node_group, node_level)):
        cur = g.cur[gi]
        if cur >= 0 and p.m_level[cur] == lv:
            z_node.append(i)
            z_cost.append(rules.region_cost if p.m_region[cur] != g.region[gi] else 0.0)
    z_node = np.asarray(z_node, np.int64)
    z_cost = np.asarray(z_cost, float)

    # w: node → hub (tier, region', level)
    w_node, w_hub, w_cost = [], [], []
    for i, (gi, lv) in enumerate(zip(node_group, node_level)):
        t, r = int(g.tier[gi]), int(g.region[gi])
        regions = [r] if rules.region == "hard" else range(n_regions)
        for r2 in regions:
            hub = hub_key.get((t, r2, int(lv)))
            if hub is None:
                continue
            w_node.append(i)
            w_hub.append(hub)
            w_cost.append(rules.region_cost if r2 != r else 0.0)
    w_node = np.asarray(w_node, np.int64)
    w_hub = np.asarray(w_hub, np.int64)
    w_cost = np.asarray(w_cost, float) + _switch_cost_of_nodes(g, node_group, w_node, rules)

    ny, nz, nw, nq = len(y_piece), len(z_node), len(w_node), len(q_hub)
    y_var = np.arange(ny)
    z_var = ny + np.arange(nz)
    w_var = ny + nz + np.arange(nw)
    q_var = ny + nz + nw + np.arange(nq)
    n_vars = ny + nz + nw + nq
    cost = np.concatenate([-y_gain, z_cost, w_cost, np.zeros(nq)])

    # equalities: node balance (y in − z out − w out = 0), hub balance (w in − q out = 0)
    n_nodes, n_hubs = len(node_group), len(hub_key)
    rows = np.concatenate([y_node, z_node, w_node, n_nodes + w_hub, n_nodes + q_hub])
    cols = np.concatenate([y_var, z_var, w_var, w_var, q_var])
    vals = np.concatenate([np.ones(ny), -np.ones(nz), -np.ones(nw), np.ones(nw), -np.ones(nq)])
    a_eq = sp.csr_matrix((vals, (rows, cols)), shape=(n_nodes + n_hubs, n_vars))

    # inequalities: piece supply; manager hours; manager accounts
    n_pieces = len(piece_band)
    z_mgr = g.cur[node_group[z_node]] if nz else np.zeros(0, np.int64)
    z_hours = np.array([hours[int(t)] for t in g.tier[node_group[z_node]]]) if nz else np.zeros(0)
    q_hours = np.array([hours[int(t)] for t in hub_tier[q_hub]]) if nq else np.zeros(0)
    n_mgr = len(p.mgr)
    acc = p.mgr["max_accounts"].to_numpy(float)
    has_acc = np.isfinite(acc)
    account_rows = np.full(n_mgr, -1)
    account_rows[has_acc] = n_pieces + n_mgr + np.arange(has_acc.sum())
    hours_rows = n_pieces + np.arange(n_mgr)
    rows = [y_piece, hours_rows[z_mgr], hours_rows[q_mgr]]
    cols = [y_var, z_var, q_var]
    vals = [np.ones(ny), z_hours, q_hours]
    za, qa = account_rows[z_mgr] >= 0, account_rows[q_mgr] >= 0
    rows += [account_rows[z_mgr][za], account_rows[q_mgr][qa]]
    cols += [z_var[za], q_var[qa]]
    vals += [np.ones(za.sum()), np.ones(qa.sum())]
    n_ub = n_pieces + n_mgr + int(has_acc.sum())
    a_ub = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                         shape=(n_ub, n_vars))
    b_ub = np.concatenate([piece_cap, p.mgr["hours"].to_numpy(float), acc[has_acc]])
    return _Network(
        n_vars=n_vars, cost=cost, a_eq=a_eq, a_ub=a_ub, b_ub=b_ub, hours_rows=hours_rows,
        account_rows=account_rows, band_start=band_start, band_group=band_group,
        y_level=y_level, y_node=y_node, z_node=z_node, z_var=z_var,
        w_node=w_node, w_hub=w_hub, w_var=w_var, q_hub=q_hub, q_mgr=q_mgr, q_var=q_var,
        node_group=node_group, node_level=node_level, hub_tier=hub_tier, y_var=y_var,
    )


def _envelope_pieces(values_sorted: np.ndarray, band_start: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each band as one or two pieces (band, capacity, value per customer) of a concave upper envelope.

    Serving the best ``n`` of a band's ``k`` customers (values v₁ ≥ … ≥ v_k, sum S) keeps
    H(n) ≤ min(v₁·n, S − (k − n)·v_k): the two tangents of the concave prefix sum at the band's ends,
    which meet at n* = (S − k·v_k) / (v₁ − v_k). So the pieces "n* customers at v₁" and "k − n* at v_k"
    never value a band below its customers (the network is a relaxation: its optimum bounds the
    assignment's), and they are exact at n = 0 and n = k. A band of equal values is one piece.
    """
    band_end = np.append(band_start[1:], len(values_sorted)).astype(np.int64)
    count = (band_end - band_start).astype(float)
    csum = np.concatenate([[0.0], np.cumsum(values_sorted)])
    total = csum[band_end] - csum[band_start]
    first = values_sorted[band_start] if len(band_start) else np.zeros(0)
    last = values_sorted[band_end - 1] if len(band_start) else np.zeros(0)
    spread = first - last
    split = spread > 1e-12 * np.maximum(np.abs(first), 1.0)
    knee = np.where(split, (total - count * last) / np.where(split, spread, 1.0), count)
    knee = np.clip(knee, 0.0, count)
    rest = split & (count - knee > 1e-12)
    bands = np.arange(len(band_start))
    return (np.concatenate([bands, bands[rest]]),
            np.concatenate([knee, (count - knee)[rest]]),
            np.concatenate([np.where(split, first, total / np.maximum(count, 1.0)), last[rest]]))


def _switch_cost_of_nodes(g: _Groups, node_group: np.ndarray, w_node: np.ndarray,
                          rules: AssignmentRules) -> np.ndarray:
    """σ on every arc to a hub of a group whose customers have a current manager (allowed or not)."""
    return np.where(g.cur[node_group[w_node]] != _NONE, rules.switching_cost, 0.0)


@dataclass
class _Solved:
    """Integer flows of the network, how they were found and an upper bound of the optimum."""

    flows: np.ndarray
    status: str
    bound: float  # ≥ the assignment problem's optimum (the network is a relaxation of it)
    relaxed: float  # the network's LP optimum
    stopped: bool = False  # the MILP ran out of time: its bound holds, its solution may not be optimal


def _relaxation(net: _Network, rules: AssignmentRules) -> optimize.OptimizeResult:
    """The network's LP optimum (HiGHS); ``x`` is empty for an empty network."""
    if net.n_vars == 0:
        return optimize.OptimizeResult(x=np.zeros(0), fun=0.0)
    lp = linprog(net.cost, A_ub=net.a_ub, b_ub=net.b_ub, A_eq=net.a_eq, b_eq=np.zeros(net.a_eq.shape[0]),
                 bounds=(0, None), method="highs", options={"time_limit": rules.time_limit})
    if lp.status != 0 or lp.x is None:
        raise AssignmentError(f"assignment: the LP solver stopped without an optimum ({lp.message})")
    return lp


def _integral(net: _Network, lp: optimize.OptimizeResult, rules: AssignmentRules, seconds: float) -> _Solved:
    """Integer flows on the manager arcs (the pieces' flows may stay fractional: any integer count of
    a node is then split over its pieces at the envelope's values).

    Up to ``milp_max_variables`` variables the MILP is solved by HiGHS branch and bound to the relative
    gap ``mip_gap`` within ``seconds``; its dual bound bounds the optimum. A MILP stopped by the time
    keeps the better of its solution and the rounded LP's. Larger networks, or a MILP without a
    solution, take the LP optimum rounded down (every capacity still holds), refilled on what is left;
    the LP optimum is then the bound.
    """
    if net.n_vars == 0:
        return _Solved(np.zeros(0), "lp", 0.0, 0.0)
    relaxed = float(-lp.fun)
    arcs = np.concatenate([net.z_var, net.w_var, net.q_var])
    if np.abs(lp.x[arcs] - np.round(lp.x[arcs])).max(initial=0.0) <= 1e-6:
        return _Solved(_whole(net, lp.x), "lp", relaxed, relaxed)
    if net.n_vars <= rules.milp_max_variables and seconds > 0:
        integrality = np.zeros(net.n_vars)
        integrality[arcs] = 1
        found = milp(
            net.cost,
            constraints=[LinearConstraint(net.a_ub, -np.inf, net.b_ub), LinearConstraint(net.a_eq, 0.0, 0.0)],
            integrality=integrality, bounds=Bounds(0, np.inf),
            options={"time_limit": seconds, "mip_rel_gap": rules.mip_gap},
        )
        if found.x is not None:
            bound = min(relaxed, float(-found.mip_dual_bound)) if found.mip_dual_bound is not None else relaxed
            flows = _whole(net, found.x)
            if found.status == 0:
                return _Solved(flows, "milp", bound, relaxed)
            rounded = _rounded(net, lp.x, rules)
            if net.cost @ rounded < net.cost @ flows:
                flows = rounded
            return _Solved(flows, f"milp ({found.message})", bound, relaxed, stopped=True)
    return _Solved(_rounded(net, lp.x, rules), "lp, rounded", relaxed, relaxed)


def _whole(net: _Network, x: np.ndarray) -> np.ndarray:
    """Flows with the manager arcs at their (integral) values and each node's piece flows summing to
    the integer number of customers it sends on."""
    out = x.copy()
    arcs = np.concatenate([net.z_var, net.w_var, net.q_var])
    out[arcs] = np.round(x[arcs])
    node_out = (np.bincount(net.z_node, weights=out[net.z_var], minlength=len(net.node_group))
                + np.bincount(net.w_node, weights=out[net.w_var], minlength=len(net.node_group)))
    node_in = np.bincount(net.y_node, weights=out[net.y_var], minlength=len(net.node_group))
    for node in np.flatnonzero(np.abs(node_out - node_in) > 1e-9):
        arcs_in = np.flatnonzero(net.y_node == node)
        out[net.y_var[arcs_in[0]]] += node_out[node] - node_in[node]  # the decomposition reads totals
    return out


def _fill_points(g: _Groups, net: _Network, flows: np.ndarray, rules: AssignmentRules) -> np.ndarray:
    """Positions (in the groups' value order) where a group's customers pass from one level to the next
    (or to none) in the flows: the envelope is exact there only when a band starts there."""
    node_in = np.bincount(net.y_node, weights=flows[net.y_var], minlength=len(net.node_group))
    points = []
    for gi, nodes in _nodes_by_factor(g, net, rules).items():
        pos, end = float(g.starts[gi]), int(g.starts[gi + 1])
        for i in nodes:
            pos += node_in[i]
            if pos >= end - 1e-6:
                break
            points += [math.floor(pos + 1e-6), math.ceil(pos - 1e-6)]  # both sides of an LP's fraction
    return np.unique(np.asarray(points, np.int64))


def _inexact(points: np.ndarray, band_start: np.ndarray, values_sorted: np.ndarray,
             parts: int = _SPLIT_PARTS) -> np.ndarray:
    """New band starts where the solution passes inside a band of unequal values (where the envelope
    overstates the gain): the point itself and ``parts`` equal parts of its band, so that a pass
    point that moves within the band on the next solve is soon at a band end as well."""
    points = np.setdiff1d(points, band_start)
    band = np.searchsorted(band_start, points, side="right") - 1
    band_end = np.append(band_start[1:], len(values_sorted))
    inexact = values_sorted[band_start[band]] != values_sorted[band_end[band] - 1]
    points, band = points[inexact], np.unique(band[inexact])
    size = band_end[band] - band_start[band]
    split = [band_start[band] + (size * k) // parts for k in range(1, parts)]
    return np.setdiff1d(np.concatenate([points, *split]).astype(np.int64), band_start)


def _nodes_by_factor(g: _Groups, net: _Network, rules: AssignmentRules) -> dict[int, list[int]]:
    """Each group's (group, level) nodes, in decreasing factor: the order its customers, by value, fill them."""
    nodes_of_group: dict[int, list[int]] = {}
    for i, gi in enumerate(net.node_group):
        nodes_of_group.setdefault(int(gi), []).append(i)
    for gi, nodes in nodes_of_group.items():
        t = int(g.tier[gi])
        nodes.sort(key=lambda i: (-rules.factor(t, LEVELS[net.node_level[i]]), net.node_level[i]))
    return nodes_of_group


def _rounded(net: _Network, x: np.ndarray, rules: AssignmentRules, passes: int = 3) -> np.ndarray:
    """The LP flows rounded down, then the LP solved again on what is left (supplies, hours, accounts)
    and rounded down again, ``passes`` times: each pass places customers the previous one cut."""
    flows = _round_down(net, x)
    for _ in range(passes):
        residual = np.maximum(net.b_ub - net.a_ub @ flows, 0.0)
        res = linprog(net.cost, A_ub=net.a_ub, b_ub=residual, A_eq=net.a_eq, b_eq=np.zeros(net.a_eq.shape[0]),
                      bounds=(0, None), method="highs", options={"time_limit": rules.time_limit})
        if res.status != 0 or res.x is None or -res.fun < 1e-9:
            break
        more = _round_down(net, res.x)
        if not more.any():
            break
        flows = flows + more
    return flows


def _round_down(net: _Network, x: np.ndarray) -> np.ndarray:
    """Integer flows below the LP's: managers' arcs rounded down, each hub's inflows cut to its outflow
    (least valuable first), and each (group, level) node's inflow set to its outflow."""
    out = np.zeros_like(x)
    eps = 1e-6
    out[net.q_var] = np.floor(x[net.q_var] + eps)
    out[net.z_var] = np.floor(x[net.z_var] + eps)
    w = np.floor(x[net.w_var] + eps)
    hub_cap = np.bincount(net.q_hub, weights=out[net.q_var], minlength=len(net.hub_tier))
    hub_in = np.bincount(net.w_hub, weights=w, minlength=len(net.hub_tier))
    over = np.flatnonzero(hub_in > hub_cap + eps)
    if len(over):
        # cut the costliest inflows first (cost of the arc = region and switching costs)
        w_cost = net.cost[net.w_var]
        for hub in over:
            arcs = np.flatnonzero(net.w_hub == hub)
            arcs = arcs[np.argsort(-w_cost[arcs], kind="stable")]
            excess = hub_in[hub] - hub_cap[hub]
            for a in arcs:
                cut = min(w[a], excess)
                w[a] -= cut
                excess -= cut
                if excess <= eps:
                    break
    out[net.w_var] = w
    # and each hub's outflows cut to its inflow, so the flows balance and their loads are exact
    hub_in = np.bincount(net.w_hub, weights=w, minlength=len(net.hub_tier))
    hub_out = np.bincount(net.q_hub, weights=out[net.q_var], minlength=len(net.hub_tier))
    for hub in np.flatnonzero(hub_out > hub_in + eps):
        excess = hub_out[hub] - hub_in[hub]
        for a in np.flatnonzero(net.q_hub == hub)[::-1]:
            cut = min(out[net.q_var[a]], excess)
            out[net.q_var[a]] -= cut
            excess -= cut
            if excess <= eps:
                break
    # node inflow = outflow; spread over the node's bands in band order (the decomposition uses totals)
    node_out = (np.bincount(net.z_node, weights=out[net.z_var], minlength=len(net.node_group))
                + np.bincount(net.w_node, weights=w, minlength=len(net.node_group)))
    y = np.floor(x[net.y_var] + eps)
    node_in = np.bincount(net.y_node, weights=y, minlength=len(net.node_group))
    short = node_out - node_in
    for node in np.flatnonzero(np.abs(short) > eps):
        arcs = np.flatnonzero(net.y_node == node)
        y[arcs[0]] += short[node]  # totals per node are what the decomposition reads
    out[net.y_var] = y
    return out


def _decompose(p: _Problem, g: _Groups, net: _Network, flows: np.ndarray,
               rules: AssignmentRules) -> np.ndarray:
    """Each customer's manager (index, or _NONE) from the flows: greedy by value within each group."""
    assigned = np.full(len(p.cust), _NONE, dtype=np.int64)
    if not len(flows):
        return assigned
    n_nodes = len(net.node_group)
    # a node's pieces may carry fractions of customers; their sum is whole
    node_in = np.rint(np.bincount(net.y_node, weights=flows[net.y_var], minlength=n_nodes)).astype(np.int64)
    z = np.rint(flows[net.z_var]).astype(np.int64)
    w = np.rint(flows[net.w_var]).astype(np.int64)
    q = np.rint(flows[net.q_var]).astype(np.int64)

    # each hub's outflow: managers and how many customers each still takes from it
    hub_left: dict[int, dict[int, int]] = {}
    for hub, m, count in zip(net.q_hub[q > 0], net.q_mgr[q > 0], q[q > 0]):
        hub_left.setdefault(int(hub), {})[int(m)] = int(count)
    z_of_node = dict(zip(net.z_node.tolist(), z.tolist()))
    w_by_node: dict[int, list[tuple[int, int]]] = {}
    for node, hub, count in zip(net.w_node[w > 0], net.w_hub[w > 0], w[w > 0]):
        w_by_node.setdefault(int(node), []).append((int(hub), int(count)))
    # first, a group's customers sent through a hub that reaches their current manager stay with
    # them: the same flows, with no needless handover (several optima differ only in this)
    back: dict[tuple[int, int], int] = {}
    for node, arcs in w_by_node.items():
        cur = int(g.cur[net.node_group[node]])
        for hub, count in arcs:
            take = min(count, hub_left[hub].get(cur, 0)) if cur >= 0 else 0
            if take:
                back[(node, hub)] = take
                hub_left[hub][cur] -= take

    for gi, nodes in _nodes_by_factor(g, net, rules).items():
        pos = int(g.starts[gi])
        for i in nodes:
            n_here = int(node_in[i])
            if n_here <= 0:
                continue
            block = g.order[pos:pos + n_here]
            pos += n_here
            k = z_of_node.get(i, 0) + sum(back.get((i, hub), 0) for hub, _ in w_by_node.get(i, []))
            assigned[block[:k]] = g.cur[gi]
            for hub, count in w_by_node.get(i, []):
                count -= back.get((i, hub), 0)
                left = hub_left[hub]
                for m in list(left):
                    if count <= 0:
                        break
                    take = min(left[m], count)
                    assigned[block[k:k + take]] = m
                    k += take
                    count -= take
                    left[m] -= take
                    if left[m] == 0:
                        del left[m]
    return assigned


def _tier_hours(p: _Problem, rules: AssignmentRules) -> np.ndarray:
    """Manager hours each customer takes (0 for tiers served without staff)."""
    table = np.zeros(int(p.c_tier.max(initial=0)) + 1)
    for t in rules.staffed_tiers:
        if 0 <= t < len(table):
            table[t] = rules.hours_per_customer[t]
    return table[np.maximum(p.c_tier, 0)]


def _allowed_table(p: _Problem, rules: AssignmentRules, *, stay: bool = False) -> np.ndarray:
    """allowed[tier, level rank]: whether the level may serve the tier (``stay``: keep serving it)."""
    table = np.zeros((int(p.c_tier.max(initial=0)) + 1, len(LEVELS)), bool)
    for t in rules.staffed_tiers:
        if 0 <= t < len(table):
            for level in (rules.stay_levels(t) if stay else rules.allowed_levels(t)):
                table[t, _RANK[level]] = True
    return table


def _fill(p: _Problem, assigned: np.ndarray, rules: AssignmentRules) -> np.ndarray:
    """Unserved staffed customers placed where room is left, the best net gain first."""
    h = _tier_hours(p, rules)
    served = assigned != _NONE
    room_h = p.mgr["hours"].to_numpy(float) - np.bincount(assigned[served], weights=h[served], minlength=len(p.mgr))
    acc = p.mgr["max_accounts"].to_numpy(float)
    room_a = np.where(np.isfinite(acc), acc, np.inf) - np.bincount(assigned[served], minlength=len(p.mgr))
    waiting = np.flatnonzero(p.staffed & ~served)
    if not len(waiting):
        return assigned
    min_h = min(rules.hours_per_customer[t] for t in rules.staffed_tiers)
    allowed = _allowed_table(p, rules)
    for m in np.flatnonzero((room_h >= min_h - 1e-9) & (room_a >= 1)):
        ok = allowed[p.c_tier[waiting], p.m_level[m]]
        if rules.region == "hard":
            ok &= p.c_region[waiting] == p.m_region[m]
        cand = waiting[ok & (assigned[waiting] == _NONE)]
        if not len(cand):
            continue
        trial = np.full(len(cand), m)
        sub = _Problem(p.cust, p.mgr, p.region_codes, p.c_region[cand], p.c_cur[cand], p.c_tier[cand],
                       p.c_value[cand], p.m_region, p.m_level, p.staffed[cand])
        net_gain = _gains(sub, trial, rules) - _customer_costs(sub, trial, rules)
        for i in np.argsort(-net_gain, kind="stable"):
            if net_gain[i] <= 0 or room_a[m] < 1 or room_h[m] < min_h - 1e-9:
                break
            c = cand[i]
            if h[c] <= room_h[m] + 1e-9:
                assigned[c] = m
                room_h[m] -= h[c]
                room_a[m] -= 1
    return assigned


def _customer_costs(p: _Problem, assigned: np.ndarray, rules: AssignmentRules) -> np.ndarray:
    served = assigned != _NONE
    cost = np.zeros(len(assigned))
    m = assigned[served]
    cost[served] += np.where(p.m_region[m] != p.c_region[served], rules.region_cost, 0.0)
    cur = p.c_cur[served]
    cost[served] += np.where((cur != _NONE) & (cur != m), rules.switching_cost, 0.0)
    return cost


def _gains(p: _Problem, assigned: np.ndarray, rules: AssignmentRules) -> np.ndarray:
    gain = np.zeros(len(assigned))
    served = np.flatnonzero(assigned != _NONE)
    if not len(served):
        return gain
    f = np.zeros((int(p.c_tier.max()) + 1, len(LEVELS)))
    for t in rules.staffed_tiers:
        if t < f.shape[0]:
            for lv in rules.stay_levels(t):
                f[t, _RANK[lv]] = rules.factor(t, lv)
    gain[served] = p.c_value[served] * f[p.c_tier[served], p.m_level[assigned[served]]]
    return gain


def _objective(p: _Problem, assigned: np.ndarray, rules: AssignmentRules) -> float:
    return float((_gains(p, assigned, rules) - _customer_costs(p, assigned, rules)).sum())


def evaluate_assignment(customers: pd.DataFrame, managers: pd.DataFrame, rules: AssignmentRules,
                        manager_of: pd.Series | np.ndarray) -> dict[str, Any]:
    """Objective and feasibility of any given assignment (``manager_of``: a manager_id or missing per
    customer, in the customers' order): ``{"objective": ..., "feasible": ...}``, feasible meaning the
    level and region rules and every manager's hours and account limit hold."""
    p = _encode(customers, managers, rules)
    ids = pd.Index(p.mgr["manager_id"])
    raw = pd.Series(np.asarray(manager_of, dtype=object))
    missing = raw.isna().to_numpy()
    assigned = np.full(len(raw), _NONE, dtype=np.int64)
    assigned[~missing] = ids.get_indexer(raw[~missing])
    if (assigned[~missing] < 0).any():
        raise AssignmentError("evaluate_assignment: a manager_of entry names no manager of the managers table")
    return {
        "objective": _objective(p, assigned, rules),
        "feasible": bool(_feasible(p, assigned, rules)),
    }


def _feasible(p: _Problem, assigned: np.ndarray, rules: AssignmentRules) -> bool:
    served = np.flatnonzero(assigned != _NONE)
    m = assigned[served]
    tier, level = p.c_tier[served], p.m_level[m]
    kept = m == p.c_cur[served]
    if not np.where(kept, _allowed_table(p, rules, stay=True)[tier, level], _allowed_table(p, rules)[tier, level]).all():
        return False
    if rules.region == "hard" and (p.m_region[m] != p.c_region[served]).any():
        return False
    h = _tier_hours(p, rules)[served]
    used = np.bincount(m, weights=h, minlength=len(p.mgr))
    count = np.bincount(m, minlength=len(p.mgr))
    acc = p.mgr["max_accounts"].to_numpy(float)
    return bool((used <= p.mgr["hours"].to_numpy() + 1e-9).all()
                and (~np.isfinite(acc) | (count <= acc + 1e-9)).all())


def _best_costs(p: _Problem, g: _Groups, rules: AssignmentRules, lam: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """Per group (rows) and level (columns) the cheapest reach of a manager: cost + h λ + μ; inf if none."""
    n_groups = len(g.tier)
    n_regions = len(p.region_codes)
    had = g.cur != _NONE
    best = np.full((n_groups, len(LEVELS)), np.inf)
    tiers = sorted(set(int(t) for t in g.tier))
    for t in tiers:
        h = rules.hours_per_customer[t]
        price = h * lam + mu
        allowed = [_RANK[lv] for lv in rules.allowed_levels(t)]
        # cheapest manager per (region, level)
        cheapest = np.full((n_regions, len(LEVELS)), np.inf)
        np.minimum.at(cheapest, (p.m_region, p.m_level), price)
        cheapest[:, [lv for lv in range(len(LEVELS)) if lv not in allowed]] = np.inf  # reached by a stay only
        sel = np.flatnonzero(g.tier == t)
        for lv in (_RANK[level] for level in rules.stay_levels(t)):
            own = cheapest[g.region[sel], lv]
            if rules.region == "preference" and n_regions > 1:
                other = np.full(len(sel), np.inf)
                for r2 in range(n_regions):
                    other = np.where(g.region[sel] != r2, np.minimum(other, cheapest[r2, lv] + rules.region_cost),
                                     other)
                own = np.minimum(own, other)
            reach = own + np.where(had[sel], rules.switching_cost, 0.0)
            cur = g.cur[sel]
            has = cur >= 0
            stay = np.full(len(sel), np.inf)
            cur_ok = has & (p.m_level[np.maximum(cur, 0)] == lv) if len(p.m_level) else has
            stay[cur_ok] = price[cur[cur_ok]] + np.where(
                p.m_region[cur[cur_ok]] != g.region[sel][cur_ok], rules.region_cost, 0.0)
            best[sel, lv] = np.minimum(reach, stay)
    return best


def _best_profits(p: _Problem, g: _Groups, rules: AssignmentRules, lam: np.ndarray,
                  mu: np.ndarray) -> np.ndarray:
    """Per staffed customer (in the groups' order) max(0, max_m [gain − cost − h λ_m − μ_m])."""
    if not len(g.tier):
        return np.zeros(0)
    best = _best_costs(p, g, rules, lam, mu)
    group_of = np.repeat(np.arange(len(g.tier)), np.diff(g.starts))
    v = p.c_value[g.order]
    f = np.zeros((len(g.tier), len(LEVELS)))
    for gi_t in sorted(set(int(t) for t in g.tier)):
        sel = g.tier == gi_t
        for lv in rules.stay_levels(gi_t):
            f[sel, _RANK[lv]] = rules.factor(gi_t, lv)
    profit = np.zeros(len(v))
    for lv in range(len(LEVELS)):
        fin = np.isfinite(best[group_of, lv])
        term = np.where(fin, v * f[group_of, lv] - np.where(fin, best[group_of, lv], 0.0), -np.inf)
        profit = np.maximum(profit, term)
    return profit


# --------------------------------------------------------------------------------------------------
# outputs


def _assignment_table(p: _Problem, assigned: np.ndarray, rules: AssignmentRules,
                      worth: np.ndarray) -> pd.DataFrame:
    n = len(p.cust)
    code = {reason: k for k, reason in enumerate(REASONS)}
    cur = p.c_cur
    served = assigned != _NONE
    reason = np.full(n, code["unassigned_no_capacity"])
    reason[~p.staffed] = code["pooled_by_playbook"]
    # staffed without any manager of an allowed level in reach
    reach = np.zeros(n, bool)
    for t in rules.staffed_tiers:
        allowed = [_RANK[lv] for lv in rules.allowed_levels(t)]
        ok_mgr = np.isin(p.m_level, allowed)
        regions_ok = np.zeros(len(p.region_codes), bool)
        regions_ok[p.m_region[ok_mgr]] = True
        sel = p.c_tier == t
        reach[sel] = regions_ok[p.c_region[sel]] if rules.region == "hard" else ok_mgr.any()
    reason[p.staffed & ~served & reach & ~worth] = code["unassigned_no_value"]
    reason[p.staffed & ~served & ~reach] = code["unassigned_no_manager"]
    had = cur != _NONE
    known = np.asarray(~p.cust["current_manager"].isna())
    reason[served & ~known] = code["assigned_new"]
    reason[served & known & ~had] = code["moved_manager_left"]
    kept = served & had & (assigned == cur)
    reason[kept] = code["kept"]
    moved = served & had & (assigned != cur)
    if moved.any():
        tier_ok = np.zeros(n, bool)
        for t in rules.staffed_tiers:
            allowed = [_RANK[lv] for lv in rules.stay_levels(t)]
            sel = had & (p.c_tier == t)
            tier_ok[sel] = np.isin(p.m_level[cur[sel]], allowed)
        region_ok = np.ones(n, bool)
        if rules.region == "hard":
            region_ok[had] = p.m_region[cur[had]] == p.c_region[had]
        # room left at the current manager after the assignment
        h = _tier_hours(p, rules)
        used = np.bincount(assigned[served], weights=h[served], minlength=len(p.mgr))
        count = np.bincount(assigned[served], minlength=len(p.mgr))
        acc = p.mgr["max_accounts"].to_numpy(float)
        room_h = p.mgr["hours"].to_numpy(float) - used
        room_a = np.where(np.isfinite(acc), acc - count, np.inf)
        c_safe = np.maximum(cur, 0)
        full = (room_h[c_safe] < h - 1e-9) | (room_a[c_safe] < 1)
        reason[moved & ~tier_ok] = code["moved_level"]
        reason[moved & tier_ok & ~region_ok] = code["moved_region"]
        reason[moved & tier_ok & region_ok & full] = code["moved_capacity"]
        reason[moved & tier_ok & region_ok & ~full] = code["moved_value"]
    # unassigned customers who had a manager lose them for capacity (or reach) reasons: keep codes
    current_id = p.cust["current_manager"]
    if current_id.dtype != "str":
        current_id = current_id.astype(object).where(current_id.notna(), None)
    level = np.full(n, _NONE)
    level[served] = p.m_level[assigned[served]]
    gain = _gains(p, assigned, rules)
    cost = _customer_costs(p, assigned, rules)
    return pd.DataFrame({
        "customer_id": p.cust["customer_id"].array,
        "tier": p.c_tier,
        "region": p.cust["region"].array,
        "value": p.c_value,
        "current_manager": current_id.array,
        "recommended_manager": _labels(p.mgr["manager_id"].astype(str), assigned),  # _NONE: missing
        "recommended_level": _labels(LEVELS, level),
        "reason": _labels(REASONS, reason),
        "expected_gain": gain,
        "cost": cost,
    })


def _labels(labels: Sequence[str] | pd.Series, codes: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """``labels[code]`` of each row as text (code < 0: missing), taken by Arrow: no Python string per row."""
    taken = pa.array(list(labels), type=pa.string()).take(pa.array(codes, mask=codes < 0))
    return pd.array(taken, dtype="str")


def _manager_loads(p: _Problem, assigned: np.ndarray, rules: AssignmentRules) -> pd.DataFrame:
    h = _tier_hours(p, rules)
    n_mgr = len(p.mgr)
    before = (p.c_cur != _NONE) & p.staffed
    after = assigned != _NONE
    out = p.mgr[["manager_id", "level", "region", "hours", "max_accounts"]].rename(
        columns={"hours": "hours_available"}).copy()
    out["accounts_before"] = np.bincount(p.c_cur[before], minlength=n_mgr)
    out["hours_before"] = np.bincount(p.c_cur[before], weights=h[before], minlength=n_mgr)
    out["accounts_after"] = np.bincount(assigned[after], minlength=n_mgr)
    out["hours_after"] = np.bincount(assigned[after], weights=h[after], minlength=n_mgr)
    avail = out["hours_available"].to_numpy(float)
    out["utilisation_after"] = np.where(avail > 0, out["hours_after"] / np.where(avail > 0, avail, 1.0), np.nan)
    return out


# --------------------------------------------------------------------------------------------------
# the capacity plan


@dataclass(frozen=True)
class CapacityPlan:
    """``options``: one row per priced option; ``recommended``: its index or None; ``note``: message."""

    options: pd.DataFrame
    recommended: int | None
    note: Message
    binding: bool


def capacity_plan(
    customers: pd.DataFrame,
    managers: pd.DataFrame,
    rules: AssignmentRules,
    result: AssignmentResult | None = None,
    *,
    max_rounds: int = 4,
    new_manager_hours: float | None = None,
) -> CapacityPlan:
    """Options when capacity binds: (a) more managers per level, (b) a lower cadence for some tiers.

    A third row, ``as_is``, prices leaving the unserved customers with the pooled service: when it
    costs less than every option that serves them (a lower cadence costs uplift on every customer of
    the tier; a manager costs ``manager_cost``), it is the recommendation.

    Each option row: option (``add_managers`` / ``lower_cadence`` / ``as_is``), detail (the levels and counts or
    the tiers and factor), managers_added, cadence_factor, tiers, value (objective after the option),
    value_lost (against unlimited capacity), extra_cost (the managers' ``manager_cost``), total_cost
    (value_lost + extra_cost), unassigned (staffed customers still unserved), fits.

    A new manager has the median hours and account limit of the managers of its level (of all
    managers when the level has none); ``new_manager_hours`` sets the hours instead, and is needed
    when there are no managers at all.
    """
    result = result or solve_assignment(customers, managers, rules)
    s = result.summary
    unserved = result.assignments["reason"].isin(_UNSERVED)
    binding = bool(unserved.any())
    if not binding:
        return CapacityPlan(pd.DataFrame(columns=_PLAN_COLUMNS), None,
                            message("assignment_plan_fits", customers=s["staffed_customers"]), False)
    reference = s["value_unconstrained"]
    rows = [_option_add_managers(customers, managers, rules, result, reference, max_rounds, new_manager_hours)]
    cadence = _option_lower_cadence(customers, managers, rules, result)
    if cadence is not None:
        rows.append(cadence)
    rows.append({"option": "as_is", "managers_added": {lv: 0 for lv in LEVELS}, "cadence_factor": 1.0,
                 "tiers": [], "value": s["objective"], "value_lost": s["value_lost"], "extra_cost": 0.0,
                 "total_cost": s["value_lost"], "unassigned": int(unserved.sum()), "fits": False})
    options = pd.DataFrame(rows, columns=_PLAN_COLUMNS)
    fitting = options.index[options["fits"]]
    if not len(fitting):
        return CapacityPlan(options, None, message("assignment_plan_none", unassigned=int(unserved.sum())), True)
    best = int(options.loc[fitting, "total_cost"].idxmin())
    as_is = int(options.index[options["option"] == "as_is"][0])
    if options.loc[as_is, "total_cost"] < options.loc[best, "total_cost"]:
        best = as_is
    row = options.loc[best]
    if row["option"] == "as_is":
        cheapest = options.loc[fitting, "total_cost"].min()
        note = message("assignment_plan_as_is", unassigned=int(unserved.sum()), value_lost=float(row["value_lost"]),
                       cheapest=float(cheapest))
    elif row["option"] == "add_managers":
        counts = joined(message("assignment_plan_level_count", count=int(k), staff=message(f"playbook_staff_{lv}"))
                        for lv, k in row["managers_added"].items() if k > 0)
        note = message("assignment_plan_add", managers=counts, value_lost=float(row["value_lost"]),
                       extra_cost=float(row["extra_cost"]), unassigned=int(unserved.sum()))
    else:
        note = message("assignment_plan_cadence", tiers=joined(tier_ref(t) for t in row["tiers"]),
                       reduction=1.0 - float(row["cadence_factor"]), value_lost=float(row["value_lost"]),
                       unassigned=int(unserved.sum()))
    return CapacityPlan(options, best, note, True)


_UNSERVED = ("unassigned_no_capacity", "unassigned_no_manager")
_PLAN_COLUMNS = ["option", "managers_added", "cadence_factor", "tiers", "value", "value_lost",
                 "extra_cost", "total_cost", "unassigned", "fits"]


def _option_add_managers(customers: pd.DataFrame, managers: pd.DataFrame, rules: AssignmentRules,
                         result: AssignmentResult, reference: float, max_rounds: int,
                         new_manager_hours: float | None) -> dict[str, Any]:
    """The fewest managers per level (and region, with the hard rule) that serve every staffed customer."""
    mgr = _prepare_managers(managers)

    def typical(level: str) -> tuple[float, float]:
        same = mgr[mgr["level"] == level]
        pool = same if len(same) else mgr
        hours = new_manager_hours if new_manager_hours is not None else float(pool["hours"].median())
        if not (isinstance(hours, (int, float)) and math.isfinite(hours) and hours > 0):
            raise AssignmentError(
                "capacity plan: there are no managers to size a new one on; pass new_manager_hours "
                "(hours per month of a new manager)")
        return float(hours), float(pool["max_accounts"].median()) if len(pool) else math.nan

    added: dict[tuple[str, str], int] = {}
    current = result
    for _ in range(max_rounds):
        unserved = current.assignments[current.assignments["reason"].isin(_UNSERVED)]
        if unserved.empty:
            break
        need = unserved.assign(
            level=unserved["tier"].map(rules.required_level),
            hours=unserved["tier"].map(rules.hours_per_customer).astype(float),
            region=unserved["region"] if rules.region == "hard" else "*",
        ).groupby(["level", "region"]).agg(hours=("hours", "sum"), accounts=("hours", "size"))
        for (level, region), row in need.iterrows():
            typical_h, typical_a = typical(level)
            k = math.ceil(row["hours"] / typical_h - 1e-9)
            if math.isfinite(typical_a) and typical_a > 0:
                k = max(k, math.ceil(row["accounts"] / typical_a - 1e-9))
            added[(level, region)] = added.get((level, region), 0) + max(k, 1)
        rows = []
        for (level, region), k in added.items():
            typical_h, typical_a = typical(level)
            where = region if region != "*" else _busiest_region(result, level, rules)
            rows += [{"manager_id": f"new-{level}-{where}-{i + 1}", "level": level, "region": where,
                      "hours": typical_h, "max_accounts": typical_a} for i in range(k)]
        # a later round adds a few managers to the last: its splits start this round's (the first
        # round's problem, with every shortage filled, is far from the original's)
        current = solve_assignment(customers, pd.concat([mgr, pd.DataFrame(rows)], ignore_index=True), rules,
                                   near=None if current is result else current)
    per_level = {lv: sum(k for (level, _r), k in added.items() if level == lv) for lv in LEVELS}
    extra_cost = float(sum(rules.manager_cost.get(lv, 0.0) * k for lv, k in per_level.items()))
    lost = max(reference - current.summary["objective"], 0.0)
    unassigned = int(current.assignments["reason"].isin(_UNSERVED).sum())
    return {"option": "add_managers", "managers_added": per_level, "cadence_factor": 1.0, "tiers": [],
            "value": current.summary["objective"], "value_lost": lost, "extra_cost": extra_cost,
            "total_cost": lost + extra_cost, "unassigned": unassigned, "fits": unassigned == 0}


def _busiest_region(result: AssignmentResult, level: str, rules: AssignmentRules) -> str:
    table = result.assignments
    unserved = table[table["reason"].isin(_UNSERVED) & (table["tier"].map(rules.required_level) == level)]
    source = unserved if len(unserved) else table
    return str(source["region"].value_counts().idxmax())


def _option_lower_cadence(customers: pd.DataFrame, managers: pd.DataFrame, rules: AssignmentRules,
                          result: AssignmentResult, max_solves: int = 6) -> dict[str, Any] | None:
    """The least costly lower cadence (10 %…50 % less, lowest staffed tiers first) that serves everyone.

    Candidates are ranked by the value the lower uplift costs when every customer is served, and are
    screened by the nested-levels hours check (customers needing level L or above against the hours
    of level L and above); the first candidates are solved until one fits.
    """
    staffed = rules.staffed_tiers
    if not staffed:
        return None
    table = result.assignments
    mgr = _prepare_managers(managers)
    value_by_tier = table.groupby("tier")["value"].sum()
    count_by_tier = table.groupby(["tier", "region"]).size().unstack(fill_value=0)
    candidates = []
    for n_tiers in range(1, len(staffed) + 1):
        tiers = staffed[-n_tiers:]
        for factor in CADENCE_FACTORS:
            trial = _scaled_rules(rules, tiers, factor)
            loss = sum(value_by_tier.get(t, 0.0) * (rules.factor(t, rules.required_level[t])
                                                    - trial.factor(t, trial.required_level[t])) for t in tiers)
            if _hours_fit(trial, mgr, count_by_tier):
                candidates.append((loss, tiers, factor, trial))
    candidates.sort(key=lambda c: (c[0], len(c[1]), -c[2]))
    for _loss, tiers, factor, trial in candidates[:max_solves]:
        solved = solve_assignment(customers, managers, trial)
        unassigned = int(solved.assignments["reason"].isin(_UNSERVED).sum())
        if unassigned == 0:
            lost = max(result.summary["value_unconstrained"] - solved.summary["objective"], 0.0)
            return {"option": "lower_cadence", "managers_added": {lv: 0 for lv in LEVELS},
                    "cadence_factor": factor, "tiers": list(tiers), "value": solved.summary["objective"],
                    "value_lost": lost, "extra_cost": 0.0, "total_cost": lost, "unassigned": 0, "fits": True}
    return {"option": "lower_cadence", "managers_added": {lv: 0 for lv in LEVELS},
            "cadence_factor": CADENCE_FACTORS[-1], "tiers": list(staffed), "value": math.nan,
            "value_lost": math.nan, "extra_cost": 0.0, "total_cost": math.inf,
            "unassigned": int(table["reason"].isin(_UNSERVED).sum()), "fits": False}


def _scaled_rules(rules: AssignmentRules, tiers: list[int], factor: float) -> AssignmentRules:
    """The rules with the cadence of ``tiers`` times ``factor``; the response curve keeps its k_hours,
    so the uplift falls to u_max·(1 − exp(−factor·h / k))."""
    hours = dict(rules.hours_per_customer)
    for t in tiers:
        hours[t] = hours[t] * factor
    # the uplift of the required level is evaluated at the new hours: keep f consistent
    return replace(rules, hours_per_customer=hours)


def _hours_fit(rules: AssignmentRules, mgr: pd.DataFrame, count_by_tier: pd.DataFrame) -> bool:
    """Nested-levels hours check (per region with the hard rule): customers needing level L or above
    against the hours of the managers of level L or above. Necessary, not sufficient."""
    rank = mgr["level"].map(_RANK)
    regions = count_by_tier.columns if rules.region == "hard" else [None]
    for region in regions:
        counts = count_by_tier.sum(axis=1) if region is None else count_by_tier[region]
        pool = mgr if region is None else mgr[mgr["region"] == region]
        for level_rank in range(len(LEVELS)):
            need = sum(counts.get(t, 0) * rules.hours_per_customer[t] for t in rules.staffed_tiers
                       if _RANK[rules.required_level[t]] <= level_rank)
            have = float(pool.loc[rank[pool.index] <= level_rank, "hours"].sum())
            if need > have + 1e-9:
                return False
    return True
