"""Per-tier allocation of a retention budget and of account-manager hours.

Response curve
--------------
The value a tier keeps thanks to spend ``s_i`` (money, or staff hours) follows a saturating curve:

    V_i(s_i) = CLV_i × u_i(s_i),    u_i(s) = u_max_i × (1 − exp(−s / (k_i · n_i)))

- ``CLV_i``: the tier's predicted CLV (sum over its customers), ``n_i``: its number of customers;
- ``u_max_i``: the largest share of the tier's CLV that spending can keep (the maximum retention
  uplift), by default ``u_max_base + u_max_risk × (1 − mean p_alive_i)``, 0.10–0.25: a tier with more
  value at risk has more to win;
- ``k_i``: spend per customer at which 1 − e⁻¹ ≈ 63 % of the maximum uplift is reached (the saturation
  scale), by default ``k_share × reference_i``. For money the reference is the tier's CLV per
  customer (spending 5 % of a customer's CLV reaches 63 % of the uplift); for hours it is the
  playbook's hours per customer (half the playbook's cadence reaches 63 %, the full cadence 86 %).
  With this relative scale the first unit of budget returns u_max_i / k_share in every tier, so the
  split follows the value at risk and the size of each tier's CLV pool, not CLV per customer; an
  absolute ``k`` (same spend per customer everywhere) instead favours tiers with a high CLV per customer.

Every one of these is a field of :class:`ResponseCurve`, overridable per tier. The curve is the
exponential saturation ("ADBUDG"-type) response common in marketing-mix and sales-force allocation
(Little 1970; Lodish 1971; Hanssens, Parsons & Schultz 2001, ch. 3); its parameters are assumptions
to be calibrated on campaign results, not estimates.

Optimum
-------
Maximise Σ V_i(s_i) subject to Σ s_i = B and L_i ≤ s_i ≤ U_i (L_i = min_share_i·B, U_i = max_share_i·B).
Each V_i is concave, so the KKT conditions are sufficient (Boyd & Vandenberghe 2004, §5.5.3,
"water-filling"; Ibaraki & Katoh 1988). With a_i = CLV_i·u_max_i and b_i = k_i·n_i the marginal value
is V_i'(s) = (a_i / b_i)·exp(−s / b_i); at the optimum every tier strictly inside its bounds has the
same marginal value λ (the shadow price of the budget), tiers at L_i have V_i' ≤ λ and tiers at U_i
have V_i' ≥ λ. Hence

    s_i(λ) = clip(b_i · (ln(a_i / b_i) − ln λ), L_i, U_i),

and Σ s_i(λ) falls monotonically in λ: ``scipy.optimize.brentq`` finds ln λ with Σ s_i(λ) = B, and the
closed form on the resulting set of interior tiers makes the sum exact. ``optimise_budget`` then
re-solves the problem with SLSQP (``scipy.optimize.minimize``) from another starting point and keeps
its value in the result as an independent check.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np
import pandas as pd

from analysis.i18n import Message, joined, message, tier_ref, to_json
from analysis.methods.playbook import MANAGER_LEVELS, Playbook, playbook_table

#: Column names under which a tier profile may hold the tier's mean p_alive, tried in order.
P_ALIVE_COLUMNS = ("p_alive_mean", "p_alive", "mean_p_alive")
_STAFF_LEVELS = tuple(code for code in MANAGER_LEVELS if code != "none")


class AllocationError(ValueError):
    """Inputs to an allocation are wrong: the message names the tier, column or key and the fix."""


# --------------------------------------------------------------------------------------------------
# the response curve


@dataclass(frozen=True)
class ResponseCurve:
    """Assumptions of the response curve V_i(s) = CLV_i · u_max_i · (1 − exp(−s / (k_i · n_i))).

    Parameters
    ----------
    u_max_base : float
        Maximum retention uplift of a tier with no value at risk (mean p_alive = 1).
    u_max_risk : float
        Extra maximum uplift per unit of at-risk share: u_max_i = u_max_base + u_max_risk·(1 − p̄_i).
    k_share : float
        Saturation scale k_i as a share of the tier's reference per customer (CLV per customer for
        money, playbook hours per customer for hours).
    k : float or None
        Saturation scale in absolute units per customer (currency or hours); overrides ``k_share``.
    unknown_risk : float
        At-risk share (1 − p̄) assumed where the profile has no mean p_alive (no column, or NaN).
    tiers : mapping
        Per-tier overrides ``{tier: {"u_max": ..., "k": ..., "k_share": ...}}``.
    """

    u_max_base: float = 0.10
    u_max_risk: float = 0.15
    k_share: float = 0.05
    k: float | None = None
    unknown_risk: float = 0.5
    tiers: Mapping[int, Mapping[str, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_number(self.u_max_base, "u_max_base", low=0.0, high=1.0, low_open=True)
        _check_number(self.u_max_risk, "u_max_risk", low=0.0, high=1.0)
        if self.u_max_base + self.u_max_risk > 1:
            raise AllocationError(
                f"response curve: u_max_base + u_max_risk = {self.u_max_base + self.u_max_risk:g} exceeds 1; "
                "an uplift cannot keep more than all of a tier's CLV — lower one of them"
            )
        _check_number(self.k_share, "k_share", low=0.0, low_open=True)
        if self.k is not None:
            _check_number(self.k, "k", low=0.0, low_open=True)
        _check_number(self.unknown_risk, "unknown_risk", low=0.0, high=1.0)
        for tier, overrides in self.tiers.items():
            where = f"tiers.{tier}"
            if not isinstance(overrides, Mapping):
                raise AllocationError(
                    f"response curve: {where} must map u_max/k/k_share to numbers"
                )
            for key, value in overrides.items():
                if key not in ("u_max", "k", "k_share"):
                    raise AllocationError(
                        f"response curve: unknown key '{where}.{key}'; allowed per tier: u_max, k, k_share"
                    )
                high = 1.0 if key == "u_max" else None
                _check_number(value, f"{where}.{key}", low=0.0, high=high, low_open=True)

    def tier_parameters(
        self, profile: pd.DataFrame, reference_per_customer: pd.Series
    ) -> pd.DataFrame:
        """u_max, k, a = CLV·u_max (value at saturation) and b = k·n (scale of spend) per tier.

        ``reference_per_customer`` (indexed by tier) is what ``k_share`` multiplies.
        """
        prof = _tier_indexed(profile)
        unknown = sorted(set(self.tiers) - set(prof.index))
        if unknown:
            raise AllocationError(
                f"response curve: per-tier overrides for tier(s) {unknown}, but the profile has tiers "
                f"{list(prof.index)}; remove them or fix the tier numbers"
            )
        at_risk = 1.0 - _mean_p_alive(prof).fillna(1.0 - self.unknown_risk)
        u_max = self.u_max_base + self.u_max_risk * at_risk
        reference = reference_per_customer.reindex(prof.index).astype(float).fillna(0.0)
        k = (
            pd.Series(self.k, prof.index, dtype=float)
            if self.k is not None
            else self.k_share * reference
        )
        for tier, overrides in self.tiers.items():
            if "k_share" in overrides:
                k[tier] = overrides["k_share"] * reference[tier]
            if "k" in overrides:
                k[tier] = overrides["k"]
            if "u_max" in overrides:
                u_max[tier] = overrides["u_max"]
        n = prof["customers"].astype(float)
        return pd.DataFrame(
            {
                "customers": n,
                "clv": prof["clv"].astype(float),
                "u_max": u_max.astype(float),
                "k": k.astype(float),
                "a": prof["clv"].astype(float) * u_max,
                "b": k * n,
            },
            index=prof.index,
        )


_CURVE_KEYS = tuple(f.name for f in fields(ResponseCurve))


def response_curves_from_params(
    response: Mapping[str, Any] | None,
) -> tuple[ResponseCurve, ResponseCurve]:
    """The budget curve and the hours curve from the params file's ``allocation.response``.

    Keys: those of :class:`ResponseCurve`, plus ``hours`` — a mapping of the same keys for the hours
    curve, which inherits ``u_max_base``, ``u_max_risk``, ``unknown_risk`` and the per-tier ``u_max``
    of the budget curve and has ``k_share`` 0.5 of the playbook's hours unless given.
    """
    response = dict(response or {})
    hours = response.pop("hours", {}) or {}
    budget_curve = _curve_from_mapping(response, "allocation.response")
    if not isinstance(hours, Mapping):
        raise AllocationError("allocation.response.hours must be a mapping of response-curve keys")
    inherited: dict[str, Any] = {
        "u_max_base": budget_curve.u_max_base,
        "u_max_risk": budget_curve.u_max_risk,
        "unknown_risk": budget_curve.unknown_risk,
        "k_share": 0.5,
        "tiers": {t: {"u_max": o["u_max"]} for t, o in budget_curve.tiers.items() if "u_max" in o},
    }
    return budget_curve, _curve_from_mapping({**inherited, **hours}, "allocation.response.hours")


def _curve_from_mapping(values: Mapping[str, Any], where: str) -> ResponseCurve:
    unknown = [k for k in values if k not in _CURVE_KEYS]
    if unknown:
        raise AllocationError(
            f"unknown key(s) {unknown} in {where}; allowed keys: {', '.join(_CURVE_KEYS)}"
        )
    values = dict(values)
    if "tiers" in values:
        tiers = values["tiers"] or {}
        if not isinstance(tiers, Mapping):
            raise AllocationError(f"{where}.tiers must map tier numbers to {{u_max, k, k_share}}")
        values["tiers"] = {_as_tier(t, f"{where}.tiers"): o for t, o in tiers.items()}
    try:
        return ResponseCurve(**values)
    except AllocationError as exc:
        raise AllocationError(f"{where}: {exc}") from None


def _as_tier(raw: Any, where: str) -> int:
    if isinstance(raw, str) and raw.strip().isdigit():
        return int(raw.strip())
    if isinstance(raw, bool) or not isinstance(raw, (int, np.integer)):
        raise AllocationError(
            f"{where}: {raw!r} is not a tier number; use 1 for the best tier, 2 for the next…"
        )
    return int(raw)


def _check_number(
    value: Any,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise AllocationError(
            f"response curve: {name} must be a number, got {value!r} ({type(value).__name__})"
        )
    if not math.isfinite(value):
        raise AllocationError(f"response curve: {name} must be finite, got {value!r}")
    if low is not None and (value < low or (low_open and value == low)):
        raise AllocationError(
            f"response curve: {name} must be {'>' if low_open else '≥'} {low:g}, got {value:g}"
        )
    if high is not None and value > high:
        raise AllocationError(f"response curve: {name} must be ≤ {high:g}, got {value:g}")


# --------------------------------------------------------------------------------------------------
# profile checks


def _tier_indexed(
    profile: pd.DataFrame, required: tuple[str, ...] = ("tier", "customers", "clv")
) -> pd.DataFrame:
    """The profile sorted and indexed by tier, after checking what the allocation needs of it.

    The tier may be a column or the index (as :func:`analysis.methods.profiles.tier_profile` returns it).
    """
    if "tier" not in profile.columns and profile.index.name == "tier":
        profile = profile.reset_index()
    missing = [c for c in required if c not in profile.columns]
    if missing:
        raise AllocationError(
            f"tier profile lacks column(s) {missing}; it needs one row per tier with {list(required)} "
            "(the tier_profile table of the tiering stage)"
        )
    if profile.empty:
        raise AllocationError("tier profile has no rows; run the tiering stage first")
    if profile["tier"].isna().any() or profile["tier"].duplicated().any():
        raise AllocationError(
            f"tier profile: column 'tier' must hold each tier once, got {profile['tier'].tolist()}"
        )
    for column in required[1:]:
        values = pd.to_numeric(profile[column], errors="coerce")
        bad = profile.loc[
            values.isna() | ~np.isfinite(values.astype(float)) | (values < 0), "tier"
        ].tolist()
        if bad:
            raise AllocationError(
                f"tier profile: column '{column}' must be a finite number ≥ 0; tier(s) {bad} are not"
            )
    prof = profile.copy()
    prof["tier"] = prof["tier"].astype(int)
    return prof.set_index("tier", drop=False).rename_axis(None).sort_index()


def _p_alive_column(prof: pd.DataFrame) -> str | None:
    return next((c for c in P_ALIVE_COLUMNS if c in prof.columns), None)


def _mean_p_alive(prof: pd.DataFrame) -> pd.Series:
    """Mean p_alive per tier; NaN where the profile has no such column or the tier no value."""
    column = _p_alive_column(prof)
    if column is None:
        return pd.Series(np.nan, index=prof.index)
    values = pd.to_numeric(prof[column], errors="coerce").astype(float)
    bad = prof.index[(values < 0) | (values > 1)].tolist()
    if bad:
        raise AllocationError(
            f"tier profile: column '{column}' must lie in [0, 1]; tier(s) {bad} do not"
        )
    return values


def _clv_per_customer(prof: pd.DataFrame) -> pd.Series:
    n = prof["customers"].astype(float)
    return (prof["clv"].astype(float) / n.where(n > 0)).fillna(0.0)


# --------------------------------------------------------------------------------------------------
# the solver


def _share_bounds(
    tiers: pd.Index, budget: float, min_share: Any, max_share: Any
) -> tuple[np.ndarray, np.ndarray]:
    low = _per_tier_share(min_share, tiers, "min_share", default=0.0)
    high = _per_tier_share(max_share, tiers, "max_share", default=1.0)
    crossed = [t for t, lo, hi in zip(tiers, low, high) if lo > hi]
    if crossed:
        raise AllocationError(
            f"min_share exceeds max_share for tier(s) {crossed}; make min_share ≤ max_share"
        )
    if low.sum() > 1 + 1e-12:
        raise AllocationError(
            f"min_share adds up to {low.sum():.4g} > 1 over the tiers; lower the minimum shares"
        )
    if high.sum() < 1 - 1e-12:
        raise AllocationError(
            f"max_share adds up to {high.sum():.4g} < 1 over the tiers, so the budget cannot be spent; "
            "raise the maximum shares"
        )
    return low * budget, high * budget


def _per_tier_share(value: Any, tiers: pd.Index, name: str, *, default: float) -> np.ndarray:
    if value is None:
        shares = {t: default for t in tiers}
    elif isinstance(value, Mapping):
        unknown = sorted(set(value) - set(tiers))
        if unknown:
            raise AllocationError(
                f"{name} names tier(s) {unknown} that the profile does not have ({list(tiers)})"
            )
        shares = {t: value.get(t, default) for t in tiers}
    else:
        shares = {t: value for t in tiers}
    for tier, share in shares.items():
        if (
            isinstance(share, bool)
            or not isinstance(share, (int, float, np.integer, np.floating))
            or not 0 <= share <= 1
        ):
            raise AllocationError(
                f"{name} for tier {tier} must be a number in [0, 1], got {share!r}"
            )
    return np.array([float(shares[t]) for t in tiers])


def _check_budget(budget: Any, name: str = "budget") -> float:
    if (
        isinstance(budget, bool)
        or not isinstance(budget, (int, float, np.integer, np.floating))
        or not math.isfinite(budget)
        or budget < 0
    ):
        raise AllocationError(f"{name} must be a finite number ≥ 0, got {budget!r}")
    return float(budget)


def water_fill(
    a: np.ndarray, b: np.ndarray, lower: np.ndarray, upper: np.ndarray, total: float
) -> tuple[np.ndarray, float | None]:
    """Maximise Σ a_i (1 − exp(−s_i / b_i)) s.t. Σ s_i = total, lower ≤ s ≤ upper (KKT water-filling).

    Returns the spends and ln λ (the log of the common marginal value of the interior items; None
    when no item is interior). Items with a_i = 0 or b_i = 0 have no value and stay at their lower
    bound unless the others are full. See the module docstring for the derivation.
    """
    a, b = np.asarray(a, float), np.asarray(b, float)
    lower, upper = np.asarray(lower, float), np.asarray(upper, float)
    if lower.sum() > total * (1 + 1e-12) + 1e-12 or upper.sum() < total * (1 - 1e-12) - 1e-12:
        raise AllocationError(
            f"bounds sum to [{lower.sum():g}, {upper.sum():g}], which cannot hold {total:g}"
        )
    live = (a > 0) & (b > 0)
    spend = lower.copy()
    if not live.any():
        return _absorb_residual(spend, lower, upper, total), None
    c = np.log(a[live]) - np.log(b[live])
    bl, lo, hi = b[live], lower[live], upper[live]
    fixed = lower[~live].sum()

    def live_spend(t: float) -> np.ndarray:
        return np.clip(bl * (c - t), lo, hi)

    def gap(t: float) -> float:
        return float(live_spend(t).sum() + fixed - total)

    t_high = float(c.max())  # every live item at its lower bound
    t_low = float((c - hi / bl).min())  # every live item at its upper bound
    if gap(t_low) <= 0:  # live items full: the rest goes to the value-less ones
        spend[live] = hi
        return _absorb_residual(spend, lower, upper, total), None
    if gap(t_high) >= 0:
        return _absorb_residual(spend, lower, upper, total), None
    # imported here: the params check imports this module, and scipy.optimize takes 0.45 s
    from scipy.optimize import brentq

    t = brentq(gap, t_low, t_high, xtol=1e-14, rtol=4 * np.finfo(float).eps, maxiter=500)
    s = live_spend(t)
    interior = (t > c - hi / bl) & (t < c - lo / bl)
    log_lambda = None
    for _ in range(len(s)):  # exact solve on the interior set; a tier pushed past a bound leaves it
        if not interior.any():
            break
        inside, log_lambda = _interior_spend(
            bl[interior], c[interior], total - fixed - s[~interior].sum()
        )
        outside = (inside < lo[interior]) | (inside > hi[interior])
        s[interior] = np.clip(inside, lo[interior], hi[interior])
        if not outside.any():
            break
        interior[np.flatnonzero(interior)[outside]] = False
    spend[live] = s
    prefer = np.zeros(len(spend), dtype=bool)
    prefer[np.flatnonzero(live)[interior]] = True
    return _absorb_residual(spend, lower, upper, total, prefer), (
        log_lambda if interior.any() else None
    )


def _interior_spend(b: np.ndarray, c: np.ndarray, rest: float) -> tuple[np.ndarray, float]:
    """Solve Σ_I b_i (c_i − t) = rest: s_i = rest·b_i/Σb + b_i (c_i − c̄), c̄ the b-weighted mean of c.

    Written around c̄ rather than t so that s_i ≪ b_i·|c_i| loses no digits to cancellation.
    """
    weight = b / b.sum()
    c_bar = float(np.sum(weight * c))
    return rest * weight + b * (c - c_bar), c_bar - rest / float(b.sum())


def _absorb_residual(
    spend: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    total: float,
    prefer: np.ndarray | None = None,
) -> np.ndarray:
    """Spread the rounding residual total − Σ spend over the room left within the bounds,
    first over the ``prefer`` items (those strictly inside their bounds), then over all."""
    masks = [prefer] if prefer is not None and prefer.any() else []
    for mask in [*masks, np.ones(len(spend), dtype=bool)]:
        residual = total - spend.sum()
        if residual == 0:
            break
        room = np.where(mask, upper - spend if residual > 0 else spend - lower, 0.0)
        if room.sum() > 0:
            spend = spend + np.sign(residual) * room * min(1.0, abs(residual) / room.sum())
    return np.clip(spend, lower, upper)


def _values(params: pd.DataFrame, spend: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Retained value a·(1 − e^(−s/b)) and marginal value (a/b)·e^(−s/b) per tier (0 where b = 0)."""
    a, b = params["a"].to_numpy(float), params["b"].to_numpy(float)
    live = b > 0
    x = np.where(live, spend / np.where(live, b, 1.0), 0.0)
    gained = -np.expm1(-x)  # 1 − e^(−x), exact also for tiny x
    marginal = np.where(live, a / np.where(live, b, 1.0) * np.exp(-x), 0.0)
    return a * gained, marginal


# --------------------------------------------------------------------------------------------------
# budget allocation


@dataclass(frozen=True)
class AllocationResult:
    """A split of the budget across tiers and what it keeps.

    ``table`` has one row per tier: tier, spend, share, retained_value, marginal_value (value of one more
    unit of budget in that tier) and bound: 'min' or 'max' where a share bound holds the tier, 'zero'
    where it gets nothing (its marginal value at 0 is below the shadow price), '' inside its bounds.
    ``shadow_price`` is the common marginal value λ of the tiers inside their bounds.
    """

    table: pd.DataFrame
    budget: float
    total_value: float
    method: str
    shadow_price: float | None = None
    slsqp_value: float | None = None
    slsqp_spend: pd.Series | None = None

    @property
    def spend(self) -> pd.Series:
        return self.table.set_index("tier")["spend"]

    @property
    def marginal_value(self) -> pd.Series:
        return self.table.set_index("tier")["marginal_value"]


def _result(
    prof: pd.DataFrame,
    params: pd.DataFrame,
    spend: np.ndarray,
    method: str,
    lower: np.ndarray | None = None,
    upper: np.ndarray | None = None,
    **extra: Any,
) -> AllocationResult:
    retained, marginal = _values(params, spend)
    total = float(spend.sum())
    bound = np.full(len(spend), "", dtype=object)
    if lower is not None and upper is not None:
        tol = 1e-9 * max(total, 1.0)
        bound = np.where((spend <= lower + tol) & (lower == 0), "zero", bound)
        bound = np.where((spend <= lower + tol) & (lower > 0), "min", bound)
        bound = np.where((spend >= upper - tol) & (upper < total), "max", bound)
    table = pd.DataFrame(
        {
            "tier": prof.index.to_numpy(int),
            "spend": spend,
            "share": spend / total if total > 0 else 0.0,
            "retained_value": retained,
            "marginal_value": marginal,
            "bound": pd.array(bound, dtype="str"),
        }
    )
    return AllocationResult(
        table=table, budget=total, total_value=float(retained.sum()), method=method, **extra
    )


def optimise_budget(
    profile: pd.DataFrame,
    budget: float,
    curve: ResponseCurve | None = None,
    *,
    min_share: float | Mapping[int, float] | None = None,
    max_share: float | Mapping[int, float] | None = None,
    verify: bool = True,
) -> AllocationResult:
    """The value-maximising split of ``budget`` across tiers (exact KKT solution, SLSQP as a check).

    Maximises Σ_i CLV_i·u_i(s_i) subject to Σ s_i = budget and min_share_i·budget ≤ s_i ≤
    max_share_i·budget (each share a number for all tiers or a {tier: share} mapping).

    Parameters
    ----------
    profile : DataFrame
        One row per tier with ``tier``, ``customers``, ``clv`` and optionally mean ``p_alive``.
    verify : bool
        Also solve with SLSQP and keep its value and spend in the result; warns if SLSQP finds a
        higher value than the KKT solution (which would point to a defect).
    """
    curve = curve or ResponseCurve()
    budget = _check_budget(budget)
    prof = _tier_indexed(profile)
    params = curve.tier_parameters(prof, _clv_per_customer(prof))
    lower, upper = _share_bounds(prof.index, budget, min_share, max_share)
    spend, log_lambda = water_fill(
        params["a"].to_numpy(), params["b"].to_numpy(), lower, upper, budget
    )
    extra: dict[str, Any] = {
        "shadow_price": math.exp(log_lambda) if log_lambda is not None else None
    }
    result = _result(prof, params, spend, "kkt", lower, upper, **extra)
    if verify and budget > 0:
        check = _slsqp(prof, params, budget, lower, upper)
        result = replace(result, slsqp_value=check.total_value, slsqp_spend=check.spend)
        if check.total_value > result.total_value * (1 + 1e-7) + 1e-9:
            warnings.warn(
                f"SLSQP found a higher retained value ({check.total_value:,.2f}) than the KKT solution "
                f"({result.total_value:,.2f}); report this with the tier profile",
                RuntimeWarning,
                stacklevel=2,
            )
    return result


def slsqp_budget(
    profile: pd.DataFrame,
    budget: float,
    curve: ResponseCurve | None = None,
    *,
    min_share: float | Mapping[int, float] | None = None,
    max_share: float | Mapping[int, float] | None = None,
) -> AllocationResult:
    """The same problem as :func:`optimise_budget` solved numerically with SLSQP (Kraft 1988)."""
    curve = curve or ResponseCurve()
    budget = _check_budget(budget)
    prof = _tier_indexed(profile)
    params = curve.tier_parameters(prof, _clv_per_customer(prof))
    lower, upper = _share_bounds(prof.index, budget, min_share, max_share)
    return _slsqp(prof, params, budget, lower, upper)


def _slsqp(
    prof: pd.DataFrame, params: pd.DataFrame, budget: float, lower: np.ndarray, upper: np.ndarray
) -> AllocationResult:
    # work in shares of the budget and in units of the total value at saturation, so both are O(1)
    a, b = params["a"].to_numpy(float), params["b"].to_numpy(float)
    scale = a.sum() if a.sum() > 0 else 1.0
    live = b > 0
    rate = np.where(live, budget / np.where(live, b, 1.0), 0.0)
    weight = a / scale

    def objective(x: np.ndarray) -> tuple[float, np.ndarray]:
        z = np.minimum(rate * x, 700.0)
        return float(np.sum(weight * np.expm1(-z))), -weight * rate * np.exp(-z)

    lo, hi = lower / budget, upper / budget
    room = hi - lo
    start = lo + (1 - lo.sum()) * room / room.sum() if room.sum() > 0 else lo
    from scipy.optimize import minimize

    found = minimize(
        objective,
        start,
        jac=True,
        method="SLSQP",
        bounds=list(zip(lo, hi)),
        constraints=[
            {"type": "eq", "fun": lambda x: x.sum() - 1.0, "jac": lambda x: np.ones_like(x)}
        ],
        options={"ftol": 1e-15, "maxiter": 1000},
    )
    spend = _absorb_residual(np.clip(found.x, lo, hi) * budget, lower, upper, budget)
    return _result(prof, params, spend, "slsqp", lower, upper)


def evaluate(
    profile: pd.DataFrame,
    spend: pd.Series | Mapping[int, float],
    curve: ResponseCurve | None = None,
) -> AllocationResult:
    """Retained value and marginal values of any given split ``spend`` ({tier: spend})."""
    curve = curve or ResponseCurve()
    prof = _tier_indexed(profile)
    spend = pd.Series(spend, dtype=float) if isinstance(spend, Mapping) else spend.astype(float)
    spend.index = [int(t) for t in spend.index]
    missing, extra = (
        sorted(set(prof.index) - set(spend.index)),
        sorted(set(spend.index) - set(prof.index)),
    )
    if missing or extra:
        raise AllocationError(
            f"spend must give one amount per tier of the profile {list(prof.index)}; "
            f"missing tier(s) {missing}, unknown tier(s) {extra}"
        )
    values = spend.reindex(prof.index).to_numpy(float)
    bad = [int(t) for t, v in zip(prof.index, values) if not (math.isfinite(v) and v >= 0)]
    if bad:
        raise AllocationError(f"spend must be a finite amount ≥ 0; tier(s) {bad} are not")
    params = curve.tier_parameters(prof, _clv_per_customer(prof))
    return _result(prof, params, values, "given")


def equal_split(profile: pd.DataFrame, budget: float) -> pd.Series:
    """The naive split budget / number of tiers, indexed by tier."""
    prof = _tier_indexed(profile)
    budget = _check_budget(budget)
    return pd.Series(budget / len(prof), index=prof.index, name="spend", dtype=float)


def revenue_proportional_split(
    profile: pd.DataFrame, budget: float, column: str = "revenue"
) -> pd.Series:
    """The naive split budget × revenue_i / Σ revenue (negative revenue counts as 0), indexed by tier."""
    prof = _tier_indexed(profile)
    budget = _check_budget(budget)
    if column not in prof.columns:
        raise AllocationError(
            f"tier profile lacks the column '{column}' for a revenue-proportional split"
        )
    weights = pd.to_numeric(prof[column], errors="coerce").astype(float)
    bad = prof.index[~np.isfinite(weights)].tolist()
    if bad:
        raise AllocationError(
            f"tier profile: column '{column}' must be a finite number; tier(s) {bad} are not"
        )
    weights = weights.clip(lower=0)
    if weights.sum() <= 0:
        raise AllocationError(
            f"tier profile: column '{column}' sums to 0, so a revenue-proportional split is undefined"
        )
    return (budget * weights / weights.sum()).rename("spend")


# --------------------------------------------------------------------------------------------------
# account-manager hours


def hours_needed(profile: pd.DataFrame, playbook: Playbook) -> pd.Series:
    """Staff hours per month each tier needs: customers × contacts_per_month × minutes_per_contact / 60."""
    prof = _tier_indexed(profile)
    _check_playbook_tiers(prof, playbook)
    per_customer = pd.Series({t: playbook[t].hours_per_customer for t in prof.index}, dtype=float)
    return (prof["customers"].astype(float) * per_customer).rename("hours_needed")


def _check_playbook_tiers(prof: pd.DataFrame, playbook: Playbook) -> None:
    """The playbook and the profile must name the same tiers.

    Guards a playbook built for another tier count than the profile's (a caller passing its own), and
    a profile that stops before the last tier: the tier profile lists tiers 1..the lowest tier holding a
    customer, so a bottom tier left empty by the tiering rule is missing from it.
    """
    if set(prof.index) != set(playbook):
        raise AllocationError(
            f"the playbook covers tiers {sorted(playbook)} but the profile has tiers {list(prof.index)}; "
            "build the playbook with default_playbook(n_tiers) for the tier count of the tiering "
            "(tiering.json → n_tiers); a profile without the last tier(s) means no customer was placed in them"
        )


def _check_hours_available(
    hours_available: Mapping[str, float], playbook: Playbook
) -> dict[str, float]:
    if not isinstance(hours_available, Mapping):
        raise AllocationError(
            "allocation.hours_available must map manager levels (senior, middle, junior) to hours"
        )
    checked = {}
    for level, hours in hours_available.items():
        if level not in _STAFF_LEVELS:
            raise AllocationError(
                f"allocation.hours_available: unknown manager level '{level}'; use {', '.join(_STAFF_LEVELS)}"
            )
        if (
            isinstance(hours, bool)
            or not isinstance(hours, (int, float, np.integer, np.floating))
            or not math.isfinite(hours)
            or hours < 0
        ):
            raise AllocationError(
                f"allocation.hours_available.{level} must be a finite number of hours per month ≥ 0, got {hours!r}"
            )
        checked[level] = float(hours)
    for level in _STAFF_LEVELS:
        tiers = [t for t in sorted(playbook) if playbook[t].manager_level == level]
        if tiers and level not in checked:
            raise AllocationError(
                f"allocation.hours_available has no '{level}' entry but tier(s) {tiers} are served by {level} "
                f"managers; add allocation.hours_available.{level} (hours per month)"
            )
    return checked


def capacity_check(
    profile: pd.DataFrame, playbook: Playbook, hours_available: Mapping[str, float]
) -> pd.DataFrame:
    """Hours the playbook needs per manager level against the hours available per month.

    Returns one row per level: level (a code of :data:`~analysis.methods.playbook.MANAGER_LEVELS`),
    tiers (served), hours_needed, hours_available, utilisation (= needed / available) and binding
    (needed > available).
    """
    need = hours_needed(profile, playbook)
    available = _check_hours_available(hours_available, playbook)
    rows = []
    for level in _STAFF_LEVELS:
        tiers = [t for t in need.index if playbook[t].manager_level == level]
        if not tiers and level not in available:
            continue
        needed, hours = float(need[tiers].sum()), available.get(level, 0.0)
        utilisation = needed / hours if hours > 0 else (math.inf if needed > 0 else 0.0)
        rows.append(
            {
                "level": level,
                "tiers": ", ".join(str(t) for t in tiers),
                "hours_needed": needed,
                "hours_available": hours,
                "utilisation": utilisation,
                "binding": bool(needed > hours * (1 + 1e-12)),
            }
        )
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class HoursAllocation:
    """Manager hours per tier (``by_tier``) and per level (``by_level``: the capacity check plus
    hours_allocated, shortfall and ``note``, the level's capacity sentence as a message in JSON text)."""

    by_tier: pd.DataFrame
    by_level: pd.DataFrame


def allocate_manager_hours(
    profile: pd.DataFrame,
    playbook: Playbook,
    hours_available: Mapping[str, float],
    curve_hours: ResponseCurve | None = None,
) -> HoursAllocation:
    """Split each manager level's hours across the tiers it serves, maximising retained value.

    Per level with hours H and tiers T: maximise Σ_{i∈T} CLV_i·u_i(h_i) subject to Σ h_i = min(H, Σ need_i)
    and 0 ≤ h_i ≤ need_i (the playbook's hours), with the response curve of the module docstring in
    hours (``curve_hours``; default k = 0.5 × the playbook's hours per customer). Where capacity does
    not bind every tier gets its playbook hours.
    """
    curve_hours = curve_hours or ResponseCurve(k_share=0.5)
    prof = _tier_indexed(profile)
    capacity = capacity_check(prof, playbook, hours_available)
    need = hours_needed(prof, playbook)
    per_customer = pd.Series({t: playbook[t].hours_per_customer for t in prof.index}, dtype=float)
    params = curve_hours.tier_parameters(prof, per_customer)
    allocated = pd.Series(0.0, index=prof.index)
    marginal = pd.Series(0.0, index=prof.index)
    for row in capacity.itertuples():
        tiers = [t for t in prof.index if playbook[t].manager_level == row.level]
        if not tiers:
            continue
        upper = need[tiers].to_numpy(float)
        hours = min(row.hours_available, float(upper.sum()))
        sub = params.loc[tiers]
        spend, _ = water_fill(
            sub["a"].to_numpy(), sub["b"].to_numpy(), np.zeros(len(tiers)), upper, hours
        )
        allocated[tiers] = spend
        marginal[tiers] = _values(sub, spend)[1]
    by_tier = pd.DataFrame(
        {
            "tier": prof.index.to_numpy(int),
            "manager_level": [playbook[t].manager_level for t in prof.index],
            "hours_needed": need.to_numpy(),
            "hours_allocated": allocated.to_numpy(),
            "coverage": np.where(need > 0, allocated / need.where(need > 0, 1.0), 1.0),
            "marginal_value_per_hour": marginal.to_numpy(),
        }
    )
    capacity["hours_allocated"] = [
        float(by_tier.loc[by_tier["manager_level"] == lv, "hours_allocated"].sum())
        for lv in capacity["level"]
    ]
    capacity["shortfall"] = (capacity["hours_needed"] - capacity["hours_available"]).clip(lower=0)
    capacity["note"] = [to_json(capacity_note(r, by_tier)) for r in capacity.itertuples()]
    return HoursAllocation(by_tier=by_tier, by_level=capacity)


def capacity_note(row: Any, by_tier: pd.DataFrame) -> Message:
    """The capacity sentence of one manager level (a row of the capacity check with hours_allocated
    and shortfall): hours needed against available and, where capacity binds, each tier's coverage."""
    staff = message(f"playbook_staff_{row.level}")
    if row.hours_needed == 0:
        return message("allocation_note_unused", staff=staff, available=row.hours_available)
    utilisation = (
        message("allocation_utilisation_unbounded")
        if math.isinf(row.utilisation)
        else message("allocation_utilisation", share=row.utilisation)
    )
    figures = {"staff": staff, "needed": row.hours_needed, "available": row.hours_available,
               "utilisation": utilisation}
    if not row.binding:
        return message("allocation_note_sufficient", **figures)
    served = by_tier[by_tier["manager_level"] == row.level]
    coverage = joined(
        (message("allocation_tier_coverage", tier=tier_ref(t), number=int(t), share=c)
         for t, c in zip(served["tier"], served["coverage"])),
        separator="allocation_separator_coverage",
    )
    return message("allocation_note_binding", **figures, shortfall=row.shortfall, coverage=coverage)


# --------------------------------------------------------------------------------------------------
# the table written as allocation.parquet


def allocation_table(
    profile: pd.DataFrame,
    budget: float,
    playbook: Playbook,
    hours_available: Mapping[str, float],
    *,
    curve: ResponseCurve | None = None,
    curve_hours: ResponseCurve | None = None,
    min_share: float | Mapping[int, float] | None = None,
    max_share: float | Mapping[int, float] | None = None,
) -> pd.DataFrame:
    """One row per tier: the optimal budget against the naive splits, the playbook and the staff hours.

    Columns: tier, tier_name (the profile's, NA without one), customers, clv, budget,
    budget_share, budget_per_customer, budget_equal, budget_revenue, value_optimal, value_equal,
    value_revenue (expected retained value under each split; the revenue columns are NaN without a
    ``revenue`` column), marginal_value, bound, the playbook's columns (:func:`playbook_table`:
    service_model, manager_level, contacts_per_month, minutes_per_contact, hours_per_customer, cadence,
    channels, offers), hours_needed, hours_allocated, hours_coverage and capacity_binding.
    """
    curve = curve or ResponseCurve()
    prof = _tier_indexed(profile)
    best = optimise_budget(
        prof, budget, curve, min_share=min_share, max_share=max_share
    ).table.set_index("tier")
    equal = evaluate(prof, equal_split(prof, budget), curve).table.set_index("tier")
    n = prof["customers"].astype(float)
    out = pd.DataFrame({"tier": prof.index.to_numpy(int)}, index=prof.index)
    out["tier_name"] = prof.get("tier_name", pd.Series(pd.NA, index=prof.index)).astype("string")
    out["customers"] = prof["customers"]
    out["clv"] = prof["clv"].astype(float)
    out["budget"] = best["spend"]
    out["budget_share"] = best["share"]
    out["budget_per_customer"] = (best["spend"] / n.where(n > 0)).astype(float)
    out["budget_equal"] = equal["spend"]
    out["budget_revenue"] = np.nan
    out["value_optimal"] = best["retained_value"]
    out["value_equal"] = equal["retained_value"]
    out["value_revenue"] = np.nan
    if (
        "revenue" in prof.columns
        and np.isfinite(pd.to_numeric(prof["revenue"], errors="coerce")).all()
    ):
        by_revenue = evaluate(
            prof, revenue_proportional_split(prof, budget), curve
        ).table.set_index("tier")
        out["budget_revenue"] = by_revenue["spend"]
        out["value_revenue"] = by_revenue["retained_value"]
    out["marginal_value"] = best["marginal_value"]
    out["bound"] = best["bound"]
    staff = allocate_manager_hours(prof, playbook, hours_available, curve_hours)
    hours = staff.by_tier.set_index("tier")
    binding_levels = set(staff.by_level.loc[staff.by_level["binding"], "level"])
    out = out.merge(playbook_table(playbook), on="tier", how="left")
    out["hours_needed"] = hours["hours_needed"].to_numpy()
    out["hours_allocated"] = hours["hours_allocated"].to_numpy()
    out["hours_coverage"] = hours["coverage"].to_numpy()
    out["capacity_binding"] = out["manager_level"].isin(binding_levels)
    return out.reset_index(drop=True)
