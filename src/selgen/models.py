"""Loading and saving models: hub ids or local folders through the Auto classes, LoRA through peft."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
ADAPTER_BASE_FILE = "selgen_base.json"  # inside a saved adapter folder: which base it belongs to


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def load_tokenizer(name_or_path: str):
    tok = AutoTokenizer.from_pretrained(name_or_path)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_model(name_or_path: str, dtype: str = "float32"):
    """A causal LM from a hub id, a model folder, or an adapter folder saved by ``save_trained``.

    An adapter is merged into its base so evaluation runs at base speed.
    """
    path = Path(name_or_path)
    if (path / ADAPTER_BASE_FILE).exists():
        from peft import PeftModel

        base = json.loads((path / ADAPTER_BASE_FILE).read_text())["base"]
        model = AutoModelForCausalLM.from_pretrained(base, dtype=DTYPES[dtype])
        model = PeftModel.from_pretrained(model, path)
        extra = sorted(p.name for p in path.iterdir() if (p / "adapter_config.json").exists())
        for name in extra:  # further adapters saved beside the default one (O-LoRA's alignment adapter)
            model.load_adapter(path / name, adapter_name=name)
        model = model.merge_and_unload(adapter_names=["default", *extra])
        tok_source = base
    else:
        model = AutoModelForCausalLM.from_pretrained(name_or_path, dtype=DTYPES[dtype])
        tok_source = name_or_path
    return model.to(device()), load_tokenizer(tok_source)


def add_lora(model, lora_cfg: dict):
    """Wrap ``model`` with a fresh LoRA adapter. Target modules absent from the model are dropped."""
    from peft import LoraConfig, get_peft_model

    names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    targets = [t for t in lora_cfg["target_modules"] if t in names]
    if not targets:
        raise ValueError(f"none of the LoRA target modules {lora_cfg['target_modules']} exist in the model")
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


def save_trained(model, tokenizer, out_dir: str | Path, base: str) -> None:
    """Save a full model (with its tokenizer) or just the LoRA adapter plus a pointer to its base."""
    out_dir = Path(out_dir)
    model.save_pretrained(out_dir)
    if hasattr(model, "peft_config"):
        (out_dir / ADAPTER_BASE_FILE).write_text(json.dumps({"base": str(base)}))
    else:
        tokenizer.save_pretrained(out_dir)


class CheckpointWeights:
    """The weight matrices of a saved model (a folder or a hub id), read one at a time from its safetensors
    files and found by module name, so a second multi-GB model never has to be loaded whole."""

    def __init__(self, name_or_path: str | Path):
        from safetensors import safe_open

        path = Path(name_or_path)
        if not path.exists():
            from huggingface_hub import snapshot_download

            path = Path(snapshot_download(str(name_or_path), allow_patterns=["*.safetensors", "*.json"]))
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


def decoder_of(model):
    """The transformer body without the language-model head (through a peft wrapper if there is one)."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    return inner.get_decoder()
