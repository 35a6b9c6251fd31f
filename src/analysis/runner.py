"""Run a whole study: the notebooks in order with Papermill, their HTML, the report and the manifest.

Each notebook receives the same two parameters (``params_path``, ``out_root``) and talks to the
others only through ``data/processed/<run>/``. The first failing stage stops the run; its error is
shown plainly with the executed notebook's path, so the analyst can open it at the failing cell.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import platform
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import io
from .study import Study, open_study

NOTEBOOK_DIR = Path(__file__).resolve().parents[2] / "notebooks"
STAGES = ("01_clean", "02_rfm_clv", "03_tiers", "04_satisfaction_loyalty", "05_allocation")
RECORDED_PACKAGES = (
    "pandas", "numpy", "scipy", "scikit-learn", "duckdb", "pyspark", "matplotlib", "seaborn",
    "papermill", "nbconvert", "pydantic", "pyarrow",
)


class StageFailed(RuntimeError):
    """A notebook stage raised: the message names the stage, the cell and the error."""


@dataclass
class StageTiming:
    stage: str
    seconds: float
    status: str


@dataclass
class RunRecord:
    study: Study
    started: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    stages: list[StageTiming] = field(default_factory=list)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in RECORDED_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def write_manifest(record: RunRecord, status: str) -> Path:
    p = record.study.params
    inputs = {
        name: {"path": str(spec.path), "sha256": sha256(spec.path), "bytes": spec.path.stat().st_size}
        for name in ("transactions", "customers", "surveys", "complaints")
        for spec in [getattr(p.inputs, name)]
        if spec is not None
    }
    manifest: dict[str, Any] = {
        "run": p.run,
        "status": status,
        "started": record.started,
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "params_file": str(record.study.params_path),
        "params": p.model_dump(mode="json"),
        "seed": p.seed,
        "inputs": inputs,
        "packages": package_versions(),
        "platform": platform.platform(),
        "stages": [t.__dict__ for t in record.stages],
        "total_seconds": round(sum(t.seconds for t in record.stages), 2),
    }
    return io.write_json(manifest, record.study.reports_dir / "manifest.json")


def export_notebook_html(notebook: Path, target: Path) -> Path:
    """The executed notebook as HTML with its code, for analysts and reviewers."""
    import nbformat
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nbformat.read(notebook, as_version=4))
    return io.write_text(body, target)


def _execute(study: Study, stage: str, out_root: str, progress: bool) -> Path:
    import papermill as pm

    target = study.reports_dir / "notebooks" / f"{stage}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        pm.execute_notebook(
            str(NOTEBOOK_DIR / f"{stage}.ipynb"),
            str(target),
            parameters={"params_path": str(study.params_path), "out_root": out_root},
            cwd=str(NOTEBOOK_DIR),
            progress_bar=progress,
            kernel_name="python3",
        )
    except pm.PapermillExecutionError as exc:
        export_notebook_html(target, target.with_suffix(".html"))
        raise StageFailed(
            f"stage {stage} failed in cell {exc.exec_count}: {exc.ename}: {exc.evalue}\n"
            f"  Open {target.with_suffix('.html')} (or the .ipynb) to see the cell and its traceback."
        ) from None
    return target


def run_study(
    params_path: str | Path,
    *,
    out_root: str | Path | None = None,
    stages: tuple[str, ...] = STAGES,
    progress: bool = True,
) -> Path:
    """Run the stages in order and build the manager report; return the report's path.

    The params are validated before any work. Writes ``reports/<run>/notebooks/*.ipynb|html``,
    ``reports/<run>/index.html`` and ``reports/<run>/manifest.json``.
    """
    from .report import build_report

    study = open_study(params_path, out_root)
    record = RunRecord(study)
    root_arg = str(Path(out_root).resolve()) if out_root else ""
    total = len(stages) + 1
    for number, stage in enumerate(stages, start=1):
        _say(f"[{number}/{total}] {stage} …")
        started = time.perf_counter()
        try:
            executed = _execute(study, stage, root_arg, progress)
        except StageFailed:
            record.stages.append(StageTiming(stage, round(time.perf_counter() - started, 2), "failed"))
            write_manifest(record, status=f"failed at {stage}")
            raise
        export_notebook_html(executed, executed.with_suffix(".html"))
        seconds = round(time.perf_counter() - started, 2)
        record.stages.append(StageTiming(stage, seconds, "ok"))
        _say(f"[{number}/{total}] {stage} done in {seconds:.1f} s")
    _say(f"[{total}/{total}] report …")
    started = time.perf_counter()
    report = build_report(study)
    record.stages.append(StageTiming("report", round(time.perf_counter() - started, 2), "ok"))
    write_manifest(record, status="ok")
    return report


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
