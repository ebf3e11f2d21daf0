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

EXAMPLES = """examples:
  ferkit predict photo.jpg                       table of faces and probabilities
  ferkit predict photo.jpg --json --annotate out.jpg
  ferkit predict photos/ --out results.jsonl     every image below photos/, one JSON line each
  ferkit predict 'shots/**/*.png' --out results.csv --resume

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
    p.add_argument("inputs", nargs="+", metavar="IMAGE", help="image files, folders or globs")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table (single image)")
    p.add_argument("--annotate", metavar="PATH", help="write an annotated copy (single image: a file; else a folder)")
    p.add_argument("--out", metavar="FILE", help="write results to FILE (.jsonl or .csv), one record per image")
    p.add_argument("--resume", action="store_true", help="skip images already in --out (after a crash)")
    p.add_argument("--force", action="store_true", help="replace an existing --out file")
    p.add_argument("--batch", type=int, default=8, help="images whose faces are classified together (8)")
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
    from ferkit.inference.batch import list_images

    files = list_images(args.inputs)
    single = len(files) == 1 and not args.out and not Path(args.inputs[0]).is_dir()
    if args.resume and not args.out:
        print("ferkit predict: error: --resume needs --out", file=sys.stderr)
        return 2
    if not single and not args.out:
        print("ferkit predict: error: several images need --out FILE (.jsonl or .csv)", file=sys.stderr)
        return 2
    predictor = build_predictor(args, "predict")
    return run_single(predictor, files[0], args) if single else run_many(predictor, files, args)


def run_single(predictor, path: str, args: argparse.Namespace) -> int:
    from ferkit.imaging import load_image

    image = load_image(path, max_pixels=predictor.max_pixels)
    faces = predictor.predict_array(image)
    if args.json:
        print(json.dumps({"path": path, "faces": [f.to_dict() for f in faces]}, indent=2))
    else:
        print_table(faces)
    if args.annotate:
        _write_annotated(image, faces, Path(args.annotate))
    return 0


def _write_annotated(image, faces, out: Path) -> None:
    import cv2

    from ferkit.errors import FerkitError
    from ferkit.inference.annotate import annotate

    out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out), annotate(image, faces)):
        raise FerkitError(f"{out}: cannot write the annotated image (unknown suffix or unwritable folder)")


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
                _write_annotated(image, faces, Path(args.annotate) / f"{index[path]:05d}_{Path(path).stem}.jpg")
        bar.close()
    skipped = len(files) - len(todo)
    note = f", {skipped} already done" if skipped else ""
    print(f"{len(todo)} images, {n_faces} faces, {n_errors} errors{note} -> {args.out}", file=sys.stderr)
    return 0
