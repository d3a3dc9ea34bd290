"""A throwaway Redis server for the Celery-executor test: Debian's ``redis-server`` on 127.0.0.1 and a free port,
nothing persisted, stopped by PID. :func:`find_redis` is None when it is not installed (the test skips, saying
so; ``.ci/run`` installs it the way it installs PostgreSQL)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from retarget_pipeline.orchestration.deployment import free_port


def find_redis() -> str | None:
    return shutil.which("redis-server") or next(
        (str(p) for p in (Path("/usr/bin/redis-server"), Path("/usr/sbin/redis-server")) if p.is_file()), None
    )


class RedisServer:
    def __init__(self, binary: str) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="retarget-redis-"))
        args = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        args += ["--dir", str(self.dir), "--daemonize", "no", "--protected-mode", "yes"]
        self.log = self.dir / "redis.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self._wait()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _wait(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited: {self.log.read_text(errors='replace')[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.2)
        raise TimeoutError(f"redis-server on port {self.port} did not answer within {timeout:.0f} s")

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
