"""Token losses that never build a whole micro-batch's ``[B, T, V]`` logits.

With a 256k vocabulary (Gemma) a float32 ``[32, 400, V]`` tensor is 13 GB, and a loss used to hold several.
Here the decoder runs once to its last hidden states ``[B, T, D]``; only the positions a loss needs are
gathered (CE and DPO: labelled positions only), and the language-model head, the log-softmax and the loss
run over chunks of those positions through two autograd functions (``_LabelLogp``, ``_KL``) that keep no
logits for backward (they recompute one chunk's logits there) and work in place, so a chunk's float32
``[n, V]`` buffers together stay within ``CHUNK_MB`` (``chunk_positions``). With a small vocabulary
everything is one chunk.

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

IGNORE = -100
CHUNK_MB = 256  # float32 [n, V] buffers of one chunk, all together


def chunk_positions(vocab_size: int, buffers: int = 1) -> int:
    """Positions per chunk when a chunk holds ``buffers`` float32 [n, V] tensors within ``CHUNK_MB``."""
    return max(1, int(CHUNK_MB * 2**20 // (4 * vocab_size * buffers)))


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


def _raw_logits(h: torch.Tensor, w: torch.Tensor, cap: float | None):
    """(float32 logits, tanh of the soft-capped logits or None) of hidden states ``h`` [n, D]."""
    z = F.linear(h, w).float()
    if not cap:
        return z, None
    t = z.div_(cap).tanh_()
    return t * cap, t


def _head_backward(grad_z, t, h, w, needs):
    """Gradients for (h, w) from the gradient of the (soft-capped) logits."""
    if t is not None:  # d(cap·tanh(z/cap))/dz = 1 − tanh²
        grad_z.mul_(1 - t * t)
    grad_z = grad_z.to(h.dtype)
    return (grad_z @ w if needs[0] else None), (grad_z.T @ h if needs[1] else None)


class _LabelLogp(torch.autograd.Function):
    """log p(y | h) through the head, for one chunk of positions. The backward recomputes the logits instead
    of keeping them, and works in place: a chunk holds about two float32 [n, V] buffers at a time (autograd's
    own log-softmax and cross-entropy keep the logits, their log-softmax and the gradient)."""

    BUFFERS = 2

    @staticmethod
    def forward(ctx, h, w, y, cap):
        z, _ = _raw_logits(h, w, cap)
        lse = torch.logsumexp(z, dim=-1)
        ctx.save_for_backward(h, w, y, lse)
        ctx.cap = cap
        return z.gather(1, y[:, None]).squeeze(1) - lse

    @staticmethod
    def backward(ctx, grad):
        h, w, y, lse = ctx.saved_tensors
        z, t = _raw_logits(h, w, ctx.cap)
        grad_z = z.sub_(lse[:, None]).exp_().neg_()  # d logp_y / dz = onehot(y) − softmax
        grad_z[torch.arange(len(y), device=y.device), y] += 1
        grad_z.mul_(grad[:, None])
        gh, gw = _head_backward(grad_z, t, h, w, ctx.needs_input_grad)
        return gh, gw, None, None


class _KL(torch.autograd.Function):
    """KL per position between the head's distribution at ``h`` and the reference's at ``r`` (through
    ``rw``), for one chunk; gradient for the model's side only, recomputed in backward (about three float32
    [n, V] buffers)."""

    BUFFERS = 3

    @staticmethod
    def _parts(h, w, r, rw, cap):
        z, t = _raw_logits(h, w, cap)
        logp = z.sub_(torch.logsumexp(z, dim=-1, keepdim=True))
        with torch.no_grad():
            q, _ = _raw_logits(r, rw, cap)
            logq = q.sub_(torch.logsumexp(q, dim=-1, keepdim=True))
        return logp, logq, t

    @staticmethod
    def forward(ctx, h, w, r, rw, cap, reverse):
        logp, logq, _ = _KL._parts(h, w, r, rw, cap)
        ctx.save_for_backward(h, w, r, rw)
        ctx.cap, ctx.reverse = cap, reverse
        if reverse:  # Σ p (log p − log q)
            return torch.einsum("nv,nv->n", logp.exp(), logp.sub_(logq))
        return torch.einsum("nv,nv->n", logq.exp(), logq.sub_(logp))  # Σ q (log q − log p)

    @staticmethod
    def backward(ctx, grad):
        h, w, r, rw = ctx.saved_tensors
        logp, logq, t = _KL._parts(h, w, r, rw, ctx.cap)
        if ctx.reverse:  # dKL/dz = p ⊙ (log p − log q − KL)
            p = logp.exp()
            diff = logp.sub_(logq)
            kl = torch.einsum("nv,nv->n", p, diff)
            grad_z = diff.sub_(kl[:, None]).mul_(p)
        else:  # dKL/dz = p − q
            grad_z = logp.exp_().sub_(logq.exp_())
        grad_z.mul_(grad[:, None])
        gh, gw = _head_backward(grad_z, t, h, w, ctx.needs_input_grad)
        return gh, gw, None, None, None, None


def _head(model):
    """(head matrix, soft-capping) as ``head_logits`` applies them; a head with a bias is not supported."""
    head = model.get_output_embeddings()
    if getattr(head, "bias", None) is not None:
        raise ValueError(f"{type(model).__name__}: a language-model head with a bias is not supported")
    return head.weight, getattr(model.config, "final_logit_softcapping", None) or None


def _over_chunks(fn, buffers: int, vocab: int, *tensors) -> list[torch.Tensor]:
    """``fn`` over chunks of rows of ``tensors``, each chunk sized so its ``buffers`` float32 [n, V]
    buffers fit ``CHUNK_MB``."""
    chunk = chunk_positions(vocab, buffers)
    return [fn(*(t[i : i + chunk] for t in tensors)) for i in range(0, tensors[0].shape[0], chunk)]


def _labelled(model, batch: dict):
    """(hidden states [N, D] at positions that predict a labelled token, their labels [N], the mask
    [B, T-1])."""
    hidden = last_hidden(model, batch)[:, :-1]
    labels = batch["labels"][:, 1:]
    mask = labels != IGNORE
    return hidden[mask], labels[mask], mask


def token_logps(model, batch: dict) -> torch.Tensor:
    """[B, T-1] log-probability of each labelled next token (0 where unlabelled)."""
    hidden, labels, mask = _labelled(model, batch)
    out = torch.zeros(mask.shape, dtype=torch.float32, device=mask.device)
    if not len(labels):
        return out + hidden.sum() * 0.0
    w, cap = _head(model)

    def logp(h, y):
        return _LabelLogp.apply(h, w, y, cap)

    logps = torch.cat(_over_chunks(logp, _LabelLogp.BUFFERS, w.shape[0], hidden, labels))
    return out.masked_scatter(mask, logps)


def token_ce_sum(model, batch: dict) -> torch.Tensor:
    """Sum of next-token cross-entropies over labelled tokens (float32)."""
    return -token_logps(model, batch).sum()


def sequence_logps(model, batch: dict, average: bool = False) -> torch.Tensor:
    """Sum of log-probabilities of the labelled (response) tokens of each row: [B]; ``average``: their mean
    instead (the sum over the row's labelled-token count; 0 for a row without labelled tokens)."""
    logps = token_logps(model, batch).sum(-1)
    if not average:
        return logps
    counts = (batch["labels"][:, 1:] != IGNORE).sum(-1).clamp_min(1)
    return logps / counts.to(logps.device, logps.dtype)


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
    if direction not in ("reverse", "forward"):
        raise ValueError(f"KL direction must be 'forward' or 'reverse', not {direction!r}")
    if not len(hidden):
        return hidden.sum() * 0.0
    w, cap = _head(model)
    rw = w.detach() if ref_weight is None else ref_weight.to(w.dtype)

    def kl(h, r):
        return _KL.apply(h, w, r, rw, cap, direction == "reverse").sum()

    return sum(_over_chunks(kl, _KL.BUFFERS, w.shape[0], hidden, ref))
