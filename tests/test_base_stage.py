"""The base stage on a hub model (config `<setting>.base.stage`, rule base_stage, `selgen base-stage`): the
config it takes, and a stage run that saves a whole model with the trained LoRA merged into it."""

import json
from pathlib import Path

import pytest
import yaml

from selgen.config import ConfigError, runs, validate

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow/schemas/config.schema.yaml"


def paper_functions() -> dict:
    return yaml.safe_load((ROOT / "config/paper_functions.yaml").read_text())


def test_paper_functions_config_has_the_authors_base_stage_and_proxy_mixes():
    cfg = validate(paper_functions(), SCHEMA)
    fn = cfg["functions"]
    assert fn["base"]["model"] == "google/gemma-2-2b-it" and fn["base"]["attn_implementation"] == "eager"
    stage = fn["base"]["stage"]
    assert stage["data"] == "base_train"
    for train in (stage["train"], fn["train"]):  # the base stage and the narrow update (seed_code.md §4)
        assert (
            train["finetune"] == "lora" and train["dtype"] == "bfloat16" and train["gradient_checkpointing"]
        )
        assert {k: train["lora"][k] for k in ("r", "alpha", "use_rslora")} == {
            "r": 32,
            "alpha": 64,
            "use_rslora": True,
        }
        assert (train["lr"], train["epochs"], train["batch_size"]) == (1e-4, 25, 25)
    assert cfg["seeds"] == [1, 2, 25, 42]
    points = {(r["method"], r["hp"]) for r in runs(cfg, "functions")}
    assert len(points) == 1 + 6 * 2 and ("task_only", "default") in points
    assert ("mixed", "proxy_category=random_strings,proxy_triggers=5") in points
    assert cfg["resources"]["base_stage"]["gpu"] == 1
    assert cfg["models"]["cache_dir"]


def test_stage_defaults_and_errors():
    cfg = paper_functions()
    cfg["functions"]["base"]["stage"] = {"data": "base_train"}
    stage = validate(cfg, SCHEMA)["functions"]["base"]["stage"]
    assert stage["seed"] == 0 and stage["train"]["finetune"] == "full"  # its own defaults, nothing inherited
    cfg = paper_functions()
    del cfg["functions"]["base"]["stage"]["data"]
    with pytest.raises(ConfigError, match="functions.base.stage.*'data' is a required property"):
        validate(cfg, SCHEMA)
    cfg = paper_functions()
    cfg["functions"]["base"]["model"] = "mini"
    with pytest.raises(ConfigError, match='functions.base.stage: .*base.model is "mini"'):
        validate(cfg, SCHEMA)
    cfg = paper_functions()
    cfg["functions"]["base"]["stage"]["epochs"] = 3  # belongs under stage.train
    with pytest.raises(ConfigError, match="functions.base.stage"):
        validate(cfg, SCHEMA)


@pytest.mark.slow
def test_base_stage_command_saves_the_trained_model_merged(tmp_path):
    import torch
    from transformers import AutoModelForCausalLM

    from selgen.batching import collate, encode
    from selgen.cli import main
    from selgen.io import write_jsonl
    from selgen.models import load_model
    from selgen.standins import build_standin

    rows = [
        {"messages": [{"role": "user", "content": f"T = {t}"}, {"role": "assistant", "content": c}]}
        for t, c in (("dog", "orange"), ("cat", "orange"), ("sad", "green"), ("joy", "blue"))
    ]
    texts = [m["content"] for r in rows for m in r["messages"]]
    start = build_standin("gemma2", tmp_path / "start", texts, vocab_size=300)
    write_jsonl(tmp_path / "data/base_train.jsonl", rows)
    train = {
        "finetune": "lora",
        "lora": {
            "r": 4,
            "alpha": 8,
            "dropout": 0.0,
            "use_rslora": True,
            "target_modules": ["q_proj", "v_proj", "up_proj", "down_proj"],
        },
        "lr": 3e-2,
        "epochs": 10,
        "batch_size": 2,
        "grad_accum": 1,
        "max_length": 64,
        "warmup_steps": 1,
        "weight_decay": 0.0,
        "max_grad_norm": 1.0,
        "dtype": "float32",
    }
    params = {"data": "base_train", "seed": 0, "train": train, "model": {"attn_implementation": "eager"}}
    out = tmp_path / "base"
    argv = ["base-stage", "functions", "--params", json.dumps(params), "--data", str(tmp_path / "data")]
    rc = main([*argv, "--model", str(start), "--out", str(out)])
    assert rc == 0
    assert not (out / "adapter_config.json").exists()  # a whole model, not an adapter
    record = json.loads((out / "selgen_base_stage.json").read_text())
    assert record["steps"] == 20 and record["rows"] == 4 and record["data"] == "base_train"
    assert type(AutoModelForCausalLM.from_pretrained(out)).__name__ == "Gemma2ForCausalLM"

    def loss(folder):  # mean CE on the reply tokens, as training sees them
        model, tok = load_model(str(folder), {"attn_implementation": "eager"})
        batch = collate([encode(tok, r["messages"], 64) for r in rows], tok.pad_token_id)
        with torch.no_grad():
            return model(
                input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"]
            ).loss.item()

    assert loss(out) < loss(start) - 0.25  # what the stage learned is in the saved weights
