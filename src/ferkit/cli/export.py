"""``ferkit export``: a model file to ONNX (fp32 or int8), metadata included, for torch-free inference.

Exit codes: 0 written, 1 runtime error (unreadable model, missing calibration data), 2 usage error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXAMPLES = """examples:
  ferkit export runs/best.ferkit --format onnx                       -> runs/best.onnx
  ferkit export runs/best.ferkit --int8 --calib ../data/fer2013.zip  -> runs/best.int8.onnx (static, calibrated)
  ferkit export runs/best.ferkit --int8 --int8-mode dynamic --out m.onnx
  ferkit export runs/best.ferkit --force                             replace an existing runs/best.onnx

exit codes: 0 written, 1 runtime error, 2 usage error
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="export a model file to ONNX",
        description="Export a ferkit model file to ONNX with its classes, preprocessing and metrics.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", help="a model file (.ferkit) or a shipped model's name")
    p.add_argument("--format", choices=("onnx",), default="onnx", help="output format (onnx)")
    p.add_argument("--out", help="output file (default: beside the model, .onnx or .int8.onnx)")
    p.add_argument("--force", action="store_true", help="replace the output file if it exists (else an error)")
    p.add_argument("--int8", action="store_true", help="quantise to int8")
    p.add_argument(
        "--int8-mode",
        choices=("static", "dynamic"),
        default=None,
        help="static (calibrated QDQ, needs --calib; the default when --calib is given) or dynamic",
    )
    p.add_argument("--calib", metavar="DATA", help="calibration faces: a dataset (its train split) or a .npy array")
    p.add_argument("--calib-size", type=int, default=500, help="number of calibration faces (default 500)")
    p.add_argument(
        "--calib-method", choices=("minmax", "percentile", "entropy"), default="minmax", help="static calibration"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ferkit.errors import FerkitError
    from ferkit.export import calibration_faces, export_onnx
    from ferkit.shipped import resolve_model

    mode = args.int8_mode or ("static" if args.calib else "dynamic")
    if args.int8 and mode == "static" and not args.calib:
        print("ferkit export: error: --int8-mode static needs --calib DATA", file=sys.stderr)
        return 2
    if args.int8 and not args.calib:
        print("ferkit export: note: no --calib: dynamic int8 (static with --calib is usually better)", file=sys.stderr)
    args.model = resolve_model(args.model, "torch")  # a path, or a shipped model's name
    out = Path(args.out) if args.out else Path(args.model).with_suffix(".int8.onnx" if args.int8 else ".onnx")
    if out.exists() and not args.force:
        raise FerkitError(f"{out}: exists; pass --force to replace it, or --out to write elsewhere")
    calib = calibration_faces(args.calib, args.calib_size) if (args.int8 and mode == "static") else None
    path = export_onnx(args.model, out, int8=args.int8, mode=mode, calib=calib, method=args.calib_method)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB{', int8 ' + mode if args.int8 else ''})")
    return 0
