"""A loopback fault-injecting HTTP proxy (used by the ``fault_proxy`` fixture) in front of the moto S3 server.

Rules say which requests fail and how: an S3 error response (``503 SlowDown``, ``500 InternalError``) or a
connection dropped after reading part of the request body. Everything else is forwarded to moto unchanged.
"""

from __future__ import annotations

import http.client
import socket
import struct
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

_ERRORS = {
    "503": (503, "SlowDown", "Please reduce your request rate."),
    "500": (500, "InternalError", "We encountered an internal error. Please try again."),
    "NoSuchUpload": (404, "NoSuchUpload", "The specified upload does not exist."),
}
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "expect", "proxy-connection", "upgrade"}


@dataclass
class Fault:
    """Fail the first ``times`` requests (-1: all) whose method matches and whose path+query contains ``match``."""

    method: str
    # "503", "500", "drop" (RST mid-body), "lose-response" (forward, then RST), "bad-checksum" (alter it)
    action: str
    match: str = ""
    times: int = 1
    hits: int = 0


@dataclass
class FaultProxy:
    upstream: str
    faults: list[Fault] = field(default_factory=list)
    log: list[tuple[str, str, str]] = field(default_factory=list)  # (method, path, "ok"|action)
    endpoint_url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, method: str, action: str, match: str = "", times: int = 1) -> Fault:
        fault = Fault(method, action, match, times)
        self.faults.append(fault)
        return fault

    def pick(self, method: str, path: str) -> str:
        with self._lock:
            for fault in self.faults:
                if fault.method == method and fault.match in path and (fault.times < 0 or fault.hits < fault.times):
                    fault.hits += 1
                    self.log.append((method, path, fault.action))
                    return fault.action
            self.log.append((method, path, "ok"))
            return "ok"

    def count(self, method: str, match: str = "") -> int:
        return sum(1 for m, p, _ in self.log if m == method and match in p)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass

    def _read_body(self, limit: int | None = None) -> bytes:
        """The raw body (chunked bodies are kept chunk-encoded and forwarded as such)."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            raw = bytearray()
            while True:
                line = self.rfile.readline()
                raw += line
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if limit is not None and len(raw) >= limit:
                    return bytes(raw)
                if size == 0:
                    while (trailer := self.rfile.readline()) not in (b"\r\n", b"\n", b""):
                        raw += trailer
                    return bytes(raw + b"\r\n")
                raw += self.rfile.read(size + 2)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length if limit is None else min(length, limit))

    def _handle(self) -> None:
        action = self.server.proxy.pick(self.command, self.path)
        if action == "drop":
            self._read_body(limit=1024)  # part of the body, then a hard reset (RST, no response)
            self._reset()
            return
        body = self._read_body()
        if action == "lose-response":  # the server does the work, the client never hears back
            self._forward(body, send=False)
            self._reset()
            return
        if action in _ERRORS:
            status, code, message = _ERRORS[action]
            payload = f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}'
            payload += "</Message><RequestId>fault-proxy</RequestId></Error>"
            self.send_response(status)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload.encode())
            return
        self._forward(body, corrupt_checksum=action == "bad-checksum")

    def _reset(self) -> None:
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True

    def _forward(self, body: bytes, corrupt_checksum: bool = False, send: bool = True) -> None:
        target = urlsplit(self.server.proxy.upstream)
        conn = http.client.HTTPConnection(target.hostname or "127.0.0.1", target.port, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP - {"transfer-encoding"}}
        try:
            conn.request(self.command, self.path, body=body or None, headers=headers)
            response = conn.getresponse()
            data = response.read()
        finally:
            conn.close()
        if not send:
            return
        self.send_response(response.status)
        for name, value in response.getheaders():
            if name.lower() in _HOP_BY_HOP or (name.lower() == "content-length" and self.command != "HEAD"):
                continue
            if corrupt_checksum and name.lower() == "x-amz-checksum-sha256":
                value = "AAAA" + value[4:]  # what a corrupted upload would look like to the client
            self.send_header(name, value)
        if self.command != "HEAD":
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    proxy: FaultProxy

    def handle_error(self, request: Any, client_address: Any) -> None:  # dropped connections are expected
        pass


def start_fault_proxy(upstream: str) -> tuple[FaultProxy, _Server]:
    """Start a proxy for ``upstream`` on 127.0.0.1 and a free port (stop it with ``server.shutdown()``)."""
    proxy = FaultProxy(upstream=upstream)
    server = _Server(("127.0.0.1", 0), _Handler)
    server.proxy = proxy
    proxy.endpoint_url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return proxy, server
