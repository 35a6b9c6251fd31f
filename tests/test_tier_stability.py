"""Stable tiers between quarters: the hysteresis band, carried cut-offs, and why each customer moved.

The band and the carried cut-offs are checked by hand and on a case built to flip (scores jittering
around a boundary across two runs); the split of movers and their drivers on constructed two-quarter
tables; the report's sentence and table in both languages on stage outputs written into a temporary
study, as in tests/test_one_source.py.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.frame import catalog
from analysis.frame.study import Study, open_study
from analysis.i18n import LANGUAGES, message, render, text, to_json
from analysis.methods import movers, profiles, tiers
from analysis.report import sections
from analysis.report.tier_rules import rule_text
from analysis.stages import tiers as tiers_stage
from tests.test_one_source import NAMES, three_tier_customers
from tests.test_tiers import make_customers

ROOT = Path(__file__).resolve().parents[1]
NO_TRANSACTIONS = pd.DataFrame(columns=["customer_id", "amount"])


# ---------------------------------------------------------------------------------------------
# The hysteresis band


def test_the_band_keeps_last_quarters_tier_until_the_score_clears_the_boundary_by_the_margin():
    cutoffs = [1000.0, 100.0]  # tier 1: ≥ 1000; tier 2: 100–1000; tier 3: < 100; band 5 %: ±50 and ±5
    score = [1040.0, 1060.0, 960.0, 940.0, 1040.0, 50.0, 5000.0, 1020.0, 98.0]
    previous = [2, 2, 1, 1, pd.NA, 2, 3, 3, 1]
    fresh = tiers.tiers_by_cutoffs(score, cutoffs)
    assert fresh.tolist() == [1, 1, 2, 2, 1, 3, 1, 1, 3]
    banded = tiers.apply_hysteresis(score, fresh, previous, cutoffs, 0.05)
    # 1040 < 1050 stays in 2; 1060 moves up; 960 ≥ 950 stays in 1; 940 moves down; a new customer takes the
    # fresh tier; 50 < 95 moves down; 5000 clears both boundaries; 1020 clears 105 but not 1050: tier 2 only;
    # 98 falls below 950 but not below 95: tier 2 only
    assert banded.tolist() == [2, 1, 1, 2, 1, 3, 1, 2, 2]
    assert tiers.apply_hysteresis(score, fresh, previous, cutoffs, 0.0).tolist() == fresh.tolist()
    with pytest.raises(tiers.TieringError, match="hysteresis margin"):
        tiers.apply_hysteresis(score, fresh, previous, cutoffs, 1.5)


def jittering_quarters(seed: int = 20261122) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two quarters of scores: 2,000 customers whose true value sits near the boundary 1,000 (log-sd 5 %),
    each quarter measured with 3 % multiplicative noise, and 100 customers whose value really doubled
    (from about 700 to about 1,400). Returns (quarter 1, quarter 2, which customers really changed)."""
    rng = np.random.default_rng(seed)
    true = np.concatenate([1000 * np.exp(rng.normal(0, 0.05, 2000)), np.full(100, 700.0)])
    grew = np.arange(len(true)) >= 2000
    first = true * np.exp(rng.normal(0, 0.03, len(true)))
    second = np.where(grew, 2 * true, true) * np.exp(rng.normal(0, 0.03, len(true)))
    return first, second, grew


def test_the_band_cuts_the_flips_of_scores_jittering_around_a_boundary():
    first, second, grew = jittering_quarters()
    cutoffs = [1000.0]
    last_quarter = tiers.tiers_by_cutoffs(first, cutoffs)
    fresh = tiers.tiers_by_cutoffs(second, cutoffs)
    banded = tiers.apply_hysteresis(second, fresh, last_quarter, cutoffs, 0.05)
    flips_plain = int((fresh[~grew] != last_quarter[~grew]).sum())
    flips_banded = int((banded[~grew] != last_quarter[~grew]).sum())
    assert flips_plain > 300  # a quarter of the near-boundary customers flip on noise alone
    assert flips_banded < flips_plain / 5
    # the customers whose value really doubled still move up
    assert (banded[grew] == 1).all() and (last_quarter[grew] == 2).all()


def test_with_hysteresis_records_the_band_and_the_customers_it_kept():
    first, second, _ = jittering_quarters()
    ids = [f"C{i:05d}" for i in range(len(first))]
    assignment = tiers.assign_tiers(pd.DataFrame({"customer_id": ids, "clv": second}), "clv", n_tiers=2,
                                    options={"cutoffs": [1000.0]})
    previous = pd.Series(tiers.tiers_by_cutoffs(first, [1000.0]), index=assignment.tier.index)
    banded = tiers.with_hysteresis(assignment, previous, 0.05)
    kept = int((banded.tier != assignment.tier).sum())
    assert kept > 0 and banded.rule["hysteresis"] == {"margin": 0.05, "with_previous_tier": len(ids), "kept": kept}
    assert banded.rule["sizes"] == banded.tier.value_counts().sort_index().tolist()


# ---------------------------------------------------------------------------------------------
# Carried cut-offs


CUSTOMERS = make_customers()
LAST_QUARTER = make_customers(seed=8)  # another sample: its share-based cut-offs differ


@pytest.mark.parametrize("method", ["clv", "rfm", "pareto", "composite"])
def test_carried_cutoffs_are_the_previous_runs_exactly(method):
    fresh = tiers.assign_tiers(CUSTOMERS, method, n_tiers=4)
    previous = tiers.assign_tiers(LAST_QUARTER, method, n_tiers=4).rule
    if method == "rfm":  # RFM scores are whole numbers: both samples give 13/11/9, so move them by hand
        previous = {**previous, "cutoffs": [14.0, 12.0, 8.0]}
    assert previous["cutoffs"] != fresh.rule["cutoffs"]
    assert tiers.carry_problem(previous, fresh) is None
    carried = tiers.with_cutoffs(fresh, tiers.rule_cutoffs(previous), carried_from="2025q4")
    assert carried.rule["cutoffs"] == previous["cutoffs"]
    assert carried.rule["fresh_cutoffs"] == fresh.rule["cutoffs"]
    assert carried.rule["cutoff_source"] == "carried" and carried.rule["carried_from"] == "2025q4"
    score = tiers.cutoff_score(method, fresh.score)
    expected = 1 + sum((score < c).astype(int) for c in previous["cutoffs"])
    assert carried.tier.tolist() == expected.tolist()
    assert carried.rule["sizes"] == [int((expected == t).sum()) for t in range(1, 5)]
    names = {language: tiers.tier_names(4, language) for language in LANGUAGES}
    for language in LANGUAGES:
        assert "2025q4" in rule_text({**carried.rule, "names": names}, language)


def test_carrying_falls_back_with_a_reason():
    fresh = tiers.assign_tiers(CUSTOMERS, "clv", n_tiers=4)
    previous = tiers.assign_tiers(LAST_QUARTER, "clv", n_tiers=4).rule

    def key(why):
        return why["key"]

    assert key(tiers.carry_problem(None, fresh)) == "rule_previous_missing"
    kmeans = tiers.assign_tiers(LAST_QUARTER, "kmeans", n_tiers=4).rule
    assert key(tiers.carry_problem(kmeans, fresh)) == "rule_previous_no_cutoffs"
    assert key(tiers.carry_problem(previous, tiers.assign_tiers(CUSTOMERS, "kmeans", n_tiers=4))) == "rule_no_cutoffs"
    other_column = {**previous, "column": "historic_value"}
    why = tiers.carry_problem(other_column, fresh)
    assert key(why) == "rule_previous_different" and "historic_value" in render(why, "en")
    assert key(tiers.carry_problem({**previous, "n_tiers": 3, "cutoffs": previous["cutoffs"][:2]}, fresh)) == (
        "rule_previous_different")
    set_in_params = tiers.assign_tiers(CUSTOMERS, "clv", n_tiers=4, options={"cutoffs": [5000, 1500, 400]})
    assert key(tiers.carry_problem(previous, set_in_params)) == "rule_params_cutoffs"
    too_high = {**previous, "cutoffs": [1e9, 1e8, 1e7]}
    why = tiers.carry_problem(too_high, fresh)
    assert key(why) == "rule_empty_tier" and render(why, "en") == "those cut-offs would leave tier(s) 1, 2, 3 empty"


def test_threshold_rules_tiling_one_column_are_cutoffs():
    rules = [{"column": "balance", "min": 2e8, "max": None}, {"column": "balance", "min": 5e7, "max": 2e8},
             {"column": "balance", "min": None, "max": 5e7}]
    assert tiers.rule_cutoffs({"method": "threshold", "rules": rules}) == [2e8, 5e7]
    two_columns = [rules[0], {"column": "revenue", "min": None, "max": 2e8}]
    assert tiers.rule_cutoffs({"method": "threshold", "rules": two_columns}) is None
    assert tiers.rule_cutoffs({"method": "kmeans", "cutoffs": None}) is None


# ---------------------------------------------------------------------------------------------
# Stage 3: carry, band and the migration's causes end to end (compute only)


@pytest.fixture
def study(tmp_path) -> Study:
    """The sample params (4 tiers, previous run sample_prev) with outputs in ``tmp_path``."""
    if not (ROOT / "data/raw/sample/truth.json").is_file():
        pytest.skip("sample data missing: run `make sample-data`")
    return open_study(ROOT / "params" / "sample.yaml", out_root=tmp_path)


def stage_params(study: Study, **tiering):
    update = {"n_tiers": 4, "names": None, "compare_methods": [], "method": "clv", "options": {}, **tiering}
    return study.params.model_copy(update={"tiering": study.params.tiering.model_copy(update=update)})


def two_quarters() -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Last quarter's customers with their tiers and rule, and this quarter's: a quarter of the customers'
    CLV multiplied by 0.3–3, every other CLV by 1.1 (so the share-based cut-offs move too)."""
    before = make_customers(seed=7)
    assignment = tiers.assign_tiers(before, "clv", n_tiers=4)
    rng = np.random.default_rng(5)
    factor = np.where(rng.random(len(before)) < 0.25, rng.uniform(0.3, 3.0, len(before)), 1.1)
    now = before.assign(clv=before["clv"] * factor)
    return before.assign(tier=assignment.tier), now, {"n_tiers": 4, "rule": assignment.rule}


def test_stage_three_carries_the_previous_cutoffs_or_says_why_not(study):
    before, now, record = two_quarters()
    p = stage_params(study, carry_cutoffs=True)
    result = tiers_stage.compute(now, NO_TRANSACTIONS, before, p, record)
    assert result.record["rule"]["cutoffs"] == record["rule"]["cutoffs"] and "carry_cutoffs" not in result.skipped
    assert result.record["migration"]["moved_by_cutoff"] == 0  # carried cut-offs do not move
    without = tiers_stage.compute(now, NO_TRANSACTIONS, before, p, None)
    assert without.record["rule"]["cutoff_source"] == "ranks"
    why = without.skipped["carry_cutoffs"]
    assert why["key"] == "skip_carry_cutoffs" and "tiering.json" in render(why, "en")
    assert without.record["migration"]["moved_by_behaviour"] is None
    assert without.skipped["migration_cause"]["key"] == "skip_migration_cause"


def test_stage_three_splits_the_movers_it_counts(study):
    before, now, record = two_quarters()
    for hysteresis in (0.0, 0.05):
        result = tiers_stage.compute(now, NO_TRANSACTIONS, before, stage_params(study, hysteresis=hysteresis), record)
        moves = result.record["migration"]
        assert moves["moved_by_behaviour"] + moves["moved_by_cutoff"] == moves["upgrades"] + moves["downgrades"]
        assert len(result.movers) == moves["upgrades"] + moves["downgrades"]
        assert moves["moved_by_cutoff"] > 0 and moves["moved_by_behaviour"] > 0
    plain = tiers_stage.compute(now, NO_TRANSACTIONS, before, stage_params(study), record)
    banded = tiers_stage.compute(now, NO_TRANSACTIONS, before, stage_params(study, hysteresis=0.05), record)
    assert len(banded.movers) < len(plain.movers)
    # a customer the band held either kept last quarter's tier or moved fewer tiers than the plain cut-offs say
    assert 0 < len(plain.movers) - len(banded.movers) <= banded.record["rule"]["hysteresis"]["kept"]


# ---------------------------------------------------------------------------------------------
# Why each customer moved


def test_movers_split_into_behaviour_and_cutoff_on_a_two_quarter_case():
    # last quarter: one cut-off at 1,000; this quarter's (fresh) cut-off 1,200
    previous = pd.DataFrame({"customer_id": list("ABCDE"), "tier": [1, 1, 2, 2, 1],
                             "clv": [1100.0, 1100.0, 900.0, 900.0, 2000.0]})
    clv = pd.Series([1100.0, 500.0, 1300.0, 1100.0, 2100.0, 3000.0])
    current = pd.DataFrame({"customer_id": list("ABCDEF"), "clv": clv,
                            "tier": tiers.tiers_by_cutoffs(clv, [1200.0])})
    table = movers.explain_moves(previous, current, score=clv, previous_cutoffs=[1000.0], method="clv")
    # A kept its value, the cut-off rose past it; B's value fell; C's rose; D, E kept their tier; F is new
    assert table[["customer_id", "previous_tier", "tier", "cause"]].values.tolist() == [
        ["A", 1, 2, "cutoff"], ["B", 1, 2, "behaviour"], ["C", 2, 1, "behaviour"]]
    assert movers.cause_counts(table) == {"moved_by_behaviour": 2, "moved_by_cutoff": 1}
    unknown = movers.explain_moves(previous, current, score=clv)
    assert unknown["cause"].isna().all()
    assert movers.cause_counts(unknown) == {"moved_by_behaviour": None, "moved_by_cutoff": None}


def test_the_counterfactual_applies_the_same_band():
    # G was in tier 1 at 1,100 and now scores 970: under last quarter's 1,000 with a 5 % band (950) they
    # would have stayed, so this quarter's higher cut-off (1,200, band down to 1,140) moved them
    previous = pd.DataFrame({"customer_id": ["G", "H"], "tier": [1, 1], "clv": [1100.0, 1100.0]})
    clv = pd.Series([970.0, 900.0])
    current = pd.DataFrame({"customer_id": ["G", "H"], "clv": clv, "tier": [2, 2]})
    table = movers.explain_moves(previous, current, score=clv, previous_cutoffs=[1000.0], method="clv", margin=0.05)
    assert table["cause"].tolist() == ["cutoff", "behaviour"]


LAST = {  # a customer at the previous run's end, 2025-09-30
    "first_purchase": pd.Timestamp("2024-01-01"), "last_purchase": pd.Timestamp("2025-09-01"), "orders": 10,
    "revenue": 63_800.0, "tenure_days": 638, "days_since_last": 29, "p_alive": 0.8, "clv": 10_000.0,
}
USUAL = 63_800.0 * 92 / 638  # their pace over the 92 days to 2025-12-31


def now(**changes) -> dict:
    """The same customer at this run's end, 2025-12-31: by default one more order at the usual pace."""
    row = {**LAST, "last_purchase": pd.Timestamp("2025-12-01"), "orders": 11, "revenue": LAST["revenue"] + USUAL,
           "tenure_days": 730, "days_since_last": 30}
    return {**row, **changes}


@pytest.mark.parametrize(("direction", "row", "code", "english"), [
    (1, now(last_purchase=LAST["last_purchase"], orders=10, revenue=LAST["revenue"], days_since_last=121),
     "no_purchase", "no purchase for 121 days"),
    (1, now(revenue=LAST["revenue"] + 0.4 * USUAL), "spend_down",
     "spend down 60%: 3,680 in the last 92 days against 9,200 at their usual pace"),
    (-1, now(revenue=LAST["revenue"] + 2.5 * USUAL), "spend_up",
     "spend up 150%: 23,000 in the last 92 days against 9,200 at their usual pace"),
    (1, now(p_alive=0.3), "p_alive_fell", "P(alive) fell from 0.80 to 0.30"),
    (-1, now(p_alive=0.97), "p_alive_rose", "P(alive) rose from 0.80 to 0.97"),
    (1, now(clv=7_000.0), "value_down", "predicted CLV down 30% (from 10,000 to 7,000)"),
    (-1, now(clv=12_500.0), "value_up", "predicted CLV up 25% (from 10,000 to 12,500)"),
    (1, now(), "steady", "no marked change in their own figures"),
    # another first purchase means another history: the spend test is left out, the value test decides
    (1, now(first_purchase=pd.Timestamp("2024-06-01"), revenue=LAST["revenue"], clv=5_000.0), "value_down",
     "predicted CLV down 50% (from 10,000 to 5,000)"),
])
def test_driver_codes_on_constructed_rows(direction, row, code, english):
    found, why = movers.main_driver(LAST, row, direction)
    assert found == code
    assert render(why, "en") == english
    assert render(why, "zh")  # every driver has its Chinese text


def test_an_upgrade_without_purchase_is_not_explained_by_it():
    found, _ = movers.main_driver(LAST, now(last_purchase=LAST["last_purchase"], orders=10, revenue=LAST["revenue"],
                                            clv=12_000.0), -1)
    assert found == "value_up"


# ---------------------------------------------------------------------------------------------
# The report: the split, the largest movers and the stable-tier settings, in both languages


MOVERS = pd.DataFrame({
    "customer_id": ["C001", "C002", "C003", "C004", "C005"],
    "previous_tier": [1, 2, 2, 3, 1],
    "tier": [2, 1, 3, 2, 2],
    "cause": ["behaviour", "behaviour", "cutoff", "behaviour", "cutoff"],
    "driver_code": ["no_purchase", "spend_up", "steady", "p_alive_rose", "steady"],
    "driver": [to_json(m) for m in (
        message("mover_driver_no_purchase", days=200),
        message("mover_driver_spend_up", change=1.5, spend=30000.0, usual=12000.0, days=92),
        message("mover_driver_steady"),
        message("mover_driver_p_alive_rose", before=0.3, after=0.8),
        message("mover_driver_steady"),
    )],
    "previous_value": [9000.0, 4000.0, 800.0, 100.0, 3000.0],
    "value": [2000.0, 15000.0, 700.0, 900.0, 2900.0],
})


def write_stage_three(study: Study) -> None:
    """Stage 3's outputs for 3 tiers with carried cut-offs, a 5 % band and five movers."""
    customers = three_tier_customers()
    study.write(catalog.CUSTOMERS, customers)
    study.write(catalog.TIER_PROFILE, profiles.tier_profile(customers).reset_index())
    previous = customers.assign(tier=[min(3, t + 1) if i % 7 == 0 else t for i, t in enumerate(customers["tier"])])
    counts, values, summary = profiles.migration(previous.rename(columns={"clv": "value"}),
                                                 customers.rename(columns={"clv": "value"}))
    study.write(catalog.MIGRATION_COUNTS, tiers_stage._flatten_matrix(counts))
    study.write(catalog.TIER_MOVERS, MOVERS)
    rule = {
        "method": "clv", "n_tiers": 3, "names": NAMES, "sizes": [20, 20, 20], "shares": [1 / 3] * 3,
        "column": "clv", "cutoffs": [1500.0, 1000.0], "cutoff_source": "carried", "carried_from": "2025q4",
        "fresh_cutoffs": [1600.0, 950.0], "target_shares": None,
        "hysteresis": {"margin": 0.05, "with_previous_tier": 55, "kept": 4},
    }
    migration = {"previous_run": "2025q4", **summary, "moved_by_behaviour": 3, "moved_by_cutoff": 2}
    study.write(catalog.TIERING_JSON, {"method": "clv", "n_tiers": 3, "rule": rule, "migration": migration,
                                       "skipped": {}})


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_migration_section_states_why_customers_moved(study, language):
    write_stage_three(study)
    out = sections.RunOutputs(study, language)
    shown = html.unescape(" ".join(sections.migration_section(study, language, out).blocks))
    assert text("migration_split", language, n=5, behaviour=3, cutoff=2) in shown
    assert text("mover_cause_cutoff", language) in shown and text("mover_cause_behaviour", language) in shown
    assert render(MOVERS["driver"][1], language) in shown
    assert NAMES[language][0] in shown and text("col_tier_now", language) in shown
    # codes, not ids (as whole words: a random code's hex digits may hold "C001")
    assert "C-" in shown and not any(re.search(rf"\b{customer}\b", shown) for customer in MOVERS["customer_id"])
    # highest value first: C002 (15,000 now) before C001 (9,000 last quarter)
    assert shown.index("15,000") < shown.index("9,000")


def test_the_migration_sentence_in_each_language(study):
    write_stage_three(study)
    expected = {
        "en": "Of 5 customers who changed tier, 3 moved because their behaviour changed and 2 because the cut-offs "
              "moved",
        "zh": "在5位换层的客户中，3位是因为自身行为变化，2位是因为分界值变动",
    }
    for language, sentence in expected.items():
        shown = html.unescape(" ".join(
            sections.migration_section(study, language, sections.RunOutputs(study, language)).blocks))
        assert sentence in shown


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_tiers_section_says_the_cutoffs_were_carried_and_banded(study, language):
    write_stage_three(study)
    shown = html.unescape(" ".join(sections.tiers_section(study, language, sections.RunOutputs(study, language)).blocks))
    assert text("tier_rules_origin_carried", language, run="2025q4") in shown
    assert "2025q4" in shown and "tiering.carry_cutoffs" in shown and "tiering.hysteresis" in shown
    assert "5%" in shown and ("1,600" in shown)


def test_the_report_shows_why_the_split_is_missing(study):
    write_stage_three(study)
    record = study.read(catalog.TIERING_JSON)
    record["migration"] |= {"moved_by_behaviour": None, "moved_by_cutoff": None}
    record["skipped"] = {"migration_cause": tiers_stage.skip_note(
        "skip_migration_cause", run="2025q4", why=tiers_stage.skip_note("rule_previous_no_cutoffs", method="kmeans"))}
    study.write(catalog.TIERING_JSON, record)
    shown = html.unescape(" ".join(sections.migration_section(study, "en", sections.RunOutputs(study, "en")).blocks))
    assert "Of 5 customers" not in shown
    assert "the previous run tiered by “kmeans”, which has no cut-offs" in shown
