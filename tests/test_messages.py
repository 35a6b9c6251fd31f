"""Messages: what methods say without choosing a language, rendered at display time."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.frame import catalog
from analysis.i18n import joined, message, render, tier_ref, to_json
from analysis.report.localize import localize


def test_a_message_renders_in_each_language_with_its_template_format():
    why = message("data_used_all", input="surveys", kept=12345)
    assert render(why, "en") == "This analysis used all 12,345 surveys rows."
    assert render(why, "zh") == "本次分析使用了surveys的全部 12,345 行。"


def test_a_message_survives_json_and_nests_tiers_and_lists():
    why = message("data_used_all", input=joined([tier_ref(1), tier_ref(3)]), kept=2)
    stored = to_json(why)
    assert isinstance(stored, str)
    names = {1: "Gold"}
    assert render(stored, "en", names) == "This analysis used all 2 Gold, Tier 3 rows."
    assert render(stored, "zh", {1: "金卡"}) == "本次分析使用了金卡、第3层的全部 2 行。"


def test_an_unknown_key_fails_where_the_message_is_made():
    with pytest.raises(KeyError, match="no_such_text"):
        message("no_such_text")


def test_plain_values_pass_through_render():
    assert render("plain {text}", "en") == "plain {text}"
    assert render(3.5, "zh") == 3.5
    assert render(None, "en") is None


def test_localize_names_tiers_renders_messages_and_labels_codes():
    table = pd.DataFrame({
        "tier": pd.array([1, 2, None], dtype="Int64"),
        "tier_name": ["x", "y", None],
        "why": [to_json(message("tier_default_name", tier=7)), None, "free text"],
        "code": ["fix_first", "unknown_code", None],
    })
    shown = localize(table, "en", {1: "Gold"}, messages=("why",), labels={"code": "drivers_quadrant_"})
    assert shown["tier_name"].tolist() == ["Gold", "Tier 2", "All customers"]
    assert shown["why"].tolist()[0] == "Tier 7" and shown["why"].tolist()[2] == "free text"
    assert pd.isna(shown["why"].tolist()[1])
    assert shown["code"].tolist()[:2] == ["fix first", "unknown_code"]
    assert table["tier_name"].tolist()[0] == "x", "the stored table is left as it was"


def test_every_declared_message_and_label_column_belongs_to_a_parquet_output():
    for entry in catalog.outputs():
        if entry.messages or entry.labels:
            assert entry.format == "parquet", entry.name
