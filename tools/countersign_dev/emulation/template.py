"""Read template.yaml the way the local stack needs it: routes, handlers, tables, keys, environment.

template.yaml is the only description of the deployment: the local stack creates its tables and
routes its requests from what this module reads, so adding a route means touching the template
and the function, nothing here.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[3]
TEMPLATE_PATH = REPO_ROOT / "template.yaml"


class TemplateError(Exception):
    """template.yaml uses something the local stack cannot emulate."""


@dataclass(frozen=True)
class Route:
    method: str  # upper case, or ANY
    resource: str  # API Gateway path template, e.g. /v1/apps/{appId}/settings
    function: str  # logical id of the function
    pattern: re.Pattern[str] = field(compare=False)

    def match(self, path: str) -> dict[str, str] | None:
        found = self.pattern.fullmatch(path)
        return found.groupdict() if found else None


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    code_dir: Path
    module: str
    handler: str
    environment: dict[str, Any]
    timeout: float = 3  # seconds (Lambda's default)
    memory_mb: int = 128


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    """The template as plain data, intrinsic functions as {"Ref": ...} dicts (cfn-lint's loader)."""
    from cfnlint.decode import cfn_yaml

    template: dict[str, Any] = cfn_yaml.load(str(path))
    return template


def resources_of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: res for name, res in template.get("Resources", {}).items() if res.get("Type") == kind}


def functions(template: dict[str, Any]) -> dict[str, FunctionSpec]:
    """Every AWS::Serverless::Function with its handler file and unresolved environment."""
    globals_ = template.get("Globals", {}).get("Function", {})
    global_env = globals_.get("Environment", {}).get("Variables", {})
    specs = {}
    for name, res in resources_of_type(template, "AWS::Serverless::Function").items():
        props = res["Properties"]
        module, _, handler = props["Handler"].rpartition(".")
        env = {**global_env, **props.get("Environment", {}).get("Variables", {})}
        timeout = _number(props.get("Timeout", globals_.get("Timeout")), 3)
        memory = int(_number(props.get("MemorySize", globals_.get("MemorySize")), 128))
        # Plain strings: the loader's string nodes cannot cross to a container process (pickle).
        specs[str(name)] = FunctionSpec(
            str(name), REPO_ROOT / str(props["CodeUri"]), str(module), str(handler), env, timeout, memory
        )
    return specs


def _number(value: Any, default: float) -> float:
    """A literal number of the template; Lambda's default where absent or not a literal (a Ref)."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else default


def routes(template: dict[str, Any]) -> list[Route]:
    """Every Api event of every function; specific methods sort before ANY, as API Gateway does."""
    found = []
    for name, res in resources_of_type(template, "AWS::Serverless::Function").items():
        for event in res["Properties"].get("Events", {}).values():
            if event.get("Type") != "Api":
                continue
            props = event["Properties"]
            resource = props["Path"]
            found.append(Route(str(props["Method"]).upper(), str(resource), str(name), _path_pattern(resource)))
    return sorted(found, key=lambda r: (r.method == "ANY", r.resource))


@dataclass(frozen=True)
class Schedule:
    """One `Type: Schedule` / `ScheduleV2` event of a function: a rate and the input the function receives."""

    function: str  # logical id
    name: str  # the event's name in the template
    every_seconds: float
    input: dict[str, Any]


_RATE = re.compile(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def schedules(template: dict[str, Any]) -> list[Schedule]:
    """Every Schedule event of every function, its rate resolved with the parameters' defaults."""
    refs = parameter_defaults(template)
    found = []
    for name, res in resources_of_type(template, "AWS::Serverless::Function").items():
        for event_name, event in res["Properties"].get("Events", {}).items():
            if event.get("Type") not in ("Schedule", "ScheduleV2"):
                continue
            props = event["Properties"]
            expression = resolve(props.get("ScheduleExpression", props.get("Schedule")), refs, {})
            rate = _RATE.fullmatch(expression)
            if rate is None:
                raise TemplateError(
                    f"{name}.{event_name}: the local stack runs rate(N unit) schedules, not {expression!r}"
                )
            seconds = int(rate.group(1)) * _UNIT_SECONDS[rate.group(2).rstrip("s")]
            payload = json.loads(str(props.get("Input", "{}")))
            found.append(Schedule(str(name), str(event_name), float(seconds), payload))
    return found


def parameter_defaults(template: dict[str, Any]) -> dict[str, str]:
    return {name: str(spec.get("Default", "")) for name, spec in template.get("Parameters", {}).items()}


def resolve(value: Any, refs: dict[str, str], attrs: dict[tuple[str, str], str]) -> str:
    """Resolve the intrinsic functions the environment uses: Ref, Fn::GetAtt, Fn::Sub."""
    if isinstance(value, (str, int, float)):
        return str(value)
    if isinstance(value, dict) and len(value) == 1:
        ((fn, arg),) = value.items()
        if fn == "Ref" and arg in refs:
            return refs[arg]
        if fn == "Fn::GetAtt":
            logical, attr = arg if isinstance(arg, list) else arg.split(".", 1)
            if (logical, attr) in attrs:
                return attrs[(logical, attr)]
        if fn == "Fn::Sub":
            text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
            local = {**refs, **{k: resolve(v, refs, attrs) for k, v in variables.items()}}

            def substitute(m: re.Match[str]) -> str:
                key = m.group(1)
                if key in local:
                    return local[key]
                if "." in key and tuple(key.split(".", 1)) in attrs:
                    return attrs[tuple(key.split(".", 1))]
                raise TemplateError(f"cannot resolve ${{{key}}} locally")

            return re.sub(r"\$\{([^}!]+)\}", substitute, text)
    raise TemplateError(f"cannot resolve {value!r} locally")


def _path_pattern(resource: str) -> re.Pattern[str]:
    regex = ""
    for part in re.split(r"(\{[^}]+\})", resource):
        if part.startswith("{") and part.endswith("+}"):
            regex += f"(?P<{_group(part[1:-2])}>.+)"
        elif part.startswith("{"):
            regex += f"(?P<{_group(part[1:-1])}>[^/]+)"
        else:
            regex += re.escape(part)
    return re.compile(regex)


def _group(name: str) -> str:
    if not name.isidentifier():
        raise TemplateError(f"path parameter {name!r} is not an identifier")
    return name
