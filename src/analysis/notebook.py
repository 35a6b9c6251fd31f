"""What every analyst notebook starts with: its study, how figures and tables are shown.

A notebook's set-up cell is::

    from analysis.notebook import readable, start
    study = start(params_path, out_root)

:func:`start` opens the study the runner (or the analyst, in JupyterLab) points the notebook at and
says which run it is. Tables are shown through :func:`readable` (three significant figures, see
:mod:`analysis.report.readable`), so a notebook's stored outputs hold no digits that differ between
CPUs. Stage results hold no language: :func:`render` shows a message (a skipped analysis, a
verdict) and :func:`localize` a table in the notebook's language. Charts from :mod:`analysis.report.charts` appear inline: in a notebook kernel matplotlib keeps
its inline backend. :func:`start` also turns transparent huge pages off for the kernel, as the runner
does for the kernels it starts (:func:`analysis.methods.memory.without_transparent_huge_pages`).
"""

from __future__ import annotations

from pathlib import Path

from IPython.display import display

from analysis.frame.study import Study, open_study
from analysis.i18n import render
from analysis.methods.memory import without_transparent_huge_pages
from analysis.report.localize import localize, tier_names
from analysis.report.readable import money_units, percent, readable, readable_text

__all__ = ["display", "localize", "money_units", "percent", "readable", "readable_text", "render", "start", "tier_names"]


def start(params_path: str | Path, out_root: str | Path | None = "") -> Study:
    """Open the notebook's study (``out_root`` "" means the params' own folders) and print its run line."""
    study = open_study(params_path, out_root or None)
    without_transparent_huge_pages()  # a kernel the analyst started: from here on
    p = study.params
    print(f"Run '{p.run}': {p.period.start} to {p.period.end}, language {p.language}")
    return study
