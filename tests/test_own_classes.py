"""Your own classes: a new head fine-tuned from a trained model file, the other heads left exactly as they were."""

import json

import numpy as np
import pytest
import torch
from synth import class_folders, pattern_face, write_image

from ferkit.config import load_config
from ferkit.engine.checkpoint import ModelFile, load_model_file, save_model_file
from ferkit.engine.run_data import prepare_data
from ferkit.engine.train import train
from ferkit.errors import ConfigError
from ferkit.heads import Head
from ferkit.inference.predictor import Predictor
from ferkit.models import build_model
from ferkit.preprocess import Preprocessing

FER7 = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
KWARGS = {"widths": [16, 16, 16, 16]}


@pytest.fixture(scope="module")
def two_heads(tmp_path_factory):
    """A random-weight two-head model file, with BatchNorm statistics that a train-mode pass would move."""
    torch.manual_seed(0)
    heads = [Head("a", FER7, ("fer2013",), 1.3), Head("b", ("happy", "neutral", "contempt"), ("ferplus",), 0.8)]
    model = build_model("fernet_s", num_classes=10, **KWARGS).eval()
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    mf = ModelFile(
        heads=heads,
        arch="fernet_s",
        arch_kwargs=KWARGS,
        classes=[f"{h.name}/{c}" for h in heads for c in h.classes],
        preprocessing=Preprocessing(size=48, margin=0.05, align=True),
        temperature=1.3,
        state_dict=model.state_dict(),
    )
    path = tmp_path_factory.mktemp("init") / "two.ferkit"
    save_model_file(mf, path)
    return path


def _my_faces(root, counts=None):
    """``my_faces/<class>/*``: 48x48 faces whose bar position encodes the class."""
    rng = np.random.default_rng(0)
    for label, (cls, n) in enumerate((counts or {"neutral": 10, "confused": 10, "happy": 10}).items()):
        for i in range(n):
            write_image(root / cls / f"{i}.png", pattern_face(label, rng))
    return root


def _config(tmp_path, init, folder, *extra):
    return load_config(
        None,
        [
            f"data.sources=[{folder}]",
            "data.holdout=0.25",
            f"model.init={init}",
            "model.keep_heads=true",
            "model.trainable=head",
            "epochs=3",
            "batch_size=8",
            "threads=1",
            "amp=false",
            f"out={tmp_path / 'run'}",
            *extra,
        ],
    )


def _logits(path, faces):
    model = load_model_file(path).build().eval()
    with torch.no_grad():
        return model(torch.from_numpy(faces).unsqueeze(1).float() / 255).numpy()


def test_new_head_trains_and_old_heads_stay_exactly(tmp_path, two_heads):
    folder = _my_faces(tmp_path / "my_faces")
    path = train(_config(tmp_path, two_heads, folder))
    mf, old = load_model_file(path), load_model_file(two_heads)
    assert [h.name for h in mf.heads] == ["a", "b", "my_faces"]
    assert mf.heads[:2] == old.heads  # classes, sources and temperatures unchanged
    assert mf.heads[2].classes == ("happy", "neutral", "confused") and mf.arch == "fernet_s"
    assert mf.preprocessing == old.preprocessing
    faces = np.stack([pattern_face(i % 3, np.random.default_rng(i)) for i in range(12)])
    before, after = _logits(two_heads, faces), _logits(path, faces)
    np.testing.assert_array_equal(after[:, :10], before[:, :10])  # the kept heads' outputs, bit for bit
    for head in ("a", "b"):
        np.testing.assert_array_equal(
            Predictor.from_file(path, detector="haar", head=head).classify(faces),
            Predictor.from_file(two_heads, detector="haar", head=head).classify(faces),
        )
    mine = Predictor.from_file(path, detector="haar", head="my_faces")
    assert mine.classes == ("happy", "neutral", "confused")
    assert mine.classify(faces).shape == (12, 3)
    cal = mf.metrics["calibration"]
    assert set(cal["temperatures"]) == {"my_faces"}
    assert all(v == 0 for k, v in cal.get("class_bias", {}).items() if not k.startswith("my_faces/"))


def test_fewer_faces_than_a_batch_still_train(tmp_path, two_heads):
    """Five faces per class (the least allowed) and a batch of 32: every epoch still takes a step."""
    folder = _my_faces(tmp_path / "my_faces", {"neutral": 5, "confused": 5, "happy": 5})
    path = train(_config(tmp_path, two_heads, folder, "batch_size=32", "epochs=2"))
    epochs = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines() if x.strip()]
    assert len(epochs) == 2 and all(e["train_loss"] > 0 and e["img_per_s"] > 0 for e in epochs)  # 0: no batch ran
    old, new = load_model_file(two_heads).state_dict, load_model_file(path).state_dict
    assert all(torch.equal(old[k], new[k]) for k in old if not k.startswith("fc."))  # the frozen trunk


def test_last_stage_trains_and_kept_rows_stay(tmp_path, two_heads):
    folder = _my_faces(tmp_path / "my_faces")
    path = train(_config(tmp_path, two_heads, folder, "model.trainable=last_stage", "epochs=1"))
    new, old = load_model_file(path).state_dict, load_model_file(two_heads).state_dict
    last = max(int(k.split(".")[1]) for k in old if k.startswith("stages."))
    for key in ("stem.0.weight", "stages.0.conv1.0.weight", "stages.0.conv1.1.running_mean"):
        assert torch.equal(new[key], old[key]), key
    assert not torch.equal(new[f"stages.{last}.conv1.0.weight"], old[f"stages.{last}.conv1.0.weight"])
    assert torch.equal(new["fc.weight"][:10], old["fc.weight"]) and torch.equal(new["fc.bias"][:10], old["fc.bias"])


def test_a_branch_trains_its_own_last_stage_and_leaves_every_old_output_exact(tmp_path, two_heads):
    folder = _my_faces(tmp_path / "my_faces")
    path = train(_config(tmp_path, two_heads, folder, "model.trainable=branch", "epochs=2"))
    mf, old = load_model_file(path), load_model_file(two_heads)
    assert mf.arch_kwargs == {**KWARGS, "branch": [10, 13]} and [h.name for h in mf.heads] == ["a", "b", "my_faces"]
    new_sd, old_sd = mf.state_dict, old.state_dict
    assert all(torch.equal(new_sd[k], v) for k, v in old_sd.items() if not k.startswith("fc."))  # the whole trunk
    assert torch.equal(new_sd["fc.weight"][:10], old_sd["fc.weight"])
    last = max(int(k.split(".")[1]) for k in old_sd if k.startswith("stages."))
    moved = [k for k in new_sd if k.startswith("branch.") and "num_batches" not in k]
    assert moved and any(not torch.equal(new_sd[k], old_sd[f"stages.{last}.{k[7:]}"]) for k in moved)  # it trained
    faces = np.stack([pattern_face(i % 3, np.random.default_rng(i)) for i in range(12)])
    np.testing.assert_array_equal(_logits(path, faces)[:, :10], _logits(two_heads, faces))  # bit for bit
    mine = Predictor.from_file(path, detector="haar", head="my_faces")
    assert mine.classes == ("happy", "neutral", "confused") and mine.classify(faces).shape == (12, 3)
    from ferkit.export import export_onnx
    from ferkit.inference.backends import load_backend

    onnx_b, _ = load_backend(export_onnx(path, tmp_path / "branch.onnx"), "onnx")
    x = torch.from_numpy(faces).unsqueeze(1).float().numpy() / 255
    np.testing.assert_allclose(onnx_b.logits(x), _logits(path, faces), atol=1e-4)  # the branch exports too
    with pytest.raises(ConfigError, match="has a branch already"):  # one branch per model
        train(_config(tmp_path / "again", path, _my_faces(tmp_path / "other"), "model.trainable=branch"))
    then = train(_config(tmp_path / "then", path, tmp_path / "other", "epochs=1"))  # a head after the branch
    assert [h.name for h in load_model_file(then).heads] == ["a", "b", "my_faces", "other"]
    np.testing.assert_array_equal(_logits(then, faces)[:, :13], _logits(path, faces))  # the branch's head too
    with pytest.raises(ConfigError, match="needs model.keep_heads"):
        cfg = load_config(None, [f"data.sources=[{folder}]", "model.trainable=branch", f"out={tmp_path / 'x'}"])
        train(cfg)


def test_bad_own_data_is_an_error_that_says_what(tmp_path, two_heads):
    few = _my_faces(tmp_path / "few", {"neutral": 8, "confused": 3})
    with pytest.raises(ConfigError, match=r"confused \(3\).*at least 5"):
        prepare_data(_config(tmp_path, two_heads, few))
    with pytest.raises(ConfigError, match="already has a head of that name"):
        prepare_data(_config(tmp_path, two_heads, _my_faces(tmp_path / "a")))
    with pytest.raises(ConfigError, match="keep_heads"):
        load_config(None, ["model.keep_heads=true"])


def test_a_path_alone_is_a_source():
    cfg = load_config(None, ["data.sources=[my_faces/, {path: x.zip, head: h}]"])
    assert [(s.path, s.head) for s in cfg.data.sources] == [("my_faces/", ""), ("x.zip", "h")]


def test_class_folders_smaller_than_photos_are_crops(tmp_path):
    from ferkit.data.cache import load_source

    src = load_source(class_folders(tmp_path / "f", {"happy": 2, "sad": 2}))
    assert src.images.shape == (4, 48, 48) and not src.skipped


def test_photos_are_cropped_and_faceless_ones_counted(tmp_path, monkeypatch):
    import cv2

    from ferkit.data.sources import jaffe, read_source
    from ferkit.errors import DataError
    from ferkit.imaging import Detection, crop_face

    box = Detection(box=(40.0, 30.0, 100.0, 110.0), score=0.9)

    class BrightFaces:  # finds a face in bright photos only
        name = "bright"

        def detect(self, image):
            return [box] if image.mean() > 100 else []

    monkeypatch.setattr(jaffe, "_detector", BrightFaces)
    root = tmp_path / "mine"
    bright = cv2.resize(pattern_face(0, np.random.default_rng(1)), (200, 180)) // 2 + 110
    write_image(root / "happy" / "photo.png", bright)
    write_image(root / "happy" / "dark.png", np.full((200, 200), 20, np.uint8))
    write_image(root / "happy" / "crop.png", pattern_face(1, np.random.default_rng(2)))
    assert len(read_source(root).images) == 3  # format folder: every image is a crop
    src = read_source(root, "folder-photos")
    assert len(src.images) == 2 and [(s.where.split("/")[-1], s.reason) for s in src.skipped] == [
        ("dark.png", "no face found in the photo")
    ]
    assert np.array_equal(
        src.images[list(src.ids).index("happy/photo.png")], crop_face(bright, box, jaffe.PREPROCESSING)
    )
    write_image(root / "happiness" / "x.png", pattern_face(2, np.random.default_rng(3)))
    with pytest.raises(DataError, match=r"happiness and happy are the same class \(happy\)"):
        read_source(root, "folder-photos")


def test_review_writes_the_least_certain_faces_by_class(tmp_path, model_file, capsys):
    import csv

    import cv2
    from conftest import face_image

    from ferkit.cli import main

    photos = tmp_path / "photos"
    photos.mkdir()
    cv2.imwrite(str(photos / "one.png"), face_image())
    cv2.imwrite(str(photos / "two.jpg"), face_image(faces=((200, 240, 100), (480, 200, 60))))
    (photos / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    out = tmp_path / "review"
    args = ["predict", str(photos), "--review", str(out), "--uncertain", "2", "--model", str(model_file)]
    assert main([*args, "--detector", "haar"]) == 0
    with open(out / "review.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 and float(rows[0]["score"]) <= float(rows[1]["score"])
    for r in rows:
        crop = cv2.imread(str(out / r["crop"]))
        assert r["crop"].split("/")[0] == r["label"] and max(crop.shape[:2]) <= 96
        assert r["source"].startswith(str(photos)) and float(r["w"]) > 0
    assert "1 errors" in capsys.readouterr().err
    assert main([*args, "--detector", "haar"]) == 1  # a second review into the same folder is refused
