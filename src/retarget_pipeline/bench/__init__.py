"""``retarget bench``: scale and performance of every stage, measured against references on the same data.

Modules: :mod:`.measure` (child process wall time + process-tree peak RSS), :mod:`.ingest_reference`
(pyarrow JSON -> Parquet), :mod:`.duckdb_segments` (the segments in DuckDB SQL), :mod:`.references` (their
child-process entry), :mod:`.harness` (one N end to end), :mod:`.report` (table, JSON, CSV, PNG).
"""
