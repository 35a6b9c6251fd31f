"""Kernels started ahead of their notebooks: what they import, that the notebook then runs in them as
in a fresh kernel, and that every one is shut down (taken or not, alive or dead)."""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path

import nbformat
import psutil
import pytest
from jupyter_core.utils import run_sync

from analysis.__main__ import _terminate_as_interrupt
from analysis.frame import kernels, runner
from analysis.frame.kernels import KernelsAhead, notebook_modules, warm_up_code
from analysis.frame.runner import _execute, kernel_config
from tests.fresh_python import printed_by_fresh_python
from tests.test_runs import _alive

ROOT = Path(__file__).resolve().parents[1]


def write_notebook(path: Path, *sources: str, markdown: str = "# import nothing from here") -> Path:
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    parameters = nbformat.v4.new_code_cell('params_path = ""\nout_root = ""', metadata={"tags": ["parameters"]})
    notebook.cells = [nbformat.v4.new_markdown_cell(markdown), parameters, *(nbformat.v4.new_code_cell(s) for s in sources)]
    nbformat.write(notebook, path)
    return path


def test_the_modules_are_the_notebooks_top_level_imports_in_order(tmp_path: Path) -> None:
    notebook = write_notebook(
        tmp_path / "n.ipynb",
        "import json, os.path as osp\nfrom analysis.frame import catalog\nfrom . import nothing\nx = 1",
        "%matplotlib inline\nimport skipped_magic_cell",
        "def f():\n    import inside_a_function\nfrom analysis.notebook import start, render\nimport json",
        "from decimal import *",
    )
    assert notebook_modules(notebook) == [
        "json", "os.path", "analysis.frame", "analysis.frame.catalog",
        "analysis.notebook", "analysis.notebook.start", "analysis.notebook.render", "decimal",
    ]


def test_every_stage_notebook_warms_up_its_stage_module() -> None:
    for notebook in sorted((ROOT / "notebooks").glob("0*.ipynb")):
        modules = notebook_modules(notebook)
        assert "analysis.notebook" in modules and any(m.startswith("analysis.stages.") for m in modules), notebook.name


def test_the_warm_up_binds_no_name_and_survives_a_missing_module() -> None:
    namespace: dict = {}
    exec(warm_up_code(["fractions", "no_such_module_here", "analysis.notebook.start"]), namespace)
    assert set(namespace) == {"__builtins__"}
    assert "fractions" in __import__("sys").modules


def printed_in(manager, expression: str) -> str:
    """What ``print(expression)`` prints in the kernel of ``manager``."""
    outputs: list = []
    client = manager.blocking_client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        reply = client.execute_interactive(f"print({expression})", store_history=False, timeout=60,
                                           output_hook=outputs.append)
        assert reply["content"]["status"] == "ok"
    finally:
        client.stop_channels()
    return "".join(m["content"].get("text", "") for m in outputs if m["msg_type"] == "stream").strip()


@pytest.fixture
def notebook(tmp_path: Path) -> Path:
    return write_notebook(tmp_path / "stage.ipynb", "import fractions\nimport os\nprint(os.getcwd())", "1 + 1")


def test_a_kernel_started_ahead_has_imported_the_notebooks_modules_unless_it_starts_bare(notebook: Path) -> None:
    for imports, imported in ((True, "True"), (False, "False")):
        with KernelsAhead({"stage": notebook}, kernel_config(), imports=imports) as ahead, ahead.taken("stage") as manager:
            assert manager is not None
            # imported (or not), in the kernel's modules, but never bound in the notebook's namespace
            assert printed_in(manager, "'fractions' in __import__('sys').modules, 'fractions' in dir()") == f"{imported} False"


def test_a_kernel_interrupted_while_it_starts_is_not_left_running(notebook: Path, monkeypatch) -> None:
    """Ctrl-C can reach the runner while the next step's kernel is launching, before anything holds it."""
    launched = []
    manager_class = kernels._manager_class()

    class InterruptedAtLaunch(manager_class):
        async def start_kernel(self, **kwargs):
            await super().start_kernel(**kwargs)
            launched.append(psutil.Process(self.provisioner.process.pid))
            raise KeyboardInterrupt

    monkeypatch.setattr(kernels, "_manager_class", lambda: InterruptedAtLaunch)
    with KernelsAhead({"stage": notebook}, kernel_config()) as ahead, pytest.raises(KeyboardInterrupt):
        ahead.start("stage")
    (kernel,) = launched
    assert not kernel.is_running() or kernel.status() == psutil.STATUS_ZOMBIE


@pytest.mark.parametrize("failure", ["no kernel", "not killed"])
def test_a_kernel_is_ended_whatever_its_shutdown_did(notebook: Path, monkeypatch, failure: str) -> None:
    """An interrupted run on a loaded machine once ended with a kernel still running. Whether
    jupyter_client's shutdown raises (its "No kernel is running!") or returns without the kernel
    ended, :func:`kernels.shut_down` kills it and reaps it."""
    manager_class = kernels._manager_class()

    class ShutdownThatLeavesItRunning(manager_class):
        async def shutdown_kernel(self, now: bool = False, restart: bool = False) -> None:
            if failure == "no kernel":
                raise RuntimeError("No kernel is running!")

    monkeypatch.setattr(kernels, "_manager_class", lambda: ShutdownThatLeavesItRunning)
    started = kernels.start_kernel(notebook, kernel_config(), imports=False)
    kernel = psutil.Process(started.manager.provisioner.pid)
    assert started.ready()
    kernels.shut_down(started.manager)
    assert not _alive(kernel), "the kernel is still running after its shutdown"
    with pytest.raises(psutil.NoSuchProcess):  # reaped, not left a zombie
        kernel.status()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_while_the_kernel_process_is_being_created_leaves_no_kernel_running(
    notebook: Path, monkeypatch, signum: signal.Signals,
) -> None:
    """The signal lands after the process exists but before jupyter_client holds it (on a loaded
    machine, while Popen waits for the exec): it is delivered once the launch is done."""
    from jupyter_client.provisioning import local_provisioner

    launched = []

    def launch_then_signal(*args, **kwargs):
        process = launch_kernel(*args, **kwargs)
        launched.append(psutil.Process(process.pid))
        signal.raise_signal(signum)
        return process

    launch_kernel = local_provisioner.launch_kernel
    monkeypatch.setattr(local_provisioner, "launch_kernel", launch_then_signal)
    terminate = signal.signal(signal.SIGTERM, _terminate_as_interrupt)  # as `python -m analysis run` does
    try:
        with runner.interrupts_noted(threading.Event()), KernelsAhead({"stage": notebook}, kernel_config()) as ahead, \
                pytest.raises(KeyboardInterrupt):
            ahead.start("stage")
    finally:
        signal.signal(signal.SIGTERM, terminate)
    (kernel,) = launched
    assert not _alive(kernel), "the kernel launched when the signal came is still running"


def test_a_notebook_runs_in_its_kernel_as_in_a_fresh_one_and_the_kernel_is_shut_down(notebook: Path, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr("analysis.frame.runner.NOTEBOOK_DIR", notebook.parent)
    study = _study(tmp_path)
    executed = {}
    for started_ahead in (True, False):
        with KernelsAhead({"stage": notebook} if started_ahead else {}, kernel_config()) as ahead:
            with ahead.taken("stage") as manager:
                assert (manager is not None) == started_ahead
                path = _execute(study, "stage", "", False, manager)
            if manager is not None:
                assert not run_sync(manager.is_alive)()
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        executed[started_ahead] = [(c.get("execution_count"), c.get("outputs")) for c in cells if c["cell_type"] == "code"]
    assert executed[True] == executed[False]
    # numbered from 1 (the warm-up left no trace): the parameters, papermill's injected ones, the two cells
    assert [count for count, _ in executed[True]] == [1, 2, 3, 4]
    assert "".join(executed[True][2][1][0]["text"]) == f"{notebook.parent}\n"  # run in the notebook's folder


def test_a_kernel_that_died_ahead_is_replaced_and_kernels_not_taken_are_shut_down(notebook: Path) -> None:
    with KernelsAhead({"one": notebook, "two": notebook}, kernel_config()) as ahead:
        ahead.start("one")
        ahead.start("two")
        ahead.start("not a notebook step")  # the report: nothing to start
        one = ahead._started["one"]
        one.warming.join(60)
        process = psutil.Process(one.manager.provisioner.process.pid)
        process.kill()
        process.wait(10)
        with ahead.taken("one") as manager:
            assert manager is None  # dead: shut down, the notebook gets a fresh kernel
        assert not run_sync(one.manager.is_alive)()
        with ahead.taken("not a notebook step") as manager:
            assert manager is None
        two = psutil.Process(ahead._started["two"].manager.provisioner.process.pid)
    assert not two.is_running() or two.status() == psutil.STATUS_ZOMBIE  # never taken: shut down on exit


def _study(tmp_path: Path):
    from analysis.frame.study import open_study

    return open_study(ROOT / "params/sample.yaml", tmp_path / "out", attempt="20260101T000000-1")


def test_every_steps_kernel_waits_with_its_notebooks_modules_imported(tmp_path: Path, monkeypatch) -> None:
    study = _study(tmp_path)
    steps = ["01_clean", "02_rfm_clv", "03_tiers"]
    imported = []

    def execute(study, step, out_root, progress, kernel=None):
        assert kernel is not None  # started ahead (the first step's when the step began)
        imported.append(printed_in(kernel, "'pandas' in __import__('sys').modules"))

    monkeypatch.setattr(runner, "_execute", execute)
    monkeypatch.setattr(runner.NotebookPages, "submit", lambda self, step, notebook: None)
    runner._run_steps(runner.RunRecord(study), steps, "", progress=False)
    assert imported == ["True", "True", "True"]  # every notebook imports pandas at its top


# a child that, like a resource tracker of a worker pool, outlives the signals that ask it to stop
CHILD_IGNORING_SIGNALS = """
import subprocess, sys
child = subprocess.Popen([sys.executable, "-c", '''
import pathlib, signal, sys, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
pathlib.Path(sys.argv[1]).write_text("ignoring")
time.sleep(600)
''', {ready!r}])
while not __import__("pathlib").Path({ready!r}).exists():
    __import__("time").sleep(0.05)
print(child.pid)
"""


def test_a_finished_step_kills_its_kernel_with_the_processes_it_started(tmp_path: Path, monkeypatch) -> None:
    """A step's kernel is killed with its children: stage 1's worker pools leave resource trackers that
    ignore SIGINT and SIGTERM, on which a graceful shutdown waits and which it leaves running. A child
    that ignores both is gone after the step, whether the kernel was started ahead or by Papermill."""
    monkeypatch.setattr("analysis.frame.runner.NOTEBOOK_DIR", tmp_path)
    study = _study(tmp_path)
    for started_ahead in (True, False):
        ready = tmp_path / f"ready-{started_ahead}"
        notebook = write_notebook(tmp_path / "stage.ipynb", CHILD_IGNORING_SIGNALS.format(ready=str(ready)))
        with KernelsAhead({"stage": notebook} if started_ahead else {}, kernel_config()) as ahead:
            with ahead.taken("stage") as manager:
                path = _execute(study, "stage", "", False, manager)
        cells = [c for c in json.loads(path.read_text(encoding="utf-8"))["cells"] if c["cell_type"] == "code"]
        child = psutil.Process(int("".join(cells[-1]["outputs"][0]["text"])))
        if _running(child, within=10):
            child.kill()
            pytest.fail(f"the child of the kernel {'started ahead' if started_ahead else 'Papermill started'} outlived it")


def _running(process: psutil.Process, within: float) -> bool:
    """Whether ``process`` still runs after ``within`` seconds (a zombie, killed but not yet reaped, does not)."""
    deadline = time.monotonic() + within
    while _alive(process) and time.monotonic() < deadline:
        time.sleep(0.05)
    return _alive(process)


def test_the_runner_imports_papermill_without_the_iri_grammar_and_still_validates_notebooks() -> None:
    # rfc3987_syntax builds a grammar as it is imported (0.85 s of Papermill's import); nbformat's
    # schema, which the runner validates executed notebooks with, checks no IRI
    code = (
        "import sys, analysis.frame.runner, nbformat, papermill\n"
        "assert sys.modules.get('rfc3987_syntax') is None\n"
        f"nbformat.validate(nbformat.read({str(ROOT / 'notebooks' / '01_clean.ipynb')!r}, as_version=4))\n"
        "print('ok')\n"
    )
    assert printed_by_fresh_python(code) == "ok"
