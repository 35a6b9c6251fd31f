"""Tables in the reader's language: values turned into text once per distinct value."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.report.localize import each_value, localize


def test_each_value_matches_the_value_by_value_text() -> None:
    calls: list[object] = []

    def label(value: object) -> object:
        calls.append(value)
        return "missing" if pd.isna(value) else f"<{value}>"

    values = pd.Series(["b", None, "a", "b", "a", None, "c"], dtype="string")
    out = each_value(values, label)
    assert list(out) == ["<b>", "missing", "<a>", "<b>", "<a>", "missing", "<c>"]
    assert out.dtype == "string"
    assert len(calls) == 3 + 2  # once per distinct value, missing values one by one
    numbers = pd.Series([2, 1, np.nan, 2], dtype="float64")
    assert list(each_value(numbers, label)) == ["<2.0>", "<1.0>", "missing", "<2.0>"]
    # a function returning a missing value keeps it missing
    assert each_value(values, lambda v: v).isna().tolist() == values.isna().tolist()


def test_each_value_takes_unhashable_values() -> None:
    values = pd.Series([["a"], ["b", "c"]], dtype=object)
    assert list(each_value(values, lambda v: "+".join(v))) == ["a", "b+c"]


def test_localize_names_tiers_on_every_row() -> None:
    table = pd.DataFrame({"tier": pd.array([1, 2, None, 1], dtype="Int64"), "tier_name": [""] * 4})
    out = localize(table, "en", {1: "Gold", 2: "Silver"})
    assert list(out["tier_name"])[:2] == ["Gold", "Silver"] and out["tier_name"][3] == "Gold"
    assert out["tier_name"][2] == localize(table.iloc[[2]], "en", {})["tier_name"].iloc[0]
