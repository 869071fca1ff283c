"""Training methods as plug-ins of the one training loop. ``make_method(name, hp, inputs=, seed=)`` builds
one, complete: its hyper-parameters, the run's DAG inputs and its seed all go through the constructor (the
interface: ``selgen.methods.base``)."""

from __future__ import annotations

import importlib

from selgen.methods.registry import METHODS, check_hparams


def make_method(
    name: str, hp: dict, setting: str | None = None, *, inputs: dict | None = None, seed: int = 0
):
    """Instantiate method ``name`` with hyper-parameters ``hp`` (train overrides such as epochs, and the
    setting's data hyper-parameters, are handled by the caller), the run's DAG ``inputs`` ("base", and by
    the name its ``MethodSpec`` gives them: "artifact", file and model hyper-parameters; paths) and the
    run's ``seed``."""
    check_hparams(name, hp, "method", setting)
    spec = METHODS[name]
    module = importlib.import_module(spec.module)
    cls = module.PLUGINS[name]
    kwargs = {k: v for k, v in hp.items() if k in spec.required or k in spec.optional}
    return cls(**kwargs, inputs=inputs, seed=seed)
