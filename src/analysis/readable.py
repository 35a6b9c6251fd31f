"""Figures at the precision a reader needs: the one way the notebooks show numbers.

Model estimates carry more digits than anyone reads, and their last digits differ between CPUs
(BLAS kernels, thread counts, vector widths). Notebooks pass every table and figure they show
through :func:`readable`, which rounds floats to ``digits`` significant figures but never below
the units (1303.42887 → 1303.0, 0.568526 → 0.569). Counts, labels and dates pass unchanged.
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
    """``value`` to ``digits`` significant figures, keeping every digit left of the decimal point."""
    if not math.isfinite(value) or value == 0:
        return value
    magnitude = math.floor(math.log10(abs(value)))
    return round(value, max(0, digits - 1 - magnitude))


def _round_column(values: pd.Series, digits: int) -> pd.Series:
    if pd.api.types.is_float_dtype(values):
        finite = values.to_numpy(dtype="float64", na_value=np.nan)
        return pd.Series([round_significant(v, digits) for v in finite], index=values.index,
                         name=values.name, dtype=values.dtype)
    if values.dtype == object:  # mixed figures: round the floats, leave anything else as it is
        return values.map(lambda v: round_significant(float(v), digits) if _is_float(v) else v)
    return values


def _is_float(value: object) -> bool:
    return isinstance(value, (float, np.floating)) and not isinstance(value, bool)


def readable(obj: Shown, digits: int = SIGNIFICANT_DIGITS) -> Shown:
    """A copy of ``obj`` (DataFrame, Series, mapping or number) with floats at ``digits`` significant figures.

    Integers, booleans, text and dates are returned as they are; a mapping becomes a Series, so a
    dict of figures displays as a readable two-column table.
    """
    if isinstance(obj, pd.DataFrame):
        return obj.apply(_round_column, digits=digits)  # type: ignore[return-value]
    if isinstance(obj, pd.Series):
        return _round_column(obj, digits)  # type: ignore[return-value]
    if isinstance(obj, Mapping):
        return readable(pd.Series(dict(obj), dtype=object), digits)  # type: ignore[return-value]
    if _is_float(obj):
        return round_significant(float(obj), digits)  # type: ignore[return-value]
    return obj


def readable_text(value: Any, digits: int = SIGNIFICANT_DIGITS) -> str:
    """A number for a sentence: thousands separated, at ``digits`` significant figures (12,345.678 → '12,346')."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return f"{value:,}"
    number = round_significant(float(value), digits)
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(number)))) if number and math.isfinite(number) else 0
    return f"{number:,.{decimals}f}"
