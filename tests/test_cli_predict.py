import csv
import json

import cv2
import numpy as np
import pytest
from conftest import face_image

from ferkit.cli import main


@pytest.fixture
def photos(tmp_path):
    d = tmp_path / "photos"
    (d / "sub").mkdir(parents=True)
    cv2.imwrite(str(d / "one.png"), face_image())
    cv2.imwrite(str(d / "sub" / "two.jpg"), face_image(faces=((200, 240, 100), (480, 200, 60))))
    cv2.imwrite(str(d / "blank.png"), face_image(faces=()))
    (d / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (d / "notes.txt").write_text("not an image, not listed")
    return d


def _args(model_file):
    return ["--model", str(model_file), "--detector", "haar"]


def test_single_image_table_json_annotate(photos, model_file, tmp_path, capsys):
    assert main(["predict", str(photos / "one.png"), *_args(model_file)]) == 0
    out = capsys.readouterr().out
    assert "happy" in out and "contempt" in out and out.count("\n") == 2
    ann = tmp_path / "ann.png"
    assert main(["predict", str(photos / "sub" / "two.jpg"), "--json", "--annotate", str(ann), *_args(model_file)]) == 0
    d = json.loads(capsys.readouterr().out)
    assert len(d["faces"]) == 2 and set(d["faces"][0]["probs"]) >= {"happy", "neutral"}
    img = cv2.imread(str(ann))
    assert img is not None and img.shape == (480, 640, 3)  # the input's size
    assert main(["predict", str(photos / "blank.png"), *_args(model_file)]) == 0
    assert "no face found" in capsys.readouterr().out
    assert main(["predict", str(photos / "sub" / "two.jpg"), "--json", "--tta", "flip", *_args(model_file)]) == 0
    flipped = json.loads(capsys.readouterr().out)
    assert [f["box"] for f in flipped["faces"]] == [f["box"] for f in d["faces"]]
    assert any(a["probs"] != b["probs"] for a, b in zip(flipped["faces"], d["faces"], strict=True))  # mirror mean


def test_single_bad_image_is_exit_1(photos, model_file, capsys):
    assert main(["predict", str(photos / "broken.jpg"), *_args(model_file)]) == 1
    assert "broken.jpg" in capsys.readouterr().err
    assert main(["predict", str(photos / "missing.jpg"), *_args(model_file)]) == 1


def test_usage_errors_are_exit_2(photos, model_file, capsys):
    assert main(["predict", str(photos), *_args(model_file)]) == 2  # a folder needs --out
    assert main(["predict", str(photos / "*.png"), *_args(model_file)]) == 2  # so does a glob
    assert main(["predict", str(photos / "one.png"), "--resume", *_args(model_file)]) == 2
    with pytest.raises(SystemExit) as e:
        main(["predict", str(photos / "one.png"), "--backend", "tensorflow"])
    assert e.value.code == 2


def test_missing_model_is_exit_1(photos, tmp_path, capsys):
    assert main(["predict", str(photos / "one.png"), "--model", str(tmp_path / "no.ferkit")]) == 1
    assert "no such model file" in capsys.readouterr().err


def test_folder_jsonl_with_errors_and_resume(photos, model_file, tmp_path, capsys):
    out = tmp_path / "res.jsonl"
    assert main(["predict", str(photos), "--out", str(out), *_args(model_file)]) == 0
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    by = {r["path"].rsplit("/", 1)[1]: r for r in recs}
    assert set(by) == {"one.png", "two.jpg", "blank.png", "broken.jpg"}
    assert "broken.jpg" in by["broken.jpg"]["error"]
    assert len(by["two.jpg"]["faces"]) == 2 and by["blank.png"]["faces"] == []
    assert "4 images, 3 faces, 1 errors" in capsys.readouterr().err
    # existing output: refused without --resume/--force
    assert main(["predict", str(photos), "--out", str(out), *_args(model_file)]) == 1
    # a crash: keep two records and half a line; --resume completes the rest and repairs the file
    lines = out.read_text().splitlines(keepends=True)
    out.write_text(lines[0] + lines[1] + lines[2][:10])
    assert main(["predict", str(photos), "--out", str(out), "--resume", *_args(model_file)]) == 0
    recs2 = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["path"] for r in recs2) == sorted(r["path"] for r in recs)
    assert "2 already done" in capsys.readouterr().err


def test_glob_to_csv_and_annotations(photos, model_file, tmp_path):
    out, ann = tmp_path / "res.csv", tmp_path / "ann"
    pattern = str(photos / "**" / "*.jpg")
    assert main(["predict", pattern, "--out", str(out), "--annotate", str(ann), *_args(model_file)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert [r["path"].rsplit("/", 1)[1] for r in rows] == ["broken.jpg", "two.jpg", "two.jpg"]
    assert rows[0]["error"] and rows[1]["label"] and float(rows[1]["happy"]) > 0
    assert len(list(ann.iterdir())) == 1
    assert main(["predict", str(photos / "*.gif"), "--out", str(tmp_path / "x.csv"), *_args(model_file)]) == 1


def test_detector_fallback_is_announced(photos, model_file, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FERKIT_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.delenv("FERKIT_YUNET", raising=False)
    assert main(["predict", str(photos / "one.png"), "--model", str(model_file)]) == 0
    err = capsys.readouterr().err
    assert "note: YuNet face detector unavailable" in err and "Haar" in err


def test_several_named_images_print_a_table_each(photos, model_file, tmp_path, capsys):
    one, two, bad = str(photos / "one.png"), str(photos / "sub" / "two.jpg"), str(photos / "broken.jpg")
    assert main(["predict", one, two, *_args(model_file)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(one + "\n") and f"\n\n{two}\n" in out and out.count("box (x y w h)") == 2
    assert main(["predict", one, bad, two, "--json", "--annotate", str(tmp_path / "ann"), *_args(model_file)]) == 1
    captured = capsys.readouterr()
    lines = [json.loads(line) for line in captured.out.splitlines()]
    assert [r["path"] for r in lines] == [one, two] and len(lines[1]["faces"]) == 2
    assert "broken.jpg" in captured.err  # the bad one is an error line; the others went on
    assert sorted(p.name for p in (tmp_path / "ann").iterdir()) == ["00000_one.jpg", "00002_two.jpg"]


def test_faces_are_numbered_left_to_right_and_annotations_keep_the_size(photos, model_file, tmp_path, capsys):
    img = face_image(faces=((470, 240, 110), (160, 250, 70)))  # the bigger (likelier) face on the right
    cv2.imwrite(str(tmp_path / "pair.png"), img)
    ann, panel = tmp_path / "ann.png", tmp_path / "panel.png"
    assert main(["predict", str(tmp_path / "pair.png"), "--json", "--annotate", str(ann), *_args(model_file)]) == 0
    xs = [f["box"][0] for f in json.loads(capsys.readouterr().out)["faces"]]
    assert len(xs) == 2 and xs == sorted(xs)
    assert cv2.imread(str(ann)).shape == img.shape
    assert main(["predict", str(tmp_path / "pair.png"), "--annotate", str(panel), "--panel", *_args(model_file)]) == 0
    assert cv2.imread(str(panel)).shape[1] > img.shape[1]


def test_whole_image_takes_a_face_crop_the_detector_misses(photos, model_file, tmp_path, capsys):
    blank = tmp_path / "gradient.png"  # 640x480, no face for Haar to find, and not one flat grey
    cv2.imwrite(str(blank), np.tile(np.linspace(0, 255, 640, dtype=np.uint8), (480, 1)))
    assert main(["predict", str(photos / "blank.png"), "--json", "--whole-image", "always", *_args(model_file)]) == 0
    assert json.loads(capsys.readouterr().out)["faces"] == []  # one flat colour is never a face
    assert main(["predict", str(blank), "--json", *_args(model_file)]) == 0
    assert json.loads(capsys.readouterr().out)["faces"] == []
    assert main(["predict", str(blank), "--json", "--whole-image", "always", *_args(model_file)]) == 0
    (face,) = json.loads(capsys.readouterr().out)["faces"]
    assert face["box"] == [0.0, 0.0, 640.0, 480.0] and face["detection_score"] == 0.0
    small = tmp_path / "crop.png"  # at most 96 px a side: a face crop unless --whole-image never
    cv2.imwrite(str(small), cv2.resize(cv2.imread(str(blank)), (64, 64)))
    assert main(["predict", str(small), "--json", *_args(model_file)]) == 0
    assert len(json.loads(capsys.readouterr().out)["faces"]) == 1
    assert main(["predict", str(small), "--json", "--whole-image", "never", *_args(model_file)]) == 0
    assert json.loads(capsys.readouterr().out)["faces"] == []
    with pytest.raises(SystemExit) as e:
        main(["predict", str(blank), "--whole-image", "crops", *_args(model_file)])
    assert e.value.code == 2 and "invalid choice: 'crops'" in capsys.readouterr().err


def test_prior_moves_the_class_mix_and_bad_ones_say_why(photos, model_file, tmp_path, capsys):
    from dataclasses import replace

    from ferkit.engine.checkpoint import load_model_file, save_model_file

    mf = load_model_file(model_file)
    mf.heads = [replace(mf.heads_now()[0], prior=(0.1, 0.02, 0.1, 0.3, 0.15, 0.1, 0.22, 0.01))]
    path = tmp_path / "with-prior.ferkit"
    save_model_file(mf, path)
    img = str(photos / "one.png")
    runs = {}
    for prior in [None, "contempt=0.3", "balanced"]:
        assert main(["predict", img, "--json", *_args(path), *(["--prior", prior] if prior else [])]) == 0
        runs[prior] = json.loads(capsys.readouterr().out)["faces"][0]["probs"]
    own = np.array(mf.heads[0].prior)
    base = np.array([runs[None][c] for c in mf.classes])
    for prior, target in [("contempt=0.3", np.r_[own[:7] * 0.7 / 0.99, 0.3]), ("balanced", np.full(8, 1 / 8))]:
        want = base * target / own
        np.testing.assert_allclose([runs[prior][c] for c in mf.classes], want / want.sum(), atol=2e-4)
    assert main(["predict", img, *_args(path), "--prior", "bored=0.1"]) == 1
    assert "prior: unknown class 'bored'" in capsys.readouterr().err
    assert main(["predict", img, *_args(model_file), "--prior", "balanced"]) == 1  # the tiny file records no prior
    assert "records no class prior" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["predict", img, *_args(path), "--prior", "contempt"])
    assert e.value.code == 2 and "class=share" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["predict", img, *_args(path), "--close-up", "1.5"])
    assert e.value.code == 2 and "fraction in [0, 1)" in capsys.readouterr().err
