"""The params file: one YAML file says everything about a run.

The file is parsed into :class:`StudyParams`, a typed pydantic model. Every section forbids unknown
keys, so a typo stops the run before any work with a message that names the key, the file and the
fix. ``params/example_quarter.yaml`` documents every key.

Relative paths in a params file are resolved against the project folder: the nearest folder above
the params file that holds ``pyproject.toml`` (or, failing that, the params file's parent's parent,
since params files live in ``params/``).
"""

from __future__ import annotations

import difflib
import os
from datetime import date
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

TABLES = ("transactions", "customers", "surveys", "complaints")

#: The column names used inside the library (the data contracts); the params map user headers onto them.
CONTRACT_COLUMNS: dict[str, dict[str, bool]] = {
    # name -> required?
    "transactions": {
        "customer_id": True, "order_date": True, "amount": True, "order_id": False,
        "quantity": False, "product_category": False, "channel": False, "cost": False,
    },
    "customers": {
        "customer_id": True, "name": False, "industry": False, "region": False, "segment": False,
        "signup_date": False, "account_manager": False, "balance": False, "phone": False,
    },
    "surveys": {
        "customer_id": True, "survey_date": True, "overall_satisfaction": True, "recommend": False,
        "comment": False,
    },
    "complaints": {
        "customer_id": True, "opened": True, "closed": False, "category": False, "severity": False,
    },
}


class ParamsError(ValueError):
    """A params file is wrong: the message names the file, the key and the fix."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InputFile(_Section):
    path: Path
    format: Literal["auto", "csv", "xlsx", "parquet"] = "auto"
    encoding: Literal["auto", "utf-8", "utf-8-sig", "gbk", "gb18030"] = "auto"
    sheet: str | int | None = None
    columns: dict[str, str] = Field(default_factory=dict, description="user header -> contract name")


class Inputs(_Section):
    transactions: InputFile
    customers: InputFile | None = None
    surveys: InputFile | None = None
    complaints: InputFile | None = None


class Period(_Section):
    start: date
    end: date

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        if self.start >= self.end:
            raise ValueError(f"start ({self.start}) must be before end ({self.end})")
        return self


class OutlierRule(_Section):
    method: Literal["mad_log", "iqr", "none"] = "mad_log"
    threshold: float = Field(6.0, gt=0)
    action: Literal["flag", "quarantine"] = "flag"


class Cleaning(_Section):
    outliers: OutlierRule = OutlierRule()
    date_formats: list[str] = Field(
        default_factory=lambda: [
            "%Y-%m-%d", "%Y/%m/%d", "%Y年%m月%d日", "%Y%m%d", "%Y.%m.%d",
            "%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M:%S", "%Y-%m-%d %H:%M",
        ]
    )


class Scoring(_Section):
    engine: Literal["duckdb", "spark"] = "duckdb"
    time_unit: Literal["D", "W"] = "D"
    rfm_bins: int = Field(5, ge=2, le=10)
    rfm_thresholds: dict[Literal["r", "f", "m"], list[float]] | None = None
    segment_rules: list[dict[str, Any]] | None = None
    clv_horizon_months: int = Field(12, ge=1, le=120)
    annual_discount_rate: float = Field(0.10, ge=0, lt=1)
    margin: float | None = Field(None, gt=0, le=1)
    holdout_months: int = Field(6, ge=1, le=24)
    min_repeat_buyers: int = Field(100, ge=10)
    max_spend_frequency_corr: float = Field(0.3, gt=0, lt=1)


class Tiering(_Section):
    method: Literal["rfm", "clv", "pareto", "threshold", "kmeans", "composite"] = "clv"
    n_tiers: Literal[3, 4, 5] = 4
    names: dict[Literal["zh", "en"], list[str]] | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    compare_methods: list[Literal["rfm", "clv", "pareto", "threshold", "kmeans", "composite"]] = Field(
        default_factory=lambda: ["rfm", "clv", "pareto", "kmeans", "composite"]
    )
    previous_run: str | None = None


class Satisfaction(_Section):
    scale_max: Literal[5, 7, 10] = 10
    top_box: int = Field(2, ge=1, le=3)
    min_n: int = Field(30, ge=5)
    attributes: list[str] = Field(default_factory=list, description="contract names of the attribute ratings")
    attribute_labels: dict[str, dict[Literal["zh", "en"], str]] = Field(default_factory=dict)
    confidence: float = Field(0.95, gt=0.5, lt=1)
    alpha: float = Field(0.05, gt=0, lt=0.5)
    driver_method: Literal["shapley", "johnson"] = "shapley"


class Churn(_Section):
    horizon_days: int = Field(180, ge=30, le=730)
    high_risk: float = Field(0.6, gt=0, lt=1)
    medium_risk: float = Field(0.3, gt=0, lt=1)
    watch_tiers: list[int] = Field(default_factory=lambda: [1, 2])
    watch_list_size: int = Field(50, ge=1)
    lifecycle_rules: dict[str, Any] | None = None


class Allocation(_Section):
    budget: float = Field(1_000_000.0, gt=0)
    currency: str = "元"
    hours_available: dict[str, float] = Field(
        default_factory=lambda: {"senior": 480.0, "middle": 960.0, "junior": 1600.0}
    )
    response: dict[str, Any] = Field(default_factory=dict)
    playbook: dict[int, dict[str, Any]] = Field(default_factory=dict)
    min_share: float | dict[int, float] | None = None
    max_share: float | dict[int, float] | None = None


class Output(_Section):
    processed_dir: Path = Path("data/processed")
    reports_dir: Path = Path("reports")


class StudyParams(_Section):
    run: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    title: str | None = None
    language: Literal["zh", "en"] = "zh"
    report_also_in: list[Literal["zh", "en"]] = Field(default_factory=list)
    currency: str = "元"
    seed: int = 20261122
    period: Period
    inputs: Inputs
    cleaning: Cleaning = Cleaning()
    scoring: Scoring = Scoring()
    tiering: Tiering = Tiering()
    satisfaction: Satisfaction = Satisfaction()
    churn: Churn = Churn()
    allocation: Allocation = Allocation()
    output: Output = Output()

    @field_validator("inputs")
    @classmethod
    def _mapped_columns_are_contract_names(cls, inputs: Inputs) -> Inputs:
        for table in TABLES:
            spec = getattr(inputs, table)
            if spec is None:
                continue
            known = set(CONTRACT_COLUMNS[table])
            if table == "surveys":
                known |= set(spec.columns.values())  # attribute ratings take any name
            unknown = [v for v in spec.columns.values() if v not in known]
            if unknown:
                raise ValueError(
                    f"{table}.columns maps onto unknown column name(s) {unknown}; "
                    f"use one of {sorted(CONTRACT_COLUMNS[table])}"
                )
            targets = list(spec.columns.values())
            dupes = sorted({t for t in targets if targets.count(t) > 1})
            if dupes:
                raise ValueError(f"{table}.columns maps two headers onto {dupes}; map each name once")
        return inputs


def find_project_root(start: Path) -> Path:
    """The nearest folder at or above ``start`` holding pyproject.toml, else ``start``'s parent."""
    start = start.resolve()
    for folder in [start, *start.parents]:
        if (folder / "pyproject.toml").is_file():
            return folder
    return start.parent


def _describe_error(err: dict[str, Any], raw: dict[str, Any], model: type[BaseModel]) -> str:
    loc = ".".join(str(p) for p in err["loc"])
    kind = err["type"]
    if kind == "extra_forbidden":
        parent = _model_at(model, err["loc"][:-1])
        key = str(err["loc"][-1])
        allowed = sorted(parent.model_fields) if parent else []
        guess = difflib.get_close_matches(key, allowed, n=1)
        hint = f"did you mean '{guess[0]}'?" if guess else f"allowed keys here: {', '.join(allowed)}"
        return f"unknown key '{loc}': {hint}"
    if kind == "missing":
        return f"missing key '{loc}': add it (see params/example_quarter.yaml)"
    return f"key '{loc}': {err['msg']} (got {err.get('input')!r})"


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    current: Any = model
    for part in loc:
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(str(part))
        if field is None:
            return None
        annotation = field.annotation
        args = getattr(annotation, "__args__", ())
        candidates = [a for a in (annotation, *args) if isinstance(a, type) and issubclass(a, BaseModel)]
        current = candidates[0] if candidates else None
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def load_params(path: str | Path, *, check_files: bool = True) -> StudyParams:
    """Read and validate a params file; raise :class:`ParamsError` naming the key and the fix."""
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"params file {path} not found: pass the path of a YAML file such as params/sample.yaml")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path}: not valid YAML ({exc}); fix the indentation or quoting there") from exc
    if not isinstance(raw, dict):
        raise ParamsError(f"{path}: expected a mapping of keys at the top level, got {type(raw).__name__}")
    try:
        params = StudyParams.model_validate(raw)
    except ValidationError as exc:
        lines = [_describe_error(e, raw, StudyParams) for e in exc.errors()]
        raise ParamsError(f"{path}: {len(lines)} problem(s):\n  - " + "\n  - ".join(lines)) from None
    params = resolve_paths(params, find_project_root(path.parent))
    if check_files:
        check_input_files(params, path)
    return params


def resolve_paths(params: StudyParams, root: Path) -> StudyParams:
    """Make every path in ``params`` absolute, relative ones taken from the project folder ``root``."""

    def absolute(p: Path) -> Path:
        return p if p.is_absolute() else (root / p).resolve()

    inputs = {
        t: (spec.model_copy(update={"path": absolute(spec.path)}) if spec is not None else None)
        for t in TABLES
        for spec in [getattr(params.inputs, t)]
    }
    output = Output(
        processed_dir=absolute(params.output.processed_dir), reports_dir=absolute(params.output.reports_dir)
    )
    return params.model_copy(update={"inputs": Inputs(**inputs), "output": output})


def check_input_files(params: StudyParams, params_path: Path) -> None:
    missing = [
        f"inputs.{t}.path: {spec.path} does not exist; correct the path or put the file there"
        for t in TABLES
        for spec in [getattr(params.inputs, t)]
        if spec is not None and not spec.path.is_file()
    ]
    if missing:
        raise ParamsError(f"{params_path}: {len(missing)} input file(s) missing:\n  - " + "\n  - ".join(missing))


def with_output_root(params: StudyParams, out_root: str | Path | None) -> StudyParams:
    """Redirect processed/ and reports/ under ``out_root`` (tests and dry runs); None keeps the params' own."""
    out_root = out_root or os.environ.get("TIERING_OUT_ROOT") or None
    if not out_root:
        return params
    root = Path(out_root).resolve()
    return params.model_copy(
        update={"output": Output(processed_dir=root / "data/processed", reports_dir=root / "reports")}
    )
