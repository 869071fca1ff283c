"""Config validation: defaults, readable errors, the derived sweep."""

import copy
import math
from pathlib import Path

import pytest
import yaml

from selgen.config import ConfigError, hp_label, runs, sweep_points, validate
from selgen.methods.registry import METHODS

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow/schemas/config.schema.yaml"
MINI = yaml.safe_load((ROOT / "config/config.yaml").read_text())


def test_default_config_is_valid_and_filled():
    cfg = validate(copy.deepcopy(MINI), SCHEMA)
    lora = cfg["gcd"]["train"]["lora"]
    assert lora["r"] == 16 and lora["use_rslora"] is True  # a default filled in beside given keys
    assert cfg["gcd"]["eval"]["sets"]["ood"] == "ood_eval"


def test_minimal_config_gets_defaults():
    cfg = validate({"gcd": {}}, SCHEMA)
    assert cfg["seeds"] == [1, 2, 3] and cfg["gcd"]["data"]["n_task_train"] == 300


def test_wrong_type_names_the_key():
    cfg = copy.deepcopy(MINI)
    cfg["gcd"]["train"]["lr"] = "fast"
    with pytest.raises(ConfigError, match=r"gcd\.train\.lr.*'fast' is not of type 'number'"):
        validate(cfg, SCHEMA)


def test_unknown_method_lists_valid_ones():
    cfg = copy.deepcopy(MINI)
    cfg["gcd"]["methods"]["magic"] = {}
    valid = (
        "task_only, mixed, upweight, kl, repr, grad_proj, dpo, inoculation, safe_lora, steer, caft, o_lora, "
        "realign, interleave"
    )
    with pytest.raises(ConfigError, match=rf"gcd\.methods.*'magic'.*valid: {valid}"):
        validate(cfg, SCHEMA)


def test_unknown_or_missing_hyperparameter():
    cfg = copy.deepcopy(MINI)
    cfg["gcd"]["methods"]["upweight"] = {"lambda": [1.0]}
    with pytest.raises(ConfigError, match=r"gcd\.methods\.upweight.*needs hyper-parameter\(s\) lam"):
        validate(cfg, SCHEMA)
    cfg["gcd"]["methods"]["upweight"] = {"lam": [1.0], "beta": [2]}
    with pytest.raises(ConfigError, match=r"no hyper-parameter\(s\) beta"):
        validate(cfg, SCHEMA)


def test_unknown_key_is_rejected():
    cfg = copy.deepcopy(MINI)
    cfg["gcd"]["train"]["learning_rate"] = 0.1
    with pytest.raises(ConfigError, match=r"gcd\.train.*learning_rate"):
        validate(cfg, SCHEMA)


def test_sweep_expansion_and_labels():
    assert sweep_points({}) == [{}]
    assert sweep_points({"b": [1, 2], "a": ["x"]}) == [{"a": "x", "b": 1}, {"a": "x", "b": 2}]
    assert sweep_points({"points": [{"lam": 0.1, "epochs": 1}]}) == [{"lam": 0.1, "epochs": 1}]
    assert hp_label({}) == "default"
    assert hp_label({"lam": 0.3, "epochs": 2}) == "epochs=2,lam=0.3"
    assert hp_label({"lam": 1.0}) == "lam=1.0"
    cfg = validate(copy.deepcopy(MINI), SCHEMA)
    rr = runs(cfg, "gcd")

    def n_points(sweep):
        return len(sweep["points"]) if "points" in sweep else math.prod(len(v) for v in sweep.values())

    assert len(rr) == sum(n_points(s) for s in MINI["gcd"]["methods"].values()) * len(cfg["seeds"])
    assert set(MINI["gcd"]["methods"]) == set(METHODS)  # the mini default sweeps every method
    assert len({(r["method"], r["hp"], r["seed"]) for r in rr}) == len(rr)
