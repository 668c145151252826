"""The JSON of the HTTP API: requests, answers, errors, with the examples shown at ``/docs``.

A request's decoding settings are the generation flags of the command line, by these names
(unset ones take the server's flags): ``max_tokens`` = --out-seq-length, ``min_tokens`` =
--min-tgt-length, the others the flag's own name (``top_k`` = --top-k). Types are strict (no
"5" for 5) and unknown fields are refused, so a misspelt setting is an error, not a default.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

STRICT = ConfigDict(strict=True, extra="forbid")

# JSON field -> the flag whose meaning it has (GenerationConfig's messages name the flags).
FIELD_FLAGS = {
    "max_tokens": "--out-seq-length",
    "temperature": "--temperature",
    "top_k": "--top-k",
    "top_p": "--top-p",
    "num_beams": "--num-beams",
    "length_penalty": "--length-penalty",
    "no_repeat_ngram_size": "--no-repeat-ngram-size",
    "min_tokens": "--min-tgt-length",
    "seed": "--seed",
}


def _number(description: str) -> object:
    return Field(None, description=description, allow_inf_nan=False)


class FillRequest(BaseModel):
    model_config = ConfigDict(
        **STRICT,
        json_schema_extra={
            "examples": [{"text": "The capital of France is [MASK].", "top_k": 1}],
        },
    )

    text: str = Field(
        description="Text with [MASK] (a short span), [sMASK] (a sentence) or [gMASK] (long "
        "text) blanks; without any, [gMASK] is appended."
    )
    stream: bool = Field(False, description="answer with server-sent events as tokens come")
    max_tokens: int | None = Field(None, description="most tokens per blank (--out-seq-length)")
    min_tokens: int | None = Field(None, description="no end before this many (--min-tgt-length)")
    temperature: float | None = _number("sampling temperature (> 0)")
    top_k: int | None = Field(None, description="1 = greedy; k > 1 samples from the k best")
    top_p: float | None = _number("nucleus sampling mass in [0, 1] (0 = off)")
    seed: int | None = Field(None, ge=0, lt=1 << 63, description="seeds the sampling")
    num_beams: int | None = Field(None, description="beam search with this many beams (> 1)")
    length_penalty: float | None = _number("beam score = sum(log p) / length ** penalty")
    no_repeat_ngram_size: int | None = Field(None, description="forbid repeating n-grams")

    def settings(self) -> dict[str, int | float]:
        """The decoding fields this request sets."""
        return {name: value for name in FIELD_FLAGS if (value := getattr(self, name)) is not None}


class Usage(BaseModel):
    context_tokens: int
    generated_tokens: int = Field(description="tokens of the fills answered")
    blanks: int


class Timing(BaseModel):
    queued_s: float = Field(description="from arrival to joining the batch")
    first_token_s: float = Field(description="from arrival to the first generated token")
    total_s: float = Field(description="from arrival to the answer")


class FillResponse(BaseModel):
    text: str = Field(description="the text with each blank replaced by its fill")
    context: str = Field(description="the text as given")
    fills: list[str]
    fill_ids: list[list[int]] = Field(description="token ids per blank (no [sop], no end token)")
    fill_offsets: list[tuple[int, int]] = Field(description="[start, end) of each fill in text")
    ended_by: list[str] = Field(description='per blank: "eop", "eos" or "length"')
    scores: list[float | None] = Field(description="beam search: each fill's score")
    settings: dict[str, int | float] = Field(description="the decoding settings used")
    usage: Usage
    timing: Timing


class FieldError(BaseModel):
    field: str
    message: str


class ErrorResponse(BaseModel):
    error: str = Field(description="what is wrong and how to fix it")
    field: str | None = Field(None, description="the request field at fault")
    errors: list[FieldError] = []


class Health(BaseModel):
    status: str
    running: int
    queued: int
    max_batch_size: int
    max_queue: int
    steps: int
    decoded_tokens: int = Field(description="tokens drawn, one per running request a step")
    completed: int
    cancelled: int
    generated_tokens: int = Field(description="tokens of the fills answered")


FILL_EXAMPLES = {
    "greedy": {
        "summary": "greedy",
        "value": {"text": "The capital of France is [MASK].", "top_k": 1},
    },
    "sampling": {
        "summary": "sampling, seeded",
        "value": {
            "text": "[sMASK] It was established in 1911.",
            "temperature": 0.9,
            "top_k": 40,
            "seed": 7,
            "max_tokens": 32,
        },
    },
    "beam": {
        "summary": "beam search",
        "value": {"text": "Tsinghua University is in [MASK].", "num_beams": 4, "max_tokens": 16},
    },
    "stream": {
        "summary": "streamed (server-sent events)",
        "value": {"text": "Write a story about a robot. [gMASK]", "top_k": 1, "stream": True},
    },
}
