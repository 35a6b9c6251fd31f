"""A DuckDB connection held to a memory limit, spilling to a temporary folder of its own.

DuckDB's own default limit is 80 % of the machine's memory: on a large export its hash tables alone
would then take gigabytes beside the study's frames. Under a limit it writes what does not fit to
disk and carries on (a 10-million-row summary under ``1GB`` takes about 10 % longer and 40 % less
memory). It spills to ``.tmp`` in the working folder unless told otherwise, which for a notebook is
its folder in the repository: :func:`duckdb_session` points it at a temporary folder it removes
afterwards. What cannot be done within the limit fails with :class:`EngineMemoryError`, which says
how to raise it.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

#: A memory size as DuckDB reads it: a number and a unit, e.g. ``512MB``, ``1.5GB``, ``2GiB``.
MEMORY_SIZE = re.compile(r"^\s*\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*$", re.IGNORECASE)


class EngineMemoryError(MemoryError):
    """DuckDB could not do its work within its memory limit."""


def check_memory_size(text: str) -> str:
    """``text`` when DuckDB reads it as a memory size; ValueError otherwise."""
    if not MEMORY_SIZE.match(text):
        raise ValueError(f"{text!r} is not a memory size: write a number and a unit, e.g. 1GB, 512MB or 2GiB")
    return text.strip()


@contextmanager
def duckdb_session(memory_limit: str | None = None) -> Iterator[Any]:
    """An in-memory DuckDB connection; with ``memory_limit`` (e.g. ``"1GB"``) DuckDB holds itself to
    it, spilling to a temporary folder. None: DuckDB's default limit. Closed, and the folder removed,
    on leaving the block.

    Raises
    ------
    EngineMemoryError
        When DuckDB runs out of memory under the limit; the message names the params key to raise.
    """
    import duckdb

    limit = {} if memory_limit is None else {"memory_limit": check_memory_size(memory_limit)}
    try:
        with (tempfile.TemporaryDirectory(prefix="duckdb-spill-") as spill,
              duckdb.connect(config={"temp_directory": spill, **limit}) as con):
            yield con
    except duckdb.OutOfMemoryException as exc:
        within = "DuckDB's default limit" if memory_limit is None else f"its memory limit of {memory_limit}"
        raise EngineMemoryError(
            f"DuckDB ran out of memory within {within} (scoring.engine_memory_limit): raise it, e.g. to 2GB, or set "
            f"it to null for DuckDB's default (80 % of this machine's memory). DuckDB said: {str(exc).splitlines()[0]}"
        ) from exc


def parquet_source(path: Path) -> str:
    """What DuckDB reads for ``path``: the parquet file, or every parquet file under the folder."""
    return str(path / "**" / "*.parquet") if path.is_dir() else str(path)
