"""CPU dropout and attention with dropout: same distribution and semantics as PyTorch's."""

import pytest
import torch
import torch.nn.functional as F

from model.attention import attention_with_dropout, build_attention_mask
from model.dropout import Dropout, dropout, keep_mask
from mpu.random import MODEL_PARALLEL_RNG, model_parallel_seed


def test_keep_mask_keeps_one_minus_p_and_replays_from_the_seed():
    torch.manual_seed(3)
    mask = keep_mask(torch.empty(4, 1 << 20), 0.1)  # several chunks: the threaded path
    torch.manual_seed(3)
    again = keep_mask(torch.empty(4, 1 << 20), 0.1)
    assert torch.equal(mask, again)
    # 4M Bernoulli(0.9) draws: standard error 1.5e-4
    assert abs(mask.float().mean().item() - 0.9) < 1e-3
    chunk = 1 << 20  # chunks come from different generators, not copies of one another
    assert not torch.equal(mask.view(-1)[:chunk], mask.view(-1)[chunk : 2 * chunk])
    assert not torch.equal(keep_mask(torch.empty(4, 1 << 20), 0.1), mask)  # the state advanced


def test_keep_mask_does_not_depend_on_the_thread_count():
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        torch.manual_seed(5)
        serial = keep_mask(torch.empty(3, 1 << 20), 0.25)
        torch.set_num_threads(2)
        torch.manual_seed(5)
        threaded = keep_mask(torch.empty(3, 1 << 20), 0.25)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(serial, threaded)


def test_dropout_scales_kept_values_and_zeroes_the_rest():
    x = torch.rand(64, 1000) + 1.0
    out = dropout(x, 0.2, training=True)
    kept = out != 0
    torch.testing.assert_close(out[kept], x[kept] / 0.8)
    assert abs(kept.float().mean().item() - 0.8) < 0.01
    assert dropout(x, 0.2, training=False) is x
    module = Dropout(0.2).eval()
    assert module(x) is x and module.p == 0.2


def test_dropout_gradient_follows_the_mask():
    x = torch.randn(8, 100, requires_grad=True)
    torch.manual_seed(0)
    out = dropout(x, 0.5)
    out.sum().backward()
    torch.testing.assert_close(x.grad, (out != 0).float() * 2.0)


def _qkv(batch=2, heads=3, length=12, dim=8):
    generator = torch.Generator().manual_seed(0)
    return [
        torch.randn(batch, heads, length, dim, generator=generator).requires_grad_()
        for _ in range(3)
    ]


def test_attention_without_dropout_equals_sdpa():
    q, k, v = _qkv()
    mask = build_attention_mask(torch.tensor([5, 9]), 12)
    ours = attention_with_dropout(q, k, v, mask, 0.0)
    torch.testing.assert_close(ours, F.scaled_dot_product_attention(q, k, v, attn_mask=mask))
    torch.testing.assert_close(
        attention_with_dropout(q, k, v, None, 0.0), F.scaled_dot_product_attention(q, k, v)
    )


def test_fully_masked_rows_give_zeros_like_sdpa():
    q, k, v = _qkv()
    mask = build_attention_mask(torch.tensor([5, 9]), 12).clone()
    mask[0, :, 3] = False  # query 3 of sample 0 may attend nothing
    ours = attention_with_dropout(q, k, v, mask, 0.0)
    torch.testing.assert_close(ours, F.scaled_dot_product_attention(q, k, v, attn_mask=mask))
    assert torch.equal(ours[0, :, 3], torch.zeros_like(ours[0, :, 3]))
    ours.sum().backward()
    assert torch.isfinite(q.grad).all()


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_attention_dropout_is_softmax_times_mask_over_keep_probability(p):
    q, k, v = _qkv()
    mask = build_attention_mask(torch.tensor([5, 9]), 12)
    model_parallel_seed(7)  # the attention mask comes from the tracked stream
    ours = attention_with_dropout(q, k, v, mask, p)
    ours.sum().backward()
    grads = [t.grad.clone() for t in (q, k, v)]
    for t in (q, k, v):
        t.grad = None
    model_parallel_seed(7)
    keep = keep_mask(torch.empty(2, 3, 12, 12), p, MODEL_PARALLEL_RNG)
    scores = (q @ k.transpose(-1, -2) / 8**0.5).masked_fill(~mask, float("-inf"))
    expected = (torch.softmax(scores, -1) * keep / (1 - p)) @ v
    expected.sum().backward()
    torch.testing.assert_close(ours, expected)
    for got, want in zip(grads, (q.grad, k.grad, v.grad), strict=True):
        torch.testing.assert_close(got, want)
