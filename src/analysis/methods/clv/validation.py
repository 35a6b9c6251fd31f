"""Calibration / holdout check of a fitted BG/NBD model (FHL 2005, Figure 4)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.methods.clv.bgnbd import BetaGeoModel
from analysis.methods.clv.inputs import ArrayLike, CLVInputError, _as_float_array, _require


def holdout_comparison(
    bgnbd: BetaGeoModel,
    frequency_cal: ArrayLike,
    recency_cal: ArrayLike,
    T_cal: ArrayLike,
    frequency_holdout: ArrayLike,
    duration_holdout: ArrayLike,
    *,
    max_bucket: int = 7,
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Actual vs predicted holdout purchases by calibration frequency (FHL 2005, Figure 4).

    Predicted purchases of a customer are ``E[Y(duration_holdout) | x, t_x, T]`` (eq. 10).

    Parameters
    ----------
    bgnbd
        Model fitted on the calibration period.
    frequency_cal, recency_cal, T_cal
        Calibration summary per customer.
    frequency_holdout
        Purchases observed in the holdout period per customer.
    duration_holdout
        Holdout length in the model's time unit, a scalar or one value per customer.
    max_bucket
        Calibration frequencies ``>= max_bucket`` share the last bucket, labelled ``"≥max_bucket"``.

    Returns
    -------
    table : pandas.DataFrame
        One row per bucket: ``calibration_purchases`` (label), ``n_customers``, ``actual_mean``,
        ``predicted_mean``; each column and figure is labelled by the text ``clv_holdout_<name>``.
    figures : dict
        ``n_customers``, ``total_actual``, ``total_predicted``, ``total_relative_error``
        (predicted / actual - 1), ``mae_per_customer``, ``mape_bucket_means`` (mean of
        ``|predicted - actual| / actual`` over buckets with actual > 0), ``correlation`` (Pearson,
        per customer).
    """
    predicted = bgnbd.conditional_expected_purchases(
        duration_holdout, frequency_cal, recency_cal, T_cal
    )
    actual = _as_float_array(frequency_holdout, "frequency_holdout")
    if actual.size != predicted.size:
        raise CLVInputError(
            f"`frequency_holdout` has {actual.size} values for {predicted.size} customers; "
            "pass one value per calibration customer (0 for customers without holdout purchases)."
        )
    _require(~np.isfinite(actual) | (actual < 0), "`frequency_holdout` must be a finite count >= 0")
    x = np.broadcast_to(_as_float_array(frequency_cal, "frequency_cal"), predicted.shape)
    bucket = np.minimum(x, max_bucket).astype(int)
    frame = pd.DataFrame({"bucket": bucket, "actual": actual, "predicted": predicted})
    table = (
        frame.groupby("bucket", sort=True)
        .agg(
            n_customers=("actual", "size"),
            actual_mean=("actual", "mean"),
            predicted_mean=("predicted", "mean"),
        )
        .reset_index()
    )
    labels = [f"≥{max_bucket}" if b == max_bucket else str(b) for b in table["bucket"]]
    table.insert(0, "calibration_purchases", pd.Series(labels, dtype="string"))
    table = table.drop(columns="bucket")

    positive = table["actual_mean"] > 0
    ape = (table["predicted_mean"] - table["actual_mean"]).abs()[positive] / table["actual_mean"][
        positive
    ]
    total_actual, total_predicted = float(actual.sum()), float(predicted.sum())
    correlation = (
        float(np.corrcoef(actual, predicted)[0, 1])
        if actual.size > 1 and np.ptp(actual) > 0 and np.ptp(predicted) > 0
        else float("nan")
    )
    figures = {
        "n_customers": int(actual.size),
        "total_actual": total_actual,
        "total_predicted": total_predicted,
        "total_relative_error": total_predicted / total_actual - 1
        if total_actual > 0
        else float("nan"),
        "mae_per_customer": float(np.mean(np.abs(predicted - actual))),
        "mape_bucket_means": float(ape.mean()) if positive.any() else float("nan"),
        "correlation": correlation,
    }
    return table, figures
