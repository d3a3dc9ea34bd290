"""The destination registry (issue 12): every destination is one module of ``export/platforms/``; a new one is
that module plus config lines; an unknown name is refused everywhere. The toy destination below is the recipe
of docs/ARCHITECTURE.md ("Add a destination"), exported end to end."""

from __future__ import annotations

import gzip
import json
import pkgutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from retarget_pipeline.export import platforms
from retarget_pipeline.export.build import run_export
from retarget_pipeline.export.destinations import DestinationConfig, ExportConfigError, load_destinations
from retarget_pipeline.export.formats import Layout, MatchKeyMap, hashes

from .conftest import DAY1, SEGMENT


def test_every_module_is_a_destination_named_after_it() -> None:
    modules = sorted(m.name for m in pkgutil.iter_modules(platforms.__path__))
    assert modules == ["crm_csv", "dsp_device_list", "google_ads_customer_match", "meta_custom_audience"]
    assert sorted(platforms.names()) == modules
    labels = {name: (d.platform, d.label) for name, d in platforms.registry().items()}
    assert labels == {
        "crm_csv": ("", "crm"),
        "dsp_device_list": ("ttd_uid2", "the_trade_desk"),
        "google_ads_customer_match": ("google_ads", "google_ads"),
        "meta_custom_audience": ("meta", "meta"),
    }


def test_unknown_destination_is_an_error_not_a_fallback(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown destination 'tiktok'"):
        platforms.get("tiktok")
    with pytest.raises(ValueError, match="unknown destination 'tiktok'"):
        run_export(lake=str(tmp_path), destination="tiktok", to=str(tmp_path / "out"))


def _toy_layout(config: DestinationConfig, members: list[dict[str, Any]], keys: MatchKeyMap, as_of: date) -> Layout:
    """One row per email match key (UID2's hashing), with the as-of date: a toy clean-room upload."""
    rows = {(h, as_of.isoformat()) for m in members for h in hashes(m, "email_keys", "email", keys)}
    return Layout(("email_sha256_b64", "as_of"), 1, sorted(rows))


TOY = platforms.Destination(
    name="toy_clean_room",
    platform="ttd_uid2",  # reuse a platform's match keys from the identity table
    label="toy",
    max_rows_per_file=1,  # one row per file, to see the limit applied
    max_bytes_per_file=10_000,
    layout=_toy_layout,
    reachable=lambda config, member, keys: bool(hashes(member, "email_keys", "email", keys)),
)


@pytest.fixture
def toy() -> Iterator[platforms.Destination]:
    remove = platforms.register(TOY)
    try:
        yield TOY
    finally:
        remove()
    assert "toy_clean_room" not in platforms.names()


def test_a_toy_destination_is_one_definition_plus_config(lake: Path, tmp_path: Path, toy: Any) -> None:
    config = tmp_path / "destinations.yaml"
    config.write_text(f"version: 1\nsegments:\n  {SEGMENT}:\n    toy_clean_room: {{}}\n", encoding="utf-8")
    (cfg,) = load_destinations(config)[SEGMENT].values()
    assert (cfg.platform, cfg.max_rows_per_file, cfg.id_types) == ("ttd_uid2", 1, ())
    summary = run_export(
        lake=str(lake), destination="toy_clean_room", to=str(tmp_path / "out"), config_path=str(config), as_of=DAY1
    )
    (seg,) = summary["segments"]
    folder = tmp_path / "out" / seg["prefix"]
    manifest = json.loads((folder / "_manifest.json").read_text())
    assert (manifest["destination"], manifest["platform"]) == ("toy_clean_room", "toy")
    files = {p.name: gzip.decompress(p.read_bytes()).decode() for p in sorted(folder.glob("*.csv.gz"))}
    # Alice (gmail) and Bob are exportable with an email; the holdout and the suppressed person are not.
    assert len(files) == 2 and all(f.startswith("email_sha256_b64,as_of\n") for f in files.values())
    assert all(f.count("\n") == 2 and f.rstrip().endswith(",2026-03-01") for f in files.values())
    assert seg["reach"] == 2  # the toy's own reachable(): persons with an email match key
    # A destination without an id_types parser refuses the option, naming who takes it.
    config.write_text(
        f"version: 1\nsegments:\n  {SEGMENT}:\n    toy_clean_room: {{id_types: [cookie]}}\n", encoding="utf-8"
    )
    with pytest.raises(ExportConfigError, match="field 'id_types': only allowed for dsp_device_list"):
        load_destinations(config)


def test_registering_a_known_name_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="already registered"):
        platforms.register(platforms.get("crm_csv"))
