"""Each function of `sam build`'s output, with its layers, within Lambda's 250 MB unzipped limit.

    python tools/artifact/check_sizes.py .aws-sam/build [template.yaml]

Prints each function's total (its code plus every layer the template gives it, the Globals' first)
and exits non-zero if one is over. The tables function carries pyarrow, the only big library: its
layer's Makefile trims what the tables never load (layers/tables/Makefile).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

LIMIT_BYTES = 250 * 1024 * 1024


def tree_bytes(root: Path) -> int:
    return sum(path.stat().st_size for path in root.rglob("*") if path.is_file() and not path.is_symlink())


def function_layers(template: dict[str, Any], function: str) -> list[str]:
    global_layers = template.get("Globals", {}).get("Function", {}).get("Layers", [])
    own = template["Resources"][function]["Properties"].get("Layers", [])
    return [layer["Ref"] for layer in [*global_layers, *own] if isinstance(layer, dict) and "Ref" in layer]


def main(build: Path, template_path: Path) -> int:
    from cfnlint.decode import cfn_yaml

    template: dict[str, Any] = cfn_yaml.load(str(template_path))
    functions = [name for name, res in template["Resources"].items() if res["Type"] == "AWS::Serverless::Function"]
    over = False
    for function in sorted(functions):
        parts = [function, *function_layers(template, function)]
        total = sum(tree_bytes(build / part) for part in parts)
        over |= total > LIMIT_BYTES
        print(f"{function}: {total / 1024 / 1024:.0f} MB unzipped with {', '.join(parts[1:]) or 'no layer'}")
    if over:
        print(
            f"a function is over Lambda's {LIMIT_BYTES // 1024 // 1024} MB (code + layers, unzipped)", file=sys.stderr
        )
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2] if len(sys.argv) > 2 else "template.yaml")))
