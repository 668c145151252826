"""GLMConfig: the hyper-parameters of a GLM transformer (the original flag in brackets)."""

from dataclasses import dataclass


def head_size_multiple(two_d: bool) -> int:
    """What a head's size must be a multiple of with rotary positions: each of the 2 (or 1)
    position channels rotates pairs of dimensions (model/rotary.py)."""
    return 4 if two_d else 2


@dataclass(frozen=True)
class GLMConfig:
    num_layers: int = 24  # --num-layers
    vocab_size: int = (
        30592  # padded vocabulary (tokenizer size rounded up, --make-vocab-size-divisible-by)
    )
    hidden_size: int = 1024  # --hidden-size
    num_attention_heads: int = 16  # --num-attention-heads
    intermediate_size: int | None = None  # --intermediate-size; None: 4 * hidden_size (all GLMs)
    max_sequence_length: int = 512  # --max-position-embeddings
    embedding_dropout_prob: float = 0.1  # --hidden-dropout
    attention_dropout_prob: float = 0.1  # --attention-dropout
    output_dropout_prob: float = 0.1  # --hidden-dropout
    block_position_encoding: bool = True  # --block-lm and not --masked-lm: 2-D positions
    # --position-encoding: "absolute" (GLM's learned tables) or "rotary" (no tables: queries and
    # keys rotated by position and, with 2-D positions, half the head by block position)
    position_encoding: str = "absolute"
    checkpoint_activations: bool = False  # --checkpoint-activations
    checkpoint_num_layers: int = 1  # --checkpoint-num-layers
    compile_layers: bool = False  # --compile: torch.compile each transformer layer
    init_method_std: float = 0.02
    layernorm_epsilon: float = 1e-5  # fixed in GLM; --layernorm-epsilon never reached the model
    parallel_output: bool = True  # keep logits vocab-sharded (loss is vocab-parallel)
    output_predict: bool = True  # False: return final hidden states instead of logits
    spell_length: int = 0  # P-tuning prompt tokens (--num-prompt-tokens + --prefix-prompt)
    spell_func: str = "lstm"  # --prompt-func: lstm | mlp | none

    def __post_init__(self) -> None:
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"--hidden-size {self.hidden_size} is not divisible by "
                f"--num-attention-heads {self.num_attention_heads}"
            )
        if self.position_encoding not in ("absolute", "rotary"):
            raise ValueError(
                f"--position-encoding must be absolute or rotary, got {self.position_encoding!r}"
            )
        multiple = head_size_multiple(self.block_position_encoding)
        if self.rotary and self.head_dim % multiple:
            raise ValueError(
                f"--position-encoding rotary needs a head size (hidden / heads = {self.head_dim}) "
                f"divisible by {multiple}"
            )
        if self.spell_func not in ("lstm", "mlp", "none"):
            raise ValueError(f"--prompt-func must be lstm, mlp or none, got {self.spell_func!r}")
        for name in ("num_layers", "vocab_size", "max_sequence_length", "checkpoint_num_layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")

    @property
    def ffn_size(self) -> int:
        return self.intermediate_size or 4 * self.hidden_size

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    @property
    def rotary(self) -> bool:
        return self.position_encoding == "rotary"

    @property
    def position_table_rows(self) -> int:
        """``P + 1`` rows with 2-D positions (row ``P`` serves sentinel spans), else ``P``."""
        return self.max_sequence_length + int(self.block_position_encoding)
