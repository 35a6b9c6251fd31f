"""The catalog of run outputs: complete, right about who writes what, and the only place a file is named."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from analysis.frame import catalog
from analysis.frame.runner import EXECUTED_NOTEBOOKS, STAGES
from analysis.frame.study import open_study

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "analysis"
REPORT = SRC / "report"

#: What the report computes with, per module of analysis/report/ (every other import of
#: analysis.methods is refused, and analysis.stages is never imported): the report reads the run's
#: outputs through the catalog and Study, and recomputes only these views of them.
REPORT_METHODS: dict[str, set[str]] = {
    "__init__": set(),
    "actions": set(),
    "blocks": set(),
    "build": set(),
    "charts": set(),
    "localize": set(),
    "readable": set(),
    "other_languages": set(),
    "tier_profiles": set(),
    "tier_rules": set(),
    "uncertainty": set(),
    "trends": set(),
    "managers": set(),
    "plan_effect": set(),
    "sections": {
        "analysis.methods.ids",  # Arrow's membership test of customer ids (surveys of the tiered customers)
        "analysis.methods.profiles",  # tier and purchase mix, Lorenz curve, Pareto message, Kruskal–Wallis
        "analysis.methods.quality_gate",  # input summaries, join breaches, the quality table
        "analysis.methods.satisfaction",  # latest answers behind the drivers' n
    },
}


def catalog_path(processed: Path, reports: Path, entry: catalog.Output) -> Path:
    return (reports if entry.folder == "reports" else processed) / entry.name


# ---------------------------------------------------------------------------------------------
# The catalog against a real run: the tests' sample run (surveys, complaints, a previous quarter).


@pytest.fixture(scope="module")
def sample_run(sample_report, out_root) -> tuple[Path, Path]:
    return out_root / "data/processed/sample", out_root / "reports/sample"


def test_every_file_of_the_run_is_in_the_catalog_in_its_format(sample_run):
    processed, _ = sample_run
    assert {p.name for p in processed.iterdir() if p.is_dir()} == {EXECUTED_NOTEBOOKS}
    files = sorted(p for p in processed.iterdir() if p.is_file())
    assert files
    for path in files:
        entry = catalog.entry(path.name)
        assert entry.folder == "processed", path.name
        if entry.format == "parquet":
            assert path.suffix == ".parquet" and pq.read_metadata(path).num_columns > 0, path.name
        elif entry.format == "json":
            assert path.suffix == ".json", path.name
            json.loads(path.read_text(encoding="utf-8"))
        else:
            assert entry.format == "text" and not path.suffix and path.read_text(encoding="utf-8").strip(), path.name


def test_every_output_always_written_is_there(sample_run):
    processed, reports = sample_run
    always = [e for e in catalog.outputs() if e.always]
    assert {catalog.TRANSACTIONS, catalog.CUSTOMERS, catalog.MASK_SALT, catalog.MANIFEST} <= {e.name for e in always}
    missing = [e.name for e in always if not catalog_path(processed, reports, e).is_file()]
    assert not missing
    # The sample has every input and a previous quarter, so the outputs that depend on them are there too.
    assert all(catalog_path(processed, reports, e).is_file() for e in catalog.outputs())


def test_each_output_was_last_written_by_the_stage_the_catalog_names(sample_run):
    """A stage's files are written between the previous stage's notebook HTML and its own executed notebook."""
    processed, _ = sample_run
    notebooks = processed / EXECUTED_NOTEBOOKS
    windows, start = {}, float("-inf")
    for stage in STAGES:
        windows[stage] = (start, (notebooks / f"{stage}.ipynb").stat().st_mtime_ns)
        start = (notebooks / f"{stage}.html").stat().st_mtime_ns
    first_stage_writes = min((processed / e.name).stat().st_mtime_ns for e in catalog.by_stage(STAGES[0]))
    for entry in catalog.outputs():
        if entry.folder != "processed":
            continue
        written = (processed / entry.name).stat().st_mtime_ns
        last = entry.writers[-1]
        if last == catalog.RUNNER:
            assert written <= first_stage_writes, f"{entry.name} is written by the runner before any stage"
        else:
            low, high = windows[last]
            assert low <= written <= high, f"{entry.name} was not last written by {last}"


def test_the_writers_are_the_notebooks_and_the_runner():
    assert set(catalog.stages()) == {*STAGES, catalog.RUNNER}
    for entry in catalog.outputs():
        assert entry.format in ("parquet", "json", "text") and entry.folder in ("processed", "reports")
        assert entry.summary and "\n" not in entry.summary
        if entry.format != "text":
            assert entry.name.endswith(f".{entry.format}"), entry.name
        assert list(entry.writers) == sorted(entry.writers, key=[*STAGES, catalog.RUNNER].index)
    assert catalog.names() == tuple(e.name for e in catalog.outputs())
    assert len(set(catalog.names())) == len(catalog.names())


def test_lookups_by_stage():
    assert catalog.by_stage("01_clean")[0].name == catalog.TRANSACTIONS
    assert catalog.CUSTOMERS in {e.name for e in catalog.written_by("03_tiers")}
    assert catalog.CUSTOMERS not in {e.name for e in catalog.by_stage("03_tiers")}
    assert {e.name for e in catalog.by_stage(catalog.RUNNER)} == {catalog.MASK_SALT, catalog.MANIFEST}
    assert sum(len(catalog.by_stage(s)) for s in catalog.stages()) == len(catalog.outputs())
    assert set(catalog.EXPERIENCE_TABLES.values()) == {
        e.name for e in catalog.by_stage("04_satisfaction_loyalty") if e.format == "parquet"
    }
    assert catalog.EXPERIENCE_TABLES["nps"] == "nps_by_tier.parquet"
    assert catalog.entry(catalog.EXPERIENCE_TABLES["watch_list"]).stage == "04_satisfaction_loyalty"


# ---------------------------------------------------------------------------------------------
# Study.read / Study.write


@pytest.fixture()
def study(tmp_path):
    return open_study(ROOT / "params" / "sample.yaml", out_root=tmp_path)


def test_read_and_write_round_trip(study):
    table = pd.DataFrame({"calibration_purchases": ["0", "1"], "n_customers": [3.0, 2.0]})
    table.attrs = {"note": object()}  # not stored, and need not be serialisable
    path = study.write(catalog.HOLDOUT, table)
    assert path == study.output(catalog.HOLDOUT) == study.processed_dir / "holdout.parquet"
    pd.testing.assert_frame_equal(study.read(catalog.HOLDOUT), table)
    models = {"clv": {"method": "historic"}, "skipped": {"bgnbd": {"zh": "未拟合", "en": "not fitted"}}}
    study.write(catalog.MODELS, models)
    assert study.read(catalog.MODELS) == models
    study.write(catalog.MASK_SALT, "abc\n")
    assert study.read(catalog.MASK_SALT) == "abc\n"
    study.write(catalog.MANIFEST, {"status": "ok"})
    assert (study.reports_dir / "manifest.json").is_file() and study.read(catalog.MANIFEST) == {"status": "ok"}
    assert not list(study.processed_dir.glob(".*.tmp"))
    study.remove(catalog.HOLDOUT)
    assert study.read_optional(catalog.HOLDOUT) is None
    study.remove(catalog.HOLDOUT)  # removing what is not there is fine


def test_a_parquet_output_reads_only_the_columns_asked_for_that_it_has(study):
    table = pd.DataFrame({"customer_id": ["a", "b"], "amount": [1.0, 2.0], "cost": [0.5, None], "channel": ["x", "y"]})
    study.write(catalog.TRANSACTIONS, table)
    pd.testing.assert_frame_equal(study.read(catalog.TRANSACTIONS, columns=["cost", "customer_id", "missing"]),
                                  table[["customer_id", "cost"]])  # the file's order; an absent name is left out
    pd.testing.assert_frame_equal(study.read_optional(catalog.TRANSACTIONS, columns=("amount",)), table[["amount"]])
    pd.testing.assert_frame_equal(study.read(catalog.TRANSACTIONS), table)
    assert study.read_optional(catalog.SURVEYS, columns=["customer_id"]) is None


def test_a_missing_output_names_the_run_and_the_fix(study):
    assert study.read_optional(catalog.SURVEYS) is None
    with pytest.raises(FileNotFoundError, match="has not run for 'sample'") as err:
        study.read(catalog.CUSTOMERS)
    assert "customers.parquet" in str(err.value) and "python -m analysis run" in str(err.value)


def test_names_outside_the_catalog_are_refused(study):
    for call in (study.read, study.read_optional, study.output, study.require, study.remove, study.previous_output):
        with pytest.raises(catalog.UnknownOutputError, match="not a run output listed in analysis.frame.catalog"):
            call("customer.parquet")
    with pytest.raises(catalog.UnknownOutputError):
        study.write("customer.parquet", pd.DataFrame())
    assert not (study.processed_dir / "customer.parquet").exists()


def test_an_output_is_written_in_its_own_format(study):
    with pytest.raises(TypeError, match="parquet"):
        study.write(catalog.CUSTOMERS, {"customer_id": ["A"]})
    with pytest.raises(TypeError, match="text"):
        study.write(catalog.MASK_SALT, 123)
    assert not study.output(catalog.CUSTOMERS).exists()


# ---------------------------------------------------------------------------------------------
# Static checks: files are named only in the catalog; the report does not reach into the stages.


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, at any level; ``from a import b`` counts as ``a.b`` when b is a module."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names
                      if (SRC.parent / f"{node.module}.{alias.name}".replace(".", "/")).with_suffix(".py").is_file()
                      or (SRC.parent / f"{node.module}.{alias.name}".replace(".", "/")).is_dir()}
    return found


def test_the_report_never_imports_the_stages_and_only_the_methods_it_computes_with():
    modules = sorted(REPORT.glob("*.py"))
    assert {m.stem for m in modules} <= set(REPORT_METHODS)
    for module in modules:
        imports = imported_modules(module)
        assert not {m for m in imports if m.startswith("analysis.stages")}, module.name
        methods = {m for m in imports if m.startswith("analysis.methods.")}
        assert methods <= REPORT_METHODS[module.stem], (module.name, methods)


def test_the_report_modules_import_each_other_one_way():
    assert "analysis.report.build" not in imported_modules(REPORT / "sections.py")
    blocks = imported_modules(REPORT / "blocks.py")
    assert not {"analysis.report.build", "analysis.report.sections"} & blocks
    assert "analysis.report.sections" in imported_modules(REPORT / "build.py")


def test_no_stage_imports_the_cleaning_stage_for_file_names():
    for module in sorted(SRC.rglob("*.py")):
        assert "analysis.stages.clean" not in imported_modules(module), module.relative_to(SRC)


def test_file_names_are_spelled_only_in_the_catalog():
    names = set(catalog.names())
    for module in sorted(SRC.rglob("*.py")):
        if module == SRC / "frame" / "catalog.py":
            continue
        spelled = {node.value for node in ast.walk(ast.parse(module.read_text(encoding="utf-8")))
                   if isinstance(node, ast.Constant) and node.value in names}
        assert not spelled, f"{module.relative_to(SRC)} names {sorted(spelled)}: use the analysis.frame.catalog constants"
