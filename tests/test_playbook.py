"""The per-tier service playbook: defaults for 3/4/5 tiers and validated overrides."""

from __future__ import annotations

import re

import pytest

from analysis.i18n import render
from analysis.methods.playbook import (
    CHANNELS,
    MANAGER_LEVELS,
    OFFERS,
    SERVICE_MODELS,
    PlaybookError,
    cadence_message,
    default_playbook,
    item_message,
    merge_playbook,
    playbook_table,
)

CJK = re.compile(r"[\u4e00-\u9fff]")
SENIORITY = {"senior": 3, "middle": 2, "junior": 1, "none": 0}


def _shown(row):
    """Every text of a playbook row, as messages."""
    return [
        item_message(row.service_model, "playbook_model_"),
        item_message(row.manager_level, "playbook_level_"),
        row.cadence,
        *(item_message(c, "playbook_channel_") for c in row.channels),
        *(item_message(o, "playbook_offer_") for o in row.offers),
    ]


def _is_bilingual(shown) -> bool:
    zh, en = render(shown, "zh"), render(shown, "en")
    return bool(CJK.search(zh)) and bool(en.strip()) and not CJK.search(en)


@pytest.mark.parametrize("n_tiers", [3, 4, 5])
def test_defaults_have_every_field_in_both_languages(n_tiers):
    playbook = default_playbook(n_tiers)
    assert sorted(playbook) == list(range(1, n_tiers + 1))
    for tier, row in playbook.items():
        assert row.tier == tier
        assert row.channels and row.offers
        assert row.service_model in SERVICE_MODELS and row.manager_level in MANAGER_LEVELS
        assert set(row.channels) <= set(CHANNELS) and set(row.offers) <= set(OFFERS)
        for shown in _shown(row):
            assert _is_bilingual(shown), f"tier {tier}: {shown} is not in both languages"
        assert row.contacts_per_month >= 0 and row.minutes_per_contact >= 0


@pytest.mark.parametrize("n_tiers", [3, 4, 5])
def test_defaults_serve_better_tiers_more_and_by_more_senior_staff(n_tiers):
    rows = [default_playbook(n_tiers)[t] for t in range(1, n_tiers + 1)]
    seniority = [SENIORITY[r.manager_level] for r in rows]
    hours = [r.hours_per_customer for r in rows]
    assert seniority == sorted(seniority, reverse=True)
    assert hours == sorted(hours, reverse=True)
    # common practice: the best clients are seen at least monthly by senior staff; the last tier self-serves
    assert rows[0].manager_level == "senior" and rows[0].contacts_per_month >= 1
    assert rows[-1].service_model == "digital_self_service" and rows[-1].manager_level == "none"
    assert rows[-1].hours_per_customer == 0


def test_default_playbook_rejects_other_tier_counts():
    with pytest.raises(PlaybookError, match="3, 4 or 5"):
        default_playbook(6)


def test_vocabularies_are_bilingual():
    for vocabulary, prefix in (
        (SERVICE_MODELS, "playbook_model_"),
        (MANAGER_LEVELS, "playbook_level_"),
        (CHANNELS, "playbook_channel_"),
        (OFFERS, "playbook_offer_"),
    ):
        for code in vocabulary:
            assert _is_bilingual(item_message(code, prefix)), code
    for level in MANAGER_LEVELS:
        assert _is_bilingual(item_message(level, "playbook_staff_")), level
    assert render(item_message("dedicated_manager", "playbook_model_"), "zh") == "专属客户经理"
    assert render(item_message("senior", "playbook_level_"), "zh") == "资深"


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
    shown = [item_message(c, "playbook_channel_") for c in merged[1].channels]
    assert [render(c, "zh") for c in shown] == ["上门拜访", "私人银行沙龙"]
    assert [render(c, "en") for c in shown] == ["in-person visit", "private-banking salon"]
    assert merged[1].channels[1] == {"zh": "私人银行沙龙", "en": "private-banking salon"}, "the analyst's texts, as written"
    assert merged[3].manager_level == "middle" and merged[3].minutes_per_contact == 20.0
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
            r"tier 3, key 'offers'\[0\]: a custom item needs exactly the keys en and zh",
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


def test_cadence_message():
    assert render(cadence_message(2), "zh") == "每月 2 次" and render(cadence_message(2), "en") == "2 times a month"
    assert render(cadence_message(2.5), "en") == "2.5 times a month"
    assert render(cadence_message(1), "en") == "once a month"
    assert (
        render(cadence_message(1 / 3), "zh") == "每 3 个月 1 次"
        and render(cadence_message(1 / 3), "en") == "once every 3 months"
    )
    assert render(cadence_message(0), "en") == "no proactive contact"
    assert cadence_message(0.5) == {"key": "playbook_cadence_every", "values": {"months": 2}}


@pytest.mark.parametrize("n_tiers", [3, 4, 5])
def test_playbook_table_holds_codes_and_messages_in_both_languages(n_tiers):
    table = playbook_table(default_playbook(n_tiers))
    assert table["tier"].tolist() == list(range(1, n_tiers + 1))
    assert set(table["manager_level"]) <= set(MANAGER_LEVELS)
    for field in ("service_model", "cadence", "channels", "offers"):
        for stored in table[field]:
            assert isinstance(stored, str) and not CJK.search(stored), "messages are stored without language"
            assert _is_bilingual(stored), (field, stored)
    expected = table["contacts_per_month"] * table["minutes_per_contact"] / 60
    assert table["hours_per_customer"].tolist() == pytest.approx(expected.tolist())


def test_playbook_table_shows_lists_joined_and_custom_items_in_the_readers_language():
    book = merge_playbook(default_playbook(4), {
        1: {"service_model": {"zh": "私人银行", "en": "private banking"},
            "channels": ["visit", {"zh": "私人银行沙龙", "en": "private-banking salon"}]},
    })
    row = playbook_table(book).set_index("tier").loc[1]
    assert render(row["service_model"], "zh") == "私人银行" and render(row["service_model"], "en") == "private banking"
    assert render(row["channels"], "zh") == "上门拜访、私人银行沙龙"
    assert render(row["channels"], "en") == "in-person visit, private-banking salon"
    assert render(row["cadence"], "zh") == "每月 2 次"
    assert render(row["offers"], "zh") == "优先服务通道、定制化方案与价格、专属活动与高端权益"
