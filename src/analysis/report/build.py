"""The manager report: one self-contained HTML file, no code, every image embedded.

The report is a list of sections, each built from the stage outputs in ``data/processed/<run>/``
by a function that returns ``None`` when the run lacks that part. Sections are rendered with a
Jinja2 template (``templates/report.html.j2``); every text comes from :mod:`analysis.report.i18n`.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from analysis.frame import storage
from analysis.frame.study import Study
from analysis.methods import quality_gate
from analysis.report import charts
from analysis.report.i18n import TEXTS, reason_label, text
from analysis.stages import clean
from analysis.stages.rfm_clv import EXCLUDED_CUSTOMERS

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


# ---------------------------------------------------------------------------------------------
# Sections.


def quality_section(study: Study, language: str, out: Any | None = None) -> Section | None:
    """The data-quality appendix: rows kept and set aside per input and reason, the join rates,
    the customers not tiered and the quality-gate breaches.

    ``out`` (a :class:`analysis.report.sections.RunOutputs`) supplies the run's outputs; without it
    quality.json, models.json and excluded_customers.parquet are read from the study's folder.
    """
    quality = _output(study, out, clean.QUALITY)
    if quality is None:
        return None
    inputs = quality_gate.input_summaries(quality)
    section = Section("data-quality", text("quality_title", language), [paragraph(text("quality_intro", language))])
    sentences = [
        text("quality_sentence", language, input=text(f"input_{name}", language),
             kept_share=(q["rows_kept"] / q["rows_in"]) if q["rows_in"] else 0.0, **q)
        for name, q in inputs.items()
    ]
    section.blocks.append(bullets(sentences))
    rows = [
        {
            text("col_input", language): text(f"input_{name}", language),
            text("col_reason", language): reason_label(reason, language),
            text("col_rows", language): n,
        }
        for name, q in inputs.items()
        for reason, n in q["reasons"].items()
    ]
    if rows:
        section.blocks.append(table(pd.DataFrame(rows), formats={text("col_rows", language): ","}))
    section.blocks.append(image(charts.quality_chart(clean.quality_table(inputs), language), text("chart_quality", language)))
    joins = join_sentences(inputs, language)
    if joins:
        section.blocks += [f"<h3>{html.escape(text('quality_join_title', language))}</h3>", bullets(joins)]
    gate = [gate_sentence(b, language) for b in _output(study, out, clean.QUALITY_GATE) or []
            if b.get("severity") == "stop"]
    if gate:
        section.blocks += [f"<h3>{html.escape(text('quality_gate_title', language))}</h3>", bullets(gate)]
    excluded = excluded_counts(study, out)
    if excluded:
        section.blocks.append(f"<h3>{html.escape(text('quality_excluded_title', language))}</h3>")
        section.blocks.append(paragraph(excluded_sentence(excluded, language)))
        section.blocks.append(table(pd.DataFrame({
            text("col_reason", language): [text(f"excluded_{r}", language) if f"excluded_{r}" in TEXTS else r for r in excluded],
            text("col_customers_excluded", language): list(excluded.values()),
        }), formats={text("col_customers_excluded", language): ","}))
    return section


def _output(study: Study, out: Any | None, name: str) -> Any:
    """A run output through ``out`` when given, else read from the study's folder (None when absent)."""
    if out is not None:
        return out.get(name)
    path = study.output(name)
    if not path.is_file():
        return None
    return storage.read_json(path) if name.endswith(".json") else pd.read_parquet(path)


def join_sentences(inputs: dict[str, dict[str, Any]], language: str) -> list[str]:
    """The join rates of each input, and the customers with transactions missing from the master."""
    sentences = []
    for name, q in inputs.items():
        join = q.get("join") or {}
        for other in ("master", "transactions"):
            share = join.get(f"share_in_{other}")
            if share is None:
                continue
            sentences.append(text(f"quality_join_{other}", language, input=text(f"input_{name}", language),
                                  customers=int(join.get("customers", 0)), found=int(join.get(f"in_{other}", 0)),
                                  share=float(share)))
        if "customers_not_in_master" in q:
            sentences.append(text("quality_not_in_master", language, n=int(q["customers_not_in_master"])))
    return sentences


def gate_sentence(breach: dict[str, Any], language: str) -> str:
    """One recorded quality-gate breach (quality.json → ``gate``) in words."""
    values = {"input": text(f"input_{breach['input']}", language), "share": float(breach["share"]),
              "limit": float(breach["limit"]), "param": breach["key"], "rows": int(breach.get("rows") or 0)}
    if breach["what"] == "set_aside":
        return text("gate_set_aside", language, **values)
    if breach["what"] == "reason":
        return text("gate_reason", language, reason=reason_label(str(breach.get("reason")), language), **values)
    return text(f"join_low_{breach['what'].removeprefix('join_')}", language, **values)


def excluded_counts(study: Study, out: Any | None) -> dict[str, int]:
    """Customers not tiered per reason: models.json → ``excluded_customers``, else the parquet file."""
    models = _output(study, out, clean.MODELS)
    if models and models.get("excluded_customers") is not None:
        return {str(k): int(v) for k, v in models["excluded_customers"].items() if int(v)}
    excluded = _output(study, out, EXCLUDED_CUSTOMERS)
    if excluded is None or excluded.empty:
        without = int((models or {}).get("customers_without_purchase") or 0)  # runs scored before the reasons
        return {"without_purchase": without} if without else {}
    return {str(k): int(v) for k, v in excluded["reason"].value_counts().sort_index().items()}


def excluded_sentence(counts: dict[str, int], language: str) -> str:
    """``n customers are not tiered (reason: n, ...)``."""
    joiner = "；" if language == "zh" else "; "
    reasons = joiner.join(
        text("excluded_count", language, n=n, reason=text(f"excluded_{r}", language) if f"excluded_{r}" in TEXTS else r)
        for r, n in counts.items()
    )
    return text("excluded_note", language, n=sum(counts.values()), reasons=reasons)


def render_report(study: Study, language: str | None = None) -> str:
    language = language or study.params.language
    charts.use_theme()
    from analysis.report.sections import BUILDERS, RunOutputs

    outputs = RunOutputs(study, language)
    sections = [s for build in BUILDERS if (s := build(study, language, outputs)) is not None]
    p = study.params
    template = jinja2.Environment(
        loader=jinja2.PackageLoader("analysis.report", "templates"), autoescape=jinja2.select_autoescape(["html", "html.j2"])
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
        storage.write_text(render_report(study, language), report_path(study, language))
    return report_path(study, study.params.language)
