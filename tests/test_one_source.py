"""What a stage decides is read downstream from that stage's outputs, never re-derived from params.

Each test writes stage outputs that disagree with the params file and checks that the later stage
or the report follows the outputs.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from analysis.frame import catalog
from analysis.frame.study import Study, open_study
from analysis.i18n import text
from analysis.methods import profiles
from analysis.report import sections
from analysis.stages import allocation as allocation_stage

ROOT = Path(__file__).resolve().parents[1]
NAMES = {"zh": ["金", "银", "铜"], "en": ["Gold", "Silver", "Bronze"]}


@pytest.fixture
def study(tmp_path) -> Study:
    """The sample params (4 tiers, previous run sample_prev) with outputs in ``tmp_path``."""
    if not (ROOT / "data/raw/sample/truth.json").is_file():
        pytest.skip("sample data missing: run `make sample-data`")
    study = open_study(ROOT / "params" / "sample.yaml", out_root=tmp_path)
    assert study.params.tiering.n_tiers == 4 and study.params.tiering.previous_run
    return study


def three_tier_customers() -> pd.DataFrame:
    """60 customers in 3 tiers, named in English."""
    n = 60
    customers = pd.DataFrame({
        "customer_id": [f"C{i:03d}" for i in range(n)],
        "tier": [1 + i % 3 for i in range(n)],
        "revenue": [1000.0 - 10 * i for i in range(n)],
        "clv": [2000.0 - 20 * i for i in range(n)],
        "p_alive": [0.5 + (i % 5) / 10 for i in range(n)],
    })
    customers["tier_name"] = customers["tier"].map(dict(enumerate(NAMES["en"], start=1))).astype("string")
    return customers


def write_three_tiers(study: Study) -> None:
    """Stage 3's outputs for 3 tiers, none of them noting a migration."""
    study.write(catalog.TIER_PROFILE, profiles.tier_profile(three_tier_customers()).reset_index())
    rule = {
        "method": "clv", "n_tiers": 3, "names": NAMES, "sizes": [20, 20, 20], "shares": [1 / 3] * 3,
        "column": "clv", "cutoffs": [1500.0, 1000.0], "cutoff_source": "params", "target_shares": None,
    }
    study.write(catalog.TIERING_JSON, {"method": "clv", "n_tiers": 3, "rule": rule, "migration": None, "skipped": {}})


def test_the_allocation_stage_takes_the_tier_count_from_the_tiering(study):
    write_three_tiers(study)
    outcome = allocation_stage.run(study)
    assert sorted(outcome.playbook) == [1, 2, 3]
    assert study.read(catalog.ALLOCATION)["tier"].tolist() == [1, 2, 3]


def test_the_report_takes_tier_names_and_count_from_the_tiering(study):
    write_three_tiers(study)
    for language in ("zh", "en"):
        out = sections.RunOutputs(study, language)
        assert out.tier_names() == dict(enumerate(NAMES[language], start=1))
        profile = out.get(catalog.TIER_PROFILE)
        assert profile["tier_name"].tolist() == NAMES[language]


def test_the_report_words_the_stored_rule_with_the_tierings_names(study):
    write_three_tiers(study)
    study.write(catalog.CUSTOMERS, three_tier_customers())
    for language, band in (("zh", "金：预测CLV ≥ 1,500；银："), ("en", "Gold: predicted CLV ≥ 1,500; Silver: ")):
        section = sections.tiers_section(study, language, sections.RunOutputs(study, language))
        assert band in section.blocks[0]


def test_the_report_takes_the_missing_migration_from_the_tiering(study):
    # params name a previous run, but stage 3 ran without one: no migration, and no note about a missing run
    write_three_tiers(study)
    out = sections.RunOutputs(study, "en")
    section = sections.migration_section(study, "en", out)
    shown = " ".join(section.blocks)
    assert text("migration_none", "en") in shown
    assert study.params.tiering.previous_run not in shown
