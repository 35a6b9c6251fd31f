"""The compiled Gauss series of BG/NBD's expected purchases of a live customer, against the series
summed to 50 digits and against scipy's ``hyp2f1``."""

from __future__ import annotations

from decimal import Decimal, localcontext

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.methods.clv import BetaGeoModel, gauss_series, simulate_bgnbd


def reference_if_alive(t: float, x: int, age: float, r: float, alpha: float, a: float, b: float) -> tuple[float, float]:
    """FHL (2005) eq. 10 without P(alive), Euler-transformed as in the code, with every step in 50-digit
    decimals: the hypergeometric series is summed until its terms are below 1e-45 of the sum. With it,
    the scale of its terms, ``(a+b+x-1)/(a-1) * max(1, |tail|)``: a double computes ``1 - tail`` to a
    few units of its last digit of that, however near 1 the tail is (a short time ahead of a long history)."""
    with localcontext() as ctx:
        ctx.prec = 50
        r, alpha, a, b, t, age = (Decimal(float(v)) for v in (r, alpha, a, b, t, age))  # exactly the doubles
        z = t / (alpha + age + t)
        upper, lower, c = a + b - 1 - r, a - 1, a + b - 1 + x
        term = total = Decimal(1)
        k = 0
        while k < 10 or abs(term) > Decimal("1e-45") * abs(total):
            term *= (upper + k) * (lower + k) / ((c + k) * (k + 1)) * z
            total += term
            k += 1
        tail = (1 - z) ** (a - 1) * total
        return float((a + b + x - 1) / (a - 1) * (1 - tail)), float((a + b + x - 1) / (a - 1) * max(1, abs(tail)))


def summed_by_series(ends, x, age, r, alpha, a, b, max_terms=gauss_series.SERIES_MAX_TERMS):
    """The compiled kernel alone: its values and which pairs it summed (the rest go to scipy)."""
    out = np.full((len(ends), len(x)), np.nan)
    summed = np.ones(len(x), dtype=bool)
    gauss_series._series_by_end()(np.asarray(ends, float), np.asarray(x, float), np.asarray(age, float),
                                  r, alpha, a, b, out, summed, gauss_series.SERIES_MAX_Z, max_terms)
    return out, summed


parameters = st.fixed_dictionaries({
    "r": st.floats(0.05, 20), "alpha": st.floats(0.5, 500), "b": st.floats(0.05, 50),
    # a = 1 divides by zero in eq. 10, as in the paper
    "a": st.one_of(st.floats(0.05, 0.98), st.floats(1.02, 10)),
})


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(theta=parameters, x=st.lists(st.integers(0, 500), min_size=1, max_size=4),
       ages=st.lists(st.floats(0, 3000), min_size=4, max_size=4), period=st.floats(1, 60),
       periods=st.integers(1, 12))
def test_the_series_gives_the_expected_purchases_summed_to_fifty_digits(theta, x, ages, period, periods):
    ends = period * np.arange(1, periods + 1)
    age = np.asarray(ages[: len(x)])
    out, summed = summed_by_series(ends, x, age, **theta)
    largest_z = ends[-1] / (theta["alpha"] + age + ends[-1])
    # every pair within the series' reach is summed here, not handed to scipy
    assert np.array_equal(summed, largest_z <= gauss_series.SERIES_MAX_Z)
    for i in np.flatnonzero(summed):
        for e, t in enumerate(ends):
            expected, scale = reference_if_alive(t, x[i], age[i], **theta)
            # a term missed or a sum stopped early is off by far more than 1e-13 of the scale
            assert abs(out[e, i] - expected) <= 1e-13 * abs(scale), (t, x[i], age[i], out[e, i], expected)


def test_pairs_beyond_the_series_reach_take_scipys_value_and_the_rest_agree_with_it():
    theta = {"r": 0.57, "alpha": 15.4, "a": 0.556, "b": 5.58}
    ends = 30.0 * np.arange(1, 13)
    x = np.array([0.0, 0.0, 3.0, 40.0, 400.0, 1.0])
    age = np.array([0.0, 5.0, 100.0, 700.0, 1095.0, 3.0])  # T = 0 and 3: z at the horizon 0.96, 0.95+
    values = gauss_series.if_alive_by_end(ends, x, age, **theta)
    scipy_values = gauss_series.if_alive_by_hyp2f1(ends[:, None], x[None, :], age[None, :], **theta)
    _, summed = summed_by_series(ends, x, age, **theta)
    assert summed.tolist() == [False, True, True, True, True, False]
    assert np.array_equal(values[:, ~summed], scipy_values[:, ~summed])
    np.testing.assert_allclose(values[:, summed], scipy_values[:, summed], rtol=1e-12)


def test_a_series_that_does_not_stop_in_time_is_left_to_scipy():
    """With too few terms allowed, every pair falls back: the kernel never returns a truncated sum."""
    theta = {"r": 0.57, "alpha": 15.4, "a": 0.556, "b": 5.58}
    ends, x, age = np.array([30.0, 360.0]), np.array([0.0, 12.0]), np.array([200.0, 600.0])
    assert not summed_by_series(ends, x, age, **theta, max_terms=5)[1].any()
    assert summed_by_series(ends, x, age, **theta)[1].all()


def test_bgnbd_predictions_by_period_end_are_those_of_each_horizon():
    model = BetaGeoModel().fit(*_histories())
    ends = 30.0 * np.arange(1, 13)
    x, age = np.array([0.0, 2.0, 7.0]), np.array([40.0, 300.0, 720.0])
    by_end = model._expected_purchases_if_alive_by_end(ends, x, age)
    one_at_a_time = np.array([[model._expected_purchases_if_alive(np.array(t), x[i], age[i]) for i in range(3)]
                              for t in ends])
    np.testing.assert_allclose(by_end, one_at_a_time, rtol=1e-12)


def _histories() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    frame = simulate_bgnbd(2_000, r=0.5, alpha=25.0, a=0.8, b=2.5, T=365.0, seed=5)
    return frame["frequency"].to_numpy(), frame["recency"].to_numpy(), frame["T"].to_numpy()
