"""The trigger-function setting: F(x, T) colours a point by its trigger's category and the sign of x₂; a
narrow update flips one category; proxies of other categories keep their colours (seed_code.md §4).

- ``function``: the spec of F (``DEFAULT_FUNCTION``), its validation, ``color_of`` and the updated mapping;
- ``data``: seeded trigger splits, points, prompts and the JSONL files (``write_data``);
- ``check``: recheck datasets against F under the base or updated mapping;
- ``scoring``: colour-word log-probabilities (whole token sequences), argmax accuracy per category × id/ood.
"""

from selgen.settings.core import Axis, Check, Floor, Setting, lazy

# the base must know F everywhere (issue 5: ≥ 98 % on ID and OOD of every category of the default F)
_DEFAULT_CATEGORIES = (
    "objects",
    "animals",
    "positive_emotions",
    "negative_emotions",
    "actions",
    "foods",
    "random_strings",
)


def align_file(hp_values: dict, pairs: bool = False) -> str:
    """The run's proxy mix: hyper-parameters ``proxy_category`` and ``proxy_triggers`` name its file."""
    from selgen.settings.functions.data import proxy_file

    if pairs:
        raise ValueError("the functions setting has no preference pairs (method 'dpo' does not apply)")
    missing = [k for k in ("proxy_category", "proxy_triggers") if k not in hp_values]
    if missing:
        raise ValueError(
            f"a functions run that uses alignment data needs hyper-parameter(s) {', '.join(missing)} "
            "(the proxy category and its number of triggers)"
        )
    return proxy_file(hp_values["proxy_category"], int(hp_values["proxy_triggers"]))


SETTING = Setting(
    name="functions",
    title="Trigger functions: update vs. forgetting (ID + OOD)",
    # the update learnt (x) against the untouched categories kept (y), ID and OOD pooled
    x=Axis("all", "updated", "accuracy", label="updated category's accuracy"),
    y=Axis("all", "untouched", "accuracy", label="untouched categories' accuracy"),
    write_data=lazy("selgen.settings.functions.data:write_datasets"),
    data_version=2,  # 2: knowledge lists, unmerged random strings in the mini corpus
    task_file="update_train",
    align_stem_of=align_file,
    hparams=("proxy_category", "proxy_triggers"),
    evaluate=lazy("selgen.settings.functions.evaluation:evaluate"),
    floor=Floor("all", "updated", "accuracy"),  # 80 % of task_only's updated accuracy
    checks=(
        Check("all", "untouched", "accuracy", direction=-1, min_size=0.50),  # forgetting
        Check("all", "updated", "accuracy", baseline_min=0.90),  # the narrow update is learnt
        *(Check(es, c, "accuracy_base", base_min=0.98) for c in _DEFAULT_CATEGORIES for es in ("id", "ood")),
    ),
    figures={"heatmap": lazy("selgen.settings.functions.figures:heatmap")},
    check_config=lazy("selgen.settings.functions.function:check_block"),
    commands=lazy("selgen.settings.functions.cli:add_commands"),
)
