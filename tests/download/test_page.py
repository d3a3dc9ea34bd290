"""The downloads page as the marketer's home: funnel, gate, not-delivered reasons, lift, trends, manifests,
Data Docs served offline, and the download headers (HEAD, Cache-Control, ETag).

Counts are hand-made in the fixtures below; every expected figure is written out next to its source.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from audience_fixtures import csv_gz, write_delivery

from retarget_pipeline.download.chart import PALETTE, colour_map
from retarget_pipeline.download.web import offline_docs_page
from retarget_pipeline.storage import LocalStore


def _section(page: str, segment: str) -> str:
    match = re.search(rf'<section class="segment" id="segment-{segment}".*?</section>', page, re.S)
    assert match, f"no card for {segment}"
    return match.group(0)


def _steps(section: str) -> list[tuple[str, int]]:
    found = re.findall(r'data-step="([^"]+)">.*?<td class="num">([\d,]+)</td>', section, re.S)
    return [(label, int(count.replace(",", ""))) for label, count in found]


def test_funnel_gate_skips_and_lift_per_segment(client: Any, viewer: dict[str, str], marketer_tree: Any) -> None:
    response = client.get("/audiences/", headers=viewer)
    assert response.status_code == 200 and response.headers["cache-control"] == "private, no-store"
    page = response.text
    cart = _section(page, "cart_abandoners")
    assert _steps(cart) == [
        ("qualified", 10),
        ("holdout", 2),
        ("suppressed", 3),
        ("consent denied", 1),
        ("frequency capped", 2),
        ("exportable", 6),
        ("google_ads_customer_match", 4),  # rows sent, destinations by name
        ("meta_custom_audience", 3),
    ]
    # the lake's gate record (failed) wins over the run report (passed), and its finding is listed
    assert 'data-gate="failed"' in cart and "quality gate FAILED" in cart
    assert "membership: person_key_format (person_key)" in page
    assert 'href="quality-docs/index.html"' in page
    assert "targeted 30/200 converted (15.00%), held out 10/100 (10.00%); absolute lift 5.00%" in cart
    assert "[95% CI -3.00% to 12.00%], p = 0.23" in cart
    assert 'href="manifests/meta_custom_audience/cart_abandoners/2026-03-02/incremental-bbbb"' in cart
    # a segment nobody received still gets a card saying why; the dry run's report is not read
    lapsed = _section(page, "lapsed_customers")
    assert "<b>crm_csv</b>: no members in build B" in lapsed
    browsers = _section(page, "browsers")
    assert "unchanged since the previous delivery" in browsers
    assert "Not delivered" not in cart  # already delivered by an earlier run of the build: not a skip
    assert "<b>google_ads_customer_match</b>: held: reach 5 &lt; 100" in browsers  # held below the minimum
    assert "rows sent (incremental delivery incremental-bbbb); reach 3 persons with a key (minimum 100)" in cart
    assert 'id="segment-dry"' not in page
    # overlap heat map of the newest as-of: share of the row segment also in the column segment
    assert re.search(r'data-pair="browsers\|cart_abandoners" title="3 of 5 browsers persons[^"]*"[^>]*>60%<', page)
    assert re.search(r'data-pair="cart_abandoners\|browsers" title="3 of 6 cart_abandoners[^"]*"[^>]*>50%<', page)
    # the lift table: both arms, the lift and its 95% interval as a bar (zero line at x=100 of 200)
    lift_row = re.search(r'<tr data-segment="cart_abandoners" data-status="ok">.*?</tr>', page, re.S)
    assert lift_row and "30/200 (15.00%)" in lift_row.group(0) and "10/100 (10.00%)" in lift_row.group(0)
    assert 'aria-label="95% interval -3.00% to 12.00%"' in lift_row.group(0)


def test_one_colour_per_destination_on_every_chart(client: Any, viewer: dict[str, str]) -> None:
    page = client.get("/audiences/", headers=viewer).text
    colours = colour_map(["google_ads_customer_match", "meta_custom_audience"])
    assert colours == {"google_ads_customer_match": PALETTE[0], "meta_custom_audience": PALETTE[1]}
    for segment in ("browsers", "cart_abandoners"):
        section = _section(page, segment)
        # legend: full names in HTML (never clipped), with the destination's colour
        assert f'background:{PALETTE[1]}"></span>meta_custom_audience</li>' in section
        assert f'<polyline fill="none" stroke="{PALETTE[1]}"' in section
    assert f'stroke="{PALETTE[0]}"' not in _section(page, "browsers")  # browsers went to meta only


def test_manifest_route_and_incomplete_delivery(client: Any, viewer: dict[str, str]) -> None:
    reply = client.get("/audiences/manifests/meta_custom_audience/browsers/2026-03-02/full-dddd", headers=viewer)
    assert reply.status_code == 200 and reply.json()["row_counts"]["total"] == 5
    missing = client.get(
        "/audiences/manifests/meta_custom_audience/cart_abandoners/2026-03-03/full-eeee", headers=viewer
    )
    assert missing.status_code == 404  # written without a manifest: incomplete, never listed
    assert client.get(
        "/audiences/manifests/meta_custom_audience/browsers/2026-03-02/..", headers=viewer
    ).status_code in {400, 404}


def test_head_and_cache_headers_on_downloads(client: Any, viewer: dict[str, str]) -> None:
    path = "/audiences/files/meta_custom_audience/browsers/2026-03-02/full-dddd/part-00001.csv.gz"
    digest = hashlib.sha256(csv_gz(5)).hexdigest()
    head = client.head(path, headers=viewer)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(csv_gz(5)))
    assert head.headers["etag"] == f'"{digest}"' and head.headers["x-checksum-sha256"] == digest
    assert head.headers["cache-control"] == "private, no-store"  # personal data under erasure: no cached copies
    assert client.head(path).status_code == 401


def test_data_docs_served_offline(client: Any, viewer: dict[str, str], lake_root: Path) -> None:
    docs = lake_root / "_quality" / "data_docs"
    (docs / "validations" / "a").mkdir(parents=True)
    (docs / "index.html").write_text(
        '<html><head><link href="https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css" '
        'rel="stylesheet"><script src="https://code.jquery.com/jquery-3.7.1.min.js"></script></head>'
        '<body><img src="https://great-expectations-web-assets.s3.amazonaws.com/logo.png"><p>Suites</p></body></html>'
    )
    (docs / "validations" / "a" / "run.html").write_text("<html><head></head><body>run</body></html>")
    page = client.get("/audiences/quality-docs/index.html", headers=viewer)
    assert page.status_code == 200 and "<p>Suites</p>" in page.text
    assert "https://" not in page.text and "<script" not in page.text
    assert 'href="static/styles/data_docs_default_styles.css"' in page.text
    nested = client.get("/audiences/quality-docs/validations/a/run.html", headers=viewer).text
    assert 'href="../../static/styles/data_docs_default_styles.css"' in nested
    for bad in ("..%2F..%2Fdeliveries%2F_runs", "../../etc/passwd", "nope.html"):
        assert client.get(f"/audiences/quality-docs/{bad}", headers=viewer).status_code == 404


def test_offline_docs_page_keeps_content_without_a_head() -> None:
    html = offline_docs_page('<p>x</p><script src="http://cdn.example/x.js"></script>', 0)
    assert "<p>x</p>" in html and "cdn.example" not in html and "data_docs_default_styles.css" in html


def test_page_without_reports_says_what_is_unknown(client: Any, viewer: dict[str, str], delivery_root: Path) -> None:
    write_delivery(LocalStore(delivery_root), "crm_csv", "browsers", "2026-03-02", "full-ffff", {"p.csv.gz": csv_gz(1)})
    page = client.get("/audiences/", headers=viewer).text
    assert "no export run reports found" in page
    assert 'data-gate="unknown"' in _section(page, "browsers")
