"""The same paths over loopback, with wrk or a small Python load generator.

``measure_http`` runs gunicorn and granian side by side, each as shipped (``gunicorn.conf.py``
and ``api/granian_settings.py`` choose the worker class and the processes);
``measure_matrix`` compares gunicorn's worker classes and process counts on the same paths.
Every run is bounded in time, and every server is stopped by PID when its runs end.
"""

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
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from support.accounts import PASSWORD
from support.servers import Deployment, servers

from .app import BARE_PATH, NO_THROTTLE
from .peer import ME_PATH as PEER_ME_PATH
from .seeding import Fixture

CONNECTIONS = 8
# /me's requests per second, at least this many times the peer's under the same server.
HTTP_PEER_TIMES = 2.0
# Each measured as shipped (gunicorn.conf.py; api/granian_settings.py), side by side.
SERVERS = ("gunicorn", "granian")
APP_FACTORY = "benchmarks.app:http_app"
# The matrix: (worker class, processes, threads); gunicorn turns sync into gthread above one
# thread, so sync is asked for with one.
MATRIX = [
    ("sync", 1, 1),
    ("sync", 2, 1),
    ("sync", 5, 1),
    ("gthread", 1, 8),
    ("gthread", 2, 8),
    ("gthread", 5, 8),
    ("gthread", 1, 2),
    ("gthread", 2, 2),
]
MATRIX_CASES = ("bare", "me_valid", "notes_10000")
# The Flask-JWT-Extended peer under gunicorn: the same settings, its own server.
PEER_FACTORY = "benchmarks.peer:http_app"


def run_wrk(port: int, path: str, headers: dict, body: Any, seconds: float) -> dict:
    """Run wrk for ``seconds``; return requests per second and the median latency."""
    command = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{max(1, round(seconds))}s", "--latency"]
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
    """A small closed-loop load generator: ``CONNECTIONS`` threads, a new connection a request
    (so it measures sync and threaded workers alike, though it costs the machine more than
    wrk's kept-alive connections)."""
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

    threads = [threading.Thread(target=worker) for _ in range(CONNECTIONS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"rps": len(latencies) / seconds, "p50_ms": statistics.median(latencies) * 1e3}


def http_cases(fixture: Fixture) -> dict[str, tuple[str, dict, Any]]:
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
    if "pat" in bearer:  # the personal access token slot (see seeding.py)
        cases["me_pat"] = ("/me", bearer["pat"], None)
    return cases


def _deployment(database_url: str, secret_key: str, work: Path, processes: str) -> Deployment:
    # Production hashing, as in process; the instance folder is the in-process app's.
    return Deployment(
        database_url,
        work,
        redis_url=os.environ.get("REDIS_URL"),
        secret_key=secret_key,
        settings={"LOGIN_RATE_LIMIT": NO_THROTTLE, "WEB_CONCURRENCY": processes},
        cheap_hashing=False,
    )


def _loader(tool: str):
    return run_wrk if tool == "wrk" else run_python_load


def measure_http(
    fixture: Fixture,
    database_url: str,
    secret_key: str,
    work: Path,
    rounds: int,
    seconds: float,
    tool: str,
    peer_token: str,
) -> dict[str, Any]:
    """The same paths over loopback against each server as shipped, side by side.

    Every server in ``SERVERS`` serves Tessera and, beside it under the same settings, the
    peer's ``GET /me``; each round runs every (server, case) pair once, in a new shuffled
    order, so a slow moment of the machine spreads over all of them.
    """
    cases = http_cases(fixture)
    cases["peer_me"] = (PEER_ME_PATH, {"Authorization": f"Bearer {peer_token}"}, None)
    load = _loader(tool)
    deployment = _deployment(database_url, secret_key, work, "")
    samples: dict[str, dict[str, list[dict]]] = {kind: {n: [] for n in cases} for kind in SERVERS}
    processes: dict[str, int] = {}
    with ExitStack() as stack:
        ports: dict[tuple[str, str], int] = {}
        for kind in SERVERS:
            [server] = stack.enter_context(
                servers(deployment, 1, workers=None, factory=APP_FACTORY, server=kind)
            )
            [peer] = stack.enter_context(
                servers(deployment, 1, workers=None, factory=PEER_FACTORY, name="peer", server=kind)
            )
            processes[kind] = len(server.pids()) - 1  # the workers, not their parent
            for name in cases:
                ports[kind, name] = peer.port if name == "peer_me" else server.port
        pairs = list(ports)
        for _ in range(rounds):
            random.shuffle(pairs)
            for kind, name in pairs:
                samples[kind][name].append(load(ports[kind, name], *cases[name], seconds))
    summaries = {kind: _summary(runs) for kind, runs in samples.items()}
    targets = []
    for kind, summary in summaries.items():
        times = summary["me_valid"]["rps_median"] / summary["peer_me"]["rps_median"]
        summary["me_valid"]["times_peer"] = times
        targets.append(
            {
                "target": f"over HTTP ({kind}), me_valid requests/s >= {HTTP_PEER_TIMES}x "
                "the peer's /me under the same server",
                "value": round(times, 3),
                "limit": HTTP_PEER_TIMES,
                "met": times >= HTTP_PEER_TIMES,
            }
        )
    return {
        "tool": tool,
        "connections": CONNECTIONS,
        "servers": {kind: f"{kind} as shipped, {processes[kind]} process(es)" for kind in SERVERS},
        "seconds_per_run": seconds,
        "rounds": rounds,
        "summary": summaries,
        "targets": targets,
        "samples": samples,
    }


def _summary(samples: dict[str, list[dict]]) -> dict[str, dict]:
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
            "share_of_bare": rps / bare,
        }
    return summary


def measure_matrix(
    fixture: Fixture,
    database_url: str,
    secret_key: str,
    work: Path,
    rounds: int,
    seconds: float,
    tool: str,
) -> dict[str, Any]:
    """Each worker class and process count of ``MATRIX`` on the same paths.

    In each round every configuration is started in a new shuffled order, runs each case for
    ``seconds`` and is stopped, so slow moments of the machine spread over all of them.
    """
    cases = {name: http_cases(fixture)[name] for name in MATRIX_CASES}
    load = _loader(tool)
    samples: dict[str, dict[str, list[dict]]] = {}
    configurations = list(MATRIX)
    for _ in range(rounds):
        random.shuffle(configurations)
        for worker_class, processes, threads in configurations:
            key = f"{worker_class} x{processes} ({threads} thread{'s' * (threads > 1)})"
            deployment = _deployment(database_url, secret_key, work, str(processes))
            options = ["--worker-class", worker_class, "--threads", str(threads)]
            runs = samples.setdefault(key, {name: [] for name in cases})
            with servers(deployment, 1, workers=None, factory=APP_FACTORY, options=options) as [s]:
                for name in random.sample(list(cases), len(cases)):
                    runs[name].append(load(s.port, *cases[name], seconds))
    summary = {key: _summary(runs) for key, runs in samples.items()}
    return {
        "tool": tool,
        "connections": CONNECTIONS,
        "database": database_url.split(":", 1)[0],
        "seconds_per_run": seconds,
        "rounds": rounds,
        "summary": summary,
        "samples": samples,
    }


def print_http(result: dict[str, Any]) -> None:
    print(
        f"\nover HTTP: {result['tool']} with {result['connections']} connections, "
        f"{result['rounds']} x {result['seconds_per_run']} s per case; "
        + "; ".join(result["servers"].values())
    )
    kinds = list(result["summary"])
    print(f"{'case':<22}" + "".join(f" {kind + ' req/s':>16} {'p50 ms':>7}" for kind in kinds))
    for name in result["summary"][kinds[0]]:
        cells = ""
        for kind in kinds:
            row = result["summary"][kind][name]
            p50 = "-" if row["p50_ms"] is None else f"{row['p50_ms']:.2f}"
            cells += f" {row['rps_median']:>16.0f} {p50:>7}"
        print(f"{name:<22}{cells}")
    for row in result["targets"]:
        mark = "met   " if row["met"] else "MISSED"
        print(f"  {mark} {row['target']}: {row['value']} (limit {row['limit']})")


def print_matrix(result: dict[str, Any]) -> None:
    print(
        f"\ngunicorn worker classes and processes ({result['database']}, {result['tool']} "
        f"with {result['connections']} connections, {result['rounds']} x "
        f"{result['seconds_per_run']} s per case; requests/s, medians)"
    )
    print(f"{'configuration':<26}" + "".join(f" {name:>12}" for name in MATRIX_CASES))
    for key, summary in sorted(result["summary"].items()):
        cells = "".join(f" {summary[name]['rps_median']:>12.0f}" for name in MATRIX_CASES)
        print(f"{key:<26}{cells}")
