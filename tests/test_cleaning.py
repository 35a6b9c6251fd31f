"""Loading and cleaning: encodings, header mapping, parsing, quarantine reasons, returns, accounting."""

import json
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis.frame.params import Cleaning, InputFile, OutlierRule, Period
from analysis.methods.cleaning import (
    clean_customers,
    clean_transactions,
    finish_customers,
    normalise_ids,
    outlier_mask,
    parse_amounts,
    parse_dates,
    read_customers,
)
from analysis.methods.ids import PaddingReference
from analysis.methods.loading import InputFileError, detect_encoding, map_columns, read_raw
from tests.examples import examples

RAW = Path(__file__).parent / "fixtures" / "raw"
TX_COLUMNS = {"客户编号": "customer_id", "订单编号": "order_id", "订单日期": "order_date", "金额": "amount", "产品类别": "product_category"}
PERIOD = Period(start=date(2024, 1, 1), end=date(2024, 12, 31))
NO_OUTLIERS = Cleaning(outliers=OutlierRule(method="none"))


def tx_spec(path: Path, **kw) -> InputFile:
    return InputFile(path=path, columns=TX_COLUMNS, **kw)


def test_gbk_csv_with_chinese_headers_is_detected_and_mapped():
    spec = tx_spec(RAW / "transactions_gbk.csv")
    assert detect_encoding(spec.path) == "gb18030"
    mapped = map_columns(read_raw(spec), spec, "transactions")
    assert list(mapped.columns) == [*TX_COLUMNS.values(), "_source_row"]
    assert mapped["customer_id"].iloc[0] == "00012"  # leading zeros kept
    assert mapped["_source_row"].iloc[0] == 2  # the header is row 1, as in Excel


def test_missing_mapped_column_names_file_column_and_fix():
    spec = tx_spec(RAW / "transactions_missing_column.csv")
    with pytest.raises(InputFileError) as err:
        map_columns(read_raw(spec), spec, "transactions")
    message = str(err.value)
    assert "transactions_missing_column.csv" in message
    assert "'订单日期' (mapped to order_date)" in message
    assert "inputs.transactions.columns" in message


def test_gbk_transactions_get_the_promised_reasons_and_add_up():
    result = clean_transactions(tx_spec(RAW / "transactions_gbk.csv"), PERIOD, NO_OUTLIERS)
    q = result.quality
    assert q["rows_in"] == 11 and q["rows_in"] == q["rows_kept"] + q["rows_quarantined"]
    assert q["reasons"] == {
        "duplicate": 1, "missing_customer_id": 1, "invalid_date": 1, "invalid_amount": 1, "after_period_end": 1,
    }
    reasons = dict(zip(result.quarantine["source_row"], result.quarantine["reason"]))
    assert reasons[3] == "duplicate" and reasons[12] == "after_period_end"
    assert json.loads(result.quarantine.loc[result.quarantine["reason"] == "invalid_amount", "raw"].iloc[0])["金额"] == "待定"
    tx = result.kept.set_index("order_id")
    # SO2: 200 bought, 50 returned later: netted into the order, dated at the purchase.
    assert tx.loc["SO2", "amount"] == pytest.approx(150.0)
    assert tx.loc["SO2", "returned_amount"] == pytest.approx(-50.0)
    assert tx.loc["SO2", "order_date"] == pd.Timestamp("2024-03-09")
    assert q["returns_netted"] == 1
    # SO9 matches no order: kept as its own return row.
    assert bool(tx.loc["SO9", "is_return"]) and tx.loc["SO9", "amount"] == pytest.approx(-30.0)
    assert tx.loc["SO1", "amount"] == pytest.approx(1234.5)
    assert tx.loc["SO3", "amount"] == pytest.approx(99.9) and tx.loc["SO4", "amount"] == pytest.approx(88.0)
    assert tx.loc["SO1", "order_day"] == (pd.Timestamp("2024-03-05") - pd.Timestamp("1970-01-01")).days


def test_xlsx_customer_master():
    spec = InputFile(path=RAW / "customers.xlsx", sheet="客户信息",
                     columns={"客户编号": "customer_id", "客户名称": "name", "客户类型": "segment",
                              "存款余额": "balance", "注册日期": "signup_date"})
    result = clean_customers(spec, Cleaning())
    assert result.quality["reasons"] == {"duplicate_customer_id": 1}
    assert result.quality["warnings"] == {"unreadable_signup_date": 1, "unreadable_balance": 1, "leading_zero_id_collisions": 0}
    raw = json.loads(result.quarantine["raw"].iloc[0])
    assert raw["客户名称"] == "***" and raw["客户编号"] == "00345"  # the name is personal data; the id is kept
    kept = result.kept.set_index("customer_id")
    assert list(kept.index) == ["00012", "00345", "00999"]
    assert kept.loc["00012", "balance"] == 250_000_000 and kept.loc["00012", "segment"] == "B2B"


@pytest.mark.parametrize(
    "text, expected",
    [("1,234.50", 1234.5), ("¥1,234.50", 1234.5), ("￥88", 88.0), ("1234.50元", 1234.5), ("RMB 1234.50", 1234.5),
     ("-50", -50.0), ("(12.00)", -12.0), ("待定", None), ("", None), ("abc", None),
     ("inf", None), ("-Infinity", None), ("1e400", None), ("nan", None), ("1e300", 1e300)],
)
def test_parse_amounts(text, expected):
    value = parse_amounts(pd.Series([text], dtype="string")).iloc[0]
    assert (pd.isna(value) and expected is None) or value == pytest.approx(expected)


@pytest.mark.parametrize(
    "text, expected",
    [("2024-03-05", "2024-03-05"), ("2024/3/5", "2024-03-05"), ("2024年3月5日", "2024-03-05"),
     ("20240305", "2024-03-05"), ("2024-03-05 13:45:00", "2024-03-05"), ("2024-13-45", None), ("N/A", None),
     ("2024-3-5", "2024-03-05"), ("2024.3.5", "2024-03-05"), ("2024/3/5 14:22", "2024-03-05"),
     ("2024-03-05T14:22:01", "2024-03-05"), ("2024年03月05日 14时", "2024-03-05"), ("45000", "2023-03-15")],
)
def test_parse_dates(text, expected):
    value = parse_dates(pd.Series([text], dtype="string"), Cleaning().date_formats).iloc[0]
    assert (pd.isna(value) and expected is None) or value == pd.Timestamp(expected)


def test_ids_keep_leading_zeros_and_drop_float_tails():
    ids = normalise_ids(pd.Series([" 00123 ", "456.0", "", None], dtype="string"))
    assert ids.iloc[0] == "00123" and ids.iloc[1] == "456" and ids.isna().sum() == 2


def test_outlier_rule_flags_extremes_only():
    amounts = pd.Series([100.0 + i for i in range(200)] + [100_000.0])
    flags = outlier_mask(amounts, OutlierRule(method="mad_log", threshold=6))
    assert flags.sum() == 1 and flags.iloc[-1]
    assert not outlier_mask(amounts, OutlierRule(method="none")).any()


def test_outlier_rules_by_their_formulas_on_any_index():
    """Both rules against their formulas written out: the MAD's fallback when most amounts are equal,
    Tukey's fences, missing and non-positive amounts never flagged, the flags on the amounts' labels."""
    rng = np.random.default_rng(7)
    values = np.concatenate([np.full(150, 50.0), rng.lognormal(4, 1, 100), [20_000.0, 0.0, -30.0, np.nan]])
    amounts = pd.Series(values, index=rng.permutation(len(values)) * 3 + 1000)
    logs = np.log(values[values > 0])
    deviation = np.abs(logs - np.median(logs))
    assert np.median(deviation) == 0  # over half the amounts equal: the mean deviation stands in
    z = deviation / (1.2533 * deviation.mean())
    low, high = np.percentile(logs, [25, 75])
    fenced = (logs > high + 1.5 * (high - low)) | (logs < low - 1.5 * (high - low))
    for rule, expected in ((OutlierRule(method="mad_log", threshold=3.5), z > 3.5),
                           (OutlierRule(method="iqr", threshold=1.5), fenced)):
        flags = outlier_mask(amounts, rule)
        assert flags.index.equals(amounts.index) and flags.dtype == bool
        assert flags[values > 0].tolist() == expected.tolist() and 0 < expected.sum() < len(expected)
        assert not flags[~(values > 0)].any()


def test_outliers_quarantined_when_asked(tmp_path):
    rows = [("001", f"SO{i}", "2024-02-01", "100") for i in range(60)] + [("001", "BIG", "2024-02-02", "900000")]
    path = tmp_path / "t.csv"
    pd.DataFrame(rows, columns=["客户编号", "订单编号", "订单日期", "金额"]).to_csv(path, index=False)
    spec = InputFile(path=path, columns={k: v for k, v in TX_COLUMNS.items() if k != "产品类别"})
    flagged = clean_transactions(spec, PERIOD, Cleaning())
    assert flagged.quality["outliers_flagged"] == 1 and flagged.quality["rows_quarantined"] == 0
    quarantined = clean_transactions(spec, PERIOD, Cleaning(outliers=OutlierRule(action="quarantine")))
    assert quarantined.quality["reasons"] == {"outlier": 1}


# Any messy file: every row is kept or quarantined, never lost.
cell = st.one_of(
    st.sampled_from(["", "N/A", "待定", "abc", "0", "-5", "1,000", "¥12", "2024-02-30", "2024/2/3", "20241301"]),
    st.text(alphabet="0123456789-/.,年月日元¥ ", max_size=12),
)
messy_rows = st.lists(st.tuples(st.sampled_from(["", "001", "002", "0003"]), st.sampled_from(["A", "B", "", "C"]), cell, cell),
                      min_size=1, max_size=40)


@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=messy_rows)
def test_rows_in_equals_kept_plus_quarantined(tmp_path, rows):
    path = tmp_path / "messy.csv"
    pd.DataFrame(rows, columns=["客户编号", "订单编号", "订单日期", "金额"]).to_csv(path, index=False, encoding="utf-8")
    spec = InputFile(path=path, columns={"客户编号": "customer_id", "订单编号": "order_id", "订单日期": "order_date", "金额": "amount"})
    result = clean_transactions(spec, PERIOD, Cleaning())
    q = result.quality
    assert q["rows_in"] == len(rows)
    assert q["rows_kept"] + q["rows_quarantined"] == q["rows_in"]
    assert sum(q["reasons"].values()) == q["rows_quarantined"] == len(result.quarantine)
    assert q["rows_written"] == q["rows_kept"] - q["returns_netted"] == len(result.kept)
    quarantined_rows = set(result.quarantine["source_row"])
    kept_rows = set(result.kept["source_row"])
    assert not quarantined_rows & kept_rows
    assert len(quarantined_rows) + len(kept_rows) + q["returns_netted"] == len(rows)


def every_order_netted(tx: pd.DataFrame) -> pd.DataFrame:
    """net_returns with every order through the grouping and joining, as it was before only the
    orders a return names went that way."""
    from analysis.methods.cleaning import _net_orders

    out, _ = _net_orders(tx)
    out["order_day"] = (out["order_date"] - pd.Timestamp("1970-01-01")).dt.days.astype("int32")
    return out.sort_values(["customer_id", "order_date", "order_id", "source_row"], kind="stable").reset_index(drop=True)


order_lines = st.lists(
    st.tuples(st.sampled_from(["C1", "C2", "C3"]), st.sampled_from(["O1", "O2", "O3", None]), st.integers(1, 4),
              st.sampled_from([0.0, -0.0, 5.0, 12.5, -3.0, -20.0, 7.25]), st.sampled_from([None, 2.0, 0.0, -0.0])),
    min_size=1, max_size=30,
)


@settings(max_examples=examples(200), deadline=None, derandomize=True, database=None)
@given(lines=order_lines)
def test_only_orders_with_a_return_are_regrouped_with_the_same_result(lines):
    """Netting the orders a return names, and the rest row by row, gives every value of netting every order."""
    from analysis.methods.cleaning import net_returns

    tx = pd.DataFrame({
        "customer_id": pd.Series([line[0] for line in lines], dtype="string"),
        "order_id": pd.Series([line[1] for line in lines], dtype="string"),
        "order_date": pd.to_datetime([f"2024-03-0{line[2]}" for line in lines]).astype("datetime64[us]"),
        "amount": [line[3] for line in lines],
        "cost": pd.Series([line[4] for line in lines], dtype="float64"),
        "source_row": range(2, len(lines) + 2),
    })
    netted, _ = net_returns(tx)
    expected = every_order_netted(tx)
    pd.testing.assert_frame_equal(netted, expected, check_exact=True)  # -0.0 == 0.0: a zero's sign is no value


cell_values = st.one_of(st.none(), st.just(pd.NA), st.just(float("nan")), st.integers(-10**6, 10**6),
                        st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=8))


@settings(max_examples=examples(200), deadline=None, derandomize=True, database=None)
@given(rows=st.lists(st.lists(cell_values, min_size=3, max_size=3), max_size=6),
       names=st.lists(st.sampled_from(["客户编号", "手机", "a\"b", "Unnamed: 2", "x\\y", "\u2028"]), min_size=3, max_size=3,
                      unique=True),
       personal=st.sets(st.integers(0, 2)))
def test_quarantine_rows_are_json_dumps_of_each_row(rows, names, personal):
    """The quarantine's raw text, built column by column, is json.dumps of each row's dict with the
    personal cells masked: quotes, backslashes, control and non-ASCII characters, missing cells."""
    from analysis.methods.cleaning import MASK, Privacy, records_json

    frame = pd.DataFrame(rows, columns=names, dtype=object)
    frame = pd.concat([frame, frame.iloc[::-1]], ignore_index=True)  # cells repeated, as a quarantine's are
    privacy = Privacy(columns=frozenset(names[i] for i in personal))

    def dumped(table: pd.DataFrame) -> list[str]:
        return [json.dumps({k: MASK if k in privacy.columns else (None if pd.isna(v) else str(v)) for k, v in row.items()},
                           ensure_ascii=False) for row in table.to_dict(orient="records")]

    assert list(records_json(frame, privacy)) == dumped(frame)
    assert list(records_json(frame.astype("string"), privacy)) == dumped(frame.astype("string"))


class _MaskedTriage:
    """The triage as pandas masks would keep it: a text column of reasons and one of details."""

    def __init__(self, index: pd.Index) -> None:
        self.reason = pd.Series(pd.NA, index=index, dtype="string")
        self.detail = pd.Series(pd.NA, index=index, dtype="string")

    def set_aside(self, mask: pd.Series, reason: str, detail: pd.Series | None = None) -> None:
        now = mask.fillna(False).astype(bool) & self.reason.isna()
        if detail is not None:
            self.detail = self.detail.mask(now, detail.reindex(self.detail.index).astype("string"))
        self.reason = self.reason.mask(now, reason)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), n=st.integers(0, 40), shifted=st.booleans())
def test_the_triage_gives_each_row_the_first_reason_and_its_detail_as_masks_would(data, n, shifted):
    """Reasons kept as numbers and details kept sparse read as pandas masks over text columns read."""
    from analysis.methods.cleaning import _Triage

    index = pd.RangeIndex(n) if not shifted else pd.Index(range(100, 100 + 3 * n, 3))
    triage, reference = _Triage(pd.DataFrame(index=index)), _MaskedTriage(index)
    for _ in range(data.draw(st.integers(0, 6))):
        flags = data.draw(st.lists(st.sampled_from([True, False, None]), min_size=n, max_size=n))
        mask = pd.Series(flags, index=index, dtype="boolean")
        if n and data.draw(st.booleans()):  # a mask of some rows only: aligned on the labels
            mask = mask.iloc[: data.draw(st.integers(0, n))]
        reason = data.draw(st.sampled_from(["duplicate", "total_row", "invalid_date"]))
        detail = None
        if data.draw(st.booleans()):
            labels = data.draw(st.lists(st.sampled_from(list(index) or [0]), unique=True))
            detail = pd.Series([f"row {label}" for label in labels], index=labels, dtype="string")
        triage.set_aside(mask, reason, detail)
        reference.set_aside(mask, reason, detail)
    pd.testing.assert_series_equal(triage.reason, reference.reason)
    pd.testing.assert_series_equal(triage.detail, reference.detail)
    pd.testing.assert_series_equal(triage.open, reference.reason.isna())
    # the set-aside rows' reasons and details, made for those rows alone
    aside = reference.reason.notna()
    reasons, details = triage.set_aside_reasons()
    pd.testing.assert_series_equal(reasons, reference.reason[aside].reset_index(drop=True))
    pd.testing.assert_series_equal(details, reference.detail[aside].reset_index(drop=True))


def test_the_master_ids_known_once_it_is_read_are_the_ids_it_keeps(tmp_path):
    """Stage 1 starts the transactions with the ids of the master as read (:func:`read_customers`): they
    must be the ids the cleaned master keeps, in the same first appearances, whatever the later
    checks set aside (repeated ids) or warn of (unreadable dates and balances)."""
    rows = [("C01", "2024-01-01", "10"), ("C02", "bad date", "x"), ("C01", "2024-02-01", "5"), ("", "2024-01-01", "1"),
            ("合计", "", "16"), ("C03", "2024-03-01", "7"), ("C02", "2024-03-02", "8"), ("1.2E+05", "2024-01-01", "1")]
    path = tmp_path / "master.csv"
    pd.DataFrame(rows, columns=["客户编号", "注册日期", "余额"]).to_csv(path, index=False)
    spec = InputFile(path=path, columns={"客户编号": "customer_id", "注册日期": "signup_date", "余额": "balance"})
    read = read_customers(spec)
    early = PaddingReference.of(read.open_ids())
    cleaned = finish_customers(read, Cleaning())
    assert cleaned.quarantine["reason"].value_counts().to_dict() == {
        "duplicate_customer_id": 2, "missing_customer_id": 1, "total_row": 1, "ambiguous_customer_id": 1}
    assert early.ids.to_pylist() == PaddingReference.of(cleaned.kept["customer_id"].dropna()).ids.to_pylist() == ["C01", "C02", "C03"]
    pd.testing.assert_frame_equal(cleaned.kept, clean_customers(spec, Cleaning()).kept)
