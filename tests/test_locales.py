"""The locale files: same keys and placeholders in every language, every template formats."""

from __future__ import annotations

import re
import string
import tomllib
from importlib.resources import files
from pathlib import Path

import pytest
import yaml

from analysis import i18n
from analysis.i18n import LANGUAGES, TEXTS, reason_label, text

ROOT = Path(__file__).resolve().parents[1]
LOCALES = files("analysis").joinpath(i18n.LOCALES_DIR)
#: Keys whose languages knowingly use different placeholders: key → {language: names it leaves out}.
#: The zh text of ``skip_sensitivity_method`` gives an example instead of the (English) detail.
PLACEHOLDER_GAPS = {"skip_sensitivity_method": {"zh": {"detail"}}}
INTEGER_TYPES = set("bcdoxX")
NUMERIC_TYPES = INTEGER_TYPES | set("eEfFgGn%")


def raw(language: str) -> dict[str, str]:
    """One locale file as plain YAML, without going through :mod:`analysis.i18n`."""
    return yaml.safe_load(LOCALES.joinpath(f"{language}.yaml").read_text(encoding="utf-8"))


def fields(template: str) -> dict[str, str]:
    """Placeholder name → format spec of a template (the last spec when a name repeats)."""
    out = {}
    for _, name, spec, _ in string.Formatter().parse(template):
        if name is not None:
            out[re.split(r"[.\[]", name, maxsplit=1)[0]] = spec or ""
    return out


def dummy(spec: str) -> object:
    """A value of a plausible type for a format spec: a number when the spec is numeric, else text."""
    kind = spec[-1:] if spec[-1:].isalpha() or spec[-1:] == "%" else ""
    if kind in INTEGER_TYPES or (kind == "" and "," in spec):
        return 1234
    if kind in NUMERIC_TYPES or any(c in spec for c in "+,_"):
        return 0.125
    return "x"


def test_languages_are_the_locale_files():
    on_disk = sorted(p.name.removesuffix(".yaml") for p in LOCALES.iterdir() if p.name.endswith(".yaml"))
    assert list(LANGUAGES) == on_disk and {"zh", "en"} <= set(LANGUAGES)


def test_every_language_has_the_same_keys_in_the_same_order():
    keys = {language: list(raw(language)) for language in LANGUAGES}
    union = set().union(*keys.values())
    missing = {language: sorted(union - set(k)) for language, k in keys.items() if union - set(k)}
    assert not missing, f"keys missing from some locale files: {missing}"
    first, *others = LANGUAGES
    for language in others:
        assert keys[language] == keys[first], f"{language}.yaml lists its keys in another order than {first}.yaml"


def test_every_language_has_the_same_section_comments():
    def skeleton(language: str) -> list[str]:
        lines = LOCALES.joinpath(f"{language}.yaml").read_text(encoding="utf-8").splitlines()
        body = lines[lines.index(""):]  # after the file's own header comment
        return [line if line.startswith("#") else line.split(":", 1)[0] for line in body
                if line and not line.startswith(" ")]

    first, *others = LANGUAGES
    for language in others:
        assert skeleton(language) == skeleton(first)


def test_every_entry_is_non_empty_text():
    for language in LANGUAGES:
        bad = [key for key, value in raw(language).items() if not isinstance(value, str) or not value.strip()]
        assert not bad, f"{language}.yaml: empty or non-text entries {bad}"


def test_every_key_has_the_same_placeholders_in_every_language():
    texts = {language: raw(language) for language in LANGUAGES}
    differ = {}
    for key in texts[LANGUAGES[0]]:
        names = {language: set(fields(texts[language][key])) for language in LANGUAGES}
        union = set().union(*names.values())
        gaps = {language: union - n for language, n in names.items() if union - n}
        if gaps != PLACEHOLDER_GAPS.get(key, {}):
            differ[key] = gaps
    assert not differ, f"placeholders differ between languages (key → names missing per language): {differ}"


def test_templates_take_keyword_fields_only():
    for language in LANGUAGES:
        positional = [key for key, template in raw(language).items()
                      if any(name == "" or name.isdigit() for name in fields(template))]
        assert not positional, f"{language}.yaml: positional fields in {positional}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_template_formats_with_plausible_values(language):
    for key, template in raw(language).items():
        values = {name: dummy(spec) for name, spec in fields(template).items()}
        try:
            out = text(key, language, **values) if values else template.format()
        except (KeyError, ValueError, TypeError, IndexError) as exc:
            pytest.fail(f"{language}.yaml {key!r} does not format with {values}: {exc!r}")
        assert out and "{" not in out.replace("{{", ""), (key, out)


def test_numeric_format_specs_survive_the_yaml():
    assert fields(raw("en")["quality_sentence"]) == {
        "input": "", "rows_in": ",", "rows_kept": ",", "kept_share": ".1%", "rows_quarantined": ","}
    assert fields(raw("zh")["scoring_models"]) == {"model": "", "err": "+.1%"}
    assert raw("en")["link_thin"].endswith("indicative only: ")


def test_text_and_texts_return_the_locale_files():
    for language in LANGUAGES:
        data = raw(language)
        assert dict(i18n.locale(language)) == data
        for key, template in data.items():
            assert text(key, language) == template
            assert TEXTS[key][language] == template
    assert list(TEXTS) == list(raw(LANGUAGES[0]))


def test_texts_are_read_only():
    with pytest.raises(TypeError):
        TEXTS["toc"] = {"zh": "x", "en": "x"}  # type: ignore[index]
    with pytest.raises(TypeError):
        TEXTS["toc"]["en"] = "x"  # type: ignore[index]


def test_a_missing_key_or_language_raises_key_error_naming_it():
    with pytest.raises(KeyError, match="no_such_key.*'en'"):
        text("no_such_key", "en")
    with pytest.raises(KeyError, match="'xx'"):
        text("toc", "xx")
    assert "no_such_key" not in TEXTS and TEXTS.get("no_such_key") is None


def test_reason_label():
    assert reason_label("total_row", "en") == "total or subtotal row"
    assert reason_label("total_row", "zh") == "合计/小计行"
    assert reason_label("something_new", "zh") == "something_new"


def test_the_locale_files_are_package_data():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = pyproject["tool"]["setuptools"]["package-data"]["analysis"]
    for language in LANGUAGES:
        assert any(Path(f"{i18n.LOCALES_DIR}/{language}.yaml").match(p) for p in patterns), patterns
