"""make bench's fit-only rows: the simulated customers every tool fits, and the side-by-side table."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import fit_clv  # noqa: E402
import run  # noqa: E402


def test_the_simulated_summary_is_what_the_fit_stages_read(tmp_path):
    path = tmp_path / "summary.parquet"
    fit_clv.save_summary(path, 3_000, seed=7)
    summary = pd.read_parquet(path)
    assert list(summary.columns) == ["customer_id", "frequency", "recency", "T", "monetary_value"]
    assert len(summary) == 3_000 and summary["customer_id"].is_unique
    assert (summary["recency"] == summary["recency"].round()).all()  # whole days, as from dated orders
    assert (summary["recency"] <= summary["T"]).all()
    assert (summary.loc[summary["frequency"] == 0, "monetary_value"] == 0).all()
    assert (summary.loc[summary["frequency"] > 0, "monetary_value"] > 0).all()
    pd.testing.assert_frame_equal(summary, fit_clv.summary_frame(3_000, seed=7))


def test_fit_only_table_gives_each_peer_as_a_multiple_of_ours():
    size = run.fit_only_label(1_000_000)
    assert size == "1M simulated cust"
    bg = {"r": 0.6, "alpha": 35.0, "a": 0.7, "b": 3.5}
    rows = [
        run.Row(run.FIT_ONLY_STAGE, size, "ours, clv (ML)", "ok", wall=2.0, peak_bytes=400 * run.MIB,
                facts={"bg": bg}),
        run.Row(run.FIT_ONLY_STAGE, size, "lifetimes BetaGeo+GammaGamma", "ok", wall=6.0, peak_bytes=600 * run.MIB,
                facts={"bg": {**bg, "b": 3.5 * 1.001}}),
        run.Row(run.FIT_ONLY_STAGE, size, "PyMC-Marketing (MAP)", "not available", notes="no venv"),
        run.Row("1 summary", "10M tx / 1M cust", "ours, DuckDB", "ok", wall=4.0, peak_bytes=run.MIB),
    ]
    lines = run.fit_only_table(rows)
    assert len(lines) == 2 + 3  # header, rule, the three fit-only rows (not the summary)
    ours, lifetimes, pymc = lines[2:]
    assert "1.00x" in ours
    assert "3.00x" in lifetimes and "1.50x" in lifetimes and "max rel. diff 1.0e-03" in lifetimes
    assert "not available" in pymc and "x" not in pymc.split("not available")[1]
    assert run.fit_only_table(rows[3:]) == []


def test_the_hand_written_duckdb_summary_is_the_pandas_reference(tmp_path):
    import datagen
    import duckdb_summary
    import pandas_summary
    import pyarrow.parquet as pq
    import stages

    path = tmp_path / "transactions.parquet"
    pq.write_table(datagen.generate(2_000, 20_000, seed=3), path)
    ours = duckdb_summary.rfm_summary_duckdb(path, stages.END_DAY)
    reference = pandas_summary.rfm_summary_pandas(pd.read_parquet(path), stages.END_DAY)
    assert len(ours) > 1_000 and (ours["frequency"] > 0).any()
    same, detail = pandas_summary.compare_summaries(ours, reference, money_tolerance=1e-9)
    assert same, detail
    assert list(ours["customer_id"]) == sorted(ours["customer_id"])


def test_the_summary_target_is_ours_as_a_multiple_of_the_hand_written_query():
    large, small = run.size_label(*run.SIZES["large"]), run.size_label(*run.SIZES["small"])
    rows = [
        run.Row("1 summary", large, "ours, DuckDB", "ok", wall=3.0),
        run.Row("1 summary", large, run.SQL_FLOOR_TOOL, "ok", wall=2.0),
        run.Row("1 summary", small, "ours, DuckDB", "ok", wall=0.5),
        run.Row("1 summary", small, run.SQL_FLOOR_TOOL, "error", notes="boom"),
    ]
    large_line, small_line = run.summary_target_lines(rows)
    assert "1.50x the hand-written DuckDB query's 2.00 s" in large_line and large_line.endswith("NOT MET")
    assert small_line == f"summary ({small}): ours against the hand-written DuckDB query not measured"
    rows[0].wall = 2.5
    assert run.summary_target_lines(rows)[0].endswith("<= 1.3x: MET")
