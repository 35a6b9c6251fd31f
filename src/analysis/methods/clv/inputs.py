"""Input checks shared by the CLV models: one-dimensional float columns, weights, the error type."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

ArrayLike = np.ndarray | pd.Series | Sequence[float] | float


class CLVInputError(ValueError):
    """Inputs to a CLV model are invalid; the message names the column, the rows and the fix."""


def _as_float_array(values: ArrayLike, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim > 1:
        raise CLVInputError(
            f"`{name}` must be one-dimensional, got shape {array.shape}; pass one column."
        )
    return np.atleast_1d(array)


def _positions(mask: np.ndarray, limit: int = 5) -> str:
    rows = np.flatnonzero(mask)
    shown = ", ".join(str(i) for i in rows[:limit])
    more = f" and {rows.size - limit} more" if rows.size > limit else ""
    return f"row position(s) {shown}{more}"


def _require(condition_bad: np.ndarray, message: str) -> None:
    if np.any(condition_bad):
        raise CLVInputError(f"{message} ({_positions(condition_bad)}).")


def _check_same_length(**arrays: np.ndarray) -> None:
    lengths = {name: a.size for name, a in arrays.items() if a.size != 1}
    if len(set(lengths.values())) > 1:
        raise CLVInputError(
            f"Inputs must have the same length, got {lengths}; pass columns of one customer table."
        )


def _validate_weights(weights: ArrayLike | None, n: int) -> np.ndarray:
    if weights is None:
        return np.ones(n)
    w = _as_float_array(weights, "weights")
    if w.size != n:
        raise CLVInputError(
            f"`weights` has {w.size} values for {n} customers; pass one weight per row."
        )
    _require(~np.isfinite(w) | (w < 0), "`weights` must be finite and >= 0")
    if w.sum() <= 0:
        raise CLVInputError("`weights` sum to 0; at least one row needs a positive weight.")
    return w
