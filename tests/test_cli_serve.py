"""``ferkit serve`` as a user runs it: a real uvicorn process on 127.0.0.1, answering, then shutting down
gracefully on SIGTERM while a request is in flight."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("torch")
httpx = pytest.importorskip("httpx2")
from service_fixtures import CLASSES, free_port, image_bytes, write_model_file  # noqa: E402

from ferkit.cli import main  # noqa: E402

SRC = str(Path(__file__).resolve().parents[1] / "src")
TESTS = str(Path(__file__).resolve().parent)
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, TESTS, os.environ.get("PYTHONPATH", "")])}


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    return write_model_file(tmp_path_factory.mktemp("model") / "tiny.ferkit")


def wait_until_ready(proc: subprocess.Popen, url: str, timeout: float = 60, in_a_row: int = 1) -> None:
    """Until ``/readyz`` says ready ``in_a_row`` times running."""
    deadline, ready = time.monotonic() + timeout, 0
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited early with {proc.returncode}: {proc.stderr.read()}")
        try:
            ready = ready + 1 if httpx.get(url + "/readyz", timeout=1).status_code == 200 else 0
            if ready >= in_a_row:
                return
        except httpx.TransportError:
            ready = 0
        time.sleep(0.02 if ready else 0.1)
    raise AssertionError("server did not become ready")


# uvicorn shuts down gracefully on SIGTERM, then re-raises the signal so that supervisors see it: the process
# ends with -SIGTERM (143 in a shell), or 0 with older uvicorn releases.
STOPPED = (0, -signal.SIGTERM)


def stop(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_help_has_an_example(capsys):
    with pytest.raises(SystemExit) as e:
        main(["serve", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "ferkit serve --model" in out and "--cors-origin" in out and "--workers" in out


def test_missing_or_corrupt_model_is_an_error_before_serving(tmp_path, capsys):
    assert main(["serve", "--model", str(tmp_path / "nope.ferkit")]) == 1
    assert "no such model file" in capsys.readouterr().err
    (tmp_path / "bad.ferkit").write_bytes(b"PK\x03\x04 not really a model")
    assert main(["serve", "--model", str(tmp_path / "bad.ferkit"), "--detector", "haar"]) == 1
    assert "bad.ferkit" in capsys.readouterr().err


def test_serve_builds_its_predictor_with_the_options_before_serving(model_path, capsys, monkeypatch):
    import ferkit.service.app as app

    seen = {}
    real = app.default_loader
    monkeypatch.setattr(app, "default_loader", lambda path, **kw: seen.update(kw) or real(path, **kw))
    args = ["serve", "--model", str(model_path), "--detector", "haar", "--whole-image", "never", "--prior", "x=0.5",
            "--close-up", "0"]  # fmt: skip
    assert main(args) == 1  # the tiny file records no class mix to move from: an error before uvicorn starts
    assert "records no class prior" in capsys.readouterr().err
    assert seen["whole_image"] == "never" and seen["prior"] == {"x": 0.5} and seen["close_up"] == 0


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_answers_and_stops_on_sigterm(model_path, workers):
    port = free_port()
    cmd = [sys.executable, "-m", "ferkit", "serve", "--model", str(model_path), "--port", str(port)]
    cmd += ["--detector", "haar", "--workers", str(workers), "--log-level", "warning"]
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(proc, url)
        # each worker loads its model before it accepts a connection: once one answers, none says "not ready"
        assert [httpx.get(url + "/readyz").status_code for _ in range(20)] == [200] * 20
        info = httpx.get(url + "/v1/model").json()
        assert info.get("arch") == "fernet_s" and info["classes"] == CLASSES, info
        r = httpx.post(url + "/v1/predict", content=image_bytes(96, 64), headers={"content-type": "image/jpeg"})
        assert r.status_code == 200 and r.json()["image"] == {"width": 96, "height": 64}
        assert "access-control-allow-origin" not in httpx.get(url + "/healthz", headers={"Origin": "http://x"}).headers
    finally:
        rc = stop(proc)
    err = proc.stderr.read()
    assert rc in STOPPED and "Traceback" not in err, err


SLOW_SERVER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import uvicorn
    from service_fixtures import make_predictor
    from ferkit.service.app import create_app

    model, port, marker = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])

    class Slow:
        def __init__(self, inner):
            self.inner, self.classes, self.info = inner, inner.classes, inner.info

        def predict_array(self, image):
            marker.write_text("started")
            time.sleep(1.5)
            return self.inner.predict_array(image)

    app = create_app(lambda: Slow(make_predictor(model)))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=20)
    """
)


def test_sigterm_lets_the_request_in_flight_finish(model_path, tmp_path):
    port, marker = free_port(), tmp_path / "started"
    script = tmp_path / "slow_server.py"
    script.write_text(SLOW_SERVER)
    cmd = [sys.executable, str(script), str(model_path), str(port), str(marker)]
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    result: dict = {}

    def slow_request() -> None:
        try:
            r = httpx.post(
                url + "/v1/predict", content=image_bytes(), headers={"content-type": "image/jpeg"}, timeout=30
            )
            result["status"], result["body"] = r.status_code, r.json()
        except Exception as e:  # reported below
            result["error"] = repr(e)

    try:
        wait_until_ready(proc, url)
        t = threading.Thread(target=slow_request)
        t.start()
        deadline = time.monotonic() + 10
        while not marker.exists():
            assert time.monotonic() < deadline, "the request never reached the predictor"
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)  # while the 1.5 s inference runs
        time.sleep(0.3)
        with pytest.raises(httpx.TransportError):  # no new connections once shutdown has begun
            httpx.get(url + "/healthz", timeout=2)
        t.join(timeout=20)
        assert proc.wait(timeout=20) in STOPPED
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "Traceback" not in proc.stderr.read()
    assert result.get("status") == 200, result
    assert len(result["body"]["faces"]) == 1 and result["body"]["classes"] == CLASSES
