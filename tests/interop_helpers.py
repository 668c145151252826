"""Shared pieces of the Hugging Face export/import tests: offline mode, fixture exports."""

import os
from pathlib import Path

# Before transformers is imported: never reach for the Hub, load local folders only.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402

from data_utils.tokenization import TokenizerConfig, build_tokenizer  # noqa: E402
from interop.hf_export import export_to_hf  # noqa: E402
from tests.reference import load_tiny_model  # noqa: E402

TOKENIZERS = {
    "gpt2": dict(tokenizer_type="GPT2BPETokenizer", task_mask=True),
    "bert": dict(tokenizer_type="BertWordPieceTokenizer", tokenizer_model_type="bert-base-uncased"),
}


def tokenizer_config(variant: str, vocab_dir: Path, **overrides) -> TokenizerConfig:
    return TokenizerConfig(tokenizer_path=str(vocab_dir), **{**TOKENIZERS[variant], **overrides})


def our_tokenizer(variant: str, vocab_dir: Path):
    return build_tokenizer(tokenizer_config(variant, vocab_dir))


def export_fixture(reference_dir: Path, vocab_dir: Path, variant: str, out: Path, **kwargs):
    """Export checkpoints/glm-tiny-<variant>_MP2 (so the export merges shards)."""
    checkpoint = reference_dir / "checkpoints" / f"glm-tiny-{variant}_MP2"
    return export_to_hf(checkpoint, out, tokenizer_config(variant, vocab_dir), 4, **kwargs)


def hf_load(folder: Path, auto_class: str):
    import transformers

    loaded = getattr(transformers, auto_class).from_pretrained(folder, trust_remote_code=True)
    return loaded if auto_class == "AutoTokenizer" else loaded.eval()


def our_model(reference_dir: Path, variant: str):
    return load_tiny_model(reference_dir, variant, f"glm-tiny-{variant}", parallel_output=False)


@torch.no_grad()
def hf_logits(model, input_ids, position_ids, attention_mask) -> torch.Tensor:
    return model(
        input_ids=input_ids, position_ids=position_ids, attention_mask=attention_mask
    ).logits
