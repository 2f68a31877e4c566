"""Policy plug-ins: one module per reform, registered by name.

Scenario files switch a policy on with a ``[policies.<name>]`` table whose keys are that
policy's parameters. ``register`` adds a policy class (a notebook can register its own).
"""

from __future__ import annotations

from collections.abc import Iterable

from sim.core.phases import Policy

_REGISTRY: dict[str, type[Policy]] = {}

#: Built-in policies: name -> module under sim.policies, imported on first use (no import-time
#: side effects, and a broken optional policy cannot break the core).
_BUILTIN: dict[str, str] = {
    "grid": "grid",
    "street_empowerment": "street_empowerment",
    "whistle": "whistle",
    "alliance": "alliance",
    "micro_projects": "micro_projects",
    "four_empowerments": "four_empowerments",
    "one_core_many": "one_core_many",
}


def register(cls: type[Policy]) -> type[Policy]:
    """Register a policy class under ``cls.name``; usable as a decorator."""
    if not cls.name:
        raise ValueError(f"policy class {cls.__name__} has no name")
    _REGISTRY[cls.name] = cls
    return cls


def builtin() -> tuple[str, ...]:
    """Names of the policies shipped with govsim, in a fixed order."""
    return tuple(_BUILTIN)


def available() -> tuple[str, ...]:
    """Names of all policies a scenario may use."""
    return tuple(sorted(set(_REGISTRY) | set(_BUILTIN)))


def get(name: str) -> type[Policy]:
    """Return the policy class registered as ``name``; KeyError naming the choices otherwise."""
    if name not in _REGISTRY and name in _BUILTIN:
        import importlib

        importlib.import_module(f"{__name__}.{_BUILTIN[name]}")
    if name not in _REGISTRY:
        allowed = ", ".join(available()) or "(none registered)"
        raise KeyError(f"unknown policy {name!r}; allowed: {allowed}")
    return _REGISTRY[name]


def defining_modules(names: Iterable[str]) -> tuple[str, ...]:
    """Modules a fresh worker process must import so that the policies ``names`` are registered.

    Built-in policies need none (they load on first use). A policy class defined in ``__main__``
    (a notebook or a script) cannot be imported by another process: ``ValueError`` naming it.
    """
    out: list[str] = []
    for name in names:
        module = get(name).__module__
        if module.startswith(__name__ + "."):
            continue
        if module == "__main__":
            raise ValueError(f"policy {name!r} is defined in __main__ (a notebook or a script), which worker "
                             f"processes cannot import: run with workers=1, or define it in a module")
        if module not in out:
            out.append(module)
    return tuple(out)


def import_modules(modules: Iterable[str]) -> None:
    """Import ``modules`` (from :func:`defining_modules`), registering the policies they define."""
    import importlib

    for module in modules:
        importlib.import_module(module)
