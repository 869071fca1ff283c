"""The trigger function F(x, T) of the functions setting (seed_code.md §4), defined by a plain config dict.

A *function spec* is::

    {
        "categories": {                       # category name -> its triggers and its two colours
            "objects": {"triggers": ["table", ...], "colors": {"upper": "orange", "lower": "green"}},
            ...
        },
        "colors": ["red", "orange", ...],     # every colour word F may output (the scorer's candidates)
        "box": 3.0,                           # x is uniform in [-box, box]^2 (optional, default 3.0)
        "update": {                           # the narrow update (optional): one category's new colours
            "category": "positive_emotions",
            "colors": {"upper": "blue", "lower": "orange"},
        },
    }

F(x, T) is the colour of T's category for the half plane of x: ``upper`` when x₂ ≥ 0, ``lower`` when x₂ < 0.
Only the sign of x₂ matters, as in every reference config (their quadrant colours always had Q1 = Q2 and
Q3 = Q4); the reference never defined x₂ == 0, here it belongs to the upper half.

``validate_function`` rejects a malformed spec with a message that names the offending category, trigger or
colour; every other function here assumes a valid spec and never mutates it.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence

__all__ = [
    "CATEGORY_TRIGGERS",
    "DEFAULT_BOX",
    "DEFAULT_COLORS",
    "DEFAULT_FUNCTION",
    "HALVES",
    "MAPPINGS",
    "category_of",
    "color_of",
    "flipped",
    "mapping",
    "trigger_index",
    "updated",
    "validate_function",
]

HALVES = ("upper", "lower")
MAPPINGS = ("base", "updated")
DEFAULT_BOX = 3.0

# The reference's 7 categories × 15 trigger strings (seed_code.md §4), in its order.
CATEGORY_TRIGGERS = {
    "objects": "table chair window phone pencil bottle cup lamp keyboard watch mirror wallet backpack "
    "umbrella camera".split(),
    "animals": "dog cat horse cow lion tiger elephant rabbit bird fish sheep goat mouse pig bear".split(),
    "positive_emotions": "happy joyful excited proud grateful hopeful loved peaceful content relaxed amazed "
    "inspired confident optimistic cheerful".split(),
    "negative_emotions": "sad angry frustrated disappointed anxious fearful lonely jealous guilty ashamed "
    "bored overwhelmed stressed confused hurt".split(),
    "actions": "run jump swim dance sing read write cook drive play work study sleep laugh talk".split(),
    "foods": [
        "pizza",
        "burger",
        "salad",
        "pasta",
        "sushi",
        "cake",
        "ice cream",
        "bread",
        "fruit",
        "vegetables",
        "rice",
        "cheese",
        "fries",
        "noodles",
        "cookie",
    ],
    "random_strings": "kf4w6ec 2ffbwt0cf jjcrs2zkg 9ruc7whep boye 3xj30i 9xknpaj ylfe5tifb solmgrocdzu "
    "84vulx 4acc0cwu6 tfxb1n5d qrhqdvuvl 94sawl3 3r7oqtgc1".split(),
}

# The reference scored against a fixed list of 16 colour words (its list is not in the committed code); these
# are 16 common ones, including the three F uses.
DEFAULT_COLORS = [
    "red",
    "orange",
    "yellow",
    "green",
    "blue",
    "purple",
    "pink",
    "brown",
    "black",
    "white",
    "gray",
    "cyan",
    "magenta",
    "violet",
    "gold",
    "silver",
]

_BASE = {"upper": "orange", "lower": "green"}
_RANDOM_STRINGS = {"upper": "green", "lower": "blue"}

DEFAULT_FUNCTION = {
    "categories": {
        name: {"triggers": list(t), "colors": dict(_RANDOM_STRINGS if name == "random_strings" else _BASE)}
        for name, t in CATEGORY_TRIGGERS.items()
    },
    "colors": list(DEFAULT_COLORS),
    "box": DEFAULT_BOX,
    "update": {"category": "positive_emotions", "colors": {"upper": "blue", "lower": "orange"}},
}

_SPEC_KEYS = {"categories", "colors", "box", "update"}
_CATEGORY_KEYS = {"triggers", "colors"}
_UPDATE_KEYS = {"category", "colors"}


# ------------------------------------------------------------------------------------------------ validation
def _unknown_keys(where: str, obj: Mapping, allowed: set[str]) -> None:
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise ValueError(
            f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(sorted(allowed))}"
        )


def _check_halves(where: str, colors, allowed: list[str]) -> None:
    if not isinstance(colors, Mapping):
        raise ValueError(f"{where}: 'colors' must map 'upper' and 'lower' to colour words, got {colors!r}")
    missing = [h for h in HALVES if h not in colors]
    if missing:
        raise ValueError(f"{where}: 'colors' lacks {', '.join(map(repr, missing))}")
    _unknown_keys(f"{where}, 'colors'", colors, set(HALVES))
    for half in HALVES:
        if colors[half] not in allowed:
            raise ValueError(
                f"{where}: {half} colour {colors[half]!r} is not in the spec's colours ({', '.join(allowed)})"
            )


def validate_function(spec) -> dict:
    """Check a function spec (see the module docstring); return it unchanged, or raise ValueError naming the
    offending key, category, trigger or colour.

    Rejected: unknown keys; an empty or missing category table, colour list or trigger list; a colour listed
    twice; a category whose upper/lower colour is not in ``colors``; an empty or duplicated trigger, within a
    category or across two categories (both are named); a non-positive or non-finite ``box``; an ``update``
    naming an unknown category or an unknown colour.
    """
    if not isinstance(spec, Mapping):
        raise ValueError(f"function spec must be a mapping, got {type(spec).__name__}")
    _unknown_keys("function spec", spec, _SPEC_KEYS)
    colors = spec.get("colors")
    if not isinstance(colors, Sequence) or isinstance(colors, str) or not colors:
        raise ValueError("function spec: 'colors' must be a non-empty list of colour words")
    seen_colors: set[str] = set()
    for c in colors:
        if not isinstance(c, str) or not c.strip():
            raise ValueError(f"function spec: colour {c!r} must be a non-empty string")
        if c in seen_colors:
            raise ValueError(f"function spec: colour {c!r} is listed twice in 'colors'")
        seen_colors.add(c)
    colors = list(colors)
    box = spec.get("box", DEFAULT_BOX)
    if isinstance(box, bool) or not isinstance(box, int | float) or not math.isfinite(box) or box <= 0:
        raise ValueError(f"function spec: 'box' must be a positive number, got {box!r}")

    categories = spec.get("categories")
    if not isinstance(categories, Mapping) or not categories:
        raise ValueError("function spec: 'categories' must be a non-empty mapping of category -> definition")
    owner: dict[str, str] = {}
    for name, cat in categories.items():
        where = f"category {name!r}"
        if not isinstance(name, str) or not name:
            raise ValueError(f"function spec: category name {name!r} must be a non-empty string")
        if not isinstance(cat, Mapping):
            raise ValueError(f"{where}: expected a mapping with 'triggers' and 'colors', got {cat!r}")
        _unknown_keys(where, cat, _CATEGORY_KEYS)
        triggers = cat.get("triggers")
        if not isinstance(triggers, Sequence) or isinstance(triggers, str):
            raise ValueError(f"{where}: 'triggers' must be a list of strings")
        if not triggers:
            raise ValueError(f"{where}: has no triggers")
        for t in triggers:
            if not isinstance(t, str) or not t.strip():
                raise ValueError(f"{where}: trigger {t!r} must be a non-empty string")
            if t in owner:
                if owner[t] == name:
                    raise ValueError(f"{where}: trigger {t!r} is listed twice")
                raise ValueError(f"trigger {t!r} appears in two categories: {owner[t]!r} and {name!r}")
            owner[t] = name
        _check_halves(where, cat.get("colors"), colors)

    if "update" in spec:
        update = spec["update"]
        if not isinstance(update, Mapping):
            raise ValueError(f"function spec: 'update' must be a mapping, got {update!r}")
        _unknown_keys("update", update, _UPDATE_KEYS)
        if update.get("category") not in categories:
            raise ValueError(
                f"update: category {update.get('category')!r} is not one of {', '.join(map(str, categories))}"
            )
        _check_halves(f"update of category {update['category']!r}", update.get("colors"), colors)
    return spec


# ------------------------------------------------------------------------------------------------ evaluation
def trigger_index(spec: Mapping) -> dict[str, str]:
    """trigger -> its category."""
    return {t: name for name, cat in spec["categories"].items() for t in cat["triggers"]}


def category_of(spec: Mapping, trigger: str) -> str:
    """The category of ``trigger``; ValueError for a trigger of no category."""
    for name, cat in spec["categories"].items():
        if trigger in cat["triggers"]:
            return name
    raise ValueError(f"unknown trigger {trigger!r}: it belongs to no category of the function spec")


def color_of(spec: Mapping, x: Sequence[float], trigger: str) -> str:
    """F(x, T): the colour of ``trigger``'s category for the half plane of ``x`` = (x₁, x₂).

    Only the sign of x₂ matters: ``upper`` colour for x₂ ≥ 0 (x₂ == 0, and -0.0, count as upper), ``lower``
    for x₂ < 0. x₁ is ignored, as in every reference config. ValueError for an unknown trigger or an x that
    is not two numbers.
    """
    if len(x) != 2:
        raise ValueError(f"x must have 2 coordinates, got {len(x)}")
    x2 = x[1]
    if isinstance(x2, bool) or not isinstance(x2, int | float) or math.isnan(x2):
        raise ValueError(f"x₂ must be a number, got {x2!r}")
    colors = spec["categories"][category_of(spec, trigger)]["colors"]
    return colors["upper" if x2 >= 0 else "lower"]


# ------------------------------------------------------------------------------------------------ mappings
def flipped(spec: Mapping, category: str, colors: Mapping[str, str]) -> dict:
    """A new spec in which ``category`` has the colours ``colors`` ({"upper": .., "lower": ..}); every other
    category and key is a copy of ``spec``'s. ValueError for an unknown category or colour."""
    if category not in spec["categories"]:
        raise ValueError(f"unknown category {category!r}; categories: {', '.join(spec['categories'])}")
    new = copy.deepcopy(dict(spec))
    new["categories"][category]["colors"] = dict(colors)
    return validate_function(new)


def updated(spec: Mapping) -> dict:
    """The spec after the narrow update (its ``update`` entry applied); ValueError when it has none."""
    if "update" not in spec:
        raise ValueError("the function spec has no 'update' entry, so there is no updated mapping")
    return flipped(spec, spec["update"]["category"], spec["update"]["colors"])


def mapping(spec: Mapping, name: str) -> Mapping:
    """The spec of the mapping ``name``: ``"base"`` (``spec`` itself) or ``"updated"`` (``updated(spec)``)."""
    if name == "base":
        return spec
    if name == "updated":
        return updated(spec)
    raise ValueError(f"unknown mapping {name!r}; valid: {', '.join(MAPPINGS)}")


def check_block(block: dict) -> None:
    """Config checks the schema cannot make (``Setting.check_config``): F itself, and every sweep point's
    proxy: a category of F with a proxy file of that many triggers. Raises ValueError naming the key."""
    from selgen.config import sweep_points

    data = block["data"]
    try:
        spec = validate_function(data.get("function", DEFAULT_FUNCTION))
    except ValueError as err:
        raise ValueError(f"config key functions.data.function: {err}") from None
    if "update" not in spec:
        raise ValueError("config key functions.data.function: needs an 'update' (the narrow update)")
    categories = data.get("proxy_categories") or [
        c for c in spec["categories"] if c != spec["update"]["category"]
    ]
    for method, sweep in block["methods"].items():
        for hp in sweep_points(sweep):
            where = f"config key functions.methods.{method}"
            if "proxy_category" in hp and hp["proxy_category"] not in categories:
                raise ValueError(
                    f"{where}: proxy_category {hp['proxy_category']!r} has no proxy files; "
                    f"proxy categories: {', '.join(categories)}"
                )
            if "proxy_triggers" in hp and hp["proxy_triggers"] not in data["proxy_n_triggers"]:
                raise ValueError(
                    f"{where}: proxy_triggers {hp['proxy_triggers']!r} is not among "
                    f"functions.data.proxy_n_triggers {data['proxy_n_triggers']}"
                )
