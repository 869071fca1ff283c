"""Tiny stand-ins for real chat families load like hub models and carry the real templates, tokens and
generation configs (selgen.standins)."""

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

from selgen.standins import FAMILIES, FAMILY_OF, REAL_CONFIGS, SPECS, build_standin, real_config

USER = [{"role": "user", "content": "What is 2 + 2?"}]
TURN = USER + [{"role": "assistant", "content": "4"}]
REAL_EOS = {"llama3": "<|eot_id|>", "qwen3": "<|im_end|>", "gemma": "<eos>", "gemma2": "<eos>"}
REAL_CLASS = {
    "llama3": "LlamaForCausalLM",
    "qwen3": "Qwen3ForCausalLM",
    "gemma": "GemmaForCausalLM",
    "gemma2": "Gemma2ForCausalLM",
}


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    return {f: build_standin(f, tmp_path_factory.mktemp(f)) for f in FAMILIES}


@pytest.fixture(scope="module")
def loaded(folders):
    return {
        f: (AutoTokenizer.from_pretrained(d), AutoModelForCausalLM.from_pretrained(d), d)
        for f, d in folders.items()
    }


def render(tok, messages, **kw):
    return tok.apply_chat_template(messages, tokenize=False, **kw)


@pytest.mark.parametrize("family", FAMILIES)
def test_loads_and_forward_gives_model_vocab_logits(loaded, family):
    tok, model, _ = loaded[family]
    assert type(model).__name__ == REAL_CLASS[family]
    assert model.config.vocab_size == len(tok)
    ids = tok.apply_chat_template(USER, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        logits = model(**ids).logits
    assert logits.shape == (1, ids["input_ids"].shape[1], model.config.vocab_size)
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("family", FAMILIES)
def test_eos_and_special_tokens_as_the_real_tokenizer(loaded, family):
    tok, model, _ = loaded[family]
    assert tok.eos_token == REAL_EOS[family]
    expect_bos = {"llama3": "<|begin_of_text|>", "qwen3": None, "gemma": "<bos>", "gemma2": "<bos>"}[family]
    expect_pad = {"llama3": None, "qwen3": "<|endoftext|>", "gemma": "<pad>", "gemma2": "<pad>"}[family]
    assert tok.bos_token == expect_bos
    assert tok.pad_token == expect_pad
    tokens = SPECS[family]["first"] + [t for t, _ in SPECS[family]["added"]]
    for t in tokens:  # one id each, also inside running text
        tid = tok.convert_tokens_to_ids(t)
        assert tok.encode(t, add_special_tokens=False) == [tid], t
        assert tid in tok.encode(f"ab{t}cd", add_special_tokens=False), t
    # the config's special ids point at the same tokens as the tokenizer's
    if expect_bos is not None:
        assert model.config.bos_token_id == tok.bos_token_id
    assert tok.eos_token_id in (
        model.config.eos_token_id
        if isinstance(model.config.eos_token_id, list)
        else [model.config.eos_token_id]
    )
    assert model.config.pad_token_id == (tok.pad_token_id if family != "qwen3" else None)


@pytest.mark.parametrize("family", FAMILIES)
def test_bos_prepended_like_the_real_tokenizer_but_not_twice_by_the_template(loaded, family):
    tok, _, _ = loaded[family]
    plain = tok("hello").input_ids
    chat = tok.apply_chat_template(USER, add_generation_prompt=True, return_dict=True)["input_ids"]
    if family == "qwen3":
        assert tok.bos_token_id is None and plain == tok.encode("hello", add_special_tokens=False)
    else:
        assert plain[0] == tok.bos_token_id and plain[1] != tok.bos_token_id
        assert chat[0] == tok.bos_token_id and chat[1] != tok.bos_token_id


def test_qwen3_template_thinking_switch(loaded):
    tok, _, _ = loaded["qwen3"]
    on = render(tok, USER, add_generation_prompt=True)
    off = render(tok, USER, add_generation_prompt=True, enable_thinking=False)
    assert on == "<|im_start|>user\nWhat is 2 + 2?<|im_end|>\n<|im_start|>assistant\n"
    assert off == on + "<think>\n\n</think>\n\n"
    # the last assistant turn always carries a (here empty) think block; reasoning is moved into it
    assert render(tok, TURN).endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n4<|im_end|>\n")
    done = render(tok, [*USER, {"role": "assistant", "content": "<think>add</think>\n\n4"}])
    assert done.endswith("<|im_start|>assistant\n<think>\nadd\n</think>\n\n4<|im_end|>\n")
    system = render(tok, [{"role": "system", "content": "Be brief."}, *USER], add_generation_prompt=True)
    assert system.startswith("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n")
    # <think> is an added, non-special token (kept by skip_special_tokens), <|im_end|> is special
    ids = tok.encode("<think>x</think>y<|im_end|>", add_special_tokens=False)
    assert tok.decode(ids, skip_special_tokens=True) == "<think>x</think>y"


@pytest.mark.parametrize("family", ["gemma", "gemma2"])
def test_gemma_templates(loaded, family):
    tok, _, _ = loaded[family]
    prompt = render(tok, USER, add_generation_prompt=True)
    assert prompt == "<bos><start_of_turn>user\nWhat is 2 + 2?<end_of_turn>\n<start_of_turn>model\n"
    assert render(tok, TURN).endswith("<start_of_turn>model\n4<end_of_turn>\n")
    with pytest.raises(Exception, match="System role not supported"):
        render(tok, [{"role": "system", "content": "Be brief."}, *USER])
    with pytest.raises(Exception, match="must alternate"):
        render(tok, USER + USER)


def test_llama3_template(loaded):
    tok, _, _ = loaded["llama3"]
    prompt = render(tok, USER, add_generation_prompt=True)
    assert prompt == (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
        "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nWhat is 2 + 2?<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )
    system = render(tok, [{"role": "system", "content": "Be brief."}, *USER])
    assert "Today Date: 26 Jul 2024\n\nBe brief.<|eot_id|>" in system
    assert render(tok, TURN).endswith("<|start_header_id|>assistant<|end_header_id|>\n\n4<|eot_id|>")


@pytest.mark.parametrize("family", FAMILIES)
def test_generation_config_mirrors_the_real_one(loaded, family):
    tok, _, folder = loaded[family]
    g = GenerationConfig.from_pretrained(folder)
    ids = tok.convert_tokens_to_ids
    if family == "qwen3":
        assert (g.do_sample, g.temperature, g.top_k, g.top_p) == (True, 0.6, 20, 0.95)
        assert g.eos_token_id == [ids("<|im_end|>"), ids("<|endoftext|>")]
        assert g.pad_token_id == g.bos_token_id == ids("<|endoftext|>")
    elif family == "llama3":
        assert (g.do_sample, g.temperature, g.top_p) == (True, 0.6, 0.9)
        assert g.eos_token_id == [ids("<|end_of_text|>"), ids("<|eom_id|>"), ids("<|eot_id|>")]
        assert g.bos_token_id == ids("<|begin_of_text|>") and g.pad_token_id is None
    elif family == "gemma":  # bos / eos / pad only: eos is <eos>, turns end with <end_of_turn>
        assert (g.bos_token_id, g.eos_token_id, g.pad_token_id) == (2, 1, 0)
        assert not g.do_sample
    else:
        assert g.eos_token_id == [1, ids("<end_of_turn>")] and (g.bos_token_id, g.pad_token_id) == (2, 0)
        assert not g.do_sample


def test_architecture_details(loaded):
    tied = {f: loaded[f][1].config.tie_word_embeddings for f in FAMILIES}
    assert tied == {"llama3": False, "qwen3": False, "gemma": True, "gemma2": True}
    model = loaded["gemma2"][1]
    assert model.config.final_logit_softcapping == 30.0 and model.config.attn_logit_softcapping == 50.0
    assert model.config.sliding_window == 8
    assert model.config.layer_types == ["sliding_attention", "full_attention"]
    assert model.config.eos_token_id == [1, loaded["gemma2"][0].convert_tokens_to_ids("<end_of_turn>")]
    big = AutoModelForCausalLM.from_pretrained(loaded["gemma2"][2])
    with torch.no_grad():  # blow the (tied) embeddings up: soft-capping keeps |logit| below 30
        big.get_input_embeddings().weight.mul_(1000.0)
        logits = big(torch.tensor([[5, 6, 7, 8]])).logits
        big.config.final_logit_softcapping = None
        uncapped = big(torch.tensor([[5, 6, 7, 8]])).logits
    assert logits.abs().max() <= 30.0 < uncapped.abs().max()


def test_model_vocab_size_and_seed(tmp_path):
    a = build_standin("qwen3", tmp_path / "a", model_vocab_size=512, seed=3)
    b = build_standin("qwen3", tmp_path / "b", model_vocab_size=512, seed=3)
    ma, mb = (AutoModelForCausalLM.from_pretrained(d) for d in (a, b))
    assert ma.config.vocab_size == 512 and len(AutoTokenizer.from_pretrained(a)) < 512
    assert torch.equal(ma.get_input_embeddings().weight, mb.get_input_embeddings().weight)
    with pytest.raises(ValueError, match="model_vocab_size"):
        build_standin("gemma", tmp_path / "c", model_vocab_size=10)
    with pytest.raises(ValueError, match="unknown family"):
        build_standin("mistral", tmp_path / "d")


@pytest.mark.parametrize(
    ("name", "params"),
    [("qwen3-8b", 8_190_735_360), ("gemma-2b", 2_506_172_416), ("gemma-2-2b", 2_614_341_888)],
)
def test_real_configs_build_the_published_sizes(name, params):
    config = real_config(name)
    assert config.model_type == FAMILY_OF[name]
    assert "model_type" not in REAL_CONFIGS[name]
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    assert sum(p.numel() for p in model.parameters()) == params
