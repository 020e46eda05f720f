"""create_app(platform) -> the ASGI application: /fhir and a small landing page."""

from __future__ import annotations

import contextlib
import gc
import logging
import sys
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tsunagu.bootstrap import Platform, build_platform
from tsunagu.fhir.outcomes import FhirError
from tsunagu.http.authn import authenticate, record_denial
from tsunagu.http.errors import error_response, internal_error
from tsunagu.http.negotiation import FHIR_JSON, FORM, check_format, media_type, parse_body, render
from tsunagu.http.oauth import oauth_routes
from tsunagu.interactions import audit
from tsunagu.interactions.context import FhirRequest
from tsunagu.interactions.router import dispatch
from tsunagu.settings import Settings

log = logging.getLogger("tsunagu.http")
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
# Paths open without authentication, as SMART and the FHIR spec expect.
_PUBLIC = frozenset({"metadata"})


def create_app(platform: Platform) -> Starlette:
    """The ASGI app serving the FHIR API of `platform` under /fhir."""
    settings = platform.settings

    async def fhir(request: Request) -> Response:
        request_id = uuid.uuid4().hex[:16]
        started = time.perf_counter()
        path = request.path_params.get("path", "").strip("/")
        pretty = request.query_params.get("_pretty") == "true"
        head = request.method == "HEAD"
        try:
            response = await _handle(platform, request, path, pretty=pretty)
        except FhirError as error:
            response = error_response(error, pretty=pretty, head=head)
        except Exception as exc:
            response = internal_error(exc, request_id)
        if head:
            response.body = b""
            response.headers["content-length"] = "0"
        response.headers["x-request-id"] = request_id
        # Path only: query strings may carry personal data (names, birth dates).
        log.info(
            "%s /fhir/%s %d %.1fms",
            request.method,
            path,
            response.status_code,
            (time.perf_counter() - started) * 1000,
        )
        return response

    async def landing(request: Request) -> Response:
        return JSONResponse(
            {
                "name": "Tsunagu (つなぐ)",
                "fhir": f"{_base_url(settings, request)}",
                "metadata": f"{_base_url(settings, request)}/metadata",
            }
        )

    routes = [
        Route("/", landing, methods=["GET"]),
        *oauth_routes(platform),
        Route("/fhir", fhir, methods=METHODS),
        Route("/fhir/{path:path}", fhir, methods=METHODS),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        platform.close()

    return Starlette(routes=routes, lifespan=lifespan)


def create_app_from_env() -> Starlette:
    """The app for `uvicorn --factory` (each worker process builds its own platform)."""
    platform = build_platform(Settings())
    platform.registry.warm()  # no request pays for compiling search expressions
    # What start-up built (definitions, compiled extractors) lives as long as the process:
    # moved out of the collector's reach, so a full collection does not walk it again and
    # again in the middle of requests.
    gc.collect()
    gc.freeze()
    # The audit writer thread runs CPU-bound batches beside the request threads; a request
    # waiting for the interpreter lock gets it within 1 ms instead of the default 5 ms.
    sys.setswitchinterval(0.001)
    return create_app(platform)


async def _handle(platform: Platform, request: Request, path: str, *, pretty: bool) -> Response:
    settings = platform.settings
    check_format(request.query_params.get("_format"), request.headers.get("accept"))
    base_url = _base_url(settings, request)
    principal = None
    if not settings.insecure_dev and path not in _PUBLIC:
        try:
            principal = authenticate(platform, request.headers.get("authorization"), base_url)
        except FhirError as error:
            record_denial(platform, base_url, error, path)
            raise
    ctx = platform.context(base_url, audited=True)
    ctx.principal = principal
    # A patient credential (the My Number card's role) presented to $eligibility is a patient
    # access token of this server.
    ctx.verify_credential = lambda token: authenticate(platform, f"Bearer {token}", base_url)
    ctx.client_address = request.client.host if request.client else None
    try:
        raw = await _read_body(request, settings.max_body_bytes)
        body = parse_body(request.method, path, request.headers.get("content-type"), raw)
    except FhirError as error:  # refused before any interaction ran: audited here
        await run_in_threadpool(audit.refused, ctx, FhirRequest(request.method, path), error.status)
        raise
    query = tuple(parse_qsl(request.url.query, keep_blank_values=True))
    if media_type(request.headers.get("content-type")) == FORM and path.endswith("_search"):
        query += tuple(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    fhir_request = FhirRequest(
        method=request.method,
        path=path,
        query=query,
        headers={k.lower(): v for k, v in request.headers.items()},
        body=body,
    )
    result = await run_in_threadpool(dispatch, ctx, fhir_request)
    headers = dict(result.headers)
    if result.resource is None:
        return Response(b"", result.status, headers=headers)
    content = render(result.resource, pretty=pretty)
    return Response(content, result.status, headers=headers, media_type=FHIR_JSON)


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refusing with 413 as soon as it exceeds `limit` (before reading it all)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> FhirError:
    return FhirError.of(
        413,
        "too-long",
        f"リクエストが大きすぎます (上限 {limit:,} バイト) / request body exceeds {limit:,} bytes",
    )


def _base_url(settings: Settings, request: Request) -> str:
    if settings.base_url:
        return settings.base_url.rstrip("/")
    return f"{request.url.scheme}://{request.url.netloc}/fhir"


__all__: list[Any] = ["create_app", "create_app_from_env"]
