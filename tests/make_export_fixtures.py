"""Small files shaped like real CRM and spreadsheet exports, for the loading and cleaning tests.

Each ``write_*`` function writes one shape into a folder and returns its path; the headers are the
Chinese ones a Chinese CRM exports (客户编号, 订单编号, 订单日期, 金额, ...). ``EXPECTED`` notes
what the tests assert about a shape where the file alone does not show it.

Usage: ``python tests/make_export_fixtures.py <folder>`` writes every shape into ``<folder>``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path

import pandas as pd
from openpyxl import Workbook

HEADER = ["客户编号", "订单编号", "订单日期", "金额", "产品类别"]
COLUMNS = {"客户编号": "customer_id", "订单编号": "order_id", "订单日期": "order_date", "金额": "amount", "产品类别": "product_category"}
TITLE = "客户交易明细导出 2024-01-01"


def order_rows(n: int, *, start: date = date(2024, 1, 8)) -> list[list[str]]:
    """``n`` plain order lines: ids with leading zeros, ISO dates a week apart, amounts with cents."""
    return [
        [f"{i % 7 + 1:05d}", f"SO{i:03d}", (start + timedelta(days=7 * i)).isoformat(), f"{100 + 10.5 * i:.2f}", "办公用品"]
        for i in range(n)
    ]


def _csv_line(cells: list[str], sep: str = ",") -> str:
    return sep.join(cells) + "\r\n"


def _write_lines(path: Path, lines: list[str], encoding: str = "utf-8") -> Path:
    path.write_bytes("".join(lines).encode(encoding))
    return path


# ---------------------------------------------------------------------------------------------
# 1. Dates as Excel and CRM systems write them.

#: order id -> (cell written into 订单日期, the day it must read as; None: unreadable).
DATE_CELLS: dict[str, tuple[object, str | None]] = {
    "D01": (datetime(2024, 3, 5), "2024-03-05"),                 # a real date cell
    "D02": (datetime(2024, 3, 5, 14, 22, 1), "2024-03-05"),      # a real date-time cell
    "D03": (date(2024, 3, 6), "2024-03-06"),                      # a date cell written from a date
    "D04": (45356, "2024-03-05"),                                 # a number cell: an Excel serial day
    "D05": ("45000", "2023-03-15"),                               # a serial day as text
    "D06": ("45000.75", "2023-03-15"),                            # a serial with a time of day
    "D07": ("2024-03-05 14:22:01", "2024-03-05"),
    "D08": ("2024/3/5 14:22", "2024-03-05"),
    "D09": ("2024/3/5", "2024-03-05"),
    "D10": ("2024-3-5", "2024-03-05"),
    "D11": ("2024年3月5日", "2024-03-05"),
    "D12": ("2024年03月05日 14时", "2024-03-05"),
    "D13": ("2024-03-05T14:22:01", "2024-03-05"),
    "D14": ("2024.3.5", "2024-03-05"),
    "D15": ("2024.03.05", "2024-03-05"),
    "D16": ("20240305", "2024-03-05"),                            # yyyymmdd, never a serial
    "D17": ("2024/3/5 下午 2:22:01", "2024-03-05"),
    "D18": ("2024-13-45", None),                                  # no such day
    "D19": ("12345", None),                                       # a number outside the serial range
    "D20": ("明天", None),
}


def write_excel_dates(folder: Path) -> Path:
    """An xlsx whose 订单日期 column mixes real date cells, serial numbers and text dates (``DATE_CELLS``)."""
    book = Workbook()
    sheet = book.active
    sheet.title = "明细"
    sheet.append(HEADER)
    for i, (order_id, (cell, _)) in enumerate(DATE_CELLS.items()):
        sheet.append([f"{i % 3 + 1:05d}", order_id, cell, 100.0 + i, "办公用品"])
    path = folder / "excel_dates.xlsx"
    book.save(path)
    return path


# ---------------------------------------------------------------------------------------------
# 2. Separators other than the comma.

SEPARATOR_FILES = {";": "sep_semicolon.csv", "\t": "sep_tab.txt", "|": "sep_pipe.csv"}


def write_separated(folder: Path, sep: str) -> Path:
    """12 orders separated by ``sep``; the first amount is '1,234.50' (a comma is data here, not a separator)."""
    rows = order_rows(12)
    rows[0][3] = "1,234.50"
    return _write_lines(folder / SEPARATOR_FILES[sep], [_csv_line(r, sep) for r in [HEADER, *rows]])


# ---------------------------------------------------------------------------------------------
# 3. Title lines and blank lines above the header.


def write_preamble_csv(folder: Path) -> Path:
    """A gbk csv: a title, an 'exported by' line, a blank line, then the header on line 4.

    Line 5 is the first order; line 9 lacks its customer id.
    """
    rows = order_rows(15)
    rows[4][0] = ""
    lines = [_csv_line([TITLE]), _csv_line(["导出人：张三", "", "", "", ""]), "\r\n"]
    lines += [_csv_line(r) for r in [HEADER, *rows]]
    return _write_lines(folder / "preamble.csv", lines, encoding="gbk")


def write_preamble_xlsx(folder: Path) -> Path:
    """An xlsx: title in A1 (merged across), blank row 2, header on row 3, orders from row 4, a blank row 8.

    Orders are on rows 4-7 and 9-18; row 10 lacks its customer id.
    """
    book = Workbook()
    sheet = book.active
    sheet.title = "交易明细"
    sheet["A1"] = TITLE
    sheet.merge_cells("A1:E1")
    for col, name in enumerate(HEADER, start=1):
        sheet.cell(row=3, column=col, value=name)
    rows = order_rows(14)
    rows[5][0] = ""
    excel_row = 4
    for i, row in enumerate(rows):
        if i == 4:
            excel_row += 1  # leave row 8 blank
        for col, value in enumerate(row, start=1):
            sheet.cell(row=excel_row, column=col, value=value or None)
        excel_row += 1
    path = folder / "preamble.xlsx"
    book.save(path)
    return path


# ---------------------------------------------------------------------------------------------
# 4. Lines the reader cannot take as they are.

#: Lines of unquoted_thousands.csv holding an unquoted '1,234.50' (one field too many).
UNQUOTED_LINES = (4, 9, 15)


def write_unquoted_thousands(folder: Path) -> Path:
    """A comma csv of 20 orders: lines 4, 9 and 15 have an unquoted '1,234.50'; line 6 has it quoted."""
    rows = order_rows(20)
    lines = [_csv_line(HEADER)]
    for number, row in enumerate(rows, start=2):
        if number in UNQUOTED_LINES:
            row[3] = "1,234.50"
        elif number == 6:
            row[3] = '"1,234.50"'
        lines.append(_csv_line(row))
    return _write_lines(folder / "unquoted_thousands.csv", lines)


#: The line of stray_byte_*.csv that holds a byte outside the file's encoding.
STRAY_BYTE_LINE = 7


def write_stray_byte(folder: Path, encoding: str) -> Path:
    """A csv of 15 orders in ``encoding`` (gbk or utf-8) with Chinese categories; line 7 holds a stray 0xFF byte."""
    rows = order_rows(15)
    for i, row in enumerate(rows):
        row[4] = ["办公用品", "电子产品", "家居日用"][i % 3]
    lines = [_csv_line(r).encode(encoding) for r in [HEADER, *rows]]
    before, _, category = lines[STRAY_BYTE_LINE - 1].rpartition(b",")
    lines[STRAY_BYTE_LINE - 1] = before + b",\xff" + category  # 0xFF is never valid in gbk nor in utf-8
    path = folder / f"stray_byte_{encoding.replace('-', '')}.csv"
    path.write_bytes(b"".join(lines))
    return path


# ---------------------------------------------------------------------------------------------
# 5. "Excel" files that are not xlsx.


def write_html_xls(folder: Path) -> Path:
    """An HTML table saved as .xls in gbk (declared in a meta tag), as many CRM systems export "Excel".

    Row 1 is a title spanning the table, row 2 the header, rows 3-14 orders (ids with leading zeros,
    amounts like '1,234.50', a non-breaking space around one id).
    """
    rows = order_rows(12)
    rows[0][3] = "1,234.50"
    rows[1][0] = f"&nbsp;{rows[1][0]} "
    head = "".join(f"<th>{h}</th>" for h in HEADER)
    body = "\n".join("<tr>" + "".join(f"<td style=\"mso-number-format:'\\@'\">{c}</td>" for c in r) + "</tr>" for r in rows)
    html = (
        '<html xmlns:x="urn:schemas-microsoft-com:office:excel">\n<head>'
        '<meta http-equiv="Content-Type" content="text/html; charset=gbk"></head>\n<body>\n<table border="1">\n'
        f'<tr><td colspan="5">{TITLE}</td></tr>\n<tr>{head}</tr>\n{body}\n</table>\n</body></html>\n'
    )
    path = folder / "html_export.xls"
    path.write_bytes(html.encode("gbk"))
    return path


def write_xml_spreadsheet_xls(folder: Path) -> Path:
    """An Excel XML Spreadsheet 2003 saved as .xls: sheet '明细', header on row 2, DateTime cells, a skipped column."""
    rows = order_rows(10)
    cells = []
    for r in rows:
        day = f"{r[2]}T00:00:00.000"
        cells.append(
            f'<Row><Cell><Data ss:Type="String">{r[0]}</Data></Cell><Cell><Data ss:Type="String">{r[1]}</Data></Cell>'
            f'<Cell><Data ss:Type="DateTime">{day}</Data></Cell><Cell><Data ss:Type="Number">{r[3]}</Data></Cell>'
            f'<Cell ss:Index="6"><Data ss:Type="String">备注</Data></Cell></Row>'
        )
    header = "".join(f'<Cell><Data ss:Type="String">{h}</Data></Cell>' for h in HEADER[:4])
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<?mso-application progid="Excel.Sheet"?>\n'
        '<Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet" '
        'xmlns:ss="urn:schemas-microsoft-com:office:spreadsheet">\n<Worksheet ss:Name="明细"><Table>\n'
        f'<Row ss:Index="2">{header}</Row>\n' + "\n".join(cells) + "\n</Table></Worksheet>\n</Workbook>\n"
    )
    path = folder / "xml_spreadsheet.xls"
    path.write_text(xml, encoding="utf-8")
    return path


def write_unicode_text_xls(folder: Path) -> Path:
    """Excel's "Unicode text" saved as .xls: utf-16 with a BOM, tab-separated, 10 orders."""
    lines = [_csv_line(r, "\t") for r in [HEADER, *order_rows(10)]]
    path = folder / "unicode_text.xls"
    path.write_bytes("".join(lines).encode("utf-16"))
    return path


def write_binary_xls(folder: Path) -> Path:
    """The first bytes of a binary Excel 97-2003 workbook (an OLE2 compound file); enough to be recognised."""
    path = folder / "binary.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504))
    return path


# ---------------------------------------------------------------------------------------------
# 6. Workbooks with several sheets.


def write_multi_sheet(folder: Path) -> Path:
    """Sheets '说明' (notes), '明细' (the orders: 10 rows) and '汇总' (a summary): only '明细' holds the headers."""
    book = Workbook()
    notes = book.active
    notes.title = "说明"
    notes.append(["本文件由CRM系统导出"])
    notes.append(["金额单位：元"])
    detail = book.create_sheet("明细")
    for row in [HEADER, *order_rows(10)]:
        detail.append(row)
    summary = book.create_sheet("汇总")
    summary.append(["客户数", "订单数", "合计金额"])
    summary.append([7, 10, 1472.5])
    path = folder / "multi_sheet.xlsx"
    book.save(path)
    return path


def write_two_data_sheets(folder: Path) -> Path:
    """Sheets '一月' and '二月', both holding the mapped headers: which to read is the user's call."""
    book = Workbook()
    january = book.active
    january.title = "一月"
    february = book.create_sheet("二月")
    for sheet, start in ((january, date(2024, 1, 2)), (february, date(2024, 2, 1))):
        for row in [HEADER, *order_rows(4, start=start)]:
            sheet.append(row)
    path = folder / "two_data_sheets.xlsx"
    book.save(path)
    return path


# ---------------------------------------------------------------------------------------------
# 7-8. Amounts: non-finite numbers, zero-amount orders.

#: Amount texts of non_finite.csv that must be set aside as invalid_amount.
NON_FINITE = ("inf", "-inf", "nan", "Infinity", "-Infinity", "1e400")


def write_non_finite(folder: Path) -> Path:
    """10 good orders and one per ``NON_FINITE`` text; the good ones have cost 'inf' and quantity 'NaN' on SO000."""
    header = [*HEADER, "数量", "成本"]
    rows = [[*r, "2", "50"] for r in order_rows(10)]
    rows[0][5:7] = ["NaN", "inf"]
    bad = [[f"{i + 1:05d}", f"BAD{i}", "2024-05-01", text, "办公用品", "1", "10"] for i, text in enumerate(NON_FINITE)]
    return _write_lines(folder / "non_finite.csv", [_csv_line(r) for r in [header, *rows, *bad]])


#: order id (or the row's note when it has none) -> (is_purchase by default, with zero_amount_orders: exclude).
ZERO_AMOUNT_PURCHASE = {
    "Z1": (True, True),     # 100: an ordinary order
    "Z2": (True, False),    # 0: a free order
    "Z3": (False, False),   # 200 bought, 200 returned: nothing kept, not a purchase
    "Z4": (False, False),   # 100 bought, 150 returned: nets below zero
    "Z5": (True, True),     # a 0 gift line and a 50 line: the order is worth 50
    "Z9": (False, False),   # -30 matching no order: an unmatched return
    "<no id>": (True, False),  # 0 without an order id
}


def write_zero_amount(folder: Path) -> Path:
    """Orders of amount 0, fully and over-returned orders, an unmatched return (``ZERO_AMOUNT_PURCHASE``)."""
    rows = [
        ["00001", "Z1", "2024-02-01", "100", "办公用品"],
        ["00001", "Z2", "2024-02-05", "0", "赠品"],
        ["00002", "Z3", "2024-02-07", "200", "办公用品"],
        ["00002", "Z3", "2024-02-20", "-200", "办公用品"],
        ["00002", "Z4", "2024-03-01", "100", "办公用品"],
        ["00002", "Z4", "2024-03-09", "-150", "办公用品"],
        ["00003", "Z5", "2024-03-02", "0", "赠品"],
        ["00003", "Z5", "2024-03-02", "50", "办公用品"],
        ["00003", "Z9", "2024-03-03", "-30", "办公用品"],
        ["00003", "", "2024-03-04", "0", "赠品"],
    ]
    return _write_lines(folder / "zero_amount.csv", [_csv_line(r) for r in [HEADER, *rows]])


# ---------------------------------------------------------------------------------------------
# 9. Customer ids as Excel and float columns leave them.

MASTER_HEADER = ["客户编号", "客户名称", "联系电话", "存款余额"]
MASTER_COLUMNS = {"客户编号": "customer_id", "客户名称": "name", "联系电话": "phone", "存款余额": "balance"}
#: The master's customers: 8-digit ids, names and phones (personal data).
MASTER_ROWS = [
    ["00007919", "王小明", "13812345678", "1200"],
    ["00000012", "李华", "13987654321", "300"],
    ["00004711", "张伟", "021-65432100", "50"],
    ["00004711", "张伟(重复)", "13700001111", "50"],   # a second row for one id: duplicate_customer_id
]
#: The master line (1-based, header on line 1) with an unquoted '1,200' balance: one field too many.
MASTER_MALFORMED_LINE = 6
MASTER_MALFORMED = "00005555,赵敏,13611112222,1,200"

#: Customer id cell -> the id it must be read as (None: set aside as ambiguous_customer_id), with
#: the master above. The first four are one customer, 00007919, written four ways.
MANGLED_IDS: dict[str, str | None] = {
    "7919": "00007919",         # zero padding lost
    "7919.0": "00007919",       # zero padding lost, then a float tail
    "00007919": "00007919",
    "7.919E+03": "00007919",    # scientific notation that carries every digit
    "7.92E+03": None,           # Excel rounded it: any of 7915-7924
    "12": "00000012",
    "4711": "00004711",
    "00999999": "00999999",     # not in the master: stays as it is
}


def write_master(folder: Path) -> Path:
    """A customer master csv (``MASTER_ROWS``) whose line ``MASTER_MALFORMED_LINE`` is malformed."""
    lines = [_csv_line(MASTER_HEADER), *(_csv_line(r) for r in MASTER_ROWS), MASTER_MALFORMED + "\r\n"]
    return _write_lines(folder / "master.csv", lines)


def write_mangled_ids(folder: Path) -> Path:
    """Transactions whose customer ids are written as ``MANGLED_IDS`` has them, one order each, plus 3 more of 7919."""
    rows = [[cell, f"M{i:02d}", "2024-03-01", f"{100 + i}.00", "办公用品"] for i, cell in enumerate(MANGLED_IDS)]
    rows += [["7919", f"M{i:02d}", "2024-04-01", "10.00", "办公用品"] for i in range(20, 23)]
    return _write_lines(folder / "mangled_ids.csv", [_csv_line(r) for r in [HEADER, *rows]])


#: Customer ids of float_ids.parquet, stored as a float column, and the master ids they match.
FLOAT_IDS = {7919.0: "00007919", 12.0: "00000012", 4711.0: "00004711"}


def write_float_id_parquet(folder: Path) -> Path:
    """A parquet export whose customer id column is float64 (7919.0) and amounts are floats; 9 orders."""
    ids = [i for i in FLOAT_IDS for _ in range(3)]
    frame = pd.DataFrame({
        "客户编号": pd.Series(ids, dtype="float64"),
        "订单编号": [f"P{i:02d}" for i in range(len(ids))],
        "订单日期": pd.to_datetime(["2024-05-01"] * len(ids)),
        "金额": [100.0 + i for i in range(len(ids))],
        "产品类别": ["办公用品"] * len(ids),
    })
    path = folder / "float_ids.parquet"
    frame.to_parquet(path, index=False)
    return path


# ---------------------------------------------------------------------------------------------
# 10. Totals and sub-totals in the export.

#: Line (1-based) -> whether it is a total line, and the cells written; the header is line 1.
TOTAL_LINES: dict[int, tuple[bool, list[str]]] = {
    2: (False, ["00000001", "T1", "2024-03-01", "100.00", "办公用品"]),
    3: (False, ["00000001", "T2", "2024-03-01", "50.00", "办公用品"]),
    4: (True, ["小计", "", "2024-03-01", "150.00", ""]),                 # a sub-total: the id cell says so
    5: (False, ["00000002", "T3", "2024-03-02", "200.00", "电子产品"]),
    6: (False, ["00000003", "T4", "2024-03-03", "300.50", "电子产品"]),
    7: (False, ["00000004", "T5", "2024-03-04", "49.50", "家居日用"]),
    8: (True, ["", "合计：", "", "700.00", ""]),                        # no id; another cell says 合计
    9: (True, [" Grand Total: ", "", "", "700.00", ""]),                # the id cell says so, in English
    10: (True, ["00000009", "", "2024-03-31", "701.00", ""]),           # an id, and the sum of the orders (+0.14 %)
}


def write_total_rows(folder: Path) -> Path:
    """Five orders with a sub-total, a 合计 line without id, a 'Grand Total:' line and a grand total carrying an id."""
    lines = [_csv_line(HEADER), *(_csv_line(cells) for _, cells in TOTAL_LINES.values())]
    return _write_lines(folder / "total_rows.csv", lines)


# ---------------------------------------------------------------------------------------------
# 11. A header twice.


def write_repeated_amount_header(folder: Path) -> Path:
    """Orders with two columns named 金额 (columns 4 and 7): it is not clear which one is the amount."""
    header = [*HEADER, "备注", "金额"]
    rows = [[*row, "", f"{float(row[3]) * 1.13:.2f}"] for row in order_rows(5)]
    return _write_lines(folder / "repeated_amount.csv", [_csv_line(r) for r in [header, *rows]])


def write_repeated_unmapped_header(folder: Path) -> Path:
    """Orders with two columns named 备注, which is not mapped: read as usual."""
    header = [*HEADER, "备注", "备注"]
    rows = [[*row, "加急", "已开票"] for row in order_rows(5)]
    return _write_lines(folder / "repeated_note.csv", [_csv_line(r) for r in [header, *rows]])


# ---------------------------------------------------------------------------------------------

WRITERS: dict[str, Callable[[Path], Path]] = {
    "excel_dates": write_excel_dates,
    "sep_semicolon": lambda folder: write_separated(folder, ";"),
    "sep_tab": lambda folder: write_separated(folder, "\t"),
    "sep_pipe": lambda folder: write_separated(folder, "|"),
    "preamble_csv": write_preamble_csv,
    "preamble_xlsx": write_preamble_xlsx,
    "unquoted_thousands": write_unquoted_thousands,
    "stray_byte_gbk": lambda folder: write_stray_byte(folder, "gbk"),
    "stray_byte_utf8": lambda folder: write_stray_byte(folder, "utf-8"),
    "html_xls": write_html_xls,
    "xml_spreadsheet_xls": write_xml_spreadsheet_xls,
    "unicode_text_xls": write_unicode_text_xls,
    "binary_xls": write_binary_xls,
    "multi_sheet": write_multi_sheet,
    "two_data_sheets": write_two_data_sheets,
    "non_finite": write_non_finite,
    "zero_amount": write_zero_amount,
    "master": write_master,
    "mangled_ids": write_mangled_ids,
    "float_ids": write_float_id_parquet,
    "total_rows": write_total_rows,
    "repeated_amount": write_repeated_amount_header,
    "repeated_note": write_repeated_unmapped_header,
}


def write_all(folder: Path) -> dict[str, Path]:
    """Every shape written into ``folder`` (created if needed); name -> path."""
    folder.mkdir(parents=True, exist_ok=True)
    return {name: write(folder) for name, write in WRITERS.items()}


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tests/make_export_fixtures.py <folder>")
    for name, path in write_all(Path(sys.argv[1])).items():
        print(f"{name:22s} {path}")
