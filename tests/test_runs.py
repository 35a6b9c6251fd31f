"""A run is all or nothing, and outputs never touch inputs.

The real command line runs on a small slice of the sample (the transactions of 300 customers). After
a good run, reruns are stopped with SIGINT and with SIGKILL during stage 2 and during the report;
every file of the last good run must stay byte for byte the same, and the next run must succeed
without any clean-up.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml

from analysis.frame import history
from analysis.frame.runner import REPORT_TRACEBACK, StageFailed, run_study

psutil = pytest.importorskip("psutil")

ROOT = Path(__file__).resolve().parents[1]
RUN = "small"
CUSTOMERS = 300
STEP_TIMEOUT = 300  # seconds to wait for a step to start
EXIT_TIMEOUT = 90  # seconds to wait for a signalled run (and its kernel) to end
RUN_TIMEOUT = 600  # seconds for a whole run of the slice
pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class SmallStudy:
    params: Path
    out: Path

    @property
    def reports(self) -> Path:
        return self.out / "reports" / RUN

    @property
    def processed(self) -> Path:
        return self.out / "data/processed" / RUN

    @property
    def staged_reports(self) -> Path:
        return self.out / "reports/.staging" / RUN

    @property
    def history(self) -> Path:
        return self.out / "reports/history.duckdb"


@dataclass(frozen=True)
class Stopped:
    returncode: int
    stderr: str
    manifest_path: Path
    manifest: dict
    kernels_left: list  # the run's kernels (the step's and the next, started ahead) alive when it exited


def _command(study: SmallStudy, *extra: str) -> list[str]:
    return [sys.executable, "-m", "analysis", "run", str(study.params), "--out", str(study.out), "--no-progress", *extra]


def run_cli(study: SmallStudy, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(_command(study, *extra), capture_output=True, text=True, timeout=RUN_TIMEOUT)


def fingerprint(*folders: Path) -> dict[str, str]:
    """SHA-256 of every file under the folders, by path."""
    return {
        str(path): hashlib.sha256(path.read_bytes()).hexdigest()
        for folder in folders
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def small_inputs(folder: Path) -> Path:
    """The transactions of the first 300 customers of the sample, under ``folder``."""
    if not (ROOT / "data/raw/sample/truth.json").is_file():
        pytest.fail("sample data missing: run `make sample-data` (make test does it for you)")
    raw = pd.read_csv(ROOT / "data/raw/sample/transactions.csv", dtype=str, encoding="utf-8-sig")
    keep = sorted(raw["客户编号"].dropna().unique())[:CUSTOMERS]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "transactions.csv"
    raw[raw["客户编号"].isin(keep)].to_csv(path, index=False)
    return path


def small_params(path: Path, transactions: Path, **changes) -> Path:
    params = yaml.safe_load((ROOT / "params/sample.yaml").read_text(encoding="utf-8"))
    params["inputs"] = {"transactions": {**params["inputs"]["transactions"], "path": str(transactions)}}
    params.update(run=RUN, report_also_in=["en"], allow_outside_project=True, **changes)
    params["tiering"].pop("previous_run", None)
    params.pop("satisfaction", None)  # no surveys in the slice
    path.write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> SmallStudy:
    """A good, published run of the slice; the tests rerun it and stop the reruns."""
    base = tmp_path_factory.mktemp("runs")
    study = SmallStudy(small_params(base / "small.yaml", small_inputs(base / "in")), base / "out")
    first = run_cli(study)
    assert first.returncode == 0, first.stderr
    assert "Kernel is running over TCP" not in first.stderr
    return study


# ---------------------------------------------------------------------------------------------
# Stopping a run at a chosen step.


def _attempt_manifest(study: SmallStudy, pid: int) -> tuple[Path, dict] | None:
    """The manifest of the attempt made by process ``pid`` (attempt ids end in the pid)."""
    for path in study.staged_reports.glob(f"*-{pid}/manifest.json"):
        try:
            return path, json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return None
    return None


def _wait_for_step(study: SmallStudy, proc: subprocess.Popen, step: str) -> None:
    deadline = time.monotonic() + STEP_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the run ended (exit {proc.returncode}) before step {step} started")
        found = _attempt_manifest(study, proc.pid)
        if found and found[1].get("status") == "running" and found[1].get("stage") == step:
            return
        time.sleep(0.05)
    pytest.fail(f"step {step} did not start within {STEP_TIMEOUT} s")


def _alive(process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _reap(processes: list) -> None:
    """Wait for the run's kernels to end (they stop when their parent dies); kill any that do not."""
    for process in processes:
        try:
            process.wait(timeout=15)
        except psutil.TimeoutExpired:
            process.kill()
        except psutil.NoSuchProcess:
            pass


def stop_run(study: SmallStudy, sig: signal.Signals, step: str, *extra: str) -> Stopped:
    """Rerun the study and send ``sig`` to it half a second into ``step``."""
    log = study.out.parent / f"{sig.name}-{step}.stderr"
    with log.open("w", encoding="utf-8") as err:
        proc = subprocess.Popen(_command(study, *extra), stdout=subprocess.DEVNULL, stderr=err)
    kernels: list = []
    try:
        _wait_for_step(study, proc, step)
        time.sleep(0.5)
        kernels = psutil.Process(proc.pid).children(recursive=True)
        proc.send_signal(sig)
        proc.wait(timeout=EXIT_TIMEOUT)
        left = [kernel for kernel in kernels if _alive(kernel)]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        _reap(kernels)
    manifest_path, manifest = _attempt_manifest(study, proc.pid)
    return Stopped(proc.returncode, log.read_text(encoding="utf-8"), manifest_path, manifest, left)


def assert_stopped_cleanly(stopped: Stopped, sig: signal.Signals, step: str) -> None:
    if sig == signal.SIGKILL:
        assert stopped.returncode == -signal.SIGKILL
        assert stopped.manifest["status"] == "running" and stopped.manifest["stage"] == step
        return
    what = "the report step" if step == "report" else f"stage {step}"
    assert stopped.returncode == 130, stopped.stderr
    assert not stopped.kernels_left, "the interrupted run left kernels running"
    assert f"interrupted: {what} was interrupted" in stopped.stderr
    assert "Nothing was published: the last good report and outputs of 'small'" in stopped.stderr
    assert str(stopped.manifest_path.parent) in stopped.stderr and "Traceback" not in stopped.stderr
    assert stopped.manifest["status"] == "failed" and stopped.manifest["failed_stage"] == step
    assert stopped.manifest["error"].startswith(f"{what} was interrupted")


# ---------------------------------------------------------------------------------------------
# The tests.


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_a_run_stopped_in_stage_2_leaves_the_last_good_run_byte_identical(small, sig):
    before = fingerprint(small.reports, small.processed)
    history_before = hashlib.sha256(small.history.read_bytes()).hexdigest()
    stopped = stop_run(small, sig, "02_rfm_clv")
    assert fingerprint(small.reports, small.processed) == before
    assert hashlib.sha256(small.history.read_bytes()).hexdigest() == history_before  # nothing added
    assert_stopped_cleanly(stopped, sig, "02_rfm_clv")
    attempt = small.out / "data/processed/.staging" / RUN / stopped.manifest_path.parent.name
    # the attempt's own partial outputs: stage 1's, its executed notebook and, unless the run was
    # killed before its thread wrote it, that notebook's HTML
    assert (attempt / "transactions.parquet").is_file() and (attempt / "notebooks/01_clean.ipynb").is_file()
    assert sig == signal.SIGKILL or (attempt / "notebooks/01_clean.html").is_file()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_a_run_stopped_in_the_report_leaves_the_last_good_run_byte_identical(small, sig):
    before = fingerprint(small.reports, small.processed)
    history_before = hashlib.sha256(small.history.read_bytes()).hexdigest()
    stopped = stop_run(small, sig, "report", "--stages", "05_allocation")  # the other stages: as published
    assert fingerprint(small.reports, small.processed) == before
    assert hashlib.sha256(small.history.read_bytes()).hexdigest() == history_before  # nothing added
    assert_stopped_cleanly(stopped, sig, "report")


def test_a_rerun_after_a_kill_needs_no_clean_up(small):
    killed = stop_run(small, signal.SIGKILL, "02_rfm_clv")
    published_before = json.loads((small.reports / "manifest.json").read_text(encoding="utf-8"))
    done = run_cli(small, "--stages", "05_allocation")  # the last stage and the report are enough to publish
    assert done.returncode == 0, done.stderr
    manifest = json.loads((small.reports / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["status"] == "ok" and manifest["attempt"] != published_before["attempt"]
    assert not killed.manifest_path.parent.exists(), "the killed attempt's leftovers were not replaced"
    for staging in (small.staged_reports, small.out / "data/processed/.staging" / RUN):
        assert not [p for p in staging.iterdir() if p.is_dir()]
    assert len(pd.read_parquet(small.processed / "customers.parquet")) == CUSTOMERS
    runs = history.list_runs(small.history)  # the quarter, replaced by the rerun, once
    assert runs["run"].tolist() == [RUN] and runs.loc[0, "attempt"] == manifest["attempt"]


def test_a_failing_report_fails_like_a_stage_and_publishes_nothing(small, monkeypatch):
    def broken_report(study, others=None):
        raise RuntimeError("the chart library is missing a font")

    monkeypatch.setattr("analysis.report.build.build_report", broken_report)
    before = fingerprint(small.reports, small.processed)
    with pytest.raises(StageFailed) as err:
        run_study(small.params, out_root=small.out, stages=(), progress=False)
    assert fingerprint(small.reports, small.processed) == before
    message = str(err.value)
    assert message.startswith("the report step failed with RuntimeError: the chart library is missing a font")
    assert f"See {err.value.manifest.parent / REPORT_TRACEBACK}" in message
    manifest = json.loads(err.value.manifest.read_text(encoding="utf-8"))
    assert manifest["status"] == "failed" and manifest["failed_stage"] == "report" and manifest["error"] == message


def test_a_failing_stage_exits_1_with_a_plain_message(tmp_path):
    params = small_params(tmp_path / "empty.yaml", small_inputs(tmp_path / "in"),
                          period={"start": "2010-01-01", "end": "2010-12-31"})
    done = run_cli(SmallStudy(params, tmp_path / "out"))
    assert done.returncode == 1
    assert "error: stage 01_clean failed in cell" in done.stderr and "Traceback" not in done.stderr
    assert "Nothing was published ('small' has no earlier good run)" in done.stderr


def test_an_output_folder_over_an_input_is_refused_and_the_input_is_untouched(tmp_path):
    transactions = small_inputs(tmp_path / "data/raw" / RUN)  # an input folder named like the run
    digest = hashlib.sha256(transactions.read_bytes()).hexdigest()
    params = small_params(tmp_path / "overlap.yaml", transactions,
                          output={"processed_dir": str(tmp_path / "data/raw"), "reports_dir": str(tmp_path / "reports")})
    env = {k: v for k, v in os.environ.items() if k != "TIERING_OUT_ROOT"}
    done = subprocess.run([sys.executable, "-m", "analysis", "run", str(params), "--no-progress"],
                          capture_output=True, text=True, env=env, timeout=RUN_TIMEOUT)
    assert done.returncode == 2
    assert "key 'output.processed_dir': the run's output folder" in done.stderr
    assert f"is the folder of inputs.transactions.path ({transactions})" in done.stderr
    assert hashlib.sha256(transactions.read_bytes()).hexdigest() == digest
    assert sorted(p.name for p in transactions.parent.iterdir()) == ["transactions.csv"]
    assert not (tmp_path / "reports").exists()


def test_a_notebook_whose_html_cannot_be_written_fails_its_own_step(tmp_path, monkeypatch):
    """The HTML is written while the next step runs; its failure still names the notebook's step."""
    from analysis.frame import runner
    from analysis.frame.study import open_study

    def step_ran(study, step, out_root, progress, kernel=None):
        notebook = tmp_path / f"{step}.ipynb"
        notebook.write_text("not a notebook" if step == "01_clean" else json.dumps(EMPTY_NOTEBOOK), encoding="utf-8")
        return notebook

    monkeypatch.setattr(runner, "_execute", step_ran)
    monkeypatch.setattr(runner.KernelsAhead, "start", lambda self, step: None)
    study = open_study(ROOT / "params/sample.yaml", tmp_path / "out", attempt="20260101T000000-1")
    with pytest.raises(StageFailed) as failed:
        runner._run_steps(runner.RunRecord(study), ["01_clean", "02_rfm_clv"], "", progress=False)
    assert failed.value.stage == "01_clean"
    assert str(failed.value).startswith("stage 01_clean failed writing the HTML of the executed notebook: ")
    assert f"See {tmp_path / '01_clean.ipynb'} for the details." in str(failed.value)
    manifest = json.loads(failed.value.manifest.read_text(encoding="utf-8"))
    assert manifest["failed_stage"] == "01_clean"
    assert [(s["stage"], s["status"]) for s in manifest["stages"]] == [("01_clean", "failed"), ("02_rfm_clv", "ok")]
    assert (tmp_path / "02_rfm_clv.html").is_file()


EMPTY_NOTEBOOK = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def test_an_interrupt_a_library_swallows_still_stops_the_run(tmp_path, monkeypatch):
    """An event loop that cancels a kernel start on Ctrl-C and carries on must not let the run publish."""
    from analysis.frame import runner
    from analysis.frame.study import open_study

    def swallowing_step(study, step, out_root, progress, kernel=None):
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
        except KeyboardInterrupt:
            pass  # what a library catching the interrupt looks like from outside
        return tmp_path / f"{step}.ipynb"

    monkeypatch.setattr(runner, "_execute", swallowing_step)
    study = open_study(ROOT / "params/sample.yaml", tmp_path / "out", attempt="20260101T000000-1")
    record = runner.RunRecord(study)
    handler_before = signal.getsignal(signal.SIGINT)
    with pytest.raises(runner.RunInterrupted) as stopped:
        runner._run_steps(record, ["01_clean", "02_rfm_clv"], "", progress=False)
    assert stopped.value.stage == "01_clean"
    manifest = json.loads((study.reports_dir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["status"] == "failed" and manifest["failed_stage"] == "01_clean"
    assert [(s["stage"], s["status"]) for s in manifest["stages"]] == [("01_clean", "failed")]
    assert signal.getsignal(signal.SIGINT) is handler_before  # restored
