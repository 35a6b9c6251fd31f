"""How many examples a property test tries: all of them in `make test`, a fifth in `make test-fast`."""

from __future__ import annotations

import os

FAST = os.environ.get("TIERING_FAST_TESTS") == "1"


def examples(n: int) -> int:
    return max(10, n // 5) if FAST else n
