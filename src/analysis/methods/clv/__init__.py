"""Customer lifetime value: BG/NBD and Pareto/NBD purchase models, Gamma-Gamma spend model, discounted CLV.

The models are fitted by maximum likelihood on the logarithm of their parameters. The BG/NBD and
Gamma-Gamma fits use the analytic gradient and Hessian of their likelihoods: damped Newton steps
from the optimum on a sample of the patterns (L-BFGS-B from several starts as the fallback); the
Pareto/NBD fit uses central differences with :func:`scipy.optimize.minimize` (L-BFGS-B), polished
by Newton steps. The Hessian at the optimum (the observed information) gives the standard errors.
Customers with the same summary row (the same ``frequency, recency, T`` or
``frequency, monetary_value``) are aggregated to one weighted row first, so the cost of a fit grows
with the number of distinct patterns, not of customers, and the result does not depend on row
order; within a likelihood, special functions of one variable are evaluated once per distinct value.

Inputs follow the definitions of lifetimes / PyMC-Marketing ``rfm_summary``: ``frequency`` is the
number of repeat purchases (purchase occasions after the first), ``recency`` the age of the customer
at the last purchase (0 when frequency is 0), ``T`` the age of the customer at the end of the
calibration period, all in one time unit, and ``monetary_value`` the mean value of the repeat
purchases.

Modules
-------
:mod:`~analysis.methods.clv.bgnbd`
    :class:`BetaGeoModel` (fit, P(alive), expected purchases) and :data:`BGNBD_REFERENCE`.
:mod:`~analysis.methods.clv.pareto_nbd`
    :class:`ParetoNBDModel` (fit, P(alive), expected purchases) and :data:`PARETO_NBD_REFERENCE`.
:mod:`~analysis.methods.clv.gamma_gamma`
    :class:`GammaGammaModel` (fit, expected mean spend) and :data:`GAMMA_GAMMA_REFERENCE`.
:mod:`~analysis.methods.clv.value`
    :func:`customer_lifetime_value`, :func:`discounted_expected_purchases`,
    :func:`period_discount_rate`.
:mod:`~analysis.methods.clv.intervals`
    How sure the predictions are: :func:`draw_parameters` (asymptotic-normal draws of the
    parameters), :func:`customer_intervals`, :func:`group_value_intervals`,
    :func:`tier_membership` with :func:`tier_assigner`, and for the stages :func:`clv_intervals`
    and :func:`tier_intervals`.
:mod:`~analysis.methods.clv.validation`
    :func:`holdout_comparison` (calibration / holdout check), :func:`decile_table`.
:mod:`~analysis.methods.clv.selection`
    :func:`check_purchase_models` and :func:`choose_purchase_model`: BG/NBD or Pareto/NBD, chosen on
    the holdout (:data:`PURCHASE_MODELS`, :func:`comparison_table`).
:mod:`~analysis.methods.clv.units`
    The time units: :data:`DAYS_PER_MONTH` (30), :data:`DAYS_PER_YEAR` (365) and the conversions of
    months and years into the model's unit.
:mod:`~analysis.methods.clv.simulate`
    :func:`simulate_bgnbd`, :func:`simulate_pareto_nbd`, :func:`simulate_gamma_gamma`: draws of the
    models' summary statistics
    for parameter-recovery tests.
:mod:`~analysis.methods.clv.fitting`
    The maximum-likelihood machinery the fits share: :func:`aggregate_patterns`, the optimisers
    (the Newton steps in :mod:`~analysis.methods.clv.newton`), standard errors (:data:`STANDARD_ERROR_METHOD`), the fitted attributes and ``summary()`` dict.
:mod:`~analysis.methods.clv.inputs`
    :class:`CLVInputError`, ``ArrayLike`` and the column checks every module uses.

Every public name is importable from this package, e.g. ``from analysis.methods.clv import
BetaGeoModel``.

References
----------
Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). "Counting your customers" the easy way: an
    alternative to the Pareto/NBD model. Marketing Science 24(2), 275-284.
Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). RFM and CLV: using iso-value curves for customer
    base analysis. Journal of Marketing Research 42(4), 415-430.
Schmittlein, D. C., Morrison, D. G. & Colombo, R. (1987). Counting your customers: who are they and
    what will they do next? Management Science 33(1), 1-24.
Fader, P. S. & Hardie, B. G. S. (2005). A note on deriving the Pareto/NBD model and related
    expressions. Note, http://brucehardie.com/notes/009/.
Colombo, R. & Jiang, W. (1999). A stochastic RFM model. Journal of Interactive Marketing 13(3), 2-12.
Fader, P. S. & Hardie, B. G. S. (2013). The Gamma-Gamma model of monetary value. Note,
    http://brucehardie.com/notes/025/.
"""

from analysis.methods.clv.bgnbd import BGNBD_REFERENCE, BetaGeoModel
from analysis.methods.clv.fitting import STANDARD_ERROR_METHOD, aggregate_patterns, with_estimates
from analysis.methods.clv.gamma_gamma import GAMMA_GAMMA_REFERENCE, GammaGammaModel
from analysis.methods.clv.inputs import ArrayLike, CLVInputError
from analysis.methods.clv.intervals import (
    CUSTOMER_INTERVAL_COLUMNS,
    CLVIntervals,
    CLVIntervalsBegun,
    PairTerms,
    ParameterDraws,
    TierIntervals,
    TierMembership,
    begin_clv_intervals,
    clv_intervals,
    customer_intervals,
    draw_parameters,
    group_value_intervals,
    parameter_intervals,
    tier_assigner,
    tier_intervals,
    tier_membership,
)
from analysis.methods.clv.pareto_nbd import PARETO_NBD_REFERENCE, ParetoNBDModel
from analysis.methods.clv.selection import (
    DEFAULT_PURCHASE_MODEL,
    PURCHASE_MODELS,
    TIE_STANDARD_ERRORS,
    Choice,
    ModelCheck,
    check_purchase_model,
    check_purchase_models,
    choose_purchase_model,
    comparison_record,
    comparison_table,
    empty_comparison_table,
    fallback_choice,
    fit_purchase_model,
    model_name,
    other_model,
    why_unusable,
)
from analysis.methods.clv.simulate import simulate_bgnbd, simulate_gamma_gamma, simulate_pareto_nbd
from analysis.methods.clv.units import (
    DAYS_PER_MONTH,
    DAYS_PER_YEAR,
    month_in_units,
    months_in_units,
    time_units_record,
    units_per_day,
    year_in_units,
)
from analysis.methods.clv.validation import decile_table, holdout_comparison
from analysis.methods.clv.value import (
    PurchaseModel,
    customer_lifetime_value,
    discounted_expected_purchases,
    period_discount_rate,
)

__all__ = [
    "BGNBD_REFERENCE",
    "DAYS_PER_MONTH",
    "DAYS_PER_YEAR",
    "DEFAULT_PURCHASE_MODEL",
    "GAMMA_GAMMA_REFERENCE",
    "PARETO_NBD_REFERENCE",
    "PURCHASE_MODELS",
    "STANDARD_ERROR_METHOD",
    "TIE_STANDARD_ERRORS",
    "ArrayLike",
    "BetaGeoModel",
    "CLVInputError",
    "Choice",
    "GammaGammaModel",
    "aggregate_patterns",
    "check_purchase_model",
    "CUSTOMER_INTERVAL_COLUMNS",
    "check_purchase_models",
    "choose_purchase_model",
    "begin_clv_intervals",
    "clv_intervals",
    "comparison_record",
    "comparison_table",
    "customer_intervals",
    "ModelCheck",
    "CLVIntervals",
    "CLVIntervalsBegun",
    "PairTerms",
    "ParameterDraws",
    "ParetoNBDModel",
    "PurchaseModel",
    "TierIntervals",
    "TierMembership",
    "customer_lifetime_value",
    "decile_table",
    "discounted_expected_purchases",
    "draw_parameters",
    "empty_comparison_table",
    "fallback_choice",
    "fit_purchase_model",
    "group_value_intervals",
    "holdout_comparison",
    "model_name",
    "month_in_units",
    "months_in_units",
    "other_model",
    "parameter_intervals",
    "period_discount_rate",
    "simulate_bgnbd",
    "simulate_gamma_gamma",
    "simulate_pareto_nbd",
    "tier_assigner",
    "tier_intervals",
    "tier_membership",
    "with_estimates",
    "time_units_record",
    "units_per_day",
    "why_unusable",
    "year_in_units",
]
