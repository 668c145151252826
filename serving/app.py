"""The HTTP API (FastAPI): POST /v1/fill, GET /health, GET /v1/model, the playground at /.

Handlers never decode: they check a request (``FillService``), queue it on the engine and
relay its events, as one JSON answer or as server-sent events (``"stream": true``):
``token`` per generated token, ``blank`` per finished blank, then ``done`` with the whole
answer, or ``error``. A client that disconnects cancels its job, which frees its row before
the next step. Every error is JSON ``{"error", "field", "errors"}``: 422 for a bad request
(the field named), 503 with ``Retry-After`` when the queue is full, 500 if decoding failed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated

from fastapi import Body, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from model.blank_filling import ended_by
from model.generation import SpanOutput
from serving.decoder import FinishEvent, SpanEvent, TokenEvent
from serving.engine import CancelEvent, ErrorEvent, Job, QueueFull
from serving.schemas import FILL_EXAMPLES, ErrorResponse, FillRequest, FillResponse, Health
from serving.service import FillService, RequestError, StreamText, sse

log = logging.getLogger(__name__)
PLAYGROUND = Path(__file__).resolve().parent / "static" / "playground.html"
ERRORS = {
    422: {"model": ErrorResponse, "description": "a bad request: the field and the problem"},
    503: {"model": ErrorResponse, "description": "the queue is full: retry after Retry-After s"},
}
STREAM_DOC = {
    "200": {
        "content": {
            "text/event-stream": {
                "example": 'event: token\ndata: {"blank": 0, "token_id": 6342, "text": " Paris", '
                '"fill": " Paris"}\n\nevent: blank\ndata: {"blank": 0, "fill": " Paris", ...}\n\n'
                'event: done\ndata: {"text": "The capital of France is Paris.", ...}\n\n'
            }
        }
    }
}


def error(status: int, message: str, field: str | None = None, **headers: str) -> JSONResponse:
    body = ErrorResponse(error=message, field=field, errors=[])
    if field is not None:
        body.errors = [{"field": field, "message": message}]
    return JSONResponse(body.model_dump(), status_code=status, headers=headers or None)


def _field(location: tuple) -> str:
    """``("body", "top_k")`` -> ``top_k``; a body that is not a JSON object -> ``body``."""
    parts = [str(p) for p in location[1:] if isinstance(p, str)]
    return ".".join(parts) or "body"


async def bad_request(_: Request, exc: RequestValidationError) -> JSONResponse:
    problems = [(_field(e["loc"]), e["msg"]) for e in exc.errors()]
    body = ErrorResponse(
        error="; ".join(f"{field}: {message}" for field, message in problems),
        field=problems[0][0] if problems else None,
        errors=[{"field": f, "message": m} for f, m in problems],
    )
    return JSONResponse(body.model_dump(), status_code=422)


async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
    return error(exc.status_code, str(exc.detail))


async def internal_error(_: Request, exc: Exception) -> JSONResponse:
    log.exception("request failed", exc_info=exc)
    return error(500, f"internal error: {type(exc).__name__}")


def create_app(service: FillService) -> FastAPI:
    app = FastAPI(
        title="GLM blank filling",
        summary="Fill the [MASK] / [sMASK] / [gMASK] blanks of texts with a GLM.",
        version="1.0",
        exception_handlers={
            RequestValidationError: bad_request,
            HTTPException: http_error,
            Exception: internal_error,
        },
    )
    playground = PLAYGROUND.read_text(encoding="utf-8")
    engine = service.engine

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> str:
        return playground

    @app.get("/health", response_model=Health, responses={503: {"model": Health}})
    async def health() -> JSONResponse:
        """Whether the decoding loop runs, and how busy it is."""
        body = Health(
            status="ok" if engine.alive() else "stopped",
            running=engine.running,
            queued=engine.queued,
            max_batch_size=service.config.max_batch_size,
            max_queue=service.config.max_queue,
            steps=engine.decoder.steps,
            decoded_tokens=engine.decoder.decoded_tokens,
            completed=engine.completed,
            cancelled=engine.cancelled,
            generated_tokens=engine.generated_tokens,
        )
        return JSONResponse(body.model_dump(), status_code=200 if engine.alive() else 503)

    @app.get("/v1/model")
    async def model_info() -> dict:
        """The model, tokenizer, checkpoint and parallelism served, the decoding defaults and
        the limits of a request."""
        info = service.info
        return {
            "model": dataclasses.asdict(info.model),
            "tokenizer": {
                "type": info.tokenizer_type,
                "vocab_size": info.model.vocab_size,
                "blanks": ["[MASK]", "[sMASK]", "[gMASK]"],
            },
            "checkpoint": info.checkpoint,
            "model_parallel_size": info.model_parallel_size,
            "device": info.device,
            "dtype": info.dtype,
            "batching": service.config.batching,
            "defaults": service.settings(service.defaults),
            "limits": {
                "max_tokens": service.defaults.out_seq_length,
                "max_text_chars": service.max_chars,
                "max_positions": service.max_positions,
                "max_beams": service.config.max_beams,
                "max_batch_size": service.config.max_batch_size,
                "max_queue": service.config.max_queue,
            },
        }

    @app.post(
        "/v1/fill",
        response_model=FillResponse,
        responses={**ERRORS, **STREAM_DOC},
    )
    async def fill(
        request: Request,
        body: Annotated[FillRequest, Body(openapi_examples=FILL_EXAMPLES)],
    ):
        """Fill every blank of ``text``, left to right, each fill seeing the earlier ones."""
        try:
            blank, config = await run_in_threadpool(service.check, body)
            job = engine.new_job(blank, config, body.stream)
            engine.submit(job)
        except RequestError as bad:
            return error(bad.status, bad.message, bad.field)
        except QueueFull as full:
            return error(503, str(full), None, **{"Retry-After": str(full.retry_after)})
        if body.stream:
            return StreamingResponse(
                stream(service, job),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )
        return await answer(service, job, request)

    return app


async def answer(service: FillService, job: Job, request: Request) -> JSONResponse:
    """Wait for the job's end; cancel it if the client goes away meanwhile."""
    gone = asyncio.ensure_future(_disconnected(request))
    getter = asyncio.ensure_future(job.events.get())
    try:
        while True:
            await asyncio.wait({getter, gone}, return_when=asyncio.FIRST_COMPLETED)
            if not getter.done():
                service.engine.cancel(job)
                return error(499, "the client closed the request")
            event = getter.result()
            if isinstance(event, FinishEvent):
                return JSONResponse(service.response(job, event.spans).model_dump())
            if isinstance(event, ErrorEvent):
                return error(500, event.message)
            if isinstance(event, CancelEvent):
                return error(499, "the request was cancelled")
            getter = asyncio.ensure_future(job.events.get())
    finally:
        getter.cancel()
        gone.cancel()


async def _disconnected(request: Request) -> None:
    """Returns once the client has closed the connection (the body is already read)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def stream(service: FillService, job: Job) -> AsyncIterator[str]:
    """The job's events as server-sent events; leaving early (the client disconnected)
    cancels the job."""
    text = StreamText(service.tokenizer)
    announced = set()
    finished = False
    try:
        while True:
            event = await job.events.get()
            if isinstance(event, TokenEvent):
                yield sse("token", text.add(event.blank, event.token_id))
            elif isinstance(event, SpanEvent):
                announced.add(event.blank)
                yield sse("blank", _blank(service, event.blank, event.span))
            elif isinstance(event, FinishEvent):
                finished = True
                for j, span in enumerate(event.spans):  # beam search: no token events
                    if j not in announced:
                        yield sse("blank", _blank(service, j, span))
                yield sse("done", service.response(job, event.spans).model_dump())
                return
            else:
                finished = True
                message = getattr(event, "message", "the request was cancelled")
                yield sse("error", {"error": message})
                return
    finally:
        if not finished:
            service.engine.cancel(job)


def _blank(service: FillService, index: int, span: SpanOutput) -> dict:
    tokenizer = service.tokenizer
    return {
        "blank": index,
        "fill": tokenizer.decode(span.ids),
        "fill_ids": span.ids,
        "ended_by": ended_by(tokenizer, span),
    }
