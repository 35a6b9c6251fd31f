"""The params file: valid files load; a wrong key, type or path stops the run with a precise message."""

from pathlib import Path

import pytest
import yaml

from analysis.params import ParamsError, load_params

ROOT = Path(__file__).resolve().parents[1]


def write_params(tmp_path: Path, mutate=None, *, touch_inputs: bool = True) -> Path:
    params = yaml.safe_load((ROOT / "params" / "sample.yaml").read_text(encoding="utf-8"))
    for spec in params["inputs"].values():
        spec["path"] = str(tmp_path / Path(spec["path"]).name)
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
