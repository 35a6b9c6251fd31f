"""The report's other languages, rendered in a process of their own beside the first.

A run's report is written in its language and in each ``report_also_in`` language. The runner
renders the first; :class:`OtherLanguages` starts a Python process (``python -m
analysis.report.other_languages``) for the others, a step ahead so that its imports are done by the
time the last stage has run, and tells it to render then. The two processes read the same stage
outputs and write their pages side by side, on two cores instead of one after the other.

The process renders only when told to (a line on its standard input): a run that stops before its
report closes that input, and the process ends without writing anything. It ends too when the
runner dies (Linux: the parent-death signal).
"""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import subprocess
import sys
import tempfile
from types import TracebackType

from analysis.frame import storage
from analysis.frame.params import StudyParams
from analysis.frame.study import Study, open_study

GO = "render\n"
WAIT_TIMEOUT = 600  # seconds the runner waits for the other languages once its own page is written
_PR_SET_PDEATHSIG = 1


def report_languages(params: StudyParams) -> list[str]:
    """The run's language, then each ``report_also_in`` language once."""
    return list(dict.fromkeys([params.language, *params.report_also_in]))


class OtherLanguagesFailed(RuntimeError):
    """The process rendering the other languages failed; its traceback is the cause."""


class _ChildTraceback(Exception):
    def __str__(self) -> str:
        return "\n" + str(self.args[0]).rstrip()


class OtherLanguages:
    """The process that renders the report's languages after the first (a context manager: on exit, a
    process still running is killed and reaped). Nothing is started when the report has one language."""

    def __init__(self, study: Study, out_root: str = "") -> None:
        self.languages = report_languages(study.params)[1:]
        self._process: subprocess.Popen[str] | None = None
        if not self.languages:
            return
        self._errors = tempfile.TemporaryFile(mode="w+", encoding="utf-8")
        command = [sys.executable, "-m", __name__, str(study.params_path), "--attempt", study.attempt or "",
                   "--parent", str(os.getpid()), *(["--out", out_root] if out_root else []), *self.languages]
        # off-screen charts, whatever backend the runner set for its notebook kernels
        environment = {**os.environ, "MPLBACKEND": "Agg"}
        self._process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                         stderr=self._errors, text=True, env=environment)

    def __enter__(self) -> OtherLanguages:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def render(self) -> None:
        """Tell the process to render its languages now (every stage output is written)."""
        if self._process is not None:
            try:
                self._process.stdin.write(GO)
                self._process.stdin.close()
            except OSError:  # it ended already (a broken pipe): :meth:`wait` says why
                pass

    def wait(self) -> None:
        """Wait for the pages; raises :class:`OtherLanguagesFailed` when the process failed."""
        if self._process is None:
            return
        code = self._process.wait(WAIT_TIMEOUT)
        if code != 0:
            self._errors.seek(0)
            told = self._errors.read()
            last = next((line for line in reversed(told.splitlines()) if line.strip()), f"exit status {code}")
            raise OtherLanguagesFailed(
                f"the report in {', '.join(self.languages)} failed: {last.strip()}"
            ) from _ChildTraceback(told or f"exit status {code}, nothing written to stderr")

    def close(self) -> None:
        """End the process if it still runs (the run stopped, or the first page failed), and reap it."""
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait()
        if self._process.stdin is not None and not self._process.stdin.closed:
            self._process.stdin.close()
        self._errors.close()
        self._process = None


def _end_with_parent(parent: int) -> None:
    """Be ended when the runner ends (Linux); and now, should it have ended already."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:
        raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("params")
    parser.add_argument("languages", nargs="+")
    parser.add_argument("--out", default="")
    parser.add_argument("--attempt", default="")
    parser.add_argument("--parent", type=int, required=True)
    args = parser.parse_args(argv)
    _end_with_parent(args.parent)
    study = open_study(args.params, args.out or None, attempt=args.attempt or None)
    from analysis.report.build import render_report  # the imports, done before the runner says go

    if sys.stdin.readline() != GO:
        return 0  # the run stopped before its report
    shared: dict = {}
    for language in args.languages:
        storage.write_text(render_report(study, language, shared), study.report_page(language))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
