"""Training methods as plug-ins of the one training loop. ``make_method(name, hp)`` builds one."""

from __future__ import annotations

import importlib

from selgen.methods.registry import METHODS, check_hparams


def make_method(name: str, hp: dict):
    """Instantiate method ``name`` with hyper-parameters ``hp`` (train overrides such as epochs are
    handled by the caller)."""
    check_hparams(name, hp, "method")
    spec = METHODS[name]
    module = importlib.import_module(spec.module)
    cls = module.PLUGINS[name]
    kwargs = {k: v for k, v in hp.items() if k in spec.required or k in spec.optional}
    return cls(**kwargs)
