"""generate_samples.py end to end on the tiny fixture checkpoints: batch mode (a file, a pipe,
torchrun at TP=2 on gloo), the interactive loop (in-process, and in a real pseudo-terminal through
scripts/generate_block.sh), and the config_tasks/model_*.sh descriptors."""

import io
import json
import os
import pty
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import generate_samples
from tests.conftest import REPO_ROOT
from tests.reference import generation_cases
from training.arguments import parse_args

TINY = (
    "--block-lm --num-layers 2 --hidden-size 64 --num-attention-heads 4 "
    "--max-position-embeddings 256 --seq-length 256 --out-seq-length 24 --top-k 1"
)
GPT2 = "--tokenizer-type GPT2BPETokenizer --task-mask"
TOO_LONG = "word " * 240 + "[MASK]"


def cli(reference_dir: Path, vocab_dir: Path, checkpoint: str = "glm-tiny-gpt2") -> list[str]:
    path = reference_dir / "checkpoints" / checkpoint
    return [
        *TINY.split(),
        *GPT2.split(),
        "--tokenizer-path",
        str(vocab_dir),
        "--load-pretrained",
        str(path),
    ]


def expected_record(case: dict) -> tuple[str, list[list[int]]]:
    return case["input_text"], [b["generated_ids"] for b in case["blanks"]]


pytestmark = pytest.mark.usefixtures("one_thread")


def test_batch_mode_writes_one_record_per_line(tmp_path, reference_dir, vocab_dir):
    cases = generation_cases(reference_dir, "gpt2")
    lines = [cases[1]["input_text"], TOO_LONG, "", cases[4]["input_text"], cases[5]["input_text"]]
    (tmp_path / "in.txt").write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.jsonl"
    argv = cli(reference_dir, vocab_dir) + ["--batch-size", "2"]
    generate_samples.main(
        argv + ["--input-file", str(tmp_path / "in.txt"), "--output-file", str(out)]
    )
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == len(lines)
    for record, case in zip(
        [records[i] for i in (0, 3, 4)], [cases[1], cases[4], cases[5]], strict=True
    ):
        assert (record["context"], record["fill_ids"]) == expected_record(case)
        assert record["fills"] == [b["generated_text"] for b in case["blanks"]]
        assert set(record) == {"context", "fills", "fill_ids", "text"}
    assert records[3]["text"] == "The quick brown fox" + records[3]["fills"][0]
    assert records[1]["context"] == TOO_LONG and "--out-seq-length" in records[1]["error"]
    assert "empty text" in records[2]["error"]


def test_piped_stdin_is_batch_mode_to_stdout(monkeypatch, capsys, reference_dir, vocab_dir):
    case = generation_cases(reference_dir, "gpt2")[2]
    monkeypatch.setattr(sys, "stdin", io.StringIO(case["input_text"] + "\n"))
    generate_samples.main(cli(reference_dir, vocab_dir))
    record = json.loads(capsys.readouterr().out)
    assert (record["context"], record["fill_ids"]) == expected_record(case)


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_interactive_loop_survives_bad_input_and_stops(
    monkeypatch, capsys, reference_dir, vocab_dir
):
    case = generation_cases(reference_dir, "gpt2")[0]
    typed = f"{TOO_LONG}\n{case['input_text']}\nstop\nnever read\n"
    monkeypatch.setattr(sys, "stdin", FakeTerminal(typed))
    generate_samples.main(cli(reference_dir, vocab_dir))
    out = capsys.readouterr().out
    assert out.count(generate_samples.PROMPT) == 3
    assert "Error: the context is" in out
    assert f"Context: {case['input_text']}" in out
    assert f"GLM: {case['output_text']}" in out


def test_missing_weights_is_a_one_line_error(reference_dir, vocab_dir, capsys):
    argv = [*TINY.split(), *GPT2.split(), "--tokenizer-path", str(vocab_dir)]
    with pytest.raises(SystemExit) as exit_info:
        generate_samples.main(argv)
    assert exit_info.value.code == 2
    assert "give --load-pretrained" in capsys.readouterr().err


class Terminal:
    """The controlling side of a pseudo-terminal: wait for text, type lines."""

    def __init__(self, fd: int):
        self.fd, self.transcript, self.read_up_to = fd, "", 0

    def expect(self, marker: str, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while marker not in self.transcript[self.read_up_to :]:
            ready, _, _ = select.select([self.fd], [], [], max(0.0, deadline - time.monotonic()))
            chunk = b""
            if ready:
                try:
                    chunk = os.read(self.fd, 65536)
                except OSError:  # the child closed the terminal
                    chunk = b""
            if not chunk:
                raise AssertionError(f"no {marker!r} in the terminal:\n{self.transcript}")
            self.transcript += chunk.decode("utf-8", "replace")
        self.read_up_to = self.transcript.index(marker, self.read_up_to) + len(marker)

    def type(self, data: bytes) -> None:
        os.write(self.fd, data)


@pytest.mark.slow
def test_generate_block_sh_in_a_pseudo_terminal(tmp_path, reference_dir, vocab_dir):
    """The real thing: the launcher script, a terminal on stdin, typed lines, Ctrl-D to quit."""
    descriptor = tmp_path / "model_tiny.sh"
    descriptor.write_text(
        f'MODEL_TYPE="tiny"\nMODEL_ARGS="{TINY} {GPT2} '
        '--load-pretrained ${CHECKPOINT_PATH}/glm-tiny-gpt2"\n'
    )
    env = dict(
        os.environ,
        CHECKPOINT_PATH=str(reference_dir / "checkpoints"),
        GLM_TOKENIZER_PATH=str(vocab_dir),
        MAXSEQLEN="256",
        OUT_SEQ_LENGTH="24",
        OMP_NUM_THREADS="1",
    )
    case = generation_cases(reference_dir, "gpt2")[3]
    main_fd, child_fd = pty.openpty()
    child = subprocess.Popen(
        ["bash", "scripts/generate_block.sh", str(descriptor), "--top-k", "1"],
        stdin=child_fd,
        stdout=child_fd,
        stderr=child_fd,
        cwd=REPO_ROOT,
        env=env,
    )
    os.close(child_fd)
    terminal = Terminal(main_fd)
    try:
        terminal.expect(generate_samples.PROMPT)
        terminal.type(b"  \n")
        terminal.expect("Error: empty text")
        terminal.expect(generate_samples.PROMPT)
        terminal.type(case["input_text"].encode() + b"\n")
        terminal.expect(f"GLM: {case['output_text']}")
        terminal.expect(generate_samples.PROMPT)
        terminal.type(b"\x04")  # Ctrl-D
        assert child.wait(timeout=60) == 0
    finally:
        child.kill()
        os.close(main_fd)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_torchrun_tp2_batch_mode_with_the_mp2_checkpoint(tmp_path, reference_dir, vocab_dir):
    cases = generation_cases(reference_dir, "gpt2")
    (tmp_path / "in.txt").write_text("\n".join(c["input_text"] for c in cases) + "\n")
    out = tmp_path / "out.jsonl"
    argv = cli(reference_dir, vocab_dir, "glm-tiny-gpt2_MP2") + [
        "--model-parallel-size", "2", "--input-file", str(tmp_path / "in.txt"),
        "--output-file", str(out),
    ]  # fmt: skip
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
                "--master-port", str(_free_port())]  # fmt: skip
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run(
        [*launcher, "generate_samples.py", *argv], cwd=REPO_ROOT, env=env, capture_output=True,
        text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["context"], r["fill_ids"]) for r in records] == [expected_record(c) for c in cases]


def _descriptor_args(path: Path) -> list[str]:
    command = f'CHECKPOINT_PATH=/ckpt; source "{path}"; echo "$MODEL_ARGS"'
    return subprocess.run(
        ["bash", "-c", command], capture_output=True, text=True, check=True
    ).stdout.split()


@pytest.mark.parametrize(
    "name", sorted(p.name for p in (REPO_ROOT / "config_tasks").glob("model_*.sh"))
)
def test_model_descriptors_parse(name):
    args = _descriptor_args(REPO_ROOT / "config_tasks" / name)
    parsed = parse_args([*args, "--seq-length", "512"])
    assert parsed.checkpoint.load_pretrained.startswith("/ckpt/")
    assert parsed.model.block_lm and parsed.model.num_layers >= 12
