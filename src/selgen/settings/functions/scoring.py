"""Score the functions setting: which colour word does the model prefer after each prompt?

``colour_logprobs`` teacher-forces every candidate colour after the chat-templated prompt (generation prompt
included, as ``selgen.chat.prompt`` renders it) and sums the log-probabilities of the colour's
tokens, so a colour word of several tokens is scored as a whole sequence, not by its first token. By default
(``end_of_turn=True``) the scored continuation is the whole assistant turn as the chat template renders it
(the colour plus the template's end-of-turn marker), exactly the tokens training puts labels on
(``selgen.training.encode``); this also tells apart a colour that is a token prefix of another ("blue" vs.
"bluegreen"). With ``end_of_turn=False`` only the colour word's own tokens count. The prediction is the
argmax over the candidates (ties go to the earlier colour in the list).

``accuracy_rows`` summarises scored rows per category × eval set (``id``: held-in triggers, ``ood``:
held-out triggers) into metrics rows {setting, metric, category, eval_set, value, n}; ``summarize`` gives the
GCD-shaped {category, metric, value, n} of one eval set, and ``score`` scores generated replies (exact colour
word), so the module also fits the generation-based ``selgen.evaluation.evaluate``.

torch is imported lazily: importing this module (e.g. for the ``check`` command) stays cheap.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping, Sequence

from selgen.io import InputError

__all__ = [
    "METRIC",
    "SETTING",
    "accuracy_rows",
    "colour_logprobs",
    "continuation_ids",
    "normalize_reply",
    "predict_colours",
    "score",
    "score_logits",
    "scored_row",
    "summarize",
]

SETTING = "functions"
METRIC = "accuracy"


# ------------------------------------------------------------------------------------------------ encoding
def _turns(messages: list[dict]) -> list[dict]:
    return messages[:-1] if messages and messages[-1]["role"] == "assistant" else list(messages)


def continuation_ids(
    tokenizer, messages: list[dict], colors: Sequence[str], end_of_turn: bool = True
) -> tuple[list[int], list[list[int]]]:
    """(prompt token ids, one token-id list per colour) for a chat row; the prompt and each continuation are
    tokenized separately, as ``selgen.training.encode`` does for training."""
    from selgen import chat

    prompt = chat.prompt(tokenizer, messages)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    if not prompt_ids:
        raise ValueError("empty prompt: a continuation needs at least one prompt token to condition on")
    conts = []
    for colour in colors:
        if end_of_turn:  # the reply as training labels it (``selgen.chat.split``, as training.encode)
            text = chat.split(tokenizer, _turns(messages) + [{"role": "assistant", "content": colour}])[1]
        else:
            text = colour
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        if not ids:
            raise ValueError(f"colour {colour!r} encodes to no tokens")
        conts.append(list(ids))
    return list(prompt_ids), conts


def _accepts_logits_to_keep(model) -> bool:
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    try:
        return "logits_to_keep" in inspect.signature(base.forward).parameters
    except (TypeError, ValueError):
        return False


# ------------------------------------------------------------------------------------------------ scoring
def colour_logprobs(
    model,
    tokenizer,
    messages_list: Sequence[list[dict]],
    colors: Sequence[str],
    batch_size: int = 16,
    end_of_turn: bool = True,
    share_prompt: bool | None = None,
) -> list[dict[str, float]]:
    """{colour: log P(colour's continuation | prompt)} per chat row (its final assistant turn, if any, is
    dropped). ``batch_size`` counts (prompt, colour) sequences per forward pass.

    Batches are built here, left-padded, with position ids counted from the first real token, whatever the
    tokenizer's ``padding_side``; so a row's scores do not depend on its batch mates. Log-softmax in fp32.

    ``share_prompt`` (default: whenever the model is a transformers model, which keeps a KV cache) runs each
    prompt once and the colours' continuations on its cache, repeated per colour: with 16 colours that is
    ~8× fewer token positions than teacher-forcing prompt + colour 16 times (``share_prompt=False``), with
    the same scores.
    """
    colors = list(colors)
    encoded = [continuation_ids(tokenizer, m, colors, end_of_turn) for m in messages_list]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)
    if share_prompt is None:
        share_prompt = hasattr(model, "config") and hasattr(model.config, "use_cache")
    was_training = model.training
    model.eval()
    try:
        if share_prompt:
            scores = _scores_on_prompt_cache(
                model, encoded, len(colors), max(1, batch_size // len(colors)), pad
            )
        else:
            scores = _scores_teacher_forced(model, encoded, len(colors), batch_size, pad)
    finally:
        model.train(was_training)
    return [dict(zip(colors, row, strict=True)) for row in scores]


def _left_padded(seqs: Sequence[list[int]], pad: int):
    """(ids, attention mask, position ids counted from the first real token) of left-padded sequences."""
    import torch

    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for b, tokens in enumerate(seqs):
        ids[b, width - len(tokens) :] = torch.tensor(tokens)
        mask[b, width - len(tokens) :] = 1
    return ids, mask, (mask.cumsum(-1) - 1).clamp(min=0)


def _scores_teacher_forced(model, encoded, n_colors: int, batch_size: int, pad: int) -> list[list[float]]:
    """One forward pass over prompt + continuation per (row, colour)."""
    import torch

    seqs = []  # (row, colour index, token ids, continuation length)
    for i, (prompt_ids, conts) in enumerate(encoded):
        seqs += [(i, j, prompt_ids + c, len(c)) for j, c in enumerate(conts)]
    order = sorted(range(len(seqs)), key=lambda s: len(seqs[s][2]))
    dev = next(model.parameters()).device
    keep = _accepts_logits_to_keep(model)
    scores = [[math.nan] * n_colors for _ in encoded]
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            batch = [seqs[s] for s in order[start : start + batch_size]]
            ids, mask, positions = _left_padded([s[2] for s in batch], pad)
            k_max = max(s[3] for s in batch)
            extra = {"logits_to_keep": k_max + 1} if keep else {}
            inputs = {"input_ids": ids, "attention_mask": mask, "position_ids": positions}
            logits = model(**{k: v.to(dev) for k, v in inputs.items()}, **extra).logits
            # logits at position p predict token p + 1: the last k_max tokens are predicted by the
            # k_max positions before the last one.
            logp = logits[:, -(k_max + 1) : -1].float().log_softmax(-1)
            targets = ids[:, ids.shape[1] - k_max :].to(logp.device)
            token_lp = logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
            lengths = torch.tensor([s[3] for s in batch], device=logp.device)
            valid = torch.arange(k_max, device=logp.device).unsqueeze(0) >= (k_max - lengths).unsqueeze(1)
            sums = torch.where(valid, token_lp, torch.zeros_like(token_lp)).sum(-1).tolist()
            for (i, j, _, _), total in zip(batch, sums, strict=True):
                scores[i][j] = total
    return scores


def _scores_on_prompt_cache(
    model, encoded, n_colors: int, rows_per_batch: int, pad: int
) -> list[list[float]]:
    """Each prompt once (its last position scores every colour's first token), then every colour's
    remaining tokens on the prompt's KV cache repeated ``n_colors`` times (right-padded: a continuation
    never attends to the padding after it)."""
    import torch

    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i][0]))
    dev = next(model.parameters()).device
    keep = {"logits_to_keep": 1} if _accepts_logits_to_keep(model) else {}
    scores = [[math.nan] * n_colors for _ in encoded]
    with torch.no_grad():
        for start in range(0, len(order), rows_per_batch):
            rows = order[start : start + rows_per_batch]
            ids, mask, positions = _left_padded([encoded[i][0] for i in rows], pad)
            out = model(
                input_ids=ids.to(dev),
                attention_mask=mask.to(dev),
                position_ids=positions.to(dev),
                use_cache=True,
                **keep,
            )
            first = out.logits[:, -1].float().log_softmax(-1)  # [rows, vocab]
            conts = [c for i in rows for c in encoded[i][1]]  # row-major: row r's colours at r*n .. r*n+n-1
            firsts = torch.tensor([c[0] for c in conts], device=first.device)
            total = first.repeat_interleave(n_colors, 0).gather(-1, firsts.unsqueeze(-1)).squeeze(-1)
            rest = max(len(c) for c in conts) - 1
            if rest > 0:
                cache = out.past_key_values
                cache.batch_repeat_interleave(n_colors)
                feed = torch.full((len(conts), rest), pad, dtype=torch.long)
                cont_mask = torch.zeros((len(conts), rest), dtype=torch.long)
                for b, c in enumerate(conts):
                    feed[b, : len(c) - 1] = torch.tensor(c[:-1])
                    cont_mask[b, : len(c) - 1] = 1
                # the first continuation token sits right after the prompt's last position
                offset = positions[:, -1:].repeat_interleave(n_colors, 0) + 1
                logits = model(
                    input_ids=feed.to(dev),
                    attention_mask=torch.cat([mask.repeat_interleave(n_colors, 0), cont_mask], -1).to(dev),
                    position_ids=(offset + torch.arange(rest)).to(dev),
                    past_key_values=cache,
                    use_cache=True,
                ).logits
                logp = logits.float().log_softmax(-1)  # position t predicts continuation token t + 1
                targets = torch.full((len(conts), rest), 0, dtype=torch.long)
                for b, c in enumerate(conts):
                    targets[b, : len(c) - 1] = torch.tensor(c[1:])
                token_lp = logp.gather(-1, targets.to(logp.device).unsqueeze(-1)).squeeze(-1)
                total = total + torch.where(cont_mask.bool().to(logp.device), token_lp, 0.0).sum(-1)
            for b, value in enumerate(total.tolist()):
                scores[rows[b // n_colors]][b % n_colors] = value
    return scores


def predict_colours(
    model, tokenizer, rows: Sequence[Mapping], colors: Sequence[str], batch_size: int = 16, end_of_turn=True
) -> list[str]:
    """The argmax colour per row (rows carry ``messages``); ties go to the earlier colour of ``colors``."""
    lps = colour_logprobs(model, tokenizer, [r["messages"] for r in rows], colors, batch_size, end_of_turn)
    return [max(colors, key=lambda c, lp=lp: lp[c]) for lp in lps]


def scored_row(row: Mapping, predicted: str | None, eval_set: str | None = None) -> dict:
    """The scored view of a data row: category, trigger, x, gold ``output``, ``predicted``, ``correct``."""
    out = {
        "category": row["category"],
        "input_trigger": row["input_trigger"],
        "input_x": list(row["input_x"]),
        "output": row["output"],
        "predicted": predicted,
        "correct": predicted == row["output"],
    }
    if eval_set is not None or "eval_set" in row:
        out["eval_set"] = eval_set if eval_set is not None else row["eval_set"]
    return out


def score_logits(
    model,
    tokenizer,
    rows: Sequence[Mapping],
    colors: Sequence[str],
    batch_size: int = 16,
    end_of_turn: bool = True,
    eval_set: str | None = None,
) -> list[dict]:
    """Scored rows (``scored_row``) with the logit-argmax prediction over ``colors`` (use the spec's
    ``colors``); ``eval_set`` is stamped on each row when given."""
    predicted = predict_colours(model, tokenizer, rows, colors, batch_size, end_of_turn)
    return [scored_row(r, p, eval_set) for r, p in zip(rows, predicted, strict=True)]


def normalize_reply(text: str) -> str:
    """A generated reply reduced for exact comparison: stripped, lower-cased, trailing punctuation dropped."""
    return text.strip().rstrip(".!,;:").strip().lower()


def score(rows: Sequence[Mapping]) -> list[dict]:
    """Score generated replies (field ``response``): correct iff the reply is exactly the gold colour word
    (after ``normalize_reply``). The generation-based alternative to ``score_logits``."""
    out = []
    for i, row in enumerate(rows, start=1):
        missing = [f for f in ("category", "input_trigger", "input_x", "output", "response") if f not in row]
        if missing:
            raise InputError(f"row {i}: missing field(s) {', '.join(map(repr, missing))}")
        reply = normalize_reply(str(row["response"]))
        scored = scored_row(row, reply)
        scored["correct"] = reply == normalize_reply(str(row["output"]))
        out.append(scored)
    return out


# ------------------------------------------------------------------------------------------------ summary
def accuracy_rows(scored: Sequence[Mapping], eval_set: str | None = None) -> list[dict]:
    """Accuracy per (category, eval set), in first-appearance order, as metrics rows
    ``{setting: "functions", metric: "accuracy", category, eval_set, value, n}``.

    The eval set is ``eval_set`` when given, else each row's ``eval_set`` field. n counts the rows; there is
    no pooled category (the figures compare categories).
    """
    groups: dict[tuple[str, str], list[bool]] = {}
    for i, row in enumerate(scored, start=1):
        fields = ("category", "correct") + (() if eval_set is not None else ("eval_set",))
        missing = [f for f in fields if f not in row]
        if missing:
            raise InputError(f"scored row {i}: missing field(s) {', '.join(map(repr, missing))}")
        key = (row["category"], eval_set if eval_set is not None else row["eval_set"])
        groups.setdefault(key, []).append(bool(row["correct"]))
    return [
        {
            "setting": SETTING,
            "metric": METRIC,
            "category": category,
            "eval_set": es,
            "value": sum(flags) / len(flags),
            "n": len(flags),
        }
        for (category, es), flags in groups.items()
    ]


def summarize(scored: Sequence[Mapping]) -> list[dict]:
    """Accuracy per category of one eval set, GCD-shaped: ``{category, metric, value, n}`` (the caller adds
    the eval set and the run's identity, as ``selgen.evaluation.evaluate`` does)."""
    keys = ("category", "metric", "value", "n")
    return [{k: r[k] for k in keys} for r in accuracy_rows(scored, eval_set="")]
