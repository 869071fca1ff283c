"""The settings registry: every ``selgen.settings.<name>`` package that defines ``SETTING`` (a
``selgen.settings.core.Setting``), plus settings that plug-ins register (``selgen.plugins``).

Light on purpose (the Snakefile imports it at parse time): a setting's heavy code is imported when used.
"""

from __future__ import annotations

import importlib
import pkgutil

from selgen.io import InputError
from selgen.settings.core import Axis, Check, Floor, Setting, lazy

__all__ = ["Axis", "Check", "Floor", "Setting", "get_setting", "lazy", "register", "settings"]

_REGISTRY: dict[str, Setting] = {}
_builtins_loaded = False


def _load_builtins() -> None:
    global _builtins_loaded
    if _builtins_loaded:
        return
    _builtins_loaded = True
    for info in pkgutil.iter_modules(__path__):
        if info.ispkg:
            setting = getattr(importlib.import_module(f"{__name__}.{info.name}"), "SETTING", None)
            if isinstance(setting, Setting):
                register(setting)


def register(setting: Setting) -> Setting:
    """Add a setting (a plug-in's); a second setting under a taken name is an error."""
    if not isinstance(setting, Setting):
        raise TypeError(f"register() takes a selgen.settings.Setting, not {type(setting).__name__}")
    known = _REGISTRY.get(setting.name)
    if known is not None and known is not setting:
        raise ValueError(f"setting {setting.name!r} is registered twice")
    _REGISTRY[setting.name] = setting
    return setting


def settings() -> dict[str, Setting]:
    """Every known setting by name (built-ins and registered plug-ins)."""
    _load_builtins()
    return dict(_REGISTRY)


def get_setting(name: str) -> Setting:
    known = settings()
    if name not in known:
        raise InputError(f"unknown setting {name!r}; valid settings: {', '.join(sorted(known))}")
    return known[name]
