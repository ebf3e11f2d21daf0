"""Load test of ``ferkit serve``: a real uvicorn server, N concurrent clients for a fixed time, against the
in-process ``Predictor`` on the same image.

    PYTHONPATH=src python bench/serve_load.py --duration 60 --clients 32

Starts ``python -m ferkit serve`` on 127.0.0.1 (a free port), measures in-process throughput first (the server
idles meanwhile), then drives the server with ``--clients`` asyncio clients (httpx, one connection each) posting
the image as a raw body until ``--duration`` seconds have passed, and reports requests per second, p50/p99
latency and errors. Without ``--model`` it builds a random-weight FerNet-S (full size: the speed is that of a
trained one). Without ``--image`` it draws a 640x480 picture with one cartoon face that YuNet finds.
The client runs on the same machine and takes CPU from the server: the ratio is a lower bound. This VM's speed
drifts over minutes, so ``--rounds`` (3) repeats the in-process and load measures; the round with the median ratio
is reported, with every round's ratio beside it.

Soak (``--soak SECONDS``, instead of the rounds): ``--clients`` clients post for that long a mix of the good image
and hostile uploads (``--hostile-share`` of the requests: the known attacks of issue #12 and mutants of every
accepted format from ``tests/hostile.py``), and the server's RSS is sampled throughout. Reported: errors (a good
image not answered 200, any 5xx, a transport error), p50/p99 latency of the good requests, the hostile requests'
statuses, and the server's RSS at the start and the end (target: no growth)::

    PYTHONPATH=src python bench/serve_load.py --soak 600 --clients 16 --json bench/results/serve_soak.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
YUNET = next(
    (
        p
        for p in (
            ROOT.parent / "shared/models/face_detection_yunet.onnx",
            Path("/work/shared/models/face_detection_yunet.onnx"),
        )
        if p.is_file()
    ),
    None,
)


def synthetic_face_jpeg() -> bytes:
    """640x480 BGR with one cartoon face (skin ellipse, eyes, brows, nose, smile), JPEG."""
    img = np.full((480, 640, 3), (90, 110, 100), np.uint8)
    cx, cy, s = 320, 240, 110
    cv2.ellipse(img, (cx, cy), (int(s * 0.8), s), 0, 0, 360, (150, 180, 220), -1)
    for dx in (-0.35, 0.35):
        ex, ey = int(cx + dx * s), int(cy - 0.2 * s)
        cv2.ellipse(img, (ex, ey), (int(s * 0.16), int(s * 0.08)), 0, 0, 360, (255, 255, 255), -1)
        cv2.circle(img, (ex, ey), int(s * 0.06), (40, 30, 20), -1)
        cv2.line(
            img, (int(ex - 0.18 * s), int(cy - 0.38 * s)), (int(ex + 0.18 * s), int(cy - 0.4 * s)), (40, 40, 60), 4
        )
    cv2.line(img, (cx, int(cy - 0.1 * s)), (int(cx - 0.08 * s), int(cy + 0.2 * s)), (110, 130, 170), 3)
    cv2.ellipse(img, (cx, int(cy + 0.45 * s)), (int(s * 0.3), int(s * 0.12)), 0, 0, 180, (60, 60, 160), 7)
    return cv2.imencode(".jpg", cv2.GaussianBlur(img, (5, 5), 0), [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()


def random_model(path: Path) -> Path:
    import torch

    from ferkit.engine.checkpoint import ModelFile, save_model_file
    from ferkit.models import build_model

    torch.manual_seed(0)
    classes = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    model = build_model("fernet_s", num_classes=len(classes)).eval()
    save_model_file(ModelFile("fernet_s", {}, classes, state_dict=model.state_dict()), path)
    return path


def in_process(model: Path, detector: dict, image: bytes, seconds: float) -> dict:
    """Sequential ``Predictor.predict(bytes)`` calls for ``seconds`` (after a short warm-up)."""
    from ferkit.inference.predictor import Predictor

    p = Predictor.from_file(model, **detector)
    faces = len(p.predict(image))
    for _ in range(5):
        p.predict(image)
    n, t0, c0 = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - t0 < seconds:
        p.predict(image)
        n += 1
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"images_per_s": n / elapsed, "ms_per_image": 1000 * elapsed / n, "cpu_ms_per_image": 1000 * cpu / n,
            "calls": n, "faces": faces}  # fmt: skip


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc), or NaN elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return float("nan")


async def drive(url: str, image: bytes, clients: int, seconds: float, timeout: float) -> dict:
    """``clients`` loops posting ``image`` until ``seconds`` have passed; latencies of successful requests."""
    import httpx2 as httpx

    latencies: list[float] = []
    errors: dict[str, int] = {}
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    headers = {"content-type": "image/jpeg"}
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=timeout) as client:

        async def one_client() -> None:
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                try:
                    r = await client.post("/v1/predict", content=image, headers=headers)
                    ok = r.status_code == 200 and len(r.json()["faces"]) >= 0
                    key = None if ok else f"HTTP {r.status_code}"
                except Exception as e:  # counted, never raised: the run goes on
                    key = type(e).__name__
                if key is None:
                    latencies.append(time.perf_counter() - t0)
                else:
                    errors[key] = errors.get(key, 0) + 1

        t0, c0 = time.perf_counter(), time.process_time()
        await asyncio.wait_for(asyncio.gather(*(one_client() for _ in range(clients))), seconds + timeout + 10)
        elapsed, client_cpu = time.perf_counter() - t0, time.process_time() - c0
    lat = np.array(latencies) * 1000
    return {
        "requests": len(latencies),
        "errors": sum(errors.values()),
        "error_kinds": errors,
        "seconds": elapsed,
        "requests_per_s": len(latencies) / elapsed,
        "p50_ms": float(np.percentile(lat, 50)) if len(lat) else None,
        "p99_ms": float(np.percentile(lat, 99)) if len(lat) else None,
        "client_cpu_ms_per_request": 1000 * client_cpu / max(1, len(latencies)),
    }


def rss_mb(pid: int) -> float:
    """Resident memory of a process (Linux /proc), MB, or NaN elsewhere."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def hostile_payloads(n: int = 300) -> list[bytes]:
    """The known attacks of issue #12 and ``n`` mutants of every accepted format (``tests/hostile.py``)."""
    sys.path.insert(0, str(ROOT / "tests"))
    import hostile

    return list(hostile.attacks().values()) + [data for _, _, data in hostile.mutants(n, seed=7)]


async def post_each(url: str, payloads: list[bytes], timeout: float) -> None:
    import httpx2 as httpx

    async with httpx.AsyncClient(base_url=url, timeout=timeout) as client:
        for data in payloads:
            await client.post("/v1/predict", content=data, headers={"content-type": "application/octet-stream"})


async def soak(url: str, pid: int, good: bytes, bad: list[bytes], args: argparse.Namespace) -> dict:
    """``args.clients`` clients posting good and hostile images for ``args.soak`` seconds; RSS sampled meanwhile."""
    import httpx2 as httpx

    rng = np.random.default_rng(0)
    good_ms: list[float] = []
    errors: dict[str, int] = {}
    hostile: dict[str, int] = {}
    rss: list[tuple[float, float]] = []
    t_start = time.perf_counter()
    deadline = t_start + args.soak
    limits = httpx.Limits(max_connections=args.clients, max_keepalive_connections=args.clients)
    headers = {"content-type": "application/octet-stream"}

    async def sampler() -> None:
        while time.perf_counter() < deadline:
            rss.append((round(time.perf_counter() - t_start, 1), round(rss_mb(pid), 1)))
            await asyncio.sleep(max(1.0, args.soak / 30))

    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=args.timeout) as client:

        async def one_client(seed: int) -> None:
            r_local = np.random.default_rng(seed)
            while time.perf_counter() < deadline:
                is_bad = r_local.random() < args.hostile_share
                data = bad[int(r_local.integers(0, len(bad)))] if is_bad else good
                t0 = time.perf_counter()
                try:
                    r = await client.post("/v1/predict", content=data, headers=headers)
                    status = r.status_code
                except Exception as e:  # counted, never raised
                    errors[type(e).__name__] = errors.get(type(e).__name__, 0) + 1
                    continue
                if status >= 500 or (not is_bad and status != 200):
                    errors[f"HTTP {status}"] = errors.get(f"HTTP {status}", 0) + 1
                elif is_bad:
                    key = f"{status} {r.json()['error']['code'] if status != 200 else 'ok'}"
                    hostile[key] = hostile.get(key, 0) + 1
                else:
                    good_ms.append(1000 * (time.perf_counter() - t0))

        tasks = [one_client(int(rng.integers(0, 2**31))) for _ in range(args.clients)]
        await asyncio.wait_for(asyncio.gather(sampler(), *tasks), args.soak + args.timeout + 10)
    rss.append((round(time.perf_counter() - t_start, 1), round(rss_mb(pid), 1)))
    lat = np.array(good_ms)
    start, end = rss[0][1], rss[-1][1]
    return {
        "seconds": round(time.perf_counter() - t_start, 1),
        "clients": args.clients,
        "hostile_share": args.hostile_share,
        "good_ok": len(good_ms),
        "hostile_answered": hostile,
        "errors": sum(errors.values()),
        "error_kinds": errors,
        "good_p50_ms": float(np.percentile(lat, 50)) if len(lat) else None,
        "good_p99_ms": float(np.percentile(lat, 99)) if len(lat) else None,
        "rss_mb_start": start,
        "rss_mb_end": end,
        "rss_mb_max": max(v for _, v in rss),
        "rss_mb_samples": rss,
        "rss_grew": end > start * 1.05 + 5,  # more than 5% (+5 MB of noise) over the soak
    }


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    import httpx2 as httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit("server did not become ready")


def one_round(pid: int, url: str, model: Path, detector: dict, image: bytes, args: argparse.Namespace) -> dict:
    """In-process throughput, half before and half after a load run on the server (so a change in background load
    shows), and the load run itself."""
    before = in_process(model, detector, image, args.in_process_seconds / 2)
    cpu0 = cpu_seconds(pid)
    load = asyncio.run(drive(url, image, args.clients, args.duration, args.timeout))
    load["server_cpu_ms_per_request"] = 1000 * (cpu_seconds(pid) - cpu0) / max(1, load["requests"])
    after = in_process(model, detector, image, args.in_process_seconds / 2)
    calls = before["calls"] + after["calls"]
    seconds = before["calls"] / before["images_per_s"] + after["calls"] / after["images_per_s"]
    cpu_ms = (before["cpu_ms_per_image"] * before["calls"] + after["cpu_ms_per_image"] * after["calls"]) / calls
    local = {"images_per_s": calls / seconds, "ms_per_image": 1000 * seconds / calls, "cpu_ms_per_image": cpu_ms,
             "faces": before["faces"], "before": before, "after": after}  # fmt: skip
    return {"local": local, "load": load, "ratio": load["requests_per_s"] / local["images_per_s"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, help="model file or ONNX (default: random-weight FerNet-S)")
    ap.add_argument("--image", type=Path, help="image to send (default: a synthetic 640x480 face)")
    ap.add_argument("--yunet", type=Path, default=YUNET, help="YuNet model file (default: ../shared/models)")
    ap.add_argument("--threads", type=int, help="classifier threads, server and in-process alike")
    ap.add_argument("--duration", type=float, default=60.0, help="seconds of load (default: 60)")
    ap.add_argument("--clients", type=int, default=32, help="concurrent clients (default: 32)")
    ap.add_argument("--in-process-seconds", type=float, default=15.0, help="in-process measurement (default: 15)")
    ap.add_argument("--server-args", default="", help="extra `ferkit serve` arguments, e.g. '--concurrency 2'")
    ap.add_argument("--timeout", type=float, default=30.0, help="per-request timeout, seconds (default: 30)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of in-process + load; the median ratio's is shown")
    ap.add_argument("--soak", type=float, default=0.0, help="seconds of a soak with hostile uploads (no rounds)")
    ap.add_argument("--hostile-share", type=float, default=0.25, help="share of hostile uploads in the soak")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="ferkit-bench-"))
    model = args.model or random_model(tmp / "fernet_s_random.ferkit")
    image = args.image.read_bytes() if args.image else synthetic_face_jpeg()
    detector = {"detector": "yunet", "yunet": args.yunet} if args.yunet else {"detector": "haar"}
    detector["threads"] = args.threads

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "ferkit", "serve", "--model", str(model), "--port", str(port)]
    cmd += ["--detector", detector["detector"], "--log-level", "warning", *args.server_args.split()]
    if args.yunet:
        cmd += ["--yunet", str(args.yunet)]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    server = subprocess.Popen(cmd, env=env)
    try:
        wait_ready(url, server)
        asyncio.run(drive(url, image, args.clients, 3.0, args.timeout))  # warm-up, not counted
        if args.soak:
            bad = hostile_payloads()
            asyncio.run(post_each(url, bad, args.timeout))  # every hostile upload once: the RSS baseline has seen them
            result = asyncio.run(soak(url, server.pid, image, bad, args))
            return report_soak(result, cmd, argv, args)
        rounds = [one_round(server.pid, url, model, detector, image, args) for _ in range(args.rounds)]
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()

    ratios = [r["ratio"] for r in rounds]
    median = sorted(rounds, key=lambda r: r["ratio"])[len(rounds) // 2]  # the round with the median ratio
    local, load, ratio, cpu_ms = median["local"], median["load"], median["ratio"], median["local"]["cpu_ms_per_image"]
    before, after = local["before"], local["after"]
    result = {
        **provenance(cmd, argv),
        "image_bytes": len(image),
        "detector": detector["detector"],
        "threads": args.threads,
        "in_process": local,
        "server": load,
        "server_over_in_process": ratio,
        "rounds": args.rounds,
        "ratio_per_round": ratios,
        "cpu_efficiency": cpu_ms / load["server_cpu_ms_per_request"],
        "targets_met": load["errors"] == 0 and ratio >= 0.8,
    }
    print(
        f"in-process: {local['images_per_s']:.1f} images/s ({local['ms_per_image']:.1f} ms, {local['faces']} face; "
        f"{before['images_per_s']:.1f} before the load run, {after['images_per_s']:.1f} after)"
    )
    print(
        f"server:     {load['requests_per_s']:.1f} requests/s, p50 {load['p50_ms']:.1f} ms, "
        f"p99 {load['p99_ms']:.1f} ms, {load['requests']} ok, {load['errors']} errors {load['error_kinds'] or ''}"
    )
    print(
        f"CPU:        {load['server_cpu_ms_per_request']:.1f} ms per request in the server process, "
        f"{cpu_ms:.1f} ms per image in-process (efficiency {result['cpu_efficiency']:.2f}); "
        f"the load client itself: {load['client_cpu_ms_per_request']:.1f} ms per request"
    )
    met = "met" if result["targets_met"] else "MISSED"
    each = ", ".join(f"{x:.2f}" for x in ratios)
    print(f"ratio:      {ratio:.2f}, the median of {len(ratios)} rounds ({each}; target >= 0.80, zero errors: {met})")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


def provenance(cmd: list[str], argv: list[str] | None) -> dict:
    """When, where and how a measurement ran (both modes' JSON starts with it)."""
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{cpu_name()}, {os.cpu_count()} CPUs",
        "load_average_at_end": os.getloadavg(),
        "command": " ".join(["python", "bench/serve_load.py", *(argv if argv is not None else sys.argv[1:])]),
        "server_command": " ".join(cmd[1:]),
    }


def report_soak(result: dict, cmd: list[str], argv: list[str] | None, args: argparse.Namespace) -> int:
    result = {
        **provenance(cmd, argv),
        **result,
    }
    print(
        f"soak: {result['seconds']:.0f} s, {result['clients']} clients, {result['hostile_share']:.0%} hostile; "
        f"good images: {result['good_ok']} answered 200, p50 {result['good_p50_ms']:.1f} ms, "
        f"p99 {result['good_p99_ms']:.1f} ms; errors {result['errors']} {result['error_kinds'] or ''}"
    )
    print(f"hostile uploads answered: {result['hostile_answered']}")
    print(
        f"server RSS: {result['rss_mb_start']:.1f} MB at the start, {result['rss_mb_end']:.1f} MB at the end, "
        f"{result['rss_mb_max']:.1f} MB at most ({'GREW' if result['rss_grew'] else 'no growth'})"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 1 if result["errors"] or result["rss_grew"] else 0


if __name__ == "__main__":
    sys.exit(main())
