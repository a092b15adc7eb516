"""The API's contract: response models, each route's documented statuses, and the OpenAPI document.

The document (``GET /api/openapi.json``) is what generated clients and API fuzzers read, so
it states everything the server does: the multipart body of ``POST /api/jobs`` (its fields,
types and limits, the options object built from ``StyleConfig`` by
:func:`painterly.server.params.options_schema`), every status a route answers with and the
``{"error", "status"}`` body of each, images as ``image/png``/``image/jpeg``, ``Retry-After``
on 503, and the token as a security scheme when the server has one.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from PIL import Image
from pydantic import BaseModel, Field

from ..vgg import MIN_SIZE
from .job import JobStatus
from .params import Limits, defaults_over, options_schema
from .uploads import format_names, formats


class ErrorBody(BaseModel):
    """Every error the API answers with: a one-line message and the HTTP status."""

    error: str
    status: int


class ImageInfo(BaseModel):
    name: str = Field(description="the uploaded file's base name")
    sha256: str
    width: int
    height: int


class Inputs(BaseModel):
    content: ImageInfo | None = None
    styles: list[ImageInfo] = []


class ResultSummary(BaseModel):
    seed: int | None
    seconds: float
    iterations: int
    loss: float | None
    size: list[int] = Field(description="[height, width] of the result in pixels")


class JobFiles(BaseModel):
    image: str
    download: str
    sheet: str
    thumb: str


class JobBrief(BaseModel):
    """A job as ``GET /api/jobs`` lists it (without the loss history)."""

    id: str
    status: JobStatus
    position: int = Field(description="1-based place in the queue; 0 when not waiting")
    cancel_requested: bool
    created: float
    started: float | None
    finished: float | None
    done: int = Field(description="iterations done over all scales")
    total: int
    iteration: int
    iterations: int
    scale: int
    scales: int
    size: list[int] | None = Field(description="[height, width] of the current scale")
    loss: float | None
    elapsed: float
    eta: float | None = Field(description="seconds left, estimated; null when not running")
    preview: str | None = Field(description="the latest preview's address (image/jpeg)")
    preview_version: int
    error: str | None
    files: JobFiles | None = Field(description="a finished job's files; null before")
    result: ResultSummary | None
    retry: str | None = Field(description="POST here to queue an interrupted job again")
    options: dict[str, Any]
    inputs: Inputs


class JobOut(JobBrief):
    """A job: status, queue position, progress, ETA, loss history and links."""

    history: list[tuple[int, float]] = Field(description="[iterations done, loss] pairs")


class JobList(BaseModel):
    jobs: list[JobBrief]


class GalleryItem(BaseModel):
    id: str
    finished: float | None
    result: ResultSummary | None
    inputs: Inputs
    files: JobFiles | None


class Gallery(BaseModel):
    results: list[GalleryItem]


class Preset(BaseModel):
    size: int
    iterations: int
    multiscale: bool
    note: str


class ServerConfig(BaseModel):
    presets: dict[str, Preset]
    default_preset: str
    choices: dict[str, list[str]] = Field(description="the names each choice option accepts")
    defaults: dict[str, Any] = Field(description="StyleConfig's default of every option the API accepts")
    limits: Limits
    formats: list[str] = Field(description="the image formats uploads may be in (Pillow's names)")
    version: str


# Statuses ---------------------------------------------------------------------------------------
_MEANING = {
    400: "a malformed request (multipart that cannot be parsed), or a Host header this server does not answer to",
    401: "the server has a token and the request did not carry it",
    403: "a write from a page of another web site (an Origin header that is not this server's, or null)",
    404: "no such job, or the job has no such file (yet)",
    409: "the job is not in a state that allows this",
    413: "an upload over the size or pixel limits (GET /api/config lists them)",
    415: "an upload that is not a picture in a format this server reads, or a damaged one",
    422: "a field, option, parameter or header out of range, of the wrong type, unknown or missing",
    500: "a bug: the server's log has the details",
    503: "the queue is full or the server is stopping (or cannot keep the job); Retry-After says when to try again",
}
ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}
RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before trying again", "required": True,
                               "schema": {"type": "integer", "minimum": 1}}}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` entries of these error statuses, each with the error body."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:  # JSON whatever the route answers with when it succeeds (images, events)
        out[status] = {"description": _MEANING[status], "content": {"application/json": {"schema": ERROR_REF}}}
        if status == 503:
            out[status]["headers"] = RETRY_AFTER
    return out


def image(media_type: str, what: str) -> dict[int | str, dict[str, Any]]:
    """A 200 answer that is an image, not JSON."""
    return {200: {"description": what, "content": {media_type: {"schema": {"type": "string", "format": "binary"}}}}}


def job_form(limits: Limits) -> dict[str, Any]:
    """The multipart body of ``POST /api/jobs``."""
    per_image = (f"{format_names()}; at most {limits.max_upload_bytes // 2**20} MB and "
                 f"{limits.max_pixels / 1e6:g} megapixels")
    binary = {"type": "string", "format": "binary", "minLength": 1, "maxLength": limits.max_upload_bytes}
    required = ["content", "style", *(["options"] if defaults_over(limits) else [])]
    return {
        "type": "object", "title": "JobForm", "required": required, "additionalProperties": False,
        "properties": {
            "content": {**binary, "description": f"the photo to paint: {per_image}"},
            "style": {"type": "array", "items": binary, "minItems": 1, "maxItems": limits.max_styles,
                      "description": f"one part per style image (at most {limits.max_styles}): {per_image}"},
            "options": {"$ref": "#/components/schemas/JobOptions"},
        },
    }


def job_body() -> dict[str, Any]:
    """``openapi_extra`` of ``POST /api/jobs``, whose form the route reads itself (to cap the upload as it arrives)."""
    Image.init()
    images = {"contentType": ", ".join(dict.fromkeys(Image.MIME.get(f, f"image/{f.lower()}") for f in formats()))}
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {
        "schema": {"$ref": "#/components/schemas/JobForm"},
        "encoding": {"content": images, "style": images, "options": {"contentType": "application/json"}}}}}}


def again_body(limits: Limits) -> dict[str, Any]:
    """``openapi_extra`` of ``POST /api/jobs/{job_id}/again``: no body (the job's own size) or ``{"size": N}``."""
    return {"requestBody": {"required": False, "content": {"application/json": {"schema": {
        "type": "object", "additionalProperties": False,
        "properties": {"size": {"type": ["integer", "null"], "minimum": MIN_SIZE, "maximum": limits.max_size,
                                "description": "the new long edge in px (null or absent: the job's own)"}}}}}}}


def job_links() -> dict[str, Any]:
    """Where a created job's id goes next (OpenAPI links, which API fuzzers follow)."""
    ops = ("get_job", "cancel_job", "get_preview", "get_result", "get_sheet", "get_thumb")
    return {op: {"operationId": op, "parameters": {"job_id": "$response.body#/id"}} for op in ops}


def _tidy(doc: dict[str, Any]) -> None:
    """FastAPI documents a 422 of its own shape on every route with parameters. The routes whose
    parameters can be invalid declare theirs (an :class:`ErrorBody`, as the handler answers); on the
    others (a job id is any text) it cannot happen. And it documents an optional header as nullable."""
    for ops in doc["paths"].values():
        for op in ops.values():
            answer = op["responses"].get("422", {})
            if "HTTPValidationError" in str(answer):
                del op["responses"]["422"]
            for param in op.get("parameters", []):  # an optional header is absent, never null
                if param["in"] == "header" and "anyOf" in param["schema"]:
                    options = param["schema"].pop("anyOf")
                    param["schema"].update(next(o for o in options if o.get("type") != "null"))
    for name in ("HTTPValidationError", "ValidationError"):
        doc["components"]["schemas"].pop(name, None)


def install(app: FastAPI, limits: Limits, *, token: bool) -> None:
    """Make ``app.openapi()`` the contract: FastAPI's document plus the form, the options and the security."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(title=app.title, version=app.version, routes=app.routes,
                              description="The painterly web API: paint a photo in the style of paintings.")
            components = doc.setdefault("components", {})
            components.setdefault("schemas", {}).update(JobForm=job_form(limits), JobOptions=options_schema(limits),
                                                        ErrorBody=ErrorBody.model_json_schema())
            _tidy(doc)
            if token:
                components["securitySchemes"] = {
                    "bearer": {"type": "http", "scheme": "bearer", "description": "the server's --token"},
                    "query": {"type": "apiKey", "in": "query", "name": "token"},
                    "cookie": {"type": "apiKey", "in": "cookie", "name": "painterly_token"},
                }
                doc["security"] = [{"bearer": []}, {"query": []}, {"cookie": []}]
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to customise the document

