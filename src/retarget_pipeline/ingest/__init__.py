"""Ingest stage: landing files -> validated, pseudonymised, deduplicated lake events.

Entry points: ``retarget ingest --source PATH|s3://... --lake DIR|s3://... [--format ...] [--from-hour ISO
--to-hour ISO] [--reprocess]`` and, for the DAG, :func:`retarget_pipeline.ingest.run.run_ingest` (returns an
``IngestReport``; ``.to_dict()`` is JSON-able: per-file ledger rows, totals, ``touched_partitions``).

Pipeline per landing file (modules in order): ``reader`` (list + stream lines, gzip damage and over-long lines
become quarantine records) -> adapter (``adapters/``; detected per file) -> ``validate`` (checks compiled from
``schemas/pixel_event.v1``) -> ``to_lake`` (``pseudonymise``: HMAC keys, IP prefixes, masking; ``bots``:
is_bot / bot_reason) -> ``dedupe`` (run-level dedup in event_id hash buckets) -> ``merge`` (compare with the
touched lake partitions +- ``LATE_WINDOW_HOURS``; one compacted zstd Parquet file per partition, replaced
atomically by ``writer``) -> ``identity`` (match keys) -> ``quarantine`` -> ``ledger``.

Ledger invariant (per file): ``lines_read = skipped + valid + quarantined + duplicates + erased`` (erased:
rows of a person with an erasure request under ``<lake>/_erasure/``, dropped before the lake; see
``retarget_pipeline.privacy``). ``bots`` counts the valid rows flagged ``is_bot`` (kept in the lake for
audit), it is not a separate bucket. A later run whose copy of an event was received earlier replaces the
lake row; the report counts that as ``superseded``.
Statuses: ok, truncated (gzip ended early; the partial last line is quarantined), corrupt (gzip CRC or
garbage; what decoded before the damage is kept, the unreadable remainder is one ``corrupt_file`` record),
unrecognised (no adapter detected in the first 100 non-empty lines: every line quarantined), failed (source
I/O error: counts cover what was read, and the file is read again next run).

Idempotency: a file is skipped when the ledger has its (path, size) with a committed status, unless
``--reprocess``; a re-read changes nothing because ties on received_time keep the lake's row and a
partition is only rewritten when its content changes (byte-identical lake after a reprocess). The quarantine
file name is derived from the files read, so a same-day reprocess overwrites it instead of duplicating it.

Crash recovery vs reprocess (dedup against the lake, ``merge.Merger``): a new row whose lake copy has the
same (source_file, source_line) is the file's own line. If no committed ledger row of that path accounts
for the line (``ledger.accounted_lines``: lines 1..lines_read), an earlier run was killed after committing
it but before its ledger row: the re-run counts it ``valid`` (report ``recovered``), so its ledger row is
the one an uninterrupted run would have written and the committed ledger's ``valid`` total equals the rows
ingest put in the lake. Otherwise it is a ``duplicate``, as a row from another file/line with the same
event_id always is (earliest receipt wins). So after ``--reprocess`` of a ledgered file whose rows are
still in the lake, the ledger holds a second committed row for it: same lines_read / skipped / quarantined
(/ erased), ``valid`` 0 and ``bots`` 0, every line that reached the lake counted in ``duplicates``,
``output_files`` empty, and the lake byte-identical. To count lake rows, sum ``valid`` over the committed
rows (a reprocess adds 0). A ``failed`` row is not committed: the rows it put in the lake are counted
``valid`` by the file's next run, like a killed run's.

Memory: chunks of ``process.CHUNK_LINES`` lines; runs bigger than ``dedupe.BYTES_PER_BUCKET`` of landing
data spill to hash buckets on local disk (``TMPDIR``); partitions are merged in slices of
``dedupe.BUCKET_ROWS`` rows. Known limit: the existing rows of one lake partition are loaded whole when it
is merged (one hour of events).
"""
