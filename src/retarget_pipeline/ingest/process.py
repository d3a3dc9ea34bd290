"""Stream one landing file: lines -> adapter -> contract validation -> lake rows, in chunks of CHUNK_LINES.

Bad lines go to the quarantine with a reason code; valid rows go to the run's dedup stage. Nothing here
raises for bad data: a broken file is read as far as it can be, and its status says why it stopped.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pyarrow as pa

from retarget_pipeline.ingest.adapters import AdapterError, adapter_class, detect_format
from retarget_pipeline.ingest.adapters.base import Adapter
from retarget_pipeline.ingest.dedupe import Stage
from retarget_pipeline.ingest.ledger import LedgerRow
from retarget_pipeline.ingest.quarantine import Quarantine
from retarget_pipeline.ingest.reader import (
    FileState,
    HashingReader,
    LineBlock,
    Source,
    SourceFile,
    SourceReadError,
    iter_line_blocks,
)
from retarget_pipeline.ingest.to_lake import LakeMapper
from retarget_pipeline.ingest.validate import Validator

if TYPE_CHECKING:
    from retarget_pipeline.privacy.ingest_filter import ErasureFilter

log = logging.getLogger(__name__)
CHUNK_LINES = 50_000
DETECT_LINES = 100


class StageSink(Protocol):
    """Where valid lake rows go: the run's ``dedupe.Stage`` (or a pool worker's recorder)."""

    def add(self, table: pa.Table) -> None: ...


class QuarantineSink(Protocol):
    """Where bad lines go: the run's ``quarantine.Quarantine`` (or a pool worker's recorder)."""

    def add(
        self, source_file: str, line_no: int | None, reason: str, field: str | None, message: str, raw: bytes | None
    ) -> None: ...


@dataclass
class FileContext:
    validator: Validator
    mapper: LakeMapper
    stage: StageSink | Stage
    quarantine: QuarantineSink | Quarantine
    erasure: ErasureFilter | None = None  # erased persons' rows are dropped (ledger: erased)


class _Chunk:
    """Lines waiting to be parsed and validated together."""

    def __init__(self) -> None:
        self.line_nos: list[int] = []
        self.raws: list[bytes] = []


def _pick_adapter(fmt: str, blocks: Iterator[LineBlock]) -> tuple[Adapter | None, str | None, list[LineBlock]]:
    """The adapter for ``fmt`` and the line blocks peeked at. 'auto': the registry's ``detect_format`` on the
    first non-empty line, then on the next ones (up to DETECT_LINES) so one broken first line does not make a
    whole file unreadable."""
    if fmt != "auto":
        return adapter_class(fmt)(), fmt, []
    peeked: list[LineBlock] = []
    tried = 0
    for item in blocks:
        peeked.append(item)
        if item[2] is not None:
            continue
        for line in item[1]:
            if line.strip():
                name = detect_format(line)
                if name:
                    return adapter_class(name)(), name, peeked
                tried += 1
                if tried >= DETECT_LINES:
                    return None, None, peeked
    return None, None, peeked


def process_file(source: Source, f: SourceFile, fmt: str, ctx: FileContext, row: LedgerRow) -> None:
    """Read ``f`` into the stage / quarantine and fill ``row``'s read-side counts (valid = staged rows)."""
    state = FileState()
    try:
        raw = source.open(f)
    except Exception as exc:  # any store back end's error
        raise SourceReadError(f"cannot open: {type(exc).__name__}") from exc
    with raw:
        reader = HashingReader(raw)
        blocks = iter_line_blocks(reader, state)
        chunk = _Chunk()
        name: str | None = None
        adapter: Adapter | None = None
        try:
            adapter, name, peeked = _pick_adapter(fmt, blocks)
            row.format = name
            if adapter is None and any(p is None and any(x.strip() for x in ls) for _, ls, p in peeked):
                row.status = "unrecognised"
                row.message = "no adapter recognises the file's first non-empty line"
            _consume(_chain(peeked, blocks), adapter, f, ctx, row, chunk, name or "")
            reader.drain()
        except SourceReadError as exc:  # counts stay exact for what was read; the file is retried next run
            row.status, row.message = "failed", str(exc)
        _flush(chunk, adapter, f, name or "", ctx, row)
    row.sha256 = reader.sha256.hexdigest() if row.status != "failed" else None
    row.size = reader.size if row.status != "failed" else row.size
    if state.status != "ok" and row.status != "failed":
        row.status, row.message = state.status, state.detail
    elif state.transcoded and row.message is None:
        row.message = f"read as {state.transcoded.upper()} (transcoded to UTF-8)"


def _consume(
    blocks: Iterator[LineBlock],
    adapter: Adapter | None,
    f: SourceFile,
    ctx: FileContext,
    row: LedgerRow,
    chunk: _Chunk,
    fmt: str,
) -> None:
    """The read loop, a block of lines at a time (lines are parsed per chunk of CHUNK_LINES in ``_flush``)."""
    read = 0
    try:
        for first, lines, problem in blocks:
            if problem is not None:
                read += 1
                ctx.quarantine.add(f.uri, first, problem, None, f"line {first}: {problem}", lines[0])
                row.quarantined += 1
            elif adapter is None:
                for line_no, line in enumerate(lines, first):
                    read += 1
                    _unrecognised(ctx, f, line_no, line, row)
            else:
                pos = 0
                while pos < len(lines):
                    part = lines[pos : pos + CHUNK_LINES - len(chunk.raws)]
                    chunk.raws.extend(part)
                    chunk.line_nos.extend(range(first + pos, first + pos + len(part)))
                    read += len(part)
                    pos += len(part)
                    if len(chunk.raws) >= CHUNK_LINES:
                        _flush(chunk, adapter, f, fmt, ctx, row)
    finally:
        row.lines_read += read


def _chain(peeked: list[LineBlock], rest: Iterator[LineBlock]) -> Iterator[LineBlock]:
    yield from peeked
    yield from rest


def _unrecognised(ctx: FileContext, f: SourceFile, line_no: int, line: bytes, row: LedgerRow) -> None:
    if not line.strip():
        row.skipped += 1
        return
    try:
        line.decode("utf-8")
        reason = "encoding_error" if b"\x00" in line else "malformed_line"
    except UnicodeDecodeError:
        reason = "encoding_error"
    ctx.quarantine.add(f.uri, line_no, reason, None, f"line {line_no}: format not recognised", line)
    row.quarantined += 1


def _flush(chunk: _Chunk, adapter: Adapter | None, f: SourceFile, fmt: str, ctx: FileContext, row: LedgerRow) -> None:
    if not chunk.raws or adapter is None:
        return
    line_nos, raws = chunk.line_nos, chunk.raws
    chunk.line_nos, chunk.raws = [], []
    parsed = _parse_all(adapter, raws, line_nos)
    if all(type(r) is dict for r in parsed):
        records: list[dict[str, Any]] = parsed  # type: ignore[assignment]
    else:
        records, kept_nos, kept_raws = [], [], []
        for rec, line_no, raw in zip(parsed, line_nos, raws, strict=True):
            if isinstance(rec, AdapterError):
                ctx.quarantine.add(f.uri, line_no, rec.reason_code, rec.field, f"line {line_no}: {rec}", raw)
                row.quarantined += 1
            elif rec is None:
                row.skipped += 1
            else:
                records.append(rec)
                kept_nos.append(line_no)
                kept_raws.append(raw)
        line_nos, raws = kept_nos, kept_raws
    if records:
        _flush_records(records, line_nos, raws, f, fmt, ctx, row)


def _parse_all(adapter: Adapter, raws: list[bytes], line_nos: list[int]) -> list[Any]:
    """Each line's record, None (skip) or AdapterError. Uses the adapter's ``parse_batch`` when it has one; a
    batch that fails is parsed line by line, and a line whose parsing raises anything but ``AdapterError`` is
    an ``unprocessable_record`` (one record can never stop the file)."""
    batch = getattr(adapter, "parse_batch", None)
    if batch is not None:
        try:
            return list(batch(raws))
        except Exception:
            log.warning("%s: a batch of %d lines failed to parse; parsing them one by one", adapter.name, len(raws))
    out: list[Any] = []
    for raw, line_no in zip(raws, line_nos, strict=True):
        try:
            out.append(adapter.parse(raw, line_no))
        except AdapterError as exc:
            out.append(exc)
        except Exception as exc:
            out.append(_unprocessable(exc))
    return out


def _unprocessable(exc: BaseException) -> AdapterError:
    """An unexpected error while mapping one record: its type only (a message may quote personal data)."""
    if isinstance(exc, OverflowError):
        return AdapterError("value_out_of_range", f"a value is out of range ({type(exc).__name__})")
    return AdapterError("unprocessable_record", f"the record could not be processed ({type(exc).__name__})")


@dataclass
class _Prepared:
    """What one batch of records adds (nothing is added until the whole batch is prepared)."""

    quarantined: Sequence[tuple[int, str, str | None, str, bytes]]
    table: pa.Table | None
    erased: int
    masked: Mapping[str, int] = dataclasses.field(default_factory=dict)  # field:kind -> values the scrubber masked


def _flush_records(
    records: list[dict[str, Any]],
    line_nos: list[int],
    raws: list[bytes],
    f: SourceFile,
    fmt: str,
    ctx: FileContext,
    row: LedgerRow,
) -> None:
    """Validate and map a batch into the stage and the quarantine. A batch whose processing raises (an overflow,
    a date out of range, a bug) is split in halves until the record that raises is alone: that record is
    quarantined with a reason code and every other one goes on as usual."""
    for prepared in _prepare_all(records, line_nos, raws, fmt, f, ctx):
        for line_no, code, field, message, raw in prepared.quarantined:
            ctx.quarantine.add(f.uri, line_no, code, field, f"line {line_no}: {message}", raw)
        row.quarantined += len(prepared.quarantined)
        row.erased += prepared.erased
        if prepared.table is not None:
            ctx.stage.add(prepared.table)
            row.valid += prepared.table.num_rows
            row.bots += int(prepared.table["is_bot"].combine_chunks().true_count) if prepared.table.num_rows else 0
        for name, n in prepared.masked.items():
            row.masked[name] = row.masked.get(name, 0) + n


def _prepare_all(
    records: list[dict[str, Any]], line_nos: list[int], raws: list[bytes], fmt: str, f: SourceFile, ctx: FileContext
) -> Iterator[_Prepared]:
    try:
        yield _prepare(records, line_nos, raws, fmt, f, ctx)
        return
    except Exception as exc:
        if len(records) == 1:
            error = _unprocessable(exc)
            log.warning("%s: line %d quarantined: %s", f.uri, line_nos[0], error.message)
            yield _Prepared([(line_nos[0], error.reason_code, None, error.message, raws[0])], None, 0)
            return
    mid = len(records) // 2
    yield from _prepare_all(records[:mid], line_nos[:mid], raws[:mid], fmt, f, ctx)
    yield from _prepare_all(records[mid:], line_nos[mid:], raws[mid:], fmt, f, ctx)


def _prepare(
    records: list[dict[str, Any]], line_nos: list[int], raws: list[bytes], fmt: str, f: SourceFile, ctx: FileContext
) -> _Prepared:
    cols, problems = ctx.validator.validate(records)
    quarantined = [
        (line_nos[i], code, field, message, raws[i]) for i, (code, field, message) in sorted(problems.items())
    ]
    if problems:
        keep = np.ones(len(records), dtype=bool)
        keep[list(problems)] = False
        mask = pa.array(keep)
        cols = {k: v.filter(mask) for k, v in cols.items()}
        kept = np.flatnonzero(keep)
        side = [(records[i].get("extra"), records[i].get("properties")) for i in kept]
        lines = pa.array([line_nos[i] for i in kept], pa.int64())
    else:
        side = [(r.get("extra"), r.get("properties")) for r in records]
        lines = pa.array(line_nos, pa.int64())
    erased = 0
    if ctx.erasure is not None:
        cols, side, lines, erased = ctx.erasure.drop(cols, side, lines, ctx.mapper.pseudo)
    table, masked = ctx.mapper.to_lake(cols, side, lines, fmt, f.uri)
    log.debug("%s: %d rows staged", f.uri, table.num_rows)
    return _Prepared(quarantined, table, erased, dict(masked))
