"""Options shared by ``ferkit predict`` and ``ferkit video``: which model, backend and detector to build."""

from __future__ import annotations

import argparse
import contextlib
import sys
import warnings
from collections.abc import Iterator

from ferkit.errors import ConfigError
from ferkit.imaging import MAX_PIXELS


def add_model_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model and detector")
    g.add_argument("--model", help="a shipped model's name (ferkit-l, ferkit-s, ...) or a model file "
                   "(.ferkit or .onnx); default: the default shipped model")  # fmt: skip
    g.add_argument("--backend", choices=("auto", "torch", "onnx"), default="auto",
                   help="classifier runtime (auto: ONNX Runtime for the shipped model and .onnx files, torch for "
                   "a .ferkit file; onnx runs a .ferkit file through ONNX Runtime, exported in memory)")  # fmt: skip
    g.add_argument("--detector", choices=("auto", "yunet", "haar"), default="auto", help="face detector")
    g.add_argument("--yunet", metavar="PATH", help="YuNet model file (else $FERKIT_YUNET or the user cache)")
    g.add_argument("--threshold", type=float, default=0.6, help="minimum face confidence (default 0.6)")
    g.add_argument("--close-up", type=_fraction, default=0.5, metavar="F",
                   help="when no face clears --threshold, take one covering a quarter of the image or more from F "
                   "times it (a close-up or a ready-made crop); 0: off (default 0.5)")  # fmt: skip
    g.add_argument("--min-face", type=float, default=20, help="minimum face side in pixels (default 20)")
    g.add_argument("--det-size", type=int, default=640, help="detect on the image shrunk to this side (640)")
    g.add_argument("--threads", type=int, default=None, help="classifier threads (default: backend's own)")
    g.add_argument("--max-pixels", type=int, default=MAX_PIXELS, help="refuse larger images (default 50e6)")
    g.add_argument("--tta", choices=("none", "flip", "tencrop"), default="none",
                   help="average each face over its mirror image (flip) or ten crops (slower)")  # fmt: skip
    g.add_argument("--head", help="which head of a multi-head model answers (default: its default head)")
    g.add_argument("--prior", type=parse_prior, metavar="MIX",
                   help="the class mix of your faces, when it differs from the model's calibration: 'balanced' "
                   "(every class equally likely: rare classes such as contempt are called far more often, at lower "
                   "precision) or shares such as contempt=0.05,happy=0.3 (other classes keep theirs)")  # fmt: skip
    g.add_argument("--whole-image", choices=("small", "always", "never"), default="small",
                   help="an image where no face is found is classified whole, as one face crop: small (at most 96 px "
                   "a side, the default), always (a folder of face crops), never")  # fmt: skip


def _fraction(text: str) -> float:
    try:
        f = float(text)
    except ValueError:
        f = -1.0
    if not 0 <= f < 1:
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1), got {text!r}")
    return f


def parse_prior(text: str) -> str | dict[str, float]:
    """``balanced`` or ``class=share,class=share`` (shares as numbers; the classes are checked against the model)."""
    if text.strip() == "balanced":
        return "balanced"
    out = {}
    for part in text.split(","):
        name, eq, value = part.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected 'balanced' or class=share,..., got {part!r}") from None
        if not eq or not name.strip():
            raise argparse.ArgumentTypeError(f"expected 'balanced' or class=share,..., got {part!r}")
    return out


def build_predictor(args: argparse.Namespace, verb: str):
    """The Predictor the options describe, its detector built (YuNet downloaded if need be: a command that detects
    faces needs it); detector fallback notices are printed to stderr, not hidden."""
    from ferkit.inference.detectors import built
    from ferkit.inference.predictor import Predictor
    from ferkit.shipped import resolve_model

    kw = dict(
        backend=args.backend,
        detector=args.detector,
        threads=args.threads,
        yunet=args.yunet,
        score_threshold=args.threshold,
        close_up=args.close_up,
        min_face=args.min_face,
        max_pixels=args.max_pixels,
        det_size=args.det_size,
        tta=args.tta,
        head=args.head,
        whole_image=args.whole_image,
        prior=args.prior,
    )
    with notes(verb):
        try:
            p = Predictor.from_file(resolve_model(args.model, args.backend), **kw)  # a path or a shipped model's name
        except ValueError as e:  # only the options can be wrong here: a bad file is a ModelFileError
            raise ConfigError(str(e)) from None
        built(p.detector)
    return p


@contextlib.contextmanager
def notes(verb: str) -> Iterator[None]:
    """Warnings raised in the block (a detector fallback, say) printed as one ``ferkit VERB: note:`` line each."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for w in caught:
        if not issubclass(w.category, DeprecationWarning):
            print(f"ferkit {verb}: note: {w.message}", file=sys.stderr)
