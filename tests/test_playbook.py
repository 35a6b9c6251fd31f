"""The per-tier service playbook: defaults for 3/4/5 tiers and validated overrides."""

from __future__ import annotations

import re

import pytest

from analysis.methods.playbook import (
    CHANNELS,
    MANAGER_LEVELS,
    OFFERS,
    SERVICE_MODELS,
    Label,
    PlaybookError,
    cadence_label,
    default_playbook,
    merge_playbook,
    playbook_table,
)

CJK = re.compile(r"[\u4e00-\u9fff]")
SENIORITY = {"senior": 3, "middle": 2, "junior": 1, "none": 0}


def _labels(row):
    return [row.service_model, row.manager_level, row.cadence, *row.channels, *row.offers]


@pytest.mark.parametrize("n_tiers", [3, 4, 5])
def test_defaults_have_every_field_in_both_languages(n_tiers):
    playbook = default_playbook(n_tiers)
    assert sorted(playbook) == list(range(1, n_tiers + 1))
    for tier, row in playbook.items():
        assert row.tier == tier
        assert row.channels and row.offers
        for label in _labels(row):
            assert CJK.search(label.zh), f"tier {tier}: {label} has no Chinese text"
            assert label.en.strip() and not CJK.search(label.en), (
                f"tier {tier}: {label} has no English text"
            )
        assert row.contacts_per_month >= 0 and row.minutes_per_contact >= 0


@pytest.mark.parametrize("n_tiers", [3, 4, 5])
def test_defaults_serve_better_tiers_more_and_by_more_senior_staff(n_tiers):
    rows = [default_playbook(n_tiers)[t] for t in range(1, n_tiers + 1)]
    seniority = [SENIORITY[r.manager_level.code] for r in rows]
    hours = [r.hours_per_customer for r in rows]
    assert seniority == sorted(seniority, reverse=True)
    assert hours == sorted(hours, reverse=True)
    # common practice: the best clients are seen at least monthly by senior staff; the last tier self-serves
    assert rows[0].manager_level.code == "senior" and rows[0].contacts_per_month >= 1
    assert (
        rows[-1].service_model.code == "digital_self_service"
        and rows[-1].manager_level.code == "none"
    )
    assert rows[-1].hours_per_customer == 0


def test_default_playbook_rejects_other_tier_counts():
    with pytest.raises(PlaybookError, match="3, 4 or 5"):
        default_playbook(6)


def test_vocabularies_are_bilingual():
    for vocabulary in (SERVICE_MODELS, MANAGER_LEVELS, CHANNELS, OFFERS):
        for code, label in vocabulary.items():
            assert (
                label.code == code
                and CJK.search(label.zh)
                and label.en
                and not CJK.search(label.en)
            )
    assert SERVICE_MODELS["dedicated_manager"].zh == "专属客户经理"
    assert MANAGER_LEVELS["senior"].zh == "资深"


def test_merge_applies_overrides_without_touching_defaults():
    defaults = default_playbook(4)
    merged = merge_playbook(
        defaults,
        {
            1: {
                "contacts_per_month": 4,
                "channels": ["visit", {"zh": "私人银行沙龙", "en": "private-banking salon"}],
            },
            "3": {"manager_level": "middle", "minutes_per_contact": 20},
        },
    )
    assert merged[1].contacts_per_month == 4.0
    assert [c.text("zh") for c in merged[1].channels] == ["上门拜访", "私人银行沙龙"]
    assert merged[1].channels[1].en == "private-banking salon"
    assert merged[3].manager_level.code == "middle" and merged[3].minutes_per_contact == 20.0
    assert merged[2] == defaults[2]
    assert defaults[1].contacts_per_month == 2.0, "defaults must not change"
    assert merge_playbook(defaults, None) == defaults


@pytest.mark.parametrize(
    ("overrides", "pattern"),
    [
        ({7: {"contacts_per_month": 1}}, r"tier 7 is not one of the tiers 1–4"),
        ({"top": {"contacts_per_month": 1}}, r"tier 'top' is not one of the tiers"),
        (
            {1: {"contacts_per_mnth": 4}},
            r"tier 1: unknown key 'contacts_per_mnth'; did you mean 'contacts_per_month'",
        ),
        (
            {2: {"contacts_per_month": "four"}},
            r"tier 2, key 'contacts_per_month': expected a number ≥ 0, got 'four'",
        ),
        (
            {2: {"minutes_per_contact": True}},
            r"tier 2, key 'minutes_per_contact': expected a number",
        ),
        (
            {2: {"minutes_per_contact": -5}},
            r"tier 2, key 'minutes_per_contact': expected a finite number ≥ 0",
        ),
        ({1: {"manager_level": "boss"}}, r"tier 1, key 'manager_level': unknown code 'boss'"),
        (
            {1: {"manager_level": {"zh": "老板", "en": "boss"}}},
            r"tier 1, key 'manager_level': expected one of senior",
        ),
        ({1: {"service_model": "dedicated_manger"}}, r"did you mean 'dedicated_manager'"),
        ({3: {"channels": "phone"}}, r"tier 3, key 'channels': expected a list"),
        (
            {3: {"channels": ["phone", "wechat"]}},
            r"tier 3, key 'channels'\[1\]: unknown code 'wechat'",
        ),
        (
            {3: {"offers": [{"zh": "礼品"}]}},
            r"tier 3, key 'offers'\[0\]: a custom item needs exactly the keys zh and en",
        ),
        (
            {4: {"minutes_per_contact": 10}},
            r"tier 4: manager_level is 'none' but .* need staff time",
        ),
        ({1: ["contacts_per_month", 4]}, r"tier 1: expected a mapping"),
    ],
)
def test_bad_overrides_name_the_tier_and_key(overrides, pattern):
    with pytest.raises(PlaybookError, match=pattern):
        merge_playbook(default_playbook(4), overrides)


def test_bad_override_container():
    with pytest.raises(PlaybookError, match="must map tiers to settings"):
        merge_playbook(default_playbook(3), [1, 2])


def test_cadence_label():
    assert cadence_label(2).zh == "每月 2 次" and cadence_label(2).en == "2 times a month"
    assert cadence_label(1).en == "once a month"
    assert (
        cadence_label(1 / 3).zh == "每 3 个月 1 次"
        and cadence_label(1 / 3).en == "once every 3 months"
    )
    assert cadence_label(0).en == "no proactive contact"


def test_label_text_checks_language():
    label = Label("x", "甲", "a")
    assert label.text("zh") == "甲" and label.text("en") == "a"
    with pytest.raises(ValueError, match="'zh' or 'en'"):
        label.text("fr")


@pytest.mark.parametrize("n_tiers", [3, 4, 5])
def test_playbook_table_has_both_languages(n_tiers):
    table = playbook_table(default_playbook(n_tiers))
    assert table["tier"].tolist() == list(range(1, n_tiers + 1))
    for field in ("service_model", "manager_level", "cadence", "channels", "offers"):
        assert table[f"{field}_zh"].str.contains(CJK).all()
        assert (table[f"{field}_en"].str.len() > 0).all()
    expected = table["contacts_per_month"] * table["minutes_per_contact"] / 60
    assert table["hours_per_customer"].tolist() == pytest.approx(expected.tolist())
