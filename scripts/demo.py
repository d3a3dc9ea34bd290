"""``make demo``: generate a sample day of pixel logs and run the whole pipeline through Airflow.

Steps: generate ~200k events for one day into ./data/landing -> migrate a SQLite Airflow DB in ./.airflow (once)
-> ``dag.test()`` of pixel_ingest (one run over the day's hours) -> audience_build (spark-submit, local mode)
-> audience_export (quality gate, then every destination) -> ``retarget simulate`` (six simulated days in
./data/simulate with a planted +30% lift, which the holdout lift report must recover) -> print where the
outputs are and a summary.

A stage whose library is not in this checkout yet is reported as "not available yet" and the demo stops there.
Options: ``--events N``, ``--day YYYY-MM-DD``, ``--regenerate``, ``--verbose`` (Airflow and Spark logs),
``--no-simulate`` (skip the ~2 minute lift simulation).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# DEMO ONLY: a fixed, public pseudonymisation key so the demo runs out of the box. Never use it for real data:
# set RETARGET_PSEUDONYM_KEYS from your secret store instead (anyone with this key can re-link pseudonyms).
DEMO_PSEUDONYM_KEYS = "vdemo:ZGVtby1vbmx5LWtleS1ub3QtZm9yLXJlYWwtZGF0YS0zMmI="
DEFAULT_DAY = "2026-11-20"

# (stage, module the DAG's task imports, DAG id)
STAGES = (
    ("ingest", "retarget_pipeline.ingest.run", "pixel_ingest"),
    ("segments", "retarget_pipeline.segments.job", "audience_build"),
    ("export", "retarget_pipeline.export.build", "audience_export"),
)


def set_environment(verbose: bool) -> list[str]:
    """Defaults for everything the DAGs read; the caller's environment wins. Must run before Airflow imports."""
    notes = []
    bin_dir = str(Path(sys.executable).parent)
    defaults = {
        "AIRFLOW_HOME": str(ROOT / ".airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO" if verbose else "WARNING",
        "AIRFLOW_CONN_SPARK_DEFAULT": json.dumps({"conn_type": "spark", "host": "local[*]"}),
        "RETARGET_LANDING": str(ROOT / "data" / "landing"),
        "RETARGET_LAKE": str(ROOT / "data" / "lake"),
        "RETARGET_DELIVERY_ROOT": str(ROOT / "data" / "deliveries"),
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
    }
    for key, value in defaults.items():
        os.environ.setdefault(key, value)
    os.environ["PATH"] = os.pathsep.join([bin_dir, os.environ.get("PATH", "")])  # spark-submit of the venv
    if not os.environ.get("RETARGET_PSEUDONYM_KEYS"):
        os.environ["RETARGET_PSEUDONYM_KEYS"] = DEMO_PSEUDONYM_KEYS
        notes.append("RETARGET_PSEUDONYM_KEYS was not set: using the DEMO-ONLY key (never for real data)")
    return notes


def available(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def retarget(*args: str, capture: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "retarget_pipeline.cli", *args], check=True, text=True, capture_output=capture
    )


def generate(landing: Path, events: int, day: str, regenerate: bool) -> dict[str, Any]:
    if not regenerate and any(landing.rglob("*.jsonl.gz")):
        print(f"  landing folder already has pixel logs: {landing} (use --regenerate to rebuild)")
        return {}
    command = ["generate", "--out", str(landing), "--events", str(events), "--days", "1"]
    result = retarget(*command, "--seed", "42", "--start-date", day)
    report: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    print(f"  {report['lines']:,} lines in {report['files']} hourly files -> {landing}")
    return report


def landing_hours(landing: Path) -> tuple[str, str]:
    """First and last landed hour (from the YYYY/MM/DD/HH folders) as ISO date-times."""
    hours = sorted(p.parent.relative_to(landing).parts for p in landing.rglob("*.jsonl.gz"))
    first, last = hours[0], hours[-1]
    return "{}-{}-{}T{}:00:00Z".format(*first), "{}-{}-{}T{}:00:00Z".format(*last)


def migrate_airflow_db() -> None:
    home = Path(os.environ["AIRFLOW_HOME"])
    marker = home / ".retarget-db-migrated"
    if marker.exists():
        print(f"  metadata DB ready: {home / 'airflow.db'}")
        return
    home.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)
    marker.write_text("ok\n", encoding="utf-8")
    print(f"  migrated a SQLite metadata DB: {home / 'airflow.db'}")


def xcom(run: Any, task_id: str) -> Any:
    """The return value a task of this run pushed (None if there is none)."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        query = XComModel.get_many(run_id=run.run_id, dag_ids=run.dag_id, task_ids=task_id, key="return_value")
        rows = session.scalars(query).all()
        values = [XComModel.deserialize_value(row) for row in rows]
    return values[0] if len(values) == 1 else (values or None)


class EchoProgress(logging.Handler):
    """Prints this project's progress lines while a DAG runs in this process (Airflow itself logs at WARNING on a
    quiet demo): our own INFO lines, and those of the spark-submit child, which appends them to
    ``RETARGET_PROGRESS_FILE`` (Airflow's Spark hook logs the child's output through structlog, out of reach)."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self._stop = threading.Event()
        self._file = Path(tempfile.mkstemp(prefix="retarget-demo-progress-", suffix=".log")[1])
        self._thread = threading.Thread(target=self._follow, daemon=True)

    def emit(self, record: logging.LogRecord) -> None:
        print(f"    {record.getMessage()}", flush=True)

    def _follow(self) -> None:
        with self._file.open(encoding="utf-8", errors="replace") as handle:
            while True:
                line = handle.readline()
                if line:
                    print(f"    {line.rstrip()}", flush=True)
                elif self._stop.is_set():
                    return
                else:
                    time.sleep(0.2)

    def __enter__(self) -> EchoProgress:
        logger = logging.getLogger("retarget_pipeline")
        logger.addHandler(self)
        logger.setLevel(logging.INFO)
        os.environ["RETARGET_PROGRESS_FILE"] = str(self._file)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger("retarget_pipeline").removeHandler(self)
        os.environ.pop("RETARGET_PROGRESS_FILE", None)
        self._stop.set()
        self._thread.join(timeout=5)
        self._file.unlink(missing_ok=True)


def run_dag(dags: dict[str, Any], dag_id: str, conf: dict[str, Any], verbose: bool = False) -> Any:
    began = time.perf_counter()
    if verbose:
        run = dags[dag_id].test(run_conf=conf)
    else:
        with EchoProgress():
            run = dags[dag_id].test(run_conf=conf)
    print(f"  {dag_id}: {run.state} in {time.perf_counter() - began:.0f} s (run_id {run.run_id})")
    if run.state != "success":
        raise SystemExit(f"{dag_id} failed: re-run with --verbose, or see the task logs under $AIRFLOW_HOME/logs")
    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000, help="events to generate (default 200000)")
    parser.add_argument("--day", default=DEFAULT_DAY, help=f"day to generate (default {DEFAULT_DAY})")
    parser.add_argument("--regenerate", action="store_true", help="regenerate the landing folder")
    parser.add_argument("--verbose", action="store_true", help="show Airflow and Spark logs")
    parser.add_argument("--no-simulate", action="store_true", help="skip the closed-loop lift simulation")
    args = parser.parse_args(argv)
    day = date.fromisoformat(args.day).isoformat()
    if not args.verbose:
        warnings.simplefilter("ignore")  # third-party deprecation noise; --verbose shows it
    for note in set_environment(args.verbose):
        print(f"NOTE: {note}")
    landing, lake = Path(os.environ["RETARGET_LANDING"]), os.environ["RETARGET_LAKE"]
    deliveries = os.environ["RETARGET_DELIVERY_ROOT"]

    print("1. land: sample pixel logs")
    if not available("retarget_pipeline.generate.cli"):
        print("  generator: not available yet - nothing to run")
        return 0
    generated = generate(landing, args.events, day, args.regenerate)

    print("2. Airflow")
    migrate_airflow_db()
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags"), bundle_path=ROOT / "dags", bundle_name="dags-folder")
    if bag.import_errors:
        raise SystemExit(f"DAG import errors: {bag.import_errors}")
    dags = dict(bag.dags)
    for dag in dags.values():
        for task in dag.tasks:
            task.retries = 0  # a demo fails fast; retries with back-off are for production runs

    results: dict[str, Any] = {}
    missing = [stage for stage, module, _ in STAGES if not available(module)]
    for stage, module, dag_id in STAGES:
        if stage in missing:
            print(f"3. {stage}: not available yet ({module} is not in this checkout) - stopping here")
            break
        if dag_id == "pixel_ingest":
            first, last = landing_hours(landing)
            print(f"3. ingest: pixel_ingest over {first} .. {last}")
            run = run_dag(dags, dag_id, {"source": str(landing), "hour_from": first, "hour_to": last}, args.verbose)
            results["ingest"] = xcom(run, "ingest_landing_hours")
        elif dag_id == "audience_build":
            print(f"4. segment: audience_build for as_of={day} (spark-submit, {spark_master()})")
            run = run_dag(dags, dag_id, {"as_of": day}, args.verbose)
            results["build"] = xcom(run, "publish_audiences")
            results["overlap"] = xcom(run, "report_overlap")
            results["lift"] = xcom(run, "report_lift")
        else:
            conf: dict[str, Any] = {"as_of": day, "mode": "full"}
            from retarget_pipeline.orchestration.export import quality_gate_available

            if not quality_gate_available():
                reason = "demo: the quality gate library is not available yet"
                conf |= {"gate_override": True, "override_reason": reason}
                print(f"5. quality gate: not available yet - overridden for the demo ({reason!r})")
            print("5. quality gate -> 6. export: audience_export")
            run = run_dag(dags, dag_id, conf, args.verbose)
            results["export"] = xcom(run, "record_summary")

    if not args.no_simulate and "export" in results:
        results["simulate"] = simulate(Path(lake).parent / "simulate")
    report(results, generated, lake, deliveries, day)
    return 0


SIMULATED_LIFT = 0.3


def simulate(out: Path) -> list[str]:
    """``retarget simulate``: six days with a planted lift; its summary lines (what the lift report recovered)."""
    print(f"7. lift proof: retarget simulate (6 days, planted {SIMULATED_LIFT:+.0%}, ~2 min) -> {out}")
    shutil.rmtree(out, ignore_errors=True)  # a fresh loop each time (it starts from an empty lake)
    result = retarget("simulate", "--out", str(out), "--days", "6", "--true-lift", str(SIMULATED_LIFT))
    lines = [line for line in result.stdout.splitlines() if "planted" in line]
    for line in result.stdout.splitlines():
        if line not in lines:
            print(f"  {line}")
    return lines


def spark_master() -> str:
    conn = os.environ.get("AIRFLOW_CONN_SPARK_DEFAULT", "")
    try:
        return str(json.loads(conn).get("host"))
    except ValueError:
        return conn


def report(results: dict[str, Any], generated: dict[str, Any], lake: str, deliveries: str, day: str) -> None:
    print("\n== Summary ==")
    if generated:
        print(f"generated     {generated['lines']:,} lines ({generated.get('bot_lines', 0):,} from bots)")
    totals = (results.get("ingest") or {}).get("totals") or {}
    if totals:
        keys = ("valid", "quarantined", "duplicates", "bots", "files")
        line = "ingested      " + ", ".join(f"{k} {totals[k]:,}" for k in keys if k in totals)
        if totals.get("files_skipped") and not totals.get("files"):
            line += f" ({totals['files_skipped']:,} landing files already in the ledger: nothing new to read)"
        print(line)
    sizes = (results.get("build") or {}).get("segments") or {}
    for name, size in sizes.items():
        print(f"segment       {name:<28} qualified {size['qualified']:>7,}  exportable {size['exportable']:>7,}")
    export = results.get("export") or {}
    for entry in export.get("exports", []):
        for seg in entry.get("segments", []):
            status, files = seg.get("status"), seg.get("files_count", 0)
            name = f"{entry['destination']:<26} {seg.get('segment', '?'):<24}"
            if status == "held_below_minimum":
                print(f"not delivered {name} {seg.get('reason')}")
                continue
            reach = f", reach {seg['reach']:,} (min {seg['min_audience_size']:,})" if "reach" in seg else ""
            print(f"delivered     {name} {status} ({files} files{reach})")
        for skipped in entry.get("skipped", []):
            print(f"not delivered {entry['destination']:<26} {skipped['segment']:<24} {skipped['reason']}")
    if export.get("gate"):
        gate = export["gate"]
        print(f"quality gate  {gate.get('status')}" + (" (overridden)" if gate.get("overridden") else ""))
    pairs = (results.get("overlap") or {}).get("pairs") or {}
    for pair, counts in sorted(pairs.items(), key=lambda kv: -kv[1]["both"])[:3]:
        a, b = pair.split("|")
        share = f"{100 * (counts['of_a'] or 0):.0f}% of {a}, {100 * (counts['of_b'] or 0):.0f}% of {b}"
        print(f"overlap       {a} & {b}: {counts['both']:,} persons ({share})")
    lifts = (results.get("lift") or {}).get("segments") or {}
    if lifts:
        statuses = sorted({str(v.get("status")) for v in lifts.values()})
        print(f"holdout lift  {len(lifts)} segments: {', '.join(statuses)} (retarget report lift; docs/measurement.md)")
    for line in results.get("simulate") or []:
        print(f"lift proof    {line}")
    print("\n== Outputs ==")
    print(f"lake          {lake}/events, quarantine/, _ledger/")
    build = (results.get("build") or {}).get("build_id")
    print(f"segments      {lake}/segments/as_of={day}/  (build {build}; stats: {lake}/segment_stats/)")
    print(f"deliveries    {deliveries}  (run records: {deliveries}/_runs/)")
    print(f"airflow       {os.environ['AIRFLOW_HOME']}  (UI with these runs and deliveries: `make ui`)")
    print_delivered_files(deliveries)


def print_delivered_files(deliveries: str) -> None:
    """The delivered audience files (latest complete delivery per segment and destination) and how to get them."""
    from retarget_pipeline.download.catalog import DeliveryCatalog
    from retarget_pipeline.storage import open_store

    latest = DeliveryCatalog(open_store(deliveries)).latest_per_audience()
    print("\n== Audience files ==")
    for delivery in latest:
        for file in delivery.files:
            print(f"  {deliveries.rstrip('/')}/{delivery.prefix}{file.name}  ({file.rows:,} rows)")
    print("\n== Download ==")
    print("  .venv/bin/retarget audiences list")
    example = latest[0] if latest else None
    if example is not None:
        print(
            f"  .venv/bin/retarget audiences download {example.segment} --destination {example.destination}"
            " --to ./downloads   (checks every file's SHA-256 against the manifest)"
        )
    print("  or the Airflow UI's Audience downloads page: `make ui`, then http://127.0.0.1:8080/audiences/")


if __name__ == "__main__":
    sys.exit(main())
