"""template.yaml through the SAM transform, as CloudFormation receives it (no AWS call)."""

from __future__ import annotations

from typing import Any

from samtranslator.translator.transform import transform

from countersign_dev.emulation import template as tpl


def translated(parameters: dict[str, str]) -> dict[str, Any]:
    """The transformed template's Resources; set AWS_DEFAULT_REGION first (the transform reads it)."""
    document = tpl.load_template()
    for resource in document["Resources"].values():
        for uri in ("CodeUri", "ContentUri"):
            if uri in resource.get("Properties", {}):
                resource["Properties"][uri] = "s3://bucket/key"  # what `sam deploy` uploads to

    class NoManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    return transform(document, parameters, NoManagedPolicies())["Resources"]  # type: ignore[no-any-return]
