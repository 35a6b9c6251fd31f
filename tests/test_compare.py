"""Comparing two runs' outputs: what differs is named; salts, codes and notebooks are set aside."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from analysis.__main__ import main
from analysis.frame.compare import compare_runs


def run_folder(root: Path, *, code: str = "C-7F3A2B", value: float = 0.1 + 0.2, salt: str = "a" * 32) -> Path:
    root.mkdir(parents=True)
    pd.DataFrame({"customer": [code, "C-00AA11"], "clv": [value, 2.0], "tier": [1, 2]}).to_parquet(root / "watch_list.parquet")
    (root / "models.json").write_text(json.dumps({"bgnbd": {"r": value, "n": 3}, "note": f"top: {code}"}), encoding="utf-8")
    (root / "mask_salt").write_text(salt, encoding="utf-8")
    (root / "notebooks").mkdir()
    (root / "notebooks" / "01_clean.html").write_text(salt, encoding="utf-8")
    return root


def test_two_runs_that_differ_only_by_salt_codes_and_last_digits_are_equal(tmp_path):
    first = run_folder(tmp_path / "a")
    second = run_folder(tmp_path / "b", code="C-19E0C4", value=0.3, salt="b" * 32)
    result = compare_runs(first, second)
    assert result.equal, result.summary()
    assert result.compared == ["models.json", "watch_list.parquet"]


def test_a_changed_figure_a_missing_file_and_a_changed_label_are_named(tmp_path):
    first = run_folder(tmp_path / "a")
    second = run_folder(tmp_path / "b", value=0.31)
    (first / "tier_profile.parquet").write_bytes(b"")
    result = compare_runs(first, second)
    assert not result.equal
    assert result.only_in_first == ["tier_profile.parquet"]
    assert result.differences["models.json"] == "bgnbd.r: 0.30000000000000004 vs 0.31"
    assert result.differences["watch_list.parquet"].startswith("column 'clv': 1 value(s) differ, first at row 0")
    pd.DataFrame({"customer": ["C-7F3A2B", "C-00AA11"], "clv": [0.3, 2.0], "tier": ["1", "2"]}).to_parquet(
        second / "watch_list.parquet")
    assert compare_runs(first, second).differences["watch_list.parquet"] == "column 'tier': dtype int64 vs str"


def test_the_command_exits_1_when_runs_differ_and_0_when_they_agree(tmp_path, capsys):
    first, second = run_folder(tmp_path / "a"), run_folder(tmp_path / "b", value=1.5)
    assert main(["compare-runs", str(first), str(first)]) == 0
    assert "all equal" in capsys.readouterr().out
    assert main(["compare-runs", str(first), str(second)]) == 1
    assert "bgnbd.r" in capsys.readouterr().out
    assert main(["compare-runs", str(first), str(tmp_path / "nowhere")]) == 1
    assert "not a folder of run outputs" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["customers.parquet", "quality.json"])
def test_outputs_missing_on_one_side_are_listed_by_side(tmp_path, name):
    first, second = run_folder(tmp_path / "a"), run_folder(tmp_path / "b")
    (second / name).write_text("{}", encoding="utf-8")
    assert compare_runs(first, second).only_in_second == [name]


def report_folder(root: Path, sentence: str, when: str = "2026-12-02 06:16 UTC") -> Path:
    root.mkdir(parents=True)
    page = (f"<html><head><style>p {{ color: red }}</style><script>var x = 1;</script></head><body>"
            f"<h1>客户分层报告</h1><p>生成于 {when}</p><p>{sentence}</p>"
            f"<img src='data:image/png;base64,{when.encode().hex()}'><p>C-7F3A2B</p></body></html>")
    (root / "index.html").write_text(page, encoding="utf-8")
    (root / "manifest.json").write_text(json.dumps({"started": when}), encoding="utf-8")
    return root


def test_reports_compare_as_a_reader_sees_them(tmp_path):
    first = report_folder(tmp_path / "a", "第1层占价值的 62%。")
    same = report_folder(tmp_path / "b", "第1层占价值的 62%。", when="2027-01-01 00:00 UTC")
    assert compare_runs(first, same).equal, "generation time, images, styles and the manifest are set aside"
    changed = report_folder(tmp_path / "c", "第1层占价值的 63%。")
    result = compare_runs(first, changed)
    assert list(result.differences) == ["index.html"]
    assert "-第1层占价值的 62%。" in result.differences["index.html"]
    assert "+第1层占价值的 63%。" in result.differences["index.html"]
