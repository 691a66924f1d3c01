"""``jikimi.domain`` re-exports exactly the public names of its modules, from one base.

A type added to a module of the domain but not to ``__all__`` (or an ``__all__``
entry whose type moved away) fails here, so ``from jikimi.domain import X`` keeps
working for every public value type and nothing stale lingers in the surface.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from types import ModuleType

from pydantic import BaseModel

import jikimi.domain
from jikimi.domain.base import Frozen


def _modules() -> list[ModuleType]:
    names = [m.name for m in pkgutil.iter_modules(jikimi.domain.__path__)]
    assert {"base", "verdict", "banks", "tenancy"} <= set(names)
    return [importlib.import_module(f"jikimi.domain.{n}") for n in sorted(names)]


def _public(module: ModuleType) -> set[str]:
    """Names a module defines itself (not imports), without a leading underscore."""
    assigned = r"^([A-Za-z][A-Za-z0-9_]*)\s*(?::[^=\n]*)?=\s"  # constants, Annotated types
    constants = set(re.findall(assigned, inspect.getsource(module), re.M))
    out: set[str] = set()
    for name, value in vars(module).items():
        if name.startswith("_"):
            continue
        if inspect.isclass(value) or inspect.isfunction(value):
            if value.__module__ == module.__name__:  # not imported from a sibling or a library
                out.add(name)
        elif name in constants:
            out.add(name)
    return out


def test_all_matches_the_public_names_of_the_modules() -> None:
    defined: dict[str, str] = {}
    for module in _modules():
        for name in _public(module):
            assert name not in defined, f"{name} defined in {defined.get(name)} and {module}"
            defined[name] = module.__name__
    exported = set(jikimi.domain.__all__)
    assert len(exported) == len(jikimi.domain.__all__), "duplicates in __all__"
    assert exported == set(defined), (
        f"missing from __all__: {sorted(set(defined) - exported)}; "
        f"stale in __all__: {sorted(exported - set(defined))}"
    )
    for name in exported:
        module = importlib.import_module(defined[name])
        assert getattr(jikimi.domain, name) is getattr(module, name)


def test_every_value_model_derives_from_the_one_frozen_base() -> None:
    models = [
        value
        for module in _modules()
        for value in vars(module).values()
        if inspect.isclass(value)
        and issubclass(value, BaseModel)
        and value.__module__ == module.__name__
        and value is not Frozen
    ]
    assert len(models) > 20
    for model in models:
        assert issubclass(model, Frozen), model
        assert model.model_config.get("frozen") is True, model
        assert model.model_config.get("extra") == "forbid", model
