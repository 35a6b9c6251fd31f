"""The per-tier service playbook: who serves each tier, how often, through which channels, with what offers.

The defaults follow common key-account and private-banking practice (e.g. a bank's class-1 clients are
visited at least monthly by senior relationship managers, class-3 clients are served by branch staff
and digital channels): the more value a tier holds, the more senior the people serving it and the
more personal and frequent the contact.

Defaults, tier 1 → last tier (service model / manager level / contacts a month × minutes a contact):

- 3 tiers: dedicated manager/senior 2×45 · pooled team/middle 1×20 · digital/none 1×0
- 4 tiers: dedicated manager/senior 2×45 · dedicated manager/middle 1×30 · pooled team/junior 0.5×15 ·
  digital/none 1×0
- 5 tiers: key-account team/senior 4×60 · dedicated manager/senior 2×45 · dedicated manager/middle 1×30 ·
  pooled team/junior 0.5×15 · digital/none 1×0

Contacts of the self-service tier are automated touches (app push, SMS, e-mail): they take no
staff time, so their ``minutes_per_contact`` is 0 and their manager level is ``none``.

A params file adjusts the defaults per tier (``allocation.playbook``)::

    playbook:
      1: {contacts_per_month: 4, channels: [visit, wecom, {zh: 私人银行沙龙, en: private-banking salon}]}
      3: {manager_level: junior}

:func:`merge_playbook` validates such overrides: an unknown tier or key, a wrong type or an unknown
code stops the run with a message naming the tier, the key and the fix.

The playbook speaks no language: it holds codes (and the analyst's own ``{zh, en}`` items as written),
and :func:`playbook_table` turns them into messages that the report and notebooks show in theirs.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from analysis.i18n import LANGUAGES, Message, joined, message, to_json


class PlaybookError(ValueError):
    """A playbook override is wrong: the message names the tier, the key and the fix."""


#: Codes of each vocabulary; their words are the locale texts ``playbook_model_<code>``,
#: ``playbook_level_<code>``, ``playbook_channel_<code>`` and ``playbook_offer_<code>``.
SERVICE_MODELS = ("key_account_team", "dedicated_manager", "pooled_service", "digital_self_service")

#: Manager levels; ``none`` is for tiers served without staff time.
MANAGER_LEVELS = ("senior", "middle", "junior", "none")

CHANNELS = ("visit", "phone", "wecom", "video", "email", "branch", "events", "app", "sms", "hotline")

OFFERS = (
    "priority_service", "tailored_solutions", "exclusive_events", "business_review", "executive_sponsor",
    "upgrade_incentives", "cross_sell", "loyalty_points", "win_back", "standard_promotions",
    "self_service_tools",
)

#: A service model, channel or offer: a code of its vocabulary, or an analyst's own item given in
#: params as ``{zh: ..., en: ...}`` (data, kept as written and shown in the reader's language).
Item = str | Mapping[str, str]


def item_message(item: Item, prefix: str) -> Message:
    """What shows ``item``: the message of its code's text ``<prefix><code>``, or the analyst's own texts."""
    return message(f"{prefix}{item}") if isinstance(item, str) else dict(item)


@dataclass(frozen=True)
class TierPlaybook:
    """How one tier is served.

    Staff hours a tier needs per month = customers × ``contacts_per_month`` × ``minutes_per_contact`` / 60.
    """

    tier: int
    service_model: Item
    manager_level: str
    contacts_per_month: float
    minutes_per_contact: float
    channels: tuple[Item, ...]
    offers: tuple[Item, ...]

    @property
    def hours_per_customer(self) -> float:
        """Staff hours per customer per month: contacts_per_month × minutes_per_contact / 60."""
        return self.contacts_per_month * self.minutes_per_contact / 60.0

    @property
    def cadence(self) -> Message:
        """The contact cadence as a message, e.g. 每月 2 次 / 2 times a month."""
        return cadence_message(self.contacts_per_month)


Playbook = dict[int, TierPlaybook]

_EDITABLE = (
    "service_model",
    "manager_level",
    "contacts_per_month",
    "minutes_per_contact",
    "channels",
    "offers",
)


def _row(
    tier: int,
    model: str,
    level: str,
    contacts: float,
    minutes: float,
    channels: Sequence[str],
    offers: Sequence[str],
) -> TierPlaybook:
    return TierPlaybook(
        tier=tier,
        service_model=model,
        manager_level=level,
        contacts_per_month=float(contacts),
        minutes_per_contact=float(minutes),
        channels=tuple(channels),
        offers=tuple(offers),
    )


_KEY_ACCOUNT = (
    "key_account_team",
    "senior",
    4,
    60,
    ("visit", "wecom", "video", "events"),
    ("executive_sponsor", "tailored_solutions", "business_review", "exclusive_events"),
)
_DEDICATED_SENIOR = (
    "dedicated_manager",
    "senior",
    2,
    45,
    ("visit", "phone", "wecom", "events"),
    ("priority_service", "tailored_solutions", "exclusive_events"),
)
_DEDICATED_MIDDLE = (
    "dedicated_manager",
    "middle",
    1,
    30,
    ("phone", "wecom", "visit"),
    ("upgrade_incentives", "cross_sell", "priority_service"),
)
_POOLED_MIDDLE = (
    "pooled_service",
    "middle",
    1,
    20,
    ("phone", "wecom", "email"),
    ("upgrade_incentives", "cross_sell", "loyalty_points"),
)
_POOLED_JUNIOR = (
    "pooled_service",
    "junior",
    0.5,
    15,
    ("phone", "wecom", "branch"),
    ("loyalty_points", "cross_sell", "win_back"),
)
_DIGITAL = (
    "digital_self_service",
    "none",
    1,
    0,
    ("app", "sms", "email", "hotline"),
    ("standard_promotions", "self_service_tools", "win_back"),
)

_DEFAULTS: dict[int, tuple[tuple[Any, ...], ...]] = {
    3: (_DEDICATED_SENIOR, _POOLED_MIDDLE, _DIGITAL),
    4: (_DEDICATED_SENIOR, _DEDICATED_MIDDLE, _POOLED_JUNIOR, _DIGITAL),
    5: (_KEY_ACCOUNT, _DEDICATED_SENIOR, _DEDICATED_MIDDLE, _POOLED_JUNIOR, _DIGITAL),
}


def default_playbook(n_tiers: int) -> Playbook:
    """The default playbook for 3, 4 or 5 tiers (tier 1 = best); see the module docstring for the table."""
    if n_tiers not in _DEFAULTS:
        raise PlaybookError(f"n_tiers must be 3, 4 or 5 (tiering.n_tiers), got {n_tiers!r}")
    return {tier: _row(tier, *spec) for tier, spec in enumerate(_DEFAULTS[n_tiers], start=1)}


def cadence_message(contacts_per_month: float) -> Message:
    """Contacts per month in words: ≥ 1 → 'N times a month'; below 1 → 'once every M months' (M = round(1/c))."""
    c = float(contacts_per_month)
    if c <= 0:
        return message("playbook_cadence_none")
    if c == 1:
        return message("playbook_cadence_monthly")
    if c > 1:
        return message("playbook_cadence_times", n=c)
    return message("playbook_cadence_every", months=max(1, round(1 / c)))


def merge_playbook(
    defaults: Playbook, overrides: Mapping[Any, Mapping[str, Any]] | None
) -> Playbook:
    """Apply per-tier ``overrides`` (the params file's ``allocation.playbook``) to ``defaults``.

    Each override maps a tier (int, or a string of digits as YAML may give) to some of the keys
    service_model, manager_level, contacts_per_month, minutes_per_contact, channels, offers.
    ``service_model``, ``manager_level`` and each channel or offer is a known code (see
    :data:`SERVICE_MODELS`, :data:`MANAGER_LEVELS`, :data:`CHANNELS`, :data:`OFFERS`); service models,
    channels and offers may also be a custom ``{zh: ..., en: ...}`` item. Lists replace the default list.

    Raises
    ------
    PlaybookError
        For an unknown tier or key, a wrong type, an unknown code, or a tier left with staff minutes
        but manager level ``none``; the message names the tier and the key.
    """
    merged = dict(defaults)
    if overrides is None:
        return merged
    if not isinstance(overrides, Mapping):
        raise PlaybookError(
            f"allocation.playbook must map tiers to settings, e.g. {{1: {{contacts_per_month: 4}}}}; "
            f"got {type(overrides).__name__}"
        )
    for raw_tier, changes in overrides.items():
        tier = _tier_key(raw_tier, merged)
        where = f"allocation.playbook tier {tier}"
        if not isinstance(changes, Mapping):
            raise PlaybookError(
                f"{where}: expected a mapping of keys to values, got {type(changes).__name__}"
            )
        merged[tier] = _apply(merged[tier], changes, where)
    return merged


def _tier_key(raw: Any, playbook: Playbook) -> int:
    tier = raw
    if isinstance(raw, str) and raw.strip().isdigit():
        tier = int(raw.strip())
    if isinstance(tier, bool) or not isinstance(tier, int) or tier not in playbook:
        raise PlaybookError(
            f"allocation.playbook: tier {raw!r} is not one of the tiers {min(playbook)}–{max(playbook)}; "
            f"use a tier number (1 = best)"
        )
    return tier


def _apply(row: TierPlaybook, changes: Mapping[str, Any], where: str) -> TierPlaybook:
    updates: dict[str, Any] = {}
    for key, value in changes.items():
        if key not in _EDITABLE:
            guess = difflib.get_close_matches(str(key), _EDITABLE, n=1)
            hint = (
                f"did you mean '{guess[0]}'?" if guess else f"allowed keys: {', '.join(_EDITABLE)}"
            )
            raise PlaybookError(f"{where}: unknown key '{key}'; {hint}")
        at = f"{where}, key '{key}'"
        if key == "service_model":
            updates[key] = _item(value, SERVICE_MODELS, at, custom=True)
        elif key == "manager_level":
            updates[key] = _item(value, MANAGER_LEVELS, at, custom=False)
        elif key in ("contacts_per_month", "minutes_per_contact"):
            updates[key] = _non_negative(value, at)
        else:
            updates[key] = _items(value, CHANNELS if key == "channels" else OFFERS, at)
    merged = replace(row, **updates)
    if merged.manager_level == "none" and merged.hours_per_customer > 0:
        raise PlaybookError(
            f"{where}: manager_level is 'none' but {merged.contacts_per_month:g} contacts × "
            f"{merged.minutes_per_contact:g} minutes need staff time; set minutes_per_contact to 0 "
            f"or choose a manager level ({', '.join(c for c in MANAGER_LEVELS if c != 'none')})"
        )
    return merged


def _non_negative(value: Any, at: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PlaybookError(f"{at}: expected a number ≥ 0, got {value!r} ({type(value).__name__})")
    if not value >= 0 or value == float("inf"):
        raise PlaybookError(f"{at}: expected a finite number ≥ 0, got {value!r}")
    return float(value)


def _item(value: Any, vocabulary: tuple[str, ...], at: str, *, custom: bool) -> Item:
    """A code of ``vocabulary``, or (where ``custom``) the analyst's own texts in every language."""
    if isinstance(value, str):
        if value in vocabulary:
            return value
        guess = difflib.get_close_matches(value, vocabulary, n=1)
        hint = f"did you mean '{guess[0]}'?" if guess else f"known codes: {', '.join(vocabulary)}"
        extra = " or give a custom item as {zh: ..., en: ...}" if custom else ""
        raise PlaybookError(f"{at}: unknown code '{value}'; {hint}{extra}")
    if custom and isinstance(value, Mapping):
        if set(value) != set(LANGUAGES) or not all(
            isinstance(value[k], str) and value[k].strip() for k in LANGUAGES
        ):
            raise PlaybookError(
                f"{at}: a custom item needs exactly the keys {' and '.join(LANGUAGES)} with non-empty text, "
                f"got {dict(value)!r}"
            )
        return {language: value[language].strip() for language in LANGUAGES}
    expected = (
        "a code or a {zh: ..., en: ...} item" if custom else f"one of {', '.join(vocabulary)}"
    )
    raise PlaybookError(f"{at}: expected {expected}, got {value!r} ({type(value).__name__})")


def _items(value: Any, vocabulary: tuple[str, ...], at: str) -> tuple[Item, ...]:
    if isinstance(value, (str, Mapping)) or not isinstance(value, Sequence):
        raise PlaybookError(
            f"{at}: expected a list of codes or {{zh: ..., en: ...}} items, got {value!r} ({type(value).__name__})"
        )
    return tuple(
        _item(item, vocabulary, f"{at}[{i}]", custom=True) for i, item in enumerate(value)
    )


def playbook_table(playbook: Playbook) -> pd.DataFrame:
    """One row per tier: the manager level as a code, the numbers, and the service model, cadence,
    channels and offers as messages in JSON text (lists joined), shown in the reader's language."""
    rows = []
    for tier in sorted(playbook):
        p = playbook[tier]
        rows.append({
            "tier": tier,
            "service_model": to_json(item_message(p.service_model, "playbook_model_")),
            "manager_level": p.manager_level,
            "contacts_per_month": p.contacts_per_month,
            "minutes_per_contact": p.minutes_per_contact,
            "hours_per_customer": p.hours_per_customer,
            "cadence": to_json(p.cadence),
            "channels": to_json(joined(item_message(c, "playbook_channel_") for c in p.channels)),
            "offers": to_json(joined(item_message(o, "playbook_offer_") for o in p.offers)),
        })
    return pd.DataFrame(rows)
