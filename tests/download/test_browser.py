"""The downloads page in a real browser: Debian's chromium driven by Playwright (``executable_path``, no browser
download) against a real Airflow API server on loopback with this project's plugin.

Logs in through Airflow's own login page, opens ``/audiences/``, checks the funnel, the gate status, the charts
and the legends render, downloads a file by clicking its link and checks its SHA-256 against the manifest, opens
the page inside the Airflow UI's frame and the Data Docs link, and checks the browser asked nothing of any host
but the API server. Screenshots go to ``$RETARGET_TEST_OUTPUT/downloads_page/`` (default
``<repo>/.test-output/``). Skips, saying why, when no chromium or Playwright is installed (``.ci/run`` installs
Debian's chromium as root).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from retarget_pipeline.config import project_root
from retarget_pipeline.orchestration import deployment

CHROMIUM_ARGS = [  # as root in a sandbox, on a closed network: no sandbox, no GPU, no background connections
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
FILE = "files/meta_custom_audience/cart_abandoners/2026-03-02/incremental-bbbb/part-00001.csv.gz"


def chromium_path() -> str:
    found = os.environ.get("RETARGET_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.skip("no chromium on this machine (Debian: apt-get install chromium; .ci/run installs it as root)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("playwright (Python) is not installed: make install")
    return found


@pytest.fixture
def screenshots() -> Path:
    folder = Path(os.environ.get("RETARGET_TEST_OUTPUT") or project_root() / ".test-output") / "downloads_page"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def api_server(
    tmp_path: Path, delivery_root: Path, lake_root: Path, marketer_tree: Any
) -> Iterator[tuple[deployment.Deployment, str]]:
    docs = lake_root / "_quality" / "data_docs"
    (docs / "static" / "styles").mkdir(parents=True)
    (docs / "static" / "styles" / "data_docs_default_styles.css").write_text("h1{letter-spacing:3px}")
    (docs / "index.html").write_text(
        '<html><head><link href="https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css" '
        'rel="stylesheet"></head><body><h1>Data Docs</h1><p>audiences.membership</p></body></html>'
    )
    home = tmp_path / "airflow"
    port = deployment.free_port()
    deployment.write_airflow_cfg(home, port=port)
    password = deployment.admin_password(home)
    env = deployment.component_env(
        home, {"RETARGET_DELIVERY_ROOT": str(delivery_root), "RETARGET_LAKE": str(lake_root)}
    )
    deployment.migrate(home, env)
    server = deployment.Deployment(home, port)
    server.start(env, ("api-server",))
    try:
        server.wait_until_up(timeout=180)
        yield server, password
    finally:
        server.stop()


def test_downloads_page_in_chromium(
    api_server: tuple[deployment.Deployment, str], delivery_root: Path, screenshots: Path
) -> None:
    executable = chromium_path()
    from playwright.sync_api import sync_playwright

    server, password = api_server
    base = server.base_url
    requested: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
            context.on("request", lambda r: requested.append(r.url))
            page = context.new_page()

            # not logged in: the page sends the browser to Airflow's login, which comes back to the page
            page.goto(f"{base}/audiences/")
            page.wait_for_url("**/auth/login**")
            page.fill("input[name=username]", deployment.ADMIN_USER)
            page.fill("input[name=password]", password)
            page.click("button[type=submit]")
            page.wait_for_url(f"{base}/audiences/", timeout=60_000)
            assert page.title() == "Audience downloads"

            cart = page.locator("#segment-cart_abandoners")
            steps = cart.locator("table.funnel tr")
            assert steps.evaluate_all("rows => rows.map(r => r.dataset.step)") == [
                "qualified",
                "holdout",
                "suppressed",
                "consent denied",
                "frequency capped",
                "exportable",
                "google_ads_customer_match",
                "meta_custom_audience",
            ]
            assert cart.locator("table.funnel td.num").all_inner_texts() == ["10", "2", "3", "1", "2", "6", "4", "3"]
            # the bars are drawn: qualified (10) is the widest, exportable (6) is 60% of it
            widths = cart.locator("table.funnel .fill").evaluate_all("els => els.map(e => e.offsetWidth)")
            assert widths[0] > 0 and abs(widths[5] / widths[0] - 0.6) < 0.02
            badge = cart.locator("[data-gate]")
            assert badge.inner_text() == "quality gate FAILED" and badge.is_visible()
            assert page.locator("#segment-lapsed_customers").inner_text().count("no members in build B") == 1
            assert cart.locator("svg polyline").count() == 2 and cart.locator("svg").first.is_visible()
            legend = cart.locator("ul.legend li").all_inner_texts()
            assert legend == ["google_ads_customer_match", "meta_custom_audience"]  # full names, not clipped
            box = cart.locator("ul.legend").bounding_box()
            assert box is not None and box["width"] > 0
            page.screenshot(path=str(screenshots / "page.png"), full_page=True)

            # a download by clicking its link, checked against the manifest's SHA-256
            with page.expect_download() as info:
                cart.locator(f'a[href="{FILE}"]').click()
            download = info.value
            saved = screenshots / download.suggested_filename
            download.save_as(saved)
            manifest = json.loads(
                (
                    delivery_root
                    / "meta_custom_audience/cart_abandoners/as_of=2026-03-02/incremental-bbbb/_manifest.json"
                ).read_text()
            )
            (entry,) = [f for f in manifest["files"] if f["name"] == "part-00001.csv.gz"]
            assert hashlib.sha256(saved.read_bytes()).hexdigest() == entry["sha256"]
            assert download.suggested_filename == (
                "cart_abandoners.meta_custom_audience.2026-03-02.incremental-bbbb.part-00001.csv.gz"
            )
            saved.unlink()  # personal data (hashed identifiers) is not left in the test output

            # the manifest and the Data Docs links work; the docs render without their CDN assets
            page.click('#segment-cart_abandoners a[href$="incremental-bbbb"]')
            assert json.loads(page.inner_text("body"))["delivery_id"] == "incremental-bbbb"
            page.goto(f"{base}/audiences/")
            page.click('a[href="quality-docs/index.html"]')
            assert page.inner_text("h1") == "Data Docs"
            assert (
                page.evaluate("getComputedStyle(document.querySelector('h1')).letterSpacing") == "3px"
            )  # served locally
            page.screenshot(path=str(screenshots / "data_docs.png"))

            # inside the Airflow UI: the nav entry's frame shows the page
            page.goto(f"{base}/plugin/audiences")
            frame = page.frame_locator("iframe")
            frame.locator("h1", has_text="Audience downloads").wait_for(timeout=60_000)
            page.screenshot(path=str(screenshots / "in_airflow_ui.png"))
        finally:
            browser.close()
    elsewhere = sorted({u for u in requested if not u.startswith(base) and not u.startswith(("data:", "blob:"))})
    assert elsewhere == []  # nothing from a CDN or any other host: works offline
