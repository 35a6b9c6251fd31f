"""Figures from too few answers are never headlines, and no NaN reaches the report."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis.frame import catalog
from analysis.frame.params import scale_problems
from analysis.i18n import text
from analysis.methods import satisfaction
from analysis.report import sections
from analysis.report.blocks import figure_cards, table
from analysis.report.localize import localize
from analysis.report.sections import headline_cards, nps_sentences
from tests.examples import examples

ROOT = Path(__file__).resolve().parents[1]
N_CUSTOMERS = 120
NAMES = {1: "High", 2: "Mid", 3: "Low"}


def customers() -> pd.DataFrame:
    tier = [1 + i % 3 for i in range(N_CUSTOMERS)]
    return pd.DataFrame({"customer_id": [f"C{i:04d}" for i in range(N_CUSTOMERS)], "tier": tier,
                         "tier_name": [NAMES[t] for t in tier]})


def profile() -> pd.DataFrame:
    return pd.DataFrame({"tier": [1, 2, 3], "tier_name": list(NAMES.values()), "customers": [40, 40, 40],
                         "clv_share": [0.6, 0.3, 0.1], "customer_share": [1 / 3] * 3, "revenue_share": [0.5, 0.3, 0.2]})


def surveys(respondents: list[int], recommend: list[int], overall: list[int]) -> pd.DataFrame:
    return pd.DataFrame({
        "customer_id": pd.array([f"C{i:04d}" for i in respondents], dtype="string"),
        "survey_date": pd.to_datetime(["2025-06-01"] * len(respondents)),
        "recommend": np.array(recommend, dtype=float),
        "overall_satisfaction": np.array(overall, dtype=float),
    })


@st.composite
def answer_sets(draw) -> tuple[pd.DataFrame, int]:
    min_n = draw(st.integers(5, 40))
    size = draw(st.one_of(st.just(0), st.integers(1, min_n - 1), st.integers(0, N_CUSTOMERS)))
    respondents = draw(st.lists(st.integers(0, N_CUSTOMERS - 1), min_size=size, max_size=size, unique=True))
    recommend = draw(st.lists(st.integers(0, 10), min_size=size, max_size=size))
    overall = draw(st.lists(st.integers(1, 10), min_size=size, max_size=size))
    return surveys(respondents, recommend, overall), min_n


def nps_table(answers: pd.DataFrame, language: str, min_n: int = 30) -> pd.DataFrame:
    """NPS per tier as the report reads it: computed without a language, shown in ``language``."""
    nps = satisfaction.nps_by_tier(answers, customers(), min_n=min_n)
    return localize(nps, language, NAMES, output=catalog.NPS)


def nps_card_shown(cards: list[tuple[str, str]], language: str) -> bool:
    return any(label == text("fig_nps", language) for _, label in cards)


@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answer_sets(), st.sampled_from(["zh", "en"]))
def test_headline_cards_never_show_a_figure_from_too_few_answers(answers_and_min_n, language):
    answers, min_n = answers_and_min_n
    nps = nps_table(answers, language, min_n)
    cards = headline_cards(language, min_n=min_n, profile=profile(), nps=nps, at_risk=3, gain="1,000 CNY")
    overall_n = answers["customer_id"].nunique()
    assert nps_card_shown(cards, language) == (overall_n >= min_n)
    rendered = figure_cards(cards) + "".join(nps_sentences(nps, language, min_n))
    assert "nan" not in rendered.lower()
    for value, _ in cards:
        assert value and value != "—"
    for r in nps[nps["tier"].notna()].itertuples():  # a tier from too few answers is greyed with its n
        if r.n < min_n:
            item = re.search(rf'<span class="thin">{r.tier_name} [^<]*</span>', "".join(nps_sentences(nps, language, min_n)))
            assert item is not None and f"n = {r.n}" in item.group(0)


def test_no_answers_at_all_gives_no_nps_card_and_no_nan():
    nps = nps_table(surveys([], [], []), "en")
    cards = headline_cards("en", min_n=30, profile=profile(), nps=nps)
    assert not nps_card_shown(cards, "en")
    assert "nan" not in (figure_cards(cards) + "".join(nps_sentences(nps, "en", 30))).lower()


def test_an_overall_nps_from_too_few_answers_is_said_greyed_with_its_n():
    nps = nps_table(surveys(list(range(12)), [10] * 12, [5] * 12), "en")
    sentences = "".join(nps_sentences(nps, "en", 30))
    assert '<span class="thin">The overall NPS rests on 12 answers, fewer than 30' in sentences
    assert '<span class="thin">High +100 (n = 4, few answers)</span>' in sentences
    assert not nps_card_shown(headline_cards("en", min_n=30, profile=profile(), nps=nps), "en")


def test_missing_figures_and_intervals_show_a_dash_and_thin_rows_are_greyed():
    frame = pd.DataFrame({"tier": ["A", "B"], "nps": [float("nan"), 12.0], "low": [math.inf, 1.0]})
    html = table(frame, formats={"nps": "+.0f", "low": "+.0f"}, row_css=["thin", None])
    assert "nan" not in html.lower() and "inf" not in html.lower()
    assert html.count("—") == 2 and '<tr class="thin">' in html


def test_a_five_point_scale_on_ten_point_answers():
    answers = pd.Series([i % 11 for i in range(220)], dtype=float)  # 0–10 answers
    problems = scale_problems(answers.where(answers >= 1).dropna(), 5, "surveys.csv")
    assert len(problems) == 1
    assert "satisfaction.scale_max" in problems[0] and "surveys.csv" in problems[0]
    assert "answers run 1–10: set satisfaction.scale_max: 10" in problems[0]
    # and were it run anyway, the headline cards stay clean
    rows = list(range(100))
    answers_frame = surveys(rows, [i % 11 for i in rows], [i % 11 for i in rows])
    csat = satisfaction.csat_by_tier(answers_frame, customers(), scale_max=5, min_n=30)
    nps = nps_table(answers_frame, "zh")
    cards = headline_cards("zh", min_n=30, profile=profile(), nps=nps)
    assert "nan" not in figure_cards(cards).lower() and not csat.empty


@pytest.fixture(scope="module")
def study(sample_report, out_root):
    from analysis.frame.study import open_study

    return open_study(ROOT / "params" / "sample.yaml", out_root=out_root)  # the tests' sample run


def test_drivers_from_too_few_answers_are_greyed_with_their_n(study):
    recorded = sections.RunOutputs(study, "en")
    recorded._cache["experience.json"] = {**recorded.get("experience.json"), "drivers_answers": 8}  # stage 4's count
    counted = sections.RunOutputs(study, "en")  # a stage 4 output without the count: the answers counted here
    counted._cache["experience.json"] = {k: v for k, v in counted.get("experience.json").items() if k != "drivers_answers"}
    counted._cache["surveys.parquet"] = counted.get("surveys.parquet").head(8)
    for out in (recorded, counted):
        sentence = sections.drivers_sentence(study, out, "en")
        assert sentence.startswith('<span class="thin">') and "rest on" in sentence and "fewer than 30" in sentence
    assert "thin" not in sections.drivers_sentence(study, sections.RunOutputs(study, "en"), "en")


def test_a_thin_complaint_link_is_greyed():
    link = pd.DataFrame({"group": ["with_complaints", "without_complaints"], "n": [4, 200]})
    block = sections.complaint_link_block("Customers with complaints rate 6.2.", link, "en", 30)
    assert block.startswith('<p class="thin">') and "4 answers" in block
    assert "thin" not in sections.complaint_link_block("x", link.assign(n=[40, 200]), "en", 30)


def test_the_satisfaction_section_greys_thin_tiers_and_shows_no_nan(study):
    out = sections.RunOutputs(study, "en")
    tiered = out.get("customers.parquet")
    answers = out.get("surveys.parquet").head(12)  # 12 answers: every figure is thin
    for key, table_ in {
        "nps": satisfaction.nps_by_tier(answers, tiered, min_n=30),
        "csat": satisfaction.csat_by_tier(answers, tiered, scale_max=10, min_n=30),
    }.items():
        name = catalog.EXPERIENCE_TABLES[key]
        out._cache[name] = localize(table_, "en", out.tier_names(), output=name)
    section = sections.satisfaction_section(study, "en", out)
    page = re.sub(r'<img[^>]*>', "", "".join(section.blocks))
    assert "nan" not in page.lower()
    assert page.count('<tr class="thin">') == 5 and "All customers (few answers, n = 12)" in page


ATTRIBUTES = ["product_quality", "service_response", "price_fairness", "delivery_timeliness", "manager_expertise"]


def stage_outputs(study) -> tuple[dict[str, pd.DataFrame], dict]:
    """Stage 4's survey and complaint outputs for 120 customers, as the run stores them (no language)."""
    from analysis.stages import satisfaction_loyalty

    rng = np.random.default_rng(21)
    tiered = customers()
    ratings = pd.DataFrame(rng.integers(3, 11, size=(N_CUSTOMERS, len(ATTRIBUTES))), columns=ATTRIBUTES).astype(float)
    lift = 3 - tiered["tier"].to_numpy()  # better tiers are happier
    overall = (ratings.to_numpy() @ [0.4, 0.3, 0.1, 0.1, 0.1] + lift + rng.normal(0, 0.5, N_CUSTOMERS)).clip(1, 10)
    answers = surveys(list(range(N_CUSTOMERS)), list(overall.round().clip(0, 10)), list(overall.round()))
    answers = pd.concat([answers, ratings], axis=1)
    complaints = pd.DataFrame({"customer_id": [f"C{i:04d}" for i in range(0, N_CUSTOMERS, 4)],
                               "opened": pd.Timestamp("2025-05-01"), "closed": pd.NaT, "category": None, "severity": "高"})
    answers.loc[answers["customer_id"].isin(complaints["customer_id"]), "overall_satisfaction"] -= 2
    tables, notes = satisfaction_loyalty.satisfaction_tables(answers, tiered, study.params)
    complaint_tables, complaint_notes = satisfaction_loyalty.complaint_tables(complaints, answers, tiered, study.params)
    record = json.loads(json.dumps({"skipped": {}, **notes, **complaint_notes}))  # as experience.json keeps it
    tables = {catalog.EXPERIENCE_TABLES[key]: t for key, t in (tables | complaint_tables).items()}
    return tables | {catalog.SURVEYS: answers, catalog.CUSTOMERS: tiered}, record


@pytest.fixture(scope="module")
def params_only_study():
    from analysis.frame.params import load_params
    from analysis.frame.study import Study

    path = ROOT / "params" / "sample.yaml"
    return Study(params=load_params(path), params_path=path)  # its outputs come from stage_outputs, not a run


@pytest.fixture(scope="module")
def survey_outputs(params_only_study):
    return stage_outputs(params_only_study)


@pytest.mark.parametrize("language", ["zh", "en"])
def test_the_satisfaction_section_shows_verdicts_quadrants_and_the_complaint_link_in_words(
    params_only_study, survey_outputs, language
):
    tables, record = survey_outputs
    out = sections.RunOutputs(params_only_study, language)
    out.tier_names = lambda: NAMES
    for name in [*catalog.EXPERIENCE_TABLES.values(), catalog.SURVEYS, catalog.CUSTOMERS]:
        found = tables.get(name)
        out._cache[name] = None if found is None else localize(found, language, NAMES, output=name)
    out._cache[catalog.EXPERIENCE_JSON] = record
    page = re.sub(r"<img[^>]*>", "", "".join(sections.satisfaction_section(params_only_study, language, out).blocks))
    expected = {
        "zh": ["<li>各层级的总体满意度存在显著差异（Kruskal–Wallis H = ", "<li>推荐者/中立者/贬损者的构成在各层级之间",
               "<td>全部客户</td>", "<p>有投诉客户的满意度均值为 ", "（Mann–Whitney p "],
        "en": ["<li>Overall satisfaction differs between tiers (Kruskal–Wallis H = ",
               "<li>The mix of promoters, passives and detractors", "<td>All customers</td>",
               "<p>Customers with complaints rate overall satisfaction ", " for those without (Mann–Whitney p "],
    }[language]
    for snippet in expected:
        assert snippet in page, snippet
    quadrants = {text(f"drivers_quadrant_{code}", language)
                 for code in ("fix_first", "keep_up", "possible_overkill", "low_priority")}
    shown = set(re.findall(r"<td>([^<]*)</td></tr>", page))
    assert shown & quadrants and not any(code in page for code in ("fix_first", "keep_up", "low_priority"))
    assert "nan" not in page.lower() and "{" not in page and '"key"' not in page
