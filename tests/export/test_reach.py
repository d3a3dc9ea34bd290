"""Reach forecast before upload and the platforms' minimum audience sizes: a delivery whose reach (exportable
persons with a key the destination accepts) is below the minimum is held with a reason, unless allowed.

People (hand-made): alice (email, phone, MAID, cookie), bob (email, 2 cookies), dan (a cookie only), eve (a MAID
only), plus a held-out and a consent-suppressed person who never count. Expected reach per destination:
google 2 (alice, bob: email/phone), meta 3 (+ eve's MAID; dan's row would carry only EXTERN_ID), dsp with
cookie+maid 4 (every one has a cookie or a MAID), crm 4 (keyed by person_key: every exportable person).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from retarget_pipeline.export.build import run_export
from retarget_pipeline.export.destinations import ExportConfigError, load_destinations

from .conftest import DAY1, SEGMENT, day1_people, person, write_identity, write_membership


@pytest.fixture
def reach_lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("RETARGET_MIN_AUDIENCE_SIZE", raising=False)  # the platforms' own minimums apply
    root = tmp_path / "lake"
    people = [
        *day1_people(),
        person("p_dan", anonymous_ids=["c_d"]),
        person("p_eve", anonymous_ids=[], advertising_ids=["EEEE-2222"]),
    ]
    write_membership(root, DAY1, SEGMENT, people)
    write_identity(root)
    return root


def _config(tmp_path: Path, options: str) -> str:
    path = tmp_path / "destinations.yaml"
    path.write_text(f"version: 1\nsegments:\n  {SEGMENT}:\n{options}", encoding="utf-8")
    return str(path)


def _export(lake: Path, tmp_path: Path, config: str, destination: str, **kw: Any) -> dict[str, Any]:
    summary = run_export(lake=str(lake), destination=destination, to=str(tmp_path / "out"), config_path=config, **kw)
    (result,) = summary["segments"]
    return dict(result)


@pytest.mark.parametrize(
    ("destination", "options", "reach"),
    [
        ("google_ads_customer_match", "{min_audience_size: 0}", 2),
        ("meta_custom_audience", "{min_audience_size: 0}", 3),
        ("dsp_device_list", "{id_types: [cookie, maid]}", 4),
        ("dsp_device_list", "{id_types: [uid2]}", 2),
        ("crm_csv", "{}", 4),
    ],
)
def test_reach_counts_persons_with_an_accepted_key(
    reach_lake: Path, tmp_path: Path, destination: str, options: str, reach: int
) -> None:
    result = _export(reach_lake, tmp_path, _config(tmp_path, f"    {destination}: {options}\n"), destination)
    assert result["status"] == "delivered" and result["reach"] == reach
    manifest = json.loads((tmp_path / "out" / result["prefix"] / "_manifest.json").read_text())
    assert manifest["reach"]["persons"] == reach


def test_below_the_platform_minimum_is_held_with_a_reason(reach_lake: Path, tmp_path: Path) -> None:
    config = _config(tmp_path, "    google_ads_customer_match: {}\n")
    held = _export(reach_lake, tmp_path, config, "google_ads_customer_match")
    assert held["status"] == "held_below_minimum" and held["prefix"] is None
    assert (held["reach"], held["min_audience_size"]) == (2, 100)  # Google's published minimum (100 active users)
    assert "reach 2 persons" in held["reason"] and "minimum audience size 100" in held["reason"]
    assert not (tmp_path / "out" / "google_ads_customer_match").exists()  # nothing written, no latest pointer
    shipped = _export(reach_lake, tmp_path, config, "google_ads_customer_match", allow_below_minimum=True)
    assert shipped["status"] == "delivered" and shipped["total"] == 3  # alice's email + phone, bob's email
    manifest = json.loads((tmp_path / "out" / shipped["prefix"] / "_manifest.json").read_text())
    assert manifest["reach"] == {"persons": 2, "min_audience_size": 100}


def test_minimum_at_the_reach_is_delivered(reach_lake: Path, tmp_path: Path) -> None:
    config = _config(tmp_path, "    meta_custom_audience: {min_audience_size: 3}\n")
    assert _export(reach_lake, tmp_path, config, "meta_custom_audience")["status"] == "delivered"
    config = _config(tmp_path, "    meta_custom_audience: {min_audience_size: 4}\n")
    assert _export(reach_lake, tmp_path, config, "meta_custom_audience")["status"] == "held_below_minimum"


def test_deployment_wide_minimum_and_bad_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = _config(tmp_path, "    google_ads_customer_match: {}\n    crm_csv: {min_audience_size: 7}\n")
    monkeypatch.setenv("RETARGET_MIN_AUDIENCE_SIZE", "5")
    loaded = load_destinations(config)[SEGMENT]
    assert loaded["google_ads_customer_match"].min_audience_size == 5  # the deployment's value over Google's 100
    assert loaded["crm_csv"].min_audience_size == 7  # a destination's own option wins
    monkeypatch.setenv("RETARGET_MIN_AUDIENCE_SIZE", "-1")
    with pytest.raises(ExportConfigError, match="RETARGET_MIN_AUDIENCE_SIZE='-1': expected an integer >= 0"):
        load_destinations(config)
    monkeypatch.delenv("RETARGET_MIN_AUDIENCE_SIZE")
    bad = _config(tmp_path, "    crm_csv: {min_audience_size: many}\n")
    with pytest.raises(ExportConfigError, match="field 'min_audience_size': expected an integer >= 0"):
        load_destinations(bad)
