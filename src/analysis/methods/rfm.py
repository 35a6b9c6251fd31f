"""RFM scores (recency, frequency, monetary) and named customer segments.

Scores follow Hughes' RFM method (Hughes 1994, *Strategic Database Marketing*): each customer gets
a score from 1 (worst) to ``bins`` (best) per dimension, by quantile of the customer base or by
fixed cut points. The inputs come from :func:`analysis.methods.customer_summary.customer_summary`:

- R (recency) = ``days_since_last`` — fewer days since the last purchase is better;
- F (frequency) = ``orders`` — the number of distinct orders in the window (the count of
  purchases, as RFM practice uses; BG/NBD's ``frequency`` counts repeat *periods* instead);
- M (monetary) = ``revenue`` — the customer's total net spend in the window (returns deducted).

Segments name regions of the score cube with inclusive score ranges. The default rules adapt the
widely used R × F segment map (the Putler / R ``rfm`` package names) so that every (r, f, m) cell
belongs to exactly one segment; they leave M open because F and M scores are strongly correlated
(custom rules may add ``m`` ranges). Rules that overlap or leave cells uncovered are rejected with
the names of the rules and example cells — never resolved silently by rule order.

A segment's display name is the locale text ``rfm_segment_<key>`` (:func:`segment_name`); a rule
from the params file may bring its own names (``en`` and ``zh``), which are the analyst's data and
are shown as given.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from analysis.i18n import LANGUAGES, TEXTS, Message, message, to_json
from analysis.methods.codes import sorted_text

DIMENSIONS = ("r", "f", "m")
RFM_INPUTS: dict[str, str] = {"r": "days_since_last", "f": "orders", "m": "revenue"}
HIGHER_IS_BETTER: dict[str, bool] = {"r": False, "f": True, "m": True}
SCORE_COLUMNS = ["r_score", "f_score", "m_score", "rfm_score", "rfm_cell"]
SEGMENT_COLUMN = "rfm_segment"

_RULE_FIELDS_REQUIRED = ("key", "r", "f")
_NAME_FIELDS = LANGUAGES  # a rule's own names: one per report language
_RULE_FIELDS = {*_RULE_FIELDS_REQUIRED, *_NAME_FIELDS, "m"}
#: Locale key prefix of the built-in segment names: key ``champions`` is named by ``rfm_segment_champions``.
SEGMENT_NAME_PREFIX = "rfm_segment_"
_EXAMPLES = 5


def _segment(key: str, *, r: list[int], f: list[int]) -> dict[str, Any]:
    """A default segment rule; its names are the locale texts ``rfm_segment_<key>``."""
    return {"key": key, "r": r, "f": f}


# Ranges are inclusive [low, high] scores on 5 bins; "m" absent (or null) = any monetary score.
# The R × F grid they tile (rows r = 5 … 1, columns f = 1 … 5):
#   r=5  new          potential_loyalist ×2   champions ×2
#   r=4  promising    potential_loyalist ×2   loyal ×2
#   r=3  about_to_sleep ×2  need_attention    loyal ×2
#   r=2  hibernating ×2     at_risk ×2        cant_lose_them
#   r=1  lost ×2            at_risk ×2        cant_lose_them
DEFAULT_SEGMENT_RULES: list[dict[str, Any]] = [
    _segment("champions", r=[5, 5], f=[4, 5]),
    _segment("loyal", r=[3, 4], f=[4, 5]),
    _segment("potential_loyalist", r=[4, 5], f=[2, 3]),
    _segment("new", r=[5, 5], f=[1, 1]),
    _segment("promising", r=[4, 4], f=[1, 1]),
    _segment("need_attention", r=[3, 3], f=[3, 3]),
    _segment("about_to_sleep", r=[3, 3], f=[1, 2]),
    _segment("at_risk", r=[1, 2], f=[3, 4]),
    _segment("cant_lose_them", r=[1, 2], f=[5, 5]),
    _segment("hibernating", r=[2, 2], f=[1, 2]),
    _segment("lost", r=[1, 1], f=[1, 2]),
]
DEFAULT_RULES_BINS = 5


class RFMError(ValueError):
    """Inputs or settings of the RFM scoring are unusable; the message says where and how to fix them."""


class SegmentRulesError(RFMError):
    """Segment rules overlap, leave score cells uncovered or are malformed."""


# ---------------------------------------------------------------------------------------------
# Scores


def _check_customers(customers: pd.DataFrame, columns: Sequence[str]) -> None:
    missing = [c for c in ("customer_id", *columns) if c not in customers.columns]
    if missing:
        raise RFMError(
            f"customers table lacks column(s) {', '.join(missing)}; compute it with "
            "analysis.methods.customer_summary.customer_summary first"
        )
    if customers["customer_id"].isna().any():
        raise RFMError(
            f"customer_id is missing in {int(customers['customer_id'].isna().sum())} row(s) of the customers table"
        )
    repeated = customers["customer_id"].duplicated()
    if repeated.any():
        dupes = customers.loc[repeated, "customer_id"].head(_EXAMPLES).tolist()
        raise RFMError(
            f"customer_id must be unique in the customers table (one row per customer); repeated: {dupes}"
        )
    for column in columns:
        bad = customers[column].isna()
        if bad.any():
            ids = customers.loc[bad, "customer_id"].head(_EXAMPLES).tolist()
            raise RFMError(
                f"column {column} is missing for {int(bad.sum())} customer(s), e.g. {ids}; fill or drop them"
            )


def _check_thresholds(
    thresholds: Mapping[str, Sequence[float]] | None, bins: int
) -> dict[str, np.ndarray]:
    if not thresholds:
        return {}
    unknown = sorted(set(thresholds) - set(DIMENSIONS))
    if unknown:
        raise RFMError(f"rfm_thresholds has unknown key(s) {unknown}; use r, f and/or m")
    checked = {}
    for dim, cuts in thresholds.items():
        values = np.asarray(list(cuts), dtype="float64")
        where = f"rfm_thresholds.{dim} ({RFM_INPUTS[dim]})"
        if len(values) != bins - 1:
            raise RFMError(
                f"{where} needs {bins - 1} cut points for {bins} bins, got {len(values)}: {list(cuts)}"
            )
        if not np.isfinite(values).all() or (np.diff(values) <= 0).any():
            raise RFMError(
                f"{where} must be finite numbers in strictly ascending order, got {list(cuts)}"
            )
        checked[dim] = values
    return checked


def id_ranks(customer_ids: pd.Series) -> np.ndarray:
    """Each customer id's position in ascending order (code-point order, as pandas sorts text).

    One Arrow sort: a two-key sort on (value, text) would factorize the ids for every dimension.
    """
    by_id, _, _ = sorted_text(customer_ids)
    ranks = np.empty(len(by_id), dtype="int64")
    ranks[by_id] = np.arange(len(by_id))
    return ranks


def quantile_scores(
    values: pd.Series, id_rank: np.ndarray, bins: int, higher_is_better: bool
) -> np.ndarray:
    """Equal-count scores 1..bins on ranks, ties broken by ``customer_id`` (``id_rank``: :func:`id_ranks`).

    Customers are ordered from worst to best value (ties by ascending ``customer_id``); the one at
    position p (0-based) of n gets ``⌊p · bins / n⌋ + 1``. Bin sizes then differ by at most one
    and the result does not depend on row order. Equal values can fall in neighbouring bins; use
    thresholds for heavily tied inputs (such as many one-order customers).
    """
    key = values.to_numpy(dtype="float64")
    order = np.lexsort((id_rank, key if higher_is_better else -key))  # stable: equal ids keep row order
    n = len(key)
    position = np.empty(n, dtype="int64")
    position[order] = np.arange(n)
    return position * bins // max(n, 1) + 1


def threshold_scores(values: pd.Series, cuts: np.ndarray, higher_is_better: bool) -> np.ndarray:
    """Scores from ascending cut points c₁ < … < c_{bins−1} on the raw value.

    Higher is better (F, M): score = 1 + #{cᵢ ≤ x}, i.e. bins [cᵢ, cᵢ₊₁) ("at least cᵢ").
    Lower is better (R, days): score = bins − #{cᵢ < x}, i.e. x ≤ c₁ scores ``bins`` and x > c_{bins−1}
    scores 1 ("within cᵢ days").
    """
    x = values.to_numpy(dtype="float64")
    if higher_is_better:
        return np.searchsorted(cuts, x, side="right").astype("int64") + 1
    return len(cuts) + 1 - np.searchsorted(cuts, x, side="left").astype("int64")


def rfm_cell(r: pd.Series, f: pd.Series, m: pd.Series, bins: int) -> pd.Series:
    """The cell label, e.g. ``"555"``; with 10 bins scores are joined by ``-`` (``"10-9-10"``)."""
    sep = "" if bins <= 9 else "-"
    return (r.astype("string") + sep + f.astype("string") + sep + m.astype("string")).astype(
        "string"
    )


def rfm_scores(
    customers: pd.DataFrame,
    *,
    bins: int = 5,
    thresholds: Mapping[str, Sequence[float]] | None = None,
) -> pd.DataFrame:
    """Add RFM scores to a customer summary.

    Parameters
    ----------
    customers
        One row per customer with ``customer_id`` and the inputs in :data:`RFM_INPUTS`
        (``days_since_last``, ``orders``, ``revenue``).
    bins
        Number of score levels (2–10); 5 gives the classic quintiles.
    thresholds
        Optional cut points per dimension, ``{"r": [...], "f": [...], "m": [...]}``, each a list of
        ``bins − 1`` ascending values in the input's unit (days, orders, currency); see
        :func:`threshold_scores`. Dimensions without cut points use :func:`quantile_scores`.

    Returns
    -------
    pandas.DataFrame
        A copy of ``customers`` with ``r_score``, ``f_score``, ``m_score`` (int, 1..bins, higher is
        better), ``rfm_score`` = r + f + m and ``rfm_cell`` (e.g. ``"535"``).
    """
    if not isinstance(bins, (int, np.integer)) or not 2 <= bins <= 10:
        raise RFMError(f"bins (scoring.rfm_bins) must be an integer from 2 to 10, got {bins!r}")
    _check_customers(customers, list(RFM_INPUTS.values()))
    cuts = _check_thresholds(thresholds, bins)
    out = customers.copy(deep=False)  # new columns only: the inputs' columns are shared, not copied
    id_rank = id_ranks(customers["customer_id"]) if len(cuts) < len(RFM_INPUTS) else None
    for dim, column in RFM_INPUTS.items():
        values, better = customers[column], HIGHER_IS_BETTER[dim]
        scores = (
            threshold_scores(values, cuts[dim], better)
            if dim in cuts
            else quantile_scores(values, id_rank, bins, better)
        )
        out[f"{dim}_score"] = pd.Series(scores, index=customers.index, dtype="int64")
    out["rfm_score"] = out["r_score"] + out["f_score"] + out["m_score"]
    out["rfm_cell"] = rfm_cell(out["r_score"], out["f_score"], out["m_score"], bins)
    out.attrs = {
        **customers.attrs,
        "rfm_bins": int(bins),
        "rfm_thresholds": {k: v.tolist() for k, v in cuts.items()},
    }
    return out


# ---------------------------------------------------------------------------------------------
# Segment rules


def _rule_name(rule: Any, index: int) -> str:
    key = rule.get("key") if isinstance(rule, Mapping) else None
    return f"'{key}'" if isinstance(key, str) and key else f"rule #{index + 1}"


def _range_problem(value: Any, bins: int) -> str | None:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        return f"must be a [low, high] pair of scores, got {value!r}"
    lo, hi = value
    if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in (lo, hi)):
        return f"must hold whole scores, got {list(value)}"
    if lo > hi:
        return f"has low > high: {list(value)}"
    if lo < 1 or hi > bins:
        return f"{list(value)} is outside the scores 1..{bins}"
    return None


def _has_builtin_name(rule: Mapping[str, Any]) -> bool:
    return isinstance(rule.get("key"), str) and f"{SEGMENT_NAME_PREFIX}{rule['key']}" in TEXTS


def _rule_problems(rule: Any, name: str, bins: int) -> list[str]:
    if not isinstance(rule, Mapping):
        return [
            f"{name} must be a mapping with key, r, f (and optional m, en, zh), got {type(rule).__name__}"
        ]
    problems = []
    missing = [k for k in _RULE_FIELDS_REQUIRED if k not in rule]
    named = [k for k in _NAME_FIELDS if k in rule]
    if named or not _has_builtin_name(rule):  # names come in pairs; a new key needs them
        missing += [k for k in _NAME_FIELDS if k not in rule]
    if missing:
        problems.append(f"{name} lacks {', '.join(missing)}")
    unknown = sorted(set(rule) - _RULE_FIELDS)
    if unknown:
        problems.append(
            f"{name} has unknown field(s) {', '.join(map(str, unknown))}; allowed: key, en, zh, r, f, m"
        )
    for field in ("key", "en", "zh"):
        if field in rule and not (isinstance(rule[field], str) and rule[field].strip()):
            problems.append(f"{name}: {field} must be a non-empty text")
    for dim in DIMENSIONS:
        if rule.get(dim) is not None or dim in ("r", "f") and dim in rule:
            problem = _range_problem(rule[dim], bins)
            if problem:
                problems.append(f"{name}: range {dim} {problem}")
    return problems


def _box(rule: Mapping[str, Any], bins: int) -> tuple[tuple[int, int], ...]:
    return tuple(
        (int(rule[dim][0]), int(rule[dim][1])) if rule.get(dim) is not None else (1, bins)
        for dim in DIMENSIONS
    )


def _cell_text(cell: Sequence[int]) -> str:
    return "(" + ", ".join(f"{dim}={int(v)}" for dim, v in zip(DIMENSIONS, cell)) + ")"


def _overlap_problems(boxes: dict[str, tuple[tuple[int, int], ...]]) -> list[str]:
    problems = []
    for (a, box_a), (b, box_b) in itertools.combinations(boxes.items(), 2):
        shared = [
            (max(lo_a, lo_b), min(hi_a, hi_b)) for (lo_a, hi_a), (lo_b, hi_b) in zip(box_a, box_b)
        ]
        if all(lo <= hi for lo, hi in shared):
            n_cells = int(np.prod([hi - lo + 1 for lo, hi in shared]))
            example = _cell_text([lo for lo, _ in shared])
            problems.append(f"rules {a} and {b} overlap on {n_cells} cell(s), e.g. {example}")
    return problems


def _coverage(boxes: dict[str, tuple[tuple[int, int], ...]], bins: int) -> np.ndarray:
    """How many rules match each (r, f, m) cell; index [r-1, f-1, m-1]."""
    counts = np.zeros((bins,) * 3, dtype="int64")
    for (r_lo, r_hi), (f_lo, f_hi), (m_lo, m_hi) in boxes.values():
        counts[r_lo - 1 : r_hi, f_lo - 1 : f_hi, m_lo - 1 : m_hi] += 1
    return counts


def validate_segment_rules(rules: Any, bins: int = DEFAULT_RULES_BINS) -> list[str]:
    """Problems of a segment rule set, as readable sentences; ``[]`` when the rules tile the score cube.

    A valid set has well-formed rules (``key``, inclusive ``r`` and ``f`` ranges, optional ``m``,
    all within 1..bins; names ``en`` and ``zh``, optional for a key with a built-in name), unique
    keys, no two rules sharing a cell, and every one of the bins³ (r, f, m) cells matched by some rule.
    """
    if not isinstance(bins, (int, np.integer)) or not 2 <= bins <= 10:
        return [f"bins must be an integer from 2 to 10, got {bins!r}"]
    if not isinstance(rules, Sequence) or isinstance(rules, (str, bytes)) or not rules:
        return ["segment rules must be a non-empty list of rules (key, r, f, optional m, en, zh)"]
    problems: list[str] = []
    boxes: dict[str, tuple[tuple[int, int], ...]] = {}
    names = [_rule_name(rule, i) for i, rule in enumerate(rules)]
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"rule key {name} is used {names.count(name)} times; keys must be unique")
    for rule, name in zip(rules, names):
        rule_problems = _rule_problems(rule, name, bins)
        problems.extend(rule_problems)
        if not rule_problems and names.count(name) == 1:
            boxes[name] = _box(rule, bins)
    problems.extend(_overlap_problems(boxes))
    if len(boxes) == len(rules):  # coverage is only meaningful once every rule is readable
        uncovered = np.argwhere(_coverage(boxes, bins) == 0) + 1
        if len(uncovered):
            examples = ", ".join(_cell_text(c) for c in uncovered[:_EXAMPLES])
            problems.append(
                f"{len(uncovered)} of {bins**3} score cells match no rule, e.g. {examples}; "
                "widen a rule's ranges or add a rule for them"
            )
    return problems


def _segment_lookup(rules: Sequence[Mapping[str, Any]], bins: int) -> np.ndarray:
    lookup = np.empty((bins,) * 3, dtype=object)
    for rule in rules:
        (r_lo, r_hi), (f_lo, f_hi), (m_lo, m_hi) = _box(rule, bins)
        lookup[r_lo - 1 : r_hi, f_lo - 1 : f_hi, m_lo - 1 : m_hi] = rule["key"]
    return lookup


def assign_segments(
    scores: pd.DataFrame,
    rules: Sequence[Mapping[str, Any]] = DEFAULT_SEGMENT_RULES,
    *,
    bins: int = DEFAULT_RULES_BINS,
) -> pd.DataFrame:
    """Add ``rfm_segment`` (the rule key) to a table with ``r_score``, ``f_score``, ``m_score``.

    Raises :class:`SegmentRulesError` listing every problem when the rules do not tile the score
    cube (see :func:`validate_segment_rules`), and :class:`RFMError` when a score is outside 1..bins.
    """
    problems = validate_segment_rules(rules, bins)
    if problems:
        raise SegmentRulesError(
            f"segment rules (scoring.segment_rules) are invalid for {bins} bins:\n  - "
            + "\n  - ".join(problems)
        )
    missing = [c for c in ("r_score", "f_score", "m_score") if c not in scores.columns]
    if missing:
        raise RFMError(f"scores table lacks {', '.join(missing)}; run rfm_scores first")
    cells = scores[["r_score", "f_score", "m_score"]].to_numpy()
    outside = (
        ~((cells >= 1) & (cells <= bins)).all(axis=1) if len(cells) else np.zeros(0, dtype=bool)
    )
    if outside.any():
        ids = (
            scores.loc[outside, "customer_id"].head(_EXAMPLES).tolist()
            if "customer_id" in scores
            else []
        )
        raise RFMError(
            f"{int(outside.sum())} row(s) have scores outside 1..{bins} (e.g. customers {ids}); "
            "score with the same number of bins as the rules"
        )
    lookup = _segment_lookup(rules, bins)
    idx = cells.astype("int64") - 1
    out = scores.copy(deep=False)
    out[SEGMENT_COLUMN] = pd.Series(
        lookup[idx[:, 0], idx[:, 1], idx[:, 2]], index=scores.index, dtype="string"
    )
    return out


def segment_name(rule: Mapping[str, Any]) -> Message | dict[str, str]:
    """A segment's display name, for :func:`analysis.i18n.render`: the rule's own ``{en, zh}`` names
    when the params give them, else the message of the locale text ``rfm_segment_<key>``."""
    if all(field in rule for field in _NAME_FIELDS):
        return {field: rule[field] for field in _NAME_FIELDS}
    return message(f"{SEGMENT_NAME_PREFIX}{rule['key']}")


def segment_summary(
    customers: pd.DataFrame, rules: Sequence[Mapping[str, Any]] = DEFAULT_SEGMENT_RULES
) -> pd.DataFrame:
    """One row per segment, in rule order (segments without customers included).

    Columns: ``segment`` (key), ``label`` (its :func:`segment_name` as JSON text, rendered at
    display), ``customers``, ``share`` (of customers), ``revenue``, ``revenue_share`` (segment
    revenue / total revenue; missing when the total is not positive), the mean raw inputs ``mean_days_since_last``, ``mean_orders``, ``mean_revenue``
    and the mean scores ``mean_r_score``, ``mean_f_score``, ``mean_m_score``.
    """
    needed = [SEGMENT_COLUMN, "revenue", "r_score", "f_score", "m_score", *RFM_INPUTS.values()]
    missing = [c for c in dict.fromkeys(needed) if c not in customers.columns]
    if missing:
        raise RFMError(
            f"customers table lacks {', '.join(missing)}; run rfm_scores and assign_segments first"
        )
    keys = [rule["key"] for rule in rules]
    unknown = sorted(set(customers[SEGMENT_COLUMN].dropna().unique()) - set(keys))  # unique first: no loop over rows
    if unknown:
        raise RFMError(
            f"segments {unknown} in {SEGMENT_COLUMN} are not in the rules; pass the rules used to assign them"
        )
    grouped = customers.groupby(SEGMENT_COLUMN, observed=True)
    means = grouped[
        ["days_since_last", "orders", "revenue", "r_score", "f_score", "m_score"]
    ].mean()
    table = pd.DataFrame(
        {
            "customers": grouped.size(),
            "revenue": grouped["revenue"].sum(),
            **{f"mean_{c}": means[c] for c in means.columns},
        }
    ).reindex(keys)
    table["customers"] = table["customers"].fillna(0).astype("int64")
    table["revenue"] = table["revenue"].fillna(0.0).astype("float64")
    total_customers, total_revenue = table["customers"].sum(), table["revenue"].sum()
    table["share"] = table["customers"] / total_customers if total_customers else np.nan
    table["revenue_share"] = table["revenue"] / total_revenue if total_revenue > 0 else np.nan
    table.insert(0, "label", pd.array([to_json(segment_name(rule)) for rule in rules], dtype="string"))
    table = table.rename_axis("segment").reset_index()
    table["segment"] = table["segment"].astype("string")
    order = ["segment", "label", "customers", "share", "revenue", "revenue_share"]
    return table[order + [c for c in table.columns if c.startswith("mean_")]]
