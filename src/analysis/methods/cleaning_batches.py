"""The transactions cleaned batch by batch, out of core: the export never sits whole in memory as text.

:func:`analysis.methods.cleaning.clean_transactions` reads a delimited export through here. The
definition of cleaning is not repeated: every batch goes through the same functions as a whole
file does (:func:`~analysis.methods.cleaning.total_label_rows`, :func:`~analysis.methods.cleaning.parse_amounts`,
:func:`~analysis.methods.ids.repair_ids`, :func:`~analysis.methods.cleaning.parse_dates`, ...), and
the checks that need the whole column run on compact typed columns of every row, again through the
same functions and the same :class:`~analysis.methods.cleaning._Triage` in the same order. So each
row gets the reason, detail and typed values it gets when the file is read whole.

1. **Row by row, per batch** (:data:`ROWS_PER_BATCH` rows, read by
   :func:`analysis.methods.loading.delimited_batches`): the total-label check, the amounts, the
   repaired ids, the dates and the typed columns of the kept-row schema. The batch's typed columns
   and per-row flags go to an Arrow file in a temporary folder (about 130 bytes a row); only a
   64-bit hash of each row's text is kept in memory. The text of the few rows that need it (the
   quarantine's raw text) is read again later: from the file, for a block read as bytes, else from
   an Arrow file of the batch's cells written beside the part. On a large file this runs in worker
   processes, one per core (:func:`worker_count`), each reading its own batches' bytes from the file where it can
   (:class:`~analysis.methods.loading.ByteBlock`); :func:`started_workers`
   starts them while this process does other work (stage 1 reads the customer master first). The folder is named
   with the process id: a run killed before it could
   remove it (SIGKILL, out of memory) leaves it behind, and the next cleaning removes the folders of
   processes that no longer run (:func:`scratch_folder`).
2. **Across rows, on compact columns** (floats, dates, booleans, hashes: about 40 bytes a row):
   exact duplicates (the rows whose hash occurs more than once are read back and judged by pandas'
   ``duplicated`` on their text, so a hash collision cannot make a duplicate), the grand-total
   line, then the reasons in their order and the outlier rule on what is still open.
3. **The results**: the kept rows' customer ids become their sorted codes (from the places the
   batches found them at in the customer master's sorted ids, :class:`MasterBook`, or read back as
   a dictionary). Then, in passes over ranges of customers of about :data:`KEPT_ROWS_PER_PASS` rows
   (one pass up to that size), the pass's kept rows are read back from the typed parts (never a
   text cell that is not kept; low-cardinality text as categoricals), their order ids coded,
   returns netted and purchases flagged as before (:func:`~analysis.methods.cleaning.net_returns`,
   :func:`~analysis.methods.cleaning.purchase_flags`) on the ids' sorted codes (ranked by Arrow), a
   smaller range of customers at a time, and each range is written to the parquet file of the
   result as soon as it is netted; the quarantined rows' text is read back for
   :func:`~analysis.methods.cleaning.quarantine_frame`.

Memory: one batch of text at a time plus the compact columns, then the kept rows of one pass
(typed, their ids as codes) and a few netting parts; the netted rows with their text columns are
never whole in memory when they are written to the stage's output (``write_to``). xlsx, parquet and
text files with undecodable lines are read whole, as before (Excel holds at most 1,048,576 rows anyway).
"""

from __future__ import annotations

import os
import pickle
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from contextlib import closing, contextmanager
from dataclasses import dataclass
from functools import cached_property, lru_cache, partial
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from joblib.externals.loky import ProcessPoolExecutor

from analysis.frame.params import Cleaning, InputFile, Period
from analysis.methods import cleaning as c
from analysis.methods.codes import (
    code_order,
    distinct_text,
    hashes,
    repeated,
    sorted_text,
    text_array,
)
from analysis.methods.cores import beside, in_order, in_threads, usable_cores
from analysis.methods.ids import (
    REPAIR_KINDS,
    MasterIds,
    PaddingReference,
    leading_zero_collisions,
    repair_ids,
)
from analysis.methods.loading import (
    SOURCE_ROW,
    ByteBlock,
    DelimitedBatches,
    InputFileError,
    delimited_batches,
    detect_format,
    map_columns,
)
from analysis.methods.memory import release_free_memory

#: Rows per batch: about 60 MB of text cells in a batch of the sample export's width.
ROWS_PER_BATCH = 250_000
#: Files larger than this get worker processes for the row-level work (:func:`worker_count`): about 160k sample rows.
MIN_BYTES_FOR_WORKERS = 16 * 2**20
#: Returns are netted on parts of about this many batches' rows (whole customers each), a few at a time.
NETTING_PART_BATCHES = 2
#: The kept rows are read back for the netting in passes over ranges of customers of about this many
#: rows each, so that the memory they take stops growing with the export (10M kept rows: about 1.2 GB).
KEPT_ROWS_PER_PASS = 12_000_000

_TEXT_COLUMNS = ("product_category", "channel")
_KEYS = ["customer_id", "order_id"]
_ARROW_TEXT = {pa.string(): pd.StringDtype("pyarrow"), pa.large_string(): pd.StringDtype("pyarrow")}
#: The columns of every row kept in memory for the checks across rows (with ``_missing_id``).
_COMPACT_COLUMNS = ["amount", "order_date", "_total_label", "_ambiguous", *(f"_repair_{kind}" for kind in REPAIR_KINDS)]
_NUMBER_COLUMNS = ("quantity", "cost")
#: The columns of the netted rows whose values are nearly all distinct (:class:`_PartsFile`).
_MOSTLY_DISTINCT = ("order_id", "source_row", "amount", "gross_amount", "returned_amount", "cost")


@dataclass
class _Parts:
    """The parts of one cleaning: the text of each batch and its typed columns (Arrow files).

    A batch's text is its block of the file (:class:`~analysis.methods.loading.ByteBlock`), whose
    lines are read again for the few rows whose text is needed, or, for a batch read as text, an
    Arrow file of its cells.
    """

    folder: Path
    raw: list[Path | ByteBlock]
    typed: list[Path]
    sizes: list[int]

    def adopt(self, raw: Path | ByteBlock, typed: Path, rows: int) -> None:
        """Add a batch's parts (written by :class:`_BatchWork`), in file order."""
        self.raw.append(raw)
        self.typed.append(typed)
        self.sizes.append(rows)

    def read(self, kind: str, keep: np.ndarray, columns: list[str] | None = None, dictionary: list[str] | None = None) -> pa.Table:
        """The rows of ``keep`` (a mask over every row, in file order) of the ``raw`` or ``typed`` parts.

        ``dictionary`` columns are read dictionary-encoded (pandas makes them categoricals).
        """
        def rows(part: Path | ByteBlock, mask: np.ndarray) -> pa.Table:
            if isinstance(part, ByteBlock):
                table = pa.Table.from_pandas(part.rows(np.flatnonzero(mask)), preserve_index=False)
                return table if columns is None else table.select(columns)
            # memory-mapped and uncompressed: nothing is copied but the kept rows of the columns asked for
            table = pa.ipc.open_file(pa.memory_map(str(part))).read_all()
            table = (table if columns is None else table.select(columns)).filter(pa.array(mask))
            for name in dictionary or []:
                table = table.set_column(table.schema.get_field_index(name), name, pc.dictionary_encode(table[name]))
            return table

        masks = [keep[start:stop] for start, stop in pairwise(np.cumsum([0, *self.sizes]))]
        wanted = [(part, mask) for part, mask in zip(getattr(self, kind), masks, strict=True) if mask.any()]
        # read and filtered on the usable cores: Arrow does both without the interpreter lock
        tables = list(in_threads(lambda item: rows(*item), wanted))
        if not tables:
            return rows(getattr(self, kind)[0], np.zeros(self.sizes[0], dtype=bool))
        return pa.concat_tables(tables)


@dataclass(frozen=True)
class MasterBook:
    """The customer master's ids, sorted: each batch codes its customer ids by their place among them.

    The kept rows' ids then reach this process as numbers (:func:`_codes_by_book`), not as a dictionary
    of text per batch for pandas to merge: merging them took seconds for ten million rows.
    """

    ids: pa.Array  # distinct, sorted as Arrow sorts text

    @classmethod
    def of(cls, master_ids: MasterIds | None) -> MasterBook | None:
        if master_ids is None:
            return None
        ids = PaddingReference.of(master_ids).ids  # distinct
        return cls(ids.take(pc.sort_indices(ids))) if len(ids) else None

    @cached_property
    def _hashed(self) -> pd.Index | None:
        """The ids' 64-bit hashes in the book's order, as an index (a hash table: a quarter of the time
        of a binary search in the sorted hashes); None should two ids share a hash. Made where ids are
        first coded (the worker processes)."""
        hashed = pd.Index(hashes([self.ids], threads=1))
        return hashed if hashed.is_unique else None

    def codes(self, ids: pd.Series) -> np.ndarray:
        """Each id's place in the book (int32; -1: not in it, or missing), looked up once per distinct id:
        the place holding its hash, if the text there is its text."""
        distinct, positions = distinct_text(ids)
        text = text_array(distinct)
        if self._hashed is None:  # two of the book's ids share a hash: Arrow's lookup of the text
            return pc.fill_null(pc.index_in(text, value_set=self.ids), -1).to_numpy().astype(np.int32)[positions]
        at = self._hashed.get_indexer(hashes([text], threads=1))
        found = at >= 0
        same = pc.fill_null(pc.equal(text, self.ids.take(np.where(found, at, 0))), False).to_numpy(zero_copy_only=False)
        return np.where(found & same, at, -1).astype(np.int32)[positions]


SCRATCH_PREFIX = "clean-transactions-"


def scratch_folder() -> tempfile.TemporaryDirectory:
    """The temporary folder of one cleaning's parts, named ``clean-transactions-<pid>-…``; first the
    folders that processes no longer running left in the temporary directory are removed."""
    remove_orphaned_scratch(Path(tempfile.gettempdir()))
    return tempfile.TemporaryDirectory(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-")


def remove_orphaned_scratch(root: Path) -> list[Path]:
    """Remove the ``clean-transactions-<pid>-…`` folders in ``root`` whose process no longer runs."""
    if os.name != "posix":  # os.kill(pid, 0) asks whether a process exists on POSIX only
        return []
    removed = []
    for folder in root.glob(f"{SCRATCH_PREFIX}*-*"):
        pid = folder.name.removeprefix(SCRATCH_PREFIX).split("-", 1)[0]
        if folder.is_dir() and pid.isdigit() and not _running(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def clean_transactions_in_batches(
    spec: InputFile, period: Period, cleaning: Cleaning, read: DelimitedBatches,
    *, master_ids: MasterIds | None = None, known_ids: MasterIds | None = None, workers: int | Workers | None = None,
    write_to: Path | None = None,
) -> c.CleanResult:
    """Clean the transactions of a delimited export batch by batch; the same result as reading it whole.

    ``master_ids`` is the zero-padding reference (already None when ``cleaning.pad_ids_to_master`` is off);
    ``known_ids`` the customer master's ids, whatever the repair (:class:`MasterBook`), or None.
    ``workers``: processes for the row-level work (default :func:`worker_count`; 1 works here), or
    the processes :func:`started_workers` started, which are shut down once the batches are done.
    ``write_to``: the parquet file the kept rows are written to as they are made, instead of being
    returned (see :func:`analysis.methods.cleaning.clean_transactions`).
    """
    workers = worker_count(spec.path) if workers is None else workers
    reference = None if master_ids is None else PaddingReference.of(master_ids)
    with scratch_folder() as folder:
        parts = _Parts(Path(folder), [], [], [])
        hashes, compact = [], []
        names: list[str] = []
        book = MasterBook.of(known_ids)
        for done in _batches_done(read, _BatchWork(Path(folder), spec, cleaning, reference, book), workers):
            names = done.names
            parts.adopt(done.raw, done.typed, done.rows)
            hashes.append(done.hashes)
            compact.append(done.compact)
        # handed over without a name here, so that they are freed once the checks are done
        triaged = _triage(spec, period, cleaning, read, parts, _joined(hashes), names, _joined(compact))
        return _results(spec, cleaning, read, parts, triaged, book, write_to)


@dataclass(frozen=True)
class _BatchDone:
    """What the row-level work on one batch leaves: its two parts, its rows' hashes and compact columns,
    and the names of the batch's columns."""

    names: list[str]
    raw: Path | ByteBlock
    typed: Path
    rows: int
    hashes: np.ndarray
    compact: pd.DataFrame


@dataclass(frozen=True)
class _BatchWork:
    """The row-level work on one batch (:func:`_typed_batch`), the same in this process or a worker's."""

    folder: Path
    spec: InputFile
    cleaning: Cleaning
    reference: PaddingReference | None
    book: MasterBook | None

    def __call__(self, number: int, raw: pd.DataFrame, block: ByteBlock | None = None) -> _BatchDone:
        """The work on ``raw``, the rows of ``block`` when they were read from it."""
        hashes = _row_hashes(raw.drop(columns=[SOURCE_ROW]))
        typed = _typed_batch(raw, self.spec, self.cleaning, self.reference)
        typed_path = self.folder / f"typed-{number:05d}.arrow"
        # the text is needed for the few rows set aside: a block's is in the file (writing it again to a
        # disk cost a quarter of the work); a batch read as text has it written in Arrow's format, as held
        text_part: Path | ByteBlock | None = block
        if text_part is None:
            text_part = self.folder / f"raw-{number:05d}.arrow"
            text = pa.Table.from_pandas(raw, preserve_index=False)
            with pa.ipc.new_file(text_part, text.schema) as file:
                file.write_table(text)
        # the typed columns of every row kept are read back whole: in Arrow's format, uncompressed, they
        # are written in a sixth of the time parquet's lz4 took (which was a seventh of the batch's work)
        # and read back memory-mapped; the files are 4 times as large (10M rows: 1.3 GB in all)
        typed_table = pa.Table.from_pandas(typed, preserve_index=False)
        with pa.ipc.new_file(typed_path, typed_table.schema) as file:
            file.write_table(typed_table)
        compact = typed[_COMPACT_COLUMNS].assign(_missing_id=typed["customer_id"].isna().to_numpy())
        if self.book is not None:
            compact["_book_code"] = self.book.codes(typed["customer_id"])
        return _BatchDone(list(raw.columns), text_part, typed_path, len(raw), hashes, compact)

    def on_block(self, number: int, block: ByteBlock) -> _BatchDone | ByteBlock:
        """The work on a block, read here; the block, when it is not plain (read as text from there on)."""
        raw = block.frame()
        return block if raw is None else self(number, raw, block)


def _row_hashes(cells: pd.DataFrame) -> np.ndarray:
    """A 64-bit hash of each row's cells (:func:`analysis.methods.codes.hashes`, one thread: this runs in
    a worker); the rows that share a hash are compared cell by cell (:func:`_duplicates`)."""
    table = pa.Table.from_pandas(cells, preserve_index=False)
    return hashes([column.cast(pa.large_string()) for column in table.columns], threads=1)


def _batches_done(read: DelimitedBatches, work: _BatchWork, workers: int | Workers) -> Iterator[_BatchDone]:
    """Each batch of ``read`` with its work done, in file order.

    A UTF-8 file's plain blocks are read where their work is done
    (:class:`~analysis.methods.loading.ByteBlock`): with ``workers`` > 1, or started workers, each
    worker process reads its own from the file, so that this process neither parses the text nor
    hands it over (at most one batch per worker and one more are in flight, so memory stays
    bounded). From the first block that is not plain, and throughout a file in another encoding,
    this process reads the rest as text (:meth:`~analysis.methods.loading.DelimitedBatches.batches`)
    and hands each batch over. The workers are shut down once the batches are done: the memory they
    hold is then free for the checks across rows.
    """
    if isinstance(workers, int) and workers <= 1:
        yield from _batches_by(_Here(), 0, work.on_block, work, read)
        return
    workers = Workers.start(workers) if isinstance(workers, int) else workers
    # the work reaches each worker once, through a file: started workers were started without it
    work_file = work.folder / "work.pickle"
    work_file.write_bytes(pickle.dumps(work))
    with workers.pool as pool:
        yield from _batches_by(pool, workers.count, partial(_block_in_worker, work_file), partial(_work_in_worker, work_file), read)


def _batches_by(
    pool: Executor, ahead: int, on_block: Callable[[int, ByteBlock], _BatchDone | ByteBlock],
    on_frame: Callable[[int, pd.DataFrame], _BatchDone], read: DelimitedBatches,
) -> Iterator[_BatchDone]:
    """:func:`_batches_done` with ``pool`` running the work, ``ahead`` batches beyond the one awaited."""
    as_text_from: ByteBlock | None = None
    blocks = read.byte_blocks()
    number = 0
    if blocks is not None:
        # closed at a block that is not plain: the blocks after it are cancelled or waited for, and
        # their parts written again
        with closing(in_order(pool, ((on_block, n, block) for n, block in enumerate(blocks)), ahead=ahead)) as results:
            for result in results:
                if isinstance(result, ByteBlock):  # not plain: read as text from here on
                    as_text_from = result
                    break
                yield result
                number += 1
        if as_text_from is None and number:
            return
    yield from in_order(pool, ((on_frame, n, raw) for n, raw in enumerate(read.batches(as_text_from), start=number)), ahead=ahead)


class _Here(Executor):
    """Runs each task as it is submitted, in this thread."""

    def submit(self, fn: Callable, /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as error:  # handed over as a pool hands it over: at result()
            future.set_exception(error)
        return future


@dataclass(frozen=True)
class Workers:
    """Worker processes for the row-level work, and how many."""

    pool: Executor
    count: int

    @classmethod
    def start(cls, count: int) -> Workers:
        # loky's workers are started fresh, not forked (a notebook's kernel runs threads a fork would
        # copy mid-work), and, unlike multiprocessing's spawn, never run the caller's script again
        return cls(ProcessPoolExecutor(count), count)

    @classmethod
    def on_spark(cls) -> Workers:
        """Spark's executors (:mod:`analysis.methods.spark_tasks`), as many at once as its default parallelism."""
        from analysis.methods.spark_tasks import spark_tasks

        pool = spark_tasks()
        return cls(pool, pool.count)


@contextmanager
def started_workers(spec: InputFile, engine: str = "duckdb") -> Iterator[Workers | None]:
    """The worker processes for the transactions of ``spec`` (:func:`worker_count`), started now, so
    that they start (about a second each, importing the libraries) while this process does other
    work; None when the file gets no workers. Pass them to :func:`clean_transactions_in_batches`;
    they are shut down when the block ends, if the cleaning has not done so already.

    ``engine`` "spark": a delimited file's batches are worked on by Spark's executors, whatever its size."""
    try:
        delimited = spec.path.is_file() and (detect_format(spec.path) if spec.format == "auto" else spec.format) == "csv"
    except InputFileError:  # the cleaning of the transactions says so, in its turn
        delimited = False
    if delimited and engine == "spark":
        workers = Workers.on_spark()
    else:
        count = worker_count(spec.path) if delimited else 1
        if count <= 1:
            yield None
            return
        workers = Workers.start(count)
    with workers.pool:
        for _ in range(workers.count):
            workers.pool.submit(_start_worker)
        yield workers


def _start_worker() -> None:
    """Nothing: a worker started by it has imported this module and so the libraries of the work."""


@lru_cache(maxsize=1)
def _work_from(work_file: Path) -> _BatchWork:
    """The work in ``work_file``, read once per worker process."""
    if not work_file.is_file():
        raise FileNotFoundError(
            f"the cleaning's scratch folder {work_file.parent} is not visible to this worker ({socket.gethostname()}): "
            "run Spark's executors where they see the driver's files, or set TMPDIR to a folder they all mount"
        )
    return pickle.loads(work_file.read_bytes())


def _work_in_worker(work_file: Path, number: int, raw: pd.DataFrame) -> _BatchDone:
    return _work_from(work_file)(number, raw)


def _block_in_worker(work_file: Path, number: int, block: ByteBlock) -> _BatchDone | ByteBlock:
    return _work_from(work_file).on_block(number, block)


def transaction_batches(spec: InputFile, rows_per_batch: int | None = None) -> DelimitedBatches | None:
    """How :func:`~analysis.methods.cleaning.clean_transactions` reads the transactions of ``spec``: in
    batches of ``rows_per_batch`` rows (default :data:`ROWS_PER_BATCH`), or, None, whole (0 asks for
    that; so do files :func:`~analysis.methods.loading.delimited_batches` cannot read in batches).

    Finding out reads the whole file once, to check that it decodes (1.2 s for 10M rows, on one core):
    stage 1 does it beside the cleaning of the customer master.
    """
    batch = ROWS_PER_BATCH if rows_per_batch is None else rows_per_batch
    return delimited_batches(spec, "transactions", batch) if batch > 0 else None


def worker_count(path: Path) -> int:
    """Worker processes for the row-level work on ``path``: one per core the process may use, when
    the file holds more than :data:`MIN_BYTES_FOR_WORKERS` (a worker takes about a second to start)."""
    cores = usable_cores()
    return cores if cores > 1 and path.stat().st_size > MIN_BYTES_FOR_WORKERS else 1


def _joined(pieces: list) -> Any:
    """The batches' pieces as one array or frame; the list is emptied, so the pieces go when the whole does.

    A frame is joined a column at a time, each column's pieces given back to the system once it is
    joined, so that the pieces and the whole are not both in memory (30M rows: 0.9 GB each).
    """
    if isinstance(pieces[0], np.ndarray):
        whole = np.concatenate(pieces)
        pieces.clear()
        return whole
    columns = {}
    for name in pieces[0].columns:
        columns[name] = pd.concat([piece.pop(name) for piece in pieces], ignore_index=True)
        release_free_memory()
    pieces.clear()
    return pd.DataFrame(columns, copy=False)


@dataclass
class _Triaged:
    """What the checks across rows leave for the results: which rows are kept, the quarantine, counts."""

    open_rows: np.ndarray
    outliers_kept: np.ndarray
    quarantine: pd.DataFrame
    rows_in: int
    repairs: dict[str, int]
    book_codes: np.ndarray | None  # the kept rows' places in the master's book (:class:`MasterBook`)


def _typed_batch(raw: pd.DataFrame, spec: InputFile, cleaning: Cleaning, reference: PaddingReference | None) -> pd.DataFrame:
    """The row-level checks and typed columns of one batch (see :func:`analysis.methods.cleaning._read_and_triage`)."""
    df = map_columns(raw, spec, "transactions")
    id_header = c._header_of(spec, "customer_id")
    labelled, label_detail = c.total_label_rows(raw, df["customer_id"], id_header)
    ids = repair_ids(df["customer_id"], reference)
    out = pd.DataFrame(
        {
            SOURCE_ROW: raw[SOURCE_ROW].astype("int64"),
            "customer_id": ids.ids.astype("string"),
            "order_id": c.normalise_ids(df["order_id"]) if "order_id" in df else pd.Series(pd.NA, index=df.index, dtype="string"),
            "order_date": c.parse_dates(df["order_date"], cleaning.date_formats, excel_serials=cleaning.excel_serial_dates),
            "amount": c.parse_amounts(df["amount"]).astype("float64"),
        }
    )
    for name in _NUMBER_COLUMNS:
        out[name] = c.parse_amounts(df[name]) if name in df else np.nan
    for name in _TEXT_COLUMNS:
        out[name] = df[name].astype("string").str.strip() if name in df else pd.Series(pd.NA, index=df.index, dtype="string")
    out["_total_label"] = labelled.to_numpy(dtype=bool)
    out["_total_label_detail"] = label_detail
    out["_ambiguous"] = ids.ambiguous.to_numpy(dtype=bool)
    out["_ambiguous_detail"] = c.rounded_id_details(ids, id_header)
    for kind in REPAIR_KINDS:
        out[f"_repair_{kind}"] = ids.repairs[kind].to_numpy(dtype=bool)
    return out


def _duplicates(hashes: np.ndarray, parts: _Parts, names: list[str]) -> np.ndarray:
    """Rows equal in every cell to an earlier row: ``duplicated(keep='first')`` on the rows sharing a hash."""
    shared = repeated(hashes)
    flags = np.zeros(len(hashes), dtype=bool)
    if not shared.any():
        return flags
    candidates = parts.read("raw", shared).to_pandas()
    cells = candidates[[n for n in names if n != SOURCE_ROW]].astype("string")
    flags[np.flatnonzero(shared)] = cells.duplicated(keep="first").to_numpy()
    return flags


def _sparse_detail(parts: _Parts, flags: np.ndarray, column: str) -> pd.Series:
    """A detail column at the flagged rows only (index: row position)."""
    values = parts.read("typed", flags, [column]).column(0).to_pandas().astype("string")
    values.index = np.flatnonzero(flags)
    return values


def _triage(
    spec: InputFile, period: Period, cleaning: Cleaning, read: DelimitedBatches, parts: _Parts,
    hashes: np.ndarray, names: list[str], compact: pd.DataFrame,
) -> _Triaged:
    """The checks across rows on the compact columns of every row, in their order; the quarantine."""
    rejected = read.rejected_frame()
    privacy = c.Privacy.of(spec, "transactions", read)
    triage = c._Triage(compact, rejected, privacy)
    # the checks of _read_and_triage and clean_transactions, in their order
    triage.set_aside(pd.Series(_duplicates(hashes, parts, names)), "duplicate")
    labelled = compact["_total_label"].to_numpy()
    triage.set_aside(compact["_total_label"], "total_row", _sparse_detail(parts, labelled, "_total_label_detail"))
    if cleaning.grand_total_tolerance > 0:
        summed, sum_detail = c.grand_total_rows(compact["amount"], triage.open, cleaning.grand_total_tolerance)
        triage.set_aside(summed, "total_row", sum_detail)
    triage.set_aside(compact["_missing_id"], "missing_customer_id")
    ambiguous = compact["_ambiguous"].to_numpy()
    triage.set_aside(compact["_ambiguous"], "ambiguous_customer_id", _sparse_detail(parts, ambiguous, "_ambiguous_detail"))
    triage.set_aside(compact["order_date"].isna(), "invalid_date")
    triage.set_aside(compact["amount"].isna(), "invalid_amount")
    triage.set_aside(compact["order_date"] < pd.Timestamp(period.start), "before_period_start")
    triage.set_aside(compact["order_date"] > pd.Timestamp(period.end), "after_period_end")
    outliers = c.outlier_mask(compact["amount"].where(triage.open), cleaning.outliers)
    if cleaning.outliers.action == "quarantine":
        triage.set_aside(outliers, "outlier")

    open_rows = triage.open.to_numpy()
    raw_bad = parts.read("raw", ~open_rows).to_pandas()
    raw_bad = raw_bad.astype({n: "string" for n in names if n != SOURCE_ROW})
    reasons, details = triage.set_aside_reasons()
    quarantine = c.quarantine_frame(raw_bad, reasons, "transactions", spec.path.name, details, privacy)
    if len(rejected):
        unread = c.unreadable_frame(rejected, "transactions", spec.path.name, privacy)
        quarantine = pd.concat([quarantine, unread], ignore_index=True)
        quarantine = quarantine.sort_values("source_row", kind="stable", ignore_index=True)

    repairs = {kind: int(compact[f"_repair_{kind}"].to_numpy()[open_rows].sum()) for kind in REPAIR_KINDS}
    book_codes = compact["_book_code"].to_numpy()[open_rows] if "_book_code" in compact else None
    return _Triaged(open_rows, outliers.to_numpy(dtype=bool)[open_rows], quarantine, triage.rows_in, repairs, book_codes)


def _results(
    spec: InputFile, cleaning: Cleaning, read: DelimitedBatches, parts: _Parts, triaged: _Triaged, book: MasterBook | None,
    write_to: Path | None,
) -> c.CleanResult:
    """The kept rows netted and flagged, with the quality counts: written to ``write_to`` as they are
    made, or, without it, to a file of the scratch folder that is read back as the result's frame."""
    release_free_memory()  # what the batch loop and the checks left
    customer_codes, customer_ids = _customer_codes(parts, triaged, book)
    # the count depends on the distinct ids only
    collisions = leading_zero_collisions(pd.Series(pd.array(customer_ids, dtype="string")))
    rows_kept = len(customer_codes)
    parts_to_net = _parts_to_net(parts, triaged, customer_codes, customer_ids, NETTING_PART_BATCHES * read.rows_per_batch)
    path = parts.folder / "netted.parquet" if write_to is None else write_to
    netted = _write_netted_parts(parts_to_net, cleaning, path)
    quarantine = triaged.quarantine
    quality = c.quality_counts(
        triaged.rows_in, rows_kept, quarantine,
        returns_netted=netted.returns_netted,
        unmatched_returns=netted.unmatched_returns,
        outliers_flagged=netted.outliers_flagged,
        zero_amount_rows=netted.zero_amount_rows,
        rows_written=netted.rows,
        ids_repaired=triaged.repairs,
        warnings={"leading_zero_id_collisions": collisions},
    )
    if write_to is None:
        return c.CleanResult(pd.read_parquet(path), quarantine, quality)
    # every kept row's customer is there after the netting: a return is netted only into an order of its customer
    return c.CleanResult(None, quarantine, quality, c.WrittenRows(path, netted.rows, netted.purchases, customer_ids))


def _customer_codes(parts: _Parts, triaged: _Triaged, book: MasterBook | None) -> tuple[np.ndarray, pa.Array]:
    """:func:`_sorted_codes` of the kept rows' customer ids (in row order), and the text of each code:
    from their places in the master's book, or from their column, read dictionary-encoded."""
    if book is not None:
        return _codes_by_book(book, triaged.book_codes, _ids_not_in_book(parts, triaged))
    ids = parts.read("typed", triaged.open_rows, ["customer_id"], dictionary=["customer_id"])
    return _sorted_codes(ids.column(0).to_pandas())


def _pass_bounds(codes: np.ndarray, n_customers: int, rows_per_pass: int) -> np.ndarray:
    """The customer codes at which the netting passes start and end: ranges of whole customers of
    about ``rows_per_pass`` of the kept rows (``codes``) each, one range when they are fewer."""
    n_passes = max(1, min(-(-len(codes) // max(rows_per_pass, 1)), n_customers))
    if n_passes == 1:
        return np.array([0, n_customers])
    ends = np.concatenate([[0], np.cumsum(np.bincount(codes, minlength=n_customers))])  # rows before each code
    targets = np.arange(1, n_passes) * len(codes) / n_passes
    after = np.searchsorted(ends, targets)  # the first code whose rows end the pass at or past its target
    nearer = np.where(ends[after] - targets <= targets - ends[after - 1], after, after - 1)
    return np.unique(np.concatenate([[0], nearer.clip(1, n_customers - 1), [n_customers]]))


def _parts_to_net(
    parts: _Parts, triaged: _Triaged, customer_codes: np.ndarray, customer_ids: pa.Array, rows_per_part: int,
) -> Iterator[_Cut]:
    """The kept rows cut into parts of whole customers in id order (:func:`_customer_parts`), read
    pass by pass (:data:`KEPT_ROWS_PER_PASS`).

    A pass reads the kept rows of a range of customers from the typed parts and codes their order
    ids (:func:`_sorted_codes`) within the pass: the netting and the purchase flags match order ids
    within a customer only, and sort by customer first, so codes in the text's order within a pass
    give what codes for every kept row give. The next pass is read once every part of this one has
    been cut, so that one pass of kept rows is in memory at a time (the netting of the pass's last
    parts goes on meanwhile; what is netted waits to be written until the next pass is read).
    """
    if len(customer_codes) and customer_codes.min() < 0:
        raise AssertionError("a kept row without a customer id")  # set aside by the checks: a bug, never the data
    bounds = _pass_bounds(customer_codes, len(customer_ids), KEPT_ROWS_PER_PASS)
    whole = len(bounds) == 2
    cuts: list[_Cut] = []
    for low, high in pairwise(bounds):
        if cuts:  # the pass before: handed out, cut on the threads that net them, then let go
            for cut in cuts:
                cut.done.wait()
            cuts = []
            release_free_memory()
        in_pass = slice(None) if whole else (customer_codes >= low) & (customer_codes < high)
        rows = triaged.open_rows
        if not whole:
            rows = np.zeros_like(rows)
            rows[triaged.open_rows] = in_pass
        kept = _kept_rows(parts, rows, triaged.outliers_kept[in_pass], customer_codes[in_pass])
        release_free_memory()
        # the order ids' sort (one core, 1.6 s for 10M rows) runs beside the customers' order
        with beside(_sorted_codes, kept["order_id"]) as sorting_orders:
            by_customer = code_order(kept["customer_id"].to_numpy())
        order_codes, order_ids = sorting_orders.result()
        coded = kept.assign(order_id=order_codes)
        del kept, order_codes, sorting_orders  # the order ids' text goes before the parts are cut
        release_free_memory()
        cuts = list(_customer_parts(coded, by_customer, (low, high), rows_per_part,
                                    {"customer_id": customer_ids, "order_id": order_ids}))
        del coded, by_customer, order_ids  # held by the parts until the last is cut
        yield from cuts


def _kept_rows(parts: _Parts, rows: np.ndarray, is_outlier: np.ndarray, customer_codes: np.ndarray) -> pd.DataFrame:
    """The kept ``rows`` in the schema of :func:`analysis.methods.cleaning._typed_transactions`, but compact.

    The customer ids come as their sorted codes (``customer_codes``), the text columns (few distinct
    values) as categoricals, the order ids as Arrow text (pandas' default would make a Python
    object of every cell). :func:`_netted_part` turns them into the schema's text once the rows are netted.
    """
    columns = ["order_id", "order_date", "amount", *_NUMBER_COLUMNS, *_TEXT_COLUMNS, SOURCE_ROW]
    table = parts.read("typed", rows, columns, dictionary=list(_TEXT_COLUMNS))
    frame = table.to_pandas(types_mapper=_ARROW_TEXT.get, self_destruct=True)
    del table
    out = pd.DataFrame(
        {
            "customer_id": customer_codes,
            "order_id": frame["order_id"].astype("string"),
            "order_date": frame["order_date"].astype("datetime64[us]"),
            "amount": frame["amount"].astype("float64"),
            **{name: frame[name].astype("float64") for name in _NUMBER_COLUMNS},
            **{name: frame[name] for name in _TEXT_COLUMNS},
            "is_outlier": is_outlier.astype(bool),
            "source_row": frame[SOURCE_ROW].astype("int64"),
        },
        copy=False,  # the columns as read, not stacked into blocks by a copy
    )
    return out.reset_index(drop=True)


def _categorical_text(values: pd.Series) -> pd.Series:
    """A categorical of text as a text column: the categories taken at the codes (missing stays missing)."""
    codes = values.cat.codes.to_numpy()
    categories = pa.array(values.cat.categories.astype("string").array, type=pa.large_string())
    text = categories.take(pa.array(codes, mask=codes < 0))
    return pd.Series(pd.array(text, dtype="string"), index=values.index)


def _ids_not_in_book(parts: _Parts, triaged: _Triaged) -> pa.Array:
    """The customer ids of the kept rows not in the master's book, in row order (read back as text: few)."""
    outside = np.zeros(len(triaged.open_rows), dtype=bool)
    outside[np.flatnonzero(triaged.open_rows)[triaged.book_codes < 0]] = True
    if not outside.any():
        return pa.array([], type=pa.large_string())
    return parts.read("typed", outside, ["customer_id"]).column(0).combine_chunks().cast(pa.large_string())


def _codes_by_book(book: MasterBook, places: np.ndarray, outside: pa.Array) -> tuple[np.ndarray, pa.Array]:
    """:func:`_sorted_codes` of the kept rows' customer ids, from their ``places`` in the sorted book
    (-1: not in it) and the text of those not in it (``outside``, in row order): the book's ids in use
    keep their order, and the few others are sorted in among them."""
    in_book = places >= 0
    used = np.flatnonzero(np.bincount(places[in_book], minlength=len(book.ids)))
    renumbered = np.full(len(book.ids), -1, dtype=np.int32)
    renumbered[used] = np.arange(len(used), dtype=np.int32)
    codes = np.full(len(places), -1, dtype=np.int32)
    codes[in_book] = renumbered[places[in_book]]
    text = book.ids.take(used)
    if not len(outside):
        return codes, text
    others = pc.dictionary_encode(outside)
    position = others.indices.to_numpy()
    merged = pa.concat_arrays([text, others.dictionary])
    order = pc.sort_indices(merged).to_numpy()
    rank = np.empty(len(merged), dtype=np.int32)
    rank[order] = np.arange(len(merged), dtype=np.int32)
    codes[in_book] = rank[codes[in_book]]
    codes[~in_book] = rank[len(used) + position]
    return codes, merged.take(order)


def _customer_parts(
    coded: pd.DataFrame, by_customer: np.ndarray, codes: tuple[int, int], rows_per_part: int, ids: dict[str, pa.Array],
) -> Iterator[_Cut]:
    """``coded`` (its ids as the sorted codes of :func:`_sorted_codes`, of the customers ``codes``: a
    range; ``ids``: the text of each code) cut into ranges of customers in id order, of about
    ``rows_per_part`` rows each, each customer's rows in file order (``by_customer``:
    :func:`~analysis.methods.codes.code_order` of the customer codes).

    Parts are cut as they are netted, a few at a time, so they never all exist beside ``coded``,
    which goes once the last is cut.
    """
    customers = coded["customer_id"].to_numpy()
    low, high = codes
    n_parts = max(1, min(len(coded) // max(rows_per_part, 1), high - low))
    bounds = np.linspace(low, high, n_parts + 1).round().astype(int)
    rows = np.searchsorted(customers[by_customer], bounds)
    for start, stop in pairwise(rows):
        yield _Cut(coded, by_customer[start:stop], ids)


class _Cut:
    """One part of the kept rows, cut (once, on the thread that nets it) when called; from then on it
    no longer holds the rows it was cut from (``done`` is set). ``ids``: the text of its id codes."""

    def __init__(self, coded: pd.DataFrame, positions: np.ndarray, ids: dict[str, pa.Array]) -> None:
        self._coded: pd.DataFrame | None = coded
        self._positions: np.ndarray | None = positions
        self.ids = ids
        self.done = threading.Event()

    def __call__(self) -> pd.DataFrame:
        try:
            return self._coded.take(self._positions)
        finally:
            self._coded = self._positions = None
            self.done.set()


@dataclass
class _NettedCounts:
    """What the quality counts need of the netted rows, summed part by part."""

    rows: int = 0
    returns_netted: int = 0
    unmatched_returns: int = 0
    outliers_flagged: int = 0
    zero_amount_rows: int = 0
    purchases: int = 0

    def add(self, other: _NettedCounts) -> None:
        for name, value in vars(other).items():
            setattr(self, name, getattr(self, name) + value)


def _write_netted_parts(parts: Iterator[_Cut], cleaning: Cleaning, path: Path) -> _NettedCounts:
    """:func:`analysis.methods.cleaning.net_returns` and :func:`~analysis.methods.cleaning.purchase_flags`
    on each of ``parts`` (:func:`_parts_to_net`), written one after the other to the parquet file
    ``path``, with their id and text columns as text (each part's ids: the text of each id code).

    Both functions work within a customer's orders, summing an order's rows in their order, and
    sort by customer first, then by keys that end with the unique source row: so on ranges of
    customers in id order, each customer's rows in file order, their results one after the other
    are the result on the whole table. The parts are cut and netted on the usable cores (pandas'
    group sums, joins and takes run outside the interpreter lock), and each is written as soon as
    the parts before it are (:class:`_PartsFile`): the netted rows are never whole in memory. The
    file is the one pandas writes for the whole table (the same schema and pandas metadata), in row
    groups of a part or less.
    """
    counts = _NettedCounts()
    with closing(_PartsFile(path)) as file:
        for table, part_counts in in_threads(partial(_netted_part, cleaning=cleaning), parts):
            file.write(table)
            counts.add(part_counts)
            del table
    # given back once, not after each part: the parts are alike, so each reuses the memory the one
    # before it freed (10M rows: giving it back after each part cost 0.6M page faults, 1 s of system
    # time and 0.7 s of the netting's 5.6, for the same peak)
    release_free_memory()
    return counts


class _PartsFile:
    """A parquet file written a table at a time, in order, each encoded on a thread of its own while
    the caller makes the next (a table waits for the one before it at most)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._writer: pq.ParquetWriter | None = None
        self._encoder = ThreadPoolExecutor(1)
        self._encoding: Future | None = None

    def write(self, table: pa.Table) -> None:
        if self._writer is None:
            # dictionaries only where values repeat: building them for nearly distinct values (order ids,
            # source rows, amounts) costs a quarter of the encoding, for a larger file
            repeating = [name for name in table.schema.names if name not in _MOSTLY_DISTINCT]
            # each row group's minimum and maximum where a query can skip groups by them (numbers, dates,
            # flags), not of the text: no query of the study filters on it, and they cost an eighth of the encoding
            measured = [f.name for f in table.schema if not pa.types.is_large_string(f.type)]
            self._writer = pq.ParquetWriter(self._path, table.schema, use_dictionary=repeating, write_statistics=measured)
        if self._encoding is not None:
            self._encoding.result()
        self._encoding = self._encoder.submit(self._writer.write_table, table)

    def close(self) -> None:
        try:
            if self._encoding is not None:
                self._encoding.result()
        finally:
            self._encoder.shutdown()
            if self._writer is not None:
                self._writer.close()


def _netted_part(cut: _Cut, cleaning: Cleaning) -> tuple[pa.Table, _NettedCounts]:
    """One part netted and flagged (:func:`_write_netted_parts`), as Arrow, with its counts."""
    part, ids = cut(), cut.ids
    part = part.assign(**{name: _codes(part[name]) for name in _KEYS})
    piece, rows_netted = c.net_returns(part)
    del part
    piece["is_purchase"] = c.purchase_flags(piece, cleaning.zero_amount_orders)
    piece = piece.assign(**{name: _text_at(ids[name], piece[name]) for name in _KEYS},
                         **{name: _categorical_text(piece[name]) for name in _TEXT_COLUMNS})
    counts = _NettedCounts(
        rows=len(piece), returns_netted=rows_netted, unmatched_returns=int(piece["is_return"].sum()),
        outliers_flagged=int(piece["is_outlier"].sum()), zero_amount_rows=int((piece["amount"] == 0).sum()),
        purchases=int(piece["is_purchase"].sum()),
    )
    return pa.Table.from_pandas(piece, preserve_index=False), counts


def _text_at(text: pa.Array, codes: pd.Series) -> pd.Series:
    """The text of each code (nullable integer; missing stays missing)."""
    positions = codes.fillna(-1).to_numpy(dtype="int64")
    return pd.Series(pd.array(text.take(pa.array(positions, mask=positions < 0)), dtype="string"), index=codes.index)


def _codes(codes: pd.Series) -> pd.Series:
    """Codes (-1: missing) as nullable integers."""
    values = codes.to_numpy().astype("int64")
    return pd.Series(pd.arrays.IntegerArray(values, values < 0), index=codes.index)


def _sorted_codes(values: pd.Series) -> tuple[np.ndarray, pa.Array]:
    """Codes numbering the distinct values in sorted order (int32; -1: missing) and the text of each code.

    One Arrow sort, of the categories in use or of the text itself (fast when the text comes nearly
    in order, as order ids in an export usually do); the codes follow from where the sorted values change.

    Grouping, joining and sorting on the codes give the groups and the order the text gives (missing
    ids stay missing and sort last), at a fraction of the time and memory of hashing and comparing
    millions of strings each time. Not categoricals: pandas would index their millions of order ids
    in a hash table to check that they are distinct, which they are by construction.
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes = values.cat.codes.to_numpy()
        used = np.flatnonzero(np.bincount(codes[codes >= 0], minlength=len(values.cat.categories)))
        text = pa.array(values.cat.categories.take(used).astype("string").array, type=pa.large_string())
        order = pc.sort_indices(text).to_numpy()
        renumbered = np.full(len(values.cat.categories) + 1, -1, dtype=np.int32)  # the last: code -1 stays -1
        renumbered[used[order]] = np.arange(len(used), dtype=np.int32)
        return renumbered[codes], text.take(order)
    by, ordered, starts = sorted_text(values)
    codes = np.full(len(by), -1, dtype=np.int32)
    codes[by[:len(ordered)]] = np.cumsum(starts, dtype=np.int64) - 1
    return codes, ordered.filter(pa.array(starts))
