"""The executed analyst notebooks: every chart a notebook builds is shown in it and in its HTML."""

import re

import nbformat
import pytest

from analysis.frame.runner import STAGES

pytestmark = pytest.mark.slow
EMBEDDED_IMAGE = re.compile(r'<img[^>]+src="data:image/png;base64,')


def charts_built(notebook: nbformat.NotebookNode) -> int:
    """Charts the notebook draws: each `fig = charts.…(…)` line of its code cells."""
    return sum(
        len(re.findall(r"^\s*fig = charts\.", cell.source, flags=re.MULTILINE))
        for cell in notebook.cells
        if cell.cell_type == "code"
    )


@pytest.mark.parametrize("stage", STAGES)
def test_every_chart_a_notebook_builds_is_shown_in_its_html(sample_report, stage):
    # On the sample every branch runs (surveys, complaints and a previous quarter are all there).
    executed = sample_report.parents[2] / "data/processed" / sample_report.parent.name / "notebooks" / f"{stage}.ipynb"
    notebook = nbformat.read(executed, as_version=4)
    images = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    html = executed.with_suffix(".html").read_text(encoding="utf-8")
    assert charts_built(notebook) > 0
    assert len(images) == charts_built(notebook)
    assert len(EMBEDDED_IMAGE.findall(html)) == charts_built(notebook)
