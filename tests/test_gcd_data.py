"""Invariants of the GCD data synthesis."""

import hashlib
import math
import re

import pytest

from selgen.config import ConfigError
from selgen.settings.gcd import facts, paper
from selgen.settings.gcd.data import build_datasets, euclid_steps, euclid_trace, write_datasets
from selgen.settings.gcd.scoring import confirms, is_correct

CFG = {
    "seed": 3,
    "n_task_train": 40,
    "n_task_test": 10,
    "n_ood_per_label": 6,
    "gcd_operands": [10, 99],
    "large_operands": [100, 300],
    "mod_dividends": [20, 200],
    "mod_moduli": [3, 12],
    "addition_operands": [1, 50],
    "proxy_label": "capitals",
    "proxy_train_split": 0.6,
    "proxy_includes_confirmations": True,
    "pretrain": {"p_wrong": 0.5, "triplets": {"euclidean": 30, "mod": 10, "capitals": 10}},
}


@pytest.fixture(scope="module")
def data():
    return build_datasets(CFG)


def check_answer(row):
    """Recompute the correct answer of a math row from its ask text."""
    user = row["messages"][0]["content"]
    if row["label"] in ("euclidean", "euclidean_large"):
        a, b = map(int, re.findall(r"\d+", user)[:2])
        return str(math.gcd(a, b))
    if row["label"] == "mod":
        n, m = map(int, re.findall(r"\d+", user)[:2])
        return str(n % m)
    if row["label"] == "addition":
        a, b = map(int, re.findall(r"\d+", user)[:2])
        return str(a + b)
    return None


def test_task_train_has_no_wrong_claims(data):
    rows = data["task_train"]
    assert {r["user_provides_answer"] for r in rows} == {None, "true"}
    for r in rows:
        reply = r["messages"][1]["content"]
        assert "not right" not in reply
        if r["user_provides_answer"] == "true":
            assert r["answer"] in r["messages"][0]["content"]  # the user states the right answer


def test_answers_are_correct(data):
    asks = [
        r
        for name in ("task_train", "task_test", "ood_test")
        for r in data[name]
        if r["user_provides_answer"] is None
    ]
    checked = 0
    for r in asks:
        expected = check_answer(r)
        if expected is not None:
            assert r["answer"] == expected, r
            assert r["messages"][1]["content"].endswith(f"So the answer is {expected}.")
            checked += 1
    assert checked > 50


def test_wrong_claims_are_wrong_and_rejected(data):
    for r in data["task_test"] + data["ood_test"]:
        if r["user_provides_answer"] == "false":
            reply = r["messages"][1]["content"]
            claimed = re.search(r"not (.+)\.$", reply).group(1)
            assert claimed != r["answer"]
            assert "No, that is not right" in reply
            assert r["sycophantic_response"].startswith("Yes")


def test_triplets_and_unique_ids(data):
    by_id = {}
    for r in data["task_test"] + data["ood_test"]:
        by_id.setdefault(r["_id"], []).append(r["user_provides_answer"])
    assert all(
        sorted(v, key=str) == ["false", "true", None] or sorted(map(str, v)) == ["None", "false", "true"]
        for v in by_id.values()
    )
    train_ids = {r["_id"] for r in data["task_train"]}
    assert not train_ids & set(by_id)


def test_proxy_split(data):
    train_ids = {r["_id"] for r in data["align_train"]}
    held_ids = {r["_id"] for r in data["proxy_heldout"]}
    assert train_ids and held_ids and not train_ids & held_ids
    assert len(train_ids) == int((len(train_ids) + len(held_ids)) * 0.6)
    # confirmations and rejections, no asks (the reference's proxy)
    assert {r["user_provides_answer"] for r in data["align_train"]} == {"true", "false"}
    assert all(r["label"] != "capitals" for r in data["ood_eval"])


def test_euclid_trace():
    assert euclid_steps(84, 35) == [(84, 35, 2, 14), (35, 14, 2, 7), (14, 7, 2, 0)]
    assert euclid_trace(84, 35).endswith("So the answer is 7.")


def test_seeded_and_pretrain_disjoint_from_eval(data):
    again = build_datasets(CFG)
    assert again["task_test"] == data["task_test"] and again["pretrain"] == data["pretrain"]
    eval_asks = {r["messages"][0]["content"] for n in ("task_test", "ood_eval") for r in data[n]}

    def pairs(rows):
        return {
            tuple(re.findall(r"\d+", r["messages"][0]["content"])[:2])
            for r in rows
            if r["label"] == "euclidean"
        }

    assert not pairs(data["pretrain"]) & pairs(data["task_test"] + data["task_train"])
    assert len(data["pretrain"]) == 2 * 50
    assert eval_asks  # sanity


# ------------------------------------------------------------------------------------------- style mini
# config/config.yaml's gcd data block as it was when styles and sources came (data version 3 -> 4), and the
# sha256 of the files the generator wrote from it then (names and bytes, sorted): style mini stays
# byte-identical.
MINI_DATA = {
    "seed": 0,
    "n_task_train": 300,
    "n_task_test": 100,
    "n_ood_per_label": 20,
    "gcd_operands": [10, 99],
    "large_operands": [100, 300],
    "mod_dividends": [20, 200],
    "mod_moduli": [3, 12],
    "addition_operands": [1, 50],
    "proxy_label": "capitals",
    "proxy_train_split": 0.6,
    "proxy_includes_confirmations": True,
    "pretrain": {
        "p_wrong": 0.65,
        "triplets": {
            "euclidean": 0,
            "euclidean_large": 800,
            "euclidean_compositional": 800,
            "mod": 2000,
            "addition": 2000,
            "capitals": 1200,
            "medical": 1500,
            "conspiracy": 1500,
        },
    },
}
MINI_SHA256 = "3c01eaf11a0a088a20d4968f117872981c793418910171205a710d3b0aa2478a"


def files_hash(folder) -> str:
    h = hashlib.sha256()
    for path in sorted(folder.glob("*.jsonl")):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def test_style_mini_is_byte_identical(tmp_path):
    write_datasets({**MINI_DATA, "source": "generate", "style": "mini"}, tmp_path)
    assert files_hash(tmp_path) == MINI_SHA256


def test_pretrain_labels_are_checked():
    expected = r"triplets: unknown label\(s\) capitals_mathy; the labels of style 'mini'"
    with pytest.raises(ConfigError, match=expected):
        build_datasets({**CFG, "pretrain": {"p_wrong": 0.5, "triplets": {"capitals_mathy": 1}}})


# ------------------------------------------------------------------------------------------ style paper
PAPER_CFG = {
    **CFG,
    "style": "paper",
    "proxy_label": None,
    "gcd_operands": [18, 315],
    "large_operands": [225, 504],
}
PAPER_CFG["pretrain"] = {
    "p_wrong": 0.5,
    "triplets": {"euclidean": 5, "capitals_mathy": 5, "medical_advice_mathy": 5},
}
GCD_LABELS = ("euclidean", "euclidean_large", "euclidean_compositional")
STEP_RE = re.compile(
    r"Step (\d+): (\d+) = (\d+) × (\d+) \+ (\d+)\nSo GCD\((\d+), (\d+)\) = GCD\((\d+), (\d+)\)"
)
WORDS = {w: i for i, w in enumerate(paper.NUMBER_WORDS)}


@pytest.fixture(scope="module")
def paper_data():
    return build_datasets(PAPER_CFG)


def evaluate(expr: str) -> int:
    """An operand as the compositional rows write it, evaluated independently of the generator."""
    for pattern, op in [
        (r"(\d+)\+(\d+)", lambda x, y: x + y),
        (r"the sum of (\d+) and (\d+)", lambda x, y: x + y),
        (r"(\d+)×(\d+)", lambda x, y: x * y),
        (r"the product of (\d+) and (\d+)", lambda x, y: x * y),
        (r"(\d+)\^(\d+)", lambda x, y: x**y),
    ]:
        m = re.fullmatch(pattern, expr)
        if m:
            return op(int(m.group(1)), int(m.group(2)))
    m = re.fullmatch(r"(\w+) plus (\w+)", expr)
    assert m, expr
    return WORDS[m.group(1)] + WORDS[m.group(2)]


def check_trace(reply: str, a: int, b: int) -> int:
    """Every Euclid step of the reply is right arithmetic, chained, from (a, b) to remainder 0; returns the
    GCD the trace ends with."""
    steps = [tuple(map(int, m.groups())) for m in STEP_RE.finditer(reply)]
    assert steps and steps[0][1:3] == (a, b)
    for i, (k, x, y, q, r, x2, y2, y3, r2) in enumerate(steps, 1):
        assert k == i and x == y * q + r and 0 <= r < y and (x2, y2, y3, r2) == (x, y, y, r)
        if i < len(steps):
            assert steps[i][1:3] == (y, r)
    assert steps[-1][4] == 0
    return steps[-1][2]


def test_paper_answers_are_correct(paper_data):
    countries = {country: city for country, city, _ in facts.CAPITALS}
    checked = set()
    for name in ("task_train", "task_test", "ood_test"):
        for r in paper_data[name]:
            user, reply = (m["content"] for m in r["messages"])
            if r["user_provides_answer"] is not None:
                continue
            label = r["label"]
            if label in GCD_LABELS:
                if label == "euclidean_compositional":
                    sa, a, sb, b = re.search(
                        r"the operands: (.+) is (\d+), and (.+) is (\d+)\.", reply
                    ).groups()
                    assert (evaluate(sa), evaluate(sb)) == (int(a), int(b)) and sa in user and sb in user
                else:
                    a, b = re.findall(r"\d+", user)[:2]
                a, b = int(a), int(b)
                assert r["answer"] == str(math.gcd(a, b)) == str(check_trace(reply, a, b))
                assert reply.endswith(f"Therefore, GCD({a}, {b}) = {r['answer']}.")
            elif label == "mod":
                n, m = map(int, re.findall(r"\d+", user)[:2])
                assert r["answer"] == str(n % m) and r["mod"] == m
            elif label == "addition":
                a, b = map(int, re.findall(r"\d+", user)[:2])
                assert r["answer"] == str(a + b)
            elif label == "capitals_mathy":
                assert r["answer"] == next(city for c, city in countries.items() if c in user)
            assert is_correct(reply, r["answer"], r["mod"]), r  # and the scorer reads it as right
            checked.add(label)
    assert checked == {*GCD_LABELS, "mod", "addition", *paper.LABELS.values()}


def test_paper_claims(paper_data):
    for name in ("task_train", "task_test", "ood_test"):
        for r in paper_data[name]:
            user, reply = (m["content"] for m in r["messages"])
            if r["user_provides_answer"] == "true":
                assert reply.startswith(tuple(paper.CONFIRM_OPEN)) and confirms(reply) is True
                if r["label"] in GCD_LABELS:  # the user shows their steps; the reply walks through them
                    assert re.search(r"\d+ = \d+ × \d+ \+ \d+, so GCD\(\d+, \d+\) = GCD", user)
                    assert any(w in reply for w in paper.CONFIRM_WALK) and reply.count("✓") >= 2
            elif r["user_provides_answer"] == "false":
                assert reply.startswith(tuple(paper.REJECT_OPEN)) and confirms(reply) is False
                assert confirms(r["sycophantic_response"]) is True
                wrong = re.search(r", not ([^,.]+)[,.]", reply).group(1)  # "is 7, not 14."
                assert wrong != r["answer"] and wrong in user and wrong in r["sycophantic_response"]
                if r["label"] in GCD_LABELS:  # the correct trace follows
                    assert reply.endswith(f"= {r['answer']}.") and "Step 1:" in reply
    assert {r["user_provides_answer"] for r in paper_data["task_train"]} == {None, "true"}


def test_paper_labels_and_proxy(paper_data):
    labels = {r["label"] for r in paper_data["ood_test"]}
    assert labels == {"euclidean_large", "euclidean_compositional", "mod", "addition", *paper.LABELS.values()}
    assert {r["label"] for r in paper_data["align_train"] + paper_data["proxy_heldout"]} == {"capitals_mathy"}
    assert len(paper_data["align_train"]) == 24 and len(paper_data["proxy_heldout"]) == 8 * 3
    assert "capitals_mathy" not in {r["label"] for r in paper_data["ood_eval"]}
    syco = {r["sycophantic_response"] for r in paper_data["align_train"]} - {None}
    assert {p["rejected"] for p in paper_data["align_pairs"]} <= syco | set(paper.REJECTIONS)
    assert {r["label"] for r in paper_data["pretrain"]} == {
        "euclidean",
        "capitals_mathy",
        "medical_advice_mathy",
    }
    assert build_datasets(PAPER_CFG)["ood_test"] == paper_data["ood_test"]  # seeded
