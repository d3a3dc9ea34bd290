"""End-to-end export over tiny hand-made lakes; every expected file content is written out by hand.

Hashes: SHA-256 hex of the platform-normalised value, computed with `printf '%s' VALUE | sha256sum`:
alicesmith@gmail.com (google_ads) 49da89ea..., alice.smith@gmail.com (meta) d4e561b8..., bob@example.com
5ff860bf..., carol@example.com e0d47ca1..., +12345678901 (google_ads) 10e6f0b4... (also published by UID2 docs),
12345678901 (meta) 254aa248....
"""

from __future__ import annotations

import gzip
import hashlib
import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from retarget_pipeline.export.build import run_export

from .conftest import DAY1, DAY2, RAW, SEGMENT, day1_people, person, write_membership

G_ALICE = "49da89ea7f43bdcea1b59f6cdc646f247e55a389912115a91283b36617667838"
M_ALICE = "d4e561b8ed6eadd056ac000dcb0ed6d5a1af7549110820c20fc42e02f4e370c6"
BOB = "5ff860bf1190596c7188ab851db691f0f3169c453936e9e1eba2f9a47f7a0018"
CAROL = "e0d47ca1bc1eb62e650fc1fd660a9bfbf7cba8dc6337d81df7ea9aa9071a24a5"
G_PHONE = "10e6f0b47054a83359477dcb35231db6de5c69fb1816e1a6b98e192de9e5b9ee"
M_PHONE = "254aa248acb47dd654ca3ea53f48c2c26d641d23d7e2e93a1ec56258df7674c4"


def export(lake: Path, out: Path, config: str, destination: str, **kw: Any) -> dict[str, Any]:
    return run_export(lake=str(lake), destination=destination, to=str(out), config_path=config, **kw)


def delivery(out: Path, summary: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    prefix = summary["segments"][0]["prefix"]
    folder = out / prefix
    manifest = json.loads((folder / "_manifest.json").read_text())
    files = {p.name: gzip.decompress(p.read_bytes()).decode() for p in sorted(folder.glob("*.csv.gz"))}
    return manifest, files


def test_google_full_exact_file(lake: Path, tmp_path: Path, config: str) -> None:
    summary = export(lake, tmp_path / "out", config, "google_ads_customer_match", as_of=DAY1)
    manifest, files = delivery(tmp_path / "out", summary)
    assert files == {"part-00001.csv.gz": f"Email,Phone\n,{G_PHONE}\n{G_ALICE},\n{BOB},\n"}
    assert manifest["row_counts"] == {"adds": 3, "removes": 0, "total": 3}
    assert manifest["membership"] == {
        "members": 4,
        "exportable": 2,
        "holdout": 1,
        "suppressed": 1,
        "suppressed_by_reason": {"consent_denied": 1},
    }
    assert manifest["definition_hash"] == "defhash1"
    assert manifest["status"] == "complete" and manifest["mode"] == "full"
    assert manifest["delivery_id"].startswith("full-")


def test_meta_full_exact_file(lake: Path, tmp_path: Path, config: str) -> None:
    summary = export(lake, tmp_path / "out", config, "meta_custom_audience", as_of=DAY1)
    _, files = delivery(tmp_path / "out", summary)
    assert files == {
        "part-00001.csv.gz": f"EMAIL,PHONE,MADID,EXTERN_ID\n{BOB},,,p_bob\n{M_ALICE},{M_PHONE},aaaa-1111,p_alice\n"
    }


def test_dsp_full_exact_file_with_ttl(lake: Path, tmp_path: Path, config: str) -> None:
    summary = export(lake, tmp_path / "out", config, "dsp_device_list", as_of=DAY1)
    _, files = delivery(tmp_path / "out", summary)
    # expires 2026-03-08 is 7 days after as_of 2026-03-01 (10080 min); 2026-03-04 is 3 days (4320 min).
    assert files == {
        "part-00001.csv.gz": "id,id_type,expires_at,ttl_minutes\n"
        "aaaa-1111,maid,2026-03-08,10080\n"
        "c_a1,cookie,2026-03-08,10080\n"
        "c_b1,cookie,2026-03-04,4320\n"
        "c_b2,cookie,2026-03-04,4320\n"
    }


def test_crm_full_exact_file_is_formula_safe(lake: Path, tmp_path: Path, config: str) -> None:
    summary = export(lake, tmp_path / "out", config, "crm_csv", as_of=DAY1)
    _, files = delivery(tmp_path / "out", summary)
    assert files == {
        "part-00001.csv.gz": "person_key,last_cart_time,cart_value,cart_currency,top_product_ids,top_categories\n"
        "p_alice,2026-02-28T10:00:00Z,49.9000,EUR,sku1|sku2,'=shoes\n"
        "p_bob,,12.5000,USD,'+sku3,\n"
    }


def _day2(lake: Path) -> None:
    people = [p for p in day1_people() if p["person_key"] != "p_alice"]
    people = [{**p, "cart_value": Decimal("20")} if p["person_key"] == "p_bob" else p for p in people]
    people.append(person("p_carol", email_keys=["ek_carol"], anonymous_ids=["c_c1"]))
    write_membership(lake, DAY2, SEGMENT, people)


def test_incremental_adds_and_removes_across_two_days(lake: Path, tmp_path: Path, config: str) -> None:
    out = tmp_path / "out"
    first = export(lake, out, config, "google_ads_customer_match", as_of=DAY1, mode="incremental")
    assert first["segments"][0]["adds"] == 3 and first["segments"][0]["baseline_as_of"] is None
    _day2(lake)
    second = export(lake, out, config, "google_ads_customer_match", as_of=DAY2, mode="incremental")
    manifest, files = delivery(out, second)
    assert files == {
        "part-00001.csv.gz": f"Email,Phone\n{CAROL},\n",
        "remove-00001.csv.gz": f"Email,Phone\n,{G_PHONE}\n{G_ALICE},\n",
    }
    assert manifest["row_counts"] == {"adds": 1, "removes": 2, "total": 2}
    assert manifest["created_from"] == {
        "as_of": "2026-03-02",
        "baseline_as_of": "2026-03-01",
        "baseline_delivery_id": first["segments"][0]["delivery_id"],
    }
    assert [f["action"] for f in manifest["files"]] == ["add", "remove"]


def test_incremental_crm_resends_changed_attributes(lake: Path, tmp_path: Path, config: str) -> None:
    out = tmp_path / "out"
    export(lake, out, config, "crm_csv", as_of=DAY1, mode="incremental")
    _day2(lake)
    _, files = delivery(out, export(lake, out, config, "crm_csv", as_of=DAY2, mode="incremental"))
    header = "person_key,last_cart_time,cart_value,cart_currency,top_product_ids,top_categories\n"
    assert files == {
        "part-00001.csv.gz": header + "p_bob,,20.0000,USD,'+sku3,\np_carol,,,,,\n",
        "remove-00001.csv.gz": header + "p_alice,2026-02-28T10:00:00Z,49.9000,EUR,sku1|sku2,'=shoes\n",
    }


def test_unchanged_incremental_is_skipped(lake: Path, tmp_path: Path, config: str) -> None:
    out = tmp_path / "out"
    export(lake, out, config, "dsp_device_list", as_of=DAY1, mode="incremental")
    write_membership(lake, DAY2, SEGMENT, [{**p, "expires_at": p["expires_at"]} for p in day1_people()])
    # Same ids, same expiry dates, but the TTL from the new as_of is one day shorter: that is a change for a DSP.
    changed = export(lake, out, config, "dsp_device_list", as_of=DAY2, mode="incremental")
    assert changed["segments"][0]["adds"] == 4
    export(lake, out, config, "google_ads_customer_match", as_of=DAY1, mode="incremental")
    same = export(lake, out, config, "google_ads_customer_match", as_of=DAY2, mode="incremental")
    assert same["segments"][0]["status"] == "unchanged"
    assert same["unchanged"] == [SEGMENT]
    assert not (out / "google_ads_customer_match" / SEGMENT / "as_of=2026-03-02").exists()


def test_split_at_row_limit(lake: Path, tmp_path: Path) -> None:
    config = tmp_path / "split.yaml"
    config.write_text(
        "version: 1\nsegments:\n  cart_abandoners_7d:\n    google_ads_customer_match: {max_rows_per_file: 2}\n"
    )
    summary = export(lake, tmp_path / "out", str(config), "google_ads_customer_match", as_of=DAY1)
    manifest, files = delivery(tmp_path / "out", summary)
    assert files == {
        "part-00001.csv.gz": f"Email,Phone\n,{G_PHONE}\n{G_ALICE},\n",
        "part-00002.csv.gz": f"Email,Phone\n{BOB},\n",
    }
    assert [f["rows"] for f in manifest["files"]] == [2, 1]
    assert manifest["limits"]["max_rows_per_file"] == 2


def test_manifest_checksums_layout_and_latest(lake: Path, tmp_path: Path, config: str) -> None:
    out = tmp_path / "out"
    summary = export(lake, out, config, "meta_custom_audience", as_of=DAY1)
    seg = summary["segments"][0]
    assert seg["prefix"] == f"meta_custom_audience/{SEGMENT}/as_of=2026-03-01/{seg['delivery_id']}/"
    folder = out / seg["prefix"]
    manifest = json.loads((folder / "_manifest.json").read_text())
    assert sorted(p.name for p in folder.iterdir()) == ["_manifest.json", "part-00001.csv.gz"]
    for entry in manifest["files"]:
        data = (folder / entry["name"]).read_bytes()
        assert entry["bytes"] == len(data)
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert data[4:8] == b"\0\0\0\0"  # gzip MTIME field is zero
    latest = json.loads((out / "meta_custom_audience" / SEGMENT / "_latest.json").read_text())
    assert latest == {**manifest, "prefix": seg["prefix"]}
    assert not [p for p in out.rglob("*") if p.name.startswith(".tmp-")]


def test_rerun_is_a_noop_and_bytes_are_deterministic(lake: Path, tmp_path: Path, config: str) -> None:
    out = tmp_path / "out"
    first = export(lake, out, config, "crm_csv", as_of=DAY1)
    files_before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.rglob("*.csv.gz")}
    again = export(lake, out, config, "crm_csv", as_of=DAY1)
    assert again["segments"][0]["status"] == "already_delivered"
    assert again["segments"][0]["delivery_id"] == first["segments"][0]["delivery_id"]
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.rglob("*.csv.gz")} == files_before
    other = export(lake, tmp_path / "other", config, "crm_csv", as_of=DAY1)
    rel = first["segments"][0]["prefix"]
    assert (tmp_path / "other" / rel / "part-00001.csv.gz").read_bytes() == (
        out / rel / "part-00001.csv.gz"
    ).read_bytes()
    assert other["segments"][0]["delivery_id"] == first["segments"][0]["delivery_id"]


def test_no_raw_pii_and_never_holdout_or_suppressed(lake: Path, tmp_path: Path, config: str) -> None:
    out = tmp_path / "out"
    for destination in ("google_ads_customer_match", "meta_custom_audience", "dsp_device_list", "crm_csv"):
        export(lake, out, config, destination, as_of=DAY1)
    _day2(lake)
    for destination in ("google_ads_customer_match", "crm_csv"):
        export(lake, out, config, destination, as_of=DAY2, mode="incremental")
    blobs = [gzip.decompress(p.read_bytes()).decode() for p in out.rglob("*.gz") if p.name.endswith(".csv.gz")]
    blobs += [p.read_text() for p in out.rglob("*.json")]
    blobs += [gzip.decompress(p.read_bytes()).decode() for p in out.rglob("_state/**/*.json.gz")]
    text = "\n".join(blobs).lower()
    assert len(blobs) > 10
    for _, raw in RAW.values():
        assert raw.lower() not in text
    for needle in ["@", "2345678901 ", "+1 (234)", "p_hold", "p_sup", "c_h", "c_s", "ssss-0000"]:
        assert needle not in text, needle
    for raw_email in ["holdout.person@example.com", "suppressed.person@example.com"]:  # not even hashed
        assert hashlib.sha256(raw_email.encode()).hexdigest() not in text


def test_dry_run_writes_nothing(lake: Path, tmp_path: Path, config: str) -> None:
    summary = export(lake, tmp_path / "out", config, "google_ads_customer_match", dry_run=True)
    seg = summary["segments"][0]
    assert summary["as_of"] == "2026-03-01"  # newest built as_of by default
    assert seg["status"] == "dry_run" and seg["adds"] == 3 and seg["files"] == ["part-00001.csv.gz"]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*"))


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("version: 1\nsegments:\n  s1:\n    tiktok: {}\n", "segment 's1': field 'tiktok': unknown destination"),
        (
            "version: 1\nsegments:\n  s1:\n    crm_csv: {max_rows_per_file: 0}\n",
            "segment 's1': destination 'crm_csv': field 'max_rows_per_file': expected an integer >= 1",
        ),
        (
            "version: 1\nsegments:\n  s1:\n    dsp_device_list: {id_types: [email]}\n",
            "segment 's1': destination 'dsp_device_list': field 'id_types'",
        ),
        ("version: 1\nsegments:\n  s1:\n    crm_csv: {colour: red}\n", "field 'colour': unknown option"),
        ("version: 2\nsegments: {}\n", "field 'version': expected 1"),
    ],
)
def test_config_errors_name_file_segment_field(tmp_path: Path, lake: Path, yaml_text: str, message: str) -> None:
    from retarget_pipeline.export.destinations import ExportConfigError

    path = tmp_path / "bad.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ExportConfigError) as err:
        export(lake, tmp_path / "out", str(path), "crm_csv")
    assert str(path) in str(err.value) and message in str(err.value)


def test_repo_destinations_config_is_valid() -> None:
    from retarget_pipeline.export.destinations import load_destinations

    config = load_destinations()
    assert config["cart_abandoners"]["meta_custom_audience"].max_rows_per_file == 10_000


def test_export_cli(lake: Path, tmp_path: Path, config: str, capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from retarget_pipeline.export import cli

    parser = argparse.ArgumentParser(prog="retarget")
    cli.register(parser.add_subparsers(dest="command", required=True))
    argv = ["export", "--segments", str(lake / "segments"), "--destination", "crm_csv", "--to", str(tmp_path / "o")]
    args = parser.parse_args([*argv, "--as-of", "2026-03-01", "--segment", SEGMENT, "--config", config])
    assert args.func(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["segments"][0]["status"] == "delivered"
    assert (tmp_path / "o" / "crm_csv" / SEGMENT / "_latest.json").is_file()
    assert date.fromisoformat(summary["as_of"]) == DAY1


def test_manifests_match_the_json_schema(lake: Path, tmp_path: Path, config: str) -> None:
    import jsonschema

    from retarget_pipeline.contracts import schemas_dir

    schema = json.loads((schemas_dir() / "delivery_manifest.v1.schema.json").read_text())
    out = tmp_path / "out"
    export(lake, out, config, "dsp_device_list", as_of=DAY1, mode="incremental")
    _day2(lake)
    export(lake, out, config, "dsp_device_list", as_of=DAY2, mode="incremental")
    docs = [json.loads(p.read_text()) for p in out.rglob("*.json")]
    assert len(docs) == 3  # two manifests + _latest.json
    for doc in docs:
        jsonschema.validate(doc, schema, format_checker=jsonschema.FormatChecker())
    broken = {**docs[0], "status": "partial"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def test_s3_lake_and_delivery_root(lake: Path, tmp_path: Path, config: str, s3_bucket: str) -> None:
    from retarget_pipeline.storage import open_store

    store = open_store(s3_bucket)
    for path in lake.rglob("*"):
        if path.is_file():  # the whole lake: Parquet files and the segment build's manifest and pointer
            store.put_file(path, "lake/" + path.relative_to(lake).as_posix())
    run = dict(lake=f"{s3_bucket}/lake", destination="google_ads_customer_match", to=f"{s3_bucket}/out")
    first = run_export(**run, config_path=config, mode="incremental")  # type: ignore[arg-type]
    seg = first["segments"][0]
    assert seg["status"] == "delivered" and first["as_of"] == "2026-03-01"
    prefix = f"out/{seg['prefix']}"
    manifest = json.loads(store.get_bytes(prefix + "_manifest.json"))
    data = store.get_bytes(prefix + "part-00001.csv.gz")
    assert gzip.decompress(data).decode() == f"Email,Phone\n,{G_PHONE}\n{G_ALICE},\n{BOB},\n"
    assert manifest["files"][0]["sha256"] == hashlib.sha256(data).hexdigest()
    latest = json.loads(store.get_bytes(f"out/google_ads_customer_match/{SEGMENT}/_latest.json"))
    assert latest["delivery_id"] == seg["delivery_id"] and latest["prefix"] == seg["prefix"]
    assert store.exists(f"out/_state/google_ads_customer_match/{SEGMENT}/as_of=2026-03-01.json.gz")
    again = run_export(**run, config_path=config, mode="incremental")  # type: ignore[arg-type]
    assert again["segments"][0]["status"] == "already_delivered"


def test_explicit_segments_unconfigured_skipped_unbuilt_rejected(lake: Path, tmp_path: Path) -> None:
    from retarget_pipeline.export.inputs import ExportInputError

    config = tmp_path / "two.yaml"
    config.write_text("version: 1\nsegments:\n  cart_abandoners_7d:\n    crm_csv: {}\n  ghost:\n    crm_csv: {}\n")
    summary = export(lake, tmp_path / "out", str(config), "google_ads_customer_match", segments=[SEGMENT])
    assert summary["segments"] == []
    assert summary["skipped"] == [{"segment": SEGMENT, "reason": "not configured for this destination"}]
    with pytest.raises(ExportInputError, match="segment 'ghost': not in segment build"):
        export(lake, tmp_path / "out", str(config), "crm_csv", segments=["ghost"])
    # A typo is neither configured nor built: refused, where it used to be an export of nothing that exits 0.
    with pytest.raises(ExportInputError, match=r"unknown segment\(s\) \['nope'\]: not in the destinations config"):
        export(lake, tmp_path / "out", str(config), "crm_csv", segments=[SEGMENT, "nope"])
    everything = export(lake, tmp_path / "out", str(config), "crm_csv")
    assert [s["segment"] for s in everything["segments"]] == [SEGMENT]
    (ghost,) = everything["skipped"]
    assert ghost["segment"] == "ghost" and ghost["reason"].startswith("not in segment build ")
