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
