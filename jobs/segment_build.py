"""spark-submit entry: ``spark-submit jobs/segment_build.py --lake DIR --as-of YYYY-MM-DD --out DIR``."""

from __future__ import annotations

import sys

from retarget_pipeline.segments.job import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
