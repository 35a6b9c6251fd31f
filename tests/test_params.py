"""The params file: valid files load; a wrong key, type, rule or path stops the run with a precise message.

Every rule has a fixture in tests/fixtures/params/ (a params file breaking that rule only) and the
message it must produce: the file, the key and the fix, before any work.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from analysis.frame.params import ParamsError, check_input_headers, input_headers, load_params
from tests.fresh_python import printed_by_fresh_python

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "params"

#: fixture -> the message it must produce (a regular expression)
RULES = {
    "threshold_without_rules": r"key 'tiering\.options': method 'threshold' needs tiering\.options\.rules: a list of 3 rules",
    "unknown_option_key": r"unknown key 'tiering\.options\.clv\.share' \(method 'clv'\): did you mean 'shares'\?",
    "tier_names_wrong_length": r"key 'tiering\.names\.zh': .*give 3 name\(s\) for 4 tiers; give exactly 4 names",
    "rfm_thresholds_wrong_count": r"key 'scoring\.rfm_thresholds\.r' \(days_since_last\): needs 4 cut points for 5 bins, got 3",
    "rfm_thresholds_wrong_order": r"key 'scoring\.rfm_thresholds\.f' \(orders\): must be .*strictly ascending order",
    "rfm_bins_without_segment_rules": r"key 'scoring\.rfm_bins': the default segment rules are written for 5 bins; "
    r"with rfm_bins: 4 set scoring\.segment_rules",
    "churn_risk_levels_crossed": r"key 'churn\.medium_risk': 0\.7 must be below churn\.high_risk \(0\.5\); lower medium_risk",
    "watch_tier_does_not_exist": r"key 'churn\.watch_tiers': tier\(s\) \[4\] do not exist with tiering\.n_tiers: 3; "
    r"use tier numbers 1\.\.3",
    "cross_sell_tier_does_not_exist": r"key 'actions\.cross_sell_tiers': tier\(s\) \[5\] do not exist with "
    r"tiering\.n_tiers: 3; use tier numbers 1\.\.3",
    "min_shares_above_one": r"key 'allocation\.min_share': min_share adds up to 1\.2 > 1 .*lower the minimum shares",
    "max_shares_below_one": r"key 'allocation\.max_share': max_share adds up to 0\.8 < 1 .*raise the maximum shares",
    "min_share_above_max_share": r"key 'allocation\.min_share': min_share exceeds max_share for tier\(s\) \[1\]",
    "negative_hours": r"allocation\.hours_available\.senior must be a finite number of hours per month ≥ 0, got -10",
    "engine_memory_limit_not_a_size": r"key 'scoring\.engine_memory_limit': .*'2 gigs' is not a memory size: write a number "
    r"and a unit, e\.g\. 1GB, 512MB or 2GiB",
    "empty_date_formats": r"key 'cleaning\.date_formats': the list is empty, so no date could be read; list at least one",
    "previous_run_is_this_run": r"key 'tiering\.previous_run': names this run itself \('fixture'\)",
    "hysteresis_out_of_range": r"key 'tiering\.hysteresis': 0\.7 is outside 0\.\.0\.5; it is a share of each boundary's value",
    "carry_cutoffs_without_previous_run": r"key 'tiering\.carry_cutoffs': carry_cutoffs: true works on last quarter's tiers, "
    r"but tiering\.previous_run is not given; name the previous quarter's run",
    "attribute_not_mapped": r"key 'satisfaction\.attributes': \['product_quality'\] are not mapped in inputs\.surveys\.columns.*"
    r"add '<header in your file>: product_quality'",
    "threshold_column_without_master": r"key 'tiering\.options': the threshold rules use \['balance'\], which come from "
    r"the customer master, but inputs\.customers is not given",
    "threshold_rules_gap": r"key 'tiering\.options': method 'threshold': .*gap: values from 500 to under 1,000 match no tier",
    "input_outside_project": r"key 'inputs\.transactions\.path': /etc/passwd is outside the project folder .*"
    r"set allow_outside_project: true",
    "output_overlaps_input": r"key 'output\.processed_dir': the run's output folder .*data/raw/sample is the folder of "
    r"inputs\.transactions\.path .*Change output\.processed_dir",
    "duplicate_top_level_key": r"key 'tiering' is given twice \(lines 8 and 9\); YAML would silently keep the last one",
    "duplicate_nested_key": r"key 'churn\.high_risk' is given twice \(lines 9 and 11\)",
}


def write_params(tmp_path: Path, mutate=None, *, touch_inputs: bool = True) -> Path:
    params = yaml.safe_load((ROOT / "params" / "sample.yaml").read_text(encoding="utf-8"))
    params["allow_outside_project"] = True  # the inputs live under pytest's tmp_path
    (tmp_path / "in").mkdir(exist_ok=True)
    for spec in params["inputs"].values():
        spec["path"] = str(tmp_path / "in" / Path(spec["path"]).name)
        if touch_inputs:
            Path(spec["path"]).write_text("x", encoding="utf-8")
    if mutate:
        mutate(params)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize("name", ["sample.yaml", "sample_prev.yaml", "example_quarter.yaml"])
def test_shipped_params_files_are_valid(name):
    params = load_params(ROOT / "params" / name, check_files=False)
    assert params.inputs.transactions.path.is_absolute()
    assert params.output.processed_dir == ROOT / "data" / "processed"


def test_every_rule_fixture_has_its_expected_message():
    assert sorted(p.stem for p in FIXTURES.glob("*.yaml")) == sorted(RULES)


@pytest.mark.parametrize("name", sorted(RULES))
def test_a_broken_rule_is_refused_at_load_with_the_file_key_and_fix(name):
    path = FIXTURES / f"{name}.yaml"
    with pytest.raises(ParamsError) as err:
        load_params(path, check_files=False)
    message = str(err.value)
    assert message.startswith(str(path)), message
    assert "1 problem(s)" in message or "given twice" in message, message  # each fixture breaks one rule only
    assert len(re.findall(RULES[name], message)) == 1, message


def test_a_params_file_not_in_utf8_gets_a_one_line_message(tmp_path):
    path = tmp_path / "gbk.yaml"
    path.write_bytes("run: 第一季度\n".encode("gbk"))
    with pytest.raises(ParamsError) as err:
        load_params(path)
    assert str(err.value) == f"{path} is not UTF-8 text (byte 0xb5 at offset 5): save it as UTF-8"


def test_a_utf8_file_with_a_bom_reads(tmp_path):
    path = write_params(tmp_path)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert load_params(path).run == "sample"


def test_an_input_outside_the_project_is_read_only_when_allowed(tmp_path):
    project = tmp_path / "project"
    (project / "params").mkdir(parents=True)
    (project / "pyproject.toml").write_text("", encoding="utf-8")
    outside = tmp_path / "exports" / "elsewhere.csv"  # a folder of its own: not one holding the outputs
    outside.parent.mkdir()
    outside.write_text("x", encoding="utf-8")
    params = yaml.safe_load((FIXTURES / "input_outside_project.yaml").read_text(encoding="utf-8"))
    params["inputs"]["transactions"]["path"] = str(outside)
    path = project / "params" / "run.yaml"
    path.write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ParamsError, match=rf"{outside} is outside the project folder {project}"):
        load_params(path)
    params["allow_outside_project"] = True
    path.write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    assert load_params(path).inputs.transactions.path == outside


def test_an_output_folder_inside_an_input_folder_is_refused(tmp_path):
    def outputs_under_inputs(p):
        p["output"] = {"processed_dir": str(tmp_path / "in" / "out"), "reports_dir": str(tmp_path / "reports")}

    with pytest.raises(ParamsError, match=r"key 'output\.processed_dir': .* lies inside the folder of inputs\.transactions"):
        load_params(write_params(tmp_path, outputs_under_inputs))


def test_an_output_folder_redirected_onto_the_inputs_names_the_out_option(tmp_path):
    from analysis.frame.study import open_study

    path = write_params(tmp_path)
    with pytest.raises(ParamsError, match=r"key '--out \(or \$TIERING_OUT_ROOT\)': .* lies inside the folder of inputs"):
        open_study(path, out_root=tmp_path / "in" / "out")
    assert not (tmp_path / "in" / "out").exists()


def test_unknown_key_is_named_with_a_suggestion(tmp_path):
    path = write_params(tmp_path, lambda p: p.setdefault("scoring", {}).update({"time_unt": "D"}))
    with pytest.raises(ParamsError) as err:
        load_params(path)
    message = str(err.value)
    assert str(path) in message
    assert "scoring.time_unt" in message and "did you mean 'time_unit'" in message


def test_wrong_type_names_the_key_and_value(tmp_path):
    path = write_params(tmp_path, lambda p: p["tiering"].update({"n_tiers": 7}))
    with pytest.raises(ParamsError, match=r"tiering\.n_tiers.*got 7"):
        load_params(path)


def test_period_must_be_ordered(tmp_path):
    path = write_params(tmp_path, lambda p: p["period"].update({"start": "2026-01-01"}))
    with pytest.raises(ParamsError, match=r"period.*must be before"):
        load_params(path)


def test_missing_input_file_is_reported_before_any_work(tmp_path):
    path = write_params(tmp_path, touch_inputs=False)
    with pytest.raises(ParamsError) as err:
        load_params(path)
    assert "inputs.transactions.path" in str(err.value) and "does not exist" in str(err.value)


def test_mapping_onto_an_unknown_column_name(tmp_path):
    path = write_params(tmp_path, lambda p: p["inputs"]["transactions"]["columns"].update({"金额": "amout"}))
    with pytest.raises(ParamsError, match=r"amout"):
        load_params(path)


def test_relative_paths_resolve_against_the_project_folder():
    params = load_params(ROOT / "params" / "sample.yaml", check_files=False)
    assert params.inputs.transactions.path == ROOT / "data/raw/sample/transactions.csv"


# ---------------------------------------------------------------------------------------------
# Rules that need the data: checked against the input files' headers only.


def _headers_params(tmp_path: Path, transactions: str, customers: str | None = None, **tiering) -> Path:
    (tmp_path / "in").mkdir(exist_ok=True)
    (tmp_path / "in" / "t.csv").write_text(transactions, encoding="utf-8")
    params = {
        "run": "headers", "allow_outside_project": True,
        "period": {"start": "2024-01-01", "end": "2024-12-31"},
        "inputs": {"transactions": {"path": str(tmp_path / "in" / "t.csv"),
                                    "columns": {"客户编号": "customer_id", "订单日期": "order_date", "金额": "amount"}}},
        "tiering": {"n_tiers": 3, **tiering},
    }
    if customers is not None:
        (tmp_path / "in" / "c.csv").write_text(customers, encoding="utf-8")
        params["inputs"]["customers"] = {"path": str(tmp_path / "in" / "c.csv"), "columns": {"客户编号": "customer_id"}}
    path = tmp_path / "headers.yaml"
    path.write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    return path


def test_headers_are_read_from_the_head_of_a_large_file(tmp_path):
    rows = "".join(f"C{i:05d},2024-01-{1 + i % 28:02d},{i}.5\n" for i in range(40_000))
    path = _headers_params(tmp_path, "客户编号,订单日期,金额\n" + rows)
    params = load_params(path)
    assert input_headers(params.inputs.transactions, "transactions") == ["客户编号", "订单日期", "金额"]
    check_input_headers(params, path)


def test_a_mapped_header_missing_from_the_file_is_found_by_check(tmp_path):
    path = _headers_params(tmp_path, "客户编号,日期,金额\nC1,2024-01-01,1\n")
    params = load_params(path)
    with pytest.raises(ParamsError) as err:
        check_input_headers(params, path)
    assert str(path) in str(err.value)
    assert "'订单日期' (mapped to order_date) not found" in str(err.value) and "inputs.transactions.columns" in str(err.value)


def test_a_threshold_column_the_customer_master_lacks_is_found_by_check(tmp_path):
    rules = [{"column": "balance", "min": 100}, {"column": "balance", "min": 10, "max": 100}, {"column": "balance", "max": 10}]
    path = _headers_params(
        tmp_path, "客户编号,订单日期,金额\nC1,2024-01-01,1\n", customers="客户编号,存款余额\nC1,5\n",
        method="threshold", options={"rules": rules},
    )
    params = load_params(path)
    with pytest.raises(ParamsError, match=r"threshold rules use 'balance', which c\.csv does not provide; add "
                                          r"'<header in your file>: balance' under inputs\.customers\.columns"):
        check_input_headers(params, path)


def test_check_command_reports_params_and_header_problems_and_exits_2(tmp_path):
    path = _headers_params(tmp_path, "客户编号,日期,金额\nC1,2024-01-01,1\n")
    done = subprocess.run([sys.executable, "-m", "analysis", "check", str(path)], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: {path}: 1 problem(s)") and "订单日期" in done.stderr
    assert "Traceback" not in done.stderr


def test_check_command_says_ok_for_good_params(tmp_path):
    path = _headers_params(tmp_path, "客户编号,订单日期,金额\nC1,2024-01-01,1\n")
    done = subprocess.run([sys.executable, "-m", "analysis", "check", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "OK (run 'headers'" in done.stdout


@pytest.mark.slow  # reads the whole sample data set
def test_sample_inputs_match_their_mappings():
    if not (ROOT / "data/raw/sample/truth.json").is_file():
        pytest.skip("sample data not generated")
    path = ROOT / "params" / "sample.yaml"
    params = load_params(path)
    check_input_headers(params, path)
    assert "存款余额" in input_headers(params.inputs.customers, "customers")


def test_churn_training_bound_defaults_and_is_checked(tmp_path):
    assert load_params(write_params(tmp_path)).churn.max_training_customers == 200_000
    path = write_params(tmp_path, lambda p: p.setdefault("churn", {}).update({"max_training_customers": None}))
    assert load_params(path).churn.max_training_customers is None
    path = write_params(tmp_path, lambda p: p.setdefault("churn", {}).update({"max_training_customers": 50}))
    with pytest.raises(ParamsError, match=r"churn\.max_training_customers.*50"):
        load_params(path)


def test_checking_the_params_does_not_wait_for_scipys_optimizers():
    # the runner checks the params before the first kernel starts: scipy.optimize's import (0.45 s) is
    # left to the allocation stage, which solves with it
    code = (
        "import sys\n"
        "from analysis.frame.params import load_params\n"
        f"load_params({str(ROOT / 'params' / 'sample.yaml')!r})\n"
        "print('scipy.optimize' in sys.modules)\n"
    )
    assert printed_by_fresh_python(code) == "False"
