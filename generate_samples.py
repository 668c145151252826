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

import io
import json
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, TextIO

import torch
from tqdm import tqdm

import mpu
from checkpoint_io.inference import inference_dtype, load_inference_model
from common.atomic import atomic_write
from common.errors import exit_on_bad_input, reporting_write_errors
from common.memory import use_huge_pages
from common.paths import check_not_an_input, check_output_file
from data_utils.tokenization import GLMTokenizer, build_tokenizer
from model import GLMModel
from model.blank_filling import FillResult, fill_blanks, fill_blanks_batch, prepare_blank_input
from model.generation import GenerationConfig
from training.arguments import GLMArgs, parse_args

PROMPT = "Context prompt (stop to exit) >>> "


def setup_device(args: GLMArgs) -> torch.device:
    parallel = args.parallel
    return mpu.initialize_one_model(
        parallel.model_parallel_size, parallel.distributed_backend, parallel.local_rank,
        "generation",
    )  # fmt: skip


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
    return mpu.broadcast_object(text)


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
    # closed on errors too, so its last state comes before the error line, not after it
    with tqdm(total=len(lines), desc="filling", unit="text", disable=out is None) as progress:
        for start in range(0, len(lines), batch_size):
            chunk = lines[start : start + batch_size]
            for record in fill_lines(model, tokenizer, config, gen, chunk):
                if out is not None:
                    out.write(json.dumps(record, ensure_ascii=False) + "\n")
            if out is not None:
                out.flush()
            progress.update(len(chunk))


def read_lines(path: str | None) -> list[str]:
    if path is None:
        return sys.stdin.read().splitlines()
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().splitlines()
    except UnicodeDecodeError as error:
        raw = Path(path).read_bytes()
        line = raw.count(b"\n", 0, error.start) + 1
        raise ValueError(
            f"--input-file {path}: line {line} is not UTF-8 text (byte "
            f"0x{raw[error.start]:02x}): convert the file, e.g. iconv -f latin1 -t utf-8"
        ) from None


def check_files(input_file: str | None, output_file: str | None) -> None:
    """Before the model is loaded: the input is a readable file, the output can be written and
    is not the input (whatever the spelling: links and relative paths are resolved)."""
    if input_file is not None:
        if not Path(input_file).exists():
            raise FileNotFoundError(f"--input-file {input_file} does not exist")
        if Path(input_file).is_dir():
            raise IsADirectoryError(f"--input-file {input_file} is a folder: give a text file")
    if output_file is not None:
        check_output_file(output_file, "--output-file")
        if input_file is not None:
            check_not_an_input(("--output-file", output_file), [("--input-file", input_file)])


def write_records(path: str | None, produce: Callable[[TextIO | None], None]) -> None:
    """Rank 0 writes to ``path`` (a new file replaces an earlier one only once complete) or
    stdout; the other ranks only compute."""
    if not mpu.is_rank_0():
        produce(None)
    elif path is None:
        produce(sys.stdout)
    elif Path(path).exists() and not Path(path).is_file():  # /dev/stdout, a pipe, /dev/full
        with reporting_write_errors(path, "--output-file"), open(path, "w", encoding="utf-8") as f:
            produce(f)
    else:
        with reporting_write_errors(path, "--output-file"):
            atomic_write(path, lambda raw: _as_text(raw, produce))


def _as_text(raw: BinaryIO, produce: Callable[[TextIO], None]) -> None:
    text = io.TextIOWrapper(raw, encoding="utf-8", write_through=True)
    produce(text)
    text.flush()
    text.detach()  # the binary handle stays open for atomic_write's fsync


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = parse_args(argv, description="GLM blank filling")
    with exit_on_bad_input("generate_samples.py"):
        run(args)


def run(args: GLMArgs) -> None:
    use_huge_pages()  # before the model exists: decoding streams every weight once per token
    files = args.generation
    check_files(files.input_file, files.output_file)
    lines = read_lines(files.input_file) if files.input_file is not None else None
    device = setup_device(args)
    tokenizer = build_tokenizer(args.tokenizer_config())
    model = load_model(args, tokenizer.vocab_size, device)
    config = args.generation_config()
    gen = config.make_generator(device)
    interactive = mpu.broadcast_object(files.input_file is None and sys.stdin.isatty())
    if interactive:
        run_interactive(model, tokenizer, config, gen)
        return
    if lines is None and mpu.is_rank_0():  # stdin: only rank 0 reads it
        lines = read_lines(None)
    lines = mpu.broadcast_object(lines)  # rank 0's lines on every rank
    write_records(
        files.output_file,
        lambda out: run_batch(model, tokenizer, config, gen, lines, out, args.train.batch_size),
    )


if __name__ == "__main__":
    main()
