"""A segment on custom events, end to end through ``dag.test()``: pixel_ingest -> audience_build -> audience_export,
each DAG in a child process with its own workspace and a deployment's own config
files (``RETARGET_SEGMENTS_CONFIG``, ``RETARGET_DESTINATIONS_CONFIG``).

The people (2026-11-20, hour 14, consent granted; the segment: signed up for the pro plan in the last 7 days and
no purchase since):
* ck-pro: ``Signed Up`` {plan: pro}, nothing after                                       -> member
* ck-free: ``Signed Up`` {plan: free}                                                   -> not
* ck-bought: ``Signed Up`` {plan: pro}, then a purchase                                 -> not
* ck-named-page: a page_view that happens to carry the name and property (not a custom event) -> not
* a server-side ``Signed Up`` {plan: pro} with only a user id (no cookie)                 -> member, as the user
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from airflow_support import ensure_airflow_db, workspace_env

from retarget_pipeline.ingest.pseudonymise import Pseudonymiser

pytestmark = pytest.mark.slow

# dag.test() in a child (the crash tests' runner); --pass-gate: the audiences gate's own Spark session is skipped
# (tests/e2e/test_pipeline_dag.py runs the real gate in a DAG run).
CHILD = Path(__file__).resolve().parents[1] / "reliability" / "dag_crash_child.py"
DAY = "2026-11-20"
SEGMENTS = """
version: 1
settings: {max_audiences_per_person: 3, holdout_salt: custom-e2e, global_frequency_caps: []}
segments:
  pro_signups:
    description: Signed up for the pro plan in the last 7 days, no purchase since.
    holdout_pct: 0
    rule:
      all:
        - sequence:
            first: {event_type: custom, event_name: Signed Up, properties: {plan: pro}}
            then_no: {event_type: purchase}
            within_days: 7
"""
DESTINATIONS = "version: 1\nsegments:\n  pro_signups:\n    crm_csv: {}\n"


def _event(n: int, event_type: str, minute: int, **fields: Any) -> dict[str, Any]:
    return {
        "schema_version": "1.0",
        "event_id": f"00000000-0000-4000-8000-{n:012d}",
        "event_type": event_type,
        "event_time": f"{DAY}T14:{minute:02d}:00Z",
        "received_time": f"{DAY}T14:{minute:02d}:05Z",
        "consent": "granted",
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0",
        **fields,
    }


PRO = {"plan": "pro"}
EVENTS = [
    _event(1, "custom", 1, anonymous_id="ck-pro", event_name="Signed Up", properties=PRO),
    _event(2, "custom", 2, anonymous_id="ck-free", event_name="Signed Up", properties={"plan": "free"}),
    _event(3, "custom", 3, anonymous_id="ck-bought", event_name="Signed Up", properties=PRO),
    _event(4, "purchase", 4, anonymous_id="ck-bought", order_id="O-1", revenue=49.0, currency="EUR"),
    _event(5, "page_view", 5, anonymous_id="ck-named-page", event_name="Signed Up", properties=PRO),
    _event(6, "custom", 6, user_id="cust-7", event_name="Signed Up", properties={"plan": "pro", "seats": 3}),
]


def _person_key(label: str) -> str:
    return "p_" + hashlib.sha256(label.encode()).hexdigest()[:32]


@pytest.fixture(scope="module")
def workspace() -> Iterator[dict[str, Any]]:
    ensure_airflow_db()
    root = Path(tempfile.mkdtemp(prefix="retarget-custom-e2e-"))
    (root / "segments.yaml").write_text(SEGMENTS, encoding="utf-8")
    (root / "destinations.yaml").write_text(DESTINATIONS, encoding="utf-8")
    path = root / "landing" / "2026" / "11" / "20" / "14" / "pixel-2026112014.jsonl.gz"
    path.parent.mkdir(parents=True)
    path.write_bytes(gzip.compress(b"".join(orjson.dumps(e) + b"\n" for e in EVENTS), mtime=0))
    env = {**os.environ, **workspace_env(root), "PYTHONWARNINGS": "ignore", "RETARGET_INGEST_WORKERS": "1"}
    env["RETARGET_SEGMENTS_CONFIG"] = str(root / "segments.yaml")
    env["RETARGET_DESTINATIONS_CONFIG"] = str(root / "destinations.yaml")
    yield {"root": root, "env": env}
    shutil.rmtree(root, ignore_errors=True)


def _dag_test(dag_id: str, conf: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(CHILD), dag_id, json.dumps(conf), "1", "--pass-gate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("DAG_TEST_OUTCOME ")]
    assert lines, f"{dag_id}: no outcome (exit {done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    outcome: dict[str, Any] = json.loads(lines[-1].removeprefix("DAG_TEST_OUTCOME "))
    assert outcome["state"] == "success", json.dumps(outcome)[:3000] + "\n" + done.stdout[-3000:]
    return outcome


def test_custom_event_segment_through_the_dags(workspace: dict[str, Any]) -> None:
    root, env = workspace["root"], workspace["env"]
    hours = {"hour_from": f"{DAY}T14:00:00Z", "hour_to": f"{DAY}T14:00:00Z", "source": str(root / "landing")}
    ingest = _dag_test("pixel_ingest", hours, env)
    assert ingest["asset_events"] and ingest["asset_events"][0]["event_dates"] == [DAY]
    build = _dag_test("audience_build", {"as_of": DAY}, env)
    (announced,) = build["asset_events"]
    assert announced["as_of"] == DAY and set(announced["segments"]) == {"pro_signups"}
    _dag_test("audience_export", {"as_of": DAY, "destinations": ["crm_csv"]}, env)

    (latest,) = (root / "deliveries" / "crm_csv" / "pro_signups").glob("_latest.json")
    prefix = json.loads(latest.read_text())["prefix"]
    files = sorted((root / "deliveries" / prefix).glob("part-*.csv.gz"))
    rows = [r for f in files for r in csv.DictReader(io.StringIO(gzip.decompress(f.read_bytes()).decode()))]
    user_key = Pseudonymiser().key("cust-7", "user_id")
    # A cookie-only person's label is its cookie node; the user-only event's person is its pseudonymous device
    # ('anonymous_id:user:<key>' sorts before 'user_key:<key>').
    expected = {_person_key("anonymous_id:ck-pro"), _person_key(f"anonymous_id:user:{user_key}")}
    assert {r["person_key"] for r in rows} == expected
