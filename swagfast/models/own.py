"""A user's own model: ``FILE.py:FACTORY`` or ``package.module:FACTORY`` specs, with their
preprocessing, class names and CAM layer (given, returned by the factory, or found)."""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.util
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
FACTORY_KEYS = ("model", "size", "mean", "std", "class_names", "layer", "frames", "fit")


def is_factory_spec(name: str) -> bool:
    """Whether ``name`` names a factory (``FILE.py:FACTORY``, ``package.module:FACTORY``)
    rather than an embedded model or ``torchvision:NAME``."""
    left, sep, right = name.rpartition(":")
    return bool(sep and left and right) and not name.startswith("torchvision:")


@contextlib.contextmanager
def _importable(folder: Path) -> Iterator[None]:
    """``folder`` first on ``sys.path`` during the block (a user's file importing its
    neighbours; a console script does not have the working directory there)."""
    entry = str(folder)
    added = entry not in sys.path
    if added:
        sys.path.insert(0, entry)
    try:
        yield
    finally:
        if added and entry in sys.path:
            sys.path.remove(entry)


def _module(where: str, spec: str):
    if where.endswith(".py") or "/" in where or "\\" in where:
        path = Path(where).expanduser()
        if not path.is_file():
            raise ValueError(f"model {spec!r}: no such file {str(path)!r}")
        name = "swagfast_user_model_" + hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]
        loader_spec = importlib.util.spec_from_file_location(name, path)
        if loader_spec is None or loader_spec.loader is None:
            raise ValueError(f"model {spec!r}: {str(path)!r} cannot be imported as a Python file")
        module = importlib.util.module_from_spec(loader_spec)
        with _importable(path.resolve().parent):
            try:
                loader_spec.loader.exec_module(module)
            except Exception as err:
                raise ValueError(
                    f"model {spec!r}: importing {path} raised {type(err).__name__}: {err}"
                ) from err
        return module
    with _importable(Path.cwd()):
        try:
            return importlib.import_module(where)
        except ImportError as err:
            raise ValueError(f"model {spec!r}: cannot import {where!r} ({err})") from err


def call_factory(spec: str) -> object:
    """Import ``spec``'s module and return what its factory gives: the attribute itself when it
    is an ``nn.Module``, else the result of calling it without arguments."""
    where, _, attr = spec.rpartition(":")
    module = _module(where, spec)
    if not hasattr(module, attr):
        public = sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_"))
        raise ValueError(
            f"model {spec!r}: {where} has no {attr!r}; it defines {', '.join(public) or 'nothing callable'}"
        )
    factory = getattr(module, attr)
    if isinstance(factory, nn.Module):
        return factory
    if not callable(factory):
        raise ValueError(
            f"model {spec!r}: {attr} must be a function, a class or an nn.Module, "
            f"got {type(factory).__name__}"
        )
    try:
        return factory()
    except Exception as err:
        raise ValueError(f"model {spec!r}: calling {attr}() raised {type(err).__name__}: {err}") from err


def factory_fields(result: object, spec: str) -> dict:
    """What a factory returned as a dict of :data:`FACTORY_KEYS` (``model`` always there)."""
    if isinstance(result, nn.Module):
        return {"model": result}
    if isinstance(result, dict):
        unknown = sorted(set(result) - set(FACTORY_KEYS))
        if unknown:
            raise ValueError(
                f"model {spec!r}: the factory's dict has unknown keys {unknown}; "
                f"it may hold {', '.join(FACTORY_KEYS)}"
            )
        if not isinstance(result.get("model"), nn.Module):
            got = type(result.get("model")).__name__
            raise ValueError(
                f"model {spec!r}: the factory's dict must hold an nn.Module under 'model', got {got}"
            )
        return dict(result)
    raise ValueError(
        f"model {spec!r}: the factory must return an nn.Module or a dict with 'model' (and optionally "
        f"{', '.join(FACTORY_KEYS[1:])}); got {type(result).__name__}"
    )


def load_weights(model: nn.Module, weights: str | Path) -> None:
    """Load a state-dict file into ``model`` (strict), errors as ValueError naming the file."""
    path = Path(weights).expanduser()
    if not path.is_file():
        raise ValueError(f"weights: no such file {str(path)!r}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ValueError(
            f"weights {str(path)!r} is not a torch state-dict file ({type(err).__name__}: {err})"
        ) from err
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):  # a training checkpoint
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"weights {str(path)!r} must hold a state dict, got {type(state).__name__}")
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise ValueError(f"weights {str(path)!r} do not fit the model: {err}") from err


def read_class_names(path: str | Path) -> tuple[str, ...]:
    """Class names from a file: a JSON list, or one name per line."""
    p = Path(path).expanduser()
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"classes: cannot read {str(p)!r} ({err})") from err
    if text.lstrip().startswith("["):
        try:
            names = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"classes: {str(p)!r} is not a JSON list ({err})") from err
        if not all(isinstance(n, str) for n in names):
            raise ValueError(f"classes: {str(p)!r} must be a JSON list of strings")
        return tuple(names)
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def probe_input(model: nn.Module, size: int, frames: int | None) -> torch.Tensor:
    """A seeded example input of the model's shape on its device (layer finding, class count)."""
    try:
        device = next(model.parameters()).device
    except StopIteration:
        device = torch.device("cpu")
    shape = (1, 3, frames, size, size) if frames else (1, 3, size, size)
    gen = torch.Generator().manual_seed(0)
    return torch.randn(shape, generator=gen).to(device)


def class_count(model: nn.Module, x: torch.Tensor, spec: str) -> int:
    """The number of classes of ``model``'s (B, classes) output on ``x`` (ValueError otherwise)."""
    try:
        with torch.no_grad():
            out = model(x)
    except Exception as err:
        raise ValueError(
            f"model {spec!r} failed on an input of shape {tuple(x.shape)} ({type(err).__name__}: {err}); "
            "give the input size it takes (--size / size=)"
        ) from err
    if not isinstance(out, torch.Tensor) or out.ndim != 2:
        got = f"shape {tuple(out.shape)}" if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(f"model {spec!r} must return (batch, classes) scores, got {got}")
    return int(out.shape[1])


def check_class_names(names: Sequence[str] | None, n: int, spec: str) -> tuple[str, ...]:
    if names is None:
        return tuple(f"class {i}" for i in range(n))
    names = tuple(str(c) for c in names)
    if len(names) != n:
        raise ValueError(f"model {spec!r} has {n} classes, but {len(names)} class names were given")
    return names
