"""The FastAPI app: one page, a JSON API, and server-sent events for progress.

Routes (all errors are JSON ``{"error": message, "status": code}``):

- ``GET /`` the page; ``/static/*`` its script and styles (package data, no build step)
- ``GET /api/config`` presets, choices, defaults and limits for the form
- ``POST /api/jobs`` multipart: ``content`` (one image), ``style`` (one or more images),
  ``options`` (JSON object, see :mod:`painterly.server.params`) -> 201 and the job
- ``GET /api/jobs``, ``GET /api/jobs/{id}``, ``.../events`` (``text/event-stream``), ``POST .../cancel``,
  ``.../retry`` (an ``interrupted`` job, :mod:`.jobs`), ``.../again`` (a finished one, its kept inputs)
- ``GET /api/jobs/{id}/preview.jpg``, ``.../result.png`` (``?download=1`` to save),
  ``.../sheet.png``, ``.../thumb.jpg``
- ``GET /api/gallery`` finished results kept in the output folder, newest first
- ``GET /api/openapi.json`` the contract (:mod:`.contract`): every route's body, statuses and models

``POST /api/jobs`` takes an ``Idempotency-Key`` header (:mod:`.keys`); a 503 has ``Retry-After``, a 405 ``Allow``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import Message, Receive

from .. import __version__
from ..errors import ConfigError, ImageError
from ..objective import style_long_edge
from . import contract
from .contract import errors, image
from .guard import Guard, check_token
from .job import RESULT_FILES, Job, JobFinished, JobStatus, KeyInFlight, KeyReused, QueueFull, UnknownJob
from .jobs import JobManager
from .keys import KEY_PATTERN
from .params import Limits, again_size, build_config, public_config
from .store import StoreError
from .uploads import Upload, UploadError, decode_upload, formats

log = logging.getLogger("painterly.server")
STATIC_DIR = Path(__file__).with_name("static")


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.headers = headers


class _TooLarge(Exception):
    pass


def create_app(
    output_dir: str | os.PathLike[str],
    *,
    token: str | None = None,
    allowed_hosts: Iterable[str] | None = None,
    limits: Limits | None = None,
    preview_interval: float = 0.5,
) -> FastAPI:
    """Build the app around a :class:`JobManager` for ``output_dir`` (created if missing).

    ``preview_interval``: least seconds between preview images (every scale's last
    iteration always sends one). The worker thread starts with the first job (at once when
    the folder holds jobs accepted before a restart) and stops when the app shuts down,
    leaving unfinished jobs in the folder for the next start.
    """
    check_token(token)
    limits = limits or Limits()
    manager = JobManager(output_dir, preview_interval=preview_interval, max_queue=limits.max_queue)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await run_in_threadpool(manager.close)

    app = FastAPI(title="painterly", version=__version__, lifespan=lifespan,
                  docs_url=None, redoc_url=None, openapi_url="/api/openapi.json")  # docs UIs load from a CDN
    app.state.manager = manager
    app.state.limits = limits
    _add_error_handlers(app)
    common = (401,) * (token is not None) + (400,) * (allowed_hosts is not None) + (500,)
    _add_routes(app, manager, limits, common)
    contract.install(app, limits, token=token is not None)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(Guard, token=token, allowed_hosts=allowed_hosts)
    return app


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message, "status": status}, status_code=status, headers=headers)


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _error(exc.status, str(exc), exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = str(exc.detail)
        if exc.status_code == 404:
            message = _not_found(request)
        elif exc.status_code == 400:
            message = f"malformed request: {exc.detail}"
        headers = exc.headers
        if exc.status_code == 405:  # Starlette's Allow names the first route of the path only
            headers = {**(headers or {}), "Allow": ", ".join(_allowed(request))}
        return _error(exc.status_code, message, headers)

    @app.exception_handler(ConfigError)
    @app.exception_handler(ImageError)
    async def unpaintable(request: Request, exc: ConfigError | ImageError) -> JSONResponse:
        """422: the options, or the images with them, cannot be painted (params', painterly.plan.prepare's checks)."""
        return _error(422, exc.named(exc.option) if isinstance(exc, ConfigError) and exc.option else str(exc))

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return _error(500, f"internal error ({type(exc).__name__}); the server's log has the details")

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = [f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'request'}: {e.get('msg')}" for e in exc.errors()]
        return _error(422, "; ".join(parts))


def _not_found(request: Request) -> str:
    """What a 404 of the router says: the job's files (no route, so that GET .../cancel is a 405), or the path."""
    parts = request.url.path.split("/")
    if len(parts) == 5 and parts[1:3] == ["api", "jobs"]:
        try:
            _job(request, parts[3])
        except ApiError as e:
            return str(e)
        return f"no file {parts[4][:60]!r}; files are {', '.join(RESULT_FILES)}"
    return f"nothing at {request.url.path}"


def _allowed(request: Request) -> list[str]:
    """The methods of every route at the request's path."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        if route.matches(request.scope)[0] is not Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    return sorted(methods)


def _job(request: Request, job_id: str) -> Job:
    try:
        return request.app.state.manager.get(job_id)  # type: ignore[no-any-return]
    except UnknownJob:
        raise ApiError(404, f"unknown job {job_id[:40]!r}") from None


JobDep = Annotated[Job, Depends(_job)]


def _add_routes(app: FastAPI, manager: JobManager, limits: Limits, common: tuple[int, ...]) -> None:
    _add_job_routes(app, manager, limits, common)
    _add_again_route(app, manager, limits, common)
    _add_file_routes(app, manager, common)


def _busy(manager: JobManager, e: Exception) -> ApiError:
    return ApiError(503, str(e), {"Retry-After": str(manager.retry_after())})


IdempotencyKey = Annotated[str | None, Header(
    alias="Idempotency-Key", pattern=KEY_PATTERN,
    description="send the same key again (within a day) to get the job of the first request, not a second job")]


def _add_job_routes(app: FastAPI, manager: JobManager, limits: Limits, common: tuple[int, ...]) -> None:
    writes = (*common, 403)

    @app.post("/api/jobs", status_code=201, response_model=contract.JobOut, operation_id="create_job",
              openapi_extra=contract.job_body(),
              responses={**errors(*writes, 400, 409, 413, 415, 422, 503),
                         201: {"description": "the job, accepted (or, for a repeated Idempotency-Key, the first "
                                              "request's job; Idempotent-Replayed: true then)",
                               "headers": {"Idempotent-Replayed": {"schema": {"type": "string", "enum": ["true"]}}},
                               "links": contract.job_links()}})
    async def create_job(request: Request, response: Response, idempotency_key: IdempotencyKey = None) -> dict[str, Any]:
        """Paint a photo: multipart ``content``, ``style`` (repeat for several) and ``options`` (JSON)."""
        job, created = await _create_job(request, manager, limits, idempotency_key)
        if not created:
            response.headers["Idempotent-Replayed"] = "true"
        return manager.snapshot(job.id)

    @app.get("/api/jobs", response_model=contract.JobList, operation_id="list_jobs", responses=errors(*common))
    async def list_jobs() -> dict[str, Any]:
        """The running job, the queue in order, then interrupted jobs."""
        return {"jobs": manager.active()}

    @app.get("/api/jobs/{job_id}", response_model=contract.JobOut, operation_id="get_job",
             responses=errors(*common, 404))
    async def get_job(job: JobDep) -> dict[str, Any]:
        return manager.snapshot(job.id)

    @app.post("/api/jobs/{job_id}/cancel", response_model=contract.JobOut, operation_id="cancel_job",
              responses=errors(*writes, 404, 409))
    async def cancel_job(job: JobDep) -> dict[str, Any]:
        """Stop a running job or drop a queued one."""
        try:
            manager.cancel(job.id)
        except JobFinished as e:
            raise ApiError(409, str(e)) from None
        return manager.snapshot(job.id)

    @app.post("/api/jobs/{job_id}/retry", response_model=contract.JobOut, operation_id="retry_job",
              responses=errors(*writes, 404, 409, 503))
    async def retry_job(job: JobDep) -> dict[str, Any]:
        """Queue an interrupted job again."""
        try:
            await run_in_threadpool(manager.retry, job.id)
        except (JobFinished, StoreError) as e:
            raise ApiError(409, str(e)) from None
        except QueueFull as e:
            raise _busy(manager, e) from None
        return manager.snapshot(job.id)

    _add_event_route(app, manager, common)


def _add_event_route(app: FastAPI, manager: JobManager, common: tuple[int, ...]) -> None:
    @app.get("/api/jobs/{job_id}/events", response_class=EventSourceResponse, operation_id="job_events",
             responses=errors(*common, 404))
    async def events(job: JobDep, request: Request) -> AsyncIterator[ServerSentEvent]:
        """Server-sent events: ``state`` (the job, first and on every change), ``progress``, ``preview``."""
        sub, snap = manager.subscribe(job.id, asyncio.get_running_loop())
        try:
            yield ServerSentEvent(event="state", data=snap, retry=2000)
            if JobStatus(snap["status"]).finished:
                return
            while not manager.closing:
                try:
                    kind, data = await asyncio.wait_for(sub.queue.get(), timeout=5.0)
                except TimeoutError:
                    if await request.is_disconnected():
                        return
                    continue
                yield ServerSentEvent(event=kind, data=data)
                if kind == "state" and JobStatus(data["status"]).finished:
                    return
        finally:
            manager.unsubscribe(job.id, sub)


def _add_again_route(app: FastAPI, manager: JobManager, limits: Limits, common: tuple[int, ...]) -> None:
    @app.post("/api/jobs/{job_id}/again", status_code=201, response_model=contract.JobOut, operation_id="again_job",
              openapi_extra=contract.again_body(limits),
              responses={**errors(*common, 403, 404, 409, 422, 503), 201: {"description": "the new job"}})
    async def again_job(job: JobDep, request: Request) -> dict[str, Any]:
        """Paint a finished job again: its inputs, options and seed; the body ``{"size": N}`` at another size."""
        size = again_size(await request.body(), limits)
        try:
            new = await run_in_threadpool(manager.again, job.id, size)
        except (JobFinished, StoreError) as e:
            raise ApiError(409, str(e)) from None
        except QueueFull as e:
            raise _busy(manager, e) from None
        return manager.snapshot(new.id)


def _add_file_routes(app: FastAPI, manager: JobManager, common: tuple[int, ...]) -> None:
    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/api/config", response_model=contract.ServerConfig, operation_id="get_config",
             responses=errors(*common))
    async def config() -> dict[str, Any]:
        """Presets, choices, defaults and limits."""
        return {**public_config(app.state.limits), "formats": list(formats()), "version": __version__}

    @app.get("/api/jobs/{job_id}/preview.jpg", response_class=Response, operation_id="get_preview",
             responses={**image("image/jpeg", "the latest preview"), **errors(*common, 404)})
    async def preview(job: JobDep) -> Response:
        data = manager.preview(job.id)
        if data is None:
            raise ApiError(404, f"job {job.id} has no preview yet")
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    for name, media_type in RESULT_FILES.items():
        _add_result_file(app, manager, name, media_type, common)

    @app.get("/api/gallery", response_model=contract.Gallery, operation_id="get_gallery", responses=errors(*common))
    async def gallery() -> dict[str, Any]:
        """Finished results, newest first."""
        return {"results": manager.gallery()}


def _add_result_file(app: FastAPI, manager: JobManager, name: str, media_type: str, common: tuple[int, ...]) -> None:
    stem = name.split(".")[0]

    async def result_file(job: JobDep, download: bool = False) -> FileResponse:
        try:
            path = manager.result_file(job.id, name)
        except UnknownJob:
            raise ApiError(404, f"job {job.id} has no {name} (status: {job.status.value})") from None
        filename = f"painterly-{job.id}{Path(name).suffix}" if download else None
        return FileResponse(path, media_type=media_type, filename=filename,
                            content_disposition_type="attachment" if download else "inline")

    app.get(f"/api/jobs/{{job_id}}/{name}", response_class=FileResponse, operation_id=f"get_{stem}",
            summary=f"A finished job's {name}", description="``?download=1``: as an attachment",
            responses={**image(media_type, name), **errors(*common, 404, 422)})(result_file)


def _limited(receive: Receive, limit: int) -> Receive:
    """Wrap ``receive`` so that a body over ``limit`` bytes stops the upload (no Content-Length needed)."""
    seen = 0

    async def wrapped() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _TooLarge()
        return message

    return wrapped


async def _create_job(request: Request, manager: JobManager, limits: Limits, key: str | None) -> tuple[Job, bool]:
    max_body = limits.max_upload_bytes * (limits.max_styles + 1) + 2**20
    too_large = (f"upload over {max_body / 2**20:.0f} MB: at most {limits.max_styles + 1} images of "
                 f"{limits.max_upload_bytes / 2**20:.0f} MB each")
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > max_body:
        raise ApiError(413, too_large)
    limited = Request(request.scope, receive=_limited(request.receive, max_body))
    try:
        form = await limited.form(max_files=limits.max_styles + 2, max_fields=8, max_part_size=64 * 1024)
    except _TooLarge:
        raise ApiError(413, too_large) from None
    try:
        unknown = sorted(set(form.keys()) - {"content", "style", "options"})
        if unknown:
            raise ApiError(422, f"unknown form field(s) {', '.join(unknown)}; send content, style and options")
        content = form.get("content")
        styles = form.getlist("style")
        if not isinstance(content, UploadFile):
            raise ApiError(422, "content: choose a photo to paint (form field 'content' is missing)")
        if not styles or not all(isinstance(s, UploadFile) for s in styles):
            raise ApiError(422, "style: add at least one style image (form field 'style')")
        raw = form.get("options") or "{}"
        if not isinstance(raw, str):
            raise ApiError(422, "options must be a JSON text field, not a file")
        try:
            options = json.loads(raw)
        except ValueError as e:
            raise ApiError(422, f"options: not valid JSON ({e})") from None
        except RecursionError:
            raise ApiError(422, "options: nested too deeply; send a flat JSON object") from None
        cfg = build_config(options, len(styles), limits)
        # Decoded for the server's largest size, not the job's: a result can then be painted again larger.
        style_edge = style_long_edge(max(cfg.scales_for(len(styles))), (limits.max_size, limits.max_size))
        uploads = [await _decode(content, "content", limits.max_size, limits)]
        for s in styles:
            uploads.append(await _decode(s, "style", style_edge, limits))  # type: ignore[arg-type]
    finally:
        await form.close()
    try:
        return await run_in_threadpool(partial(manager.submit, cfg, uploads[0], uploads[1:], options, key=key))
    except (QueueFull, StoreError) as e:
        raise _busy(manager, e) from None
    except KeyInFlight as e:
        raise ApiError(409, str(e)) from None
    except KeyReused as e:
        raise ApiError(422, str(e)) from None


async def _decode(upload: UploadFile, field: str, long_edge: int, limits: Limits) -> Upload:
    data = await upload.read(limits.max_upload_bytes + 1)
    try:
        return await run_in_threadpool(decode_upload, data, field=field, filename=upload.filename,
                                       long_edge=long_edge, max_bytes=limits.max_upload_bytes,
                                       max_pixels=limits.max_pixels)
    except UploadError as e:
        raise ApiError(e.status, str(e)) from None
