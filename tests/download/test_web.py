"""The Airflow plugin's FastAPI app: Airflow JWT auth, listing, chart, traversal rejection, verified downloads.

Tokens are minted by Airflow's own auth manager (SimpleAuthManager, the default) exactly as its login does,
and validated by the same ``get_user`` dependency the Airflow API server uses.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from audience_fixtures import airflow_token, csv_gz

from retarget_pipeline.storage import LocalStore, open_store

FILE = "files/meta_custom_audience/browsers/2026-03-02/full-dddd/part-00001.csv.gz"


@pytest.mark.parametrize("path", ["/audiences/", "/audiences/api/deliveries", f"/audiences/{FILE}"])
def test_anonymous_requests_are_refused(client: Any, path: str) -> None:
    assert client.get(path).status_code == 401
    assert client.get(path, headers={"Authorization": "Bearer not-a-jwt"}).status_code == 403


def test_user_without_a_role_is_forbidden(client: Any, auth_manager: Any) -> None:
    response = client.get("/audiences/", headers={"Authorization": f"Bearer {airflow_token(auth_manager, None)}"})
    assert response.status_code == 403


def test_page_lists_latest_deliveries_with_chart(client: Any, viewer: dict[str, str]) -> None:
    response = client.get("/audiences/", headers=viewer)
    assert response.status_code == 200
    page = response.text
    assert "incremental-bbbb" in page and "full-aaaa" not in page  # latest only in the table
    assert "full-eeee" not in page  # incomplete delivery never shown
    assert page.count("<svg") == 2  # one chart per segment: browsers, cart_abandoners
    assert "meta_custom_audience 2026-03-01: 3 rows" in page and "meta_custom_audience 2026-03-02: 3 rows" in page
    assert f'href="{FILE}"' in page
    assert "<script" not in page and "http" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_ui_cookie_login_works_for_json_listing(client: Any, auth_manager: Any) -> None:
    client.cookies.set("_token", airflow_token(auth_manager, "viewer"))
    response = client.get("/audiences/api/deliveries")
    assert response.status_code == 200
    listed = {(d["segment"], d["destination"]): (d["as_of"], d["rows"]) for d in response.json()}
    assert listed == {
        ("browsers", "meta_custom_audience"): ("2026-03-02", 5),
        ("cart_abandoners", "google_ads_customer_match"): ("2026-03-02", 4),
        ("cart_abandoners", "meta_custom_audience"): ("2026-03-02", 3),
    }


def test_download_streams_verified_file(client: Any, viewer: dict[str, str]) -> None:
    response = client.get(f"/audiences/{FILE}", headers=viewer)
    assert response.status_code == 200
    assert response.content == csv_gz(5)
    assert response.headers["x-checksum-sha256"] == hashlib.sha256(csv_gz(5)).hexdigest()
    disposition = response.headers["content-disposition"]
    assert 'filename="browsers.meta_custom_audience.2026-03-02.full-dddd.part-00001.csv.gz"' in disposition


def test_file_missing_on_disk_is_404_not_500(client: Any, viewer: dict[str, str], delivery_root: Path) -> None:
    (delivery_root / FILE.removeprefix("files/").replace("2026-03-02", "as_of=2026-03-02")).unlink()
    response = client.get(f"/audiences/{FILE}", headers=viewer)
    assert response.status_code == 404
    assert "part-00001.csv.gz is listed in this delivery's manifest but missing on disk" in response.text


def test_tampered_file_is_not_served(client: Any, viewer: dict[str, str], delivery_root: Path) -> None:
    LocalStore(delivery_root).put_bytes(
        csv_gz(6), FILE.removeprefix("files/").replace("2026-03-02", "as_of=2026-03-02")
    )
    response = client.get(f"/audiences/{FILE}", headers=viewer)
    assert response.status_code == 409 and "part-00001.csv.gz" in response.text


@pytest.mark.parametrize(
    ("path", "codes"),
    [
        ("files/meta_custom_audience/browsers/2026-03-02/full-dddd/..%2F..%2F..%2Fetc%2Fpasswd", {400, 404}),
        ("files/meta_custom_audience/browsers/2026-03-02/full-dddd/%2e%2e", {400}),
        ("files/meta_custom_audience/browsers/2026-03-02/full-dddd/_manifest.json", {404}),
        ("files/meta_custom_audience/..%2F..%2Fbrowsers/2026-03-02/full-dddd/part-00001.csv.gz", {400, 404}),
        ("files/meta_custom_audience/browsers/..%252F2026/full-dddd/part-00001.csv.gz", {400, 404}),
        ("files/%2Fetc/browsers/2026-03-02/full-dddd/part-00001.csv.gz", {400, 404}),
        ("files/meta_custom_audience/nosuchsegment/2026-03-02/full-dddd/part-00001.csv.gz", {404}),
        ("files/tiktok/browsers/2026-03-02/full-dddd/part-00001.csv.gz", {404}),
        ("files/meta_custom_audience/cart_abandoners/2026-03-03/full-eeee/part-00001.csv.gz", {404}),  # incomplete
    ],
)
def test_traversal_and_unknown_paths_are_rejected(
    client: Any, viewer: dict[str, str], path: str, codes: set[int]
) -> None:
    response = client.get(f"/audiences/{path}", headers=viewer)
    assert response.status_code in codes
    assert b"root:" not in response.content


def test_s3_root_redirects_to_presigned_url(
    client: Any, viewer: dict[str, str], s3_bucket: str, delivery_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, local = open_store(s3_bucket), LocalStore(delivery_root)
    for info in local.list("meta_custom_audience/browsers/"):
        store.put_bytes(local.get_bytes(info.key), info.key)
    monkeypatch.setenv("RETARGET_DELIVERY_ROOT", s3_bucket)
    response = client.get(f"/audiences/{FILE}", headers=viewer, follow_redirects=False)
    assert response.status_code == 307
    assert "X-Amz-Signature=" in response.headers["location"] and "X-Amz-Expires=900" in response.headers["location"]


def test_plugin_is_registered_with_airflow() -> None:
    from airflow import plugins_manager

    apps, _ = plugins_manager.get_fastapi_plugins()
    assert [a["url_prefix"] for a in apps if a["name"] == "Audience downloads"] == ["/audiences"]
    (plugin,) = [p for p in plugins_manager._get_plugins()[0] if p.name == "retarget_audience_downloads"]
    assert [v["url_route"] for v in plugin.external_views] == ["audiences"]
    assert not [path for path in plugins_manager.get_import_errors() if "audience_downloads" in path]


def test_app_module_imports_nothing_heavy() -> None:
    code = (
        "import sys, retarget_pipeline.download.web; "
        "heavy = ('airflow', 'boto3', 'botocore', 'pyspark', 'great_expectations'); "
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_browser_without_login_is_sent_to_airflow_login(client: Any) -> None:
    reply = client.get("/audiences/", headers={"Accept": "text/html,application/xhtml+xml"}, follow_redirects=False)
    assert reply.status_code == 303 and reply.headers["location"] == "/auth/login?next=%2Faudiences%2F"
    files = client.get(f"/audiences/{FILE}", headers={"Accept": "text/html"}, follow_redirects=False)
    assert files.status_code == 401  # only the page redirects; files and the API answer 401
