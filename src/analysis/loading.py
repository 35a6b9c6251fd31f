"""Reading the user's raw files: csv, xlsx or parquet; utf-8, utf-8-sig or gbk; any headers.

Every cell is read as text, so nothing is guessed before cleaning (ids keep their leading zeros,
amounts keep their currency signs until the cleaning stage parses them). The user's headers are
renamed to the contract names through the mapping in the params file, the only place they appear.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .params import CONTRACT_COLUMNS, InputFile

SOURCE_ROW = "_source_row"
_ENCODINGS_TRIED = ("utf-8-sig", "gb18030")  # gb18030 is a superset of gbk and gb2312


class InputFileError(ValueError):
    """A raw input cannot be read or lacks a mapped column: the message names the file and the fix."""


def detect_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in {".csv", ".txt", ".tsv"}:
        return "csv"
    if suffix in {".xlsx", ".xlsm", ".xls"}:
        return "xlsx"
    if suffix in {".parquet", ".pq"}:
        return "parquet"
    raise InputFileError(f"{path}: cannot tell the format from '{suffix}'; set format: csv, xlsx or parquet")


def detect_encoding(path: Path) -> str:
    """utf-8 (with or without BOM) if the bytes decode as such, else gb18030 (covers gbk)."""
    data = path.read_bytes()
    for encoding in _ENCODINGS_TRIED:
        try:
            data.decode(encoding)
            return encoding
        except UnicodeDecodeError:
            continue
    raise InputFileError(f"{path}: neither utf-8 nor gbk; save it as utf-8 or set encoding in the params file")


def read_raw(spec: InputFile) -> pd.DataFrame:
    """All cells as strings (missing as NA), headers stripped, plus the 1-based file row in ``_source_row``.

    The row number is the one a user sees in Excel or a text editor: the header is row 1.
    """
    path = spec.path
    fmt = detect_format(path) if spec.format == "auto" else spec.format
    try:
        if fmt == "csv":
            encoding = detect_encoding(path) if spec.encoding == "auto" else spec.encoding
            sep = "\t" if path.suffix.lower() == ".tsv" else ","
            df = pd.read_csv(path, dtype=str, encoding=encoding, sep=sep, keep_default_na=False, na_values=[""])
        elif fmt == "xlsx":
            df = pd.read_excel(path, sheet_name=spec.sheet or 0, dtype=str, keep_default_na=False, na_values=[""])
        else:
            df = pd.read_parquet(path).astype("string")
    except InputFileError:
        raise
    except UnicodeDecodeError as exc:
        raise InputFileError(f"{path}: cannot decode as {spec.encoding} ({exc}); set encoding: auto or gbk") from exc
    except Exception as exc:  # the reader's own message, with the file named
        raise InputFileError(f"{path}: cannot read as {fmt}: {exc}") from exc
    df.columns = [str(c).strip().lstrip("\ufeff") for c in df.columns]
    df = df.astype("string")
    df[SOURCE_ROW] = pd.RangeIndex(2, len(df) + 2, dtype="int64")
    return df


def map_columns(raw: pd.DataFrame, spec: InputFile, table: str) -> pd.DataFrame:
    """Rename user headers to contract names; keep only mapped columns (and the source row).

    Raises :class:`InputFileError` when a mapped header is absent or a required contract column is
    not mapped, listing the headers that the file does have.
    """
    missing = [header for header in spec.columns if header not in raw.columns]
    if missing:
        lines = [f"'{h}' (mapped to {spec.columns[h]})" for h in missing]
        raise InputFileError(
            f"{spec.path}: column(s) {', '.join(lines)} not found. The file has: {list(raw.columns[:-1])}. "
            f"Fix inputs.{table}.columns in the params file so its keys are this file's headers."
        )
    renamed = raw.rename(columns=spec.columns)
    mapped = list(spec.columns.values())
    # A file already in contract names needs no mapping for those columns.
    for name in CONTRACT_COLUMNS[table]:
        if name in raw.columns and name not in mapped:
            mapped.append(name)
    required = [c for c, needed in CONTRACT_COLUMNS[table].items() if needed and c not in mapped]
    if required:
        raise InputFileError(
            f"{spec.path}: required column(s) {required} of {table} are not mapped. "
            f"Add '<header in your file>: {required[0]}' under inputs.{table}.columns."
        )
    return renamed[[*mapped, SOURCE_ROW]]
