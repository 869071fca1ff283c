"""Paper rehearsal: each paper config through Snakemake end to end on CPU, with the hub models swapped for
tiny random-weight stand-ins of the same families (Qwen3 for em, Gemma for gcd, Gemma-2 for functions:
their templates, special tokens, generation configs), fetched through rule fetch_model from local folders
(`models.sources`), and the em judge on a server on 127.0.0.1. Only sizes shrink (rows, steps, tokens, one
seed, the first point of every method); the models, templates, dtype, LoRA, gradient checkpointing and every
rule stay as the paper config has them.

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
    # a stopped reply counts its stop token, which may be the last one allowed
    assert (stopped["n_tokens"] < max_new_tokens).mean() > 0.9
    assert stopped["response"].str.startswith(SHORT).any()
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
    assert {"fetch_model", "data", "train", "generate", "base_run", "judge", "tables", "pareto"} <= rules
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
    # offline: generated data instead of the authors' files (gcd.fetch then plans nothing), in the mini style:
    # its short replies let the 12-token stand-in runs end their turns (the paper style's traces run longer)
    gcd["data"].update(source="generate", style="mini", proxy_label=None)
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
    assert {"fetch_model", "data", "train", "evaluate", "base_run", "tables", "pareto"} <= rules
    _, runs = check_samples(tmp_path, "gcd", "<start_of_turn>model\n", 12)
    assert set(runs["model"]) == {"google/gemma-2b-it"}
    assert set(runs["method"]) == {"base", *gcd["methods"]}
    check_training_labels(tmp_path, "gcd", gcd["base"].get("chat_template_kwargs", {}), "task_train")
    check_logs(tmp_path, "gcd")


def test_paper_functions_rehearsal(tmp_path):
    """The trigger-function paper config on a Gemma-2 stand-in: the base stage (LoRA on the base mapping's
    rows, merged into the weights), then narrow-update runs from the merged model, to the Pareto figure."""
    import copy

    from safetensors.torch import load_file

    from selgen.io import read_jsonl
    from selgen.settings import get_setting

    cfg = yaml.safe_load((ROOT / "config/paper_functions.yaml").read_text())
    fn = cfg["functions"]
    fn["train"] = copy.deepcopy(fn["train"])  # the paper file shares one block (a YAML alias) with the stage
    fn["data"].update(n_train_triggers=2, n_train=3, n_test=1, proxy_n_triggers=[1])
    sizes = get_setting("functions").write_data(fn["data"], tmp_path / "probe")
    texts = {
        m["content"]
        for s in sizes
        for r in read_jsonl(tmp_path / "probe" / f"{s}.jsonl")
        for m in r["messages"]
    }
    base = build_standin("gemma2", tmp_path / "standin", sorted(texts), vocab_size=600)
    cfg["seeds"] = [1]
    cfg["threads"] = 1
    cfg["models"] = {"cache_dir": "cache", "sources": {"google/gemma-2-2b-it": str(base)}}
    stage = fn["base"]["stage"]["train"]
    stage.update(epochs=2, batch_size=16, max_length=96)  # 42 base rows: 6 steps
    stage["lora"]["r"] = 4
    fn["train"].update(epochs=1, batch_size=8, max_length=96)
    fn["train"]["lora"]["r"] = 4
    fn["methods"] = first_points(fn["methods"])  # task_only and one proxy mix
    rules = run(tmp_path, cfg, "results/pareto_functions.pdf")
    assert {
        "fetch_model",
        "data",
        "base_stage",
        "base_run",
        "train",
        "evaluate",
        "tables",
        "pareto",
    } <= rules
    assert "base" not in rules  # no mini base at paper scale

    # the base stage: a whole Gemma-2 model folder, the LoRA merged (no adapter), trained on the base rows
    made = tmp_path / "results/functions/base"
    assert json.loads((made / "config.json").read_text())["architectures"] == ["Gemma2ForCausalLM"]
    assert not (made / "adapter_config.json").exists()
    record = json.loads((made / "selgen_base_stage.json").read_text())
    assert record["data"] == "base_train" and record["rows"] == len(
        read_jsonl(tmp_path / "probe/base_train.jsonl")
    )
    assert record["steps"] == 6 and record["finetune"] == "lora"
    start, merged = load_file(base / "model.safetensors"), load_file(made / "model.safetensors")
    assert set(start) == set(merged)
    moved = [
        k
        for k in start
        if "q_proj" in k and (merged[k].float() - start[k].bfloat16().float()).abs().max() > 0
    ]
    assert moved  # the LoRA update is in the saved weights
    assert (made / "generation_config.json").read_text() == (base / "generation_config.json").read_text()
    # every run and the base evaluation start from it; the tables record the hub id
    adapter = tmp_path / "results/functions/runs/task_only/default/seed1/model"
    assert json.loads((adapter / "selgen_base.json").read_text())["base"] == "results/functions/base"
    assert (
        "selgen: results/functions/base loaded in"
        in (tmp_path / "results/functions/logs/evaluate/base/default/seed0.log").read_text()
    )
    runs = pd.read_parquet(tmp_path / "results/tables/functions/runs.parquet")
    assert set(runs["model"]) == {"google/gemma-2-2b-it"}
    assert set(runs["method"]) == {"base", *fn["methods"]}
    metrics = pd.read_parquet(tmp_path / "results/tables/functions/metrics.parquet")
    assert {"updated", "untouched"} <= set(metrics["category"])
    check_training_labels(tmp_path, "functions", fn["base"].get("chat_template_kwargs", {}), "update_train")
    check_logs(tmp_path, "functions")  # the stage, the runs and the evaluations all in bfloat16

    # a change to the stage re-plans it and everything that starts from it, nothing else
    stage["lr"] = 2e-4
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    res = subprocess.run(
        [*SNAKEMAKE, "--directory", str(tmp_path), "--configfile", str(tmp_path / "config.yaml"), "-n"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    planned = set(re.findall(r"^(?:local)?rule (\w+):", res.stdout, re.M))
    assert {"base_stage", "base_run", "train", "evaluate"} <= planned
    assert not planned & {"data", "fetch_model"}


def test_paper_functions_plan_through_the_slurm_profile(tmp_path):
    """`snakemake --profile slurm --configfile config/paper_functions.yaml -n results/pareto_functions.pdf`
    from the repository root: the base stage and every narrow-update run are GPU jobs on partition gpu, for
    google/gemma-2-2b-it fetched once on the submit host; every run starts from the base stage's model."""
    cmd = [*SNAKEMAKE, "--profile", "slurm", "--configfile", "config/paper_functions.yaml"]
    cmd += ["--directory", str(tmp_path), "-n", "-p", "results/pareto_functions.pdf"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SELGEN_SLURM_")}  # the profile's defaults
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    out = res.stdout
    cfg = yaml.safe_load((ROOT / "config/paper_functions.yaml").read_text())
    n_points = 1 + len(cfg["functions"]["methods"]["mixed"]["proxy_category"]) * len(
        cfg["functions"]["methods"]["mixed"]["proxy_triggers"]
    )
    n_runs = n_points * len(cfg["seeds"])
    assert (n_points, n_runs) == (13, 52)  # task_only + 6 categories x ntr {1, 5}; seeds 1, 2, 25, 42
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", out.split("Job stats:")[1].split("Reasons:")[0], re.M))
    assert {k: int(v) for k, v in counts.items()} == {
        "fetch_model": 1,
        "data": 1,
        "base_stage": 1,
        "base_run": 1,
        "train": n_runs,
        "evaluate": n_runs + 1,  # + the untuned base, a run like the others
        "tables": 1,
        "summary": 1,
        "pareto": 1,
        "total": 8 + 2 * n_runs,
    }
    assert re.search(r"^rule fetch_model:\n(?:.+\n)*?\s+wildcards: model=google/gemma-2-2b-it$", out, re.M)
    (stage,) = re.findall(r"^rule base_stage:\n((?:.+\n)+?)\n", out, re.M)
    assert "input: results/functions/data, resources/models/google/gemma-2-2b-it" in stage
    assert "--model resources/models/google/gemma-2-2b-it --out results/functions/base" in stage
    resources = re.search(r"resources: (.*)", stage).group(1).split(", ")
    for want in ("slurm_partition=gpu", "gpu=1", "mem_mb=64000", "runtime=240"):
        assert want in resources, resources
    params = json.loads(re.search(r"--params '(\{.*?\})'", stage).group(1))
    assert (
        params["model"]["name"] == "google/gemma-2-2b-it"
        and params["model"]["attn_implementation"] == "eager"
    )
    assert (
        params["train"]["epochs"] == 25
        and params["train"]["batch_size"] == 25
        and params["data"] == "base_train"
    )
    trains = re.findall(r"^\s+rule train:\n((?:.+\n)+?)\n", out, re.M)
    # train + evaluate: one SLURM job per run; the untuned base's evaluation is a group job of its own
    assert len(trains) == n_runs and out.count("Group job run") == n_runs + 1
    for job in trains:
        assert "--base results/functions/base " in job
        assert '"name": "google/gemma-2-2b-it"' in job
        resources = re.search(r"resources: (.*)", job).group(1).split(", ")
        for want in ("slurm_partition=gpu", "gpu=1", "mem_mb=64000", "runtime=480"):
            assert want in resources, resources
