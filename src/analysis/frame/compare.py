"""Compare the outputs of two runs: did a change of code (or a rerun) change any figure or sentence?

``python -m analysis compare-runs A B`` compares two ``data/processed/<run>/`` folders file by file:
every parquet table (columns, dtypes, rows, values) and every json record. Given two
``reports/<run>/`` folders it compares the reports as a reader sees them: the visible text of each
HTML page, line by line (markup, styles and embedded images aside). Some things differ between any
two runs by design and are set aside: the executed notebooks (``notebooks/``, they hold timings),
the run manifest (when and where the run happened), the time a report was generated, and the
masking salt, with the customer codes drawn from it (``C-7F3A2B``, see
:mod:`analysis.frame.privacy`), which are compared as "a code" rather than letter by letter.

Floating-point figures are equal when they agree to ``rtol`` (default 1e-9): two runs on one
machine agree exactly, and another CPU may change the last digits.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.frame import catalog, storage

_CODE = re.compile(r"\bC-[0-9A-F]{6,}\b")
_GENERATED_AT = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC")
_IGNORED = {catalog.MASK_SALT, catalog.MANIFEST}


@dataclass
class Comparison:
    """What differs between two output folders; ``equal`` when nothing does."""

    compared: list[str] = field(default_factory=list)
    only_in_first: list[str] = field(default_factory=list)
    only_in_second: list[str] = field(default_factory=list)
    differences: dict[str, str] = field(default_factory=dict)

    @property
    def equal(self) -> bool:
        return not (self.only_in_first or self.only_in_second or self.differences)

    def summary(self) -> str:
        lines = [f"{len(self.compared)} file(s) compared: "
                 + ("all equal" if self.equal else f"{len(self.differences)} differ")]
        lines += [f"  only in the first: {name}" for name in self.only_in_first]
        lines += [f"  only in the second: {name}" for name in self.only_in_second]
        lines += [f"  {name}: {why}" for name, why in self.differences.items()]
        return "\n".join(lines)


def compare_runs(first: str | Path, second: str | Path, *, rtol: float = 1e-9) -> Comparison:
    first, second = Path(first), Path(second)
    for folder in (first, second):
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder} is not a folder of run outputs (data/processed/<run>/)")
    names_first, names_second = _output_names(first), _output_names(second)
    result = Comparison(
        only_in_first=sorted(names_first - names_second), only_in_second=sorted(names_second - names_first)
    )
    for name in sorted(names_first & names_second):
        result.compared.append(name)
        why = _difference(first / name, second / name, rtol)
        if why:
            result.differences[name] = why
    return result


def _output_names(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if p.is_file() and p.name not in _IGNORED and not p.name.startswith(".")}


def _difference(a: Path, b: Path, rtol: float) -> str | None:
    if a.suffix == ".parquet":
        return _frame_difference(storage.read_parquet(a), storage.read_parquet(b), rtol)
    if a.suffix == ".html":
        return _page_difference(a.read_text(encoding="utf-8"), b.read_text(encoding="utf-8"))
    if a.suffix == ".json":
        return _json_difference(json.loads(a.read_text(encoding="utf-8")), json.loads(b.read_text(encoding="utf-8")), rtol, "")
    return None if a.read_bytes() == b.read_bytes() else "the bytes differ"


def _frame_difference(a: pd.DataFrame, b: pd.DataFrame, rtol: float) -> str | None:
    if list(a.columns) != list(b.columns):
        return f"columns differ: {list(a.columns)} vs {list(b.columns)}"
    if len(a) != len(b):
        return f"{len(a)} vs {len(b)} rows"
    for column in a.columns:
        x, y = a[column], b[column]
        if str(x.dtype) != str(y.dtype):
            return f"column {column!r}: dtype {x.dtype} vs {y.dtype}"
        if pd.api.types.is_float_dtype(x):
            xs, ys = x.to_numpy(dtype=float, na_value=np.nan), y.to_numpy(dtype=float, na_value=np.nan)
            same = np.isclose(xs, ys, rtol=rtol, atol=0.0, equal_nan=True)
            if not same.all():
                row = int(np.flatnonzero(~same)[0])
                return f"column {column!r}: {int((~same).sum())} value(s) differ, first at row {row}: {xs[row]!r} vs {ys[row]!r}"
            continue
        xs, ys = x.map(_masked).astype(object), y.map(_masked).astype(object)
        same = (xs == ys) | (xs.isna() & ys.isna())
        if not same.all():
            row = int(np.flatnonzero(~same.to_numpy())[0])
            return f"column {column!r}: {int((~same).sum())} value(s) differ, first at row {row}: {x.iloc[row]!r} vs {y.iloc[row]!r}"
    return None


def _masked(value: Any) -> Any:
    return _CODE.sub("C-<code>", value) if isinstance(value, str) else value


def _json_difference(a: Any, b: Any, rtol: float, where: str) -> str | None:
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return f"{where or 'top level'}: keys {sorted(set(a) ^ set(b))} in only one"
        for key in a:
            why = _json_difference(a[key], b[key], rtol, f"{where}.{key}" if where else str(key))
            if why:
                return why
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{where}: {len(a)} vs {len(b)} items"
        for i, (x, y) in enumerate(zip(a, b)):
            why = _json_difference(x, y, rtol, f"{where}[{i}]")
            if why:
                return why
        return None
    if isinstance(a, float) or isinstance(b, float):
        if isinstance(a, (int, float)) and isinstance(b, (int, float)) and (
            math.isclose(a, b, rel_tol=rtol) or (math.isnan(a) and math.isnan(b))
        ):
            return None
        return f"{where}: {a!r} vs {b!r}"
    return None if _masked(a) == _masked(b) else f"{where}: {a!r} vs {b!r}"


class _VisibleText(HTMLParser):
    """The lines of text a reader sees on a page: no markup, scripts or styles."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._hidden += tag in ("script", "style")

    def handle_endtag(self, tag: str) -> None:
        self._hidden -= tag in ("script", "style") and self._hidden > 0

    def handle_data(self, data: str) -> None:
        if not self._hidden and data.strip():
            self.lines.append(" ".join(data.split()))


def visible_text(page: str) -> list[str]:
    """The visible text of an HTML page, one line per text node, customer codes and times masked."""
    parser = _VisibleText()
    parser.feed(page)
    return [_GENERATED_AT.sub("<time>", _masked(line)) for line in parser.lines]


def _page_difference(a: str, b: str, context: int = 5) -> str | None:
    first, second = visible_text(a), visible_text(b)
    if first == second:
        return None
    changed = [line for line in difflib.unified_diff(first, second, lineterm="", n=0) if line[:1] in "+-"][2:]
    shown = "\n    ".join(changed[: 2 * context])
    more = f"\n    … and {len(changed) - 2 * context} more" if len(changed) > 2 * context else ""
    return f"{len(changed)} line(s) of visible text differ:\n    {shown}{more}"
