"""FastAPI app behind the Airflow UI plugin (``plugins/audience_downloads.py``), mounted at ``/audiences``.

Routes (every one needs an Airflow login, see :func:`require_user`):

- ``GET /``: latest delivery per segment and destination (rows, size, files) and an SVG chart of size over time
- ``GET /api/deliveries``: the same as JSON
- ``GET /files/{destination}/{segment}/{as_of}/{delivery_id}/{name}``: one file. Local roots stream it after
  checking its SHA-256 against the manifest; S3 roots redirect to a short-lived presigned URL.

Plugin routes are not covered by Airflow's own login, so authentication reuses Airflow's dependency
``airflow.api_fastapi.core_api.security.get_user`` (a JWT from ``Authorization: Bearer`` or the UI's ``_token``
cookie, validated by the configured auth manager), then asks the auth manager whether the user may use the
custom view ``Audience downloads``. Airflow is imported only when a request arrives, never at plugin import.
"""

from __future__ import annotations

import hashlib
import re
from html import escape
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from retarget_pipeline.download.catalog import Delivery, DeliveryCatalog, DeliveryFile, is_safe_name
from retarget_pipeline.download.chart import size_chart_svg, size_series
from retarget_pipeline.download.cli import default_root, human_size
from retarget_pipeline.download.fetch import delivery_folder
from retarget_pipeline.storage import open_store

RESOURCE_NAME = "Audience downloads"
PRESIGN_SECONDS = 900
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_bearer = HTTPBearer(auto_error=False)


async def require_user(
    request: Request, bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Any:
    """The logged-in Airflow user, else 401 (no/expired token) or 403 (invalid token or not authorised)."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.core_api.security import get_user

    user = await get_user(request=request, _oauth_token=None, bearer_credentials=bearer)
    if not get_auth_manager().is_authorized_custom_view(method="GET", resource_name=RESOURCE_NAME, user=user):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"not authorised for {RESOURCE_NAME}")
    return user


User = Annotated[Any, Depends(require_user)]


def _catalog() -> DeliveryCatalog:
    return DeliveryCatalog(open_store(default_root()))


def _file_path(d: Delivery, name: str) -> str:
    """Relative to the app's root (the page links relatively, so a proxy's path prefix is kept)."""
    return f"files/{d.destination}/{d.segment}/{d.as_of}/{d.delivery_id}/{name}"


def _file_url(request: Request, d: Delivery, name: str) -> str:
    return f"{request.scope.get('root_path', '').rstrip('/')}/{_file_path(d, name)}"


def _summary(request: Request, d: Delivery) -> dict[str, Any]:
    return {
        "segment": d.segment,
        "destination": d.destination,
        "platform": d.platform,
        "as_of": d.as_of,
        "mode": d.mode,
        "delivery_id": d.delivery_id,
        "rows": d.rows,
        "bytes": d.size,
        "files": [
            {"name": f.name, "rows": f.rows, "bytes": f.bytes, "sha256": f.sha256, "url": _file_url(request, d, f.name)}
            for f in d.files
        ],
    }


def _page(request: Request, latest: list[Delivery], everything: list[Delivery], root_uri: str) -> str:
    rows = []
    for d in sorted(latest, key=lambda d: (d.segment, d.destination)):
        links = " ".join(f'<a href="{escape(_file_path(d, f.name))}">{escape(f.name)}</a>' for f in d.files)
        cells = (d.segment, d.destination, d.as_of, d.mode, f"{d.rows:,}", human_size(d.size), d.delivery_id)
        rows.append("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in cells) + f"<td>{links}</td></tr>")
    charts = [
        size_chart_svg(f"{segment}: rows per delivery", size_series(everything, segment))
        for segment in sorted({d.segment for d in everything})
    ]
    header = "".join(
        f"<th>{h}</th>" for h in ("Segment", "Destination", "As of", "Mode", "Rows", "Size", "Delivery", "Files")
    )
    table = f"<table><thead><tr>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    empty = f"<p>No complete deliveries under {escape(root_uri)}.</p>" if not latest else ""
    style = (
        "body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}th{background:#f3f3f3}"
    )
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>Audience downloads</title>'
        f"<style>{style}</style></head><body><h1>Audience downloads</h1>"
        f"<p>Latest complete delivery per segment and destination. Files are checked against the manifest's "
        f"SHA-256 before they are served.</p>{table}{empty}<h2>Audience size over time</h2>"
        f"{''.join(charts)}</body></html>"
    )


def _lookup(
    destination: str, segment: str, as_of: str, delivery_id: str, name: str
) -> tuple[Any, Delivery, DeliveryFile]:
    if not all(is_safe_name(v) for v in (destination, segment, delivery_id, name)) or not _DATE.match(as_of):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "invalid path")
    catalog = _catalog()
    matches = [
        d
        for d in catalog.deliveries(segment=segment, destination=destination)
        if d.as_of == as_of and d.delivery_id == delivery_id
    ]
    if not matches:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such complete delivery")
    entry = next((f for f in matches[0].files if f.name == name), None)
    if entry is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such file in this delivery")
    return catalog.store, matches[0], entry


def create_app() -> FastAPI:
    app = FastAPI(title="Audience downloads", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/", response_class=HTMLResponse)
    def index(request: Request, user: User) -> HTMLResponse:
        catalog = _catalog()
        everything = catalog.deliveries()
        return HTMLResponse(_page(request, catalog.latest_per_audience(), everything, catalog.store.uri))

    @app.get("/api/deliveries")
    def deliveries(request: Request, user: User) -> list[dict[str, Any]]:
        return [_summary(request, d) for d in _catalog().latest_per_audience()]

    @app.get("/files/{destination}/{segment}/{as_of}/{delivery_id}/{name}", response_model=None)
    def download(
        destination: str, segment: str, as_of: str, delivery_id: str, name: str, user: User
    ) -> FileResponse | RedirectResponse:
        store, delivery, entry = _lookup(destination, segment, as_of, delivery_id, name)
        key = delivery.prefix + entry.name
        path = store.local_path(key)
        if path is None:  # S3: the browser fetches straight from the bucket with a short-lived URL
            return RedirectResponse(store.presign(key, PRESIGN_SECONDS), status.HTTP_307_TEMPORARY_REDIRECT)
        digest = hashlib.sha256()
        try:
            with path.open("rb") as handle:
                for block in iter(lambda: handle.read(1024 * 1024), b""):
                    digest.update(block)
        except FileNotFoundError:  # listed by a complete manifest, gone from disk (removed by hand, or erased)
            raise HTTPException(
                status.HTTP_404_NOT_FOUND, f"{entry.name} is listed in this delivery's manifest but missing on disk"
            ) from None
        if digest.hexdigest() != entry.sha256:
            raise HTTPException(status.HTTP_409_CONFLICT, f"{entry.name} does not match its manifest checksum")
        return FileResponse(
            path,
            media_type="application/gzip" if name.endswith(".gz") else "application/octet-stream",
            filename=f"{delivery_folder(delivery)}.{entry.name}",  # says which audience, never a bare part file
            headers={"X-Checksum-SHA256": entry.sha256},
        )

    return app


app = create_app()
