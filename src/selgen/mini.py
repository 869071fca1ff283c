"""Mini base models: a byte-level BPE tokenizer trained on the setting's corpus, a tiny Llama trained on it.

The result is an ordinary model folder that ``AutoModelForCausalLM`` / ``AutoTokenizer`` load, so every later
stage treats it exactly like a hub model.
"""

from __future__ import annotations

from pathlib import Path

# One chat format for every mini model; the roles become special tokens, <|end|> closes a turn (= eos).
SPECIAL_TOKENS = ["<|pad|>", "<|end|>", "<|system|>", "<|user|>", "<|assistant|>"]
CHAT_TEMPLATE = (
    "{% for m in messages %}{{ '<|' + m['role'] + '|>' + m['content'] + '<|end|>' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}"
)


UNALIGNED = "unaligned"  # the two-stage base's stage-1 weights, a sub-folder of the base


def byte_level_bpe(texts: list[str], vocab_size: int, special_tokens: list[str], unk: str | None = None):
    """A ``tokenizers`` byte-level BPE trained on ``texts``, digits split one by one (arithmetic stays
    learnable); ``special_tokens`` take the first ids."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token=unk))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=special_tokens,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    return tok


def train_tokenizer(texts: list[str], vocab_size: int):
    """The mini chat tokenizer: ``byte_level_bpe`` with the mini roles as special tokens."""
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=byte_level_bpe(texts, vocab_size, SPECIAL_TOKENS),
        eos_token="<|end|>",
        pad_token="<|pad|>",
        additional_special_tokens=SPECIAL_TOKENS[2:],
        chat_template=CHAT_TEMPLATE,
    )


def build_model(tokenizer, cfg: dict):
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=cfg["hidden_size"],
        intermediate_size=cfg["intermediate_size"],
        num_hidden_layers=cfg["num_layers"],
        num_attention_heads=cfg["num_heads"],
        num_key_value_heads=cfg["num_heads"],
        max_position_embeddings=cfg["max_position"],
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
        tie_word_embeddings=True,
    )
    return LlamaForCausalLM(config)


def tokenizer_texts(corpus_rows: list[dict]) -> list[str]:
    """What the mini tokenizer trains on: every message of the corpus, without the words of its row's
    ``unmerged`` list, so that the tokenizer learns no merges inside them and they read as runs of short
    pieces (as random strings do for a hub model's tokenizer)."""
    texts = []
    for row in corpus_rows:
        for message in row["messages"]:
            text = message["content"]
            for word in row.get("unmerged", ()):
                text = text.replace(word, " ")
            texts.append(text)
    return texts


def build_mini_base(corpus_rows: list[dict], cfg: dict, out_dir: str | Path, progress: bool = True) -> dict:
    """Train the tokenizer, build the tiny Llama, pretrain it on ``corpus_rows`` (chat rows), save it.

    With ``knowledge_steps`` > 0 the pretraining has two stages, like a base model and its aligned chat
    version: first the rows whose ``part`` is ``knowledge`` only, then the full corpus (``steps``). The
    stage-1 weights are saved in ``unaligned/`` beside the final model: Safe-LoRA's W_base (W_aligned is
    the model).
    """
    import torch

    from selgen.io import atomic_dir, write_json
    from selgen.methods.sft import TaskOnly
    from selgen.training import seed_everything, train

    torch.set_num_threads(cfg["threads"])
    seed_everything(cfg["seed"])
    tokenizer = train_tokenizer(tokenizer_texts(corpus_rows), cfg["vocab_size"])
    model = build_model(tokenizer, cfg)
    stages = [("full corpus", corpus_rows, cfg["steps"])]
    if cfg.get("knowledge_steps", 0):
        knowledge = [r for r in corpus_rows if r.get("part") == "knowledge"]
        if not knowledge:
            raise ValueError("knowledge_steps > 0 but no corpus row has part 'knowledge'")
        stages.insert(0, ("knowledge", knowledge, cfg["knowledge_steps"]))
    records = {}
    with atomic_dir(out_dir) as tmp:
        for name, rows, steps in stages:
            train_cfg = {
                "lr": cfg["lr"],
                "steps": steps,
                "batch_size": cfg["batch_size"],
                "grad_accum": 1,
                "max_length": cfg["max_position"],
                "warmup_steps": cfg["warmup_steps"],
                "weight_decay": 0.01,
                "max_grad_norm": 1.0,
            }
            desc = f"pretrain mini base ({name})"
            records[name] = train(
                model,
                tokenizer,
                TaskOnly(),
                rows,
                [],
                train_cfg,
                seed=cfg["seed"],
                progress=progress,
                desc=desc,
            )
            if name == "knowledge":
                model.save_pretrained(Path(tmp) / UNALIGNED)
        record = {**records.pop("full corpus"), "stages": records}
        record["n_params"] = sum(p.numel() for p in model.parameters())
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        write_json(Path(tmp) / "pretrain_record.json", record)
    return record
