"""The building blocks of the manager report: a section and the HTML fragments it is made of.

Each function returns an HTML fragment with its text escaped; :mod:`analysis.report.sections` builds
the sections from them and :mod:`analysis.report.build` renders the page.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field

import pandas as pd

from analysis.report import charts


@dataclass
class Section:
    id: str
    title: str
    blocks: list[str] = field(default_factory=list)


def paragraph(content: str, css: str | None = None) -> str:
    cls = f' class="{css}"' if css else ""
    return f"<p{cls}>{html.escape(content)}</p>"


def bullets(items: list[str]) -> str:
    return '<ul class="bullets">' + "".join(f"<li>{html.escape(i)}</li>" for i in items) + "</ul>"


def figure_cards(cards: list[tuple[str, str]]) -> str:
    """Headline figures as (value, label) cards."""
    inner = "".join(
        f'<div class="figure"><div class="value">{html.escape(v)}</div><div class="label">{html.escape(label)}</div></div>'
        for v, label in cards
    )
    return f'<div class="figures">{inner}</div>'


def thin(content: str) -> str:
    """A figure from too few answers: greyed (css class ``thin``), never a headline."""
    return f'<span class="thin">{html.escape(content)}</span>'


def table(df: pd.DataFrame, *, formats: dict[str, str] | None = None, row_css: list[str | None] | None = None) -> str:
    """A DataFrame as an HTML table; ``formats`` maps a column to a format spec such as ',.0f' or '.1%'.

    Numeric columns are right-aligned, text columns left-aligned; a missing or non-finite value
    shows as "—". ``row_css`` gives each row a css class (e.g. ``thin`` for figures from too few answers).
    """
    formats = formats or {}
    numeric = {c for c in df.columns if pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])}

    def cell(column: str, value: object) -> str:
        if value is None or (not isinstance(value, (list, tuple)) and pd.isna(value)) or (
            isinstance(value, float) and not math.isfinite(value)
        ):
            shown = "—"
        elif column in formats:
            shown = format(value, formats[column])
        elif isinstance(value, float):
            shown = f"{value:,.2f}"
        else:
            shown = str(value)
        css = ' class="num"' if column in numeric else ""
        return f"<td{css}>{html.escape(shown)}</td>"

    num_th, plain_th = '<th class="num">', "<th>"
    head = "".join(f"{num_th if c in numeric else plain_th}{html.escape(str(c))}</th>" for c in df.columns)
    classes = row_css if row_css is not None else [None] * len(df)
    body = "".join(
        (f'<tr class="{css}">' if css else "<tr>") + "".join(cell(c, v) for c, v in zip(df.columns, row)) + "</tr>"
        for row, css in zip(df.itertuples(index=False, name=None), classes)
    )
    return f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def image(fig, alt: str) -> str:
    return f'<img src="{charts.to_data_uri(fig)}" alt="{html.escape(alt)}">'
