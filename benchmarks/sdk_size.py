"""(h) The browser SDK's transfer size: the module as the web function serves it, gzipped (level 9).

The served file is the esbuild build of sdk/browser/src (minified; tests/sdk fails when it is stale),
and the function serves its bytes unchanged: measuring it measures what a page downloads.
"""

from __future__ import annotations

import gzip
from pathlib import Path

from benchmarks.report import Figure

ROOT = Path(__file__).resolve().parents[1]
SERVED = ROOT / "functions" / "web" / "static" / "sdk"
#: What a page downloads to send data, per build: issue 25's budget, 8 KB gzipped each.
GZIP_BUDGET_BYTES = 8 * 1024
BUILDS = (("ES module", "countersign.js"), ("IIFE (script tag)", "countersign.iife.js"))


def sdk_size_figures() -> list[Figure]:
    figures = []
    for label, name in BUILDS:
        raw = (SERVED / name).read_bytes()
        figures.append(
            Figure(
                "(h) browser SDK size",
                f"sdk/{name}, {label}, gzip -9",
                float(len(gzip.compress(raw, 9))),
                "bytes",
                GZIP_BUDGET_BYTES,
                f"{len(raw)} bytes uncompressed",
            )
        )
    return figures
