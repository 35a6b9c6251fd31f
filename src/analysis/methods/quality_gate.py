"""The data-quality gate: a run whose inputs lost too many rows stops before anything is scored.

The gate reads the quality summary the cleaning stage writes (``quality.json``: per input
``{"rows_in", "rows_kept", "rows_quarantined", "reasons": {...}}`` and, optionally, a ``join``
block) and compares it with the ``quality:`` section of the params:

- ``max_set_aside_share`` — the share of an input's rows set aside, any reason (rows dated outside
  the study period are out of scope and not counted);
- ``max_reason_share`` — the share of an input's rows set aside for one reason;
- ``min_join_share`` — the share of transaction customers found in the customer master, and of
  survey / complaint customers found among the transaction customers.

Set-aside breaches stop the run (``on_breach: stop``) or are recorded (``on_breach: warn``); a
low join rate is always a warning only. :func:`find_breaches` is pure; :func:`enforce` adds the
stop and the message (top reasons with counts, example rows, the key or the fix).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal, Protocol

import pandas as pd

#: Reasons that put a row outside the study's scope rather than lose it: not counted by the gate.
OUT_OF_SCOPE_REASONS = frozenset({"before_period_start", "after_period_end", "outside_period"})
#: Example rows shown per reason in the stop message.
EXAMPLES_PER_REASON = 3
#: Reasons listed per input in the stop message.
TOP_REASONS = 5
#: Characters of a raw row shown in the stop message.
RAW_CHARS = 160

#: The fix for a reason that sets many rows aside; the generic advice covers the others.
REASON_FIXES: dict[str, str] = {
    "invalid_date": "add the file's date format to cleaning.date_formats, or check the order-date column mapping",
    "invalid_amount": "check the amount column mapping in inputs.<input>.columns (a text or total column?)",
    "missing_customer_id": "check the customer-id column mapping in inputs.<input>.columns",
    "after_period_end": "check period.end in the params file",
    "before_period_start": "check period.start in the params file",
    "outside_period": "check period.start / period.end in the params file",
    "duplicate": "the file holds the same rows twice: export it once",
    "outlier": "raise cleaning.outliers.threshold or set cleaning.outliers.action: flag",
    "malformed_row": "quote the cells that hold the separator (e.g. 1,234.50) in the export, or set inputs.<input>.sep",
    "undecodable_row": "save the file as UTF-8, or set inputs.<input>.encoding",
    "ambiguous_customer_id": "format the customer-id column as text in Excel before exporting",
    "total_row": "export the rows without their total lines",
}


class QualityRules(Protocol):
    """What the gate needs from the params' ``quality:`` section (:class:`analysis.frame.params.Quality`)."""

    max_set_aside_share: float
    max_reason_share: float
    on_breach: Literal["stop", "warn"]
    min_join_share: float


class QualityGateError(RuntimeError):
    """An input lost more rows than the params' ``quality:`` limits allow."""


@dataclass(frozen=True)
class Breach:
    """One limit exceeded.

    Attributes
    ----------
    input
        ``transactions``, ``customers``, ``surveys`` or ``complaints``.
    what
        ``set_aside`` (all reasons), ``reason`` (one reason, named in ``reason``), or
        ``join_master`` / ``join_transactions`` (customers found in the other input).
    share, limit
        The share seen and the limit in params (a maximum for set-aside, a minimum for joins).
    key
        The params key holding the limit.
    severity
        ``stop`` for set-aside breaches, ``warn`` for join rates (never stops the run).
    rows
        Rows set aside (set-aside breaches) or customers not found (join breaches).
    """

    input: str
    what: str
    share: float
    limit: float
    key: str
    severity: Literal["stop", "warn"]
    reason: str | None = None
    rows: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def input_summaries(quality: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The per-input entries of a quality dict (those with ``rows_in``); ``gate`` and others skipped."""
    return {name: q for name, q in quality.items() if isinstance(q, dict) and "rows_in" in q}


def quality_table(quality: dict[str, Any]) -> pd.DataFrame:
    """One row per input and reason: the quality summary as a table (rows in = kept + quarantined)."""
    rows = []
    for source, q in quality.items():
        rows.append({"input": source, "status": "kept", "rows": q["rows_kept"]})
        for reason, n in q["reasons"].items():
            rows.append({"input": source, "status": reason, "rows": n})
    table = pd.DataFrame(rows)
    totals = table.groupby("input", sort=False)["rows"].transform("sum")
    table["share"] = (table["rows"] / totals).round(4)
    return table


def set_aside_breaches(name: str, q: dict[str, Any], rules: QualityRules) -> list[Breach]:
    """Set-aside share of one input, overall and per reason, above the params' limits.

    Rows dated outside the study period are out of scope, not lost (an export often covers more
    than the quarter, and the previous quarter's run reads the same file): they count in neither
    the set-aside rows nor the rows read.
    """
    reasons = {r: int(n) for r, n in (q.get("reasons") or {}).items()}
    out_of_scope = sum(n for r, n in reasons.items() if r in OUT_OF_SCOPE_REASONS)
    rows_in = int(q.get("rows_in") or 0) - out_of_scope
    if rows_in <= 0:
        return []
    breaches = []
    set_aside = int(q.get("rows_quarantined") or 0) - out_of_scope
    if set_aside / rows_in > rules.max_set_aside_share:
        breaches.append(Breach(name, "set_aside", round(set_aside / rows_in, 4), rules.max_set_aside_share,
                               "quality.max_set_aside_share", "stop", rows=set_aside))
    for reason, n in sorted(reasons.items(), key=lambda item: (-item[1], item[0])):
        if reason not in OUT_OF_SCOPE_REASONS and n / rows_in > rules.max_reason_share:
            breaches.append(Breach(name, "reason", round(n / rows_in, 4), rules.max_reason_share,
                                   "quality.max_reason_share", "stop", reason=reason, rows=n))
    return breaches


def join_breaches(name: str, q: dict[str, Any], rules: QualityRules) -> list[Breach]:
    """Join rates of one input below ``min_join_share`` (transactions → master; others → transactions)."""
    join = q.get("join") or {}
    other = "master" if name == "transactions" else "transactions"
    share = join.get(f"share_in_{other}")
    if share is None or share >= rules.min_join_share:
        return []
    customers = join.get("customers")
    found = join.get(f"in_{other}")
    missing = int(customers - found) if customers is not None and found is not None else None
    return [Breach(name, f"join_{other}", float(share), rules.min_join_share, "quality.min_join_share", "warn",
                   rows=missing)]


def find_breaches(quality: dict[str, Any], rules: QualityRules) -> list[Breach]:
    """Every limit of ``rules`` the quality summary exceeds, set-aside breaches first.

    Parameters
    ----------
    quality
        quality.json's structure; entries without ``rows_in`` (e.g. an earlier ``gate``) are ignored,
        and the ``join`` blocks are optional.
    rules
        The params' ``quality:`` section.
    """
    inputs = input_summaries(quality)
    stops = [b for name, q in inputs.items() for b in set_aside_breaches(name, q, rules)]
    warns = [b for name, q in inputs.items() for b in join_breaches(name, q, rules)]
    return stops + warns


def example_rows(quarantine: pd.DataFrame | None, source: str, reason: str, n: int = EXAMPLES_PER_REASON) -> list[str]:
    """Up to ``n`` set-aside rows of ``source`` for ``reason`` as ``file row N: raw text``."""
    if quarantine is None or quarantine.empty or not {"source", "reason"} <= set(quarantine.columns):
        return []
    rows = quarantine[(quarantine["source"] == source) & (quarantine["reason"] == reason)]
    if "source_row" in rows.columns:
        rows = rows.sort_values("source_row", kind="stable")
    lines = []
    for row in rows.head(n).to_dict("records"):
        raw = str(row.get("raw", ""))
        raw = raw if len(raw) <= RAW_CHARS else raw[: RAW_CHARS - 1] + "…"
        lines.append(f"{row.get('source_file', source)} row {row.get('source_row', '?')}: {raw}")
    return lines


def reason_fix(reason: str, source: str) -> str:
    """The fix for many rows set aside for ``reason``."""
    fix = REASON_FIXES.get(reason, f"look at the example rows and correct inputs.{source} (path, columns, format)")
    return fix.replace("<input>", source)


def input_report(name: str, q: dict[str, Any], quarantine: pd.DataFrame | None) -> list[str]:
    """The message lines of one breached input: top reasons with counts, examples and the fix."""
    rows_in = int(q.get("rows_in") or 0)
    lines = [f"{name}: {q.get('rows_quarantined', 0):,} of {rows_in:,} rows set aside"]
    top = sorted((q.get("reasons") or {}).items(), key=lambda item: (-item[1], item[0]))[:TOP_REASONS]
    for reason, n in top:
        lines.append(f"  - {reason}: {n:,} rows ({n / rows_in:.1%}); fix: {reason_fix(reason, name)}")
        lines += [f"      {example}" for example in example_rows(quarantine, name, reason)]
    return lines


def breach_line(b: Breach) -> str:
    """One breach in words, naming the params key."""
    if b.what == "set_aside":
        return f"{b.input}: {b.share:.1%} of rows set aside, above {b.key} = {b.limit:g}"
    if b.what == "reason":
        return f"{b.input}: {b.share:.1%} of rows set aside as '{b.reason}', above {b.key} = {b.limit:g}"
    return f"{b.input}: only {b.share:.1%} of customers found in {b.what.removeprefix('join_')}, below {b.key} = {b.limit:g}"


def gate_message(breaches: list[Breach], quality: dict[str, Any], quarantine: pd.DataFrame | None) -> str:
    """The stop message: the breaches, then per input the top reasons with example rows and fixes."""
    stops = [b for b in breaches if b.severity == "stop"]
    lines = ["The data-quality gate stopped the run: too many input rows were set aside."]
    lines += [f"* {breach_line(b)}" for b in stops]
    inputs = input_summaries(quality)
    for name in dict.fromkeys(b.input for b in stops):
        lines += input_report(name, inputs[name], quarantine)
    lines.append(
        "Fix the inputs (see the fixes above and quarantine.parquet for every set-aside row), or, if these "
        "losses are expected, raise the limit named above in the params' quality: section, or set "
        "quality.on_breach: warn to run on and show the breaches on the report's first page."
    )
    return "\n".join(lines)


def enforce(
    breaches: list[Breach], quality: dict[str, Any], quarantine_df: pd.DataFrame | None, on_breach: str
) -> None:
    """Apply the gate to the ``breaches`` :func:`find_breaches` found: stop on a set-aside breach
    when ``on_breach`` is ``stop``; join-rate breaches are warnings and never stop.

    Parameters
    ----------
    breaches
        What :func:`find_breaches` returned for ``quality``.
    quality
        quality.json's structure (per input rows and reasons; optional ``join`` blocks).
    quarantine_df
        quarantine.parquet's rows (``source``, ``source_file``, ``source_row``, ``reason``, ``raw``),
        for the example rows of the message; may be None.
    on_breach
        The params' ``quality.on_breach``: ``stop`` or ``warn``.

    Raises
    ------
    QualityGateError
        With ``on_breach: stop`` and a set-aside share above its limit; the message lists the top
        reasons with counts, three example rows each (file, row, raw text) and the key or the fix.
    """
    if on_breach == "stop" and any(b.severity == "stop" for b in breaches):
        raise QualityGateError(gate_message(breaches, quality, quarantine_df))
