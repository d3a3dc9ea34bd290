"""The race of issue 18: an export's quality gate was reading the segment files of an as-of date while a second
build of that date replaced them, and failed with Spark's ``FAILED_READ_FILE.FILE_NOT_EXIST``. Builds now write
new folders and commit a pointer; a reader keeps the build it resolved, so a rebuild in the middle of the gate
changes nothing it reads."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from segments.helpers import AS_OF, before_end, event, write_lake

from retarget_pipeline.quality.results import GateRun


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    rows = [
        event("product_view", f"anon-{i}", before_end(hours=2 + i), product_id=f"sku{i}", category="shoes")
        for i in range(6)
    ]
    rows += [event("add_to_cart", "anon-0", before_end(hours=1), product_id="sku9", consent="granted")]
    write_lake(tmp_path / "lake", rows)
    return tmp_path / "lake"


def test_a_rebuild_during_the_gate_changes_nothing_it_reads(
    spark: Any, lake: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from retarget_pipeline.quality.gates import run_audience_gate
    from retarget_pipeline.segments.build import build_segments

    build_segments(spark, lake=str(lake), as_of=AS_OF, out=str(lake))
    calm = run_audience_gate(lake=str(lake), as_of=AS_OF, spark=spark)  # the same gate without a rebuild

    original = GateRun.validate
    rebuilt: list[str] = []

    def validate_after_a_rebuild(self: GateRun, name: str, data: Any) -> Any:
        if not rebuilt:  # the membership is open for reading: now a second build of the date commits
            rebuilt.append(name)
            build_segments(spark, lake=str(lake), as_of=AS_OF, out=str(lake))
        return original(self, name, data)

    monkeypatch.setattr(GateRun, "validate", validate_after_a_rebuild)
    raced = run_audience_gate(lake=str(lake), as_of=AS_OF, spark=spark)
    assert rebuilt == ["membership"]
    assert raced.summary()["checks"] == calm.summary()["checks"] == []
    assert raced.passed, raced.summary()
    # The next gate reads the newer build; the one it raced against is still there for its readers.
    from retarget_pipeline.lake import snapshots
    from retarget_pipeline.storage import open_store

    store = open_store(str(lake))
    builds = sorted(p.name for p in (lake / "segments" / f"as_of={AS_OF}").glob("build=*"))
    assert len(builds) == 2 and snapshots.collect_garbage(store, AS_OF) == 0
    assert snapshots.collect_garbage(store, AS_OF, keep=timedelta(0)) == 1
