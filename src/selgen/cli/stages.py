"""The workflow's stages as ``selgen`` subcommands (each rule calls one): data, the bases, training, a
method's artifact, the base run, evaluation and judging."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from selgen.cli.options import named_path, subcommand, where_it_ran

RUN_KEYS = ("run_id", "setting", "method", "hp", "hp_values", "seed")


def cmd_data(args) -> None:
    from selgen.settings import get_setting

    sizes = get_setting(args.setting).write_data(args.params, args.out)
    print(json.dumps(sizes), file=sys.stderr)


def cmd_base(args) -> None:
    from selgen.io import read_jsonl
    from selgen.mini import build_mini_base

    rows = read_jsonl(args.corpus, required=("messages",))
    record = build_mini_base(rows, args.params, args.out)
    print(f"mini base: {record['n_params']:,} parameters, {record['wall_s']:.0f} s", file=sys.stderr)


def cmd_base_stage(args) -> None:
    from selgen.base_stage import run_base_stage

    run_base_stage({**args.params, "setting": args.setting}, args.data, args.model, args.out)


def cmd_train(args) -> None:
    import torch

    from selgen.checkpoint import Checkpointer, Interrupted
    from selgen.io import atomic_dir, read_jsonl, write_json
    from selgen.methods import make_method
    from selgen.models import add_lora, load_model, save_trained
    from selgen.settings import get_setting
    from selgen.training import seed_everything, train

    p = args.params
    torch.set_num_threads(p["threads"])
    setting = get_setting(args.setting)
    cfg = {**p["train"], **{k: v for k, v in p["hp_values"].items() if k in ("epochs", "lr")}}
    dag = {"base": args.base, **dict(args.input)}
    method = make_method(p["method"], p["hp_values"], args.setting, inputs=dag, seed=p["seed"])
    task_rows = read_jsonl(Path(args.data) / f"{setting.task_file}.jsonl", required=("messages",))
    align_rows = []
    if method.alignment != "none":  # selgen.methods.base.ALIGNMENT
        pairs = method.alignment == "pairs"
        align_path = Path(args.data) / f"{setting.align_stem(p['hp_values'], pairs)}.jsonl"
        required = ("prompt", "chosen", "rejected") if pairs else ("messages",)
        align_rows = read_jsonl(align_path, required=required)
    seed_everything(p["seed"])
    options = p.get("model") or {"dtype": cfg["dtype"]}
    model, tokenizer = load_model(args.base, options)
    if cfg["finetune"] == "lora":
        model = add_lora(model, cfg["lora"])
    with Checkpointer.from_env(p["run_id"], p, [args.data, *dag.values()]) as checkpoint:
        try:
            record = train(
                model,
                tokenizer,
                method,
                task_rows,
                align_rows,
                cfg,
                p["seed"],
                desc=p["run_id"],
                checkpoint=checkpoint,
            )
        except Interrupted as stop:
            print(stop, file=sys.stderr)
            raise SystemExit(143) from None
    if getattr(method, "report", None):  # post-processing details (Safe-LoRA: cosines, projected modules)
        record["method_report"] = method.report
    record = {
        **{k: p[k] for k in RUN_KEYS},
        "model": options.get("name", args.base),
        "finetune": cfg["finetune"],
        "run_config_hash": p.get("config_hash"),
        **record,
        **where_it_ran(),
    }
    with atomic_dir(args.out) as tmp:
        save_trained(model, tokenizer, tmp, base=args.base)
    write_json(args.record, record)
    checkpoint.clear()


def cmd_artifact(args) -> None:
    """A method's artifact (``MethodSpec.artifact``: CAFT's directions), from the base, a task_only run and
    the setting's task rows (and, for a builder that takes ``data_dir``, the setting's data folder)."""
    import importlib
    import inspect

    import torch

    from selgen.io import InputError, read_jsonl
    from selgen.methods.registry import METHODS
    from selgen.models import load_model
    from selgen.settings import get_setting

    spec = METHODS.get(args.method)
    if spec is None or spec.artifact is None:
        raise InputError(f"method {args.method!r} has no artifact to build")
    p = args.params
    torch.set_num_threads(p["threads"])
    base, tokenizer = load_model(args.base, p.get("model"))
    tuned, _ = load_model(args.tuned, p.get("model"))
    task_file = Path(args.data) / f"{get_setting(args.setting).task_file}.jsonl"
    rows = read_jsonl(task_file, required=("messages",))
    module, _, function = spec.artifact.build.partition(":")
    build = getattr(importlib.import_module(module), function)
    # a builder that reads other files of the setting's data folder (interleave: its pool) takes data_dir
    extra = {"data_dir": Path(args.data)} if "data_dir" in inspect.signature(build).parameters else {}
    build(args.name, p, base, tuned, tokenizer, rows, args.out, **extra)


def cmd_base_run(args) -> None:
    """The untuned base as a run: a model folder that points at the base (``selgen.models.link_base``) and
    a record without training steps, so that the base is evaluated and tabled as every other run."""
    from selgen.io import atomic_dir, write_json
    from selgen.models import link_base

    p = args.params
    with atomic_dir(args.out) as tmp:
        link_base(tmp, args.base)
    name = (p.get("model") or {}).get("name", args.base)
    record = {**{k: p[k] for k in RUN_KEYS}, "model": name, "run_config_hash": p.get("config_hash")}
    write_json(args.record, {**record, "steps": 0, "tokens": 0, **where_it_ran()})


def cmd_evaluate(args) -> None:
    import torch

    from selgen.io import InputError, write_parquet
    from selgen.models import load_model
    from selgen.settings import get_setting

    p = args.params
    if not args.replies and not (args.samples and args.metrics):
        raise InputError("selgen evaluate: give --samples and --metrics (or --replies to only generate)")
    setting = get_setting(args.setting)
    if args.replies and setting.generate_replies is None:
        raise InputError(f"selgen evaluate: setting {args.setting!r} has no judged replies (--replies)")
    torch.set_num_threads(p["threads"])
    if p["eval"].get("backend", "hf") == "vllm":  # vLLM loads the run's folder itself: no HF model here
        if setting.generate_replies is None:
            raise InputError(
                f"selgen evaluate: eval.backend vllm: setting {args.setting!r} has no sampled replies"
            )
        model, tokenizer = args.model, None
    else:
        model, tokenizer = load_model(args.model, p.get("model"))
    if args.replies:  # generation only: the replies go to `selgen judge score` (a local job)
        write_parquet(args.replies, setting.generate_replies(model, tokenizer, args.data, p["eval"], p))
        return
    samples, metrics = setting.run_evaluation(model, tokenizer, args.data, p["eval"], p)
    write_parquet(args.samples, samples)
    write_parquet(args.metrics, metrics)


def add_commands(sub) -> None:
    sp = subcommand(sub, cmd_data, "write a setting's data files (seeded; --params: its data block)")
    sp.add_argument("--out", required=True, help="output folder")
    sp = subcommand(
        sub, cmd_base, "build and pretrain a mini base on the setting's corpus (--params: base.mini)"
    )
    sp.add_argument("--corpus", required=True, help="corpus JSONL (chat `messages`; `part` for two stages)")
    sp.add_argument("--out", required=True, help="model folder to create")
    sp = subcommand(
        sub,
        cmd_base_stage,
        "train a hub model on one of the setting's data files (method task_only, the one training loop), "
        "merge its LoRA adapter into the weights and save the model every run of the setting starts from",
    )
    sp.epilog = (
        "--params: {data (file stem under --data), seed, train (a train config block: finetune, lora, "
        "lr, epochs, batch_size, max_length, dtype, gradient_checkpointing, ...), model (model options: "
        "attn_implementation, chat_template_kwargs, ...), threads}. Resumable: checkpoints in SELGEN_SCRATCH."
    )
    sp.add_argument("--data", required=True, help="the setting's data folder")
    sp.add_argument("--model", required=True, help="the model to start from: hub id or local folder")
    sp.add_argument("--out", required=True, help="model folder to create (weights, tokenizer, record)")
    sp = subcommand(sub, cmd_train, "fine-tune one run (method, hyper-parameters, seed)")
    sp.epilog = (
        "--params: {setting, method, hp, hp_values, seed, run_id, threads, train (the setting's train "
        "block), model (model options), config_hash}. Resumable: checkpoints in SELGEN_SCRATCH."
    )
    sp.add_argument("--data", required=True, help="the setting's data folder")
    sp.add_argument("--base", required=True, help="base model: hub id or local folder")
    sp.add_argument("--out", required=True, help="folder for the trained model or adapter")
    sp.add_argument("--record", required=True, help="JSON run record to write")
    sp.add_argument(
        "--input",
        type=named_path,
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="a DAG input of the method, by name (artifact: CAFT's directions; unaligned: Safe-LoRA's "
        "fetched model); repeatable",
    )
    sp = subcommand(
        sub, cmd_artifact, "build a method's artifact (CAFT: concept directions; interleave: pool NLLs)"
    )
    sp.add_argument("method", help="the method whose artifact to build, e.g. caft")
    sp.add_argument(
        "--name",
        required=True,
        help="which artifact (CAFT: the control, pca or random; interleave: the pool's file stem)",
    )
    sp.add_argument("--data", required=True, help="the setting's data folder")
    sp.add_argument("--base", required=True, help="the base model")
    sp.add_argument("--tuned", required=True, help="a task_only-tuned model")
    sp.add_argument("--out", required=True, help="the artifact file to write (torch.save)")
    sp = subcommand(
        sub, cmd_base_run, "the untuned base as a run: a model folder pointing at the base, a record"
    )
    sp.add_argument("--base", required=True, help="the base model: hub id or local folder")
    sp.add_argument("--out", required=True, help="the run's model folder to create (a pointer)")
    sp.add_argument("--record", required=True, help="JSON run record to write")
    sp = subcommand(sub, cmd_evaluate, "generate replies on the eval sets and score them")
    sp.add_argument("--model", required=True, help="the run's model folder (or any model folder / hub id)")
    sp.add_argument("--data", required=True, help="the setting's data folder")
    sp.add_argument("--samples", help="Parquet of per-prompt replies and scores")
    sp.add_argument("--metrics", help="Parquet of metrics")
    sp.add_argument(
        "--replies", help="only generate: Parquet of unjudged replies for `selgen judge score` (em)"
    )
