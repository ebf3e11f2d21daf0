"""Does ferkit's photo path frame a face the way FER-2013 does? Real FER-2013 faces pasted into synthetic photos.

Usage (from the project root):
    python bench/framing.py [--n 400] [--upscale 3 4] [--yunet ../shared/models/face_detection_yunet.onnx]

Each face of a random sample of FER-2013's VALIDATION split (PublicTest) is enlarged ``--upscale`` times (bicubic;
the factor drawn per face) and pasted at a random place into a larger synthetic photo (640x480 to 1024x768; plain,
noisy or gradient background). ferkit's detector (YuNet) and crop (``ferkit.imaging.crop_faces`` with
the shipped model's ``Preprocessing``) turn the photo back into a 48x48 face, which is compared with the original:

- scale ratio: the side of the region the crop shows, in original pixels, over 48 (above 1: the crop shows more
  than FER-2013 does, so the face looks smaller than in training);
- centre offset: where the crop's centre falls in the original, minus the original's centre, in pixels of the
  48 px face (dy > 0: the crop is centred lower than FER-2013);
- both exact, from the paste geometry and the crop's box arithmetic, and cross-checked from the pixels alone
  (template matching of the original's centre in the crop over scales);
- the mean absolute grey-level difference between the crop and the original.

Then the crop parameters that match FER-2013's framing best (margin, and a vertical shift of the crop centre as a
fraction of the box side) are fitted as medians over the detected faces, and the faces are cropped again with them.
The vertical shift is applied here by moving the detection box (``crop_faces`` has no such parameter yet).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from accuracy import SHARED, provenance  # noqa: E402

SIZES = [(640, 480), (800, 600), (1024, 768), (720, 720)]


@dataclass
class Scene:
    image: np.ndarray  # (H, W, 3) BGR photo
    face: np.ndarray  # (48, 48) the original
    x0: float  # where the original's top-left corner lies in the photo
    y0: float
    u: float  # photo pixels per original pixel
    background: str


def background(rng: np.random.Generator, w: int, h: int) -> tuple[np.ndarray, str]:
    kind = ["plain", "noise", "gradient"][rng.integers(3)]
    if kind == "plain":
        return np.full((h, w), rng.integers(30, 226), np.float32), kind
    if kind == "noise":
        bg = rng.integers(60, 196) + rng.normal(0, 30, (h, w))
        return cv2.GaussianBlur(bg.astype(np.float32), (0, 0), 1.5), kind
    a, b = rng.integers(20, 236, 2)
    t = rng.uniform(0, np.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ramp = (xx * np.cos(t) + yy * np.sin(t)) / (w * abs(np.cos(t)) + h * abs(np.sin(t)))
    ramp -= ramp.min()
    return (a + (b - a) * ramp).astype(np.float32), kind


def make_scene(face: np.ndarray, rng: np.random.Generator, upscale: tuple[float, float], context: int) -> Scene:
    """The face enlarged into a random photo; with ``context`` > 0 it first gets that many pixels of mirrored
    surroundings on each side, so that the pasted square's edge is not the face's edge."""
    side = int(round(48 * rng.uniform(*upscale)))
    u = side / 48
    w, h = SIZES[rng.integers(len(SIZES))]
    bg, kind = background(rng, w, h)
    padded = cv2.copyMakeBorder(face, context, context, context, context, cv2.BORDER_REFLECT_101)
    n = int(round(padded.shape[0] * u))
    big = cv2.resize(padded, (n, n), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    px, py = int(rng.integers(0, w - n)), int(rng.integers(0, h - n))
    bg[py : py + n, px : px + n] = big
    gray = np.clip(np.rint(bg), 0, 255).astype(np.uint8)
    x0, y0 = px + context * n / padded.shape[0], py + context * n / padded.shape[0]
    return Scene(cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR), face, x0, y0, n / padded.shape[0], kind)


def pick(dets, s: Scene):
    """The detection whose box centre lies on the pasted face (the most confident), or None."""
    side = 48 * s.u
    on = [
        d
        for d in dets
        if s.x0 <= d.box[0] + d.box[2] / 2 <= s.x0 + side and s.y0 <= d.box[1] + d.box[3] / 2 <= s.y0 + side
    ]
    return max(on, key=lambda d: d.score) if on else None


def shifted(det, sy: float):
    """The detection with its box moved down by ``sy`` box sides (a crop centred lower)."""
    x, y, w, h = det.box
    return replace(det, box=(x, y + sy * max(w, h), w, h))


def geometry(det, s: Scene, margin: float) -> tuple[float, float, float]:
    """(scale ratio, dx, dy) of ``crop_square``'s square (side round(max(w, h) * (1 + margin)), centred on the box)
    in pixels of the 48 px original."""
    x, y, w, h = det.box
    side = max(1, round(max(w, h) * (1.0 + margin)))
    cx, cy = x + w / 2, y + h / 2
    return side / s.u / 48, (cx - s.x0) / s.u - 24, (cy - s.y0) / s.u - 24


def template_framing(crop: np.ndarray, face: np.ndarray) -> tuple[float, float, float]:
    """(scale ratio, dx, dy) of a crop against the original from the pixels alone: the original's central 32x32
    found in the crop resized so that one crop pixel is one original pixel, at ratios 0.7-1.5 (peak refined by a
    parabola)."""
    tpl = face[8:40, 8:40].astype(np.float32)
    scores, where = [], []
    sides = range(34, 73)  # resized crop side n = 48 * ratio
    for n in sides:
        img = cv2.resize(crop, (n, n), interpolation=cv2.INTER_AREA if n < 48 else cv2.INTER_LINEAR)
        r = cv2.matchTemplate(img.astype(np.float32), tpl, cv2.TM_CCOEFF_NORMED)
        _, best, _, loc = cv2.minMaxLoc(r)
        scores.append(best)
        where.append(loc)
    k = int(np.argmax(scores))
    n = float(sides[k])
    if 0 < k < len(scores) - 1:  # parabolic refinement of the best side
        a, b, c = scores[k - 1], scores[k], scores[k + 1]
        den = a - 2 * b + c
        n += 0.5 * (a - c) / den if den < 0 else 0.0
    px, py = where[k]
    # the template's top-left (8, 8) sits at (px, py) of the resized crop; the crop's centre is at n / 2
    return n / 48, n / 2 - (px + 16), n / 2 - (py + 16)


def crop_all(scenes, dets, pre, sy: float) -> np.ndarray:
    from ferkit.imaging import crop_faces

    return np.stack([crop_faces(s.image, [shifted(d, sy)], pre)[0] for s, d in zip(scenes, dets, strict=True)])


def summarize(label: str, scenes, dets, crops, margin: float, sy: float, n_all: int) -> dict:
    geo = np.array([geometry(shifted(d, sy), s, margin) for s, d in zip(scenes, dets, strict=True)])
    tpl = np.array([template_framing(c, s.face) for c, s in zip(crops, scenes, strict=True)])
    mad = np.array([np.abs(c.astype(np.float32) - s.face).mean() for c, s in zip(crops, scenes, strict=True)])
    return {
        "crop": label,
        "margin": margin,
        "shift_y": sy,
        "detected": len(dets) / n_all,
        "scale_ratio": float(np.median(geo[:, 0])),
        "scale_ratio_iqr": [float(v) for v in np.percentile(geo[:, 0], [25, 75])],
        "dx": float(np.median(geo[:, 1])),
        "dy": float(np.median(geo[:, 2])),
        "template_scale_ratio": float(np.median(tpl[:, 0])),
        "template_dx": float(np.median(tpl[:, 1])),
        "template_dy": float(np.median(tpl[:, 2])),
        "mad": float(mad.mean()),
    }


def study(scenes: list[Scene], dets: list, n_all: int, pre, context: int) -> dict:
    """Framing of the shipped crop, of the exact square (the floor: resampling alone), without alignment, and with
    the fitted margin (and vertical shift); prints the table and returns it."""
    from ferkit.inference.detectors import Detection

    if not dets:
        print(f"\ncontext {context} px: no face detected")
        return {"context": context, "detected": 0.0}
    exact = [Detection((s.x0, s.y0, 48 * s.u, 48 * s.u), 1.0, None) for s in scenes]
    flat = replace(pre, margin=0.0, align=False)
    rows = [
        summarize("exact square (floor)", scenes, exact, crop_all(scenes, exact, flat, 0.0), 0.0, 0.0, n_all),
        summarize(
            f"shipped: margin {pre.margin:.2f}", scenes, dets, crop_all(scenes, dets, pre, 0.0), pre.margin, 0.0, n_all
        ),
    ]
    if pre.align:
        unaligned = replace(pre, align=False)
        rows.append(
            summarize(
                f"margin {pre.margin:.2f}, align off",
                scenes,
                dets,
                crop_all(scenes, dets, unaligned, 0.0),
                pre.margin,
                0.0,
                n_all,
            )
        )
    # Fit: the margin whose square shows 48 original pixels, and the shift that centres it on the original's centre.
    sides = np.array([max(d.box[2], d.box[3]) for d in dets])
    u = np.array([s.u for s in scenes])
    m_fit = round(float(np.median(48 * u / sides) - 1), 2)
    centre_y = np.array([s.y0 + 24 * s.u - (d.box[1] + d.box[3] / 2) for s, d in zip(scenes, dets, strict=True)])
    sy_fit = round(float(np.median(centre_y / sides)), 2)
    fitted = replace(pre, margin=m_fit)
    rows.append(
        summarize(
            f"fitted: margin {m_fit:.2f}, shift {sy_fit:+.2f}",
            scenes,
            dets,
            crop_all(scenes, dets, fitted, sy_fit),
            m_fit,
            sy_fit,
            n_all,
        )
    )
    sweep = []
    for m in np.round(np.arange(-0.1, 0.45, 0.05), 2):
        p = replace(pre, margin=float(m))
        sweep.append(
            summarize(f"margin {m:.2f}", scenes, dets, crop_all(scenes, dets, p, sy_fit), float(m), sy_fit, n_all)
        )
    kinds = {k: sum(s.background == k for s in scenes) for k in ("plain", "noise", "gradient")}
    print(
        f"\ncontext {context} px of mirrored surroundings; detected faces by background {kinds}; "
        f"box side / original side (median) {np.median(sides / (48 * u)):.3f}"
    )
    head = "| crop | detected | scale ratio (IQR) | centre dx, dy (px of 48) | template: ratio, dx, dy | MAD |"
    print(head + "\n|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['crop']} | {100 * r['detected']:.1f}% | {r['scale_ratio']:.3f} ({r['scale_ratio_iqr'][0]:.3f}-"
            f"{r['scale_ratio_iqr'][1]:.3f}) | {r['dx']:+.2f}, {r['dy']:+.2f} | {r['template_scale_ratio']:.3f}, "
            f"{r['template_dx']:+.2f}, {r['template_dy']:+.2f} | {r['mad']:.1f} |"
        )
    print(
        f"margin sweep (shift {sy_fit:+.2f}): margin -> median scale ratio / MAD: "
        + ", ".join(f"{r['margin']:.2f}: {r['scale_ratio']:.3f} / {r['mad']:.1f}" for r in sweep)
    )
    return {"context": context, "fitted": {"margin": m_fit, "shift_y": sy_fit}, "rows": rows, "sweep": sweep}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=400, help="validation faces (random sample)")
    ap.add_argument("--upscale", nargs=2, type=float, default=[3.0, 4.0], help="enlargement range")
    ap.add_argument("--yunet", default=str(ROOT.parent / "shared" / "models" / "face_detection_yunet.onnx"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--context",
        nargs="+",
        type=int,
        default=[0, 12],
        help="mirrored surroundings around each pasted face, in pixels of the 48 px face",
    )
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "framing.json"))
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from ferkit.data import load_source
    from ferkit.inference.backends import load_backend
    from ferkit.inference.detectors import make_detector
    from ferkit.inference.predictor import pretrained_path

    _, info = load_backend(pretrained_path("torch"), "torch")
    pre = info.preprocessing
    val = load_source(SHARED / "fer2013.zip").split("val")
    idx = np.sort(np.random.default_rng(args.seed).choice(len(val), size=min(args.n, len(val)), replace=False))
    detector = make_detector("yunet", args.yunet, download=False)
    prov = provenance("framing.py")
    print(f"# {prov['command']}\n# {prov['date']}; {prov['machine']}")
    print(
        f"# {len(idx)} FER-2013 PublicTest faces, enlarged {args.upscale[0]:g}-{args.upscale[1]:g}x into synthetic "
        f"photos; YuNet ({Path(args.yunet).name}); shipped preprocessing {pre}"
    )
    res: dict = {**prov, "n": len(idx), "upscale": args.upscale, "preprocessing": pre.to_dict(), "studies": []}
    for context in args.context:
        rng = np.random.default_rng(args.seed + 1)
        scenes, dets = [], []
        for i in idx:
            s = make_scene(val.images[i], rng, tuple(args.upscale), context)
            d = pick(detector.detect(s.image), s)
            if d is not None:
                scenes.append(s)
                dets.append(d)
        res["studies"].append(study(scenes, dets, len(idx), pre, context))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1) + "\n")
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
