"""DuckDB held to a memory limit: the limit is applied, spills go to a temporary folder that is removed,
the summaries are the same under a tight limit, and running out names the params key to raise."""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from analysis.methods import profiles
from analysis.methods.customer_summary import EngineError, customer_summary, holdout_split_summary
from analysis.methods.duckdb_session import EngineMemoryError, check_memory_size, duckdb_session


@pytest.mark.parametrize("text", ["1GB", "512MB", "1.5GB", "2GiB", " 300 mb ", "4TB"])
def test_memory_sizes_duckdb_reads_are_accepted(text):
    assert check_memory_size(text) == text.strip()
    with duckdb_session(text) as con:  # and DuckDB reads them
        assert con.execute("SELECT 1").fetchone() == (1,)


@pytest.mark.parametrize("text", ["2 gigs", "1024", "GB", "-1GB", "1,5GB", "80%", ""])
def test_other_text_is_refused_with_an_example(text):
    with pytest.raises(ValueError, match=r"is not a memory size: write a number and a unit, e\.g\. 1GB"):
        check_memory_size(text)


def _setting(con, name: str) -> str:
    return con.execute(f"SELECT current_setting('{name}')").fetchone()[0]


def test_the_session_holds_duckdb_to_the_limit_and_spills_to_a_folder_it_removes():
    with duckdb.connect() as plain:
        default_limit = _setting(plain, "memory_limit")
        plain.execute("SET memory_limit = '384MB'")
        limit_384 = _setting(plain, "memory_limit")
    with duckdb_session("384MB") as con:
        assert _setting(con, "memory_limit") == limit_384 != default_limit
        spill = Path(_setting(con, "temp_directory"))
        assert spill.is_dir() and spill.parent == Path(tempfile.gettempdir()) and spill.name.startswith("duckdb-spill-")
    assert not spill.exists()
    with duckdb_session(None) as con:  # None: DuckDB's own default
        assert _setting(con, "memory_limit") == default_limit


@pytest.fixture(scope="module")
def many_orders(tmp_path_factory) -> Path:
    """400k purchase rows of 100k customers, each row its own order: on 2 cores DuckDB summarises them
    within 64MB but not within 48MB, so a limit of 128MB is close to what it needs."""
    rng = np.random.default_rng(7)
    n = 400_000
    days = rng.integers(19_000, 19_700, n)
    frame = pd.DataFrame({
        "customer_id": pd.array(np.char.add("C", rng.integers(0, 100_000, n).astype(str)), dtype="string"),
        "order_id": pd.array(np.char.add("O", np.arange(n).astype(str)), dtype="string"),
        "order_day": days.astype("int32"),
        "amount": np.round(rng.gamma(2.0, 50.0, n), 2),
        "is_return": rng.random(n) < 0.02,
        "product_category": pd.array(rng.choice(["A", "B", "C"], n), dtype="string"),
    })
    path = tmp_path_factory.mktemp("orders") / "transactions.parquet"
    frame.to_parquet(path, index=False)
    return path


def tiers_of(orders: Path) -> pd.DataFrame:
    """The customers of ``orders``, in three tiers by the last digit of their id."""
    ids = pd.read_parquet(orders, columns=["customer_id"])["customer_id"].drop_duplicates()
    return pd.DataFrame({"customer_id": ids, "tier": ids.str[-1].astype(int) % 3 + 1})


def test_a_tight_limit_gives_the_same_summaries(many_orders):
    end = date(2023, 12, 31)
    for limit in ("128MB", "1GB"):
        assert_frame_equal(customer_summary(many_orders, observation_end=end, memory_limit=limit),
                           customer_summary(many_orders, observation_end=end))
    split = {"calibration_end": date(2023, 6, 30), "observation_end": end}
    assert_frame_equal(holdout_split_summary(many_orders, **split, memory_limit="128MB"),
                       holdout_split_summary(many_orders, **split))
    mixes = [profiles.tier_purchase_mix(many_orders, tiers_of(many_orders), ["product_category"], memory_limit=limit)
             for limit in ("128MB", None)]
    assert_frame_equal(*(mix["product_category"] for mix in mixes))  # the same within 1e-5 relative


def test_running_out_of_the_limit_names_the_params_key_to_raise(many_orders):
    with pytest.raises(EngineError) as err:
        customer_summary(many_orders, observation_end=date(2023, 12, 31), memory_limit="1MB")
    assert str(err.value).startswith(
        f"DuckDB could not summarise {many_orders}: DuckDB ran out of memory within its memory limit of 1MB "
        "(scoring.engine_memory_limit): raise it, e.g. to 2GB, or set it to null for DuckDB's default"), str(err.value)
    with pytest.raises(EngineMemoryError, match=r"within its memory limit of 1MB \(scoring\.engine_memory_limit\)"):
        profiles.tier_purchase_mix(many_orders, tiers_of(many_orders), ["product_category"], memory_limit="1MB")
