"""The real runner on the sample params, into a temporary folder: every stage, its outputs, the manifest."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import psutil
import pytest
import yaml

from analysis.frame.params import ParamsError
from analysis.frame.runner import STAGES, StageFailed, run_study

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def test_sample_study_writes_every_output(sample_report, out_root):
    processed = out_root / "data/processed/sample"
    reports = out_root / "reports/sample"
    assert sample_report == reports / "index.html"
    for name in ("transactions.parquet", "quarantine.parquet", "quality.json"):
        assert (processed / name).is_file(), name
    for stage in STAGES:
        assert (processed / "notebooks" / f"{stage}.ipynb").is_file()
        assert (processed / "notebooks" / f"{stage}.html").stat().st_size > 10_000
    assert not (reports / "notebooks").exists()
    assert not list(processed.glob(".*.tmp")), "a temporary file was left behind"


def test_quality_figures_add_up_and_match_what_was_injected(sample_report, out_root):
    quality = json.loads((out_root / "data/processed/sample/quality.json").read_text(encoding="utf-8"))
    for name, q in quality.items():
        assert q["rows_in"] == q["rows_kept"] + q["rows_quarantined"], name
        assert sum(q["reasons"].values()) == q["rows_quarantined"], name
    truth = json.loads((ROOT / "data/raw/sample/truth.json").read_text(encoding="utf-8"))
    injected = truth["injected"]["transactions"]
    reasons = quality["transactions"]["reasons"]
    for reason in ("duplicate", "missing_customer_id", "invalid_date", "invalid_amount", "after_period_end"):
        assert reasons.get(reason, 0) == injected[reason], reason
    quarantine = pd.read_parquet(out_root / "data/processed/sample/quarantine.parquet")
    assert len(quarantine) == sum(q["rows_quarantined"] for q in quality.values())


def test_manifest_records_inputs_params_versions_and_timings(sample_report, out_root):
    manifest = json.loads((out_root / "reports/sample/manifest.json").read_text(encoding="utf-8"))
    assert manifest["status"] == "ok" and manifest["seed"] == 20261122
    assert len(manifest["inputs"]["transactions"]["sha256"]) == 64
    assert manifest["packages"]["pandas"].startswith("3.")
    assert [s["stage"] for s in manifest["stages"]] == [*STAGES, "report"]
    assert manifest["params"]["run"] == "sample"
    assert manifest["published"] == {"reports": str(out_root / "reports/sample"),
                                      "processed": str(out_root / "data/processed/sample")}
    for staging in (out_root / "reports/.staging/sample", out_root / "data/processed/.staging/sample"):
        assert not [p for p in staging.iterdir() if p.is_dir()], "the published attempt left its staging folder"


def _small_params(tmp_path: Path, run: str, **changes) -> Path:
    """Params for the first 50 sample transactions, copied under tmp_path/in (outside the project)."""
    params = yaml.safe_load((ROOT / "params/sample.yaml").read_text(encoding="utf-8"))
    (tmp_path / "in").mkdir(exist_ok=True)
    subset = tmp_path / "in" / "transactions.csv"
    pd.read_csv(ROOT / "data/raw/sample/transactions.csv", dtype=str, nrows=50, encoding="utf-8-sig").to_csv(subset, index=False)
    params["inputs"] = {"transactions": {**params["inputs"]["transactions"], "path": str(subset)}}
    params.update(run=run, allow_outside_project=True, **changes)
    path = tmp_path / f"{run}.yaml"
    path.write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    return path


def test_a_failing_stage_stops_the_run_says_why_and_publishes_nothing(tmp_path):
    path = _small_params(tmp_path, "broken", period={"start": "2010-01-01", "end": "2010-12-31"})
    with pytest.raises(StageFailed) as err:
        run_study(path, out_root=tmp_path / "out", progress=False)
    message = str(err.value)
    assert message.startswith("stage 01_clean failed in cell") and "Nothing was published" in message
    assert "NoUsableTransactionsError" in message and "quality.json" in message
    assert err.value.stage == "01_clean" and str(err.value.manifest.parent) in message
    manifest = json.loads(err.value.manifest.read_text(encoding="utf-8"))
    assert manifest["status"] == "failed" and manifest["failed_stage"] == "01_clean"
    assert manifest["error"] == message
    assert [(s["stage"], s["status"]) for s in manifest["stages"]] == [("01_clean", "failed")]
    attempt = err.value.manifest.parent.name
    staged = tmp_path / "out/data/processed/.staging/broken" / attempt
    assert (staged / "notebooks/01_clean.html").is_file() and (staged / "quality.json").is_file()
    assert not (tmp_path / "out/reports/broken").exists() and not (tmp_path / "out/data/processed/broken").exists()


def test_a_mapped_column_missing_from_the_data_stops_the_run_before_any_work(tmp_path):
    path = _small_params(tmp_path, "no_dates")
    subset = tmp_path / "in" / "transactions.csv"
    pd.read_csv(subset, dtype=str).drop(columns=["订单日期"]).to_csv(subset, index=False)
    kernels_before = _kernels_running()
    with pytest.raises(ParamsError) as err:
        run_study(path, out_root=tmp_path / "out", progress=False)
    assert "订单日期" in str(err.value) and "inputs.transactions.columns" in str(err.value)
    assert not (tmp_path / "out/reports/no_dates").exists()
    assert not list((tmp_path / "out/data/processed/.staging/no_dates").glob("*/notebooks/*"))
    # the first stage's kernel, started while the inputs were checked, is shut down with the run
    assert _kernels_running() == kernels_before


def _kernels_running() -> set[int]:
    """The process ids of this process's kernels (children running ipykernel), zombies left out."""
    kernels = set()
    for child in psutil.Process().children(recursive=True):
        try:
            if child.status() != psutil.STATUS_ZOMBIE and "ipykernel" in " ".join(child.cmdline()):
                kernels.add(child.pid)
        except psutil.NoSuchProcess:
            pass
    return kernels


def test_cli_rejects_a_bad_params_file_before_any_work(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("run: x\nperiod: {start: 2024-01-01, end: 2024-12-31}\ninputs: {}\nlangauge: zh\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "analysis", "run", str(path), "--out", str(tmp_path)],
                          capture_output=True, text=True)
    assert done.returncode == 2
    assert "unknown key 'langauge'" in done.stderr and "did you mean 'language'" in done.stderr
    assert "inputs.transactions" in done.stderr
    assert not (tmp_path / "reports").exists()
