"""From an HTTP request to a job and back: checked settings, the encoded text, the answer.

Everything wrong with a request is found here, before it is queued, and raised as a
``RequestError`` naming the JSON field; a queued job can only fail if decoding itself fails.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass

from model import GLMConfig
from model.blank_filling import (
    BlankInput,
    BlankTokenizer,
    fill_offsets,
    fill_result,
    prepare_blank_input,
)
from model.generation import GenerationConfig, SpanOutput
from serving.config import ServeConfig
from serving.engine import Engine, Job
from serving.schemas import FIELD_FLAGS, FillRequest, FillResponse, Timing, Usage

# A request may use at most this many cache columns per position the model has (its context
# plus every blank's tokens), which bounds the memory one request can take.
COLUMNS_PER_POSITION = 2
GENERATION_FIELDS = {  # JSON field -> GenerationConfig field
    "max_tokens": "out_seq_length",
    "min_tokens": "min_tgt_length",
}


class RequestError(Exception):
    """A request the server cannot take: HTTP ``status``, the JSON ``field`` at fault."""

    def __init__(self, field: str, message: str, status: int = 422):
        super().__init__(message)
        self.field, self.message, self.status = field, message, status


@dataclass(frozen=True)
class ServiceInfo:
    """What ``GET /v1/model`` tells about the model being served."""

    model: GLMConfig
    tokenizer_type: str
    checkpoint: str
    model_parallel_size: int
    device: str
    dtype: str


def _with_field_names(message: str) -> str:
    for name, flag in FIELD_FLAGS.items():
        message = message.replace(flag, name)
    return message


def _field_of(message: str) -> str:
    return next((name for name, flag in FIELD_FLAGS.items() if flag in message), "settings")


class FillService:
    def __init__(
        self,
        engine: Engine,
        tokenizer: BlankTokenizer,
        defaults: GenerationConfig,
        info: ServiceInfo,
        config: ServeConfig,
    ):
        self.engine, self.tokenizer, self.defaults = engine, tokenizer, defaults
        self.info, self.config = info, config
        self.max_positions = info.model.max_sequence_length
        self.max_chars = 64 * self.max_positions  # refused before tokenising

    def decoding_config(self, request: FillRequest) -> GenerationConfig:
        """The server's defaults with the request's settings; errors name the JSON field."""
        values = {GENERATION_FIELDS.get(k, k): v for k, v in request.settings().items()}
        try:
            config = dataclasses.replace(self.defaults, **values)
        except ValueError as error:
            raise RequestError(_field_of(str(error)), _with_field_names(str(error))) from None
        limit = self.defaults.out_seq_length
        if config.out_seq_length > limit:
            raise RequestError(
                "max_tokens",
                f"max_tokens {config.out_seq_length} is above this server's limit {limit} "
                "(its --out-seq-length)",
            )
        if config.num_beams > self.config.max_beams:
            raise RequestError(
                "num_beams", f"num_beams {config.num_beams} is above {self.config.max_beams}"
            )
        return config

    def prepare(self, text: str, config: GenerationConfig) -> BlankInput:
        """The encoded text, checked to fit; errors name ``text`` (or ``max_tokens``)."""
        if len(text) > self.max_chars:
            raise RequestError(
                "text", f"text is {len(text)} characters, more than {self.max_chars}: shorten it"
            )
        try:
            blank = prepare_blank_input(self.tokenizer, text, config, self.max_positions)
        except ValueError as error:
            raise RequestError("text", _with_field_names(str(error))) from None
        columns = len(blank.context_ids) + len(blank.mask_positions) * config.out_seq_length
        if columns > COLUMNS_PER_POSITION * self.max_positions:
            raise RequestError(
                "text",
                f"{len(blank.mask_positions)} blanks of up to {config.out_seq_length} tokens "
                f"after {len(blank.context_ids)} context tokens make {columns} positions, more "
                f"than {COLUMNS_PER_POSITION * self.max_positions}: use fewer blanks or a "
                "lower max_tokens",
            )
        return blank

    def check(self, request: FillRequest) -> tuple[BlankInput, GenerationConfig]:
        """The request's encoded text and decoding settings, or a ``RequestError``."""
        config = self.decoding_config(request)
        return self.prepare(request.text, config), config

    def response(self, job: Job, spans: list[SpanOutput]) -> FillResponse:
        result = fill_result(self.tokenizer, job.blank, spans)
        now = time.perf_counter()
        admitted = job.admitted or now
        return FillResponse(
            text=result.text,
            context=result.context,
            fills=result.fills,
            fill_ids=result.fill_ids,
            fill_offsets=fill_offsets(self.tokenizer, job.blank, result.fills),
            ended_by=result.ended_by,
            scores=result.scores,
            settings=self.settings(job.config),
            usage=Usage(
                context_tokens=len(result.context_ids),
                generated_tokens=sum(len(f) for f in result.fill_ids),
                blanks=len(spans),
            ),
            timing=Timing(
                queued_s=admitted - job.submitted,
                first_token_s=(job.first_token or now) - job.submitted,
                total_s=now - job.submitted,
            ),
        )

    @staticmethod
    def settings(config: GenerationConfig) -> dict[str, int | float]:
        """The decoding settings of a job, by their JSON names."""
        fields = {name: GENERATION_FIELDS.get(name, name) for name in FIELD_FLAGS}
        return {name: getattr(config, field) for name, field in fields.items()}


class StreamText:
    """Turns a job's token events into text as it grows: per blank, the fill so far and what
    the last token added (held back while it ends inside a multi-byte character)."""

    def __init__(self, tokenizer: BlankTokenizer):
        self.tokenizer = tokenizer
        self.ids: dict[int, list[int]] = {}
        self.shown: dict[int, str] = {}

    def add(self, blank: int, token_id: int) -> dict:
        ids = self.ids.setdefault(blank, [])
        ids.append(token_id)
        text = self.tokenizer.decode(ids)
        shown = self.shown.get(blank, "")
        delta = ""
        if not text.endswith("\ufffd") and text.startswith(shown):
            delta, self.shown[blank] = text[len(shown) :], text
        return {"blank": blank, "token_id": token_id, "text": delta, "fill": text}


def sse(event: str, data: dict) -> str:
    """One server-sent event."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
