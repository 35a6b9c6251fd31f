"""Satisfaction and loyalty per tier: CSAT, top-box share, NPS and tests of tier differences.

Conventions shared by :mod:`analysis.methods.satisfaction`, :mod:`analysis.methods.drivers` and
:mod:`analysis.methods.complaints`:

* **One answer per customer.** When a customer answered several surveys, the latest answer counts
  (:func:`latest_answers`), so ``n`` is the number of respondents and answers are independent, as
  the intervals and tests assume.
* **Nothing raises on missing data.** A missing (``None``) or empty table, or one without a needed
  column, gives an empty result whose ``attrs["reason"]`` holds a message
  (:func:`analysis.i18n.message`): what could not be done and why, rendered in the reader's
  language at display time. :func:`reason` reads it. Wrong *arguments* (e.g. ``confidence=2``)
  raise :class:`SatisfactionArgumentError`.
* **Small groups are flagged, not hidden.** A tier with fewer than ``min_n`` respondents keeps its
  figures and gets ``too_few = True``; its intervals are wide and the report should say so.
* Per-tier tables keep the customers' ``tier_name`` (missing when they have none); the overall row
  has ``tier = <NA>`` and no name: the display names it ("all customers") and any unnamed tier.
* No text is in a language: verdicts and sentences are messages, stored in a table as JSON text.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
from scipy import stats

from analysis.i18n import TEXTS, Message, message, to_json
from analysis.methods.codes import sort_order, unique_in_order
from analysis.methods.ids import looked_up

TIER = "tier"
TIER_NAME = "tier_name"

CSAT_COLUMNS = [
    TIER,
    TIER_NAME,
    "customers",
    "respondents",
    "response_rate",
    "mean_satisfaction",
    "mean_low",
    "mean_high",
    "top_box_share",
    "top_box_low",
    "top_box_high",
    "too_few",
]
NPS_COLUMNS = [
    TIER,
    TIER_NAME,
    "n",
    "promoters_pct",
    "passives_pct",
    "detractors_pct",
    "nps",
    "nps_low",
    "nps_high",
    "too_few",
]
NPS_BOOT_COLUMNS = ["nps_boot_low", "nps_boot_high"]
TEST_COLUMNS = [
    "test",
    "column",
    "n",
    "groups",
    "statistic",
    "dof",
    "p_value",
    "effect_size",
    "effect_measure",
    "significant",
    "verdict",
]


class SatisfactionArgumentError(ValueError):
    """An argument of a satisfaction, driver or complaint function is out of its valid range."""


# ---------------------------------------------------------------------------------------------
# Empty results with a reason


def empty_result(columns: Iterable[str], why: Message) -> pd.DataFrame:
    """An empty table with ``columns``; ``attrs["reason"]`` is the message ``why``."""
    table = pd.DataFrame(columns=list(columns))
    table.attrs["reason"] = why
    return table


def reason(result: pd.DataFrame) -> Message | None:
    """Why ``result`` is empty (a message); ``None`` when it was computed."""
    return result.attrs.get("reason")


def unusable_reason(
    table: pd.DataFrame | None, name: str, required: Iterable[str]
) -> Message | None:
    """Why ``table`` (input ``name``: surveys, complaints or customers) cannot be used, else ``None``."""
    shown = message(f"satisfaction_table_{name}")
    if table is None:
        return message("satisfaction_no_input", table=shown, name=name)
    if len(table) == 0:
        return message("satisfaction_empty_input", table=shown)
    missing = [c for c in required if c not in table.columns]
    if missing:
        return message("satisfaction_missing_columns", table=shown, name=name, missing=str(missing))
    return None


def check_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise SatisfactionArgumentError(
            f"confidence must lie strictly between 0 and 1, got {confidence!r}; use e.g. 0.95."
        )


def format_p(p: float) -> str:
    """p values as a report shows them: 'p < 0.001' or 'p = 0.034'."""
    if not np.isfinite(p):
        return "p = n/a"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def column_label(column: str, *, sentence_start: bool = False) -> Message | str:
    """A rated column in words (text ``satisfaction_col_<column>``, or ``satisfaction_subject_…``
    where a sentence starts with it); a column without a label shows as its name."""
    key = f"satisfaction_{'subject' if sentence_start else 'col'}_{column}"
    return message(key) if key in TEXTS else column


# ---------------------------------------------------------------------------------------------
# Respondents and tiers


def latest_answers(surveys: pd.DataFrame) -> pd.DataFrame:
    """Each customer's latest survey answer (one row per ``customer_id``).

    Ties on ``survey_date`` are broken by the other columns in name order, so the choice does not
    depend on the row order of the input. Answers already one per customer in id order (this
    function's result) come back as they are, without another sort.
    """
    if unique_in_order(surveys["customer_id"]):  # the order of the result
        return surveys.reset_index(drop=True)
    keys = ["customer_id"] + (["survey_date"] if "survey_date" in surveys else [])
    rest = sorted(c for c in surveys.columns if c not in keys)
    ordered = surveys.take(sort_order(surveys, keys + rest, missing_first=True))  # as a stable sort_values
    return ordered.drop_duplicates("customer_id", keep="last").reset_index(drop=True)


def tier_table(customers: pd.DataFrame) -> pd.DataFrame:
    """One row per tier (sorted, 1 = best): ``tier``, ``tier_name``, ``customers`` (count).

    ``tier_name`` is the customers' own (missing when they have none). Customers without a tier
    are left out.
    """
    tiered = _tiered(customers)
    # ids each once (customers as stage 2 writes them): a tier's rows are its customers, counted without hashing
    count = "size" if unique_in_order(tiered["customer_id"]) else "nunique"
    table = tiered.groupby(TIER, sort=True).agg(tier_name=(TIER_NAME, "first"), customers=("customer_id", count))
    table = table.astype({TIER_NAME: "string", "customers": "int64"})
    return table.reset_index()


def _tiered(customers: pd.DataFrame) -> pd.DataFrame:
    """``customer_id``, ``tier`` (whole numbers) and ``tier_name`` (missing when the customers have
    none) of the customers with a tier."""
    has_tier = customers[TIER].notna().to_numpy()  # by position: the index may repeat labels
    tiered = customers.loc[has_tier, ["customer_id", TIER]].astype({TIER: "int64"})
    if TIER_NAME in customers:
        tiered[TIER_NAME] = customers[TIER_NAME].astype("string").array[has_tier]
    else:
        tiered[TIER_NAME] = pd.Series(pd.NA, index=tiered.index, dtype="string")
    return tiered


def one_row_per_customer(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame.drop_duplicates("customer_id")``, without its hashing of every id when the ids come
    each once in order already, as stage 2 writes the customers."""
    return frame if unique_in_order(frame["customer_id"]) else frame.drop_duplicates("customer_id")


def attach_tier(
    surveys: pd.DataFrame | None,
    customers: pd.DataFrame | None,
    *,
    latest_only: bool = True,
) -> pd.DataFrame:
    """Survey answers with the respondent's ``tier`` and ``tier_name``.

    Parameters
    ----------
    surveys, customers
        Cleaned surveys; customers with ``customer_id`` and ``tier`` (``tier_name`` optional).
    latest_only
        Keep each customer's latest answer only (see :func:`latest_answers`).

    Returns
    -------
    DataFrame
        The answers of customers that have a tier. ``attrs["unmatched_respondents"]`` counts the
        respondents left out because they have no tier (not in ``customers`` or tier missing).
    """
    why = unusable_reason(surveys, "surveys", ["customer_id"]) or unusable_reason(
        customers, "customers", ["customer_id", TIER]
    )
    if why is not None:
        columns = [] if surveys is None else [c for c in surveys.columns if c not in (TIER, TIER_NAME)]
        return empty_result([*columns, TIER, TIER_NAME], why)
    answers = latest_answers(surveys) if latest_only else surveys.reset_index(drop=True)
    tiered = _tiered(customers)
    names = tiered.groupby(TIER)[TIER_NAME].first()  # as tier_table names the tiers
    tiers = one_row_per_customer(tiered)
    # an inner merge on the ids, in the answers' order, by one lookup: a merge factorizes every text id
    tier = looked_up(answers["customer_id"], tiers.set_index("customer_id")[TIER])
    matched = tier.notna().to_numpy()
    joined = answers.drop(columns=[TIER, TIER_NAME], errors="ignore").loc[matched].reset_index(drop=True)
    joined[TIER] = tier[matched].to_numpy().astype("int64")
    joined[TIER_NAME] = names.reindex(joined[TIER]).array
    joined.attrs["unmatched_respondents"] = int(
        answers["customer_id"].nunique() - joined["customer_id"].nunique()
    )
    return joined


# ---------------------------------------------------------------------------------------------
# Interval formulas


def t_interval(
    mean: np.ndarray | float,
    sd: np.ndarray | float,
    n: np.ndarray | float,
    confidence: float = 0.95,
) -> tuple[np.ndarray, np.ndarray]:
    """Student-t interval for a mean: ``mean ± t_{(1+c)/2, n-1} · sd / √n`` (NaN when n < 2)."""
    check_confidence(confidence)
    n = np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        dof = np.where(n >= 2, n - 1, np.nan)
        half = stats.t.ppf((1 + confidence) / 2, dof) * np.asarray(sd, dtype=float) / np.sqrt(n)
    return np.asarray(mean) - half, np.asarray(mean) + half


def wilson_interval(
    successes: np.ndarray | float, n: np.ndarray | float, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson (1927) score interval for a proportion ``p = successes / n`` (NaN when n = 0).

    ``centre = (p + z²/2n) / (1 + z²/n)``, ``half = z / (1 + z²/n) · √(p(1−p)/n + z²/4n²)``.
    Unlike the Wald interval it stays inside [0, 1] and keeps its coverage at p near 0 or 1.
    """
    check_confidence(confidence)
    z = stats.norm.ppf((1 + confidence) / 2)
    n = np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.asarray(successes, dtype=float) / n
        denominator = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denominator
        half = z / denominator * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    return centre - half, centre + half


# ---------------------------------------------------------------------------------------------
# CSAT


def _csat_row(ratings: pd.Series, *, top_threshold: float, confidence: float) -> dict[str, float]:
    values = ratings.dropna().to_numpy(dtype=float)
    n = len(values)
    mean = values.mean() if n else np.nan
    sd = values.std(ddof=1) if n >= 2 else np.nan
    low, high = t_interval(mean, sd, n, confidence)
    top = float((values >= top_threshold).sum())
    top_low, top_high = wilson_interval(top, n, confidence)
    return {
        "respondents": n,
        "mean_satisfaction": mean,
        "mean_low": float(low),
        "mean_high": float(high),
        "top_box_share": top / n if n else np.nan,
        "top_box_low": float(top_low),
        "top_box_high": float(top_high),
    }


def csat_by_tier(
    surveys: pd.DataFrame | None,
    customers: pd.DataFrame | None,
    *,
    scale_max: int,
    top_box: int = 2,
    min_n: int = 30,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Customer satisfaction (CSAT) per tier and overall.

    Per tier: ``customers`` (in the tier), ``respondents`` (customers with an answer; latest answer
    each), ``response_rate = respondents / customers``, ``mean_satisfaction`` with a Student-t
    interval (:func:`t_interval`), ``top_box_share`` — the share answering one of the ``top_box``
    highest points of the 1..``scale_max`` scale (e.g. 4–5 of 5, 9–10 of 10) — with a Wilson
    interval (:func:`wilson_interval`), and ``too_few = respondents < min_n``. Tiers without
    respondents are listed with ``respondents = 0``. ``attrs`` records ``confidence`` and
    ``unmatched_respondents``.
    """
    check_confidence(confidence)
    if not 1 <= top_box < scale_max:
        raise SatisfactionArgumentError(
            f"top_box must be between 1 and scale_max - 1 ({scale_max - 1}), got {top_box}; "
            "set satisfaction.top_box in the params file."
        )
    answers = attach_tier(surveys, customers)
    why = reason(answers) or unusable_reason(surveys, "surveys", ["overall_satisfaction"])
    if why is not None:
        return empty_result(CSAT_COLUMNS, why)

    top_threshold = scale_max - top_box + 1
    tiers = tier_table(customers)
    rows = []
    for tier, name, n_customers in tiers[[TIER, TIER_NAME, "customers"]].itertuples(index=False):
        ratings = answers.loc[answers[TIER] == tier, "overall_satisfaction"]
        row = _csat_row(ratings, top_threshold=top_threshold, confidence=confidence)
        rows.append({TIER: tier, TIER_NAME: name, "customers": n_customers, **row})
    overall = _csat_row(
        answers["overall_satisfaction"], top_threshold=top_threshold, confidence=confidence
    )
    rows.append({TIER: pd.NA, TIER_NAME: pd.NA, "customers": tiers["customers"].sum(), **overall})
    table = pd.DataFrame(rows)
    table["response_rate"] = table["respondents"] / table["customers"]
    table["too_few"] = table["respondents"] < min_n
    table = _typed_tier_column(table)[CSAT_COLUMNS]
    table.attrs.update(
        confidence=confidence, unmatched_respondents=answers.attrs["unmatched_respondents"]
    )
    return table


def _typed_tier_column(table: pd.DataFrame) -> pd.DataFrame:
    return table.astype({TIER: "Int64", TIER_NAME: "string"})


# ---------------------------------------------------------------------------------------------
# NPS


def nps_category(recommend: pd.Series) -> pd.Series:
    """'promoter' (9–10), 'passive' (7–8) or 'detractor' (0–6) for 0–10 scores; NA if missing."""
    values = pd.to_numeric(recommend, errors="coerce")
    category = pd.Series(pd.NA, index=recommend.index, dtype="string")
    category = category.mask(values >= 9, "promoter")
    category = category.mask((values >= 7) & (values < 9), "passive")
    return category.mask(values < 7, "detractor")


def net_promoter_score(recommend: pd.Series, confidence: float = 0.95) -> dict[str, float]:
    """NPS of 0–10 answers with a Wald interval from the multinomial variance.

    ``NPS = 100 · (p_P − p_D)`` with p_P the share of promoters (9–10) and p_D of detractors (0–6).
    Its variance for n independent answers is ``Var = (p_P + p_D − (p_P − p_D)²) / n``
    (multinomial shares; Rocks, B. 2016, "Interval estimation for the 'net promoter score'",
    *The American Statistician* 70(4), 365–372). The interval is ``NPS ± z · 100 · √Var``,
    clipped to [−100, 100]; it has zero width when every answer falls in one category.
    """
    check_confidence(confidence)
    category = nps_category(recommend).dropna()
    n = len(category)
    if n == 0:
        return {
            "n": 0,
            "promoters_pct": np.nan,
            "passives_pct": np.nan,
            "detractors_pct": np.nan,
            "nps": np.nan,
            "nps_low": np.nan,
            "nps_high": np.nan,
        }
    p_p = float((category == "promoter").mean())
    p_d = float((category == "detractor").mean())
    nps = 100 * (p_p - p_d)
    z = stats.norm.ppf((1 + confidence) / 2)
    half = z * 100 * np.sqrt(max(p_p + p_d - (p_p - p_d) ** 2, 0.0) / n)
    return {
        "n": n,
        "promoters_pct": 100 * p_p,
        "passives_pct": 100 * (1 - p_p - p_d),
        "detractors_pct": 100 * p_d,
        "nps": nps,
        "nps_low": max(nps - half, -100.0),
        "nps_high": min(nps + half, 100.0),
    }


def nps_bootstrap_interval(
    recommend: pd.Series, *, n_boot: int, confidence: float = 0.95, seed: int | list[int] = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the NPS (Efron & Tibshirani 1993, ch. 13).

    Resampling n answers with replacement is a multinomial draw of (promoters, passives,
    detractors) counts with the observed shares, so each replicate is drawn in one step.
    """
    check_confidence(confidence)
    category = nps_category(recommend).dropna()
    n = len(category)
    if n == 0 or n_boot <= 0:
        return np.nan, np.nan
    shares = [(category == c).mean() for c in ("promoter", "passive", "detractor")]
    draws = np.random.default_rng(seed).multinomial(n, shares, size=n_boot)
    replicates = 100 * (draws[:, 0] - draws[:, 2]) / n
    alpha = 1 - confidence
    low, high = np.quantile(replicates, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def nps_by_tier(
    surveys: pd.DataFrame | None,
    customers: pd.DataFrame | None,
    *,
    min_n: int = 30,
    confidence: float = 0.95,
    n_boot: int = 0,
    seed: int = 0,
) -> pd.DataFrame:
    """Net Promoter Score per tier and overall (NPS = %promoters(9–10) − %detractors(0–6)).

    Columns: ``n`` (respondents with a ``recommend`` answer; latest answer each), the three shares
    in %, ``nps`` in points (−100..100) with the interval of :func:`net_promoter_score`, and
    ``too_few = n < min_n``. With ``n_boot > 0`` also ``nps_boot_low`` / ``nps_boot_high``
    (:func:`nps_bootstrap_interval`, seeded with ``[seed, tier]``, overall with ``[seed, 0]``).
    """
    check_confidence(confidence)
    columns = NPS_COLUMNS[:-1] + (NPS_BOOT_COLUMNS if n_boot > 0 else []) + ["too_few"]
    answers = attach_tier(surveys, customers)
    why = reason(answers) or unusable_reason(surveys, "surveys", ["recommend"])
    if why is not None:
        return empty_result(columns, why)

    tiers = tier_table(customers)
    groups = [
        (tier, name, answers.loc[answers[TIER] == tier, "recommend"])
        for tier, name in tiers[[TIER, TIER_NAME]].itertuples(index=False)
    ]
    groups.append((pd.NA, pd.NA, answers["recommend"]))
    rows = []
    for tier, name, recommend in groups:
        row = {TIER: tier, TIER_NAME: name, **net_promoter_score(recommend, confidence)}
        if n_boot > 0:
            tier_seed = [seed, 0 if pd.isna(tier) else int(tier)]
            low, high = nps_bootstrap_interval(
                recommend, n_boot=n_boot, confidence=confidence, seed=tier_seed
            )
            row |= {"nps_boot_low": low, "nps_boot_high": high}
        rows.append(row)
    table = pd.DataFrame(rows)
    table["too_few"] = table["n"] < min_n
    table = _typed_tier_column(table)[columns]
    table.attrs.update(
        confidence=confidence, unmatched_respondents=answers.attrs["unmatched_respondents"]
    )
    return table


# ---------------------------------------------------------------------------------------------
# Do tiers differ?


def _test_row(test: str, column: str, **values: object) -> dict[str, object]:
    row: dict[str, object] = dict.fromkeys(TEST_COLUMNS, np.nan)
    return row | {"test": test, "column": column, "significant": False} | values


def _kruskal_row(answers: pd.DataFrame, column: str, alpha: float) -> dict[str, object]:
    """Kruskal & Wallis (1952) H test; effect size ε² = H / (n − 1) (Tomczak & Tomczak 2014)."""
    data = answers[[TIER, column]].dropna()
    samples = [g.to_numpy(dtype=float) for _, g in data.groupby(TIER, sort=True)[column]]
    n = len(data)
    if len(samples) < 2 or data[column].nunique() < 2:
        verdict = message("satisfaction_kruskal_untestable", label=column_label(column))
        return _test_row("kruskal_wallis", column, n=n, groups=len(samples), verdict=verdict)
    h, p = stats.kruskal(*samples)
    epsilon2 = h / (n - 1)
    significant = bool(p < alpha)
    figures = message(
        "satisfaction_kruskal_figures", h=float(h), p=format_p(p), effect=float(epsilon2)
    )
    if significant:
        verdict = message(
            "satisfaction_kruskal_differs",
            label=column_label(column, sentence_start=True),
            figures=figures,
        )
    else:
        verdict = message(
            "satisfaction_kruskal_no_evidence", label=column_label(column), figures=figures
        )
    return _test_row(
        "kruskal_wallis",
        column,
        n=n,
        groups=len(samples),
        statistic=float(h),
        dof=len(samples) - 1,
        p_value=float(p),
        effect_size=float(epsilon2),
        effect_measure="epsilon_squared",
        significant=significant,
        verdict=verdict,
    )


def _chi_square_row(answers: pd.DataFrame, alpha: float) -> dict[str, object]:
    """Pearson χ² test of independence of NPS category × tier; effect size Cramér's V."""
    category = nps_category(answers["recommend"])
    counts = pd.crosstab(answers[TIER], category)
    counts = counts.loc[counts.sum(axis=1) > 0, counts.sum(axis=0) > 0]
    n = int(counts.to_numpy().sum())
    if counts.shape[0] < 2 or counts.shape[1] < 2:
        verdict = message("satisfaction_chi_square_untestable")
        return _test_row("chi_square", "recommend", n=n, groups=counts.shape[0], verdict=verdict)
    result = stats.chi2_contingency(counts.to_numpy(), correction=False)
    cramers_v = np.sqrt(result.statistic / (n * (min(counts.shape) - 1)))
    sparse = float((result.expected_freq < 5).mean()) > 0.2  # Cochran's (1954) rule
    significant = bool(result.pvalue < alpha)
    figures = message(
        "satisfaction_chi_square_figures",
        chi2=float(result.statistic),
        dof=int(result.dof),
        p=format_p(result.pvalue),
        effect=float(cramers_v),
    )
    key = (
        "satisfaction_chi_square_differs" if significant else "satisfaction_chi_square_no_evidence"
    )
    verdict = message(key, figures=figures)
    if sparse:
        verdict = message("satisfaction_chi_square_sparse", verdict=verdict)
    return _test_row(
        "chi_square",
        "recommend",
        n=n,
        groups=counts.shape[0],
        statistic=float(result.statistic),
        dof=int(result.dof),
        p_value=float(result.pvalue),
        effect_size=float(cramers_v),
        effect_measure="cramers_v",
        significant=significant,
        verdict=verdict,
    )


def tiers_differ_test(
    surveys_with_tier: pd.DataFrame | None,
    column: str = "overall_satisfaction",
    *,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Do tiers differ? Kruskal–Wallis on ``column``; χ² on NPS category × tier.

    Parameters
    ----------
    surveys_with_tier
        Answers with a ``tier`` column, e.g. from :func:`attach_tier` (one answer per customer).
    column
        The rating compared across tiers with the Kruskal–Wallis H test (rank based: ratings are
        ordinal). Effect size ε² = H / (n − 1).
    alpha
        Significance level of the verdicts.

    Returns
    -------
    DataFrame
        One row per test (``kruskal_wallis``; ``chi_square`` when a ``recommend`` column exists):
        statistic, degrees of freedom, p value, effect size (ε² or Cramér's V), ``significant`` and
        a plain-language ``verdict``, a message stored as JSON text. A test that cannot run keeps
        its row with NaN figures and a verdict saying why.
    """
    if not 0 < alpha < 1:
        raise SatisfactionArgumentError(
            f"alpha must lie strictly between 0 and 1, got {alpha!r}; use e.g. 0.05."
        )
    why = unusable_reason(surveys_with_tier, "surveys", [column])
    if why is None and TIER not in surveys_with_tier:
        why = message("satisfaction_no_tier_column")
    if why is not None:
        return empty_result(TEST_COLUMNS, why)
    rows = [_kruskal_row(surveys_with_tier, column, alpha)]
    if "recommend" in surveys_with_tier:
        rows.append(_chi_square_row(surveys_with_tier, alpha))
    table = pd.DataFrame(rows, columns=TEST_COLUMNS)
    table["verdict"] = table["verdict"].map(to_json)
    return table.astype(
        {"test": "string", "column": "string", "effect_measure": "string", "verdict": "string"}
    )
