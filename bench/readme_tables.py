"""Copy measured speed, load and predicted-share figures into the README (between its ``speed``, ``load`` and
``shares`` markers).

Usage (from the project root, after the benchmarks wrote their JSON):
    python bench/speed.py --json bench/results/speed.json
    python bench/serve_load.py --model src/ferkit/weights/<PRETRAINED>.onnx --threads 1 \
        --json bench/results/serve_load.json
    python bench/shares.py
    python bench/readme_tables.py
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
WEIGHTS = ROOT / "src" / "ferkit" / "weights"

HEADLINES = [
    "classifier onnx fp32, batch 1 (ms/face)",
    "classifier onnx int8 static, batch 1 (ms/face)",
    "classifier torch fp32, batch 1 (ms/face)",
    "detector YuNet (onnxruntime), 640x480 (ms)",
    "detector YuNet (onnxruntime), 512x512 (ms)",
    "end to end onnx fp32, 1 face, 512x512 array (ms)",
    "end to end onnx fp32, 1 face, 512x512 JPEG bytes (ms)",
    "end to end onnx fp32, 5 faces, 512x512 array (ms)",
    "end to end onnx int8 static, 1 face, 512x512 array (ms)",
    "end to end onnx int8 static, 5 faces, 512x512 array (ms)",
    "end to end torch fp32, 1 face, 512x512 array (ms)",
    "fer classifier (int8 TFLite), batch 1 (ms/face)",
    "fer end to end, 1 face, 512x512 array (ms)",
    "fer end to end, 5 faces, 512x512 array (ms)",
    "video 640x480, 1 face, every 1, no outputs (frames/s)",
    "video 640x480, 1 face, every 1, annotated video written (frames/s)",
]


def speed_block(d: dict, file: str = "speed.json") -> str:
    m, r = d["meta"], d["results"]
    rows = "\n".join(f"| {k} | {r[k]:.2f} |" for k in HEADLINES if k in r)
    name = Path(m["model"]).name.split(".")[0]
    # the sentence speaks of the ONNX file the model ships (fp32 if it has one, else static int8)
    kind = (
        "fp32" if (WEIGHTS / f"{name}.onnx").exists() or not (WEIGHTS / f"{name}.int8.onnx").exists() else "int8 static"
    )
    e2e = r[f"end to end onnx {kind}, 1 face, 512x512 array (ms)"]
    e2e5 = r[f"end to end onnx {kind}, 5 faces, 512x512 array (ms)"]
    if "fer end to end, 1 face, 512x512 array (ms)" in r:
        fer1, fer5 = r["fer end to end, 1 face, 512x512 array (ms)"], r["fer end to end, 5 faces, 512x512 array (ms)"]
        versus = (
            f"One face in a 512x512 photo takes {e2e:.1f} ms end to end with its shipped ONNX file ({kind}),\n"
            f"{fer1 / e2e:.1f}x faster "
            f"than the `fer` package (25.10.3, its defaults: Haar detector, int8 mini-Xception) in the same run and\n"
            f"photo; five faces take {e2e5:.1f} ms, {fer5 / e2e5:.1f}x faster. fer ran its own code, with LiteRT\n"
            "standing in for TensorFlow's TFLite interpreter (`bench/fer_pkg.py`). The photos are ones in which its\n"
            "Haar stage finds every face, so both pipelines classify the same faces.\n"
        )
    else:
        versus = (
            f"One face in a 512x512 photo takes {e2e:.1f} ms end to end with its shipped ONNX file ({kind};\n"
            "fer was not installed in this run).\n"
        )
    return f"""### Speed: {name}

`python bench/speed.py --model {name} --json bench/results/{file}` on {m["date"]}, {m["machine"]} ({m["versions"]});
model {m["model"]}; medians of {m["runs"]} runs after warm-up{rounds_note(m.get("rounds"))}, classifier on
{m["classifier threads"]} thread(s);
load average before / after: {m["load average before / after"]}. Photos: FER-2013 test faces upscaled 3x on a
background. The full table (Haar, dynamic int8, batch 5, OpenCV's YuNet engine) is in `bench/results/{file}`.

| measure | median |
|---|---|
{rows}

{versus}"""


def load_block(d: dict) -> str:
    s, p = d["server"], d["in_process"]
    return f"""### Load

`{d["command"]}` on {d["date"]}, {d["machine"]}: {s.get("clients", 32)} concurrent clients on loopback for
{s.get("seconds", 60):.0f} s against `ferkit {d["server_command"].split(" ", 2)[-1]}`, one face per image.

| | throughput | p50 | p99 | errors |
|---|---|---|---|---|
| server | {s["requests_per_s"]:.1f} requests/s | {s["p50_ms"]:.1f} ms | {s["p99_ms"]:.1f} ms | {s["errors"]} |
| in-process `Predictor` | {p["images_per_s"]:.1f} images/s | {p["ms_per_image"]:.1f} ms | | |

Server throughput is {d["server_over_in_process"]:.2f}x the in-process throughput (target: at least 0.8, zero errors){
        each_round(d.get("ratio_per_round"))
    }.
"""


def shares_block(d: dict) -> str:
    sys.path.insert(0, str(ROOT / "bench"))
    from shares import table

    return f"""### What the default head says

`{d["command"]}` on {d["date"]}, {d["machine"]}: the share of test faces the default head (the one used
without `head=`) gives each class, TTA none, with the labels' share in brackets. A neutral share far above the
labels' is the "everything is neutral" failure that photos showed.

{table(d)}
"""


def crops_block(d: dict) -> str:
    sys.path.insert(0, str(ROOT / "bench"))
    from crops import table

    return f"""`{d["command"]}` on {d["date"]}, {d["machine"]}: {d["n"]} FER-2013 PublicTest (validation) faces,
enlarged to each side and given to `Predictor.predict` as images, model {d["model"]}, default head. Accuracy over
all crops per `whole_image` setting (a crop without a face counts as wrong), and of classifying every crop whole
(the dataset path), overall and on the crops where a face was found, beside the photo path on those:

{table(d)}
"""


def new_class_block(d: dict) -> str:
    sys.path.insert(0, str(ROOT / "bench"))
    from new_class import table

    users = "; ".join(
        f"`trainable: {u['trainable']}` {u['wall_s']:.0f} s wall ({u['cpu_s']:.0f} s CPU)"
        for u in d.get("user_runs", [])
    )
    user = (
        f"\nA user's run, `ferkit train --config configs/own-classes.yaml` on one folder of 504 faces (63 per "
        f"class, its own 20% holdout): {users}.\n"
        if users
        else ""
    )
    chosen = (
        "epoch and calibration chosen on a stratified fifth of the K picked faces (the user's own holdout; the head "
        "trains on the other four fifths)"
        if d.get("validate") == "holdout"
        else "epoch and calibration chosen on every FER+ Valid face"
    )
    return f"""`{d["command"]}` on {d["date"]}, {d["machine"]}; {chosen}; test splits, scored once;
contempt on FER+ test, the other classes' accuracy on FER+ test (before: the old head's 7 classes), and the old head
on FER-2013 PrivateTest:

{table(d)}
{user}"""


def rounds_note(rounds: int | None) -> str:
    return f", then the median of {rounds} rounds that interleave all measures" if rounds else ""


def each_round(ratios: list[float] | None) -> str:
    if not ratios:
        return ""
    return (
        f"; the table shows the round with the median ratio of {len(ratios)} ({', '.join(f'{r:.2f}' for r in ratios)})"
    )


def replace(text: str, name: str, block: str) -> str:
    return re.sub(
        rf"<!-- {name}:start -->.*<!-- {name}:end -->",
        lambda _: f"<!-- {name}:start -->\n{block}<!-- {name}:end -->",
        text,
        flags=re.S,
    )


def main() -> int:
    readme = ROOT / "README.md"
    text = readme.read_text()
    files = sorted(RESULTS.glob("speed-*.json")) or [p for p in [RESULTS / "speed.json"] if p.exists()]
    if files:  # one block per measured model (bench/ship.sh writes speed-<name>.json)
        blocks = [speed_block(json.loads(p.read_text()), p.name) for p in files]
        text = replace(text, "speed", "\n".join(blocks))
    if (RESULTS / "serve_load.json").exists():
        text = replace(text, "load", load_block(json.loads((RESULTS / "serve_load.json").read_text())))
    if (RESULTS / "shares.json").exists():
        text = replace(text, "shares", shares_block(json.loads((RESULTS / "shares.json").read_text())))
    if (RESULTS / "new_class.json").exists():
        text = replace(text, "new_class", new_class_block(json.loads((RESULTS / "new_class.json").read_text())))
    if (RESULTS / "new_class-holdout.json").exists():
        block = new_class_block(json.loads((RESULTS / "new_class-holdout.json").read_text()))
        text = replace(text, "new_class_holdout", block)
    if (RESULTS / "crops.json").exists():
        text = replace(text, "crops", crops_block(json.loads((RESULTS / "crops.json").read_text())))
    readme.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
