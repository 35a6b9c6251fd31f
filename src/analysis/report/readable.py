"""Figures at the precision a reader needs: the one way the notebooks show numbers.

Model estimates carry more digits than anyone reads, and their last digits differ between CPUs
(BLAS kernels, thread counts, vector widths). Notebooks pass every table and figure they show
through :func:`readable`, which rounds floats to ``digits`` significant figures (1303.42887 → 1300,
0.568526 → 0.569) and shows each figure as it is, not padded to its column's longest decimals.
Counts, labels and dates pass unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, TypeVar

import numpy as np
import pandas as pd

SIGNIFICANT_DIGITS = 3

Shown = TypeVar("Shown")


def round_significant(value: float, digits: int = SIGNIFICANT_DIGITS) -> float:
    """``value`` to ``digits`` significant figures (1303.42887 → 1300.0, 0.0012345 → 0.00123)."""
    if not math.isfinite(value) or value == 0:
        return value
    return round(value, digits - 1 - math.floor(math.log10(abs(value))))


#: A whole float with more significant figures than this is a sum (of money, say), not a count.
COUNT_DIGITS = 5


def _shown(value: object, digits: int) -> object:
    """One figure as a reader sees it: a whole number as an int (a count), any other float rounded.

    A whole float of more than :data:`COUNT_DIGITS` significant figures (4,297,492) is taken as a sum
    that landed on a whole number and rounded like any figure: its last digits are not a reader's.
    """
    if not _is_float(value) or not math.isfinite(float(value)):
        return value
    if float(value).is_integer() and len(str(abs(int(value))).rstrip("0")) <= COUNT_DIGITS:
        return int(value)
    rounded = round_significant(float(value), digits)
    return int(rounded) if rounded.is_integer() else rounded


def _round_column(values: pd.Series, digits: int) -> pd.Series:
    # Object dtype: pandas then prints each figure as it is, instead of padding a column to the
    # decimals of its smallest value (0.42300, 4326.0000), which reads as false precision.
    if pd.api.types.is_float_dtype(values) or values.dtype == object:
        shown = [_shown(v, digits) for v in values.astype(object)]
        return pd.Series(shown, index=values.index, name=values.name, dtype=object)  # map() would infer float64
    return values


def _is_float(value: object) -> bool:
    return isinstance(value, (float, np.floating)) and not isinstance(value, bool)


def readable(obj: Shown, digits: int = SIGNIFICANT_DIGITS) -> Shown:
    """A copy of ``obj`` (DataFrame, Series, mapping or number) for display, figures at ``digits`` significant figures.

    Whole numbers stored as floats (counts) are shown as integers; integers, booleans, text and
    dates are returned as they are; a mapping becomes a Series, so a dict of figures displays as a
    readable two-column table.
    """
    if isinstance(obj, pd.DataFrame):
        return obj.apply(_round_column, digits=digits)  # type: ignore[return-value]
    if isinstance(obj, pd.Series):
        return _round_column(obj, digits)  # type: ignore[return-value]
    if isinstance(obj, Mapping):
        return readable(pd.Series(dict(obj), dtype=object), digits)  # type: ignore[return-value]
    return _shown(obj, digits)  # type: ignore[return-value]


def percent(table: pd.DataFrame, columns: list[str], decimals: int = 1) -> pd.DataFrame:
    """``table`` with its share ``columns`` (0–1) as percentages at ``decimals`` places, named ``<column> %``.

    A small share reads as 0.3 rather than 0.00328: no figure carries more digits than a reader uses.
    The percentages are text with their decimals (8.0, not 8), so a share is always shown as a figure
    with a decimal point, whatever it rounds to.
    """
    shown = table.copy()
    for column in columns:
        shown[column] = [f"{100 * float(v):.{decimals}f}" if pd.notna(v) else "—" for v in shown[column]]
    return shown.rename(columns={column: f"{column} %" for column in columns})


#: The unit a reader counts money in, per language, and how a column's name says it.
MONEY_UNITS = {"zh": (10_000, "万"), "en": (1_000, "k")}


def money_units(table: pd.DataFrame, columns: list[str], language: str) -> pd.DataFrame:
    """``table`` with its money ``columns`` in the unit a reader counts in (万 in Chinese, thousands in
    English), named ``<column> (万)`` / ``<column> (k)``: at three significant figures 4,720,000 reads
    as 472 万, without a row of zeros that look like measured digits."""
    unit, label = MONEY_UNITS.get(language, MONEY_UNITS["en"])
    shown = table.copy()
    for column in columns:
        shown[column] = shown[column].astype("float64") / unit
    return shown.rename(columns={column: f"{column} ({label})" for column in columns})


def readable_text(value: Any, digits: int = SIGNIFICANT_DIGITS) -> str:
    """A number for a sentence: thousands separated, at ``digits`` significant figures (12,345.678 → '12,300')."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return f"{value:,}"
    number = round_significant(float(value), digits)
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(number)))) if number and math.isfinite(number) else 0
    return f"{number:,.{decimals}f}"
