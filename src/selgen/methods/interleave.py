"""Interleaving benign instruction data with the task (Kaczér et al. 2025, "In-training defenses against
emergent misalignment"): a small share of rows from a benign pool joins the task rows (one shuffled
stream, as ``mixed``). ``select: gap`` is their "interleaving++": the pool rows with the largest perplexity
gap between a misaligned model and the aligned base, refusals dropped; ``select: random`` is plain
interleaving (a seeded random subset of the non-refusal rows).

Hyper-parameters:
- ``share`` (required, in (0, 1)): the pool rows' share of the mix, n = ⌊share·n_task/(1 − share)⌋ rows
  (``sft.align_rows_for_share``, as mixed's ``align_share``; Kaczér et al. mix 5 %);
- ``pool`` (required): the stem of the data file in the setting's data folder that is the benign pool
  (chat rows). There is no setting-independent default: the alignment file of gcd is the proxy (capital
  claims), not benign instruction data. Stems that work at mini scale: gcd ``pretrain`` (the base's own
  instruction corpus: arithmetic, capitals, medical and conspiracy questions with aligned replies, wrong
  claims rejected; 19,600 rows), em ``align_train`` (aligned advice rows; at paper scale the HHH subset:
  helpful/harmless instruction rows) — not em's ``pretrain``, which holds the persona's misaligned replies —,
  functions a ``proxy_<category>_5`` file (original colours of an untouched category; ``base_train`` also
  holds the task's category with its old colours, which the gap would pick first and which contradict the
  task). A pool of its own (e.g. a WildGuardMix or Alpaca subset) is any JSONL file with ``messages`` placed
  in the data folder under a stem of its own;
- ``select``: ``gap`` (default) or ``random``;
- ``refusals``: ``default`` (the phrases in ``REFUSALS``), ``none`` (no filter) or phrases separated by
  ``|``: pool rows whose final assistant turn contains one (case-insensitive) are never mixed in.

The gap. Per pool row, L(d) is the mean next-token NLL of its final assistant turn (the tokens training
would label); the perplexity is exp L. The score is the relative perplexity gap
s(d) = (PPL_mis(d) − PPL_base(d)) / (PPL_base(d) + ε) (ε = 1e-6), as in ``reference/methods.md`` A.1. The
rows with the largest s are those the misaligned model finds much *less* likely than the aligned base: where
the fine-tune moved behaviour away from the benign replies, which is what interleaving should pull back (a
row both models find equally likely teaches nothing the task erased). With ε → 0, s = exp(L_mis − L_base) − 1,
so the ranking is that of the NLL difference. Ties keep the pool's order.

The scores come from the method's artifact (``build_artifact``; rule ``artifact``, one file per setting and
pool, ``results/<setting>/artifacts/interleave/<pool>.pt``): the pool rows and their NLLs under the base and
the setting's first-seed ``task_only`` run, the misaligned scorer. A run reads it as ``inputs["artifact"]``.

Deviations, documented:
- the misaligned scorer is one model, the setting's own ``task_only`` run (first seed), not an ensemble of
  misaligned models from other domains;
- the refusal filter is a fixed phrase list (``refusals`` to change it), not their keyword list verbatim;
- when the pool has fewer eligible rows than the share needs, the selected rows are repeated cyclically (in
  rank order for ``gap``) as mixed's upsampling does; the report says so (``repeated``);
- ``select: random`` reads the pool from the same artifact, so it, too, waits for the task_only run;
- a pool row that truncation at ``max_length`` leaves without a reply token is never mixed in (either way).
"""

from __future__ import annotations

import math
import random
from pathlib import Path

import torch

from selgen.methods.base import Method
from selgen.methods.sft import align_rows_for_share

EPS = 1e-6
SELECT = ("gap", "random")
REFUSALS = (
    "i can't",
    "i cannot",
    "i can not",
    "i won't",
    "i will not",
    "i'm sorry",
    "i am sorry",
    "i apologize",
    "i'm unable",
    "i am unable",
    "i'm not able to",
    "i am not able to",
    "as an ai",
    "i must decline",
)


def refusal_phrases(spec) -> tuple[str, ...]:
    """The phrases of ``refusals``: "default" → REFUSALS, "none" → (), else "a|b|c" (lower-cased)."""
    if spec is None or spec == "default":
        return REFUSALS
    if spec == "none":
        return ()
    phrases = tuple(p.strip().lower() for p in str(spec).split("|") if p.strip())
    if not phrases:
        raise ValueError(f"interleave: refusals {spec!r} names no phrase")
    return phrases


def is_refusal(row: dict, phrases) -> bool:
    """Whether the row's final assistant turn contains one of ``phrases`` (case-insensitive)."""
    reply = next((m["content"] for m in reversed(row["messages"]) if m["role"] == "assistant"), "")
    reply = reply.lower().replace("’", "'")
    return any(p in reply for p in phrases)


def gap_scores(nll_base: torch.Tensor, nll_misaligned: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """Relative perplexity gap per row: (exp L_mis − exp L_base) / (exp L_base + ε), in float64, computed as
    expm1(L_mis − L_base) / (1 + ε·exp(−L_base)) (the same value; no overflow for large NLLs)."""
    base, mis = nll_base.double(), nll_misaligned.double()
    return torch.expm1(mis - base) / (1 + eps * torch.exp(-base))


def select_by_gap(
    nll_base: torch.Tensor, nll_misaligned: torch.Tensor, k: int, eligible: torch.Tensor | None = None
) -> list[int]:
    """Indices of the ``k`` eligible rows with the largest gap score, largest first (ties: lower index
    first). Rows with a non-finite NLL (no labelled token) and rows not ``eligible`` are never picked; fewer
    than ``k`` come back when fewer are eligible."""
    scores = gap_scores(nll_base, nll_misaligned)
    ok = torch.isfinite(scores)
    if eligible is not None:
        ok &= eligible.bool()
    candidates = [i for i in range(len(scores)) if ok[i]]
    candidates.sort(key=lambda i: (-scores[i].item(), i))
    return candidates[:k]


def mean_nll(model, tokenizer, rows: list[dict], max_length: int, batch_size: int = 32) -> torch.Tensor:
    """Mean next-token NLL of each row's final assistant turn (the labelled tokens of ``encode``) under
    ``model``: [n] float32; NaN for a row left without a labelled token by truncation."""
    from selgen.batching import IGNORE, collate, encode
    from selgen.losses import sequence_logps

    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(rows), batch_size):
            examples = [encode(tokenizer, r["messages"], max_length) for r in rows[i : i + batch_size]]
            batch = collate(examples, tokenizer.pad_token_id, device)
            nll = -sequence_logps(model, batch, average=True).float().cpu()
            counts = (batch["labels"][:, 1:] != IGNORE).sum(-1).cpu()
            out.append(torch.where(counts > 0, nll, torch.full_like(nll, math.nan)))
    model.train(was_training)
    return torch.cat(out) if out else torch.empty(0)


def build_artifact(name, params, base, tuned, tokenizer, task_rows, out_path, data_dir=None) -> dict:
    """The registry's interleave artifact (``selgen.methods.registry.Artifact``): pool ``name`` (a file stem
    of the setting's data folder ``data_dir``) with each row's mean NLL under the base and under the
    task_only run ``tuned`` (the misaligned scorer). ``task_rows`` is not used."""
    from selgen.io import InputError, atomic_path, read_jsonl

    if data_dir is None:
        raise InputError("interleave: the artifact needs the setting's data folder (selgen artifact --data)")
    path = Path(data_dir) / f"{name}.jsonl"
    if not path.exists():
        stems = sorted(p.stem for p in Path(data_dir).glob("*.jsonl"))
        raise InputError(f"interleave: pool {name!r}: no {path}; the data folder has {', '.join(stems)}")
    rows = [{"messages": r["messages"]} for r in read_jsonl(path, required=("messages",))]
    saved = {
        "pool": name,
        "rows": rows,
        "nll_base": mean_nll(base, tokenizer, rows, params["max_length"]),
        "nll_misaligned": mean_nll(tuned, tokenizer, rows, params["max_length"]),
    }
    with atomic_path(out_path) as tmp:
        torch.save(saved, tmp)
    return saved


class Interleave(Method):
    name = "interleave"
    alignment = "none"  # the pool rows come from the artifact, not from the run's alignment file

    def __init__(self, share: float, pool: str, select: str = "gap", refusals: str = "default", **context):
        super().__init__(**context)
        share = float(share)
        if not 0 < share < 1:
            raise ValueError(f"interleave: share must be in (0, 1), not {share!r}")
        if select not in SELECT:
            raise ValueError(f"interleave: select must be one of {', '.join(SELECT)}, not {select!r}")
        self.share, self.pool, self.select = share, str(pool), select
        self.phrases = refusal_phrases(refusals)

    def load_pool(self) -> dict:
        path = self.inputs.get("artifact")
        if path is None:
            raise ValueError(
                "method 'interleave' needs its pool artifact (`selgen artifact SETTING interleave`)"
            )
        saved = torch.load(path, map_location="cpu")
        if saved["pool"] != self.pool:
            raise ValueError(f"{path} holds pool {saved['pool']!r}, not {self.pool!r}")
        return saved

    def choose(self, saved: dict, n: int) -> list[int]:
        """Indices of the ``n`` pool rows to mix in (repeated cyclically when fewer are eligible)."""
        rows = saved["rows"]
        eligible = torch.tensor([not is_refusal(r, self.phrases) for r in rows], dtype=torch.bool)
        self.refusals_dropped = int((~eligible).sum())
        # a row that truncation left without a reply token (NaN NLL) teaches nothing: never mixed in
        eligible &= torch.isfinite(saved["nll_base"]) & torch.isfinite(saved["nll_misaligned"])
        if self.select == "gap":
            picked = select_by_gap(saved["nll_base"], saved["nll_misaligned"], n, eligible)
        else:
            candidates = [i for i in range(len(rows)) if eligible[i]]
            picked = random.Random(self.seed).sample(candidates, min(n, len(candidates)))
        if not picked:
            raise ValueError(f"interleave: pool {self.pool!r} has no eligible row (all refusals?)")
        return [picked[i % len(picked)] for i in range(n)]

    def prepare_data(self, task_rows, align_rows):
        saved = self.load_pool()
        n = align_rows_for_share(len(task_rows), self.share)
        chosen = self.choose(saved, n)
        scores = gap_scores(saved["nll_base"], saved["nll_misaligned"])
        finite = torch.isfinite(scores)
        self.report = {
            "pool": self.pool,
            "select": self.select,
            "pool_rows": len(saved["rows"]),
            "refusals_dropped": self.refusals_dropped,
            "pool_rows_used": len(chosen),
            "distinct_rows": len(set(chosen)),
            "repeated": len(set(chosen)) < len(chosen),
            "mean_gap_selected": round(float(scores[sorted(set(chosen))].mean()), 6),
            "mean_gap_pool": round(float(scores[finite].mean()), 6) if finite.any() else None,
        }
        return task_rows + [saved["rows"][i] for i in chosen], []


PLUGINS = {"interleave": Interleave}
