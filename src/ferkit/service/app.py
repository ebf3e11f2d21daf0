"""The HTTP API and web page: ``create_app(model, settings) -> FastAPI``.

Routes: ``POST /v1/predict`` (one image), ``POST /v1/predict/batch`` (several), ``GET /v1/model``,
``GET /healthz`` (the process answers), ``GET /readyz`` (the model is loaded), ``/docs`` (OpenAPI), ``/`` (web page).

The model loads once, in a worker thread started by the lifespan, so ``/healthz`` answers while it loads
(``load_first=True``, used by ``ferkit serve --workers N``, makes start-up wait for it instead).
Decoding and inference never run on the event loop: there are ``max_concurrency`` slots, each a predictor with
its own single worker thread, and a request waits for a free slot. One thread per predictor matters: detectors
keep per-call state, and torch/OpenCV keep a pool of spinning helper threads per calling thread, so handing
inference to whichever thread of a general pool is free multiplies those pools and wastes the CPU.
A predictor object passed in as it is makes one slot.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import anyio
from fastapi import FastAPI, Query, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

import ferkit
from ferkit.service import adapter
from ferkit.service.docs import install_docs
from ferkit.service.errors import ApiError, api_error, install_error_handlers
from ferkit.service.images import decode_image, encode_image
from ferkit.service.limits import BodyLimitMiddleware
from ferkit.service.schemas import BatchResponse, ErrorResponse, Health, ModelInfo, PredictResponse
from ferkit.service.settings import ServiceSettings

STATIC = Path(__file__).parent / "static"
# The page loads nothing from anywhere else; the browser enforces it.
PAGE_CSP = (
    "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob: mediastream:; "
    "connect-src 'self'; style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'"
)
RAW_TYPES = ("image/", "application/octet-stream")
log = logging.getLogger("ferkit.service")

ModelSource = adapter.PredictorLike | str | Path | Callable[[], adapter.PredictorLike] | None


def default_loader(path: str | Path | None, **kwargs: Any) -> Callable[[], adapter.PredictorLike]:
    """A factory of predictors for a model file or ONNX export (``None``: the packaged pretrained model).

    Args:
        path: the model.
        kwargs: passed to ``Predictor.from_file`` (``detector``, ``yunet``, ``threads``, ...).
    """

    def load() -> adapter.PredictorLike:
        from ferkit.inference.detectors import built
        from ferkit.inference.predictor import Predictor

        p = Predictor.from_pretrained(**kwargs) if path is None else Predictor.from_file(path, **kwargs)
        built(p.detector)  # while loading (a YuNet download included), not in the first request
        return p

    return load


@dataclass
class _Slot:
    predictor: Any
    thread: ThreadPoolExecutor


@dataclass
class _State:
    settings: ServiceSettings
    slots: asyncio.Queue[_Slot] | None = None  # made by the lifespan, on the server's event loop
    threads: list[ThreadPoolExecutor] = field(default_factory=list)
    first: Any = None  # a predictor, for metadata
    error: str | None = None

    @property
    def ready(self) -> bool:
        return self.first is not None


def _predict_one(predictor: Any, settings: ServiceSettings, data: bytes, annotate: bool) -> dict[str, Any]:
    """Decode, detect and classify one image (in the predictor's own worker thread)."""
    image = decode_image(data, settings.max_pixels)
    faces = adapter.predict_decoded(predictor, image)
    if len(faces) > settings.max_faces:
        raise ApiError(422, "too_many_faces", f"{len(faces)} faces found; the limit is {settings.max_faces}")
    result: dict[str, Any] = {
        "faces": [adapter.face_to_dict(f) for f in faces],
        "classes": [str(c) for c in predictor.classes],
        "image": {"width": int(image.shape[1]), "height": int(image.shape[0])},
    }
    if annotate:
        drawn = encode_image(adapter.annotate(image, faces), settings.annotate_format)
        result["annotated"] = {"format": settings.annotate_format, "data": base64.b64encode(drawn).decode("ascii")}
    return result


async def _run(state: _State, data: bytes, annotate: bool) -> dict[str, Any]:
    if not state.ready:
        raise ApiError(503, "not_ready", state.error or "the model is still loading")
    assert state.slots is not None
    slot = await state.slots.get()
    try:
        work = partial(_predict_one, slot.predictor, state.settings, data, annotate)
        return await asyncio.get_running_loop().run_in_executor(slot.thread, work)
    finally:
        state.slots.put_nowait(slot)


async def _read_upload(upload: Any, max_bytes: int, what: str) -> bytes:
    if not isinstance(upload, UploadFile):
        raise ApiError(422, "invalid_request", f"{what} must be a file upload")
    data = await upload.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ApiError(413, "too_large", f"{what} is over the limit of {max_bytes} bytes")
    return data


async def _single_image(request: Request, settings: ServiceSettings) -> bytes:
    ctype = request.headers.get("content-type", "").lower()
    if ctype.startswith("multipart/form-data"):
        async with request.form(max_files=1, max_fields=8) as form:
            if "file" not in form:
                raise ApiError(422, "invalid_request", "multipart upload needs a 'file' field")
            return await _read_upload(form["file"], settings.max_image_bytes, "the image")
    if ctype.startswith(RAW_TYPES):
        data = await request.body()
        if len(data) > settings.max_image_bytes:
            raise ApiError(413, "too_large", f"the image is over the limit of {settings.max_image_bytes} bytes")
        return data
    raise ApiError(
        415, "unsupported_media_type", "send multipart/form-data with a 'file' field, or the image as the raw body"
    )


_IMAGE_BODY = {"type": "string", "format": "binary"}
_SINGLE_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {"schema": {"type": "object", "properties": {"file": _IMAGE_BODY}}},
            "image/jpeg": {"schema": _IMAGE_BODY},
            "image/png": {"schema": _IMAGE_BODY},
        },
    }
}
_BATCH_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {"type": "object", "properties": {"files": {"type": "array", "items": _IMAGE_BODY}}}
            }
        },
    }
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorResponse} for s in (413, 415, 422, 500, 503)
}  # fmt: skip


def create_app(model: ModelSource = None, settings: ServiceSettings | None = None, load_first: bool = False) -> FastAPI:
    """The service as an ASGI app.

    Args:
        model: a predictor object (used as it is, one call at a time), a model file or ONNX path, or a
            zero-argument factory of predictors (called ``max_concurrency`` times); None: the pretrained model.
        settings: limits and options (defaults: ``ServiceSettings()``).
        load_first: load the model before the server accepts connections (start-up waits for it), instead of in
            the background while ``/healthz`` already answers. Several worker processes sharing one socket want
            this: a worker still loading accepts nothing, so no client meets a 503 from it.
    """
    settings = settings or ServiceSettings()
    state = _State(settings)
    if model is None or isinstance(model, str | Path):
        factory, copies = default_loader(model), settings.max_concurrency
    elif callable(model) and not hasattr(model, "predict"):
        factory, copies = model, settings.max_concurrency
    else:
        factory, copies = (lambda: model), 1

    async def load_in_background(slots: asyncio.Queue[_Slot]) -> None:
        try:
            predictors = await anyio.to_thread.run_sync(lambda: [factory() for _ in range(copies)])
            for i, p in enumerate(predictors):
                thread = ThreadPoolExecutor(1, thread_name_prefix=f"ferkit-infer-{i}")
                state.threads.append(thread)
                slots.put_nowait(_Slot(p, thread))
            state.first = predictors[0]
        except Exception as e:  # reported by /readyz; the process stays up to say so
            state.error = f"model failed to load: {type(e).__name__}: {e}"
            log.error("%s", state.error)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        state.slots = asyncio.Queue()
        task = asyncio.create_task(load_in_background(state.slots))
        if load_first:
            await asyncio.shield(task)
        yield
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
        for thread in state.threads:
            thread.shutdown(wait=False)

    app = FastAPI(
        title="ferkit",
        summary="Facial expression recognition: faces, boxes and emotion probabilities for images.",
        version=ferkit.__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.ferkit = state
    install_error_handlers(app)
    install_docs(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_request_bytes)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["*"],
        )

    @app.post("/v1/predict", response_model=PredictResponse, responses=_ERRORS, openapi_extra=_SINGLE_DOC)
    async def predict(request: Request, annotate: bool = Query(False, description="also return the annotated image")):
        """Faces and emotion probabilities for one image: a multipart field `file`, or the raw body."""
        data = await _single_image(request, settings)
        return await _run(state, data, annotate)

    @app.post("/v1/predict/batch", response_model=BatchResponse, responses=_ERRORS, openapi_extra=_BATCH_DOC)
    async def predict_batch(request: Request, annotate: bool = Query(False)):
        """One result per image of the multipart field `files`; a bad image gets an error entry, the rest succeed."""
        if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
            raise ApiError(415, "unsupported_media_type", "send multipart/form-data with one or more 'files' fields")
        too_many = ApiError(413, "too_many_images", f"at most {settings.max_batch} images per request")
        try:
            async with request.form(max_files=settings.max_batch, max_fields=settings.max_batch + 8) as form:
                uploads = form.getlist("files")
                if not uploads:
                    raise ApiError(422, "invalid_request", "multipart upload needs one or more 'files' fields")
                if len(uploads) > settings.max_batch:
                    raise too_many
                datas = [await _read_upload(u, settings.max_image_bytes, f"image {i}") for i, u in enumerate(uploads)]
        except StarletteHTTPException as e:  # the parser stops at max_files + 1: the same answer as any excess
            if e.status_code == 400 and str(e.detail).startswith("Too many files"):
                raise too_many from None
            raise

        async def one(i: int, data: bytes) -> dict[str, Any]:
            try:
                return {"index": i, "status": 200, "result": await _run(state, data, annotate)}
            except Exception as e:
                if isinstance(e, ApiError) and e.status == 503:
                    raise
                err = api_error(e)
                if err.status == 500:
                    log.exception("internal error on image %d of a batch", i)
                return {"index": i, "status": err.status, "error": {"code": err.code, "message": err.message}}

        return {"results": await asyncio.gather(*(one(i, d) for i, d in enumerate(datas)))}

    @app.get("/v1/model", response_model=ModelInfo, responses=_ERRORS)
    async def model_info():
        """The model: name, architecture, classes in output order, preprocessing, metrics, ferkit version."""
        if not state.ready:
            raise ApiError(503, "not_ready", state.error or "the model is still loading")
        return adapter.model_info(state.first)

    @app.get("/healthz", response_model=Health)
    async def healthz():
        """The process is alive and answering."""
        return {"status": "ok"}

    @app.get("/readyz", response_model=Health, responses={503: {"model": Health}})
    async def readyz():
        """The model is loaded and requests can be served."""
        if state.ready:
            return {"status": "ready"}
        status = "failed" if state.error else "loading"
        return JSONResponse({"status": status, "detail": state.error}, status_code=503)

    @app.get("/", include_in_schema=False)
    async def index():
        return FileResponse(STATIC / "index.html", headers={"Content-Security-Policy": PAGE_CSP})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` (used by ``ferkit serve --workers N``): reads ``FERKIT_SERVE_CONFIG``."""
    import json
    import os

    import cv2

    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # as in the parent's quiet_codecs()
    cfg = json.loads(os.environ.get("FERKIT_SERVE_CONFIG", "{}"))
    loader = default_loader(cfg.get("model"), **cfg.get("predictor", {}))
    return create_app(loader, ServiceSettings.from_dict(cfg.get("settings", {})), load_first=True)


__all__ = ["ServiceSettings", "app_from_env", "create_app"]
