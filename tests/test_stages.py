"""Each stage is a pure ``compute`` and a thin ``run``: compute writes nothing, run writes what compute found."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from analysis.frame import catalog
from analysis.frame.study import Study, open_study
from analysis.stages import allocation, clean, rfm_clv, tiers
from tests.test_one_source import three_tier_customers, write_three_tiers

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def study(tmp_path) -> Study:
    if not (ROOT / "data/raw/sample/truth.json").is_file():
        pytest.skip("sample data missing: run `make sample-data`")
    return open_study(ROOT / "params" / "sample.yaml", out_root=tmp_path)


def files_in(folder: Path) -> set[str]:
    return {p.name for p in folder.rglob("*") if p.is_file()} if folder.exists() else set()


def test_stage_one_computes_without_writing_and_runs_to_its_outputs(study):
    cleaned = clean.compute(study.params)
    assert files_in(study.processed_dir) == set()
    assert cleaned.quality["transactions"]["rows_in"] == (
        cleaned.quality["transactions"]["rows_kept"] + cleaned.quality["transactions"]["rows_quarantined"]
    )
    clean.run(study)
    written = files_in(study.processed_dir)
    assert {catalog.TRANSACTIONS, catalog.QUARANTINE, catalog.QUALITY, catalog.QUALITY_GATE} <= written
    assert len(study.read(catalog.QUARANTINE)) == len(cleaned.quarantine)


def test_stage_one_publishes_the_transactions_it_writes_as_they_are_made_only_once_all_is_cleaned(study, monkeypatch):
    """The cleaned transactions are written while they are cleaned; a failure after that leaves no
    transactions file and no part of one."""
    def fail(results):
        raise RuntimeError("a failure after the transactions were written")

    monkeypatch.setattr(clean, "add_join_rates", fail)
    with pytest.raises(RuntimeError, match="after the transactions"):
        clean.run(study)
    assert files_in(study.processed_dir) == set()


@pytest.mark.parametrize("transactions_broken", [False, True])
def test_stage_one_says_what_is_wrong_with_the_surveys_first(study, tmp_path, transactions_broken):
    """The surveys and complaints are cleaned while the transactions are: an error in the surveys is
    still the one raised, also when the transactions fail too, as when they were cleaned first."""
    from analysis.methods.loading import InputFileError

    inputs = study.params.inputs
    wrong = tmp_path / "wrong_headers.csv"
    wrong.write_text("a,b\n1,2\n", encoding="utf-8")
    broken = {"surveys": inputs.surveys.model_copy(update={"path": wrong})}
    if transactions_broken:
        broken["transactions"] = inputs.transactions.model_copy(update={"path": wrong})
    params = study.params.model_copy(update={"inputs": inputs.model_copy(update=broken)})
    with pytest.raises(InputFileError, match=r"wrong_headers\.csv.*inputs\.surveys\.columns"):
        clean.compute(params)


def test_stage_one_reads_transactions_that_do_not_decode_throughout_whole(study, tmp_path):
    """Stage 1 finds how the transactions are read while it cleans the customer master. A file with
    a line that does not decode cannot be read in batches: it is read whole, as when the
    transactions are cleaned alone, and the line is set aside."""
    from analysis.methods.cleaning import clean_transactions
    from analysis.methods.cleaning_batches import transaction_batches
    from analysis.methods.ids import PaddingReference

    lines = study.params.inputs.transactions.path.read_bytes().splitlines(keepends=True)
    broken = tmp_path / "transactions.csv"
    broken.write_bytes(b"".join([*lines[:100], b"\xff\xfe not text\n", *lines[100:]]))
    spec = study.params.inputs.transactions.model_copy(update={"path": broken})
    assert transaction_batches(spec) is None
    params = study.params.model_copy(update={"inputs": study.params.inputs.model_copy(update={"transactions": spec})})

    cleaned = clean.compute(params).results
    master = PaddingReference.of(cleaned["customers"].kept["customer_id"].dropna().astype(str))
    alone = clean_transactions(spec, params.period, params.cleaning, master_ids=master, rows_per_batch=0)
    quality = cleaned["transactions"].quality
    assert {name: quality[name] for name in alone.quality} == alone.quality  # stage 1 adds the join rates
    pd.testing.assert_frame_equal(cleaned["transactions"].kept, alone.kept)
    pd.testing.assert_frame_equal(cleaned["transactions"].quarantine, alone.quarantine)
    assert quality["reasons"]["undecodable_row"] == 1


def test_stage_three_computes_the_record_it_then_writes(study):
    customers = three_tier_customers().drop(columns=["tier", "tier_name"])
    params = study.params.model_copy(update={"tiering": study.params.tiering.model_copy(
        update={"n_tiers": 3, "names": None, "previous_run": None, "compare_methods": []})})
    result = tiers.compute(customers, pd.DataFrame(columns=["customer_id", "amount"]), None, params)
    assert files_in(study.processed_dir) == set()
    assert result.record["n_tiers"] == 3 and sorted(result.customers["tier"].unique()) == [1, 2, 3]
    assert result.record["migration"] is None and result.migration is None


def test_stage_five_computes_for_the_tier_count_it_is_given(study):
    write_three_tiers(study)
    before = files_in(study.processed_dir)
    outcome = allocation.compute(study.read(catalog.TIER_PROFILE), 3, study.params)
    assert files_in(study.processed_dir) == before
    assert sorted(outcome.playbook) == [1, 2, 3]
    allocation.run(study)
    assert study.read(catalog.ALLOCATION)["budget"].sum() == pytest.approx(outcome.table["budget"].sum())


@pytest.mark.parametrize("rows", [
    [("c1", 10.0, 10.0, 0.0)],
    [("c1", 10.0, 12.5, -2.5), ("c2", None, 3.0, 0.0), ("c1", -4.0, 0.0, -4.0), (None, 7.25, 7.25, None)],
    [(f"c{i % 7}", float(i * 37 % 101) - 20, float(i * 37 % 101), 0.0 if i % 3 else -1.5) for i in range(250)],
    [],
], ids=["one row", "missing values", "many rows", "no rows"])
def test_the_amounts_overview_is_pandas_describe_of_the_file(tmp_path, rows):
    """Rows, distinct customers (missing ids not counted) and describe's table of the amounts, by the engine."""
    frame = pd.DataFrame(rows, columns=["customer_id", *clean.AMOUNT_COLUMNS]).astype(
        {"customer_id": "string", **dict.fromkeys(clean.AMOUNT_COLUMNS, "float64")})
    frame.to_parquet(tmp_path / "transactions.parquet", index=False)
    overview = clean.amounts_overview(tmp_path / "transactions.parquet")
    assert (overview.rows, overview.customers) == (len(frame), frame["customer_id"].nunique())
    pd.testing.assert_frame_equal(overview.amounts, frame[list(clean.AMOUNT_COLUMNS)].describe(), rtol=1e-12)


def test_the_masters_columns_join_the_customers_by_id_and_a_repeated_master_id_is_refused():
    """A left join, one row per customer kept; ids missing from the master get empty columns; a master
    naming an id twice would repeat a customer, so it stops the join (missing ids may repeat)."""
    customers = pd.DataFrame({"customer_id": pd.array(["b", "a", "z"], dtype="string"), "clv": [1.0, 2.0, 3.0]})
    master = pd.DataFrame({"customer_id": pd.array(["a", "b", None, None], dtype="string"),
                           "region": pd.array(["北", "南", "x", "y"], dtype="string"), "balance": [5.0, 6.0, 7.0, 8.0],
                           "not_shown": [1, 2, 3, 4]})
    joined = rfm_clv.with_master_columns(customers, master)
    expected = customers.assign(region=pd.array(["南", "北", None], dtype="string"), balance=[6.0, 5.0, None])
    pd.testing.assert_frame_equal(joined, expected)
    with pytest.raises(ValueError, match="names a customer_id twice"):
        rfm_clv.with_master_columns(customers, pd.concat([master, master.head(1)], ignore_index=True))
