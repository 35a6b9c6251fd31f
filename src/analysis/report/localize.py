"""Stage outputs as a reader sees them: codes, messages and tier numbers turned into one language.

Stage outputs hold no language: a tier is its number, a category is a code, a sentence is a
message (:mod:`analysis.i18n`). :func:`localize` is the one place a table gets its language, for
the report and for the notebooks alike; the catalog says which columns of an output are messages
and which are codes (:attr:`analysis.frame.catalog.Output.messages` / ``labels``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from analysis.frame import catalog
from analysis.frame.study import Study
from analysis.i18n import TEXTS, render, text


def tier_names(study: Study, language: str) -> dict[int, str]:
    """Tier number → name in ``language``, as stage 3 named the run's tiers (tiering.json); {} before it ran."""
    record = study.read_optional(catalog.TIERING_JSON)
    if not record:
        return {}
    names = record["rule"]["names"][language]
    return {tier: names[tier - 1] for tier in range(1, int(record["n_tiers"]) + 1)}


def tier_name(tier: object, language: str, tier_names: Mapping[int, str] | None = None) -> str:
    """The name of ``tier`` in ``language``; a missing tier is the overall row (all customers)."""
    if tier is None or pd.isna(tier):
        return text("all_customers", language)
    return (tier_names or {}).get(int(tier)) or text("tier_default_name", language, tier=int(tier))


def code_label(code: object, prefix: str, language: str) -> object:
    """The label of ``code`` (text ``<prefix><code>``); a code without a label, or a missing one, shows as is."""
    if code is None or pd.isna(code):
        return code
    key = f"{prefix}{code}"
    return text(key, language) if key in TEXTS else code


def localize(
    table: pd.DataFrame,
    language: str,
    tier_names: Mapping[int, str] | None = None,
    *,
    output: str | None = None,
    messages: tuple[str, ...] = (),
    labels: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """``table`` in ``language``: a ``tier_name`` column from ``tier`` (and ``tier_names``), message
    columns rendered, code columns replaced by their labels.

    ``output`` (a catalog name) gives the message and code columns of that output; ``messages`` and
    ``labels`` add to them, for tables that are not outputs.
    """
    if output is not None:
        entry = catalog.entry(output)
        messages = (*entry.messages, *messages)
        labels = {**entry.labels, **(labels or {})}
    table = table.copy(deep=False)  # copy-on-write: the columns set below leave ``table``'s own as they are
    if {"tier", "tier_name"} <= set(table.columns):
        table["tier_name"] = each_value(table["tier"], lambda t: tier_name(t, language, tier_names))
    for column in messages:
        if column in table.columns:
            table[column] = each_value(table[column], lambda v: render(v, language, tier_names))
    for column, prefix in (labels or {}).items():
        if column in table.columns:
            table[column] = each_value(table[column], lambda v, prefix=prefix: code_label(v, prefix, language))
    return table


def each_value(values: pd.Series, fn: Callable[[object], object]) -> pd.api.extensions.ExtensionArray:
    """``fn`` of every value as text, ``fn`` called once per distinct value: a table of customers
    repeats a few tiers and codes on thousands of rows. Missing values are passed one by one, as they are."""
    try:
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
    except TypeError:  # unhashable values (lists, dicts)
        return pd.array([fn(v) for v in values], dtype="string")
    out = np.empty(len(uniques) + 1, dtype=object)
    out[:-1] = [fn(u) for u in uniques]
    result = out[codes]  # code -1 (missing) takes the spare last slot, filled below
    missing = np.flatnonzero(codes < 0)
    if len(missing):
        raw = list(values)  # the values as iteration gives them, as before
        result[missing] = [fn(raw[i]) for i in missing]
    return pd.array(result, dtype="string")
