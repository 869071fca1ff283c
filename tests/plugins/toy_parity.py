"""A toy setting and a toy method defined outside the package, as a researcher's plug-in would be
(``plugins: [tests/plugins/toy_parity.py]`` in a config): nothing under src/ or workflow/ names them.

Setting ``parity``: "is the number of ones in 0110 even or odd?"; the task rows are strings of length 4, the
alignment rows strings of length 3, and the model is evaluated on held-out strings of both lengths.
Method ``scaled_ce``: task-only fine-tuning with the cross-entropy scaled by ``scale``.
"""

import random

from selgen.losses import token_ce_sum
from selgen.methods.base import Method
from selgen.methods.registry import MethodSpec, register
from selgen.settings import Axis, Check, Setting
from selgen.settings import register as register_setting


def _row(bits: str) -> dict:
    answer = "even" if bits.count("1") % 2 == 0 else "odd"
    return {
        "messages": [
            {"role": "user", "content": f"parity of {bits}?"},
            {"role": "assistant", "content": answer},
        ],
        "answer": answer,
    }


def _strings(n: int) -> list[str]:
    return [format(i, f"0{n}b") for i in range(2**n)]


def write_data(cfg: dict, out_dir) -> dict:
    from selgen.io import write_jsonl_files

    rng = random.Random(cfg["seed"])
    long, short = _strings(4), _strings(3)
    rng.shuffle(long)
    rng.shuffle(short)
    files = {
        "task_train": [_row(b) for b in long[:10]],
        "align_train": [_row(b) for b in short[:5]],
        "test_long": [_row(b) for b in long[10:]],
        "test_short": [_row(b) for b in short[5:]],
        "pretrain": [_row(b) for b in long + short] * cfg["repeats"],
    }
    return write_jsonl_files(files, out_dir)


def score(rows: list[dict]) -> list[dict]:
    return [{"answer": r["answer"], "correct": r["response"].strip().startswith(r["answer"])} for r in rows]


def summarize(scored: list[dict]) -> list[dict]:
    n = len(scored)
    value = sum(s["correct"] for s in scored) / n if n else float("nan")
    return [{"category": "all", "metric": "accuracy", "value": value, "n": n}]


SETTING = register_setting(
    Setting(
        name="parity",
        title="Parity: long strings (task) vs. short strings (kept)",
        x=Axis("long", "all", "accuracy", label="accuracy on held-out 4-bit strings"),
        y=Axis("short", "all", "accuracy", label="accuracy on held-out 3-bit strings"),
        write_data=write_data,
        align_file="align_train",
        score=score,
        summarize=summarize,
        checks=(Check("long", "all", "accuracy"),),
        schema={
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "seeds": {"$ref": "#/definitions/seeds"},
                "data": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "seed": {"type": "integer", "default": 0},
                        "repeats": {"type": "integer", "minimum": 1, "default": 4},
                    },
                    "default": {},
                },
                "base": {"$ref": "#/definitions/base", "default": {}},
                "train": {"$ref": "#/definitions/train", "default": {}},
                "eval": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "sets": {"type": "object", "default": {"long": "test_long", "short": "test_short"}},
                        "max_new_tokens": {"type": "integer", "default": 3},
                        "batch_size": {"type": "integer", "default": 64},
                    },
                    "default": {},
                },
                "methods": {"$ref": "#/definitions/methods", "default": {"task_only": {}}},
            },
            "default": {},
        },
    )
)


class ScaledCE(Method):
    """Task cross-entropy times ``scale``."""

    name = "scaled_ce"

    def __init__(self, scale=1.0, **context):
        super().__init__(**context)  # the run's DAG inputs and seed
        self.scale = float(scale)

    def loss(self, model, task, align, ctx):
        ce = token_ce_sum(model, task) / ctx.n_task
        return self.scale * ce, {"task_ce": ce.item()}


PLUGINS = {"scaled_ce": ScaledCE}
register("scaled_ce", MethodSpec(__name__, required=("scale",)))
