"""The whole-study benchmark (benchmarks/study_*.py): its export, its per-step measuring, its floor.

The export is checked at a tiny size (determinism, headers, the sample's dirty-row mix); the measuring
code on made-up readings, on the runner's own progress lines, and on a real process tree whose
"kernels" hold known amounts of memory. One tiny real study run is marked slow.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from contextlib import nullcontext
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import psutil
import pytest

from analysis.frame import runner
from analysis.frame.params import check_input_headers, load_params
from analysis.simulation import sample_data

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import measure  # noqa: E402
import study_data  # noqa: E402
from study_measure import OUTSIDE, PeakRecorder, Reading, StepTracker, measure_run, read_tree  # noqa: E402

ROWS = 5_000
MIB = 1024**2
FILES = ["transactions.csv", "customers.csv", "surveys.csv", "complaints.csv", "truth_customers.csv", "truth.json"]


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, Path]:
    """The tiny export generated twice, in two folders."""
    first, meta = study_data.ensure_export(tmp_path_factory.mktemp("a"), ROWS, log=lambda _: None)
    second, _ = study_data.ensure_export(tmp_path_factory.mktemp("b"), ROWS, log=lambda _: None)
    return first, meta, second


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------------------------------
# the export


def test_export_is_deterministic_and_cached(exports: tuple[Path, dict, Path]) -> None:
    first, meta, second = exports
    assert meta["generated_now"]
    assert {f: _digest(first / f) for f in FILES} == {f: _digest(second / f) for f in FILES}
    again, cached = study_data.ensure_export(first.parent, ROWS, log=lambda _: None)
    assert again == first and not cached["generated_now"]
    assert not list(first.parent.glob("*.tmp*")), "no half-written export is left behind"


def test_export_size_and_headers(exports: tuple[Path, dict, Path]) -> None:
    first, meta, _ = exports
    rows = meta["rows"]["transactions"]
    assert abs(rows - ROWS) <= 0.15 * ROWS, rows
    raw = (first / "transactions.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    header = raw[3:].split(b"\r\n", 1)[0].decode("utf-8").split(",")
    assert header == list(sample_data.TRANSACTION_COLUMNS)
    assert pd.read_csv(first / "customers.csv", encoding="utf-8-sig", nrows=1).columns.tolist() == list(
        sample_data.CUSTOMER_COLUMNS)
    assert pd.read_csv(first / "surveys.csv", encoding="gbk", nrows=1).columns.tolist() == list(
        sample_data.SURVEY_COLUMNS)
    assert meta["rows"]["customers"] > meta["customers"]  # the master adds prospects and duplicates


def test_export_has_the_samples_dirty_row_mix(exports: tuple[Path, dict, Path]) -> None:
    first, meta, _ = exports
    tx = pd.read_csv(first / "transactions.csv", encoding="utf-8-sig", dtype=str, keep_default_na=False)
    injected = meta["injected"]
    dirty = {kind: injected[kind] for kind in sample_data._DIRTY_SHARES}
    purchases = len(tx) - injected["return_rows"] - sum(dirty.values()) - meta["plan_rows"]
    assert dirty == sample_data._dirty_counts(purchases)  # the sample's shares of the purchase rows
    assert all(dirty[k] >= 1 for k in ("duplicate", "missing_customer_id", "invalid_date", "invalid_amount"))
    assert (tx["客户编号"] == "").sum() == dirty["missing_customer_id"]
    assert tx.duplicated().sum() == dirty["duplicate"]
    assert tx["订单日期"].isin(sample_data._INVALID_DATES).sum() == dirty["invalid_date"]
    assert tx["金额"].isin(sample_data._INVALID_AMOUNTS).sum() == dirty["invalid_amount"]
    assert tx["金额"].str.contains("-").sum() == injected["return_rows"]
    dates = tx["订单日期"]
    for mark in ("年", "/"):
        assert dates.str.contains(mark).any(), mark
    assert dates.str.fullmatch(r"\d{8}").any()
    for mark in ("¥", "元", "RMB", ","):
        assert tx["金额"].str.contains(mark, regex=False).any(), mark


def test_params_next_to_the_export_load_and_match_the_headers(exports: tuple[Path, dict, Path]) -> None:
    first, _, _ = exports
    path = study_data.write_params(first, "bench_test")
    params = load_params(path)
    check_input_headers(params, path)
    assert params.inputs.customers.path == first / "customers.csv"
    assert params.tiering.previous_run is None


def test_floor_summarises_the_raw_export(exports: tuple[Path, dict, Path]) -> None:
    from datetime import date

    from study_floor import floor_summary

    first, meta, _ = exports
    summary = floor_summary(first / "transactions.csv", date(2023, 1, 1), date(2025, 12, 31)).to_pandas()
    buyers = summary.dropna(subset=["frequency"])
    # every buying customer has a clean first purchase in the period (the generator's own truth)
    assert len(buyers) == meta["customers"]
    assert (buyers["recency"] <= buyers["T"]).all() and (buyers["frequency"] >= 0).all()
    assert (buyers.loc[buyers["frequency"] == 0, "monetary_value"] == 0).all()


def test_vectorised_export_formatting_writes_what_python_would() -> None:
    """The sample generator formats millions of cells at once; each must read as Python writes it."""
    rng = np.random.default_rng(7)
    cents = np.round(rng.gamma(0.5, 4000, 20_000), 2)
    values = np.concatenate([cents, -cents[:500], [0.0, -0.0, 0.01, -0.004, 1e7 + 0.07, 123456789.99]])
    assert list(sample_data._money_texts(values)) == [f"{v:.2f}" for v in values]
    unrounded = rng.normal(0, 1000, 100)  # not whole cents: formatted one by one
    assert list(sample_data._money_texts(unrounded)) == [f"{v:.2f}" for v in unrounded]
    styles = sample_data._choose_formats(rng, values.size, sample_data._AMOUNT_FORMAT_SHARES)
    expected = []
    for v, style in zip(values, styles):
        sign, x = ("-" if v < 0 else ""), abs(v)
        expected.append({"thousands": f"{sign}{x:,.2f}", "yuan_sign": f"{sign}¥{x:,.2f}",
                         "yuan_suffix": f"{sign}{x:.2f}元", "rmb_prefix": f"RMB {sign}{x:.2f}"}.get(
            style, f"{sign}{x:.2f}"))
    assert list(sample_data._format_amounts(values, styles)) == expected
    dates = np.datetime64("2023-01-01") + rng.integers(0, 1500, 5_000)
    date_styles = sample_data._choose_formats(rng, dates.size, sample_data._DATE_FORMAT_SHARES)
    written = sample_data._format_dates(dates, date_styles)
    for d, style, text in zip(dates.astype(object), date_styles, written):
        assert text == {"slash": f"{d.year}/{d.month}/{d.day}", "chinese": f"{d.year}年{d.month}月{d.day}日",
                        "compact": d.strftime("%Y%m%d")}.get(style, d.isoformat())
    days = np.sort(rng.integers(0, 800, 3_000))
    ids = sample_data._assign_order_ids(days, np.datetime64("2023-01-01"), np.random.default_rng(1))
    assert len(set(ids)) == ids.size and all(i.startswith(("SO2023", "SO2024", "SO2025")) and len(i) == 12 for i in ids)
    assert ids[np.argmax(days >= 365)].startswith("SO2024")


# --------------------------------------------------------------------------------------------------
# measuring: progress lines, attribution rules, a real process tree


def test_tracker_follows_the_runners_own_progress_lines(monkeypatch, capsys) -> None:
    monkeypatch.setattr(runner, "write_manifest", lambda *a, **k: None)
    monkeypatch.setattr(runner, "_execute", lambda *a, **k: None)
    monkeypatch.setattr(runner, "_build_report", lambda *a, **k: None)
    monkeypatch.setattr(runner.KernelsAhead, "start", lambda self, step: None)  # no kernel: nothing runs in one
    monkeypatch.setattr(runner.NotebookPages, "submit", lambda self, step, notebook: None)
    monkeypatch.setattr(runner, "OtherLanguages", lambda study, out_root: nullcontext())  # no report languages to render
    record = runner.RunRecord(study=SimpleNamespace(attempt="test"))
    runner._run_steps(record, [*runner.STAGES, runner.REPORT_STEP], "", progress=False)
    tracker, seen = StepTracker(), []
    for line in capsys.readouterr().err.splitlines():
        tracker.feed(line)
        seen.append(tracker.now())
    assert tracker.order == [*runner.STAGES, runner.REPORT_STEP]
    assert set(tracker.seconds) == set(tracker.order)
    assert seen == [s for step in tracker.order for s in (step, None)]  # started, then done


def test_recorder_attributes_kernels_runner_and_gaps() -> None:
    recorder = PeakRecorder(runner_pid=1)

    def runner_at(rss: int, hwm: int) -> Reading:
        return Reading(1, False, rss * MIB, hwm * MIB)

    recorder.record(None, [runner_at(100, 100)])  # checks before the first step
    recorder.record("01_clean", [runner_at(100, 100), Reading(11, True, 300 * MIB, 900 * MIB)])
    recorder.record("01_clean", [runner_at(110, 110), Reading(11, True, 200 * MIB, 900 * MIB)])
    recorder.record(None, [runner_at(110, 110), Reading(12, True, 50 * MIB, 60 * MIB)])  # next kernel, early
    recorder.record("02_rfm_clv", [runner_at(105, 110), Reading(12, True, 400 * MIB, 450 * MIB)])
    recorder.record("report", [runner_at(150, 110)])
    recorder.record("report", [runner_at(120, 700)])  # a spike between samples: the high-water mark rose
    recorder.record("report", [runner_at(300, 700), Reading(13, False, 500 * MIB, 500 * MIB, parent=1)])
    steps = recorder.steps
    assert steps["01_clean"].kernels == {11} and steps["01_clean"].own_bytes == 900 * MIB
    assert steps["02_rfm_clv"].kernels == {12} and steps["02_rfm_clv"].own_bytes == 450 * MIB
    # the report's other languages in a process of the runner's: counted with it at one sample
    assert steps["report"].kernels == set() and steps["report"].own_bytes == 800 * MIB
    assert steps[OUTSIDE].runner_bytes == 110 * MIB
    assert recorder.tree_bytes == 800 * MIB
    assert recorder.tree_peak[0] == "report" and recorder.tree_peak_parts() == [("runner", 800 * MIB)]


def test_cpu_seconds_go_to_the_step_running_when_they_were_spent() -> None:
    recorder = PeakRecorder(runner_pid=1)

    def at(pid: int, cpu: float, kernel: bool = False) -> Reading:
        return Reading(pid, kernel, MIB, MIB, cpu=cpu, system=cpu / 4)  # a quarter of it system seconds

    recorder.record(None, [at(1, 0.5)])  # the runner's checks: all it spent so far
    recorder.record("01_clean", [at(1, 0.6), at(11, 2.0, True)])  # the kernel's first reading: its CPU so far
    recorder.record("01_clean", [at(1, 0.6), at(11, 5.0, True), at(21, 3.0)])  # a worker appears
    recorder.record("02_rfm_clv", [at(1, 0.7), at(12, 1.5, True)])  # 11 and 21 ended: what they spent stays theirs
    recorder.record("report", [at(1, 4.7)])
    steps = recorder.steps
    assert steps[OUTSIDE].cpu_seconds == pytest.approx(0.5)
    assert steps["01_clean"].cpu_seconds == pytest.approx(0.1 + 5.0 + 3.0)
    assert steps["02_rfm_clv"].cpu_seconds == pytest.approx(0.1 + 1.5)
    assert steps["report"].cpu_seconds == pytest.approx(4.0)
    assert recorder.cpu_seconds == pytest.approx(4.7 + 5.0 + 3.0 + 1.5)
    # the system seconds are counted the same way, apart
    assert {step: peak.system_seconds for step, peak in steps.items()} == pytest.approx(
        {step: peak.cpu_seconds / 4 for step, peak in steps.items()})
    assert recorder.system_seconds == pytest.approx(recorder.cpu_seconds / 4)


def test_a_kernels_worker_processes_count_in_its_steps_peak() -> None:
    recorder = PeakRecorder(runner_pid=1)
    runner = Reading(1, False, 100 * MIB, 100 * MIB)
    recorder.record("01_clean", [runner, Reading(11, True, 300 * MIB, 350 * MIB, 1), Reading(21, False, 250 * MIB, 260 * MIB, 11),
                                 Reading(22, False, 200 * MIB, 200 * MIB, 21),
                                 Reading(13, True, 220 * MIB, 220 * MIB, 1)])  # the next step's kernel, started ahead
    recorder.record("01_clean", [runner, Reading(11, True, 600 * MIB, 600 * MIB)])  # the workers are gone
    assert recorder.steps["01_clean"].own_bytes == 750 * MIB  # 300 + 250 + 200 at one sample
    recorder.record("02_rfm_clv", [runner, Reading(13, True, 400 * MIB, 900 * MIB, 1)])
    assert recorder.steps["02_rfm_clv"].own_bytes == 900 * MIB  # no workers: the kernel's high-water mark
    assert recorder.steps["02_rfm_clv"].kernels == {13} and recorder.tree_bytes == 1070 * MIB
    # the tree's peak, at the first sample: what each kernel (with its workers) and the runner held
    assert recorder.tree_peak[0] == "01_clean"
    assert recorder.tree_peak_parts() == [("kernel of 01_clean", 750 * MIB), ("kernel of 02_rfm_clv", 220 * MIB),
                                          ("runner", 100 * MIB)]


def test_a_kernel_seen_during_the_step_before_its_own_is_its_own_steps() -> None:
    recorder = PeakRecorder(runner_pid=1)
    runner = Reading(1, False, 100 * MIB, 100 * MIB)
    recorder.record("01_clean", [runner, Reading(11, True, 300 * MIB, 300 * MIB)])
    # started ahead while 01 runs; or 01's kernel has ended and 02's started while the lagging
    # progress lines still say 01
    recorder.record("01_clean", [runner, Reading(12, True, 500 * MIB, 500 * MIB)])
    recorder.record("02_rfm_clv", [runner, Reading(12, True, 400 * MIB, 500 * MIB)])
    assert recorder.steps["01_clean"].kernels == {11} and recorder.steps["01_clean"].own_bytes == 300 * MIB
    assert recorder.steps["02_rfm_clv"].kernels == {12} and recorder.steps["02_rfm_clv"].own_bytes == 500 * MIB


def test_a_kernel_seen_before_its_steps_line_goes_to_the_step_running_when_the_run_stopped() -> None:
    recorder = PeakRecorder(runner_pid=1)
    recorder.record("01_clean", [Reading(1, False, 100 * MIB, 100 * MIB), Reading(11, True, 50 * MIB, 60 * MIB)])
    recorder.record(None, [Reading(1, False, 100 * MIB, 100 * MIB), Reading(12, True, 400 * MIB, 400 * MIB)])
    recorder.settle("02_rfm_clv")  # stopped over its memory limit before "02_rfm_clv …" was read
    assert recorder.steps["02_rfm_clv"].kernels == {12} and recorder.steps["02_rfm_clv"].own_bytes == 400 * MIB
    recorder.settle(None)  # nothing waits any more; a run that ended between steps settles nothing
    assert recorder.steps["01_clean"].kernels == {11}


FAKE_RUNNER = textwrap.dedent('''
    """Prints the runner's progress lines; each notebook step runs a child "kernel" holding known memory.

    Like Jupyter's, the kernels run in a session of their own; the second holds its memory argv[1] seconds.
    """
    import subprocess, sys, time
    KERNEL = "import sys, time; block = b'x' * (int(sys.argv[1]) << 20); time.sleep(float(sys.argv[2]))"
    steps = [("01_clean", 40, "0.6"), ("02_rfm_clv", 160, sys.argv[1]), ("report", 0, "")]
    for n, (step, mib, hold) in enumerate(steps, start=1):
        print(f"[{n}/{len(steps)}] {step} …", file=sys.stderr, flush=True)
        started = time.perf_counter()
        if mib:
            subprocess.run([sys.executable, "-c", KERNEL, str(mib), hold, "ipykernel_launcher"],
                           check=True, start_new_session=True)
        else:
            block = b"y" * (120 << 20)
            time.sleep(0.6)
            del block
        print(f"[{n}/{len(steps)}] {step} done in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
''')


def test_measuring_a_real_process_tree_attributes_each_kernel_to_its_step(tmp_path: Path) -> None:
    script = tmp_path / "fake_runner.py"
    script.write_text(FAKE_RUNNER, encoding="utf-8")
    run = measure_run([sys.executable, str(script), "0.6"], log=tmp_path / "log.txt", timeout=60)
    assert run.status == "ok" and run.steps == ["01_clean", "02_rfm_clv", "report"]
    assert set(run.step_seconds) == set(run.steps) and run.running is None
    clean, rfm, report = (run.peaks[s] for s in run.steps)
    assert len(clean.kernels) == len(rfm.kernels) == 1 and clean.kernels != rfm.kernels
    assert not report.kernels
    # the kernels' own peaks differ by what they allocated (160 - 40 MiB), within 25 MiB
    assert abs((rfm.own_bytes - clean.own_bytes) / MIB - 120) < 25
    assert report.own_bytes >= 120 * MIB
    assert run.tree_bytes >= rfm.own_bytes


BUSY_RUNNER = textwrap.dedent("""
    # Two steps, each in a child "kernel": the first keeps a core busy for argv[1] seconds, the second sleeps as long.
    import subprocess, sys, time
    BUSY = "import sys, time\\nend = time.process_time() + float(sys.argv[1])\\nwhile time.process_time() < end: pass"
    IDLE = "import sys, time; time.sleep(float(sys.argv[1]))"
    for n, (step, code) in enumerate([("01_clean", BUSY), ("02_rfm_clv", IDLE)], start=1):
        print(f"[{n}/2] {step} …", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, "-c", code, sys.argv[1], "ipykernel_launcher"], check=True)
        print(f"[{n}/2] {step} done in 1.0 s", file=sys.stderr, flush=True)
""")


def test_measuring_a_real_process_tree_counts_the_cpu_each_step_spent(tmp_path: Path) -> None:
    script = tmp_path / "busy_runner.py"
    script.write_text(BUSY_RUNNER, encoding="utf-8")
    run = measure_run([sys.executable, str(script), "1.0"], log=tmp_path / "log.txt", timeout=60)
    assert run.status == "ok", (tmp_path / "log.txt").read_text()
    busy, idle = run.peaks["01_clean"].cpu_seconds, run.peaks["02_rfm_clv"].cpu_seconds
    # the busy kernel's second of CPU (less what its last 50 ms sample missed) and two start-ups
    assert 0.8 <= busy <= 1.8, busy
    assert idle <= 0.5, idle  # a start-up, no work
    assert run.cpu_seconds == pytest.approx(sum(p.cpu_seconds for p in run.peaks.values()))  # every second counted once
    assert 0 <= run.system_seconds < run.cpu_seconds
    assert run.system_seconds == pytest.approx(sum(p.system_seconds for p in run.peaks.values()))


def test_a_process_a_kernel_forks_is_not_a_kernel_nor_counted_again(tmp_path: Path) -> None:
    """Until it runs its own program, a process a kernel forks shows the kernel's command line, and
    the kernel's resident pages as its own."""
    kernel = "import os, time; held = bytearray(b'x' * 300_000_000); os.fork(); time.sleep(30)"
    fake_runner = f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {kernel!r}, 'ipykernel_launcher']); time.sleep(30)"
    process = subprocess.Popen([sys.executable, "-c", fake_runner], start_new_session=True)
    try:
        root, readings = psutil.Process(process.pid), []
        for _ in range(100):
            readings = read_tree(root, {})
            if len(readings) == 3:
                break
            time.sleep(0.1)
        by_pid = {r.pid: r for r in readings}
        assert len(readings) == 3 and [r.is_kernel for r in readings].count(True) == 1
        (started,) = [r for r in readings if r.is_kernel]
        assert started.parent == process.pid
        (forked,) = [r for r in readings if r.parent == started.pid]
        assert not by_pid[forked.pid].is_kernel
        # the system shows the fork with the kernel's 300 MB; the reading counts them once, with the kernel,
        # as make bench's sum over a measured process's tree does
        assert psutil.Process(forked.pid).memory_info().rss > 250 * MIB
        assert started.rss > 250 * MIB and forked.rss == 0
        assert started.rss <= measure._tree_rss(psutil.Process(started.pid)) < 1.5 * started.rss
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def test_a_run_over_its_memory_limit_is_stopped_with_what_was_measured(tmp_path: Path) -> None:
    script = tmp_path / "fake_runner.py"
    script.write_text(FAKE_RUNNER, encoding="utf-8")
    run = measure_run([sys.executable, str(script), "30"], log=tmp_path / "log.txt", timeout=60,
                      max_tree_bytes=100 * MIB)
    assert run.status.startswith("stopped: memory") and run.seconds < 25
    assert run.running is not None and run.running[0] == "02_rfm_clv"
    assert "01_clean" in run.step_seconds and "report" not in run.steps
    (kernel,) = run.peaks["02_rfm_clv"].kernels  # killed too, although in a session of its own
    assert not psutil.pid_exists(kernel) or psutil.Process(kernel).status() == psutil.STATUS_ZOMBIE


def test_a_stopped_run_reads_as_stopped_and_not_run_with_no_rates() -> None:
    import study_run
    from study_measure import RunMeasurement, StepPeak

    peak = StepPeak("01_clean", kernel_bytes=900 * MIB, kernels={5})
    run = RunMeasurement("stopped: over 720 s", None, 720.0, ["01_clean"], {}, ("01_clean", 706.0),
                         {"01_clean": peak}, 950 * MIB, 100, Path("log"))
    rows = {r.stage: r for r in study_run.stage_rows(run, 10_000)}
    clean = rows["01_clean"]
    assert (clean.status, clean.wall, clean.peak_bytes, clean.rate_text()) == ("stopped", 706.0, 900 * MIB, "-")
    assert all(rows[s].status == "not run" and rows[s].rate_text() == "-" for s in study_run.STAGES[1:])
    assert rows[study_run.WHOLE].status == "stopped" and rows[study_run.WHOLE].peak_bytes == 950 * MIB
    assert rows[study_run.OTHER_LABEL].wall == pytest.approx(14.0)


def _measured(stage_seconds: float, whole_seconds: float, whole_peak_mib: int, floor_seconds: float | None,
              *, rows: int = 10_000_000, whole_status: str = "ok") -> list:
    from study_run import FLOOR, STAGES, WHOLE, Row

    floor = Row(FLOOR, rows, floor_seconds, 500 * MIB, "ok" if floor_seconds else "error")
    return [Row(STAGES[0], rows, stage_seconds, 900 * MIB), Row(WHOLE, rows, whole_seconds, whole_peak_mib * MIB, whole_status),
            floor]


def test_the_targets_are_judged_at_10m_rows_only() -> None:
    import study_run

    lines = study_run.target_lines({
        1_000_000: _measured(14.3, 65.5, 1518, 1.2, rows=1_022_576),
        10_000_000: _measured(65.0, 212.5, 2882, 12.5),
    })
    assert lines == [
        "whole study (1M rows): 65.5 s, peak 1,518 MiB",
        "01_clean (1M rows): 14.3 s = 11.9x the floor's 1.2 s",
        "whole study (10M rows): 212.5 s, peak 2,882 MiB -> target <= 90 s: NOT MET; <= 3 GiB: MET",
        "01_clean (10M rows): 65.0 s = 5.2x the floor's 12.5 s -> target <= 2x: NOT MET",
    ]
    met = study_run.target_lines({10_000_000: _measured(24.0, 89.0, 3072, 12.5)})
    assert met[0].endswith("target <= 90 s: MET; <= 3 GiB: MET") and met[1].endswith("target <= 2x: MET")
    over = study_run.target_lines({10_000_000: _measured(26.0, 91.0, 3073, None, whole_status="failed")})
    assert over == ["whole study (10M rows): failed", "01_clean (10M rows): against the floor not measured"]


# --------------------------------------------------------------------------------------------------
# one tiny real run


@pytest.mark.slow
def test_tiny_real_study_is_measured_step_by_step(tmp_path: Path, monkeypatch) -> None:
    import study_run

    monkeypatch.setattr(study_run, "DATA", tmp_path)
    results = tmp_path / "results.md"
    assert study_run.main(["--sizes", "3000", "--results", str(results), "--timeout", "1200"]) == 0
    manifest = json.loads((tmp_path / "study-r3000/out/reports/bench_r3000/manifest.json").read_text())
    recorded = {s["stage"]: s["seconds"] for s in manifest["stages"]}
    text = results.read_text(encoding="utf-8")
    for stage, seconds in recorded.items():
        line = next(li for li in text.splitlines() if li.startswith(stage + " "))
        assert f"{seconds:.1f}" in line, line
    assert "floor: DuckDB, one query" in text and "RAM:" in text
    header = next(li for li in text.splitlines() if li.startswith("stage ") and "CPU s" in li)
    whole = next(li for li in text.splitlines() if li.startswith("whole study "))

    def figure(column: str) -> float:  # the columns are right-aligned under their names
        return float(whole[:header.index(column) + len(column)].split()[-1].replace(",", ""))

    assert figure("CPU s") > 0 and figure("cores") == pytest.approx(figure("CPU s") / figure("wall s"), abs=0.02)
    assert 0 < figure("sys s") < figure("CPU s")
    assert "## Targets" in text and "- whole study (3k rows): " in text
    peak = next(li for li in text.splitlines() if "the whole study's peak" in li)
    assert "came during " in peak and "kernel of " in peak and "runner " in peak, peak
