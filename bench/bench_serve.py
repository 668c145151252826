"""Load on serve_glm.py: requests/s, latency and tokens/s at 1, 8 and 32 concurrent clients.

Usage: GLM_SHARED=../shared python bench/bench_serve.py [--threads 2] [--repeats 3]
           [--seconds 20] [--clients 1 8 32] [--context 40] [--max-tokens 16 80]

The 6 x 512 model of bench/bench_generation.py (random weights, GPT-2 vocabulary, fp32) is
saved to a temporary checkpoint and served three ways side by side, each server with
``--threads`` CPU threads: continuous batching (up to 32 requests, joining and leaving
between steps), window batching (a batch forms in 20 ms and runs until its last request ends)
and one at a time (``--max-batch-size 1``). Each client sends greedy requests back to back:
about ``--context`` words with one [MASK] and a ``max_tokens`` drawn from ``--max-tokens``
(random weights never end a fill early, so fills differ in length as real ones do).

A measurement: 2 s of warm-up, then ``--seconds`` in which "tokens/s" is the server's own
count of decoded tokens (/health ``decoded_tokens``), "req/s", p50 and p95 come from the
answers that arrive in it, "tok/step" is the mean number of requests per decoding step; then
the open connections are cut (the server cancels their requests). The table shows the median
of ``--repeats`` measurements, run interleaved (A B C A B C) because the machine is shared.
The goal: continuous batching decodes >= 4x the tokens/s of one at a time at 32 clients.
"""

import argparse
import contextlib
import http.client
import json
import math
import os
import random
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from model import GLMConfig, GLMModel  # noqa: E402
from tests.serve_helpers import Client, ServerProcess, free_port  # noqa: E402

SHAPE = "--num-layers 6 --hidden-size 512 --num-attention-heads 8 --max-position-embeddings 1024"
WORDS = ["the", "of", "and", "to", "in", "a", "is", "that", "for", "it", "as", "was", "with",
         "be", "by", "on", "not", "he", "this", "are", "or", "his"]  # fmt: skip
SERVERS = {  # name -> server flags
    "continuous": ["--max-batch-size", "32", "--batching", "continuous"],
    "window": ["--max-batch-size", "32", "--batching", "window", "--batch-window-ms", "20"],
    "one at a time": ["--max-batch-size", "1"],
}


def save_random_model(folder: Path) -> Path:
    config = GLMConfig(
        num_layers=6, hidden_size=512, num_attention_heads=8, vocab_size=50304,
        max_sequence_length=1024, parallel_output=False,
    )  # fmt: skip
    (folder / "release").mkdir(parents=True)
    (folder / "latest_checkpointed_iteration.txt").write_text("release")
    state = GLMModel(config, seed=1234).state_dict()
    torch.save({"module": state}, folder / "release" / "mp_rank_00_model_states.pt")
    return folder


def start_server(checkpoint: Path, flags: list[str], threads: int, limit: int) -> ServerProcess:
    shared = Path(os.environ.get("GLM_SHARED", REPO_ROOT.parent / "shared"))
    port = free_port()
    argv = [
        *SHAPE.split(), "--block-lm", "--seq-length", "1024", "--out-seq-length", str(limit),
        "--top-k", "1", "--tokenizer-type", "GPT2BPETokenizer", "--task-mask",
        "--tokenizer-path", str(shared / "vocab"), "--load-pretrained", str(checkpoint),
        "--max-queue", "256", "--port", str(port), *flags,
    ]  # fmt: skip
    command = [sys.executable, "serve_glm.py", *argv]
    return ServerProcess(command, port, {"OMP_NUM_THREADS": str(threads)})


def requests(context: int, max_tokens: tuple[int, int], seed: int) -> Iterator[dict]:
    """Endless greedy requests: ~``context`` words and one blank, a random ``max_tokens``."""
    rng = random.Random(seed)
    while True:
        text = " ".join(rng.choice(WORDS) for _ in range(context)) + " [MASK]."
        yield {"text": text, "max_tokens": rng.randint(*max_tokens), "top_k": 1}


class Load:
    """``clients`` threads in a closed loop (the next request as soon as the answer is in)
    until ``stop``; the connections still open then are cut, which cancels their requests."""

    def __init__(self, port: int, clients: int, work: Iterator[dict]):
        self.port, self.work, self.lock = port, work, threading.Lock()
        self.open: set[http.client.HTTPConnection] = set()
        self.done: list[tuple[float, float]] = []  # (finished at, latency)
        self.stopping = False
        self.threads = [threading.Thread(target=self._client) for _ in range(clients)]
        for thread in self.threads:
            thread.start()

    def _client(self) -> None:
        while not self.stopping:
            with self.lock:
                body = json.dumps(next(self.work)).encode()
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
            with self.lock:
                self.open.add(connection)
            start = time.perf_counter()
            try:
                connection.request("POST", "/v1/fill", body, {"Content-Type": "application/json"})
                reply = connection.getresponse()
                assert reply.status == 200, reply.read()
                reply.read()
                self.done.append((time.perf_counter(), time.perf_counter() - start))
            except (OSError, http.client.HTTPException):
                return  # cut by stop()
            finally:
                with self.lock:
                    self.open.discard(connection)
                connection.close()

    def stop(self) -> None:
        self.stopping = True
        with self.lock:
            for connection in self.open:
                with contextlib.suppress(OSError):
                    connection.sock.shutdown(socket.SHUT_RDWR)
        for thread in self.threads:
            thread.join()


def measure(client: Client, clients: int, work: Iterator[dict], seconds: float) -> dict:
    """Decoding rate and answered requests over ``seconds``, after a warm-up of 2 s."""
    load = Load(client.port, clients, work)
    time.sleep(2.0)
    before, start = client.get("/health").json(), time.perf_counter()
    time.sleep(seconds)
    after, end = client.get("/health").json(), time.perf_counter()
    load.stop()
    latencies = sorted(latency for at, latency in load.done if start <= at <= end)
    steps = max(after["steps"] - before["steps"], 1)
    decoded = after["decoded_tokens"] - before["decoded_tokens"]
    return {
        "rps": len(latencies) / (end - start),
        "p50": statistics.median(latencies) if latencies else math.nan,
        "p95": latencies[round(0.95 * (len(latencies) - 1))] if latencies else math.nan,
        "tps": decoded / (end - start),
        "rows": decoded / steps,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=20, help="length of a measurement")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--context", type=int, default=40, help="words before the blank")
    parser.add_argument("--max-tokens", type=int, nargs=2, default=[16, 80])
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.1f} (on {os.cpu_count()} CPUs)")
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = save_random_model(Path(tmp) / "ckpt")
        limit = args.max_tokens[1]
        servers = {n: start_server(checkpoint, f, args.threads, limit) for n, f in SERVERS.items()}
        try:
            clients = {n: s.ready(timeout=300) for n, s in servers.items()}
            results = run(clients, args)
        finally:
            for server in servers.values():
                server.stop()
    report(results, args)


def run(clients: dict[str, Client], args) -> dict[tuple[str, int], list[dict]]:
    results: dict[tuple[str, int], list[dict]] = {}
    for repeat in range(args.repeats):
        for n in args.clients:
            for name, client in clients.items():
                work = requests(args.context, tuple(args.max_tokens), repeat)
                runs = results.setdefault((name, n), [])
                runs.append(measure(client, n, work, args.seconds))
    return results


def report(results: dict[tuple[str, int], list[dict]], args) -> None:
    print(
        f"{args.threads} threads per server, context ~{args.context} words, max_tokens "
        f"{args.max_tokens[0]}-{args.max_tokens[1]}, median of {args.repeats}"
    )
    print(
        f"{'batching':>13} | {'clients':>7} | {'req/s':>6} | {'p50 s':>6} | {'p95 s':>6} | "
        f"{'tokens/s':>8} | {'tok/step':>8}"
    )
    for (name, n), runs in sorted(results.items(), key=lambda item: (item[0][1], item[0][0])):
        m = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
        print(
            f"{name:>13} | {n:>7} | {m['rps']:>6.2f} | {m['p50']:>6.2f} | {m['p95']:>6.2f} | "
            f"{m['tps']:>8.1f} | {m['rows']:>8.1f}"
        )
    most = max(args.clients)
    tps = {name: statistics.median(r["tps"] for r in results[(name, most)]) for name in SERVERS}
    for name in ("continuous", "window"):
        gain = tps[name] / tps["one at a time"]
        print(f"{name} batching at {most} clients: {gain:.1f}x the tokens/s of one at a time")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
