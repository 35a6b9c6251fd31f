"""Customer ids as text, and the repair of the forms a spreadsheet gives them.

An id is a label, not a number, but Excel and float columns turn digit ids into numbers on the way:
``00007919`` comes back as ``7919`` (leading zeros dropped), ``7919.0`` (a float tail) or
``7.92E+03`` (scientific notation, rounded to the digits shown). Each form would count as another
customer, and none of them matches the customer master. What can be repaired without guessing is
repaired here; what cannot is reported as ambiguous, with the range of ids it could stand for.

Repairs (each counted under its kind, :data:`REPAIR_KINDS`; one id can take two, e.g.
``7919.0`` → ``7919`` → ``00007919``):

- ``trailing_zero``: ``7919.0`` / ``7919.00`` → ``7919``;
- ``scientific``: ``7.919E+03`` → ``7919``, only when the mantissa carries every digit of the
  integer. ``7.92E+03`` holds 3 significant digits of a 4-digit number: it could be any of
  7915–7924, so it is ambiguous (:func:`scientific_ids`);
- ``zero_padded``: with a reference (the customer master) whose ids are digit strings of one width,
  a shorter digit id whose zero-padded form is a reference id (and which is not one itself) takes
  the padded form, ``7919`` → ``00007919`` (:func:`pad_to_reference`).

Without a reference, ids that differ only in leading zeros (``7919`` and ``007919``) are not merged:
they are counted by :func:`leading_zero_collisions` so the quality report can say so.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from analysis.methods.codes import distinct_text, text_array, unique_in_order

#: The kinds of repair, in the order they are applied.
REPAIR_KINDS = ("trailing_zero", "scientific", "zero_padded")

_TRAILING_ZERO = re.compile(r"^(\d+)\.0+$")
_SCIENTIFIC = re.compile(r"^(?P<int>\d+)(?:\.(?P<frac>\d*))?[eE](?P<exp>[+-]?\d+)$")
_DIGITS = re.compile(r"^\d+$")
_MAX_MISSING_DIGITS = 30


@dataclass(frozen=True)
class ScientificId:
    """What an id in scientific notation stands for.

    ``exact`` is the integer text when the mantissa carries every digit, else None. ``low`` and
    ``high`` bound the integers it could stand for when Excel rounded it (``7.92E+03``: 7915 and
    7924); both None when it is not a whole number at all (``1.2345E+02`` = 123.45).
    ``significant`` is the number of digits the mantissa shows (3 for ``7.92E+03``).
    """

    text: str
    exact: str | None
    low: int | None = None
    high: int | None = None
    significant: int = 0


@dataclass
class IdRepair:
    """Ids after repair, the ones that cannot be repaired, and which repairs each id took.

    Attributes
    ----------
    ids
        Trimmed text ids (NA when empty), repaired where the repair is unambiguous.
    ambiguous
        True where the id is in scientific notation that does not carry every digit.
    rounded
        For each ambiguous id (index of ``ids``): a :class:`ScientificId` with its possible range.
    repairs
        One boolean column per kind of :data:`REPAIR_KINDS`: the ids that took that repair.
    """

    ids: pd.Series
    ambiguous: pd.Series
    rounded: dict[object, ScientificId] = field(default_factory=dict)
    repairs: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(REPAIR_KINDS), dtype=bool))

    def at(self, positions: np.ndarray, index: pd.Index) -> IdRepair:
        """The repair of the ids at ``positions`` (of a repair made with the default index), labelled ``index``."""
        rows = np.flatnonzero(np.isin(positions, list(self.rounded)))
        return IdRepair(
            pd.Series(self.ids.array.take(positions), index=index),
            pd.Series(self.ambiguous.to_numpy()[positions], index=index),
            {index[row]: self.rounded[positions[row]] for row in rows},
            pd.DataFrame({kind: self.repairs[kind].to_numpy()[positions] for kind in REPAIR_KINDS}, index=index),
        )

    def counts(self, rows: pd.Series | None = None) -> dict[str, int]:
        """Ids repaired per kind, among ``rows`` (a boolean mask over ``ids``; default all)."""
        repairs = self.repairs if rows is None else self.repairs[rows.reindex(self.repairs.index, fill_value=False)]
        return {kind: int(repairs[kind].sum()) for kind in REPAIR_KINDS}


def id_text(values: pd.Series) -> pd.Series:
    """Ids as trimmed text; empty cells NA. Whole floats lose their tail (7919.0 → '7919').

    Text columns are only trimmed; numeric columns (a parquet float or integer column) become the
    integer text of whole numbers, never '7919.0'.
    """
    if pd.api.types.is_float_dtype(values.dtype):
        values = whole_number_text(values)
    ids = values.astype("string").str.strip()
    return ids.mask(ids == "", pd.NA)


def whole_number_text(values: pd.Series) -> pd.Series:
    """Floats as text: whole numbers as integers ('7919', not '7919.0'), others with up to 15 significant digits.

    The 15 digits are what Excel shows of a number; NaN becomes NA.
    """
    numbers = values.astype("float64")
    finite = np.isfinite(numbers)
    whole = finite & (numbers == np.floor(numbers))
    text = pd.Series(pd.NA, index=values.index, dtype="string")
    text[whole] = [str(int(v)) for v in numbers[whole]]
    other = finite & ~whole
    text[other] = [f"{v:.15g}" for v in numbers[other]]
    return text


def drop_float_tails(ids: pd.Series) -> tuple[pd.Series, pd.Series]:
    """'7919.0' → '7919': the ids and a mask of the ones changed."""
    changed = _full_matches(ids, _TRAILING_ZERO, ids.str.contains(".", regex=False))
    out = ids.copy()
    if changed.any():  # the replace runs row by row in Python: only on the ids that need it
        out[changed] = ids[changed].str.replace(_TRAILING_ZERO, r"\1", regex=True)
    return out, changed


def _full_matches(ids: pd.Series, pattern: re.Pattern, within: pd.Series) -> pd.Series:
    """``ids.str.fullmatch(pattern)`` (missing: False), tried only ``within`` (a mask that holds every
    match, found by a cheaper test): pandas' regex kernels scan the column several times a call."""
    within = within.fillna(False).astype(bool)
    matched = pd.Series(False, index=ids.index)
    if within.any():
        matched[within] = ids[within].str.fullmatch(pattern).fillna(False).astype(bool)
    return matched


def read_scientific(text: str) -> ScientificId | None:
    """The integer an id in scientific notation stands for, or its possible range; None if not scientific.

    The mantissa's digits ``D`` (integer and fraction part) with the decimal point moved ``exp``
    places give the integer part ``D[:p]`` (p = digits before the point + exp). The repair is exact
    when ``len(D) >= p`` and the digits past ``p`` are zeros; with ``len(D) < p`` Excel rounded the
    number to ``len(D)`` significant digits, so it stands for any integer within half a unit of
    ``10**(p - len(D))`` around the value.
    """
    match = _SCIENTIFIC.fullmatch(text)
    if match is None:
        return None
    int_part, frac = match["int"], match["frac"] or ""
    digits, point = int_part + frac, len(int_part) + int(match["exp"])
    shown = len(digits.lstrip("0")) or 1
    if point <= 0 or set(digits[point:]) - {"0"}:
        return ScientificId(text, None, significant=shown)  # not a whole number
    if len(digits) >= point:
        return ScientificId(text, str(int(digits[:point])), significant=shown)
    if point - len(digits) > _MAX_MISSING_DIGITS:
        return ScientificId(text, None, significant=shown)  # far too large to be an id
    unit = 10 ** (point - len(digits))
    value = int(digits) * unit
    return ScientificId(text, None, low=max(value - unit // 2, 0), high=value + unit // 2 - 1, significant=shown)


def scientific_ids(ids: pd.Series) -> tuple[pd.Series, pd.Series, dict[object, ScientificId]]:
    """Repair ids in scientific notation that carry every digit; report the others.

    Returns the ids (exact ones repaired), a mask of the repaired ones, and for each id that cannot
    be repaired (index → :class:`ScientificId`) what it could stand for.
    """
    out = ids.copy()
    repaired = pd.Series(False, index=ids.index)
    unrepairable: dict[object, ScientificId] = {}
    candidates = _full_matches(ids, _SCIENTIFIC, ids.str.contains("e", case=False, regex=False))
    for index, text in ids[candidates].items():
        read = read_scientific(str(text))
        if read is not None and read.exact is not None:
            out[index] = read.exact
            repaired[index] = True
        elif read is not None:
            unrepairable[index] = read
    return out, repaired, unrepairable


def fixed_width(reference: Iterable[str] | pa.Array) -> int | None:
    """The width of the reference ids when every one is a digit string of that one width, else None."""
    ids = pd.Series(pd.array(reference if isinstance(reference, pa.Array) else list(reference), dtype="string")).dropna()
    if ids.empty or not ids.str.fullmatch(_DIGITS).all():
        return None
    widths = ids.str.len().unique()
    return int(widths[0]) if len(widths) == 1 else None


@dataclass(frozen=True)
class PaddingReference:
    """The reference ids of the zero-padding repair, prepared once: their one width (or None), and
    the ids as Arrow text, a set of them made where they are first looked up (:attr:`known`)."""

    ids: pa.Array
    width: int | None

    @classmethod
    def of(cls, reference: Iterable[str]) -> PaddingReference:
        if isinstance(reference, PaddingReference):
            return reference
        # a column's text stays Arrow's: a Python string per id took seconds for a million ids
        text = text_array(reference) if isinstance(reference, pd.Series) else pa.array(list(reference), type=pa.large_string())
        distinct = pc.unique(text.combine_chunks() if isinstance(text, pa.ChunkedArray) else text).drop_null()
        return cls(distinct, fixed_width(distinct))

    @cached_property
    def known(self) -> frozenset[str]:
        """The ids as a set, made once per process: Python strings take several times the memory of
        Arrow text, and only the worker processes that clean the batches need them."""
        return frozenset(self.ids.to_pylist())


#: The reference ids of the zero-padding repair, as given or prepared.
MasterIds = Iterable[str] | PaddingReference


def is_in(values: pd.Series, known: pa.Array) -> pd.Series:
    """``values.isin(known)`` for text (NA is never in), computed by Arrow: pandas' ``isin`` on Arrow
    strings turns every value of the set into a Python object first, seconds for a million ids."""
    array = text_array(values)
    found = pc.is_in(array, value_set=known.cast(pa.large_string()))
    return pd.Series(found.to_numpy(zero_copy_only=False), index=values.index, dtype=bool) & values.notna().to_numpy()


def looked_up(keys: pd.Series, table: pd.Series) -> pd.Series:
    """``keys.map(table)`` (NaN where a key is not in the table, whose keys are unique) by one index
    lookup: pandas maps Arrow strings value by value and casts each result back. Text keys are found
    by Arrow's hash lookup; an index of text would make a Python string of every key."""
    if isinstance(keys.dtype, pd.StringDtype) and isinstance(table.index.dtype, pd.StringDtype):
        positions = positions_in(keys, table.index)
        return pd.Series(table.array.take(positions, allow_fill=True), index=keys.index)
    return pd.Series(table.reindex(pd.Index(keys)).array, index=keys.index)


def positions_in(keys: pd.Series, ids: pd.Index) -> np.ndarray:
    """Each key's position among ``ids`` (each once), -1 where it is not there (a missing key too):
    ``ids.get_indexer(keys)``, for text by one Arrow hash lookup."""
    if isinstance(keys.dtype, pd.StringDtype) and isinstance(ids.dtype, pd.StringDtype):
        return _places(keys, _large_text(ids))
    return ids.get_indexer(pd.Index(keys))


def _large_text(values: pd.Series | pd.Index) -> pa.Array:
    return pa.array(values.array, type=pa.large_string())


def _places(keys: pd.Series, values: pa.Array) -> np.ndarray:
    """Each text key's position among ``values`` (Arrow text, each once), -1 where it is not there: one
    Arrow hash lookup, where pandas would make a Python string of every key."""
    return pc.fill_null(pc.index_in(_large_text(keys), value_set=values), -1).to_numpy().astype(np.intp)


def keys_aligned(left: pd.Series, right: pd.Series) -> bool:
    """Whether ``right`` (text) holds ``left``'s keys row for row, each once in rising order
    (:func:`~analysis.methods.codes.unique_in_order`), as frames of customers sorted by id do."""
    if len(left) != len(right) or left.hasnans or not unique_in_order(right):
        return False
    return bool(pc.all(pc.equal(text_array(left), text_array(right))).as_py())


def left_joined(left: pd.DataFrame, right: pd.DataFrame, on: str = "customer_id") -> pd.DataFrame:
    """``left.merge(right, on=on, how="left")``: for text keys each unique in ``right``, by one Arrow hash
    lookup of the keys and a take of each of ``right``'s columns there. pandas' merge hashes a Python
    string per key (840k customers: 0.35-0.45 s a join against 0.6-0.75 s). Other keys, a repeated
    key or a column both frames hold (pandas' suffixes) take pandas' merge."""
    keys, table = left[on], right[on]
    if not (isinstance(keys.dtype, pd.StringDtype) and isinstance(table.dtype, pd.StringDtype)):
        return left.merge(right, on=on, how="left")
    if (set(left.columns) & set(right.columns)) - {on}:
        return left.merge(right, on=on, how="left")
    right_keys = _large_text(table)
    if keys_aligned(keys, table):  # row for row the same keys: no lookup (840k: 0.02 s against 0.27)
        at = np.arange(len(right_keys))
    elif len(pc.unique(right_keys)) != len(right_keys):
        return left.merge(right, on=on, how="left")
    else:
        at = _places(keys, right_keys)
    return left.reset_index(drop=True).assign(
        **{c: pd.api.extensions.take(right[c].array, at, allow_fill=True) for c in right.columns if c != on}
    )


def pad_to_reference(ids: pd.Series, reference: MasterIds) -> tuple[pd.Series, pd.Series]:
    """Zero-pad short digit ids to the reference's form where that form exists there and the id does not.

    The reference (the customer master's ids) must be digit strings of one width
    (:func:`fixed_width`); otherwise nothing is changed. Returns the ids and a mask of the changed ones.
    """
    prepared = PaddingReference.of(reference)
    width = prepared.width
    repair = pd.Series(False, index=ids.index)
    if width is None:
        return ids, repair
    short = _full_matches(ids, _DIGITS, ids.str.len() < width)
    if not short.any():
        return ids, repair
    # only the short ids are looked up, in a set built once: a lookup structure of the reference
    # built for every batch of an export would cost more than the batch's other checks together
    at = np.flatnonzero(short.to_numpy())
    candidates = ids.iloc[at]
    padded = candidates.str.zfill(width)
    known = prepared.known
    found = np.array([p in known and c not in known for p, c in zip(padded, candidates, strict=True)], dtype=bool)
    out = ids.copy()
    out.iloc[at[found]] = padded.to_numpy()[found]
    repair.iloc[at[found]] = True
    return out, repair


def leading_zero_collisions(ids: pd.Series) -> int:
    """How many numbers appear as two or more digit ids that differ only in leading zeros ('7919', '007919')."""
    digits = ids[ids.str.fullmatch(_DIGITS).fillna(False).astype(bool)].drop_duplicates()
    if digits.empty:
        return 0
    number = digits.str.lstrip("0").mask(lambda s: s == "", "0")
    forms = number.value_counts()
    return int((forms > 1).sum())


def repair_ids(values: pd.Series, reference: MasterIds | None = None) -> IdRepair:
    """Ids as text with every unambiguous spreadsheet repair applied; see the module docstring.

    Parameters
    ----------
    values
        The id column as read (text, or a numeric column).
    reference
        The customer master's ids, for the zero-padding repair; None for the master itself, when
        there is none, or when the repair is switched off.

    Each id is repaired on its own, so a column of text that repeats its ids (a customer's many
    orders) is repaired once per distinct text and the results are put back in place.
    """
    if not pd.api.types.is_float_dtype(values.dtype):  # a float's text is made by id_text
        distinct, at = distinct_text(values)
        if 2 * len(distinct) <= len(values):
            return _repair_each(distinct, reference).at(at, values.index)
    return _repair_each(values, reference)


def _repair_each(values: pd.Series, reference: MasterIds | None) -> IdRepair:
    """:func:`repair_ids`, id by id."""
    ids = id_text(values)
    ids, trailing = drop_float_tails(ids)
    ids, scientific, rounded = scientific_ids(ids)
    padded = pd.Series(False, index=ids.index)
    if reference is not None:
        ids, padded = pad_to_reference(ids, reference)
    ambiguous = pd.Series(False, index=ids.index)
    ambiguous[list(rounded)] = True
    repairs = pd.DataFrame({"trailing_zero": trailing, "scientific": scientific, "zero_padded": padded})
    return IdRepair(ids.astype("string"), ambiguous, rounded, repairs)
