"""Cleaning: every input row is either kept or quarantined with a reason, and the counts add up.

Rows are checked in a fixed order and set aside at the first failing check, so each quarantined
row carries exactly one reason. Every input first loses the lines that cannot be read at all
(``undecodable_row``: a byte that is not in the file's encoding; ``malformed_row``: more or fewer
fields than the header, e.g. an unquoted ``1,234.50`` in a comma csv), with their text; then

transactions: duplicate → total_row → missing_customer_id → ambiguous_customer_id → invalid_date →
invalid_amount → before_period_start / after_period_end → outlier (only when
``cleaning.outliers.action`` is ``quarantine``);
customers: total_row → missing_customer_id → ambiguous_customer_id → duplicate_customer_id;
surveys: duplicate → total_row → missing_customer_id → ambiguous_customer_id → invalid_date →
rating_out_of_range → missing_rating;
complaints: duplicate → total_row → missing_customer_id → ambiguous_customer_id → invalid_date →
after_period_end → closed_before_opened.

``total_row``: a line of the export that sums others, not a record: the customer id cell (or, when
it is empty, any cell) says 合计 / 小计 / 总计 / Total / Subtotal / Grand total (trimmed, any case,
an optional ``:`` or ``：``), or, in transactions, the amount equals the sum of every other row
still in (within ``cleaning.grand_total_tolerance``, 0.5 %, and with at least 3 other rows).

Customer ids are text. The forms a spreadsheet gives digit ids are repaired where that is
unambiguous (:mod:`analysis.methods.ids`: ``7919.0``, ``7.919E+03``, and ``7919`` → ``00007919`` when the
customer master writes its ids with 8 digits); an id Excel rounded (``7.92E+03``) is set aside as
``ambiguous_customer_id``. quality.json counts the repairs per input (``ids_repaired``).

The quarantine keeps each set-aside row's text (``raw``) for the analyst to fix the source, with the
personal columns (:data:`PERSONAL_COLUMNS`) masked, and a ``detail`` that explains the reasons a
code alone does not (which id Excel rounded, which total a line equals).

Returns (negative amounts) that name an order of the same customer are netted into that order: the
order keeps its date and its amount becomes gross + returns (spread over the order's lines in
proportion to their amounts). A return that matches no order stays as its own row with
``is_return = True``; it counts in revenue but is not a purchase.

A delimited transactions export is cleaned batch by batch, out of core
(:mod:`analysis.methods.cleaning_batches`): the same functions on each batch, the checks across rows
(duplicates, grand totals, outliers, netting) on compact typed columns, with the same result as the
whole file read at once (``rows_per_batch=0``), which xlsx and parquet inputs still are.

``is_purchase`` marks the purchase occasions: rows that are not unmatched returns and whose order
nets to ≥ 0 (> 0 when ``cleaning.zero_amount_orders`` is ``exclude``). Zero-amount orders (gifts,
free samples, fully discounted orders) count by default, as every transaction date counts in
lifetimes' and PyMC-Marketing's ``rfm_summary``; an order that nets below zero does not.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from analysis.frame.params import CONTRACT_COLUMNS, Cleaning, InputFile, OutlierRule, Period
from analysis.frame.storage import write_parquet_to
from analysis.methods.codes import (
    distinct_ids,
    distinct_text,
    group_numbers,
    sort_order,
    text_array,
    written_bytes,
)
from analysis.methods.ids import (
    IdRepair,
    MasterIds,
    drop_float_tails,
    id_text,
    leading_zero_collisions,
    repair_ids,
)
from analysis.methods.loading import (
    REJECTED_COLUMNS,
    SOURCE_ROW,
    DelimitedBatches,
    RawInput,
    map_columns,
    read_input,
)

if TYPE_CHECKING:
    from analysis.methods.cleaning_batches import Workers

QUARANTINE_COLUMNS = ["source", "source_file", "source_row", "reason", "detail", "raw"]
#: Contract columns holding personal data: masked in the quarantine's raw text.
PERSONAL_COLUMNS = frozenset({"name", "phone"})
MASK = "***"
#: A grand total needs at least this many other rows to be told from an order.
MIN_ROWS_UNDER_TOTAL = 3

_CURRENCY = re.compile(r"(人民币|RMB|CNY|元|¥|￥|\s)", flags=re.IGNORECASE)
#: What Python's ``\s`` matches in text (str.isspace): RE2's ``\s`` is ASCII only, so it is spelled out.
WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
    "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
# _CURRENCY for Arrow's RE2 engine, which runs on the whole column at once (Python's re goes cell by cell).
_WHITESPACE_RE2 = "[" + "".join(f"\\x{{{ord(ch):04X}}}" for ch in WHITESPACE) + "]"
_CURRENCY_RE2 = "(?i)(人民币|RMB|CNY|元|¥|￥|" + _WHITESPACE_RE2 + ")"
# 合计 / 小计 / 总计 (also written 合  计), Total / Subtotal / Grand total, with an optional colon.
_TOTAL_LABEL = re.compile(
    r"^\s*(?:总?合\s*计|小\s*计|总\s*计|共\s*计|total|sub[\s-]?total|grand[\s-]?total)\s*[:：]?\s*$", flags=re.IGNORECASE
)
_NOT_A_RECORD = "a total line of the export, not a record"
# Mobile (1[3-9] + 9 digits) and landline (0 + area code - number) phone numbers, masked in lines
# that could not be split into their columns.
_PHONE = re.compile(r"(?<!\d)(?:\+?86[\s-]?)?(?:1[3-9]\d{9}|0\d{2,3}[\s-]?\d{7,8})(?!\d)")
# A time of day after a date: ' 14:22:01', 'T14:22', ' 下午 2:22', '14时22分' (after 日), with an optional
# AM/PM and UTC offset. Dates keep day precision, so it is dropped before the date formats are tried.
_TIME_OF_DAY = re.compile(
    r"^(?P<date>\S+?)(?:T|\s+|(?<=日))(?:上午|下午)?\s*"
    r"(?:\d{1,2}(?::\d{1,2}){0,2}(?:[.,]\d+)?|\d{1,2}时(?:\d{1,2}分(?:\d{1,2}秒)?)?)"
    r"\s*(?:[AaPp]\.?[Mm]\.?)?\s*(?:Z|[+-]\d{2}:?\d{2})?$"
)
_SERIAL_NUMBER = re.compile(r"^\d+(?:\.\d+)?$")
#: Excel serial day numbers read as dates: 20000 = 1954-10-03, 80000 = 2119-01-11.
EXCEL_SERIAL_RANGE = (20_000, 80_000)
_EXCEL_EPOCH = pd.Timestamp("1899-12-30")  # serial 0 in Excel's 1900 date system (after its 1900-02-29 bug)


@dataclass(frozen=True)
class WrittenRows:
    """Kept rows written to a parquet file instead of held: where, how many, and what later checks need of them."""

    path: Path
    rows: int
    purchases: int  # rows flagged ``is_purchase``
    customer_ids: pa.Array  # the distinct customer ids

    @classmethod
    def of(cls, kept: pd.DataFrame, path: Path) -> WrittenRows:
        """Write ``kept`` (netted and flagged transactions) to ``path`` as pandas does, and describe it."""
        write_parquet_to(kept, path)
        return cls(path, len(kept), int(kept["is_purchase"].sum()), distinct_ids(kept["customer_id"]))


@dataclass
class CleanResult:
    """The rows kept, the rows set aside (with reasons) and the quality counts of one input.

    ``kept`` is None when the kept rows were written to a file instead (``written``).
    """

    kept: pd.DataFrame | None
    quarantine: pd.DataFrame
    quality: dict[str, Any] = field(default_factory=dict)
    written: WrittenRows | None = None

    def customer_ids(self) -> pa.Array:
        """The kept rows' distinct customer ids, missing ones left out, as Arrow text."""
        return self.written.customer_ids if self.kept is None else distinct_ids(self.kept["customer_id"])


@dataclass(frozen=True)
class Privacy:
    """Which cells of an input hold personal data, to mask them in the quarantine.

    ``columns`` are the raw frame's column names mapped to a :data:`PERSONAL_COLUMNS` name;
    ``positions`` their 0-based places in the file's header of ``width`` cells, and ``sep`` the
    separator, for the lines set aside before they could be split into columns.
    """

    columns: frozenset[str] = frozenset()
    positions: tuple[int, ...] = ()
    width: int = 0
    sep: str | None = None

    @classmethod
    def of(cls, spec: InputFile, table: str, read: RawInput) -> Privacy:
        personal = {header for header, name in spec.columns.items() if name in PERSONAL_COLUMNS}
        mapped = set(spec.columns.values())
        personal |= {name for name in CONTRACT_COLUMNS[table] if name in PERSONAL_COLUMNS and name not in mapped}
        positions = tuple(i for i, header in enumerate(read.headers) if header in personal)
        return cls(frozenset(personal), positions, len(read.headers), read.sep)

    def mask_line(self, line: str) -> str:
        """A line of text that could not be read as a row, with the personal fields masked.

        The line has more or fewer fields than the header, so a personal column may sit at its place
        counted from the start or from the end: both are masked, then any phone number left.
        """
        if not self.columns:
            return line
        if self.sep is not None and self.positions:
            fields = next(csv.reader([line], delimiter=self.sep), [])
            places = {p for p in self.positions if p < len(fields)}
            places |= {len(fields) - self.width + p for p in self.positions if 0 <= len(fields) - self.width + p}
            fields = [MASK if i in places else f for i, f in enumerate(fields)]
            out = io.StringIO()
            csv.writer(out, delimiter=self.sep, lineterminator="").writerow(fields)
            line = out.getvalue()
        return _PHONE.sub(MASK, line)


class _Triage:
    """Assigns each row at most one quarantine reason, the first check that fails.

    ``rejected`` holds the rows set aside while reading (:data:`analysis.methods.loading.REJECTED_COLUMNS`);
    they join the quarantine and count in the rows read. ``detail`` holds, for some reasons, what
    a reason code alone does not say.
    """

    def __init__(self, df: pd.DataFrame, rejected: pd.DataFrame | None = None, privacy: Privacy | None = None) -> None:
        self.df = df
        self.rejected = rejected if rejected is not None else pd.DataFrame(columns=REJECTED_COLUMNS)
        self.privacy = privacy or Privacy()
        # per row the number of its reason in _reasons, 0 while open; the details at the rows given them:
        # a file of millions of rows then holds no text column of its own until the quarantine is made
        self._codes = np.zeros(len(df), dtype=np.int16)
        self._reasons: list[str] = []
        self._details: list[tuple[np.ndarray, pd.Series]] = []

    @property
    def rows_in(self) -> int:
        return len(self.df) + len(self.rejected)

    @property
    def open(self) -> pd.Series:
        return pd.Series(self._codes == 0, index=self.df.index)

    @property
    def reason(self) -> pd.Series:
        """Each row's reason (text), missing while it is open."""
        return pd.Series(self._reasons_at(np.arange(len(self._codes))), index=self.df.index)

    @property
    def detail(self) -> pd.Series:
        """Each row's detail (text), where its reason came with one."""
        return pd.Series(self._details_at(np.arange(len(self._codes))), index=self.df.index, dtype="string")

    def set_aside_reasons(self) -> tuple[pd.Series, pd.Series]:
        """:attr:`reason` and :attr:`detail` of the rows set aside, in order (indexed 0, 1, …): made
        for those rows only, not for every row (10M rows: 0.03 s against 0.28)."""
        rows = np.flatnonzero(self._codes)
        return pd.Series(self._reasons_at(rows)), pd.Series(self._details_at(rows), dtype="string")

    def _reasons_at(self, rows: np.ndarray) -> pd.api.extensions.ExtensionArray:
        """The reason (text) of the rows at the positions ``rows``; missing where a row is open."""
        codes = self._codes[rows]
        numbers = pa.array(codes.astype(np.int32) - 1, mask=codes == 0)
        text = pa.DictionaryArray.from_arrays(numbers, pa.array(self._reasons, pa.large_string())).cast(pa.large_string())
        return pd.array(text, dtype="string")

    def _details_at(self, rows: np.ndarray) -> np.ndarray:
        """The detail of the rows at the rising positions ``rows``, which hold every row given one."""
        detail = np.full(len(rows), pd.NA, dtype=object)
        for positions, values in self._details:
            detail[np.searchsorted(rows, positions)] = values.to_numpy(dtype=object, na_value=pd.NA)
        return detail

    def set_aside(self, mask: pd.Series, reason: str, detail: pd.Series | None = None) -> None:
        """Give ``reason`` (and ``detail``, text per row) to the rows of ``mask`` that have none yet."""
        flags = mask.fillna(False).astype(bool)
        if flags.index.equals(self.df.index):
            now = flags.to_numpy(dtype=bool) & (self._codes == 0)
        else:  # aligned on the labels, as pandas aligns them
            now = (flags & self.open).reindex(self.df.index, fill_value=False).to_numpy(dtype=bool)
        if reason not in self._reasons:
            self._reasons.append(reason)
        positions = np.flatnonzero(now)
        self._codes[positions] = self._reasons.index(reason) + 1
        if detail is not None and len(positions):
            self._details.append((positions, detail.reindex(self.df.index[positions]).astype("string")))

    def result(self, source: str, source_file: str, raw: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        kept = self.df[self.open].copy()
        bad = ~self.open
        reasons, details = self.set_aside_reasons()
        quarantine = quarantine_frame(raw[bad], reasons, source, source_file, details, self.privacy)
        if len(self.rejected):
            unread = unreadable_frame(self.rejected, source, source_file, self.privacy)
            quarantine = pd.concat([quarantine, unread], ignore_index=True)
            quarantine = quarantine.sort_values("source_row", kind="stable", ignore_index=True)
        return kept, quarantine


def quarantine_frame(
    raw: pd.DataFrame,
    reasons: pd.Series,
    source: str,
    source_file: str,
    details: pd.Series | None = None,
    privacy: Privacy | None = None,
) -> pd.DataFrame:
    """Set-aside rows in one schema for every input: where they came from, why, and their raw text.

    ``raw`` is the row as JSON (header → cell text) with the personal cells masked (``privacy``).
    """
    raw_json = records_json(raw.drop(columns=[SOURCE_ROW]), privacy or Privacy())
    detail = details.to_numpy(dtype=object) if details is not None else [pd.NA] * len(raw)
    return pd.DataFrame(
        {
            "source": pd.Series([source] * len(raw), dtype="string"),
            "source_file": pd.Series([source_file] * len(raw), dtype="string"),
            "source_row": raw[SOURCE_ROW].to_numpy(dtype="int64"),
            "reason": reasons.to_numpy(dtype=object),
            "detail": pd.Series(detail, dtype="string"),
            "raw": pd.Series(raw_json, dtype="string"),
        }
    ).astype({"reason": "string"})


#: An Arrow text scalar of the type the members and their separators are joined in.
_text = partial(pa.scalar, type=pa.large_string())


def records_json(values: pd.DataFrame, privacy: Privacy) -> pd.api.extensions.ExtensionArray:
    """Each row as ``json.dumps(..., ensure_ascii=False)`` writes the dict header → cell text (missing: null),
    every cell of a personal column (``privacy.columns``) replaced by :data:`MASK`, as text; built column
    by column by Arrow, not a dict per row: the encoder escapes only quotes, backslashes and control
    characters, so a text cell without any is put in quotes on the whole column and only the others
    (few) are encoded one by one (356k rows of 8 columns: 0.3 s against 0.95)."""
    encode = json.encoder.encode_basestring  # json.dumps' encoder of keys and text with ensure_ascii=False
    members: list[pa.Array | pa.Scalar] = []
    for name, column in values.items():
        key = f"{encode(str(name))}: "
        if name in privacy.columns:
            members.append(_text(key + encode(MASK)))
        elif isinstance(column.dtype, pd.StringDtype):
            members.append(_json_members(key, text_array(column)))
        else:
            members.append(pa.array([key + ("null" if pd.isna(v) else encode(str(v))) for v in column.tolist()],
                                    pa.large_string()))
    if not any(isinstance(m, pa.Array) for m in members):  # no column, or masked ones only: every row alike
        row = "{" + ", ".join(m.as_py() for m in members) + "}"
        return pd.array([row] * len(values), dtype="string")
    rows = pc.binary_join_element_wise(*members, _text(", "))
    return pd.array(pc.binary_join_element_wise(_text("{"), rows, _text("}"), _text("")), dtype="string")


def _json_members(key: str, cells: pa.Array | pa.ChunkedArray) -> pa.Array:
    """``key`` followed by each of ``cells`` (text) as json.dumps writes it; missing: null."""
    cells = cells.combine_chunks() if isinstance(cells, pa.ChunkedArray) else cells
    members = pc.binary_join_element_wise(_text(key + '"'), cells, _text('"'), _text(""))
    members = pc.fill_null(members, _text(key + "null"))
    escaped = pc.fill_null(pc.match_substring_regex(cells, r'[\x{00}-\x{1f}\\"]'), False)
    if not pc.any(escaped).as_py():
        return members
    encode = json.encoder.encode_basestring
    replacements = pa.array([key + encode(v) for v in cells.filter(escaped).to_pylist()], pa.large_string())
    return pc.replace_with_mask(members, escaped, replacements)


def unreadable_frame(rejected: pd.DataFrame, source: str, source_file: str, privacy: Privacy | None = None) -> pd.DataFrame:
    """Rows set aside while reading, in the quarantine schema; ``raw`` holds the line's text as ``{"_line": ...}``.

    Personal fields of the line are masked (:meth:`Privacy.mask_line`).
    """
    privacy = privacy or Privacy()
    raw_json = [json.dumps({"_line": privacy.mask_line(str(text))}, ensure_ascii=False) for text in rejected["text"]]
    return pd.DataFrame(
        {
            "source": pd.Series([source] * len(rejected), dtype="string"),
            "source_file": pd.Series([source_file] * len(rejected), dtype="string"),
            "source_row": rejected[SOURCE_ROW].to_numpy(dtype="int64"),
            "reason": pd.Series(rejected["reason"].to_numpy(dtype=object), dtype="string"),
            "detail": pd.Series([pd.NA] * len(rejected), dtype="string"),
            "raw": pd.Series(raw_json, dtype="string"),
        }
    )


def quality_counts(rows_in: int, kept: int, quarantine: pd.DataFrame, **extra: Any) -> dict[str, Any]:
    reasons = quarantine["reason"].value_counts().sort_index()
    counts = {
        "rows_in": int(rows_in),
        "rows_kept": int(kept),
        "rows_quarantined": int(len(quarantine)),
        "reasons": {str(k): int(v) for k, v in reasons.items()},
    }
    if counts["rows_kept"] + counts["rows_quarantined"] != counts["rows_in"]:
        raise AssertionError(f"row accounting broken: {counts}")  # a bug, never the user's data
    return counts | extra


# ---------------------------------------------------------------------------------------------
# Parsers: text in, typed values out, NA where the text cannot be read.


def normalise_ids(values: pd.Series) -> pd.Series:
    """Ids as trimmed strings; leading zeros kept; '123.0' (a number that passed through a float) → '123'.

    Order ids go through this; customer ids through :func:`analysis.methods.ids.repair_ids`, which also
    repairs scientific notation and lost zero padding.
    """
    return drop_float_tails(id_text(values))[0]


def parse_dates(values: pd.Series, formats: list[str], *, excel_serials: bool = True) -> pd.Series:
    """Dates (day precision) from text; unreadable cells become NaT.

    Three steps, each on the cells the previous ones left unread:

    1. each of ``formats`` on the whole text, in order (the first that reads a cell wins);
    2. the same formats on the text without a trailing time of day, so '2024/3/5 14:22',
       '2024-03-05T14:22:01' and '2024年03月05日 14时' read as their day;
    3. with ``excel_serials``, a plain number within :data:`EXCEL_SERIAL_RANGE` as an Excel serial
       day (1900 date system: day 0 is 1899-12-30), e.g. '45000' → 2023-03-15; a fraction is a time.
       An 8-digit '20240305' is far outside the range, so it is only ever read by '%Y%m%d'.

    Each cell is read on its own, so a column that repeats its dates (an export of millions of
    rows holds a few thousand days) is read once per distinct text and the dates are put back in place.
    """
    distinct, at = distinct_text(values)
    if 2 * len(distinct) > len(values):  # mostly distinct: read as they are
        return _parse_each_date(values, formats, excel_serials)
    return pd.Series(_parse_each_date(distinct, formats, excel_serials).to_numpy()[at], index=values.index)


def _parse_each_date(values: pd.Series, formats: list[str], excel_serials: bool) -> pd.Series:
    """:func:`parse_dates`, cell by cell."""
    text = _replace_re2(values.astype("string").str.strip(), _WHITESPACE_RE2 + "+", " ")  # Python's \s+ → " "
    parsed = _parse_with_formats(text, formats)
    todo = parsed.isna() & text.notna()
    if todo.any():
        day_part = text[todo].str.extract(_TIME_OF_DAY, expand=False)
        parsed.loc[todo] = _parse_with_formats(day_part, formats)
    todo = parsed.isna() & text.notna()
    if excel_serials and todo.any():
        parsed.loc[todo] = excel_serial_dates(text[todo])
    return parsed.dt.normalize()


def _parse_with_formats(text: pd.Series, formats: list[str]) -> pd.Series:
    parsed = pd.Series(pd.NaT, index=text.index, dtype="datetime64[us]")
    for fmt in formats:
        todo = parsed.isna() & text.notna()
        if not todo.any():
            break
        attempt = pd.to_datetime(text[todo], format=fmt, errors="coerce")
        parsed.loc[todo] = attempt.astype("datetime64[us]")
    return parsed


def excel_serial_dates(text: pd.Series) -> pd.Series:
    """Excel serial day numbers ('45000', '45000.5') within :data:`EXCEL_SERIAL_RANGE` as datetimes; else NaT."""
    numbers = pd.to_numeric(text.where(text.str.fullmatch(_SERIAL_NUMBER).fillna(False).astype(bool)), errors="coerce")
    low, high = EXCEL_SERIAL_RANGE
    days = numbers.astype("float64").where((numbers >= low) & (numbers <= high))
    return (_EXCEL_EPOCH + pd.to_timedelta(days, unit="D")).astype("datetime64[us]")


def parse_amounts(values: pd.Series) -> pd.Series:
    """Numbers from text such as '1,234.50', '¥1,234.50', '1234.50元', 'RMB 1234.50', '(12.00)'.

    Non-finite values ('inf', '-Infinity', '1e400', 'nan') are NaN: no amount is infinite, and an
    infinity would break the sums downstream. A zero is +0.0 however it is written ('-0', '(0.00)').
    """
    numbers = _digit_column(values)
    if numbers is None:
        # most cells of an export are plain decimals already, which the text repairs leave as they are
        numbers, plain = _plain_decimals(values)
        rest = ~plain & values.notna().to_numpy()
        if rest.any():
            text = _replace_re2(values[rest], _CURRENCY_RE2, "").str.replace(",", "", regex=False)
            negative_parens = text.str.fullmatch(r"\(.*\)").fillna(False).to_numpy(dtype=bool)
            parsed = numbers_of(text.str.strip("()")).to_numpy()
            numbers[rest] = np.where(negative_parens, -parsed, parsed)
    numbers[~np.isfinite(numbers)] = np.nan
    return pd.Series(numbers + 0.0, index=values.index)  # -0.0 + 0.0 is +0.0


def numbers_of(text: pd.Series) -> pd.Series:
    """``pd.to_numeric(text, errors="coerce")`` as float64, but for the sign of a zero: plain decimals
    (``-1234.50``) cast by Arrow, on the whole column at once, and the other cells by pandas. Both
    round a decimal correctly, so the values are pandas'. pandas reads '-0' as -0.0 or 0.0 depending
    on the column's other cells (a column of whole numbers is read as integers); here a zero keeps
    the sign it is written with where Arrow reads it."""
    numbers, plain = _plain_decimals(text)
    rest = ~plain & text.notna().to_numpy()
    if rest.any():
        numbers[rest] = pd.to_numeric(text[rest], errors="coerce").astype("float64").to_numpy()
    return pd.Series(numbers, index=text.index)


#: The bytes from '-' to '9': '-', '.', '/' and the digits (Arrow reads no number with a '/').
_DIGIT_RANGE = (ord("-"), ord("9"))


def _digit_column(text: pd.Series) -> np.ndarray | None:
    """The column's values cast by Arrow when every cell is written with digits, '.' and '-' alone
    and Arrow reads them all (a quantity or cost column of most exports); else None.

    Such a cell needs none of :func:`parse_amounts`' repairs, and pandas reads the few that are not
    plain decimals ('.5', '5.', a 20-digit number) as Arrow does, so the values are those of the
    cell-by-cell reading, without its pattern match over the column (a 250,000-row batch: 5-8 ms against 24-34 ms).
    """
    array = text_array(text)
    low, high = _DIGIT_RANGE
    if any(written.size and (written.min() < low or written.max() > high) for written in written_bytes(array)):
        return None
    try:
        return np.array(pc.cast(array, pa.float64()).to_numpy(zero_copy_only=False))  # a copy: writable
    except pa.ArrowInvalid:  # '', '-', '1.2.3', '1/2', ...: read by the repairs
        return None


def _plain_decimals(text: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """The value of each cell that is a plain decimal (``-1234.50``: at most 18 digits each side), cast
    by Arrow on the column at once (exactly), NaN elsewhere; and which cells those are."""
    array = text_array(text)
    matched = pc.fill_null(pc.match_substring_regex(array, r"^-?\d{1,18}(\.\d{1,18})?$"), False)
    plain = matched.to_numpy(zero_copy_only=False)
    numbers = np.full(len(text), np.nan)
    numbers[plain] = pc.cast(array.filter(matched), pa.float64()).to_numpy(zero_copy_only=False)
    return numbers, plain


def _replace_re2(text: pd.Series, pattern: str, replacement: str) -> pd.Series:
    """``pattern`` (RE2 syntax) replaced in every cell by Arrow, on the whole column at once: pandas
    runs a pattern Python's re reads differently (``\\s``, a case-insensitive one) cell by cell."""
    array = text_array(text)
    return pd.Series(pd.array(pc.replace_substring_regex(array, pattern, replacement), dtype="string"), index=text.index)


def outlier_mask(amounts: pd.Series, rule: OutlierRule) -> pd.Series:
    """Flag extreme positive amounts.

    ``mad_log``: robust z-score of log(amount), |log x − median| / (1.4826 · MAD) > threshold
    (Iglewicz & Hoaglin 1993, on the log scale because order values are right-skewed; with
    MAD = 0 the mean absolute deviation × 1.2533 stands in).
    ``iqr``: log(amount) beyond Q3 + threshold · IQR or below Q1 − threshold · IQR (Tukey's fences).
    """
    # in numpy: pandas' median and boolean assignment by label took 1.0-1.7 s on 10M rows, numpy 0.4 s
    values = amounts.to_numpy(dtype="float64", na_value=np.nan)
    positive = values > 0
    flags = np.zeros(len(values), dtype=bool)
    if rule.method == "none" or np.count_nonzero(positive) < 20:
        return pd.Series(flags, index=amounts.index)
    logs = np.log(values[positive])
    if rule.method == "mad_log":
        deviation = np.abs(logs - np.median(logs))
        # When over half the values are equal the MAD is 0; fall back to the mean absolute
        # deviation (scaled to σ for normal data), as Iglewicz & Hoaglin's modified z-score does.
        scale = 1.4826 * float(np.median(deviation)) or 1.2533 * float(deviation.mean())
        if scale > 0:
            flags[positive] = deviation / scale > rule.threshold
    else:
        q1, q3 = np.quantile(logs, [0.25, 0.75])
        iqr = q3 - q1
        flags[positive] = (logs > q3 + rule.threshold * iqr) | (logs < q1 - rule.threshold * iqr)
    return pd.Series(flags, index=amounts.index)


# ---------------------------------------------------------------------------------------------
# Per-input cleaning.


@dataclass
class _Input:
    """One input read, mapped and through the checks every input shares."""

    spec: InputFile
    raw: pd.DataFrame
    df: pd.DataFrame
    triage: _Triage
    ids: IdRepair

    def open_ids(self) -> pd.Series:
        """The customer ids of the rows no check has set aside yet, missing ones left out."""
        return self.df["customer_id"][self.triage.open.to_numpy()].dropna()

    def id_quality(self, kept: pd.DataFrame) -> dict[str, Any]:
        """``ids_repaired`` among the kept rows, and how many numbers the kept ids write with different leading zeros."""
        rows = self.triage.open
        return {
            "ids_repaired": self.ids.counts(rows),
            "leading_zero_id_collisions": leading_zero_collisions(kept["customer_id"].astype("string")),
        }


def _header_of(spec: InputFile, name: str) -> str:
    """The file's header mapped to contract column ``name`` (the name itself when the file uses it)."""
    return next((header for header, target in spec.columns.items() if target == name), name)


def _read_and_triage(
    spec: InputFile,
    table: str,
    *,
    drop_duplicates: bool,
    master_ids: MasterIds | None = None,
    grand_total_tolerance: float | None = None,
) -> _Input:
    """Read and map an input, then the checks every input shares, in this order:

    exact duplicates (``drop_duplicates``), total lines (``total_row``), missing ids, and ids Excel
    rounded (``ambiguous_customer_id``). Duplicates are judged on the raw row (every column of the
    file, mapped or not), so two order lines that differ only in an unmapped column are both kept.
    With ``grand_total_tolerance`` (transactions) the amounts are parsed here, for the grand-total
    check (0 turns the check off).
    Customer ids are repaired by :func:`analysis.methods.ids.repair_ids`, zero-padded to the form of
    ``master_ids`` where that is unambiguous.
    """
    read = read_input(spec, table)
    raw = read.frame
    df = map_columns(raw, spec, table)
    triage = _Triage(df, read.rejected, Privacy.of(spec, table, read))
    if drop_duplicates:
        triage.set_aside(raw.drop(columns=[SOURCE_ROW]).duplicated(keep="first"), "duplicate")
    id_header = _header_of(spec, "customer_id")
    labelled, label_detail = total_label_rows(raw, df["customer_id"], id_header)
    triage.set_aside(labelled, "total_row", label_detail)
    if grand_total_tolerance is not None:
        df["amount"] = parse_amounts(df["amount"])
        if grand_total_tolerance > 0:
            summed, sum_detail = grand_total_rows(df["amount"], triage.open, grand_total_tolerance)
            triage.set_aside(summed, "total_row", sum_detail)
    ids = repair_ids(df["customer_id"], master_ids)
    df["customer_id"] = ids.ids
    triage.set_aside(df["customer_id"].isna(), "missing_customer_id")
    triage.set_aside(ids.ambiguous, "ambiguous_customer_id", rounded_id_details(ids, id_header))
    return _Input(spec, raw, df, triage, ids)


def total_label_rows(raw: pd.DataFrame, ids: pd.Series, id_header: str) -> tuple[pd.Series, pd.Series]:
    """Rows whose id cell, or (when the id is empty) any cell, is a total label (合计, 小计, Total, ...).

    Returns the mask and, per flagged row, a detail naming the cell that says so.
    """
    id_cells = ids.astype("string").str.strip()
    flags = _is_total_label(id_cells)
    detail = pd.Series(pd.NA, index=raw.index, dtype="string")
    detail[flags] = [f"the {id_header} cell says '{text}': {_NOT_A_RECORD}" for text in id_cells[flags]]
    no_id = (id_cells.isna() | id_cells.eq("")).to_numpy()
    for column in (c for c in raw.columns if c != SOURCE_ROW):
        cells = raw.loc[no_id, column].astype("string").str.strip()
        found = cells[_is_total_label(cells)].loc[lambda s: ~flags[s.index]]
        flags[found.index] = True
        detail[found.index] = [
            f"the {id_header} cell is empty and the {column} cell says '{text}': {_NOT_A_RECORD}" for text in found
        ]
    return flags, detail


#: The bytes of 't', 'T' and 计's first (0xE8): a cell without any of them holds no total label.
_LABEL_BYTES = np.isin(np.arange(256), [ord("t"), ord("T"), "计".encode()[0]])


def _is_total_label(cells: pd.Series) -> pd.Series:
    # Every label holds 计 or a t (which only t and T match, case folded): Arrow finds those cells on
    # the whole column, and only they go through the pattern, cell by cell in Python's re.
    text = text_array(cells)
    flags = pd.Series(False, index=cells.index)
    if not any(_LABEL_BYTES[written].any() for written in written_bytes(text)):
        return flags  # no 计, t or T in the column (an id column of digits): 26 ms of a 250,000-row batch saved
    maybe = pc.fill_null(pc.match_substring_regex(text, "[计tT]"), False).to_numpy(zero_copy_only=False)
    if maybe.any():
        flags[maybe] = cells[maybe].str.fullmatch(_TOTAL_LABEL).fillna(False).astype(bool).to_numpy()
    return flags


def grand_total_rows(amounts: pd.Series, open_rows: pd.Series, tolerance: float) -> tuple[pd.Series, pd.Series]:
    """Rows whose amount equals the sum of every other open row's amount: a grand total line.

    A row is one when amount ≠ 0 and |amount − S| ≤ tolerance · |S|, S being the sum of the other
    open rows with a readable amount, of which there must be at least :data:`MIN_ROWS_UNDER_TOTAL`.
    Returns the mask and a detail per flagged row (indexed by those rows only).
    """
    values = amounts.where(open_rows.reindex(amounts.index, fill_value=False))
    n_others = int(values.notna().sum()) - 1
    flagged = np.zeros(len(values), dtype=bool)
    if n_others >= MIN_ROWS_UNDER_TOTAL:
        amount = values.to_numpy(dtype="float64", na_value=np.nan)
        others = float(values.sum()) - amount  # pandas' sum, in its order; the rest row by row in numpy
        with np.errstate(invalid="ignore"):
            flagged = ~np.isnan(amount) & (amount != 0) & (others != 0) & (np.abs(amount - others) <= tolerance * np.abs(others))
    at = np.flatnonzero(flagged)
    detail = pd.Series(
        [f"the amount {amount[i]:,.2f} equals the sum of the other {n_others:,} rows ({others[i]:,.2f}, within "
         f"{tolerance:.1%}): a grand total line of the export, not an order" for i in at],
        index=amounts.index[at], dtype="string",
    )
    return pd.Series(flagged, index=amounts.index), detail


def rounded_id_details(ids: IdRepair, id_header: str) -> pd.Series:
    """Per ambiguous id: what Excel did to it and how to export it so that it survives."""
    detail = pd.Series(pd.NA, index=ids.ids.index, dtype="string")
    fix = (f"format the column '{id_header}' as text in the source workbook (or export it from the source "
           "system as csv) and export again")
    for index, read in ids.rounded.items():
        if read.low is None:
            what = f"'{read.text}' is a number in scientific notation that is not a whole number, so not a customer id"
        else:
            what = (f"'{read.text}' is a customer id that Excel rounded to {read.significant} significant digits: "
                    f"it could be any id from {read.low} to {read.high}")
        detail[index] = f"{what}; {fix}"
    return detail


def clean_transactions(
    spec: InputFile, period: Period, cleaning: Cleaning, *, master_ids: MasterIds | None = None,
    rows_per_batch: int | None = None, workers: Workers | None = None, write_to: Path | None = None,
    batches: DelimitedBatches | None = None,
) -> CleanResult:
    """Clean the transactions; ``master_ids`` (the cleaned customer master's ids) enable the zero-padding repair.

    A delimited export is read and cleaned batch by batch, out of core
    (:mod:`analysis.methods.cleaning_batches`, ``rows_per_batch`` rows at a time, default
    :data:`~analysis.methods.cleaning_batches.ROWS_PER_BATCH`), with the same result; other formats,
    and text with undecodable lines, are read whole. ``rows_per_batch=0`` reads any file whole.
    ``workers``: the worker processes :func:`~analysis.methods.cleaning_batches.started_workers`
    started for the batches (by default the batches start their own). ``batches``: how the file is
    read in batches, found already (:func:`~analysis.methods.cleaning_batches.transaction_batches`;
    finding them checks that the whole file decodes).

    ``write_to``: a parquet file (new, or overwritten) to write the kept rows to rather than return
    them: the result's ``kept`` is then None and its ``written`` describes the file. Batch by batch,
    each range of customers is written as soon as it is netted, so the kept rows are never whole in
    memory with their text.
    """
    from analysis.methods import cleaning_batches

    if batches is None:
        batches = cleaning_batches.transaction_batches(spec, rows_per_batch)
    reference = _padding_reference(master_ids, cleaning)
    if batches is not None:
        return cleaning_batches.clean_transactions_in_batches(spec, period, cleaning, batches, master_ids=reference,
                                                              known_ids=master_ids, workers=workers, write_to=write_to)
    read = _read_and_triage(spec, "transactions", drop_duplicates=True, master_ids=reference,
                            grand_total_tolerance=cleaning.grand_total_tolerance)
    df, triage = read.df, read.triage
    df["order_date"] = parse_dates(df["order_date"], cleaning.date_formats, excel_serials=cleaning.excel_serial_dates)
    triage.set_aside(df["order_date"].isna(), "invalid_date")
    triage.set_aside(df["amount"].isna(), "invalid_amount")  # parsed by _read_and_triage
    triage.set_aside(df["order_date"] < pd.Timestamp(period.start), "before_period_start")
    triage.set_aside(df["order_date"] > pd.Timestamp(period.end), "after_period_end")
    outliers = outlier_mask(df["amount"].where(triage.open), cleaning.outliers)
    if cleaning.outliers.action == "quarantine":
        triage.set_aside(outliers, "outlier")
    df["is_outlier"] = outliers
    kept, quarantine = triage.result("transactions", spec.path.name, read.raw)
    id_quality = read.id_quality(kept)
    kept = _typed_transactions(kept)
    netted, n_netted = net_returns(kept)
    netted["is_purchase"] = purchase_flags(netted, cleaning.zero_amount_orders)
    quality = quality_counts(
        triage.rows_in, len(kept), quarantine,
        returns_netted=n_netted,
        unmatched_returns=int(netted["is_return"].sum()),
        outliers_flagged=int(netted["is_outlier"].sum()),
        zero_amount_rows=int((netted["amount"] == 0).sum()),
        rows_written=len(netted),
        ids_repaired=id_quality["ids_repaired"],
        warnings={"leading_zero_id_collisions": id_quality["leading_zero_id_collisions"]},
    )
    if write_to is not None:
        return CleanResult(None, quarantine, quality, WrittenRows.of(netted, write_to))
    return CleanResult(netted, quarantine, quality)


def _padding_reference(master_ids: MasterIds | None, cleaning: Cleaning) -> MasterIds | None:
    return master_ids if cleaning.pad_ids_to_master else None


def _typed_transactions(kept: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame(
        {
            "customer_id": kept["customer_id"].astype("string"),
            "order_id": normalise_ids(kept["order_id"]) if "order_id" in kept else pd.Series(pd.NA, index=kept.index, dtype="string"),
            "order_date": kept["order_date"],
            "amount": kept["amount"].astype("float64"),
        }
    )
    for name in ("quantity", "cost"):
        out[name] = parse_amounts(kept[name]) if name in kept else np.nan
    for name in ("product_category", "channel"):
        out[name] = kept[name].astype("string").str.strip() if name in kept else pd.Series(pd.NA, index=kept.index, dtype="string")
    out["is_outlier"] = kept["is_outlier"].astype(bool)
    out["source_row"] = kept[SOURCE_ROW].astype("int64")
    return out.reset_index(drop=True)


def net_returns(tx: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Net each return into its order (same customer and order id); return rows that match nothing stay.

    Returns the netted table (with ``gross_amount``, ``returned_amount``, ``is_return`` and
    ``order_day``, days since 1970-01-01) and the number of return rows netted away.

    Only the orders whose id some return names can change; the other rows (most of them) take the
    same formulas with nothing returned, without the grouping and joining on the keys (the values
    are those of netting every order; a zero amount may keep the sign of -0.0 where netting gave 0.0).
    """
    is_neg = tx["amount"] < 0
    # whole orders are in or out (an order's rows share its id), so each part nets alone
    returned_ids = tx.loc[is_neg, "order_id"].dropna().unique()
    touched = np.flatnonzero(tx["order_id"].isin(returned_ids).to_numpy() & tx["order_id"].notna().to_numpy())
    netted, n_netted = _net_orders(tx.take(touched).reset_index(drop=True))
    # every row with nothing returned, the netted orders' rows put in their places, and the returns
    # netted into them left out: the rows are copied once, in the final order
    changed = touched[netted.index.to_numpy()]
    out = tx.assign(gross_amount=tx["amount"], returned_amount=0.0)
    for column in ("amount", "cost", "gross_amount", "returned_amount"):
        values = out[column].copy()
        values.iloc[changed] = netted[column].array
        out[column] = values
    out["is_return"] = out["amount"].lt(0) & out["gross_amount"].lt(0)
    kept = np.ones(len(out), dtype=bool)
    kept[np.setdiff1d(touched, changed, assume_unique=True)] = False
    kept = np.flatnonzero(kept)
    keys = ["customer_id", "order_date", "order_id", "source_row"]
    out = out.take(kept[sort_order(out[keys].take(kept), keys)])
    out["order_day"] = (out["order_date"] - pd.Timestamp("1970-01-01")).dt.days.astype("int32")
    return out.reset_index(drop=True), n_netted


def _net_orders(tx: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """:func:`net_returns` on whole orders, without ``order_day`` and the final order."""
    tx = tx.copy()
    is_neg = tx["amount"] < 0
    key = ["customer_id", "order_id"]
    purchases = tx[~is_neg]
    order_keys = purchases.dropna(subset=["order_id"])[key].drop_duplicates()
    returns = tx[is_neg].reset_index().merge(order_keys, on=key, how="left", indicator=True)
    matched_idx = returns.loc[returns["_merge"] == "both", "index"]
    matched = tx.loc[matched_idx]

    returned = matched.groupby(key, observed=True)["amount"].sum().rename("returned_amount")
    out = tx.drop(index=matched_idx)
    out["gross_amount"] = out["amount"]
    order_gross = out[~(out["amount"] < 0)].groupby(key, observed=True)["amount"].transform("sum")
    out = out.join(returned, on=key)
    share = (out["amount"] / order_gross.reindex(out.index)).fillna(0.0)
    line_return = (out["returned_amount"].fillna(0.0) * share).where(out["amount"] >= 0, 0.0)
    out["returned_amount"] = line_return
    ratio = (out["amount"] + line_return) / out["amount"].where(out["amount"] != 0)
    out["amount"] = out["amount"] + line_return
    out["cost"] = out["cost"] * ratio.where(ratio.notna(), 1.0)
    out["is_return"] = out["amount"].lt(0) & out["gross_amount"].lt(0)
    return out, int(len(matched_idx))


def purchase_flags(tx: pd.DataFrame, zero_amount_orders: str = "purchase") -> pd.Series:
    """Which rows of netted transactions are purchase occasions.

    An order (the customer's rows with one order id; a row without an order id stands alone) is a
    purchase when what the customer kept is worth more than nothing (net amount > 0), or when it
    was free from the start (gross amount 0: samples, fully discounted or promotional orders, which
    lifetimes and PyMC-Marketing count as purchases) unless ``zero_amount_orders`` is ``"exclude"``.
    An order returned in full or beyond its value is not a purchase, nor is an unmatched return.
    """
    order = group_numbers(tx, ["customer_id", "order_id"])
    alone = order < 0  # no order id: the row is its own order
    sums = tx[["amount", "gross_amount"]].astype("float64").groupby(order, sort=False).transform("sum")  # the same sums, unsorted keys
    net = sums["amount"].where(~alone, tx["amount"])
    gross = sums["gross_amount"].where(~alone, tx["gross_amount"])
    free = net.eq(0) & gross.eq(0) & (zero_amount_orders == "purchase")
    return ((net.gt(0) | free) & tx["amount"].ge(0) & ~tx["is_return"].astype(bool)).astype(bool)


def clean_customers(spec: InputFile, cleaning: Cleaning) -> CleanResult:
    """Clean the customer master: its ids are the reference the other inputs' ids are repaired to."""
    return finish_customers(read_customers(spec), cleaning)


#: The customer master as :func:`read_customers` reads it, for :func:`finish_customers`.
CustomerMaster = _Input


def read_customers(spec: InputFile) -> CustomerMaster:
    """The customer master read and through the checks every input shares; :func:`finish_customers`
    does the rest. Its :meth:`~_Input.open_ids` are the ids the cleaned master keeps: the checks
    after these only set aside repeated ids."""
    return _read_and_triage(spec, "customers", drop_duplicates=False)


def finish_customers(read: CustomerMaster, cleaning: Cleaning) -> CleanResult:
    """:func:`clean_customers` of the master :func:`read_customers` read: repeated ids, the typed columns."""
    df, triage = read.df, read.triage
    open_ids = df["customer_id"].where(triage.open)
    triage.set_aside(open_ids.duplicated(keep="first") & open_ids.notna(), "duplicate_customer_id")
    warnings: dict[str, int] = {}
    if "signup_date" in df:
        text = df["signup_date"]
        df["signup_date"] = parse_dates(text, cleaning.date_formats, excel_serials=cleaning.excel_serial_dates)
        warnings["unreadable_signup_date"] = int((df["signup_date"].isna() & text.notna()).sum())
    if "balance" in df:
        text = df["balance"]
        df["balance"] = parse_amounts(text)
        warnings["unreadable_balance"] = int((df["balance"].isna() & text.notna()).sum())
    if "segment" in df:
        df["segment"] = df["segment"].str.strip().str.upper()
    kept, quarantine = triage.result("customers", read.spec.path.name, read.raw)
    return _finish(read, kept, quarantine, warnings)


def _finish(read: _Input, kept: pd.DataFrame, quarantine: pd.DataFrame, warnings: dict[str, int] | None = None) -> CleanResult:
    """The result of a customers, surveys or complaints input, with its id repairs and warnings counted."""
    id_quality = read.id_quality(kept)
    warnings = (warnings or {}) | {"leading_zero_id_collisions": id_quality["leading_zero_id_collisions"]}
    kept = kept.drop(columns=[SOURCE_ROW]).reset_index(drop=True)
    quality = quality_counts(
        read.triage.rows_in, len(kept), quarantine, ids_repaired=id_quality["ids_repaired"], warnings=warnings
    )
    return CleanResult(kept, quarantine, quality)


def clean_surveys(
    spec: InputFile, cleaning: Cleaning, *, scale_max: int, attributes: list[str], master_ids: MasterIds | None = None
) -> CleanResult:
    read = _read_and_triage(spec, "surveys", drop_duplicates=True, master_ids=_padding_reference(master_ids, cleaning))
    df, triage = read.df, read.triage
    df["survey_date"] = parse_dates(df["survey_date"], cleaning.date_formats, excel_serials=cleaning.excel_serial_dates)
    triage.set_aside(df["survey_date"].isna(), "invalid_date")
    ranges = {"overall_satisfaction": (1, scale_max), "recommend": (0, 10)}
    ranges |= {a: (1, scale_max) for a in attributes if a in df}
    for column, (low, high) in ranges.items():
        if column not in df:
            continue
        text = df[column]
        df[column] = rating_numbers(text)
        unreadable = df[column].isna() & text.notna()
        triage.set_aside(unreadable | (df[column] < low) | (df[column] > high), "rating_out_of_range")
    triage.set_aside(df["overall_satisfaction"].isna(), "missing_rating")
    kept, quarantine = triage.result("surveys", spec.path.name, read.raw)
    return _finish(read, kept, quarantine)


def rating_numbers(text: pd.Series) -> pd.Series:
    """Ratings' text as numbers (``pd.to_numeric`` of the stripped text; NaN where unreadable), each
    distinct text read once: a survey export of any length holds a few distinct answers (295k
    surveys' seven ratings: 1.7 s less)."""
    distinct, at = distinct_text(text)
    numbers = pd.to_numeric(distinct.str.strip(), errors="coerce").astype("float64").to_numpy()
    return pd.Series(numbers[at], index=text.index)


def clean_complaints(
    spec: InputFile, cleaning: Cleaning, *, as_of: date, master_ids: MasterIds | None = None
) -> CleanResult:
    read = _read_and_triage(spec, "complaints", drop_duplicates=True, master_ids=_padding_reference(master_ids, cleaning))
    df, triage = read.df, read.triage
    df["opened"] = parse_dates(df["opened"], cleaning.date_formats, excel_serials=cleaning.excel_serial_dates)
    triage.set_aside(df["opened"].isna(), "invalid_date")
    triage.set_aside(df["opened"] > pd.Timestamp(as_of), "after_period_end")
    if "closed" in df:
        text = df["closed"]
        df["closed"] = parse_dates(text, cleaning.date_formats, excel_serials=cleaning.excel_serial_dates)
        triage.set_aside(df["closed"].isna() & text.notna(), "invalid_date")
        triage.set_aside(df["closed"] < df["opened"], "closed_before_opened")
        # Closed after the study's end: still open as of the end date.
        df["closed"] = df["closed"].mask(df["closed"] > pd.Timestamp(as_of))
    kept, quarantine = triage.result("complaints", spec.path.name, read.raw)
    return _finish(read, kept, quarantine)
