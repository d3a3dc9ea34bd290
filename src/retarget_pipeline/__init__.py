"""retarget pipeline library."""

from retarget_pipeline.logs import install_log_scrubber

install_log_scrubber()  # every log record of a process that uses this package passes the PII scrubber
