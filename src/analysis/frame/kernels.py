"""The stage kernels, each started one step ahead of its notebook.

Before a notebook's first cell does any work its kernel takes about two seconds: the process
starts (about a third of a second), then the notebook imports pandas, scikit-learn, matplotlib and the
study's modules. The runner starts the next notebook's kernel when a step begins
(:meth:`KernelsAhead.start`) and, unless told not to, has it import the modules that notebook
imports (:func:`notebook_modules`), so its successor is ready when a step ends. A bare kernel
(``imports=False``) holds about 50 MB while it waits, a warm one about 220 MB. Kernels start one
at a time, in the steps' order. Only imports run ahead,
silently and outside the kernel's history: the notebook's cells are numbered from 1 and give what
they give in a fresh kernel. A kernel that died meanwhile is shut down and the notebook gets a
fresh one. The runner shuts down every kernel
started here, whether its step succeeds, fails or is interrupted (:meth:`KernelsAhead.taken`,
:meth:`KernelsAhead.close`).
"""

from __future__ import annotations

import ast
import asyncio
import json
import os
import queue
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_core.utils import ensure_event_loop, run_sync

if TYPE_CHECKING:
    from jupyter_client.manager import AsyncKernelManager

#: The kernel's own log stays quiet: it would print "KeyboardInterrupt caught in kernel" when the
#: client interrupts it at shutdown (the cells' output is in the notebook). Its history stays in
#: memory, as nbclient keeps it for the kernels it starts.
KERNEL_ARGUMENTS = ("--IPKernelApp.log_level=CRITICAL", "--HistoryManager.hist_file=:memory:")
START_TIMEOUT = 60  # seconds, as Papermill's
END_TIMEOUT = 10  # seconds a killed kernel process is waited for


def notebook_modules(notebook: Path) -> list[str]:
    """The modules ``notebook``'s code cells import at their top level, in order, once each.

    ``from a.b import c`` gives ``a.b`` and ``a.b.c`` (``c`` may be a module); a cell that is not
    plain Python (a magic) is skipped.
    """
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    modules: dict[str, None] = {}
    for cell in cells:
        if cell.get("cell_type") != "code":
            continue
        try:
            tree = ast.parse("".join(cell.get("source", "")))
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, ast.Import):
                modules.update(dict.fromkeys(alias.name for alias in node.names))
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                modules[node.module] = None
                modules.update(dict.fromkeys(f"{node.module}.{alias.name}" for alias in node.names if alias.name != "*"))
    return list(modules)


def warm_up_code(modules: list[str]) -> str:
    """Code importing ``modules`` without binding a name; a module that fails is left to the notebook."""
    return "\n".join(f"try:\n    __import__({name!r})\nexcept Exception:\n    pass" for name in modules)


@dataclass
class StartedKernel:
    """A kernel started ahead for one notebook, importing its modules (if asked) in the background."""

    manager: AsyncKernelManager
    warming: threading.Thread
    stop: threading.Event

    def ready(self) -> bool:
        """Whether the kernel is alive once its imports ran (waits for them)."""
        self.warming.join(START_TIMEOUT)
        return not self.warming.is_alive() and run_sync(self.manager.is_alive)()


@cache
def _manager_class() -> type[AsyncKernelManager]:
    """jupyter_client's kernel manager, keeping the clients it makes so that :func:`shut_down` can
    close them: nbclient leaves its client's channels open on a kernel it did not start."""
    from jupyter_client.manager import AsyncKernelManager

    class StageKernelManager(AsyncKernelManager):
        def client(self, **kwargs: Any) -> Any:
            client = super().client(**kwargs)
            self.__dict__.setdefault("clients_made", []).append(client)
            return client

    return StageKernelManager


def start_kernel(notebook: Path, config: Any, *, imports: bool = True) -> StartedKernel:
    """Start a kernel in ``notebook``'s folder (with the runner's environment) and, with ``imports``,
    have it import the notebook's modules; returns at once, the kernel gets ready (and imports)
    while the caller goes on."""
    manager = _manager_class()(kernel_name="python3", config=config)
    try:
        with signals_delivered_after():
            run_sync(manager.start_kernel)(extra_arguments=list(KERNEL_ARGUMENTS), cwd=str(notebook.parent))
    except BaseException:  # interrupted (Ctrl-C) while it launched: the manager holds the kernel by now
        shut_down(manager)
        raise
    code = warm_up_code(notebook_modules(notebook)) if imports else None
    stop = threading.Event()

    def send_imports() -> None:
        client = manager.blocking_client()
        client.start_channels()
        try:
            client.wait_for_ready(timeout=START_TIMEOUT)
            if code is None:
                return
            # silent: not in the history, no execution count. The reply is awaited (closing the
            # channels could drop a request still queued) until the kernel is shut down.
            request = client.execute(code, silent=True, store_history=False)
            while not stop.is_set():
                try:
                    if client.get_shell_msg(timeout=0.2)["parent_header"].get("msg_id") == request:
                        return
                except queue.Empty:
                    pass
        except Exception:  # a kernel that did not start is found dead by ready()
            pass
        finally:
            client.stop_channels()

    warming = threading.Thread(target=send_imports, name=f"kernel ahead: {notebook.stem}", daemon=True)
    warming.start()
    return StartedKernel(manager, warming, stop)


def handled_stops() -> list[int]:
    """SIGINT and SIGTERM, those of them a Python handler takes: a signal the process ignores (a
    background job's SIGINT) or leaves to the system stays as it is."""
    return [signum for signum in (signal.SIGINT, signal.SIGTERM) if callable(signal.getsignal(signum))]


@contextmanager
def signals_delivered_after() -> Iterator[None]:
    """SIGINT and SIGTERM that come while the block runs are delivered, to the handlers they had, when it ends.

    A kernel launched meanwhile is then held by its manager, which can shut it down. Delivered at
    once, a signal could land after the kernel's process was created and before jupyter_client held
    it (Popen waits for the exec, seconds on a loaded machine): a kernel nobody could stop. Not
    blocked (``pthread_sigmask``): the kernel's process would inherit the mask. Only
    :func:`handled_stops` are held.
    """
    if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
        yield
        return
    caught: list[int] = []
    previous = {signum: signal.signal(signum, lambda signum, frame: caught.append(signum)) for signum in handled_stops()}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for signum in dict.fromkeys(caught):
            signal.raise_signal(signum)


def shut_down(manager: AsyncKernelManager) -> None:
    """Stop a kernel started here (a dead one too), close its clients' channels and remove its connection files."""
    # a notebook interrupted mid-cell leaves nbclient's request pending on this thread's event loop:
    # cancelled and collected here, it does not print the kernel's death when the loop runs again
    loop = ensure_event_loop()
    pending = asyncio.all_tasks(loop)
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    process = _kernel_process(manager)
    try:
        # at once: a step's outputs are written before its notebook ends. A graceful shutdown waits
        # seconds on the kernel's children, such as the resource trackers of stage 1's worker pools,
        # which ignore SIGINT and SIGTERM; killed with the kernel's process group, they go too
        run_sync(manager.shutdown_kernel)(now=True)
    except RuntimeError:  # "No kernel is running!"
        pass
    finally:
        _end(process)
    for client in manager.__dict__.pop("clients_made", []):
        client.stop_channels()
    run_sync(manager.cleanup_resources)()


def _kernel_process(manager: AsyncKernelManager) -> tuple[int, int] | None:
    """The process id and process group of the kernel ``manager`` launched here, if it launched one."""
    provisioner = manager.provisioner
    pid, group = getattr(provisioner, "pid", None), getattr(provisioner, "pgid", None)
    return (pid, group) if isinstance(pid, int) and isinstance(group, int) else None


def _end(process: tuple[int, int] | None) -> None:
    """Make sure a kernel process of this one has ended and is reaped, whatever its shutdown did: a run
    interrupted on a loaded machine once ended with a kernel still running. Still running, it is
    killed with its process group (its id cannot have been reused: the process is not reaped)."""
    if process is None:
        return
    pid, group = process
    deadline = time.monotonic() + END_TIMEOUT
    try:
        if os.waitpid(pid, os.WNOHANG) != (0, 0):
            return  # it had ended: reaped now
        os.killpg(group, signal.SIGKILL)
        while os.waitpid(pid, os.WNOHANG) == (0, 0) and time.monotonic() < deadline:
            time.sleep(0.01)
    except (ChildProcessError, ProcessLookupError):  # reaped by jupyter_client already
        pass


class KernelsAhead:
    """The kernels started ahead of their steps during one run, warm or bare (``imports``) (a context
    manager: on exit, every kernel not taken is shut down)."""

    def __init__(self, notebooks: dict[str, Path], config: Any, *, imports: bool = True) -> None:
        self._notebooks = notebooks
        self._config = config
        self._imports = imports
        self._started: dict[str, StartedKernel] = {}

    def start(self, step: str) -> None:
        """Start ``step``'s kernel now, if it is a notebook step and not started yet."""
        if step in self._notebooks and step not in self._started:
            self._started[step] = start_kernel(self._notebooks[step], self._config, imports=self._imports)

    @contextmanager
    def taken(self, step: str) -> Iterator[AsyncKernelManager | None]:
        """``step``'s kernel, started now if it was not started ahead, ready; shut down when the block
        ends. None for a step this run starts no kernel for (Papermill then starts one), or when the
        kernel died or did not finish its imports within :data:`START_TIMEOUT`."""
        self.start(step)
        started = self._started.get(step)
        ready = started is not None and started.ready()  # interrupted here, close() shuts it down
        if started is not None:
            del self._started[step]
            if not ready:
                started.stop.set()
                shut_down(started.manager)
        manager = started.manager if ready else None
        try:
            yield manager
        finally:
            if manager is not None:
                shut_down(manager)

    def close(self) -> None:
        while self._started:
            _, started = self._started.popitem()
            started.stop.set()
            shut_down(started.manager)

    def __enter__(self) -> KernelsAhead:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
