"""Customer lifetime value: BG/NBD and Pareto/NBD purchase models, Gamma-Gamma spend model, discounted CLV.

The models are fitted by maximum likelihood with :func:`scipy.optimize.minimize` (L-BFGS-B) on the
logarithm of their parameters, then polished by Newton steps with the observed information; the
BG/NBD and Gamma-Gamma fits use analytic gradients, the Pareto/NBD fit central differences.
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
    :func:`holdout_comparison` (calibration / holdout check).
:mod:`~analysis.methods.clv.simulate`
    :func:`simulate_bgnbd`, :func:`simulate_pareto_nbd`, :func:`simulate_gamma_gamma`: draws of the
    models' summary statistics
    for parameter-recovery tests.
:mod:`~analysis.methods.clv.fitting`
    The maximum-likelihood machinery the fits share: :func:`aggregate_patterns`, the optimiser,
    standard errors (:data:`STANDARD_ERROR_METHOD`), the fitted attributes and ``summary()`` dict.
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
from analysis.methods.clv.fitting import STANDARD_ERROR_METHOD, aggregate_patterns
from analysis.methods.clv.gamma_gamma import GAMMA_GAMMA_REFERENCE, GammaGammaModel
from analysis.methods.clv.inputs import ArrayLike, CLVInputError
from analysis.methods.clv.intervals import (
    ParameterDraws,
    TierIntervals,
    TierMembership,
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
from analysis.methods.clv.simulate import simulate_bgnbd, simulate_gamma_gamma, simulate_pareto_nbd
from analysis.methods.clv.validation import holdout_comparison
from analysis.methods.clv.value import (
    customer_lifetime_value,
    discounted_expected_purchases,
    period_discount_rate,
)

__all__ = [
    "BGNBD_REFERENCE",
    "GAMMA_GAMMA_REFERENCE",
    "PARETO_NBD_REFERENCE",
    "STANDARD_ERROR_METHOD",
    "ArrayLike",
    "BetaGeoModel",
    "CLVInputError",
    "GammaGammaModel",
    "ParameterDraws",
    "ParetoNBDModel",
    "TierIntervals",
    "TierMembership",
    "aggregate_patterns",
    "clv_intervals",
    "customer_intervals",
    "customer_lifetime_value",
    "discounted_expected_purchases",
    "draw_parameters",
    "group_value_intervals",
    "holdout_comparison",
    "parameter_intervals",
    "period_discount_rate",
    "simulate_bgnbd",
    "simulate_gamma_gamma",
    "simulate_pareto_nbd",
    "tier_assigner",
    "tier_intervals",
    "tier_membership",
]
