"""The module maps hold themselves (issue 22): every module of the layer is named in its package's
docstring and in the architecture map (docs/architecture.md, or README.md's architecture section
when that file is gone), and neither names a module that no longer exists."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = ROOT / "layers" / "verification" / "countersign"
ARCHITECTURE = ROOT / "docs" / "architecture.md"
#: A map line: four spaces, one or more names ("tokens, claims", "store/data"), two spaces, words.
MAP_LINE = re.compile(r"^ {4}(?P<names>[a-z_][a-z0-9_/]*(?:, [a-z_][a-z0-9_/]*)*)(?: {2,}\S|$)")


def modules() -> set[str]:
    """Every module of the package as the maps name it: `api`, `store/data`, `tables/fold`."""
    return {
        str(path.relative_to(PACKAGE).with_suffix("")) for path in PACKAGE.rglob("*.py") if path.name != "__init__.py"
    }


def mapped(text: str) -> set[str]:
    names: set[str] = set()
    for line in text.splitlines():
        if match := MAP_LINE.match(line):
            names.update(match["names"].split(", "))
    return names


def package_docstring(package: Path) -> str:
    return ast.get_docstring(ast.parse((package / "__init__.py").read_text())) or ""


def architecture_map() -> str:
    """The module map's fenced block in docs/architecture.md, else README.md's architecture block."""
    if ARCHITECTURE.exists():
        text = ARCHITECTURE.read_text().split("## Module map", 1)[1]
    else:
        text = (ROOT / "README.md").read_text().split("## Architecture", 1)[1]
    return text.split("```", 2)[1]


@pytest.mark.parametrize("package", ["", "store", "tables"], ids=lambda p: p or "countersign")
def test_each_package_docstring_names_its_modules(package: str) -> None:
    directory = PACKAGE / package if package else PACKAGE
    prefix = f"{package}/" if package else ""
    expected = {
        name.removeprefix(prefix)
        for name in modules()
        if name.startswith(prefix) and "/" not in name.removeprefix(prefix)
    }
    subpackages = {path.parent.name for path in directory.glob("*/__init__.py")}
    named = mapped(package_docstring(directory))
    assert expected - named == set(), f"missing from {directory.name}/__init__.py"
    assert named - expected - subpackages == set(), f"named in {directory.name}/__init__.py but gone"


def test_the_architecture_map_names_every_module() -> None:
    named = {name.removesuffix("/") for name in mapped(architecture_map())}
    assert modules() - named == set(), "missing from the architecture map"
    assert named - modules() == set(), "named in the architecture map but gone"


def test_the_map_reader_sees_names_and_skips_prose() -> None:
    text = "  the HTTP edge\n    api   the resolver\n    tokens, claims  JWT\n                continued prose\n"
    assert mapped(text) == {"api", "tokens", "claims"}
