"""The same paths over loopback, against gunicorn with 2 workers, with wrk or a Python loader."""

from __future__ import annotations

import http.client
import json
import os
import random
import re
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from support.accounts import PASSWORD
from support.servers import Deployment, servers

from .app import BARE_PATH, NO_THROTTLE
from .seeding import Fixture

WORKERS = 2


def run_wrk(port: int, path: str, headers: dict, body: Any, seconds: float) -> dict:
    """Run wrk for ``seconds``; return requests per second and the median latency."""
    command = ["wrk", "-t1", "-c4", f"-d{max(1, round(seconds))}s", "--latency"]
    for key, value in headers.items():
        command += ["-H", f"{key}: {value}"]
    with tempfile.TemporaryDirectory(prefix="tessera-wrk-") as tmp:
        if body is not None:
            script = Path(tmp) / "post.lua"
            script.write_text(
                f'wrk.method = "POST"\nwrk.body = {json.dumps(json.dumps(body))}\n'
                'wrk.headers["Content-Type"] = "application/json"\n'
            )
            command += ["-s", str(script)]
        command.append(f"http://127.0.0.1:{port}{path}")
        done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30)
    output = done.stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    return {"rps": rps, "p50_ms": _wrk_latency(output)}


def _wrk_latency(output: str) -> float | None:
    match = re.search(r"50%\s+([\d.]+)(us|ms|s)\b", output)
    if not match:
        return None
    value, unit = float(match.group(1)), match.group(2)
    return value * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def run_python_load(port: int, path: str, headers: dict, body: Any, seconds: float) -> dict:
    """A small closed-loop load generator: 4 threads, a new connection a request, as wrk does
    against gunicorn's sync workers (which close every connection)."""
    data = json.dumps(body).encode() if body is not None else None
    method = "POST" if body is not None else "GET"
    send_headers = {**headers, **({"Content-Type": "application/json"} if data else {})}
    latencies: list[float] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def worker() -> None:
        mine = []
        while time.monotonic() < deadline:
            start = time.perf_counter()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            connection.request(method, path, body=data, headers=send_headers)
            connection.getresponse().read()
            connection.close()
            mine.append(time.perf_counter() - start)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"rps": len(latencies) / seconds, "p50_ms": statistics.median(latencies) * 1e3}


def measure_http(
    fixture: Fixture,
    database_url: str,
    secret_key: str,
    work: Path,
    rounds: int,
    seconds: float,
    tool: str,
) -> dict[str, Any]:
    """The same paths over loopback against gunicorn with 2 workers."""
    t = fixture.tokens
    bearer = {name: {"Authorization": f"Bearer {t[name]}"} for name in t}
    notes = "/notes?page=1&per_page=20"
    cases = {
        "bare": (BARE_PATH, {}, None),
        "health": ("/health", {}, None),
        "me_valid": ("/me", bearer["valid"], None),
        "me_forged": ("/me", bearer["forged"], None),
        "me_no_header": ("/me", {}, None),
        "me_revoked": ("/me", bearer["revoked"], None),
        "notes_10000": (notes, bearer["valid"], None),
        "login_wrong_password": ("/login", {}, {"username": "reader", "password": PASSWORD + "!"}),
    }
    load = run_wrk if tool == "wrk" else run_python_load
    # Production hashing, as in process; the instance folder is the in-process app's.
    deployment = Deployment(
        database_url,
        work,
        redis_url=os.environ.get("REDIS_URL"),
        secret_key=secret_key,
        settings={"LOGIN_RATE_LIMIT": NO_THROTTLE},
        cheap_hashing=False,
    )
    samples: dict[str, list[dict]] = {name: [] for name in cases}
    with servers(deployment, 1, workers=WORKERS, factory="benchmarks.app:http_app") as [server]:
        order = list(cases)
        for _ in range(rounds):
            random.shuffle(order)
            for name in order:
                samples[name].append(load(server.port, *cases[name], seconds))
    bare = statistics.median(s["rps"] for s in samples["bare"])
    summary = {}
    for name, runs in samples.items():
        rps = statistics.median(s["rps"] for s in runs)
        latencies = [s["p50_ms"] for s in runs if s["p50_ms"] is not None]
        summary[name] = {
            "rps_median": rps,
            "rps_min": min(s["rps"] for s in runs),
            "rps_max": max(s["rps"] for s in runs),
            "p50_ms": statistics.median(latencies) if latencies else None,
            "ratio_to_bare": bare / rps,
        }
    return {
        "tool": tool,
        "workers": WORKERS,
        "seconds_per_run": seconds,
        "rounds": rounds,
        "summary": summary,
        "samples": samples,
    }


def print_http(result: dict[str, Any]) -> None:
    print(
        f"\nover HTTP: gunicorn, {result['workers']} workers, {result['tool']}, "
        f"{result['rounds']} x {result['seconds_per_run']} s per case"
    )
    print(f"{'case':<22} {'req/s':>9} {'min':>9} {'max':>9} {'p50 ms':>7} {'x bare':>7}")
    for name, row in result["summary"].items():
        p50 = "-" if row["p50_ms"] is None else f"{row['p50_ms']:.2f}"
        print(
            f"{name:<22} {row['rps_median']:>9.0f} {row['rps_min']:>9.0f} "
            f"{row['rps_max']:>9.0f} {p50:>7} {row['ratio_to_bare']:>7.2f}"
        )
