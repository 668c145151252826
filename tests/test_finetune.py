"""finetune_glm.py end to end on CPU, in one process: COPA finetuned from the tiny fixture
checkpoint with gradient accumulation (best checkpoint, results files, predictions), WiC
evaluated with ``--epochs 0``, and COPA converted to multichoice scored zero-shot."""

import json
import subprocess
import sys
from itertools import islice
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader, DistributedSampler

from tasks.superglue.multichoice import copa_to_multichoice
from tasks.task_io import check_results_absent
from tests.distributed import run_distributed
from training.epochs import epoch_batches

REPO = Path(__file__).resolve().parents[1]

TINY = [
    *("--block-lm", "--num-layers", "2", "--hidden-size", "64", "--num-attention-heads", "4"),
    *("--max-position-embeddings", "256", "--tokenizer-type", "GPT2BPETokenizer", "--task-mask"),
    *("--cloze-eval", "--few-superglue", "--seq-length", "64", "--log-interval", "1"),
    *("--save-epoch", "1000"),
]


def _finetune(rank, world, argv_list):
    import finetune_glm

    return [finetune_glm.main(argv) for argv in argv_list]


@pytest.mark.slow
def test_copa_finetunes_wic_and_multichoice_evaluate(shared_dir, reference_dir, tmp_path):
    checkpoint = reference_dir / "checkpoints" / "glm-tiny-gpt2"
    copa_dir = tmp_path / "COPA"  # the first 16 training examples keep the test quick
    copa_dir.mkdir()
    source = shared_dir / "eval" / "superglue" / "COPA"
    lines = (source / "train.jsonl").read_text().splitlines(keepends=True)
    (copa_dir / "train.jsonl").write_text("".join(lines[:16]))
    (copa_dir / "dev32.jsonl").write_text((source / "dev32.jsonl").read_text())
    common = [
        *TINY,
        "--tokenizer-path",
        str(shared_dir / "vocab"),
        "--load-pretrained",
        str(checkpoint),
        "--summary-dir",
        str(tmp_path),
    ]
    copa = [
        *common,
        "--task",
        "COPA",
        "--data-dir",
        str(shared_dir / "eval/superglue/COPA"),
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--gradient-accumulation-steps",
        "4",
        "--lr",
        "1e-3",
        "--save",
        str(tmp_path / "ckpt"),
        "--experiment-name",
        "copa",
    ]
    wic = [
        *common,
        "--task",
        "wic",
        "--data-dir",
        str(shared_dir / "eval/superglue/WiC"),
        "--pattern-id",
        "1",
        "--epochs",
        "0",
        "--eval-batch-size",
        "16",
        "--experiment-name",
        "wic",
    ]
    converted = tmp_path / "copa_multichoice.jsonl"
    records = [copa_to_multichoice(json.loads(line)) for line in lines[:8]]
    converted.write_text("".join(json.dumps(r) + "\n" for r in records))
    multichoice = [
        *common,
        "--task",
        "multichoice",
        "--test-data",
        str(converted),
        "--epochs",
        "0",
        "--eval-batch-size",
        "8",
        "--experiment-name",
        "mc",
    ]
    copa_results, wic_results, mc_results = run_distributed(
        _finetune, 1, tmp_path, [copa, wic, multichoice]
    )[0]

    runs = tmp_path / "runs"
    validation = json.loads((runs / "copa" / "results.json").read_text())
    assert validation["type"] == "validation" and validation["epoch"] == 1
    final = json.loads((runs / "copa" / "test_results.json").read_text())
    assert final["accuracy"] == copa_results["accuracy"] == validation["accuracy"]
    predictions = [
        json.loads(x) for x in (runs / "copa" / "copa-dev.jsonl").read_text().splitlines()
    ]
    assert len(predictions) == 32 and {p["label"] for p in predictions} <= {0, 1}  # integers
    scores = (runs / "copa" / "copa-dev.scores.jsonl").read_text().splitlines()
    for line, prediction in zip(scores, predictions, strict=True):
        scored = json.loads(line)
        assert len(scored["scores"]) == 2 and scored["label"] in (0, 1)
        best = max(range(2), key=lambda i: scored["scores"][i])
        assert scored["prediction"] == prediction["label"] == best
    # 32 mirrored training examples / batch 4 = 8 micro-batches = 2 optimizer steps of 4.
    save = tmp_path / "ckpt" / "copa"
    assert (save / "best_checkpointed_iteration.txt").read_text() == "2"
    best = torch.load(save / "best" / "mp_rank_00_model_states.pt", weights_only=True)
    start = torch.load(checkpoint / "1000" / "mp_rank_00_model_states.pt", weights_only=True)
    key = "transformer.layers.0.mlp.dense_h_to_4h.weight"
    assert not torch.equal(best["module"][key].float(), start["module"][key].float())

    assert set(wic_results) == {"accuracy"}
    assert json.loads((runs / "wic" / "test_results.json").read_text())["type"] == "validation"
    assert len((runs / "wic" / "wic-dev.jsonl").read_text().splitlines()) == 32

    saved = json.loads((runs / "mc" / "test_results.json").read_text())
    assert saved == {"accuracy": mc_results["accuracy"], "type": "test"}
    predictions = (runs / "mc" / "multichoice-copa_multichoice.jsonl").read_text().splitlines()
    assert [json.loads(p)["idx"] for p in predictions] == [str(i) for i in range(8)]


def test_finished_run_is_not_redone(tmp_path):
    (tmp_path / "test_results.json").write_text("{}")
    with pytest.raises(FileExistsError, match="pass --overwrite"):
        check_results_absent(tmp_path, overwrite=False, resuming=False)
    check_results_absent(tmp_path, overwrite=True, resuming=False)


def test_epoch_stream_resumes_at_any_micro_batch():
    """Reshuffled each epoch; started at micro-batch k it is the full stream from k on, and the
    skipped batches are never loaded."""
    loaded = []

    class Numbers(torch.utils.data.Dataset):
        def __len__(self):
            return 10

        def __getitem__(self, i):
            loaded.append(i)
            return i

    dataset = Numbers()
    sampler = DistributedSampler(dataset, num_replicas=1, rank=0, shuffle=True, seed=5)
    loader = DataLoader(dataset, batch_size=3, sampler=sampler)  # 4 batches, the last of 1
    full = [b.tolist() for b in islice(epoch_batches(loader, sampler, 5), 16)]
    assert sorted(sum(full[:4], [])) == list(range(10)) and full[:4] != full[4:8]
    for consumed in (1, 4, 6, 11):
        loaded.clear()
        resumed = [b.tolist() for b in islice(epoch_batches(loader, sampler, 5, consumed), 2)]
        assert resumed == full[consumed : consumed + 2]
        assert len(loaded) == sum(map(len, resumed))


class _Killed(Exception):
    pass


def _finetune_with_kill(rank, world, straight, killed, resumed):
    """``straight`` runs to the end; ``killed`` dies right after its first checkpoint, which
    ``resumed`` (``--load``) continues from."""
    import finetune_glm
    from training.epochs import EpochEnd

    finetune_glm.main(straight)
    save_and_evaluate = EpochEnd.__call__

    def dies_after_first_save(self, state):
        save_and_evaluate(self, state)
        if state.iteration == self.config.steps_per_epoch:
            raise _Killed

    EpochEnd.__call__ = dies_after_first_save
    try:
        finetune_glm.main(killed)
    except _Killed:
        pass
    finally:
        EpochEnd.__call__ = save_and_evaluate
    return finetune_glm.main(resumed)


@pytest.mark.slow
def test_killed_finetuning_resumes_to_the_same_weights(shared_dir, reference_dir, tmp_path):
    """32 mirrored COPA examples in micro-batches of 6 make 6 per epoch, 4 per step: steps
    straddle epochs, so the resumed run must pick the stream up inside an epoch."""
    copa_dir = tmp_path / "COPA"
    copa_dir.mkdir()
    source = shared_dir / "eval" / "superglue" / "COPA"
    lines = (source / "train.jsonl").read_text().splitlines(keepends=True)
    (copa_dir / "train.jsonl").write_text("".join(lines[:16]))
    (copa_dir / "dev32.jsonl").write_text((source / "dev32.jsonl").read_text())

    def argv(name, *extra):
        return [
            *TINY[: TINY.index("--save-epoch")],
            *("--tokenizer-path", str(shared_dir / "vocab"), "--task", "COPA"),
            *("--load-pretrained", str(reference_dir / "checkpoints" / "glm-tiny-gpt2")),
            *("--data-dir", str(copa_dir), "--epochs", "3", "--batch-size", "6"),
            *("--gradient-accumulation-steps", "4", "--lr", "1e-3", "--save-epoch", "1"),
            *("--no-validation", "--summary-dir", str(tmp_path / name)),
            *("--save", str(tmp_path / name), "--experiment-name", "copa", *extra),
        ]

    killed = argv("killed")
    resumed = killed + ["--load", str(tmp_path / "killed" / "copa")]
    run_distributed(_finetune_with_kill, 1, tmp_path, argv("straight"), killed, resumed)
    assert (tmp_path / "killed" / "copa" / "latest").read_text() == "3"
    straight, again = (
        torch.load(tmp_path / name / "copa" / "3" / "mp_rank_00_model_states.pt")["module"]
        for name in ("straight", "killed")
    )
    assert list(straight) == list(again)
    for key, value in straight.items():
        assert torch.equal(value, again[key]), key


def test_missing_data_dir_is_one_line_error(tmp_path, shared_dir):
    argv = [*TINY, "--tokenizer-path", str(shared_dir / "vocab"), "--task", "COPA"]
    argv += ["--data-dir", str(tmp_path / "nope"), "--epochs", "0"]
    result = subprocess.run(
        [sys.executable, str(REPO / "finetune_glm.py"), *argv],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    expected = f"finetune_glm.py: error: --data-dir {tmp_path / 'nope'} is not a folder"
    assert last.startswith(expected)
