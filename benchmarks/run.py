"""`make bench`: Countersign's performance figures as ratios measured side by side, and budgets.

    (a) botocore calls of a warm POST /events (10 and 100 new events), by service and operation
    (b) cold import of each handler module against `import boto3` alone (fresh interpreters)
    (c) session-start verification against a bare `jwt.decode` of the same token (HS256, RS256)
    (d) events per second through the ingest handler against naive sequential PutItems (moto)
    (e) write units per accepted event: event writes only, and all writes of the request
    (f) the built artifact (`make build`) as Lambda loads it: python3.13, read-only, dated 1980,
        with and without its bytecode, against a bare `import boto3` + client
    (g) the export function's AWS calls per batch of stream records, and on a retry of it
    (h) the browser SDK's gzipped size
    (i) the fold into the Iceberg tables: lines/s, S3 calls, peak memory, the 5-minute window, files a day
    (j) one erasure in the Iceberg tables: data files rewritten against those holding the subject, time

Budgets are ratios or counts, never absolute seconds (BENCHMARKS.md says why and lists them).
The exit code is the number of budgets missed: 0 when every budget holds.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.report import Figure, print_section, print_summary

SECTIONS = ("calls", "cold", "verify", "throughput", "artifact", "export", "sdk", "tables", "erasure")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=SECTIONS, action="append", help="run only these sections")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds of the cold-import section")
    parser.add_argument("--artifact-rounds", type=int, default=5, help="interleaved rounds of the artifact section")
    parser.add_argument("--artifact", type=Path, help="a sam build output to measure (default: .aws-sam/build)")
    args = parser.parse_args(argv)
    wanted = set(args.only or SECTIONS)

    started = time.monotonic()
    figures: list[Figure] = []

    def section(title: str, produce: Callable[[], list[Figure]]) -> None:
        print(f"\n... {title}", flush=True)
        produced = produce()
        figures.extend(produced)
        for name in dict.fromkeys(f.section for f in produced):
            print_section(name, [f for f in produced if f.section == name])

    print(f"Countersign benchmarks (python {sys.version.split()[0]}); ratios are measured side by side.")
    if "cold" in wanted:
        from benchmarks.cold_start import cold_import_figures

        section("cold imports in fresh interpreters", lambda: cold_import_figures(rounds=args.rounds))
    if "artifact" in wanted:
        from benchmarks.artifact import DEFAULT_ARTIFACT, artifact_figures

        artifact = args.artifact or DEFAULT_ARTIFACT
        section(
            f"the built artifact ({artifact}) as Lambda imports it",
            lambda: artifact_figures(rounds=args.artifact_rounds, artifact=artifact),
        )
    if "verify" in wanted:
        from benchmarks.verification import verification_figures

        section("verification cost", verification_figures)
    if wanted & {"calls", "throughput", "export"}:
        from benchmarks.inprocess import cold_request_figures, ingest_bench, throughput_figures, warm_request_figures

        with ingest_bench() as bench:
            if "calls" in wanted:

                def calls() -> list[Figure]:
                    produced: list[Figure] = []
                    units: list[Figure] = []
                    for batch in (10, 100):
                        request, written = warm_request_figures(bench, batch)
                        produced += request
                        units += written
                    return produced + units

                section("AWS calls and write units of warm events requests", calls)
            if "throughput" in wanted:
                section("events per second", lambda: throughput_figures(bench))
            if "calls" in wanted:
                section("a cold container's first events request", lambda: cold_request_figures(bench, 10))
            if "export" in wanted:
                from benchmarks.export import export_figures

                section("the export function's calls per batch", lambda: export_figures(bench))

    if "sdk" in wanted:
        from benchmarks.sdk_size import sdk_size_figures

        section("browser SDK size", sdk_size_figures)

    if "tables" in wanted:
        from benchmarks.tables import tables_figures

        section("the fold into the Iceberg tables", tables_figures)

    if "erasure" in wanted:
        from benchmarks.erasure import erasure_figures

        section("one erasure in the Iceberg tables", erasure_figures)

    missed = print_summary(figures)
    print(f"({time.monotonic() - started:.0f} s)")
    return missed


if __name__ == "__main__":
    sys.exit(main())
