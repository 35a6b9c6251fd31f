"""Keep the notebooks in git with the text outputs of the sample run, so nbval can check them.

Papermill's injected-parameters cell, execution metadata and chart outputs are removed: nbval does
not compare images, they would bloat the history, and nbval's kernel draws off-screen (the test
session sets ``MPLBACKEND=Agg``), so it shows no charts to compare with.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

from analysis.frame import storage
from analysis.frame.runner import NOTEBOOK_DIR

_VOLATILE_METADATA = ("papermill", "execution", "widgets")


def strip_for_storage(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    nb.cells = [c for c in nb.cells if "injected-parameters" not in c.get("metadata", {}).get("tags", [])]
    for key in _VOLATILE_METADATA:
        nb.metadata.pop(key, None)
    for cell in nb.cells:
        for key in _VOLATILE_METADATA:
            cell.metadata.pop(key, None)
        if cell.cell_type != "code":
            continue
        outputs = []
        for out in cell.outputs:
            data = out.get("data")
            if data is not None:
                if any(mime.startswith("image/") for mime in data):
                    continue  # a chart: its image and its "<Figure …>" text go together
                out["metadata"] = {}
            outputs.append(out)
        cell.outputs = outputs
    return nb


def store_outputs(executed_dir: Path, notebook_dir: Path = NOTEBOOK_DIR) -> list[Path]:
    """Store the text outputs of the executed notebooks in ``executed_dir`` into ``notebook_dir``.

    Parameters
    ----------
    executed_dir
        A run's executed notebooks: ``data/processed/<run>/notebooks/`` (the analyst's side).
    notebook_dir
        The project's notebooks, ``notebooks/``.

    Returns
    -------
    list of Path
        The notebooks written.

    Raises
    ------
    FileNotFoundError
        When ``executed_dir`` holds no executed notebook.
    """
    executed_dir = Path(executed_dir)
    if not any(executed_dir.glob("[0-9][0-9]_*.ipynb")):
        raise FileNotFoundError(
            f"{executed_dir} holds no executed notebook (01_clean.ipynb, …): run the study first, "
            "e.g. `python -m analysis run params/sample.yaml`; a run leaves them in data/processed/<run>/notebooks/"
        )
    stored = []
    for executed in sorted(Path(executed_dir).glob("[0-9][0-9]_*.ipynb")):
        nb = strip_for_storage(nbformat.read(executed, as_version=4))
        target = notebook_dir / executed.name
        storage.write_text(nbformat.writes(nb) + "\n", target)
        stored.append(target)
    return stored
