"""The ``ferkit`` command: a thin layer that parses arguments, calls the library and prints.

Each verb lives in its own module here and exposes ``add_parser(subparsers)``; the parser it adds carries a
``func(args) -> int`` default. Exit codes: 0 success, 1 a runtime failure (bad input, missing file), 2 usage error.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from ferkit import __version__
from ferkit.errors import DataError, FerkitError

# A module missing from a smaller install -> (what it is, the extra that brings it).
EXTRAS = {
    "torch": ("PyTorch", "train"),
    "kornia": ("kornia", "train"),
    "onnx": ("the onnx package", "train"),
    "fastapi": ("FastAPI", "serve"),
    "uvicorn": ("uvicorn", "serve"),
    "starlette": ("Starlette", "serve"),
    "multipart": ("python-multipart", "serve"),
    "python_multipart": ("python-multipart", "serve"),
    "swagger_ui_bundle": ("swagger-ui-bundle", "serve"),
    "ray": ("Ray", "ray"),
    "pyarrow": ("pyarrow", "ray"),
}
VERBS = ("data", "train", "eval", "predict", "video", "export", "serve", "fetch_models")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ferkit", description="Facial expression recognition toolkit.")
    parser.add_argument("--version", action="version", version=f"ferkit {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for verb in VERBS:
        importlib.import_module(f"ferkit.cli.{verb}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from ferkit.imaging.quiet import quiet_codecs

    try:
        with quiet_codecs():  # a bad file gets ferkit's one error line, not the codecs' own as well
            return int(args.func(args) or 0)
    except FerkitError as e:
        print(f"ferkit {args.verb}: error: {e}", file=sys.stderr)
        if isinstance(e, DataError) and e.row is not None and hasattr(args, "on_error"):
            print("  (to skip bad records and list them, pass --on-error skip)", file=sys.stderr)
        return 1
    except ModuleNotFoundError as e:  # an optional dependency of this verb is not installed: one line, no traceback
        what, extra = EXTRAS.get((e.name or "").split(".")[0], (None, None))
        if extra is None:
            raise
        print(f"ferkit {args.verb} needs {what}: pip install 'ferkit[{extra}]'", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
