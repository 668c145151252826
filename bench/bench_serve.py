"""Load on serve_glm.py: requests/s, latency and tokens/s at 1, 8 and 32 concurrent clients.

Usage: GLM_SHARED=../shared python bench/bench_serve.py [--threads 2] [--repeats 3]
           [--clients 1 8 32] [--context 40] [--max-tokens 16 80]

The 6 x 512 model of bench/bench_generation.py (random weights, GPT-2 vocabulary, fp32) is
saved to a temporary checkpoint and served three ways side by side, each server with
``--threads`` CPU threads: continuous batching (up to 32 requests, joining and leaving
between steps), window batching (a batch forms in 20 ms and runs until its last request ends)
and one at a time (``--max-batch-size 1``). Each client sends greedy requests back to back:
a text of about ``--context`` tokens with one [MASK], ``max_tokens`` drawn from the
``--max-tokens`` range (random weights never end a fill early, so fills differ in length
as real ones do). A measurement sends max(16, 2 x clients) requests; the table shows the
median of ``--repeats`` measurements, which run interleaved (A B C A B C) because the machine
is shared. "tok/step" is the mean number of rows per decoding step. The goal: continuous
batching decodes >= 4x the tokens/s of one-at-a-time decoding at 32 clients on 2 CPU cores.
"""

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
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


def requests(count: int, context: int, max_tokens: tuple[int, int], seed: int) -> list[dict]:
    rng = random.Random(seed)
    return [
        {
            "text": " ".join(rng.choice(WORDS) for _ in range(context)) + " [MASK].",
            "max_tokens": rng.randint(*max_tokens),
            "top_k": 1,
        }
        for _ in range(count)
    ]


def measure(client: Client, clients: int, work: list[dict]) -> dict:
    """Closed loop: ``clients`` threads take the next request as soon as theirs is answered."""
    queue = iter(work)
    latencies, tokens = [], []

    def run_client(_):
        for request in queue:  # a shared iterator: each request is sent once
            start = time.perf_counter()
            reply = client.fill(**request)
            assert reply.status == 200, reply.body
            latencies.append(time.perf_counter() - start)
            tokens.append(reply.json()["usage"]["generated_tokens"])

    before = client.get("/health").json()
    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(run_client, range(clients)))
    wall = time.perf_counter() - start
    after = client.get("/health").json()
    steps = after["steps"] - before["steps"]
    latencies.sort()
    return {
        "rps": len(latencies) / wall,
        "p50": statistics.median(latencies),
        "p95": latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))],
        "tps": sum(tokens) / wall,
        "rows": (after["generated_tokens"] - before["generated_tokens"]) / max(steps, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
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
            for client in clients.values():  # warm-up
                measure(client, 2, requests(4, args.context, tuple(args.max_tokens), 0))
            results = run(clients, args)
        finally:
            for server in servers.values():
                server.stop()
    report(results, args)


def run(clients: dict[str, Client], args) -> dict[tuple[str, int], list[dict]]:
    results: dict[tuple[str, int], list[dict]] = {}
    for repeat in range(args.repeats):
        for n in args.clients:
            work = requests(max(16, 2 * n), args.context, tuple(args.max_tokens), repeat + 1)
            for name, client in clients.items():
                results.setdefault((name, n), []).append(measure(client, n, work))
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
