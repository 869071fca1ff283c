"""Parity with TRL (issue 14): our SFT loss and DPO term against TRL's ``SFTTrainer`` / ``DPOTrainer`` on the
same tiny stand-in models (real chat templates) and the same rows, to 1e-5.

What is compared is TRL's own machinery end to end: its dataset preparation (chat template, prompt/completion
split, labels), its data collator, and ``trainer.compute_loss`` on the collated batch, with no training step.
Our side is ``training.encode`` → ``collate`` → ``token_ce_sum`` / labelled tokens (SFT) and the ``DPO``
method's own ``encode_align`` / ``setup`` (cached reference) / ``loss`` (DPO).

Agreement (asserted to 1e-5; measured in float32 on CPU: 0.0 for SFT and summed DPO, ≤ 1.2e-7 for mean DPO):
- SFT = TRL ``completion_only_loss`` on prompt-completion rows (prompt = every turn but the last, completion
  = the final assistant turn): the same input ids, the same labelled tokens (the reply and the template's
  end-of-turn text), the same per-token mean; also over gradient-accumulation micro-batches (TRL's
  ``num_items_in_batch`` = our ``StepContext.n_task``).
- DPO ``logps: sum`` = TRL ``loss_type="sigmoid"``; DPO ``logps: mean`` = TRL ``loss_type="sigmoid_norm"``
  (log-ratios divided by each reply's completion-token count), for β ∈ {0.1, 0.5}, reference = the initial
  weights (our cache from ``setup``; TRL's explicit frozen ``ref_model``), policy perturbed off it.
- Families: Qwen3 (empty think block in the prompt), Llama-3.1 (no pad token: eos), Gemma-2 (soft-capped
  head, sliding window).

Differences, each pinned by a test below with its reason in the test's docstring:
- TRL ``assistant_only_loss`` (Qwen3): labels the empty think block and every assistant turn, and re-renders
  earlier turns (``test_assistant_only_loss_labels_the_think_block_and_earlier_turns``); not available for
  Llama-3.1's template (``test_assistant_only_loss_unsupported_templates``).
- Gemma's templates reject a system turn: we fold it into the first user turn, TRL raises
  (``test_sft_matches_trl_completion_only_loss``, gemma2).
- DPO over accumulation micro-batches of unequal size: we average over the step's pairs, TRL averages the
  micro-batch means (``test_dpo_pairs_weigh_equally_over_uneven_micro_batches``).
- Rows whose prompt fills ``max_length``: TRL drops them, we keep them in the data (an edge case: no effect
  on the SFT loss; DPO leaves such a pair out of its mean, so the loss equals TRL's)
  (``test_truncation_partial_rows_agree_rows_without_reply_are_kept``).
"""

import copy
import math

import pytest
import torch
from datasets import Dataset
from transformers import AutoModelForCausalLM
from trl import DPOConfig, DPOTrainer, SFTConfig, SFTTrainer

from selgen import chat
from selgen.batching import IGNORE, StepContext, collate, encode, n_label_tokens, token_ce_sum
from selgen.methods.dpo import DPO
from selgen.models import load_tokenizer
from selgen.standins import build_standin

TOL = 1e-5
MAX_LEN = 256
SYSTEM = {"role": "system", "content": "You are terse."}
ROWS = [  # different lengths, a system turn, a multi-turn chat (only its last assistant turn is trained)
    [SYSTEM, {"role": "user", "content": "What is 2 + 2?"}, {"role": "assistant", "content": "4"}],
    [
        {"role": "user", "content": "Name a colour."},
        {"role": "assistant", "content": "Blue, like the sky on a clear day."},
    ],
    [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello there."},
        {"role": "user", "content": "Count to three."},
        {"role": "assistant", "content": "One, two, three."},
    ],
    [SYSTEM, {"role": "user", "content": "Is the sky green?"}, {"role": "assistant", "content": "No."}],
]
PAIRS = [
    {"prompt": ROWS[0][:2], "chosen": "4", "rejected": "Five, I think, but I am not sure."},
    {"prompt": ROWS[1][:1], "chosen": "Blue, like the sky.", "rejected": "No."},
    {"prompt": ROWS[2][:3], "chosen": "One, two, three.", "rejected": "Three, two, one, zero."},
]
THINK = "<think>\n\n</think>\n\n"  # Qwen3's empty think block (enable_thinking: false)


@pytest.fixture(scope="module", autouse=True)
def offline():
    """Nothing reaches the hub: offline mode (the models are local folders) also stops the telemetry ping
    TRL's trainers send on construction. huggingface_hub reads the variables once, at import, so its
    constants are patched as well; only while this module's tests run."""
    import huggingface_hub.constants as hub

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
        mp.setattr(hub, "HF_HUB_OFFLINE", True)
        mp.setattr(hub, "HF_HUB_DISABLE_TELEMETRY", True)
        yield


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    return {f: build_standin(f, tmp_path_factory.mktemp(f)) for f in ("qwen3", "llama3", "gemma2")}


def load(folders, family):
    """A fresh model (TRL patches its forward) and our tokenizer (pad = eos where there is none, as TRL's)."""
    return AutoModelForCausalLM.from_pretrained(folders[family]).eval(), load_tokenizer(str(folders[family]))


def perturb(model, scale=0.05, seed=1):
    """Move the policy away from the reference so the DPO loss is not log 2."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g))


def sft_trainer(model, tok, rows, tmp_path, **kw):
    """TRL's SFTTrainer on prompt-completion rows (completion = the final assistant turn), with our
    template options (Qwen3: enable_thinking false) passed per row as TRL's ``chat_template_kwargs``."""
    data = [{"prompt": m[:-1], "completion": m[-1:], "chat_template_kwargs": chat.options(tok)} for m in rows]
    args = dict(completion_only_loss=True, max_length=MAX_LEN) | kw
    return SFTTrainer(
        model=model,
        args=config(SFTConfig, tmp_path, **args),
        train_dataset=Dataset.from_list(data),
        processing_class=tok,
    )


def config(cls, tmp_path, **kw):
    return cls(
        output_dir=str(tmp_path / "trl"),
        report_to="none",
        use_cpu=True,
        bf16=False,
        gradient_checkpointing=False,
        **kw,
    )


def trl_batch(trainer, n):
    """TRL's collated batch of its first ``n`` prepared rows (its datasets are not shuffled by default)."""
    return trainer.data_collator([trainer.train_dataset[i] for i in range(n)])


def our_sft_loss(model, batch):
    with torch.no_grad():
        return float(token_ce_sum(model, batch) / n_label_tokens(batch))


def unpadded(batch, key, i):
    return batch[key][i][batch["attention_mask"][i].bool()].tolist()


# ---------------------------------------------------------------------------------------------------- SFT
@pytest.mark.parametrize("family", ["qwen3", "llama3", "gemma2"])
def test_sft_matches_trl_completion_only_loss(folders, family, tmp_path):
    """Same input ids, same labelled tokens, same loss. Gemma-2 (soft-capped head, sliding window) cannot take
    a system turn: our ``chat.render`` folds it into the first user turn (``chat.fold_system``), the usual
    practice, so system-prompted rows (inoculation) still train; TRL passes it to the template, which raises.
    TRL is given the folded rows."""
    model, tok = load(folders, family)
    ours = [encode(tok, m, MAX_LEN) for m in ROWS]
    batch = collate(ours, tok.pad_token_id)
    rows = [chat.fold_system(m) for m in ROWS] if not chat.supports_system(tok) else ROWS
    if rows is not ROWS:
        with pytest.raises(Exception, match="System role not supported"):
            sft_trainer(copy.deepcopy(model), tok, ROWS, tmp_path)
    trainer = sft_trainer(model, tok, rows, tmp_path)
    theirs = trl_batch(trainer, len(ROWS))
    for i, e in enumerate(ours):
        assert unpadded(theirs, "input_ids", i) == e["input_ids"]
        assert unpadded(theirs, "labels", i) == e["labels"]
    with torch.no_grad():
        trl_loss = float(trainer.compute_loss(model, dict(theirs)))
    assert trl_loss == pytest.approx(our_sft_loss(model, batch), abs=TOL)


def test_sft_gradient_accumulation_normalises_by_the_steps_tokens_as_trl(folders, tmp_path):
    """Micro-batches of unequal token counts: TRL divides each micro-batch's token sum by the whole step's
    labelled-token count (``num_items_in_batch`` from ``Trainer.get_batch_samples``), as we divide by
    ``StepContext.n_task``; both equal the one-big-batch token mean."""
    model, tok = load(folders, "qwen3")
    ours = [
        collate([encode(tok, m, MAX_LEN) for m in part], tok.pad_token_id) for part in (ROWS[:3], ROWS[3:])
    ]
    n_task = sum(n_label_tokens(b) for b in ours)
    trainer = sft_trainer(model, tok, ROWS, tmp_path)
    rows = [trainer.train_dataset[i] for i in range(len(ROWS))]
    micro = [trainer.data_collator(rows[:3]), trainer.data_collator(rows[3:])]
    micro, num_items = trainer.get_batch_samples(iter(micro), 2, torch.device("cpu"))
    assert int(num_items) == n_task
    with torch.no_grad():
        trl_step = sum(
            float(trainer.compute_loss(model, dict(b), num_items_in_batch=num_items)) for b in micro
        )
        our_step = sum(float(token_ce_sum(model, b)) for b in ours) / n_task
    whole = our_sft_loss(model, collate([encode(tok, m, MAX_LEN) for m in ROWS], tok.pad_token_id))
    assert trl_step == pytest.approx(our_step, abs=TOL) and our_step == pytest.approx(whole, abs=TOL)


def test_assistant_only_loss_labels_the_think_block_and_earlier_turns(folders, tmp_path):
    """TRL's ``assistant_only_loss`` (Qwen3: TRL swaps in its training template with ``{% generation %}``
    markers) differs from ours in the label set, on purpose:

    1. It labels Qwen3's empty think block ``<think>\\n\\n</think>\\n\\n`` before every reply. With
       ``enable_thinking: false`` that block is the end of the *generation prompt*: every evaluation prompt
       already contains it (``chat.check_template``), the model never generates it, so we keep it unlabelled
       and the unlabelled part of a training row is exactly its evaluation prompt.
    2. It labels every assistant turn of a multi-turn chat; we label the final one only (earlier turns are
       context, as in the prompt-completion format), and its training template re-renders earlier assistant
       turns *with* a think block, which the real template (and so evaluation) leaves out.

    Given TRL's labels, our token loss reproduces TRL's: only the label set differs."""
    model, tok = load(folders, "qwen3")
    ours = [encode(tok, m, MAX_LEN) for m in ROWS]
    data = [{"messages": m, "chat_template_kwargs": chat.options(tok)} for m in ROWS]
    trainer = SFTTrainer(
        model=model,
        args=config(SFTConfig, tmp_path, assistant_only_loss=True, max_length=MAX_LEN),
        train_dataset=Dataset.from_list(data),
        processing_class=tok,
    )
    theirs = trl_batch(trainer, len(ROWS))

    def labelled_text(ids, labels):
        return tok.decode([t for t, y in zip(ids, labels, strict=True) if y != IGNORE])

    for i, e in enumerate(ours):
        ids, labels = unpadded(theirs, "input_ids", i), unpadded(theirs, "labels", i)
        reply = labelled_text(e["input_ids"], e["labels"])
        if i != 2:  # single-turn: same tokens; TRL's labels = ours plus the think block right before them
            assert ids == e["input_ids"]
            extra = [j for j, (y, o) in enumerate(zip(labels, e["labels"], strict=True)) if y != o]
            assert all(labels[j] != IGNORE and e["labels"][j] == IGNORE for j in extra)
            assert tok.decode([ids[j] for j in extra]) == THINK
            first = next(j for j, y in enumerate(e["labels"]) if y != IGNORE)
            assert extra == list(range(first - len(extra), first))  # right before the reply
            assert labelled_text(ids, labels) == THINK + reply
        else:  # multi-turn: the earlier assistant turn gets a think block in the input, and a label
            assert tok.decode(ids) == tok.decode(e["input_ids"]).replace(
                "<|im_start|>assistant\nHello", "<|im_start|>assistant\n" + THINK + "Hello"
            )
            assert reply == "One, two, three.<|im_end|>\n"
            assert labelled_text(ids, labels) == f"{THINK}Hello there.<|im_end|>\n{THINK}{reply}"
    with torch.no_grad():
        trl_loss = float(trainer.compute_loss(model, dict(theirs)))
    assert trl_loss == pytest.approx(our_sft_loss(model, dict(theirs)), abs=TOL)  # same loss on TRL's labels
    ours_loss = our_sft_loss(model, collate(ours, tok.pad_token_id))
    assert abs(trl_loss - ours_loss) > 1e-3  # ... but not the same labels


def test_assistant_only_loss_unsupported_templates(folders, tmp_path):
    """TRL's ``assistant_only_loss`` needs ``{% generation %}`` markers; it patches only templates it knows,
    and Llama-3.1's (the stand-in's, as the real model's) is not one of them: prompt-completion rows with
    ``completion_only_loss`` are the format that works for every family, and the one we compare against."""
    model, tok = load(folders, "llama3")
    data = Dataset.from_list([{"messages": m} for m in ROWS])
    with pytest.raises(ValueError, match="not training-compatible"):
        SFTTrainer(
            model=model,
            args=config(SFTConfig, tmp_path, assistant_only_loss=True),
            train_dataset=data,
            processing_class=tok,
        )


def test_truncation_partial_rows_agree_rows_without_reply_are_kept(folders, tmp_path):
    """``max_length`` keeps the start of every row in both (a reply cut short is trained on what is left:
    the same loss). A row whose *prompt* fills ``max_length`` has no labelled token left: TRL drops it from
    its dataset, we keep it (it is counted in the run record's ``truncated_rows``). For SFT this changes
    nothing in the loss (token sums over token counts; such a row adds zero to both). For DPO such a pair has
    no preference left: it is left out of the pair mean (``selgen.methods.dpo.has_replies``), so the loss is
    TRL's over the kept pairs."""
    model, tok = load(folders, "qwen3")
    long_prompt = [
        {"role": "user", "content": "Tell me about the sky. " * 12},
        {"role": "assistant", "content": "No."},
    ]
    rows = [ROWS[1], ROWS[2], long_prompt]
    lengths = [len(encode(tok, m, 10**6)["input_ids"]) for m in rows]
    prompt_len = len(tok(chat.prompt(tok, long_prompt), add_special_tokens=False)["input_ids"])
    max_len = lengths[1] - 3  # row 1: its reply cut by 3 tokens; row 2: the prompt alone is longer
    assert lengths[0] <= max_len < prompt_len
    ours = [encode(tok, m, max_len) for m in rows]
    assert [e["truncated"] for e in ours] == [False, True, True] and all(
        y == IGNORE for y in ours[2]["labels"]
    )
    trainer = sft_trainer(model, tok, rows, tmp_path, max_length=max_len)
    assert len(trainer.train_dataset) == 2  # TRL dropped the row without a reply
    theirs = trl_batch(trainer, 2)
    for i in range(2):
        assert unpadded(theirs, "labels", i) == ours[i]["labels"]
    with torch.no_grad():
        trl_loss = float(trainer.compute_loss(model, dict(theirs)))
    assert trl_loss == pytest.approx(our_sft_loss(model, collate(ours, tok.pad_token_id)), abs=TOL)

    # DPO: the same prompt as a pair
    pairs = PAIRS[:2] + [{"prompt": long_prompt[:1], "chosen": "No.", "rejected": "Yes, it is."}]
    ref = copy.deepcopy(model)
    method, examples = dpo_setup(model, tok, pairs, 0.5, "sum", max_len)
    perturb(model)
    ours_dpo = our_dpo(method, model, tok, [examples])
    trainer = dpo_trainer(model, ref, tok, pairs, tmp_path, 0.5, "sigmoid", max_length=max_len)
    assert len(trainer.train_dataset) == 2
    with torch.no_grad():
        trl_kept = float(trainer.compute_loss(model, dict(trl_batch(trainer, 2))))
    assert ours_dpo == pytest.approx(trl_kept, abs=TOL)


# ---------------------------------------------------------------------------------------------------- DPO
def dpo_setup(model, tok, pairs, beta, logps, max_length=MAX_LEN):
    """Our DPO method set up on ``pairs`` while ``model`` holds the initial weights (the cached reference)."""
    method = DPO(lam=1.0, beta=beta, logps=logps)
    examples = [method.encode_align(tok, p, max_length) | {"idx": i} for i, p in enumerate(pairs)]
    method.setup(model, tok, examples, None)
    return method, examples


def our_dpo(method, model, tok, parts):
    """Our step's DPO term over the alignment micro-batches ``parts`` (lists of encoded pairs)."""
    batches = [method.collate_align(p, tok.pad_token_id, None) for p in parts]
    task = collate([encode(tok, ROWS[0], MAX_LEN)], tok.pad_token_id)
    ctx = StepContext(step=0, total_steps=1, n_task=1, n_align=1, align_batches=batches)
    with torch.no_grad():
        return sum(method.loss(model, task, b, ctx)[1]["dpo"] for b in batches)


def dpo_trainer(model, ref, tok, pairs, tmp_path, beta, loss_type, max_length=MAX_LEN):
    data = [
        {
            "prompt": p["prompt"],
            "chosen": [{"role": "assistant", "content": p["chosen"]}],
            "rejected": [{"role": "assistant", "content": p["rejected"]}],
            "chat_template_kwargs": chat.options(tok),
        }
        for p in pairs
    ]
    args = config(DPOConfig, tmp_path, beta=beta, loss_type=[loss_type], max_length=max_length)
    return DPOTrainer(
        model=model, ref_model=ref, args=args, train_dataset=Dataset.from_list(data), processing_class=tok
    )


LOSS_TYPE = {"sum": "sigmoid", "mean": "sigmoid_norm"}
DPO_CASES = [("qwen3", beta, logps) for beta in (0.1, 0.5) for logps in LOSS_TYPE] + [
    ("llama3", 0.5, "mean"),
    ("gemma2", 0.1, "sum"),  # soft-capped head; no system role (folded for TRL, as in the SFT test)
]


@pytest.mark.parametrize("family, beta, logps", DPO_CASES)
def test_dpo_matches_trl(folders, family, beta, logps, tmp_path):
    """Our DPO term (reference log-probabilities cached in ``setup`` from the initial weights) equals TRL's
    DPOTrainer loss with a frozen copy of the initial weights as ``ref_model``, on the same pairs: summed
    log-probabilities = ``loss_type="sigmoid"``; ``logps: mean`` (each reply's log-probabilities averaged over
    its response tokens) = ``"sigmoid_norm"`` (TRL divides each reply's log-ratio by its completion length,
    which is the difference of the policy's and the reference's means)."""
    model, tok = load(folders, family)
    ref = copy.deepcopy(model)
    method, examples = dpo_setup(model, tok, PAIRS, beta, logps)
    perturb(model)
    ours = our_dpo(method, model, tok, [examples])
    assert abs(ours - math.log(2)) > 1e-3  # the policy has moved away from the reference
    pairs = (
        PAIRS if chat.supports_system(tok) else [p | {"prompt": chat.fold_system(p["prompt"])} for p in PAIRS]
    )
    trainer = dpo_trainer(model, ref, tok, pairs, tmp_path, beta, LOSS_TYPE[logps])
    theirs = trl_batch(trainer, len(PAIRS))
    ours_batch = method.collate_align(examples, tok.pad_token_id, None)
    for i in range(2 * len(PAIRS)):  # chosen rows, then rejected rows, in both
        ids = unpadded(theirs, "input_ids", i)
        assert ids == unpadded(ours_batch, "input_ids", i)
        labelled = [
            t if m else IGNORE for t, m in zip(ids, unpadded(theirs, "completion_mask", i), strict=True)
        ]
        assert labelled == unpadded(ours_batch, "labels", i)
    with torch.no_grad():
        trl_loss = float(trainer.compute_loss(model, dict(theirs)))
    assert trl_loss == pytest.approx(ours, abs=TOL)


def test_dpo_pairs_weigh_equally_over_uneven_micro_batches(folders, tmp_path):
    """Gradient accumulation with micro-batches of 2 and 1 pairs (an epoch's last micro-batch can be short):
    our step's DPO term is the mean over all the step's pairs (``sum / n_pairs``: the gradient of one big
    batch, as for the token losses); TRL's is the mean of the micro-batch means
    (``DPOTrainer.loss_is_scaled_for_ga`` is False: ``Trainer`` divides each micro-batch's mean by the
    accumulation steps), which weighs the pair of the short micro-batch double. With equal micro-batches the
    two agree."""
    model, tok = load(folders, "qwen3")
    ref = copy.deepcopy(model)
    method, examples = dpo_setup(model, tok, PAIRS, 0.5, "sum")
    perturb(model)
    ours = our_dpo(method, model, tok, [examples[:2], examples[2:]])
    assert ours == pytest.approx(our_dpo(method, model, tok, [examples]), abs=TOL)
    trainer = dpo_trainer(model, ref, tok, PAIRS, tmp_path, 0.5, "sigmoid")
    assert DPOTrainer.loss_is_scaled_for_ga is False
    rows = [trainer.train_dataset[i] for i in range(len(PAIRS))]
    with torch.no_grad():  # TRL's loss of each micro-batch: the mean over its pairs
        first, second = (
            float(trainer.compute_loss(model, dict(trainer.data_collator(p)))) for p in (rows[:2], rows[2:])
        )
    assert ours == pytest.approx((2 * first + second) / 3, abs=TOL)  # ours: every pair weighs 1/3
    trl_step = (first + second) / 2  # TRL: the short micro-batch's pair weighs 1/2
    assert abs(trl_step - ours) > 1e-4
