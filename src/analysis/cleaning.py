"""Cleaning: every input row is either kept or quarantined with a reason, and the counts add up.

Rows are checked in a fixed order and set aside at the first failing check, so each quarantined
row carries exactly one reason:

transactions: duplicate → missing_customer_id → invalid_date → invalid_amount → before_period_start /
after_period_end → outlier (only when ``cleaning.outliers.action`` is ``quarantine``).

Returns (negative amounts) that name an order of the same customer are netted into that order: the
order keeps its date and its amount becomes gross + returns (spread over the order's lines in
proportion to their amounts). A return that matches no order stays as its own row with
``is_return = True``; it counts in revenue but is not a purchase.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from .loading import SOURCE_ROW, map_columns, read_raw
from .params import Cleaning, InputFile, OutlierRule, Period

QUARANTINE_COLUMNS = ["source", "source_file", "source_row", "reason", "raw"]

_CURRENCY = re.compile(r"(人民币|RMB|CNY|元|¥|￥|\s)", flags=re.IGNORECASE)
_TRAILING_ZERO_ID = re.compile(r"^(\d+)\.0$")


@dataclass
class CleanResult:
    """The rows kept, the rows set aside (with reasons) and the quality counts of one input."""

    kept: pd.DataFrame
    quarantine: pd.DataFrame
    quality: dict[str, Any] = field(default_factory=dict)


class _Triage:
    """Assigns each row at most one quarantine reason, the first check that fails."""

    def __init__(self, df: pd.DataFrame) -> None:
        self.df = df
        self.reason = pd.Series(pd.NA, index=df.index, dtype="string")

    @property
    def open(self) -> pd.Series:
        return self.reason.isna()

    def set_aside(self, mask: pd.Series, reason: str) -> None:
        self.reason = self.reason.mask(mask.fillna(False).astype(bool) & self.open, reason)

    def result(self, source: str, source_file: str, raw: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        kept = self.df[self.open].copy()
        bad = ~self.open
        quarantine = quarantine_frame(raw[bad], self.reason[bad], source, source_file)
        return kept, quarantine


def quarantine_frame(raw: pd.DataFrame, reasons: pd.Series, source: str, source_file: str) -> pd.DataFrame:
    """Set-aside rows in one schema for every input: where they came from, why, and their raw text."""
    values = raw.drop(columns=[SOURCE_ROW])
    raw_json = [
        json.dumps({k: (None if pd.isna(v) else str(v)) for k, v in row.items()}, ensure_ascii=False)
        for row in values.to_dict(orient="records")
    ]
    return pd.DataFrame(
        {
            "source": pd.Series([source] * len(raw), dtype="string"),
            "source_file": pd.Series([source_file] * len(raw), dtype="string"),
            "source_row": raw[SOURCE_ROW].to_numpy(dtype="int64"),
            "reason": reasons.to_numpy(dtype=object),
            "raw": pd.Series(raw_json, dtype="string"),
        }
    ).astype({"reason": "string"})


def quality_counts(rows_in: int, kept: int, quarantine: pd.DataFrame, **extra: Any) -> dict[str, Any]:
    reasons = quarantine["reason"].value_counts().sort_index()
    counts = {
        "rows_in": int(rows_in),
        "rows_kept": int(kept),
        "rows_quarantined": int(len(quarantine)),
        "reasons": {str(k): int(v) for k, v in reasons.items()},
    }
    if counts["rows_kept"] + counts["rows_quarantined"] != counts["rows_in"]:
        raise AssertionError(f"row accounting broken: {counts}")  # a bug, never the user's data
    return counts | extra


# ---------------------------------------------------------------------------------------------
# Parsers: text in, typed values out, NA where the text cannot be read.


def normalise_ids(values: pd.Series) -> pd.Series:
    """Ids as trimmed strings; leading zeros kept; '123.0' (a number that passed through a float) → '123'."""
    ids = values.astype("string").str.strip()
    ids = ids.str.replace(_TRAILING_ZERO_ID, r"\1", regex=True)
    return ids.mask(ids == "", pd.NA)


def parse_dates(values: pd.Series, formats: list[str]) -> pd.Series:
    """Try each format in turn; the first that reads a cell wins. Unreadable cells become NaT."""
    text = values.astype("string").str.strip()
    parsed = pd.Series(pd.NaT, index=values.index, dtype="datetime64[us]")
    for fmt in formats:
        todo = parsed.isna() & text.notna()
        if not todo.any():
            break
        attempt = pd.to_datetime(text[todo], format=fmt, errors="coerce")
        parsed.loc[todo] = attempt.astype("datetime64[us]")
    return parsed.dt.normalize()


def parse_amounts(values: pd.Series) -> pd.Series:
    """Numbers from text such as '1,234.50', '¥1,234.50', '1234.50元', 'RMB 1234.50', '(12.00)'."""
    text = values.astype("string").str.replace(_CURRENCY, "", regex=True).str.replace(",", "", regex=False)
    negative_parens = text.str.fullmatch(r"\(.*\)").fillna(False)
    text = text.str.strip("()")
    numbers = pd.to_numeric(text, errors="coerce").astype("float64")
    return numbers.mask(negative_parens.astype(bool), -numbers)


def outlier_mask(amounts: pd.Series, rule: OutlierRule) -> pd.Series:
    """Flag extreme positive amounts.

    ``mad_log``: robust z-score of log(amount), |log x − median| / (1.4826 · MAD) > threshold
    (Iglewicz & Hoaglin 1993, on the log scale because order values are right-skewed; with
    MAD = 0 the mean absolute deviation × 1.2533 stands in).
    ``iqr``: log(amount) beyond Q3 + threshold · IQR or below Q1 − threshold · IQR (Tukey's fences).
    """
    positive = amounts > 0
    flags = pd.Series(False, index=amounts.index)
    if rule.method == "none" or positive.sum() < 20:
        return flags
    logs = np.log(amounts[positive])
    if rule.method == "mad_log":
        deviation = (logs - logs.median()).abs()
        # When over half the values are equal the MAD is 0; fall back to the mean absolute
        # deviation (scaled to σ for normal data), as Iglewicz & Hoaglin's modified z-score does.
        scale = 1.4826 * float(deviation.median()) or 1.2533 * float(deviation.mean())
        if scale > 0:
            flags.loc[positive] = deviation / scale > rule.threshold
    else:
        q1, q3 = logs.quantile([0.25, 0.75])
        iqr = q3 - q1
        flags.loc[positive] = (logs > q3 + rule.threshold * iqr) | (logs < q1 - rule.threshold * iqr)
    return flags


# ---------------------------------------------------------------------------------------------
# Per-input cleaning.


def _read_and_triage(spec: InputFile, table: str, *, drop_duplicates: bool) -> tuple[pd.DataFrame, pd.DataFrame, _Triage]:
    """Read and map an input, then the checks every input shares: exact duplicates, missing ids.

    Duplicates are judged on the raw row (every column of the file, mapped or not), so two order
    lines that differ only in an unmapped column are both kept.
    """
    raw = read_raw(spec)
    df = map_columns(raw, spec, table)
    triage = _Triage(df)
    if drop_duplicates:
        triage.set_aside(raw.drop(columns=[SOURCE_ROW]).duplicated(keep="first"), "duplicate")
    df["customer_id"] = normalise_ids(df["customer_id"])
    triage.set_aside(df["customer_id"].isna(), "missing_customer_id")
    return raw, df, triage


def clean_transactions(spec: InputFile, period: Period, cleaning: Cleaning) -> CleanResult:
    raw, df, triage = _read_and_triage(spec, "transactions", drop_duplicates=True)
    df["order_date"] = parse_dates(df["order_date"], cleaning.date_formats)
    triage.set_aside(df["order_date"].isna(), "invalid_date")
    df["amount"] = parse_amounts(df["amount"])
    triage.set_aside(df["amount"].isna(), "invalid_amount")
    triage.set_aside(df["order_date"] < pd.Timestamp(period.start), "before_period_start")
    triage.set_aside(df["order_date"] > pd.Timestamp(period.end), "after_period_end")
    outliers = outlier_mask(df["amount"].where(triage.open), cleaning.outliers)
    if cleaning.outliers.action == "quarantine":
        triage.set_aside(outliers, "outlier")
    df["is_outlier"] = outliers
    kept, quarantine = triage.result("transactions", spec.path.name, raw)
    kept = _typed_transactions(kept)
    netted, n_netted = net_returns(kept)
    quality = quality_counts(
        len(raw), len(kept), quarantine,
        returns_netted=n_netted,
        unmatched_returns=int(netted["is_return"].sum()),
        outliers_flagged=int(netted["is_outlier"].sum()),
        rows_written=len(netted),
    )
    return CleanResult(netted, quarantine, quality)


def _typed_transactions(kept: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame(
        {
            "customer_id": kept["customer_id"].astype("string"),
            "order_id": normalise_ids(kept["order_id"]) if "order_id" in kept else pd.Series(pd.NA, index=kept.index, dtype="string"),
            "order_date": kept["order_date"],
            "amount": kept["amount"].astype("float64"),
        }
    )
    for name in ("quantity", "cost"):
        out[name] = parse_amounts(kept[name]) if name in kept else np.nan
    for name in ("product_category", "channel"):
        out[name] = kept[name].astype("string").str.strip() if name in kept else pd.Series(pd.NA, index=kept.index, dtype="string")
    out["is_outlier"] = kept["is_outlier"].astype(bool)
    out["source_row"] = kept[SOURCE_ROW].astype("int64")
    return out.reset_index(drop=True)


def net_returns(tx: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Net each return into its order (same customer and order id); return rows that match nothing stay.

    Returns the netted table (with ``gross_amount``, ``returned_amount``, ``is_return`` and
    ``order_day``, days since 1970-01-01) and the number of return rows netted away.
    """
    tx = tx.copy()
    is_neg = tx["amount"] < 0
    key = ["customer_id", "order_id"]
    purchases = tx[~is_neg]
    order_keys = purchases.dropna(subset=["order_id"])[key].drop_duplicates()
    returns = tx[is_neg].reset_index().merge(order_keys, on=key, how="left", indicator=True)
    matched_idx = returns.loc[returns["_merge"] == "both", "index"]
    matched = tx.loc[matched_idx]

    returned = matched.groupby(key, observed=True)["amount"].sum().rename("returned_amount")
    out = tx.drop(index=matched_idx)
    out["gross_amount"] = out["amount"]
    order_gross = out[~(out["amount"] < 0)].groupby(key, observed=True)["amount"].transform("sum")
    out = out.join(returned, on=key)
    share = (out["amount"] / order_gross.reindex(out.index)).fillna(0.0)
    line_return = (out["returned_amount"].fillna(0.0) * share).where(out["amount"] >= 0, 0.0)
    out["returned_amount"] = line_return
    ratio = (out["amount"] + line_return) / out["amount"].where(out["amount"] != 0)
    out["amount"] = out["amount"] + line_return
    out["cost"] = out["cost"] * ratio.where(ratio.notna(), 1.0)
    out["is_return"] = out["amount"].lt(0) & out["gross_amount"].lt(0)
    out["order_day"] = (out["order_date"] - pd.Timestamp("1970-01-01")).dt.days.astype("int32")
    out = out.sort_values(["customer_id", "order_date", "order_id", "source_row"], kind="stable")
    return out.reset_index(drop=True), int(len(matched_idx))


def clean_customers(spec: InputFile, cleaning: Cleaning) -> CleanResult:
    raw, df, triage = _read_and_triage(spec, "customers", drop_duplicates=False)
    triage.set_aside(df["customer_id"].duplicated(keep="first") & df["customer_id"].notna(), "duplicate_customer_id")
    warnings: dict[str, int] = {}
    if "signup_date" in df:
        text = df["signup_date"]
        df["signup_date"] = parse_dates(text, cleaning.date_formats)
        warnings["unreadable_signup_date"] = int((df["signup_date"].isna() & text.notna()).sum())
    if "balance" in df:
        text = df["balance"]
        df["balance"] = parse_amounts(text)
        warnings["unreadable_balance"] = int((df["balance"].isna() & text.notna()).sum())
    if "segment" in df:
        df["segment"] = df["segment"].str.strip().str.upper()
    kept, quarantine = triage.result("customers", spec.path.name, raw)
    kept = kept.drop(columns=[SOURCE_ROW]).reset_index(drop=True)
    quality = quality_counts(len(raw), len(kept), quarantine, warnings=warnings)
    return CleanResult(kept, quarantine, quality)


def clean_surveys(spec: InputFile, cleaning: Cleaning, *, scale_max: int, attributes: list[str]) -> CleanResult:
    raw, df, triage = _read_and_triage(spec, "surveys", drop_duplicates=True)
    df["survey_date"] = parse_dates(df["survey_date"], cleaning.date_formats)
    triage.set_aside(df["survey_date"].isna(), "invalid_date")
    ranges = {"overall_satisfaction": (1, scale_max), "recommend": (0, 10)}
    ranges |= {a: (1, scale_max) for a in attributes if a in df}
    for column, (low, high) in ranges.items():
        if column not in df:
            continue
        text = df[column]
        df[column] = pd.to_numeric(text.str.strip(), errors="coerce").astype("float64")
        unreadable = df[column].isna() & text.notna()
        triage.set_aside(unreadable | (df[column] < low) | (df[column] > high), "rating_out_of_range")
    triage.set_aside(df["overall_satisfaction"].isna(), "missing_rating")
    kept, quarantine = triage.result("surveys", spec.path.name, raw)
    kept = kept.drop(columns=[SOURCE_ROW]).reset_index(drop=True)
    return CleanResult(kept, quarantine, quality_counts(len(raw), len(kept), quarantine))


def clean_complaints(spec: InputFile, cleaning: Cleaning, *, as_of: date) -> CleanResult:
    raw, df, triage = _read_and_triage(spec, "complaints", drop_duplicates=True)
    df["opened"] = parse_dates(df["opened"], cleaning.date_formats)
    triage.set_aside(df["opened"].isna(), "invalid_date")
    triage.set_aside(df["opened"] > pd.Timestamp(as_of), "after_period_end")
    if "closed" in df:
        text = df["closed"]
        df["closed"] = parse_dates(text, cleaning.date_formats)
        triage.set_aside(df["closed"].isna() & text.notna(), "invalid_date")
        triage.set_aside(df["closed"] < df["opened"], "closed_before_opened")
        # Closed after the study's end: still open as of the end date.
        df["closed"] = df["closed"].mask(df["closed"] > pd.Timestamp(as_of))
    kept, quarantine = triage.result("complaints", spec.path.name, raw)
    kept = kept.drop(columns=[SOURCE_ROW]).reset_index(drop=True)
    return CleanResult(kept, quarantine, quality_counts(len(raw), len(kept), quarantine))
