"""Fill the blanks of texts with a GLM: interactively, or a file of texts in batches.

    python generate_samples.py <model flags> --load-pretrained CKPT [--top-k 1 | --temperature T]
    python generate_samples.py ... --input-file texts.txt --output-file fills.jsonl
    torchrun --nproc-per-node 2 generate_samples.py ... --model-parallel-size 2

Mark blanks with [MASK] (short), [sMASK] (sentence) or [gMASK] (long generation); a text with
none gets a [gMASK] at the end. Blanks are filled left to right, each seeing the earlier fills.

Interactive mode (stdin is a terminal): type a text at the prompt; `stop` or Ctrl-D quits, a text
that cannot be filled prints an error and the session goes on. Batch mode (--input-file, or stdin
from a pipe): one text per line in, one JSON line out per text (--output-file, default stdout):
{"context", "fills", "fill_ids", "text"} where text is the context with each blank replaced by
its fill, or {"context", "error"} for a text that cannot be filled. Decoding is greedy with
--top-k 1, beam search with --num-beams > 1, else sampling seeded by --seed.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from typing import TextIO

import torch
import torch.distributed as dist
from tqdm import tqdm

import mpu
from checkpoint_io.inference import inference_dtype, load_inference_model
from common.errors import exit_on_bad_input
from data_utils.tokenization import GLMTokenizer, build_tokenizer
from model import GLMModel
from model.blank_filling import FillResult, fill_blanks, fill_blanks_batch, prepare_blank_input
from model.generation import GenerationConfig
from training.arguments import GLMArgs, parse_args

PROMPT = "Context prompt (stop to exit) >>> "


def setup_device(args: GLMArgs) -> torch.device:
    """The process group and tensor-parallel groups; generation runs one model over all
    launched processes, so their number must equal --model-parallel-size."""
    parallel = args.parallel
    world = int(os.environ.get("WORLD_SIZE", 1))
    if world != parallel.model_parallel_size:
        raise ValueError(
            f"generation runs one model over all processes: launch exactly "
            f"--model-parallel-size {parallel.model_parallel_size} processes, not {world}"
        )
    return mpu.initialize_distributed(
        parallel.model_parallel_size, parallel.distributed_backend, parallel.local_rank
    )


def load_model(args: GLMArgs, vocab_size: int, device: torch.device) -> GLMModel:
    """The model with this rank's shard of the checkpoint, built on the meta device and filled
    one group of tensors at a time in the decoding dtype: the weights are held once, in that
    dtype (never in fp32 first), and only this rank's shard is read."""
    ckpt = args.checkpoint
    path = ckpt.load or ckpt.load_pretrained
    if path is None:
        raise ValueError("no weights to fill blanks with: give --load-pretrained (or --load) CKPT")
    config = args.model_config(vocab_size, parallel_output=False)
    dtype = inference_dtype(args.optim.fp16, args.optim.bf16, device)
    verify = not ckpt.no_verify_checkpoint
    return load_inference_model(config, path, device, dtype, decoding=True, verify=verify)


def share(value: object) -> object:
    """Rank 0's ``value`` on every rank of the tensor-parallel group."""
    if not dist.is_initialized():
        return value
    box = [value]
    dist.broadcast_object_list(
        box, src=mpu.get_model_parallel_src_rank(), group=mpu.get_model_parallel_group()
    )
    return box[0]


def read_prompt() -> str | None:
    """The next text typed on rank 0 (None: the user quit), the same on every rank."""
    text = None
    if mpu.is_rank_0():
        try:
            text = input(PROMPT)
        except (EOFError, KeyboardInterrupt):
            print()
        if text is not None and text.strip() == "stop":
            text = None
    return share(text)


def show(result: FillResult, seconds: float) -> None:
    print(f"\nTaken time {seconds:.2f} s")
    print(f"Context: {result.context}")
    print(f"GLM: {result.output_text}")
    print(f"Filled: {result.text}\n", flush=True)


def run_interactive(
    model: GLMModel, tokenizer: GLMTokenizer, config: GenerationConfig, gen: torch.Generator
) -> None:
    while (text := read_prompt()) is not None:
        start = time.perf_counter()
        try:
            result = fill_blanks(model, tokenizer, text, config, gen)
        except ValueError as error:
            if mpu.is_rank_0():
                print(f"Error: {error}", flush=True)
            continue
        if mpu.is_rank_0():
            show(result, time.perf_counter() - start)


def fill_lines(
    model: GLMModel,
    tokenizer: GLMTokenizer,
    config: GenerationConfig,
    gen: torch.Generator,
    lines: list[str],
) -> list[dict]:
    """One record per line: the fills, or the reason the line cannot be filled."""
    records: list[dict | None] = [None] * len(lines)
    ready = []
    for i, line in enumerate(lines):
        try:
            ready.append(
                (i, prepare_blank_input(tokenizer, line, config, model.config.max_sequence_length))
            )
        except ValueError as error:
            records[i] = {"context": line, "error": str(error)}
    if ready:
        results = fill_blanks_batch(model, tokenizer, [b for _, b in ready], config, gen)
        for (i, _), result in zip(ready, results, strict=True):
            records[i] = result.to_record()
    return records


def run_batch(
    model: GLMModel,
    tokenizer: GLMTokenizer,
    config: GenerationConfig,
    gen: torch.Generator,
    lines: list[str],
    out: TextIO | None,
    batch_size: int,
) -> None:
    progress = tqdm(total=len(lines), desc="filling", unit="text", disable=out is None)
    for start in range(0, len(lines), batch_size):
        chunk = lines[start : start + batch_size]
        for record in fill_lines(model, tokenizer, config, gen, chunk):
            if out is not None:
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
        if out is not None:
            out.flush()
        progress.update(len(chunk))
    progress.close()


def read_lines(path: str | None) -> list[str]:
    if path is None:
        return sys.stdin.read().splitlines()
    with open(path, encoding="utf-8") as f:
        return f.read().splitlines()


def open_output(path: str | None) -> TextIO | None:
    """Rank 0 writes (to ``path`` or stdout); the other ranks only compute."""
    if not mpu.is_rank_0():
        return None
    return sys.stdout if path is None else open(path, "w", encoding="utf-8")  # noqa: SIM115


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = parse_args(argv, description="GLM blank filling")
    with exit_on_bad_input("generate_samples.py"):
        device = setup_device(args)
        tokenizer = build_tokenizer(args.tokenizer_config())
        model = load_model(args, tokenizer.vocab_size, device)
        config = args.generation_config()
    gen = config.make_generator(device)
    interactive = share(args.generation.input_file is None and sys.stdin.isatty())
    if interactive:
        run_interactive(model, tokenizer, config, gen)
        return
    lines = share(read_lines(args.generation.input_file) if mpu.is_rank_0() else None)
    out = open_output(args.generation.output_file)
    try:
        run_batch(model, tokenizer, config, gen, lines, out, args.train.batch_size)
    finally:
        if out not in (None, sys.stdout):
            out.close()


if __name__ == "__main__":
    main()
