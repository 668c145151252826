"""Blank-infilling variants (--masked-lm, --block-mask-prob, --context-mask-ratio,
--sentinel-token, --short-seq-prob), config validation, and the resumable collator."""

import numpy as np
import pytest
import torch
from test_blank_infilling_util import check_row, decode_row, reconstruct

from data_utils.blank_infilling import BlankInfillingCollator, InfillIds, MaskingConfig
from data_utils.blank_infilling import build_glm_batch as build
from data_utils.tokenization import TokenizerConfig, build_tokenizer
from training.arguments import parse_args

SEEDS = range(30)


def _tokenizer(vocab_dir, **kwargs):
    if kwargs.pop("bert", False):
        base = dict(
            tokenizer_type="BertWordPieceTokenizer", tokenizer_model_type="bert-base-uncased"
        )
    else:
        base = dict(tokenizer_type="GPT2BPETokenizer", task_mask=True)
    return build_tokenizer(TokenizerConfig(tokenizer_path=str(vocab_dir), **base, **kwargs))


@pytest.fixture(scope="module")
def ids(vocab_dir):
    return InfillIds.from_tokenizer(_tokenizer(vocab_dir, block_mask=True))


@pytest.fixture(scope="module")
def samples(vocab_dir, shared_dir, ids):
    tok = _tokenizer(vocab_dir)
    lines = (shared_dir / "corpora" / "tinyshakespeare.txt").read_text().split("\n\n")[:40]
    docs = [np.array(d) for d in tok.encode_batch(lines) if len(d) > 4]
    out = []
    for i in range(8):  # variable lengths, some with two documents
        tokens = np.concatenate(
            [[ids.cls], docs[i], [ids.eos], [ids.cls], docs[i + 10], [ids.eos]][: 3 + 3 * (i % 2)]
        )
        out.append((tokens, np.concatenate(([0], np.ones(len(tokens) - 1, dtype=int)))))
    return out


def test_masked_lm_pads_one_dimensional_positions(ids, samples):
    config = MaskingConfig(bert_prob=1.0, masked_lm=True)
    for seed in SEEDS:
        batch = build(samples, config, ids, np.random.default_rng(seed))
        assert batch.position_ids.shape == batch.tokens.shape
        for i, (tokens, loss_mask) in enumerate(samples):
            n = len(tokens)
            assert batch.sep[i] == n and batch.position_ids[i, :n].tolist() == list(range(n))
            row, target = batch.tokens[i, :n].numpy(), batch.targets[i, :n].numpy()
            np.testing.assert_array_equal(target, tokens)
            masked = row == ids.mask
            np.testing.assert_array_equal(row[~masked], tokens[~masked])
            np.testing.assert_array_equal(batch.loss_mask[i, :n].numpy(), masked * loss_mask)
            assert masked.sum() >= int(0.15 * n) and not batch.loss_mask[i, n:].any()


def test_block_mask_uses_the_batch_rng(ids, samples):
    config = MaskingConfig(bert_prob=1.0, block_mask_prob=0.3, task_mask=True)
    hits = total = 0
    for seed in SEEDS:
        batch = build(samples, config, ids, np.random.default_rng(seed))
        again = build(samples, config, ids, np.random.default_rng(seed))
        assert torch.equal(batch.tokens, again.tokens)
        for i in range(len(samples)):
            row = decode_row(batch, i, {ids.sop}, ids.eop)
            for block in row.blocks:
                assert block.inputs[0] == ids.sop
                hidden = block.inputs[1:] == ids.dblock
                hits += hidden.sum()
                total += len(hidden)
                visible = ~hidden
                np.testing.assert_array_equal(
                    block.inputs[1:][visible], block.targets[:-1][visible]
                )
            assert not (row.tokens[: row.sep] == ids.dblock).any()
    assert hits / total == pytest.approx(0.3, abs=0.05)


def test_context_mask_hides_tokens_next_to_masks(ids, samples):
    config = MaskingConfig(bert_prob=1.0, context_mask_ratio=0.1, task_mask=True)
    for seed in SEEDS:
        batch = build(samples, config, ids, np.random.default_rng(seed))
        for i, (tokens, _) in enumerate(samples):
            row = decode_row(batch, i, {ids.sop}, ids.eop)
            part_a = row.tokens[: row.sep]
            hidden = np.flatnonzero(part_a == ids.dblock)
            masks = np.flatnonzero(part_a == ids.mask)
            count = int(0.1 * len(tokens))
            assert 0 < len(hidden) <= count or count == 0
            assert all(np.abs(masks - h).min() <= 3 for h in hidden)
            original = row.targets[hidden]  # Part-A targets keep the text the input hides
            assert not np.isin(original, [ids.cls, ids.eos, ids.dblock, ids.mask]).any()
            assert not (row.tokens[row.sep :] == ids.dblock).any()


def test_sentinel_tokens_number_the_spans(vocab_dir):
    tok = _tokenizer(vocab_dir, bert=True, sentinel_token=True, max_position_embeddings=128)
    ids = InfillIds.from_tokenizer(tok)
    config = MaskingConfig(bert_prob=1.0, sentinel_token=True, max_seq_length=128)
    tokens = np.array([ids.cls, *range(2000, 2090), ids.eos])
    sample = (tokens, np.ones_like(tokens))
    sops = {ids.sop, *ids.sentinel_sops}
    for seed in SEEDS:
        batch = build([sample], config, ids, np.random.default_rng(seed))
        row = decode_row(batch, 0, sops, ids.eop)
        for k, block in enumerate(row.blocks):
            want_sop = ids.sop if k == 0 else ids.sentinel_sops[k - 1]
            want_mask = ids.mask if k == 0 else ids.sentinel_masks[k - 1]
            assert block.inputs[0] == want_sop and (block.positions == 128).all()
            assert want_mask in row.tokens[: row.sep]
        assert len(row.blocks) >= 2


def test_short_seq_keeps_the_batch_size(ids, samples):
    config = MaskingConfig(bert_prob=1.0, short_seq_prob=1.0, max_seq_length=64, task_mask=True)
    for seed in SEEDS:
        batch = build(samples, config, ids, np.random.default_rng(seed))
        assert batch.tokens.shape[0] == len(samples)
        for i, (tokens, _) in enumerate(samples):
            row = decode_row(batch, i, {ids.sop}, ids.eop)
            assert row.tokens[0] == ids.cls and row.sep <= 63
            window = reconstruct(row)[1:].tolist()  # a contiguous piece of the sample
            assert len(window) <= 62
            text = tokens[1:].tolist()
            assert any(text[j : j + len(window)] == window for j in range(len(text)))


def test_no_block_position_in_gpt_mode(ids, samples):
    config = MaskingConfig(bert_prob=0.0, block_position_encoding=False, task_mask=True)
    for seed in SEEDS:
        batch = build(samples, config, ids, np.random.default_rng(seed))
        for i, (tokens, _) in enumerate(samples):
            row = decode_row(batch, i, {ids.sop}, ids.eop)
            check_row(row, tokens, {ids.gmask}, ids.eop, block_positions=False)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--bert-prob=0.7", "--gap-sentence-prob=0.5"], "--bert-prob + --gap-sentence-prob"),
        (["--encoder-decoder"], "--encoder-decoder is not supported"),
        (["--bert-prob=1.5"], "--bert-prob must be in"),
        (["--masked-lm"], "--masked-lm"),
        (["--avg-block-length=0"], "--avg-block-length"),
        (["--short-seq-prob=0.1", "--seq-length=20"], "--short-seq-prob needs --seq-length"),
    ],
)
def test_bad_config_names_the_flag(capsys, flags, message):
    with pytest.raises(SystemExit):
        parse_args(flags)
    assert message in capsys.readouterr().err


def test_tokenizer_must_have_the_tokens_the_config_needs(vocab_dir):
    plain = InfillIds.from_tokenizer(_tokenizer(vocab_dir, bert=True))
    with pytest.raises(ValueError, match="--task-mask"):
        BlankInfillingCollator(MaskingConfig(task_mask=True), plain, seed=1)
    with pytest.raises(ValueError, match="dBLOCK"):
        BlankInfillingCollator(MaskingConfig(block_mask_prob=0.1), plain, seed=1)


def _loader(dataset, collator, workers):
    return torch.utils.data.DataLoader(
        dataset, batch_size=4, num_workers=workers, collate_fn=collator, shuffle=False
    )


def test_collator_resumes_and_ignores_worker_count(ids, samples):
    config = MaskingConfig(bert_prob=0.5, gap_sentence_prob=0.3, task_mask=True)
    data = samples * 4  # 8 batches of 4
    reference = list(_loader(data, BlankInfillingCollator(config, ids, seed=5), 0))
    with_workers = list(_loader(data, BlankInfillingCollator(config, ids, seed=5), 2))
    resumed_collator = BlankInfillingCollator(config, ids, seed=5)
    resumed_collator.set_state(3)
    resumed = list(_loader(data[12:], resumed_collator, 0))
    other_rank = list(_loader(data, BlankInfillingCollator(config, ids, seed=5, dp_rank=1), 0))
    for a, b in zip(reference, with_workers, strict=True):
        assert torch.equal(a.tokens, b.tokens) and a.mode == b.mode
    for a, b in zip(reference[3:], resumed, strict=True):
        assert torch.equal(a.tokens, b.tokens) and torch.equal(a.position_ids, b.position_ids)
    assert any(
        not torch.equal(a.tokens, b.tokens) for a, b in zip(reference, other_rank, strict=True)
    )
