"""A real Airflow deployment for the tests: scheduler, DAG processor and API server (and, for the Celery test, a
Celery worker) as separate processes on loopback with a throwaway ``AIRFLOW_HOME``, driven through the REST API
with a token, the way a user's deployment is. Processes are stopped by the fixture, by PID (process groups)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

TERMINAL = {"success", "failed"}


class ApiError(RuntimeError):
    pass


@dataclass
class Api:
    """The Airflow 3 REST API (``/api/v2``) with a bearer token from the simple auth manager's ``/auth/token``."""

    base_url: str
    token: str = ""

    def login(self, username: str, password: str) -> None:
        reply = self._call("POST", "/auth/token", {"username": username, "password": password}, auth=False)
        self.token = str(reply["access_token"])

    def _call(self, method: str, path: str, body: Any = None, *, auth: bool = True) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.base_url}{path}", data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if auth:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=30) as reply:
                text = reply.read().decode()
        except urllib.error.HTTPError as exc:
            raise ApiError(f"{method} {path}: HTTP {exc.code}: {exc.read().decode()[:500]}") from exc
        return json.loads(text) if text else None

    def get(self, path: str) -> Any:
        return self._call("GET", path)

    def dag_ids(self) -> set[str]:
        return {d["dag_id"] for d in self.get("/api/v2/dags?limit=100")["dags"]}

    def unpause(self, dag_id: str) -> None:
        self._call("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})

    def trigger(self, dag_id: str, conf: dict[str, Any]) -> str:
        reply = self._call("POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf})
        return str(reply["dag_run_id"])

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        reply = self.get(f"/api/v2/dags/{dag_id}/dagRuns?limit=100&order_by=id")
        return list(reply["dag_runs"])

    def run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return dict(self.get(f"/api/v2/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id, safe='')}"))

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        quoted = urllib.parse.quote(run_id, safe="")
        return list(self.get(f"/api/v2/dags/{dag_id}/dagRuns/{quoted}/taskInstances")["task_instances"])

    def xcom(self, dag_id: str, run_id: str, task_id: str) -> Any:
        """A task's return value (the native JSON the task pushed)."""
        quoted = urllib.parse.quote(run_id, safe="")
        value = self.get(f"/api/v2/dags/{dag_id}/dagRuns/{quoted}/taskInstances/{task_id}/xcomEntries/return_value")
        value = value["value"]
        return json.loads(value) if isinstance(value, str) else value

    def queued_asset_events(self, dag_id: str) -> list[dict[str, Any]]:
        """Asset events waiting to trigger a run of ``dag_id`` (404 means none)."""
        try:
            return list(self.get(f"/api/v2/dags/{dag_id}/assets/queuedEvents")["queued_events"])
        except ApiError as exc:
            if "HTTP 404" in str(exc):
                return []
            raise


def wait_for(what: str, check: Callable[[], Any], timeout: float, on_timeout: Callable[[], str] = str) -> Any:
    """Poll ``check`` every second until it returns something truthy; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{on_timeout()}")
        time.sleep(1)
