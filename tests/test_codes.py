"""Integer codes of text keys: the equalities of pd.factorize, from a hash checked as text."""

from __future__ import annotations

import contextlib
from unittest import mock

import numpy as np
import pandas as pd
from hypothesis import given, settings
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
