"""Tiny fake datasets in each supported layout, written into a tmp dir by the tests that need them.

Images are random gray blobs (smooth, so JPEG keeps them recognisable); every writer returns the dataset root.
"""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np


def face(seed: int, size: int = 48, color: bool = False) -> np.ndarray:
    """A smooth random uint8 image, (size, size) gray or (size, size, 3) BGR, different for every seed."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (6, 6), dtype=np.uint8)
    img = cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC)
    return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR) if color else img


def write_image(path: Path, img: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), img), path
    return path


def truncate(path: Path) -> None:
    """Cut a file in half, the way an interrupted download leaves it."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def pixels(img: np.ndarray) -> str:
    return " ".join(str(v) for v in img.reshape(-1))


# ---- FER-2013 and FER+ --------------------------------------------------------------------------------------


def fer2013_csv(path: Path, rows: list[tuple[int, str]], seed: int = 0) -> Path:
    """``fer2013.csv`` with one row per (emotion code, Usage)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["emotion", "pixels", "Usage"])
        for i, (code, usage) in enumerate(rows):
            w.writerow([code, pixels(face(seed + i)), usage])
    return path


def fer2013_folders(root: Path, files: dict[str, int]) -> Path:
    """Kaggle layout: ``{"train/angry": 2, "test/happy": 1}``; test files alternate PublicTest_/PrivateTest_."""
    k = 0
    for folder, n in files.items():
        for _ in range(n):
            prefix = "Training" if folder.startswith("train") else ("PublicTest", "PrivateTest")[k % 2]
            write_image(root / folder / f"{prefix}_{1000 + k}.jpg", face(k))
            k += 1
    return root


FERPLUS_FOLDERS = ("FER2013Train", "FER2013Valid", "FER2013Test")


def ferplus_folders(root: Path, per_split: int = 2) -> Path:
    """``data/FER2013{Train,Valid,Test}/`` with PNGs and ``label.csv`` (10 votes, majority on a varying class)."""
    k = 0
    for folder in FERPLUS_FOLDERS:
        d = root / "data" / folder
        rows = []
        for _ in range(per_split):
            name = f"fer{k:07d}.png"
            write_image(d / name, face(k))
            votes = [0] * 10
            votes[k % 8] = 8
            votes[(k + 1) % 10] = 2
            rows.append([name, "(0, 0, 48, 48)", *votes])
            k += 1
        with open(d / "label.csv", "w", newline="") as f:
            csv.writer(f).writerows(rows)
    return root


def ferplus_csv(root: Path, usages: list[str], dropped: tuple[int, ...] = ()) -> Path:
    """``fer2013.csv`` + ``fer2013new.csv`` side by side; rows in ``dropped`` have no FER+ image name."""
    fer2013_csv(root / "fer2013.csv", [(i % 7, u) for i, u in enumerate(usages)])
    with open(root / "fer2013new.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["Usage", "Image name", "neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear",
                    "contempt", "unknown", "NF"])  # fmt: skip
        for i, u in enumerate(usages):
            votes = [0] * 10
            votes[i % 8] = 10
            w.writerow([u, "" if i in dropped else f"fer{i:07d}.png", *votes])
    return root


# ---- RAF-DB -------------------------------------------------------------------------------------------------


def rafdb_basic(root: Path, labels: dict[str, int]) -> Path:
    """``basic/EmoLabel/list_patition_label.txt`` + ``basic/Image/aligned/*_aligned.jpg`` (100x100 colour)."""
    basic = root / "basic"
    (basic / "EmoLabel").mkdir(parents=True, exist_ok=True)
    lines = []
    for k, (name, code) in enumerate(labels.items()):
        lines.append(f"{name} {code}")
        write_image(basic / "Image" / "aligned" / f"{Path(name).stem}_aligned.jpg", face(k, 100, color=True))
    (basic / "EmoLabel" / "list_patition_label.txt").write_text("\n".join(lines) + "\n")
    return root


def rafdb_reupload(root: Path, files: dict[str, int], csv_labels: dict[str, dict[str, int]] | None = None) -> Path:
    """``DATASET/{train,test}/<code>/<name>`` from ``{"train/5/train_00001_aligned.jpg": 5}`` (value unused)
    plus ``{split}_labels.csv`` from ``csv_labels`` (``{"train": {name: code}}``)."""
    base = root / "DATASET"
    for k, rel in enumerate(files):
        write_image(base / rel, face(k, 100, color=True))
    for split, labels in (csv_labels or {}).items():
        with open(base / f"{split}_labels.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["image", "label"])
            w.writerows(labels.items())
    return root


# ---- AffectNet, CK+, JAFFE, class folders -------------------------------------------------------------------


def affectnet(root: Path, codes: dict[str, list[object]]) -> Path:
    """``{train_set,val_set}/images/<id>.jpg`` + ``annotations/<id>_exp.npy`` holding each code (str or int)."""
    k = 0
    for set_name, values in codes.items():
        for v in values:
            write_image(root / set_name / "images" / f"{k}.jpg", face(k, 224, color=True))
            ann = root / set_name / "annotations"
            ann.mkdir(parents=True, exist_ok=True)
            np.save(ann / f"{k}_exp.npy", np.array(v))
            k += 1
    return root


def affectnet_lists(root: Path, codes: dict[str, list[int]]) -> Path:
    """AffectNet's original release: ``{"training.csv": [1, 8], "validation.csv": [0]}`` -> one 200 px colour image
    a row, ``Manually_Annotated_Images/<k>/<a|b|...>.jpg`` (every third one a .png), each listed with the face box
    40,50,120,110, 68 landmarks on a diagonal through it and its code."""
    header = "subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal\n"
    pts = np.stack([np.linspace(60, 140, 68), np.linspace(70, 150, 68)], 1)
    marks = ";".join(f"{v:.2f}" for v in pts.ravel())
    k = 0
    for list_name, list_codes in codes.items():
        lines = []
        for code in list_codes:
            path = f"{k + 1}/{'abcdefghij'[k % 10]}.{'png' if k % 3 == 2 else 'jpg'}"
            write_image(root / "Manually_Annotated_Images" / path, face(k, 200, color=True))
            lines.append(f'{path},40,50,120,110,"{marks}",{code},0.1,-0.2\n')
            k += 1
        (root / "Manually_Annotated_file_lists").mkdir(parents=True, exist_ok=True)
        (root / "Manually_Annotated_file_lists" / list_name).write_text(header + "".join(lines))
    return root


def ckplus(root: Path, files: dict[str, int]) -> Path:
    """``CK+48/<emotion>/S###_###_########.png`` from ``{"anger": 2}``; subjects S010, S011, ..."""
    k = 0
    for cls, n in files.items():
        for _ in range(n):
            write_image(root / "CK+48" / cls / f"S{10 + k:03d}_001_{k:08d}.png", face(k))
            k += 1
    return root


def ckplus_official(root: Path, sequences: dict[str, tuple[int, str | None]]) -> Path:
    """The official CK+ layout: ``{"S005/001": (5, "3.0000000e+00")}`` -> five 256 px frames in
    ``cohn-kanade-images/S005/001/`` and, unless the label is None, the last frame's ``Emotion/.../*_emotion.txt``."""
    k = 0
    for seq, (frames, label) in sequences.items():
        stem = seq.replace("/", "_")
        for f in range(1, frames + 1):
            write_image(root / "cohn-kanade-images" / seq / f"{stem}_{f:08d}.png", face(k, 256))
            k += 1
        if label is not None:
            (root / "Emotion" / seq).mkdir(parents=True, exist_ok=True)
            (root / "Emotion" / seq / f"{stem}_{frames:08d}_emotion.txt").write_text(f"   {label}\n")
    return root


def jaffe(root: Path, names: list[str]) -> Path:
    """JAFFE files such as ``KA.AN1.39.tiff`` (256x256 gray)."""
    for k, name in enumerate(names):
        write_image(root / "jaffe" / name, face(k, 256))
    return root


def class_folders(root: Path, files: dict[str, int], suffix: str = ".png") -> Path:
    """Generic ``<class>/*`` or ``<split>/<class>/*`` from ``{"train/happy": 2, "test/sad": 1}``."""
    k = 0
    for folder, n in files.items():
        for _ in range(n):
            write_image(root / folder / f"img{k}{suffix}", face(k, 64))
            k += 1
    return root


def hf_parquet_file(path: Path, labels: list[int], seed: int = 0) -> Path:
    """One parquet file as the Hugging Face hub writes it: an Image column of PNG faces (``face(seed)``, ...), a
    ClassLabel ``label`` (FER-2013's names) and both features in the schema's "huggingface" metadata."""
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    names = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    features = {"image": {"_type": "Image"}, "label": {"names": names, "_type": "ClassLabel"}}
    images = [{"bytes": cv2.imencode(".png", face(seed + i))[1].tobytes(), "path": f"{seed + i}.png"}
              for i in range(len(labels))]  # fmt: skip
    table = pa.table({"image": images, "label": pa.array(labels, pa.int64())})
    table = table.replace_schema_metadata({"huggingface": json.dumps({"info": {"features": features}})})
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return path


def hf_parquet(root: Path, splits: dict[str, list[int]]) -> Path:
    """A Hugging Face download: ``{"train": [3, 0], "test": [6]}`` -> ``data/<split>-00000-of-00001.parquet`` beside
    the dataset card (``README.md``)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "README.md").write_text("---\ndataset_info:\n  features:\n  - name: image\n    dtype: image\n---\n")
    k = 0
    for split, labels in splits.items():
        hf_parquet_file(root / "data" / f"{split}-00000-of-00001.parquet", labels, seed=k)
        k += len(labels)
    return root


def label_table(root: Path, labels: dict[str, str], table: str = "data/legend.csv") -> Path:
    """Images named by a label table: ``{"images/a.jpg": "happiness"}`` -> the images (64 px) and ``table``
    (``user.id,image,emotion``, the file named without its folder, as in muxspace/facial_expressions)."""
    rows = []
    for k, (name, label) in enumerate(labels.items()):
        write_image(root / name, face(k, 64))
        rows.append(f"u{k},{Path(name).name},{label}\n")
    (root / table).parent.mkdir(parents=True, exist_ok=True)
    (root / table).write_text("user.id,image,emotion\n" + "".join(rows))
    return root


def pattern_face(label: int, rng: np.random.Generator, size: int = 48) -> np.ndarray:
    """A learnable 48x48 uint8 image: a bright bar whose position encodes the label, plus noise."""
    img = rng.normal(90, 20, (size, size))
    y = 4 + label * 6
    img[y : y + 4, 6:42] += 120
    return np.clip(img, 0, 255).astype(np.uint8)


def write_fer2013_csv(path: Path, seed: int = 0) -> Path:
    """A FER-2013 CSV (emotion,pixels,Usage) of learnable faces: 8 train + 2 val + 2 test per class."""
    rng = np.random.default_rng(seed)
    rows = ["emotion,pixels,Usage"]
    usages = ["Training"] * 8 + ["PublicTest"] * 2 + ["PrivateTest"] * 2
    for code in range(7):
        for usage in usages:
            rows.append(f"{code},{' '.join(map(str, pattern_face(code, rng).ravel().tolist()))},{usage}")
    path.write_text("\n".join(rows) + "\n")
    return path


def write_fer2013_folders(root: Path, train: int = 20, test: int = 4, seed: int = 0) -> Path:
    """Kaggle's FER-2013 layout (``train/<emotion>/Training_*.jpg``, ``test/<emotion>/{PublicTest,PrivateTest}_*.jpg``)
    of learnable faces: ``train`` and ``test`` (alternately public and private) per class."""
    rng = np.random.default_rng(seed)
    k = 0
    for code, emotion in enumerate(("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")):
        for i in range(train + test):
            name = f"Training_{k}.jpg" if i < train else f"{('PublicTest', 'PrivateTest')[i % 2]}_{k}.jpg"
            write_image(root / ("train" if i < train else "test") / emotion / name, pattern_face(code, rng))
            k += 1
    return root
