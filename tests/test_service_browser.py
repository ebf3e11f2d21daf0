"""The web page in a real browser (Debian's Chromium driven by Playwright): upload an image, and the webcam path
with Chromium's fake camera. The server is real uvicorn on 127.0.0.1 with a random-weight model and a test-only
detector that finds one face in the middle of any image (the fake camera shows no face)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("torch")
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
from service_fixtures import CLASSES, LiveServer, image_bytes, make_predictor, write_model_file  # noqa: E402

from ferkit.service.app import create_app  # noqa: E402

CHROMIUM = next((p for p in ("/usr/bin/chromium", shutil.which("chromium") or "") if p and Path(p).is_file()), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
]


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    return write_model_file(tmp_path_factory.mktemp("model") / "tiny.ferkit")


@pytest.fixture(scope="module")
def server(model_path):
    with LiveServer(create_app(lambda: make_predictor(model_path))) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1200, "height": 800})
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.requests_seen = []  # type: ignore[attr-defined]
    page.on("request", lambda r: page.requests_seen.append(r.url))  # type: ignore[attr-defined]
    page.console_errors = []  # type: ignore[attr-defined]
    page.on("console", lambda m: m.type == "error" and page.console_errors.append(m.text))  # type: ignore[attr-defined]
    page.goto(server + "/")
    yield page
    assert all(u.startswith(server) or u.startswith(("data:", "blob:")) for u in page.requests_seen), page.requests_seen
    assert page.console_errors == []  # type: ignore[attr-defined]
    context.close()


def test_upload_shows_labelled_faces(page, model_path, tmp_path):
    page.wait_for_selector("body[data-ready='true']")
    assert page.inner_text("#model-info").endswith(", ".join(CLASSES))
    data = image_bytes(320, 240, ".png", seed=5)
    (tmp_path / "photo.png").write_bytes(data)
    with page.expect_response(lambda r: r.url.endswith("/v1/predict") and r.request.method == "POST") as resp:
        page.set_input_files("#file-input", str(tmp_path / "photo.png"))
    assert resp.value.status == 200
    face = page.wait_for_selector("#results .face")
    expected = make_predictor(model_path).predict(data)[0]
    assert face.get_attribute("data-label") == expected.label
    assert page.text_content("#results .face .face-label") == f"Face 1: {expected.label}"
    assert page.locator("#results .face .bar-fill").count() == len(CLASSES)
    assert page.inner_text("#status") == "1 face in a 320×240 image."
    # the canvas shows the picture with a coloured box drawn on it
    assert page.eval_on_selector("#canvas", "c => [c.width, c.height]") == [320, 240]
    x, y, w, _ = (round(v) for v in expected.box)
    edge = page.eval_on_selector(
        "#canvas", f"c => Array.from(c.getContext('2d').getImageData({x}, {y + 40}, 1, 1).data)"
    )
    assert edge[:3] == [59, 110, 245]  # the first face's colour, #3b6ef5


def test_webcam_sends_frames_and_updates(page):
    page.wait_for_selector("body[data-ready='true']")
    with page.expect_response(lambda r: r.url.endswith("/v1/predict")) as resp:
        page.click("#camera-button")
    assert resp.value.status == 200
    page.wait_for_selector("#results .face")
    deadline = time.monotonic() + 10
    while int(page.get_attribute("body", "data-requests") or 0) < 3:  # frames keep going, a few a second
        assert time.monotonic() < deadline, "the page stopped sending webcam frames"
        time.sleep(0.05)
    assert page.inner_text("#status") == "Webcam: 1 face."
    assert page.inner_text("#camera-button") == "Stop webcam"
    assert page.eval_on_selector("#video", "v => v.videoWidth") > 0
    page.click("#camera-button")
    assert page.inner_text("#status") == "Webcam off."
    n = int(page.get_attribute("body", "data-requests"))
    time.sleep(0.6)
    assert int(page.get_attribute("body", "data-requests")) <= n + 1  # at most the frame already in flight


def test_drag_and_drop(page):
    page.wait_for_selector("body[data-ready='true']")
    data = list(image_bytes(200, 100, ".jpg", seed=11))
    drop = page.evaluate_handle(
        "bytes => { const dt = new DataTransfer();"
        " dt.items.add(new File([new Uint8Array(bytes)], 'dropped.jpg', {type: 'image/jpeg'})); return dt; }",
        data,
    )
    with page.expect_response(lambda r: r.url.endswith("/v1/predict")) as resp:
        page.dispatch_event("#stage", "drop", {"dataTransfer": drop})
    assert resp.value.status == 200
    page.wait_for_selector("#results .face")
    assert page.inner_text("#status") == "1 face in a 200×100 image."


def test_a_failed_upload_clears_the_previous_image_and_results(page, tmp_path):
    page.wait_for_selector("body[data-ready='true']")
    (tmp_path / "good.png").write_bytes(image_bytes(320, 240, ".png", seed=5))
    page.set_input_files("#file-input", str(tmp_path / "good.png"))
    page.wait_for_selector("#results .face")
    jpeg = image_bytes(320, 240, ".jpg", seed=6)
    (tmp_path / "cut.jpg").write_bytes(jpeg[: len(jpeg) // 2] + b"\xff\xd9")  # the browser shows it; ferkit does not
    with page.expect_response(lambda r: r.url.endswith("/v1/predict")) as resp:
        page.set_input_files("#file-input", str(tmp_path / "cut.jpg"))
    assert resp.value.status == 422
    page.wait_for_selector("#status.error")
    assert page.inner_text("#status").startswith("Could not analyse the image: the image: truncated JPEG")
    assert page.locator("#results li").count() == 0 and page.eval_on_selector("#canvas", "c => c.hidden")
    (tmp_path / "note.txt").write_text("not an image")
    page.set_input_files("#file-input", str(tmp_path / "good.png"))
    page.wait_for_selector("#results .face")
    page.set_input_files("#file-input", str(tmp_path / "note.txt"))
    page.wait_for_selector("#status.error")
    assert page.locator("#results li").count() == 0 and page.eval_on_selector("#canvas", "c => c.hidden")
    page.console_errors[:] = [e for e in page.console_errors if "422" not in e]  # type: ignore[attr-defined]
