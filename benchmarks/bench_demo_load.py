"""Load test of the Gradio app: N concurrent clients for T seconds mixing classify, edges and segment.

    .venv/bin/python benchmarks/bench_demo_load.py --clients 20 --seconds 60 [--json out.json]

Starts ``python -m demos.app`` on a free port of 127.0.0.1 (requests go only there), runs
``--clients`` threads, each with its own ``gradio_client.Client``, issuing requests back to back
(60% classify with the ImageNet model, 20% edges (pb-lite), 10% segment, and 10% the Lab: 3% image
basics, 3% inside a network (EfficientNet-Lite0 with Grad-CAM), 2% augmentation preview, 1% digit photo,
1% ensemble) until ``--seconds`` pass
or ``--max-requests`` are sent; then reports per endpoint the count, errors, throughput and
p50/p95 latency (client-measured, queue wait included), the latency of single requests once the
load is over and the app is idle (the per-request goals: the callback's own timing and the
client's end-to-end time), and the server's peak resident memory (psutil, sampled every 0.2 s,
children included). Segment answers "no trained model" as an error when no segmentation weight
is published, and the ensemble "needs at least two" when fewer than two CIFAR-10 models have
weights; those are counted separately as ``expected_errors``. The Lab's callbacks report no
server-side time, so their ``idle_server_ms_median`` is the client's.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MIX = (("classify", 0.6), ("edges", 0.2), ("segment", 0.1), ("lab_basics", 0.03), ("lab_network", 0.03),
       ("lab_augment", 0.02), ("lab_digit_photo", 0.01), ("lab_ensemble", 0.01))
EXPECTED = ("No trained segmentation model", "The ensemble needs at least two")  # no weights here: not errors


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q * (len(xs) - 1)))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--max-requests", type=int, default=5000)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    import psutil
    import skimage.data
    from gradio_client import Client, handle_file
    from PIL import Image

    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"cvzoo-bench-{os.getpid()}"
    tmp.mkdir(parents=True, exist_ok=True)
    photo = tmp / "coffee.jpg"  # a typical 600x400 photo
    Image.fromarray(skimage.data.coffee()).save(photo, quality=90)
    import cv2
    import numpy as np

    paper = (200 + np.linspace(-30, 30, 640)[None, :, None] + np.zeros((480, 1, 3))).clip(0, 255).astype(np.uint8)
    cv2.putText(paper, "3", (230, 380), cv2.FONT_HERSHEY_SIMPLEX, 10, (40, 40, 50), 28, cv2.LINE_AA)
    digit = tmp / "digit3.jpg"  # a photographed-looking handwritten 3
    Image.fromarray(paper).save(digit, quality=90)
    port = free_port()
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False", CVZOO_DEMO_PORT=str(port))
    server = subprocess.Popen([sys.executable, "-m", "demos.app"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    peak = [0]
    stop = threading.Event()

    def watch() -> None:
        p = psutil.Process(server.pid)
        while not stop.is_set():
            try:
                rss = p.memory_info().rss + sum(c.memory_info().rss for c in p.children(recursive=True))
                peak[0] = max(peak[0], rss)
            except psutil.Error:
                pass
            time.sleep(0.2)

    try:
        t0 = time.time()
        while True:
            try:
                urllib.request.urlopen(url + "/gradio_api/info", timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.time() - t0 > 180:
                    raise RuntimeError("the app did not start") from None
                time.sleep(0.5)
        startup = time.time() - t0
        threading.Thread(target=watch, daemon=True).start()

        def call(client: Client, kind: str) -> dict:
            if kind == "classify":
                _, _, results, _ = client.predict(handle_file(str(photo)), ["efficientnet_lite0"], api_name="/classify")
                return {"server_ms": results[0]["latency_ms"]}
            if kind == "edges":
                out = client.predict(handle_file(str(photo)), 320, 32, 10, 8, 0.5, False, api_name="/edges")
                return {"server_ms": 1000 * float(out[3].split("pb-lite took ")[1].split(" s")[0])}
            if kind == "segment":
                out = client.predict(handle_file(str(photo)), None, 0.5, api_name="/segment")
                return {"server_ms": float(out[-1].split(" in ")[1].split(" ms")[0])}  # State is not in the API
            t = time.perf_counter()
            if kind == "lab_basics":
                client.predict(handle_file(str(photo)), "Sobel x", "", "Otsu", 127, 31, 5, 0.5, 8, "max",
                               api_name="/lab_basics")
            elif kind == "lab_network":
                client.predict(handle_file(str(photo)), "efficientnet_lite0", "", api_name="/lab_network")
            elif kind == "lab_augment":
                client.predict(handle_file(str(photo)), "course", "upload", 0, 16, 0, "course_resnet18",
                               api_name="/lab_augment")
            elif kind == "lab_digit_photo":
                client.predict(handle_file(str(digit)), [], api_name="/lab_digit_photo")
            else:
                client.predict(handle_file(str(photo)), api_name="/lab_ensemble")
            return {"server_ms": 1000 * (time.perf_counter() - t)}

        results: list[dict] = []
        lock = threading.Lock()
        deadline = time.time() + args.seconds
        sent = [0]

        def worker(seed: int) -> None:
            rng = random.Random(seed)
            client = Client(url, verbose=False)
            while time.time() < deadline:
                with lock:
                    if sent[0] >= args.max_requests:
                        return
                    sent[0] += 1
                kind = rng.choices([k for k, _ in MIX], [w for _, w in MIX])[0]
                t = time.perf_counter()
                try:
                    call(client, kind)
                    err = None
                except Exception as exc:
                    err = str(exc)[:200]
                with lock:
                    results.append({"kind": kind, "s": time.perf_counter() - t, "error": err})

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.clients)]
        tl = time.time()
        for th in threads:
            th.start()
        for th in threads:
            th.join(args.seconds + 300)
        wall = time.time() - tl

        # idle single-request latency (what the per-request goals are about), measured after the load
        # phase so the app's start-up work (the zoo table warming in the background) is over; the
        # first call of each kind is a warm-up. server_ms: the callback's own timing; e2e: the client's.
        warm = Client(url, verbose=False)
        idle: dict[str, list[float]] = {}
        idle_e2e: dict[str, list[float]] = {}
        for kind, _ in MIX:
            for i in range(6):
                try:
                    t = time.perf_counter()
                    r = call(warm, kind)
                    if i:
                        idle.setdefault(kind, []).append(r["server_ms"])
                        idle_e2e.setdefault(kind, []).append(1000 * (time.perf_counter() - t))
                except Exception:
                    break
    finally:
        stop.set()
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()

    report = {"clients": args.clients, "seconds": round(wall, 1), "startup_s": round(startup, 1),
              "requests": len(results), "throughput_rps": round(len(results) / wall, 2),
              "peak_rss_mb": round(peak[0] / 2**20), "cpu_count": os.cpu_count(), "endpoints": {}}
    for kind, _ in MIX:
        rs = [r for r in results if r["kind"] == kind]
        ok = [r["s"] * 1000 for r in rs if r["error"] is None]
        expected = [r for r in rs if r["error"] and any(e in r["error"] for e in EXPECTED)]
        errors = [r["error"] for r in rs if r["error"] and r not in expected]
        report["endpoints"][kind] = {
            "requests": len(rs), "ok": len(ok), "errors": len(errors), "expected_errors": len(expected),
            "first_error": errors[0] if errors else None,
            "p50_ms": round(pct(ok, 0.5), 1) if ok else None, "p95_ms": round(pct(ok, 0.95), 1) if ok else None,
            "idle_server_ms_median": round(statistics.median(idle[kind]), 1) if idle.get(kind) else None,
            "idle_e2e_ms_median": round(statistics.median(idle_e2e[kind]), 1) if idle_e2e.get(kind) else None,
        }
    report["errors"] = sum(e["errors"] for e in report["endpoints"].values())
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text)
    return 0 if report["errors"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
