"""Configuration: schema validation with defaults, readable errors, the sweep's run ids, a stable hash.

Imported by the Snakefile at parse time, so it must stay light: stdlib, yaml and jsonschema only.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import re
from pathlib import Path

import yaml

from selgen.methods.registry import METHODS, check_hparams


class ConfigError(ValueError):
    """A configuration problem; the message names the key."""


def _with_defaults(validator_class):
    """A validator that fills in ``default`` values of missing properties while it validates.

    jsonschema leaves defaults alone by design; this is its documented extension recipe.
    """
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                default = sub.get("default")
                if default is None and "$ref" in sub:
                    default = validator._resolver.lookup(sub["$ref"]).contents.get("default")  # noqa: SLF001
                if name not in instance and default is not None:
                    instance[name] = copy.deepcopy(default)
                elif sub.get("x-merge-default") and isinstance(instance.get(name), dict):
                    instance[name] = {**default, **instance[name]}  # a partial entry keeps the other defaults
        yield from validate_properties(validator, properties, instance, schema)

    from jsonschema import validators

    return validators.extend(validator_class, {"properties": set_defaults})


def validate(config: dict, schema_path: str | Path) -> dict:
    """Validate ``config`` in place against the YAML schema, fill defaults, and check the method sweeps.

    The config's ``plugins`` are loaded first: the registries (methods, settings) are the one list of valid
    names, and a plug-in setting brings the schema of its block (``Setting.schema``)."""
    import jsonschema

    from selgen.plugins import load_plugins
    from selgen.settings import settings

    try:
        load_plugins(config.get("plugins", []))
    except ValueError as err:
        raise ConfigError(f"config key plugins: {err}") from None
    known = settings()
    schema = yaml.safe_load(Path(schema_path).read_text())
    schema["definitions"]["methods"]["propertyNames"] = {"enum": list(METHODS)}
    schema["properties"]["settings"]["items"]["enum"] = list(known)
    for name, setting in known.items():
        if name not in schema["properties"]:
            if setting.schema is None:
                raise ConfigError(
                    f"setting {name!r}: a plug-in setting needs a `schema` for its config block"
                )
            schema["properties"][name] = setting.schema
    validator = _with_defaults(jsonschema.Draft7Validator)(schema)
    # Validate twice: the first pass fills defaults, the second reports errors against the filled config.
    list(validator.iter_errors(config))
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(e.path), list(map(str, e.path))))
    if errors:
        raise ConfigError("\n".join(_describe(e) for e in errors[:5]))
    for setting in config["settings"]:
        if setting not in config:
            raise ConfigError(f"config key {setting!r}: setting listed under 'settings' but has no block")
        base = config[setting].get("base", {})
        if base.get("stage") and base.get("model") == "mini":
            raise ConfigError(
                f"config key {setting}.base.stage: a base stage starts from a hub model or a local folder, "
                'but base.model is "mini" (the mini base is pretrained by rule base instead)'
            )
        for method, sweep in config[setting]["methods"].items():
            for hp in sweep_points(sweep):
                try:
                    check_hparams(method, hp, f"config key {setting}.methods.{method}", setting)
                except ValueError as err:
                    raise ConfigError(str(err)) from None
        if known[setting].check_config is not None:
            try:
                known[setting].check_config(config[setting])
            except ValueError as err:
                raise ConfigError(str(err)) from None
    for rule, job in config.get("resources", {}).items():
        if job.get("gpu_model") and not job["gpu"]:
            raise ConfigError(f"config key resources.{rule}.gpu_model: set, but {rule} asks for gpu: 0")
    return config


def _describe(err) -> str:
    key = ".".join(str(p) for p in err.absolute_path) or "(top level)"
    if err.validator == "enum":
        what = "unknown name" if "propertyNames" in err.schema_path else "invalid value"
        valid = ", ".join(map(str, err.validator_value))
        return f"config key {key}: {what} {err.instance!r}; valid: {valid}"
    return f"config key {key}: {err.message}"


def load_config(path: str | Path, schema_path: str | Path) -> dict:
    config = yaml.safe_load(Path(path).read_text()) or {}
    return validate(config, schema_path)


# ------------------------------------------------------------------------------------------------ the sweep
def sweep_points(sweep: dict) -> list[dict]:
    """Expand a method's sweep block into hyper-parameter dicts (grid product, or explicit ``points``; a
    point's ``name`` is its figure label, not a hyper-parameter: ``point_names``)."""
    if "points" in sweep:
        points = [{k: v for k, v in p.items() if k != NAME_KEY} for p in sweep["points"]]
    else:
        keys = sorted(sweep)
        points = [dict(zip(keys, vals, strict=True)) for vals in itertools.product(*(sweep[k] for k in keys))]
    unique = {hp_label(p): p for p in reversed(points)}  # a repeated point is one run (seeds repeat runs)
    return [p for p in points if unique.get(hp_label(p)) is p]


NAME_KEY = "name"  # an explicit sweep point's own label in figures


def point_names(config: dict, setting: str) -> dict[str, dict[str, str]]:
    """method -> hp label -> the short name figures show for that sweep point: the point's ``name`` where
    the config gives one, else ``point_name`` of its hyper-parameters."""
    out: dict[str, dict[str, str]] = {}
    for method, sweep in config[setting]["methods"].items():
        given = {}
        for point in sweep.get("points", []):
            if NAME_KEY in point:
                given[hp_label({k: v for k, v in point.items() if k != NAME_KEY})] = str(point[NAME_KEY])
        out[method] = {hp_label(hp): given.get(hp_label(hp)) or point_name(hp) for hp in sweep_points(sweep)}
    return out


def point_name(hp: dict, words: int = 3) -> str:
    """A short human label: ``beta=10``; free text by its first words (``“Always agree with…”``, never a
    hash); several hyper-parameters by their values (``objects·5``)."""
    if not hp:
        return "default"

    def value(v) -> str:
        if isinstance(v, str) and not re.fullmatch(r"[A-Za-z0-9._-]{1,32}", v):
            head = v.split()
            return "“" + " ".join(head[:words]) + ("…" if len(head) > words else "") + "”"
        return _fmt(v)

    if len(hp) == 1:
        ((key, v),) = hp.items()
        return value(v) if isinstance(v, str) else f"{key}={value(v)}"
    return "·".join(value(hp[k]) for k in sorted(hp))


def hp_label(hp: dict) -> str:
    """The path-safe label of a sweep point: "default", or "lam=0.5" / "beta=0.1,layers=2" (sorted keys)."""
    if not hp:
        return "default"
    return ",".join(f"{k}={_fmt(hp[k])}" for k in sorted(hp))


def parse_hp_label(label: str) -> dict[str, str]:
    """The inverse of ``hp_label`` for its simple values (as strings; hashed free text stays hashed)."""
    if label == "default":
        return {}
    return dict(part.split("=", 1) for part in label.split(","))


def _fmt(v) -> str:
    if isinstance(v, float):
        return repr(v) if v != int(v) else f"{v:.1f}"
    text = str(v)
    if re.fullmatch(r"[A-Za-z0-9._-]{1,32}", text):
        return text
    # free text (an inoculation prompt, say) would make an unwieldy path: label it by a content hash
    return "h" + hashlib.sha256(text.encode()).hexdigest()[:8]


def seeds_of(config: dict, setting: str) -> list[int]:
    """A setting's training seeds: its own ``seeds`` key, else the top-level ``seeds``."""
    return config[setting].get("seeds") or config["seeds"]


def runs(config: dict, setting: str) -> list[dict]:
    """Every training run of a setting: {method, hp (label), hp_values, seed}."""
    out = []
    for method, sweep in config[setting]["methods"].items():
        for hp in sweep_points(sweep):
            for seed in seeds_of(config, setting):
                out.append({"method": method, "hp": hp_label(hp), "hp_values": hp, "seed": seed})
    return out


def config_hash(config) -> str:
    """First 16 hex characters of the sha256 of the canonical JSON of ``config`` (sorted keys, no spaces)."""
    canon = json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canon.encode("utf-8")).hexdigest()[:16]
