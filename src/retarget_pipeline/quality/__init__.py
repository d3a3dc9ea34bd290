"""Quality gate stage: GX expectation suites (``schemas/quality/``) run on events and audiences.

Import the API from :mod:`retarget_pipeline.quality.gates` (this package stays light: no GX import here). Importing
it caps great-expectations' logger at WARNING first: GX logs ~200 "Skipping registering function" lines at INFO
on import, which would otherwise fill every gate task's log.
"""

from retarget_pipeline.logs import quiet_libraries

quiet_libraries()
