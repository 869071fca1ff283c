"""Loading and saving models: hub ids or local folders through the Auto classes, LoRA through peft."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from selgen.io import InputError

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
ADAPTER_BASE_FILE = "selgen_base.json"  # inside a saved adapter folder: which base it belongs to


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def load_tokenizer(name_or_path: str, chat_template_kwargs: dict | None = None):
    """The tokenizer, its pad token (eos if it has none) and its chat-template options (``selgen.chat``)."""
    from selgen import chat

    tok = AutoTokenizer.from_pretrained(name_or_path)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    chat.configure(tok, chat_template_kwargs)
    return tok


def model_kwargs(options: dict) -> dict:
    """``from_pretrained`` keyword arguments of the model options (dtype, attn_implementation, device_map)."""
    kwargs = {"dtype": DTYPES[options.get("dtype") or "float32"]}
    if options.get("attn_implementation"):
        kwargs["attn_implementation"] = options["attn_implementation"]
    if options.get("device_map"):  # e.g. "auto": layers spread over the GPUs through accelerate
        kwargs["device_map"] = options["device_map"]
    return kwargs


def load_model(name_or_path: str, options: dict | None = None):
    """A causal LM and its tokenizer from a hub id, a model folder, or an adapter folder saved by
    ``save_trained``. An adapter is merged into its base so evaluation runs at base speed.

    ``options`` (the setting's model options, see the config's ``base`` block): ``dtype`` (float32,
    bfloat16, float16; training and evaluation use the same), ``attn_implementation``, ``device_map`` (None:
    the whole model on this process's device) and ``chat_template_kwargs``.
    """
    options = options or {}
    kwargs = model_kwargs(options)
    path = Path(name_or_path)
    if (path / ADAPTER_BASE_FILE).exists() and not (path / "adapter_config.json").exists():
        return load_model(_base_of(path), options)  # the base run's folder (link_base): the base itself
    if (path / ADAPTER_BASE_FILE).exists():
        from peft import PeftModel

        base = _base_of(path)
        model = AutoModelForCausalLM.from_pretrained(base, **kwargs)
        model = PeftModel.from_pretrained(model, path)
        extra = sorted(p.name for p in path.iterdir() if (p / "adapter_config.json").exists())
        for name in extra:  # further adapters saved beside the default one (O-LoRA's alignment adapter)
            model.load_adapter(path / name, adapter_name=name)
        model = model.merge_and_unload(adapter_names=["default", *extra])
        tok_source = base
    else:
        try:
            model = AutoModelForCausalLM.from_pretrained(name_or_path, **kwargs)
        except OSError as err:
            raise InputError(
                f"cannot load model {name_or_path!r} ({err}). Jobs read hub models offline from the "
                "folders rule fetch_model fills (config models.cache_dir; `selgen fetch-model ID --out DIR` "
                "by hand); "
                f"{GATED_HELP}"
            ) from None
        tok_source = name_or_path
    if "device_map" not in kwargs:
        model = model.to(device())
    check_dtype(kwargs["dtype"])
    where = next(model.parameters()).device
    print(f"selgen: {name_or_path} loaded in {kwargs['dtype']} on {where}", file=sys.stderr)
    if os.environ.get(FIRST_FORWARD_ENV):
        _note_first_forward(model, os.environ[FIRST_FORWARD_ENV])
    return model, load_tokenizer(tok_source, options.get("chat_template_kwargs"))


FIRST_FORWARD_ENV = "SELGEN_FIRST_FORWARD"  # benchmarks/job_overhead.py: a file to note the first forward in


def _note_first_forward(model, path: str) -> None:
    """Write the wall-clock time of the model's first forward pass (training or evaluation) to ``path``."""

    def note(module, args):
        Path(path).write_text(repr(time.time()))
        handle.remove()

    handle = model.register_forward_pre_hook(note)


def check_dtype(dtype: torch.dtype) -> None:
    """Fail at the start of a job, not after it, on a GPU that cannot compute in bfloat16 (pre-Ampere)."""
    if dtype == torch.bfloat16 and torch.cuda.is_available() and not torch.cuda.is_bf16_supported():
        raise InputError(
            f"{torch.cuda.get_device_name()} cannot run bfloat16 (train.dtype): ask SLURM for an Ampere or "
            "newer GPU (config resources.<rule>.gpu_model or .constraint, or SELGEN_SLURM_CONSTRAINT)"
        )


GATED_HELP = (
    "gated models (e.g. google/gemma-*, meta-llama/*) need the licence accepted on the model's hub page "
    "and a token: `huggingface-cli login` or HF_TOKEN in the environment of the host that fetches"
)
# what a model folder needs (weights, configs, tokenizer files, chat template); no other formats or docs
MODEL_FILES = ["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja", "*.tiktoken"]


def fetch_model(name: str, out_dir: str | Path, source: str | Path | None = None) -> Path:
    """Put hub model ``name`` into the folder ``out_dir`` once: a snapshot download (safetensors, configs,
    tokenizer), or a copy of the local folder ``source``. Atomic: the folder appears only when complete."""
    import shutil

    from selgen.io import atomic_dir

    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as tmp:
        if source:
            if not Path(source).is_dir():
                raise InputError(f"{name}: models.sources names {source}, which is not a folder")
            shutil.copytree(source, tmp, dirs_exist_ok=True)
        else:
            from huggingface_hub import snapshot_download
            from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError

            try:
                snapshot_download(repo_id=name, local_dir=tmp, allow_patterns=MODEL_FILES)
            except GatedRepoError:
                raise InputError(f"{name}: gated on the hub; {GATED_HELP}. Target: {out_dir}") from None
            except RepositoryNotFoundError:
                raise InputError(
                    f"{name}: no such hub model (or it is private or gated: {GATED_HELP}). Target: {out_dir}"
                ) from None
            except (HfHubHTTPError, OSError) as err:  # offline, proxy, disk
                raise InputError(
                    f"{name}: download to {out_dir} failed ({type(err).__name__}: {err}). Without network, "
                    f"copy the model folder there yourself or name a local copy under models.sources"
                ) from None
        if not list(Path(tmp).glob("*.safetensors")):
            raise InputError(f"{name}: no *.safetensors weights in what was fetched for {out_dir}")
    return out_dir


def add_lora(model, lora_cfg: dict):
    """Wrap ``model`` with a fresh LoRA adapter. Target modules absent from the model are dropped."""
    from peft import LoraConfig, get_peft_model

    names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    targets = [t for t in lora_cfg["target_modules"] if t in names]
    if not targets:
        raise InputError(f"none of the LoRA target modules {lora_cfg['target_modules']} exist in the model")
    config = LoraConfig(
        r=lora_cfg["r"],
        lora_alpha=lora_cfg["alpha"],
        lora_dropout=lora_cfg["dropout"],
        use_rslora=lora_cfg["use_rslora"],
        target_modules=targets,
        bias="none",
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config)


def _base_of(folder: Path) -> str:
    return json.loads((folder / ADAPTER_BASE_FILE).read_text())["base"]


def link_base(out_dir: str | Path, base: str) -> None:
    """The untuned base's run folder: only the pointer to its base (``load_model`` loads the base)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / ADAPTER_BASE_FILE).write_text(json.dumps({"base": str(base)}))


def save_trained(model, tokenizer, out_dir: str | Path, base: str) -> None:
    """Save a full model (with its tokenizer) or just the LoRA adapter plus a pointer to its base."""
    out_dir = Path(out_dir)
    model.save_pretrained(out_dir)
    if hasattr(model, "peft_config"):
        (out_dir / ADAPTER_BASE_FILE).write_text(json.dumps({"base": str(base)}))
    else:
        tokenizer.save_pretrained(out_dir)


class CheckpointWeights:
    """The weight matrices of a saved model folder, read one at a time from its safetensors
    files and found by module name, so a second multi-GB model never has to be loaded whole."""

    def __init__(self, name_or_path: str | Path):
        from safetensors import safe_open

        path = Path(name_or_path)
        if not path.is_dir():  # jobs run offline: hub models arrive through the workflow's fetch_model rule
            raise FileNotFoundError(
                f"{name_or_path}: not a model folder (a hub model must be fetched first: rule fetch_model / "
                "`selgen fetch-model`)"
            )
        files = sorted(path.glob("*.safetensors"))
        if not files:
            raise FileNotFoundError(f"{path}: no *.safetensors weights to read")
        self.path, self.file_of = path, {}
        for f in files:
            with safe_open(f, "pt") as handle:
                self.file_of.update(dict.fromkeys(handle.keys(), f))

    def weight(self, module_name: str) -> torch.Tensor:
        """The ``.weight`` of ``module_name`` (a peft wrapper's prefix such as ``base_model.model.`` is
        skipped: the longest suffix of the name that the checkpoint holds wins)."""
        from safetensors import safe_open

        parts = module_name.split(".")
        for i in range(len(parts)):
            key = ".".join(parts[i:]) + ".weight"
            if key in self.file_of:
                with safe_open(self.file_of[key], "pt") as handle:
                    return handle.get_tensor(key)
        raise KeyError(f"{self.path}: no weight for module {module_name!r}")
