from __future__ import annotations

import weakref
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from analysis.frame import catalog, storage
from analysis.i18n import TEXTS, render
from analysis.methods import churn
from analysis.methods.churn import (
    REASONS,
    ChurnInputError,
    ChurnModel,
    CodedTransactions,
    calibration_table,
    churn_features,
    churn_labels_and_features,
    churn_risk,
    complaint_counts,
    early_warning_list,
    top_decile_lift,
)
from analysis.report.localize import code_label, localize
from analysis.stages.satisfaction_loyalty import TRANSACTION_COLUMNS, read_coded_transactions

START, END = pd.Timestamp("2022-01-01"), pd.Timestamp("2024-12-31")


def simulate(
    n: int = 2000, seed: int = 1, mean_gap: float = 30.0, life_mean: float = 700.0
) -> pd.DataFrame:
    """Customers arrive, buy as a Poisson process (gamma-distributed rates), then drop out.

    Before dropping out a customer goes through a decline phase of 120–300 days in which they buy
    at 35 % of their rate and spend half as much per order; after it they never buy again.
    """
    rng = np.random.default_rng(seed)
    span = (END - START).days
    arrival = rng.uniform(0, span * 0.85, n)
    rate = rng.gamma(0.8, 1 / (0.8 * mean_gap), n)
    decline_start = arrival + rng.exponential(life_mean, n)
    dead_at = decline_start + rng.uniform(120, 300, n)

    def phase(lo, hi, r, spend_scale):
        lo, hi = np.minimum(lo, span), np.minimum(hi, span)
        who = np.repeat(np.arange(n), rng.poisson(r * np.maximum(hi - lo, 0)))
        return who, rng.uniform(lo[who], hi[who]), np.full(who.size, spend_scale)

    parts = [
        (np.arange(n), arrival, np.ones(n)),
        phase(arrival, decline_start, rate, 1.0),
        phase(decline_start, dead_at, 0.35 * rate, 0.5),
    ]
    who, day, scale = (np.concatenate(p) for p in zip(*parts))
    amount = rng.lognormal(4, 0.3, n)[who] * scale * rng.lognormal(0, 0.3, who.size)
    return pd.DataFrame(
        {
            "customer_id": [f"C{i:05d}" for i in who],
            "order_id": [f"O{i:07d}" for i in range(who.size)],
            "order_date": START + pd.to_timedelta(np.floor(day), unit="D"),
            "amount": amount.round(2),
            "is_return": False,
        }
    )


@pytest.fixture(scope="module")
def transactions() -> pd.DataFrame:
    return simulate()


@pytest.fixture(scope="module")
def model(transactions) -> ChurnModel:
    return ChurnModel(horizon_days=180, random_state=0).fit(transactions, END)


# --- model on simulated data ---------------------------------------------------------------


def test_model_is_validated_out_of_time_and_beats_recency(model):
    report = model.validation_report()
    assert report.cutoff_train == "2024-01-06" and report.cutoff_validation == "2024-07-04"
    assert report.auc > 0.7
    assert report.auc > report.baselines["recency"]
    assert report.top_decile_lift > 1.2
    assert report.brier < 0.2
    assert report.baselines["p_alive"] is None  # not given
    assert 0.2 < report.churn_rate_validation < 0.8


def test_calibration_table_has_ten_deciles_that_track_the_observed_rate(model):
    table = model.validation_report().calibration
    assert len(table) == 10 and table["decile"].tolist() == list(range(1, 11))
    assert table["customers"].sum() == model.validation_report().n_validation
    assert table["mean_predicted"].is_monotonic_increasing
    assert (table["mean_predicted"] - table["observed_rate"]).abs().max() < 0.15
    assert table["observed_rate"].iloc[-1] > table["observed_rate"].iloc[0]


def test_scores_cover_every_customer_at_as_of_and_are_reproducible(model, transactions):
    scores = model.scores_
    assert scores["customer_id"].is_unique
    assert set(scores["customer_id"]) == set(transactions["customer_id"])
    assert scores["churn_probability"].between(0, 1).all()
    again = ChurnModel(horizon_days=180, random_state=0).fit(
        transactions.sample(frac=1, random_state=9), END
    )
    pd.testing.assert_frame_equal(again.scores_, scores)
    assert again.validation_report().auc == model.validation_report().auc


def test_a_model_fitted_on_the_coded_transactions_is_the_same_model(model, transactions):
    coded = CodedTransactions.up_to(transactions, END)
    again = ChurnModel(horizon_days=180, random_state=0).fit(coded, END)
    pd.testing.assert_frame_equal(again.scores_, model.scores_, check_exact=True)
    pd.testing.assert_frame_equal(again.train_, model.train_, check_exact=True)
    assert again.validation_report().as_dict() == model.validation_report().as_dict()


@pytest.mark.parametrize("chunk", [1, 37])
def test_customers_scored_a_chunk_at_a_time_get_the_scores_of_one_call(model, monkeypatch, chunk):
    """Each customer is scored on its own: cut into chunks (the last one shorter), the scores are the
    classifier's on every row at once, to the bit."""
    rows = model.validation_
    whole = model.estimator_.predict_proba(model._binned(rows[model.feature_names_].to_numpy(dtype="float64")))[:, 1]
    monkeypatch.setattr(churn, "SCORED_ROWS_PER_CHUNK", chunk)
    assert len(rows) % chunk or chunk == 1
    np.testing.assert_array_equal(model.predict_proba(rows), whole)
    assert model.predict_proba(rows.iloc[:0]).shape == (0,)


def test_coded_transactions_handed_over_are_let_go_before_everybodys_scores(model, transactions, monkeypatch):
    # the scores of everybody come last, where stage 4 peaks: the coded rows are gone by then
    handed = [CodedTransactions.up_to(transactions, END)]
    gone = weakref.ref(handed[0])
    alive_at_scoring = []
    predict = ChurnModel.predict_proba

    def predict_proba(self, features):
        alive_at_scoring.append(gone() is not None)
        return predict(self, features)

    monkeypatch.setattr(ChurnModel, "predict_proba", predict_proba)
    again = ChurnModel(horizon_days=180, random_state=0).fit(handed.pop(), END)
    assert alive_at_scoring == [True, False]  # the validation window's scores, then everybody's
    pd.testing.assert_frame_equal(again.scores_, model.scores_, check_exact=True)


CUT = pd.Timestamp("2024-06-30")  # some rows after it: the coding leaves them out


@pytest.fixture(scope="module")
def written_by_customer(tmp_path_factory):
    """The transactions as the cleaning writes them, by customer: orders of two rows, order ids that
    repeat across customers (compared within a customer only), rows without an order id, returns, a
    negative zero; rows after the cut."""
    tx = simulate(n=200, seed=4).sort_values("customer_id", kind="stable", ignore_index=True)
    tx["order_id"] = ("O" + (tx.groupby("customer_id").cumcount() // 2).astype(str)).astype("string")
    tx.loc[tx.index % 11 == 0, "order_id"] = pd.NA
    tx["is_return"] = tx.index % 13 == 0
    tx.loc[tx["is_return"], "amount"] *= -1
    tx.loc[7, "amount"] = -0.0
    tx["is_purchase"] = ~tx["is_return"] & (tx["amount"] > 0)
    path = tmp_path_factory.mktemp("coded") / "transactions.parquet"
    storage.write_parquet(tx, path)
    return path


def assert_same_coding(coded: CodedTransactions, whole: CodedTransactions) -> None:
    for name in ("customer", "day", "amount", "is_purchase", "starts"):
        x, y = getattr(coded, name), getattr(whole, name)
        assert x.dtype == y.dtype and np.array_equal(x.view(np.uint8), y.view(np.uint8)), name  # to the bit
    n = len(whole.ids)
    for name in ("orders", "days"):  # the same pairs counted (within a customer they may come in another order)
        x, y = getattr(coded, name), getattr(whole, name)
        np.testing.assert_array_equal(x.customer, y.customer, err_msg=name)
        for t in np.unique(whole.day)[::50]:
            np.testing.assert_array_equal(x.counted(t, n), y.counted(t, n), err_msg=name)
            np.testing.assert_array_equal(x.counted(t, n, since=t - 90), y.counted(t, n, since=t - 90), err_msg=name)
    pd.testing.assert_index_equal(coded.ids, whole.ids, exact=True)
    assert coded.until == whole.until
    for t in (pd.Timestamp("2023-06-30"), CUT):
        pd.testing.assert_frame_equal(coded.features_at(t, 180), whole.features_at(t, 180), check_exact=True)
        pd.testing.assert_frame_equal(coded.spend_trend(t, 90), whole.spend_trend(t, 90), check_exact=True)


@pytest.mark.parametrize("rows", [1, 7, 250, 10**6])
def test_transactions_coded_a_piece_of_whole_customers_at_a_time_are_coded_as_whole(written_by_customer, rows):
    tx = pd.read_parquet(written_by_customer)
    whole = CodedTransactions.up_to(tx, CUT)
    pieces = list(storage.read_parquet_runs(written_by_customer, TRANSACTION_COLUMNS, "customer_id", rows))
    # every row once, in file order, each customer's rows in one piece
    pd.testing.assert_frame_equal(pd.concat(pieces), tx[list(TRANSACTION_COLUMNS)])
    assert sum(piece["customer_id"].nunique() for piece in pieces) == tx["customer_id"].nunique()
    assert (len(pieces) == 1) == (rows > len(tx))
    coded = CodedTransactions.up_to_in_pieces(pieces, CUT)
    assert_same_coding(coded, whole)


def test_transactions_not_written_by_customer_are_coded_whole(written_by_customer, tmp_path):
    shuffled = pd.read_parquet(written_by_customer).sample(frac=1, random_state=3, ignore_index=True)
    path = tmp_path / "shuffled.parquet"
    storage.write_parquet(shuffled, path)
    pieces = storage.read_parquet_runs(path, TRANSACTION_COLUMNS, "customer_id", 250)
    assert CodedTransactions.up_to_in_pieces(pieces, CUT) is None
    params = SimpleNamespace(period=SimpleNamespace(end=CUT.date()))
    assert_same_coding(read_coded_transactions(path, params), CodedTransactions.up_to(shuffled, CUT))


def test_transactions_without_the_optional_columns_are_coded_as_framing_fills_them(written_by_customer, tmp_path):
    bare = pd.read_parquet(written_by_customer)[["customer_id", "order_date", "amount"]]
    path = tmp_path / "bare.parquet"
    storage.write_parquet(bare, path)
    params = SimpleNamespace(period=SimpleNamespace(end=CUT.date()))
    assert_same_coding(read_coded_transactions(path, params), CodedTransactions.up_to(bare, CUT))


def test_rows_without_a_customer_between_pieces_neither_count_nor_hide_pieces_out_of_order(written_by_customer):
    tx = pd.read_parquet(written_by_customer)
    nobody = tx.iloc[:5].assign(customer_id=pd.array([None] * 5, dtype="string"))
    split = int(np.flatnonzero(tx["customer_id"].ne(tx["customer_id"].shift()))[50])  # where a customer begins
    first, second = tx.iloc[:split], tx.iloc[split:]
    in_order = [first, nobody.set_axis(range(len(tx), len(tx) + 5)), second]
    assert_same_coding(CodedTransactions.up_to_in_pieces(in_order, CUT), CodedTransactions.up_to(pd.concat(in_order), CUT))
    assert CodedTransactions.up_to_in_pieces([second, nobody, first], CUT) is None


def test_runs_read_in_pieces_are_never_split(tmp_path):
    frame = pd.DataFrame({"key": pd.array(["a", "a", "a", None, "b", "b", None, None, "c"], dtype="string"),
                          "value": range(9)})
    storage.write_parquet(frame, tmp_path / "f.parquet")
    pieces = list(storage.read_parquet_runs(tmp_path / "f.parquet", ["key", "value"], "key", 2))
    assert [piece["value"].tolist() for piece in pieces] == [[0, 1, 2, 3], [4, 5, 6, 7], [8]]
    assert [piece.index.tolist() for piece in pieces] == [[0, 1, 2, 3], [4, 5, 6, 7], [8]]
    pd.testing.assert_frame_equal(pd.concat(pieces), pd.read_parquet(tmp_path / "f.parquet"))


@pytest.mark.parametrize("coded_until", [None, "2024-06-30"])
def test_transactions_coded_up_to_another_day_are_refused(transactions, coded_until):
    coded = (CodedTransactions.of(transactions) if coded_until is None
             else CodedTransactions.up_to(transactions, pd.Timestamp(coded_until)))
    with pytest.raises(ValueError, match=r"code them with CodedTransactions\.up_to\(transactions, as_of\)"):
        ChurnModel(horizon_days=180).fit(coded, END)


def test_report_is_json_ready(model):
    import json

    text = json.dumps(model.validation_report().as_dict())
    assert '"calibration"' in text and "HistGradientBoostingClassifier" in text


def test_p_alive_baseline_uses_the_given_cutoff_values(model):
    v = model.validation_
    rng = np.random.default_rng(0)
    p_alive = pd.DataFrame({"customer_id": v["customer_id"], "p_alive": rng.uniform(0, 1, len(v))})
    refit = ChurnModel(horizon_days=180).fit(simulate(), END, p_alive_at_validation_cutoff=p_alive)
    expected = roc_auc_score(v["churned"], 1 - p_alive["p_alive"])
    assert refit.validation_report().baselines["p_alive"] == pytest.approx(expected)


def test_too_short_history_is_explained():
    short = simulate(n=300)
    short = short[short["order_date"] >= "2024-06-01"]
    with pytest.raises(ChurnInputError, match="horizon_days"):
        ChurnModel(horizon_days=180).fit(short, END)


# --- features and labels --------------------------------------------------------------------


def hand_tx() -> pd.DataFrame:
    rows = [
        ("a", "2024-01-01", 100.0),
        ("a", "2024-03-01", 50.0),
        ("a", "2024-03-01", 30.0),
        ("a", "2024-06-29", -20.0),  # unmatched return
        ("b", "2024-06-30", 10.0),  # bought on the cutoff day
        ("b", "2024-12-27", 10.0),  # cutoff + 180 days: inside the horizon
        ("c", "2024-02-01", 40.0),
        ("c", "2024-12-28", 40.0),  # cutoff + 181: outside
        ("d", "2024-07-01", 70.0),  # first purchase after the cutoff: not in the population
    ]
    df = pd.DataFrame(rows, columns=["customer_id", "order_date", "amount"])
    df["order_date"] = pd.to_datetime(df["order_date"])
    df["is_return"] = df["amount"] < 0
    df["order_id"] = ["o1", "o2", "o3", "r1", "o4", "o5", "o6", "o7", "o8"]
    return df


def test_features_and_labels_on_a_hand_case():
    out = churn_labels_and_features(hand_tx(), cutoff="2024-06-30", horizon_days=180).set_index(
        "customer_id"
    )
    assert list(out.index) == ["a", "b", "c"]
    assert out["churned"].to_dict() == {"a": True, "b": False, "c": True}
    a = out.loc["a"]
    assert a["recency_days"] == 121 and a["tenure_days"] == 181
    assert a["orders"] == 3 and a["frequency"] == 1  # two orders on one day are one purchase day
    assert a["monetary"] == pytest.approx((180 - 20) / 3)
    assert a["mean_gap_days"] == 60 and a["recency_to_gap"] == pytest.approx(121 / 60)
    assert a["orders_90d"] == 0 and a["orders_180d"] == 2
    assert out.loc["b", "recency_days"] == 0 and np.isnan(out.loc["b", "mean_gap_days"])


def test_an_order_with_lines_on_several_days_counts_where_any_line_falls():
    # the order's first line is 200 days before the cutoff, its second 30 days before, its third after it
    tx = pd.DataFrame({
        "customer_id": ["a", "a", "a", "a"],
        "order_id": ["o1", "o1", "o1", "o2"],
        "order_date": pd.to_datetime(["2023-12-13", "2024-05-31", "2024-07-15", "2023-12-20"]),
        "amount": [10.0, 20.0, 40.0, 5.0],
        "is_return": False,
    })
    a = churn_features(tx, cutoff="2024-06-30").set_index("customer_id").loc["a"]
    assert a["orders"] == 2 and a["frequency"] == 2 and a["recency_days"] == 30 and a["tenure_days"] == 200
    assert a["orders_90d"] == 1 and a["orders_180d"] == 1
    early = churn_features(tx, cutoff="2024-01-31").set_index("customer_id").loc["a"]
    assert early["orders"] == 2 and early["orders_90d"] == 2 and early["recency_days"] == 42


def test_features_use_no_data_after_the_cutoff():
    base = hand_tx()
    complaints = pd.DataFrame(
        {
            "customer_id": ["a", "a", "c"],
            "opened": pd.to_datetime(["2024-02-01", "2024-05-01", "2024-03-01"]),
            "closed": pd.to_datetime(["2024-02-10", "2024-08-01", pd.NaT]),
        }
    )
    before = churn_features(base, complaints, cutoff="2024-06-30")
    later_tx = pd.DataFrame(
        {
            "customer_id": ["a", "a", "c", "e"],
            "order_id": ["x1", "x2", "x3", "x4"],
            "order_date": pd.to_datetime(["2024-07-01", "2025-03-01", "2024-07-01", "2024-09-09"]),
            "amount": [500.0, -50.0, 40.0, 9.0],
            "is_return": [False, True, False, False],
        }
    )
    later_complaints = pd.DataFrame(
        {
            "customer_id": ["a", "b"],
            "opened": pd.to_datetime(["2024-07-02", "2024-08-01"]),
            "closed": pd.NaT,
        }
    )
    after = churn_features(
        pd.concat([base, later_tx], ignore_index=True),
        pd.concat([complaints, later_complaints], ignore_index=True),
        cutoff="2024-06-30",
    )
    pd.testing.assert_frame_equal(before, after)
    counts = before.set_index("customer_id")
    assert counts.loc["a", "complaints_total"] == 2 and counts.loc["a", "complaints_open"] == 1
    assert counts.loc["c", "complaints_open"] == 1 and counts.loc["b", "complaints_total"] == 0


def reference_features(transactions: pd.DataFrame, cutoff: str, horizon_days: int) -> pd.DataFrame:
    """The counts of churn_labels_and_features as plain group-bys on the ids, for comparison."""
    t = pd.Timestamp(cutoff)
    tx = transactions.assign(
        order_key=transactions["order_id"].fillna("row:" + pd.Series(transactions.index.astype(str), index=transactions.index))
    )
    tx = tx[tx["customer_id"].notna() & (tx["order_date"] <= t + pd.Timedelta(days=horizon_days))]
    seen = tx[tx["order_date"] <= t]
    bought = seen[~seen["is_return"] & (seen["amount"] > 0)]
    later = tx[(tx["order_date"] > t) & ~tx["is_return"] & (tx["amount"] > 0)]
    out = bought.groupby("customer_id").agg(
        first=("order_date", "min"), last=("order_date", "max"), orders=("order_key", "nunique"),
        days=("order_date", "nunique"),
    )
    for days in (90, 180):
        window = bought[bought["order_date"] > t - pd.Timedelta(days=days)]
        out[f"orders_{days}d"] = window.groupby("customer_id")["order_key"].nunique().reindex(out.index).fillna(0)
    out["net"] = seen.groupby("customer_id")["amount"].sum().reindex(out.index)
    w = pd.Timedelta(days=180)  # the default trend window
    for name, rows in (("recent", seen[seen["order_date"] > t - w]),
                       ("previous", seen[(seen["order_date"] > t - 2 * w) & (seen["order_date"] <= t - w)])):
        out[name] = rows.groupby("customer_id")["amount"].sum().reindex(out.index).fillna(0.0)
    out["churned"] = ~out.index.isin(later["customer_id"])
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(["张", "b", "a", "Ä", None]),  # ids out of order, one not ASCII, one missing
            st.sampled_from(["o1", "o2", "o3", None]),  # order ids shared by customers, and rows without
            st.integers(0, 400),
            st.sampled_from([-30.0, 0.0, 12.5, 80.0]),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_features_count_as_group_bys_on_the_ids_do(rows):
    transactions = pd.DataFrame(rows, columns=["customer_id", "order_id", "day", "amount"])
    transactions = transactions.assign(
        customer_id=transactions["customer_id"].astype("string"),
        order_id=transactions["order_id"].astype("string"),
        order_date=pd.Timestamp("2024-01-01") + pd.to_timedelta(transactions.pop("day"), unit="D"),
        is_return=transactions["amount"] < 0,
    )
    cutoff, horizon = "2024-09-01", 90
    expected = reference_features(transactions, cutoff, horizon)
    if expected.empty:
        with pytest.raises(ChurnInputError, match="no purchases on or before the cutoff"):
            churn_labels_and_features(transactions, cutoff=cutoff, horizon_days=horizon)
        return
    out = churn_labels_and_features(transactions, cutoff=cutoff, horizon_days=horizon).set_index("customer_id")
    assert list(out.index) == sorted(expected.index)
    expected = expected.loc[out.index]
    assert (out["orders"] == expected["orders"]).all() and (out["frequency"] == expected["days"] - 1).all()
    assert (out["recency_days"] == (pd.Timestamp(cutoff) - expected["last"]).dt.days).all()
    assert (out["tenure_days"] == (pd.Timestamp(cutoff) - expected["first"]).dt.days).all()
    np.testing.assert_allclose(out["recent_spend"], expected["recent"], rtol=1e-12)
    np.testing.assert_allclose(out["previous_spend"], expected["previous"], rtol=1e-12)
    for days in (90, 180):
        assert (out[f"orders_{days}d"] == expected[f"orders_{days}d"]).all()
    np.testing.assert_allclose(out["monetary"], expected["net"] / expected["orders"], rtol=1e-12)
    assert (out["churned"] == expected["churned"]).all()


def test_decile_helpers_on_known_values():
    y = np.array([0, 0, 0, 0, 0, 0, 0, 0, 1, 1] * 2, dtype=bool)
    score = np.linspace(0, 1, 20)
    ids = [f"c{i:02d}" for i in range(20)]
    assert top_decile_lift(y, score, ids) == pytest.approx(1.0 / 0.2)
    table = calibration_table(y, score, ids)
    assert len(table) == 10 and (table["customers"] == 2).all()


# --- risk, early warning, masking -----------------------------------------------------------


def test_churn_risk_bands_and_fallback_to_p_alive():
    customers = pd.DataFrame(
        {"customer_id": ["a", "b", "c", "d"], "p_alive": [0.9, 0.2, 0.5, np.nan]}
    )
    scores = pd.DataFrame({"customer_id": ["a", "b", "d"], "churn_probability": [0.7, 0.3, 0.1]})
    risk = churn_risk(customers, scores, high=0.6, medium=0.3)
    assert risk["churn_risk"].tolist() == pytest.approx([0.7, 0.3, 0.5, 0.1])
    assert risk["p_alive_risk"].iloc[:3].tolist() == pytest.approx([0.1, 0.8, 0.5])
    assert risk["risk_source"].tolist() == ["model", "model", "p_alive", "model"]
    assert risk["risk_band"].tolist() == ["high", "medium", "medium", "low"]
    shown = localize(risk, "zh", labels={"risk_band": "churn_band_"})
    assert shown["risk_band"].tolist() == ["高", "中", "中", "低"]
    with pytest.raises(ChurnInputError, match="medium_risk"):
        churn_risk(customers, scores, high=0.3, medium=0.6)


def warning_customers() -> pd.DataFrame:
    d = pd.Timestamp
    return pd.DataFrame(
        [
            # id, tier, clv, risk, days_since_last, first, last, frequency, recent, previous, recommend, open complaints
            (
                "gap",
                1,
                1000.0,
                0.8,
                100,
                d("2023-01-01"),
                d("2024-01-01"),
                10,
                100.0,
                100.0,
                9.0,
                0,
            ),
            (
                "spend",
                2,
                5000.0,
                0.7,
                10,
                d("2023-01-01"),
                d("2024-01-01"),
                10,
                20.0,
                100.0,
                np.nan,
                0,
            ),
            (
                "detractor",
                1,
                2000.0,
                0.9,
                10,
                d("2023-01-01"),
                d("2024-01-01"),
                10,
                100.0,
                100.0,
                6.0,
                0,
            ),
            (
                "complaint",
                2,
                3000.0,
                0.65,
                10,
                d("2023-01-01"),
                d("2024-01-01"),
                10,
                100.0,
                100.0,
                7.0,
                2,
            ),
            (
                "model_only",
                1,
                800.0,
                0.95,
                10,
                d("2023-01-01"),
                d("2024-01-01"),
                10,
                100.0,
                100.0,
                10.0,
                0,
            ),
            (
                "one_timer_old",
                2,
                900.0,
                0.9,
                200,
                d("2023-01-01"),
                d("2023-01-01"),
                0,
                0.0,
                0.0,
                np.nan,
                0,
            ),
            (
                "low_tier",
                3,
                9000.0,
                0.99,
                300,
                d("2023-01-01"),
                d("2024-01-01"),
                10,
                0.0,
                100.0,
                0.0,
                1,
            ),
            ("safe", 1, 9000.0, 0.2, 300, d("2023-01-01"), d("2024-01-01"), 10, 0.0, 100.0, 0.0, 1),
        ],
        columns=[
            "customer_id",
            "tier",
            "clv",
            "churn_risk",
            "days_since_last",
            "first_purchase",
            "last_purchase",
            "frequency",
            "recent_spend",
            "previous_spend",
            "recommend_score",
            "complaints_open",
        ],
    )


def test_early_warning_reasons_on_hand_cases():
    listed = early_warning_list(warning_customers(), tiers=[1, 2], risk_threshold=0.6)
    reasons = dict(zip(listed["customer_id"], listed["reason_codes"]))
    assert reasons == {
        "gap": ["long_since_last_purchase"],  # usual gap 36.5 days, 100 > 2 × 36.5
        "spend": ["falling_spend"],
        "detractor": ["detractor"],
        "complaint": ["open_complaint"],
        "model_only": ["model_risk"],
        "one_timer_old": ["long_since_last_purchase"],  # > 180 days, no usual gap
    }
    # sorted by value at risk = clv × risk
    assert listed["customer_id"].tolist() == [
        "spend",
        "complaint",
        "detractor",
        "one_timer_old",
        "gap",
        "model_only",
    ]
    assert listed["value_at_risk"].iloc[0] == pytest.approx(3500.0)
    row = listed.set_index("customer_id")
    assert render(row.loc["spend", "reasons"], "zh") == "近期消费降至前期的20%"
    assert (
        render(row.loc["gap", "reasons"], "en") == "100 days since the last purchase (usual gap about 36 days)"
    )
    assert set(REASONS) >= {k for r in listed["reason_codes"] for k in r}
    assert render(row.loc["model_only", "reasons"], "en") == (
        "high predicted churn probability (95%), no single rule triggered"
    )
    shown = localize(listed, "en", output=catalog.WATCH_LIST).set_index("customer_id")
    assert shown.loc["spend", "reasons"] == "recent spend fell to 20% of the previous period's"


def test_every_reason_has_its_sentence_and_short_name():
    for code in REASONS:
        assert f"churn_reason_{code}" in TEXTS and code_label(code, "churn_short_reason_", "zh") != code
    assert code_label("long_since_last_purchase", "churn_short_reason_", "en") == "Long since last purchase"


def test_early_warning_by_top_clv_share_and_size():
    c = warning_customers()
    top = early_warning_list(c, tiers=None, top_clv_share=0.25, risk_threshold=0.6)
    assert top["customer_id"].tolist() == ["low_tier"]  # "safe" has the same CLV but low risk
    assert top["reason_codes"].iloc[0] == [
        "long_since_last_purchase",
        "falling_spend",
        "detractor",
        "open_complaint",
    ]
    assert render(top["reasons"].iloc[0], "zh") == (
        "距上次购买已300天（通常间隔约36天）；近期消费降至前期的0%；推荐意愿低（0分，贬损者）；有1项未解决投诉"
    )
    both = early_warning_list(c, tiers=[1], top_clv_share=0.25, risk_threshold=0.6, size=2)
    assert both["customer_id"].tolist() == ["low_tier", "detractor"]
    with pytest.raises(ChurnInputError, match="watch_tiers"):
        early_warning_list(c, tiers=None)


def test_a_sized_watch_list_is_the_head_of_the_whole_list_reasons_and_all():
    # the reasons are found only for the rows kept: they must be those of the whole list's first rows
    c = warning_customers()
    whole = early_warning_list(c, tiers=[1, 2], top_clv_share=0.25, risk_threshold=0.6)
    for size in (1, 3, len(whole), len(whole) + 5):
        sized = early_warning_list(c, tiers=[1, 2], top_clv_share=0.25, risk_threshold=0.6, size=size)
        pd.testing.assert_frame_equal(sized, whole.head(size))




# --- the bounded, stratified training sample --------------------------------------------------


def test_stratified_sample_has_the_stated_size_and_keeps_label_and_group_shares():
    from analysis.methods.churn import stratified_sample

    rng = np.random.default_rng(3)
    n = 50_000
    groups = rng.choice(np.array(["1", "2", "3", "4"]), size=n, p=[0.05, 0.15, 0.3, 0.5])
    labels = rng.uniform(size=n) < np.where(groups == "1", 0.1, 0.45)  # churn differs by tier
    positions, weights = stratified_sample(labels, groups, 5_000, seed=0)
    assert len(positions) == 5_000 and len(np.unique(positions)) == 5_000
    assert np.all(np.diff(positions) > 0)  # the population's order is kept
    # each label × group stratum keeps its share of the population, up to the rounding of one row
    population = pd.crosstab(labels, groups, normalize=True)
    sample = pd.crosstab(labels[positions], groups[positions], normalize=True)
    assert (sample - population).abs().to_numpy().max() <= 1 / 5_000 + 1e-12
    assert abs(labels[positions].mean() - labels.mean()) <= 8 / 5_000
    # weights N_s / n_s, mean 1: the weighted sample counts each stratum as the population does
    weighted = pd.Series(weights).groupby([labels[positions], groups[positions]]).sum() / 5_000
    np.testing.assert_allclose(weighted.to_numpy(), population.T.stack().swaplevel().sort_index().to_numpy(),
                               atol=1e-12)
    again, _ = stratified_sample(labels, groups, 5_000, seed=0)
    np.testing.assert_array_equal(again, positions)


def test_strata_number_the_label_and_group_pairs_in_sorted_order():
    from analysis.methods.churn import _strata

    labels = np.array([True, False, True, False, False, True])
    groups = np.array(["none", "2", "10", "2", "none", "none"], dtype=object)
    expected, _ = pd.factorize(pd.MultiIndex.from_arrays([labels, groups]), sort=True)
    np.testing.assert_array_equal(_strata(labels, groups), expected)
    np.testing.assert_array_equal(_strata(labels, groups), [3, 0, 2, 0, 1, 3])  # (F,2) (F,none) (T,10) (T,none)


def test_stratified_sample_refuses_a_size_it_cannot_draw():
    from analysis.methods.churn import stratified_sample

    with pytest.raises(ChurnInputError, match="sample size 11"):
        stratified_sample(np.zeros(10, dtype=bool), np.zeros(10), 11, seed=0)


def test_above_the_bound_the_model_trains_on_a_stratified_sample_and_validates_on_everybody():
    transactions = simulate(n=4000, seed=5)
    ids = sorted(transactions["customer_id"].unique())
    tiers = pd.Series(np.arange(len(ids)) % 4 + 1, index=pd.Index(ids, name="customer_id"))
    model = ChurnModel(horizon_days=180, random_state=0, max_training_customers=1_000).fit(
        transactions, END, training_strata=tiers
    )
    window = model.train_
    assert len(window) > 1_000
    sample = model.training_sample_
    assert sample["customers"] == 1_000 and sample["window_customers"] == len(window)
    assert sample["bound"] == 1_000 and sample["strata"] == 8
    assert abs(sample["churn_rate_sample"] - sample["churn_rate_window"]) <= 2 / 1_000
    report = model.validation_report()
    assert report.n_train == 1_000
    assert report.n_validation == len(model.validation_)  # the whole later window
    assert report.as_dict()["training_sample"] == sample
    assert report.auc > 0.7
    assert set(model.scores_["customer_id"]) == set(transactions["customer_id"])


def test_at_or_below_the_bound_every_customer_is_used_and_the_model_is_unchanged(model, transactions):
    bounded = ChurnModel(horizon_days=180, random_state=0, max_training_customers=len(model.train_)).fit(
        transactions, END
    )
    assert bounded.training_sample_ is None
    assert bounded.validation_report().n_train == len(model.train_)
    assert "training_sample" not in bounded.validation_report().as_dict()
    pd.testing.assert_frame_equal(bounded.scores_, model.scores_)
    unbounded = ChurnModel(horizon_days=180, random_state=0, max_training_customers=None).fit(transactions, END)
    pd.testing.assert_frame_equal(unbounded.scores_, model.scores_)


def test_a_bound_too_small_is_refused():
    with pytest.raises(ChurnInputError, match=r"max_training_customers=10: use at least 1,000"):
        ChurnModel(max_training_customers=10)


@pytest.mark.parametrize("text_ids", [True, False])
def test_complaint_counts_are_a_grouping_joined_to_the_customers(text_ids):
    """Counted by each complaint's position among the customers, as grouping the complaints by id and
    joining the counts to the customers gives them: complaints of other customers or without an id
    left out, an unknown opening date never counted, a complaint open until it is closed after the cutoff."""
    rng = np.random.default_rng(3)
    dtype = "string" if text_ids else object
    cutoff = pd.Timestamp("2024-06-30")
    for _ in range(40):
        n = int(rng.integers(0, 60))
        ids = pd.Index([f"c{i}" for i in rng.permutation(12)[: int(rng.integers(1, 12))]], dtype=dtype)
        days = pd.to_datetime("2024-06-20") + pd.to_timedelta(rng.integers(0, 20, n), unit="D")
        complaints = pd.DataFrame({
            "customer_id": pd.array(rng.choice([*(f"c{i}" for i in range(14)), None], n), dtype=dtype),
            "opened": pd.Series(days).where(rng.random(n) > 0.1),
            "closed": pd.Series(days + pd.to_timedelta(rng.integers(0, 15, n), unit="D")).where(rng.random(n) > 0.4),
        })
        known = complaints["opened"] <= cutoff
        still_open = known & (complaints["closed"].isna() | (complaints["closed"] > cutoff))
        grouped = (pd.DataFrame({"customer_id": complaints["customer_id"], "complaints_total": known,
                                 "complaints_open": still_open})
                   .groupby("customer_id").sum().astype("float64"))
        expected = pd.DataFrame(index=ids).join(grouped).fillna(0.0)
        pd.testing.assert_frame_equal(complaint_counts(complaints, cutoff, ids), expected, check_names=False)


@pytest.mark.parametrize("one_day_per_pair", [True, False])
def test_dated_pairs_count_the_pairs_with_a_day_in_the_window(one_day_per_pair):
    """Per customer, the distinct (customer, key) pairs with a day in (since, t]: as counted by brute
    force, whether each pair has one day (the (customer, day) pairs, kept without their starts) or several."""
    from analysis.methods.churn import _DatedPairs

    rng = np.random.default_rng(11)
    for _ in range(30):
        n, customers = int(rng.integers(1, 80)), int(rng.integers(1, 6))
        customer = rng.integers(0, customers, n).astype(np.int32)
        day = rng.integers(0, 30, n).astype(np.int32)
        key = day if one_day_per_pair else rng.integers(0, 5, n)
        pairs = _DatedPairs.of(customer, key, day)
        assert (pairs.starts is None) == (one_day_per_pair or len(set(zip(customer, key))) == len(set(zip(customer, key, day))))
        for t, since in ((29, None), (15, None), (15, 7), (3, 3)):
            inside = (day <= t) & (day > (-1 if since is None else since))
            expected = np.zeros(customers, dtype=np.int64)
            for c, _k in set(zip(customer[inside], key[inside])):
                expected[c] += 1
            np.testing.assert_array_equal(pairs.counted(t, customers, since=since), expected)
