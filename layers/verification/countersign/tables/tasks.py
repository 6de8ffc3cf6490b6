"""What the tables function does on each of its schedules, counted and logged (template.yaml).

    fold       every TableCommitMinutes: fold.py for `events`, then `sessions`
    maintain   hourly: maintenance.py for both tables

(The hourly reconcile, completeness.py, only reads: it is the reconcile function's, so it never
holds this function's single slot while a fold is due.)

A run starts no new commit when less than clock.SAFETY_MS of the invocation is left, so a run that
has more to do than one commit holds ends cleanly and the next one goes on from its ledger.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from countersign import clock
from countersign.lake import KINDS
from countersign.observability import logger, metrics
from countersign.store.lake_objects import lake_objects
from countersign.tables.catalog import TableSettings, open_catalog, open_table
from countersign.tables.fold import FoldLimits, fold


def run(task: str, remaining_ms: Callable[[], int]) -> dict[str, Any]:
    """Run one scheduled task; what it did (also logged and counted)."""
    if task == "fold":
        return fold_tables(remaining_ms)
    if task == "maintain":
        from countersign.tables.maintenance import maintain_tables

        return maintain_tables(remaining_ms)
    raise ValueError(f"unknown task {task!r}: expected fold or maintain")


def fold_tables(remaining_ms: Callable[[], int]) -> dict[str, Any]:
    settings = TableSettings.from_environment()
    catalog = open_catalog(settings)
    lake = lake_objects()
    # Ledger files are kept as long as maintenance may still retire the landing objects they name.
    limits = FoldLimits(ledger_days=int(float(os.environ.get("LANDING_RETENTION_DAYS", "30"))) + 2)
    done: dict[str, Any] = {}
    for kind in KINDS:
        outcomes = fold(
            kind,
            lambda kind=kind: open_table(kind, settings, catalog=catalog),  # type: ignore[misc]
            lake,
            limits=limits,
            keep_going=clock.time_to_go_on(remaining_ms),
        )
        done[kind] = {
            "commits": sum(1 for outcome in outcomes if outcome.snapshot_id is not None),
            "objects": sum(outcome.objects for outcome in outcomes),
            "lines": sum(outcome.lines for outcome in outcomes),
            "conflicts": sum(outcome.conflicts for outcome in outcomes),
            "refused": sorted({key for outcome in outcomes for key in outcome.refused}),
            "waiting": outcomes[-1].remaining,
        }
    metrics.add_metric(name="TablesLinesFolded", unit=MetricUnit.Count, value=sum(d["lines"] for d in done.values()))
    metrics.add_metric(
        name="TablesObjectsWaiting", unit=MetricUnit.Count, value=sum(d["waiting"] for d in done.values())
    )
    metrics.add_metric(
        name="TablesObjectsRefused", unit=MetricUnit.Count, value=sum(len(d["refused"]) for d in done.values())
    )
    metrics.add_metric(
        name="TablesFoldConflicts", unit=MetricUnit.Count, value=sum(d["conflicts"] for d in done.values())
    )
    logger.info(
        "tables folded", extra={"tables": done, "function_memory_mb": os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")}
    )
    return done
