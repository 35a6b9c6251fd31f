"""Freed memory handed back to the system between the large steps of a stage.

Freeing a frame of millions of rows does not lower the process's resident memory by itself: Arrow's
allocator (mimalloc) keeps the freed pages for reuse, and glibc's heap keeps what many small
blocks (a batch's arrays) left behind. The next step then adds its own peak on top. Measured in
stage 1 at 10M rows: about 0.4 GB of heap after the batch loop and 0.9 GB in Arrow's pool after
the kept rows are framed, both given back by :func:`release_free_memory` in milliseconds.

Fresh memory costs a page fault per page, and Linux clears each page it hands out. numpy and
Arrow's allocator ask for transparent huge pages (2 MiB, cleared whole at the first touch) for
their large blocks. On a virtual machine a huge page is often memory the host has not backed yet:
measured on a 2-core VM, a quarter of stage 1's CPU time at 10M rows went to clearing huge pages.
:func:`without_transparent_huge_pages` turns them off for the study's processes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

import pyarrow as pa


def _glibc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


_LIBC = _glibc()

#: Set to ``keep`` to leave the system's transparent huge pages on for the study's processes.
HUGE_PAGES_ENV = "TIERING_HUGE_PAGES"
_PR_SET_THP_DISABLE = 41  # linux/prctl.h


def without_transparent_huge_pages() -> bool:
    """Turn transparent huge pages off for this process and the processes it starts from now on
    (Linux's ``PR_SET_THP_DISABLE``: inherited by children, kept across ``exec``); unless
    ``$TIERING_HUGE_PAGES`` is ``keep``. Whether they are off; elsewhere nothing happens (False).

    The runner calls it before it starts the stage kernels, so they and their worker processes start
    with the setting. Measured on a 2-core VM at 10M rows: stage 1 took 30.5-30.8 s against
    39.0-39.4 (system seconds 11 against 22), the whole study 146.6 s against 163.1, the peak the same.
    """
    if not sys.platform.startswith("linux") or _LIBC is None or os.environ.get(HUGE_PAGES_ENV) == "keep":
        return False
    return _LIBC.prctl(_PR_SET_THP_DISABLE, 1, 0, 0, 0) == 0


def release_free_memory() -> None:
    """Give the memory already freed back to the system: Arrow's unused pool pages and, on glibc,
    the free top and holes of the heap (``malloc_trim``). Nothing that is still used moves."""
    pa.default_memory_pool().release_unused()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)
