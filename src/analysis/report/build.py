"""The manager report: one self-contained HTML file, no code, every image embedded.

The report is a list of sections, each built from the stage outputs in ``data/processed/<run>/``
by a function of :mod:`analysis.report.sections` that returns ``None`` when the run lacks that part
(their HTML fragments come from :mod:`analysis.report.blocks`). Sections are rendered with a
Jinja2 template (``templates/report.html.j2``); every text comes from :mod:`analysis.i18n`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2

from analysis.frame import storage
from analysis.frame.study import Study
from analysis.i18n import text
from analysis.report import charts
from analysis.report.other_languages import OtherLanguages, report_languages
from analysis.report.sections import BUILDERS, RunOutputs

LANGUAGE_NAMES = {"zh": "中文", "en": "English"}


def render_report(study: Study, language: str | None = None, shared: dict[str, Any] | None = None) -> str:
    """The report in ``language``; ``shared`` keeps what does not depend on the language for the next one."""
    language = language or study.params.language
    charts.use_theme()
    outputs = RunOutputs(study, language, shared)
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
            {"href": study.report_page(other).name, "label": LANGUAGE_NAMES[other]}
            for other in report_languages(p)
            if other != language
        ],
    )
    return page.replace("/*EMBEDDED-FONT*/", charts.embedded_font_css(page), 1)


def build_report(study: Study, others: OtherLanguages | None = None) -> Path:
    """Write the report in the run's language and in each ``report_also_in`` language; return the first.

    With ``others`` (started for this study) the languages after the first are rendered by its
    process, beside this one's; without, here, one after the other."""
    languages = report_languages(study.params)
    if others is not None and others.languages:
        others.render()
        languages = languages[:1]
    shared: dict[str, Any] = {}
    for language in languages:
        storage.write_text(render_report(study, language, shared), study.report_page(language))
    if others is not None:
        others.wait()
    return study.report_page()
