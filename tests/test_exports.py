"""Reading what CRM systems and spreadsheets really export (files from tests/make_export_fixtures.py)."""

import importlib.util
import json
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.frame.params import Cleaning, InputFile, OutlierRule, Period
from analysis.methods.cleaning import (
    MIN_ROWS_UNDER_TOTAL,
    clean_customers,
    clean_transactions,
    grand_total_rows,
    parse_dates,
)
from analysis.methods.loading import InputFileError, map_columns, read_input, read_raw
from tests.make_export_fixtures import (
    COLUMNS,
    DATE_CELLS,
    MASTER_COLUMNS,
    MASTER_MALFORMED_LINE,
    MASTER_ROWS,
    NON_FINITE,
    SEPARATOR_FILES,
    STRAY_BYTE_LINE,
    TOTAL_LINES,
    UNQUOTED_LINES,
    ZERO_AMOUNT_PURCHASE,
    write_all,
)

PERIOD = Period(start=date(2023, 1, 1), end=date(2024, 12, 31))
NO_OUTLIERS = Cleaning(outliers=OutlierRule(method="none"))


@pytest.fixture(scope="module")
def exports(tmp_path_factory) -> dict[str, Path]:
    return write_all(tmp_path_factory.mktemp("exports"))


def spec(path: Path, columns: dict[str, str] | None = None, **kw) -> InputFile:
    return InputFile(path=path, columns=COLUMNS if columns is None else columns, **kw)


def clean(path: Path, cleaning: Cleaning = NO_OUTLIERS, **kw):
    result = clean_transactions(spec(path, **kw), PERIOD, cleaning)
    q = result.quality
    assert q["rows_in"] == q["rows_kept"] + q["rows_quarantined"] == q["rows_kept"] + len(result.quarantine)
    return result


def by_order(result) -> pd.DataFrame:
    return result.kept.set_index("order_id")


# 1. Dates -------------------------------------------------------------------------------------


def test_excel_date_cells_serials_and_text_dates_read_as_their_day(exports):
    result = clean(exports["excel_dates"])
    unreadable = [order for order, (_, day) in DATE_CELLS.items() if day is None]
    assert result.quality["reasons"] == {"invalid_date": len(unreadable)}
    kept = by_order(result)["order_date"]
    for order, (cell, day) in DATE_CELLS.items():
        if day is not None:
            assert kept[order] == pd.Timestamp(day), f"{order}: {cell!r}"
    assert (kept == kept.dt.normalize()).all()  # day precision
    raw_dates = [json.loads(r)["订单日期"] for r in result.quarantine["raw"]]
    assert raw_dates == [DATE_CELLS[o][0] for o in unreadable]


def test_excel_serials_can_be_switched_off(exports):
    result = clean(exports["excel_dates"], Cleaning(outliers=OutlierRule(method="none"), excel_serial_dates=False))
    serials = {"D04", "D05", "D06"}
    assert result.quality["reasons"] == {"invalid_date": 3 + len(serials)}
    assert serials.isdisjoint(result.kept["order_id"])


@pytest.mark.parametrize(
    "text, expected",
    [("2024-03-05T14:22:01Z", "2024-03-05"), ("2024-03-05T14:22:01+08:00", "2024-03-05"),
     ("2024年3月5日 14:22", "2024-03-05"), ("2024年03月05日14时30分", "2024-03-05"), ("2024/03/05  14:22", "2024-03-05"),
     ("2024/3/5 2:22 PM", "2024-03-05"), ("45000.0", "2023-03-15"), ("20000", "1954-10-03"), ("80000", "2119-01-11"),
     ("19999", None), ("80001", None), ("-45000", None), ("4.5e4", None), ("2024-03-05 noon", None)],
)
def test_parse_dates_beyond_the_formats(text, expected):
    value = parse_dates(pd.Series([text], dtype="string"), Cleaning().date_formats).iloc[0]
    assert (pd.isna(value) and expected is None) or value == pd.Timestamp(expected)


# 2. Separators --------------------------------------------------------------------------------


@pytest.mark.parametrize("sep", list(SEPARATOR_FILES))
def test_separator_is_detected(exports, sep):
    name = {";": "sep_semicolon", "\t": "sep_tab", "|": "sep_pipe"}[sep]
    result = clean(exports[name])
    assert result.quality["rows_kept"] == 12 and result.quality["rows_quarantined"] == 0
    assert by_order(result).loc["SO000", "amount"] == pytest.approx(1234.5)
    assert by_order(result).loc["SO001", "customer_id"] == "00002"


def test_separator_set_in_params_is_used(exports):
    raw = read_raw(spec(exports["sep_semicolon"], sep=";"), "transactions")
    assert len(raw) == 12 and "set by inputs.transactions.sep" in raw.attrs["read_as"]


def test_wrong_separator_names_the_one_tried_and_the_key(exports):
    path = exports["sep_semicolon"]
    with pytest.raises(InputFileError) as err:
        clean(path, sep=",")
    message = str(err.value)
    assert path.name in message and "'客户编号' (mapped to customer_id)" in message
    assert "separator ','" in message and "inputs.transactions.sep" in message


def test_unknown_headers_say_which_separator_was_guessed(exports):
    columns = {**COLUMNS, "客户号": "customer_id"}
    del columns["客户编号"]
    with pytest.raises(InputFileError, match=r"'客户号' \(mapped to customer_id\).*separator ';'.*inputs\.transactions\.sep"):
        clean(exports["sep_semicolon"], columns=columns)


# 3. Title lines above the header ----------------------------------------------------------------


def test_csv_preamble_is_skipped_and_rows_keep_their_line_numbers(exports):
    result = clean(exports["preamble_csv"])
    assert result.quality["rows_in"] == 15 and result.quality["reasons"] == {"missing_customer_id": 1}
    assert by_order(result).loc["SO000", "source_row"] == 5  # title, exporter, blank line, header
    assert result.quarantine["source_row"].tolist() == [9]


def test_xlsx_preamble_is_skipped_and_rows_keep_their_excel_numbers(exports):
    result = clean(exports["preamble_xlsx"])
    assert result.quality["rows_in"] == 14 and result.quality["reasons"] == {"missing_customer_id": 1}
    rows = by_order(result)["source_row"]
    assert rows["SO000"] == 4 and rows["SO003"] == 7 and rows["SO004"] == 9  # row 8 is blank
    assert result.quarantine["source_row"].tolist() == [10]


def test_header_row_set_in_params(exports):
    raw = read_raw(spec(exports["preamble_csv"], header_row=4), "transactions")
    assert raw["_source_row"].iloc[0] == 5 and raw["客户编号"].iloc[0] == "00001"
    with pytest.raises(InputFileError, match=r"'客户编号' \(mapped to customer_id\).*header on line 2.*inputs\.transactions\.header_row"):
        clean(exports["preamble_csv"], header_row=2)
    with pytest.raises(InputFileError, match=r"inputs\.transactions\.header_row is 3, but row 3 is blank"):
        clean(exports["preamble_csv"], header_row=3)


# 4. Malformed and undecodable lines -----------------------------------------------------------


def test_unquoted_thousands_separator_sets_the_line_aside(exports):
    result = clean(exports["unquoted_thousands"])
    q = result.quality
    assert q["rows_in"] == 20 and q["rows_kept"] == 17 and q["reasons"] == {"malformed_row": 3}
    assert result.quarantine["source_row"].tolist() == list(UNQUOTED_LINES)
    lines = [json.loads(r)["_line"] for r in result.quarantine["raw"]]
    assert all(",1,234.50," in line for line in lines) and lines[0].startswith("00003,SO002,")
    assert by_order(result).loc["SO004", "amount"] == pytest.approx(1234.5)  # quoted: read
    assert by_order(result).loc["SO003", "source_row"] == 5


@pytest.mark.parametrize("name, encoding", [("stray_byte_gbk", "gb18030"), ("stray_byte_utf8", "utf-8-sig")])
def test_a_stray_byte_sets_only_its_line_aside(exports, name, encoding):
    path = exports[name]
    assert f"encoding {encoding}" in read_input(spec(path), "transactions").read_as
    result = clean(path)
    assert result.quality["rows_in"] == 15 and result.quality["reasons"] == {"undecodable_row": 1}
    assert result.quarantine["source_row"].tolist() == [STRAY_BYTE_LINE]
    assert "\\xff" in json.loads(result.quarantine["raw"].iloc[0])["_line"]
    assert set(result.kept["product_category"]) == {"办公用品", "电子产品", "家居日用"}


def test_a_file_in_another_encoding_is_refused_with_the_key(exports):
    with pytest.raises(InputFileError, match=r"cannot be decoded as utf-8.*inputs\.transactions\.encoding"):
        clean(exports["preamble_csv"], encoding="utf-8")


# 5. "Excel" files that are not xlsx -------------------------------------------------------------


def test_html_saved_as_xls_is_read_as_text(exports):
    result = clean(exports["html_xls"])
    assert result.quality["rows_kept"] == 12 and result.quality["rows_quarantined"] == 0
    tx = by_order(result)
    assert tx.loc["SO000", "amount"] == pytest.approx(1234.5) and tx.loc["SO000", "source_row"] == 3
    assert tx.loc["SO000", "customer_id"] == "00001" and tx.loc["SO001", "customer_id"] == "00002"
    assert tx.loc["SO002", "product_category"] == "办公用品"  # gbk, declared in a meta tag


def test_xml_spreadsheet_saved_as_xls_is_read(exports):
    columns = {k: v for k, v in COLUMNS.items() if k != "产品类别"}
    result = clean(exports["xml_spreadsheet_xls"], columns=columns)
    tx = by_order(result)
    assert result.quality["rows_kept"] == 10 and tx.loc["SO000", "source_row"] == 3
    assert tx.loc["SO001", "order_date"] == pd.Timestamp("2024-01-15") and tx.loc["SO001", "amount"] == pytest.approx(110.5)


def test_unicode_text_saved_as_xls_is_read_as_csv(exports):
    raw_input = read_input(spec(exports["unicode_text_xls"]), "transactions")
    assert len(raw_input.frame) == 10 and "utf-16" in raw_input.read_as and "separator tab" in raw_input.read_as


@pytest.mark.skipif(importlib.util.find_spec("xlrd") is not None, reason="xlrd installed: binary xls is read")
def test_binary_xls_without_xlrd_says_to_save_as_xlsx(exports):
    with pytest.raises(InputFileError, match=r"binary\.xls is an old binary Excel 97-2003 workbook.*xlrd.*save as \.xlsx"):
        clean(exports["binary_xls"])


# 6. Sheets --------------------------------------------------------------------------------------


def test_the_only_sheet_with_the_headers_is_read(exports):
    raw_input = read_input(spec(exports["multi_sheet"]), "transactions")
    assert len(raw_input.frame) == 10 and "sheet '明细' (the only one holding the mapped headers)" in raw_input.read_as


def test_two_sheets_with_the_headers_need_the_sheet_key(exports):
    with pytest.raises(InputFileError, match=r"2 sheets \['一月', '二月'\].*inputs\.transactions\.sheet"):
        clean(exports["two_data_sheets"])
    february = clean(exports["two_data_sheets"], sheet="二月").kept
    assert len(february) == 4 and (february["order_date"].dt.month == 2).all()


def test_a_sheet_that_does_not_exist_lists_the_sheets(exports):
    with pytest.raises(InputFileError, match=r"sheet is '三月', but the file has no such sheet\. Its sheets are: \['一月', '二月'\]"):
        clean(exports["two_data_sheets"], sheet="三月")


def test_no_sheet_with_the_headers_is_an_error(exports):
    columns = {**COLUMNS, "客户号": "customer_id"}
    del columns["客户编号"]
    with pytest.raises(InputFileError, match=r"3 sheets \['说明', '明细', '汇总'\] and none holds the mapped headers"):
        read_raw(spec(exports["multi_sheet"], columns=columns), "transactions")


# 7-8. Amounts -----------------------------------------------------------------------------------


def test_non_finite_amounts_are_invalid_and_non_finite_cost_is_missing(exports):
    columns = {**COLUMNS, "数量": "quantity", "成本": "cost"}
    result = clean(exports["non_finite"], columns=columns)
    assert result.quality["reasons"] == {"invalid_amount": len(NON_FINITE)}
    raw_amounts = [json.loads(r)["金额"] for r in result.quarantine["raw"]]
    assert raw_amounts == list(NON_FINITE)
    tx = by_order(result)
    assert np.isfinite(tx["amount"]).all() and len(tx) == 10
    assert np.isnan(tx.loc["SO000", "cost"]) and np.isnan(tx.loc["SO000", "quantity"])
    assert tx.loc["SO001", "cost"] == 50.0


@pytest.mark.parametrize("rule, column", [("purchase", 0), ("exclude", 1)])
def test_zero_amount_orders_are_purchases_unless_excluded(exports, rule, column):
    result = clean(exports["zero_amount"], Cleaning(outliers=OutlierRule(method="none"), zero_amount_orders=rule))
    tx = result.kept.assign(order_id=result.kept["order_id"].fillna("<no id>"))
    flags = tx.groupby("order_id")["is_purchase"].agg(lambda s: set(s.tolist()))
    assert flags.to_dict() == {order: {expected[column]} for order, expected in ZERO_AMOUNT_PURCHASE.items()}
    assert tx["is_purchase"].dtype == bool
    assert tx.loc[tx["order_id"] == "Z9", "is_return"].all() and not tx.loc[tx["order_id"] != "Z9", "is_return"].any()
    assert result.quality["returns_netted"] == 2 and result.quality["zero_amount_rows"] == 4


# 10. Totals and sub-totals ----------------------------------------------------------------------


def test_total_and_subtotal_lines_are_set_aside_as_total_rows(exports):
    result = clean(exports["total_rows"])
    totals = [line for line, (is_total, _) in TOTAL_LINES.items() if is_total]
    assert result.quality["reasons"] == {"total_row": len(totals)}  # the 合计 line without id: a total, not a missing id
    assert result.quarantine["source_row"].tolist() == totals
    assert result.kept["amount"].sum() == pytest.approx(700.0) and len(result.kept) == 5
    details = dict(zip(result.quarantine["source_row"], result.quarantine["detail"]))
    assert "the 客户编号 cell says '小计'" in details[4]
    assert "the 客户编号 cell is empty and the 订单编号 cell says '合计：'" in details[8]
    assert "equals the sum of the other 5 rows (700.00" in details[10]


def test_a_grand_total_needs_three_other_rows_and_a_close_match():
    open_rows = pd.Series(True, index=range(4))
    flags, _ = grand_total_rows(pd.Series([100.0, 50.0, 150.0]), open_rows.iloc[:3], 0.005)
    assert not flags.any()  # two other rows: could be an order as large as the others
    flags, _ = grand_total_rows(pd.Series([100.0, 50.0, 25.0, 175.0]), open_rows, 0.005)
    assert flags.tolist() == [False, False, False, True]
    flags, _ = grand_total_rows(pd.Series([100.0, 50.0, 25.0, 180.0]), open_rows, 0.005)
    assert not flags.any()  # 2.9 % off: an order
    flags, _ = grand_total_rows(pd.Series([0.0, 0.0, 0.0, 0.0]), open_rows, 0.005)
    assert not flags.any()  # zero equals zero, but is no total


@settings(max_examples=200, deadline=None)
@given(cells=st.lists(st.tuples(st.none() | st.sampled_from([0.0, -0.0, 1.0, 2.5, -3.0, 6.5, 1e-12, 1e300]), st.booleans()),
                      max_size=9),
       tolerance=st.sampled_from([0.0, 0.005, 0.5]), total=st.booleans())
def test_grand_totals_are_rows_matching_the_sum_of_the_other_open_rows(cells, tolerance, total):
    """The rule of the docstring as pandas states it, on missing amounts, closed rows, zeros and signs;
    ``total`` appends an open row of the others' sum, a grand total to the last digit."""
    if total:
        cells = [*cells, (float(sum(a for a, o in cells if o and a is not None)), True)]
    amounts = pd.Series([a for a, _ in cells], dtype="float64")
    open_rows = pd.Series([o for _, o in cells], dtype=bool)
    flags, detail = grand_total_rows(amounts, open_rows, tolerance)
    values = amounts.where(open_rows)
    others = float(values.sum()) - values
    expected = (values.notna() & values.ne(0) & others.ne(0) & (values - others).abs().le(tolerance * others.abs()))
    if values.notna().sum() - 1 < MIN_ROWS_UNDER_TOTAL:
        expected[:] = False
    assert flags.tolist() == expected.fillna(False).astype(bool).tolist()
    assert detail.index.tolist() == flags.index[flags].tolist() and detail.str.contains("grand total").all()


def test_grand_total_check_can_be_switched_off(exports):
    result = clean(exports["total_rows"], Cleaning(outliers=OutlierRule(method="none"), grand_total_tolerance=0))
    assert result.quality["reasons"] == {"total_row": 3}
    assert "00000009" in set(result.kept["customer_id"])


# 11. A header twice ------------------------------------------------------------------------------


def test_a_mapped_header_twice_is_an_error_naming_both_columns(exports):
    path = exports["repeated_amount"]
    with pytest.raises(InputFileError) as err:
        clean(path)
    message = str(err.value)
    assert path.name in message and "columns 4 and 7 are both named '金额'" in message and "(D and G in Excel)" in message
    assert "inputs.transactions.columns maps to amount" in message and "Rename one of them in the export" in message


def test_an_unmapped_header_twice_is_read(exports):
    result = clean(exports["repeated_note"])
    assert result.quality["rows_kept"] == 5 and result.quality["rows_quarantined"] == 0


# 12. Personal data in the quarantine ---------------------------------------------------------------


def test_quarantined_master_rows_keep_their_id_but_no_name_or_phone(exports):
    result = clean_customers(InputFile(path=exports["master"], columns=MASTER_COLUMNS), Cleaning())
    q = result.quarantine.set_index("source_row")
    assert q["reason"].to_dict() == {5: "duplicate_customer_id", MASTER_MALFORMED_LINE: "malformed_row"}
    duplicate = json.loads(q.loc[5, "raw"])
    assert duplicate == {"客户编号": "00004711", "客户名称": "***", "联系电话": "***", "存款余额": "50"}
    line = json.loads(q.loc[MASTER_MALFORMED_LINE, "raw"])["_line"]
    assert line.startswith("00005555,") and "赵敏" not in line and "13611112222" not in line
    everything = "".join(result.quarantine["raw"])
    for _, name, phone, _ in MASTER_ROWS:
        assert phone not in everything and name not in everything
    kept = result.kept.set_index("customer_id")
    assert kept.loc["00007919", "name"] == "王小明"  # the master itself keeps them for the analyst


# Every shape: nothing lost --------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["excel_dates", "preamble_csv", "preamble_xlsx", "unquoted_thousands", "stray_byte_gbk", "html_xls", "non_finite",
             "total_rows", "mangled_ids", "float_ids"]
)
def test_rows_read_are_kept_or_quarantined_once(exports, name):
    columns = {**COLUMNS, "数量": "quantity", "成本": "cost"} if name == "non_finite" else COLUMNS
    result = clean(exports[name], columns=columns)
    kept_rows = set(result.kept["source_row"])
    quarantined_rows = set(result.quarantine["source_row"])
    assert not kept_rows & quarantined_rows
    assert len(kept_rows) + len(quarantined_rows) + result.quality["returns_netted"] == result.quality["rows_in"]


def test_mapped_frame_keeps_the_excel_row(exports):
    s = spec(exports["preamble_xlsx"])
    mapped = map_columns(read_raw(s, "transactions"), s, "transactions")
    assert mapped["_source_row"].iloc[0] == 4 and mapped["customer_id"].iloc[0] == "00001"


# The workbook reader ----------------------------------------------------------------------------


def awkward_cells_workbook(path: Path) -> Path:
    """A workbook of the cells an export from Excel holds besides text: numbers whole and not, ids
    typed as numbers, date, date-time and time cells (one in a Chinese date format), booleans,
    percentages, text with spaces and line breaks, ids kept as text, a merged cell and a formula
    without a cached value; a title and a blank row above the header, an empty first column, a
    formatted empty cell beyond the data, and a notes sheet before the data's."""
    import datetime as dt

    import openpyxl

    book = openpyxl.Workbook()
    book.active.title = "说明"
    book.active.append(["导出说明"])
    sheet = book.create_sheet("交易明细")
    sheet.append([None, "交易明细导出"])
    sheet.append([])
    sheet.append([None, "客户编号", "订单编号", "订单日期", "金额", "产品类别"])
    values = [
        7919, 7919.0, 0.1 + 0.2, 123456789012345678, 1e-7, 12345678901.5, -0.0, 45000,
        dt.datetime(2024, 3, 5), dt.datetime(2024, 3, 5, 14, 22, 1), dt.date(2024, 3, 5), dt.time(14, 22, 1),
        True, False, 0.125, "  padded  ", "two\nlines", "00123", "=1+1", "合计",
    ]
    for number, value in enumerate(values):
        sheet.append([None, f"{number:08d}", f"SO{number}", value, value, "耗材"])
    sheet["D12"].number_format = 'yyyy"年"m"月"d"日"'
    sheet["E18"].number_format = "0.0%"
    sheet.merge_cells("B25:B26")
    sheet["H30"].number_format = "0.00"  # formatted, empty: the sheet's used range reaches it
    book.save(path)
    return path


def test_the_workbook_reader_reads_the_cells_openpyxl_reads(exports, tmp_path, monkeypatch):
    """xlsx exports are read with calamine, for speed (``benchmarks/xlsx_read.py``): every cell reads as
    it does with openpyxl, the reader before it, on each fixture workbook and on a sheet of awkward cells."""
    from analysis.methods import loading

    workbooks = [exports[name] for name in ("excel_dates", "preamble_xlsx")]
    workbooks.append(awkward_cells_workbook(tmp_path / "awkward.xlsx"))
    assert loading.XLSX_READER == "calamine"
    for path in workbooks:
        read = {}
        for reader in ("calamine", "openpyxl"):
            monkeypatch.setattr(loading, "XLSX_READER", reader)
            read[reader] = read_input(spec(path), "transactions")
        pd.testing.assert_frame_equal(read["calamine"].frame, read["openpyxl"].frame)
        assert read["calamine"].read_as == read["openpyxl"].read_as
        assert read["calamine"].rejected.equals(read["openpyxl"].rejected)
    assert read["calamine"].frame["_source_row"].iloc[0] == 4
    assert read["calamine"].frame["订单日期"].tolist()[:13] == [
        "7919", "7919", "0.3", "123456789012345696", "1e-07", "12345678901.5", "0", "45000",
        "2024-03-05", "2024-03-05 14:22:01", "2024-03-05", "14:22:01", "TRUE"]


def test_each_sheet_of_a_workbook_is_parsed_once(exports, monkeypatch):
    """The search for the header reads the first rows of every sheet, then the sheet chosen is read
    whole: calamine parses each sheet once (a sheet of a million rows takes seconds)."""
    import python_calamine

    parsed: list[str] = []

    class CountingWorkbook:
        def __init__(self, book):
            self._book = book

        def __getattr__(self, name):
            return getattr(self._book, name)

        def get_sheet_by_name(self, name):
            parsed.append(name)
            return self._book.get_sheet_by_name(name)

    opened = python_calamine.CalamineWorkbook.from_path
    monkeypatch.setattr(python_calamine, "CalamineWorkbook",
                        type("Workbook", (), {"from_path": staticmethod(lambda path: CountingWorkbook(opened(path)))}))
    read = read_input(spec(exports["multi_sheet"]), "transactions")
    assert "sheet '" in read.read_as and len(read.frame)
    assert len(parsed) == len(set(parsed)) >= 2
