"""Hostile and broken input: every bad request gets a JSON error with the right status, and the server still
answers a good request correctly afterwards."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

import cv2
import hostile
import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("torch")
from fastapi.testclient import TestClient  # noqa: E402
from service_fixtures import CLASSES, image_bytes, make_predictor, wait_ready, write_model_file  # noqa: E402

from ferkit.service.app import create_app  # noqa: E402
from ferkit.service.settings import ServiceSettings  # noqa: E402

LIMITS = ServiceSettings(max_image_bytes=200_000, max_request_bytes=400_000, max_pixels=4_000_000, max_faces=3)
GOOD = image_bytes(160, 120, seed=7)


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(side: int = 20000) -> bytes:
    """A valid gray PNG declaring side x side pixels whose zeros compress to a few hundred kilobytes."""
    comp, row, parts = zlib.compressobj(1), b"\x00" * (side + 1), []
    block = row * 64
    for _ in range(side // 64):
        parts.append(comp.compress(block))
    parts.append(comp.flush())
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", b"".join(parts)) + png_chunk(b"IEND", b"")
    )


def a_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("photo.jpg", GOOD)
    return buf.getvalue()


class SpyPredictor:
    """Wraps a predictor; remembers what it was given, and can be told to fail or to find many faces."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.classes = inner.classes
        self.info = inner.info
        self.inputs: list[type] = []
        self.fail = False
        self.faces = 1

    def predict_array(self, image):
        self.inputs.append(type(image))
        if self.fail:
            raise RuntimeError("secret detail at /home/someone/model.ferkit line 42")
        return self.inner.predict_array(image) * self.faces


@pytest.fixture(scope="module")
def spy(tmp_path_factory):
    return SpyPredictor(make_predictor(write_model_file(tmp_path_factory.mktemp("m") / "tiny.ferkit")))


@pytest.fixture(scope="module")
def client(spy):
    with TestClient(create_app(spy, LIMITS), raise_server_exceptions=False) as c:
        wait_ready(c)
        yield c


@pytest.fixture(autouse=True)
def still_serves(request, client, spy):
    """After each hostile request, the same server answers a good one correctly."""
    yield
    spy.fail, spy.faces = False, 1
    r = client.post("/v1/predict", files={"file": ("ok.jpg", GOOD, "image/jpeg")})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["image"] == {"width": 160, "height": 120} and len(body["faces"]) == 1
    assert list(body["faces"][0]["probs"]) == CLASSES


def error_of(r, status: int) -> str:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert "Traceback" not in r.text
    return body["error"]["code"]


JPEG = image_bytes(320, 240, seed=1)
PAYLOADS = {
    "text": (b"hello, I am not an image\n" * 10, 415, "unsupported_media_type"),
    "zip": (a_zip(), 415, "unsupported_media_type"),
    "empty": (b"", 422, "bad_image"),
    "truncated_jpeg": (JPEG[: len(JPEG) // 2], 422, "bad_image"),
    "jpeg_magic_then_garbage": (b"\xff\xd8\xff\xe0" + b"\x13" * 500, 422, "bad_image"),
    "truncated_png": (image_bytes(64, 64, ".png")[:100], 422, "bad_image"),
    "png_header_only": (b"\x89PNG\r\n\x1a\n", 422, "bad_image"),
    "gif_empty_screen": (b"GIF89a" + b"\x00" * 100, 422, "bad_image"),
    "tiff_65535_square": (hostile.tiff_65535(), 422, "image_too_large"),
    "png_idat_of_2gb": (hostile.png_huge_idat(), 422, "bad_image"),
    "jpeg_cut_and_closed": (hostile.jpeg_cut_and_closed(JPEG), 422, "bad_image"),
    "exr": (b"\x76\x2f\x31\x01" + b"\x00" * 100, 415, "unsupported_media_type"),
    "svg": (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', 415, "unsupported_media_type"),
}


@pytest.mark.parametrize("name", list(PAYLOADS))
@pytest.mark.parametrize("how", ["multipart", "raw"])
def test_bad_images_are_refused(client, name, how):
    data, status, code = PAYLOADS[name]
    if how == "multipart":
        r = client.post("/v1/predict", files={"file": (f"{name}.jpg", data, "image/jpeg")})
    else:
        r = client.post("/v1/predict", content=data, headers={"content-type": "image/jpeg"})
    assert error_of(r, status) == code


def test_png_decompression_bomb_is_refused_before_decoding(spy):
    bomb = png_bomb()  # 20000 x 20000 = 400 Mpx (1.2 GB decoded as BGR) in under 2 MB
    settings = ServiceSettings()
    assert len(bomb) < settings.max_image_bytes  # small on the wire: only the header gives it away
    before = len(spy.inputs)
    with TestClient(create_app(spy, settings)) as c:
        wait_ready(c)
        r = c.post("/v1/predict", files={"file": ("bomb.png", bomb, "image/png")})
        assert error_of(r, 422) == "image_too_large"
        assert "20000x20000" in r.json()["error"]["message"]
        assert c.post("/v1/predict", content=GOOD, headers={"content-type": "image/jpeg"}).status_code == 200
    assert spy.inputs[before:] == [np.ndarray]  # only the good image reached the predictor


def test_pixel_limit_is_configurable(client):
    flat = cv2.imencode(".jpg", np.zeros((2000, 2100, 3), np.uint8))[1].tobytes()  # 4.2 Mpx, small file
    assert len(flat) < LIMITS.max_image_bytes
    r = client.post("/v1/predict", content=flat, headers={"content-type": "image/jpeg"})
    assert error_of(r, 422) == "image_too_large"


@pytest.mark.parametrize("how", ["multipart", "raw", "chunked"])
def test_uploads_over_the_size_limit_get_413(client, how):
    big = np.random.default_rng(0).integers(0, 255, 250_000, dtype=np.uint8).tobytes()  # over 200 kB
    if how == "multipart":
        r = client.post("/v1/predict", files={"file": ("big.jpg", big, "image/jpeg")})
    elif how == "raw":
        r = client.post("/v1/predict", content=big, headers={"content-type": "image/jpeg"})
    else:  # no Content-Length: the limit holds while the body streams in
        r = client.post("/v1/predict", content=iter([big, big]), headers={"content-type": "image/jpeg"})
    assert error_of(r, 413) == "too_large"


def test_request_body_limit_comes_from_content_length(client):
    r = client.post("/v1/predict", content=b"\0" * 500_000, headers={"content-type": "image/jpeg"})
    assert error_of(r, 413) == "too_large"


def test_too_many_faces_is_refused(client, spy):
    spy.faces = 4  # over max_faces=3
    r = client.post("/v1/predict", content=GOOD, headers={"content-type": "image/jpeg"})
    assert error_of(r, 422) == "too_many_faces"
    spy.faces = 3
    assert len(client.post("/v1/predict", content=GOOD, headers={"content-type": "image/jpeg"}).json()["faces"]) == 3


def test_nothing_a_client_sends_becomes_a_path(client, spy, tmp_path):
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(GOOD)  # a readable image: if any of these were opened as a path, it would "work"
    before = len(spy.inputs)
    r = client.post("/v1/predict", files={"file": (str(secret), str(secret).encode(), "image/jpeg")})
    assert error_of(r, 415) == "unsupported_media_type"
    r = client.post("/v1/predict", content=str(secret).encode(), headers={"content-type": "image/jpeg"})
    assert error_of(r, 415) == "unsupported_media_type"
    r = client.post(f"/v1/predict?file={secret}&model={secret}", data={"file": str(secret)})
    assert error_of(r, 415) == "unsupported_media_type"
    r = client.post("/v1/predict", files={"file": ("../../../etc/passwd", GOOD, "image/jpeg")})
    assert r.status_code == 200
    assert spy.inputs[before:] == [np.ndarray]  # only decoded pixels reach the predictor


def test_wrong_content_type_and_missing_field(client):
    assert error_of(client.post("/v1/predict", content=b"{}", headers={"content-type": "application/json"}), 415)
    assert error_of(client.post("/v1/predict", files={"image": ("a.jpg", GOOD, "image/jpeg")}), 422)
    assert error_of(client.post("/v1/predict", files={"file": (None, "just text")}), 422)
    bad = client.post("/v1/predict", content=b"--xx\r\ngarbage", headers={"content-type": "multipart/form-data"})
    assert error_of(bad, 400) == "bad_request"


def test_unknown_routes_and_methods(client):
    assert error_of(client.get("/v1/nothing"), 404) == "not_found"
    assert error_of(client.get("/v1/predict"), 405) == "method_not_allowed"
    assert error_of(client.get("/static/../../../../etc/passwd"), 404) == "not_found"


def test_internal_errors_do_not_leak(client, spy):
    spy.fail = True
    r = client.post("/v1/predict", content=GOOD, headers={"content-type": "image/jpeg"})
    assert error_of(r, 500) == "internal_error"
    assert "secret" not in r.text and "/home" not in r.text and "RuntimeError" not in r.text


def test_internal_error_in_batch_is_an_entry(client, spy):
    spy.fail = True
    r = client.post("/v1/predict/batch", files=[("files", ("a.jpg", GOOD, "image/jpeg"))])
    assert r.status_code == 200
    item = r.json()["results"][0]
    assert item["status"] == 500 and item["error"]["code"] == "internal_error" and "secret" not in r.text


def test_cors_is_off_by_default(client):
    r = client.options("/v1/predict", headers={"Origin": "http://evil.test", "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in r.headers
    r = client.get("/v1/model", headers={"Origin": "http://evil.test"})
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers


def test_cors_allows_only_configured_origins(spy):
    app = create_app(spy, ServiceSettings(cors_origins=("http://app.test",)))
    with TestClient(app) as c:
        wait_ready(c)
        pre = {"Access-Control-Request-Method": "POST"}
        ok = c.options("/v1/predict", headers={"Origin": "http://app.test", **pre})
        assert ok.headers["access-control-allow-origin"] == "http://app.test"
        other = c.get("/v1/model", headers={"Origin": "http://evil.test"})
        assert "access-control-allow-origin" not in other.headers
