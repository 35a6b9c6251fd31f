"""Time units of the purchase models: the one place that says how long a month, a year and a week are.

The purchase models (BG/NBD, Pareto/NBD) count ``recency``, ``T`` and their prediction horizons in
the study's time unit, ``scoring.time_unit``: ``D`` (days) or ``W`` (calendar weeks, Monday to
Sunday). Everything said in months or years (the CLV horizon, its discounting) is converted here:

- a month is :data:`DAYS_PER_MONTH` = 30 days, the convention of lifetimes' and PyMC-Marketing's
  ``customer_lifetime_value`` for daily data (not the calendar mean of 30.4375 days: the two differ
  by 1.5 %, and a CLV over the horizon by up to as much). Those libraries step
  4.345 weeks (30.4 days) per month for weekly data; this project keeps 30 days in both units, so a
  daily and a weekly run of the same data predict over the same horizon;
- a year is :data:`DAYS_PER_YEAR` = 365 days, for turning the annual discount rate into a rate per month;
- a week is 7 days.

The holdout check is the exception: its window is the period's last ``holdout_months`` calendar
months, measured in whole time units from the data (``duration_holdout``), not by this convention.
"""

from __future__ import annotations

from typing import Any

DAYS_PER_MONTH = 30.0
DAYS_PER_YEAR = 365.0
DAYS_PER_UNIT = {"D": 1.0, "W": 7.0}


def days_per_unit(time_unit: str) -> float:
    """Days in one time unit (``D`` → 1, ``W`` → 7).

    Raises
    ------
    ValueError
        For a unit other than ``D`` or ``W``.
    """
    try:
        return DAYS_PER_UNIT[time_unit]
    except KeyError:
        raise ValueError(f"time_unit must be 'D' (days) or 'W' (weeks), got {time_unit!r}") from None


def units_per_day(time_unit: str) -> float:
    """Time units in one day (``D`` → 1, ``W`` → 1/7)."""
    return 1.0 / days_per_unit(time_unit)


def month_in_units(time_unit: str) -> float:
    """One month in the model's time unit: 30 days, or 30/7 weeks."""
    return DAYS_PER_MONTH * units_per_day(time_unit)


def months_in_units(months: float, time_unit: str) -> float:
    """``months`` in the model's time unit (12 months → 360 days, or 51.4 weeks)."""
    return months * month_in_units(time_unit)


def year_in_units(time_unit: str) -> float:
    """One year in the model's time unit: 365 days, or 365/7 weeks."""
    return DAYS_PER_YEAR * units_per_day(time_unit)


def time_units_record(time_unit: str, horizon_months: int) -> dict[str, Any]:
    """The conversions a run used, for models.json and the report's methodology."""
    return {
        "time_unit": time_unit,
        "days_per_unit": days_per_unit(time_unit),
        "days_per_month": DAYS_PER_MONTH,
        "days_per_year": DAYS_PER_YEAR,
        "month_in_units": month_in_units(time_unit),
        "horizon_months": int(horizon_months),
        "horizon_in_units": months_in_units(horizon_months, time_unit),
    }
