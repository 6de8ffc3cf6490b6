"""The local-development JWKS override (SPEC 3.2) is never part of the deployment.

ALLOW_PRIVATE_JWKS_HOSTS and JWKS_CA_BUNDLE are set only by `countersign local
--allow-private-jwks-hosts --jwks-ca-bundle PEM`; template.yaml must not set them for any function,
nor let a deployer turn them on through a parameter.
"""

from __future__ import annotations

import json
from typing import Any

from countersign_dev.emulation import template as tpl

OVERRIDE_VARIABLES = ("ALLOW_PRIVATE_JWKS_HOSTS", "JWKS_CA_BUNDLE")
FUNCTION_TYPES = ("AWS::Serverless::Function", "AWS::Lambda::Function")


def environments(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every environment the template declares: Globals and each function's own."""
    found = {"Globals": template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})}
    for kind in FUNCTION_TYPES:
        for name, resource in tpl.resources_of_type(template, kind).items():
            found[name] = resource.get("Properties", {}).get("Environment", {}).get("Variables", {})
    return found


def test_no_function_environment_sets_the_override() -> None:
    template = tpl.load_template()
    declared = environments(template)
    assert "JwksFunction" in declared, "the jwks function is declared"
    for owner, variables in declared.items():
        for name in OVERRIDE_VARIABLES:
            assert name not in variables, f"{owner} sets {name}"
        # Not even indirectly, e.g. a variable whose value is built from another one's name.
        assert not any(name in json.dumps(variables) for name in OVERRIDE_VARIABLES), owner


def test_every_function_gets_the_strict_policy() -> None:
    # What each function's environment resolves to (the local stack's view of the template).
    for spec in tpl.functions(tpl.load_template()).values():
        assert not set(spec.environment) & set(OVERRIDE_VARIABLES), spec.logical_id


def test_no_parameter_mentions_the_override() -> None:
    parameters = json.dumps(tpl.load_template().get("Parameters", {})).upper()
    for name in OVERRIDE_VARIABLES:
        assert name not in parameters
    # Nor under another spelling (AllowPrivateJwksHosts, JwksCaBundle ...).
    squeezed = parameters.replace("_", "")
    assert "ALLOWPRIVATEJWKS" not in squeezed and "JWKSCABUNDLE" not in squeezed
