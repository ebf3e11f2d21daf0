"""``ferkit serve``: the HTTP API and web page, with uvicorn."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from ferkit.cli._inference import add_model_args, notes
from ferkit.errors import ConfigError

EXAMPLE = """example:
  ferkit serve --model runs/best.ferkit --port 8000
  curl -F file=@photo.jpg http://127.0.0.1:8000/v1/predict
  open http://127.0.0.1:8000/ for the web page, http://127.0.0.1:8000/docs for the API
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="run the HTTP API and web page",
        description="Serve the HTTP API (/v1/predict, /v1/predict/batch, /v1/model, /healthz, /readyz, /docs) "
        "and the web page (/).",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    g = p.add_argument_group("server")
    g.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)")
    g.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    g.add_argument("--workers", type=int, default=1, help="server processes, each with its own model (default: 1)")
    g.add_argument("--concurrency", type=int, default=1,
                   help="inferences at once per process, each on its own predictor (default: 1)")  # fmt: skip
    g.add_argument("--cors-origin", action="append", default=[], metavar="ORIGIN",
                   help="allow browser calls from this origin (repeatable); CORS is off without it")  # fmt: skip
    g.add_argument("--max-connections", type=int,
                   help="answer 503 beyond this many open connections and requests (default: no limit)")  # fmt: skip
    g.add_argument("--graceful-timeout", type=float, default=30.0,
                   help="seconds to let requests in flight finish on shutdown (default: 30)")  # fmt: skip
    g.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    lim = p.add_argument_group("limits")
    lim.add_argument("--max-image-mb", type=float, default=8.0, help="largest upload per image, MiB (default: 8)")
    lim.add_argument("--max-faces", type=int, default=32, help="refuse images with more faces (default: 32)")
    lim.add_argument("--max-batch", type=int, default=16, help="most images per batch request (default: 16)")
    add_model_args(p)  # --model, --backend, --detector, --yunet, --threads, --max-pixels, ...
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from ferkit.service.app import create_app, default_loader
    from ferkit.service.settings import ServiceSettings
    from ferkit.shipped import resolve_model

    if args.model is not None:  # a model file, or a shipped model's name
        args.model = str(resolve_model(args.model, args.backend))
    if args.workers < 1 or args.concurrency < 1:
        raise SystemExit("ferkit serve: error: --workers and --concurrency must be at least 1")
    max_image = int(args.max_image_mb * 2**20)
    settings = ServiceSettings(
        max_image_bytes=max_image,
        max_request_bytes=4 * max_image,
        max_pixels=args.max_pixels,
        max_faces=args.max_faces,
        max_batch=args.max_batch,
        max_concurrency=args.concurrency,
        cors_origins=tuple(args.cors_origin),
    )
    model = None if args.model is None else str(Path(args.model).resolve())
    predictor = {
        "backend": args.backend,
        "detector": args.detector,
        "yunet": None if args.yunet is None else str(Path(args.yunet).resolve()),
        "threads": args.threads,
        "score_threshold": args.threshold,
        "close_up": args.close_up,
        "min_face": args.min_face,
        "det_size": args.det_size,
        "max_pixels": args.max_pixels,
        "tta": args.tta,
        "head": args.head,
        "whole_image": args.whole_image,
        "prior": args.prior,
    }
    common = dict(
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        timeout_graceful_shutdown=args.graceful_timeout,
        server_header=False,
        limit_concurrency=args.max_connections,
    )
    # Build the first predictor now, so that a bad model or detector fails here, with a message and status 1.
    loader = default_loader(model, **predictor)
    with notes("serve"):
        try:
            built = [loader()]
        except ValueError as e:  # only the options can be wrong here: a bad file is a ModelFileError
            raise ConfigError(str(e)) from None
    if args.workers == 1:

        def factory():
            return built.pop() if built else loader()

        uvicorn.run(create_app(factory, settings), **common)
    else:  # each worker process builds its own app (and predictors) from the environment
        built.clear()
        os.environ["FERKIT_SERVE_CONFIG"] = json.dumps(
            {"model": model, "predictor": predictor, "settings": settings.to_dict()}
        )
        uvicorn.run("ferkit.service.app:app_from_env", factory=True, workers=args.workers, **common)
    return 0
