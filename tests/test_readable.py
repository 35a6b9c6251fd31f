"""The notebooks' one display helper: floats at reader precision, everything else untouched."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from analysis.report.readable import (
    money_units,
    percent,
    readable,
    readable_text,
    round_significant,
)


@pytest.mark.parametrize(
    ("value", "shown"),
    [(0.568526, 0.569), (16.042405, 16.0), (1303.42887, 1300.0), (-0.0012345, -0.00123), (0.0, 0.0), (2.5e-17, 2.5e-17)],
)
def test_three_significant_figures(value, shown):
    assert round_significant(value) == shown


@pytest.mark.parametrize(
    ("one_cpu", "another_cpu"),
    # Figures seen to differ between two CPUs in the 7th significant digit.
    [(1303.42887, 1303.428875), (85442.281967, 85442.281980), (376329.553, 376329.554)],
)
def test_last_digit_differences_between_cpus_do_not_show(one_cpu, another_cpu):
    assert readable(one_cpu) == readable(another_cpu)
    assert readable_text(one_cpu) == readable_text(another_cpu)


def test_tables_keep_counts_labels_dates_and_missing_values():
    table = pd.DataFrame({
        "tier": [1, 2], "name": ["高价值客户", "潜力客户"], "share": [0.123456, np.nan],
        "when": pd.to_datetime(["2025-01-01", "2025-12-31"]), "flag": [True, False],
        "mixed": pd.Series([0.98765, "n/a"], dtype=object),
    })
    shown = readable(table)
    assert shown["tier"].tolist() == [1, 2] and shown["name"].tolist() == ["高价值客户", "潜力客户"]
    assert shown["share"].iloc[0] == 0.123 and np.isnan(shown["share"].iloc[1])
    assert "0.123" in shown.to_string() and "0.1230" not in shown.to_string()  # not padded
    assert shown["when"].equals(table["when"]) and shown["flag"].tolist() == [True, False]
    assert shown["mixed"].tolist() == [0.988, "n/a"]
    assert table["share"].iloc[0] == 0.123456  # the input is not changed


def test_a_mapping_of_figures_becomes_a_series():
    shown = readable({"auc": 0.90912, "customers": 4326.0, "method": "model"})
    assert isinstance(shown, pd.Series) and shown.to_dict() == {"auc": 0.909, "customers": 4326, "method": "model"}
    assert "4326.0" not in shown.to_string()  # a count stored as a float shows as a count


def test_sentence_numbers():
    assert readable_text(385145.27) == "385,000"
    assert readable_text(0.79712) == "0.797"
    assert readable_text(12) == "12"


@given(st.floats(min_value=-1e12, max_value=1e12, allow_nan=False).filter(lambda v: abs(v) > 1e-9))
def test_rounding_moves_a_value_by_at_most_half_its_last_kept_digit(value):
    last_digit = 10.0 ** (np.floor(np.log10(abs(value))) - 2)
    assert abs(round_significant(value) - value) <= 0.5 * last_digit * (1 + 1e-9) + abs(value) * 1e-15


def test_shares_show_as_percentages_with_one_decimal():
    table = pd.DataFrame({"segment": ["a", "b", "c"], "customers": [3, 80, 917], "share": [0.003, 0.08, None]})
    shown = readable(percent(table, ["share"]))
    assert list(shown.columns) == ["segment", "customers", "share %"]
    assert shown["share %"].tolist() == ["0.3", "8.0", "—"] and shown["customers"].tolist() == [3, 80, 917]
    assert table["share"].tolist()[:2] == [0.003, 0.08], "the table itself is left as it was"


def test_a_whole_sum_of_money_is_rounded_like_any_figure_and_counts_stay_counts():
    table = pd.DataFrame({"revenue": [4720312.5, 4297492.0], "customers": [122.0, 57108.0]})
    shown = readable(table)
    assert shown["revenue"].tolist() == [4720000, 4300000]  # not 4297492: seven digits are not a reader's
    assert shown["customers"].tolist() == [122, 57108]
    assert readable(1200000.0) == 1200000  # a round figure is shown as it is


def test_money_is_shown_in_the_unit_a_reader_counts_in():
    table = pd.DataFrame({"manager_id": ["KM001", "KM002"], "revenue": [4720312.5, 14_400_000.0], "customers": [122, 57]})
    zh = readable(money_units(table, ["revenue"], "zh"))
    assert list(zh.columns) == ["manager_id", "revenue (万)", "customers"]
    assert zh["revenue (万)"].tolist() == [472, 1440] and zh["customers"].tolist() == [122, 57]
    en = readable(money_units(table, ["revenue"], "en"))
    assert en["revenue (k)"].tolist() == [4720, 14400]
    assert table["revenue"].tolist() == [4720312.5, 14_400_000.0], "the table itself is left as it was"
