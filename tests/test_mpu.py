"""Tensor parallelism on CPU: TP=2 and TP=4 (gloo processes) equal TP=1, forward and backward,
with learned position tables and with rotary positions."""

import math

import pytest
import torch
import torch.distributed as dist

import mpu
from model import GLMConfig, GLMModel
from mpu.sharding import merge_tensors, split_tensor
from tests.distributed import run_distributed

ATOL = 1e-5
CONFIG = dict(
    num_layers=2,
    hidden_size=32,
    num_attention_heads=4,
    vocab_size=256,
    max_sequence_length=64,
    embedding_dropout_prob=0.0,
    attention_dropout_prob=0.0,
    output_dropout_prob=0.0,
)


def _batch():
    generator = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, 256, (2, 12), generator=generator)
    blocks = torch.randint(0, 5, (2, 12), generator=generator)
    positions = torch.stack([torch.arange(12).expand(2, 12), blocks], 1)
    targets = torch.randint(0, 256, (2, 12), generator=generator)
    return tokens, positions, torch.tensor([5, 8]), targets


VARIANTS = ((0.0, "absolute"), (0.1, "absolute"), (0.0, "rotary"))  # label smoothing, positions


def _forward_backward(label_smoothing: float, position_encoding: str):
    """Loss, full logits and full gradients (shards merged) of the test model."""
    model = GLMModel(GLMConfig(**CONFIG, position_encoding=position_encoding), seed=7)
    tokens, positions, sep, targets = _batch()
    logits = model(tokens, positions, sep)
    loss = mpu.vocab_parallel_cross_entropy(logits, targets, label_smoothing).mean()
    loss.backward()
    full_logits = mpu.gather_from_model_parallel_region(logits.detach())
    grads = {name: _full(param.grad, param) for name, param in model.named_parameters()}
    norm = mpu.clip_grad_norm(list(model.parameters()), max_norm=1e9)
    return float(loss.detach()), full_logits, grads, float(norm)


def _full(tensor, param):
    world = mpu.get_model_parallel_world_size()
    if world == 1 or not getattr(param, "model_parallel", False):
        return tensor.clone()
    parts = [torch.empty_like(tensor) for _ in range(world)]
    dist.all_gather(parts, tensor.contiguous(), group=mpu.get_model_parallel_group())
    return merge_tensors(parts, param.partition_dim, param.partition_stride)


def _tp_worker(rank, world, expected):
    mpu.initialize_model_parallel(world)
    report = {}
    for variant, (loss, logits, grads, norm) in expected.items():
        got_loss, got_logits, got_grads, got_norm = _forward_backward(*variant)
        report[variant] = (
            abs(got_loss - loss),
            float((got_logits - logits).abs().max()),
            max(float((got_grads[k] - grads[k]).abs().max()) for k in grads),
            abs(got_norm - norm),
        )
    return report


@pytest.mark.slow
@pytest.mark.parametrize("world", [2, 4])
def test_tensor_parallel_model_equals_single_rank(tmp_path, world):
    expected = {variant: _forward_backward(*variant) for variant in VARIANTS}
    for report in run_distributed(_tp_worker, world, tmp_path, expected):
        for variant, (loss_diff, logit_diff, grad_diff, norm_diff) in report.items():
            assert loss_diff <= ATOL, (variant, loss_diff)
            assert logit_diff <= ATOL, (variant, logit_diff)
            assert grad_diff <= ATOL, (variant, grad_diff)
            assert norm_diff <= 1e-4, (variant, norm_diff)


def _full_logits():
    logits = torch.randn(5, 8, generator=torch.Generator().manual_seed(3))
    logits[0, 1] = logits[0, 6] = 9.0  # a tie across shards: the lower index wins
    return logits


def _fake_eval_step(batch, model):
    """Half the targets right, by data-parallel rank: rank r's batch has r + 1 targets."""
    targets = torch.tensor(batch["targets"])
    predicted = targets.clone()
    predicted[::2] = -1
    return torch.tensor(float(len(targets))), {"mode": "bert", "predicted": predicted,
                                               "targets": targets}  # fmt: skip


def _groups_worker(rank, world):
    from training.evaluation import evaluate_loss

    mpu.initialize_model_parallel(2)
    data = {"tokens": torch.arange(6).view(2, 3) + rank * 100, "empty": torch.zeros(0, 4)}
    received = mpu.broadcast_data(data if mpu.get_model_parallel_rank() == 0 else None)
    shard = _full_logits().chunk(2, dim=-1)[mpu.get_model_parallel_rank()]
    dp = mpu.get_data_parallel_rank()
    batches = iter([{"targets": [7] * (dp + 1) + [3]}])
    results = evaluate_loss(torch.nn.Linear(1, 1), batches, _fake_eval_step, 4, span_end_id=3)
    return (
        mpu.get_model_parallel_rank(),
        mpu.get_data_parallel_rank(),
        mpu.get_model_parallel_src_rank(),
        received["tokens"].tolist(),
        tuple(received["empty"].shape),
        mpu.vocab_parallel_argmax(shard).tolist(),
        results,
    )


@pytest.mark.slow
def test_groups_and_broadcast_with_data_parallelism(tmp_path):
    results = run_distributed(_groups_worker, 4, tmp_path)
    for rank, (tp_rank, dp_rank, src, tokens, empty_shape, argmax, scores) in enumerate(results):
        assert (tp_rank, dp_rank, src) == (rank % 2, rank // 2, (rank // 2) * 2)
        assert tokens == (torch.arange(6).view(2, 3) + src * 100).tolist()
        assert empty_shape == (0, 4)
        assert argmax == _full_logits().argmax(-1).tolist()
        # data-parallel ranks hold [7, 3] and [7, 7, 3]: 5 targets, 3 of them 7
        assert scores["loss"] == scores["loss_bert"] == pytest.approx(2.5)
        assert scores["ppl_bert"] == pytest.approx(math.exp(2.5))
        assert scores["acc"] == scores["acc_bert"] == pytest.approx(2 / 5)
        assert scores["acc_most_frequent"] == pytest.approx(3 / 5)
        # without the span-end token 3: the three 7s, one predicted right
        assert scores["acc_text"] == scores["acc_bert_text"] == pytest.approx(1 / 3)
        assert scores["acc_bert_text_most_frequent"] == pytest.approx(1.0)
        assert "loss_gpt" not in scores


@pytest.mark.parametrize("stride", [1, 3])
@pytest.mark.parametrize("dim", [0, 1])
def test_split_merge_round_trip(stride, dim):
    master = torch.randn(24, 12)
    shards = split_tensor(master, dim, stride, world=4 if dim == 0 else 2)
    assert torch.equal(merge_tensors(shards, dim, stride), master)


def test_strided_split_keeps_qkv_thirds_per_rank():
    q, k, v = (torch.full((4, 2), value) for value in (1.0, 2.0, 3.0))
    shards = split_tensor(torch.cat([q, k, v]), dim=0, stride=3, world=2)
    assert shards[0][:, 0].tolist() == [1, 1, 2, 2, 3, 3]
    assert shards[1][:, 0].tolist() == [1, 1, 2, 2, 3, 3]


def test_single_rank_cross_entropy_matches_torch():
    logits, target = torch.randn(3, 5, 11), torch.randint(0, 11, (3, 5))
    ours = mpu.vocab_parallel_cross_entropy(logits, target, 0.1)
    reference = torch.nn.functional.cross_entropy(
        logits.transpose(1, 2), target, reduction="none", label_smoothing=0.1
    )
    assert torch.allclose(ours, reference, atol=1e-6)


def test_rng_tracker_fork_is_an_independent_stream():
    mpu.model_parallel_seed(123)
    tracker = mpu.get_rng_tracker()
    before = torch.get_rng_state()
    with tracker.fork():
        forked_a = torch.rand(3)
    assert torch.equal(torch.get_rng_state(), before)
    with tracker.fork():
        forked_b = torch.rand(3)
    assert not torch.equal(forked_a, forked_b)
    mpu.model_parallel_seed(123)
    with tracker.fork():
        assert torch.equal(torch.rand(3), forked_a)
    with pytest.raises(ValueError):
        tracker.add(mpu.random.MODEL_PARALLEL_RNG, 1)


def test_clip_grad_norm_scales_to_max_norm():
    params = [torch.nn.Parameter(torch.zeros(3)), torch.nn.Parameter(torch.zeros(4))]
    params[0].grad, params[1].grad = torch.full((3,), 3.0), torch.full((4,), 4.0)
    norm = mpu.clip_grad_norm(params, max_norm=1.0)
    assert norm == pytest.approx((27 + 64) ** 0.5)
    total = torch.cat([p.grad for p in params]).norm()
    assert total == pytest.approx(1.0, rel=1e-5)
