"""Quality gate stage: GX expectation suites (``schemas/quality/``) run on events and audiences.

Import the API from :mod:`retarget_pipeline.quality.gates` (this package stays light: no GX import here)."""
