"""The separate virtualenv for the peer libraries (lifetimes, PyMC-Marketing).

The peers pin old or heavy dependencies (lifetimes 0.11.3 predates pandas 2; PyMC-Marketing brings
PyMC and PyTensor), so they live in ``benchmarks/.venv-peers`` and never touch the project's venv.
The venv is created on first use; a failed creation (no network, no python3.11) is reported, not raised.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PEERS_VENV = HERE / ".venv-peers"
# pyarrow: the peers read the same parquet file with pandas; setuptools: lifetimes imports pkg_resources
PEER_PACKAGES = ("lifetimes==0.11.3", "pymc-marketing==0.19.2", "setuptools", "pyarrow")
_STAMP = PEERS_VENV / ".installed"


def peers_python() -> Path:
    return PEERS_VENV / "bin" / "python"


def ensure_peers_venv(log=print, timeout: float = 1800) -> tuple[Path | None, str]:
    """The peers' python, creating the venv when missing; ``(None, reason)`` when it cannot be had."""
    wanted = "\n".join(PEER_PACKAGES)
    if _STAMP.exists() and peers_python().exists() and _STAMP.read_text() == wanted:
        return peers_python(), "ready"
    base = shutil.which("python3.11")
    if base is None:
        return None, "python3.11 not found"
    log(f"creating {PEERS_VENV.relative_to(HERE.parent)} with {', '.join(PEER_PACKAGES)} (first run only) ...")
    try:
        if not peers_python().exists():
            subprocess.run([base, "-m", "venv", str(PEERS_VENV)], check=True, capture_output=True, text=True,
                           timeout=300)
        subprocess.run([str(peers_python()), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        *PEER_PACKAGES], check=True, capture_output=True, text=True, timeout=timeout)
        subprocess.run([str(peers_python()), "-c", "import lifetimes, pymc_marketing"], check=True,
                       capture_output=True, text=True, timeout=600)
    except subprocess.CalledProcessError as exc:
        tail = (exc.stderr or exc.stdout or "").strip().splitlines()[-1:] or ["no output"]
        return None, f"install failed: {tail[0][:160]}"
    except subprocess.TimeoutExpired:
        return None, "install timed out"
    _STAMP.write_text(wanted)
    return peers_python(), "ready"


if __name__ == "__main__":
    python, status = ensure_peers_venv()
    print(python, status)
    sys.exit(0 if python else 1)
