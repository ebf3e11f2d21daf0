"""The service's error responses: one JSON shape, ``{"error": {"code": ..., "message": ...}}``, and no tracebacks."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ferkit.errors import ImageError, ImageTooLargeError, UnsupportedImageError

_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "too_large", 503: "not_ready"}


class ApiError(Exception):
    """An error that becomes an HTTP response as it is: status, a stable code, a message for people."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> dict:
        return {"error": {"code": self.code, "message": self.message}}


def api_error(exc: Exception) -> ApiError:
    """The response for an exception met while handling one image; unknown exceptions hide their text."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, UnsupportedImageError):
        return ApiError(415, "unsupported_media_type", str(exc))
    if isinstance(exc, ImageTooLargeError):
        return ApiError(422, "image_too_large", str(exc))
    if isinstance(exc, ImageError):
        return ApiError(422, "bad_image", str(exc))
    return ApiError(500, "internal_error", "internal server error")


def install_error_handlers(app: FastAPI) -> None:
    """Every error the app can answer with, in the one JSON shape."""

    async def on_api_error(request: Request, exc: Exception) -> JSONResponse:
        err = api_error(exc)
        return JSONResponse(err.body(), status_code=err.status)

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = _CODES.get(exc.status_code, "http_error")
        body = {"error": {"code": code, "message": str(exc.detail)}}
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        where = "; ".join(f"{'.'.join(map(str, e.get('loc', ())))}: {e.get('msg', '')}" for e in exc.errors())
        return JSONResponse({"error": {"code": "invalid_request", "message": where}}, status_code=422)

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(ImageError, on_api_error)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)
    # Exception goes to Starlette's outermost middleware: the client gets this body, the traceback goes to the log.
    app.add_exception_handler(Exception, on_api_error)
