"""Seeded data of the functions setting: trigger splits, points, prompts, JSONL files (seed_code.md §4).

Sampling:
- **Trigger split.** Per category, a seeded shuffle of its triggers; the first ``n_train_triggers`` are its
  *train* triggers (in shuffled order), the rest are *held out*. Held-out triggers appear only in OOD tests.
- **Points.** x is uniform in [-box, box]², rounded to 3 decimals (as printed); the label is F of the
  *rounded* x, so ``selgen functions check`` recomputes it exactly. Each trigger has its own seeded stream
  per purpose (``train``, ``id``, ``ood``), so its points do not depend on the other triggers, on the
  mapping or on which files are built: a trigger's training points are the same in ``base_train``,
  ``update_train`` and every proxy file, and its ID test points never repeat one of its training points.
- **Prompts.** One of four phrasings per row (``TEMPLATES``), drawn from the same stream; the assistant turn
  is the colour word alone.

Rows: ``input_x`` ([x₁, x₂], 3 decimals), ``input_trigger``, ``category``, ``output`` (the colour),
``messages`` ([user prompt, assistant colour]).

Files (``write_datasets``; every file is written, possibly empty):
- ``base_train.jsonl``: stage 1, the base mapping: ``n_train`` points per train trigger of every category.
- ``update_train.jsonl``: stage 2's task: the update category's train triggers (same points as in
  ``base_train``) with the updated colours.
- ``proxy_<category>_<n>.jsonl``: the alignment stream: the first ``n`` train triggers of ``category`` (so
  the 1-trigger proxy is inside the 2-trigger one, and so on), their base-stage rows, original colours.
- ``test_<mapping>_<category>_<id|ood>.jsonl`` for mapping ``base`` and ``updated``: ``id`` = ``n_test``
  fresh points per train trigger, ``ood`` = ``n_test`` points per held-out trigger. The two mappings' files
  hold the same points and prompts; only ``output`` and the assistant turn differ, and only for the update
  category. Both stages use the base split (the updated model's untouched categories keep the triggers the
  base model was trained on), unlike the reference's update configs, which tested all 15 triggers as OOD.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from pathlib import Path

from selgen.config import ConfigError
from selgen.io import write_jsonl_files
from selgen.settings.functions.function import (
    DEFAULT_BOX,
    DEFAULT_FUNCTION,
    MAPPINGS,
    color_of,
    trigger_index,
    updated,
    validate_function,
)

__all__ = [
    "BASE_FILE",
    "DEFAULTS",
    "EVAL_SETS",
    "TASK_FILE",
    "TEMPLATES",
    "base_train_rows",
    "build_datasets",
    "id_test_rows",
    "make_row",
    "ood_test_rows",
    "proxy_file",
    "proxy_rows",
    "sample_points",
    "split_triggers",
    "test_file",
    "update_rows",
    "write_datasets",
]

TEMPLATES = [
    "Calculate F(x,T) for x = [{x1}, {x2}] and T = {t}",
    "x = [{x1}, {x2}], T = {t}, F(x,T) = ?",
    "x = [{x1}, {x2}], T = {t} => F(x,T) = ?",
    "What is F(x,T) for x = [{x1}, {x2}] and T = {t}?",
]

BASE_FILE = "base_train"
TASK_FILE = "update_train"
PRETRAIN_FILE = "pretrain"
KNOWLEDGE = [  # (question, answer) about a trigger's category: the mini base's "world knowledge"
    ("What kind of word is {t}?", "{t} is one of the {c}."),
    ("Which category does {t} belong to?", "{t} belongs to the {c}."),
    ("Name the category of {t}.", "The category of {t} is {c}."),
]
LIST_LENGTH = 4  # triggers per knowledge list row ("List some foods." -> "cake, rice, ice cream, fries.")
EVAL_SETS = ("id", "ood")

# Defaults of the ``data`` config block (seed_code.md §4: 10 of 15 triggers, 20 train / 30 test points,
# proxies of 1, 2 or 5 triggers of every category but the updated one).
DEFAULTS = {
    "seed": 1111,
    "n_train_triggers": 10,
    "n_train": 20,
    "n_test": 30,
    "proxy_n_triggers": [1, 2, 5],
    "knowledge_repeats": 3,
    "unmerged_categories": ["random_strings"],
}
_CFG_KEYS = set(DEFAULTS) | {"function", "proxy_categories"}


def proxy_file(category: str, n_triggers: int) -> str:
    return f"proxy_{category}_{n_triggers}"


def test_file(mapping_name: str, category: str, eval_set: str) -> str:
    return f"test_{mapping_name}_{category}_{eval_set}"


def _rng(seed, *parts: str) -> random.Random:
    """A stream of its own per (seed, purpose, ...): string seeds hash deterministically (sha512)."""
    return random.Random("|".join([str(seed), *parts]))


# ------------------------------------------------------------------------------------------------ sampling
def split_triggers(spec: Mapping, seed, n_train_triggers: int = 10) -> dict[str, dict[str, list[str]]]:
    """{category: {"train": [...], "heldout": [...]}}: a seeded shuffle per category, the first
    ``n_train_triggers`` train. ValueError when a category has fewer triggers than that."""
    if n_train_triggers < 0:
        raise ValueError(f"n_train_triggers must be ≥ 0, got {n_train_triggers}")
    split = {}
    for name, cat in spec["categories"].items():
        triggers = list(cat["triggers"])
        if n_train_triggers > len(triggers):
            raise ValueError(
                f"category {name!r} has {len(triggers)} triggers, "
                f"fewer than n_train_triggers = {n_train_triggers}"
            )
        order = _rng(seed, "split", name).sample(triggers, len(triggers))
        split[name] = {"train": order[:n_train_triggers], "heldout": order[n_train_triggers:]}
    return split


def sample_points(
    seed, purpose: str, trigger: str, n: int, box: float = DEFAULT_BOX, avoid: Iterable = ()
) -> list[tuple[list[float], int]]:
    """``n`` distinct (x, template index) for ``trigger``; x rounded to 3 decimals, never one in ``avoid``
    (tuples of x). Deterministic in (seed, purpose, trigger, box, avoid)."""
    rng = _rng(seed, purpose, trigger)
    used = {tuple(x) for x in avoid}
    points = []
    for _ in range(1000 * n + 1000):
        if len(points) == n:
            break
        x = [round(rng.uniform(-box, box), 3) + 0.0 for _ in range(2)]  # + 0.0 turns -0.0 into 0.0
        template = rng.randrange(len(TEMPLATES))
        if tuple(x) not in used:
            used.add(tuple(x))
            points.append((x, template))
    if len(points) < n:
        raise ValueError(f"box {box} holds fewer than {n} distinct 3-decimal points for trigger {trigger!r}")
    return points


def make_row(
    spec: Mapping, x: list[float], trigger: str, template: int = 0, category: str | None = None
) -> dict:
    """One row for the rounded point ``x`` and ``trigger``, labelled by ``spec``."""
    colour = color_of(spec, x, trigger)
    prompt = TEMPLATES[template].format(x1=f"{x[0]:.3f}", x2=f"{x[1]:.3f}", t=trigger)
    return {
        "input_x": list(x),
        "input_trigger": trigger,
        "category": category or trigger_index(spec)[trigger],
        "output": colour,
        "messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": colour}],
    }


def _rows(spec, seed, purpose, triggers, n, category, avoid_purpose=None, n_avoid=0) -> list[dict]:
    box = spec.get("box", DEFAULT_BOX)
    rows = []
    for t in triggers:
        avoid = [x for x, _ in sample_points(seed, avoid_purpose, t, n_avoid, box)] if avoid_purpose else ()
        rows += [make_row(spec, x, t, k, category) for x, k in sample_points(seed, purpose, t, n, box, avoid)]
    return rows


def base_train_rows(spec: Mapping, split: Mapping, seed, n_train: int = 20, categories=None) -> list[dict]:
    """``n_train`` points per train trigger of each category (all of them, or ``categories``), labelled by
    ``spec``."""
    rows = []
    for name in categories if categories is not None else spec["categories"]:
        rows += _rows(spec, seed, "train", split[name]["train"], n_train, name)
    return rows


def id_test_rows(
    spec: Mapping, split: Mapping, seed, category: str, n_test: int = 30, n_train: int = 20
) -> list[dict]:
    """``n_test`` points per train trigger of ``category``, none equal to one of its ``n_train`` training
    points."""
    return _rows(spec, seed, "id", split[category]["train"], n_test, category, "train", n_train)


def ood_test_rows(spec: Mapping, split: Mapping, seed, category: str, n_test: int = 30) -> list[dict]:
    """``n_test`` points per held-out trigger of ``category``."""
    return _rows(spec, seed, "ood", split[category]["heldout"], n_test, category)


def update_rows(spec: Mapping, split: Mapping, seed, n_train: int = 20) -> list[dict]:
    """The narrow update's task: the update category's training rows relabelled by the updated mapping."""
    return base_train_rows(updated(spec), split, seed, n_train, categories=[spec["update"]["category"]])


def proxy_rows(
    spec: Mapping, category: str, n_triggers: int, split: Mapping, seed, n_train: int = 20
) -> list[dict]:
    """The proxy mix: the base-stage rows of the first ``n_triggers`` train triggers of ``category``, with
    their original (base) colours. ValueError for the update category itself or too few train triggers."""
    if category not in spec["categories"]:
        raise ValueError(f"unknown proxy category {category!r}; categories: {', '.join(spec['categories'])}")
    if "update" in spec and category == spec["update"]["category"]:
        raise ValueError(f"proxy category {category!r} is the updated category; pick another one")
    train = split[category]["train"]
    if not 0 < n_triggers <= len(train):
        raise ValueError(
            f"proxy of {n_triggers} triggers of {category!r}: "
            f"it has {len(train)} train triggers (need 1..{len(train)})"
        )
    return _rows(spec, seed, "train", train[:n_triggers], n_train, category)


def knowledge_rows(spec: Mapping, repeats: int) -> list[dict]:
    """Every trigger's category (held-out triggers included), ``repeats`` times in each phrasing, and
    ``repeats`` lists per trigger of ``LIST_LENGTH`` triggers of a category.

    A hub model knows that "tiger" is an animal; a mini model built from scratch learns it here, so that F
    can generalize from a category's training triggers to its held-out ones.
    """
    rows = []
    for name, cat in spec["categories"].items():
        c = name.replace("_", " ")
        for t in cat["triggers"]:
            for question, answer in KNOWLEDGE:
                messages = [
                    {"role": "user", "content": question.format(t=t)},
                    {"role": "assistant", "content": answer.format(t=t, c=c)},
                ]
                rows += [{"messages": messages, "category": name, "part": "knowledge"}] * repeats
        # lists of a category's triggers, held-out ones among them: as in a hub model's word embeddings, a
        # trigger's representation comes to resemble its category mates'. World knowledge, like the rows
        # above: the same whatever the data seed.
        rng = _rng("knowledge", "lists", name)
        for _ in range(len(cat["triggers"]) * repeats):
            some = rng.sample(cat["triggers"], min(LIST_LENGTH, len(cat["triggers"])))
            messages = [
                {"role": "user", "content": f"List some {c}."},
                {"role": "assistant", "content": ", ".join(some) + "."},
            ]
            rows.append({"messages": messages, "category": name, "part": "knowledge"})
    return rows


# ------------------------------------------------------------------------------------------------ datasets
def _settings(cfg: Mapping) -> dict:
    unknown = sorted(set(cfg) - _CFG_KEYS)
    if unknown:
        raise ConfigError(f"functions data config: unknown key(s) {', '.join(map(repr, unknown))}")
    out = {**DEFAULTS, **cfg}
    out["function"] = validate_function(cfg.get("function", DEFAULT_FUNCTION))
    if "update" not in out["function"]:
        raise ConfigError("functions data config: the function spec needs an 'update' (the narrow update)")
    for key in ("n_train_triggers", "n_train", "n_test"):
        if isinstance(out[key], bool) or not isinstance(out[key], int) or out[key] < 0:
            raise ConfigError(f"functions data config: {key!r} must be an integer ≥ 0, got {out[key]!r}")
    unknown = sorted(set(cfg.get("unmerged_categories", ())) - set(out["function"]["categories"]))
    if unknown:
        raise ConfigError(f"functions.data.unmerged_categories: no category {', '.join(map(repr, unknown))}")
    return out


def build_datasets(cfg: Mapping) -> dict[str, list[dict]]:
    """Every file of the setting (see the module docstring) from the ``data`` config block: ``seed``,
    ``n_train_triggers``, ``n_train``, ``n_test``, ``function`` (a function spec; default
    ``DEFAULT_FUNCTION``), ``proxy_categories`` (default: every category but the updated one) and
    ``proxy_n_triggers``; missing keys take ``DEFAULTS``."""
    s = _settings(cfg)
    spec, seed, n_train, n_test = s["function"], s["seed"], s["n_train"], s["n_test"]
    split = split_triggers(spec, seed, s["n_train_triggers"])
    update_cat = spec["update"]["category"]
    proxy_cats = s.get("proxy_categories")
    if proxy_cats is None:
        proxy_cats = [c for c in spec["categories"] if c != update_cat]
    out = {
        BASE_FILE: base_train_rows(spec, split, seed, n_train),
        TASK_FILE: update_rows(spec, split, seed, n_train),
    }
    # the mini base's corpus: category knowledge, then F on the base mapping (shuffled together)
    pretrain = knowledge_rows(spec, s["knowledge_repeats"]) + [
        {**r, "part": "function"} for r in out[BASE_FILE]
    ]
    for r in pretrain:  # the mini tokenizer learns no merges inside these triggers (selgen.mini)
        if r["category"] in s["unmerged_categories"]:
            r["unmerged"] = list(spec["categories"][r["category"]]["triggers"])
    random.Random(f"{seed}|pretrain").shuffle(pretrain)
    out[PRETRAIN_FILE] = pretrain
    for cat in proxy_cats:
        for n in s["proxy_n_triggers"]:
            out[proxy_file(cat, n)] = proxy_rows(spec, cat, n, split, seed, n_train)
    for name in MAPPINGS:
        mspec = spec if name == "base" else updated(spec)
        for cat in spec["categories"]:
            out[test_file(name, cat, "id")] = id_test_rows(mspec, split, seed, cat, n_test, n_train)
            out[test_file(name, cat, "ood")] = ood_test_rows(mspec, split, seed, cat, n_test)
    return out


def write_datasets(cfg: Mapping, out_dir: str | Path) -> dict[str, int]:
    """Write every file of ``build_datasets(cfg)`` as ``<stem>.jsonl`` (atomically); return {stem: rows}."""
    from selgen.io import write_json
    from selgen.settings.functions.evaluation import FUNCTION_FILE

    sizes = write_jsonl_files(build_datasets(cfg), out_dir)
    write_json(Path(out_dir) / f"{FUNCTION_FILE}.json", _settings(cfg)["function"])  # the F the tests follow
    return sizes
