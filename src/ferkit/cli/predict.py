"""``ferkit predict``: emotions of the faces in one photo, or in many (folders, globs) written to a file.

Exit codes: 0 done (in folder mode, bad files are error records in the output, not failures), 1 runtime error
(unreadable single image, missing model), 2 usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ferkit.cli._inference import add_model_args, build_predictor
from ferkit.errors import ConfigError

EXAMPLES = """examples:
  ferkit predict photo.jpg                       table of faces and probabilities
  ferkit predict a.jpg b.jpg c.png               one table per image
  ferkit predict photo.jpg --json --annotate out.jpg
  ferkit predict photos/ --out results.jsonl     every image below photos/, one JSON line each
  ferkit predict 'shots/**/*.png' --out results.csv --resume
  ferkit predict photos/ --review to_label/ --uncertain 200   the 200 least certain faces as crops, by class
  ferkit predict photos/ clips/ --engine ray --out scores/     on Ray: a folder of Parquet files, one row per face
  ferkit predict s3://bucket/photos/ --engine ray --address auto --out s3://bucket/scores/ --resume

exit codes: 0 done (bad files in folder mode are error records), 1 runtime error, 2 usage error
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "predict",
        help="recognise facial expressions in photos",
        description="Detect faces and classify their expressions, in one image or many.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("inputs", nargs="+", metavar="IMAGE",
                   help="image files, folders or globs (--engine ray: also videos, list files, URIs)")  # fmt: skip
    p.add_argument("--json", action="store_true", help="print JSON instead of tables (one line per image)")
    p.add_argument("--annotate", metavar="PATH", help="write an annotated copy (single image: a file; else a folder)")
    p.add_argument("--panel", action="store_true", help="annotated images get a side panel of probability bars")
    p.add_argument("--out", metavar="FILE", help="write results to FILE (.jsonl or .csv), one record per image")
    p.add_argument("--resume", action="store_true", help="skip images already in --out (after a crash)")
    p.add_argument("--force", action="store_true", help="replace an existing --out file")
    p.add_argument(
        "--review",
        metavar="DIR",
        help="write the least certain faces as crops into DIR/<predicted class>/, with DIR/review.csv (their "
        "source images and boxes): sort them into the right class folders and train on DIR",
    )
    p.add_argument("--uncertain", type=int, default=100, metavar="N", help="how many faces --review writes (100)")
    p.add_argument("--batch", type=int, default=8, help="images whose faces are classified together (8)")
    g = p.add_argument_group("Ray (pip install 'ferkit[ray]'; see README, 'Scoring on a Ray cluster')")
    g.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="local: this process; ray: a Ray Data pipeline (--out is then a folder)")  # fmt: skip
    g.add_argument("--address", help="an existing Ray cluster (auto, ray://HOST:10001); default: a local Ray")
    g.add_argument("--workers", type=int, help="scoring actors, one CPU each (default: one per CPU of the cluster)")
    g.add_argument("--format", choices=("parquet", "jsonl"), default="parquet", help="--engine ray output files")
    g.add_argument("--every", type=int, default=1, metavar="N", help="videos (--engine ray): every N-th frame")
    g.add_argument("--video-chunk", type=int, default=300, metavar="N",
                   help="videos (--engine ray): frames per range, the unit of work (300)")  # fmt: skip
    add_model_args(p)
    p.set_defaults(func=run)


def print_table(faces: list, file=None) -> None:
    file = file or sys.stdout  # looked up at call time (tests and callers may replace sys.stdout)
    if not faces:
        print("no face found", file=file)
        return
    classes = list(faces[0].probs)
    w = max(8, *(len(c) for c in classes))
    print(f"{'face':<5}{'box (x y w h)':<24}{'label':<{w + 2}}" + "".join(f"{c:>{w + 1}}" for c in classes), file=file)
    for i, f in enumerate(faces):
        box = " ".join(f"{v:.0f}" for v in f.box)
        probs = "".join(f"{f.probs[c]:>{w + 1}.3f}" for c in classes)
        print(f"{i:<5}{box:<24}{f.label:<{w + 2}}{probs}", file=file)


def run(args: argparse.Namespace) -> int:
    import glob

    if args.engine == "ray":
        return run_ray(args)
    from ferkit.inference.batch import list_images

    files = list_images(args.inputs)
    named = not any(Path(i).is_dir() or (glob.has_magic(i) and not Path(i).exists()) for i in args.inputs)
    if args.resume and not args.out:
        print("ferkit predict: error: --resume needs --out", file=sys.stderr)
        return 2
    if args.review:
        return run_review(build_predictor(args, "predict"), files, args)
    if not named and not args.out:
        print("ferkit predict: error: folders and globs need --out FILE (.jsonl or .csv)", file=sys.stderr)
        return 2
    predictor = build_predictor(args, "predict")
    if args.out:
        return run_many(predictor, files, args)
    if len(files) == 1:
        return run_single(predictor, files[0], args)
    return run_each(predictor, files, args)


def run_single(predictor, path: str, args: argparse.Namespace) -> int:
    from ferkit.imaging import load_image

    image = load_image(path, max_pixels=predictor.max_pixels)
    faces = predictor.predict_array(image)
    if args.json:
        print(json.dumps({"path": path, "faces": [f.to_dict() for f in faces]}, indent=2))
    else:
        print_table(faces)
    if args.annotate:
        _write_annotated(image, faces, Path(args.annotate), args.panel)
    return 0


def run_each(predictor, files: list[str], args: argparse.Namespace) -> int:
    """Images named on the command line, without --out: a table (or a JSON line) each; a bad one is an error line
    and the others go on (exit 1 if any was bad)."""
    from ferkit.inference.batch import predict_paths

    failed = 0
    for i, (path, image, faces, error) in enumerate(predict_paths(predictor, files, batch=args.batch)):
        if error is not None:
            print(f"ferkit predict: error: {error}", file=sys.stderr)
            failed += 1
            continue
        if args.json:
            print(json.dumps({"path": path, "faces": [f.to_dict() for f in faces]}))
        else:
            print(f"{'' if i == 0 else chr(10)}{path}")
            print_table(faces)
        if args.annotate:
            _write_annotated(image, faces, Path(args.annotate) / f"{i:05d}_{Path(path).stem}.jpg", args.panel)
    return 1 if failed else 0


def _write_annotated(image, faces, out: Path, panel: bool = False) -> None:
    import cv2

    from ferkit.errors import FerkitError
    from ferkit.inference.annotate import annotate

    out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out), annotate(image, faces, sidebar=panel)):
        raise FerkitError(f"{out}: cannot write the annotated image (unknown suffix or unwritable folder)")


def run_review(predictor, files: list[str], args: argparse.Namespace) -> int:
    """``--review DIR``: every image predicted (and written to ``--out`` if given), then the least certain faces
    written as crops into ``DIR/<predicted class>/``."""
    from tqdm import tqdm

    from ferkit.errors import FerkitError
    from ferkit.inference.batch import ResultWriter, face_record, predict_paths
    from ferkit.inference.review import ReviewPicker

    if args.uncertain < 1:
        print(f"ferkit predict: error: --uncertain must be at least 1, got {args.uncertain}", file=sys.stderr)
        return 2
    if (Path(args.review) / "review.csv").exists():
        raise FerkitError(f"{Path(args.review) / 'review.csv'}: exists; review into another folder")
    picker = ReviewPicker(args.uncertain, predictor.info.preprocessing)
    writer = ResultWriter(args.out, predictor.classes, overwrite=args.force) if args.out else None
    n_images = n_errors = 0
    bar = tqdm(total=len(files), desc="predict", unit="img", file=sys.stderr, disable=None)
    try:
        for path, image, faces, error in predict_paths(predictor, files, batch=args.batch):
            bar.update(1)
            n_images += 1
            if writer is not None:
                writer.write(face_record(path, faces, error))
            if error is not None:
                n_errors += 1
                print(f"ferkit predict: skipped {error}", file=sys.stderr)
                continue
            picker.add(path, image, faces)
    finally:
        bar.close()
        if writer is not None:
            writer.close()
    table = picker.write(args.review)
    n = len(picker.picked())
    print(
        f"{n_images} images, {picker.seen} faces, {n_errors} errors; the {n} least certain faces -> "
        f"{args.review}/<predicted class>/ ({table})",
        file=sys.stderr,
    )
    return 0


def run_many(predictor, files: list[str], args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ferkit.inference.batch import ResultWriter, face_record, predict_paths

    n_faces = n_errors = 0
    with ResultWriter(args.out, predictor.classes, resume=args.resume, overwrite=args.force) as writer:
        todo = [f for f in files if f not in writer.done]
        index = {f: i for i, f in enumerate(files)}
        bar = tqdm(total=len(todo), desc="predict", unit="img", file=sys.stderr, disable=None)
        for path, image, faces, error in predict_paths(predictor, todo, batch=args.batch):
            bar.update(1)
            if error is not None:
                writer.write(face_record(path, error=error))
                n_errors += 1
                continue
            writer.write(face_record(path, faces))
            n_faces += len(faces)
            if args.annotate:  # numbered by input position, so that equal names in different folders do not clash
                out = Path(args.annotate) / f"{index[path]:05d}_{Path(path).stem}.jpg"
                _write_annotated(image, faces, out, args.panel)
        bar.close()
    skipped = len(files) - len(todo)
    note = f", {skipped} already done" if skipped else ""
    print(f"{len(todo)} images, {n_faces} faces, {n_errors} errors{note} -> {args.out}", file=sys.stderr)
    return 0


def run_ray(args: argparse.Namespace) -> int:
    """``--engine ray``: the Ray Data pipeline of ``ferkit.inference.cluster``, writing a folder of row files."""
    if not args.out or args.annotate:
        print("ferkit predict: error: --engine ray needs --out FOLDER and takes no --annotate", file=sys.stderr)
        return 2
    import ray  # noqa: F401  (missing: main() prints the install command)

    from ferkit.cli._inference import notes
    from ferkit.inference.cluster import predict_on_ray

    opts = dict(score_threshold=args.threshold, close_up=args.close_up, min_face=args.min_face,
                max_pixels=args.max_pixels, det_size=args.det_size, tta=args.tta, head=args.head,
                whole_image=args.whole_image, prior=args.prior)  # fmt: skip
    with notes("predict"):
        try:
            s = predict_on_ray(
                args.inputs, args.out, args.model, fmt=args.format, address=args.address, workers=args.workers,
                batch=args.batch, every=args.every, video_chunk=args.video_chunk, resume=args.resume,
                overwrite=args.force, backend=args.backend, detector=args.detector, yunet=args.yunet, **opts,
            )  # fmt: skip
        except ValueError as e:  # the options (a prior naming no class of the model, --every 0, ...)
            raise ConfigError(str(e)) from None
    note = f", {s.skipped} already done" if s.skipped else ""
    print(f"{s.photos} images, {s.videos} videos{note} -> {s.out}", file=sys.stderr)
    return 0
