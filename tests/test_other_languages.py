"""The report's other languages, rendered by a process of their own beside the runner's first page."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from analysis.frame import catalog
from analysis.frame.runner import REPORT_TRACEBACK, _build_report, _StepFailed
from analysis.frame.study import open_study
from analysis.report.build import render_report
from analysis.report.other_languages import OtherLanguages

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
GENERATED = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC")  # the page's "generated" minute


def published_sample(out_root: Path):
    return open_study(ROOT / "params/sample.yaml", out_root)


def without_time(page: str) -> str:
    return GENERATED.sub("<minute>", page)


def test_the_other_language_page_is_the_page_rendered_here(sample_report, out_root):
    """The runner's English page, written by the other process, is the page this process renders."""
    study = published_sample(out_root)
    written = (sample_report.parent / "index.en.html").read_text(encoding="utf-8")
    assert without_time(written) == without_time(render_report(study, "en"))


def params_without_outputs(tmp_path: Path) -> tuple[Path, Path]:
    """The sample's params with every output redirected to an empty folder (nothing to report on)."""
    params = yaml.safe_load((ROOT / "params/sample.yaml").read_text(encoding="utf-8"))
    params["allow_outside_project"] = True
    for role in params["inputs"].values():  # the inputs stay the sample's, named absolutely
        role["path"] = str(ROOT / role["path"])
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    return path, tmp_path / "out"


def test_a_failed_other_language_fails_the_report_step_with_its_traceback(tmp_path, monkeypatch):
    params, out = params_without_outputs(tmp_path)
    study = open_study(params, out)
    study.output(catalog.TIERING_JSON).write_text("{not json", encoding="utf-8")
    # this process's own page "renders"; the other process cannot read the tiers
    monkeypatch.setattr("analysis.report.build.render_report", lambda *a, **k: "<html></html>")
    with OtherLanguages(study, str(out)) as others, pytest.raises(_StepFailed) as failed:
        _build_report(study, others)
    assert "with OtherLanguagesFailed: the report in en failed:" in failed.value.summary
    saved = (study.reports_dir / REPORT_TRACEBACK).read_text(encoding="utf-8")
    assert "Traceback (most recent call last)" in saved and "render_report" in saved
    assert (study.reports_dir / "index.html").is_file() and not study.report_page("en").exists()


def test_the_process_renders_only_when_told(tmp_path):
    """A run that stops before its report closes the process's input: it ends and writes nothing; one
    closed while it waits is ended and reaped."""
    params, out = params_without_outputs(tmp_path)
    study = open_study(params, out)
    ended = subprocess.run(
        [sys.executable, "-m", "analysis.report.other_languages", str(params), "en", "--out", str(out),
         "--parent", str(os.getpid())],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120,
    )
    assert ended.returncode == 0, ended.stderr
    assert not study.report_page("en").exists()
    others = OtherLanguages(study, str(out))
    process = others._process
    others.close()
    assert process.poll() is not None and not study.report_page("en").exists()


def test_the_process_ends_with_the_runner(sample_report, out_root, tmp_path):
    """The runner killed while the other language renders: the process ends too, its page unwritten."""
    out = tmp_path / "out"  # a copy of the published sample run, whose pages are not touched
    for part in ("data/processed/sample", "reports/sample"):
        shutil.copytree(out_root / part, out / part)
    study = open_study(ROOT / "params/sample.yaml", out)
    study.report_page("en").unlink()
    pid_file = tmp_path / "child.pid"
    script = textwrap.dedent(f"""
        import os, signal, time
        from pathlib import Path
        from analysis.frame.study import open_study
        from analysis.report.other_languages import OtherLanguages
        others = OtherLanguages(open_study({str(ROOT / "params/sample.yaml")!r}, {str(out)!r}), {str(out)!r})
        Path({str(pid_file)!r}).write_text(str(others._process.pid))
        time.sleep(3)  # its imports done: it waits to be told
        others.render()
        time.sleep(0.5)  # rendering
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    runner = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert runner.returncode == -signal.SIGKILL, runner.stderr
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 2
    while _running(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(child), "the other languages' process outlived the runner"
    assert not study.report_page("en").exists()


def _running(pid: int) -> bool:
    psutil = pytest.importorskip("psutil")
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
