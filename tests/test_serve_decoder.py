"""Continuous batching (serving/decoder.py, serving/slots.py) against model.blank_filling.

Requests that join a running batch at any step, and leave it when done or cancelled, must get
the fills they get alone: greedy and beam search equal ``fill_blanks_batch``, a seeded sampled
request draws what ``fill_blanks`` draws for it alone, per-request processors hold.
"""

import asyncio

import pytest
import torch

from model.blank_filling import fill_blanks, fill_blanks_batch, prepare_blank_input
from model.generation import GenerationConfig
from serving.config import ServeConfig
from serving.decoder import Admission, BatchDecoder, FinishEvent, SpanEvent, SpecialIds
from serving.engine import Engine, Plan, QueueFull, execute
from tests.reference import generation_cases
from tests.test_generation import tiny_model, tokenizer_for

GREEDY = GenerationConfig(out_seq_length=24, top_k=1)
EXTRA = ["A [MASK] B [MASK] C [sMASK] D", "Hello world, [MASK] is here."]


pytestmark = pytest.mark.usefixtures("one_thread")


def setup(reference_dir, vocab_dir, variant="gpt2"):
    tokenizer = tokenizer_for(vocab_dir, variant)
    texts = [c["input_text"] for c in generation_cases(reference_dir, variant)] + EXTRA
    ids = SpecialIds(tokenizer.sop_id, tokenizer.eop_id, tokenizer.eos_id, tokenizer.pad_id)
    return tiny_model(reference_dir, variant), tokenizer, texts, ids


def decode(decoder, admissions, joins_per_step):
    """Run until every admission finished; ``joins_per_step(step)`` new ones may join."""
    pending, fills, step = list(admissions), {}, 0
    with torch.inference_mode():
        while pending or decoder.rows:
            take = min(decoder.free_rows, joins_per_step(step), len(pending))
            events = execute(decoder, Plan(admit=tuple(pending[:take])))
            pending = pending[take:]
            fills.update({e.job_id: [s.ids for s in e.spans] for e in events
                          if isinstance(e, FinishEvent)})  # fmt: skip
            step += 1
    return [fills[a.job_id] for a in admissions]


@pytest.mark.parametrize("variant", ["gpt2", "bert"])
@pytest.mark.parametrize(
    "rows, joins", [(16, lambda s: 99), (3, lambda s: 1 if s % 3 == 0 else 0), (2, lambda s: 2)]
)
def test_joining_and_leaving_gives_the_batch_fills(reference_dir, vocab_dir, variant, rows, joins):
    model, tokenizer, texts, ids = setup(reference_dir, vocab_dir, variant)
    expected = [r.fill_ids for r in fill_blanks_batch(model, tokenizer, texts, GREEDY)]
    blanks = [prepare_blank_input(tokenizer, t, GREEDY, 256) for t in texts]
    admissions = [Admission(i, b, GREEDY) for i, b in enumerate(blanks)]
    decoder = BatchDecoder(model, ids, rows)
    assert decode(decoder, admissions, joins) == expected
    assert not decoder.rows and decoder.cache.capacity >= 64


def test_settings_are_per_request(reference_dir, vocab_dir):
    """Sampled (seeded), beam, min-length / no-repeat and greedy requests in one batch each get
    what they get alone."""
    model, tokenizer, texts, ids = setup(reference_dir, vocab_dir)
    configs = [
        GenerationConfig(out_seq_length=12, temperature=0.8, top_k=40, top_p=0.9, seed=5),
        GenerationConfig(out_seq_length=10, num_beams=3, length_penalty=1.0),
        GenerationConfig(out_seq_length=16, top_k=1, min_tgt_length=8, no_repeat_ngram_size=2),
        GREEDY,
        GenerationConfig(out_seq_length=12, temperature=1.2, top_k=0, seed=9),
    ]
    cases = [(t, c) for t in texts[:4] for c in configs]
    alone = [fill_blanks(model, tokenizer, t, c).fill_ids for t, c in cases]
    admissions = [
        Admission(i, prepare_blank_input(tokenizer, t, c, 256), c) for i, (t, c) in enumerate(cases)
    ]
    decoder = BatchDecoder(model, ids, 6)
    assert decode(decoder, admissions, lambda s: 2) == alone


def test_a_dropped_request_frees_its_row_and_the_others_go_on(reference_dir, vocab_dir):
    model, tokenizer, texts, ids = setup(reference_dir, vocab_dir)
    expected = [r.fill_ids for r in fill_blanks_batch(model, tokenizer, texts[:3], GREEDY)]
    admissions = [
        Admission(i, prepare_blank_input(tokenizer, t, GREEDY, 256), GREEDY)
        for i, t in enumerate(texts[:3])
    ]
    decoder = BatchDecoder(model, ids, 3)
    with torch.inference_mode():
        events = execute(decoder, Plan(admit=tuple(admissions)))
        events += execute(decoder, Plan(drop=(1,)))
        assert [row.job_id for row in decoder.rows] == [0, 2]
        while decoder.rows:
            events += execute(decoder, Plan())
    done = {e.job_id: [s.ids for s in e.spans] for e in events if isinstance(e, FinishEvent)}
    assert done == {0: expected[0], 2: expected[2]}
    assert all(e.job_id != 1 for e in events if isinstance(e, SpanEvent))


def test_the_queue_is_bounded(reference_dir, vocab_dir):
    model, tokenizer, texts, ids = setup(reference_dir, vocab_dir)
    blank = prepare_blank_input(tokenizer, texts[0], GREEDY, 256)
    engine = Engine(BatchDecoder(model, ids, 2), ServeConfig(max_batch_size=2, max_queue=3))

    async def submit_six() -> int:
        accepted = 0
        for _ in range(6):
            try:
                engine.submit(engine.new_job(blank, GREEDY, stream=False))
                accepted += 1
            except QueueFull as full:
                assert full.retry_after >= 1
        return accepted

    assert asyncio.run(submit_six()) == 5  # 2 rows + 3 waiting, the loop not started
    assert engine.queued == 5


@pytest.mark.parametrize("batching", ["continuous", "window"])
def test_when_a_waiting_request_joins(reference_dir, vocab_dir, batching):
    """Continuous: at the next step. Window: once the running batch has drained (the first
    request fills 24 tokens, 4 of them are out when the second arrives)."""
    model, tokenizer, texts, ids = setup(reference_dir, vocab_dir)
    blank = prepare_blank_input(tokenizer, texts[0], GREEDY, 256)
    config = ServeConfig(max_batch_size=4, batching=batching, batch_window_ms=1)
    engine = Engine(BatchDecoder(model, ids, 4), config)

    def iterate() -> Plan:
        plan = engine._plan()
        execute(engine.decoder, plan)
        return plan

    async def steps_until_the_second_joins() -> int:
        engine.submit(engine.new_job(blank, GREEDY, stream=False))
        with torch.inference_mode():
            assert len(iterate().admit) == 1
            for _ in range(3):
                iterate()
            engine.submit(engine.new_job(blank, GREEDY, stream=False))
            return next(step for step in range(1, 100) if iterate().admit)

    steps = asyncio.run(steps_until_the_second_joins())
    assert steps == (1 if batching == "continuous" else 21)
