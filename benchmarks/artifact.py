"""(f) Cold start of the artifact `sam build` produced, laid out and imported the way Lambda does.

Lambda unzips the layer into /opt (on sys.path as /opt/python) and the function into /var/task,
read-only, every file dated 1980, and imports the handler with CPython 3.13. Here, for each
function of the template, a fresh `python3.13 -B` imports the handler from copies of
`.aws-sam/build` laid out the same way (read-only, dated 1980), then creates its first DynamoDB
client through `countersign.aws` (no network: creating a client sends nothing). Compared with:

- the same artifact without its bytecode (every `__pycache__` removed): what a cold start costs
  when Python has to compile every module it imports;
- a bare `import boto3` + `boto3.client("dynamodb")` from the runtime's own boto3: what any
  Python function that talks to DynamoDB pays, whatever its layers.

The artifact's native modules are built for Lambda's arm64; where this machine is another
architecture, the copies get the same package versions' wheels for this machine's architecture
(only the compiled files: the Python files and their bytecode stay the artifact's own). Wheels are
cached under .aws-sam/bench-cache. The runtime's boto3 is a stand-in: the pinned versions with
their bytecode, after the layer on sys.path as on Lambda (so a layer's own boto3 comes first).

Every probe counts the modules Python compiled from source during the import (a wrapper around
importlib's `source_to_code`, which every source load goes through): 0 proves the bytecode was
used. Time is the importing process's CPU time (user + system; an import reads files the page
cache holds and computes), which other work on a shared machine does not inflate the way it
inflates wall time. Rounds are interleaved and shuffled; a ratio is the median of per-round ratios.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from benchmarks.cold_start import interleaved, lambda_environment, paired_ratio, run_script
from benchmarks.report import Figure, median
from countersign_dev.emulation import template as tpl

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ARTIFACT = REPO_ROOT / ".aws-sam" / "build"
CACHE = REPO_ROOT / ".aws-sam" / "bench-cache"
LAYER_ID = "VerificationLayer"
INGEST_BUDGET = 1.5  # ingest import + first client, at most this many times a bare boto3 + client
DOS_EPOCH = 315532800  # 1980-01-01T00:00:00Z: what every file of an unzipped Lambda package says
BARE = "import boto3; boto3.client('dynamodb')"
HANDLER = "import {module}; from countersign import aws; aws.client('dynamodb')"
#: The runtime's boto3 stand-in (Lambda's python3.13 runtime ships boto3 with its bytecode).
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3")

_PROBE = """
import json, sys, time
import _frozen_importlib_external as external
sys.path[:0] = {paths!r}
compiled = []
to_code = external.SourceLoader.source_to_code
def counting(self, data, path, *args, **kwargs):
    compiled.append(path)
    return to_code(self, data, path, *args, **kwargs)
external.SourceLoader.source_to_code = counting
started = time.process_time()
{statement}
elapsed = time.process_time() - started
print(json.dumps({{"seconds": elapsed, "compiled": len(compiled), "writes_bytecode": not sys.dont_write_bytecode}}))
"""


class ArtifactMissing(RuntimeError):
    """No `sam build` output to measure."""


@dataclass(frozen=True)
class Probe:
    label: str
    statement: str
    paths: tuple[str, ...]
    env: dict[str, str]


def python313() -> str:
    found = os.environ.get("PYTHON313") or shutil.which("python3.13") or ""
    if not found:
        raise ArtifactMissing("no CPython 3.13: set PYTHON313=/path/to/python3.13 (make bench sets it)")
    return found


def run_probe(probe: Probe) -> tuple[float, int]:
    script = _PROBE.format(paths=list(probe.paths), statement=probe.statement)
    # -B: never write bytecode (Lambda's /opt and /var/task are read-only); -I -S: nothing from
    # this machine's environment or site-packages, only the artifact's paths and the stdlib.
    argv = [python313(), "-B", "-I", "-S", "-c", script]
    answer = run_script(argv, f"{probe.label}: {probe.statement!r}", Path(probe.paths[0]), probe.env)
    if answer["writes_bytecode"]:
        raise RuntimeError(f"{probe.label}: the probe interpreter would write bytecode")
    return float(answer["seconds"]), int(answer["compiled"])


# ---------------------------------------------------------------- laying out the artifact


def _host_platform() -> str | None:
    """The manylinux tag of this machine when it is not the artifact's arm64, else None."""
    machine = platform.machine()
    return None if machine in ("aarch64", "arm64") else f"manylinux2014_{machine}"


def _dist_info(dist: Path) -> tuple[str, str, list[str]]:
    """(name, version, wheel tags) of an installed distribution's .dist-info folder."""
    fields: dict[str, list[str]] = {}
    for file in ("METADATA", "WHEEL"):
        for line in (dist / file).read_text(encoding="utf-8").splitlines():
            key, sep, value = line.partition(": ")
            if sep:
                fields.setdefault(key, []).append(value.strip())
    return fields["Name"][0], fields["Version"][0], fields.get("Tag", [])


def _is_native(name: str) -> bool:
    return name.endswith(".so") or ".libs/" in name


def _host_wheel(name: str, version: str, host: str) -> Path:
    wheels = CACHE / "wheels" / host
    wheels.mkdir(parents=True, exist_ok=True)
    stem = name.lower().replace("-", "_")
    found = [w for w in wheels.glob("*.whl") if w.name.lower().startswith(f"{stem}-{version}-")]
    if not found:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--disable-pip-version-check",
                "--no-deps",
                "--only-binary=:all:",
                "--platform",
                host,
                "--implementation",
                "cp",
                "--python-version",
                "3.13",
                "--dest",
                str(wheels),
                f"{name}=={version}",
            ],
            check=True,
        )
        found = [w for w in wheels.glob("*.whl") if w.name.lower().startswith(f"{stem}-{version}-")]
    return found[0]


def swap_native_modules(site: Path, host: str) -> list[str]:
    """Replace the arm64 compiled files of `site`'s platform wheels with this machine's builds."""
    swapped = []
    for dist in sorted(site.glob("*.dist-info")):
        name, version, tags = _dist_info(dist)
        if all(tag.endswith("-any") for tag in tags):
            continue
        for line in (dist / "RECORD").read_text(encoding="utf-8").splitlines():
            member = line.split(",")[0]
            if _is_native(member):
                (site / member).unlink(missing_ok=True)
        with zipfile.ZipFile(_host_wheel(name, version, host)) as wheel:
            for member in wheel.namelist():
                if _is_native(member):
                    wheel.extract(member, site)
        swapped.append(f"{name} {version}")
    return swapped


def installed_site(site: Path, requirements: list[str], *, deps: bool = True) -> Path:
    """`requirements` installed for this machine's CPython 3.13 into `site` and compiled, once."""
    if not site.is_dir():
        python = python313()
        install = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile"]
        subprocess.run([*install, *([] if deps else ["--no-deps"]), "--target", str(site), *requirements], check=True)
        compile_all = [python, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash"]
        subprocess.run([*compile_all, str(site)], check=True, stdout=subprocess.DEVNULL)
    return site


def runtime_site() -> Path:
    """boto3 as the runtime provides it: the pinned versions, compiled."""
    pins = dict(
        line.split("==", 1)
        for line in (REPO_ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines()
        if "==" in line and not line.startswith("#")
    )
    wanted = [f"{name}=={pins[name]}" for name in RUNTIME_PACKAGES if name in pins]
    return installed_site(CACHE / ("runtime-" + "-".join(sorted(wanted)).replace("==", "_")), wanted, deps=False)


def _freeze(root: Path) -> None:
    """What Lambda's unzipped package looks like: every file dated 1980, nothing writable."""
    for folder, dirs, files in os.walk(root, topdown=False):
        for name in [*files, *dirs]:
            path = Path(folder, name)
            os.utime(path, (DOS_EPOCH, DOS_EPOCH), follow_symlinks=False)
            path.chmod(0o555 if path.is_dir() else 0o444)
    os.utime(root, (DOS_EPOCH, DOS_EPOCH))
    root.chmod(0o555)


def _thaw(root: Path) -> None:
    for folder, dirs, _files in os.walk(root):
        for name in dirs:
            Path(folder, name).chmod(0o755)
    root.chmod(0o755)


@dataclass(frozen=True)
class Layout:
    """One Lambda-shaped copy of the artifact: the layer, every function, the runtime's boto3."""

    layer: Path
    tasks: dict[str, Path]
    runtime: Path
    swapped: list[str]

    def paths(self, function: str) -> tuple[str, ...]:
        """sys.path of `function` on Lambda: its code, the layer, then the runtime's packages."""
        return (str(self.tasks[function]), str(self.layer), str(self.runtime))

    def bare(self, function: str) -> tuple[str, ...]:
        """sys.path of a function without the layer: its code and the runtime's packages."""
        return (str(self.tasks[function]), str(self.runtime))


@contextmanager
def lambda_layout(artifact: Path, functions: list[str], *, bytecode: bool) -> Iterator[Layout]:
    if not (artifact / LAYER_ID / "python").is_dir():
        raise ArtifactMissing(f"no sam build output in {artifact}: run `make build` first")
    with tempfile.TemporaryDirectory(prefix="countersign-bench-artifact-") as scratch:
        root = Path(scratch, "lambda")
        layer = root / "opt" / "python"
        shutil.copytree(artifact / LAYER_ID / "python", layer, symlinks=True)
        tasks = {}
        for function in functions:
            tasks[function] = root / "var" / "task" / function
            shutil.copytree(artifact / function, tasks[function], symlinks=True)
        host = _host_platform()
        swapped = swap_native_modules(layer, host) if host else []
        runtime = runtime_site()
        if not bytecode:
            for cache in list(root.rglob("__pycache__")):
                shutil.rmtree(cache)
        _freeze(root)
        try:
            yield Layout(layer, tasks, runtime, swapped)
        finally:
            _thaw(root)


# ---------------------------------------------------------------- the figures


def measure(probes: list[Probe], rounds: int, seed: int = 14) -> tuple[dict[str, list[float]], dict[str, int]]:
    """Seconds per probe label over `rounds` shuffled rounds (after one untimed run each)."""
    compiled = {probe.label: run_probe(probe)[1] for probe in probes}  # also warms the file cache
    timers = {probe.label: partial(lambda p: run_probe(p)[0], probe) for probe in probes}
    return interleaved(timers, rounds, seed), compiled


def artifact_figures(rounds: int = 5, artifact: Path = DEFAULT_ARTIFACT) -> list[Figure]:
    template = tpl.load_template()
    specs = sorted(tpl.functions(template).values(), key=lambda spec: spec.logical_id != "IngestFunction")
    # An older build (a "before" figure) may lack a function added since; make bench builds first.
    specs = [spec for spec in specs if (artifact / spec.logical_id).is_dir()]
    # A function with a layer of its own (the tables function: pyiceberg, pyarrow) runs on schedules,
    # off the hot path; its import is not what this section budgets, and needs its layer to load.
    specs = [spec for spec in specs if not template["Resources"][spec.logical_id]["Properties"].get("Layers")]
    names = [spec.logical_id for spec in specs]
    with (
        tempfile.TemporaryDirectory(prefix="countersign-bench-pyc-") as unused_pycache,
        lambda_layout(artifact, names, bytecode=True) as built,
        lambda_layout(artifact, names, bytecode=False) as stripped,
    ):
        probes = []
        for spec in specs:
            env = lambda_environment(spec, template, unused_pycache)
            env.pop("PYTHONPYCACHEPREFIX")
            env["LAMBDA_TASK_ROOT"] = str(built.tasks[spec.logical_id])
            statement = HANDLER.format(module=spec.module)
            probes.append(Probe(spec.logical_id, statement, built.paths(spec.logical_id), env))
            probes.append(Probe(f"{spec.logical_id} source", statement, stripped.paths(spec.logical_id), env))
            if spec is specs[0]:
                probes.append(Probe("boto3", BARE, built.bare(spec.logical_id), env))
        seconds, compiled = measure(probes, rounds)
        swapped, layer_boto3 = built.swapped, (built.layer / "boto3").is_dir()

    base = seconds["boto3"]
    section = (
        f"(f) the built artifact, read-only, dated 1980, python3.13 -B: import + first DynamoDB client "
        f"/ bare boto3 + client (median of {rounds} interleaved rounds)"
    )
    where = "the functions' boto3 from the layer" if layer_boto3 else "the functions' boto3 from the runtime"
    native = f"; this machine's builds of {', '.join(swapped)}" if swapped else ""
    figures = [
        Figure(section, "bare boto3 + client", 1.0, "x", context=f"{median(base) * 1000:.0f} ms; {where}{native}")
    ]
    for spec in specs:
        own, source = seconds[spec.logical_id], seconds[f"{spec.logical_id} source"]
        is_ingest = spec is specs[0]
        figures.append(
            Figure(
                section,
                f"{spec.logical_id} artifact",
                paired_ratio(own, base),
                "x",
                INGEST_BUDGET if is_ingest else None,
                f"{median(own) * 1000:.0f} ms",
            )
        )
        figures.append(
            Figure(
                section,
                f"{spec.logical_id} without bytecode",
                paired_ratio(source, base),
                "x",
                context=f"{median(source) * 1000:.0f} ms; {compiled[f'{spec.logical_id} source']} modules compiled",
            )
        )
        figures.append(
            Figure(
                section,
                f"{spec.logical_id} modules compiled from source",
                compiled[spec.logical_id],
                "modules",
                0,
                "0: the artifact's bytecode served every module the import loaded",
            )
        )
    return figures
