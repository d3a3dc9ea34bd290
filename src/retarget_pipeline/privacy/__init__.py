"""Privacy stage: erasure (GDPR art. 17 / CCPA deletion), end to end.

``retarget erase`` (:mod:`.erase`) records a pseudonymised request under ``<lake>/_erasure/``;
``retarget erase-apply`` / the ``privacy_erasure`` DAG (:mod:`.apply`) expands it to the stitched person
(:mod:`.linked`), deletes the person from the lake (:mod:`.scrub`) and the delivery root (:mod:`.deliveries`)
and writes an audit record. From then on the segment build (which reads ``_erasure/``) and the ingest
(:mod:`.ingest_filter`, ledger count ``erased``) keep the person out. Raw landing files keep the person's lines
until landing retention (:mod:`.retention`, ``retarget landing purge``, the ``landing_retention`` DAG) deletes
them.
"""
