"""Customer ids that Excel and float columns mangled: repaired when unambiguous, set aside when not."""

import json
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.frame.params import Cleaning, InputFile, OutlierRule, Period
from analysis.methods.cleaning import (
    CleanResult,
    clean_complaints,
    clean_customers,
    clean_surveys,
    clean_transactions,
)
from analysis.methods.ids import (
    REPAIR_KINDS,
    leading_zero_collisions,
    left_joined,
    looked_up,
    pad_to_reference,
    read_scientific,
    repair_ids,
    whole_number_text,
)
from analysis.stages.clean import add_join_rates
from tests.examples import examples
from tests.make_export_fixtures import (
    COLUMNS,
    FLOAT_IDS,
    MANGLED_IDS,
    MASTER_COLUMNS,
    write_float_id_parquet,
    write_mangled_ids,
    write_master,
)

PERIOD = Period(start=date(2024, 1, 1), end=date(2024, 12, 31))
NO_OUTLIERS = Cleaning(outliers=OutlierRule(method="none"))


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("ids")


@pytest.fixture(scope="module")
def master(folder) -> CleanResult:
    return clean_customers(InputFile(path=write_master(folder), columns=MASTER_COLUMNS), NO_OUTLIERS)


@pytest.fixture(scope="module")
def master_ids(master) -> list[str]:
    return master.kept["customer_id"].tolist()


def clean_tx(path: Path, master_ids: list[str] | None = None, cleaning: Cleaning = NO_OUTLIERS) -> CleanResult:
    result = clean_transactions(InputFile(path=path, columns=COLUMNS), PERIOD, cleaning, master_ids=master_ids)
    q = result.quality
    assert q["rows_in"] == q["rows_kept"] + q["rows_quarantined"]
    return result


# Scientific notation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, exact, low, high",
    [("7.919E+03", "7919", None, None), ("7.92E+03", None, 7915, 7924), ("1.23E+05", None, 122_500, 123_499),
     ("1.23e5", None, 122_500, 123_499), ("1.23456E+05", "123456", None, None), ("7.9190E+03", "7919", None, None),
     ("1E5", None, 50_000, 149_999), ("1.2345E+02", None, None, None), ("5E-1", None, None, None)],
)
def test_scientific_ids_are_exact_only_when_the_mantissa_carries_every_digit(text, exact, low, high):
    read = read_scientific(text)
    assert (read.exact, read.low, read.high) == (exact, low, high)


def test_text_that_is_not_scientific_is_left_alone():
    assert read_scientific("7919") is None and read_scientific("E7919") is None and read_scientific("AB1E5") is None


# Text from numbers -----------------------------------------------------------------------------


def test_whole_floats_become_integer_text():
    text = whole_number_text(pd.Series([7919.0, 12.0, np.nan, 1.5]))
    assert text.iloc[:2].tolist() == ["7919", "12"] and pd.isna(text.iloc[2]) and text.iloc[3] == "1.5"
    assert repair_ids(pd.Series([7919.0, 12.0])).ids.tolist() == ["7919", "12"]


# Zero padding ----------------------------------------------------------------------------------


def test_padding_needs_a_master_of_one_width_holding_the_padded_form():
    ids = pd.Series(["7919", "12", "55", "00007919"], dtype="string")
    padded, changed = pad_to_reference(ids, ["00007919", "00000012"])
    assert padded.tolist() == ["00007919", "00000012", "55", "00007919"] and changed.tolist() == [True, True, False, False]
    mixed, changed = pad_to_reference(ids, ["00007919", "12"])  # two widths: no fixed form to pad to
    assert mixed.tolist() == ids.tolist() and not changed.any()
    kept, changed = pad_to_reference(pd.Series(["7919"], dtype="string"), ["00007919", "7919"])
    assert not changed.any()  # both forms exist: not a repair


@settings(max_examples=100, deadline=None)
@given(ids=st.lists(st.none() | st.text(alphabet="0179A客٣ ", max_size=5), max_size=20))
def test_a_master_column_makes_the_reference_its_ids_make(ids):
    """The master's id column is read as Arrow text, never a Python string per id: the same distinct ids
    and the same width as from the ids one by one."""
    from analysis.methods.ids import PaddingReference, fixed_width

    column = PaddingReference.of(pd.Series(ids, dtype="string"))
    given_ids = [i for i in ids if i is not None]
    assert sorted(column.ids.to_pylist()) == sorted(set(given_ids))
    assert column.width == fixed_width(given_ids) == PaddingReference.of(given_ids).width


def test_leading_zero_collisions_are_counted_not_merged():
    ids = pd.Series(["7919", "007919", "00007919", "12", "012", "5", "AB7"], dtype="string")
    assert leading_zero_collisions(ids) == 2


# The mangled export ------------------------------------------------------------------------------


def test_the_forms_of_one_id_become_the_master_customer(folder, master_ids):
    result = clean_tx(write_mangled_ids(folder), master_ids)
    kept = result.kept.set_index("order_id")["customer_id"]
    expected = {f"M{i:02d}": customer for i, customer in enumerate(MANGLED_IDS.values()) if customer is not None}
    assert kept[list(expected)].to_dict() == expected
    assert set(kept[["M00", "M01", "M02", "M03", "M20", "M21", "M22"]]) == {"00007919"}
    q = result.quality
    assert q["reasons"] == {"ambiguous_customer_id": 1}
    assert q["ids_repaired"] == {"trailing_zero": 1, "scientific": 1, "zero_padded": 8}
    assert q["warnings"]["leading_zero_id_collisions"] == 0


def test_an_id_excel_rounded_is_set_aside_with_the_fix(folder, master_ids):
    quarantine = clean_tx(write_mangled_ids(folder), master_ids).quarantine
    row = quarantine.iloc[0]
    assert row["reason"] == "ambiguous_customer_id" and row["source_row"] == 6
    assert json.loads(row["raw"])["客户编号"] == "7.92E+03"
    assert "Excel rounded to 3 significant digits" in row["detail"] and "from 7915 to 7924" in row["detail"]
    assert "format the column '客户编号' as text" in row["detail"]


def test_without_a_master_ids_differing_in_leading_zeros_stay_apart_and_are_counted(folder):
    result = clean_tx(write_mangled_ids(folder))
    customers = set(result.kept["customer_id"])
    assert {"7919", "00007919", "12", "4711"} <= customers
    assert result.quality["ids_repaired"] == {"trailing_zero": 1, "scientific": 1, "zero_padded": 0}
    assert result.quality["warnings"]["leading_zero_id_collisions"] == 1


def test_padding_can_be_switched_off(folder, master_ids):
    cleaning = Cleaning(outliers=OutlierRule(method="none"), pad_ids_to_master=False)
    result = clean_tx(write_mangled_ids(folder), master_ids, cleaning)
    assert result.quality["ids_repaired"]["zero_padded"] == 0 and "7919" in set(result.kept["customer_id"])


def test_float_id_parquet_matches_the_master(folder, master, master_ids):
    result = clean_tx(write_float_id_parquet(folder), master_ids)
    assert set(result.kept["customer_id"]) == set(FLOAT_IDS.values())
    results = {"transactions": result, "customers": master}
    add_join_rates(results)
    assert result.quality["join"] == {"customers": 3, "in_master": 3, "share_in_master": 1.0}
    assert result.quality["customers_not_in_master"] == 0


def test_surveys_and_complaints_are_repaired_to_the_master_and_joined(folder, master, master_ids):
    surveys_path = folder / "surveys.csv"
    pd.DataFrame({"客户编号": ["7919", "12.0", "88"], "调查日期": ["2024-06-01"] * 3, "总体满意度": ["8", "9", "7"]}).to_csv(
        surveys_path, index=False)
    complaints_path = folder / "complaints.csv"
    pd.DataFrame({"客户编号": ["4711", "7.92E+03"], "投诉日期": ["2024-06-02"] * 2}).to_csv(complaints_path, index=False)
    surveys = clean_surveys(
        InputFile(path=surveys_path, columns={"客户编号": "customer_id", "调查日期": "survey_date", "总体满意度": "overall_satisfaction"}),
        NO_OUTLIERS, scale_max=10, attributes=[], master_ids=master_ids,
    )
    complaints = clean_complaints(
        InputFile(path=complaints_path, columns={"客户编号": "customer_id", "投诉日期": "opened"}),
        NO_OUTLIERS, as_of=PERIOD.end, master_ids=master_ids,
    )
    assert surveys.kept["customer_id"].tolist() == ["00007919", "00000012", "88"]
    assert surveys.quality["ids_repaired"] == {"trailing_zero": 1, "scientific": 0, "zero_padded": 2}
    assert complaints.quality["reasons"] == {"ambiguous_customer_id": 1}
    transactions = clean_tx(write_mangled_ids(folder), master_ids)
    results = {"transactions": transactions, "customers": master, "surveys": surveys, "complaints": complaints}
    add_join_rates(results)
    assert surveys.quality["join"] == {
        "customers": 3, "in_transactions": 2, "share_in_transactions": 0.6667, "in_master": 2, "share_in_master": 0.6667,
    }
    assert complaints.quality["join"]["share_in_transactions"] == 1.0
    assert transactions.quality["join"] == {"customers": 4, "in_master": 3, "share_in_master": 0.75}


@settings(max_examples=examples(100), deadline=None)
@given(number=st.integers(min_value=1, max_value=99_999_999), shown=st.integers(min_value=1, max_value=9))
def test_scientific_forms_repair_to_the_number_or_cover_it(number, shown):
    """Excel's 0.0…E+00 display of ``number`` with ``shown`` digits: exact when they suffice, else a range holding it.

    Excel rounds half away from zero (25 with one digit shows 3E+01), unlike Python's half to even.
    """
    exponent = len(str(number)) - 1
    mantissa = (Decimal(number) / Decimal(10) ** exponent).quantize(Decimal(1).scaleb(1 - shown), rounding=ROUND_HALF_UP)
    if mantissa >= 10:  # 9.96 shown with 2 digits: 1.0E+01 of the next power
        mantissa, exponent = (mantissa / 10).quantize(Decimal(1).scaleb(1 - shown), rounding=ROUND_HALF_UP), exponent + 1
    text = f"{mantissa}E+{exponent:02d}"
    read = read_scientific(text)
    if shown >= len(str(number)):
        assert read.exact == str(number)
    else:
        assert read.exact is None or read.exact == str(number)  # trailing zeros can make a short form exact
        if read.exact is None:
            assert read.low <= number <= read.high


@settings(max_examples=examples(50), deadline=None)
@given(numbers=st.lists(st.integers(min_value=1, max_value=9_999_999), min_size=1, max_size=20, unique=True))
def test_every_form_of_a_master_id_becomes_that_id(numbers):
    master = [f"{n:08d}" for n in numbers]
    forms = [form for n in numbers for form in (str(n), f"{n}.0", f"{n:08d}", f"{n:08d}.0")]
    repaired = repair_ids(pd.Series(forms, dtype="string"), master)
    assert repaired.ids.tolist() == [f"{n:08d}" for n in numbers for _ in range(4)]
    assert not repaired.ambiguous.any()


@pytest.mark.parametrize("values", [[1, 2], [True, False], [1.5, 2.5], ["x", "y"], pd.array([1, 2], dtype="Int64"),
                                    pd.Categorical(["x", "y"])])
def test_looking_up_text_keys_is_mapping_them_through_the_table(values):
    """Arrow's lookup of text keys gives what pandas' reindex gives: the value, or missing (with
    its dtype widened as reindex widens it) for a key not in the table and for a missing key."""
    table = pd.Series(values, index=pd.Index(["m1", "m2"], dtype="string"))
    keys = pd.Series(["m2", None, "m9", "m1", "m2"], dtype="string", index=[4, 3, 2, 1, 0])
    expected = pd.Series(table.reindex(pd.Index(keys)).array, index=keys.index)
    pd.testing.assert_series_equal(looked_up(keys, table), expected)
    assert looked_up(keys, table).isna().tolist() == [False, True, True, False, False]


id_text = st.one_of(
    st.none(),
    st.sampled_from(["7919", "007919", "7919.0", " 7919 ", "7.919E+03", "7.92E+03", "1.2345E+02", "", "合计", "A-7"]),
    st.text(alphabet="0179.Ee+ ", max_size=9),
)


@settings(max_examples=examples(200), deadline=None, derandomize=True, database=None)
@given(cells=st.lists(id_text, max_size=12), repeats=st.integers(1, 3), with_master=st.booleans())
def test_a_column_of_ids_is_repaired_as_its_ids_one_by_one(cells, repeats, with_master):
    """Repeated ids are repaired once per distinct text: no id's repair depends on its neighbours."""
    cells = cells * repeats  # repeats make most columns few distinct ids, the other path's case
    master = ["00007919", "00000017"] if with_master else None
    index = pd.Index(range(100, 100 + len(cells)))
    column = repair_ids(pd.Series(cells, dtype="string", index=index), master)
    alone = [repair_ids(pd.Series([cell], dtype="string"), master) for cell in cells]
    assert column.ids.index.equals(index) and column.ids.dtype == "string"
    assert column.ids.tolist() == [one.ids.iloc[0] for one in alone]
    assert column.ambiguous.tolist() == [bool(one.ambiguous.iloc[0]) for one in alone]
    assert column.repairs.index.equals(index) and list(column.repairs) == list(REPAIR_KINDS)
    assert column.repairs.to_numpy().tolist() == [one.repairs.to_numpy()[0].tolist() for one in alone]
    assert column.rounded == {label: one.rounded[0] for label, one in zip(index, alone, strict=True) if one.rounded}


def test_a_left_join_of_frames_already_aligned_is_pandas_merge():
    """Keys row for row the same on both sides, rising: no lookup, the same frame as pandas' merge; the
    same keys repeated, or not rising, or missing, go the general way and give the merge too."""
    def frame(ids, **columns):
        return pd.DataFrame({"customer_id": pd.array(ids, dtype="string"), **columns})

    for ids in (["a", "b", "c"], ["b", "a", "c"], ["a", "a", "b"], ["a", None, "c"], [], ["07", "7"]):
        left = frame(ids, clv=np.arange(len(ids), dtype=float)).set_axis(np.arange(len(ids)) * 10)
        right = frame(ids, region=pd.array([f"r{i}" for i in range(len(ids))], dtype="string"))
        pd.testing.assert_frame_equal(left_joined(left, right), left.merge(right, on="customer_id", how="left"))


def test_a_left_join_by_text_ids_is_pandas_merge():
    """``left_joined`` gives pandas' left merge: right's columns at each left row's id, missing where
    the id is not there (ints become floats, bools objects, as pandas fills them), a fresh index;
    a repeated id, a column in both frames or keys that are not text take pandas' merge itself."""
    left = pd.DataFrame({"customer_id": pd.array(["b", "a", "z", "b", None], dtype="string"), "clv": [1.0, 2.0, 3.0, 4.0, 5.0]},
                        index=[10, 3, 7, 8, 1])
    right = pd.DataFrame({
        "customer_id": pd.array(["a", "b", "c", None], dtype="string"),
        "region": pd.array(["北", "南", "东", "?"], dtype="string"),
        "count": np.array([1, 2, 3, 4], dtype="int64"),
        "flag": [True, False, True, False],
        "day": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01", "2024-04-01"]),
        "kind": pd.Categorical(["x", "y", "x", "y"]),
    })
    for r in (right, right.iloc[[1, 0]], right.iloc[:0]):
        pd.testing.assert_frame_equal(left_joined(left, r), left.merge(r, on="customer_id", how="left"))
    found = left_joined(left, right.iloc[:3])
    assert found["region"].tolist()[:2] == ["南", "北"] and pd.isna(found["region"].iloc[2])
    assert found["count"].dtype == "float64" and found.index.equals(pd.RangeIndex(5))
    repeated = pd.concat([right, right.head(1)], ignore_index=True)
    pd.testing.assert_frame_equal(left_joined(left, repeated), left.merge(repeated, on="customer_id", how="left"))
    both = right.assign(clv=0.5)
    pd.testing.assert_frame_equal(left_joined(left, both), left.merge(both, on="customer_id", how="left"))
    numbers = pd.DataFrame({"customer_id": [1, 2], "v": [0.1, 0.2]})
    pd.testing.assert_frame_equal(left_joined(pd.DataFrame({"customer_id": [2, 3]}), numbers),
                                  pd.DataFrame({"customer_id": [2, 3]}).merge(numbers, on="customer_id", how="left"))
