"""The identity graph's rules, one home for every implementation of them: the segment engine (Spark,
:mod:`retarget_pipeline.segments.identity`), erasure (pyarrow, :mod:`retarget_pipeline.privacy.linked`) and the
benchmark's DuckDB reference. Erasure depends on all of them agreeing.

* Nodes are the id columns of lake events, tagged ``'<column>:<value>'``.
* Linking events link every pair of ids they carry: identify and purchase events, and every event of a user's
  pseudonymous device (``anonymous_id = 'user:<user_key>'``, given by ingest to events that carry only a user
  id), which belongs to that user by construction.
* Super-node guard: a node linked to more than ``max_linked_keys`` distinct ids of a guarded type links nothing.
"""

from __future__ import annotations

ID_COLUMNS = ("anonymous_id", "user_key", "email_key", "phone_key", "advertising_id")
LINKING_EVENTS = ("identify", "purchase")
GUARDED_TYPES = ("user_key", "email_key")
USER_DEVICE_PREFIX = "user:"  # anonymous_id of the events that carry only a user id: 'user:' + user_key
