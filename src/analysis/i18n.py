"""The labels and sentences the report and notebooks show, in Chinese (zh) and English (en).

The texts live in one data file per language, ``locales/<language>.yaml`` in this package: a flat
mapping key → ``str.format`` template, with the same keys in every file. The languages are the
locale files there (:data:`LANGUAGES`). The files are read
once, on first use, through :mod:`importlib.resources`, so an installed package finds them too.

``text(key, language, **values)`` formats one entry; a missing key is a bug and raises KeyError.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import cache
from importlib.resources import files
from types import MappingProxyType

import yaml

#: Folder of the locale files inside this package.
LOCALES_DIR = "locales"
_SUFFIX = ".yaml"
_PACKAGE = "analysis"

#: The report's languages: one per locale file, in alphabetical order.
LANGUAGES: tuple[str, ...] = tuple(
    sorted(
        entry.name.removesuffix(_SUFFIX)
        for entry in files(_PACKAGE).joinpath(LOCALES_DIR).iterdir()
        if entry.name.endswith(_SUFFIX)
    )
)


@cache
def locale(language: str) -> Mapping[str, str]:
    """Read-only key → template mapping of one language, read from its locale file once.

    Raises KeyError for a language without a locale file, and ValueError for a file that is not a
    flat mapping of text keys to text templates.
    """
    if language not in LANGUAGES:
        raise KeyError(f"no locale file for language {language!r} (languages: {', '.join(LANGUAGES)})")
    name = f"{LOCALES_DIR}/{language}{_SUFFIX}"
    path = files(_PACKAGE).joinpath(LOCALES_DIR).joinpath(f"{language}{_SUFFIX}")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{name} must be a mapping of key → text, not {type(data).__name__}")
    wrong = [str(key) for key, value in data.items() if not isinstance(key, str) or not isinstance(value, str)]
    if wrong:
        raise ValueError(f"{name}: these entries are not text (quote them): {', '.join(wrong)}")
    return MappingProxyType(data)


@cache
def _entries() -> Mapping[str, Mapping[str, str]]:
    """key → {language: template} over every locale file; keys in file order."""
    locales = {language: locale(language) for language in LANGUAGES}
    keys = dict.fromkeys(key for texts in locales.values() for key in texts)
    return MappingProxyType({
        key: MappingProxyType({language: texts[key] for language, texts in locales.items() if key in texts})
        for key in keys
    })


class _Texts(Mapping[str, Mapping[str, str]]):
    """Read-only ``{key: {language: template}}`` view of the locale files, loaded on first use."""

    def __getitem__(self, key: str) -> Mapping[str, str]:
        return _entries()[key]

    def __contains__(self, key: object) -> bool:
        return key in _entries()

    def __iter__(self) -> Iterator[str]:
        return iter(_entries())

    def __len__(self) -> int:
        return len(_entries())

    def __repr__(self) -> str:
        return f"TEXTS({len(self)} keys in {', '.join(LANGUAGES)})"


#: Every text as ``TEXTS[key][language]``, read-only.
TEXTS: Mapping[str, Mapping[str, str]] = _Texts()


def text(key: str, language: str, **values: object) -> str:
    """The template ``key`` in ``language``, formatted with ``values`` (returned as is without values)."""
    texts = locale(language)
    if key not in texts:
        raise KeyError(f"no text {key!r} in language {language!r}")
    template = texts[key]
    return template.format(**values) if values else template


def labels(prefix: str) -> dict[str, dict[str, str]]:
    """``{name: {language: text}}`` of every key ``<prefix><name>``, in file order.

    A module's table of labels, e.g. ``labels("lifecycle_stage_")["new"]["en"] == "New"``.
    """
    return {key.removeprefix(prefix): dict(entry) for key, entry in TEXTS.items() if key.startswith(prefix)}


def label(key: str) -> dict[str, str]:
    """``{language: text}`` of one key, e.g. ``label("complaints_uncategorised")["zh"] == "未分类"``."""
    return dict(TEXTS[key])


def reason_label(reason: str, language: str) -> str:
    """The label of a quarantine reason (text ``reason_<reason>``); an unknown reason shows as is."""
    entry = TEXTS.get(f"reason_{reason}")
    return entry[language] if entry else reason
