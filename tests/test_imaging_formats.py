"""Structure checks before decoding: every accepted format decodes, and the hostile files of issue #12 are refused
at once, with an ImageError that names the file, without reaching the decoder."""

import contextlib
import json
import os
import time

import cv2
import hostile
import numpy as np
import pytest

from ferkit.cli import main
from ferkit.data import read_source
from ferkit.errors import DataError, ImageError, ImageTooLargeError, UnsupportedImageError
from ferkit.imaging import check, decode, load_image, quiet_codecs


@pytest.mark.parametrize("name", list(hostile.seeds()))
def test_every_accepted_format_decodes_as_opencv_does(name):
    data = hostile.seeds()[name]
    header = check(data)
    img = decode(data, name)
    assert (header.width, header.height) == (96, 72) and img.shape == (72, 96, 3)
    np.testing.assert_array_equal(img, cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR))
    assert decode(data, name, gray=True).shape == (72, 96)


@pytest.mark.parametrize(
    "name, error, message",
    [
        ("png_huge_idat", ImageError, "chunk IDAT at byte 33 declares 2,147,483,632 bytes, past the end"),
        ("tiff_65535", ImageTooLargeError, "65535x65535 image is above the 50,000,000 pixel limit"),
        ("tiff_30000", ImageTooLargeError, "30000x30000 image is above"),
    ],
)
def test_hostile_files_never_reach_the_decoder(name, error, message, monkeypatch, tmp_path):
    path = tmp_path / f"{name}.bin"
    path.write_bytes(hostile.attacks()[name])
    monkeypatch.setattr(cv2, "imdecode", lambda *a: pytest.fail("decoder called"))
    with pytest.raises(error, match=f"{name}.bin: .*{message}"):
        load_image(path)


def test_a_jpeg_cut_short_and_closed_with_an_end_marker_is_refused():
    for seed in (hostile.seeds()["jpeg"], hostile.seeds()["jpeg_progressive"], None):
        data = hostile.jpeg_cut_and_closed(seed)
        assert cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) is not None  # OpenCV fills in grey
        with pytest.raises(ImageError, match="truncated JPEG: its image data ends early"):
            decode(data)


def test_a_complete_jpeg_with_grey_corners_is_not_mistaken_for_a_truncated_one():
    img = np.full((64, 80, 3), 128, np.uint8)
    img[20:40, 20:60] = (10, 200, 90)
    data = cv2.imencode(".jpg", img)[1].tobytes()
    assert decode(data).shape == (64, 80, 3)


@pytest.mark.parametrize(
    "data, error, message",
    [
        (b"v/1\x01" + bytes(100), UnsupportedImageError, "not an image in a supported format"),  # OpenEXR
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", UnsupportedImageError, "supported format"),
        (b"\xff\xd8\xff\xe0" + b"\x13" * 500, ImageError, "corrupt JPEG|truncated JPEG"),
        (b"GIF89a" + bytes(100), ImageError, "corrupt GIF: declares an empty screen 0x0"),
        (hostile.seeds()["png"][:-30] + hostile.seeds()["png"][-12:], ImageError, "truncated PNG|corrupt PNG"),
        (hostile.seeds()["bmp"][:1000], ImageError, "truncated BMP"),
        (hostile.seeds()["webp"][:600], ImageError, "truncated WebP"),
        (hostile.seeds()["ppm"][:600], ImageError, "truncated PNM"),
        (hostile.seeds()["gif"][:-40], ImageError, "truncated GIF"),
        (hostile.seeds()["tiff_plain"][:3000], ImageError, "truncated TIFF: image data past the end"),
    ],
)
def test_broken_structures_are_named(data, error, message):
    with pytest.raises(error, match=message):
        decode(data, "upload.bin")


def test_cut_files_of_every_format_are_refused():
    for data in hostile.seeds().values():
        for cut in (len(data) // 3, len(data) - 5):
            with pytest.raises(ImageError, match="upload"):
                decode(data[:cut], "upload")


def test_folder_run_records_the_hostile_files_and_goes_on(tmp_path, model_file, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    cv2.imwrite(str(folder / "a_good.jpg"), hostile.picture(160, 120))
    for name, data in hostile.attacks().items():
        (folder / f"b_{name}.{'tif' if 'tiff' in name else 'png' if 'png' in name else 'jpg'}").write_bytes(data)
    out = tmp_path / "out.jsonl"
    args = ["predict", str(folder), "--out", str(out), "--model", str(model_file), "--detector", "haar"]
    assert main(args) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 5 and "faces" in records[0]
    assert all("error" in r and os.path.basename(r["path"]) in r["error"] for r in records[1:])
    assert main([*args, "--resume"]) == 0
    assert "0 images" in capsys.readouterr().err


def test_data_inspect_skips_the_hostile_tiff(tmp_path, capsys):
    (tmp_path / "happy").mkdir()
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"happy/img{i}.png"), hostile.picture())
    (tmp_path / "happy/bomb.tiff").write_bytes(hostile.tiff_65535())
    assert main(["data", "inspect", str(tmp_path), "--no-cache"]) == 1
    assert "bomb.tiff: 65535x65535 image is above" in capsys.readouterr().err
    assert main(["data", "inspect", str(tmp_path), "--no-cache", "--on-error", "skip", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["skipped"]["count"] == 1
    with pytest.raises(DataError, match="bomb.tiff"):
        read_source(tmp_path)


def test_quiet_codecs_drops_an_ffmpeg_line_written_in_parts(capfd):
    # FFmpeg's log writes its "[demuxer @ 0x...] " tag, then the message: the filter may wake up in between
    with quiet_codecs():
        os.write(2, b"[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55d0c0a1b2c0] ")
        time.sleep(0.2)
        os.write(2, b"moov atom not found\n")
        os.write(2, b"[a bracketed line] of our own\n")
    err = capfd.readouterr().err
    assert "moov" not in err and "@ 0x" not in err and "[a bracketed line] of our own" in err


def test_quiet_codecs_drops_the_decoders_lines_and_keeps_others(capfd, tmp_path):
    hostile_video = tmp_path / "clip.mp4"
    hostile_video.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)  # an mp4 with no moov atom
    data = hostile.seeds()["jpeg"]
    flipped = data[:-200] + bytes(b ^ 0x55 if b != 0xFF else b for b in data[-200:-2]) + data[-2:]
    with quiet_codecs():
        for _ in range(3):
            with contextlib.suppress(ImageError):
                decode(flipped)
        os.write(2, b"a line of our own\n")
        cv2.VideoCapture(str(hostile_video))  # FFmpeg: "[mov,mp4,... @ 0x...] moov atom not found"
        os.write(2, b"[a bracketed line] of our own\n")
    err = capfd.readouterr().err
    assert "a line of our own" in err and "[a bracketed line] of our own" in err
    assert "JPEG" not in err and "moov" not in err and "@ 0x" not in err
