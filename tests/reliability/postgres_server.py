"""A throwaway PostgreSQL server for tests: ``initdb`` into a temp folder, ``pg_ctl start`` on 127.0.0.1 and a
free port (its unix socket in the same folder), and stop / start / restart it on demand.

Server binaries come from ``PATH`` or Debian's ``/usr/lib/postgresql/<version>/bin`` (newest first);
:func:`find_server_bin` returns None when there are none (the tests skip, saying so). PostgreSQL refuses to run
as root: as root the server runs as the ``postgres`` user (Debian's package creates it) or else ``nobody``.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Any

SERVER_TOOLS = ("initdb", "pg_ctl", "postgres")
USER = "airflow"  # the superuser initdb creates (trust authentication, loopback only)
DATABASE = "postgres"


def find_server_bin() -> Path | None:
    """The folder holding ``initdb``, ``pg_ctl`` and ``postgres``, or None."""
    candidates = [Path(p) for p in os.environ.get("PATH", "").split(os.pathsep) if p]

    def version(p: Path) -> tuple[int, ...]:
        parts = p.parent.name.split(".")
        return tuple(int(x) for x in parts if x.isdigit())

    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True)
    for folder in candidates:
        if all((folder / tool).is_file() and os.access(folder / tool, os.X_OK) for tool in SERVER_TOOLS):
            return folder
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """One server in its own temp folder; :meth:`close` stops it and removes the folder."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="retarget-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = free_port()
        self._as: dict[str, Any] = {}
        if os.geteuid() == 0:
            user = _unprivileged_user()
            self._as = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
            self.root.chmod(0o755)
            os.chown(self.root, user.pw_uid, user.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", USER, "--auth=trust", "-E", "UTF8", "--no-sync")

    @property
    def url(self) -> str:
        """SQLAlchemy URL for Airflow's metadata DB (psycopg2; Airflow derives the asyncpg one)."""
        return f"postgresql+psycopg2://{USER}@127.0.0.1:{self.port}/{DATABASE}"

    def _run(self, tool: str, *args: str) -> None:
        result = subprocess.run(
            [str(self.bin_dir / tool), *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            cwd=self.root,
            env={**os.environ, "LC_ALL": "C"},
            **self._as,
        )
        if result.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{tool} {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}\n{log}")

    def _ctl(self, *args: str) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", *args)

    def start(self) -> None:
        # Durability settings off: a test DB; a "fast" stop still ends with a clean shutdown checkpoint.
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
        self._ctl("-o", options, "start")

    def stop(self) -> None:
        """Stop at once: open connections are cut (``-m fast``), as when the DB host restarts the service."""
        self._ctl("-m", "fast", "stop")

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        if (self.data / "postmaster.pid").exists():
            try:
                self._ctl("-m", "immediate", "stop")
            except RuntimeError:
                pass
        shutil.rmtree(self.root, ignore_errors=True)


def _unprivileged_user() -> pwd.struct_passwd:
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError("running as root and neither a 'postgres' nor a 'nobody' user exists to run PostgreSQL")
