"""Measurement: does retargeting pay? Holdout lift per segment (:mod:`.lift`) and its estimators (:mod:`.stats`)."""
