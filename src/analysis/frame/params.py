"""The params file: one YAML file says everything about a run.

The file is parsed into :class:`StudyParams`, a typed pydantic model. Every section forbids unknown
keys, so a typo stops the run before any work with a message that names the key, the file and the
fix. ``params/example_quarter.yaml`` documents every key.

Relative paths in a params file are resolved against the project folder: the nearest folder above
the params file that holds ``pyproject.toml`` (or, failing that, the params file's parent's parent,
since params files live in ``params/``). Input files must lie inside that folder unless the params
say ``allow_outside_project: true``, and a run's output folders must be apart from the inputs' folders.

Rules that span keys or belong to a method (tier names per tier, RFM cut points, risk levels, budget
shares, a tiering method's options, …) are checked at load too (:func:`rule_problems`), and the
rules that need the data against the input files' header rows (:func:`check_input_headers`).
"""

from __future__ import annotations

import codecs
import difflib
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NoReturn

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

if TYPE_CHECKING:
    import pandas as pd

TABLES = ("transactions", "customers", "surveys", "complaints", "managers", "contacts")

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
    "managers": {
        "manager_id": True, "name": False, "level": True, "region": False, "hours_per_month": False,
        "max_accounts": False, "start_date": False,
    },
    "contacts": {
        "customer_id": True, "contact_date": True, "channel": False, "account_manager": False,
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
    sep: Literal["auto", ",", ";", "\t", "tab", "|"] = Field(
        "auto", description="csv separator; auto: the one that splits the mapped headers apart"
    )
    header_row: int | None = Field(
        None, ge=1, description="1-based row of the header; default: the first row holding the mapped headers"
    )


class Inputs(_Section):
    transactions: InputFile
    customers: InputFile | None = None
    surveys: InputFile | None = None
    complaints: InputFile | None = None
    managers: InputFile | None = None
    contacts: InputFile | None = None


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
    excel_serial_dates: bool = Field(
        True, description="read whole or decimal numbers 20000-80000 in date columns as Excel serial dates"
    )
    zero_amount_orders: Literal["purchase", "exclude"] = Field(
        "purchase", description="whether an order of net amount 0 counts as a purchase occasion"
    )
    pad_ids_to_master: bool = Field(
        True, description="zero-pad short digit customer ids to the master's form (7919 → 00007919) when that form is in the master"
    )
    grand_total_tolerance: float = Field(
        0.005, ge=0, le=0.05,
        description="a transaction whose amount equals the sum of the other rows within this share is a grand-total line; 0: off",
    )


class Scoring(_Section):
    engine: Literal["duckdb", "spark"] = Field(
        "duckdb",
        description="duckdb (embedded) or spark (the active Spark session, or a local one): the customer summaries and "
        "the spend per category; on spark the transactions' batches are also read and typed by Spark's executors",
    )
    engine_memory_limit: str | None = Field(
        "1GB",
        description="the most memory DuckDB may take for its queries (the customer summaries, the spend per category), "
        "e.g. 512MB or 2GB; beyond it, it spills to a temporary folder; null: DuckDB's default, 80 % of the machine's memory",
    )
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
    purchase_model: Literal["auto", "bgnbd", "pareto_nbd"] = Field(
        "auto", description="auto: the purchase model that predicts the holdout better (BG/NBD without one); or force one"
    )
    interval_draws: int = Field(
        200, ge=0, le=5000,
        description="draws of the models' parameters for the CLV intervals and tier probabilities; 0: none",
    )
    interval_level: float = Field(0.9, ge=0.5, lt=1, description="coverage of the CLV and value-share intervals")

    @field_validator("engine_memory_limit")
    @classmethod
    def _memory_size(cls, value: str | None) -> str | None:
        from analysis.methods.duckdb_session import check_memory_size

        return None if value is None else check_memory_size(value)

    @field_validator("interval_draws")
    @classmethod
    def _enough_draws(cls, value: int) -> int:
        if 0 < value < 50:
            raise ValueError(
                f"interval_draws: {value} draws are too few for the 5 % and 95 % quantiles; use 0 (no intervals) "
                "or at least 50 (200 is the default)"
            )
        return value


class Tiering(_Section):
    method: Literal["rfm", "clv", "pareto", "threshold", "kmeans", "composite"] = "clv"
    n_tiers: Literal[3, 4, 5] = 4
    names: dict[Literal["zh", "en"], list[str]] | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    compare_methods: list[Literal["rfm", "clv", "pareto", "threshold", "kmeans", "composite"]] = Field(
        default_factory=lambda: ["rfm", "clv", "pareto", "kmeans", "composite"]
    )
    previous_run: str | None = None
    carry_cutoffs: bool = Field(False, description="tier with the previous run's cut-offs instead of fresh ones")
    hysteresis: float = Field(
        0.0,
        description="band around each cut-off, a share of its value: a customer leaves last quarter's tier only beyond it",
    )
    borderline_below: float = Field(
        0.8, gt=0.5, le=1,
        description="a customer whose tier holds in fewer than this share of the CLV parameter draws is borderline",
    )


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
    max_training_customers: int | None = Field(
        200_000, ge=1_000,
        description="above this many customers in the training window the churn model is trained on a sample of "
                    "this size, stratified by label and tier (validation and scores still use every customer); "
                    "null: no bound",
    )


class Allocation(_Section):
    budget: float = Field(1_000_000.0, gt=0)  # in the run's top-level ``currency``
    hours_available: dict[str, float] = Field(
        default_factory=lambda: {"senior": 480.0, "middle": 960.0, "junior": 1600.0}
    )
    response: dict[str, Any] = Field(default_factory=dict)
    playbook: dict[int, dict[str, Any]] = Field(default_factory=dict)
    min_share: float | dict[int, float] | None = None
    max_share: float | dict[int, float] | None = None


class Actions(_Section):
    """The customer actions of stage 5: the win-back list and the cross-sell suggestions."""

    winback_size: int = Field(50, ge=1, description="at most this many lost customers on the win-back list")
    winback_max_p_alive: float = Field(
        0.3, gt=0, lt=1, description="a customer is lost when stage 4 calls them so or P(alive) is below this"
    )
    winback_value_quantile: float = Field(
        0.75, ge=0, lt=1,
        description="value floor: a lost customer's revenue must reach this quantile of all customers' revenue",
    )
    cross_sell_tiers: list[int] = Field(
        default_factory=lambda: [2], description="tiers given cross-sell suggestions (default the second tier)"
    )
    cross_sell_k: int = Field(1, ge=1, le=5, description="categories suggested per customer, and checked on the holdout")
    cross_sell_holdout_months: int = Field(
        3, ge=1, le=12, description="the suggestions are checked on the period's last months, fitted on those before"
    )


ManagerLevel = Literal["senior", "middle", "junior"]
#: Hours per month for accounts of a manager whose file gives none, by level.
MANAGER_HOURS_DEFAULT = {"senior": 110.0, "middle": 130.0, "junior": 150.0}


class Managers(_Section):
    """The account managers' scorecard and performance levels (stage 6, :mod:`analysis.methods.managers`)."""

    show_names: bool = Field(False, description="show managers' names in the report; false: their codes (KM-01 …)")
    default_level: ManagerLevel = Field(
        "middle", description="level of a manager known only from the customer master (no inputs.managers)"
    )
    hours_per_month: dict[ManagerLevel, float] = Field(
        default_factory=lambda: dict(MANAGER_HOURS_DEFAULT),
        description="hours per month for accounts, by level, of a manager whose file gives none",
    )
    confidence: float = Field(0.95, gt=0.5, lt=1, description="level of the scorecard's intervals")
    level_weights: dict[Literal["performance", "service", "retention"], float] = Field(
        default_factory=lambda: {"performance": 0.4, "service": 0.3, "retention": 0.3},
        description="weights of 业绩 (value), 服务 (satisfaction, complaints) and 保有 (retention) in the composite",
    )
    level_cutoffs: list[float] = Field(
        default_factory=lambda: [0.5, -0.5],
        description="composite (in standard deviations) from which a manager is level A, then B; below: C",
    )
    region_rule: Literal["hard", "preference"] = Field(
        "hard", description="assignment: hard — a customer is served only by a manager of its region; "
        "preference — by any, at region_cost for another region",
    )
    region_cost: float = Field(
        0.0, ge=0, description="assignment: value (currency) given up per customer served outside its region "
        "(region_rule: preference)",
    )
    switching_cost: float = Field(
        0.0, ge=0, description="assignment: value (currency) a move to another manager costs; a customer keeps "
        "the current manager unless moving keeps more than this",
    )
    allow_higher_level: bool = Field(
        False, description="assignment: a more senior level than the playbook's may serve a tier (never a "
        "less senior one)",
    )
    keep_higher_level: bool = Field(
        True, description="assignment: a customer whose current manager is more senior than the playbook's "
        "level may stay with them (new assignments keep to the playbook's level)",
    )
    level_factor: dict[ManagerLevel, float] = Field(
        default_factory=lambda: {"senior": 1.0, "middle": 0.9, "junior": 0.8},
        description="assignment: relative effect of a level; a level serving a tier keeps factor[level] / "
        "factor[playbook level] of the tier's uplift",
    )
    manager_cost: dict[ManagerLevel, float] = Field(
        default_factory=dict, description="capacity plan: cost (currency) per month of one more manager, by "
        "level; empty: the plan weighs only the value lost",
    )
    value_bands: int | None = Field(
        16, ge=1, description="assignment: value bands per customer group the optimiser starts from (null: "
        "one per distinct value); either way it splits them until the optimum is proven",
    )

    @field_validator("hours_per_month")
    @classmethod
    def _hours(cls, hours: dict[str, float]) -> dict[str, float]:
        bad = {k: v for k, v in hours.items() if not v > 0}
        if bad:
            raise ValueError(f"hours must be > 0 per month, got {bad}")
        return {**MANAGER_HOURS_DEFAULT, **hours}  # a level left out keeps its default

    @field_validator("level_factor")
    @classmethod
    def _level_factor(cls, factor: dict[str, float]) -> dict[str, float]:
        missing = [lv for lv in ("senior", "middle", "junior") if lv not in factor]
        bad = {k: v for k, v in factor.items() if not v > 0}
        if missing or bad:
            raise ValueError(f"give a factor > 0 for each of senior, middle, junior; missing {missing}, "
                             f"not above 0: {bad}")
        return factor

    @field_validator("manager_cost")
    @classmethod
    def _manager_cost(cls, cost: dict[str, float]) -> dict[str, float]:
        bad = {k: v for k, v in cost.items() if not v >= 0}
        if bad:
            raise ValueError(f"a manager's cost per month must be ≥ 0, got {bad}")
        return cost

    @field_validator("level_weights")
    @classmethod
    def _weights(cls, weights: dict[str, float]) -> dict[str, float]:
        if any(v < 0 for v in weights.values()) or not sum(weights.values()) > 0:
            raise ValueError(f"weights must be ≥ 0 with a positive sum, got {weights}")
        return weights

    @field_validator("level_cutoffs")
    @classmethod
    def _cutoffs(cls, cutoffs: list[float]) -> list[float]:
        if len(cutoffs) != 2 or cutoffs[0] <= cutoffs[1]:
            raise ValueError(f"give two cut-offs, the A one above the B one (e.g. [0.5, -0.5]), got {cutoffs}")
        return cutoffs


class Quality(_Section):
    """The data-quality gate (:mod:`analysis.methods.quality_gate`), applied at the end of cleaning."""

    max_set_aside_share: float = Field(0.2, ge=0, le=1, description="largest share of an input's rows set aside")
    max_reason_share: float = Field(0.1, ge=0, le=1, description="largest share of an input's rows set aside for one reason")
    on_breach: Literal["stop", "warn"] = Field("stop", description="stop the run, or run on and show the breaches")
    min_join_share: float = Field(
        0.8, ge=0, le=1,
        description="smallest share of transaction customers in the master, and of survey/complaint customers among buyers",
    )


#: The folder, inside ``output.processed_dir`` and ``output.reports_dir``, where a run writes before it is
#: published (see :mod:`analysis.frame.study`).
STAGING_FOLDER = ".staging"


class Output(_Section):
    processed_dir: Path = Path("data/processed")
    reports_dir: Path = Path("reports")


class History(_Section):
    """The study history (:mod:`analysis.frame.history`): every published run adds its quarter to one DuckDB file."""

    enabled: bool = Field(True, description="add each published run to the history and show the Trends section")
    path: Path | None = Field(
        None, description="the DuckDB file; default history.duckdb in output.reports_dir (reports/history.duckdb)"
    )
    series: str = Field(
        "main", min_length=1, max_length=100,
        description="the series of quarters this run belongs to; the Trends section shows the runs of one series",
    )


def history_path(params: StudyParams) -> Path | None:
    """The history file the run adds its quarter to and the report reads, or None when ``history.enabled`` is false."""
    if not params.history.enabled:
        return None
    return params.history.path or params.output.reports_dir / HISTORY_FILE


#: The history file's name inside ``output.reports_dir`` when ``history.path`` is not given.
HISTORY_FILE = "history.duckdb"


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
    actions: Actions = Actions()
    quality: Quality = Quality()
    managers: Managers = Managers()
    output: Output = Output()
    history: History = History()
    allow_outside_project: bool = Field(
        False, description="read input files outside the project folder (refused by default)"
    )

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


# ---------------------------------------------------------------------------------------------
# Reading the file: UTF-8 text, YAML without a repeated key.


class _RepeatedKeyError(ValueError):
    """A mapping in the YAML gives the same key twice."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """A SafeLoader that refuses a key given twice in one mapping (plain YAML silently keeps the last)."""

    def get_single_node(self) -> yaml.Node | None:
        node = super().get_single_node()
        if node is not None:
            _refuse_repeated_keys(node)
        return node


def _refuse_repeated_keys(root: yaml.Node) -> None:
    """Walk the composed document; raise :class:`_RepeatedKeyError` naming the dotted key and both lines."""
    stack: list[tuple[yaml.Node, str]] = [(root, "")]
    seen_nodes: set[int] = set()
    while stack:
        node, where = stack.pop()
        if id(node) in seen_nodes:  # an alias repeats a node: walk it once
            continue
        seen_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            first_line: dict[tuple[str, str], int] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = f"{where}.{key_node.value}" if where else str(key_node.value)
                ident, line = (key_node.tag, key_node.value), key_node.start_mark.line + 1
                if ident in first_line:
                    raise _RepeatedKeyError(
                        f"key '{key}' is given twice (lines {first_line[ident]} and {line}); YAML would "
                        f"silently keep the last one. Keep one '{key_node.value}' and delete the other"
                    )
                first_line[ident] = line
                stack.append((value_node, key))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, f"{where}[{i}]") for i, item in enumerate(node.value))


def _utf8_text(path: Path) -> str:
    """The file's text (UTF-8, with or without a BOM); a one-line error naming the first bad byte otherwise."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ParamsError(
            f"{path} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}): save it as UTF-8"
        ) from None


def read_params_file(path: Path) -> dict[str, Any]:
    """The params file as a mapping: UTF-8, valid YAML, a mapping at the top, no key given twice."""
    if not path.is_file():
        raise ParamsError(f"params file {path} not found: pass the path of a YAML file such as params/sample.yaml")
    text = _utf8_text(path)
    try:
        raw = yaml.load(text, Loader=_UniqueKeyLoader) or {}  # a SafeLoader: no arbitrary objects
    except _RepeatedKeyError as exc:
        raise ParamsError(f"{path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path}: not valid YAML ({exc}); fix the indentation or quoting there") from None
    if not isinstance(raw, dict):
        raise ParamsError(f"{path}: expected a mapping of keys at the top level, got {type(raw).__name__}")
    return raw


def _raise_problems(path: Path, problems: list[str]) -> NoReturn:
    raise ParamsError(f"{path}: {len(problems)} problem(s):\n  - " + "\n  - ".join(problems))


def load_params(path: str | Path, *, check_files: bool = True) -> StudyParams:
    """Read and validate a params file; raise :class:`ParamsError` naming the file, each key and its fix.

    Checked, before any work: the file is UTF-8 YAML with no key given twice; every key and type
    (:class:`StudyParams`); every rule that spans keys or belongs to a method (:func:`rule_problems`);
    input paths inside the project folder unless ``allow_outside_project: true``; output folders
    apart from the inputs' folders; and, with ``check_files``, that every input file exists. The
    rules that need the input files' headers are checked by :func:`check_input_headers`
    (``python -m analysis check`` and the runner call it).
    """
    path = Path(path)
    raw = read_params_file(path)
    try:
        params = StudyParams.model_validate(raw)
    except ValidationError as exc:
        _raise_problems(path, [_describe_error(e, raw, StudyParams) for e in exc.errors()])
    root = find_project_root(path.parent)
    params = resolve_paths(params, root)
    problems = rule_problems(params) + outside_project_problems(params, root) + output_overlap_problems(params)
    if check_files:
        problems += missing_input_problems(params)
    if problems:
        _raise_problems(path, problems)
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
    history = params.history.model_copy(
        update={"path": absolute(params.history.path) if params.history.path is not None else None}
    )
    return params.model_copy(update={"inputs": Inputs(**inputs), "output": output, "history": history})


def given_inputs(params: StudyParams) -> Iterator[tuple[str, InputFile]]:
    """(table, spec) of every input the params name, in :data:`TABLES` order."""
    for table in TABLES:
        spec = getattr(params.inputs, table)
        if spec is not None:
            yield table, spec


def missing_input_problems(params: StudyParams) -> list[str]:
    return [
        f"inputs.{table}.path: {spec.path} does not exist; correct the path or put the file there"
        for table, spec in given_inputs(params)
        if not spec.path.is_file()
    ]


def with_output_root(params: StudyParams, out_root: str | Path | None) -> StudyParams:
    """Redirect processed/ and reports/ under ``out_root`` (tests and dry runs); None keeps the params' own."""
    out_root = out_root or os.environ.get("TIERING_OUT_ROOT") or None
    if not out_root:
        return params
    root = Path(out_root).resolve()
    # the history goes along: a redirected run never adds its quarter to the project's own history
    history = params.history.model_copy(update={"path": None})
    return params.model_copy(
        update={"output": Output(processed_dir=root / "data/processed", reports_dir=root / "reports"), "history": history}
    )


# ---------------------------------------------------------------------------------------------
# Where files are: inputs inside the project, outputs apart from the inputs.


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def outside_project_problems(params: StudyParams, root: Path) -> list[str]:
    """Input files outside the project folder, unless the params say ``allow_outside_project: true``."""
    if params.allow_outside_project:
        return []
    root = root.resolve()
    return [
        f"key 'inputs.{table}.path': {spec.path} is outside the project folder {root}; move the file "
        f"under the project (e.g. data/raw/), or set allow_outside_project: true at the top of the "
        f"params file if reading it from there is intended"
        for table, spec in given_inputs(params)
        if not _inside(spec.path.resolve(), root)
    ]


def run_output_folders(params: StudyParams) -> dict[str, list[Path]]:
    """The folders a run writes or replaces, per output key: its own folder and its staging folder."""
    return {
        key: [base / params.run, base / STAGING_FOLDER / params.run]
        for key, base in (("output.processed_dir", params.output.processed_dir),
                          ("output.reports_dir", params.output.reports_dir))
    }


def output_overlap_problems(params: StudyParams, *, set_by: str | None = None) -> list[str]:
    """Output folders that contain, or lie inside, an input file's folder.

    A run replaces its output folders as a whole when it publishes, so such a folder could
    overwrite or delete an input. ``set_by`` names what set the output folders when not the params'
    ``output`` keys (``--out``).
    """
    problems = []
    for key, folders in run_output_folders(params).items():
        for table, spec in given_inputs(params):
            source = spec.path.resolve().parent
            for folder in (f.resolve() for f in folders):
                relation = _overlap(folder, source)
                if relation:
                    change = set_by or f"{key} (default {Output.model_fields[key.split('.')[1]].default})"
                    problems.append(
                        f"key '{set_by or key}': the run's output folder {folder} {relation} the folder of "
                        f"inputs.{table}.path ({spec.path}), so writing the run could overwrite or delete that "
                        f"input. Change {change} to a folder apart from the inputs, or move the input"
                    )
                    break
    return problems


def _overlap(output: Path, source: Path) -> str | None:
    if output == source:
        return "is"
    if _inside(source, output):
        return "contains"
    if _inside(output, source):
        return "lies inside"
    return None


# ---------------------------------------------------------------------------------------------
# Rules that span keys or belong to a method: checked at load, before any stage runs.


def _keyed(key: str, message: str) -> str:
    """'key '<key>': <message>', unless the message already starts with a key."""
    return message if message.startswith((key, "key '", "unknown key '")) else f"key '{key}': {message}"


def _hint(key: str, allowed: list[str] | tuple[str, ...]) -> str:
    guess = difflib.get_close_matches(key, list(allowed), n=1)
    return f"did you mean '{guess[0]}'?" if guess else f"allowed keys here: {', '.join(allowed)}"


def rule_problems(params: StudyParams) -> list[str]:
    """Every rule of the params that one key's type cannot express; one line per problem."""
    checks: tuple[Callable[[StudyParams], list[str]], ...] = (
        _tiering_problems, _scoring_problems, _churn_problems, _allocation_problems,
        _cleaning_problems, _satisfaction_problems, _actions_problems,
    )
    return [problem for check in checks for problem in check(params)]


def _option_key_problems(options: dict[str, Any]) -> list[str]:
    """Unknown keys in ``tiering.options`` and in its per-method sub-mappings."""
    from analysis.methods.tiers import METHODS, OPTION_KEYS

    known = sorted({k for keys in OPTION_KEYS.values() for k in keys})
    problems = []
    for key, value in options.items():
        if key not in METHODS:
            if key not in known:
                problems.append(f"unknown key 'tiering.options.{key}': {_hint(key, [*known, *METHODS])}")
            continue
        if value is None:
            continue
        if not isinstance(value, dict):
            problems.append(f"key 'tiering.options.{key}': must be a mapping of option keys, got {value!r}")
            continue
        problems += [
            f"unknown key 'tiering.options.{key}.{sub}' (method '{key}'): {_hint(sub, OPTION_KEYS[key])}"
            for sub in value
            if sub not in OPTION_KEYS[key]
        ]
    return problems


def _tiering_problems(params: StudyParams) -> list[str]:
    from analysis.methods import tiers

    t = params.tiering
    key_problems = _option_key_problems(t.options)
    problems = key_problems + _tier_name_problems(params)
    if not key_problems:  # the options can be read per method
        for method in dict.fromkeys([t.method, *t.compare_methods]):
            where = "tiering.options" if method == t.method else "tiering.options (method listed in tiering.compare_methods)"
            options = tiers.method_options(t.options, method)
            problems += [
                f"key '{where}': {_with_method(message, method)}"
                for message in _method_option_problems(method, options, t.n_tiers)
            ]
        problems += _threshold_master_problems(params)
    if t.previous_run == params.run:
        problems.append(
            f"key 'tiering.previous_run': names this run itself ('{params.run}'); give the previous "
            "quarter's run name, or delete the key"
        )
    return problems + _stability_problems(t)


def _stability_problems(t: Any) -> list[str]:
    """``hysteresis`` is a share from 0 to 0.5; it and ``carry_cutoffs`` act on last quarter's run, so
    they need ``previous_run``."""
    if not 0 <= t.hysteresis <= 0.5:
        return [
            f"key 'tiering.hysteresis': {t.hysteresis:g} is outside 0..0.5; it is a share of each boundary's value "
            "(0.05: a customer changes tier only when the score is beyond the boundary by 5 % of it), 0 turns it off"
        ]
    if t.previous_run:
        return []
    asked = [f"carry_cutoffs: {str(t.carry_cutoffs).lower()}"] if t.carry_cutoffs else []
    asked += [f"hysteresis: {t.hysteresis:g}"] if t.hysteresis > 0 else []
    return [
        f"key 'tiering.{setting.split(':')[0]}': {setting} works on last quarter's tiers, but tiering.previous_run "
        "is not given; name the previous quarter's run in tiering.previous_run, or turn it off "
        "(carry_cutoffs: false, hysteresis: 0)"
        for setting in asked
    ]


def _tier_name_problems(params: StudyParams) -> list[str]:
    """``tiering.names``: n_tiers distinct names in each language given."""
    from analysis.methods import tiers

    t, problems = params.tiering, []
    for language in t.names or {}:
        try:
            tiers.tier_names(t.n_tiers, language, t.names)
        except tiers.TieringError as exc:
            problems.append(f"key 'tiering.names.{language}': {exc}")
    return problems


def _with_method(message: str, method: str) -> str:
    """A message of :mod:`analysis.methods.tiers` that names its method once."""
    return message if message.startswith(f"method '{method}'") else f"method '{method}': {message}"


def _method_option_problems(method: str, options: dict[str, Any], n_tiers: int) -> list[str]:
    """What :mod:`analysis.methods.tiers` would refuse in one method's options, found without any data."""
    from analysis.methods import tiers

    checks: list[Callable[[], object]] = []
    if method in ("rfm", "clv"):
        if options.get("cutoffs") is not None:
            checks.append(lambda: tiers._lower_bounds(options["cutoffs"], n_tiers, method))
        else:
            checks.append(lambda: tiers._shares(options, n_tiers, method))
    elif method == "composite":
        checks += [
            lambda: tiers._shares(options, n_tiers, method),
            lambda: tiers._composite_weights(options.get("weights")),
            lambda: _one_of(options.get("potential", "clv"), ("clv", "uplift"), "potential"),
        ]
    elif method == "pareto":
        checks.append(lambda: _pareto_value_shares(options, n_tiers))
    elif method == "threshold":
        checks.append(lambda: _threshold_rules(options, n_tiers))
    elif method == "kmeans":
        checks.append(lambda: _kmeans_options(options))
    problems = []
    for check in checks:
        try:
            check()
        except (tiers.TieringError, TypeError, ValueError) as exc:
            problems.append(str(exc))
    return problems


def _one_of(value: Any, allowed: tuple[str, ...], key: str) -> None:
    if value not in allowed:
        raise ValueError(f"{key} '{value}' is unknown; use one of {', '.join(allowed)}")


def _pareto_value_shares(options: dict[str, Any], n_tiers: int) -> None:
    from analysis.methods.tiers import DEFAULT_VALUE_SHARES

    raw = options.get("value_shares", DEFAULT_VALUE_SHARES.get(n_tiers, ()))
    shares = [float(s) for s in raw]
    if (
        len(shares) != n_tiers - 1
        or any(not 0 < s < 1 for s in shares)
        or any(b <= a for a, b in zip(shares, shares[1:], strict=False))
    ):
        raise ValueError(
            f"value_shares {list(raw)} must be {n_tiers - 1} increasing cumulative shares between 0 and 1 "
            f"for {n_tiers} tiers, e.g. {list(DEFAULT_VALUE_SHARES.get(n_tiers, (0.8, 0.95)))}"
        )


def _threshold_rules(options: dict[str, Any], n_tiers: int) -> list[dict[str, Any]]:
    """The rules as :mod:`analysis.methods.tiers` reads them: one per tier, min < max, no gap or overlap on one column."""
    import pandas as pd

    from analysis.methods import tiers

    raw = options.get("rules")
    columns = [r["column"] for r in raw or [] if isinstance(r, dict) and "column" in r] if isinstance(raw, list) else []
    rules = tiers._threshold_rules(raw, n_tiers, pd.DataFrame(columns=["customer_id", *dict.fromkeys(columns)]))
    if len({r["column"] for r in rules}) == 1:
        tiers._check_rule_intervals(rules)
    tiers._missing_tier(options.get("missing_tier"), n_tiers)
    return rules


def _kmeans_options(options: dict[str, Any]) -> None:
    features = options.get("features")
    if features is not None and (not isinstance(features, list) or not features or len(set(features)) != len(features)):
        raise ValueError(f"features {features!r} must be a non-empty list of column names without repeats")
    n_init = options.get("n_init", 1)
    if isinstance(n_init, bool) or not isinstance(n_init, int) or n_init < 1:
        raise ValueError(f"n_init {n_init!r} must be a whole number ≥ 1")


def _threshold_columns(params: StudyParams) -> list[str]:
    """Columns named by the threshold rules, when threshold tiering is used at all."""
    from analysis.methods import tiers

    t = params.tiering
    if "threshold" not in (t.method, *t.compare_methods):
        return []
    rules = tiers.method_options(t.options, "threshold").get("rules") or []
    return list(dict.fromkeys(str(r["column"]) for r in rules if isinstance(r, dict) and "column" in r))


def _threshold_master_problems(params: StudyParams) -> list[str]:
    """A threshold rule on a customer-master column (e.g. balance) needs inputs.customers."""
    master = [c for c in _threshold_columns(params) if c in CONTRACT_COLUMNS["customers"]]
    if not master or params.inputs.customers is not None:
        return []
    return [
        f"key 'tiering.options': the threshold rules use {master}, which come from the customer master, "
        f"but inputs.customers is not given; add inputs.customers with '<header in your file>: {master[0]}' "
        "under its columns"
    ]


def _scoring_problems(params: StudyParams) -> list[str]:
    from analysis.methods import rfm

    s = params.scoring
    problems = []
    try:
        rfm._check_thresholds(s.rfm_thresholds, s.rfm_bins)
    except rfm.RFMError as exc:
        where = re.match(r"rfm_thresholds\.(\w) \((\w+)\) (.*)", str(exc), flags=re.DOTALL)
        message = f"key 'scoring.rfm_thresholds.{where[1]}' ({where[2]}): {where[3]}" if where else str(exc)
        problems.append(_keyed("scoring.rfm_thresholds", message) + " (ascending: days for r, orders for f, money for m)")
    segment_problems = rfm.validate_segment_rules(s.segment_rules or rfm.DEFAULT_SEGMENT_RULES, s.rfm_bins)
    if segment_problems and s.segment_rules is None:
        problems.append(
            f"key 'scoring.rfm_bins': the default segment rules are written for {rfm.DEFAULT_RULES_BINS} bins; "
            f"with rfm_bins: {s.rfm_bins} set scoring.segment_rules for {s.rfm_bins} bins, or use rfm_bins: "
            f"{rfm.DEFAULT_RULES_BINS}"
        )
    elif segment_problems:
        problems.append("key 'scoring.segment_rules': " + "; ".join(segment_problems))
    return problems


def _churn_problems(params: StudyParams) -> list[str]:
    from analysis.methods import lifecycle

    c, n_tiers = params.churn, params.tiering.n_tiers
    problems = []
    if c.medium_risk >= c.high_risk:
        problems.append(
            f"key 'churn.medium_risk': {c.medium_risk:g} must be below churn.high_risk ({c.high_risk:g}); "
            "lower medium_risk or raise high_risk"
        )
    missing = [t for t in c.watch_tiers if not 1 <= t <= n_tiers]
    if missing:
        problems.append(
            f"key 'churn.watch_tiers': tier(s) {missing} do not exist with tiering.n_tiers: {n_tiers}; "
            f"use tier numbers 1..{n_tiers} (1 = best)"
        )
    try:
        lifecycle.lifecycle_rules(c.lifecycle_rules)
    except lifecycle.LifecycleInputError as exc:
        problems.append(_keyed("churn.lifecycle_rules", str(exc)))
    return problems


def _actions_problems(params: StudyParams) -> list[str]:
    a, n_tiers = params.actions, params.tiering.n_tiers
    problems = []
    if not a.cross_sell_tiers:
        problems.append(
            f"key 'actions.cross_sell_tiers': no tier given; name the tiers to suggest categories to, "
            f"e.g. [2] (tier numbers 1..{n_tiers}, 1 = best)"
        )
    missing = [t for t in a.cross_sell_tiers if not 1 <= t <= n_tiers]
    if missing:
        problems.append(
            f"key 'actions.cross_sell_tiers': tier(s) {missing} do not exist with tiering.n_tiers: {n_tiers}; "
            f"use tier numbers 1..{n_tiers} (1 = best)"
        )
    repeated = sorted({t for t in a.cross_sell_tiers if a.cross_sell_tiers.count(t) > 1})
    if repeated:
        problems.append(f"key 'actions.cross_sell_tiers': tier(s) {repeated} named twice; name each tier once")
    return problems


def _allocation_problems(params: StudyParams) -> list[str]:
    import pandas as pd

    from analysis.methods import allocation, playbook

    a, n_tiers = params.allocation, params.tiering.n_tiers
    tiers = list(range(1, n_tiers + 1))
    problems = []
    book = None
    try:
        book = playbook.merge_playbook(playbook.default_playbook(n_tiers), a.playbook)
    except playbook.PlaybookError as exc:
        problems.append(_keyed("allocation.playbook", str(exc)))
    try:
        curves = allocation.response_curves_from_params(a.response)
        unknown = sorted({t for curve in curves for t in curve.tiers} - set(tiers))
        if unknown:
            problems.append(
                f"key 'allocation.response.tiers': tier(s) {unknown} do not exist with tiering.n_tiers: "
                f"{n_tiers}; use tier numbers 1..{n_tiers}"
            )
    except allocation.AllocationError as exc:
        problems.append(_keyed("allocation.response", str(exc)))
    try:
        allocation._share_bounds(pd.Index(tiers), a.budget, a.min_share, a.max_share)
    except allocation.AllocationError as exc:
        key = "allocation.max_share" if str(exc).startswith("max_share") else "allocation.min_share"
        problems.append(f"key '{key}': {exc} (with {n_tiers} tiers; a single number applies to every tier)")
    if book is not None:
        try:
            allocation._check_hours_available(a.hours_available, book)
        except allocation.AllocationError as exc:
            problems.append(_keyed("allocation.hours_available", str(exc)))
    return problems


def _cleaning_problems(params: StudyParams) -> list[str]:
    formats = getattr(params.cleaning, "date_formats", None)
    if formats is None:
        return []
    if not formats:
        return [
            "key 'cleaning.date_formats': the list is empty, so no date could be read; list at least one "
            "format such as '%Y-%m-%d', or delete the key to use the defaults"
        ]
    bad = [f for f in formats if "%" not in f]
    if bad:
        return [f"key 'cleaning.date_formats': {bad} hold no strftime directive; write formats such as '%Y-%m-%d'"]
    return []


def _satisfaction_problems(params: StudyParams) -> list[str]:
    s = params.satisfaction
    problems = []
    repeated = sorted({a for a in s.attributes if s.attributes.count(a) > 1})
    if repeated:
        problems.append(f"key 'satisfaction.attributes': {repeated} listed twice; list each attribute once")
    problems += [
        f"key 'satisfaction.attribute_labels.{name}': '{name}' is not in satisfaction.attributes; add it "
        "there or delete its label"
        for name in s.attribute_labels
        if name not in s.attributes
    ]
    surveys = params.inputs.surveys
    if surveys is not None:
        mapped = set(surveys.columns.values())
        unmapped = [a for a in s.attributes if a not in mapped]
        if unmapped:
            problems.append(
                f"key 'satisfaction.attributes': {unmapped} are not mapped in inputs.surveys.columns, so the "
                f"surveys would not hold them; add '<header in your file>: {unmapped[0]}' there, or drop "
                "them from satisfaction.attributes"
            )
    return problems


# ---------------------------------------------------------------------------------------------
# Rules that need the input files: checked against their header rows only.

_HEADER_BYTES = 1 << 18  # enough for any header row and the title lines above it


def check_input_headers(params: StudyParams, params_path: Path) -> None:
    """Raise :class:`ParamsError` when a mapping or rule does not fit the input files' headers.

    Reads the header of each input only (the head of a csv, the schema of a parquet file; a
    spreadsheet is opened as a whole).
    """
    problems = header_problems(params)
    if problems:
        _raise_problems(params_path, problems)


def header_problems(params: StudyParams) -> list[str]:
    """Mapped headers absent from a file, required columns not mapped, rule columns not in the data."""
    import pandas as pd

    from analysis.methods.loading import SOURCE_ROW, InputFileError, map_columns

    problems, headers = [], {}
    for table, spec in given_inputs(params):
        try:
            headers[table] = input_headers(spec, table)
            map_columns(pd.DataFrame(columns=[*headers[table], SOURCE_ROW]), spec, table)
        except InputFileError as exc:
            problems.append(f"inputs.{table}: {exc}")
    master = [c for c in _threshold_columns(params) if c in CONTRACT_COLUMNS["customers"]]
    customers = params.inputs.customers
    if master and customers is not None and "customers" in headers:
        available = set(customers.columns.values()) | set(headers["customers"])
        problems += [
            f"key 'tiering.options': threshold rules use '{c}', which {customers.path.name} does not provide; "
            f"add '<header in your file>: {c}' under inputs.customers.columns"
            for c in master
            if c not in available
        ]
    if "surveys" in headers and not any(p.startswith("inputs.surveys") for p in problems):
        problems += survey_scale_problems(params)
    return problems


#: Share of readable overall-satisfaction answers allowed off the 1..scale_max scale before the check fails.
MAX_OFF_SCALE_SHARE = 0.05
SCALES = (5, 7, 10)


def survey_scale_problems(params: StudyParams) -> list[str]:
    """``satisfaction.scale_max`` against the surveys' answers: more than 5 % off 1..scale_max is an error.

    Reads the surveys file whole (with the cleaning stage's reader) and looks at the readable
    ``overall_satisfaction`` answers; a share above :data:`MAX_OFF_SCALE_SHARE` above ``scale_max``
    or below 1 means the scale or the column mapping is wrong.
    """
    from analysis.methods.cleaning import rating_numbers
    from analysis.methods.loading import InputFileError, map_columns, read_input

    spec = params.inputs.surveys
    if spec is None or "overall_satisfaction" not in spec.columns.values():
        return []
    try:
        frame = map_columns(read_input(spec, "surveys").frame, spec, "surveys")
    except InputFileError as exc:
        return [f"inputs.surveys: {exc}"]
    if "overall_satisfaction" not in frame.columns:
        return []
    answers = rating_numbers(frame["overall_satisfaction"]).dropna()
    return scale_problems(answers, params.satisfaction.scale_max, spec.path.name)


def scale_problems(answers: pd.Series, scale_max: int, file_name: str) -> list[str]:
    """The problem, if any, of readable answers on a 1..``scale_max`` scale.

    Parameters
    ----------
    answers
        The readable (numeric, not missing) overall-satisfaction answers.
    scale_max
        ``satisfaction.scale_max``.
    file_name
        The surveys file, named in the message.
    """
    if len(answers) == 0:
        return []
    off = (answers > scale_max) | (answers < 1)
    if off.mean() <= MAX_OFF_SCALE_SHARE:
        return []
    low, high = float(answers.min()), float(answers.max())
    seen = f"{low:g}–{high:g}"
    fitting = [m for m in SCALES if m >= high]
    if low >= 1 and fitting:
        fix = f"answers run {seen}: set satisfaction.scale_max: {fitting[0]}"
    elif low >= 0 and high <= 10:
        fix = (f"answers run {seen}, below 1 on a 1..scale_max scale: this looks like a 0–10 recommend column; "
               "map the overall-satisfaction header onto overall_satisfaction in inputs.surveys.columns, or recode 0 answers")
    else:
        fix = (f"answers run {seen}, outside every supported scale (1–5, 1–7, 1–10): check which header is mapped "
               "onto overall_satisfaction in inputs.surveys.columns")
    return [
        f"key 'satisfaction.scale_max': {off.mean():.0%} of the {len(answers):,} readable overall_satisfaction "
        f"answers in {file_name} lie outside 1–{scale_max}; {fix}"
    ]


def input_headers(spec: InputFile, table: str) -> list[str]:
    """The column headers of one input file, found the way the cleaning stage will read it."""
    from analysis.methods.loading import SOURCE_ROW, InputFileError, detect_format, read_input

    fmt = detect_format(spec.path) if spec.format == "auto" else spec.format
    if fmt == "parquet":
        import pyarrow.parquet as pq

        try:
            names = pq.read_schema(spec.path).names
        except Exception as exc:  # the reader's own message, with the file named
            raise InputFileError(f"{spec.path}: cannot read as parquet: {exc}") from exc
        return [str(n).strip() for n in names if not str(n).startswith("__index_level_")]
    frame = _read_head(spec, table) if fmt == "csv" else read_input(spec, table).frame
    return [str(c) for c in frame.columns if c != SOURCE_ROW]


def _read_head(spec: InputFile, table: str) -> Any:
    """Read the first whole lines of a delimited file with the cleaning stage's own reader."""
    from analysis.methods.loading import InputFileError, read_input

    with spec.path.open("rb") as fh:
        data = fh.read(_HEADER_BYTES + 1)
    if len(data) <= _HEADER_BYTES:
        return read_input(spec, table).frame
    with tempfile.TemporaryDirectory(prefix="tiering-header-") as folder:
        head = Path(folder) / spec.path.name
        head.write_bytes(_whole_lines(data[:_HEADER_BYTES]))
        try:
            return read_input(spec.model_copy(update={"path": head}), table).frame
        except InputFileError as exc:
            raise InputFileError(str(exc).replace(str(head), str(spec.path))) from None


def _whole_lines(data: bytes) -> bytes:
    """``data`` cut after its last complete line (utf-16 aware)."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        newline = b"\n\x00" if data.startswith(codecs.BOM_UTF16_LE) else b"\x00\n"
        end = data.rfind(newline)
        while end > 0 and end % 2:
            end = data.rfind(newline, 0, end)
        return data[: end + 2] if end > 0 else data
    end = data.rfind(b"\n")
    return data[: end + 1] if end > 0 else data
