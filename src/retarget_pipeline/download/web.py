"""FastAPI app behind the Airflow UI plugin (``plugins/audience_downloads.py``), mounted at ``/audiences``.

Routes (every one needs an Airflow login, see :func:`require_user`; a browser that is not logged in is sent from
the page to Airflow's login page and back):

- ``GET /``: per segment its newest as-of: the funnel (qualified, holdout, suppressed by reason, exportable, rows
  per destination), the quality gate's result, the deliveries with their files and manifests, what was not
  delivered and why, the holdout lift, and rows delivered over every as-of (:mod:`retarget_pipeline.download.page`)
- ``GET /api/deliveries``: the newest delivery per segment and destination as JSON
- ``GET|HEAD /files/{destination}/{segment}/{as_of}/{delivery_id}/{name}``: one file. Local roots stream it after
  checking its SHA-256 against the manifest; S3 roots redirect to a short-lived presigned URL. Audience files
  hold personal data under erasure: ``Cache-Control: private, no-store`` (no browser or proxy keeps a copy).
- ``GET /manifests/{destination}/{segment}/{as_of}/{delivery_id}``: the delivery's manifest (JSON)
- ``GET /quality-docs/{path}``: the lake's GX Data Docs site, served from its local folder. Its pages load
  Bootstrap, jQuery and fonts from CDNs; those tags are replaced by one local stylesheet, so the site renders
  offline and inside the UI frame.

Plugin routes are not covered by Airflow's own login, so authentication reuses Airflow's dependency
``airflow.api_fastapi.core_api.security.get_user`` (a JWT from ``Authorization: Bearer`` or the UI's ``_token``
cookie, validated by the configured auth manager), then asks the auth manager whether the user may use the
custom view ``Audience downloads``. Airflow is imported only when a request arrives, never at plugin import.
"""

from __future__ import annotations

import hashlib
import re
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from retarget_pipeline.download.catalog import Delivery, DeliveryCatalog, DeliveryError, DeliveryFile, is_safe_name
from retarget_pipeline.download.cli import default_root
from retarget_pipeline.download.fetch import delivery_folder
from retarget_pipeline.download.overview import build_overview
from retarget_pipeline.download.page import file_path, render
from retarget_pipeline.orchestration.locations import lake_root
from retarget_pipeline.quality.locations import data_docs_dir
from retarget_pipeline.storage import ObjectNotFoundError, open_store

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


async def page_user(request: Request, bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Any:
    """Like :func:`require_user`, but a browser that is not logged in (no token, asks for HTML) gets ``None``:
    the page then sends it to Airflow's login, which comes back here."""
    try:
        return await require_user(request, bearer)
    except HTTPException as exc:
        if exc.status_code == status.HTTP_401_UNAUTHORIZED and "text/html" in request.headers.get("accept", ""):
            return None
        raise


def login_redirect(request: Request) -> RedirectResponse:
    from airflow.api_fastapi.app import get_auth_manager

    here = f"{request.scope.get('root_path', '').rstrip('/')}/"
    return RedirectResponse(get_auth_manager().get_url_login(next_url=here), status.HTTP_303_SEE_OTHER)


def _catalog() -> DeliveryCatalog:
    return DeliveryCatalog(open_store(default_root()))


def _file_url(request: Request, d: Delivery, name: str) -> str:
    return f"{request.scope.get('root_path', '').rstrip('/')}/{file_path(d, name)}"


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


NO_STORE = {"Cache-Control": "private, no-store"}
_CDN_TAG = re.compile(
    r"<(?:link[^>]*href|script[^>]*src|img[^>]*src)=\"https?://[^\"]*\"[^>]*>(?:\s*</script>)?", re.IGNORECASE
)


def offline_docs_page(html: str, depth: int) -> str:
    """A Data Docs page without its CDN tags (stylesheets, scripts, remote images), with the site's own stylesheet
    and ours linked instead (``depth``: folders between the page and the site root)."""
    up = "../" * depth
    local = f'<link rel="stylesheet" href="{up}static/styles/data_docs_default_styles.css"><style>{DOCS_STYLE}</style>'
    stripped = _CDN_TAG.sub("", html)
    return stripped.replace("</head>", local + "</head>", 1) if "</head>" in stripped else local + stripped


DOCS_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:1em;color:#222}table{border-collapse:collapse;margin:.5em 0}"
    "td,th{border:1px solid #ddd;padding:3px 8px;vertical-align:top}th{background:#f5f5f5}"
    ".navbar,.d-none,.modal,.dropdown-menu{display:none}.card{border:1px solid #ddd;border-radius:4px;margin:.6em 0;"
    "padding:.5em}.badge-success,.text-success{color:#1a7f37}.badge-danger,.text-danger{color:#cf222e}"
    "ul.nav{list-style:none;padding:0}a{color:#0969da}"
)


def _delivery(destination: str, segment: str, as_of: str, delivery_id: str) -> tuple[Any, Delivery]:
    """(store, the complete delivery) named by a URL, else 400 (malformed) or 404 (none complete)."""
    if not all(is_safe_name(v) for v in (destination, segment, delivery_id)) or not _DATE.match(as_of):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "invalid path")
    catalog = _catalog()
    try:
        return catalog.store, catalog.read_manifest(f"{destination}/{segment}/as_of={as_of}/{delivery_id}/")
    except (ObjectNotFoundError, DeliveryError):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such complete delivery") from None


def _lookup(
    destination: str, segment: str, as_of: str, delivery_id: str, name: str
) -> tuple[Any, Delivery, DeliveryFile]:
    if not is_safe_name(name):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "invalid path")
    store, delivery = _delivery(destination, segment, as_of, delivery_id)
    entry = next((f for f in delivery.files if f.name == name), None)
    if entry is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such file in this delivery")
    return store, delivery, entry


def create_app() -> FastAPI:
    app = FastAPI(title="Audience downloads", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/", response_class=HTMLResponse, response_model=None)
    def index(request: Request, user: Annotated[Any, Depends(page_user)]) -> HTMLResponse | RedirectResponse:
        if user is None:
            return login_redirect(request)
        catalog = _catalog()
        everything = catalog.deliveries()
        lake = lake_root()
        overview = build_overview(everything, catalog.store, open_store(lake))
        return HTMLResponse(render(overview, everything, catalog.store.uri, lake), headers=NO_STORE)

    @app.get("/api/deliveries")
    def deliveries(request: Request, user: User) -> list[dict[str, Any]]:
        return [_summary(request, d) for d in _catalog().latest_per_audience()]

    @app.get("/manifests/{destination}/{segment}/{as_of}/{delivery_id}")
    def manifest(destination: str, segment: str, as_of: str, delivery_id: str, user: User) -> JSONResponse:
        _, delivery = _delivery(destination, segment, as_of, delivery_id)
        return JSONResponse(delivery.manifest, headers=NO_STORE)

    @app.get("/quality-docs/{path:path}", response_model=None)
    def quality_docs(path: str, user: User) -> FileResponse | HTMLResponse:
        root = data_docs_dir(lake_root()).resolve()
        target = (root / (path or "index.html")).resolve()
        if not target.is_relative_to(root) or not target.is_file():
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such Data Docs page (has a quality gate run yet?)")
        if target.suffix == ".html":
            depth = len(target.relative_to(root).parts) - 1
            html = offline_docs_page(target.read_text(encoding="utf-8", errors="replace"), depth)
            return HTMLResponse(html, headers=NO_STORE)
        return FileResponse(target, headers=NO_STORE)

    @app.api_route(
        "/files/{destination}/{segment}/{as_of}/{delivery_id}/{name}", methods=["GET", "HEAD"], response_model=None
    )
    def download(
        destination: str, segment: str, as_of: str, delivery_id: str, name: str, user: User
    ) -> FileResponse | RedirectResponse:
        store, delivery, entry = _lookup(destination, segment, as_of, delivery_id, name)
        key = delivery.prefix + entry.name
        path = store.local_path(key)
        if path is None:  # S3: the browser fetches straight from the bucket with a short-lived URL
            url = store.presign(key, PRESIGN_SECONDS)
            return RedirectResponse(url, status.HTTP_307_TEMPORARY_REDIRECT, headers=NO_STORE)
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
            headers={"X-Checksum-SHA256": entry.sha256, "ETag": f'"{entry.sha256}"', **NO_STORE},
        )

    return app


app = create_app()
