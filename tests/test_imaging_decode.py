import os
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from ferkit.errors import ImageError
from ferkit.imaging import header_size, load_image


def _exif_jpeg(img: np.ndarray, orientation: int) -> bytes:
    """A JPEG whose EXIF Orientation tag is set (a minimal big-endian TIFF block with one IFD entry)."""
    ok, jpg = cv2.imencode(".jpg", img)
    tiff = b"MM\x00*" + struct.pack(">I", 8) + struct.pack(">H", 1)
    tiff += struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack(">I", 0)
    app1 = b"Exif\x00\x00" + tiff
    seg = b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1
    data = jpg.tobytes()
    return data[:2] + seg + data[2:]


def test_exif_orientation_applied(tmp_path):
    img = np.zeros((40, 60, 3), np.uint8)
    img[:, :10] = 255  # a white band on the left edge
    path = tmp_path / "rotated.jpg"
    path.write_bytes(_exif_jpeg(img, 6))  # 6: the viewer must rotate 90 degrees clockwise
    out = load_image(path)
    assert out.shape == (60, 40, 3)
    assert out[:10].mean() > 200 and out[-10:].mean() < 50  # the left band is now on top


def test_arrays_of_every_layout():
    rgb = np.zeros((20, 30, 3), np.uint8)
    rgb[..., 0] = 200  # red in RGB
    assert load_image(rgb, color="rgb")[0, 0].tolist() == [0, 0, 200]
    assert load_image(rgb)[0, 0].tolist() == [200, 0, 0]
    gray = np.full((20, 30), 77, np.uint8)
    assert load_image(gray).shape == (20, 30, 3) and load_image(gray[..., None])[0, 0].tolist() == [77, 77, 77]
    rgba = np.dstack([rgb, np.full((20, 30), 255, np.uint8)])
    assert load_image(rgba, color="rgb")[0, 0].tolist() == [0, 0, 200]
    assert load_image(np.full((5, 5), 65535, np.uint16))[0, 0].tolist() == [255] * 3
    assert load_image(np.full((5, 5), 0.5, np.float32))[0, 0, 0] == 128
    with pytest.raises(ImageError, match="expected"):
        load_image(np.zeros((5, 5, 2), np.uint8))


def test_pil_image():
    Image = pytest.importorskip("PIL.Image")
    out = load_image(Image.new("RGB", (8, 6), (255, 0, 0)))
    assert out.shape == (6, 8, 3) and out[0, 0].tolist() == [0, 0, 255]


def test_bad_files_are_image_errors(tmp_path):
    ok, png = cv2.imencode(".png", np.zeros((10, 10, 3), np.uint8))
    ok, jpg = cv2.imencode(".jpg", np.zeros((10, 10, 3), np.uint8))
    cases = {
        "missing.jpg": None,
        "empty.jpg": b"",
        "truncated.jpg": jpg.tobytes()[: len(jpg) // 2],
        "truncated.png": png.tobytes()[:-20],
        "text.jpg": b"hello, not an image",
    }
    for name, data in cases.items():
        if data is not None:
            (tmp_path / name).write_bytes(data)
        with pytest.raises(ImageError, match=name):
            load_image(tmp_path / name)
    with pytest.raises(ImageError, match="folder"):
        load_image(tmp_path)


def test_pixel_limit_from_header_before_decoding(tmp_path, monkeypatch):
    ok, png = cv2.imencode(".png", np.zeros((300, 400, 3), np.uint8))
    ok, jpg = cv2.imencode(".jpg", np.zeros((300, 400, 3), np.uint8))
    assert header_size(png.tobytes()) == (400, 300) and header_size(jpg.tobytes()) == (400, 300)
    ok, webp = cv2.imencode(".webp", np.zeros((300, 400, 3), np.uint8))
    assert header_size(webp.tobytes()) == (400, 300)
    ok, bmp = cv2.imencode(".bmp", np.zeros((300, 400, 3), np.uint8))
    assert header_size(bmp.tobytes()) == (400, 300)
    # A 100000 x 100000 PNG header (a decompression bomb) is refused without calling the decoder.
    ihdr = struct.pack(">II", 100_000, 100_000) + png.tobytes()[24:29]
    ihdr_chunk = struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    bomb = png.tobytes()[:8] + ihdr_chunk + png.tobytes()[33:]
    (tmp_path / "bomb.png").write_bytes(bomb)
    monkeypatch.setattr(cv2, "imdecode", lambda *a: pytest.fail("decoder called"))
    with pytest.raises(ImageError, match="bomb.png.*pixel limit"):
        load_image(tmp_path / "bomb.png")
    with pytest.raises(ImageError, match="pixel limit"):
        load_image(png.tobytes(), max_pixels=1000)


def test_16bit_and_alpha_files(tmp_path):
    deep = np.full((10, 12, 3), 40000, np.uint16)
    cv2.imwrite(str(tmp_path / "deep.png"), deep)
    out = load_image(tmp_path / "deep.png")
    assert out.dtype == np.uint8 and out.shape == (10, 12, 3) and abs(int(out[0, 0, 0]) - 40000 * 255 // 65535) <= 1
    bgra = np.zeros((10, 12, 4), np.uint8)
    bgra[..., 2], bgra[..., 3] = 250, 128
    cv2.imwrite(str(tmp_path / "alpha.png"), bgra)
    assert load_image(tmp_path / "alpha.png")[0, 0].tolist() == [0, 0, 250]
    cv2.imwrite(str(tmp_path / "gray.png"), np.full((10, 12), 9, np.uint8))
    assert load_image(tmp_path / "gray.png")[0, 0].tolist() == [9, 9, 9]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX named pipes")
def test_a_pipe_or_a_device_is_refused_not_read_forever(tmp_path):
    fifo = tmp_path / "photo.jpg"
    os.mkfifo(fifo)  # opening it for reading would wait for a writer that never comes
    for path in [fifo, *([Path("/dev/zero")] if Path("/dev/zero").exists() else [])]:
        with pytest.raises(ImageError, match="not a regular file"):
            load_image(path)
