"""The HTTP service: a FastAPI app around a ``Predictor`` and the web page it serves at ``/``.

``create_app`` lives in ``ferkit.service.app`` (it needs the ``serve`` extra: fastapi, uvicorn, python-multipart);
this package imports nothing heavy by itself.
"""
