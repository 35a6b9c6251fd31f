"""Tier profiles as a reader sees them: column labels and mix categories in the reader's language."""

from __future__ import annotations

import pandas as pd

from analysis.i18n import labels, render

_PREFIX = "profile_col_"


def profile_labels(language: str) -> dict[str, str]:
    """Column → label of :func:`~analysis.methods.profiles.tier_profile` in ``language`` (texts ``profile_col_*``)."""
    return {column: texts[language] for column, texts in labels(_PREFIX).items()}


def mix_in_language(mix: pd.DataFrame, language: str) -> pd.DataFrame:
    """A :func:`~analysis.methods.profiles.tier_mix` or ``purchase_mix`` table with its categories in
    ``language``: the missing category (a message) named, the categories sorted as the reader reads them.
    """
    shown = mix.rename(columns=lambda category: render(category, language))
    return shown[sorted(shown.columns, key=str)]
