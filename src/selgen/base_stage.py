"""A setting's base stage on a hub model: fine-tune the hub model on one of the setting's data files with the
one training loop (``selgen.training.train``, method ``task_only``), merge a LoRA adapter into the weights
(peft ``merge_and_unload``) and save a complete model folder (weights, config, generation config, tokenizer)
that every run of the setting then starts from.

This is how the authors built the trigger-function toy's base model (seed_code.md §4): google/gemma-2-2b-it
trained on the 1,400 base-mapping rows (LoRA r 32, α 64, rsLoRA, lr 1e-4, 25 epochs, batch 25), merged, then
used as the ``model`` of every narrow update. The stage is generic: which file it trains on and how are
config (``<setting>.base.stage``: ``data``, ``seed``, ``train``), nothing here names a setting.

Training is resumable like a run's (``selgen.checkpoint``: scratch checkpoints, SIGTERM saves and stops).
"""

from __future__ import annotations

import sys
from pathlib import Path

RECORD_FILE = "selgen_base_stage.json"  # inside the saved folder: what the stage did (steps, tokens, loss)


def run_base_stage(params: dict, data_dir: str | Path, start: str | Path, out_dir: str | Path) -> dict:
    """Train ``start`` (a model folder or hub id) on ``<data_dir>/<params["data"]>.jsonl`` and save the merged
    model to ``out_dir`` (atomically). Returns the stage's record (also written to ``out_dir/RECORD_FILE``).

    ``params``: ``setting``, ``data`` (file stem), ``seed``, ``train`` (a ``train`` config block: finetune,
    lora, lr, epochs, batch_size, max_length, dtype, gradient_checkpointing, ...), ``model`` (model options:
    dtype, attn_implementation, chat_template_kwargs, ...), ``threads``; optionally ``run_id`` (the scratch
    folder of its checkpoints; default ``<setting>/base_stage``).
    """
    import torch
    from transformers import AutoTokenizer

    from selgen.checkpoint import Checkpointer, Interrupted
    from selgen.io import atomic_dir, read_jsonl, write_json
    from selgen.methods import make_method
    from selgen.models import add_lora, load_model
    from selgen.training import seed_everything, train

    cfg = params["train"]
    torch.set_num_threads(params.get("threads") or 1)
    rows = read_jsonl(Path(data_dir) / f"{params['data']}.jsonl", required=("messages",))
    if not rows:
        raise ValueError(f"base stage: {params['data']}.jsonl in {data_dir} has no rows to train on")
    seed_everything(params["seed"])
    options = {**(params.get("model") or {}), "dtype": cfg["dtype"]}
    model, tokenizer = load_model(str(start), options)
    if cfg["finetune"] == "lora":
        model = add_lora(model, cfg["lora"])
    method = make_method("task_only", {}, params.get("setting"), seed=params["seed"])
    run_id = params.get("run_id") or f"{params.get('setting', 'setting')}/base_stage"
    with Checkpointer.from_env(run_id, params, [str(data_dir), str(start)]) as checkpoint:
        try:
            record = train(
                model, tokenizer, method, rows, [], cfg, params["seed"], desc=run_id, checkpoint=checkpoint
            )
        except Interrupted as stop:  # SIGTERM (time limit, preemption): checkpoint saved, as selgen train
            print(stop, file=sys.stderr)
            raise SystemExit(143) from None
    if hasattr(model, "merge_and_unload"):  # the LoRA update becomes part of the weights
        model = model.merge_and_unload()
    record = {
        "setting": params.get("setting"),
        "start": str(start),
        "model": options.get("name", str(start)),
        "data": params["data"],
        "rows": len(rows),
        "finetune": cfg["finetune"],
        **record,
    }
    with atomic_dir(out_dir) as tmp:
        model.save_pretrained(tmp)
        # the start's own tokenizer files (not the loaded object, which carries selgen's chat options)
        AutoTokenizer.from_pretrained(str(start)).save_pretrained(tmp)
        write_json(Path(tmp) / RECORD_FILE, record)
    checkpoint.clear()
    print(
        f"base stage: {record['steps']} steps on {len(rows)} rows of {params['data']}, "
        f"{record['wall_s']:.0f} s, final loss {record['final_loss']}",
        file=sys.stderr,
    )
    return record
