"""The study history: every published run adds its quarter to one DuckDB file.

The file (``history.path``, default ``reports/history.duckdb``; ``history.enabled``) holds, per run:

``runs``
    one row: run name, series, period start and end, language, tier count and method, the purchase
    model and CLV method, customers, budget, currency, the attempt id and when the row was written;
``tiers``
    one row per tier: names, customers, revenue and value (CLV) with their shares, mean P(alive),
    repurchase rate, NPS, CSAT, loyalty, complaints per 100 customers, mean churn risk and the share
    at high risk, the budget and hours the allocation gave it;
``allocation``
    the allocation and playbook rows as stage 5 wrote them (messages kept as JSON text, codes as codes);
``models``
    every fitted parameter of the purchase and spend models (models.json), with its standard error;
``customers``
    per customer (``customer_id`` as stored in the outputs): tier, CLV, P(alive), churn risk and band.

The schema is written out below (:data:`SCHEMA`, one ``CREATE TABLE`` per table, with types) and
versioned (:data:`SCHEMA_VERSION`, kept in ``history_meta``); a file whose tables differ is refused
on open with what differs and how to fix it. Every key is checked when a run is added; DuckDB indexes
it too, except the customers' (:data:`UNINDEXED`), whose index made a rerun's replace slow.

When a run is added
-------------------
Only a run that succeeded is added, as part of its publish (:func:`analysis.frame.study.publish`):
after the staging folders are renamed onto ``data/processed/<run>/`` and ``reports/<run>/`` and
before the publish journal is removed, :func:`add_published` reads the published outputs and writes
them in one transaction. A run that fails or is interrupted before it publishes adds nothing; a
process killed during the transaction leaves the file as it was (DuckDB discards an uncommitted
transaction) and the journal still there, so the next run of the same name completes the publish
and adds the quarter then (:func:`analysis.frame.study.recover_publish`).

A quarter is a run name, and within a series a period end: adding a run replaces the rows of the
same run name and those of any other run of the same series with the same ``period.end`` (a rerun
under a new name), never duplicates them. Runs of several studies may share one file (each in its
``history.series``): every write holds an exclusive lock on ``<file>.lock``, every read a shared one.

The report (built before the publish) reads the file read-only and adds the run's own quarter from
its own outputs, gathered by the same :func:`collect` that the publish writes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.frame import catalog, storage
from analysis.frame.params import StudyParams, history_path
from analysis.frame.study import Study

#: Bumped whenever a table or column changes; a file of another version is refused on open.
SCHEMA_VERSION = 1
#: How long a write waits for another process holding the history file, in seconds.
LOCK_TIMEOUT = 120.0

#: Every table: its columns with their DuckDB types, and its key. The one statement of the schema.
SCHEMA: dict[str, tuple[tuple[tuple[str, str], ...], tuple[str, ...]]] = {
    "history_meta": ((("key", "VARCHAR"), ("value", "VARCHAR")), ("key",)),
    "runs": ((
        ("run", "VARCHAR"), ("series", "VARCHAR"), ("period_start", "DATE"), ("period_end", "DATE"),
        ("language", "VARCHAR"), ("n_tiers", "INTEGER"), ("tier_method", "VARCHAR"),
        ("purchase_model", "VARCHAR"), ("clv_method", "VARCHAR"), ("customers", "INTEGER"),
        ("budget", "DOUBLE"), ("currency", "VARCHAR"), ("attempt", "VARCHAR"), ("written_at", "TIMESTAMP"),
    ), ("run",)),
    "tiers": ((
        ("run", "VARCHAR"), ("tier", "INTEGER"), ("name_zh", "VARCHAR"), ("name_en", "VARCHAR"),
        ("customers", "INTEGER"), ("customer_share", "DOUBLE"), ("revenue", "DOUBLE"), ("revenue_share", "DOUBLE"),
        ("clv", "DOUBLE"), ("clv_share", "DOUBLE"), ("p_alive_mean", "DOUBLE"), ("repurchase_rate", "DOUBLE"),
        ("nps", "DOUBLE"), ("nps_n", "INTEGER"), ("csat_mean", "DOUBLE"), ("csat_respondents", "INTEGER"),
        ("loyalty_mean", "DOUBLE"), ("complaints", "INTEGER"), ("complaints_per_100", "DOUBLE"),
        ("churn_risk_mean", "DOUBLE"), ("high_risk_share", "DOUBLE"), ("budget", "DOUBLE"),
        ("budget_share", "DOUBLE"), ("hours_allocated", "DOUBLE"),
    ), ("run", "tier")),
    "allocation": ((
        ("run", "VARCHAR"), ("tier", "INTEGER"), ("customers", "INTEGER"), ("clv", "DOUBLE"), ("budget", "DOUBLE"),
        ("budget_share", "DOUBLE"), ("budget_per_customer", "DOUBLE"), ("budget_equal", "DOUBLE"),
        ("budget_revenue", "DOUBLE"), ("value_optimal", "DOUBLE"), ("value_equal", "DOUBLE"),
        ("value_revenue", "DOUBLE"), ("marginal_value", "DOUBLE"), ("bound", "VARCHAR"),
        ("manager_level", "VARCHAR"), ("service_model", "VARCHAR"), ("cadence", "VARCHAR"), ("channels", "VARCHAR"),
        ("offers", "VARCHAR"), ("contacts_per_month", "DOUBLE"), ("minutes_per_contact", "DOUBLE"),
        ("hours_per_customer", "DOUBLE"), ("hours_needed", "DOUBLE"), ("hours_allocated", "DOUBLE"),
        ("hours_coverage", "DOUBLE"), ("capacity_binding", "BOOLEAN"),
    ), ("run", "tier")),
    "models": ((
        ("run", "VARCHAR"), ("model", "VARCHAR"), ("parameter", "VARCHAR"), ("value", "DOUBLE"),
        ("standard_error", "DOUBLE"),
    ), ("run", "model", "parameter")),
    "customers": ((
        ("run", "VARCHAR"), ("customer_id", "VARCHAR"), ("tier", "INTEGER"), ("clv", "DOUBLE"), ("p_alive", "DOUBLE"),
        ("churn_risk", "DOUBLE"), ("risk_band", "VARCHAR"),
    ), ("run", "customer_id")),
}
#: The tables holding a run's rows, in the order they are written.
RUN_TABLES = ("runs", "tiers", "allocation", "models", "customers")
#: Tables whose key the writer checks (:func:`_check_keys`) instead of a DuckDB index: committing the
#: delete of a run's rows from an indexed table costs DuckDB about 30 µs a row (26 s for a rerun of
#: 840k customers), without the index a fraction of a second.
UNINDEXED = ("customers",)
#: The purchase and spend models whose parameters are kept (models.json keys).
MODEL_KEYS = ("bgnbd", "gamma_gamma")


class HistoryError(RuntimeError):
    """The history file cannot be used: not ours, another schema, locked too long. The message says how to fix it."""


@dataclass(frozen=True)
class RunRecords:
    """What one run adds to the history: one DataFrame per table of :data:`RUN_TABLES`."""

    runs: pd.DataFrame
    tiers: pd.DataFrame
    allocation: pd.DataFrame
    models: pd.DataFrame
    customers: pd.DataFrame

    @property
    def run(self) -> str:
        return str(self.runs["run"].iloc[0])

    def table(self, name: str) -> pd.DataFrame:
        return getattr(self, name)


def create_statements() -> list[str]:
    """The ``CREATE TABLE`` statements of :data:`SCHEMA`."""
    return [create_statement(table) for table in SCHEMA]


def create_statement(table: str, name: str | None = None) -> str:
    """``CREATE TABLE`` for ``table`` of :data:`SCHEMA` (named ``name``); its key a primary key unless :data:`UNINDEXED`."""
    columns, key = SCHEMA[table]
    body = ", ".join(f"{column} {kind}" + (" NOT NULL" if column in key else "") for column, kind in columns)
    if table not in UNINDEXED:
        body += f", PRIMARY KEY ({', '.join(key)})"
    return f"CREATE TABLE {name or table} ({body})"


# ---------------------------------------------------------------------------------------------
# Gathering a run's records from its outputs.


def _column(table: pd.DataFrame | None, column: str, tiers: pd.Series) -> pd.Series:
    """``column`` of a per-tier table lined up with ``tiers`` (NaN when the table or the tier is missing)."""
    if table is None or column not in table.columns or "tier" not in table.columns:
        return pd.Series(float("nan"), index=tiers.index)
    rows = table[table["tier"].notna()]
    values = dict(zip(rows["tier"].astype(int), rows[column]))
    return pd.Series([values.get(int(t), float("nan")) for t in tiers], index=tiers.index)


def _customer_means(customers: pd.DataFrame, tiers: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Mean churn risk and share at high risk per tier (NaN when stage 4 left them out)."""
    if "churn_risk" not in customers.columns:
        nan = pd.Series(float("nan"), index=tiers.index)
        return nan, nan
    grouped = customers.groupby("tier")
    risk = grouped["churn_risk"].mean()
    high = (customers.get("risk_band") == "high").groupby(customers["tier"]).mean() if "risk_band" in customers else None
    return (
        pd.Series([risk.get(int(t), float("nan")) for t in tiers], index=tiers.index),
        pd.Series([high.get(int(t), float("nan")) if high is not None else float("nan") for t in tiers], index=tiers.index),
    )


def _model_rows(run: str, models: dict[str, Any]) -> pd.DataFrame:
    """Every fitted parameter (and the log-likelihood) of the models that scored, one row each."""
    fitted = {key: models.get(key) for key in MODEL_KEYS}
    chosen = (models.get("purchase_model") or {}).get("name")
    if chosen and chosen not in fitted:
        fitted[chosen] = (models.get("purchase_model") or {}).get("summary")
    rows = []
    for model, summary in fitted.items():
        if not isinstance(summary, dict):
            continue
        errors = summary.get("standard_errors") or {}
        for parameter, value in (summary.get("params") or {}).items():
            rows.append((run, model, parameter, _number(value), _number(errors.get(parameter))))
        if summary.get("log_likelihood") is not None:
            rows.append((run, model, "log_likelihood", _number(summary["log_likelihood"]), None))
    return pd.DataFrame(rows, columns=[c for c, _ in SCHEMA["models"][0]])


def _number(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _conform(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    """``frame`` with exactly the table's columns, in order; a column the run lacks is empty."""
    columns = [name for name, _ in SCHEMA[table][0]]
    out = frame.reindex(columns=columns)
    for name, kind in SCHEMA[table][0]:
        if kind == "VARCHAR":
            out[name] = out[name].astype("string")
        elif kind == "INTEGER":
            out[name] = pd.to_numeric(out[name], errors="coerce").round().astype("Int64")
        elif kind == "DOUBLE":
            out[name] = pd.to_numeric(out[name], errors="coerce").astype("float64")
        elif kind == "BOOLEAN":
            out[name] = out[name].astype("boolean")
    return out.reset_index(drop=True)


#: The columns of customers.parquet the history keeps or averages.
CUSTOMER_COLUMNS = ("customer_id", "tier", "clv", "p_alive", "churn_risk", "risk_band")


def _customer_columns(study: Study) -> pd.DataFrame:
    """The :data:`CUSTOMER_COLUMNS` of customers.parquet that the run wrote (not its personal columns)."""
    return study.read(catalog.CUSTOMERS, columns=CUSTOMER_COLUMNS)


#: The outputs a run's records are gathered from (every full run writes them); the others are optional.
REQUIRED = (catalog.TIER_PROFILE, catalog.CUSTOMERS, catalog.TIERING_JSON, catalog.MODELS)


def collect(study: Study, *, attempt: str | None = None) -> RunRecords:
    """The records of ``study``'s run from its outputs (the staging folder while it runs, else the published one).

    Raises FileNotFoundError when an output every full run writes is missing.
    """
    p = study.params
    run = p.run
    profile = study.read(catalog.TIER_PROFILE)
    customers = _customer_columns(study)
    tiering = study.read(catalog.TIERING_JSON)
    models = study.read(catalog.MODELS)
    allocation = study.read_optional(catalog.ALLOCATION)
    allocation_record = study.read_optional(catalog.ALLOCATION_JSON) or {}
    names = (tiering.get("rule") or {}).get("names") or {}

    tiers = profile[["tier", "customers", "customer_share", "revenue", "revenue_share", "clv", "clv_share"]].copy()
    tiers["tier"] = tiers["tier"].astype(int)
    tiers.insert(0, "run", run)
    for language in ("zh", "en"):
        listed = names.get(language) or []
        tiers[f"name_{language}"] = [listed[t - 1] if 0 < t <= len(listed) else None for t in tiers["tier"]]
    tiers["p_alive_mean"] = profile.get("p_alive_mean")
    tiers["repurchase_rate"] = _column(study.read_optional(catalog.REPURCHASE), "repurchase_rate", tiers["tier"])
    nps = study.read_optional(catalog.NPS)
    tiers["nps"] = _column(nps, "nps", tiers["tier"])
    tiers["nps_n"] = _column(nps, "n", tiers["tier"])
    csat = study.read_optional(catalog.CSAT)
    tiers["csat_mean"] = _column(csat, "mean_satisfaction", tiers["tier"])
    tiers["csat_respondents"] = _column(csat, "respondents", tiers["tier"])
    tiers["loyalty_mean"] = _column(study.read_optional(catalog.LOYALTY), "mean", tiers["tier"])
    complaints = study.read_optional(catalog.COMPLAINTS_BY_TIER)
    tiers["complaints"] = _column(complaints, "complaints", tiers["tier"])
    tiers["complaints_per_100"] = _column(complaints, "complaints_per_100", tiers["tier"])
    tiers["churn_risk_mean"], tiers["high_risk_share"] = _customer_means(customers, tiers["tier"])
    tiers["budget"] = _column(allocation, "budget", tiers["tier"])
    tiers["budget_share"] = _column(allocation, "budget_share", tiers["tier"])
    tiers["hours_allocated"] = _column(allocation, "hours_allocated", tiers["tier"])

    allocation_rows = (allocation.assign(run=run) if allocation is not None
                       else pd.DataFrame(columns=[c for c, _ in SCHEMA["allocation"][0]]))
    per_customer = customers.reindex(columns=list(CUSTOMER_COLUMNS))
    per_customer.insert(0, "run", run)

    runs = pd.DataFrame([{
        "run": run, "series": p.history.series, "period_start": p.period.start, "period_end": p.period.end,
        "language": p.language, "n_tiers": int(tiering.get("n_tiers") or p.tiering.n_tiers),
        "tier_method": tiering.get("method") or p.tiering.method,
        "purchase_model": (models.get("purchase_model") or {}).get("name"),
        "clv_method": (models.get("clv") or {}).get("method"), "customers": len(customers),
        "budget": allocation_record.get("budget", p.allocation.budget), "currency": p.currency,
        "attempt": attempt or study.attempt, "written_at": datetime.now(UTC).replace(tzinfo=None),
    }])
    runs["period_start"] = pd.to_datetime(runs["period_start"])
    runs["period_end"] = pd.to_datetime(runs["period_end"])
    return RunRecords(
        runs=_conform(runs, "runs"),
        tiers=_conform(tiers, "tiers"),
        allocation=_conform(allocation_rows, "allocation"),
        models=_conform(_model_rows(run, models), "models"),
        customers=_conform(per_customer, "customers"),
    )


# ---------------------------------------------------------------------------------------------
# Opening the file: the lock, the schema check.


def _lock_path(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


@contextmanager
def _locked(path: Path, *, exclusive: bool, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """Hold ``<file>.lock``: exclusive to write, shared to read; wait up to ``timeout`` seconds."""
    try:
        import fcntl
    except ImportError:  # no advisory locks on this platform: DuckDB's own file lock still refuses a second writer
        yield
        return
    lock = _lock_path(path)
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("a+", encoding="utf-8") as handle:
        mode = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, mode)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise HistoryError(
                        f"the study history {path} is in use by another process (lock {lock}) for more than "
                        f"{timeout:.0f} s; wait for that run to finish, then try again"
                    ) from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _connect(path: Path, *, read_only: bool) -> Any:
    import duckdb

    try:
        return duckdb.connect(str(path), read_only=read_only)
    except duckdb.Error as exc:
        raise HistoryError(
            f"{path} cannot be opened as the study history ({type(exc).__name__}: {exc}). It is not a DuckDB file "
            f"this DuckDB ({duckdb.__version__}) can read. Point history.path at another file, or move this one "
            f"away (a new history is created on the next run)"
        ) from None


def schema_problems(con: Any) -> list[str]:
    """How the open file's tables differ from :data:`SCHEMA` (empty when they match)."""
    found: dict[str, list[tuple[str, str]]] = {}
    for table, column, kind in con.execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'main' ORDER BY table_name, ordinal_position"
    ).fetchall():
        found.setdefault(table, []).append((column, kind.upper()))
    problems = []
    for table, (columns, _) in SCHEMA.items():
        if table not in found:
            problems.append(f"table {table} is missing")
        elif found[table] != list(columns):
            have = ", ".join(f"{c} {k}" for c, k in found[table])
            want = ", ".join(f"{c} {k}" for c, k in columns)
            problems.append(f"table {table} has columns ({have}), expected ({want})")
    problems += [f"table {table} is not part of the history" for table in sorted(set(found) - set(SCHEMA))]
    if "history_meta" in found and not problems:
        row = con.execute("SELECT value FROM history_meta WHERE key = 'schema_version'").fetchone()
        if row is None or row[0] != str(SCHEMA_VERSION):
            problems.insert(0, f"schema version {row[0] if row else 'missing'}, expected {SCHEMA_VERSION}")
    return problems


def _check(con: Any, path: Path) -> None:
    problems = schema_problems(con)
    if problems:
        raise HistoryError(
            f"{path} is not a study history of schema version {SCHEMA_VERSION}:\n  - " + "\n  - ".join(problems)
            + f"\n  Point history.path at another file, or move {path.name} away (a new history is created on the "
            "next run); a history of an older version can be rebuilt from the published runs with "
            "`python -m analysis history add reports/<run>`"
        )


@contextmanager
def open_history(path: str | Path, *, write: bool) -> Iterator[Any]:
    """A DuckDB connection to the history at ``path``, its schema checked, under the file's lock.

    ``write`` creates the file (and its tables) when it is not there and locks it exclusively; a
    reader opens it read-only under a shared lock, and the file must exist.

    Raises
    ------
    HistoryError
        When the file is not a history of this schema, cannot be opened, or stays locked.
    FileNotFoundError
        When reading a file that does not exist.
    """
    path = Path(path)
    if not write and not path.is_file():
        raise FileNotFoundError(f"{path}: no study history there (a published run with history.enabled creates it)")
    with _locked(path, exclusive=write):
        if write:
            path.parent.mkdir(parents=True, exist_ok=True)
        con = _connect(path, read_only=not write)
        try:
            if write and not con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'main'").fetchone()[0]:
                con.execute("BEGIN TRANSACTION")
                for statement in create_statements():
                    con.execute(statement)
                con.execute("INSERT INTO history_meta VALUES ('schema_version', ?), ('written_by', 'analysis.frame.history')",
                            [str(SCHEMA_VERSION)])
                con.execute("COMMIT")
            _check(con, path)
            if write:
                _drop_indexes_of_unindexed(con)
            yield con
        finally:
            con.close()


def _drop_indexes_of_unindexed(con: Any) -> None:
    """Rebuild, once, a table of :data:`UNINDEXED` that a file of an earlier release created with its key indexed."""
    indexed = [table for (table,) in con.execute(
        "SELECT DISTINCT table_name FROM duckdb_constraints() WHERE schema_name = 'main' "
        "AND constraint_type = 'PRIMARY KEY' AND table_name IN (SELECT unnest(?))", [list(UNINDEXED)]
    ).fetchall()]
    for table in indexed:
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(create_statement(table, f"{table}_rebuilt"))
            con.execute(f"INSERT INTO {table}_rebuilt SELECT * FROM {table}")
            con.execute(f"DROP TABLE {table}")
            con.execute(f"ALTER TABLE {table}_rebuilt RENAME TO {table}")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise


def _check_keys(records: RunRecords) -> None:
    """Each table's key names one row at most (DuckDB checks it again where it indexes the key)."""
    for table in RUN_TABLES:
        key = list(SCHEMA[table][1])
        frame = records.table(table)
        repeated = frame[key][frame.duplicated(key)]
        if len(repeated):
            example = ", ".join(f"{k}={v!r}" for k, v in repeated.iloc[0].items())
            raise HistoryError(
                f"run {records.run!r} cannot be added to the history: its {table} table repeats the key "
                f"({', '.join(key)}) on {len(repeated):,} row{'s' * (len(repeated) != 1)}, e.g. {example}. The history keeps one row per key; "
                f"check the run's published outputs, then add it with `python -m analysis history add reports/{records.run}`"
            )


def check(path: Path | None) -> None:
    """Before a run does any work: an existing history file must be ours (:class:`HistoryError` otherwise)."""
    if path is not None and Path(path).is_file():
        with open_history(path, write=False):
            pass


# ---------------------------------------------------------------------------------------------
# Writing: append (replace) a run, remove a run.


def _insert(con: Any, table: str, frame: pd.DataFrame) -> None:
    columns = ", ".join(name for name, _ in SCHEMA[table][0])
    con.register("_history_rows", frame)  # a failed insert aborts the transaction; the connection then closes
    con.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM _history_rows")
    con.unregister("_history_rows")


def append(path: str | Path, records: RunRecords) -> list[str]:
    """Add one run in one transaction, replacing the same quarter; return the runs it replaced.

    The same quarter is the same run name, or a run of the same series with the same period end.
    Any error (or interrupt) inside the transaction rolls it back: the file keeps its old content.
    """
    row = records.runs.iloc[0]
    _check_keys(records)
    with open_history(path, write=True) as con:
        con.execute("BEGIN TRANSACTION")
        try:
            replaced = [r for (r,) in con.execute(
                "SELECT run FROM runs WHERE run = ? OR (series = ? AND period_end = ?) ORDER BY run",
                [records.run, str(row["series"]), pd.Timestamp(row["period_end"]).date()],
            ).fetchall()]
            if replaced:
                for table in reversed(RUN_TABLES):
                    con.execute(f"DELETE FROM {table} WHERE run IN (SELECT unnest(?))", [replaced])
            for table in RUN_TABLES:
                _insert(con, table, records.table(table))
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    return replaced


def remove(path: str | Path, run: str) -> bool:
    """Remove ``run`` from the history (every table, one transaction); False when it holds no such run.

    Raises FileNotFoundError when there is no history at ``path``.
    """
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: no study history there (a published run with history.enabled creates it)")
    with open_history(path, write=True) as con:
        con.execute("BEGIN TRANSACTION")
        try:
            found = con.execute("SELECT count(*) FROM runs WHERE run = ?", [run]).fetchone()[0] > 0
            for table in reversed(RUN_TABLES):
                con.execute(f"DELETE FROM {table} WHERE run = ?", [run])
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    return found


def add_published(study: Study) -> Path | None:
    """Add the published run of ``study``'s name to its history; the history file, or None when disabled.

    The run's own record (its manifest, beside the report) says which params it ran with, so a
    publish completed later by another attempt (:func:`analysis.frame.study.recover_publish`) adds
    the quarter that was published, with its own history settings.
    """
    return add_report_folder(study.published_reports_dir)


def add_report_folder(reports_dir: str | Path, path: str | Path | None = None) -> Path | None:
    """Add the published run whose report folder (``reports/<run>/``, holding its manifest) is ``reports_dir``.

    ``path`` overrides the history file the run's params name; None when the run had the history
    disabled and no ``path`` is given.
    """
    manifest_path = Path(reports_dir) / catalog.MANIFEST
    if not manifest_path.is_file():
        raise FileNotFoundError(f"{manifest_path} is missing: {reports_dir} is not the report folder of a published run")
    manifest = storage.read_json(manifest_path)
    if manifest.get("status") != "ok":
        raise ValueError(f"{manifest_path} has status {manifest.get('status')!r}: only a run that succeeded is added")
    params = StudyParams.model_validate(manifest["params"])
    target = Path(path) if path is not None else history_path(params)
    if target is None:
        return None
    published = Study(params, Path(manifest.get("params_file") or manifest_path))
    append(target, collect(published, attempt=manifest.get("attempt")))
    return target


# ---------------------------------------------------------------------------------------------
# Reading.


def list_runs(path: str | Path) -> pd.DataFrame:
    """The runs the history holds, oldest quarter first, with the rows each has per table."""
    with open_history(path, write=False) as con:
        return con.execute(
            "SELECT r.run, r.series, r.period_start, r.period_end, r.language, r.n_tiers, r.tier_method, "
            "r.customers, r.attempt, r.written_at, "
            "(SELECT count(*) FROM tiers t WHERE t.run = r.run) AS tier_rows, "
            "(SELECT count(*) FROM customers c WHERE c.run = r.run) AS customer_rows "
            "FROM runs r ORDER BY r.series, r.period_end, r.run"
        ).df()


def series_tiers(path: str | Path, series: str, *, exclude_run: str | None = None,
                 exclude_period_end: Any = None) -> pd.DataFrame:
    """The per-tier rows of one series with their run's period, oldest first; none when the file is not there.

    ``exclude_run`` and ``exclude_period_end`` leave out the quarter a run is about to replace.
    """
    columns = ["series", "period_start", "period_end", *[c for c, _ in SCHEMA["tiers"][0]]]
    if not Path(path).is_file():
        return pd.DataFrame(columns=columns)
    end = pd.Timestamp(exclude_period_end).date() if exclude_period_end is not None else None
    with open_history(path, write=False) as con:
        return con.execute(
            f"SELECT {', '.join('r.' + c if c in ('series', 'period_start', 'period_end') else 't.' + c for c in columns)} "
            "FROM tiers t JOIN runs r USING (run) "
            "WHERE r.series = ? AND r.run <> coalesce(?, '') AND r.period_end IS DISTINCT FROM ? "
            "ORDER BY r.period_end, t.tier",
            [series, exclude_run, end],
        ).df()


def quarters(study: Study) -> pd.DataFrame | None:
    """The per-tier rows of the run's series: the history's other quarters plus this run's own, from its outputs.

    None when ``history.enabled`` is false or the run lacks an output of :data:`REQUIRED`. The run's
    quarter replaces a stored one of the same run name or period end, as adding it will.
    """
    path = history_path(study.params)
    if path is None or not all(study.output(name).is_file() for name in REQUIRED):
        return None
    own = collect(study)
    row = own.runs.iloc[0]
    past = series_tiers(path, study.params.history.series, exclude_run=study.run, exclude_period_end=row["period_end"])
    current = own.tiers.assign(series=row["series"], period_start=row["period_start"], period_end=row["period_end"])
    frames = [f for f in (past, current[past.columns]) if not f.empty]
    combined = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0].reset_index(drop=True)
    combined["period_end"] = pd.to_datetime(combined["period_end"])
    return combined.sort_values(["period_end", "tier"], kind="mergesort").reset_index(drop=True)


def describe(path: str | Path) -> str:
    """The runs of the history as lines of text (for ``python -m analysis history list``)."""
    runs = list_runs(path)
    if runs.empty:
        return f"{path}: no runs"
    lines = [f"{path}: {len(runs)} run(s)"]
    for _, r in runs.iterrows():
        lines.append(
            f"  {r['run']:<20} series {r['series']:<10} {pd.Timestamp(r['period_start']).date()} – "
            f"{pd.Timestamp(r['period_end']).date()}  {r['n_tiers']} tiers ({r['tier_method']}), "
            f"{r['customers']} customers, written {pd.Timestamp(r['written_at']):%Y-%m-%d %H:%M} UTC"
            + (f", attempt {r['attempt']}" if isinstance(r['attempt'], str) and r['attempt'] else "")
        )
    return "\n".join(lines)

