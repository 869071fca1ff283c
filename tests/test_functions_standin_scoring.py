"""The functions scorer on a real family's tokenizer and template: the Gemma-2 stand-in (selgen.standins; the
paper runs google/gemma-2-2b-it). Its byte-level BPE splits colour words into several tokens, and its
template closes a turn with ``<end_of_turn>``; the scorer must sum log-probabilities over every token of the
colour's assistant turn, as a hand teacher-forced pass over the template's own text does."""

import pytest
import torch

from selgen.models import load_model
from selgen.settings.functions.data import build_datasets
from selgen.settings.functions.function import DEFAULT_FUNCTION
from selgen.settings.functions.scoring import colour_logprobs, predict_colours
from selgen.standins import build_standin

pytestmark = pytest.mark.slow  # builds stand-ins and trains one (tens of seconds)

COLOURS = DEFAULT_FUNCTION["colors"]
EOT = "<end_of_turn>"


def ids(tok, text: str) -> list[int]:
    return tok(text, add_special_tokens=False)["input_ids"]


@pytest.fixture(scope="module")
def functions_rows():
    return build_datasets({"n_train_triggers": 2, "n_train": 3, "n_test": 1, "proxy_n_triggers": [1]})


@pytest.fixture(scope="module")
def gemma2(tmp_path_factory, functions_rows):
    """A Gemma-2 stand-in whose tokenizer was trained on the setting's own prompts and replies."""
    texts = sorted({m["content"] for rows in functions_rows.values() for r in rows for m in r["messages"]})
    folder = build_standin("gemma2", tmp_path_factory.mktemp("gemma2"), texts, vocab_size=600)
    model, tok = load_model(str(folder), {"attn_implementation": "eager"})
    return model, tok


def hand_logprobs(model, tok, user: str, colour: str) -> tuple[float, float]:
    """(log P(turn | prompt), log P(colour word | prompt)) from one unpadded forward pass over the template's
    own text: the prompt is the rendered chat with the generation prompt; the turn is what the template adds
    after it for the assistant turn ``colour``."""
    chat = [{"role": "user", "content": user}]
    prompt = tok.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    full = tok.apply_chat_template(chat + [{"role": "assistant", "content": colour}], tokenize=False)
    assert full.startswith(prompt)
    turn = full[len(prompt) :]
    assert turn == f"{colour}{EOT}\n"  # Gemma-2 closes the turn with <end_of_turn> and a newline
    p, cont, word = ids(tok, prompt), ids(tok, turn), ids(tok, colour)
    assert p[0] == tok.bos_token_id and p.count(tok.bos_token_id) == 1  # the template's bos, once
    assert cont[: len(word)] == word and cont[len(word)] == tok.convert_tokens_to_ids(EOT)
    with torch.no_grad():
        logp = model(torch.tensor([p + cont])).logits[0].float().log_softmax(-1)
    token_lp = [logp[len(p) - 1 + k, t].item() for k, t in enumerate(cont)]
    return sum(token_lp), sum(token_lp[: len(word)])


def test_multi_token_colours_score_as_a_hand_teacher_forced_sum_with_the_end_of_turn(gemma2, functions_rows):
    model, tok = gemma2
    multi = [c for c in COLOURS if len(ids(tok, c)) > 1]
    assert len(multi) >= 1, "no colour is several tokens with this tokenizer: the test shows nothing"
    assert tok.convert_tokens_to_ids(EOT) != tok.eos_token_id  # the turn ends with <end_of_turn>, not <eos>
    # rows of several prompt lengths (left padding in one batch), every colour of F
    rows = [r for stem, rs in functions_rows.items() if stem.startswith("test_updated_") for r in rs][:3]
    msgs = [r["messages"] for r in rows]
    assert len({len(ids(tok, m[0]["content"])) for m in msgs}) > 1
    hand = [{c: hand_logprobs(model, tok, m[0]["content"], c) for c in COLOURS} for m in msgs]
    for share_prompt in (True, False):  # the prompt's KV cache shared by the colours, or one pass each
        got = colour_logprobs(model, tok, msgs, COLOURS, batch_size=7, share_prompt=share_prompt)
        bare = colour_logprobs(model, tok, msgs, COLOURS, 7, end_of_turn=False, share_prompt=share_prompt)
        for want, lp, lp_bare in zip(hand, got, bare, strict=True):
            for colour in COLOURS:
                assert lp[colour] == pytest.approx(want[colour][0], abs=1e-5), (share_prompt, colour)
                assert lp_bare[colour] == pytest.approx(want[colour][1], abs=1e-5), (share_prompt, colour)
                # the end of turn is scored too: log P(<end_of_turn> "\n" | colour) < 0
                assert lp[colour] < lp_bare[colour] - 1e-6


def test_a_colour_that_is_a_token_prefix_of_another_is_still_predicted_right(tmp_path):
    """ "blue" is a token prefix of "bluegreen": without the end of turn, log P(bluegreen) = log P(blue) +
    log P(green | blue) can never beat blue; scored as whole turns, each wins where the model says it."""
    from selgen.methods.sft import TaskOnly
    from selgen.training import train

    colours = ["blue", "bluegreen", "green"]
    words = ["The sky is blue.", "The grass is green.", "blue green blue green", "T = sky", "T = sea"]
    folder = build_standin("gemma2", tmp_path / "gemma2", words * 20, vocab_size=320)
    model, tok = load_model(str(folder), {"attn_implementation": "eager"})
    blue, bluegreen = ids(tok, "blue"), ids(tok, "bluegreen")
    assert len(bluegreen) > len(blue) and bluegreen[: len(blue)] == blue  # a token prefix
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"x = [0.5, {x2}], T = {t}"},
                {"role": "assistant", "content": c},
            ]
        }
        for t, x2, c in (("sky", 1.0, "blue"), ("sea", -1.0, "bluegreen"))
    ]
    cfg = {"lr": 2e-2, "steps": 80, "batch_size": 2, "grad_accum": 1, "max_length": 64, "warmup_steps": 5}
    train(model, tok, TaskOnly(), rows, [], {**cfg, "weight_decay": 0.0, "max_grad_norm": 1.0}, 0, False)
    gold = [r["messages"][1]["content"] for r in rows]
    assert predict_colours(model, tok, rows, colours) == gold
    # the colour word alone: the prefix always wins over its extension
    bare = colour_logprobs(model, tok, [r["messages"] for r in rows], colours, end_of_turn=False)
    assert all(lp["blue"] >= lp["bluegreen"] for lp in bare)
    assert predict_colours(model, tok, rows, colours, end_of_turn=False)[1] == "blue"
