"""Cleaning batch by batch (out of core) gives what cleaning the whole file gives: rows, reasons, details, counts."""

import csv
import io
import os
import re
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from analysis.frame.params import Cleaning, InputFile, OutlierRule, Period
from analysis.methods import cleaning_batches
from analysis.methods.cleaning import WHITESPACE, clean_customers, clean_transactions
from analysis.methods.loading import delimited_batches, read_input
from tests.examples import examples
from tests.make_export_fixtures import COLUMNS, write_all

ROOT = Path(__file__).resolve().parents[1]
RAW = Path(__file__).parent / "fixtures" / "raw"
PERIOD = Period(start=date(2023, 1, 1), end=date(2024, 12, 31))
SAMPLE_COLUMNS = {"客户编号": "customer_id", "订单编号": "order_id", "订单日期": "order_date", "金额": "amount",
                  "数量": "quantity", "产品类别": "product_category", "销售渠道": "channel", "成本": "cost"}


def assert_same(spec: InputFile, period: Period, cleaning: Cleaning, rows_per_batch: int, master_ids=None,
                rows_per_pass: int | None = None) -> None:
    """Batch by batch (and, given ``rows_per_pass``, the kept rows netted in passes of about that many rows)
    as the whole file."""
    whole = clean_transactions(spec, period, cleaning, master_ids=master_ids, rows_per_batch=0)
    passes, cuts, read = [], [], cleaning_batches._kept_rows

    class RecordedCut(cleaning_batches._Cut):
        def __init__(self, *args):
            super().__init__(*args)
            cuts.append(self)

    def read_pass(*args):
        assert all(cut.done.is_set() for cut in cuts), "a pass read before every part of the one before was cut"
        passes.append(read(*args))
        return passes[-1]

    with pytest.MonkeyPatch.context() as patch:
        if rows_per_pass is not None:
            patch.setattr(cleaning_batches, "KEPT_ROWS_PER_PASS", rows_per_pass)
            patch.setattr(cleaning_batches, "_kept_rows", read_pass)
            patch.setattr(cleaning_batches, "_Cut", RecordedCut)
        batched = clean_transactions(spec, period, cleaning, master_ids=master_ids, rows_per_batch=rows_per_batch)
    if rows_per_pass is not None and rows_per_batch > 0 and len(whole.kept):
        kept, customers = whole.quality["rows_kept"], whole.kept["customer_id"].nunique()  # kept: before the netting
        assert len(passes) <= -(-kept // rows_per_pass)
        assert sum(map(len, passes)) == kept
        if kept > rows_per_pass and customers > 1:
            assert len(passes) > 1
    pd.testing.assert_frame_equal(batched.kept, whole.kept)
    pd.testing.assert_frame_equal(batched.quarantine, whole.quarantine)
    assert batched.quality == whole.quality


@pytest.fixture(scope="module")
def exports(tmp_path_factory) -> dict[str, Path]:
    return write_all(tmp_path_factory.mktemp("exports"))


@pytest.mark.parametrize("name", ["sep_semicolon", "sep_tab", "preamble_csv", "unquoted_thousands", "stray_byte_gbk",
                                  "stray_byte_utf8", "non_finite", "zero_amount", "mangled_ids", "total_rows"])
@pytest.mark.parametrize("rows_per_batch", [1, 4, 1000])
def test_tricky_exports_clean_the_same_in_batches(exports, name, rows_per_batch):
    cleaning = Cleaning(outliers=OutlierRule(method="none"))
    assert_same(InputFile(path=exports[name], columns=COLUMNS), PERIOD, cleaning, rows_per_batch)


def test_text_with_undecodable_lines_is_read_whole(exports):
    """A stray byte makes the file undecodable as a whole: those lines are set aside by the whole-file reader."""
    assert delimited_batches(InputFile(path=exports["stray_byte_utf8"], columns=COLUMNS), "transactions", 10) is None
    assert delimited_batches(InputFile(path=exports["sep_tab"], columns=COLUMNS), "transactions", 10) is not None


def test_gbk_fixture_cleans_the_same_in_batches():
    spec = InputFile(path=RAW / "transactions_gbk.csv", columns={
        "客户编号": "customer_id", "订单编号": "order_id", "订单日期": "order_date", "金额": "amount"})
    read = delimited_batches(spec, "transactions", 3)
    assert read is not None and "gb18030" in read.read_as
    assert_same(spec, Period(start=date(2024, 1, 1), end=date(2024, 12, 31)), Cleaning(), 3)


@pytest.mark.parametrize(("action", "rows_per_pass", "with_master"),
                         [("flag", None, True), ("quarantine", None, True), ("flag", 10_000, True), ("flag", 10_000, False)])
def test_sample_export_cleans_the_same_in_batches(action, rows_per_pass, with_master):
    """The sample's transactions (duplicates, bad dates and amounts, outliers, returns), padded to the
    master's ids; and with the kept rows netted in passes over ranges of customers (here six), their
    ids coded by the master's book or, without a master, from their own text."""
    path = ROOT / "data/raw/sample/transactions.csv"
    if not path.is_file():
        pytest.skip("sample data missing: run `make sample-data`")
    master = ROOT / "data/raw/sample/customers.xlsx"
    ids = clean_customers(InputFile(path=master, sheet="客户信息", columns={"客户编号": "customer_id"}), Cleaning()).kept
    cleaning = Cleaning(outliers=OutlierRule(method="mad_log", threshold=6.0, action=action))
    period = Period(start=date(2023, 1, 1), end=date(2025, 12, 31))
    master_ids = ids["customer_id"].dropna().astype(str).tolist() if with_master else None
    assert_same(InputFile(path=path, columns=SAMPLE_COLUMNS), period, cleaning, 7919, master_ids=master_ids,
                rows_per_pass=rows_per_pass)


@pytest.mark.parametrize("rows_per_batch", [0, 1500])
def test_kept_rows_written_as_they_are_made_are_the_rows_the_whole_file_gives(tmp_path, rows_per_batch):
    """Batch by batch, each range of customers is written as soon as it is netted (here about twenty):
    the file is the frame the whole file gives, as pandas writes it, and the result says what it holds."""
    path = ROOT / "data/raw/sample/transactions.csv"
    if not path.is_file():
        pytest.skip("sample data missing: run `make sample-data`")
    spec, period = InputFile(path=path, columns=SAMPLE_COLUMNS), Period(start=date(2023, 1, 1), end=date(2025, 12, 31))
    whole = clean_transactions(spec, period, Cleaning(), rows_per_batch=0)
    target = tmp_path / "transactions.parquet"
    written = clean_transactions(spec, period, Cleaning(), rows_per_batch=rows_per_batch, write_to=target)
    assert written.kept is None and written.written.path == target
    if rows_per_batch:
        groups = pq.ParquetFile(target).metadata
        assert groups.num_row_groups >= 10
        # each row group's range of days and amounts, by which the engine skips groups outside a window
        first = groups.row_group(0)
        stats = {first.column(i).path_in_schema: first.column(i).statistics for i in range(first.num_columns)}
        assert stats["order_day"].has_min_max and stats["amount"].has_min_max and stats["is_purchase"].has_min_max
    pd.testing.assert_frame_equal(pd.read_parquet(target), whole.kept)
    assert pq.read_schema(target).equals(pa.Table.from_pandas(whole.kept, preserve_index=False).schema, check_metadata=True)
    assert written.quality == whole.quality
    pd.testing.assert_frame_equal(written.quarantine, whole.quarantine)
    assert (written.written.rows, written.written.purchases) == (len(whole.kept), int(whole.kept["is_purchase"].sum()))
    assert sorted(written.written.customer_ids.to_pylist()) == sorted(whole.kept["customer_id"].unique())


def test_a_part_that_cannot_be_written_stops_the_cleaning_with_the_writers_error(tmp_path, monkeypatch):
    """The parts are encoded on a thread of their own: its error reaches the caller (a full disk here)."""
    path = ROOT / "data/raw/sample/transactions.csv"
    if not path.is_file():
        pytest.skip("sample data missing: run `make sample-data`")

    def full_disk(self, table, row_group_size=None):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pq.ParquetWriter, "write_table", full_disk)
    spec, period = InputFile(path=path, columns=SAMPLE_COLUMNS), Period(start=date(2023, 1, 1), end=date(2025, 12, 31))
    with pytest.raises(OSError, match="No space left"):
        clean_transactions(spec, period, Cleaning(), rows_per_batch=1500, write_to=tmp_path / "transactions.parquet")


cell = st.one_of(st.sampled_from(["", " ", "合计", "Total:", "12.50", "¥1,200", "(3.00)", "-5", "2024-03-05",
                                  "45000", "2024/3/5 14:22", "bad", "7.92E+03", "7919.0", "1e400"]),
                 st.text(alphabet="0123456789.-,¥元 ", max_size=8))
rows = st.lists(st.tuples(st.sampled_from(["", "001", "002", "0003", "7.9E+01", "小计"]), st.sampled_from(["A", "B", "", "C"]),
                          cell, cell), min_size=1, max_size=40)


def assert_messy_rows_clean_the_same(folder, rows, rows_per_batch, rows_per_pass=None):
    path = folder / "messy.csv"
    pd.DataFrame(rows, columns=["客户编号", "订单编号", "订单日期", "金额"]).to_csv(path, index=False, encoding="utf-8")
    spec = InputFile(path=path, columns={"客户编号": "customer_id", "订单编号": "order_id", "订单日期": "order_date", "金额": "amount"})
    assert_same(spec, PERIOD, Cleaning(), rows_per_batch, master_ids=["0001", "0002", "0079"], rows_per_pass=rows_per_pass)


@settings(max_examples=examples(40), deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=rows, rows_per_batch=st.integers(1, 9), rows_per_pass=st.one_of(st.none(), st.integers(1, 9)))
def test_messy_rows_clean_the_same_in_batches(tmp_path, rows, rows_per_batch, rows_per_pass):
    assert_messy_rows_clean_the_same(tmp_path, rows, rows_per_batch, rows_per_pass)


def test_kept_rows_without_any_order_id_clean_the_same_in_batches(tmp_path):
    """Found by the property above: the only kept row has no order id, so its netting part has no
    order-id category at all."""
    rows = [("", "A", "", "")] * 6 + [("001", "", "2024-03-05", "12.50")]
    assert_messy_rows_clean_the_same(tmp_path, rows, 1)


# Arrow's regex engine (RE2) in parse_amounts and parse_dates does what Python's re did ----------------

def test_whitespace_is_what_python_re_calls_whitespace():
    import re
    import sys

    from analysis.methods.cleaning import WHITESPACE

    assert set(WHITESPACE) == {chr(i) for i in range(sys.maxunicode + 1) if re.fullmatch(r"\s", chr(i))}


WHITESPACE_AND_TEXT = WHITESPACE + "ab1-/"


def python_stripped(text: str) -> str:
    from analysis.methods.cleaning import _CURRENCY

    return _CURRENCY.sub("", text).replace(",", "")


@settings(max_examples=examples(200), deadline=None, derandomize=True, database=None)
@given(cells=st.lists(st.one_of(st.none(), st.text(alphabet=WHITESPACE_AND_TEXT, max_size=10)), max_size=20))
def test_whitespace_runs_are_squeezed_as_python_re_does(cells):
    from analysis.methods.cleaning import _WHITESPACE_RE2, _replace_re2

    squeezed = _replace_re2(pd.Series(cells, dtype="string"), _WHITESPACE_RE2 + "+", " ").tolist()
    assert squeezed == [pd.NA if cell is None else re.sub(r"\s+", " ", cell) for cell in cells]


@settings(max_examples=examples(200), deadline=None, derandomize=True, database=None)
@given(cells=st.lists(st.one_of(st.none(), st.text(alphabet="合小总共计 \u3000:：-TotalSubGrandtOTALx1", max_size=16),
                                 st.sampled_from(["合计", "总 计", "小计：", " Total: ", "SUB-TOTAL", "grand total", "Totals"])),
                       max_size=20))
def test_total_labels_are_found_as_the_pattern_alone_finds_them(cells):
    from analysis.methods.cleaning import _TOTAL_LABEL, _is_total_label

    found = _is_total_label(pd.Series(cells, dtype="string")).tolist()
    assert found == [cell is not None and _TOTAL_LABEL.fullmatch(cell) is not None for cell in cells]


def test_currency_marks_fold_case_as_python_does():
    """Every character RE2 takes for a letter of RMB / CNY (case-insensitive) Python's re takes too, and back."""
    import sys

    import pyarrow as pa
    import pyarrow.compute as pc

    from analysis.methods.cleaning import _CURRENCY, _CURRENCY_RE2

    chars = [chr(i) for i in range(sys.maxunicode + 1) if not 0xD800 <= i <= 0xDFFF]
    texts = [f"{ch}MB{ch}NY" for ch in chars]
    arrow = pc.replace_substring_regex(pa.array(texts), _CURRENCY_RE2, "").to_pylist()
    assert arrow == [_CURRENCY.sub("", t) for t in texts]


@settings(max_examples=examples(200), deadline=None, derandomize=True, database=None)
@given(st.lists(st.one_of(st.text(max_size=12), st.sampled_from(["人民币", "RMB", "rMb", "cny", "元", "¥", "￥", "\u3000",
                                                                  "\xa0", "(", ")", ",", "1,234.50", " "])), max_size=6))
def test_parse_amounts_strips_as_python_re_does(pieces):
    from analysis.methods.cleaning import parse_amounts

    text = "".join(pieces)
    expected = pd.to_numeric(pd.Series([python_stripped(text).strip("()")], dtype="string"), errors="coerce")
    got = parse_amounts(pd.Series([text]))
    value = float(expected.iloc[0]) if pd.notna(expected.iloc[0]) else float("nan")
    negative = python_stripped(text).startswith("(") and python_stripped(text).endswith(")") and "\n" not in python_stripped(text)
    if value == value and abs(value) != float("inf"):
        assert got.iloc[0] == (-value if negative else value)
    else:
        assert pd.isna(got.iloc[0])


def batched_frame(spec: InputFile, rows_per_batch: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    read = delimited_batches(spec, "transactions", rows_per_batch)
    assert read is not None
    frames = list(read.batches())
    return pd.concat(frames, ignore_index=True), read.rejected_frame()


# bytes a UTF-8 check must judge as Python's decoder does: characters of 1-4 bytes, a BOM, and what is
# not UTF-8 (a stray continuation or lead byte, overlong forms, a surrogate, beyond U+10FFFF, GBK text)
utf8_piece = st.sampled_from([
    b"a", b"\n", "é".encode(), "合计".encode(), "😀".encode(), b"\xef\xbb\xbf", b"\x80", b"\xc3", b"\xe5\x90",
    b"\xf0\x9f\x98", b"\xc0\xaf", b"\xe0\x80\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xff", "合计".encode("gbk"),
])


@settings(max_examples=examples(300), deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pieces=st.lists(utf8_piece, max_size=40), block_bytes=st.integers(4, 12))
def test_a_file_is_utf8_exactly_when_python_decodes_it(tmp_path, monkeypatch, pieces, block_bytes):
    """Checked in blocks of a few bytes, so that characters (valid or not) fall across their ends."""
    from analysis.methods import loading

    data = b"".join(pieces)
    path = tmp_path / "text.csv"
    path.write_bytes(data)
    monkeypatch.setattr(loading, "_BLOCK_BYTES", block_bytes)
    try:
        data.decode("utf-8")
        decodes = True
    except UnicodeDecodeError:
        decodes = False
    assert loading._decodes_whole(path, "utf-8") is decodes
    assert loading._decodes_whole(path, "utf-8-sig") is decodes


vote_piece = st.sampled_from([
    b"a", b",", b"\n", b"\r\n", b"\r", "é".encode(), "合计".encode(), "合计".encode("gbk"), "\ufffd".encode(), b"\x80",
    b"\xe5\x90", b"\xff",
])


@settings(max_examples=examples(300), deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pieces=st.lists(vote_piece, max_size=40), block_bytes=st.integers(1, 12))
def test_the_encoding_vote_counts_the_lines_python_decodes_one_by_one(tmp_path, monkeypatch, pieces, block_bytes):
    """Blocks of whole lines decoded at once give the votes of the lines decoded one by one: lines
    cut at CR LF, CR and LF, blocks of a few bytes, U+FFFD's own bytes among the lines."""
    from analysis.methods import loading

    data = b"".join(pieces)
    path = tmp_path / "text.csv"
    path.write_bytes(data)
    monkeypatch.setattr(loading, "_BLOCK_BYTES", block_bytes)
    voting = [line for line in data.splitlines() if not line.isascii()]
    want = (len(voting), sum(loading._decodes(line, "utf-8") for line in voting))
    with path.open("rb") as f:
        counted = [loading._utf8_votes(block) for block in loading._line_blocks(f)]
    assert (sum(v for v, _ in counted), sum(u for _, u in counted)) == want
    assert loading._utf8_wins_the_vote(path) is (2 * want[1] > want[0])


line_piece = st.sampled_from(['"', '""', ",", "a", "1", " ", "\n", "\r\n", "\r", '"x\ny"', "合计"])


@settings(max_examples=examples(60), deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.lists(line_piece, max_size=60), rows_per_batch=st.integers(1, 5),
       header_end=st.sampled_from(["\n", "\r\n", "\r"]), encoding=st.sampled_from(["utf-8", "utf-8-sig", "gb18030"]))
def test_blocks_of_lines_read_as_the_whole_file_does(tmp_path, body, rows_per_batch, header_end, encoding):
    """Blocks end outside quoted cells: quoted line breaks, stray quotes, blank and malformed lines
    read in blocks give the rows, row numbers and set-aside lines of the whole file decoded into
    lines, whether the blocks are read as bytes (UTF-8) or as text; read_input reads it so."""
    from analysis.methods.loading import _Context, _read_delimited

    path = tmp_path / "lines.csv"
    path.write_text("客户编号,订单编号,订单日期,金额" + header_end + "".join(body), encoding=encoding, newline="")
    spec = InputFile(path=path, columns={"客户编号": "customer_id", "订单编号": "order_id", "订单日期": "order_date", "金额": "amount"})
    whole = _read_delimited(path.read_bytes(), _Context(spec, "transactions"), kind="csv")
    frame, rejected = batched_frame(spec, rows_per_batch)
    pd.testing.assert_frame_equal(frame, whole.frame, check_index_type=False)
    pd.testing.assert_frame_equal(rejected, whole.rejected)
    read = read_input(spec, "transactions")
    pd.testing.assert_frame_equal(read.frame, whole.frame)
    pd.testing.assert_frame_equal(read.rejected, whole.rejected)
    assert (read.read_as, read.headers, read.sep) == (whole.read_as, whole.headers, whole.sep)


@given(data=st.lists(st.sampled_from([b"\r", b"\n", b"\r\n", b"a", "客".encode()]), max_size=12).map(b"".join))
def test_lines_end_at_newlines_where_every_carriage_return_precedes_one(data):
    from analysis.methods.loading import _lines_end_at_newlines

    assert _lines_end_at_newlines(data) == (data.count(b"\r") == data.count(b"\r\n"))


def python_block_frame(lines: list[str], first: int, sep: str, header) -> tuple[pd.DataFrame, list, int]:
    from analysis.methods.loading import _Block, _Context

    block = _Block.read(iter(()), list(lines), first, sep)
    frame, malformed = block.frame(sep, _Context(InputFile(path=Path("block.csv")), "transactions"), header)
    return frame, malformed, block.last


# separators and line breaks inside cells are rare pieces (1 in 13), so that most blocks are plain
CELL_PIECES = ['"', '""', "a", "1", " ", "\t", "合计", "\x00", "\u3000", "\x1c", "b", "2", "c", "3", "d", "4"] * 4
cell_text = st.lists(st.sampled_from([*CELL_PIECES, ",", ";", "|", "\r", "\n"]), max_size=4).map("".join)
cell = st.one_of(cell_text, cell_text.map(lambda text: '"' + text.replace('"', '""') + '"'), cell_text.map(lambda t: f'"{t}"'))


# cells without line breaks, quoted or not: a block of them is mostly plain
plain_text = st.lists(st.sampled_from([*CELL_PIECES, ",", ""]), max_size=4).map("".join)
plain_cell = st.one_of(plain_text.filter(lambda text: "," not in text),
                       plain_text.map(lambda text: '"' + text.replace('"', '""') + '"'))


@st.composite
def plain_looking_blocks(draw) -> tuple[str, list[str], list[str]]:
    """A separator, header cells (maybe trailing empty ones) and 1-4 lines, most of the header's width."""
    sep = draw(st.sampled_from([",", "\t", ";", "|"]))
    header = ["客户编号", "订单编号", "金额", *draw(st.sampled_from([[], [""], ["  "]]))]
    lines = []
    for _ in range(draw(st.integers(1, 4))):
        width = len(header) if draw(st.integers(0, 5)) else draw(st.integers(1, 6))
        end = draw(st.sampled_from(["\n", "\r\n", "\r"]))
        lines.append(sep.join(draw(st.lists(cell, min_size=width, max_size=width))) + end)
    if draw(st.booleans()):
        lines[-1] = lines[-1].rstrip("\r\n")  # the file's last line, without a line break
    # split into lines as the file is read (at \n, \r\n and \r, quoted or not)
    return sep, header, io.StringIO("".join(lines), newline="").readlines()


@settings(max_examples=examples(400), deadline=None, derandomize=True, database=None)
@given(block=plain_looking_blocks())
def test_arrow_reads_a_plain_block_as_python_csv_does(block):
    """Where Arrow's parser takes a block (one record per line, every line of the header's width), its cells,
    row numbers and missing cells are csv's; a block it might read otherwise goes to csv (the filter checks
    that enough blocks are taken for the comparison to mean something)."""
    from analysis.methods.loading import _arrow_block_frame, _Row

    sep, header_cells, lines = block
    header = _Row(3, header_cells, 3)
    got = _arrow_block_frame(lines, 4, sep, header)
    assume(got is not None)
    want, malformed, last = python_block_frame(lines, 4, sep, header)
    assert malformed == [] and last == 3 + len(lines)
    pd.testing.assert_frame_equal(got, want)


@settings(max_examples=examples(150), deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cells=st.lists(st.lists(plain_cell, min_size=3, max_size=3), min_size=4, max_size=40),
       end=st.sampled_from(["\n", "\r\n"]), last_end=st.booleans(), picks=st.lists(st.integers(0, 39), min_size=1, max_size=10))
def test_rows_read_again_from_a_block_are_the_rows_it_framed(tmp_path, cells, end, last_end, picks):
    """The text of a few rows of a plain block is read again from their lines alone (the quarantine's
    raw text): cells, missing cells and row numbers as the whole block's frame has them."""
    path = tmp_path / "block.csv"
    body = end.join(",".join(row) for row in cells) + (end if last_end else "")
    path.write_text("客户编号,订单编号,金额" + end + body, encoding="utf-8", newline="")
    read = delimited_batches(InputFile(path=path, columns={"客户编号": "customer_id"}), "transactions", 1000)
    block = next(read.byte_blocks())
    whole = block.frame()
    assume(whole is not None)
    # at most a quarter of the lines: more are taken from the whole frame
    positions = np.unique(np.array([p for p in picks if p < block.lines], dtype=np.int64))[:block.lines // 4]
    assume(len(positions))
    got = block.rows(positions)
    pd.testing.assert_frame_equal(got, whole.iloc[positions].reset_index(drop=True))
    assert got.attrs == whole.attrs


@pytest.mark.parametrize("lines", [3, 12])
def test_no_rows_read_again_from_a_block_are_its_columns(tmp_path, lines):
    """Asked for no rows (a file whose rows are all kept has no raw text to read back), a block gives
    the columns of its frame, empty."""
    path = tmp_path / "block.csv"
    path.write_text("客户编号,订单编号,金额\n" + "".join(f"C{i},O{i},{i}.5\n" for i in range(lines)), encoding="utf-8")
    read = delimited_batches(InputFile(path=path, columns={"客户编号": "customer_id"}), "transactions", 1000)
    block = next(read.byte_blocks())
    whole = block.frame()
    got = block.rows(np.array([], dtype=np.int64))
    pd.testing.assert_frame_equal(got, whole.iloc[[]].reset_index(drop=True))
    assert got.attrs == whole.attrs


def test_a_block_with_a_cell_over_csvs_field_limit_goes_to_csv():
    """csv refuses a cell longer than its field limit (in characters), so Arrow must not take its block;
    a cell over the limit in bytes only (multibyte characters) is Arrow's."""
    from analysis.methods.loading import _arrow_block_frame, _Row

    header = _Row(1, ["a", "b"], 1)
    limit = csv.field_size_limit(10)
    try:
        assert _arrow_block_frame(["x,12345678901\n"], 2, ",", header) is None
        taken = _arrow_block_frame(["x,一二三四五六七八九十\n"], 2, ",", header)
        assert taken is not None and taken["b"].tolist() == ["一二三四五六七八九十"]
    finally:
        csv.field_size_limit(limit)


def test_the_sample_export_is_read_by_arrow_as_by_csv():
    """The sample export's lines (quoted amounts with thousands separators, Chinese text) are a plain block."""
    from analysis.methods.loading import _arrow_block_frame, _Row

    path = ROOT / "data/raw/sample/transactions.csv"
    if not path.is_file():
        pytest.skip("sample data missing: run `make sample-data`")
    header_line, *lines = path.read_text(encoding="utf-8-sig").splitlines(keepends=True)
    header = _Row(1, header_line.rstrip("\r\n").split(","), 1)
    # the export's malformed lines (an unquoted 1,234.50) left out: a block with one goes to csv
    plain = [line for line in lines if len(next(csv.reader([line]))) == len(header.cells)]
    assert len(plain) > 0.9 * len(lines)
    got = _arrow_block_frame(plain, 2, ",", header)
    assert got is not None and len(got) == len(plain)
    want, malformed, _ = python_block_frame(plain, 2, ",", header)
    assert malformed == []
    pd.testing.assert_frame_equal(got, want)


def test_plain_utf8_blocks_go_to_arrow_as_bytes_until_one_is_not_plain(tmp_path, monkeypatch):
    """A UTF-8 file's plain blocks are not read as text lines; from the first block that is not plain
    (a quoted line break), that block and the rest are, numbered on from the lines before them."""
    from analysis.methods import loading

    as_text = []
    body_blocks = loading._body_blocks

    def spied(text, header, *args):
        as_text.append(header.last)
        return body_blocks(text, header, *args)

    monkeypatch.setattr(loading, "_body_blocks", spied)
    columns = {"客户编号": "customer_id", "订单编号": "order_id", "订单日期": "order_date", "金额": "amount"}
    rows = [f"{i:03d},A{i},2024-03-05,{i}\r\n" for i in range(1, 10)]
    for name, body, text_from in [("plain", rows, []), ("spans", [*rows[:6], '010,"A\nB",2024-03-05,10\n', *rows[6:]], [6])]:
        path = tmp_path / f"{name}.csv"
        path.write_text("\ufeff客户编号,订单编号,订单日期,金额\r\n" + "".join(body), encoding="utf-8", newline="")
        spec = InputFile(path=path, columns=columns)
        as_text.clear()
        frame, rejected = batched_frame(spec, 3)
        assert as_text == [1 + line for line in text_from]  # the header's line, then the blocks read as bytes
        whole = read_input(spec, "transactions")
        pd.testing.assert_frame_equal(frame, whole.frame, check_index_type=False)
        pd.testing.assert_frame_equal(rejected, whole.rejected)


def test_a_quoted_cell_across_a_block_end_stays_one_row(tmp_path):
    path = tmp_path / "spans.csv"
    path.write_text('客户编号,订单编号,订单日期,金额\n001,"A\n\nB",2024-03-05,1\n\n002,"C\r\nD",2024-03-06,2\n003,E,2024-03-07,"3\n',
                    encoding="utf-8", newline="")
    spec = InputFile(path=path, columns={"客户编号": "customer_id", "订单编号": "order_id", "订单日期": "order_date", "金额": "amount"})
    frame, _ = batched_frame(spec, 1)
    assert frame["订单编号"].tolist() == ["A\n\nB", "C\r\nD", "E"]
    assert frame["_source_row"].tolist() == [2, 6, 8]
    pd.testing.assert_frame_equal(frame, read_input(spec, "transactions").frame, check_index_type=False)
    assert frame["金额"].tolist() == ["1", "2", "3\n"]


def test_worker_processes_clean_as_one_process_does():
    """Large files get worker processes for the row-level work (the sample is below that size): same result."""
    from analysis.methods.cleaning_batches import clean_transactions_in_batches

    path = ROOT / "data/raw/sample/transactions.csv"
    if not path.is_file():
        pytest.skip("sample data missing: run `make sample-data`")
    spec = InputFile(path=path, columns=SAMPLE_COLUMNS)
    period, cleaning = Period(start=date(2023, 1, 1), end=date(2025, 12, 31)), Cleaning()
    whole = clean_transactions(spec, period, cleaning, rows_per_batch=0)
    pooled = clean_transactions_in_batches(spec, period, cleaning, delimited_batches(spec, "transactions", 9000), workers=2)
    pd.testing.assert_frame_equal(pooled.kept, whole.kept)
    pd.testing.assert_frame_equal(pooled.quarantine, whole.quarantine)
    assert pooled.quality == whole.quality


@pytest.mark.parametrize("case", ["quoted line break", "gb18030", "header only"])
def test_workers_read_their_own_blocks_and_hand_the_rest_over_as_text(tmp_path, monkeypatch, case):
    """Workers read plain UTF-8 blocks from the file themselves; from the first block that is not plain
    (a quoted line break in the third), this process reads the rest as text and hands it over; a file
    in another encoding is read as text throughout. The same result as one process reading it whole."""
    from analysis.methods.cleaning_batches import clean_transactions_in_batches
    from analysis.methods.loading import DelimitedBatches

    rows = [f"{i:04d},A{i},2024-03-{1 + i % 28:02d},{i}.5,1,办公设备,直销,1\r\n" for i in range(1, 40)]
    header = "客户编号,订单编号,订单日期,金额,数量,产品类别,销售渠道,成本\r\n"
    body = {"quoted line break": [*rows[:12], '0077,"B\nC",2024-03-05,7,1,办公设备,直销,1\r\n', *rows[12:]],
            "gb18030": rows, "header only": []}[case]
    path = tmp_path / "transactions.csv"
    path.write_text(header + "".join(body), encoding="gb18030" if case == "gb18030" else "utf-8", newline="")
    spec = InputFile(path=path, columns=SAMPLE_COLUMNS)
    period, cleaning = Period(start=date(2024, 1, 1), end=date(2024, 12, 31)), Cleaning()
    as_text_from = []
    batches = DelimitedBatches.batches

    def spied(self, start=None):
        as_text_from.append(None if start is None else start.first)
        return batches(self, start)

    monkeypatch.setattr(DelimitedBatches, "batches", spied)
    whole = clean_transactions(spec, period, cleaning, rows_per_batch=0)
    as_text_from.clear()
    pooled = clean_transactions_in_batches(spec, period, cleaning, delimited_batches(spec, "transactions", 5), workers=2)
    # the header is line 1: the blocks of 5 lines start at lines 2, 7 and 12, the third holding the line break
    assert as_text_from == {"quoted line break": [12], "gb18030": [None], "header only": [None]}[case]
    pd.testing.assert_frame_equal(pooled.kept, whole.kept)
    pd.testing.assert_frame_equal(pooled.quarantine, whole.quarantine)
    assert pooled.quality == whole.quality
    assert len(whole.kept) == {"quoted line break": 40, "gb18030": 39, "header only": 0}[case]


def test_workers_started_ahead_clean_as_one_process_does_and_are_shut_down(monkeypatch):
    """Stage 1 starts the workers while it cleans the other inputs: the same result, and no worker
    left once the cleaning is done or the block ends in an error before it."""
    import psutil

    from analysis.methods import cleaning_batches

    path = ROOT / "data/raw/sample/transactions.csv"
    if not path.is_file():
        pytest.skip("sample data missing: run `make sample-data`")
    monkeypatch.setattr(cleaning_batches, "MIN_BYTES_FOR_WORKERS", 0)  # the sample is below the size for workers
    monkeypatch.setattr(cleaning_batches, "usable_cores", lambda: 2)
    spec = InputFile(path=path, columns=SAMPLE_COLUMNS)
    period, cleaning = Period(start=date(2023, 1, 1), end=date(2025, 12, 31)), Cleaning()
    whole = clean_transactions(spec, period, cleaning, rows_per_batch=0)

    def worker_pids(workers) -> set[int]:
        return {workers.pool.submit(os.getpid).result() for _ in range(8)}

    with cleaning_batches.started_workers(spec) as workers:
        assert workers.count == 2
        pids = worker_pids(workers)
        pooled = clean_transactions(spec, period, cleaning, rows_per_batch=9000, workers=workers)
        assert not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE for pid in pids)
    pd.testing.assert_frame_equal(pooled.kept, whole.kept)
    pd.testing.assert_frame_equal(pooled.quarantine, whole.quarantine)
    assert pooled.quality == whole.quality

    with pytest.raises(RuntimeError), cleaning_batches.started_workers(spec) as workers:
        pids = worker_pids(workers)
        raise RuntimeError("the customer master could not be read")
    assert not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE for pid in pids)


def test_no_workers_are_started_for_a_file_the_cleaning_will_refuse(tmp_path, monkeypatch):
    """An export of unknown format gets no workers, and no error before the other inputs are cleaned."""
    from analysis.methods import cleaning_batches

    monkeypatch.setattr(cleaning_batches, "MIN_BYTES_FOR_WORKERS", 0)
    monkeypatch.setattr(cleaning_batches, "usable_cores", lambda: 2)
    path = tmp_path / "transactions.dat"
    path.write_text("客户编号,订单编号,订单日期,金额\n", encoding="utf-8")
    with cleaning_batches.started_workers(InputFile(path=path, columns=SAMPLE_COLUMNS)) as workers:
        assert workers is None


def test_a_header_asked_for_below_the_first_rows_is_found(tmp_path):
    """The whole-file reader looks for the header in the first 50 rows, and further down when header_row says so."""
    path = tmp_path / "preamble.csv"
    preamble = "".join(f"导出说明 {i},,,\n" for i in range(60))
    path.write_text(preamble + "客户编号,订单编号,订单日期,金额\n001,A,2024-03-05,1\n002,B,2024-03-06,2\n", encoding="utf-8")
    spec = InputFile(path=path, header_row=61,
                     columns={"客户编号": "customer_id", "订单编号": "order_id", "订单日期": "order_date", "金额": "amount"})
    read = read_input(spec, "transactions")
    assert "header on line 61" in read.read_as
    assert read.frame["订单编号"].tolist() == ["A", "B"] and read.frame["_source_row"].tolist() == [62, 63]


number_text = st.lists(st.sampled_from([*"0123456789", "-", "+", ".", "e", " ", "inf", "nan", "１", "_"]), max_size=24).map("".join)


@settings(max_examples=examples(300), deadline=None, derandomize=True, database=None)
@given(cells=st.lists(st.one_of(st.none(), number_text, st.from_regex(r"-?\d{1,20}(\.\d{1,20})?", fullmatch=True)),
                      max_size=12))
def test_numbers_are_pandas_to_numeric_to_the_bit(cells):
    """Plain decimals cast by Arrow, the rest by pandas: the values are to_numeric's; amounts hold no -0.0
    (to_numeric's sign of a zero depends on the other cells: '-0' is 0.0 among whole numbers, else -0.0)."""
    from analysis.methods.cleaning import numbers_of, parse_amounts

    text = pd.Series(cells, dtype="string")
    got = numbers_of(text).to_numpy()
    want = pd.to_numeric(text, errors="coerce").astype("float64").to_numpy()
    assert np.array_equal(got, want, equal_nan=True)
    assert np.array_equal(np.signbit(got), np.signbit(want)) or (got[np.signbit(got) != np.signbit(want)] == 0).all()
    amounts = parse_amounts(pd.concat([text, "(" + text + ")"], ignore_index=True)).to_numpy()
    assert not np.signbit(amounts[amounts == 0]).any()


digit_text = st.lists(st.sampled_from([*"0123456789", "-", ".", "/"]), max_size=24).map("".join)


@settings(max_examples=examples(300), deadline=None, derandomize=True, database=None)
@given(cells=st.lists(st.one_of(st.none(), digit_text, st.from_regex(r"-?\d{0,24}\.?\d{0,24}", fullmatch=True)),
                      max_size=12))
def test_a_column_written_in_digits_alone_is_cast_at_once_to_pandas_values(cells):
    """Cells of digits, '.' and '-' alone ('.5', '5.', 25 digits, '-', '1.2.3', '1/2') are cast by Arrow when it
    reads them all, else repaired: either way each value is to_numeric's, a zero without its sign."""
    from analysis.methods.cleaning import parse_amounts

    text = pd.Series(cells, dtype="string")
    got = parse_amounts(text).to_numpy()
    want = pd.to_numeric(text, errors="coerce").astype("float64").to_numpy(copy=True)
    want[~np.isfinite(want)] = np.nan
    assert np.array_equal(got, want + 0.0, equal_nan=True)
    assert not np.signbit(got[got == 0]).any()


amount_text = st.one_of(
    st.none(), number_text, st.from_regex(r"-?\d{1,20}(\.\d{1,20})?", fullmatch=True),
    st.lists(st.sampled_from(["¥", "RMB", "元", " ", ",", "(", ")", "1,234.50", "-0", "12", ".5", "1e400"]),
             max_size=5).map("".join),
)


@settings(max_examples=examples(300), deadline=None, derandomize=True, database=None)
@given(cells=st.lists(amount_text, max_size=12))
def test_a_column_of_amounts_parses_as_its_cells_one_by_one(cells):
    """Plain decimals are cast at once and only the other cells repaired: no cell's value depends on its neighbours."""
    from analysis.methods.cleaning import parse_amounts

    column = parse_amounts(pd.Series(cells, dtype="string", index=range(100, 100 + len(cells))))
    one_by_one = [parse_amounts(pd.Series([cell], dtype="string")).iloc[0] for cell in cells]
    assert column.index.tolist() == list(range(100, 100 + len(cells))) and column.dtype == "float64"
    assert np.array_equal(column.to_numpy(), np.array(one_by_one, dtype="float64"), equal_nan=True)
    assert not np.signbit(column.to_numpy()[column.to_numpy() == 0]).any()


date_text = st.one_of(
    st.none(),
    st.sampled_from(["2024-03-05", "2024/3/5", "2024年3月5日", "20240305", "2024-02-30", "45000", "45000.5", "19999",
                     "2024-03-05 14:22", " 2024-03-05\u3000", "2024/03/05  14:22", "tomorrow", ""]),
    st.text(alphabet="0123456789-/年月日 :.", max_size=12),
)


@settings(max_examples=examples(200), deadline=None, derandomize=True, database=None)
@given(cells=st.lists(date_text, max_size=12), repeats=st.integers(1, 3))
def test_a_column_of_dates_parses_as_its_cells_one_by_one(cells, repeats):
    """Repeated dates are read once per distinct text: no cell's date depends on its neighbours."""
    from analysis.methods.cleaning import parse_dates

    cells = cells * repeats  # repeats make most columns few distinct texts, the other path's case
    formats = Cleaning().date_formats
    # in two chunks, as Arrow text read from a file can be
    chunks = pa.chunked_array([cells[:len(cells) // 2], cells[len(cells) // 2:]], type=pa.large_string())
    column = parse_dates(pd.Series(pd.array(chunks, dtype="string"), index=range(100, 100 + len(cells))), formats)
    one_by_one = [parse_dates(pd.Series([cell], dtype="string"), formats).iloc[0] for cell in cells]
    assert column.index.tolist() == list(range(100, 100 + len(cells))) and column.dtype == "datetime64[us]"
    assert all((pd.isna(a) and pd.isna(b)) or a == b for a, b in zip(column.tolist(), one_by_one, strict=True))


@settings(max_examples=examples(200), deadline=None, derandomize=True, database=None)
@given(rows=st.lists(st.lists(st.one_of(st.none(), st.sampled_from(["", "a", "A", "合计", "1,234", "a\x00"])),
                              min_size=3, max_size=3), max_size=12))
def test_equal_rows_share_a_hash(rows):
    """The duplicate check compares the rows that share a hash: every pair of equal rows (missing cells
    included) must share one; distinct rows of a small frame do not."""
    from analysis.methods.cleaning_batches import _row_hashes

    cells = pd.DataFrame(rows, columns=["客户编号", "金额", "x"], dtype="string")
    hashes = _row_hashes(cells)
    assert hashes.dtype == np.uint64 and len(hashes) == len(cells)
    assert (pd.Series(hashes).duplicated(keep=False).to_numpy() == cells.duplicated(keep=False).to_numpy()).all()


@settings(max_examples=150, deadline=None)
@given(values=st.lists(st.none() | st.text(alphabet="0aZ客户é\U0001f600 ", max_size=4), max_size=30),
       unused=st.lists(st.text(alphabet="xyz", min_size=1, max_size=3), max_size=3),
       categorical=st.booleans())
def test_sorted_codes_are_those_of_a_sorted_factorize(values, unused, categorical):
    from analysis.methods.cleaning_batches import _sorted_codes

    text = pd.Series(pd.array(values, dtype="string"))
    if categorical:  # as read back from the parts: categories in first-seen order, some no longer used
        seen = list(dict.fromkeys(v for v in values if v is not None))
        text = text.astype(pd.CategoricalDtype([*reversed(seen), *(u for u in dict.fromkeys(unused) if u not in seen)]))
    codes, uniques = pd.factorize(pd.Series(pd.array(values, dtype="string")), sort=True)
    found, ids = _sorted_codes(text)
    np.testing.assert_array_equal(found, codes)
    assert ids.to_pylist() == list(uniques)


@settings(max_examples=150, deadline=None)
@given(ids=st.lists(st.text(alphabet="0aZ客é\U0001f600", min_size=1, max_size=3), min_size=1, max_size=30),
       master=st.lists(st.text(alphabet="0aZ客é\U0001f600", min_size=1, max_size=3), max_size=12))
def test_codes_by_the_masters_book_are_the_sorted_codes_of_the_ids(ids, master):
    """The kept rows' customer ids coded by their places in the sorted master, those outside it sorted in
    among them: the codes and text a sorted factorize of the ids gives."""
    from analysis.methods.cleaning_batches import MasterBook, _codes_by_book

    book = MasterBook.of(master)
    assume(book is not None)
    text = pd.Series(pd.array(ids, dtype="string"))
    places = book.codes(text)
    assert [book.ids[p].as_py() if p >= 0 else None for p in places] == [i if i in master else None for i in ids]
    book.__dict__["_hashed"] = None  # as when two of the master's ids share a hash: Arrow looks the text up
    np.testing.assert_array_equal(book.codes(text), places)
    outside = pa.array([i for i, p in zip(ids, places) if p < 0], type=pa.large_string())
    codes, found = _codes_by_book(book, places, outside)
    expected, uniques = pd.factorize(text, sort=True)
    np.testing.assert_array_equal(codes, expected)
    assert found.to_pylist() == list(uniques)


some_ids = st.sampled_from(["0001", "0002", "0003", "0079", "0080", "1", "80", "B7", "b7", "00081", "客7"])


@settings(max_examples=examples(30), deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(some_ids, st.sampled_from(["A", "B", "C", ""]), st.sampled_from(["2024-03-05", "2024-01-02"]),
                               st.sampled_from(["12.50", "-12.50", "3", "0", "-3"])), min_size=1, max_size=30),
       master=st.sets(some_ids), rows_per_batch=st.integers(1, 5), rows_per_pass=st.one_of(st.none(), st.integers(1, 6)))
def test_customers_in_and_outside_the_master_clean_the_same_in_batches(tmp_path, rows, master, rows_per_batch, rows_per_pass):
    """Returns netted per customer and order, whichever of the customers the master lists (their ids
    reach the netting coded by the master's book, the others sorted in among them)."""
    path = tmp_path / "ids.csv"
    pd.DataFrame(rows, columns=["客户编号", "订单编号", "订单日期", "金额"]).to_csv(path, index=False, encoding="utf-8")
    spec = InputFile(path=path, columns={"客户编号": "customer_id", "订单编号": "order_id", "订单日期": "order_date", "金额": "amount"})
    assert_same(spec, PERIOD, Cleaning(outliers=OutlierRule(method="none")), rows_per_batch, master_ids=sorted(master),
                rows_per_pass=rows_per_pass)


@settings(max_examples=examples(60), deadline=None, derandomize=True, database=None)
@given(rows=st.lists(st.integers(1, 50), min_size=1, max_size=60), rows_per_pass=st.integers(1, 400))
def test_netting_passes_cover_every_customer_once_in_ranges_of_about_the_rows_asked(rows, rows_per_pass):
    """Each customer (``rows``: its kept rows) in exactly one pass; passes of whole customers in code
    order, no more than the rows ask for, none larger than its share plus one customer's rows."""
    codes = np.random.default_rng(len(rows)).permutation(np.repeat(np.arange(len(rows)), rows))
    bounds = cleaning_batches._pass_bounds(codes, len(rows), rows_per_pass)
    assert bounds[0] == 0 and bounds[-1] == len(rows) and (np.diff(bounds) > 0).all()
    wanted = -(-len(codes) // rows_per_pass)
    assert len(bounds) - 1 <= wanted
    per_pass = [sum(rows[low:high]) for low, high in zip(bounds[:-1], bounds[1:])]
    assert max(per_pass) <= len(codes) / min(wanted, len(rows)) + max(rows)
    if wanted > 1 and len(rows) > 1:
        assert len(bounds) > 2


def test_the_parts_a_killed_cleaning_left_are_removed_by_the_next(tmp_path, monkeypatch):
    """A cleaning killed before it could remove its temporary folder leaves its parts (gigabytes on a
    large export); the next cleaning removes the folders of processes that no longer run, and only those."""
    import os
    import subprocess
    import sys
    import tempfile

    from analysis.methods.cleaning_batches import scratch_folder

    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    killed = tmp_path / f"clean-transactions-{int(ended.stdout)}-a1b2"
    killed.mkdir()
    (killed / "raw-00000.parquet").write_bytes(b"left behind")
    running = tmp_path / f"clean-transactions-{os.getpid()}-c3d4"
    running.mkdir()
    unnamed = tmp_path / "clean-transactions-k9x8y7"  # no process id in its name
    unnamed.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with scratch_folder() as folder:
        assert Path(folder).parent == tmp_path and Path(folder).name.startswith(f"clean-transactions-{os.getpid()}-")
        assert not killed.exists() and running.is_dir() and unnamed.is_dir()
    assert not Path(folder).exists()


def test_a_worker_that_cannot_see_the_scratch_folder_says_where_to_put_it(tmp_path):
    """A Spark executor on another machine than the driver finds no work file: the error says what to share."""
    missing = tmp_path / "tiering-clean-1" / "work.pickle"
    with pytest.raises(FileNotFoundError, match=r"scratch folder .*tiering-clean-1 is not visible .*set TMPDIR"):
        cleaning_batches._work_from(missing)
