"""Ingest stage: landing files -> validated, pseudonymised, deduplicated lake events."""
