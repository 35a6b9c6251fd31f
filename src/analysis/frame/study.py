"""A study: the validated params of one run and where its stage outputs live.

Stages talk only through the files in ``data/processed/<run>/``, each listed in
:mod:`analysis.frame.catalog`; :class:`Study` reads and writes them by their catalog name
(:meth:`Study.read`, :meth:`Study.write`), so a notebook never builds a path by hand.

Published and staged outputs
----------------------------
A run is all or nothing. The runner (:mod:`analysis.frame.runner`) gives each attempt an id and sets
``$TIERING_STAGING`` to it for the notebook kernels it starts; a :class:`Study` opened with that id
writes into the attempt's staging folders::

    data/processed/.staging/<run>/<attempt>/     stage outputs, executed notebooks and their HTML
    reports/.staging/<run>/<attempt>/            the manager report and the manifest

Only when every stage and the report succeeded does :func:`publish` move them onto
``data/processed/<run>/`` and ``reports/<run>/`` (a rename per folder; the previous outputs are kept
until both folders are in place, then removed). A failed or killed attempt leaves the published
outputs untouched; the next run of the same name removes its leftovers.

Without ``$TIERING_STAGING`` (a notebook run by hand in JupyterLab, or by nbval) a study reads and
writes the published folders directly. :meth:`Study.previous_output` always reads the published
outputs of the previous run.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.frame import catalog, storage
from analysis.frame.params import (
    STAGING_FOLDER,
    ParamsError,
    StudyParams,
    load_params,
    output_overlap_problems,
    with_output_root,
)
from analysis.methods.cores import in_threads

#: Set by the runner for the notebook kernels it starts: the id of the attempt whose staging folders to use.
STAGING_ENV = "TIERING_STAGING"
_JOURNAL = "publishing.json"
_PREVIOUS_PREFIX = "previous-"


@dataclass(frozen=True)
class Study:
    """The params of one run and its folders; ``attempt`` set means: write into that attempt's staging."""

    params: StudyParams
    params_path: Path
    attempt: str | None = None

    @property
    def run(self) -> str:
        return self.params.run

    @property
    def published_processed_dir(self) -> Path:
        """``data/processed/<run>/``: the outputs of the last run that succeeded."""
        return self.params.output.processed_dir / self.run

    @property
    def published_reports_dir(self) -> Path:
        """``reports/<run>/``: the manager report and manifest of the last run that succeeded."""
        return self.params.output.reports_dir / self.run

    @property
    def processed_staging_root(self) -> Path:
        """``data/processed/.staging/<run>/``: every attempt's stage outputs, the lock and the publish journal."""
        return self.params.output.processed_dir / STAGING_FOLDER / self.run

    @property
    def reports_staging_root(self) -> Path:
        return self.params.output.reports_dir / STAGING_FOLDER / self.run

    @property
    def processed_dir(self) -> Path:
        """Where stage outputs are read and written: the attempt's staging folder, or the published one."""
        if self.attempt:
            return self.processed_staging_root / self.attempt
        return self.published_processed_dir

    @property
    def reports_dir(self) -> Path:
        if self.attempt:
            return self.reports_staging_root / self.attempt
        return self.published_reports_dir

    def report_page(self, language: str | None = None) -> Path:
        """The manager report in ``language`` (default: the run's): ``index.html`` in the run's
        language, ``index.<language>.html`` in each of ``report_also_in``."""
        language = language or self.params.language
        return self.reports_dir / ("index.html" if language == self.params.language else f"index.{language}.html")

    def output(self, name: str) -> Path:
        """Path of a run output listed in the catalog, e.g. ``study.output(catalog.CUSTOMERS)``.

        Outputs live in the processed folder, the manifest in the reports folder.

        Raises
        ------
        analysis.frame.catalog.UnknownOutputError
            When ``name`` is not in :mod:`analysis.frame.catalog`.
        """
        folder = self.reports_dir if catalog.entry(name).folder == "reports" else self.processed_dir
        return folder / name

    def previous_output(self, name: str) -> Path | None:
        """The same output of the run named in ``tiering.previous_run`` as published, if it exists."""
        catalog.entry(name)
        previous = self.params.tiering.previous_run
        if not previous:
            return None
        path = self.params.output.processed_dir / previous / name
        return path if path.is_file() else None

    def require(self, name: str) -> Path:
        """Path of an earlier stage's output; a clear error when that stage has not run."""
        path = self.output(name)
        if not path.is_file():
            raise FileNotFoundError(
                f"{path} is missing: the stage that writes {name} has not run for '{self.run}'. "
                f"Run the whole study with `python -m analysis run {self.params_path}`."
            )
        return path

    def read(self, name: str, columns: Sequence[str] | None = None) -> Any:
        """A run output by its catalog name: a DataFrame (parquet), the parsed object (json) or a string (text).

        ``columns`` reads only those columns of a parquet output (in the file's order; a name the
        file lacks is left out), so a stage needing a few columns of a large table does not hold it all.

        Raises
        ------
        FileNotFoundError
            When the stage that writes it has not run (see :meth:`require`).
        analysis.frame.catalog.UnknownOutputError
            When ``name`` is not in :mod:`analysis.frame.catalog`.
        """
        return _read(catalog.entry(name), self.require(name), columns)

    def read_optional(self, name: str, columns: Sequence[str] | None = None) -> Any | None:
        """:meth:`read`, or None when the file is not there (an optional input, a skipped analysis)."""
        path = self.output(name)
        return _read(catalog.entry(name), path, columns) if path.is_file() else None

    def read_previous(self, name: str, columns: Sequence[str] | None = None) -> Any | None:
        """The output ``name`` of ``tiering.previous_run`` as published, or None when there is none
        (``columns``: as :meth:`read`'s)."""
        path = self.previous_output(name)
        return _read(catalog.entry(name), path, columns) if path is not None else None

    def write(self, name: str, obj: Any) -> Path:
        """Write ``obj`` as the run output ``name``, atomically, in the catalog's format; return its path.

        A DataFrame for parquet (written without its index and attrs), a JSON-serialisable object for
        json, a string for text.
        """
        path = self.output(name)
        fmt = catalog.entry(name).format
        if fmt == "parquet":
            if not isinstance(obj, pd.DataFrame):
                raise TypeError(f"{name} is stored as parquet: write a DataFrame, not {type(obj).__name__}")
            return storage.write_parquet(obj, path)
        if fmt == "json":
            return storage.write_json(obj, path)
        if not isinstance(obj, str):
            raise TypeError(f"{name} is stored as text: write a string, not {type(obj).__name__}")
        return storage.write_text(obj, path)

    @contextmanager
    def writing(self, name: str) -> Iterator[Path]:
        """A temporary file for the output ``name``, written by the block in the catalog's format (for a
        table written as it is made) and renamed onto the output when the block succeeds."""
        with storage.atomic_path(self.output(name)) as tmp:
            yield tmp

    def write_each(self, outputs: Mapping[str, Any]) -> list[Path]:
        """:meth:`write` each of ``outputs`` (name → object), side by side on the usable cores: parquet is
        encoded outside the interpreter lock (stage 1's five tables at 10M rows: 3.8 s against 4.2)."""
        return list(in_threads(lambda item: self.write(*item), outputs.items()))

    def remove(self, name: str) -> None:
        """Delete the output ``name`` if it is there, so an earlier run's file cannot leak into this one."""
        self.output(name).unlink(missing_ok=True)


def _read(entry: catalog.Output, path: Path, columns: Sequence[str] | None = None) -> Any:
    if entry.format == "parquet":
        if columns is None:
            return storage.read_parquet(path)
        return storage.read_parquet(path, columns=storage.columns_present(path, columns))
    if entry.format == "json":
        return storage.read_json(path)
    return path.read_text(encoding="utf-8")


def open_study(
    params_path: str | Path, out_root: str | Path | None = None, *, attempt: str | None = None
) -> Study:
    """Load and validate ``params_path``; ``out_root`` (or $TIERING_OUT_ROOT) redirects all outputs.

    ``attempt`` (default: ``$TIERING_STAGING``) makes the study write into that attempt's staging
    folders; without it the study uses the published folders.
    """
    params = load_params(params_path)
    redirect = out_root or os.environ.get("TIERING_OUT_ROOT") or None
    if redirect:
        params = with_output_root(params, redirect)
        problems = output_overlap_problems(params, set_by="--out (or $TIERING_OUT_ROOT)")
        if problems:
            raise ParamsError(f"{params_path}: {len(problems)} problem(s):\n  - " + "\n  - ".join(problems))
    study = Study(params=params, params_path=Path(params_path).resolve(), attempt=attempt or os.environ.get(STAGING_ENV) or None)
    study.processed_dir.mkdir(parents=True, exist_ok=True)
    study.reports_dir.mkdir(parents=True, exist_ok=True)
    return study


# ---------------------------------------------------------------------------------------------
# Publishing an attempt: staging folders renamed onto the published ones.


@dataclass(frozen=True)
class _Move:
    """One staging folder and the published folder it replaces; ``previous`` holds the old one meanwhile."""

    staging: Path
    published: Path
    previous: Path


def _moves(study: Study, attempt: str) -> list[_Move]:
    return [
        _Move(root / attempt, published, root / f"{_PREVIOUS_PREFIX}{attempt}")
        for root, published in (
            (study.processed_staging_root, study.published_processed_dir),
            (study.reports_staging_root, study.published_reports_dir),
        )
    ]


def publish(study: Study, then: Callable[[Study], None] | None = None) -> None:
    """Replace the run's published folders by the attempt's staging folders, then call ``then``.

    A journal written first makes the swap resumable: if the process dies midway,
    :func:`recover_publish` (called by the next run) completes it, so the published folders are
    never left half old, half new. ``then`` (the runner adds the quarter to the study history) is
    called with the published study once the folders are in place, before the journal is removed:
    it is part of the publish, done again by :func:`recover_publish` when the process died before
    it finished, so it must be idempotent. When it raises, the journal stays and the error propagates.
    """
    if not study.attempt:
        raise ValueError("publish needs a study opened with an attempt id")
    journal = study.processed_staging_root / _JOURNAL
    journal.write_text(json.dumps({"attempt": study.attempt}), encoding="utf-8")
    _complete(_moves(study, study.attempt))
    if then is not None:
        then(Study(study.params, study.params_path))
    journal.unlink()


def _complete(moves: list[_Move]) -> None:
    """Do whatever is left of the renames, then remove the previous folders."""
    for move in moves:
        if move.staging.is_dir():
            if move.published.exists():
                if move.previous.exists():
                    shutil.rmtree(move.previous)
                move.published.rename(move.previous)
            move.published.parent.mkdir(parents=True, exist_ok=True)
            move.staging.rename(move.published)
    for move in moves:
        if move.previous.exists():
            shutil.rmtree(move.previous)


def recover_publish(study: Study, then: Callable[[Study], None] | None = None) -> None:
    """Finish a publish that was cut short (the journal is still there), ``then`` included; a no-op otherwise."""
    journal = study.processed_staging_root / _JOURNAL
    if not journal.is_file():
        return
    attempt = json.loads(journal.read_text(encoding="utf-8"))["attempt"]
    _complete(_moves(study, attempt))
    if then is not None:
        then(Study(study.params, study.params_path))
    journal.unlink()


def remove_stale_attempts(study: Study) -> None:
    """Delete what earlier attempts left in the staging roots (failed or killed runs), keeping the lock."""
    for root in (study.processed_staging_root, study.reports_staging_root):
        if not root.is_dir():
            continue
        for entry in root.iterdir():
            if entry.is_dir() and entry.name != study.attempt:
                shutil.rmtree(entry, ignore_errors=True)
