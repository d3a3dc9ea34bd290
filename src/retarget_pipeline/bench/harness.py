"""The benchmark run: for each N, generate -> ingest -> segments build -> export, each stage a measured
child process, next to its reference on the same data (pyarrow for ingest, DuckDB for the segment build).

The DuckDB result must equal ours (set of ``(segment, person_key, is_holdout)``) or the run fails.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import shutil
import sys
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from retarget_pipeline.bench.measure import Measurement, run_measured
from retarget_pipeline.lake import layout

log = logging.getLogger(__name__)
DESTINATIONS = ("google_ads_customer_match", "meta_custom_audience", "dsp_device_list", "crm_csv")


class BenchError(RuntimeError):
    """A stage failed or the reference disagrees with our result."""


@dataclass(frozen=True)
class StageResult:
    events: int
    stage: str
    impl: str  # "ours" | "reference"
    tool: str
    seconds: float
    events_per_second: float
    peak_rss_mb: float
    detail: dict[str, Any]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("PYSPARK_PYTHON", sys.executable)
    env.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    if not env.get("RETARGET_PSEUDONYM_KEYS"):
        # A throwaway key for this run only: the bench data is synthetic and no key is ever stored.
        env["RETARGET_PSEUDONYM_KEYS"] = "vbench:" + base64.b64encode(os.urandom(32)).decode()
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([bin_dir, env.get("PATH", "")])
    return env


def _retarget(*args: str) -> list[str]:
    return [sys.executable, "-m", "retarget_pipeline.cli", *args]


def _reference(*args: str) -> list[str]:
    return [sys.executable, "-m", "retarget_pipeline.bench.references", *args]


def _check(name: str, m: Measurement) -> Measurement:
    if m.returncode != 0:
        # A JVM stack trace buries its cause: keep every error/exception line, then the tail.
        causes = [line for line in m.stderr.splitlines() if "Error" in line or "Exception" in line][:20]
        raise BenchError(f"{name} failed (exit {m.returncode}):\n" + "\n".join(causes) + f"\n...\n{m.stderr[-2000:]}")
    return m


def _result(n: int, stage: str, impl: str, tool: str, m: Measurement, detail: dict[str, Any]) -> StageResult:
    return StageResult(
        events=n,
        stage=stage,
        impl=impl,
        tool=tool,
        seconds=round(m.seconds, 3),
        events_per_second=round(n / m.seconds, 1) if m.seconds else 0.0,
        peak_rss_mb=round(m.peak_rss_bytes / 2**20, 1),
        detail=detail,
    )


def _last_json(text: str) -> dict[str, Any]:
    """The JSON document a command printed (ingest/segments print indented JSON, references one line)."""
    start = text.find("{")
    try:
        return dict(json.loads(text[start:])) if start >= 0 else {}
    except json.JSONDecodeError:
        return {}


def compare_segments(lake: Path, as_of: str | date, reference_file: Path) -> dict[str, Any]:
    """Set equality of ``(segment, person_key, is_holdout)`` between the committed build of ``as_of`` and the
    reference; raises :class:`BenchError` on a difference."""
    import duckdb

    from retarget_pipeline.lake import snapshots
    from retarget_pipeline.storage import open_store

    store = open_store(str(lake))
    snap = snapshots.resolve(store, as_of if isinstance(as_of, date) else date.fromisoformat(as_of))
    table = snapshots.read_membership(store, snap, columns=["person_key", "is_holdout"])
    ours = set(zip(*(table[c].to_pylist() for c in ("segment", "person_key", "is_holdout")), strict=True))
    con = duckdb.connect()
    ref = set(
        con.execute("SELECT segment, person_key, is_holdout FROM read_parquet(?)", [str(reference_file)]).fetchall()
    )
    per_segment: dict[str, int] = {}
    for seg, _, _ in ours:
        per_segment[seg] = per_segment.get(seg, 0) + 1
    if ours != ref:
        only_ours, only_ref = sorted(ours - ref)[:5], sorted(ref - ours)[:5]
        raise BenchError(
            f"segment results differ from DuckDB: {len(ours - ref)} rows only in ours (e.g. {only_ours}), "
            f"{len(ref - ours)} only in DuckDB (e.g. {only_ref})"
        )
    return {"rows": len(ours), "per_segment": dict(sorted(per_segment.items())), "equal": True}


def _destinations_config(path: Path, segments: list[str]) -> Path:
    """Every built segment to every destination type (the shipped config names other segments)."""
    import yaml

    per_dest: dict[str, Any] = {d: {} for d in DESTINATIONS}
    per_dest["dsp_device_list"] = {"id_types": ["cookie", "maid", "uid2"]}
    path.write_text(yaml.safe_dump({"version": 1, "segments": {s: per_dest for s in segments}}), encoding="utf-8")
    return path


def bench_one(n: int, work: Path, *, seed: int, days: int, start: date) -> tuple[list[StageResult], dict[str, Any]]:
    """All stages and references for ``n`` events in ``work`` (emptied first)."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    env = _env()
    landing, lake, valid = work / "landing", work / "lake", work / "landing-valid"
    as_of = (start + timedelta(days=days - 1)).isoformat()
    results: list[StageResult] = []

    def step(stage: str, impl: str, tool: str, command: list[str]) -> dict[str, Any]:
        log.info("N=%s %s (%s): %s", n, stage, impl, " ".join(command[2:]))
        m = _check(f"{stage}/{impl}", run_measured(command, env=env, cwd=str(work)))
        detail = _last_json(m.stdout)
        results.append(_result(n, stage, impl, tool, m, detail))
        log.info("  %.1f s, peak RSS %.0f MB", m.seconds, m.peak_rss_bytes / 2**20)
        return detail

    gen_args = ["--out", str(landing), "--events", str(n), "--seed", str(seed), "--days", str(days)]
    step("generate", "ours", "retarget generate", _retarget("generate", *gen_args, "--start-date", start.isoformat()))
    ingested = step(
        "ingest", "ours", "retarget ingest", _retarget("ingest", "--source", str(landing), "--lake", str(lake))
    )
    prepared = _last_json(
        _check(
            "ingest-prepare",
            run_measured(_reference("ingest-prepare", "--source", str(landing), "--out", str(valid)), env=env),
        ).stdout
    )
    step(
        "ingest",
        "reference",
        "pyarrow read_json+write_table",
        _reference("ingest", "--source", str(valid), "--out", str(work / "ref-ingest")),
    )
    results[-1].detail.update(prepared)
    built = step(
        "segments",
        "ours",
        "retarget segments build (Spark)",
        _retarget("segments", "build", "--lake", str(lake), "--as-of", as_of, "--out", str(lake)),
    )
    step(
        "segments",
        "reference",
        "DuckDB SQL",
        _reference("segments", "--lake", str(lake), "--as-of", as_of, "--out", str(work / "ref-segments")),
    )
    comparison = compare_segments(lake, as_of, work / "ref-segments" / "membership.parquet")
    log.info("  segments equal to DuckDB: %s rows", comparison["rows"])
    config = _destinations_config(work / "destinations.yaml", sorted(built.get("segments", {})))
    exports = [
        _check(
            f"export/{d}",
            run_measured(
                _retarget(
                    "export",
                    "--segments",
                    str(lake / layout.SEGMENTS),
                    "--destination",
                    d,
                    "--to",
                    str(work / "deliveries"),
                    "--as-of",
                    as_of,
                    "--config",
                    str(config),
                ),
                env=env,
                cwd=str(work),
            ),
        )
        for d in DESTINATIONS
    ]
    total = Measurement(sum(m.seconds for m in exports), max(m.peak_rss_bytes for m in exports), 0, "", "")
    results.append(_result(n, "export", "ours", f"retarget export x{len(DESTINATIONS)} destinations", total, {}))
    summary = {
        "events": n,
        "as_of": as_of,
        "ingest_totals": ingested.get("totals", {}),
        "segments_match_duckdb": comparison,
    }
    return results, summary


def results_as_rows(results: list[StageResult]) -> list[dict[str, Any]]:
    return [{k: v for k, v in asdict(r).items() if k != "detail"} for r in results]
