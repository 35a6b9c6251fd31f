"""Calibration / holdout check of a fitted purchase model (FHL 2005, Figure 4), and its figures.

A model fitted on the calibration window predicts each customer's purchases in the holdout window;
the predictions are compared with the actual purchases by calibration frequency (the paper's
figure), by decile of the prediction (a calibration plot), and in a few figures.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.methods.clv.inputs import ArrayLike, CLVInputError, _as_float_array, _require
from analysis.methods.clv.value import PurchaseModel

BUCKET_COLUMNS = ("calibration_purchases", "n_customers", "actual_mean", "predicted_mean")
DECILE_COLUMNS = ("prediction_decile", "n_customers", "actual_mean", "predicted_mean")


def holdout_comparison(
    bgnbd: PurchaseModel,
    frequency_cal: ArrayLike,
    recency_cal: ArrayLike,
    T_cal: ArrayLike,
    frequency_holdout: ArrayLike,
    duration_holdout: ArrayLike,
    *,
    max_bucket: int = 7,
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Actual vs predicted holdout purchases by calibration frequency (FHL 2005, Figure 4).

    Predicted purchases of a customer are ``E[Y(duration_holdout) | x, t_x, T]`` (eq. 10 for
    BG/NBD; Fader & Hardie 2005 eq. 26 for Pareto/NBD).

    Parameters
    ----------
    bgnbd
        Purchase model (BG/NBD or Pareto/NBD) fitted on the calibration period.
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
        :func:`bucket_table`.
    figures : dict
        :func:`holdout_figures`.
    """
    predicted = holdout_predictions(bgnbd, frequency_cal, recency_cal, T_cal, duration_holdout)
    actual = holdout_actual(frequency_holdout, predicted.size)
    table = bucket_table(predicted, actual, frequency_cal, max_bucket=max_bucket)
    return table, holdout_figures(predicted, actual, table)


def holdout_predictions(
    model: PurchaseModel, frequency_cal: ArrayLike, recency_cal: ArrayLike, T_cal: ArrayLike,
    duration_holdout: ArrayLike,
) -> np.ndarray:
    """Each customer's expected purchases in the holdout, ``E[Y(duration_holdout) | x, t_x, T]``."""
    return np.asarray(model.conditional_expected_purchases(duration_holdout, frequency_cal, recency_cal, T_cal),
                      dtype=float)


def holdout_actual(frequency_holdout: ArrayLike, n_customers: int) -> np.ndarray:
    """The holdout purchases as floats, checked: one finite count >= 0 per calibration customer."""
    actual = _as_float_array(frequency_holdout, "frequency_holdout")
    if actual.size != n_customers:
        raise CLVInputError(
            f"`frequency_holdout` has {actual.size} values for {n_customers} customers; "
            "pass one value per calibration customer (0 for customers without holdout purchases)."
        )
    _require(~np.isfinite(actual) | (actual < 0), "`frequency_holdout` must be a finite count >= 0")
    return actual


def bucket_table(
    predicted: np.ndarray, actual: np.ndarray, frequency_cal: ArrayLike, *, max_bucket: int = 7
) -> pd.DataFrame:
    """Mean actual and predicted holdout purchases by calibration frequency (FHL 2005, Figure 4).

    One row per bucket: ``calibration_purchases`` (label; frequencies ``>= max_bucket`` share the
    bucket ``"≥max_bucket"``), ``n_customers``, ``actual_mean``, ``predicted_mean``; each column is
    labelled by the text ``clv_holdout_<name>``.
    """
    x = np.broadcast_to(_as_float_array(frequency_cal, "frequency_cal"), predicted.shape)
    bucket = np.minimum(x, max_bucket).astype(int)
    table = _group_means(bucket, actual, predicted)
    labels = [f"≥{max_bucket}" if b == max_bucket else str(b) for b in table["group"]]
    table.insert(0, "calibration_purchases", pd.Series(labels, dtype="string"))
    return table.drop(columns="group")


def decile_table(predicted: np.ndarray, actual: np.ndarray, *, groups: int = 10) -> pd.DataFrame:
    """Mean actual and predicted holdout purchases by decile of the prediction: a calibration plot.

    Customers are ranked by their prediction (ties in the order given, so deciles have equal sizes
    up to one customer) and cut into ``groups`` groups, 1 the lowest predictions. A well calibrated
    model has actual close to predicted in every decile; the buckets of :func:`bucket_table` group
    by what was observed, the deciles by what the model says.

    Returns
    -------
    pandas.DataFrame
        ``prediction_decile`` (1…groups, as text), ``n_customers``, ``actual_mean``, ``predicted_mean``.
    """
    n = predicted.size
    groups = max(1, min(groups, n))
    rank = np.empty(n, dtype=int)
    rank[np.argsort(predicted, kind="stable")] = np.arange(n)
    decile = rank * groups // max(n, 1) + 1
    table = _group_means(decile, actual, predicted)
    table.insert(0, "prediction_decile", table["group"].astype(str).astype("string"))
    return table.drop(columns="group")


def _group_means(group: np.ndarray, actual: np.ndarray, predicted: np.ndarray) -> pd.DataFrame:
    frame = pd.DataFrame({"group": group, "actual": actual, "predicted": predicted})
    return (
        frame.groupby("group", sort=True)
        .agg(n_customers=("actual", "size"), actual_mean=("actual", "mean"), predicted_mean=("predicted", "mean"))
        .reset_index()
    )


def poisson_deviance(predicted: np.ndarray, actual: np.ndarray) -> np.ndarray:
    """Each customer's Poisson deviance ``2 [y log(y / mu) - (y - mu)]`` of the actual purchases ``y``
    from the predicted mean ``mu`` (0 when they agree; ``y log y = 0`` at ``y = 0``).

    A scoring function consistent for the mean (a Bregman divergence, Gneiting 2011): its expected
    value is smallest when ``mu`` is the true expected count, which is what the purchase models
    predict. The absolute error is consistent for the median instead, and a model that predicts
    counts nearer 0 for customers who are probably gone can lower it without predicting the mean
    better. A prediction of exactly 0 is floored at the smallest positive float, so a purchase the
    model ruled out costs a large but finite amount.
    """
    y = actual
    floored = np.maximum(predicted, np.finfo(float).tiny)
    y_log = np.where(y > 0, y * np.log(np.where(y > 0, y, 1.0) / floored), 0.0)
    return 2.0 * (y_log - (y - predicted))


def holdout_figures(predicted: np.ndarray, actual: np.ndarray, buckets: pd.DataFrame) -> dict[str, float]:
    """The holdout check in figures, from the predictions and their :func:`bucket_table`.

    ``n_customers``, ``total_actual``, ``total_predicted``, ``total_relative_error`` (predicted /
    actual - 1), ``mae_per_customer``, ``mean_poisson_deviance`` (per customer,
    :func:`poisson_deviance`), ``mape_bucket_means`` (mean of ``|predicted - actual| / actual`` over
    the buckets with actual > 0), ``correlation`` (Pearson, per customer); each is labelled by the
    text ``clv_holdout_<name>``.
    """
    positive = buckets["actual_mean"] > 0
    ape = (buckets["predicted_mean"] - buckets["actual_mean"]).abs()[positive] / buckets["actual_mean"][positive]
    total_actual, total_predicted = float(actual.sum()), float(predicted.sum())
    correlation = (
        float(np.corrcoef(actual, predicted)[0, 1])
        if actual.size > 1 and np.ptp(actual) > 0 and np.ptp(predicted) > 0
        else float("nan")
    )
    return {
        "n_customers": int(actual.size),
        "total_actual": total_actual,
        "total_predicted": total_predicted,
        "total_relative_error": total_predicted / total_actual - 1 if total_actual > 0 else float("nan"),
        "mae_per_customer": float(np.mean(np.abs(predicted - actual))),
        "mean_poisson_deviance": float(np.mean(poisson_deviance(predicted, actual))),
        "mape_bucket_means": float(ape.mean()) if positive.any() else float("nan"),
        "correlation": correlation,
    }
