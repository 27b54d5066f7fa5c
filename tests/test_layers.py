"""The package's layering: each part of ``swagfast`` imports only the parts below it in
``docs/ARCHITECTURE.md``'s order (at module level and inside functions alike), so no import
cycle can form and the low layers never depend on the explainers built on them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[1] / "swagfast"

# bottom to top; a part may import itself and any part before it
LAYERS = [
    "_validate",
    "_C",
    "_C_cuda",
    "_native",
    "kernels",
    "_backend",
    "_overlap",
    "viz",
    "baselines",
    "superpixels",
    "patches",
    "data",
    "attribution",
    "explainers",
    "models",
    "metrics",
    "failure",
    "api",
    "swagfast",  # the package's own namespace (``from swagfast import SWAG``)
    "testing",
    "_fuzz",
    "cli",
]


def part_of(module: str) -> str:
    parts = module.split(".")
    return "swagfast" if len(parts) == 1 else parts[1]


def imports(path: Path):
    """(line, imported part) for every swagfast import in the file."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "swagfast":
            if node.module == "swagfast":  # a submodule by name, or a name of the package
                for a in node.names:
                    sub = SOURCE / a.name
                    known = a.name in ("_C", "_C_cuda") or sub.is_dir() or sub.with_suffix(".py").exists()
                    yield node.lineno, a.name if known else "swagfast"
            else:
                yield node.lineno, part_of(node.module)
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "swagfast":
                    yield node.lineno, part_of(a.name)


def test_every_import_runs_down_the_layers():
    if not SOURCE.is_dir():
        pytest.skip("the swagfast sources are not next to the tests")
    rank = {name: i for i, name in enumerate(LAYERS)}
    wrong = []
    for path in sorted(SOURCE.rglob("*.py")):
        rel = path.relative_to(SOURCE.parent).with_suffix("")
        module = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        here = part_of(module)
        assert here in rank, f"{module}: add its part to LAYERS and to docs/ARCHITECTURE.md"
        for line, target in imports(path):
            assert target in rank, f"{path}:{line} imports {target}, which LAYERS does not place"
            if target != here and rank[target] > rank[here]:
                wrong.append(
                    f"{path.relative_to(SOURCE.parent)}:{line}: {here} imports {target}, a layer above it"
                )
    assert not wrong, "\n".join(wrong)


def test_the_architecture_document_lists_the_layers_in_this_order():
    doc = (SOURCE.parent / "docs" / "ARCHITECTURE.md").read_text()
    places = [
        doc.find(f"swagfast/{name}") for name in LAYERS if not name.startswith("_C") and name != "swagfast"
    ]
    assert -1 not in places and places == sorted(places), "docs/ARCHITECTURE.md lists the parts out of order"
