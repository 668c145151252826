"""Running serve_glm.py for tests and talking to it over HTTP with the standard library."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path

from tests.conftest import REPO_ROOT


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Reply:
    def __init__(self, status: int, headers: http.client.HTTPMessage, body: bytes):
        self.status, self.headers, self.body = status, headers, body

    def json(self) -> dict:
        return json.loads(self.body)


class Client:
    def __init__(self, port: int):
        self.port = port

    def request(self, method: str, path: str, body: bytes | None = None) -> Reply:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            headers = {"Content-Type": "application/json"} if body is not None else {}
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            return Reply(response.status, response.msg, response.read())
        finally:
            connection.close()

    def get(self, path: str) -> Reply:
        return self.request("GET", path)

    def fill(self, **request) -> Reply:
        return self.request("POST", "/v1/fill", json.dumps(request).encode())

    def fill_retrying(self, **request) -> tuple[Reply, int]:
        """A fill, sent again while the server answers 503 (the second value counts them)."""
        refused = 0
        while (reply := self.fill(**request)).status == 503:
            assert int(reply.headers["Retry-After"]) >= 1
            refused += 1
            time.sleep(0.05)
        return reply, refused

    def stream(self, **request) -> list[tuple[str, dict]]:
        """The server-sent events of a streamed fill, as (event, data)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            body = json.dumps({**request, "stream": True}).encode()
            connection.request(
                "POST", "/v1/fill", body=body, headers={"Content-Type": "application/json"}
            )
            response = connection.getresponse()
            assert response.status == 200, response.read()
            assert response.getheader("Content-Type").startswith("text/event-stream")
            return parse_events(response.read().decode())
        finally:
            connection.close()


def parse_events(text: str) -> list[tuple[str, dict]]:
    events = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def serve_glm(argv: list[str]) -> tuple[list[str], int]:
    """The command that serves with ``python serve_glm.py argv`` on a free port, and the port."""
    port = free_port()
    return [sys.executable, "serve_glm.py", *argv, "--port", str(port)], port


class ServerProcess:
    """A server ``command`` (listening on ``port``) started at once, so that several can boot
    side by side; ``ready`` waits for its /health."""

    def __init__(self, command: list[str], port: int, env: dict | None = None):
        self.log = Path(os.environ.get("TMPDIR", "/tmp")) / f"serve_glm_{port}.log"
        self.client = Client(port)
        with open(self.log, "w") as out:
            self.process = subprocess.Popen(
                command, cwd=REPO_ROOT, env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})},
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip

    def ready(self, timeout: float = 120.0) -> Client:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"the server exited {self.process.returncode}:\n{self.log.read_text()}"
                )
            with suppress(OSError):
                if self.client.get("/health").status == 200:
                    return self.client
            time.sleep(0.2)
        raise AssertionError(f"no answer from the server in {timeout} s:\n{self.log.read_text()}")

    def stop(self) -> None:
        """Kill the whole launch: torchrun and its ranks, which torchrun starts in sessions of
        their own (so they are found as descendants, not by process group); a graceful exit
        would only add seconds of interpreter teardown to every test run."""
        for pid in [*_descendants(self.process.pid), self.process.pid]:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait()
        self.log.unlink(missing_ok=True)


def _descendants(root: int) -> list[int]:
    """The processes below ``root`` (children first found, grandchildren after), from /proc."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = [], [root]
    while frontier:
        children = [pid for pid, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found
