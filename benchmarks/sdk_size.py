"""(h) The browser SDK's transfer size: the module as the web function serves it, gzipped (level 9).

The served file is the esbuild build of sdk/browser/src (minified; tests/sdk fails when it is stale),
and the function serves its bytes unchanged: measuring it measures what a page downloads.
"""

from __future__ import annotations

import gzip
from pathlib import Path

from benchmarks.report import Figure

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "functions" / "web" / "static" / "sdk" / "countersign.js"
#: What a page downloads to send data: the issue's aim, under 8 KB gzipped.
GZIP_BUDGET_BYTES = 8 * 1024


def sdk_size_figures() -> list[Figure]:
    raw = SOURCE.read_bytes()
    return [
        Figure(
            "(h) browser SDK size",
            "sdk/countersign.js, gzip -9",
            float(len(gzip.compress(raw, 9))),
            "bytes",
            GZIP_BUDGET_BYTES,
            f"{len(raw)} bytes uncompressed",
        )
    ]
