"""Run a whole study: the notebooks in order with Papermill, their HTML, the report and the manifest.

A run is all or nothing. Before any stage, the params are validated (every key and rule) and
checked against the input files' headers. Each attempt then writes into its own staging folders
(``data/processed/.staging/<run>/<attempt>/`` and ``reports/.staging/<run>/<attempt>/``, see
:mod:`analysis.frame.study`); the notebook kernels find them through ``$TIERING_STAGING``. Only when
every stage and the report succeeded are the staging folders published onto
``data/processed/<run>/`` and ``reports/<run>/``.

Publishing also adds the run's quarter to the study history (:mod:`analysis.frame.history`), in
one transaction, after the folders are renamed and before the publish journal is removed: a run
that fails or is interrupted adds nothing, and a publish cut short (a kill) is completed by the next
run of the same name, the history included. The history file is checked before any stage runs.

Every failure is reported the same way, whichever step failed: a plain message naming the step,
the error and where to look, and a manifest with ``status: failed``, the failing step and the
message, in the attempt's staging folder. The last good outputs of the run stay as they were.

Each notebook receives the same two parameters (``params_path``, ``out_root``) and talks to the
others only through the files in the processed folder.

Personal data stays on the analyst's side: the executed notebooks (``.ipynb`` and their HTML, which
show customer-level rows) are written to ``data/processed/<run>/notebooks/``, beside the
customer-level outputs, and published with them. ``reports/<run>/`` holds only the manager's report
and the manifest. Each full run draws a new salt for the report's customer codes
(:mod:`analysis.frame.privacy`), kept in the processed folder too.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import logging
import os
import platform
import shutil
import signal
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from analysis.frame import catalog, history, privacy, storage
from analysis.frame.kernels import KERNEL_ARGUMENTS, KernelsAhead, handled_stops
from analysis.frame.params import check_input_headers, given_inputs, history_path
from analysis.frame.study import (
    STAGING_ENV,
    Study,
    open_study,
    publish,
    recover_publish,
    remove_stale_attempts,
)
from analysis.methods.cores import beside
from analysis.methods.memory import release_free_memory, without_transparent_huge_pages
from analysis.report.other_languages import OtherLanguages

if TYPE_CHECKING:
    from jupyter_client.manager import AsyncKernelManager

# nbformat (Papermill's) validates notebooks with jsonschema, which imports rfc3987_syntax when it is
# installed (JupyterLab's dependencies bring it) for its IRI format checks: that module builds a grammar
# as it is imported, 0.85 s of Papermill's 1.1 s import, which the runner's checks of the inputs wait for
# at the start of every run. The notebook schema checks no IRI, so the import is turned away here.
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]

NOTEBOOK_DIR = Path(__file__).resolve().parents[3] / "notebooks"
#: The executed notebooks' folder, inside the run's processed folder (the analyst's side).
EXECUTED_NOTEBOOKS = "notebooks"
STAGES = ("01_clean", "02_rfm_clv", "03_tiers", "04_satisfaction_loyalty", "05_allocation", "06_managers")
REPORT_STEP = "report"
REPORT_MODULE = "analysis.report.build"
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
RECORDED_PACKAGES = (
    "pandas", "numpy", "scipy", "scikit-learn", "duckdb", "pyspark", "matplotlib", "seaborn",
    "papermill", "nbconvert", "pydantic", "pyarrow",
)
LOCK_FILE = "run.lock"
REPORT_TRACEBACK = "report_error.txt"


class StageFailed(RuntimeError):
    """A stage or the report step failed: the message names the step, the error and where to look."""

    def __init__(self, message: str, *, stage: str | None = None, manifest: Path | None = None) -> None:
        super().__init__(message)
        self.stage = stage
        self.manifest = manifest


class RunInterrupted(KeyboardInterrupt):
    """The run was interrupted (Ctrl-C or SIGTERM); nothing was published. The message says where to look."""

    def __init__(self, message: str, *, stage: str | None = None, manifest: Path | None = None) -> None:
        super().__init__(message)
        self.stage = stage
        self.manifest = manifest


class _StepFailed(Exception):
    """Raised inside the runner by one step; turned into :class:`StageFailed` with the run's context."""

    def __init__(self, summary: str, see: Path | None = None, *, step: str | None = None) -> None:
        super().__init__(summary)
        self.summary = summary
        self.see = see
        self.step = step  # when not the step running: a notebook whose HTML was written in the background


@dataclass
class StageTiming:
    stage: str
    seconds: float
    status: str


@dataclass
class RunRecord:
    """What the manifest records: the study, when it started, the inputs' fingerprints, each step's timing."""

    study: Study
    inputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    started: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    stages: list[StageTiming] = field(default_factory=list)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        # large reads: the hashing lets go of the interpreter lock, and a thread beside it (the run's
        # imports) takes it back at each read (a 775 MB export in chunks of 1 MiB: 0.6 s became 2.9 s)
        for chunk in iter(lambda: fh.read(1 << 24), b""):
            digest.update(chunk)
    return digest.hexdigest()


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in RECORDED_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def input_fingerprints(study: Study) -> dict[str, dict[str, Any]]:
    """Path, SHA-256 and size of every input, taken once when the run starts."""
    return {
        table: {"path": str(spec.path), "sha256": sha256(spec.path), "bytes": spec.path.stat().st_size}
        for table, spec in given_inputs(study.params)
    }


def write_manifest(record: RunRecord, status: str, **extra: Any) -> Path:
    """Write ``manifest.json`` in the run's report folder (the attempt's staging folder while it runs).

    ``status`` is ``running`` (with the current ``stage``), ``failed`` (with ``failed_stage`` and
    ``error``) or ``ok``.
    """
    study = record.study
    p = study.params
    manifest: dict[str, Any] = {
        "run": p.run,
        "status": status,
        **extra,
        "attempt": study.attempt,
        "started": record.started,
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "params_file": str(study.params_path),
        "params": p.model_dump(mode="json"),
        "seed": p.seed,
        "inputs": record.inputs,
        "packages": package_versions(),
        "platform": platform.platform(),
        "stages": [t.__dict__ for t in record.stages],
        "total_seconds": round(sum(t.seconds for t in record.stages), 2),
    }
    return study.write(catalog.MANIFEST, manifest)


def export_notebook_html(notebook: Path, target: Path) -> Path:
    """The executed notebook as HTML with its code, for analysts and reviewers."""
    import nbformat
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nbformat.read(notebook, as_version=4))
    return storage.write_text(body, target)


# ---------------------------------------------------------------------------------------------
# One step each: a notebook stage, the report.


def kernel_config() -> Any:
    """Kernel transport settings: CurveZMQ encryption when pyzmq has it, else Unix-socket IPC.

    Either way the kernel no longer runs over plain TCP, so it no longer prints its
    "Kernel is running over TCP without encryption" warning at every stage; its other messages
    (and every cell error, which comes back through the notebook) are left as they are.
    """
    import zmq
    from traitlets.config import Config

    if zmq.has("curve"):
        return Config({"KernelManager": {"transport_encryption": "auto"}})
    if os.name == "posix":
        return Config({"KernelManager": {"transport": "ipc"}})
    return Config()


@contextmanager
def _quiet_kernel_channels() -> Iterator[None]:
    """Hide tornado's log of errors in the kernel channels' callbacks while a notebook runs.

    When a kernel is shut down after a failing cell, a callback on its closing sockets may fail, and
    tornado would print that traceback beside the runner's plain message. Every cell error comes
    back through the notebook, and a dead kernel raises in papermill, so nothing is lost.
    """
    logger = logging.getLogger("tornado.general")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def executed_notebooks_dir(study: Study) -> Path:
    """``data/processed/<run>/notebooks/`` (the attempt's while it runs): the executed notebooks and their HTML."""
    return study.processed_dir / EXECUTED_NOTEBOOKS


def _notebook(stage: str) -> Path:
    return NOTEBOOK_DIR / f"{stage}.ipynb"


def _execute(study: Study, stage: str, out_root: str, progress: bool, kernel: AsyncKernelManager | None = None) -> Path:
    """Run one notebook into the attempt's processed folder; :class:`_StepFailed` on any error (with
    the failed notebook's HTML). The HTML of a notebook that ran is the caller's (:class:`NotebookPages`).

    ``kernel``: one started ahead for it (:mod:`analysis.frame.kernels`; the caller shuts it down);
    without one, Papermill starts and stops the kernel.
    """
    import papermill as pm

    target = executed_notebooks_dir(study) / f"{stage}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    html = target.with_suffix(".html")
    try:
        with _quiet_kernel_channels():
            pm.execute_notebook(
                str(_notebook(stage)),
                str(target),
                parameters={"params_path": str(study.params_path), "out_root": out_root},
                cwd=str(NOTEBOOK_DIR),
                progress_bar=progress,
                kernel_name="python3",
                config=kernel_config(),
                extra_arguments=list(KERNEL_ARGUMENTS),
                km=kernel,
                shutdown_kernel="immediate",  # the kernel Papermill starts, as kernels.shut_down stops ours
            )
    except pm.PapermillExecutionError as exc:
        see = _try_export(target, html)
        raise _StepFailed(f"in cell {exc.exec_count}: {exc.ename}: {exc.evalue}", see) from None
    except Exception as exc:  # the kernel died, did not start, timed out, ...
        see = _try_export(target, html) if target.is_file() else None
        raise _StepFailed(f"with {type(exc).__name__}: {exc}", see) from None
    return target


class NotebookPages:
    """The executed notebooks' HTML, written on a thread while the next step runs (this process only
    waits for that step's kernel meanwhile). :meth:`wait` raises :class:`_StepFailed` for the first
    notebook whose HTML could not be written."""

    def __init__(self) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="notebook html")
        self._pending: list[tuple[str, Path, Any]] = []

    def submit(self, step: str, notebook: Path) -> None:
        self._pending.append((step, notebook, self._pool.submit(export_notebook_html, notebook, notebook.with_suffix(".html"))))

    def wait(self) -> None:
        while self._pending:
            step, notebook, written = self._pending.pop(0)
            try:
                written.result()
            except Exception as exc:
                raise _StepFailed(f"writing the HTML of the executed notebook: {type(exc).__name__}: {exc}", notebook,
                                  step=step) from None

    def __enter__(self) -> NotebookPages:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True)


def _try_export(notebook: Path, html: Path) -> Path:
    """The HTML of a failed notebook when it can be written, else the notebook itself."""
    try:
        return export_notebook_html(notebook, html)
    except Exception:
        return notebook


@contextmanager
def kernels_ahead(study: Study, steps: list[str]) -> Iterator[KernelsAhead]:
    """The run's stage kernels (:class:`~analysis.frame.kernels.KernelsAhead`), started with the
    environment the stages need; the first step's kernel starts at once.

    Each waits warm (its notebook's modules imported: about 220 MB) beside the step before it, which
    saves about 2 s per step. At 10M rows the study's peak is then 2,844 MiB, against 2,774 when the
    kernel waiting beside stage 1 started bare (about 50 MB), and stage 2 takes 1.4 s less."""
    notebooks = {s: _notebook(s) for s in steps if s != REPORT_STEP}
    with (kernel_environment(study.attempt or ""),
          KernelsAhead(notebooks, kernel_config()) as kernels):
        kernels.start(steps[0])
        yield kernels


def _import_in_background(module: str) -> None:
    """Import ``module`` on a thread while this process checks the inputs or waits for a kernel; an error
    is left to the step that imports it (Python's import lock makes that step wait for this import to finish)."""

    def load() -> None:
        try:
            importlib.import_module(module)
        except Exception:
            pass

    threading.Thread(target=load, name=f"import {module}", daemon=True).start()


def _build_report(study: Study, others: OtherLanguages | None = None) -> Path:
    """The manager report; any error becomes :class:`_StepFailed` with its traceback saved beside it."""
    from analysis.report.build import build_report

    try:
        return build_report(study, others)
    except Exception as exc:
        where = traceback.extract_tb(exc.__traceback__)[-1]
        saved = storage.write_text(
            "".join(traceback.format_exception(exc)), study.reports_dir / REPORT_TRACEBACK
        )
        raise _StepFailed(
            f"with {type(exc).__name__}: {exc} (in {Path(where.filename).name} line {where.lineno}, {where.name})",
            saved,
        ) from None


# ---------------------------------------------------------------------------------------------
# The run: lock, staging, steps, publish.


def new_attempt_id() -> str:
    """A sortable id, unique per process and moment: ``20260401T093012-12345``."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{os.getpid()}"


@contextmanager
def run_lock(study: Study) -> Iterator[None]:
    """Hold an exclusive lock on the run name (released by the OS if the process dies)."""
    root = study.processed_staging_root
    root.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # no advisory locks on this platform: runs of one name must not overlap
        yield
        return
    with (root / LOCK_FILE).open("a+", encoding="utf-8") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            raise StageFailed(
                f"another run of '{study.run}' is in progress ({fh.read().strip() or 'unknown process'}); "
                "wait for it to finish or stop it, then run again"
            ) from None
        fh.truncate(0)
        fh.write(f"pid {os.getpid()}, attempt {study.attempt}\n")
        fh.flush()
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextmanager
def kernel_environment(attempt: str) -> Iterator[None]:
    """The variables the stage kernels inherit while they start; restored afterwards.

    ``$TIERING_STAGING`` points the stages at the attempt's staging folders; ``$MPLBACKEND`` is
    matplotlib's inline backend, so every chart a notebook draws is shown in it (a caller's own
    setting, such as the test suite's off-screen ``Agg``, must not reach the analyst notebooks).
    """
    wanted = {STAGING_ENV: attempt, "MPLBACKEND": INLINE_BACKEND}
    before = {name: os.environ.get(name) for name in wanted}
    os.environ.update(wanted)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def interrupts_noted(noted: threading.Event) -> Iterator[None]:
    """Note every Ctrl-C (and SIGTERM, where the caller turned it into one) while the steps run.

    The interrupt still raises KeyboardInterrupt where it lands; the note is for the case where a
    library swallows it (an event loop cancelling a kernel start and carrying on), so the run checks
    the note after every step and stops instead of publishing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def note_and_raise(signum: int, frame: Any) -> None:
        noted.set()
        raise KeyboardInterrupt

    previous = {signum: signal.signal(signum, note_and_raise) for signum in handled_stops()}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back while the published folders are swapped (delivered afterwards)."""
    blockable = hasattr(signal, "pthread_sigmask") and threading.current_thread() is threading.main_thread()
    held = {signal.SIGINT, signal.SIGTERM}
    if blockable:
        signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        if blockable:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, held)


def seed_staging(study: Study, stages: tuple[str, ...]) -> None:
    """A run of some stages only starts from the published outputs of the others.

    Executed notebooks found in an older run's report folder are not carried over: they belong
    to the processed folder.
    """
    if set(STAGES) <= set(stages):
        return
    for published, staging, ignore in (
        (study.published_processed_dir, study.processed_dir, None),
        (study.published_reports_dir, study.reports_dir, shutil.ignore_patterns(EXECUTED_NOTEBOOKS)),
    ):
        if published.is_dir():
            shutil.copytree(published, staging, dirs_exist_ok=True, ignore=ignore)


def run_study(
    params_path: str | Path,
    *,
    out_root: str | Path | None = None,
    stages: tuple[str, ...] = STAGES,
    progress: bool = True,
) -> Path:
    """Run the stages in order, then the report; publish them only if every step succeeded.

    Returns the published report's path, ``reports/<run>/index.html``.

    Raises
    ------
    ParamsError
        Before any work, when the params or the input files' headers are wrong.
    StageFailed
        When a stage or the report fails; nothing is published.
    RunInterrupted
        On Ctrl-C (or SIGTERM, from the command line); nothing is published.
    """
    study = open_study(params_path, out_root, attempt=new_attempt_id())
    steps = [*stages, REPORT_STEP]
    without_transparent_huge_pages()  # before any kernel starts: they and their workers inherit it
    with ExitStack() as started:
        # the first step's kernel starts, and imports its notebook's modules (about two seconds), while
        # the inputs are checked and fingerprinted here, side by side; it is shut down should a check fail
        kernels = started.enter_context(kernels_ahead(study, steps))
        if steps[0] != REPORT_STEP:
            _import_in_background("papermill")
        with beside(input_fingerprints, study) as fingerprints:
            check_input_headers(study.params, study.params_path)
            _check_history(study)
        with run_lock(study):
            recover_publish(study, then=lambda published: _add_to_history(published, recovering=True))
            remove_stale_attempts(study)
            seed_staging(study, stages)
            privacy.ensure_salt(study.processed_dir)  # new for a full run; a partial run keeps the published one
            record = RunRecord(study, inputs=fingerprints.result())
            root_arg = str(Path(out_root).resolve()) if out_root else ""
            _run_steps(record, steps, root_arg, progress, kernels)
            started.close()  # every kernel is shut down by now: the stages' environment goes before the publish
            write_manifest(
                record, "ok",
                published={"reports": str(study.published_reports_dir), "processed": str(study.published_processed_dir)},
            )
            with signals_deferred():
                publish(study, then=_add_to_history)
    _say(f"published: {study.published_reports_dir} and {study.published_processed_dir}")
    published = Study(study.params, study.params_path)
    return published.report_page()


def _check_history(study: Study) -> None:
    """Before any work: the study history the run will add its quarter to must be one this code can write."""
    try:
        history.check(history_path(study.params))
    except history.HistoryError as exc:
        raise StageFailed(f"the study history cannot be used: {exc}\n  Nothing was run.") from None


def _add_to_history(published: Study, *, recovering: bool = False) -> None:
    """Add the run just published to the study history (part of the publish: redone by the next run if cut short).

    A run whose stages have not yet placed its customers in tiers (e.g. ``--stages 01_clean`` on a new
    run) has no quarter to add; it says so and adds nothing.
    """
    if not (published.published_processed_dir / catalog.TIER_PROFILE).is_file():
        _say(f"'{published.run}' is not added to the study history: it has no tiers yet (run 03_tiers)")
        return
    started = time.perf_counter()
    try:
        path = history.add_published(published)
    except Exception as exc:
        when = "completing the interrupted publish of" if recovering else "publishing"
        raise StageFailed(
            f"{when} '{published.run}': its outputs are in {published.published_reports_dir} and "
            f"{published.published_processed_dir}, but adding the quarter to the study history failed "
            f"with {type(exc).__name__}: {exc}\n  The next run of '{published.run}' adds it again; to add it "
            f"now, fix the cause and run `python -m analysis history add {published.published_reports_dir}`."
        ) from None
    if path is not None:
        _say(f"added '{published.run}' to the study history {path} in {time.perf_counter() - started:.2f} s")


def _run_steps(record: RunRecord, steps: list[str], out_root: str, progress: bool, kernels: KernelsAhead | None = None) -> None:
    """Each step in order; the first failure or interruption marks the manifest failed and stops the run."""
    study = record.study
    step, started = steps[0], time.perf_counter()
    interrupted = threading.Event()
    try:
        with ExitStack() as own, interrupts_noted(interrupted), NotebookPages() as pages:
            if kernels is None:  # not started by run_study: here, the first step's now
                kernels = own.enter_context(kernels_ahead(study, steps))
            others = None  # the process rendering the report's other languages, started a step ahead
            for number, step in enumerate(steps, start=1):
                release_free_memory()  # this process lives beside each step's kernel
                _say(f"[{number}/{len(steps)}] {step} …")
                write_manifest(record, "running", stage=step)
                started = time.perf_counter()
                with kernels.taken(step) as kernel:  # started a step ahead (the first step's: now)
                    if number < len(steps):  # kernels start one at a time, in the steps' order,
                        kernels.start(steps[number])  # and warm up while the step before runs
                    if number == len(steps) - 1 and steps[-1] == REPORT_STEP:
                        _import_in_background(REPORT_MODULE)  # the report's own warm-up, in this process
                        others = own.enter_context(OtherLanguages(study, out_root))
                    if step == REPORT_STEP:
                        pages.wait()  # every notebook's HTML, before the report
                        _build_report(study, others or own.enter_context(OtherLanguages(study, out_root)))
                    else:
                        pages.submit(step, _execute(study, step, out_root, progress, kernel))
                if interrupted.is_set():
                    raise KeyboardInterrupt
                seconds = round(time.perf_counter() - started, 2)
                record.stages.append(StageTiming(step, seconds, "ok"))
                _say(f"[{number}/{len(steps)}] {step} done in {seconds:.1f} s")
            pages.wait()
    except _StepFailed as exc:
        if interrupted.is_set():  # the interrupt reached the kernel first and failed its cell
            _interrupted(record, step, started)
        step = exc.step or step
        message = _failure_message(study, step, f"failed {exc.summary}", exc.see)
        manifest = _mark_failed(record, step, started, message)
        raise StageFailed(message, stage=step, manifest=manifest) from None
    except KeyboardInterrupt:
        _interrupted(record, step, started)


def _interrupted(record: RunRecord, step: str, started: float) -> NoReturn:
    message = _failure_message(record.study, step, "was interrupted (Ctrl-C or a termination signal)", None)
    manifest = _mark_failed(record, step, started, message)
    raise RunInterrupted(message, stage=step, manifest=manifest) from None


def _mark_failed(record: RunRecord, step: str, started: float, message: str) -> Path:
    ran = [timing for timing in record.stages if timing.stage == step]
    if ran:  # its notebook ran; its HTML, written afterwards, failed
        ran[0].status = "failed"
    else:
        record.stages.append(StageTiming(step, round(time.perf_counter() - started, 2), "failed"))
    return write_manifest(record, "failed", failed_stage=step, error=message)


def _failure_message(study: Study, step: str, what: str, see: Path | None) -> str:
    """The one shape of every failure: what failed, where to look, what was (not) published."""
    name = f"stage {step}" if step != REPORT_STEP else "the report step"
    lines = [f"{name} {what}"]
    if see is not None:
        lines.append(f"See {see} for the details.")
    if study.published_reports_dir.is_dir():
        lines.append(
            f"Nothing was published: the last good report and outputs of '{study.run}' "
            f"({study.published_reports_dir}, {study.published_processed_dir}) are unchanged."
        )
    else:
        lines.append(f"Nothing was published ('{study.run}' has no earlier good run).")
    lines.append(
        f"This attempt's partial outputs and executed notebooks are in {study.processed_dir}, its manifest "
        f"(status: failed) in {study.reports_dir}; the next run of '{study.run}' replaces them."
    )
    return "\n  ".join(lines)


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
