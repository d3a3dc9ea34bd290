"""Download stage: list, fetch (SHA-256 verified) and share complete audience deliveries.

``catalog`` reads the delivery tree written by the export stage, ``fetch`` downloads or presigns one delivery,
``cli`` is ``retarget audiences ...``, ``web`` the FastAPI app behind the Airflow UI plugin.
"""
