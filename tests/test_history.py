"""The study history: append, replace on rerun, nothing on failure, the schema check, the commands, the trends."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from analysis.__main__ import main
from analysis.frame import catalog, history
from analysis.frame.history import SCHEMA, HistoryError, RunRecords
from analysis.frame.params import history_path
from analysis.frame.study import open_study, publish, recover_publish

ROOT = Path(__file__).resolve().parents[1]
TOL = 1e-9  # relative tolerance of figures read back from the file


def synthetic(run: str, period_end: str, *, series: str = "main", n_tiers: int = 4, scale: float = 1.0,
              customers_per_tier: int = 3) -> RunRecords:
    """Records of a made-up run: tier t has 100·t·scale customers, value share falling with t, …"""
    tiers = pd.DataFrame({
        "run": run, "tier": range(1, n_tiers + 1),
        "name_zh": [f"层{t}" for t in range(1, n_tiers + 1)], "name_en": [f"Tier {t}" for t in range(1, n_tiers + 1)],
        "customers": [100 * t * scale for t in range(1, n_tiers + 1)],
        "clv_share": [0.6 / t for t in range(1, n_tiers + 1)],
        "p_alive_mean": [0.9 - 0.1 * t for t in range(1, n_tiers + 1)],
        "nps": [20.0 - 10 * t * scale for t in range(1, n_tiers + 1)],
        "csat_mean": [8.0 - 0.3 * t for t in range(1, n_tiers + 1)],
        "complaints_per_100": [10.0 * t * scale for t in range(1, n_tiers + 1)],
        "churn_risk_mean": [0.1 * t for t in range(1, n_tiers + 1)],
        "budget": [1000.0 * scale / t for t in range(1, n_tiers + 1)],
    })
    customers = pd.DataFrame([
        {"run": run, "customer_id": f"C{t}{i:03d}", "tier": t, "clv": 100.0 / t, "p_alive": 0.5, "churn_risk": 0.2,
         "risk_band": "low"}
        for t in range(1, n_tiers + 1) for i in range(customers_per_tier)
    ])
    end = pd.Timestamp(period_end)
    runs = pd.DataFrame([{
        "run": run, "series": series, "period_start": pd.Timestamp("2023-01-01"), "period_end": end, "language": "zh",
        "n_tiers": n_tiers, "tier_method": "clv", "customers": len(customers), "budget": 1e6, "currency": "元",
        "attempt": f"attempt-{run}", "written_at": pd.Timestamp("2026-01-01 09:00"),
    }])
    allocation = tiers[["run", "tier", "customers", "budget"]].assign(manager_level="senior", capacity_binding=False)
    models = pd.DataFrame({"run": run, "model": "bgnbd", "parameter": ["r", "alpha"], "value": [0.5, 10.0 * scale],
                           "standard_error": [0.01, 0.5]})
    return RunRecords(*(history._conform(frame, table) for frame, table in (
        (runs, "runs"), (tiers, "tiers"), (allocation, "allocation"), (models, "models"), (customers, "customers"))))


def rows(path: Path, table: str, run: str | None = None) -> pd.DataFrame:
    with duckdb.connect(str(path), read_only=True) as con:
        where = f" WHERE run = '{run}'" if run else ""
        return con.execute(f"SELECT * FROM {table}{where} ORDER BY ALL").df()


@pytest.fixture()
def db(tmp_path) -> Path:
    return tmp_path / "reports" / "history.duckdb"


# ---------------------------------------------------------------------------------------------
# Append, replace, list, remove.


def test_append_writes_every_table_and_lists_the_run(db):
    assert history.append(db, synthetic("2025q1", "2025-03-31")) == []
    runs = history.list_runs(db)
    assert runs["run"].tolist() == ["2025q1"]
    assert runs.loc[0, "tier_rows"] == 4 and runs.loc[0, "customer_rows"] == 12
    assert pd.Timestamp(runs.loc[0, "period_end"]).date().isoformat() == "2025-03-31"
    for table in history.RUN_TABLES:
        assert len(rows(db, table)) > 0, table
    tiers = rows(db, "tiers")
    assert tiers["customers"].tolist() == [100, 200, 300, 400]
    assert tiers["clv_share"].iloc[0] == pytest.approx(0.6, rel=TOL)
    assert tiers["revenue"].isna().all()  # a figure the run lacks is stored as missing


def test_a_rerun_of_the_same_run_replaces_its_rows(db):
    history.append(db, synthetic("2025q1", "2025-03-31", scale=1.0))
    history.append(db, synthetic("2025q2", "2025-06-30"))
    assert history.append(db, synthetic("2025q1", "2025-03-31", scale=2.0, customers_per_tier=2)) == ["2025q1"]
    assert history.list_runs(db)["run"].tolist() == ["2025q1", "2025q2"]
    tiers = rows(db, "tiers", "2025q1")
    assert tiers["customers"].tolist() == [200, 400, 600, 800]  # the rerun's figures, once
    assert len(rows(db, "customers", "2025q1")) == 8
    assert rows(db, "models", "2025q1").set_index("parameter").loc["alpha", "value"] == pytest.approx(20.0, rel=TOL)
    assert len(rows(db, "tiers", "2025q2")) == 4  # the other quarter untouched


def test_the_same_quarter_under_a_new_name_replaces_it_within_its_series_only(db):
    history.append(db, synthetic("2025q1", "2025-03-31"))
    history.append(db, synthetic("retail_2025q1", "2025-03-31", series="retail"))
    assert history.append(db, synthetic("2025q1_fixed", "2025-03-31")) == ["2025q1"]
    assert sorted(history.list_runs(db)["run"]) == ["2025q1_fixed", "retail_2025q1"]
    assert rows(db, "customers", "2025q1").empty


def test_remove_drops_one_run_from_every_table(db):
    history.append(db, synthetic("2025q1", "2025-03-31"))
    history.append(db, synthetic("2025q2", "2025-06-30"))
    assert history.remove(db, "2025q1") is True
    assert history.remove(db, "2025q1") is False
    for table in history.RUN_TABLES:
        assert set(rows(db, table)["run"]) == {"2025q2"}, table


# ---------------------------------------------------------------------------------------------
# Nothing on failure.


def test_a_failing_write_inside_the_transaction_leaves_the_old_content(db, monkeypatch):
    history.append(db, synthetic("2025q1", "2025-03-31"))
    before = {table: rows(db, table) for table in history.RUN_TABLES}
    real_insert = history._insert

    def insert_then_fail(con, table, frame):
        real_insert(con, table, frame)
        if table == "customers":  # every other table of the rerun is written by now
            raise OSError("disk full")

    monkeypatch.setattr(history, "_insert", insert_then_fail)
    with pytest.raises(OSError, match="disk full"):
        history.append(db, synthetic("2025q1", "2025-03-31", scale=5.0))
    with pytest.raises(OSError, match="disk full"):
        history.append(db, synthetic("2025q2", "2025-06-30"))
    for table, frame in before.items():
        pd.testing.assert_frame_equal(rows(db, table), frame, obj=table)


def test_a_duplicate_key_fails_the_run_and_leaves_the_old_content(db):
    history.append(db, synthetic("2025q1", "2025-03-31"))
    broken = synthetic("2025q2", "2025-06-30")
    broken = replace(broken, customers=pd.concat([broken.customers, broken.customers.head(1)], ignore_index=True))
    with pytest.raises(HistoryError, match=r"its customers table repeats the key \(run, customer_id\) on 1 row, "
                                           r"e\.g\. run='2025q2', customer_id='C1000'"):
        history.append(db, broken)
    assert history.list_runs(db)["run"].tolist() == ["2025q1"]
    assert set(rows(db, "tiers")["run"]) == {"2025q1"}


def primary_keys(path: Path) -> set[str]:
    with duckdb.connect(str(path), read_only=True) as con:
        return {table for (table,) in con.execute(
            "SELECT table_name FROM duckdb_constraints() WHERE constraint_type = 'PRIMARY KEY'").fetchall()}


def test_the_customers_key_is_not_indexed_and_a_file_that_indexed_it_is_rebuilt_once(db, monkeypatch):
    # an index on the customers' key makes committing a rerun's delete cost ~30 µs a row
    with monkeypatch.context() as older_release:
        older_release.setattr(history, "UNINDEXED", ())
        history.append(db, synthetic("2025q1", "2025-03-31"))
        history.append(db, synthetic("2025q2", "2025-06-30"))
    assert "customers" in primary_keys(db)
    before = rows(db, "customers")
    assert history.append(db, synthetic("2025q2", "2025-06-30", customers_per_tier=2)) == ["2025q2"]
    assert primary_keys(db) == set(SCHEMA) - {"customers"}
    pd.testing.assert_frame_equal(rows(db, "customers", "2025q1"), before[before["run"] == "2025q1"].reset_index(drop=True))
    assert len(rows(db, "customers", "2025q2")) == 8
    history.check(db)


def test_a_process_killed_mid_append_leaves_the_old_content(db, tmp_path):
    history.append(db, synthetic("2025q1", "2025-03-31"))
    before = {table: rows(db, table) for table in history.RUN_TABLES}
    ready = tmp_path / "ready"
    script = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        sys.path.insert(0, {str(ROOT)!r})
        from analysis.frame import history
        from tests.test_history import synthetic
        real_insert = history._insert
        def insert_and_hang(con, table, frame):
            real_insert(con, table, frame)
            if table == "allocation":
                Path({str(ready)!r}).write_text("inside")
                time.sleep(600)
        history._insert = insert_and_hang
        history.append(Path({str(db)!r}), synthetic("2025q1", "2025-03-31", scale=9.0))
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    try:
        deadline = time.monotonic() + 120
        while not ready.is_file():
            assert proc.poll() is None, f"the appending process ended early (exit {proc.returncode})"
            assert time.monotonic() < deadline, "the appending process never reached the transaction"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    for table, frame in before.items():
        pd.testing.assert_frame_equal(rows(db, table), frame, obj=table)
    assert history.append(db, synthetic("2025q2", "2025-06-30")) == []  # the file is usable afterwards


def test_a_failing_step_after_the_publish_renames_keeps_the_journal_and_the_next_run_redoes_it(tmp_path):
    """publish's ``then`` (the history append) is part of the publish: when it fails, recover_publish redoes it."""
    first = open_study(ROOT / "params/sample.yaml", tmp_path, attempt="a1")
    (first.processed_dir / "marker").write_text("a1")

    def failing(published):
        raise OSError("history unavailable")

    with pytest.raises(OSError, match="history unavailable"):
        publish(first, then=failing)
    assert (first.published_processed_dir / "marker").read_text() == "a1"
    journal = first.processed_staging_root / "publishing.json"
    assert journal.is_file()
    done = []
    recover_publish(open_study(ROOT / "params/sample.yaml", tmp_path, attempt="a2"), then=done.append)
    assert [s.published_processed_dir for s in done] == [first.published_processed_dir]
    assert not journal.exists()


# ---------------------------------------------------------------------------------------------
# The schema check, the lock.


def test_a_file_that_is_not_a_history_is_refused_with_what_differs(db):
    db.parent.mkdir(parents=True)
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE TABLE runs (run VARCHAR, quarter INTEGER)")
    with pytest.raises(HistoryError) as err:
        history.append(db, synthetic("2025q1", "2025-03-31"))
    message = str(err.value)
    assert str(db) in message and "not a study history of schema version" in message
    assert "table runs has columns (run VARCHAR, quarter INTEGER)" in message and "table tiers is missing" in message
    assert "Point history.path at another file, or move history.duckdb away" in message
    with pytest.raises(HistoryError):
        history.check(db)


def test_a_history_of_another_schema_version_is_refused(db):
    history.append(db, synthetic("2025q1", "2025-03-31"))
    with duckdb.connect(str(db)) as con:
        con.execute("UPDATE history_meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(HistoryError, match=r"schema version 99, expected 1"):
        history.list_runs(db)


def test_a_file_that_is_not_duckdb_is_refused(db):
    db.parent.mkdir(parents=True)
    db.write_text("quarter,customers\n2025q1,10\n")
    with pytest.raises(HistoryError, match="cannot be opened as the study history"):
        history.check(db)


def test_the_schema_is_the_declared_one():
    statements = history.create_statements()
    assert len(statements) == len(SCHEMA)
    assert "CREATE TABLE customers (run VARCHAR NOT NULL, customer_id VARCHAR NOT NULL, tier INTEGER" in "".join(statements)


def test_a_writer_waits_for_the_lock_and_says_who_holds_it(db, monkeypatch):
    history.append(db, synthetic("2025q1", "2025-03-31"))
    with history._locked(db, exclusive=True):
        with pytest.raises(HistoryError, match=r"in use by another process .*history.duckdb.lock"):
            with history._locked(db, exclusive=True, timeout=0.3):
                pass
    with history._locked(db, exclusive=False), history._locked(db, exclusive=False, timeout=0.3):
        pass  # readers share the file


# ---------------------------------------------------------------------------------------------
# The commands.


def test_history_list_and_remove_commands(db, capsys):
    history.append(db, synthetic("2025q1", "2025-03-31"))
    history.append(db, synthetic("2025q2", "2025-06-30"))
    assert main(["history", "list", "--path", str(db)]) == 0
    listed = capsys.readouterr().out
    assert "2 run(s)" in listed and listed.index("2025q1") < listed.index("2025q2")
    assert "2023-01-01 – 2025-06-30" in listed and "attempt attempt-2025q2" in listed
    assert main(["history", "remove", "2025q1", "--path", str(db)]) == 0
    assert "removed '2025q1'" in capsys.readouterr().out
    assert main(["history", "remove", "2025q1", "--path", str(db)]) == 1
    assert "holds no run '2025q1'" in capsys.readouterr().err
    assert history.list_runs(db)["run"].tolist() == ["2025q2"]
    assert main(["history", "list", "--path", str(db.parent / "none.duckdb")]) == 1
    assert "no study history there" in capsys.readouterr().err


def test_history_params_default_to_the_reports_folder_and_follow_out(tmp_path):
    study = open_study(ROOT / "params/sample.yaml", tmp_path)
    assert history_path(study.params) == tmp_path.resolve() / "reports" / "history.duckdb"
    off = study.params.model_copy(update={"history": study.params.history.model_copy(update={"enabled": False})})
    assert history_path(off) is None


# ---------------------------------------------------------------------------------------------
# On the shared sample run: the runner's append and the Trends section.


def test_the_sample_runs_are_in_the_history_once_each(sample_report, out_root):
    path = out_root / "reports" / "history.duckdb"
    runs = history.list_runs(path)
    assert runs["run"].tolist() == ["sample_prev", "sample"]
    manifest = json.loads((out_root / "reports/sample/manifest.json").read_text(encoding="utf-8"))
    assert runs.set_index("run").loc["sample", "attempt"] == manifest["attempt"]
    profile = pd.read_parquet(out_root / "data/processed/sample" / catalog.TIER_PROFILE)
    stored = rows(path, "tiers", "sample")
    assert stored["customers"].tolist() == profile["customers"].tolist()
    assert stored["clv_share"].to_numpy() == pytest.approx(profile["clv_share"].to_numpy(), rel=TOL)
    customers = pd.read_parquet(out_root / "data/processed/sample" / catalog.CUSTOMERS)
    assert len(rows(path, "customers", "sample")) == len(customers)
    page = (out_root / "reports/sample/index.en.html").read_text(encoding="utf-8")
    assert '<section id="trends">' in page and "the 2 quarters of this study" in page


def sample_study(out_root: Path, history_file: Path, **history_settings):
    """The published sample run, its history pointed at ``history_file``."""
    study = open_study(ROOT / "params/sample.yaml", out_root)
    settings = study.params.history.model_copy(update={"path": history_file, **history_settings})
    return replace(study, params=study.params.model_copy(update={"history": settings}))


def test_four_quarters_of_trends(sample_report, out_root, tmp_path):
    """Two synthetic quarters, the published previous quarter and this run's own outputs: four points per tier."""
    from analysis.report.sections import RunOutputs
    from analysis.report.trends import trends_section

    path = tmp_path / "history.duckdb"
    history.append(path, synthetic("q1", "2025-03-31"))
    history.append(path, synthetic("q2", "2025-06-30", scale=1.1))
    assert history.add_report_folder(out_root / "reports/sample_prev", path) == path
    history.append(path, synthetic("other_study", "2025-06-30", series="other"))  # another series: left out
    study = sample_study(out_root, path)
    quarters = history.quarters(study)
    assert [d.date().isoformat() for d in dict.fromkeys(quarters["period_end"])] == [
        "2025-03-31", "2025-06-30", "2025-09-30", "2025-12-31"]
    assert quarters.groupby("period_end")["tier"].apply(list).tolist() == [[1, 2, 3, 4]] * 4
    profile = pd.read_parquet(out_root / "data/processed/sample" / catalog.TIER_PROFILE)
    latest = quarters[quarters["period_end"] == pd.Timestamp("2025-12-31")]
    assert latest["customers"].tolist() == profile["customers"].tolist()  # this quarter from its own outputs
    assert quarters[quarters["period_end"] == pd.Timestamp("2025-06-30")]["customers"].tolist() == [110, 220, 330, 440]
    for language, intro in (("en", "the 4 quarters of this study in the study history, 2025Q1 to 2025Q4"),
                            ("zh", "本研究的4个季度（2025Q1至2025Q4")):
        section = trends_section(study, language, RunOutputs(study, language))
        assert section.id == "trends"
        assert intro in section.blocks[0]
        assert section.blocks[1].startswith('<img src="data:image/png;base64,')
    # the run's own quarter replaces a stored one of the same run name (its earlier attempt)
    history.append(path, synthetic("sample", "2025-12-31", scale=7.0))
    again = history.quarters(study)
    assert again[again["period_end"] == pd.Timestamp("2025-12-31")]["customers"].tolist() == profile["customers"].tolist()


def test_one_quarter_says_so_and_no_history_no_section(sample_report, out_root, tmp_path):
    from analysis.report.sections import RunOutputs
    from analysis.report.trends import trends_section

    study = sample_study(out_root, tmp_path / "empty.duckdb")
    section = trends_section(study, "en", RunOutputs(study, "en"))
    assert "no earlier quarter of this study" in section.blocks[0] and "2025Q4" in section.blocks[0]
    assert "<table>" in section.blocks[1] and not any("<img" in b for b in section.blocks)
    assert not (tmp_path / "empty.duckdb").exists()  # the report only reads the history
    off = sample_study(out_root, tmp_path / "empty.duckdb", enabled=False)
    assert trends_section(off, "zh", RunOutputs(off, "zh")) is None


# ---------------------------------------------------------------------------------------------
# The runner: the history checked before any work, a failed append named with its remedy.


def test_a_run_with_a_foreign_history_file_stops_before_any_stage(tmp_path):
    from analysis.frame.runner import StageFailed, run_study

    bad = tmp_path / "reports" / "history.duckdb"
    bad.parent.mkdir(parents=True)
    bad.write_text("not a database\n")
    with pytest.raises(StageFailed, match="the study history cannot be used") as err:
        run_study(ROOT / "params/sample.yaml", out_root=tmp_path, progress=False)
    assert "Nothing was run" in str(err.value) and str(bad) in str(err.value)
    assert not list((tmp_path / "data/processed").rglob("*.ipynb"))
    assert bad.read_text() == "not a database\n"


def test_an_append_that_fails_after_the_renames_says_what_was_published_and_how_to_add_it(tmp_path, monkeypatch):
    from analysis.frame import runner

    def broken(study):
        raise HistoryError("disk full")

    monkeypatch.setattr(history, "add_published", broken)
    study = open_study(ROOT / "params/sample.yaml", tmp_path)
    study.published_processed_dir.mkdir(parents=True, exist_ok=True)
    (study.published_processed_dir / catalog.TIER_PROFILE).write_bytes(b"")  # a run that has tiers
    with pytest.raises(runner.StageFailed) as err:
        runner._add_to_history(study)
    message = str(err.value)
    assert message.startswith("publishing 'sample': its outputs are in") and "HistoryError: disk full" in message
    assert "The next run of 'sample' adds it again" in message
    assert f"python -m analysis history add {study.published_reports_dir}" in message


def test_a_run_without_tiers_yet_is_published_and_not_added(tmp_path, monkeypatch, capsys):
    from analysis.frame import runner

    def must_not_run(study):
        raise AssertionError("a run without tiers has no quarter to add")

    monkeypatch.setattr(history, "add_published", must_not_run)
    study = open_study(ROOT / "params/sample.yaml", tmp_path)
    study.published_processed_dir.mkdir(parents=True, exist_ok=True)
    runner._add_to_history(study)
    assert "'sample' is not added to the study history: it has no tiers yet" in capsys.readouterr().err


def test_history_keys_are_checked_at_load(tmp_path):
    from analysis.frame.params import ParamsError, load_params
    from tests.test_params import write_params

    def bad(params):
        params["history"] = {"enabled": "sometimes", "series": "", "pth": "x.duckdb"}

    with pytest.raises(ParamsError) as err:
        load_params(write_params(tmp_path, bad))
    message = str(err.value)
    assert "history.enabled" in message and "history.series" in message and "pth" in message

    def relative(params):
        params["history"] = {"path": "custom/h.duckdb", "series": "retail"}

    loaded = load_params(write_params(tmp_path, relative))
    assert loaded.history.path.is_absolute() and loaded.history.path.name == "h.duckdb"
    assert history_path(loaded) == loaded.history.path and loaded.history.series == "retail"
