"""The benchmark's command line: ``make bench``, or ``python benchmarks/bench.py --help``.

See the ``benchmarks`` package for what a run measures and how.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import secrets
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Run as a script: the project (api, benchmarks) and the shared test support importable.
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import sqlalchemy as sa  # noqa: E402

import benchmarks  # noqa: E402
from api.database import db  # noqa: E402
from benchmarks import peer  # noqa: E402
from benchmarks.app import build_app, plain_flask_app  # noqa: E402
from benchmarks.in_process import (  # noqa: E402
    QueryCounter,
    argon2_calls,
    in_process_cases,
    measure,
    measure_beside_slow_mail,
)
from benchmarks.over_http import (  # noqa: E402
    measure_http,
    measure_matrix,
    print_http,
    print_matrix,
)
from benchmarks.report import check_targets, print_table, print_targets, summarise  # noqa: E402
from benchmarks.seeding import seed  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"


def database_urls(base: str | None, work: Path) -> tuple[str, str]:
    """The main and the large database; with PostgreSQL, two fresh databases on its server."""
    if base is None:
        return f"sqlite:///{work / 'main.db'}", f"sqlite:///{work / 'large.db'}"
    url = sa.make_url(base)
    names = [f"tessera_bench_{kind}_{secrets.token_hex(4)}" for kind in ("main", "large")]
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        for name in names:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return tuple(url.set(database=name).render_as_string(hide_password=False) for name in names)


def drop_databases(base: str | None, urls: tuple[str, str]) -> None:
    if base is None:
        return
    admin = sa.create_engine(sa.make_url(base), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        for url in urls:
            name = sa.make_url(url).database
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def environment() -> dict[str, Any]:
    from importlib.metadata import version

    packages = [
        "Flask",
        "Werkzeug",
        "SQLAlchemy",
        "Flask-Login",
        "flask-smorest",
        "itsdangerous",
        "argon2-cffi",
        "gunicorn",
        "Flask-JWT-Extended",
        "PyJWT",
    ]
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "packages": {name: version(name) for name in packages},
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=benchmarks.__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200, help="rounds of the cases")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every batch size")
    parser.add_argument(
        "--large-users",
        type=int,
        default=1_000_000,
        help="users in the large database (default 1,000,000)",
    )
    parser.add_argument(
        "--large-events",
        type=int,
        default=1_000_000,
        help="audit events in the large database (default 1,000,000)",
    )
    parser.add_argument("--database-url", help="a PostgreSQL server to use instead of SQLite")
    parser.add_argument("--http", action="store_true", help="also measure over loopback")
    parser.add_argument(
        "--gunicorn-matrix",
        action="store_true",
        help="also compare gunicorn worker classes and process counts over loopback",
    )
    parser.add_argument(
        "--http-only",
        action="store_true",
        help="skip the in-process cases and the large database (with --http or the matrix)",
    )
    parser.add_argument("--http-seconds", type=float, default=2.0, help="seconds per HTTP run")
    parser.add_argument("--http-rounds", type=int, default=3, help="rounds of every HTTP case")
    parser.add_argument("--load-generator", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--output", type=Path, help="results file (default benchmarks/results/)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the shuffled case order")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    secret_key = secrets.token_hex(32)
    with tempfile.TemporaryDirectory(prefix="tessera-bench-") as tmp:
        work = Path(tmp)
        urls = database_urls(args.database_url, work)
        try:
            result = run(args, secret_key, work, urls)
        finally:
            drop_databases(args.database_url, urls)
    output = args.output or RESULTS / f"bench-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2, default=str))
    print(f"\nraw results: {output}")
    return 0 if all(row["met"] for row in result["targets"]) else 1


def run(args: argparse.Namespace, secret_key: str, work: Path, urls: tuple[str, str]) -> dict:
    started = time.perf_counter()
    # The audit lines are written as in production, to a file rather than over the table.
    logging.getLogger("tessera.audit").addHandler(logging.FileHandler(work / "audit.log"))
    main_app = build_app(urls[0], secret_key, work / "instance")
    main_fixture = seed(main_app, 1_000, 1_000, full=True)
    apps = [main_app]
    result: dict[str, Any] = {
        "time": datetime.now(UTC).isoformat(),
        "environment": environment(),
        "database": "postgresql" if args.database_url else "sqlite",
        "arguments": {k: str(v) for k, v in vars(args).items()},
        "targets": [],
    }
    if not args.http_only:
        large_app = build_app(urls[1], secret_key, work / "instance-large")
        large_fixture = seed(large_app, args.large_users, args.large_events, full=False)
        apps.append(large_app)
        print(
            f"seeded in {time.perf_counter() - started:.1f} s "
            f"(1,000 and {args.large_users:,} users; 1,000 and {args.large_events:,} audit "
            "events; 10,000 notes)"
        )
        result["in_process"], result["targets"] = run_in_process(
            args, secret_key, urls, main_fixture, large_fixture
        )
    tool = args.load_generator
    if tool == "auto":
        tool = "wrk" if shutil.which("wrk") else "python"
    http_arguments = (urls[0], secret_key, work, args.http_rounds, args.http_seconds, tool)
    if args.http:
        peer_app = peer.peer_app(urls[0], secret_key)
        token = peer.peer_token(peer_app, "reader")
        peer.dispose(peer_app)
        result["http"] = measure_http(main_fixture, *http_arguments, token)
        print_http(result["http"])
        result["targets"] += result["http"]["targets"]
    if args.gunicorn_matrix:
        result["gunicorn_matrix"] = measure_matrix(main_fixture, *http_arguments)
        print_matrix(result["gunicorn_matrix"])
    for app in apps:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    return result


def run_in_process(args, secret_key, urls, main_fixture, large_fixture) -> tuple[dict, list]:
    """Measure every in-process case; print the table and the targets."""
    peer_app = peer.peer_app(urls[0], secret_key)
    plain_app = plain_flask_app()
    cases = in_process_cases(
        main_fixture, large_fixture, plain_app, peer_app, peer.peer_token(peer_app, "reader")
    )
    engines = []
    for app in (main_fixture.app, large_fixture.app):
        with app.app_context():
            engines.append(db.engine)
    with peer_app.app_context():
        engines.append(peer.db.engine)
    counter = QueryCounter(engines)
    for case in cases:  # warm up, and reach the steady state (last_used_at just written)
        case.run_once()
    queries = {c.name: counter.during(c) for c in cases if c.app is not None}
    signup = next(c for c in cases if c.name == "signup_open")
    argon2 = {"signup_open": argon2_calls(signup)}
    samples = measure(cases, args.rounds, args.scale, args.seed)
    samples["forgot_slow_mail"] = measure_beside_slow_mail(main_fixture)
    summary = summarise(samples, queries)
    summary["signup_open"]["argon2"] = argon2["signup_open"]
    targets = check_targets(summary, main_fixture.unavailable, counter.transactions)
    print_table(f"in process ({args.rounds} rounds, interleaved; per request)", summary)
    print_targets(targets)
    peer.dispose(peer_app)
    result = {"summary": summary, "samples_s": samples, "statements": counter.transactions}
    return result, targets


if __name__ == "__main__":
    sys.exit(main())
