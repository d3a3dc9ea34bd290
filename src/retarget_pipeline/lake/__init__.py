"""The lake: its layout (:mod:`.layout`: every table's and partition's key, in one place), Parquet files written
atomically (:mod:`.files`: :class:`~retarget_pipeline.lake.files.Lake`) and the segment builds' committed
snapshots (:mod:`.snapshots`). Every stage reaches the lake through these modules and the storage layer.
"""
