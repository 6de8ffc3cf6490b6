"""The tracing options' cold-start cost, measured on the built artifact (BENCHMARKS.md, "Tracing").

    .venv/bin/python -m benchmarks.tracing_options [--rounds N]   (after `make build`)

Each option's libraries are installed for this machine's CPython 3.13 into their own folder under
.aws-sam/bench-cache (compiled, after the artifact's layer on sys.path), and each probe is the
layout of `benchmarks/artifact.py`: `python3.13 -B`, the layer read-only and dated 1980, X-Ray's
Lambda environment set (so Powertools' Tracer is on). Every probe ends with a first DynamoDB
client, which is where the tracers patch botocore:

- none: Lambda's active tracing without an SDK in the function (the service records the
  invocation segments; nothing is imported);
- Powertools Tracer (X-Ray SDK): `Tracer(auto_patch=False).patch(["botocore", "httplib"])`, what
  `countersign.aws` did with the first client until this measurement;
- OpenTelemetry SDK: a TracerProvider with a batch processor and the OTLP/HTTP exporter, and the
  botocore instrumentation, which is the smallest in-function OpenTelemetry setup that exports
  AWS-call spans (the ADOT Lambda layer loads this and its auto-instrumentation on top).

Not part of `make bench`: it informs a decision, it has no budget.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from benchmarks.artifact import BARE, CACHE, DEFAULT_ARTIFACT, Probe, installed_site, lambda_layout, measure
from benchmarks.cold_start import lambda_environment, paired_ratio
from benchmarks.report import median
from countersign_dev.emulation import template as tpl

OPTIONS: dict[str, tuple[list[str], str]] = {
    "none (Lambda active tracing only)": ([], ""),
    "Powertools Tracer (X-Ray SDK)": (
        ["aws-xray-sdk==2.15.0", "wrapt==2.5.2"],
        "from aws_lambda_powertools import Tracer; Tracer(auto_patch=False).patch(['botocore', 'httplib'])",
    ),
    "OpenTelemetry SDK + botocore instrumentation": (
        [
            "opentelemetry-sdk==1.45.2",
            "opentelemetry-exporter-otlp-proto-http==1.45.2",
            "opentelemetry-instrumentation-botocore",
        ],
        "from opentelemetry import trace; from opentelemetry.sdk.trace import TracerProvider; "
        "from opentelemetry.sdk.trace.export import BatchSpanProcessor; "
        "from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter; "
        "from opentelemetry.instrumentation.botocore import BotocoreInstrumentor; "
        "provider = TracerProvider(); provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter())); "
        "trace.set_tracer_provider(provider); BotocoreInstrumentor().instrument()",
    ),
}


def option_site(name: str, packages: list[str]) -> Path | None:
    if not packages:
        return None
    site = installed_site(CACHE / "tracing" / name.split(" ")[0].lower(), packages)
    # The artifact's (or the runtime's) boto3 is the one measured, not one these packages pulled in.
    for shadowed in ("boto3", "botocore", "s3transfer"):
        for path in site.glob(f"{shadowed}*"):
            shutil.rmtree(path)
    return site


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--artifact", type=Path, default=DEFAULT_ARTIFACT)
    args = parser.parse_args()
    template = tpl.load_template()
    ingest = tpl.functions(template)["IngestFunction"]
    sites = {name: option_site(name, packages) for name, (packages, _) in OPTIONS.items()}
    with lambda_layout(args.artifact, [ingest.logical_id], bytecode=True) as layout:
        env = lambda_environment(ingest, template, "")
        env.pop("PYTHONPYCACHEPREFIX")
        env["LAMBDA_TASK_ROOT"] = str(layout.tasks[ingest.logical_id])
        probes = []
        for name, (_, setup) in OPTIONS.items():
            site = sites[name]
            paths = layout.paths(ingest.logical_id) + ((str(site),) if site else ())
            statement = BARE.replace("; ", f"; {setup}; ") if setup else BARE
            probes.append(Probe(name, statement, paths, env))
        seconds, compiled = measure(probes, args.rounds)
    base = seconds["none (Lambda active tracing only)"]
    print(f"import boto3 + tracing setup + first DynamoDB client, python3.13 -B, median of {args.rounds} rounds")
    for name in OPTIONS:
        own = seconds[name]
        print(
            f"  {name:<48} {paired_ratio(own, base):5.2f}x  {median(own) * 1000:6.0f} ms"
            f"  (+{(median(own) - median(base)) * 1000:.0f} ms; {compiled[name]} compiled)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
