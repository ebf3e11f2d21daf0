"""Write the shipped model's card and the README's model section from measured results (nothing typed by hand).

Usage (from the project root, after ``bench/accuracy.py`` and ``bench/int8_accuracy.py`` have scored the models):
    python bench/model_card.py --run runs/fernet-xs --config configs/fernet-xs.yaml --seed-run runs/seed \
        --previous ferkit-v2

Reads: the shipped model file (``src/ferkit/weights/<PRETRAINED>.ferkit``: config, temperature, metrics), the run's
``metrics.jsonl`` (training time and throughput), ``bench/results/accuracy-<PRETRAINED>.json`` and, when present,
``bench/results/accuracy-seed.json``, ``bench/results/accuracy-<--previous>.json`` (an earlier shipped model, for
comparison), ``bench/results/accuracy-fer.json`` (the `fer` package, by
``bench/fer_accuracy.py``) and ``bench/results/int8_accuracy.json``.
Writes: ``src/ferkit/weights/<NAME>.md`` and the block between ``<!-- model:start -->`` and
``<!-- model:end -->`` in ``README.md``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
WEIGHTS = ROOT / "src" / "ferkit" / "weights"


def pick(res: dict, name: str, split: str, tta: str) -> dict | None:
    return next((r for r in res["sets"] if (r["set"], r["split"], r["tta"]) == (name, split, tta)), None)


def pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.2f}%"


def ece(row: dict) -> str:
    if row.get("ece_uncalibrated") is None:
        return f"{row['ece']:.3f} (no temperature)" if row.get("ece") is not None else "n/a"
    return f"{row['ece_uncalibrated']:.3f} -> {row['ece']:.3f}"


def headline(res: dict) -> dict[str, str]:
    fer = {t: pick(res, "fer2013", "test", t) for t in ("none", "flip", "tencrop")}
    fp = {t: pick(res, "ferplus", "test", t) for t in ("none", "flip", "tencrop")}
    return {
        "fer_none": pct(fer["none"]["accuracy"]),
        "fer_flip": pct(fer["flip"]["accuracy"]) if fer["flip"] else "n/a",
        "fer_ten": pct(fer["tencrop"]["accuracy"]) if fer["tencrop"] else "n/a",
        "fer_f1": pct(fer["none"]["macro_f1"]),
        "fp_none": pct(fp["none"]["accuracy"]),
        "fp_ten": pct(fp["tencrop"]["accuracy"]) if fp["tencrop"] else "n/a",
        "fp_f1": pct(fp["none"]["macro_f1"]),
        "contempt": pct(fp["none"]["recall"].get("contempt")),
        "ece_fer": ece(fer["none"]),
        "ece_fp": ece(fp["none"]),
        "n_fer": str(fer["none"]["n"]),
        "n_fp": str(fp["none"]["n"]),
        "n_fp_excluded": str(sum(fp["none"]["excluded"].get("test_classes_missing_from_model", {}).values())),
    }


DLIB_ORIGIN = (
    "dlib's face-recognition ResNet (`dlib_face_recognition_resnet_model_v1.dat` from the PyPI package"
    " `face_recognition_models` 0.3.0, trained by Davis King on about 3 million faces; public domain / CC0 per the"
    " package's LICENSE), so these weights derive from it"
)


def heads_note(mf) -> str:
    """One line per classifier head: its classes, the sources that trained it, its temperature."""
    return "; ".join(
        f"`{h.name}` ({len(h.classes)} classes: {', '.join(h.classes)}; trained by {', '.join(h.sources) or 'all'};"
        f" temperature {h.temperature:.3f})"
        for h in mf.heads_now()
    )


def shipped_line(name: str, config: str | None = None) -> str:
    """A shipped model in one line: its architecture and size, its files, its recipe (from its card)."""
    from ferkit.engine.checkpoint import load_model_file

    mf = load_model_file(WEIGHTS / f"{name}.ferkit")
    n_params = sum(v.numel() for v in mf.state_dict.values() if v.dtype.is_floating_point)
    files = ", ".join(f"`{p.name}`" for p in sorted(WEIGHTS.glob(f"{name}.*")) if p.suffix in (".ferkit", ".onnx"))
    card = WEIGHTS / f"{name}.md"
    recipe = re.search(r"\*\*Recipe\*\*: `([^`]+)`", card.read_text()) if card.exists() else None
    config = config or (recipe.group(1) if recipe else None)
    made = f"recipe `{config}`, " if config else ""
    size = f"{n_params / 1e6:.2f} M parameters, {len(mf.heads_now())} head(s)"
    return f"`{name}`: `{mf.arch}`, {size}; {made}files {files}; card `{name}.md`"


def run_summary(run: Path, mf=None) -> dict:
    """Epochs, wall time, median speed and the best epoch of a run, from its ``metrics.jsonl``. A run folder that
    ``bench/recalibrate.py`` wrote has no log: its model file ``mf`` gives the epochs and the best epoch, and the
    time is that of the card it was recalibrated from (``hours`` None, ``card`` where to read it)."""
    if mf is not None and not (run / "metrics.jsonl").exists() and "recalibrated" in mf.metrics:
        train = mf.metrics["train"]
        return {
            "epochs": mf.config["epochs"],
            "hours": None,
            "labels_per_s": None,
            "best_epoch": train["best_epoch"] + 1,
            "val": {k: v for k, v in train.items() if k.startswith("val_acc")},
            "card": mf.metrics["recalibrated"].get("card"),
            "recalibrated": mf.metrics["recalibrated"],
        }
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if x.strip()]
    best = max(lines, key=lambda r: r["val_acc"])
    return {
        "epochs": len(lines),
        "hours": sum(r["seconds"] for r in lines) / 3600,
        # runs before labels_per_s existed logged labels (face-label pairs) per second as img_per_s
        "labels_per_s": sorted(r.get("labels_per_s", r["img_per_s"]) for r in lines)[len(lines) // 2],
        "best_epoch": best["epoch"] + 1,
        "val": {k: v for k, v in best.items() if k.startswith("val_acc")},
    }


def gate_heads(gate: dict) -> dict[str, dict]:
    """The offset gate's measure per head; files calibrated before the gate was per head hold one for all heads."""
    return {"all heads jointly": gate} if "cv_folds" in gate else gate


def replaced_since(name: str, recipe: str) -> str | None:
    """The commit a recipe's header names for a shipped model's file (``git show C:src/ferkit/weights/NAME.ferkit``),
    if the file shipped now differs from the file at that commit; else None."""
    import subprocess

    found = re.search(rf"git show ([0-9a-f]{{7,40}}):src/ferkit/weights/{re.escape(name)}\.ferkit", recipe)
    if not found:
        return None
    diff = ["git", "diff", "--quiet", found[1], "--", f"src/ferkit/weights/{name}.ferkit"]
    return found[1] if subprocess.run(diff, cwd=ROOT, capture_output=True).returncode == 1 else None


def recipe_of(run: Path) -> str | None:
    """The recipe in ``configs/`` whose ``out`` is this run folder, if one is."""
    import yaml

    for cfg in sorted((ROOT / "configs").glob("*.yaml")):
        out = (yaml.safe_load(cfg.read_text()) or {}).get("out")
        if out and Path(out).expanduser().resolve() == run.expanduser().resolve():
            return f"configs/{cfg.name}"
    return None


def origin(path: str, card: str | None = None, recipe: str = "") -> str:
    """Where a model file came from, with its training time: a shipped model (by name or file), a copy of one
    (``NAME-shipped-COMMIT.ferkit``), or a run's file (its epochs, hours and recipe). ``card`` and ``recipe``: see
    ``lineage_note``."""
    name = Path(path).name.split(".")[0]
    copy = re.match(r"(ferkit-[a-z0-9]+)-shipped-([0-9a-f]{7,40})\.ferkit$", Path(path).name)
    dlib = "; itself from dlib's face-recognition ResNet, CC0" if (copy[1] if copy else name) == "ferkit-l" else ""
    if path == name or Path(path).resolve().parent == WEIGHTS:  # a shipped model, by name or by its file
        if name != card and (commit := replaced_since(name, recipe)):
            return (
                f"the `{name}` shipped at commit {commit} (replaced since; its card is `{name}.md` at that "
                f"commit{dlib})"
            )
        if name == card:  # this file replaced it: its card is in git, at the commit the recipe's header names
            return f"the `{name}` shipped when the run started (its card in git at the commit the recipe names{dlib})"
        return f"the shipped `{name}` (card `{name}.md`{dlib})"
    if copy:  # a copy of a shipped file, named NAME-shipped-COMMIT.ferkit
        shipped, commit = copy[1], copy[2]
        return f"the `{shipped}` shipped at commit {commit} (`{path}`, a copy; its card is `{shipped}.md` there{dlib})"
    metrics = Path(path).expanduser().parent / "metrics.jsonl"
    if not metrics.exists():
        return f"`{path}`"
    r = run_summary(metrics.parent)
    made = f", recipe `{found}`" if (found := recipe_of(metrics.parent)) else ""
    return f"`{path}` ({r['epochs']} epochs, {r['hours']:.2f} h{made})"


def lineage_note(config: dict, card: str | None = None, recipe: str = "") -> str:
    """Where a fine-tuned or distilled run's starting weights and teachers came from, with their training time.
    ``card``: the model this card is for; a shipped model of that name is the one shipped before this file.
    ``recipe``: the recipe's text, whose header names the commit of a shipped file that has been replaced since."""

    notes = []
    if config["model"].get("init") == "dlib":
        notes.append(f"starts from {DLIB_ORIGIN}")
    elif config["model"].get("init"):
        notes.append(f"starts from the weights of {origin(config['model']['init'], card, recipe)}")
    teacher = config.get("distill", {}).get("teacher") or []
    teachers = [teacher] if isinstance(teacher, str) else teacher
    if teachers:
        d = config["distill"]
        notes.append(
            f"learns from {'the mean softened prediction of ' if len(teachers) > 1 else ''}"
            + ", ".join(origin(t, card, recipe) for t in teachers)
            + f" (distillation weight {d['weight']}, temperature {d['temperature']})"
        )
    if not notes:
        return ""
    return "\n  The run " + " and ".join(notes) + "; the training time below is this run's alone."


def ensemble_lines(mf) -> tuple[str, str]:
    """An ensemble's (training line, README phrase): its members, where each came from, and how it was made and
    calibrated (``bench/make_ensemble.py``, ``bench/recalibrate.py``)."""
    from ferkit.engine.checkpoint import load_model_file

    ens, recal = mf.metrics["ensemble"], mf.metrics.get("recalibrated", {})
    members = []
    for m, spec in zip(ens["members"], mf.arch_kwargs["members"], strict=True):
        file = Path(m["file"]).expanduser()
        init = load_model_file(file).config.get("model", {}).get("init") if file.is_file() else None
        dlib = "; from dlib's face-recognition ResNet, CC0" if init == "dlib" else ""
        temps = ", ".join(f"{t:.3f}" for t in spec["temperatures"])
        members.append(f"  - `{m['name']}`: `{m['arch']}`, {origin(m['file'])}{dlib}; temperatures {temps}")
    names = ", ".join(f"`{m['name']}`" for m in ens["members"])
    training = (
        f"- **Members**: {len(members)} model files, none trained for this file; each member's calibrated "
        "probabilities (its own temperature per head, its class offsets in its weights) are averaged per head with "
        "equal weight, and the log of the mean goes through the ensemble's own head, which its calibration owns "
        "(`ferkit.models.ensemble`). The training time and machine of each are in its card or run log:\n"
        + "\n".join(members)
        + f"\n- **Made** by `{ens.get('command', 'bench/make_ensemble.py')}` ({ens.get('date', 'date not recorded')}),"
        f" and **calibrated** on the validation splits by `{recal.get('command', 'bench/recalibrate.py')}`"
        f" ({recal.get('date', 'date not recorded')}, {recal.get('machine', 'machine not recorded')})."
    )
    readme = f"an ensemble of {names} (their calibrated probabilities averaged; `bench/make_ensemble.py`)"
    return training, readme


def int8_table(int8: dict, name: str) -> str:
    """The card's table of exports from ``bench/int8_accuracy.py``'s JSON (its ``run`` entry says when and where)."""
    run = int8.get("run")
    fp32 = int8["fp32"]
    lines = [
        f"| {export} | {pct(r['accuracy'])} | {100 * (r['accuracy'] - fp32['accuracy']):+.2f} | "
        f"{r['ms per face (batch 1, 1 thread)']:.2f} | {r['file MB']:.1f} |"
        for export, r in int8.items()
        if export != "run"
    ]
    where = f"{run['date']}, {run['machine']}" if run else "same machine"
    return (
        "\nExported ONNX, FER-2013 PrivateTest accuracy without TTA (`python bench/int8_accuracy.py "
        f"src/ferkit/weights/{name}.ferkit`, {where}; ms per face at batch 1 on one thread):\n\n"
        "| export | accuracy | points vs fp32 | ms/face | MB |\n|---|---|---|---|---|\n" + "\n".join(lines) + "\n"
    )


def refresh_int8(name: str) -> int:
    """Replace the exports table of ``name``'s card, and of the README where it shows that model, with the one
    ``int8_table`` makes from ``bench/results/int8_accuracy-NAME.json``."""
    table = int8_table(json.loads((RESULTS / f"int8_accuracy-{name}.json").read_text()), name)
    block = re.compile(
        r"\nExported ONNX, FER-2013 PrivateTest accuracy without TTA \(`python bench/int8_accuracy\.py "
        rf"src/ferkit/weights/{re.escape(name)}\.ferkit`[^\n]*\n\n(?:\|[^\n]*\n)+"
    )
    for path in (WEIGHTS / f"{name}.md", ROOT / "README.md"):
        text = path.read_text()
        new, n = block.subn(lambda _: table, text)
        if n:
            path.write_text(new)
            print(f"{path}: exports table of {name} rewritten")
        elif path.name != "README.md":
            raise SystemExit(f"{path}: no exports table of {name} found")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", help="the shipped model's training run folder (required unless --int8-only)")
    ap.add_argument("--config", default="configs/fernet.yaml", help="the recipe the run was trained with")
    ap.add_argument("--seed-run", help="the seed recipe's run folder")
    ap.add_argument("--previous", help="an earlier shipped model's name, shown as a column (its accuracy JSON)")
    ap.add_argument("--name", help="the shipped model this card is for (default: the default shipped model)")
    ap.add_argument(
        "--int8-only",
        action="store_true",
        help="only rewrite the table of ONNX exports, in the card and the README, from bench/results/"
        "int8_accuracy-NAME.json (a re-export of the same model; the rest of the card stays as measured)",
    )
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from ferkit.engine.checkpoint import load_model_file
    from ferkit.models import build_model
    from ferkit.shipped import DEFAULT, shipped_models

    NAME = args.name or DEFAULT
    if args.int8_only:
        return refresh_int8(NAME)
    if not args.run:
        ap.error("--run is required (the shipped model's training run folder)")
    mf = load_model_file(WEIGHTS / f"{NAME}.ferkit")
    others = [n for n in shipped_models() if n != NAME and (RESULTS / f"accuracy-{n}.json").exists()]
    if args.previous is None and others:
        args.previous = others[0]  # the other shipped model is the comparison column
    ours = json.loads((RESULTS / f"accuracy-{NAME}.json").read_text())
    h = headline(ours)
    ensemble = mf.arch == "ensemble"
    run = {"epochs": None, "hours": None} if ensemble else run_summary(Path(args.run), mf)
    seed_file = RESULTS / "accuracy-seed.json"
    seed = headline(json.loads(seed_file.read_text())) if seed_file.exists() else None
    fer_file = RESULTS / "accuracy-fer.json"
    fer = headline(json.loads(fer_file.read_text())) if fer_file.exists() else None
    fer_col = {k: (fer[k] if fer else "not run") for k in h}
    seed_run = (
        run_summary(Path(args.seed_run)) if args.seed_run and Path(args.seed_run, "metrics.jsonl").exists() else None
    )
    int8_file = RESULTS / f"int8_accuracy-{NAME}.json"
    int8 = json.loads(int8_file.read_text()) if int8_file.exists() else None
    n_params = sum(v.numel() for v in mf.state_dict.values() if v.dtype.is_floating_point)
    seed_params = sum(p.numel() for p in build_model("seed_cnn", num_classes=7).parameters())
    sources = ", ".join(s["path"] for s in mf.config["data"]["sources"])
    grouped = (
        " `data.group_faces`: a face both sources label is one sample, run once per step and scored against both"
        " labels."
        if mf.config["data"].get("group_faces")
        else ""
    )

    lineage = lineage_note(mf.config, NAME, Path(args.config).read_text() if Path(args.config).exists() else "")
    calib = mf.metrics.get("calibration", {})
    offsets = calib.get("class_bias")
    gate = gate_heads(calib.get("offset_gate") or {})
    folds = next(iter(gate.values()))["cv_folds"] if gate else 0
    gains = ", ".join(f"{h} {100 * g['cv_macro_f1_gain']:+.2f}" for h, g in gate.items())
    kept = ", ".join(h for h, g in gate.items() if g["cv_macro_f1_gain"] > 0)
    offsets_line = (
        "\n- **Class offsets** (added to the logits, folded into the head's bias): "
        + ", ".join(f"{c} {v:+.2f}" for c, v in offsets.items() if v)
        + f"; fitted on the validation splits to raise macro-F1 while each source's accuracy falls by at most "
        f"{100 * mf.config.get('calibrate', {}).get('max_accuracy_drop', 0.001):.1f} points"
        + (f", averaged over {calib['offset_bags']} bootstrap resamples" if calib.get("offset_bags", 1) > 1 else "")
        + (f", kept only where {folds}-fold cross-validation found them raising macro-F1 on faces they were not"
           f" fitted on (points gained: {gains}; kept for {kept})" if gate else "")
        + f" (mean validation accuracy {pct(calib['val_acc_before_bias']['val_acc'])} -> "
        f"{pct(calib['val_acc_after_bias']['val_acc'])})."
        if offsets and any(offsets.values())
        else f"\n- **Class offsets**: none. {folds}-fold cross-validation on the validation faces found that offsets "
        f"would change macro-F1 on faces they were not fitted on (points: {gains}), so calibration left the head's"
        " bias as trained (`calibrate.class_bias: auto`)."
        if gate
        else ""
    )  # fmt: skip
    mixes = [h for h in mf.heads_now() if h.prior]
    offsets_line += (
        "\n- **Class mix** each head's probabilities assume (`Head.prior`, the mean over its validation faces; "
        "`--prior` / `Predictor(prior=...)` moves it to yours): "
        + "; ".join(
            f"{h.name}: " + ", ".join(f"{c} {100 * v:.1f}%" for c, v in zip(h.classes, h.prior, strict=True))
            for h in mixes
        )
        + "."
        if mixes
        else ""
    )
    what = (
        "class offsets (in the head's bias) and a temperature"
        if offsets and any(offsets.values())
        else "a temperature (class offsets were fitted and dropped: cross-validation found none that help on unseen"
        " faces)"
    )
    refit = (
        "`bench/recalibrate.py` fitted them on the ensemble's output"
        if ensemble
        else "`--resume` on a finished run fits them again without training, which is how this file got its calibration"
    )
    readme_offsets = f" Calibrated on the validation splits: {what}; {refit}." if offsets else ""
    val_fp = pick(ours, "ferplus", "val", "none")
    contempt_note = (
        f" With its class offset ({offsets['contempt']:+.2f}) its FER+ validation recall is"
        f" {pct(val_fp['recall'].get('contempt'))}; the test recall above is what that offset gives on unseen faces."
        if offsets and "contempt" in offsets
        else " Fine-tuning with inverse-square-root class weights (`balance: weights`) left it at 0% on validation"
        " (`notes/training.md`)."
    )

    prev_file = RESULTS / f"accuracy-{args.previous}.json" if args.previous else None
    prev = headline(json.loads(prev_file.read_text())) if prev_file and prev_file.exists() else None
    prev_res = json.loads(prev_file.read_text()) if prev else {}
    prev_arch = prev_res.get("arch", "")
    hours = f", {run['hours']:.2f} h" if run["hours"] is not None else ""
    trained = "its members' (see the card)" if ensemble else f"{run['epochs']} epochs{hours}"
    pairs_note = "; each image carries its FER-2013 and its FER+ label" if grouped else ""
    prev_outputs = sum(len(h["classes"]) for h in prev_res.get("heads", [])) or len(prev_res.get("classes", []))
    prev_model = build_model(prev_arch, num_classes=prev_outputs) if prev_arch else None
    prev_params = f" {sum(p.numel() for p in prev_model.parameters()) / 1e6:.2f} M |" if prev_model else " n/a |"
    shipped_prev = args.previous in shipped_models()
    prev_training = f" its model card, `{args.previous}.md` |" if shipped_prev else " its model card, in git history |"

    def row(label: str, key: str) -> str:
        cells = [h[key], *([prev[key]] if prev else []), seed[key] if seed else "not run", fer_col[key]]
        return f"| {label} | " + " | ".join(cells) + " |"

    prev_kind = "shipped" if shipped_prev else "previously shipped"
    prev_head = f" {prev_kind} {args.previous}{f' ({prev_arch})' if prev_arch else ''} |" if prev else ""
    rows = [
        f"| | {NAME} ({mf.arch}) |{prev_head} seed recipe (seed_cnn) | `fer` package (mini-Xception, int8) |",
        "|---|---|---|---|" + ("---|" if prev else ""),
        row("FER-2013 PrivateTest accuracy, 7 classes", "fer_none"),
        row("... with flip TTA", "fer_flip"),
        row("... with ten-crop TTA", "fer_ten"),
        row("FER-2013 PrivateTest macro-F1", "fer_f1"),
        row("FER+ test majority accuracy (model's classes)", "fp_none"),
        row("... with ten-crop TTA", "fp_ten"),
        row("FER+ test macro-F1", "fp_f1"),
        row("FER+ test contempt recall", "contempt"),
        row("ECE (15 bins) FER-2013, before -> after temperature", "ece_fer"),
        row("ECE (15 bins) FER+, before -> after temperature", "ece_fp"),
        f"| parameters | {n_params / 1e6:.2f} M |{prev_params if prev else ''} {seed_params / 1e6:.2f} M "
        "| not counted |",
        f"| training | {trained} |{prev_training} "
        + (f"{seed_run['epochs']} epochs, {seed_run['hours']:.2f} h |" if seed_run else " |")
        + " not stated |",
    ]
    table = "\n".join(rows)
    made = f"`{mf.arch}` trained\nwith `ferkit train --config {args.config}`"
    recipe_line = (
        f"- **Recipe**: `{args.config}`; exact command `ferkit train --config {args.config}`.\n"
        f"  Resolved config stored in the model file.{lineage}"
    )
    val = {k: round(v, 4) for k, v in run.get("val", {}).items()}
    best = f"epoch {run.get('best_epoch')}: {json.dumps(val)}"  # model selection (an ensemble's members had their own)
    if ensemble:
        training_line, made = ensemble_lines(mf)
        recipe_line = "- **Recipe**: `bench/make_ensemble.py`, then `bench/recalibrate.py` (commands below)."
    elif run["hours"] is None:  # recalibrated from the model file alone: the training log went with the run folder
        r = run["recalibrated"]
        where = f"`{run['card']}`" if run["card"] else "in git history"
        training_line = (
            f"- **Training**: {run['epochs']} epochs; the run folder and its log are gone, so the training time and "
            f"machine are those stated in the card before recalibration ({where}). Model selection: best mean "
            f"validation accuracy, {best}.\n"
            f"- **Recalibrated** from the model file alone, with the current calibration code (the old class offsets "
            f"taken out of the head first): `{r['command']}`, {r['date']}, on {r['machine']}."
        )
    else:
        training_line = (
            f"- **Training**: {run['epochs']} epochs, {run['hours']:.2f} hours of wall time, median "
            f"{run['labels_per_s']:.0f} training\n  labels/s (face-label pairs{pairs_note}), on {ours['machine']},\n"
            "  with other work sharing the CPU part of the time. Model selection: best mean\n"
            f"  validation accuracy, {best}."
        )
    int8_line = ""
    if int8:
        int8_line = int8_table(int8, NAME)
    files = [f"`{p.name}`" for p in sorted(WEIGHTS.glob(f"{NAME}.*")) if p.suffix in (".ferkit", ".onnx")]
    this_recipe = re.search(r"\*\*Recipe\*\*: `([^`]+)`", recipe_line)  # this card is written below: not read yet
    shipped = "\n".join(
        f"- {shipped_line(n, this_recipe.group(1) if n == NAME and this_recipe else None)}" for n in shipped_models()
    )
    readme = f"""## The shipped models

Shipped models are chosen by name: `Predictor.from_pretrained("{NAME}")`, `--model {NAME}` on every verb; without
a name, `{DEFAULT}` (the default). In `src/ferkit/weights/`:

{shipped}

{NAME}: {", ".join(files)}, {made} on FER-2013 fused with FER+; heads {heads_note(mf)}.{readme_offsets}
Scored once on the test splits by `{ours["command"]}` ({ours["date"]}, {ours["machine"]}).
FER-2013 test faces are scored among FER-2013's 7 classes ({h["n_fer"]} faces), FER+ test faces on their unique
majority label among 8 emotions ({h["n_fp"]} faces). The seed recipe is the original design trained by
`ferkit train --config configs/seed.yaml` (FER-2013 only, so 7 classes: its FER+ score leaves out the
{seed["n_fp_excluded"] if seed else "n/a"} contempt faces, which it cannot name) and scored by the same command.
The `fer` column is the `fer` package's own int8 mini-Xception (fer 25.10.3), scored by
`python bench/fer_accuracy.py` with the same evaluation code (7 classes, so its FER+ score also leaves out the
{fer["n_fp_excluded"] if fer else "n/a"} contempt faces; fer does not say which FER-2013 splits it trained on, so its
test figures may be optimistic).

{table}
{int8_line}
Each model's card, with its recipe and training log, is `src/ferkit/weights/<name>.md`.
"""
    card = f"""# Model card: {NAME}

- **Architecture**: `{mf.arch}` ({n_params / 1e6:.2f} M parameters), kwargs `{mf.arch_kwargs}`; input (B, 1, 48, 48)
  grey levels in [0, 1] (standardised inside the model); heads {heads_note(mf)}.
- **Preprocessing**: {mf.preprocessing.to_dict()} (the face crop of `ferkit.imaging.crop_face`).
- **Temperature**: one per head (above), each fitted on its own sources' validation split (FER-2013 PublicTest,
  FER+ Valid).\
{offsets_line}
- **Data**: {sources}. FER-2013 faces carry hard labels among FER-2013's 7 classes; FER+ faces carry their crowd
  votes as soft targets (`crossentropy` policy) among 8 emotions. Partial-label loss: a face competes only among
  the classes its source could express. Training faces that near-duplicate any validation or test face were
  removed before training (counts in the run log).{grouped} Licences: FER-2013 has no explicit licence (released for the
  ICML 2013 challenge; research use); FER+ labels are MIT (Microsoft).
{recipe_line}
{training_line}
- **Evaluation**: `{ours["command"]}`, {ours["date"]}; test splits scored once, after training.

{table}
{int8_line}
## Limits
- 48x48 grey faces from a frontal-ish detector crop; FER-2013 is web images with label noise (human accuracy is
  about 65%); expect lower accuracy on profile faces, children, and poses or lighting far from FER-2013's.
- `contempt` comes from FER+ alone (165 training faces): its FER+ test recall is {h["contempt"]}.\
{contempt_note}
- No `confused` class: no training source here expresses it.
- The ECE rows above show, per test set, whether the temperature helped (FER+ soft-label training leaves a model
  under-confident, FER-2013 hard labels less so).
"""
    (WEIGHTS / f"{NAME}.md").write_text(card)
    text = (ROOT / "README.md").read_text()
    text = re.sub(
        r"<!-- model:start -->.*<!-- model:end -->",
        lambda _: f"<!-- model:start -->\n{readme}<!-- model:end -->",
        text,
        flags=re.S,
    )
    (ROOT / "README.md").write_text(text)
    print(readme)
    return 0


if __name__ == "__main__":
    sys.exit(main())
