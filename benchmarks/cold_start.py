"""(b) Cold import of each handler module, the way Lambda imports it, against `import boto3` alone.

Each figure is a fresh interpreter (`python -c`) started in the function's directory (so `import
app` finds the handler, as Lambda's /var/task comes first on sys.path) with the environment Lambda
gives a python3.13 function: the template's variables, the Lambda variables, and X-Ray's variables
as active tracing sets them (so a library that traces only on Lambda would show its cost here).
pyOpenSSL and awscrt, which Lambda's runtime does not ship, are made unimportable (NOT_ON_LAMBDA).

Fairness: the commands of one round run in a shuffled order, rounds repeat, and each ratio is the
median of the per-round ratios (a slow moment hurts both sides of a round alike). Every command
runs once untimed first, so each measured import reads bytecode from a private cache
(PYTHONPYCACHEPREFIX): what is compared is import work, not compilation.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from benchmarks.report import Figure, median
from countersign_dev.emulation import template as tpl

REGION = "us-east-1"
BOTO3 = "import boto3"
#: Modules whose presence after the import is reported (pydantic must never be one of them).
WATCHED = ("boto3", "botocore.client", "pydantic", "jwt", "cryptography", "requests", "aws_xray_sdk")
#: Optional libraries the dev environment has (moto and the SAM CLI bring them) and boto3 imports
#: when present, but Lambda's python3.13 runtime does not ship: hidden, so `import boto3` costs
#: here what it costs there (with them, it costs about half as much again).
NOT_ON_LAMBDA = ("OpenSSL", "awscrt")
_PROBE = """
import json, sys, time
for absent in {absent!r}:
    sys.modules[absent] = None  # an ImportError, as on Lambda
started = time.perf_counter()
{statement}
elapsed = time.perf_counter() - started
print(json.dumps({{"seconds": elapsed, "loaded": [m for m in {watched!r} if m in sys.modules]}}))
"""


@dataclass(frozen=True)
class Probe:
    label: str
    statement: str
    cwd: Path
    env: dict[str, str]


def lambda_environment(spec: tpl.FunctionSpec, template: dict[str, Any], pycache: str) -> dict[str, str]:
    """What a python3.13 Lambda container's environment holds when it imports the handler."""
    refs = {**tpl.parameter_defaults(template), "AWS::Region": REGION, "AWS::StackName": "bench"}
    attrs: dict[tuple[str, str], str] = {}
    for name in template.get("Resources", {}):
        refs.setdefault(name, f"bench-{name}")
        attrs[(name, "Arn")] = f"arn:aws:bench:{REGION}:123456789012:{name}"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "POWERTOOLS_", "PYTHON", "LAMBDA_", "_X_AMZN"))
    }
    for key, value in spec.environment.items():
        try:
            env[key] = tpl.resolve(value, refs, attrs)
        except tpl.TemplateError:
            env[key] = f"bench-{key.lower()}"
    env.update(
        {
            "LAMBDA_TASK_ROOT": str(spec.code_dir),
            "LAMBDA_RUNTIME_DIR": "/var/runtime",
            "AWS_LAMBDA_FUNCTION_NAME": spec.logical_id,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
            "AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129:2000",
            "_HANDLER": f"{spec.module}.{spec.handler}",
            "PYTHONPYCACHEPREFIX": pycache,
        }
    )
    return env


def run_script(argv: list[str], label: str, cwd: Path, env: dict[str, str]) -> dict[str, Any]:
    """Run one probe interpreter; its last line of output is the JSON answer."""
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{label} failed:\n{result.stderr[-2000:]}")
    answer: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return answer


def run_probe(probe: Probe) -> tuple[float, list[str]]:
    script = _PROBE.format(statement=probe.statement, watched=WATCHED, absent=NOT_ON_LAMBDA)
    answer = run_script([sys.executable, "-c", script], f"{probe.label}: {probe.statement!r}", probe.cwd, probe.env)
    return float(answer["seconds"]), list(answer["loaded"])


def interleaved(timers: Mapping[str, Callable[[], float]], rounds: int, seed: int) -> dict[str, list[float]]:
    """Seconds per label, `rounds` rounds in which every timer runs once, in a shuffled order."""
    order = random.Random(seed)
    seconds: dict[str, list[float]] = {label: [] for label in timers}
    for _ in range(rounds):
        labels = list(timers)
        order.shuffle(labels)
        for label in labels:
            seconds[label].append(timers[label]())
    return seconds


def measure(probes: list[Probe], rounds: int, seed: int = 8) -> dict[str, list[float]]:
    """Seconds per probe label, `rounds` interleaved runs each (after one untimed run)."""
    for probe in probes:
        run_probe(probe)  # fills the bytecode cache
    return interleaved({probe.label: partial(lambda p: run_probe(p)[0], probe) for probe in probes}, rounds, seed)


def paired_ratio(numerator: list[float], denominator: list[float]) -> float:
    return median(a / b for a, b in zip(numerator, denominator, strict=True))


def cold_import_figures(rounds: int = 7) -> list[Figure]:
    template = tpl.load_template()
    specs = sorted(tpl.functions(template).values(), key=lambda spec: spec.logical_id != "IngestFunction")
    ingest = next(spec for spec in specs if spec.logical_id == "IngestFunction")
    with tempfile.TemporaryDirectory(prefix="countersign-bench-pyc-") as pycache:
        ingest_env = lambda_environment(ingest, template, pycache)
        probes = [Probe("boto3", BOTO3, ingest.code_dir, ingest_env)]
        probes += [
            Probe(spec.logical_id, f"import {spec.module}", spec.code_dir, lambda_environment(spec, template, pycache))
            for spec in specs
        ]
        # What the first request adds: the container's first client.
        probes += [
            Probe("boto3 + client", f"{BOTO3}; boto3.client('dynamodb')", ingest.code_dir, ingest_env),
            Probe(
                "ingest + client",
                f"import {ingest.module}; from countersign import aws; aws.client('dynamodb')",
                ingest.code_dir,
                ingest_env,
            ),
        ]
        seconds = measure(probes, rounds)
        loaded = {probe.label: run_probe(probe)[1] for probe in probes if probe.label in {"boto3", ingest.logical_id}}

    base = seconds["boto3"]
    section = f"(b) cold import / `import boto3` (tracing on; median of {rounds} interleaved rounds)"
    figures = []
    for spec in specs:
        own = seconds[spec.logical_id]
        is_ingest = spec is ingest
        # The SDK routes' cold start, and the export's (its first batch waits on it).
        budgeted = is_ingest or spec.logical_id == "ExportFunction"
        figures.append(
            Figure(
                section,
                f"functions/{spec.code_dir.name}/{spec.module}.py",
                paired_ratio(own, base),
                "x",
                1.3 if budgeted else None,
                f"{median(own) * 1000:.0f} ms vs {median(base) * 1000:.0f} ms"
                + (f"; loads {', '.join(loaded[spec.logical_id]) or 'none of the watched'}" if is_ingest else ""),
            )
        )
    figures.append(
        Figure(
            section,
            "ingest pydantic modules loaded",
            float("pydantic" in loaded[ingest.logical_id]),
            "modules",
            0,
            "Powertools' parser is kept off the request path",
        )
    )
    figures.append(
        Figure(
            section,
            "ingest import + first client / boto3 import + client",
            paired_ratio(seconds["ingest + client"], seconds["boto3 + client"]),
            "x",
            context=f"{median(seconds['ingest + client']) * 1000:.0f} ms vs "
            f"{median(seconds['boto3 + client']) * 1000:.0f} ms: the whole cold start of a request that "
            "touches DynamoDB",
        )
    )
    return figures
