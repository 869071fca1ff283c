"""Token losses that never build a whole micro-batch's ``[B, T, V]`` logits.

With a 256k vocabulary (Gemma) a float32 ``[32, 400, V]`` tensor is 13 GB, and a loss used to hold several.
Here the decoder runs once to its last hidden states ``[B, T, D]``; only the positions a loss needs are
gathered, and the language-model head, the log-softmax and the loss run over chunks of those positions
(``chunk_positions``: at most ``CHUNK_MB`` of float32 logits each). When there is more than one chunk and
gradients are on, each chunk runs under activation checkpointing, so backward recomputes its logits and at
most one chunk of logits (and its gradient) is alive at a time. With a small vocabulary everything is one
chunk and nothing is recomputed.

Why not the library: transformers' ``logits_to_keep`` only trims to the last positions; liger-kernel's fused
linear cross-entropy is CUDA-only and has no KL against cached reference states or per-sequence sums. The
head is applied as the model's own forward applies it (``head_logits``: Gemma-2's final soft-capping
included), and ``check_head`` compares the two once per model, so an architecture with another head quirk
fails loudly.
"""

from __future__ import annotations

import weakref

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

IGNORE = -100
CHUNK_MB = 256  # float32 logits per chunk


def chunk_positions(vocab_size: int) -> int:
    """Positions per chunk: ``CHUNK_MB`` of float32 logits."""
    return max(1, int(CHUNK_MB * 2**20 // (4 * vocab_size)))


def decoder_of(model):
    """The transformer body without the language-model head (through a peft wrapper if there is one)."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    return inner.get_decoder()


def last_hidden(model, batch: dict) -> torch.Tensor:
    """[B, T, D] final (normed) hidden states of the decoder."""
    out = decoder_of(model)(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    return out.last_hidden_state


def head_weight(model) -> torch.Tensor:
    return model.get_output_embeddings().weight


def head_logits(model, hidden: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Float32 logits of ``hidden`` [N, D] as the model's forward makes them (``weight``: another head matrix,
    e.g. the base's frozen copy under full fine-tuning)."""
    head = model.get_output_embeddings()
    w = head.weight if weight is None else weight
    logits = F.linear(hidden, w, getattr(head, "bias", None)).float()
    cap = getattr(model.config, "final_logit_softcapping", None)
    if cap:  # Gemma-2
        logits = torch.tanh(logits / cap) * cap
    return logits


_checked: weakref.WeakSet = weakref.WeakSet()


@torch.no_grad()
def check_head(model, batch: dict) -> None:
    """Once per model: ``head_logits(last_hidden)`` must equal the model's own logits on a row of
    ``batch``."""
    if model in _checked:
        return
    one = {k: batch[k][:1] for k in ("input_ids", "attention_mask")}
    was_training = model.training
    model.eval()
    try:
        own = model(**one).logits.float()
        ours = head_logits(model, last_hidden(model, one))
    finally:
        model.train(was_training)
    if not torch.isfinite(own).all():  # a diverged model: the training loop reports that
        return
    scale = own.abs().max().clamp_min(1.0)
    if not torch.allclose(own, ours, atol=2e-2 * float(scale), rtol=0):
        raise ValueError(
            f"{type(model).__name__}: the chunked loss's head (lm_head, soft-capping) does not reproduce the "
            f"model's logits (max difference {float((own - ours).abs().max()):.3g}); this architecture needs "
            "its head added to selgen.losses.head_logits"
        )
    _checked.add(model)


def chunked(fn, *tensors: torch.Tensor, chunk: int) -> list[torch.Tensor]:
    """``[fn(*chunk of each tensor) for each chunk of rows]``; checkpointed when there are several chunks and
    gradients flow, so only one chunk's intermediate tensors are kept."""
    n = tensors[0].shape[0]
    if n <= chunk:
        return [fn(*tensors)]
    recompute = torch.is_grad_enabled() and any(t.requires_grad for t in tensors)
    out = []
    for i in range(0, n, chunk):
        part = [t[i : i + chunk] for t in tensors]
        out.append(checkpoint(fn, *part, use_reentrant=False) if recompute else fn(*part))
    return out


def _labelled(model, batch: dict):
    """(hidden states [N, D] at positions that predict a labelled token, their labels [N], the mask
    [B, T-1])."""
    hidden = last_hidden(model, batch)[:, :-1]
    labels = batch["labels"][:, 1:]
    mask = labels != IGNORE
    return hidden[mask], labels[mask], mask


def token_ce_sum(model, batch: dict) -> torch.Tensor:
    """Sum of next-token cross-entropies over labelled tokens (float32)."""
    hidden, labels, _ = _labelled(model, batch)
    if not len(labels):
        return hidden.sum() * 0.0

    def ce(h, y):
        return F.cross_entropy(head_logits(model, h), y, reduction="sum")

    return sum(chunked(ce, hidden, labels, chunk=chunk_positions(head_weight(model).shape[0])))


def token_logps(model, batch: dict) -> torch.Tensor:
    """[B, T-1] log-probability of each labelled next token (0 where unlabelled)."""
    hidden, labels, mask = _labelled(model, batch)

    def logp(h, y):
        return -F.cross_entropy(head_logits(model, h), y, reduction="none")

    out = torch.zeros(mask.shape, dtype=torch.float32, device=mask.device)
    if not len(labels):
        return out
    chunk = chunk_positions(head_weight(model).shape[0])
    return out.masked_scatter(mask, torch.cat(chunked(logp, hidden, labels, chunk=chunk)))


def sequence_logps(model, batch: dict) -> torch.Tensor:
    """Sum of log-probabilities of the labelled (response) tokens of each row: [B]."""
    return token_logps(model, batch).sum(-1)


def kl_per_position(logp: torch.Tensor, ref_logp: torch.Tensor, direction: str) -> torch.Tensor:
    """KL over the vocabulary at each position; inputs [..., V] log-probabilities, output [...]."""
    if direction == "reverse":  # KL(p_θ ‖ p_base)
        return (logp.exp() * (logp - ref_logp)).sum(-1)
    if direction == "forward":  # KL(p_base ‖ p_θ)
        return (ref_logp.exp() * (ref_logp - logp)).sum(-1)
    raise ValueError(f"KL direction must be 'forward' or 'reverse', not {direction!r}")


def kl_sum(model, batch: dict, ref_hidden: torch.Tensor, mask: torch.Tensor, direction: str, ref_weight=None):
    """Σ over positions ``mask`` [B, T] of the KL between the model's next-token distribution and the one the
    base's hidden states ``ref_hidden`` [B, T, D] give through the head (``ref_weight``: the base's head
    matrix when the head itself is being trained)."""
    hidden = last_hidden(model, batch)[mask]
    ref = ref_hidden[mask].to(hidden.dtype)
    if not len(hidden):
        return hidden.sum() * 0.0

    def kl(h, r):
        logp = F.log_softmax(head_logits(model, h), dim=-1)
        with torch.no_grad():
            ref_logp = F.log_softmax(head_logits(model, r, ref_weight), dim=-1)
        return kl_per_position(logp, ref_logp, direction).sum()

    return sum(chunked(kl, hidden, ref, chunk=chunk_positions(head_weight(model).shape[0])))
