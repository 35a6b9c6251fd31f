"""The labels and sentences the report and notebooks show, in Chinese (zh) and English (en).

The texts live in one data file per language, ``locales/<language>.yaml`` in this package: a flat
mapping key → ``str.format`` template, with the same keys in every file. The languages are the
locale files there (:data:`LANGUAGES`). The files are read
once, on first use, through :mod:`importlib.resources`, so an installed package finds them too.

``text(key, language, **values)`` formats one entry; a missing key is a bug and raises KeyError.

Methods and stages never choose a language: what they have to say they return as a *message*, a
locale key with the values its template needs, and the notebooks and the report render it in
their language at display time (:func:`render`)::

    why = message("skip_drivers_few_answers", n=12, min_n=30)   # in experience.json
    render(why, "en")  # "…12 complete answers, fewer than 30…"

A value of a message may be a number or text (formatted by the template's own format spec), another
message, a tier (:func:`tier_ref`, shown by the run's tier name) or a list of these
(:func:`joined`, shown with the language's separator). Messages are plain dicts, so they go into
JSON outputs as they are; in a parquet column they are stored as JSON text (:func:`to_json`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from datetime import date
from functools import cache
from importlib.resources import files
from types import MappingProxyType
from typing import Any

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
    # libyaml's safe loader where PyYAML has it: ten times the pure-Python one (every kernel reads both files)
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
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


def reason_label(reason: str, language: str) -> str:
    """The label of a quarantine reason (text ``reason_<reason>``); an unknown reason shows as is."""
    entry = TEXTS.get(f"reason_{reason}")
    return entry[language] if entry else reason


Message = dict[str, Any]


def message(key: str, **values: Any) -> Message:
    """A text to show later, in any language: ``{"key": key, "values": values}``.

    Raises KeyError when no locale file has ``key``, so a typo fails where the message is made.
    """
    if key not in TEXTS:
        raise KeyError(f"no text {key!r} in the locale files")
    return {"key": key, "values": {name: _plain(value) for name, value in values.items()}}


def _plain(value: Any) -> Any:
    """``value`` as JSON holds it: a date as ISO text, a NumPy number as a Python one."""
    if isinstance(value, date):  # datetime and pandas Timestamp too: a day is all a message shows
        return value.isoformat()[:10]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def tier_ref(tier: int) -> Message:
    """A tier inside a message, shown by the tier's name in the reader's language."""
    return {"tier": int(tier)}


def joined(items: Iterable[Any], separator: str = "separator_list") -> Message:
    """Several values inside a message, shown joined by the text ``separator`` (、 or ", " by default)."""
    return {"join": separator, "items": list(items)}


def to_json(value: Message | None) -> str | None:
    """A message as JSON text, for a parquet column (None stays None)."""
    return None if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)


def render(value: Any, language: str, tier_names: Mapping[int, str] | None = None) -> Any:
    """``value`` as the reader sees it in ``language``: messages (dicts or their JSON text) become text.

    ``tier_names`` maps tier numbers to the run's tier names; a tier without one shows as the
    default name (e.g. 第2层 / Tier 2). Anything that is not a message is returned unchanged.
    """
    if isinstance(value, str) and value.startswith("{"):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return value
    if not isinstance(value, dict):
        return value
    if "tier" in value and len(value) == 1:
        tier = int(value["tier"])
        return (tier_names or {}).get(tier) or text("tier_default_name", language, tier=tier)
    if "join" in value:
        return text(value["join"], language).join(str(render(item, language, tier_names)) for item in value["items"])
    if language in value and "key" not in value:  # a {zh, en} pair of texts
        return value[language]
    if "key" in value:
        values = {name: render(v, language, tier_names) for name, v in (value.get("values") or {}).items()}
        return text(value["key"], language, **values)
    return value
