"""Decoding seq2seq and blank-infilling outputs with the model's generation functions.

Seq2seq: each source (Part A) is encoded once, then its target is generated as one span by
beam search (deterministic top-2k candidates, minimum length, no-repeat n-grams, length
penalty; ``[eop]`` ends a hypothesis). Blank infilling: greedy, the blanks of a source filled
left to right, each seeing the earlier fills. Examples are split over data-parallel ranks and
every rank gets all outputs back in dataset order; tensor-parallel ranks decode together (the
generation code gathers the vocabulary-sharded logits), so all ranks agree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import torch
import torch.distributed as dist

from model.beam_search import beam_search_hypotheses
from model.blank_filling import fill_blank_ids
from model.generation import GenerationConfig, SpanOutput, model_device, prefill
from mpu import get_data_parallel_group, get_data_parallel_rank, get_data_parallel_world_size
from tasks.seq2seq.inputs import Seq2SeqDataset


def blank_generation(config: GenerationConfig) -> GenerationConfig:
    """GLM fills blanks greedily, with no other decoding constraint."""
    return replace(
        config,
        temperature=1.0,
        top_k=1,
        top_p=0.0,
        num_beams=1,
        length_penalty=0.0,
        no_repeat_ngram_size=0,
        min_tgt_length=0,
    )


def span_hypotheses(
    model: torch.nn.Module, dataset: Seq2SeqDataset, indices: list[int], config: GenerationConfig
) -> list[list[SpanOutput]]:
    """Every finished beam hypothesis (tokens without ``[eop]``, length-normalised score) of
    one batch of single-span examples, best first."""
    t = dataset.tokens
    device = model_device(model)
    contexts = [dataset.context(i) for i in indices]
    cache = model.make_kv_cache(len(contexts), max(map(len, contexts)) + config.out_seq_length)
    starts = torch.full((len(indices),), t.sop, dtype=torch.long, device=device)
    masks = torch.tensor([dataset.examples[i].mask_positions[0] for i in indices], device=device)
    prefill(model, cache, contexts, t.pad)
    return beam_search_hypotheses(model, cache, starts, masks, config, (t.eop,), t.pad)


def decode_spans(
    model: torch.nn.Module, dataset: Seq2SeqDataset, indices: list[int], config: GenerationConfig
) -> list[list[int]]:
    """The generated target tokens (no ``[eop]``) of one batch of single-span examples."""
    ranked = span_hypotheses(model, dataset, indices, config)
    return [hyps[0].ids if hyps else [] for hyps in ranked]


def decode_blanks(
    model: torch.nn.Module, dataset: Seq2SeqDataset, indices: list[int], config: GenerationConfig
) -> list[list[int]]:
    """The source of each example with every mask replaced by its greedy fill."""
    t = dataset.tokens
    fills = fill_blank_ids(
        model,
        [dataset.context(i) for i in indices],
        [ex_masks(dataset, i) for i in indices],
        config,
        sop_id=t.sop,
        stop_ids=(t.eop,),
        pad_id=t.pad,
    )
    outputs = []
    for i, spans in zip(indices, fills, strict=True):
        ids = list(dataset.examples[i].source)
        for position, span in reversed(list(zip(ex_masks(dataset, i), spans, strict=True))):
            ids[position : position + 1] = span.ids
        outputs.append([x for x in ids if x not in (t.cls, t.eos, t.pad)])
    return outputs


def ex_masks(dataset: Seq2SeqDataset, index: int) -> tuple[int, ...]:
    return dataset.examples[index].mask_positions


# (model, dataset, batch indices, config) -> one output per index (token ids, or hypotheses)
Decoder = Callable[[torch.nn.Module, Seq2SeqDataset, list[int], GenerationConfig], list]


def decode_dataset(
    model: torch.nn.Module,
    dataset: Seq2SeqDataset,
    config: GenerationConfig,
    batch_size: int,
    decoder: Decoder = decode_spans,
    progress: Callable[[int], None] | None = None,
) -> list:
    """Decode every example (this rank's share of the batches), gathered in dataset order."""
    starts = range(0, len(dataset), batch_size)
    mine = starts[get_data_parallel_rank() :: get_data_parallel_world_size()]
    results: dict[int, object] = {}
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for start in mine:
            indices = list(range(start, min(start + batch_size, len(dataset))))
            results.update(zip(indices, decoder(model, dataset, indices, config), strict=True))
            if progress is not None:
                progress(len(indices))
    model.train(was_training)
    if get_data_parallel_world_size() > 1:
        shards: list = [None] * get_data_parallel_world_size()
        dist.all_gather_object(shards, results, group=get_data_parallel_group())
        results = {k: v for shard in shards for k, v in shard.items()}
    return [results[i] for i in range(len(dataset))]
