"""One shared generated run for the distribution tests (small: 40k lines, 2 days, runs in a few seconds)."""

from __future__ import annotations

from pathlib import Path

import pytest
from generate_measure import Logs, read_logs  # this folder is on sys.path (pytest rootdir-style imports)

from retarget_pipeline.cli import main

RUN_ARGS = ["--events", "40000", "--days", "2", "--seed", "7", "--products", "1000"]


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pixel")
    assert main(["generate", "--out", str(out), *RUN_ARGS]) == 0
    return out


@pytest.fixture(scope="session")
def logs(run_dir: Path) -> Logs:
    return read_logs(run_dir)
