"""Integer codes of text keys: the equalities of pd.factorize, from a hash checked as text."""

from __future__ import annotations

import contextlib
from unittest import mock

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from analysis.methods import codes


@settings(max_examples=100, deadline=None, derandomize=True, database=None)
@given(keys=st.lists(st.sampled_from(["o1", "o2", "O1", "订单", "o1 ", "row:3", ""]), max_size=30),
       collide=st.booleans())
def test_order_keys_are_coded_equal_exactly_where_they_are_equal(keys, collide):
    """Codes from a hash of each key: equal codes for equal keys only, also when every key shares one hash."""
    one_hash = mock.patch.object(codes, "hashes", lambda columns: np.zeros(len(columns[0]), dtype="uint64"))
    series = pd.Series(keys, dtype="string")
    with one_hash if collide else contextlib.nullcontext():
        found = codes.key_codes(series)
    expected = pd.factorize(series)[0]
    assert (found[:, None] == found[None, :]).tolist() == (expected[:, None] == expected[None, :]).tolist()



def _same_equalities(found: np.ndarray, expected: np.ndarray) -> bool:
    pairs = set(zip(found.tolist(), expected.tolist(), strict=True))
    return len(pairs) == len(set(found.tolist())) == len(set(expected.tolist()))


@pytest.mark.parametrize("repeat_at", [None, 5, 69_999])
def test_distinct_keys_and_a_key_repeated_far_from_its_first_are_coded_as_pandas_factorizes(repeat_at):
    """Keys that all differ get distinct codes; one key repeated near its first, or only after the
    first 65,536 keys have been looked at, shares its code with the first only."""
    keys = [f"order-{i}" for i in range(70_000)]
    if repeat_at is not None:
        keys[repeat_at] = keys[0]
    series = pd.Series(keys, dtype="string")
    found = codes.key_codes(series)
    assert _same_equalities(found, pd.factorize(series)[0])
    assert len(set(found.tolist())) == len(set(keys))


@settings(max_examples=100, deadline=None, derandomize=True, database=None)
@given(values=st.lists(st.one_of(st.none(), st.sampled_from(["b", "12", "订单", "😀", ""])), max_size=12),
       cut=st.integers(0, 12), start=st.integers(0, 12), stop=st.integers(0, 12))
def test_written_bytes_are_the_cells_utf8_in_chunks_and_slices(values, cut, start, stop):
    """The bytes of the cells in view (a slice of each chunk), and none of the cells beside it."""
    import pyarrow as pa

    chunks = pa.chunked_array([values[:cut], values[cut:]], type=pa.large_string())
    in_view = chunks.slice(start, max(stop - start, 0))
    want = "".join(v for v in in_view.to_pylist() if v is not None).encode()
    for text in (in_view, in_view.combine_chunks()):
        assert b"".join(piece.tobytes() for piece in codes.written_bytes(text)) == want


@settings(max_examples=100, deadline=None, derandomize=True, database=None)
@given(values=st.lists(st.one_of(st.none(), st.sampled_from(["b", "a", "ab", "A", "订单", "😀", "é", ""])),
                       max_size=30))
def test_sorted_text_is_python_sorting_with_missing_values_last(values):
    """One Arrow sort: the positions order the text as Python's sort (code points), missing values last;
    the runs start wherever a sorted value differs from the one before."""
    by, ordered, starts = codes.sorted_text(pd.Series(values, dtype="string"))
    known = sorted(v for v in values if v is not None)
    assert [values[i] for i in by] == known + [None] * (len(values) - len(known))
    assert ordered.to_pylist() == known
    assert starts.tolist() == [i == 0 or known[i] != known[i - 1] for i in range(len(known))]


_ROWS = st.lists(
    st.tuples(
        st.one_of(st.none(), st.integers(0, 3)),  # customer code (nullable)
        st.one_of(st.none(), st.sampled_from(["a", "b", "B", "é", "订单", ""])),  # text
        st.sampled_from([0.0, -0.0, 1.5, -2.0, float("nan")]),  # amount
        st.one_of(st.none(), st.integers(0, 2)),  # day (NaT when None)
        st.one_of(st.none(), st.sampled_from([-(2**62), -(2**40), -3, 0, 5, 2**40 + 1, 2**62])),  # wide
    ),
    max_size=40,
)


def _frame(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame({
        "code": pd.array([r[0] for r in rows], dtype="Int64"),
        "text": pd.array([r[1] for r in rows], dtype="string"),
        "amount": pd.Series([r[2] for r in rows], dtype="float64"),
        "day": pd.to_datetime(pd.Series([r[3] for r in rows], dtype="float64"), unit="D").astype("datetime64[us]"),
        "row": np.arange(len(rows), dtype="int64")[::-1],
        "wide": pd.array([r[4] for r in rows], dtype="Int64"),
    })


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(rows=_ROWS, keys=st.permutations(["code", "text", "amount", "day", "row", "wide"]), n_keys=st.integers(1, 6),
       missing_first=st.booleans())
def test_sort_order_is_a_stable_pandas_sort(rows, keys, n_keys, missing_first):
    """Keys of whole numbers are packed several to an int64 (dates counted in days); ``wide`` is too wide to
    pack when it holds both -2 ** 62 and 2 ** 62; a float key is sorted by np.lexsort."""
    frame = _frame(rows)
    keys = keys[:n_keys]
    na_position = "first" if missing_first else "last"
    expected = frame.sort_values(keys, kind="stable", na_position=na_position).index.to_numpy()
    np.testing.assert_array_equal(codes.sort_order(frame, keys, missing_first=missing_first), expected)


def test_sort_order_packs_wide_keys_apart_and_sorts_too_wide_ones_as_they_are() -> None:
    """A key spanning 2 ** 61 leaves no room for another in its int64 (packed together they would wrap
    around), so ``wide, row, also_wide`` make three packed keys; a key spanning 2 ** 63 is too wide to
    pack at all."""
    rng = np.random.default_rng(7)
    for wide in ([-(2**60), 3, 2**60 + 1], [-(2**62), 0, 2**62]):
        frame = pd.DataFrame({"wide": rng.choice(wide, 200), "row": rng.integers(0, 40, 200),
                              "day": pd.to_datetime(rng.integers(0, 3, 200), unit="D"), "also_wide": rng.choice(wide, 200)})
        for keys in (["wide", "row"], ["row", "wide"], ["day", "wide", "row"], ["wide", "row", "also_wide"]):
            expected = frame.sort_values(keys, kind="stable").index.to_numpy()
            np.testing.assert_array_equal(codes.sort_order(frame, keys), expected)


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(rows=_ROWS, keys=st.sampled_from([["code", "text"], ["text"], ["day", "code"], ["amount", "text", "code"],
                                         ["code", "row"], ["wide", "day", "row"]]))
def test_group_numbers_are_the_groups_pandas_makes_with_missing_keys_apart(rows, keys):
    frame = _frame(rows)
    numbers = codes.group_numbers(frame, keys)
    expected = frame.groupby(keys, dropna=True, sort=False).ngroup().fillna(-1).to_numpy(dtype="int64")
    assert ((numbers < 0) == (expected < 0)).all()
    grouped = numbers >= 0
    # the same partition: each number stands for exactly one of pandas' groups and the other way round
    pairs = set(zip(numbers[grouped], expected[grouped], strict=True))
    assert len(pairs) == len(set(numbers[grouped])) == len(set(expected[grouped]))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.integers(0, 6), max_size=300),
    st.sampled_from([1, 2**10, 2**16 - 1, 2**16, 2**20 + 3, 2**31, 2**32 - 1, 2**32, 2**40]),
    st.integers(-(2**40), 2**40),
    st.sampled_from(["int32", "int64", "uint32", "uint64"]),
)
def test_code_order_is_numpys_stable_sort(draws, step, offset, dtype):
    # few distinct values (ties keep their row order), spaced so that both 16-bit halves vary and the
    # span crosses 2^16 and 2^32 (beyond which numpy sorts), shifted by an offset, negative too
    values = np.array(draws, dtype=np.int64) * step + offset
    info = np.iinfo(dtype)
    assume(not len(values) or (values.min() >= info.min and values.max() <= info.max))
    values = values.astype(dtype)
    np.testing.assert_array_equal(codes.code_order(values), np.argsort(values, kind="stable"))


def test_hashes_from_several_threads_are_those_of_one_after_the_other():
    """Each thread hashes on a DuckDB connection of its own, kept for its next call."""
    import pyarrow as pa

    from analysis.methods.cores import in_threads

    columns = [pa.array([f"{i % (k + 2)}" for i in range(2000)], type=pa.large_string()) for k in range(16)]
    one_by_one = [codes.hashes([column], threads=1) for column in columns]
    threaded = list(in_threads(lambda column: codes.hashes([column], threads=1), columns, threads=4))
    for expected, found in zip(one_by_one, threaded, strict=True):
        np.testing.assert_array_equal(found, expected)
    assert len(set(map(bytes, one_by_one))) == 16  # the calls hash their own rows, not an earlier call's


@settings(max_examples=100, deadline=None, derandomize=True, database=None)
@given(st.lists(st.integers(0, 40), max_size=200), st.sampled_from([1, 2, 3, 2**33 + 1, 2**63 + 5]))
def test_repeated_hashes_are_pandas_duplicated_keeping_none(draws, step):
    # few distinct values, so that many repeat; odd and even steps, so both halves hold repeats or not
    hashed = np.array(draws, dtype=np.uint64) * np.uint64(step)
    expected = pd.Series(hashed).duplicated(keep=False).to_numpy()
    np.testing.assert_array_equal(codes.repeated(hashed), expected)


@settings(max_examples=100, deadline=None, derandomize=True, database=None)
@given(st.lists(st.tuples(st.integers(0, 9), st.integers(0, 12)), max_size=60), st.booleans())
def test_distinct_pairs_are_the_sorted_distinct_pairs_in_order_or_not(pairs, in_order):
    pairs = sorted(pairs) if in_order else pairs  # rows by customer, then period, skip the sort
    first = np.array([a for a, _ in pairs], dtype=np.int64)
    second = np.array([b for _, b in pairs], dtype=np.int64)
    expected = sorted(set(pairs))
    found_first, found_second = codes.distinct_pairs(first, second)
    assert list(zip(found_first.tolist(), found_second.tolist(), strict=True)) == expected


@pytest.mark.parametrize(("ids", "dtype", "expected"), [
    (["a", "b", "c"], "string", True),
    (["a"], "string", True),
    ([], "string", True),
    (["a", "b", "b"], "string", False),  # an id twice
    (["b", "a"], "string", False),
    (["a", None, "c"], "string", False),  # a missing id
    (["a", "b"], object, False),  # text of no known kind: not looked at
])
def test_unique_in_order_only_for_text_ids_each_greater_than_the_last(ids, dtype, expected):
    assert codes.unique_in_order(pd.Series(ids, dtype=dtype)) is expected
