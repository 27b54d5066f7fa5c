"""Write docs/API.md, the API reference, from the docstrings of swagfast's public names.

    python docs/make_api.py          # rewrite docs/API.md
    python docs/make_api.py --check  # exit 1 when docs/API.md is not what the code gives

A test runs the check, so the reference cannot drift from the code.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from pathlib import Path

# the modules users import, and the public names of each (their __all__)
MODULES = [
    ("swagfast", "The top level: explain, the explainers, the native ops, backends."),
    ("swagfast.models", "Loading models: the embedded ones, torchvision's, your own."),
    ("swagfast.attribution", "Per-pixel attributions: vanilla and guided gradients, layers."),
    ("swagfast.metrics", "Judging explanations: deletion / insertion, localisation, faithfulness."),
    ("swagfast.failure", "Explaining failure: filter scores, FilterStats, surprise and expectation."),
    ("swagfast.data", "Sample photos, composites, synthetic clips, reading and writing videos."),
    ("swagfast.viz", "Pictures: overlays, borders, figures, the HTML gallery."),
]
OUT = Path(__file__).resolve().parent / "API.md"


def _signature(obj) -> str:
    try:
        return str(inspect.signature(obj))
    except (TypeError, ValueError):
        return "(...)"


def _doc(obj) -> str:
    return inspect.getdoc(obj) or "(no docstring)"


def _entry(name: str, obj) -> list[str]:
    if inspect.isclass(obj):
        lines = [f"### class `{name}{_signature(obj)}`", "", _doc(obj), ""]
        for attr, member in sorted(vars(obj).items()):
            if attr.startswith("_") and attr != "__call__":
                continue
            fn = member.fget if isinstance(member, property) else member
            fn = getattr(fn, "__func__", fn)
            if not callable(fn) or not inspect.getdoc(fn):
                continue
            sig = "" if isinstance(member, property) else _signature(fn)
            lines += [f"* `{name}.{attr}{sig}`", "", "  " + _doc(fn).replace("\n", "\n  "), ""]
        return lines
    if callable(obj):
        return [f"### `{name}{_signature(obj)}`", "", _doc(obj), ""]
    return []  # constants are documented where they are defined


def render() -> str:
    out = [
        "# API reference",
        "",
        "Generated from the docstrings by `python docs/make_api.py`; do not edit by hand.",
        "The methods' formulas are in [METHODS.md](METHODS.md).",
        "",
    ]
    for module_name, summary in MODULES:
        module = importlib.import_module(module_name)
        out += [f"## `{module_name}`", "", summary, ""]
        for name in sorted(getattr(module, "__all__", [])):
            obj = getattr(module, name)
            if inspect.ismodule(obj):
                continue
            out += _entry(f"{module_name}.{name}", obj)
    return "\n".join(out).rstrip() + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not OUT.exists() or OUT.read_text() != text:
            print(f"{OUT} is out of date: run python docs/make_api.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT} ({len(text.splitlines())} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
