"""Fixtures for the storage tests: a fault-injecting proxy in front of the session's moto S3 server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from s3_fault_proxy import FaultProxy, start_fault_proxy


@pytest.fixture
def fault_proxy(s3_server: str) -> Iterator[FaultProxy]:
    """A fault-injecting proxy in front of ``s3_server``; point a store at ``proxy.endpoint_url``."""
    proxy, server = start_fault_proxy(s3_server)
    yield proxy
    server.shutdown()
    server.server_close()
