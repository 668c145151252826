"""The flag table: every GLM flag (original names and defaults) plus this project's additions.

Three kinds of flags, each listed once:

- ``FLAG_GROUPS``: flags that work. The group is the ``GLMArgs`` section the value lands in
  (``--lr`` -> ``args.optim.lr``); a flag belongs to exactly one section.
- ``COMPATIBILITY_FLAGS``: accepted so that GLM's configs and launch commands keep running, but
  with nothing to do here (the reason says why). Setting one prints one warning line; its value
  lands in no section.
- ``UNSUPPORTED_FLAGS``: features of the original that are not implemented here; setting one
  is an error with the reason.

Kept apart from ``training/arguments.py`` so the table reads as data.
"""

from __future__ import annotations

from data_utils.tokenization import TOKENIZER_TYPES


def _value(name: str, kind, default, help_: str, **extra):
    return ((name,), dict(type=kind, default=default, help=help_, **extra))


def _switch(name: str, help_: str):
    return ((name,), dict(action="store_true", help=help_))


def _list(name: str, help_: str):
    return ((name,), dict(nargs="+", default=None, help=help_))


GROUP_TITLES = {
    "model": "model",
    "tokenizer": "tokenizer",
    "masking": "blank infilling",
    "data": "data",
    "optim": "optimization",
    "schedule": "learning-rate schedule",
    "train": "training",
    "parallel": "parallelism",
    "checkpoint": "checkpointing",
    "log": "logging",
    "generation": "generation",
    "task": "finetuning and evaluation",
}

FLAG_GROUPS: dict[str, list] = {
    "model": [
        _value("--num-layers", int, 24, "transformer layers"),
        _value("--hidden-size", int, 1024, "hidden size"),
        _value("--num-attention-heads", int, 16, "attention heads"),
        _value("--intermediate-size", int, None, "MLP width (default 4 * hidden size)"),
        _value("--max-position-embeddings", int, 512, "rows of the position tables (P)"),
        _value("--hidden-dropout", float, 0.1, "dropout on embeddings and residual branches"),
        _value("--attention-dropout", float, 0.1, "dropout on attention probabilities"),
        _value("--output-dropout", float, 0.1, "dropout in the classification head"),
        _value("--layernorm-epsilon", float, 1e-5, "LayerNorm epsilon"),
        _switch("--checkpoint-activations", "recompute layer activations in backward"),
        _value("--checkpoint-num-layers", int, 1, "layers per checkpointed chunk"),
        _switch("--compile", "torch.compile each transformer layer (see docs/performance.md)"),
        _switch("--block-lm", "GLM blank infilling (2-D positions, sop/eop tokens)"),
        _switch("--masked-lm", "BERT-style masked LM baseline (1-D positions)"),
        _value(
            "--position-encoding",
            str,
            "absolute",
            "absolute: GLM's learned position tables (released models); rotary: rotate queries "
            "and keys by position and block position, no tables (see model/rotary.py)",
            choices=("absolute", "rotary"),
        ),
        _value("--make-vocab-size-divisible-by", int, 128, "pad the vocabulary to a multiple"),
    ],
    "tokenizer": [
        _value(
            "--tokenizer-type", str, "BertWordPieceTokenizer", "tokenizer", choices=TOKENIZER_TYPES
        ),
        _value(
            "--tokenizer-model-type",
            str,
            None,
            "bert-base-uncased, bert-large-uncased, gpt2, roberta",
        ),
        _value(
            "--tokenizer-path",
            str,
            None,
            "folder with the vocab files (default: $GLM_TOKENIZER_PATH)",
        ),
        _switch("--task-mask", "add [gMASK] and [sMASK]"),
        _switch("--fix-command-token", "ChineseSPTokenizer: give [gMASK] its own id"),
    ],
    "masking": [
        _value("--bert-prob", float, 0.5, "probability of token-span (bert) batches"),
        _value("--gpt-infill-prob", float, 0.5, "gpt mode: probability of suffix generation"),
        _value("--gpt-min-ratio", float, 0.5, "gpt mode: minimum generated fraction"),
        _value("--gap-sentence-prob", float, 0.0, "probability of sentence-span batches"),
        _value("--gap-sentence-ratio", float, 0.15, "fraction of tokens in sentence spans"),
        _value("--avg-block-length", float, 3, "Poisson mean of token-span lengths"),
        _value("--short-seq-prob", float, 0.0, "probability of splitting into short samples"),
        _value("--single-span-prob", float, 0.0, "probability of a single token span"),
        _switch("--no-shuffle-block", "generate spans left to right"),
        _switch("--no-block-position", "collapse block positions to 0 / 1"),
        _switch("--sentinel-token", "per-span sentinel tokens (BERT tokenizer)"),
        _value("--block-mask-prob", float, 0.0, "replace span inputs by [dBLOCK]"),
        _value("--context-mask-ratio", float, 0.0, "replace context near spans by [dBLOCK]"),
        _switch("--random-position", "random offset of Part A positions"),
    ],
    "data": [
        _list("--train-data", "corpora (registry names, files or globs) or token stores"),
        _list("--valid-data", "validation data"),
        _list("--test-data", "test data"),
        _value("--data-dir", str, None, "task data folder"),
        _value("--split", str, "1000,1,1", "train,valid,test document proportions"),
        _value("--seq-length", int, 512, "tokens per sample"),
        _switch("--shuffle", "shuffle samples"),
        _value("--num-workers", int, 2, "data loader workers"),
        _value(
            "--non-sentence-start", float, 0.0, "probability a sample need not start a sentence"
        ),
        _switch("--sample-one-document", "one document per sample"),
        _value("--overlapping-eval", int, 32, "LM evaluation window stride"),
    ],
    "optim": [
        _value(
            "--optimizer", str, "adam", "adam (AdamW) or adafactor", choices=("adam", "adafactor")
        ),
        _value("--lr", float, 1e-4, "peak learning rate"),
        _value("--weight-decay", float, 0.01, "weight decay (not on biases or LayerNorm)"),
        _value("--adam-beta1", float, 0.9, "Adam beta1"),
        _value("--adam-beta2", float, 0.999, "Adam beta2"),
        _value("--adam-eps", float, 1e-8, "Adam epsilon"),
        _value("--clip-grad", float, 1.0, "gradient clipping norm (0: off)"),
        _switch("--fp16", "fp16 with dynamic loss scaling"),
        _switch("--bf16", "bfloat16"),
        _value("--loss-scale", float, None, "static loss scale (default dynamic)"),
        _value(
            "--loss-scale-window", float, 1000, "steps without overflow before raising the scale"
        ),
        _value("--hysteresis", int, 2, "overflows tolerated before lowering the scale"),
        _value("--min-scale", float, 1, "minimum loss scale"),
        _switch("--cpu-optimizer", "optimizer states on the CPU (ZeRO offload)"),
    ],
    "schedule": [
        _value(
            "--lr-decay-style",
            str,
            "linear",
            "learning-rate decay",
            choices=("constant", "linear", "cosine", "exponential"),
        ),
        _value("--lr-decay-iters", int, None, "decay horizon (default --train-iters)"),
        _value("--lr-decay-ratio", float, 0.1, "final learning rate / peak"),
        _value("--warmup", float, 0.01, "warmup as a fraction of the decay horizon"),
        _switch("--switch-linear", "on resume, decay linearly from the current rate to 0"),
    ],
    "train": [
        _value("--batch-size", int, 4, "micro-batch size per data-parallel rank"),
        _value("--gradient-accumulation-steps", int, 1, "micro-batches per optimizer step"),
        _value("--train-iters", int, 0, "optimizer steps"),
        _value("--epochs", int, None, "finetuning epochs"),
        _value("--seed", int, 1234, "random seed"),
        _value("--eval-batch-size", int, None, "evaluation batch size (default --batch-size)"),
        _value("--eval-iters", int, 100, "validation batches per evaluation"),
        _value("--eval-interval", int, 1000, "steps between evaluations"),
        _value("--eval-epoch", int, 1, "epochs between finetuning evaluations"),
        _value("--max-bad-steps", int, 3, "stop after this many consecutive non-finite losses"),
    ],
    "parallel": [
        _value("--model-parallel-size", int, 1, "tensor-parallel size"),
        _value(
            "--distributed-backend",
            str,
            None,
            "nccl or gloo (default: nccl on GPU, gloo on CPU)",
            choices=("nccl", "gloo"),
        ),
        _value("--local_rank", int, None, "set by launchers"),
        _value("--deepspeed_config", str, None, "DeepSpeed JSON"),
        _value("--zero-stage", int, 0, "ZeRO stage when no DeepSpeed JSON sets it"),
        _switch("--cpu-offload", "ZeRO optimizer offload to CPU"),
    ],
    "checkpoint": [
        _value("--save", str, None, "save folder"),
        _value("--load", str, None, "resume from this checkpoint folder"),
        _value("--load-pretrained", str, None, "load model weights only (finetuning, generation)"),
        _value("--save-interval", int, 5000, "steps between checkpoints"),
        _value("--save-epoch", int, 1, "epochs between finetuning checkpoints"),
        _value("--keep-last-n", int, None, "keep only the newest N checkpoints"),
        _switch("--no-save-optim", "do not save optimizer state"),
        _switch("--no-save-rng", "do not save RNG state"),
        _switch("--no-load-optim", "do not load optimizer state"),
        _switch("--no-load-rng", "do not load RNG state"),
        _switch("--no-load-lr-scheduler", "restart the learning-rate schedule"),
        _switch("--no-deepspeed-load", "load a plain model checkpoint into a DeepSpeed run"),
        _switch("--finetune", "load weights only and start at iteration 0"),
        _switch("--new-save-directory", "new experiment folder even when resuming"),
        _switch(
            "--no-verify-checkpoint",
            "skip the SHA-256 pass over checkpoint shards (huge files; sizes are still checked)",
        ),
    ],
    "log": [
        _value("--experiment-name", str, "glm", "run name (save and log folders)"),
        _value("--log-interval", int, 100, "steps between log lines"),
        _value("--summary-dir", str, "", "folder for TensorBoard runs and metrics"),
    ],
    "generation": [
        _value("--temperature", float, 1.0, "sampling temperature"),
        _value("--top-p", float, 0.0, "nucleus sampling threshold (0: off)"),
        _value("--top-k", int, 0, "top-k sampling (0: off, 1: greedy)"),
        _value("--out-seq-length", int, 256, "tokens generated per blank at most"),
        _value("--num-beams", int, 1, "beam size"),
        _value("--length-penalty", float, 0.0, "beam score = sum logp / length ** penalty"),
        _value("--no-repeat-ngram-size", int, 0, "forbid repeating n-grams"),
        _value("--min-tgt-length", int, 0, "minimum generated length"),
        _value("--blank-maskratio", float, 0.1, "masked word ratio for the blank task"),
        _value("--input-file", str, None, "batch mode: one text per line"),
        _value("--output-file", str, None, "batch mode: JSON lines output"),
    ],
    "task": [
        _value("--label-smoothing", float, 0.0, "label smoothing (seq2seq)"),
        _value("--task", str, None, "task name"),
        _value(
            "--pool-token", str, "cls", "classification pooling", choices=("start", "pad", "cls")
        ),
        _switch("--cloze-eval", "cloze-style scoring"),
        _value("--segment-length", int, 0, "split long answers into segments"),
        _value(
            "--loss-func",
            str,
            "cross_entropy",
            "finetuning loss",
            choices=("cross_entropy", "hinge", "generative", "mix"),
        ),
        _value("--block-lm-ratio", float, 0.0, "blank-infilling co-training ratio"),
        _switch("--adapet", "ADAPET-style loss"),
        _value("--pattern-id", int, 0, "pattern of the task"),
        _switch("--fast-decode", "encode the context once for all choices"),
        _switch("--few-superglue", "FewGLUE file naming"),
        _switch("--eval-valid", "evaluate on the validation set at the end"),
        _value("--validation-metric", str, None, "metric that selects the best checkpoint"),
        _switch("--unidirectional", "left-to-right LM evaluation"),
        _value("--src-seq-length", int, None, "seq2seq source length"),
        _value("--tgt-seq-length", int, None, "seq2seq target length"),
        _switch("--wsc-negative", "WSC with negative candidates"),
        _switch("--overwrite", "overwrite existing results"),
        _switch("--no-validation", "skip validation"),
        _switch("--continuous-prompt", "P-tuning"),
        _value("--num-prompt-tokens", int, 0, "P-tuning prompt tokens"),
        _value("--prompt-func", str, "lstm", "prompt encoder", choices=("lstm", "mlp", "none")),
        _switch("--freeze-transformer", "train only prompts and heads"),
        _value(
            "--tune-prefix-layers", int, None, "with --freeze-transformer, train the first N layers"
        ),
        _value("--prefix-prompt", int, 0, "prompt tokens at the start"),
        _switch("--prompt-init", "initialise prompts from word embeddings"),
        _switch("--mask-pad-token", "hide padding from attention (customization task)"),
        _switch(
            "--legacy-lm-denominator",
            "LM eval: divide by all tokens - 1 and words - 1 of the file, as GLM reported",
        ),
        _switch(
            "--legacy-source-padding",
            "seq2seq: pad sources inside Part A and attend to the padding, as GLM trained",
        ),
    ],
}


# flag -> (argparse kind, why it has nothing to do here). "switch" flags take no value.
COMPATIBILITY_FLAGS: dict[str, tuple[object, str]] = {
    "--vocab-size": (int, "the tokenizer sets the vocabulary size"),
    "--deep-init": ("switch", "the scaled output-layer init is always on"),
    "--attention-scale": (
        float,
        "GLM's fp16 range trick leaves the softmax unchanged; the attention kernels here keep "
        "fp16 scores in range themselves",
    ),
    "--mem-length": (int, "decoding keeps a KV cache instead of Transformer-XL memories"),
    "--text-key": (str, "pass it to scripts/preprocess_data.py, which reads the corpus"),
    "--eval-text-key": (str, "pass it to scripts/preprocess_data.py, which reads the corpus"),
    "--filter-english": (
        "switch",
        "no language filtering while training: keep non-English text out of the corpus given to "
        "scripts/preprocess_data.py",
    ),
    "--loader-scatter": (int, "token stores are memory-mapped; every rank reads the whole store"),
    "--no-pre-tokenize": ("switch", "corpora are always tokenized by scripts/preprocess_data.py"),
    "--cache-dir": (str, "token stores are the cache: --train-data names them"),
    "--eval-seq-length": (int, "validation batches use --seq-length"),
    "--eval-max-preds-per-seq": (int, "used by the BERT baseline only"),
    "--max-preds-per-seq": (int, "used by the BERT baseline only"),
    "--input-data-sizes-file": (str, "used by the original's legacy loaders only"),
    "--delim": (str, "CSV corpora are not read; scripts/preprocess_data.py reads JSON and text"),
    "--loose-json": ("switch", "scripts/preprocess_data.py reads JSON lines and JSON alike"),
    "--presplit-sentences": ("switch", "sentences are split by scripts/preprocess_data.py"),
    "--no-lazy-loader": ("switch", "token stores are memory-mapped"),
    "--half-lazy-loader": ("switch", "token stores are memory-mapped"),
    "--cpu_torch_adam": ("switch", "the optimizer is always torch.optim.AdamW"),
    "--fp32-embedding": ("switch", "used by the BERT baseline only"),
    "--fp32-layernorm": ("switch", "used by the BERT baseline only"),
    "--fp32-tokentypes": ("switch", "used by the BERT baseline only"),
    "--fp32-allreduce": ("switch", "DeepSpeed chooses the all-reduce precision"),
    "--resume-dataloader": ("switch", "data always resumes exactly where the checkpoint stopped"),
    "--reset-position-ids": ("switch", "used by the GPT-2 baseline only"),
    "--reset-attention-mask": ("switch", "used by the GPT-2 baseline only"),
    "--deepspeed": ("switch", "training always runs on DeepSpeed"),
    "--DDP-impl": (str, "data parallelism is DeepSpeed's"),
    "--select-topk": ("switch", "beam search always keeps the top 2k candidates"),
    "--multi-token": ("switch", "the task decides whether its answers are multi-token"),
    "--deepspeed-activation-checkpointing": (
        "switch",
        "activation checkpointing is --checkpoint-activations (torch.utils.checkpoint)",
    ),
}

# flag -> (argparse kind, reason). Setting one is an error naming the reason.
UNSUPPORTED_FLAGS: dict[str, tuple[object, str]] = {
    "--transformer-xl": (
        "switch",
        "the relative-position variant is legacy and no released GLM uses it",
    ),
    "--pretrained-bert": (
        "switch",
        "the Hugging Face BERT baseline is not part of this implementation",
    ),
    "--use-tfrecords": (
        "switch",
        "TFRecord input was never shipped; preprocess into a token store instead",
    ),
    "--encoder-decoder": (
        "switch",
        "GLM never built or trained that model; GLM's blank infilling uses one shared encoder",
    ),
    "--multi-task-data": (
        "list",
        "multi-task pretraining is not implemented; finetune on the tasks with finetune_glm.py",
    ),
    "--multi-task-ratio": (float, "multi-task pretraining is not implemented"),
    "--multi-seq-length": (int, "multi-task pretraining is not implemented"),
    "--multi-batch-size": (int, "multi-task pretraining is not implemented"),
    "--load-splits": (
        str,
        "document splits are a pure function of --split and --seed: pass the same values",
    ),
    "--save-splits": (
        str,
        "document splits are a pure function of --split and --seed: pass the same values",
    ),
    "--save-test-data": (str, "test documents are not dumped; read the token store instead"),
    "--deepspeed_mpi": (
        "switch",
        "launch with torchrun or the deepspeed launcher, which set RANK and WORLD_SIZE",
    ),
}


def passive_flag(name: str, kind: object, help_: str):
    """The argparse entry of a compatibility or unsupported flag (default: not set)."""
    if kind == "switch":
        return _switch(name, help_)
    if kind == "list":
        return _list(name, help_)
    return _value(name, kind, None, help_)
