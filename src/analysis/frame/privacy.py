"""Personal data in what a manager reads: customers appear as salted short codes, never as ids or names.

A customer's code is ``C-`` followed by the first 6 hex digits (in capitals) of
HMAC-SHA256(salt, customer_id), e.g. ``C-7F3A2B``. The salt is random and drawn once per run
(:func:`ensure_salt`); it is kept in the run's processed folder (``data/processed/<run>/mask_salt``,
:data:`analysis.frame.catalog.MASK_SALT`), the analyst's side, never in the report. So a code:

- is stable within a run (same salt, same id, same code) and differs between runs;
- says nothing about the id (no prefix or suffix of it, whatever the id looks like, a company name
  included) and cannot be reversed without the salt;
- is unique within the customers masked together: codes that would collide are lengthened, one hex
  digit at a time, until they differ.

An analyst maps the codes back with :func:`code_lookup` over the watch list (``watch_list.parquet``,
which keeps the real ids in the processed folder) and the run's salt.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import defaultdict
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.frame import catalog, storage
from analysis.methods.cleaning import PERSONAL_COLUMNS

__all__ = [
    "CODE_LENGTH", "CODE_PREFIX", "PERSONAL_COLUMNS",
    "code_lookup", "ensure_salt", "mask_customers", "read_salt", "short_codes",
]

CODE_PREFIX = "C-"
#: Hex digits of a code before any lengthening.
CODE_LENGTH = 6


def new_salt() -> str:
    """A fresh random salt: 32 hex digits (128 bits) from :mod:`secrets`."""
    return secrets.token_hex(16)


def read_salt(processed_dir: str | Path) -> str | None:
    """The run's salt stored in ``processed_dir``, or None when there is none yet."""
    path = Path(processed_dir) / catalog.MASK_SALT
    if not path.is_file():
        return None
    return path.read_text(encoding="utf-8").strip() or None


def ensure_salt(processed_dir: str | Path) -> str:
    """The run's salt in ``processed_dir``; drawn and written (atomically) when it is not there yet."""
    salt = read_salt(processed_dir)
    if salt is None:
        salt = new_salt()
        storage.write_text(salt + "\n", Path(processed_dir) / catalog.MASK_SALT)
    return salt


def _digest(customer_id: str, salt: str) -> str:
    """HMAC-SHA256(salt, customer_id) in capital hex digits."""
    return hmac.new(salt.encode("utf-8"), customer_id.encode("utf-8"), hashlib.sha256).hexdigest().upper()


def short_codes(ids: Iterable[Any], salt: str, *, length: int = CODE_LENGTH) -> dict[str, str]:
    """A unique code per distinct id: ``C-`` + the first ``length`` hex digits of its HMAC.

    Ids whose first ``length`` digits collide get one more digit each, until every code differs
    (codes of different lengths never match, so the result is unique). Missing ids are skipped.

    Returns
    -------
    dict
        ``{customer_id (as text): code}``.
    """
    digests = {text: _digest(text, salt) for text in dict.fromkeys(str(v) for v in ids if not _missing(v))}
    codes: dict[str, str] = {}
    pending, width = list(digests), length
    while pending:
        groups: dict[str, list[str]] = defaultdict(list)
        for customer in pending:
            groups[digests[customer][:width]].append(customer)
        pending = [c for members in groups.values() if len(members) > 1 for c in members]
        codes.update({members[0]: CODE_PREFIX + prefix for prefix, members in groups.items() if len(members) == 1})
        width += 1
    return codes


def mask_customers(
    df: pd.DataFrame,
    salt: str,
    *,
    id_column: str = "customer_id",
    personal: Collection[str] = PERSONAL_COLUMNS,
) -> pd.DataFrame:
    """A copy for the manager report: ``personal`` columns dropped and each id replaced by its code.

    Codes are unique over the rows of ``df`` (see :func:`short_codes`); the input is left untouched.
    """
    out = df.drop(columns=[c for c in personal if c in df.columns])
    if id_column in out:
        codes = short_codes(out[id_column], salt)
        out[id_column] = out[id_column].map(lambda v: pd.NA if _missing(v) else codes[str(v)]).astype("string")
    return out


def code_lookup(df: pd.DataFrame, salt: str, *, id_column: str = "customer_id") -> pd.DataFrame:
    """The analyst's key: ``code`` → ``customer_id`` for the rows of ``df`` (e.g. the watch list).

    Called with the same table and salt as :func:`mask_customers`, it gives the same codes.
    """
    codes = short_codes(df[id_column], salt)
    return pd.DataFrame({"code": list(codes.values()), id_column: list(codes)}, dtype="string")


def _missing(value: Any) -> bool:
    return value is None or (not isinstance(value, str) and bool(pd.isna(value)))
