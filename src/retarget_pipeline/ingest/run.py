"""``run_ingest``: landing files -> lake events, quarantine, identity table and ledger. The DAG calls this.

Order of commits (each atomic): events partitions -> identity shards -> quarantine file -> ledger rows. A
crash before the ledger row means the file is read again next run; dedup makes that re-read a no-op for the
lake, so a file counts as processed only once its output is committed. The rows the killed run had already
committed are found in the lake as the file's own lines and counted ``valid`` by the re-run's ledger row
(``merge.Merger``: ``recovered``), not as duplicates. What a killed run leaves besides (its temp files in
the lake, its local scratch) is swept at the start of a later run (``storage.sweep``).
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from retarget_pipeline.ingest import identity, ledger
from retarget_pipeline.ingest.adapters import ADAPTERS
from retarget_pipeline.ingest.bots import BotRules
from retarget_pipeline.ingest.dedupe import Stage
from retarget_pipeline.ingest.ledger import LedgerRow
from retarget_pipeline.ingest.merge import Merger
from retarget_pipeline.ingest.parallel import read_files
from retarget_pipeline.ingest.process import FileContext, process_file
from retarget_pipeline.ingest.pseudonymise import Pseudonymiser, mask_text
from retarget_pipeline.ingest.quarantine import Quarantine
from retarget_pipeline.ingest.reader import Source, SourceFile, SourceReadError
from retarget_pipeline.ingest.to_lake import PARTITION_COLS, LakeMapper, lake_schema
from retarget_pipeline.ingest.validate import Validator
from retarget_pipeline.lake import layout
from retarget_pipeline.lake.files import Lake
from retarget_pipeline.privacy.ingest_filter import ErasureFilter
from retarget_pipeline.progress import Progress
from retarget_pipeline.storage.sweep import scratch_prefix, sweep_scratch, sweep_stale

log = logging.getLogger(__name__)
FORMATS = ("auto", *ADAPTERS)  # the CLI's choices (run_ingest reads ADAPTERS itself, for plugins)
LAKE_PREFIXES = tuple(
    f"{t}/" for t in (layout.EVENTS, layout.QUARANTINE, layout.IDENTITY_ROOT, layout.LEDGER)
)  # written by ingest


@dataclass
class IngestReport:
    source: str
    lake: str
    files: list[LedgerRow] = field(default_factory=list)  # processed this run (written to the ledger)
    skipped_files: list[str] = field(default_factory=list)  # already in the ledger / outside the hour range
    refused_files: list[dict[str, str]] = field(default_factory=list)  # never read, with the reason
    touched_partitions: list[str] = field(default_factory=list)
    quarantine_file: str | None = None
    ledger_file: str | None = None
    identity_files: list[str] = field(default_factory=list)
    superseded: int = 0
    recovered: int = 0  # rows an earlier, unledgered (killed) run of the same file had committed

    def totals(self) -> dict[str, int]:
        keys = ("lines_read", "skipped", "valid", "quarantined", "duplicates", "bots", "erased")
        out = {k: sum(int(getattr(r, k)) for r in self.files) for k in keys}
        out["files"] = len(self.files)
        out["files_skipped"] = len(self.skipped_files)
        out["files_refused"] = len(self.refused_files)
        out["superseded"] = self.superseded
        out["recovered"] = self.recovered  # part of valid, not a bucket of its own
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "lake": self.lake,
            "files": [r.to_dict() for r in self.files],
            "skipped_files": self.skipped_files,
            "refused_files": self.refused_files,
            "totals": self.totals(),
            "touched_partitions": self.touched_partitions,
            "quarantine_file": self.quarantine_file,
            "ledger_file": self.ledger_file,
            "identity_files": self.identity_files,
        }


def _in_range(f: SourceFile, hour_from: datetime | None, hour_to: datetime | None) -> bool:
    """Half-open [hour_from, hour_to) on the file's hour (from its path, else its mtime; unknown: kept)."""
    if hour_from is None and hour_to is None:
        return True
    hour = f.hour or (f.mtime.replace(minute=0, second=0, microsecond=0) if f.mtime else None)
    if hour is None:
        return True
    return (hour_from is None or hour >= _utc(hour_from)) and (hour_to is None or hour < _utc(hour_to))


def _utc(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def run_ingest(
    *,
    source: str,
    lake: str,
    fmt: str = "auto",
    hour_from: datetime | None = None,
    hour_to: datetime | None = None,
    reprocess: bool = False,
) -> IngestReport:
    """Ingest every landing file under ``source`` (in the hour range) into ``lake``."""
    if fmt != "auto" and fmt not in ADAPTERS:  # the registry as it is now (a plugin may have added one)
        raise ValueError(f"unknown format {fmt!r}; expected one of auto, {', '.join(ADAPTERS)}")
    now = datetime.now(UTC)
    src, dest = Source(source), Lake(lake)
    report = IngestReport(source=source, lake=lake)
    sweep_stale(dest.store, LAKE_PREFIXES, stage="ingest")  # temp files of killed runs
    sweep_scratch(stage="ingest")
    committed = ledger.committed(dest)
    done = set() if reprocess else ledger.processed(dest, committed)
    todo = []
    for f in src.list():
        if not _in_range(f, hour_from, hour_to) or (f.uri, f.size) in done:
            report.skipped_files.append(f.uri)
        else:
            todo.append(f)
    for path, reason in src.refused:
        log.warning("%s: %s", path, reason)
        report.refused_files.append({"path": path, "reason": reason})
    if not todo:
        return report
    pseudo = Pseudonymiser()
    schema = lake_schema()
    mapper = LakeMapper(pseudo, BotRules.load())
    with tempfile.TemporaryDirectory(prefix=scratch_prefix("ingest")) as tmp:
        stage = Stage(Path(tmp) / "stage", schema, sum(f.size for f in todo))
        quarantine = Quarantine(now)
        try:
            erasure = ErasureFilter.load(dest)
            if erasure is not None:
                quarantine.redact = erasure.redact
            ctx = FileContext(Validator(now=now), mapper, stage, quarantine, erasure)
            progress = Progress("ingest", len(todo))
            try:
                report.files.extend(read_files(src, todo, fmt, ctx, now, _read_one, progress))
            finally:
                progress.close()
            stage.dedupe_run()
            out_schema = _without_partitions(schema)
            merged = Merger(dest, stage, out_schema, ledger.accounted_lines(committed)).run()
            report.touched_partitions = sorted(merged.touched)
            report.superseded = merged.superseded
            report.recovered = merged.recovered
            report.identity_files = identity.merge(dest, mapper.identity, pseudo.version)
            run_key = _run_key(report.files)
            report.quarantine_file = quarantine.commit(dest, layout.quarantine_file(now.date(), run_key))
        finally:
            quarantine.cleanup()
            stage.cleanup()
    for row in report.files:
        row.duplicates = stage.drops.rows[row.path]
        row.valid -= row.duplicates
        row.bots -= stage.drops.bots[row.path]
        row.output_files = sorted(merged.outputs.get(row.path, set()))
        if not row.reconciles:  # a bug, not bad data: say so loudly, but keep the ledger honest
            log.error("ledger counts do not reconcile for %s", row.path)
    report.ledger_file = ledger.write(dest, f"{now:%Y%m%dT%H%M%S%f}-{_run_key(report.files)}", report.files)
    totals = report.totals()
    log.info(
        "ingest: %d files, %d lines, %d valid (%d bots, %d recovered), %d quarantined, %d duplicates, %d partitions",
        totals["files"],
        totals["lines_read"],
        totals["valid"],
        totals["bots"],
        report.recovered,
        totals["quarantined"],
        totals["duplicates"],
        len(report.touched_partitions),
    )
    return report


def _read_one(src: Source, f: SourceFile, fmt: str, ctx: FileContext, now: datetime) -> LedgerRow:
    row = LedgerRow(path=f.uri, size=f.size, ingested_at=now)
    try:
        process_file(src, f, fmt, ctx, row)
    except SourceReadError as exc:  # the file could not even be opened: retried next run
        row.status, row.message = "failed", mask_text(f"{type(exc).__name__}: {exc}")
        log.warning("%s: read failed: %s", f.uri, row.message)
    log.debug("%s: %d lines, status %s", f.uri, row.lines_read, row.status)
    return row


def _run_key(rows: list[LedgerRow]) -> str:
    """Deterministic id of the set of files read (same files -> same quarantine file name)."""
    digest = hashlib.sha256()
    for r in sorted(rows, key=lambda r: r.path):
        digest.update(f"{r.path}\0{r.sha256}\0".encode())
    return digest.hexdigest()[:16]


def _without_partitions(schema: Any) -> Any:
    for name in PARTITION_COLS:
        schema = schema.remove(schema.get_field_index(name))
    return schema


__all__ = ["FORMATS", "IngestReport", "run_ingest"]
