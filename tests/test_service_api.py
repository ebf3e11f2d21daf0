"""The HTTP API on a real (random-weight) model with a fixed-box detector: shapes, values, routes, concurrency."""

from __future__ import annotations

import asyncio
import base64
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("torch")
from fastapi.testclient import TestClient  # noqa: E402
from service_fixtures import CLASSES, METRICS, image_bytes, make_predictor, wait_ready, write_model_file  # noqa: E402

import ferkit  # noqa: E402
from ferkit.service.app import create_app  # noqa: E402
from ferkit.service.settings import ServiceSettings  # noqa: E402


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    return write_model_file(tmp_path_factory.mktemp("model") / "tiny.ferkit")


@pytest.fixture(scope="module")
def client(model_path):
    app = create_app(lambda: make_predictor(model_path), ServiceSettings(max_concurrency=2))
    with TestClient(app, raise_server_exceptions=False) as c:
        wait_ready(c)
        yield c


def check_result(body: dict, width: int, height: int, n_faces: int = 1) -> None:
    assert body["classes"] == CLASSES
    assert body["image"] == {"width": width, "height": height}
    assert len(body["faces"]) == n_faces
    for face in body["faces"]:
        assert set(face["box"]) == {"x", "y", "w", "h"} and face["box"]["w"] > 0
        assert list(face["probs"]) == CLASSES
        assert sum(face["probs"].values()) == pytest.approx(1.0, abs=1e-4)
        assert face["label"] == max(face["probs"], key=face["probs"].get)
        assert face["score"] == pytest.approx(face["probs"][face["label"]])
        assert face["landmarks"] is None


def test_predict_multipart_matches_in_process_predictor(client, model_path):
    data = image_bytes(200, 150)
    r = client.post("/v1/predict", files={"file": ("x.jpg", data, "image/jpeg")})
    assert r.status_code == 200, r.text
    body = r.json()
    check_result(body, 200, 150)
    expected = make_predictor(model_path).predict(data)[0]
    assert body["faces"][0]["box"] == pytest.approx(dict(zip("xywh", expected.box, strict=True)), abs=0.005)
    assert body["faces"][0]["probs"] == pytest.approx(expected.probs, abs=1e-6)
    assert body["annotated"] is None


def test_predict_raw_body_equals_multipart(client):
    data = image_bytes(120, 90, ".png", seed=3)
    raw = client.post("/v1/predict", content=data, headers={"content-type": "image/png"})
    form = client.post("/v1/predict", files={"file": ("y.png", data, "image/png")})
    assert raw.status_code == form.status_code == 200
    check_result(raw.json(), 120, 90)
    assert raw.json() == form.json()


def test_annotate_returns_the_image_with_boxes(client):
    data = image_bytes(160, 120)
    body = client.post("/v1/predict?annotate=true", content=data, headers={"content-type": "image/jpeg"}).json()
    assert body["annotated"]["format"] == "jpeg"
    drawn = cv2.imdecode(np.frombuffer(base64.b64decode(body["annotated"]["data"]), np.uint8), cv2.IMREAD_COLOR)
    assert drawn.shape == (120, 160, 3)  # the input's size
    original = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert np.abs(drawn.astype(int) - original.astype(int)).mean() > 1  # something was drawn


def test_batch_one_result_per_image_bad_one_isolated(client):
    files = [
        ("files", ("a.jpg", image_bytes(100, 80, seed=1), "image/jpeg")),
        ("files", ("b.txt", b"not an image", "text/plain")),
        ("files", ("c.png", image_bytes(64, 64, ".png", seed=2), "image/png")),
    ]
    r = client.post("/v1/predict/batch", files=files)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["index"] for x in results] == [0, 1, 2]
    assert [x["status"] for x in results] == [200, 415, 200]
    check_result(results[0]["result"], 100, 80)
    check_result(results[2]["result"], 64, 64)
    assert results[1]["error"]["code"] == "unsupported_media_type" and results[1]["result"] is None


def test_batch_limits(model_path):
    app = create_app(make_predictor(model_path), ServiceSettings(max_batch=2))
    with TestClient(app) as c:
        wait_ready(c)
        files = [("files", (f"{i}.jpg", image_bytes(32, 32, seed=i), "image/jpeg")) for i in range(3)]
        r = c.post("/v1/predict/batch", files=files)
        assert r.status_code == 413 and r.json()["error"]["code"] == "too_many_images"
        more = files + [("files", ("x.jpg", image_bytes(32, 32), "image/jpeg"))] * 3  # past the parser's own limit
        assert c.post("/v1/predict/batch", files=more).json() == r.json()  # one status, one message, any excess
        assert c.post("/v1/predict/batch", files=files[:2]).status_code == 200
        assert c.post("/v1/predict/batch", data={"x": "1"}, files={"other": ("a", b"1")}).status_code == 422


def test_model_info(client):
    r = client.get("/v1/model")
    assert r.status_code == 200
    info = r.json()
    assert info["arch"] == "fernet_s" and info["name"] == "fernet_s"
    assert info["classes"] == CLASSES
    assert info["preprocessing"] == {"size": 48, "margin": 0.0, "align": True, "zoom": 1.0}
    assert info["metrics"] == METRICS and info["temperature"] == 1.0
    assert info["backend"] == "torch" and info["head"] == "default" and info["prior"] is None
    assert info["ferkit_version"] == ferkit.__version__


def test_health_and_ready(client):
    assert client.get("/healthz").json() == {"status": "ok", "detail": None}
    assert client.get("/readyz").json()["status"] == "ready"


def test_ready_only_after_the_model_loads(model_path):
    gate = threading.Event()

    def slow_factory():
        gate.wait(10)
        return make_predictor(model_path)

    with TestClient(create_app(slow_factory)) as c:
        assert c.get("/healthz").status_code == 200
        r = c.get("/readyz")
        assert r.status_code == 503 and r.json()["status"] == "loading"
        r = c.post("/v1/predict", content=image_bytes(), headers={"content-type": "image/jpeg"})
        assert r.status_code == 503 and r.json()["error"]["code"] == "not_ready"
        gate.set()
        wait_ready(c)
        assert c.post("/v1/predict", content=image_bytes(), headers={"content-type": "image/jpeg"}).status_code == 200


def test_load_first_finishes_loading_before_start_up_ends(model_path, tmp_path):
    loaded = []

    def slow_factory():
        time.sleep(0.3)
        loaded.append(1)
        return make_predictor(model_path)

    with TestClient(create_app(slow_factory, load_first=True)) as c:  # entering runs the lifespan's start-up
        assert loaded and c.get("/readyz").json()["status"] == "ready"  # the very first answer: ready
    with TestClient(create_app(tmp_path / "missing.ferkit", load_first=True)) as c:
        r = c.get("/readyz")  # a failed load still ends start-up, and is reported
        assert r.status_code == 503 and r.json()["status"] == "failed" and "missing.ferkit" in r.json()["detail"]


def test_failed_load_is_reported_not_fatal(tmp_path):
    with TestClient(create_app(tmp_path / "missing.ferkit")) as c:
        deadline = time.monotonic() + 10
        while c.get("/readyz").json()["status"] == "loading" and time.monotonic() < deadline:
            time.sleep(0.02)
        r = c.get("/readyz")
        assert r.status_code == 503 and r.json()["status"] == "failed"
        assert "no such model file" in r.json()["detail"]
        assert c.get("/healthz").status_code == 200


class _Recorder:
    """Wraps a predictor: counts calls in flight, and checks none runs on a thread with an event loop."""

    def __init__(self, inner, stats: dict, lock: threading.Lock) -> None:
        self.inner, self.stats, self.lock = inner, stats, lock
        self.classes = inner.classes

    def predict(self, image):
        with self.lock:
            self.stats["now"] += 1
            self.stats["max"] = max(self.stats["max"], self.stats["now"])
        try:
            asyncio.get_running_loop()
            self.stats["on_loop"] += 1
        except RuntimeError:
            pass
        time.sleep(0.05)
        try:
            return self.inner.predict(image)
        finally:
            with self.lock:
                self.stats["now"] -= 1


@pytest.mark.parametrize("concurrency", [1, 2])
def test_inference_is_bounded_and_off_the_event_loop(model_path, concurrency):
    stats, lock = {"now": 0, "max": 0, "on_loop": 0}, threading.Lock()
    app = create_app(
        lambda: _Recorder(make_predictor(model_path), stats, lock), ServiceSettings(max_concurrency=concurrency)
    )
    data = image_bytes()
    with TestClient(app) as c:
        wait_ready(c)

        def post(_):
            return c.post("/v1/predict", content=data, headers={"content-type": "image/jpeg"}).status_code

        with ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(post, range(8)))
    assert codes == [200] * 8
    assert stats["max"] == concurrency
    assert stats["on_loop"] == 0


def test_docs_and_openapi_are_served_without_a_cdn(client):
    pytest.importorskip("swagger_ui_bundle", reason="swagger-ui-bundle-v2 not installed: /docs uses the CDN")
    html = client.get("/docs").text
    assert "/docs-assets/swagger-ui-bundle.js" in html and "https://" not in html
    assert client.get("/docs-assets/swagger-ui-bundle.js").status_code == 200
    spec = client.get("/openapi.json").json()
    assert {"/v1/predict", "/v1/predict/batch", "/v1/model", "/healthz", "/readyz"} <= set(spec["paths"])


def test_web_page_is_self_contained(client):
    r = client.get("/")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    assert "default-src 'self'" in r.headers["content-security-policy"]
    for path in ("/", "/static/app.js", "/static/style.css"):
        text = client.get(path).text
        assert "http://" not in text and "https://" not in text and "//cdn" not in text, path
    assert client.get("/static/../app.py").status_code == 404


def test_serves_an_onnx_export(model_path, tmp_path):
    pytest.importorskip("onnx")
    from ferkit.export import export_onnx

    onnx_path = export_onnx(model_path, tmp_path / "tiny.onnx")
    data = image_bytes(120, 100, seed=9)
    with TestClient(create_app(lambda: make_predictor(onnx_path))) as c:
        wait_ready(c)
        info = c.get("/v1/model").json()
        assert info["backend"] == "onnx" and info["arch"] == "fernet_s" and info["metrics"] == METRICS
        body = c.post("/v1/predict", content=data, headers={"content-type": "image/jpeg"}).json()
    check_result(body, 120, 100)
    torch_probs = make_predictor(model_path).predict(data)[0].probs
    assert body["faces"][0]["probs"] == pytest.approx(torch_probs, abs=1e-4)


def test_real_detector_finds_a_drawn_face(model_path):
    from conftest import YUNET_ALT, face_image

    if not YUNET_ALT.is_file():
        pytest.skip(f"YuNet model file not found at {YUNET_ALT}")
    from ferkit.inference.predictor import Predictor

    img = face_image(((200, 240, 100), (470, 220, 80)))  # two cartoon faces
    data = cv2.imencode(".jpg", img)[1].tobytes()
    with TestClient(create_app(lambda: Predictor.from_file(model_path, detector="yunet", yunet=YUNET_ALT))) as c:
        wait_ready(c)
        body = c.post("/v1/predict", files={"file": ("faces.jpg", data, "image/jpeg")}).json()
    assert len(body["faces"]) == 2
    centres = sorted(f["box"]["x"] + f["box"]["w"] / 2 for f in body["faces"])
    assert centres[0] == pytest.approx(200, abs=30) and centres[1] == pytest.approx(470, abs=30)
    assert all(len(f["landmarks"]) == 5 for f in body["faces"])


def test_model_info_says_which_head_and_class_mix_answer():
    from types import SimpleNamespace

    from ferkit.service import adapter

    p = SimpleNamespace(classes=("happy", "contempt"), head="ferplus", prior={"contempt": 0.2})
    info = adapter.model_info(p)
    assert (info["head"], info["prior"], info["classes"]) == ("ferplus", {"contempt": 0.2}, ["happy", "contempt"])
