"""The files stages exchange in ``data/processed/<run>/``: who writes them and how to read them back."""

from __future__ import annotations

from typing import Any

import pandas as pd

from . import io
from .cleaning import (
    QUARANTINE_COLUMNS,
    CleanResult,
    clean_complaints,
    clean_customers,
    clean_surveys,
    clean_transactions,
)
from .study import Study

TRANSACTIONS = "transactions.parquet"
MASTER = "customer_master.parquet"
SURVEYS = "surveys.parquet"
COMPLAINTS = "complaints.parquet"
QUARANTINE = "quarantine.parquet"
QUALITY = "quality.json"
CUSTOMERS = "customers.parquet"
MODELS = "models.json"
HOLDOUT = "holdout.parquet"
TIER_PROFILE = "tier_profile.parquet"
ALLOCATION = "allocation.parquet"

_OPTIONAL = {"customers": MASTER, "surveys": SURVEYS, "complaints": COMPLAINTS}


def clean_study(study: Study) -> dict[str, CleanResult]:
    """Clean every input named in the params and write the stage-1 outputs atomically.

    Writes transactions.parquet, customer_master.parquet / surveys.parquet / complaints.parquet
    when those inputs are given, quarantine.parquet (every set-aside row with its reason) and
    quality.json (per input: rows_in = rows_kept + rows_quarantined, by reason).
    """
    p = study.params
    results: dict[str, CleanResult] = {
        "transactions": clean_transactions(p.inputs.transactions, p.period, p.cleaning)
    }
    if p.inputs.customers is not None:
        results["customers"] = clean_customers(p.inputs.customers, p.cleaning)
    if p.inputs.surveys is not None:
        results["surveys"] = clean_surveys(
            p.inputs.surveys, p.cleaning, scale_max=p.satisfaction.scale_max, attributes=p.satisfaction.attributes
        )
    if p.inputs.complaints is not None:
        results["complaints"] = clean_complaints(p.inputs.complaints, p.cleaning, as_of=p.period.end)

    tx = results["transactions"].kept
    if "customers" in results:
        known = set(results["customers"].kept["customer_id"])
        unknown = ~tx["customer_id"].isin(known)
        results["transactions"].quality["customers_not_in_master"] = int(tx.loc[unknown, "customer_id"].nunique())

    io.write_parquet(tx, study.output(TRANSACTIONS))
    for name, filename in _OPTIONAL.items():
        if name in results:
            io.write_parquet(results[name].kept, study.output(filename))
        else:
            study.output(filename).unlink(missing_ok=True)  # an earlier run's file must not leak in
    quarantine = pd.concat([r.quarantine for r in results.values()], ignore_index=True)
    io.write_parquet(quarantine[QUARANTINE_COLUMNS], study.output(QUARANTINE))
    io.write_json({name: r.quality for name, r in results.items()}, study.output(QUALITY))
    return results


def quality_table(quality: dict[str, Any]) -> pd.DataFrame:
    """One row per input and reason: the quality summary as a table (rows in = kept + quarantined)."""
    rows = []
    for source, q in quality.items():
        rows.append({"input": source, "status": "kept", "rows": q["rows_kept"]})
        for reason, n in q["reasons"].items():
            rows.append({"input": source, "status": reason, "rows": n})
    table = pd.DataFrame(rows)
    totals = table.groupby("input", sort=False)["rows"].transform("sum")
    table["share"] = (table["rows"] / totals).round(4)
    return table


def load_transactions(study: Study) -> pd.DataFrame:
    return pd.read_parquet(study.require(TRANSACTIONS))


def load_optional(study: Study, name: str) -> pd.DataFrame | None:
    """customer master, surveys or complaints when the run has them, else None."""
    path = study.output(_OPTIONAL[name])
    return pd.read_parquet(path) if path.is_file() else None


def load_quality(study: Study) -> dict[str, Any]:
    return io.read_json(study.require(QUALITY))
