"""Fuzz: mutants of small valid images of every accepted format (byte flips, truncation, header and chunk-length
corruption, random bytes) through ``Predictor.predict(bytes)`` and through the service. Only ferkit errors may
come out, no call may take 5 s, and memory stays bounded. ``bench/fuzz.py`` runs the same with 10,000+ mutants."""

from __future__ import annotations

import resource
import time

import hostile
import pytest

from ferkit.errors import FerkitError

N_PREDICT = 320  # mutants through Predictor.predict(bytes)
N_SERVICE = 160  # mutants through POST /v1/predict
SLOW = 5.0  # seconds: no input may take this long
MAX_GROWTH_MB = 300  # peak RSS may not grow more than this over the run


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


@pytest.fixture(scope="module")
def predictor(model_file, yunet_path):
    from ferkit.inference.predictor import Predictor

    return Predictor.from_file(model_file, detector="yunet", yunet=yunet_path)


def corpus(n: int, seed: int) -> list[tuple[str, str, bytes]]:
    known = [(name, "attack", data) for name, data in hostile.attacks().items()]
    return known + list(hostile.mutants(n, seed))


def test_predict_bytes_gives_faces_or_a_ferkit_error(predictor):
    start = peak_rss_mb()
    outcomes: dict[str, int] = {}
    for fmt, kind, data in corpus(N_PREDICT, seed=1):
        t0 = time.perf_counter()
        try:
            faces = predictor.predict(data)
            key = "decoded"
            assert isinstance(faces, list)
        except FerkitError as e:
            key = type(e).__name__
            assert str(e).startswith("<bytes>: "), (fmt, kind, str(e))  # every message names the input
        except Exception as e:  # noqa: BLE001 - the point of the test
            pytest.fail(f"{fmt}/{kind}: {type(e).__name__}: {e}")
        took = time.perf_counter() - t0
        assert took < SLOW, f"{fmt}/{kind} took {took:.1f} s"
        outcomes[key] = outcomes.get(key, 0) + 1
    assert outcomes.get("decoded", 0) > 0 and outcomes.get("ImageError", 0) > 0, outcomes
    assert peak_rss_mb() - start < MAX_GROWTH_MB


def test_service_answers_every_mutant_with_a_json_status(predictor):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient
    from service_fixtures import wait_ready

    from ferkit.service.app import create_app

    start = peak_rss_mb()
    statuses: dict[int, int] = {}
    with TestClient(create_app(predictor), raise_server_exceptions=False) as client:
        wait_ready(client)
        for fmt, kind, data in corpus(N_SERVICE, seed=2):
            t0 = time.perf_counter()
            r = client.post("/v1/predict", content=data, headers={"content-type": "application/octet-stream"})
            assert time.perf_counter() - t0 < SLOW, f"{fmt}/{kind}"
            assert r.status_code in (200, 415, 422), (fmt, kind, r.status_code, r.text)
            if r.status_code != 200:
                assert set(r.json()["error"]) == {"code", "message"} and "Traceback" not in r.text
            statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
        good = client.post("/v1/predict", content=hostile.seeds()["jpeg"], headers={"content-type": "image/jpeg"})
        assert good.status_code == 200
    assert statuses.get(200, 0) > 0 and statuses.get(422, 0) > 0, statuses
    assert peak_rss_mb() - start < MAX_GROWTH_MB
