"""Invariants of the GCD data synthesis."""

import math
import re

import pytest

from selgen.settings.gcd.data import build_datasets, euclid_steps, euclid_trace

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
