"""Stages read only the customers' columns they use: the same outcome as from the whole table.

Stage 4 puts the columns it does not read back into what it writes (:mod:`analysis.frame.unread_columns`);
stages 5 and 6 write no customers table, so they read their few columns (``CUSTOMER_COLUMNS``) and no
more. Stages 3, 5 and 6 read few columns of last quarter's customers too.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from analysis.frame import catalog
from analysis.frame.storage import read_parquet, write_parquet
from analysis.frame.study import open_study
from analysis.frame.unread_columns import UnreadColumns
from analysis.stages import allocation, managers, satisfaction_loyalty

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def table_file(tmp_path) -> Path:
    table = pd.DataFrame({
        "customer_id": pd.array(["a", "b", "c", "d"], dtype="string"),
        "name": pd.array(["Ann", "Bo", None, "Di"], dtype="string"),
        "clv": [4.0, 3.0, 2.0, 1.0],
        "region": pd.array(["north", "south", "east", None], dtype="string"),
        "tier": pd.array([1, 1, 2, 2], dtype="Int64"),
        "orders": [3, 1, 2, 5],
        "score": [0.1, 0.2, 0.3, 0.4],  # an earlier run of the stage wrote it
    })
    return write_parquet(table, tmp_path / "customers.parquet")


def test_the_unread_columns_come_back_where_they_stood_and_the_stages_columns_last(table_file):
    unread = UnreadColumns.of(table_file, ["customer_id", "clv", "tier", "missing", "score"])
    assert unread.read == ("customer_id", "clv", "tier", "score") and unread.unread == ["name", "region", "orders"]
    worked = read_parquet(table_file, columns=list(unread.read))
    # the stage drops and adds again a column it read, adds one, and lists some customers in its own order
    made = worked.drop(columns="score").assign(value=worked["clv"] * 2, score=[9.0, 8.0, 7.0, 6.0])
    listed = made.iloc[[3, 1]].assign(why=["late", "small"]).reset_index(drop=True)
    customers, short_list = unread.put_back(made, listed)
    assert list(customers.columns) == ["customer_id", "name", "clv", "region", "tier", "orders", "value", "score"]
    whole = read_parquet(table_file)
    pd.testing.assert_frame_equal(customers[whole.columns.drop("score")], whole.drop(columns="score"), check_exact=True)
    assert customers["score"].tolist() == [9.0, 8.0, 7.0, 6.0]
    assert list(short_list.columns) == [*customers.columns, "why"]
    assert short_list["customer_id"].tolist() == ["d", "b"] and short_list["name"].tolist() == ["Di", "Bo"]
    assert short_list["orders"].tolist() == [5, 1] and short_list["region"].isna().tolist() == [True, False]


def test_a_column_the_stage_writes_is_its_own(table_file):
    unread = UnreadColumns.of(table_file, ["customer_id", "clv"])
    worked = read_parquet(table_file, columns=list(unread.read))
    [customers] = unread.put_back(worked.assign(orders=[0, 0, 0, 0]))
    assert list(customers.columns) == ["customer_id", "name", "clv", "region", "tier", "score", "orders"]
    assert customers["orders"].tolist() == [0, 0, 0, 0]


def test_the_columns_read_must_hold_the_key(table_file):
    with pytest.raises(ValueError, match="customer_id"):
        UnreadColumns.of(table_file, ["clv", "tier"])


@pytest.mark.slow
@pytest.mark.parametrize("again", [False, True], ids=["after stage 3", "stage 4 run again"])
def test_stage_4_writes_from_the_customers_columns_it_reads_what_it_writes_from_all(sample_report, out_root, tmp_path, again):
    """Its customers, tables (the watch list: whole rows) and validation are those computed from the
    whole customers table, after stage 3 and when the table has stage 4's columns already."""
    shutil.copytree(out_root / "data/processed/sample", tmp_path / "data/processed/sample")
    study = open_study(ROOT / "params/sample.yaml", tmp_path)
    path = study.output(catalog.CUSTOMERS)
    published = read_parquet(path)
    if not again:  # stage 3's table: without the columns stage 4 writes
        write_parquet(published.drop(columns=list(satisfaction_loyalty.WRITTEN_CUSTOMER_COLUMNS)), path)
    table = read_parquet(path)
    read = satisfaction_loyalty.read_inputs(study)
    assert len(read.customers.columns) < len(table.columns) / (2 if again else 3)
    whole = satisfaction_loyalty.compute(replace(read, customers=table), study.params)

    few = satisfaction_loyalty.run(study)
    pd.testing.assert_frame_equal(few.customers, whole.customers, check_exact=True)
    pd.testing.assert_frame_equal(read_parquet(path), whole.customers, check_exact=True)
    assert few.tables.keys() == whole.tables.keys() and len(few.tables["watch_list"]) > 1
    for key, table in whole.tables.items():
        pd.testing.assert_frame_equal(few.tables[key], table, check_exact=True, obj=key)
    assert few.churn_validation == whole.churn_validation and few.notes == whole.notes


@pytest.mark.slow
def test_stage_4_reads_the_columns_its_lifecycle_rules_name(sample_report, out_root, tmp_path):
    shutil.copytree(out_root / "data/processed/sample", tmp_path / "data/processed/sample")
    study = open_study(ROOT / "params/sample.yaml", tmp_path)
    rules = {"stages": {"growing": [{"revenue": [">=", 5000]}]}}
    study = replace(study, params=study.params.model_copy(
        update={"churn": study.params.churn.model_copy(update={"lifecycle_rules": rules})}))
    assert "revenue" not in satisfaction_loyalty.READ_CUSTOMER_COLUMNS
    assert "revenue" in satisfaction_loyalty.read_inputs(study).customers
    whole = satisfaction_loyalty.compute(
        replace(satisfaction_loyalty.read_inputs(study), customers=study.read(catalog.CUSTOMERS)), study.params)
    few = satisfaction_loyalty.run(study)
    assert (few.customers["lifecycle_stage"] == "growing").any()
    pd.testing.assert_series_equal(few.customers["lifecycle_stage"], whole.customers["lifecycle_stage"], check_exact=True)


@pytest.mark.slow
def test_the_win_back_and_cross_sell_from_the_customers_few_columns_are_those_from_all(sample_report, out_root):
    study = open_study(ROOT / "params/sample.yaml", out_root)
    transactions = study.read(catalog.TRANSACTIONS)
    few = study.read(catalog.CUSTOMERS, columns=allocation.CUSTOMER_COLUMNS)
    whole = study.read(catalog.CUSTOMERS)
    assert len(few.columns) < len(whole.columns) / 2
    from_few = allocation.compute_actions(few, transactions, study.params)
    from_whole = allocation.compute_actions(whole, transactions, study.params)
    assert len(from_few.winback) > 1 and len(from_few.cross_sell) > 1
    for name in ("winback", "cross_sell"):
        pd.testing.assert_frame_equal(getattr(from_few, name), getattr(from_whole, name), check_exact=True, obj=name)
    assert from_few.winback_summary == from_whole.winback_summary and from_few.validation == from_whole.validation


@pytest.mark.slow
def test_the_managers_outcome_from_the_customers_few_columns_is_the_outcome_from_all(sample_report, out_root, monkeypatch):
    study = open_study(ROOT / "params/sample.yaml", out_root)
    assert study.params.tiering.previous_run  # the retention and growth against last quarter are compared too
    assert len(managers.CUSTOMER_COLUMNS) < len(study.read(catalog.CUSTOMERS).columns) / 4
    few = managers.outcome_of(study)
    monkeypatch.setattr(managers, "CUSTOMER_COLUMNS", None)
    whole = managers.outcome_of(study)
    assert few.assignment is not None and len(few.scorecard) > 1
    for name in ("scorecard", "levels", "matrix", "assignment", "loads"):
        pd.testing.assert_frame_equal(getattr(few, name), getattr(whole, name), check_exact=True, obj=name)
    assert few.record == whole.record


@pytest.mark.slow
def test_the_plan_effect_from_last_quarters_few_columns_is_the_effect_from_all(sample_report, out_root):
    study = open_study(ROOT / "params/sample.yaml", out_root)
    p = study.params
    given = {"contacts": allocation.read_contacts(p), "surveys": study.read_optional(catalog.SURVEYS),
             "transactions": study.read(catalog.TRANSACTIONS, columns=allocation.TRANSACTION_COLUMNS),
             "previous_allocation": study.read_previous(catalog.ALLOCATION)}
    few = study.read_previous(catalog.CUSTOMERS, allocation.PREVIOUS_CUSTOMER_COLUMNS)
    whole = study.read_previous(catalog.CUSTOMERS)
    assert len(few.columns) < len(whole.columns) / 4
    effect = allocation.compute_plan_effect(p, previous=few, **given)
    assert effect["skipped"] is None and effect["contacts"]["in_quarter"] > 0
    assert effect == allocation.compute_plan_effect(p, previous=whole, **given)


@pytest.mark.slow
def test_the_tiers_migration_and_movers_from_last_quarters_few_columns_are_those_from_all(sample_report, out_root):
    from analysis.stages import tiers

    study = open_study(ROOT / "params/sample.yaml", out_root)
    p = study.params
    customers = study.read(catalog.CUSTOMERS)
    few = study.read_previous(catalog.CUSTOMERS, tiers.previous_columns(p))
    whole = study.read_previous(catalog.CUSTOMERS)
    assert len(few.columns) < len(whole.columns) / 3
    earlier = study.read_previous(catalog.TIERING_JSON)
    from_few = tiers.compute(customers, None, few, p, earlier)
    from_whole = tiers.compute(customers, None, whole, p, earlier)
    assert from_few.movers is not None and len(from_few.movers) > 1
    pd.testing.assert_frame_equal(from_few.movers, from_whole.movers, check_exact=True)
    for few_matrix, whole_matrix in zip(from_few.migration[:2], from_whole.migration[:2], strict=True):
        pd.testing.assert_frame_equal(few_matrix, whole_matrix, check_exact=True)
    pd.testing.assert_frame_equal(from_few.customers, from_whole.customers, check_exact=True)
    assert from_few.record == from_whole.record
