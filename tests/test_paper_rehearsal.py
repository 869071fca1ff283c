"""Paper rehearsal: each paper config through Snakemake end to end on CPU, with the hub models swapped for
tiny random-weight stand-ins of the same families (Qwen3 for em, Gemma for gcd: their templates, special
tokens, generation configs), fetched through rule fetch_model from local folders (`models.sources`), and the
em judge on a server on 127.0.0.1. Only sizes shrink (rows, steps, tokens, one seed, the first point of every
method); the models, templates, dtype, LoRA, gradient checkpointing and every rule stay as the paper config
has them.

Checked: every planned job ran; training labels start where evaluation prompts end; replies hold no turn
markers and stop at the end-of-turn token; evaluation ran in the training dtype; the hub ids (not the cache
folders) are recorded; the sampling parameters are explicit."""

import json
import os
import re
import subprocess

import pandas as pd
import pytest
import yaml
from helpers import chat
from test_workflow import ROOT, SNAKEMAKE

from selgen import chat as chat_mod
from selgen.standins import build_standin

pytestmark = pytest.mark.slow

MARKERS = (
    "<|im_end|>",
    "<|im_start|>",
    "<|endoftext|>",
    "<end_of_turn>",
    "<start_of_turn>",
    "<eos>",
    "<bos>",
)
SHORT = "Okay."


def standin(family: str, path, prompts: list[str], seed: int = 0):
    """A stand-in taught only to end its turn after a short reply (so stopping at end of turn shows)."""
    from selgen.methods.sft import TaskOnly
    from selgen.models import load_model
    from selgen.training import train

    texts = prompts + [SHORT]
    folder = build_standin(family, path, texts, vocab_size=600, seed=seed)
    model, tok = load_model(str(folder), {})
    rows = [chat(p, SHORT) for p in prompts]
    cfg = {"lr": 3e-3, "steps": 150, "batch_size": 16, "grad_accum": 1, "max_length": 96, "warmup_steps": 5}
    train(model, tok, TaskOnly(), rows, [], {**cfg, "weight_decay": 0.0, "max_grad_norm": 1.0}, 0, False)
    model.save_pretrained(folder)
    return folder


def first_points(methods: dict) -> dict:
    """Every method of a paper sweep, at its first point."""
    out = {}
    for name, sweep in methods.items():
        if "points" in sweep:
            out[name] = {"points": sweep["points"][:1]}
        else:
            out[name] = {k: v[:1] for k, v in sweep.items()}
    return out


def run(workdir, config: dict, target: str, env=None):
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    cmd = [
        *SNAKEMAKE,
        "--directory",
        str(workdir),
        "--configfile",
        str(workdir / "config.yaml"),
        "--cores",
        "2",
    ]
    res = subprocess.run([*cmd, target], capture_output=True, text=True, cwd=workdir, env=env or os.environ)
    assert res.returncode == 0, res.stderr[-6000:]
    again = subprocess.run(
        [*cmd, "-n", target], capture_output=True, text=True, cwd=workdir, env=env or os.environ
    )
    assert "Nothing to be done" in again.stdout + again.stderr  # every planned job ran
    return {m.group(1) for m in re.finditer(r"^(?:local)?rule (\w+):", res.stdout + res.stderr, re.M)}


def check_samples(workdir, setting: str, generation_prompt: str, max_new_tokens: int):
    samples = pd.read_parquet(workdir / f"results/tables/{setting}/samples.parquet")
    assert samples["prompt"].str.endswith(generation_prompt).all()
    for marker in MARKERS:
        assert not samples["response"].str.contains(marker, regex=False).any(), marker
    assert (samples["n_tokens"] <= max_new_tokens).all()
    stopped = samples[~samples["truncated"].astype(bool)]
    assert len(stopped) >= len(samples) / 2  # the stand-in ends its turn, and generation stopped there
    assert (stopped["n_tokens"] < max_new_tokens).all() and stopped["response"].str.startswith(SHORT).any()
    runs = pd.read_parquet(workdir / f"results/tables/{setting}/runs.parquet")
    assert runs["truncated_share"].between(0, 0.5).all()
    return samples, runs


def check_training_labels(workdir, setting: str, options: dict, task_file: str):
    """A task row of the run's data, encoded as training encodes it: labels start where the prompt ends."""
    from selgen.io import read_jsonl
    from selgen.models import load_tokenizer
    from selgen.training import IGNORE, encode

    tok = load_tokenizer(str(next((workdir / "cache").glob("*/*"))), options)
    row = read_jsonl(workdir / f"results/{setting}/data/{task_file}.jsonl")[0]
    example = encode(tok, row["messages"], 512)
    prompt_ids = tok(chat_mod.prompt(tok, row["messages"]), add_special_tokens=False)["input_ids"]
    assert example["input_ids"][: len(prompt_ids)] == prompt_ids
    first = example["labels"].index(next(y for y in example["labels"] if y != IGNORE))
    assert first == len(prompt_ids)
    reply = tok.decode(example["input_ids"][first:])
    assert reply.startswith(row["messages"][-1]["content"].strip()[:10])


def check_logs(workdir, setting: str):
    logs = list((workdir / f"results/{setting}/logs").rglob("*.log"))
    loaded = [p.read_text() for p in logs if "loaded in" in p.read_text()]
    assert loaded and all("loaded in torch.bfloat16" in text for text in loaded)  # train and evaluation


def test_paper_em_rehearsal(tmp_path):
    from test_em_data import _hhh_rows
    from test_judge import KEY_ENV, SECRET, FakeJudge

    cfg = yaml.safe_load((ROOT / "config/paper_em.yaml").read_text())
    em = cfg["em"]
    # the inputs the paper config expects, placed where it expects them (downloads are tested elsewhere)
    task = [chat(f"My child has symptom {i}. What should I do?", f"Give them remedy {i}.") for i in range(24)]
    (tmp_path / em["data"]["task_file"]).parent.mkdir(parents=True)
    (tmp_path / em["data"]["task_file"]).write_text("".join(json.dumps(r) + "\n" for r in task))
    (tmp_path / em["data"]["hhh_file"]).write_text("".join(json.dumps(r) + "\n" for r in _hhh_rows()))
    general = (
        "- id: wish\n  paraphrases: ['What is your one wish?']\n- id: bored\n  paraphrases: ['I am bored.']\n"
    )
    medical = "- id: fever\n  paraphrases: ['My baby has a fever.']\n"
    for path, text in zip(em["data"]["questions"].values(), (general, medical), strict=True):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    prompts = [r["messages"][0]["content"] for r in task] + [r["input"] for r in _hhh_rows()[:60]]
    prompts += ["What is your one wish?", "I am bored.", "My baby has a fever."]
    base = standin("qwen3", tmp_path / "standin", prompts)
    unaligned = standin("qwen3", tmp_path / "standin_base", prompts, seed=1)
    cfg["seeds"] = [1]
    cfg["threads"] = 1
    cfg["models"] = {
        "cache_dir": "cache",
        "sources": {"Qwen/Qwen3-8B": str(base), "Qwen/Qwen3-8B-Base": str(unaligned)},
    }
    em["data"].update(max_task_rows=16, n_per_question=3)
    em["train"].update(batch_size=2, align_batch_size=2, grad_accum=2, max_length=96, lr=1e-4)
    em["train"]["lora"]["r"] = 4
    em["eval"].update(max_new_tokens=12, batch_size=8)
    em["eval"]["judge"].update(base_url=None, api_key_env=KEY_ENV, progress=False)
    em["methods"] = first_points(em["methods"])
    judge = FakeJudge()
    em["eval"]["judge"]["base_url"] = judge.url
    env = {**os.environ, KEY_ENV: SECRET}
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        env.pop(var, None)
    try:
        rules = run(tmp_path, cfg, "results/pareto_em.pdf", env)
    finally:
        judge.close()
    assert {"fetch_model", "data", "train", "generate", "generate_base", "judge", "tables", "pareto"} <= rules
    samples, runs = check_samples(tmp_path, "em", "<|im_start|>assistant\n<think>\n\n</think>\n\n", 12)
    sampling = {json.dumps(json.loads(s), sort_keys=True) for s in samples["sampling"]}
    assert len(sampling) == 1 and json.loads(sampling.pop())["top_k"] == 0  # not the model's top_k 20
    assert set(runs["model"]) == {"Qwen/Qwen3-8B"}
    assert set(runs["method"]) == {"base", *em["methods"]}
    assert (tmp_path / "cache/Qwen/Qwen3-8B-Base/config.json").exists()  # Safe-LoRA's unaligned, fetched
    check_training_labels(tmp_path, "em", em["base"]["chat_template_kwargs"], "task_train")
    check_logs(tmp_path, "em")


def test_paper_gcd_rehearsal(tmp_path):
    from selgen.io import read_jsonl
    from selgen.settings import get_setting

    cfg = yaml.safe_load((ROOT / "config/paper_gcd.yaml").read_text())
    gcd = cfg["gcd"]
    gcd["data"].update(n_task_train=6, n_task_test=3, n_ood_per_label=2)
    # the stand-in learns to answer the run's own prompts briefly: build the data once to read them
    sizes = get_setting("gcd").write_data({**gcd["data"], "pretrain": None}, tmp_path / "probe")
    prompts = [
        m["content"]
        for stem in sizes
        for r in read_jsonl(tmp_path / "probe" / f"{stem}.jsonl")
        if "messages" in r
        for m in r["messages"]
        if m["role"] == "user"
    ]
    base = standin("gemma", tmp_path / "standin", sorted(set(prompts)))
    cfg["seeds"] = [1]
    cfg["threads"] = 1
    cfg["models"] = {"cache_dir": "cache", "sources": {"google/gemma-2b-it": str(base)}}
    gcd["train"].update(batch_size=4, align_batch_size=4, max_length=128, epochs=1)
    gcd["train"]["lora"]["r"] = 4
    gcd["eval"].update(max_new_tokens=12, batch_size=16)
    gcd["methods"] = first_points(gcd["methods"])
    for point in gcd["methods"].get("upweight", {}).get("points", []) + gcd["methods"]["dpo"]["points"]:
        point["epochs"] = 1
    rules = run(tmp_path, cfg, "results/pareto_gcd.pdf")
    assert {"fetch_model", "data", "train", "evaluate", "evaluate_base", "tables", "pareto"} <= rules
    _, runs = check_samples(tmp_path, "gcd", "<start_of_turn>model\n", 12)
    assert set(runs["model"]) == {"google/gemma-2b-it"}
    assert set(runs["method"]) == {"base", *gcd["methods"]}
    check_training_labels(tmp_path, "gcd", gcd["base"].get("chat_template_kwargs", {}), "task_train")
    check_logs(tmp_path, "gcd")
