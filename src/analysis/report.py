"""The manager report: one self-contained HTML file, no code, every image embedded.

The report is a list of sections, each built from the stage outputs in ``data/processed/<run>/``
by a function that returns ``None`` when the run lacks that part. Sections are rendered with a
Jinja2 template (``templates/report.html.j2``); every text comes from :mod:`analysis.i18n`.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import jinja2
import pandas as pd

from . import charts, datasets, io
from .i18n import reason_label, text
from .study import Study

LANGUAGE_NAMES = {"zh": "中文", "en": "English"}


@dataclass
class Section:
    id: str
    title: str
    blocks: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# Building blocks: each returns an HTML fragment.


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


def table(df: pd.DataFrame, *, formats: dict[str, str] | None = None) -> str:
    """A DataFrame as an HTML table; ``formats`` maps a column to a format spec such as ',.0f' or '.1%'.

    Numeric columns are right-aligned, text columns left-aligned.
    """
    formats = formats or {}
    numeric = {c for c in df.columns if pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])}

    def cell(column: str, value: object) -> str:
        if value is None or (not isinstance(value, (list, tuple)) and pd.isna(value)):
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
    body = "".join(
        "<tr>" + "".join(cell(c, v) for c, v in zip(df.columns, row)) + "</tr>"
        for row in df.itertuples(index=False, name=None)
    )
    return f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def image(fig, alt: str) -> str:
    return f'<img src="{charts.to_data_uri(fig)}" alt="{html.escape(alt)}">'


# ---------------------------------------------------------------------------------------------
# Sections.


def quality_section(study: Study, language: str) -> Section | None:
    path = study.output(datasets.QUALITY)
    if not path.is_file():
        return None
    quality = io.read_json(path)
    section = Section("data-quality", text("quality_title", language), [paragraph(text("quality_intro", language))])
    sentences = [
        text("quality_sentence", language, input=text(f"input_{name}", language),
             kept_share=(q["rows_kept"] / q["rows_in"]) if q["rows_in"] else 0.0, **q)
        for name, q in quality.items()
    ]
    section.blocks.append(bullets(sentences))
    rows = [
        {
            text("col_input", language): text(f"input_{name}", language),
            text("col_reason", language): reason_label(reason, language),
            text("col_rows", language): n,
        }
        for name, q in quality.items()
        for reason, n in q["reasons"].items()
    ]
    if rows:
        section.blocks.append(table(pd.DataFrame(rows), formats={text("col_rows", language): ","}))
    section.blocks.append(image(charts.quality_chart(datasets.quality_table(quality), language), text("chart_quality", language)))
    return section


def render_report(study: Study, language: str | None = None) -> str:
    language = language or study.params.language
    charts.use_theme()
    from .report_sections import BUILDERS, RunOutputs

    outputs = RunOutputs(study, language)
    sections = [s for build in BUILDERS if (s := build(study, language, outputs)) is not None]
    p = study.params
    template = jinja2.Environment(
        loader=jinja2.PackageLoader("analysis", "templates"), autoescape=jinja2.select_autoescape(["html"])
    ).get_template("report.html.j2")
    page = template.render(
        language=language,
        title=p.title if p.title else text("report_title", language),
        period=text("period", language, start=p.period.start, end=p.period.end),
        generated=text("generated", language, when=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), run=p.run),
        toc=text("toc", language),
        sections=[{"id": s.id, "title": s.title, "blocks": [jinja2.utils.markupsafe.Markup(b) for b in s.blocks]} for s in sections],
        footer=text("report_title", language),
        other_languages=[
            {"href": report_path(study, other).name, "label": LANGUAGE_NAMES[other]}
            for other in dict.fromkeys([p.language, *p.report_also_in])
            if other != language
        ],
    )
    return page.replace("/*EMBEDDED-FONT*/", charts.embedded_font_css(page), 1)


def report_path(study: Study, language: str) -> Path:
    """index.html in the run's language, index.<lang>.html in each of ``report_also_in``."""
    name = "index.html" if language == study.params.language else f"index.{language}.html"
    return study.reports_dir / name


def build_report(study: Study) -> Path:
    """Write the report in the run's language and in each ``report_also_in`` language; return the first."""
    languages = dict.fromkeys([study.params.language, *study.params.report_also_in])
    for language in languages:
        io.write_text(render_report(study, language), report_path(study, language))
    return report_path(study, study.params.language)
