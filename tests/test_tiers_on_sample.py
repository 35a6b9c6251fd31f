"""Every tier method × tier count on the sample study's customers: all tiers filled, shares add to 1."""

import pandas as pd
import pytest

from analysis.i18n import LANGUAGES
from analysis.methods import profiles, tiers
from analysis.report.tier_rules import rule_text

pytestmark = pytest.mark.slow
METHODS = ["rfm", "clv", "pareto", "threshold", "kmeans", "composite"]


@pytest.fixture(scope="module")
def customers(sample_report, out_root):
    return pd.read_parquet(out_root / "data/processed/sample/customers.parquet")


def threshold_options(customers: pd.DataFrame, n_tiers: int) -> dict:
    """Balance bands in the bank style (class 1 = largest balances), cut at balance quantiles."""
    cuts = customers["balance"].quantile([1 - q for q in (0.05, 0.2, 0.45, 0.7)[: n_tiers - 1]]).tolist()
    bounds = [None, *cuts, None]
    rules = [{"column": "balance", "min": bounds[i + 1], "max": bounds[i]} for i in range(n_tiers)]
    return {"rules": [{k: v for k, v in r.items() if v is not None} for r in rules], "missing_tier": n_tiers}


@pytest.mark.parametrize("n_tiers", [3, 4, 5])
@pytest.mark.parametrize("method", METHODS)
def test_every_method_tiers_the_sample_study(customers, method, n_tiers):
    options = threshold_options(customers, n_tiers) if method == "threshold" else {}
    assignment = tiers.assign_tiers(customers, method, n_tiers=n_tiers, options=options, seed=7)
    assert sorted(assignment.tier.unique()) == list(range(1, n_tiers + 1))
    names = {language: tiers.tier_names(n_tiers, language) for language in LANGUAGES}
    for language in LANGUAGES:
        assert all(name in rule_text({**assignment.rule, "names": names}, language) for name in names[language])
    tiered = customers.assign(tier=assignment.tier, tier_name=assignment.tier.map(dict(enumerate(names["en"], 1))))
    profile = profiles.tier_profile(tiered)
    for column in ("customer_share", "revenue_share", "clv_share"):
        assert profile[column].sum() == pytest.approx(1.0)
    if method in ("clv", "pareto", "composite", "kmeans"):
        assert profile["clv"].iloc[0] / profile["customers"].iloc[0] > profile["clv"].iloc[-1] / profile["customers"].iloc[-1]
