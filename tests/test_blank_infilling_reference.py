"""Blank infilling against GLM's own outputs (`fixtures/reference/{gpt2,bert}/blocks/`).

`fixed.json`: for every recorded batch, the spans and their Part-B order are read back from the
recording, laid out by `lay_out_blocks` with the mask token this config assigns to the batch's
mode, and must give exactly the recorded tokens, targets, loss mask, positions and sep (padding
included). The random draws differ from GLM's, so the spans are also checked against the rules
that choose them.

`stats.json`: GLM's statistics over 2000 one-sample calls on `single_doc` per mode (fraction
masked, mean span length, mean number of spans) are matched within 3% (relative). Our side uses
2000 calls in gpt mode and 20,000 samples in the others, so that the comparison's noise is the
reference's own: its 2000-sample estimates are themselves up to 2% off; e.g. its sentence-mode
span length 12.956 is 1.8% above the exact expectation, 12.727, that enumerating all orders of
the sample's 8 sentences gives (our estimate is unbiased: 12.72-12.74 over 4 x 100,000 samples).
"""

import dataclasses
import json

import numpy as np
import pytest
import torch
from test_blank_infilling_util import decode_row, document_regions, spans_of

from data_utils.blank_infilling import InfillIds, MaskingConfig, build_glm_batch, draw_mode
from data_utils.blank_infilling.batch import GLMBatch
from data_utils.blank_infilling.layout import lay_out_blocks
from data_utils.blank_infilling.spans import RaggedBatch, sentence_span_table
from data_utils.tokenization import TokenizerConfig, build_tokenizer

VARIANTS = {
    "gpt2": dict(tokenizer_type="GPT2BPETokenizer", task_mask=True),
    "bert": dict(tokenizer_type="BertWordPieceTokenizer", tokenizer_model_type="bert-base-uncased"),
}


@pytest.fixture(scope="module")
def variant_ids(vocab_dir):
    built = {}
    for name, kwargs in VARIANTS.items():
        tok = build_tokenizer(TokenizerConfig(tokenizer_path=str(vocab_dir), **kwargs))
        built[name] = InfillIds.from_tokenizer(tok)
    return built


def _load(reference_dir, variant: str, name: str) -> dict:
    return json.loads((reference_dir / variant / "blocks" / name).read_text())


def _config(variant: str, flags: list[str]) -> MaskingConfig:
    values = {flags[i][2:].replace("-", "_"): float(flags[i + 1]) for i in range(0, len(flags), 2)}
    return MaskingConfig(task_mask=VARIANTS[variant].get("task_mask", False), **values)


def _samples(fixed: dict, names: list[str]) -> list[tuple[np.ndarray, np.ndarray]]:
    return [
        (np.array(fixed["samples"][n]["text"]), np.array(fixed["samples"][n]["loss_mask"]))
        for n in names
    ]


def _recorded(batch: dict) -> dict:
    return {k: np.array(batch[k]) for k in ("text", "target", "loss_mask", "position_id")}


def _read_back(recorded, samples, ids: InfillIds):
    """Span table (Part-B order) and suffix flags of a recorded batch."""
    rows, suffix = [], []
    for i in range(len(samples)):
        row = decode_row(recorded, i, {ids.sop}, ids.eop)
        for block, (s, e) in zip(row.blocks, spans_of(row), strict=True):
            rows.append((i, s, e))
            suffix.append(block.suffix)
    return np.array(rows, dtype=np.int64).reshape(-1, 3), np.array(suffix, dtype=bool)


def _check_span_rules(mode, table, suffix, samples, ids, config):
    """The recorded spans are ones this implementation's rules could have chosen."""
    batch = RaggedBatch.from_samples(samples)
    if mode == "sentence":
        sentences = sentence_span_table(
            batch, ids.sentence_end, 1.0, ids.eos, ids.cls, np.random.default_rng(0)
        )
        assert {tuple(r) for r in table} <= {tuple(r) for r in sentences}
        return
    for i, (tokens, _) in enumerate(samples):
        spans = table[table[:, 0] == i, 1:]
        inside = [
            any(a <= s and e <= b for a, b in document_regions(tokens, ids.eos, ids.cls))
            for s, e in spans
        ]
        assert all(inside) or mode == "gpt", "span leaves its document"
    if mode == "gpt":
        lengths = table[:, 2] - table[:, 1]
        n = batch.lengths
        assert (lengths == np.minimum(lengths.max(), n - 2)).all(), "gpt span length not shared"
        multi = [bool((t[:-1] == ids.eos).any()) for t, _ in samples]
        assert all(suffix[multi]), "multi-document samples must use the suffix case"


def _as_batch(recorded: dict, sep: list[int]) -> GLMBatch:
    return GLMBatch(
        tokens=torch.tensor(recorded["text"]),
        targets=torch.tensor(recorded["target"]),
        loss_mask=torch.tensor(recorded["loss_mask"], dtype=torch.float32),
        position_ids=torch.tensor(recorded["position_id"]),
        sep=torch.tensor(sep),
        mode="",
    )


@pytest.mark.parametrize("variant", VARIANTS)
def test_fixed_examples_have_the_recorded_layout(variant, variant_ids, reference_dir):
    ids = variant_ids[variant]
    fixed = _load(reference_dir, variant, "fixed.json")
    checked = 0
    for entry in fixed["modes"].values():
        config = _config(variant, entry["reference_cli_flags"])
        for output in entry["outputs"]:
            samples = _samples(fixed, output["samples"])
            recorded = _recorded(output["batch"])
            mode, sep = output["batch"]["mode"], output["batch"]["attention_mask"]
            table, suffix = _read_back(_as_batch(recorded, sep), samples, ids)
            _check_span_rules(mode, table, suffix, samples, ids, config)
            mask = ids.task_mask_id(mode, config)
            out = lay_out_blocks(
                RaggedBatch.from_samples(samples),
                table,
                np.full(len(table), mask),
                np.full(len(table), ids.sop),
                ids.eop,
                suffix=suffix,
            )
            np.testing.assert_array_equal(out.sep, sep)
            np.testing.assert_array_equal(out.tokens, recorded["text"])
            np.testing.assert_array_equal(out.targets, recorded["target"])
            np.testing.assert_array_equal(out.loss_mask, recorded["loss_mask"])
            np.testing.assert_array_equal(out.position_ids, recorded["position_id"])
            checked += 1
    assert checked == 44


def _statistics(batches, ids: InfillIds, sample_length: int) -> dict:
    """stats.json's definitions: a span is a sop-delimited block, its length excludes [eop]."""
    spans, masked, modes = [], [], {}
    for batch in batches:
        modes[batch.mode] = modes.get(batch.mode, 0) + len(batch.sep)
        part_b = torch.arange(batch.tokens.shape[1]) >= batch.sep[:, None]
        spans.append(((batch.tokens == ids.sop) & part_b).sum(1))
        masked.append(((batch.loss_mask == 1) & (batch.targets != ids.eop)).sum(1))
    spans, masked = torch.cat(spans).double(), torch.cat(masked).double()
    return {
        "mean_fraction_masked": float(masked.mean()) / sample_length,
        "mean_span_length": float(masked.sum() / spans.sum()),
        "mean_num_spans": float(spans.mean()),
        "modes": modes,
    }


def _reference_calls(config, ids, sample, mode):
    """Batches standing for GLM's one-sample calls (see the module docstring for the counts).

    The objective and the gpt span length are drawn per batch; given them, samples are
    independent. So each objective's samples share one batch, except gpt's, which come in
    batches of one (pure gpt mode) or of 8 (within the mixture).
    """
    calls = 2000 if mode == "gpt" else 20_000
    objectives = [draw_mode(config, np.random.default_rng(s))[0] for s in range(calls)]
    batches = []
    for objective, (bert, sentence) in OBJECTIVES.items():
        count = objectives.count(objective)
        forced = dataclasses.replace(config, bert_prob=bert, gap_sentence_prob=sentence)
        per_batch = count if objective != "gpt" else (1 if mode == "gpt" else 8)
        for k in range(0, count, max(per_batch, 1)):
            rng = np.random.default_rng([len(OBJECTIVES), len(batches)])
            size = min(per_batch, count - k)
            batches.append(build_glm_batch([sample] * size, forced, ids, rng))
    return batches, calls


OBJECTIVES = {"bert": (1.0, 0.0), "sentence": (0.0, 1.0), "gpt": (0.0, 0.0)}


@pytest.mark.parametrize("mode", ["bert", "sentence", "gpt", "mixed_10b"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_statistics_match_reference(variant, mode, variant_ids, reference_dir):
    ids = variant_ids[variant]
    ref = _load(reference_dir, variant, "stats.json")["modes"][mode]
    fixed = _load(reference_dir, variant, "fixed.json")
    config = _config(variant, ref["reference_cli_flags"])
    sample = _samples(fixed, [ref["sample"]])[0]
    batches, calls = _reference_calls(config, ids, sample, mode)
    got = _statistics(batches, ids, ref["sample_length"])
    assert sum(got["modes"].values()) == calls
    for key in ("mean_fraction_masked", "mean_span_length", "mean_num_spans"):
        assert got[key] == pytest.approx(ref[key], rel=0.03), key
    for name, count in ref["mode_counts"].items():  # 3 standard deviations of 2000 draws
        assert got["modes"][name] / calls == pytest.approx(count / 2000, abs=0.035), name
