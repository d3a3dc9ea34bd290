"""A local Airflow deployment of this project: ``airflow.cfg``, the metadata DB and the components on loopback.

``make ui`` (``scripts/ui.py``) and the real-scheduler tests use it, so both run Airflow the way a user's
deployment does: ``airflow scheduler``, ``airflow dag-processor`` and ``airflow api-server`` as separate
processes sharing one ``AIRFLOW_HOME``. Everything they must agree on is written into ``$AIRFLOW_HOME/airflow.cfg``
(not only environment variables), so any later ``airflow`` command with the same ``AIRFLOW_HOME``, including
``airflow standalone``, sees this project's DAGs and plugin, no examples, and the right Execution API URL:

- ``[core] execution_api_server_url``: task processes report to the API server through it. Airflow's default is
  ``http://localhost:8080/execution/``, so with the API server on any other port every task's first call fails
  with "Connection refused" unless it is set.
- ``[api_auth] jwt_secret``: the scheduler signs the tasks' tokens and the API server checks them; a value per
  process (what an unset secret gives) makes every task fail authentication. Generated once, kept in the file.
- the simple auth manager's users and password file (dev-only login; a real deployment configures its own).
"""

from __future__ import annotations

import configparser
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from retarget_pipeline.config import project_root

COMPONENTS: tuple[str, ...] = ("scheduler", "dag-processor", "api-server")
CELERY_WORKER = "celery worker"  # the extra component of a CeleryExecutor deployment
DEFAULT_PORT = 8080
ADMIN_USER = "admin"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def airflow_settings(
    home: Path,
    *,
    port: int,
    executor: str = "LocalExecutor",
    db_url: str | None = None,
    parallelism: int = 4,
    broker_url: str | None = None,
) -> dict[str, dict[str, str]]:
    """The ``airflow.cfg`` sections this project sets (everything else keeps Airflow's defaults).

    ``broker_url`` (CeleryExecutor): the Celery broker, e.g. ``redis://127.0.0.1:6379/0``; task results go to
    the metadata DB (``db+<sql_alchemy_conn>``)."""
    root = project_root()
    base_url = f"http://127.0.0.1:{port}"
    db = db_url or f"sqlite:///{home / 'airflow.db'}"
    celery = (
        {"celery": {"broker_url": broker_url, "result_backend": f"db+{db}", "worker_concurrency": str(parallelism)}}
        if broker_url
        else {}
    )
    return {
        "core": {
            "dags_folder": str(root / "dags"),
            "plugins_folder": str(root / "plugins"),
            "load_examples": "False",
            "executor": executor,
            "parallelism": str(parallelism),
            "execution_api_server_url": f"{base_url}/execution/",
            "simple_auth_manager_users": f"{ADMIN_USER}:admin",
            "simple_auth_manager_passwords_file": str(home / "simple_auth_manager_passwords.json"),
        },
        "database": {"sql_alchemy_conn": db},
        "api": {"host": "127.0.0.1", "port": str(port), "base_url": base_url, "workers": "1"},
        "logging": {"base_log_folder": str(home / "logs")},
        **celery,
    }


def write_airflow_cfg(
    home: Path,
    *,
    port: int = DEFAULT_PORT,
    executor: str = "LocalExecutor",
    db_url: str | None = None,
    broker_url: str | None = None,
) -> Path:
    """Write (or update) ``home/airflow.cfg`` with :func:`airflow_settings`; keeps every other setting and the
    generated secrets of an earlier call. The file holds secrets: it is created readable by its owner only."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / "airflow.cfg"
    cfg = configparser.ConfigParser(interpolation=None)
    if path.exists():
        cfg.read(path, encoding="utf-8")
    settings = airflow_settings(home, port=port, executor=executor, db_url=db_url, broker_url=broker_url)
    for section, values in settings.items():
        if not cfg.has_section(section):
            cfg.add_section(section)
        for key, value in values.items():
            cfg.set(section, key, value)
    if not cfg.has_section("api_auth"):
        cfg.add_section("api_auth")
    if not cfg.get("api_auth", "jwt_secret", fallback=""):
        cfg.set("api_auth", "jwt_secret", secrets.token_urlsafe(48))
    temp = path.with_name(f".{path.name}.tmp")
    with os.fdopen(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as out:
        cfg.write(out)
    temp.replace(path)
    return path


def admin_password(home: Path) -> str:
    """The UI login's password (user ``admin``): generated once into the simple auth manager's password file."""
    path = home / "simple_auth_manager_passwords.json"
    passwords: dict[str, str] = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    if ADMIN_USER not in passwords:
        passwords[ADMIN_USER] = secrets.token_urlsafe(12)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(json.dumps(passwords) + "\n")
    return passwords[ADMIN_USER]


def component_env(home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment the components (and so every task process) run with: this interpreter's ``bin`` first on
    ``PATH`` (``airflow``, ``spark-submit``), ``AIRFLOW_HOME``, and no ``AIRFLOW__<SECTION>__<KEY>`` variable for
    a setting ``home/airflow.cfg`` holds (a variable would silently win over the file); then ``extra``."""
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(home / "airflow.cfg", encoding="utf-8")
    in_file = {f"AIRFLOW__{section.upper()}__{key.upper()}" for section in cfg.sections() for key in cfg[section]}
    env = {k: v for k, v in os.environ.items() if k not in in_file}
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([bin_dir, env.get("PATH", "")])
    env["AIRFLOW_HOME"] = str(home)
    env.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # one machine: Spark on loopback (a cluster sets its own)
    env.setdefault("PYSPARK_PYTHON", sys.executable)
    env.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    env.update(extra or {})
    return env


def migrate(home: Path, env: Mapping[str, str]) -> None:
    """``airflow db migrate`` for this home (idempotent)."""
    done = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        env=dict(env),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed for {home}:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")


@dataclass
class Deployment:
    """Running components: their processes and log files. Stop them with :meth:`stop` (by PID, process group)."""

    home: Path
    port: int
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_file(self, component: str) -> Path:
        return self.home / "component-logs" / f"{component}.log"

    def start(self, env: Mapping[str, str], components: Sequence[str] = COMPONENTS) -> None:
        (self.home / "component-logs").mkdir(parents=True, exist_ok=True)
        for name in components:
            with self.log_file(name).open("ab") as log:
                self.processes[name] = subprocess.Popen(
                    [sys.executable, "-m", "airflow", *name.split()],
                    env=dict(env),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,  # its own process group: stop() ends its children too
                )

    def dead(self) -> dict[str, int]:
        """Components that exited, with their exit codes."""
        return {n: code for n, p in self.processes.items() if (code := p.poll()) is not None}

    def wait_until_up(self, timeout: float = 180.0) -> None:
        """Until the API server answers its health check (and every component is still alive)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if dead := self.dead():
                tails = {n: self.log_file(n).read_text(errors="replace")[-3000:] for n in dead}
                raise RuntimeError(f"airflow components exited: {dead}\n{tails}")
            try:
                with urllib.request.urlopen(f"{self.base_url}/api/v2/monitor/health", timeout=5) as reply:
                    if reply.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(1)
        raise TimeoutError(f"the API server on {self.base_url} did not answer within {timeout:.0f} s")

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM each component's process group, then SIGKILL what is left after ``timeout``."""
        for proc in self.processes.values():
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in self.processes.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            _signal_group(proc, signal.SIGKILL)
            proc.wait()


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass
