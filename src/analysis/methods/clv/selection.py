"""Which purchase model to score with, BG/NBD or Pareto/NBD: the one that predicts a holdout better.

Both models describe the same data, repeat purchases while a customer is active and a silent
dropout, and differ in when a customer may leave: BG/NBD only right after a purchase (probability
``p``), Pareto/NBD at any moment (exponential lifetime). Which fits a customer base better is an
empirical question, answered here the way Fader, Hardie & Lee (2005) compare them: each model is
fitted on a calibration window and predicts every customer's purchases in the holdout that follows.

The rule (:func:`choose_purchase_model`), in order:

1. ``scoring.purchase_model: bgnbd`` or ``pareto_nbd`` in the params chooses that model, whatever
   the holdout says; ``auto`` (the default) applies the rule below.
2. Without a holdout check (the history is too short, see ``skip_holdout_*``) BG/NBD, the default,
   is used.
3. A model whose calibration fit fails, does not converge or predicts non-finite purchases is out;
   if only one model is left it is chosen (neither left: BG/NBD).
4. Of two usable models, the one whose predictions are closer to the holdout purchases, by the mean
   Poisson deviance per customer (:func:`~analysis.methods.clv.validation.poisson_deviance`), is
   chosen when the two means differ by more than :data:`TIE_STANDARD_ERRORS` (2) standard errors
   of that difference (paired over the customers: both models predict the same customers).
5. Otherwise the holdout cannot tell the models apart, and the lower BIC of the calibration fit
   decides: ``BIC = k ln n - 2 LL``, ``k = 4`` parameters in both models, so the higher
   log-likelihood wins; an exact tie keeps BG/NBD.

Why the deviance and not the mean absolute error (MAE), which the report shows too: the models
predict each customer's *expected* purchases, and the deviance is smallest on average for the true
expectation, while the MAE is smallest for the median. Most customers make no purchase in a
holdout, so a model that predicts less for customers who are probably gone lowers the MAE without
predicting better: on data simulated from BG/NBD the MAE prefers Pareto/NBD, the deviance and the
likelihood BG/NBD (``tests/test_model_choice.py``).

Each step records its reason as a message (:func:`analysis.i18n.message`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from analysis.i18n import Message, message
from analysis.methods.clv.bgnbd import BetaGeoModel
from analysis.methods.clv.inputs import CLVInputError
from analysis.methods.clv.pareto_nbd import ParetoNBDModel
from analysis.methods.clv.validation import (
    bucket_table,
    decile_table,
    holdout_actual,
    holdout_figures,
    holdout_predictions,
    poisson_deviance,
)
from analysis.methods.clv.value import PurchaseModel
from analysis.methods.cores import in_threads

#: The purchase models by their code (``scoring.purchase_model``), BG/NBD first: the default.
PURCHASE_MODELS: Mapping[str, type[BetaGeoModel] | type[ParetoNBDModel]] = {
    "bgnbd": BetaGeoModel,
    "pareto_nbd": ParetoNBDModel,
}
DEFAULT_PURCHASE_MODEL = "bgnbd"
#: A difference in holdout deviance within this many standard errors is a tie, decided by BIC.
TIE_STANDARD_ERRORS = 2.0
#: Columns of :func:`comparison_table`.
COMPARISON_COLUMNS = ("model", "grouping", "bucket", "n_customers", "actual_mean", "predicted_mean")


def model_name(code: str) -> Message:
    """A purchase model's name inside a message (text ``purchase_model_name_<code>``)."""
    return message(f"purchase_model_name_{code}")


def other_model(code: str) -> str:
    """The other purchase model's code."""
    return next(name for name in PURCHASE_MODELS if name != code)


def fit_purchase_model(code: str, frequency: Any, recency: Any, T: Any, time_unit: str) -> PurchaseModel:
    """Fit the purchase model ``code`` by maximum likelihood (raises :class:`CLVInputError` when it cannot)."""
    with np.errstate(all="ignore"):
        return PURCHASE_MODELS[code](time_unit=time_unit).fit(frequency, recency, T)


def why_unusable(model: PurchaseModel) -> Message | None:
    """Why a fitted model is not used, or None: its fit did not converge."""
    if model.converged_:
        return None
    return message("purchase_model_not_converged", model=model_name(_code(model)), detail=model.message_)


def _code(model: PurchaseModel) -> str:
    return next(code for code, cls in PURCHASE_MODELS.items() if isinstance(model, cls))


def bic(log_likelihood: float, n_parameters: int, n_customers: float) -> float:
    """Bayesian information criterion, ``k ln n - 2 LL`` (Schwarz 1978): lower is better."""
    return float(n_parameters * np.log(n_customers) - 2.0 * log_likelihood)


@dataclass
class ModelCheck:
    """One purchase model fitted on the calibration window and its holdout predictions.

    ``model`` is None when the fit failed; ``unusable`` says why a model is left out of the choice
    (failed, not converged, predictions not finite), None when it can be chosen.
    """

    code: str
    model: PurchaseModel | None
    unusable: Message | None
    deviances: np.ndarray | None = None  # Poisson deviance of the holdout purchases, per customer
    buckets: pd.DataFrame | None = None
    deciles: pd.DataFrame | None = None
    figures: dict[str, float] = field(default_factory=dict)

    @property
    def usable(self) -> bool:
        return self.unusable is None

    def bic(self) -> float:
        if self.model is None:
            return float("nan")
        return bic(self.model.log_likelihood_, len(self.model.parameter_names), self.model.n_customers_)

    def record(self) -> dict[str, Any]:
        """What models.json keeps of the check: estimates, fit, BIC, the holdout figures, why unusable."""
        fitted = self.model is not None
        return {
            "params": dict(self.model.params_) if fitted else None,
            "log_likelihood": float(self.model.log_likelihood_) if fitted else None,
            "n_parameters": len(PURCHASE_MODELS[self.code].parameter_names),
            "bic": self.bic() if fitted else None,
            "converged": bool(self.model.converged_) if fitted else False,
            "holdout_figures": self.figures,
            "usable": self.usable,
            "unusable": self.unusable,
        }


def check_purchase_model(
    code: str, split: pd.DataFrame, time_unit: str, *, max_bucket: int = 7
) -> ModelCheck:
    """Fit model ``code`` on the calibration columns of ``split`` and predict its holdout.

    ``split`` holds, per customer, the calibration ``frequency, recency, T`` and the holdout
    ``frequency_holdout`` and ``duration_holdout`` (in the time unit), as
    :func:`analysis.methods.customer_summary.holdout_split_summary` returns them.
    """
    x, t_x, age = split["frequency"], split["recency"], split["T"]
    try:
        model = fit_purchase_model(code, x, t_x, age, time_unit)
        with np.errstate(all="ignore"):
            predicted = holdout_predictions(model, x, t_x, age, split["duration_holdout"])
    except CLVInputError as exc:
        return ModelCheck(code, None, message("purchase_model_failed", model=model_name(code), detail=str(exc)))
    if not np.all(np.isfinite(predicted)):
        bad = int((~np.isfinite(predicted)).sum())
        return ModelCheck(code, model, message("purchase_model_not_finite", model=model_name(code), n=bad))
    actual = holdout_actual(split["frequency_holdout"], predicted.size)
    buckets = bucket_table(predicted, actual, x, max_bucket=max_bucket)
    return ModelCheck(
        code, model, why_unusable(model), poisson_deviance(predicted, actual), buckets,
        decile_table(predicted, actual), holdout_figures(predicted, actual, buckets),
    )


def check_purchase_models(split: pd.DataFrame, time_unit: str) -> dict[str, ModelCheck]:
    """:func:`check_purchase_model` of every purchase model, BG/NBD first; the models are fitted side by side."""
    checks = in_threads(lambda code: check_purchase_model(code, split, time_unit), PURCHASE_MODELS)
    return dict(zip(PURCHASE_MODELS, checks, strict=True))


@dataclass(frozen=True)
class Choice:
    """The purchase model to score with, the rule that chose it (a code) and why (a message).

    Rules: ``params`` (set in the params), ``no_holdout``, ``none_usable``, ``only_usable``,
    ``holdout_deviance``, ``bic``; after a failed fit on the whole period, ``fallback``.
    """

    code: str
    rule: str
    reason: Message


def paired_deviance_difference(first: ModelCheck, second: ModelCheck) -> tuple[float, float]:
    """Mean holdout deviance of ``first`` less that of ``second``, and its standard error, paired over customers."""
    difference = first.deviances - second.deviances
    n = difference.size
    se = float(np.std(difference, ddof=1) / np.sqrt(n)) if n > 1 else float("inf")
    return float(difference.mean()), se


def choose_purchase_model(
    checks: Mapping[str, ModelCheck] | None, setting: str = "auto"
) -> Choice:
    """The purchase model to score with, by the rule of this module's docstring.

    Parameters
    ----------
    checks
        :func:`check_purchase_models` on the calibration window, or None when the holdout check
        was not run.
    setting
        ``scoring.purchase_model``: ``auto``, or a model code that overrides the rule.
    """
    if setting != "auto":
        if setting not in PURCHASE_MODELS:
            raise ValueError(f"purchase model must be auto or one of {list(PURCHASE_MODELS)}, got {setting!r}")
        return Choice(setting, "params", message("purchase_model_why_params", model=model_name(setting)))
    default = DEFAULT_PURCHASE_MODEL
    if not checks:
        return Choice(default, "no_holdout", message("purchase_model_why_no_holdout", model=model_name(default)))
    usable = [code for code, check in checks.items() if check.usable]
    if not usable:
        return Choice(default, "none_usable", message("purchase_model_why_none_usable", model=model_name(default)))
    if len(usable) == 1:
        (code,) = usable
        out = next(c for c in checks if c != code)
        return Choice(code, "only_usable", message("purchase_model_why_only_usable", model=model_name(code),
                                                   other=model_name(out), why=checks[out].unusable))
    first, second = (checks[code] for code in PURCHASE_MODELS)
    difference, se = paired_deviance_difference(first, second)
    if abs(difference) > TIE_STANDARD_ERRORS * se:
        better, worse = (second, first) if difference > 0 else (first, second)
        return Choice(better.code, "holdout_deviance", message(
            "purchase_model_why_holdout", **_compared(better, worse, difference, se)))
    better, worse = (second, first) if second.bic() < first.bic() else (first, second)
    return Choice(better.code, "bic", message(
        "purchase_model_why_bic", bic=better.bic(), other_bic=worse.bic(), **_compared(better, worse, difference, se)))


def _compared(better: ModelCheck, worse: ModelCheck, difference: float, se: float) -> dict[str, Any]:
    """The values the choice's message shows: both models, their mean deviances, the difference and its error."""
    return {"model": model_name(better.code), "other": model_name(worse.code),
            "deviance": better.figures["mean_poisson_deviance"], "other_deviance": worse.figures["mean_poisson_deviance"],
            "difference": abs(difference), "se": se}


def fallback_choice(choice: Choice, used: str, why: Message) -> Choice:
    """The choice after the chosen model could not be used on the whole period and ``used`` stands in."""
    return Choice(used, "fallback", message("purchase_model_why_fallback", chosen=model_name(choice.code),
                                            model=model_name(used), why=why, first=choice.reason))


def comparison_record(checks: Mapping[str, ModelCheck]) -> dict[str, Any]:
    """models.json's record of the comparison: each model's fit and holdout figures, and the deviance difference."""
    record: dict[str, Any] = {"models": {code: check.record() for code, check in checks.items()}}
    first, second = (checks[code] for code in PURCHASE_MODELS)
    if first.deviances is not None and second.deviances is not None:
        difference, se = paired_deviance_difference(first, second)
        record["deviance_difference"] = {"first": first.code, "second": second.code, "difference": difference,
                                         "standard_error": se, "tie_standard_errors": TIE_STANDARD_ERRORS}
    return record


def comparison_table(checks: Mapping[str, ModelCheck]) -> pd.DataFrame:
    """The holdout check of every model in one long table, for the report's table and chart.

    ``model`` (code), ``grouping`` (code: ``calibration_purchases``, by purchases in the calibration
    window, FHL 2005 Figure 4; ``prediction_decile``, by decile of the model's prediction),
    ``bucket`` (label), ``n_customers``, ``actual_mean``, ``predicted_mean``; no rows for a model
    whose fit failed.
    """
    parts = []
    for code, check in checks.items():
        for grouping, table in (("calibration_purchases", check.buckets), ("prediction_decile", check.deciles)):
            if table is None:
                continue
            part = table.rename(columns={grouping: "bucket"})
            part.insert(0, "grouping", grouping)
            part.insert(0, "model", code)
            parts.append(part)
    if not parts:
        return empty_comparison_table()
    table = pd.concat(parts, ignore_index=True)
    return table.astype({"model": "string", "grouping": "string", "bucket": "string", "n_customers": "int64"})


def empty_comparison_table() -> pd.DataFrame:
    """:func:`comparison_table` without rows (the holdout check was not run)."""
    types = {"model": "string", "grouping": "string", "bucket": "string", "n_customers": "int64",
             "actual_mean": "float64", "predicted_mean": "float64"}
    return pd.DataFrame({c: pd.Series(dtype=types[c]) for c in COMPARISON_COLUMNS})
