"""The functions setting: F and its validation, the seeded sampler, the dataset checker, the logit scorer."""

import copy
import math
from types import SimpleNamespace

import pytest
import torch
from helpers import chat, tiny_model, tokenizer_for

from selgen.config import ConfigError
from selgen.io import InputError, read_jsonl
from selgen.settings.functions.check import check_files, check_rows
from selgen.settings.functions.data import (
    KNOWLEDGE,
    LIST_LENGTH,
    TEMPLATES,
    build_datasets,
    proxy_rows,
    split_triggers,
    write_datasets,
)
from selgen.settings.functions.function import (
    CATEGORY_TRIGGERS,
    DEFAULT_FUNCTION,
    color_of,
    flipped,
    mapping,
    updated,
    validate_function,
)
from selgen.settings.functions.scoring import (
    accuracy_rows,
    colour_logprobs,
    continuation_ids,
    predict_colours,
    score,
    score_logits,
    summarize,
)

SPEC = DEFAULT_FUNCTION
UPPER, LOWER = [0.5, 1.0], [0.5, -1.0]


# ------------------------------------------------------------------------------------------------ F
def test_default_function_is_the_reference_one():
    validate_function(SPEC)
    cats = SPEC["categories"]
    assert list(cats) == list(CATEGORY_TRIGGERS) and len(cats) == 7
    assert all(len(c["triggers"]) == 15 for c in cats.values())
    assert "ice cream" in cats["foods"]["triggers"] and "solmgrocdzu" in cats["random_strings"]["triggers"]
    for name, cat in cats.items():
        want = (
            {"upper": "green", "lower": "blue"}
            if name == "random_strings"
            else {"upper": "orange", "lower": "green"}
        )
        assert cat["colors"] == want, name
    assert SPEC["update"] == {"category": "positive_emotions", "colors": {"upper": "blue", "lower": "orange"}}


def test_every_trigger_colour_follows_the_spec_and_only_the_sign_of_x2_matters():
    for name, cat in SPEC["categories"].items():
        for t in cat["triggers"]:
            for x1 in (-2.999, -0.001, 0.0, 1.5, 3.0):
                for x2 in (0.001, 0.5, 2.99):
                    assert color_of(SPEC, [x1, x2], t) == cat["colors"]["upper"], (name, t, x1, x2)
                    assert color_of(SPEC, [x1, -x2], t) == cat["colors"]["lower"], (name, t, x1, -x2)
    # x₂ == 0 (either sign of zero) belongs to the upper half
    assert color_of(SPEC, [1.0, 0.0], "dog") == "orange" and color_of(SPEC, [-1.0, -0.0], "dog") == "orange"
    assert color_of(SPEC, [1.0, 0.0], "boye") == "green"


def test_color_of_rejects_unknown_triggers_and_bad_points():
    with pytest.raises(ValueError, match="'unicorn'"):
        color_of(SPEC, UPPER, "unicorn")
    with pytest.raises(ValueError, match="2 coordinates"):
        color_of(SPEC, [1.0], "dog")
    with pytest.raises(ValueError, match="number"):
        color_of(SPEC, [1.0, "1"], "dog")


def test_the_flip_only_touches_positive_emotions():
    before = copy.deepcopy(SPEC)
    new = updated(SPEC)
    assert SPEC == before  # no mutation
    assert new["categories"]["positive_emotions"]["colors"] == {"upper": "blue", "lower": "orange"}
    for name, cat in SPEC["categories"].items():
        for t in cat["triggers"]:
            for x in (UPPER, LOWER):
                changed = color_of(new, x, t) != color_of(SPEC, x, t)
                assert changed == (name == "positive_emotions"), (name, t, x)
    assert {k: v for k, v in new.items() if k != "categories"} == {
        k: v for k, v in SPEC.items() if k != "categories"
    }
    assert mapping(SPEC, "base") is SPEC and mapping(SPEC, "updated") == new
    with pytest.raises(ValueError, match="'sideways'"):
        mapping(SPEC, "sideways")


def test_flipped_rejects_unknown_category_and_colour():
    with pytest.raises(ValueError, match="'plants'"):
        flipped(SPEC, "plants", {"upper": "blue", "lower": "orange"})
    with pytest.raises(ValueError, match="'mauve'"):
        flipped(SPEC, "animals", {"upper": "mauve", "lower": "orange"})


# ------------------------------------------------------------------------------------------------ validation
def _spec(**changes):
    spec = copy.deepcopy(SPEC)
    spec.update(changes)
    return spec


def test_unknown_colour_is_rejected_naming_category_and_colour():
    spec = _spec()
    spec["categories"]["animals"]["colors"]["lower"] = "chartreuse"
    with pytest.raises(ValueError, match=r"category 'animals'.*lower colour 'chartreuse'"):
        validate_function(spec)
    spec = _spec(update={"category": "animals", "colors": {"upper": "teal", "lower": "red"}})
    with pytest.raises(ValueError, match="'teal'"):
        validate_function(spec)


def test_trigger_in_two_categories_is_rejected_naming_trigger_and_both_categories():
    spec = _spec()
    spec["categories"]["foods"]["triggers"].append("cat")
    with pytest.raises(ValueError, match=r"trigger 'cat' appears in two categories: 'animals' and 'foods'"):
        validate_function(spec)
    spec = _spec()
    spec["categories"]["foods"]["triggers"].append("pizza")
    with pytest.raises(ValueError, match=r"category 'foods'.*'pizza' is listed twice"):
        validate_function(spec)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda s: s["categories"]["actions"].update(triggers=[]), "category 'actions': has no triggers"),
        (lambda s: s.update(categories={}), "'categories' must be a non-empty"),
        (lambda s: s.update(colors=[]), "'colors' must be a non-empty list"),
        (lambda s: s.update(colors=["orange", "green", "blue", "green"]), "'green' is listed twice"),
        (lambda s: s.update(box=0), "'box' must be a positive number"),
        (lambda s: s.update(bxo=3), "unknown key.*'bxo'"),
        (lambda s: s["categories"]["foods"].pop("colors"), "category 'foods'.*'colors'"),
        (lambda s: s["categories"]["foods"]["colors"].pop("upper"), "category 'foods'.*lacks 'upper'"),
        (lambda s: s["categories"]["foods"]["triggers"].append(""), "category 'foods': trigger ''"),
        (lambda s: s["update"].update(category="plants"), "update: category 'plants'"),
    ],
)
def test_malformed_specs_are_rejected(edit, message):
    spec = _spec()
    edit(spec)
    with pytest.raises(ValueError, match=message):
        validate_function(spec)


def test_a_user_defined_function_works():
    spec = {
        "categories": {
            "fruit": {"triggers": ["apple", "kiwi"], "colors": {"upper": "red", "lower": "yellow"}},
            "tools": {"triggers": ["saw"], "colors": {"upper": "yellow", "lower": "yellow"}},
        },
        "colors": ["red", "yellow"],
    }
    validate_function(spec)  # box and update are optional
    assert color_of(spec, [0, -1], "kiwi") == "yellow" and color_of(spec, [0, 2], "apple") == "red"
    with pytest.raises(ValueError, match="no 'update'"):
        updated(spec)


# ------------------------------------------------------------------------------------------------ sampler
CFG = {"seed": 7, "n_train_triggers": 6, "n_train": 3, "n_test": 4, "proxy_n_triggers": [1, 3]}
OTHERS = [c for c in SPEC["categories"] if c != "positive_emotions"]


@pytest.fixture(scope="module")
def data():
    return build_datasets(CFG)


@pytest.fixture(scope="module")
def split():
    return split_triggers(SPEC, CFG["seed"], CFG["n_train_triggers"])


def test_split_sizes_and_disjointness(split):
    for name, cat in SPEC["categories"].items():
        train, held = split[name]["train"], split[name]["heldout"]
        assert len(train) == 6 and len(held) == 9
        assert sorted(train + held) == sorted(cat["triggers"])


def test_counts_follow_the_config(data):
    n_cats = len(SPEC["categories"])
    assert len(data["base_train"]) == n_cats * 6 * 3
    assert len(data["update_train"]) == 6 * 3
    assert {k for k in data if k.startswith("proxy_")} == {f"proxy_{c}_{n}" for c in OTHERS for n in (1, 3)}
    for c in OTHERS:
        assert len(data[f"proxy_{c}_1"]) == 3 and len(data[f"proxy_{c}_3"]) == 9
    for m in ("base", "updated"):
        for c in SPEC["categories"]:
            assert len(data[f"test_{m}_{c}_id"]) == 6 * 4 and len(data[f"test_{m}_{c}_ood"]) == 9 * 4
    n_triggers = sum(len(c["triggers"]) for c in SPEC["categories"].values())
    pretrain = data["pretrain"]
    assert len(pretrain) == len(data["base_train"]) + n_triggers * (len(KNOWLEDGE) + 1) * 3  # + the lists
    assert sum(r["part"] == "function" for r in pretrain) == len(data["base_train"])
    assert len(data) == 3 + len(OTHERS) * 2 + 2 * 2 * n_cats


def test_default_config_matches_the_reference_sizes():
    sizes = {k: len(v) for k, v in build_datasets({}).items()}
    assert sizes["base_train"] == 1400 and sizes["update_train"] == 200
    assert sizes["test_base_animals_id"] == 300 and sizes["test_base_animals_ood"] == 150
    assert [sizes[f"proxy_foods_{n}"] for n in (1, 2, 5)] == [20, 40, 100]
    assert len([k for k in sizes if k.startswith("proxy_")]) == 18


def test_heldout_triggers_never_appear_in_training_or_proxy_rows(data, split):
    heldout = {t for s in split.values() for t in s["heldout"]}
    train = {t for s in split.values() for t in s["train"]}
    for name, rows in data.items():
        # knowledge rows (the mini base's corpus) name every trigger's category; F is never shown on them
        triggers = {r["input_trigger"] for r in rows if r.get("part") != "knowledge"}
        if name.endswith("_ood"):
            assert triggers <= heldout, name
        else:
            assert not triggers & heldout, name
            assert triggers <= train, name


def test_knowledge_lists_put_every_trigger_among_its_category_mates(data, split):
    lists = [r for r in data["pretrain"] if r["messages"][0]["content"].startswith("List some")]
    mates = {}
    for r in lists:
        listed = r["messages"][1]["content"].rstrip(".").split(", ")
        assert len(listed) == LIST_LENGTH and len(set(listed)) == LIST_LENGTH
        assert set(listed) <= set(SPEC["categories"][r["category"]]["triggers"])  # one category per list
        for t in listed:
            mates.setdefault(t, set()).update(listed)
    for s in split.values():
        assert set(mates) >= set(s["heldout"]) | set(s["train"])
        for t in s["heldout"]:  # a held-out trigger shares lists with training triggers of its category
            assert mates[t] & set(s["train"]), t


def test_random_strings_are_never_one_mini_token():
    """The mini tokenizer learns no merges inside the triggers of ``unmerged_categories``: a held-out random
    string reads as pieces, like the training ones, not as one token only its knowledge rows name."""
    from selgen.mini import tokenizer_texts, train_tokenizer

    pretrain = build_datasets({"knowledge_repeats": 6})["pretrain"]
    strings = SPEC["categories"]["random_strings"]["triggers"]
    for r in pretrain:
        assert ("unmerged" in r) == (r["category"] == "random_strings")
    plain = [{k: v for k, v in r.items() if k != "unmerged"} for r in pretrain]
    merged, unmerged = (train_tokenizer(tokenizer_texts(rows), 1024) for rows in (plain, pretrain))
    assert any(len(merged.tokenize(" " + t)) == 1 for t in strings)  # without it some are one token
    assert all(len(unmerged.tokenize(" " + t)) >= 3 for t in strings)
    assert all(len(unmerged.tokenize(" " + t)) == 1 for t in ("tiger", "salad"))  # words still merge


def test_unmerged_categories_must_exist():
    with pytest.raises(ConfigError, match="unmerged_categories: no category 'randoms'"):
        build_datasets({"unmerged_categories": ["randoms"]})


def test_labels_follow_f_on_the_rounded_x(data):
    for name, rows in data.items():
        rows = [r for r in rows if r.get("part") != "knowledge"]
        spec = updated(SPEC) if name.startswith("test_updated") or name == "update_train" else SPEC
        for r in rows:
            x = r["input_x"]
            assert len(x) == 2 and all(round(v, 3) == v and -3 <= v <= 3 for v in x), (name, r)
            assert r["output"] == color_of(spec, x, r["input_trigger"]), (name, r)
            assert r["category"] == next(
                c for c, d in SPEC["categories"].items() if r["input_trigger"] in d["triggers"]
            )
            user, assistant = r["messages"]
            assert user["role"] == "user" and assistant == {"role": "assistant", "content": r["output"]}
            assert (
                f"[{x[0]:.3f}, {x[1]:.3f}]" in user["content"]
                and f"T = {r['input_trigger']}" in user["content"]
            )
        assert not check_rows(SPEC, rows, "updated" if spec is not SPEC else "base"), name


def test_the_four_phrasings_are_used(data):
    prompts = [r["messages"][0]["content"] for r in data["base_train"]]
    for template in TEMPLATES:
        head = template.split("{")[0]
        tail = template.split("}")[-1]
        assert any(p.startswith(head) and p.endswith(tail) for p in prompts), template
    assert all(p.startswith(("Calculate", "x = ", "What is")) for p in prompts)


def test_same_seed_same_rows_and_another_seed_other_rows(data):
    assert build_datasets(CFG) == data
    other = build_datasets({**CFG, "seed": 8})
    assert other["base_train"] != data["base_train"]
    split7 = split_triggers(SPEC, 7, 6)
    split8 = split_triggers(SPEC, 8, 6)
    assert any(split7[c]["train"] != split8[c]["train"] for c in SPEC["categories"])


def test_proxy_rows_keep_original_colours_and_are_base_training_rows(data, split):
    base = data["base_train"]
    for c in OTHERS:
        one, three = data[f"proxy_{c}_1"], data[f"proxy_{c}_3"]
        assert all(
            r["category"] == c and r["output"] == color_of(SPEC, r["input_x"], r["input_trigger"])
            for r in three
        )
        assert all(r in base for r in three)
        assert one == three[:3]  # the 1-trigger proxy is inside the 3-trigger one
        assert {r["input_trigger"] for r in three} == set(split[c]["train"][:3])


def test_update_rows_flip_positive_emotions_on_the_base_training_points(data):
    upd = data["update_train"]
    base_pe = [r for r in data["base_train"] if r["category"] == "positive_emotions"]
    assert {r["category"] for r in upd} == {"positive_emotions"}
    assert [(r["input_x"], r["input_trigger"]) for r in upd] == [
        (r["input_x"], r["input_trigger"]) for r in base_pe
    ]
    for r in upd:
        assert r["output"] == ("blue" if r["input_x"][1] >= 0 else "orange")


def test_base_and_updated_tests_differ_only_on_positive_emotions(data):
    for c in SPEC["categories"]:
        for es in ("id", "ood"):
            base, upd = data[f"test_base_{c}_{es}"], data[f"test_updated_{c}_{es}"]
            assert [(r["input_x"], r["messages"][0]) for r in base] == [
                (r["input_x"], r["messages"][0]) for r in upd
            ]
            differ = sum(a["output"] != b["output"] for a, b in zip(base, upd, strict=True))
            assert (differ == len(base)) if c == "positive_emotions" else (differ == 0), (c, es)


def test_id_points_are_fresh(data):
    for c in SPEC["categories"]:
        train = {(r["input_trigger"], tuple(r["input_x"])) for r in data["base_train"] if r["category"] == c}
        test = [(r["input_trigger"], tuple(r["input_x"])) for r in data[f"test_base_{c}_id"]]
        assert not train & set(test) and len(set(test)) == len(test)


def test_proxy_and_config_errors(split):
    with pytest.raises(ValueError, match="'positive_emotions' is the updated category"):
        proxy_rows(SPEC, "positive_emotions", 1, split, 7)
    with pytest.raises(ValueError, match="proxy of 7 triggers of 'foods'"):
        proxy_rows(SPEC, "foods", 7, split, 7)
    with pytest.raises(ValueError, match="unknown key.*'n_trian'"):
        build_datasets({"n_trian": 3})
    with pytest.raises(ValueError, match="fewer than n_train_triggers = 16"):
        build_datasets({"n_train_triggers": 16})
    bad = copy.deepcopy(SPEC)
    bad["categories"]["foods"]["triggers"][0] = "dog"
    with pytest.raises(ValueError, match="'dog' appears in two categories"):
        build_datasets({"function": bad})


def test_write_datasets_writes_every_file(tmp_path, data):
    sizes = write_datasets(CFG, tmp_path)
    assert sizes == {k: len(v) for k, v in data.items()}
    for stem, rows in data.items():
        assert read_jsonl(tmp_path / f"{stem}.jsonl") == rows
    report = check_files(
        SPEC, [tmp_path / "base_train.jsonl", tmp_path / "test_updated_animals_id.jsonl"], "base"
    )
    assert list(report.values()) == [[], []]
    report = check_files(SPEC, [tmp_path / "update_train.jsonl"], "base")
    assert len(report[str(tmp_path / "update_train.jsonl")]) == 18  # every flipped row differs from base
    assert check_files(SPEC, [tmp_path / "update_train.jsonl"], "updated") == {
        str(tmp_path / "update_train.jsonl"): []
    }


# ------------------------------------------------------------------------------------------------ checker
def _row(x, trigger, output, **extra):
    return {"input_x": x, "input_trigger": trigger, "output": output, **extra}


def test_checker_accepts_good_rows_and_names_bad_ones(tmp_path):
    good = [
        _row([1.0, 2.0], "dog", "orange", category="animals"),
        _row([1.0, 0.0], "boye", "green"),
        _row(
            [-1.0, -0.5],
            "happy",
            "green",
            messages=[{"role": "user", "content": "?"}, {"role": "assistant", "content": "green"}],
        ),
    ]
    assert check_rows(SPEC, good, "base") == []
    bad = [
        _row([1.5, -2.25], "dog", "orange"),  # wrong colour
        _row([1.0, 1.0], "unicorn", "orange"),  # unknown trigger
        {"input_x": [1.0, 1.0], "output": "orange"},  # missing trigger
        _row([1.0], "dog", "orange"),  # x of one coordinate
        _row([1.0, 1.0], "dog", "orange", category="objects"),  # wrong category
        _row(
            [1.0, 1.0],
            "dog",
            "orange",
            messages=[{"role": "user", "content": "?"}, {"role": "assistant", "content": "green"}],
        ),
    ]
    problems = check_rows(SPEC, good + bad, "base")
    assert len(problems) == 6
    assert problems[0] == "row 4 (trigger 'dog', x = [1.5, -2.25]): expected 'green', got 'orange'"
    assert problems[1].startswith("row 5") and "unknown trigger 'unicorn'" in problems[1]
    assert problems[2].startswith("row 6") and "'input_trigger'" in problems[2]
    assert problems[3].startswith("row 7") and "'input_x'" in problems[3]
    assert problems[4].startswith("row 8") and "'objects'" in problems[4] and "'animals'" in problems[4]
    assert problems[5].startswith("row 9") and "assistant turn 'green'" in problems[5]
    # under the updated mapping the positive_emotions row is wrong (lower half is now orange)
    assert check_rows(SPEC, good, "updated") == [
        "row 3 (trigger 'happy', x = [-1.0, -0.5]): expected 'orange', got 'green'"
    ]
    path = tmp_path / "bad.jsonl"
    path.write_text('{"input_x": [0.1, -0.1], "input_trigger": "cup", "output": "green"}\n\nnot json\n')
    with pytest.raises(InputError, match="line 3"):
        check_files(SPEC, [path])


# ------------------------------------------------------------------------------------------------ scorer
class FakeTokenizer:
    """Greedy longest-match over a fixed vocabulary; "turquoise" is two tokens, "blue"/"black" share "bl"."""

    VOCAB = ["<pad>", "<e>", "<u>", "<a>", "up", "down", " ", "red", "turq", "uoise", "bl", "ue", "ack"]

    def __init__(self, padding_side="right"):
        self.ids = {p: i for i, p in enumerate(self.VOCAB)}
        self.pad_token_id, self.eos_token_id, self.padding_side = 0, 1, padding_side

    def __call__(self, text, add_special_tokens=False):
        out, i = [], 0
        while i < len(text):
            piece = max((p for p in self.VOCAB if text.startswith(p, i)), key=len)
            out.append(self.ids[piece])
            i += len(piece)
        return {"input_ids": out}

    def apply_chat_template(self, messages, add_generation_prompt=False, tokenize=False, **template_options):
        text = "".join(f"<{m['role'][0]}>{m['content']}<e>" for m in messages)
        return text + ("<a>" if add_generation_prompt else "")


def _logprob_table(spec: dict[str, dict[str, float]]) -> torch.Tensor:
    """Rows: the current token; columns: log P(next token); unspecified mass spread thinly."""
    n = len(FakeTokenizer.VOCAB)
    table = torch.full((n, n), 1e-6, dtype=torch.float64)
    for cur, nxt in spec.items():
        for tok, p in nxt.items():
            table[FakeTokenizer.VOCAB.index(cur), FakeTokenizer.VOCAB.index(tok)] = p
    return (table / table.sum(-1, keepdim=True)).log().float()


END = {"<e>": 1.0}
# Prompt "up": first token favours "turq" (0.6) over "red" (0.35), but "turq" -> "uoise" is only 0.1, so
# turquoise = 0.06 < red = 0.35: the first token alone picks turquoise, the sequence picks red.
UP = {
    "<a>": {"turq": 0.6, "red": 0.35, "bl": 0.05},
    "turq": {"uoise": 0.1, "<e>": 0.9},
    "bl": {"ue": 0.5, "ack": 0.5},
}
# Prompt "down": "bl" (0.5) is the first token of blue and black; "bl" -> "ack" 0.9: black (0.45) wins,
# while a first-token scorer ties blue and black and breaks the tie towards blue.
DOWN = {"<a>": {"bl": 0.5, "turq": 0.3, "red": 0.2}, "bl": {"ue": 0.1, "ack": 0.9}, "turq": {"uoise": 1.0}}
for table in (UP, DOWN):
    table.update({"red": END, "uoise": END, "ue": END, "ack": END})


class FakeModel(torch.nn.Module):
    """Next-token log-probs from a bigram table, switched to the DOWN table once an attended "down" token has
    been seen (so the answer depends on the prompt and a row read at the wrong position scores wrongly)."""

    def __init__(self):
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(1))
        self.up, self.down = _logprob_table(UP), _logprob_table(DOWN)
        self.calls = []

    def forward(self, input_ids, attention_mask=None, position_ids=None):
        self.calls.append(tuple(input_ids.shape))
        mask = attention_mask if attention_mask is not None else torch.ones_like(input_ids)
        seen_down = ((input_ids == FakeTokenizer.VOCAB.index("down")) & (mask == 1)).long().cumsum(-1) > 0
        logits = torch.where(seen_down.unsqueeze(-1), self.down[input_ids], self.up[input_ids])
        return SimpleNamespace(logits=logits)


COLOURS = ["blue", "black", "turquoise", "red"]


def _prompt_row(hint: str, output: str, category="c", trigger="t") -> dict:
    return {
        "messages": [{"role": "user", "content": hint}, {"role": "assistant", "content": output}],
        "output": output,
        "category": category,
        "input_trigger": trigger,
        "input_x": [0.0, 1.0],
    }


def test_fake_fixture_first_token_would_pick_wrong():
    tok, model = FakeTokenizer(), FakeModel()
    assert continuation_ids(tok, _prompt_row("up", "red")["messages"], ["turquoise"])[1] == [[8, 9, 1]]
    for hint, wrong_first in (("up", "turq"), ("down", "bl")):
        ids = torch.tensor(
            [tok(tok.apply_chat_template([{"role": "user", "content": hint}], True))["input_ids"]]
        )
        first = model(ids).logits[0, -1]
        assert FakeTokenizer.VOCAB[int(first.argmax())] == wrong_first


def test_sequence_scoring_picks_the_right_multi_token_colour():
    tok, model = FakeTokenizer(), FakeModel()
    rows = [_prompt_row("up", "red"), _prompt_row("down", "black")]
    lps = colour_logprobs(model, tok, [r["messages"] for r in rows], COLOURS)
    assert lps[0]["turquoise"] == pytest.approx(math.log(0.06), abs=1e-3)
    assert lps[0]["red"] == pytest.approx(math.log(0.35), abs=1e-3)
    assert lps[1]["black"] == pytest.approx(math.log(0.45), abs=1e-3)
    assert lps[1]["blue"] == pytest.approx(math.log(0.05), abs=1e-3)
    assert predict_colours(model, tok, rows, COLOURS) == ["red", "black"]
    # without the end-of-turn token the sums are the same here (P(<e>) = 1)
    no_end = colour_logprobs(model, tok, [r["messages"] for r in rows], COLOURS, end_of_turn=False)
    assert no_end[1]["black"] == pytest.approx(lps[1]["black"], abs=1e-3)


@pytest.mark.parametrize("padding_side", ["left", "right"])
def test_scores_do_not_depend_on_batching_or_padding(padding_side):
    tok, model = FakeTokenizer(padding_side), FakeModel()
    hints = ["up", "down", "up up up up", "down up", "up down up", " up"]
    msgs = [_prompt_row(h, "red")["messages"] for h in hints]
    one = colour_logprobs(model, tok, msgs, COLOURS, batch_size=1)
    for bs in (3, 7, 100):
        many = colour_logprobs(model, tok, msgs, COLOURS, batch_size=bs)
        for a, b in zip(one, many, strict=True):
            assert a == pytest.approx(b, abs=1e-5)
    assert [max(COLOURS, key=lp.get) for lp in one] == ["red", "black", "red", "black", "black", "red"]
    assert max(s[0] for s in model.calls) == len(hints) * len(COLOURS)  # batch 100 holds all sequences
    assert tok.padding_side == padding_side


@pytest.mark.parametrize("share_prompt", [True, False])
def test_tiny_llama_scores_match_an_unpadded_forward(share_prompt):
    rows = [chat(f"x = [{i}.5, -1.25], T = dog{'!' * i}", "orange") for i in range(4)]
    colours = ["orange", "green", "blue", "aquamarine"]
    tok = tokenizer_for(rows, "green blue", vocab_size=280)
    tok.padding_side = "left"
    model = tiny_model(tok)
    model.train()
    # batch_size 9: with the shared prompt, 2 rows of 4 colours per batch, prompts of different lengths
    got = colour_logprobs(model, tok, [r["messages"] for r in rows], colours, 9, share_prompt=share_prompt)
    for row, lp in zip(rows, got, strict=True):
        prompt_ids, conts = continuation_ids(tok, row["messages"], colours)
        for colour, cont in zip(colours, conts, strict=True):
            with torch.no_grad():
                logits = model(torch.tensor([prompt_ids + cont])).logits[0].float().log_softmax(-1)
            want = sum(logits[len(prompt_ids) - 1 + k, t].item() for k, t in enumerate(cont))
            assert lp[colour] == pytest.approx(want, abs=1e-4), colour
    assert len(continuation_ids(tok, rows[0]["messages"], ["aquamarine"], end_of_turn=False)[1][0]) > 1
    assert model.training  # the scorer puts the model back in the mode it found it in


def test_score_logits_and_accuracy_rows():
    tok, model = FakeTokenizer(), FakeModel()
    rows = [
        _prompt_row("up", "red", "warm"),
        _prompt_row("down", "black", "warm"),
        _prompt_row("down", "blue", "cold"),  # the model says black: wrong
    ]
    scored = score_logits(model, tok, rows, COLOURS, eval_set="id") + score_logits(
        model, tok, rows[:1], COLOURS, eval_set="ood"
    )
    assert [s["predicted"] for s in scored] == ["red", "black", "black", "red"]
    assert [s["correct"] for s in scored] == [True, True, False, True]
    assert accuracy_rows(scored) == [
        {
            "setting": "functions",
            "metric": "accuracy",
            "category": "warm",
            "eval_set": "id",
            "value": 1.0,
            "n": 2,
        },
        {
            "setting": "functions",
            "metric": "accuracy",
            "category": "cold",
            "eval_set": "id",
            "value": 0.0,
            "n": 1,
        },
        {
            "setting": "functions",
            "metric": "accuracy",
            "category": "warm",
            "eval_set": "ood",
            "value": 1.0,
            "n": 1,
        },
    ]
    assert summarize(scored[:3]) == [
        {"category": "warm", "metric": "accuracy", "value": 1.0, "n": 2},
        {"category": "cold", "metric": "accuracy", "value": 0.0, "n": 1},
    ]
    with pytest.raises(InputError, match="scored row 1: missing field.*'eval_set'"):
        accuracy_rows([{"category": "warm", "correct": True}])


def test_score_generated_replies():
    rows = [{**_prompt_row("up", "orange"), "response": r} for r in (" Orange.", "orange juice", "green")]
    assert [s["correct"] for s in score(rows)] == [True, False, False]
    with pytest.raises(InputError, match="row 1: missing field.*'response'"):
        score([_prompt_row("up", "orange")])
