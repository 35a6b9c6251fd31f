"""The columns of a table that a stage does not read: left in the file while it works, put back in what it writes.

Stage 4 reads customers.parquet and writes it again with columns of its own; most of the table's
columns (the customer master's, the earlier stages' scores and intervals) pass through it untouched.
It names the columns it reads and holds only those while it works (:meth:`UnreadColumns.of`), then
reads the others back into the places they had (:meth:`UnreadColumns.put_back`): what it writes is
what it would have written from the whole table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import takewhile
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from analysis.frame.storage import columns_present, read_parquet
from analysis.methods.ids import keys_aligned, left_joined


@dataclass(frozen=True)
class UnreadColumns:
    """The columns of the parquet file ``path`` (``order``: all of them, in the file's order) that a
    stage did not read (those not in ``read``), found again by ``key``."""

    path: Path
    order: tuple[str, ...]
    read: tuple[str, ...]
    key: str = "customer_id"

    @classmethod
    def of(cls, path: str | Path, wanted: Sequence[str], key: str = "customer_id") -> UnreadColumns:
        """The columns of ``path`` beyond ``wanted``, those a stage reads (as ``Study.read`` reads them:
        the names the file lacks left out)."""
        if key not in wanted:
            raise ValueError(f"the columns read must hold the key {key!r} to put the others back by it")
        return cls(Path(path), tuple(pq.read_schema(path).names), tuple(columns_present(path, wanted)), key)

    @property
    def unread(self) -> list[str]:
        read = set(self.read)
        return [name for name in self.order if name not in read]

    def put_back(self, *tables: pd.DataFrame) -> list[pd.DataFrame]:
        """Each of ``tables`` (made by the stage from the columns it read, one row per key, e.g. the
        customers and a list of some of them) with the unread columns put back where they stood.

        The read columns a table still has at its start in the file's order stand among the unread
        ones as in the file; the columns after them (those the stage added, or dropped and added
        again) come last, in the table's order. A column the stage wrote is its own: an unread
        column of the same name is not put back. The unread columns are read once, for every table.
        """
        if not self.unread:
            return list(tables)
        values = read_parquet(self.path, columns=[self.key, *self.unread])
        return [self._put_back(table, values) for table in tables]

    def _put_back(self, table: pd.DataFrame, values: pd.DataFrame) -> pd.DataFrame:
        # the read columns still in the file's order: a column dropped and added again stands after them
        as_read = [name for name in self.read if name in table.columns]
        in_place = [name for name, _ in takewhile(lambda pair: pair[0] == pair[1], zip(table.columns, as_read))]
        back = [name for name in self.unread if name not in table.columns]
        if keys_aligned(table[self.key], values[self.key]):  # the stage kept the file's rows: no look-up, no copy
            found = values
        else:
            found = left_joined(table[[self.key]], values[[self.key, *back]])
        placed = {*in_place, *back}
        columns = [name for name in self.order if name in placed]
        columns += list(table.columns[len(in_place):])
        chosen = {name: found[name] if name in back else table[name] for name in columns}
        # the columns as they are, not stacked into blocks by a copy
        return pd.DataFrame({name: column.set_axis(table.index) for name, column in chosen.items()}, copy=False)
