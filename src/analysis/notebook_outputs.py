"""Keep the notebooks in git with the text outputs of the sample run, so nbval can check them.

Papermill's injected-parameters cell, execution metadata and image outputs are removed: nbval does
not compare images and they would bloat the history.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

from . import io
from .runner import NOTEBOOK_DIR

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
                for mime in [m for m in data if m.startswith("image/")]:
                    del data[mime]
                out.pop("metadata", None)
                out["metadata"] = {}
                if not data:
                    continue
            outputs.append(out)
        cell.outputs = outputs
    return nb


def store_outputs(executed_dir: Path, notebook_dir: Path = NOTEBOOK_DIR) -> list[Path]:
    stored = []
    for executed in sorted(Path(executed_dir).glob("[0-9][0-9]_*.ipynb")):
        nb = strip_for_storage(nbformat.read(executed, as_version=4))
        target = notebook_dir / executed.name
        io.write_text(nbformat.writes(nb) + "\n", target)
        stored.append(target)
    return stored
