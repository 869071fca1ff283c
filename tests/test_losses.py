"""The chunked head losses (selgen.losses) against plain autograd on the full logits: values and gradients
for the hidden states and the head matrix, with and without Gemma-2's soft-capping, over several chunks."""

import pytest
import torch
import torch.nn.functional as F

from selgen import losses


def full_logits(h, w, cap):
    z = F.linear(h, w).float()
    return torch.tanh(z / cap) * cap if cap else z


@pytest.fixture
def tensors():
    g = torch.Generator().manual_seed(0)
    n, d, v = 37, 8, 50
    h = torch.randn(n, d, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(v, d, generator=g, dtype=torch.float64, requires_grad=True)
    r = torch.randn(n, d, generator=g, dtype=torch.float64)
    y = torch.randint(0, v, (n,), generator=g)
    return h, w, r, y


@pytest.mark.parametrize("cap", [None, 3.0])
def test_label_logps_and_gradients_equal_autograds(tensors, cap, monkeypatch):
    monkeypatch.setattr(losses, "CHUNK_MB", 4 * 50 * 2 * 10 / 2**20)  # 10 positions per chunk: 4 chunks
    h, w, _, y = tensors
    chunk = losses.chunk_positions(50, losses._LabelLogp.BUFFERS)
    assert chunk == 10
    ours = torch.cat(losses._over_chunks(lambda a, b: losses._LabelLogp.apply(a, w, b, cap), 2, 50, h, y))
    ref = torch.log_softmax(full_logits(h, w, cap), -1).gather(1, y[:, None]).squeeze(1)
    assert torch.allclose(ours, ref, atol=1e-5)
    weights = torch.linspace(0.5, 2, len(y), dtype=torch.float64)
    g_ours = torch.autograd.grad((ours * weights).sum(), [h, w])
    g_ref = torch.autograd.grad((ref * weights).sum(), [h, w])
    for a, b in zip(g_ours, g_ref, strict=True):
        assert torch.allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("direction", ["reverse", "forward"])
@pytest.mark.parametrize("cap", [None, 3.0])
def test_kl_and_its_gradient_equal_autograds(tensors, direction, cap):
    h, w, r, _ = tensors
    rw = (w + 0.3 * torch.randn_like(w)).detach()
    ours = losses._KL.apply(h, w, r, rw, cap, direction == "reverse")
    logp = torch.log_softmax(full_logits(h, w, cap), -1)
    logq = torch.log_softmax(full_logits(r, rw, cap), -1)
    ref = losses.kl_per_position(logp, logq, direction)
    assert torch.allclose(ours, ref, atol=1e-5) and (ours > 0).all()
    g_ours = torch.autograd.grad(ours.sum(), [h, w])
    g_ref = torch.autograd.grad(ref.sum(), [h, w])
    for a, b in zip(g_ours, g_ref, strict=True):
        assert torch.allclose(a, b, atol=1e-5)
