"""A new class from a few faces (issue #15 item 2): contempt added to a model that never saw it.

Usage (from the project root):
    python bench/new_class.py [BASE] [--k 25 50 165] [--trainable head branch] [--set KEY=VALUE ...]
                              [--validate ferplus|holdout] [--val-only] [--work DIR]
                              [--out bench/results/new_class.json]

BASE: a model file trained on FER-2013 alone, whose head has FER-2013's 7 classes (default
``~/ferkit-runs/ablation-fer2013/model.ferkit``, from ``ferkit train --config configs/ablation-fer2013.yaml``).

For each K, K FER+ training faces per class are picked with a fixed seed, for the 8 FER+ emotions (a face's class:
its unique majority vote, ``label.csv`` files), among the training faces without a near-duplicate among FER+ Valid
and Test faces (fusion's perceptual hash), so no scored face is trained on. A class with fewer candidates gives all
of them (the results say so); a smaller K's faces are the first of a larger K's. ``configs/own-classes.yaml`` trains
a new head, ``newclass``, on BASE with ``model.keep_heads`` and each ``model.trainable`` asked for (``--set``
overrides more keys, for every arm). What selects the epoch and fits the calibration (``--validate``):
- ``ferplus`` (the default): every FER+ Valid face, in FER+'s own class mix (0.8% contempt). The picked faces are
  written losslessly as ``train/<class>/*.png`` beside the FER+ Valid faces as ``val/<class>/*.png``.
- ``holdout``: what a user has, their own faces: the picked faces alone are written as ``<class>/*.png``, and the
  recipe's stratified holdout (``data.holdout``, a fifth) validates, so the new head trains on four fifths of them
  and its operating point is set on faces in the same class mix as its training faces. FER+ Valid is then only
  scored, as validation, never used to choose.

Scored per arm, validation splits always, test splits once at the end of each arm unless ``--val-only``:
- the new head on FER+ (8 emotions, unique majority): contempt recall and precision; accuracy over the faces of
  the other classes (a face called contempt counts as wrong); before: BASE's head on those faces (7 classes);
- FER-2013 (PrivateTest / PublicTest): BASE's head before, the new model's kept head after, and whether their
  logits are bit for bit the same;
- wall and CPU time of the fine-tune (``train()``: reading the folder, training, validation, calibration).
Then a user's run is timed: ``ferkit train --config configs/own-classes.yaml`` from the command line on one folder of
63 faces per class (504 faces, ``root/<class>/*``, its own 20% holdout for validation), for each ``trainable``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from accuracy import SHARED, provenance  # noqa: E402

BASE = "~/ferkit-runs/ablation-fer2013/model.ferkit"
NEW = "contempt"  # the class the base model lacks
HEAD = "newclass"  # the new head's name
USER_K = 63  # 8 x 63 = 504 faces: the "500 faces" of issue #15 item 1


def pick_per_class(labels: np.ndarray, classes: list[str], k: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Up to ``k`` indices of rows of ``labels`` ((N,) class names) per class of ``classes`` (all of them where a
    class has fewer), drawn with ``seed``. Each class's rows are shuffled by a generator of its own (seeded by
    ``seed`` and the class's position) and the first ``k`` are taken, so a smaller ``k`` picks a subset."""
    out = {}
    for i, c in enumerate(classes):
        rows = np.flatnonzero(labels == c)
        order = np.random.default_rng([seed, i]).permutation(len(rows))
        out[c] = np.sort(rows[order[:k]])
    return out


def picked_rows(labels: np.ndarray, candidates: np.ndarray, classes: list[str], k: int, seed: int):
    """``pick_per_class`` among the ``candidates`` row indices: (the rows picked, sorted; how many per class)."""
    picks = pick_per_class(labels[candidates], classes, k, seed)
    return np.sort(np.concatenate([candidates[p] for p in picks.values()])), {c: len(p) for c, p in picks.items()}


def write_faces(root: Path, images: np.ndarray, labels: np.ndarray, ids: np.ndarray) -> None:
    """``root/<label>/<id stem>.png``, lossless."""
    import cv2

    for img, label, name in zip(images, labels, ids, strict=True):
        path = root / str(label) / f"{Path(str(name)).stem}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        if not cv2.imwrite(str(path), img):
            raise OSError(f"{path}: could not write the face")


def ferplus_parts(path: Path):
    """FER+ faces with a unique-majority emotion: (those faces, their class names, which are training candidates,
    training faces left out as near-duplicates of Valid/Test faces, per class)."""
    from ferkit.data import load_source
    from ferkit.data.dedupe import leak_mask_images
    from ferkit.data.votes import apply_votes

    src = load_source(path)
    names = src.taxonomy.canonical()
    majority = apply_votes(src, "majority", np.array([n is not None for n in names]))
    named = np.array([names[i] for i in majority.labels], dtype=object)
    train = majority.splits == "train"
    held = src.images[np.isin(src.splits, ["val", "test"])]
    leak = np.zeros(len(majority), bool)
    leak[train] = leak_mask_images(majority.images[train], held)
    return majority, named, train & ~leak, dict(zip(*np.unique(named[leak], return_counts=True), strict=True))


def train_arm(folder: Path, base: str, trainable: str, out: Path, extra: list[str], holdout: bool = False) -> dict:
    """``configs/own-classes.yaml`` on ``folder``, timed; the run's facts. Its ``val/`` validates, or with
    ``holdout`` the recipe's own stratified holdout of the folder's faces."""
    from ferkit.config import load_config
    from ferkit.engine.train import train

    keys = [f"data.sources=[{{path: '{folder}', head: {HEAD}}}]", *([] if holdout else ["data.holdout=0"]),
            f"model.init={base}", f"model.trainable={trainable}", f"out={out}", *extra]  # fmt: skip
    cfg = load_config(ROOT / "configs" / "own-classes.yaml", keys)
    load0, c0, t0 = os.getloadavg(), cpu_seconds(resource.RUSAGE_SELF), time.perf_counter()
    model = train(cfg, force=True)
    seconds, cpu = time.perf_counter() - t0, cpu_seconds(resource.RUSAGE_SELF) - c0
    log = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines() if x.strip()]
    data = json.loads((out / "data.json").read_text())
    return {"trainable": trainable, "train_faces": data["train"], "dropped": data["dropped"], "wall_s": seconds,
            "cpu_s": cpu, "epoch_s_total": sum(e["seconds"] for e in log), "load_before": load0,
            "load_after": os.getloadavg(), "best_epoch": int(np.argmax([e["val_acc"] for e in log])),
            "model": str(model)}  # fmt: skip


def contempt_view(rep: dict) -> dict:
    """Contempt recall and precision, and accuracy over the faces of the other classes (8-class report)."""
    classes, m = rep["confusion"]["classes"], np.array(rep["confusion"]["matrix"])
    c = classes.index(NEW)
    others = [i for i in range(len(classes)) if i != c]
    pc = rep["per_class"][NEW]
    return {
        "contempt_recall": pc["recall"],
        "contempt_precision": pc["precision"],
        "contempt_support": pc["support"],
        "contempt_predicted": int(m[:, c].sum()),
        "others_accuracy": float(m[others, others].sum() / m[others].sum()),
        "others_n": int(m[others].sum()),
        "accuracy": rep["accuracy"],
        "macro_f1": rep["macro_f1"],
    }


class Scorer:
    """One model file's heads on the benchmark sets, each answer computed once (the base model is asked per arm)."""

    def __init__(self, path: Path, fer2013, ferplus) -> None:
        from ferkit.inference.backends import load_backend

        self.full, self.info = load_backend(path, "torch")
        self.sets = {"fer2013": fer2013, "ferplus": ferplus}
        self.memo: dict[tuple[str, ...], object] = {}

    def report(self, head: str, name: str, split: str) -> dict:
        from ferkit.engine.evaluate import evaluate_source
        from ferkit.inference.backends import select_head

        if (head, name, split) not in self.memo:
            b, view = select_head(self.full, self.info, head)
            zoom, t = view.preprocessing.zoom, view.temperature
            self.memo[head, name, split] = evaluate_source(
                b.logits, list(view.classes), self.sets[name], split, "none", t, zoom
            )
        return self.memo[head, name, split]  # type: ignore[return-value]

    def logits(self, head: str, name: str, split: str) -> np.ndarray:
        """The head's logits for every face of a split (the identity check of kept heads)."""
        from ferkit.engine.evaluate import predict_logits
        from ferkit.inference.backends import select_head

        if (head, name, split, "logits") not in self.memo:
            b, view = select_head(self.full, self.info, head)
            faces = self.sets[name].split(split).images
            self.memo[head, name, split, "logits"] = predict_logits(b.logits, faces, zoom=view.preprocessing.zoom)
        return self.memo[head, name, split, "logits"]  # type: ignore[return-value]


def cpu_seconds(who: int) -> float:
    """User plus system CPU seconds of this process (``resource.RUSAGE_SELF``) or its children, all threads."""
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def score_arm(base: Scorer, new: Scorer, old_head: str, splits: list[str]) -> dict:
    out = {}
    for split in splits:
        same = np.array_equal(base.logits(old_head, "fer2013", split), new.logits(old_head, "fer2013", split))
        out[split] = {
            "new_head_ferplus": contempt_view(new.report(HEAD, "ferplus", split)),
            "old_head_ferplus_others_accuracy": base.report(old_head, "ferplus", split)["accuracy"],
            "old_head_fer2013_before": base.report(old_head, "fer2013", split)["accuracy"],
            "old_head_fer2013_after": new.report(old_head, "fer2013", split)["accuracy"],
            "old_head_logits_identical": bool(same),
        }
    return out


def time_user_run(folder: Path, base: str, trainable: str, out: Path, extra: list[str]) -> dict:
    """``ferkit train`` from the command line on the 504-face ``folder``, as a user runs it: wall and CPU seconds."""
    cmd = [sys.executable, "-m", "ferkit", "train", "--config", str(ROOT / "configs" / "own-classes.yaml"), "--force",
           "--quiet", f"data.sources=[{folder}]", f"model.init={base}", f"model.trainable={trainable}", f"out={out}",
           *extra]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    load0, c0, t0 = os.getloadavg(), cpu_seconds(resource.RUSAGE_CHILDREN), time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    seconds, cpu = time.perf_counter() - t0, cpu_seconds(resource.RUSAGE_CHILDREN) - c0
    epochs = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return {"trainable": trainable, "faces": 8 * USER_K, "wall_s": seconds, "cpu_s": cpu, "load_before": load0,
            "load_after": os.getloadavg(), "val_acc_best": max(e["val_acc"] for e in epochs)}  # fmt: skip


def table(results: dict) -> str:
    """The README's table: one row per arm, from a results file (test splits; validation with ``--val-only``)."""
    head = ("| K (contempt faces) | trains | contempt recall | contempt precision | other classes: before -> after "
            "| FER-2013 old head: before -> after | fine-tune wall (CPU) |\n|" + "---|" * 7)  # fmt: skip
    rows = [head]
    for a in results["arms"]:
        s = a["test"] if "test" in a else a["val"]
        new = s["new_head_ferplus"]
        rows.append(
            f"| {a['k']} ({a['faces_per_class'][NEW]}) | {a['trainable']} | {new['contempt_recall']:.1%} "
            f"({round(new['contempt_recall'] * new['contempt_support'])}/{new['contempt_support']}) "
            f"| {new['contempt_precision']:.1%} | {s['old_head_ferplus_others_accuracy']:.2%} -> "
            f"{new['others_accuracy']:.2%} | {s['old_head_fer2013_before']:.2%} -> {s['old_head_fer2013_after']:.2%}"
            f"{' (identical logits)' if s['old_head_logits_identical'] else ''} "
            f"| {a['wall_s'] / 60:.1f} min ({a['cpu_s'] / 60:.1f} min) |"
        )
    return "\n".join(rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("base", nargs="?", default=BASE, help="model file trained on FER-2013 alone")
    ap.add_argument("--k", nargs="+", type=int, default=[25, 50, 165], help="training faces per class")
    ap.add_argument(
        "--trainable", nargs="+", default=["head", "branch"], choices=["head", "branch", "last_stage", "all"]
    )
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="config overrides for every arm")
    ap.add_argument(
        "--validate",
        choices=["ferplus", "holdout"],
        default="ferplus",
        help="what selects the epoch and calibrates: all FER+ Valid faces, or a stratified fifth of the picked faces",
    )
    ap.add_argument("--val-only", action="store_true", help="score validation splits only (for choosing settings)")
    ap.add_argument("--no-user", action="store_true", help="skip timing the 504-face command-line run")
    ap.add_argument("--seed", type=int, default=0, help="seed of the face picks")
    ap.add_argument("--work", default="~/ferkit-runs/new_class", help="folder for the faces and the run folders")
    ap.add_argument("--out", help="JSON results (default bench/results/new_class.json; with --val-only, in --work)")
    ap.add_argument("--table", metavar="RESULTS", help="print the README table of a results file, and stop")
    args = ap.parse_args()
    if args.table:
        print(table(json.loads(Path(args.table).read_text())))
        return 0
    sys.path.insert(0, str(ROOT / "src"))
    from ferkit.data import load_source

    base, work = str(Path(args.base).expanduser()), Path(args.work).expanduser()
    splits = ["val"] if args.val_only else ["val", "test"]
    fer2013 = load_source(SHARED / "fer2013.zip")
    ferplus, named, candidates, leaked = ferplus_parts(SHARED / "ferplus.zip")
    base_scorer = Scorer(Path(base), fer2013, ferplus)
    old_head = base_scorer.info.heads[0].name
    classes = [c for c in ferplus.taxonomy.canonical() if c is not None]
    pool = {c: int((named[candidates] == c).sum()) for c in classes}
    results = {
        **provenance("new_class.py"),
        "base": base,
        "base_heads": [h.to_dict() for h in base_scorer.info.heads],
        "overrides": args.set,
        "validate": args.validate,
        "seed": args.seed,
        "candidates_per_class": pool,
        "leaked_train_faces_left_out": {str(k): int(v) for k, v in leaked.items()},
        "arms": [],
        "user_runs": [],
    }
    print(f"# {results['command']}\n# {results['date']}; {results['machine']}\n# candidates per class: {pool}")
    idx = np.flatnonzero(candidates)
    val = ferplus.splits == "val"
    for k in args.k:
        rows, counts = picked_rows(named, idx, classes, k, args.seed)
        own = args.validate == "holdout"
        folder = work / f"faces-k{k}-seed{args.seed}{'-own' if own else ''}"
        if not folder.exists():
            write_faces(folder if own else folder / "train", ferplus.images[rows], named[rows], ferplus.ids[rows])
            if not own:
                write_faces(folder / "val", ferplus.images[val], named[val], ferplus.ids[val])
        for trainable in args.trainable:
            run = work / f"k{k}-{trainable}{'-own' if own else ''}"
            arm = train_arm(folder, base, trainable, run, args.set, holdout=own)
            new = Scorer(Path(arm["model"]), fer2013, ferplus)
            arm = {"k": k, "faces_per_class": counts, "short_classes": {c: n for c, n in counts.items() if n < k},
                   **arm, **score_arm(base_scorer, new, old_head, splits)}  # fmt: skip
            results["arms"].append(arm)
            print(json.dumps({x: arm[x] for x in ("k", "trainable", "wall_s", "cpu_s", *splits)}), flush=True)
    if not args.no_user:
        rows, _ = picked_rows(named, idx, classes, USER_K, args.seed)
        folder = work / f"seed{args.seed}" / "my_faces"
        if not folder.exists():
            write_faces(folder, ferplus.images[rows], named[rows], ferplus.ids[rows])
        for trainable in args.trainable:
            run = work / f"user-{trainable}"
            results["user_runs"].append(time_user_run(folder, base, trainable, run, args.set))
            print(json.dumps(results["user_runs"][-1]), flush=True)
    name = "new_class" if args.validate == "ferplus" else f"new_class-{args.validate}"
    default = work / f"{name}-val.json" if args.val_only else ROOT / "bench" / "results" / f"{name}.json"
    out = Path(args.out) if args.out else default
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    print(f"{table(results)}\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
