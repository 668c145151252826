"""The server's own flags (where to listen, how to batch), parsed beside GLM's flags.

``serve_glm.py`` takes GLM's model, tokenizer, checkpoint and generation flags (the decoding
defaults of every request) plus these; ``split_serve_flags`` takes these out of the command
line and leaves the rest to ``training.arguments.parse_args``.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

BATCHING = ("continuous", "window")


@dataclass(frozen=True)
class ServeConfig:
    host: str = "127.0.0.1"
    port: int = 8000
    max_batch_size: int = 16  # requests decoded together
    max_queue: int = 64  # requests waiting for a row; beyond it: 503 with Retry-After
    batching: str = "continuous"  # join/leave between steps, or "window": batch then drain
    batch_window_ms: float = 20.0  # "window": how long the first request waits for others
    max_beams: int = 8  # largest num_beams a request may ask for

    def __post_init__(self) -> None:
        checks = (
            (0 <= self.port < 65536, f"--port {self.port} must be in [0, 65535]"),
            (self.max_batch_size >= 1, f"--max-batch-size {self.max_batch_size} must be >= 1"),
            (self.max_queue >= 0, f"--max-queue {self.max_queue} must be >= 0"),
            (self.batching in BATCHING, f"--batching {self.batching}: one of {BATCHING}"),
            (self.batch_window_ms >= 0, "--batch-window-ms must be >= 0"),
            (self.max_beams >= 1, f"--max-beams {self.max_beams} must be >= 1"),
        )
        for ok, message in checks:
            if not ok:
                raise ValueError(message)


def serve_flag_parser() -> argparse.ArgumentParser:
    defaults = ServeConfig()
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    group = parser.add_argument_group("server")
    group.add_argument("--host", default=defaults.host, help="address to listen on")
    group.add_argument("--port", type=int, default=defaults.port, help="port to listen on")
    group.add_argument(
        "--max-batch-size", type=int, default=defaults.max_batch_size,
        help="requests decoded together in one batch",
    )  # fmt: skip
    group.add_argument(
        "--max-queue", type=int, default=defaults.max_queue,
        help="requests that may wait for a free row; more are answered 503 with Retry-After",
    )  # fmt: skip
    group.add_argument(
        "--batching", choices=BATCHING, default=defaults.batching,
        help="continuous: requests join and leave the batch between decoding steps; "
        "window: a batch forms in --batch-window-ms and runs until its last request ends",
    )  # fmt: skip
    group.add_argument("--batch-window-ms", type=float, default=defaults.batch_window_ms)
    group.add_argument("--max-beams", type=int, default=defaults.max_beams)
    return parser


def split_serve_flags(argv: list[str]) -> tuple[ServeConfig, list[str]]:
    """(the server's flags, GLM's flags). A ValueError names a bad server flag."""
    namespace, rest = serve_flag_parser().parse_known_args(argv)
    return ServeConfig(**vars(namespace)), rest
