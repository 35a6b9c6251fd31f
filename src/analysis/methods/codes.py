"""Integer codes of text keys, for grouping millions of rows on numbers instead of text.

:func:`sorted_codes` numbers ids that come sorted (as :func:`analysis.methods.lifecycle.transactions_frame`
leaves them) in their order, as ``pd.factorize(ids, sort=True)`` would; :func:`key_codes` numbers
any keys by a hash checked as text, with the equalities of ``pd.factorize`` and a fraction of its memory.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def key_codes(keys: pd.Series) -> np.ndarray:
    """Integers equal where the text ``keys`` are equal: the equalities of ``pd.factorize(keys)[0]``.

    Numbered by DuckDB's 64-bit hash of each key; the keys sharing a hash are compared as text, and
    should two different keys share one, pandas factorizes them instead. Keys that all hash apart
    are all distinct: they are numbered by their row, without ordering the hashes. Factorizing
    millions of nearly distinct order keys holds them all in a hash table (about 900 MB for ten million).
    """
    text = pa.array(keys.array)
    if text.null_count or not len(text):
        return pd.factorize(keys)[0]
    hashed = hashes([text])
    if _all_distinct(hashed):  # every key its own hash, so every key distinct (an export of one row per order)
        return np.arange(len(hashed), dtype="int64")
    by = np.argsort(hashed)
    first = run_starts(hashed[by])
    number = np.cumsum(first) - 1
    repeats = np.flatnonzero(~first)
    leads = by[np.flatnonzero(first)][number[repeats]]
    if len(repeats) and not pc.all(pc.equal(text.take(by[repeats]), text.take(leads))).as_py():
        return pd.factorize(keys)[0]  # two keys share a hash
    codes = np.empty(len(by), dtype="int64")
    codes[by] = number
    return codes


def _all_distinct(hashed: np.ndarray, first: int = 65_536) -> bool:
    """No two of the hashes equal. The ``first`` are looked at before all: keys that repeat near each
    other (the lines of an order) are found there without a sort of the whole column."""
    for part in (hashed[:first], hashed):
        ordered = np.sort(part)
        if np.any(ordered[1:] == ordered[:-1]):
            return False
    return True


def repeated(hashed: np.ndarray) -> np.ndarray:
    """Which 64-bit hashes occur more than once: ``pd.Series(hashed).duplicated(keep=False)``.

    The repeated values are the equal neighbours of the sorted hashes. Each row is then looked up
    among them, first in a table of their top 24 bits: only the rows that share those bits with a
    repeated hash (few, when few repeat) are looked up in full (10M hashes: 0.25 s against 0.8 s
    for pandas' hash table in two threads).
    """
    keys = hashed.view(np.uint64)
    ordered = np.sort(keys)
    twice = ordered[1:][ordered[1:] == ordered[:-1]]
    flags = np.zeros(len(keys), dtype=bool)
    if len(twice):
        top = np.zeros(1 << 24, dtype=bool)
        top[twice >> np.uint64(40)] = True
        maybe = np.flatnonzero(top[keys >> np.uint64(40)])
        flags[maybe] = np.isin(keys[maybe], twice)
    return flags


def unique_in_order(ids: pd.Series) -> bool:
    """Text ids, none missing, each greater than the one before (so each id once), found by one Arrow
    comparison of neighbours: customers as stage 2 writes them, so a frame of them needs no
    ``drop_duplicates`` (840k ids: 0.25 s a call)."""
    if not isinstance(ids.dtype, pd.StringDtype) or ids.hasnans:
        return False
    text = text_array(ids)
    return len(text) < 2 or bool(pc.all(pc.greater(text[1:], text[:-1])).as_py())


def text_array(values: pd.Series) -> pa.Array | pa.ChunkedArray:
    """The column's values as Arrow text (missing stays missing), for Arrow's kernels on the whole column."""
    return pa.array(values.astype("string").array, type=pa.large_string())


def written_bytes(text: pa.Array | pa.ChunkedArray) -> list[np.ndarray]:
    """The UTF-8 bytes the cells of Arrow text (``large_string``) are written with, a chunk at a time,
    as numpy views: a question every byte answers (is there a 't'?) at numpy's speed, not a pattern's.
    A missing cell adds the bytes its slot holds, if any (pandas and Arrow leave none): fit for questions
    that extra bytes can only send the slow way, never to a wrong answer."""
    pieces = []
    for chunk in text.chunks if isinstance(text, pa.ChunkedArray) else [text]:
        _, offsets, data = chunk.buffers()
        ends = np.frombuffer(offsets, dtype=np.int64)[[chunk.offset, chunk.offset + len(chunk)]] if len(chunk) else [0, 0]
        pieces.append(np.frombuffer(data, dtype=np.uint8)[ends[0]:ends[1]] if data is not None else np.empty(0, np.uint8))
    return pieces


def distinct_ids(ids: pd.Series) -> pa.Array:
    """The distinct ids of a column, missing ones left out, as Arrow text."""
    return pc.unique(text_array(ids).drop_null())


def distinct_text(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """The distinct values of ``values`` as text (missing is one of them), in order of first
    appearance, and the position of each cell's value among them: one Arrow hash of the column."""
    text = text_array(values)
    encoded = pc.dictionary_encode(text.combine_chunks() if isinstance(text, pa.ChunkedArray) else text,
                                   null_encoding="encode")
    return pd.Series(pd.array(encoded.dictionary, dtype="string")), encoded.indices.to_numpy()


def hashes(columns: Sequence[pa.Array], *, threads: int | None = None) -> np.ndarray:
    """DuckDB's 64-bit hash of each row of ``columns`` (equal rows hash equal; several times faster than pandas')."""
    names = [f"c{i}" for i in range(len(columns))]
    con = _hashing_connection(threads)
    con.register("rows", pa.table(list(columns), names=names))
    try:
        return con.sql(f"SELECT hash({', '.join(names)}) AS h FROM rows").to_arrow_table().column("h").to_numpy()
    finally:
        con.unregister("rows")  # the connection outlives the call: it must not hold the rows


_hashing = threading.local()


def _hashing_connection(threads: int | None) -> Any:
    """This thread's DuckDB connection for :func:`hashes` with ``threads`` threads, made once: opening
    one takes about 13 ms, several times the hashing of a batch's distinct ids."""
    import duckdb

    made = _hashing.__dict__.setdefault("connections", {})
    if threads not in made:
        made[threads] = duckdb.connect(config={"threads": threads} if threads else {})
    return made[threads]


def run_starts(values: np.ndarray) -> np.ndarray:
    """Where each run of equal neighbours begins: True at the first value and wherever a value differs from the one before."""
    starts = np.empty(len(values), dtype=bool)
    starts[:1] = True
    np.not_equal(values[1:], values[:-1], out=starts[1:])
    return starts


def text_run_starts(text: pa.Array) -> np.ndarray:
    """:func:`run_starts` of Arrow text without missing values, compared by Arrow (no Python strings)."""
    starts = np.ones(len(text), dtype=bool)
    if len(text) > 1:
        starts[1:] = pc.not_equal(text.slice(1), text.slice(0, len(text) - 1)).to_numpy(zero_copy_only=False)
    return starts


def sorted_text(values: pd.Series) -> tuple[np.ndarray, pa.Array, np.ndarray]:
    """One Arrow sort of ``values`` as text: the positions in sorted order (missing values last), the
    sorted text without its missing values, and where its runs of equal values start (:func:`text_run_starts`).

    Arrow compares UTF-8 bytes, which orders text by code point, as Python and numpy do.
    """
    text = text_array(values)
    by = pc.sort_indices(text).to_numpy()
    ordered = text.take(by)
    ordered = ordered.slice(0, len(ordered) - ordered.null_count)
    return by, ordered, text_run_starts(ordered)


def sorted_codes(ids: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """``pd.factorize(ids, sort=True)``, from where the ids change when they come sorted (as framed)."""
    values = pa.array(ids.array)
    known = len(ids) - values.null_count
    if values.null_count and ids.iloc[:known].isna().any():  # missing ids not all at the end: not framed
        return pd.factorize(ids, sort=True)
    head = values.slice(0, known)
    change = text_run_starts(head)
    uniques = pd.Index(pd.array(head.filter(change), dtype=ids.dtype))
    if not uniques.is_monotonic_increasing or not uniques.is_unique:
        return pd.factorize(ids, sort=True)
    codes = np.full(len(ids), -1, dtype="int64")
    codes[:known] = np.cumsum(change) - 1
    return codes, uniques


def distinct_pairs(first: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct (first, second) pairs of non-negative integers, sorted by first, then second: one
    sort of one integer per pair (first × width + second), none when the pairs come in that order."""
    if not len(first):
        return first, second
    width = int(second.max()) + 1
    pairs = first.astype(np.int64)  # in place from here: one array of the rows' size, not three
    pairs *= width
    pairs += second
    if not np.all(pairs[1:] >= pairs[:-1]):  # rows by customer, then date, come in order already
        pairs = np.sort(pairs)  # numpy's hashing unique is slower here
    pairs = pairs[run_starts(pairs)]
    return pairs // width, pairs % width


def code_order(codes: np.ndarray) -> np.ndarray:
    """``np.argsort(codes, kind="stable")`` of integers in no particular order (codes in file order), by
    numpy's radix sort of their low and then their high 16 bits: 0.5 s for ten million codes of a million
    customers, against 1.2 s for numpy's stable sort (a merge sort). Integers spanning 2^32 or more, and
    other values, take numpy's sort; so should codes nearly in order, whose runs a merge sort takes whole."""
    codes = np.asarray(codes)
    if codes.dtype.kind not in "iu" or not len(codes):
        return np.argsort(codes, kind="stable")
    low = int(codes.min())
    span = int(codes.max()) - low
    if span >= 2**32:
        return np.argsort(codes, kind="stable")
    shifted = codes.astype(np.int64) - low
    order = np.argsort(shifted.astype(np.uint16), kind="stable")  # the low 16 bits (the cast keeps them)
    if span >= 2**16:  # then by the high 16 bits, stably: the low bits' order stays within them
        order = order[np.argsort((shifted >> 16).astype(np.uint16)[order], kind="stable")]
    return order


def sort_order(frame: pd.DataFrame, keys: Sequence[str], *, missing_first: bool = False) -> np.ndarray:
    """The positions of ``frame.sort_values(keys, kind="stable")`` (missing values last, or first with
    ``missing_first``): pandas factorizes every key of a sort on several keys, even keys that are
    numbers already.

    Keys of whole numbers (integers, dates, text as its sorted codes) are packed, several to one
    int64 each (:func:`_packed_ranks`). One stable sort orders the rows by the first packed key;
    each further one only sorts the rows within groups whose order it changes, and none when the
    rows already come in its order there (a frame sorted by its last key, such as a row number,
    within groups of the others): the same order in a fraction of the time of sorting each key and
    its missing flags in turn. A float key is sorted by ``np.lexsort``.
    """
    numbers, missing = _numbers_of(frame, keys)
    packed = _packed_ranks(numbers, missing, missing_first)
    if packed is None:
        columns: list[np.ndarray] = []
        for values, absent in zip(reversed(numbers), reversed(missing), strict=True):  # np.lexsort: last array first
            columns += [values, ~absent if missing_first else absent]
        return np.lexsort(columns)
    order = np.argsort(packed[0], kind="stable")
    group_starts = run_starts(packed[0][order])
    for key in packed[1:]:
        ranked = key[order]
        if not np.all((ranked[1:] >= ranked[:-1]) | group_starts[1:]):
            by = np.lexsort((ranked, np.cumsum(group_starts)))  # within each group, stably
            order, ranked = order[by], ranked[by]
        group_starts |= run_starts(ranked)
    return order


def _packed_ranks(numbers: list[np.ndarray], missing: list[np.ndarray], missing_first: bool) -> list[np.ndarray] | None:
    """The keys' ranks (known values by their value, missing ones last or first), consecutive keys
    packed into one int64 while their ranks fit, most significant first; None when a key is not
    whole numbers (checked before any key is ranked) or spans more than an int64 holds."""
    if any(values.dtype.kind != "i" for values in numbers):
        return None
    packed: list[np.ndarray] = []
    key, room = None, 1
    for values, absent in zip(numbers, missing, strict=True):
        ranked = _ranks(values, absent, missing_first)
        if ranked is None:
            return None
        rank, size = ranked
        if key is None or room * size >= 2**63:
            if key is not None:
                packed.append(key)
            key, room = rank, size
        else:
            key, room = key * size + rank, room * size
    if key is not None:
        packed.append(key)
    return packed


def _ranks(values: np.ndarray, missing: np.ndarray, missing_first: bool) -> tuple[np.ndarray, int] | None:
    """Each value's place among 0 … size − 1 (known values in their order, missing ones after them, or
    before with ``missing_first``) and the size, for whole numbers; None for too wide a span.
    Known values are counted in steps of their greatest common difference (a day, for dates)."""
    known = values[~missing]
    if not len(known):
        return np.zeros(len(values), dtype=np.int64), 1
    low, high = int(known.min()), int(known.max())
    if high - low >= 2**62:
        return None
    offset = values.astype(np.int64) - low
    step = int(np.gcd.reduce(offset[~missing])) or 1
    rank = offset // step if step > 1 else offset
    size = (high - low) // step + 1
    if missing.any():
        rank = np.where(missing, 0 if missing_first else size, rank + 1 if missing_first else rank)
        size += 1
    return rank, size


def _numbers_of(frame: pd.DataFrame, keys: Sequence[str]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Each key's :func:`_sort_numbers` and where it is missing."""
    return [_sort_numbers(frame[key]) for key in keys], [frame[key].isna().to_numpy() for key in keys]


def _sort_numbers(values: pd.Series) -> np.ndarray:
    """Numbers in the order of ``values``' known values (a missing value's number is of no account)."""
    dtype = values.dtype
    if pd.api.types.is_datetime64_dtype(dtype) or pd.api.types.is_integer_dtype(dtype):
        return values.to_numpy(dtype="int64", na_value=0)
    if pd.api.types.is_float_dtype(dtype):
        return values.to_numpy(dtype="float64", na_value=0.0)
    return pd.factorize(values, sort=True)[0]


def group_numbers(frame: pd.DataFrame, keys: Sequence[str]) -> np.ndarray:
    """One integer per row, equal where every key is equal, and -1 where any key is missing: the
    groups of ``frame.groupby(keys, dropna=True)`` as one int64 key, cheap for pandas to group again.

    Keys of integers or dates are packed into one int64 (:func:`_packed_ranks`) when their ranks fit;
    other keys are factorized and renumbered key by key."""
    if all(pd.api.types.is_integer_dtype(frame[key].dtype) or pd.api.types.is_datetime64_dtype(frame[key].dtype)
           for key in keys):
        numbers, absent = _numbers_of(frame, keys)
        packed = _packed_ranks(numbers, absent, missing_first=False)
        if packed is not None and len(packed) == 1:
            numbers = packed[0]
            numbers[np.logical_or.reduce(absent)] = -1
            return numbers
    numbers = np.zeros(len(frame), dtype="int64")
    missing = np.zeros(len(frame), dtype=bool)
    for key in keys:
        codes, uniques = pd.factorize(frame[key])
        missing |= codes < 0
        numbers = pd.factorize(numbers * (len(uniques) + 1) + codes)[0]  # renumbered: never overflows
    numbers[missing] = -1
    return numbers
