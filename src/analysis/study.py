"""A study: the validated params of one run and where its stage outputs live.

Stages talk only through the files in ``data/processed/<run>/``; :class:`Study` names them, so a
notebook never builds a path by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .params import StudyParams, load_params, with_output_root


@dataclass(frozen=True)
class Study:
    params: StudyParams
    params_path: Path

    @property
    def run(self) -> str:
        return self.params.run

    @property
    def processed_dir(self) -> Path:
        return self.params.output.processed_dir / self.params.run

    @property
    def reports_dir(self) -> Path:
        return self.params.output.reports_dir / self.params.run

    def output(self, name: str) -> Path:
        """Path of a stage output, e.g. ``study.output("customers.parquet")``."""
        return self.processed_dir / name

    def previous_output(self, name: str) -> Path | None:
        """The same output of the run named in ``tiering.previous_run``, if it exists."""
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


def open_study(params_path: str | Path, out_root: str | Path | None = None) -> Study:
    """Load and validate ``params_path``; ``out_root`` (or $TIERING_OUT_ROOT) redirects all outputs."""
    params = with_output_root(load_params(params_path), out_root)
    study = Study(params=params, params_path=Path(params_path).resolve())
    study.processed_dir.mkdir(parents=True, exist_ok=True)
    study.reports_dir.mkdir(parents=True, exist_ok=True)
    return study
