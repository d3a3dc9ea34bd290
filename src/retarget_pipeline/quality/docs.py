"""The GX context of this process, the local Data Docs site, and running one table's expectations.

One ephemeral context per process (GX is slow to initialise): datasources ``spark`` (row-level checks on the
real Spark DataFrames, nothing collected to the driver) and ``pandas`` (small aggregated history tables).
Each table of a suite is one GX suite + validation definition + checkpoint, because a checkpoint run takes one
set of batch parameters (one DataFrame). Every run updates the Data Docs site under the lake.
"""

from __future__ import annotations

import hashlib
import logging
from functools import cache
from pathlib import Path
from typing import Any

import great_expectations as gx
from great_expectations.checkpoint.actions import UpdateDataDocsAction
from great_expectations.core.expectation_validation_result import ExpectationSuiteValidationResult
from great_expectations.data_context.data_context.abstract_data_context import AbstractDataContext
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.expectations.expectation import Expectation

log = logging.getLogger(__name__)

_DEFAULT_SITE = "local_site"  # the ephemeral context's default site lives in a temp dir: removed
_BATCH_DEFINITION = "whole_dataframe"


@cache
def gx_context() -> AbstractDataContext:
    """The process-wide ephemeral GX context, with ``spark`` and ``pandas`` datasources."""
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    if _DEFAULT_SITE in (context.list_data_docs_sites() or {}):
        context.delete_data_docs_site(_DEFAULT_SITE)
    context.data_sources.add_spark(name="spark")
    context.data_sources.add_pandas(name="pandas")
    return context


def ensure_docs_site(context: AbstractDataContext, docs_dir: Path) -> str:
    """Register (once) a Data Docs site writing to ``docs_dir``; returns its name."""
    site_name = "site_" + hashlib.sha256(str(docs_dir.resolve()).encode()).hexdigest()[:16]
    if site_name not in (context.list_data_docs_sites() or {}):
        context.add_data_docs_site(
            site_name,
            {
                "class_name": "SiteBuilder",
                "show_how_to_buttons": False,  # type: ignore[typeddict-unknown-key]  # valid, missing from GX typing
                "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            },
        )
    return site_name


def _batch_definition(context: AbstractDataContext, engine: str, asset_name: str) -> Any:
    datasource: Any = context.data_sources.get(engine)  # spark / pandas: both have add_dataframe_asset
    try:
        asset = datasource.get_asset(asset_name)
    except LookupError:
        asset = datasource.add_dataframe_asset(name=asset_name)
    try:
        return asset.get_batch_definition(_BATCH_DEFINITION)
    except (KeyError, LookupError):
        return asset.add_batch_definition_whole_dataframe(_BATCH_DEFINITION)


def run_table(
    *,
    suite_name: str,
    engine: str,
    expectations: list[Expectation],
    dataframe: Any,
    site_name: str,
    show_examples: bool,
    run_name: str,
) -> ExpectationSuiteValidationResult:
    """Validate ``dataframe`` (Spark or pandas, per ``engine``) against ``expectations`` as GX suite
    ``suite_name``; the checkpoint's action adds the result to the Data Docs site ``site_name``."""
    context = gx_context()
    batch_definition = _batch_definition(context, engine, suite_name)
    suite = context.suites.add_or_update(gx.ExpectationSuite(name=suite_name, expectations=expectations))
    validation = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=suite_name, data=batch_definition, suite=suite)
    )
    checkpoint = context.checkpoints.add_or_update(
        gx.Checkpoint(
            name=suite_name,
            validation_definitions=[validation],
            actions=[UpdateDataDocsAction(name="update_data_docs", site_names=[site_name])],
            # Hidden examples: counts only, so a malformed (possibly raw) identifier never reaches a file.
            result_format={"result_format": "SUMMARY", "partial_unexpected_count": 5 if show_examples else 0},
        )
    )
    result = checkpoint.run(batch_parameters={"dataframe": dataframe}, run_id=gx.RunIdentifier(run_name=run_name))
    if engine == "spark":  # GX's Spark engine persists the batch (persist=True); release it once validated
        dataframe.unpersist()
    (validation_result,) = result.run_results.values()
    log.info("quality %s: %s", suite_name, "passed" if validation_result.success else "FAILED")
    return validation_result
