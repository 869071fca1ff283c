"""Plug-ins: settings and methods defined outside the package (a research project's own, or a test's).

A plug-in is a Python module — an importable name (``mylab.selgen_tasks``) or a ``.py`` file path — that
registers what it defines when imported: ``selgen.settings.register(Setting(...))`` for a setting,
``selgen.methods.registry.register(name, MethodSpec(__name__, ...))`` for a method (its class in the
module's ``PLUGINS`` dict, as built-in methods). The workflow loads the config's ``plugins`` at parse time and
hands them to every ``selgen`` command (``selgen --plugins A,B ...``), so jobs see the same registry.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

from selgen.io import InputError

_loaded: dict[str, str] = {}  # plug-in as given -> module name


def plugin_module_name(path: Path) -> str:
    return f"selgen_plugin_{path.stem}"


def load_plugins(plugins) -> list[str]:
    """Import each plug-in once (a list, or a comma-separated string); returns their module names."""
    if isinstance(plugins, str):
        plugins = [p for p in plugins.split(",") if p]
    names = []
    for plugin in plugins or []:
        if plugin not in _loaded:
            _loaded[plugin] = _import(plugin)
        names.append(_loaded[plugin])
    return names


def _import(plugin: str) -> str:
    if not plugin.endswith(".py"):
        try:
            importlib.import_module(plugin)
        except ImportError as err:
            raise InputError(f"plug-in {plugin!r}: cannot import it ({err})") from None
        return plugin
    path = Path(plugin).resolve()
    if not path.is_file():
        raise InputError(f"plug-in {plugin!r}: no such file")
    name = plugin_module_name(path)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # so that its methods' MethodSpec(__name__) can be imported by name
    spec.loader.exec_module(module)
    return name


def command_option(plugins) -> str:
    """The ``selgen`` option that loads the same plug-ins in a job (file paths made absolute)."""
    if not plugins:
        return ""
    paths = [str(Path(p).resolve()) if p.endswith(".py") else p for p in plugins]
    return "--plugins " + ",".join(paths)
