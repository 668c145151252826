"""``GLMEvalModel``: lm-eval's three request types answered the way GLM scores text.

- ``loglikelihood(context, continuation)``: the continuation is the Part-B span after the
  blank, exactly GLM's zero-shot LAMBADA scoring (``tasks/language_model``):
  ``[CLS] context [gMASK] [eos] | [sop] continuation[:-1]`` scores every continuation token
  (``[MASK]`` for tokenizers without task masks). ``unidirectional`` puts only the first
  context token in Part A and the rest of the context in Part B, unscored (GLM's
  ``--unidirectional``). ``is_greedy``: every continuation token is the argmax. Contexts that
  do not fit ``seq_length`` lose their oldest tokens.
- ``loglikelihood_rolling(text)``: GLM's LM evaluation windows over the encoded text
  (``seq_length - 1`` tokens each, advancing by ``overlapping_eval``), every token scored once
  except the first, which only ever serves as context (GLM's convention: the per-token loss
  equals the ``wikitext`` / ``language_model`` task's ``avg loss``).
- ``generate_until(context, kwargs)``: greedy blank filling of ``context + " [gMASK]"``
  (``model/blank_filling.py``, what ``generate_samples.py --top-k 1`` gives), at most
  ``max_gen_toks`` tokens, cut at the first ``until`` string. Long contexts lose their oldest
  tokens (after ``[CLS]``) so that the generation fits ``max_position_embeddings``.

Requests are split over data-parallel ranks and every rank returns all answers; the ranks of
a tensor-parallel group compute together. So lm-eval sees one process (``rank`` 0,
``world_size`` 1) on every rank, and only global rank 0 reports.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch.distributed as dist
from lm_eval.api.model import LM

from model import GLMModel
from model.blank_filling import blank_input_from_ids, fill_blanks_batch
from model.generation import GenerationConfig
from mpu import get_data_parallel_group, get_data_parallel_rank, get_data_parallel_world_size
from tasks.language_model.datasets import LambadaDataset, LambadaExample, LMTokens, LMWindowDataset
from tasks.language_model.scoring import score_dataset


@dataclass(frozen=True)
class LMEvalConfig:
    batch_size: int  # requests per forward pass
    seq_length: int  # tokens per scored sample (GLM's --seq-length)
    task_mask: bool  # [gMASK] (True) or [MASK] as the blank
    unidirectional: bool = False  # GLM's --unidirectional scoring
    overlapping_eval: int = 32  # window stride of loglikelihood_rolling
    max_gen_toks: int = 256  # generate_until's default length


def _shared(compute: Callable[[list[int]], list], count: int) -> list:
    """``compute(indices)`` for this data-parallel rank's share (round robin), gathered so
    every rank holds all ``count`` results in order."""
    world = get_data_parallel_world_size()
    mine = list(range(get_data_parallel_rank(), count, world))
    results = dict(zip(mine, compute(mine), strict=True))
    if world > 1:
        shards: list = [None] * world
        dist.all_gather_object(shards, results, group=get_data_parallel_group())
        results = {k: v for shard in shards for k, v in shard.items()}
    return [results[i] for i in range(count)]


class GLMEvalModel(LM):
    def __init__(self, model: GLMModel, tokenizer, config: LMEvalConfig):
        super().__init__()
        self.model, self.tokenizer, self.config = model.eval(), tokenizer, config
        self.tokens = LMTokens.from_tokenizer(tokenizer, config.task_mask)

    def loglikelihood(self, requests) -> list[tuple[float, bool]]:
        examples = []
        for request in requests:
            context, continuation = request.args
            answer = tuple(self.tokenizer.encode(continuation))
            if not answer or len(answer) > self.config.seq_length - 4:
                raise ValueError(
                    f"a continuation must encode to 1..{self.config.seq_length - 4} tokens "
                    f"(seq_length {self.config.seq_length}), got {len(answer)}: {continuation!r}"
                )
            examples.append(LambadaExample(tuple(self.tokenizer.encode(context)), answer))
        unidirectional = self.config.unidirectional and all(e.context for e in examples)
        dataset = LambadaDataset(examples, self.tokens, self.config.seq_length, unidirectional)
        scores = score_dataset(self.model, dataset, self.config.batch_size, self.tokens.eos)
        return [(s.logprob_sum, s.all_argmax) for s in scores]

    def loglikelihood_rolling(self, requests) -> list[float]:
        documents = [self.tokenizer.encode(request.args[0]) for request in requests]
        words = [len(request.args[0].split()) for request in requests]
        c = self.config
        dataset = LMWindowDataset(
            documents, words, self.tokens, c.seq_length, c.overlapping_eval, c.unidirectional
        )
        totals = [0.0] * len(documents)
        for index, score in enumerate(
            score_dataset(self.model, dataset, c.batch_size, self.tokens.eos)
        ):
            totals[dataset.windows[index].document] += score.logprob_sum
        return totals

    def _context_ids(self, context: str, room: int) -> list[int]:
        """``[CLS] context [gMASK]`` (``[MASK] [eos]`` without task masks), as blank filling
        encodes a text without blanks; the oldest context tokens go beyond ``room``."""
        t = self.tokenizer
        if t.gmask_id is not None:
            body, tail = t.encode(context + " [gMASK]"), []
        else:
            body, tail = t.encode(context + " [MASK]"), [t.eos_id]
        keep = max(room - 1 - len(tail), 1)
        return [t.cls_id, *body[-keep:], *tail]

    def _generate(self, contexts: Sequence[str], kwargs: dict) -> list[str]:
        length = int(kwargs.get("max_gen_toks", self.config.max_gen_toks))
        config = GenerationConfig(out_seq_length=length, top_k=1)
        room = self.model.config.max_sequence_length - length
        inputs = [
            blank_input_from_ids(self.tokenizer, self._context_ids(c, room)) for c in contexts
        ]
        until = kwargs.get("until") or []
        until = [until] if isinstance(until, str) else list(until)
        outputs = []
        for start in range(0, len(inputs), self.config.batch_size):
            chunk = inputs[start : start + self.config.batch_size]
            for result in fill_blanks_batch(self.model, self.tokenizer, chunk, config):
                text = result.fills[-1]
                for stop in until:
                    text = text.split(stop, 1)[0]
                outputs.append(text)
        return outputs

    def generate_until(self, requests) -> list[str]:
        groups: dict[str, list[int]] = defaultdict(list)
        for i, request in enumerate(requests):
            groups[repr(sorted(request.args[1].items()))].append(i)
        answers: list[str] = [""] * len(requests)
        for members in groups.values():
            kwargs = requests[members[0]].args[1]
            contexts = [requests[i].args[0] for i in members]

            def compute(indices: list[int], contexts=contexts, kwargs=kwargs) -> list[str]:
                return self._generate([contexts[i] for i in indices], kwargs)

            for i, text in zip(members, _shared(compute, len(members)), strict=True):
                answers[i] = text
        return answers
