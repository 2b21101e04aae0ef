"""The REST API (``qa serve``): JSON endpoints under ``/v1`` and the chat at ``/``, in one FastAPI app.

Every error is ``{"error": "one line"}`` with its status: 400 for bad input (and any other ``QAError``),
401 without the bearer token, 404 for an unknown doc_id or endpoint, 405 for a wrong method, 413 for a
body over its limit, 503 while there is no index yet or another writer holds it, and 500 with a
generic line (the traceback goes to the server's log, never to the caller). OpenAPI docs: ``/docs``.

No ``from __future__ import annotations`` here: FastAPI reads the endpoints' annotations at runtime.
"""

import hmac
import sys
from typing import Any, Awaitable, Callable, NoReturn

import gradio as gr
import uvicorn
from fastapi import APIRouter, Depends, FastAPI, File, HTTPException, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from index import IndexLockedError, IndexNotFoundError, QAError
from qa import QA
from ui.app import CSS, build_app, parse_auth, warn_if_exposed
from ui.service import DEFAULT_MAX_UPLOAD_BYTES, MAX_TURNS, Service, UnknownArticleError, check_token, report_to_dict

MAX_JSON_BYTES = 1_000_000
DEFAULT_MAX_UPLOAD_BODY_BYTES = 100_000_000
# QAErrors with a status of their own; every other one is 400, something the caller sent
_STATUS: tuple[tuple[type[QAError], int], ...] = ((UnknownArticleError, 404), (IndexNotFoundError, 503),
                                                  (IndexLockedError, 503))


class AskRequest(BaseModel):
    """The body of ``POST /v1/ask``."""

    model_config = ConfigDict(extra="forbid")

    question: StrictStr = Field(description="the question, at most 2,000 characters by default",
                                examples=["Who is the Kremlin spokesman?"])
    history: list[tuple[StrictStr, StrictStr | None]] = Field(
        default_factory=list, max_length=MAX_TURNS,
        description="earlier turns, oldest first: [question, answer or null], as the previous answers' "
                    "rewritten_question (or question) and answer", examples=[[]])
    k: StrictInt | None = Field(default=None, description="passages to read (default: the server's -k)")


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """``{"error": message}`` with ``status``; the message is put on one line."""
    return JSONResponse({"error": " ".join(message.split()) or "error"}, status_code=status, headers=headers)


def qa_error_status(exc: QAError) -> int:
    """The HTTP status of a library error: 404, 503, or 400 for everything the caller can fix."""
    return next((status for kind, status in _STATUS if isinstance(exc, kind)), 400)


class BodyLimit:
    """ASGI middleware: a 413 JSON error for a body over its limit, whether declared or streamed.

    ``limit(scope)`` gives the limit in bytes, or None for no limit (the chat's routes, which Gradio limits).
    """

    def __init__(self, app: ASGIApp, limit: Callable[[Scope], int | None]) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.limit(scope) if scope["type"] == "http" else None
        if limit is None:
            return await self.app(scope, receive, send)
        too_large = HTTPException(413, f"the request body is over the limit of {limit:,} bytes")
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            return await error_response(413, str(too_large.detail))(scope, receive, send)
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                raise too_large  # FastAPI passes an HTTPException from reading the body on to its handler
            return message

        await self.app(scope, limited, send)


def _validation_message(exc: RequestValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path"))
    if first.get("type") == "json_invalid":
        return f"the body is not valid JSON ({first.get('ctx', {}).get('error', 'decode error')})"
    if tuple(first.get("loc", ())) == ("body",):
        return f"the body must be a JSON object sent as application/json ({first.get('msg', 'invalid')})"
    return f"{where or 'body'}: {first.get('msg', 'invalid')}"


def _add_error_handlers(app: FastAPI) -> None:
    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        message = exc.detail if isinstance(exc.detail, str) else "error"
        return error_response(exc.status_code, message, exc.headers)

    async def invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return error_response(400, _validation_message(exc))

    async def qa_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, QAError)
        return error_response(qa_error_status(exc), str(exc))

    async def crash(request: Request, exc: Exception) -> JSONResponse:
        # Starlette raises the exception again after this response, so the server's log gets the traceback
        return error_response(500, "internal server error (the server's log has the details)")

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(QAError, qa_error)
    app.add_exception_handler(Exception, crash)


def _token_check(token: str) -> Callable[..., Awaitable[None]]:
    """A dependency that refuses requests without ``Authorization: Bearer <token>`` (401)."""
    bearer = HTTPBearer(auto_error=False, description="the token given to qa serve --token")
    expected = token.encode("ascii")

    async def check(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        # header values arrive decoded as Latin-1: encoding them back gives the bytes that were sent
        given = credentials.credentials.encode("latin-1", "replace") if credentials else b""
        if credentials is None or not hmac.compare_digest(given, expected):
            raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})

    return check


def _v1_router(service: Service, token: str | None) -> APIRouter:
    v1 = APIRouter(prefix="/v1", dependencies=[Depends(_token_check(token))] if token is not None else [])

    @v1.post("/ask", summary="Answer a question, with citations")
    def ask(body: AskRequest) -> dict[str, Any]:
        """The same JSON as ``qa ask --json``; ``history`` makes follow-ups understood."""
        return service.ask(body.question, history=body.history, k=body.k)

    @v1.get("/search", summary="The passages that best match a query")
    def search(q: str = Query(description="the query"),
               k: int | None = Query(None, description="passages to return (default: the server's -k)"),
               ) -> list[dict[str, Any]]:
        """Passages (doc_id, title, date, source, start, end, text, score), best first."""
        return service.search(q, k)

    @v1.get("/articles", summary="The indexed articles")
    def articles() -> list[dict[str, Any]]:
        """As ``qa list --json``: doc_id, title, date, source and chunk count of every article."""
        return service.articles()

    @v1.post("/articles", summary="Add article files to the index")
    def add(files: list[UploadFile] = File(description=".txt .md .html .htm .jsonl files")) -> dict[str, Any]:
        """The chat's upload rules: each file up to the upload limit; bad files are skipped with a warning."""
        report = service.add([(upload.filename or "upload", lambda upload=upload: upload.file) for upload in files])
        return report_to_dict(report)

    @v1.delete("/articles/{doc_id}", summary="Remove an article")
    def remove(doc_id: str) -> dict[str, str]:
        """Remove the article; 404 where no article has that id."""
        service.remove(doc_id)
        return {"removed": doc_id}

    @v1.api_route("/{path:path}", methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
                  include_in_schema=False, response_model=None)
    def unknown(request: Request, path: str) -> NoReturn:
        allowed = sorted({method for route in v1.routes if isinstance(route, APIRoute) and route.endpoint is not unknown
                          and route.path_regex.match(request.url.path) for method in route.methods})
        if allowed:
            raise HTTPException(405, f"{request.method} is not allowed on {request.url.path}",
                                headers={"Allow": ", ".join(allowed)})
        raise HTTPException(404, f"no endpoint {request.url.path}")

    return v1


def create_app(service: Service, *, token: str | None = None, auth: str | None = None, chat: bool = True,
               max_upload_body_bytes: int = DEFAULT_MAX_UPLOAD_BODY_BYTES) -> FastAPI:
    """The REST API over ``service``, with the chat mounted at ``/`` where ``chat`` (behind ``auth``, user:password).

    ``token``, where given, is required as ``Authorization: Bearer <token>`` on every ``/v1`` endpoint.
    Bodies are limited to 1 MB, uploads to ``max_upload_body_bytes`` in all. Raises QAError for a token
    that cannot be sent in a header (see ``check_token``) or a malformed ``auth``.

    Example:
        >>> uvicorn.run(create_app(Service(QA(Index("qa-index"))), token="s3cret"), port=8000)
    """
    if token is not None:
        check_token(token)
    credentials = parse_auth(auth)
    app = FastAPI(title="News QA", summary="Extractive answers with exact citations from your news articles.",
                  docs_url="/docs", redoc_url=None)
    _add_error_handlers(app)

    @app.get("/healthz", summary="Liveness check (no token needed)")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.include_router(_v1_router(service, token))

    def limit(scope: Scope) -> int | None:
        path = scope["path"]
        if path == "/v1/articles" and scope["method"] == "POST":
            return max_upload_body_bytes
        return MAX_JSON_BYTES if path == "/v1" or path.startswith("/v1/") else None

    app.add_middleware(BodyLimit, limit=limit)
    if chat:
        blocks = build_app(service.qa, service=service)
        blocks.queue(default_concurrency_limit=1)
        app = gr.mount_gradio_app(app, blocks, path="/", auth=credentials, max_file_size=service.max_upload_bytes,
                                  show_error=False, ssr_mode=False, css=CSS)
    return app


def serve(qa: QA, *, host: str = "127.0.0.1", port: int = 8000, token: str | None = None, auth: str | None = None,
          max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES) -> None:
    """Serve the REST API and the chat on ``host:port`` until stopped; warns on stderr for a host other than loopback.

    Example:
        >>> serve(QA(Index("qa-index")), port=8000, token="s3cret")
    """
    app = create_app(Service(qa, max_upload_bytes=max_upload_bytes), token=token, auth=auth)
    unprotected = [flag for flag, given in (("--token TOKEN", token), ("--auth user:password", auth)) if not given]
    warn_if_exposed(host, "the server", unprotected)
    url = f"http://{f'[{host}]' if ':' in host else host}:{port}"
    print(f"News QA: chat at {url}/, REST API at {url}/v1 (docs at {url}/docs)", file=sys.stderr)
    uvicorn.run(app, host=host, port=port, log_level="warning")
