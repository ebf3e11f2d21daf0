"""``/docs``: Swagger UI served from the ``swagger-ui-bundle-v2`` package when it is installed (no CDN);
without it, FastAPI's default page, which loads Swagger's assets from a CDN."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.staticfiles import StaticFiles


def install_docs(app: FastAPI) -> None:
    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:
        swagger_ui_path = None
    assets: dict[str, str] = {}
    if swagger_ui_path is not None:
        app.mount("/docs-assets", StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")
        assets = {
            "swagger_js_url": "/docs-assets/swagger-ui-bundle.js",
            "swagger_css_url": "/docs-assets/swagger-ui.css",
            "swagger_favicon_url": "/docs-assets/favicon-32x32.png",
        }

    @app.get("/docs", include_in_schema=False)
    async def docs():
        return get_swagger_ui_html(openapi_url=app.openapi_url or "/openapi.json", title="ferkit API", **assets)
