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


def _validate_frequency(x: np.ndarray) -> None:
    """Checks of ``frequency`` every model shares: finite, a whole number of repeat purchases >= 0."""
    _require(~np.isfinite(x), "`frequency` has missing or infinite values; drop or fill those customers")
    _require(
        (x < 0) | (x != np.round(x)),
        "`frequency` must be a whole number of repeat purchases >= 0; recompute it as orders minus one",
    )


def _validate_rfm(frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> tuple[np.ndarray, ...]:
    """``frequency, recency, T`` of the purchase models (BG/NBD, Pareto/NBD), as float arrays.

    The rfm_summary definitions: whole ``frequency >= 0``, ``0 <= recency <= T`` and ``recency = 0``
    when ``frequency = 0``. ``T = 0`` (first purchase on the last day) is allowed: with ``x = 0`` its
    likelihood term is 1 in both models, it carries no information, and its predictions are the
    prior's.
    """
    x, t_x, age = (
        _as_float_array(v, n) for v, n in ((frequency, "frequency"), (recency, "recency"), (T, "T"))
    )
    _check_same_length(frequency=x, recency=t_x, T=age)
    x, t_x, age = np.broadcast_arrays(x, t_x, age)
    _validate_frequency(x)
    for name, values in (("recency", t_x), ("T", age)):
        _require(
            ~np.isfinite(values),
            f"`{name}` has missing or infinite values; drop or fill those customers",
        )
    _require(
        age < 0,
        "`T` (customer age) must be >= 0; the first purchase cannot be after the end date",
    )
    _require(t_x < 0, "`recency` must be >= 0")
    _require(
        t_x > age,
        "`recency` must not exceed `T`; check the time unit and the end date of both columns",
    )
    _require(
        (x == 0) & (t_x != 0),
        "`recency` must be 0 when `frequency` is 0 (rfm_summary definition); set recency to 0 for one-time buyers",
    )
    return x, t_x, age


def _validate_horizon(t: ArrayLike, name: str = "t") -> np.ndarray:
    """A prediction horizon: finite and >= 0."""
    t_arr = _as_float_array(t, name)
    _require(~np.isfinite(t_arr) | (t_arr < 0), f"`{name}` (prediction horizon) must be finite and >= 0")
    return t_arr
