"""The real runner on the sample params, into a temporary folder: every stage, its outputs, the manifest."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from analysis.runner import STAGES, StageFailed, run_study

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def test_sample_study_writes_every_output(sample_report, out_root):
    processed = out_root / "data/processed/sample"
    reports = out_root / "reports/sample"
    assert sample_report == reports / "index.html"
    for name in ("transactions.parquet", "quarantine.parquet", "quality.json"):
        assert (processed / name).is_file(), name
    for stage in STAGES:
        assert (reports / "notebooks" / f"{stage}.ipynb").is_file()
        assert (reports / "notebooks" / f"{stage}.html").stat().st_size > 10_000
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


def test_a_failing_stage_stops_the_run_and_says_why(tmp_path):
    params = yaml.safe_load((ROOT / "params/sample.yaml").read_text(encoding="utf-8"))
    broken = tmp_path / "no_dates.csv"
    raw = pd.read_csv(ROOT / "data/raw/sample/transactions.csv", dtype=str, nrows=50, encoding="utf-8-sig")
    raw.drop(columns=["订单日期"]).to_csv(broken, index=False)
    params["inputs"] = {"transactions": {**params["inputs"]["transactions"], "path": str(broken)}}
    params["run"] = "broken"
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    with pytest.raises(StageFailed) as err:
        run_study(path, out_root=tmp_path / "out", progress=False)
    message = str(err.value)
    assert "01_clean" in message and "InputFileError" in message and "订单日期" in message
    manifest = json.loads((tmp_path / "out/reports/broken/manifest.json").read_text(encoding="utf-8"))
    assert manifest["status"] == "failed at 01_clean"


def test_cli_rejects_a_bad_params_file_before_any_work(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("run: x\nperiod: {start: 2024-01-01, end: 2024-12-31}\ninputs: {}\nlangauge: zh\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "analysis", "run", str(path), "--out", str(tmp_path)],
                          capture_output=True, text=True)
    assert done.returncode == 2
    assert "unknown key 'langauge'" in done.stderr and "did you mean 'language'" in done.stderr
    assert "inputs.transactions" in done.stderr
    assert not (tmp_path / "reports").exists()


def test_a_study_without_surveys_or_complaints_still_completes(tmp_path):
    params = yaml.safe_load((ROOT / "params/sample.yaml").read_text(encoding="utf-8"))
    params["inputs"] = {k: {**v, "path": str(ROOT / v["path"])} for k, v in params["inputs"].items()
                        if k in ("transactions", "customers")}
    params.update(run="no_surveys", report_also_in=[])
    params["tiering"].pop("previous_run")
    path = tmp_path / "no_surveys.yaml"
    path.write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    report = run_study(path, out_root=tmp_path / "out", progress=False)
    page = report.read_text(encoding="utf-8")
    assert "没有满意度调查数据" in page and "没有投诉记录" in page
    processed = tmp_path / "out/data/processed/no_surveys"
    customers = pd.read_parquet(processed / "customers.parquet")
    assert {"loyalty_index", "lifecycle_stage", "churn_risk"} <= set(customers.columns)
    assert (processed / "allocation.parquet").is_file()
