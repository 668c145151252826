"""Serve GLM blank filling over HTTP, with batching, streaming and a playground page.

    python serve_glm.py <model flags> --load-pretrained CKPT [--port 8000] [--host 0.0.0.0]
    torchrun --nproc-per-node 2 serve_glm.py ... --model-parallel-size 2
    bash scripts/serve_block.sh config_tasks/model_blocklm_10B.sh

POST /v1/fill fills the blanks of a text (``"stream": true``: server-sent events), GET /health,
GET /v1/model, the API's documentation at /docs and a playground at /. The generation flags
(--out-seq-length, --top-k, --temperature, ...) are the defaults of every request, and
--out-seq-length also the most a request may ask for. Server flags: --host, --port,
--max-batch-size (requests decoded together), --max-queue (requests waiting; beyond them 503),
--batching continuous|window, --batch-window-ms, --max-beams.

With --model-parallel-size N (N processes), rank 0 answers HTTP and every rank decodes.
"""

from __future__ import annotations

import logging
import sys

import torch
import uvicorn

import mpu
from checkpoint_io.inference import inference_dtype, load_inference_model
from common.errors import exit_on_bad_input
from common.memory import use_huge_pages
from data_utils.tokenization import build_tokenizer
from serving.app import create_app
from serving.config import ServeConfig, serve_flag_parser, split_serve_flags
from serving.decoder import BatchDecoder, SpecialIds
from serving.engine import Engine, follow
from serving.service import FillService, ServiceInfo
from training.arguments import GLMArgs, parse_args

log = logging.getLogger("serve_glm")


def parse(argv: list[str]) -> tuple[ServeConfig, GLMArgs]:
    if {"-h", "--help"} & set(argv):
        serve_flag_parser().print_help()
        parse_args(["--help"], description="GLM blank-filling server: model flags")
    with exit_on_bad_input("serve_glm.py"):
        config, rest = split_serve_flags(argv)
    return config, parse_args(rest, description="GLM blank-filling server")


def setup_device(args: GLMArgs) -> torch.device:
    parallel = args.parallel
    return mpu.initialize_one_model(
        parallel.model_parallel_size, parallel.distributed_backend, parallel.local_rank,
        "the server",
    )  # fmt: skip


def build(args: GLMArgs, config: ServeConfig) -> tuple[BatchDecoder, FillService | None]:
    """The decoder on every rank; the HTTP service on rank 0 (None elsewhere)."""
    if not args.model.block_lm:
        raise ValueError("the server fills blanks: it needs a --block-lm model")
    path = args.checkpoint.load or args.checkpoint.load_pretrained
    if path is None:
        raise ValueError("no weights to serve: give --load-pretrained (or --load) CKPT")
    use_huge_pages()  # before the model exists: decoding streams every weight once per token
    device = setup_device(args)
    tokenizer = build_tokenizer(args.tokenizer_config())
    model_config = args.model_config(tokenizer.vocab_size, parallel_output=False)
    dtype = inference_dtype(args.optim.fp16, args.optim.bf16, device)
    verify = not args.checkpoint.no_verify_checkpoint
    model = load_inference_model(model_config, path, device, dtype, decoding=True, verify=verify)
    ids = SpecialIds(tokenizer.sop_id, tokenizer.eop_id, tokenizer.eos_id, tokenizer.pad_id)
    decoder = BatchDecoder(model, ids, config.max_batch_size)
    if not mpu.is_rank_0():
        return decoder, None
    info = ServiceInfo(
        model=model_config,
        tokenizer_type=args.tokenizer.tokenizer_type,
        checkpoint=str(path),
        model_parallel_size=args.parallel.model_parallel_size,
        device=str(device),
        dtype=str(dtype).removeprefix("torch."),
    )
    defaults = args.generation_config()
    return decoder, FillService(Engine(decoder, config), tokenizer, defaults, info, config)


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    config, args = parse(list(sys.argv[1:] if argv is None else argv))
    with exit_on_bad_input("serve_glm.py"):
        decoder, service = build(args, config)
    if service is None:
        follow(decoder)
        return
    service.engine.start()
    try:
        log.info(
            "serving on http://%s:%d (playground at /, API at /docs)", config.host, config.port
        )
        uvicorn.run(create_app(service), host=config.host, port=config.port, log_level="warning")
    finally:
        service.engine.stop()


if __name__ == "__main__":
    main()
