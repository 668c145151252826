"""The bad-input table: inputs a user may get wrong, per entry point, and what the line must name.

``build_workspace`` writes one folder of small inputs, good and bad (corpora, token stores,
checkpoints, a Hugging Face folder, task data, texts); every case runs an entry point on some
of them and must stop with one ``<prog>: error:`` line naming the file or flag, leaving the
whole folder byte-identical. Placeholders in the arguments: ``{ws}`` (the workspace), ``{vocab}``
(the shared vocabulary folder).
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

BERT = (
    "--tokenizer-type BertWordPieceTokenizer --tokenizer-model-type bert-base-uncased "
    "--tokenizer-path {vocab}"
)
MODEL = (
    "--block-lm --num-layers 2 --hidden-size 64 --num-attention-heads 4 "
    "--max-position-embeddings 256 " + BERT
)
PREPROCESS = "--input {ws}/corpus.txt --output {ws}/new.store --no-progress " + BERT
PRETRAIN = (
    MODEL + " --seq-length 64 --batch-size 2 --train-iters 2 --split 9,1,0 --num-workers 0 "
    "--train-data {ws}/store --save {ws}/runs"
)
FINETUNE = (
    MODEL + " --task COPA --data-dir {ws}/COPA --few-superglue --cloze-eval --seq-length 64 "
    "--epochs 0 --summary-dir {ws}/runs"
)
GENERATE = (
    MODEL + " --seq-length 256 --out-seq-length 4 --top-k 1 --load-pretrained {ws}/ckpt "
    "--input-file {ws}/texts.txt --output-file {ws}/out/fills.jsonl"
)
EXPORT = "--out {ws}/new_hf " + BERT
IMPORT = "--out {ws}/new_ckpt"


@dataclass(frozen=True)
class Case:
    id: str
    script: str
    args: str
    names: tuple[str, ...]  # what the error line must hold (the file, the flag, the values)
    env: dict[str, str] = field(default_factory=dict)
    cwd: str = "{ws}"
    xfail: str | None = None  # why it fails today


def _cases(script: str, base: str, rows: list[tuple]) -> list[Case]:
    """Rows ``(id, extra args, names[, options])``; ``base`` is prepended to the args."""
    out = []
    for row in rows:
        case_id, extra, names, options = (*row, {})[:4]
        args = f"{base} {extra}".strip() if base is not None else extra
        out.append(Case(case_id, script, args, tuple(names), **options))
    return out


PREPROCESS_CASES = _cases(
    "scripts/preprocess_data.py",
    None,
    [
        ("missing-input", f"{PREPROCESS} --input {{ws}}/nope.txt", ["nope.txt"]),
        ("glob-matches-nothing", f"{PREPROCESS} --input '{{ws}}/*.none'", ["*.none"]),
        ("empty-input-folder", f"{PREPROCESS} --input {{ws}}/emptydir", ["emptydir"]),
        ("unknown-suffix", f"{PREPROCESS} --input {{ws}}/notes.csv", ["notes.csv", ".jsonl"]),
        ("output-exists", f"{PREPROCESS} --output {{ws}}/store", ["store", "--overwrite"]),
        (
            "overwrite-a-folder-that-is-not-a-store",
            f"{PREPROCESS} --output {{ws}}/thesis --overwrite",
            ["thesis", "not a token store"],
        ),
        (
            "overwrite-a-file",
            f"{PREPROCESS} --output {{ws}}/corpus.jsonl --overwrite",
            ["corpus.jsonl", "not a token store"],
        ),
        (
            "output-is-the-input-file",
            f"{PREPROCESS} --output {{ws}}/corpus.txt --overwrite",
            ["corpus.txt"],
        ),
        (
            "input-inside-the-store-to-overwrite",
            f"{PREPROCESS} --input {{ws}}/store_notes/notes.txt --output {{ws}}/store_notes "
            "--overwrite",
            ["store_notes", "--input"],
        ),
        ("latin1-corpus", f"{PREPROCESS} --input {{ws}}/latin1.txt", ["latin1.txt", "UTF-8"]),
        ("utf16-corpus", f"{PREPROCESS} --input {{ws}}/utf16.txt", ["utf16.txt", "UTF-16"]),
        ("strict-bad-record", f"{PREPROCESS} --input {{ws}}/bad.jsonl --strict", ["bad.jsonl:2"]),
        (
            "wrong-text-key",
            f"{PREPROCESS} --input {{ws}}/corpus.jsonl --text-key body",
            ["corpus.jsonl", "missing_key", "--text-key"],
        ),
        ("empty-corpus", f"{PREPROCESS} --input {{ws}}/empty.txt", ["empty.txt"]),
        ("corrupt-gzip", f"{PREPROCESS} --input {{ws}}/corrupt.txt.gz", ["corrupt.txt.gz"]),
        (
            "truncated-gzip",
            f"{PREPROCESS} --input {{ws}}/truncated.jsonl.gz",
            ["truncated.jsonl.gz"],
        ),
        ("corrupt-zstd", f"{PREPROCESS} --input {{ws}}/corrupt.txt.zst", ["corrupt.txt.zst"]),
        (
            "output-folder-under-a-file",
            f"{PREPROCESS} --output {{ws}}/corpus.jsonl/new.store",
            ["corpus.jsonl"],
        ),
        ("workers-zero", f"{PREPROCESS} --workers 0", ["--workers"]),
        ("corpus-path-without-name", f"{PREPROCESS} --corpus-path wiki", ["--corpus-path"]),
        (
            "named-corpus-without-location",
            f"{PREPROCESS} --input wikibook",
            ["GLM_CORPUS_WIKIBOOK"],
        ),
        (
            "tokenizer-path-missing",
            f"{PREPROCESS} --tokenizer-path {{ws}}/novocab",
            ["novocab"],
        ),
        (
            "no-punkt-data",
            PREPROCESS,
            ["NLTK_DATA"],
            {"env": {"NLTK_DATA": "{ws}/emptydir"}},
        ),
    ],
)

PRETRAIN_CASES = _cases(
    "pretrain_glm.py",
    PRETRAIN,
    [
        ("missing-store", "--train-data {ws}/nope", ["nope", "preprocess_data.py"]),
        ("not-a-store", "--train-data {ws}/thesis", ["thesis", "header.json"]),
        ("header-not-json", "--train-data {ws}/store_badjson", ["store_badjson/header.json"]),
        ("header-missing-key", "--train-data {ws}/store_nokey", ["header.json", "num_tokens"]),
        ("store-of-another-format", "--train-data {ws}/store_format", ["store_format"]),
        ("truncated-tokens", "--train-data {ws}/store_trunc", ["store_trunc/tokens.bin"]),
        ("missing-offsets", "--train-data {ws}/store_nooffsets", ["doc_offsets.bin"]),
        ("corrupt-offsets", "--train-data {ws}/store_badoffsets", ["doc_offsets.bin"]),
        ("store-of-another-tokenizer", "--train-data {ws}/store_othertok", ["--tokenizer-type"]),
        ("bad-valid-data", "--valid-data {ws}/store_trunc", ["--valid-data", "store_trunc"]),
        (
            "named-corpus-without-store",
            "--train-data wikibook",
            ["wikibook"],
            {"env": {"GLM_DATA_DIR": "{ws}/emptydir"}},
        ),
        ("deepspeed-config-missing", "--deepspeed_config {ws}/nope.json", ["nope.json"]),
        ("deepspeed-config-not-json", "--deepspeed_config {ws}/ds_bad.json", ["ds_bad.json"]),
        ("deepspeed-config-a-list", "--deepspeed_config {ws}/ds_list.json", ["ds_list.json"]),
        ("deepspeed-config-latin1", "--deepspeed_config {ws}/ds_latin1.json", ["ds_latin1.json"]),
        (
            "deepspeed-config-conflicts",
            "--deepspeed_config {ws}/ds_batch8.json",
            ["--batch-size", "ds_batch8.json"],
        ),
        ("load-missing", "--load {ws}/nope_ckpt", ["nope_ckpt"]),
        ("load-empty-folder", "--load {ws}/emptydir", ["emptydir"]),
        ("load-tag-missing", "--load {ws}/ckpt_badtag", ["ckpt_badtag", "2000"]),
        (
            "load-other-heads",
            "--load {ws}/ckpt --num-attention-heads 8",
            ["--num-attention-heads", "8", "4", "ckpt"],
        ),
        (
            "load-other-hidden-size",
            "--load {ws}/ckpt --hidden-size 128",
            ["--hidden-size", "128", "64"],
        ),
        ("load-other-layers", "--load {ws}/ckpt --num-layers 3", ["--num-layers"]),
        ("load-config-not-json", "--load {ws}/ckpt_badconfig", ["config.json"]),
        ("save-under-a-file", "--save {ws}/corpus.jsonl/runs", ["--save", "corpus.jsonl"]),
        ("heads-do-not-divide", "--num-attention-heads 5", ["--num-attention-heads 5"]),
        ("seq-longer-than-positions", "--seq-length 512", ["--seq-length 512"]),
    ],
)

FINETUNE_CASES = _cases(
    "finetune_glm.py",
    FINETUNE,
    [
        ("data-dir-missing", "--data-dir {ws}/nope", ["--data-dir", "nope"]),
        ("data-dir-a-file", "--data-dir {ws}/corpus.txt", ["--data-dir", "corpus.txt"]),
        ("data-dir-empty", "--data-dir {ws}/emptydir", ["emptydir"]),
        ("unknown-task", "--task NOPE", ["NOPE"]),
        ("load-pretrained-missing", "--load-pretrained {ws}/nope_ckpt", ["nope_ckpt"]),
        (
            "load-pretrained-other-heads",
            "--load-pretrained {ws}/ckpt --num-attention-heads 8",
            ["--num-attention-heads", "8", "4"],
        ),
        ("deepspeed-config-not-json", "--deepspeed_config {ws}/ds_bad.json", ["ds_bad.json"]),
        ("save-under-a-file", "--save {ws}/corpus.jsonl/ft", ["--save", "corpus.jsonl"]),
        (
            "results-of-an-earlier-run",
            "--summary-dir {ws}/finished --experiment-name done",
            ["test_results.json"],
        ),
        (
            "latin1-task-file",
            "--data-dir {ws}/COPA_latin1",
            ["COPA_latin1", "UTF-8"],
        ),
        (
            "train-example-without-label",
            "--data-dir {ws}/COPA_nolabel --epochs 1",
            ["train.jsonl"],
        ),
    ],
)

GENERATE_CASES = _cases(
    "generate_samples.py",
    GENERATE,
    [
        (
            "output-is-the-input",
            "--output-file {ws}/texts.txt",
            ["--output-file", "--input-file", "texts.txt"],
        ),
        (
            "output-is-a-link-to-the-input",
            "--output-file {ws}/link_to_texts.txt",
            ["--output-file", "link_to_texts.txt"],
        ),
        (
            "output-is-the-input-by-a-relative-path",
            "--output-file ../texts.txt",
            ["--output-file", "../texts.txt"],
            {"cwd": "{ws}/out"},
        ),
        ("input-missing", "--input-file {ws}/nope.txt", ["--input-file", "nope.txt"]),
        ("input-a-folder", "--input-file {ws}/emptydir", ["--input-file", "emptydir"]),
        ("input-latin1", "--input-file {ws}/latin1.txt", ["latin1.txt", "UTF-8", "line"]),
        ("output-folder-missing", "--output-file {ws}/nodir/f.jsonl", ["--output-file", "nodir"]),
        ("output-a-folder", "--output-file {ws}/out", ["--output-file", "out"]),
        (
            "output-under-a-file",
            "--output-file {ws}/corpus.txt/f.jsonl",
            ["--output-file", "corpus.txt"],
        ),
        ("weights-missing", "--load-pretrained {ws}/nope_ckpt", ["nope_ckpt"]),
        ("weights-empty-folder", "--load-pretrained {ws}/emptydir", ["emptydir"]),
        (
            "weights-other-heads",
            "--num-attention-heads 8",
            ["--num-attention-heads", "8", "4"],
        ),
        ("weights-truncated", "--load-pretrained {ws}/ckpt_trunc", ["ckpt_trunc"]),
        (
            "weights-overwritten-in-the-middle",
            "--load-pretrained {ws}/ckpt_corrupt",
            ["ckpt_corrupt"],
        ),
        ("weights-nan", "--load-pretrained {ws}/ckpt_nan", ["ckpt_nan", "NaN"]),
        ("weights-half-copied", "--load-pretrained {ws}/ckpt_mp2_gone", ["ckpt_mp2_gone"]),
        ("model-parallel-without-processes", "--model-parallel-size 2", ["--model-parallel-size"]),
        ("disk-full", "--output-file /dev/full", ["/dev/full", "space"]),
    ],
)

CHANGE_MP_CASES = _cases(
    "change_mp.py",
    None,
    [
        ("missing", "{ws}/nope_ckpt 2", ["nope_ckpt"]),
        ("empty-folder", "{ws}/emptydir 2", ["emptydir"]),
        ("out-exists", "{ws}/ckpt 2 --out {ws}/thesis", ["thesis"]),
        ("out-is-the-source", "{ws}/ckpt 2 --out {ws}/ckpt", ["ckpt"]),
        ("heads-do-not-divide", "{ws}/ckpt 3", ["model-parallel size 3"]),
        ("target-zero", "{ws}/ckpt 0", ["0"]),
        ("tag-missing", "{ws}/ckpt_badtag 2", ["2000"]),
        ("truncated-shard", "{ws}/ckpt_trunc 2", ["ckpt_trunc"]),
        ("rank-missing", "{ws}/ckpt_mp2_missing 1", ["mp_rank_01"]),
        ("shard-overwritten", "{ws}/ckpt_corrupt 2", ["ckpt_corrupt"]),
        ("from-zero-not-zero", "--from-zero {ws}/ckpt", ["ckpt"]),
        ("nan-weights", "{ws}/ckpt_nan 2", ["ckpt_nan", "final_layernorm.weight", "NaN"]),
        ("half-copied-shard", "{ws}/ckpt_mp2_half 1", ["ckpt_mp2_half", "mp_rank_01"]),
        ("half-copied-folder", "{ws}/ckpt_mp2_gone 1", ["ckpt_mp2_gone", "mp_rank_01"]),
        ("checksum-mismatch", "{ws}/ckpt_mp2_flip 1", ["ckpt_mp2_flip", "mp_rank_00"]),
        ("rank-missing-same-size", "{ws}/ckpt_mp2_missing 1 --out {ws}/o", ["mp_rank_01"]),
    ],
)

EXPORT_CASES = _cases(
    "scripts/convert_glm_checkpoint_to_transformers.py",
    None,
    [
        ("missing", f"{{ws}}/nope_ckpt {EXPORT}", ["nope_ckpt"]),
        ("out-exists", f"{{ws}}/ckpt {EXPORT} --out {{ws}}/thesis", ["thesis"]),
        ("out-is-the-checkpoint", f"{{ws}}/ckpt {EXPORT} --out {{ws}}/ckpt", ["ckpt"]),
        ("no-heads-known", f"{{ws}}/ckpt_noconfig {EXPORT}", ["--num-attention-heads"]),
        (
            "other-hidden-size",
            f"{{ws}}/ckpt {EXPORT} --hidden-size 128",
            ["hidden_size", "128", "64"],
        ),
        ("tokenizer-path-missing", f"{{ws}}/ckpt {EXPORT} --tokenizer-path {{ws}}/nv", ["nv"]),
        ("truncated-shard", f"{{ws}}/ckpt_trunc {EXPORT}", ["ckpt_trunc"]),
        ("nan-weights", f"{{ws}}/ckpt_nan {EXPORT}", ["ckpt_nan", "NaN"]),
        ("half-copied-shard", f"{{ws}}/ckpt_mp2_half {EXPORT}", ["mp_rank_01"]),
        ("rank-missing", f"{{ws}}/ckpt_mp2_missing {EXPORT}", ["mp_rank_01"]),
        ("checksum-mismatch", f"{{ws}}/ckpt_mp2_flip {EXPORT}", ["mp_rank_00"]),
        ("shard-overwritten", f"{{ws}}/ckpt_corrupt {EXPORT}", ["ckpt_corrupt"]),
    ],
)

IMPORT_CASES = _cases(
    "scripts/convert_transformers_to_glm.py",
    None,
    [
        ("missing", f"{{ws}}/nope_hf {IMPORT}", ["nope_hf"]),
        ("no-config", f"{{ws}}/emptydir {IMPORT}", ["emptydir", "config.json"]),
        ("config-not-json", f"{{ws}}/hf_badconfig {IMPORT}", ["hf_badconfig/config.json"]),
        ("not-glm", f"{{ws}}/hf_gpt2 {IMPORT}", ["gpt2"]),
        ("no-weights", f"{{ws}}/hf_noweights {IMPORT}", ["hf_noweights"]),
        ("truncated-weights", f"{{ws}}/hf_trunc {IMPORT}", ["hf_trunc"]),
        ("out-exists", "{ws}/hf --out {ws}/thesis", ["thesis"]),
        ("out-is-the-source", "{ws}/hf --out {ws}/hf", ["hf"]),
        ("mp-does-not-divide-heads", f"{{ws}}/hf {IMPORT} --mp 3", ["model-parallel size 3"]),
    ],
)

SCRIPT_CASES = [
    *_cases(
        "scripts/convert_cnndm_csv.py",
        None,
        [
            ("cnndm-output-is-the-input", "{ws}/cnn test={ws}/cnn/test.source", ["test.source"]),
            ("cnndm-latin1", "{ws}/cnn_out test={ws}/cnn/latin1.csv", ["latin1.csv", "UTF-8"]),
            ("cnndm-missing-csv", "{ws}/cnn_out test={ws}/nope.csv", ["nope.csv"]),
            ("cnndm-missing-column", "{ws}/cnn_out test={ws}/cnn/nocol.csv", ["highlights"]),
        ],
    ),
    *_cases(
        "scripts/convert_copa_multichoice.py",
        None,
        [
            (
                "copa-output-is-the-input",
                "{ws}/COPA/train.jsonl {ws}/COPA/train.jsonl",
                ["train.jsonl"],
            ),
            ("copa-missing", "{ws}/nope.jsonl {ws}/mc.jsonl", ["nope.jsonl"]),
        ],
    ),
    *_cases(
        "scripts/plot_metrics.py",
        None,
        [
            (
                "plot-output-is-the-metrics",
                "{ws}/run --out {ws}/run/metrics.jsonl",
                ["--out", "metrics.jsonl"],
            ),
        ],
    ),
    *_cases(
        "scripts/train_tokenizer.py",
        None,
        [
            (
                "tokenizer-output-is-an-input",
                "--input {ws}/tok/tokenizer.json --vocab-size 300 --out {ws}/tok",
                ["tokenizer.json"],
            ),
            (
                "tokenizer-missing-input",
                "--input {ws}/nope.txt --vocab-size 300 --out {ws}/t2",
                ["nope.txt"],
            ),
        ],
    ),
]

CASES = [
    *PREPROCESS_CASES,
    *PRETRAIN_CASES,
    *FINETUNE_CASES,
    *GENERATE_CASES,
    *CHANGE_MP_CASES,
    *EXPORT_CASES,
    *IMPORT_CASES,
    *SCRIPT_CASES,
]


# --- the workspace -----------------------------------------------------------------------------


def _store_variants(ws: Path) -> None:
    """Damaged copies of ``ws/store``, one fault each."""
    for name in ("badjson", "nokey", "format", "trunc", "nooffsets", "badoffsets", "othertok"):
        shutil.copytree(ws / "store", ws / f"store_{name}")
    (ws / "store_badjson/header.json").write_text("{ not json")
    header = json.loads((ws / "store/header.json").read_text())
    _write_json(
        ws / "store_nokey/header.json", {k: v for k, v in header.items() if k != "num_tokens"}
    )
    _write_json(ws / "store_format/header.json", {**header, "format": "other-store"})
    tokens = ws / "store_trunc/tokens.bin"
    os.truncate(tokens, tokens.stat().st_size // 2)
    (ws / "store_nooffsets/doc_offsets.bin").unlink()
    offsets = np.fromfile(ws / "store/doc_offsets.bin", dtype="<i8")
    offsets[1:-1] = offsets[1:-1][::-1]  # no longer ascending; same size
    offsets.tofile(ws / "store_badoffsets/doc_offsets.bin")
    other = {**header, "tokenizer": {**header["tokenizer"], "fingerprint": "0" * 64}}
    _write_json(ws / "store_othertok/header.json", other)
    shutil.copytree(ws / "store", ws / "store_notes")
    (ws / "store_notes/notes.txt").write_text("My notes, kept beside the store.\n")


def _write_json(path: Path, value) -> None:
    path.write_text(json.dumps(value, indent=1))


def _checkpoint_variants(ws: Path, fixtures: Path, run_config: dict) -> None:
    shutil.copytree(fixtures / "glm-tiny-bert", ws / "ckpt")
    _write_json(ws / "ckpt/1000/config.json", run_config)
    shutil.copytree(fixtures / "glm-tiny-bert", ws / "ckpt_noconfig")
    for name in ("trunc", "corrupt", "badtag", "badconfig"):
        shutil.copytree(ws / "ckpt", ws / f"ckpt_{name}")
    shard = ws / "ckpt_trunc/1000/mp_rank_00_model_states.pt"
    os.truncate(shard, shard.stat().st_size // 2)
    shard = ws / "ckpt_corrupt/1000/mp_rank_00_model_states.pt"
    with open(shard, "r+b") as handle:  # 4 KB of 0xff in the middle of the tensor data
        handle.seek(shard.stat().st_size // 2)
        handle.write(b"\xff" * 4096)
    (ws / "ckpt_badtag/latest_checkpointed_iteration.txt").write_text("2000")
    (ws / "ckpt_badconfig/1000/config.json").write_text("{ not json")
    shutil.copytree(fixtures / "glm-tiny-bert_MP2", ws / "ckpt_mp2_missing")
    (ws / "ckpt_mp2_missing/1000/mp_rank_01_model_states.pt").unlink()
    shutil.copytree(ws / "ckpt", ws / "ckpt_nan")
    shard = ws / "ckpt_nan/1000/mp_rank_00_model_states.pt"
    state = torch.load(shard, weights_only=True)
    state["module"]["transformer.final_layernorm.weight"][3] = float("nan")
    torch.save(state, shard)


def _manifest_variants(ws: Path) -> None:
    """Half-copied or changed folders of a checkpoint with a manifest (change_mp.py writes one)."""
    from interop.reshard import reshard_folder

    reshard_folder(ws / "ckpt", 2, out=ws / "ckpt_mp2")
    for name in ("half", "gone", "flip"):
        shutil.copytree(ws / "ckpt_mp2", ws / f"ckpt_mp2_{name}")
    tag = (ws / "ckpt_mp2/latest_checkpointed_iteration.txt").read_text().strip()
    shard = ws / f"ckpt_mp2_half/{tag}/mp_rank_01_model_states.pt"
    os.truncate(shard, shard.stat().st_size // 2)
    (ws / f"ckpt_mp2_gone/{tag}/mp_rank_01_model_states.pt").unlink()
    shard = ws / f"ckpt_mp2_flip/{tag}/mp_rank_00_model_states.pt"
    with open(shard, "r+b") as handle:  # 4 KB overwritten: same size, other checksum
        handle.seek(shard.stat().st_size // 2)
        handle.write(b"\x00\x01" * 2048)


def _hf_variants(ws: Path) -> None:
    for name in ("badconfig", "gpt2", "noweights", "trunc"):
        shutil.copytree(ws / "hf", ws / f"hf_{name}")
    (ws / "hf_badconfig/config.json").write_text("{ not json")
    config = json.loads((ws / "hf/config.json").read_text())
    _write_json(ws / "hf_gpt2/config.json", {**config, "model_type": "gpt2"})
    for weights in (ws / "hf_noweights").glob("pytorch_model*"):
        weights.unlink()
    for weights in (ws / "hf_trunc").glob("pytorch_model*"):
        os.truncate(weights, weights.stat().st_size // 2)


def _text_inputs(ws: Path, shared: Path) -> None:
    text = (shared / "corpora/moby_dick.txt").read_text(encoding="utf-8")[:6000]
    paragraphs = [p.strip() for p in text.split("\n\n") if p.strip()]
    (ws / "corpus.txt").write_text(text)
    jsonl = "".join(json.dumps({"text": p}) + "\n" for p in paragraphs)
    (ws / "corpus.jsonl").write_text(jsonl)
    (ws / "bad.jsonl").write_text(json.dumps({"text": paragraphs[0]}) + "\n{ not json\n")
    (ws / "latin1.txt").write_bytes(text.replace("the", "th\xe9").encode("latin-1", "replace"))
    (ws / "utf16.txt").write_bytes(text.encode("utf-16"))
    (ws / "empty.txt").write_text("")
    (ws / "notes.csv").write_text("a,b\n1,2\n")
    (ws / "corrupt.txt.gz").write_bytes(b"\x1f\x8b" + b"not gzip data" * 8)
    (ws / "truncated.jsonl.gz").write_bytes(gzip.compress(jsonl.encode())[:300])
    (ws / "corrupt.txt.zst").write_bytes(b"\x28\xb5\x2f\xfd" + b"not zstd data" * 8)
    (ws / "thesis").mkdir()
    (ws / "thesis/thesis.txt").write_text("Four years of work.\n")
    (ws / "emptydir").mkdir()
    (ws / "texts.txt").write_text("The [MASK] of the whale.\nCall me [MASK].\n")
    (ws / "link_to_texts.txt").symlink_to("texts.txt")
    (ws / "out").mkdir()
    (ws / "out/fills.jsonl").write_text('{"context": "an earlier run"}\n')
    _write_json(ws / "ds_bad.json", None)
    (ws / "ds_bad.json").write_text("{ not json")
    _write_json(ws / "ds_list.json", [1, 2])
    (ws / "ds_latin1.json").write_bytes(b'{"comment": "caf\xe9"}')
    _write_json(ws / "ds_batch8.json", {"train_micro_batch_size_per_gpu": 8})


def _task_inputs(ws: Path, shared: Path) -> None:
    source = shared / "eval/superglue/COPA"
    (ws / "COPA").mkdir()
    for name in ("train.jsonl", "dev32.jsonl"):
        shutil.copy(source / name, ws / "COPA" / name)
    shutil.copytree(ws / "COPA", ws / "COPA_latin1")
    train = (source / "train.jsonl").read_text(encoding="utf-8")
    (ws / "COPA_latin1/dev32.jsonl").write_bytes(
        (source / "dev32.jsonl").read_text().replace("The", "Th\u00e9").encode("latin-1")
    )
    shutil.copytree(ws / "COPA", ws / "COPA_nolabel")
    first = json.loads(train.splitlines()[0])
    first.pop("label")
    rest = train.splitlines(keepends=True)[1:]
    (ws / "COPA_nolabel/train.jsonl").write_text(json.dumps(first) + "\n" + "".join(rest))
    (ws / "finished/runs/done").mkdir(parents=True)
    _write_json(ws / "finished/runs/done/test_results.json", {"accuracy": 0.5})
    (ws / "cnn").mkdir()
    (ws / "cnn/test.source").write_text("id,article,highlights\n1,An article.,A summary.\n")
    (ws / "cnn/latin1.csv").write_bytes(b"id,article,highlights\n1,Caf\xe9 news.,Caf\xe9.\n")
    (ws / "cnn/nocol.csv").write_text("id,article\n1,An article.\n")
    (ws / "run").mkdir()
    (ws / "run/metrics.jsonl").write_text('{"step": 1, "train/loss": 3.0}\n')
    (ws / "tok").mkdir()
    (ws / "tok/tokenizer.json").write_text("Some text that is an input here.\n")


def build_workspace(ws: Path, shared: Path) -> None:
    """Every input the cases read: text files, a token store built here and damaged copies,
    the tiny BERT checkpoint with its run configuration, its Hugging Face export, task data."""
    from data_utils.preprocess import PreprocessConfig, preprocess
    from data_utils.tokenization import TokenizerConfig
    from interop.hf_export import export_to_hf
    from training.arguments import parse_args

    vocab = str(shared / "vocab")
    _text_inputs(ws, shared)
    _task_inputs(ws, shared)
    tokenizer = TokenizerConfig("BertWordPieceTokenizer", "bert-base-uncased", vocab)
    store = PreprocessConfig(
        inputs=(str(ws / "corpus.txt"),),
        output=str(ws / "store"),
        tokenizer=tokenizer,
        sentence_splitter="tokens",
        progress=False,
    )
    preprocess(store)
    _store_variants(ws)
    run_config = parse_args([*MODEL.format(vocab=vocab).split(), "--seq-length", "256"]).to_dict()
    _checkpoint_variants(ws, shared / "fixtures/reference/checkpoints", run_config)
    _manifest_variants(ws)
    export_to_hf(ws / "ckpt", ws / "hf", tokenizer, 4)
    _hf_variants(ws)
