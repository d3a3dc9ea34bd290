"""Airflow UI plugin: the "Audience downloads" page (FastAPI app mounted at /audiences, plus a nav entry).

Keys verified against the installed Airflow 3.3 (``airflow/plugins_manager.py`` collects ``fastapi_apps`` and
``external_views``; ``airflow/api_fastapi/app.py:init_plugins`` mounts each app at its ``url_prefix``;
``airflow/api_fastapi/core_api/datamodels/plugins.py:ExternalViewResponse`` lists name/href/url_route/
destination/category). With ``url_route`` set, the UI shows ``href`` in a frame at ``/plugin/audiences``.

Only the FastAPI app module is imported here: it loads Airflow's auth code lazily, per request.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from retarget_pipeline.download.web import app


class AudienceDownloadsPlugin(AirflowPlugin):
    name = "retarget_audience_downloads"
    fastapi_apps = [{"app": app, "url_prefix": "/audiences", "name": "Audience downloads"}]  # noqa: RUF012
    external_views = [  # noqa: RUF012
        {
            "name": "Audience downloads",
            "href": "audiences/",  # relative to the Airflow base URL (works behind a path prefix)
            "url_route": "audiences",
            "destination": "nav",
            "category": "browse",
        }
    ]
