"""Check a sam build output: every .py has the CPython 3.13 bytecode Lambda will load without compiling.

    python3.13 tools/artifact/check_bytecode.py .aws-sam/build

For each source file, `__pycache__/NAME.cpython-313.pyc` must exist (the only name python3.13
looks for next to a source), carry 3.13's magic number, be hash-based and unchecked (flags 0b01:
valid whatever the zip's 1980 timestamps say), and hold the hash of this very source (so it was
compiled from what ships). Run by the interpreter it checks for: the magic number is its own.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

UNCHECKED_HASH = 0b01


def problems(root: Path) -> list[str]:
    found = []
    for source in sorted(root.rglob("*.py")):
        compiled = Path(importlib.util.cache_from_source(str(source)))
        if not compiled.is_file():
            found.append(f"{source}: no {compiled.name}")
            continue
        header = compiled.read_bytes()[:16]
        if header[:4] != importlib.util.MAGIC_NUMBER:
            found.append(f"{compiled}: not CPython {sys.version_info.major}.{sys.version_info.minor} bytecode")
        elif int.from_bytes(header[4:8], "little") != UNCHECKED_HASH:
            found.append(f"{compiled}: not unchecked-hash bytecode")
        elif header[8:16] != importlib.util.source_hash(source.read_bytes()):
            found.append(f"{compiled}: compiled from another source than {source.name}")
    return found


def main(argv: list[str]) -> int:
    if sys.version_info[:2] != (3, 13):
        print("check_bytecode: run it with python3.13, the interpreter Lambda runs", file=sys.stderr)
        return 2
    root = Path(argv[0])
    sources = sum(1 for _ in root.rglob("*.py"))
    found = problems(root)
    for problem in found[:20]:
        print(problem, file=sys.stderr)
    if found:
        print(f"check_bytecode: {len(found)} of {sources} sources lack valid 3.13 bytecode", file=sys.stderr)
        return 1
    print(f"bytecode: ok ({sources} sources in {root}, each with its unchecked-hash CPython 3.13 .pyc)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
